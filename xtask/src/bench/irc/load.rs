//! The IRC load client of `bench irc`, on xtask's tokio runtime: registration, a channel
//! fan-out with one sender and many receivers, and a crowd of idle registered clients.
//! Every wait is bounded by a timeout and every loop by a count.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, timeout_at};

use crate::util;

/// The channel every fan-out client joins.
pub const CHANNEL: &str = "#bench";
/// Bound on one connect, or on one step of the registration (welcome, OPER, JOIN).
const OP_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on the warm-up round of a fan-out.
const WARMUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages the sender writes with one `write` call at most.
const SEND_BATCH: u64 = 64;
/// Read buffer of one client (far above the longest IRC line, 512 bytes with tags 8 KiB).
const READ_BUFFER: usize = 64 * 1024;
/// How long the sender sleeps at most when its window is full before it looks again (it is
/// woken by the receivers long before that).
const WINDOW_POLL: Duration = Duration::from_millis(50);
/// Digits of the sequence number at the start of every benchmark message.
const SEQ_DIGITS: usize = 10;

/// Errors seen by the load tasks: a count and the first message.
#[derive(Debug, Default)]
pub struct Errors {
    count: AtomicU64,
    first: Mutex<Option<String>>,
}

impl Errors {
    fn record(&self, what: impl std::fmt::Display) {
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            *self
                .first
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(what.to_string());
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// `None` when there were none, else "N error(s), first: …".
    pub fn summary(&self) -> Option<String> {
        let n = self.count();
        let first = self
            .first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        (n > 0).then(|| format!("{n} error(s), first: {}", first.unwrap_or_default()))
    }
}

/// Lines from a byte stream: a buffer with the unread bytes at `start..end`.
#[derive(Debug)]
struct Lines {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Lines {
    fn new() -> Self {
        Lines {
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
        }
    }

    /// The next complete line (without CR LF), if one is buffered.
    fn next_line(&mut self) -> Option<&[u8]> {
        let unread = &self.buf[self.start..self.end];
        let newline = memchr::memchr(b'\n', unread)?;
        let line = &self.buf[self.start..self.start + newline];
        self.start += newline + 1;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }

    /// Read more bytes (0 at EOF). A partial line is moved to the front first.
    async fn fill(&mut self, reader: &mut (impl AsyncReadExt + Unpin)) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a line longer than the read buffer",
            ));
        }
        let n = reader.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

/// The command (or numeric) of an IRC line and its first parameter after the command.
fn command_of(line: &[u8]) -> (&[u8], &[u8]) {
    let rest = if line.first() == Some(&b':') {
        line.iter()
            .position(|&b| b == b' ')
            .map_or(&line[line.len()..], |i| &line[i + 1..])
    } else {
        line
    };
    match rest.iter().position(|&b| b == b' ') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &rest[rest.len()..]),
    }
}

/// Replies that end a setup step with an error: nick in use or invalid, wrong or missing
/// password, no O-lines for this host, cannot join, closed.
const FATAL: &[&[u8]] = &[
    b"ERROR", b"432", b"433", b"436", b"451", b"461", b"464", b"465", b"471", b"473", b"474",
    b"475", b"491",
];

