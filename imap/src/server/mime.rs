//! ENVELOPE, BODY/BODYSTRUCTURE and MIME part sections (RFC 9051 §6.4.5, §7.5.2) from
//! mail-parser's parse of a message — no MIME parser of our own. String fields are the raw
//! header text where the RFC asks for it (date, subject, message ids), unfolded; a non-ASCII
//! value goes to a client that has not enabled UTF-8 as an RFC 2047 encoded word.

use mail_parser::{
    Address, GetHeader, HeaderName, HeaderValue, Message, MessageParser, MimeHeaders, PartType,
};

use super::response::quoted;

/// Parse a message (`None` only for input mail-parser cannot make anything of).
pub fn parse(raw: &[u8]) -> Option<Message<'_>> {
    MessageParser::default().parse(raw)
}

/// An `nstring`: NIL, or the value quoted (encoded for a client without UTF-8).
fn nstring(value: Option<&str>, utf8: bool) -> String {
    match value {
        None => "NIL".to_owned(),
        Some(v) if v.is_ascii() || utf8 => quoted(v),
        Some(v) => quoted(&encoded_word(v)),
    }
}

/// RFC 2047 `=?UTF-8?B?…?=`.
fn encoded_word(v: &str) -> String {
    use base64::Engine as _;
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
    )
}

/// A raw header value, unfolded and trimmed.
fn raw_header(msg: &Message<'_>, name: HeaderName<'static>) -> Option<String> {
    let raw = msg.header_raw(name)?;
    let unfolded = raw.replace("\r\n", "").replace('\n', "");
    Some(unfolded.trim().to_owned())
}

fn address_list(value: Option<&HeaderValue<'_>>, utf8: bool) -> String {
    let Some(HeaderValue::Address(addr)) = value else {
        return "NIL".to_owned();
    };
    let one = |name: Option<&str>, address: Option<&str>| {
        let address = address.unwrap_or("");
        let (mailbox, host) = match address.rsplit_once('@') {
            Some((m, h)) => (m, h),
            None if address.is_empty() => ("MISSING_MAILBOX", "MISSING_DOMAIN"),
            None => (address, "MISSING_DOMAIN"),
        };
        format!(
            "({} NIL {} {})",
            nstring(name, utf8),
            nstring(Some(mailbox), utf8),
            nstring(Some(host), utf8)
        )
    };
    let mut out = String::new();
    match addr {
        Address::List(list) => {
            for a in list {
                out.push_str(&one(a.name.as_deref(), a.address.as_deref()));
            }
        }
        Address::Group(groups) => {
            for g in groups {
                match &g.name {
                    // RFC 9051 §7.5.2: a group is its start marker, its members, its end.
                    Some(name) => {
                        out.push_str(&format!("(NIL NIL {} NIL)", nstring(Some(name), utf8)));
                        for a in &g.addresses {
                            out.push_str(&one(a.name.as_deref(), a.address.as_deref()));
                        }
                        out.push_str("(NIL NIL NIL NIL)");
                    }
                    None => {
                        for a in &g.addresses {
                            out.push_str(&one(a.name.as_deref(), a.address.as_deref()));
                        }
                    }
                }
            }
        }
    }
    if out.is_empty() {
        "NIL".to_owned()
    } else {
        format!("({out})")
    }
}

/// The ENVELOPE of a message.
pub fn envelope(msg: &Message<'_>, utf8: bool) -> String {
    let header = |name: HeaderName<'static>| msg.root_part().headers.header_value(&name);
    let from = address_list(header(HeaderName::From), utf8);
    // RFC 9051 §7.5.2: sender and reply-to default to from.
    let or_from = |list: String| if list == "NIL" { from.clone() } else { list };
    let subject = match raw_header(msg, HeaderName::Subject) {
        Some(raw) if raw.is_ascii() || utf8 => Some(raw),
        Some(_) => msg.subject().map(encoded_word),
        None => None,
    };
    format!(
        "({} {} {} {} {} {} {} {} {} {})",
        nstring(raw_header(msg, HeaderName::Date).as_deref(), utf8),
        subject.map_or_else(|| "NIL".to_owned(), |s| quoted(&s)),
        from,
        or_from(address_list(header(HeaderName::Sender), utf8)),
        or_from(address_list(header(HeaderName::ReplyTo), utf8)),
        address_list(header(HeaderName::To), utf8),
        address_list(header(HeaderName::Cc), utf8),
        address_list(header(HeaderName::Bcc), utf8),
        nstring(raw_header(msg, HeaderName::InReplyTo).as_deref(), utf8),
        nstring(raw_header(msg, HeaderName::MessageId).as_deref(), utf8),
    )
}

