//! SMTP commands (RFC 5321 §4.1) with the ESMTP parameters this implementation knows
//! (SIZE RFC 1870, BODY RFC 6152/3030, SMTPUTF8 RFC 6531, AUTH RFC 4954). A hand-written
//! byte parser: the grammar is small, and owning it lets every error map to its own reply code
//! and every path be fuzzed.

use std::fmt;

/// Longest command line without CRLF (RFC 5321 §4.5.3.1.4: 512 octets with CRLF; we allow
/// the extra room RFC 1870/4954 parameters need, as Postfix does with 2048).
pub const MAX_COMMAND_LINE: usize = 2048;
/// Longest path between `<` and `>` (RFC 5321 §4.5.3.1.3: 256 octets).
pub const MAX_PATH: usize = 256;

/// A mailbox: `local@domain`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The local part as sent (dot-string, or a quoted string with its quotes).
    pub local: String,
    /// The domain, or an address literal with its brackets.
    pub domain: String,
}

impl Mailbox {
    /// Whether either part has non-ASCII characters (needs SMTPUTF8, RFC 6531 §3.3).
    pub fn is_utf8(&self) -> bool {
        !self.local.is_ascii() || !self.domain.is_ascii()
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// BODY= values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// 7BIT (the default).
    SevenBit,
    /// 8BITMIME (RFC 6152).
    EightBitMime,
    /// BINARYMIME (RFC 3030; only with BDAT).
    BinaryMime,
}

/// Parameters of MAIL FROM.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailParams {
    /// SIZE= (RFC 1870).
    pub size: Option<u64>,
    /// BODY=.
    pub body: Option<Body>,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// AUTH= (RFC 4954 §5), `None` when absent; `Some(None)` for `AUTH=<>`.
    pub auth: Option<Option<String>>,
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// EHLO domain
    Ehlo(String),
    /// HELO domain
    Helo(String),
    /// MAIL FROM:<path> params (`None` path is the null sender `<>`)
    Mail {
        /// The reverse path.
        from: Option<Mailbox>,
        /// Parameters.
        params: MailParams,
    },
    /// RCPT TO:<path>
    Rcpt {
        /// The forward path (`<Postmaster>` without a domain becomes domain "").
        to: Mailbox,
    },
    /// DATA
    Data,
    /// BDAT size [LAST] (RFC 3030)
    Bdat {
        /// Chunk size in octets.
        size: u64,
        /// LAST given.
        last: bool,
    },
    /// RSET
    Rset,
    /// NOOP [string]
    Noop,
    /// QUIT
    Quit,
    /// VRFY string
    Vrfy(String),
    /// EXPN string
    Expn(String),
    /// HELP [topic]
    Help,
    /// STARTTLS (RFC 3207)
    StartTls,
    /// AUTH mechanism [initial-response] (RFC 4954)
    Auth {
        /// The mechanism, upper-cased.
        mechanism: String,
        /// The initial response (base64, or `=` for empty).
        initial: Option<String>,
    },
}

/// Why a command line was not understood; each maps to one reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Not a command we know (500 5.5.1).
    #[error("command unrecognized")]
    Unknown,
    /// Arguments wrong (501 5.5.4).
    #[error("syntax error in parameters or arguments: {0}")]
    Syntax(&'static str),
    /// MAIL FROM path not a valid address (501 5.1.7).
    #[error("bad sender address syntax")]
    BadSender,
    /// RCPT TO path not a valid address (501 5.1.3).
    #[error("bad recipient address syntax")]
    BadRecipient,
    /// An ESMTP parameter we do not implement (555 5.5.4).
    #[error("parameter not recognized: {0}")]
    UnknownParameter(String),
    /// Non-ASCII in the line without SMTPUTF8 (553 5.6.7, RFC 6531 §3.6.2 uses 5.6.7).
    #[error("non-ASCII address without SMTPUTF8")]
    NeedsSmtpUtf8,
}