/// Read lines until one whose command is in `done`, answering PINGs, within [`OP_TIMEOUT`].
async fn wait_for(
    stream: &mut TcpStream,
    lines: &mut Lines,
    done: &[&[u8]],
    what: &str,
) -> Result<(), String> {
    let steps = async {
        loop {
            while let Some(line) = lines.next_line() {
                let (command, params) = command_of(line);
                if done.contains(&command) {
                    return Ok(());
                }
                if command == b"PING" {
                    let pong = [b"PONG ", params, b"\r\n"].concat();
                    stream
                        .write_all(&pong)
                        .await
                        .map_err(|e| format!("{what}: write: {e}"))?;
                } else if FATAL.contains(&command) {
                    return Err(format!(
                        "{what}: the server said {:?}",
                        String::from_utf8_lossy(line)
                    ));
                }
            }
            match lines.fill(stream).await {
                Ok(0) => return Err(format!("{what}: the server closed the connection")),
                Ok(_) => {}
                Err(e) => return Err(format!("{what}: read: {e}")),
            }
        }
    };
    timeout(OP_TIMEOUT, steps)
        .await
        .map_err(|_| format!("{what}: no reply within {} s", OP_TIMEOUT.as_secs()))?
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = timeout(OP_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connect to {addr}: timed out"))?
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    Ok(stream)
}

/// Connect and register as `nick`: NICK and USER, then wait for the end of the welcome (the
/// MOTD's 376, or 422 without one).
async fn register(addr: SocketAddr, nick: &str) -> Result<(TcpStream, Lines), String> {
    let mut stream = connect(addr).await?;
    let mut lines = Lines::new();
    let hello = format!("NICK {nick}\r\nUSER {nick} 0 * :torsion bench\r\n");
    stream
        .write_all(hello.as_bytes())
        .await
        .map_err(|e| format!("{nick}: write: {e}"))?;
    wait_for(&mut stream, &mut lines, &[b"376", b"422"], nick).await?;
    Ok((stream, lines))
}

/// Register as `nick` and join [`CHANNEL`] (until the end of NAMES, 366).
async fn register_and_join(
    addr: SocketAddr,
    nick: &str,
    oper: Option<(&str, &str)>,
) -> Result<(TcpStream, Lines), String> {
    let (mut stream, mut lines) = register(addr, nick).await?;
    if let Some((name, password)) = oper {
        let command = format!("OPER {name} {password}\r\n");
        stream
            .write_all(command.as_bytes())
            .await
            .map_err(|e| format!("{nick}: write: {e}"))?;
        // 381 RPL_YOUREOPER.
        wait_for(&mut stream, &mut lines, &[b"381"], &format!("{nick} OPER")).await?;
    }
    let join = format!("JOIN {CHANNEL}\r\n");
    stream
        .write_all(join.as_bytes())
        .await
        .map_err(|e| format!("{nick}: write: {e}"))?;
    wait_for(&mut stream, &mut lines, &[b"366"], &format!("{nick} JOIN")).await?;
    Ok((stream, lines))
}

/// What a fan-out measurement does.
#[derive(Debug, Clone)]
pub struct FanoutPlan {
    /// Clients that join the channel and only read.
    pub receivers: usize,
    /// Messages measured.
    pub messages: u64,
    /// Messages sent (and received by everyone) before the measurement starts.
    pub warmup: u64,
    /// The sender never runs more than this many messages ahead of the slowest receiver.
    pub window: u64,
    /// Bytes of text in each PRIVMSG (the sequence number and filler).
    pub text_bytes: usize,
    /// Bound on the measured round.
    pub limit: Duration,
    /// OPER name and password for the sender (both servers exempt operators from flood
    /// control), if the server needs one.
    pub oper: Option<(String, String)>,
    /// Connections registered at once while setting up.
    pub connect_concurrency: usize,
}

/// Result of [`fanout`].
#[derive(Debug)]
pub struct Fanout {
    /// Receivers.
    pub receivers: usize,
    /// Messages in the measured round.
    pub messages: u64,
    /// Messages delivered in the measured round (receivers × messages when complete).
    pub deliveries: u64,
    /// From the sender's first measured message to the last receiver's last one (or the time
    /// limit).
    pub seconds: f64,
    /// Server CPU time (user + system) over the same span.
    pub server_cpu: f64,
    /// This load generator's CPU time over the same span.
    pub client_cpu: f64,
    /// Whether every receiver got every message in order.
    pub complete: bool,
    /// Times the sender found its window full and waited.
    pub sender_waits: u64,
    /// Problems seen, if any.
    pub errors: Option<String>,
}

impl Fanout {
    /// Deliveries per second.
    pub fn per_second(&self) -> f64 {
        self.deliveries as f64 / self.seconds.max(1e-9)
    }

    /// Server CPU milliseconds per 1000 deliveries.
    pub fn cpu_ms_per_1000(&self) -> f64 {
        self.server_cpu * 1e6 / (self.deliveries as f64).max(1.0)
    }

    /// Server CPU seconds per second of the measurement.
    pub fn server_cores(&self) -> f64 {
        self.server_cpu / self.seconds.max(1e-9)
    }

    /// Load generator CPU seconds per second of the measurement.
    pub fn client_cores(&self) -> f64 {
        self.client_cpu / self.seconds.max(1e-9)
    }
}

/// State shared by the sender and the receivers.
#[derive(Debug)]
struct Progress {
    /// Messages each receiver has received so far.
    received: Vec<AtomicU64>,
    /// Set while the sender waits for the slowest receiver.
    sender_waiting: AtomicBool,
    wake_sender: Notify,
    errors: Errors,
}

impl Progress {
    fn slowest(&self) -> u64 {
        self.received
            .iter()
            .map(|r| r.load(Ordering::Acquire))
            .min()
            .unwrap_or(0)
    }
}

/// One sender and `plan.receivers` receivers in [`CHANNEL`] on the server at `addr` (PID `pid`):
/// a warm-up round, then `plan.messages` messages measured until every receiver has every one.
pub async fn fanout(addr: SocketAddr, pid: u32, plan: &FanoutPlan) -> Result<Fanout, String> {
    let progress = Arc::new(Progress {
        received: (0..plan.receivers).map(|_| AtomicU64::new(0)).collect(),
        sender_waiting: AtomicBool::new(false),
        wake_sender: Notify::new(),
        errors: Errors::default(),
    });
    // Receivers: register and join, a few at a time.
    let gate = Arc::new(Semaphore::new(plan.connect_concurrency.max(1)));
    let mut joining = JoinSet::new();
    for i in 0..plan.receivers {
        let gate = gate.clone();
        joining.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let (stream, lines) = register_and_join(addr, &format!("r{i}"), None).await?;
            Ok::<_, String>((i, stream, lines))
        });
    }
    let mut joined = Vec::with_capacity(plan.receivers);
    while let Some(result) = joining.join_next().await {
        match result {
            Ok(Ok(receiver)) => joined.push(receiver),
            Ok(Err(e)) => return Err(format!("receiver setup: {e}")),
            Err(e) => return Err(format!("receiver setup: {e}")),
        }
    }
    let oper = plan.oper.as_ref().map(|(n, p)| (n.as_str(), p.as_str()));
    let (sender, sender_lines) = register_and_join(addr, "sender", oper).await?;
    let (sender_reader, mut sender_writer) = sender.into_split();
    // Anything the server says to the sender is unexpected during the run (an error numeric, a
    // disconnection): keep reading so it is noticed.
    let watcher = tokio::spawn(watch_sender(sender_reader, sender_lines, progress.clone()));

    let total = plan.warmup + plan.messages;
    let mut receiving = JoinSet::new();
    for (i, stream, lines) in joined {
        receiving.spawn(receive(i, stream, lines, total, progress.clone()));
    }
    let message = Message::new(plan.text_bytes);

    // Warm-up round: everyone gets `warmup` messages before the clock starts.
    let warmup_deadline = tokio::time::Instant::now() + WARMUP_TIMEOUT;
    send(
        &mut sender_writer,
        &message,
        0..plan.warmup,
        plan.window,
        &progress,
        warmup_deadline,
    )
    .await
    .map_err(|e| format!("warm-up: {e}"))?;
    while progress.slowest() < plan.warmup {
        if tokio::time::Instant::now() >= warmup_deadline {
            let behind = progress
                .received
                .iter()
                .filter(|r| r.load(Ordering::Acquire) < plan.warmup)
                .count();
            return Err(format!(
                "warm-up: {behind} of {} receivers did not get all {} messages within {} s (the slowest had {}){}",
                plan.receivers,
                plan.warmup,
                WARMUP_TIMEOUT.as_secs(),
                progress.slowest(),
                progress
                    .errors
                    .summary()
                    .map_or_else(String::new, |e| format!("; {e}"))
            ));
        }
        sleep(Duration::from_millis(1)).await;
    }

    // The measured round.
    let cpu = |pid: u32| util::cpu_seconds(pid).map_err(|e| format!("CPU time of {pid}: {e}"));
    let me = std::process::id();
    let (server_cpu0, client_cpu0) = (cpu(pid)?, cpu(me)?);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + plan.limit;
    let sent = send(
        &mut sender_writer,
        &message,
        plan.warmup..total,
        plan.window,
        &progress,
        deadline,
    )
    .await;
    if let Err(e) = &sent {
        progress.errors.record(format!("sender: {e}"));
    }
    let mut last = started;
    let mut finished = 0;
    let mut streams = Vec::with_capacity(plan.receivers);
    loop {
        match timeout_at(deadline, receiving.join_next()).await {
            Ok(Some(Ok((stream, Some(at))))) => {
                finished += 1;
                last = last.max(at);
                streams.push(stream);
            }
            Ok(Some(Ok((stream, None)))) => streams.push(stream),
            Ok(Some(Err(e))) => progress.errors.record(format!("receiver task: {e}")),
            Ok(None) => break,
            Err(_) => {
                progress.errors.record(format!(
                    "time limit: {finished} of {} receivers had every message after {} s",
                    plan.receivers,
                    plan.limit.as_secs()
                ));
                receiving.abort_all();
                last = Instant::now();
                break;
            }
        }
    }
    let (server_cpu1, client_cpu1) = (cpu(pid)?, cpu(me)?);
    let complete = finished == plan.receivers && progress.errors.count() == 0;
    let deliveries = progress
        .received
        .iter()
        .map(|r| r.load(Ordering::Acquire).saturating_sub(plan.warmup))
        .sum();
    watcher.abort();
    for stream in &streams {
        let _ = stream.set_zero_linger();
    }
    drop(streams);
    Ok(Fanout {
        receivers: plan.receivers,
        messages: plan.messages,
        deliveries,
        seconds: (last - started).as_secs_f64(),
        server_cpu: server_cpu1 - server_cpu0,
        client_cpu: client_cpu1 - client_cpu0,
        complete,
        sender_waits: sent.unwrap_or(0),
        errors: progress.errors.summary(),
    })
}

