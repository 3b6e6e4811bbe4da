//! The async driver: one task per connection runs a client's session — reading lines under
//! flood control, handing parsed messages to the [`Network`], writing what its send queue
//! delivers, keeping PING/registration timers — and ends it with `ERROR :Closing Link`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use tokio::time::Instant;
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

/// The IRC service (Twisted's factory): the network plus what sessions need to check passwords.
#[derive(Debug)]
pub struct IrcServer {
    network: Mutex<Network>,
    config: Arc<ServerConfig>,
    opers: CredentialStore,
    motd_file: Option<PathBuf>,
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
        let msg = match Message::parse_client(line) {
            Ok(msg) => msg,
            Err(ParseError::TooLong | ParseError::TagsTooLong) => {
                let mut net = self.network();
                net.reply(id, ERR_INPUTTOOLONG, &["Input line was too long"]);
                return Status::of(&net, id);
            }
            // Empty lines are ignored (Modern IRC: "silently ignored"); so is garbage.
            Err(_) => return Status::of(&self.network(), id),
        };
        let effect = {
            let mut net = self.network();
            let effect = net.handle(id, msg, std::time::Instant::now());
            if effect.is_none() {
                return Status::of(&net, id);
            }
            effect
        };
        if let Some(Effect::CheckPassword {
            purpose,
            user,
            password,
        }) = effect
        {
            let ok = self.check_password(purpose, &user, &password).await;
            let mut net = self.network();
            net.password_checked(id, purpose, &user, ok, std::time::Instant::now());
            return Status::of(&net, id);
        }
        Status::of(&self.network(), id)
    }
}

/// What a session remembers of its client between commands: only its own commands change it.
#[derive(Debug, Clone, Copy, Default)]
struct Status {
    registered: bool,
    oper: bool,
}

impl Status {
    fn of(net: &Network, id: ClientId) -> Self {
        Status {
            registered: net.is_registered(id),
            oper: net.is_oper(id),
        }
    }
}

/// Where a session is in its keepalive cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keepalive {
    Quiet,
    PingSent,
}

impl IrcServer {
    /// The session timer fired: registration deadline, time to PING, or PING unanswered.
    fn on_timer(
        &self,
        id: ClientId,
        status: Status,
        keepalive: &mut Keepalive,
        limits: &super::config::Limits,
    ) {
        if !status.registered {
            self.network().quit(id, "Registration timed out");
        } else if *keepalive == Keepalive::Quiet {
            *keepalive = Keepalive::PingSent;
            let line = proto::line("", "PING", [self.config.server_name.as_str()]);
            self.network().send(id, line);
        } else {
            let secs = (limits.ping_interval + limits.ping_timeout).as_secs();
            self.network()
                .quit(id, &format!("Ping timeout: {secs} seconds"));
        }
    }
}

