//! The async driver: runs a [`Session`] over a torsion-core [`Connection`] — line framing for
//! commands, the DATA decoder, counted BDAT chunks, STARTTLS, password checks on the blocking
//! pool, and durable delivery — with RFC 5321 §4.5.3.2 timeouts.
//!
//! Timeouts come from the connection (the runner's limits, [`SmtpServer::standard_limits`]
//! unless `--idle-timeout` is given): the command wait, a stalled write, and the deadline for
//! completing a command line, a DATA message or a BDAT chunk (credited at the minimum data
//! rate, so a large message sent at a modest rate is never cut off, while a client trickling
//! a byte at a time is). Each ends the session with `421 4.4.2`.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;
use torsion_core::framing::{CountedCodec, FrameError, LineCodec};
use torsion_core::runner::{Limits, Refusal};
use torsion_core::tls::ReloadableServerConfig;
use torsion_core::{Connection, ReadError, Service};
use torsion_mailstore::MailStore;

use crate::proto::{DataOutcome, DataReceiver, Reply, MAX_COMMAND_LINE};

use super::relay::RelayQueue;
use super::session::{Action, Delivery, Mode, Session, SessionConfig};

/// RFC 5321 §4.5.3.2.7: "An SMTP server SHOULD have a timeout of at least 5 minutes while it
/// is awaiting the next command from the sender." The default idle and frame timeout.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// Default bound on a reply the client does not read (a stalled write is not a command wait,
/// so it does not get the 5 minutes; nginx's `send_timeout` is the same 60 s).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// BDAT chunks are read in pieces of this size.
const CHUNK_PIECE: usize = 64 * 1024;

/// The DATA stream as a codec: yields the whole message (bounded) and its outcome.
#[derive(Debug)]
struct DataCodec {
    rx: DataReceiver,
    message: Vec<u8>,
}

impl Decoder for DataCodec {
    type Item = (Vec<u8>, DataOutcome);
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, FrameError> {
        match self.rx.feed(src, &mut self.message) {
            Some((consumed, outcome)) => {
                src.advance(consumed);
                Ok(Some((std::mem::take(&mut self.message), outcome)))
            }
            None => {
                src.clear();
                Ok(None)
            }
        }
    }
}

/// The SMTP service for one set of endpoints (port 25 rules or submission rules).
#[derive(Debug)]
pub struct SmtpServer {
    config: Arc<SessionConfig>,
    mode: Mode,
    store: MailStore,
    tls: Option<ReloadableServerConfig>,
    relay: Option<Arc<RelayQueue>>,
}

impl SmtpServer {
    /// A server delivering into `store`.
    pub fn new(config: Arc<SessionConfig>, mode: Mode, store: MailStore) -> Self {
        SmtpServer {
            config,
            mode,
            store,
            tls: None,
            relay: None,
        }
    }

