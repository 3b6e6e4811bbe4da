//! One query, one server, one response: the transport under the resolver.
//!
//! Spoofing resistance follows RFC 5452: every query gets a random 16-bit ID and a fresh UDP
//! socket on a kernel-chosen port (§9.2, §10), the socket is `connect()`ed so the kernel drops
//! datagrams from any other address, and [`accept_response`] accepts only the matching response;
//! anything else is ignored while we keep waiting, up to [`MAX_IGNORED_DATAGRAMS`].
//!
//! A truncated UDP response (TC=1) is retried over TCP (RFC 1035 §4.2.1, RFC 7766 §5), where
//! messages carry a two-byte big-endian length prefix (RFC 1035 §4.2.2).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};
use tracing::debug;

use super::validate::{accept_response, Rejection};

/// EDNS UDP payload size we advertise by default: the DNS Flag Day 2020 value, which avoids IP
/// fragmentation on practically every path.
pub const DEFAULT_EDNS_PAYLOAD: u16 = 1232;

/// Default time to wait for one server's response.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest DNS message over either transport: the TCP length prefix is 16 bits, and a UDP
/// datagram cannot be larger. It is also the UDP receive buffer size.
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// Datagrams that are not our response (wrong ID, wrong question, junk) ignored before giving
/// up on a UDP exchange: a flood of forgeries should not keep a query alive or busy forever.
pub const MAX_IGNORED_DATAGRAMS: usize = 64;

/// How to carry out one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeOptions {
    /// Time allowed for each transport: the UDP exchange, then, if it came back truncated,
    /// the TCP connect, send and receive together.
    pub timeout: Duration,
    /// Use TCP only (like `dig +tcp`).
    pub tcp: bool,
    /// Advertise EDNS(0) with this UDP payload size (RFC 6891); `None` sends no OPT record.
    /// Used by [`exchange`]; a caller-built query keeps its own.
    pub edns_payload: Option<u16>,
    /// Set RD, asking the server to recurse. Used by [`exchange`].
    pub recursion_desired: bool,
}

impl Default for ExchangeOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            tcp: false,
            edns_payload: Some(DEFAULT_EDNS_PAYLOAD),
            recursion_desired: true,
        }
    }
}

/// Why an exchange produced no response.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// No acceptable response before the timeout.
    #[error("{server}: no response within {timeout:?} ({ignored} unmatched datagrams ignored)")]
    Timeout {
        /// The server queried.
        server: SocketAddr,
        /// The timeout that expired.
        timeout: Duration,
        /// Datagrams received and ignored because they did not match the query.
        ignored: usize,
    },
    /// A socket error, e.g. ICMP port unreachable (`ConnectionRefused`) or a refused TCP connect.
    #[error("{server}: {source}")]
    Io {
        /// The server queried.
        server: SocketAddr,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The server's response (ID and question matched) does not decode.
    #[error("{server}: malformed response: {reason}")]
    Malformed {
        /// The server queried.
        server: SocketAddr,
        /// What the decoder said.
        reason: String,
    },
    /// The server answered something else than our query (TCP), or flooded us with
    /// non-matching datagrams (UDP).
    #[error("{server}: response does not match the query: {reason}")]
    Mismatch {
        /// The server queried.
        server: SocketAddr,
        /// What did not match.
        reason: String,
    },
    /// The query itself could not be encoded (or is over 65535 bytes).
    #[error("cannot encode the query: {reason}")]
    Encode {
        /// What the encoder said.
        reason: String,
    },
}

impl ExchangeError {
    /// The server this error is about, if any.
    pub fn server(&self) -> Option<SocketAddr> {
        match self {
            Self::Timeout { server, .. }
            | Self::Io { server, .. }
            | Self::Malformed { server, .. }
            | Self::Mismatch { server, .. } => Some(*server),
            Self::Encode { .. } => None,
        }
    }

    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }
}

/// Builds a standard query for `name`/`rtype` (class IN) with the RD flag and EDNS payload from
/// `opts`. The ID is left 0; [`exchange_message`] randomises it.
pub fn build_query(name: &Name, rtype: RecordType, opts: &ExchangeOptions) -> Message {
    let mut query = Message::new(0, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = opts.recursion_desired;
    query.add_query(Query::query(name.clone(), rtype));
    if let Some(payload) = opts.edns_payload {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        query.set_edns(edns);
    }
    query
}

/// Asks `server` for `name`/`rtype` (class IN) and returns its response, whatever its RCODE.
pub async fn exchange(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    opts: &ExchangeOptions,
) -> Result<Message, ExchangeError> {
    exchange_message(server, build_query(name, rtype, opts), opts).await
}

/// Sends a caller-built query to `server` and returns the matching response. The ID is
/// replaced by a fresh random one; everything else is sent as built. Only `opts.timeout` and
/// `opts.tcp` apply.
pub async fn exchange_message(
    server: SocketAddr,
    mut query: Message,
    opts: &ExchangeOptions,
) -> Result<Message, ExchangeError> {
    query.metadata.id = rand::random::<u16>();
    query.metadata.message_type = MessageType::Query;
    let bytes = query.to_vec().map_err(|e| ExchangeError::Encode {
        reason: e.to_string(),
    })?;
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(ExchangeError::Encode {
            reason: format!("{} bytes is over {MAX_MESSAGE_LEN}", bytes.len()),
        });
    }
    if opts.tcp {
        return exchange_tcp(server, &query, &bytes, opts.timeout).await;
    }
    let response = exchange_udp(server, &query, &bytes, opts.timeout).await?;
    if response.metadata.truncation {
        debug!(%server, id = query.metadata.id, "truncated UDP response, retrying over TCP");
        return exchange_tcp(server, &query, &bytes, opts.timeout).await;
    }
    Ok(response)
}

