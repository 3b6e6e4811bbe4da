//! The UDP driver: one receive loop per socket (several sockets share the port with
//! SO_REUSEPORT so the kernel spreads queries over cores). Answers that need no waiting are
//! sent from the loop itself; recursive resolutions run in their own tasks, bounded in number.
//!
//! Each receive loop is an OS thread of its own blocking in the kernel, as NSD's server
//! processes do: no readiness polling, `EAGAIN` reads or scheduler wake-ups in between (those
//! were ~13% of the server's CPU under load when the loops were tokio tasks), and the kernel
//! wakes the thread that owns the socket directly. Recursion still runs on the tokio runtime.
//!
//! On Linux the loop works in batches, so that under load the kernel's per-call cost is shared
//! by many queries: one `recvmmsg` with `MSG_WAITFORONE` returns at once with what is queued,
//! up to [`BATCH`], or blocks until the first datagram arrives and takes those queued behind
//! it. Every query of the batch is answered, and all the immediate replies leave in one
//! `sendmmsg`, each to its own datagram's peer. A queue of 32 costs two calls in all.
//!
//! The loop never waits to make batches larger. An earlier version yielded the CPU once
//! before blocking, so that clients on the same machine ran and queued more first: on the
//! 2-core bench that cut CPU per answer by ~20%, but it made the queries wait for the clients'
//! time slice — average latency at saturation 1.06–1.3× NSD's and Unbound's, against
//! 0.69–0.74× without it (BENCHMARKS.md, dns) — and on a server whose clients are elsewhere
//! the yield returns at once and saves nothing.
//! A short `sendmmsg` is resumed where it stopped; a reply the kernel refuses is dropped and the
//! rest still go (a client retries a lost answer, as it would a lost datagram).
//!
//! Replies are written into a pool of buffers, one per batch slot, handed back to the handler
//! with the next query of that slot: repeated questions are answered without allocating.
//!
//! The workspace forbids `unsafe`, so the system calls come from safe wrappers: `recvmmsg`
//! from `nix` (`rustix` has none), `sendmmsg` from `rustix`, which returns how many messages
//! went out. `nix` also has `sendmmsg`, but the count is only to be had by
//! iterating its results, and that iterator reads the (never written) source address slots of
//! its headers: uninitialised memory. Elsewhere than Linux the loop takes one datagram at a
//! time with `recv_from` / `send_to`.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::handler::{Outcome, Pending, QueryHandler, Transport};

/// Largest datagram we read (the UDP maximum).
const MAX_DATAGRAM: usize = 65535;

/// Most datagrams one receive call takes (and one send call returns). Each slot has a
/// [`MAX_DATAGRAM`] buffer: 2 MiB of address space per socket, of which only the pages that
/// datagrams touch (usually the first of each slot) become resident.
#[cfg(target_os = "linux")]
pub const BATCH: usize = 32;

/// How long a receive loop blocks before it looks at the shutdown token.
const SHUTDOWN_POLL: Duration = Duration::from_millis(200);

/// Longest a send may block (a full socket send buffer): the datagram (on Linux, the rest of
/// the batch's replies) is dropped after it.
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
            shed: 0,
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

/// The tokio socket as a blocking one, with the timeouts the receive loop relies on
/// (`SO_RCVTIMEO` and `SO_SNDTIMEO`, which bound `recvmmsg` and `sendmmsg` too).
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
    /// Queries dropped so far because too many resolutions were in flight.
    shed: u64,
}

impl Receiver {
    /// Answer one datagram from `peer`, writing into `buffer`: the reply to send now, if any.
    /// A query that needs recursion is resolved in a task of its own, which sends its reply.
    fn answer(&mut self, query: &[u8], peer: SocketAddr, buffer: Vec<u8>) -> Option<Vec<u8>> {
        match self
            .handler
            .handle_reusing(query, peer.ip(), Transport::Udp, buffer)
        {
            Outcome::Reply(reply) => Some(reply),
            Outcome::Resolve(query) => {
                self.resolve(query, peer);
                None
            }
            Outcome::Stream(_) | Outcome::Drop => None,
        }
    }

