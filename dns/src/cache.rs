//! The answer cache shared by a server's sessions: what the recursor and the forwarder learn,
//! kept for as long as its TTL allows.
//!
//! - Keyed by (name, type) for class IN; names compare case-insensitively (RFC 4343).
//! - Positive entries hold the answer records, a CNAME chain included; negative entries
//!   (NXDOMAIN or NODATA) hold the SOA that proves them and live for
//!   `min(SOA TTL, SOA MINIMUM)` (RFC 2308 §5).
//! - TTLs are clamped ([`MAX_POSITIVE_TTL`], [`MAX_NEGATIVE_TTL`]) and counted down: records
//!   come back with the seconds they have left, as RFC 1035 §7.4 and RFC 2308 §5 ask.
//! - Bounded by an entry count and split into mutex-guarded shards by key hash, so that
//!   worker threads rarely contend. The name is hashed once per lookup (FNV), and that hash
//!   both picks the shard and indexes the shard's map.
//! - Each shard evicts by CLOCK (second chance), an approximation of least recently used: a
//!   hit only sets the entry's reference bit, and a full shard sweeps a hand over its entries,
//!   clearing set bits and evicting the first entry whose bit is clear (or that has expired
//!   past the serve-stale window).
//! - Optionally serve-stale (RFC 8767): expired entries are kept for a bounded time and handed
//!   out by [`DnsCache::get_stale`] with a TTL of [`STALE_TTL`] when the upstream fails.
//!
//! Time is `tokio::time::Instant`, so tests drive expiry with a paused clock.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::time::Instant;

use crate::fnv::Fnv;

pub use crate::recursor::chain::classify_response;

/// Longest time a positive answer is kept, whatever its TTL says (one day, as BIND's
/// `max-cache-ttl` is by default a week and Unbound's a day).
pub const MAX_POSITIVE_TTL: u32 = 86_400;

/// Longest time a negative answer is kept: three hours, RFC 2308 §5's suggested ceiling.
pub const MAX_NEGATIVE_TTL: u32 = 10_800;

/// TTL given to a stale answer (RFC 8767 §4: "a TTL of 30 seconds is RECOMMENDED").
pub const STALE_TTL: u32 = 30;

/// Default number of cache entries (the `--cache-size` default).
pub const DEFAULT_CACHE_SIZE: usize = 10_000;

/// Number of shards of a large cache.
const SHARDS: usize = 16;

/// A cache smaller than `SHARDS * MIN_SHARD_CAPACITY` entries is a single shard, so that a
/// small capacity is not split into uselessly tiny pieces.
const MIN_SHARD_CAPACITY: usize = 16;

/// Which kind of negative answer (RFC 2308 §1–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NegativeKind {
    /// The name does not exist (RCODE 3).
    NxDomain,
    /// The name exists but has no records of the asked type (NOERROR, empty answer).
    NoData,
}

/// What to remember about one question.
// Entries are built and consumed right away; boxing the SOA would only cost an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum CacheEntry {
    /// The answer: the CNAME chain from the asked name (if any), then the records of the
    /// asked type owned by its end.
    Positive {
        /// The answer records.
        answers: Vec<Record>,
    },
    /// A negative answer, proven by the SOA of the zone that gave it.
    Negative {
        /// NXDOMAIN or NODATA.
        kind: NegativeKind,
        /// The CNAME chain leading to the name that does not exist or has no data.
        answers: Vec<Record>,
        /// The SOA record from the authority section.
        soa: Record,
    },
}

impl CacheEntry {
    /// The RCODE this entry answers with.
    pub fn rcode(&self) -> ResponseCode {
        match self {
            Self::Negative {
                kind: NegativeKind::NxDomain,
                ..
            } => ResponseCode::NXDomain,
            _ => ResponseCode::NoError,
        }
    }

