//! What one server's response means to the iterator: pure functions, no I/O.
//!
//! A server asked as a server of zone Z is believed only about Z ("bailiwick", RFC 2181 §5.4.1
//! and the defence against Kaminsky-style poisoning, RFC 5452 §6): every record whose owner is
//! not Z or below it is discarded before anything else looks at the response, and is therefore
//! neither used nor cached. On top of that:
//! - an answer is the CNAME chain from the name asked, as long as it stays in Z, and the
//!   records of the asked type at its end (RFC 1034 §4.3.2);
//! - a referral must be to a zone strictly below Z that contains the name asked (for DS, not
//!   the name itself: DS lives in the parent, RFC 4035 §3.1.4.1); an upward or sideways
//!   referral makes the server lame;
//! - glue (A/AAAA in the additional section) is taken only for the referral's name servers,
//!   and only for names inside the referred zone, or, with `sibling_glue`, inside Z;
//! - NXDOMAIN and NODATA are negative answers, with the SOA of the zone when present
//!   (RFC 2308 §2).

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::chain::{find_soa, follow_chain};
use crate::cache::NegativeKind;

/// What a response says.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Records of the asked type at the end of `cnames` (which may be empty).
    Answer {
        cnames: Vec<Record>,
        records: Vec<Record>,
    },
    /// A CNAME chain leading out of the zone, or to a name the server did not answer for:
    /// resolution continues at `target`.
    Cname { cnames: Vec<Record>, target: Name },
    /// NXDOMAIN or NODATA for the end of `cnames`.
    Negative {
        kind: NegativeKind,
        cnames: Vec<Record>,
        soa: Option<Record>,
    },
    /// Ask the servers of `zone` instead.
    Referral {
        zone: Name,
        ns: Vec<Record>,
        glue: Vec<Record>,
    },
    /// A CNAME loop (or an overlong chain) inside the response.
    Loop { name: Name },
    /// The server could not or would not answer usefully: try another one.
    Lame(String),
}

/// Whether `record` is data a server of `zone` may speak for.
fn in_bailiwick(zone: &Name, record: &Record) -> bool {
    record.dns_class == DNSClass::IN
        && record.record_type() != RecordType::OPT
        && zone.zone_of(&record.name)
}

/// The records of a section that a server of `zone` may speak for.
fn sanitize(zone: &Name, section: &[Record]) -> Vec<Record> {
    section
        .iter()
        .filter(|r| in_bailiwick(zone, r))
        .cloned()
        .collect()
}

/// Classifies `response`, from a server of `zone`, to the question `name`/`rtype`.
pub(crate) fn classify(
    zone: &Name,
    name: &Name,
    rtype: RecordType,
    response: &Message,
    sibling_glue: bool,
) -> Outcome {
    let rcode = response.metadata.response_code;
    if rcode != ResponseCode::NoError && rcode != ResponseCode::NXDomain {
        return Outcome::Lame(rcode.to_string());
    }
    if response.metadata.truncation {
        return Outcome::Lame("truncated response".into());
    }
    let answers = sanitize(zone, &response.answers);
    let authorities = sanitize(zone, &response.authorities);
    let chain = follow_chain(&answers, name, rtype);
    if chain.broken {
        return Outcome::Loop { name: chain.end };
    }
    if !chain.records.is_empty() {
        return Outcome::Answer {
            cnames: chain.cnames,
            records: chain.records,
        };
    }
    // The server speaks for the chain's end only if it is in its zone.
    let end_in_zone = zone.zone_of(&chain.end);
    let soa = find_soa(&authorities, &chain.end).cloned();
    if !chain.cnames.is_empty() {
        let settled = end_in_zone && (rcode == ResponseCode::NXDomain || soa.is_some());
        if !settled {
            return Outcome::Cname {
                cnames: chain.cnames,
                target: chain.end,
            };
        }
    }
    if rcode == ResponseCode::NXDomain {
        return Outcome::Negative {
            kind: NegativeKind::NxDomain,
            cnames: chain.cnames,
            soa,
        };
    }
    if soa.is_some() {
        return Outcome::Negative {
            kind: NegativeKind::NoData,
            cnames: chain.cnames,
            soa,
        };
    }
    if let Some(referral) = referral(zone, name, rtype, &authorities, response, sibling_glue) {
        return referral;
    }
    if response.metadata.authoritative {
        // NODATA without an SOA: believable, but not cacheable (RFC 2308 §5).
        return Outcome::Negative {
            kind: NegativeKind::NoData,
            cnames: chain.cnames,
            soa: None,
        };
    }
    Outcome::Lame("no answer, usable referral or SOA (lame delegation?)".into())
}

