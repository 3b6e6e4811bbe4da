//! The `torsion-dns` binary over real loopback sockets: authoritative answers over UDP and TCP,
//! SIGHUP zone reload (a broken file keeps the old zone), the `query` client, exit codes.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use torsion_core::testkit::TempDir;
use torsion_dns::client::exchange::{exchange, ExchangeOptions};

const BIN: &str = env!("CARGO_BIN_EXE_torsion-dns");

fn zone_text(serial: u32, www: &str) -> String {
    format!(
        "$ORIGIN example.test.\n$TTL 300\n@ IN SOA ns hm {serial} 7200 900 1209600 60\n@ IN NS ns\nns IN A 127.0.0.1\nwww IN A {www}\n"
    )
}

/// A running server: its UDP and TCP addresses, and its log lines as they arrive.
struct Running {
    child: Child,
    udp: SocketAddr,
    tcp: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args([
                "--listen",
                "udp:0:interface=127.0.0.1",
                "--listen",
                "tcp:0:interface=127.0.0.1",
            ])
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut udp, mut tcp) = (None, None);
        while udp.is_none() || tcp.is_none() {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("server did not start");
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                if let Some(a) = addr.strip_prefix("udp:") {
                    udp = Some(a.parse().unwrap());
                } else if let Some(a) = addr.strip_prefix("tcp:") {
                    tcp = Some(a.parse().unwrap());
                }
            }
        }
        Running {
            child,
            udp: udp.unwrap(),
            tcp: tcp.unwrap(),
            log: rx,
        }
    }

    fn wait_for_log(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(line) = self.log.recv_timeout(Duration::from_millis(200)) {
                if line.contains(needle) {
                    return line;
                }
            }
        }
        panic!("no log line containing {needle:?}");
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn stop(mut self) -> i32 {
        self.signal("TERM");
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill().unwrap();
        panic!("server did not stop on SIGTERM");
    }
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
    let server = Running::start(&["--zone", zone.to_str().unwrap()]);
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
    assert_eq!(www(server.udp, false).await, "192.0.2.3");
    assert_eq!(server.stop(), 0);
}

#[test]
fn query_subcommand_prints_answers_and_exits_by_rcode() {
    let dir = TempDir::new("dns-query").unwrap();
    let zone = dir.path().join("z");
    write(&zone, &zone_text(1, "192.0.2.7"));
    let server = Running::start(&["--zone", &format!("example.test={}", zone.display())]);
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
