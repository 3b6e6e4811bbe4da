//! End to end without root privileges: a DNS hierarchy of our own authoritative servers on
//! loopback addresses — the root on 127.0.0.2, `tld.` and `other.` on 127.0.0.3, `example.tld.`
//! and `glueless.tld.` on 127.0.0.4, all on one port P — and the recursive resolver iterating
//! through it (`--upstream-port P` directs every upstream query to P instead of 53).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use common::{Running, BIN};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use torsion_core::testkit::TempDir;
use torsion_dns::client::exchange::{exchange, ExchangeOptions};

const ROOT: &str = "$TTL 86400
. IN SOA a.root-servers.net. hostmaster.root-servers.net. 1 1800 900 604800 86400
. IN NS a.root-servers.net.
a.root-servers.net. IN A 127.0.0.2
tld. IN NS ns.nic.tld.
ns.nic.tld. IN A 127.0.0.3
other. IN NS ns.other.
ns.other. IN A 127.0.0.3
";

const TLD: &str = "$ORIGIN tld.
$TTL 3600
@ IN SOA ns.nic hostmaster.nic 1 1800 900 604800 300
@ IN NS ns.nic
ns.nic IN A 127.0.0.3
example IN NS ns.example
ns.example IN A 127.0.0.4
glueless IN NS ns.glueless.other.
";

const OTHER: &str = "$ORIGIN other.
$TTL 3600
@ IN SOA ns hostmaster 1 1800 900 604800 300
@ IN NS ns
ns IN A 127.0.0.3
ns.glueless IN A 127.0.0.4
target IN A 192.0.2.200
";

const EXAMPLE: &str = "$ORIGIN example.tld.
$TTL 3600
@ IN SOA ns hostmaster 1 1800 900 604800 120
@ IN NS ns
ns IN A 127.0.0.4
www IN A 192.0.2.80
alias IN CNAME target.other.
";

const GLUELESS: &str = "$ORIGIN glueless.tld.
$TTL 3600
@ IN SOA ns.glueless.other. hostmaster 1 1800 900 604800 300
@ IN NS ns.glueless.other.
www IN A 192.0.2.81
";

/// A port free for UDP and TCP on 127.0.0.2, .3 and .4.
fn free_port() -> u16 {
    for _ in 0..50 {
        let probe = UdpSocket::bind("127.0.0.2:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        let free = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
            .iter()
            .all(|ip| UdpSocket::bind((*ip, port)).is_ok() || *ip == "127.0.0.2")
            && ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
                .iter()
                .all(|ip| TcpListener::bind((*ip, port)).is_ok());
        drop(probe);
        if free {
            return port;
        }
    }
    panic!("no free port on 127.0.0.2-4");
}

fn authority(ip: &str, port: u16, zones: &[(&str, &Path)]) -> Running {
    let udp = format!("udp:{port}:interface={ip}");
    let tcp = format!("tcp:{port}:interface={ip}");
    let mut args = vec!["--listen".to_owned(), udp, "--listen".to_owned(), tcp];
    for (origin, path) in zones {
        args.push("--zone".into());
        args.push(format!("{origin}={}", path.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Running::start(&args)
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn ask(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    ask_over(server, name, rtype, false).await
}

async fn ask_over(server: SocketAddr, name: &str, rtype: RecordType, tcp: bool) -> Message {
    let opts = ExchangeOptions {
        timeout: Duration::from_secs(10),
        tcp,
        ..Default::default()
    };
    exchange(server, &Name::from_str(name).unwrap(), rtype, &opts)
        .await
        .unwrap()
}

fn addresses(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn recursor_resolves_through_a_loopback_hierarchy() {
    let dir = TempDir::new("dns-hierarchy").unwrap();
    let port = free_port();
    let root = write(dir.path(), "root.zone", ROOT);
    let tld = write(dir.path(), "tld.zone", TLD);
    let other = write(dir.path(), "other.zone", OTHER);
    let example = write(dir.path(), "example.zone", EXAMPLE);
    let glueless = write(dir.path(), "glueless.zone", GLUELESS);
    let hints = write(
        dir.path(),
        "named.root",
        ".  3600000  NS  A.ROOT-SERVERS.NET.\nA.ROOT-SERVERS.NET.  3600000  A  127.0.0.2\n",
    );

    let _root = authority("127.0.0.2", port, &[(".", &root)]);
    let _tld = authority("127.0.0.3", port, &[("tld.", &tld), ("other.", &other)]);
    let _leaf = authority(
        "127.0.0.4",
        port,
        &[("example.tld.", &example), ("glueless.tld.", &glueless)],
    );
    let port_arg = port.to_string();
    let recursor = Running::start(&[
        "--listen",
        "udp:0:interface=127.0.0.1",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--recursive",
        "--root-hints",
        hints.to_str().unwrap(),
        "--upstream-port",
        &port_arg,
    ]);

    // Referrals root → tld. → example.tld., in-bailiwick glue.
    let m = ask(recursor.udp, "www.example.tld.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.recursion_available);
    assert!(!m.metadata.authoritative);
    assert_eq!(addresses(&m), vec!["192.0.2.80"]);

    // A CNAME into another TLD.
    let m = ask(recursor.udp, "alias.example.tld.", RecordType::A).await;
    assert_eq!(m.answers[0].record_type(), RecordType::CNAME);
    assert_eq!(addresses(&m), vec!["192.0.2.200"]);

    // A delegation whose name server has no glue: resolved through other.
    let m = ask(recursor.udp, "www.glueless.tld.", RecordType::A).await;
    assert_eq!(addresses(&m), vec!["192.0.2.81"]);

    // Negative answers, with the zone's SOA.
    let m = ask(recursor.udp, "nope.example.tld.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    let m = ask(recursor.udp, "www.example.tld.", RecordType::MX).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());

    // From cache, TTLs counted down (over TCP this time).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let m = ask_over(recursor.tcp, "www.example.tld.", RecordType::A, true).await;
    assert!(m.answers[0].ttl < 3600, "ttl {}", m.answers[0].ttl);

    // The query client against the resolver.
    let out = Command::new(BIN)
        .args([
            "query",
            "www.glueless.tld",
            "A",
            "--short",
            "--server",
            &recursor.udp.to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "192.0.2.81");

    // A forwarder in front of it, whose first upstream is dead: fails over, then caches.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap(); // bound, never answers
    let dead_addr = dead.local_addr().unwrap().to_string();
    let live_addr = recursor.udp.to_string();
    let forwarder = Running::start(&[
        "--listen",
        "udp:0:interface=127.0.0.1",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--forward",
        &dead_addr,
        "--forward",
        &live_addr,
    ]);
    let m = ask(forwarder.udp, "alias.example.tld.", RecordType::A).await;
    assert_eq!(addresses(&m), vec!["192.0.2.200"], "{m:?}");
    let m = ask(forwarder.udp, "nope.example.tld.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(forwarder.stop(), 0);
    assert_eq!(recursor.stop(), 0);
}

#[tokio::test]
async fn recursion_is_refused_outside_allow_recursion() {
    let recursor = Running::start(&[
        "--listen",
        "udp:0:interface=127.0.0.1",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--allow-recursion",
        "10.0.0.0/8",
    ]);
    let m = ask(recursor.udp, "www.example.tld.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(!m.metadata.recursion_available);
    assert_eq!(recursor.stop(), 0);
}
