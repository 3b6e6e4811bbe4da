//! Writing responses: status lines (tagged, untagged, with response codes) into one buffer
//! the driver sends after each command. Strings go out quoted (names here never hold CR, LF
//! or NUL: the store refuses them) or, when they cannot be, as literals.

/// A command's responses, as bytes.
#[derive(Debug, Default)]
pub struct Out {
    buf: Vec<u8>,
}

impl Out {
    /// Empty.
    pub fn new() -> Self {
        Out::default()
    }

    /// `* TEXT`.
    pub fn untagged(&mut self, text: &str) {
        self.line("*", text);
    }

    /// `TAG TEXT`.
    pub fn tagged(&mut self, tag: &str, text: &str) {
        self.line(tag, text);
    }

    /// `TAG OK TEXT`.
    pub fn ok(&mut self, tag: &str, text: &str) {
        self.line(tag, &format!("OK {text}"));
    }

    /// `TAG NO TEXT`.
    pub fn no(&mut self, tag: &str, text: &str) {
        self.line(tag, &format!("NO {text}"));
    }

    /// `TAG NO [CODE] TEXT` (RFC 5530 response codes).
    pub fn no_code(&mut self, tag: &str, code: &str, text: &str) {
        self.line(tag, &format!("NO [{code}] {text}"));
    }

    /// `TAG BAD TEXT`.
    pub fn bad(&mut self, tag: &str, text: &str) {
        self.line(tag, &format!("BAD {text}"));
    }

    /// `+ TEXT` (a continuation request).
    pub fn continuation(&mut self, text: &str) {
        self.line("+", text);
    }

    fn line(&mut self, first: &str, text: &str) {
        self.buf.extend_from_slice(first.as_bytes());
        self.buf.push(b' ');
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Bytes as they are (a FETCH response with literals).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The bytes written so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Take the bytes, leaving it empty.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// `s` as an IMAP quoted string (RFC 9051 `quoted`: `\` and `"` escaped); a string with CR,
/// LF or NUL, which cannot be quoted, as a literal.
pub fn quoted(s: &str) -> String {
    if s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return format!("{{{}}}\r\n{s}", s.len());
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_quoting() {
        let mut out = Out::new();
        out.untagged("OK hi");
        out.no_code("a1", "NONEXISTENT", "No such mailbox");
        assert_eq!(
            out.take(),
            b"* OK hi\r\na1 NO [NONEXISTENT] No such mailbox\r\n"
        );
        assert!(out.is_empty());
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quoted("x\ny"), "{3}\r\nx\ny");
    }
}
