//! One Maildir (INBOX or a Maildir++ folder): durable delivery into `new/`, and the view IMAP
//! and POP3 need — messages with UIDs, flags and sizes, moved from `new/` to `cur/` when seen.
//!
//! Delivery (the only thing an MTA may acknowledge after): write the message to `tmp/`, fsync
//! the file, rename it into `new/`, fsync `new/`. A crash before the rename leaves at most a
//! file in `tmp/` (never visible to readers; [`Maildir::clean_tmp`] removes stale ones); after
//! the directory fsync the message survives power loss. The rename is atomic, so `new/` never
//! holds a partial message.
//!
//! File names follow the Maildir convention `TIME.MUSEC P PID Q N .HOST,S=SIZE,W=VSIZE`
//! (unique per delivery; `S=` the file's size, `W=` its size with CRLF line ends, as Dovecot
//! writes them) plus `:2,FLAGS` once in `cur/`, with the flags in ASCII order (`DFPRST`), as
//! Dovecot, Courier and mutt read them. Messages are shown with CRLF line ends whatever the
//! file holds (see [`crate::crlf`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::flags::Flags;
use crate::index::{Index, IndexLock, Seen, SyncReport};
use crate::keywords::{KeywordTable, Keywords};

/// The POP3 session lock file (see [`Maildir::try_lock_session`]).
pub const SESSION_LOCK: &str = "torsion-pop3.lock";
/// Files in `tmp/` older than this are leftovers of interrupted deliveries (Maildir: 36 hours).
pub const STALE_TMP: Duration = Duration::from_secs(36 * 3600);

/// Steps of a delivery, reported to a hook (tests kill the process between them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The message bytes are written to `tmp/` (not yet synced).
    Written,
    /// The file in `tmp/` is fsynced.
    FileSynced,
    /// The file is renamed into `new/` (not yet durable).
    Renamed,
    /// `new/` is fsynced: the message is durable.
    DirSynced,
}

/// A Maildir on disk.
#[derive(Debug, Clone)]
pub struct Maildir {
    path: PathBuf,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The host part of unique names, with `/` and `:` escaped as the Maildir spec asks; read
/// once per process, not once per delivery.
fn host_part() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let host = fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| fs::read_to_string("/etc/hostname"))
            .unwrap_or_else(|_| "localhost".into());
        host.trim()
            .replace('/', "\\057")
            .replace(':', "\\072")
            .replace(',', "\\054")
    })
}

/// A new unique base name for a message of `size` bytes in its file and `crlf_size` with
/// CRLF line ends.
fn unique_name(size: u64, crlf_size: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    unique_name_at(now, size, crlf_size)
}

/// [`unique_name`] for a given clock reading (`now` since the epoch).
fn unique_name_at(now: Duration, size: u64, crlf_size: u64) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{}.{},S={size},W={crlf_size}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        n,
        host_part()
    )
}

/// Create `path` for writing, mode 0600, failing if it exists (a unique name in `tmp/`).
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// fsync a directory so a rename or create inside it is durable.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

fn split_info(name: &str) -> (&str, Option<&str>) {
    match name.split_once(":2,") {
        Some((base, flags)) => (base, Some(flags)),
        None => (name, None),
    }
}

/// The size with CRLF line ends a file name states (`,W=`, as Dovecot and we write it).
/// `,S=` alone does not say it: Courier's maildrop writes it for files with bare LF.
pub(crate) fn crlf_size_from_name(base: &str) -> Option<u64> {
    base.split(',')
        .find_map(|part| part.strip_prefix("W="))
        .and_then(|s| s.parse().ok())
}

