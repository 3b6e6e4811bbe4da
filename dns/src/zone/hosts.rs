//! `/etc/hosts` files, answered as DNS (Twisted's `twistd dns --hosts-file`).
//!
//! Each line is `ADDRESS NAME [ALIAS…]`, `#` starts a comment. Every name on a line (canonical
//! and aliases) maps to the address; a reverse lookup (`PTR` of an `in-addr.arpa` or `ip6.arpa`
//! name) answers the first name ever given for that address. Names match case-insensitively,
//! with or without a trailing dot. Malformed lines are skipped with a warning, so one typo does
//! not take the whole file down.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The TTL of every answer taken from a hosts file.
pub const HOSTS_TTL: u32 = 3600;

/// A parsed hosts file.
#[derive(Debug, Clone, Default)]
pub struct HostsFile {
    /// Lowercased, absolute name → its addresses, in file order.
    by_name: HashMap<Name, Vec<IpAddr>>,
    /// Address → its names as written (made absolute), in file order; the first is canonical.
    by_addr: HashMap<IpAddr, Vec<Name>>,
    warnings: Vec<String>,
}

impl HostsFile {
    /// Parses hosts-file text. Never fails: malformed lines and names are skipped and described
    /// in [`HostsFile::warnings`].
    pub fn parse(text: &str) -> HostsFile {
        let mut hosts = HostsFile::default();
        for (index, line) in text.lines().enumerate() {
            hosts.parse_line(index + 1, line);
        }
        hosts
    }

    /// Reads and parses the hosts file at `path`.
    pub fn load(path: &Path) -> std::io::Result<HostsFile> {
        let bytes = std::fs::read(path)?;
        Ok(HostsFile::parse(&String::from_utf8_lossy(&bytes)))
    }

    fn parse_line(&mut self, number: usize, line: &str) {
        let content = line.split('#').next().unwrap_or_default();
        let mut fields = content.split_whitespace();
        let Some(address) = fields.next() else {
            return;
        };
        // A zone index (`fe80::1%lo0`) means nothing outside the host; drop it.
        let bare = address.split('%').next().unwrap_or_default();
        let Ok(address) = bare.parse::<IpAddr>() else {
            self.warnings
                .push(format!("line {number}: bad address '{address}'"));
            return;
        };
        let mut any_name = false;
        for field in fields {
            match host_name(field) {
                Some(name) => {
                    any_name = true;
                    self.add(address, name);
                }
                None => self
                    .warnings
                    .push(format!("line {number}: bad host name '{field}'")),
            }
        }
        if !any_name {
            self.warnings
                .push(format!("line {number}: address {address} without a name"));
        }
    }

    fn add(&mut self, address: IpAddr, name: Name) {
        let addresses = self.by_name.entry(name.to_lowercase()).or_default();
        if !addresses.contains(&address) {
            addresses.push(address);
        }
        let names = self.by_addr.entry(address).or_default();
        if !names.contains(&name) {
            names.push(name);
        }
    }

    /// Answers `name`/`rtype` from the file: `A` and `AAAA` for host names, `PTR` for reverse
    /// names. `None` when the file does not know the name at all (ask elsewhere); `Some` of an
    /// empty list when it knows the name but has no data of that type (NODATA).
    pub fn lookup(&self, name: &Name, rtype: RecordType) -> Option<Vec<Record>> {
        let mut key = name.to_lowercase();
        key.set_fqdn(true);
        let record = |rdata: RData| Record::from_rdata(name.clone(), HOSTS_TTL, rdata);

        if let Some(canonical) = reverse_address(&key).and_then(|ip| self.by_addr.get(&ip)) {
            return Some(match (rtype, canonical.first()) {
                (RecordType::PTR, Some(first)) => vec![record(RData::PTR(PTR(first.clone())))],
                _ => Vec::new(),
            });
        }

        let addresses = self.by_name.get(&key)?;
        let records = addresses
            .iter()
            .filter_map(|address| match (rtype, address) {
                (RecordType::A, IpAddr::V4(v4)) => Some(record(RData::A(A(*v4)))),
                (RecordType::AAAA, IpAddr::V6(v6)) => Some(record(RData::AAAA(AAAA(*v6)))),
                _ => None,
            })
            .collect();
        Some(records)
    }

