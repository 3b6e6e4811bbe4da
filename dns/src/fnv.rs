//! FNV-1a hashing for maps keyed by DNS names (zone nodes, encoded answers).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: DNS names are short, so a simple multiply-xor hash beats SipHash here, and the
/// keys are our own zone data or bounded by the cache size — no hash-flooding surface worth
/// SipHash's cost (a flood of distinct names just fills the cache and stops inserting).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// `HashMap` with [`Fnv`].
pub type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn fnv_is_deterministic_and_spreads() {
        let h = BuildHasherDefault::<Fnv>::default();
        assert_eq!(
            h.hash_one("www.example.test"),
            h.hash_one("www.example.test")
        );
        assert_ne!(
            h.hash_one("www.example.test"),
            h.hash_one("ww.example.test")
        );
    }
}