impl Maildir {
    /// A Maildir at `path` (not created).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Maildir { path: path.into() }
    }

    /// Open `path`, creating `cur/ new/ tmp/` (mode 0700) as needed.
    pub fn create(path: impl Into<PathBuf>) -> io::Result<Self> {
        let md = Maildir::new(path);
        md.ensure()?;
        Ok(md)
    }

    /// Create the three subdirectories if missing.
    pub fn ensure(&self) -> io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true).mode(0o700);
        for sub in ["cur", "new", "tmp"] {
            builder.create(self.path.join(sub))?;
        }
        Ok(())
    }

    /// Whether `cur/ new/ tmp/` exist.
    pub fn exists(&self) -> bool {
        ["cur", "new", "tmp"]
            .iter()
            .all(|s| self.path.join(s).is_dir())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deliver `message` durably; returns the base name of the new file.
    pub fn deliver(&self, message: &[u8]) -> io::Result<String> {
        self.deliver_with(message, &mut |_| {})
    }

    /// [`deliver`](Self::deliver), calling `hook` after each step.
    pub fn deliver_with(&self, message: &[u8], hook: &mut dyn FnMut(Stage)) -> io::Result<String> {
        self.deliver_parts(&[message], hook)
    }

    /// Deliver a message given in pieces (a trace header, then the body) without joining them.
    pub fn deliver_parts(
        &self,
        parts: &[&[u8]],
        hook: &mut dyn FnMut(Stage),
    ) -> io::Result<String> {
        let size: usize = parts.iter().map(|p| p.len()).sum();
        let name = unique_name(size as u64, crate::crlf::size_of_parts(parts));
        let tmp = self.path.join("tmp").join(&name);
        let result = (|| {
            let mut file = create_private(&tmp)?;
            for part in parts {
                file.write_all(part)?;
            }
            hook(Stage::Written);
            file.sync_all()?;
            hook(Stage::FileSynced);
            drop(file);
            fs::rename(&tmp, self.path.join("new").join(&name))?;
            hook(Stage::Renamed);
            sync_dir(&self.path.join("new"))?;
            hook(Stage::DirSynced);
            crate::watch::notify(&self.path);
            Ok(name.clone())
        })();
        if result.is_err() {
            // Never leave a partial file behind when we can help it (ENOSPC mid-write…).
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Remove files in `tmp/` older than [`STALE_TMP`]; returns how many.
    pub fn clean_tmp(&self) -> io::Result<usize> {
        let mut removed = 0;
        let now = SystemTime::now();
        for entry in fs::read_dir(self.path.join("tmp"))? {
            let entry = entry?;
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > STALE_TMP);
            if old && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Claim the mailbox for one POP3 session (see [`crate::Mailbox::try_lock_session`]): an
    /// `flock` on `torsion-pop3.lock`, which the kernel drops with the descriptor — on
    /// every exit path, a killed process included. Other programs' locks (Dovecot's
    /// `dovecot.index` locks, dotlocks) are not taken: this serialises torsion-pop3 sessions.
    pub fn try_lock_session(&self) -> io::Result<Option<crate::backend::SessionLock>> {
        self.ensure()?;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.join(SESSION_LOCK))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(crate::backend::SessionLock::new(file))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Bring the mailbox's index up to date with its files and list it: what IMAP SELECT and
    /// a POP3 login see. Everything in `new/` moves to `cur/`, new files get UIDs, vanished
    /// ones are gone, flags changed by other programs get a new MODSEQ (see [`crate::index`]).
    pub fn sync(&self) -> io::Result<Snapshot> {
        self.ensure()?;
        let _lock = IndexLock::acquire(&self.path)?;
        let (index, report) = Index::sync(&self.path)?;
        let keywords = KeywordTable::load(&self.path)?;
        let snapshot = Snapshot::of(&index, keywords, report);
        index.keep(&self.path)?;
        Ok(snapshot)
    }

    /// What changed since a session last looked (by MODSEQ `since`): the sync of
    /// [`sync`](Self::sync), without listing every message when nothing changed — the
    /// cost of a NOOP, or of the check before each FETCH, on a large open mailbox.
    /// `present` lists every UID when anything changed or `all` is asked (expunges show
    /// only as UIDs missing from it: every expunge raises HIGHESTMODSEQ).
    pub fn changes(&self, since: u64, all: bool) -> io::Result<Changes> {
        self.ensure()?;
        let _lock = IndexLock::acquire(&self.path)?;
        let (index, report) = Index::sync(&self.path)?;
        let changed = index.highest_modseq != since;
        let mut changes = Changes {
            uid_validity: index.uid_validity,
            uid_next: index.uid_next,
            highest_modseq: index.highest_modseq,
            keywords: None,
            changed: Vec::new(),
            present: None,
            report,
        };
        if changed {
            changes.keywords = Some(KeywordTable::load(&self.path)?);
            changes.changed = index
                .entries
                .iter()
                .filter(|e| e.modseq > since)
                .map(Message::of)
                .collect();
        }
        if changed || all {
            changes.present = Some(index.entries.iter().map(|e| e.uid).collect());
        }
        index.keep(&self.path)?;
        Ok(changes)
    }

    /// Claim every message no session has been told of as `\Recent` yet for the calling
    /// session (RFC 3501 §2.3.2: recent in one session only); their UIDs, ascending.
    pub fn claim_recent(&self) -> io::Result<Vec<u32>> {
        self.ensure()?;
        let _lock = IndexLock::acquire(&self.path)?;
        let (mut index, _) = Index::sync(&self.path)?;
        let from = index.first_recent;
        let claimed: Vec<u32> = index
            .entries
            .iter()
            .map(|e| e.uid)
            .filter(|&uid| uid >= from)
            .collect();
        if index.first_recent != index.uid_next {
            index.first_recent = index.uid_next;
            index.commit(&self.path, String::new(), false)?;
        }
        index.keep(&self.path)?;
        Ok(claimed)
    }

    /// The UIDs expunged after MODSEQ `since`, ascending (QRESYNC's VANISHED (EARLIER));
    /// `None` if the index does not remember expunges that far back.
    pub fn vanished_since(&self, since: u64) -> io::Result<Option<Vec<u32>>> {
        self.ensure()?;
        let _lock = IndexLock::acquire(&self.path)?;
        let (index, _) = Index::sync(&self.path)?;
        let uids = index.vanished_since(since);
        index.keep(&self.path)?;
        Ok(uids)
    }

    /// Where `message`'s file is (as of the snapshot it came from).
    pub fn path_of(&self, message: &Message) -> PathBuf {
        self.path
            .join("cur")
            .join(format!("{}:2,{}", message.key, message.info()))
    }

    /// Open `message` for reading. If another program renamed it (new flags) since the
    /// snapshot, it is found again by its key; `NotFound` if it is gone.
    pub fn open_message(&self, message: &Message) -> io::Result<File> {
        match File::open(self.path_of(message)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let found = list_cur(&self.path)?
                    .into_iter()
                    .find(|s| *s.key == *message.key)
                    .ok_or(e)?;
                File::open(
                    self.path
                        .join("cur")
                        .join(format!("{}:2,{}", found.key, found.info)),
                )
            }
            other => other,
        }
    }

    /// `message` as a stream with CRLF line ends (see [`read`](Self::read)): the file itself
    /// when it is already `message.size` bytes, else through [`crate::crlf::CrlfReader`].
    pub fn open_read(&self, message: &Message) -> io::Result<Box<dyn io::Read + Send>> {
        let file = self.open_message(message)?;
        if file.metadata()?.len() == message.size {
            return Ok(Box::new(io::BufReader::with_capacity(64 * 1024, file)));
        }
        Ok(Box::new(crate::crlf::CrlfReader::new(file)))
    }

    /// Read a whole message, with CRLF line ends (a file with bare LF gains its CRs here, so
    /// what is read is `message.size` bytes long).
    pub fn read(&self, message: &Message) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(message.size as usize);
        io::Read::read_to_end(&mut self.open_message(message)?, &mut bytes)?;
        if bytes.len() as u64 == message.size {
            return Ok(bytes);
        }
        Ok(crate::crlf::normalise(bytes))
    }

    /// Change flags and keywords (IMAP STORE): `changes` are (UID, new flags, new keywords).
    /// With `unchanged_since` (CONDSTORE `UNCHANGEDSINCE`), a message whose MODSEQ is higher
    /// is left alone and reported in `modified`. Each change renames the file within `cur/`
    /// and gets a new MODSEQ; a message already expunged is skipped.
    pub fn store(
        &self,
        changes: &[(u32, Flags, Keywords)],
        unchanged_since: Option<u64>,
    ) -> io::Result<StoreOutcome> {
        let _lock = IndexLock::acquire(&self.path)?;
        let (mut index, _) = Index::sync(&self.path)?;
        let clean = index.own_change_start(&self.path)?;
        let mut outcome = StoreOutcome::default();
        let mut log = String::new();
        for &(uid, flags, keywords) in changes {
            let Some(entry) = index.get(uid) else {
                continue;
            };
            if unchanged_since.is_some_and(|since| entry.modseq > since) {
                outcome.modified.push(uid);
                continue;
            }
            let info = format!("{}{}", flags.to_maildir(), keywords.to_maildir());
            if *info == *entry.info {
                outcome.updated.push((uid, entry.modseq));
                continue;
            }
            let cur = self.path.join("cur");
            let from = cur.join(format!("{}:2,{}", entry.key, entry.info));
            let to = cur.join(format!("{}:2,{info}", entry.key));
            match fs::rename(&from, &to) {
                Ok(()) => {}
                // Gone since the sync above (another session expunged it): skip it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            if let Some(modseq) = index.set_info(uid, &info, &mut log) {
                outcome.updated.push((uid, modseq));
            }
        }
        index.own_change_done(&self.path, clean)?;
        index.commit(&self.path, log, false)?;
        outcome.highest_modseq = index.highest_modseq;
        index.keep(&self.path)?;
        crate::watch::notify(&self.path);
        Ok(outcome)
    }

    /// Remove messages (IMAP EXPUNGE, POP3 DELE at UPDATE); returns the UIDs removed.
    pub fn expunge(&self, uids: &[u32]) -> io::Result<Vec<u32>> {
        let _lock = IndexLock::acquire(&self.path)?;
        let (mut index, _) = Index::sync(&self.path)?;
        let clean = index.own_change_start(&self.path)?;
        let mut log = String::new();
        let mut doomed = Vec::new();
        for &uid in uids {
            let Some(entry) = index.get(uid) else {
                continue;
            };
            let path = self
                .path
                .join("cur")
                .join(format!("{}:2,{}", entry.key, entry.info));
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            doomed.push(uid);
        }
        let removed = index.expunge(&doomed, &mut log);
        if !removed.is_empty() {
            index.own_change_done(&self.path, clean)?;
            index.commit(&self.path, log, false)?;
            crate::watch::notify(&self.path);
        }
        index.keep(&self.path)?;
        Ok(removed)
    }

    /// Add a message with flags, keywords and an internal date (IMAP APPEND): written
    /// durably as a delivery is, straight into `cur/`, and numbered; returns
    /// (UIDVALIDITY, UID).
    pub fn append(
        &self,
        parts: &[&[u8]],
        flags: Flags,
        keywords: Keywords,
        internal_date: Option<SystemTime>,
    ) -> io::Result<(u32, u32)> {
        let (validity, uids) = self.append_many(&[NewMessage {
            parts,
            flags,
            keywords,
            internal_date,
        }])?;
        let uid = uids
            .first()
            .copied()
            .ok_or_else(|| io::Error::other("appended message not numbered"))?;
        Ok((validity, uid))
    }

    /// Add several messages at once (IMAP MULTIAPPEND, RFC 3502): all of them or, on any
    /// error, none (files already moved into `cur/` are taken out again before the index
    /// sees them, under the same lock). UIDs are given in the order of `messages`; returns
    /// (UIDVALIDITY, UIDs).
    pub fn append_many(&self, messages: &[NewMessage<'_>]) -> io::Result<(u32, Vec<u32>)> {
        self.ensure()?;
        // One clock reading and consecutive counters: the index numbers new files in this
        // order (see `delivery_order`).
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut tmps = Vec::with_capacity(messages.len());
        let mut placed = Vec::with_capacity(messages.len());
        let result = (|| {
            let mut moves = Vec::with_capacity(messages.len());
            for m in messages {
                let size: usize = m.parts.iter().map(|p| p.len()).sum();
                let name = unique_name_at(now, size as u64, crate::crlf::size_of_parts(m.parts));
                let tmp = self.path.join("tmp").join(&name);
                let info = format!("{}{}", m.flags.to_maildir(), m.keywords.to_maildir());
                let target = self.path.join("cur").join(format!("{name}:2,{info}"));
                let mut file = create_private(&tmp)?;
                tmps.push(tmp.clone());
                for part in m.parts {
                    file.write_all(part)?;
                }
                if let Some(date) = m.internal_date {
                    file.set_modified(date)?;
                }
                file.sync_all()?;
                moves.push((tmp, target, name));
            }
            let _lock = IndexLock::acquire(&self.path)?;
            let placing = moves
                .iter()
                .map(|(tmp, target, name)| (tmp.as_path(), target.as_path(), name.as_str()));
            let (index, uids) = place(&self.path, placing, &mut placed)?;
            let validity = index.uid_validity;
            index.keep(&self.path)?;
            crate::watch::notify(&self.path);
            Ok((validity, uids))
        })();
        if result.is_err() {
            for path in tmps.iter().chain(&placed) {
                let _ = fs::remove_file(path);
            }
        }
        result
    }

    /// The keyword table, with `names` interned (new ones take free letters; saved under the
    /// lock). `None` for a name that is invalid or does not fit (26 per Maildir).
    pub fn intern_keywords(
        &self,
        names: &[&str],
    ) -> io::Result<(KeywordTable, Vec<Option<usize>>)> {
        let _lock = IndexLock::acquire(&self.path)?;
        let mut table = KeywordTable::load(&self.path)?;
        let before = table.clone();
        let indexes = names.iter().map(|n| table.intern(n)).collect();
        if table != before {
            table.save(&self.path)?;
        }
        Ok((table, indexes))
    }

    /// Copy messages into `dest` (IMAP COPY, the first half of MOVE), keeping flags,
    /// keywords (by name) and internal dates; hard links where the file system allows, as
    /// Dovecot does. Returns (source UID, new UID) pairs and the destination's UIDVALIDITY.
    pub fn copy_into(
        &self,
        messages: &[Message],
        source_keywords: &KeywordTable,
        dest: &Maildir,
    ) -> io::Result<(u32, Vec<(u32, u32)>)> {
        dest.ensure()?;
        let names: Vec<&str> = source_keywords.names().map(|(_, n)| n).collect();
        let (_, mapped) = dest.intern_keywords(&names)?;
        let translate = |k: Keywords| {
            let mut out = Keywords::EMPTY;
            for (j, (i, _)) in source_keywords.names().enumerate() {
                if k.has(i) {
                    if let Some(Some(to)) = mapped.get(j) {
                        out = out.with(*to);
                    }
                }
            }
            out
        };
        let mut placed: Vec<(u32, String, String, PathBuf)> = Vec::new();
        let staged = (|| {
            for m in messages {
                dest.stage_copy(self, m, &translate, &mut placed)?;
            }
            Ok::<(), io::Error>(())
        })();
        if let Err(e) = staged {
            // RFC 9051 §6.4.7: a failed COPY leaves the destination as it was.
            for (_, _, _, tmp) in &placed {
                let _ = fs::remove_file(tmp);
            }
            return Err(e);
        }
        let _lock = IndexLock::acquire(&dest.path)?;
        let targets: Vec<PathBuf> = placed
            .iter()
            .map(|(_, name, info, _)| dest.path.join("cur").join(format!("{name}:2,{info}")))
            .collect();
        let placing = placed
            .iter()
            .zip(&targets)
            .map(|((_, name, _, tmp), target)| (tmp.as_path(), target.as_path(), name.as_str()));
        let mut moved = Vec::new();
        let (index, uids) = match place(&dest.path, placing, &mut moved) {
            Ok(done) => done,
            Err(e) => {
                // As for a failed staging: nothing of the copy stays.
                for path in placed.iter().map(|p| &p.3).chain(&moved) {
                    let _ = fs::remove_file(path);
                }
                return Err(e);
            }
        };
        let pairs = placed.iter().map(|p| p.0).zip(uids).collect();
        let validity = index.uid_validity;
        index.keep(&dest.path)?;
        crate::watch::notify(&dest.path);
        Ok((validity, pairs))
    }
}

impl Maildir {
    /// Put a copy of `m` (from `source`) in this Maildir's `tmp/`, linked if possible.
    fn stage_copy(
        &self,
        source: &Maildir,
        m: &Message,
        translate: &dyn Fn(Keywords) -> Keywords,
        placed: &mut Vec<(u32, String, String, PathBuf)>,
    ) -> io::Result<()> {
        // The copy is the same file: its size on disk, and its size with CRLF (`m.size`).
        let mut from = source.open_message(m)?;
        let name = unique_name(from.metadata()?.len(), m.size);
        let info = format!(
            "{}{}",
            m.flags.to_maildir(),
            translate(m.keywords).to_maildir()
        );
        let tmp = self.path.join("tmp").join(&name);
        if fs::hard_link(source.path_of(m), &tmp).is_err() {
            let mut to = create_private(&tmp)?;
            placed.push((m.uid, name.clone(), info.clone(), tmp.clone()));
            io::copy(&mut from, &mut to)?;
            to.set_modified(UNIX_EPOCH + Duration::from_secs(m.internal_date.max(0) as u64))?;
            to.sync_all()?;
            return Ok(());
        }
        placed.push((m.uid, name, info, tmp));
        Ok(())
    }
}

/// Under the mailbox lock: sync the index of `dir`, rename each staged file (tmp path, target
/// in `cur/`, base name) into place (pushing each target to `placed` as it lands) and number
/// them in order, without listing `cur/` again; the new UIDs are durable when it returns.
fn place<'a>(
    dir: &Path,
    files: impl Iterator<Item = (&'a Path, &'a Path, &'a str)>,
    placed: &mut Vec<PathBuf>,
) -> io::Result<(Index, Vec<u32>)> {
    let (mut index, _) = Index::sync(dir)?;
    let clean = index.own_change_start(dir)?;
    let mut names = Vec::new();
    for (tmp, target, name) in files {
        fs::rename(tmp, target)?;
        placed.push(target.to_owned());
        names.push((name, target));
    }
    sync_dir(&dir.join("cur"))?;
    let mut log = String::new();
    let mut uids = Vec::with_capacity(names.len());
    for (name, target) in names {
        let info = target
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| split_info(n).1)
            .unwrap_or("");
        let uid = index
            .add_placed(dir, name, info, &mut log)?
            .ok_or_else(|| io::Error::other("a message placed in cur/ vanished"))?;
        uids.push(uid);
    }
    index.own_change_done(dir, clean)?;
    // New UIDs must survive a crash before anyone is told of them.
    index.commit(dir, log, true)?;
    Ok((index, uids))
}

/// Move everything in `dir/new/` to `dir/cur/` with an empty info (`:2,`), as an IMAP or
/// POP3 session does when it opens the mailbox; whether anything moved.
pub(crate) fn move_new_to_cur(dir: &Path) -> io::Result<bool> {
    let mut moved = false;
    for entry in fs::read_dir(dir.join("new"))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let (base, info) = split_info(name);
        let target = dir
            .join("cur")
            .join(format!("{base}:2,{}", info.unwrap_or("")));
        match fs::rename(entry.path(), &target) {
            Ok(()) => moved = true,
            // Another session moved it first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if moved {
        sync_dir(&dir.join("cur"))?;
    }
    Ok(moved)
}

/// The messages in `dir/cur/`: key and info of each (names that are not UTF-8, and hidden
/// files, are not messages).
pub(crate) fn list_cur(dir: &Path) -> io::Result<Vec<Seen>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir.join("cur"))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let (base, info) = split_info(name);
        out.push(Seen {
            key: base.to_owned(),
            info: info.unwrap_or("").to_owned(),
        });
    }
    Ok(out)
}

