//! A chat server for netcat/telnet clients (Twisted's `Chat` LineReceiver example): each
//! client gets the banner, picks a name, and every line it sends goes to all other clients as
//! `<name> line`. CRLF and LF line ends are both accepted.
//!
//! `cargo run -p torsion-core --example chat -- --listen tcp:8003 --banner "Welcome to Torsion chat"`
//!
//! Fan-out serialises each message once and shares the buffer with every recipient's bounded
//! send queue; a client that stops reading is disconnected ("SendQ exceeded") instead of
//! growing the server's memory.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use torsion_core::framing::LineCodec;
use torsion_core::runner::{self, ServiceArgs};
use torsion_core::sendq::{send_queue, SendQueue};
use torsion_core::{Connection, ReadError, Service};

/// Longest line a client may send.
const MAX_LINE: usize = 2048;
/// Longest name.
const MAX_NAME: usize = 32;
/// Bytes of undelivered messages a client may have before it is disconnected.
const SEND_QUEUE_LIMIT: usize = 256 * 1024;

/// The factory: who is here.
#[derive(Debug)]
pub struct ChatRoom {
    banner: RwLock<String>,
    users: Mutex<HashMap<String, SendQueue>>,
}

impl ChatRoom {
    /// A room greeting clients with `banner`.
    pub fn new(banner: impl Into<String>) -> Self {
        ChatRoom {
            banner: RwLock::new(banner.into()),
            users: Mutex::default(),
        }
    }

    /// The banner new clients get.
    pub fn banner(&self) -> String {
        self.banner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Change the banner: the next client to connect gets the new one (the web admin page
    /// of torsion-web's `chat_admin` example calls this).
    pub fn set_banner(&self, banner: impl Into<String>) {
        *self.banner.write().unwrap_or_else(|p| p.into_inner()) = banner.into();
    }

    /// The names of the connected users, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.users().keys().cloned().collect();
        names.sort();
        names
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<String, SendQueue>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Send `line` to everyone but `from`; returns the names whose queue overflowed.
    fn broadcast(&self, from: &str, line: &[u8]) {
        let mut msg = Vec::with_capacity(line.len() + from.len() + 5);
        msg.extend_from_slice(b"<");
        msg.extend_from_slice(from.as_bytes());
        msg.extend_from_slice(b"> ");
        msg.extend_from_slice(line);
        msg.extend_from_slice(b"\r\n");
        let msg = Bytes::from(msg);
        let mut users = self.users();
        // A full queue drops that user from the room; its session sees the queue close.
        users.retain(|name, queue| name == from || queue.try_send(msg.clone()).is_ok());
    }
}

/// Why a name is refused.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err("Names are 1 to 32 characters, please choose another.");
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    {
        return Err("Names cannot contain spaces or <>, please choose another.");
    }
    Ok(())
}

impl Service for ChatRoom {
    fn protocol(&self) -> &'static str {
        "chat"
    }

    async fn handle(self: Arc<Self>, mut conn: Connection) {
        let mut lines = LineCodec::any_eol(MAX_LINE);
        let banner = self.banner();
        if !banner.is_empty() {
            conn.queue(format!("{banner}\r\n").as_bytes());
        }
        conn.queue(b"What's your name?\r\n");

        // GETNAME state.
        let name = loop {
            let line = match conn.read_frame(&mut lines).await {
                Ok(Some(line)) => line,
                Err(ReadError::Frame(e)) if e.is_recoverable() => {
                    conn.queue(b"That line is too long.\r\n");
                    continue;
                }
                _ => return,
            };
            let name = String::from_utf8_lossy(&line).trim().to_owned();
            if let Err(why) = check_name(&name) {
                conn.queue(why.as_bytes());
                conn.queue(b"\r\n");
                continue;
            }
            let (tx, rx) = send_queue(SEND_QUEUE_LIMIT);
            let mut users = self.users();
            if users.contains_key(&name) {
                drop(users);
                conn.queue(b"Name taken, please choose another.\r\n");
                continue;
            }
            users.insert(name.clone(), tx);
            break (name, rx);
        };
        let (name, mut inbox) = name;
        conn.queue(format!("Welcome, {name}!\r\n").as_bytes());

        // CHAT state: lines from this client go out; lines from others come in.
        let goodbye: &[u8] = loop {
            tokio::select! {
                frame = conn.read_frame(&mut lines) => match frame {
                    Ok(Some(line)) => self.broadcast(&name, &line),
                    Ok(None) => break b"",
                    Err(ReadError::Frame(e)) if e.is_recoverable() => conn.queue(b"That line is too long.\r\n"),
                    Err(ReadError::Shutdown) => break b"Server shutting down.\r\n",
                    Err(_) => break b"",
                },
                msg = inbox.recv() => match msg {
                    Some(msg) if conn.buffered_output() < conn.options().max_write_buffer => conn.queue(&msg),
                    // Removed from the room by `broadcast`, or not draining its output.
                    _ => break b"SendQ exceeded.\r\n",
                },
            }
        };
        self.users().remove(&name);
        conn.queue(goodbye);
        let _ = conn.close().await;
    }
}

