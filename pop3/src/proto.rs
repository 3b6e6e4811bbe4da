//! The POP3 wire format, sans-I/O: command lines (RFC 1939 §3, RFC 2449 §4), multi-line
//! responses with their byte-stuffing (RFC 1939 §3), and message numbers. Shared by the server
//! and the client.

use std::fmt;

/// Longest command line accepted, CRLF included. RFC 2449 §4 allows 255 octets; AUTH's
/// continuation lines (RFC 5034 §4) and long passwords need more, so the server takes this
/// much and answers a longer line `-ERR` without reading it as a command.
pub const MAX_COMMAND_LINE: usize = 1024;
/// Longest response line the client accepts (RFC 2449 §4: 512 octets; some servers send
/// longer greetings).
pub const MAX_RESPONSE_LINE: usize = 4096;

/// A command, borrowed from its line (without the CRLF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `USER name` (RFC 1939 §7).
    User(&'a str),
    /// `PASS string`: everything after the space, spaces included (RFC 1939 §7).
    Pass(&'a [u8]),
    /// `APOP name digest` (not offered: it needs the password in clear at rest).
    Apop,
    /// `AUTH [mechanism [initial-response]]` (RFC 5034); no mechanism lists them.
    Auth {
        /// The SASL mechanism, as given.
        mechanism: Option<&'a str>,
        /// The base64 initial response (`=` for an empty one).
        initial: Option<&'a [u8]>,
    },
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List(Option<u32>),
    /// `UIDL [msg]` (RFC 1939 §7).
    Uidl(Option<u32>),
    /// `RETR msg`.
    Retr(u32),
    /// `TOP msg n` (RFC 1939 §7).
    Top(u32, u32),
    /// `DELE msg`.
    Dele(u32),
    /// `NOOP`.
    Noop,
    /// `RSET`.
    Rset,
    /// `QUIT`.
    Quit,
    /// `CAPA` (RFC 2449 §5).
    Capa,
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `UTF8` (RFC 6856 §2).
    Utf8,
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not a command this server knows (the keyword, upper-cased, at most 8 characters).
    Unknown(String),
    /// A known command with wrong arguments: what is expected.
    Syntax(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unknown(k) if k.is_empty() => f.write_str("Empty command"),
            ParseError::Unknown(k) => write!(f, "Unknown command {k}"),
            ParseError::Syntax(usage) => write!(f, "Syntax: {usage}"),
        }
    }
}

