//! [`Connection`] — Twisted's Transport: one type over TCP, TLS, Unix sockets and in-memory
//! pipes, owning the read buffer (so framing can switch mid-stream and STARTTLS can discard
//! pipelined plaintext) and a bounded write buffer.
//!
//! ## Reading
//! [`Connection::read_frame`] decodes the next frame with any [`Decoder`]; the bytes after that
//! frame stay in the connection for the next call, whatever codec it uses. Before it waits for
//! the network it flushes pending output, so replies queued with [`Connection::queue`] /
//! [`Connection::feed`] go out in one write when the session has nothing more to do — the
//! natural batching for pipelined protocols. `read_frame` is cancel-safe: it may be used in a
//! `tokio::select!` branch.
//!
//! [`Connection::poll_read_frame`] is the same as a poll method: every bit of a wait's state
//! (readiness registration, idle timer, shutdown watch) lives in the connection, so a session
//! that waits on its socket and on something else (an IRC client's send queue) can do both in
//! one `poll_fn` and keep no future per wait — what makes an idle connection cheap.
//!
//! ## Writing and backpressure
//! Output accumulates in a write buffer of at most `max_write_buffer` bytes (default
//! [`DEFAULT_MAX_WRITE_BUFFER`]); [`Connection::feed`] flushes (awaiting the peer) when the buffer
//! is full, so a peer that does not read slows the session down instead of growing its memory.
//! A stalled write is bounded by the write timeout (the idle timeout unless set): a peer that
//! stops reading is eventually disconnected.
//!
//! ## Deadlines
//! Three clocks, all in one timer per connection:
//! - the *idle* timeout: nothing arrived (or nothing could be written) for this long;
//! - the *write* timeout: queued output made no progress for this long (defaults to idle);
//! - the *frame* deadline, against slow-trickle ("slowloris") peers: a frame (a line, a
//!   length-prefixed message, a whole SMTP DATA) must complete within `frame_timeout` of its
//!   first byte, and partial input does not restart that clock. Each read of `n` bytes buys
//!   `n / min_data_rate` seconds more (never more than `frame_timeout` from now), so an honest
//!   peer sending a large frame at or above the minimum rate is never cut off — the scheme of
//!   Postfix's `smtpd_per_record_deadline` + `smtpd_min_data_rate` and nginx's
//!   `client_header_timeout`/`client_body_timeout`. A frame read in pieces (a counted BDAT
//!   chunk, an IMAP literal, an HTTP body) is one frame between
//!   [`Connection::start_transfer`] and [`Connection::finish_transfer`]. Time spent blocked on a
//!   write does not count against the frame (the peer is not being read).
//!
//! ## Idle memory
//! While a plain TCP connection waits for input with nothing buffered, it holds no read or write
//! buffer at all: a server with 10,000 idle clients spends kilobytes on them, not 10,000 × 8 KiB.

use std::future::{poll_fn, Future};
use std::io;
use std::mem;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Sleep};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::address::Address;
use crate::framing::FrameError;
use crate::stream::Stream;

/// Bytes requested from the socket per read.
pub const DEFAULT_READ_CHUNK: usize = 8 * 1024;
/// Output buffered before `feed` waits for the peer to read.
pub const DEFAULT_MAX_WRITE_BUFFER: usize = 64 * 1024;
/// Files up to this size are read into the write buffer by [`Connection::send_file`] rather
/// than sent with sendfile(2): one write with the head beats a flush plus a sendfile.
pub const SEND_FILE_INLINE: u64 = 32 * 1024;
/// Piece size of [`Connection::send_file`] where sendfile(2) cannot be used.
pub const SEND_FILE_CHUNK: usize = 64 * 1024;
/// Default minimum data rate of a large frame, bytes/s (Postfix's `smtpd_min_data_rate`).
pub const DEFAULT_MIN_DATA_RATE: u32 = 500;
/// How long a graceful close waits for the peer to acknowledge (TLS close_notify, FIN).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why reading a frame did not produce one.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E = FrameError> {
    /// The codec rejected the input (for [`FrameError::LineTooLong`] the connection is still
    /// usable: reply and read on).
    #[error(transparent)]
    Frame(E),
    /// The transport failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// Nothing arrived (or nothing could be written) within the idle (or write) timeout.
    #[error("idle timeout")]
    IdleTimeout,
    /// A frame was started but not completed in time (a slow-trickle peer).
    #[error("frame not completed in time")]
    FrameTimeout,
    /// The server is shutting down; the session should say goodbye and close.
    #[error("server shutting down")]
    Shutdown,
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed in the middle of a frame ({pending} bytes pending)")]
    Truncated {
        /// Bytes of the incomplete frame.
        pending: usize,
    },
}

