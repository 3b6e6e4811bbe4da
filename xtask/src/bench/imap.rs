//! `cargo xtask bench imap`: torsion-imap against Dovecot 2.3 (Debian packages
//! `dovecot-imapd dovecot-pop3d`) on this machine in the same run, loaded by our own IMAP client
//! ([`client`], [`load`]) over loopback with plaintext LOGIN.
//!
//! - **Mixed load** (`--sessions`, default 20; `--seconds`, default 10, after a 2 s warm-up):
//!   every session logs in as its own user, SELECTs its INBOX (`--mailbox` messages, default
//!   1000, about 1 KiB each) and loops over `FETCH 1:* (FLAGS)`, `FETCH n (BODY.PEEK[])`,
//!   `STORE n ±FLAGS (\Seen)`, `SEARCH UNSEEN` / `SEARCH FROM "senderK@"` in turn and `APPEND`
//!   (1 KiB, LITERAL+); after every 10 appends it flags those \Deleted and `UID EXPUNGE`s them,
//!   so the mailbox stays within 10 messages of its size. Figures: operations (commands) per
//!   second, server CPU seconds (utime + stime from /proc) per 1000 operations, and the mean
//!   latency of every command kind.
//! - **Big INBOX** (`--big`, default 100,000 messages; 0 skips): SELECT INBOX + `UID FETCH 1:*
//!   (UID FLAGS)`. An untimed pass first opens the mailbox once, so both servers have built
//!   their index; then the server is restarted and the same is timed ("cold": a fresh server
//!   process, the on-disk index present, the OS page cache as it is), then repeated three
//!   times on the same connection ("warm", median reported).
//! - **Idle memory** (`--idle`, default 500; 0 skips): that many connections LOGIN, SELECT a
//!   10-message INBOX and IDLE; server memory after minus before, divided by the count.
//!   torsion-imap: its one process, RSS and PSS. Dovecot: PSS summed over the master and every
//!   process below it (one `imap` process per connection).
//!
//! Both servers get the same per-account connection limit (idle count + 64: torsion-imap's
//! `--max-connections-per-user`, Dovecot's `mail_max_userip_connections`); `--torsion-imap BIN`
//! measures that binary instead of building one. Each measurement starts a fresh server;
//! torsion-imap goes first. Each server has its own
//! copy of the mail root under var/bench/imap/, written straight into Maildir `cur/`
//! ([`maildir`]). Dovecot runs from /work/shared/peers/dovecot.conf with the overrides listed in
//! [`dovecot`].
//!
//! Targets (IMAP issue): mixed-load rate at least Dovecot's; big-INBOX time at most Dovecot's;
//! memory per idle connection at most Dovecot's.

mod client;
pub(crate) mod dovecot;
mod load;
pub(crate) mod maildir;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::{cell, median, ratio, verdict};
use crate::util::{self, ServerProcess};
use dovecot::Dovecot;
use load::{Kind, Memory, Mixed, Open};

/// Mixed-load sessions, by default.
const SESSIONS: u64 = 20;
/// Seconds of measured mixed load, by default.
const SECONDS: u64 = 10;
/// Warm-up before the measured mixed load (at most `--seconds`).
const WARMUP: Duration = Duration::from_secs(2);
/// Messages in each mixed-load INBOX, by default.
const MAILBOX: u64 = 1000;
/// Body lines of a mixed-load message (about 1 KiB in all).
const MAILBOX_BODY_LINES: usize = 10;
/// Messages in the big INBOX, by default.
const BIG: u64 = 100_000;
/// Body lines of a big-INBOX message (about 450 bytes in all).
const BIG_BODY_LINES: usize = 1;
/// Warm repetitions of the big-INBOX open.
const WARM_REPEATS: usize = 3;
/// Idle connections, by default.
const IDLE: u64 = 500;
/// Messages in the idle user's INBOX.
const IDLE_MAILBOX: usize = 10;
/// The domain of every account.
const DOMAIN: &str = "example.test";
/// Every account's password.
const PASSWORD: &str = "benchpw";
/// Bound on a server starting to greet.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// After writing the mailboxes, wait until their directories are this old, so that neither
/// server distrusts a directory mtime from the same second as its last change.
const SETTLE: Duration = Duration::from_secs(3);
/// Dovecot's address: not 127.0.0.1, which Dovecot treats as a secure local client.
const DOVECOT_IP: [u8; 4] = [127, 0, 0, 3];