/// A message number: decimal digits only, 1 or more (RFC 1939 §3).
pub fn message_number(arg: &[u8]) -> Option<u32> {
    if arg.is_empty() || arg.len() > 10 || !arg.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(arg)
        .ok()?
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

/// A non-negative decimal count (TOP's line count).
fn count(arg: &[u8]) -> Option<u32> {
    if arg.is_empty() || arg.len() > 10 || !arg.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// Parse one command line (without CRLF). Keywords are case-insensitive; arguments are
/// separated by single spaces (RFC 1939 §3), though runs of spaces are tolerated.
pub fn parse(line: &[u8]) -> Result<Command<'_>, ParseError> {
    let (keyword, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &line[line.len()..]),
    };
    let args: Vec<&[u8]> = rest
        .split(|&b| b == b' ')
        .filter(|a| !a.is_empty())
        .collect();
    let upper = keyword.to_ascii_uppercase();
    let none = |c: Command<'static>, usage| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(ParseError::Syntax(usage))
        }
    };
    let optional = |usage| match args.as_slice() {
        [] => Ok(None),
        [n] => message_number(n).map(Some).ok_or(ParseError::Syntax(usage)),
        _ => Err(ParseError::Syntax(usage)),
    };
    let one = |usage| match args.as_slice() {
        [n] => message_number(n).ok_or(ParseError::Syntax(usage)),
        _ => Err(ParseError::Syntax(usage)),
    };
    match upper.as_slice() {
        b"USER" => match args.as_slice() {
            // The name is the whole argument (names with spaces are refused at login).
            [_, ..] => std::str::from_utf8(rest.trim_ascii())
                .map(Command::User)
                .map_err(|_| ParseError::Syntax("USER name (UTF-8)")),
            [] => Err(ParseError::Syntax("USER name")),
        },
        b"PASS" if !rest.is_empty() => Ok(Command::Pass(rest)),
        b"PASS" => Err(ParseError::Syntax("PASS password")),
        b"APOP" => Ok(Command::Apop),
        b"AUTH" => {
            fn text<'a>(a: &&'a [u8]) -> Option<&'a str> {
                std::str::from_utf8(a).ok()
            }
            match args.as_slice() {
                [] => Ok(Command::Auth {
                    mechanism: None,
                    initial: None,
                }),
                [m] => Ok(Command::Auth {
                    mechanism: Some(text(m).ok_or(ParseError::Syntax("AUTH mechanism"))?),
                    initial: None,
                }),
                [m, i] => Ok(Command::Auth {
                    mechanism: Some(text(m).ok_or(ParseError::Syntax("AUTH mechanism"))?),
                    initial: Some(i),
                }),
                _ => Err(ParseError::Syntax("AUTH mechanism [initial-response]")),
            }
        }
        b"STAT" => none(Command::Stat, "STAT"),
        b"LIST" => optional("LIST [msg]").map(Command::List),
        b"UIDL" => optional("UIDL [msg]").map(Command::Uidl),
        b"RETR" => one("RETR msg").map(Command::Retr),
        b"DELE" => one("DELE msg").map(Command::Dele),
        b"TOP" => match args.as_slice() {
            [m, n] => match (message_number(m), count(n)) {
                (Some(m), Some(n)) => Ok(Command::Top(m, n)),
                _ => Err(ParseError::Syntax("TOP msg lines")),
            },
            _ => Err(ParseError::Syntax("TOP msg lines")),
        },
        b"NOOP" => none(Command::Noop, "NOOP"),
        b"RSET" => none(Command::Rset, "RSET"),
        b"QUIT" => none(Command::Quit, "QUIT"),
        b"CAPA" => none(Command::Capa, "CAPA"),
        b"STLS" => none(Command::Stls, "STLS"),
        b"UTF8" => none(Command::Utf8, "UTF8"),
        _ => Err(ParseError::Unknown(
            String::from_utf8_lossy(&upper[..upper.len().min(8)]).into_owned(),
        )),
    }
}

/// A message as a multi-line response body (RFC 1939 §3): every line CRLF-terminated, a
/// line starting with `.` gets another `.` in front, then the terminating `.` line. With
/// `body_lines`, only the header, the blank line and that many body lines (TOP, RFC 1939 §7).
/// A last line without a line end gets one.
pub fn stuff(message: &[u8], body_lines: Option<u32>, out: &mut Vec<u8>) {
    out.reserve(message.len() + message.len() / 64 + 5);
    let mut stuffer = Stuffer::new(body_lines);
    stuffer.push(message, out);
    stuffer.finish(out);
}

/// [`stuff`] in pieces, for a message streamed from its file: the output of any split of the
/// message into pushes is the output of `stuff` on the whole (property-tested), and nothing
/// is held between pushes but a few flags.
#[derive(Debug, Clone)]
pub struct Stuffer {
    /// TOP's body line count; `None` for RETR.
    body_lines: Option<u32>,
    /// Body lines still to send, once the header has ended (TOP).
    left: Option<u32>,
    /// The next byte starts a line.
    at_start: bool,
    /// The current line has sent no content yet.
    empty: bool,
    /// A CR ended the last push: part of a CRLF, or content if something else follows.
    cr_held: bool,
    /// TOP has sent all it should.
    done: bool,
}

impl Stuffer {
    /// For RETR (`None`) or `TOP n` (`Some(n)`).
    pub fn new(body_lines: Option<u32>) -> Self {
        Stuffer {
            body_lines,
            left: None,
            at_start: true,
            empty: true,
            cr_held: false,
            done: false,
        }
    }

