//! Outgoing DATA (RFC 5321 §4.5.2, §2.3.8): line endings normalised to CRLF, a `.` doubled at
//! the start of every line, and the `<CRLF>.<CRLF>` terminator.
//!
//! Normalising is what keeps us from being the sending half of SMTP smuggling: a bare LF or a
//! bare CR in the message becomes a real CRLF line ending here, so the next hop can never see
//! a `.` line that we did not mean as one. (Our server refuses such messages outright; a client
//! has to send something, and a line break is what the author meant.)

/// An incremental dot-stuffer: feed the message in pieces, then [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct DotStuffer {
    line_start: bool,
    pending_cr: bool,
    size: u64,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer::new()
    }
}

impl DotStuffer {
    /// A stuffer at the start of a message.
    pub fn new() -> Self {
        DotStuffer {
            line_start: true,
            pending_cr: false,
            size: 0,
        }
    }

    /// Bytes of normalised message so far: what RFC 1870 `SIZE=` counts (CRLFs included, the
    /// doubled dots and the terminator not).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Run the state machine over `input`; `emit(bytes, stuffing)` receives the output, with
    /// `stuffing` true for the added dots.
    fn run(&mut self, input: &[u8], emit: &mut impl FnMut(&[u8], bool)) {
        let mut i = 0;
        while i < input.len() {
            if self.pending_cr {
                self.pending_cr = false;
                self.newline(emit);
                if input[i] == b'\n' {
                    i += 1;
                }
                continue;
            }
            match input[i] {
                b'\r' => {
                    self.pending_cr = true;
                    i += 1;
                }
                b'\n' => {
                    // Bare LF.
                    self.newline(emit);
                    i += 1;
                }
                _ => {
                    if self.line_start && input[i] == b'.' {
                        emit(b".", true);
                    }
                    let run = memchr::memchr2(b'\r', b'\n', &input[i..]).unwrap_or(input.len() - i);
                    emit(&input[i..i + run], false);
                    self.size += run as u64;
                    self.line_start = false;
                    i += run;
                }
            }
        }
    }

    fn newline(&mut self, emit: &mut impl FnMut(&[u8], bool)) {
        emit(b"\r\n", false);
        self.size += 2;
        self.line_start = true;
    }

    fn run_finish(&mut self, emit: &mut impl FnMut(&[u8], bool)) {
        if self.pending_cr {
            self.pending_cr = false;
            self.newline(emit);
        }
        // The terminator is CRLF.CRLF: a message not ending in a line break gets one (RFC
        // 5321 §4.1.1.4), an empty message is just the dot line.
        if !self.line_start {
            self.newline(emit);
        }
        emit(b".\r\n", true);
    }

    /// Stuff `input`, appending to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.run(input, &mut |bytes, _| out.extend_from_slice(bytes));
    }

    /// End the message (final line break if missing, then `.` CRLF), appending to `out`.
    /// Returns the message size ([`size`](Self::size)).
    pub fn finish(mut self, out: &mut Vec<u8>) -> u64 {
        self.run_finish(&mut |bytes, _| out.extend_from_slice(bytes));
        self.size
    }
}

/// The whole message stuffed and terminated, ready to follow a 354 reply.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut stuffer = DotStuffer::new();
    stuffer.push(message, &mut out);
    stuffer.finish(&mut out);
    out
}

/// The message's size as `SIZE=` reports it (after line-ending normalisation), without
/// producing the stuffed copy.
pub fn message_size(message: &[u8]) -> u64 {
    let mut stuffer = DotStuffer::new();
    stuffer.run(message, &mut |_, _| {});
    stuffer.run_finish(&mut |_, _| {});
    stuffer.size
}

/// Whether the message has octets above 127 (then `BODY=8BITMIME` is due, RFC 6152 §3).
pub fn has_8bit(message: &[u8]) -> bool {
    !message.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffs_normalises_and_terminates() {
        assert_eq!(dot_stuff(b""), b".\r\n");
        assert_eq!(dot_stuff(b"a"), b"a\r\n.\r\n");
        assert_eq!(dot_stuff(b"a\r\n"), b"a\r\n.\r\n");
        assert_eq!(dot_stuff(b".\r\n"), b"..\r\n.\r\n");
        assert_eq!(dot_stuff(b"x\n.y\n..z\n"), b"x\r\n..y\r\n...z\r\n.\r\n");
        assert_eq!(dot_stuff(b"a\rb\r\n\r\nc.d"), b"a\r\nb\r\n\r\nc.d\r\n.\r\n");
        assert_eq!(dot_stuff(b"a\r"), b"a\r\n.\r\n");
        assert_eq!(dot_stuff(b"a\r\r\n"), b"a\r\n\r\n.\r\n");
        assert_eq!(dot_stuff(b"\n.\n"), b"\r\n..\r\n.\r\n");
    }

    #[test]
    fn size_counts_normalised_octets_without_stuffing() {
        assert_eq!(message_size(b""), 0);
        assert_eq!(message_size(b"a"), 3);
        assert_eq!(message_size(b"a\nb\n"), 6);
        assert_eq!(message_size(b".x\r\n"), 4);
        let mut out = Vec::new();
        let mut s = DotStuffer::new();
        s.push(b"ab\r", &mut out);
        s.push(b"\n.c", &mut out);
        assert_eq!(s.finish(&mut out), 8);
        assert_eq!(out, b"ab\r\n..c\r\n.\r\n");
    }

    #[test]
    fn eight_bit() {
        assert!(!has_8bit(b"plain ascii\r\n"));
        assert!(has_8bit("Grüße".as_bytes()));
    }
}
