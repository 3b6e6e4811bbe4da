//! The async driver: one task per client that owns the connection and the [`ClientState`],
//! moves lines between them, forwards events, runs the timers and reconnects with backoff.
//! Programs talk to it through [`Client`] (events) and [`ClientHandle`] (commands).

use std::future::Future;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tracing::Instrument;

use torsion_core::framing::LineCodec;
use torsion_core::{ClientEndpoint, Connection};

use super::command::Command;
use super::config::ClientConfig;
use super::error::ClientError;
use super::event::Event;
use super::state::{ClientState, Close};
use crate::proto::{Message, MAX_WIRE_LINE};

/// Commands buffered between handles and the driver.
pub const COMMAND_QUEUE: usize = 64;
/// Events buffered for the program; when full the driver waits (so read your events).
pub const EVENT_QUEUE: usize = 256;
/// User lines the state may hold (waiting for the rate limiter or registration) before the
/// driver stops taking commands — backpressure all the way to `ClientHandle::privmsg().await`.
pub const MAX_QUEUED_LINES: usize = 64;
/// The port `HOST` without `:PORT` connects to.
pub const DEFAULT_PORT: u16 = 6667;

/// How the client gets a connection: a [`ClientEndpoint`], or anything else (an in-memory pipe
/// in tests, a proxy…).
pub trait Dialer: Send + 'static {
    /// Open a new connection.
    fn dial(&mut self) -> impl Future<Output = Result<Connection, ClientError>> + Send;
    /// What to call the peer in events and logs.
    fn describe(&self) -> String;
}

impl Dialer for ClientEndpoint {
    async fn dial(&mut self) -> Result<Connection, ClientError> {
        Ok(self.connect().await?)
    }

    fn describe(&self) -> String {
        self.to_string()
    }
}

/// Sends commands to a running client; cheap to clone and usable from any task. When every
/// handle (including the one inside [`Client`]) is dropped, the client quits.
#[derive(Debug, Clone)]
pub struct ClientHandle {
    tx: mpsc::Sender<Command>,
}

impl ClientHandle {
    /// Queue a command (waits while the client's queue is full).
    pub async fn send(&self, command: Command) -> Result<(), ClientError> {
        command.validate()?;
        self.tx
            .send(command)
            .await
            .map_err(|_| ClientError::Stopped)
    }