    /// Whether the rest of the message is not needed (TOP has its lines).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Stuff the next piece of the message into `out`.
    pub fn push(&mut self, mut rest: &[u8], out: &mut Vec<u8>) {
        while !rest.is_empty() && !self.done {
            if self.at_start {
                if rest[0] == b'.' {
                    out.push(b'.');
                }
                self.at_start = false;
                self.empty = true;
            }
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    self.content(&rest[..i], out);
                    // A CR before the LF is the line end's own.
                    self.cr_held = false;
                    out.extend_from_slice(b"\r\n");
                    self.line_ended();
                    rest = &rest[i + 1..];
                }
                None => {
                    self.content(rest, out);
                    rest = &[];
                }
            }
        }
    }

    /// Line content (no LF in it); a CR at its end is held until the next byte is known.
    fn content(&mut self, seg: &[u8], out: &mut Vec<u8>) {
        if seg.is_empty() {
            return;
        }
        if self.cr_held {
            out.push(b'\r');
            self.empty = false;
            self.cr_held = false;
        }
        let (body, held) = match seg.split_last() {
            Some((b'\r', body)) => (body, true),
            _ => (seg, false),
        };
        if !body.is_empty() {
            out.extend_from_slice(body);
            self.empty = false;
        }
        self.cr_held = held;
    }

    fn line_ended(&mut self) {
        self.at_start = true;
        match (&mut self.left, self.body_lines) {
            (None, Some(n)) if self.empty => self.left = Some(n),
            (Some(n), _) => *n = n.saturating_sub(1),
            _ => {}
        }
        if self.left == Some(0) {
            self.done = true;
        }
    }

    /// End the response: the last line's line end if it had none (a CR at its very end is
    /// taken as that line end, as [`stuff`] strips it), then the `.` line.
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.done && !self.at_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// One line of a multi-line response as received (without CRLF): `None` for the
/// terminating `.`, else the line with its stuffed `.` removed (RFC 1939 §3).
pub fn unstuff(line: &[u8]) -> Option<&[u8]> {
    match line {
        b"." => None,
        [b'.', rest @ ..] => Some(rest),
        _ => Some(line),
    }
}

