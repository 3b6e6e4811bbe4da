//! The client session: greeting, EHLO (HELO fallback), STARTTLS, AUTH, transactions, QUIT.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use torsion_core::cred::sasl::{encode_base64, encode_plain};
use torsion_core::endpoint::ConnectError;
use torsion_core::{Address, ClientEndpoint, Connection, Stream};

use crate::proto::Reply;

use super::config::{ClientConfig, TlsMode};
use super::dotstuff::DotStuffer;
use super::error::ClientError;
use super::extensions::Extensions;
use super::reply::ReplyCodec;
use super::tls;
use super::transaction::{self, SendReport, PIPELINE_BATCH};

/// Message data is stuffed and written in pieces of this size.
const DATA_PIECE: usize = 64 * 1024;

/// An SMTP client connection, ready for transactions. See the [module docs](super).
#[derive(Debug)]
pub struct Client {
    conn: Connection,
    codec: ReplyCodec,
    config: ClientConfig,
    server_name: String,
    extensions: Extensions,
    esmtp: bool,
    authenticated: bool,
    /// Set after a connection-level failure (I/O, timeout, protocol): the session state is
    /// unknown, so nothing more may be sent.
    broken: bool,
}

impl Client {
    /// Connect through `endpoint` (`tcp:`, `tls:`, `unix:`, `HOST:PORT`), then read the
    /// greeting, EHLO (HELO if refused), STARTTLS as `config.tls` says (and EHLO again), and
    /// AUTH if configured.
    pub async fn connect(
        endpoint: &ClientEndpoint,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let is_tls_endpoint = matches!(endpoint, ClientEndpoint::Tls { .. });
        let conn = endpoint.connect().await.map_err(|e| match e {
            ConnectError::Timeout { .. } => ClientError::Timeout,
            ConnectError::Tls { source, .. } => ClientError::Tls(source.to_string()),
            // A handshake failure on a `tls:` endpoint arrives as invalid data.
            ConnectError::Io { source, endpoint }
                if is_tls_endpoint && source.kind() == std::io::ErrorKind::InvalidData =>
            {
                ClientError::Tls(format!("{endpoint}: {source}"))
            }
            ConnectError::Io { source, .. } => ClientError::Io(source),
        })?;
        let server_name = config
            .server_name
            .clone()
            .unwrap_or_else(|| endpoint.host());
        Client::establish(conn, server_name, config).await
    }

    /// Connect to `addr` (an MX host's address, resolved by the caller); `server_name` is the
    /// host's name, for TLS (unless `config.server_name` overrides it).
    pub async fn connect_addr(
        addr: SocketAddr,
        server_name: &str,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let tcp = tokio::time::timeout(config.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout)??;
        tcp.set_nodelay(true)?;
        let local = tcp.local_addr()?;
        let conn = Connection::new(Stream::Tcp(tcp), Address::Tcp(addr), Address::Tcp(local));
        let server_name = config
            .server_name
            .clone()
            .unwrap_or_else(|| server_name.to_owned());
        Client::establish(conn, server_name, config).await
    }

    /// Run the client over an already-connected transport (a Unix socket, a proxy tunnel, an
    /// in-memory pipe in tests): greeting, EHLO, TLS and AUTH as in [`connect`](Self::connect).
    /// `server_name` is the TLS name (unless `config.server_name` overrides it).
    pub async fn with_connection(
        conn: Connection,
        server_name: &str,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let server_name = config
            .server_name
            .clone()
            .unwrap_or_else(|| server_name.to_owned());
        Client::establish(conn, server_name, config).await
    }

    async fn establish(
        conn: Connection,
        server_name: String,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let mut client = Client {
            conn,
            codec: ReplyCodec::new(),
            config,
            server_name,
            extensions: Extensions::default(),
            esmtp: false,
            authenticated: false,
            broken: false,
        };
        client.conn.set_idle_timeout(Some(client.config.timeout));
        match client.handshake().await {
            Ok(()) => Ok(client),
            Err(e) => {
                client.quit_quietly().await;
                Err(e)
            }
        }
    }

