//! The durable relay queue (`--queue-dir`): mail for other domains, kept on disk until it is
//! delivered or bounced. Each entry is two files: `ID.eml` (the message, written first) and
//! `ID.env` (the envelope and per-recipient state, whose presence commits the entry). Both are
//! written to a temporary name, fsynced and renamed, then the directory is fsynced — so the
//! server acknowledges only mail that survives a crash, and a crash never leaves a half entry
//! that would be sent.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::proto::Mailbox;

/// State of one recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientState {
    /// Not delivered yet.
    Pending,
    /// Accepted by the next hop.
    Delivered,
    /// Permanently refused (the reason goes in the bounce).
    Failed(String),
}

/// One queued message's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// Queue id (file stem).
    pub id: String,
    /// Envelope sender (`None` for bounces, which are never bounced again).
    pub from: Option<String>,
    /// Recipients and their state.
    pub recipients: Vec<(String, RecipientState)>,
    /// Unix time queued.
    pub created: u64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Unix time of the next attempt.
    pub next_attempt: u64,
    /// Last temporary error, for `torsion-smtp queue`.
    pub last_error: Option<String>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

impl QueueEntry {
    fn render(&self) -> String {
        let mut out = format!(
            "from {}\ncreated {}\nattempts {}\nnext {}\n",
            self.from.as_deref().unwrap_or(""),
            self.created,
            self.attempts,
            self.next_attempt
        );
        if let Some(e) = &self.last_error {
            out.push_str(&format!("error {}\n", clean(e)));
        }
        for (rcpt, state) in &self.recipients {
            let state = match state {
                RecipientState::Pending => "pending".to_owned(),
                RecipientState::Delivered => "delivered".to_owned(),
                RecipientState::Failed(why) => format!("failed {}", clean(why)),
            };
            out.push_str(&format!("rcpt {rcpt} {state}\n"));
        }
        out
    }

    fn parse(id: &str, text: &str) -> Option<QueueEntry> {
        let mut entry = QueueEntry {
            id: id.to_owned(),
            from: None,
            recipients: Vec::new(),
            created: 0,
            attempts: 0,
            next_attempt: 0,
            last_error: None,
        };
        for line in text.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "from" => entry.from = (!value.is_empty()).then(|| value.to_owned()),
                "created" => entry.created = value.parse().ok()?,
                "attempts" => entry.attempts = value.parse().ok()?,
                "next" => entry.next_attempt = value.parse().ok()?,
                "error" => entry.last_error = Some(value.to_owned()),
                "rcpt" => {
                    let (addr, state) = value.split_once(' ')?;
                    let state = match state.split_once(' ') {
                        Some(("failed", why)) => RecipientState::Failed(why.to_owned()),
                        None if state == "pending" => RecipientState::Pending,
                        None if state == "delivered" => RecipientState::Delivered,
                        None if state == "failed" => RecipientState::Failed(String::new()),
                        _ => return None,
                    };
                    entry.recipients.push((addr.to_owned(), state));
                }
                _ => {}
            }
        }
        (!entry.recipients.is_empty()).then_some(entry)
    }
}

/// The queue directory.
#[derive(Debug)]
pub struct RelayQueue {
    dir: PathBuf,
    /// Wakes the relay worker when mail is queued.
    news: tokio::sync::Notify,
}

fn write_durably(dir: &Path, name: &str, parts: &[&[u8]]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = File::create(&tmp)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(name))?;
    Ok(())
}

