//! The three loads of `bench imap`, on a single-threaded tokio runtime (so the client keeps to
//! one core): the mixed command loop, SELECT + `UID FETCH 1:* (UID FLAGS)` of a big INBOX,
//! and a crowd of connections in IDLE. Every loop is bounded by a count and by time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::client::{append_uid, Session, Status};
use super::maildir;

/// Upper bound on the command cycles of one mixed-load session (time ends it long before).
const MAX_CYCLES: u64 = 10_000_000;
/// A session expunges the messages it appended once it has this many (keeps the mailbox
/// within this many messages of its starting size).
const EXPUNGE_EVERY: usize = 10;
/// Body lines of an appended message (about 1 KiB in all).
const APPEND_BODY_LINES: usize = 10;
/// Bound on one command against the big mailbox.
pub const BIG_TIMEOUT: Duration = Duration::from_secs(300);
/// Connections the idle test opens at the same time.
const OPEN_CONCURRENTLY: usize = 16;
/// How long the idle connections sit before memory is read.
const IDLE_SETTLE: Duration = Duration::from_secs(2);

/// The command kinds of the mixed loop, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    FetchFlags,
    FetchBody,
    Store,
    SearchUnseen,
    SearchFrom,
    Append,
    StoreDeleted,
    Expunge,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::FetchFlags,
        Kind::FetchBody,
        Kind::Store,
        Kind::SearchUnseen,
        Kind::SearchFrom,
        Kind::Append,
        Kind::StoreDeleted,
        Kind::Expunge,
    ];

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::FetchFlags => "FETCH 1:* FLAGS",
            Kind::FetchBody => "FETCH n BODY.PEEK[]",
            Kind::Store => "STORE n ±FLAGS (\\Seen)",
            Kind::SearchUnseen => "SEARCH UNSEEN",
            Kind::SearchFrom => "SEARCH FROM \"senderK@\"",
            Kind::Append => "APPEND (1 KiB)",
            Kind::StoreDeleted => "UID STORE … +FLAGS.SILENT (\\Deleted)",
            Kind::Expunge => "UID EXPUNGE …",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Count and total time of one command kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct KindStats {
    pub count: u64,
    pub seconds: f64,
    /// Replies that were `NO`.
    pub no: u64,
}

impl KindStats {
    /// Mean latency in milliseconds.
    pub fn mean_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.seconds * 1000.0 / self.count as f64)
    }
}

/// What one mixed-load run measured.
#[derive(Debug, Clone)]
pub struct Mixed {
    pub ops: u64,
    pub seconds: f64,
    pub kinds: [KindStats; 8],
    pub server_cpu: f64,
    pub client_cpu: f64,
    /// BODY[] bytes received.
    pub body_bytes: u64,
}

impl Mixed {
    pub fn ops_per_second(&self) -> f64 {
        self.ops as f64 / self.seconds
    }
    pub fn cpu_per_1000(&self) -> f64 {
        self.server_cpu * 1000.0 / self.ops as f64
    }
    pub fn no_replies(&self) -> u64 {
        self.kinds.iter().map(|k| k.no).sum()
    }
}

