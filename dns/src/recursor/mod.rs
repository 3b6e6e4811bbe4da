//! The caching recursive resolver (`--recursive`): iterative resolution from the root down
//! (RFC 1034 §5.3.3), what `twisted.names.root` does.
//!
//! For each name: start at the closest delegation known (cached referrals) or the root hints;
//! ask one of that zone's servers, picked by smoothed RTT; follow referrals down, taking glue
//! only in bailiwick and resolving name servers that have none; follow CNAMEs across zones;
//! cache answers, negative answers (RFC 2308) and delegations. The rules about which records a
//! server may speak for live in the pure `classify` module.
//!
//! Limits keep one client question from costing too much: upstream queries per resolution
//! ([`RecursorOptions::max_queries`]), referrals per name, CNAME chain length, nesting of
//! name-server lookups, and a wall-clock deadline. Identical questions in flight at the same
//! time share one resolution. QNAME minimisation (RFC 9156, relaxed) is on by default, and
//! answers expired less than the cache's serve-stale window ago are served when resolution
//! fails (RFC 8767).
//!
//! A failed resolution is a [`RecursionError`] saying why; the server logs it and answers
//! SERVFAIL.

pub(crate) mod chain;
mod classify;
mod delegation;
mod error;
pub mod hints;
mod inflight;
mod minimise;
mod servers;
pub mod upstream;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::time::Instant;
use tracing::debug;

use crate::cache::{CacheEntry, CachedAnswer, DnsCache, NegativeKind};
use classify::{classify, Outcome};
use delegation::{addresses, ns_targets, NameServer, ZoneServers};
use error::Failures;
pub use error::{is_resolvable, RecursionError};
pub use hints::{HintsError, RootHints};
pub(crate) use inflight::InFlight;
use minimise::{label_count, next_label_count};
pub use minimise::{MAX_MINIMISE_COUNT, MINIMISE_ONE_LAB};
use servers::ServerStats;
pub use upstream::{NetworkUpstream, Upstream, DEFAULT_SERVER_TIMEOUT};

/// The port name servers listen on.
pub const DNS_PORT: u16 = 53;

/// Tunables of the recursor. The defaults suit a public-Internet resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecursorOptions {
    /// Upstream queries one client question may cause, name-server lookups included.
    pub max_queries: usize,
    /// Referrals followed while resolving one name.
    pub max_referrals: usize,
    /// CNAMEs followed from the name asked.
    pub max_cname_chain: usize,
    /// How deeply name-server address lookups may nest (a lookup needed by a lookup …).
    pub max_depth: usize,
    /// Wall-clock limit of one resolution.
    pub resolution_timeout: Duration,
    /// Entries of the delegation cache (NS sets and glue), kept apart from the answer cache
    /// so that referral data never answers a client.
    pub infra_cache_size: usize,
    /// Accept glue for name servers outside the referred zone but inside the zone of the
    /// server that refers ("sibling glue", e.g. the .com servers giving the address of
    /// ns.provider.com when delegating example.com). That server is authoritative for those
    /// names anyway; turning this off costs extra lookups.
    pub sibling_glue: bool,
    /// Use IPv6 name server addresses.
    pub ipv6: bool,
    /// Send each server only as much of the name as it needs (RFC 9156), falling back to the
    /// whole name when a minimised query fails or gets NXDOMAIN.
    pub qname_minimisation: bool,
}

impl Default for RecursorOptions {
    fn default() -> Self {
        Self {
            max_queries: 64,
            max_referrals: 20,
            max_cname_chain: 10,
            max_depth: 4,
            resolution_timeout: Duration::from_secs(10),
            infra_cache_size: 10_000,
            sibling_glue: true,
            ipv6: true,
            qname_minimisation: true,
        }
    }
}

/// The result of a resolution: an answer, NODATA, or NXDOMAIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// NOERROR (answer or NODATA) or NXDOMAIN.
    pub rcode: ResponseCode,
    /// The answer section: the CNAME chain from the name asked, then the records of the type
    /// asked at its end.
    pub answers: Vec<Record>,
    /// The authority section: the SOA proving a negative answer, else empty.
    pub authorities: Vec<Record>,
}

