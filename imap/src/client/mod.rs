//! The IMAP client: connect through a client endpoint (`tcp:`, `tls:`, `HOST:PORT`), STARTTLS
//! or implicit TLS with the certificate verified, LOGIN or AUTHENTICATE PLAIN (SASL-IR when
//! offered), LIST, SELECT/EXAMINE, UID SEARCH, UID FETCH, UID STORE, APPEND (LITERAL+ when
//! offered), UID COPY/MOVE, EXPUNGE, NOOP, LOGOUT, and IDLE as a stream of mailbox events
//! ([`Idle`]) that re-issues IDLE before the 29-minute limit (RFC 9051 §6.3.13).
//!
//! Responses are framed by [`framing`] (a line with its literals, bounded), then parsed with
//! imap-codec; untagged data that arrives while a command runs is kept as [`Event`]s
//! ([`Client::take_events`]). Passwords are not sent over an unencrypted connection unless
//! [`ClientConfig::allow_plaintext_auth`] says so.
//!
//! ```no_run
//! # async fn demo() -> Result<(), torsion_imap::client::ClientError> {
//! use torsion_imap::client::{Client, ClientConfig, TlsMode};
//! let endpoint = "tls:imap.example.test:993".parse().expect("endpoint");
//! let mut client = Client::connect(&endpoint, ClientConfig::new().with_tls(TlsMode::Implicit)).await?;
//! client.login("alice@example.test", "secret").await?;
//! let inbox = client.examine("INBOX").await?;
//! for m in client.uid_fetch(&format!("1:{}", inbox.uid_next), "(UID FLAGS BODY.PEEK[])").await? {
//!     println!("{:?} {} bytes", m.uid, m.body.as_ref().map_or(0, |b| b.len()));
//! }
//! client.logout().await?;
//! # Ok(()) }
//! ```

pub mod framing;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use imap_codec::decode::{Decoder as _, GreetingDecodeError, ResponseDecodeError};
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::{FlagFetch, FlagNameAttribute};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{
    Code, Data, Greeting, GreetingKind, Response, Status, StatusKind,
};
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence};
use imap_codec::{GreetingCodec, ResponseCodec};
use torsion_core::endpoint::ConnectError;
use torsion_core::{ClientEndpoint, Connection, ReadError};
use torsion_mailstore::mutf7;

use framing::{FrameError, PeekLine, ResponseFramer, Take};

/// Per-response timeout by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest literal accepted by default (a message body).
pub const DEFAULT_MAX_LITERAL: u64 = 64 * 1024 * 1024;
/// IDLE is re-issued this often: RFC 9051 §6.3.13 lets a server drop an IDLE after 30 minutes
/// of inactivity; 29 leaves a margin.
pub const IDLE_RENEW: Duration = Duration::from_secs(29 * 60);

/// When to use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// STARTTLS must be offered and succeed, certificate verified (the default: RFC 8314
    /// asks clients not to fall back to plaintext).
    #[default]
    StartTls,
    /// TLS from the first byte (port 993), verified.
    Implicit,
    /// No TLS (passwords then need [`ClientConfig::allow_plaintext_auth`]).
    None,
}

/// Client settings. `Debug` shows no secrets (there are none here: credentials are passed
/// to [`Client::login`]).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// TLS policy.
    pub tls: TlsMode,
    /// CA certificates (PEM) for verification; `None`: the system store.
    pub trust_roots: Option<PathBuf>,
    /// The name the certificate must match; defaults to the endpoint's host.
    pub server_name: Option<String>,
    /// Allow sending a password without TLS.
    pub allow_plaintext_auth: bool,
    /// How long to wait for each response.
    pub timeout: Duration,
    /// Largest literal accepted.
    pub max_literal: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig::new()
    }
}

impl ClientConfig {
    /// STARTTLS required, the default timeouts and limits.
    pub fn new() -> Self {
        ClientConfig {
            tls: TlsMode::StartTls,
            trust_roots: None,
            server_name: None,
            allow_plaintext_auth: false,
            timeout: DEFAULT_TIMEOUT,
            max_literal: DEFAULT_MAX_LITERAL,
        }
    }

    /// Set the TLS policy.
    pub fn with_tls(mut self, tls: TlsMode) -> Self {
        self.tls = tls;
        self
    }

    /// Trust these CA certificates (PEM) instead of the system store.
    pub fn with_trust_roots(mut self, pem: impl Into<PathBuf>) -> Self {
        self.trust_roots = Some(pem.into());
        self
    }

