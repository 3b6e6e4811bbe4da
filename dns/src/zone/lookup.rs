//! The authoritative lookup algorithm: RFC 1034 §4.3.2 with RFC 4592 wildcards, RFC 2308
//! negative answers and RFC 8482 ANY.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use super::{label_count, Node, Zone, MAX_CNAME_CHAIN};

/// What the zone says about a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityAnswer {
    /// NOERROR or NXDOMAIN.
    pub rcode: ResponseCode,
    /// AA: false for referrals.
    pub authoritative: bool,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section: the SOA for negative answers, the child's NS for referrals.
    pub authorities: Vec<Record>,
    /// Additional section: glue and addresses of MX/NS/SRV targets in the zone.
    pub additionals: Vec<Record>,
}

/// One step of the lookup.
enum Step<'a> {
    /// The name is below a zone cut: refer to the child.
    Delegation(&'a Node),
    /// Records of the asked type (owner rewritten for wildcards).
    Answer(Vec<Record>),
    /// A CNAME to follow (boxed: a record is large next to the other variants).
    Cname(Box<Record>, Name),
    /// The name exists without the type.
    NoData,
    /// The name does not exist.
    NxDomain,
}

impl Zone {
    /// Answer `qname`/`qtype` from this zone. `qname` must be at or below the origin.
    ///
    /// Positive answers carry the apex NS RRset in the authority section and the addresses of
    /// those name servers in the additional section, as NSD and BIND do by default. ANY gets
    /// one RRset and nothing else, over any transport (RFC 8482 §4.1, as NSD answers it).
    pub fn lookup(&self, qname: &Name, qtype: RecordType) -> AuthorityAnswer {
        let mut out = AuthorityAnswer {
            rcode: ResponseCode::NoError,
            authoritative: true,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        };
        let mut current = qname.clone();
        let mut seen: Vec<LowerName> = Vec::new();
        loop {
            match self.step(&current, qtype) {
                Step::Delegation(cut) => {
                    // A referral (AA=0) — or, after CNAMEs, the CNAMEs plus the referral for the
                    // target, as BIND and NSD do.
                    out.authoritative = !out.answers.is_empty();
                    if let Some(ns) = cut.get(RecordType::NS) {
                        out.authorities.extend(ns.records.iter().cloned());
                        for record in &ns.records {
                            if let RData::NS(target) = &record.data {
                                self.add_addresses(&target.0, &mut out.additionals);
                            }
                        }
                    }
                    return out;
                }
                Step::Answer(records) => {
                    if qtype != RecordType::ANY {
                        for record in &records {
                            self.additional_for(record, &mut out.additionals);
                        }
                        self.add_apex_ns(&records, &mut out);
                    }
                    out.answers.extend(records);
                    // An RRset already in the answer is not repeated as additional data
                    // (asking for ns1's A must not add ns1's A again), as NSD does.
                    let answers = &out.answers;
                    out.additionals.retain(|r| !answers.contains(r));
                    return out;
                }
                Step::Cname(record, target) => {
                    out.answers.push(*record);
                    seen.push(LowerName::new(&current));
                    let looped = seen.contains(&LowerName::new(&target));
                    if !self.contains_name(&target) || looped || seen.len() >= MAX_CNAME_CHAIN {
                        // Out of zone: the resolver follows it. A loop or an over-long chain
                        // is answered as far as it goes.
                        return out;
                    }
                    current = target;
                }
                Step::NoData => {
                    out.authorities.push(self.negative_soa());
                    return out;
                }
                Step::NxDomain => {
                    // RFC 6604 §2.1: the rcode describes the last name in the chain.
                    out.rcode = ResponseCode::NXDomain;
                    out.authorities.push(self.negative_soa());
                    return out;
                }
            }
        }
    }

