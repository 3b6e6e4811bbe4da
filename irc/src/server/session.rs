//! The async driver: one task per connection runs a client's session — reading lines under
//! flood control, handing parsed messages to the [`Network`], writing what its send queue
//! delivers, keeping PING/registration timers — and ends it with `ERROR :Closing Link`.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use tokio::time::{Instant, Sleep};
use torsion_core::cred::CredentialStore;
use torsion_core::framing::LineCodec;
use torsion_core::runner::Refusal;
use torsion_core::sendq::send_queue;
use torsion_core::{Connection, ReadError, Service};

use crate::proto::{self, numeric::*, Message, ParseError, MAX_WIRE_LINE};

use super::config::ServerConfig;
use super::flood::TokenBucket;
use super::network::{ClientId, Effect, Network, PasswordPurpose};

/// Output a session moves from its send queue into the connection's write buffer before it
/// lets the socket drain (the rest waits in the send queue, which is what SendQ limits).
const WRITE_HIGH_WATER: usize = 64 * 1024;
/// How long the goodbye (`ERROR`) may take to reach a client before the socket is dropped.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the keepalive round ([`Network::sweep`]) runs.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The IRC service (Twisted's factory): the network plus what sessions need to check passwords.
#[derive(Debug)]
pub struct IrcServer {
    network: Mutex<Network>,
    config: Arc<ServerConfig>,
    opers: CredentialStore,
    motd_file: Option<PathBuf>,
    /// Started with the first session: see [`IrcServer::start_sweeper`].
    sweeper: Once,
}

impl IrcServer {
    /// A server with `config`.
    pub fn new(config: ServerConfig) -> Self {
        let mut opers = CredentialStore::new();
        for oper in &config.opers {
            opers.insert(oper.name.clone(), oper.password.clone());
        }
        let config = Arc::new(config);
        IrcServer {
            network: Mutex::new(Network::new(config.clone())),
            config,
            opers,
            motd_file: None,
            sweeper: Once::new(),
        }
    }

    /// Re-read the MOTD from `path` on SIGHUP.
    pub fn with_motd_file(mut self, path: PathBuf) -> Self {
        self.motd_file = Some(path);
        self
    }

    /// The network state (tests, embedding).
    pub fn network(&self) -> MutexGuard<'_, Network> {
        self.network.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn check_password(&self, purpose: PasswordPurpose, user: &str, password: &[u8]) -> bool {
        match purpose {
            PasswordPurpose::Sasl => match &self.config.accounts {
                Some(accounts) => accounts.check(user, password).await,
                None => false,
            },
            PasswordPurpose::Oper => self.opers.check(user, password).await,
        }
    }

    /// Handle one raw line; returns the client's status afterwards (read under the same lock,
    /// so the session need not lock the network again to know it).
    async fn process(&self, id: ClientId, line: &[u8]) -> Status {
        let effect = {
            let mut net = self.network();
            let at = now();
            net.touch(id, at);
            match Message::parse_client(line) {
                // The parser decodes lossily; what was not UTF-8 is refused, not relayed.
                Ok(msg) if std::str::from_utf8(line).is_err() => {
                    net.refuse_invalid_utf8(id, &msg);
                    None
                }
                Ok(msg) => net.handle(id, msg, at),
                Err(ParseError::TooLong | ParseError::TagsTooLong) => {
                    net.reply(id, ERR_INPUTTOOLONG, &["Input line was too long"]);
                    None
                }
                // Empty lines are ignored (Modern IRC: "silently ignored"); so is garbage.
                Err(_) => None,
            }
            .ok_or_else(|| Status::of(&net, id))
        };
        match effect {
            Err(status) => status,
            Ok(Effect::CheckPassword {
                purpose,
                user,
                password,
            }) => {
                let ok = self.check_password(purpose, &user, &password).await;
                let mut net = self.network();
                net.password_checked(id, purpose, &user, ok, now());
                Status::of(&net, id)
            }
        }
    }

    /// Run the keepalive round once a second while the server lives (one task for all
    /// clients; it holds only a weak reference, so it ends with the server).
    fn start_sweeper(self: &Arc<Self>) {
        self.sweeper.call_once(|| {
            let server = Arc::downgrade(self);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SWEEP_INTERVAL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(server) = server.upgrade() else {
                        return;
                    };
                    server.network().sweep(now());
                }
            });
        });
    }
}

/// The network's clock: tokio's, so that tests on a paused clock see keepalives and
/// timeouts happen on time.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// What a session remembers of its client between commands: only its own commands change it.
#[derive(Debug, Clone, Copy, Default)]
struct Status {
    oper: bool,
}

