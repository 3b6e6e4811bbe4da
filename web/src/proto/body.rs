//! Message bodies on the wire (RFC 9112 §6–§7): a decoder for `Content-Length` and chunked
//! bodies that hands out the data as it arrives (never the whole body at once), with a bound
//! on the total, and the chunked encoder for responses of unknown length.
//!
//! The chunked grammar is read strictly, since a proxy in front that reads it differently is
//! how requests are smuggled: the size is 1–16 hex digits (no sign, no `0x`, no spaces before
//! it), extensions are skipped but bounded ([`MAX_CHUNK_LINE`]), every line ends in CRLF (a
//! bare LF is refused here, although §2.2 lets a recipient accept it in the head: the chunk
//! framing is where LF-vs-CRLF disagreements have been exploited), the data is followed by
//! exactly CRLF, and the trailer section is bounded ([`MAX_TRAILERS`]) and discarded (§7.1.2
//! lets a recipient discard fields it does not understand).

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// Longest chunk-size line with its extensions.
pub const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section.
pub const MAX_TRAILERS: usize = 16 * 1024;

/// A piece of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyPiece {
    /// The next bytes of the body.
    Data(Bytes),
    /// The body is complete.
    End,
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than allowed (413).
    #[error("body larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The chunked framing is invalid (400).
    #[error("invalid chunked encoding: {0}")]
    Chunked(&'static str),
    /// The connection failed or closed early.
    #[error("i/o: {0}")]
    Io(String),
}

impl BodyError {
    /// The status a handler should answer with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            BodyError::TooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Chunked(_) => http::StatusCode::BAD_REQUEST,
            BodyError::Io(_) => http::StatusCode::REQUEST_TIMEOUT,
        }
    }
}

impl From<std::io::Error> for BodyError {
    fn from(e: std::io::Error) -> Self {
        BodyError::Io(e.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes to go.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// Reading trailer lines (bytes so far).
    Trailers(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Content-Length: bytes to go.
    Length(u64),
    /// Everything until the connection closes (a response without a length).
    UntilClose,
    Chunked(Chunked),
    Done,
}

/// Decodes one body from the connection's input; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    /// Body bytes so far.
    total: u64,
    limit: u64,
}

impl BodyDecoder {
    /// A body of exactly `length` bytes (refused up front if above `limit`).
    pub fn length(length: u64, limit: u64) -> Result<Self, BodyError> {
        if length > limit {
            return Err(BodyError::TooLarge { limit });
        }
        Ok(BodyDecoder {
            state: if length == 0 {
                State::Done
            } else {
                State::Length(length)
            },
            total: 0,
            limit,
        })
    }

    /// A chunked body of at most `limit` bytes of data.
    pub fn chunked(limit: u64) -> Self {
        BodyDecoder {
            state: State::Chunked(Chunked::Size),
            total: 0,
            limit,
        }
    }

    /// A response body that ends when the connection closes, of at most `limit` bytes.
    pub fn until_close(limit: u64) -> Self {
        BodyDecoder {
            state: State::UntilClose,
            total: 0,
            limit,
        }
    }

    /// The end of the stream was reached: a body delimited by it is complete.
    pub fn end_of_stream(&mut self) -> bool {
        if self.state == State::UntilClose {
            self.state = State::Done;
        }
        self.state == State::Done
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes decoded so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    fn data(&mut self, src: &mut BytesMut, want: u64) -> Bytes {
        let n = (src.len() as u64).min(want) as usize;
        self.total += n as u64;
        src.split_to(n).freeze()
    }
}

/// Parse a chunk-size line (without its CRLF): the size.
fn chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(BodyError::Chunked("chunk size is not hex"));
    }
    // Leading zeros are allowed by the grammar; what matters is the value fits.
    let significant = line[..digits].iter().skip_while(|&&b| b == b'0').count();
    if significant > 15 {
        return Err(BodyError::Chunked("chunk size too large"));
    }
    let size = line[..digits].iter().fold(0u64, |n, &b| {
        n * 16 + u64::from((b as char).to_digit(16).unwrap_or(0))
    });
    // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): skipped, but only after BWS
    // and a ';', and without control characters.
    let rest = &line[digits..];
    let ext = rest.trim_ascii_start();
    if !ext.is_empty() && ext[0] != b';' {
        return Err(BodyError::Chunked("junk after the chunk size"));
    }
    if rest.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(BodyError::Chunked("control character in a chunk extension"));
    }
    Ok(size)
}

