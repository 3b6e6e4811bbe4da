//! Endpoints — Twisted's endpoint strings, server and client side.
//!
//! | form | meaning |
//! | --- | --- |
//! | `tcp:PORT[:interface=ADDR][:backlog=N]` | listen on TCP |
//! | `tls:PORT:privateKey=KEY.pem[:certKey=CERT.pem][:interface=ADDR][:backlog=N]` (`ssl:` alias) | listen with TLS |
//! | `unix:PATH[:mode=0660][:backlog=N]` | listen on a Unix socket |
//! | `udp:PORT[:interface=ADDR]` | UDP (DNS) |
//! | `tcp:host=H:port=P[:timeout=S]` | connect over TCP |
//! | `tls:host=H:port=P[:trustRoots=PEM][:timeout=S]` | connect with TLS, verifying H |
//! | `unix:path=P[:timeout=S]` | connect to a Unix socket |
//!
//! `ADDR` is an IP literal; IPv6 is written escaped as Twisted does (`interface=\:\:1`) or in
//! brackets (`interface=[::1]`). The default interface is `0.0.0.0`. Client flags also accept
//! the short forms `HOST:PORT` and `[V6]:PORT` (see [`ClientEndpoint::parse_with_default_port`]).
//! Port 0 binds an ephemeral port; [`Listener::local_addr`] tells the real one.

mod connect;
mod listen;
pub(crate) mod parse;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use connect::ConnectError;
pub use listen::{ListenError, Listener};
use parse::{parse_ip, Spec};
pub use parse::{EndpointError, DEFAULT_BACKLOG};

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEndpoint {
    /// `tcp:PORT[:interface=ADDR][:backlog=N]`
    Tcp {
        /// Interface and port.
        addr: SocketAddr,
        /// Listen backlog.
        backlog: u32,
    },
    /// `tls:PORT:privateKey=KEY[:certKey=CERT][:interface=ADDR][:backlog=N]`
    Tls {
        /// Interface and port.
        addr: SocketAddr,
        /// Listen backlog.
        backlog: u32,
        /// PEM private key.
        private_key: PathBuf,
        /// PEM certificate chain (defaults to the key file, as in Twisted).
        cert: PathBuf,
    },
    /// `unix:PATH[:mode=0660][:backlog=N]`
    Unix {
        /// Socket path.
        path: PathBuf,
        /// Permission bits for the socket file.
        mode: Option<u32>,
        /// Listen backlog.
        backlog: u32,
    },
    /// `udp:PORT[:interface=ADDR]`
    Udp {
        /// Interface and port.
        addr: SocketAddr,
    },
}

impl ServerEndpoint {
    /// Parse a server endpoint string.
    pub fn parse(input: &str) -> Result<Self, EndpointError> {
        let mut s = Spec::tokenize(input)?;
        match s.kind.as_str() {
            "tcp" => {
                let port = s.take(0, &["port"])?;
                let interface = s.take(1, &["interface"])?;
                let backlog = s.take(2, &["backlog"])?;
                s.finish("port, interface, backlog")?;
                let addr = SocketAddr::new(s.interface(interface)?, s.port(port)?);
                Ok(ServerEndpoint::Tcp {
                    addr,
                    backlog: s.backlog(backlog)?,
                })
            }
            "tls" | "ssl" => {
                let port = s.take(0, &["port"])?;
                let key = s.take(1, &["privateKey"])?;
                let cert = s.take(2, &["certKey"])?;
                let interface = s.take(3, &["interface"])?;
                let backlog = s.take(4, &["backlog"])?;
                s.finish("port, privateKey, certKey, interface, backlog")?;
                let addr = SocketAddr::new(s.interface(interface)?, s.port(port)?);
                let private_key: PathBuf = match key {
                    Some(k) if !k.is_empty() => k.into(),
                    _ => return Err(s.error("missing privateKey=FILE.pem")),
                };
                let cert = match cert {
                    Some(c) if !c.is_empty() => c.into(),
                    _ => private_key.clone(),
                };
                Ok(ServerEndpoint::Tls {
                    addr,
                    backlog: s.backlog(backlog)?,
                    private_key,
                    cert,
                })
            }
            "unix" => {
                let path = s.take(0, &["address", "path"])?;
                let mode = s.take(1, &["mode"])?;
                let backlog = s.take(2, &["backlog"])?;
                // Twisted's `lockfile` option is accepted and ignored: we detect a live socket
                // by connecting to it instead.
                let _ = s.take(3, &["lockfile"])?;
                s.finish("address, mode, backlog")?;
                let path: PathBuf = match path {
                    Some(p) if !p.is_empty() => p.into(),
                    _ => return Err(s.error("missing socket path")),
                };
                let mode = match mode {
                    None => None,
                    Some(m) => match u32::from_str_radix(&m, 8) {
                        Ok(bits) if bits <= 0o777 => Some(bits),
                        _ => {
                            return Err(
                                s.error(format!("mode {m:?} is not octal permissions like 0660"))
                            )
                        }
                    },
                };
                Ok(ServerEndpoint::Unix {
                    path,
                    mode,
                    backlog: s.backlog(backlog)?,
                })
            }
            "udp" => {
                let port = s.take(0, &["port"])?;
                let interface = s.take(1, &["interface"])?;
                s.finish("port, interface")?;
                let addr = SocketAddr::new(s.interface(interface)?, s.port(port)?);
                Ok(ServerEndpoint::Udp { addr })
            }
            other => Err(s.error(format!(
                "unknown endpoint type {other:?} (expected tcp, tls, ssl, unix or udp)"
            ))),
        }
    }

