use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::FrameError;

/// Twisted's `NetstringReceiver.MAX_LENGTH`.
pub const DEFAULT_MAX_NETSTRING: usize = 99999;

/// D. J. Bernstein's netstrings: `<decimal length>:<bytes>,` (e.g. `5:hello,`).
///
/// The length must be plain ASCII digits without a leading zero (except `0` itself); anything
/// else, a missing comma, or a length over the maximum is a (non-recoverable) error.
#[derive(Debug, Clone)]
pub struct NetstringCodec {
    max_length: usize,
    /// Length parsed from the header of the frame being read, once the ':' was seen.
    pending: Option<usize>,
}

impl NetstringCodec {
    /// Netstrings of at most `max_length` payload bytes.
    pub fn new(max_length: usize) -> Self {
        NetstringCodec {
            max_length,
            pending: None,
        }
    }

    fn digits_max(&self) -> usize {
        // Number of decimal digits of max_length.
        self.max_length
            .checked_ilog10()
            .map_or(1, |d| d as usize + 1)
    }
}

impl Default for NetstringCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_NETSTRING)
    }
}

impl Decoder for NetstringCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let len = match self.pending {
            Some(len) => len,
            None => {
                let window = buf.len().min(self.digits_max() + 1);
                let Some(colon) = buf[..window].iter().position(|&b| b == b':') else {
                    if buf[..window].iter().any(|b| !b.is_ascii_digit()) {
                        return Err(FrameError::BadNetstring("length is not a decimal number"));
                    }
                    if buf.len() > self.digits_max() {
                        return Err(FrameError::FrameTooLong {
                            length: u64::MAX,
                            limit: self.max_length,
                        });
                    }
                    return Ok(None);
                };
                let digits = &buf[..colon];
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return Err(FrameError::BadNetstring("length is not a decimal number"));
                }
                if digits.len() > 1 && digits[0] == b'0' {
                    return Err(FrameError::BadNetstring("length has a leading zero"));
                }
                let len = digits
                    .iter()
                    .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
                if len > self.max_length as u64 {
                    return Err(FrameError::FrameTooLong {
                        length: len,
                        limit: self.max_length,
                    });
                }
                buf.advance(colon + 1);
                // Bounded by max_length above, so the conversion cannot truncate.
                let len = len as usize;
                self.pending = Some(len);
                len
            }
        };
        if buf.len() < len + 1 {
            buf.reserve(len + 1 - buf.len());
            return Ok(None);
        }
        if buf[len] != b',' {
            return Err(FrameError::BadNetstring("missing trailing comma"));
        }
        self.pending = None;
        let payload = buf.split_to(len).freeze();
        buf.advance(1);
        Ok(Some(payload))
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for NetstringCodec {
    type Error = FrameError;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), FrameError> {
        let item = item.as_ref();
        if item.len() > self.max_length {
            return Err(FrameError::FrameTooLong {
                length: item.len() as u64,
                limit: self.max_length,
            });
        }
        let header = item.len().to_string();
        dst.reserve(header.len() + item.len() + 2);
        dst.put_slice(header.as_bytes());
        dst.put_u8(b':');
        dst.put_slice(item);
        dst.put_u8(b',');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_sequence_and_partials() {
        let mut c = NetstringCodec::new(100);
        let mut buf = BytesMut::from(&b"5:hello,0:,3:ab"[..]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"hello"[..]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b""[..]);
        assert!(c.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"c,");
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"abc"[..]);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [&b"x:"[..], b"05:hello,", b":", b"3:abcd", b"-1:"] {
            let mut c = NetstringCodec::new(100);
            let mut buf = BytesMut::from(bad);
            assert!(
                c.decode(&mut buf).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn rejects_too_long_before_buffering() {
        let mut c = NetstringCodec::new(100);
        let mut buf = BytesMut::from(&b"101:"[..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::FrameTooLong { length: 101, .. })
        ));
        let mut buf = BytesMut::from(&b"99999999"[..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::FrameTooLong { .. })
        ));
    }

    #[test]
    fn encodes() {
        let mut c = NetstringCodec::new(10);
        let mut out = BytesMut::new();
        c.encode("hello", &mut out).unwrap();
        c.encode("", &mut out).unwrap();
        assert_eq!(&out[..], b"5:hello,0:,");
        assert!(c.encode("01234567890", &mut out).is_err());
    }
}
