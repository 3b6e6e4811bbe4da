//! The process-wide cache of loaded mailbox indexes, so that a command on an open mailbox
//! does not re-read and re-parse its whole `torsion-uidlist` (a 100,000-message INBOX is a
//! few megabytes of text).
//!
//! A cached index is used only while the files it was loaded from or written to are exactly
//! as they were — the index file and its log, by device, inode, size and mtime, compared
//! under the mailbox lock — so a change by another process (a second server, a POP3 session,
//! an index rebuilt by hand) is always read from disk. Every writer of the index changes at
//! least one of these: the log only grows, and the file is only ever replaced by a rename
//! (a new inode). This is the check Dovecot makes of its own index files.
//!
//! The cache is bounded: at most [`MAX_MAILBOXES`] mailboxes and [`MAX_ENTRIES`] messages in
//! all, the least recently used going first.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::index::{Index, FILE, LOG};

/// Mailboxes whose index is kept.
pub const MAX_MAILBOXES: usize = 512;
/// Messages in all the kept indexes (about 150 bytes each).
pub const MAX_ENTRIES: usize = 1_000_000;

/// What identifies one state of a file: (device, inode, size, mtime ns); `None` if absent.
type FileStamp = Option<(u64, u64, u64, i128)>;

/// The state of an index on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    file: FileStamp,
    log: FileStamp,
}

fn file_stamp(path: &Path) -> io::Result<FileStamp> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some((
            m.dev(),
            m.ino(),
            m.size(),
            i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Stamp {
    /// The index files of the mailbox in `dir` as they are now.
    pub(crate) fn read(dir: &Path) -> io::Result<Stamp> {
        Ok(Stamp {
            file: file_stamp(&dir.join(FILE))?,
            log: file_stamp(&dir.join(LOG))?,
        })
    }
}

struct Slot {
    stamp: Stamp,
    index: Index,
    used: u64,
}

#[derive(Default)]
struct Cache {
    slots: HashMap<PathBuf, Slot>,
    entries: usize,
    clock: u64,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

fn with<T>(f: impl FnOnce(&mut Cache) -> T) -> T {
    let mut guard = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(Cache::default))
}

/// The cached index of `dir` if the files still match it (taken out: put it back with
/// [`put`] once done with it, which a failed operation does not — the next one then reads
/// the files). Call with the mailbox lock held.
pub(crate) fn take(dir: &Path) -> io::Result<Option<Index>> {
    let Some(slot) = with(|c| {
        let slot = c.slots.remove(dir)?;
        c.entries -= slot.index.entries.len();
        Some(slot)
    }) else {
        return Ok(None);
    };
    Ok((slot.stamp == Stamp::read(dir)?).then_some(slot.index))
}

/// Keep `index` as the state of `dir`'s files now. Call with the mailbox lock held, after
/// the last write to them.
pub(crate) fn put(dir: &Path, index: Index) -> io::Result<()> {
    let stamp = Stamp::read(dir)?;
    if stamp.file.is_none() || index.entries.len() > MAX_ENTRIES / 2 {
        return Ok(());
    }
    with(|c| {
        c.clock += 1;
        let used = c.clock;
        c.entries += index.entries.len();
        if let Some(old) = c.slots.insert(dir.to_owned(), Slot { stamp, index, used }) {
            c.entries -= old.index.entries.len();
        }
        while c.slots.len() > MAX_MAILBOXES || c.entries > MAX_ENTRIES {
            let Some(oldest) = c
                .slots
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(p, _)| p.clone())
            else {
                break;
            };
            if let Some(gone) = c.slots.remove(&oldest) {
                c.entries -= gone.index.entries.len();
            }
        }
    });
    Ok(())
}

/// Mailboxes and messages cached (for tests and diagnostics).
pub fn usage() -> (usize, usize) {
    with(|c| (c.slots.len(), c.entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use torsion_core::testkit::TempDir;

    #[test]
    fn a_changed_file_is_never_served_from_the_cache() {
        let dir = TempDir::new("cache").unwrap();
        let mut index = Index::empty();
        index.write(dir.path()).unwrap();
        put(dir.path(), index.clone()).unwrap();
        assert_eq!(take(dir.path()).unwrap(), Some(index.clone()));
        // Taken out: a second take finds nothing until it is put back.
        assert_eq!(take(dir.path()).unwrap(), None);
        put(dir.path(), index.clone()).unwrap();
        // Another process appends to the log.
        fs::write(dir.path().join(LOG), "H N5 M3\n").unwrap();
        assert_eq!(take(dir.path()).unwrap(), None);
        // Or replaces the file.
        put(dir.path(), index.clone()).unwrap();
        let mut other = index.clone();
        other.write(dir.path()).unwrap();
        assert_eq!(take(dir.path()).unwrap(), None);
    }
}
