//! `/etc/resolv.conf`, read the way glibc's `res_init` reads it (resolv.conf(5)).
//!
//! Supported: `nameserver` (IPv4 and IPv6; a `%scope` suffix is stripped, so link-local servers
//! lose their interface), `domain` and `search` (the last of either wins, as in glibc),
//! `options ndots:N timeout:N attempts:N rotate` (other options are ignored), comment lines
//! starting with `#` or `;`, and trailing comments. Not supported: `sortlist`, the
//! `LOCALDOMAIN`/`RES_OPTIONS` environment variables, and deriving a default search domain from
//! the host name when there is no `search` or `domain` line.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::rr::Name;

/// Where the system configuration lives.
pub const RESOLV_CONF_PATH: &str = "/etc/resolv.conf";
/// glibc's `MAXNS`: further `nameserver` lines are ignored.
pub const MAX_NAMESERVERS: usize = 3;
/// glibc's historical `MAXDNSRCH`: further search domains are ignored.
pub const MAX_SEARCH_DOMAINS: usize = 6;
/// glibc's `RES_MAXNDOTS`.
pub const MAX_NDOTS: u8 = 15;
/// glibc's `RES_MAXRETRANS` (seconds).
pub const MAX_TIMEOUT_SECS: u64 = 30;
/// glibc's `RES_MAXRETRY`.
pub const MAX_ATTEMPTS: u8 = 5;
/// Default `ndots`.
pub const DEFAULT_NDOTS: u8 = 1;
/// Default per-server timeout (glibc's `RES_TIMEOUT`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default number of rounds over the server list (glibc's `RES_DFLRETRY`).
pub const DEFAULT_ATTEMPTS: u8 = 2;
/// The server glibc uses when none is configured.
pub const DEFAULT_NAMESERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53);

/// Stub resolver configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    /// Servers to ask, in order (or rotated, see `rotate`).
    pub nameservers: Vec<SocketAddr>,
    /// Suffixes tried for relative names (absolute names, ending in `.`).
    pub search: Vec<Name>,
    /// A name with at least this many dots is tried as-is before the search list.
    pub ndots: u8,
    /// Time to wait for one server's response.
    pub timeout: Duration,
    /// Rounds over the server list before giving up (at least one is always made).
    pub attempts: u8,
    /// Start each query at the next server instead of always the first.
    pub rotate: bool,
}

impl Default for ResolverConfig {
    /// glibc's defaults: 127.0.0.1:53, no search list, ndots 1, timeout 5 s, 2 attempts.
    fn default() -> Self {
        Self {
            nameservers: vec![DEFAULT_NAMESERVER],
            search: Vec::new(),
            ndots: DEFAULT_NDOTS,
            timeout: DEFAULT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
            rotate: false,
        }
    }
}

impl ResolverConfig {
    /// The defaults with these servers (no search list).
    pub fn with_servers(nameservers: Vec<SocketAddr>) -> Self {
        Self {
            nameservers,
            ..Self::default()
        }
    }

    /// Reads [`RESOLV_CONF_PATH`]. A missing file gives the defaults, as with glibc.
    pub fn from_system() -> io::Result<Self> {
        Self::from_file(Path::new(RESOLV_CONF_PATH))
    }

