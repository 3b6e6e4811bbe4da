//! The IRC wire protocol, without I/O: message parsing and serialising (nom), numerics,
//! casemapping, wildcard masks and CTCP. Shared by the server and the client; fuzzed.

pub mod casemap;
pub mod ctcp;
pub mod mask;
mod message;
pub mod numeric;

pub use message::{
    escape_tag_value, unescape_tag_value, write_params, Message, ParseError, MAX_CLIENT_TAGS,
    MAX_LINE, MAX_TAGS, MAX_WIRE_LINE,
};

use bytes::{BufMut, Bytes, BytesMut};

/// Build one wire line `:source COMMAND p1 p2 :last\r\n` without allocating a [`Message`]:
/// the server's hot path (a channel message is built once and shared by every recipient).
/// The last parameter always takes the trailing form, as InspIRCd and most servers send it:
/// naive clients split on " :" and expect text there.
pub fn line<'a>(source: &str, command: &str, params: impl IntoIterator<Item = &'a str>) -> Bytes {
    let mut out = BytesMut::with_capacity(128);
    write_line(&mut out, source, command, params);
    out.freeze()
}

/// Append one wire line to `out` (see [`line()`]).
pub fn write_line<'a>(
    out: &mut BytesMut,
    source: &str,
    command: &str,
    params: impl IntoIterator<Item = &'a str>,
) {
    if !source.is_empty() {
        out.put_u8(b':');
        out.put_slice(source.as_bytes());
        out.put_u8(b' ');
    }
    out.put_slice(command.as_bytes());
    let mut params = params.into_iter().peekable();
    while let Some(param) = params.next() {
        out.put_u8(b' ');
        if params.peek().is_none() {
            out.put_u8(b':');
        }
        out.put_slice(param.as_bytes());
    }
    out.put_slice(b"\r\n");
}

/// Whether `name` is a valid nickname: 1..=`max_len` characters, no space, comma, `*`, `?`,
/// `!`, `@`, `.` (Modern IRC "Clients"), not starting with `$`, `:`, `#`, `&` or a digit, `-`.
pub fn valid_nick(name: &str, max_len: usize) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if name.chars().count() > max_len {
        return false;
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || "[]\\`_^{|}-".contains(c);
    (first.is_ascii_alphabetic() || "[]\\`_^{|}".contains(first)) && chars.all(ok)
}

/// Whether `name` is a valid channel name: starts with `#` (the only type we advertise), at most
/// `max_len` bytes, no space, comma, BEL or control characters.
pub fn valid_channel(name: &str, max_len: usize) -> bool {
    name.len() >= 2
        && name.len() <= max_len
        && name.starts_with('#')
        && !name
            .chars()
            .any(|c| c == ' ' || c == ',' || c == '\u{7}' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_lines() {
        assert_eq!(
            &line("a!b@c", "PRIVMSG", ["#x", "hello world"])[..],
            b":a!b@c PRIVMSG #x :hello world\r\n"
        );
        assert_eq!(&line("", "PING", ["tok"])[..], b"PING :tok\r\n");
        assert_eq!(&line("s", "X", [])[..], b":s X\r\n");
    }

    #[test]
    fn nick_and_channel_rules() {
        assert!(valid_nick("alice", 30));
        assert!(valid_nick("[bot]_2", 30));
        assert!(!valid_nick("2fast", 30));
        assert!(!valid_nick("a b", 30));
        assert!(!valid_nick("a!b", 30));
        assert!(!valid_nick("", 30));
        assert!(!valid_nick("-x", 30));
        assert!(!valid_nick(&"a".repeat(31), 30));
        assert!(valid_channel("#rust", 64));
        assert!(!valid_channel("#", 64));
        assert!(!valid_channel("rust", 64));
        assert!(!valid_channel("#a,b", 64));
        assert!(!valid_channel("#a\u{7}", 64));
    }
}