fn params(attrs: Option<&[mail_parser::Attribute<'_>]>, utf8: bool) -> String {
    match attrs {
        Some(attrs) if !attrs.is_empty() => format!(
            "({})",
            attrs
                .iter()
                .map(|a| format!(
                    "{} {}",
                    quoted(&a.name.to_ascii_uppercase()),
                    nstring(Some(&a.value), utf8)
                ))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        _ => "NIL".to_owned(),
    }
}

/// BODYSTRUCTURE (`extended`) or BODY of `msg`.
pub fn bodystructure(msg: &Message<'_>, extended: bool, utf8: bool) -> String {
    part_structure(msg, 0, extended, utf8)
}

fn part_structure(msg: &Message<'_>, id: u32, extended: bool, utf8: bool) -> String {
    let Some(part) = msg.part(id) else {
        return "NIL".to_owned();
    };
    let ct = part.content_type();
    let disposition = || match part.content_disposition() {
        Some(d) => format!(
            "({} {})",
            quoted(&d.ctype().to_ascii_uppercase()),
            params(d.attributes(), utf8)
        ),
        None => "NIL".to_owned(),
    };
    let language = || match part.content_language() {
        HeaderValue::Text(t) => quoted(t),
        HeaderValue::TextList(list) if !list.is_empty() => format!(
            "({})",
            list.iter().map(|l| quoted(l)).collect::<Vec<_>>().join(" ")
        ),
        _ => "NIL".to_owned(),
    };
    let location = || nstring(part.content_location(), utf8);
    if let PartType::Multipart(children) = &part.body {
        let mut out = String::from("(");
        for child in children {
            out.push_str(&part_structure(msg, *child, extended, utf8));
        }
        let subtype = ct.and_then(|c| c.subtype()).unwrap_or("mixed");
        out.push(' ');
        out.push_str(&quoted(&subtype.to_ascii_uppercase()));
        if extended {
            out.push_str(&format!(
                " {} {} {} {}",
                params(ct.and_then(|c| c.attributes()), utf8),
                disposition(),
                language(),
                location()
            ));
        }
        out.push(')');
        return out;
    }
    let (ctype, subtype) = match ct {
        Some(c) => (
            c.ctype().to_ascii_uppercase(),
            c.subtype().unwrap_or("").to_ascii_uppercase(),
        ),
        None => ("TEXT".to_owned(), "PLAIN".to_owned()),
    };
    let body_params = match ct.and_then(|c| c.attributes()) {
        Some(a) if !a.is_empty() => params(Some(a), utf8),
        _ if ctype == "TEXT" => "(\"CHARSET\" \"US-ASCII\")".to_owned(),
        _ => "NIL".to_owned(),
    };
    let raw = &msg.raw_message[part.raw_body_offset() as usize..part.raw_end_offset() as usize];
    let lines = raw.iter().filter(|&&b| b == b'\n').count();
    let encoding = part
        .content_transfer_encoding()
        .unwrap_or("7BIT")
        .to_ascii_uppercase();
    let mut out = format!(
        "({} {} {} {} {} {} {}",
        quoted(&ctype),
        quoted(&subtype),
        body_params,
        nstring(part.content_id(), utf8),
        nstring(part.content_description(), utf8),
        quoted(&encoding),
        raw.len()
    );
    if let PartType::Message(nested) = &part.body {
        out.push_str(&format!(
            " {} {} {lines}",
            envelope(nested, utf8),
            part_structure(nested, 0, extended, utf8)
        ));
    } else if ctype == "TEXT" {
        out.push_str(&format!(" {lines}"));
    }
    if extended {
        out.push_str(&format!(
            " NIL {} {} {}",
            disposition(),
            language(),
            location()
        ));
    }
    out.push(')');
    out
}

/// What of a part a section asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The part's body (`BODY[1.2]`).
    Body,
    /// Its MIME header (`BODY[1.2.MIME]`).
    Mime,
    /// The header of the message the part encapsulates (`BODY[1.2.HEADER]`).
    Header,
    /// Its text (`BODY[1.2.TEXT]`).
    Text,
}

/// The bytes of part `path` (1-based numbers, RFC 9051 §6.4.5) of `msg`; `None` if there is
/// no such part (the server answers with an empty string, as Dovecot does).
pub fn section(msg: &Message<'_>, path: &[u32], want: Want) -> Option<Vec<u8>> {
    let (msg, id) = locate(msg, path)?;
    let part = msg.part(id)?;
    let raw = &msg.raw_message;
    let (h, b, e) = (
        part.raw_header_offset() as usize,
        part.raw_body_offset() as usize,
        part.raw_end_offset() as usize,
    );
    match want {
        Want::Body => raw.get(b..e).map(<[u8]>::to_vec),
        Want::Mime => raw.get(h..b).map(<[u8]>::to_vec),
        Want::Header | Want::Text => {
            let PartType::Message(nested) = &part.body else {
                return None;
            };
            let root = nested.root_part();
            let (h, b, e) = (
                root.raw_header_offset() as usize,
                root.raw_body_offset() as usize,
                root.raw_end_offset() as usize,
            );
            let raw = &nested.raw_message;
            if want == Want::Header {
                raw.get(h..b).map(<[u8]>::to_vec)
            } else {
                raw.get(b..e).map(<[u8]>::to_vec)
            }
        }
    }
}

/// Why a BINARY section cannot be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryError {
    /// No such part (answered with an empty string, like a missing BODY section).
    NoPart,
    /// A Content-Transfer-Encoding this server cannot undo (RFC 3516 §4.2: `NO [UNKNOWN-CTE]`).
    UnknownCte(String),
}

