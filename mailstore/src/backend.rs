//! The interface the IMAP and POP3 sessions use to reach mail: [`Store`] (an account's
//! mailboxes, subscriptions and special uses) and [`Mailbox`] (one mailbox's messages). The
//! sessions hold these trait objects, never a Maildir path, so another back end (a database
//! shared by several server nodes) can stand in for [`MailStore`] and [`Maildir`], which
//! implement them here and stay the embedded default.
//!
//! The contract every back end keeps (what the sessions rely on):
//! - UIDs ascend within a UIDVALIDITY and are never reused in it; a new UIDVALIDITY
//!   ([`SyncReport::rebuilt`](crate::index::SyncReport)) means every UID the client knows is
//!   void (RFC 9051 §2.3.1.1).
//! - Every change (flags, expunge, new message) gets a MODSEQ above every earlier one
//!   (RFC 7162), so [`Mailbox::changes`] can say what changed since a MODSEQ.
//! - A message's content never changes; it is read with CRLF line ends, `size` bytes long.
//! - [`Mailbox::watch`] wakes a session in IDLE on any change, by any writer.

use std::any::Any;
use std::fmt;
use std::io;
use std::sync::Arc;

use crate::address::MailAddress;
use crate::keywords::{KeywordTable, Keywords};
use crate::maildir::{Changes, Maildir, Message, NewMessage, Snapshot, StoreOutcome};
use crate::store::{FolderError, MailStore, MailboxInfo, SpecialUse};
use crate::watch::MailboxWatch;
use crate::Flags;

