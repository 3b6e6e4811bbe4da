//! The persistent cache of the header fields IMAP asks about most — those of ENVELOPE
//! (RFC 9051 §7.5.2: Date, Subject, From, Sender, Reply-To, To, Cc, Bcc, In-Reply-To,
//! Message-ID) — so that `SEARCH FROM …`, `SENTSINCE …` or `FETCH 1:* ENVELOPE` on an open
//! mailbox reads one file instead of every message (the role of Dovecot's
//! `dovecot.index.cache`).
//!
//! On disk (`torsion-headers` in the Maildir), append-only:
//!
//! ```text
//! torsion-headers 1 1700000000
//! 7 61
//! From: Bob <bob@example.test>\r\nSubject: hi\r\nDate: …\r\n\r\n
//! 9 -
//! ```
//!
//! The first line names the UIDVALIDITY the UIDs belong to (another one: the file is started
//! again). Each record is `UID LENGTH`, then LENGTH bytes and a newline: the message's raw lines
//! of those fields, continuation lines included, with CRLF, then an empty line — a header-only
//! message mail-parser reads as it reads the whole one. `-` for a message whose fields are too
//! big to keep ([`MAX_BLOCK`]): callers read the message. A UID's record never changes, since a
//! Maildir message's content never does (only its file name). Records are appended under the
//! lock `torsion-headers.lock`; a torn last record (a crash mid-append) is cut off by the next
//! writer, and the file is rewritten with only live messages when dead records (expunged
//! messages) outnumber them.
//!
//! In memory: one process-wide table per Maildir, refreshed from the file when it changed
//! (device, inode, length) and bounded by [`MAX_CACHED_BYTES`] in all (the least recently used
//! mailbox goes first). Like the index it is only a cache: lost or damaged, it costs reads,
//! never a wrong answer.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::index::IndexLock;
use crate::maildir::{Maildir, Message};

/// The cache file in a Maildir.
pub const FILE: &str = "torsion-headers";
/// Its lock.
pub const LOCK: &str = "torsion-headers.lock";
/// The fields kept, lowercase.
pub const FIELDS: [&str; 10] = [
    "date",
    "subject",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "in-reply-to",
    "message-id",
];
/// A message's kept fields above this are not kept (`-`).
pub const MAX_BLOCK: usize = 64 * 1024;
/// A header section is looked for in this much of a message at most.
const MAX_HEADER_SECTION: usize = 1024 * 1024;
/// Bytes of blocks kept in memory for all mailboxes.
pub const MAX_CACHED_BYTES: usize = 64 * 1024 * 1024;
/// Dead records tolerated before a rewrite: this many plus as many as there are live ones.
const REWRITE_SLACK: usize = 256;

