//! Interop checks for torsion-dns: dig and kdig (over UDP and TCP, NXDOMAIN, AXFR, truncation and
//! the retry over TCP) against our authoritative server, and a differential run against NSD:
//! the same zone served by both, 60 queries sent to each from here, the answers compared
//! section by section. Servers listen on 127.0.0.1 (port 0, or a port picked here when UDP and
//! TCP must share it) and are stopped by PID; scratch files go under var/interop/.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, Record, RecordType};

use super::{require, shorten, Client, Report};
use crate::util::{self, ServerProcess};

/// Bound on a server logging `listening on` (torsion-dns) or answering its first query (NSD).
const START: Duration = Duration::from_secs(10);
/// Bound on one dig/kdig run.
const EXCHANGE: Duration = Duration::from_secs(10);
/// Read timeout of one query sent from here.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// The EDNS payload size we advertise (what dig and kdig send by default; the DNS flag day 2020
/// value, and the most torsion-dns answers with).
const EDNS_PAYLOAD: u16 = 1232;

/// The demo zone `cargo xtask up` serves: the dig and kdig checks ask for its names.
const DEMO_ZONE: &str = "dns/demo/demo.test.zone";
/// The zone of the AXFR check; [`AXFR_RECORDS`] is its content as dig prints it.
const AXFR_ZONE: &str = "xtask/interop-data/dns/axfr.test.zone";
/// The zone served by NSD and by us in nsd-differential, also used for truncation.
const DIFFERENTIAL_ZONE: &str = "xtask/interop-data/dns/differential.test.zone";
const DIFFERENTIAL_ORIGIN: &str = "differential.test.";

/// Every record of axfr.test.zone except the SOA, as dig prints them (whitespace collapsed).
const AXFR_RECORDS: &[&str] = &[
    "axfr.test. 3600 IN NS ns1.axfr.test.",
    "axfr.test. 3600 IN MX 10 mail.axfr.test.",
    "ns1.axfr.test. 3600 IN A 127.0.0.1",
    "mail.axfr.test. 3600 IN A 127.0.0.1",
    "www.axfr.test. 3600 IN A 127.0.0.1",
    "www.axfr.test. 3600 IN AAAA ::1",
    "www.axfr.test. 600 IN TXT \"hello axfr\"",
    "web.axfr.test. 3600 IN CNAME www.axfr.test.",
    "*.apps.axfr.test. 3600 IN CNAME www.axfr.test.",
];
const AXFR_SOA: &str =
    "axfr.test. 3600 IN SOA ns1.axfr.test. hostmaster.axfr.test. 2026010101 7200 900 1209600 300";

/// Run every DNS check into `report`.
pub fn run(report: &mut Report) {
    if let Err(e) = util::cargo_build(&["-p", "torsion-dns", "--bin", "torsion-dns"]) {
        report.fail("dns: build torsion-dns", &e);
        return;
    }
    let root = util::workspace_root();
    let dir = root.join("var").join("interop");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        report.fail("dns: create var/interop", &e.to_string());
        return;
    }
    // One server for the plain dig/kdig checks and the refused transfer.
    let server = match Dns::start(&root, "dns-demo", &[DEMO_ZONE, AXFR_ZONE], &[], None) {
        Ok(server) => Some(server),
        Err(e) => {
            report.fail("dns: start torsion-dns with the demo zone", &e);
            None
        }
    };
    if let Some(server) = &server {
        report.check("dig-udp (dig www.demo.test A +short)", || {
            dig_udp(&root, server)
        });
        report.check("dig-tcp (dig +tcp www.demo.test A +short)", || {
            dig_tcp(&root, server)
        });
        report.check("kdig (MX over UDP, SRV over TCP)", || kdig(&root, server));
        report.check(
            "dig-nxdomain (status NXDOMAIN, SOA in AUTHORITY with the negative TTL)",
            || dig_nxdomain(&root, server),
        );
        report.check(
            "dig-axfr (refused without --allow-transfer; full transfer with it)",
            || dig_axfr(&root, server),
        );
        report.check(
            "dig-refused-ede (a name outside our zones: REFUSED with EDE 20 Not Authoritative)",
            || dig_refused_ede(&root, server),
        );
    }
    if let Some(server) = server {
        if let Err(e) = server.stop() {
            report.fail("dns: stop torsion-dns", &e);
        }
    }
    report.check(
        "dig-recursive (dig and kdig against the recursive resolver over a loopback hierarchy)",
        || dig_recursive(&root),
    );
    report.check(
        "dig-truncation (TC over UDP at 512 bytes; dig retries over TCP for all 60 TXT)",
        || dig_truncation(&root),
    );
    report.check(
        "nsd-differential (the same zone from NSD and torsion-dns, answers compared)",
        || nsd_differential(&root),
    );
}

