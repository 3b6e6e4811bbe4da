//! The UDP driver: one receive loop per socket (several sockets share the port with
//! SO_REUSEPORT so the kernel spreads queries over cores). Answers that need no waiting are
//! sent from the loop itself; recursive resolutions run in their own tasks, bounded in number.

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::handler::{Outcome, QueryHandler, Transport};

/// Largest datagram we read (the UDP maximum).
const MAX_DATAGRAM: usize = 65535;

/// Serve `sockets` until `shutdown`; at most `max_pending` recursive resolutions at a time
/// across all sockets (beyond that, queries needing recursion are dropped and the client
/// retries — the way resolvers shed load).
pub async fn serve_udp(
    sockets: Vec<UdpSocket>,
    handler: Arc<QueryHandler>,
    shutdown: CancellationToken,
    max_pending: usize,
) {
    let pending = Arc::new(Semaphore::new(max_pending.max(1)));
    let mut loops = tokio::task::JoinSet::new();
    for socket in sockets {
        loops.spawn(receive_loop(
            Arc::new(socket),
            handler.clone(),
            shutdown.clone(),
            pending.clone(),
        ));
    }
    while loops.join_next().await.is_some() {}
}

async fn receive_loop(
    socket: Arc<UdpSocket>,
    handler: Arc<QueryHandler>,
    shutdown: CancellationToken,
    pending: Arc<Semaphore>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut shed: u64 = 0;
    loop {
        let received = tokio::select! {
            () = shutdown.cancelled() => return,
            r = socket.recv_from(&mut buf) => r,
        };
        let (len, peer) = match received {
            Ok(r) => r,
            // ICMP port unreachable from an earlier reply and the like: not fatal.
            Err(e) => {
                debug!("udp receive: {e}");
                continue;
            }
        };
        match handler.handle_fast(&buf[..len], peer.ip(), Transport::Udp) {
            Outcome::Reply(reply) => {
                if let Err(e) = socket.send_to(&reply, peer).await {
                    debug!(%peer, "udp send: {e}");
                }
            }
            Outcome::Resolve(query) => match pending.clone().try_acquire_owned() {
                Ok(permit) => {
                    let (socket, handler) = (socket.clone(), handler.clone());
                    tokio::spawn(async move {
                        if let Some(reply) = handler.resolve(query).await {
                            let _ = socket.send_to(&reply, peer).await;
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