/// Sizes of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    sessions: u64,
    seconds: u64,
    mailbox: u64,
    big: u64,
    idle: u64,
    /// Measure this torsion-imap binary instead of building one.
    binary: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        sessions: SESSIONS,
        seconds: SECONDS,
        mailbox: MAILBOX,
        big: BIG,
        idle: IDLE,
        binary: None,
    };
    super::parse_flags(
        "imap",
        args,
        &mut [
            ("--sessions", &mut options.sessions, 1..=200),
            ("--seconds", &mut options.seconds, 1..=600),
            ("--mailbox", &mut options.mailbox, 1..=100_000),
            ("--big", &mut options.big, 0..=1_000_000),
            ("--idle", &mut options.idle, 0..=5000),
        ],
        ("--torsion-imap", &mut options.binary),
    )?;
    Ok(options)
}

/// Entry point of `bench imap`; `args` are the words after `imap`.
pub fn main(args: &[String]) -> ExitCode {
    let options = match parse_options(args) {
        Ok(options) => options,
        Err(e) => return crate::usage_error(&e),
    };
    super::finish("imap", run(&options))
}

/// The two servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Torsion,
    Dovecot,
}

impl Server {
    const BOTH: [Server; 2] = [Server::Torsion, Server::Dovecot];
    fn label(self) -> &'static str {
        match self {
            Server::Torsion => "torsion-imap",
            Server::Dovecot => "Dovecot",
        }
    }
}

/// The big-INBOX figures: the untimed first open (index build), cold, warm.
type BigOpens = (Open, Open, Vec<Open>);

/// Everything measured of one server; `Err` for a part that failed.
#[derive(Debug)]
struct Results {
    mixed: Result<Mixed, String>,
    big: Result<BigOpens, String>,
    idle: Result<(Memory, Memory), String>,
}

impl Results {
    fn skipped() -> Self {
        Results {
            mixed: Err("not run".into()),
            big: Err("not run".into()),
            idle: Err("not run".into()),
        }
    }
}

/// What a test needs to start one server.
#[derive(Debug)]
struct Setup {
    server: Server,
    root: PathBuf,
    /// torsion-imap binary or dovecot.
    program: PathBuf,
    dir: PathBuf,
    dovecot: Option<dovecot::Config>,
    /// The per-account connection limit both servers get (Dovecot's
    /// `mail_max_userip_connections`, torsion-imap's `--max-connections-per-user`).
    per_user: u64,
}

/// A server under test, running.
#[derive(Debug)]
enum Running {
    Torsion(ServerProcess),
    Dovecot(Dovecot),
}

impl Running {
    fn cpu_seconds(&self) -> f64 {
        match self {
            Running::Torsion(p) => util::cpu_seconds(p.pid()).unwrap_or(0.0),
            Running::Dovecot(d) => d.cpu_seconds(),
        }
    }

    fn memory(&self) -> Memory {
        let pids = match self {
            Running::Torsion(p) => vec![p.pid()],
            Running::Dovecot(d) => d.processes(),
        };
        let mut memory = Memory::default();
        for pid in pids {
            if let (Ok(rss), Ok(pss)) = (util::rss_bytes(pid), pss_bytes(pid)) {
                memory.rss += rss;
                memory.pss += pss;
                memory.processes += 1;
            }
        }
        memory
    }

    fn stop(self) -> Result<(), String> {
        match self {
            Running::Torsion(mut p) => p.stop_cleanly(),
            Running::Dovecot(d) => d.stop(),
        }
    }
}

/// `Pss:` of /proc/PID/smaps_rollup, in bytes.
pub(crate) fn pss_bytes(pid: u32) -> Result<u64, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .map_err(|e| format!("smaps_rollup of {pid}: {e}"))?;
    parse_pss(&text).ok_or_else(|| format!("no Pss in smaps_rollup of {pid}"))
}

fn parse_pss(smaps_rollup: &str) -> Option<u64> {
    util::proc_kib_field(smaps_rollup, "Pss")
}