/// The benchmark message: `PRIVMSG #bench :SEQ filler`, the text `text_bytes` long.
#[derive(Debug)]
struct Message {
    /// One whole line; the sequence number is written at `seq_at`.
    template: Vec<u8>,
    seq_at: usize,
}

impl Message {
    fn new(text_bytes: usize) -> Self {
        let mut template = format!("PRIVMSG {CHANNEL} :").into_bytes();
        let seq_at = template.len();
        let text = text_bytes.max(SEQ_DIGITS + 1);
        template.extend(std::iter::repeat_n(b'0', SEQ_DIGITS));
        template.push(b' ');
        template.extend((0..text - SEQ_DIGITS - 1).map(|i| b'a' + (i % 26) as u8));
        template.extend_from_slice(b"\r\n");
        Message { template, seq_at }
    }

    fn append(&self, out: &mut Vec<u8>, seq: u64) {
        let at = out.len() + self.seq_at;
        out.extend_from_slice(&self.template);
        let mut n = seq;
        for i in (0..SEQ_DIGITS).rev() {
            out[at + i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
}

/// Send messages `seqs`, never more than `window` ahead of the slowest receiver. Returns how
/// often the window was full.
async fn send(
    writer: &mut OwnedWriteHalf,
    message: &Message,
    seqs: std::ops::Range<u64>,
    window: u64,
    progress: &Progress,
    deadline: tokio::time::Instant,
) -> Result<u64, String> {
    let mut next = seqs.start;
    let mut waits = 0;
    let mut batch = Vec::with_capacity(SEND_BATCH as usize * message.template.len());
    while next < seqs.end {
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "time limit: sent {} of {} messages",
                next - seqs.start,
                seqs.end - seqs.start
            ));
        }
        let allowed = progress.slowest().saturating_add(window).min(seqs.end);
        if next >= allowed {
            waits += 1;
            progress.sender_waiting.store(true, Ordering::SeqCst);
            // Look again after announcing the wait, so a receiver's progress in between is not
            // missed; a stored permit (notify_one) also covers that.
            if progress.slowest().saturating_add(window) <= next {
                let _ = timeout(WINDOW_POLL, progress.wake_sender.notified()).await;
            }
            progress.sender_waiting.store(false, Ordering::SeqCst);
            continue;
        }
        let count = (allowed - next).min(SEND_BATCH);
        batch.clear();
        for seq in next..next + count {
            message.append(&mut batch, seq);
        }
        timeout_at(deadline, writer.write_all(&batch))
            .await
            .map_err(|_| "time limit while writing".to_owned())?
            .map_err(|e| format!("write: {e}"))?;
        next += count;
    }
    Ok(waits)
}

