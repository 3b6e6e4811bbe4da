//! Torsion mail storage, shared by the SMTP, IMAP and POP3 servers.
//!
//! * [`MailStore`] — the mail root: `ROOT/domain/user/` is a Maildir++ mailbox (INBOX in
//!   `cur/ new/ tmp/`, folders in `.Name`), readable by Dovecot, mutt and other Maildir tools.
//! * [`Maildir`] — durable delivery (tmp → fsync → rename into new → fsync dir: a server may
//!   acknowledge only after it returns), and the IMAP/POP3 view: [`Maildir::scan`] moves `new/`
//!   to `cur/` and lists messages with stable UIDs ([`uidlist`]), [`Flags`] and sizes.
//! * [`Directory`] — local domains, accounts (torsion-core credential file,
//!   `user@domain:{SCHEME}hash`) and aliases with catch-alls, resolved with a loop limit.
//!
//! ```
//! use torsion_mailstore::{MailAddress, MailStore};
//! # let dir = torsion_core::testkit::TempDir::new("doc").unwrap();
//! let store = MailStore::open(dir.path())?;
//! let alice = MailAddress::parse("alice@example.test")?;
//! store.deliver(&[alice.clone()], &[b"Subject: hi\r\n\r\nHello\r\n"])?;
//! let listing = store.inbox(&alice)?.scan()?;
//! assert_eq!(listing.messages.len(), 1);
//! assert_eq!(listing.messages[0].uid, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod address;
pub mod directory;
pub mod flags;
pub mod maildir;
pub mod store;
pub mod uidlist;

pub use address::{AddressError, MailAddress};
pub use directory::{AliasError, Aliases, Directory, Route};
pub use flags::Flags;
pub use maildir::{Listing, Maildir, MessageEntry, Stage};
pub use store::{FolderError, MailStore};
