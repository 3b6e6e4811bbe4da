//! The persistent index of one Maildir: UIDs (shared by IMAP and POP3), UIDVALIDITY,
//! UIDNEXT, MODSEQ per message and HIGHESTMODSEQ (CONDSTORE/QRESYNC), and what it costs a
//! `stat` to learn (size, internal date) — so that opening a 100,000-message mailbox after a
//! restart reads one file instead of every message.
//!
//! The files are the truth and the index never overrides them: a sync lists `cur/` (unless
//! neither `new/` nor `cur/` changed since the index last saw them, by a directory mtime old
//! enough to trust), drops entries whose file is gone, numbers files it has not seen, and gives
//! a new MODSEQ to any message whose flags in the file name changed behind its back (mutt,
//! Dovecot, a shell). A lost or damaged index therefore costs a rebuild, never a wrong answer;
//! only UIDVALIDITY changes then, as RFC 9051 §2.3.1.1 asks when UIDs cannot be kept.
//!
//! On disk (`torsion-uidlist`, the role of Dovecot's `dovecot-uidlist` and index files):
//!
//! ```text
//! V1700000000 N42 M97 2 C1700000123456789 W1700000123456789
//! 7 M12 S2048 T1699999999 I:FS :1700000000.M1P2Q3.host,S=2048
//! ```
//!
//! The header carries UIDVALIDITY (`V`), UIDNEXT (`N`), HIGHESTMODSEQ (`M`), the format
//! version and the mtimes of `cur/` and `new/` (`C`, `W`, nanoseconds) when they were last
//! listed; each line `UID M<modseq> S<size> T<internal date> I:<info> :<key>`, the key (the
//! file name before `:2,`) last so it may hold any character. The first format (`V… N…`, then
//! `UID KEY`) is read too and upgraded. Changes between rewrites are appended to
//! `torsion-uidlist.log` (`+` an entry, `-UID` an expunge, `H N… M… C… W…` the counters and
//! the last listing's mtimes) and folded
//! into the file when the log grows; replaying a log over a newer file is harmless (counters
//! only grow, and entries are checked against the files at every sync).
//! Every change happens under an exclusive lock on `torsion-uidlist.lock`.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::key::{Key, Keys};

/// The index file.
pub const FILE: &str = "torsion-uidlist";
/// Its change log.
pub const LOG: &str = "torsion-uidlist.log";
/// The lock file.
pub const LOCK: &str = "torsion-uidlist.lock";
/// Format version written.
const VERSION: u32 = 2;
/// A directory mtime is trusted to mean "unchanged" only if it was this old when read:
/// file systems tick their timestamps coarsely, and a rename in the same tick would not show.
const MTIME_SETTLE: Duration = Duration::from_secs(2);
/// How long this process trusts its own view of `cur/` (its own renames over a directory
/// that had not changed) before listing it again: the bound on how late a change another
/// program makes in the same timestamp tick as one of ours is seen (see [`Index::sync`]).
const OWN_VIEW_TRUST: Duration = Duration::from_secs(1);
/// Expunged UIDs remembered (with their MODSEQ) for VANISHED (EARLIER).
pub const MAX_TOMBSTONES: usize = 10_000;
/// Log records before the log is folded into the file (or a quarter of the entries, if more).
const LOG_FOLD_MIN: usize = 1000;

/// One message in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// IMAP UID.
    pub uid: u32,
    /// The MODSEQ of its last change (RFC 7162).
    pub modseq: u64,
    /// Size in bytes.
    pub size: u64,
    /// Internal date, Unix seconds (the file's mtime, as Dovecot uses it).
    pub internal_date: i64,
    /// The file name's info after `:2,` (flags and keyword letters) when last seen.
    pub info: Arc<str>,
    /// The base file name.
    pub key: Key,
}

impl Entry {
    fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "{} M{} S{} T{} I:{} :{}",
            self.uid, self.modseq, self.size, self.internal_date, self.info, self.key
        );
    }

    /// Parse one line: `UID M<modseq> S<size> T<date> I:<info> :<key>` (or version 1's
    /// `UID KEY`). `infos` shares the few distinct info strings among the entries.
    fn parse(line: &str, keys: &Keys<'_>, infos: &mut Interner) -> Option<Entry> {
        // Byte-wise: a 100,000-message index is 100,000 of these at every cold open.
        let bytes = line.as_bytes();
        let space = bytes.iter().position(|&b| b == b' ')?;
        let uid = u32::try_from(digits(&bytes[..space])?)
            .ok()
            .filter(|u| *u > 0)?;
        let rest = &line[space + 1..];
        let rb = rest.as_bytes();
        // The fields end at the first " :" (the key, last, may hold anything).
        let split = (1..rb.len()).find(|&i| rb[i] == b':' && rb[i - 1] == b' ');
        let Some(split) = split.filter(|_| rb.first() == Some(&b'M')) else {
            // Version 1: `UID KEY`.
            return Some(Entry {
                uid,
                modseq: 1,
                size: 0,
                internal_date: 0,
                info: infos.empty(),
                key: keys.key(rest),
            });
        };
        let mut entry = Entry {
            uid,
            modseq: 1,
            size: 0,
            internal_date: 0,
            info: infos.empty(),
            key: keys.key(&rest[split + 1..]),
        };
        let mut at = 0;
        while at < split - 1 {
            let end = rb[at..split - 1]
                .iter()
                .position(|&b| b == b' ')
                .map_or(split - 1, |p| at + p);
            if end == at {
                return None; // an empty field: not a line we wrote
            }
            let v = &rb[at + 1..end];
            match rb[at] {
                b'M' => entry.modseq = digits(v)?,
                b'S' => entry.size = digits(v)?,
                b'T' => {
                    entry.internal_date = match v.split_first() {
                        Some((b'-', n)) => i64::try_from(-i128::from(digits(n)?)).ok()?,
                        _ => i64::try_from(digits(v)?).ok()?,
                    }
                }
                // `I:` then the letters; split at ASCII bytes, so `get` finds char boundaries.
                b'I' if v.first() == Some(&b':') => entry.info = infos.get(rest.get(at + 2..end)?),
                b'I' => return None,
                _ => {}
            }
            at = end + 1;
        }
        Some(entry)
    }
}

