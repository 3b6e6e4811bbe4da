//! Outgoing flood control: a burst of lines, then a steady rate. Servers disconnect clients that
//! send too fast ("Excess Flood"); the classic ircII/RFC 1459 §8.10 budget is about one line
//! every two seconds after a short burst.
//!
//! Implemented as GCRA (a token bucket written with one timestamp): `tat` is the theoretical
//! arrival time of the next line if the client sent at exactly the steady rate; a line may go
//! when `tat` is no further ahead of now than the burst allows.

use std::time::Duration;

use tokio::time::Instant;

/// A rate: `burst` lines at once, then one line per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Lines that may go back to back after a quiet period (0 or an `interval` of zero: no
    /// limit).
    pub burst: u32,
    /// Steady-state spacing between lines.
    pub interval: Duration,
}

impl RateLimit {
    /// No flood control (for tests and servers that do not care).
    pub const fn unlimited() -> Self {
        RateLimit {
            burst: 0,
            interval: Duration::ZERO,
        }
    }

    fn is_unlimited(&self) -> bool {
        self.burst == 0 || self.interval.is_zero()
    }
}

impl Default for RateLimit {
    /// A burst of 5, then one line every 2 s.
    fn default() -> Self {
        RateLimit {
            burst: 5,
            interval: Duration::from_secs(2),
        }
    }
}

/// The limiter's state.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    limit: RateLimit,
    tat: Option<Instant>,
}

impl RateLimiter {
    /// A limiter with a full burst available.
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter { limit, tat: None }
    }

    /// The earliest time the next line may go (`None`: now).
    pub fn ready_at(&self) -> Option<Instant> {
        if self.limit.is_unlimited() {
            return None;
        }
        let slack = self.limit.interval * (self.limit.burst - 1);
        self.tat.and_then(|tat| tat.checked_sub(slack))
    }

    /// Whether a line may go at `now`.
    pub fn is_ready(&self, now: Instant) -> bool {
        self.ready_at().is_none_or(|at| at <= now)
    }

    /// Take a slot if one is free at `now`.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        if self.limit.is_unlimited() {
            return true;
        }
        if !self.is_ready(now) {
            return false;
        }
        let base = self.tat.map_or(now, |tat| tat.max(now));
        self.tat = Some(base + self.limit.interval);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(RateLimit::default());
        for _ in 0..5 {
            assert!(rl.try_acquire(t0));
        }
        assert!(!rl.try_acquire(t0));
        assert_eq!(rl.ready_at(), Some(t0 + Duration::from_secs(2)));
        assert!(!rl.try_acquire(t0 + Duration::from_millis(1999)));
        assert!(rl.try_acquire(t0 + Duration::from_secs(2)));
        assert!(!rl.try_acquire(t0 + Duration::from_secs(3)));
        assert!(rl.try_acquire(t0 + Duration::from_secs(4)));
        // A long pause refills the whole burst, no more.
        let later = t0 + Duration::from_secs(100);
        for _ in 0..5 {
            assert!(rl.try_acquire(later));
        }
        assert!(!rl.try_acquire(later));
    }

    #[test]
    fn unlimited() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(RateLimit::unlimited());
        for _ in 0..1000 {
            assert!(rl.try_acquire(t0));
        }
        assert_eq!(rl.ready_at(), None);
    }
}
