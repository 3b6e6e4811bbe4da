//! Test kit — Twisted's `proto_helpers.StringTransport` and trial helpers.
//!
//! * [`TestPeer::serve`]: run a [`Service`] on an in-memory connection and play the client.
//! * [`TestPeer::script`]: an RFC-style transcript (`S:` lines expected from the server, `C:`
//!   lines sent by the client).
//! * [`RunningServer`]: the real runner on `127.0.0.1:0`, with the bound address.
//! * [`TestTls`]: a throwaway CA and server certificate (rcgen) written to PEM files.
//!
//! Everything waits with a timeout ([`DEFAULT_TIMEOUT`]) so a broken protocol fails the test
//! instead of hanging it. Under `#[tokio::test(start_paused = true)]` those timeouts (and the
//! protocol's own idle timeouts) cost no real time.
//!
//! The helpers panic with a clear message when an expectation fails: they are for tests.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use rustls::RootCertStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::address::Address;
use crate::connection::Connection;
use crate::endpoint::ClientEndpoint;
use crate::runner::{Limits, RunError, Server, ServerControl, Service};
use crate::stream::Stream;
use crate::ServerEndpoint;

/// How long a test helper waits for the other side.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Capacity of the in-memory pipe in each direction (small, so backpressure is exercised).
pub const MEMORY_PIPE_CAPACITY: usize = 64 * 1024;

static NEXT_MEMORY_ID: AtomicU64 = AtomicU64::new(1);

/// A connected pair: the server's [`Connection`] and the test's [`TestPeer`].
pub fn memory_pair() -> (Connection, TestPeer) {
    memory_pair_with_capacity(MEMORY_PIPE_CAPACITY)
}

/// As [`memory_pair`] with a chosen pipe capacity.
pub fn memory_pair_with_capacity(capacity: usize) -> (Connection, TestPeer) {
    let (a, b) = tokio::io::duplex(capacity);
    let id = NEXT_MEMORY_ID.fetch_add(1, Ordering::Relaxed);
    let conn = Connection::new(
        Stream::Memory(a),
        Address::Memory(format!("client{id}")),
        Address::Memory("server".into()),
    );
    (conn, TestPeer::new(Stream::Memory(b)))
}

/// The test's end of a connection: send bytes and lines, expect lines.
#[derive(Debug)]
pub struct TestPeer {
    stream: Stream,
    buf: BytesMut,
    timeout: Duration,
    eof: bool,
    task: Option<JoinHandle<()>>,
}

impl TestPeer {
    /// Wrap a connected stream.
    pub fn new(stream: Stream) -> Self {
        TestPeer {
            stream,
            buf: BytesMut::new(),
            timeout: DEFAULT_TIMEOUT,
            eof: false,
            task: None,
        }
    }

    /// Run `service` on a fresh in-memory connection, returning the client end.
    pub fn serve<S: Service>(service: Arc<S>) -> Self {
        Self::serve_with(service, |conn| conn)
    }

    /// As [`serve`](Self::serve), letting the test adjust the connection first (idle timeout…).
    pub fn serve_with<S: Service>(
        service: Arc<S>,
        setup: impl FnOnce(Connection) -> Connection,
    ) -> Self {
        let (conn, mut peer) = memory_pair();
        let conn = setup(conn);
        peer.task = Some(tokio::spawn(service.handle(conn)));
        peer
    }

    /// Connect to a client endpoint (e.g. a [`RunningServer`]).
    pub async fn connect(endpoint: &ClientEndpoint) -> Self {
        match endpoint.connect().await {
            Ok(conn) => TestPeer::new(conn.into_parts().0),
            Err(e) => panic!("connect {endpoint}: {e}"),
        }
    }

    /// The underlying stream (to continue with TLS, say); panics if bytes were left unread.
    pub fn into_stream(self) -> Stream {
        assert!(
            self.buf.is_empty(),
            "unread bytes: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.stream
    }

    /// Change how long expectations wait.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Send raw bytes.
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let write = async {
            self.stream.write_all(bytes.as_ref()).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("send failed: {e}"),
            Err(_) => panic!(
                "send timed out after {:?} (is the server reading?)",
                self.timeout
            ),
        }
    }

