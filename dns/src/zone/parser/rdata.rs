//! Record types, classes and RDATA: each supported type from its own presentation format, and
//! any type from RFC 3597's generic `\# length hex` form.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use hickory_proto::rr::rdata::{
    sshfp, tlsa, A, AAAA, CAA, CNAME, HINFO, MX, NAPTR, NS, NULL, PTR, SOA, SRV, SSHFP, TLSA, TXT,
};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};

use super::fields::{parse_address, show, unescape, upper, Fields};
use super::lexer::Token;
use super::ttl::{as_i32, parse_ttl};
use super::MAX_RDATA_BYTES;

/// `IN` and `CLASS1` are accepted; other classes are errors; anything else is not a class.
pub(super) fn is_class(text: &[u8]) -> Result<bool, String> {
    let word = upper(text);
    match word.as_str() {
        "IN" | "CLASS1" => Ok(true),
        "CH" | "CS" | "HS" | "NONE" => Err(format!("class {word} is not supported (only IN)")),
        _ => match word.strip_prefix("CLASS") {
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                match digits.parse::<u16>() {
                    Ok(1) => Ok(true),
                    Ok(_) => Err(format!("class {word} is not supported (only IN)")),
                    Err(_) => Err(format!("bad class {word}")),
                }
            }
            _ => Ok(false),
        },
    }
}

/// A type mnemonic (any case) or RFC 3597 `TYPEnnn`. Meta-types are refused (RFC 6895 §3.1).
pub(super) fn parse_type(text: &[u8]) -> Result<RecordType, String> {
    let word = upper(text);
    let rtype = match word.strip_prefix("TYPE") {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            RecordType::from(
                digits
                    .parse::<u16>()
                    .map_err(|_| format!("bad type {}", show(text)))?,
            )
        }
        _ => RecordType::from_str(&word).map_err(|_| format!("unknown type {}", show(text)))?,
    };
    let code = u16::from(rtype);
    // 0 is reserved, OPT (41) is a pseudo-record, 128-255 are QTYPEs and meta-types.
    if code == 0 || code == 41 || (128..=255).contains(&code) {
        return Err(format!("{} cannot appear in a zone file", show(text)));
    }
    Ok(rtype)
}