    /// Start the resolution of `query` on the runtime, unless too many are in flight.
    fn resolve(&mut self, query: Box<Pending>, peer: SocketAddr) {
        match self.pending.clone().try_acquire_owned() {
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
                self.shed += 1;
                if self.shed.is_power_of_two() {
                    warn!(
                        "too many recursive queries in flight: dropped {} so far",
                        self.shed
                    );
                }
            }
        }
    }

    /// Batches: one `recvmmsg`, the answers, one `sendmmsg` (see the module docs).
    #[cfg(target_os = "linux")]
    fn run(mut self) {
        use nix::errno::Errno;

        let mut inbox = batch::Inbox::new();
        let mut outbox = batch::Outbox::new();
        while !self.shutdown.is_cancelled() {
            let count = match inbox.receive(&self.socket) {
                Ok(count) => count,
                // The read timeout (look at the shutdown token) or a signal.
                Err(Errno::EAGAIN | Errno::ETIMEDOUT | Errno::EINTR) => continue,
                // ICMP port unreachable from an earlier reply and the like: not fatal.
                Err(e) => {
                    debug!("udp receive: {e}");
                    continue;
                }
            };
            for slot in 0..count {
                let Some((query, peer)) = inbox.datagram(slot) else {
                    continue;
                };
                if let Some(reply) = self.answer(query, peer, outbox.take_buffer(slot)) {
                    outbox.push(slot, reply, peer);
                }
            }
            outbox.send(&self.socket);
        }
    }

    /// One datagram at a time: `recv_from`, the answer, `send_to`.
    #[cfg(not(target_os = "linux"))]
    fn run(mut self) {
        use std::io::ErrorKind;

        let mut buf = vec![0u8; MAX_DATAGRAM];
        // The previous reply's buffer, handed back to the handler (no allocation per answer).
        let mut reply_buf = Vec::with_capacity(512);
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
            let buffer = std::mem::take(&mut reply_buf);
            if let Some(reply) = self.answer(&buf[..len], peer, buffer) {
                if let Err(e) = self.socket.send_to(&reply, peer) {
                    debug!(%peer, "udp send: {e}");
                }
                reply_buf = reply;
            }
        }
    }
}

/// The buffers and headers of batched I/O, kept across batches (no allocation per batch).
#[cfg(target_os = "linux")]
mod batch {
    use std::io::{IoSlice, IoSliceMut};
    use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
    use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
    use tracing::debug;

    use super::{BATCH, MAX_DATAGRAM, SEND_TIMEOUT};

    /// Where a batch of queries is received.
    pub(super) struct Inbox {
        /// The `mmsghdr` array and the source-address slots it points at. Reused across calls:
        /// the kernel turns each slot's address capacity into the length it wrote, which stays
        /// right because every address on one socket has the same length (an IPv6 socket
        /// reports IPv4 peers as mapped IPv6 addresses).
        headers: MultiHeaders<SockaddrStorage>,
        /// [`BATCH`] slots of [`MAX_DATAGRAM`] bytes, end to end.
        buffers: Vec<u8>,
        /// Length and peer of each datagram of the last batch.
        received: [(usize, Option<SocketAddr>); BATCH],
    }

    impl Inbox {
        pub(super) fn new() -> Self {
            Self {
                headers: MultiHeaders::preallocate(BATCH, None),
                buffers: vec![0; BATCH * MAX_DATAGRAM],
                received: [(0, None); BATCH],
            }
        }

        /// Take up to [`BATCH`] queued datagrams, blocking until at least one is queued (or
        /// the socket's read timeout: `EAGAIN`): how many.
        pub(super) fn receive(&mut self, socket: &StdUdpSocket) -> nix::Result<usize> {
            let mut chunks = self.buffers.chunks_exact_mut(MAX_DATAGRAM);
            let mut slices: [[IoSliceMut<'_>; 1]; BATCH] =
                std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
            let results = recvmmsg(
                socket.as_raw_fd(),
                &mut self.headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            )?;
            let mut count = 0;
            for (slot, message) in self.received.iter_mut().zip(results) {
                *slot = (message.bytes, message.address.and_then(std_address));
                count += 1;
            }
            Ok(count)
        }

        /// The bytes and sender of datagram `slot` of the last batch (none if its sender is
        /// not an IP address, which a UDP socket never reports).
        pub(super) fn datagram(&self, slot: usize) -> Option<(&[u8], SocketAddr)> {
            let (len, peer) = *self.received.get(slot)?;
            let bytes = self.buffers.get(slot * MAX_DATAGRAM..)?.get(..len)?;
            Some((bytes, peer?))
        }
    }

    fn std_address(address: SockaddrStorage) -> Option<SocketAddr> {
        match address.as_sockaddr_in() {
            Some(v4) => Some(SocketAddr::from(*v4)),
            None => address.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6)),
        }
    }