fn io_error(server: SocketAddr) -> impl FnOnce(io::Error) -> ExchangeError {
    move |source| ExchangeError::Io { server, source }
}

async fn exchange_udp(
    server: SocketAddr,
    query: &Message,
    bytes: &[u8],
    timeout: Duration,
) -> Result<Message, ExchangeError> {
    let deadline = Instant::now() + timeout;
    let timed_out = |ignored| ExchangeError::Timeout {
        server,
        timeout,
        ignored,
    };
    // A new socket per query: the kernel picks a random ephemeral port (RFC 5452 §10).
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(io_error(server))?;
    // Connected: the kernel delivers only datagrams from `server`, and reports ICMP errors.
    socket.connect(server).await.map_err(io_error(server))?;
    match timeout_at(deadline, socket.send(bytes)).await {
        Err(_) => return Err(timed_out(0)),
        Ok(result) => result.map_err(io_error(server))?,
    };

    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let mut ignored = 0;
    let mut malformed: Option<String> = None;
    loop {
        let len = match timeout_at(deadline, socket.recv(&mut buf)).await {
            Err(_) => {
                // Our ID and question with an undecodable body: most likely the server is
                // broken, which is more useful to report than a timeout.
                return Err(match malformed {
                    Some(reason) => ExchangeError::Malformed { server, reason },
                    None => timed_out(ignored),
                });
            }
            Ok(result) => result.map_err(io_error(server))?,
        };
        let datagram = buf.get(..len).unwrap_or_default();
        match accept_response(query, datagram) {
            Ok(response) => return Ok(response),
            Err(rejection) => {
                debug!(%server, id = query.metadata.id, %rejection, "ignoring datagram");
                if let Rejection::Malformed(reason) = rejection {
                    malformed = Some(reason);
                }
                ignored += 1;
                if ignored >= MAX_IGNORED_DATAGRAMS {
                    return Err(ExchangeError::Mismatch {
                        server,
                        reason: format!("{ignored} non-matching datagrams"),
                    });
                }
            }
        }
    }
}

async fn exchange_tcp(
    server: SocketAddr,
    query: &Message,
    bytes: &[u8],
    timeout: Duration,
) -> Result<Message, ExchangeError> {
    let deadline = Instant::now() + timeout;
    let timed_out = || ExchangeError::Timeout {
        server,
        timeout,
        ignored: 0,
    };
    let len = u16::try_from(bytes.len()).map_err(|_| ExchangeError::Encode {
        reason: format!("{} bytes is over {MAX_MESSAGE_LEN}", bytes.len()),
    })?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);

    let work = async {
        let mut stream = TcpStream::connect(server).await?;
        // One write, so the prefix and message share a segment (RFC 7766 §8).
        stream.write_all(&framed).await?;
        let mut prefix = [0u8; 2];
        stream.read_exact(&mut prefix).await?;
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        stream.read_exact(&mut message).await?;
        Ok::<_, io::Error>(message)
    };
    let message = match timeout_at(deadline, work).await {
        Err(_) => return Err(timed_out()),
        Ok(result) => result.map_err(io_error(server))?,
    };
    accept_response(query, &message).map_err(|rejection| match rejection {
        Rejection::Malformed(reason) => ExchangeError::Malformed { server, reason },
        short @ Rejection::TooShort(_) => ExchangeError::Malformed {
            server,
            reason: short.to_string(),
        },
        other => ExchangeError::Mismatch {
            server,
            reason: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_query_sets_rd_edns_and_question() {
        let name = Name::from_ascii("example.com.").unwrap();
        let q = build_query(&name, RecordType::MX, &ExchangeOptions::default());
        assert!(q.metadata.recursion_desired);
        assert_eq!(q.metadata.message_type, MessageType::Query);
        assert_eq!(q.queries.len(), 1);
        assert_eq!(q.queries[0].query_type(), RecordType::MX);
        assert_eq!(q.edns.as_ref().map(Edns::max_payload), Some(1232));

        let opts = ExchangeOptions {
            edns_payload: None,
            recursion_desired: false,
            ..ExchangeOptions::default()
        };
        let q = build_query(&name, RecordType::A, &opts);
        assert!(!q.metadata.recursion_desired);
        assert!(q.edns.is_none());
    }

    #[tokio::test]
    async fn refused_udp_port_is_an_io_error_or_timeout() {
        // Bind and drop a socket to find a port that is (very likely) closed.
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let opts = ExchangeOptions {
            timeout: Duration::from_millis(300),
            ..ExchangeOptions::default()
        };
        let name = Name::from_ascii("example.com.").unwrap();
        let err = exchange(port, &name, RecordType::A, &opts)
            .await
            .unwrap_err();
        assert_eq!(err.server(), Some(port));
        assert!(
            matches!(
                err,
                ExchangeError::Io { .. } | ExchangeError::Timeout { .. }
            ),
            "{err}"
        );
    }
}
