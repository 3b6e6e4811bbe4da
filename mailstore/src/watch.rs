//! Change notification for mailboxes: what lets an IMAP session in IDLE see a message that
//! torsion-smtp (another process) delivered, or a flag another session set, within a second.
//!
//! One watcher per process: on Linux an inotify instance, read by one thread of its own, with
//! a watch on `new/` and `cur/` of every mailbox some session is watching (a watch is shared
//! by every session on that mailbox and removed when the last one stops); where inotify is not
//! to be had (another OS, `fs.inotify.max_user_watches` used up) a thread that looks at the
//! directories' mtimes once a second instead. Changes made through this crate
//! ([`crate::Maildir::store`], `expunge`, `append`, `copy_into`, deliveries) also notify the
//! process's watchers directly, so sessions in one server see each other's changes at once
//! whichever back end runs. A notification only says "sync now": what changed is what
//! [`crate::Maildir::sync`] then finds, so a spurious or merged notification is harmless.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

/// How often the polling back end looks.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A session's subscription to one mailbox's changes.
#[derive(Debug)]
pub struct MailboxWatch {
    rx: watch::Receiver<u64>,
    _entry: Arc<Entry>,
}

impl MailboxWatch {
    /// Wait for the next change after the last one seen.
    pub async fn changed(&mut self) {
        // The sender lives in the entry this watch holds: it cannot be dropped first.
        let _ = self.rx.changed().await;
    }

    /// Whether something changed since the last [`changed`](Self::changed) returned (or the
    /// watch was made); marks it seen.
    pub fn take_change(&mut self) -> bool {
        let changed = self.rx.has_changed().unwrap_or(false);
        self.rx.borrow_and_update();
        changed
    }
}

/// One watched mailbox.
#[derive(Debug)]
struct Entry {
    dir: PathBuf,
    tx: watch::Sender<u64>,
    /// inotify watch descriptors of `new/` and `cur/` (none with the polling back end).
    #[cfg(target_os = "linux")]
    wds: Vec<inotify::WatchDescriptor>,
    /// What the polling back end saw last: mtimes of `cur/` and `new/`.
    seen: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
    registry: Weak<Registry>,
}

impl Entry {
    fn bump(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let mut guard = registry.lock();
        let state = &mut *guard;
        let mine = |w: &Weak<Entry>| std::ptr::eq(w.as_ptr(), self);
        if state.entries.get(&self.dir).is_some_and(mine) {
            state.entries.remove(&self.dir);
        }
        // inotify gives a directory watched twice the same descriptor: remove it only if it
        // is still this entry's (a new entry for the mailbox may have taken it over).
        #[cfg(target_os = "linux")]
        if let Backend::Inotify(watches) = &mut state.backend {
            for wd in &self.wds {
                if state.by_wd.get(wd).is_some_and(mine) {
                    state.by_wd.remove(wd);
                    let _ = watches.remove(wd.clone());
                }
            }
        }
    }
}

#[derive(Debug)]
enum Backend {
    #[cfg(target_os = "linux")]
    Inotify(inotify::Watches),
    Polling,
}

#[derive(Debug)]
struct State {
    backend: Backend,
    entries: HashMap<PathBuf, Weak<Entry>>,
    #[cfg(target_os = "linux")]
    by_wd: HashMap<inotify::WatchDescriptor, Weak<Entry>>,
}

