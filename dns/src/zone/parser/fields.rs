//! An entry's fields, consumed in order, and the presentation formats RDATA types share:
//! domain names, decimal numbers, addresses, `<character-string>`s and `\X`/`\DDD` escapes.

use std::str::FromStr;

use hickory_proto::rr::Name;

use super::lexer::Token;
use super::{
    MAX_CHARACTER_STRING, MAX_LABEL_BYTES, MAX_NAME_BYTES, MAX_RDATA_BYTES, MAX_SHOWN_BYTES,
};

/// The fields of an entry, consumed in order.
#[derive(Debug)]
pub(super) struct Fields<'t, 'a> {
    tokens: std::slice::Iter<'t, Token<'a>>,
}

impl<'t, 'a> Fields<'t, 'a> {
    pub(super) fn new(tokens: &'t [Token<'a>]) -> Self {
        Fields {
            tokens: tokens.iter(),
        }
    }

    pub(super) fn next_opt(&mut self) -> Option<&'t Token<'a>> {
        self.tokens.next()
    }

    pub(super) fn next(&mut self, what: &str) -> Result<&'t Token<'a>, String> {
        self.tokens.next().ok_or_else(|| format!("missing {what}"))
    }

    /// The next field, which must not be a quoted string.
    pub(super) fn word(&mut self, what: &str) -> Result<&'a [u8], String> {
        let token = self.next(what)?;
        if token.quoted {
            return Err(format!("{what} must not be quoted"));
        }
        Ok(token.text)
    }

    pub(super) fn number<T: FromStr>(&mut self, what: &str) -> Result<T, String> {
        parse_number(self.word(what)?, what)
    }

    pub(super) fn name(&mut self, what: &str, origin: &Name) -> Result<Name, String> {
        parse_name(self.next(what)?, origin)
    }

    pub(super) fn character_string(&mut self, what: &str) -> Result<Vec<u8>, String> {
        character_string(self.next(what)?)
    }

    /// All remaining fields as hex (RFC 3597 §5 and the binary fields of SSHFP and TLSA allow
    /// whitespace between the digits).
    pub(super) fn hex(&mut self) -> Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        let mut high: Option<u8> = None;
        for token in self.tokens.by_ref() {
            if token.quoted {
                return Err("hex data must not be quoted".to_owned());
            }
            for &c in token.text {
                let nibble = match c {
                    b'0'..=b'9' => c - b'0',
                    b'a'..=b'f' => c - b'a' + 10,
                    b'A'..=b'F' => c - b'A' + 10,
                    _ => return Err(format!("bad hex data '{}'", show(token.text))),
                };
                match high.take() {
                    Some(h) => bytes.push(h << 4 | nibble),
                    None => high = Some(nibble),
                }
            }
            if bytes.len() > MAX_RDATA_BYTES {
                return Err(format!("RDATA longer than {MAX_RDATA_BYTES} bytes"));
            }
        }
        if high.is_some() {
            return Err("odd number of hex digits".to_owned());
        }
        Ok(bytes)
    }

    pub(super) fn has_more(&self) -> bool {
        self.tokens.len() > 0
    }

    pub(super) fn finish(mut self) -> Result<(), String> {
        match self.tokens.next() {
            None => Ok(()),
            Some(extra) => Err(format!("unexpected '{}' after the data", show(extra.text))),
        }
    }
}

