//! The IRC server: network state ([`Network`]), command handlers (one module per family) and
//! the torsion-core service driving a session per connection ([`IrcServer`]).

pub mod caps;
pub mod channel;
pub mod clock;
pub mod commands;
pub mod config;
mod flood;
pub mod network;
mod session;

pub use config::{Limits, OperAccount, ServerConfig};
pub use network::{ClientId, Effect, Network};
pub use session::{read_motd, IrcServer};
