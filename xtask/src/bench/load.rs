//! Load generators for TCP echo servers, run on xtask's own tokio runtime. Every loop is bounded
//! by a deadline (the caller's measurement window, enforced by aborting the tasks) and by a count.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};

use crate::util;

/// One line of load: 1023 bytes and `\n`.
pub const LINE: usize = 1024;
/// Bound on any single connect, write or read.
const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// Count bound on a throughput connection (far above what loopback moves in 10 minutes).
const MAX_BYTES_PER_CONNECTION: u64 = 1 << 40;
/// Count bound on one connection-rate worker.
const MAX_CONNECTS_PER_WORKER: u64 = 100_000_000;
/// Lines written per `write` call at most (the window usually limits it first).
const MAX_LINES_PER_WRITE: usize = 32;

/// A 1 KiB line of printable bytes ending in `\n`.
fn line() -> Vec<u8> {
    let mut line: Vec<u8> = (0..LINE - 1).map(|i| b'a' + (i % 26) as u8).collect();
    line.push(b'\n');
    line
}

/// Errors seen by the load tasks: a count and the first message.
#[derive(Debug, Default)]
pub struct Errors {
    count: AtomicU64,
    first: Mutex<Option<String>>,
}

impl Errors {
    fn record(&self, what: impl std::fmt::Display) {
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            let mut first = self
                .first
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *first = Some(what.to_string());
        }
    }

    /// `None` when there were none, else "N errors (first: …)".
    pub fn summary(&self) -> Option<String> {
        let n = self.count.load(Ordering::Relaxed);
        let first = self
            .first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        (n > 0).then(|| format!("{n} error(s), first: {}", first.unwrap_or_default()))
    }
}

/// Result of [`throughput`].
#[derive(Debug)]
pub struct Throughput {
    /// Echoed bytes received during the measurement.
    pub bytes: u64,
    /// Length of the measurement.
    pub seconds: f64,
    /// Server CPU time (user + system) during the measurement.
    pub server_cpu: f64,
    /// Problems seen, if any.
    pub errors: Option<String>,
}

impl Throughput {
    /// Echoed megabytes (10^6) per second.
    pub fn mb_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds
    }

    /// Server CPU seconds per gigabyte (10^9) echoed.
    pub fn cpu_seconds_per_gb(&self) -> f64 {
        self.server_cpu / (self.bytes as f64 / 1e9).max(1e-9)
    }
}

/// `connections` connections each stream 1 KiB lines with at most `window` bytes unanswered,
/// reading the echo back; measured for `measure` after `warmup`.
pub async fn throughput(
    addr: SocketAddr,
    pid: u32,
    connections: usize,
    window: usize,
    warmup: Duration,
    measure: Duration,
) -> Result<Throughput, String> {
    let received = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(Errors::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    for _ in 0..connections {
        let stream = connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let (reader, writer) = stream.into_split();
        let credit = Arc::new(Semaphore::new((window / LINE).max(1)));
        tasks.spawn(write_lines(
            writer,
            credit.clone(),
            errors.clone(),
            stop.clone(),
        ));
        tasks.spawn(read_echo(
            reader,
            credit,
            received.clone(),
            errors.clone(),
            stop.clone(),
        ));
    }
    sleep(warmup).await;
    let (bytes0, cpu0, t0) = (received.load(Ordering::Relaxed), cpu(pid)?, Instant::now());
    sleep(measure).await;
    let (bytes1, cpu1, t1) = (received.load(Ordering::Relaxed), cpu(pid)?, Instant::now());
    stop.store(true, Ordering::Relaxed);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    Ok(Throughput {
        bytes: bytes1 - bytes0,
        seconds: (t1 - t0).as_secs_f64(),
        server_cpu: cpu1 - cpu0,
        errors: errors.summary(),
    })
}

async fn write_lines(
    mut writer: OwnedWriteHalf,
    credit: Arc<Semaphore>,
    errors: Arc<Errors>,
    stop: Arc<AtomicBool>,
) {
    let batch = line().repeat(MAX_LINES_PER_WRITE);
    let mut sent = 0u64;
    while sent < MAX_BYTES_PER_CONNECTION && !stop.load(Ordering::Relaxed) {
        // One credit per line: wait for the first, then take whatever else is free.
        let Ok(permit) = credit.acquire().await else {
            return;
        };
        permit.forget();
        let mut lines = 1;
        while lines < MAX_LINES_PER_WRITE {
            match credit.try_acquire() {
                Ok(permit) => permit.forget(),
                Err(_) => break,
            }
            lines += 1;
        }
        if let Err(e) = writer.write_all(&batch[..lines * LINE]).await {
            if !stop.load(Ordering::Relaxed) {
                errors.record(format!("write: {e}"));
            }
            return;
        }
        sent += (lines * LINE) as u64;
    }
}

async fn read_echo(
    mut reader: OwnedReadHalf,
    credit: Arc<Semaphore>,
    received: Arc<AtomicU64>,
    errors: Arc<Errors>,
    stop: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut partial = 0;
    let mut total = 0u64;
    while total < MAX_BYTES_PER_CONNECTION {
        let n = match reader.read(&mut buf).await {
            Ok(0) => {
                if !stop.load(Ordering::Relaxed) {
                    errors.record("the server closed the connection");
                }
                return;
            }
            Ok(n) => n,
            Err(e) => {
                if !stop.load(Ordering::Relaxed) {
                    errors.record(format!("read: {e}"));
                }
                return;
            }
        };
        total += n as u64;
        received.fetch_add(n as u64, Ordering::Relaxed);
        partial += n;
        credit.add_permits(partial / LINE);
        partial %= LINE;
    }
}

/// Result of [`connection_rate`].
#[derive(Debug)]
pub struct ConnectionRate {
    /// Connections completed during the measurement.
    pub connections: u64,
    /// Length of the measurement.
    pub seconds: f64,
    /// Server CPU time during the measurement.
    pub server_cpu: f64,
    /// Problems seen, if any.
    pub errors: Option<String>,
}

impl ConnectionRate {
    /// Completed connections per second.
    pub fn per_second(&self) -> f64 {
        self.connections as f64 / self.seconds
    }

    /// Server CPU microseconds per connection.
    pub fn cpu_us_per_connection(&self) -> f64 {
        self.server_cpu * 1e6 / (self.connections as f64).max(1.0)
    }
}

/// `workers` tasks each loop connect → write one 1 KiB line → read it back → close (RST, so
/// no TIME_WAIT piles up), measured for `measure` after `warmup`.
pub async fn connection_rate(
    addr: SocketAddr,
    pid: u32,
    workers: usize,
    warmup: Duration,
    measure: Duration,
) -> Result<ConnectionRate, String> {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(Errors::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        tasks.spawn(connect_loop(
            addr,
            done.clone(),
            errors.clone(),
            stop.clone(),
        ));
    }
    sleep(warmup).await;
    let (n0, cpu0, t0) = (done.load(Ordering::Relaxed), cpu(pid)?, Instant::now());
    sleep(measure).await;
    let (n1, cpu1, t1) = (done.load(Ordering::Relaxed), cpu(pid)?, Instant::now());
    stop.store(true, Ordering::Relaxed);
    // Let each worker finish its current connection, then abort whatever is left.
    let _ = timeout(OP_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    Ok(ConnectionRate {
        connections: n1 - n0,
        seconds: (t1 - t0).as_secs_f64(),
        server_cpu: cpu1 - cpu0,
        errors: errors.summary(),
    })
}

async fn connect_loop(
    addr: SocketAddr,
    done: Arc<AtomicU64>,
    errors: Arc<Errors>,
    stop: Arc<AtomicBool>,
) {
    let line = line();
    let mut echo = vec![0u8; LINE];
    for _ in 0..MAX_CONNECTS_PER_WORKER {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match timeout(OP_TIMEOUT, round_trip(addr, &line, &mut echo)).await {
            Ok(Ok(())) => {
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                errors.record(e);
                // Do not spin on a persistent failure.
                sleep(Duration::from_millis(10)).await;
            }
            Err(_) => errors.record("connection round trip timed out"),
        }
    }
}

async fn round_trip(addr: SocketAddr, line: &[u8], echo: &mut [u8]) -> io::Result<()> {
    let mut stream = connect(addr).await?;
    stream.write_all(line).await?;
    stream.read_exact(echo).await?;
    if echo != line {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the echo differs from what was sent",
        ));
    }
    // Abortive close: the client would otherwise keep every socket in TIME_WAIT and run out of
    // ephemeral ports within seconds.
    stream.set_zero_linger()
}

