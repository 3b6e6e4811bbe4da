use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::FrameError;

/// Twisted's `LineReceiver.MAX_LENGTH`.
pub const DEFAULT_MAX_LINE: usize = 16384;

/// Line framing with a configurable delimiter and maximum length.
///
/// * [`LineCodec::crlf`] — lines end with CRLF only (SMTP, IMAP, POP3 as the RFCs define them);
///   a bare LF is part of the line and the protocol decides what to do with it.
/// * [`LineCodec::any_eol`] — lines end with LF and a preceding CR is stripped (IRC, chat:
///   netcat sends LF, telnet sends CRLF).
/// * [`LineCodec::new`] — any delimiter byte sequence.
///
/// Decoded lines exclude the delimiter. The maximum applies to the line without its delimiter.
#[derive(Debug, Clone)]
pub struct LineCodec {
    delimiter: Bytes,
    strip_cr: bool,
    max_length: usize,
    /// Bytes of the buffer already searched for a delimiter (so a line arriving in many
    /// small reads is scanned once, not quadratically).
    searched: usize,
    /// True while discarding the tail of an over-long line.
    discarding: bool,
    encode_delimiter: Bytes,
}

impl LineCodec {
    /// Lines delimited by `delimiter` (non-empty), at most `max_length` bytes each.
    pub fn new(delimiter: impl Into<Bytes>, max_length: usize) -> Self {
        let mut delimiter: Bytes = delimiter.into();
        if delimiter.is_empty() {
            delimiter = Bytes::from_static(b"\n");
        }
        LineCodec {
            encode_delimiter: delimiter.clone(),
            delimiter,
            strip_cr: false,
            max_length,
            searched: 0,
            discarding: false,
        }
    }

    /// Strict CRLF lines; encodes with CRLF.
    pub fn crlf(max_length: usize) -> Self {
        Self::new(&b"\r\n"[..], max_length)
    }

    /// LF-terminated lines with an optional CR before the LF stripped; encodes with CRLF.
    pub fn any_eol(max_length: usize) -> Self {
        let mut codec = Self::new(&b"\n"[..], max_length);
        codec.strip_cr = true;
        codec.encode_delimiter = Bytes::from_static(b"\r\n");
        codec
    }

    /// The configured maximum line length.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Change the maximum (e.g. after authentication, or for IRCv3 tags).
    pub fn set_max_length(&mut self, max_length: usize) {
        self.max_length = max_length;
    }

    /// The delimiter appended by the encoder.
    pub fn encode_delimiter(&self) -> &[u8] {
        &self.encode_delimiter
    }

    /// Set the delimiter appended by the encoder.
    pub fn set_encode_delimiter(&mut self, delimiter: impl Into<Bytes>) {
        self.encode_delimiter = delimiter.into();
    }

    /// Whether a complete line is waiting in `buf` (lets a driver decide to flush before reading).
    pub fn has_line(&self, buf: &[u8]) -> bool {
        find(buf, &self.delimiter, 0).is_some()
    }