    /// The endpoint type as written in endpoint strings.
    pub fn scheme(&self) -> &'static str {
        match self {
            ServerEndpoint::Tcp { .. } => "tcp",
            ServerEndpoint::Tls { .. } => "tls",
            ServerEndpoint::Unix { .. } => "unix",
            ServerEndpoint::Udp { .. } => "udp",
        }
    }

    /// The socket address for IP endpoints.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            ServerEndpoint::Tcp { addr, .. }
            | ServerEndpoint::Tls { addr, .. }
            | ServerEndpoint::Udp { addr } => Some(*addr),
            ServerEndpoint::Unix { .. } => None,
        }
    }
}

impl fmt::Display for ServerEndpoint {
    /// The short form used in log lines: `tcp:127.0.0.1:6667`, `tls:[::1]:993`, `unix:/run/x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerEndpoint::Unix { path, .. } => write!(f, "unix:{}", path.display()),
            other => match other.socket_addr() {
                Some(addr) => write!(f, "{}:{addr}", other.scheme()),
                None => f.write_str(other.scheme()),
            },
        }
    }
}

impl FromStr for ServerEndpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Where a client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEndpoint {
    /// `tcp:host=H:port=P[:timeout=S]`
    Tcp {
        /// Host name or IP literal.
        host: String,
        /// Port.
        port: u16,
        /// Connect timeout.
        timeout: Option<Duration>,
    },
    /// `tls:host=H:port=P[:trustRoots=PEM][:timeout=S]`
    Tls {
        /// Host name or IP literal (also the name the certificate must match).
        host: String,
        /// Port.
        port: u16,
        /// PEM file of trusted CA certificates (default: the system store).
        trust_roots: Option<PathBuf>,
        /// Connect timeout (TCP connect plus TLS handshake).
        timeout: Option<Duration>,
    },
    /// `unix:path=P[:timeout=S]`
    Unix {
        /// Socket path.
        path: PathBuf,
        /// Connect timeout.
        timeout: Option<Duration>,
    },
}

impl ClientEndpoint {
    /// Parse a client endpoint string (`tcp:host=…`, `tls:host=…`, `unix:path=…`) or the short
    /// form `HOST:PORT` / `[V6]:PORT`.
    pub fn parse(input: &str) -> Result<Self, EndpointError> {
        Self::parse_with_default_port(input, None)
    }

    /// As [`parse`](Self::parse), also accepting a bare `HOST` (or `[V6]`) when a default port
    /// is given (e.g. 25 for SMTP).
    pub fn parse_with_default_port(
        input: &str,
        default_port: Option<u16>,
    ) -> Result<Self, EndpointError> {
        let lower = input.to_ascii_lowercase();
        let is_spec = ["tcp:", "tls:", "ssl:", "unix:"]
            .iter()
            .any(|p| lower.starts_with(p))
            && (input.contains('=') || lower.starts_with("unix:"));
        if !is_spec {
            return Self::parse_short(input, default_port);
        }
        let mut s = Spec::tokenize(input)?;
        let kind = s.kind.clone();
        match kind.as_str() {
            "tcp" | "tls" | "ssl" => {
                let host = s.take(0, &["host"])?;
                let port = s.take(1, &["port"])?;
                let timeout = s.take(99, &["timeout"])?;
                let timeout = s.timeout(timeout)?;
                let host = match host {
                    Some(h) if !h.is_empty() => strip_brackets(&h).to_owned(),
                    _ => return Err(s.error("missing host=")),
                };
                let port = s.port(port)?;
                if kind == "tcp" {
                    s.finish("host, port, timeout")?;
                    Ok(ClientEndpoint::Tcp {
                        host,
                        port,
                        timeout,
                    })
                } else {
                    let roots = s.take(99, &["trustRoots", "caCertsDir"])?;
                    s.finish("host, port, trustRoots, timeout")?;
                    Ok(ClientEndpoint::Tls {
                        host,
                        port,
                        trust_roots: roots.filter(|r| !r.is_empty()).map(PathBuf::from),
                        timeout,
                    })
                }
            }
            "unix" => {
                let path = s.take(0, &["path", "address"])?;
                let timeout = s.take(99, &["timeout"])?;
                let timeout = s.timeout(timeout)?;
                s.finish("path, timeout")?;
                match path {
                    Some(p) if !p.is_empty() => Ok(ClientEndpoint::Unix {
                        path: p.into(),
                        timeout,
                    }),
                    _ => Err(s.error("missing path=")),
                }
            }
            other => Err(s.error(format!("unknown client endpoint type {other:?}"))),
        }
    }

