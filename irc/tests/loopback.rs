//! The server over real loopback sockets: many clients, TLS, graceful shutdown, and the
//! `torsion-irc` binary (MOTD reload on SIGHUP, exit codes).

#![cfg(feature = "server")]
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use torsion_core::testkit::{RunningServer, ServerBinary, TempDir, TestPeer, TestTls};
use torsion_irc::server::IrcServer;

async fn register_peer(peer: &mut TestPeer, nick: &str) {
    peer.send_line(&format!("NICK {nick}")).await;
    peer.send_line(&format!("USER {nick} 0 * :{nick}")).await;
    loop {
        let line = peer.read_line().await.unwrap();
        if line.contains(" 422 ") || line.contains(" 376 ") {
            break;
        }
    }
}

async fn read_until(peer: &mut TestPeer, needle: &str) -> String {
    for _ in 0..1000 {
        let line = peer.read_line().await.unwrap();
        if line.contains(needle) {
            return line;
        }
    }
    panic!("no {needle:?}");
}

#[tokio::test]
async fn fifty_clients_talk_in_one_channel() {
    let server = RunningServer::start(
        Arc::new(IrcServer::new(common::config())),
        &["tcp:0:interface=127.0.0.1"],
    )
    .await;
    const N: usize = 50;
    let mut peers = Vec::new();
    for i in 0..N {
        let mut p = server.connect().await;
        register_peer(&mut p, &format!("user{i}")).await;
        p.send_line("JOIN #many").await;
        read_until(&mut p, " 366 ").await;
        peers.push(p);
    }
    for (i, p) in peers.iter_mut().enumerate() {
        p.send_line(&format!("PRIVMSG #many :message from {i}"))
            .await;
    }
    for (i, p) in peers.iter_mut().enumerate() {
        let mut got = std::collections::HashSet::new();
        while got.len() < N - 1 {
            let line = p.read_line().await.unwrap();
            if let Some(text) = line.split(" PRIVMSG #many :message from ").nth(1) {
                let from: usize = text.parse().unwrap();
                assert_ne!(from, i, "own message echoed without echo-message");
                got.insert(from);
            }
        }
    }
    let control = server.control().clone();
    let stop = tokio::spawn(server.stop());
    control.shutting_down().await;
    for p in &mut peers {
        read_until(p, "ERROR :Closing Link: 127.0.0.1 (Server shutting down)").await;
    }
    stop.await.unwrap();
}

#[tokio::test]
async fn tls_clients_are_marked_secure() {
    let tls = TestTls::generate();
    let server = RunningServer::start(
        Arc::new(IrcServer::new(common::config())),
        &[&tls.server_endpoint(0)],
    )
    .await;
    let mut p = TestPeer::connect(&tls.client_endpoint(server.addr().port())).await;
    register_peer(&mut p, "secure").await;
    p.send_line("WHOIS secure").await;
    read_until(&mut p, " 671 secure secure :is using a secure connection").await;
    server.stop().await;
}

const BIN: &str = env!("CARGO_BIN_EXE_torsion-irc");

/// `torsion-irc serve --listen tcp:0:interface=127.0.0.1 ARGS…`.
fn start(args: &[&str]) -> ServerBinary {
    let mut all = vec!["serve", "--listen", "tcp:0:interface=127.0.0.1"];
    all.extend_from_slice(args);
    ServerBinary::start(BIN, &all, 1)
}

/// Register over a blocking socket and return the MOTD lines.
fn motd_of(port: u16, nick: &str) -> Vec<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    write!(writer, "NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n").unwrap();
    let mut motd = Vec::new();
    for line in BufReader::new(stream).lines() {
        let line = line.unwrap();
        if line.contains(" 372 ") {
            motd.push(line.rsplit(":- ").next().unwrap().to_owned());
        }
        if line.contains(" 376 ") || line.contains(" 422 ") {
            break;
        }
    }
    write!(writer, "QUIT\r\n").unwrap();
    motd
}

#[test]
fn binary_serves_and_reloads_the_motd_on_sighup() {
    let dir = TempDir::new("irc-motd").unwrap();
    let motd = dir.path().join("motd.txt");
    std::fs::write(&motd, "first motd\n").unwrap();
    let server = start(&[
        "--motd",
        motd.to_str().unwrap(),
        "--channel",
        "#lobby",
        "--server-name",
        "irc.example.test",
    ]);
    assert_eq!(motd_of(server.tcp_port(0), "one"), ["first motd"]);
    std::fs::write(&motd, "second motd\nline two\n").unwrap();
    server.signal("HUP");
    let mut ok = false;
    for _ in 0..50 {
        if motd_of(server.tcp_port(0), "two") == ["second motd", "line two"] {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "MOTD not reloaded");
    assert_eq!(server.stop(), 0);
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for args in [
        &["serve", "--channel", "lobby"][..],
        &["serve", "--oper", "nocolon"],
        &["serve", "--oper", "admin:{BOGUS}x"],
        &["serve", "--server-name", "has space"],
        &["serve", "--motd", "/nonexistent/motd"],
        &["serve", "--auth", "bogus:x"],
        &["serve", "--flood-rate", "0"],
        &["serve", "--no-such-flag"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn passwd_prints_a_hashed_line() {
    let mut child = Command::new(BIN)
        .args(["passwd", "admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with("admin:{ARGON2ID}$argon2id$"), "{line}");
    let server = start(&["--oper", line.trim()]);
    let stream = TcpStream::connect(("127.0.0.1", server.tcp_port(0))).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    write!(writer, "NICK o\r\nUSER o 0 * :o\r\nOPER admin secret\r\n").unwrap();
    let found = BufReader::new(stream)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains(" 381 o :You are now an IRC operator"));
    assert!(found);
}

#[test]
fn a_closed_stderr_does_not_turn_an_error_into_a_panic() {
    // Regression: `eprintln!` panics (exit 101) when stderr is a closed pipe; the runner's
    // one-line error must not.
    let mut child = Command::new(BIN)
        .args(["serve", "--channel", "no-hash"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(2));
}