/// A running torsion-dns with its UDP and TCP ports.
#[derive(Debug)]
struct Dns {
    process: ServerProcess,
    udp: u16,
    tcp: u16,
}

impl Dns {
    /// Serve `zones` (paths relative to the workspace root) on 127.0.0.1, on port 0 for UDP and
    /// TCP separately, or on `same_port` for both.
    fn start(
        root: &Path,
        check: &str,
        zones: &[&str],
        extra: &[&str],
        same_port: Option<u16>,
    ) -> Result<Dns, String> {
        Self::start_on(root, check, "127.0.0.1", zones, extra, same_port)
    }

    /// As [`start`](Self::start), on another loopback address.
    fn start_on(
        root: &Path,
        check: &str,
        ip: &str,
        zones: &[&str],
        extra: &[&str],
        same_port: Option<u16>,
    ) -> Result<Dns, String> {
        let port = same_port.unwrap_or(0);
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            format!("udp:{port}:interface={ip}"),
            "--listen".into(),
            format!("tcp:{port}:interface={ip}"),
        ];
        for zone in zones {
            args.push("--zone".into());
            args.push((*zone).into());
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let log = root
            .join("var")
            .join("interop")
            .join(format!("{check}.log"));
        let binary = util::release_dir().join("torsion-dns");
        let mut process = ServerProcess::spawn("torsion-dns", &binary, &args, root, &log)?;
        let addresses = process.wait_listening(2, START)?;
        let port_with = |scheme: &str| {
            addresses
                .iter()
                .find(|a| a.starts_with(scheme))
                .and_then(|a| util::port_of(a))
                .ok_or_else(|| format!("no {scheme} address in {addresses:?}"))
        };
        let (udp, tcp) = (port_with("udp:")?, port_with("tcp:")?);
        Ok(Dns { process, udp, tcp })
    }

    /// SIGTERM and require exit 0.
    fn stop(mut self) -> Result<(), String> {
        self.process.stop_cleanly()
    }
}

/// Run `tool ARGS…` to completion (bounded) and return its stdout; a non-zero exit is an error.
fn run_tool(root: &Path, tool: &Path, args: &[&str]) -> Result<String, String> {
    let mut client = Client::spawn(tool, args, root)?;
    let status = client.finish(EXCHANGE)?;
    let stdout = String::from_utf8_lossy(client.stdout()).into_owned();
    if status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{} {} exited with {}; {}",
            tool.display(),
            args.join(" "),
            util::describe_status(status),
            client.transcript()
        ))
    }
}

/// `dig @127.0.0.1 -p PORT ARGS…`, one try of at most 3 s.
fn dig(root: &Path, port: u16, args: &[&str]) -> Result<String, String> {
    let dig = require("dig", "dnsutils")?;
    let port = port.to_string();
    let mut all = vec!["@127.0.0.1", "-p", &port, "+time=3", "+tries=1"];
    all.extend_from_slice(args);
    run_tool(root, &dig, &all)
}

/// `kdig @127.0.0.1 -p PORT ARGS…`, one try of at most 3 s.
fn kdig_run(root: &Path, port: u16, args: &[&str]) -> Result<String, String> {
    let kdig = require("kdig", "knot-dnsutils")?;
    let port = port.to_string();
    let mut all = vec!["@127.0.0.1", "-p", &port, "+time=3", "+retry=0"];
    all.extend_from_slice(args);
    run_tool(root, &kdig, &all)
}

/// Require `+short` output to be exactly `want` (one line).
fn expect_short(what: &str, output: &str, want: &str) -> Result<(), String> {
    if output.trim() == want {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected {want:?}, got {:?}",
            shorten(output)
        ))
    }
}

fn dig_udp(root: &Path, server: &Dns) -> Result<(), String> {
    let out = dig(root, server.udp, &["www.demo.test", "A", "+short"])?;
    expect_short("dig www.demo.test A", &out, "127.0.0.1")
}

