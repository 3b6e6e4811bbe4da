//! The service runner — Twisted's `twistd`: the flags every binary shares, logging, the accept
//! loop with connection limits, idle timeouts, graceful shutdown on SIGINT/SIGTERM, reload on
//! SIGHUP, and exit codes (0 clean, 2 bad arguments or configuration, 1 runtime failure).
//!
//! ## The flow of a connection
//! 1. A per-listener accept loop takes the socket and checks the global (`--max-connections`)
//!    and per-address (`--max-per-ip`) limits; over a limit the service's
//!    [`Service::refuse`] answers (default: close) and the socket is dropped.
//! 2. The connection gets its own task and a tracing span (`conn{id peer proto}`); for `tls:`
//!    listeners the TLS handshake runs there, bounded by a timeout, so a slow client never
//!    holds up the accept loop.
//! 3. [`Service::handle`] runs the protocol on the [`Connection`] until it returns.
//! 4. On shutdown, listeners close at once; waiting reads return [`ReadError::Shutdown`] so
//!    sessions can say goodbye; after `--shutdown-timeout` the remaining sessions are dropped.
//!
//! [`ReadError::Shutdown`]: crate::ReadError::Shutdown

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn, Instrument};

use crate::address::Address;
use crate::connection::{Connection, ConnectionOptions};
use crate::endpoint::{ListenError, Listener, ServerEndpoint};
use crate::stream::Stream;

