//! The SMTP server session as a state machine without I/O: a command line in, an [`Action`]
//! out (a reply, or "read the DATA stream", "check this password", "upgrade to TLS",
//! "deliver this message"). The async driver ([`super::driver`]) does the I/O; tests drive
//! sessions by plain calls.

use std::sync::Arc;
use std::time::SystemTime;

use torsion_core::cred::sasl;
use torsion_mailstore::{Directory, MailAddress, Route};

use crate::proto::{Body, Command, CommandError, MailParams, Mailbox, Reply};

/// Which port's rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Port 25: anyone may send to local users; relaying needs AUTH.
    Relay,
    /// Submission (587/465, RFC 6409): AUTH is required before MAIL.
    Submission,
}

/// Settings shared by all sessions.
#[derive(Debug)]
pub struct SessionConfig {
    /// Our host name (greeting, EHLO, Received:).
    pub hostname: String,
    /// Local domains, accounts, aliases.
    pub directory: Arc<Directory>,
    /// Largest message accepted (SIZE).
    pub max_message_size: usize,
    /// Recipients per message (452 4.5.3 beyond).
    pub max_recipients: usize,
    /// Errors before the session is dropped (421 4.7.0).
    pub max_errors: u32,
    /// AUTH allowed without TLS.
    pub allow_plaintext_auth: bool,
    /// A relay queue exists (mail for other domains can be accepted from authenticated users).
    pub relay_enabled: bool,
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this reply and read the next command.
    Reply(Reply),
    /// Send the reply (220), then upgrade the connection to TLS and call [`Session::tls_started`].
    StartTls(Reply),
    /// Send the reply (354), then read the DATA stream and call [`Session::data_received`].
    ReadData(Reply),
    /// Read exactly `size` octets of BDAT data and call [`Session::chunk_received`].
    ReadChunk {
        /// Octets to read.
        size: u64,
        /// Whether this is the LAST chunk.
        last: bool,
    },
    /// Send the reply (334 challenge) and hand the next line to [`Session::auth_line`].
    AuthChallenge(Reply),
    /// Check a password off the reactor and call [`Session::auth_result`].
    CheckPassword {
        /// The account.
        user: String,
        /// The candidate.
        password: Vec<u8>,
    },
    /// Deliver, then call [`Session::delivered`] with the outcome.
    Deliver(Box<Delivery>),
    /// Send the reply and close the connection.
    Close(Reply),
}

/// A message ready for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The envelope sender (`None` = `<>`).
    pub from: Option<Mailbox>,
    /// Local mailboxes (one copy each).
    pub local: Vec<MailAddress>,
    /// Remote recipients for the relay queue.
    pub relay: Vec<Mailbox>,
    /// The trace header to prepend (`Received: …\r\n`).
    pub trace: String,
    /// The message as received.
    pub message: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Local(Vec<MailAddress>),
    Relay(Mailbox),
}

#[derive(Debug, Clone)]
struct Transaction {
    from: Option<Mailbox>,
    params: MailParams,
    targets: Vec<(Mailbox, Target)>,
    /// BDAT chunks so far.
    chunks: Option<Vec<u8>>,
    /// Set when a chunk made the message too big; later chunks are discarded.
    chunks_too_large: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AuthExchange {
    /// `AUTH PLAIN` without an initial response: waiting for it.
    Plain,
    /// `AUTH LOGIN`: waiting for the user name.
    LoginUser,
    /// `AUTH LOGIN`: have the user, waiting for the password.
    LoginPassword(String),
    /// Password being checked.
    Checking(String),
}

/// One SMTP session.
#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    mode: Mode,
    peer_ip: String,
    helo: Option<String>,
    esmtp: bool,
    tls: bool,
    tls_available: bool,
    user: Option<MailAddress>,
    tx: Option<Transaction>,
    errors: u32,
    auth: Option<AuthExchange>,
    id_counter: u64,
}

