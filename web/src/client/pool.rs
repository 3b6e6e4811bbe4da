//! Idle keep-alive connections per origin (hyper's pool, nginx's `keepalive N` upstream
//! cache): at most [`Pool::max_idle`] per origin, each kept at most the idle timeout, the most
//! recently used taken first (it is the least likely to have been closed by the server).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use torsion_core::Connection;

use super::url::Origin;

/// Which connections are interchangeable: the origin, and whether they go through a proxy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    /// Where requests on it go.
    pub origin: Origin,
    /// Through the configured proxy (absolute-form requests, or a CONNECT tunnel).
    pub proxied: bool,
}

/// The idle connections.
#[derive(Debug)]
pub struct Pool {
    idle: Mutex<HashMap<PoolKey, Vec<(Connection, Instant)>>>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl Pool {
    /// Keep at most `max_idle` per origin, for at most `idle_timeout`.
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Self {
        Pool {
            idle: Mutex::new(HashMap::new()),
            max_idle,
            idle_timeout,
        }
    }

    /// Most idle connections kept per origin.
    pub fn max_idle(&self) -> usize {
        self.max_idle
    }

    /// A kept connection to `key`, if one is fresh enough.
    pub fn take(&self, key: &PoolKey) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(key)?;
        let now = Instant::now();
        while let Some((conn, since)) = list.pop() {
            if now.duration_since(since) < self.idle_timeout {
                return Some(conn);
            }
        }
        idle.remove(key);
        None
    }

    /// Keep `conn` for reuse (dropped, so closed, if the origin has enough).
    pub fn put(&self, key: PoolKey, conn: Connection) {
        if self.max_idle == 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let list = idle.entry(key).or_default();
        list.retain(|(_, since)| now.duration_since(*since) < self.idle_timeout);
        if list.len() >= self.max_idle {
            list.remove(0);
        }
        list.push((conn, now));
    }

    /// Idle connections kept for `key` (tests).
    pub fn idle_count(&self, key: &PoolKey) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.get(key).map_or(0, Vec::len)
    }
}
