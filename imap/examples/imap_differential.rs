//! One fixed IMAP session, driven by `torsion_imap::client`, printed as a normalised
//! transcript: `cargo xtask interop imap` runs it against torsion-imap and against Dovecot over
//! two copies of the same Maildir and compares the two transcripts section by section.
//!
//! Usage: `imap_differential HOST:PORT USER PASSWORD` (plain TCP, LOGIN allowed without TLS).
//!
//! The mailbox it expects (written by xtask/src/interop/imap_differential.rs): INBOX with six
//! messages (UIDs 1–6 in delivery order), folders `Archive` (1 message), `Work` (1),
//! `Work.Projects` (empty) and `Legacy` (1 message stored with bare-LF line ends).
//!
//! Output: `== SECTION` lines, then one line per observable result. Only what the RFCs fix is
//! printed; what legitimately differs between servers is normalised here:
//! - response text and response codes (only `OK`/`NO`/`BAD` is printed, plus `[TRYCREATE]`);
//! - UIDVALIDITY and MODSEQ values (only their relations: nonzero, equal, increased);
//! - the order of untagged responses (sequence-number events are replayed against the UIDs the
//!   session knows, and only the resulting expunged UIDs, count and flag changes are printed);
//! - the order of flags, and `\Recent` (session-specific in RFC 3501 §2.3.2, gone in RFC 9051);
//! - extra folders and capabilities (only the fixture's folders and the capabilities this
//!   script relies on are printed);
//! - redundant unsolicited FETCH responses (only flag values that changed are printed).
//!
//! Client limits (torsion_imap::client has no API for them, so they are not covered): the
//! FLAGS/PERMANENTFLAGS/UNSEEN data of SELECT, partial and part sections (`BODY[1]`,
//! `BODY[]<0.100>`, `BODY[TEXT]`), INTERNALDATE, ENVELOPE and BODYSTRUCTURE as FETCH items,
//! COPYUID (RFC 4315) from COPY/MOVE, UID EXPUNGE, and the MODIFIED response code (RFC 7162).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use torsion_core::ClientEndpoint;
use torsion_imap::client::{Client, ClientConfig, ClientError, Event, Fetched, TlsMode};

/// Bound on each response.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Bound on an IDLE notification arriving.
const IDLE_WAIT: Duration = Duration::from_secs(10);
/// The fixture's folders (others, such as auto-created special-use folders, are not printed).
const FOLDERS: &[&str] = &["INBOX", "Archive", "Work", "Work.Projects", "Legacy"];
/// Capabilities the script relies on.
const CAPABILITIES: &[&str] = &[
    "IMAP4rev1",
    "LITERAL+",
    "UIDPLUS",
    "MOVE",
    "IDLE",
    "CONDSTORE",
    "CHILDREN",
];
/// LIST attributes compared (RFC 3501 §7.2.2, RFC 3348 CHILDREN); \Marked/\Unmarked are a
/// server's guess, special-use attributes depend on configuration.
const LIST_ATTRIBUTES: &[&str] = &[
    "\\HasChildren",
    "\\HasNoChildren",
    "\\Noselect",
    "\\Noinferiors",
    "\\NonExistent",
];

type Result<T> = std::result::Result<T, ClientError>;

/// The transcript on stdout, written line by line (so a crash leaves what came before).
#[derive(Debug, Default)]
struct Transcript;

impl Transcript {
    fn line(&mut self, text: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", text.as_ref());
        let _ = out.flush();
    }

    fn section(&mut self, name: &str) {
        self.line(format!("== {name}"));
    }

    /// A section ended early: what stopped it (the details go to stderr).
    fn end(&mut self, result: Result<()>) {
        if let Err(e) = result {
            self.line(format!("section stopped: {}", kind(&e)));
        }
    }
}

/// The class of an error, without the server's text.
fn kind(e: &ClientError) -> String {
    eprintln!("imap_differential: {e}");
    match e {
        ClientError::Refused { kind, text, .. } => {
            if text.to_ascii_uppercase().contains("[TRYCREATE]") {
                format!("{kind} [TRYCREATE]")
            } else {
                (*kind).to_owned()
            }
        }
        ClientError::Timeout => "timeout".into(),
        ClientError::Closed(_) => "closed".into(),
        ClientError::Io(_) => "i/o error".into(),
        ClientError::Tls(_) => "tls error".into(),
        ClientError::Protocol(_) => "protocol error".into(),
        ClientError::PlaintextAuth => "plaintext refused".into(),
    }
}

