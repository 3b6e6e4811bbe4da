//! CTCP (Client-To-Client Protocol) framing inside PRIVMSG/NOTICE text: `\x01COMMAND params\x01`.

/// The delimiter byte.
pub const DELIM: char = '\u{1}';

/// A CTCP message pulled out of PRIVMSG/NOTICE text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctcp<'a> {
    /// The CTCP command, upper-cased by the caller if needed (`ACTION`, `VERSION`, `PING`).
    pub command: &'a str,
    /// Everything after the first space ("" when none).
    pub params: &'a str,
}

/// Parse `text` as CTCP; the closing delimiter is optional (some clients omit it).
pub fn parse(text: &str) -> Option<Ctcp<'_>> {
    let body = text.strip_prefix(DELIM)?;
    let body = body.strip_suffix(DELIM).unwrap_or(body);
    if body.is_empty() {
        return None;
    }
    let (command, params) = body.split_once(' ').unwrap_or((body, ""));
    Some(Ctcp { command, params })
}

/// Build CTCP text.
pub fn format(command: &str, params: &str) -> String {
    if params.is_empty() {
        format!("{DELIM}{command}{DELIM}")
    } else {
        format!("{DELIM}{command} {params}{DELIM}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = format("ACTION", "waves");
        assert_eq!(t, "\u{1}ACTION waves\u{1}");
        assert_eq!(
            parse(&t),
            Some(Ctcp {
                command: "ACTION",
                params: "waves"
            })
        );
        assert_eq!(
            parse("\u{1}VERSION"),
            Some(Ctcp {
                command: "VERSION",
                params: ""
            })
        );
        assert_eq!(parse("plain"), None);
        assert_eq!(parse("\u{1}\u{1}"), None);
    }
}
