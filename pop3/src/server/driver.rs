//! The POP3 service on torsion-core: reads command lines (`LineCodec`, [`MAX_COMMAND_LINE`]),
//! runs each through the [`Session`] on the blocking pool (the store is file I/O), writes the
//! responses in order (pipelining, RFC 2449 §6.6, needs nothing more: commands are read from
//! the buffer one after another and the replies leave together), and carries out the
//! session's effects: STLS, password checks (argon2, off the runtime), the SASL continuation,
//! QUIT. A connection that ends any other way — dropped, timed out, server shutdown — never
//! reaches the UPDATE state, so nothing is deleted (RFC 1939 §6), and its maildrop lock goes
//! with the session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::time::sleep;
use torsion_core::framing::LineCodec;
use torsion_core::runner::{Limits, Refusal};
use torsion_core::tls::ReloadableServerConfig;
use torsion_core::{Connection, ReadError, Service};
use torsion_mailstore::Directory;

use super::session::{Config, Effect, Session, State, Transfer};
use crate::proto::{Stuffer, MAX_COMMAND_LINE};

/// Idle timeout, in every state: RFC 1939 §3, "at least 10 minutes".
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Longest a command line may take to arrive once started.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a failed login waits before its `-ERR` (Dovecot's `auth_failure_delay`).
pub const FAILED_LOGIN_DELAY: Duration = Duration::from_secs(2);
/// Failed logins before the connection is closed.
pub const MAX_FAILED_LOGINS: u32 = 3;
/// Bad commands (unknown, malformed, out of state, too long) before the connection is closed.
pub const MAX_BAD_COMMANDS: u32 = 20;
/// Bytes of a large message read (and byte-stuffed) at a time.
pub const TRANSFER_CHUNK: usize = 64 * 1024;
/// Accounts whose last login time is remembered for LOGIN-DELAY (the oldest are forgotten).
const MAX_LOGIN_TIMES: usize = 100_000;

/// The POP3 service (Twisted's factory): configuration, accounts and TLS.
#[derive(Debug)]
pub struct Pop3Server {
    config: Arc<Config>,
    directory: Arc<Directory>,
    tls: Option<ReloadableServerConfig>,
    /// Last successful login per account, for LOGIN-DELAY.
    last_login: Mutex<HashMap<String, Instant>>,
}

impl Pop3Server {
    /// A server with `config`, logging in against `directory`'s accounts; `tls` enables STLS.
    pub fn new(
        config: Config,
        directory: Arc<Directory>,
        tls: Option<ReloadableServerConfig>,
    ) -> Self {
        let config = Arc::new(Config {
            stls: config.stls && tls.is_some(),
            ..config
        });
        Pop3Server {
            config,
            directory,
            tls,
            last_login: Mutex::new(HashMap::new()),
        }
    }

    /// The default timeouts.
    pub fn standard_limits() -> Limits {
        Limits {
            idle_timeout: Some(IDLE_TIMEOUT),
            frame_timeout: Some(LINE_TIMEOUT),
            ..Limits::default()
        }
    }

    /// Run `f` on the session on the blocking pool; `None` if the task died.
    async fn blocking<T: Send + 'static>(
        session: Session,
        f: impl FnOnce(&mut Session, &mut Vec<u8>) -> T + Send + 'static,
    ) -> Option<(Session, Vec<u8>, T)> {
        let task = tokio::task::spawn_blocking(move || {
            let mut session = session;
            let mut out = Vec::new();
            let value = f(&mut session, &mut out);
            (session, out, value)
        });
        match task.await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!("POP3 command failed: {e}");
                None
            }
        }
    }

    /// Whether `account` logged in too recently (LOGIN-DELAY); records this login if not.
    fn too_soon(&self, account: &str) -> bool {
        let delay = Duration::from_secs(u64::from(self.config.login_delay));
        if delay.is_zero() {
            return false;
        }
        let mut times = self.last_login.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some(last) = times.get(account) {
            if now.duration_since(*last) < delay {
                return true;
            }
        }
        if times.len() >= MAX_LOGIN_TIMES {
            times.retain(|_, t| now.duration_since(*t) < delay);
        }
        if times.len() < MAX_LOGIN_TIMES {
            times.insert(account.to_owned(), now);
        }
        false
    }

    /// Stream a large message's body: a blocking task reads and byte-stuffs it in
    /// [`TRANSFER_CHUNK`] pieces, at most two pieces ahead of the connection (backpressure);
    /// false if it could not all be sent.
    async fn transfer(conn: &mut Connection, transfer: Transfer) -> bool {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(2);
        let producer = tokio::task::spawn_blocking(move || {
            let Transfer {
                mut reader,
                body_lines,
            } = transfer;
            let mut stuffer = Stuffer::new(body_lines);
            let mut buf = vec![0u8; TRANSFER_CHUNK];
            while !stuffer.is_done() {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                };
                let mut out = Vec::with_capacity(n + n / 32 + 8);
                stuffer.push(&buf[..n], &mut out);
                if tx.blocking_send(Ok(out)).is_err() {
                    return; // the connection is gone
                }
            }
            let mut out = Vec::new();
            stuffer.finish(&mut out);
            let _ = tx.blocking_send(Ok(out));
        });
        let mut sent = true;
        while let Some(chunk) = rx.recv().await {
            match chunk {
                Ok(bytes) => {
                    if conn.feed(&bytes).await.is_err() {
                        sent = false;
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!("POP3 RETR: reading the message failed midway: {e}");
                    sent = false;
                    break;
                }
            }
        }
        drop(rx);
        let _ = producer.await;
        sent
    }

    /// Check a password and finish the login; the session back (None: its task died).
    async fn check_password(
        &self,
        session: Session,
        user: String,
        password: Vec<u8>,
    ) -> Option<(Session, Vec<u8>)> {
        let account = self.directory.authenticate(&user, &password).await;
        match &account {
            None => {
                tracing::info!(user, "POP3 login failed");
                sleep(FAILED_LOGIN_DELAY).await;
            }
            Some(addr) if self.too_soon(&addr.to_string()) => {
                let text = format!(
                    "-ERR [LOGIN-DELAY] Wait {} seconds between logins\r\n",
                    self.config.login_delay
                );
                return Some((session, text.into_bytes()));
            }
            Some(_) => {}
        }
        let (session, out, ()) =
            Self::blocking(session, move |s, out| s.login_checked(account, out)).await?;
        Some((session, out))
    }
}

