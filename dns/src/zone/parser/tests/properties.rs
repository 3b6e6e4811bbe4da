//! Properties: no input panics the parser, and generated zones survive a round trip through a
//! presentation-format writer.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::{
    A, AAAA, CNAME, HINFO, MX, NAPTR, NS, NULL, PTR, SOA, SRV, SSHFP, TLSA, TXT,
};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use proptest::prelude::*;

use super::super::ttl::as_i32;
use super::super::MAX_TTL;
use super::*;

// ---- properties -----------------------------------------------------------------------

/// Zone-file-ish fragments, for inputs that get past the lexer more often than noise does.
fn zoneish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("@".to_owned()),
        Just("$ORIGIN".to_owned()),
        Just("$TTL".to_owned()),
        Just("$INCLUDE".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(";".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\\#".to_owned()),
        Just("\n".to_owned()),
        Just("\n\t".to_owned()),
        Just("IN".to_owned()),
        Just("CLASS1".to_owned()),
        Just("1h30m".to_owned()),
        Just("3600".to_owned()),
        Just("0A000001".to_owned()),
        Just("192.0.2.1".to_owned()),
        Just("::1".to_owned()),
        Just("www".to_owned()),
        Just("a\\.b\\065".to_owned()),
        Just("example.com.".to_owned()),
        Just("\"txt \\\" \\255\"".to_owned()),
        prop::sample::select(vec![
            "A",
            "AAAA",
            "NS",
            "CNAME",
            "SOA",
            "MX",
            "TXT",
            "SRV",
            "PTR",
            "CAA",
            "HINFO",
            "SSHFP",
            "TLSA",
            "NAPTR",
            "TYPE65534",
            "TYPE1",
            "TYPE6",
            "TYPE15",
            "TYPE257",
            "TYPE35",
            "TYPE44",
            "TYPE52",
            "TYPE13",
            "TYPE64",
            "TYPE65",
            "TYPE41",
        ])
        .prop_map(str::to_owned),
        "[0-9a-fA-F]{0,8}",
        "[0-9]{1,6}",
        "[a-z.]{1,8}",
    ];
    prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.join(" "))
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = parse_zone_str(&text, &origin(), "fuzz");
    }

    #[test]
    fn never_panics_on_zoneish_text(text in zoneish()) {
        let _ = parse_zone_str(&text, &origin(), "fuzz");
    }

    /// The RFC 3597 path hands arbitrary bytes to hickory's decoder for every type code.
    #[test]
    fn generic_rdata_of_any_type_never_panics(
        code in any::<u16>(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let text = format!("x 1 TYPE{code} \\# {} {hex}\n", bytes.len());
        let _ = parse_zone_str(&text, &origin(), "generic");
    }

    #[test]
    fn generated_zone_round_trips(records in prop::collection::vec(arb_record(), 1..20)) {
        let mut text = String::new();
        for (record, relative_owner) in &records {
            text.push_str(&presentation(record, *relative_owner));
            text.push('\n');
        }
        let parsed = parse_zone_str(&text, &origin(), "generated")
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.records.len(), records.len());
        for (got, (want, _)) in parsed.records.iter().zip(&records) {
            prop_assert!(got.name.eq_case(&want.name), "{} != {}\n{}", got.name, want.name, text);
            prop_assert_eq!(got.ttl, want.ttl);
            prop_assert_eq!(&got.data, &want.data, "{}", text);
        }
    }
}

// ---- a presentation-format writer for the round trip ---------------------------------

fn arb_label() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-zA-Z0-9_-]{1,12}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 1..10),
    ]
}

/// An absolute name under `suffix`, short enough to stay under 255 bytes.
fn arb_name_under(suffix: Name) -> impl Strategy<Value = Name> {
    prop::collection::vec(arb_label(), 0..4).prop_map(move |labels| {
        let all: Vec<&[u8]> = labels
            .iter()
            .map(Vec::as_slice)
            .chain(suffix.iter())
            .collect();
        Name::from_labels(all).expect("short name")
    })
}

fn arb_name() -> impl Strategy<Value = Name> {
    prop_oneof![
        arb_name_under(origin()),
        arb_name_under(name("example.net.")),
        Just(Name::root()),
    ]
}

fn arb_string() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..40)
}

