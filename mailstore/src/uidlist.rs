//! IMAP UIDs for a Maildir, kept in `torsion-uidlist` beside `cur/ new/ tmp/` (the role of
//! Dovecot's `dovecot-uidlist`): `V<uidvalidity> N<uidnext>` then one `<uid> <key>` per line.
//! Updates happen under an exclusive lock on `torsion-uidlist.lock` and are written to a
//! temporary file then renamed, so a reader never sees half a list and concurrent IMAP and POP3
//! sessions agree on every UID. UIDs only grow; an expunged message's UID is never reused.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const FILE: &str = "torsion-uidlist";
const LOCK: &str = "torsion-uidlist.lock";

/// The UID state of one mailbox.
#[derive(Debug, Clone)]
pub struct UidList {
    /// UIDVALIDITY (the creation time of the list).
    pub uid_validity: u32,
    /// The next UID to assign.
    pub uid_next: u32,
    /// Message key → UID.
    pub uids: HashMap<String, u32>,
}

impl UidList {
    fn parse(text: &str) -> Option<UidList> {
        let mut lines = text.lines();
        let header = lines.next()?;
        let mut validity = None;
        let mut next = None;
        for word in header.split_whitespace() {
            if let Some(v) = word.strip_prefix('V') {
                validity = v.parse().ok();
            } else if let Some(n) = word.strip_prefix('N') {
                next = n.parse().ok();
            }
        }
        let mut uids = HashMap::new();
        for line in lines {
            let (uid, key) = line.split_once(' ')?;
            uids.insert(key.to_owned(), uid.parse().ok()?);
        }
        Some(UidList {
            uid_validity: validity?,
            uid_next: next?,
            uids,
        })
    }

    fn render(&self) -> String {
        let mut entries: Vec<(&String, &u32)> = self.uids.iter().collect();
        entries.sort_by_key(|(_, uid)| **uid);
        let mut out = format!("V{} N{}\n", self.uid_validity, self.uid_next);
        for (key, uid) in entries {
            out.push_str(&format!("{uid} {key}\n"));
        }
        out
    }

    /// Bring the list in `dir` up to date with the messages `present` (their keys): new keys get
    /// the next UIDs (in name order, which is delivery order), vanished keys are dropped.
    pub fn update(dir: &Path, present: &[&str]) -> io::Result<UidList> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK))?;
        lock.lock()?;
        let path = dir.join(FILE);
        let existing = match fs::read_to_string(&path) {
            Ok(text) => UidList::parse(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let mut list = existing.unwrap_or_else(|| UidList {
            uid_validity: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as u32)
                .unwrap_or(1)
                .max(1),
            uid_next: 1,
            uids: HashMap::new(),
        });
        let before = list.uids.len();
        let present_set: std::collections::HashSet<&str> = present.iter().copied().collect();
        list.uids.retain(|k, _| present_set.contains(k.as_str()));
        let mut fresh: Vec<&str> = present
            .iter()
            .copied()
            .filter(|k| !list.uids.contains_key(*k))
            .collect();
        fresh.sort_unstable();
        let changed = !fresh.is_empty() || list.uids.len() != before || !path.exists();
        for key in fresh {
            list.uids.insert(key.to_owned(), list.uid_next);
            list.uid_next += 1;
        }
        if changed {
            let tmp = dir.join(format!("{FILE}.tmp"));
            let mut file = File::create(&tmp)?;
            file.write_all(list.render().as_bytes())?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
        }
        lock.unlock()?;
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use torsion_core::testkit::TempDir;

    #[test]
    fn assigns_and_keeps_uids() {
        let dir = TempDir::new("uidlist").unwrap();
        let a = UidList::update(dir.path(), &["b", "a"]).unwrap();
        assert_eq!(a.uids["a"], 1);
        assert_eq!(a.uids["b"], 2);
        let b = UidList::update(dir.path(), &["a", "c"]).unwrap();
        assert_eq!(b.uids["a"], 1);
        assert_eq!(b.uids["c"], 3);
        assert!(!b.uids.contains_key("b"));
        assert_eq!(b.uid_validity, a.uid_validity);
        assert_eq!(b.uid_next, 4);
        let text = fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(text.starts_with(&format!("V{} N4\n", a.uid_validity)));
        assert!(UidList::parse("garbage").is_none());
    }
}
