//! Coalescing identical in-flight resolutions: when N clients ask the same question at once,
//! one resolution runs and all N get its result (what Unbound calls "mesh" and Go's
//! `singleflight`), so a burst of queries for a popular name costs one upstream query chain.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

type Waiters<V> = Vec<oneshot::Sender<V>>;

/// Resolutions in progress, by question.
#[derive(Debug)]
pub(crate) struct InFlight<K, V> {
    map: Mutex<HashMap<K, Waiters<V>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> InFlight<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Waiters<V>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Questions being resolved now.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Runs `work` for `key` unless a run for the same key is already in progress, in which
    /// case this waits for that run's result instead. If the running caller is cancelled
    /// (its future dropped), one of the waiters takes over.
    pub(crate) async fn run<F, Fut>(&self, key: K, work: F) -> V
    where
        F: Fn() -> Fut,
        Fut: Future<Output = V>,
    {
        loop {
            let waiting = {
                let mut map = self.lock();
                match map.get_mut(&key) {
                    Some(waiters) => {
                        let (tx, rx) = oneshot::channel();
                        waiters.push(tx);
                        Some(rx)
                    }
                    None => {
                        map.insert(key.clone(), Vec::new());
                        None
                    }
                }
            };
            match waiting {
                Some(rx) => match rx.await {
                    Ok(value) => return value,
                    // The leader was dropped before finishing: try again, maybe as leader.
                    Err(_) => continue,
                },
                None => {
                    let guard = Leader {
                        owner: self,
                        key: Some(key.clone()),
                    };
                    let value = work().await;
                    for waiter in guard.finish() {
                        // A waiter that went away does not care.
                        let _ = waiter.send(value.clone());
                    }
                    return value;
                }
            }
        }
    }
}

/// Removes the in-flight entry when the leading run ends or is dropped; dropping the waiters'
/// senders wakes them.
struct Leader<'a, K: Eq + Hash + Clone, V: Clone> {
    owner: &'a InFlight<K, V>,
    key: Option<K>,
}

impl<K: Eq + Hash + Clone, V: Clone> Leader<'_, K, V> {
    fn finish(mut self) -> Waiters<V> {
        match self.key.take() {
            Some(key) => self.owner.lock().remove(&key).unwrap_or_default(),
            None => Vec::new(),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Drop for Leader<'_, K, V> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.owner.lock().remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn concurrent_runs_share_one_result() {
        let inflight = Arc::new(InFlight::<u32, u32>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let inflight = inflight.clone();
            let runs = runs.clone();
            tasks.spawn(async move {
                inflight
                    .run(7, || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        42
                    })
                    .await
            });
        }
        while let Some(result) = tasks.join_next().await {
            assert_eq!(result.unwrap(), 42);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(inflight.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_takes_over_from_a_cancelled_leader() {
        let inflight = Arc::new(InFlight::<u32, u32>::new());
        let leader = {
            let inflight = inflight.clone();
            tokio::spawn(async move {
                inflight
                    .run(1, || async {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        1
                    })
                    .await
            })
        };
        tokio::task::yield_now().await;
        let follower = {
            let inflight = inflight.clone();
            tokio::spawn(async move { inflight.run(1, || async { 2 }).await })
        };
        tokio::task::yield_now().await;
        leader.abort();
        assert_eq!(follower.await.unwrap(), 2);
        assert_eq!(inflight.len(), 0);
    }
}