fn arb_rdata() -> impl Strategy<Value = RData> {
    prop_oneof![
        any::<u32>().prop_map(|ip| RData::A(A(Ipv4Addr::from(ip)))),
        any::<u128>().prop_map(|ip| RData::AAAA(AAAA(Ipv6Addr::from(ip)))),
        arb_name().prop_map(|n| RData::NS(NS(n))),
        arb_name().prop_map(|n| RData::CNAME(CNAME(n))),
        arb_name().prop_map(|n| RData::PTR(PTR(n))),
        (any::<u16>(), arb_name()).prop_map(|(p, n)| RData::MX(MX::new(p, n))),
        (
            arb_name(),
            arb_name(),
            any::<u32>(),
            0..=MAX_TTL,
            0..=MAX_TTL,
            0..=MAX_TTL,
            0..=MAX_TTL
        )
            .prop_map(|(m, r, serial, refresh, retry, expire, minimum)| {
                RData::SOA(SOA::new(
                    m,
                    r,
                    serial,
                    as_i32(refresh),
                    as_i32(retry),
                    as_i32(expire),
                    minimum,
                ))
            }),
        prop::collection::vec(arb_string(), 1..4).prop_map(|strings| RData::TXT(TXT::from_bytes(
            strings.iter().map(Vec::as_slice).collect()
        ))),
        (any::<u16>(), any::<u16>(), any::<u16>(), arb_name())
            .prop_map(|(p, w, port, n)| RData::SRV(SRV::new(p, w, port, n))),
        (
            any::<u8>(),
            "[a-zA-Z0-9]{1,15}",
            prop::collection::vec(any::<u8>(), 0..60)
        )
            .prop_map(|(flags, tag, value)| caa_rdata(flags, &tag, &value)),
        (arb_string(), arb_string())
            .prop_map(|(cpu, os)| RData::HINFO(HINFO::from_bytes(cpu.into(), os.into()))),
        (
            any::<u8>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 1..40)
        )
            .prop_map(|(alg, kind, fp)| RData::SSHFP(SSHFP::new(
                alg.into(),
                kind.into(),
                fp
            ))),
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 1..40)
        )
            .prop_map(|(u, s, m, data)| RData::TLSA(TLSA::new(
                u.into(),
                s.into(),
                m.into(),
                data
            ))),
        (
            any::<u16>(),
            any::<u16>(),
            "[a-zA-Z0-9]{0,3}",
            arb_string(),
            arb_string(),
            arb_name()
        )
            .prop_map(|(order, pref, flags, services, regexp, replacement)| {
                RData::NAPTR(NAPTR::new(
                    order,
                    pref,
                    flags.into_bytes().into(),
                    services.into(),
                    regexp.into(),
                    replacement,
                ))
            }),
        (65280u16..=65534, prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(code, bytes)| {
            RData::Unknown {
                // Private-use codes; hickory names 65305 ANAME.
                code: RecordType::from(code),
                rdata: if bytes.is_empty() {
                    NULL::new()
                } else {
                    NULL::with(bytes)
                },
            }
        }),
    ]
}

/// A record and whether to write its owner relative to the origin.
fn arb_record() -> impl Strategy<Value = (Record, bool)> {
    (
        arb_name_under(origin()),
        0..=MAX_TTL,
        arb_rdata(),
        any::<bool>(),
    )
        .prop_map(|(owner, ttl, data, relative)| (Record::from_rdata(owner, ttl, data), relative))
}

/// RFC 1035 §5.1 presentation of a name: anything but letters, digits, `-` and `_` as `\DDD`.
fn write_name(name: &Name, relative_to_origin: bool) -> String {
    if name.is_root() {
        return ".".to_owned();
    }
    let origin = origin();
    let labels: Vec<&[u8]> = name.iter().collect();
    let keep = if relative_to_origin && labels.len() > origin.iter().len() {
        labels.len() - origin.iter().len()
    } else if relative_to_origin {
        return "@".to_owned();
    } else {
        labels.len()
    };
    let mut out = String::new();
    for label in &labels[..keep] {
        for &b in *label {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("\\{b:03}"));
            }
        }
        out.push('.');
    }
    if relative_to_origin {
        out.pop();
    }
    out
}

fn write_string(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

fn write_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn presentation(record: &Record, relative_owner: bool) -> String {
    let n = |name: &Name| write_name(name, false);
    let rdata = match &record.data {
        RData::A(a) => format!("A {}", a.0),
        RData::AAAA(aaaa) => format!("AAAA {}", aaaa.0),
        RData::NS(ns) => format!("NS {}", n(&ns.0)),
        RData::CNAME(c) => format!("CNAME {}", n(&c.0)),
        RData::PTR(p) => format!("PTR {}", n(&p.0)),
        RData::MX(mx) => format!("MX {} {}", mx.preference, n(&mx.exchange)),
        RData::SOA(soa) => format!(
            "SOA {} {} ( {} {} {}\n {} {} )",
            n(&soa.mname),
            n(&soa.rname),
            soa.serial,
            soa.refresh,
            soa.retry,
            soa.expire,
            soa.minimum
        ),
        RData::TXT(t) => {
            let strings: Vec<String> = t.txt_data.iter().map(|s| write_string(s)).collect();
            format!("TXT {}", strings.join(" "))
        }
        RData::SRV(srv) => format!(
            "SRV {} {} {} {}",
            srv.priority,
            srv.weight,
            srv.port,
            n(&srv.target)
        ),
        RData::CAA(caa) => format!(
            "CAA {} {} {}",
            caa.flags(),
            caa.tag,
            write_string(&caa.value)
        ),
        RData::HINFO(h) => format!("HINFO {} {}", write_string(&h.cpu), write_string(&h.os)),
        RData::SSHFP(s) => format!(
            "SSHFP {} {} {}",
            u8::from(s.algorithm),
            u8::from(s.fingerprint_type),
            write_hex(&s.fingerprint)
        ),
        RData::TLSA(t) => format!(
            "TLSA {} {} {} {}",
            u8::from(t.cert_usage),
            u8::from(t.selector),
            u8::from(t.matching),
            write_hex(&t.cert_data)
        ),
        RData::NAPTR(naptr) => format!(
            "NAPTR {} {} {} {} {} {}",
            naptr.order,
            naptr.preference,
            write_string(&naptr.flags),
            write_string(&naptr.services),
            write_string(&naptr.regexp),
            n(&naptr.replacement)
        ),
        RData::Unknown { code, rdata } => format!(
            "TYPE{} \\# {} {}",
            u16::from(*code),
            rdata.anything.len(),
            write_hex(&rdata.anything)
        ),
        other => panic!("no writer for {other:?}"),
    };
    format!(
        "{} {} IN {}",
        write_name(&record.name, relative_owner),
        record.ttl,
        rdata
    )
}