/// One mailbox (INBOX or a folder) of one account.
pub trait Mailbox: fmt::Debug + Send + Sync {
    /// The whole mailbox as of now (new mail numbered).
    fn sync(&self) -> io::Result<Snapshot>;
    /// What changed since MODSEQ `since` (every UID too, when `all` or anything changed).
    fn changes(&self, since: u64, all: bool) -> io::Result<Changes>;
    /// Claim the messages no session has been told of as `\Recent` for the caller (IMAP4rev1,
    /// RFC 3501 §2.3.2); their UIDs.
    fn claim_recent(&self) -> io::Result<Vec<u32>>;
    /// The UIDs expunged after MODSEQ `since`, ascending; `None` if not known that far back.
    fn vanished_since(&self, since: u64) -> io::Result<Option<Vec<u32>>>;
    /// A message's content, CRLF line ends, `message.size` bytes; `NotFound` once expunged.
    fn read(&self, message: &Message) -> io::Result<Vec<u8>>;
    /// The same content as a stream, for messages too large to hold (POP3 RETR); `NotFound`
    /// once expunged. Once open, the stream stays readable even if the message is expunged.
    fn open_read(&self, message: &Message) -> io::Result<Box<dyn io::Read + Send>>;
    /// The envelope header fields of each message (see [`crate::headers`]); `None` where
    /// they are not kept and the message must be read.
    fn header_fields(
        &self,
        uid_validity: u32,
        messages: &[&Message],
        live: &dyn Fn(u32) -> bool,
        live_count: usize,
    ) -> io::Result<Vec<Option<Arc<[u8]>>>>;
    /// Set flags and keywords: (UID, flags, keywords); CONDSTORE's UNCHANGEDSINCE.
    fn store(
        &self,
        changes: &[(u32, Flags, Keywords)],
        unchanged_since: Option<u64>,
    ) -> io::Result<StoreOutcome>;
    /// Remove messages; the UIDs removed.
    fn expunge(&self, uids: &[u32]) -> io::Result<Vec<u32>>;
    /// Add messages, all or none; (UIDVALIDITY, their UIDs in order).
    fn append_many(&self, messages: &[NewMessage<'_>]) -> io::Result<(u32, Vec<u32>)>;
    /// The keyword table with `names` interned; `None` for a name that cannot be.
    fn intern_keywords(&self, names: &[&str]) -> io::Result<(KeywordTable, Vec<Option<usize>>)>;
    /// Copy `messages` (with keywords named by `keywords`) into `dest`, all or none;
    /// (destination UIDVALIDITY, (source UID, new UID) pairs).
    fn copy_into(
        &self,
        messages: &[Message],
        keywords: &KeywordTable,
        dest: &dyn Mailbox,
    ) -> io::Result<(u32, Vec<(u32, u32)>)>;
    /// A subscription to this mailbox's changes.
    fn watch(&self) -> io::Result<MailboxWatch>;
    /// Whether `other` is this same mailbox.
    fn same_as(&self, other: &dyn Mailbox) -> bool;
    /// For a back end to recognise its own mailboxes (copying between two of them).
    fn as_any(&self) -> &dyn Any;
    /// Claim the mailbox for one session alone (POP3's maildrop lock, RFC 1939 §8); `None`
    /// while another holds it. The claim ends when the guard is dropped, and with the process
    /// however it ends (no stale lock).
    fn try_lock_session(&self) -> io::Result<Option<SessionLock>>;
}

/// A claim from [`Mailbox::try_lock_session`], released when dropped.
#[derive(Debug)]
pub struct SessionLock(#[allow(dead_code)] Box<dyn fmt::Debug + Send + Sync>);

impl SessionLock {
    /// A claim held by `guard` (a back end's lock object) until it is dropped.
    pub fn new(guard: impl fmt::Debug + Send + Sync + 'static) -> SessionLock {
        SessionLock(Box::new(guard))
    }
}

/// The accounts' mailboxes.
pub trait Store: fmt::Debug + Send + Sync {
    /// An existing mailbox (`INBOX` or a folder name, UTF-8, `/`-separated).
    fn mailbox(&self, addr: &MailAddress, name: &str) -> Result<Arc<dyn Mailbox>, FolderError>;
    /// Create a folder (and its missing parents), with a special use if given.
    fn create(
        &self,
        addr: &MailAddress,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<(), FolderError>;
    /// Delete a folder (not INBOX).
    fn delete(&self, addr: &MailAddress, name: &str) -> Result<(), FolderError>;
    /// Rename a folder and its children; renaming INBOX moves its messages (RFC 9051 §6.3.6).
    fn rename(&self, addr: &MailAddress, from: &str, to: &str) -> Result<(), FolderError>;
    /// Every mailbox of the account, with its special use.
    fn mailboxes(&self, addr: &MailAddress) -> io::Result<Vec<MailboxInfo>>;
    /// Subscribed names.
    fn subscriptions(&self, addr: &MailAddress) -> io::Result<Vec<String>>;
    /// Subscribe or unsubscribe.
    fn set_subscribed(&self, addr: &MailAddress, name: &str, on: bool) -> io::Result<()>;
    /// Create INBOX and the special-use folders of a new account; whether it was new.
    fn provision(&self, addr: &MailAddress) -> io::Result<bool>;
}

impl Mailbox for Maildir {
    fn try_lock_session(&self) -> io::Result<Option<SessionLock>> {
        Maildir::try_lock_session(self)
    }
    fn sync(&self) -> io::Result<Snapshot> {
        Maildir::sync(self)
    }
    fn changes(&self, since: u64, all: bool) -> io::Result<Changes> {
        Maildir::changes(self, since, all)
    }
    fn claim_recent(&self) -> io::Result<Vec<u32>> {
        Maildir::claim_recent(self)
    }
    fn vanished_since(&self, since: u64) -> io::Result<Option<Vec<u32>>> {
        Maildir::vanished_since(self, since)
    }
    fn read(&self, message: &Message) -> io::Result<Vec<u8>> {
        Maildir::read(self, message)
    }
    fn open_read(&self, message: &Message) -> io::Result<Box<dyn io::Read + Send>> {
        Maildir::open_read(self, message)
    }
    fn header_fields(
        &self,
        uid_validity: u32,
        messages: &[&Message],
        live: &dyn Fn(u32) -> bool,
        live_count: usize,
    ) -> io::Result<Vec<Option<Arc<[u8]>>>> {
        Maildir::header_fields(self, uid_validity, messages, live, live_count)
    }
    fn store(
        &self,
        changes: &[(u32, Flags, Keywords)],
        unchanged_since: Option<u64>,
    ) -> io::Result<StoreOutcome> {
        Maildir::store(self, changes, unchanged_since)
    }
    fn expunge(&self, uids: &[u32]) -> io::Result<Vec<u32>> {
        Maildir::expunge(self, uids)
    }
    fn append_many(&self, messages: &[NewMessage<'_>]) -> io::Result<(u32, Vec<u32>)> {
        Maildir::append_many(self, messages)
    }
    fn intern_keywords(&self, names: &[&str]) -> io::Result<(KeywordTable, Vec<Option<usize>>)> {
        Maildir::intern_keywords(self, names)
    }
    fn copy_into(
        &self,
        messages: &[Message],
        keywords: &KeywordTable,
        dest: &dyn Mailbox,
    ) -> io::Result<(u32, Vec<(u32, u32)>)> {
        let Some(dest) = dest.as_any().downcast_ref::<Maildir>() else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "copy between two kinds of store",
            ));
        };
        Maildir::copy_into(self, messages, keywords, dest)
    }
    fn watch(&self) -> io::Result<MailboxWatch> {
        crate::watch::watch(self.path())
    }
    fn same_as(&self, other: &dyn Mailbox) -> bool {
        other
            .as_any()
            .downcast_ref::<Maildir>()
            .is_some_and(|o| o.path() == self.path())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Store for MailStore {
    fn mailbox(&self, addr: &MailAddress, name: &str) -> Result<Arc<dyn Mailbox>, FolderError> {
        Ok(Arc::new(self.folder(addr, name)?))
    }
    fn create(
        &self,
        addr: &MailAddress,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<(), FolderError> {
        self.create_special(addr, name, special_use).map(|_| ())
    }
    fn delete(&self, addr: &MailAddress, name: &str) -> Result<(), FolderError> {
        self.delete_folder(addr, name)
    }
    fn rename(&self, addr: &MailAddress, from: &str, to: &str) -> Result<(), FolderError> {
        if from.eq_ignore_ascii_case("INBOX") {
            self.rename_inbox(addr, to)
        } else {
            self.rename_folder(addr, from, to)
        }
    }
    fn mailboxes(&self, addr: &MailAddress) -> io::Result<Vec<MailboxInfo>> {
        MailStore::mailboxes(self, addr)
    }
    fn subscriptions(&self, addr: &MailAddress) -> io::Result<Vec<String>> {
        MailStore::subscriptions(self, addr)
    }
    fn set_subscribed(&self, addr: &MailAddress, name: &str, on: bool) -> io::Result<()> {
        MailStore::set_subscribed(self, addr, name, on)
    }
    fn provision(&self, addr: &MailAddress) -> io::Result<bool> {
        MailStore::provision(self, addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use torsion_core::testkit::TempDir;

    #[test]
    fn a_session_lock_is_exclusive_until_dropped() {
        let dir = TempDir::new("backend-lock").unwrap();
        let store = MailStore::open(dir.path()).unwrap();
        let alice = MailAddress::parse("alice@example.test").unwrap();
        store.provision(&alice).unwrap();
        let one = store.mailbox(&alice, "INBOX").unwrap();
        let two = store.mailbox(&alice, "INBOX").unwrap();
        let held = one.try_lock_session().unwrap().expect("free at first");
        // Another session (another descriptor, even in this process) is refused.
        assert!(two.try_lock_session().unwrap().is_none());
        assert!(one.try_lock_session().unwrap().is_none());
        drop(held);
        assert!(two.try_lock_session().unwrap().is_some());
        // Another mailbox is another lock.
        store.create(&alice, "Work", None).unwrap();
        let _inbox = one.try_lock_session().unwrap().unwrap();
        assert!(store
            .mailbox(&alice, "Work")
            .unwrap()
            .try_lock_session()
            .unwrap()
            .is_some());
    }

    #[test]
    fn the_maildir_store_through_the_traits() {
        let dir = TempDir::new("backend").unwrap();
        let concrete = MailStore::open(dir.path()).unwrap();
        let store: Arc<dyn Store> = Arc::new(concrete.clone());
        let alice = MailAddress::parse("alice@example.test").unwrap();
        assert!(store.provision(&alice).unwrap());
        concrete
            .deliver(
                std::slice::from_ref(&alice),
                &[b"Subject: one\r\n\r\nx\r\n"],
            )
            .unwrap();
        let inbox = store.mailbox(&alice, "inbox").unwrap();
        let again = store.mailbox(&alice, "INBOX").unwrap();
        assert!(inbox.same_as(&*again));
        store.create(&alice, "Work", None).unwrap();
        let work = store.mailbox(&alice, "Work").unwrap();
        assert!(!inbox.same_as(&*work));
        let snap = inbox.sync().unwrap();
        let (_, pairs) = inbox
            .copy_into(&snap.messages, &snap.keywords, &*work)
            .unwrap();
        assert_eq!(pairs, [(1, 1)]);
        assert_eq!(
            work.read(&work.sync().unwrap().messages[0]).unwrap(),
            b"Subject: one\r\n\r\nx\r\n"
        );
        // RENAME INBOX moves its messages (RFC 9051 §6.3.6).
        store.rename(&alice, "INBOX", "Old").unwrap();
        assert!(inbox.sync().unwrap().messages.is_empty());
        assert_eq!(
            store
                .mailbox(&alice, "Old")
                .unwrap()
                .sync()
                .unwrap()
                .messages
                .len(),
            1
        );
        assert!(matches!(
            store.mailbox(&alice, "Nope"),
            Err(FolderError::NotFound)
        ));
        assert!(store
            .mailboxes(&alice)
            .unwrap()
            .iter()
            .any(|m| m.name == "Work"));
    }
}