    async fn handshake(&mut self) -> Result<(), ClientError> {
        if self.config.tls == TlsMode::Implicit && !self.conn.is_tls() {
            let connector = tls::verifying_connector(self.config.trust_roots.as_deref())?;
            self.upgrade(&connector).await?;
        }
        let greeting = self.read_reply(self.config.timeout).await?;
        if greeting.code != 220 {
            // RFC 5321 §3.1: 554 (or 421) instead of 220 — the client should QUIT.
            return Err(ClientError::Reply(greeting));
        }
        self.hello().await?;
        if !self.conn.is_tls() {
            match self.config.tls {
                TlsMode::None | TlsMode::Implicit => {}
                TlsMode::Opportunistic => {
                    if self.extensions.starttls {
                        self.starttls(&tls::opportunistic_connector()?).await?;
                    }
                }
                TlsMode::Required => {
                    if !self.extensions.starttls {
                        return Err(ClientError::Tls(format!(
                            "{} does not offer STARTTLS",
                            self.server_name
                        )));
                    }
                    let connector = tls::verifying_connector(self.config.trust_roots.as_deref())?;
                    self.starttls(&connector).await?;
                }
            }
        }
        if let Some((user, password)) = self.config.auth.clone() {
            if !self.conn.is_tls() && !self.config.allow_plaintext_auth {
                // Never the password in the clear by default: not even when the server just
                // did not offer STARTTLS (an attacker on the path can strip it from EHLO).
                let why = match self.config.tls {
                    TlsMode::None => "TLS is off",
                    _ => "it did not offer STARTTLS",
                };
                return Err(ClientError::Tls(format!(
                    "not sending credentials to {} over an unencrypted connection ({why}); use \
                     TLS, or allow plaintext AUTH explicitly",
                    self.server_name
                )));
            }
            self.authenticate(&user, &password).await?;
        }
        Ok(())
    }

    /// EHLO, or HELO when the server refuses EHLO with 5xx (RFC 5321 §3.2, §4.1.4).
    async fn hello(&mut self) -> Result<(), ClientError> {
        let name = self.config.helo_name.clone();
        let reply = self.command(&format!("EHLO {name}")).await?;
        if reply.code == 250 {
            self.extensions = Extensions::from_ehlo(&reply);
            self.esmtp = true;
            return Ok(());
        }
        if reply.code < 500 {
            return Err(ClientError::Reply(reply));
        }
        tracing::debug!(%reply, "EHLO refused; trying HELO");
        let reply = self.command(&format!("HELO {name}")).await?;
        if reply.code != 250 {
            return Err(ClientError::Reply(reply));
        }
        self.extensions = Extensions {
            greeting: reply.lines.first().cloned().unwrap_or_default(),
            ..Extensions::default()
        };
        self.esmtp = false;
        Ok(())
    }

    /// STARTTLS (RFC 3207), the handshake, and EHLO again (§4.2: forget what was learnt).
    async fn starttls(
        &mut self,
        connector: &tokio_rustls::TlsConnector,
    ) -> Result<(), ClientError> {
        let reply = self.command("STARTTLS").await?;
        if reply.code != 220 {
            return Err(ClientError::Reply(reply));
        }
        self.upgrade(connector).await?;
        self.extensions = Extensions::default();
        self.hello().await
    }

    async fn upgrade(&mut self, connector: &tokio_rustls::TlsConnector) -> Result<(), ClientError> {
        let name = tls::server_name(&self.server_name)?;
        match self.conn.upgrade_client_tls(connector, name).await {
            // Anything the server sent before the handshake is discarded by the upgrade: it
            // was not protected, so it must not be read as if it were (RFC 3207 §4.2).
            Ok(discarded) => {
                if discarded > 0 {
                    tracing::warn!(
                        discarded,
                        "discarded plaintext sent by the server before TLS"
                    );
                }
                Ok(())
            }
            Err(e) => {
                self.broken = true;
                Err(if e.kind() == std::io::ErrorKind::TimedOut {
                    ClientError::Timeout
                } else {
                    ClientError::Tls(format!("handshake with {}: {e}", self.server_name))
                })
            }
        }
    }