impl<E> ReadError<E> {
    /// Whether this is a recoverable framing error (an over-long line).
    pub fn is_recoverable_frame(&self) -> bool
    where
        E: AsRef<FrameError>,
    {
        matches!(self, ReadError::Frame(e) if e.as_ref().is_recoverable())
    }
}

impl AsRef<FrameError> for FrameError {
    fn as_ref(&self) -> &FrameError {
        self
    }
}

/// What reading a frame with decoder `D` gives: a frame, `None` at a clean end of stream, or
/// why not.
pub type FrameResult<D> = Result<Option<<D as Decoder>::Item>, ReadError<<D as Decoder>::Error>>;

/// Per-connection tunables (the runner fills them from flags).
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    /// Close the connection after this long without input (or without write progress).
    pub idle_timeout: Option<Duration>,
    /// Time allowed for one frame from its first byte, before credit for data received (None:
    /// no limit). See the [module docs](self#deadlines).
    pub frame_timeout: Option<Duration>,
    /// Bytes per second a large frame must keep up: each byte read extends its deadline by
    /// `1 / min_data_rate` s, up to `frame_timeout` from now (0: no extension).
    pub min_data_rate: u32,
    /// How long queued output may make no progress (None: the idle timeout).
    pub write_timeout: Option<Duration>,
    /// Maximum bytes of buffered output before writers wait for the peer.
    pub max_write_buffer: usize,
    /// Bytes requested per read.
    pub read_chunk: usize,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            idle_timeout: None,
            frame_timeout: None,
            min_data_rate: DEFAULT_MIN_DATA_RATE,
            write_timeout: None,
            max_write_buffer: DEFAULT_MAX_WRITE_BUFFER,
            read_chunk: DEFAULT_READ_CHUNK,
        }
    }
}

/// A connected transport with its buffers. See the [module docs](self).
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    peer: Address,
    local: Address,
    id: u64,
    options: ConnectionOptions,
    shutdown: Option<CancellationToken>,
    shutdown_interrupts: bool,
    eof: bool,
    /// Kept across waits so the busy path re-arms it (a cheap deadline extension) instead of
    /// inserting and removing a timer-wheel entry for every read.
    idle_timer: Option<Pin<Box<Sleep>>>,
    /// Whether `idle_timer` runs for the current wait (progress disarms it).
    idle_armed: bool,
    /// When the frame being received must be complete (None: between frames).
    frame_deadline: Option<Instant>,
    /// Between `start_transfer` and `finish_transfer`: decoded pieces are one frame.
    in_transfer: bool,
    /// The last wait was for a write (its time does not count against the frame).
    write_blocked: bool,
    /// Registered once with the shutdown token, for the same reason.
    shutdown_wait: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

/// Internal reason a wait for the network ended early.
enum Wait {
    Io(io::Error),
    Idle,
    Frame,
    Shutdown,
}

impl<E> From<Wait> for ReadError<E> {
    fn from(w: Wait) -> Self {
        match w {
            Wait::Io(e) => ReadError::Io(e),
            Wait::Idle => ReadError::IdleTimeout,
            Wait::Frame => ReadError::FrameTimeout,
            Wait::Shutdown => ReadError::Shutdown,
        }
    }
}

