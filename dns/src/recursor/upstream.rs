//! How the recursor and the forwarder reach other servers: the [`Upstream`] trait, so that tests
//! can put a fake network in its place, and [`NetworkUpstream`], the real one.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};

use crate::client::exchange::{exchange, ExchangeError, ExchangeOptions, DEFAULT_EDNS_PAYLOAD};

/// Default time to wait for one upstream server before trying the next one.
pub const DEFAULT_SERVER_TIMEOUT: Duration = Duration::from_millis(1500);

/// Sends one query to one server and returns its response, whatever the RCODE.
///
/// Implementations must only return a response that matches the query (ID, question and
/// source address, RFC 5452); [`NetworkUpstream`] does so through
/// [`exchange`].
pub trait Upstream: Send + Sync + 'static {
    /// Asks `server` for `name`/`rtype` (class IN). `recursion_desired` sets RD: off for
    /// iteration (the recursor), on when forwarding to a recursive resolver.
    fn query(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        recursion_desired: bool,
    ) -> impl Future<Output = Result<Message, ExchangeError>> + Send;
}

/// The real network: one UDP exchange per query (random ID, fresh random source port,
/// connected socket; TCP when truncated), with EDNS(0) advertising 1232 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkUpstream {
    /// Time allowed for each server.
    pub timeout: Duration,
    /// Replaces the port of every server address. Name servers are always reached on port
    /// 53; this lets a test hierarchy on the loopback interface listen elsewhere (the hidden
    /// `--upstream-port` flag). `None` in normal use.
    pub port_override: Option<u16>,
}

impl Default for NetworkUpstream {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_SERVER_TIMEOUT,
            port_override: None,
        }
    }
}

impl NetworkUpstream {
    /// Queries with `timeout` per server, to the addresses given.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            port_override: None,
        }
    }

    /// Sends every query to `port` instead of the server address's own port.
    pub fn with_port_override(mut self, port: Option<u16>) -> Self {
        self.port_override = port;
        self
    }

    /// The address a query for `server` actually goes to.
    pub fn target(&self, mut server: SocketAddr) -> SocketAddr {
        if let Some(port) = self.port_override {
            server.set_port(port);
        }
        server
    }
}

impl Upstream for NetworkUpstream {
    async fn query(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        recursion_desired: bool,
    ) -> Result<Message, ExchangeError> {
        let opts = ExchangeOptions {
            timeout: self.timeout,
            tcp: false,
            edns_payload: Some(DEFAULT_EDNS_PAYLOAD),
            recursion_desired,
        };
        exchange(self.target(server), name, rtype, &opts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_override_replaces_the_port() {
        let server: SocketAddr = "192.0.2.1:53".parse().unwrap();
        assert_eq!(NetworkUpstream::default().target(server), server);
        let up = NetworkUpstream::default().with_port_override(Some(5353));
        assert_eq!(up.target(server), "192.0.2.1:5353".parse().unwrap());
        let v6: SocketAddr = "[2001:db8::1]:53".parse().unwrap();
        assert_eq!(up.target(v6), "[2001:db8::1]:5353".parse().unwrap());
    }
}
