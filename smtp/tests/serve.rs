//! The `torsion-smtp` binary over loopback: delivery into the Maildir, submission with AUTH,
//! the relay queue and `torsion-smtp queue`, exit codes.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use torsion_core::cred::sasl::encode_plain;
use torsion_core::testkit::{ServerBinary, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_torsion-smtp");

/// `torsion-smtp serve ARGS…`, waiting for `listeners` listeners.
fn start(args: &[&str], listeners: usize) -> ServerBinary {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    ServerBinary::start(BIN, &all, listeners)
}

/// A blocking SMTP conversation helper.
struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Smtp {
    fn connect(port: u16) -> Smtp {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut s = Smtp {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        };
        assert!(s.reply().starts_with("220 "));
        s
    }

    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "connection closed");
            if line.as_bytes().get(3) == Some(&b' ') {
                return line.trim_end().to_owned();
            }
        }
    }

    fn cmd(&mut self, line: &str) -> String {
        write!(self.writer, "{line}\r\n").unwrap();
        self.reply()
    }
}

fn setup(dir: &Path) {
    std::fs::write(
        dir.join("users"),
        "alice@example.test:{PLAIN}wonderland\nbob@example.test:{PLAIN}builder\n",
    )
    .unwrap();
    std::fs::write(dir.join("aliases"), "postmaster@example.test: alice\n").unwrap();
}

fn maildir_files(dir: &Path, user: &str) -> Vec<String> {
    let new = dir.join("mail/example.test").join(user).join("new");
    std::fs::read_dir(new)
        .map(|d| {
            d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn delivers_submits_queues_and_lists_the_queue() {
    let dir = TempDir::new("smtp-serve").unwrap();
    setup(dir.path());
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let server = start(
        &[
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--submission",
            "tcp:0:interface=127.0.0.1",
            "--hostname",
            "mx.example.test",
            "--domain",
            "example.test",
            "--mail-root",
            &p("mail"),
            "--users",
            &p("users"),
            "--aliases",
            &p("aliases"),
            "--queue-dir",
            &p("queue"),
            "--allow-plaintext-auth",
            // Relayed mail goes nowhere reachable: it stays queued.
            "--smarthost",
            "127.0.0.1:1",
        ],
        2,
    );
    // Port 25 rules: local delivery, no relaying.
    let mut mta = Smtp::connect(server.tcp_port(0));
    assert!(mta.cmd("EHLO client.test").starts_with("250 "));
    assert!(mta.cmd("MAIL FROM:<x@far.test>").starts_with("250 2.1.0"));
    assert!(mta
        .cmd("RCPT TO:<postmaster@example.test>")
        .starts_with("250 2.1.5"));
    assert!(mta.cmd("RCPT TO:<y@far.test>").starts_with("554 5.7.1"));
    assert!(mta.cmd("DATA").starts_with("354"));
    assert!(mta
        .cmd("Subject: hi\r\n\r\nhello\r\n.")
        .starts_with("250 2.0.0"));
    assert!(mta.cmd("QUIT").starts_with("221"));
    let alice = maildir_files(dir.path(), "alice");
    assert_eq!(alice.len(), 1);
    assert!(alice[0].contains("Subject: hi\r\n\r\nhello\r\n"));

    // Submission: AUTH first, then relaying is allowed and queued.
    let mut sub = Smtp::connect(server.tcp_port(1));
    sub.cmd("EHLO laptop.test");
    assert!(sub
        .cmd("MAIL FROM:<bob@example.test>")
        .starts_with("530 5.7.0"));
    let auth = encode_plain("", "bob@example.test", b"builder");
    assert!(sub
        .cmd(&format!("AUTH PLAIN {auth}"))
        .starts_with("235 2.7.0"));
    assert!(sub.cmd("MAIL FROM:<bob@example.test>").starts_with("250"));
    assert!(sub.cmd("RCPT TO:<friend@far.test>").starts_with("250"));
    assert!(sub.cmd("DATA").starts_with("354"));
    assert!(sub
        .cmd("Subject: out\r\n\r\nbye\r\n.")
        .starts_with("250 2.0.0"));
    sub.cmd("QUIT");

    let out = Command::new(BIN)
        .args(["queue", "--queue-dir", &p("queue")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(listing.contains("<bob@example.test>"), "{listing}");
    assert!(listing.contains("friend@far.test  pending"), "{listing}");
    assert!(listing.contains("-- 1 message(s) in queue"), "{listing}");
    assert_eq!(server.stop(), 0);

    // Queued mail survives a restart.
    let out = Command::new(BIN)
        .args(["queue", "--queue-dir", &p("queue")])
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("friend@far.test"));
}

/// Run to completion, killing the child (and failing) if it is still running after `limit`.
fn output_within(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn bad_configuration_exits_2_with_one_line() {
    let dir = TempDir::new("smtp-args").unwrap();
    setup(dir.path());
    std::fs::write(dir.path().join("bad-aliases"), "no colon on this line\n").unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let base = [
        "serve",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--hostname",
        "mx.test",
    ];
    let cases: Vec<Vec<String>> = vec![
        vec![
            "--domain".into(),
            "example.test".into(),
            "--mail-root".into(),
            p("mail"),
            "--users".into(),
            p("missing"),
        ],
        vec![
            "--domain".into(),
            "bad domain".into(),
            "--mail-root".into(),
            p("mail"),
            "--users".into(),
            p("users"),
        ],
        vec![
            "--domain".into(),
            "example.test".into(),
            "--mail-root".into(),
            p("mail"),
            "--users".into(),
            p("users"),
            "--aliases".into(),
            p("bad-aliases"),
        ],
        vec![
            "--domain".into(),
            "example.test".into(),
            "--mail-root".into(),
            p("mail"),
            "--users".into(),
            p("users"),
            "--tls-cert".into(),
            p("nope.pem"),
            "--tls-key".into(),
            p("nope.key"),
        ],
        vec![
            "--mail-root".into(),
            p("mail"),
            "--users".into(),
            p("users"),
        ],
    ];
    for extra in cases {
        let out = output_within(
            Command::new(BIN).args(base).args(&extra),
            Duration::from_secs(20),
        );
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{extra:?}: {stderr}");
    }
}

#[test]
fn passwd_line_works_as_a_users_file() {
    let dir = TempDir::new("smtp-passwd").unwrap();
    let mut child = Command::new(BIN)
        .args(["passwd", "carol@example.test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    std::fs::write(dir.path().join("users"), &out.stdout).unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let server = start(
        &[
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--hostname",
            "mx.example.test",
            "--domain",
            "example.test",
            "--mail-root",
            &p("mail"),
            "--users",
            &p("users"),
            "--allow-plaintext-auth",
        ],
        1,
    );
    let mut c = Smtp::connect(server.tcp_port(0));
    c.cmd("EHLO x");
    let auth = encode_plain("", "carol@example.test", b"s3cret");
    assert!(c.cmd(&format!("AUTH PLAIN {auth}")).starts_with("235"));
}