fn dig_tcp(root: &Path, server: &Dns) -> Result<(), String> {
    let out = dig(root, server.tcp, &["+tcp", "www.demo.test", "A", "+short"])?;
    expect_short("dig +tcp www.demo.test A", &out, "127.0.0.1")
}

fn kdig(root: &Path, server: &Dns) -> Result<(), String> {
    let out = kdig_run(root, server.udp, &["demo.test", "MX", "+short"])?;
    expect_short("kdig demo.test MX", &out, "10 mail.demo.test.")?;
    let out = kdig_run(
        root,
        server.tcp,
        &["+tcp", "_imap._tcp.demo.test", "SRV", "+short"],
    )?;
    expect_short(
        "kdig +tcp _imap._tcp.demo.test SRV",
        &out,
        "0 1 1143 mail.demo.test.",
    )
}

/// The lines of one section of dig's full output (`;; NAME SECTION:` up to the blank line).
fn dig_section<'a>(output: &'a str, section: &str) -> Vec<&'a str> {
    let header = format!(";; {section} SECTION:");
    output
        .lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

fn dig_nxdomain(root: &Path, server: &Dns) -> Result<(), String> {
    let out = dig(root, server.udp, &["+norec", "nope.demo.test", "A"])?;
    if !out.contains("status: NXDOMAIN") {
        return Err(format!("no \"status: NXDOMAIN\" in {:?}", shorten(&out)));
    }
    if !out.contains(" aa") {
        return Err(format!("the aa flag is not set: {:?}", shorten(&out)));
    }
    let authority = dig_section(&out, "AUTHORITY");
    let soa: Vec<Vec<&str>> = authority
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.get(3) == Some(&"SOA"))
        .collect();
    let [fields] = soa.as_slice() else {
        return Err(format!(
            "expected one SOA in the AUTHORITY section, got {authority:?}"
        ));
    };
    // NAME TTL IN SOA MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM
    let ttl: Option<u32> = fields.get(1).and_then(|t| t.parse().ok());
    let minimum: Option<u32> = fields.get(10).and_then(|t| t.parse().ok());
    match (fields.first(), ttl, minimum) {
        (Some(&"demo.test."), Some(ttl), Some(minimum)) if ttl <= minimum => Ok(()),
        _ => Err(format!(
            "expected demo.test.'s SOA with a TTL at most its MINIMUM (RFC 2308 §3), got {:?}",
            fields.join(" ")
        )),
    }
}

/// A name outside the served zones, recursion off: REFUSED, and (dig sends EDNS) an Extended
/// DNS Error saying why (RFC 8914; NSD answers the same).
fn dig_refused_ede(root: &Path, server: &Dns) -> Result<(), String> {
    let out = dig(root, server.udp, &["www.elsewhere.example", "A"])?;
    if !out.contains("status: REFUSED") {
        return Err(format!("no \"status: REFUSED\" in {:?}", shorten(&out)));
    }
    if !out.contains("EDE: 20 (Not Authoritative)") {
        return Err(format!(
            "no \"EDE: 20 (Not Authoritative)\" in {:?}",
            shorten(&out)
        ));
    }
    Ok(())
}

/// The records of dig's AXFR output, whitespace collapsed.
fn axfr_records(output: &str) -> Vec<String> {
    output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn dig_axfr(root: &Path, server: &Dns) -> Result<(), String> {
    // Not allowed: dig says the transfer failed (REFUSED), and nothing is listed.
    let out = dig(root, server.tcp, &["axfr.test", "AXFR"])?;
    if !out.contains("Transfer failed") {
        return Err(format!(
            "AXFR without --allow-transfer: expected \"Transfer failed\", got {:?}",
            shorten(&out)
        ));
    }
    if !axfr_records(&out).is_empty() {
        return Err(format!(
            "AXFR without --allow-transfer listed records: {:?}",
            shorten(&out)
        ));
    }
    // Allowed: SOA, every record, SOA.
    let allowed = Dns::start(
        root,
        "dns-axfr",
        &[DEMO_ZONE, AXFR_ZONE],
        &["--allow-transfer", "127.0.0.1/32"],
        None,
    )?;
    let out = dig(root, allowed.tcp, &["axfr.test", "AXFR"])?;
    allowed.stop()?;
    let records = axfr_records(&out);
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Err(format!("AXFR listed no records: {:?}", shorten(&out)));
    };
    if first != AXFR_SOA || last != AXFR_SOA || records.len() < 2 {
        return Err(format!(
            "the transfer must start and end with {AXFR_SOA:?}; first {first:?}, last {last:?}"
        ));
    }
    let middle: BTreeSet<&str> = records[1..records.len() - 1]
        .iter()
        .map(String::as_str)
        .collect();
    let want: BTreeSet<&str> = AXFR_RECORDS.iter().copied().collect();
    if middle != want || records.len() != AXFR_RECORDS.len() + 2 {
        return Err(format!(
            "transferred records differ: missing {:?}, unexpected {:?} ({} lines)",
            want.difference(&middle).collect::<Vec<_>>(),
            middle.difference(&want).collect::<Vec<_>>(),
            records.len()
        ));
    }
    Ok(())
}