    /// One reply waiting in the outbox.
    struct Outgoing {
        /// The batch slot whose buffer holds the reply.
        slot: usize,
        peer: SocketAddr,
        /// `peer` as `sendmmsg` takes it.
        to: SocketAddrAny,
    }

    /// The replies of a batch, and the pool of reply buffers (one per batch slot).
    pub(super) struct Outbox {
        buffers: [Vec<u8>; BATCH],
        queue: Vec<Outgoing>,
    }

    impl Outbox {
        pub(super) fn new() -> Self {
            Self {
                buffers: std::array::from_fn(|_| Vec::with_capacity(512)),
                queue: Vec::with_capacity(BATCH),
            }
        }

        /// Slot `slot`'s buffer, for the handler to write the next reply into (it comes back
        /// with [`push`](Self::push); a query with no immediate reply leaves the slot empty
        /// until a later reply refills it).
        pub(super) fn take_buffer(&mut self, slot: usize) -> Vec<u8> {
            self.buffers
                .get_mut(slot)
                .map(std::mem::take)
                .unwrap_or_default()
        }

        /// Queue `reply` to `peer`, kept in slot `slot`.
        pub(super) fn push(&mut self, slot: usize, reply: Vec<u8>, peer: SocketAddr) {
            if let Some(buffer) = self.buffers.get_mut(slot) {
                *buffer = reply;
                self.queue.push(Outgoing {
                    slot,
                    peer,
                    to: SocketAddrAny::from(peer),
                });
            }
        }

        /// Send every queued reply, as few `sendmmsg` calls as the kernel allows, and empty
        /// the queue (the buffers stay, for the next batch).
        pub(super) fn send(&mut self, socket: &StdUdpSocket) {
            let total = self.queue.len();
            if total == 0 {
                return;
            }
            let (queue, buffers) = (&self.queue, &self.buffers);
            let iovs: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|i| {
                let bytes = queue
                    .get(i)
                    .and_then(|out| buffers.get(out.slot))
                    .map_or(&[][..], Vec::as_slice);
                [IoSlice::new(bytes)]
            });
            let mut controls: [SendAncillaryBuffer<'_, '_, '_>; BATCH] =
                std::array::from_fn(|_| SendAncillaryBuffer::default());
            let mut index = 0;
            let mut messages = controls.each_mut().map(|control| {
                let i = index;
                index += 1;
                match (queue.get(i), iovs.get(i)) {
                    (Some(out), Some(iov)) => MMsgHdr::new_with_addr(&out.to, iov, control),
                    (_, iov) => MMsgHdr::new(iov.map_or(&[][..], |iov| &iov[..]), control),
                }
            });
            let mut next = 0;
            while next < total {
                let Some(rest) = messages.get_mut(next..total) else {
                    break;
                };
                match sendmmsg(socket, rest, SendFlags::empty()) {
                    // Only for an empty batch, which this is not; stop rather than spin.
                    Ok(0) => break,
                    // All sent, or the kernel stopped short: resume after the last one sent.
                    Ok(sent) => next += sent,
                    Err(e) if e == rustix::io::Errno::INTR => {}
                    // The send timeout with the socket's buffer still full: waiting as long
                    // again for each remaining reply would only stall the receive loop.
                    Err(e) if e == rustix::io::Errno::AGAIN => {
                        debug!(
                            "udp send: socket buffer full for {SEND_TIMEOUT:?}: dropped {} replies",
                            total - next
                        );
                        break;
                    }
                    // This reply cannot go (the kernel refused its first message): drop it.
                    Err(e) => {
                        if let Some(out) = queue.get(next) {
                            debug!(peer = %out.peer, "udp send: {e}");
                        }
                        next += 1;
                    }
                }
            }
            self.queue.clear();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::str::FromStr;

    use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::{Name, RecordType};

    use super::*;
    use crate::server::Catalog;
    use crate::zone::parser::parse_zone_str;
    use crate::zone::Zone;

    /// How long a test waits for any one answer.
    const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

    fn handler() -> Arc<QueryHandler> {
        let text = "$TTL 300\n@ IN SOA ns hm 1 7200 900 1209600 60\n@ IN NS ns\n\
                    ns IN A 192.0.2.53\nwww IN A 192.0.2.80\n";
        let origin = Name::from_str("example.test.").unwrap();
        let parsed = parse_zone_str(text, &origin, "t").unwrap();
        let zone = Zone::from_records(parsed.origin, parsed.records).unwrap();
        Arc::new(QueryHandler::new(Catalog::new(vec![zone])))
    }

    /// A query with `id`: `www.example.test. A` (answered) when `id` is even, a name that does
    /// not exist (NXDOMAIN) when odd, so answers of neighbouring queries differ.
    fn query(id: u16) -> Vec<u8> {
        let name = if id.is_multiple_of(2) {
            "www.example.test.".to_owned()
        } else {
            format!("n{id}.example.test.")
        };
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(Name::from_str(&name).unwrap(), RecordType::A));
        m.to_vec().unwrap()
    }

