//! The fake network the recursor and forwarder tests run against: each fake server is an IP
//! address serving some zones (authoritative answers, referrals with glue, NXDOMAIN and
//! NODATA with the SOA), optionally dead, slow, failing, or adding poison to its responses.
//! Every query is logged.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use torsion_dns::client::ExchangeError;
use torsion_dns::recursor::{Resolution, RootHints, Upstream};

// ---------------------------------------------------------------------------------------------
// Records

pub fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn a(owner: &str, addr: &str) -> Record {
    Record::from_rdata(n(owner), 300, RData::A(A::from_str(addr).unwrap()))
}

pub fn ns(owner: &str, target: &str) -> Record {
    Record::from_rdata(n(owner), 3600, RData::NS(NS(n(target))))
}

pub fn cname(owner: &str, target: &str) -> Record {
    Record::from_rdata(n(owner), 300, RData::CNAME(CNAME(n(target))))
}

/// SOA with TTL 3600 and MINIMUM 60: negative answers live 60 s.
pub fn soa(zone: &str) -> Record {
    let suffix = if zone == "." { "" } else { zone };
    let data = SOA::new(
        n(&format!("ns.{suffix}")),
        n(&format!("hostmaster.{suffix}")),
        1,
        3600,
        600,
        86400,
        60,
    );
    Record::from_rdata(n(zone), 3600, RData::SOA(data))
}

