//! Assembling one IMAP command from the wire: a command is a line, or a line ending in a
//! literal announcement (`{N}`, `{N+}` with LITERAL+, `~{N}` for BINARY) followed by N bytes and
//! the rest of the command, and so on (RFC 9051 §2.2, §4.3; RFC 7888). The assembler sees the
//! lines and literals the session reads (with torsion-core's `LineCodec` and `CountedCodec`),
//! says after each line whether a literal follows and whether the client waits for a `+`
//! continuation, and hands back the whole command, bytes exactly as sent, for imap-codec to
//! parse. Every part is bounded: line length (by the codec), literal size (per literal and for
//! the whole command, APPENDLIMIT for APPEND) and the number of literals.

/// Limits on one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest literal of a command other than APPEND.
    pub max_literal: u64,
    /// Longest literal of an APPEND (APPENDLIMIT).
    pub max_append_literal: u64,
    /// Most bytes of one command, literals included; an APPEND may hold `max_append_literal`
    /// more (so a MULTIAPPEND carries several messages only while their sum fits: the
    /// command is held in memory until it is complete).
    pub max_command: u64,
    /// Most literals in one command (MULTIAPPEND sends one per message).
    pub max_literals: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_literal: 64 * 1024,
            max_append_literal: 50 * 1024 * 1024,
            max_command: 256 * 1024,
            max_literals: 1000,
        }
    }
}

/// A literal announced at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement {
    /// Its length in bytes.
    pub length: u64,
    /// `{N+}`: non-synchronising, the client does not wait for a continuation.
    pub non_sync: bool,
    /// `~{N}`: a literal8 (BINARY), which may hold NUL bytes.
    pub binary: bool,
}

/// What to do after a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The command is complete: parse these bytes.
    Complete(Vec<u8>),
    /// Read a literal of this many bytes, then the next line. `continue_first`: send the `+`
    /// continuation request first (a synchronising literal).
    Literal {
        /// Bytes to read.
        length: u64,
        /// Send `+ Ready for literal data` before reading.
        continue_first: bool,
    },
    /// The literal may not be accepted. For a synchronising one the client waits: answer
    /// `tag NO [TOOBIG]` (or BAD) and read the next command. A non-synchronising one is on its
    /// way: it must be read and dropped (`discard` bytes), then the rest of the command too.
    Refuse {
        /// The command's tag, when the line began with one.
        tag: Option<String>,
        /// Bytes already on their way that must be skipped (0 for a synchronising literal).
        discard: u64,
        /// Why, for the reply.
        reason: Refusal,
    },
}

/// Why a literal was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over a size limit (`[TOOBIG]`).
    TooBig,
    /// Too many literals in one command.
    TooManyLiterals,
}

/// Collects the parts of one command.
#[derive(Debug, Default)]
pub struct Assembler {
    limits: Limits,
    buf: Vec<u8>,
    literals: usize,
    /// After a refused non-synchronising literal: the rest of the command is dropped.
    discarding: bool,
    /// Whether the command being assembled is an APPEND (decided on its first line).
    append: bool,
    literal_plus: bool,
}

/// The literal announcement at the end of `line` (which has no CRLF), if any.
pub fn announcement(line: &[u8]) -> Option<Announcement> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let (before, inner) = (&body[..open], &body[open + 1..]);
    let (digits, non_sync) = match inner.strip_suffix(b"+") {
        Some(d) => (d, true),
        None => (inner, false),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let length = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(Announcement {
        length,
        non_sync,
        binary: before.ends_with(b"~"),
    })
}

/// The tag at the start of `line`, if it is one (RFC 9051 `tag`: astring characters but `+`).
pub fn tag_of(line: &[u8]) -> Option<String> {
    let end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let tag = &line[..end];
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && tag.iter().all(|&b| {
            b.is_ascii_graphic()
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b'+')
        });
    ok.then(|| String::from_utf8_lossy(tag).into_owned())
}

fn is_append(line: &[u8]) -> bool {
    let mut words = line.split(|&b| b == b' ');
    let _tag = words.next();
    let command = words.next().unwrap_or_default();
    let command = if command.eq_ignore_ascii_case(b"UID") {
        words.next().unwrap_or_default()
    } else {
        command
    };
    command.eq_ignore_ascii_case(b"APPEND")
}

impl Assembler {
    /// An assembler with `limits`; `literal_plus`: the server advertises LITERAL+ (else
    /// LITERAL-, which lets non-synchronising literals up to 4096 bytes through only).
    pub fn new(limits: Limits, literal_plus: bool) -> Self {
        Assembler {
            limits,
            literal_plus,
            ..Assembler::default()
        }
    }