    /// Send a line with CRLF appended.
    pub async fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\r\n")).await;
    }

    /// Like [`send`](Self::send) but returns the error instead of panicking (for tests
    /// about peers that stop reading or connections that were closed).
    pub async fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> io::Result<()> {
        self.stream.write_all(bytes.as_ref()).await?;
        self.stream.flush().await
    }

    async fn fill(&mut self) -> io::Result<usize> {
        self.buf.reserve(4096);
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    /// The next line (LF-terminated, a trailing CR stripped), or `None` once the server closed.
    /// Panics on timeout.
    pub async fn read_line(&mut self) -> Option<String> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.read_line_inner()).await {
            Ok(line) => line,
            Err(_) => panic!(
                "no line from the server within {timeout:?}; received so far: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    async fn read_line_inner(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line = self.buf.split_to(pos + 1);
                line.truncate(pos);
                if line.last() == Some(&b'\r') {
                    line.truncate(pos - 1);
                }
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            if self.eof {
                return None;
            }
            match self.fill().await {
                Ok(_) => {}
                Err(_) => {
                    self.eof = true;
                }
            }
        }
    }

    /// Read exactly `n` bytes. Panics on timeout or early close.
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let timeout = self.timeout;
        let read = async {
            while self.buf.len() < n {
                if self.eof || self.fill().await.is_err() {
                    return None;
                }
            }
            Some(self.buf.split_to(n).to_vec())
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => panic!("connection closed before {n} bytes arrived"),
            Err(_) => panic!("{n} bytes did not arrive within {timeout:?}"),
        }
    }

    /// Expect the next line to equal `expected` — or, if `expected` ends with `*`, to start
    /// with the part before it.
    pub async fn expect_line(&mut self, expected: &str) {
        let line = self.read_line().await;
        let Some(line) = line else {
            panic!("expected {expected:?}, but the server closed the connection");
        };
        let ok = match expected.strip_suffix('*') {
            Some(prefix) => line.starts_with(prefix),
            None => line == expected,
        };
        assert!(ok, "expected {expected:?}, got {line:?}");
    }

    /// Expect the server to close the connection with no more output.
    pub async fn expect_closed(&mut self) {
        if let Some(line) = self.read_line().await {
            panic!("expected the connection to close, got {line:?}");
        }
        assert!(
            self.buf.is_empty(),
            "trailing bytes before close: {:?}",
            self.buf
        );
    }

    /// Read everything until the server closes; returns it as text.
    pub async fn read_to_close(&mut self) -> String {
        let mut out = String::new();
        while let Some(line) = self.read_line().await {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// Play a transcript. Each line starts with `C: ` (send it with CRLF) or `S: ` (expect it;
    /// a trailing `*` matches a prefix). Lines of only whitespace are ignored; leading
    /// indentation is trimmed so transcripts can be written as indented raw strings.
    /// `S: <closed>` expects the server to close.
    pub async fn script(&mut self, transcript: &str) {
        for (i, raw) in transcript.lines().enumerate() {
            let line = raw.trim_start();
            if line.trim().is_empty() {
                continue;
            }
            if let Some(text) = line.strip_prefix("C:") {
                self.send_line(text.strip_prefix(' ').unwrap_or(text)).await;
            } else if let Some(text) = line.strip_prefix("S:") {
                let text = text.strip_prefix(' ').unwrap_or(text);
                if text == "<closed>" {
                    self.expect_closed().await;
                } else {
                    self.expect_line(text).await;
                }
            } else {
                panic!(
                    "transcript line {}: {raw:?} starts with neither 'C:' nor 'S:'",
                    i + 1
                );
            }
        }
    }

    /// Close the sending direction (the server sees end of stream).
    pub async fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Wait for the served session (from [`serve`](Self::serve)) to end. Panics if it panicked
    /// or does not end within the timeout.
    pub async fn join(&mut self) {
        let Some(task) = self.task.take() else { return };
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("session task failed: {e}"),
            Err(_) => panic!("session did not end within {:?}", self.timeout),
        }
    }

    /// Bytes received but not yet consumed by a `read_*`/`expect_*` call.
    pub fn unread(&self) -> &[u8] {
        &self.buf
    }

    /// Drop `n` unread bytes.
    pub fn consume(&mut self, n: usize) {
        self.buf.advance(n.min(self.buf.len()));
    }
}

/// A server running on real sockets through the runner, for integration tests.
#[derive(Debug)]
pub struct RunningServer {
    addrs: Vec<Address>,
    control: ServerControl,
    task: JoinHandle<Result<(), RunError>>,
}