/// `OK`, or the class of the error.
fn status<T>(result: &Result<T>) -> String {
    match result {
        Ok(_) => "OK".into(),
        Err(e) => kind(e),
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Flags sorted, without \Recent; `()` for none, `?` when the response had no FLAGS.
fn flags(flags: &Option<Vec<String>>) -> String {
    let Some(flags) = flags else {
        return "?".into();
    };
    let mut v: Vec<&String> = flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .collect();
    v.sort_by_key(|f| f.to_ascii_lowercase());
    v.dedup();
    if v.is_empty() {
        "()".into()
    } else {
        v.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(" ")
    }
}

/// FNV-1a, 64 bits: enough to tell bodies apart, no dependency.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn digest(bytes: &[u8]) -> String {
    format!("len={} fnv={:016x}", bytes.len(), fnv(bytes))
}

fn uids(list: &[u32]) -> String {
    let mut list = list.to_vec();
    list.sort_unstable();
    if list.is_empty() {
        "(none)".into()
    } else {
        list.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Messages by UID.
fn by_uid(mut fetched: Vec<Fetched>) -> Vec<Fetched> {
    fetched.sort_by_key(|f| (f.uid, f.seq));
    fetched
}

/// What a session knows of the selected mailbox: UIDs by sequence number and flags by UID,
/// so events can be replayed whatever order the server sent them in.
#[derive(Debug, Default)]
struct View {
    uids: Vec<Option<u32>>,
    flags: BTreeMap<u32, String>,
}

impl View {
    async fn load(client: &mut Client) -> Result<View> {
        let mut all = client.uid_fetch("1:*", "(UID FLAGS)").await?;
        all.sort_by_key(|f| f.seq);
        let mut view = View::default();
        for f in all {
            view.uids.push(f.uid);
            if let Some(uid) = f.uid {
                view.flags.insert(uid, flags(&f.flags));
            }
        }
        Ok(view)
    }

    /// Replay `events`; the normalised outcome, one line each.
    fn apply(&mut self, events: &[Event]) -> Vec<String> {
        let before: BTreeSet<u32> = self.uids.iter().flatten().copied().collect();
        let mut expunged = Vec::new();
        let mut unknown_expunged = 0;
        let mut changed = BTreeMap::new();
        let mut notes = Vec::new();
        for event in events {
            match event {
                Event::Exists(n) => {
                    let n = *n as usize;
                    if n < self.uids.len() {
                        notes.push(format!(
                            "EXISTS {n} below the {} messages known",
                            self.uids.len()
                        ));
                    } else {
                        self.uids.resize(n, None);
                    }
                }
                Event::Expunge(seq) => {
                    let i = (*seq as usize).wrapping_sub(1);
                    if i < self.uids.len() {
                        match self.uids.remove(i) {
                            Some(uid) => expunged.push(uid),
                            None => unknown_expunged += 1,
                        }
                    } else {
                        notes.push(format!(
                            "EXPUNGE {seq} beyond the {} messages known",
                            self.uids.len()
                        ));
                    }
                }
                Event::Vanished(ranges) => {
                    let gone = |u: &u32| ranges.iter().any(|(a, b)| (*a..=*b).contains(u));
                    expunged.extend(self.uids.iter().flatten().filter(|u| gone(u)));
                    self.uids.retain(|u| !u.as_ref().is_some_and(gone));
                }
                Event::Fetch(f) => {
                    let i = (f.seq as usize).wrapping_sub(1);
                    let Some(slot) = self.uids.get_mut(i) else {
                        notes.push(format!(
                            "FETCH {} beyond the {} messages known",
                            f.seq,
                            self.uids.len()
                        ));
                        continue;
                    };
                    match (f.uid, *slot) {
                        (Some(u), None) => *slot = Some(u),
                        (Some(u), Some(known)) if u != known => notes.push(format!(
                            "FETCH {} says UID {u}, known as UID {known}",
                            f.seq
                        )),
                        _ => {}
                    }
                    let Some(uid) = *slot else { continue };
                    if f.flags.is_some() {
                        let text = flags(&f.flags);
                        if before.contains(&uid) && self.flags.get(&uid) != Some(&text) {
                            changed.insert(uid, text.clone());
                        }
                        self.flags.insert(uid, text);
                    }
                }
                Event::Bye(_) => notes.push("BYE".into()),
            }
        }
        let present: BTreeSet<u32> = self.uids.iter().flatten().copied().collect();
        let mut lines = Vec::new();
        if !expunged.is_empty() || unknown_expunged > 0 {
            let mut text = format!("expunged uids {}", uids(&expunged));
            if unknown_expunged > 0 {
                text.push_str(&format!(" and {unknown_expunged} new"));
            }
            lines.push(text);
        }
        let new = self
            .uids
            .iter()
            .filter(|u| u.is_none_or(|u| !before.contains(&u)))
            .count();
        lines.push(format!("exists {} (new {new})", self.uids.len()));
        for (uid, text) in changed {
            if present.contains(&uid) {
                lines.push(format!("flags changed uid={uid} {text}"));
            }
        }
        lines.extend(notes);
        lines
    }
}

/// The FETCH responses a STORE returned (RFC 3501 §6.4.6), by UID (RFC 3501 §6.4.8: a UID
/// command's FETCH responses carry the UID).
fn store_responses(t: &mut Transcript, events: &[Event]) {
    let mut lines: Vec<String> = events
        .iter()
        .map(|e| match e {
            Event::Fetch(f) => match f.uid {
                Some(uid) => format!("  FETCH uid={uid} flags={}", flags(&f.flags)),
                None => format!("  FETCH without UID flags={}", flags(&f.flags)),
            },
            other => format!("  other response {other:?}"),
        })
        .collect();
    lines.sort();
    if lines.is_empty() {
        t.line("  (no FETCH responses)");
    }
    for line in lines {
        t.line(line);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, user, password] = args.as_slice() else {
        eprintln!("usage: imap_differential HOST:PORT USER PASSWORD");
        return ExitCode::from(2);
    };
    let endpoint: ClientEndpoint = match server.parse() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("imap_differential: {server}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut t = Transcript;
    match run(&mut t, &endpoint, user, password).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            t.line(format!("aborted: {}", kind(&e)));
            ExitCode::FAILURE
        }
    }
}

fn config() -> ClientConfig {
    ClientConfig::new()
        .with_tls(TlsMode::None)
        .allow_plaintext_auth()
        .with_timeout(TIMEOUT)
}

/// A logged-in connection.
async fn connect(endpoint: &ClientEndpoint, user: &str, password: &str) -> Result<Client> {
    let mut client = Client::connect(endpoint, config()).await?;
    client.login(user, password).await?;
    Ok(client)
}

/// What the script carries from one section to the next.
#[derive(Debug, Default)]
struct State {
    /// INBOX bodies by UID, as first fetched.
    bodies: BTreeMap<u32, Vec<u8>>,
}

async fn run(t: &mut Transcript, endpoint: &ClientEndpoint, user: &str, pw: &str) -> Result<()> {
    t.section("login");
    let mut a = Client::connect(endpoint, config()).await?;
    let wrong = a.login(user, "not-the-password").await;
    t.line(format!("LOGIN wrong password -> {}", status(&wrong)));
    let good = a.login(user, pw).await;
    t.line(format!("LOGIN -> {}", status(&good)));
    good?;
    for cap in CAPABILITIES {
        t.line(format!("CAPABILITY {cap} {}", yes(a.has_capability(cap))));
    }
    let mut state = State::default();

    t.section("list");
    let r = list(t, &mut a).await;
    t.end(r);
    t.section("select");
    let r = select(t, &mut a).await;
    t.end(r);
    t.section("search");
    let r = search(t, &mut a).await;
    t.end(r);
    t.section("fetch");
    let r = fetch(t, &mut a, &mut state).await;
    t.end(r);
    t.section("store");
    let r = store(t, &mut a).await;
    t.end(r);
    t.section("append");
    let r = append(t, &mut a).await;
    t.end(r);
    t.section("copy-move");
    let r = copy_move(t, &mut a, &state).await;
    t.end(r);
    t.section("expunge");
    let r = expunge(t, &mut a).await;
    t.end(r);
    t.section("two-sessions");
    let r = two_sessions(t, &mut a, endpoint, user, pw).await;
    t.end(r);
    t.section("condstore");
    let r = condstore(t, endpoint, user, pw).await;
    t.end(r);
    t.section("bare-lf");
    let r = bare_lf(t, &mut a).await;
    t.end(r);
    t.section("logout");
    let r = a.logout().await;
    t.line(format!("LOGOUT -> {}", status(&r)));
    Ok(())
}

async fn list(t: &mut Transcript, a: &mut Client) -> Result<()> {
    for (reference, pattern) in [("", "*"), ("", "%"), ("", "Work.*"), ("", "Work.%")] {
        let entries = a.list(reference, pattern).await?;
        t.line(format!("LIST {reference:?} {pattern:?}"));
        let mut lines: Vec<String> = entries
            .iter()
            .filter(|e| FOLDERS.contains(&e.name.as_str()))
            .map(|e| {
                let mut attrs: Vec<&str> = LIST_ATTRIBUTES
                    .iter()
                    .copied()
                    .filter(|a| e.attributes.iter().any(|x| x.eq_ignore_ascii_case(a)))
                    .collect();
                attrs.sort_unstable();
                format!(
                    "  {} delimiter={} {}",
                    e.name,
                    e.delimiter.map_or("NIL".into(), |c| c.to_string()),
                    attrs.join(" ")
                )
            })
            .collect();
        lines.sort();
        for line in lines {
            t.line(line);
        }
    }
    let none = a.list("", "NoSuchFolder*").await?;
    t.line(format!(
        "LIST \"\" \"NoSuchFolder*\" -> {} entries",
        none.len()
    ));
    Ok(())
}

async fn select(t: &mut Transcript, a: &mut Client) -> Result<()> {
    let info = a.examine("INBOX").await;
    match &info {
        Ok(i) => t.line(format!(
            "EXAMINE INBOX -> exists={} uidnext={} uidvalidity-nonzero={} read-only={}",
            i.exists,
            i.uid_next,
            yes(i.uid_validity != 0),
            yes(i.read_only)
        )),
        Err(e) => t.line(format!("EXAMINE INBOX -> {}", kind(e))),
    }
    let mut validity = BTreeMap::new();
    for name in ["Archive", "Work", "Work.Projects", "Legacy", "INBOX"] {
        match a.select(name).await {
            Ok(i) => {
                validity.insert(name, i.uid_validity);
                t.line(format!(
                    "SELECT {name} -> exists={} uidnext={} uidvalidity-nonzero={} read-only={}",
                    i.exists,
                    i.uid_next,
                    yes(i.uid_validity != 0),
                    yes(i.read_only)
                ));
            }
            Err(e) => t.line(format!("SELECT {name} -> {}", kind(&e))),
        }
    }
    let again = a.examine("INBOX").await?;
    t.line(format!(
        "EXAMINE INBOX again -> same uidvalidity={}",
        yes(Some(&again.uid_validity) == validity.get("INBOX"))
    ));
    let all = a.uid_search("ALL").await?;
    t.line(format!("UID SEARCH ALL -> {}", uids(&all)));
    // RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected.
    let missing = a.select("NoSuchFolder").await;
    t.line(format!("SELECT NoSuchFolder -> {}", status(&missing)));
    let after = a.uid_search("ALL").await;
    t.line(format!(
        "UID SEARCH ALL with no mailbox selected -> {}",
        status(&after)
    ));
    Ok(())
}

/// Search keys over the unchanged INBOX (RFC 3501 §6.4.4).
const SEARCHES: &[&str] = &[
    "ALL",
    "UNSEEN",
    "SEEN",
    "FLAGGED",
    "ANSWERED",
    "DELETED",
    "UNDELETED",
    "DRAFT",
    "KEYWORD $Label1",
    "UNKEYWORD $Label1",
    "FROM \"bob\"",
    "FROM \"example.org\"",
    "TO \"alice\"",
    "CC \"frank\"",
    "SUBJECT \"report\"",
    "SUBJECT \"QUARTERLY\"",
    "SUBJECT \"menu\"",
    "SINCE 1-Mar-2024",
    "BEFORE 1-Mar-2024",
    "ON 10-Mar-2024",
    "SENTSINCE 1-Apr-2024",
    "SENTBEFORE 1-Feb-2024",
    "SENTON 5-Feb-2024",
    "LARGER 1500",
    "SMALLER 600",
    "OR FROM \"carol\" SUBJECT \"meeting\"",
    "NOT SEEN",
    "NOT FROM \"bob\"",
    "OR SEEN FLAGGED",
    "(OR FLAGGED ANSWERED) NOT DELETED",
    "UNSEEN SINCE 1-Mar-2024 NOT DELETED",
    "BODY \"lazy\"",
    "BODY \"agenda\"",
    "TEXT \"Quarterly\"",
    "HEADER \"X-Priority\" \"1\"",
    "HEADER \"Message-ID\" \"fixture-3\"",
    "HEADER \"In-Reply-To\" \"\"",
    "UID 2:4",
    "UID 4:*",
    "UID 5:3",
    "1:3",
    "*",
    "NOT UID 1:3",
    "FOO",
    "CHARSET X-NO-SUCH-CHARSET TEXT \"x\"",
];

async fn search(t: &mut Transcript, a: &mut Client) -> Result<()> {
    a.examine("INBOX").await?;
    for key in SEARCHES {
        let r = a.uid_search(key).await;
        match r {
            Ok(found) => t.line(format!("UID SEARCH {key} -> {}", uids(&found))),
            Err(e) => t.line(format!("UID SEARCH {key} -> {}", kind(&e))),
        }
    }
    Ok(())
}

async fn fetch(t: &mut Transcript, a: &mut Client, state: &mut State) -> Result<()> {
    a.select("INBOX").await?;
    let all = by_uid(a.uid_fetch("1:*", "(UID FLAGS RFC822.SIZE)").await?);
    t.line("UID FETCH 1:* (UID FLAGS RFC822.SIZE)");
    let mut sizes = BTreeMap::new();
    for f in &all {
        t.line(format!(
            "  uid={} flags={} size={}",
            f.uid.map_or("?".into(), |u| u.to_string()),
            flags(&f.flags),
            f.size.map_or("?".into(), |s| s.to_string())
        ));
        if let (Some(uid), Some(size)) = (f.uid, f.size) {
            sizes.insert(uid, size);
        }
    }
    for (uid, size) in &sizes {
        let got = a
            .uid_fetch(&uid.to_string(), "(UID BODY.PEEK[] BODY.PEEK[HEADER])")
            .await?;
        let Some(f) = got.iter().find(|f| f.uid == Some(*uid)) else {
            t.line(format!("  uid={uid}: no FETCH response"));
            continue;
        };
        let body = f.body.clone().unwrap_or_default();
        let header = f.header.clone().unwrap_or_default();
        t.line(format!(
            "  uid={uid} BODY[] {} size-matches={} BODY[HEADER] {} header-prefix={} header-ends-blank-line={}",
            digest(&body),
            yes(body.len() == *size as usize),
            digest(&header),
            yes(body.starts_with(&header)),
            yes(header.ends_with(b"\r\n\r\n"))
        ));
        state.bodies.insert(*uid, body);
    }
    let rfc822 = a.uid_fetch("1", "(UID RFC822.HEADER)").await?;
    t.line(format!(
        "UID FETCH 1 RFC822.HEADER same as BODY[HEADER] prefix={}",
        yes(rfc822.first().is_some_and(|f| {
            f.header
                .as_ref()
                .is_some_and(|h| state.bodies.get(&1).is_some_and(|b| b.starts_with(h)))
        }))
    ));
    let none = a.uid_fetch("999", "(UID FLAGS)").await;
    t.line(format!(
        "UID FETCH 999 -> {} {} responses",
        status(&none),
        none.as_ref().map_or(0, Vec::len)
    ));
    let reversed = a.uid_fetch("5:3", "(UID)").await?;
    let list: Vec<u32> = reversed.iter().filter_map(|f| f.uid).collect();
    t.line(format!("UID FETCH 5:3 (UID) -> {}", uids(&list)));
    let star = a.uid_fetch("*", "(UID)").await?;
    let list: Vec<u32> = star.iter().filter_map(|f| f.uid).collect();
    t.line(format!("UID FETCH * (UID) -> {}", uids(&list)));
    // RFC 3501 §6.4.5: BODY[] (not PEEK) sets \Seen.
    let seen = a.uid_fetch("2", "(UID BODY[])").await?;
    t.line(format!(
        "UID FETCH 2 BODY[] -> same body={}",
        yes(seen.first().and_then(|f| f.body.as_ref()) == state.bodies.get(&2))
    ));
    a.take_events();
    let after = a.uid_fetch("2", "(UID FLAGS)").await?;
    t.line(format!(
        "  then uid=2 flags={}",
        after.first().map_or("?".into(), |f| flags(&f.flags))
    ));
    Ok(())
}

async fn store(t: &mut Transcript, a: &mut Client) -> Result<()> {
    a.select("INBOX").await?;
    for (set, action, list) in [
        ("1", "+FLAGS", "(\\Flagged $Forwarded Project-X)"),
        ("1", "-FLAGS", "(\\Flagged)"),
        ("3", "FLAGS", "(\\Answered Custom2)"),
        ("2:3", "+FLAGS", "($Label1)"),
        ("6", "+FLAGS", "(\\Draft)"),
        ("6", "-FLAGS", "(\\Draft)"),
        ("5", "+FLAGS.SILENT", "(\\Seen)"),
        ("999", "+FLAGS", "(\\Seen)"),
    ] {
        a.take_events();
        let r = a.uid_store(set, action, list).await;
        t.line(format!("UID STORE {set} {action} {list} -> {}", status(&r)));
        store_responses(t, &a.take_events());
    }
    let all = by_uid(a.uid_fetch("1:*", "(UID FLAGS)").await?);
    t.line("UID FETCH 1:* (UID FLAGS)");
    for f in &all {
        t.line(format!(
            "  uid={} flags={}",
            f.uid.map_or("?".into(), |u| u.to_string()),
            flags(&f.flags)
        ));
    }
    for key in [
        "KEYWORD $Forwarded",
        "KEYWORD Project-X",
        "KEYWORD project-x",
        "KEYWORD $Label1",
        "UNKEYWORD $Label1",
        "KEYWORD Custom2",
        "FLAGGED",
        "ANSWERED",
        "UNSEEN",
        "DRAFT",
    ] {
        let r = a.uid_search(key).await;
        match r {
            Ok(found) => t.line(format!("UID SEARCH {key} -> {}", uids(&found))),
            Err(e) => t.line(format!("UID SEARCH {key} -> {}", kind(&e))),
        }
    }
    // RFC 3501 §6.3.2: EXAMINE is read-only, "no changes to the permanent state of the
    // mailbox ... are permitted". The RFC does not fix the reply to a STORE there: we refuse
    // it (NO), Dovecot answers OK and changes nothing. Only "not BAD" and the unchanged
    // flags below are compared.
    a.examine("INBOX").await?;
    let r = a.uid_store("4", "+FLAGS", "(\\Flagged)").await;
    let reply = match status(&r).as_str() {
        "OK" | "NO" => "OK or NO".to_owned(),
        other => other.to_owned(),
    };
    t.line(format!("EXAMINE INBOX; UID STORE 4 +FLAGS -> {reply}"));
    a.take_events();
    let after = a.uid_fetch("4", "(UID FLAGS)").await?;
    t.line(format!(
        "  then uid=4 flags={}",
        after.first().map_or("?".into(), |f| flags(&f.flags))
    ));
    Ok(())
}

const APPENDED: &[u8] = b"From: Grace <grace@example.test>\r\nTo: alice@example.test\r\nSubject: Appended with flags\r\nDate: Thu, 13 Jun 2024 23:30:00 +0000\r\nMessage-ID: <appended-1@example.test>\r\n\r\nAppended by the differential check.\r\n";
const APPENDED_PLAIN: &[u8] =
    b"From: Heidi <heidi@example.test>\r\nSubject: Appended plainly\r\n\r\nNo flags, no date.\r\n";

async fn append(t: &mut Transcript, a: &mut Client) -> Result<()> {
    a.examine("INBOX").await?;
    let r = a
        .append(
            "Work",
            "(\\Seen $Forwarded) \"14-Jun-2024 10:00:00 +0000\"",
            APPENDED,
        )
        .await;
    t.line(format!(
        "APPEND Work (\\Seen $Forwarded) date -> {} appenduid={}",
        status(&r),
        match &r {
            Ok(Some((_, uid))) => format!("uid {uid}"),
            Ok(None) => "none".into(),
            Err(_) => "-".into(),
        }
    ));
    let work = a.select("Work").await?;
    t.line(format!(
        "SELECT Work -> exists={} uidnext={} APPENDUID uidvalidity matches={}",
        work.exists,
        work.uid_next,
        yes(matches!(&r, Ok(Some((v, _))) if *v == work.uid_validity))
    ));
    if let Ok(Some((_, uid))) = r {
        let got = a
            .uid_fetch(&uid.to_string(), "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
            .await?;
        match got.first() {
            Some(f) => t.line(format!(
                "  uid={uid} flags={} size-matches={} body-matches={}",
                flags(&f.flags),
                yes(f.size == Some(APPENDED.len() as u32)),
                yes(f.body.as_deref() == Some(APPENDED))
            )),
            None => t.line(format!("  uid={uid}: no FETCH response")),
        }
    }
    for key in [
        "ON 14-Jun-2024",
        "SINCE 14-Jun-2024",
        "BEFORE 14-Jun-2024",
        "SENTON 13-Jun-2024",
        "KEYWORD $Forwarded",
        "SEEN",
    ] {
        let r = a.uid_search(key).await;
        match r {
            Ok(found) => t.line(format!("Work UID SEARCH {key} -> {}", uids(&found))),
            Err(e) => t.line(format!("Work UID SEARCH {key} -> {}", kind(&e))),
        }
    }
    // RFC 3501 §6.3.11: appending to the selected mailbox; by the NOOP at the latest the new
    // size must have been told (§5.2).
    let mut view = View::load(a).await?;
    let r = a.append("Work", "", APPENDED_PLAIN).await;
    t.line(format!(
        "APPEND Work (selected) -> {} appenduid={}",
        status(&r),
        match &r {
            Ok(Some((_, uid))) => format!("uid {uid}"),
            Ok(None) => "none".into(),
            Err(_) => "-".into(),
        }
    ));
    let mut events = a.take_events();
    events.extend(a.noop().await?);
    for line in view.apply(&events) {
        t.line(format!("  {line}"));
    }
    let r = a.append("NoSuchFolder", "", APPENDED_PLAIN).await;
    t.line(format!("APPEND NoSuchFolder -> {}", status(&r)));
    let all = by_uid(a.uid_fetch("1:*", "(UID FLAGS RFC822.SIZE)").await?);
    for f in &all {
        t.line(format!(
            "  Work uid={} flags={} size={}",
            f.uid.map_or("?".into(), |u| u.to_string()),
            flags(&f.flags),
            f.size.map_or("?".into(), |s| s.to_string())
        ));
    }
    Ok(())
}

async fn copy_move(t: &mut Transcript, a: &mut Client, state: &State) -> Result<()> {
    a.select("INBOX").await?;
    let mut view = View::load(a).await?;
    let r = a.uid_copy("1,3", "Archive").await;
    t.line(format!("UID COPY 1,3 Archive -> {}", status(&r)));
    for line in view.apply(&a.take_events()) {
        t.line(format!("  {line}"));
    }
    // RFC 6851 §3.3: the source mailbox gets EXPUNGE (or VANISHED) for what moved.
    let r = a.uid_move("2", "Archive").await;
    t.line(format!("UID MOVE 2 Archive -> {}", status(&r)));
    for line in view.apply(&a.take_events()) {
        t.line(format!("  {line}"));
    }
    let r = a.uid_move("999", "Archive").await;
    t.line(format!("UID MOVE 999 Archive -> {}", status(&r)));
    for line in view.apply(&a.take_events()) {
        t.line(format!("  {line}"));
    }
    let r = a.uid_copy("1", "NoSuchFolder").await;
    t.line(format!("UID COPY 1 NoSuchFolder -> {}", status(&r)));
    let r = a.uid_move("1", "NoSuchFolder").await;
    t.line(format!("UID MOVE 1 NoSuchFolder -> {}", status(&r)));
    for line in view.apply(&a.take_events()) {
        t.line(format!("  {line}"));
    }
    let all = a.uid_search("ALL").await?;
    t.line(format!("INBOX UID SEARCH ALL -> {}", uids(&all)));
    let archive = a.examine("Archive").await?;
    t.line(format!(
        "EXAMINE Archive -> exists={} uidnext={}",
        archive.exists, archive.uid_next
    ));
    let got = by_uid(
        a.uid_fetch("1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
            .await?,
    );
    for f in &got {
        let body = f.body.clone().unwrap_or_default();
        let origin = state
            .bodies
            .iter()
            .find(|(_, b)| **b == body)
            .map_or_else(|| digest(&body), |(uid, _)| format!("INBOX uid {uid}"));
        t.line(format!(
            "  Archive uid={} flags={} size={} body={origin}",
            f.uid.map_or("?".into(), |u| u.to_string()),
            flags(&f.flags),
            f.size.map_or("?".into(), |s| s.to_string()),
        ));
    }
    // RFC 3501 §6.4.7: the internal date SHOULD be preserved by COPY (and MOVE, RFC 6851).
    for key in ["ON 5-Feb-2024", "ON 1-Apr-2024", "ON 10-Mar-2024"] {
        let r = a.uid_search(key).await;
        match r {
            Ok(found) => t.line(format!("Archive UID SEARCH {key} -> {}", uids(&found))),
            Err(e) => t.line(format!("Archive UID SEARCH {key} -> {}", kind(&e))),
        }
    }
    Ok(())
}

async fn expunge(t: &mut Transcript, a: &mut Client) -> Result<()> {
    a.select("INBOX").await?;
    let mut view = View::load(a).await?;
    let deleted = a.uid_search("DELETED").await?;
    t.line(format!("UID SEARCH DELETED -> {}", uids(&deleted)));
    let r = a.uid_store("5", "+FLAGS.SILENT", "(\\Deleted)").await;
    t.line(format!(
        "UID STORE 5 +FLAGS.SILENT (\\Deleted) -> {}",
        status(&r)
    ));
    store_responses(t, &a.take_events());
    let r = a.expunge().await;
    t.line(format!("EXPUNGE -> {}", status(&r)));
    for line in view.apply(&a.take_events()) {
        t.line(format!("  {line}"));
    }
    let all = a.uid_search("ALL").await?;
    t.line(format!("UID SEARCH ALL -> {}", uids(&all)));
    let deleted = a.uid_search("DELETED").await?;
    t.line(format!("UID SEARCH DELETED -> {}", uids(&deleted)));
    let r = a.expunge().await;
    t.line(format!("EXPUNGE again -> {}", status(&r)));
    for line in view.apply(&a.take_events()) {
        t.line(format!("  {line}"));
    }
    Ok(())
}

const FROM_A: &[u8] =
    b"From: Ivan <ivan@example.test>\r\nSubject: Seen by the other session\r\n\r\nHello B.\r\n";
const DURING_IDLE: &[u8] =
    b"From: Judy <judy@example.test>\r\nSubject: Arrived during IDLE\r\n\r\nHello IDLE.\r\n";

async fn two_sessions(
    t: &mut Transcript,
    a: &mut Client,
    endpoint: &ClientEndpoint,
    user: &str,
    pw: &str,
) -> Result<()> {
    a.select("INBOX").await?;
    let mut view_a = View::load(a).await?;
    let mut b = connect(endpoint, user, pw).await?;
    let info = b.select("INBOX").await?;
    let mut view_b = View::load(&mut b).await?;
    t.line(format!("B: SELECT INBOX -> exists={}", info.exists));
    let r = a.append("INBOX", "(\\Seen)", FROM_A).await;
    t.line(format!("A: APPEND INBOX (\\Seen) -> {}", status(&r)));
    let r = a.uid_store("1", "+FLAGS.SILENT", "(\\Flagged)").await;
    t.line(format!(
        "A: UID STORE 1 +FLAGS.SILENT (\\Flagged) -> {}",
        status(&r)
    ));
    let r = a.uid_store("3", "+FLAGS.SILENT", "(\\Deleted)").await;
    t.line(format!(
        "A: UID STORE 3 +FLAGS.SILENT (\\Deleted) -> {}",
        status(&r)
    ));
    let r = a.expunge().await;
    t.line(format!("A: EXPUNGE -> {}", status(&r)));
    let mut events = a.take_events();
    events.extend(a.noop().await?);
    for line in view_a.apply(&events) {
        t.line(format!("  A: {line}"));
    }
    let events = b.noop().await?;
    t.line("B: NOOP");
    for line in view_b.apply(&events) {
        t.line(format!("  B: {line}"));
    }
    let all_a = a.uid_search("ALL").await?;
    let all_b = b.uid_search("ALL").await?;
    t.line(format!(
        "B: UID SEARCH ALL -> {} (same as A: {})",
        uids(&all_b),
        yes(all_a == all_b)
    ));
    let got = by_uid(b.uid_fetch("1:*", "(UID FLAGS)").await?);
    for f in &got {
        t.line(format!(
            "  B: uid={} flags={}",
            f.uid.map_or("?".into(), |u| u.to_string()),
            flags(&f.flags)
        ));
    }
    b.take_events();
    // RFC 2177: a client in IDLE is told of new mail.
    let mut idle = b.idle().await?;
    let r = a.append("INBOX", "", DURING_IDLE).await;
    t.line(format!("A: APPEND INBOX while B idles -> {}", status(&r)));
    match tokio::time::timeout(IDLE_WAIT, idle.next()).await {
        Ok(Ok(Event::Exists(n))) => t.line(format!("B: IDLE -> EXISTS {n}")),
        Ok(Ok(other)) => t.line(format!("B: IDLE -> unexpected {other:?}")),
        Ok(Err(e)) => t.line(format!("B: IDLE -> {}", kind(&e))),
        Err(_) => t.line(format!("B: IDLE -> nothing within {IDLE_WAIT:?}")),
    }
    let mut b = idle.done().await?;
    b.take_events();
    let r = b.logout().await;
    t.line(format!("B: LOGOUT -> {}", status(&r)));
    a.take_events();
    Ok(())
}

/// RFC 7162 on a connection of its own (CONDSTORE, once enabled, stays on for the connection).
async fn condstore(
    t: &mut Transcript,
    endpoint: &ClientEndpoint,
    user: &str,
    pw: &str,
) -> Result<()> {
    let mut c = connect(endpoint, user, pw).await?;
    c.select("INBOX").await?;
    // FETCH MODSEQ enables CONDSTORE (RFC 7162 §3.1).
    let before = by_uid(c.uid_fetch("1:*", "(UID FLAGS MODSEQ)").await?);
    let modseqs: BTreeMap<u32, u64> = before
        .iter()
        .filter_map(|f| Some((f.uid?, f.modseq?)))
        .collect();
    t.line(format!(
        "UID FETCH 1:* (UID FLAGS MODSEQ) -> {} messages, all with MODSEQ={}",
        before.len(),
        yes(modseqs.len() == before.len())
    ));
    let max = modseqs.values().copied().max().unwrap_or(0);
    let (Some(&first), Some(&second)) = (modseqs.keys().next(), modseqs.keys().nth(1)) else {
        t.line("fewer than two messages");
        return Ok(());
    };
    t.line(format!("first uid={first} second uid={second}"));
    let r = c
        .uid_store(&first.to_string(), "+FLAGS", "(\\Answered)")
        .await;
    t.line(format!(
        "UID STORE first +FLAGS (\\Answered) -> {}",
        status(&r)
    ));
    // RFC 7162 §3.1: once enabled, every untagged FETCH carries UID and MODSEQ.
    let events = c.take_events();
    let fetches: Vec<&Fetched> = events
        .iter()
        .filter_map(|e| match e {
            Event::Fetch(f) => Some(f),
            _ => None,
        })
        .collect();
    t.line(format!(
        "  {} FETCH responses, with UID={} with MODSEQ={}",
        fetches.len(),
        yes(fetches.iter().all(|f| f.uid.is_some())),
        yes(fetches.iter().all(|f| f.modseq.is_some()))
    ));
    let new = fetches.iter().find_map(|f| f.modseq).unwrap_or(0);
    t.line(format!(
        "  new MODSEQ above the old one={} above every earlier one={}",
        yes(new > modseqs[&first]),
        yes(new > max)
    ));
    let after = c.uid_fetch(&first.to_string(), "(UID MODSEQ)").await?;
    t.line(format!(
        "  FETCH MODSEQ agrees={}",
        yes(after.first().and_then(|f| f.modseq) == Some(new))
    ));
    let found = c.uid_search(&format!("MODSEQ {}", max + 1)).await;
    t.line(format!(
        "UID SEARCH MODSEQ <old highest + 1> -> {}",
        found.as_ref().map_or_else(kind, |f| uids(f))
    ));
    let since = modseqs[&second];
    let r = c
        .uid_store(
            &second.to_string(),
            &format!("(UNCHANGEDSINCE {since}) +FLAGS"),
            "(\\Flagged)",
        )
        .await;
    t.line(format!(
        "UID STORE second (UNCHANGEDSINCE its MODSEQ) +FLAGS (\\Flagged) -> {}",
        status(&r)
    ));
    c.take_events();
    // RFC 7162 §3.1.3: the test fails now (the message changed), nothing is stored.
    let r = c
        .uid_store(
            &second.to_string(),
            &format!("(UNCHANGEDSINCE {since}) +FLAGS"),
            "(\\Draft)",
        )
        .await;
    t.line(format!(
        "UID STORE second (UNCHANGEDSINCE its old MODSEQ) +FLAGS (\\Draft) -> {}",
        status(&r)
    ));
    store_responses(t, &c.take_events());
    let got = c.uid_fetch(&second.to_string(), "(UID FLAGS)").await?;
    t.line(format!(
        "  then second flags={}",
        got.first().map_or("?".into(), |f| flags(&f.flags))
    ));
    let changed = by_uid(
        c.uid_fetch("1:*", &format!("(UID FLAGS) (CHANGEDSINCE {max})"))
            .await?,
    );
    let list: Vec<String> = changed
        .iter()
        .map(|f| match f.uid {
            Some(u) if u == first => "first".to_owned(),
            Some(u) if u == second => "second".to_owned(),
            Some(u) => u.to_string(),
            None => "?".to_owned(),
        })
        .collect();
    t.line(format!(
        "UID FETCH 1:* (FLAGS) (CHANGEDSINCE <old highest>) -> {}",
        list.join(" ")
    ));
    let info = c.examine("INBOX").await?;
    let now = by_uid(c.uid_fetch("1:*", "(UID MODSEQ)").await?);
    let top = now.iter().filter_map(|f| f.modseq).max().unwrap_or(0);
    t.line(format!(
        "EXAMINE INBOX -> HIGHESTMODSEQ given={} at least every MODSEQ={}",
        yes(info.highest_modseq.is_some()),
        yes(info.highest_modseq.is_some_and(|h| h >= top))
    ));
    let r = c.logout().await;
    t.line(format!("LOGOUT -> {}", status(&r)));
    Ok(())
}

/// A message stored with bare LF line ends: RFC 3501 §2.3.4 / RFC 9051 §2.3.4 give the size
/// "in RFC 5322 format" (CRLF lines), and what BODY[] returns is that text.
async fn bare_lf(t: &mut Transcript, a: &mut Client) -> Result<()> {
    a.examine("Legacy").await?;
    let got = a
        .uid_fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[] BODY.PEEK[HEADER])")
        .await?;
    for f in by_uid(got) {
        let body = f.body.clone().unwrap_or_default();
        let bare = body
            .iter()
            .enumerate()
            .any(|(i, b)| *b == b'\n' && (i == 0 || body[i - 1] != b'\r'));
        t.line(format!(
            "Legacy uid={} size={} BODY[] {} size-matches={} bare-LF={}",
            f.uid.map_or("?".into(), |u| u.to_string()),
            f.size.map_or("?".into(), |s| s.to_string()),
            digest(&body),
            yes(f.size == Some(body.len() as u32)),
            yes(bare)
        ));
    }
    for key in ["LARGER 200", "SMALLER 200", "BODY \"second line\""] {
        let r = a.uid_search(key).await;
        match r {
            Ok(found) => t.line(format!("Legacy UID SEARCH {key} -> {}", uids(&found))),
            Err(e) => t.line(format!("Legacy UID SEARCH {key} -> {}", kind(&e))),
        }
    }
    Ok(())
}