    fn parse_short(input: &str, default_port: Option<u16>) -> Result<Self, EndpointError> {
        let err = |reason: String| EndpointError {
            input: input.to_owned(),
            reason,
        };
        if input.is_empty() {
            return Err(err("empty server address".into()));
        }
        let (host, port) = if let Some(rest) = input.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| err("'[' without ']'".into()))?;
            match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None if after.is_empty() => (host, None),
                None => return Err(err(format!("unexpected {after:?} after ']'"))),
            }
        } else if input.matches(':').count() > 1 {
            // A bare IPv6 literal without a port.
            match input.parse::<IpAddr>() {
                Ok(_) => (input, None),
                Err(_) => return Err(err("write IPv6 addresses as [ADDR]:PORT".into())),
            }
        } else {
            match input.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (input, None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(err(format!("{host:?} is not a host name or IP address")));
        }
        let port = match (port, default_port) {
            (Some(p), _) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| err(format!("port {p:?} is not a number from 1 to 65535")))?,
            (None, Some(d)) => d,
            (None, None) => return Err(err("missing port (HOST:PORT)".into())),
        };
        Ok(ClientEndpoint::Tcp {
            host: host.to_owned(),
            port,
            timeout: None,
        })
    }

    /// The host (or socket path) being connected to, for TLS names and messages.
    pub fn host(&self) -> String {
        match self {
            ClientEndpoint::Tcp { host, .. } | ClientEndpoint::Tls { host, .. } => host.clone(),
            ClientEndpoint::Unix { path, .. } => path.display().to_string(),
        }
    }

    /// The connect timeout in force ([`connect::DEFAULT_CONNECT_TIMEOUT`] when unset).
    pub fn timeout(&self) -> Duration {
        match self {
            ClientEndpoint::Tcp { timeout, .. }
            | ClientEndpoint::Tls { timeout, .. }
            | ClientEndpoint::Unix { timeout, .. } => {
                timeout.unwrap_or(connect::DEFAULT_CONNECT_TIMEOUT)
            }
        }
    }
}

fn strip_brackets(s: &str) -> &str {
    if parse_ip(s).is_some() {
        s.strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s)
    } else {
        s
    }
}

impl fmt::Display for ClientEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hostport = |host: &str, port: u16| {
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        };
        match self {
            ClientEndpoint::Tcp { host, port, .. } => write!(f, "tcp:{}", hostport(host, *port)),
            ClientEndpoint::Tls { host, port, .. } => write!(f, "tls:{}", hostport(host, *port)),
            ClientEndpoint::Unix { path, .. } => write!(f, "unix:{}", path.display()),
        }
    }
}

