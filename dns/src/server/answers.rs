//! Encoded answers, reused for repeated questions.
//!
//! An authoritative answer depends only on the question (name, type), whether the query had
//! EDNS, the size limit, and whether recursion is offered to the client. Encoding it once
//! and copying the bytes for the next identical question — patching the ID, the RD and CD
//! bits and the question's letter case — skips the zone lookup, the record clones and the
//! encoder, which is most of the per-query work that is not system calls. The cache lives in
//! the [`Catalog`](super::Catalog), so a zone reload starts a fresh one.
//!
//! The caches are keyed by the question as it is on the wire ([`RawQuestion`]): a query that
//! is a plain question (one question, no other records but an OPT) is answered from them
//! without decoding it into a hickory `Message` at all. Anything else — name compression in
//! the question, other records, EDNS options hickory would decode and might reject — is not
//! a [`RawQuestion`] and goes the full way, uncached.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::RwLock;

pub use crate::fnv::{Fnv, FnvMap};

/// Most answers kept; beyond this, answers are encoded each time (a zone with more hot names
/// than this gains little from the cache anyway).
pub const MAX_CACHED_ANSWERS: usize = 100_000;

/// Longest name on the wire (RFC 1035 §3.1).
const MAX_NAME: usize = 255;
/// Key bytes after the name: type (2), limit (2), flags (1).
const KEY_TAIL: usize = 5;
/// Key flag: the query had EDNS.
const FLAG_EDNS: u8 = 1;
/// Key flag: RA is set for this client.
const FLAG_RA: u8 = 2;
/// RR type numbers the raw path must leave to the full one.
const TYPE_OPT: u16 = 41;
const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;
/// EDNS options hickory decodes into structures (and rejects when malformed): NSID, client
/// subnet. Queries carrying them go the full way, so that they get the same FORMERR.
const DECODED_OPTIONS: [u16; 2] = [3, 8];

/// A plain query's question as it is on the wire, with what else shapes its answer: the key of
/// the encoded-answer caches.
///
/// The key is the question name in lower case (RFC 4343) as wire-format labels, the type, the
/// size limit, and flags for EDNS and RA. Only class IN questions that are neither AXFR nor
/// IXFR, with EDNS version 0 if any, parse: everything else needs the full handler.
#[derive(Clone)]
pub struct RawQuestion {
    key: [u8; MAX_NAME + KEY_TAIL],
    /// Wire length of the name (the key's first bytes, and the request's from offset 12).
    name_len: usize,
    /// RD was set.
    pub recursion_desired: bool,
}

impl std::fmt::Debug for RawQuestion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawQuestion")
            .field("key", &self.key())
            .field("recursion_desired", &self.recursion_desired)
            .finish()
    }
}

impl RawQuestion {
    /// The question of `message`, if it is a plain query: QR=0, OPCODE QUERY, one question
    /// with an uncompressed name, class IN, not AXFR or IXFR, no answer or authority records,
    /// and at most one additional record, an OPT of version 0 whose options are well formed,
    /// exactly filling the message. `max_limit` is the transport's size limit (64 KiB over
    /// TCP); over UDP (`udp`) the limit is the client's EDNS payload size clamped to
    /// `512..=edns_payload`, 512 without EDNS.
    pub fn parse(message: &[u8], udp: bool, edns_payload: u16) -> Option<Self> {
        let header = message.get(..12)?;
        if header[2] & 0xf8 != 0 // QR=0, OPCODE=0
            || header[4..10] != [0, 1, 0, 0, 0, 0]
            || header[10] != 0
            || header[11] > 1
        {
            return None;
        }
        let mut at = 12;
        loop {
            let len = usize::from(*message.get(at)?);
            if len == 0 {
                break;
            }
            if len > 63 || at + 1 + len - 12 >= MAX_NAME {
                return None; // a pointer, an extended label type, or a name too long
            }
            at += 1 + len;
        }
        let name_len = at + 1 - 12;
        let mut key = [0u8; MAX_NAME + KEY_TAIL];
        let name = &mut key[..name_len];
        name.copy_from_slice(message.get(12..12 + name_len)?);
        // Length octets are below 64, so lower-casing leaves them alone.
        name.make_ascii_lowercase();
        let fixed = message.get(at + 1..at + 5)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        if fixed[2..4] != [0, 1] || rtype == TYPE_AXFR || rtype == TYPE_IXFR {
            return None;
        }
        let rest = &message[at + 5..];
        let payload = if header[11] == 0 {
            if !rest.is_empty() {
                return None;
            }
            None
        } else {
            Some(opt_payload(rest)?)
        };
        let limit = match (udp, payload) {
            (false, _) => u16::MAX,
            (true, Some(p)) => p.clamp(512, edns_payload.max(512)),
            (true, None) => 512,
        };
        let tail = &mut key[name_len..name_len + KEY_TAIL];
        tail[..2].copy_from_slice(&rtype.to_be_bytes());
        tail[2..4].copy_from_slice(&limit.to_be_bytes());
        tail[4] = if payload.is_some() { FLAG_EDNS } else { 0 };
        Some(RawQuestion {
            key,
            name_len,
            recursion_desired: header[2] & 0x01 != 0,
        })
    }

