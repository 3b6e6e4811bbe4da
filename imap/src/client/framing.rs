//! Server responses as frames: a line, and when it ends in a literal announcement (`{N}`, or
//! `~{N}` for BINARY's literal8) the N bytes that follow and the rest of the line after them,
//! until a line ends without one. Each frame is then one complete response for imap-codec's
//! `ResponseCodec`, so a response it cannot parse (an extension it does not know) is skipped
//! whole instead of desynchronising the client.
//!
//! Limits: [`MAX_TEXT`] bytes of text in one response (everything but the literals), a
//! configurable size for each literal, and [`MAX_LITERALS`] literals.

use bytes::{Bytes, BytesMut};
use torsion_core::tokio_util::codec::Decoder;

/// Bytes of one response outside its literals (Dovecot's line limit is 64 KiB; a long
/// FETCH line with ENVELOPE and BODYSTRUCTURE stays well below).
pub const MAX_TEXT: usize = 256 * 1024;
/// Literals in one response.
pub const MAX_LITERALS: usize = 10_000;

/// Why a response could not be framed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The text of one response exceeded [`MAX_TEXT`].
    #[error("a response is longer than {MAX_TEXT} bytes")]
    TooLong,
    /// A literal was announced larger than the limit.
    #[error("the server announced a {size}-byte literal (limit {limit})")]
    LiteralTooLarge {
        /// Announced size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// More than [`MAX_LITERALS`] literals in one response.
    #[error("more than {MAX_LITERALS} literals in one response")]
    TooManyLiterals,
    /// I/O.
    #[error("{0}")]
    Io(String),
}

impl From<std::io::Error> for FrameError {
    fn from(e: std::io::Error) -> Self {
        FrameError::Io(e.to_string())
    }
}

/// The decoder; see the [module docs](self).
#[derive(Debug)]
pub struct ResponseFramer {
    max_literal: u64,
    /// Where scanning resumes in the buffer (everything before is part of this response).
    scanned: usize,
    /// Text bytes (outside literals) so far.
    text: usize,
    literals: usize,
    /// The end of a literal still arriving.
    waiting: Option<usize>,
}

impl ResponseFramer {
    /// A framer allowing literals up to `max_literal` bytes.
    pub fn new(max_literal: u64) -> Self {
        ResponseFramer {
            max_literal,
            scanned: 0,
            text: 0,
            literals: 0,
            waiting: None,
        }
    }

    fn reset(&mut self) {
        self.scanned = 0;
        self.text = 0;
        self.literals = 0;
        self.waiting = None;
    }
}

/// Reads nothing: ready with the length of the first line (CRLF included) once the buffer
/// holds one whole, so that the caller can look at it (`Connection::pending_input`) before
/// choosing how to read the response it starts. A line longer than [`MAX_TEXT`] is an error.
#[derive(Debug, Default)]
pub struct PeekLine;

impl Decoder for PeekLine {
    type Item = usize;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<usize>, FrameError> {
        match buf.iter().take(MAX_TEXT + 1).position(|&b| b == b'\n') {
            Some(at) => Ok(Some(at + 1)),
            None if buf.len() > MAX_TEXT => Err(FrameError::TooLong),
            None => Ok(None),
        }
    }
}

/// Takes the next bytes of something of known length (a literal being streamed, a line
/// already peeked at): what is buffered, at most [`CHUNK`] and at most `left`.
#[derive(Debug)]
pub struct Take {
    /// Bytes still to take.
    pub left: u64,
}

/// The most [`Take`] gives at once.
pub const CHUNK: usize = 64 * 1024;

impl Decoder for Take {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if self.left == 0 {
            return Ok(Some(Bytes::new()));
        }
        if buf.is_empty() {
            buf.reserve(CHUNK);
            return Ok(None);
        }
        let n = buf.len().min(CHUNK).min(self.left as usize);
        self.left -= n as u64;
        Ok(Some(buf.split_to(n).freeze()))
    }
}