    /// Longest line plus delimiter we ever need to hold.
    fn max_frame(&self) -> usize {
        self.max_length.saturating_add(self.delimiter.len())
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let from = from.min(haystack.len());
    match needle {
        [b] => memchr::memchr(*b, &haystack[from..]).map(|i| i + from),
        _ => memchr::memmem::find(&haystack[from..], needle).map(|i| i + from),
    }
}

impl Decoder for LineCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let dlen = self.delimiter.len();
        loop {
            // Resume the search where the last call stopped, backing up so a delimiter split
            // across two reads is still found.
            let start = self.searched.saturating_sub(dlen - 1);
            match find(buf, &self.delimiter, start) {
                Some(pos) if self.discarding => {
                    // End of the over-long line: drop it and resynchronise.
                    let _ = buf.split_to(pos + dlen);
                    self.discarding = false;
                    self.searched = 0;
                }
                Some(pos) => {
                    self.searched = 0;
                    let mut end = pos;
                    if self.strip_cr && end > 0 && buf[end - 1] == b'\r' {
                        end -= 1;
                    }
                    if end > self.max_length {
                        let _ = buf.split_to(pos + dlen);
                        return Err(FrameError::LineTooLong {
                            limit: self.max_length,
                        });
                    }
                    let mut line = buf.split_to(pos + dlen);
                    line.truncate(end);
                    return Ok(Some(line.freeze()));
                }
                None if self.discarding => {
                    // Keep only what might be the start of a split delimiter.
                    let keep = (dlen - 1).min(buf.len());
                    let _ = buf.split_to(buf.len() - keep);
                    self.searched = buf.len();
                    return Ok(None);
                }
                None => {
                    // The CR that `strip_cr` would remove may still arrive, so allow one byte.
                    let slack = usize::from(self.strip_cr);
                    if buf.len() > self.max_frame() + slack {
                        // Over-long and still no delimiter: report now, discard the rest as it
                        // arrives, never buffer it.
                        self.discarding = true;
                        self.searched = 0;
                        let keep = (dlen - 1).min(buf.len());
                        let _ = buf.split_to(buf.len() - keep);
                        return Err(FrameError::LineTooLong {
                            limit: self.max_length,
                        });
                    }
                    self.searched = buf.len();
                    return Ok(None);
                }
            }
        }
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for LineCodec {
    type Error = FrameError;

    fn encode(&mut self, line: T, dst: &mut BytesMut) -> Result<(), FrameError> {
        let line = line.as_ref();
        if line.len() > self.max_length {
            return Err(FrameError::LineTooLong {
                limit: self.max_length,
            });
        }
        dst.reserve(line.len() + self.encode_delimiter.len());
        dst.put_slice(line);
        dst.put_slice(&self.encode_delimiter);
        Ok(())
    }
}

impl Default for LineCodec {
    fn default() -> Self {
        Self::crlf(DEFAULT_MAX_LINE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LineCodec, buf: &mut BytesMut) -> Vec<Result<Bytes, String>> {
        let mut out = Vec::new();
        loop {
            match codec.decode(buf) {
                Ok(Some(line)) => out.push(Ok(line)),
                Ok(None) => return out,
                Err(e) => out.push(Err(e.to_string())),
            }
        }
    }

    #[test]
    fn crlf_lines_keep_bare_lf() {
        let mut c = LineCodec::crlf(100);
        let mut buf = BytesMut::from(&b"HELO a\r\nDATA\nx\r\npartial"[..]);
        let got = decode_all(&mut c, &mut buf);
        assert_eq!(
            got,
            vec![
                Ok(Bytes::from_static(b"HELO a")),
                Ok(Bytes::from_static(b"DATA\nx"))
            ]
        );
        assert_eq!(&buf[..], b"partial");
    }

    #[test]
    fn any_eol_accepts_lf_and_crlf() {
        let mut c = LineCodec::any_eol(100);
        let mut buf = BytesMut::from(&b"one\ntwo\r\n\r\nthree"[..]);
        let got = decode_all(&mut c, &mut buf);
        assert_eq!(
            got,
            vec![
                Ok(Bytes::from_static(b"one")),
                Ok(Bytes::from_static(b"two")),
                Ok(Bytes::new())
            ]
        );
    }

    #[test]
    fn delimiter_split_across_reads() {
        let mut c = LineCodec::crlf(100);
        let mut buf = BytesMut::from(&b"abc\r"[..]);
        assert!(c.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"\ndef\r\n");
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"abc"[..]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"def"[..]);
    }

    #[test]
    fn overlong_line_is_recoverable_complete() {
        let mut c = LineCodec::crlf(4);
        let mut buf = BytesMut::from(&b"12345\r\nok\r\n"[..]);
        let err = c.decode(&mut buf).unwrap_err();
        assert!(err.is_recoverable());
        assert!(matches!(err, FrameError::LineTooLong { limit: 4 }));
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"ok"[..]);
    }

    #[test]
    fn overlong_line_is_discarded_as_it_streams() {
        let mut c = LineCodec::crlf(8);
        let mut buf = BytesMut::from(&b"0123456789ab"[..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::LineTooLong { .. })
        ));
        assert!(buf.len() <= 1, "discarded bytes must not be kept");
        for _ in 0..1000 {
            buf.extend_from_slice(b"xxxxxxxxxxxxxxxx");
            assert!(c.decode(&mut buf).unwrap().is_none());
            assert!(buf.len() <= 1);
        }
        buf.extend_from_slice(b"\r");
        assert!(c.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"\nnext\r\n");
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"next"[..]);
    }

    #[test]
    fn exactly_max_length_is_accepted() {
        let mut c = LineCodec::any_eol(3);
        let mut buf = BytesMut::from(&b"abc\r"[..]);
        assert!(c.decode(&mut buf).unwrap().is_none(), "CR may precede LF");
        buf.extend_from_slice(b"\n");
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"abc"[..]);
    }

    #[test]
    fn custom_delimiter_and_encoder() {
        let mut c = LineCodec::new(&b"||"[..], 10);
        let mut buf = BytesMut::from(&b"a|b||c||"[..]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"a|b"[..]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"c"[..]);
        let mut out = BytesMut::new();
        c.encode("hi", &mut out).unwrap();
        assert_eq!(&out[..], b"hi||");
        assert!(c.encode("01234567890", &mut out).is_err());
    }
}