/// The RDATA of `rtype`, from its presentation format or RFC 3597's `\# length hex`.
pub(super) fn parse_rdata(
    rtype: RecordType,
    tokens: &[Token<'_>],
    origin: &Name,
) -> Result<RData, String> {
    let mut fields = Fields::new(tokens);
    if let Some(first) = tokens.first() {
        if !first.quoted && first.text == b"\\#" {
            fields.next_opt();
            return generic_rdata(rtype, fields);
        }
    }
    let rdata = match rtype {
        RecordType::A => {
            let text = fields.word("IPv4 address")?;
            RData::A(A(parse_address::<Ipv4Addr>(text, "IPv4")?))
        }
        RecordType::AAAA => {
            let text = fields.word("IPv6 address")?;
            RData::AAAA(AAAA(parse_address::<Ipv6Addr>(text, "IPv6")?))
        }
        RecordType::NS => RData::NS(NS(fields.name("NS host name", origin)?)),
        RecordType::CNAME => RData::CNAME(CNAME(fields.name("CNAME target", origin)?)),
        RecordType::PTR => RData::PTR(PTR(fields.name("PTR target", origin)?)),
        RecordType::MX => {
            let preference = fields.number("MX preference")?;
            RData::MX(MX::new(preference, fields.name("MX exchange", origin)?))
        }
        RecordType::SOA => {
            let mname = fields.name("SOA MNAME", origin)?;
            let rname = fields.name("SOA RNAME", origin)?;
            let serial = fields.number("SOA serial")?;
            let mut timer = |what: &str| -> Result<u32, String> {
                parse_ttl(fields.word(what)?).map_err(|e| format!("{what}: {e}"))
            };
            let refresh = timer("SOA refresh")?;
            let retry = timer("SOA retry")?;
            let expire = timer("SOA expire")?;
            let minimum = timer("SOA minimum")?;
            RData::SOA(SOA::new(
                mname,
                rname,
                serial,
                as_i32(refresh),
                as_i32(retry),
                as_i32(expire),
                minimum,
            ))
        }
        RecordType::TXT => {
            let mut strings = vec![fields.character_string("TXT string")?];
            while fields.has_more() {
                strings.push(fields.character_string("TXT string")?);
            }
            let wire: usize = strings.iter().map(|s| s.len() + 1).sum();
            if wire > MAX_RDATA_BYTES {
                return Err(format!("TXT data longer than {MAX_RDATA_BYTES} bytes"));
            }
            RData::TXT(TXT::from_bytes(strings.iter().map(Vec::as_slice).collect()))
        }
        RecordType::SRV => {
            let priority = fields.number("SRV priority")?;
            let weight = fields.number("SRV weight")?;
            let port = fields.number("SRV port")?;
            RData::SRV(SRV::new(
                priority,
                weight,
                port,
                fields.name("SRV target", origin)?,
            ))
        }
        RecordType::CAA => caa(&mut fields)?,
        RecordType::HINFO => {
            let cpu = fields.character_string("HINFO CPU")?;
            let os = fields.character_string("HINFO OS")?;
            RData::HINFO(HINFO::from_bytes(cpu.into(), os.into()))
        }
        RecordType::SSHFP => {
            let algorithm = sshfp::Algorithm::from(fields.number::<u8>("SSHFP algorithm")?);
            let kind = sshfp::FingerprintType::from(fields.number::<u8>("SSHFP type")?);
            if !fields.has_more() {
                return Err("missing SSHFP fingerprint".to_owned());
            }
            RData::SSHFP(SSHFP::new(algorithm, kind, fields.hex()?))
        }
        RecordType::TLSA => {
            let usage = tlsa::CertUsage::from(fields.number::<u8>("TLSA usage")?);
            let selector = tlsa::Selector::from(fields.number::<u8>("TLSA selector")?);
            let matching = tlsa::Matching::from(fields.number::<u8>("TLSA matching type")?);
            if !fields.has_more() {
                return Err("missing TLSA certificate data".to_owned());
            }
            RData::TLSA(TLSA::new(usage, selector, matching, fields.hex()?))
        }
        RecordType::NAPTR => {
            let order = fields.number("NAPTR order")?;
            let preference = fields.number("NAPTR preference")?;
            let flags = fields.character_string("NAPTR flags")?;
            // RFC 3403 §4.1: flags are single characters from A-Z and 0-9.
            if !flags.iter().all(u8::is_ascii_alphanumeric) {
                return Err("NAPTR flags must be letters and digits".to_owned());
            }
            let services = fields.character_string("NAPTR services")?;
            let regexp = fields.character_string("NAPTR regexp")?;
            let replacement = fields.name("NAPTR replacement", origin)?;
            RData::NAPTR(NAPTR::new(
                order,
                preference,
                flags.into(),
                services.into(),
                regexp.into(),
                replacement,
            ))
        }
        other => {
            return Err(format!(
                "type {other} has no presentation-format parser here; write its RDATA in \
                 RFC 3597 form (\\# length hex)"
            ))
        }
    };
    fields.finish()?;
    Ok(rdata)
}

/// RFC 8659 §4.1.1: `flags tag value`.
fn caa(fields: &mut Fields<'_, '_>) -> Result<RData, String> {
    let flags: u8 = fields.number("CAA flags")?;
    let tag = fields.word("CAA tag")?;
    // RFC 8659 §4.1: a tag is 1-15 ASCII letters and digits.
    if tag.is_empty() || tag.len() > 15 || !tag.iter().all(u8::is_ascii_alphanumeric) {
        return Err(format!(
            "bad CAA tag '{}': 1 to 15 letters and digits",
            show(tag)
        ));
    }
    let value = unescape(fields.next("CAA value")?.text)?;
    if 2 + tag.len() + value.len() > MAX_RDATA_BYTES {
        return Err(format!("CAA data longer than {MAX_RDATA_BYTES} bytes"));
    }
    let mut caa = CAA::new_issue(false, None, Vec::new());
    caa.issuer_critical = flags & 0x80 != 0;
    caa.reserved_flags = flags & 0x7f;
    caa.tag = String::from_utf8_lossy(tag).into_owned();
    caa.value = value;
    Ok(RData::CAA(caa))
}

/// RFC 3597 §5: `\# length hex…`; a type hickory knows is decoded into its typed RDATA.
fn generic_rdata(rtype: RecordType, mut fields: Fields<'_, '_>) -> Result<RData, String> {
    let length: u16 = fields.number("RDATA length")?;
    let bytes = fields.hex()?;
    if bytes.len() != usize::from(length) {
        return Err(format!(
            "RDATA length {length} does not match the {} bytes of hex data",
            bytes.len()
        ));
    }
    // RFC 6895 §3.1: 65280-65534 are for private use, so their RDATA is opaque — even 65305,
    // which hickory decodes as its own ANAME.
    if (0xff00..=0xfffe).contains(&u16::from(rtype)) {
        let rdata = if bytes.is_empty() {
            NULL::new()
        } else {
            NULL::with(bytes)
        };
        return Ok(RData::Unknown { code: rtype, rdata });
    }
    let mut decoder = BinDecoder::new(&bytes);
    RData::read(&mut decoder, rtype, Restrict::new(length))
        .map_err(|e| format!("bad {rtype} RDATA: {e}"))
}
