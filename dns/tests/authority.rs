//! The authoritative lookup rules on a zone that exercises them: CNAME chains, wildcards with
//! empty non-terminals (RFC 4592), delegations with glue, NODATA/NXDOMAIN with the negative
//! SOA TTL (RFC 2308), ANY (RFC 8482), additional-section processing.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::str::FromStr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use torsion_dns::zone::parser::parse_zone_str;
use torsion_dns::zone::{Zone, ZoneError};

const ZONE: &str = r#"
$ORIGIN example.test.
$TTL 3600
@       IN SOA ns1 hostmaster ( 2026112301 7200 900 1209600 300 )
        IN NS  ns1
        IN NS  ns2.other.test.
        IN MX  10 mail
        IN A   192.0.2.1
ns1     IN A   192.0.2.53
mail    IN A   192.0.2.25
        IN AAAA 2001:db8::25
www     IN CNAME web
web     IN A   192.0.2.80
chain1  IN CNAME chain2
chain2  IN CNAME www
outside IN CNAME www.elsewhere.test.
loop1   IN CNAME loop2
loop2   IN CNAME loop1
dangling IN CNAME nothing
txt     IN TXT "hello" "world"
_sip._tcp IN SRV 10 60 5060 mail
*.wild  IN A   192.0.2.99
*.wild  IN TXT "wildcard"
a.b.deep IN A  192.0.2.7
*.deep  IN A   192.0.2.8
*.cwild IN CNAME web
sub     IN NS  ns.sub
        IN NS  ns.elsewhere.test.
ns.sub  IN A   192.0.2.153
"#;

fn zone() -> Zone {
    let origin = Name::from_str("example.test.").unwrap();
    let parsed = parse_zone_str(ZONE, &origin, "example.test.zone").unwrap();
    Zone::from_records(parsed.origin, parsed.records).unwrap()
}

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn names(records: &[Record]) -> Vec<(String, RecordType)> {
    records
        .iter()
        .map(|r| (r.name.to_string().to_lowercase(), r.record_type()))
        .collect()
}

#[test]
fn exact_answer_is_authoritative_with_additional_addresses() {
    let z = zone();
    let a = z.lookup(&n("example.test."), RecordType::MX);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    assert_eq!(
        names(&a.answers),
        vec![("example.test.".into(), RecordType::MX)]
    );
    assert_eq!(
        names(&a.additionals),
        vec![
            ("mail.example.test.".into(), RecordType::A),
            ("mail.example.test.".into(), RecordType::AAAA),
            ("ns1.example.test.".into(), RecordType::A)
        ]
    );
    let srv = z.lookup(&n("_sip._tcp.example.test."), RecordType::SRV);
    assert_eq!(srv.answers.len(), 1);
    assert_eq!(srv.additionals.len(), 3);
}

#[test]
fn names_match_case_insensitively() {
    let a = zone().lookup(&n("WwW.ExAmple.TEST."), RecordType::A);
    assert_eq!(a.answers.len(), 2);
}

#[test]
fn cname_chains_are_followed_inside_the_zone() {
    let z = zone();
    let a = z.lookup(&n("chain1.example.test."), RecordType::A);
    assert_eq!(
        names(&a.answers),
        vec![
            ("chain1.example.test.".into(), RecordType::CNAME),
            ("chain2.example.test.".into(), RecordType::CNAME),
            ("www.example.test.".into(), RecordType::CNAME),
            ("web.example.test.".into(), RecordType::A),
        ]
    );
    // Asking for the CNAME itself does not follow it.
    let c = z.lookup(&n("www.example.test."), RecordType::CNAME);
    assert_eq!(
        names(&c.answers),
        vec![("www.example.test.".into(), RecordType::CNAME)]
    );
    // Out of zone: the CNAME only; the resolver follows it.
    let o = z.lookup(&n("outside.example.test."), RecordType::A);
    assert_eq!(o.answers.len(), 1);
    assert_eq!(o.rcode, ResponseCode::NoError);
    // A loop ends without spinning.
    let l = z.lookup(&n("loop1.example.test."), RecordType::A);
    assert_eq!(l.answers.len(), 2);
    // Dangling: the CNAME, then NXDOMAIN for the target (RFC 6604).
    let d = z.lookup(&n("dangling.example.test."), RecordType::A);
    assert_eq!(d.rcode, ResponseCode::NXDomain);
    assert_eq!(d.answers.len(), 1);
    assert_eq!(d.authorities[0].record_type(), RecordType::SOA);
}

#[test]
fn nodata_and_nxdomain_carry_the_negative_soa_ttl() {
    let z = zone();
    let nodata = z.lookup(&n("web.example.test."), RecordType::AAAA);
    assert_eq!(nodata.rcode, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities.len(), 1);
    // min(SOA TTL 3600, MINIMUM 300)
    assert_eq!(nodata.authorities[0].ttl, 300);
    let nx = z.lookup(&n("nope.example.test."), RecordType::A);
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert!(nx.authoritative);
    assert_eq!(nx.authorities[0].ttl, 300);
}