/// A decimal `u64` (digits only: no sign, no spaces), `None` if it overflows.
fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(b - b'0')))
            .flatten()
    })
}

/// The distinct info strings of an index (flag letters: a handful per mailbox) shared, so a
/// large index holds one allocation per message (its key), not two.
#[derive(Debug)]
pub(crate) struct Interner {
    empty: Arc<str>,
    known: Vec<Arc<str>>,
    /// The last one found (runs of equal flags are common).
    last: usize,
}

impl Default for Interner {
    fn default() -> Interner {
        Interner {
            empty: Arc::from(""),
            known: Vec::new(),
            last: 0,
        }
    }
}

impl Interner {
    /// At most this many are kept; others are allocated each time.
    const MAX: usize = 64;

    pub(crate) fn empty(&self) -> Arc<str> {
        self.empty.clone()
    }

    pub(crate) fn get(&mut self, info: &str) -> Arc<str> {
        if info.is_empty() {
            return self.empty();
        }
        if let Some(last) = self.known.get(self.last).filter(|k| ***k == *info) {
            return last.clone();
        }
        if let Some(i) = self.known.iter().position(|k| **k == *info) {
            self.last = i;
            return self.known[i].clone();
        }
        let new: Arc<str> = info.into();
        if self.known.len() < Self::MAX {
            self.last = self.known.len();
            self.known.push(new.clone());
        }
        new
    }
}

/// The index of one mailbox, as loaded and kept up to date by [`Index::sync`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// The UID the next new message gets.
    pub uid_next: u32,
    /// HIGHESTMODSEQ: the MODSEQ of the last change to the mailbox (expunges included).
    pub highest_modseq: u64,
    /// Messages in ascending UID order.
    pub entries: Vec<Entry>,
    /// mtimes (ns since the epoch) of `cur/` and `new/` when last listed; 0: unknown.
    listed: (u128, u128),
    /// Records in the log since the file was written.
    log_records: usize,
    /// Expunged UIDs with the MODSEQ of their expunge, oldest first (QRESYNC's VANISHED
    /// (EARLIER), RFC 7162 §3.2.6), at most [`MAX_TOMBSTONES`]; complete for expunges above
    /// `tombstone_floor` (older ones, and any from before this was kept, are not known).
    tombstones: Vec<(u32, u64)>,
    tombstone_floor: u64,
    /// The lowest UID no session has yet been told of as `\Recent` (IMAP4rev1, RFC 3501
    /// §2.3.2: a message is recent in the first session to learn of it, and only there).
    pub first_recent: u32,
    /// In memory only (this process's view, see [`Index::own_change_done`]): the mtimes of
    /// `cur/` and `new/` `entries` are known to match, whether they come from this
    /// process's own changes, and when `cur/` was last listed (ns since the epoch).
    seen: (u128, u128),
    own_view: bool,
    listed_at: u128,
}

/// What a sync found changed since the index was last written (by anyone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// UIDs numbered by this sync (files not seen before).
    pub added: Vec<u32>,
    /// UIDs whose files are gone.
    pub expunged: Vec<u32>,
    /// UIDs whose flags changed in their file names.
    pub flags_changed: Vec<u32>,
    /// The index was missing or unreadable and was rebuilt (a new UIDVALIDITY).
    pub rebuilt: bool,
}

/// A file seen in `cur/`: its info and key.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The base name.
    pub key: String,
    /// The info after `:2,`.
    pub info: String,
}

/// An exclusive lock on a mailbox's index, released when dropped.
#[derive(Debug)]
pub struct IndexLock {
    file: File,
}

impl IndexLock {
    /// Take the lock of the mailbox in `dir` (blocking until other holders are done).
    pub fn acquire(dir: &Path) -> io::Result<IndexLock> {
        Self::acquire_named(dir, LOCK)
    }

    /// Take the lock file `name` in `dir`.
    pub fn acquire_named(dir: &Path, name: &str) -> io::Result<IndexLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(name))?;
        file.lock()?;
        Ok(IndexLock { file })
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// The order new files get their UIDs in: delivery time and counter as Maildir names carry
/// them (`SECS.M<usec>P<pid>Q<n>.host`, numbers compared as numbers — as strings, `M999`
/// would sort after `M1000`), then the whole name for anything else.
fn delivery_order(key: &str) -> (u64, u64, u64, &str) {
    let mut parts = key.splitn(3, '.');
    let secs = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    let unique = parts.next().unwrap_or("");
    let number_after = |tag: char| -> u64 {
        unique
            .split_once(tag)
            .map(|(_, rest)| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap_or(0)
            })
            .unwrap_or(0)
    };
    let usec = if unique.starts_with('M') {
        number_after('M')
    } else {
        0
    };
    (secs, usec, number_after('Q'), key)
}

