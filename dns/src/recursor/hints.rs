//! Root hints: where iteration starts when nothing closer is cached (RFC 1034 §5.3.2, the
//! "SBELT"). The IANA root servers are built in; a `named.root` file can replace them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

/// The IANA root servers and their addresses, as published in `named.root` (root zone
/// 2024110501; B changed its addresses in November 2023).
const IANA_ROOT_SERVERS: [(&str, Ipv4Addr, Ipv6Addr); 13] = [
    (
        "a",
        Ipv4Addr::new(198, 41, 0, 4),
        Ipv6Addr::new(0x2001, 0x503, 0xba3e, 0, 0, 0, 2, 0x30),
    ),
    (
        "b",
        Ipv4Addr::new(170, 247, 170, 2),
        Ipv6Addr::new(0x2801, 0x1b8, 0x10, 0, 0, 0, 0, 0xb),
    ),
    (
        "c",
        Ipv4Addr::new(192, 33, 4, 12),
        Ipv6Addr::new(0x2001, 0x500, 0x2, 0, 0, 0, 0, 0xc),
    ),
    (
        "d",
        Ipv4Addr::new(199, 7, 91, 13),
        Ipv6Addr::new(0x2001, 0x500, 0x2d, 0, 0, 0, 0, 0xd),
    ),
    (
        "e",
        Ipv4Addr::new(192, 203, 230, 10),
        Ipv6Addr::new(0x2001, 0x500, 0xa8, 0, 0, 0, 0, 0xe),
    ),
    (
        "f",
        Ipv4Addr::new(192, 5, 5, 241),
        Ipv6Addr::new(0x2001, 0x500, 0x2f, 0, 0, 0, 0, 0xf),
    ),
    (
        "g",
        Ipv4Addr::new(192, 112, 36, 4),
        Ipv6Addr::new(0x2001, 0x500, 0x12, 0, 0, 0, 0, 0xd0d),
    ),
    (
        "h",
        Ipv4Addr::new(198, 97, 190, 53),
        Ipv6Addr::new(0x2001, 0x500, 0x1, 0, 0, 0, 0, 0x53),
    ),
    (
        "i",
        Ipv4Addr::new(192, 36, 148, 17),
        Ipv6Addr::new(0x2001, 0x7fe, 0, 0, 0, 0, 0, 0x53),
    ),
    (
        "j",
        Ipv4Addr::new(192, 58, 128, 30),
        Ipv6Addr::new(0x2001, 0x503, 0xc27, 0, 0, 0, 2, 0x30),
    ),
    (
        "k",
        Ipv4Addr::new(193, 0, 14, 129),
        Ipv6Addr::new(0x2001, 0x7fd, 0, 0, 0, 0, 0, 1),
    ),
    (
        "l",
        Ipv4Addr::new(199, 7, 83, 42),
        Ipv6Addr::new(0x2001, 0x500, 0x9f, 0, 0, 0, 0, 0x42),
    ),
    (
        "m",
        Ipv4Addr::new(202, 12, 27, 33),
        Ipv6Addr::new(0x2001, 0xdc3, 0, 0, 0, 0, 0, 0x35),
    ),
];

/// Why a root hints file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HintsError {
    /// A line that is not `OWNER [TTL] [CLASS] TYPE DATA`.
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// No root name server with an address.
    #[error("no root name server with an address")]
    Empty,
}

/// The root name servers iteration starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootHints {
    servers: Vec<(Name, Vec<IpAddr>)>,
}

impl Default for RootHints {
    fn default() -> Self {
        Self::iana()
    }
}

impl RootHints {
    /// The thirteen IANA root servers, a to m.root-servers.net., IPv4 and IPv6.
    pub fn iana() -> Self {
        let servers = IANA_ROOT_SERVERS
            .iter()
            .filter_map(|(letter, v4, v6)| {
                let name = Name::from_ascii(format!("{letter}.root-servers.net.")).ok()?;
                Some((name, vec![IpAddr::V4(*v4), IpAddr::V6(*v6)]))
            })
            .collect();
        Self { servers }
    }

    /// Root servers given by name and addresses (tests, or a private root). Servers without
    /// an address are dropped.
    pub fn from_servers(servers: Vec<(Name, Vec<IpAddr>)>) -> Self {
        let servers = servers
            .into_iter()
            .filter(|(_, addrs)| !addrs.is_empty())
            .map(|(mut name, addrs)| {
                name.set_fqdn(true);
                (name, addrs)
            })
            .collect();
        Self { servers }
    }

