//! [`ClientState`]: the client protocol without I/O. The driver feeds it parsed server lines,
//! commands and the current time; it answers with lines to send ([`ClientState::poll_transmit`]),
//! events ([`ClientState::poll_event`]), the next instant it needs to be woken
//! ([`ClientState::poll_timeout`]) and whether the connection should end
//! ([`ClientState::poll_close`]) — the quinn-proto contract, so every behaviour is testable as
//! plain function calls.
//!
//! Registration (CAP, SASL, nick fallback) lives in `register.rs`, incoming messages and
//! CTCP in `incoming.rs`; both extend this type.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::command::{one_line, Command};
use super::config::ClientConfig;
use super::error::ClientError;
use super::event::Event;
use super::outbox::{LineKind, Outbox};
use super::split::{assumed_source_len, split_text, text_budget};
use crate::proto::{self, casemap, ctcp, Message};

/// How long the client waits for the server to close the connection after QUIT.
pub const QUIT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `JOIN a,b,c` line the client builds when rejoining many channels.
const MAX_JOIN_LINE: usize = 400;
/// The default QUIT message.
const DEFAULT_QUIT: &str = "Leaving";

/// Why the driver should end the connection.
#[derive(Debug)]
pub enum Close {
    /// QUIT was sent and the server did not close in time: stop without reconnecting.
    Quit,
    /// The connection is unusable (keepalive or registration timeout): reconnect.
    Reconnect(String),
    /// Stop for good with this error.
    Fatal(ClientError),
}

/// Capability negotiation progress (IRCv3 capability negotiation, `CAP LS 302`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CapPhase {
    /// Collecting `CAP * LS` lines (a `*` before the list means more follow).
    Listing(Vec<(String, Option<String>)>),
    /// `CAP REQ` sent; `sasl` tells whether it asked for SASL.
    Requested { sasl: bool },
    /// `AUTHENTICATE PLAIN` sent, waiting for `AUTHENTICATE +`.
    SaslStarted,
    /// Credentials sent, waiting for 903 or a failure numeric.
    SaslSent,
    /// `CAP END` sent, or the server does not do CAP.
    Done,
}

/// The client protocol without I/O: feed it server lines ([`handle_line`](Self::handle_line)),
/// commands ([`command`](Self::command)) and the time ([`handle_timeout`](Self::handle_timeout));
/// take lines to send ([`poll_transmit`](Self::poll_transmit)), events
/// ([`poll_event`](Self::poll_event)), the next wake-up ([`poll_timeout`](Self::poll_timeout))
/// and whether to hang up ([`poll_close`](Self::poll_close)).
#[derive(Debug)]
pub struct ClientState {
    pub(crate) config: ClientConfig,
    pub(crate) now: Instant,
    // Per connection.
    pub(crate) connected: bool,
    pub(crate) nick: String,
    pub(crate) registered: bool,
    pub(crate) cap: CapPhase,
    pub(crate) nick_attempt: usize,
    pub(crate) user_host: Option<String>,
    pub(crate) account: Option<String>,
    pub(crate) authenticated: bool,
    connected_at: Instant,
    last_input: Instant,
    ping_sent: Option<Instant>,
    quit_sent: Option<Instant>,
    pub(crate) close: Option<Close>,
    pub(crate) server_error: Option<String>,
    // Across connections.
    pub(crate) outbox: Outbox,
    pub(crate) events: VecDeque<Event>,
    /// Channels we are in (as the server spelled them), rejoined after a reconnect.
    pub(crate) joined: Vec<String>,
    quitting: bool,
}