/// A message file's size with CRLF line ends (from `,W=` in its name when there, else by
/// reading it once: other programs' files may hold bare LF, see [`crate::crlf`]) and internal
/// date (its mtime, at least 1 so that 0 can mean "unknown"); `None` if it is gone.
fn stat_message(path: &Path, key: &str) -> io::Result<Option<(u64, i64)>> {
    let gone = |e: io::Error| (e.kind() != io::ErrorKind::NotFound).then_some(e);
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return gone(e).map_or(Ok(None), Err),
    };
    let size = match crate::maildir::crlf_size_from_name(key) {
        Some(size) => size,
        None => match File::open(path).and_then(crate::crlf::size_of_reader) {
            Ok(size) => size,
            Err(e) => return gone(e).map_or(Ok(None), Err),
        },
    };
    let date = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(1, |d| (d.as_secs() as i64).max(1));
    Ok(Some((size, date)))
}

/// `UID MODSEQ` of a tombstone line (after its `-`).
fn parse_tombstone(text: &str) -> Option<(u32, u64)> {
    let (uid, modseq) = text.split_once(' ')?;
    Some((uid.parse().ok()?, modseq.parse().ok()?))
}

/// The mtimes of `cur/` and `new/`.
fn mtimes(dir: &Path) -> io::Result<(u128, u128)> {
    Ok((mtime_ns(&dir.join("cur"))?, mtime_ns(&dir.join("new"))?))
}

fn mtime_ns(path: &Path) -> io::Result<u128> {
    let modified = fs::metadata(path)?.modified()?;
    Ok(modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos()))
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn fresh_validity() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1)
        .max(1)
}

impl Index {
    /// An empty index with a new UIDVALIDITY.
    pub fn empty() -> Index {
        Index {
            uid_validity: fresh_validity(),
            uid_next: 1,
            highest_modseq: 1,
            entries: Vec::new(),
            listed: (0, 0),
            log_records: 0,
            tombstones: Vec::new(),
            tombstone_floor: 0,
            first_recent: 1,
            seen: (0, 0),
            own_view: false,
            listed_at: 0,
        }
    }

    /// Parse the file's text; `None` if it is not an index.
    fn parse(text: &Arc<String>) -> Option<Index> {
        let mut lines = text.lines();
        let header = lines.next()?;
        let (mut validity, mut next, mut modseq) = (None, None, 1u64);
        let mut listed = (0, 0);
        // An index written before tombstones were kept knows none: complete from now.
        let mut floor = None;
        // Nor who has seen what as \Recent: nothing old is recent.
        let mut recent = None;
        for word in header.split_whitespace() {
            match word.split_at_checked(1) {
                Some(("X", v)) => floor = Some(v.parse().ok()?),
                Some(("R", v)) => recent = Some(v.parse().ok()?),
                Some(("V", v)) => validity = v.parse().ok(),
                Some(("N", v)) => next = v.parse().ok(),
                Some(("M", v)) => modseq = v.parse().ok()?,
                Some(("C", v)) => listed.0 = v.parse().ok()?,
                Some(("W", v)) => listed.1 = v.parse().ok()?,
                _ => {}
            }
        }
        // One line per message, ~80 bytes each: reserved once, not grown by doubling.
        let mut entries = Vec::with_capacity(text.len() / 64);
        let mut tombstones = Vec::new();
        let mut infos = Interner::default();
        let keys = Keys(text);
        for line in lines.filter(|l| !l.is_empty()) {
            match line.strip_prefix('-') {
                Some(t) => tombstones.push(parse_tombstone(t)?),
                None => entries.push(Entry::parse(line, &keys, &mut infos)?),
            }
        }
        entries.sort_by_key(|e| e.uid);
        entries.dedup_by_key(|e| e.uid);
        let mut index = Index {
            uid_validity: validity.filter(|v| *v > 0)?,
            uid_next: next.filter(|n| *n > 0)?,
            highest_modseq: modseq,
            entries,
            listed,
            log_records: 0,
            tombstone_floor: floor.unwrap_or(modseq),
            tombstones,
            first_recent: 0,
            seen: (0, 0),
            own_view: false,
            listed_at: 0,
        };
        index.first_recent = recent.unwrap_or(index.uid_next).min(index.uid_next);
        index.repair_counters();
        Some(index)
    }

    /// Counters never below what the entries say (a torn log, a hand-edited file).
    fn repair_counters(&mut self) {
        if let Some(last) = self.entries.last() {
            self.uid_next = self.uid_next.max(last.uid + 1);
        }
        let top = self.entries.iter().map(|e| e.modseq).max().unwrap_or(1);
        self.highest_modseq = self.highest_modseq.max(top);
    }

    fn render(&self) -> String {
        let mut out = format!(
            "V{} N{} M{} {VERSION} C{} W{} X{} R{}\n",
            self.uid_validity,
            self.uid_next,
            self.highest_modseq,
            self.listed.0,
            self.listed.1,
            self.tombstone_floor,
            self.first_recent
        );
        for e in &self.entries {
            e.render(&mut out);
        }
        for (uid, modseq) in &self.tombstones {
            out.push_str(&format!("-{uid} {modseq}\n"));
        }
        out
    }