/// Read whatever the server sends the sender; anything but PING is recorded as an error.
async fn watch_sender(mut reader: OwnedReadHalf, mut lines: Lines, progress: Arc<Progress>) {
    loop {
        while let Some(line) = lines.next_line() {
            let (command, _) = command_of(line);
            if command != b"PING" && command != b"PONG" {
                progress.errors.record(format!(
                    "the server told the sender {:?}",
                    String::from_utf8_lossy(line)
                ));
            }
        }
        match lines.fill(&mut reader).await {
            Ok(0) => {
                progress
                    .errors
                    .record("the server closed the sender's connection");
                return;
            }
            Ok(_) => {}
            Err(e) => {
                progress.errors.record(format!("sender read: {e}"));
                return;
            }
        }
    }
}

/// Receiver `index`: count the channel's messages (checking their sequence numbers) until
/// `total` have arrived. Returns the stream (kept open until every receiver is done) and when
/// the last message arrived.
async fn receive(
    index: usize,
    mut stream: TcpStream,
    mut lines: Lines,
    total: u64,
    progress: Arc<Progress>,
) -> (TcpStream, Option<Instant>) {
    let target = format!("{CHANNEL} :").into_bytes();
    // Every benchmark message starts with the same `:sender!user@host PRIVMSG #bench :`; once
    // seen, later lines are matched against it whole (the load client must stay cheap).
    let mut head: Vec<u8> = Vec::new();
    let mut count = 0u64;
    let counter = &progress.received[index];
    // Bounded by `total` messages; each fill reads at least one byte or ends the loop.
    while count < total {
        let mut pongs = Vec::new();
        while let Some(line) = lines.next_line() {
            let text = if !head.is_empty() && line.starts_with(&head) {
                Some(&line[head.len()..])
            } else {
                let (command, params) = command_of(line);
                match params.strip_prefix(&target[..]) {
                    Some(text) if command == b"PRIVMSG" => {
                        head = line[..line.len() - text.len()].to_vec();
                        Some(text)
                    }
                    _ => None,
                }
            };
            if let Some(text) = text {
                let seq = text.get(..SEQ_DIGITS).and_then(parse_digits);
                if seq != Some(count) {
                    progress.errors.record(format!(
                        "receiver r{index}: expected message {count}, got {:?}",
                        String::from_utf8_lossy(line)
                    ));
                    return (stream, None);
                }
                count += 1;
                continue;
            }
            let (command, params) = command_of(line);
            if command == b"PING" {
                pongs.extend_from_slice(&[b"PONG ", params, b"\r\n"].concat());
            } else if command == b"ERROR" {
                progress.errors.record(format!(
                    "receiver r{index}: {:?}",
                    String::from_utf8_lossy(line)
                ));
                return (stream, None);
            }
        }
        counter.store(count, Ordering::Release);
        if progress.sender_waiting.load(Ordering::SeqCst) {
            progress.wake_sender.notify_one();
        }
        if count >= total {
            break;
        }
        if !pongs.is_empty() {
            if let Err(e) = stream.write_all(&pongs).await {
                progress
                    .errors
                    .record(format!("receiver r{index}: write: {e}"));
                return (stream, None);
            }
        }
        match lines.fill(&mut stream).await {
            Ok(0) => {
                progress.errors.record(format!(
                    "receiver r{index}: the server closed the connection after {count} messages"
                ));
                return (stream, None);
            }
            Ok(_) => {}
            Err(e) => {
                progress
                    .errors
                    .record(format!("receiver r{index}: read: {e}"));
                return (stream, None);
            }
        }
    }
    (stream, Some(Instant::now()))
}