    /// AUTH PLAIN (RFC 4616, with the initial response of RFC 4954 §4), else LOGIN.
    async fn authenticate(&mut self, user: &str, password: &str) -> Result<(), ClientError> {
        let offered = self.extensions.auth.clone();
        let has = |mech: &str| offered.iter().any(|m| m == mech);
        let reply = if has("PLAIN") {
            let response = encode_plain("", user, password.as_bytes());
            let reply = self
                .secret_command(
                    &format!("AUTH PLAIN {response}"),
                    "AUTH PLAIN <credentials>",
                )
                .await?;
            if reply.code == 334 {
                // A server that ignored the initial response asks for it now.
                self.secret_command(&response, "<credentials>").await?
            } else {
                reply
            }
        } else if has("LOGIN") {
            let mut reply = self.command("AUTH LOGIN").await?;
            for secret in [user, password] {
                if reply.code != 334 {
                    break;
                }
                reply = self
                    .secret_command(&encode_base64(secret.as_bytes()), "<credentials>")
                    .await?;
            }
            reply
        } else if offered.is_empty() {
            return Err(ClientError::Protocol(format!(
                "{} does not offer AUTH{}",
                self.server_name,
                if self.conn.is_tls() {
                    ""
                } else {
                    " (it may need STARTTLS first)"
                }
            )));
        } else {
            return Err(ClientError::Protocol(format!(
                "no AUTH mechanism in common with {} (it offers {})",
                self.server_name,
                offered.join(" ")
            )));
        };
        // 235 is success (RFC 4954 §6); any 2xx is taken as success, as smtp-sink answers 250.
        if !(200..300).contains(&reply.code) {
            if reply.code == 334 {
                // Still mid-exchange: cancel it (RFC 4954 §4) so the session stays usable.
                let _ = self.command("*").await;
            }
            return Err(ClientError::Reply(reply));
        }
        self.authenticated = true;
        Ok(())
    }

    /// The server's extensions (from the last EHLO; all off after a HELO fallback).
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Whether the connection is TLS-protected.
    pub fn is_tls(&self) -> bool {
        self.conn.is_tls()
    }

    /// Whether the server accepted EHLO (false after the HELO fallback).
    pub fn is_esmtp(&self) -> bool {
        self.esmtp
    }

    /// Whether AUTH succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether more commands may be sent (false after an I/O error, a timeout or a protocol
    /// violation).
    pub fn is_usable(&self) -> bool {
        !self.broken
    }

    /// The server's address.
    pub fn peer(&self) -> &Address {
        self.conn.peer()
    }