impl RunningServer {
    /// Start `service` on `endpoints` (use port 0) with its default limits.
    pub async fn start<S: Service>(service: Arc<S>, endpoints: &[&str]) -> Self {
        let limits = service.default_limits();
        Self::start_with_limits(service, endpoints, limits).await
    }

    /// Start with explicit limits.
    pub async fn start_with_limits<S: Service>(
        service: Arc<S>,
        endpoints: &[&str],
        limits: Limits,
    ) -> Self {
        let endpoints: Vec<ServerEndpoint> = endpoints
            .iter()
            .map(|e| ServerEndpoint::parse(e).unwrap_or_else(|err| panic!("{err}")))
            .collect();
        let server = match Server::bind(service, &endpoints, limits).await {
            Ok(server) => server,
            Err(e) => panic!("cannot start test server: {e}"),
        };
        let addrs = server.local_addrs();
        let control = server.control();
        let task = tokio::spawn(server.run());
        RunningServer {
            addrs,
            control,
            task,
        }
    }

    /// The bound address of the `i`th endpoint.
    pub fn address(&self, i: usize) -> &Address {
        &self.addrs[i]
    }

    /// The socket address of the first IP endpoint.
    pub fn addr(&self) -> std::net::SocketAddr {
        match self.addrs.iter().find_map(Address::socket_addr) {
            Some(addr) => addr,
            None => panic!("no TCP endpoint in {:?}", self.addrs),
        }
    }

    /// A plain TCP client endpoint for the first IP endpoint.
    pub fn client_endpoint(&self) -> ClientEndpoint {
        let addr = self.addr();
        ClientEndpoint::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
            timeout: None,
        }
    }

    /// Connect a [`TestPeer`] over plain TCP to the first IP endpoint.
    pub async fn connect(&self) -> TestPeer {
        TestPeer::connect(&self.client_endpoint()).await
    }

    /// The control handle (shutdown, reload).
    pub fn control(&self) -> &ServerControl {
        &self.control
    }

    /// Shut down gracefully and wait for the runner to return.
    pub async fn stop(self) {
        self.control.shutdown();
        match tokio::time::timeout(Duration::from_secs(30), self.task).await {
            Ok(Ok(Ok(()))) => {}
            other => panic!("server did not stop cleanly: {other:?}"),
        }
    }
}

/// A directory removed (with its contents) when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create a fresh, empty directory under the system temp dir.
    pub fn new(prefix: &str) -> io::Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A throwaway CA and a server certificate for `localhost`, `127.0.0.1` and `::1`, written as
/// PEM files (`ca.pem`, `server.pem` with the chain, `server.key`).
#[derive(Debug)]
pub struct TestTls {
    dir: TempDir,
    /// The CA certificate, PEM.
    pub ca_pem: String,
}

impl TestTls {
    /// Generate certificates (panics if rcgen fails, which it does not for these inputs).
    pub fn generate() -> Self {
        match Self::try_generate() {
            Ok(t) => t,
            Err(e) => panic!("cannot generate test certificates: {e}"),
        }
    }

    fn try_generate() -> Result<Self, Box<dyn std::error::Error>> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Torsion test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &ca)?;
        let dir = TempDir::new("torsion-tls")?;
        let ca_pem = ca.pem();
        std::fs::write(dir.path().join("ca.pem"), &ca_pem)?;
        std::fs::write(
            dir.path().join("server.pem"),
            format!("{}{}", cert.pem(), ca_pem),
        )?;
        std::fs::write(dir.path().join("server.key"), key.serialize_pem())?;
        Ok(TestTls { dir, ca_pem })
    }

    /// The CA certificate file (a client's `trustRoots=`).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server certificate chain file.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server key file.
    pub fn key_path(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// A `tls:` server endpoint string on 127.0.0.1 and `port` (0 for any).
    pub fn server_endpoint(&self, port: u16) -> String {
        format!(
            "tls:{port}:privateKey={}:certKey={}:interface=127.0.0.1",
            self.key_path().display(),
            self.cert_path().display()
        )
    }

    /// A `tls:` client endpoint to `127.0.0.1:port` trusting the test CA. (The name checked is
    /// the IP address, which the certificate lists.)
    pub fn client_endpoint(&self, port: u16) -> ClientEndpoint {
        ClientEndpoint::Tls {
            host: "127.0.0.1".into(),
            port,
            trust_roots: Some(self.ca_path()),
            timeout: None,
        }
    }

    /// An acceptor with the test certificate (for STARTTLS tests).
    pub fn acceptor(&self) -> TlsAcceptor {
        match crate::tls::server_config(&self.key_path(), &self.cert_path()) {
            Ok(config) => TlsAcceptor::from(config),
            Err(e) => panic!("{e}"),
        }
    }

    /// A connector trusting the test CA.
    pub fn connector(&self) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        for cert in crate::tls::load_certs(&self.ca_path()).unwrap_or_default() {
            let _ = roots.add(cert);
        }
        match crate::tls::client_config_with_roots(roots) {
            Ok(config) => TlsConnector::from(config),
            Err(e) => panic!("{e}"),
        }
    }
}