    /// Offer STARTTLS with this certificate.
    pub fn with_tls(mut self, tls: ReloadableServerConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Queue mail for other domains here.
    pub fn with_relay(mut self, relay: Arc<RelayQueue>) -> Self {
        self.relay = Some(relay);
        self
    }

    /// Deliver on the blocking pool: every local copy durable, relay mail durably queued.
    async fn deliver(&self, delivery: Delivery) -> Result<String, String> {
        let store = self.store.clone();
        let relay = self.relay.clone();
        let work = move || -> Result<String, String> {
            let parts: [&[u8]; 2] = [delivery.trace.as_bytes(), &delivery.message];
            let mut id = String::new();
            if !delivery.local.is_empty() {
                let names = store
                    .deliver(&delivery.local, &parts)
                    .map_err(|e| format!("maildir delivery: {e}"))?;
                id = names.first().cloned().unwrap_or_default();
            }
            if !delivery.relay.is_empty() {
                let queue = relay.ok_or("relay mail but no queue")?;
                id = queue
                    .enqueue(delivery.from.as_ref(), &delivery.relay, &parts)
                    .map_err(|e| format!("queue: {e}"))?;
            }
            // The short form of the file name, as Postfix shows its queue id.
            Ok(id.split(',').next().unwrap_or(&id).to_owned())
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(result) => result,
            Err(e) => Err(format!("delivery task failed: {e}")),
        }
    }

    /// The server's default timeouts (see the [module docs](self)).
    pub fn standard_limits() -> Limits {
        Limits {
            idle_timeout: Some(COMMAND_TIMEOUT),
            frame_timeout: Some(COMMAND_TIMEOUT),
            write_timeout: Some(WRITE_TIMEOUT),
            ..Limits::default()
        }
    }

    fn timeout_reply(&self) -> Reply {
        Reply::new(
            421,
            "4.4.2",
            format!("{} Timeout, closing connection", self.config.hostname),
        )
    }

    /// Run one action chain to the point where the next command must be read; false = close.
    async fn run_action(
        &self,
        conn: &mut Connection,
        session: &mut Session,
        mut action: Action,
    ) -> bool {
        loop {
            action = match action {
                Action::Reply(reply) | Action::AuthChallenge(reply) => {
                    conn.queue(&reply.to_bytes());
                    return true;
                }
                Action::Close(reply) => {
                    conn.queue(&reply.to_bytes());
                    return false;
                }
                Action::StartTls(reply) => {
                    let Some(tls) = &self.tls else {
                        conn.queue(&Reply::new(454, "4.7.0", "TLS not available").to_bytes());
                        return true;
                    };
                    conn.queue(&reply.to_bytes());
                    match conn.upgrade_server_tls(&tls.acceptor()).await {
                        Ok(discarded) => {
                            if discarded > 0 {
                                tracing::warn!(
                                    discarded,
                                    "discarded plaintext pipelined after STARTTLS"
                                );
                            }
                            session.tls_started();
                            return true;
                        }
                        Err(e) => {
                            tracing::info!("TLS handshake failed: {e}");
                            return false;
                        }
                    }
                }
                Action::ReadData(reply) => {
                    conn.queue(&reply.to_bytes());
                    conn.set_shutdown_interrupts(false);
                    let mut codec = DataCodec {
                        rx: DataReceiver::new(self.config.max_message_size),
                        message: Vec::new(),
                    };
                    let result = conn.read_frame(&mut codec).await;
                    conn.set_shutdown_interrupts(true);
                    match result {
                        Ok(Some((message, outcome))) => session.data_received(message, outcome),
                        Err(e @ (ReadError::IdleTimeout | ReadError::FrameTimeout)) => {
                            tracing::info!("{e} during DATA; message discarded");
                            conn.queue(&self.timeout_reply().to_bytes());
                            return false;
                        }
                        Ok(None) | Err(_) => {
                            // The client vanished mid-DATA: nothing is delivered.
                            tracing::info!("connection lost during DATA; message discarded");
                            return false;
                        }
                    }
                }
                Action::ReadChunk { size, last } => {
                    conn.set_shutdown_interrupts(false);
                    // The chunk arrives in pieces; its deadline covers all of them.
                    conn.start_transfer();
                    let keep = self.config.max_message_size;
                    let mut codec = CountedCodec::new(size, CHUNK_PIECE);
                    let mut data = Vec::new();
                    let mut truncated = false;
                    let mut ok = true;
                    let mut timed_out = None;
                    while !codec.is_done() {
                        match conn.read_frame(&mut codec).await {
                            Ok(Some(piece)) => {
                                if data.len() + piece.len() > keep {
                                    truncated = true;
                                } else {
                                    data.extend_from_slice(&piece);
                                }
                            }
                            Err(e @ (ReadError::IdleTimeout | ReadError::FrameTimeout)) => {
                                ok = false;
                                timed_out = Some(e);
                                break;
                            }
                            _ => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    conn.finish_transfer();
                    conn.set_shutdown_interrupts(true);
                    if let Some(e) = timed_out {
                        tracing::info!("{e} during BDAT; message discarded");
                        conn.queue(&self.timeout_reply().to_bytes());
                        return false;
                    }
                    if !ok {
                        tracing::info!("connection lost during BDAT; message discarded");
                        return false;
                    }
                    session.chunk_received(&data, truncated, last)
                }
                Action::CheckPassword { user, password } => {
                    let account = self.config.directory.authenticate(&user, &password).await;
                    if account.is_none() {
                        tracing::info!(user, "authentication failed");
                    }
                    session.auth_result(account)
                }
                Action::Deliver(delivery) => {
                    let result = self.deliver(*delivery).await;
                    session.delivered(result)
                }
            }
        }
    }
}

impl Service for SmtpServer {
    fn protocol(&self) -> &'static str {
        match self.mode {
            Mode::Relay => "smtp",
            Mode::Submission => "submission",
        }
    }

    /// RFC 5321 §4.5.3.2.7 timeouts, with a shorter bound on stalled writes; the operator's
    /// `--idle-timeout` replaces all three.
    fn default_limits(&self) -> Limits {
        SmtpServer::standard_limits()
    }

    async fn handle(self: Arc<Self>, mut conn: Connection) {
        let peer_ip = conn
            .peer()
            .ip()
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "127.0.0.1".into());
        let mut session = Session::new(
            self.config.clone(),
            self.mode,
            &peer_ip,
            self.tls.is_some(),
            conn.is_tls(),
        );
        conn.queue(&session.greeting().to_bytes());
        let mut lines = LineCodec::crlf(MAX_COMMAND_LINE);
        loop {
            let action = match conn.read_frame(&mut lines).await {
                Ok(Some(line)) => {
                    if session.in_auth() {
                        session.auth_line(&line)
                    } else {
                        session.command(&line)
                    }
                }
                Ok(None) => break,
                Err(e) if e.is_recoverable_frame() => session.line_too_long(),
                Err(ReadError::Shutdown) => {
                    let reply = Reply::new(
                        421,
                        "4.3.2",
                        format!("{} Service shutting down", self.config.hostname),
                    );
                    conn.queue(&reply.to_bytes());
                    break;
                }
                Err(e @ (ReadError::IdleTimeout | ReadError::FrameTimeout)) => {
                    tracing::info!("{e}; closing");
                    conn.queue(&self.timeout_reply().to_bytes());
                    break;
                }
                Err(_) => break,
            };
            if !self.run_action(&mut conn, &mut session, action).await {
                break;
            }
        }
        let _ = conn.close().await;
    }

    async fn refuse(self: Arc<Self>, mut conn: Connection, reason: Refusal) {
        let text = match reason {
            Refusal::TooManyConnections => "Too many connections, try again later",
            Refusal::TooManyFromPeer => "Too many connections from your address, try again later",
        };
        conn.queue(
            &Reply::new(421, "4.7.0", format!("{} {text}", self.config.hostname)).to_bytes(),
        );
        let _ = conn.close().await;
    }

    fn reload(&self) -> Result<(), String> {
        if let Some(tls) = &self.tls {
            tls.reload().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
