//! Torsion IRC: an IRC server following the Modern IRC client protocol document and IRCv3,
//! and an event-driven client library for bots and tools.
//!
//! * [`proto`] — messages (nom parser, serialiser), numerics, casemapping, masks, CTCP.
//! * `server` — the network state (users, channels), one module per command family, and the
//!   torsion-core service that drives sessions over connections.
//! * `client` — [`client::Client`]: connect, register (SASL PLAIN), typed events, rate-limited
//!   sending with automatic splitting, CTCP replies, reconnect with backoff.

pub mod proto;

#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "client")]
pub mod client;
