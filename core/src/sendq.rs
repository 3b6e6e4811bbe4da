//! A send queue bounded in bytes — for fan-out (IRC channels, chat): producers never wait; a
//! consumer that falls behind makes `try_send` fail, and the server disconnects it ("SendQ
//! exceeded") instead of growing memory without limit.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendQueueError {
    /// The queue holds more than its byte limit; the consumer is too slow.
    #[error("send queue exceeded")]
    Full,
    /// The consumer has gone.
    #[error("send queue closed")]
    Closed,
}

/// The queue proper. A `VecDeque` under a mutex rather than a channel: an empty queue owns no
/// allocation (an idle IRC client costs a few dozen bytes here, where tokio's mpsc allocates a
/// 32-slot block up front), a producer pays one uncontended lock, and the consumer takes every
/// waiting message under a single lock ([`SendQueueReceiver::drain`]).
///
/// The single consumer's waker sits in the state itself rather than in a `Notify`: waiting is a
/// poll method ([`SendQueueReceiver::poll_ready`]) with no future to keep, so a session that
/// waits on its socket and its queue at once needs no per-connection wait state.
#[derive(Debug)]
struct State {
    queue: VecDeque<Bytes>,
    bytes: usize,
    senders: usize,
    receiver_alive: bool,
    /// The consumer, when it waits: woken when the queue goes from empty to non-empty, or the
    /// last producer leaves.
    waker: Option<Waker>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    limit: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The producer side (cheap to clone).
#[derive(Debug)]
pub struct SendQueue {
    shared: Arc<Shared>,
}

/// The consumer side.
#[derive(Debug)]
pub struct SendQueueReceiver {
    shared: Arc<Shared>,
}

/// A queue that refuses messages once more than `limit_bytes` are waiting.
pub fn send_queue(limit_bytes: usize) -> (SendQueue, SendQueueReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            bytes: 0,
            senders: 1,
            receiver_alive: true,
            waker: None,
        }),
        limit: limit_bytes,
    });
    (
        SendQueue {
            shared: shared.clone(),
        },
        SendQueueReceiver { shared },
    )
}

impl Clone for SendQueue {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        SendQueue {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for SendQueue {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.lock();
            state.senders -= 1;
            if state.senders == 0 {
                state.waker.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl SendQueue {
    /// Queue a message (a `Bytes` clone shares the buffer: serialise once, send to many).
    /// A single message larger than the limit still goes when the queue is empty.
    pub fn try_send(&self, msg: Bytes) -> Result<(), SendQueueError> {
        let len = msg.len();
        let waker = {
            let mut state = self.shared.lock();
            if !state.receiver_alive {
                return Err(SendQueueError::Closed);
            }
            if state.bytes > 0 && state.bytes + len > self.shared.limit {
                return Err(SendQueueError::Full);
            }
            state.bytes += len;
            state.queue.push_back(msg);
            // Only the empty → non-empty transition needs a wake-up: a consumer that was woken
            // drains everything there is before it waits (and registers) again.
            if state.queue.len() == 1 {
                state.waker.take()
            } else {
                None
            }
        };
        // Woken outside the lock, so the consumer does not wake into a held mutex.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Bytes waiting.
    pub fn queued_bytes(&self) -> usize {
        self.shared.lock().bytes
    }

    /// Whether the consumer has gone.
    pub fn is_closed(&self) -> bool {
        !self.shared.lock().receiver_alive
    }
}

impl Drop for SendQueueReceiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_alive = false;
        state.queue = VecDeque::new();
        state.bytes = 0;
        state.waker = None;
    }
}

/// Keep `cx`'s waker as the one to wake (cloning only when it changed).
fn register(state: &mut State, cx: &Context<'_>) {
    match &mut state.waker {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        slot => *slot = Some(cx.waker().clone()),
    }
}

impl SendQueueReceiver {
    /// The next message; `None` once every producer has gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Bytes> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Poll form of [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut state = self.shared.lock();
        if let Some(msg) = state.queue.pop_front() {
            state.bytes -= msg.len();
            return Poll::Ready(Some(msg));
        }
        if state.senders == 0 {
            return Poll::Ready(None);
        }
        register(&mut state, cx);
        Poll::Pending
    }

    /// Ready with `true` when messages are waiting (take them with [`drain`](Self::drain)),
    /// `false` once every producer has gone and the queue is empty; otherwise the task is
    /// woken when either happens.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut state = self.shared.lock();
        if !state.queue.is_empty() {
            return Poll::Ready(true);
        }
        if state.senders == 0 {
            return Poll::Ready(false);
        }
        register(&mut state, cx);
        Poll::Pending
    }

    /// Ready once every producer has gone (whatever is still queued); otherwise the task is
    /// woken then — or, spuriously, when a message arrives in an empty queue. For a consumer
    /// that is not taking messages right now (its output is full) but must notice the end.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.shared.lock();
        if state.senders == 0 {
            return Poll::Ready(());
        }
        register(&mut state, cx);
        Poll::Pending
    }