/// The referral in `authorities`, if it is one we may follow.
fn referral(
    zone: &Name,
    name: &Name,
    rtype: RecordType,
    authorities: &[Record],
    response: &Message,
    sibling_glue: bool,
) -> Option<Outcome> {
    let below_zone = |owner: &Name| {
        zone.zone_of(owner)
            && !owner.eq_ignore_root(zone)
            && owner.zone_of(name)
            && !(rtype == RecordType::DS && owner.eq_ignore_root(name))
    };
    // The deepest acceptable zone cut named.
    let child = authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NS && below_zone(&r.name))
        .map(|r| &r.name)
        .max_by_key(|n| n.iter().count())?
        .clone();
    let ns: Vec<Record> = authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NS && r.name.eq_ignore_root(&child))
        .cloned()
        .collect();
    let targets: Vec<&Name> = ns
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(target) => Some(&target.0),
            _ => None,
        })
        .collect();
    let glue = response
        .additionals
        .iter()
        .filter(|r| {
            matches!(r.record_type(), RecordType::A | RecordType::AAAA)
                && r.dns_class == DNSClass::IN
                && targets.iter().any(|t| t.eq_ignore_root(&r.name))
                && (child.zone_of(&r.name) || (sibling_glue && zone.zone_of(&r.name)))
        })
        .cloned()
        .collect();
    Some(Outcome::Referral {
        zone: child,
        ns,
        glue,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};
    use std::str::FromStr;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }
    fn a(owner: &str, ip: &str) -> Record {
        Record::from_rdata(name(owner), 300, RData::A(A::from_str(ip).unwrap()))
    }
    fn ns(owner: &str, target: &str) -> Record {
        Record::from_rdata(name(owner), 300, RData::NS(NS(name(target))))
    }
    fn cname(owner: &str, target: &str) -> Record {
        Record::from_rdata(name(owner), 300, RData::CNAME(CNAME(name(target))))
    }
    fn soa(zone: &str) -> Record {
        let data = SOA::new(name("ns.invalid."), name("h.invalid."), 1, 1, 1, 1, 60);
        Record::from_rdata(name(zone), 300, RData::SOA(data))
    }
    fn response(qname: &str, rcode: ResponseCode, aa: bool, sections: [Vec<Record>; 3]) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m.metadata.authoritative = aa;
        m.queries = vec![Query::query(name(qname), RecordType::A)];
        let [answers, authorities, additionals] = sections;
        m.answers = answers;
        m.authorities = authorities;
        m.additionals = additionals;
        m
    }
    fn run(zone: &str, qname: &str, m: &Message) -> Outcome {
        classify(&name(zone), &name(qname), RecordType::A, m, true)
    }

    #[test]
    fn answers_drop_out_of_bailiwick_records() {
        let m = response(
            "www.example.tld.",
            ResponseCode::NoError,
            true,
            [
                vec![
                    a("www.example.tld.", "192.0.2.1"),
                    a("www.bank.tld.", "6.6.6.6"),
                ],
                vec![],
                vec![a("www.bank.tld.", "6.6.6.6")],
            ],
        );
        let Outcome::Answer { cnames, records } = run("example.tld.", "www.example.tld.", &m)
        else {
            panic!("not an answer");
        };
        assert!(cnames.is_empty());
        assert_eq!(records, vec![a("www.example.tld.", "192.0.2.1")]);
    }

    #[test]
    fn cname_chains_stop_at_the_zone_edge() {
        // The server offers the target's address too, but it is not its zone.
        let m = response(
            "www.example.tld.",
            ResponseCode::NoError,
            true,
            [
                vec![
                    cname("www.example.tld.", "alias.example.tld."),
                    cname("alias.example.tld.", "cdn.other."),
                    a("cdn.other.", "6.6.6.6"),
                ],
                vec![],
                vec![],
            ],
        );
        let Outcome::Cname { cnames, target } = run("example.tld.", "www.example.tld.", &m) else {
            panic!("not a cname");
        };
        assert_eq!(cnames.len(), 2);
        assert_eq!(target, name("cdn.other."));
    }

    #[test]
    fn negative_answers() {
        let nx = response(
            "no.example.tld.",
            ResponseCode::NXDomain,
            true,
            [vec![], vec![soa("example.tld.")], vec![]],
        );
        assert!(matches!(
            run("example.tld.", "no.example.tld.", &nx),
            Outcome::Negative {
                kind: NegativeKind::NxDomain,
                soa: Some(_),
                ..
            }
        ));
        let nodata = response(
            "www.example.tld.",
            ResponseCode::NoError,
            true,
            [vec![], vec![soa("example.tld.")], vec![]],
        );
        assert!(matches!(
            run("example.tld.", "www.example.tld.", &nodata),
            Outcome::Negative {
                kind: NegativeKind::NoData,
                soa: Some(_),
                ..
            }
        ));
        // An SOA of another zone does not count, and the server is lame without AA.
        let forged = response(
            "www.example.tld.",
            ResponseCode::NoError,
            false,
            [vec![], vec![soa("bank.tld.")], vec![]],
        );
        assert!(matches!(
            run("example.tld.", "www.example.tld.", &forged),
            Outcome::Lame(_)
        ));
    }

    #[test]
    fn referrals_take_only_in_bailiwick_glue() {
        let m = response(
            "www.example.tld.",
            ResponseCode::NoError,
            false,
            [
                vec![],
                vec![
                    ns("example.tld.", "ns1.example.tld."),
                    ns("example.tld.", "ns.sibling.tld."),
                    ns("example.tld.", "ns.elsewhere.net."),
                ],
                vec![
                    a("ns1.example.tld.", "192.0.2.1"),
                    a("ns.sibling.tld.", "192.0.2.2"),
                    a("ns.elsewhere.net.", "6.6.6.6"),
                    a("unrelated.example.tld.", "6.6.6.7"),
                ],
            ],
        );
        let Outcome::Referral { zone, ns, glue } = run("tld.", "www.example.tld.", &m) else {
            panic!("not a referral");
        };
        assert_eq!(zone, name("example.tld."));
        assert_eq!(ns.len(), 3);
        let glue_owners: Vec<Name> = glue.iter().map(|r| r.name.clone()).collect();
        assert_eq!(
            glue_owners,
            vec![name("ns1.example.tld."), name("ns.sibling.tld.")]
        );

        let Outcome::Referral { glue, .. } = classify(
            &name("tld."),
            &name("www.example.tld."),
            RecordType::A,
            &m,
            false,
        ) else {
            panic!("not a referral");
        };
        assert_eq!(glue.len(), 1, "no sibling glue when disabled");
    }

    #[test]
    fn upward_sideways_and_self_referrals_are_lame() {
        for owner in [".", "tld.", "other.tld.", "example.net."] {
            let m = response(
                "www.example.tld.",
                ResponseCode::NoError,
                false,
                [vec![], vec![ns(owner, "a.root-servers.net.")], vec![]],
            );
            assert!(
                matches!(run("tld.", "www.example.tld.", &m), Outcome::Lame(_)),
                "{owner}"
            );
        }
        let servfail = response(
            "x.tld.",
            ResponseCode::ServFail,
            false,
            [vec![], vec![], vec![]],
        );
        assert!(
            matches!(run("tld.", "x.tld.", &servfail), Outcome::Lame(r) if r.contains("Server Failure") || r.contains("SERVFAIL"))
        );
    }

    #[test]
    fn loops_inside_a_response() {
        let m = response(
            "a.example.tld.",
            ResponseCode::NoError,
            true,
            [
                vec![
                    cname("a.example.tld.", "b.example.tld."),
                    cname("b.example.tld.", "a.example.tld."),
                ],
                vec![],
                vec![],
            ],
        );
        assert!(matches!(
            run("example.tld.", "a.example.tld.", &m),
            Outcome::Loop { .. }
        ));
    }

    #[test]
    fn ds_referrals_to_the_name_itself_are_not_followed() {
        let m = response(
            "example.tld.",
            ResponseCode::NoError,
            false,
            [vec![], vec![ns("example.tld.", "ns1.example.tld.")], vec![]],
        );
        let outcome = classify(
            &name("tld."),
            &name("example.tld."),
            RecordType::DS,
            &m,
            true,
        );
        assert!(matches!(outcome, Outcome::Lame(_)));
    }

    fn arbitrary_record() -> impl proptest::strategy::Strategy<Value = Record> {
        use proptest::prelude::*;
        let names = prop::sample::select(vec![
            ".",
            "tld.",
            "example.tld.",
            "www.example.tld.",
            "a.example.tld.",
            "ns.other.",
            "bank.tld.",
        ]);
        (names.clone(), names, 0u8..5, any::<u32>()).prop_map(|(owner, target, kind, ttl)| {
            let data = match kind {
                0 => RData::A(A::from_str("192.0.2.1").unwrap()),
                1 => RData::NS(NS(name(target))),
                2 => RData::CNAME(CNAME(name(target))),
                3 => RData::SOA(SOA::new(name(target), name(target), 1, 1, 1, 1, ttl)),
                _ => RData::AAAA(
                    "2001:db8::1"
                        .parse()
                        .map(hickory_proto::rr::rdata::AAAA)
                        .unwrap(),
                ),
            };
            Record::from_rdata(name(owner), ttl, data)
        })
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_responses_never_panic_and_answers_stay_in_bailiwick(
            sections in proptest::collection::vec(
                proptest::collection::vec(arbitrary_record(), 0..6), 3),
            rcode in 0u8..6,
            aa in proptest::bool::ANY,
            zone in proptest::sample::select(vec![".", "tld.", "example.tld."]),
        ) {
            let m = response("www.example.tld.", ResponseCode::from_low(rcode), aa,
                [sections[0].clone(), sections[1].clone(), sections[2].clone()]);
            let zone = name(zone);
            match classify(&zone, &name("www.example.tld."), RecordType::A, &m, true) {
                Outcome::Answer { cnames, records } => {
                    for r in cnames.iter().chain(&records) {
                        proptest::prop_assert!(zone.zone_of(&r.name));
                    }
                }
                Outcome::Referral { zone: child, ns, glue } => {
                    proptest::prop_assert!(zone.zone_of(&child) && child != zone);
                    proptest::prop_assert!(ns.iter().all(|r| r.name == child));
                    proptest::prop_assert!(glue.iter().all(|r| zone.zone_of(&r.name)));
                }
                _ => {}
            }
        }
    }
}