impl From<CachedAnswer> for Resolution {
    fn from(answer: CachedAnswer) -> Self {
        Self {
            rcode: answer.rcode,
            answers: answer.answers,
            authorities: answer.authorities,
        }
    }
}

/// The state of one client question: the query budget, shared with every nested lookup.
#[derive(Debug, Default)]
struct Ctx {
    queries: usize,
    depth: usize,
    /// Address lookups in progress, to cut cycles (ns.a.example needs a.example needs …).
    active: Vec<Name>,
}

/// How one name was settled by the servers.
enum Step {
    Answer {
        cnames: Vec<Record>,
        records: Vec<Record>,
    },
    Cname {
        cnames: Vec<Record>,
        target: Name,
    },
    Negative {
        kind: NegativeKind,
        cnames: Vec<Record>,
        soa: Option<Record>,
    },
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The caching recursive resolver. Share it (`Arc`) between the server's sessions.
pub struct Recursor<U: Upstream = NetworkUpstream> {
    upstream: U,
    cache: Arc<DnsCache>,
    infra: DnsCache,
    hints: RootHints,
    options: RecursorOptions,
    servers: ServerStats,
    inflight: InFlight<(Name, RecordType), Result<Resolution, RecursionError>>,
}

impl<U: Upstream> std::fmt::Debug for Recursor<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recursor")
            .field("cache_entries", &self.cache.len())
            .field("infra_entries", &self.infra.len())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<U: Upstream> Recursor<U> {
    /// A recursor asking through `upstream`, caching answers in `cache`, starting from
    /// `hints`.
    pub fn new(
        upstream: U,
        cache: Arc<DnsCache>,
        hints: RootHints,
        options: RecursorOptions,
    ) -> Self {
        Self {
            upstream,
            infra: DnsCache::new(options.infra_cache_size),
            cache,
            hints,
            options,
            servers: ServerStats::default(),
            inflight: InFlight::new(),
        }
    }

    /// The answer cache.
    pub fn cache(&self) -> &Arc<DnsCache> {
        &self.cache
    }

    /// The options in force.
    pub fn options(&self) -> &RecursorOptions {
        &self.options
    }

    /// Distinct questions being resolved right now.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// The smoothed round-trip time measured to a name server, if it was ever asked.
    pub fn server_srtt(&self, ip: IpAddr) -> Option<Duration> {
        self.servers.srtt(ip)
    }

    /// The answer the cache alone can give, following cached CNAMEs (the recursor caches a
    /// chain piece by piece, so `cache().get()` only sees its first link). No upstream query.
    pub fn cached_answer(&self, name: &Name, rtype: RecordType) -> Option<Resolution> {
        self.cached_resolution(name, rtype, false)
    }

    /// Resolves `name`/`rtype` (class IN): from the cache when it can, else by iteration,
    /// sharing the work with identical questions already in flight. When resolution fails
    /// and the cache keeps stale data, a stale answer is returned instead (RFC 8767).
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
        if let Some(hit) = self.cached_resolution(&name, rtype, false) {
            return Ok(hit);
        }
        let key = (name.to_lowercase(), rtype);
        let result = self
            .inflight
            .run(key, || self.resolve_uncached(&name, rtype))
            .await;
        match result {
            Err(error) => match self.cached_resolution(&name, rtype, true) {
                Some(stale) => {
                    debug!(%name, %rtype, %error, "resolution failed, serving stale data");
                    Ok(stale)
                }
                None => Err(error),
            },
            ok => ok,
        }
    }

    async fn resolve_uncached(
        &self,
        name: &Name,
        rtype: RecordType,
    ) -> Result<Resolution, RecursionError> {
        let mut ctx = Ctx::default();
        let limit = self.options.resolution_timeout;
        let result = tokio::time::timeout(limit, self.resolve_chain(name, rtype, &mut ctx)).await;
        debug!(%name, %rtype, queries = ctx.queries, ok = matches!(result, Ok(Ok(_))), "resolved");
        result.unwrap_or_else(|_| {
            Err(RecursionError::Timeout {
                name: name.clone(),
                after: limit,
            })
        })
    }

