//! The mail root: `ROOT/domain/user/` is the Maildir++ mailbox of `user@domain` (INBOX in its
//! `cur/ new/ tmp/`, folders in `.Name` subdirectories, `.Parent.Child` for hierarchy).
//!
//! Folder names are UTF-8 at this API and the hierarchy separator is `.` (Maildir++'s, and
//! what IMAP clients are told), so `Archive.2026` is the child `2026` of `Archive` and lives in
//! `.Archive.2026`. On disk a name is in modified UTF-7 ([`crate::mutf7`]), as Dovecot writes
//! Maildir++ folders, so a mail root Dovecot wrote is read as is and the other way round.
//!
//! Beside the folders the account directory holds `subscriptions` (one mailbox name per line;
//! Dovecot's `V\t2` format is read too) and `torsion-special-use` (`\Sent Sent` lines: which
//! folder has which RFC 6154 use).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::address::MailAddress;
use crate::index::IndexLock;
use crate::maildir::{Maildir, Stage};
use crate::mutf7;

/// The subscriptions file in an account directory (Dovecot's name).
pub const SUBSCRIPTIONS: &str = "subscriptions";
/// The special-use file in an account directory.
pub const SPECIAL_USE: &str = "torsion-special-use";

/// RFC 6154 special uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpecialUse {
    /// `\All`
    All,
    /// `\Archive`
    Archive,
    /// `\Drafts`
    Drafts,
    /// `\Flagged`
    Flagged,
    /// `\Junk`
    Junk,
    /// `\Sent`
    Sent,
    /// `\Trash`
    Trash,
}

impl SpecialUse {
    /// Every use.
    pub const ALL: [SpecialUse; 7] = [
        SpecialUse::All,
        SpecialUse::Archive,
        SpecialUse::Drafts,
        SpecialUse::Flagged,
        SpecialUse::Junk,
        SpecialUse::Sent,
        SpecialUse::Trash,
    ];

    /// The LIST attribute (`\Sent`).
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }

    /// From an attribute, any case.
    pub fn parse(attribute: &str) -> Option<SpecialUse> {
        Self::ALL
            .into_iter()
            .find(|u| u.attribute().eq_ignore_ascii_case(attribute))
    }
}

/// The folders a new account gets, with their uses (the names Thunderbird, Apple Mail and
/// Dovecot's default configuration use).
pub const DEFAULT_FOLDERS: [(&str, SpecialUse); 5] = [
    ("Archive", SpecialUse::Archive),
    ("Drafts", SpecialUse::Drafts),
    ("Junk", SpecialUse::Junk),
    ("Sent", SpecialUse::Sent),
    ("Trash", SpecialUse::Trash),
];

/// A mailbox of an account, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// Its name (`INBOX`, or a folder's UTF-8 name with `.` between levels).
    pub name: String,
    /// Its special use, if any.
    pub special_use: Option<SpecialUse>,
}

/// Hierarchy separator inside Maildir++ folder names.
pub const SEPARATOR: char = '.';
/// Longest folder name.
pub const MAX_FOLDER_NAME: usize = 200;

/// Why a folder operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// Empty, too long, or with a character that cannot be a directory name.
    #[error("invalid folder name")]
    InvalidName,
    /// The folder (or INBOX) cannot be created, deleted or renamed that way.
    #[error("folder already exists")]
    Exists,
    /// No such folder.
    #[error("no such folder")]
    NotFound,
    /// INBOX cannot be deleted or renamed here.
    #[error("INBOX cannot be changed that way")]
    Inbox,
    /// The file system said no.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Every mailbox under one root directory.
#[derive(Debug, Clone)]
pub struct MailStore {
    root: PathBuf,
}

/// Whether `name` may be a folder: no empty level, no `/`, `\\`, NUL or control character,
/// not too long once encoded — so no name can leave the account directory.
fn check_folder(name: &str) -> Result<(), FolderError> {
    let bad = name.is_empty()
        || mutf7::encode(name).len() > MAX_FOLDER_NAME
        || name.starts_with(SEPARATOR)
        || name.ends_with(SEPARATOR)
        || name.contains("..")
        || name.contains(['/', '\\', '\0'])
        || name.chars().any(char::is_control)
        || name.eq_ignore_ascii_case("INBOX");
    if bad {
        Err(FolderError::InvalidName)
    } else {
        Ok(())
    }
}

