//! The UDP driver: one receive loop per socket (several sockets share the port with
//! SO_REUSEPORT so the kernel spreads queries over cores). Answers that need no waiting are
//! sent from the loop itself; recursive resolutions run in their own tasks, bounded in number.
//!
//! Each receive loop is an OS thread of its own blocking in `recvfrom`, as NSD's server
//! processes do: a query costs exactly one `recvfrom` and one `sendto`, with no readiness
//! polling, `EAGAIN` reads or scheduler wake-ups in between (those were ~13% of the server's
//! CPU under load when the loops were tokio tasks), and the kernel wakes the thread that owns
//! the socket directly. Recursion still runs on the tokio runtime.

use std::io::ErrorKind;
use std::net::UdpSocket as StdUdpSocket;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::handler::{Outcome, QueryHandler, Transport};

/// Largest datagram we read (the UDP maximum).
const MAX_DATAGRAM: usize = 65535;

/// How long a receive loop blocks before it looks at the shutdown token.
const SHUTDOWN_POLL: Duration = Duration::from_millis(200);

/// Longest a `sendto` may block (a full socket send buffer): the datagram is dropped after it.
const SEND_TIMEOUT: Duration = Duration::from_millis(100);

/// Serve `sockets` until `shutdown`; at most `max_pending` recursive resolutions at a time
/// across all sockets (beyond that, queries needing recursion are dropped and the client
/// retries — the way resolvers shed load). Must be called within a tokio runtime, which runs
/// the resolutions.
pub async fn serve_udp(
    sockets: Vec<UdpSocket>,
    handler: Arc<QueryHandler>,
    shutdown: CancellationToken,
    max_pending: usize,
) {
    let pending = Arc::new(Semaphore::new(max_pending.max(1)));
    let runtime = Handle::current();
    let mut done = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let socket = match blocking(socket) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                warn!("udp socket {i}: cannot switch to blocking mode: {e}");
                continue;
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let receiver = Receiver {
            socket,
            handler: handler.clone(),
            shutdown: shutdown.clone(),
            pending: pending.clone(),
            runtime: runtime.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("dns-udp-{i}"))
            .spawn(move || {
                receiver.run();
                drop(tx);
            });
        match spawned {
            Ok(_) => done.push(rx),
            Err(e) => warn!("udp socket {i}: cannot start its receive thread: {e}"),
        }
    }
    for rx in done {
        // The sender is dropped when the thread ends (normally or by panic).
        let _ = rx.await;
    }
}

/// The tokio socket as a blocking one, with the timeouts the receive loop relies on.
fn blocking(socket: UdpSocket) -> std::io::Result<StdUdpSocket> {
    let socket = socket.into_std()?;
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(SHUTDOWN_POLL))?;
    socket.set_write_timeout(Some(SEND_TIMEOUT))?;
    Ok(socket)
}

/// One socket's receive loop.
struct Receiver {
    socket: Arc<StdUdpSocket>,
    handler: Arc<QueryHandler>,
    shutdown: CancellationToken,
    pending: Arc<Semaphore>,
    runtime: Handle,
}

impl Receiver {
    fn run(self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        // The previous reply's buffer, handed back to the handler (no allocation per answer).
        let mut reply_buf = Vec::with_capacity(512);
        let mut shed: u64 = 0;
        while !self.shutdown.is_cancelled() {
            let (len, peer) = match self.socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue; // the read timeout: look at the shutdown token
                }
                // ICMP port unreachable from an earlier reply and the like: not fatal.
                Err(e) => {
                    debug!("udp receive: {e}");
                    continue;
                }
            };
            match self.handler.handle_reusing(
                &buf[..len],
                peer.ip(),
                Transport::Udp,
                std::mem::take(&mut reply_buf),
            ) {
                Outcome::Reply(reply) => {
                    if let Err(e) = self.socket.send_to(&reply, peer) {
                        debug!(%peer, "udp send: {e}");
                    }
                    reply_buf = reply;
                }
                Outcome::Resolve(query) => match self.pending.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let (socket, handler) = (self.socket.clone(), self.handler.clone());
                        self.runtime.spawn(async move {
                            if let Some(reply) = handler.resolve(query).await {
                                // Blocks at most SEND_TIMEOUT, and only with a full buffer.
                                if let Err(e) = socket.send_to(&reply, peer) {
                                    debug!(%peer, "udp send: {e}");
                                }
                            }
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        shed += 1;
                        if shed.is_power_of_two() {
                            warn!("too many recursive queries in flight: dropped {shed} so far");
                        }
                    }
                },
                Outcome::Stream(_) | Outcome::Drop => {}
            }
        }
    }
}