    fn max_total(&self) -> u64 {
        if self.append {
            self.limits.max_command + self.limits.max_append_literal
        } else {
            self.limits.max_command
        }
    }

    /// Whether part of a command is held (the next line continues it).
    pub fn in_command(&self) -> bool {
        !self.buf.is_empty() || self.discarding
    }

    /// Bytes held.
    pub fn held(&self) -> usize {
        self.buf.len()
    }

    /// A line (without its CRLF) arrived.
    pub fn line(&mut self, line: &[u8]) -> Next {
        let first = self.buf.is_empty() && !self.discarding;
        if first {
            self.append = is_append(line);
            self.literals = 0;
        }
        let tag = tag_of(if first { line } else { &self.buf });
        let Some(ann) = announcement(line) else {
            if self.discarding {
                // The end of a command whose literal was refused: nothing to parse.
                self.discarding = false;
                self.buf.clear();
                return Next::Complete(Vec::new());
            }
            self.buf.extend_from_slice(line);
            self.buf.extend_from_slice(b"\r\n");
            return Next::Complete(std::mem::take(&mut self.buf));
        };
        // RFC 7888 §4: with LITERAL-, a non-synchronising literal over 4096 bytes is an
        // error the server answers with BAD and the client must not rely on.
        let non_sync_ok = ann.non_sync && (self.literal_plus || ann.length <= 4096);
        let limit = if self.append {
            self.limits.max_append_literal
        } else {
            self.limits.max_literal
        };
        let total = self.buf.len() as u64 + line.len() as u64 + 2 + ann.length;
        let refusal = if self.discarding {
            None
        } else if self.literals >= self.limits.max_literals {
            Some(Refusal::TooManyLiterals)
        } else if ann.length > limit || total > self.max_total() || (ann.non_sync && !non_sync_ok) {
            Some(Refusal::TooBig)
        } else {
            None
        };
        if self.discarding || refusal.is_some() {
            let on_its_way = ann.non_sync;
            self.buf.clear();
            // A refused synchronising literal ends the command: the client waits for our
            // answer. A non-synchronising one is coming anyway, and so is the rest.
            self.discarding = on_its_way;
            return match refusal {
                Some(reason) => Next::Refuse {
                    tag,
                    discard: if on_its_way { ann.length } else { 0 },
                    reason,
                },
                // Already discarding: skip this literal too.
                None => Next::Refuse {
                    tag: None,
                    discard: if on_its_way { ann.length } else { 0 },
                    reason: Refusal::TooBig,
                },
            };
        }
        self.literals += 1;
        self.buf.extend_from_slice(line);
        self.buf.extend_from_slice(b"\r\n");
        Next::Literal {
            length: ann.length,
            continue_first: !ann.non_sync,
        }
    }

