//! Reading server replies (RFC 5321 §4.2): `250-first`, …, `250 last`, with the enhanced status
//! code (RFC 2034/3463) taken off each line when present and tolerated when absent. A
//! tokio-util [`Decoder`], so the client reads replies straight out of its connection buffer,
//! and pure (fuzzed as the `reply` target).

use std::sync::OnceLock;

use bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;

use crate::proto::Reply;

/// Longest reply line accepted, without CRLF. RFC 5321 §4.5.3.1.5 allows 512 octets with the
/// CRLF; real servers exceed it in their text, so we take what Postfix's client
/// (`line_length_limit`) takes.
pub const MAX_REPLY_LINE: usize = 2048;
/// Most lines in one reply. An EHLO reply has one per extension (a dozen or two); a server
/// that sends more is broken or hostile, and must not make us buffer without end.
pub const MAX_REPLY_LINES: usize = 128;

/// Why the server's output is not a reply.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// A line longer than [`MAX_REPLY_LINE`].
    #[error("reply line longer than {MAX_REPLY_LINE} octets")]
    LineTooLong,
    /// More than [`MAX_REPLY_LINES`] lines.
    #[error("reply with more than {MAX_REPLY_LINES} lines")]
    TooManyLines,
    /// A line that does not start with a three-digit code and a separator.
    #[error("malformed reply line {0:?}")]
    Malformed(String),
    /// The lines of one reply carry different codes (RFC 5321 §4.2.1 requires the same).
    #[error("reply code changed within a multi-line reply ({first} then {then})")]
    MixedCodes {
        /// The first line's code.
        first: u16,
        /// The differing code.
        then: u16,
    },
    /// Reading failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// The reply decoder. Keeps the lines of a multi-line reply until its last line arrives.
#[derive(Debug, Default)]
pub struct ReplyCodec {
    code: Option<u16>,
    status: &'static str,
    lines: Vec<String>,
}

impl ReplyCodec {
    /// A decoder expecting the start of a reply.
    pub fn new() -> Self {
        ReplyCodec::default()
    }

    fn reset(&mut self) {
        self.code = None;
        self.status = "";
        self.lines.clear();
    }
}

