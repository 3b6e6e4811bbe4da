//! Timers and background work — Twisted's `LoopingCall`, `callLater` and `deferToThread`,
//! driven by tokio time so that tests under a paused clock (`#[tokio::test(start_paused = true)]`
//! or `tokio::time::pause()`) run them instantly and deterministically.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// What a [`LoopingCall`] does about ticks missed while the task (or the machine) was busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTicks {
    /// Run the missed calls back to back until caught up.
    Burst,
    /// Start counting the period again from the late call.
    Delay,
    /// Drop the missed calls and keep to the original schedule; the callback's tick count
    /// says how many periods passed (Twisted's `LoopingCall.withCount`).
    #[default]
    Skip,
}

/// A function called every `period` until stopped. Dropping it stops it too.
#[derive(Debug)]
pub struct LoopingCall {
    task: JoinHandle<()>,
}

impl LoopingCall {
    /// Call `f(ticks)` every `period` (the first call after one period, or at once if `now`).
    /// `ticks` is the number of periods since the previous call: 1 normally, more when calls
    /// were skipped under [`MissedTicks::Skip`]. The next call is not started before the
    /// previous one's future completes.
    pub fn start<F, Fut>(period: Duration, missed: MissedTicks, now: bool, mut f: F) -> Self
    where
        F: FnMut(u64) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let period = period.max(Duration::from_millis(1));
        let start = if now {
            Instant::now()
        } else {
            Instant::now() + period
        };
        let mut interval = tokio::time::interval_at(start, period);
        interval.set_missed_tick_behavior(match missed {
            MissedTicks::Burst => MissedTickBehavior::Burst,
            MissedTicks::Delay => MissedTickBehavior::Delay,
            MissedTicks::Skip => MissedTickBehavior::Skip,
        });
        let task = tokio::spawn(async move {
            // Index of the last period boundary already reported.
            let period_index = |at: Instant| {
                let elapsed = at.saturating_duration_since(start).as_nanos();
                u64::try_from(elapsed / period.as_nanos()).unwrap_or(u64::MAX)
            };
            let mut last: Option<u64> = None;
            loop {
                interval.tick().await;
                let index = period_index(Instant::now());
                let ticks = match (missed, last) {
                    (MissedTicks::Skip, Some(prev)) => index.saturating_sub(prev).max(1),
                    _ => 1,
                };
                last = Some(index);
                f(ticks).await;
            }
        });
        LoopingCall { task }
    }

    /// Stop calling. A call in progress is cancelled at its next await point.
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Whether the loop is still scheduled.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

impl Drop for LoopingCall {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A call scheduled by [`call_later`]. Unlike a `LoopingCall`, dropping the handle does *not*
/// cancel it (as in Twisted): keep the handle to cancel or reschedule.
#[derive(Debug)]
pub struct DelayedCall {
    deadline: watch::Sender<Option<Instant>>,
    fired: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

/// Run `work` after `delay`.
pub fn call_later<Fut>(delay: Duration, work: Fut) -> DelayedCall
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = watch::channel(Some(Instant::now() + delay));
    let fired = Arc::new(AtomicBool::new(false));
    let fired2 = fired.clone();
    let task = tokio::spawn(async move {
        let mut listening = true;
        loop {
            let Some(deadline) = *rx.borrow_and_update() else {
                return; // cancelled
            };
            if listening {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => break,
                    changed = rx.changed() => {
                        // Handle dropped: the call stays scheduled, nobody can change it now.
                        if changed.is_err() {
                            listening = false;
                        }
                    }
                }
            } else {
                tokio::time::sleep_until(deadline).await;
                break;
            }
        }
        fired2.store(true, Ordering::Release);
        work.await;
    });
    DelayedCall {
        deadline: tx,
        fired,
        task,
    }
}

impl DelayedCall {
    /// Cancel the call if it has not fired yet. Returns whether it was still pending.
    pub fn cancel(&self) -> bool {
        let pending = self.is_pending();
        self.deadline.send_replace(None);
        pending
    }