    /// Whether every producer has gone.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().senders == 0
    }

    /// The next message if one is waiting.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        let mut state = self.shared.lock();
        let msg = state.queue.pop_front()?;
        state.bytes -= msg.len();
        Some(msg)
    }

    /// Hand waiting messages to `sink` under one lock, until about `max_bytes` have been taken
    /// (at least one message if any is waiting); returns the bytes taken.
    pub fn drain(&mut self, max_bytes: usize, mut sink: impl FnMut(&Bytes)) -> usize {
        let mut state = self.shared.lock();
        let mut taken = 0;
        while taken < max_bytes.max(1) {
            let Some(msg) = state.queue.pop_front() else {
                break;
            };
            taken += msg.len();
            sink(&msg);
        }
        state.bytes -= taken;
        if state.queue.is_empty() && state.queue.capacity() > 0 {
            // Emptied: give the memory back, so a waiting consumer costs no buffer (an idle
            // IRC client would otherwise keep its welcome burst's 16 slots, 512 bytes, for
            // good). Refilling costs one small allocation per wake-up, not per message.
            state.queue = VecDeque::new();
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_by_bytes() {
        let (tx, mut rx) = send_queue(10);
        tx.try_send(Bytes::from_static(b"123456")).unwrap();
        assert_eq!(
            tx.try_send(Bytes::from_static(b"123456")),
            Err(SendQueueError::Full)
        );
        assert_eq!(tx.queued_bytes(), 6);
        assert_eq!(rx.recv().await.unwrap(), &b"123456"[..]);
        tx.try_send(Bytes::from_static(b"1234567890")).unwrap();
        assert_eq!(rx.try_recv().unwrap().len(), 10);
        assert!(rx.try_recv().is_none());
        drop(rx);
        assert_eq!(
            tx.try_send(Bytes::from_static(b"x")),
            Err(SendQueueError::Closed)
        );
    }

    #[tokio::test]
    async fn a_single_oversized_message_still_goes_when_empty() {
        let (tx, mut rx) = send_queue(4);
        tx.try_send(Bytes::from_static(b"longer than four"))
            .unwrap();
        assert_eq!(
            tx.try_send(Bytes::from_static(b"x")),
            Err(SendQueueError::Full)
        );
        assert!(rx.recv().await.is_some());
        assert_eq!(tx.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn drain_takes_many_under_one_lock_and_recv_ends_with_the_producers() {
        let (tx, mut rx) = send_queue(1000);
        let tx2 = tx.clone();
        for i in 0..10u8 {
            tx.try_send(Bytes::from(vec![i; 10])).unwrap();
        }
        let mut got = Vec::new();
        assert_eq!(rx.drain(35, |b| got.push(b[0])), 40);
        assert_eq!(got, [0, 1, 2, 3]);
        assert_eq!(tx.queued_bytes(), 60);
        assert_eq!(rx.drain(usize::MAX, |b| got.push(b[0])), 60);
        assert_eq!(got.len(), 10);
        drop(tx);
        tx2.try_send(Bytes::from_static(b"last")).unwrap();
        drop(tx2);
        assert_eq!(rx.recv().await.unwrap(), &b"last"[..]);
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_waiting_consumer_is_woken() {
        let (tx, mut rx) = send_queue(100);
        let waiter = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        tx.try_send(Bytes::from_static(b"wake")).unwrap();
        assert_eq!(waiter.await.unwrap().unwrap(), &b"wake"[..]);
        assert!(tx.is_closed());
    }

    #[tokio::test]
    async fn poll_ready_and_poll_closed_wake_the_consumer() {
        let (tx, mut rx) = send_queue(100);
        let waiter = tokio::spawn(async move {
            let ready = poll_fn(|cx| rx.poll_ready(cx)).await;
            let mut got = Vec::new();
            rx.drain(usize::MAX, |m| got.push(m.clone()));
            // Emptied: the queue's buffer is given back.
            assert_eq!(rx.shared.lock().queue.capacity(), 0);
            poll_fn(|cx| rx.poll_closed(cx)).await;
            (
                ready,
                got,
                poll_fn(|cx| rx.poll_ready(cx)).await,
                rx.is_closed(),
            )
        });
        tokio::task::yield_now().await;
        tx.try_send(Bytes::from_static(b"a")).unwrap();
        tokio::task::yield_now().await;
        // A message into the now empty queue wakes poll_closed spuriously; it waits on.
        tx.try_send(Bytes::from_static(b"b")).unwrap();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(tx);
        let (ready, got, ready_after, closed) = waiter.await.unwrap();
        assert!(ready);
        assert_eq!(got, [Bytes::from_static(b"a")]);
        // "b" is still queued: ready, not yet the end.
        assert!(ready_after);
        assert!(closed);
    }
}