/// A UIDL value (RFC 1939 §7: 1–70 characters 0x21–0x7E, unique and stable in a maildrop):
/// the IMAP UID and UIDVALIDITY, as Dovecot's default `pop3_uidl_format = %08Xu%08Xv`, so a
/// message keeps its UIDL for as long as it keeps its IMAP UID.
pub fn uidl(uid: u32, uid_validity: u32) -> String {
    format!("{uid:08X}{uid_validity:08X}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn commands_parse_case_insensitively_with_their_arguments() {
        assert_eq!(
            parse(b"user alice@example.test"),
            Ok(Command::User("alice@example.test"))
        );
        assert_eq!(
            parse(b"PASS with spaces  "),
            Ok(Command::Pass(b"with spaces  "))
        );
        assert_eq!(parse(b"Stat"), Ok(Command::Stat));
        assert_eq!(parse(b"LIST"), Ok(Command::List(None)));
        assert_eq!(parse(b"list 7"), Ok(Command::List(Some(7))));
        assert_eq!(parse(b"UIDL 2"), Ok(Command::Uidl(Some(2))));
        assert_eq!(parse(b"RETR 1"), Ok(Command::Retr(1)));
        assert_eq!(parse(b"TOP 3 0"), Ok(Command::Top(3, 0)));
        assert_eq!(parse(b"DELE 4294967295"), Ok(Command::Dele(u32::MAX)));
        assert_eq!(
            parse(b"AUTH PLAIN AGEAYg=="),
            Ok(Command::Auth {
                mechanism: Some("PLAIN"),
                initial: Some(b"AGEAYg==")
            })
        );
        assert_eq!(
            parse(b"AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial: None
            })
        );
        for (line, c) in [
            ("NOOP", Command::Noop),
            ("rset", Command::Rset),
            ("QUIT", Command::Quit),
            ("CAPA", Command::Capa),
            ("STLS", Command::Stls),
            ("UTF8", Command::Utf8),
            ("APOP a b", Command::Apop),
        ] {
            assert_eq!(parse(line.as_bytes()), Ok(c));
        }
    }

    #[test]
    fn bad_arguments_and_unknown_commands_are_refused() {
        for line in [
            "RETR",
            "RETR 0",
            "RETR -1",
            "RETR +1",
            "RETR 1x",
            "RETR 4294967296",
            "RETR 1 2",
            "LIST 0",
            "TOP 1",
            "TOP 1 -2",
            "DELE",
            "STAT 1",
            "QUIT now",
            "USER",
            "PASS",
            "AUTH A B C",
        ] {
            assert!(
                matches!(parse(line.as_bytes()), Err(ParseError::Syntax(_))),
                "{line}"
            );
        }
        assert_eq!(parse(b"XTND x"), Err(ParseError::Unknown("XTND".into())));
        assert_eq!(parse(b""), Err(ParseError::Unknown(String::new())));
        assert_eq!(
            parse(b"AVERYLONGKEYWORD").unwrap_err().to_string(),
            "Unknown command AVERYLON"
        );
        assert!(parse(b"USER \xff").is_err());
    }

    #[test]
    fn stuffing_dots_line_ends_and_top() {
        let mut out = Vec::new();
        stuff(
            b"A: 1\r\n.B: 2\r\n\r\n.\r\nbody\r\n..x\r\nlast",
            None,
            &mut out,
        );
        assert_eq!(
            out,
            b"A: 1\r\n..B: 2\r\n\r\n..\r\nbody\r\n...x\r\nlast\r\n.\r\n".to_vec()
        );
        for (n, expected) in [
            (0, &b"A: 1\r\n\r\n.\r\n"[..]),
            (1, b"A: 1\r\n\r\nb1\r\n.\r\n"),
            (9, b"A: 1\r\n\r\nb1\r\nb2\r\n.\r\n"),
        ] {
            let mut out = Vec::new();
            stuff(b"A: 1\r\n\r\nb1\r\nb2\r\n", Some(n), &mut out);
            assert_eq!(out, expected.to_vec(), "TOP {n}");
        }
        // A header without a body, bare LF line ends.
        let mut out = Vec::new();
        stuff(b"A: 1\nB: 2\n", Some(5), &mut out);
        assert_eq!(out, b"A: 1\r\nB: 2\r\n.\r\n".to_vec());
        let mut out = Vec::new();
        stuff(b"", None, &mut out);
        assert_eq!(out, b".\r\n".to_vec());
    }

    #[test]
    fn uidls_are_printable_and_fixed_width() {
        assert_eq!(uidl(1, 0x5f00_0000), "000000015F000000");
        assert_eq!(uidl(u32::MAX, 1).len(), 16);
    }

    proptest::proptest! {
        /// Stuffing then unstuffing gives the message back with CRLF line ends; no line of
        /// the stuffed form is a lone `.` before the end.
        #[test]
        fn stuffing_round_trips(lines in proptest::collection::vec("[.a-z \r]{0,6}", 0..12)) {
            let message: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\r\n").into_bytes()).collect();
            let mut out = Vec::new();
            stuff(&message, None, &mut out);
            let mut back = Vec::new();
            let mut ended = false;
            for line in out.strip_suffix(b"\r\n").unwrap().split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                proptest::prop_assert!(!ended);
                match unstuff(line) {
                    None => ended = true,
                    Some(l) => { back.extend_from_slice(l); back.extend_from_slice(b"\r\n"); }
                }
            }
            proptest::prop_assert!(ended);
            // Lines with a bare CR inside are carried as they are.
            let expected: Vec<u8> = message.split(|&b| b == b'\n').take(lines.len())
                .flat_map(|l| { let mut v = l.strip_suffix(b"\r").unwrap_or(l).to_vec(); v.extend_from_slice(b"\r\n"); v })
                .collect();
            proptest::prop_assert_eq!(back, expected);
        }

        /// Any split into pushes gives what `stuff` gives on the whole, RETR or TOP.
        #[test]
        fn stuffing_in_pieces_is_the_same(
            message in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b'.'), proptest::strategy::Just(b'\r'),
                    proptest::strategy::Just(b'\n'), proptest::strategy::Just(b'x')
                ], 0..120),
            cuts in proptest::collection::vec(0usize..120, 0..6),
            top in proptest::option::of(0u32..4),
        ) {
            let mut whole = Vec::new();
            stuff(&message, top, &mut whole);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(message.len())).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut stuffer = Stuffer::new(top);
            let mut from = 0;
            for cut in cuts.into_iter().chain([message.len()]) {
                stuffer.push(&message[from..cut], &mut pieces);
                from = cut;
            }
            stuffer.finish(&mut pieces);
            proptest::prop_assert_eq!(pieces, whole);
        }

        /// No line panics the parser.
        #[test]
        fn any_line_parses_or_is_refused(line in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let _ = parse(&line);
        }
    }
}