    /// How long the entry may be kept, in seconds: the smallest TTL among its records for a
    /// positive entry, `min(SOA TTL, SOA MINIMUM)` and the chain's TTLs for a negative one
    /// (RFC 2308 §5), clamped. `None` when there is nothing to keep.
    pub fn ttl(&self) -> Option<u32> {
        match self {
            Self::Positive { answers } => answers.iter().map(|r| r.ttl.min(MAX_POSITIVE_TTL)).min(),
            Self::Negative { answers, soa, .. } => {
                let soa_ttl = negative_ttl(soa)?;
                Some(
                    answers
                        .iter()
                        .map(|r| r.ttl)
                        .fold(soa_ttl, u32::min)
                        .min(MAX_NEGATIVE_TTL),
                )
            }
        }
    }

    /// The answer this entry gives, with TTLs clamped as the cache would store them.
    pub fn to_answer(&self) -> CachedAnswer {
        let (answers, authorities) = self.stored_records();
        CachedAnswer {
            rcode: self.rcode(),
            answers,
            authorities,
        }
    }

    /// Answer and authority records as stored: positive TTLs clamped, the SOA's TTL set to
    /// the negative TTL (RFC 2308 §3).
    fn stored_records(&self) -> (Vec<Record>, Vec<Record>) {
        let clamp = |r: &Record| {
            let mut r = r.clone();
            r.ttl = r.ttl.min(MAX_POSITIVE_TTL);
            r
        };
        match self {
            Self::Positive { answers } => (answers.iter().map(clamp).collect(), Vec::new()),
            Self::Negative { answers, soa, .. } => {
                let mut soa = soa.clone();
                soa.ttl = self.ttl().unwrap_or(0);
                (answers.iter().map(clamp).collect(), vec![soa])
            }
        }
    }
}

/// An answer from the cache: TTLs are the seconds left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedAnswer {
    /// NOERROR or NXDOMAIN.
    pub rcode: ResponseCode,
    /// The answer section: the CNAME chain, then the records of the asked type.
    pub answers: Vec<Record>,
    /// The authority section: the SOA of a negative answer, else empty.
    pub authorities: Vec<Record>,
}

/// The negative-caching TTL an SOA record allows: `min(SOA TTL, SOA MINIMUM)` (RFC 2308 §5).
/// `None` when the record is not an SOA.
pub fn negative_ttl(soa: &Record) -> Option<u32> {
    match &soa.data {
        RData::SOA(data) => Some(soa.ttl.min(data.minimum)),
        _ => None,
    }
}

/// Hit and miss counters, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups answered.
    pub hits: u64,
    /// Lookups not answered (absent or expired).
    pub misses: u64,
    /// Entries held now, expired ones kept for serve-stale included.
    pub entries: usize,
}

/// A cache key: the name in lower case (RFC 4343) as an FQDN, the type, and their hash,
/// computed once and used for both the shard and the shard's map.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    hash: u64,
    name: Name,
    rtype: RecordType,
}