impl Service for Pop3Server {
    fn protocol(&self) -> &'static str {
        "pop3"
    }

    fn long_lived_connections(&self) -> bool {
        true
    }

    fn default_limits(&self) -> Limits {
        Pop3Server::standard_limits()
    }

    async fn handle(self: Arc<Self>, mut conn: Connection) {
        let mut session = Session::new(self.config.clone(), conn.is_tls());
        let mut out = Vec::new();
        session.greeting(&mut out);
        conn.queue(&out);
        conn.set_idle_timeout(Some(IDLE_TIMEOUT));
        conn.set_frame_timeout(Some(LINE_TIMEOUT));
        let mut lines = LineCodec::crlf(MAX_COMMAND_LINE);
        let mut bad = 0u32;
        loop {
            let line = match conn.read_frame(&mut lines).await {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) if e.is_recoverable_frame() => {
                    conn.queue(b"-ERR Command line too long\r\n");
                    bad += 1;
                    if bad >= MAX_BAD_COMMANDS {
                        conn.queue(b"-ERR Too many bad commands\r\n");
                        break;
                    }
                    continue;
                }
                Err(ReadError::Shutdown) => {
                    conn.queue(b"-ERR [SYS/TEMP] Server shutting down\r\n");
                    break;
                }
                Err(ReadError::IdleTimeout | ReadError::FrameTimeout) => {
                    // RFC 1939 §3: an autologout does not enter the UPDATE state.
                    conn.queue(b"-ERR Disconnected for inactivity\r\n");
                    break;
                }
                Err(_) => break,
            };
            let line = line.to_vec();
            let Some((next, out, (effect, was_bad))) =
                Self::blocking(session, move |s, out| s.execute(&line, out)).await
            else {
                conn.queue(b"-ERR [SYS/TEMP] Internal server error\r\n");
                break;
            };
            session = next;
            if conn.feed(&out).await.is_err() {
                return;
            }
            if was_bad {
                bad += 1;
                if bad >= MAX_BAD_COMMANDS {
                    conn.queue(b"-ERR Too many bad commands\r\n");
                    break;
                }
            }
            let login = match effect {
                Effect::None => None,
                Effect::Close => break,
                Effect::StartTls => {
                    let Some(tls) = &self.tls else { break };
                    match conn.upgrade_server_tls(&tls.acceptor()).await {
                        Ok(discarded) => {
                            if discarded > 0 {
                                // CVE-2011-0411: commands injected before the handshake.
                                tracing::warn!(
                                    discarded,
                                    "discarded plaintext pipelined after STLS"
                                );
                            }
                            session.tls_started();
                        }
                        Err(e) => {
                            tracing::info!("TLS handshake failed: {e}");
                            break;
                        }
                    }
                    None
                }
                Effect::SaslContinue => {
                    conn.queue(b"+ \r\n");
                    let line = match conn.read_frame(&mut lines).await {
                        Ok(Some(line)) => line,
                        _ => break,
                    };
                    let mut out = Vec::new();
                    let effect = session.auth_data(&line, &mut out);
                    conn.queue(&out);
                    match effect {
                        Effect::CheckPassword { user, password } => Some((user, password)),
                        _ => None,
                    }
                }
                Effect::CheckPassword { user, password } => Some((user, password)),
                Effect::Transfer => {
                    let Some(transfer) = session.take_transfer() else {
                        break;
                    };
                    if !Self::transfer(&mut conn, transfer).await {
                        // The `+OK` is out but the body is not: closing without the `.` line
                        // tells the client the message is incomplete.
                        break;
                    }
                    None
                }
            };
            if let Some((user, password)) = login {
                let Some((next, out)) = self.check_password(session, user, password).await else {
                    conn.queue(b"-ERR [SYS/TEMP] Internal server error\r\n");
                    break;
                };
                session = next;
                conn.queue(&out);
                if session.failed_logins >= MAX_FAILED_LOGINS {
                    conn.queue(b"-ERR [AUTH] Too many failed logins\r\n");
                    break;
                }
            }
            if session.state() == &State::Done {
                break;
            }
        }
        // The session is dropped here, releasing the maildrop lock (nothing deleted unless
        // QUIT ran).
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.close()).await;
    }

    /// SIGHUP: the STLS certificate is read again.
    fn reload(&self) -> Result<(), String> {
        if let Some(tls) = &self.tls {
            tls.reload().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn refuse(self: Arc<Self>, mut conn: Connection, reason: Refusal) {
        let text = match reason {
            Refusal::TooManyConnections => {
                "-ERR [SYS/TEMP] Too many connections, try again later\r\n"
            }
            Refusal::TooManyFromPeer => {
                "-ERR [SYS/TEMP] Too many connections from your address\r\n"
            }
        };
        conn.queue(text.as_bytes());
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.close()).await;
    }
}