    /// Check that `reply` is the answer to [`query`]`(id)`.
    fn check_answer(reply: &Message, id: u16) {
        assert_eq!(reply.metadata.message_type, MessageType::Response);
        assert_eq!(reply.queries.len(), 1, "{reply:?}");
        if id.is_multiple_of(2) {
            assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
            assert_eq!(reply.answers.len(), 1, "{reply:?}");
        } else {
            assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
            let expected = format!("n{id}.example.test.");
            assert_eq!(reply.queries[0].name().to_string(), expected);
        }
    }

    /// `serve_udp` on its own runtime, over sockets that may already hold queued queries.
    struct Running {
        runtime: tokio::runtime::Runtime,
        shutdown: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    fn serve(sockets: Vec<StdUdpSocket>) -> Running {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shutdown = CancellationToken::new();
        let sockets = {
            let _entered = runtime.enter();
            sockets
                .into_iter()
                .map(|s| {
                    s.set_nonblocking(true).unwrap();
                    UdpSocket::from_std(s).unwrap()
                })
                .collect()
        };
        let task = runtime.spawn(serve_udp(sockets, handler(), shutdown.clone(), 8));
        Running {
            runtime,
            shutdown,
            task,
        }
    }

    impl Running {
        /// Cancel, and check that every receive loop ends (within a few read timeouts).
        fn stop(self) {
            self.shutdown.cancel();
            let Running { runtime, task, .. } = self;
            runtime
                .block_on(async { tokio::time::timeout(ANSWER_TIMEOUT, task).await })
                .expect("the receive loops stop after shutdown")
                .unwrap();
        }
    }

    fn bind(ip: IpAddr) -> StdUdpSocket {
        let socket = StdUdpSocket::bind((ip, 0)).unwrap();
        socket.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        socket
    }

    /// Read datagrams on `client` until `count` arrived: (sender, id, message) of each.
    fn read_answers(client: &StdUdpSocket, count: usize) -> Vec<(SocketAddr, Message)> {
        let mut buf = [0u8; 4096];
        (0..count)
            .map(|i| {
                let (len, from) = client
                    .recv_from(&mut buf)
                    .unwrap_or_else(|e| panic!("answer {i} of {count}: {e}"));
                (from, Message::from_vec(&buf[..len]).unwrap())
            })
            .collect()
    }

    fn ids(answers: &[(SocketAddr, Message)]) -> BTreeSet<u16> {
        answers.iter().map(|(_, m)| m.metadata.id).collect()
    }

    #[test]
    fn answers_every_query_of_a_burst_sent_before_reading() {
        let server = bind(Ipv4Addr::LOCALHOST.into());
        let addr = server.local_addr().unwrap();
        let client = bind(Ipv4Addr::LOCALHOST.into());
        // Queued before the loop starts: its receive calls find batches of 32, 32, 32 and 4.
        for id in 1..=100 {
            client.send_to(&query(id), addr).unwrap();
        }
        let running = serve(vec![server]);
        let answers = read_answers(&client, 100);
        assert_eq!(ids(&answers), (1..=100).collect());
        for (from, reply) in &answers {
            assert_eq!(*from, addr);
            check_answer(reply, reply.metadata.id);
        }
        running.stop();
    }