impl Key {
    fn new(name: &Name, rtype: RecordType) -> Self {
        let mut name = name.to_lowercase();
        name.set_fqdn(true);
        let hash = BuildHasherDefault::<Fnv>::default().hash_one((&name, rtype));
        Self { hash, name, rtype }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Passes [`Key`]'s precomputed hash through to the map unchanged.
#[derive(Debug, Default, Clone, Copy)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (by `Key`); fold anything else in all the same.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Debug)]
struct Slot {
    rcode: ResponseCode,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    inserted: Instant,
    expires: Instant,
}

impl Slot {
    /// The records with the seconds they have left, or with `fixed_ttl`.
    fn answer(&self, now: Instant, fixed_ttl: Option<u32>) -> CachedAnswer {
        let elapsed = u32::try_from(now.saturating_duration_since(self.inserted).as_secs())
            .unwrap_or(u32::MAX);
        let count_down = |r: &Record| {
            let mut r = r.clone();
            r.ttl = fixed_ttl.unwrap_or_else(|| r.ttl.saturating_sub(elapsed));
            r
        };
        CachedAnswer {
            rcode: self.rcode,
            answers: self.answers.iter().map(count_down).collect(),
            authorities: self.authorities.iter().map(count_down).collect(),
        }
    }

    /// Whether the slot is of no use any more at `now`: expired, and past the serve-stale
    /// window `max_stale`.
    fn is_dead(&self, now: Instant, max_stale: Duration) -> bool {
        self.expires
            .checked_add(max_stale)
            .is_some_and(|kept_until| now >= kept_until)
    }
}

/// A shard's entry: its key, its data, and the CLOCK reference bit.
#[derive(Debug)]
struct Entry {
    key: Key,
    slot: Slot,
    referenced: bool,
}

/// One shard: the entries in a dense vector (the CLOCK's circle), and a map from key to
/// position in it.
#[derive(Debug)]
struct Shard {
    capacity: usize,
    index: HashMap<Key, usize, BuildHasherDefault<PassThrough>>,
    entries: Vec<Entry>,
    /// The CLOCK hand: the next entry to consider for eviction.
    hand: usize,
}

impl Shard {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            index: HashMap::default(),
            entries: Vec::new(),
            hand: 0,
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry for `key`, if held.
    fn get_mut(&mut self, key: &Key) -> Option<&mut Entry> {
        let at = *self.index.get(key)?;
        self.entries.get_mut(at)
    }

    /// Drop the entry for `key`: the last entry moves into its place.
    fn remove(&mut self, key: &Key) {
        let Some(at) = self.index.remove(key) else {
            return;
        };
        self.entries.swap_remove(at);
        if let Some(moved) = self.entries.get(at) {
            if let Some(position) = self.index.get_mut(&moved.key) {
                *position = at;
            }
        }
        if self.hand >= self.entries.len() {
            self.hand = 0;
        }
    }

    /// Hold `slot` under `key`, replacing any previous entry, and evicting one (see
    /// [`victim`](Self::victim)) when the shard is full.
    fn insert(&mut self, key: Key, slot: Slot, now: Instant, max_stale: Duration) {
        if self.capacity == 0 {
            return;
        }
        if let Some(entry) = self.get_mut(&key) {
            entry.slot = slot;
            entry.referenced = true;
            return;
        }
        let entry = Entry {
            key: key.clone(),
            slot,
            referenced: false,
        };
        if self.entries.len() < self.capacity {
            self.index.insert(key, self.entries.len());
            self.entries.push(entry);
            return;
        }
        let at = self.victim(now, max_stale);
        let old = std::mem::replace(&mut self.entries[at], entry);
        self.index.remove(&old.key);
        self.index.insert(key, at);
        // The newcomer is the last the hand comes back to.
        self.hand = (at + 1) % self.entries.len();
    }

    /// CLOCK: from the hand on, the first entry that is dead or not referenced since the hand
    /// last passed; referenced ones get a second chance (their bit is cleared). Ends within
    /// two turns, since the first turn clears every bit. The shard must not be empty.
    fn victim(&mut self, now: Instant, max_stale: Duration) -> usize {
        let len = self.entries.len();
        let mut at = self.hand % len;
        for _ in 0..2 * len {
            let entry = &mut self.entries[at];
            if !entry.referenced || entry.slot.is_dead(now, max_stale) {
                return at;
            }
            entry.referenced = false;
            at = (at + 1) % len;
        }
        at
    }

    fn clear(&mut self) {
        self.index.clear();
        self.entries.clear();
        self.hand = 0;
    }
}

/// A bounded, sharded, TTL-honouring DNS cache. See the module docs.
#[derive(Debug)]
pub struct DnsCache {
    shards: Box<[Mutex<Shard>]>,
    capacity: usize,
    max_stale: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl DnsCache {
    /// A cache holding at most `capacity` entries (0 disables caching). Serve-stale is off.
    pub fn new(capacity: usize) -> Self {
        let count = if capacity >= SHARDS * MIN_SHARD_CAPACITY {
            SHARDS
        } else {
            1
        };
        // Shard capacities add up to exactly `capacity`.
        let shards = (0..count)
            .map(|i| {
                Mutex::new(Shard::new(
                    capacity / count + usize::from(i < capacity % count),
                ))
            })
            .collect();
        Self {
            shards,
            capacity,
            max_stale: Duration::ZERO,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Keeps expired entries for up to `max_stale` so that [`get_stale`](Self::get_stale) can
    /// answer from them when the upstream fails (RFC 8767 §5 suggests one to three days).
    pub fn with_serve_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long expired entries are kept for serve-stale (zero: not at all).
    pub fn max_stale(&self) -> Duration {
        self.max_stale
    }

    /// Entries held now (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hit and miss counts and the number of entries.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.len(),
        }
    }

    /// Drops every entry.
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            lock(shard).clear();
        }
    }

    fn shard(&self, key: &Key) -> MutexGuard<'_, Shard> {
        // `new` makes at least one shard, and the remainder is below the shard count.
        // The high half picks the shard: the map indexes with the low bits, which are then
        // not all alike within a shard.
        let count = self.shards.len().max(1) as u64;
        let index = usize::try_from((key.hash >> 32) % count).unwrap_or(0);
        lock(&self.shards[index])
    }

