//! Master-file syntax, one feature at a time.

use hickory_proto::rr::rdata::{sshfp, tlsa, CNAME, HINFO, MX, NAPTR, NS, NULL, SOA, SSHFP, TLSA};
use hickory_proto::rr::{Name, RData, RecordType};

use super::super::ttl::parse_ttl;
use super::super::MAX_TTL;
use super::*;

// ---- syntax features, one at a time ---------------------------------------------------

#[test]
fn origin_directive_absolute_and_relative() {
    let records = parse(
        "$TTL 60\n\
         a A 192.0.2.1\n\
         $ORIGIN sub\n\
         b A 192.0.2.2\n\
         $ORIGIN deeper.sub.example.com.\n\
         c A 192.0.2.3\n\
         d.example.com. A 192.0.2.4\n\
         $ORIGIN @\n\
         e A 192.0.2.5\n",
    );
    let want = [
        rr("a.example.com.", 60, a("192.0.2.1")),
        rr("b.sub.example.com.", 60, a("192.0.2.2")),
        rr("c.deeper.sub.example.com.", 60, a("192.0.2.3")),
        rr("d.example.com.", 60, a("192.0.2.4")),
        rr("e.deeper.sub.example.com.", 60, a("192.0.2.5")),
    ];
    assert_records(&records, &want);
}

#[test]
fn ttl_directive_applies_to_records_without_ttl() {
    let records = parse(
        "$TTL 1d\n\
         a A 192.0.2.1\n\
         b 5 A 192.0.2.2\n\
         c A 192.0.2.3\n\
         $TTL 90\n\
         d A 192.0.2.4\n",
    );
    let ttls: Vec<u32> = records.iter().map(|r| r.ttl).collect();
    // An explicit TTL does not replace $TTL as the default.
    assert_eq!(ttls, [86_400, 5, 86_400, 90]);
}

#[test]
fn ttl_units() {
    for (text, seconds) in [
        ("3600", 3600),
        ("0", 0),
        ("1h", 3600),
        ("30m", 1800),
        ("1d", 86_400),
        ("1w", 604_800),
        ("2h30m", 9000),
        ("1H30M", 5400),
        ("1w2d3h4m5s", 604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5),
        ("10S", 10),
        ("2147483647", MAX_TTL),
    ] {
        assert_eq!(parse_ttl(text.as_bytes()), Ok(seconds), "{text}");
        let record = parse_one(&format!("www {text} IN A 192.0.2.1"));
        assert_eq!(record.ttl, seconds, "{text}");
    }
    for bad in [
        "",
        "1x",
        "h",
        "1hh",
        "1h30",
        "2147483648",
        "9999999999999",
        "4w-1",
        "1.5h",
    ] {
        assert!(parse_ttl(bad.as_bytes()).is_err(), "{bad:?} accepted");
    }
    assert!(parse_ttl(b"3551w").is_err(), "overflows 2^31-1");
}

#[test]
fn parentheses_span_lines_with_comments_inside() {
    let record = parse_one(
        "@ 3600 IN SOA ( ns1 ; primary ( not a paren ) \"no quote\n\
         \thostmaster ; contact\n\
         \n\
         ; a comment-only line inside\n\
         \t1 ; serial\n\
         \t2 3 4 5 ) ; after\n",
    );
    assert_eq!(
        record.data,
        RData::SOA(SOA::new(
            name("ns1.example.com."),
            name("hostmaster.example.com."),
            1,
            2,
            3,
            4,
            5
        ))
    );
    // Parentheses may also split a single field list mid-line, and comments end entries.
    let records = parse("$TTL 1\nwww A (192.0.2.1) ; comment\nwww2 TXT (\"a\"\n\"b\")\n");
    assert_records(
        &records,
        &[
            rr("www.example.com.", 1, a("192.0.2.1")),
            rr("www2.example.com.", 1, txt(&[b"a", b"b"])),
        ],
    );
}

#[test]
fn blank_owner_repeats_the_previous_owner() {
    let records = parse(
        "$TTL 60\n\
         www A 192.0.2.1\n\
         \tA 192.0.2.2\n    AAAA ::1\n\
         ; a comment does not reset it\n\
         \n\
         \t  TXT hello\n\
         other A 192.0.2.3\n\
         \t A 192.0.2.4\n",
    );
    let owners: Vec<String> = records.iter().map(|r| r.name.to_ascii()).collect();
    assert_eq!(
        owners,
        [
            "www.example.com.",
            "www.example.com.",
            "www.example.com.",
            "www.example.com.",
            "other.example.com.",
            "other.example.com."
        ]
    );
}

#[test]
fn at_sign_is_the_current_origin() {
    let records = parse("$TTL 60\n@ MX 10 @\n$ORIGIN sub.example.com.\n@ CNAME @\nx NS @\n");
    assert_records(
        &records,
        &[
            rr(
                "example.com.",
                60,
                RData::MX(MX::new(10, name("example.com."))),
            ),
            rr(
                "sub.example.com.",
                60,
                RData::CNAME(CNAME(name("sub.example.com."))),
            ),
            rr(
                "x.sub.example.com.",
                60,
                RData::NS(NS(name("sub.example.com."))),
            ),
        ],
    );
}

