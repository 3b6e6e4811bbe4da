//! End-to-end tests: master-file text in, records or a located error out. Shared helpers are
//! here; `syntax.rs`, `include.rs` and `properties.rs` hold the rest.

mod include;
mod properties;
mod syntax;

use std::path::{Path, PathBuf};

use hickory_proto::rr::rdata::{A, AAAA, CAA, CNAME, MX, NS, NULL, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::{parse_zone_file, parse_zone_str, ZoneFileError, MAX_TOKEN_BYTES};

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("test name")
}

fn origin() -> Name {
    name("example.com.")
}

fn parse(text: &str) -> Vec<Record> {
    match parse_zone_str(text, &origin(), "t.zone") {
        Ok(zone) => zone.records,
        Err(e) => panic!("{e}"),
    }
}

fn parse_one(text: &str) -> Record {
    let mut records = parse(text);
    assert_eq!(records.len(), 1, "{records:?}");
    records.remove(0)
}

fn error(text: &str) -> ZoneFileError {
    match parse_zone_str(text, &origin(), "t.zone") {
        Ok(zone) => panic!("parsed, expected an error: {:?}", zone.records),
        Err(e) => e,
    }
}

/// Asserts `text` fails at `t.zone:line:` with a reason containing `needle`.
#[track_caller]
fn assert_error(text: &str, line: usize, needle: &str) {
    let e = error(text);
    assert_eq!(e.file, "t.zone", "{e}");
    assert_eq!(e.line, line, "{e}");
    assert!(e.reason.contains(needle), "{e} does not mention {needle:?}");
    assert!(
        e.to_string().starts_with(&format!("t.zone:{line}: ")),
        "{e}"
    );
}

/// Records are equal when name (with case), class, TTL and RDATA are.
#[track_caller]
fn assert_records(got: &[Record], want: &[Record]) {
    assert_eq!(got.len(), want.len(), "got {got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert!(g.name.eq_case(&w.name), "name {} != {}", g.name, w.name);
        assert_eq!(g.dns_class, DNSClass::IN);
        assert_eq!(g.ttl, w.ttl, "TTL of {}", g.name);
        assert_eq!(g.data, w.data, "RDATA of {}", g.name);
    }
}

fn rr(owner: &str, ttl: u32, data: RData) -> Record {
    Record::from_rdata(name(owner), ttl, data)
}

fn a(text: &str) -> RData {
    RData::A(A(text.parse().expect("ipv4")))
}

fn txt(strings: &[&[u8]]) -> RData {
    RData::TXT(TXT::from_bytes(strings.to_vec()))
}

fn caa_rdata(flags: u8, tag: &str, value: &[u8]) -> RData {
    let mut caa = CAA::new_issue(false, None, Vec::new());
    caa.issuer_critical = flags & 0x80 != 0;
    caa.reserved_flags = flags & 0x7f;
    caa.tag = tag.to_owned();
    caa.value = value.to_vec();
    RData::CAA(caa)
}

fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/zone_files")
        .join(file)
}

// ---- a whole zone ---------------------------------------------------------------------

#[test]
fn example_zone_parses_to_the_exact_record_set() {
    let zone = parse_zone_file(&fixture("example.com.zone"), &origin()).expect("parses");
    assert!(zone.origin.eq_case(&origin()));
    let h = 3600;
    let want = vec![
        rr(
            "example.com.",
            h,
            RData::SOA(SOA::new(
                name("ns1.example.com."),
                name("hostmaster.example.com."),
                2_024_010_101,
                7200,
                1800,
                1_209_600,
                300,
            )),
        ),
        rr("example.com.", h, RData::NS(NS(name("ns1.example.com.")))),
        rr("example.com.", h, RData::NS(NS(name("ns2.example.net.")))),
        rr(
            "example.com.",
            h,
            RData::MX(MX::new(10, name("mail.example.com."))),
        ),
        rr(
            "example.com.",
            h,
            RData::MX(MX::new(20, name("mail.example.net."))),
        ),
        rr(
            "example.com.",
            h,
            txt(&[b"v=spf1 mx -all", b"say \"hi\"; back\\slash A"]),
        ),
        rr("example.com.", h, caa_rdata(0, "issue", b"letsencrypt.org")),
        rr(
            "example.com.",
            h,
            caa_rdata(128, "iodef", b"mailto:security@example.com"),
        ),
        rr("ns1.example.com.", h, a("192.0.2.1")),
        rr(
            "ns1.example.com.",
            h,
            RData::AAAA(AAAA("2001:db8::1".parse().expect("ipv6"))),
        ),
        rr("mail.example.com.", 300, a("192.0.2.25")),
        rr(
            "www.example.com.",
            h,
            RData::CNAME(CNAME(name("example.com."))),
        ),
        rr(
            "ftp.example.com.",
            600,
            RData::CNAME(CNAME(name("www.example.com."))),
        ),
        rr(
            "_sip._tcp.example.com.",
            h,
            RData::SRV(SRV::new(10, 60, 5060, name("sip.example.com."))),
        ),
        rr("sip.example.com.", h, a("192.0.2.50")),
        rr(
            "1.rev.example.com.",
            h,
            RData::PTR(PTR(name("ns1.example.com."))),
        ),
        rr("*.wild.example.com.", h, a("192.0.2.99")),
        rr(
            "sub.example.com.",
            h,
            RData::NS(NS(name("ns.sub.example.com."))),
        ),
        rr("ns.sub.example.com.", h, a("192.0.2.53")),
        rr(
            "private.example.com.",
            h,
            RData::Unknown {
                code: RecordType::Unknown(65534),
                rdata: NULL::with(vec![0xab, 0xcd, 0xef]),
            },
        ),
    ];
    assert_records(&zone.records, &want);
    assert!(zone.records[16].name.is_wildcard());
}

