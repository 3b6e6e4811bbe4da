//! Messages in presentation format, the way `dig` prints them (for `torsion-dns query`).
//!
//! hickory's `Display` impls are not all presentation format, so the common cases are written
//! here: names are printed as ASCII with RFC 1035 §5.1 escapes (hickory prints IDNA labels as
//! Unicode and escapes as octal), TXT strings are quoted, unknown types and classes use the
//! RFC 3597 forms (`TYPE65280`, `\# 2 abcd`), and OPT — whose `Display` returns an error, which
//! would make `format!` panic — is never printed as a record.

use std::fmt::Write;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

/// The message as `dig` prints it (`short == false`), or only the answers' record data, one
/// per line, as `dig +short` prints it.
pub fn format_message(msg: &Message, short: bool) -> String {
    let mut out = String::new();
    if short {
        for record in &msg.answers {
            if record.record_type() != RecordType::OPT {
                out.push_str(&format_rdata(&record.data));
                out.push('\n');
            }
        }
        return out;
    }

    let meta = &msg.metadata;
    // `write!` to a String cannot fail; the results are ignored rather than unwrapped.
    let _ = writeln!(
        out,
        ";; ->>HEADER<<- opcode: {}, status: {}, id: {}",
        opcode_name(meta.op_code),
        rcode_name(meta.response_code),
        meta.id
    );
    let flags: Vec<&str> = [
        (
            meta.message_type == hickory_proto::op::MessageType::Response,
            "qr",
        ),
        (meta.authoritative, "aa"),
        (meta.truncation, "tc"),
        (meta.recursion_desired, "rd"),
        (meta.recursion_available, "ra"),
        (meta.authentic_data, "ad"),
        (meta.checking_disabled, "cd"),
    ]
    .iter()
    .filter(|(set, _)| *set)
    .map(|&(_, flag)| flag)
    .collect();
    let additional = msg.additionals.len() + usize::from(msg.edns.is_some());
    let _ = writeln!(
        out,
        ";; flags: {}; QUERY: {}, ANSWER: {}, AUTHORITY: {}, ADDITIONAL: {}",
        flags.join(" "),
        msg.queries.len(),
        msg.answers.len(),
        msg.authorities.len(),
        additional
    );

    if let Some(edns) = &msg.edns {
        let _ = write!(
            out,
            "\n;; OPT PSEUDOSECTION:\n; EDNS: version: {}, flags:{}; udp: {}\n",
            edns.version(),
            if edns.flags().dnssec_ok { " do" } else { "" },
            edns.max_payload()
        );
    }

    if !msg.queries.is_empty() {
        out.push_str("\n;; QUESTION SECTION:\n");
        for query in &msg.queries {
            let _ = writeln!(
                out,
                ";{}\t\t{}\t{}",
                format_name(query.name()),
                class_name(query.query_class()),
                type_name(query.query_type())
            );
        }
    }

    for (title, records) in [
        ("ANSWER", &msg.answers),
        ("AUTHORITY", &msg.authorities),
        ("ADDITIONAL", &msg.additionals),
    ] {
        if records.is_empty() {
            continue;
        }
        let _ = write!(out, "\n;; {title} SECTION:\n");
        for record in records {
            out.push_str(&format_record(record));
            out.push('\n');
        }
    }
    out
}

/// One record: `name TTL CLASS TYPE rdata`, tab-separated as dig does.
pub fn format_record(record: &Record) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}",
        format_name(&record.name),
        record.ttl,
        class_name(record.dns_class),
        type_name(record.record_type()),
        format_rdata(&record.data)
    )
}

