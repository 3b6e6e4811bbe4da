//! The POP3 session as a state machine (RFC 1939 §3: AUTHORIZATION → TRANSACTION →
//! UPDATE): a command line in, response bytes and at most one effect for the driver out. It
//! never touches the network; it reads and changes mail through the store (file I/O, so the
//! driver runs it on the blocking pool).
//!
//! Consistency with IMAP: the maildrop is INBOX of the shared store, its messages numbered at
//! login in UID order; a UIDL is the IMAP UID with UIDVALIDITY ([`crate::proto::uidl`]);
//! deletions are carried out only in the UPDATE state after QUIT (RFC 1939 §6) — expunged,
//! or flagged `\Deleted` with `--delete-mode flag` (then hidden from later POP3 sessions but
//! left to IMAP) — and messages RETRieved are flagged `\Seen`, as Dovecot does.

use std::sync::Arc;

use torsion_core::cred::sasl::{self, PlainCredentials};
use torsion_mailstore::{Flags, MailAddress, Mailbox, Message, SessionLock, Store};

use crate::proto::{self, Command, ParseError};

/// What happens to messages DELEted in a session (`--delete-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Remove them from the mailbox (IMAP sees them expunged).
    Expunge,
    /// Flag them `\Deleted` and hide them from POP3 (IMAP still sees them, flagged).
    Flag,
}

/// Fixed parts of the configuration every session shares.
#[derive(Debug)]
pub struct Config {
    /// The server's name (greeting).
    pub hostname: String,
    /// Allow USER/PASS and AUTH over a connection without TLS.
    pub allow_plaintext_auth: bool,
    /// STLS is possible (a certificate is configured).
    pub stls: bool,
    /// The mail root.
    pub store: Arc<dyn Store>,
    /// What DELE does at QUIT.
    pub delete_mode: DeleteMode,
    /// Seconds a client must wait between logins (RFC 2449 §6.8 LOGIN-DELAY; 0: none).
    pub login_delay: u32,
}

/// Where the session is (RFC 1939 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Before a successful login.
    Authorization,
    /// Logged in as this account, maildrop locked.
    Transaction(MailAddress),
    /// After QUIT.
    Done,
}

/// What the driver must do after a command's response is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// Close the connection.
    Close,
    /// Upgrade to TLS now (the `+OK` was written).
    StartTls,
    /// Check the password off the session, then call [`Session::login_checked`].
    CheckPassword {
        /// The login name as given.
        user: String,
        /// The candidate password.
        password: Vec<u8>,
    },
    /// AUTH PLAIN without an initial response: send `+ ` and read one line, then call
    /// [`Session::auth_data`].
    SaslContinue,
    /// The `+OK` of a RETR or TOP of a large message was written: stream its body from
    /// [`Session::take_transfer`] (byte-stuffed, then the `.` line).
    Transfer,
}

/// Messages up to this size are read whole and answered in one piece; larger ones are
/// streamed from their file in chunks ([`Effect::Transfer`]), so a session holds at most
/// about this much of any message.
pub const STREAM_ABOVE: u64 = 256 * 1024;

/// A message body to stream: its reader and TOP's line count (`None`: RETR).
pub struct Transfer {
    /// The message, CRLF line ends.
    pub reader: Box<dyn std::io::Read + Send>,
    /// TOP's body lines.
    pub body_lines: Option<u32>,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("body_lines", &self.body_lines)
            .finish_non_exhaustive()
    }
}

/// One locked maildrop: the messages as numbered at login.
#[derive(Debug)]
struct Maildrop {
    mailbox: Arc<dyn Mailbox>,
    _lock: SessionLock,
    uid_validity: u32,
    messages: Vec<Message>,
    deleted: Vec<bool>,
    retrieved: Vec<bool>,
}

impl Maildrop {
    /// (count, octets) of the messages not marked deleted.
    fn totals(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(n, size), (_, m)| (n + 1, size + m.size))
    }

    /// (number, message) of each message not marked deleted.
    fn live(&self) -> impl Iterator<Item = (usize, &Message)> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.deleted[*i])
            .map(|(i, m)| (i + 1, m))
    }
}