/// The size of the literal `line` (ending before its CRLF) announces, if it does.
pub fn literal_size(line: &[u8]) -> Option<u64> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl Decoder for ResponseFramer {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        loop {
            if let Some(after) = self.waiting {
                if buf.len() < after {
                    buf.reserve(after - buf.len());
                    return Ok(None);
                }
                self.scanned = after;
                self.waiting = None;
            }
            let Some(offset) = buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                if self.text + (buf.len() - self.scanned) > MAX_TEXT {
                    self.reset();
                    return Err(FrameError::TooLong);
                }
                return Ok(None);
            };
            let end = self.scanned + offset + 1;
            self.text += offset + 1;
            if self.text > MAX_TEXT {
                self.reset();
                return Err(FrameError::TooLong);
            }
            let line = &buf[self.scanned..end];
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match literal_size(line) {
                None => {
                    self.reset();
                    return Ok(Some(buf.split_to(end).freeze()));
                }
                Some(size) if size > self.max_literal => {
                    self.reset();
                    return Err(FrameError::LiteralTooLarge {
                        size,
                        limit: self.max_literal,
                    });
                }
                Some(size) => {
                    self.literals += 1;
                    if self.literals > MAX_LITERALS {
                        self.reset();
                        return Err(FrameError::TooManyLiterals);
                    }
                    // Scanning resumes after the literal, once it is in.
                    self.waiting = Some(end + size as usize);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_peeked_at_and_a_literal_taken_in_chunks() {
        let mut buf = BytesMut::from(&b"* 1 FETCH (BODY[] {5}\r\nhel"[..]);
        assert_eq!(PeekLine.decode(&mut buf).unwrap(), Some(23));
        assert_eq!(buf.len(), 26, "peeking takes nothing");
        let _ = buf.split_to(23);
        let mut take = Take { left: 5 };
        assert_eq!(take.decode(&mut buf).unwrap().unwrap(), &b"hel"[..]);
        assert_eq!(take.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"lo)\r\n");
        assert_eq!(take.decode(&mut buf).unwrap().unwrap(), &b"lo"[..]);
        assert_eq!(take.decode(&mut buf).unwrap().unwrap(), Bytes::new());
        assert_eq!(&buf[..], b")\r\n");
        let mut long = BytesMut::from(&vec![b'x'; MAX_TEXT + 1][..]);
        assert_eq!(PeekLine.decode(&mut long), Err(FrameError::TooLong));
    }

    fn frames(input: &[u8], chunk: usize) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut framer = ResponseFramer::new(1000);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match framer.decode(&mut buf) {
                    Ok(Some(f)) => out.push(Ok(f.to_vec())),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e));
                        return out;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn responses_with_literals_frame_whole_at_any_split() {
        let input: &[u8] =
            b"* 1 FETCH (BODY[] {5}\r\na\r\n}{ UID 3)\r\n* 2 EXISTS\r\na OK done\r\n";
        for chunk in 1..input.len() {
            let got = frames(input, chunk);
            assert_eq!(
                got,
                [
                    Ok(b"* 1 FETCH (BODY[] {5}\r\na\r\n}{ UID 3)\r\n".to_vec()),
                    Ok(b"* 2 EXISTS\r\n".to_vec()),
                    Ok(b"a OK done\r\n".to_vec()),
                ],
                "chunk {chunk}"
            );
        }
        let two: &[u8] = b"* LIST () \".\" {3}\r\nA\nB ~{2}\r\nxy)\r\n";
        assert_eq!(frames(two, 4), [Ok(two.to_vec())]);
    }

    #[test]
    fn limits_are_enforced() {
        assert_eq!(
            frames(b"* 1 FETCH (BODY[] {1001}\r\n", 7),
            [Err(FrameError::LiteralTooLarge {
                size: 1001,
                limit: 1000
            })]
        );
        let long = vec![b'x'; MAX_TEXT + 10];
        assert_eq!(frames(&long, 4096).last(), Some(&Err(FrameError::TooLong)));
        assert_eq!(literal_size(b"* OK {x}"), None);
        assert_eq!(literal_size(b"* OK {}"), None);
        assert_eq!(literal_size(b"a {12}"), Some(12));
    }
}