impl Decoder for BodyDecoder {
    type Item = BodyPiece;
    type Error = BodyError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BodyPiece>, BodyError> {
        loop {
            match self.state {
                State::Done => return Ok(Some(BodyPiece::End)),
                State::UntilClose => {
                    if src.is_empty() {
                        return Ok(None);
                    }
                    if self.total + src.len() as u64 > self.limit {
                        return Err(BodyError::TooLarge { limit: self.limit });
                    }
                    let n = src.len() as u64;
                    return Ok(Some(BodyPiece::Data(self.data(src, n))));
                }
                State::Length(left) => {
                    if src.is_empty() {
                        return Ok(None);
                    }
                    let data = self.data(src, left);
                    let left = left - data.len() as u64;
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Length(left)
                    };
                    return Ok(Some(BodyPiece::Data(data)));
                }
                State::Chunked(Chunked::Size) => {
                    let Some(lf) = memchr::memchr(b'\n', src) else {
                        if src.len() > MAX_CHUNK_LINE {
                            return Err(BodyError::Chunked("chunk-size line too long"));
                        }
                        return Ok(None);
                    };
                    if lf > MAX_CHUNK_LINE {
                        return Err(BodyError::Chunked("chunk-size line too long"));
                    }
                    if lf == 0 || src[lf - 1] != b'\r' {
                        return Err(BodyError::Chunked("chunk-size line without CRLF"));
                    }
                    let size = chunk_size(&src[..lf - 1])?;
                    src.advance(lf + 1);
                    if size == 0 {
                        self.state = State::Chunked(Chunked::Trailers(0));
                        continue;
                    }
                    if self.total.saturating_add(size) > self.limit {
                        return Err(BodyError::TooLarge { limit: self.limit });
                    }
                    self.state = State::Chunked(Chunked::Data(size));
                }
                State::Chunked(Chunked::Data(left)) => {
                    if src.is_empty() {
                        return Ok(None);
                    }
                    let data = self.data(src, left);
                    let left = left - data.len() as u64;
                    self.state = State::Chunked(if left == 0 {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left)
                    });
                    return Ok(Some(BodyPiece::Data(data)));
                }
                State::Chunked(Chunked::DataEnd) => {
                    if src.len() < 2 {
                        if src.first().is_some_and(|&b| b != b'\r') {
                            return Err(BodyError::Chunked("chunk data not followed by CRLF"));
                        }
                        return Ok(None);
                    }
                    if &src[..2] != b"\r\n" {
                        return Err(BodyError::Chunked("chunk data not followed by CRLF"));
                    }
                    src.advance(2);
                    self.state = State::Chunked(Chunked::Size);
                }
                State::Chunked(Chunked::Trailers(seen)) => {
                    let Some(lf) = memchr::memchr(b'\n', src) else {
                        if seen + src.len() > MAX_TRAILERS {
                            return Err(BodyError::Chunked("trailer section too large"));
                        }
                        return Ok(None);
                    };
                    if seen + lf + 1 > MAX_TRAILERS {
                        return Err(BodyError::Chunked("trailer section too large"));
                    }
                    if lf == 0 || src[lf - 1] != b'\r' {
                        return Err(BodyError::Chunked("trailer line without CRLF"));
                    }
                    let line = &src[..lf - 1];
                    if line.is_empty() {
                        src.advance(lf + 1);
                        self.state = State::Done;
                        return Ok(Some(BodyPiece::End));
                    }
                    let colon = line.iter().position(|&b| b == b':');
                    let valid = colon.is_some_and(|c| {
                        c > 0
                            && line[..c].iter().all(|&b| is_tchar(b))
                            && line[c + 1..]
                                .iter()
                                .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
                    });
                    if !valid {
                        return Err(BodyError::Chunked("invalid trailer field"));
                    }
                    src.advance(lf + 1);
                    self.state = State::Chunked(Chunked::Trailers(seen + lf + 1));
                }
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BodyPiece>, BodyError> {
        match self.decode(src)? {
            Some(piece) => Ok(Some(piece)),
            None if self.end_of_stream() => Ok(Some(BodyPiece::End)),
            None => Err(BodyError::Io("connection closed inside the body".into())),
        }
    }
}

/// RFC 9110 §5.6.2 tchar.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Append `data` as one chunk (nothing for empty data: that would end the body).
pub fn encode_chunk(out: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut size = [0u8; 18];
    let mut n = data.len();
    let mut i = size.len() - 2;
    size[i] = b'\r';
    size[i + 1] = b'\n';
    loop {
        i -= 1;
        size[i] = b"0123456789abcdef"[n % 16];
        n /= 16;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&size[i..]);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feed `input` in pieces of `step` bytes; the body, or the error.
    fn decode_all(
        mut decoder: BodyDecoder,
        input: &[u8],
        step: usize,
    ) -> Result<Vec<u8>, BodyError> {
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            match decoder.decode(&mut buf)? {
                Some(BodyPiece::Data(d)) => body.extend_from_slice(&d),
                Some(BodyPiece::End) => return Ok(body),
                None if fed >= input.len() => {
                    return match decoder.decode_eof(&mut buf)? {
                        Some(BodyPiece::End) => Ok(body),
                        Some(BodyPiece::Data(d)) => {
                            body.extend_from_slice(&d);
                            Ok(body)
                        }
                        None => Err(BodyError::Io("eof".into())),
                    };
                }
                None => {
                    let end = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
            }
        }
    }

    fn chunked(input: &str) -> Result<Vec<u8>, BodyError> {
        decode_all(BodyDecoder::chunked(1 << 20), input.as_bytes(), 3)
    }

    #[test]
    fn chunked_bodies_decode_with_extensions_and_trailers() {
        assert_eq!(chunked("5\r\nhello\r\n0\r\n\r\n").expect("ok"), b"hello");
        assert_eq!(
            chunked("3;name=value\r\nabc\r\n03 ; x\r\ndef\r\n0\r\nX-Sum: 1\r\n\r\n").expect("ok"),
            b"abcdef"
        );
        assert_eq!(
            chunked("A\r\n0123456789\r\n0\r\n\r\n").expect("ok"),
            b"0123456789"
        );
    }

    #[test]
    fn malformed_chunks_are_refused() {
        for input in [
            "5\nhello\r\n0\r\n\r\n",     // bare LF after the size
            "5\r\nhello\n0\r\n\r\n",     // bare LF after the data
            "5\r\nhelloX\r\n0\r\n\r\n",  // data longer than the size
            " 5\r\nhello\r\n0\r\n\r\n",  // space before the size
            "+5\r\nhello\r\n0\r\n\r\n",  // sign
            "0x5\r\nhello\r\n0\r\n\r\n", // 0x
            "5 x\r\nhello\r\n0\r\n\r\n", // junk after the size
            "g\r\n",                     // not hex
            "1000000000000000\r\n",      // too large
            "5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",
            "5\r\nhello\r\n0\r\n\n",
        ] {
            assert!(
                matches!(chunked(input), Err(BodyError::Chunked(_))),
                "{input:?}"
            );
        }
        // Truncated.
        assert!(matches!(chunked("5\r\nhel"), Err(BodyError::Io(_))));
        assert!(matches!(chunked("5\r\nhello\r\n"), Err(BodyError::Io(_))));
        // An endless extension or trailer section is cut off.
        let long = format!("5;{}", "x".repeat(MAX_CHUNK_LINE + 1));
        assert!(matches!(chunked(&long), Err(BodyError::Chunked(_))));
        let trailers = format!("0\r\n{}", "X-A: b\r\n".repeat(MAX_TRAILERS / 8 + 1));
        assert!(matches!(chunked(&trailers), Err(BodyError::Chunked(_))));
    }

    #[test]
    fn the_limit_is_enforced_for_both_framings() {
        let small = BodyDecoder::chunked(8);
        assert_eq!(
            decode_all(small, b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 64),
            Err(BodyError::TooLarge { limit: 8 })
        );
        assert_eq!(
            BodyDecoder::length(9, 8).map(|_| ()),
            Err(BodyError::TooLarge { limit: 8 })
        );
        let exact = BodyDecoder::length(5, 8).expect("within");
        assert_eq!(decode_all(exact, b"helloNEXT", 2).expect("ok"), b"hello");
    }

    #[test]
    fn the_length_decoder_leaves_the_next_request_alone() {
        let mut d = BodyDecoder::length(3, 10).expect("ok");
        let mut buf = BytesMut::from(&b"abcGET"[..]);
        assert_eq!(
            d.decode(&mut buf).expect("ok"),
            Some(BodyPiece::Data(Bytes::from_static(b"abc")))
        );
        assert_eq!(d.decode(&mut buf).expect("ok"), Some(BodyPiece::End));
        assert_eq!(&buf[..], b"GET");
    }

    proptest! {
        #[test]
        fn encoded_chunks_decode_to_the_same_bytes(
            pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            step in 1usize..50,
        ) {
            let mut wire = BytesMut::new();
            for p in &pieces {
                encode_chunk(&mut wire, p);
            }
            wire.extend_from_slice(LAST_CHUNK);
            wire.extend_from_slice(b"NEXT");
            let body = decode_all(BodyDecoder::chunked(1 << 20), &wire, step).expect("valid");
            prop_assert_eq!(body, pieces.concat());
        }

        #[test]
        fn arbitrary_input_never_panics_and_stays_bounded(
            input in proptest::collection::vec(any::<u8>(), 0..600),
            step in 1usize..64,
        ) {
            if let Ok(body) = decode_all(BodyDecoder::chunked(256), &input, step) {
                prop_assert!(body.len() <= 256);
            }
        }
    }
}
