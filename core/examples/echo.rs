//! Twisted's echo server: everything a client sends comes straight back.
//!
//! `cargo run -p torsion-core --example echo -- --listen tcp:8000`

use std::process::ExitCode;
use std::sync::Arc;

use torsion_core::framing::RawCodec;
use torsion_core::runner::{self, ServiceArgs};
use torsion_core::{Connection, Service};

/// Largest chunk handed back in one write.
const MAX_CHUNK: usize = 64 * 1024;

/// The factory: no shared state.
#[derive(Debug)]
pub struct Echo;

impl Service for Echo {
    fn protocol(&self) -> &'static str {
        "echo"
    }

    async fn handle(self: Arc<Self>, mut conn: Connection) {
        let mut raw = RawCodec::new(MAX_CHUNK);
        // `read_frame` flushes what `feed` queued before it waits for more input.
        while let Ok(Some(chunk)) = conn.read_frame(&mut raw).await {
            if conn.feed(&chunk).await.is_err() {
                return;
            }
        }
        let _ = conn.close().await;
    }
}

#[derive(Debug, clap::Parser)]
#[command(version, about = "Echo server (Twisted's echoserv)")]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> ExitCode {
    let args: Args = runner::parse_args();
    runner::run("echo", async move {
        runner::init_logging(&args.service.log_level, args.service.log_format)?;
        runner::serve(Arc::new(Echo), &args.service, &["tcp:8000"]).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use torsion_core::testkit::{RunningServer, TestPeer, TestTls};

    #[tokio::test(start_paused = true)]
    async fn echoes() {
        // The example in README.md.
        let mut peer = TestPeer::serve(Arc::new(Echo));
        peer.script(
            "C: hello
             S: hello",
        )
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn echoes_bytes_in_memory() {
        let mut peer = TestPeer::serve(Arc::new(Echo));
        peer.send("hello\r\nworld").await;
        assert_eq!(peer.read_exact(12).await, b"hello\r\nworld");
        // Binary data, in pieces of odd sizes, comes back intact and in order.
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for piece in big.chunks(49_999) {
            peer.send(piece).await;
            assert_eq!(peer.read_exact(piece.len()).await, piece);
        }
        peer.shutdown_write().await;
        peer.expect_closed().await;
        peer.join().await;
    }

    #[tokio::test]
    async fn echoes_over_tcp_tls_and_unix() {
        let tls = TestTls::generate();
        let dir = torsion_core::testkit::TempDir::new("echo-test").unwrap();
        let sock = dir.path().join("echo.sock");
        let unix = format!("unix:{}", sock.display());
        let server = RunningServer::start(
            Arc::new(Echo),
            &["tcp:0:interface=127.0.0.1", &tls.server_endpoint(0), &unix],
        )
        .await;
        let tcp_port = server.address(0).socket_addr().unwrap().port();
        let tls_port = server.address(1).socket_addr().unwrap().port();

        let mut plain = server.connect().await;
        plain.send("over tcp\n").await;
        plain.expect_line("over tcp").await;

        let mut secure = TestPeer::connect(&tls.client_endpoint(tls_port)).await;
        secure.send("over tls\n").await;
        secure.expect_line("over tls").await;

        let endpoint =
            torsion_core::ClientEndpoint::parse(&format!("unix:path={}", sock.display())).unwrap();
        let mut local = TestPeer::connect(&endpoint).await;
        local.send("over unix\n").await;
        local.expect_line("over unix").await;

        assert_ne!(tcp_port, tls_port);
        server.stop().await;
        assert!(!sock.exists(), "the socket file is removed on shutdown");
    }
}