    /// Set whether the answer carries RA (part of the key).
    pub fn set_recursion_available(&mut self, available: bool) {
        let flags = &mut self.key[self.name_len + KEY_TAIL - 1];
        *flags = (*flags & !FLAG_RA) | if available { FLAG_RA } else { 0 };
    }

    /// The key bytes.
    pub fn key(&self) -> &[u8] {
        &self.key[..self.name_len + KEY_TAIL]
    }

    /// The cached response `cached` for `request` (whose question this is) in `out`, with the
    /// request's ID, RD and CD bits, and question letter case.
    fn patch_into(&self, cached: &[u8], request: &[u8], out: &mut Vec<u8>) {
        let name_end = 12 + self.name_len;
        out.clear();
        out.extend_from_slice(cached);
        if out.len() < name_end || request.len() < name_end {
            return; // cannot happen: both hold this question
        }
        out[0] = request[0];
        out[1] = request[1];
        out[2] = (out[2] & !0x01) | (request[2] & 0x01); // RD
        out[3] = (out[3] & !0x10) | (request[3] & 0x10); // CD
        out[12..name_end].copy_from_slice(&request[12..name_end]);
    }
}

/// The payload size of an OPT record that is exactly `record`, if it is one of EDNS version 0
/// with well-formed options, none of which hickory would decode (and might reject).
fn opt_payload(record: &[u8]) -> Option<u16> {
    // Root owner, TYPE, CLASS (payload), TTL (extended RCODE, version, flags), RDLENGTH.
    let fixed = record.get(..11)?;
    if fixed[0] != 0 || u16::from_be_bytes([fixed[1], fixed[2]]) != TYPE_OPT || fixed[6] != 0 {
        return None;
    }
    let payload = u16::from_be_bytes([fixed[3], fixed[4]]);
    let mut options = &record[11..];
    if usize::from(u16::from_be_bytes([fixed[9], fixed[10]])) != options.len() {
        return None;
    }
    while !options.is_empty() {
        let head = options.get(..4)?;
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if DECODED_OPTIONS.contains(&code) {
            return None;
        }
        options = options.get(4 + len..)?;
    }
    Some(payload)
}

/// Map from raw question keys.
type KeyMap<V> = HashMap<Box<[u8]>, V, BuildHasherDefault<WordHash>>;

/// A folded-multiply hash taking eight bytes at a time (as foldhash and wyhash do): the keys
/// are short and bounded in number ([`MAX_CACHED_ANSWERS`]), and byte-at-a-time FNV showed up
/// in profiles of the cached-answer path. The 128-bit product's halves folded together make
/// every output bit depend on every input bit, which hashbrown needs for both the bucket
/// index (low bits) and the tag (top bits).
#[derive(Debug, Clone, Copy, Default)]
pub struct WordHash(u64);

impl WordHash {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    const SEED: u64 = 0x2432_f6a8_885a_308d;

    fn add(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word ^ Self::SEED) * u128::from(Self::K);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl std::hash::Hasher for WordHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "a" and "a\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// The cache of encoded authoritative answers.
#[derive(Debug, Default)]
pub struct AnswerCache {
    answers: RwLock<KeyMap<Box<[u8]>>>,
}

impl AnswerCache {
    /// Writes the cached answer to `question` into `out`, patched for `request` (the raw
    /// query); whether there was one.
    pub fn answer_into(&self, question: &RawQuestion, request: &[u8], out: &mut Vec<u8>) -> bool {
        let answers = self.answers.read().unwrap_or_else(|p| p.into_inner());
        match answers.get(question.key()) {
            Some(cached) => {
                question.patch_into(cached, request, out);
                true
            }
            None => false,
        }
    }

    /// Remember `response` (as encoded for the query whose question is `question`).
    pub fn insert(&self, question: &RawQuestion, response: &[u8]) {
        let mut answers = self.answers.write().unwrap_or_else(|p| p.into_inner());
        if answers.len() < MAX_CACHED_ANSWERS {
            answers.insert(question.key().into(), response.into());
        }
    }

