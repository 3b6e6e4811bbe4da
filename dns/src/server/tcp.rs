//! The TCP driver (RFC 7766): length-prefixed messages, pipelined queries answered as they
//! complete (out of order allowed, §6.2.1.1), a short idle timeout, and the runner's
//! connection limits. The timeouts are the runner's (`--idle-timeout`), by default
//! [`TCP_IDLE_TIMEOUT`] for the idle wait, a stalled write and the completion of one
//! length-prefixed message (credited at the minimum data rate): a client trickling a
//! 65,535-byte message a byte at a time is closed, not kept for hours.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use torsion_core::framing::LengthPrefixedCodec;
use torsion_core::runner::Limits;
use torsion_core::{Connection, Service};

use super::handler::{Outcome, QueryHandler, Transport};
use super::zones::ZoneSet;

/// Default idle time before an open DNS TCP connection is closed (RFC 7766 §6.2.3: "it is
/// RECOMMENDED that the default application-level idle period be of the order of seconds").
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Queries of one connection resolving at the same time; more wait to be read.
pub const MAX_PIPELINED: usize = 32;
/// How long a closing client's outstanding answers are still awaited.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// DNS over TCP as a torsion-core service.
#[derive(Debug)]
pub struct DnsTcp {
    handler: Arc<QueryHandler>,
    zones: Arc<ZoneSet>,
}

impl DnsTcp {
    /// Serve `handler` over TCP; SIGHUP reloads `zones` into it.
    pub fn new(handler: Arc<QueryHandler>, zones: Arc<ZoneSet>) -> Self {
        DnsTcp { handler, zones }
    }

    /// The default timeouts of DNS over TCP (the flags lay over them).
    pub fn standard_limits() -> Limits {
        Limits {
            idle_timeout: Some(TCP_IDLE_TIMEOUT),
            write_timeout: Some(TCP_IDLE_TIMEOUT),
            frame_timeout: Some(TCP_IDLE_TIMEOUT),
            ..Limits::default()
        }
    }
}

impl Service for DnsTcp {
    fn protocol(&self) -> &'static str {
        "dns"
    }

    /// SIGHUP: re-read the zone files (UDP and TCP share the handler, so both see them).
    fn reload(&self) -> Result<(), String> {
        if !self.zones.is_empty() {
            let previous = self.handler.catalog();
            self.handler.replace_catalog(self.zones.reload(&previous));
            tracing::info!(
                "serving {} zone(s) after reload",
                self.handler.catalog().zones().len()
            );
        }
        Ok(())
    }

    fn default_limits(&self) -> Limits {
        DnsTcp::standard_limits()
    }

    async fn handle(self: Arc<Self>, mut conn: Connection) {
        let client = conn.peer().ip().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let mut codec = LengthPrefixedCodec::dns();
        let (done_tx, mut done_rx) = mpsc::channel::<Vec<u8>>(MAX_PIPELINED);
        let mut outstanding = 0usize;
        loop {
            tokio::select! {
                frame = conn.read_frame(&mut codec), if outstanding < MAX_PIPELINED => {
                    let Ok(Some(message)) = frame else { break };
                    match self.handler.handle_fast(&message, client, Transport::Tcp) {
                        Outcome::Reply(reply) => {
                            if conn.feed_frame(&mut codec, reply).await.is_err() {
                                return;
                            }
                        }
                        Outcome::Stream(replies) => {
                            for reply in replies {
                                if conn.feed_frame(&mut codec, reply).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Outcome::Resolve(query) => {
                            outstanding += 1;
                            let (handler, done) = (self.handler.clone(), done_tx.clone());
                            tokio::spawn(async move {
                                let reply = handler.resolve(query).await.unwrap_or_default();
                                let _ = done.send(reply).await;
                            });
                        }
                        Outcome::Drop => {}
                    }
                }
                Some(reply) = done_rx.recv() => {
                    outstanding -= 1;
                    if !reply.is_empty() && conn.feed_frame(&mut codec, reply).await.is_err() {
                        return;
                    }
                    // Nothing is read while this branch runs, so flush here.
                    if conn.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
        // The client closed (or went idle): still deliver what it asked for.
        let drain = async {
            while outstanding > 0 {
                let Some(reply) = done_rx.recv().await else {
                    break;
                };
                outstanding -= 1;
                if !reply.is_empty() && conn.feed_frame(&mut codec, reply).await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
        let _ = conn.close().await;
    }
}
