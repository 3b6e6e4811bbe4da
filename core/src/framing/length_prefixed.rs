use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::FrameError;

/// Width of a big-endian length prefix (Twisted's Int8/Int16/Int32StringReceiver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixWidth {
    /// One byte, frames up to 255 bytes.
    U8,
    /// Two bytes, frames up to 65535 bytes (DNS over TCP, RFC 1035 §4.2.2).
    U16,
    /// Four bytes.
    U32,
}

impl PrefixWidth {
    fn bytes(self) -> usize {
        match self {
            PrefixWidth::U8 => 1,
            PrefixWidth::U16 => 2,
            PrefixWidth::U32 => 4,
        }
    }

    fn max_value(self) -> u64 {
        match self {
            PrefixWidth::U8 => u8::MAX.into(),
            PrefixWidth::U16 => u16::MAX.into(),
            PrefixWidth::U32 => u32::MAX.into(),
        }
    }
}

/// Frames preceded by their length as a big-endian unsigned integer.
#[derive(Debug, Clone)]
pub struct LengthPrefixedCodec {
    width: PrefixWidth,
    max_length: usize,
}

impl LengthPrefixedCodec {
    /// Frames with a `width` prefix and at most `max_length` payload bytes.
    pub fn new(width: PrefixWidth, max_length: usize) -> Self {
        LengthPrefixedCodec { width, max_length }
    }

    /// The DNS-over-TCP framing (RFC 1035 §4.2.2): 16-bit prefix, up to 65535 bytes.
    pub fn dns() -> Self {
        Self::new(PrefixWidth::U16, u16::MAX as usize)
    }
}

impl Decoder for LengthPrefixedCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let w = self.width.bytes();
        if buf.len() < w {
            return Ok(None);
        }
        let len = buf[..w]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        if len > self.max_length as u64 {
            return Err(FrameError::FrameTooLong {
                length: len,
                limit: self.max_length,
            });
        }
        // Bounded by max_length, which is a usize.
        let len = len as usize;
        if buf.len() < w + len {
            buf.reserve(w + len - buf.len());
            return Ok(None);
        }
        buf.advance(w);
        Ok(Some(buf.split_to(len).freeze()))
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for LengthPrefixedCodec {
    type Error = FrameError;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), FrameError> {
        let item = item.as_ref();
        let len = item.len() as u64;
        if item.len() > self.max_length || len > self.width.max_value() {
            return Err(FrameError::FrameTooLong {
                length: len,
                limit: self.max_length.min(self.width.max_value() as usize),
            });
        }
        dst.reserve(self.width.bytes() + item.len());
        match self.width {
            PrefixWidth::U8 => dst.put_u8(len as u8),
            PrefixWidth::U16 => dst.put_u16(len as u16),
            PrefixWidth::U32 => dst.put_u32(len as u32),
        }
        dst.put_slice(item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_width_round_trips() {
        for width in [PrefixWidth::U8, PrefixWidth::U16, PrefixWidth::U32] {
            let mut c = LengthPrefixedCodec::new(width, 200);
            let mut buf = BytesMut::new();
            c.encode(b"hello", &mut buf).unwrap();
            c.encode(b"", &mut buf).unwrap();
            assert_eq!(buf.len(), 5 + 2 * width.bytes());
            assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"hello"[..]);
            assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b""[..]);
            assert!(c.decode(&mut buf).unwrap().is_none());
        }
    }

    #[test]
    fn dns_prefix_is_big_endian() {
        let mut c = LengthPrefixedCodec::dns();
        let mut buf = BytesMut::from(&[0x01, 0x00][..]);
        assert!(c.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&[7u8; 256]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap().len(), 256);
    }

    #[test]
    fn oversize_is_rejected_on_both_sides() {
        let mut c = LengthPrefixedCodec::new(PrefixWidth::U32, 10);
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::FrameTooLong {
                length: 4294967295,
                ..
            })
        ));
        assert!(c.encode([0u8; 11], &mut BytesMut::new()).is_err());
        let mut c = LengthPrefixedCodec::new(PrefixWidth::U8, 1000);
        assert!(c.encode([0u8; 256], &mut BytesMut::new()).is_err());
    }
}