/// A message to add with [`Maildir::append_many`].
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    /// Its bytes, in pieces.
    pub parts: &'a [&'a [u8]],
    /// System flags.
    pub flags: Flags,
    /// Keywords (letters of this Maildir's table).
    pub keywords: Keywords,
    /// Internal date (the file's mtime); now if `None`.
    pub internal_date: Option<SystemTime>,
}

/// One message of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// IMAP UID (unique and ascending within this mailbox's UIDVALIDITY).
    pub uid: u32,
    /// MODSEQ of its last change.
    pub modseq: u64,
    /// Size in bytes (as stored: CRLF line ends for mail that came in over SMTP).
    pub size: u64,
    /// Internal date, Unix seconds.
    pub internal_date: i64,
    /// System flags.
    pub flags: Flags,
    /// Keywords (letters; names in the snapshot's [`KeywordTable`]).
    pub keywords: Keywords,
    /// The base file name, stable across flag changes.
    pub key: crate::key::Key,
}

impl Message {
    /// The info part of the file name (`FS` + keyword letters).
    pub fn info(&self) -> String {
        format!("{}{}", self.flags.to_maildir(), self.keywords.to_maildir())
    }
}

/// A mailbox as of one sync.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// The UID the next new message will get.
    pub uid_next: u32,
    /// HIGHESTMODSEQ.
    pub highest_modseq: u64,
    /// The lowest UID not yet claimed as `\Recent` by a session ([`Maildir::claim_recent`]).
    pub first_recent: u32,
    /// Messages in ascending UID order.
    pub messages: Vec<Message>,
    /// Keyword names.
    pub keywords: KeywordTable,
    /// What changed on disk since the index was last written.
    pub report: SyncReport,
}

