//! Choosing which name server of a zone to ask: by smoothed round-trip time, as BIND does.
//!
//! - Each server address has an SRTT, updated as `0.7 × SRTT + 0.3 × RTT` on every response.
//! - A timeout or network error doubles it (at least [`FAILURE_PENALTY_MS`], at most
//!   [`MAX_SRTT_MS`]), so dead servers sink to the back.
//! - A server never heard from gets a small random SRTT, so new servers are tried early and
//!   equally new ones in random order.
//! - Every time a server is picked, the others' SRTTs decay a little ([`DECAY`]), so a server
//!   that was slow or dead once is eventually tried again (exploration).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// SRTT given to a server after its first failure, in milliseconds.
pub(crate) const FAILURE_PENALTY_MS: f64 = 1_000.0;

/// Ceiling of a server's SRTT, in milliseconds (two minutes, Unbound's
/// `USEFUL_SERVER_TOP_TIMEOUT`).
pub(crate) const MAX_SRTT_MS: f64 = 120_000.0;

/// Upper bound of the random SRTT of a server never heard from, in milliseconds.
pub(crate) const UNKNOWN_SRTT_MS: f64 = 10.0;

/// Factor applied to the SRTT of the servers not picked.
pub(crate) const DECAY: f64 = 0.98;

/// Weight of the previous SRTT in the smoothing.
const SMOOTHING: f64 = 0.7;

/// Servers tracked before old entries are dropped; delegations are attacker-controlled, so
/// this table must not grow without bound.
const MAX_TRACKED: usize = 10_000;

/// Entries not updated for this long are dropped first when the table is full.
const STALE_ENTRY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
struct Entry {
    srtt_ms: f64,
    updated: Instant,
}

/// The SRTT table, shared by all resolutions.
#[derive(Debug, Default)]
pub(crate) struct ServerStats {
    map: Mutex<HashMap<IpAddr, Entry>>,
}

impl ServerStats {
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The smoothed RTT of `ip`, if it was ever heard from or failed.
    pub(crate) fn srtt(&self, ip: IpAddr) -> Option<Duration> {
        self.lock()
            .get(&ip)
            .map(|e| Duration::from_secs_f64(e.srtt_ms / 1000.0))
    }

    /// The best of `candidates` (lowest SRTT). With `decay`, the others' SRTTs decay.
    pub(crate) fn pick(&self, candidates: &[IpAddr], decay: bool) -> Option<IpAddr> {
        let mut rng = rand::rng();
        let mut map = self.lock();
        let best = candidates
            .iter()
            .map(|ip| {
                let srtt = map
                    .get(ip)
                    .map(|e| e.srtt_ms)
                    .unwrap_or_else(|| rng.random_range(0.0..UNKNOWN_SRTT_MS));
                (*ip, srtt)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(ip, _)| ip)?;
        if decay {
            for ip in candidates.iter().filter(|ip| **ip != best) {
                if let Some(entry) = map.get_mut(ip) {
                    entry.srtt_ms *= DECAY;
                }
            }
        }
        Some(best)
    }

    /// Records a response from `ip` after `rtt`.
    pub(crate) fn record_rtt(&self, ip: IpAddr, rtt: Duration) {
        let sample = (rtt.as_secs_f64() * 1000.0).min(MAX_SRTT_MS);
        self.update(ip, |old| match old {
            Some(srtt) => SMOOTHING * srtt + (1.0 - SMOOTHING) * sample,
            None => sample,
        });
    }

    /// Records a timeout or network error from `ip`.
    pub(crate) fn record_failure(&self, ip: IpAddr) {
        self.update(ip, |old| {
            (old.unwrap_or(0.0) * 2.0).clamp(FAILURE_PENALTY_MS, MAX_SRTT_MS)
        });
    }

    fn update(&self, ip: IpAddr, f: impl FnOnce(Option<f64>) -> f64) {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, e| now.saturating_duration_since(e.updated) < STALE_ENTRY);
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let srtt_ms = f(map.get(&ip).map(|e| e.srtt_ms));
        map.insert(
            ip,
            Entry {
                srtt_ms,
                updated: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn prefers_the_fastest_and_penalises_failures() {
        let stats = ServerStats::default();
        let (fast, slow, dead) = (ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3"));
        stats.record_rtt(fast, Duration::from_millis(20));
        stats.record_rtt(slow, Duration::from_millis(200));
        stats.record_failure(dead);
        assert_eq!(stats.pick(&[slow, dead, fast], false), Some(fast));
        assert_eq!(stats.srtt(dead), Some(Duration::from_secs(1)));
        stats.record_failure(dead);
        assert_eq!(stats.srtt(dead), Some(Duration::from_secs(2)));
        // An unknown server is tried before known ones slower than UNKNOWN_SRTT_MS.
        let new = ip("192.0.2.4");
        assert_eq!(stats.pick(&[slow, new], false), Some(new));
        assert_eq!(stats.pick(&[], false), None);
    }

    #[tokio::test(start_paused = true)]
    async fn smoothing_and_decay() {
        let stats = ServerStats::default();
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        stats.record_rtt(a, Duration::from_millis(100));
        stats.record_rtt(a, Duration::from_millis(200));
        let srtt = stats.srtt(a).unwrap().as_secs_f64() * 1000.0;
        assert!((srtt - 130.0).abs() < 1e-6, "{srtt}");
        stats.record_rtt(b, Duration::from_millis(10));
        // b keeps winning, a decays until it wins once.
        let mut picks_of_a = 0;
        for _ in 0..200 {
            if stats.pick(&[a, b], true) == Some(a) {
                picks_of_a += 1;
                stats.record_rtt(a, Duration::from_millis(130));
            }
        }
        assert!(picks_of_a >= 1, "a slower server is eventually re-probed");
        assert!(picks_of_a < 20);
    }
}
