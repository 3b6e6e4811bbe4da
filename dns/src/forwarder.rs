//! The caching forwarder (`--forward`): questions the cache cannot answer go to upstream
//! recursive resolvers (RD=1), what `twistd dns --resolv-conf` does.
//!
//! - Upstreams are tried in turn, starting with the last one that answered: a timeout, a
//!   network error, or an RCODE other than NOERROR/NXDOMAIN (SERVFAIL, REFUSED …) moves on to
//!   the next.
//! - Answers are cached, negative ones included (RFC 2308), through the same classification
//!   as the cache's: only the CNAME chain from the name asked, the records at its end, and the
//!   SOA of a negative answer are kept.
//! - Identical questions in flight share one upstream exchange; a failure serves stale data
//!   if the cache keeps it (RFC 8767).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tracing::debug;

use crate::cache::{classify_response, DnsCache};
use crate::recursor::chain::{find_soa, follow_chain};
use crate::recursor::{
    is_resolvable, InFlight, NetworkUpstream, RecursionError, Resolution, Upstream,
};

/// Default wall-clock limit of one forwarded question, all upstreams included.
pub const DEFAULT_FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time to wait for one upstream resolver: longer than for an authoritative server,
/// since the upstream may have to resolve the name itself first.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

/// A caching forwarder. Share it (`Arc`) between the server's sessions.
pub struct Forwarder<U: Upstream = NetworkUpstream> {
    upstream: U,
    upstreams: Vec<SocketAddr>,
    cache: Arc<DnsCache>,
    /// Index of the upstream that answered last.
    preferred: AtomicUsize,
    inflight: InFlight<(Name, RecordType), Result<Resolution, RecursionError>>,
    timeout: Duration,
}

impl<U: Upstream> std::fmt::Debug for Forwarder<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("upstreams", &self.upstreams)
            .field("preferred", &self.preferred_upstream())
            .field("cache_entries", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl Forwarder<NetworkUpstream> {
    /// Forwards over the network to `upstreams` (addresses with their ports), waiting
    /// [`DEFAULT_UPSTREAM_TIMEOUT`] for each.
    pub fn over_network(upstreams: Vec<SocketAddr>, cache: Arc<DnsCache>) -> Self {
        Self::new(
            NetworkUpstream::new(DEFAULT_UPSTREAM_TIMEOUT),
            upstreams,
            cache,
        )
    }
}

impl<U: Upstream> Forwarder<U> {
    /// Forwards to `upstreams` (addresses with their ports) through `upstream`, caching in
    /// `cache`.
    pub fn new(upstream: U, upstreams: Vec<SocketAddr>, cache: Arc<DnsCache>) -> Self {
        Self {
            upstream,
            upstreams,
            cache,
            preferred: AtomicUsize::new(0),
            inflight: InFlight::new(),
            timeout: DEFAULT_FORWARD_TIMEOUT,
        }
    }

    /// Sets the wall-clock limit of one question.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The upstream resolvers, in configured order.
    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// The upstream asked first: the last one that answered.
    pub fn preferred_upstream(&self) -> Option<SocketAddr> {
        let n = self.upstreams.len();
        (n > 0).then(|| self.upstreams[self.preferred.load(Ordering::Relaxed) % n])
    }

    /// The answer cache.
    pub fn cache(&self) -> &Arc<DnsCache> {
        &self.cache
    }

    /// Distinct questions being forwarded right now.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// The answer the cache alone can give. No upstream query.
    pub fn cached_answer(&self, name: &Name, rtype: RecordType) -> Option<Resolution> {
        self.cache.get(name, rtype).map(Resolution::from)
    }

    /// Answers `name`/`rtype` (class IN) from the cache or the upstreams.
    pub async fn resolve(
        &self,
        name: &Name,
        rtype: RecordType,
    ) -> Result<Resolution, RecursionError> {
        if !is_resolvable(rtype) {
            return Err(RecursionError::UnsupportedType { rtype });
        }
        let mut name = name.clone();
        name.set_fqdn(true);
        if let Some(hit) = self.cache.get(&name, rtype) {
            return Ok(hit.into());
        }
        let key = (name.to_lowercase(), rtype);
        let result = self
            .inflight
            .run(key, || async {
                tokio::time::timeout(self.timeout, self.forward(&name, rtype))
                    .await
                    .unwrap_or_else(|_| {
                        Err(RecursionError::Timeout {
                            name: name.clone(),
                            after: self.timeout,
                        })
                    })
            })
            .await;
        match result {
            Err(error) => match self.cache.get_stale(&name, rtype) {
                Some(stale) => {
                    debug!(%name, %rtype, %error, "forwarding failed, serving stale data");
                    Ok(stale.into())
                }
                None => Err(error),
            },
            ok => ok,
        }
    }

    async fn forward(&self, name: &Name, rtype: RecordType) -> Result<Resolution, RecursionError> {
        let n = self.upstreams.len();
        if n == 0 {
            return Err(RecursionError::UpstreamsFailed {
                reason: "no upstream resolvers configured".into(),
            });
        }
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let mut reasons = Vec::new();
        for index in (0..n).map(|i| (first + i) % n) {
            let server = self.upstreams[index];
            match self.upstream.query(server, name, rtype, true).await {
                Err(error) => {
                    debug!(%server, %error, "upstream failed");
                    reasons.push(error.to_string());
                }
                Ok(response) => match response.metadata.response_code {
                    ResponseCode::NoError | ResponseCode::NXDomain => {
                        self.preferred.store(index, Ordering::Relaxed);
                        return Ok(self.accept(name, rtype, &response));
                    }
                    rcode => {
                        debug!(%server, %rcode, "upstream refused or failed");
                        reasons.push(format!("{server}: {rcode}"));
                    }
                },
            }
        }
        Err(RecursionError::UpstreamsFailed {
            reason: reasons.join("; "),
        })
    }

    /// Caches what `response` teaches and returns the answer.
    fn accept(&self, name: &Name, rtype: RecordType, response: &Message) -> Resolution {
        let query = Query::query(name.clone(), rtype);
        if let Some(entry) = classify_response(&query, response) {
            let answer = entry.to_answer();
            self.cache.insert(name, rtype, entry);
            return answer.into();
        }
        // Not cacheable (a negative answer without SOA, a chain the upstream did not
        // finish …): pass on what belongs to the question.
        let chain = follow_chain(&response.answers, name, rtype);
        let mut answers = Vec::new();
        if !chain.broken {
            answers = chain.cnames;
            answers.extend(chain.records);
        }
        Resolution {
            rcode: response.metadata.response_code,
            answers,
            authorities: find_soa(&response.authorities, &chain.end)
                .cloned()
                .into_iter()
                .collect(),
        }
    }
}