impl Message {
    fn of(e: &crate::index::Entry) -> Message {
        Message {
            uid: e.uid,
            modseq: e.modseq,
            size: e.size,
            internal_date: e.internal_date,
            flags: Flags::from_maildir(&e.info),
            keywords: Keywords::from_maildir(&e.info),
            key: e.key.clone(),
        }
    }
}

/// What [`Maildir::changes`] found.
#[derive(Debug, Clone)]
pub struct Changes {
    /// UIDVALIDITY (a session must give up its UIDs if it changed).
    pub uid_validity: u32,
    /// UIDNEXT.
    pub uid_next: u32,
    /// HIGHESTMODSEQ.
    pub highest_modseq: u64,
    /// The keyword names, when anything changed.
    pub keywords: Option<KeywordTable>,
    /// Messages new or changed since the MODSEQ asked about, in UID order.
    pub changed: Vec<Message>,
    /// Every UID in the mailbox, when anything changed (or all were asked for).
    pub present: Option<Vec<u32>>,
    /// What the sync found changed on disk.
    pub report: SyncReport,
}

impl Snapshot {
    fn of(index: &Index, keywords: KeywordTable, report: SyncReport) -> Snapshot {
        let messages = index.entries.iter().map(Message::of).collect();
        Snapshot {
            uid_validity: index.uid_validity,
            uid_next: index.uid_next,
            highest_modseq: index.highest_modseq,
            first_recent: index.first_recent,
            messages,
            keywords,
            report,
        }
    }