/// A protocol server: the state shared by all its connections (Twisted's Factory), whose
/// [`handle`](Service::handle) runs once per connection (Twisted's Protocol).
pub trait Service: Send + Sync + 'static {
    /// Short protocol name for logs (`smtp`, `irc`).
    fn protocol(&self) -> &'static str;

    /// Run the protocol on one connection until it ends.
    fn handle(self: Arc<Self>, conn: Connection) -> impl Future<Output = ()> + Send;

    /// Answer a connection refused by a limit (e.g. SMTP `421 4.7.0 Too many connections`),
    /// then drop it. The default closes without a word. Bounded by a short timeout.
    fn refuse(
        self: Arc<Self>,
        conn: Connection,
        reason: Refusal,
    ) -> impl Future<Output = ()> + Send {
        let _ = reason;
        async move {
            let _ = conn.close().await;
        }
    }

    /// SIGHUP: reload configuration. Errors are logged and the old configuration stays.
    fn reload(&self) -> Result<(), String> {
        Ok(())
    }

    /// Whether connections are typically many, long-lived and mostly idle (IRC): their
    /// per-connection tracing span is then created at debug level, so it costs nothing unless
    /// debugging. Default: false (an info-level span, so every log line names its peer).
    fn long_lived_connections(&self) -> bool {
        false
    }

    /// The limits (above all the timeouts) this protocol wants when the operator gives no flag:
    /// [`ServiceArgs::limits_over`] lays the flags over them. Default: [`Limits::default`].
    fn default_limits(&self) -> Limits {
        Limits::default()
    }

    /// Shutdown has begun (the listeners are closed). Sessions normally notice it through
    /// their connection (a wait for input ends with [`crate::ReadError::Shutdown`]); a service
    /// whose sessions opt out of that (with [`Connection::set_shutdown_interrupts`], to save
    /// the per-connection registration) ends them here from its shared state. Default: nothing.
    fn shutting_down(&self) {}
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-connections` reached.
    TooManyConnections,
    /// `--max-per-ip` reached for this peer address.
    TooManyFromPeer,
}

/// A failure that ends the program: configuration errors exit 2, runtime failures exit 1.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad arguments or configuration (exit 2).
    #[error("{0}")]
    Config(String),
    /// Runtime failure (exit 1), e.g. `tcp:127.0.0.1:25: address already in use`.
    #[error("{0}")]
    Runtime(String),
}

impl RunError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Config(_) => 2,
            RunError::Runtime(_) => 1,
        }
    }
}

impl From<ListenError> for RunError {
    fn from(e: ListenError) -> Self {
        match e {
            // A certificate that does not load is a configuration error.
            ListenError::Tls { .. } | ListenError::WrongKind { .. } => {
                RunError::Config(e.to_string())
            }
            ListenError::Bind { .. } => RunError::Runtime(e.to_string()),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The flags every `torsion-X serve` shares. Flatten into a binary's clap struct.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// Where to listen (repeatable): tcp:PORT[:interface=ADDR], tls:PORT:privateKey=KEY.pem[:certKey=CERT.pem],
    /// unix:PATH[:mode=0660], udp:PORT. Port 0 picks a free port (the log says which).
    #[arg(long = "listen", value_name = "ENDPOINT")]
    pub listen: Vec<ServerEndpoint>,

    /// Log filter: error, warn, info, debug, trace, or tracing directives (torsion_core=debug,info).
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "info",
        env = "TORSION_LOG"
    )]
    pub log_level: String,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Maximum simultaneous connections over all listeners; more are refused.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Maximum simultaneous connections from one IP address (0: unlimited).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_per_ip: usize,

    /// Close connections idle for this many seconds (0: never); it also bounds a stalled write
    /// and the time to receive one frame (a command, a message), less credit for data
    /// received at the minimum rate. Default: the protocol's (600; SMTP 300, DNS over TCP 10).
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<u64>,

    /// On SIGINT/SIGTERM, let sessions finish for this many seconds, then close them.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub shutdown_timeout: u64,
}

/// `--tls-cert`/`--tls-key`: the certificate a server offers after STARTTLS (SMTP, IMAP) or
/// STLS (POP3). Flatten into a binary's clap struct; both or neither must be given.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StartTlsArgs {
    /// Certificate chain (PEM) offered after STARTTLS/STLS.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) for --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl StartTlsArgs {
    /// The reloadable configuration, if both files were given; a configuration error (exit
    /// 2) naming the flags if they cannot be loaded.
    pub fn load(&self) -> Result<Option<crate::tls::ReloadableServerConfig>, RunError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::tls::ReloadableServerConfig::load(key, cert)
                .map(Some)
                .map_err(|e| RunError::Config(format!("--tls-cert/--tls-key: {e}"))),
            _ => Ok(None),
        }
    }
}

impl ServiceArgs {
    /// Defaults for embedding and tests (no flags given).
    pub fn defaults() -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            args: ServiceArgs,
        }
        match Only::try_parse_from(["torsion"]) {
            Ok(only) => only.args,
            // Unreachable: every flag has a default. Keep a sane value rather than panic.
            Err(_) => ServiceArgs {
                listen: Vec::new(),
                log_level: "info".into(),
                log_format: LogFormat::Text,
                max_connections: 10_000,
                max_per_ip: 100,
                idle_timeout: None,
                shutdown_timeout: 10,
            },
        }
    }

    /// The limits these flags describe, over the core defaults.
    pub fn limits(&self) -> Limits {
        self.limits_over(Limits::default())
    }

    /// The limits these flags describe, over a protocol's own defaults (its timeouts): a flag
    /// the operator gave always wins. `--idle-timeout` sets the idle, write and frame
    /// timeouts together.
    pub fn limits_over(&self, defaults: Limits) -> Limits {
        let mut limits = Limits {
            max_connections: self.max_connections.max(1),
            max_per_ip: self.max_per_ip,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
            ..defaults
        };
        if let Some(seconds) = self.idle_timeout {
            let timeout = (seconds > 0).then(|| Duration::from_secs(seconds));
            limits.idle_timeout = timeout;
            limits.write_timeout = timeout;
            limits.frame_timeout = timeout;
        }
        limits
    }

    /// `--listen` values, or `defaults` (endpoint strings) when none were given.
    pub fn endpoints_or(&self, defaults: &[&str]) -> Result<Vec<ServerEndpoint>, RunError> {
        if !self.listen.is_empty() {
            return Ok(self.listen.clone());
        }
        defaults
            .iter()
            .map(|d| ServerEndpoint::parse(d).map_err(|e| RunError::Config(e.to_string())))
            .collect()
    }
}

/// Connection limits and timeouts.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Simultaneous connections over all listeners.
    pub max_connections: usize,
    /// Simultaneous connections per peer IP (0: unlimited).
    pub max_per_ip: usize,
    /// Idle timeout given to every connection.
    pub idle_timeout: Option<Duration>,
    /// Bound on a write that makes no progress (None: the idle timeout).
    pub write_timeout: Option<Duration>,
    /// Time to receive one frame from its first byte, before rate credit (None: no limit).
    pub frame_timeout: Option<Duration>,
    /// Minimum data rate of a large frame, bytes/s (see [`ConnectionOptions`]).
    pub min_data_rate: u32,
    /// Grace period on shutdown.
    pub shutdown_timeout: Duration,
    /// Bound on the TLS handshake of `tls:` listeners.
    pub tls_handshake_timeout: Duration,
    /// Output buffered per connection before writers wait.
    pub max_write_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_per_ip: 100,
            idle_timeout: Some(Duration::from_secs(600)),
            write_timeout: None,
            frame_timeout: Some(Duration::from_secs(600)),
            min_data_rate: crate::connection::DEFAULT_MIN_DATA_RATE,
            shutdown_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            max_write_buffer: crate::connection::DEFAULT_MAX_WRITE_BUFFER,
        }
    }
}

impl Limits {
    /// The options each connection gets under these limits.
    pub fn connection_options(&self) -> ConnectionOptions {
        ConnectionOptions {
            idle_timeout: self.idle_timeout,
            write_timeout: self.write_timeout,
            frame_timeout: self.frame_timeout,
            min_data_rate: self.min_data_rate,
            max_write_buffer: self.max_write_buffer,
            ..ConnectionOptions::default()
        }
    }
}

/// One line to stderr, ignoring write errors: a daemon whose stderr was closed must still exit
/// with its code (`eprintln!` would panic, exit 101).
fn say(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{args}");
}

/// Parse the command line into `A` (a clap parser). `--help` and `--version` print and exit 0;
/// anything wrong prints one line — `NAME: error: …` — and exits 2, the convention every
/// Torsion binary follows (clap's own rendering adds usage lines).
pub fn parse_args<A: clap::Parser>() -> A {
    parse_args_from(std::env::args_os())
}

/// [`parse_args`] over explicit arguments (the first is the program name).
pub fn parse_args_from<A: clap::Parser, I, T>(args: I) -> A
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match A::try_parse_from(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            say(format_args!(
                "{}: {}",
                A::command().get_name(),
                one_line_error(&e)
            ));
            std::process::exit(2);
        }
    }
}

/// The first line of a clap error (`error: invalid value … for '--listen <ENDPOINT>': …`).
pub fn one_line_error(e: &clap::Error) -> String {
    let rendered = e.to_string();
    rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("bad arguments")
        .trim()
        .to_owned()
}

/// Set up tracing to stderr. A bad `--log-level` is a configuration error.
pub fn init_logging(level: &str, format: LogFormat) -> Result<(), RunError> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(level)
        .map_err(|e| RunError::Config(format!("--log-level {level:?}: {e}")))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    // Already initialised (tests, embedding): keep the existing subscriber.
    let _ = result;
    Ok(())
}

/// Run `fut` on a multi-threaded runtime and turn its result into the process exit code,
/// printing a failure as one line on stderr.
pub fn run<F>(name: &str, fut: F) -> ExitCode
where
    F: Future<Output = Result<(), RunError>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say(format_args!("{name}: cannot start the runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            say(format_args!("{name}: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}

/// Bind `args.listen` (or `default_listen`), serve until SIGINT/SIGTERM, reload on SIGHUP.
/// The usual body of a `serve` subcommand, after [`init_logging`].
pub async fn serve<S: Service>(
    service: Arc<S>,
    args: &ServiceArgs,
    default_listen: &[&str],
) -> Result<(), RunError> {
    let endpoints = args.endpoints_or(default_listen)?;
    let limits = args.limits_over(service.default_limits());
    let server = Server::bind(service, &endpoints, limits).await?;
    let control = server.control();
    let signals = tokio::spawn(watch_signals(control.clone()));
    let result = server.run().await;
    signals.abort();
    result
}

/// Map SIGINT/SIGTERM to [`ServerControl::shutdown`] and SIGHUP to [`ServerControl::reload`],
/// forever (spawn it; abort it when done). [`serve`] does this itself.
pub async fn watch_signals(control: ServerControl) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        warn!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM: shutting down"); control.shutdown(); }
            _ = int.recv() => { info!("SIGINT: shutting down"); control.shutdown(); }
            _ = hup.recv() => { info!("SIGHUP: reloading"); control.reload(); }
        }
    }
}

/// Lets other tasks (signal handlers, tests, an admin command) stop or reload a [`Server`].
#[derive(Debug, Clone)]
pub struct ServerControl {
    shutdown: CancellationToken,
    reload: Arc<Notify>,
}

impl Default for ServerControl {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerControl {
    /// A control not yet tied to a server (for services with their own loops, e.g. UDP).
    pub fn new() -> Self {
        ServerControl {
            shutdown: CancellationToken::new(),
            reload: Arc::new(Notify::new()),
        }
    }

    /// The shutdown token, for loops the runner does not own.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Resolves at the next reload request.
    pub async fn reload_requested(&self) {
        self.reload.notified().await;
    }

    /// Begin a graceful shutdown.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Reload TLS certificates and the service configuration.
    pub fn reload(&self) {
        self.reload.notify_one();
    }

    /// Resolves once shutdown has begun.
    pub async fn shutting_down(&self) {
        self.shutdown.cancelled().await;
    }
}

/// Counts connections per peer IP.
#[derive(Debug, Default)]
struct PeerCounts {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// Decrements the peer's count when the connection ends.
#[derive(Debug)]
struct PeerSlot {
    counts: Arc<PeerCounts>,
    ip: IpAddr,
}

impl PeerCounts {
    fn acquire(self: &Arc<Self>, peer: &Address) -> Result<Option<PeerSlot>, Refusal> {
        let (Some(ip), true) = (peer.ip(), self.max > 0) else {
            return Ok(None);
        };
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return Err(Refusal::TooManyFromPeer);
        }
        *n += 1;
        Ok(Some(PeerSlot {
            counts: self.clone(),
            ip,
        }))
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Bound listeners plus the service they serve.
#[derive(Debug)]
pub struct Server<S> {
    service: Arc<S>,
    listeners: Vec<Listener>,
    limits: Limits,
    control: ServerControl,
}

struct Shared<S> {
    service: Arc<S>,
    limits: Limits,
    permits: Arc<Semaphore>,
    peers: Arc<PeerCounts>,
    next_id: AtomicU64,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
}

impl<S: Service> Server<S> {
    /// Bind every endpoint (logging `listening on …` with the real address of each).
    pub async fn bind(
        service: Arc<S>,
        endpoints: &[ServerEndpoint],
        limits: Limits,
    ) -> Result<Self, RunError> {
        Self::bind_with_control(service, endpoints, limits, ServerControl::new()).await
    }

    /// As [`bind`](Self::bind), controlled by an existing [`ServerControl`] (so one signal
    /// handler stops this server and the service's other loops together).
    pub async fn bind_with_control(
        service: Arc<S>,
        endpoints: &[ServerEndpoint],
        limits: Limits,
        control: ServerControl,
    ) -> Result<Self, RunError> {
        if endpoints.is_empty() {
            return Err(RunError::Config("no --listen endpoint".into()));
        }
        let mut listeners = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let listener = endpoint.listen().await?;
            info!(
                protocol = service.protocol(),
                "listening on {}",
                listener.describe()
            );
            listeners.push(listener);
        }
        Ok(Server {
            service,
            listeners,
            limits,
            control,
        })
    }

    /// The bound addresses, in the order the endpoints were given.
    pub fn local_addrs(&self) -> Vec<Address> {
        self.listeners
            .iter()
            .map(|l| l.local_addr().clone())
            .collect()
    }

    /// A handle to stop or reload this server.
    pub fn control(&self) -> ServerControl {
        self.control.clone()
    }

    /// Accept and serve until [`ServerControl::shutdown`], then drain gracefully.
    pub async fn run(self) -> Result<(), RunError> {
        let Server {
            service,
            listeners,
            limits,
            control,
        } = self;
        let shared = Arc::new(Shared {
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            peers: Arc::new(PeerCounts {
                max: limits.max_per_ip,
                counts: Mutex::default(),
            }),
            service,
            limits,
            next_id: AtomicU64::new(1),
            tracker: TaskTracker::new(),
            shutdown: control.shutdown.clone(),
            hard_stop: CancellationToken::new(),
        });
        let tls_configs: Vec<_> = listeners.iter().filter_map(|l| l.tls().cloned()).collect();
        let mut loops = tokio::task::JoinSet::new();
        for listener in listeners {
            loops.spawn(accept_loop(listener, shared.clone()));
        }
        loop {
            tokio::select! {
                () = control.shutdown.cancelled() => break,
                () = control.reload.notified() => {
                    for tls in &tls_configs {
                        match tls.reload() {
                            Ok(()) => info!("reloaded TLS certificate {}", tls.cert_path().display()),
                            Err(e) => error!("TLS reload failed, keeping the old certificate: {e}"),
                        }
                    }
                    match shared.service.reload() {
                        Ok(()) => info!("configuration reloaded"),
                        Err(e) => error!("reload failed, keeping the old configuration: {e}"),
                    }
                }
            }
        }
        // Stop accepting: the loops see the token and drop their listeners.
        while loops.join_next().await.is_some() {}
        shared.service.shutting_down();
        let open = shared.tracker.len();
        shared.tracker.close();
        if open > 0 {
            info!(
                "waiting up to {:?} for {open} connection(s) to finish",
                shared.limits.shutdown_timeout
            );
        }
        if tokio::time::timeout(shared.limits.shutdown_timeout, shared.tracker.wait())
            .await
            .is_err()
        {
            warn!(
                "closing {} connection(s) still open after the shutdown timeout",
                shared.tracker.len()
            );
            shared.hard_stop.cancel();
            shared.tracker.wait().await;
        }
        info!("shut down");
        Ok(())
    }
}

async fn accept_loop<S: Service>(listener: Listener, shared: Arc<Shared<S>>) {
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => start_connection(&listener, &shared, stream, peer),
            Err(e) => {
                // Out of file descriptors or similar: back off instead of spinning.
                warn!("accept on {} failed: {e}", listener.describe());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn start_connection<S: Service>(
    listener: &Listener,
    shared: &Arc<Shared<S>>,
    stream: Stream,
    peer: Address,
) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    // A span at info level costs a few hundred bytes per connection in the subscriber (its
    // fields are formatted and kept); services with many long-lived idle connections (IRC)
    // ask for a debug-level span, enabled only when debugging.
    let span = if shared.service.long_lived_connections() {
        tracing::debug_span!("conn", id, peer = %peer, proto = shared.service.protocol())
    } else {
        tracing::info_span!("conn", id, peer = %peer, proto = shared.service.protocol())
    };
    let local = listener.local_addr().clone();
    let options = shared.limits.connection_options();
    let permit = shared
        .permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| Refusal::TooManyConnections);
    let slot = permit.and_then(|permit| shared.peers.acquire(&peer).map(|slot| (permit, slot)));
    let shutdown = shared.shutdown.clone();
    let connection = move |stream| {
        Connection::new(stream, peer, local)
            .with_id(id)
            .with_options(options)
            .with_shutdown(shutdown)
    };
    let tls = listener.tls().map(|t| t.acceptor());
    let admission = match (tls.is_none(), slot) {
        (true, Ok(admission)) => admission,
        (_, slot) => return start_tls_or_refusal(shared, stream, tls, slot, connection, span),
    };
    // The common case, plain and admitted: the session future is created here and the task is
    // a plain struct around it. (An `async` block would keep its captures — the stream, the
    // addresses — beside the session future for the connection's whole life.)
    let conn = connection(stream);
    span.in_scope(|| debug!("connected"));
    let task = ConnectionTask {
        session: shared.service.clone().handle(conn),
        hard_stop: shared.hard_stop.clone().cancelled_owned(),
        _admission: admission,
    };
    if span.is_disabled() {
        // A debug-level span while not debugging: nothing to enter, so not even its handle
        // is kept.
        shared.tracker.spawn(task);
    } else {
        shared.tracker.spawn(task.instrument(span));
    }
}

/// The rest of [`start_connection`]: a TLS handshake first, or a refusal.
fn start_tls_or_refusal<S: Service>(
    shared: &Arc<Shared<S>>,
    stream: Stream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    slot: Result<Admission, Refusal>,
    connection: impl FnOnce(Stream) -> Connection + Send + 'static,
    span: tracing::Span,
) {
    let shared2 = shared.clone();
    let task = async move {
        let shared = shared2;
        let stream = match tls {
            None => stream,
            Some(acceptor) => {
                // Boxed: the handshake state is large and would otherwise size the
                // connection's task for its whole life.
                let handshake = Box::pin(acceptor.accept(stream));
                match tokio::time::timeout(shared.limits.tls_handshake_timeout, handshake).await {
                    Ok(Ok(tls)) => Stream::TlsServer(Box::new(tls)),
                    Ok(Err(e)) => {
                        debug!("TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        debug!("TLS handshake timed out");
                        return;
                    }
                }
            }
        };
        let conn = connection(stream);
        match slot {
            Err(reason) => {
                warn!("refused: {reason:?}");
                // Boxed: rare, and it would otherwise size the task.
                let refuse = Box::pin(shared.service.clone().refuse(conn, reason));
                let _ = tokio::time::timeout(Duration::from_secs(5), refuse).await;
            }
            Ok(admission) => {
                debug!("connected");
                // Boxed for the same reason as the handshake.
                let task = ConnectionTask {
                    session: shared.service.clone().handle(conn),
                    hard_stop: shared.hard_stop.clone().cancelled_owned(),
                    _admission: admission,
                };
                Box::pin(task).await;
            }
        }
    };
    shared.tracker.spawn(task.instrument(span));
}

/// What a connection holds against the limits (released when its task ends).
type Admission = (tokio::sync::OwnedSemaphorePermit, Option<PeerSlot>);

pin_project_lite::pin_project! {
    /// A connection's task: its session until it ends, or until the hard stop at the end of
    /// the shutdown timeout.
    struct ConnectionTask<F> {
        #[pin]
        session: F,
        #[pin]
        hard_stop: tokio_util::sync::WaitForCancellationFutureOwned,
        _admission: Admission,
    }
}

impl<F: Future<Output = ()>> Future for ConnectionTask<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.session.poll(cx).is_ready() {
            debug!("closed");
            return Poll::Ready(());
        }
        if this.hard_stop.poll(cx).is_ready() {
            debug!("closed by shutdown");
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