    /// Remembers `entry` as the answer to `name`/`rtype` (class IN), replacing any previous
    /// one. An entry whose TTL is 0 is not kept (RFC 1035 §3.2.1: "should not be cached").
    pub fn insert(&self, name: &Name, rtype: RecordType, entry: CacheEntry) {
        let Some(ttl) = entry.ttl().filter(|&ttl| ttl > 0) else {
            return;
        };
        if self.capacity == 0 {
            return;
        }
        let (answers, authorities) = entry.stored_records();
        let now = Instant::now();
        let slot = Slot {
            rcode: entry.rcode(),
            answers,
            authorities,
            inserted: now,
            expires: now + Duration::from_secs(u64::from(ttl)),
        };
        let key = Key::new(name, rtype);
        self.shard(&key).insert(key, slot, now, self.max_stale);
    }

    /// Caches what `response` says about `query` (see [`classify_response`]). Returns
    /// whether something was cached.
    pub fn insert_response(&self, query: &Query, response: &Message) -> bool {
        match classify_response(query, response) {
            Some(entry) if entry.ttl().is_some_and(|ttl| ttl > 0) => {
                self.insert(query.name(), query.query_type(), entry);
                true
            }
            _ => false,
        }
    }

    /// The unexpired answer to `name`/`rtype`, TTLs counted down.
    pub fn get(&self, name: &Name, rtype: RecordType) -> Option<CachedAnswer> {
        let answer = self.lookup(name, rtype, false);
        let counter = if answer.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        answer
    }

    /// The answer to `name`/`rtype` even if expired, as long as it expired less than the
    /// serve-stale window ago; an expired answer's records carry a TTL of [`STALE_TTL`]
    /// (RFC 8767 §4). Meant for when resolution has just failed.
    pub fn get_stale(&self, name: &Name, rtype: RecordType) -> Option<CachedAnswer> {
        self.lookup(name, rtype, true)
    }

    fn lookup(&self, name: &Name, rtype: RecordType, stale: bool) -> Option<CachedAnswer> {
        let key = Key::new(name, rtype);
        let now = Instant::now();
        let mut shard = self.shard(&key);
        let entry = shard.get_mut(&key)?;
        if now < entry.slot.expires {
            entry.referenced = true;
            Some(entry.slot.answer(now, None))
        } else if !entry.slot.is_dead(now, self.max_stale) {
            if !stale {
                return None;
            }
            entry.referenced = true;
            Some(entry.slot.answer(now, Some(STALE_TTL)))
        } else {
            shard.remove(&key);
            None
        }
    }
}