/// Record data in presentation format.
pub fn format_rdata(rdata: &RData) -> String {
    match rdata {
        RData::A(a) => a.to_string(),
        RData::AAAA(aaaa) => aaaa.to_string(),
        RData::CNAME(name) => format_name(name),
        RData::NS(name) => format_name(name),
        RData::PTR(name) => format_name(name),
        RData::ANAME(name) => format_name(name),
        RData::MX(mx) => format!("{} {}", mx.preference, format_name(&mx.exchange)),
        RData::SRV(srv) => format!(
            "{} {} {} {}",
            srv.priority,
            srv.weight,
            srv.port,
            format_name(&srv.target)
        ),
        RData::SOA(soa) => format!(
            "{} {} {} {} {} {} {}",
            format_name(&soa.mname),
            format_name(&soa.rname),
            soa.serial,
            soa.refresh,
            soa.retry,
            soa.expire,
            soa.minimum
        ),
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|s| quote_character_string(s))
            .collect::<Vec<_>>()
            .join(" "),
        RData::Unknown { rdata, .. } => generic_rdata(&rdata.anything),
        RData::NULL(null) => generic_rdata(&null.anything),
        RData::Update0(_) | RData::OPT(_) => generic_rdata(&[]),
        other => {
            // Every other type has a presentation `Display`; should one ever fail, fall back to
            // the RFC 3597 form instead of panicking.
            let mut text = String::new();
            match write!(text, "{other}") {
                Ok(()) => text,
                Err(_) => generic_rdata(&other.to_bytes().unwrap_or_default()),
            }
        }
    }
}

/// A domain name in presentation format (RFC 1035 §5.1): ASCII, special characters escaped
/// with `\`, other bytes as `\DDD` (decimal), a trailing `.` when absolute.
pub fn format_name(name: &Name) -> String {
    if name.is_root() {
        return ".".to_owned();
    }
    let mut out = String::with_capacity(name.len());
    for (i, label) in name.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        for &byte in label {
            match byte {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    out.push('\\');
                    out.push(char::from(byte));
                }
                0x21..=0x7e => out.push(char::from(byte)),
                _ => {
                    let _ = write!(out, "\\{byte:03}");
                }
            }
        }
    }
    if name.is_fqdn() {
        out.push('.');
    }
    out
}

/// The RCODE mnemonic dig prints (`NOERROR`, `NXDOMAIN`, …; `RCODE3841` when unassigned).
pub fn rcode_name(rcode: ResponseCode) -> String {
    let name = match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        ResponseCode::BADVERS => "BADVERS",
        ResponseCode::BADSIG => "BADSIG",
        ResponseCode::BADKEY => "BADKEY",
        ResponseCode::BADTIME => "BADTIME",
        ResponseCode::BADMODE => "BADMODE",
        ResponseCode::BADNAME => "BADNAME",
        ResponseCode::BADALG => "BADALG",
        ResponseCode::BADTRUNC => "BADTRUNC",
        ResponseCode::BADCOOKIE => "BADCOOKIE",
        other => return format!("RCODE{}", u16::from(other)),
    };
    name.to_owned()
}

fn opcode_name(opcode: OpCode) -> String {
    match opcode {
        OpCode::Query => "QUERY".to_owned(),
        OpCode::Status => "STATUS".to_owned(),
        OpCode::Notify => "NOTIFY".to_owned(),
        OpCode::Update => "UPDATE".to_owned(),
        other => format!("OPCODE{}", u8::from(other)),
    }
}

fn type_name(rtype: RecordType) -> String {
    match rtype {
        RecordType::Unknown(code) => format!("TYPE{code}"),
        known => known.to_string(),
    }
}

fn class_name(class: DNSClass) -> String {
    match class {
        DNSClass::Unknown(code) | DNSClass::OPT(code) => format!("CLASS{code}"),
        known => known.to_string(),
    }
}

/// A `<character-string>` in double quotes, `"` and `\` escaped, other non-printables as `\DDD`.
fn quote_character_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &byte in bytes {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(byte));
            }
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\{byte:03}");
            }
        }
    }
    out.push('"');
    out
}