fn split_verb(line: &str) -> (&str, &str) {
    match line.find(' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    }
}

impl Command {
    /// Parse one command line (without CRLF).
    pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
        let line = std::str::from_utf8(line).map_err(|_| CommandError::Syntax("not UTF-8"))?;
        if line.bytes().any(|b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(CommandError::Syntax("control characters in command"));
        }
        let (verb, rest) = split_verb(line.trim_end_matches(' '));
        let verb = verb.to_ascii_uppercase();
        let arg = rest.trim();
        let no_args = |c: Command| {
            if arg.is_empty() {
                Ok(c)
            } else {
                Err(CommandError::Syntax("this command takes no arguments"))
            }
        };
        match verb.as_str() {
            "EHLO" | "HELO" => {
                // RFC 5321 §4.1.1.1: EHLO domain / address-literal. Anything after the first
                // word is ignored, as Postfix does, but something is required.
                if arg.is_empty() {
                    return Err(CommandError::Syntax("EHLO/HELO needs a domain"));
                }
                let domain = arg.split(' ').next().unwrap_or(arg).to_owned();
                Ok(if verb == "EHLO" {
                    Command::Ehlo(domain)
                } else {
                    Command::Helo(domain)
                })
            }
            "MAIL" => parse_mail(rest),
            "RCPT" => parse_rcpt(rest),
            "DATA" => no_args(Command::Data),
            "RSET" => no_args(Command::Rset),
            "QUIT" => no_args(Command::Quit),
            "STARTTLS" => no_args(Command::StartTls),
            "NOOP" => Ok(Command::Noop),
            "HELP" => Ok(Command::Help),
            "VRFY" if !arg.is_empty() => Ok(Command::Vrfy(arg.to_owned())),
            "EXPN" if !arg.is_empty() => Ok(Command::Expn(arg.to_owned())),
            "VRFY" | "EXPN" => Err(CommandError::Syntax("an argument is required")),
            "BDAT" => parse_bdat(arg),
            "AUTH" => {
                let mut words = arg.split(' ').filter(|w| !w.is_empty());
                let mechanism = words
                    .next()
                    .ok_or(CommandError::Syntax("AUTH needs a mechanism"))?
                    .to_ascii_uppercase();
                let initial = words.next().map(str::to_owned);
                if words.next().is_some() {
                    return Err(CommandError::Syntax("too many AUTH arguments"));
                }
                Ok(Command::Auth { mechanism, initial })
            }
            _ => Err(CommandError::Unknown),
        }
    }
}

fn parse_bdat(arg: &str) -> Result<Command, CommandError> {
    let mut words = arg.split(' ').filter(|w| !w.is_empty());
    let size = words
        .next()
        .filter(|w| w.bytes().all(|b| b.is_ascii_digit()) && w.len() <= 18)
        .and_then(|w| w.parse().ok())
        .ok_or(CommandError::Syntax("BDAT needs a chunk size"))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(CommandError::Syntax("BDAT size [LAST]")),
    };
    if words.next().is_some() {
        return Err(CommandError::Syntax("BDAT size [LAST]"));
    }
    Ok(Command::Bdat { size, last })
}

/// `FROM:` / `TO:` followed by a path (spaces after the colon tolerated, as Postfix does).
fn after_keyword<'a>(rest: &'a str, keyword: &str) -> Option<&'a str> {
    let head = rest.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    Some(rest[keyword.len()..].trim_start_matches(' '))
}

/// Split `<path> params` into the path (without brackets) and the parameter text.
fn split_path(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('<')?;
    // A quoted local part may contain '>', so find the closing bracket outside quotes.
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '>' if !in_quote => return Some((&inner[..i], &inner[i + 1..])),
            _ => {}
        }
    }
    None
}

fn parse_mail(rest: &str) -> Result<Command, CommandError> {
    let after =
        after_keyword(rest, "FROM:").ok_or(CommandError::Syntax("expected MAIL FROM:<address>"))?;
    let (path, params) = split_path(after).ok_or(CommandError::BadSender)?;
    if path.len() > MAX_PATH {
        return Err(CommandError::BadSender);
    }
    let mut mail = MailParams::default();
    for param in params.split(' ').filter(|p| !p.is_empty()) {
        let (key, value) = match param.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (param, None),
        };
        match (key.to_ascii_uppercase().as_str(), value) {
            ("SIZE", Some(v)) => {
                let size = v
                    .parse::<u64>()
                    .map_err(|_| CommandError::Syntax("SIZE=number"))?;
                mail.size = Some(size);
            }
            ("BODY", Some(v)) => {
                mail.body = Some(match v.to_ascii_uppercase().as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    "BINARYMIME" => Body::BinaryMime,
                    _ => return Err(CommandError::Syntax("BODY=7BIT|8BITMIME|BINARYMIME")),
                });
            }
            ("SMTPUTF8", None) => mail.smtputf8 = true,
            ("AUTH", Some(v)) => {
                mail.auth = Some(if v == "<>" {
                    None
                } else {
                    Some(xtext_decode(v))
                });
            }
            _ => return Err(CommandError::UnknownParameter(key.to_owned())),
        }
    }
    let from = if path.is_empty() {
        None
    } else {
        let mailbox = parse_mailbox(path).ok_or(CommandError::BadSender)?;
        if mailbox.is_utf8() && !mail.smtputf8 {
            return Err(CommandError::NeedsSmtpUtf8);
        }
        Some(mailbox)
    };
    Ok(Command::Mail { from, params: mail })
}

