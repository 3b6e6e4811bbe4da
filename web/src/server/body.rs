//! [`RequestBody`]: the request's content as a handler sees it, streamed as the connection
//! delivers it (never buffered whole unless the handler asks, with a limit). It implements
//! `http_body::Body`, the trait hyper, axum and tower share. (What a response carries is
//! [`crate::body::Body`].)

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};

pub use crate::body::{Body, BoxBody, BoxError, Piece};
use tokio::sync::{mpsc, Notify};

use crate::proto::BodyError;

/// The request's content, read on demand.
pub struct RequestBody {
    inner: Inner,
    /// Declared length (Content-Length), if any.
    length: Option<u64>,
}

enum Inner {
    Empty,
    Full(Option<Bytes>),
    Streamed {
        rx: mpsc::Receiver<Result<Bytes, BodyError>>,
        /// Told when the handler first asks for data (so `100 Continue` is sent only then).
        demand: Arc<Notify>,
        asked: bool,
    },
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.inner {
            Inner::Empty => "empty",
            Inner::Full(_) => "full",
            Inner::Streamed { .. } => "streamed",
        };
        f.debug_struct("RequestBody")
            .field("kind", &kind)
            .field("length", &self.length)
            .finish()
    }
}

/// The connection's side of a streamed [`RequestBody`].
#[derive(Debug)]
pub(crate) struct BodySender {
    pub tx: mpsc::Sender<Result<Bytes, BodyError>>,
    pub demand: Arc<Notify>,
}

impl RequestBody {
    /// No content.
    pub fn empty() -> Self {
        RequestBody {
            inner: Inner::Empty,
            length: Some(0),
        }
    }

    /// These bytes (tests, or a body already read).
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        RequestBody {
            length: Some(bytes.len() as u64),
            inner: Inner::Full(Some(bytes)),
        }
    }

    /// A body the connection feeds piece by piece (`length`: its Content-Length, if known).
    pub(crate) fn streamed(length: Option<u64>) -> (Self, BodySender) {
        // Two pieces in flight: the reader works on one while the next arrives.
        let (tx, rx) = mpsc::channel(2);
        let demand = Arc::new(Notify::new());
        (
            RequestBody {
                inner: Inner::Streamed {
                    rx,
                    demand: demand.clone(),
                    asked: false,
                },
                length,
            },
            BodySender { tx, demand },
        )
    }

    /// The declared length (Content-Length), if any.
    pub fn declared_length(&self) -> Option<u64> {
        self.length
    }

    /// The next piece, `None` at the end.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, BodyError>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        match &mut self.inner {
            Inner::Empty => Poll::Ready(None),
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(Ok)),
            Inner::Streamed { rx, demand, asked } => {
                if !*asked {
                    *asked = true;
                    demand.notify_one();
                }
                rx.poll_recv(cx)
            }
        }
    }

    /// The whole body, if it is at most `limit` bytes (else [`BodyError::TooLarge`]).
    pub async fn collect(mut self, limit: u64) -> Result<Bytes, BodyError> {
        if self.length.is_some_and(|n| n > limit) {
            return Err(BodyError::TooLarge { limit });
        }
        let mut out = BytesMut::new();
        while let Some(piece) = self.chunk().await {
            let piece = piece?;
            if out.len() as u64 + piece.len() as u64 > limit {
                return Err(BodyError::TooLarge { limit });
            }
            if out.is_empty() && matches!(self.inner, Inner::Full(_) | Inner::Empty) {
                return Ok(piece);
            }
            out.extend_from_slice(&piece);
        }
        Ok(out.freeze())
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.get_mut()
            .poll_chunk(cx)
            .map(|o| o.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.inner, Inner::Empty | Inner::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
