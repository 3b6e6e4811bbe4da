//! Reconnection delays: exponential backoff with optional "equal jitter" (half the delay fixed,
//! half random), as in the AWS architecture note on backoff — enough spread that a restarted
//! server is not hit by every client in the same second.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use super::config::Backoff;

impl Backoff {
    /// The delay before reconnection attempt `attempt` (1-based): `initial · 2^(attempt-1)`,
    /// capped at `max`, jittered into `[delay/2, delay]` when `jitter` is set.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let delay = self
            .initial
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max)
            .min(self.max);
        if !self.jitter || delay.is_zero() {
            return delay;
        }
        let half = delay / 2;
        let spread = u64::try_from((delay - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(random_u64() % spread.max(1))
    }
}

/// A random number without a dependency: std seeds every `RandomState` from the OS.
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x7f4a_7c15);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff {
            jitter: false,
            ..Backoff::default()
        };
        let secs: Vec<u64> = (1..=12).map(|a| b.delay(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn jitter_stays_in_range() {
        let b = Backoff::default();
        for attempt in 1..20 {
            let full = Backoff {
                jitter: false,
                ..b.clone()
            }
            .delay(attempt);
            let d = b.delay(attempt);
            assert!(d >= full / 2 && d <= full, "{d:?} vs {full:?}");
        }
    }
}