/// A tiny xorshift generator: the load must not depend on a crate or cost much.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Log every user in and SELECT INBOX, then run the mixed loop on every session for
/// `duration`. `server_cpu` reads the server's CPU seconds so far. Sessions are left open
/// until the CPU has been read, so Dovecot's per-connection processes are still counted live.
pub async fn mixed(
    addr: SocketAddr,
    users: &[String],
    password: &str,
    duration: Duration,
    server_cpu: &dyn Fn() -> f64,
) -> Result<Mixed, String> {
    let mut opening = JoinSet::new();
    for (i, user) in users.iter().enumerate() {
        let (user, password) = (user.clone(), password.to_owned());
        opening.spawn(async move { (i, Session::open(addr, &user, &password).await) });
    }
    let mut sessions = Vec::new();
    while let Some(joined) = opening.join_next().await {
        let (i, session) = joined.map_err(|e| format!("session task: {e}"))?;
        sessions.push((i, session.map_err(|e| format!("{}: {e}", users[i]))?));
    }
    let cpu_before = server_cpu();
    let client_before = crate::util::cpu_seconds(std::process::id()).unwrap_or(0.0);
    let start = Instant::now();
    let end = start + duration;
    let mut running = JoinSet::new();
    for (i, session) in sessions {
        running.spawn(mixed_loop(session, i as u64 + 1, end));
    }
    let mut kinds = [KindStats::default(); 8];
    let mut body_bytes = 0;
    let mut last = start;
    let mut finished = Vec::new();
    let mut first_error = None;
    while let Some(joined) = running.join_next().await {
        match joined.map_err(|e| format!("session task: {e}")) {
            Ok(Ok((session, stats, done))) => {
                for (total, one) in kinds.iter_mut().zip(stats) {
                    total.count += one.count;
                    total.seconds += one.seconds;
                    total.no += one.no;
                }
                body_bytes += session.literal_bytes();
                last = last.max(done);
                finished.push(session);
            }
            Ok(Err(e)) | Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let server_cpu = server_cpu() - cpu_before;
    let client_cpu = crate::util::cpu_seconds(std::process::id()).unwrap_or(0.0) - client_before;
    drop(finished);
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(Mixed {
        ops: kinds.iter().map(|k| k.count).sum(),
        seconds: last.duration_since(start).as_secs_f64(),
        kinds,
        server_cpu,
        client_cpu,
        body_bytes,
    })
}

/// One session's loop: FETCH 1:* FLAGS, FETCH n BODY.PEEK[], STORE n ±FLAGS (\Seen), SEARCH
/// (UNSEEN and FROM in turn), APPEND; every [`EXPUNGE_EVERY`] appends, flag those messages
/// \Deleted and UID EXPUNGE them. Stops at `end` (a command started before it is finished).
async fn mixed_loop(
    mut session: Session,
    seed: u64,
    end: Instant,
) -> Result<(Session, [KindStats; 8], Instant), String> {
    let mut rng = Rng::new(seed);
    let mut stats = [KindStats::default(); 8];
    let mut appended: Vec<u32> = Vec::with_capacity(EXPUNGE_EVERY);
    let mut cycle = 0u64;
    let mut last = Instant::now();
    'cycles: while cycle < MAX_CYCLES {
        let search = if cycle.is_multiple_of(2) {
            Kind::SearchUnseen
        } else {
            Kind::SearchFrom
        };
        let mut steps = vec![
            Kind::FetchFlags,
            Kind::FetchBody,
            Kind::Store,
            search,
            Kind::Append,
        ];
        if appended.len() >= EXPUNGE_EVERY {
            steps.extend([Kind::StoreDeleted, Kind::Expunge]);
        }
        for kind in steps {
            if Instant::now() >= end {
                break 'cycles;
            }
            let n = 1 + rng.below(u64::from(session.exists));
            let uids = || {
                appended
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let began = Instant::now();
            let reply = match kind {
                Kind::FetchFlags => session.command(b"FETCH 1:* (FLAGS)").await?,
                Kind::FetchBody => {
                    session
                        .command(format!("FETCH {n} (BODY.PEEK[])").as_bytes())
                        .await?
                }
                Kind::Store => {
                    let sign = if rng.below(2) == 0 { '+' } else { '-' };
                    session
                        .command(format!("STORE {n} {sign}FLAGS (\\Seen)").as_bytes())
                        .await?
                }
                Kind::SearchUnseen => session.command(b"SEARCH UNSEEN").await?,
                Kind::SearchFrom => {
                    let who = rng.below(maildir::SENDERS as u64);
                    session
                        .command(format!("SEARCH FROM \"sender{who}@\"").as_bytes())
                        .await?
                }
                Kind::Append => {
                    let text = maildir::message(rng.below(1_000_000) as usize, APPEND_BODY_LINES);
                    let reply = session
                        .command_with(b"APPEND INBOX", Some(&text), super::client::OP_TIMEOUT)
                        .await?;
                    if reply.status == Status::Ok {
                        appended.push(
                            append_uid(reply.text.as_bytes()).ok_or_else(|| {
                                format!("APPEND: no APPENDUID in {:?}", reply.text)
                            })?,
                        );
                    } else if reply.status == Status::Bad {
                        return Err(format!("APPEND: BAD {}", reply.text));
                    }
                    reply
                }
                Kind::StoreDeleted => {
                    session
                        .command(
                            format!("UID STORE {} +FLAGS.SILENT (\\Deleted)", uids()).as_bytes(),
                        )
                        .await?
                }
                Kind::Expunge => {
                    let reply = session
                        .command(format!("UID EXPUNGE {}", uids()).as_bytes())
                        .await?;
                    appended.clear();
                    reply
                }
            };
            last = Instant::now();
            let one = &mut stats[kind.index()];
            one.count += 1;
            one.seconds += last.duration_since(began).as_secs_f64();
            if reply.status == Status::No {
                one.no += 1;
            }
        }
        cycle += 1;
    }
    Ok((session, stats, last))
}

/// Times of one SELECT INBOX + `UID FETCH 1:* (UID FLAGS)`.
#[derive(Debug, Clone, Copy)]
pub struct Open {
    pub select: f64,
    pub fetch: f64,
}

impl Open {
    pub fn total(&self) -> f64 {
        self.select + self.fetch
    }
}

/// Log in (not timed), then SELECT INBOX + `UID FETCH 1:* (UID FLAGS)` once, and `repeats`
/// more times on the same connection; the first and the repeats.
pub async fn big_open(
    addr: SocketAddr,
    user: &str,
    password: &str,
    repeats: usize,
) -> Result<(Open, Vec<Open>), String> {
    let mut session = Session::connect(addr).await?;
    session
        .ok(format!("LOGIN \"{user}\" \"{password}\"").as_bytes())
        .await?;
    let first = open_once(&mut session).await?;
    let mut again = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        again.push(open_once(&mut session).await?);
    }
    let _ = session.command(b"LOGOUT").await;
    Ok((first, again))
}

async fn open_once(session: &mut Session) -> Result<Open, String> {
    let began = Instant::now();
    let selected = session
        .command_with(b"SELECT INBOX", None, BIG_TIMEOUT)
        .await?;
    let select = began.elapsed().as_secs_f64();
    if selected.status != Status::Ok {
        return Err(format!(
            "SELECT INBOX: {:?} {}",
            selected.status, selected.text
        ));
    }
    let exists = session.exists;
    let began = Instant::now();
    let fetched = session
        .command_with(b"UID FETCH 1:* (UID FLAGS)", None, BIG_TIMEOUT)
        .await?;
    let fetch = began.elapsed().as_secs_f64();
    if fetched.status != Status::Ok {
        return Err(format!("UID FETCH: {:?} {}", fetched.status, fetched.text));
    }
    if fetched.fetches != u64::from(exists) {
        return Err(format!(
            "UID FETCH 1:* returned {} messages of {exists}",
            fetched.fetches
        ));
    }
    Ok(Open { select, fetch })
}

/// Server memory as read from /proc.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss: u64,
    pub pss: u64,
    pub processes: usize,
}

