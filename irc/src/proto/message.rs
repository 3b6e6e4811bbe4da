//! IRC messages: parsing and serialising, per the Modern IRC client protocol document
//! ("Message format") and IRCv3 message-tags.
//!
//! ```text
//! message     ::= ['@' tags SPACE] [':' source SPACE] command parameters
//! tags        ::= tag *(';' tag)          tag ::= key ['=' escaped-value]
//! parameters  ::= *(SPACE middle) [SPACE ':' trailing]
//! SPACE       ::= one or more %x20
//! ```
//! The parser is written with nom over a `&str` (input that is not UTF-8 is decoded lossily
//! first: the server advertises `UTF8ONLY`). It is lenient where real clients are sloppy
//! (several spaces, trailing spaces, lowercase commands) and strict where ambiguity would be
//! dangerous (no NUL, CR or LF anywhere, a command is letters or three digits).

use std::borrow::Cow;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1, take_while_m_n};
use nom::character::complete::char;
use nom::combinator::{opt, recognize, verify};
use nom::multi::separated_list1;
use nom::sequence::{preceded, terminated};
use nom::{IResult, Parser};

/// Longest message without tags, including the CRLF (RFC 1459 §2.3, Modern IRC).
pub const MAX_LINE: usize = 512;
/// Longest tag section a client may send, including the `@` and the space (IRCv3 message-tags:
/// "4094 bytes" of client tags; the whole tag section may be 8191 bytes with server tags).
pub const MAX_CLIENT_TAGS: usize = 4096;
/// Longest tag section on any message (IRCv3 message-tags).
pub const MAX_TAGS: usize = 8191;
/// The longest line the framing accepts before it even tries to parse (tags + message).
pub const MAX_WIRE_LINE: usize = MAX_TAGS + MAX_LINE;

/// A parsed IRC message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// IRCv3 tags, values unescaped; a tag without `=` has `None`.
    pub tags: Vec<(String, Option<String>)>,
    /// The source (`nick!user@host` or a server name), without the colon.
    pub source: Option<String>,
    /// The command, upper-cased, or a three-digit numeric.
    pub command: String,
    /// The parameters; the last one may contain spaces (it was sent as a trailing parameter).
    pub params: Vec<String>,
}

/// Why a line is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but spaces.
    #[error("empty message")]
    Empty,
    /// NUL, CR or LF inside the line.
    #[error("message contains a forbidden character")]
    ForbiddenCharacter,
    /// The line is not a valid message (bad tags, no command, bad command).
    #[error("malformed message")]
    Malformed,
    /// The message part is longer than 512 bytes with CRLF.
    #[error("message too long")]
    TooLong,
    /// The tag section is longer than the limit.
    #[error("tags too long")]
    TagsTooLong,
}

impl Message {
    /// A message with a command and parameters, no source, no tags.
    pub fn new<C: Into<String>>(command: C, params: Vec<String>) -> Self {
        Message {
            tags: Vec::new(),
            source: None,
            command: command.into(),
            params,
        }
    }

    /// Builder: set the source.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Builder: add a tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: Option<String>) -> Self {
        self.tags.push((key.into(), value));
        self
    }

    /// Parameter `i`, or "".
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<Option<&str>> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref())
    }

    /// The nick part of the source (`nick!user@host` → `nick`).
    pub fn source_nick(&self) -> Option<&str> {
        let source = self.source.as_deref()?;
        Some(source.split(['!', '@']).next().unwrap_or(source))
    }

    /// Parse one line (without its line ending) as a client sent it: the message part is held to
    /// 512 bytes and the tag section to [`MAX_CLIENT_TAGS`].
    pub fn parse_client(line: &[u8]) -> Result<Message, ParseError> {
        Self::parse_with_limits(line, MAX_CLIENT_TAGS, MAX_LINE)
    }

    /// Parse one line as a server sent it (tags up to [`MAX_TAGS`]; the message part is not
    /// length-checked because servers and bouncers are known to exceed 512 bytes).
    pub fn parse(line: &[u8]) -> Result<Message, ParseError> {
        Self::parse_with_limits(line, MAX_TAGS, usize::MAX)
    }

    fn parse_with_limits(
        line: &[u8],
        max_tags: usize,
        max_message: usize,
    ) -> Result<Message, ParseError> {
        let line = strip_line_end(line);
        if line.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(ParseError::ForbiddenCharacter);
        }
        let text: Cow<'_, str> = String::from_utf8_lossy(line);
        let text = text.trim_start_matches(' ');
        if text.trim_end_matches(' ').is_empty() {
            return Err(ParseError::Empty);
        }
        // Length checks on the raw sections, before any parsing work.
        let (tag_len, rest) = match text.strip_prefix('@') {
            Some(after) => {
                let end = after.find(' ').unwrap_or(after.len());
                (end + 2, after[end..].trim_start_matches(' '))
            }
            None => (0, text),
        };
        if tag_len > max_tags {
            return Err(ParseError::TagsTooLong);
        }
        if rest.len() + 2 > max_message {
            return Err(ParseError::TooLong);
        }
        match message(text) {
            Ok((_, msg)) => Ok(msg),
            Err(_) => Err(ParseError::Malformed),
        }
    }

    /// Serialise with CRLF. Parameters that cannot be middle parameters (empty, containing a
    /// space, starting with ':') are sent as the trailing parameter; only the last may be.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(64);
        self.write_to(&mut out);
        out.freeze()
    }

    /// Append the serialised message (with CRLF) to `out`.
    pub fn write_to(&self, out: &mut BytesMut) {
        if !self.tags.is_empty() {
            out.put_u8(b'@');
            for (i, (key, value)) in self.tags.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b';');
                }
                out.put_slice(key.as_bytes());
                if let Some(value) = value {
                    if !value.is_empty() {
                        out.put_u8(b'=');
                        escape_tag_value(value, out);
                    }
                }
            }
            out.put_u8(b' ');
        }
        if let Some(source) = &self.source {
            out.put_u8(b':');
            out.put_slice(source.as_bytes());
            out.put_u8(b' ');
        }
        out.put_slice(self.command.as_bytes());
        write_params(out, self.params.iter().map(String::as_str));
        out.put_slice(b"\r\n");
    }
}