/// BINARY[path] (RFC 3516 §4.2): the part's body with its Content-Transfer-Encoding undone
/// (base64, quoted-printable; 7bit/8bit/binary as they are). Only the transfer encoding:
/// the bytes stay in the part's charset. A multipart or message/rfc822 part, and the empty
/// path (the whole message), are given as stored.
pub fn binary(msg: &Message<'_>, path: &[u32]) -> Result<Vec<u8>, BinaryError> {
    if path.is_empty() {
        return Ok(msg.raw_message.to_vec());
    }
    let (msg, id) = locate(msg, path).ok_or(BinaryError::NoPart)?;
    let part = msg.part(id).ok_or(BinaryError::NoPart)?;
    let raw = msg
        .raw_message
        .get(part.raw_body_offset() as usize..part.raw_end_offset() as usize)
        .ok_or(BinaryError::NoPart)?;
    if matches!(part.body, PartType::Multipart(_) | PartType::Message(_)) {
        return Ok(raw.to_vec());
    }
    let cte = part
        .content_transfer_encoding()
        .unwrap_or("7bit")
        .trim()
        .to_ascii_lowercase();
    match cte.as_str() {
        "7bit" | "8bit" | "binary" => Ok(raw.to_vec()),
        "base64" => Ok(decode_base64_lenient(raw)),
        "quoted-printable" => Ok(decode_quoted_printable(raw)),
        _ => Err(BinaryError::UnknownCte(cte)),
    }
}

