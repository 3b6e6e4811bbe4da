//! Bodies as handlers see them: [`RequestBody`] streams the request's content as the
//! connection delivers it (never buffered whole unless the handler asks, with a limit), and
//! [`Body`] is what a response carries — nothing, bytes, pieces of files (sent with
//! sendfile(2) where the transport allows), or any `http_body::Body` stream (written chunked
//! when its length is unknown). Both implement `http_body::Body`, the trait hyper, axum and
//! tower share.

use std::fmt;
use std::fs::File;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use tokio::sync::{mpsc, Notify};

use crate::proto::BodyError;

/// A boxed error, as `http_body` streams carry.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A boxed body stream.
pub type BoxBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send>>;

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

/// A piece of a response body.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Bytes.
    Bytes(Bytes),
    /// `len` bytes of a file from `offset`.
    File {
        /// The open file (shared by the pieces of a multipart response).
        file: Arc<File>,
        /// Where to start.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
}

impl Piece {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::File { len, .. } => *len,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A response body.
#[derive(Default)]
pub enum Body {
    /// No content.
    #[default]
    Empty,
    /// These bytes.
    Full(Bytes),
    /// Bytes and file ranges, in order (a file, or a multipart/byteranges response).
    Pieces(Vec<Piece>),
    /// A stream of unknown (or declared) length.
    Stream(BoxBody),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Body::Empty"),
            Body::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            Body::Pieces(p) => write!(f, "Body::Pieces({p:?})"),
            Body::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl Body {
    /// A stream body from any `http_body::Body`.
    pub fn stream<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Body::Stream(Box::pin(MapErr { inner: body }))
    }

    /// The length when known without reading.
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Full(b) => Some(b.len() as u64),
            Body::Pieces(p) => Some(p.iter().map(Piece::len).sum()),
            Body::Stream(s) => s.size_hint().exact(),
        }
    }

    /// Whether it is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Full(b)
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body::Full(b.into())
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Full(s.into())
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::Full(Bytes::from_static(s.as_bytes()))
    }
}

pin_project_lite::pin_project! {
    /// Adapts a body's error type to [`BoxError`].
    struct MapErr<B> {
        #[pin]
        inner: B,
    }
}

impl<B> http_body::Body for MapErr<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project()
            .inner
            .poll_frame(cx)
            .map(|o| o.map(|r| r.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