    #[test]
    fn answers_bursts_while_serving() {
        let server = bind(Ipv4Addr::LOCALHOST.into());
        let addr = server.local_addr().unwrap();
        let running = serve(vec![server]);
        let client = bind(Ipv4Addr::LOCALHOST.into());
        for burst in 0..10u16 {
            let first = burst * 50;
            for id in first..first + 50 {
                client.send_to(&query(id), addr).unwrap();
            }
            let answers = read_answers(&client, 50);
            assert_eq!(ids(&answers), (first..first + 50).collect());
            for (_, reply) in &answers {
                check_answer(reply, reply.metadata.id);
            }
        }
        running.stop();
    }

    #[test]
    fn replies_of_one_batch_go_each_to_its_own_peer() {
        let server = bind(Ipv4Addr::LOCALHOST.into());
        let addr = server.local_addr().unwrap();
        let clients: Vec<StdUdpSocket> = (0..8).map(|_| bind(Ipv4Addr::LOCALHOST.into())).collect();
        // Interleaved: every batch holds queries of every client.
        for k in 0..6u16 {
            for (c, client) in (0u16..).zip(&clients) {
                client.send_to(&query(c * 100 + k), addr).unwrap();
            }
        }
        let running = serve(vec![server]);
        for (c, client) in (0u16..).zip(&clients) {
            let answers = read_answers(client, 6);
            assert_eq!(ids(&answers), (0..6).map(|k| c * 100 + k).collect());
            for (_, reply) in &answers {
                check_answer(reply, reply.metadata.id);
            }
        }
        // Nothing else for anyone: no reply went to the wrong peer.
        for client in &clients {
            client
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut buf = [0u8; 512];
            assert!(client.recv_from(&mut buf).is_err());
        }
        running.stop();
    }

