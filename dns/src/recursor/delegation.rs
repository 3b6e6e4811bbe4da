//! The name servers of the zone being asked: names, the addresses known for them, and what
//! is left to look up.

use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, Record};

/// A name server of the zone being asked.
#[derive(Debug, Clone)]
pub(crate) struct NameServer {
    pub(crate) name: Name,
    pub(crate) addrs: Vec<IpAddr>,
    /// Whether we have looked for (or cannot look for) its address.
    pub(crate) looked_up: bool,
}

/// The servers of the zone being asked.
#[derive(Debug, Clone)]
pub(crate) struct ZoneServers {
    pub(crate) zone: Name,
    pub(crate) servers: Vec<NameServer>,
}

impl ZoneServers {
    pub(crate) fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.servers.iter().flat_map(|s| s.addrs.iter().copied())
    }

    /// Whether this zone can be asked: some address, or some name server whose address can
    /// be looked up elsewhere (a name inside the zone cannot: its glue is missing).
    pub(crate) fn usable(&self) -> bool {
        self.servers
            .iter()
            .any(|s| !s.addrs.is_empty() || !self.zone.zone_of(&s.name))
    }
}

/// The targets of NS records.
pub(crate) fn ns_targets(records: &[Record]) -> impl Iterator<Item = Name> + '_ {
    records.iter().filter_map(|r| match &r.data {
        RData::NS(ns) => Some(ns.0.clone()),
        _ => None,
    })
}

/// The addresses in A and AAAA records.
pub(crate) fn addresses(records: &[Record]) -> impl Iterator<Item = IpAddr> + '_ {
    records.iter().filter_map(|r| match &r.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
        _ => None,
    })
}