#[test]
fn class_and_ttl_in_either_order_and_class_optional() {
    for line in [
        "www 300 IN A 192.0.2.1",
        "www IN 300 A 192.0.2.1",
        "www 300 A 192.0.2.1",
        "www 5m in a 192.0.2.1",
        "www CLASS1 300 TYPE1 192.0.2.1",
        "www 300 class1 A 192.0.2.1",
    ] {
        let record = parse_one(line);
        assert!(record.name.eq_case(&name("www.example.com.")), "{line}");
        assert_eq!(record.ttl, 300, "{line}");
        assert_eq!(record.data, a("192.0.2.1"), "{line}");
    }
    assert_error("www 300 IN IN A 192.0.2.1", 1, "two class fields");
    assert_error("www 300 IN 400 A 192.0.2.1", 1, "two TTL fields");
}

#[test]
fn escapes_in_names() {
    let record = parse_one("$TTL 1\na\\.b.c\\065\\\\ CNAME x\\.y\\032z.example.net.\n");
    let labels: Vec<&[u8]> = record.name.iter().collect();
    assert_eq!(
        labels,
        [&b"a.b"[..], b"cA\\", b"example", b"com"],
        "{:?}",
        record.name
    );
    match &record.data {
        RData::CNAME(CNAME(target)) => {
            let labels: Vec<&[u8]> = target.iter().collect();
            assert_eq!(labels, [&b"x.y z"[..], b"example", b"net"]);
        }
        other => panic!("{other:?}"),
    }
    // `\.` at the end is part of the label, so the name is still relative.
    let record = parse_one("$TTL 1\ntrail\\. A 192.0.2.1\n");
    assert!(record
        .name
        .eq_case(&Name::from_labels(vec![&b"trail."[..], b"example", b"com"]).expect("name")));
    // Case is kept as written.
    let record = parse_one("$TTL 1\nMiXeD A 192.0.2.1\n");
    assert!(record.name.eq_case(&name("MiXeD.example.com.")));
    assert!(!record.name.eq_case(&name("mixed.example.com.")));
    assert_error("$TTL 1\na\\256 A 192.0.2.1\n", 2, "more than 255");
    assert_error("$TTL 1\na\\12 A 192.0.2.1\n", 2, "three digits");
    assert_error("$TTL 1\na..b A 192.0.2.1\n", 2, "empty label");
    assert_error("$TTL 1\n.a A 192.0.2.1\n", 2, "empty label");
}

#[test]
fn escapes_and_words_in_strings() {
    let record = parse_one(
        "$TTL 1\nt TXT \"quote\\\" back\\\\slash \\001\\255 semi;colon (paren)\" bare\\;word \"\"\n",
    );
    assert_eq!(
        record.data,
        txt(&[
            b"quote\" back\\slash \x01\xff semi;colon (paren)",
            b"bare;word",
            b""
        ])
    );
    let record = parse_one("$TTL 1\nt TXT \"caf\u{e9} \\195\\169\"\n");
    assert_eq!(record.data, txt(&["caf\u{e9} \u{e9}".as_bytes()]));
}

#[test]
fn without_ttl_directive_soa_minimum_then_last_explicit_ttl() {
    let records = parse(
        "@ SOA ns hostmaster 1 2 3 4 1h\n\
         a A 192.0.2.1\n\
         b 60 A 192.0.2.2\n\
         c A 192.0.2.3\n",
    );
    let ttls: Vec<u32> = records.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [3600, 3600, 60, 60]);
    // An explicit TTL on the SOA wins over its MINIMUM.
    let records = parse("@ 10 SOA ns hostmaster 1 2 3 4 1h\na A 192.0.2.1\n");
    let ttls: Vec<u32> = records.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [10, 10]);
    assert_error("\n\na A 192.0.2.1\n", 3, "no TTL");
}