fn r(code: u16, status: &'static str, text: impl Into<String>) -> Action {
    Action::Reply(Reply::new(code, status, text))
}

impl Session {
    /// A session for a client at `peer_ip`; `tls_available` says whether STARTTLS can be offered,
    /// `tls` whether the connection is already encrypted (port 465).
    pub fn new(
        config: Arc<SessionConfig>,
        mode: Mode,
        peer_ip: &str,
        tls_available: bool,
        tls: bool,
    ) -> Self {
        Session {
            config,
            mode,
            peer_ip: peer_ip.to_owned(),
            helo: None,
            esmtp: false,
            tls,
            tls_available: tls_available && !tls,
            user: None,
            tx: None,
            errors: 0,
            auth: None,
            id_counter: 0,
        }
    }

    /// The 220 greeting.
    pub fn greeting(&self) -> Reply {
        Reply::new(220, "", format!("{} ESMTP Torsion", self.config.hostname))
    }

    /// The authenticated user, if any.
    pub fn user(&self) -> Option<&MailAddress> {
        self.user.as_ref()
    }

    /// Whether a password exchange is in progress (lines go to [`Session::auth_line`]).
    pub fn in_auth(&self) -> bool {
        matches!(
            self.auth,
            Some(AuthExchange::Plain | AuthExchange::LoginUser | AuthExchange::LoginPassword(_))
        )
    }

