//! Addresses of connection ends, printed the way the endpoint syntax writes them.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// One end of a connection, or a bound listener.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A TCP address (also used for TLS over TCP).
    Tcp(SocketAddr),
    /// A UDP address.
    Udp(SocketAddr),
    /// A Unix socket path (`None` for an unnamed peer socket).
    Unix(Option<PathBuf>),
    /// An in-memory test connection, with a label.
    Memory(String),
}

impl Address {
    /// The IP address, for TCP and UDP.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Address::Tcp(a) | Address::Udp(a) => Some(a.ip()),
            _ => None,
        }
    }

    /// The socket address, for TCP and UDP.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Address::Tcp(a) | Address::Udp(a) => Some(*a),
            _ => None,
        }
    }

    /// Whether the address is on this machine (loopback IP, Unix socket, memory).
    pub fn is_local(&self) -> bool {
        match self {
            Address::Tcp(a) | Address::Udp(a) => {
                let ip = match a.ip() {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                    ip => ip,
                };
                ip.is_loopback()
            }
            Address::Unix(_) | Address::Memory(_) => true,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(a) => write!(f, "tcp:{a}"),
            Address::Udp(a) => write!(f, "udp:{a}"),
            Address::Unix(Some(p)) => write!(f, "unix:{}", p.display()),
            Address::Unix(None) => f.write_str("unix:(unnamed)"),
            Address::Memory(label) => write!(f, "memory:{label}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_endpoints() {
        let v4: SocketAddr = "127.0.0.1:6667".parse().unwrap();
        let v6: SocketAddr = "[::1]:53".parse().unwrap();
        assert_eq!(Address::Tcp(v4).to_string(), "tcp:127.0.0.1:6667");
        assert_eq!(Address::Udp(v6).to_string(), "udp:[::1]:53");
        assert_eq!(
            Address::Unix(Some("/run/x".into())).to_string(),
            "unix:/run/x"
        );
        assert!(Address::Tcp(v6).is_local());
        assert!(!Address::Tcp("192.0.2.1:1".parse().unwrap()).is_local());
        assert!(Address::Tcp("[::ffff:127.0.0.1]:1".parse().unwrap()).is_local());
    }
}