#[derive(Debug, clap::Parser)]
#[command(version, about = "Line-based chat for netcat and telnet clients")]
struct Args {
    /// Text sent to each client on connect.
    #[arg(long, default_value = "Welcome to Torsion chat.")]
    banner: String,
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> ExitCode {
    let args: Args = runner::parse_args();
    runner::run("chat", async move {
        runner::init_logging(&args.service.log_level, args.service.log_format)?;
        runner::serve(
            Arc::new(ChatRoom::new(args.banner)),
            &args.service,
            &["tcp:8003"],
        )
        .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use torsion_core::testkit::{RunningServer, TestPeer};

    async fn join(room: &Arc<ChatRoom>, name: &str) -> TestPeer {
        let mut peer = TestPeer::serve(room.clone());
        peer.script(&format!(
            "S: hi
             S: What's your name?
             C: {name}
             S: Welcome, {name}!"
        ))
        .await;
        peer
    }

    #[tokio::test(start_paused = true)]
    async fn broadcasts_to_everyone_else() {
        let room = Arc::new(ChatRoom::new("hi"));
        let mut alice = join(&room, "alice").await;
        let mut bob = join(&room, "bob").await;
        let mut carol = join(&room, "carol").await;
        alice.send("hello all\n").await; // LF only, as netcat sends
        bob.expect_line("<alice> hello all").await;
        carol.expect_line("<alice> hello all").await;
        carol.send("hi alice\r\n").await; // CRLF, as telnet sends
        alice.expect_line("<carol> hi alice").await;
        bob.expect_line("<carol> hi alice").await;
        // alice got nothing of her own.
        bob.send("x\n").await;
        alice.expect_line("<bob> x").await;
    }

    #[tokio::test(start_paused = true)]
    async fn names_are_unique_and_checked() {
        let room = Arc::new(ChatRoom::new("hi"));
        let _alice = join(&room, "alice").await;
        let mut other = TestPeer::serve(room.clone());
        other
            .script(
                "S: hi
                 S: What's your name?
                 C: alice
                 S: Name taken, please choose another.
                 C: two words
                 S: Names cannot contain spaces or <>, please choose another.
                 C:
                 S: Names are 1 to 32 characters, please choose another.
                 C: alice2
                 S: Welcome, alice2!",
            )
            .await;
    }

    #[tokio::test(start_paused = true)]
    async fn leaving_frees_the_name() {
        let room = Arc::new(ChatRoom::new("hi"));
        let mut alice = join(&room, "alice").await;
        alice.shutdown_write().await;
        alice.expect_closed().await;
        alice.join().await;
        let _again = join(&room, "alice").await;
        assert_eq!(room.users().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_does_not_read_is_disconnected_not_buffered() {
        let room = Arc::new(ChatRoom::new("hi"));
        let mut talker = join(&room, "talker").await;
        let mut sleeper = join(&room, "sleeper").await;
        let line = "x".repeat(1000);
        // Far more than the pipe, the write buffer and the send queue together.
        for _ in 0..2000 {
            if talker.try_send(format!("{line}\n")).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
            if room.users().len() == 1 {
                break;
            }
        }
        assert_eq!(
            room.users().len(),
            1,
            "the sleeper was dropped from the room"
        );
        assert!(room.users().contains_key("talker"));
        // The sleeper's connection ends with the reason after what was already buffered.
        let rest = sleeper.read_to_close().await;
        assert!(
            rest.ends_with("SendQ exceeded.\n"),
            "{}",
            &rest[rest.len().saturating_sub(80)..]
        );
    }

    #[tokio::test]
    async fn netcat_style_clients_over_tcp() {
        let server = RunningServer::start(
            Arc::new(ChatRoom::new("banner text")),
            &["tcp:0:interface=127.0.0.1"],
        )
        .await;
        let mut a = server.connect().await;
        let mut b = server.connect().await;
        for (peer, name) in [(&mut a, "a"), (&mut b, "b")] {
            peer.expect_line("banner text").await;
            peer.expect_line("What's your name?").await;
            peer.send(format!("{name}\n")).await;
            peer.expect_line(&format!("Welcome, {name}!")).await;
        }
        a.send("over the wire\n").await;
        b.expect_line("<a> over the wire").await;
        let control = server.control().clone();
        let stop = tokio::spawn(server.stop());
        control.shutting_down().await;
        a.expect_line("Server shutting down.").await;
        b.expect_line("Server shutting down.").await;
        stop.await.unwrap();
    }
}