    /// PRIVMSG, split into several lines when long or multi-line.
    pub async fn privmsg(
        &self,
        target: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<(), ClientError> {
        self.send(Command::Privmsg {
            target: target.into(),
            text: text.into(),
        })
        .await
    }

    /// NOTICE, split like PRIVMSG.
    pub async fn notice(
        &self,
        target: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<(), ClientError> {
        self.send(Command::Notice {
            target: target.into(),
            text: text.into(),
        })
        .await
    }

    /// CTCP ACTION (`/me text`).
    pub async fn action(
        &self,
        target: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<(), ClientError> {
        self.send(Command::Action {
            target: target.into(),
            text: text.into(),
        })
        .await
    }

    /// A CTCP request (`VERSION`, `PING 123`…); answers arrive as [`Event::CtcpReply`].
    pub async fn ctcp(
        &self,
        target: impl Into<String>,
        command: impl Into<String>,
        params: impl Into<String>,
    ) -> Result<(), ClientError> {
        self.send(Command::Ctcp {
            target: target.into(),
            command: command.into(),
            params: params.into(),
        })
        .await
    }

    /// JOIN a channel (and rejoin it after reconnects).
    pub async fn join(&self, channel: impl Into<String>) -> Result<(), ClientError> {
        self.send(Command::Join {
            channel: channel.into(),
            key: None,
        })
        .await
    }

    /// PART a channel.
    pub async fn part(
        &self,
        channel: impl Into<String>,
        reason: Option<String>,
    ) -> Result<(), ClientError> {
        self.send(Command::Part {
            channel: channel.into(),
            reason,
        })
        .await
    }

    /// Change nickname.
    pub async fn nick(&self, nick: impl Into<String>) -> Result<(), ClientError> {
        self.send(Command::Nick(nick.into())).await
    }

    /// QUIT after everything queued so far has been sent; the client then stops.
    pub async fn quit(&self, reason: Option<String>) -> Result<(), ClientError> {
        self.send(Command::Quit(reason)).await
    }

    /// Send a raw line (parsed first, so it cannot smuggle a second line).
    pub async fn raw(&self, line: &str) -> Result<(), ClientError> {
        let msg = Message::parse_client(line.as_bytes()).map_err(|_| ClientError::Invalid {
            what: "raw line",
            value: line.to_owned(),
        })?;
        self.send(Command::Raw(msg)).await
    }
}

/// A running IRC client: its event stream and a command handle. See the
/// [module docs](super) for an example.
#[derive(Debug)]
pub struct Client {
    handle: ClientHandle,
    events: mpsc::Receiver<Event>,
    task: JoinHandle<Result<(), ClientError>>,
}

impl Client {
    /// Connect to `endpoint` (`HOST[:PORT]`, `[V6]:PORT`, `tcp:host=…:port=…`,
    /// `tls:host=…:port=…[:trustRoots=PEM]`; port 6667 by default) and start registering.
    /// Fails if the configuration is invalid or the first connection fails; later
    /// disconnections are retried per [`ClientConfig::reconnect`].
    pub async fn connect(endpoint: &str, config: ClientConfig) -> Result<Client, ClientError> {
        let endpoint = ClientEndpoint::parse_with_default_port(endpoint, Some(DEFAULT_PORT))?;
        Self::with_dialer(endpoint, config).await
    }

    /// As [`connect`](Self::connect), over any [`Dialer`].
    pub async fn with_dialer<D: Dialer>(
        mut dialer: D,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let state = ClientState::new(config, Instant::now())?;
        let conn = dialer.dial().await?;
        let (tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let span = tracing::info_span!("irc_client", peer = %dialer.describe());
        let driver = Driver {
            dialer,
            state,
            commands,
            commands_closed: false,
            events: Some(events_tx),
        };
        let task = tokio::spawn(driver.run(conn).instrument(span));
        Ok(Client {
            handle: ClientHandle { tx },
            events,
            task,
        })
    }

    /// The next event; `None` once the client has stopped (after QUIT, a fatal error, or a
    /// disconnection it does not retry) — then [`finish`](Self::finish) tells why.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// A handle for sending commands from other tasks.
    pub fn handle(&self) -> ClientHandle {
        self.handle.clone()
    }

    /// Stop reading events and wait for the client to stop: `Ok` after a clean QUIT, the error
    /// otherwise. Dropping the client's own handle here means the client quits by itself once
    /// no other handle remains.
    pub async fn finish(self) -> Result<(), ClientError> {
        let Client {
            handle,
            events,
            task,
        } = self;
        drop(events);
        drop(handle);
        task.await.unwrap_or(Err(ClientError::Stopped))
    }

    /// See [`ClientHandle::privmsg`].
    pub async fn privmsg(
        &self,
        target: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<(), ClientError> {
        self.handle.privmsg(target, text).await
    }

    /// See [`ClientHandle::notice`].
    pub async fn notice(
        &self,
        target: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<(), ClientError> {
        self.handle.notice(target, text).await
    }

    /// See [`ClientHandle::join`].
    pub async fn join(&self, channel: impl Into<String>) -> Result<(), ClientError> {
        self.handle.join(channel).await
    }

    /// See [`ClientHandle::quit`].
    pub async fn quit(&self, reason: Option<String>) -> Result<(), ClientError> {
        self.handle.quit(reason).await
    }

    /// See [`ClientHandle::send`].
    pub async fn send(&self, command: Command) -> Result<(), ClientError> {
        self.handle.send(command).await
    }
}

/// How a connection ended.
enum SessionEnd {
    /// Stop the client with this outcome.
    Stop(Result<(), ClientError>),
    /// The connection was lost; reconnect if the policy allows.
    Lost { registered: bool, reason: String },
}

struct Driver<D> {
    dialer: D,
    state: ClientState,
    commands: mpsc::Receiver<Command>,
    commands_closed: bool,
    events: Option<mpsc::Sender<Event>>,
}

impl<D: Dialer> Driver<D> {
    async fn run(mut self, first: Connection) -> Result<(), ClientError> {
        let mut conn = Some(first);
        let mut attempt = 0u32;
        let mut last_failure = String::new();
        loop {
            if let Some(c) = conn.take() {
                match self.session(c).await {
                    SessionEnd::Stop(result) => return result,
                    SessionEnd::Lost { registered, reason } => {
                        if registered {
                            attempt = 0;
                        }
                        last_failure = reason;
                    }
                }
            }
            if self.state.is_quitting() && self.state.queued() == 0 {
                return Ok(());
            }
            let Some(backoff) = self.state.config().reconnect.clone() else {
                return Err(ClientError::Disconnected(last_failure));
            };
            attempt = attempt.saturating_add(1);
            if backoff.max_attempts.is_some_and(|max| attempt > max) {
                return Err(ClientError::GaveUp {
                    attempts: attempt - 1,
                    last: last_failure,
                });
            }
            let delay = backoff.delay(attempt);
            tracing::info!(attempt, ?delay, "reconnecting");
            self.emit(Event::Reconnecting { attempt, delay }).await;
            if self.pause(Instant::now() + delay).await {
                return Ok(());
            }
            match self.dialer.dial().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "reconnection failed");
                    last_failure = e.to_string();
                    self.emit(Event::ConnectFailed {
                        error: last_failure.clone(),
                    })
                    .await;
                }
            }
        }
    }

    /// Wait until `until`, still taking commands (queued for the next registration). Returns
    /// true when the client should stop instead (QUIT, or every handle dropped).
    async fn pause(&mut self, until: Instant) -> bool {
        loop {
            let take = !self.commands_closed && self.state.queued() < MAX_QUEUED_LINES;
            tokio::select! {
                () = sleep_until(until) => return false,
                command = self.commands.recv(), if take => match command {
                    Some(Command::Quit(_)) | None => return true,
                    Some(command) => {
                        if let Err(e) = self.state.command(command) {
                            tracing::warn!(error = %e, "command refused");
                        }
                    }
                },
            }
        }
    }

    async fn session(&mut self, mut conn: Connection) -> SessionEnd {
        self.state.connection_started(Instant::now());
        tracing::info!("connected");
        self.emit(Event::Connected {
            endpoint: self.dialer.describe(),
        })
        .await;
        let mut codec = LineCodec::any_eol(MAX_WIRE_LINE);
        let mut registered = false;
        loop {
            let now = Instant::now();
            while let Some(line) = self.state.poll_transmit(now) {
                conn.queue(&line);
            }
            while let Some(event) = self.state.poll_event() {
                registered |= matches!(event, Event::Registered { .. });
                self.emit(event).await;
            }
            if let Some(close) = self.state.poll_close() {
                return match close {
                    Close::Quit => {
                        conn.abort();
                        self.lost("quit").await;
                        SessionEnd::Stop(Ok(()))
                    }
                    Close::Reconnect(reason) => {
                        tracing::warn!(%reason, "dropping the connection");
                        conn.abort();
                        self.lost(&reason).await;
                        SessionEnd::Lost { registered, reason }
                    }
                    Close::Fatal(error) => {
                        let _ = conn.close().await;
                        self.lost(&error.to_string()).await;
                        SessionEnd::Stop(Err(error))
                    }
                };
            }
            let deadline = self.state.poll_timeout();
            let take = !self.commands_closed
                && !self.state.is_quitting()
                && self.state.queued() < MAX_QUEUED_LINES;
            tokio::select! {
                frame = conn.read_frame(&mut codec) => match frame {
                    Ok(Some(line)) => self.state.handle_line(&line, Instant::now()),
                    Ok(None) => return self.ended(conn, "connection closed by the server", registered).await,
                    Err(e) if e.is_recoverable_frame() => {
                        tracing::debug!(error = %e, "skipping an over-long line");
                    }
                    Err(e) => return self.ended(conn, &e.to_string(), registered).await,
                },
                command = self.commands.recv(), if take => match command {
                    Some(command) => {
                        if let Err(e) = self.state.command(command) {
                            tracing::warn!(error = %e, "command refused");
                        }
                    }
                    None => {
                        self.commands_closed = true;
                        let _ = self.state.command(Command::Quit(None));
                    }
                },
                () = sleep_until(deadline.unwrap_or(now)), if deadline.is_some() => {
                    self.state.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// The transport ended (EOF or error).
    async fn ended(&mut self, conn: Connection, reason: &str, registered: bool) -> SessionEnd {
        conn.abort();
        let quit_sent = self.state.quit_sent();
        self.lost(reason).await;
        if quit_sent {
            SessionEnd::Stop(Ok(()))
        } else {
            tracing::warn!(%reason, "disconnected");
            SessionEnd::Lost {
                registered,
                reason: reason.to_owned(),
            }
        }
    }

    async fn lost(&mut self, reason: &str) {
        self.state.connection_lost(reason);
        while let Some(event) = self.state.poll_event() {
            self.emit(event).await;
        }
    }

    async fn emit(&mut self, event: Event) {
        if let Some(tx) = &self.events {
            if tx.send(event).await.is_err() {
                // Nobody reads events any more; keep running for the handles.
                self.events = None;
            }
        }
    }
}
