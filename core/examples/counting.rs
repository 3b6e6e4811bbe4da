//! Greets each client with the number of open connections — state kept on the factory
//! (Twisted's `numProtocols` example) — then echoes what it sends.
//!
//! `cargo run -p torsion-core --example counting -- --listen tcp:8002`

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use torsion_core::framing::RawCodec;
use torsion_core::runner::{self, ServiceArgs};
use torsion_core::{Connection, Service};

/// The factory: the count of open connections.
#[derive(Debug, Default)]
pub struct Counting {
    open: AtomicUsize,
}

/// Decrements the count however the session ends (even if its task is dropped).
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Service for Counting {
    fn protocol(&self) -> &'static str {
        "counting"
    }

    async fn handle(self: Arc<Self>, mut conn: Connection) {
        let n = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        let _counted = Counted(&self.open);
        conn.queue(format!("Welcome! There are currently {n} open connections.\r\n").as_bytes());
        let mut raw = RawCodec::new(64 * 1024);
        while let Ok(Some(chunk)) = conn.read_frame(&mut raw).await {
            if conn.feed(&chunk).await.is_err() {
                return;
            }
        }
        let _ = conn.close().await;
    }
}

#[derive(Debug, clap::Parser)]
#[command(
    version,
    about = "Greets each client with the number of open connections"
)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> ExitCode {
    let args: Args = runner::parse_args();
    runner::run("counting", async move {
        runner::init_logging(&args.service.log_level, args.service.log_format)?;
        runner::serve(Arc::new(Counting::default()), &args.service, &["tcp:8002"]).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use torsion_core::testkit::{RunningServer, TestPeer};

    #[tokio::test(start_paused = true)]
    async fn counts_open_connections_in_memory() {
        let service = Arc::new(Counting::default());
        let mut a = TestPeer::serve(service.clone());
        a.expect_line("Welcome! There are currently 1 open connections.")
            .await;
        let mut b = TestPeer::serve(service.clone());
        b.expect_line("Welcome! There are currently 2 open connections.")
            .await;
        b.send("echo me\n").await;
        b.expect_line("echo me").await;
        b.shutdown_write().await;
        b.expect_closed().await;
        b.join().await;
        let mut c = TestPeer::serve(service.clone());
        c.expect_line("Welcome! There are currently 2 open connections.")
            .await;
        drop(a);
        drop(c);
    }

    #[tokio::test]
    async fn counts_over_tcp() {
        let server = RunningServer::start(
            Arc::new(Counting::default()),
            &["tcp:0:interface=127.0.0.1"],
        )
        .await;
        let mut peers = Vec::new();
        for i in 1..=5 {
            let mut p = server.connect().await;
            p.expect_line(&format!(
                "Welcome! There are currently {i} open connections."
            ))
            .await;
            peers.push(p);
        }
        server.stop().await;
    }
}