/// Memory before and after `count` connections logged in as `user`, SELECTed INBOX and
/// entered IDLE (one connection logs in and out first, so processes started on the first
/// login are in "before").
pub async fn idle(
    addr: SocketAddr,
    user: &str,
    password: &str,
    count: usize,
    memory: &dyn Fn() -> Memory,
) -> Result<(Memory, Memory), String> {
    let mut first = Session::open(addr, user, password).await?;
    let _ = first.command(b"LOGOUT").await;
    drop(first);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = memory();
    let gate = Arc::new(Semaphore::new(OPEN_CONCURRENTLY));
    let mut opening = JoinSet::new();
    for _ in 0..count {
        let (gate, user, password) = (gate.clone(), user.to_owned(), password.to_owned());
        opening.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let mut session = Session::open(addr, &user, &password).await?;
            session.idle().await?;
            Ok::<_, String>(session)
        });
    }
    let mut open = Vec::with_capacity(count);
    let mut first_error = None;
    while let Some(joined) = opening.join_next().await {
        match joined.map_err(|e| format!("idle task: {e}")) {
            Ok(Ok(session)) => open.push(session),
            Ok(Err(e)) | Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(format!(
            "{} of {count} connections reached IDLE; first error: {e}",
            open.len()
        ));
    }
    tokio::time::sleep(IDLE_SETTLE).await;
    let after = memory();
    drop(open);
    Ok((before, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_numbers_stay_in_range() {
        let mut rng = Rng::new(1);
        let values: Vec<u64> = (0..1000).map(|_| rng.below(7)).collect();
        assert!(values.iter().all(|&v| v < 7));
        assert!((0..7).all(|v| values.contains(&v)));
        assert_eq!(Rng::new(3).below(0), 0);
    }

    #[test]
    fn kinds_index_their_table() {
        for (i, kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert!(!kind.label().is_empty());
        }
        let stats = KindStats {
            count: 4,
            seconds: 0.002,
            no: 0,
        };
        assert_eq!(stats.mean_ms(), Some(0.5));
        assert_eq!(KindStats::default().mean_ms(), None);
    }
}