    /// Reads a resolv.conf file. A missing file gives the defaults, as with glibc.
    pub fn from_file(path: &Path) -> io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Self::parse(&String::from_utf8_lossy(&bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Parses resolv.conf text. Never fails: like glibc, unknown or malformed lines are
    /// skipped. Without any usable `nameserver` line the result has [`DEFAULT_NAMESERVER`].
    pub fn parse(text: &str) -> Self {
        let mut config = Self {
            nameservers: Vec::new(),
            ..Self::default()
        };
        for line in text.lines() {
            let line = strip_comment(line);
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword {
                "nameserver" if config.nameservers.len() < MAX_NAMESERVERS => {
                    if let Some(addr) = words.next().and_then(parse_nameserver) {
                        config.nameservers.push(addr);
                    }
                }
                // `domain` is a one-entry search list; whichever comes last wins.
                "domain" => config.search = words.take(1).filter_map(parse_domain).collect(),
                "search" => {
                    config.search = words
                        .filter_map(parse_domain)
                        .take(MAX_SEARCH_DOMAINS)
                        .collect();
                }
                "options" => words.for_each(|option| config.apply_option(option)),
                _ => {}
            }
        }
        if config.nameservers.is_empty() {
            config.nameservers.push(DEFAULT_NAMESERVER);
        }
        config
    }

    fn apply_option(&mut self, option: &str) {
        let (key, value) = match option.split_once(':') {
            Some((key, value)) => (key, value.parse::<u64>().ok()),
            None => (option, None),
        };
        match (key, value) {
            ("ndots", Some(n)) => {
                self.ndots = u8::try_from(n.min(u64::from(MAX_NDOTS))).unwrap_or(MAX_NDOTS)
            }
            // glibc never waits less than a second per try.
            ("timeout", Some(n)) => {
                self.timeout = Duration::from_secs(n.clamp(1, MAX_TIMEOUT_SECS));
            }
            ("attempts", Some(n)) => {
                self.attempts =
                    u8::try_from(n.clamp(1, u64::from(MAX_ATTEMPTS))).unwrap_or(MAX_ATTEMPTS)
            }
            ("rotate", None) => self.rotate = true,
            _ => {}
        }
    }
}

/// Drops a comment: a `#` or `;` at the start of the line or after whitespace.
fn strip_comment(line: &str) -> &str {
    let mut previous_is_space = true;
    for (i, c) in line.char_indices() {
        if (c == '#' || c == ';') && previous_is_space {
            return line.get(..i).unwrap_or_default();
        }
        previous_is_space = c.is_ascii_whitespace();
    }
    line
}

fn parse_nameserver(word: &str) -> Option<SocketAddr> {
    // `fe80::1%eth0`: the scope names an interface we cannot look up without libc.
    let address = word
        .split_once('%')
        .map_or(word, |(address, _scope)| address);
    let ip: IpAddr = address.parse().ok()?;
    Some(SocketAddr::new(ip, 53))
}

fn parse_domain(word: &str) -> Option<Name> {
    let mut name = Name::from_str_relaxed(word).ok()?;
    name.set_fqdn(true);
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(config: &ResolverConfig) -> Vec<String> {
        config.search.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn parses_a_typical_file() {
        let config = ResolverConfig::parse(
            "# generated by NetworkManager\n\
             search corp.example.com example.com\n\
             nameserver 192.0.2.53\n\
             nameserver 2001:db8::53\n\
             options ndots:2 timeout:3 attempts:4 rotate\n",
        );
        assert_eq!(
            config.nameservers,
            vec![
                "192.0.2.53:53".parse().unwrap(),
                "[2001:db8::53]:53".parse().unwrap()
            ]
        );
        assert_eq!(names(&config), ["corp.example.com.", "example.com."]);
        assert_eq!(config.ndots, 2);
        assert_eq!(config.timeout, Duration::from_secs(3));
        assert_eq!(config.attempts, 4);
        assert!(config.rotate);
    }

    #[test]
    fn empty_text_gives_glibc_defaults() {
        let config = ResolverConfig::parse("");
        assert_eq!(config, ResolverConfig::default());
        assert_eq!(config.nameservers, vec![DEFAULT_NAMESERVER]);
        assert_eq!(config.ndots, 1);
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert_eq!(config.attempts, 2);
        assert!(!config.rotate);
    }

    #[test]
    fn strips_ipv6_scope_and_skips_bad_addresses() {
        let config = ResolverConfig::parse(
            "nameserver fe80::1%eth0\nnameserver not-an-ip\nnameserver\nnameserver 10.0.0.1\n",
        );
        assert_eq!(
            config.nameservers,
            vec![
                "[fe80::1]:53".parse().unwrap(),
                "10.0.0.1:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn keeps_at_most_three_nameservers() {
        let config = ResolverConfig::parse(
            "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n",
        );
        assert_eq!(config.nameservers.len(), MAX_NAMESERVERS);
        assert_eq!(config.nameservers[2], "10.0.0.3:53".parse().unwrap());
    }

    #[test]
    fn last_of_search_and_domain_wins() {
        let config = ResolverConfig::parse("search a.example b.example\ndomain c.example\n");
        assert_eq!(names(&config), ["c.example."]);
        let config = ResolverConfig::parse("domain c.example\nsearch a.example b.example\n");
        assert_eq!(names(&config), ["a.example.", "b.example."]);
        let config = ResolverConfig::parse("domain c.example extra.example\n");
        assert_eq!(names(&config), ["c.example."]);
    }

    #[test]
    fn keeps_at_most_six_search_domains() {
        let config = ResolverConfig::parse("search a b c d e f g h\n");
        assert_eq!(names(&config), ["a.", "b.", "c.", "d.", "e.", "f."]);
    }

    #[test]
    fn comments_are_ignored() {
        let config = ResolverConfig::parse(
            "; nameserver 10.9.9.9\n  # nameserver 10.8.8.8\nsearch a.example # b.example\n\
             nameserver 10.0.0.1 ; trailing\n",
        );
        assert_eq!(config.nameservers, vec!["10.0.0.1:53".parse().unwrap()]);
        assert_eq!(names(&config), ["a.example."]);
    }

    #[test]
    fn options_are_clamped_like_glibc_and_accumulate() {
        let config = ResolverConfig::parse(
            "options ndots:40 timeout:0\noptions attempts:99 edns0 ndots:x\n",
        );
        assert_eq!(config.ndots, MAX_NDOTS);
        assert_eq!(config.timeout, Duration::from_secs(1));
        assert_eq!(config.attempts, MAX_ATTEMPTS);
        let config = ResolverConfig::parse("options timeout:999 attempts:0\n");
        assert_eq!(config.timeout, Duration::from_secs(MAX_TIMEOUT_SECS));
        assert_eq!(config.attempts, 1);
    }

    #[test]
    fn keywords_need_a_word_boundary() {
        let config = ResolverConfig::parse("nameservers 10.0.0.1\nsearching a.example\n");
        assert_eq!(config.nameservers, vec![DEFAULT_NAMESERVER]);
        assert!(config.search.is_empty());
    }

    #[test]
    fn with_servers_keeps_defaults() {
        let servers = vec!["127.0.0.1:5353".parse().unwrap()];
        let config = ResolverConfig::with_servers(servers.clone());
        assert_eq!(config.nameservers, servers);
        assert_eq!(config.attempts, DEFAULT_ATTEMPTS);
    }

    #[test]
    fn missing_file_gives_defaults() {
        let config =
            ResolverConfig::from_file(Path::new("/nonexistent/torsion/resolv.conf")).unwrap();
        assert_eq!(config, ResolverConfig::default());
    }
}
