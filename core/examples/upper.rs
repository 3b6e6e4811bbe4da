//! Replies to each line with the line upper-cased.
//!
//! `cargo run -p torsion-core --example upper -- --listen tcp:8001`

use std::process::ExitCode;
use std::sync::Arc;

use torsion_core::framing::LineCodec;
use torsion_core::runner::{self, ServiceArgs};
use torsion_core::{Connection, ReadError, Service};

/// Longest accepted line.
const MAX_LINE: usize = 4096;

/// The factory: no shared state.
#[derive(Debug)]
pub struct Upper;

impl Service for Upper {
    fn protocol(&self) -> &'static str {
        "upper"
    }

    async fn handle(self: Arc<Self>, mut conn: Connection) {
        let mut lines = LineCodec::any_eol(MAX_LINE);
        loop {
            let reply = match conn.read_frame(&mut lines).await {
                Ok(Some(line)) => line.to_ascii_uppercase(),
                Ok(None) => break,
                // Over-long line: say so and carry on with the next one.
                Err(ReadError::Frame(e)) if e.is_recoverable() => {
                    format!("error: {e}").into_bytes()
                }
                Err(ReadError::Shutdown) => b"server shutting down".to_vec(),
                Err(_) => return,
            };
            if conn.feed_frame(&mut lines, &reply).await.is_err() {
                return;
            }
            if conn.shutdown_requested() {
                break;
            }
        }
        let _ = conn.close().await;
    }
}

#[derive(Debug, clap::Parser)]
#[command(version, about = "Replies with each line upper-cased")]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> ExitCode {
    let args: Args = runner::parse_args();
    runner::run("upper", async move {
        runner::init_logging(&args.service.log_level, args.service.log_format)?;
        runner::serve(Arc::new(Upper), &args.service, &["tcp:8001"]).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use torsion_core::testkit::{RunningServer, TestPeer};

    #[tokio::test(start_paused = true)]
    async fn upper_cases_lines_with_either_line_end() {
        let mut peer = TestPeer::serve(Arc::new(Upper));
        peer.script(
            "C: hello
             S: HELLO
             C: MiXeD case 123
             S: MIXED CASE 123",
        )
        .await;
        peer.send("bare lf\n").await;
        peer.expect_line("BARE LF").await;
        peer.send("split ").await;
        peer.send("across writes\r\n").await;
        peer.expect_line("SPLIT ACROSS WRITES").await;
    }

    #[tokio::test(start_paused = true)]
    async fn long_line_gets_an_error_and_the_session_continues() {
        let mut peer = TestPeer::serve(Arc::new(Upper));
        peer.send(vec![b'a'; MAX_LINE + 10]).await;
        peer.send("\r\nnext\r\n").await;
        peer.expect_line("error: line longer than 4096 bytes").await;
        peer.expect_line("NEXT").await;
    }

    #[tokio::test(start_paused = true)]
    async fn idle_timeout_closes_the_connection() {
        let mut peer = TestPeer::serve_with(Arc::new(Upper), |mut c| {
            c.set_idle_timeout(Some(Duration::from_secs(30)));
            c
        });
        peer.set_timeout(Duration::from_secs(120));
        peer.send_line("ping").await;
        peer.expect_line("PING").await;
        // Nothing for 30 s of (paused, instantly advancing) time: the server hangs up.
        peer.expect_closed().await;
        peer.join().await;
    }

    #[tokio::test]
    async fn serves_over_tcp_and_says_goodbye_on_shutdown() {
        let server = RunningServer::start(Arc::new(Upper), &["tcp:0:interface=127.0.0.1"]).await;
        let mut a = server.connect().await;
        let mut b = server.connect().await;
        a.send_line("from a").await;
        b.send_line("from b").await;
        a.expect_line("FROM A").await;
        b.expect_line("FROM B").await;
        let control = server.control().clone();
        let stopping = tokio::spawn(server.stop());
        control.shutting_down().await;
        a.expect_line("server shutting down").await;
        a.expect_closed().await;
        b.expect_line("server shutting down").await;
        stopping.await.unwrap();
    }
}