#[test]
fn generic_rfc3597_syntax() {
    let records = parse(
        "$TTL 1\n\
         a TYPE65534 \\# 4 0A000001\n\
         b type65534 \\# 0\n\
         c TYPE1 \\# 4 0A 00 00 01\n\
         d A \\# 4 c0000201\n\
         e CLASS1 TYPE65280 \\# 2 ( ab\n cd )\n\
         f TYPE2 \\# 13 036e7331076578616d706c6500\n",
    );
    let unknown = |code: u16, bytes: Vec<u8>| RData::Unknown {
        code: RecordType::Unknown(code),
        rdata: if bytes.is_empty() {
            NULL::new()
        } else {
            NULL::with(bytes)
        },
    };
    assert_records(
        &records,
        &[
            rr("a.example.com.", 1, unknown(65534, vec![10, 0, 0, 1])),
            rr("b.example.com.", 1, unknown(65534, Vec::new())),
            rr("c.example.com.", 1, a("10.0.0.1")),
            rr("d.example.com.", 1, a("192.0.2.1")),
            rr("e.example.com.", 1, unknown(65280, vec![0xab, 0xcd])),
            rr("f.example.com.", 1, RData::NS(NS(name("ns1.example.")))),
        ],
    );
    // `\#` only means "generic RDATA" as the first RDATA field: here it is an owner.
    assert_error(
        "$TTL 1\na TYPE65534 \\# 3 0A0000\n\\# 1\n",
        3,
        "missing type",
    );
    assert_error("$TTL 1\na TYPE65534 \\# 4 0A0000\n", 2, "does not match");
    assert_error("$TTL 1\na TYPE65534 \\# 1 0\n", 2, "odd number");
    assert_error("$TTL 1\na TYPE65534 \\# 1 zz\n", 2, "bad hex");
    assert_error("$TTL 1\na TYPE65534 \\# 70000\n", 2, "bad RDATA length");
    assert_error("$TTL 1\na TYPE1 \\# 3 0a0000\n", 2, "bad A RDATA");
    assert_error("$TTL 1\na TYPE65534 1.2.3.4\n", 2, "RFC 3597");
    assert_error("$TTL 1\na TYPE255 \\# 0\n", 2, "cannot appear");
    assert_error("$TTL 1\na AXFR \\# 0\n", 2, "cannot appear");
    assert_error("$TTL 1\na TYPE70000 \\# 0\n", 2, "bad type");
}

#[test]
fn hinfo_sshfp_tlsa_naptr() {
    let records = parse(
        "$TTL 1\n\
         h HINFO \"Intel i7\" Linux\n\
         s SSHFP 4 2 ( 123456789abcdef6 7890123456789ABC )\n\
         _443._tcp TLSA 3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6\n\
         n NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp\n\
         n NAPTR 102 10 \"u\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .\n",
    );
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    };
    assert_records(
        &records,
        &[
            rr(
                "h.example.com.",
                1,
                RData::HINFO(HINFO::from_bytes(
                    b"Intel i7".to_vec().into(),
                    b"Linux".to_vec().into(),
                )),
            ),
            rr(
                "s.example.com.",
                1,
                RData::SSHFP(SSHFP::new(
                    sshfp::Algorithm::Ed25519,
                    sshfp::FingerprintType::SHA256,
                    hex("123456789abcdef67890123456789abc"),
                )),
            ),
            rr(
                "_443._tcp.example.com.",
                1,
                RData::TLSA(TLSA::new(
                    tlsa::CertUsage::DaneEe,
                    tlsa::Selector::Spki,
                    tlsa::Matching::Sha256,
                    hex("0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"),
                )),
            ),
            rr(
                "n.example.com.",
                1,
                RData::NAPTR(NAPTR::new(
                    100,
                    10,
                    b"S".to_vec().into(),
                    b"SIP+D2U".to_vec().into(),
                    b"".to_vec().into(),
                    name("_sip._udp.example.com."),
                )),
            ),
            rr(
                "n.example.com.",
                1,
                RData::NAPTR(NAPTR::new(
                    102,
                    10,
                    b"u".to_vec().into(),
                    b"E2U+sip".to_vec().into(),
                    b"!^.*$!sip:info@example.com!".to_vec().into(),
                    Name::root(),
                )),
            ),
        ],
    );
    assert_error(
        "$TTL 1\nn NAPTR 1 1 \"a-b\" \"\" \"\" .\n",
        2,
        "NAPTR flags",
    );
    assert_error("$TTL 1\ns SSHFP 1 1\n", 2, "missing SSHFP fingerprint");
    assert_error("$TTL 1\nc CAA 0 is-sue x\n", 2, "bad CAA tag");
    assert_error("$TTL 1\nc CAA 256 issue x\n", 2, "bad CAA flags");
    assert_error("$TTL 1\nd DNAME x\n", 2, "RFC 3597");
}

#[test]
fn label_and_name_lengths() {
    let label63 = "a".repeat(63);
    let record = parse_one(&format!("$TTL 1\n{label63} A 192.0.2.1\n"));
    assert_eq!(record.name.iter().next().map(<[u8]>::len), Some(63));
    assert_error(
        &format!("$TTL 1\n{} A 192.0.2.1\n", "a".repeat(64)),
        2,
        "label longer than 63",
    );
    // 13 labels of 16 bytes + "example.com." = 13*17 + 8 + 4 + 1 = 234 bytes: fits.
    let long = vec!["b".repeat(16); 13].join(".");
    parse_one(&format!("$TTL 1\n{long} A 192.0.2.1\n"));
    let too_long = vec!["b".repeat(16); 15].join(".");
    assert_error(
        &format!("$TTL 1\n{too_long} A 192.0.2.1\n"),
        2,
        "longer than 255",
    );
    assert_error(
        &format!("$TTL 1\nx CNAME {too_long}.example.org.\n"),
        2,
        "longer than 255",
    );
}
