use bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;

use super::FrameError;

/// Reads exactly `total` bytes, delivered as chunks of at most `max_chunk` bytes as they arrive
/// (IMAP literals, SMTP BDAT chunks, HTTP bodies with a Content-Length). The whole count is never
/// buffered at once, so a 50 MB literal costs `max_chunk` bytes of memory, not 50 MB.
///
/// After the last chunk, [`CountedCodec::is_done`] is true and `decode` returns `Ok(None)`
/// without consuming anything, so the connection can switch back to line mode.
#[derive(Debug, Clone)]
pub struct CountedCodec {
    remaining: u64,
    max_chunk: usize,
}

impl CountedCodec {
    /// Expect `total` bytes, handed out in chunks of at most `max_chunk` (at least 1).
    pub fn new(total: u64, max_chunk: usize) -> Self {
        CountedCodec {
            remaining: total,
            max_chunk: max_chunk.max(1),
        }
    }

    /// Bytes still to come.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Whether every announced byte has been delivered.
    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }
}

impl Decoder for CountedCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(None);
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(self.max_chunk);
        let take = want.min(buf.len());
        self.remaining -= take as u64;
        Ok(Some(buf.split_to(take).freeze()))
    }
}

/// Raw mode: whatever bytes have arrived, at most `max_chunk` at a time (Twisted's
/// `setRawMode`/`rawDataReceived`; proxies and pass-through bodies).
#[derive(Debug, Clone)]
pub struct RawCodec {
    max_chunk: usize,
}

impl RawCodec {
    /// Chunks of at most `max_chunk` bytes (at least 1).
    pub fn new(max_chunk: usize) -> Self {
        RawCodec {
            max_chunk: max_chunk.max(1),
        }
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if buf.is_empty() {
            return Ok(None);
        }
        let take = buf.len().min(self.max_chunk);
        Ok(Some(buf.split_to(take).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_stops_at_count_and_leaves_the_rest() {
        let mut c = CountedCodec::new(5, 3);
        let mut buf = BytesMut::from(&b"abcdefgh\r\n"[..]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"abc"[..]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"de"[..]);
        assert!(c.is_done());
        assert!(c.decode(&mut buf).unwrap().is_none());
        assert_eq!(&buf[..], b"fgh\r\n");
    }

    #[test]
    fn counted_zero_is_immediately_done() {
        let mut c = CountedCodec::new(0, 10);
        let mut buf = BytesMut::from(&b"x"[..]);
        assert!(c.decode(&mut buf).unwrap().is_none());
        assert_eq!(buf.len(), 1);
    }

    #[test]
    fn raw_hands_out_chunks() {
        let mut c = RawCodec::new(4);
        let mut buf = BytesMut::from(&b"123456"[..]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"1234"[..]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"56"[..]);
        assert!(c.decode(&mut buf).unwrap().is_none());
    }
}