/// A port free on 127.0.0.1 for both UDP and TCP right now (released before returning).
fn free_port_for_both() -> Result<u16, String> {
    for _ in 0..50 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| format!("cannot bind a UDP socket: {e}"))?;
        let port = udp.local_addr().map_err(|e| e.to_string())?.port();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no port free for both UDP and TCP in 50 tries".into())
}

fn dig_truncation(root: &Path) -> Result<(), String> {
    // dig retries a truncated answer over TCP on the same -p port: serve both on one port.
    let port = free_port_for_both()?;
    let server = Dns::start(
        root,
        "dns-truncation",
        &[DIFFERENTIAL_ZONE],
        &[],
        Some(port),
    )?;
    let name = "big.differential.test";
    let out = dig(
        root,
        port,
        &["+norec", "+notcp", "+ignore", "+bufsize=512", name, "TXT"],
    )?;
    let flags = out
        .lines()
        .find(|l| l.starts_with(";; flags:"))
        .unwrap_or_default();
    if !flags.split([' ', ';']).any(|f| f == "tc") {
        return Err(format!(
            "dig +ignore +bufsize=512: no tc flag in {flags:?}; {}",
            shorten(&out)
        ));
    }
    let out = dig(root, port, &["+norec", name, "TXT"])?;
    server.stop()?;
    let answers = dig_section(&out, "ANSWER")
        .iter()
        .filter(|l| l.split_whitespace().nth(3) == Some("TXT"))
        .count();
    if !out.contains("Truncated, retrying in TCP mode") || answers != 60 {
        return Err(format!(
            "plain dig: expected a retry over TCP and 60 TXT records, got {answers}: {}",
            shorten(&out)
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// nsd-differential

/// How a probe is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// UDP with an OPT record advertising [`EDNS_PAYLOAD`].
    UdpEdns,
    /// UDP without EDNS (512-byte limit).
    UdpPlain,
    /// TCP (with EDNS).
    Tcp,
}

/// One query of the differential run: `name` relative to the zone ("@" for the apex) unless it
/// ends with a dot.
#[derive(Debug, Clone, Copy)]
struct Probe {
    name: &'static str,
    rtype: RecordType,
    transport: Transport,
}

const fn udp(name: &'static str, rtype: RecordType) -> Probe {
    Probe {
        name,
        rtype,
        transport: Transport::UdpEdns,
    }
}

/// The differential queries: every owner with its types, NODATA and NXDOMAIN, CNAME chains,
/// wildcards at several depths, empty non-terminals, the delegation and names below it, ANY,
/// and the 60-record TXT RRset over UDP with and without EDNS (and over TCP, in full).
fn probes() -> Vec<Probe> {
    use RecordType as T;
    vec![
        // The apex.
        udp("@", T::SOA),
        udp("@", T::NS),
        udp("@", T::MX),
        udp("@", T::TXT),
        udp("@", T::A),
        udp("@", T::CAA),
        udp("@", T::AAAA), // NODATA
        udp("@", T::ANY),
        // Plain owners.
        udp("ns1", T::A),
        udp("ns1", T::AAAA),
        udp("mail", T::A),
        udp("mail", T::MX), // NODATA
        udp("www", T::A),
        udp("www", T::AAAA),
        udp("www", T::TXT),
        udp("www", T::ANY),
        udp("WwW", T::A), // case-insensitive match
        // CNAMEs.
        udp("alias", T::A),
        udp("alias", T::CNAME),
        udp("alias", T::AAAA),
        udp("chain1", T::A),
        udp("chain1", T::TXT),
        udp("chain2", T::MX), // chain ends in NODATA
        udp("outside", T::A),
        udp("dangling", T::A),
        udp("tomx", T::A),
        // Wildcards.
        udp("foo.wild", T::A),
        udp("foo.wild", T::TXT),
        udp("foo.wild", T::AAAA), // wildcard NODATA
        udp("foo.wild", T::ANY),
        udp("a.b.c.wild", T::A),
        udp("wild", T::A), // ENT above the wildcard
        udp("x.wcname", T::A),
        udp("x.y.wcname", T::AAAA),
        udp("x.wcname", T::CNAME),
        // An empty non-terminal below a wildcard: no synthesis at or below it.
        udp("deep", T::A),
        udp("b.deep", T::A),
        udp("a.b.deep", T::A),
        udp("a.b.deep", T::TXT),
        udp("x.deep", T::A),
        udp("x.y.deep", T::MX),
        udp("x.b.deep", T::A), // NXDOMAIN: b.deep exists, *.b.deep does not
        // The delegation.
        udp("sub", T::NS),
        udp("sub", T::A),
        udp("sub", T::DS), // the parent side answers DS (RFC 4035 §3.1.4.1)
        udp("ns.sub", T::A),
        udp("host.sub", T::A),
        udp("x.y.sub", T::MX),
        // SRV, an empty non-terminal above it, a generic type.
        udp("_imap._tcp", T::SRV),
        udp("_tcp", T::SRV),
        udp("generic", T::Unknown(65534)),
        udp("generic", T::A),
        // NXDOMAIN, and a name outside the zone.
        udp("nope", T::A),
        udp("nope.nope", T::MX),
        udp("www.elsewhere.example.", T::A),
        // The big RRset: truncated over UDP, complete over TCP.
        udp("big", T::TXT),
        Probe {
            name: "big",
            rtype: T::TXT,
            transport: Transport::UdpPlain,
        },
        Probe {
            name: "big",
            rtype: T::TXT,
            transport: Transport::Tcp,
        },
        udp("big", T::A),
        Probe {
            name: "www",
            rtype: T::A,
            transport: Transport::UdpPlain,
        },
    ]
}

impl Probe {
    fn qname(&self) -> String {
        match self.name {
            "@" => DIFFERENTIAL_ORIGIN.to_owned(),
            n if n.ends_with('.') => n.to_owned(),
            n => format!("{n}.{DIFFERENTIAL_ORIGIN}"),
        }
    }

    fn describe(&self) -> String {
        let via = match self.transport {
            Transport::UdpEdns => "UDP, EDNS 1232",
            Transport::UdpPlain => "UDP, no EDNS",
            Transport::Tcp => "TCP",
        };
        format!("{} {} ({via})", self.qname(), self.rtype)
    }
}

/// Send `probe` to 127.0.0.1 (`udp` or `tcp` port) and decode the response.
fn ask(probe: &Probe, id: u16, udp_port: u16, tcp_port: u16) -> Result<Message, String> {
    let name =
        Name::from_ascii(probe.qname()).map_err(|e| format!("bad name {}: {e}", probe.qname()))?;
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = false;
    query.add_query(Query::query(name, probe.rtype));
    if probe.transport != Transport::UdpPlain {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        query.edns = Some(edns);
    }
    let wire = query
        .to_vec()
        .map_err(|e| format!("cannot encode the query: {e}"))?;
    let response = match probe.transport {
        Transport::UdpEdns | Transport::UdpPlain => exchange_udp(&wire, id, udp_port)?,
        Transport::Tcp => exchange_tcp(&wire, tcp_port)?,
    };
    let message =
        Message::from_vec(&response).map_err(|e| format!("cannot decode the response: {e}"))?;
    if message.metadata.id != id || message.metadata.message_type != MessageType::Response {
        return Err(format!(
            "response id {} / type {:?} for query id {id}",
            message.metadata.id, message.metadata.message_type
        ));
    }
    Ok(message)
}

fn exchange_udp(wire: &[u8], id: u16, port: u16) -> Result<Vec<u8>, String> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot bind a UDP socket: {e}"))?;
    socket
        .connect((Ipv4Addr::LOCALHOST, port))
        .and_then(|()| socket.set_read_timeout(Some(QUERY_TIMEOUT)))
        .and_then(|()| socket.send(wire).map(drop))
        .map_err(|e| format!("UDP to port {port}: {e}"))?;
    let deadline = Instant::now() + QUERY_TIMEOUT;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket
            .recv(&mut buf)
            .map_err(|e| format!("no UDP answer from port {port}: {e}"))?;
        // Skip anything that is not the answer to this query (a stray late datagram).
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            return Ok(buf[..n].to_vec());
        }
        if Instant::now() >= deadline {
            return Err(format!("no UDP answer with id {id} from port {port}"));
        }
    }
}