impl ClientState {
    /// A state for `config` (validated), not yet connected.
    pub fn new(config: ClientConfig, now: Instant) -> Result<Self, ClientError> {
        config.validate()?;
        Ok(ClientState {
            nick: config.nick.clone(),
            outbox: Outbox::new(config.rate_limit),
            config,
            now,
            connected: false,
            registered: false,
            cap: CapPhase::Done,
            nick_attempt: 0,
            user_host: None,
            account: None,
            authenticated: false,
            connected_at: now,
            last_input: now,
            ping_sent: None,
            quit_sent: None,
            close: None,
            server_error: None,
            events: VecDeque::new(),
            joined: Vec::new(),
            quitting: false,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Our current nickname (the one being tried, before registration).
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// Whether registration has completed on the current connection.
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// Whether QUIT has been requested (the client will not reconnect).
    pub fn is_quitting(&self) -> bool {
        self.quitting
    }

    /// Whether QUIT has gone out on the current connection (a close is then expected).
    pub fn quit_sent(&self) -> bool {
        self.quit_sent.is_some()
    }

    /// Channels we are in (rejoined after a reconnect).
    pub fn channels(&self) -> &[String] {
        &self.joined
    }

    /// User lines waiting to be sent (the driver stops taking commands when this is large).
    pub fn queued(&self) -> usize {
        self.outbox.user_len()
    }

    /// A connection is up: queue registration (`CAP LS 302`, `PASS`, `NICK`, `USER`).
    pub fn connection_started(&mut self, now: Instant) {
        self.now = now;
        self.connected = true;
        self.registered = false;
        self.nick = self.config.nick.clone();
        self.nick_attempt = 0;
        self.user_host = None;
        self.account = None;
        self.authenticated = false;
        self.connected_at = now;
        self.last_input = now;
        self.ping_sent = None;
        self.quit_sent = None;
        self.close = None;
        self.server_error = None;
        self.cap = CapPhase::Listing(Vec::new());
        self.outbox.reset_connection();
        self.send_now("CAP", &["LS", "302"]);
        if let Some(pass) = self.config.password.clone() {
            self.send_now("PASS", &[&pass]);
        }
        let nick = self.nick.clone();
        self.send_now("NICK", &[&nick]);
        let (user, realname) = (self.config.user.clone(), self.config.realname.clone());
        self.send_now("USER", &[&user, "0", "*", &realname]);
    }

    /// The connection ended. Emits [`Event::Disconnected`] with the server's ERROR text when it
    /// sent one, else `reason`.
    pub fn connection_lost(&mut self, reason: &str) {
        if !self.connected {
            return;
        }
        self.connected = false;
        self.registered = false;
        self.outbox.reset_connection();
        let reason = self
            .server_error
            .take()
            .unwrap_or_else(|| reason.to_owned());
        self.events.push_back(Event::Disconnected { reason });
    }

    /// Feed one line from the server (without its line ending). Lines that do not parse are
    /// logged and ignored.
    pub fn handle_line(&mut self, line: &[u8], now: Instant) {
        match Message::parse(line) {
            Ok(msg) => self.handle_message(msg, now),
            Err(proto::ParseError::Empty) => {}
            Err(e) => tracing::debug!(error = %e, "ignoring unparsable line from the server"),
        }
    }

    /// Feed one message from the server.
    pub fn handle_message(&mut self, msg: Message, now: Instant) {
        self.now = now;
        self.last_input = now;
        self.ping_sent = None;
        self.dispatch(msg);
    }

    /// Time passed: keepalive, registration and QUIT timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if !self.connected || self.close.is_some() {
            return;
        }
        if let Some(sent) = self.quit_sent {
            if now >= sent + QUIT_TIMEOUT {
                self.close = Some(Close::Quit);
            }
            return;
        }
        if !self.registered && now >= self.connected_at + self.config.registration_timeout {
            self.close = Some(Close::Reconnect("registration timed out".into()));
            return;
        }
        if let Some(keepalive) = self.config.keepalive {
            match self.ping_sent {
                Some(sent) if now >= sent + keepalive => {
                    self.close = Some(Close::Reconnect(format!(
                        "no answer from the server for {}s",
                        (keepalive * 2).as_secs()
                    )));
                }
                None if now >= self.last_input + keepalive => {
                    self.send_now("PING", &["torsion-keepalive"]);
                    self.ping_sent = Some(now);
                }
                _ => {}
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) (or, for rate-limited lines,
    /// [`poll_transmit`](Self::poll_transmit)) needs to be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.connected || self.close.is_some() {
            return None;
        }
        let mut next = self.outbox.ready_at(self.now);
        let mut consider = |at: Instant| {
            next = Some(next.map_or(at, |n: Instant| n.min(at)));
        };
        if let Some(sent) = self.quit_sent {
            consider(sent + QUIT_TIMEOUT);
            return next;
        }
        if !self.registered {
            consider(self.connected_at + self.config.registration_timeout);
        }
        if let Some(keepalive) = self.config.keepalive {
            consider(self.ping_sent.unwrap_or(self.last_input) + keepalive);
        }
        next
    }

    /// The next line to send at `now`, if any may go (protocol lines always, user lines after
    /// registration and within the rate limit).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        self.now = now;
        if !self.connected || self.quit_sent.is_some() {
            return None;
        }
        let (line, kind) = self.outbox.pop(now)?;
        if kind == Some(LineKind::Quit) {
            self.quit_sent = Some(now);
        }
        Some(line)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether (and why) the connection should be closed now.
    pub fn poll_close(&mut self) -> Option<Close> {
        self.close.take()
    }

    /// Queue a command. Text is split to fit the line limit; user lines wait for registration
    /// and the rate limit.
    pub fn command(&mut self, command: Command) -> Result<(), ClientError> {
        command.validate()?;
        if self.quitting {
            return Err(ClientError::Stopped);
        }
        match command {
            Command::Privmsg { target, text } => self.queue_text("PRIVMSG", &target, &text, None),
            Command::Notice { target, text } => self.queue_text("NOTICE", &target, &text, None),
            Command::Action { target, text } => {
                self.queue_text("PRIVMSG", &target, &text, Some("ACTION"))
            }
            Command::Ctcp {
                target,
                command,
                params,
            } => {
                let budget = self
                    .budget("PRIVMSG", &target)
                    .saturating_sub(command.len() + 3);
                let params = truncate(&one_line(&params), budget).to_owned();
                let text = ctcp::format(&command.to_ascii_uppercase(), &params);
                self.queue_user("PRIVMSG", &[&target, &text], LineKind::User);
            }
            Command::Join { channel, key } => match key {
                Some(key) => self.queue_user("JOIN", &[&channel, &key], LineKind::User),
                None => self.queue_user("JOIN", &[&channel], LineKind::User),
            },
            Command::Part { channel, reason } => {
                self.forget_channel(&channel);
                match reason {
                    Some(reason) => {
                        let reason = one_line(&reason);
                        self.queue_user("PART", &[&channel, &reason], LineKind::User)
                    }
                    None => self.queue_user("PART", &[&channel], LineKind::User),
                }
            }
            Command::Nick(nick) => {
                if self.registered {
                    self.queue_user("NICK", &[&nick], LineKind::User);
                } else {
                    self.config.nick = nick.clone();
                    if self.connected {
                        self.nick = nick.clone();
                        self.send_now("NICK", &[&nick]);
                    }
                }
            }
            Command::Quit(reason) => {
                self.quitting = true;
                let reason = one_line(reason.as_deref().unwrap_or(DEFAULT_QUIT));
                let line = wire_line("QUIT", [reason.as_str()]);
                if self.registered {
                    self.outbox.push(line, LineKind::Quit);
                } else {
                    self.outbox.push_priority_quit(line);
                }
            }
            Command::Raw(msg) => {
                self.outbox.push(msg.to_bytes(), LineKind::User);
            }
        }
        Ok(())
    }

    /// Queue a protocol line (sent at once, not rate-limited).
    pub(crate) fn send_now(&mut self, command: &str, params: &[&str]) {
        self.outbox
            .push_priority(wire_line(command, params.iter().copied()));
    }

    /// Queue a user line (an automatic reply may be dropped: then false).
    pub(crate) fn queue_line(&mut self, command: &str, params: &[&str], kind: LineKind) -> bool {
        self.outbox
            .push(wire_line(command, params.iter().copied()), kind)
    }

    fn queue_user(&mut self, command: &str, params: &[&str], kind: LineKind) {
        self.queue_line(command, params, kind);
    }

    /// Text bytes that fit one `command target` line as the server will relay it.
    pub(crate) fn budget(&self, command: &str, target: &str) -> usize {
        let source_len = match &self.user_host {
            Some(user_host) => self.nick.len() + 1 + user_host.len(),
            None => assumed_source_len(&self.nick),
        };
        text_budget(source_len, command, target)
    }

    fn queue_text(&mut self, command: &str, target: &str, text: &str, ctcp_command: Option<&str>) {
        let mut budget = self.budget(command, target);
        if let Some(c) = ctcp_command {
            // \x01 COMMAND ' ' … \x01
            budget = budget.saturating_sub(c.len() + 3);
        }
        for piece in split_text(text, budget) {
            let piece = match ctcp_command {
                Some(c) => ctcp::format(c, &piece),
                None => piece,
            };
            self.queue_user(command, &[target, &piece], LineKind::User);
        }
    }

    /// JOIN lines for the configured channels and the ones we were in, after registration.
    pub(crate) fn rejoin_lines(&self) -> Vec<Bytes> {
        let mut channels: Vec<&str> = Vec::new();
        for channel in self.config.channels.iter().chain(&self.joined) {
            if !channels.iter().any(|c| casemap::eq(c, channel)) {
                channels.push(channel);
            }
        }
        let mut lines = Vec::new();
        let mut current = String::new();
        for channel in channels {
            if !current.is_empty() && current.len() + 1 + channel.len() > MAX_JOIN_LINE {
                lines.push(wire_line("JOIN", [current.as_str()]));
                current.clear();
            }
            if !current.is_empty() {
                current.push(',');
            }
            current.push_str(channel);
        }
        if !current.is_empty() {
            lines.push(wire_line("JOIN", [current.as_str()]));
        }
        lines
    }

    pub(crate) fn remember_channel(&mut self, channel: &str) {
        if !self.joined.iter().any(|c| casemap::eq(c, channel)) {
            self.joined.push(channel.to_owned());
        }
    }

    pub(crate) fn forget_channel(&mut self, channel: &str) {
        self.joined.retain(|c| !casemap::eq(c, channel));
    }

    /// Whether `nick` is us.
    pub(crate) fn is_me(&self, nick: &str) -> bool {
        casemap::eq(nick, &self.nick)
    }
}

/// `COMMAND p1 p2 :last\r\n`, with the trailing form only when the last parameter needs it
/// (the server-side [`proto::line`] always uses it; clients keep lines minimal).
pub(crate) fn wire_line(command: &str, params: impl IntoIterator<Item = impl AsRef<str>>) -> Bytes {
    let params: Vec<_> = params.into_iter().collect();
    let mut out = bytes::BytesMut::with_capacity(64);
    out.extend_from_slice(command.as_bytes());
    proto::write_params(&mut out, params.iter().map(AsRef::as_ref));
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

/// The longest prefix of `s` of at most `max` bytes ending on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}
