//! Command forms imap-types 2.0.0-alpha.10 does not parse (its `ext_list_extended` feature is
//! marked unfinished and it has no MULTIAPPEND or CREATE-SPECIAL-USE): LIST with selection and
//! return options and several patterns (RFC 5258, with RFC 5819 STATUS and RFC 6154 SPECIAL-USE
//! options), CREATE with `(USE (…))` (RFC 6154 §3), and APPEND of several messages (RFC 3502).
//! The driver tries these only after imap-codec refused a command. A MULTIAPPEND is cut into
//! one single-message APPEND per message, which imap-codec then parses (flags, date, literal),
//! so flag and date syntax has one parser.

use imap_codec::imap_types::status::StatusDataItemName;

/// A token of the command's arguments, with where it lies in the command.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Atom(Vec<u8>),
    /// A quoted string or a literal, unescaped.
    Str(Vec<u8>),
    /// A literal (`{N}`, `{N+}`, `{N-}`, `~{N}`).
    Literal(Vec<u8>),
}

/// Why a command was refused (answered `BAD` with the tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The command's tag.
    pub tag: String,
    /// What was wrong.
    pub reason: String,
}

/// A command parsed here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extended {
    /// LIST with RFC 5258 options.
    List(ListExtended),
    /// CREATE with special uses: `plain` is the command without the USE clause, for imap-codec.
    CreateUse {
        /// The CREATE command without its USE clause.
        plain: Vec<u8>,
        /// The uses asked for (`\Sent`, …), as sent.
        uses: Vec<String>,
    },
    /// APPEND with several messages: one single-message APPEND command per message.
    MultiAppend {
        /// The command's tag.
        tag: String,
        /// `TAG APPEND MAILBOX [FLAGS] [DATE] LITERAL\r\n`, for each message, in order.
        parts: Vec<Vec<u8>>,
    },
}

/// LIST's selection options (RFC 5258 §3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListSelect {
    /// Only subscribed names (existing or not).
    pub subscribed: bool,
    /// Remote mailboxes too (there are none here).
    pub remote: bool,
    /// Also parents whose children match the other selection options (CHILDINFO).
    pub recursive_match: bool,
    /// Only mailboxes with a special use (RFC 6154 §3).
    pub special_use: bool,
}

/// LIST's return options (RFC 5258 §3.2, RFC 5819, RFC 6154).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListReturn {
    /// `\Subscribed`.
    pub subscribed: bool,
    /// `\HasChildren` / `\HasNoChildren`.
    pub children: bool,
    /// Special-use attributes.
    pub special_use: bool,
    /// A STATUS response after each selectable mailbox, with these items.
    pub status: Option<Vec<StatusDataItemName>>,
}

/// An extended LIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListExtended {
    /// The command's tag.
    pub tag: String,
    /// Selection options.
    pub select: ListSelect,
    /// The reference name, as sent.
    pub reference: Vec<u8>,
    /// The patterns, as sent.
    pub patterns: Vec<Vec<u8>>,
    /// Return options.
    pub returns: ListReturn,
}

