//! The DATA stream (RFC 5321 §4.1.1.4, §4.5.2): dot-unstuffing and the end-of-data marker.
//!
//! SMTP smuggling defence: only `<CRLF>.<CRLF>` ends the data. A bare LF or a bare CR (not part
//! of CRLF) never ends it and never starts a line for dot purposes differently from how the
//! next hop would see it; the message is marked [`DataOutcome::BareLineEnding`] and the server
//! rejects it whole (RFC 5321 §2.3.8: CR and LF "MUST only occur together as CRLF").

/// What the stream produced once the end marker was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataOutcome {
    /// A well-formed message within the size limit.
    Complete,
    /// More than the size limit arrived; the excess was discarded.
    TooLarge,
    /// A bare CR or LF appeared.
    BareLineEnding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    Middle,
    Cr,
    Dot,
    DotCr,
}

/// Incremental DATA decoder.
#[derive(Debug, Clone)]
pub struct DataReceiver {
    state: State,
    max: usize,
    size: usize,
    too_large: bool,
    bare: bool,
}

impl DataReceiver {
    /// A receiver keeping at most `max` bytes of message.
    pub fn new(max: usize) -> Self {
        DataReceiver {
            state: State::LineStart,
            max,
            size: 0,
            too_large: false,
            bare: false,
        }
    }

    /// Bytes of message so far (after unstuffing, including any discarded excess).
    pub fn size(&self) -> usize {
        self.size
    }

    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        // Keep exactly the first `max` bytes, however the input was split into reads (the
        // outcome is the same either way; the kept prefix must not depend on chunking).
        let room = self.max.saturating_sub(self.size);
        self.size = self.size.saturating_add(bytes.len());
        if bytes.len() > room {
            self.too_large = true;
            out.extend_from_slice(&bytes[..room]);
        } else {
            out.extend_from_slice(bytes);
        }
    }

    /// Decode `input`, appending message bytes to `out`. Returns `Some((consumed, outcome))`
    /// when the end marker was found (`consumed` counts it; bytes after it are the next
    /// command), `None` when all of `input` was consumed and more is needed.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<(usize, DataOutcome)> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::LineStart | State::Middle => {
                    if self.state == State::LineStart && b == b'.' {
                        self.state = State::Dot;
                        i += 1;
                        continue;
                    }
                    // Copy a run of ordinary bytes at once.
                    let run = input[i..]
                        .iter()
                        .position(|&c| c == b'\r' || c == b'\n')
                        .unwrap_or(input.len() - i);
                    if run > 0 {
                        self.emit(out, &input[i..i + run]);
                        i += run;
                        self.state = State::Middle;
                        continue;
                    }
                    if b == b'\r' {
                        self.state = State::Cr;
                    } else {
                        // Bare LF: content, and it does not start a line — so a following
                        // ".\r\n" is not the end marker either.
                        self.bare = true;
                        self.emit(out, b"\n");
                        self.state = State::Middle;
                    }
                    i += 1;
                }
                State::Cr => {
                    if b == b'\n' {
                        self.emit(out, b"\r\n");
                        self.state = State::LineStart;
                        i += 1;
                    } else {
                        // Bare CR: keep it, look at this byte again mid-line.
                        self.bare = true;
                        self.emit(out, b"\r");
                        self.state = State::Middle;
                    }
                }
                State::Dot => {
                    if b == b'\r' {
                        self.state = State::DotCr;
                        i += 1;
                    } else {
                        // A dot-stuffed line: the leading dot is dropped (§4.5.2).
                        self.state = State::Middle;
                        if b == b'\n' {
                            self.bare = true;
                        }
                    }
                }
                State::DotCr => {
                    if b == b'\n' {
                        let outcome = if self.bare {
                            DataOutcome::BareLineEnding
                        } else if self.too_large {
                            DataOutcome::TooLarge
                        } else {
                            DataOutcome::Complete
                        };
                        return Some((i + 1, outcome));
                    }
                    // ".\r" followed by something else: a bare CR after a stuffed dot.
                    self.bare = true;
                    self.emit(out, b"\r");
                    self.state = State::Middle;
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], max: usize) -> (Vec<u8>, Option<(usize, DataOutcome)>) {
        let mut r = DataReceiver::new(max);
        let mut out = Vec::new();
        let res = r.feed(input, &mut out);
        (out, res)
    }

    #[test]
    fn unstuffs_and_ends() {
        let (out, res) = run(b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n", 1000);
        assert_eq!(out, b"Subject: x\r\n\r\n.leading dot\r\n");
        assert_eq!(res, Some((32, DataOutcome::Complete)));
        let (out, res) = run(b".\r\n", 1000);
        assert!(out.is_empty());
        assert_eq!(res, Some((3, DataOutcome::Complete)));
    }

    #[test]
    fn one_byte_at_a_time_gives_the_same_result() {
        let input = b"a\r\n..b\r\n.c\r\n\r\n.\r\nrest";
        let mut r = DataReceiver::new(1000);
        let mut out = Vec::new();
        let mut end = None;
        for (i, b) in input.iter().enumerate() {
            if let Some((n, outcome)) = r.feed(std::slice::from_ref(b), &mut out) {
                end = Some((i + n, outcome));
                break;
            }
        }
        assert_eq!(out, b"a\r\n.b\r\nc\r\n\r\n");
        assert_eq!(end, Some((input.len() - 4, DataOutcome::Complete)));
    }

    #[test]
    fn smuggling_attempts_never_end_the_data() {
        // The classic: <LF>.<LF>, <CR>.<CR>, <LF>.<CRLF>, <CRLF>.<LF> must not terminate.
        for attack in [
            &b"x\n.\nMAIL FROM:<evil@x>\r\n"[..],
            b"x\r.\rMAIL FROM:<evil@x>\r\n",
            b"x\n.\r\nMAIL FROM:<evil@x>\r\n",
            b"x\r\n.\nMAIL FROM:<evil@x>\r\n",
            b"x\r\n.\r MAIL FROM:<evil@x>\r\n",
        ] {
            let (_, res) = run(attack, 1000);
            assert_eq!(res, None, "{attack:?}");
            let mut full = attack.to_vec();
            full.extend_from_slice(b".\r\n");
            let (_, res) = run(&full, 1000);
            assert_eq!(
                res,
                Some((full.len(), DataOutcome::BareLineEnding)),
                "{attack:?}"
            );
        }
    }

    #[test]
    fn size_limit_keeps_scanning() {
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\r\n.\r\n");
        let (out, res) = run(&input, 10);
        assert!(out.len() <= 10);
        assert_eq!(res, Some((input.len(), DataOutcome::TooLarge)));
    }
}