/// Append ` p1 p2 :last` to `out`, choosing the trailing form for the last parameter when it
/// needs it (empty, has a space, starts with ':').
pub fn write_params<'a>(out: &mut BytesMut, params: impl IntoIterator<Item = &'a str>) {
    let mut params = params.into_iter().peekable();
    while let Some(param) = params.next() {
        out.put_u8(b' ');
        let last = params.peek().is_none();
        if last && (param.is_empty() || param.contains(' ') || param.starts_with(':')) {
            out.put_u8(b':');
        }
        out.put_slice(param.as_bytes());
    }
}

impl fmt::Display for Message {
    /// The wire form without CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        f.write_str(text.trim_end_matches("\r\n"))
    }
}

fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// IRCv3 message-tags value escaping.
pub fn escape_tag_value(value: &str, out: &mut BytesMut) {
    for c in value.chars() {
        match c {
            ';' => out.put_slice(b"\\:"),
            ' ' => out.put_slice(b"\\s"),
            '\\' => out.put_slice(b"\\\\"),
            '\r' => out.put_slice(b"\\r"),
            '\n' => out.put_slice(b"\\n"),
            c => {
                let mut buf = [0u8; 4];
                out.put_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// IRCv3 message-tags value unescaping: `\:` `\s` `\\` `\r` `\n`; any other escaped
/// character stands for itself and a lone trailing backslash is dropped.
pub fn unescape_tag_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn spaces(input: &str) -> IResult<&str, &str> {
    take_while1(|c| c == ' ')(input)
}

fn tag_key(input: &str) -> IResult<&str, &str> {
    recognize((
        opt(char('+')),
        opt(terminated(
            take_while1(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
            char('/'),
        )),
        take_while1(|c: char| c.is_ascii_alphanumeric() || c == '-'),
    ))
    .parse(input)
}

fn one_tag(input: &str) -> IResult<&str, (String, Option<String>)> {
    let (input, key) = tag_key(input)?;
    let (input, value) =
        opt(preceded(char('='), take_while(|c| c != ';' && c != ' '))).parse(input)?;
    // "Implementations MUST interpret empty tag values (e.g. `foo=`) as equivalent to missing
    // tag values (e.g. `foo`)" (IRCv3 message-tags) — and the serialiser writes `None` as `foo`,
    // so this keeps parse ∘ serialise the identity (found by the fuzzer).
    let value = value.map(unescape_tag_value).filter(|v| !v.is_empty());
    Ok((input, (key.to_owned(), value)))
}

fn tags(input: &str) -> IResult<&str, Vec<(String, Option<String>)>> {
    preceded(
        char('@'),
        terminated(separated_list1(char(';'), one_tag), spaces),
    )
    .parse(input)
}

fn source(input: &str) -> IResult<&str, &str> {
    preceded(char(':'), terminated(take_while1(|c| c != ' '), spaces)).parse(input)
}

fn command(input: &str) -> IResult<&str, &str> {
    alt((
        take_while_m_n(3, 3, |c: char| c.is_ascii_digit()),
        take_while1(|c: char| c.is_ascii_alphabetic()),
    ))
    .parse(input)
}

fn message(input: &str) -> IResult<&str, Message> {
    let (input, tags) = opt(tags).parse(input)?;
    let (input, source) = opt(source).parse(input)?;
    // A command followed by a space or the end; "PRIVMSG1" is not a command.
    let (mut input, command) = verify(command, |_: &str| true).parse(input)?;
    if !(input.is_empty() || input.starts_with(' ')) {
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Verify,
        )));
    }
    let mut params = Vec::new();
    loop {
        let rest = input.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            params.push(trailing.to_owned());
            break;
        }
        let (after, middle) = take_while1::<_, _, nom::error::Error<&str>>(|c| c != ' ')(rest)?;
        params.push(middle.to_owned());
        input = after;
        if let Ok((after, _)) = tag::<_, _, nom::error::Error<&str>>(" ")(input) {
            input = after;
        }
    }
    Ok((
        "",
        Message {
            tags: tags.unwrap_or_default(),
            source: source.map(str::to_owned),
            command: command.to_ascii_uppercase(),
            params,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Message {
        Message::parse_client(line.as_bytes()).unwrap()
    }

    #[test]
    fn simple_commands() {
        let m = p("NICK alice");
        assert_eq!(m.command, "NICK");
        assert_eq!(m.params, ["alice"]);
        let m = p("privmsg #chan :hello there ");
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, ["#chan", "hello there "]);
        let m = p("USER guest 0 * :Real Name\r\n");
        assert_eq!(m.params, ["guest", "0", "*", "Real Name"]);
        let m = p("  PING   a   b  ");
        assert_eq!(m.params, ["a", "b"]);
        let m = p("QUIT");
        assert!(m.params.is_empty());
        let m = p("TOPIC #c :");
        assert_eq!(m.params, ["#c", ""]);
    }

    #[test]
    fn source_and_numerics() {
        let m = Message::parse(b":irc.example.com 001 alice :Welcome").unwrap();
        assert_eq!(m.source.as_deref(), Some("irc.example.com"));
        assert_eq!(m.command, "001");
        let m = Message::parse(b":alice!a@host PRIVMSG bob :hi").unwrap();
        assert_eq!(m.source_nick(), Some("alice"));
        assert!(Message::parse(b"0012 x").is_err());
        assert!(Message::parse(b"PRIV-MSG x").is_err());
        assert!(Message::parse(b":onlysource").is_err());
    }

    #[test]
    fn tags_with_escapes() {
        let m = Message::parse(
            b"@time=2020-01-01T00:00:00.000Z;+example.com/x=a\\sb\\:c\\\\;flag :s PRIVMSG #c :hi",
        )
        .unwrap();
        assert_eq!(m.tag("time"), Some(Some("2020-01-01T00:00:00.000Z")));
        assert_eq!(m.tag("+example.com/x"), Some(Some("a b;c\\")));
        assert_eq!(m.tag("flag"), Some(None));
        let back = m.to_bytes();
        assert_eq!(Message::parse(&back).unwrap(), m);
        assert_eq!(unescape_tag_value("a\\"), "a");
        let m = Message::parse(b"@a=;b=\\ PING x").unwrap();
        assert_eq!(m.tags, [("a".to_owned(), None), ("b".to_owned(), None)]);
        assert_eq!(unescape_tag_value("\\b"), "b");
    }

    #[test]
    fn forbidden_and_empty() {
        assert_eq!(Message::parse_client(b""), Err(ParseError::Empty));
        assert_eq!(Message::parse_client(b"   "), Err(ParseError::Empty));
        assert_eq!(
            Message::parse_client(b"PRIVMSG a :b\0c"),
            Err(ParseError::ForbiddenCharacter)
        );
        assert_eq!(
            Message::parse_client(b"PRIVMSG a :b\rc"),
            Err(ParseError::ForbiddenCharacter)
        );
        assert_eq!(Message::parse_client(b"@ PING"), Err(ParseError::Malformed));
    }

    #[test]
    fn length_limits() {
        let ok = format!("PRIVMSG #c :{}", "x".repeat(510 - 12));
        assert_eq!(ok.len(), 510);
        assert!(Message::parse_client(ok.as_bytes()).is_ok());
        let long = format!("{ok}x");
        assert_eq!(
            Message::parse_client(long.as_bytes()),
            Err(ParseError::TooLong)
        );
        let tags = format!("@+a={} PING x", "v".repeat(MAX_CLIENT_TAGS));
        assert_eq!(
            Message::parse_client(tags.as_bytes()),
            Err(ParseError::TagsTooLong)
        );
        // Servers may send long tag sections.
        assert!(Message::parse(tags.as_bytes()).is_ok());
    }

    #[test]
    fn serialises_trailing_only_when_needed() {
        let m = Message::new("PRIVMSG", vec!["#c".into(), "hi".into()]);
        assert_eq!(&m.to_bytes()[..], b"PRIVMSG #c hi\r\n");
        let m = Message::new("PRIVMSG", vec!["#c".into(), "hi there".into()]);
        assert_eq!(&m.to_bytes()[..], b"PRIVMSG #c :hi there\r\n");
        let m = Message::new("TOPIC", vec!["#c".into(), String::new()]);
        assert_eq!(&m.to_bytes()[..], b"TOPIC #c :\r\n");
        let m = Message::new("X", vec![":smile".into()]).with_source("s");
        assert_eq!(&m.to_bytes()[..], b":s X ::smile\r\n");
        assert_eq!(m.to_string(), ":s X ::smile");
    }

    #[test]
    fn lossy_utf8() {
        let m = Message::parse_client(b"PRIVMSG #c :caf\xe9").unwrap();
        assert_eq!(m.params[1], "caf\u{fffd}");
    }
}