impl RelayQueue {
    /// Open (creating) the queue directory.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        // Leftovers of writes interrupted by a crash are never committed entries.
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(RelayQueue {
            dir,
            news: tokio::sync::Notify::new(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Queue a message for `to`; returns its id once it is durable.
    pub fn enqueue(
        &self,
        from: Option<&Mailbox>,
        to: &[Mailbox],
        parts: &[&[u8]],
    ) -> io::Result<String> {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let id = format!(
            "{:x}{:05x}{:x}{:x}",
            t.as_secs(),
            t.subsec_micros(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let entry = QueueEntry {
            id: id.clone(),
            from: from.map(ToString::to_string),
            recipients: to
                .iter()
                .map(|m| (m.to_string(), RecipientState::Pending))
                .collect(),
            created: now(),
            attempts: 0,
            next_attempt: now(),
            last_error: None,
        };
        write_durably(&self.dir, &format!("{id}.eml"), parts)?;
        write_durably(
            &self.dir,
            &format!("{id}.env"),
            &[entry.render().as_bytes()],
        )?;
        File::open(&self.dir)?.sync_all()?;
        self.news.notify_one();
        Ok(id)
    }

    /// Wait until something is queued (a permit is kept if nobody was waiting).
    pub async fn notified(&self) {
        self.news.notified().await;
    }

    /// Every committed entry, oldest first.
    pub fn list(&self) -> io::Result<Vec<QueueEntry>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".env")) else {
                continue;
            };
            if id.starts_with('.') {
                continue;
            }
            if let Some(e) = self.load(id)? {
                out.push(e);
            }
        }
        out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(out)
    }

    /// Load one entry (`None` if it vanished or is unreadable).
    pub fn load(&self, id: &str) -> io::Result<Option<QueueEntry>> {
        match fs::read_to_string(self.dir.join(format!("{id}.env"))) {
            Ok(text) => Ok(QueueEntry::parse(id, &text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The message bytes of an entry.
    pub fn message(&self, id: &str) -> io::Result<Vec<u8>> {
        fs::read(self.dir.join(format!("{id}.eml")))
    }

    /// Save an updated envelope durably.
    pub fn update(&self, entry: &QueueEntry) -> io::Result<()> {
        write_durably(
            &self.dir,
            &format!("{}.env", entry.id),
            &[entry.render().as_bytes()],
        )?;
        File::open(&self.dir)?.sync_all()
    }

    /// Remove an entry (all recipients done). The envelope goes first, so a crash in between
    /// leaves only an orphan message file, never an entry without its message.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        for ext in ["env", "eml"] {
            match fs::remove_file(self.dir.join(format!("{id}.{ext}"))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        File::open(&self.dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use torsion_core::testkit::TempDir;

    fn mb(s: &str) -> Mailbox {
        crate::proto::command::parse_mailbox(s).unwrap()
    }

    #[test]
    fn entries_survive_reopening_and_update() {
        let dir = TempDir::new("queue").unwrap();
        let q = RelayQueue::open(dir.path()).unwrap();
        let id = q
            .enqueue(
                Some(&mb("a@here.test")),
                &[mb("b@far.test"), mb("c@far.test")],
                &[b"Received: x\r\n", b"body"],
            )
            .unwrap();
        std::fs::write(dir.path().join(".junk.tmp"), b"half").unwrap();
        let q = RelayQueue::open(dir.path()).unwrap();
        assert!(!dir.path().join(".junk.tmp").exists());
        let list = q.list().unwrap();
        assert_eq!(list.len(), 1);
        let mut e = list[0].clone();
        assert_eq!(e.id, id);
        assert_eq!(e.from.as_deref(), Some("a@here.test"));
        assert_eq!(
            e.recipients[1],
            ("c@far.test".into(), RecipientState::Pending)
        );
        assert_eq!(q.message(&id).unwrap(), b"Received: x\r\nbody");
        e.attempts = 2;
        e.recipients[0].1 = RecipientState::Delivered;
        e.recipients[1].1 = RecipientState::Failed("550 5.1.1 no such user".into());
        e.last_error = Some("451 try\nlater".into());
        q.update(&e).unwrap();
        let back = q.load(&id).unwrap().unwrap();
        assert_eq!(back.recipients, e.recipients);
        assert_eq!(back.last_error.as_deref(), Some("451 trylater"));
        q.remove(&id).unwrap();
        assert!(q.list().unwrap().is_empty());
        // A null sender (a bounce) round-trips as None.
        let id = q.enqueue(None, &[mb("x@far.test")], &[b"m"]).unwrap();
        assert_eq!(q.load(&id).unwrap().unwrap().from, None);
    }
}