/// RFC 3597 §5 generic form: `\# length hex`.
fn generic_rdata(bytes: &[u8]) -> String {
    let mut out = format!("\\# {}", bytes.len());
    if !bytes.is_empty() {
        out.push(' ');
        for byte in bytes {
            let _ = write!(out, "{byte:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, MessageType, Query};
    use hickory_proto::rr::rdata::{A, CNAME, MX, NULL, OPT, SOA, SRV, TXT};
    use std::str::FromStr;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn sample() -> Message {
        let mut m = Message::new(4321, MessageType::Response, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.metadata.recursion_available = true;
        m.add_query(Query::query(name("www.example.com."), RecordType::A));
        m.add_answer(Record::from_rdata(
            name("www.example.com."),
            600,
            RData::CNAME(CNAME(name("web.example.com."))),
        ));
        m.add_answer(Record::from_rdata(
            name("web.example.com."),
            300,
            RData::A(A::from_str("192.0.2.10").unwrap()),
        ));
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        m.set_edns(edns);
        m
    }

    #[test]
    fn dig_like_full_output() {
        let text = format_message(&sample(), false);
        let expected = "\
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4321
;; flags: qr rd ra; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags:; udp: 1232

;; QUESTION SECTION:
;www.example.com.\t\tIN\tA

;; ANSWER SECTION:
www.example.com.\t600\tIN\tCNAME\tweb.example.com.
web.example.com.\t300\tIN\tA\t192.0.2.10
";
        assert_eq!(text, expected);
    }

    #[test]
    fn short_output_is_answer_rdata_only() {
        assert_eq!(
            format_message(&sample(), true),
            "web.example.com.\n192.0.2.10\n"
        );
    }

    #[test]
    fn status_and_sections_for_nxdomain() {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.response_code = ResponseCode::NXDomain;
        m.metadata.authoritative = true;
        m.add_query(Query::query(name("nope.example."), RecordType::MX));
        m.add_authority(Record::from_rdata(
            name("example."),
            3600,
            RData::SOA(SOA::new(
                name("ns.example."),
                name("hostmaster.example."),
                2024010101,
                7200,
                900,
                1209600,
                300,
            )),
        ));
        let text = format_message(&m, false);
        assert!(text.contains("status: NXDOMAIN, id: 1"), "{text}");
        assert!(text.contains(";; flags: qr aa; QUERY: 1, ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 0"));
        assert!(!text.contains("ANSWER SECTION"));
        assert!(text.contains(
            ";; AUTHORITY SECTION:\nexample.\t3600\tIN\tSOA\tns.example. hostmaster.example. 2024010101 7200 900 1209600 300\n"
        ));
        assert_eq!(format_message(&m, true), "");
    }

    #[test]
    fn rdata_presentation() {
        assert_eq!(
            format_rdata(&RData::MX(MX::new(10, name("mx.example.")))),
            "10 mx.example."
        );
        assert_eq!(
            format_rdata(&RData::SRV(SRV::new(0, 5, 993, name("imap.example.")))),
            "0 5 993 imap.example."
        );
        assert_eq!(
            format_rdata(&RData::TXT(TXT::from_bytes(vec![
                b"v=spf1 -all",
                b"say \"hi\"\\\x01"
            ]))),
            r#""v=spf1 -all" "say \"hi\"\\\001""#
        );
        assert_eq!(
            format_rdata(&RData::Unknown {
                code: RecordType::Unknown(65280),
                rdata: NULL::with(vec![0xab, 0xcd]),
            }),
            r"\# 2 abcd"
        );
        assert_eq!(format_rdata(&RData::OPT(OPT::default())), r"\# 0");
    }

    #[test]
    fn unknown_types_classes_and_codes() {
        let record = Record::from_rdata(
            name("x.example."),
            5,
            RData::Unknown {
                code: RecordType::Unknown(65280),
                rdata: NULL::with(vec![1]),
            },
        );
        assert_eq!(
            format_record(&record),
            "x.example.\t5\tIN\tTYPE65280\t\\# 1 01"
        );
        assert_eq!(rcode_name(ResponseCode::Unknown(3841)), "RCODE3841");
        assert_eq!(rcode_name(ResponseCode::ServFail), "SERVFAIL");
        assert_eq!(class_name(DNSClass::Unknown(42)), "CLASS42");
    }

    #[test]
    fn names_are_escaped_ascii() {
        assert_eq!(format_name(&Name::root()), ".");
        assert_eq!(format_name(&name("Example.COM.")), "Example.COM.");
        assert_eq!(format_name(&name("relative.name")), "relative.name");
        let odd = Name::from_labels(vec![&b"a.b"[..], &b"sp ace"[..], &b"\xff"[..], &b"com"[..]])
            .unwrap();
        assert_eq!(format_name(&odd), r"a\.b.sp\032ace.\255.com.");
        assert_eq!(
            format_name(&Name::from_str("bücher.example.").unwrap()),
            "xn--bcher-kva.example."
        );
    }
}
