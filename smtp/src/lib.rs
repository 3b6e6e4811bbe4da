//! Torsion SMTP: an ESMTP server (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
//! ENHANCEDSTATUSCODES, STARTTLS, AUTH, CHUNKING) delivering durably into Maildir through
//! torsion-mailstore, with a relay queue, and an SMTP client for embedding.

pub mod proto;

#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "client")]
pub mod client;

#[cfg(feature = "client")]
pub use client::{Client, ClientConfig, ClientError, Extensions, SendReport, TlsMode};
pub use proto::Reply;
