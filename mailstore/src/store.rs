//! The mail root: `ROOT/domain/user/` is the Maildir++ mailbox of `user@domain` (INBOX in its
//! `cur/ new/ tmp/`, folders in `.Name` subdirectories, `.Parent.Child` for hierarchy).

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use crate::address::MailAddress;
use crate::maildir::{Maildir, Stage};

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

fn check_folder(name: &str) -> Result<(), FolderError> {
    let bad = name.is_empty()
        || name.len() > MAX_FOLDER_NAME
        || name.starts_with(SEPARATOR)
        || name.ends_with(SEPARATOR)
        || name.contains("..")
        || name.contains(['/', '\\', '\0'])
        || name.chars().any(char::is_control);
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
        let md = Maildir::new(self.mailbox_path(addr).join(format!(".{name}")));
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
        let path = self.mailbox_path(addr).join(format!(".{name}"));
        if path.exists() {
            return Err(FolderError::Exists);
        }
        let md = Maildir::create(path)?;
        fs::write(md.path().join("maildirfolder"), b"")?;
        Ok(md)
    }

    /// Delete a folder and its messages.
    pub fn delete_folder(&self, addr: &MailAddress, name: &str) -> Result<(), FolderError> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Err(FolderError::Inbox);
        }
        let md = self.folder(addr, name)?;
        fs::remove_dir_all(md.path())?;
        Ok(())
    }

    /// Rename a folder (and its children, `.Old.X` → `.New.X`).
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
        let old = self.folder(addr, from)?;
        let base = self.mailbox_path(addr);
        if base.join(format!(".{to}")).exists() {
            return Err(FolderError::Exists);
        }
        let children: Vec<String> = self
            .folders(addr)?
            .into_iter()
            .filter(|f| f.starts_with(&format!("{from}{SEPARATOR}")))
            .collect();
        fs::rename(old.path(), base.join(format!(".{to}")))?;
        for child in children {
            let rest = &child[from.len()..];
            fs::rename(
                base.join(format!(".{child}")),
                base.join(format!(".{to}{rest}")),
            )?;
        }
        Ok(())
    }

    /// Names of `addr`'s folders (not INBOX), sorted.
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
                    out.push(folder.to_owned());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Deliver one message (given in parts) to each address's INBOX: one copy per recipient,
    /// each durable before this returns. Returns the file names in order.
    pub fn deliver(&self, to: &[MailAddress], parts: &[&[u8]]) -> io::Result<Vec<String>> {
        to.iter()
            .map(|addr| self.inbox(addr)?.deliver_parts(parts, &mut |_: Stage| {}))
            .collect()
    }
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
}