/// Reads tokens from a command's bytes (after the tag and the command name).
struct Lexer<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn at_end(&self) -> bool {
        matches!(self.buf.get(self.pos..), None | Some(b"\r\n" | b"\n" | b""))
    }

    /// The next token and the byte range it came from; `Ok(None)` at the end of the
    /// command, `Err` for a malformed one.
    fn next(&mut self) -> Result<Option<(Token, usize, usize)>, String> {
        while self.buf.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
        if self.at_end() {
            return Ok(None);
        }
        let start = self.pos;
        let token = match self.buf[self.pos] {
            b'(' => {
                self.pos += 1;
                Token::Open
            }
            b')' => {
                self.pos += 1;
                Token::Close
            }
            b'"' => {
                self.pos += 1;
                let mut value = Vec::new();
                loop {
                    match self.buf.get(self.pos) {
                        Some(b'"') => break,
                        Some(b'\\') => {
                            let escaped =
                                *self.buf.get(self.pos + 1).ok_or("unterminated string")?;
                            if escaped != b'"' && escaped != b'\\' {
                                return Err("invalid escape in a quoted string".into());
                            }
                            value.push(escaped);
                            self.pos += 2;
                        }
                        Some(b'\r' | b'\n') | None => return Err("unterminated string".into()),
                        Some(&b) => {
                            value.push(b);
                            self.pos += 1;
                        }
                    }
                }
                self.pos += 1;
                Token::Str(value)
            }
            b'{' | b'~' => {
                let open = if self.buf[self.pos] == b'~' { 2 } else { 1 };
                if open == 2 && self.buf.get(self.pos + 1) != Some(&b'{') {
                    return self.atom(start);
                }
                let rest = &self.buf[self.pos + open..];
                let close = rest
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or("unterminated literal")?;
                let spec = &rest[..close];
                let digits = spec
                    .strip_suffix(b"+")
                    .or(spec.strip_suffix(b"-"))
                    .unwrap_or(spec);
                let length: usize = std::str::from_utf8(digits)
                    .ok()
                    .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse().ok())
                    .ok_or("invalid literal length")?;
                let data_start = self.pos + open + close + 1;
                let data_start = if self.buf.get(data_start..data_start + 2) == Some(b"\r\n") {
                    data_start + 2
                } else if self.buf.get(data_start) == Some(&b'\n') {
                    data_start + 1
                } else {
                    return Err("a literal's length must end the line".into());
                };
                let data = self
                    .buf
                    .get(data_start..data_start + length)
                    .ok_or("literal shorter than announced")?;
                self.pos = data_start + length;
                Token::Literal(data.to_vec())
            }
            _ => return self.atom(start),
        };
        Ok(Some((token, start, self.pos)))
    }

    fn atom(&mut self, start: usize) -> Result<Option<(Token, usize, usize)>, String> {
        while let Some(&b) = self.buf.get(self.pos) {
            if matches!(b, b' ' | b'(' | b')' | b'\r' | b'\n' | b'"' | b'{')
                || b < 0x20
                || b == 0x7f
            {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(format!("unexpected {:?}", self.buf[start] as char));
        }
        Ok(Some((
            Token::Atom(self.buf[start..self.pos].to_vec()),
            start,
            self.pos,
        )))
    }

    fn expect(&mut self) -> Result<(Token, usize, usize), String> {
        self.next()?
            .ok_or_else(|| "the command ends too early".to_owned())
    }

    /// A parenthesised list of atoms (after its `(`).
    fn atoms(&mut self) -> Result<Vec<Vec<u8>>, String> {
        let mut out = Vec::new();
        loop {
            match self.expect()?.0 {
                Token::Close => return Ok(out),
                Token::Atom(a) => out.push(a),
                _ => return Err("expected an atom".into()),
            }
        }
    }
}

fn is(word: &[u8], expected: &str) -> bool {
    word.eq_ignore_ascii_case(expected.as_bytes())
}

/// If `command` is one of the forms parsed here, it parsed (or why not); `None` otherwise
/// (the caller's syntax error stands).
pub fn parse(command: &[u8]) -> Option<Result<Extended, Refused>> {
    let space = command.iter().position(|&b| b == b' ')?;
    let tag = std::str::from_utf8(&command[..space]).ok()?.to_owned();
    let rest = &command[space + 1..];
    let name_end = rest
        .iter()
        .position(|&b| b == b' ' || b == b'\r')
        .unwrap_or(rest.len());
    let name = &rest[..name_end];
    let mut lexer = Lexer {
        buf: command,
        pos: space + 1 + name_end,
    };
    let result = if is(name, "LIST") {
        list(&mut lexer).map(|mut l| {
            l.tag = tag.clone();
            Extended::List(l)
        })
    } else if is(name, "CREATE") {
        create(&mut lexer)
    } else if is(name, "APPEND") {
        match append(&mut lexer, &tag) {
            Ok(Some(e)) => Ok(e),
            Ok(None) => return None,
            Err(e) => Err(e),
        }
    } else {
        return None;
    };
    Some(result.map_err(|reason| Refused { tag, reason }))
}

