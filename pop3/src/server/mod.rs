//! The POP3 server: the session state machine ([`session`]) and the torsion-core service that
//! runs it on a connection ([`driver`]).

pub mod driver;
pub mod session;

pub use driver::Pop3Server;
pub use session::{Config, DeleteMode, Effect, Session, State, Transfer};