/// The watchers of a process (or of a test).
#[derive(Debug)]
pub struct Registry {
    state: Mutex<State>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The process's registry: inotify if it can be had, else polling.
    pub fn global() -> &'static Arc<Registry> {
        static GLOBAL: OnceLock<Arc<Registry>> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            #[cfg(target_os = "linux")]
            match Registry::inotify() {
                Ok(registry) => return registry,
                Err(e) => tracing::warn!(
                    "inotify unavailable ({e}): mailboxes are polled every {} s",
                    POLL_INTERVAL.as_secs()
                ),
            }
            Registry::polling()
        })
    }

    #[cfg(target_os = "linux")]
    fn inotify() -> io::Result<Arc<Registry>> {
        let mut inotify = inotify::Inotify::init()?;
        let registry = Arc::new(Registry {
            state: Mutex::new(State {
                backend: Backend::Inotify(inotify.watches()),
                entries: HashMap::new(),
                by_wd: HashMap::new(),
            }),
        });
        let weak = Arc::downgrade(&registry);
        std::thread::Builder::new()
            .name("mailbox-inotify".into())
            .spawn(move || {
                let mut buffer = vec![0u8; 16 * 1024];
                loop {
                    let events = match inotify.read_events_blocking(&mut buffer) {
                        Ok(events) => events,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            tracing::warn!("inotify: {e}; mailbox changes are no longer watched");
                            return;
                        }
                    };
                    let Some(registry) = weak.upgrade() else {
                        return;
                    };
                    let mut woken: Vec<Arc<Entry>> = Vec::new();
                    {
                        let state = registry.lock();
                        for event in events {
                            if let Some(entry) = state.by_wd.get(&event.wd).and_then(Weak::upgrade)
                            {
                                if !woken.iter().any(|w| Arc::ptr_eq(w, &entry)) {
                                    woken.push(entry);
                                }
                            }
                        }
                    }
                    // Entries are dropped outside the lock (their Drop takes it).
                    for entry in woken {
                        entry.bump();
                    }
                }
            })?;
        Ok(registry)
    }

    /// A registry that polls mtimes every [`POLL_INTERVAL`] (the fallback; tests use it
    /// directly). Its thread ends when the registry is dropped.
    pub fn polling() -> Arc<Registry> {
        let registry = Arc::new(Registry {
            state: Mutex::new(State {
                backend: Backend::Polling,
                entries: HashMap::new(),
                #[cfg(target_os = "linux")]
                by_wd: HashMap::new(),
            }),
        });
        let weak = Arc::downgrade(&registry);
        let spawned = std::thread::Builder::new()
            .name("mailbox-poll".into())
            .spawn(move || loop {
                std::thread::sleep(POLL_INTERVAL);
                let Some(registry) = weak.upgrade() else {
                    return;
                };
                let entries: Vec<Arc<Entry>> = registry
                    .lock()
                    .entries
                    .values()
                    .filter_map(Weak::upgrade)
                    .collect();
                drop(registry);
                for entry in entries {
                    let now = mtimes(&entry.dir);
                    let mut seen = entry.seen.lock().unwrap_or_else(|p| p.into_inner());
                    if *seen != now {
                        *seen = now;
                        drop(seen);
                        entry.bump();
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the mailbox polling thread: {e}");
        }
        registry
    }

    /// Watch the Maildir in `dir`.
    pub fn watch(self: &Arc<Self>, dir: &Path) -> io::Result<MailboxWatch> {
        let dir = dir.canonicalize()?;
        let mut state = self.lock();
        if let Some(entry) = state.entries.get(&dir).and_then(Weak::upgrade) {
            return Ok(MailboxWatch {
                rx: entry.tx.subscribe(),
                _entry: entry,
            });
        }
        #[cfg(target_os = "linux")]
        let wds = match &mut state.backend {
            Backend::Inotify(watches) => {
                use inotify::WatchMask;
                let mask = WatchMask::CREATE
                    | WatchMask::DELETE
                    | WatchMask::MOVED_FROM
                    | WatchMask::MOVED_TO
                    | WatchMask::ONLYDIR;
                let mut wds = Vec::new();
                for sub in ["new", "cur"] {
                    wds.push(watches.add(dir.join(sub), mask)?);
                }
                wds
            }
            Backend::Polling => Vec::new(),
        };
        let (tx, rx) = watch::channel(0);
        let entry = Arc::new(Entry {
            seen: Mutex::new(mtimes(&dir)),
            dir: dir.clone(),
            tx,
            #[cfg(target_os = "linux")]
            wds,
            registry: Arc::downgrade(self),
        });
        #[cfg(target_os = "linux")]
        for wd in &entry.wds {
            state.by_wd.insert(wd.clone(), Arc::downgrade(&entry));
        }
        state.entries.insert(dir, Arc::downgrade(&entry));
        Ok(MailboxWatch { rx, _entry: entry })
    }

    /// Tell the watchers of `dir` that it changed (a change made in this process).
    pub fn notify(&self, dir: &Path) {
        let Ok(dir) = dir.canonicalize() else {
            return;
        };
        let entry = self.lock().entries.get(&dir).and_then(Weak::upgrade);
        if let Some(entry) = entry {
            entry.bump();
        }
    }

    /// How many mailboxes are watched (tests).
    pub fn watched(&self) -> usize {
        self.lock()
            .entries
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

fn mtimes(dir: &Path) -> (Option<SystemTime>, Option<SystemTime>) {
    let m = |sub: &str| {
        std::fs::metadata(dir.join(sub))
            .and_then(|m| m.modified())
            .ok()
    };
    (m("cur"), m("new"))
}

/// Watch the Maildir in `dir` with the process's watcher.
pub fn watch(dir: &Path) -> io::Result<MailboxWatch> {
    WATCHING.store(true, std::sync::atomic::Ordering::Relaxed);
    Registry::global().watch(dir)
}

/// Tell this process's watchers of `dir` that it changed. Free in a process that never
/// watched anything (torsion-smtp): the registry is not even created for it.
pub fn notify(dir: &Path) {
    if WATCHING.load(std::sync::atomic::Ordering::Relaxed) {
        Registry::global().notify(dir);
    }
}

/// Set by the first [`watch`].
static WATCHING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Maildir;
    use torsion_core::testkit::TempDir;

    /// A guard against a hang, not a speed assertion.
    const PATIENCE: Duration = Duration::from_secs(20);

    async fn sees_change(w: &mut MailboxWatch) {
        tokio::time::timeout(PATIENCE, w.changed())
            .await
            .expect("no change notification");
    }

    async fn delivery_from_another_thread_is_seen(registry: Arc<Registry>) {
        let dir = TempDir::new("watch").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        let mut a = registry.watch(dir.path()).unwrap();
        let mut b = registry.watch(&dir.path().join("cur/..")).unwrap();
        assert_eq!(
            registry.watched(),
            1,
            "one watch per mailbox, however named"
        );
        let path = dir.path().to_owned();
        std::thread::spawn(move || {
            Maildir::new(path).deliver(b"hello").unwrap();
        })
        .join()
        .unwrap();
        sees_change(&mut a).await;
        sees_change(&mut b).await;
        // A sync (which moves new/ to cur/) is a change too.
        md.sync().unwrap();
        sees_change(&mut a).await;
        a.take_change();
        // Direct notification (a change made in this process).
        registry.notify(dir.path());
        sees_change(&mut a).await;
        drop((a, b));
        assert_eq!(
            registry.watched(),
            0,
            "the last watcher gone, the watch is removed"
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn inotify_sees_a_delivery() {
        delivery_from_another_thread_is_seen(Registry::inotify().unwrap()).await;
    }

    #[tokio::test]
    async fn polling_sees_a_delivery() {
        delivery_from_another_thread_is_seen(Registry::polling()).await;
    }

    #[tokio::test]
    async fn changes_through_the_store_notify_this_process_at_once() {
        let dir = TempDir::new("watch").unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        md.deliver(b"x").unwrap();
        md.sync().unwrap();
        let mut w = watch(dir.path()).unwrap();
        w.take_change();
        md.store(&[(1, crate::Flags::SEEN, crate::Keywords::EMPTY)], None)
            .unwrap();
        sees_change(&mut w).await;
        w.take_change();
        md.expunge(&[1]).unwrap();
        sees_change(&mut w).await;
    }
}