/// Base64 as mail carries it: line breaks and other non-alphabet bytes skipped, decoding
/// stopped at the padding (RFC 2045 §6.8).
fn decode_base64_lenient(raw: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let clean: Vec<u8> = raw
        .iter()
        .copied()
        .take_while(|&b| b != b'=')
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    // Whole quanta only; a dangling sixth bit group carries no full byte.
    let usable = clean.len() - clean.len() % 4;
    let mut out = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&clean[..usable])
        .unwrap_or_default();
    let tail = &clean[usable..];
    if tail.len() >= 2 {
        if let Ok(rest) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(tail) {
            out.extend(rest);
        }
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` bytes, soft line breaks (`=` at a line end)
/// removed, anything malformed kept as it is.
fn decode_quoted_printable(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'=' {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        match (raw.get(i + 1), raw.get(i + 2)) {
            (Some(b'\r'), Some(b'\n')) => i += 3,
            (Some(b'\n'), _) => i += 2,
            (Some(&a), Some(&b)) if hex(a).is_some() && hex(b).is_some() => {
                out.push(hex(a).unwrap_or(0) << 4 | hex(b).unwrap_or(0));
                i += 3;
            }
            _ => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

/// Walk `path` from `msg`'s root: a multipart's children are numbered from 1; a non-multipart
/// part is its own part 1; a message/rfc822 part's numbers go on inside the message it holds.
fn locate<'m, 'x>(msg: &'m Message<'x>, path: &[u32]) -> Option<(&'m Message<'x>, u32)> {
    let (&first, rest) = path.split_first()?;
    let root = msg.root_part();
    let id = match &root.body {
        PartType::Multipart(children) => *children.get(first.checked_sub(1)? as usize)?,
        _ if first == 1 => 0,
        _ => return None,
    };
    descend(msg, id, rest)
}

fn descend<'m, 'x>(msg: &'m Message<'x>, id: u32, rest: &[u32]) -> Option<(&'m Message<'x>, u32)> {
    let Some((&next, tail)) = rest.split_first() else {
        return Some((msg, id));
    };
    match &msg.part(id)?.body {
        PartType::Multipart(children) => {
            descend(msg, *children.get(next.checked_sub(1)? as usize)?, tail)
        }
        PartType::Message(nested) => locate(nested, rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] = b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nFrom: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon\r\n meeting\r\nTo: mooch@owatagu.example, Team: a@x.example, b@y.example;\r\nMessage-Id: <B27397-0100000@Blurdybloop.example>\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

    const MULTI: &[u8] = b"From: a@x.example\r\nSubject: =?ISO-8859-1?Q?caf=E9?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfirst part\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@x.example\r\nSubject: inner\r\n\r\ninner body\r\n--b1\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\r\nJVBERi0=\r\n--b1--\r\n";

    #[test]
    fn binary_sections_undo_the_transfer_encoding_only() {
        let msg = parse(MULTI).unwrap();
        assert_eq!(binary(&msg, &[3]).unwrap(), b"%PDF-");
        assert_eq!(binary(&msg, &[1]).unwrap(), b"first part");
        assert_eq!(binary(&msg, &[]).unwrap(), MULTI);
        assert_eq!(binary(&msg, &[9]), Err(BinaryError::NoPart));
        let qp = parse(b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 =\r\nau lait=3D=ZZ\r\n").unwrap();
        // The charset's byte, not UTF-8: only the transfer encoding is undone.
        assert_eq!(binary(&qp, &[1]).unwrap(), b"caf\xe9 au lait==ZZ\r\n");
        let odd = parse(b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n").unwrap();
        assert_eq!(
            binary(&odd, &[1]),
            Err(BinaryError::UnknownCte("x-uuencode".into()))
        );
        assert_eq!(decode_base64_lenient(b"SGVs\r\nbG8=\r\n"), b"Hello");
        assert_eq!(decode_base64_lenient(b"AA"), [0]);
    }

    #[test]
    fn envelope_of_a_simple_message() {
        let msg = parse(SIMPLE).unwrap();
        assert_eq!(
            envelope(&msg, false),
            "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"afternoon meeting\" ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((NIL NIL \"mooch\" \"owatagu.example\")(NIL NIL \"Team\" NIL)(NIL NIL \"a\" \"x.example\")(NIL NIL \"b\" \"y.example\")(NIL NIL NIL NIL)) NIL NIL NIL \"<B27397-0100000@Blurdybloop.example>\")"
        );
        let body = bodystructure(&msg, true, false);
        assert_eq!(
            body,
            format!("(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55 1 NIL NIL NIL NIL)")
        );
        assert_eq!(
            bodystructure(&msg, false, false),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55 1)"
        );
        assert_eq!(
            section(&msg, &[1], Want::Body).unwrap(),
            &SIMPLE[SIMPLE.len() - 55..]
        );
        assert_eq!(section(&msg, &[2], Want::Body), None);
    }

    #[test]
    fn structure_and_sections_of_a_multipart_message() {
        let msg = parse(MULTI).unwrap();
        let s = bodystructure(&msg, true, false);
        assert!(s.starts_with("((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL NIL)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" "), "{s}");
        assert!(s.contains("(\"APPLICATION\" \"PDF\" (\"NAME\" \"a.pdf\") NIL NIL \"BASE64\" 8 NIL (\"ATTACHMENT\" (\"FILENAME\" \"a.pdf\")) NIL NIL)"), "{s}");
        assert!(
            s.ends_with(" \"MIXED\" (\"BOUNDARY\" \"b1\") NIL NIL NIL)"),
            "{s}"
        );
        assert!(
            s.contains("(NIL \"inner\" ((NIL NIL \"inner\" \"x.example\"))"),
            "{s}"
        );
        assert_eq!(section(&msg, &[1], Want::Body).unwrap(), b"first part");
        assert_eq!(
            section(&msg, &[1], Want::Mime).unwrap(),
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        );
        assert_eq!(section(&msg, &[2, 1], Want::Body).unwrap(), b"inner body");
        assert_eq!(
            section(&msg, &[2], Want::Header).unwrap(),
            b"From: inner@x.example\r\nSubject: inner\r\n\r\n"
        );
        assert_eq!(section(&msg, &[2], Want::Text).unwrap(), b"inner body");
        assert_eq!(section(&msg, &[3], Want::Body).unwrap(), b"JVBERi0=");
        assert_eq!(
            section(&msg, &[1], Want::Header),
            None,
            "not a message part"
        );
        assert_eq!(section(&msg, &[0], Want::Body), None);
        assert_eq!(section(&msg, &[9], Want::Body), None);
        // The subject: raw (ASCII encoded words) for everyone.
        assert!(envelope(&msg, false).contains("\"=?ISO-8859-1?Q?caf=E9?=\""));
    }

    #[test]
    fn non_ascii_values_are_encoded_for_clients_without_utf8() {
        let raw = "From: Jörg <j@x.example>\r\nSubject: Grüße\r\n\r\nx\r\n";
        let msg = parse(raw.as_bytes()).unwrap();
        let plain = envelope(&msg, false);
        assert!(plain.is_ascii(), "{plain}");
        assert!(plain.contains("\"=?UTF-8?B?R3LDvMOfZQ==?=\""), "{plain}");
        let utf8 = envelope(&msg, true);
        assert!(
            utf8.contains("\"Grüße\"") && utf8.contains("\"Jörg\""),
            "{utf8}"
        );
    }

    proptest::proptest! {
        /// Malformed MIME never panics, and sections stay within the message.
        #[test]
        fn arbitrary_messages_never_panic(
            head in "[A-Za-z-]{1,12}: [ -~]{0,40}",
            boundary in "[a-z0-9]{1,8}",
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            nested in proptest::prelude::any::<bool>(),
        ) {
            let mut raw = format!("{head}\r\nContent-Type: multipart/mixed; boundary={boundary}\r\n\r\n--{boundary}\r\n").into_bytes();
            if nested {
                raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
            }
            raw.extend_from_slice(&body);
            raw.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
            raw.extend_from_slice(&body);
            if let Some(msg) = parse(&raw) {
                let _ = envelope(&msg, false);
                let _ = bodystructure(&msg, true, false);
                for path in [&[1u32][..], &[1, 1], &[2], &[2, 2]] {
                    for want in [Want::Body, Want::Mime, Want::Header, Want::Text] {
                        if let Some(bytes) = section(&msg, path, want) {
                            proptest::prop_assert!(bytes.len() <= raw.len());
                        }
                    }
                    if let Ok(bytes) = binary(&msg, path) {
                        proptest::prop_assert!(bytes.len() <= raw.len());
                    }
                }
            }
        }
    }
}