impl Status {
    fn of(net: &Network, id: ClientId) -> Self {
        Status {
            oper: net.is_oper(id),
        }
    }
}

/// What ended a session's wait.
enum Wake {
    /// Output was moved from the send queue into the write buffer, or the queue closed (the
    /// client is gone).
    Output,
    /// A line from the client, or the end of its input.
    Input(Result<Option<bytes::Bytes>, ReadError>),
    /// Flood control has a token for the next pending line.
    Token,
    /// The write buffer drained below the high-water mark (or failed).
    Flushed(std::io::Result<()>),
}

impl Service for IrcServer {
    fn protocol(&self) -> &'static str {
        "irc"
    }

    fn long_lived_connections(&self) -> bool {
        true
    }

    #[allow(clippy::manual_async_fn)] // deliberately not an async fn: see the first comment
    fn handle(self: Arc<Self>, mut conn: Connection) -> impl Future<Output = ()> + Send {
        // An `async` block, not an `async fn`: an async fn keeps its arguments twice (as
        // captured and as bound), and this future lives as long as the client does.
        async move {
            conn.set_idle_timeout(None);
            // The server ends every session itself at shutdown (`shutting_down`), which saves
            // each connection registering with the shutdown signal.
            conn.set_shutdown_interrupts(false);
            let limits = &self.config.limits;
            let (tx, mut inbox) = send_queue(limits.sendq);
            let connected =
                self.network()
                    .connect(shown_host(conn.peer()), conn.is_tls(), tx, now());
            let Some(id) = connected else {
                conn.queue(b"ERROR :Closing Link: Server is full\r\n");
                let _ = Box::pin(tokio::time::timeout(GOODBYE_TIMEOUT, conn.close())).await;
                return;
            };
            tracing::debug!(id, "client connected");
            self.start_sweeper();
            // Everything a session keeps while it waits is here or in the connection: the waits
            // below are poll functions, not futures, so an idle client's task stays small (the
            // keepalive timers live in the network's once-a-second sweep, not in each session).
            // In a block of its own: what the loop keeps is dropped before the goodbye awaits
            // (the future would otherwise hold both at once).
            let (reason, host) = {
                let mut codec = LineCodec::any_eol(MAX_WIRE_LINE);
                let mut bucket =
                    TokenBucket::new(limits.flood_burst, limits.flood_rate, Instant::now());
                let mut pending: VecDeque<bytes::Bytes> = VecDeque::new();
                let mut pending_bytes = 0usize;
                // Allocated only while flood control holds lines back.
                let mut flood_timer: Option<Pin<Box<Sleep>>> = None;
                let mut status = Status::default();
                loop {
                    // Run what flood control allows (operators are exempt).
                    while let Some(line) = pending.front() {
                        if !status.oper && !bucket.try_take(Instant::now()) {
                            break;
                        }
                        let line = line.clone();
                        pending.pop_front();
                        pending_bytes -= line.len();
                        // Boxed: a password check makes this future large, and the session future
                        // (alive for every idle client) would otherwise always be that large.
                        status = Box::pin(self.process(id, &line)).await;
                    }
                    if pending.is_empty() {
                        // Give the flood state's memory back once the backlog is gone.
                        pending = VecDeque::new();
                        flood_timer = None;
                    } else {
                        let at = bucket.next_token_at();
                        match &mut flood_timer {
                            Some(timer) => timer.as_mut().reset(at),
                            slot => *slot = Some(Box::pin(tokio::time::sleep_until(at))),
                        }
                    }
                    if inbox.is_closed() {
                        // The network removed the client (QUIT, KILL, a timeout, "SendQ exceeded"):
                        // it closes the queue by dropping the client record, its only producer.
                        let closing = self.network().take_close_reason(id);
                        break closing
                            .unwrap_or_else(|| ("Closed".to_owned(), shown_host(conn.peer())));
                    }
                    let high_water = conn.buffered_output() >= WRITE_HIGH_WATER;
                    let wake = std::future::poll_fn(|cx| {
                        if high_water {
                            // Let the socket drain before taking more from the send queue (which
                            // then fills, and overflows into "SendQ exceeded" if the client never
                            // reads). Input waits meanwhile: a client that does not read its output
                            // is not served.
                            if let Poll::Ready(r) = conn.poll_flush(cx) {
                                return Poll::Ready(Wake::Flushed(r));
                            }
                            return match inbox.poll_closed(cx) {
                                Poll::Ready(()) => Poll::Ready(Wake::Output),
                                Poll::Pending => Poll::Pending,
                            };
                        }
                        // Output first, taken straight into the write buffer (up to the
                        // high-water mark); the socket is polled on the same wake-up, so a
                        // busy send queue neither delays the write (the read below flushes
                        // first) nor starves the client's input.
                        let mut output = false;
                        match inbox.poll_ready(cx) {
                            Poll::Ready(true) => {
                                let room = WRITE_HIGH_WATER.saturating_sub(conn.buffered_output());
                                inbox.drain(room, |m| conn.queue(m));
                                output = true;
                            }
                            // The queue closed: the client is gone (handled at the loop's top).
                            Poll::Ready(false) => return Poll::Ready(Wake::Output),
                            Poll::Pending => {}
                        }
                        if let Poll::Ready(frame) = conn.poll_read_frame(cx, &mut codec) {
                            return Poll::Ready(Wake::Input(frame));
                        }
                        if output {
                            return Poll::Ready(Wake::Output);
                        }
                        if let Some(timer) = flood_timer.as_mut() {
                            if timer.as_mut().poll(cx).is_ready() {
                                return Poll::Ready(Wake::Token);
                            }
                        }
                        Poll::Pending
                    })
                    .await;
                    match wake {
                        Wake::Output | Wake::Token | Wake::Flushed(Ok(())) => {}
                        Wake::Flushed(Err(e)) => {
                            self.network().quit(id, &format!("Write error: {e}"))
                        }
                        Wake::Input(frame) => match frame {
                            Ok(Some(line)) => {
                                pending_bytes += line.len();
                                pending.push_back(line);
                                if pending_bytes > limits.recvq {
                                    self.network().quit(id, "Excess Flood");
                                }
                            }
                            Ok(None) => {
                                self.network().quit(id, "Remote host closed the connection")
                            }
                            Err(e) if e.is_recoverable_frame() => {
                                self.network().reply(
                                    id,
                                    ERR_INPUTTOOLONG,
                                    &["Input line was too long"],
                                );
                            }
                            Err(ReadError::Shutdown) => {
                                self.network().quit(id, "Server shutting down")
                            }
                            Err(ReadError::FrameTimeout) => {
                                self.network().quit(id, "Input line not completed in time")
                            }
                            Err(e) => self.network().quit(id, &format!("Read error: {e}")),
                        },
                    }
                }
            };
            // What was queued before the end still goes out (bounded by the send queue), then ERROR.
            if reason != "SendQ exceeded" {
                inbox.drain(usize::MAX, |m| conn.queue(m));
            }
            tracing::debug!(id, reason, "client disconnected");
            {
                let mut goodbye = BytesMut::new();
                let text = format!("Closing Link: {host} ({reason})");
                proto::write_line(&mut goodbye, "", "ERROR", [text.as_str()]);
                conn.queue(&goodbye);
            }
            drop((reason, host));
            let _ = Box::pin(tokio::time::timeout(GOODBYE_TIMEOUT, conn.close())).await;
        }
    }

    async fn refuse(self: Arc<Self>, mut conn: Connection, reason: Refusal) {
        let text = match reason {
            Refusal::TooManyConnections => "Server is full",
            Refusal::TooManyFromPeer => "Too many connections from your address",
        };
        conn.queue(format!("ERROR :Closing Link: {text}\r\n").as_bytes());
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, conn.close()).await;
    }

    fn shutting_down(&self) {
        self.network().quit_all("Server shutting down");
    }

    fn reload(&self) -> Result<(), String> {
        let Some(path) = &self.motd_file else {
            return Ok(());
        };
        let motd = read_motd(path)?;
        let mut net = self.network();
        let mut config = (*net.config).clone();
        config.motd = Some(motd);
        net.config = Arc::new(config);
        Ok(())
    }
}

/// The host a client is shown with: its IP address (IPv4-mapped IPv6 as IPv4), with a `0`
/// before an IPv6 address starting with `:`, which would break the message grammar (as
/// ircds do).
fn shown_host(peer: &torsion_core::address::Address) -> String {
    let host = peer
        .ip()
        .map(|ip| match ip {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
            ip => ip.to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    if host.starts_with(':') {
        format!("0{host}")
    } else {
        host
    }
}

/// Read a MOTD file: one line per line, each at most 400 bytes, at most 200 lines.
pub fn read_motd(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .take(200)
        .map(|l| {
            let mut l = l.trim_end().to_owned();
            if l.len() > 400 {
                let mut cut = 400;
                while !l.is_char_boundary(cut) {
                    cut -= 1;
                }
                l.truncate(cut);
            }
            l
        })
        .collect())
}