/// Why a message number does not name a message.
fn lookup(drop: &Maildrop, n: u32) -> Result<usize, String> {
    let i = (n as usize).wrapping_sub(1);
    match drop.deleted.get(i) {
        None => Err(format!("No such message {n}")),
        Some(true) => Err(format!("Message {n} already deleted")),
        Some(false) => Ok(i),
    }
}

/// One client's session.
#[derive(Debug)]
pub struct Session {
    config: Arc<Config>,
    state: State,
    tls: bool,
    /// The name from USER, waiting for PASS.
    user: Option<String>,
    drop: Option<Maildrop>,
    /// A large message's body waiting for the driver ([`Effect::Transfer`]).
    transfer: Option<Transfer>,
    /// Failed logins so far (the driver delays and finally disconnects).
    pub failed_logins: u32,
}

/// Append `+OK text` to `out`.
fn ok(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+OK ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Append `-ERR text` to `out`.
fn err(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"-ERR ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

impl Session {
    /// A session on a connection that is (`tls`) or is not encrypted yet.
    pub fn new(config: Arc<Config>, tls: bool) -> Self {
        Session {
            config,
            state: State::Authorization,
            tls,
            user: None,
            drop: None,
            transfer: None,
            failed_logins: 0,
        }
    }

    /// The body a [`Effect::Transfer`] is to stream (once).
    pub fn take_transfer(&mut self) -> Option<Transfer> {
        self.transfer.take()
    }

    /// The state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The greeting (RFC 1939 §4; no APOP timestamp: APOP is not offered).
    pub fn greeting(&self, out: &mut Vec<u8>) {
        ok(out, &format!("{} POP3 server ready", self.config.hostname));
    }

    /// The TLS upgrade finished: what the client said before it is forgotten (RFC 2595 §4).
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.user = None;
    }

    fn auth_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_auth
    }

    /// The CAPA list for the current state (RFC 2449 §5, §6).
    pub fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = vec!["TOP".into(), "UIDL".into()];
        if self.state == State::Authorization {
            if self.auth_allowed() {
                caps.push("USER".into());
                caps.push("SASL PLAIN".into());
            }
            if self.config.stls && !self.tls {
                caps.push("STLS".into());
            }
            caps.push("UTF8".into());
        }
        caps.extend(["RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"].map(String::from));
        // This server never deletes mail on its own (RFC 2449 §6.7).
        caps.push("EXPIRE NEVER".into());
        if self.config.login_delay > 0 {
            caps.push(format!("LOGIN-DELAY {}", self.config.login_delay));
        }
        caps.push(format!(
            "IMPLEMENTATION torsion-pop3 {}",
            env!("CARGO_PKG_VERSION")
        ));
        caps
    }

    /// Run one command line (without CRLF). Returns the effect and whether the line was a
    /// bad command (the driver bounds those).
    pub fn execute(&mut self, line: &[u8], out: &mut Vec<u8>) -> (Effect, bool) {
        let command = match proto::parse(line) {
            Ok(c) => c,
            Err(e @ ParseError::Unknown(_)) | Err(e @ ParseError::Syntax(_)) => {
                err(out, &e.to_string());
                return (Effect::None, true);
            }
        };
        match &self.state {
            State::Authorization => self.authorization(command, out),
            State::Transaction(_) => self.transaction(command, out),
            State::Done => (Effect::Close, false),
        }
    }

    fn authorization(&mut self, command: Command<'_>, out: &mut Vec<u8>) -> (Effect, bool) {
        const PLAINTEXT: &str =
            "[AUTH] Plaintext authentication disallowed on non-secure connections (use STLS)";
        let effect = match command {
            Command::Capa => {
                self.capa(out);
                Effect::None
            }
            Command::Noop => {
                ok(out, "");
                Effect::None
            }
            Command::Quit => {
                ok(out, "Bye");
                self.state = State::Done;
                Effect::Close
            }
            Command::Stls if self.config.stls && !self.tls => {
                ok(out, "Begin TLS negotiation");
                Effect::StartTls
            }
            Command::Stls if self.tls => {
                err(out, "TLS already active");
                Effect::None
            }
            Command::Stls => {
                err(out, "STLS not available");
                Effect::None
            }
            Command::Utf8 => {
                // RFC 6856 §2: names and passwords are UTF-8 from here on (they are taken
                // as UTF-8 anyway), and the maildrop's messages are sent as stored.
                ok(out, "UTF8 enabled");
                Effect::None
            }
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } if !self.auth_allowed() => {
                err(out, PLAINTEXT);
                Effect::None
            }
            Command::User(name) => {
                if name.contains(' ') || name.is_empty() {
                    err(out, "Invalid user name");
                } else {
                    self.user = Some(name.to_owned());
                    ok(out, "Send your password");
                }
                Effect::None
            }
            Command::Pass(password) => match self.user.take() {
                Some(user) => Effect::CheckPassword {
                    user,
                    password: password.to_vec(),
                },
                None => {
                    err(out, "USER first");
                    return (Effect::None, true);
                }
            },
            Command::Auth {
                mechanism: None, ..
            } => {
                // Not in RFC 5034, but what Outlook and others send to list the mechanisms.
                ok(out, "");
                out.extend_from_slice(b"PLAIN\r\n.\r\n");
                Effect::None
            }
            Command::Auth {
                mechanism: Some(m),
                initial,
            } => {
                if !m.eq_ignore_ascii_case("PLAIN") {
                    err(out, "[AUTH] Unsupported authentication mechanism");
                    return (Effect::None, false);
                }
                match initial {
                    None => Effect::SaslContinue,
                    Some(b"=") => self.plain(b"", out),
                    Some(b64) => self.plain(b64, out),
                }
            }
            Command::Apop => {
                err(
                    out,
                    "APOP not supported (use USER/PASS or AUTH PLAIN over TLS)",
                );
                Effect::None
            }
            _ => {
                err(out, "Log in first");
                return (Effect::None, true);
            }
        };
        (effect, false)
    }

    /// The client's line after `+ ` (AUTH PLAIN without an initial response).
    pub fn auth_data(&mut self, line: &[u8], out: &mut Vec<u8>) -> Effect {
        if sasl::is_abort(line) {
            err(out, "Authentication cancelled");
            return Effect::None;
        }
        self.plain(line, out)
    }

    fn plain(&mut self, b64: &[u8], out: &mut Vec<u8>) -> Effect {
        // An empty response (`=`) cannot hold PLAIN's three fields.
        let decoded = match b64 {
            b"" => Err(()),
            _ => sasl::decode_plain(b64).map_err(|_| ()),
        };
        let creds: PlainCredentials = match decoded {
            Ok(c) => c,
            Err(()) => {
                err(out, "[AUTH] Invalid PLAIN response");
                return Effect::None;
            }
        };
        if creds.authorization_identity() != creds.authcid {
            err(out, "[AUTH] Acting as another user is not allowed");
            return Effect::None;
        }
        Effect::CheckPassword {
            user: creds.authcid,
            password: creds.password,
        }
    }

    /// The driver checked the password: `account` if it was right. Locks and lists the
    /// maildrop (RFC 1939 §4: a maildrop already locked is `-ERR [IN-USE]`, RFC 2449 §8.1.1).
    pub fn login_checked(&mut self, account: Option<MailAddress>, out: &mut Vec<u8>) {
        let Some(addr) = account else {
            self.failed_logins += 1;
            err(out, "[AUTH] Authentication failed");
            return;
        };
        match self.open(&addr) {
            Ok(Some(drop)) => {
                let (n, size) = drop.totals();
                self.drop = Some(drop);
                self.state = State::Transaction(addr);
                ok(out, &format!("Logged in, {n} messages ({size} octets)"));
            }
            Ok(None) => err(out, "[IN-USE] Mailbox is locked by another POP3 session"),
            Err(e) => {
                tracing::warn!(%addr, "POP3 login: cannot open the maildrop: {e}");
                err(
                    out,
                    "[SYS/TEMP] The mailbox is not available, try again later",
                );
            }
        }
    }

    fn open(&self, addr: &MailAddress) -> std::io::Result<Option<Maildrop>> {
        self.config.store.provision(addr)?;
        let mailbox = self
            .config
            .store
            .mailbox(addr, "INBOX")
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let Some(lock) = mailbox.try_lock_session()? else {
            return Ok(None);
        };
        let snapshot = mailbox.sync()?;
        let messages: Vec<Message> = match self.config.delete_mode {
            DeleteMode::Expunge => snapshot.messages,
            DeleteMode::Flag => snapshot
                .messages
                .into_iter()
                .filter(|m| !m.flags.contains(Flags::DELETED))
                .collect(),
        };
        let n = messages.len();
        Ok(Some(Maildrop {
            mailbox,
            _lock: lock,
            uid_validity: snapshot.uid_validity,
            messages,
            deleted: vec![false; n],
            retrieved: vec![false; n],
        }))
    }

    fn capa(&self, out: &mut Vec<u8>) {
        ok(out, "Capability list follows");
        for cap in self.capabilities() {
            out.extend_from_slice(cap.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }

    fn transaction(&mut self, command: Command<'_>, out: &mut Vec<u8>) -> (Effect, bool) {
        let Some(drop) = self.drop.as_mut() else {
            self.state = State::Done;
            return (Effect::Close, false);
        };
        match command {
            Command::Stat => {
                let (n, size) = drop.totals();
                ok(out, &format!("{n} {size}"));
            }
            Command::List(None) => {
                let (n, size) = drop.totals();
                ok(out, &format!("{n} messages ({size} octets)"));
                for (i, m) in drop.live() {
                    out.extend_from_slice(format!("{i} {}\r\n", m.size).as_bytes());
                }
                out.extend_from_slice(b".\r\n");
            }
            Command::List(Some(n)) => match lookup(drop, n) {
                Ok(i) => ok(out, &format!("{n} {}", drop.messages[i].size)),
                Err(e) => err(out, &e),
            },
            Command::Uidl(None) => {
                ok(out, "Unique-ID listing follows");
                for (i, m) in drop.live() {
                    let id = proto::uidl(m.uid, drop.uid_validity);
                    out.extend_from_slice(format!("{i} {id}\r\n").as_bytes());
                }
                out.extend_from_slice(b".\r\n");
            }
            Command::Uidl(Some(n)) => match lookup(drop, n) {
                Ok(i) => {
                    let id = proto::uidl(drop.messages[i].uid, drop.uid_validity);
                    ok(out, &format!("{n} {id}"));
                }
                Err(e) => err(out, &e),
            },
            Command::Retr(n) => {
                if let Some(t) = Self::send(drop, n, None, out) {
                    self.transfer = Some(t);
                    return (Effect::Transfer, false);
                }
            }
            Command::Top(n, lines) => {
                if let Some(t) = Self::send(drop, n, Some(lines), out) {
                    self.transfer = Some(t);
                    return (Effect::Transfer, false);
                }
            }
            Command::Dele(n) => match lookup(drop, n) {
                Ok(i) => {
                    drop.deleted[i] = true;
                    ok(out, &format!("Message {n} deleted"));
                }
                Err(e) => err(out, &e),
            },
            Command::Noop => ok(out, ""),
            Command::Rset => {
                drop.deleted.fill(false);
                let (n, size) = drop.totals();
                ok(out, &format!("{n} messages ({size} octets)"));
            }
            Command::Capa => self.capa(out),
            Command::Quit => {
                self.update(out);
                return (Effect::Close, false);
            }
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } | Command::Apop => {
                err(out, "Already logged in");
                return (Effect::None, true);
            }
            Command::Stls | Command::Utf8 => {
                err(out, "Not allowed after login");
                return (Effect::None, true);
            }
        }
        (Effect::None, false)
    }

    /// RETR (`lines` None) or TOP: the whole answer in `out` for a small message; for a large
    /// one the `+OK` line in `out` and the body to stream.
    fn send(
        drop: &mut Maildrop,
        n: u32,
        lines: Option<u32>,
        out: &mut Vec<u8>,
    ) -> Option<Transfer> {
        let i = match lookup(drop, n) {
            Ok(i) => i,
            Err(e) => {
                err(out, &e);
                return None;
            }
        };
        let message = &drop.messages[i];
        let status = |out: &mut Vec<u8>| match lines {
            None => ok(out, &format!("{} octets", message.size)),
            Some(_) => ok(out, "Top of message follows"),
        };
        let mut transfer = None;
        let opened = if message.size > STREAM_ABOVE {
            drop.mailbox.open_read(message).map(|reader| {
                status(out);
                transfer = Some(Transfer {
                    reader,
                    body_lines: lines,
                });
            })
        } else {
            drop.mailbox.read(message).map(|content| {
                status(out);
                proto::stuff(&content, lines, out);
            })
        };
        match opened {
            Ok(()) => {
                if lines.is_none() {
                    drop.retrieved[i] = true;
                }
                transfer
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                err(out, &format!("Message {n} was removed by another session"));
                None
            }
            Err(e) => {
                tracing::warn!(uid = message.uid, "POP3 RETR: {e}");
                err(out, "[SYS/TEMP] The message could not be read");
                None
            }
        }
    }

    /// The UPDATE state (RFC 1939 §6): carry out the deletions and the `\Seen` flags, then
    /// release the maildrop.
    fn update(&mut self, out: &mut Vec<u8>) {
        self.state = State::Done;
        let Some(drop) = self.drop.take() else {
            return ok(out, "Bye");
        };
        match Self::apply(&drop, self.config.delete_mode) {
            Ok(()) => ok(out, "Bye"),
            Err(e) => {
                tracing::warn!("POP3 UPDATE: {e}");
                err(out, "[SYS/TEMP] Some deleted messages were not removed");
            }
        }
    }

    fn apply(drop: &Maildrop, mode: DeleteMode) -> std::io::Result<()> {
        let deleted: Vec<u32> = drop
            .messages
            .iter()
            .zip(&drop.deleted)
            .filter(|(_, d)| **d)
            .map(|(m, _)| m.uid)
            .collect();
        if mode == DeleteMode::Expunge && !deleted.is_empty() {
            drop.mailbox.expunge(&deleted)?;
        }
        let flag = |i: usize| match (drop.deleted[i], mode) {
            (true, DeleteMode::Flag) => Flags::DELETED,
            (true, DeleteMode::Expunge) => Flags::EMPTY,
            (false, _) if drop.retrieved[i] => Flags::SEEN,
            (false, _) => Flags::EMPTY,
        };
        let wanted: Vec<(u32, Flags)> = (0..drop.messages.len())
            .filter(|&i| flag(i) != Flags::EMPTY)
            .map(|i| (drop.messages[i].uid, flag(i)))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        // Added to the flags as they are now (an IMAP client may have changed them since
        // login); a change racing this one is retried with the newer flags.
        for _ in 0..3 {
            let snapshot = drop.mailbox.sync()?;
            let changes: Vec<_> = wanted
                .iter()
                .filter_map(|&(uid, add)| {
                    let m = snapshot.get(uid)?;
                    (!m.flags.contains(add)).then(|| (uid, m.flags.with(add), m.keywords))
                })
                .collect();
            if changes.is_empty() {
                return Ok(());
            }
            let outcome = drop
                .mailbox
                .store(&changes, Some(snapshot.highest_modseq))?;
            if outcome.modified.is_empty() {
                return Ok(());
            }
        }
        tracing::info!("POP3 UPDATE: \\Seen not set on some messages changed meanwhile");
        Ok(())
    }
}