    /// A UDP socket on `[::]`, port 0, that takes IPv4 peers too (as mapped addresses) whatever
    /// the system default; `None` without IPv6.
    fn dual_stack() -> Option<StdUdpSocket> {
        #[cfg(target_os = "linux")]
        {
            use nix::sys::socket::{
                bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn6,
            };
            use std::net::SocketAddrV6;
            use std::os::fd::AsRawFd;

            let fd = socket(
                AddressFamily::Inet6,
                SockType::Datagram,
                SockFlag::empty(),
                None,
            )
            .ok()?;
            // Before bind: the kernel refuses to change it after.
            setsockopt(&fd, sockopt::Ipv6V6Only, &false).ok()?;
            let any = SockaddrIn6::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0));
            bind(fd.as_raw_fd(), &any).ok()?;
            Some(StdUdpSocket::from(fd))
        }
        #[cfg(not(target_os = "linux"))]
        {
            StdUdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).ok()
        }
    }

    #[test]
    fn serves_ipv4_and_ipv6_peers_in_one_batch() {
        let v4_server = bind(Ipv4Addr::LOCALHOST.into());
        let Some(v6_server) = dual_stack() else {
            eprintln!("no IPv6 here: test skipped");
            return;
        };
        let v4_addr = v4_server.local_addr().unwrap();
        let v6_port = v6_server.local_addr().unwrap().port();
        let v6_addr = SocketAddr::from((Ipv6Addr::LOCALHOST, v6_port));
        let mapped_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, v6_port));
        let client4 = bind(Ipv4Addr::LOCALHOST.into());
        let Ok(client6) = StdUdpSocket::bind((Ipv6Addr::LOCALHOST, 0)) else {
            eprintln!("no IPv6 loopback here: test skipped");
            return;
        };
        client6.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        for k in 0..10u16 {
            client4.send_to(&query(k), v4_addr).unwrap();
            // The dual-stack socket's batches mix both families.
            client6.send_to(&query(100 + k), v6_addr).unwrap();
            client4.send_to(&query(200 + k), mapped_addr).unwrap();
        }
        let running = serve(vec![v4_server, v6_server]);
        let answers4 = read_answers(&client4, 20);
        let expected: BTreeSet<u16> = (0..10).chain(200..210).collect();
        assert_eq!(ids(&answers4), expected);
        for (from, reply) in &answers4 {
            let id = reply.metadata.id;
            assert_eq!(*from, if id < 100 { v4_addr } else { mapped_addr });
            check_answer(reply, id);
        }
        let answers6 = read_answers(&client6, 10);
        assert_eq!(ids(&answers6), (100..110).collect());
        for (from, reply) in &answers6 {
            assert_eq!(*from, v6_addr);
            check_answer(reply, reply.metadata.id);
        }
        running.stop();
    }

    #[test]
    fn malformed_datagrams_in_a_batch_lose_no_other_answer() {
        let server = bind(Ipv4Addr::LOCALHOST.into());
        let addr = server.local_addr().unwrap();
        let client = bind(Ipv4Addr::LOCALHOST.into());
        // A response (never answered), as a reflection attacker would send.
        let mut response = Message::new(9001, MessageType::Response, OpCode::Query);
        response.add_query(Query::query(
            Name::from_str("www.example.test.").unwrap(),
            RecordType::A,
        ));
        let junk: [Vec<u8>; 5] = [
            vec![0xde, 0xad],                                           // shorter than a header
            Vec::new(),                                                 // empty datagram
            response.to_vec().unwrap(),                                 // not a query
            vec![0x23, 0x29, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff], // a question cut short
            vec![0xff; 600],                                            // noise
        ];
        let mut valid = BTreeSet::new();
        for (id, junk) in (1u16..).zip(&junk) {
            client.send_to(&query(id * 2), addr).unwrap();
            client.send_to(junk, addr).unwrap();
            client.send_to(&query(id * 2 + 1), addr).unwrap();
            valid.extend([id * 2, id * 2 + 1]);
        }
        let running = serve(vec![server]);
        // Junk may draw an error reply (FORMERR) of its own: read until every valid query
        // has its answer, and check those.
        let mut seen = BTreeSet::new();
        let mut buf = [0u8; 4096];
        while seen != valid {
            let (len, _) = client.recv_from(&mut buf).unwrap_or_else(|e| {
                panic!("answers of {:?} missing: {e}", valid.difference(&seen))
            });
            let Ok(reply) = Message::from_vec(&buf[..len]) else {
                continue;
            };
            let id = reply.metadata.id;
            if valid.contains(&id) {
                check_answer(&reply, id);
                assert!(seen.insert(id), "two answers to query {id}");
            }
        }
        running.stop();
    }

    /// A reply the kernel refuses (here: to port 0, EINVAL) is dropped; the replies queued
    /// before and after it in the same batch still go, in as few calls as the kernel allows.
    #[cfg(target_os = "linux")]
    #[test]
    fn outbox_drops_a_refused_reply_and_sends_the_rest() {
        let sender = bind(Ipv4Addr::LOCALHOST.into());
        let receiver = bind(Ipv4Addr::LOCALHOST.into());
        let good = receiver.local_addr().unwrap();
        let refused = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        // An IPv6 destination on an IPv4 socket is refused too.
        let wrong_family = SocketAddr::from((Ipv6Addr::LOCALHOST, good.port()));
        let mut outbox = batch::Outbox::new();
        let peers = [good, refused, good, good, wrong_family, refused, good];
        for (slot, peer) in peers.iter().enumerate() {
            let mut reply = outbox.take_buffer(slot);
            reply.clear();
            reply.extend_from_slice(&[u8::try_from(slot).unwrap(); 3]);
            outbox.push(slot, reply, *peer);
        }
        outbox.send(&sender);
        let mut buf = [0u8; 16];
        let mut got = Vec::new();
        for _ in 0..4 {
            let (len, _) = receiver.recv_from(&mut buf).unwrap();
            assert_eq!(len, 3);
            got.push(buf[0]);
        }
        assert_eq!(got, [0, 2, 3, 6]);
        // The queue is empty afterwards and the buffers stay for the next batch.
        outbox.send(&sender);
        receiver
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        assert!(receiver.recv_from(&mut buf).is_err());
        assert_eq!(outbox.take_buffer(3), [3, 3, 3]);
    }

    #[test]
    fn stops_without_traffic() {
        let running = serve(vec![bind(Ipv4Addr::LOCALHOST.into())]);
        std::thread::sleep(SHUTDOWN_POLL);
        running.stop();
    }
}