impl From<Wait> for io::Error {
    fn from(w: Wait) -> Self {
        match w {
            Wait::Io(e) => e,
            Wait::Idle => io::Error::new(io::ErrorKind::TimedOut, "idle timeout"),
            Wait::Frame => io::Error::new(io::ErrorKind::TimedOut, "frame not completed in time"),
            Wait::Shutdown => io::Error::new(io::ErrorKind::ConnectionAborted, "shutting down"),
        }
    }
}

impl Connection {
    /// Wrap a connected stream.
    pub fn new(stream: Stream, peer: Address, local: Address) -> Self {
        Connection {
            stream,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            peer,
            local,
            id: 0,
            options: ConnectionOptions::default(),
            shutdown: None,
            shutdown_interrupts: true,
            eof: false,
            idle_timer: None,
            idle_armed: false,
            frame_deadline: None,
            in_transfer: false,
            write_blocked: false,
            shutdown_wait: None,
        }
    }

    /// Set the tunables.
    pub fn with_options(mut self, options: ConnectionOptions) -> Self {
        self.options = options;
        self
    }

    /// Attach the server's shutdown signal (done by the runner).
    pub fn with_shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = Some(token);
        self
    }

    /// Set the connection number used in logs (done by the runner).
    pub fn with_id(mut self, id: u64) -> Self {
        self.id = id;
        self
    }

    /// The connection number (unique per server process).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The remote end.
    pub fn peer(&self) -> &Address {
        &self.peer
    }

    /// The local end.
    pub fn local(&self) -> &Address {
        &self.local
    }

    /// Whether the transport is TLS.
    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// Protocol version and SNI of a TLS transport, for logs and `Received:` headers.
    pub fn tls_summary(&self) -> Option<String> {
        self.stream.tls_summary()
    }

    /// The current tunables.
    pub fn options(&self) -> &ConnectionOptions {
        &self.options
    }

    /// Change the idle timeout (protocols use different ones per state, e.g. SMTP DATA).
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) {
        self.options.idle_timeout = timeout;
        self.idle_armed = false;
    }

    /// Change the write timeout (None: the idle timeout bounds stalled writes).
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.options.write_timeout = timeout;
    }

    /// Change the frame timeout (None: frames may take any time; the idle timeout still holds).
    pub fn set_frame_timeout(&mut self, timeout: Option<Duration>) {
        self.options.frame_timeout = timeout;
        if timeout.is_none() {
            self.frame_deadline = None;
        }
    }

    /// Begin a frame that is decoded in pieces (a counted chunk, a literal, a body): until
    /// [`finish_transfer`](Self::finish_transfer), the pieces share one frame deadline, so a
    /// peer cannot trickle a large transfer one small piece at a time.
    pub fn start_transfer(&mut self) {
        self.in_transfer = true;
    }

    /// End the transfer begun by [`start_transfer`](Self::start_transfer): the frame is
    /// complete.
    pub fn finish_transfer(&mut self) {
        self.in_transfer = false;
        self.frame_complete();
    }

    /// Whether a server shutdown interrupts a wait for input (default true). A session in the
    /// middle of a transaction (SMTP DATA, an IMAP APPEND literal) turns this off so it can
    /// finish; the runner's shutdown deadline still bounds it.
    pub fn set_shutdown_interrupts(&mut self, interrupts: bool) {
        self.shutdown_interrupts = interrupts;
    }

    /// Whether the server has begun shutting down.
    pub fn shutdown_requested(&self) -> bool {
        self.shutdown
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
    }

    /// Bytes received but not yet decoded into a frame.
    pub fn pending_input(&self) -> &[u8] {
        &self.rbuf
    }

    /// Bytes queued for sending.
    pub fn buffered_output(&self) -> usize {
        self.wbuf.len()
    }

    /// Allocated capacity of the read and write buffers (for memory diagnostics: both are 0
    /// while an idle TCP connection waits).
    pub fn buffer_capacity(&self) -> (usize, usize) {
        (self.rbuf.capacity(), self.wbuf.capacity())
    }

    /// Decode the next frame. `Ok(None)` is a clean end of stream (the peer closed between
    /// frames). Cancel-safe.
    pub async fn read_frame<D: Decoder>(
        &mut self,
        codec: &mut D,
    ) -> Result<Option<D::Item>, ReadError<D::Error>> {
        // The idle timeout counts from the start of this wait.
        self.idle_armed = false;
        poll_fn(|cx| self.poll_read_frame(cx, codec)).await
    }

    /// Poll form of [`read_frame`](Self::read_frame), for sessions that wait on their socket
    /// and something else at once (an IRC client's send queue) without keeping a future per
    /// connection: all the state of a wait lives in the connection. Pending output is written
    /// first; the idle timeout counts from the first `Pending` after the last progress.
    pub fn poll_read_frame<D: Decoder>(
        &mut self,
        cx: &mut Context<'_>,
        codec: &mut D,
    ) -> Poll<FrameResult<D>> {
        loop {
            match codec.decode(&mut self.rbuf) {
                Ok(None) => {}
                Ok(Some(item)) => {
                    if !self.in_transfer {
                        self.frame_complete();
                    }
                    return Poll::Ready(Ok(Some(item)));
                }
                Err(e) => {
                    self.frame_complete();
                    return Poll::Ready(Err(ReadError::Frame(e)));
                }
            }
            if self.eof {
                // `decode` already had every byte; what is left is an incomplete frame.
                // (Deliberately not `decode_eof`, whose default turns this into an opaque
                // io::Error.)
                return Poll::Ready(if self.rbuf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Truncated {
                        pending: self.rbuf.len(),
                    })
                });
            }
            ready!(self.poll_fill(cx))?;
        }
    }

    /// A frame ended: stop its clock (the next one starts with its first byte).
    fn frame_complete(&mut self) {
        if self.frame_deadline.take().is_some() {
            self.idle_armed = false;
        }
    }

    /// `n` bytes of a frame arrived: start its clock, or credit the bytes against it.
    fn frame_progress(&mut self, n: usize) {
        let Some(limit) = self.options.frame_timeout else {
            return;
        };
        let cap = Instant::now() + limit;
        self.frame_deadline = Some(match self.frame_deadline {
            None => cap,
            Some(deadline) => match self.options.min_data_rate {
                0 => deadline,
                rate => {
                    let credit = Duration::from_nanos(n as u64 * 1_000_000_000 / u64::from(rate));
                    (deadline + credit).min(cap)
                }
            },
        });
    }

    /// Write out pending output, then read more input into the buffer.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Wait>> {
        // Output first, so replies go out in one write when the session has nothing more to
        // do; and a peer that does not read its output is not read from (backpressure).
        match self.poll_write_out(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(Wait::Io(e))),
            Poll::Pending => return self.poll_guards(cx),
        }
        match self.poll_read_some(cx) {
            Poll::Ready(Ok(n)) => {
                self.idle_armed = false;
                if n == 0 {
                    self.eof = true;
                } else {
                    self.frame_progress(n);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(Wait::Io(e))),
            Poll::Pending => self.poll_guards(cx),
        }
    }

    /// Read what the stream has (waiting for it). A plain TCP connection polls readiness
    /// before it allocates: while it waits with nothing buffered, it holds no buffer at all.
    /// (Readiness polling also pays into tokio's cooperative budget, so a connection that
    /// always has input cannot starve other tasks.)
    fn poll_read_some(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let chunk = self.options.read_chunk;
        if let Stream::Tcp(tcp) = &self.stream {
            loop {
                if tcp.poll_read_ready(cx)?.is_pending() {
                    if self.rbuf.is_empty() {
                        self.rbuf = BytesMut::new();
                    }
                    if self.wbuf.is_empty() {
                        self.wbuf = BytesMut::new();
                    }
                    return Poll::Pending;
                }
                reserve_chunk(&mut self.rbuf, chunk);
                match tcp.try_read_buf(&mut self.rbuf) {
                    Ok(n) => return Poll::Ready(Ok(n)),
                    // Readiness is cleared: the next poll registers for the next event.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        }
        reserve_chunk(&mut self.rbuf, chunk);
        tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, &mut self.rbuf)
    }

    /// Write out everything queued (progress re-arms the idle timeout).
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.wbuf.is_empty() {
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &self.wbuf))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wbuf.advance(n);
            self.idle_armed = false;
        }
        if mem::take(&mut self.write_blocked) {
            // The peer was not being read while the write waited: that time does not count
            // against the frame in progress.
            if let (Some(deadline), Some(limit)) =
                (&mut self.frame_deadline, self.options.frame_timeout)
            {
                *deadline = (*deadline).max(Instant::now() + limit);
            }
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// While I/O is pending: end the wait at a server shutdown (when interruptible, and not
    /// in the middle of a frame) or at the idle timeout.
    fn poll_guards(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Wait>> {
        if self.shutdown_interrupts && self.rbuf.is_empty() {
            if let Some(token) = &self.shutdown {
                if token.is_cancelled() {
                    return Poll::Ready(Err(Wait::Shutdown));
                }
                // Registered once, boxed: only connections that wait for a shutdown pay.
                let wait = self
                    .shutdown_wait
                    .get_or_insert_with(|| Box::pin(token.clone().cancelled_owned()));
                if wait.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(Wait::Shutdown));
                }
            }
        }
        let writing = !self.wbuf.is_empty();
        let timeout = if writing {
            self.write_blocked = true;
            self.options.write_timeout.or(self.options.idle_timeout)
        } else {
            if self.frame_deadline.is_none() && !self.rbuf.is_empty() {
                // Input left over after the last frame: the next frame has begun.
                if let Some(limit) = self.options.frame_timeout {
                    self.frame_deadline = Some(Instant::now() + limit);
                    self.idle_armed = false;
                }
            }
            self.options.idle_timeout
        };
        // A write wait is not bounded by the frame (the peer is not being read).
        let frame = if writing { None } else { self.frame_deadline };
        if timeout.is_none() && frame.is_none() {
            return Poll::Pending;
        }
        let armed = mem::replace(&mut self.idle_armed, true);
        if !armed || self.idle_timer.is_none() {
            let at = match (timeout, frame) {
                (Some(t), f) => {
                    let idle = Instant::now() + t;
                    f.map_or(idle, |f| f.min(idle))
                }
                (None, Some(f)) => f,
                (None, None) => return Poll::Pending,
            };
            match &mut self.idle_timer {
                // Kept across waits: re-arming is a cheap deadline change, not a timer-wheel
                // insertion and removal for every read.
                Some(timer) => timer.as_mut().reset(at),
                slot => *slot = Some(Box::pin(tokio::time::sleep_until(at))),
            }
        }
        let Some(timer) = self.idle_timer.as_mut() else {
            return Poll::Pending;
        };
        if timer.as_mut().poll(cx).is_ready() {
            let frame_expired = frame.is_some_and(|f| f <= Instant::now());
            return Poll::Ready(Err(if frame_expired {
                Wait::Frame
            } else {
                Wait::Idle
            }));
        }
        Poll::Pending
    }

    /// Queue bytes for sending without waiting. The next [`read_frame`](Self::read_frame) or
    /// [`flush`](Self::flush) sends them. Callers that may queue a lot should use
    /// [`feed`](Self::feed), which waits when the buffer is full.
    pub fn queue(&mut self, data: &[u8]) {
        self.wbuf.extend_from_slice(data);
    }

    /// The write buffer itself, to serialise output into without a copy (as
    /// [`queue`](Self::queue) does; the same flushing rules apply).
    pub fn output_buffer(&mut self) -> &mut BytesMut {
        &mut self.wbuf
    }

    /// Queue bytes for sending, flushing first if the write buffer is full (backpressure).
    pub async fn feed(&mut self, data: &[u8]) -> io::Result<()> {
        if self.wbuf.len() + data.len() > self.options.max_write_buffer && !self.wbuf.is_empty() {
            self.flush().await?;
        }
        if data.len() > self.options.max_write_buffer {
            // Larger than the whole buffer: write it straight through.
            return self.timed_write(data).await;
        }
        self.wbuf.extend_from_slice(data);
        Ok(())
    }

    /// Encode a frame into the write buffer, flushing first if the buffer is full.
    pub async fn feed_frame<E, T>(&mut self, codec: &mut E, item: T) -> Result<(), E::Error>
    where
        E: Encoder<T>,
        E::Error: From<io::Error>,
    {
        if self.wbuf.len() >= self.options.max_write_buffer {
            self.flush().await?;
        }
        codec.encode(item, &mut self.wbuf)
    }

    /// Queue and flush: the bytes have been handed to the kernel (or TLS) when this returns.
    pub async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.feed(data).await?;
        self.flush().await
    }

    /// Write out everything queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        within(self.write_timeout(), poll_fn(|cx| self.poll_flush(cx))).await
    }

    /// Poll form of [`flush`](Self::flush), without its idle timeout (a session polling
    /// this keeps its own deadlines). Cancel-safe: what was written stays written.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_out(cx))?;
        if self.wbuf.capacity() > 2 * self.options.max_write_buffer {
            self.wbuf = BytesMut::new();
        }
        Poll::Ready(Ok(()))
    }

    /// Send `len` bytes of `file` from `offset` (a static file's body), after the queued
    /// output. Up to [`SEND_FILE_INLINE`] bytes are read into the write buffer (one write with
    /// what precedes them). Beyond that, on plain TCP the kernel copies the file's pages straight to the socket
    /// (sendfile(2): no copy through user space); over TLS, Unix sockets or in memory the file
    /// is read in [`SEND_FILE_CHUNK`] pieces through the write buffer. Each step is bounded by
    /// the write timeout like any write, so a peer that stops reading is cut off and holds no
    /// more memory than the write buffer. Fails with `UnexpectedEof` if the file is shorter
    /// than `offset + len` (it was truncated meanwhile): the caller must then close, the
    /// response being incomplete.
    pub async fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let end = offset
            .checked_add(len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "range overflows"))?;
        let short = || io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than its length");
        if len <= SEND_FILE_INLINE {
            // Small: read straight into the write buffer, so it goes out in the same write
            // as what was queued before it (a response head), with no extra system call.
            if (self.wbuf.len() as u64).saturating_add(len) > self.options.max_write_buffer as u64 {
                self.flush().await?;
            }
            let start = self.wbuf.len();
            self.wbuf.resize(start + len as usize, 0);
            let mut done = 0;
            while done < len as usize {
                match file.read_at(&mut self.wbuf[start + done..], offset + done as u64) {
                    Ok(0) => {
                        self.wbuf.truncate(start + done);
                        return Err(short());
                    }
                    Ok(n) => done += n,
                    Err(e) => {
                        self.wbuf.truncate(start + done);
                        return Err(e);
                    }
                }
            }
            return Ok(());
        }
        if let Stream::Tcp(_) = &self.stream {
            self.flush().await?;
            let timeout = self.write_timeout();
            let Stream::Tcp(tcp) = &self.stream else {
                unreachable!("checked above")
            };
            let mut at = offset;
            while at < end {
                // sendfile(2) moves at most 0x7ffff000 bytes per call.
                let want = (end - at).min(1 << 30) as usize;
                let sent = within(timeout, async {
                    loop {
                        tcp.writable().await?;
                        match tcp.try_io(tokio::io::Interest::WRITABLE, || {
                            rustix::fs::sendfile(tcp, file, Some(&mut at), want)
                                .map_err(io::Error::from)
                        }) {
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                            other => return other,
                        }
                    }
                })
                .await?;
                if sent == 0 {
                    return Err(short());
                }
            }
            return Ok(());
        }
        let mut chunk = vec![0u8; SEND_FILE_CHUNK.min(len as usize)];
        let mut at = offset;
        while at < end {
            let want = ((end - at) as usize).min(chunk.len());
            let n = file.read_at(&mut chunk[..want], at)?;
            if n == 0 {
                return Err(short());
            }
            self.feed(&chunk[..n]).await?;
            at += n as u64;
        }
        Ok(())
    }

    async fn timed_write(&mut self, data: &[u8]) -> io::Result<()> {
        within(self.write_timeout(), self.stream.write_all(data)).await
    }

    fn write_timeout(&self) -> Option<Duration> {
        self.options.write_timeout.or(self.options.idle_timeout)
    }

    /// Upgrade to TLS as a server (STARTTLS, STLS). Queued output (the "ready to start TLS"
    /// reply) is flushed first. Input already received is *discarded*: a client must wait for
    /// the reply before starting the handshake, so such bytes are plaintext injected ahead of
    /// TLS (CVE-2011-0411, RFC 3207 §4.2) and must never be processed as if protected.
    /// Returns how many bytes were discarded (so the protocol can log or refuse).
    pub async fn upgrade_server_tls(&mut self, acceptor: &TlsAcceptor) -> io::Result<usize> {
        self.flush().await?;
        let discarded = self.discard_input();
        let plain = mem::replace(&mut self.stream, Stream::Detached);
        let tls = within(self.options.idle_timeout, acceptor.accept(plain)).await?;
        self.stream = Stream::TlsServer(Box::new(tls));
        Ok(discarded)
    }

    /// Upgrade to TLS as a client (STARTTLS towards a server), verifying `server_name`.
    /// Input received before the upgrade is discarded, as on the server side.
    pub async fn upgrade_client_tls(
        &mut self,
        connector: &TlsConnector,
        server_name: rustls_pki_types::ServerName<'static>,
    ) -> io::Result<usize> {
        self.flush().await?;
        let discarded = self.discard_input();
        let plain = mem::replace(&mut self.stream, Stream::Detached);
        let tls = within(
            self.options.idle_timeout,
            connector.connect(server_name, plain),
        )
        .await?;
        self.stream = Stream::TlsClient(Box::new(tls));
        Ok(discarded)
    }

    /// Upgrade to TLS as a client with the certificate verified for `host` against
    /// `trust_roots` (PEM; `None`: the system store, see [`crate::tls::client_config`]), as
    /// a mail client does after STARTTLS/STLS or on an implicit-TLS port.
    pub async fn upgrade_client_verified(
        &mut self,
        host: &str,
        trust_roots: Option<&std::path::Path>,
    ) -> Result<(), crate::tls::ClientTlsError> {
        let connector = crate::tls::connector(trust_roots)?;
        let name = crate::tls::server_name(host)?;
        self.upgrade_client_tls(&connector, name)
            .await
            .map_err(|source| crate::tls::ClientTlsError::Handshake {
                host: host.to_owned(),
                source,
            })?;
        Ok(())
    }

    fn discard_input(&mut self) -> usize {
        let n = self.rbuf.len();
        self.rbuf = BytesMut::new();
        n
    }

    /// Graceful close: flush, send FIN (and TLS close_notify), bounded by a short timeout.
    pub async fn close(mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            if let Stream::Tcp(tcp) = &self.stream {
                // Nothing to wait for: a plain TCP shutdown is one system call.
                return socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Write);
            }
        }
        let io = async {
            poll_fn(|cx| self.poll_write_out(cx)).await?;
            self.stream.shutdown().await
        };
        match tokio::time::timeout(CLOSE_TIMEOUT, io).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "close timed out")),
        }
    }

    /// Abortive close: discard queued output; TCP peers see a reset.
    pub fn abort(self) {
        if let Stream::Tcp(tcp) = &self.stream {
            // Best effort: a failure just means a normal close.
            let _ = tcp.set_zero_linger();
        }
    }

    /// Take the stream and any undecoded input back out (for protocols that hand the socket
    /// to something else, e.g. a proxy).
    pub fn into_parts(self) -> (Stream, BytesMut) {
        (self.stream, self.rbuf)
    }
}

/// Run `io`, failing with `TimedOut` if it does not finish within `idle`.
async fn within<T>(
    idle: Option<Duration>,
    io: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match idle {
        Some(d) => tokio::time::timeout(d, io)
            .await
            .map_err(|_| io::Error::from(Wait::Idle))?,
        None => io.await,
    }
}

/// Make room for a read of about `chunk` bytes (only when little is left).
fn reserve_chunk(rbuf: &mut BytesMut, chunk: usize) {
    if rbuf.capacity() - rbuf.len() < chunk / 4 {
        rbuf.reserve(chunk);
    }
}
