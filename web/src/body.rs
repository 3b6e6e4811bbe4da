//! Message bodies as they go out: [`Body`] is what a response (or a client's request)
//! carries — nothing, bytes, pieces of files (sent with sendfile(2) where the transport
//! allows; small ones are read into the write buffer, see `Connection::send_file`), or any
//! `http_body::Body` stream — and [`write_body`] puts one on a connection
//! with the framing chosen for it (length-delimited, chunked, or until close).

use std::fmt;
use std::fs::File;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use torsion_core::Connection;

use crate::proto::body::{encode_chunk, LAST_CHUNK};

/// A boxed error, as `http_body` streams carry.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A boxed body stream.
pub type BoxBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send>>;

/// A piece of a body.
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

/// A message body to send.
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

impl Clone for Body {
    /// Streams cannot be cloned: a clone of one is empty (use [`Body::try_clone`]).
    fn clone(&self) -> Self {
        self.try_clone().unwrap_or_default()
    }
}

impl Body {
    /// A copy, unless it is a stream (which can be read only once).
    pub fn try_clone(&self) -> Option<Body> {
        match self {
            Body::Empty => Some(Body::Empty),
            Body::Full(b) => Some(Body::Full(b.clone())),
            Body::Pieces(p) => Some(Body::Pieces(p.clone())),
            Body::Stream(_) => None,
        }
    }
}

/// Write `body` after its head: its bytes as they are (`chunked`: in the chunked coding,
/// with the last chunk). A stream that yields more or fewer bytes than `declared` is an error
/// (the connection must then be closed: the message is incomplete). The body bytes written.
pub async fn write_body(
    conn: &mut Connection,
    body: Body,
    chunked: bool,
    declared: Option<u64>,
) -> io::Result<u64> {
    match body {
        Body::Empty => {
            if chunked {
                conn.feed(LAST_CHUNK).await?;
            }
            Ok(0)
        }
        Body::Full(bytes) => {
            if chunked {
                let mut out = BytesMut::with_capacity(bytes.len() + 16);
                encode_chunk(&mut out, &bytes);
                out.extend_from_slice(LAST_CHUNK);
                conn.feed(&out).await?;
            } else {
                conn.feed(&bytes).await?;
            }
            Ok(bytes.len() as u64)
        }
        Body::Pieces(pieces) => {
            let mut sent = 0;
            for piece in pieces {
                let n = piece.len();
                match piece {
                    Piece::Bytes(b) => conn.feed(&b).await?,
                    Piece::File { file, offset, len } => conn.send_file(&file, offset, len).await?,
                }
                sent += n;
            }
            Ok(sent)
        }
        Body::Stream(mut stream) => {
            let mut sent: u64 = 0;
            while let Some(frame) = poll_fn(|cx| stream.as_mut().poll_frame(cx)).await {
                let frame = frame.map_err(|e| io::Error::other(e.to_string()))?;
                let Ok(data) = frame.into_data() else {
                    // Trailers are not forwarded (RFC 9110 §6.5.1 lets them be dropped).
                    continue;
                };
                sent += data.len() as u64;
                if declared.is_some_and(|n| sent > n) {
                    return Err(io::Error::other("body longer than its declared length"));
                }
                if chunked {
                    let mut out = BytesMut::with_capacity(data.len() + 12);
                    encode_chunk(&mut out, &data);
                    conn.feed(&out).await?;
                } else {
                    conn.feed(&data).await?;
                }
            }
            if declared.is_some_and(|n| sent != n) {
                return Err(io::Error::other("body shorter than its declared length"));
            }
            if chunked {
                conn.feed(LAST_CHUNK).await?;
            }
            Ok(sent)
        }
    }
}