    /// Allow a password over an unencrypted connection.
    pub fn allow_plaintext_auth(mut self) -> Self {
        self.allow_plaintext_auth = true;
        self
    }

    /// Per-response timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting or the transport failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// No response in time.
    #[error("timed out waiting for the server")]
    Timeout,
    /// TLS could not be set up (or was required and not offered).
    #[error("tls: {0}")]
    Tls(String),
    /// The server answered NO or BAD (or greeted with BYE).
    #[error("{command}: {kind} {text}")]
    Refused {
        /// The command.
        command: String,
        /// `NO`, `BAD` or `BYE`.
        kind: &'static str,
        /// Its text, with the response code if any.
        text: String,
    },
    /// The server closed the connection (BYE or EOF).
    #[error("the server closed the connection: {0}")]
    Closed(String),
    /// A response could not be framed or parsed where one was required.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A password would go out in the clear.
    #[error("refusing to send a password without TLS (allow_plaintext_auth is off)")]
    PlaintextAuth,
}

/// Something the server told about the selected mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The mailbox now has this many messages.
    Exists(u32),
    /// The message with this sequence number was expunged.
    Expunge(u32),
    /// These UIDs vanished (QRESYNC).
    Vanished(Vec<(u32, u32)>),
    /// Flags (and maybe UID, MODSEQ) of a message changed.
    Fetch(Fetched),
    /// The server is closing the connection.
    Bye(String),
}

/// A message as FETCH returned it (only the items asked for are set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// Sequence number.
    pub seq: u32,
    /// UID.
    pub uid: Option<u32>,
    /// Flags as sent (`\Seen`, `$Junk`).
    pub flags: Option<Vec<String>>,
    /// RFC822.SIZE.
    pub size: Option<u32>,
    /// MODSEQ.
    pub modseq: Option<u64>,
    /// `BODY[]` / `RFC822` (the whole message).
    pub body: Option<Vec<u8>>,
    /// `BODY[HEADER]` / `RFC822.HEADER`.
    pub header: Option<Vec<u8>>,
}

/// A selected mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxInfo {
    /// Messages.
    pub exists: u32,
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UIDNEXT.
    pub uid_next: u32,
    /// HIGHESTMODSEQ (CONDSTORE servers).
    pub highest_modseq: Option<u64>,
    /// EXAMINE, or the server made it read-only.
    pub read_only: bool,
}

/// One LIST entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The name, decoded from modified UTF-7 (UTF-8).
    pub name: String,
    /// Hierarchy delimiter.
    pub delimiter: Option<char>,
    /// Attributes (`\HasNoChildren`, `\Sent`).
    pub attributes: Vec<String>,
}

/// The end of a command: its status code and text.
#[derive(Debug, Clone)]
struct Done {
    /// The completion carried CAPABILITY.
    capability: bool,
    /// It carried READ-ONLY.
    read_only: bool,
    appenduid: Option<(u32, u32)>,
}

/// An IMAP client connection. See the [module docs](self).
#[derive(Debug)]
pub struct Client {
    conn: Connection,
    framer: ResponseFramer,
    config: ClientConfig,
    server_name: String,
    capabilities: Vec<String>,
    tag: u32,
    events: VecDeque<Event>,
    /// Responses to the running command that are data for it.
    data: Vec<Bytes>,
    selected: Option<MailboxInfo>,
}

