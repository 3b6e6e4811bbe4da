//! SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034, RFC 3463) on every line.

use std::fmt;

use bytes::{BufMut, BytesMut};

/// A reply: a three-digit code, an enhanced status code and one or more text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// 2xx–5xx.
    pub code: u16,
    /// `x.y.z` (RFC 3463), or "" where none applies (the greeting, EHLO lines).
    pub status: &'static str,
    /// Text lines (at least one).
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Self {
        Reply {
            code,
            status,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply.
    pub fn multi(code: u16, status: &'static str, lines: Vec<String>) -> Self {
        let lines = if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
        };
        Reply {
            code,
            status,
            lines,
        }
    }

    /// 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// 4xx.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// Append the wire form (`250-first`, …, `250 last`, CRLF each) to `out`.
    pub fn write_to(&self, out: &mut BytesMut) {
        let n = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            out.put_slice(self.code.to_string().as_bytes());
            out.put_u8(if i + 1 == n { b' ' } else { b'-' });
            if !self.status.is_empty() {
                out.put_slice(self.status.as_bytes());
                if !line.is_empty() {
                    out.put_u8(b' ');
                }
            }
            // Never let a CR or LF from anywhere split the reply.
            for b in line.bytes() {
                out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
            }
            out.put_slice(b"\r\n");
        }
    }

    /// The wire form.
    pub fn to_bytes(&self) -> BytesMut {
        let mut out = BytesMut::new();
        self.write_to(&mut out);
        out
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        f.write_str(String::from_utf8_lossy(&bytes).trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms() {
        assert_eq!(
            &Reply::new(250, "2.1.0", "Sender OK").to_bytes()[..],
            b"250 2.1.0 Sender OK\r\n"
        );
        assert_eq!(
            &Reply::multi(250, "", vec!["mx.test".into(), "PIPELINING".into()]).to_bytes()[..],
            b"250-mx.test\r\n250 PIPELINING\r\n"
        );
        assert_eq!(
            &Reply::new(354, "", "End data with <CR><LF>.<CR><LF>").to_bytes()[..],
            b"354 End data with <CR><LF>.<CR><LF>\r\n"
        );
        assert_eq!(
            &Reply::new(550, "5.1.1", "a\r\nb").to_bytes()[..],
            b"550 5.1.1 a  b\r\n"
        );
    }
}
