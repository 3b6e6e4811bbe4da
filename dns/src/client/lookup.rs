//! The answer to one lookup: the records of the asked type, found by following the CNAME chain
//! in the answer section (RFC 1034 §3.6.2, §4.3.2 step 3a).

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Longest CNAME chain followed inside one response. Longer (or looping) chains stop where the
/// limit is reached, leaving no records of the asked type.
pub const MAX_CNAME_CHAIN: usize = 16;

/// A successful lookup.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The name that was asked and answered (after search-list expansion).
    pub name: Name,
    /// Answer records of the asked type owned by the end of the CNAME chain, TTLs as received.
    pub records: Vec<Record>,
    /// CNAME targets followed from `name`, in order; the last one owns `records`.
    pub cname_chain: Vec<Name>,
    /// The whole response.
    pub message: Message,
}

impl Lookup {
    /// Extracts the answer for `name`/`rtype` from `message`'s answer section.
    ///
    /// For `rtype` CNAME (or ANY) the chain is not followed: the records owned by `name` are
    /// returned.
    pub fn from_message(name: Name, rtype: RecordType, message: Message) -> Self {
        let (cname_chain, records) = follow_cnames(&message.answers, &name, rtype);
        Self {
            name,
            records,
            cname_chain,
            message,
        }
    }

    /// The name owning `records`: the last CNAME target, or `name`.
    pub fn canonical_name(&self) -> &Name {
        self.cname_chain.last().unwrap_or(&self.name)
    }

    /// The record data of `records`.
    pub fn rdata(&self) -> impl Iterator<Item = &RData> {
        self.records.iter().map(|record| &record.data)
    }

    /// The smallest TTL among `records` and the CNAMEs leading to them, i.e. how long this
    /// answer may be cached.
    pub fn min_ttl(&self) -> Option<u32> {
        let chain_ttls = self
            .message
            .answers
            .iter()
            .filter_map(|record| match &record.data {
                RData::CNAME(_) if self.is_chain_owner(&record.name) => Some(record.ttl),
                _ => None,
            });
        self.records
            .iter()
            .map(|record| record.ttl)
            .chain(chain_ttls)
            .min()
    }

    fn is_chain_owner(&self, owner: &Name) -> bool {
        std::iter::once(&self.name)
            .chain(&self.cname_chain)
            .take(self.cname_chain.len())
            .any(|name| name.eq_ignore_root(owner))
    }
}

/// Follows CNAMEs from `name` through `answers`, returning the chain of targets and the records
/// of type `rtype` owned by its end.
pub fn follow_cnames(
    answers: &[Record],
    name: &Name,
    rtype: RecordType,
) -> (Vec<Name>, Vec<Record>) {
    let mut chain: Vec<Name> = Vec::new();
    let mut owner = name;
    if rtype != RecordType::CNAME && rtype != RecordType::ANY {
        while chain.len() < MAX_CNAME_CHAIN {
            let target = answers.iter().find_map(|record| match &record.data {
                RData::CNAME(target) if record.name.eq_ignore_root(owner) => Some(&target.0),
                _ => None,
            });
            let Some(target) = target else { break };
            let looped =
                target.eq_ignore_root(name) || chain.iter().any(|n| n.eq_ignore_root(target));
            if looped {
                return (chain, Vec::new());
            }
            chain.push(target.clone());
            owner = target;
        }
    }
    let records = answers
        .iter()
        .filter(|record| {
            record.name.eq_ignore_root(owner)
                && (rtype == RecordType::ANY || record.record_type() == rtype)
        })
        .cloned()
        .collect();
    (chain, records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, CNAME};
    use std::str::FromStr;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn cname(owner: &str, target: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
    }

    fn a(owner: &str, ip: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(A::from_str(ip).unwrap()))
    }

    fn lookup(answers: Vec<Record>, qname: &str, rtype: RecordType) -> Lookup {
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        message.answers = answers;
        Lookup::from_message(name(qname), rtype, message)
    }

    #[test]
    fn direct_answer() {
        let l = lookup(
            vec![a("www.example.", "192.0.2.1", 60)],
            "www.example.",
            RecordType::A,
        );
        assert!(l.cname_chain.is_empty());
        assert_eq!(l.records.len(), 1);
        assert_eq!(l.canonical_name(), &name("www.example."));
        assert_eq!(l.min_ttl(), Some(60));
    }

    #[test]
    fn follows_a_chain_in_any_order_and_case() {
        let l = lookup(
            vec![
                a("B.example.", "192.0.2.2", 300),
                cname("a.example.", "b.example.", 30),
                a("a.example.", "192.0.2.99", 300),
                cname("WWW.example.", "a.example.", 600),
            ],
            "www.example.",
            RecordType::A,
        );
        assert_eq!(l.cname_chain, vec![name("a.example."), name("b.example.")]);
        assert_eq!(l.records.len(), 1);
        assert_eq!(
            l.records[0].data,
            RData::A(A::from_str("192.0.2.2").unwrap())
        );
        assert_eq!(l.min_ttl(), Some(30));
    }

    #[test]
    fn cname_queries_are_not_followed() {
        let l = lookup(
            vec![
                cname("www.example.", "a.example.", 30),
                a("a.example.", "192.0.2.1", 30),
            ],
            "www.example.",
            RecordType::CNAME,
        );
        assert!(l.cname_chain.is_empty());
        assert_eq!(l.records.len(), 1);
    }

    #[test]
    fn loops_yield_nothing() {
        let l = lookup(
            vec![
                cname("a.example.", "b.example.", 30),
                cname("b.example.", "a.example.", 30),
                a("a.example.", "192.0.2.1", 30),
            ],
            "a.example.",
            RecordType::A,
        );
        assert!(l.records.is_empty());
    }

    #[test]
    fn overlong_chains_stop_at_the_limit() {
        let mut answers: Vec<Record> = (0..40)
            .map(|i| {
                cname(
                    &format!("n{i}.example."),
                    &format!("n{}.example.", i + 1),
                    30,
                )
            })
            .collect();
        answers.push(a("n40.example.", "192.0.2.1", 30));
        let l = lookup(answers, "n0.example.", RecordType::A);
        assert_eq!(l.cname_chain.len(), MAX_CNAME_CHAIN);
        assert!(l.records.is_empty());
    }

    #[test]
    fn records_of_other_owners_are_ignored() {
        let l = lookup(
            vec![a("evil.example.", "192.0.2.66", 30)],
            "www.example.",
            RecordType::A,
        );
        assert!(l.records.is_empty());
        assert_eq!(l.min_ttl(), None);
    }
}