fn parse_rcpt(rest: &str) -> Result<Command, CommandError> {
    let after =
        after_keyword(rest, "TO:").ok_or(CommandError::Syntax("expected RCPT TO:<address>"))?;
    let (path, params) = split_path(after).ok_or(CommandError::BadRecipient)?;
    if path.len() > MAX_PATH {
        return Err(CommandError::BadRecipient);
    }
    if let Some(param) = params.split(' ').find(|p| !p.is_empty()) {
        let key = param.split('=').next().unwrap_or(param);
        return Err(CommandError::UnknownParameter(key.to_owned()));
    }
    // RFC 5321 §4.1.1.3: "<Postmaster>" without a domain must be accepted.
    if path.eq_ignore_ascii_case("postmaster") {
        return Ok(Command::Rcpt {
            to: Mailbox {
                local: "postmaster".into(),
                domain: String::new(),
            },
        });
    }
    let to = parse_mailbox(path).ok_or(CommandError::BadRecipient)?;
    Ok(Command::Rcpt { to })
}

/// RFC 3461 §4 xtext: `+XX` hex escapes.
fn xtext_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'+' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// `[@route,@route:]local@domain` → the mailbox (source routes are ignored, RFC 5321 §4.1.2).
pub fn parse_mailbox(path: &str) -> Option<Mailbox> {
    let path = if path.starts_with('@') {
        path.split_once(':')?.1
    } else {
        path
    };
    let (local, domain) = if path.starts_with('"') {
        // Quoted-string: find its end.
        let mut escaped = false;
        let mut end = None;
        for (i, c) in path.char_indices().skip(1) {
            match c {
                _ if escaped => {
                    if !(' '..='~').contains(&c) {
                        return None;
                    }
                    escaped = false;
                }
                '\\' => escaped = true,
                '"' => {
                    end = Some(i);
                    break;
                }
                c if (c as u32) < 32 || c == '\u{7f}' => return None,
                _ => {}
            }
        }
        let end = end?;
        let rest = path[end + 1..].strip_prefix('@')?;
        (&path[..=end], rest)
    } else {
        let (local, domain) = path.rsplit_once('@')?;
        if local.is_empty()
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || !local.chars().all(|c| c == '.' || is_atext(c))
        {
            return None;
        }
        (local, domain)
    };
    if !valid_domain(domain) {
        return None;
    }
    Some(Mailbox {
        local: local.to_owned(),
        domain: domain.to_owned(),
    })
}