fn quote(text: &str) -> Result<String, ClientError> {
    if text.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(ClientError::Protocol(format!(
            "{text:?} cannot be sent as a quoted string"
        )));
    }
    Ok(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

fn flag_text(flag: &FlagFetch<'_>) -> String {
    match flag {
        FlagFetch::Flag(f) => f.to_string(),
        FlagFetch::Recent => "\\Recent".to_owned(),
    }
}

fn mailbox_text(mailbox: &Mailbox<'_>) -> String {
    match mailbox {
        Mailbox::Inbox => "INBOX".to_owned(),
        Mailbox::Other(o) => {
            let raw = String::from_utf8_lossy(o.as_ref()).into_owned();
            mutf7::decode(&raw).unwrap_or(raw)
        }
    }
}

/// Sequence-set ranges as `(first, last)` (a `*` read as `u32::MAX`).
fn ranges(set: &imap_codec::imap_types::sequence::SequenceSet) -> Vec<(u32, u32)> {
    let v = |s: &SeqOrUid| match s {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => u32::MAX,
    };
    set.0
        .as_ref()
        .iter()
        .map(|s| match s {
            Sequence::Single(a) => (v(a), v(a)),
            Sequence::Range(a, b) => (v(a).min(v(b)), v(a).max(v(b))),
        })
        .collect()
}

fn fetched(seq: u32, items: &Vec1<MessageDataItem<'_>>) -> Fetched {
    let mut f = Fetched {
        seq,
        ..Fetched::default()
    };
    for item in items.as_ref() {
        match item {
            MessageDataItem::Uid(u) => f.uid = Some(u.get()),
            MessageDataItem::Flags(flags) => f.flags = Some(flags.iter().map(flag_text).collect()),
            MessageDataItem::Rfc822Size(n) => f.size = Some(*n),
            MessageDataItem::ModSeq(m) => f.modseq = Some(m.get()),
            MessageDataItem::Rfc822(data) => {
                f.body = data.0.as_ref().map(|s| s.as_ref().to_vec());
            }
            MessageDataItem::Rfc822Header(data) => {
                f.header = data.0.as_ref().map(|s| s.as_ref().to_vec());
            }
            MessageDataItem::BodyExt {
                section,
                origin: None,
                data,
            } => {
                use imap_codec::imap_types::fetch::Section;
                let bytes = data.0.as_ref().map(|s| s.as_ref().to_vec());
                match section {
                    None => f.body = bytes,
                    Some(Section::Header(None)) => f.header = bytes,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    f
}

impl Client {
    /// Connect through `endpoint`, read the greeting, and set up TLS as `config.tls` says.
    pub async fn connect(
        endpoint: &ClientEndpoint,
        mut config: ClientConfig,
    ) -> Result<Client, ClientError> {
        if matches!(endpoint, ClientEndpoint::Tls { .. }) {
            // A `tls:` endpoint already did the handshake.
            config.tls = TlsMode::Implicit;
        }
        let conn = endpoint.connect().await.map_err(|e| match e {
            ConnectError::Timeout { .. } => ClientError::Timeout,
            ConnectError::Tls { source, .. } => ClientError::Tls(source.to_string()),
            ConnectError::Io { source, .. } => ClientError::Io(source),
        })?;
        let name = config
            .server_name
            .clone()
            .unwrap_or_else(|| endpoint.host());
        Client::with_connection(conn, &name, config).await
    }

    /// Run over a connected transport (an in-memory pipe in tests); `server_name` is for TLS.
    pub async fn with_connection(
        conn: Connection,
        server_name: &str,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let mut client = Client {
            framer: ResponseFramer::new(config.max_literal),
            conn,
            server_name: config
                .server_name
                .clone()
                .unwrap_or_else(|| server_name.to_owned()),
            config,
            capabilities: Vec::new(),
            tag: 0,
            events: VecDeque::new(),
            data: Vec::new(),
            selected: None,
        };
        client.conn.set_idle_timeout(Some(client.config.timeout));
        if client.config.tls == TlsMode::Implicit && !client.conn.is_tls() {
            client.upgrade().await?;
        }
        client.greeting().await?;
        if client.config.tls == TlsMode::StartTls && !client.conn.is_tls() {
            if !client.has_capability("STARTTLS") {
                return Err(ClientError::Tls(
                    "the server does not offer STARTTLS".to_owned(),
                ));
            }
            client.command("STARTTLS").await?;
            client.upgrade().await?;
            // RFC 9051 §6.2.1: capabilities learnt before TLS are forgotten.
            client.refresh_capabilities().await?;
        }
        Ok(client)
    }

    async fn upgrade(&mut self) -> Result<(), ClientError> {
        self.conn
            .upgrade_client_verified(&self.server_name, self.config.trust_roots.as_deref())
            .await
            .map_err(|e| ClientError::Tls(e.to_string()))
    }

    async fn read_frame(&mut self) -> Result<Bytes, ClientError> {
        let wait = self.config.timeout;
        Self::read_with(&mut self.conn, &mut self.framer, wait).await
    }

    /// Read one item with `decoder`, bounded by `wait`.
    async fn read_with<D: torsion_core::tokio_util::codec::Decoder<Error = FrameError>>(
        conn: &mut Connection,
        decoder: &mut D,
        wait: Duration,
    ) -> Result<D::Item, ClientError> {
        match tokio::time::timeout(wait, conn.read_frame(decoder)).await {
            Err(_) => Err(ClientError::Timeout),
            Ok(Ok(Some(frame))) => Ok(frame),
            Ok(Ok(None)) => Err(ClientError::Closed("end of stream".into())),
            Ok(Err(ReadError::Frame(FrameError::Io(e)))) => Err(ClientError::Protocol(e)),
            Ok(Err(ReadError::Frame(e))) => Err(ClientError::Protocol(e.to_string())),
            Ok(Err(ReadError::Io(e))) => Err(ClientError::Io(e)),
            Ok(Err(_)) => Err(ClientError::Timeout),
        }
    }

    async fn greeting(&mut self) -> Result<(), ClientError> {
        let frame = self.read_frame().await?;
        let greeting: Greeting<'_> = match GreetingCodec::default().decode(&frame) {
            Ok((_, g)) => g,
            Err(GreetingDecodeError::Incomplete | GreetingDecodeError::Failed) => {
                return Err(ClientError::Protocol(format!(
                    "unreadable greeting {:?}",
                    String::from_utf8_lossy(&frame)
                )))
            }
        };
        if greeting.kind == GreetingKind::Bye {
            return Err(ClientError::Closed(greeting.text.to_string()));
        }
        match greeting.code {
            Some(Code::Capability(caps)) => {
                self.capabilities = caps.as_ref().iter().map(|c| c.to_string()).collect();
            }
            _ => self.refresh_capabilities().await?,
        }
        Ok(())
    }

    /// Ask for CAPABILITY again.
    pub async fn refresh_capabilities(&mut self) -> Result<(), ClientError> {
        self.capabilities.clear();
        self.command("CAPABILITY").await?;
        Ok(())
    }

    /// The server's capabilities as last announced.
    pub fn capabilities(&self) -> &[String] {
        &self.capabilities
    }

    /// Whether `name` (case-insensitive) is among them.
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.conn.is_tls()
    }

    /// Events (new messages, expunges, flag changes) received so far and not yet taken.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("t{}", self.tag)
    }

    /// Send `text` as a tagged command and read to its completion.
    async fn command(&mut self, text: &str) -> Result<Done, ClientError> {
        let tag = self.next_tag();
        self.conn
            .send(format!("{tag} {text}\r\n").as_bytes())
            .await?;
        // `UID FETCH`, `FETCH`, `SELECT`: what the responses are data for.
        let words: Vec<&str> = text.splitn(3, ' ').collect();
        let name = match words.as_slice() {
            [uid, verb, ..] if uid.eq_ignore_ascii_case("UID") => format!("UID {verb}"),
            [verb, ..] => (*verb).to_owned(),
            [] => String::new(),
        };
        self.complete(&tag, &name).await
    }

    /// Read responses until the tagged one for `tag`.
    async fn complete(&mut self, tag: &str, name: &str) -> Result<Done, ClientError> {
        self.data.clear();
        loop {
            let frame = self.read_frame().await?;
            if let Some(done) = self.absorb(frame, Some((tag, name)))? {
                return Ok(done);
            }
        }
    }

    /// Take in one response: untagged data becomes state or events (or, for the running
    /// command, `data`); the tagged completion of `running` is returned.
    fn absorb(
        &mut self,
        frame: Bytes,
        running: Option<(&str, &str)>,
    ) -> Result<Option<Done>, ClientError> {
        let response = match ResponseCodec::default().decode(&frame) {
            Ok((_, r)) => r,
            Err(ResponseDecodeError::Incomplete)
            | Err(ResponseDecodeError::LiteralFound { .. })
            | Err(ResponseDecodeError::Failed) => {
                // A response imap-codec does not know (ESEARCH, an extension): the framing
                // kept us in step, so skip it — unless it completes the running command.
                if let Some((tag, name)) = running {
                    if frame.starts_with(format!("{tag} OK").as_bytes()) {
                        return Ok(Some(Done {
                            capability: false,
                            read_only: false,
                            appenduid: None,
                        }));
                    }
                    if frame.starts_with(format!("{tag} ").as_bytes()) {
                        return Err(ClientError::Refused {
                            command: name.to_owned(),
                            kind: "NO",
                            text: String::from_utf8_lossy(&frame).trim_end().to_owned(),
                        });
                    }
                }
                tracing::debug!(response = %String::from_utf8_lossy(&frame).trim_end(), "skipped");
                return Ok(None);
            }
        };
        match response {
            Response::Status(Status::Tagged(t)) => {
                let Some((tag, name)) = running.filter(|(tag, _)| t.tag.inner() == *tag) else {
                    return Ok(None);
                };
                let _ = tag;
                let mut done = Done {
                    capability: matches!(t.body.code, Some(Code::Capability(_))),
                    read_only: matches!(t.body.code, Some(Code::ReadOnly)),
                    appenduid: None,
                };
                if let Some(code) = &t.body.code {
                    self.absorb_code(code);
                    if let Code::AppendUid { uid_validity, uid } = code {
                        done.appenduid = Some((uid_validity.get(), uid.get()));
                    }
                }
                match t.body.kind {
                    StatusKind::Ok => Ok(Some(done)),
                    kind => {
                        // The text as sent, response code included.
                        let raw = String::from_utf8_lossy(&frame);
                        let text = raw
                            .trim_end()
                            .splitn(3, ' ')
                            .nth(2)
                            .unwrap_or("")
                            .to_owned();
                        Err(ClientError::Refused {
                            command: name.to_owned(),
                            kind: if kind == StatusKind::No { "NO" } else { "BAD" },
                            text,
                        })
                    }
                }
            }
            Response::Status(Status::Untagged(body)) => {
                if let Some(code) = &body.code {
                    self.absorb_code(code);
                }
                Ok(None)
            }
            Response::Status(Status::Bye(bye)) => {
                self.events.push_back(Event::Bye(bye.text.to_string()));
                Ok(None)
            }
            Response::CommandContinuationRequest(_) => Ok(None),
            Response::Data(data) => {
                match data {
                    Data::Capability(caps) => {
                        self.capabilities = caps.as_ref().iter().map(|c| c.to_string()).collect();
                    }
                    Data::Exists(n) => {
                        if let Some(sel) = &mut self.selected {
                            sel.exists = n;
                        }
                        self.events.push_back(Event::Exists(n));
                    }
                    Data::Expunge(n) => {
                        if let Some(sel) = &mut self.selected {
                            sel.exists = sel.exists.saturating_sub(1);
                        }
                        self.events.push_back(Event::Expunge(n.get()));
                    }
                    Data::Vanished {
                        earlier,
                        known_uids,
                    } => {
                        if !earlier {
                            self.events.push_back(Event::Vanished(ranges(&known_uids)));
                        }
                    }
                    Data::Fetch { seq, items } => {
                        let f = fetched(seq.get(), &items);
                        let unsolicited = f.body.is_none()
                            && f.header.is_none()
                            && f.size.is_none()
                            && running
                                .is_none_or(|(_, n)| !n.to_ascii_uppercase().ends_with("FETCH"));
                        if unsolicited {
                            self.events.push_back(Event::Fetch(f));
                        } else {
                            drop(items);
                            self.data.push(frame.clone());
                        }
                    }
                    _ => {
                        drop(data);
                        self.data.push(frame.clone());
                    }
                }
                Ok(None)
            }
        }
    }

    fn absorb_code(&mut self, code: &Code<'_>) {
        match code {
            Code::Capability(caps) => {
                self.capabilities = caps.as_ref().iter().map(|c| c.to_string()).collect();
            }
            Code::UidValidity(v) => {
                if let Some(sel) = &mut self.selected {
                    sel.uid_validity = v.get();
                }
            }
            Code::UidNext(n) => {
                if let Some(sel) = &mut self.selected {
                    sel.uid_next = n.get();
                }
            }
            Code::HighestModSeq(m) => {
                if let Some(sel) = &mut self.selected {
                    sel.highest_modseq = Some(m.get());
                }
            }
            Code::ReadOnly => {
                if let Some(sel) = &mut self.selected {
                    sel.read_only = true;
                }
            }
            _ => {}
        }
    }

    /// The running command's data responses, parsed again.
    fn with_data<T>(&self, mut each: impl FnMut(Data<'_>) -> Option<T>) -> Vec<T> {
        self.data
            .iter()
            .filter_map(|frame| match ResponseCodec::default().decode(frame) {
                Ok((_, Response::Data(d))) => each(d),
                _ => None,
            })
            .collect()
    }

    fn encode_name(&self, name: &str) -> Result<String, ClientError> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok("INBOX".to_owned());
        }
        quote(&mutf7::encode(name))
    }

    /// LOGIN (refused without TLS unless allowed, and when the server says LOGINDISABLED).
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), ClientError> {
        if !self.conn.is_tls() && !self.config.allow_plaintext_auth {
            return Err(ClientError::PlaintextAuth);
        }
        let line = format!("LOGIN {} {}", quote(user)?, quote(password)?);
        let done = self.command(&line).await?;
        if !done.capability {
            self.refresh_capabilities().await?;
        }
        Ok(())
    }

    /// AUTHENTICATE PLAIN, with the initial response inline when SASL-IR is offered.
    pub async fn authenticate_plain(
        &mut self,
        user: &str,
        password: &str,
    ) -> Result<(), ClientError> {
        if !self.conn.is_tls() && !self.config.allow_plaintext_auth {
            return Err(ClientError::PlaintextAuth);
        }
        let response = torsion_core::cred::sasl::encode_plain("", user, password.as_bytes());
        let tag = self.next_tag();
        if self.has_capability("SASL-IR") {
            self.conn
                .send(format!("{tag} AUTHENTICATE PLAIN {response}\r\n").as_bytes())
                .await?;
        } else {
            self.conn
                .send(format!("{tag} AUTHENTICATE PLAIN\r\n").as_bytes())
                .await?;
            let frame = self.read_frame().await?;
            if !frame.starts_with(b"+") {
                self.absorb(frame, Some((&tag, "AUTHENTICATE")))?;
                return Err(ClientError::Protocol(
                    "no continuation for AUTHENTICATE".into(),
                ));
            }
            self.conn.send(format!("{response}\r\n").as_bytes()).await?;
        }
        let done = self.complete(&tag, "AUTHENTICATE").await?;
        if !done.capability {
            self.refresh_capabilities().await?;
        }
        Ok(())
    }

    /// LIST `reference` `pattern` (names in UTF-8).
    pub async fn list(
        &mut self,
        reference: &str,
        pattern: &str,
    ) -> Result<Vec<ListEntry>, ClientError> {
        let line = format!(
            "LIST {} {}",
            quote(&mutf7::encode(reference))?,
            quote(&mutf7::encode(pattern))?
        );
        self.command(&line).await?;
        Ok(self.with_data(|d| match d {
            Data::List {
                items,
                delimiter,
                mailbox,
            } => Some(ListEntry {
                name: mailbox_text(&mailbox),
                delimiter: delimiter.map(|c| c.inner()),
                attributes: items.iter().map(FlagNameAttribute::to_string).collect(),
            }),
            _ => None,
        }))
    }

    async fn open(&mut self, mailbox: &str, examine: bool) -> Result<MailboxInfo, ClientError> {
        let verb = if examine { "EXAMINE" } else { "SELECT" };
        self.selected = Some(MailboxInfo {
            read_only: examine,
            ..MailboxInfo::default()
        });
        let line = format!("{verb} {}", self.encode_name(mailbox)?);
        let done = match self.command(&line).await {
            Ok(d) => d,
            Err(e) => {
                self.selected = None;
                return Err(e);
            }
        };
        // Events during SELECT describe the mailbox, not changes to it.
        self.events.clear();
        let sel = self.selected.as_mut().expect("set above");
        if done.read_only {
            sel.read_only = true;
        }
        Ok(sel.clone())
    }

    /// SELECT.
    pub async fn select(&mut self, mailbox: &str) -> Result<MailboxInfo, ClientError> {
        self.open(mailbox, false).await
    }

    /// EXAMINE (read-only).
    pub async fn examine(&mut self, mailbox: &str) -> Result<MailboxInfo, ClientError> {
        self.open(mailbox, true).await
    }

    /// The selected mailbox as last reported.
    pub fn selected(&self) -> Option<&MailboxInfo> {
        self.selected.as_ref()
    }

    /// UID SEARCH `criteria` (IMAP search keys, e.g. `UNSEEN SINCE 1-Jan-2026`); UIDs.
    pub async fn uid_search(&mut self, criteria: &str) -> Result<Vec<u32>, ClientError> {
        self.command(&format!("UID SEARCH {criteria}")).await?;
        Ok(self
            .with_data(|d| match d {
                Data::Search(uids, ..) => Some(uids.iter().map(|u| u.get()).collect::<Vec<_>>()),
                _ => None,
            })
            .concat())
    }

    /// UID FETCH `set` `items` (e.g. `1:*`, `(UID FLAGS BODY.PEEK[])`).
    pub async fn uid_fetch(&mut self, set: &str, items: &str) -> Result<Vec<Fetched>, ClientError> {
        self.command(&format!("UID FETCH {set} {items}")).await?;
        Ok(self.with_data(|d| match d {
            Data::Fetch { seq, items } => Some(fetched(seq.get(), &items)),
            _ => None,
        }))
    }

    /// UID FETCH of one message's `section` (`""` the whole message, `HEADER`, `TEXT`, `1.2`…)
    /// with BODY.PEEK, its literal written to `sink` as it arrives, in chunks of at most
    /// 64 KiB, never held whole (the way to download a large message). Returns the bytes
    /// written; `None` if the server sent no such message (not there, or expunged). The
    /// literal may be as large as [`ClientConfig::max_literal`]; untagged responses that
    /// arrive meanwhile are taken in as by any command.
    pub async fn uid_fetch_body_to<W>(
        &mut self,
        uid: u32,
        section: &str,
        sink: &mut W,
    ) -> Result<Option<u64>, ClientError>
    where
        W: tokio::io::AsyncWrite + Unpin,
    {
        use tokio::io::AsyncWriteExt as _;
        if section
            .bytes()
            .any(|b| !(b.is_ascii_alphanumeric() || b".- ()".contains(&b)))
        {
            return Err(ClientError::Protocol(format!("bad section {section:?}")));
        }
        let tag = self.next_tag();
        self.conn
            .send(format!("{tag} UID FETCH {uid} (UID BODY.PEEK[{section}])\r\n").as_bytes())
            .await?;
        self.data.clear();
        let wait = self.config.timeout;
        let mut written = None;
        loop {
            let n = Self::read_with(&mut self.conn, &mut PeekLine, wait).await?;
            let line = &self.conn.pending_input()[..n];
            let text = line.strip_suffix(b"\r\n").unwrap_or(line);
            let ours = written.is_none()
                && text.starts_with(b"* ")
                && text.windows(8).any(|w| w == b" FETCH (")
                && text.windows(5).any(|w| w == b"BODY[");
            match framing::literal_size(text).filter(|_| ours) {
                Some(size) if size > self.config.max_literal => {
                    return Err(ClientError::Protocol(format!(
                        "the server announced a {size}-byte body (limit {})",
                        self.config.max_literal
                    )));
                }
                Some(size) => {
                    Self::read_with(&mut self.conn, &mut Take { left: n as u64 }, wait).await?;
                    let mut take = Take { left: size };
                    while take.left > 0 {
                        let chunk = Self::read_with(&mut self.conn, &mut take, wait).await?;
                        sink.write_all(&chunk).await.map_err(ClientError::Io)?;
                    }
                    written = Some(size);
                    // The rest of that FETCH response (` UID 7)`): framed and dropped.
                    self.read_frame().await?;
                }
                None => {
                    let frame = self.read_frame().await?;
                    if self.absorb(frame, Some((&tag, "UID FETCH")))?.is_some() {
                        break;
                    }
                }
            }
        }
        if written.is_none() {
            // A body sent as a quoted string (small ones may be).
            let quoted = self.with_data(|d| match d {
                Data::Fetch { seq, items } => fetched(seq.get(), &items).body,
                _ => None,
            });
            if let Some(body) = quoted.into_iter().next() {
                sink.write_all(&body).await.map_err(ClientError::Io)?;
                written = Some(body.len() as u64);
            }
        }
        sink.flush().await.map_err(ClientError::Io)?;
        Ok(written)
    }

    /// UID STORE `set` `action` `flags` (`+FLAGS.SILENT`, `(\Seen)`).
    pub async fn uid_store(
        &mut self,
        set: &str,
        action: &str,
        flags: &str,
    ) -> Result<(), ClientError> {
        self.command(&format!("UID STORE {set} {action} {flags}"))
            .await?;
        Ok(())
    }

    /// UID COPY to `mailbox`.
    pub async fn uid_copy(&mut self, set: &str, mailbox: &str) -> Result<(), ClientError> {
        let line = format!("UID COPY {set} {}", self.encode_name(mailbox)?);
        self.command(&line).await?;
        Ok(())
    }

    /// UID MOVE to `mailbox` (RFC 6851).
    pub async fn uid_move(&mut self, set: &str, mailbox: &str) -> Result<(), ClientError> {
        let line = format!("UID MOVE {set} {}", self.encode_name(mailbox)?);
        self.command(&line).await?;
        Ok(())
    }

    /// EXPUNGE.
    pub async fn expunge(&mut self) -> Result<(), ClientError> {
        self.command("EXPUNGE").await?;
        Ok(())
    }

    /// NOOP; what happened since comes back as events.
    pub async fn noop(&mut self) -> Result<Vec<Event>, ClientError> {
        self.command("NOOP").await?;
        Ok(self.take_events())
    }

    /// APPEND `message` to `mailbox` with `flags` (e.g. `(\Seen)`, or empty); the
    /// (UIDVALIDITY, UID) when the server tells (UIDPLUS).
    pub async fn append(
        &mut self,
        mailbox: &str,
        flags: &str,
        message: &[u8],
    ) -> Result<Option<(u32, u32)>, ClientError> {
        let tag = self.next_tag();
        let plus = self.has_capability("LITERAL+");
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!("{flags} ")
        };
        let head = format!(
            "{tag} APPEND {} {flags}{{{}{}}}\r\n",
            self.encode_name(mailbox)?,
            message.len(),
            if plus { "+" } else { "" }
        );
        self.conn.send(head.as_bytes()).await?;
        if !plus {
            let frame = self.read_frame().await?;
            if !frame.starts_with(b"+") {
                self.absorb(frame, Some((&tag, "APPEND")))?;
                return Err(ClientError::Protocol("no continuation for APPEND".into()));
            }
        }
        self.conn.queue(message);
        self.conn.send(b"\r\n").await?;
        Ok(self.complete(&tag, "APPEND").await?.appenduid)
    }

    /// IDLE until dropped or [`Idle::done`]: a stream of events.
    pub async fn idle(mut self) -> Result<Idle, ClientError> {
        let tag = self.start_idle().await?;
        Ok(Idle {
            client: self,
            tag,
            since: Instant::now(),
        })
    }

    async fn start_idle(&mut self) -> Result<String, ClientError> {
        let tag = self.next_tag();
        self.conn.send(format!("{tag} IDLE\r\n").as_bytes()).await?;
        loop {
            let frame = self.read_frame().await?;
            if frame.starts_with(b"+") {
                return Ok(tag);
            }
            self.absorb(frame, Some((&tag, "IDLE")))?;
        }
    }

    /// LOGOUT and close.
    pub async fn logout(mut self) -> Result<(), ClientError> {
        let result = self.command("LOGOUT").await;
        let _ = self.conn.close().await;
        result.map(|_| ())
    }
}

