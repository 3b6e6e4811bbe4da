//! `torsion-irc send` against a scripted fake server on a real socket.
#![cfg(all(feature = "server", feature = "client"))]
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use tokio::net::TcpListener;
use torsion_core::testkit::TestPeer;
use torsion_core::Stream;

const BIN: &str = env!("CARGO_BIN_EXE_torsion-irc");

/// Run `torsion-irc send ARGS` with `stdin`, in a thread (the test's runtime plays the server).
fn spawn_send(
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
    stdin: Option<&'static str>,
) -> tokio::task::JoinHandle<Output> {
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(BIN);
        cmd.arg("send").args(&args).env_remove("TORSION_IRC_SASL");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).unwrap();
        }
        drop(pipe);
        child.wait_with_output().unwrap()
    })
}

async fn server() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    (listener, addr)
}

async fn accept(listener: &TcpListener) -> TestPeer {
    let (tcp, _) = listener.accept().await.unwrap();
    TestPeer::new(Stream::Tcp(tcp))
}

#[tokio::test]
async fn posts_each_line_with_sasl_and_quits() {
    let (listener, addr) = server().await;
    let args = [
        "--server",
        &addr,
        "--nick",
        "ci",
        "--channel",
        "builds",
        "build #42 passed\nall",
        "green",
    ]
    .map(String::from)
    .to_vec();
    let run = spawn_send(args, vec![("TORSION_IRC_SASL", "ci:pw")], None);
    let mut peer = accept(&listener).await;
    let plain = torsion_core::cred::sasl::encode_plain("", "ci", b"pw");
    peer.script(&format!(
        "S: CAP LS 302
         S: NICK ci
         S: USER ci 0 * :torsion-irc send
         C: :srv CAP * LS :sasl
         S: CAP REQ sasl
         C: :srv CAP * ACK :sasl
         S: AUTHENTICATE PLAIN
         C: AUTHENTICATE +
         S: AUTHENTICATE {plain}
         C: :srv 903 ci :SASL authentication successful
         S: CAP END
         C: :srv 001 ci :Welcome
         S: JOIN #builds
         C: :ci!ci@127.0.0.1 JOIN #builds
         S: PRIVMSG #builds :build #42 passed
         S: PRIVMSG #builds :all green
         S: QUIT :torsion-irc send"
    ))
    .await;
    drop(peer);
    let out = run.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn reads_stdin_and_sends_notices() {
    let (listener, addr) = server().await;
    let args = [
        "--server",
        &format!("tcp:host=127.0.0.1:port={}", &addr[10..]),
        "--nick",
        "ci",
        "--channel",
        "#ci",
        "--notice",
    ]
    .map(String::from)
    .to_vec();
    let run = spawn_send(args, vec![], Some("first\n\nsecond\n"));
    let mut peer = accept(&listener).await;
    peer.script(
        "S: CAP LS 302
         S: NICK ci
         S: USER ci 0 * :torsion-irc send
         C: :srv 421 ci CAP :Unknown command
         C: :srv 433 * ci :Nickname is already in use
         S: NICK ci_
         C: :srv 001 ci_ :Welcome
         S: JOIN #ci
         C: :ci_!ci@127.0.0.1 JOIN #ci
         S: NOTICE #ci first
         S: NOTICE #ci second
         S: QUIT :torsion-irc send",
    )
    .await;
    drop(peer);
    let out = run.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_refused_join_exits_1() {
    let (listener, addr) = server().await;
    let args = [
        "--server",
        &addr,
        "--nick",
        "ci",
        "--channel",
        "#closed",
        "hello",
    ]
    .map(String::from)
    .to_vec();
    let run = spawn_send(args, vec![], None);
    let mut peer = accept(&listener).await;
    peer.script(
        "S: CAP LS 302
         S: NICK ci
         S: USER ci 0 * :torsion-irc send
         C: :srv 001 ci :Welcome
         S: JOIN #closed
         C: :srv 474 ci #closed :Cannot join channel (+b)
         S: QUIT :torsion-irc send",
    )
    .await;
    drop(peer);
    let out = run.await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot join #closed: Cannot join channel (+b)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn bad_arguments_exit_2() {
    for args in [
        vec![
            "--server",
            "127.0.0.1:1",
            "--nick",
            "9bad",
            "--channel",
            "#c",
            "x",
        ],
        vec![
            "--server",
            "127.0.0.1:1",
            "--nick",
            "ok",
            "--channel",
            "#c",
            "--sasl",
            "nocolon",
            "x",
        ],
        vec![
            "--server",
            "nonsense:port",
            "--nick",
            "ok",
            "--channel",
            "#c",
            "x",
        ],
        vec!["--server", "127.0.0.1:1", "--nick", "ok", "--channel", "#c"],
    ] {
        let run = spawn_send(
            args.iter().map(|s| s.to_string()).collect(),
            vec![],
            Some(""),
        );
        let out = run.await.unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Nobody listening: a runtime failure.
    let (listener, addr) = server().await;
    drop(listener);
    let run = spawn_send(
        ["--server", &addr, "--nick", "ci", "--channel", "#c", "x"]
            .map(String::from)
            .to_vec(),
        vec![],
        None,
    );
    assert_eq!(run.await.unwrap().status.code(), Some(1));
}