impl FromStr for ClientEndpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn server_forms() {
        assert_eq!(
            ServerEndpoint::parse("tcp:6667").unwrap(),
            ServerEndpoint::Tcp {
                addr: sa("0.0.0.0:6667"),
                backlog: DEFAULT_BACKLOG
            }
        );
        assert_eq!(
            ServerEndpoint::parse("tcp:0:interface=127.0.0.1:backlog=7").unwrap(),
            ServerEndpoint::Tcp {
                addr: sa("127.0.0.1:0"),
                backlog: 7
            }
        );
        assert_eq!(
            ServerEndpoint::parse(r"tcp:53:interface=\:\:1")
                .unwrap()
                .socket_addr(),
            Some(sa("[::1]:53"))
        );
        assert_eq!(
            ServerEndpoint::parse("tcp:port=53:interface=[::1]")
                .unwrap()
                .socket_addr(),
            Some(sa("[::1]:53"))
        );
        assert_eq!(
            ServerEndpoint::parse("ssl:993:privateKey=k.pem:interface=127.0.0.2").unwrap(),
            ServerEndpoint::Tls {
                addr: sa("127.0.0.2:993"),
                backlog: DEFAULT_BACKLOG,
                private_key: "k.pem".into(),
                cert: "k.pem".into()
            }
        );
        assert!(matches!(
            ServerEndpoint::parse("tls:993:privateKey=k.pem:certKey=c.pem").unwrap(),
            ServerEndpoint::Tls { cert, .. } if cert.as_os_str() == "c.pem"
        ));
        assert_eq!(
            ServerEndpoint::parse("unix:/run/t.sock:mode=0660").unwrap(),
            ServerEndpoint::Unix {
                path: "/run/t.sock".into(),
                mode: Some(0o660),
                backlog: DEFAULT_BACKLOG
            }
        );
        assert_eq!(
            ServerEndpoint::parse("udp:5353:interface=127.0.0.1").unwrap(),
            ServerEndpoint::Udp {
                addr: sa("127.0.0.1:5353")
            }
        );
        assert_eq!(
            ServerEndpoint::parse("tcp:0:interface=::1".replace("::", r"\:\:").as_str())
                .unwrap()
                .to_string(),
            "tcp:[::1]:0"
        );
    }

    #[test]
    fn server_errors_name_the_part() {
        let cases = [
            ("tcp", "missing port"),
            ("tcp:http", "\"http\""),
            ("tcp:70000", "\"70000\""),
            ("tcp:80:interface=localhost", "\"localhost\""),
            ("tcp:80:colour=red", "\"colour\""),
            ("tcp:80:backlog=0", "backlog"),
            ("tls:443", "privateKey"),
            ("unix:/x:mode=999", "\"999\""),
            ("unix:", "missing socket path"),
            ("sctp:80", "\"sctp\""),
            ("tcp:80:1.2.3.4:5:6", "\"6\""),
        ];
        for (input, needle) in cases {
            let err = ServerEndpoint::parse(input).unwrap_err().to_string();
            assert!(err.contains(needle), "{input}: {err}");
            assert!(err.contains(input), "{input}: {err}");
        }
    }

    #[test]
    fn client_forms() {
        assert_eq!(
            ClientEndpoint::parse("tcp:host=mail.example:port=25:timeout=2.5").unwrap(),
            ClientEndpoint::Tcp {
                host: "mail.example".into(),
                port: 25,
                timeout: Some(Duration::from_millis(2500))
            }
        );
        assert_eq!(
            ClientEndpoint::parse("tls:host=irc.example:port=6697:trustRoots=/ca.pem").unwrap(),
            ClientEndpoint::Tls {
                host: "irc.example".into(),
                port: 6697,
                trust_roots: Some("/ca.pem".into()),
                timeout: None
            }
        );
        assert_eq!(
            ClientEndpoint::parse("unix:path=/run/x.sock").unwrap(),
            ClientEndpoint::Unix {
                path: "/run/x.sock".into(),
                timeout: None
            }
        );
        assert_eq!(
            ClientEndpoint::parse("127.0.0.1:2525").unwrap(),
            ClientEndpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 2525,
                timeout: None
            }
        );
        assert_eq!(
            ClientEndpoint::parse("[::1]:53").unwrap(),
            ClientEndpoint::Tcp {
                host: "::1".into(),
                port: 53,
                timeout: None
            }
        );
        assert_eq!(
            ClientEndpoint::parse(r"tcp:host=\:\:1:port=53")
                .unwrap()
                .host(),
            "::1"
        );
        assert_eq!(
            ClientEndpoint::parse("tcp:host=[::1]:port=53")
                .unwrap()
                .to_string(),
            "tcp:[::1]:53"
        );
        assert_eq!(
            ClientEndpoint::parse_with_default_port("mx.example", Some(25))
                .unwrap()
                .to_string(),
            "tcp:mx.example:25"
        );
        assert_eq!(
            ClientEndpoint::parse_with_default_port("::1", Some(53))
                .unwrap()
                .to_string(),
            "tcp:[::1]:53"
        );
    }

    #[test]
    fn client_errors() {
        for (input, needle) in [
            ("tcp:host=x", "missing port"),
            ("tcp:port=1", "missing host"),
            ("tls:host=x:port=1:bogus=1", "\"bogus\""),
            ("example.org", "missing port"),
            ("example.org:0", "\"0\""),
            ("example.org:smtp", "\"smtp\""),
            ("[::1", "'['"),
            ("fe80::1:x:y", "[ADDR]:PORT"),
            ("tcp:host=x:port=1:timeout=-1", "timeout"),
            ("", "empty"),
        ] {
            let err = ClientEndpoint::parse(input).unwrap_err().to_string();
            assert!(err.contains(needle), "{input}: {err}");
        }
    }
}