/// Result of [`idle_memory`].
#[derive(Debug)]
pub struct IdleMemory {
    /// Server RSS before opening connections.
    pub rss_before: u64,
    /// Server RSS with them open and idle.
    pub rss_after: u64,
    /// Connections opened (the target count unless errors or the time limit intervened).
    pub opened: usize,
    /// Problems seen, if any.
    pub errors: Option<String>,
}

impl IdleMemory {
    /// RSS growth per idle connection, in bytes.
    pub fn bytes_per_connection(&self) -> f64 {
        (self.rss_after as f64 - self.rss_before as f64) / (self.opened as f64).max(1.0)
    }
}

/// Open `count` connections in batches of `batch` (within `limit`), do a 1-byte round trip on
/// each, let the server settle for `settle`, and compare its RSS with before. The connections
/// are closed (RST) on return.
pub async fn idle_memory(
    addr: SocketAddr,
    pid: u32,
    count: usize,
    batch: usize,
    limit: Duration,
    settle: Duration,
) -> Result<IdleMemory, String> {
    let rss_before = util::rss_bytes(pid).map_err(|e| format!("RSS of {pid}: {e}"))?;
    let errors = Errors::default();
    let mut failures = 0;
    let mut open = Vec::with_capacity(count);
    let started = Instant::now();
    while open.len() < count && started.elapsed() < limit && failures <= count / 10 {
        let mut set = JoinSet::new();
        for _ in 0..batch.min(count - open.len()) {
            set.spawn(timeout(OP_TIMEOUT, open_idle(addr)));
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(Ok(stream))) => open.push(stream),
                Ok(Ok(Err(e))) => errors.record(e),
                Ok(Err(_)) => errors.record("connect and 1-byte round trip timed out"),
                Err(e) => errors.record(e),
            }
        }
        failures = errors.count.load(Ordering::Relaxed) as usize;
    }
    if open.len() < count && started.elapsed() >= limit {
        errors.record(format!(
            "time limit: {} of {count} connections open after {} s",
            open.len(),
            limit.as_secs()
        ));
    }
    sleep(settle).await;
    let rss_after = util::rss_bytes(pid).map_err(|e| format!("RSS of {pid}: {e}"))?;
    let opened = open.len();
    for stream in &open {
        let _ = stream.set_zero_linger();
    }
    drop(open);
    Ok(IdleMemory {
        rss_before,
        rss_after,
        opened,
        errors: errors.summary(),
    })
}

async fn open_idle(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut stream = connect(addr).await?;
    stream.write_all(b"x").await?;
    let mut byte = [0u8];
    stream.read_exact(&mut byte).await?;
    Ok(stream)
}

async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = timeout(OP_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn cpu(pid: u32) -> Result<f64, String> {
    util::cpu_seconds(pid).map_err(|e| format!("CPU time of {pid}: {e}"))
}
