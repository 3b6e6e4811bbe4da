//! The stub resolver: search list, server failover, and typed lookups over [`exchange`].
//!
//! For each candidate name (see [`super::search`]) the configured servers are asked in turn,
//! `attempts` rounds over the list, each with `timeout`. A server that times out, fails at the
//! socket level, or answers SERVFAIL, REFUSED or another error RCODE is skipped for the next
//! one; NOERROR and NXDOMAIN are definitive. Over the candidates, glibc's `res_search` rules
//! decide: the first NOERROR with records wins, NXDOMAIN and NOERROR-without-data (NODATA) move
//! on to the next candidate, a name where every server failed moves on too if the failure was
//! an error RCODE, and stops the search if it was a timeout or a transport error (the next
//! candidate would go to the same unreachable servers). When nothing answered, NODATA
//! anywhere beats a server failure, which beats NXDOMAIN, as with glibc.
//!
//! No caching: that is the recursor's job (or a local caching server's).

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tracing::debug;

use super::exchange::{exchange, ExchangeError, ExchangeOptions, DEFAULT_EDNS_PAYLOAD};
use super::lookup::Lookup;
use super::resolv_conf::ResolverConfig;
use super::search::{candidates, BadName};

/// Why a lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name does not exist (NXDOMAIN for every candidate name).
    #[error("{name}: no such domain (NXDOMAIN)")]
    NxDomain {
        /// The name as given.
        name: String,
    },
    /// The name exists but has no records of this type (NOERROR, empty answer).
    #[error("{name}: no {rtype} records")]
    NoRecords {
        /// The candidate name that exists without such records.
        name: String,
        /// The type asked.
        rtype: RecordType,
    },
    /// Every server answered with an error RCODE (SERVFAIL, FORMERR, NOTIMP, …).
    #[error("{name}: server failure ({rcode})")]
    ServerFailure {
        /// The name asked.
        name: String,
        /// The last RCODE received.
        rcode: ResponseCode,
    },
    /// Every server answered REFUSED.
    #[error("{name}: query refused")]
    Refused {
        /// The name asked.
        name: String,
    },
    /// No server answered in time.
    #[error("{name}: timed out")]
    Timeout {
        /// The name asked.
        name: String,
    },
    /// The last server failed at the transport level (socket error, malformed response, …).
    #[error("{name}: {source}")]
    Transport {
        /// The name asked.
        name: String,
        /// The last server's error.
        #[source]
        source: ExchangeError,
    },
    /// The name is not a valid domain name.
    #[error(transparent)]
    BadName(#[from] BadName),
    /// The configuration lists no servers.
    #[error("no nameservers configured")]
    NoNameservers,
}

impl ResolveError {
    /// Whether trying again later might succeed (SMTP: 4xx rather than 5xx). NXDOMAIN, NODATA
    /// and bad names are permanent; everything else is a failure to get an answer.
    pub fn is_temporary(&self) -> bool {
        !matches!(
            self,
            Self::NxDomain { .. } | Self::NoRecords { .. } | Self::BadName(_)
        )
    }
}

/// A mail exchanger (RFC 1035 §3.3.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    /// Lower is preferred.
    pub preference: u16,
    /// The host accepting mail; the root (`.`) is a null MX (RFC 7505): no mail accepted.
    pub exchange: Name,
}

/// A service location (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative weight among records of the same priority.
    pub weight: u16,
    /// The service's port.
    pub port: u16,
    /// The host; the root (`.`) means the service is not available.
    pub target: Name,
}

/// A stub resolver. Cheap to clone: clones share the configuration and rotation state.
#[derive(Debug, Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ResolverConfig,
    /// The next starting server when `rotate` is set.
    next_server: AtomicUsize,
}

/// What one candidate name gave.
enum Outcome {
    Answer(Box<Lookup>),
    NoData,
    NxDomain,
}

/// Outcomes over the candidate names, to pick the error when none answered (glibc's
/// `got_nodata` / `got_servfail` bookkeeping).
#[derive(Default)]
struct SearchState {
    no_data: Option<String>,
    server_failure: Option<ResolveError>,
}

impl SearchState {
    fn finish(self, name: &str, rtype: RecordType) -> ResolveError {
        if let Some(candidate) = self.no_data {
            ResolveError::NoRecords {
                name: candidate,
                rtype,
            }
        } else if let Some(failure) = self.server_failure {
            failure
        } else {
            ResolveError::NxDomain {
                name: name.to_owned(),
            }
        }
    }

    /// Records a candidate's failure; returns it back if the search must stop.
    fn failed(&mut self, error: ResolveError) -> Result<(), ResolveError> {
        match error {
            ResolveError::ServerFailure { .. } | ResolveError::Refused { .. } => {
                self.server_failure = Some(error);
                Ok(())
            }
            other => Err(other),
        }
    }
}