impl Service for IrcServer {
    fn protocol(&self) -> &'static str {
        "irc"
    }

    fn long_lived_connections(&self) -> bool {
        true
    }

    async fn handle(self: Arc<Self>, mut conn: Connection) {
        conn.set_idle_timeout(None);
        let limits = &self.config.limits;
        let host = conn
            .peer()
            .ip()
            .map(|ip| match ip {
                std::net::IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
                ip => ip.to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        // An IPv6 host starting with ':' would break the message grammar (as ircds do, prefix 0).
        let host = if host.starts_with(':') {
            format!("0{host}")
        } else {
            host
        };
        let (tx, mut inbox) = send_queue(limits.sendq);
        let connected =
            self.network()
                .connect(host.clone(), conn.is_tls(), tx, std::time::Instant::now());
        let Some((id, closer)) = connected else {
            conn.queue(b"ERROR :Closing Link: Server is full\r\n");
            let _ = Box::pin(tokio::time::timeout(GOODBYE_TIMEOUT, conn.close())).await;
            return;
        };
        tracing::debug!(id, "client connected");
        let mut codec = LineCodec::any_eol(MAX_WIRE_LINE);
        let mut bucket = TokenBucket::new(limits.flood_burst, limits.flood_rate, Instant::now());
        let mut pending: VecDeque<bytes::Bytes> = VecDeque::new();
        let mut pending_bytes = 0usize;
        let mut last_input = Instant::now();
        let mut keepalive = Keepalive::Quiet;
        let registration_deadline = Instant::now() + limits.registration_timeout;

        let mut status = Status::default();
        let reason: String = loop {
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
            if let Some(reason) = closer.get() {
                break reason.to_owned();
            }
            let timer = if !status.registered {
                registration_deadline
            } else {
                match keepalive {
                    Keepalive::Quiet => last_input + limits.ping_interval,
                    Keepalive::PingSent => last_input + limits.ping_interval + limits.ping_timeout,
                }
            };
            if conn.buffered_output() >= WRITE_HIGH_WATER {
                // Let the socket drain before taking more from the send queue (which then
                // fills, and overflows into "SendQ exceeded" if the client never reads). Input
                // waits meanwhile: a client that does not read its output is not served.
                // Boxed, as a rare path, to keep the session future small.
                let fired = Box::pin(async {
                    tokio::select! {
                        flushed = conn.flush() => flushed.err().map(|e| format!("Write error: {e}")),
                        _ = tokio::time::sleep_until(timer) => Some(String::new()),
                        _ = closer.closed() => None,
                    }
                })
                .await;
                match fired {
                    Some(reason) if !reason.is_empty() => self.network().quit(id, &reason),
                    Some(_) => self.on_timer(id, status, &mut keepalive, limits),
                    None => {}
                }
                continue;
            }
            // One timer for both the keepalive/registration deadline and flood control.
            let wake = if pending.is_empty() {
                timer
            } else {
                timer.min(bucket.next_token_at())
            };
            tokio::select! {
                frame = conn.read_frame(&mut codec) => match frame {
                    Ok(Some(line)) => {
                        last_input = Instant::now();
                        keepalive = Keepalive::Quiet;
                        pending_bytes += line.len();
                        pending.push_back(line);
                        if pending_bytes > limits.recvq {
                            self.network().quit(id, "Excess Flood");
                        }
                    }
                    Ok(None) => self.network().quit(id, "Remote host closed the connection"),
                    Err(e) if e.is_recoverable_frame() => {
                        self.network().reply(id, ERR_INPUTTOOLONG, &["Input line was too long"]);
                    }
                    Err(ReadError::Shutdown) => self.network().quit(id, "Server shutting down"),
                    Err(e) => self.network().quit(id, &format!("Read error: {e}")),
                },
                // The network drops its end of the queue when it removes the client, so this
                // also notices QUIT, KILL and "SendQ exceeded" (via `closer`, checked above).
                msg = inbox.recv() => {
                    if let Some(msg) = msg {
                        conn.queue(&msg);
                        // Everything else waiting, under one lock, up to the high-water mark.
                        let room = WRITE_HIGH_WATER.saturating_sub(conn.buffered_output());
                        inbox.drain(room, |m| conn.queue(m));
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= timer {
                        self.on_timer(id, status, &mut keepalive, limits);
                    }
                }
            }
        };
        // What was queued before the end still goes out (bounded by the send queue), then ERROR.
        if reason != "SendQ exceeded" {
            inbox.drain(usize::MAX, |m| conn.queue(m));
        }
        tracing::debug!(id, reason, "client disconnected");
        let mut goodbye = BytesMut::new();
        proto::write_line(
            &mut goodbye,
            "",
            "ERROR",
            [format!("Closing Link: {host} ({reason})").as_str()],
        );
        conn.queue(&goodbye);
        let _ = Box::pin(tokio::time::timeout(GOODBYE_TIMEOUT, conn.close())).await;
    }

    async fn refuse(self: Arc<Self>, mut conn: Connection, reason: Refusal) {
        let text = match reason {
            Refusal::TooManyConnections => "Server is full",
            Refusal::TooManyFromPeer => "Too many connections from your address",
        };
        conn.queue(format!("ERROR :Closing Link: {text}\r\n").as_bytes());
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, conn.close()).await;
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