pub fn addrs(resolution: &Resolution) -> Vec<IpAddr> {
    resolution
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The fake network

pub struct Zone {
    pub origin: Name,
    pub records: Vec<Record>,
}

#[derive(Default)]
pub struct FakeServer {
    pub zones: Vec<Zone>,
    pub dead: bool,
    pub latency: Duration,
    /// Answer every query with this RCODE and nothing else.
    pub rcode: Option<ResponseCode>,
    /// Records added to every response's answer and additional sections.
    pub poison: Vec<Record>,
    /// NXDOMAIN for empty non-terminals, as some broken servers do.
    pub nx_for_ent: bool,
}

/// How long a dead server takes to "time out".
pub const DEAD_DELAY: Duration = Duration::from_millis(1500);

impl FakeServer {
    fn answer(&self, qname: &Name, qtype: RecordType) -> Message {
        let mut m = Message::new(0, MessageType::Response, OpCode::Query);
        m.queries = vec![Query::query(qname.clone(), qtype)];
        if let Some(rcode) = self.rcode {
            m.metadata.response_code = rcode;
            return m;
        }
        let Some(zone) = self
            .zones
            .iter()
            .filter(|z| z.origin.zone_of(qname))
            .max_by_key(|z| z.origin.num_labels())
        else {
            m.metadata.response_code = ResponseCode::Refused;
            return m;
        };
        let cut = zone
            .records
            .iter()
            .filter(|r| {
                r.record_type() == RecordType::NS
                    && r.name != zone.origin
                    && r.name.zone_of(qname)
                    && !(qtype == RecordType::DS && r.name == *qname)
            })
            .map(|r| r.name.clone())
            .max_by_key(|name| name.num_labels());
        if let Some(cut) = cut {
            m.authorities = zone
                .records
                .iter()
                .filter(|r| r.record_type() == RecordType::NS && r.name == cut)
                .cloned()
                .collect();
            let targets: Vec<Name> = m
                .authorities
                .iter()
                .filter_map(|r| match &r.data {
                    RData::NS(t) => Some(t.0.clone()),
                    _ => None,
                })
                .collect();
            m.additionals = zone
                .records
                .iter()
                .filter(|r| r.record_type() == RecordType::A && targets.contains(&r.name))
                .cloned()
                .collect();
        } else {
            m.metadata.authoritative = true;
            let mut current = qname.clone();
            for _ in 0..8 {
                let exact: Vec<Record> = zone
                    .records
                    .iter()
                    .filter(|r| r.name == current && r.record_type() == qtype)
                    .cloned()
                    .collect();
                if !exact.is_empty() {
                    m.answers.extend(exact);
                    break;
                }
                let alias = zone
                    .records
                    .iter()
                    .find(|r| r.name == current && r.record_type() == RecordType::CNAME);
                if let (Some(alias), false) = (alias, qtype == RecordType::CNAME) {
                    m.answers.push(alias.clone());
                    let RData::CNAME(target) = &alias.data else {
                        unreachable!()
                    };
                    current = target.0.clone();
                    if zone.origin.zone_of(&current) {
                        continue;
                    }
                    break;
                }
                let exists = zone.records.iter().any(|r| {
                    if self.nx_for_ent {
                        r.name == current
                    } else {
                        current.zone_of(&r.name)
                    }
                });
                if !exists {
                    m.metadata.response_code = ResponseCode::NXDomain;
                }
                m.authorities.extend(
                    zone.records
                        .iter()
                        .filter(|r| r.record_type() == RecordType::SOA)
                        .cloned(),
                );
                break;
            }
        }
        m.answers.extend(self.poison.iter().cloned());
        m.additionals.extend(self.poison.iter().cloned());
        m
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub ip: IpAddr,
    pub name: Name,
    pub rtype: RecordType,
    pub rd: bool,
}

#[derive(Default)]
pub struct FakeNet {
    pub servers: Mutex<HashMap<IpAddr, FakeServer>>,
    pub log: Mutex<Vec<Sent>>,
}

#[derive(Clone, Default)]
pub struct Net(pub Arc<FakeNet>);

impl Net {
    /// Adds `records` to zone `origin` on server `addr` (created with an SOA if new).
    pub fn add(&self, addr: &str, origin: &str, records: Vec<Record>) -> &Self {
        let mut servers = self.0.servers.lock().unwrap();
        let server = servers.entry(ip(addr)).or_default();
        let origin = n(origin);
        if !server.zones.iter().any(|z| z.origin == origin) {
            server.zones.push(Zone {
                records: vec![soa(&origin.to_ascii())],
                origin: origin.clone(),
            });
        }
        let zone = server
            .zones
            .iter_mut()
            .find(|z| z.origin == origin)
            .unwrap();
        zone.records.extend(records);
        drop(servers);
        self
    }

    pub fn with_server(&self, addr: &str, f: impl FnOnce(&mut FakeServer)) {
        let mut servers = self.0.servers.lock().unwrap();
        f(servers.entry(ip(addr)).or_default());
    }

    pub fn log(&self) -> Vec<Sent> {
        self.0.log.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.0.log.lock().unwrap().len()
    }

    pub fn asked(&self, addr: &str) -> Vec<Sent> {
        self.log()
            .into_iter()
            .filter(|s| s.ip == ip(addr))
            .collect()
    }
}

impl Upstream for Net {
    async fn query(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        recursion_desired: bool,
    ) -> Result<Message, ExchangeError> {
        assert_eq!(server.port(), 53);
        self.0.log.lock().unwrap().push(Sent {
            ip: server.ip(),
            name: name.clone(),
            rtype,
            rd: recursion_desired,
        });
        let (delay, result) = {
            let servers = self.0.servers.lock().unwrap();
            match servers.get(&server.ip()) {
                Some(s) if !s.dead => (s.latency, Ok(s.answer(name, rtype))),
                _ => (
                    DEAD_DELAY,
                    Err(ExchangeError::Timeout {
                        server,
                        timeout: DEAD_DELAY,
                        ignored: 0,
                    }),
                ),
            }
        };
        tokio::time::sleep(delay).await;
        // Through the wire format, as a real response would come.
        result.map(|m| Message::from_vec(&m.to_vec().unwrap()).unwrap())
    }
}

pub const ROOT: &str = "10.0.0.1";
pub const TLD: &str = "10.0.1.1";
pub const OTHER: &str = "10.0.2.1";
pub const EXAMPLE: &str = "10.0.3.1";
pub const BANK: &str = "10.0.3.2";

/// root → tld. → example.tld. / bank.tld., and root → other.
pub fn hierarchy() -> Net {
    let net = Net::default();
    net.add(
        ROOT,
        ".",
        vec![
            ns(".", "a.root."),
            a("a.root.", ROOT),
            ns("tld.", "ns.tld."),
            a("ns.tld.", TLD),
            ns("other.", "ns.other."),
            a("ns.other.", OTHER),
        ],
    );
    net.add(
        TLD,
        "tld.",
        vec![
            ns("tld.", "ns.tld."),
            a("ns.tld.", TLD),
            ns("example.tld.", "ns1.example.tld."),
            a("ns1.example.tld.", EXAMPLE),
            ns("bank.tld.", "ns.bank.tld."),
            a("ns.bank.tld.", BANK),
        ],
    );
    net.add(
        OTHER,
        "other.",
        vec![ns("other.", "ns.other."), a("ns.other.", OTHER)],
    );
    net.add(
        EXAMPLE,
        "example.tld.",
        vec![
            ns("example.tld.", "ns1.example.tld."),
            a("ns1.example.tld.", EXAMPLE),
            a("www.example.tld.", "192.0.2.1"),
            cname("alias.example.tld.", "www.example.tld."),
        ],
    );
    net.add(
        BANK,
        "bank.tld.",
        vec![
            ns("bank.tld.", "ns.bank.tld."),
            a("www.bank.tld.", "192.0.2.20"),
        ],
    );
    net
}

pub fn hints() -> RootHints {
    RootHints::from_servers(vec![(n("a.root."), vec![ip(ROOT)])])
}
