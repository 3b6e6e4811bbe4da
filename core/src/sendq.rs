//! A send queue bounded in bytes — for fan-out (IRC channels, chat): producers never wait; a
//! consumer that falls behind makes `try_send` fail, and the server disconnects it ("SendQ
//! exceeded") instead of growing memory without limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

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

/// The producer side (cheap to clone).
#[derive(Debug, Clone)]
pub struct SendQueue {
    tx: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

/// The consumer side.
#[derive(Debug)]
pub struct SendQueueReceiver {
    rx: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<AtomicUsize>,
}

/// A queue that refuses messages once more than `limit_bytes` are waiting.
pub fn send_queue(limit_bytes: usize) -> (SendQueue, SendQueueReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        SendQueue {
            tx,
            queued: queued.clone(),
            limit: limit_bytes,
        },
        SendQueueReceiver { rx, queued },
    )
}

impl SendQueue {
    /// Queue a message (a `Bytes` clone shares the buffer: serialise once, send to many).
    pub fn try_send(&self, msg: Bytes) -> Result<(), SendQueueError> {
        let len = msg.len();
        let before = self.queued.fetch_add(len, Ordering::AcqRel);
        if before + len > self.limit && before > 0 {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            return Err(SendQueueError::Full);
        }
        self.tx.send(msg).map_err(|_| {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            SendQueueError::Closed
        })
    }

    /// Bytes waiting.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether the consumer has gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl SendQueueReceiver {
    /// The next message; `None` when every producer has gone.
    pub async fn recv(&mut self) -> Option<Bytes> {
        let msg = self.rx.recv().await?;
        self.queued.fetch_sub(msg.len(), Ordering::AcqRel);
        Some(msg)
    }

    /// The next message if one is waiting.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        let msg = self.rx.try_recv().ok()?;
        self.queued.fetch_sub(msg.len(), Ordering::AcqRel);
        Some(msg)
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
}