    /// Parses a `named.root` file (master-file syntax, one record a line):
    ///
    /// ```text
    /// .                        3600000      NS    A.ROOT-SERVERS.NET.
    /// A.ROOT-SERVERS.NET.      3600000      A     198.41.0.4
    /// A.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:ba3e::2:30
    /// ```
    ///
    /// `;` starts a comment; the TTL and class are optional. Servers are the targets of the
    /// root's NS records with their A/AAAA records; other records are ignored.
    pub fn parse(text: &str) -> Result<Self, HintsError> {
        let mut ns_names: Vec<Name> = Vec::new();
        let mut addresses: Vec<(Name, IpAddr)> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let syntax = |reason: String| HintsError::Syntax { line, reason };
            let content = raw.split(';').next().unwrap_or_default();
            let mut tokens = content.split_whitespace();
            let Some(owner) = tokens.next() else {
                continue;
            };
            let owner = Name::from_ascii(owner).map_err(|e| syntax(format!("{owner}: {e}")))?;
            let mut rtype = None;
            for token in tokens.by_ref() {
                let upper = token.to_ascii_uppercase();
                if token.bytes().all(|b| b.is_ascii_digit()) || upper == "IN" {
                    continue;
                }
                rtype = Some(upper);
                break;
            }
            let rtype = rtype.ok_or_else(|| syntax("no record type".into()))?;
            let data = tokens
                .next()
                .ok_or_else(|| syntax(format!("{rtype} record without data")))?;
            match rtype.as_str() {
                "NS" if owner.is_root() => {
                    let target =
                        Name::from_ascii(data).map_err(|e| syntax(format!("{data}: {e}")))?;
                    ns_names.push(target);
                }
                "A" => {
                    let ip: Ipv4Addr = data
                        .parse()
                        .map_err(|_| syntax(format!("bad IPv4 address {data}")))?;
                    addresses.push((owner, IpAddr::V4(ip)));
                }
                "AAAA" => {
                    let ip: Ipv6Addr = data
                        .parse()
                        .map_err(|_| syntax(format!("bad IPv6 address {data}")))?;
                    addresses.push((owner, IpAddr::V6(ip)));
                }
                _ => {}
            }
        }
        let servers: Vec<(Name, Vec<IpAddr>)> = ns_names
            .into_iter()
            .map(|ns| {
                let addrs = addresses
                    .iter()
                    .filter(|(owner, _)| owner.eq_ignore_root(&ns))
                    .map(|(_, ip)| *ip)
                    .collect();
                (ns, addrs)
            })
            .collect();
        let hints = Self::from_servers(servers);
        if hints.servers.is_empty() {
            return Err(HintsError::Empty);
        }
        Ok(hints)
    }

    /// The root servers and their addresses.
    pub fn servers(&self) -> &[(Name, Vec<IpAddr>)] {
        &self.servers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_hints_have_thirteen_dual_stack_servers() {
        let hints = RootHints::iana();
        assert_eq!(hints.servers().len(), 13);
        let (a, addrs) = &hints.servers()[0];
        assert_eq!(a, &Name::from_ascii("a.root-servers.net.").unwrap());
        assert_eq!(addrs[0], "198.41.0.4".parse::<IpAddr>().unwrap());
        assert_eq!(addrs[1], "2001:503:ba3e::2:30".parse::<IpAddr>().unwrap());
        let (_, b) = &hints.servers()[1];
        assert_eq!(b[0], "170.247.170.2".parse::<IpAddr>().unwrap());
        assert_eq!(b[1], "2801:1b8:10::b".parse::<IpAddr>().unwrap());
        let (_, m) = &hints.servers()[12];
        assert_eq!(m[1], "2001:dc3::35".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn parses_named_root() {
        let text = "\
;       This file holds the information on root name servers
;
.                        3600000      NS    A.ROOT-SERVERS.NET.
A.ROOT-SERVERS.NET.      3600000      A     198.41.0.4
A.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:ba3e::2:30
; FORMERLY NS1.ISI.EDU
.                        3600000  IN  NS    b.root-servers.net.
B.ROOT-SERVERS.NET.      3600000      A     170.247.170.2 ; trailing comment
.                                     NS    C.ROOT-SERVERS.NET.
; End of file
";
        let hints = RootHints::parse(text).unwrap();
        // C has no address and is dropped.
        assert_eq!(hints.servers().len(), 2);
        assert_eq!(hints.servers()[0].1.len(), 2);
        assert_eq!(
            hints.servers()[1],
            (
                Name::from_ascii("b.root-servers.net.").unwrap(),
                vec!["170.247.170.2".parse().unwrap()]
            )
        );
    }

    #[test]
    fn rejects_bad_files() {
        assert_eq!(RootHints::parse("; nothing\n"), Err(HintsError::Empty));
        assert!(matches!(
            RootHints::parse(".  NS  a.root.\na.root. A 300.1.1.1\n"),
            Err(HintsError::Syntax { line: 2, .. })
        ));
        assert!(matches!(
            RootHints::parse(". 3600\n"),
            Err(HintsError::Syntax { line: 1, .. })
        ));
    }
}