/// Whether `name` is one of [`FIELDS`].
pub fn is_cached_field(name: &str) -> bool {
    FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// A field name in a header line (`Name:` or `Name :`), if the line starts a field.
fn field_name(line: &[u8]) -> Option<&[u8]> {
    if line.first().is_none_or(|&b| b == b' ' || b == b'\t') {
        return None;
    }
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    let end = name
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    Some(&name[..end])
}

/// The [`FIELDS`] lines of a header section (or of a whole message: it stops at the first
/// empty line), CRLF-terminated, then an empty line.
pub fn select_fields(header: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if let Some(name) = field_name(line) {
            keep = std::str::from_utf8(name).is_ok_and(is_cached_field);
        } else if !matches!(line.first(), Some(b' ' | b'\t')) {
            // Not a field and not a continuation (a malformed line): ends the current field.
            keep = false;
            continue;
        }
        if keep {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The header section of what `reader` yields (up to and including the empty line, or all of
/// it if there is none); `None` if it runs past [`MAX_HEADER_SECTION`].
fn read_header_section(mut reader: impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut searched: usize = 0;
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(Some(buf)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        buf.extend_from_slice(&chunk[..n]);
        // An empty line: "\n\n" or "\n\r\n"; look again from just before the new bytes.
        let from = searched.saturating_sub(2);
        if let Some(end) = find_empty_line(&buf[from..]) {
            buf.truncate(from + end);
            return Ok(Some(buf));
        }
        searched = buf.len();
        if buf.len() > MAX_HEADER_SECTION {
            return Ok(None);
        }
    }
}

/// The end (exclusive) of the first empty line in `bytes`.
fn find_empty_line(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = bytes[i..].iter().position(|&b| b == b'\n') {
        let at = i + p;
        match bytes.get(at + 1..) {
            Some([b'\n', ..]) => return Some(at + 2),
            Some([b'\r', b'\n', ..]) => return Some(at + 3),
            _ => i = at + 1,
        }
    }
    // A message that starts with its empty line has no header fields.
    match bytes {
        [b'\n', ..] => Some(1),
        [b'\r', b'\n', ..] => Some(2),
        _ => None,
    }
}

/// One Maildir's cache, as loaded.
#[derive(Default)]
struct Loaded {
    /// (device, inode) of the file loaded, and the length of its good prefix.
    file: Option<(u64, u64)>,
    len: u64,
    validity: u32,
    /// Records in the file (live or not).
    records: usize,
    blocks: HashMap<u32, Option<Arc<[u8]>>>,
    bytes: usize,
    used: u64,
}

impl Loaded {
    fn insert(&mut self, uid: u32, block: Option<Arc<[u8]>>) {
        self.bytes += block.as_ref().map_or(0, |b| b.len());
        if let Some(old) = self.blocks.insert(uid, block) {
            self.bytes -= old.map_or(0, |b| b.len());
        }
    }

    fn clear(&mut self) {
        *self = Loaded {
            used: self.used,
            ..Loaded::default()
        };
    }

    /// Parse records from `data` (the file from offset `self.len`); stops at the first
    /// incomplete or malformed one.
    fn parse_records(&mut self, data: &[u8]) {
        let mut at = 0;
        loop {
            let rest = &data[at..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                break;
            };
            let Some((uid, length)) = std::str::from_utf8(&rest[..nl])
                .ok()
                .and_then(|l| l.split_once(' '))
            else {
                break;
            };
            let Ok(uid) = uid.parse::<u32>() else { break };
            let (block, used) = if length == "-" {
                (None, nl + 1)
            } else {
                let Ok(length) = length.parse::<usize>() else {
                    break;
                };
                if length > MAX_BLOCK {
                    break;
                }
                let start = nl + 1;
                let Some(body) = rest.get(start..start + length) else {
                    break;
                };
                if rest.get(start + length) != Some(&b'\n') {
                    break;
                }
                (Some(Arc::from(body)), start + length + 1)
            };
            self.insert(uid, block);
            self.records += 1;
            at += used;
        }
        self.len += at as u64;
    }

    /// Bring this up to date with the file in `dir`, started for `validity`.
    fn refresh(&mut self, dir: &Path, validity: u32) -> io::Result<()> {
        let mut file = match File::open(dir.join(FILE)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.clear();
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let ident = Some((meta.dev(), meta.ino()));
        if ident == self.file && meta.len() == self.len && validity == self.validity {
            return Ok(());
        }
        if ident != self.file || meta.len() < self.len || validity != self.validity {
            self.clear();
            let first = first_line(&mut file)?;
            let valid = first
                .strip_prefix("torsion-headers 1 ")
                .and_then(|v| v.trim_end().parse::<u32>().ok());
            self.file = ident;
            if valid != Some(validity) {
                // Another UIDVALIDITY (or garbage): nothing in it is ours.
                return Ok(());
            }
            self.validity = validity;
            self.len = first.len() as u64;
        }
        file.seek(SeekFrom::Start(self.len))?;
        let mut tail = Vec::new();
        file.take(meta.len() - self.len).read_to_end(&mut tail)?;
        self.parse_records(&tail);
        Ok(())
    }

    /// Append `records` to the file in `dir` (under its lock, after a refresh), starting the
    /// file again if it is not for `validity`, or rewriting it with only the UIDs `live` keeps
    /// when dead records outnumber live ones.
    fn append(
        &mut self,
        dir: &Path,
        validity: u32,
        records: &[(u32, Option<Arc<[u8]>>)],
        live: &dyn Fn(u32) -> bool,
        live_count: usize,
    ) -> io::Result<()> {
        for (uid, block) in records {
            self.insert(*uid, block.clone());
        }
        let fresh = self.file.is_none() || self.validity != validity;
        let dead = (self.records + records.len()).saturating_sub(live_count);
        if fresh || dead > live_count + REWRITE_SLACK {
            self.blocks.retain(|uid, _| live(*uid));
            self.bytes = self.blocks.values().flatten().map(|b| b.len()).sum();
            let mut text = format!("torsion-headers 1 {validity}\n").into_bytes();
            let mut uids: Vec<u32> = self.blocks.keys().copied().collect();
            uids.sort_unstable();
            for uid in &uids {
                render(&mut text, *uid, self.blocks[uid].as_deref());
            }
            let tmp = dir.join(format!("{FILE}.tmp"));
            fs::write(&tmp, &text)?;
            fs::rename(&tmp, dir.join(FILE))?;
            let meta = fs::metadata(dir.join(FILE))?;
            self.file = Some((meta.dev(), meta.ino()));
            self.validity = validity;
            self.len = text.len() as u64;
            self.records = uids.len();
            return Ok(());
        }
        let mut text = Vec::new();
        for (uid, block) in records {
            render(&mut text, *uid, block.as_deref());
        }
        let mut file = OpenOptions::new().write(true).open(dir.join(FILE))?;
        // Whatever follows the good prefix is a torn record: written over.
        file.set_len(self.len)?;
        file.seek(SeekFrom::Start(self.len))?;
        file.write_all(&text)?;
        self.len += text.len() as u64;
        self.records += records.len();
        Ok(())
    }
}

fn render(out: &mut Vec<u8>, uid: u32, block: Option<&[u8]>) {
    match block {
        Some(b) => {
            out.extend_from_slice(format!("{uid} {}\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.push(b'\n');
        }
        None => out.extend_from_slice(format!("{uid} -\n").as_bytes()),
    }
}

/// The first line of `file`, read from its start and bounded (a header line is short;
/// garbage is not read to its end).
fn first_line(file: &mut File) -> io::Result<String> {
    let mut bytes = Vec::new();
    io::BufRead::read_until(&mut io::BufReader::new(file.take(64)), b'\n', &mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[derive(Default)]
struct Cache {
    dirs: HashMap<PathBuf, Arc<Mutex<Loaded>>>,
    clock: u64,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The table for `dir`, marked used.
fn table(dir: &Path) -> Arc<Mutex<Loaded>> {
    let mut guard = lock(&CACHE);
    let cache = guard.get_or_insert_with(Cache::default);
    cache.clock += 1;
    let clock = cache.clock;
    let slot = cache.dirs.entry(dir.to_owned()).or_default().clone();
    if let Ok(mut loaded) = slot.try_lock() {
        loaded.used = clock;
    }
    slot
}

/// Drop the least recently used tables (not `keep`, none in use) while over the bound.
fn evict(keep: &Path) {
    let mut guard = lock(&CACHE);
    let Some(cache) = guard.as_mut() else { return };
    let mut sizes: Vec<(u64, usize, PathBuf)> = cache
        .dirs
        .iter()
        .filter_map(|(p, t)| {
            let t = t.try_lock().ok()?;
            Some((t.used, t.bytes, p.clone()))
        })
        .collect();
    let mut total: usize = sizes.iter().map(|s| s.1).sum();
    sizes.sort_unstable();
    for (_, bytes, path) in sizes {
        if total <= MAX_CACHED_BYTES {
            break;
        }
        if path != keep {
            cache.dirs.remove(&path);
            total -= bytes;
        }
    }
}

impl Maildir {
    /// The kept header fields ([`FIELDS`], see the module docs) of each of `messages` (of
    /// this Maildir, under `uid_validity`), from the cache or read from the message files
    /// (and then kept); `None` for a message whose fields are too big to keep or whose file
    /// is gone. `live` says whether a UID is still in the mailbox and `live_count` how many
    /// are, for rewriting the file when it holds mostly expunged messages.
    pub fn header_fields(
        &self,
        uid_validity: u32,
        messages: &[&Message],
        live: &dyn Fn(u32) -> bool,
        live_count: usize,
    ) -> io::Result<Vec<Option<Arc<[u8]>>>> {
        let dir = self.path();
        let table = table(dir);
        let mut out: Vec<Option<Option<Arc<[u8]>>>> = {
            let mut loaded = lock(&table);
            loaded.refresh(dir, uid_validity)?;
            messages
                .iter()
                .map(|m| loaded.blocks.get(&m.uid).cloned())
                .collect()
        };
        // Read what is missing, outside any lock.
        let mut fresh = Vec::new();
        for (slot, m) in out.iter_mut().zip(messages) {
            if slot.is_some() {
                continue;
            }
            let section = match self.open_message(m) {
                Ok(file) => read_header_section(file)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    *slot = Some(None);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let block = section
                .map(|s| select_fields(&s))
                .filter(|b| b.len() <= MAX_BLOCK)
                .map(Arc::<[u8]>::from);
            *slot = Some(block.clone());
            fresh.push((m.uid, block));
        }
        if !fresh.is_empty() {
            let _lock = IndexLock::acquire_named(dir, LOCK)?;
            let mut loaded = lock(&table);
            loaded.refresh(dir, uid_validity)?;
            fresh.retain(|(uid, _)| !loaded.blocks.contains_key(uid));
            if !fresh.is_empty() {
                loaded.append(dir, uid_validity, &fresh, live, live_count)?;
            }
            let over = loaded.bytes > MAX_CACHED_BYTES;
            drop(loaded);
            if over {
                lock(&table).clear();
            }
            evict(dir);
        }
        Ok(out.into_iter().map(Option::flatten).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Flags, Keywords};
    use proptest::prelude::*;
    use torsion_core::testkit::TempDir;

    const MESSAGE: &[u8] = b"Received: from x\r\nFrom: Bob\r\n <bob@example.test>\r\nX-Other: no\r\n  more\r\nSubject: hi\r\nsubject : twice\r\n\r\nFrom: not a header\r\n";

    #[test]
    fn the_envelope_fields_are_selected_with_their_continuations() {
        assert_eq!(
            select_fields(MESSAGE),
            b"From: Bob\r\n <bob@example.test>\r\nSubject: hi\r\nsubject : twice\r\n\r\n"
        );
        assert_eq!(select_fields(b"\r\nFrom: body"), b"\r\n");
        assert_eq!(
            select_fields(b"From: a\nTo: b\n\nbody"),
            b"From: a\r\nTo: b\r\n\r\n"
        );
        assert_eq!(
            read_header_section(MESSAGE).unwrap().unwrap(),
            &MESSAGE[..MESSAGE.len() - 20]
        );
        assert_eq!(
            read_header_section(&b"no empty line"[..]).unwrap().unwrap(),
            b"no empty line"
        );
    }

    fn mailbox(dir: &Path, n: usize) -> (Maildir, crate::Snapshot) {
        let md = Maildir::create(dir).unwrap();
        for i in 0..n {
            let text = format!("From: sender{i}@example.test\r\nSubject: s{i}\r\n\r\nbody {i}\r\n");
            md.append(&[text.as_bytes()], Flags::EMPTY, Keywords::EMPTY, None)
                .unwrap();
        }
        let snap = md.sync().unwrap();
        (md, snap)
    }

    #[test]
    fn fields_are_kept_on_disk_and_read_back() {
        let dir = TempDir::new("headers").unwrap();
        let (md, snap) = mailbox(dir.path(), 3);
        let all: Vec<&Message> = snap.messages.iter().collect();
        let yes = |_| true;
        let got = md.header_fields(snap.uid_validity, &all, &yes, 3).unwrap();
        assert_eq!(
            got[1].as_deref().unwrap(),
            b"From: sender1@example.test\r\nSubject: s1\r\n\r\n"
        );
        let on_disk = fs::read(dir.path().join(FILE)).unwrap();
        assert!(
            on_disk.starts_with(format!("torsion-headers 1 {}\n1 ", snap.uid_validity).as_bytes())
        );
        // Served from the file even with the messages gone (a fresh process's view).
        lock(&table(dir.path())).clear();
        for m in &snap.messages {
            fs::remove_file(md.path_of(m)).unwrap();
        }
        let again = md.header_fields(snap.uid_validity, &all, &yes, 3).unwrap();
        assert_eq!(again, got);
        // Another UIDVALIDITY: nothing is trusted (the files are gone, so: None).
        let other = md
            .header_fields(snap.uid_validity + 1, &all, &yes, 3)
            .unwrap();
        assert_eq!(other, [None, None, None]);
    }

    #[test]
    fn a_torn_record_is_cut_and_dead_records_are_rewritten_away() {
        let dir = TempDir::new("headers").unwrap();
        let (md, snap) = mailbox(dir.path(), 4);
        let first: Vec<&Message> = snap.messages[..2].iter().collect();
        let yes = |_| true;
        md.header_fields(snap.uid_validity, &first, &yes, 4)
            .unwrap();
        // A crash in the middle of an append.
        let path = dir.path().join(FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"3 400\r\nFrom: torn").unwrap();
        drop(f);
        lock(&table(dir.path())).clear();
        let rest: Vec<&Message> = snap.messages[2..].iter().collect();
        let got = md.header_fields(snap.uid_validity, &rest, &yes, 4).unwrap();
        assert_eq!(
            got[0].as_deref().unwrap(),
            b"From: sender2@example.test\r\nSubject: s2\r\n\r\n"
        );
        let text = fs::read(&path).unwrap();
        assert!(!text.windows(4).any(|w| w == b"torn"));
        lock(&table(dir.path())).clear();
        let all: Vec<&Message> = snap.messages.iter().collect();
        let back = md.header_fields(snap.uid_validity, &all, &yes, 4).unwrap();
        assert!(back.iter().all(Option::is_some));
        // Only UID 4 is live now: the file is rewritten once dead records outnumber it enough.
        let live = |uid| uid == 4;
        let mut rewrote = false;
        for uid in 100..100 + REWRITE_SLACK as u32 + 8 {
            let m = Message {
                uid,
                ..snap.messages[3].clone()
            };
            md.header_fields(snap.uid_validity, &[&m], &live, 1)
                .unwrap();
            let len = fs::metadata(&path).unwrap().len();
            if len < 200 {
                rewrote = true;
                break;
            }
        }
        assert!(rewrote, "the file was never rewritten");
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_parsable_block(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let block = select_fields(&bytes);
            prop_assert!(block.ends_with(b"\r\n"));
            // Every line it keeps ends with CRLF and there is exactly one empty line, last.
            let body = &block[..block.len() - 2];
            prop_assert!(body.is_empty() || body.ends_with(b"\r\n"));
            prop_assert!(!body.windows(4).any(|w| w == b"\r\n\r\n"));
            let mut loaded = Loaded::default();
            let mut text = Vec::new();
            render(&mut text, 5, Some(&block));
            loaded.parse_records(&text);
            let kept = loaded.blocks.get(&5).cloned().flatten();
            prop_assert_eq!(kept.as_deref(), Some(&block[..]));
            // Any prefix of a record parses to nothing, never to a wrong block.
            for cut in 0..text.len() {
                let mut partial = Loaded::default();
                partial.parse_records(&text[..cut]);
                prop_assert!(partial.blocks.is_empty());
                prop_assert_eq!(partial.len, 0);
            }
        }
    }
}