/// A domain name field: `@`, a relative name (the origin is appended) or an absolute one, with
/// `\X` and `\DDD` escapes (RFC 1035 §5.1). Case is kept.
pub(super) fn parse_name(token: &Token<'_>, origin: &Name) -> Result<Name, String> {
    if token.quoted {
        return Err(format!(
            "domain name must not be quoted: \"{}\"",
            show(token.text)
        ));
    }
    let text = token.text;
    if text == b"@" {
        return Ok(origin.clone());
    }
    let shown = || show(text);
    let mut labels: Vec<Vec<u8>> = Vec::new();
    let mut label = Vec::new();
    let mut absolute = false;
    if text != b"." {
        let mut i = 0;
        while let Some(&b) = text.get(i) {
            match b {
                b'\\' => {
                    let (byte, used) = escape(text.get(i + 1..).unwrap_or_default())?;
                    label.push(byte);
                    i += 1 + used;
                }
                b'.' => {
                    if label.is_empty() {
                        return Err(format!("empty label in name '{}'", shown()));
                    }
                    labels.push(std::mem::take(&mut label));
                    i += 1;
                    absolute = i == text.len();
                }
                _ => {
                    label.push(b);
                    i += 1;
                }
            }
            if label.len() > MAX_LABEL_BYTES {
                return Err(format!(
                    "label longer than {MAX_LABEL_BYTES} bytes in name '{}'",
                    shown()
                ));
            }
        }
        if !label.is_empty() {
            labels.push(label);
        }
    } else {
        absolute = true;
    }
    let suffix: Vec<&[u8]> = if absolute {
        Vec::new()
    } else {
        origin.iter().collect()
    };
    let wire = labels.iter().map(|l| l.len() + 1).sum::<usize>()
        + suffix.iter().map(|l| l.len() + 1).sum::<usize>()
        + 1;
    if wire > MAX_NAME_BYTES {
        return Err(format!(
            "name '{}' longer than {MAX_NAME_BYTES} bytes",
            shown()
        ));
    }
    let all = labels.iter().map(Vec::as_slice).chain(suffix);
    Name::from_labels(all).map_err(|e| format!("bad name '{}': {e}", shown()))
}

/// A decimal number: digits only (no sign, no spaces).
fn parse_number<T: FromStr>(text: &[u8], what: &str) -> Result<T, String> {
    let bad = || format!("bad {what} '{}'", show(text));
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)
}

pub(super) fn parse_address<T: FromStr>(text: &[u8], family: &str) -> Result<T, String> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad {family} address '{}'", show(text)))
}

/// A `<character-string>` (quoted or a bare word), escapes decoded, at most 255 bytes.
fn character_string(token: &Token<'_>) -> Result<Vec<u8>, String> {
    let bytes = unescape(token.text)?;
    if bytes.len() > MAX_CHARACTER_STRING {
        return Err(format!(
            "string longer than {MAX_CHARACTER_STRING} bytes: \"{}\"",
            show(token.text)
        ));
    }
    Ok(bytes)
}

/// Decodes `\X` (X itself) and `\DDD` (the byte with decimal value DDD).
pub(super) fn unescape(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        if b == b'\\' {
            let (byte, used) = escape(text.get(i + 1..).unwrap_or_default())?;
            out.push(byte);
            i += 1 + used;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

/// The byte an escape stands for, given what follows the backslash, and how many bytes it used.
fn escape(rest: &[u8]) -> Result<(u8, usize), String> {
    match rest {
        [] => Err("backslash at the end of a field".to_owned()),
        [d0, ..] if d0.is_ascii_digit() => match rest {
            [d0, d1, d2, ..] if d1.is_ascii_digit() && d2.is_ascii_digit() => {
                let value =
                    u32::from(d0 - b'0') * 100 + u32::from(d1 - b'0') * 10 + u32::from(d2 - b'0');
                let byte = u8::try_from(value)
                    .map_err(|_| format!("escape \\{value} is more than 255"))?;
                Ok((byte, 3))
            }
            _ => Err("\\DDD escape needs exactly three digits".to_owned()),
        },
        [b, ..] => Ok((*b, 1)),
    }
}

pub(super) fn upper(text: &[u8]) -> String {
    String::from_utf8_lossy(text).to_ascii_uppercase()
}

/// A token for an error message, cut short.
pub(super) fn show(text: &[u8]) -> String {
    let cut = text.get(..MAX_SHOWN_BYTES).unwrap_or(text);
    let mut shown = String::from_utf8_lossy(cut).into_owned();
    if cut.len() < text.len() {
        shown.push('…');
    }
    shown
}