fn parse_digits(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

/// Result of [`idle_clients`].
#[derive(Debug)]
pub struct IdleMemory {
    /// Server RSS before the clients connected.
    pub rss_before: u64,
    /// Server RSS with them registered and idle.
    pub rss_after: u64,
    /// Clients registered.
    pub registered: usize,
    /// Time it took to register them all.
    pub register_seconds: f64,
    /// Server CPU time spent meanwhile.
    pub server_cpu: f64,
    /// Problems seen, if any.
    pub errors: Option<String>,
}

impl IdleMemory {
    /// RSS growth per registered client, in KiB.
    pub fn kib_per_client(&self) -> f64 {
        (self.rss_after as f64 - self.rss_before as f64)
            / 1024.0
            / (self.registered as f64).max(1.0)
    }

    /// Server CPU microseconds per registration (connect, NICK, USER, welcome).
    pub fn cpu_us_per_registration(&self) -> f64 {
        self.server_cpu * 1e6 / (self.registered as f64).max(1.0)
    }
}

/// Register `count` clients (`concurrency` at a time, within `limit`), let the server settle
/// for `settle`, and compare its RSS with before. The clients are closed (RST) on return.
pub async fn idle_clients(
    addr: SocketAddr,
    pid: u32,
    count: usize,
    concurrency: usize,
    limit: Duration,
    settle: Duration,
) -> Result<IdleMemory, String> {
    let rss = |pid: u32| util::rss_bytes(pid).map_err(|e| format!("RSS of {pid}: {e}"));
    let rss_before = rss(pid)?;
    let cpu0 = util::cpu_seconds(pid).map_err(|e| format!("CPU time of {pid}: {e}"))?;
    let errors = Errors::default();
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let mut set = JoinSet::new();
    for i in 0..count {
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            register(addr, &format!("idle{i}")).await.map(|(s, _)| s)
        });
    }
    let mut open = Vec::with_capacity(count);
    loop {
        match timeout_at(deadline, set.join_next()).await {
            Ok(Some(Ok(Ok(stream)))) => open.push(stream),
            Ok(Some(Ok(Err(e)))) => errors.record(e),
            Ok(Some(Err(e))) => errors.record(e),
            Ok(None) => break,
            Err(_) => {
                errors.record(format!(
                    "time limit: {} of {count} clients registered after {} s",
                    open.len(),
                    limit.as_secs()
                ));
                set.abort_all();
                break;
            }
        }
    }
    let register_seconds = started.elapsed().as_secs_f64();
    let cpu1 = util::cpu_seconds(pid).map_err(|e| format!("CPU time of {pid}: {e}"))?;
    sleep(settle).await;
    let rss_after = rss(pid)?;
    let registered = open.len();
    for stream in &open {
        let _ = stream.set_zero_linger();
    }
    drop(open);
    Ok(IdleMemory {
        rss_before,
        rss_after,
        registered,
        register_seconds,
        server_cpu: cpu1 - cpu0,
        errors: errors.summary(),
    })
}