    /// How many distinct names the file defines.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// One line per skipped line or name: `line N: why`.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// A host name from the file, made absolute; `None` when it is not a usable DNS name.
fn host_name(text: &str) -> Option<Name> {
    // Names are plain host names: no escapes, no empty labels, no root.
    if text.contains('\\') || text == "." {
        return None;
    }
    let mut name = Name::from_ascii(text).ok()?;
    if name.num_labels() == 0 && !name.is_wildcard() {
        return None;
    }
    name.set_fqdn(true);
    Some(name)
}

/// The address a full-length `in-addr.arpa` or `ip6.arpa` name stands for.
fn reverse_address(name: &Name) -> Option<IpAddr> {
    let net = name.parse_arpa_name().ok()?;
    let full = match net.addr() {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    (net.prefix_len() == full).then(|| net.addr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).expect("test name")
    }

    const SAMPLE: &str = "\
# static table
127.0.0.1   localhost localhost.localdomain   # loopback
::1         localhost ip6-localhost
192.0.2.10  Web.Example.  www  # canonical first
192.0.2.11  www.example
2001:db8::10 web.example.
fe80::1%lo0 linklocal

not-an-ip   broken
10.0.0.1
10.0.0.2    bad..name good
";

    fn addresses(records: &[Record]) -> Vec<IpAddr> {
        records.iter().filter_map(|r| r.data.ip_addr()).collect()
    }

    #[test]
    fn forward_lookups_by_type() {
        let hosts = HostsFile::parse(SAMPLE);
        let v4 = hosts
            .lookup(&name("localhost"), RecordType::A)
            .expect("known");
        assert_eq!(addresses(&v4), vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        assert!(v4.iter().all(|r| r.ttl == HOSTS_TTL));
        let v6 = hosts
            .lookup(&name("localhost."), RecordType::AAAA)
            .expect("known");
        assert_eq!(addresses(&v6), vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]);
        // The answer's owner is the name asked, as asked.
        assert!(v6[0].name.eq_case(&name("localhost.")));
    }

    #[test]
    fn names_are_case_insensitive_and_trailing_dot_optional() {
        let hosts = HostsFile::parse(SAMPLE);
        for asked in ["web.example", "WEB.EXAMPLE.", "Web.Example"] {
            let v4 = hosts.lookup(&name(asked), RecordType::A).expect("known");
            assert_eq!(
                addresses(&v4),
                vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))],
                "{asked}"
            );
        }
        let v6 = hosts
            .lookup(&name("web.example"), RecordType::AAAA)
            .expect("known");
        assert_eq!(
            addresses(&v6),
            vec!["2001:db8::10".parse::<IpAddr>().expect("ip")]
        );
    }

    #[test]
    fn aliases_map_to_the_address() {
        let hosts = HostsFile::parse(SAMPLE);
        let www = hosts.lookup(&name("www"), RecordType::A).expect("alias");
        assert_eq!(
            addresses(&www),
            vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))]
        );
        let alias = hosts
            .lookup(&name("localhost.localdomain"), RecordType::A)
            .expect("alias");
        assert_eq!(addresses(&alias), vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        let zoned = hosts
            .lookup(&name("linklocal"), RecordType::AAAA)
            .expect("zone index dropped");
        assert_eq!(
            addresses(&zoned),
            vec!["fe80::1".parse::<IpAddr>().expect("ip")]
        );
    }

    #[test]
    fn unknown_name_is_none_and_missing_type_is_empty() {
        let hosts = HostsFile::parse(SAMPLE);
        assert!(hosts
            .lookup(&name("nowhere.example"), RecordType::A)
            .is_none());
        assert_eq!(
            hosts
                .lookup(&name("www"), RecordType::AAAA)
                .map(|r| r.len()),
            Some(0)
        );
        assert_eq!(
            hosts.lookup(&name("www"), RecordType::MX).map(|r| r.len()),
            Some(0)
        );
    }

    #[test]
    fn reverse_lookups_answer_the_canonical_name() {
        let hosts = HostsFile::parse(SAMPLE);
        let ptr = hosts
            .lookup(&name("10.2.0.192.in-addr.arpa."), RecordType::PTR)
            .expect("known address");
        assert_eq!(ptr.len(), 1);
        match &ptr[0].data {
            RData::PTR(PTR(target)) => assert!(target.eq_case(&name("Web.Example."))),
            other => panic!("not a PTR: {other:?}"),
        }
        assert_eq!(ptr[0].ttl, HOSTS_TTL);

        let v6 = hosts
            .lookup(
                &name("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"),
                RecordType::PTR,
            )
            .expect("::1");
        match &v6[0].data {
            RData::PTR(PTR(target)) => assert_eq!(target, &name("localhost.")),
            other => panic!("not a PTR: {other:?}"),
        }
        // An address the file does not list; a partial reverse name.
        assert!(hosts
            .lookup(&name("99.2.0.192.in-addr.arpa."), RecordType::PTR)
            .is_none());
        assert!(hosts
            .lookup(&name("2.0.192.in-addr.arpa."), RecordType::PTR)
            .is_none());
        // A known reverse name asked for another type: NODATA.
        assert_eq!(
            hosts
                .lookup(&name("1.0.0.127.in-addr.arpa."), RecordType::A)
                .map(|r| r.len()),
            Some(0)
        );
    }

    #[test]
    fn malformed_lines_are_skipped_with_warnings() {
        let hosts = HostsFile::parse(SAMPLE);
        let warnings = hosts.warnings();
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].starts_with("line 9: bad address 'not-an-ip'"));
        assert!(warnings[1].starts_with("line 10: address 10.0.0.1 without a name"));
        assert!(warnings[2].starts_with("line 11: bad host name 'bad..name'"));
        // The good name on the line with a bad one still counts.
        assert!(hosts.lookup(&name("good"), RecordType::A).is_some());
        assert!(hosts.lookup(&name("broken"), RecordType::A).is_none());
        // localhost, localhost.localdomain, ip6-localhost, web.example, www, www.example,
        // linklocal, good.
        assert_eq!(hosts.len(), 8);
        assert!(!hosts.is_empty());
        assert!(HostsFile::parse("# nothing\n\n").is_empty());
    }

    #[test]
    fn load_reads_a_file() {
        let path = std::env::temp_dir().join(format!("torsion-hosts-{}", std::process::id()));
        std::fs::write(&path, "198.51.100.7 mail.example\n").expect("write");
        let hosts = HostsFile::load(&path);
        let _ = std::fs::remove_file(&path);
        let hosts = hosts.expect("load");
        let a = hosts
            .lookup(&name("mail.example"), RecordType::A)
            .expect("known");
        assert_eq!(
            addresses(&a),
            vec![IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))]
        );
        assert!(HostsFile::load(Path::new("/nonexistent/torsion/hosts")).is_err());
    }
}
