//! Encoded authoritative answers, reused for repeated questions.
//!
//! An authoritative answer depends only on the question (name, type), whether the query had
//! EDNS, the size limit, and whether recursion is offered to the client. Encoding it once
//! and copying the bytes for the next identical question — patching the ID, the RD and CD
//! bits and the question's letter case — skips the zone lookup, the record clones and the
//! encoder, which is most of the per-query work that is not system calls. The cache lives in
//! the [`Catalog`](super::Catalog), so a zone reload starts a fresh one.

use std::sync::RwLock;

use hickory_proto::rr::{LowerName, RecordType};

pub use crate::fnv::{Fnv, FnvMap};

/// Most answers kept; beyond this, answers are encoded each time (a zone with more hot names
/// than this gains little from the cache anyway).
pub const MAX_CACHED_ANSWERS: usize = 100_000;

/// What shapes an authoritative answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    /// The question name (case-insensitive).
    pub name: LowerName,
    /// The question type.
    pub rtype: RecordType,
    /// Whether the query had EDNS (the answer then carries OPT).
    pub edns: bool,
    /// The size limit the answer was fitted to.
    pub limit: usize,
    /// Whether RA is set for this client.
    pub recursion_available: bool,
}

/// The cache of encoded answers.
#[derive(Debug, Default)]
pub struct AnswerCache {
    answers: RwLock<FnvMap<AnswerKey, Box<[u8]>>>,
}

impl AnswerCache {
    /// The cached answer for `key`, patched for `request` (the raw query).
    pub fn get(&self, key: &AnswerKey, request: &[u8]) -> Option<Vec<u8>> {
        let answers = self.answers.read().unwrap_or_else(|p| p.into_inner());
        let cached = answers.get(key)?;
        patch(cached, request)
    }

    /// Remember `response` (as encoded for `request`) under `key`.
    pub fn insert(&self, key: AnswerKey, response: &[u8]) {
        let mut answers = self.answers.write().unwrap_or_else(|p| p.into_inner());
        if answers.len() < MAX_CACHED_ANSWERS {
            answers.insert(key, response.into());
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
    answers: RwLock<FnvMap<AnswerKey, Stamped>>,
}

/// An encoded answer and when it was encoded.
type Stamped = (tokio::time::Instant, Box<[u8]>);

/// How long an encoded cached answer is reused.
pub const RECENT_FOR: std::time::Duration = std::time::Duration::from_secs(1);

impl RecentAnswers {
    /// The answer for `key` encoded less than [`RECENT_FOR`] ago, patched for `request`.
    pub fn get(&self, key: &AnswerKey, request: &[u8]) -> Option<Vec<u8>> {
        let answers = self.answers.read().unwrap_or_else(|p| p.into_inner());
        let (at, cached) = answers.get(key)?;
        if at.elapsed() >= RECENT_FOR {
            return None;
        }
        patch(cached, request)
    }

    /// Remember `response`; when full, start over (old entries are stale within a second).
    pub fn insert(&self, key: AnswerKey, response: &[u8]) {
        let mut answers = self.answers.write().unwrap_or_else(|p| p.into_inner());
        if answers.len() >= MAX_CACHED_ANSWERS {
            answers.clear();
        }
        answers.insert(key, (tokio::time::Instant::now(), response.into()));
    }
}

/// Length of the question name at offset 12 of a message (uncompressed, as the first name of
/// a message must be), if well formed.
fn question_name_len(message: &[u8]) -> Option<usize> {
    let mut at = 12;
    loop {
        let len = usize::from(*message.get(at)?);
        if len == 0 {
            return Some(at + 1 - 12);
        }
        if len & 0xc0 != 0 {
            return None;
        }
        at += 1 + len;
    }
}

/// The cached response with the request's ID, RD and CD bits, and question letter case.
fn patch(cached: &[u8], request: &[u8]) -> Option<Vec<u8>> {
    let name_len = question_name_len(request)?;
    if question_name_len(cached)? != name_len || request.len() < 12 + name_len {
        return None;
    }
    let mut out = cached.to_vec();
    out[0] = request[0];
    out[1] = request[1];
    out[2] = (out[2] & !0x01) | (request[2] & 0x01); // RD
    out[3] = (out[3] & !0x10) | (request[3] & 0x10); // CD
    out[12..12 + name_len].copy_from_slice(&request[12..12 + name_len]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_lengths() {
        let mut m = vec![0u8; 12];
        m.extend([3, b'w', b'w', b'w', 0, 0, 1, 0, 1]);
        assert_eq!(question_name_len(&m), Some(5));
        m[12] = 0xc0;
        assert_eq!(question_name_len(&m), None);
        assert_eq!(question_name_len(&m[..12]), None);
        assert_eq!(question_name_len(&[0u8; 13]), Some(1));
    }

    #[test]
    fn patch_copies_id_flags_and_case() {
        let mut cached = vec![0, 0, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0];
        cached.extend([1, b'a', 0, 0, 1, 0, 1, 0xde, 0xad]);
        let mut request = vec![0xab, 0xcd, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0];
        request.extend([1, b'A', 0, 0, 1, 0, 1]);
        let out = patch(&cached, &request).unwrap();
        assert_eq!(&out[..4], &[0xab, 0xcd, 0x85, 0x10]);
        assert_eq!(out[13], b'A');
        assert_eq!(&out[out.len() - 2..], &[0xde, 0xad]);
        // A different name length is not patched.
        let mut other = request[..12].to_vec();
        other.extend([2, b'a', b'b', 0, 0, 1, 0, 1]);
        assert!(patch(&cached, &other).is_none());
    }
}
