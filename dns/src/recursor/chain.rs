//! Reading an answer section: the CNAME chain from the name asked and the records at its end
//! (RFC 1034 §3.6.2, §4.3.2), and what a recursive server's response teaches the cache
//! (RFC 2308). Pure functions, shared by the cache, the forwarder and the iterator's
//! [`classify`](super::classify).

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::cache::{CacheEntry, NegativeKind};

/// Longest CNAME chain followed inside one message.
const MAX_CHAIN: usize = 16;

/// A CNAME chain followed through an answer section.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    /// The CNAME records followed, in order from the asked name.
    pub cnames: Vec<Record>,
    /// The last name of the chain (the asked name if there is no CNAME).
    pub end: Name,
    /// Records of the asked type (all types for ANY) owned by `end`.
    pub records: Vec<Record>,
    /// The chain came back to a name already seen, or was longer than the limit.
    pub broken: bool,
}

/// Follows CNAMEs from `name` through `answers` (in any order, RFC 1034 §3.6.2), then collects
/// the records of type `rtype` owned by the chain's end. A CNAME or ANY question is not
/// followed. OPT records are never collected.
pub(crate) fn follow_chain(answers: &[Record], name: &Name, rtype: RecordType) -> Chain {
    let mut cnames: Vec<Record> = Vec::new();
    let mut end = name.clone();
    let mut broken = false;
    if rtype != RecordType::CNAME && rtype != RecordType::ANY {
        while let Some(record) = answers
            .iter()
            .find(|r| r.record_type() == RecordType::CNAME && r.name.eq_ignore_root(&end))
        {
            let RData::CNAME(target) = &record.data else {
                break;
            };
            let target = &target.0;
            let looped =
                target.eq_ignore_root(name) || cnames.iter().any(|c| c.name.eq_ignore_root(target));
            cnames.push(record.clone());
            end = target.clone();
            if looped || cnames.len() > MAX_CHAIN {
                broken = true;
                break;
            }
        }
    }
    let records = if broken {
        Vec::new()
    } else {
        answers
            .iter()
            .filter(|r| {
                r.name.eq_ignore_root(&end)
                    && r.record_type() != RecordType::OPT
                    && (rtype == RecordType::ANY || r.record_type() == rtype)
            })
            .cloned()
            .collect()
    };
    Chain {
        cnames,
        end,
        records,
        broken,
    }
}

/// The SOA in `authorities` of a zone containing `name`, as a negative answer must carry.
pub(crate) fn find_soa<'a>(authorities: &'a [Record], name: &Name) -> Option<&'a Record> {
    authorities
        .iter()
        .find(|r| matches!(r.data, RData::SOA(_)) && r.name.zone_of(name))
}

/// Decides what a response to `query` from a recursive server teaches: a positive answer (the
/// CNAME chain and the records at its end), NXDOMAIN or NODATA with their SOA, or nothing
/// (other RCODEs, truncated or looping answers, negative answers without an SOA, which RFC
/// 2308 §5 says not to cache, and class other than IN).
pub fn classify_response(query: &Query, response: &Message) -> Option<CacheEntry> {
    if query.query_class() != DNSClass::IN || response.metadata.truncation {
        return None;
    }
    let chain = follow_chain(&response.answers, query.name(), query.query_type());
    if chain.broken {
        return None;
    }
    let negative = |kind| {
        find_soa(&response.authorities, &chain.end).map(|soa| CacheEntry::Negative {
            kind,
            answers: chain.cnames.clone(),
            soa: soa.clone(),
        })
    };
    match response.metadata.response_code {
        ResponseCode::NoError if !chain.records.is_empty() => {
            let mut answers = chain.cnames.clone();
            answers.extend(chain.records.iter().cloned());
            Some(CacheEntry::Positive { answers })
        }
        ResponseCode::NoError => negative(NegativeKind::NoData),
        ResponseCode::NXDomain => negative(NegativeKind::NxDomain),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, CNAME, SOA};
    use std::str::FromStr;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn a(owner: &str, ip: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(A::from_str(ip).unwrap()))
    }

    fn cname(owner: &str, target: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
    }

    fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
        let data = SOA::new(name("ns.invalid."), name("h.invalid."), 1, 1, 1, 1, minimum);
        Record::from_rdata(name(zone), ttl, RData::SOA(data))
    }

    fn response(
        q: &Query,
        rcode: ResponseCode,
        answers: Vec<Record>,
        auth: Vec<Record>,
    ) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m.queries = vec![q.clone()];
        m.answers = answers;
        m.authorities = auth;
        m
    }

    fn ttls(records: &[Record]) -> Vec<u32> {
        records.iter().map(|r| r.ttl).collect()
    }

    #[test]
    fn responses_keep_only_the_chain_and_its_records() {
        let q = Query::query(name("www.example.com."), RecordType::A);
        let r = response(
            &q,
            ResponseCode::NoError,
            vec![
                a("elsewhere.example.", "192.0.2.66", 300),
                a("web.example.net.", "192.0.2.1", 300),
                cname("WWW.example.com.", "web.example.net.", 300),
            ],
            vec![],
        );
        let CacheEntry::Positive { answers } = classify_response(&q, &r).unwrap() else {
            panic!("not positive");
        };
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].record_type(), RecordType::CNAME);
        assert_eq!(answers[1].name, name("web.example.net."));

        // A chain ending in NXDOMAIN keeps the chain, and the SOA must cover its end.
        let r = response(
            &q,
            ResponseCode::NXDomain,
            vec![cname("www.example.com.", "web.example.net.", 300)],
            vec![soa("example.net.", 300, 120)],
        );
        let entry = classify_response(&q, &r).unwrap();
        assert!(matches!(
            entry,
            CacheEntry::Negative {
                kind: NegativeKind::NxDomain,
                ..
            }
        ));
        let answer = entry.to_answer();
        assert_eq!(answer.answers.len(), 1);
        assert_eq!(ttls(&answer.authorities), vec![120]);

        // Loops are not cached.
        let r = response(
            &q,
            ResponseCode::NoError,
            vec![
                cname("www.example.com.", "a.example.com.", 300),
                cname("a.example.com.", "www.example.com.", 300),
            ],
            vec![],
        );
        assert!(classify_response(&q, &r).is_none());
    }

    #[test]
    fn chains_are_followed_in_any_order_and_case_but_not_for_cname_questions() {
        let answers = vec![
            a("b.example.", "192.0.2.2", 300),
            cname("A.example.", "b.example.", 300),
            cname("www.example.", "a.example.", 300),
        ];
        let chain = follow_chain(&answers, &name("www.example."), RecordType::A);
        assert_eq!(chain.cnames.len(), 2);
        assert_eq!(chain.end, name("b.example."));
        assert_eq!(chain.records.len(), 1);
        assert!(!chain.broken);
        let chain = follow_chain(&answers, &name("www.example."), RecordType::CNAME);
        assert!(chain.cnames.is_empty());
        assert_eq!(chain.records.len(), 1);
    }
}