    /// Send one message: MAIL FROM (with `SIZE=` when offered, `BODY=8BITMIME` when offered
    /// and the message has 8-bit octets, `SMTPUTF8` when an address needs it), the RCPTs and
    /// DATA, pipelined when the server offers PIPELINING. `from` `None` (or `""`, `"<>"`) is
    /// the null sender. Line endings are normalised and dots stuffed
    /// ([`dotstuff`](super::dotstuff)).
    ///
    /// * `Ok(report)`: per-recipient results; `report.data` is the (positive) end-of-data reply,
    ///   or `None` when no recipient was accepted (the transaction was reset, nothing sent).
    /// * `Err(ClientError::Reply(r))`: the server refused MAIL, DATA or the message itself, or
    ///   the message was refused before sending (SIZE, SMTPUTF8, sender syntax). The client
    ///   stays usable.
    /// * Other errors: the connection is no longer usable.
    pub async fn send(
        &mut self,
        from: Option<&str>,
        to: &[&str],
        message: &[u8],
    ) -> Result<SendReport, ClientError> {
        self.check_usable()?;
        let plan =
            transaction::plan(&self.extensions, from, to, message).map_err(ClientError::Reply)?;
        let mut report = SendReport {
            rejected: plan.invalid,
            ..SendReport::default()
        };
        if plan.rcpts.is_empty() {
            return Ok(report);
        }
        // The commands in order; with PIPELINING they go out in groups (RFC 2920 §3.1: DATA
        // may end a group), without it one at a time.
        enum Step<'a> {
            Mail,
            Rcpt(&'a str, &'a str),
            Data,
        }
        let mut steps = vec![Step::Mail];
        steps.extend(
            plan.rcpts
                .iter()
                .map(|(given, line)| Step::Rcpt(given, line)),
        );
        steps.push(Step::Data);
        let group = if self.extensions.pipelining {
            PIPELINE_BATCH
        } else {
            1
        };
        let mut mail_refused = None;
        let mut data_reply = None;
        let mut next = 0;
        while next < steps.len() && mail_refused.is_none() {
            let end = (next + group).min(steps.len());
            let batch = &steps[next..end];
            if !self.extensions.pipelining
                && matches!(batch[0], Step::Data)
                && report.accepted.is_empty()
            {
                break;
            }
            for step in batch {
                let line = match step {
                    Step::Mail => plan.mail.as_str(),
                    Step::Rcpt(_, line) => *line,
                    Step::Data => "DATA",
                };
                tracing::debug!(command = line, "sending");
                self.conn.queue(line.as_bytes());
                self.conn.queue(b"\r\n");
            }
            for step in batch {
                let reply = self.read_reply(self.config.timeout).await?;
                if reply.code == 421 {
                    // The server is closing: the remaining replies will never come.
                    return Err(ClientError::Reply(reply));
                }
                match step {
                    Step::Mail if !(200..300).contains(&reply.code) => mail_refused = Some(reply),
                    Step::Mail => {}
                    // 250, 251 (will forward) or 252 (cannot verify, will try).
                    Step::Rcpt(given, _) if (200..300).contains(&reply.code) => {
                        report.accepted.push((*given).to_owned());
                    }
                    Step::Rcpt(given, _) => report.rejected.push(((*given).to_owned(), reply)),
                    Step::Data => data_reply = Some(reply),
                }
            }
            next = end;
        }
        // Refusals in the order the recipients were given.
        report
            .rejected
            .sort_by_key(|(given, _)| to.iter().position(|t| t == given));
        let go_ahead = data_reply.as_ref().is_some_and(|r| r.code == 354);
        if mail_refused.is_some() || report.accepted.is_empty() {
            if go_ahead {
                // RFC 2920 §3.1: a 354 with nothing accepted is ended with an empty message,
                // which the server must then refuse.
                self.conn.queue(b".\r\n");
                let _ = self.read_reply(self.config.data_timeout).await?;
            }
            self.reset_quietly().await;
            return match mail_refused {
                Some(reply) => Err(ClientError::Reply(reply)),
                None => Ok(report),
            };
        }
        match data_reply {
            Some(reply) if reply.code == 354 => {}
            Some(reply) => {
                self.reset_quietly().await;
                return Err(ClientError::Reply(reply));
            }
            None => return Err(ClientError::Protocol("no reply to DATA".into())),
        }
        self.write_message(message).await?;
        let reply = self.read_reply(self.config.data_timeout).await?;
        if !(200..300).contains(&reply.code) {
            // The transaction is over either way (RFC 5321 §4.1.1.4): no RSET needed.
            return Err(ClientError::Reply(reply));
        }
        report.data = Some(reply);
        Ok(report)
    }

    async fn write_message(&mut self, message: &[u8]) -> Result<(), ClientError> {
        let mut stuffer = DotStuffer::new();
        let mut out = Vec::with_capacity(DATA_PIECE + DATA_PIECE / 8);
        for piece in message.chunks(DATA_PIECE) {
            stuffer.push(piece, &mut out);
            self.feed(&out).await?;
            out.clear();
        }
        stuffer.finish(&mut out);
        self.feed(&out).await
    }

    async fn feed(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        if let Err(e) = self.conn.feed(bytes).await {
            self.broken = true;
            return Err(if e.kind() == std::io::ErrorKind::TimedOut {
                ClientError::Timeout
            } else {
                ClientError::Io(e)
            });
        }
        Ok(())
    }

    /// RSET (RFC 5321 §4.1.1.5): abandon the current transaction.
    pub async fn reset(&mut self) -> Result<(), ClientError> {
        let reply = self.command("RSET").await?;
        if reply.code != 250 {
            return Err(ClientError::Reply(reply));
        }
        Ok(())
    }

    /// RSET after a refused transaction, when the connection is still usable. A failure marks
    /// the client unusable, which the next call reports.
    async fn reset_quietly(&mut self) {
        if !self.broken {
            let _ = self.command("RSET").await;
        }
    }

    /// NOOP: check the connection is alive (e.g. before reusing it for another message).
    pub async fn noop(&mut self) -> Result<Reply, ClientError> {
        let reply = self.command("NOOP").await?;
        if reply.code != 250 {
            return Err(ClientError::Reply(reply));
        }
        Ok(reply)
    }

    /// QUIT, wait for the 221, and close the connection.
    pub async fn quit(mut self) -> Result<(), ClientError> {
        if self.broken {
            return Ok(());
        }
        let result = match self.command("QUIT").await {
            Ok(_) => Ok(()),
            // The server may close without waiting for us to read its 221.
            Err(ClientError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(()),
            Err(e) => Err(e),
        };
        let _ = self.conn.close().await;
        result
    }

    /// QUIT without caring about the answer (after a failure), bounded by a short timeout.
    async fn quit_quietly(&mut self) {
        if self.broken {
            return;
        }
        self.conn.queue(b"QUIT\r\n");
        let wait = self.config.timeout.min(Duration::from_secs(5));
        let _ = tokio::time::timeout(wait, self.conn.read_frame(&mut self.codec)).await;
        self.broken = true;
    }

    fn check_usable(&self) -> Result<(), ClientError> {
        if self.broken {
            return Err(ClientError::Protocol(
                "the connection failed earlier; connect again".into(),
            ));
        }
        Ok(())
    }

    /// Send one command line and read its reply.
    async fn command(&mut self, line: &str) -> Result<Reply, ClientError> {
        tracing::debug!(command = line, "sending");
        self.send_line(line).await
    }

    /// As [`command`](Self::command), logging `shown` instead of the line.
    async fn secret_command(&mut self, line: &str, shown: &str) -> Result<Reply, ClientError> {
        tracing::debug!(command = shown, "sending");
        self.send_line(line).await
    }

    async fn send_line(&mut self, line: &str) -> Result<Reply, ClientError> {
        self.check_usable()?;
        self.conn.queue(line.as_bytes());
        self.conn.queue(b"\r\n");
        self.read_reply(self.config.timeout).await
    }

    /// Flush what is queued and read one reply within `wait`.
    async fn read_reply(&mut self, wait: Duration) -> Result<Reply, ClientError> {
        self.conn.set_idle_timeout(Some(wait));
        let result = tokio::time::timeout(wait, self.conn.read_frame(&mut self.codec)).await;
        self.conn.set_idle_timeout(Some(self.config.timeout));
        let result = match result {
            Err(_) => Err(ClientError::Timeout),
            Ok(Ok(Some(reply))) => Ok(reply),
            Ok(Ok(None)) => Err(ClientError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ))),
            Ok(Err(e)) => Err(ClientError::from(e)),
        };
        match &result {
            Ok(reply) => {
                tracing::debug!(%reply, "reply");
                if reply.code == 421 {
                    // RFC 5321 §3.8: the server is closing the connection.
                    self.broken = true;
                }
            }
            Err(e) => {
                tracing::debug!("reading a reply failed: {e}");
                self.broken = true;
            }
        }
        result
    }
}
