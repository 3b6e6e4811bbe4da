//! # torsion-web
//!
//! HTTP/1.1 for Torsion, on torsion-core's endpoints, runner, limits, TLS and test kit: the
//! wire format ([`proto`], sans I/O), and a server ([`server`]) that runs handlers — a static
//! file tree ([`server::files::Files`]) or your own — on every connection. Requests and
//! responses are the `http` crate's types, as in hyper, axum and tower.
//!
//! ```no_run
//! use std::sync::Arc;
//! use torsion_web::server::{files::Files, HttpServer, ServerConfig};
//!
//! # async fn demo() -> Result<(), torsion_core::runner::RunError> {
//! let files = Files::new("/srv/www").with_listing(true);
//! let server = Arc::new(HttpServer::new(ServerConfig::default(), files));
//! let args = torsion_core::runner::ServiceArgs::defaults();
//! torsion_core::runner::serve(server, &args, &["tcp:8080"]).await
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod body;
#[cfg(feature = "client")]
pub mod client;
pub mod proto;
#[cfg(feature = "server")]
pub mod server;