// ---- errors ---------------------------------------------------------------------------

#[test]
fn errors_name_the_file_and_line() {
    assert_error(
        "$TTL 1\nwww A 192.0.2.1\nwww FOO x\n",
        3,
        "unknown type FOO",
    );
    assert_error("$TTL 1\n\nwww A 192.0.2\n", 3, "bad IPv4 address '192.0.2'");
    assert_error("$TTL 1\nwww AAAA 2001:db8::g\n", 2, "bad IPv6 address");
    assert_error("$TTL 1\n@ MX 10\n", 2, "missing MX exchange");
    assert_error("$TTL 1\n@ MX\n", 2, "missing MX preference");
    assert_error("$TTL 1\n@ MX ten mail\n", 2, "bad MX preference 'ten'");
    assert_error("$TTL 1\n@ SRV 1 2 70000 x\n", 2, "bad SRV port");
    assert_error("$TTL 1\nwww\n", 2, "missing type");
    assert_error("$TTL 1\nwww 300 IN\n", 2, "missing type");
    assert_error("$TTL 1\nwww 1x A 192.0.2.1\n", 2, "bad TTL '1x'");
    assert_error("$TTL forever\n", 1, "bad TTL");
    assert_error(
        "$TTL 1\nwww.example.net. A 192.0.2.1\n",
        2,
        "owner www.example.net. is out of zone example.com.",
    );
    assert_error(
        "$TTL 1\n$ORIGIN example.org.\nwww A 192.0.2.1\n",
        3,
        "out of zone",
    );
    assert_error(
        "$TTL 1\nwww CH A 192.0.2.1\n",
        2,
        "class CH is not supported",
    );
    assert_error(
        "$TTL 1\nwww CLASS3 A 192.0.2.1\n",
        2,
        "class CLASS3 is not supported",
    );
    assert_error("$TTL 1\nwww A 192.0.2.1 extra\n", 2, "unexpected 'extra'");
    assert_error(
        "$TTL 1\nwww TXT \"x\" \"y\nz A 192.0.2.1\n",
        2,
        "unterminated quoted string",
    );
    assert_error("$TTL 1\nwww TXT \"no end", 2, "unterminated quoted string");
    assert_error(
        "$TTL 1\n@ SOA ns host (\n 1 2 3 4 5\nwww A 192.0.2.1\n",
        2,
        "unclosed parenthesis",
    );
    assert_error(
        "$TTL 1\n@ SOA ns host ( 1 2 (3) 4 5 )\n",
        2,
        "nested parentheses",
    );
    assert_error("$TTL 1\nwww A 192.0.2.1 )\n", 2, "')' without");
    assert_error(
        "$TTL 1\n@ SOA ns host (\n 1 2 3\n 4 five )\n",
        2,
        "SOA minimum",
    );
    assert_error("$TTL 1\nt TXT \"a\" \"\n", 2, "unterminated");
    assert_error(
        &format!("$TTL 1\nt TXT \"{}\"\n", "x".repeat(256)),
        2,
        "string longer than 255",
    );
    assert_error("$TTL 1\n$GENERATE 1-10 x A 192.0.2.$\n", 2, "$GENERATE");
    assert_error("$FOO bar\n", 1, "unknown directive $FOO");
    assert_error("$ORIGIN\n", 1, "missing $ORIGIN name");
    assert_error("$ORIGIN a. b.\n", 1, "unexpected 'b.'");
    assert_error("  A 192.0.2.1\n", 1, "no owner name");
    assert_error(
        "$TTL 1\nwww \"A\" 192.0.2.1\n",
        2,
        "unexpected quoted string",
    );
    assert_error("$TTL 1\n\"www\" A 192.0.2.1\n", 2, "must not be quoted");
    assert_error("$TTL 1\nwww A 192.0.2.1\\", 2, "backslash at the end");
    assert_error(
        "$TTL 1\n@ SOA ns host 4294967296 2 3 4 5\n",
        2,
        "bad SOA serial",
    );
    assert_error(
        &format!("$TTL 1\nt TXT {}\n", "x".repeat(MAX_TOKEN_BYTES + 1)),
        2,
        "token longer than",
    );
}

#[test]
fn owner_check_is_case_insensitive_and_accepts_the_apex() {
    let records = parse("$TTL 1\nEXAMPLE.COM. A 192.0.2.1\nWww.Example.Com. A 192.0.2.2\n");
    assert_eq!(records.len(), 2);
    assert!(records[1].name.eq_case(&name("Www.Example.Com.")));
    // The root zone contains everything.
    let zone = parse_zone_str("$TTL 1\nx.y. A 192.0.2.1\n", &Name::root(), "root").expect("root");
    assert_eq!(zone.records.len(), 1);
    // A relative origin is taken as absolute.
    let zone = parse_zone_str("$TTL 1\nx A 192.0.2.1\n", &name("example.com"), "rel")
        .expect("relative origin");
    assert!(zone.origin.is_fqdn());
    assert_eq!(zone.records[0].name, name("x.example.com."));
}

#[test]
fn crlf_line_endings_and_empty_input() {
    let records = parse("$TTL 1\r\nwww A 192.0.2.1\r\n\tA 192.0.2.2\r\n");
    assert_eq!(records.len(), 2);
    assert!(parse("").is_empty());
    assert!(parse("; only a comment\n\n   \n").is_empty());
}