fn exchange_tcp(wire: &[u8], port: u16) -> Result<Vec<u8>, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, QUERY_TIMEOUT)
        .map_err(|e| format!("TCP to port {port}: {e}"))?;
    let len = u16::try_from(wire.len()).map_err(|_| "query too long for TCP".to_owned())?;
    let io = |e: std::io::Error| format!("TCP to port {port}: {e}");
    stream.set_read_timeout(Some(QUERY_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(QUERY_TIMEOUT)).map_err(io)?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(wire);
    stream.write_all(&framed).map_err(io)?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).map_err(io)?;
    let mut response = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut response).map_err(io)?;
    Ok(response)
}

/// A record as compared: lower-cased owner, TTL, type and presentation-format data.
fn record_key(record: &Record) -> String {
    let mut data = String::new();
    if write!(data, "{}", record.data).is_err() {
        // OPT has no presentation format (and is never in the sections after decoding).
        data = format!("{:?}", record.data);
    }
    format!(
        "{} {} {} {data}",
        record.name.to_ascii().to_ascii_lowercase(),
        record.ttl,
        record.record_type()
    )
}

fn record_set(records: &[Record]) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r.record_type() != RecordType::OPT)
        .map(record_key)
        .collect()
}

/// The differences between NSD's response and ours, one line each.
fn compare(probe: &Probe, nsd: &Message, ours: &Message) -> Vec<String> {
    let mut diffs = Vec::new();
    let what = probe.describe();
    let mut field = |name: &str, theirs: String, mine: String| {
        if theirs != mine {
            diffs.push(format!("{what}: {name}: NSD {theirs}, ours {mine}"));
        }
    };
    let (n, o) = (&nsd.metadata, &ours.metadata);
    field(
        "rcode",
        n.response_code.to_string(),
        o.response_code.to_string(),
    );
    field("TC", n.truncation.to_string(), o.truncation.to_string());
    if n.truncation && o.truncation {
        // A truncated answer is a request to retry over TCP: its content does not matter.
        return diffs;
    }
    field(
        "AA",
        n.authoritative.to_string(),
        o.authoritative.to_string(),
    );
    field(
        "RA",
        n.recursion_available.to_string(),
        o.recursion_available.to_string(),
    );
    field(
        "EDNS in the response",
        nsd.edns.is_some().to_string(),
        ours.edns.is_some().to_string(),
    );
    for (section, theirs, mine) in [
        ("answer", &nsd.answers, &ours.answers),
        ("authority", &nsd.authorities, &ours.authorities),
        ("additional", &nsd.additionals, &ours.additionals),
    ] {
        let (theirs, mine) = (record_set(theirs), record_set(mine));
        if theirs != mine {
            let only_nsd: Vec<&String> = theirs.difference(&mine).collect();
            let only_ours: Vec<&String> = mine.difference(&theirs).collect();
            diffs.push(format!(
                "{what}: {section} section: only NSD has {only_nsd:?}; only ours has {only_ours:?}"
            ));
        }
    }
    diffs
}