impl Decoder for ReplyCodec {
    type Item = Reply;
    type Error = ReplyError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Reply>, ReplyError> {
        loop {
            let Some(lf) = memchr::memchr(b'\n', src) else {
                if src.len() > MAX_REPLY_LINE + 1 {
                    return Err(ReplyError::LineTooLong);
                }
                return Ok(None);
            };
            // CRLF per RFC 5321; a bare LF is tolerated (some appliances send it).
            let end = if lf > 0 && src[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            if end > MAX_REPLY_LINE {
                return Err(ReplyError::LineTooLong);
            }
            let parsed = parse_line(&src[..end]);
            src.advance(lf + 1);
            let line = match parsed {
                Ok(line) => line,
                Err(e) => {
                    self.reset();
                    return Err(e);
                }
            };
            match self.code {
                None => {
                    self.code = Some(line.code);
                    self.status = line.status;
                }
                Some(first) if first != line.code => {
                    self.reset();
                    return Err(ReplyError::MixedCodes {
                        first,
                        then: line.code,
                    });
                }
                Some(_) => {}
            }
            if self.lines.len() >= MAX_REPLY_LINES {
                self.reset();
                return Err(ReplyError::TooManyLines);
            }
            self.lines.push(line.text);
            if line.last {
                let reply = Reply::multi(line.code, self.status, std::mem::take(&mut self.lines));
                self.reset();
                return Ok(Some(reply));
            }
        }
    }
}

/// One parsed reply line.
#[derive(Debug)]
struct Line {
    code: u16,
    last: bool,
    status: &'static str,
    text: String,
}

/// `CODE[-| ]text` or a bare `CODE` (RFC 5321 §4.2: the text is optional on the last line).
fn parse_line(raw: &[u8]) -> Result<Line, ReplyError> {
    let malformed = || ReplyError::Malformed(String::from_utf8_lossy(raw).into_owned());
    let digits = raw.get(..3).ok_or_else(malformed)?;
    // First digit 2–5 (RFC 5321 §4.2.1; 1yz is unused in SMTP), the others 0–9.
    if !(b'2'..=b'5').contains(&digits[0]) || !digits[1..].iter().all(u8::is_ascii_digit) {
        return Err(malformed());
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    let (last, rest) = match raw.get(3) {
        None => (true, &raw[3..3]),
        Some(b' ') => (true, &raw[4..]),
        Some(b'-') => (false, &raw[4..]),
        Some(_) => return Err(malformed()),
    };
    // Replies are ASCII in RFC 5321 and UTF-8 under SMTPUTF8 (RFC 6531 §3.7.4); anything else
    // is shown, not trusted.
    let text = String::from_utf8_lossy(rest);
    let (status, text) = match split_status(&text, digits[0]) {
        Some((status, after)) => (status, after.to_owned()),
        None => ("", text.into_owned()),
    };
    Ok(Line {
        code,
        last,
        status,
        text,
    })
}

/// An enhanced status code `class.subject.detail` at the start of `text` whose class matches
/// the reply code's first digit (RFC 2034 §4), as an interned string, and the text after it.
/// Codes outside the interned table stay in the text, so nothing is lost.
fn split_status(text: &str, class: u8) -> Option<(&'static str, &str)> {
    let (word, after) = match text.split_once(' ') {
        Some((w, a)) => (w, a),
        None => (text, ""),
    };
    let mut parts = word.split('.');
    let (c, s, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || c.as_bytes() != [class] {
        return None;
    }
    let number = |p: &str| -> Option<usize> {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let status = interned_status(class, number(s)?, number(d)?)?;
    Some((status, after))
}

/// Subjects 0–7 are defined by RFC 3463 §3; details above this are not yet registered.
const MAX_SUBJECT: usize = 7;
const MAX_DETAIL: usize = 39;

/// The enhanced status codes a parsed [`Reply`] can carry in its `&'static str` `status`: every
/// `{2,4,5}.{0..7}.{0..39}`, built once (a fixed table, never grown by what servers send).
fn interned_status(class: u8, subject: usize, detail: usize) -> Option<&'static str> {
    static TABLE: OnceLock<Vec<String>> = OnceLock::new();
    let class_index = match class {
        b'2' => 0,
        b'4' => 1,
        b'5' => 2,
        _ => return None,
    };
    if subject > MAX_SUBJECT || detail > MAX_DETAIL {
        return None;
    }
    let table = TABLE.get_or_init(|| {
        let mut codes = Vec::with_capacity(3 * (MAX_SUBJECT + 1) * (MAX_DETAIL + 1));
        for c in ['2', '4', '5'] {
            for s in 0..=MAX_SUBJECT {
                for d in 0..=MAX_DETAIL {
                    codes.push(format!("{c}.{s}.{d}"));
                }
            }
        }
        codes
    });
    let index = (class_index * (MAX_SUBJECT + 1) + subject) * (MAX_DETAIL + 1) + detail;
    table.get(index).map(String::as_str)
}

/// Parse every complete reply in `input` (a test and fuzzing convenience): the replies, and
/// the error that stopped parsing, if any.
pub fn parse_replies(input: &[u8]) -> (Vec<Reply>, Option<ReplyError>) {
    let mut codec = ReplyCodec::new();
    let mut buf = BytesMut::from(input);
    let mut replies = Vec::new();
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(reply)) => replies.push(reply),
            Ok(None) => return (replies, None),
            Err(e) => return (replies, Some(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &str) -> Reply {
        let (mut replies, err) = parse_replies(input.as_bytes());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(replies.len(), 1, "{replies:?}");
        replies.remove(0)
    }

    #[test]
    fn single_and_multi_line() {
        assert_eq!(
            one("250 2.1.0 Sender OK\r\n"),
            Reply::new(250, "2.1.0", "Sender OK")
        );
        assert_eq!(
            one("250-mx.test Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"),
            Reply::multi(
                250,
                "",
                vec![
                    "mx.test Hello".into(),
                    "PIPELINING".into(),
                    "SIZE 1000".into()
                ]
            )
        );
        // Enhanced codes on every line are taken off every line.
        assert_eq!(
            one("550-5.7.1 first\r\n550 5.7.1 second\r\n"),
            Reply::multi(550, "5.7.1", vec!["first".into(), "second".into()])
        );
        // Bare code, bare LF, code without text after the separator.
        assert_eq!(one("354\n"), Reply::new(354, "", ""));
        assert_eq!(one("221 \r\n"), Reply::new(221, "", ""));
        assert_eq!(one("250 2.0.0\r\n"), Reply::new(250, "2.0.0", ""));
    }

    #[test]
    fn enhanced_codes_are_tolerated_when_missing_or_odd() {
        // Class must match the reply's first digit; otherwise it is just text.
        assert_eq!(one("550 4.1.1 x\r\n").status, "");
        assert_eq!(one("550 4.1.1 x\r\n").lines, ["4.1.1 x"]);
        // Outside the table: kept as text, and shown the same way.
        let odd = one("550 5.9.999 odd\r\n");
        assert_eq!((odd.status, odd.lines[0].as_str()), ("", "5.9.999 odd"));
        assert_eq!(odd.to_string(), "550 5.9.999 odd");
        assert_eq!(one("250 2.7.25 x\r\n").status, "2.7.25");
        assert_eq!(one("250 SIZE\r\n").status, "");
        assert_eq!(one("250 1.2.3.4\r\n").status, "");
    }

    #[test]
    fn incremental_and_several_replies() {
        let input = b"250-a\r\n250 b\r\n354 go ahead\r\n";
        let mut codec = ReplyCodec::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in input {
            buf.extend_from_slice(&[*b]);
            while let Some(reply) = codec.decode(&mut buf).unwrap() {
                got.push(reply);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].lines, ["a", "b"]);
        assert_eq!(got[1].code, 354);
    }

    #[test]
    fn errors() {
        for bad in [
            "25 x\r\n",
            "abc x\r\n",
            "250x\r\n",
            "150 x\r\n",
            "650 x\r\n",
            "\r\n",
        ] {
            assert!(
                matches!(
                    parse_replies(bad.as_bytes()).1,
                    Some(ReplyError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_replies(b"250-a\r\n251 b\r\n").1,
            Some(ReplyError::MixedCodes {
                first: 250,
                then: 251
            })
        ));
        let long = format!("250 {}\r\n", "x".repeat(MAX_REPLY_LINE));
        assert!(matches!(
            parse_replies(long.as_bytes()).1,
            Some(ReplyError::LineTooLong)
        ));
        let unterminated = "x".repeat(MAX_REPLY_LINE + 2);
        assert!(matches!(
            parse_replies(unterminated.as_bytes()).1,
            Some(ReplyError::LineTooLong)
        ));
        let many = "250-x\r\n".repeat(MAX_REPLY_LINES + 1);
        assert!(matches!(
            parse_replies(many.as_bytes()).1,
            Some(ReplyError::TooManyLines)
        ));
        let max = format!("{}250 x\r\n", "250-x\r\n".repeat(MAX_REPLY_LINES - 1));
        assert_eq!(one(&max).lines.len(), MAX_REPLY_LINES);
    }
}