impl Resolver {
    /// A resolver with this configuration.
    pub fn new(config: ResolverConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                next_server: AtomicUsize::new(0),
            }),
        }
    }

    /// A resolver configured from `/etc/resolv.conf`.
    pub fn from_system() -> io::Result<Self> {
        ResolverConfig::from_system().map(Self::new)
    }

    /// The configuration in use.
    pub fn config(&self) -> &ResolverConfig {
        &self.inner.config
    }

    /// Looks up `name` (search list and `ndots` applied) for records of type `rtype`.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Lookup, ResolveError> {
        let mut state = SearchState::default();
        for candidate in candidates(name, &self.inner.config)? {
            match self.resolve_candidate(&candidate, rtype).await {
                Ok(Outcome::Answer(lookup)) => return Ok(*lookup),
                Ok(Outcome::NoData) => {
                    state.no_data.get_or_insert_with(|| candidate.to_ascii());
                }
                Ok(Outcome::NxDomain) => {}
                Err(error) => state.failed(error)?,
            }
        }
        Err(state.finish(name, rtype))
    }

    /// Looks up an absolute name, without the search list.
    pub async fn lookup_name(
        &self,
        name: &Name,
        rtype: RecordType,
    ) -> Result<Lookup, ResolveError> {
        let mut absolute = name.clone();
        absolute.set_fqdn(true);
        match self.resolve_candidate(&absolute, rtype).await? {
            Outcome::Answer(lookup) => Ok(*lookup),
            Outcome::NoData => Err(ResolveError::NoRecords {
                name: absolute.to_ascii(),
                rtype,
            }),
            Outcome::NxDomain => Err(ResolveError::NxDomain {
                name: absolute.to_ascii(),
            }),
        }
    }

    /// Asks the servers (failover, rotation) about one absolute name and returns the first
    /// definitive response — NOERROR or NXDOMAIN, with or without records — as received.
    /// This is what a forwarder needs: no search list, no CNAME interpretation.
    pub async fn query(&self, name: &Name, rtype: RecordType) -> Result<Message, ResolveError> {
        let config = &self.inner.config;
        let servers = &config.nameservers;
        if servers.is_empty() {
            return Err(ResolveError::NoNameservers);
        }
        let start = if config.rotate {
            self.inner.next_server.fetch_add(1, Ordering::Relaxed) % servers.len()
        } else {
            0
        };
        let opts = ExchangeOptions {
            timeout: config.timeout,
            tcp: false,
            edns_payload: Some(DEFAULT_EDNS_PAYLOAD),
            recursion_desired: true,
        };
        let label = || name.to_ascii();
        let mut last_error = ResolveError::Timeout { name: label() };
        for _attempt in 0..config.attempts.max(1) {
            for offset in 0..servers.len() {
                let Some(&server) = servers.get((start + offset) % servers.len()) else {
                    continue;
                };
                match exchange(server, name, rtype, &opts).await {
                    Ok(response) => match response.metadata.response_code {
                        ResponseCode::NoError | ResponseCode::NXDomain => return Ok(response),
                        ResponseCode::Refused => {
                            debug!(%server, %name, "refused");
                            last_error = ResolveError::Refused { name: label() };
                        }
                        rcode => {
                            debug!(%server, %name, %rcode, "server failure");
                            last_error = ResolveError::ServerFailure {
                                name: label(),
                                rcode,
                            };
                        }
                    },
                    Err(error) => {
                        debug!(%name, %error, "exchange failed");
                        last_error = match error {
                            ExchangeError::Timeout { .. } => {
                                ResolveError::Timeout { name: label() }
                            }
                            source => ResolveError::Transport {
                                name: label(),
                                source,
                            },
                        };
                    }
                }
            }
        }
        Err(last_error)
    }

    async fn resolve_candidate(
        &self,
        name: &Name,
        rtype: RecordType,
    ) -> Result<Outcome, ResolveError> {
        let response = self.query(name, rtype).await?;
        if response.metadata.response_code == ResponseCode::NXDomain {
            return Ok(Outcome::NxDomain);
        }
        let lookup = Lookup::from_message(name.clone(), rtype, response);
        Ok(if lookup.records.is_empty() {
            Outcome::NoData
        } else {
            Outcome::Answer(Box::new(lookup))
        })
    }

    /// The addresses of `host`: an IP literal is returned as is, without a query; otherwise
    /// AAAA and A are asked concurrently for each candidate name, and the first candidate with
    /// either gives the result, IPv6 addresses first, then IPv4 (RFC 6724's default
    /// preference; callers connecting should fall back along the list, or interleave per
    /// RFC 8305). A lookup where only one family answered returns that family.
    pub async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let mut state = SearchState::default();
        for candidate in candidates(host, &self.inner.config)? {
            let (v6, v4) = tokio::join!(
                self.resolve_candidate(&candidate, RecordType::AAAA),
                self.resolve_candidate(&candidate, RecordType::A),
            );
            let mut addresses = Vec::new();
            for outcome in [&v6, &v4] {
                if let Ok(Outcome::Answer(lookup)) = outcome {
                    addresses.extend(lookup.rdata().filter_map(RData::ip_addr));
                }
            }
            if !addresses.is_empty() {
                return Ok(addresses);
            }
            let mut stop = None;
            for outcome in [v6, v4] {
                match outcome {
                    Ok(Outcome::NoData | Outcome::Answer(_)) => {
                        state.no_data.get_or_insert_with(|| candidate.to_ascii());
                    }
                    Ok(Outcome::NxDomain) => {}
                    Err(error) => {
                        if let Err(error) = state.failed(error) {
                            stop.get_or_insert(error);
                        }
                    }
                }
            }
            if let Some(error) = stop {
                return Err(error);
            }
        }
        Err(state.finish(host, RecordType::A))
    }

    /// The mail exchangers of `domain`, most preferred (lowest) first; equal preferences keep
    /// the server's order (RFC 5321 §5.1 asks the SMTP client to shuffle those). A null MX
    /// (RFC 7505) is returned as is. `NoRecords` means the domain exists without MX records:
    /// SMTP then falls back to the domain's address records.
    pub async fn mx_lookup(&self, domain: &str) -> Result<Vec<Mx>, ResolveError> {
        let lookup = self.lookup(domain, RecordType::MX).await?;
        let mut mxs: Vec<Mx> = lookup
            .rdata()
            .filter_map(|rdata| match rdata {
                RData::MX(mx) => Some(Mx {
                    preference: mx.preference,
                    exchange: mx.exchange.clone(),
                }),
                _ => None,
            })
            .collect();
        mxs.sort_by_key(|mx| mx.preference);
        Ok(mxs)
    }

    /// The TXT records of `name`, each record's character-strings concatenated (as SPF and
    /// DKIM read them, RFC 7208 §3.3).
    pub async fn txt_lookup(&self, name: &str) -> Result<Vec<Vec<u8>>, ResolveError> {
        let lookup = self.lookup(name, RecordType::TXT).await?;
        Ok(lookup
            .rdata()
            .filter_map(|rdata| match rdata {
                RData::TXT(txt) => Some(txt.txt_data.iter().flatten().copied().collect()),
                _ => None,
            })
            .collect())
    }

    /// The SRV records of `name` (e.g. `_imap._tcp.example.com`), by priority (lowest first),
    /// then weight (highest first). RFC 2782's weighted random choice is left to the caller.
    pub async fn srv_lookup(&self, name: &str) -> Result<Vec<Srv>, ResolveError> {
        let lookup = self.lookup(name, RecordType::SRV).await?;
        let mut srvs: Vec<Srv> = lookup
            .rdata()
            .filter_map(|rdata| match rdata {
                RData::SRV(srv) => Some(Srv {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: srv.target.clone(),
                }),
                _ => None,
            })
            .collect();
        srvs.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
        Ok(srvs)
    }

    /// The PTR names of `ip`, via `in-addr.arpa` or `ip6.arpa` (RFC 1035 §3.5, RFC 3596 §2.5).
    /// An IPv4-mapped IPv6 address is looked up as IPv4.
    pub async fn reverse_lookup(&self, ip: IpAddr) -> Result<Vec<Name>, ResolveError> {
        let lookup = self
            .lookup_name(&Name::from(ip.to_canonical()), RecordType::PTR)
            .await?;
        Ok(lookup
            .rdata()
            .filter_map(|rdata| match rdata {
                RData::PTR(ptr) => Some(ptr.0.clone()),
                _ => None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_errors() {
        assert!(!ResolveError::NxDomain { name: "x".into() }.is_temporary());
        assert!(!ResolveError::NoRecords {
            name: "x".into(),
            rtype: RecordType::MX
        }
        .is_temporary());
        assert!(ResolveError::Timeout { name: "x".into() }.is_temporary());
        assert!(ResolveError::ServerFailure {
            name: "x".into(),
            rcode: ResponseCode::ServFail
        }
        .is_temporary());
    }

    #[test]
    fn search_state_prefers_nodata_then_servfail_then_nxdomain() {
        let servfail = || ResolveError::ServerFailure {
            name: "b.".into(),
            rcode: ResponseCode::ServFail,
        };
        let state = SearchState::default();
        assert!(matches!(
            state.finish("x", RecordType::A),
            ResolveError::NxDomain { .. }
        ));
        let mut state = SearchState::default();
        state.failed(servfail()).unwrap();
        assert!(matches!(
            state.finish("x", RecordType::A),
            ResolveError::ServerFailure { .. }
        ));
        let mut state = SearchState::default();
        state.failed(servfail()).unwrap();
        state.no_data = Some("a.".into());
        assert!(matches!(
            state.finish("x", RecordType::A),
            ResolveError::NoRecords { .. }
        ));
        let mut state = SearchState::default();
        assert!(state
            .failed(ResolveError::Timeout { name: "x".into() })
            .is_err());
    }

    #[tokio::test]
    async fn no_nameservers_is_an_error() {
        let resolver = Resolver::new(ResolverConfig::with_servers(Vec::new()));
        assert!(matches!(
            resolver.lookup("example.com.", RecordType::A).await,
            Err(ResolveError::NoNameservers)
        ));
        assert_eq!(
            resolver.lookup_ip("192.0.2.7").await.unwrap(),
            vec!["192.0.2.7".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            resolver.lookup_ip("[2001:db8::1]").await.unwrap(),
            vec!["2001:db8::1".parse::<IpAddr>().unwrap()]
        );
    }
}