    /// Load the index of the mailbox in `dir` (with its log replayed); `None` if there is none
    /// or it does not parse. Call with the lock held.
    pub fn load(dir: &Path) -> io::Result<Option<Index>> {
        let text = match fs::read_to_string(dir.join(FILE)) {
            Ok(t) => Arc::new(t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(mut index) = Index::parse(&text) else {
            tracing::warn!(dir = %dir.display(), "mailbox index unreadable: rebuilding it");
            return Ok(None);
        };
        match fs::read_to_string(dir.join(LOG)) {
            Ok(log) => index.replay(&Arc::new(log)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // A damaged log loses only what the next sync re-derives from the files.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {}
            Err(e) => return Err(e),
        }
        Ok(Some(index))
    }

    fn replay(&mut self, log: &Arc<String>) {
        let mut infos = Interner::default();
        let keys = Keys(log);
        for line in log.lines() {
            self.log_records += 1;
            if let Some(rest) = line.strip_prefix('+') {
                if let Some(entry) = Entry::parse(rest, &keys, &mut infos) {
                    self.put(entry);
                }
            } else if let Some(rest) = line.strip_prefix('-') {
                // `-UID MODSEQ` (`-UID` from before tombstones were kept).
                match parse_tombstone(rest) {
                    Some((uid, modseq)) => {
                        self.remove(uid);
                        self.tombstone(uid, modseq);
                    }
                    None => {
                        if let Ok(uid) = rest.parse() {
                            self.remove(uid);
                        }
                    }
                }
            } else if let Some(rest) = line.strip_prefix("H ") {
                for word in rest.split_whitespace() {
                    match word.split_at_checked(1) {
                        Some(("N", v)) => {
                            if let Ok(n) = v.parse::<u32>() {
                                self.uid_next = self.uid_next.max(n);
                            }
                        }
                        Some(("M", v)) => {
                            if let Ok(m) = v.parse::<u64>() {
                                self.highest_modseq = self.highest_modseq.max(m);
                            }
                        }
                        // The last listing's mtimes: the newest record wins (a stale one
                        // only costs a listing).
                        Some(("R", v)) => {
                            if let Ok(r) = v.parse::<u32>() {
                                self.first_recent = self.first_recent.max(r);
                            }
                        }
                        Some(("C", v)) => self.listed.0 = v.parse().unwrap_or(0),
                        Some(("W", v)) => self.listed.1 = v.parse().unwrap_or(0),
                        _ => {}
                    }
                }
            }
            // A torn last line is simply skipped.
        }
        self.repair_counters();
    }

    fn position(&self, uid: u32) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&uid, |e| e.uid)
    }

    /// The entry with `uid`.
    pub fn get(&self, uid: u32) -> Option<&Entry> {
        self.position(uid).ok().map(|i| &self.entries[i])
    }

    fn put(&mut self, entry: Entry) {
        match self.position(entry.uid) {
            Ok(i) => self.entries[i] = entry,
            Err(i) => self.entries.insert(i, entry),
        }
    }

    fn remove(&mut self, uid: u32) -> Option<Entry> {
        self.position(uid).ok().map(|i| self.entries.remove(i))
    }

    /// The next MODSEQ (and HIGHESTMODSEQ becomes it).
    pub fn bump(&mut self) -> u64 {
        self.highest_modseq += 1;
        self.highest_modseq
    }

    /// Load the index of `dir` and bring it up to date with the files, persisting what
    /// changed: new files in `new/` move to `cur/` and get UIDs (in name order, which is
    /// delivery order), vanished files are dropped, flags changed in file names get a new
    /// MODSEQ. Call with the lock held.
    pub fn sync(dir: &Path) -> io::Result<(Index, SyncReport)> {
        let cached = crate::cache::take(dir)?;
        let loaded = match cached {
            Some(index) => Some(index),
            None => Index::load(dir)?,
        };
        let (mut index, mut report) = match loaded {
            Some(index) => (index, SyncReport::default()),
            None => {
                let rebuilt = dir.join(FILE).exists();
                (
                    Index::empty(),
                    SyncReport {
                        rebuilt,
                        ..SyncReport::default()
                    },
                )
            }
        };
        let started = now_ns();
        let moved = crate::maildir::move_new_to_cur(dir)?;
        let listed = mtimes(dir)?;
        // `listed` only ever holds mtimes that were already settled when they were read, so
        // a change in the same timestamp tick as the listing cannot hide behind them. This
        // process's own changes (a STORE renames files, so `cur/` is never settled under a
        // busy session) are trusted for a while without a listing: they happened under the
        // lock, over a directory no one else had changed (see `own_change_done`). Another
        // torsion process's change shows in the index files, so the cached index is not
        // used at all; only another program renaming a file in the very tick of one of our
        // renames could hide, and the listing at most OWN_VIEW_TRUST later finds it.
        let own = index.own_view
            && listed == index.seen
            && started < index.listed_at + OWN_VIEW_TRUST.as_nanos();
        let unchanged = !moved && ((index.listed != (0, 0) && listed == index.listed) || own);
        let settled = |t: u128| t + MTIME_SETTLE.as_nanos() <= started;
        let trusted = if settled(listed.0) && settled(listed.1) {
            listed
        } else {
            (0, 0)
        };
        let mut log = String::new();
        if !unchanged {
            let seen = crate::maildir::list_cur(dir)?;
            index.reconcile(dir, seen, &mut report, &mut log)?;
            index.listed_at = started;
            index.own_view = false;
        }
        index.seen = listed;
        let listed_changed = trusted != index.listed;
        index.listed = trusted;
        if report.rebuilt || !dir.join(FILE).exists() {
            index.write(dir)?;
        } else if !log.is_empty() || listed_changed {
            // New UIDs must survive a crash before anyone is told of them.
            let durable = !report.added.is_empty();
            index.commit(dir, log, durable)?;
        }
        Ok((index, report))
    }

    fn reconcile(
        &mut self,
        dir: &Path,
        seen: Vec<Seen>,
        report: &mut SyncReport,
        log: &mut String,
    ) -> io::Result<()> {
        let mut present: HashMap<&str, &Seen> = HashMap::with_capacity(seen.len());
        for s in &seen {
            present.insert(s.key.as_str(), s);
        }
        let mut gone = Vec::new();
        let mut known: HashSet<&str> = HashSet::with_capacity(self.entries.len());
        let mut retag = Vec::new();
        for e in &self.entries {
            match present.get(&*e.key) {
                None => gone.push(e.uid),
                Some(s) => {
                    known.insert(&*e.key);
                    if *s.info != *e.info {
                        retag.push((e.uid, s.info.clone()));
                    }
                }
            }
        }
        let mut fresh: Vec<&Seen> = seen
            .iter()
            .filter(|s| !known.contains(s.key.as_str()))
            .collect();
        fresh.sort_by_cached_key(|s| delivery_order(&s.key));
        let fresh: Vec<Seen> = fresh.into_iter().cloned().collect();
        // Entries from the first format know no size or date: read them once.
        let unknown: Vec<(u32, String)> = self
            .entries
            .iter()
            .filter(|e| e.internal_date == 0)
            .filter_map(|e| Some((e.uid, present.get(&*e.key)?.info.clone())))
            .collect();
        drop(known);
        drop(present);
        if !gone.is_empty() {
            // An expunge is a change QRESYNC clients resynchronise on (RFC 7162 §3.2.10).
            let modseq = self.bump();
            for uid in &gone {
                self.remove(*uid);
                self.tombstone(*uid, modseq);
                log.push_str(&format!("-{uid} {modseq}\n"));
            }
            report.expunged = gone;
        }
        for (uid, info) in unknown {
            let Ok(i) = self.position(uid) else { continue };
            let e = &self.entries[i];
            let path = dir.join("cur").join(format!("{}:2,{info}", e.key));
            let Some((size, date)) = stat_message(&path, &e.key)? else {
                continue;
            };
            let e = &mut self.entries[i];
            (e.size, e.internal_date) = (size, date);
            if *e.info == *info {
                log.push('+');
                e.render(log);
            }
        }
        for (uid, info) in retag {
            let modseq = self.bump();
            if let Ok(i) = self.position(uid) {
                let e = &mut self.entries[i];
                e.info = info.into();
                e.modseq = modseq;
                log.push('+');
                e.render(log);
                report.flags_changed.push(uid);
            }
        }
        for s in fresh {
            let path = dir.join("cur").join(format!("{}:2,{}", s.key, s.info));
            // Renamed or removed since the listing: the next sync sees it.
            let Some((size, internal_date)) = stat_message(&path, &s.key)? else {
                continue;
            };
            let entry = Entry {
                uid: self.uid_next,
                modseq: self.bump(),
                size,
                internal_date,
                info: s.info.into(),
                key: s.key.into(),
            };
            self.uid_next += 1;
            log.push('+');
            entry.render(log);
            report.added.push(entry.uid);
            self.put(entry);
        }
        Ok(())
    }

    /// Record that `uid`'s file now has `info` (a flag change made through the store), with
    /// a new MODSEQ; returns it. Persisted with [`Index::commit`].
    pub fn set_info(&mut self, uid: u32, info: &str, log: &mut String) -> Option<u64> {
        let i = self.position(uid).ok()?;
        let modseq = self.bump();
        let e = &mut self.entries[i];
        e.info = info.into();
        e.modseq = modseq;
        log.push('+');
        e.render(log);
        Some(modseq)
    }

    /// Record that `uid` was expunged. Persisted with [`Index::commit`].
    /// Remove the entries of `uids` (their files are gone), all with one new MODSEQ, and
    /// remember them for VANISHED (EARLIER); the UIDs that were there.
    pub fn expunge(&mut self, uids: &[u32], log: &mut String) -> Vec<u32> {
        let present: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|&uid| self.position(uid).is_ok())
            .collect();
        if present.is_empty() {
            return present;
        }
        let modseq = self.bump();
        for &uid in &present {
            self.remove(uid);
            self.tombstone(uid, modseq);
            log.push_str(&format!("-{uid} {modseq}\n"));
        }
        present
    }