/// A client in IDLE: [`next`](Idle::next) waits for the next event; IDLE is re-issued every
/// [`IDLE_RENEW`].
#[derive(Debug)]
pub struct Idle {
    client: Client,
    tag: String,
    since: Instant,
}

impl Idle {
    /// The next event (blocking up to the renewal time, then renewing IDLE transparently).
    pub async fn next(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(e) = self.client.events.pop_front() {
                return Ok(e);
            }
            let left = IDLE_RENEW.saturating_sub(self.since.elapsed());
            if left.is_zero() {
                self.renew().await?;
                continue;
            }
            self.client
                .conn
                .set_idle_timeout(Some(left + self.client.config.timeout));
            let read =
                tokio::time::timeout(left, self.client.conn.read_frame(&mut self.client.framer))
                    .await;
            self.client
                .conn
                .set_idle_timeout(Some(self.client.config.timeout));
            match read {
                Err(_) => self.renew().await?,
                Ok(Ok(Some(frame))) => {
                    let tag = self.tag.clone();
                    self.client.absorb(frame, Some((&tag, "IDLE")))?;
                }
                Ok(Ok(None)) => return Err(ClientError::Closed("end of stream".into())),
                Ok(Err(ReadError::Io(e))) => return Err(ClientError::Io(e)),
                Ok(Err(e)) => return Err(ClientError::Protocol(e.to_string())),
            }
        }
    }

    async fn renew(&mut self) -> Result<(), ClientError> {
        self.finish().await?;
        self.tag = self.client.start_idle().await?;
        self.since = Instant::now();
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), ClientError> {
        self.client.conn.send(b"DONE\r\n").await?;
        let tag = self.tag.clone();
        let events: Vec<Event> = self.client.events.drain(..).collect();
        self.client.complete(&tag, "IDLE").await?;
        // Events that arrived before DONE stay queued, in order.
        for e in events.into_iter().rev() {
            self.client.events.push_front(e);
        }
        Ok(())
    }

    /// End IDLE; the client back, with any events not yet taken.
    pub async fn done(mut self) -> Result<Client, ClientError> {
        self.finish().await?;
        Ok(self.client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_and_refuses_line_breaks() {
        assert_eq!(quote("a\"b\\c").unwrap(), "\"a\\\"b\\\\c\"");
        assert!(quote("a\r\nb").is_err());
    }
}