/// Whether an IRC server answers on `addr`: a client registers within `wait` (then quits).
pub async fn registers(addr: SocketAddr, wait: Duration) -> Result<(), String> {
    let (mut stream, _) = timeout(wait, register(addr, "probe"))
        .await
        .map_err(|_| format!("no welcome within {} s", wait.as_secs()))??;
    let _ = stream.write_all(b"QUIT :probe done\r\n").await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands_and_numbers_messages() {
        assert_eq!(
            command_of(b":irc.test 376 nick :End"),
            (&b"376"[..], &b"nick :End"[..])
        );
        assert_eq!(command_of(b"PING :x"), (&b"PING"[..], &b":x"[..]));
        assert_eq!(command_of(b":only"), (&b""[..], &b""[..]));
        let message = Message::new(100);
        let mut out = Vec::new();
        message.append(&mut out, 42);
        message.append(&mut out, 1_234_567);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("PRIVMSG #bench :0000000042 abc"));
        assert_eq!(lines[0].len(), "PRIVMSG #bench :".len() + 100);
        assert!(lines[1].starts_with("PRIVMSG #bench :0001234567 "));
        assert_eq!(parse_digits(b"0001234567"), Some(1_234_567));
        assert_eq!(parse_digits(b"12a"), None);
    }

    #[tokio::test]
    async fn lines_keep_partial_input() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let mut lines = Lines::new();
        a.write_all(b"one\r\ntw").await.unwrap();
        lines.fill(&mut b).await.unwrap();
        assert_eq!(lines.next_line(), Some(&b"one"[..]));
        assert_eq!(lines.next_line(), None);
        a.write_all(b"o\n").await.unwrap();
        lines.fill(&mut b).await.unwrap();
        assert_eq!(lines.next_line(), Some(&b"two"[..]));
    }
}