/// Locks a shard, recovering from poisoning: a panic elsewhere leaves at worst a consistent
/// but arbitrary set of entries, which is fine for a cache.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, CNAME, SOA};
    use std::str::FromStr;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn a(owner: &str, ip: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(A::from_str(ip).unwrap()))
    }

    fn cname(owner: &str, target: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
    }

    fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
        let data = SOA::new(
            name(&format!("ns.{zone}")),
            name(&format!("hostmaster.{zone}")),
            1,
            3600,
            600,
            86400,
            minimum,
        );
        Record::from_rdata(name(zone), ttl, RData::SOA(data))
    }

    fn positive(records: Vec<Record>) -> CacheEntry {
        CacheEntry::Positive { answers: records }
    }

    fn response(
        q: &Query,
        rcode: ResponseCode,
        answers: Vec<Record>,
        auth: Vec<Record>,
    ) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m.queries = vec![q.clone()];
        m.answers = answers;
        m.authorities = auth;
        m
    }

    fn ttls(records: &[Record]) -> Vec<u32> {
        records.iter().map(|r| r.ttl).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn ttls_count_down_and_entries_expire() {
        let cache = DnsCache::new(100);
        let www = name("www.example.com.");
        cache.insert(
            &www,
            RecordType::A,
            positive(vec![
                cname("www.example.com.", "web.example.com.", 600),
                a("web.example.com.", "192.0.2.1", 300),
            ]),
        );
        let hit = cache.get(&www, RecordType::A).unwrap();
        assert_eq!(hit.rcode, ResponseCode::NoError);
        assert_eq!(ttls(&hit.answers), vec![600, 300]);

        tokio::time::advance(Duration::from_millis(100_500)).await;
        let hit = cache.get(&www, RecordType::A).unwrap();
        assert_eq!(ttls(&hit.answers), vec![500, 200]);

        tokio::time::advance(Duration::from_millis(199_400)).await;
        assert_eq!(
            ttls(&cache.get(&www, RecordType::A).unwrap().answers),
            vec![301, 1]
        );

        // The entry lives as long as its shortest TTL.
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(cache.get(&www, RecordType::A).is_none());
        assert!(cache.is_empty(), "expired entries are dropped when seen");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (3, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn negative_entries_live_for_the_soa_minimum() {
        let cache = DnsCache::new(100);
        let q = Query::query(name("nope.example.com."), RecordType::A);
        // SOA TTL 3600, MINIMUM 60: the negative TTL is 60 (RFC 2308 §5).
        let nx = response(
            &q,
            ResponseCode::NXDomain,
            vec![],
            vec![soa("example.com.", 3600, 60)],
        );
        assert!(cache.insert_response(&q, &nx));
        let hit = cache.get(q.name(), RecordType::A).unwrap();
        assert_eq!(hit.rcode, ResponseCode::NXDomain);
        assert!(hit.answers.is_empty());
        assert_eq!(ttls(&hit.authorities), vec![60]);

        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(
            ttls(&cache.get(q.name(), RecordType::A).unwrap().authorities),
            vec![1]
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(cache.get(q.name(), RecordType::A).is_none());

        // And the SOA's own TTL when it is the smaller.
        let nx = response(
            &q,
            ResponseCode::NXDomain,
            vec![],
            vec![soa("example.com.", 30, 900)],
        );
        assert!(cache.insert_response(&q, &nx));
        assert_eq!(
            ttls(&cache.get(q.name(), RecordType::A).unwrap().authorities),
            vec![30]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nodata_and_nxdomain_are_kept_apart() {
        let cache = DnsCache::new(100);
        let www = name("www.example.com.");
        let q_aaaa = Query::query(www.clone(), RecordType::AAAA);
        let nodata = response(
            &q_aaaa,
            ResponseCode::NoError,
            vec![],
            vec![soa("example.com.", 300, 300)],
        );
        assert!(cache.insert_response(&q_aaaa, &nodata));
        cache.insert(
            &www,
            RecordType::A,
            positive(vec![a("www.example.com.", "192.0.2.1", 300)]),
        );
        let q_nx = Query::query(name("gone.example.com."), RecordType::AAAA);
        let nx = response(
            &q_nx,
            ResponseCode::NXDomain,
            vec![],
            vec![soa("example.com.", 300, 300)],
        );
        assert!(cache.insert_response(&q_nx, &nx));

        let nodata = cache.get(&www, RecordType::AAAA).unwrap();
        assert_eq!(nodata.rcode, ResponseCode::NoError);
        assert!(nodata.answers.is_empty());
        assert_eq!(nodata.authorities.len(), 1);
        assert_eq!(cache.get(&www, RecordType::A).unwrap().answers.len(), 1);
        assert_eq!(
            cache.get(q_nx.name(), RecordType::AAAA).unwrap().rcode,
            ResponseCode::NXDomain
        );
        assert!(cache.get(q_nx.name(), RecordType::A).is_none());
    }

    #[test]
    fn negative_answers_without_soa_and_errors_are_not_cached() {
        let cache = DnsCache::new(100);
        let q = Query::query(name("x.example.com."), RecordType::A);
        assert!(!cache.insert_response(&q, &response(&q, ResponseCode::NXDomain, vec![], vec![])));
        assert!(!cache.insert_response(&q, &response(&q, ResponseCode::NoError, vec![], vec![])));
        let servfail = response(
            &q,
            ResponseCode::ServFail,
            vec![],
            vec![soa("example.com.", 60, 60)],
        );
        assert!(!cache.insert_response(&q, &servfail));
        // An SOA of an unrelated zone proves nothing.
        let other = response(
            &q,
            ResponseCode::NXDomain,
            vec![],
            vec![soa("example.net.", 60, 60)],
        );
        assert!(!cache.insert_response(&q, &other));
        // A zero TTL is not cached.
        let zero = response(
            &q,
            ResponseCode::NoError,
            vec![a("x.example.com.", "192.0.2.1", 0)],
            vec![],
        );
        assert!(!cache.insert_response(&q, &zero));
        assert!(cache.is_empty());
    }

    #[test]
    fn keys_are_case_insensitive_and_ignore_the_root_flag() {
        let cache = DnsCache::new(100);
        cache.insert(
            &name("WWW.Example.COM."),
            RecordType::A,
            positive(vec![a("www.example.com.", "192.0.2.1", 300)]),
        );
        assert!(cache
            .get(&name("www.example.com."), RecordType::A)
            .is_some());
        assert!(cache.get(&name("www.EXAMPLE.com"), RecordType::A).is_some());
        assert!(cache
            .get(&name("www.example.com."), RecordType::AAAA)
            .is_none());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn ttls_are_clamped() {
        let cache = DnsCache::new(100);
        let n = name("big.example.");
        cache.insert(
            &n,
            RecordType::A,
            positive(vec![a("big.example.", "192.0.2.1", u32::MAX)]),
        );
        assert_eq!(
            ttls(&cache.get(&n, RecordType::A).unwrap().answers),
            vec![MAX_POSITIVE_TTL]
        );
        cache.insert(
            &n,
            RecordType::AAAA,
            CacheEntry::Negative {
                kind: NegativeKind::NoData,
                answers: vec![],
                soa: soa("example.", u32::MAX, u32::MAX),
            },
        );
        let hit = cache.get(&n, RecordType::AAAA).unwrap();
        assert_eq!(ttls(&hit.authorities), vec![MAX_NEGATIVE_TTL]);
    }

    #[test]
    fn capacity_is_never_exceeded_and_the_least_recently_used_goes() {
        for capacity in [0, 1, 5, 255, 256, 1000] {
            let cache = DnsCache::new(capacity);
            for i in 0..(capacity * 3 + 10) {
                let n = name(&format!("h{i}.example."));
                cache.insert(
                    &n,
                    RecordType::A,
                    positive(vec![a("h.example.", "192.0.2.1", 300)]),
                );
                assert!(cache.len() <= capacity, "{} > {capacity}", cache.len());
            }
            assert_eq!(cache.len(), capacity);
            assert_eq!(cache.capacity(), capacity);
        }

        let cache = DnsCache::new(3);
        let names: Vec<Name> = (0..4).map(|i| name(&format!("n{i}.example."))).collect();
        for n in &names[..3] {
            cache.insert(
                n,
                RecordType::A,
                positive(vec![a("n.example.", "192.0.2.1", 300)]),
            );
        }
        // Touch n0, so n1 is now the least recently used.
        assert!(cache.get(&names[0], RecordType::A).is_some());
        cache.insert(
            &names[3],
            RecordType::A,
            positive(vec![a("n.example.", "192.0.2.1", 300)]),
        );
        assert!(cache.get(&names[0], RecordType::A).is_some());
        assert!(cache.get(&names[1], RecordType::A).is_none());
        assert!(cache.get(&names[2], RecordType::A).is_some());
        assert!(cache.get(&names[3], RecordType::A).is_some());
    }

    fn slot(now: Instant, ttl: u64) -> Slot {
        Slot {
            rcode: ResponseCode::NoError,
            answers: vec![],
            authorities: vec![],
            inserted: now,
            expires: now + Duration::from_secs(ttl),
        }
    }

    fn key(i: usize) -> Key {
        Key::new(&name(&format!("k{i}.example.")), RecordType::A)
    }

    /// Every key in the index points at the entry holding it, and the sizes agree.
    fn assert_consistent(shard: &Shard) {
        assert_eq!(shard.index.len(), shard.entries.len());
        assert!(shard.entries.len() <= shard.capacity);
        for (k, &at) in &shard.index {
            assert_eq!(&shard.entries[at].key, k);
        }
        assert!(shard.hand < shard.entries.len().max(1));
    }

    #[test]
    fn clock_gives_referenced_entries_a_second_chance() {
        let now = Instant::now();
        let mut shard = Shard::new(4);
        for i in 0..4 {
            shard.insert(key(i), slot(now, 300), now, Duration::ZERO);
        }
        // k1 and k2 are used: k0 goes first, then k3 (the hand moves on past the newcomer).
        for i in [1, 2] {
            shard.get_mut(&key(i)).unwrap().referenced = true;
        }
        shard.insert(key(4), slot(now, 300), now, Duration::ZERO);
        assert!(shard.get_mut(&key(0)).is_none());
        shard.insert(key(5), slot(now, 300), now, Duration::ZERO);
        assert!(shard.get_mut(&key(3)).is_none());
        for i in [1, 2, 4, 5] {
            assert!(shard.get_mut(&key(i)).is_some(), "k{i}");
        }
        assert_consistent(&shard);
        // Every entry referenced: one turn clears the bits, and the hand's entry goes.
        for i in [1, 2, 4, 5] {
            shard.get_mut(&key(i)).unwrap().referenced = true;
        }
        shard.insert(key(6), slot(now, 300), now, Duration::ZERO);
        assert_eq!(shard.len(), 4);
        assert_consistent(&shard);
        // Re-inserting a held key replaces it in place.
        shard.insert(key(6), slot(now, 600), now, Duration::ZERO);
        assert_eq!(shard.len(), 4);
        assert_consistent(&shard);
    }

    #[test]
    fn clock_evicts_dead_entries_first_even_if_referenced() {
        let now = Instant::now();
        let mut shard = Shard::new(3);
        shard.insert(key(0), slot(now, 300), now, Duration::ZERO);
        shard.insert(key(1), slot(now, 1), now, Duration::ZERO);
        shard.insert(key(2), slot(now, 300), now, Duration::ZERO);
        for i in 0..3 {
            shard.get_mut(&key(i)).unwrap().referenced = true;
        }
        let later = now + Duration::from_secs(2);
        shard.insert(key(3), slot(later, 300), later, Duration::ZERO);
        assert!(shard.get_mut(&key(1)).is_none(), "the expired one went");
        assert!(shard.get_mut(&key(0)).is_some());
        assert!(shard.get_mut(&key(2)).is_some());
        // Within a serve-stale window it is not dead yet, so the reference bits decide.
        let mut shard = Shard::new(2);
        shard.insert(key(0), slot(now, 1), now, Duration::from_secs(60));
        shard.insert(key(1), slot(now, 300), now, Duration::from_secs(60));
        shard.get_mut(&key(0)).unwrap().referenced = true;
        shard.insert(key(2), slot(later, 300), later, Duration::from_secs(60));
        assert!(shard.get_mut(&key(0)).is_some());
        assert!(shard.get_mut(&key(1)).is_none());
    }

    proptest::proptest! {
        /// Any mix of inserts, hits and removals keeps the shard within its capacity and its
        /// index consistent with its entries.
        #[test]
        fn clock_shard_stays_bounded_and_consistent(
            capacity in 0usize..8,
            ops in proptest::collection::vec((0u8..3, 0usize..12), 0..200),
        ) {
            let now = Instant::now();
            let mut shard = Shard::new(capacity);
            let mut present = std::collections::HashSet::new();
            for (op, i) in ops {
                match op {
                    0 => {
                        shard.insert(key(i), slot(now, 300), now, Duration::ZERO);
                        if capacity > 0 {
                            present.insert(i);
                            // The newest is always held.
                            proptest::prop_assert!(shard.get_mut(&key(i)).is_some());
                        }
                    }
                    1 => {
                        if let Some(e) = shard.get_mut(&key(i)) {
                            e.referenced = true;
                        }
                    }
                    _ => {
                        shard.remove(&key(i));
                        present.remove(&i);
                        proptest::prop_assert!(shard.get_mut(&key(i)).is_none());
                    }
                }
                assert_consistent(&shard);
                // Nothing is held that was not inserted (and not removed since).
                for e in &shard.entries {
                    proptest::prop_assert!(present.iter().any(|&p| key(p) == e.key));
                }
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stale_entries_are_served_only_on_request_and_within_the_window() {
        let cache = DnsCache::new(10).with_serve_stale(Duration::from_secs(3600));
        let n = name("www.example.");
        cache.insert(
            &n,
            RecordType::A,
            positive(vec![a("www.example.", "192.0.2.1", 60)]),
        );
        assert_eq!(
            ttls(&cache.get_stale(&n, RecordType::A).unwrap().answers),
            vec![60]
        );
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(cache.get(&n, RecordType::A).is_none());
        let stale = cache.get_stale(&n, RecordType::A).unwrap();
        assert_eq!(ttls(&stale.answers), vec![STALE_TTL]);
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(cache.get_stale(&n, RecordType::A).is_none());
        assert!(cache.is_empty());

        // Without serve-stale, nothing is kept past expiry.
        let cache = DnsCache::new(10);
        cache.insert(
            &n,
            RecordType::A,
            positive(vec![a("www.example.", "192.0.2.1", 60)]),
        );
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(cache.get_stale(&n, RecordType::A).is_none());
    }

    #[test]
    fn concurrent_use_from_threads() {
        let cache = std::sync::Arc::new(DnsCache::new(512));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_time()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        for i in 0..500 {
                            let n = name(&format!("t{t}-{i}.example."));
                            cache.insert(
                                &n,
                                RecordType::A,
                                positive(vec![a("x.example.", "192.0.2.1", 300)]),
                            );
                            let _ = cache.get(&n, RecordType::A);
                        }
                    });
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(cache.len() <= 512);
    }
}