/// A running NSD serving the differential zone from `dir`.
fn start_nsd(root: &Path, dir: &Path, port: u16) -> Result<ServerProcess, String> {
    let nsd = require("nsd", "nsd")?;
    let template_path = Path::new("/work/shared/peers/nsd.conf");
    let template = std::fs::read_to_string(template_path)
        .map_err(|e| format!("cannot read {}: {e}", template_path.display()))?;
    // A fresh scratch directory: no zone list or xfrd state from an earlier run.
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let zonefile = "differential.test.zone";
    std::fs::copy(root.join(DIFFERENTIAL_ZONE), dir.join(zonefile))
        .map_err(|e| format!("cannot copy {DIFFERENTIAL_ZONE}: {e}"))?;
    let config = template
        .replace("@DIR@", &dir.display().to_string())
        .replace("@ADDR@", "127.0.0.1")
        .replace("@PORT@", &port.to_string())
        .replace(
            "name: \"example.test\"",
            &format!("name: \"{}\"", DIFFERENTIAL_ORIGIN.trim_end_matches('.')),
        )
        .replace(
            "zonefile: \"example.test.zone\"",
            &format!("zonefile: \"{zonefile}\""),
        );
    if !config.contains(&format!("zonefile: \"{zonefile}\"")) || config.contains("@PORT@") {
        return Err(format!(
            "{} no longer has the expected zone lines",
            template_path.display()
        ));
    }
    let conf = dir.join("nsd.conf");
    std::fs::write(&conf, config).map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
    let args = vec!["-d".to_owned(), "-c".to_owned(), conf.display().to_string()];
    let mut process = ServerProcess::spawn("nsd", &nsd, &args, root, &dir.join("stderr.log"))?;
    // Ready when it answers the zone's SOA authoritatively.
    let soa = udp("@", RecordType::SOA);
    let deadline = Instant::now() + START;
    let mut id: u16 = 1;
    loop {
        id = id.wrapping_add(1);
        if let Ok(m) = ask(&soa, id, port, port) {
            if m.metadata.authoritative && m.answers.len() == 1 {
                return Ok(process);
            }
        }
        let log = || {
            let log = std::fs::read_to_string(dir.join("nsd.log")).unwrap_or_default();
            shorten(&log)
        };
        if let Some(status) = process.try_status() {
            return Err(format!(
                "nsd exited ({}) before answering: {}; {}",
                util::describe_status(status),
                util::last_line(&process.log),
                log()
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "nsd did not answer the SOA query within {} s: {}",
                START.as_secs(),
                log()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn nsd_differential(root: &Path) -> Result<(), String> {
    let dir: PathBuf = root.join("var").join("interop").join("nsd");
    let port = free_port_for_both()?;
    let mut nsd = start_nsd(root, &dir, port)?;
    let ours = Dns::start(root, "dns-differential", &[DIFFERENTIAL_ZONE], &[], None)?;
    let probes = probes();
    let mut diffs = Vec::new();
    let mut matched = 0;
    for (i, probe) in probes.iter().enumerate() {
        let id = u16::try_from(i % 60_000).unwrap_or(0) + 1000;
        let theirs = ask(probe, id, port, port).map_err(|e| format!("NSD, {probe:?}: {e}"));
        let mine = ask(probe, id, ours.udp, ours.tcp).map_err(|e| format!("ours, {probe:?}: {e}"));
        let found = match (theirs, mine) {
            (Ok(theirs), Ok(mine)) => compare(probe, &theirs, &mine),
            (Err(e), _) | (_, Err(e)) => vec![format!("{}: {e}", probe.describe())],
        };
        if found.is_empty() {
            matched += 1;
        }
        diffs.extend(found);
    }
    let stopped_nsd = nsd.stop(util::STOP_TIMEOUT);
    ours.stop()?;
    stopped_nsd.map(drop)?;
    if diffs.is_empty() {
        println!(
            "  nsd-differential: all {matched} of {} queries matched NSD",
            probes.len()
        );
        Ok(())
    } else {
        for diff in &diffs {
            println!("  mismatch: {diff}");
        }
        Err(format!(
            "{} of {} queries differ from NSD ({} differences, listed above)",
            probes.len() - matched,
            probes.len(),
            diffs.len()
        ))
    }
}

/// The root zone of the dig-recursive hierarchy: delegates demo.test to 127.0.0.3.
const HIERARCHY_ROOT: &str = "$TTL 86400
. IN SOA a.root-servers.net. hostmaster.root-servers.net. 1 1800 900 604800 86400
. IN NS a.root-servers.net.
a.root-servers.net. IN A 127.0.0.2
demo.test. IN NS ns.demo.test.
ns.demo.test. IN A 127.0.0.3
";

/// demo.test as served on 127.0.0.3 (its own NS, so the resolver never looks elsewhere).
const HIERARCHY_ZONE: &str = "$ORIGIN demo.test.
$TTL 3600
@ IN SOA ns hostmaster 1 7200 900 1209600 300
@ IN NS ns
@ IN MX 10 mail
ns IN A 127.0.0.3
mail IN A 127.0.0.1
www IN A 127.0.0.1
";

/// A port free for UDP and TCP on 127.0.0.2 and 127.0.0.3.
fn free_port_on_hierarchy() -> Result<u16, String> {
    for _ in 0..50 {
        let probe =
            UdpSocket::bind("127.0.0.2:0").map_err(|e| format!("cannot bind 127.0.0.2: {e}"))?;
        let port = probe.local_addr().map_err(|e| e.to_string())?.port();
        let free = UdpSocket::bind(("127.0.0.3", port)).is_ok()
            && TcpListener::bind(("127.0.0.2", port)).is_ok()
            && TcpListener::bind(("127.0.0.3", port)).is_ok();
        if free {
            return Ok(port);
        }
    }
    Err("no port free on 127.0.0.2 and 127.0.0.3 in 50 tries".into())
}

/// dig and kdig against our recursive resolver, which iterates from its own root (127.0.0.2)
/// to the zone's server (127.0.0.3): the hidden `--upstream-port` points every upstream query
/// at the hierarchy's port instead of 53.
fn dig_recursive(root: &Path) -> Result<(), String> {
    let dir = root.join("var").join("interop").join("recursive");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, text: &str| -> Result<String, String> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path.to_string_lossy().into_owned())
    };
    let root_zone = write("root.zone", HIERARCHY_ROOT)?;
    let demo_zone = write("demo.test.zone", HIERARCHY_ZONE)?;
    let hints = write(
        "named.root",
        ".  3600000  NS  A.ROOT-SERVERS.NET.\nA.ROOT-SERVERS.NET.  3600000  A  127.0.0.2\n",
    )?;
    let port = free_port_on_hierarchy()?;
    let root_spec = format!(".={root_zone}");
    let demo_spec = format!("demo.test={demo_zone}");
    let authority_root = Dns::start_on(
        root,
        "dns-recursive-root",
        "127.0.0.2",
        &[&root_spec],
        &[],
        Some(port),
    )?;
    let authority_zone = Dns::start_on(
        root,
        "dns-recursive-zone",
        "127.0.0.3",
        &[&demo_spec],
        &[],
        Some(port),
    )?;
    let port_arg = port.to_string();
    let resolver = Dns::start(
        root,
        "dns-recursive-resolver",
        &[],
        &[
            "--recursive",
            "--root-hints",
            &hints,
            "--upstream-port",
            &port_arg,
        ],
        None,
    )?;
    let result = (|| {
        let out = dig(root, resolver.udp, &["www.demo.test", "A"])?;
        if !out.contains("status: NOERROR") || !out.contains(" ra") || out.contains(" aa") {
            return Err(format!(
                "expected NOERROR with RA and without AA: {}",
                shorten(&out)
            ));
        }
        expect_short(
            "dig www.demo.test A (recursive)",
            &dig(root, resolver.udp, &["www.demo.test", "A", "+short"])?,
            "127.0.0.1",
        )?;
        let out = kdig_run(root, resolver.tcp, &["+tcp", "demo.test", "MX", "+short"])?;
        expect_short(
            "kdig +tcp demo.test MX (recursive)",
            &out,
            "10 mail.demo.test.",
        )?;
        let out = dig(root, resolver.udp, &["nope.demo.test", "A"])?;
        if !out.contains("status: NXDOMAIN") {
            return Err(format!("expected NXDOMAIN: {}", shorten(&out)));
        }
        Ok(())
    })();
    let stopped = [
        resolver.stop(),
        authority_zone.stop(),
        authority_root.stop(),
    ];
    result?;
    stopped
        .into_iter()
        .collect::<Result<Vec<()>, String>>()
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dig_sections_and_axfr_records() {
        let out = ";; flags: qr aa; QUERY: 1\n\n;; AUTHORITY SECTION:\n\
                   demo.test.\t\t300\tIN\tSOA\tns1.demo.test. h.demo.test. 1 2 3 4 300\n\n\
                   ;; Query time: 0 msec\n";
        assert_eq!(
            dig_section(out, "AUTHORITY"),
            ["demo.test.\t\t300\tIN\tSOA\tns1.demo.test. h.demo.test. 1 2 3 4 300"]
        );
        assert!(dig_section(out, "ANSWER").is_empty());
        let axfr =
            "; <<>> DiG <<>> axfr\n;; global options\nx.\t60\tIN\tA\t10.0.0.1\n\n;; XFR size";
        assert_eq!(axfr_records(axfr), ["x. 60 IN A 10.0.0.1"]);
    }

    #[test]
    fn probe_names_are_absolute() {
        assert_eq!(udp("@", RecordType::SOA).qname(), "differential.test.");
        assert_eq!(udp("www", RecordType::A).qname(), "www.differential.test.");
        assert_eq!(udp("x.example.", RecordType::A).qname(), "x.example.");
        assert!(probes().len() >= 40);
    }
}