    /// The whole answer from the cache, following cached CNAMEs; stale entries too with
    /// `stale`.
    fn cached_resolution(&self, name: &Name, rtype: RecordType, stale: bool) -> Option<Resolution> {
        let get = |n: &Name, t| {
            if stale {
                self.cache.get_stale(n, t)
            } else {
                self.cache.get(n, t)
            }
        };
        let mut chain = Vec::new();
        let mut current = name.clone();
        for _ in 0..=self.options.max_cname_chain {
            if let Some(hit) = get(&current, rtype) {
                chain.extend(hit.answers);
                return Some(Resolution {
                    rcode: hit.rcode,
                    answers: chain,
                    authorities: hit.authorities,
                });
            }
            let (record, target) = cached_cname(get(&current, RecordType::CNAME), rtype)?;
            chain.push(record);
            current = target;
        }
        None
    }

    /// Resolves a name, following CNAMEs across zones.
    fn resolve_chain<'a>(
        &'a self,
        name: &'a Name,
        rtype: RecordType,
        ctx: &'a mut Ctx,
    ) -> BoxFuture<'a, Result<Resolution, RecursionError>> {
        Box::pin(async move {
            let mut chain: Vec<Record> = Vec::new();
            let mut seen: Vec<Name> = vec![name.clone()];
            let mut current = name.clone();
            loop {
                if chain.len() > self.options.max_cname_chain {
                    return Err(RecursionError::CnameChainTooLong {
                        name: name.clone(),
                        limit: self.options.max_cname_chain,
                    });
                }
                if let Some(hit) = self.cache.get(&current, rtype) {
                    chain.extend(hit.answers);
                    return Ok(Resolution {
                        rcode: hit.rcode,
                        answers: chain,
                        authorities: hit.authorities,
                    });
                }
                if let Some((record, target)) =
                    cached_cname(self.cache.get(&current, RecordType::CNAME), rtype)
                {
                    if seen.iter().any(|n| n.eq_ignore_root(&target)) {
                        return Err(RecursionError::CnameLoop { name: target });
                    }
                    seen.push(target.clone());
                    chain.push(record);
                    current = target;
                    continue;
                }
                match self.iterate(&current, rtype, ctx).await? {
                    Step::Answer { cnames, records } => {
                        self.cache_cnames(&cnames);
                        let entry = CacheEntry::Positive { answers: records };
                        let end = cnames_end(&cnames, &current);
                        self.cache.insert(&end, rtype, entry.clone());
                        chain.extend(cnames);
                        chain.extend(entry.to_answer().answers);
                        return Ok(Resolution {
                            rcode: ResponseCode::NoError,
                            answers: chain,
                            authorities: Vec::new(),
                        });
                    }
                    Step::Negative { kind, cnames, soa } => {
                        self.cache_cnames(&cnames);
                        let end = cnames_end(&cnames, &current);
                        chain.extend(cnames);
                        let rcode = match kind {
                            NegativeKind::NxDomain => ResponseCode::NXDomain,
                            NegativeKind::NoData => ResponseCode::NoError,
                        };
                        let authorities = match soa {
                            Some(soa) => {
                                let entry = CacheEntry::Negative {
                                    kind,
                                    answers: Vec::new(),
                                    soa,
                                };
                                self.cache.insert(&end, rtype, entry.clone());
                                entry.to_answer().authorities
                            }
                            None => Vec::new(),
                        };
                        return Ok(Resolution {
                            rcode,
                            answers: chain,
                            authorities,
                        });
                    }
                    Step::Cname { cnames, target } => {
                        self.cache_cnames(&cnames);
                        for record in &cnames {
                            if let RData::CNAME(next) = &record.data {
                                if seen.iter().any(|n| n.eq_ignore_root(&next.0)) {
                                    return Err(RecursionError::CnameLoop {
                                        name: next.0.clone(),
                                    });
                                }
                                seen.push(next.0.clone());
                            }
                        }
                        chain.extend(cnames);
                        current = target;
                    }
                }
            }
        })
    }

    fn cache_cnames(&self, cnames: &[Record]) {
        for record in cnames {
            let entry = CacheEntry::Positive {
                answers: vec![record.clone()],
            };
            self.cache.insert(&record.name, RecordType::CNAME, entry);
        }
    }

    /// Resolves one name by iteration from the closest known delegation, without following
    /// CNAMEs that leave the zone answering.
    async fn iterate(
        &self,
        name: &Name,
        rtype: RecordType,
        ctx: &mut Ctx,
    ) -> Result<Step, RecursionError> {
        let mut zone = self.closest_delegation(name, rtype);
        let mut referrals = 0;
        let name_labels = label_count(name);
        // QNAME minimisation state: how many labels the next question has, and how many
        // minimised questions were asked of the current zone (RFC 9156 §2.3).
        let mut minimise = self.options.qname_minimisation && rtype != RecordType::DS;
        let mut steps = 0;
        let mut labels = label_count(&zone.zone);
        loop {
            let minimised_name = if minimise {
                labels = next_label_count(labels, name_labels, steps);
                (labels < name_labels).then(|| name.trim_to(labels))
            } else {
                None
            };
            let (qname, qtype) = match &minimised_name {
                // RFC 9156 §2.1: A hides that the query is minimised and works with
                // servers that mishandle NS.
                Some(short) => (short, RecordType::A),
                None => (name, rtype),
            };
            let outcome = match self.ask_zone(&mut zone, qname, qtype, ctx).await {
                // Relaxed minimisation (RFC 9156 §2.3): a server that fails the minimised
                // question may still answer the whole one; one that timed out will not.
                Err(error)
                    if minimised_name.is_some() && !error.is_fatal() && !error.all_timed_out() =>
                {
                    debug!(%name, %error, "minimised query failed, asking the whole name");
                    minimise = false;
                    continue;
                }
                result => result?,
            };
            match outcome {
                Outcome::Referral {
                    zone: child,
                    ns,
                    glue,
                } => {
                    referrals += 1;
                    if referrals > self.options.max_referrals {
                        return Err(RecursionError::TooManyReferrals {
                            name: name.clone(),
                            limit: self.options.max_referrals,
                        });
                    }
                    debug!(%name, from = %zone.zone, to = %child, "referral");
                    zone = self.follow_referral(child, ns, glue);
                    labels = label_count(&zone.zone);
                    steps = 0;
                }
                _ if minimised_name.is_some() => {
                    if matches!(
                        outcome,
                        Outcome::Negative {
                            kind: NegativeKind::NxDomain,
                            ..
                        } | Outcome::Loop { .. }
                    ) {
                        // Relaxed minimisation: some servers deny empty non-terminals.
                        minimise = false;
                    } else {
                        steps += 1;
                        if steps >= MAX_MINIMISE_COUNT {
                            minimise = false;
                        }
                    }
                }
                Outcome::Answer { cnames, records } => return Ok(Step::Answer { cnames, records }),
                Outcome::Cname { cnames, target } => return Ok(Step::Cname { cnames, target }),
                Outcome::Negative { kind, cnames, soa } => {
                    return Ok(Step::Negative { kind, cnames, soa })
                }
                Outcome::Loop { name } => return Err(RecursionError::CnameLoop { name }),
                Outcome::Lame(_) => {
                    // ask_zone never returns Lame; treat it as a failure of the zone.
                    return Err(RecursionError::ServersFailed {
                        zone: zone.zone.clone(),
                        reason: "are lame".into(),
                    });
                }
            }
        }
    }

    /// Asks the servers of `zone`, best first, until one gives a usable response.
    async fn ask_zone(
        &self,
        zone: &mut ZoneServers,
        qname: &Name,
        qtype: RecordType,
        ctx: &mut Ctx,
    ) -> Result<Outcome, RecursionError> {
        let mut tried: Vec<IpAddr> = Vec::new();
        let mut failures = Failures::default();
        loop {
            let candidates: Vec<IpAddr> =
                zone.addresses().filter(|ip| !tried.contains(ip)).collect();
            let ip = match self.servers.pick(&candidates, tried.is_empty()) {
                Some(ip) => ip,
                None => {
                    // Out of addresses: look up a name server that has none yet.
                    let Some(index) = zone.servers.iter().position(|s| !s.looked_up) else {
                        break;
                    };
                    let ns = zone.servers[index].name.clone();
                    zone.servers[index].looked_up = true;
                    if zone.zone.zone_of(&ns) {
                        // In the zone and without glue: unreachable (RFC 1034 §4.2.2).
                        failures.note(format!("{ns}: no glue"), false);
                        continue;
                    }
                    match self.lookup_server(&ns, ctx).await {
                        Ok(addrs) if addrs.is_empty() => {
                            failures.note(format!("{ns}: no address"), false);
                        }
                        Ok(addrs) => zone.servers[index].addrs = addrs,
                        Err(error) if error.is_fatal() => return Err(error),
                        Err(error) => failures.note(format!("{ns}: {error}"), false),
                    }
                    continue;
                }
            };
            tried.push(ip);
            if ctx.queries >= self.options.max_queries {
                return Err(RecursionError::QueryBudgetExhausted {
                    name: qname.clone(),
                    limit: self.options.max_queries,
                });
            }
            ctx.queries += 1;
            let server = SocketAddr::new(ip, DNS_PORT);
            debug!(%server, zone = %zone.zone, %qname, %qtype, "querying");
            let sent = Instant::now();
            match self.upstream.query(server, qname, qtype, false).await {
                Err(error) => {
                    self.servers.record_failure(ip);
                    debug!(%server, %error, "no response");
                    failures.note(error.to_string(), error.is_timeout());
                }
                Ok(response) => {
                    self.servers.record_rtt(ip, sent.elapsed());
                    let outcome = classify(
                        &zone.zone,
                        qname,
                        qtype,
                        &response,
                        self.options.sibling_glue,
                    );
                    match outcome {
                        Outcome::Lame(reason) => {
                            debug!(%server, %reason, "unusable response");
                            failures.note(format!("{server}: {reason}"), false);
                        }
                        outcome => return Ok(outcome),
                    }
                }
            }
        }
        Err(RecursionError::ServersFailed {
            zone: zone.zone.clone(),
            reason: failures.summary(),
        })
    }

    /// Looks up the addresses of name server `ns` with a nested resolution sharing `ctx`.
    async fn lookup_server(&self, ns: &Name, ctx: &mut Ctx) -> Result<Vec<IpAddr>, RecursionError> {
        if ctx.depth >= self.options.max_depth {
            return Err(RecursionError::TooDeep { name: ns.clone() });
        }
        if ctx.active.iter().any(|n| n.eq_ignore_root(ns)) {
            return Ok(Vec::new());
        }
        ctx.depth += 1;
        ctx.active.push(ns.clone());
        let mut types = vec![RecordType::A];
        if self.options.ipv6 {
            types.push(RecordType::AAAA);
        }
        let mut addrs = Vec::new();
        let mut result = Ok(());
        for rtype in types {
            match self.resolve_chain(ns, rtype, ctx).await {
                Ok(resolution) => addrs.extend(addresses(&resolution.answers)),
                Err(error) => {
                    result = Err(error);
                    break;
                }
            }
            // IPv4 is enough to go on; AAAA only when there is none.
            if !addrs.is_empty() {
                break;
            }
        }
        ctx.active.pop();
        ctx.depth -= 1;
        match result {
            Err(error) if addrs.is_empty() => Err(error),
            _ => Ok(addrs),
        }
    }

    /// The closest enclosing zone whose servers we know, else the root.
    fn closest_delegation(&self, name: &Name, rtype: RecordType) -> ZoneServers {
        // DS records live in the parent zone (RFC 4035 §3.1.4.1).
        let start = if rtype == RecordType::DS && !name.is_root() {
            name.base_name()
        } else {
            name.clone()
        };
        for labels in (1..=label_count(&start)).rev() {
            let zone = start.trim_to(labels);
            let Some(hit) = self.infra.get(&zone, RecordType::NS) else {
                continue;
            };
            let servers = ns_targets(&hit.answers)
                .map(|ns| self.name_server(ns))
                .collect();
            let known = ZoneServers { zone, servers };
            if known.usable() {
                return known;
            }
        }
        let servers = self
            .hints
            .servers()
            .iter()
            .map(|(ns, addrs)| NameServer {
                name: ns.clone(),
                addrs: addrs
                    .iter()
                    .copied()
                    .filter(|ip| self.usable_ip(ip))
                    .collect(),
                looked_up: true,
            })
            .collect();
        ZoneServers {
            zone: Name::root(),
            servers,
        }
    }

    /// Remembers a delegation and its glue, and returns the servers to ask next.
    fn follow_referral(&self, zone: Name, ns: Vec<Record>, glue: Vec<Record>) -> ZoneServers {
        for rtype in [RecordType::A, RecordType::AAAA] {
            let mut owners: Vec<&Name> = glue
                .iter()
                .filter(|r| r.record_type() == rtype)
                .map(|r| &r.name)
                .collect();
            owners.dedup_by(|a, b| a.eq_ignore_root(b));
            for owner in owners {
                let answers: Vec<Record> = glue
                    .iter()
                    .filter(|r| r.record_type() == rtype && r.name.eq_ignore_root(owner))
                    .cloned()
                    .collect();
                self.infra
                    .insert(owner, rtype, CacheEntry::Positive { answers });
            }
        }
        let servers = ns_targets(&ns).map(|ns| self.name_server(ns)).collect();
        self.infra
            .insert(&zone, RecordType::NS, CacheEntry::Positive { answers: ns });
        ZoneServers { zone, servers }
    }

    /// Name server `name` with the addresses we know; only one without any is looked up.
    fn name_server(&self, name: Name) -> NameServer {
        let addrs = self.known_addresses(&name);
        NameServer {
            looked_up: !addrs.is_empty(),
            addrs,
            name,
        }
    }

    /// Addresses of `ns` known from glue or earlier answers.
    fn known_addresses(&self, ns: &Name) -> Vec<IpAddr> {
        let mut addrs: Vec<IpAddr> = Vec::new();
        for rtype in [RecordType::A, RecordType::AAAA] {
            for cache in [&self.infra, &*self.cache] {
                if let Some(hit) = cache.get(ns, rtype) {
                    for ip in addresses(&hit.answers) {
                        if !addrs.contains(&ip) {
                            addrs.push(ip);
                        }
                    }
                }
            }
        }
        addrs.retain(|ip| self.usable_ip(ip));
        addrs
    }

    fn usable_ip(&self, ip: &IpAddr) -> bool {
        self.options.ipv6 || ip.is_ipv4()
    }
}

/// The CNAME record and its target from a cache hit, unless the question is for CNAME or
/// ANY itself (those are answered by the record, not followed).
fn cached_cname(hit: Option<CachedAnswer>, rtype: RecordType) -> Option<(Record, Name)> {
    if rtype == RecordType::CNAME || rtype == RecordType::ANY {
        return None;
    }
    hit?.answers
        .into_iter()
        .find_map(|record| match &record.data {
            RData::CNAME(target) => {
                let target = target.0.clone();
                Some((record, target))
            }
            _ => None,
        })
}

/// The name at the end of a CNAME chain starting at `start`.
fn cnames_end(cnames: &[Record], start: &Name) -> Name {
    cnames
        .last()
        .and_then(|r| match &r.data {
            RData::CNAME(target) => Some(target.0.clone()),
            _ => None,
        })
        .unwrap_or_else(|| start.clone())
}
