//! Address ranges for `--allow-recursion` and `--allow-transfer`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address range `ADDR/PREFIX` (or a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A malformed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address range like 192.0.2.0/24 or 2001:db8::/32")]
pub struct BadCidr(String);

impl FromStr for Cidr {
    type Err = BadCidr;
    fn from_str(s: &str) -> Result<Self, BadCidr> {
        let bad = || BadCidr(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

impl Cidr {
    /// Whether `ip` is in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (net, width) = bits(self.addr);
        let (host, host_width) = bits(ip);
        if width != host_width {
            return false;
        }
        if self.prefix == 0 {
            return true;
        }
        let shift = u32::from(width - self.prefix);
        (net >> shift) == (host >> shift)
    }
}

/// Who may use a feature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl(Vec<Cidr>);

impl Acl {
    /// Exactly these ranges.
    pub fn new(ranges: Vec<Cidr>) -> Self {
        Acl(ranges)
    }

    /// Loopback and private ranges — the default for recursion: never an open resolver.
    pub fn local_networks() -> Self {
        let ranges = [
            "127.0.0.0/8",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "169.254.0.0/16",
            "::1/128",
            "fc00::/7",
            "fe80::/10",
        ];
        Acl(ranges.iter().filter_map(|r| r.parse().ok()).collect())
    }

    /// Whether `ip` is allowed.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// Whether nobody is allowed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let c: Cidr = "192.0.2.0/24".parse().unwrap();
        assert!(c.contains("192.0.2.200".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert!(c.contains("::ffff:192.0.2.1".parse().unwrap()));
        let host: Cidr = "2001:db8::1".parse().unwrap();
        assert!(host.contains("2001:db8::1".parse().unwrap()));
        assert!(!host.contains("2001:db8::2".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        for bad in ["", "x", "10.0.0.0/33", "::/129", "10.0.0.0/"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn default_recursion_acl_is_local_only() {
        let acl = Acl::local_networks();
        for ok in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "::1",
            "fd00::1",
        ] {
            assert!(acl.allows(ok.parse().unwrap()), "{ok}");
        }
        for no in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "203.0.113.1"] {
            assert!(!acl.allows(no.parse().unwrap()), "{no}");
        }
    }
}