    /// Part of an accepted literal arrived.
    pub fn literal(&mut self, bytes: &[u8]) {
        if !self.discarding {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Forget a partial command (the connection is going away, or a parse error).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.discarding = false;
        self.literals = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn announcements() {
        let a = |l: &[u8]| announcement(l);
        assert_eq!(
            a(b"A1 LOGIN {5}"),
            Some(Announcement {
                length: 5,
                non_sync: false,
                binary: false
            })
        );
        assert_eq!(
            a(b"A1 APPEND INBOX ~{12+}"),
            Some(Announcement {
                length: 12,
                non_sync: true,
                binary: true
            })
        );
        for not in [
            &b"A1 LOGIN \"{5}\""[..],
            b"A1 {}",
            b"A1 {x}",
            b"A1 {5",
            b"{99999999999999999999}",
        ] {
            assert_eq!(a(not), None, "{}", String::from_utf8_lossy(not));
        }
        assert_eq!(tag_of(b"a001 NOOP").as_deref(), Some("a001"));
        assert_eq!(tag_of(b"+ x"), None);
        assert_eq!(tag_of(b"* OK"), None);
    }

    #[test]
    fn a_login_with_two_literals() {
        let mut asm = Assembler::new(Limits::default(), true);
        assert_eq!(
            asm.line(b"A1 LOGIN {5}"),
            Next::Literal {
                length: 5,
                continue_first: true
            }
        );
        asm.literal(b"alice");
        assert_eq!(
            asm.line(b" {6+}"),
            Next::Literal {
                length: 6,
                continue_first: false
            }
        );
        asm.literal(b"s3cr3t");
        assert_eq!(
            asm.line(b""),
            Next::Complete(b"A1 LOGIN {5}\r\nalice {6+}\r\ns3cr3t\r\n".to_vec())
        );
        assert!(!asm.in_command());
        assert_eq!(
            asm.line(b"A2 NOOP"),
            Next::Complete(b"A2 NOOP\r\n".to_vec())
        );
    }

    #[test]
    fn limits_refuse_and_skip_what_is_on_its_way() {
        let limits = Limits {
            max_literal: 10,
            max_append_literal: 100,
            max_command: 50,
            max_literals: 2,
        };
        let mut asm = Assembler::new(limits, true);
        // A synchronising literal over the limit: NO [TOOBIG], and the client sends nothing.
        assert_eq!(
            asm.line(b"A1 LOGIN {11}"),
            Next::Refuse {
                tag: Some("A1".into()),
                discard: 0,
                reason: Refusal::TooBig
            }
        );
        assert!(!asm.in_command());
        // APPEND has its own limit.
        assert_eq!(
            asm.line(b"A2 APPEND INBOX {100}"),
            Next::Literal {
                length: 100,
                continue_first: true
            }
        );
        asm.literal(&[b'x'; 100]);
        assert!(matches!(asm.line(b""), Next::Complete(_)));
        // A non-synchronising literal over the limit is already coming: skip it and the rest.
        assert_eq!(
            asm.line(b"A3 LOGIN {20+}"),
            Next::Refuse {
                tag: Some("A3".into()),
                discard: 20,
                reason: Refusal::TooBig
            }
        );
        asm.literal(&[b'y'; 20]);
        assert_eq!(
            asm.line(b" {3+}"),
            Next::Refuse {
                tag: None,
                discard: 3,
                reason: Refusal::TooBig
            }
        );
        asm.literal(b"abc");
        assert_eq!(
            asm.line(b""),
            Next::Complete(Vec::new()),
            "nothing to parse, already answered"
        );
        assert_eq!(
            asm.line(b"A4 NOOP"),
            Next::Complete(b"A4 NOOP\r\n".to_vec())
        );
        // Too many literals in one command.
        assert!(matches!(asm.line(b"A5 X {1}"), Next::Literal { .. }));
        asm.literal(b"a");
        assert!(matches!(asm.line(b" {1}"), Next::Literal { .. }));
        asm.literal(b"b");
        assert_eq!(
            asm.line(b" {1}"),
            Next::Refuse {
                tag: Some("A5".into()),
                discard: 0,
                reason: Refusal::TooManyLiterals
            }
        );
        // The command total.
        let mut asm = Assembler::new(limits, true);
        assert!(matches!(asm.line(b"A6 X {10}"), Next::Literal { .. }));
        asm.literal(&[b'z'; 10]);
        assert!(matches!(asm.line(&[b'w'; 30]), Next::Complete(_)));
        assert!(matches!(asm.line(b"A7 X {10}"), Next::Literal { .. }));
        asm.literal(&[b'z'; 10]);
        assert!(matches!(
            asm.line(&[[b'w'; 30].as_slice(), b" {9}"].concat()),
            Next::Refuse { .. }
        ));
    }

    #[test]
    fn literal_minus_lets_only_small_non_sync_literals_through() {
        let limits = Limits {
            max_literal: 100_000,
            ..Limits::default()
        };
        let mut asm = Assembler::new(limits, false);
        assert_eq!(
            asm.line(b"A1 X {4096+}"),
            Next::Literal {
                length: 4096,
                continue_first: false
            }
        );
        asm.reset();
        assert!(matches!(
            asm.line(b"A2 X {4097+}"),
            Next::Refuse { discard: 4097, .. }
        ));
    }

    proptest! {
        /// Whatever the lines and literals, memory held stays within the limits and a
        /// complete command is what was sent.
        #[test]
        fn held_bytes_stay_bounded(parts in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..60), 0u64..200, any::<bool>()), 1..20)) {
            let limits = Limits { max_literal: 100, max_append_literal: 150, max_command: 400, max_literals: 5 };
            let mut asm = Assembler::new(limits, true);
            for (mut line, len, plus) in parts {
                line.retain(|b| *b != b'\r' && *b != b'\n');
                if len % 3 == 0 {
                    line.extend_from_slice(format!("{{{len}{}}}", if plus { "+" } else { "" }).as_bytes());
                }
                match asm.line(&line) {
                    Next::Literal { length, .. } => {
                        prop_assert!(length <= limits.max_append_literal);
                        asm.literal(&vec![b'L'; length as usize]);
                    }
                    Next::Refuse { discard, .. } => asm.literal(&vec![b'D'; discard as usize]),
                    Next::Complete(bytes) => prop_assert!(bytes.is_empty() || bytes.ends_with(b"\r\n")),
                }
                prop_assert!(asm.held() as u64 <= limits.max_command + limits.max_append_literal + 62);
            }
        }
    }
}