    /// An error reply; past the limit the session ends (421).
    fn error(&mut self, reply: Reply) -> Action {
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            return Action::Close(Reply::new(
                421,
                "4.7.0",
                format!(
                    "{} Too many errors, closing connection",
                    self.config.hostname
                ),
            ));
        }
        Action::Reply(reply)
    }

    /// A line longer than the limit arrived (and was discarded).
    pub fn line_too_long(&mut self) -> Action {
        self.error(Reply::new(500, "5.5.2", "Line too long"))
    }

    fn ehlo_reply(&self, client: &str) -> Reply {
        let mut lines = vec![
            format!("{} Hello {client} [{}]", self.config.hostname, self.peer_ip),
            "PIPELINING".to_owned(),
            format!("SIZE {}", self.config.max_message_size),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
            "CHUNKING".to_owned(),
        ];
        if self.tls_available {
            lines.push("STARTTLS".to_owned());
        }
        if self.auth_allowed() {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        lines.push("HELP".to_owned());
        Reply::multi(250, "", lines)
    }

    fn auth_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_auth
    }

    /// Handle one command line (without CRLF).
    pub fn command(&mut self, line: &[u8]) -> Action {
        let cmd = match Command::parse(line) {
            Ok(cmd) => cmd,
            Err(e) => {
                let reply = match e {
                    CommandError::Unknown => Reply::new(500, "5.5.1", "Command unrecognized"),
                    CommandError::Syntax(what) => {
                        Reply::new(501, "5.5.4", format!("Syntax error: {what}"))
                    }
                    CommandError::BadSender => {
                        Reply::new(501, "5.1.7", "Bad sender address syntax")
                    }
                    CommandError::BadRecipient => {
                        Reply::new(501, "5.1.3", "Bad recipient address syntax")
                    }
                    CommandError::UnknownParameter(p) => {
                        Reply::new(555, "5.5.4", format!("Unsupported parameter {p}"))
                    }
                    CommandError::NeedsSmtpUtf8 => {
                        Reply::new(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
                    }
                };
                return self.error(reply);
            }
        };
        match cmd {
            Command::Ehlo(client) => {
                self.helo = Some(client.clone());
                self.esmtp = true;
                self.tx = None;
                Action::Reply(self.ehlo_reply(&client))
            }
            Command::Helo(client) => {
                self.tx = None;
                self.esmtp = false;
                let text = format!("{} Hello {client}", self.config.hostname);
                self.helo = Some(client);
                Action::Reply(Reply::new(250, "", text))
            }
            Command::Quit => Action::Close(Reply::new(
                221,
                "2.0.0",
                format!("{} closing connection", self.config.hostname),
            )),
            Command::Noop => r(250, "2.0.0", "OK"),
            Command::Rset => {
                self.tx = None;
                r(250, "2.0.0", "OK")
            }
            Command::Help => Action::Reply(Reply::multi(
                214,
                "2.0.0",
                vec![
                    "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH".into(),
                    "See RFC 5321".into(),
                ],
            )),
            // RFC 5321 §3.5.3: 252 when we will not verify (address harvesting).
            Command::Vrfy(_) => r(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"),
            Command::Expn(_) => self.error(Reply::new(502, "5.5.1", "EXPN not available")),
            Command::StartTls => self.starttls(),
            Command::Auth { mechanism, initial } => self.auth_command(&mechanism, initial),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to } => self.rcpt(to),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
        }
    }

    fn starttls(&mut self) -> Action {
        if self.tls {
            return self.error(Reply::new(503, "5.5.1", "TLS already active"));
        }
        if !self.tls_available {
            return self.error(Reply::new(502, "5.5.1", "STARTTLS not available"));
        }
        Action::StartTls(Reply::new(220, "2.0.0", "Ready to start TLS"))
    }

    /// The TLS handshake finished: RFC 3207 §4.2 — forget everything, the client must EHLO again.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.tls_available = false;
        self.helo = None;
        self.esmtp = false;
        self.tx = None;
        self.user = None;
        self.auth = None;
    }

    fn auth_command(&mut self, mechanism: &str, initial: Option<String>) -> Action {
        if !self.esmtp {
            return self.error(Reply::new(503, "5.5.1", "Send EHLO first"));
        }
        if self.user.is_some() {
            return self.error(Reply::new(503, "5.5.1", "Already authenticated"));
        }
        if self.tx.is_some() {
            return self.error(Reply::new(
                503,
                "5.5.1",
                "AUTH not allowed during a mail transaction",
            ));
        }
        if !self.auth_allowed() {
            // RFC 4954 §4 / RFC 3207: 538 5.7.11 Encryption required.
            return self.error(Reply::new(
                538,
                "5.7.11",
                "Encryption required for requested authentication mechanism",
            ));
        }
        match (mechanism, initial) {
            ("PLAIN", Some(initial)) => self.plain_response(initial.as_bytes()),
            ("PLAIN", None) => {
                self.auth = Some(AuthExchange::Plain);
                Action::AuthChallenge(Reply::new(334, "", ""))
            }
            ("LOGIN", initial) => match initial {
                Some(user) => self.login_user(user.as_bytes()),
                None => {
                    self.auth = Some(AuthExchange::LoginUser);
                    // base64("Username:")
                    Action::AuthChallenge(Reply::new(334, "", "VXNlcm5hbWU6"))
                }
            },
            _ => self.error(Reply::new(504, "5.5.4", "Unrecognized authentication type")),
        }
    }

    fn plain_response(&mut self, b64: &[u8]) -> Action {
        let b64 = if b64 == b"=" { &b""[..] } else { b64 };
        match sasl::decode_plain(b64) {
            Ok(creds) if creds.authorization_identity() == creds.authcid => {
                self.auth = Some(AuthExchange::Checking(creds.authcid.clone()));
                Action::CheckPassword {
                    user: creds.authcid.clone(),
                    password: creds.password.clone(),
                }
            }
            _ => {
                self.auth = None;
                self.error(Reply::new(
                    501,
                    "5.5.2",
                    "Cannot decode AUTH PLAIN response",
                ))
            }
        }
    }

    fn login_user(&mut self, b64: &[u8]) -> Action {
        match sasl::decode_login_response(b64)
            .ok()
            .and_then(|u| String::from_utf8(u).ok())
        {
            Some(user) if !user.is_empty() => {
                self.auth = Some(AuthExchange::LoginPassword(user));
                // base64("Password:")
                Action::AuthChallenge(Reply::new(334, "", "UGFzc3dvcmQ6"))
            }
            _ => {
                self.auth = None;
                self.error(Reply::new(
                    501,
                    "5.5.2",
                    "Cannot decode AUTH LOGIN response",
                ))
            }
        }
    }

    /// A line during an AUTH exchange (`*` cancels, RFC 4954 §4).
    pub fn auth_line(&mut self, line: &[u8]) -> Action {
        if sasl::is_abort(line) {
            self.auth = None;
            return self.error(Reply::new(501, "5.0.0", "Authentication cancelled"));
        }
        match self.auth.take() {
            Some(AuthExchange::Plain) => self.plain_response(line),
            Some(AuthExchange::LoginUser) => self.login_user(line),
            Some(AuthExchange::LoginPassword(user)) => match sasl::decode_login_response(line) {
                Ok(password) => {
                    self.auth = Some(AuthExchange::Checking(user.clone()));
                    Action::CheckPassword { user, password }
                }
                Err(_) => self.error(Reply::new(
                    501,
                    "5.5.2",
                    "Cannot decode AUTH LOGIN response",
                )),
            },
            _ => self.command(line),
        }
    }

    /// The password check finished; `account` is the logged-in address on success.
    pub fn auth_result(&mut self, account: Option<MailAddress>) -> Action {
        self.auth = None;
        match account {
            Some(addr) => {
                self.user = Some(addr);
                r(235, "2.7.0", "Authentication successful")
            }
            None => self.error(Reply::new(
                535,
                "5.7.8",
                "Authentication credentials invalid",
            )),
        }
    }

    fn mail(&mut self, from: Option<Mailbox>, params: MailParams) -> Action {
        if self.helo.is_none() {
            return self.error(Reply::new(503, "5.5.1", "Send EHLO/HELO first"));
        }
        if self.tx.is_some() {
            return self.error(Reply::new(503, "5.5.1", "Nested MAIL command"));
        }
        if self.mode == Mode::Submission && self.user.is_none() {
            return self.error(Reply::new(530, "5.7.0", "Authentication required"));
        }
        if !self.esmtp && (params != MailParams::default()) {
            return self.error(Reply::new(555, "5.5.4", "Parameters need EHLO"));
        }
        if params
            .size
            .is_some_and(|s| s > self.config.max_message_size as u64)
        {
            return r(
                552,
                "5.3.4",
                "Message size exceeds fixed maximum message size",
            );
        }
        // An authenticated user may only use their own address as sender on submission
        // (RFC 6409 §6.1 allows the MSA to enforce this; it stops trivial forgery).
        if let (Mode::Submission, Some(user), Some(from)) = (self.mode, &self.user, &from) {
            let own = MailAddress::new(&from.local, &from.domain).is_ok_and(|a| {
                &a == user
                    || self.config.directory.route(&a)
                        == Route::Local {
                            mailboxes: vec![user.clone()],
                            forward: vec![],
                        }
            });
            if !own {
                return self.error(Reply::new(
                    553,
                    "5.7.1",
                    format!("Sender address <{from}> not owned by user {user}"),
                ));
            }
        }
        self.tx = Some(Transaction {
            from,
            params,
            targets: Vec::new(),
            chunks: None,
            chunks_too_large: false,
        });
        r(250, "2.1.0", "Sender OK")
    }

    fn rcpt(&mut self, to: Mailbox) -> Action {
        let Some(tx) = &self.tx else {
            return self.error(Reply::new(503, "5.5.1", "Need MAIL before RCPT"));
        };
        if tx.targets.len() >= self.config.max_recipients {
            return r(452, "4.5.3", "Too many recipients");
        }
        if to.is_utf8() && !tx.params.smtputf8 {
            return self.error(Reply::new(
                553,
                "5.6.7",
                "Non-ASCII address requires SMTPUTF8",
            ));
        }
        // <Postmaster> with no domain is ours (RFC 5321 §4.1.1.3).
        let domain = if to.domain.is_empty() {
            match self.config.directory.domains().next() {
                Some(d) => d.to_owned(),
                None => return r(550, "5.1.1", "No such user"),
            }
        } else {
            to.domain.clone()
        };
        let addr = match MailAddress::new(&to.local, &domain) {
            Ok(a) => a,
            Err(_) => return self.error(Reply::new(501, "5.1.3", "Bad recipient address syntax")),
        };
        let target = match self.config.directory.route(&addr) {
            Route::Local { mailboxes, forward } => {
                // An alias that forwards needs the relay queue; without one the remote copies
                // would be lost silently, so the recipient is deferred as a whole instead.
                if !forward.is_empty() && !self.config.relay_enabled {
                    tracing::warn!(%addr, "alias forwards to other domains but no --queue-dir is set");
                    return r(451, "4.3.0", "Forwarding not available, try again later");
                }
                let mut local = mailboxes;
                // Forwarding targets are relayed (our own alias: no authentication needed).
                let relay: Vec<Mailbox> = if self.config.relay_enabled {
                    forward
                        .iter()
                        .map(|a| Mailbox {
                            local: a.local().to_owned(),
                            domain: a.domain().to_owned(),
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                local.dedup();
                let tx = self.tx.as_mut();
                if let Some(tx) = tx {
                    for m in relay {
                        tx.targets.push((to.clone(), Target::Relay(m)));
                    }
                }
                Target::Local(local)
            }
            Route::Unknown => {
                return self.error(Reply::new(
                    550,
                    "5.1.1",
                    format!("<{to}>: Recipient address rejected: User unknown"),
                ))
            }
            Route::Loop => return r(554, "5.4.6", "Routing loop detected"),
            Route::Remote => {
                if self.user.is_none() {
                    // Never an open relay.
                    return self.error(Reply::new(
                        554,
                        "5.7.1",
                        format!("<{to}>: Relay access denied"),
                    ));
                }
                if !self.config.relay_enabled {
                    return r(
                        451,
                        "4.3.0",
                        "Relaying not configured on this server, try later",
                    );
                }
                Target::Relay(to.clone())
            }
        };
        if let Some(tx) = self.tx.as_mut() {
            tx.targets.push((to, target));
        }
        r(250, "2.1.5", "Recipient OK")
    }

    fn data(&mut self) -> Action {
        match &self.tx {
            None => self.error(Reply::new(503, "5.5.1", "Need MAIL command")),
            Some(tx) if tx.targets.is_empty() => {
                self.error(Reply::new(503, "5.5.1", "Need RCPT command"))
            }
            Some(tx) if tx.chunks.is_some() => {
                self.error(Reply::new(503, "5.5.1", "DATA not allowed after BDAT"))
            }
            Some(tx) if tx.params.body == Some(Body::BinaryMime) => {
                self.error(Reply::new(503, "5.5.1", "BINARYMIME requires BDAT"))
            }
            Some(_) => Action::ReadData(Reply::new(354, "", "End data with <CR><LF>.<CR><LF>")),
        }
    }

    fn bdat(&mut self, size: u64, last: bool) -> Action {
        // RFC 3030 §2: the chunk is read even when the command fails, to keep in sync; the
        // driver always reads it and then calls `chunk_received`.
        Action::ReadChunk { size, last }
    }

    /// A BDAT chunk arrived (`data` is at most what fits; `truncated` says bytes were dropped).
    pub fn chunk_received(&mut self, data: &[u8], truncated: bool, last: bool) -> Action {
        let max = self.config.max_message_size;
        let ready = match &self.tx {
            None => Err(Reply::new(503, "5.5.1", "Need MAIL command")),
            Some(tx) if tx.targets.is_empty() => Err(Reply::new(503, "5.5.1", "Need RCPT command")),
            Some(_) => Ok(()),
        };
        if let Err(reply) = ready {
            return self.error(reply);
        }
        let Some(tx) = self.tx.as_mut() else {
            return r(503, "5.5.1", "Need MAIL command");
        };
        let chunks = tx.chunks.get_or_insert_with(Vec::new);
        if truncated || chunks.len() + data.len() > max {
            tx.chunks_too_large = true;
            chunks.clear();
        } else if !tx.chunks_too_large {
            chunks.extend_from_slice(data);
        }
        if !last {
            let size = data.len();
            return r(250, "2.0.0", format!("{size} octets received"));
        }
        let too_large = tx.chunks_too_large;
        let message = std::mem::take(chunks);
        if too_large {
            self.tx = None;
            return r(
                552,
                "5.3.4",
                "Message size exceeds fixed maximum message size",
            );
        }
        self.finish(message, "BDAT")
    }

    /// The DATA stream ended.
    pub fn data_received(
        &mut self,
        message: Vec<u8>,
        outcome: crate::proto::DataOutcome,
    ) -> Action {
        use crate::proto::DataOutcome;
        match outcome {
            DataOutcome::TooLarge => {
                self.tx = None;
                r(
                    552,
                    "5.3.4",
                    "Message size exceeds fixed maximum message size",
                )
            }
            DataOutcome::BareLineEnding => {
                self.tx = None;
                // RFC 5321 §2.3.8; the SMTP smuggling defence.
                self.error(Reply::new(
                    554,
                    "5.6.0",
                    "Message contains bare CR or LF, rejected (RFC 5321 section 2.3.8)",
                ))
            }
            DataOutcome::Complete => self.finish(message, "DATA"),
        }
    }

    fn finish(&mut self, message: Vec<u8>, _how: &str) -> Action {
        let Some(tx) = self.tx.take() else {
            return r(503, "5.5.1", "Need MAIL command");
        };
        let mut local: Vec<MailAddress> = Vec::new();
        let mut relay: Vec<Mailbox> = Vec::new();
        for (_, target) in &tx.targets {
            match target {
                Target::Local(list) => {
                    for a in list {
                        if !local.contains(a) {
                            local.push(a.clone());
                        }
                    }
                }
                Target::Relay(m) => {
                    if !relay.contains(m) {
                        relay.push(m.clone());
                    }
                }
            }
        }
        let single_rcpt = if tx.targets.len() == 1 {
            Some(tx.targets[0].0.to_string())
        } else {
            None
        };
        let trace = self.received_header(single_rcpt.as_deref(), tx.params.smtputf8);
        Action::Deliver(Box::new(Delivery {
            from: tx.from,
            local,
            relay,
            trace,
            message,
        }))
    }

    /// `Received:` per RFC 5321 §4.4, with the protocol type of RFC 3848 / RFC 6531.
    fn received_header(&mut self, rcpt: Option<&str>, utf8: bool) -> String {
        self.id_counter += 1;
        let mut with = String::from(if utf8 {
            "UTF8SMTP"
        } else if self.esmtp {
            "ESMTP"
        } else {
            "SMTP"
        });
        if self.esmtp {
            if self.tls {
                with.push('S');
            }
            if self.user.is_some() {
                with.push('A');
            }
        }
        let helo = self.helo.clone().unwrap_or_default();
        let helo: String = helo.chars().filter(|c| !c.is_control()).take(100).collect();
        let date = torsion_core::date::rfc5322_date(SystemTime::now());
        let for_clause = rcpt.map(|r| format!("\r\n\tfor <{r}>")).unwrap_or_default();
        format!(
            "Received: from {helo} ([{ip}])\r\n\tby {host} (Torsion) with {with}{for_clause};\r\n\t{date}\r\n",
            ip = self.peer_ip,
            host = self.config.hostname,
        )
    }

    /// Delivery finished: `Ok(())` once every local copy is durable and relay mail is queued.
    pub fn delivered(&mut self, result: Result<String, String>) -> Action {
        match result {
            Ok(id) => r(250, "2.0.0", format!("Ok: queued as {id}")),
            Err(why) => {
                tracing::error!(why, "delivery failed");
                r(451, "4.3.0", "Local error in processing, try again later")
            }
        }
    }
}
