//! [`ResponseBody`]: a response's content, read from the connection as the caller asks for
//! it (an `http_body::Body`), gzip-decoded when the client asked for that, and the
//! connection handed back to the pool once the body has been read to its end.

use std::fmt;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use torsion_core::{Connection, ReadError};

use super::pool::{Pool, PoolKey};
use super::ClientError;
use crate::proto::{BodyDecoder, BodyPiece};

/// Compressed input fed to the gzip decoder per step: bounds the output of one step to about
/// 1032 × this (deflate's maximum ratio), whatever the server sends.
const GZIP_STEP: usize = 2048;
/// Decoded output gathered before it is handed out.
const GZIP_OUTPUT: usize = 64 * 1024;

/// The response's content.
pub struct ResponseBody {
    reading: Option<Box<Reading>>,
    gzip: Option<Gzip>,
    length: Option<u64>,
}

struct Reading {
    conn: Connection,
    decoder: BodyDecoder,
    keep_alive: bool,
    pool: Option<(Arc<Pool>, PoolKey)>,
}

struct Gzip {
    decoder: flate2::write::GzDecoder<Vec<u8>>,
    pending: Bytes,
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("reading", &self.reading.is_some())
            .field("gzip", &self.gzip.is_some())
            .field("length", &self.length)
            .finish()
    }
}

impl ResponseBody {
    /// No content (the connection, if any, is already back in the pool).
    pub(crate) fn empty() -> Self {
        ResponseBody {
            reading: None,
            gzip: None,
            length: Some(0),
        }
    }

    pub(crate) fn reading(
        conn: Connection,
        decoder: BodyDecoder,
        keep_alive: bool,
        pool: Option<(Arc<Pool>, PoolKey)>,
        length: Option<u64>,
        gzip: bool,
    ) -> Self {
        ResponseBody {
            reading: Some(Box::new(Reading {
                conn,
                decoder,
                keep_alive,
                pool,
            })),
            gzip: gzip.then(|| Gzip {
                decoder: flate2::write::GzDecoder::new(Vec::new()),
                pending: Bytes::new(),
            }),
            length: if gzip { None } else { length },
        }
    }

    /// The next piece of content, `None` at the end.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, ClientError>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// The whole content, if at most `limit` bytes (else [`ClientError::TooLarge`]).
    pub async fn bytes(mut self, limit: u64) -> Result<Bytes, ClientError> {
        if self.length.is_some_and(|n| n > limit) {
            return Err(ClientError::TooLarge(limit));
        }
        let mut out = BytesMut::new();
        while let Some(piece) = self.chunk().await {
            let piece = piece?;
            if out.len() as u64 + piece.len() as u64 > limit {
                return Err(ClientError::TooLarge(limit));
            }
            out.extend_from_slice(&piece);
        }
        Ok(out.freeze())
    }

    /// The whole content as text (invalid UTF-8 replaced), if at most `limit` bytes.
    pub async fn text(self, limit: u64) -> Result<String, ClientError> {
        let bytes = self.bytes(limit).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn poll_raw(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, ClientError>>> {
        let Some(reading) = self.reading.as_mut() else {
            return Poll::Ready(None);
        };
        let result = match reading.conn.poll_read_frame(cx, &mut reading.decoder) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        match result {
            Ok(Some(BodyPiece::Data(data))) => Poll::Ready(Some(Ok(data))),
            Ok(Some(BodyPiece::End)) => {
                self.finish();
                Poll::Ready(None)
            }
            Ok(None) if reading.decoder.end_of_stream() => {
                // Delimited by the close: complete, but the connection is spent.
                reading.keep_alive = false;
                self.finish();
                Poll::Ready(None)
            }
            Ok(None) | Err(ReadError::Truncated { .. }) => {
                self.reading = None;
                Poll::Ready(Some(Err(ClientError::Protocol(
                    "the server closed the connection inside the body".into(),
                ))))
            }
            Err(ReadError::IdleTimeout | ReadError::FrameTimeout) => {
                self.reading = None;
                Poll::Ready(Some(Err(ClientError::Timeout("reading the body"))))
            }
            Err(ReadError::Frame(e)) => {
                self.reading = None;
                Poll::Ready(Some(Err(ClientError::Protocol(e.to_string()))))
            }
            Err(e) => {
                self.reading = None;
                Poll::Ready(Some(Err(ClientError::Io(std::io::Error::other(
                    e.to_string(),
                )))))
            }
        }
    }

    /// The body is complete: the connection goes back to the pool if it can be reused.
    fn finish(&mut self) {
        if let Some(reading) = self.reading.take() {
            let reading = *reading;
            if reading.keep_alive && reading.conn.pending_input().is_empty() {
                if let Some((pool, key)) = reading.pool {
                    pool.put(key, reading.conn);
                }
            }
        }
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, ClientError>>> {
        if self.gzip.is_none() {
            return self.poll_raw(cx);
        }
        loop {
            // Decode what is pending, a step at a time, until there is enough output.
            let Some(gzip) = self.gzip.as_mut() else {
                return Poll::Ready(None);
            };
            while !gzip.pending.is_empty() && gzip.decoder.get_ref().len() < GZIP_OUTPUT {
                let step = gzip.pending.split_to(gzip.pending.len().min(GZIP_STEP));
                if let Err(e) = gzip.decoder.write_all(&step) {
                    self.gzip = None;
                    self.reading = None;
                    return Poll::Ready(Some(Err(ClientError::Protocol(format!("gzip: {e}")))));
                }
            }
            if gzip.decoder.get_ref().len() >= GZIP_OUTPUT
                || (!gzip.decoder.get_ref().is_empty() && gzip.pending.is_empty())
            {
                let out = std::mem::take(gzip.decoder.get_mut());
                return Poll::Ready(Some(Ok(Bytes::from(out))));
            }
            match self.poll_raw(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(data))) => {
                    if let Some(gzip) = self.gzip.as_mut() {
                        gzip.pending = data;
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    let Some(mut gzip) = self.gzip.take() else {
                        return Poll::Ready(None);
                    };
                    // The end: the trailer (CRC, length) must be there and right.
                    return match gzip.decoder.try_finish() {
                        Ok(()) => {
                            let out = std::mem::take(gzip.decoder.get_mut());
                            if out.is_empty() {
                                Poll::Ready(None)
                            } else {
                                Poll::Ready(Some(Ok(Bytes::from(out))))
                            }
                        }
                        Err(e) => {
                            Poll::Ready(Some(Err(ClientError::Protocol(format!("gzip: {e}")))))
                        }
                    };
                }
            }
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = ClientError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientError>>> {
        self.get_mut()
            .poll_chunk(cx)
            .map(|o| o.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.reading.is_none() && self.gzip.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