    fn tombstone(&mut self, uid: u32, modseq: u64) {
        self.tombstones.push((uid, modseq));
        if self.tombstones.len() > MAX_TOMBSTONES {
            let drop = self.tombstones.len() - MAX_TOMBSTONES;
            let forgotten = self.tombstones[drop - 1].1;
            self.tombstones.drain(..drop);
            self.tombstone_floor = self.tombstone_floor.max(forgotten);
        }
    }

    /// The UIDs expunged after MODSEQ `since`, ascending; `None` if that is not known
    /// exactly (`since` is older than the expunges remembered).
    pub fn vanished_since(&self, since: u64) -> Option<Vec<u32>> {
        if since < self.tombstone_floor {
            return None;
        }
        let mut uids: Vec<u32> = self
            .tombstones
            .iter()
            .filter(|(_, m)| *m > since)
            .map(|(u, _)| *u)
            .collect();
        uids.sort_unstable();
        uids.dedup();
        Some(uids)
    }

    /// Persist the records in `log` (from [`set_info`](Self::set_info),
    /// [`expunge`](Self::expunge)) with the counters; `durable`: fsync before returning.
    pub fn commit(&mut self, dir: &Path, mut log: String, durable: bool) -> io::Result<()> {
        log.push_str(&format!(
            "H N{} M{} C{} W{} R{}\n",
            self.uid_next, self.highest_modseq, self.listed.0, self.listed.1, self.first_recent
        ));
        self.append_log(dir, &log, durable)
    }

    /// Keep this index in the process-wide cache as the state of `dir`'s files, so the next
    /// [`sync`](Self::sync) need not read them (see [`crate::cache`]). Call with the lock
    /// still held, after the last write.
    pub fn keep(self, dir: &Path) -> io::Result<()> {
        crate::cache::put(dir, self)
    }

    /// Before this process changes `cur/` itself (under the lock, after a [`sync`](Self::sync)):
    /// whether the directory is still as that sync saw it (pass it to
    /// [`own_change_done`](Self::own_change_done)).
    pub fn own_change_start(&self, dir: &Path) -> io::Result<bool> {
        Ok(mtimes(dir)? == self.seen)
    }

