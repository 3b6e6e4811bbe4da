//! Binding server endpoints.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::{TcpListener, UdpSocket, UnixListener};

use super::ServerEndpoint;
use crate::address::Address;
use crate::stream::Stream;
use crate::tls::{ReloadableServerConfig, TlsError};

/// Receive buffer asked for on UDP sockets (what NSD uses).
pub const UDP_RECV_BUFFER: usize = 1024 * 1024;

/// Binding failed; displays as `tcp:127.0.0.1:25: address already in use`.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The socket could not be bound.
    #[error("{endpoint}: {}", describe_io(.source))]
    Bind {
        /// The endpoint, short form.
        endpoint: String,
        /// The OS error.
        source: io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("{endpoint}: {source}")]
    Tls {
        /// The endpoint, short form.
        endpoint: String,
        /// What was wrong.
        source: TlsError,
    },
    /// `listen()` was called on a UDP endpoint, or `bind_udp()` on a stream endpoint.
    #[error("{endpoint}: {reason}")]
    WrongKind {
        /// The endpoint, short form.
        endpoint: String,
        /// What was wrong.
        reason: &'static str,
    },
}

/// io::Error's Display adds "(os error 98)"; servers print the plain reason.
fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => "address already in use".into(),
        io::ErrorKind::AddrNotAvailable => "address not available on this machine".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[derive(Debug)]
enum Inner {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

/// A bound stream listener (TCP, TLS or Unix). TLS handshakes are not done in `accept` — the
/// runner does them in the connection's own task so a slow handshake never blocks accepting.
#[derive(Debug)]
pub struct Listener {
    inner: Inner,
    local: Address,
    scheme: &'static str,
    tls: Option<ReloadableServerConfig>,
}

impl Listener {
    /// Accept the next connection: the plain stream and the peer address.
    pub async fn accept(&self) -> io::Result<(Stream, Address)> {
        match &self.inner {
            Inner::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                // Interactive protocols: send replies as soon as they are written.
                s.set_nodelay(true)?;
                Ok((Stream::Tcp(s), Address::Tcp(peer)))
            }
            Inner::Unix(l, _) => {
                let (s, peer) = l.accept().await?;
                Ok((
                    Stream::Unix(s),
                    Address::Unix(peer.as_pathname().map(PathBuf::from)),
                ))
            }
        }
    }

    /// The bound address (with the real port when 0 was asked).
    pub fn local_addr(&self) -> &Address {
        &self.local
    }

    /// The TLS configuration, for `tls:` endpoints.
    pub fn tls(&self) -> Option<&ReloadableServerConfig> {
        self.tls.as_ref()
    }

    /// Short form for logs: `tls:127.0.0.1:6697`.
    pub fn describe(&self) -> String {
        match &self.local {
            Address::Tcp(a) => format!("{}:{a}", self.scheme),
            other => other.to_string(),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Inner::Unix(_, path) = &self.inner {
            // Remove our socket file so the next start does not find a stale one.
            let _ = std::fs::remove_file(path);
        }
    }
}

fn tcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // `interface=::` means dual-stack, as on every Linux default; `::1` is v6 only anyway.
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

impl ServerEndpoint {
    /// Bind a stream endpoint (tcp, tls, unix).
    pub async fn listen(&self) -> Result<Listener, ListenError> {
        let endpoint = self.to_string();
        let bind_err = |source| ListenError::Bind {
            endpoint: endpoint.clone(),
            source,
        };
        match self {
            ServerEndpoint::Tcp { addr, backlog } | ServerEndpoint::Tls { addr, backlog, .. } => {
                let tls = match self {
                    ServerEndpoint::Tls {
                        private_key, cert, ..
                    } => Some(ReloadableServerConfig::load(private_key, cert).map_err(
                        |source| ListenError::Tls {
                            endpoint: endpoint.clone(),
                            source,
                        },
                    )?),
                    _ => None,
                };
                let socket = tcp_socket(*addr).map_err(bind_err)?;
                socket.bind(&SockAddr::from(*addr)).map_err(bind_err)?;
                socket
                    .listen(i32::try_from(*backlog).unwrap_or(i32::MAX))
                    .map_err(bind_err)?;
                let listener = TcpListener::from_std(socket.into()).map_err(bind_err)?;
                let local = Address::Tcp(listener.local_addr().map_err(bind_err)?);
                Ok(Listener {
                    inner: Inner::Tcp(listener),
                    local,
                    scheme: self.scheme(),
                    tls,
                })
            }
            ServerEndpoint::Unix {
                path,
                mode,
                backlog,
            } => {
                if path.exists() {
                    // A live server answers; a stale socket file from a crash does not.
                    if std::os::unix::net::UnixStream::connect(path).is_ok() {
                        return Err(bind_err(io::ErrorKind::AddrInUse.into()));
                    }
                    let meta = std::fs::symlink_metadata(path).map_err(bind_err)?;
                    use std::os::unix::fs::FileTypeExt;
                    if !meta.file_type().is_socket() {
                        return Err(bind_err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "a file that is not a socket is in the way",
                        )));
                    }
                    std::fs::remove_file(path).map_err(bind_err)?;
                }
                let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(bind_err)?;
                socket.set_nonblocking(true).map_err(bind_err)?;
                socket
                    .bind(&SockAddr::unix(path).map_err(bind_err)?)
                    .map_err(bind_err)?;
                if let Some(mode) = mode {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                        .map_err(bind_err)?;
                }
                socket
                    .listen(i32::try_from(*backlog).unwrap_or(i32::MAX))
                    .map_err(bind_err)?;
                let std_listener: std::os::unix::net::UnixListener = socket.into();
                let listener = UnixListener::from_std(std_listener).map_err(bind_err)?;
                Ok(Listener {
                    inner: Inner::Unix(listener, path.clone()),
                    local: Address::Unix(Some(path.clone())),
                    scheme: "unix",
                    tls: None,
                })
            }
            ServerEndpoint::Udp { .. } => Err(ListenError::WrongKind {
                endpoint,
                reason: "a UDP endpoint cannot accept stream connections",
            }),
        }
    }

    /// Bind `count` UDP sockets on the same address (SO_REUSEPORT when more than one, so the
    /// kernel spreads datagrams over them and a server scales across cores). With port 0 the
    /// first socket picks the port and the others join it.
    pub fn bind_udp(&self, count: usize) -> Result<Vec<UdpSocket>, ListenError> {
        let endpoint = self.to_string();
        let bind_err = |source| ListenError::Bind {
            endpoint: endpoint.clone(),
            source,
        };
        let ServerEndpoint::Udp { addr } = self else {
            return Err(ListenError::WrongKind {
                endpoint,
                reason: "not a udp: endpoint",
            });
        };
        let mut addr = *addr;
        let mut sockets = Vec::with_capacity(count.max(1));
        for _ in 0..count.max(1) {
            let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
                .map_err(bind_err)?;
            if count > 1 {
                socket.set_reuse_port(true).map_err(bind_err)?;
            }
            if addr.is_ipv6() {
                socket.set_only_v6(false).map_err(bind_err)?;
            }
            socket.set_nonblocking(true).map_err(bind_err)?;
            // Bursts of datagrams must not overflow the kernel's default (~208 KiB) buffer
            // while the receive loop is busy; best effort (capped by net.core.rmem_max).
            let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
            socket.bind(&SockAddr::from(addr)).map_err(bind_err)?;
            let socket = UdpSocket::from_std(socket.into()).map_err(bind_err)?;
            addr = socket.local_addr().map_err(bind_err)?;
            sockets.push(socket);
        }
        Ok(sockets)
    }
}
