//! Connecting client endpoints.

use std::io;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::net::{TcpStream, UnixStream};

use super::ClientEndpoint;
use crate::address::Address;
use crate::connection::Connection;
use crate::stream::Stream;
use crate::tls::{self, TlsError};

/// Used when the endpoint gives no `timeout=`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connecting failed; the message names the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Name resolution or the connection failed.
    #[error("{endpoint}: {source}")]
    Io {
        /// The endpoint.
        endpoint: String,
        /// The error.
        source: io::Error,
    },
    /// No answer within the timeout.
    #[error("{endpoint}: timed out after {timeout:?}")]
    Timeout {
        /// The endpoint.
        endpoint: String,
        /// The timeout.
        timeout: Duration,
    },
    /// Trust roots could not be loaded, or the host is not a valid TLS name.
    #[error("{endpoint}: {source}")]
    Tls {
        /// The endpoint.
        endpoint: String,
        /// What was wrong.
        source: TlsError,
    },
}

impl ClientEndpoint {
    /// Connect (TCP connect, then the TLS handshake for `tls:`), within the endpoint's timeout.
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        let timeout = self.timeout();
        match tokio::time::timeout(timeout, self.connect_inner()).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::Timeout {
                endpoint: self.to_string(),
                timeout,
            }),
        }
    }

    async fn connect_inner(&self) -> Result<Connection, ConnectError> {
        let endpoint = self.to_string();
        let io_err = |source| ConnectError::Io {
            endpoint: endpoint.clone(),
            source,
        };
        match self {
            ClientEndpoint::Tcp { host, port, .. } => {
                let tcp = connect_tcp(host, *port).await.map_err(io_err)?;
                let (peer, local) = tcp_addrs(&tcp).map_err(io_err)?;
                Ok(Connection::new(Stream::Tcp(tcp), peer, local))
            }
            ClientEndpoint::Tls {
                host,
                port,
                trust_roots,
                ..
            } => {
                let tls_err = |source| ConnectError::Tls {
                    endpoint: endpoint.clone(),
                    source,
                };
                let connector = tls::connector(trust_roots.as_deref()).map_err(tls_err)?;
                let name = ServerName::try_from(host.clone()).map_err(|e| {
                    tls_err(TlsError::Pem {
                        path: host.into(),
                        reason: format!("not a TLS server name: {e}"),
                    })
                })?;
                let tcp = connect_tcp(host, *port).await.map_err(io_err)?;
                let (peer, local) = tcp_addrs(&tcp).map_err(io_err)?;
                let stream = connector
                    .connect(name, Stream::Tcp(tcp))
                    .await
                    .map_err(io_err)?;
                Ok(Connection::new(
                    Stream::TlsClient(Box::new(stream)),
                    peer,
                    local,
                ))
            }
            ClientEndpoint::Unix { path, .. } => {
                let s = UnixStream::connect(path).await.map_err(io_err)?;
                Ok(Connection::new(
                    Stream::Unix(s),
                    Address::Unix(Some(path.clone())),
                    Address::Unix(None),
                ))
            }
        }
    }
}

fn tcp_addrs(tcp: &TcpStream) -> io::Result<(Address, Address)> {
    Ok((
        Address::Tcp(tcp.peer_addr()?),
        Address::Tcp(tcp.local_addr()?),
    ))
}

/// Resolve `host` and try each address in turn (IPv6 and IPv4 as the resolver orders them).
async fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, format!("{host}: no addresses"))
    }))
}
