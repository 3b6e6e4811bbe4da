//! The POP3 client: connect through a client endpoint (`tcp:`, `tls:`, `HOST:PORT`), STLS or
//! implicit TLS with the certificate verified, USER/PASS or AUTH PLAIN, STAT, LIST, UIDL,
//! RETR (streamed into any `AsyncWrite`, or collected), TOP, DELE, NOOP, RSET, QUIT; RETR and
//! DELE of many messages are pipelined when the server offers PIPELINING (RFC 2449 §6.6).
//! Passwords are not sent over an unencrypted connection unless
//! [`ClientConfig::allow_plaintext_auth`] says so.
//!
//! ```no_run
//! # async fn demo() -> Result<(), torsion_pop3::client::ClientError> {
//! use torsion_pop3::client::{Client, ClientConfig, TlsMode};
//! let endpoint = "tls:pop.example.test:995".parse().expect("endpoint");
//! let mut client = Client::connect(&endpoint, ClientConfig::new().with_tls(TlsMode::Implicit)).await?;
//! client.login("alice@example.test", "secret").await?;
//! for (n, uidl) in client.uidl().await? {
//!     let message = client.retr(n).await?;
//!     println!("{uidl}: {} bytes", message.len());
//! }
//! client.quit().await?;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use torsion_core::cred::sasl::encode_plain;
use torsion_core::endpoint::ConnectError;
use torsion_core::framing::LineCodec;
use torsion_core::{ClientEndpoint, Connection, ReadError};

use crate::proto::{unstuff, MAX_RESPONSE_LINE};

/// Per-response timeout by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest line of a message accepted (RFC 5322 allows 998 octets; real mail has longer).
pub const MAX_DATA_LINE: usize = 1024 * 1024;
/// RETRs in flight at once when pipelining.
pub const PIPELINE_WINDOW: usize = 8;
/// Largest message [`Client::retr`] collects in memory (use [`Client::retr_to`] beyond).
pub const DEFAULT_MAX_MESSAGE: u64 = 256 * 1024 * 1024;

/// When to use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// STLS must be offered and succeed, certificate verified (the default: RFC 8314 asks
    /// clients not to fall back to plaintext).
    #[default]
    Stls,
    /// TLS from the first byte (port 995), verified.
    Implicit,
    /// No TLS (passwords then need [`ClientConfig::allow_plaintext_auth`]).
    None,
}

/// Client settings (no secrets: credentials are passed to [`Client::login`]).
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
    /// Largest message collected by [`Client::retr`] and [`Client::retr_each`].
    pub max_message: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig::new()
    }
}