    /// After this process changed `cur/` and recorded every change in the index: the
    /// persisted mtimes are forgotten (the next process to load the index lists `cur/`), and
    /// if the directory had not changed before (`clean`), this index is known to be the
    /// state of the directory now, which [`sync`](Self::sync) trusts for
    /// [`OWN_VIEW_TRUST`] after the last listing.
    pub fn own_change_done(&mut self, dir: &Path, clean: bool) -> io::Result<()> {
        self.listed = (0, 0);
        self.own_view = clean && self.listed_at != 0;
        self.seen = mtimes(dir)?;
        Ok(())
    }

    /// Number a file this process just placed in `cur/` (under the lock, between
    /// [`own_change_start`](Self::own_change_start) and
    /// [`own_change_done`](Self::own_change_done)) as a sync would; `None` if it is gone.
    pub fn add_placed(
        &mut self,
        dir: &Path,
        key: &str,
        info: &str,
        log: &mut String,
    ) -> io::Result<Option<u32>> {
        let path = dir.join("cur").join(format!("{key}:2,{info}"));
        let Some((size, internal_date)) = stat_message(&path, key)? else {
            return Ok(None);
        };
        let entry = Entry {
            uid: self.uid_next,
            modseq: self.bump(),
            size,
            internal_date,
            info: info.into(),
            key: key.into(),
        };
        self.uid_next += 1;
        log.push('+');
        entry.render(log);
        let uid = entry.uid;
        self.put(entry);
        Ok(Some(uid))
    }

    fn append_log(&mut self, dir: &Path, records: &str, durable: bool) -> io::Result<()> {
        self.log_records += records.lines().count();
        if self.log_records > LOG_FOLD_MIN.max(self.entries.len() / 4) {
            return self.write(dir);
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(LOG))?;
        file.write_all(records.as_bytes())?;
        if durable {
            file.sync_data()?;
        }
        Ok(())
    }

    /// Rewrite the whole file (temporary file, fsync, rename) and drop the log.
    pub fn write(&mut self, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!("{FILE}.tmp"));
        let mut file = File::create(&tmp)?;
        file.write_all(self.render().as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(FILE))?;
        match fs::remove_file(dir.join(LOG)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        crate::maildir::sync_dir(dir)?;
        self.log_records = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_version_1_lines_parse() {
        let e = Entry {
            uid: 7,
            modseq: 12,
            size: 2048,
            internal_date: 1_699_999_999,
            info: "FS".into(),
            key: "1700000000.M1P2Q3.host,S=2048".into(),
        };
        let mut line = String::new();
        e.render(&mut line);
        assert_eq!(
            line,
            "7 M12 S2048 T1699999999 I:FS :1700000000.M1P2Q3.host,S=2048\n"
        );
        let infos = &mut Interner::default();
        let text = Arc::new(String::new());
        let keys = &Keys(&text);
        assert_eq!(Entry::parse(line.trim_end(), keys, infos), Some(e));
        let old = Entry::parse("3 1700000000.M1P2Q3.host,S=5", keys, infos).unwrap();
        assert_eq!((old.uid, &*old.key), (3, "1700000000.M1P2Q3.host,S=5"));
        assert!(Entry::parse("0 x", keys, infos).is_none());
        assert!(Entry::parse("nope", keys, infos).is_none());
        // Odd but valid: an empty info, a key with spaces and " :" in it, unknown fields.
        let odd = Entry::parse("9 M3 S1 Q7 T-5 I: :a b :c", keys, infos).unwrap();
        assert_eq!(
            (
                odd.modseq,
                odd.size,
                odd.internal_date,
                &*odd.info,
                &*odd.key
            ),
            (3, 1, -5, "", "a b :c")
        );
        // Damage is refused, not misread.
        assert!(Entry::parse("9 M3x S1 I: :k", keys, infos).is_none());
        assert!(Entry::parse("9 M99999999999999999999 I: :k", keys, infos).is_none());
        assert!(Entry::parse("4294967296 M1 I: :k", keys, infos).is_none());
        // The same info is one allocation however many entries have it.
        let a = Entry::parse("1 M1 I:FS :a", keys, infos).unwrap();
        let b = Entry::parse("2 M1 I:FS :b", keys, infos).unwrap();
        assert!(Arc::ptr_eq(&a.info, &b.info));
    }

    proptest::proptest! {
        /// Any line parses or is refused without a panic; any entry survives the round trip.
        #[test]
        fn entry_lines_parse_without_panics_and_round_trip(
            line in "[0-9MSTI: -]{0,12}[ -~é]{0,30}",
            uid in 1u32..,
            modseq in 1u64..,
            size: u64,
            date: i64,
            info in "[A-Za-z]{0,8}",
            key in "[ -~é]{1,40}",
        ) {
            let text = Arc::new(line.clone());
            let infos = &mut Interner::default();
            let _ = Entry::parse(&text, &Keys(&text), infos);
            let e = Entry { uid, modseq, size, internal_date: date, info: info.as_str().into(), key: key.as_str().into() };
            let mut out = String::new();
            e.render(&mut out);
            let text = Arc::new(out);
            let back = Entry::parse(text.trim_end_matches('\n'), &Keys(&text), infos);
            proptest::prop_assert_eq!(back, Some(e));
        }
    }

    #[test]
    fn new_files_are_numbered_in_delivery_order() {
        let mut keys = vec![
            "1700000001.M5P1Q1.h",
            "1700000000.M1000P1Q10.h",
            "1700000000.M999P1Q9.h",
            "1700000000.M1000P1Q2.h",
            "cur-from-elsewhere",
        ];
        keys.sort_by_key(|k| delivery_order(k));
        assert_eq!(
            keys,
            [
                "1700000000.M999P1Q9.h",
                "1700000000.M1000P1Q2.h",
                "1700000000.M1000P1Q10.h",
                "1700000001.M5P1Q1.h",
                "cur-from-elsewhere",
            ]
        );
    }

    #[test]
    fn counters_never_fall_below_the_entries_or_the_log() {
        let text = "V5 N2 M1\n9 M40 S1 T0 I: :k9\n3 k3\n";
        let mut index = Index::parse(&Arc::new(text.to_owned())).unwrap();
        assert_eq!((index.uid_next, index.highest_modseq), (10, 40));
        assert_eq!(
            index.entries.iter().map(|e| e.uid).collect::<Vec<_>>(),
            [3, 9]
        );
        index.replay(&Arc::new(
            "-3\n+11 M41 S2 T0 I:S :k11\nH N12 M41\nH N5 M2\n+torn".to_owned(),
        ));
        assert_eq!((index.uid_next, index.highest_modseq), (12, 41));
        assert_eq!(
            index.entries.iter().map(|e| e.uid).collect::<Vec<_>>(),
            [9, 11]
        );
        assert!(Index::parse(&Arc::new("garbage\n".to_owned())).is_none());
        assert!(Index::parse(&Arc::new("V0 N1\n".to_owned())).is_none());
    }
}

#[cfg(test)]
mod disk_tests {
    use super::*;
    use crate::maildir::Maildir;
    use crate::{Flags, Keywords};
    use torsion_core::testkit::TempDir;

