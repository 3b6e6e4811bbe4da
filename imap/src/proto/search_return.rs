//! ESEARCH's `SEARCH RETURN (…)` (RFC 4731 §3.1), which imap-types 2.0.0-alpha.10 does not
//! parse: the options are taken off the command here, the rest goes to imap-codec as a plain
//! SEARCH, and the session answers in the ESEARCH form with what was asked.

/// What a `RETURN (…)` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReturnOptions {
    /// The lowest match.
    pub min: bool,
    /// The highest match.
    pub max: bool,
    /// All matches, as a sequence set.
    pub all: bool,
    /// How many matched.
    pub count: bool,
}

/// Why a RETURN clause was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnError(pub String);

fn word_is(word: &[u8], expected: &str) -> bool {
    word.eq_ignore_ascii_case(expected.as_bytes())
}

/// If `command` (a whole command, as assembled) is `TAG [UID] SEARCH RETURN (…) …`, the
/// command without the RETURN clause and its options; `None` for any other command.
pub fn split(command: &[u8]) -> Option<Result<(Vec<u8>, ReturnOptions), ReturnError>> {
    let mut at = 0;
    let word = |at: &mut usize| -> Option<(usize, usize)> {
        let start = *at;
        let len = command[start..].iter().position(|&b| b == b' ')?;
        *at = start + len + 1;
        Some((start, start + len))
    };
    let _tag = word(&mut at)?;
    let (s, e) = word(&mut at)?;
    let (s, e) = if word_is(&command[s..e], "UID") {
        word(&mut at)?
    } else {
        (s, e)
    };
    if !word_is(&command[s..e], "SEARCH") {
        return None;
    }
    let clause_start = at;
    let rest = &command[at..];
    let keyword = rest.get(..6)?;
    if !word_is(keyword, "RETURN") || !matches!(rest.get(6), Some(b' ' | b'(')) {
        return None;
    }
    let rest = &rest[6..];
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let Some(inner) = rest.strip_prefix(b"(") else {
        return Some(Err(ReturnError("RETURN needs a list of options".into())));
    };
    let Some(close) = inner.iter().position(|&b| b == b')') else {
        return Some(Err(ReturnError("RETURN's list is not closed".into())));
    };
    let mut options = ReturnOptions::default();
    for option in inner[..close]
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
    {
        if word_is(option, "MIN") {
            options.min = true;
        } else if word_is(option, "MAX") {
            options.max = true;
        } else if word_is(option, "ALL") {
            options.all = true;
        } else if word_is(option, "COUNT") {
            options.count = true;
        } else {
            return Some(Err(ReturnError(format!(
                "Unknown RETURN option {}",
                String::from_utf8_lossy(option)
            ))));
        }
    }
    // RFC 4731 §3.1: `RETURN ()` means `RETURN (ALL)`.
    if options == ReturnOptions::default() {
        options.all = true;
    }
    let after = &inner[close + 1..];
    let after = after.strip_prefix(b" ").unwrap_or(after);
    let mut plain = command[..clause_start].to_vec();
    plain.extend_from_slice(after);
    Some(Ok((plain, options)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> (String, ReturnOptions) {
        let (cmd, opts) = split(input.as_bytes()).unwrap().unwrap();
        (String::from_utf8(cmd).unwrap(), opts)
    }

    #[test]
    fn return_clauses_are_taken_off() {
        let (cmd, opts) = ok("a UID SEARCH RETURN (MIN COUNT) UNSEEN\r\n");
        assert_eq!(cmd, "a UID SEARCH UNSEEN\r\n");
        assert!(opts.min && opts.count && !opts.max && !opts.all);
        let (cmd, opts) = ok("b search return () CHARSET UTF-8 ALL\r\n");
        assert_eq!(cmd, "b search CHARSET UTF-8 ALL\r\n");
        assert!(opts.all);
        assert!(split(b"c SEARCH UNSEEN\r\n").is_none());
        assert!(split(b"c FETCH 1 RETURN\r\n").is_none());
        assert!(split(b"c SEARCH RETURNED\r\n").is_none());
        assert!(split(b"d SEARCH RETURN (SAVE) ALL\r\n").unwrap().is_err());
        assert!(split(b"d SEARCH RETURN (MIN ALL\r\n").unwrap().is_err());
        assert!(split(b"d SEARCH RETURN MIN\r\n").unwrap().is_err());
        assert!(split(b"").is_none());
    }
}