    /// Answers held.
    pub fn len(&self) -> usize {
        self.answers.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Encoded answers from the resolver's cache, reused for at most [`RECENT_FOR`]: their TTLs
/// count down, so the bytes are only right for a moment (TTLs in a reused answer are at most
/// one second high, as in resolvers that round TTLs to whole seconds anyway).
#[derive(Debug, Default)]
pub struct RecentAnswers {
    answers: RwLock<KeyMap<Stamped>>,
}

/// An encoded answer and when it was encoded.
type Stamped = (tokio::time::Instant, Box<[u8]>);

/// How long an encoded cached answer is reused.
pub const RECENT_FOR: std::time::Duration = std::time::Duration::from_secs(1);

impl RecentAnswers {
    /// Writes the answer to `question` encoded less than [`RECENT_FOR`] ago into `out`,
    /// patched for `request`; whether there was one.
    pub fn answer_into(&self, question: &RawQuestion, request: &[u8], out: &mut Vec<u8>) -> bool {
        let answers = self.answers.read().unwrap_or_else(|p| p.into_inner());
        match answers.get(question.key()) {
            Some((at, cached)) if at.elapsed() < RECENT_FOR => {
                question.patch_into(cached, request, out);
                true
            }
            _ => false,
        }
    }

    /// Remember `response`; when full, start over (old entries are stale within a second).
    pub fn insert(&self, question: &RawQuestion, response: &[u8]) {
        let mut answers = self.answers.write().unwrap_or_else(|p| p.into_inner());
        if answers.len() >= MAX_CACHED_ANSWERS {
            answers.clear();
        }
        let stamped = (tokio::time::Instant::now(), response.into());
        match answers.get_mut(question.key()) {
            Some(old) => *old = stamped, // no new key allocation
            None => {
                answers.insert(question.key().into(), stamped);
            }
        }
    }

    /// Answers held (stale ones included).
    pub fn len(&self) -> usize {
        self.answers.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `labels` (wire-format name) of type A, with `tail` after the question.
    fn query(flags: [u8; 2], labels: &[u8], arcount: u8, tail: &[u8]) -> Vec<u8> {
        let mut m = vec![0xab, 0xcd, flags[0], flags[1], 0, 1, 0, 0, 0, 0, 0, arcount];
        m.extend_from_slice(labels);
        m.extend([0, 1, 0, 1]);
        m.extend_from_slice(tail);
        m
    }

    const WWW: &[u8] = &[3, b'W', b'w', b'W', 1, b'x', 0];
    /// An OPT record: payload 4096, version 0, a cookie option.
    const OPT: &[u8] = &[
        0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8,
    ];

    #[test]
    fn plain_questions_parse_into_lower_case_keys() {
        let q = RawQuestion::parse(&query([1, 0], WWW, 0, &[]), true, 1232).unwrap();
        assert!(q.recursion_desired);
        assert_eq!(q.key(), &[3, b'w', b'w', b'w', 1, b'x', 0, 0, 1, 2, 0, 0]);
        // EDNS: the payload size, clamped; over TCP the limit is 64 KiB.
        let e = RawQuestion::parse(&query([0, 0], WWW, 1, OPT), true, 1232).unwrap();
        assert!(!e.recursion_desired);
        assert_eq!(&e.key()[7..], &[0, 1, 0x04, 0xd0, FLAG_EDNS]);
        let t = RawQuestion::parse(&query([0, 0], WWW, 1, OPT), false, 1232).unwrap();
        assert_eq!(&t.key()[7..], &[0, 1, 0xff, 0xff, FLAG_EDNS]);
        let mut small = OPT.to_vec();
        small[3..5].copy_from_slice(&[0, 100]);
        let s = RawQuestion::parse(&query([0, 0], WWW, 1, &small), true, 1232).unwrap();
        assert_eq!(&s.key()[9..11], &[0x02, 0x00]);
        // RA is part of the key.
        let mut ra = q.clone();
        ra.set_recursion_available(true);
        assert_ne!(ra.key(), q.key());
        ra.set_recursion_available(false);
        assert_eq!(ra.key(), q.key());
    }

    #[test]
    fn anything_but_a_plain_question_is_left_to_the_full_decoder() {
        let ok = |m: &[u8]| RawQuestion::parse(m, true, 1232).is_some();
        assert!(ok(&query([0, 0], WWW, 0, &[])));
        assert!(!ok(&query([0x80, 0], WWW, 0, &[])), "a response");
        assert!(!ok(&query([0x28, 0], WWW, 0, &[])), "UPDATE");
        assert!(!ok(&query([0, 0], WWW, 0, &[0])), "trailing bytes");
        assert!(!ok(&query([0, 0], WWW, 1, &[])), "a missing OPT");
        assert!(!ok(&query([0, 0], WWW, 2, OPT)), "two additionals");
        assert!(!ok(&query([0, 0], &[0xc0, 12], 0, &[])), "a pointer");
        assert!(!ok(&query([0, 0], &[3, b'w', b'w'], 0, &[])), "cut short");
        let mut two = query([0, 0], WWW, 0, &[]);
        two[5] = 2;
        assert!(!ok(&two), "two questions");
        let mut chaos = query([0, 0], WWW, 0, &[]);
        chaos[12 + WWW.len() + 3] = 3;
        assert!(!ok(&chaos), "class CH");
        let mut axfr = query([0, 0], WWW, 0, &[]);
        axfr[12 + WWW.len()..12 + WWW.len() + 2].copy_from_slice(&[0, 252]);
        assert!(!ok(&axfr), "AXFR");
        let mut v1 = OPT.to_vec();
        v1[6] = 1;
        assert!(!ok(&query([0, 0], WWW, 1, &v1)), "EDNS version 1");
        let mut bad_len = OPT.to_vec();
        bad_len[10] = 200;
        assert!(
            !ok(&query([0, 0], WWW, 1, &bad_len)),
            "RDLENGTH past the end"
        );
        let mut bad_option = OPT.to_vec();
        bad_option[14] = 9;
        assert!(
            !ok(&query([0, 0], WWW, 1, &bad_option)),
            "option past RDATA"
        );
        let mut subnet = OPT.to_vec();
        subnet[12] = 8;
        assert!(!ok(&query([0, 0], WWW, 1, &subnet)), "client subnet");
        // Names: 255 bytes on the wire at most.
        let mut longest = Vec::new();
        for _ in 0..3 {
            longest.push(63);
            longest.extend([b'a'; 63]);
        }
        longest.push(61);
        longest.extend([b'a'; 61]);
        longest.push(0);
        assert_eq!(longest.len(), 255);
        assert!(ok(&query([0, 0], &longest, 0, &[])));
        let mut too_long = longest[..192].to_vec();
        too_long.push(62);
        too_long.extend([b'a'; 62]);
        too_long.push(0);
        assert_eq!(too_long.len(), 256);
        assert!(!ok(&query([0, 0], &too_long, 0, &[])), "256 bytes");
    }

    #[test]
    fn cached_answers_are_patched_with_id_flags_and_case() {
        let cache = AnswerCache::default();
        let request = query([0, 0], WWW, 0, &[]);
        let question = RawQuestion::parse(&request, true, 1232).unwrap();
        let mut cached = vec![0, 0, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0];
        cached.extend([3, b'w', b'w', b'w', 1, b'x', 0, 0, 1, 0, 1, 0xde, 0xad]);
        let mut out = Vec::new();
        assert!(!cache.answer_into(&question, &request, &mut out));
        cache.insert(&question, &cached);
        assert_eq!(cache.len(), 1);
        let again = query([0x01, 0x10], &[3, b'w', b'W', b'w', 1, b'X', 0], 0, &[]);
        let q = RawQuestion::parse(&again, true, 1232).unwrap();
        assert!(cache.answer_into(&q, &again, &mut out));
        assert_eq!(&out[..4], &[0xab, 0xcd, 0x85, 0x10]);
        assert_eq!(&out[12..19], &[3, b'w', b'W', b'w', 1, b'X', 0]);
        assert_eq!(&out[out.len() - 2..], &[0xde, 0xad]);
        // Another limit is another answer.
        let tcp = RawQuestion::parse(&again, false, 1232).unwrap();
        assert!(!cache.answer_into(&tcp, &again, &mut out));
    }

    #[test]
    fn word_hash_tells_short_keys_apart() {
        use std::hash::BuildHasher;
        let h = BuildHasherDefault::<WordHash>::default();
        let keys: [&[u8]; 6] = [b"", b"a", b"a\0", b"abcdefgh", b"abcdefgh\0", b"abcdefgi"];
        let hashes: std::collections::HashSet<u64> = keys.iter().map(|k| h.hash_one(k)).collect();
        assert_eq!(hashes.len(), keys.len());
        assert_eq!(h.hash_one(b"abc"), h.hash_one(b"abc"));
    }

    #[tokio::test(start_paused = true)]
    async fn recent_answers_last_a_second() {
        let recent = RecentAnswers::default();
        let request = query([1, 0], WWW, 0, &[]);
        let question = RawQuestion::parse(&request, true, 1232).unwrap();
        let mut out = Vec::new();
        recent.insert(&question, &query([0x81, 0x80], WWW, 0, &[]));
        assert!(recent.answer_into(&question, &request, &mut out));
        assert_eq!(&out[..4], &[0xab, 0xcd, 0x81, 0x80]);
        tokio::time::advance(RECENT_FOR).await;
        assert!(!recent.answer_into(&question, &request, &mut out));
        recent.insert(&question, &query([0x81, 0x80], WWW, 0, &[]));
        assert_eq!(recent.len(), 1, "replaced in place");
        assert!(recent.answer_into(&question, &request, &mut out));
    }
}