impl MailStore {
    /// A store rooted at `root` (created, mode 0700, if missing).
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)?;
        Ok(MailStore { root })
    }

    /// The root directory.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// The directory of `addr`'s mailbox.
    pub fn mailbox_path(&self, addr: &MailAddress) -> PathBuf {
        self.root.join(addr.domain()).join(addr.local())
    }

    /// `addr`'s INBOX (created on first use).
    pub fn inbox(&self, addr: &MailAddress) -> io::Result<Maildir> {
        Maildir::create(self.mailbox_path(addr))
    }

    /// A folder of `addr` by name (`INBOX`, case-insensitive, is the inbox); it must exist.
    pub fn folder(&self, addr: &MailAddress, name: &str) -> Result<Maildir, FolderError> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok(self.inbox(addr)?);
        }
        check_folder(name)?;
        let md = Maildir::new(self.folder_dir(addr, name));
        if md.exists() {
            Ok(md)
        } else {
            Err(FolderError::NotFound)
        }
    }

    /// Create a folder (with `maildirfolder` marker, as Maildir++ asks).
    pub fn create_folder(&self, addr: &MailAddress, name: &str) -> Result<Maildir, FolderError> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Err(FolderError::Exists);
        }
        check_folder(name)?;
        self.inbox(addr)?;
        let path = self.folder_dir(addr, name);
        if path.exists() {
            return Err(FolderError::Exists);
        }
        let md = Maildir::create(path)?;
        fs::write(md.path().join("maildirfolder"), b"")?;
        Ok(md)
    }

    /// The directory of folder `name` (checked by the caller).
    fn folder_dir(&self, addr: &MailAddress, name: &str) -> PathBuf {
        self.mailbox_path(addr)
            .join(format!(".{}", mutf7::encode(name)))
    }

    /// Create a folder with a special use (RFC 6154 CREATE-SPECIAL-USE).
    pub fn create_special(
        &self,
        addr: &MailAddress,
        name: &str,
        use_: Option<SpecialUse>,
    ) -> Result<Maildir, FolderError> {
        let md = self.create_folder(addr, name)?;
        if let Some(use_) = use_ {
            self.edit_special_use(addr, |uses| {
                uses.retain(|(u, _)| *u != use_);
                uses.push((use_, name.to_owned()));
            })?;
        }
        Ok(md)
    }

    /// Delete a folder and its messages (its children stay, as IMAP asks: RFC 9051 §6.3.5).
    pub fn delete_folder(&self, addr: &MailAddress, name: &str) -> Result<(), FolderError> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Err(FolderError::Inbox);
        }
        let md = self.folder(addr, name)?;
        fs::remove_dir_all(md.path())?;
        self.edit_special_use(addr, |uses| uses.retain(|(_, n)| n != name))?;
        Ok(())
    }

    /// Rename a folder and its children (`Old.X` → `New.X`); special uses follow, as do the
    /// subscriptions of what was renamed.
    pub fn rename_folder(
        &self,
        addr: &MailAddress,
        from: &str,
        to: &str,
    ) -> Result<(), FolderError> {
        if from.eq_ignore_ascii_case("INBOX") || to.eq_ignore_ascii_case("INBOX") {
            return Err(FolderError::Inbox);
        }
        check_folder(to)?;
        if to.starts_with(&format!("{from}{SEPARATOR}")) {
            return Err(FolderError::InvalidName);
        }
        let old = self.folder(addr, from)?;
        if self.folder_dir(addr, to).exists() {
            return Err(FolderError::Exists);
        }
        let prefix = format!("{from}{SEPARATOR}");
        let children: Vec<String> = self
            .folders(addr)?
            .into_iter()
            .filter(|f| f.starts_with(&prefix))
            .collect();
        fs::rename(old.path(), self.folder_dir(addr, to))?;
        for child in &children {
            let rest = &child[from.len()..];
            fs::rename(
                self.folder_dir(addr, child),
                self.folder_dir(addr, &format!("{to}{rest}")),
            )?;
        }
        let renamed = |n: &str| -> Option<String> {
            if n == from {
                Some(to.to_owned())
            } else {
                n.strip_prefix(&prefix)
                    .map(|rest| format!("{to}{SEPARATOR}{rest}"))
            }
        };
        self.edit_special_use(addr, |uses| {
            for (_, n) in uses.iter_mut() {
                if let Some(new) = renamed(n) {
                    *n = new;
                }
            }
        })?;
        let _lock = self.account_lock(addr)?;
        let subs = self.subscriptions(addr)?;
        if subs.iter().any(|n| renamed(n).is_some()) {
            let updated: Vec<String> = subs.into_iter().map(|n| renamed(&n).unwrap_or(n)).collect();
            self.write_subscriptions(addr, &updated)?;
        }
        Ok(())
    }

    /// RENAME INBOX (RFC 9051 §6.3.6): "moves all messages in INBOX to a new mailbox with
    /// the given name, leaving INBOX empty"; INBOX's own children are not affected. The
    /// messages keep flags, keywords and dates (hard links, then expunged from INBOX); a
    /// message delivered meanwhile stays in INBOX.
    pub fn rename_inbox(&self, addr: &MailAddress, to: &str) -> Result<(), FolderError> {
        if to.eq_ignore_ascii_case("INBOX") {
            return Err(FolderError::Inbox);
        }
        let dest = self.create_folder(addr, to)?;
        let inbox = self.inbox(addr)?;
        let snapshot = inbox.sync()?;
        let (_, pairs) = inbox.copy_into(&snapshot.messages, &snapshot.keywords, &dest)?;
        let moved: Vec<u32> = pairs.iter().map(|&(from, _)| from).collect();
        inbox.expunge(&moved)?;
        Ok(())
    }

    /// Names of `addr`'s folders (not INBOX), sorted. Directory names that are not modified
    /// UTF-7 (written by a program that put raw UTF-8 there) are shown as they are.
    pub fn folders(&self, addr: &MailAddress) -> io::Result<Vec<String>> {
        let dir = self.mailbox_path(addr);
        let mut out = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(folder) = name.strip_prefix('.') {
                if !folder.is_empty()
                    && entry.path().is_dir()
                    && Maildir::new(entry.path()).exists()
                {
                    out.push(mutf7::decode(folder).unwrap_or_else(|| folder.to_owned()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// INBOX and every folder of `addr`, with special uses.
    pub fn mailboxes(&self, addr: &MailAddress) -> io::Result<Vec<MailboxInfo>> {
        let uses = self.special_uses(addr)?;
        let use_of = |name: &str| uses.iter().find(|(_, n)| n == name).map(|(u, _)| *u);
        let mut out = vec![MailboxInfo {
            name: "INBOX".into(),
            special_use: None,
        }];
        for name in self.folders(addr)? {
            out.push(MailboxInfo {
                special_use: use_of(&name),
                name,
            });
        }
        Ok(out)
    }

    /// Give a new account its INBOX and the default folders ([`DEFAULT_FOLDERS`]), subscribed,
    /// with their special uses; an account that has any folder already is left alone (mail
    /// written by another server keeps its layout). Returns whether it provisioned.
    pub fn provision(&self, addr: &MailAddress) -> io::Result<bool> {
        self.inbox(addr)?;
        let _lock = self.account_lock(addr)?;
        if !self.folders(addr)?.is_empty() {
            return Ok(false);
        }
        let mut subs = self.subscriptions(addr)?;
        let mut uses = Vec::new();
        for (name, use_) in DEFAULT_FOLDERS {
            match self.create_folder(addr, name) {
                Ok(_) | Err(FolderError::Exists) => {}
                Err(FolderError::Io(e)) => return Err(e),
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
            uses.push((use_, name.to_owned()));
            if !subs.iter().any(|s| s == name) {
                subs.push(name.to_owned());
            }
        }
        if !subs.iter().any(|s| s == "INBOX") {
            subs.insert(0, "INBOX".to_owned());
        }
        write_lines(
            &self.mailbox_path(addr).join(SPECIAL_USE),
            uses.iter().map(|(u, n)| format!("{} {n}", u.attribute())),
        )?;
        self.write_subscriptions(addr, &subs)?;
        Ok(true)
    }

    /// (use, folder) pairs of `addr`.
    pub fn special_uses(&self, addr: &MailAddress) -> io::Result<Vec<(SpecialUse, String)>> {
        Ok(read_lines(&self.mailbox_path(addr).join(SPECIAL_USE))?
            .iter()
            .filter_map(|l| {
                let (u, n) = l.split_once(' ')?;
                Some((SpecialUse::parse(u)?, n.to_owned()))
            })
            .collect())
    }

    fn edit_special_use(
        &self,
        addr: &MailAddress,
        edit: impl FnOnce(&mut Vec<(SpecialUse, String)>),
    ) -> io::Result<()> {
        let _lock = self.account_lock(addr)?;
        let mut uses = self.special_uses(addr)?;
        let before = uses.clone();
        edit(&mut uses);
        if uses != before {
            write_lines(
                &self.mailbox_path(addr).join(SPECIAL_USE),
                uses.iter().map(|(u, n)| format!("{} {n}", u.attribute())),
            )?;
        }
        Ok(())
    }

    /// The mailboxes `addr` subscribed to (LSUB, LIST (SUBSCRIBED)), in file order. Reads the
    /// one-name-per-line form and Dovecot's `V\t2` form (levels separated by tabs).
    pub fn subscriptions(&self, addr: &MailAddress) -> io::Result<Vec<String>> {
        let lines = read_lines(&self.mailbox_path(addr).join(SUBSCRIPTIONS))?;
        let dovecot = lines.first().is_some_and(|l| l.starts_with("V\t"));
        let mut out: Vec<String> = Vec::new();
        for line in lines.iter().skip(usize::from(dovecot)) {
            if line.is_empty() {
                continue;
            }
            let name = if dovecot {
                line.replace('\t', &SEPARATOR.to_string())
            } else {
                line.clone()
            };
            if !out.contains(&name) {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Subscribe (`on`) or unsubscribe `name` (which need not exist: RFC 9051 §6.3.7).
    pub fn set_subscribed(&self, addr: &MailAddress, name: &str, on: bool) -> io::Result<()> {
        if name.is_empty() || name.contains(['\n', '\r', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid mailbox name",
            ));
        }
        let _lock = self.account_lock(addr)?;
        let mut subs = self.subscriptions(addr)?;
        let had = subs.iter().any(|s| s == name);
        match (on, had) {
            (true, false) => subs.push(name.to_owned()),
            (false, true) => subs.retain(|s| s != name),
            _ => return Ok(()),
        }
        self.write_subscriptions(addr, &subs)
    }

    fn write_subscriptions(&self, addr: &MailAddress, subs: &[String]) -> io::Result<()> {
        write_lines(
            &self.mailbox_path(addr).join(SUBSCRIPTIONS),
            subs.iter().cloned(),
        )
    }

    /// The account-wide lock (special uses, subscriptions, provisioning).
    fn account_lock(&self, addr: &MailAddress) -> io::Result<IndexLock> {
        let dir = self.mailbox_path(addr);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        IndexLock::acquire_named(&dir, "torsion-account.lock")
    }

    /// Deliver one message (given in parts) to each address's INBOX: one copy per recipient,
    /// each durable before this returns. Returns the file names in order.
    pub fn deliver(&self, to: &[MailAddress], parts: &[&[u8]]) -> io::Result<Vec<String>> {
        to.iter()
            .map(|addr| self.inbox(addr)?.deliver_parts(parts, &mut |_: Stage| {}))
            .collect()
    }
}

/// Lines of a small file (missing: none).
fn read_lines(path: &Path) -> io::Result<Vec<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Replace a small file with `lines` (temporary file, fsync, rename).
fn write_lines(path: &Path, lines: impl Iterator<Item = String>) -> io::Result<()> {
    let mut text = String::new();
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use torsion_core::testkit::TempDir;

    fn alice() -> MailAddress {
        MailAddress::parse("alice@example.test").unwrap()
    }

    #[test]
    fn layout_and_folders() {
        let dir = TempDir::new("store").unwrap();
        let store = MailStore::open(dir.path().join("mail")).unwrap();
        let names = store
            .deliver(&[alice()], &[b"Received: x\r\n", b"\r\nbody"])
            .unwrap();
        let path = dir
            .path()
            .join("mail/example.test/alice/new")
            .join(&names[0]);
        assert_eq!(fs::read(path).unwrap(), b"Received: x\r\n\r\nbody");
        store.create_folder(&alice(), "Archive").unwrap();
        store.create_folder(&alice(), "Archive.2026").unwrap();
        assert!(matches!(
            store.create_folder(&alice(), "Archive"),
            Err(FolderError::Exists)
        ));
        assert!(matches!(
            store.create_folder(&alice(), "../etc"),
            Err(FolderError::InvalidName)
        ));
        assert_eq!(
            store.folders(&alice()).unwrap(),
            ["Archive", "Archive.2026"]
        );
        store.rename_folder(&alice(), "Archive", "Old").unwrap();
        assert_eq!(store.folders(&alice()).unwrap(), ["Old", "Old.2026"]);
        assert!(store.folder(&alice(), "inbox").is_ok());
        assert!(matches!(
            store.delete_folder(&alice(), "INBOX"),
            Err(FolderError::Inbox)
        ));
        store.delete_folder(&alice(), "Old.2026").unwrap();
        assert_eq!(store.folders(&alice()).unwrap(), ["Old"]);
        assert!(dir
            .path()
            .join("mail/example.test/alice/.Old/maildirfolder")
            .exists());
    }

    #[test]
    fn renaming_inbox_moves_its_messages_and_leaves_it_empty() {
        let dir = TempDir::new("store").unwrap();
        let store = MailStore::open(dir.path().join("mail")).unwrap();
        store
            .deliver(&[alice()], &[b"Subject: one\r\n\r\n1"])
            .unwrap();
        store
            .deliver(&[alice()], &[b"Subject: two\r\n\r\n2"])
            .unwrap();
        store.create_folder(&alice(), "INBOX.Child").unwrap();
        store.rename_inbox(&alice(), "Old Mail").unwrap();
        let inbox = store.inbox(&alice()).unwrap().sync().unwrap();
        assert!(inbox.messages.is_empty());
        let old = store.folder(&alice(), "Old Mail").unwrap();
        let moved = old.sync().unwrap();
        assert_eq!(moved.messages.len(), 2);
        assert_eq!(
            old.read(&moved.messages[1]).unwrap(),
            b"Subject: two\r\n\r\n2"
        );
        assert!(store.folder(&alice(), "INBOX.Child").is_ok());
        assert!(matches!(
            store.rename_inbox(&alice(), "Old Mail"),
            Err(FolderError::Exists)
        ));
        // INBOX still takes deliveries.
        store
            .deliver(&[alice()], &[b"Subject: three\r\n\r\n3"])
            .unwrap();
        assert_eq!(
            store
                .inbox(&alice())
                .unwrap()
                .sync()
                .unwrap()
                .messages
                .len(),
            1
        );
    }

    #[test]
    fn names_are_modified_utf7_on_disk_and_cannot_escape() {
        let dir = TempDir::new("store").unwrap();
        let store = MailStore::open(dir.path()).unwrap();
        store.create_folder(&alice(), "Entwürfe").unwrap();
        store.create_folder(&alice(), "R&D.台北").unwrap();
        let account = dir.path().join("example.test/alice");
        assert!(account.join(".Entw&APw-rfe").is_dir());
        assert!(account.join(".R&-D.&U,BTFw-").is_dir());
        assert_eq!(store.folders(&alice()).unwrap(), ["Entwürfe", "R&D.台北"]);
        // A folder another program made with raw UTF-8 is still listed.
        Maildir::create(account.join(".Café")).unwrap();
        assert!(store
            .folders(&alice())
            .unwrap()
            .contains(&"Café".to_owned()));
        for bad in [
            "",
            ".",
            "a..b",
            ".x",
            "x.",
            "../../etc",
            "a/b",
            "a\\b",
            "nul\0",
            "tab\t",
            "inbox",
            &"x".repeat(201),
        ] {
            assert!(
                matches!(
                    store.create_folder(&alice(), bad),
                    Err(FolderError::InvalidName | FolderError::Exists)
                ),
                "{bad:?}"
            );
        }
        assert!(
            fs::read_dir(dir.path()).unwrap().count() == 1,
            "nothing outside the domain directory"
        );
    }

    #[test]
    fn provisioning_special_use_and_subscriptions() {
        let dir = TempDir::new("store").unwrap();
        let store = MailStore::open(dir.path()).unwrap();
        assert!(store.provision(&alice()).unwrap());
        assert!(!store.provision(&alice()).unwrap(), "only once");
        let boxes = store.mailboxes(&alice()).unwrap();
        let names: Vec<_> = boxes.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names,
            ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]
        );
        assert_eq!(boxes[4].special_use, Some(SpecialUse::Sent));
        assert_eq!(boxes[0].special_use, None);
        assert_eq!(
            store.subscriptions(&alice()).unwrap(),
            ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]
        );
        // An account with folders of its own (Dovecot's) is not touched.
        let bob = MailAddress::parse("bob@example.test").unwrap();
        store.create_folder(&bob, "Mine").unwrap();
        assert!(!store.provision(&bob).unwrap());
        assert_eq!(store.folders(&bob).unwrap(), ["Mine"]);
        // CREATE-SPECIAL-USE, and uses and subscriptions follow a rename.
        store
            .create_special(&alice(), "Everything", Some(SpecialUse::All))
            .unwrap();
        store.create_folder(&alice(), "Sent.2026").unwrap();
        store.set_subscribed(&alice(), "Sent.2026", true).unwrap();
        store.set_subscribed(&alice(), "Sent.2026", true).unwrap();
        store.rename_folder(&alice(), "Sent", "Outbox").unwrap();
        let uses = store.special_uses(&alice()).unwrap();
        assert!(
            uses.contains(&(SpecialUse::Sent, "Outbox".into())),
            "{uses:?}"
        );
        assert!(uses.contains(&(SpecialUse::All, "Everything".into())));
        let subs = store.subscriptions(&alice()).unwrap();
        assert!(
            subs.contains(&"Outbox".into()) && subs.contains(&"Outbox.2026".into()),
            "{subs:?}"
        );
        assert_eq!(
            subs.iter().filter(|s| s.starts_with("Outbox.2026")).count(),
            1
        );
        assert!(matches!(
            store.rename_folder(&alice(), "Outbox", "Outbox.Inner"),
            Err(FolderError::InvalidName)
        ));
        store.delete_folder(&alice(), "Everything").unwrap();
        assert!(!store
            .special_uses(&alice())
            .unwrap()
            .iter()
            .any(|(u, _)| *u == SpecialUse::All));
        // Unsubscribing from a mailbox that no longer exists works (RFC 9051 §6.3.8).
        store.set_subscribed(&alice(), "Gone", true).unwrap();
        store.set_subscribed(&alice(), "Gone", false).unwrap();
        assert!(!store
            .subscriptions(&alice())
            .unwrap()
            .contains(&"Gone".into()));
        // Dovecot's own subscriptions format.
        fs::write(
            dir.path().join("example.test/bob").join(SUBSCRIPTIONS),
            "V\t2\n\nMine\nLists\tRust\n",
        )
        .unwrap();
        assert_eq!(store.subscriptions(&bob).unwrap(), ["Mine", "Lists.Rust"]);
    }
}
