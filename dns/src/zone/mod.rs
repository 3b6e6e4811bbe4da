//! Zones: the master-file parser, hosts files, and the in-memory [`Zone`] the authority
//! answers from.

pub mod hosts;
pub mod lookup;
pub mod parser;

use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

pub use lookup::AuthorityAnswer;

use crate::fnv::FnvMap;

/// Most CNAMEs followed inside one zone while answering one query.
pub const MAX_CNAME_CHAIN: usize = 8;

/// Why records do not make a zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// A record whose owner is not at or below the origin.
    #[error("{owner} is outside the zone {origin}")]
    OutOfZone {
        /// The owner name.
        owner: String,
        /// The zone.
        origin: String,
    },
    /// No SOA, or more than one, at the apex.
    #[error("zone {origin} must have exactly one SOA record at its apex (found {found})")]
    Soa {
        /// The zone.
        origin: String,
        /// How many were found.
        found: usize,
    },
    /// A SOA record below the apex.
    #[error("SOA record at {owner}, below the apex of {origin}")]
    SoaBelowApex {
        /// The owner.
        owner: String,
        /// The zone.
        origin: String,
    },
    /// CNAME beside other data, or two CNAMEs (RFC 1034 §3.6.2, RFC 2181 §10.1).
    #[error("{owner}: a CNAME cannot coexist with other data or another CNAME")]
    CnameConflict {
        /// The owner.
        owner: String,
    },
}

/// The records of one type at one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrSet {
    /// The type.
    pub rtype: RecordType,
    /// The records (same owner, same type).
    pub records: Vec<Record>,
}

/// One name in the zone; empty for empty non-terminals (names that exist only because
/// something below them does — RFC 4592 §2.2.2: they exist, so they get NODATA, and a
/// wildcard does not cover them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    rrsets: Vec<RrSet>,
}

impl Node {
    /// The RRset of `rtype`, if any.
    pub fn get(&self, rtype: RecordType) -> Option<&RrSet> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }

    /// All RRsets.
    pub fn rrsets(&self) -> &[RrSet] {
        &self.rrsets
    }

    /// Whether this is an empty non-terminal.
    pub fn is_empty(&self) -> bool {
        self.rrsets.is_empty()
    }

    fn add(&mut self, record: Record) {
        let rtype = record.record_type();
        match self.rrsets.iter_mut().find(|s| s.rtype == rtype) {
            // RFC 2181 §5: identical records in an RRset are one record.
            Some(set) if set.records.iter().any(|r| r.data == record.data) => {}
            Some(set) => set.records.push(record),
            None => self.rrsets.push(RrSet {
                rtype,
                records: vec![record],
            }),
        }
    }
}

/// An authoritative zone in memory.
#[derive(Debug, Clone)]
pub struct Zone {
    origin: Name,
    origin_labels: usize,
    soa: Record,
    nodes: FnvMap<LowerName, Node>,
    record_count: usize,
}

/// Number of labels, counting a leading `*` (hickory's `num_labels` does not count it).
pub(crate) fn label_count(name: &Name) -> usize {
    name.iter().count()
}

impl Zone {
    /// Build a zone from parsed records, checking what makes a zone a zone.
    pub fn from_records(origin: Name, records: Vec<Record>) -> Result<Zone, ZoneError> {
        let mut origin = origin;
        origin.set_fqdn(true);
        let apex = LowerName::new(&origin);
        let origin_labels = label_count(&origin);
        let mut nodes: FnvMap<LowerName, Node> = FnvMap::default();
        let mut soas = Vec::new();
        let mut count = 0;
        for mut record in records {
            let mut owner = record.name.clone();
            owner.set_fqdn(true);
            record.name = owner.clone();
            if !origin.zone_of(&owner) {
                return Err(ZoneError::OutOfZone {
                    owner: owner.to_string(),
                    origin: origin.to_string(),
                });
            }
            let key = LowerName::new(&owner);
            if record.record_type() == RecordType::SOA {
                if key != apex {
                    return Err(ZoneError::SoaBelowApex {
                        owner: owner.to_string(),
                        origin: origin.to_string(),
                    });
                }
                soas.push(record.clone());
            }
            // Make every ancestor up to the apex exist (empty non-terminals).
            let mut ancestor = owner.base_name();
            while label_count(&ancestor) >= origin_labels && origin.zone_of(&ancestor) {
                nodes.entry(LowerName::new(&ancestor)).or_default();
                if label_count(&ancestor) == origin_labels {
                    break;
                }
                ancestor = ancestor.base_name();
            }
            nodes.entry(key).or_default().add(record);
            count += 1;
        }
        soas.dedup_by(|a, b| a.data == b.data);
        if soas.len() != 1 {
            return Err(ZoneError::Soa {
                origin: origin.to_string(),
                found: soas.len(),
            });
        }
        for (name, node) in &nodes {
            if let Some(cname) = node.get(RecordType::CNAME) {
                if cname.records.len() > 1 || node.rrsets.len() > 1 {
                    return Err(ZoneError::CnameConflict {
                        owner: name.to_string(),
                    });
                }
            }
        }
        let soa = soas.remove(0);
        Ok(Zone {
            origin,
            origin_labels,
            soa,
            nodes,
            record_count: count,
        })
    }

    /// The apex name.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// The SOA record.
    pub fn soa(&self) -> &Record {
        &self.soa
    }

    /// The SOA serial.
    pub fn serial(&self) -> u32 {
        match &self.soa.data {
            RData::SOA(soa) => soa.serial,
            _ => 0,
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.record_count
    }

    /// Whether the zone has no records (never true for a valid zone: it has a SOA).
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// The node at `name`, if it exists (possibly as an empty non-terminal).
    pub fn node(&self, name: &Name) -> Option<&Node> {
        self.nodes.get(&LowerName::new(name))
    }

    /// Whether `name` is at or below the apex.
    pub fn contains_name(&self, name: &Name) -> bool {
        self.origin.zone_of(name)
    }

    /// Every record for a zone transfer: the SOA first and last (RFC 5936 §2.2), the rest in
    /// canonical name order.
    pub fn axfr_records(&self) -> Vec<Record> {
        let mut names: Vec<&LowerName> = self.nodes.keys().collect();
        names.sort();
        let mut out = Vec::with_capacity(self.record_count + 1);
        out.push(self.soa.clone());
        for name in names {
            if let Some(node) = self.nodes.get(name) {
                for set in &node.rrsets {
                    if set.rtype != RecordType::SOA {
                        out.extend(set.records.iter().cloned());
                    }
                }
            }
        }
        out.push(self.soa.clone());
        out
    }

    /// The negative-answer SOA: TTL = min(SOA TTL, SOA MINIMUM) (RFC 2308 §3).
    pub fn negative_soa(&self) -> Record {
        let mut soa = self.soa.clone();
        if let RData::SOA(data) = &self.soa.data {
            soa.ttl = soa.ttl.min(data.minimum);
        }
        soa
    }
}