/// A server binary started for an integration test (`BIN serve ARGS…`): its stderr is read in
/// a thread, the `listening on SCHEME:ADDR` lines give the bound addresses (start on port 0),
/// and the process is killed when this is dropped, so a failing test leaves nothing running.
#[derive(Debug)]
pub struct ServerBinary {
    child: std::process::Child,
    addrs: Vec<(String, std::net::SocketAddr)>,
    log: std::sync::mpsc::Receiver<String>,
}

impl ServerBinary {
    /// Run `bin` with `args` and wait (up to 20 s) until it has logged `listeners`
    /// `listening on tcp:…`/`udp:…` lines. Panics if it does not.
    pub fn start(bin: &str, args: &[&str], listeners: usize) -> Self {
        Self::start_until(bin, args, |addrs| addrs.len() >= listeners)
    }

    /// As [`start`](Self::start), waiting until `ready` says the listeners logged so far are
    /// enough (a DNS server logs one `udp:` line per SO_REUSEPORT socket, say).
    // The child is reaped by `Drop` (or `stop`).
    #[allow(clippy::zombie_processes)]
    pub fn start_until(
        bin: &str,
        args: &[&str],
        ready: impl Fn(&[(String, std::net::SocketAddr)]) -> bool,
    ) -> Self {
        use std::io::BufRead;
        let mut child = match std::process::Command::new(bin)
            .args(args)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => panic!("cannot start {bin}: {e}"),
        };
        let Some(stderr) = child.stderr.take() else {
            panic!("no stderr pipe");
        };
        let (tx, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = ServerBinary {
            child,
            addrs: Vec::new(),
            log,
        };
        while !ready(&server.addrs) {
            let line = match server.log.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => line,
                Err(_) => panic!(
                    "{bin} did not log its `listening on` lines: {:?}",
                    server.addrs
                ),
            };
            let Some(rest) = line.split("listening on ").nth(1) else {
                continue;
            };
            let word = rest.split_whitespace().next().unwrap_or("");
            if let Some((scheme, addr)) = word.split_once(':') {
                if let Ok(addr) = addr.parse() {
                    server.addrs.push((scheme.to_owned(), addr));
                }
            }
        }
        server
    }

    /// The addresses bound, in log order, with their scheme (`tcp`, `udp`).
    pub fn addrs(&self) -> &[(String, std::net::SocketAddr)] {
        &self.addrs
    }

    /// The `i`th address with `scheme`.
    pub fn addr(&self, scheme: &str, i: usize) -> std::net::SocketAddr {
        match self.addrs.iter().filter(|(s, _)| s == scheme).nth(i) {
            Some((_, addr)) => *addr,
            None => panic!("no {scheme} listener #{i} in {:?}", self.addrs),
        }
    }

    /// The port of the `i`th TCP listener.
    pub fn tcp_port(&self, i: usize) -> u16 {
        self.addr("tcp", i).port()
    }

    /// Wait (up to 20 s) for a log line containing `needle`; returns it.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(line) = self.log.recv_timeout(Duration::from_millis(200)) {
                if line.contains(needle) {
                    return line;
                }
            }
        }
        panic!("no log line containing {needle:?}");
    }

    /// Send a signal by name (`HUP`, `TERM`…) with kill(1).
    pub fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -s {sig} failed");
    }

    /// SIGTERM, then wait (up to 10 s) for the exit code.
    pub fn stop(mut self) -> i32 {
        self.signal("TERM");
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not stop on SIGTERM");
    }
}

impl Drop for ServerBinary {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
