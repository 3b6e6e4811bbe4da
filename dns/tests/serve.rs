//! The `torsion-dns` binary over real loopback sockets: authoritative answers over UDP and TCP,
//! SIGHUP zone reload (a broken file keeps the old zone), the `query` client, exit codes.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use torsion_core::testkit::TempDir;
use torsion_dns::client::exchange::{exchange, ExchangeOptions};

mod common;

use common::{Running, BIN};

fn zone_text(serial: u32, www: &str) -> String {
    format!(
        "$ORIGIN example.test.\n$TTL 300\n@ IN SOA ns hm {serial} 7200 900 1209600 60\n@ IN NS ns\nns IN A 127.0.0.1\nwww IN A {www}\n"
    )
}

async fn www(server: SocketAddr, tcp: bool) -> String {
    let opts = ExchangeOptions {
        tcp,
        recursion_desired: false,
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let r = exchange(
        server,
        &Name::from_str("www.example.test.").unwrap(),
        RecordType::A,
        &opts,
    )
    .await
    .unwrap();
    assert!(r.metadata.authoritative);
    match &r.answers[0].data {
        RData::A(a) => a.0.to_string(),
        other => panic!("{other:?}"),
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn serves_zones_over_udp_and_tcp_and_reloads_on_sighup() {
    let dir = TempDir::new("dns-serve").unwrap();
    let zone = dir.path().join("example.test.zone");
    write(&zone, &zone_text(1, "192.0.2.1"));
    let server = Running::start(&[
        "--listen",
        "udp:0:interface=127.0.0.1",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--zone",
        zone.to_str().unwrap(),
    ]);
    assert_eq!(www(server.udp, false).await, "192.0.2.1");
    assert_eq!(www(server.tcp, true).await, "192.0.2.1");

    // Names outside our zones: REFUSED (recursion is not offered when zones are served).
    let opts = ExchangeOptions {
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let r = exchange(
        server.udp,
        &Name::from_str("example.org.").unwrap(),
        RecordType::A,
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);

    // A broken file on reload: the old zone keeps serving, the log says file:line: reason.
    write(
        &zone,
        &format!("{}www IN A not-an-address\n", zone_text(2, "192.0.2.2")),
    );
    server.signal("HUP");
    let line = server.wait_for_log("keeping the previous version");
    assert!(line.contains("example.test.zone:7:"), "{line}");
    assert_eq!(www(server.udp, false).await, "192.0.2.1");

    // Fixed: the new version is served.
    write(&zone, &zone_text(3, "192.0.2.3"));
    server.signal("HUP");
    server.wait_for_log("reloaded zone example.test. (serial 3)");
    server.wait_for_log("zone(s) after reload");
    assert_eq!(www(server.udp, false).await, "192.0.2.3");
    assert_eq!(server.stop(), 0);
}

#[test]
fn query_subcommand_prints_answers_and_exits_by_rcode() {
    let dir = TempDir::new("dns-query").unwrap();
    let zone = dir.path().join("z");
    write(&zone, &zone_text(1, "192.0.2.7"));
    let server = Running::start(&[
        "--listen",
        "udp:0:interface=127.0.0.1",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--zone",
        &format!("example.test={}", zone.display()),
    ]);
    let run = |args: &[&str]| {
        let out = Command::new(BIN).arg("query").args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let udp = server.udp.to_string();
    let tcp = server.tcp.to_string();
    let (code, out) = run(&["www.example.test", "A", "--server", &udp, "--short"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.trim(), "192.0.2.7");
    let (code, out) = run(&["www.example.test", "--server", &tcp, "--tcp"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("www.example.test."), "{out}");
    let (code, out) = run(&["nope.example.test", "A", "--server", &udp]);
    assert_eq!(code, Some(13), "NXDOMAIN is 10 + 3: {out}");
    let (code, _) = run(&["www.example.test", "BOGUS", "--server", &udp]);
    assert_eq!(code, Some(2));
    assert_eq!(server.stop(), 0);
}

#[test]
fn bad_configuration_exits_2_with_one_line() {
    let dir = TempDir::new("dns-bad").unwrap();
    let zone = dir.path().join("bad.zone");
    write(
        &zone,
        "$ORIGIN example.test.\n@ 300 IN SOA ns hm 1 2 3 4 5\nwww 300 IN A 999.1.1.1\n",
    );
    let out = Command::new(BIN)
        .args(["serve", "--listen", "udp:0:interface=127.0.0.1", "--zone"])
        .arg(&zone)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("bad.zone:3:"), "{stderr}");
    let out = Command::new(BIN)
        .args(["serve", "--allow-recursion", "10.0.0.0/99"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}
