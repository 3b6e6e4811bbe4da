//! An event-driven IRC client for bots and tools.
//!
//! * Connects over any client endpoint (`HOST:PORT`, `tcp:…`, `tls:…`), registers (`CAP LS
//!   302`, SASL PLAIN when configured, `server-time`/`message-tags` when offered), and falls
//!   back to alternative nicknames on 433/432.
//! * Answers PING and CTCP VERSION/PING/CLIENTINFO/SOURCE by itself.
//! * Sends with flood control ([`RateLimit`]: a burst, then a steady rate) and splits long or
//!   multi-line text so every relayed line fits 512 bytes ([`split`]).
//! * Reports what happens as typed [`Event`]s, and reconnects with exponential [`Backoff`],
//!   rejoining its channels.
//!
//! The protocol is the sans-I/O [`ClientState`] (feed it lines and the time, take lines, events
//! and timeouts); [`Client`] is the thin tokio driver around it.
//!
//! ```no_run
//! use torsion_irc::client::{Client, ClientConfig, Event};
//!
//! # async fn bot() -> Result<(), torsion_irc::client::ClientError> {
//! let config = ClientConfig::new("torsionbot").with_channel("#torsion");
//! let mut client = Client::connect("irc.example.org:6697", config).await?;
//! while let Some(event) = client.next_event().await {
//!     if let Some((reply_to, "!ping")) = event.as_request() {
//!         client.privmsg(reply_to, "pong").await?;
//!     }
//! }
//! client.finish().await
//! # }
//! ```

mod backoff;
mod command;
mod config;
mod driver;
mod error;
mod event;
mod incoming;
mod nick;
mod outbox;
mod ratelimit;
mod register;
pub mod split;
mod state;

pub use command::Command;
pub use config::{Backoff, ClientConfig, SaslPlain, MAX_CONFIG_NICK};
pub use driver::{
    Client, ClientHandle, Dialer, COMMAND_QUEUE, DEFAULT_PORT, EVENT_QUEUE, MAX_QUEUED_LINES,
};
pub use error::ClientError;
pub use event::{Event, Source, Tags};
pub use ratelimit::{RateLimit, RateLimiter};
pub use state::{ClientState, Close, QUIT_TIMEOUT};

#[cfg(test)]
mod tests;
