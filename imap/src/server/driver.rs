//! The IMAP service on torsion-core: reads command lines and literals from a connection
//! (lines with `LineCodec`, literals with `CountedCodec` as one frame each, so the per-frame
//! deadline and its minimum data rate cover a slow upload), assembles and parses each command
//! with imap-codec, runs it through the [`Session`] on the blocking pool (the store is file
//! I/O), writes the responses, and carries out the session's effects: STARTTLS, password
//! checks (argon2, off the runtime), the SASL continuation, LOGOUT.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::sleep;
use torsion_core::framing::{CountedCodec, LineCodec};
use torsion_core::runner::{Limits, Refusal};
use torsion_core::tls::ReloadableServerConfig;
use torsion_core::{Connection, ReadError, Service};
use torsion_mailstore::Directory;

use super::response::Out;
use super::session::{Config, Effect, Session, State};
use crate::proto::assemble::{self, Assembler, Next, Refusal as LiteralRefusal};

/// Longest command line (Dovecot's `imap_max_line_length` is 64 KiB).
pub const MAX_LINE: usize = 64 * 1024;
/// Literal bytes read per frame.
const LITERAL_CHUNK: usize = 64 * 1024;
/// Idle timeout before login.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle timeout once logged in: RFC 9051 §5.4, "at least 30 minutes".
pub const AUTHENTICATED_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long a failed login waits before its NO (Dovecot's `auth_failure_delay`).
pub const FAILED_LOGIN_DELAY: Duration = Duration::from_secs(2);
/// Failed logins before the connection is closed.
pub const MAX_FAILED_LOGINS: u32 = 3;
/// Commands that could not be parsed before the connection is closed.
pub const MAX_BAD_COMMANDS: u32 = 20;

/// The IMAP service (Twisted's factory): configuration, accounts and TLS.
#[derive(Debug)]
pub struct ImapServer {
    config: Arc<Config>,
    directory: Arc<Directory>,
    tls: Option<ReloadableServerConfig>,
    limits: assemble::Limits,
    max_per_user: usize,
    per_user: Arc<Mutex<HashMap<String, usize>>>,
}

/// Logged-in connections one account may have by default (Dovecot allows 10 per user and
/// client address; this counts all of an account's addresses: a phone, a laptop, a desktop
/// client with several folders open).
pub const DEFAULT_MAX_CONNECTIONS_PER_USER: usize = 100;

/// One logged-in connection counted against its account; released when dropped (however
/// the connection ends).
#[derive(Debug)]
struct UserSlot {
    user: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

impl ImapServer {
    /// A server with `config`, logging in against `directory`'s accounts; `tls` enables
    /// STARTTLS.
    pub fn new(
        config: Config,
        directory: Arc<Directory>,
        tls: Option<ReloadableServerConfig>,
    ) -> Self {
        let limits = assemble::Limits {
            max_append_literal: config.append_limit,
            ..assemble::Limits::default()
        };
        let config = Arc::new(Config {
            starttls: config.starttls && tls.is_some(),
            ..config
        });
        ImapServer {
            config,
            directory,
            tls,
            limits,
            max_per_user: DEFAULT_MAX_CONNECTIONS_PER_USER,
            per_user: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// At most `n` logged-in connections per account (0: no limit).
    pub fn with_max_connections_per_user(mut self, n: usize) -> Self {
        self.max_per_user = n;
        self
    }

    /// Count a login against `user`; `None` when the account is at its limit.
    fn claim(&self, user: &str) -> Option<UserSlot> {
        let mut counts = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(user.to_owned()).or_insert(0);
        if self.max_per_user != 0 && *n >= self.max_per_user {
            return None;
        }
        *n += 1;
        Some(UserSlot {
            user: user.to_owned(),
            counts: self.per_user.clone(),
        })
    }

    /// The default timeouts: short before login (the session lengthens its own after).
    pub fn standard_limits() -> Limits {
        Limits {
            idle_timeout: Some(AUTHENTICATED_TIMEOUT),
            frame_timeout: Some(LOGIN_TIMEOUT),
            ..Limits::default()
        }
    }
}

/// What reading one command gave.
enum Input {
    /// Complete command bytes (possibly empty: already answered).
    Command(Vec<u8>),
    /// The connection ended or must end (with this goodbye, if any).
    End(Option<&'static str>),
}

impl ImapServer {
    /// Read lines and literals until a command is complete.
    async fn read_command(
        &self,
        conn: &mut Connection,
        lines: &mut LineCodec,
        asm: &mut Assembler,
    ) -> Input {
        loop {
            let line = match conn.read_frame(lines).await {
                Ok(Some(line)) => line,
                Ok(None) => return Input::End(None),
                Err(e) if e.is_recoverable_frame() => {
                    asm.reset();
                    let mut out = Out::new();
                    out.untagged("BAD Command line too long");
                    conn.queue(out.bytes());
                    continue;
                }
                Err(ReadError::Shutdown) => {
                    return Input::End(Some("* BYE Server shutting down\r\n"))
                }
                Err(ReadError::IdleTimeout | ReadError::FrameTimeout) => {
                    return Input::End(Some("* BYE Autologout; idle for too long\r\n"))
                }
                Err(_) => return Input::End(None),
            };
            match asm.line(&line) {
                Next::Complete(bytes) => return Input::Command(bytes),
                Next::Literal {
                    length,
                    continue_first,
                } => {
                    if continue_first {
                        conn.queue(b"+ Ready for literal data\r\n");
                    }
                    if !self.read_literal(conn, asm, length, true).await {
                        return Input::End(None);
                    }
                }
                Next::Refuse {
                    tag,
                    discard,
                    reason,
                } => {
                    let text = match reason {
                        LiteralRefusal::TooBig => "[TOOBIG] Literal too large",
                        LiteralRefusal::TooManyLiterals => "[LIMIT] Too many literals",
                    };
                    let mut out = Out::new();
                    match &tag {
                        Some(tag) => out.tagged(tag, &format!("NO {text}")),
                        None if discard > 0 && asm.in_command() => {}
                        None => out.untagged(&format!("NO {text}")),
                    }
                    conn.queue(out.bytes());
                    if discard > 0 && !self.read_literal(conn, asm, discard, false).await {
                        return Input::End(None);
                    }
                }
            }
        }
    }

    /// Read a literal of `length` bytes into the assembler (`keep`) or drop it; false if the
    /// connection ended.
    async fn read_literal(
        &self,
        conn: &mut Connection,
        asm: &mut Assembler,
        length: u64,
        keep: bool,
    ) -> bool {
        let mut codec = CountedCodec::new(length, LITERAL_CHUNK);
        conn.start_transfer();
        let mut ok = true;
        while !codec.is_done() {
            match conn.read_frame(&mut codec).await {
                Ok(Some(chunk)) => {
                    if keep {
                        asm.literal(&chunk);
                    }
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        conn.finish_transfer();
        if !ok {
            // A client that vanishes mid-APPEND leaves nothing behind: the partial command
            // is dropped with the assembler.
            asm.reset();
        }
        ok
    }

    /// Parse and run one command: the session back, its responses, its effect, and whether
    /// the command could not be parsed.
    async fn run(&self, session: Session, bytes: Vec<u8>) -> Option<(Session, Out, Effect, bool)> {
        let (session, out, (effect, bad)) =
            Self::blocking(session, move |session, out| session.execute(&bytes, out)).await?;
        Some((session, out, effect, bad))
    }

    /// Run `f` on the session on the blocking pool (the store is file I/O); `None` if the
    /// task died.
    async fn blocking<T: Send + 'static>(
        session: Session,
        f: impl FnOnce(&mut Session, &mut Out) -> T + Send + 'static,
    ) -> Option<(Session, Out, T)> {
        let task = tokio::task::spawn_blocking(move || {
            let mut session = session;
            let mut out = Out::new();
            let value = f(&mut session, &mut out);
            (session, out, value)
        });
        match task.await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!("IMAP command failed: {e}");
                None
            }
        }
    }

    /// IDLE (RFC 2177): changes to the selected mailbox are reported as they happen — a
    /// delivery by torsion-smtp, another session's STORE — until `DONE`. `None`: the
    /// connection is to be closed.
    async fn idle(
        &self,
        conn: &mut Connection,
        lines: &mut LineCodec,
        session: Session,
        tag: &str,
    ) -> Option<Session> {
        let mut watch = match session.watch_selected() {
            Some(Ok(w)) => Some(w),
            Some(Err(e)) => {
                tracing::warn!("IDLE: cannot watch the mailbox: {e}");
                None
            }
            None => None,
        };
        conn.queue(b"+ idling\r\n");
        // Anything that happened between the command and the watch being set up.
        let (mut session, out, ()) =
            Self::blocking(session, |s, out| s.report_changes(out, true, false)).await?;
        conn.queue(out.bytes());
        loop {
            let changed = async {
                match watch.as_mut() {
                    Some(w) => w.changed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                line = conn.read_frame(lines) => {
                    match line {
                        Ok(Some(line)) if line.eq_ignore_ascii_case(b"DONE") => {
                            let mut out = Out::new();
                            out.ok(tag, "IDLE terminated");
                            conn.queue(out.bytes());
                            return Some(session);
                        }
                        Ok(Some(_)) => {
                            let mut out = Out::new();
                            out.bad(tag, "Expected DONE");
                            conn.queue(out.bytes());
                            return Some(session);
                        }
                        Err(ReadError::IdleTimeout | ReadError::FrameTimeout) => {
                            conn.queue(b"* BYE Autologout; idle for too long\r\n");
                            return None;
                        }
                        Err(ReadError::Shutdown) => {
                            conn.queue(b"* BYE Server shutting down\r\n");
                            return None;
                        }
                        _ => return None,
                    }
                }
                () = changed => {
                    let (next, out, ()) =
                        Self::blocking(session, |s, out| s.report_changes(out, true, false)).await?;
                    session = next;
                    conn.queue(out.bytes());
                    if conn.flush().await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    async fn check_password(
        &self,
        session: &mut Session,
        tag: &str,
        user: &str,
        password: &[u8],
        slot: &mut Option<UserSlot>,
    ) -> Out {
        let account = self.directory.authenticate(user, password).await;
        let mut out = Out::new();
        match &account {
            None => {
                tracing::info!(user, "IMAP login failed");
                sleep(FAILED_LOGIN_DELAY).await;
            }
            Some(addr) => match self.claim(&addr.to_string()) {
                Some(claimed) => *slot = Some(claimed),
                None => {
                    tracing::info!(%addr, limit = self.max_per_user, "IMAP login refused: too many connections");
                    out.no_code(
                        tag,
                        "LIMIT",
                        &format!(
                            "Too many connections for this account (at most {})",
                            self.max_per_user
                        ),
                    );
                    return out;
                }
            },
        }
        session.login_checked(tag, account, &mut out);
        if !matches!(session.state(), State::Authenticated(_)) {
            *slot = None;
        }
        out
    }
}

impl Service for ImapServer {
    fn protocol(&self) -> &'static str {
        "imap"
    }

    fn long_lived_connections(&self) -> bool {
        true
    }

    fn default_limits(&self) -> Limits {
        ImapServer::standard_limits()
    }

    async fn handle(self: Arc<Self>, mut conn: Connection) {
        let mut session = Session::new(self.config.clone(), conn.is_tls());
        let mut out = Out::new();
        session.greeting(&mut out);
        conn.queue(out.bytes());
        conn.set_idle_timeout(Some(LOGIN_TIMEOUT));
        let mut lines = LineCodec::crlf(MAX_LINE);
        let mut asm = Assembler::new(self.limits, true);
        let mut bad = 0u32;
        // The account's connection slot, once logged in (released when this returns).
        let mut slot: Option<UserSlot> = None;
        loop {
            let bytes = match self.read_command(&mut conn, &mut lines, &mut asm).await {
                Input::Command(bytes) if bytes.is_empty() => continue,
                Input::Command(bytes) => bytes,
                Input::End(goodbye) => {
                    if let Some(goodbye) = goodbye {
                        conn.queue(goodbye.as_bytes());
                    }
                    break;
                }
            };
            let was_authenticated = session.state() != &State::NotAuthenticated;
            let Some((next, out, effect, was_bad)) = self.run(session, bytes).await else {
                // The command's task died (a bug): the session is gone with it.
                conn.queue(b"* BYE Internal server error\r\n");
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.close()).await;
                return;
            };
            session = next;
            conn.queue(out.bytes());
            if was_bad {
                bad += 1;
                if bad >= MAX_BAD_COMMANDS {
                    conn.queue(b"* BYE Too many invalid commands\r\n");
                    break;
                }
            }
            match effect {
                Effect::None => {}
                Effect::Close => break,
                Effect::StartTls => {
                    let Some(tls) = &self.tls else { break };
                    match conn.upgrade_server_tls(&tls.acceptor()).await {
                        Ok(discarded) => {
                            if discarded > 0 {
                                // CVE-2011-0411: commands injected before the handshake.
                                tracing::warn!(
                                    discarded,
                                    "discarded plaintext pipelined after STARTTLS"
                                );
                            }
                            session.tls_started();
                        }
                        Err(e) => {
                            tracing::info!("TLS handshake failed: {e}");
                            break;
                        }
                    }
                }
                Effect::SaslContinue { tag } => {
                    conn.queue(b"+ \r\n");
                    let line = match conn.read_frame(&mut lines).await {
                        Ok(Some(line)) => line,
                        _ => break,
                    };
                    let mut out = Out::new();
                    let effect = session.authenticate_data(tag, &line, &mut out);
                    conn.queue(out.bytes());
                    if let Effect::CheckPassword {
                        tag,
                        user,
                        password,
                    } = effect
                    {
                        let out = self
                            .check_password(&mut session, &tag, &user, &password, &mut slot)
                            .await;
                        conn.queue(out.bytes());
                    }
                }
                Effect::CheckPassword {
                    tag,
                    user,
                    password,
                } => {
                    let out = self
                        .check_password(&mut session, &tag, &user, &password, &mut slot)
                        .await;
                    conn.queue(out.bytes());
                }
                Effect::Idle { tag } => match self.idle(&mut conn, &mut lines, session, &tag).await
                {
                    Some(s) => session = s,
                    None => {
                        let _ = tokio::time::timeout(Duration::from_secs(5), conn.close()).await;
                        return;
                    }
                },
            }
            if session.failed_logins >= MAX_FAILED_LOGINS {
                conn.queue(b"* BYE Too many failed logins\r\n");
                break;
            }
            if !was_authenticated && matches!(session.state(), State::Authenticated(_)) {
                conn.set_idle_timeout(Some(AUTHENTICATED_TIMEOUT));
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.close()).await;
    }

    /// SIGHUP: the STARTTLS certificate is read again.
    fn reload(&self) -> Result<(), String> {
        if let Some(tls) = &self.tls {
            tls.reload().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn refuse(self: Arc<Self>, mut conn: Connection, reason: Refusal) {
        let text = match reason {
            Refusal::TooManyConnections => "* BYE Too many connections, try again later\r\n",
            Refusal::TooManyFromPeer => "* BYE Too many connections from your address\r\n",
        };
        conn.queue(text.as_bytes());
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.close()).await;
    }
}
