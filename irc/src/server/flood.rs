//! Per-client flood control: a token bucket. A client may send `burst` messages at once,
//! then `rate` per second; messages beyond that wait (the session stops processing them), and
//! a client whose waiting input exceeds its receive queue is disconnected ("Excess Flood").

use tokio::time::{Duration, Instant};

/// A token bucket measured in messages (`f32`: one lives in every session, and message
/// counts need no more precision).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    burst: f32,
    rate: f32,
    tokens: f32,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: u32, rate: f64, now: Instant) -> Self {
        // Saturating casts: a burst or rate beyond f32's range is "unlimited" anyway.
        let burst = burst.max(1) as f32;
        TokenBucket {
            burst,
            rate: rate.max(0.001) as f32,
            tokens: burst,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f32();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.updated = now;
    }

    /// Take one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token will be there.
    pub fn next_token_at(&self) -> Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        self.updated + Duration::from_secs_f32(missing / self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 2.0, t0);
        assert!(b.try_take(t0) && b.try_take(t0) && b.try_take(t0));
        assert!(!b.try_take(t0));
        assert_eq!(b.next_token_at(), t0 + Duration::from_millis(500));
        assert!(!b.try_take(t0 + Duration::from_millis(400)));
        assert!(b.try_take(t0 + Duration::from_millis(500)));
        // Refill never exceeds the burst.
        let later = t0 + Duration::from_secs(100);
        for _ in 0..3 {
            assert!(b.try_take(later));
        }
        assert!(!b.try_take(later));
    }
}
