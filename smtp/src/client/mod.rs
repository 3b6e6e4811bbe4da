//! The SMTP client, for embedding (what Twisted's `ESMTPSender` or lettre's `SmtpTransport`
//! give) and for the relay queue: connect through a client endpoint, EHLO (falling back to
//! HELO), STARTTLS (required or opportunistic) or implicit TLS, AUTH PLAIN/LOGIN, PIPELINING
//! when offered, the SIZE check before sending, a result per recipient, and a clean QUIT.
//!
//! ```no_run
//! use torsion_core::ClientEndpoint;
//! use torsion_smtp::client::{Client, ClientConfig, TlsMode};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = ClientEndpoint::parse("mail.example.test:587")?;
//! let config = ClientConfig::new("client.example.test")
//!     .with_tls(TlsMode::Required)
//!     .with_auth("alice@example.test", "wonderland");
//! let mut client = Client::connect(&endpoint, config).await?;
//! let report = client
//!     .send(Some("alice@example.test"), &["bob@example.test"], b"Subject: hi\r\n\r\nHello\r\n")
//!     .await?;
//! for (rcpt, reply) in &report.rejected {
//!     eprintln!("{rcpt}: {reply}");
//! }
//! client.quit().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The pieces without I/O are public for reuse and fuzzing: [`reply`] (the reply reader),
//! [`extensions`] (EHLO keywords), [`dotstuff`] (outgoing DATA).

mod config;
pub mod dotstuff;
mod error;
pub mod extensions;
pub mod reply;
mod session;
mod tls;
mod transaction;

pub use config::{ClientConfig, TlsMode, DEFAULT_DATA_TIMEOUT, DEFAULT_TIMEOUT};
pub use error::ClientError;
pub use extensions::Extensions;
pub use reply::{ReplyCodec, ReplyError, MAX_REPLY_LINE, MAX_REPLY_LINES};
pub use session::Client;
pub use transaction::{SendReport, PIPELINE_BATCH};