fn list(lx: &mut Lexer<'_>) -> Result<ListExtended, String> {
    let mut select = ListSelect::default();
    let mut first = lx.expect()?;
    if first.0 == Token::Open {
        for option in lx.atoms()? {
            if is(&option, "SUBSCRIBED") {
                select.subscribed = true;
            } else if is(&option, "REMOTE") {
                select.remote = true;
            } else if is(&option, "RECURSIVEMATCH") {
                select.recursive_match = true;
            } else if is(&option, "SPECIAL-USE") {
                select.special_use = true;
            } else {
                // RFC 5258 §3.1: unknown selection options are an error.
                return Err(format!(
                    "Unknown LIST selection option {}",
                    String::from_utf8_lossy(&option)
                ));
            }
        }
        // RFC 5258 §3.1: RECURSIVEMATCH alone (or with only REMOTE) is an error.
        if select.recursive_match && !select.subscribed && !select.special_use {
            return Err("RECURSIVEMATCH needs another selection option".into());
        }
        first = lx.expect()?;
    }
    let reference = match first.0 {
        Token::Atom(a) => a,
        Token::Str(s) | Token::Literal(s) => s,
        _ => return Err("expected a reference name".into()),
    };
    let patterns = match lx.expect()?.0 {
        Token::Atom(a) => vec![a],
        Token::Str(s) | Token::Literal(s) => vec![s],
        Token::Open => {
            let mut patterns = Vec::new();
            loop {
                match lx.expect()?.0 {
                    Token::Close => break,
                    Token::Atom(a) => patterns.push(a),
                    Token::Str(s) | Token::Literal(s) => patterns.push(s),
                    Token::Open => return Err("expected a pattern".into()),
                }
            }
            if patterns.is_empty() {
                return Err("the list of patterns is empty".into());
            }
            patterns
        }
        Token::Close => return Err("expected a pattern".into()),
    };
    let mut returns = ListReturn {
        // RFC 5258 §3.1: SUBSCRIBED selection implies the SUBSCRIBED return option.
        subscribed: select.subscribed,
        ..ListReturn::default()
    };
    if let Some((token, _, _)) = lx.next()? {
        if !matches!(&token, Token::Atom(a) if is(a, "RETURN")) {
            return Err("expected RETURN".into());
        }
        if lx.expect()?.0 != Token::Open {
            return Err("RETURN needs a list of options".into());
        }
        loop {
            match lx.expect()?.0 {
                Token::Close => break,
                Token::Atom(a) if is(&a, "SUBSCRIBED") => returns.subscribed = true,
                Token::Atom(a) if is(&a, "CHILDREN") => returns.children = true,
                Token::Atom(a) if is(&a, "SPECIAL-USE") => returns.special_use = true,
                Token::Atom(a) if is(&a, "STATUS") => {
                    if lx.expect()?.0 != Token::Open {
                        return Err("STATUS needs a list of items".into());
                    }
                    let mut items = Vec::new();
                    for item in lx.atoms()? {
                        items.push(status_item(&item).ok_or_else(|| {
                            format!("Unknown STATUS item {}", String::from_utf8_lossy(&item))
                        })?);
                    }
                    returns.status = Some(items);
                }
                Token::Atom(a) => {
                    return Err(format!(
                        "Unknown LIST return option {}",
                        String::from_utf8_lossy(&a)
                    ))
                }
                _ => return Err("expected a return option".into()),
            }
        }
        if lx.next()?.is_some() {
            return Err("unexpected data after RETURN (…)".into());
        }
    }
    Ok(ListExtended {
        tag: String::new(),
        select,
        reference,
        patterns,
        returns,
    })
}

/// A STATUS item name (RFC 9051 §6.3.11, RFC 8438 SIZE, RFC 7162 HIGHESTMODSEQ).
fn status_item(name: &[u8]) -> Option<StatusDataItemName> {
    use StatusDataItemName as S;
    [
        ("MESSAGES", S::Messages),
        ("RECENT", S::Recent),
        ("UIDNEXT", S::UidNext),
        ("UIDVALIDITY", S::UidValidity),
        ("UNSEEN", S::Unseen),
        ("DELETED", S::Deleted),
        ("SIZE", S::Size),
        ("HIGHESTMODSEQ", S::HighestModSeq),
    ]
    .into_iter()
    .find(|(n, _)| is(name, n))
    .map(|(_, item)| item)
}

