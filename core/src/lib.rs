//! # torsion-core
//!
//! The reactor/protocol machinery every Torsion protocol crate stands on — Twisted's
//! `twisted.internet` + `protocols.basic` + `twistd` + `cred` + `trial` helpers, the Rust way:
//! tokio is the reactor, futures are the deferreds.
//!
//! | Twisted | here |
//! | --- | --- |
//! | endpoint strings | [`endpoint`]: [`ServerEndpoint`], [`ClientEndpoint`] |
//! | Transport | [`Connection`] over [`Stream`] (TCP, TLS, Unix, memory) |
//! | LineReceiver, NetstringReceiver, IntNStringReceiver | [`framing`] |
//! | Factory + Protocol | a [`Service`] (shared state) whose `handle` runs once per connection |
//! | twistd | [`runner`]: flags, logging, accept loop, limits, signals, exit codes |
//! | cred / strcred | [`cred`] |
//! | LoopingCall, callLater, deferToThread | [`timer`] |
//! | proto_helpers.StringTransport, task.Clock | [`testkit`] + tokio's paused clock |
//!
//! ## A protocol in thirty lines
//! ```no_run
//! use std::sync::Arc;
//! use torsion_core::framing::LineCodec;
//! use torsion_core::{Connection, Service};
//!
//! /// The factory: state shared by every connection (none, for echo).
//! struct Echo;
//!
//! impl Service for Echo {
//!     fn protocol(&self) -> &'static str {
//!         "echo"
//!     }
//!     /// The protocol: runs once per connection.
//!     async fn handle(self: Arc<Self>, mut conn: Connection) {
//!         let mut lines = LineCodec::any_eol(16 * 1024);
//!         // Replies are queued and flushed when the session waits for input again.
//!         while let Ok(Some(line)) = conn.read_frame(&mut lines).await {
//!             if conn.feed_frame(&mut lines, line).await.is_err() {
//!                 return;
//!             }
//!         }
//!         let _ = conn.close().await;
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     #[derive(clap::Parser)]
//!     struct Args {
//!         #[command(flatten)]
//!         service: torsion_core::runner::ServiceArgs,
//!     }
//!     let args: Args = torsion_core::runner::parse_args();
//!     torsion_core::runner::run("echo", async move {
//!         let service = &args.service;
//!         torsion_core::runner::init_logging(&service.log_level, service.log_format)?;
//!         torsion_core::runner::serve(Arc::new(Echo), service, &["tcp:8000"]).await
//!     })
//! }
//! ```
//!
//! ## How a protocol crate tests itself
//! 1. **Sessions in memory**: [`testkit::TestPeer::serve`] runs a `Service`'s `handle` on an
//!    in-memory [`Connection`]; the test plays the client with `send_line` / `expect_line`, or a
//!    whole RFC-style transcript with [`testkit::TestPeer::script`]. Use
//!    `#[tokio::test(start_paused = true)]`: timeouts then fire instantly and deterministically.
//! 2. **Real sockets**: [`testkit::RunningServer::start`] serves on `127.0.0.1:0` through the
//!    same runner the binaries use and tells the bound address.
//! 3. **TLS**: [`testkit::TestTls`] makes a throwaway CA-less self-signed certificate (rcgen),
//!    writes the PEM files, and gives the matching endpoint strings and client config.

pub mod address;
pub mod connection;
pub mod cred;
pub mod date;
pub mod endpoint;
pub mod framing;
pub mod runner;
pub mod sendq;
pub mod stream;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod timer;
pub mod tls;

pub use address::Address;
pub use connection::{Connection, ConnectionOptions, FrameResult, ReadError};
pub use endpoint::{ClientEndpoint, ServerEndpoint};
pub use runner::Service;
pub use stream::Stream;

/// Re-exported so protocol crates name one version.
pub use bytes;
pub use tokio_rustls;
pub use tokio_util;