    /// Set both directories' mtimes to one fixed moment in the past.
    fn age_dirs(md: &Maildir, secs: u64) {
        let old = UNIX_EPOCH + Duration::from_secs(1_600_000_000 + secs);
        for sub in ["cur", "new"] {
            File::open(md.path().join(sub))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
    }

    #[test]
    fn an_unchanged_mailbox_is_not_listed_again_but_any_change_is_seen() {
        let dir = TempDir::new("index").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        md.deliver(b"one").unwrap();
        md.sync().unwrap();
        // Settled directories: the listing's mtimes are recorded.
        age_dirs(&md, 60);
        md.sync().unwrap();
        let recorded = Index::load(md.path()).unwrap().unwrap().listed;
        assert_ne!(recorded, (0, 0));
        // A change that left the mtimes as they were (which a coarse clock can do) is not
        // listed: proof that the listing is skipped…
        let snap = md.sync().unwrap();
        let m = &snap.messages[0];
        let renamed = md.path().join("cur").join(format!("{}:2,S", m.key));
        fs::rename(md.path_of(m), &renamed).unwrap();
        age_dirs(&md, 60);
        let skipped = md.sync().unwrap();
        assert_eq!(skipped.messages[0].flags, Flags::EMPTY);
        // …and any mtime change brings a listing.
        File::open(md.path().join("cur"))
            .unwrap()
            .set_modified(SystemTime::now())
            .unwrap();
        let seen = md.sync().unwrap();
        assert_eq!(seen.messages[0].flags, Flags::SEEN);
        assert_eq!(seen.report.flags_changed, [1]);
        // Fresh mtimes are never recorded as trusted.
        assert_eq!(Index::load(md.path()).unwrap().unwrap().listed, (0, 0));
    }

    #[test]
    fn recent_is_claimed_once_and_the_claim_persists() {
        let dir = TempDir::new("index").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        md.deliver(b"one").unwrap();
        md.deliver(b"two").unwrap();
        assert_eq!(
            md.sync().unwrap().first_recent,
            1,
            "a new index: all recent"
        );
        assert_eq!(md.claim_recent().unwrap(), [1, 2]);
        assert!(md.claim_recent().unwrap().is_empty());
        md.deliver(b"three").unwrap();
        // Another process (no cache) sees the claim in the log, then in the folded file.
        let mut loaded = Index::load(md.path()).unwrap().unwrap();
        assert_eq!(loaded.first_recent, 3);
        loaded.write(md.path()).unwrap();
        assert_eq!(Index::load(md.path()).unwrap().unwrap().first_recent, 3);
        assert_eq!(md.claim_recent().unwrap(), [3]);
    }

    #[test]
    fn expunges_are_remembered_with_their_modseq() {
        let dir = TempDir::new("index").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        for _ in 0..5 {
            md.deliver(b"x").unwrap();
        }
        let first = md.sync().unwrap();
        md.expunge(&[2, 4]).unwrap();
        let after = md.sync().unwrap().highest_modseq;
        // Another program deletes a file: found by the next sync, remembered too.
        let m = &first.messages[4];
        fs::remove_file(md.path_of(m)).unwrap();
        File::open(md.path().join("cur"))
            .unwrap()
            .set_modified(SystemTime::now() + Duration::from_secs(5))
            .unwrap();
        md.sync().unwrap();
        assert_eq!(
            md.vanished_since(first.highest_modseq).unwrap(),
            Some(vec![2, 4, 5])
        );
        assert_eq!(md.vanished_since(after).unwrap(), Some(vec![5]));
        // They survive a fresh load (log replay, then the folded file).
        let mut loaded = Index::load(md.path()).unwrap().unwrap();
        assert_eq!(
            loaded.vanished_since(first.highest_modseq),
            Some(vec![2, 4, 5])
        );
        loaded.write(md.path()).unwrap();
        let reloaded = Index::load(md.path()).unwrap().unwrap();
        assert_eq!(
            reloaded.vanished_since(first.highest_modseq),
            Some(vec![2, 4, 5])
        );
        // An index from before tombstones were kept knows nothing older than itself.
        let text = fs::read_to_string(md.path().join(FILE)).unwrap();
        let old: String = text
            .lines()
            .filter(|l| !l.starts_with('-'))
            .map(|l| format!("{}\n", l.split(" X").next().unwrap()))
            .collect();
        let old = Index::parse(&Arc::new(old)).unwrap();
        assert_eq!(old.vanished_since(first.highest_modseq), None);
        assert_eq!(old.vanished_since(old.highest_modseq), Some(vec![]));
        // Bounded: the oldest are forgotten, and then so is exactness before them.
        let mut many = Index::empty();
        for uid in 1..=(MAX_TOMBSTONES as u32 + 10) {
            let modseq = many.bump();
            many.tombstone(uid, modseq);
        }
        assert_eq!(many.tombstones.len(), MAX_TOMBSTONES);
        assert_eq!(many.vanished_since(5), None);
        assert_eq!(
            many.vanished_since(many.highest_modseq - 2).unwrap().len(),
            2
        );
    }

    #[test]
    fn own_changes_are_trusted_for_a_while_and_others_are_still_seen() {
        let dir = TempDir::new("index").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        for text in [&b"one"[..], b"two", b"three"] {
            md.deliver(text).unwrap();
        }
        let listed = std::time::Instant::now();
        let snap = md.sync().unwrap();
        // Our own STORE, then another program renames a file and its rename leaves the
        // mtime as ours left it (a coarse clock): not listed at once, since our view is
        // trusted…
        let seen = Flags::parse_imap_list(&["\\Seen"]);
        md.store(&[(1, seen, Keywords::EMPTY)], None).unwrap();
        let before = mtimes(md.path()).unwrap();
        let m = &snap.messages[1];
        fs::rename(
            md.path_of(m),
            md.path().join("cur").join(format!("{}:2,F", m.key)),
        )
        .unwrap();
        let set = |t: u128| {
            let t = UNIX_EPOCH + Duration::from_nanos(t as u64);
            File::open(md.path().join("cur"))
                .unwrap()
                .set_modified(t)
                .unwrap();
        };
        set(before.0);
        let quick = md.sync().unwrap();
        assert_eq!(
            quick.get(1).unwrap().flags,
            Flags::SEEN,
            "our change is there"
        );
        // (Unless this machine took longer than that since the listing.)
        if listed.elapsed() < OWN_VIEW_TRUST {
            assert_eq!(quick.get(2).unwrap().flags, Flags::EMPTY, "theirs not yet");
        }
        // …for OWN_VIEW_TRUST at most after the last listing.
        std::thread::sleep(OWN_VIEW_TRUST + Duration::from_millis(50));
        let later = md.sync().unwrap();
        assert_eq!(later.get(2).unwrap().flags, Flags::FLAGGED);
        assert_eq!(later.report.flags_changed, [2]);
        // A change of theirs that moves the mtime is seen at the next sync, own view or not.
        md.store(&[(3, seen, Keywords::EMPTY)], None).unwrap();
        let m = &snap.messages[0];
        let now = md.path().join("cur").join(format!("{}:2,S", m.key));
        fs::rename(&now, md.path().join("cur").join(format!("{}:2,RS", m.key))).unwrap();
        set(mtimes(md.path()).unwrap().0 + 1_000);
        let next = md.sync().unwrap();
        assert!(next.get(1).unwrap().flags.contains(Flags::ANSWERED));
        // Another process (a fresh cache) never relies on our view.
        assert_eq!(Index::load(md.path()).unwrap().unwrap().listed, (0, 0));
    }

    #[test]
    fn the_log_is_folded_into_the_file_when_it_grows() {
        let dir = TempDir::new("index").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        md.deliver(b"x").unwrap();
        md.sync().unwrap();
        let mut last = 0;
        for i in 0..(LOG_FOLD_MIN / 2 + 10) {
            let flags = if i % 2 == 0 {
                Flags::SEEN
            } else {
                Flags::EMPTY
            };
            let out = md.store(&[(1, flags, Keywords::EMPTY)], None).unwrap();
            assert!(out.updated[0].1 > last, "MODSEQ grows with every change");
            last = out.updated[0].1;
        }
        let log = fs::read_to_string(md.path().join(LOG)).unwrap_or_default();
        assert!(
            log.lines().count() <= LOG_FOLD_MIN,
            "{}",
            log.lines().count()
        );
        let index = Index::load(md.path()).unwrap().unwrap();
        assert_eq!(index.highest_modseq, last);
        assert_eq!(index.entries[0].modseq, last);
    }

    #[test]
    fn a_first_format_uid_list_keeps_its_uids() {
        let dir = TempDir::new("index").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        fs::write(md.path().join("cur").join("1000.a.host:2,S"), b"a").unwrap();
        fs::write(md.path().join("cur").join("1001.b.host:2,"), b"bb").unwrap();
        fs::write(
            md.path().join(FILE),
            "V4242 N9\n5 1000.a.host\n8 1001.b.host\n",
        )
        .unwrap();
        let snap = md.sync().unwrap();
        assert_eq!(snap.uid_validity, 4242);
        assert_eq!(snap.uid_next, 9);
        assert_eq!(
            snap.messages
                .iter()
                .map(|m| (m.uid, m.size))
                .collect::<Vec<_>>(),
            [(5, 1), (8, 2)],
            "what the first format did not keep is read from the files"
        );
        assert!(snap.messages.iter().all(|m| m.internal_date > 0));
        assert!(snap.get(5).unwrap().flags.contains(Flags::SEEN));
        assert!(!snap.report.rebuilt);
    }
}