/// `CREATE mailbox (USE (\Sent …))`.
fn create(lx: &mut Lexer<'_>) -> Result<Extended, String> {
    let (_, _, name_end) = lx.expect()?;
    let (token, _, _) = lx.next()?.ok_or("expected (USE (…))")?;
    if token != Token::Open {
        return Err("expected (USE (…))".into());
    }
    let mut uses = Vec::new();
    loop {
        match lx.expect()?.0 {
            Token::Close => break,
            Token::Atom(a) if is(&a, "USE") => {
                if lx.expect()?.0 != Token::Open {
                    return Err("USE needs a list of attributes".into());
                }
                for attribute in lx.atoms()? {
                    uses.push(String::from_utf8_lossy(&attribute).into_owned());
                }
            }
            _ => return Err("Unknown CREATE parameter".into()),
        }
    }
    if lx.next()?.is_some() {
        return Err("unexpected data after the CREATE parameters".into());
    }
    let mut plain = lx.buf[..name_end].to_vec();
    plain.extend_from_slice(b"\r\n");
    Ok(Extended::CreateUse { plain, uses })
}

/// `APPEND mailbox [flags] [date] literal [flags] [date] literal …`; `None` for one message
/// (imap-codec's error on it stands).
fn append(lx: &mut Lexer<'_>, tag: &str) -> Result<Option<Extended>, String> {
    let (_, name_start, name_end) = lx.expect()?;
    let mailbox = &lx.buf[name_start..name_end];
    let mut parts = Vec::new();
    while let Some((mut token, message_start, mut end)) = lx.next()? {
        if token == Token::Open {
            loop {
                match lx.expect()?.0 {
                    Token::Close => break,
                    Token::Atom(_) => {}
                    _ => return Err("expected a flag".into()),
                }
            }
            (token, _, end) = lx.expect()?;
        }
        if let Token::Str(_) = token {
            (token, _, end) = lx.expect()?;
        }
        if !matches!(token, Token::Literal(_)) {
            return Err("expected a message literal".into());
        }
        let mut part = format!("{tag} APPEND ").into_bytes();
        part.extend_from_slice(mailbox);
        part.push(b' ');
        part.extend_from_slice(&lx.buf[message_start..end]);
        part.extend_from_slice(b"\r\n");
        parts.push(part);
    }
    if parts.len() < 2 {
        return Ok(None);
    }
    Ok(Some(Extended::MultiAppend {
        tag: tag.to_owned(),
        parts,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes: an answer, never a panic.
        #[test]
        fn arbitrary_commands_do_not_panic(verb in prop::sample::select(vec!["LIST", "CREATE", "APPEND", "list"]), body in prop::collection::vec(any::<u8>(), 0..120)) {
            let mut command = format!("t {verb} ").into_bytes();
            command.extend_from_slice(&body);
            if let Some(Err(refused)) = parse(&command) {
                prop_assert_eq!(refused.tag, "t");
            }
        }

        /// A LIST made of random names and options parses back to them.
        #[test]
        fn generated_lists_parse_back(names in prop::collection::vec("[A-Za-z0-9%*.]{1,12}", 1..5), subscribed in any::<bool>(), children in any::<bool>()) {
            let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
            let select = if subscribed { "(SUBSCRIBED) " } else { "() " };
            let returns = if children { " RETURN (CHILDREN)" } else { "" };
            let command = format!("t LIST {select}\"\" ({}){returns}\r\n", quoted.join(" "));
            let Some(Ok(Extended::List(list))) = parse(command.as_bytes()) else {
                return Err(TestCaseError::fail(command));
            };
            let patterns: Vec<Vec<u8>> = names.iter().map(|n| n.as_bytes().to_vec()).collect();
            prop_assert_eq!(list.patterns, patterns);
            prop_assert_eq!(list.select.subscribed, subscribed);
            prop_assert_eq!(list.returns.children, children);
            prop_assert_eq!(list.returns.subscribed, subscribed);
        }
    }

    fn ok(input: &str) -> Extended {
        parse(input.as_bytes()).unwrap().unwrap()
    }

    fn list_of(input: &str) -> ListExtended {
        match ok(input) {
            Extended::List(l) => l,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn extended_list_options_and_patterns() {
        let l = list_of("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"INBOX\" %.x {3}\r\nA.*) RETURN (CHILDREN STATUS (MESSAGES UNSEEN SIZE))\r\n");
        assert_eq!(l.tag, "a");
        assert!(l.select.subscribed && l.select.recursive_match && !l.select.special_use);
        assert_eq!(l.reference, b"");
        assert_eq!(
            l.patterns,
            [b"INBOX".to_vec(), b"%.x".to_vec(), b"A.*".to_vec()]
        );
        assert!(l.returns.subscribed && l.returns.children && !l.returns.special_use);
        assert_eq!(
            l.returns.status,
            Some(vec![
                StatusDataItemName::Messages,
                StatusDataItemName::Unseen,
                StatusDataItemName::Size
            ])
        );
        let l = list_of("b list \"\" \"*\" return (special-use)\r\n");
        assert!(l.returns.special_use && !l.returns.subscribed && l.returns.status.is_none());
        let l = list_of("c LIST (SPECIAL-USE) \"\" *\r\n");
        assert!(l.select.special_use);
        let l = list_of("c LIST () \"\" * RETURN ()\r\n");
        assert_eq!(l.select, ListSelect::default());
        for bad in [
            "d LIST (RECURSIVEMATCH) \"\" *\r\n",
            "d LIST (BOGUS) \"\" *\r\n",
            "d LIST \"\" * RETURN (BOGUS)\r\n",
            "d LIST \"\" * RETURN (STATUS (NOPE))\r\n",
            "d LIST \"\" () \r\n",
            "d LIST \"\" * RETURN\r\n",
            "d LIST \"\" * EXTRA (X)\r\n",
            "d LIST \"\" \"*\r\n",
            "d LIST \"\" {9}\r\nshort\r\n",
            "d LIST \"\"\r\n",
        ] {
            let refused = parse(bad.as_bytes()).unwrap().unwrap_err();
            assert_eq!(refused.tag, "d", "{bad}");
        }
        assert!(parse(b"e FETCH 1 (FLAGS)\r\n").is_none());
        assert!(parse(b"").is_none());
    }

    #[test]
    fn create_with_uses() {
        match ok("a CREATE \"My Sent\" (USE (\\Sent))\r\n") {
            Extended::CreateUse { plain, uses } => {
                assert_eq!(plain, b"a CREATE \"My Sent\"\r\n");
                assert_eq!(uses, ["\\Sent"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(b"a CREATE x (FOO)\r\n").unwrap().is_err());
        assert!(parse(b"a CREATE x (USE (\\Sent)) y\r\n").unwrap().is_err());
    }

    #[test]
    fn multiappend_is_cut_into_single_appends() {
        match ok("t APPEND Drafts (\\Seen) \"05-Dec-2026 10:00:00 +0000\" {2+}\r\nhi (\\Draft $X) {3}\r\nabc ~{1}\r\nz\r\n") {
            Extended::MultiAppend { tag, parts } => {
                assert_eq!(tag, "t");
                assert_eq!(
                    parts,
                    [
                        b"t APPEND Drafts (\\Seen) \"05-Dec-2026 10:00:00 +0000\" {2+}\r\nhi\r\n".to_vec(),
                        b"t APPEND Drafts (\\Draft $X) {3}\r\nabc\r\n".to_vec(),
                        b"t APPEND Drafts ~{1}\r\nz\r\n".to_vec(),
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        // One message is imap-codec's to judge.
        assert!(parse(b"t APPEND x {2}\r\nhi junk\r\n").unwrap().is_err());
        assert!(parse(b"t APPEND x {2}\r\nhi\r\n").is_none());
        assert!(parse(b"t APPEND x {2}\r\nhi (\\Seen)\r\n")
            .unwrap()
            .is_err());
    }
}