#[test]
fn wildcards_follow_rfc4592() {
    let z = zone();
    // Synthesised with the query name as owner.
    let w = z.lookup(&n("host.wild.example.test."), RecordType::A);
    assert_eq!(
        names(&w.answers),
        vec![("host.wild.example.test.".into(), RecordType::A)]
    );
    let deeper = z.lookup(&n("x.y.wild.example.test."), RecordType::TXT);
    assert_eq!(deeper.answers.len(), 1);
    // The wildcard owner's other types: NODATA.
    let nodata = z.lookup(&n("host.wild.example.test."), RecordType::MX);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.rcode, ResponseCode::NoError);
    // "wild" itself exists as an empty non-terminal: NODATA, not the wildcard.
    let ent = z.lookup(&n("wild.example.test."), RecordType::A);
    assert_eq!(ent.rcode, ResponseCode::NoError);
    assert!(ent.answers.is_empty());
    // b.deep exists (ENT above a.b.deep), so *.deep does not cover names under it:
    // x.b.deep's closest encloser is b.deep, which has no wildcard child.
    let blocked = z.lookup(&n("x.b.deep.example.test."), RecordType::A);
    assert_eq!(blocked.rcode, ResponseCode::NXDomain);
    let covered = z.lookup(&n("other.deep.example.test."), RecordType::A);
    assert_eq!(covered.answers.len(), 1);
    // A wildcard CNAME is synthesised and followed.
    let cw = z.lookup(&n("any.cwild.example.test."), RecordType::A);
    assert_eq!(
        names(&cw.answers),
        vec![
            ("any.cwild.example.test.".into(), RecordType::CNAME),
            ("web.example.test.".into(), RecordType::A)
        ]
    );
}

#[test]
fn delegations_are_referrals_with_glue() {
    let z = zone();
    for q in [
        "sub.example.test.",
        "www.sub.example.test.",
        "a.b.sub.example.test.",
    ] {
        let r = z.lookup(&n(q), RecordType::A);
        assert!(!r.authoritative, "{q}");
        assert_eq!(r.rcode, ResponseCode::NoError);
        assert!(r.answers.is_empty());
        assert_eq!(r.authorities.len(), 2);
        assert!(r
            .authorities
            .iter()
            .all(|a| a.record_type() == RecordType::NS));
        // Glue only for the in-zone name server.
        assert_eq!(
            names(&r.additionals),
            vec![("ns.sub.example.test.".into(), RecordType::A)]
        );
    }
    // DS is answered by the parent side.
    let ds = z.lookup(&n("sub.example.test."), RecordType::DS);
    assert!(ds.authoritative);
    assert_eq!(ds.authorities[0].record_type(), RecordType::SOA);
}

#[test]
fn any_is_one_rrset_and_nothing_else() {
    let z = zone();
    let any = z.lookup(&n("example.test."), RecordType::ANY);
    let types: std::collections::HashSet<_> = any.answers.iter().map(Record::record_type).collect();
    assert_eq!(types.len(), 1);
    assert!(any.authorities.is_empty() && any.additionals.is_empty());
}

#[test]
fn positive_answers_carry_the_apex_ns_and_their_addresses() {
    let z = zone();
    let a = z.lookup(&n("web.example.test."), RecordType::A);
    assert_eq!(
        names(&a.authorities),
        vec![("example.test.".into(), RecordType::NS); 2]
    );
    assert_eq!(
        names(&a.additionals),
        vec![("ns1.example.test.".into(), RecordType::A)]
    );
    // The name server's own address is not repeated as additional data.
    let own = z.lookup(&n("ns1.example.test."), RecordType::A);
    assert_eq!(own.answers.len(), 1);
    assert!(own.additionals.is_empty());
    // Not repeated when the answer is the apex NS itself.
    let ns = z.lookup(&n("example.test."), RecordType::NS);
    assert!(ns.authorities.is_empty());
    assert_eq!(
        names(&ns.additionals),
        vec![("ns1.example.test.".into(), RecordType::A)]
    );
}

#[test]
fn axfr_starts_and_ends_with_the_soa() {
    let z = zone();
    let all = z.axfr_records();
    assert_eq!(all.first().unwrap().record_type(), RecordType::SOA);
    assert_eq!(all.last().unwrap().record_type(), RecordType::SOA);
    assert_eq!(all.len(), z.len() + 1);
    assert_eq!(z.serial(), 2026112301);
}

#[test]
fn broken_zones_are_refused() {
    let origin = n("bad.test.");
    let build = |text: &str| {
        let parsed = parse_zone_str(text, &origin, "bad.zone").unwrap();
        Zone::from_records(parsed.origin, parsed.records)
    };
    let soa = "@ 3600 IN SOA ns hm 1 2 3 4 5\n";
    assert!(matches!(
        build("@ 3600 IN A 192.0.2.1\n"),
        Err(ZoneError::Soa { found: 0, .. })
    ));
    assert!(matches!(
        build(&format!("{soa}x 3600 IN CNAME a\nx 3600 IN A 192.0.2.1\n")),
        Err(ZoneError::CnameConflict { .. })
    ));
    assert!(matches!(
        build(&format!("{soa}x 3600 IN SOA ns hm 1 2 3 4 5\n")),
        Err(ZoneError::SoaBelowApex { .. })
    ));
    let ok = build(&format!(
        "{soa}x 3600 IN A 192.0.2.1\nx 3600 IN A 192.0.2.1\n"
    ))
    .unwrap();
    assert_eq!(
        ok.node(&n("x.bad.test."))
            .unwrap()
            .get(RecordType::A)
            .unwrap()
            .records
            .len(),
        1,
        "duplicate records are one record"
    );
    let rdata_is_soa = matches!(ok.soa().data, RData::SOA(_));
    assert!(rdata_is_soa);
}