impl Setup {
    fn start(&self) -> Result<(Running, SocketAddr), String> {
        match self.server {
            Server::Torsion => {
                let args = torsion_args(&self.dir, self.per_user);
                let mut process = ServerProcess::spawn(
                    "torsion-imap",
                    &self.program,
                    &args,
                    &self.root,
                    &self.dir.join("torsion-imap.log"),
                )?;
                let addresses = process.wait_listening(1, START_TIMEOUT)?;
                let addr = addresses[0]
                    .strip_prefix("tcp:")
                    .and_then(|a| a.parse::<SocketAddr>().ok())
                    .ok_or_else(|| format!("unexpected listening address {:?}", addresses[0]))?;
                wait_greeting(addr)?;
                Ok((Running::Torsion(process), addr))
            }
            Server::Dovecot => {
                let config = self
                    .dovecot
                    .as_ref()
                    .ok_or_else(|| "Dovecot is not configured".to_owned())?;
                let instance = Dovecot::start(&self.program, config, &self.root)?;
                Ok((Running::Dovecot(instance), config.addr))
            }
        }
    }

    fn command(&self) -> String {
        match (self.server, &self.dovecot) {
            (Server::Dovecot, Some(config)) => format!("dovecot -F -c {}", config.file.display()),
            _ => format!(
                "torsion-imap {}",
                torsion_args(&self.dir, self.per_user).join(" ")
            ),
        }
        .replace("tcp:0", "tcp:PORT")
        .replace(&self.dir.display().to_string(), "DIR")
    }

    /// Start a server, run `f` against it, stop it; an error from either.
    fn with_server<T>(
        &self,
        f: impl FnOnce(&Running, SocketAddr) -> Result<T, String>,
    ) -> Result<T, String> {
        let (running, addr) = self.start()?;
        let result = f(&running, addr);
        let stopped = running.stop();
        let result = result?;
        stopped.map(|()| result)
    }
}

fn torsion_args(dir: &Path, per_user: u64) -> Vec<String> {
    let path = |p: &str| dir.join(p).display().to_string();
    let per_user = per_user.to_string();
    [
        "serve",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--hostname",
        "imap.bench.test",
        "--domain",
        DOMAIN,
        "--mail-root",
        &path("mail"),
        "--users",
        &path("users"),
        "--allow-plaintext-auth",
        "--max-per-ip",
        "0",
        "--max-connections-per-user",
        &per_user,
    ]
    .map(String::from)
    .to_vec()
}

/// The accounts: `user01…` for the mixed load, `big`, `idle`.
fn users(options: &Options) -> Vec<String> {
    let mut users: Vec<String> = (1..=options.sessions)
        .map(|i| format!("user{i:02}@{DOMAIN}"))
        .collect();
    users.push(format!("big@{DOMAIN}"));
    users.push(format!("idle@{DOMAIN}"));
    users
}

