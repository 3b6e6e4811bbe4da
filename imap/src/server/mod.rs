//! The IMAP server: the session state machine ([`session`]), its responses ([`response`]) and
//! the torsion-core service that runs it on a connection ([`driver`]).

pub mod condstore;
pub mod driver;
pub mod mailboxes;
pub mod mime;
pub mod response;
pub mod search;
pub mod selected;
pub mod session;

pub use driver::ImapServer;
pub use session::{Config, Effect, Session, State};