impl ClientConfig {
    /// STLS required, the default timeout.
    pub fn new() -> Self {
        ClientConfig {
            tls: TlsMode::Stls,
            trust_roots: None,
            server_name: None,
            allow_plaintext_auth: false,
            timeout: DEFAULT_TIMEOUT,
            max_message: DEFAULT_MAX_MESSAGE,
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
    /// The server answered `-ERR`.
    #[error("{command}: -ERR {text}")]
    Refused {
        /// The command (without arguments that could be secret).
        command: String,
        /// The response code (RFC 2449 §8: `IN-USE`, `LOGIN-DELAY`, `AUTH`, `SYS/TEMP` …).
        code: Option<String>,
        /// The text after `-ERR`.
        text: String,
    },
    /// The server said something that is not POP3.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A password would have gone over an unencrypted connection.
    #[error("refusing to send a password without TLS (allow_plaintext_auth is off)")]
    PlaintextAuth,
}

impl ClientError {
    /// The RFC 2449 response code of a `-ERR`, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Refused { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// A POP3 client session.
#[derive(Debug)]
pub struct Client {
    conn: Connection,
    lines: LineCodec,
    config: ClientConfig,
    server_name: String,
    greeting: String,
    capabilities: Vec<String>,
}

/// Split `-ERR [CODE] text` into the code and the text.
fn response_code(text: &str) -> (Option<String>, String) {
    if let Some(rest) = text.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return (
                Some(rest[..end].to_owned()),
                rest[end + 1..].trim_start().to_owned(),
            );
        }
    }
    (None, text.to_owned())
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
            conn,
            lines: LineCodec::crlf(MAX_RESPONSE_LINE),
            server_name: config
                .server_name
                .clone()
                .unwrap_or_else(|| server_name.to_owned()),
            config,
            greeting: String::new(),
            capabilities: Vec::new(),
        };
        client.conn.set_idle_timeout(Some(client.config.timeout));
        if client.config.tls == TlsMode::Implicit && !client.conn.is_tls() {
            client.upgrade().await?;
        }
        client.greeting = client.status("greeting").await?;
        // CAPA is optional (RFC 2449 §5): a server without it has none of the extensions.
        client.refresh_capabilities().await?;
        if client.config.tls == TlsMode::Stls && !client.conn.is_tls() {
            if !client.has_capability("STLS") {
                return Err(ClientError::Tls(
                    "the server does not offer STLS".to_owned(),
                ));
            }
            client.simple("STLS", "STLS").await?;
            client.upgrade().await?;
            // RFC 2595 §4: what was learnt before TLS is forgotten.
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

    /// The server's greeting text (after `+OK`).
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// The capabilities from the last CAPA (upper-cased first word and arguments).
    pub fn capabilities(&self) -> &[String] {
        &self.capabilities
    }

    /// Whether CAPA listed `name` (its first word, case-insensitively).
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| {
            c.split(' ')
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(name))
        })
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.conn.is_tls()
    }

    /// Ask CAPA again (empty if the server has no CAPA).
    pub async fn refresh_capabilities(&mut self) -> Result<(), ClientError> {
        self.conn.queue(b"CAPA\r\n");
        self.capabilities = match self.status("CAPA").await {
            Ok(_) => self
                .multiline_lines()
                .await?
                .into_iter()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .collect(),
            Err(ClientError::Refused { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(())
    }

    async fn read_line(&mut self) -> Result<Bytes, ClientError> {
        let wait = self.config.timeout;
        match tokio::time::timeout(wait, self.conn.read_frame(&mut self.lines)).await {
            Err(_) => Err(ClientError::Timeout),
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => Err(ClientError::Protocol(
                "the server closed the connection".into(),
            )),
            Ok(Err(ReadError::Frame(e))) => Err(ClientError::Protocol(e.to_string())),
            Ok(Err(ReadError::Io(e))) => Err(ClientError::Io(e)),
            Ok(Err(ReadError::IdleTimeout | ReadError::FrameTimeout)) => Err(ClientError::Timeout),
            Ok(Err(e)) => Err(ClientError::Protocol(e.to_string())),
        }
    }

    /// Read a status line: the text after `+OK`, or the `-ERR` as an error.
    async fn status(&mut self, command: &str) -> Result<String, ClientError> {
        let line = self.read_line().await?;
        let text = String::from_utf8_lossy(&line);
        if let Some(rest) = text.strip_prefix("+OK") {
            return Ok(rest.trim_start().to_owned());
        }
        if let Some(rest) = text.strip_prefix("-ERR") {
            let (code, text) = response_code(rest.trim_start());
            return Err(ClientError::Refused {
                command: command.to_owned(),
                code,
                text,
            });
        }
        Err(ClientError::Protocol(format!(
            "{command}: unexpected response {text:?}"
        )))
    }

    /// Send one command line and read its status.
    async fn simple(&mut self, line: &str, command: &str) -> Result<String, ClientError> {
        self.conn.queue(line.as_bytes());
        self.conn.queue(b"\r\n");
        self.status(command).await
    }

    /// The lines of a multi-line response, unstuffed, up to the terminating `.`.
    async fn multiline_lines(&mut self) -> Result<Vec<Bytes>, ClientError> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line().await?;
            match unstuff(&line) {
                None => return Ok(lines),
                Some(l) => lines.push(line.slice_ref(l)),
            }
        }
    }

    /// A multi-line body into `sink` with CRLF line ends; the bytes written. Lines may be
    /// up to [`MAX_DATA_LINE`]; more than `limit` bytes in all is an error (the rest is read
    /// and dropped, so the session stays usable).
    async fn body_to<W: AsyncWrite + Unpin>(
        &mut self,
        sink: &mut W,
        limit: u64,
    ) -> Result<u64, ClientError> {
        self.lines.set_max_length(MAX_DATA_LINE);
        let result = async {
            let mut written = 0u64;
            let mut over = false;
            loop {
                let line = self.read_line().await?;
                let Some(data) = unstuff(&line) else { break };
                written += data.len() as u64 + 2;
                if written > limit {
                    over = true;
                    continue;
                }
                sink.write_all(data).await?;
                sink.write_all(b"\r\n").await?;
            }
            sink.flush().await?;
            if over {
                return Err(ClientError::Protocol(format!(
                    "message larger than {limit} bytes"
                )));
            }
            Ok(written)
        }
        .await;
        self.lines.set_max_length(MAX_RESPONSE_LINE);
        result
    }

    /// USER and PASS (RFC 1939 §7).
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), ClientError> {
        self.check_plaintext()?;
        if user.contains(['\r', '\n']) || password.contains(['\r', '\n']) {
            return Err(ClientError::Protocol("line breaks in credentials".into()));
        }
        self.simple(&format!("USER {user}"), "USER").await?;
        self.simple(&format!("PASS {password}"), "PASS").await?;
        self.refresh_capabilities().await
    }

    /// AUTH PLAIN with an initial response (RFC 5034).
    pub async fn auth_plain(&mut self, user: &str, password: &str) -> Result<(), ClientError> {
        self.check_plaintext()?;
        let b64 = encode_plain("", user, password.as_bytes());
        self.simple(&format!("AUTH PLAIN {b64}"), "AUTH PLAIN")
            .await?;
        self.refresh_capabilities().await
    }

    fn check_plaintext(&self) -> Result<(), ClientError> {
        if !self.conn.is_tls() && !self.config.allow_plaintext_auth {
            return Err(ClientError::PlaintextAuth);
        }
        Ok(())
    }

    /// STAT: (messages, octets).
    pub async fn stat(&mut self) -> Result<(u32, u64), ClientError> {
        let text = self.simple("STAT", "STAT").await?;
        let mut words = text.split(' ');
        match (
            words.next().and_then(|w| w.parse().ok()),
            words.next().and_then(|w| w.parse().ok()),
        ) {
            (Some(n), Some(size)) => Ok((n, size)),
            _ => Err(ClientError::Protocol(format!("STAT: {text:?}"))),
        }
    }

    /// Parse `N VALUE` lines of LIST or UIDL.
    fn pairs<T>(
        lines: Vec<Bytes>,
        command: &str,
        value: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<(u32, T)>, ClientError> {
        lines
            .iter()
            .map(|l| {
                let text = String::from_utf8_lossy(l);
                let mut words = text.split(' ');
                let n = words.next().and_then(|w| w.parse().ok());
                let v = words.next().and_then(&value);
                n.zip(v)
                    .ok_or_else(|| ClientError::Protocol(format!("{command}: {text:?}")))
            })
            .collect()
    }

    /// LIST: (message number, size) of every message not deleted.
    pub async fn list(&mut self) -> Result<Vec<(u32, u64)>, ClientError> {
        self.simple("LIST", "LIST").await?;
        let lines = self.multiline_lines().await?;
        Self::pairs(lines, "LIST", |w| w.parse().ok())
    }

    /// LIST `n`: its size.
    pub async fn list_one(&mut self, n: u32) -> Result<u64, ClientError> {
        let text = self.simple(&format!("LIST {n}"), "LIST").await?;
        text.split(' ')
            .nth(1)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| ClientError::Protocol(format!("LIST: {text:?}")))
    }

    /// UIDL `n`: its unique id.
    pub async fn uidl_one(&mut self, n: u32) -> Result<String, ClientError> {
        let text = self.simple(&format!("UIDL {n}"), "UIDL").await?;
        text.split(' ')
            .nth(1)
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Protocol(format!("UIDL: {text:?}")))
    }

    /// UIDL: (message number, unique id) of every message not deleted.
    pub async fn uidl(&mut self) -> Result<Vec<(u32, String)>, ClientError> {
        self.simple("UIDL", "UIDL").await?;
        let lines = self.multiline_lines().await?;
        Self::pairs(lines, "UIDL", |w| Some(w.to_owned()))
    }

    /// RETR `n` into `sink` (CRLF line ends, unstuffed); the bytes written. Nothing is held
    /// in memory beyond one line.
    pub async fn retr_to<W: AsyncWrite + Unpin>(
        &mut self,
        n: u32,
        sink: &mut W,
    ) -> Result<u64, ClientError> {
        self.simple(&format!("RETR {n}"), "RETR").await?;
        self.body_to(sink, u64::MAX).await
    }

    /// RETR `n`, collected (at most [`ClientConfig::max_message`] bytes).
    pub async fn retr(&mut self, n: u32) -> Result<Vec<u8>, ClientError> {
        self.simple(&format!("RETR {n}"), "RETR").await?;
        let mut out = Vec::new();
        self.body_to(&mut out, self.config.max_message).await?;
        Ok(out)
    }

    /// RETR each of `numbers`, handing every message to `each` in order; with PIPELINING
    /// up to [`PIPELINE_WINDOW`] RETRs are sent before their answers are read. A `-ERR` for
    /// one message is given to `each` and the rest continue.
    pub async fn retr_each<F>(&mut self, numbers: &[u32], mut each: F) -> Result<(), ClientError>
    where
        F: FnMut(u32, Result<Vec<u8>, ClientError>) -> std::io::Result<()>,
    {
        let window = if self.has_capability("PIPELINING") {
            PIPELINE_WINDOW
        } else {
            1
        };
        let mut sent = 0;
        for (i, &n) in numbers.iter().enumerate() {
            while sent < numbers.len() && sent < i + window {
                self.conn
                    .queue(format!("RETR {}\r\n", numbers[sent]).as_bytes());
                sent += 1;
            }
            let result = match self.status("RETR").await {
                Ok(_) => {
                    let mut out = Vec::new();
                    match self.body_to(&mut out, self.config.max_message).await {
                        Ok(_) => Ok(out),
                        Err(ClientError::Protocol(e)) if e.starts_with("message larger") => {
                            Err(ClientError::Protocol(e))
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e @ ClientError::Refused { .. }) => Err(e),
                Err(e) => return Err(e),
            };
            each(n, result)?;
        }
        Ok(())
    }

    /// TOP `n` `lines`: the header and that many body lines.
    pub async fn top(&mut self, n: u32, lines: u32) -> Result<Vec<u8>, ClientError> {
        self.simple(&format!("TOP {n} {lines}"), "TOP").await?;
        let mut out = Vec::new();
        self.body_to(&mut out, self.config.max_message).await?;
        Ok(out)
    }

    /// DELE `n` (carried out at QUIT).
    pub async fn dele(&mut self, n: u32) -> Result<(), ClientError> {
        self.simple(&format!("DELE {n}"), "DELE").await.map(|_| ())
    }

    /// DELE each of `numbers`, pipelined when offered; the first `-ERR` is returned after
    /// every answer was read.
    pub async fn dele_many(&mut self, numbers: &[u32]) -> Result<(), ClientError> {
        if !self.has_capability("PIPELINING") {
            for &n in numbers {
                self.dele(n).await?;
            }
            return Ok(());
        }
        for &n in numbers {
            self.conn.queue(format!("DELE {n}\r\n").as_bytes());
        }
        let mut first = None;
        for _ in numbers {
            match self.status("DELE").await {
                Ok(_) => {}
                Err(e @ ClientError::Refused { .. }) => {
                    first.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// NOOP.
    pub async fn noop(&mut self) -> Result<(), ClientError> {
        self.simple("NOOP", "NOOP").await.map(|_| ())
    }

    /// RSET: undo the DELEs of this session.
    pub async fn rset(&mut self) -> Result<(), ClientError> {
        self.simple("RSET", "RSET").await.map(|_| ())
    }

    /// QUIT: the server carries out the DELEs (an `-ERR` says some were not) and closes.
    pub async fn quit(mut self) -> Result<(), ClientError> {
        let result = self.simple("QUIT", "QUIT").await.map(|_| ());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.conn.close()).await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_codes_are_split_off() {
        assert_eq!(
            response_code("[IN-USE] Mailbox locked"),
            (Some("IN-USE".into()), "Mailbox locked".into())
        );
        assert_eq!(
            response_code("[SYS/TEMP]x"),
            (Some("SYS/TEMP".into()), "x".into())
        );
        assert_eq!(response_code("no code"), (None, "no code".into()));
        assert_eq!(response_code("[unclosed"), (None, "[unclosed".into()));
    }
}
