//! The smallest routed application (TechEmpower's JSON test): `GET /json` answers
//! `{"message":"Hello, World!"}` through the Router and serde_json, `GET /plaintext` answers
//! `Hello, World!`. `cargo xtask bench web` measures it against nginx's `return 200`.
//!
//! `cargo run -p torsion-web --example hello_json -- --listen tcp:8082`

use std::process::ExitCode;
use std::sync::Arc;

use serde::Serialize;
use torsion_core::runner::{self, ServiceArgs};
use torsion_web::server::reply::Json;
use torsion_web::server::router::Router;
use torsion_web::server::{HttpServer, ServerConfig};

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// The application.
fn app() -> Router {
    Router::new()
        .get("/json", |_ctx| async {
            Json(Message {
                message: "Hello, World!",
            })
        })
        .get("/plaintext", |_ctx| async { "Hello, World!" })
}

#[derive(Debug, clap::Parser)]
#[command(about = "Hello, World! as JSON and plain text")]
struct Args {
    /// Requests served on one connection before it is closed.
    #[arg(long, default_value_t = torsion_web::server::DEFAULT_MAX_REQUESTS)]
    max_requests_per_connection: u64,
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> ExitCode {
    let args: Args = runner::parse_args();
    runner::run("hello_json", async move {
        runner::init_logging(&args.service.log_level, args.service.log_format)?;
        let config = ServerConfig {
            max_requests: args.max_requests_per_connection.max(1),
            ..ServerConfig::default()
        };
        runner::serve(
            Arc::new(HttpServer::new(config, app())),
            &args.service,
            &["tcp:8082"],
        )
        .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use torsion_core::testkit::TestPeer;

    #[tokio::test(start_paused = true)]
    async fn json_and_plaintext() {
        let mut peer = TestPeer::serve(Arc::new(HttpServer::new(ServerConfig::default(), app())));
        peer.send("GET /json HTTP/1.1\r\nHost: x\r\n\r\n").await;
        peer.expect_line("HTTP/1.1 200 OK").await;
        peer.expect_line("content-type: application/json").await;
        let mut rest = String::new();
        loop {
            let line = peer.read_line().await.expect("line");
            if line.is_empty() {
                break;
            }
            rest.push_str(&line);
        }
        assert!(rest.contains("content-length: 27"), "{rest}");
        assert_eq!(peer.read_exact(27).await, br#"{"message":"Hello, World!"}"#);
    }
}
