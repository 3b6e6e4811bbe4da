//! One Maildir (INBOX or a Maildir++ folder): durable delivery into `new/`, and the view IMAP
//! and POP3 need — messages with UIDs, flags and sizes, moved from `new/` to `cur/` when seen.
//!
//! Delivery (the only thing an MTA may acknowledge after): write the message to `tmp/`, fsync
//! the file, rename it into `new/`, fsync `new/`. A crash before the rename leaves at most a
//! file in `tmp/` (never visible to readers; [`Maildir::clean_tmp`] removes stale ones); after
//! the directory fsync the message survives power loss. The rename is atomic, so `new/` never
//! holds a partial message.
//!
//! File names follow the Maildir convention `TIME.MUSEC P PID Q N .HOST,S=SIZE` (unique per
//! delivery) plus `:2,FLAGS` once in `cur/`, with the flags in ASCII order (`DFPRST`), as
//! Dovecot, Courier and mutt read them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::flags::Flags;
use crate::uidlist::UidList;

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

/// One message as listed by [`Maildir::scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEntry {
    /// IMAP UID (unique and ascending within this mailbox's UIDVALIDITY).
    pub uid: u32,
    /// The base file name (without `:2,…`), stable across flag changes.
    pub key: String,
    /// Flags from the file name.
    pub flags: Flags,
    /// Size in bytes (from `,S=` when present, else the file's size).
    pub size: u64,
    /// Modification time (IMAP INTERNALDATE falls back to it).
    pub modified: SystemTime,
    /// Where the file is now.
    pub path: PathBuf,
}

/// The result of a scan: the mailbox's UIDVALIDITY, next UID and messages in UID order.
#[derive(Debug, Clone)]
pub struct Listing {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// The UID the next new message will get.
    pub uid_next: u32,
    /// Messages in ascending UID order.
    pub messages: Vec<MessageEntry>,
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

/// A new unique base name for a message of `size` bytes.
fn unique_name(size: usize) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{}.{},S={size}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        n,
        host_part()
    )
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

fn size_from_name(base: &str) -> Option<u64> {
    base.split(',')
        .find_map(|part| part.strip_prefix("S="))
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
        let name = unique_name(size);
        let tmp = self.path.join("tmp").join(&name);
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
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

    /// Move everything in `new/` to `cur/` (as an IMAP or POP3 session does when it opens the
    /// mailbox), assign UIDs to messages not yet numbered, and list the mailbox.
    pub fn scan(&self) -> io::Result<Listing> {
        self.ensure()?;
        let mut moved = false;
        for entry in fs::read_dir(self.path.join("new"))? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let (base, _) = split_info(name);
            let target = self.path.join("cur").join(format!("{base}:2,"));
            match fs::rename(entry.path(), &target) {
                Ok(()) => moved = true,
                // Another session moved it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if moved {
            sync_dir(&self.path.join("cur"))?;
        }
        let mut found = Vec::new();
        for entry in fs::read_dir(self.path.join("cur"))? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let (base, flags) = split_info(name);
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            found.push((
                base.to_owned(),
                Flags::from_maildir(flags.unwrap_or("")),
                size_from_name(base).unwrap_or(meta.len()),
                meta.modified().unwrap_or(UNIX_EPOCH),
                entry.path(),
            ));
        }
        let keys: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
        let uids = UidList::update(&self.path, &keys)?;
        let mut messages: Vec<MessageEntry> = found
            .into_iter()
            .filter_map(|(key, flags, size, modified, path)| {
                let uid = *uids.uids.get(&key)?;
                Some(MessageEntry {
                    uid,
                    key,
                    flags,
                    size,
                    modified,
                    path,
                })
            })
            .collect();
        messages.sort_by_key(|m| m.uid);
        Ok(Listing {
            uid_validity: uids.uid_validity,
            uid_next: uids.uid_next,
            messages,
        })
    }

    /// Replace a message's flags (a rename within `cur/`); returns the updated entry.
    pub fn set_flags(&self, entry: &MessageEntry, flags: Flags) -> io::Result<MessageEntry> {
        let target = self
            .path
            .join("cur")
            .join(format!("{}:2,{}", entry.key, flags.to_maildir()));
        if target != entry.path {
            fs::rename(&entry.path, &target)?;
        }
        Ok(MessageEntry {
            flags,
            path: target,
            ..entry.clone()
        })
    }

    /// Read a message.
    pub fn read(&self, entry: &MessageEntry) -> io::Result<Vec<u8>> {
        fs::read(&entry.path)
    }

    /// Delete a message (IMAP EXPUNGE, POP3 DELE at UPDATE).
    pub fn remove(&self, entry: &MessageEntry) -> io::Result<()> {
        match fs::remove_file(&entry.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
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
        assert!(name.ends_with(",S=21"), "{name}");
        let bytes = fs::read(md.path().join("new").join(&name)).unwrap();
        assert_eq!(bytes, b"Subject: hi\r\n\r\nbody\r\n");
        assert_eq!(fs::read_dir(md.path().join("tmp")).unwrap().count(), 0);
        let other = md.deliver(b"x").unwrap();
        assert_ne!(name, other);
    }

    #[test]
    fn scan_moves_new_to_cur_and_numbers_messages() {
        let dir = TempDir::new("maildir").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        md.deliver(b"one").unwrap();
        md.deliver(b"two").unwrap();
        let first = md.scan().unwrap();
        assert_eq!(first.messages.len(), 2);
        assert_eq!(
            first.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(first.uid_next, 3);
        assert_eq!(fs::read_dir(md.path().join("new")).unwrap().count(), 0);
        assert_eq!(md.read(&first.messages[0]).unwrap().len(), 3);
        md.deliver(b"three").unwrap();
        let second = md.scan().unwrap();
        assert_eq!(second.uid_validity, first.uid_validity);
        assert_eq!(
            second.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // Flags survive as renames; the UID stays.
        let seen = md
            .set_flags(
                &second.messages[0],
                Flags::parse_imap_list(&["\\Seen", "\\Flagged"]),
            )
            .unwrap();
        assert!(seen.path.to_string_lossy().ends_with(":2,FS"));
        let third = md.scan().unwrap();
        assert_eq!(third.messages[0].uid, 1);
        assert_eq!(third.messages[0].flags, seen.flags);
        md.remove(&third.messages[1]).unwrap();
        let fourth = md.scan().unwrap();
        assert_eq!(
            fourth.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
            [1, 3]
        );
        // A new message never reuses an expunged UID.
        md.deliver(b"four").unwrap();
        assert_eq!(md.scan().unwrap().messages.last().unwrap().uid, 4);
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
