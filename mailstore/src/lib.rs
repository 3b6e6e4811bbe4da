//! Torsion mail storage, shared by the SMTP, IMAP and POP3 servers.
//!
//! * [`MailStore`] — the mail root: `ROOT/domain/user/` is a Maildir++ mailbox (INBOX in
//!   `cur/ new/ tmp/`, folders in `.Name`), readable by Dovecot, mutt and other Maildir tools.
//! * [`Maildir`] — durable delivery (tmp → fsync → rename into new → fsync dir: a server may
//!   acknowledge only after it returns), and the IMAP/POP3 view: [`Maildir::sync`] moves `new/`
//!   to `cur/` and lists messages with stable UIDs, MODSEQs, sizes and internal dates from a
//!   persistent [`index`], [`Flags`] and [`Keywords`] from the file names (as Dovecot and
//!   mutt write them); [`Maildir::store`], [`Maildir::expunge`], [`Maildir::append`] and
//!   [`Maildir::copy_into`] change it.
//! * [`Directory`] — local domains, accounts (torsion-core credential file,
//!   `user@domain:{SCHEME}hash`) and aliases with catch-alls, resolved with a loop limit.
//!
//! ```
//! use torsion_mailstore::{MailAddress, MailStore};
//! # let dir = torsion_core::testkit::TempDir::new("doc").unwrap();
//! let store = MailStore::open(dir.path())?;
//! let alice = MailAddress::parse("alice@example.test")?;
//! store.deliver(&[alice.clone()], &[b"Subject: hi\r\n\r\nHello\r\n"])?;
//! let mailbox = store.inbox(&alice)?.sync()?;
//! assert_eq!(mailbox.messages.len(), 1);
//! assert_eq!(mailbox.messages[0].uid, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod address;
pub mod backend;
pub mod cache;
pub mod crlf;
pub mod directory;
pub mod flags;
pub mod headers;
pub mod index;
pub mod key;
pub mod keywords;
pub mod maildir;
pub mod mutf7;
pub mod store;
pub mod watch;

pub use address::{AddressError, MailAddress};
pub use backend::{Mailbox, SessionLock, Store};
pub use directory::{AliasError, Aliases, Directory, Route};
pub use flags::Flags;
pub use keywords::{KeywordTable, Keywords};
pub use maildir::{Changes, Maildir, Message, NewMessage, Snapshot, Stage, StoreOutcome};
pub use store::{FolderError, MailStore};