/// Write one server's mail root (every account's INBOX) under `dir/mail`, emptied first.
fn write_mail(dir: &Path, options: &Options, owner: Option<u32>) -> Result<(), String> {
    let mail = dir.join("mail");
    let _ = std::fs::remove_dir_all(&mail);
    for user in users(options) {
        let local = user.split('@').next().unwrap_or(&user);
        let inbox = mail.join(DOMAIN).join(local);
        let (count, lines) = match local {
            "big" => (options.big as usize, BIG_BODY_LINES),
            "idle" => (IDLE_MAILBOX, MAILBOX_BODY_LINES),
            _ => (options.mailbox as usize, MAILBOX_BODY_LINES),
        };
        maildir::write_inbox(&inbox, count, lines, owner)?;
    }
    if let Some(id) = owner {
        for path in [mail.clone(), mail.join(DOMAIN)] {
            std::os::unix::fs::chown(&path, Some(id), Some(id))
                .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

fn run(options: &Options) -> Result<(), String> {
    let command = format!(
        "cargo xtask {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    let root = util::workspace_root();
    let dovecot_program = util::find_program("dovecot", "dovecot-imapd dovecot-pop3d")?;
    let binary = match &options.binary {
        Some(binary) => binary.clone(),
        None => {
            util::cargo_build(&["-p", "torsion-imap", "--bin", "torsion-imap"])?;
            util::release_dir().join("torsion-imap")
        }
    };
    let per_user = dovecot::per_user_limit(options.idle.max(options.sessions));
    let _ = util::raise_nofile_limit();
    let base = root.join("var").join("bench").join("imap");
    println!(
        "bench imap: {} sessions × {} s mixed load on {}-message INBOXes; {}-message INBOX open; {} idle connections; data and logs in var/bench/imap/",
        options.sessions, options.seconds, options.mailbox, options.big, options.idle
    );
    let all_users = users(options);
    let mut setups = Vec::new();
    for server in Server::BOTH {
        let dir = base.join(match server {
            Server::Torsion => "torsion",
            Server::Dovecot => "dovecot",
        });
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let began = Instant::now();
        let (program, config) = match server {
            Server::Torsion => {
                let accounts: String = all_users
                    .iter()
                    .map(|u| format!("{u}:{{PLAIN}}{PASSWORD}\n"))
                    .collect();
                std::fs::write(dir.join("users"), accounts)
                    .map_err(|e| format!("cannot write the users file: {e}"))?;
                write_mail(&dir, options, None)?;
                (binary.clone(), None)
            }
            Server::Dovecot => {
                write_mail(&dir, options, Some(dovecot::MAIL_ID))?;
                let ip = DOVECOT_IP.into();
                let port = dovecot::free_port(ip)?;
                let config = dovecot::configure(
                    &dir,
                    &dir.join("mail"),
                    SocketAddr::new(ip, port),
                    &all_users,
                    PASSWORD,
                    per_user,
                )?;
                (dovecot_program.clone(), Some(config))
            }
        };
        println!(
            "  wrote {}'s mail root in {:.1} s",
            server.label(),
            began.elapsed().as_secs_f64()
        );
        setups.push(Setup {
            server,
            root: root.clone(),
            program,
            dir,
            dovecot: config,
            per_user,
        });
    }
    std::thread::sleep(SETTLE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let mut results = Vec::new();
    for setup in &setups {
        let label = setup.server.label();
        let mut r = Results::skipped();
        r.mixed = measure_mixed(&runtime, setup, options);
        match &r.mixed {
            Ok(m) => println!(
                "  {label:<12} mixed: {:>7.0} ops/s  {:.3} CPU s per 1000 ops  ({} ops in {:.2} s, {} NO, {:.1} MB of BODY[])",
                m.ops_per_second(),
                m.cpu_per_1000(),
                m.ops,
                m.seconds,
                m.no_replies(),
                m.body_bytes as f64 / 1e6
            ),
            Err(e) => println!("  {label:<12} mixed: error: {e}"),
        }
        if options.big > 0 {
            r.big = measure_big(&runtime, setup);
            match &r.big {
                Ok((first, cold, warm)) => println!(
                    "  {label:<12} big INBOX: first open {:.3} s, cold {:.3} s (SELECT {:.3} + FETCH {:.3}), warm {}",
                    first.total(),
                    cold.total(),
                    cold.select,
                    cold.fetch,
                    warm.iter()
                        .map(|o| format!("{:.3}", o.total()))
                        .collect::<Vec<_>>()
                        .join(" / ")
                ),
                Err(e) => println!("  {label:<12} big INBOX: error: {e}"),
            }
        }
        if options.idle > 0 {
            r.idle = measure_idle(&runtime, setup, options.idle as usize);
            match &r.idle {
                Ok((before, after)) => println!(
                    "  {label:<12} idle: PSS {} → {} bytes, RSS {} → {} bytes, {} → {} processes",
                    before.pss, after.pss, before.rss, after.rss, before.processes, after.processes
                ),
                Err(e) => println!("  {label:<12} idle: error: {e}"),
            }
        }
        results.push(r);
    }
    let commands: Vec<String> = setups
        .iter()
        .map(|s| format!("{}: {}", s.server.label(), s.command()))
        .collect();
    print!("{}", report(&command, options, &commands, &results));
    Ok(())
}

fn measure_mixed(
    runtime: &tokio::runtime::Runtime,
    setup: &Setup,
    options: &Options,
) -> Result<Mixed, String> {
    let users: Vec<String> = (1..=options.sessions)
        .map(|i| format!("user{i:02}@{DOMAIN}"))
        .collect();
    let seconds = Duration::from_secs(options.seconds);
    setup.with_server(|running, addr| {
        let cpu = || running.cpu_seconds();
        runtime
            .block_on(load::mixed(
                addr,
                &users,
                PASSWORD,
                WARMUP.min(seconds),
                &cpu,
            ))
            .map_err(|e| format!("warm-up: {e}"))?;
        runtime.block_on(load::mixed(addr, &users, PASSWORD, seconds, &cpu))
    })
}

fn measure_big(runtime: &tokio::runtime::Runtime, setup: &Setup) -> Result<BigOpens, String> {
    let user = format!("big@{DOMAIN}");
    let (first, _) = setup
        .with_server(|_, addr| runtime.block_on(load::big_open(addr, &user, PASSWORD, 0)))
        .map_err(|e| format!("index pass: {e}"))?;
    let (cold, warm) = setup.with_server(|_, addr| {
        runtime.block_on(load::big_open(addr, &user, PASSWORD, WARM_REPEATS))
    })?;
    Ok((first, cold, warm))
}

fn measure_idle(
    runtime: &tokio::runtime::Runtime,
    setup: &Setup,
    count: usize,
) -> Result<(Memory, Memory), String> {
    let user = format!("idle@{DOMAIN}");
    setup.with_server(|running, addr| {
        let memory = || running.memory();
        runtime.block_on(load::idle(addr, &user, PASSWORD, count, &memory))
    })
}

/// Wait until the server at `addr` sends an `* OK` greeting.
fn wait_greeting(addr: SocketAddr) -> Result<(), String> {
    use std::io::{BufRead, BufReader, Write};
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        let attempt = (|| {
            let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .map_err(|e| e.to_string())?;
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            let mut line = String::new();
            BufReader::new(&stream)
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            let _ = (&stream).write_all(b"A LOGOUT\r\n");
            if line.starts_with("* OK") {
                Ok(())
            } else {
                Err(format!("greeting {line:?}"))
            }
        })();
        match attempt {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "no `* OK` greeting from {addr} within {} s: {last}",
        START_TIMEOUT.as_secs()
    ))
}

/// Bytes per connection: (after − before) / count.
fn per_connection(before: u64, after: u64, count: u64) -> Option<f64> {
    (count > 0).then(|| (after as f64 - before as f64) / count as f64)
}

/// The report: a Markdown table of both servers and their ratios, then the targets.
fn report(command: &str, options: &Options, commands: &[String], results: &[Results]) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    let get = |i: usize| results.get(i);
    let row = |label: &str, f: &dyn Fn(&Results) -> Option<f64>, decimals: usize| {
        let (a, b) = (get(0).and_then(f), get(1).and_then(f));
        format!(
            "| {label} | {} | {} | {} |",
            cell(a, decimals),
            cell(b, decimals),
            cell(ratio(a, b), 2)
        )
    };
    let mixed = |f: fn(&Mixed) -> f64| move |r: &Results| r.mixed.as_ref().ok().map(f);
    let idle = options.idle;
    line(String::new());
    line(format!("machine: {}", util::machine_summary()));
    line(format!("command: {command}"));
    for c in commands {
        line(format!("  {c}"));
    }
    line(String::new());
    line("| metric | torsion-imap | Dovecot | torsion/Dovecot |".into());
    line("| --- | ---: | ---: | ---: |".into());
    line(row(
        &format!(
            "mixed load: operations/s ({} sessions, {}-message INBOXes, {} s)",
            options.sessions, options.mailbox, options.seconds
        ),
        &mixed(Mixed::ops_per_second),
        0,
    ));
    line(row(
        "mixed load: server CPU s per 1000 operations",
        &mixed(Mixed::cpu_per_1000),
        3,
    ));
    line(row(
        "mixed load: server cores busy",
        &mixed(|m| m.server_cpu / m.seconds),
        2,
    ));
    line(row(
        "mixed load: load client cores busy",
        &mixed(|m| m.client_cpu / m.seconds),
        2,
    ));
    for kind in Kind::ALL {
        line(row(
            &format!("mixed load: mean ms, {}", kind.label()),
            &|r: &Results| {
                r.mixed
                    .as_ref()
                    .ok()
                    .and_then(|m| m.kinds[kind as usize].mean_ms())
            },
            3,
        ));
    }
    line(row(
        "mixed load: NO replies",
        &mixed(|m| m.no_replies() as f64),
        0,
    ));
    if options.big > 0 {
        let big =
            |f: fn(&BigOpens) -> Option<f64>| move |r: &Results| r.big.as_ref().ok().and_then(f);
        let n = options.big;
        line(row(
            &format!("{n}-message INBOX: first open ever (builds the index), s"),
            &big(|b| Some(b.0.total())),
            3,
        ));
        line(row(
            &format!("{n}-message INBOX: cold SELECT + UID FETCH 1:* (UID FLAGS), s"),
            &big(|b| Some(b.1.total())),
            3,
        ));
        line(row("  of which SELECT, s", &big(|b| Some(b.1.select)), 3));
        line(row(
            &format!("{n}-message INBOX: warm, same connection (median of {WARM_REPEATS}), s"),
            &big(|b| median(b.2.iter().map(Open::total))),
            3,
        ));
        line(row(
            "  of which SELECT, s",
            &big(|b| median(b.2.iter().map(|o| o.select))),
            3,
        ));
    }
    if idle > 0 {
        let mem = |f: fn(&Memory) -> u64| {
            move |r: &Results| {
                r.idle
                    .as_ref()
                    .ok()
                    .and_then(|(b, a)| per_connection(f(b), f(a), idle))
            }
        };
        line(row(
            &format!("idle: PSS bytes per connection ({idle} in IDLE)"),
            &mem(|m| m.pss),
            0,
        ));
        line(row(
            "idle: RSS bytes per connection (Dovecot: summed over processes)",
            &mem(|m| m.rss),
            0,
        ));
        line(row(
            "idle: server PSS before, MiB",
            &|r: &Results| r.idle.as_ref().ok().map(|(b, _)| b.pss as f64 / 1048576.0),
            1,
        ));
    }
    line(String::new());
    let value = |i: usize, f: &dyn Fn(&Results) -> Option<f64>| get(i).and_then(f);
    let rate = ratio(
        value(0, &mixed(Mixed::ops_per_second)),
        value(1, &mixed(Mixed::ops_per_second)),
    );
    line(format!(
        "target: mixed-load operations/s ≥ Dovecot's: {} ({})",
        verdict(rate.map(|r| r >= 1.0)),
        cell(rate, 2)
    ));
    if options.big > 0 {
        for (what, f) in [
            (
                "cold",
                (|r: &Results| r.big.as_ref().ok().map(|b| b.1.total()))
                    as fn(&Results) -> Option<f64>,
            ),
            ("warm", |r: &Results| {
                r.big
                    .as_ref()
                    .ok()
                    .and_then(|b| median(b.2.iter().map(Open::total)))
            }),
        ] {
            let t = ratio(value(0, &f), value(1, &f));
            line(format!(
                "target: {what} big-INBOX SELECT + UID FETCH time ≤ Dovecot's: {} ({})",
                verdict(t.map(|r| r <= 1.0)),
                cell(t, 2)
            ));
        }
    }
    if idle > 0 {
        let f = |r: &Results| {
            r.idle
                .as_ref()
                .ok()
                .and_then(|(b, a)| per_connection(b.pss, a.pss, idle))
        };
        let m = ratio(value(0, &f), value(1, &f));
        line(format!(
            "target: PSS per idle connection ≤ Dovecot's: {} ({})",
            verdict(m.map(|r| r <= 1.0)),
            cell(m, 2)
        ));
    }
    for (server, r) in Server::BOTH.iter().zip(results) {
        let parts = [
            ("mixed load", r.mixed.as_ref().err()),
            (
                "big INBOX",
                r.big.as_ref().err().filter(|_| options.big > 0),
            ),
            ("idle", r.idle.as_ref().err().filter(|_| idle > 0)),
        ];
        for (part, err) in parts {
            if let Some(e) = err {
                line(format!("note: {} {part}: failed: {e}", server.label()));
            }
        }
    }
    line("(benchmarks are not tests: exit code 0 either way)".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn parses_options() {
        let defaults = parse_options(&[]).unwrap();
        assert_eq!(
            defaults,
            Options {
                sessions: 20,
                seconds: 10,
                mailbox: 1000,
                big: 100_000,
                idle: 500,
                binary: None,
            }
        );
        let o = parse_options(&args(&[
            "--sessions",
            "5",
            "--seconds",
            "3",
            "--mailbox",
            "50",
            "--big",
            "0",
            "--idle",
            "10",
        ]))
        .unwrap();
        assert_eq!(
            (o.sessions, o.seconds, o.mailbox, o.big, o.idle),
            (5, 3, 50, 0, 10)
        );
        assert!(parse_options(&args(&["--sessions", "0"])).is_err());
        assert!(parse_options(&args(&["--seconds"])).is_err());
        assert!(parse_options(&args(&["--bogus", "1"])).is_err());
    }

    #[test]
    fn lists_accounts() {
        let o = parse_options(&args(&["--sessions", "2"])).unwrap();
        assert_eq!(
            users(&o),
            [
                "user01@example.test",
                "user02@example.test",
                "big@example.test",
                "idle@example.test"
            ]
        );
    }

    #[test]
    fn reads_pss() {
        let text = "55d0-7ffd [rollup]\nRss:                3968 kB\nPss:                 512 kB\nPss_Anon:  1 kB\n";
        assert_eq!(parse_pss(text), Some(512 * 1024));
        assert_eq!(parse_pss("Rss: 1 kB\n"), None);
        assert!(pss_bytes(std::process::id()).unwrap() > 0);
        assert_eq!(per_connection(1000, 3000, 4), Some(500.0));
        assert_eq!(per_connection(1, 2, 0), None);
    }

    #[test]
    fn reports_ratios_and_failures() {
        let mut kinds = [load::KindStats::default(); 8];
        kinds[0] = load::KindStats {
            count: 10,
            seconds: 0.01,
            no: 0,
        };
        let mixed = |ops: u64, cpu: f64| Mixed {
            ops,
            seconds: 2.0,
            kinds,
            server_cpu: cpu,
            client_cpu: 0.5,
            body_bytes: 0,
        };
        let open = |t: f64| Open {
            select: t / 2.0,
            fetch: t / 2.0,
        };
        let memory = |pss: u64| Memory {
            rss: pss * 2,
            pss,
            processes: 1,
        };
        let o = parse_options(&args(&["--idle", "100", "--big", "100"])).unwrap();
        let results = [
            Results {
                mixed: Ok(mixed(4000, 1.0)),
                big: Ok((open(1.0), open(0.5), vec![open(0.1), open(0.2), open(0.3)])),
                idle: Ok((memory(1_000_000), memory(1_100_000))),
            },
            Results {
                mixed: Ok(mixed(2000, 1.0)),
                big: Err("boom".into()),
                idle: Ok((memory(1_000_000), memory(2_000_000))),
            },
        ];
        let text = report("cargo xtask bench imap", &o, &[], &results);
        assert!(text.contains("| mixed load: operations/s (20 sessions, 1000-message INBOXes, 10 s) | 2000 | 1000 | 2.00 |"), "{text}");
        assert!(text
            .contains("| mixed load: server CPU s per 1000 operations | 0.250 | 0.500 | 0.50 |"));
        assert!(text.contains("| mixed load: mean ms, FETCH 1:* FLAGS | 1.000 | 1.000 | 1.00 |"));
        assert!(text.contains(
            "| 100-message INBOX: warm, same connection (median of 3), s | 0.200 | error | error |"
        ));
        assert!(
            text.contains("| idle: PSS bytes per connection (100 in IDLE) | 1000 | 10000 | 0.10 |")
        );
        assert!(text.contains("target: mixed-load operations/s ≥ Dovecot's: pass (2.00)"));
        assert!(text
            .contains("target: cold big-INBOX SELECT + UID FETCH time ≤ Dovecot's: n/a (error)"));
        assert!(text.contains("target: PSS per idle connection ≤ Dovecot's: pass (0.10)"));
        assert!(text.contains("note: Dovecot big INBOX: failed: boom"));
    }
}