    /// The message with `uid`.
    pub fn get(&self, uid: u32) -> Option<&Message> {
        self.messages
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .map(|i| &self.messages[i])
    }
}

/// What [`Maildir::store`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOutcome {
    /// (UID, MODSEQ) of each message now carrying the requested flags.
    pub updated: Vec<(u32, u64)>,
    /// UIDs left alone because they changed after `unchanged_since`.
    pub modified: Vec<u32>,
    /// HIGHESTMODSEQ afterwards.
    pub highest_modseq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use torsion_core::testkit::TempDir;

    #[test]
    fn delivers_durably_in_steps() {
        let dir = TempDir::new("maildir").unwrap();
        let md = Maildir::create(dir.path().join("inbox")).unwrap();
        let mut stages = Vec::new();
        let name = md
            .deliver_with(b"Subject: hi\r\n\r\nbody\r\n", &mut |s| stages.push(s))
            .unwrap();
        assert_eq!(
            stages,
            [
                Stage::Written,
                Stage::FileSynced,
                Stage::Renamed,
                Stage::DirSynced
            ]
        );
        assert!(name.ends_with(",S=21,W=21"), "{name}");
        let bytes = fs::read(md.path().join("new").join(&name)).unwrap();
        assert_eq!(bytes, b"Subject: hi\r\n\r\nbody\r\n");
        assert_eq!(fs::read_dir(md.path().join("tmp")).unwrap().count(), 0);
        let other = md.deliver(b"x").unwrap();
        assert_ne!(name, other);
    }

    fn uids(s: &Snapshot) -> Vec<u32> {
        s.messages.iter().map(|m| m.uid).collect()
    }

    #[test]
    fn sync_moves_new_to_cur_and_numbers_messages() {
        let dir = TempDir::new("maildir").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        md.deliver(b"one").unwrap();
        md.deliver(b"two").unwrap();
        let first = md.sync().unwrap();
        assert_eq!(uids(&first), [1, 2]);
        assert_eq!(first.report.added, [1, 2]);
        assert_eq!(first.uid_next, 3);
        assert_eq!(fs::read_dir(md.path().join("new")).unwrap().count(), 0);
        assert_eq!(md.read(&first.messages[0]).unwrap(), b"one");
        assert_eq!(first.messages[0].size, 3);
        assert!(first.messages[1].modseq > first.messages[0].modseq);
        md.deliver(b"three").unwrap();
        let second = md.sync().unwrap();
        assert_eq!(second.uid_validity, first.uid_validity);
        assert_eq!(uids(&second), [1, 2, 3]);
        assert_eq!(second.report.added, [3]);
        // Flags are renames with a new MODSEQ; the UID stays.
        let seen = Flags::parse_imap_list(&["\\Seen", "\\Flagged"]);
        let out = md.store(&[(1, seen, Keywords::EMPTY)], None).unwrap();
        assert_eq!(out.updated.len(), 1);
        assert!(out.updated[0].1 > second.highest_modseq);
        assert_eq!(out.highest_modseq, out.updated[0].1);
        let third = md.sync().unwrap();
        assert!(md
            .path_of(&third.messages[0])
            .to_string_lossy()
            .ends_with(":2,FS"));
        assert_eq!(third.messages[0].flags, seen);
        assert_eq!(third.messages[0].modseq, out.updated[0].1);
        assert_eq!(
            third.report,
            SyncReport::default(),
            "our own change is not news"
        );
        // CONDSTORE: UNCHANGEDSINCE below the message's MODSEQ leaves it alone.
        let refused = md
            .store(
                &[(1, Flags::EMPTY, Keywords::EMPTY)],
                Some(second.highest_modseq),
            )
            .unwrap();
        assert_eq!(refused.modified, [1]);
        assert_eq!(md.expunge(&[2, 99]).unwrap(), [2]);
        let fourth = md.sync().unwrap();
        assert_eq!(uids(&fourth), [1, 3]);
        assert!(
            fourth.highest_modseq > third.highest_modseq,
            "an expunge is a change"
        );
        // A new message never reuses an expunged UID.
        md.deliver(b"four").unwrap();
        assert_eq!(md.sync().unwrap().messages.last().unwrap().uid, 4);
    }

    #[test]
    fn changes_made_by_other_programs_are_found_and_the_index_survives_restarts() {
        let dir = TempDir::new("maildir").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        for i in 0..5 {
            md.deliver(format!("message {i}").as_bytes()).unwrap();
        }
        let before = md.sync().unwrap();
        // mutt marks message 2 seen, a shell removes message 4, Dovecot delivers one with
        // flags already set.
        let m2 = &before.messages[1];
        fs::rename(
            md.path_of(m2),
            md.path().join("cur").join(format!("{}:2,S", m2.key)),
        )
        .unwrap();
        fs::remove_file(md.path_of(&before.messages[3])).unwrap();
        fs::write(
            md.path().join("cur").join("1800000000.M1P1Q1.other:2,FRa"),
            b"dovecot's",
        )
        .unwrap();
        let after = md.sync().unwrap();
        assert_eq!(after.report.flags_changed, [2]);
        assert_eq!(after.report.expunged, [4]);
        assert_eq!(after.report.added, [6]);
        assert_eq!(uids(&after), [1, 2, 3, 5, 6]);
        assert!(after.get(2).unwrap().flags.contains(Flags::SEEN));
        assert!(after.get(2).unwrap().modseq > before.highest_modseq);
        let dovecot = after.get(6).unwrap();
        assert_eq!(dovecot.size, 9, "no S= in the name: the file's size");
        assert!(dovecot.flags.contains(Flags::FLAGGED.with(Flags::ANSWERED)));
        assert!(dovecot.keywords.has(0));
        // A fresh process reads the same index: same UIDs, MODSEQs, validity.
        let again = Maildir::new(dir.path()).sync().unwrap();
        assert_eq!(again.messages, after.messages);
        assert_eq!(
            (again.uid_validity, again.uid_next, again.highest_modseq),
            (after.uid_validity, after.uid_next, after.highest_modseq)
        );
        assert_eq!(again.report, SyncReport::default());
        // A lost index is rebuilt from the files with a new UIDVALIDITY… unless it was only
        // damaged, which is said.
        fs::write(md.path().join(crate::index::FILE), b"garbage").unwrap();
        let rebuilt = md.sync().unwrap();
        assert!(rebuilt.report.rebuilt);
        assert_eq!(rebuilt.messages.len(), 5);
    }

    #[test]
    fn append_copy_and_keywords() {
        let dir = TempDir::new("maildir").unwrap();
        let inbox = Maildir::create(dir.path().join("inbox")).unwrap();
        let archive = Maildir::create(dir.path().join("archive")).unwrap();
        let (_, idx) = inbox.intern_keywords(&["$Junk", "Work"]).unwrap();
        assert_eq!(idx, [Some(0), Some(1)]);
        let date = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        let (validity, uid) = inbox
            .append(
                &[b"Subject: x\r\n\r\n", b"body\r\n"],
                Flags::SEEN,
                Keywords::EMPTY.with(1),
                Some(date),
            )
            .unwrap();
        assert_eq!(uid, 1);
        let snap = inbox.sync().unwrap();
        assert_eq!(snap.uid_validity, validity);
        let m = snap.get(1).unwrap();
        assert_eq!(m.internal_date, 1_600_000_000);
        assert_eq!(m.size, 20);
        assert_eq!(snap.keywords.names_of(m.keywords), ["Work"]);
        // The archive names keywords its own way; the copy keeps them by name.
        archive.intern_keywords(&["Other"]).unwrap();
        let (dest_validity, pairs) = inbox
            .copy_into(&snap.messages, &snap.keywords, &archive)
            .unwrap();
        assert_eq!(pairs, [(1, 1)]);
        let copied = archive.sync().unwrap();
        assert_eq!(copied.uid_validity, dest_validity);
        let c = copied.get(1).unwrap();
        assert_eq!(copied.keywords.names_of(c.keywords), ["Work"]);
        assert_eq!(c.flags, Flags::SEEN);
        assert_eq!(c.internal_date, 1_600_000_000);
        assert_eq!(archive.read(c).unwrap(), inbox.read(m).unwrap());
    }

    #[test]
    fn several_messages_are_appended_together_in_order() {
        let dir = TempDir::new("maildir").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        md.deliver(b"first").unwrap();
        let bodies: Vec<Vec<u8>> = (0..12).map(|i| format!("m{i}").into_bytes()).collect();
        let parts: Vec<[&[u8]; 1]> = bodies.iter().map(|b| [b.as_slice()]).collect();
        let batch: Vec<NewMessage<'_>> = parts
            .iter()
            .map(|p| NewMessage {
                parts: p,
                flags: Flags::SEEN,
                keywords: Keywords::EMPTY,
                internal_date: None,
            })
            .collect();
        let (_, uids) = md.append_many(&batch).unwrap();
        assert_eq!(uids, (2..14).collect::<Vec<u32>>());
        let snap = md.sync().unwrap();
        for (uid, body) in uids.iter().zip(&bodies) {
            assert_eq!(&md.read(snap.get(*uid).unwrap()).unwrap(), body);
        }
        // A failure leaves nothing behind (root ignores permissions: `cur/` becomes a file).
        let cur = dir.path().join("cur");
        let saved = dir.path().join("cur.saved");
        fs::rename(&cur, &saved).unwrap();
        fs::write(&cur, b"").unwrap();
        assert!(md.append_many(&batch[..2]).is_err());
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        fs::remove_file(&cur).unwrap();
        fs::rename(&saved, &cur).unwrap();
        assert_eq!(md.sync().unwrap().messages.len(), 13);
    }

    #[test]
    fn a_message_renamed_behind_the_snapshot_is_still_read() {
        let dir = TempDir::new("maildir").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        md.deliver(b"hello").unwrap();
        let snap = md.sync().unwrap();
        let m = &snap.messages[0];
        fs::rename(
            md.path_of(m),
            md.path().join("cur").join(format!("{}:2,T", m.key)),
        )
        .unwrap();
        assert_eq!(md.read(m).unwrap(), b"hello");
        fs::remove_file(md.path().join("cur").join(format!("{}:2,T", m.key))).unwrap();
        assert_eq!(md.read(m).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn bare_lf_files_are_sized_and_read_with_crlf() {
        let dir = TempDir::new("maildir").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        // As Postfix's local agent writes: bare LF, no S= or W= in the name.
        let lf = b"Subject: lf\n\nline one\nline two\n";
        fs::write(md.path().join("new").join("1700000000.V1I2M3.postfix"), lf).unwrap();
        // As Dovecot writes: W= says the CRLF size, and is believed without reading.
        fs::write(
            md.path()
                .join("cur")
                .join("1700000001.M1P2.dovecot,S=3,W=4:2,S"),
            b"a\nb",
        )
        .unwrap();
        // Ours, appended with bare LF by a careless client, and delivered with CRLF.
        md.append(&[b"x\ny"], Flags::EMPTY, Keywords::EMPTY, None)
            .unwrap();
        let crlf = md.deliver(b"ok\r\n").unwrap();
        assert!(crlf.ends_with(",S=4,W=4"), "{crlf}");
        let snap = md.sync().unwrap();
        let sizes: Vec<u64> = snap.messages.iter().map(|m| m.size).collect();
        // In delivery order: Postfix's (31 bytes, 4 LFs), Dovecot's, the APPEND, ours.
        assert_eq!(sizes, [35, 4, 4, 4]);
        assert_eq!(
            md.read(&snap.messages[0]).unwrap(),
            b"Subject: lf\r\n\r\nline one\r\nline two\r\n"
        );
        assert_eq!(md.read(&snap.messages[1]).unwrap(), b"a\r\nb");
        assert_eq!(md.read(&snap.messages[2]).unwrap(), b"x\r\ny");
        assert_eq!(md.read(&snap.messages[3]).unwrap(), b"ok\r\n");
        // The streaming form gives the same bytes.
        for m in &snap.messages {
            let mut streamed = Vec::new();
            io::Read::read_to_end(&mut md.open_read(m).unwrap(), &mut streamed).unwrap();
            assert_eq!(streamed, md.read(m).unwrap());
        }
        // The file on disk is left as it was; a copy keeps the size.
        let other = Maildir::create(dir.path().join(".Other")).unwrap();
        md.copy_into(&snap.messages[..1], &snap.keywords, &other)
            .unwrap();
        let copied = other.sync().unwrap();
        assert_eq!(copied.messages[0].size, 35);
        assert_eq!(other.read(&copied.messages[0]).unwrap().len(), 35);
        assert_eq!(fs::read(other.path_of(&copied.messages[0])).unwrap(), lf);
    }

    #[test]
    fn changes_since_a_modseq_name_only_what_changed() {
        let dir = TempDir::new("maildir").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        for body in [&b"one"[..], b"two", b"three"] {
            md.deliver(body).unwrap();
        }
        let snap = md.sync().unwrap();
        let quiet = md.changes(snap.highest_modseq, false).unwrap();
        assert!(quiet.changed.is_empty() && quiet.present.is_none() && quiet.keywords.is_none());
        assert_eq!(quiet.highest_modseq, snap.highest_modseq);
        let all = md.changes(snap.highest_modseq, true).unwrap();
        assert_eq!(all.present, Some(vec![1, 2, 3]));

        let outcome = md
            .store(&[(2, Flags::SEEN, Keywords::EMPTY)], None)
            .unwrap();
        let after_store = md.changes(snap.highest_modseq, false).unwrap();
        assert_eq!(
            after_store
                .changed
                .iter()
                .map(|m| m.uid)
                .collect::<Vec<_>>(),
            [2]
        );
        assert!(after_store.changed[0].flags.contains(Flags::SEEN));
        assert_eq!(after_store.present, Some(vec![1, 2, 3]));
        assert_eq!(after_store.highest_modseq, outcome.highest_modseq);

        md.expunge(&[1]).unwrap();
        let after_expunge = md.changes(outcome.highest_modseq, false).unwrap();
        assert!(after_expunge.changed.is_empty());
        assert_eq!(after_expunge.present, Some(vec![2, 3]));

        // A flag change made by another program (mutt renaming the file) and a delivery
        // are seen too, though the index was served from the cache.
        let m3 = md.sync().unwrap().get(3).unwrap().clone();
        fs::rename(
            md.path_of(&m3),
            md.path().join("cur").join(format!("{}:2,F", m3.key)),
        )
        .unwrap();
        md.deliver(b"four").unwrap();
        let outside = md.changes(after_expunge.highest_modseq, false).unwrap();
        let changed: Vec<(u32, bool)> = outside
            .changed
            .iter()
            .map(|m| (m.uid, m.flags.contains(Flags::FLAGGED)))
            .collect();
        assert_eq!(changed, [(3, true), (4, false)]);
        assert_eq!(outside.present, Some(vec![2, 3, 4]));
    }

    #[test]
    fn stale_tmp_files_are_cleaned() {
        let dir = TempDir::new("maildir").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        let stale = md.path().join("tmp").join("stale");
        fs::write(&stale, b"partial").unwrap();
        let old = SystemTime::now() - STALE_TMP - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        fs::write(md.path().join("tmp").join("fresh"), b"in progress").unwrap();
        assert_eq!(md.clean_tmp().unwrap(), 1);
        assert!(!stale.exists());
    }
}