    fn step(&self, name: &Name, qtype: RecordType) -> Step<'_> {
        let labels = label_count(name);
        // Zone cuts between the apex and the name (the apex's own NS is not a cut).
        for n in (self.origin_labels + 1)..=labels {
            let ancestor = name.trim_to(n);
            if let Some(node) = self.node(&ancestor) {
                // DS lives on the parent side of the cut.
                let at_name = n == labels;
                if node.get(RecordType::NS).is_some() && !(at_name && qtype == RecordType::DS) {
                    return Step::Delegation(node);
                }
            }
        }
        if let Some(node) = self.node(name) {
            return answer_from(node, qtype, None);
        }
        // RFC 4592 §3.3.1: the closest encloser is the longest existing ancestor; a wildcard
        // directly below it is the source of synthesis.
        for n in (self.origin_labels..labels).rev() {
            let ancestor = name.trim_to(n);
            if self.node(&ancestor).is_some() {
                let Ok(wildcard) = ancestor.prepend_label("*") else {
                    return Step::NxDomain;
                };
                return match self.node(&wildcard) {
                    Some(source) => answer_from(source, qtype, Some(name)),
                    None => Step::NxDomain,
                };
            }
        }
        Step::NxDomain
    }

    /// Address records of `target` from this zone (glue for referrals, or additional data for
    /// MX/NS/SRV targets).
    fn add_addresses(&self, target: &Name, out: &mut Vec<Record>) {
        if !self.contains_name(target) {
            return;
        }
        let Some(node) = self.node(target) else {
            return;
        };
        for rtype in [RecordType::A, RecordType::AAAA] {
            if let Some(set) = node.get(rtype) {
                for record in &set.records {
                    if !out.contains(record) {
                        out.push(record.clone());
                    }
                }
            }
        }
    }

    /// The apex NS RRset in the authority section (unless the answer is that RRset) and the
    /// name servers' addresses in the additional section.
    fn add_apex_ns(&self, answers: &[Record], out: &mut AuthorityAnswer) {
        let Some(ns) = self
            .node(&self.origin)
            .and_then(|apex| apex.get(RecordType::NS))
        else {
            return;
        };
        if answers
            .first()
            .is_some_and(|r| r.record_type() == RecordType::NS && r.name == self.origin)
        {
            return;
        }
        out.authorities.extend(ns.records.iter().cloned());
        for record in &ns.records {
            if let RData::NS(target) = &record.data {
                self.add_addresses(&target.0, &mut out.additionals);
            }
        }
    }

    /// RFC 1035 §3.3.9, §3.3.11, RFC 2782: additional section processing.
    fn additional_for(&self, record: &Record, out: &mut Vec<Record>) {
        let target = match &record.data {
            RData::MX(mx) => &mx.exchange,
            RData::NS(ns) => &ns.0,
            RData::SRV(srv) => &srv.target,
            _ => return,
        };
        // A target inside a delegated child is not ours to vouch for.
        if let Step::Delegation(_) = self.step(target, RecordType::A) {
            return;
        }
        self.add_addresses(target, out);
    }
}

/// The answer from an existing node (or a wildcard, owner rewritten to `synthesize`).
fn answer_from<'a>(node: &'a Node, qtype: RecordType, synthesize: Option<&Name>) -> Step<'a> {
    let owned = |records: &[Record]| -> Vec<Record> {
        records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if let Some(owner) = synthesize {
                    r.name = owner.clone();
                }
                r
            })
            .collect()
    };
    if qtype != RecordType::CNAME {
        if let Some(cname) = node.get(RecordType::CNAME) {
            if let Some(first) = owned(&cname.records).into_iter().next() {
                if let RData::CNAME(target) = &first.data {
                    let target = target.0.clone();
                    if qtype == RecordType::ANY {
                        return Step::Answer(vec![first]);
                    }
                    return Step::Cname(Box::new(first), target);
                }
            }
        }
    }
    if qtype == RecordType::ANY {
        return match node.rrsets().first() {
            Some(first) => Step::Answer(owned(&first.records)),
            None => Step::NoData,
        };
    }
    match node.get(qtype) {
        Some(set) => Step::Answer(owned(&set.records)),
        None => Step::NoData,
    }
}