    /// Move the call to `delay` from now, if it has not fired or been cancelled.
    pub fn reset(&self, delay: Duration) -> bool {
        if !self.is_pending() {
            return false;
        }
        self.deadline.send_replace(Some(Instant::now() + delay));
        true
    }

    /// Whether the call is still waiting to fire.
    pub fn is_pending(&self) -> bool {
        !self.fired.load(Ordering::Acquire)
            && self.deadline.borrow().is_some()
            && !self.task.is_finished()
    }

    /// Whether the call has fired (its work started).
    pub fn has_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

/// A blocking function panicked.
#[derive(Debug, thiserror::Error)]
#[error("blocking task failed: {0}")]
pub struct DeferError(String);

/// Run blocking work (file I/O, password hashing, fsync) on tokio's blocking pool and await its
/// result without stalling the reactor — Twisted's `deferToThread`. If the awaiting future is
/// dropped, the result is discarded (a running thread cannot be interrupted).
pub async fn defer_to_thread<T, F>(f: F) -> Result<T, DeferError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DeferError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Mutex;

    #[tokio::test(start_paused = true)]
    async fn looping_call_runs_every_period_until_stopped() {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let lc = LoopingCall::start(
            Duration::from_secs(10),
            MissedTicks::Skip,
            false,
            move |_| {
                let c = c.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                }
            },
        );
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert_eq!(count.load(Ordering::SeqCst), 3);
        lc.stop();
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert_eq!(count.load(Ordering::SeqCst), 3);
        tokio::task::yield_now().await;
        assert!(!lc.is_running());
    }

    #[tokio::test(start_paused = true)]
    async fn skip_policy_reports_missed_periods() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let _lc = LoopingCall::start(
            Duration::from_secs(1),
            MissedTicks::Skip,
            true,
            move |ticks| {
                let s = s.clone();
                async move {
                    s.lock().unwrap().push(ticks);
                    // The first call overruns three periods.
                    if s.lock().unwrap().len() == 1 {
                        tokio::time::sleep(Duration::from_millis(3500)).await;
                    }
                }
            },
        );
        tokio::time::sleep(Duration::from_millis(5200)).await;
        let seen = seen.lock().unwrap().clone();
        // The call at 3.5s stands for the boundaries at 1s, 2s and 3s; then 4s and 5s.
        assert_eq!(seen, vec![1, 3, 1, 1], "{seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn burst_policy_catches_up() {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let _lc = LoopingCall::start(
            Duration::from_secs(1),
            MissedTicks::Burst,
            true,
            move |_| {
                let c = c.clone();
                async move {
                    if c.fetch_add(1, Ordering::SeqCst) == 0 {
                        tokio::time::sleep(Duration::from_millis(3500)).await;
                    }
                }
            },
        );
        tokio::time::sleep(Duration::from_millis(3600)).await;
        // 0s (slow, ends at 3.5s), then 1s, 2s, 3s back to back.
        assert_eq!(count.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn call_later_fires_once_and_can_be_cancelled_or_reset() {
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        let call = call_later(Duration::from_secs(5), async move {
            h.fetch_add(1, Ordering::SeqCst);
        });
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(call.reset(Duration::from_secs(5)));
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(hits.load(Ordering::SeqCst), 0, "reset pushed it to t=9s");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert!(call.has_fired());
        assert!(!call.cancel());

        let h = hits.clone();
        let call = call_later(Duration::from_secs(1), async move {
            h.fetch_add(10, Ordering::SeqCst);
        });
        assert!(call.cancel());
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert!(!call.reset(Duration::from_secs(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_handle_still_fires() {
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        drop(call_later(Duration::from_secs(1), async move {
            h.fetch_add(1, Ordering::SeqCst);
        }));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn defer_to_thread_returns_value_and_reports_panics() {
        assert_eq!(defer_to_thread(|| 6 * 7).await.unwrap(), 42);
        let err = defer_to_thread(|| -> u8 { panic!("boom") })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("panic"), "{err}");
    }
}