/// A domain name (LDH labels, or UTF-8 U-labels for SMTPUTF8) or an address literal.
pub fn valid_domain(domain: &str) -> bool {
    if let Some(literal) = domain.strip_prefix('[') {
        let Some(inner) = literal.strip_suffix(']') else {
            return false;
        };
        return match inner.strip_prefix("IPv6:") {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => inner.parse::<std::net::Ipv4Addr>().is_ok(),
        };
    }
    !domain.is_empty()
        && domain.len() <= 255
        && domain.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, CommandError> {
        Command::parse(s.as_bytes())
    }

    fn mb(local: &str, domain: &str) -> Mailbox {
        Mailbox {
            local: local.into(),
            domain: domain.into(),
        }
    }

    #[test]
    fn greetings_and_simple_verbs() {
        assert_eq!(
            p("EHLO client.example"),
            Ok(Command::Ehlo("client.example".into()))
        );
        assert_eq!(
            p("helo [192.0.2.1]"),
            Ok(Command::Helo("[192.0.2.1]".into()))
        );
        assert!(p("EHLO").is_err());
        assert_eq!(p("data"), Ok(Command::Data));
        assert!(matches!(p("DATA x"), Err(CommandError::Syntax(_))));
        assert_eq!(p("NOOP anything"), Ok(Command::Noop));
        assert_eq!(p("QUIT"), Ok(Command::Quit));
        assert_eq!(p("STARTTLS"), Ok(Command::StartTls));
        assert_eq!(p("FROB"), Err(CommandError::Unknown));
        assert_eq!(p(""), Err(CommandError::Unknown));
        assert_eq!(p("VRFY alice"), Ok(Command::Vrfy("alice".into())));
    }

    #[test]
    fn mail_from() {
        assert_eq!(
            p("MAIL FROM:<alice@example.test>"),
            Ok(Command::Mail {
                from: Some(mb("alice", "example.test")),
                params: MailParams::default()
            })
        );
        assert_eq!(
            p("mail from: <> SIZE=1000 BODY=8BITMIME"),
            Ok(Command::Mail {
                from: None,
                params: MailParams {
                    size: Some(1000),
                    body: Some(Body::EightBitMime),
                    ..Default::default()
                }
            })
        );
        assert_eq!(
            p("MAIL FROM:<@relay.example:bob@example.test> AUTH=<>"),
            Ok(Command::Mail {
                from: Some(mb("bob", "example.test")),
                params: MailParams {
                    auth: Some(None),
                    ..Default::default()
                }
            })
        );
        assert_eq!(
            p("MAIL FROM:<\"odd > name\"@example.test>").map(|c| match c {
                Command::Mail { from, .. } => from,
                _ => None,
            }),
            Ok(Some(mb("\"odd > name\"", "example.test")))
        );
        assert_eq!(
            p("MAIL FROM:alice@example.test"),
            Err(CommandError::BadSender)
        );
        assert_eq!(
            p("MAIL FROM:<a..b@example.test>"),
            Err(CommandError::BadSender)
        );
        assert_eq!(p("MAIL FROM:<a@-bad-.test>"), Err(CommandError::BadSender));
        assert_eq!(
            p("MAIL FROM:<a@b> RET=FULL"),
            Err(CommandError::UnknownParameter("RET".into()))
        );
        assert!(matches!(
            p("MAIL FROM:<a@b> SIZE=big"),
            Err(CommandError::Syntax(_))
        ));
        assert!(matches!(p("MAIL TO:<a@b>"), Err(CommandError::Syntax(_))));
        assert_eq!(
            p("MAIL FROM:<jörg@example.test>"),
            Err(CommandError::NeedsSmtpUtf8)
        );
        assert!(p("MAIL FROM:<jörg@exämple.test> SMTPUTF8").is_ok());
        let long = format!("MAIL FROM:<{}@example.test>", "a".repeat(300));
        assert_eq!(p(&long), Err(CommandError::BadSender));
    }

    #[test]
    fn rcpt_to() {
        assert_eq!(
            p("RCPT TO:<bob@[192.0.2.7]>"),
            Ok(Command::Rcpt {
                to: mb("bob", "[192.0.2.7]")
            })
        );
        assert_eq!(
            p("RCPT TO:<Postmaster>"),
            Ok(Command::Rcpt {
                to: mb("postmaster", "")
            })
        );
        assert_eq!(
            p("RCPT TO:<bob@[999.1.1.1]>"),
            Err(CommandError::BadRecipient)
        );
        assert_eq!(p("RCPT TO:<>"), Err(CommandError::BadRecipient));
        assert_eq!(
            p("RCPT TO:<a@b.c> NOTIFY=NEVER"),
            Err(CommandError::UnknownParameter("NOTIFY".into()))
        );
        assert!(p("RCPT TO:<x@[IPv6:2001:db8::1]>").is_ok());
    }

    #[test]
    fn bdat_and_auth() {
        assert_eq!(
            p("BDAT 100 LAST"),
            Ok(Command::Bdat {
                size: 100,
                last: true
            })
        );
        assert_eq!(
            p("BDAT 0"),
            Ok(Command::Bdat {
                size: 0,
                last: false
            })
        );
        assert!(p("BDAT").is_err());
        assert!(p("BDAT -1").is_err());
        assert!(p("BDAT 1 FIRST").is_err());
        assert!(p("BDAT 99999999999999999999").is_err());
        assert_eq!(
            p("AUTH plain AGFsaWNlAHB3"),
            Ok(Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGFsaWNlAHB3".into())
            })
        );
        assert_eq!(
            p("AUTH LOGIN"),
            Ok(Command::Auth {
                mechanism: "LOGIN".into(),
                initial: None
            })
        );
        assert!(p("AUTH").is_err());
    }

    #[test]
    fn xtext() {
        assert_eq!(xtext_decode("a+2Bb"), "a+b");
        assert_eq!(xtext_decode("trailing+"), "trailing+");
        assert_eq!(xtext_decode("bad+ZZ"), "bad+ZZ");
    }
}
