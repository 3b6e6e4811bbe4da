//! The `torsion-imap` binary over loopback: no plaintext LOGIN without the flag, a message
//! delivered into the mail root read back byte-identical by a plain TCP client, and bad
//! configuration exiting 2.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use torsion_core::testkit::{ServerBinary, TempDir};
use torsion_mailstore::{MailAddress, MailStore};

const BIN: &str = env!("CARGO_BIN_EXE_torsion-imap");

struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Imap {
    fn connect(port: u16) -> Imap {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut c = Imap {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        };
        assert!(c
            .line()
            .starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 "));
        c
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "connection closed");
        line.trim_end_matches("\r\n").to_owned()
    }

    /// Send `tag command`, return the lines up to the tagged one.
    fn cmd(&mut self, tag: &str, command: &str) -> Vec<String> {
        write!(self.writer, "{tag} {command}\r\n").unwrap();
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }
}

#[test]
fn a_delivered_message_is_read_back_byte_identical() {
    let dir = TempDir::new("imap-serve").unwrap();
    let root = dir.path().join("mail");
    let users = dir.path().join("users");
    std::fs::write(&users, "alice@example.test:{PLAIN}wonderland\n").unwrap();
    let message =
        b"From: bob@example.test\r\nSubject: over loopback\r\n\r\nbody \xe2\x98\x95 bytes\r\n";
    let alice = MailAddress::parse("alice@example.test").unwrap();
    MailStore::open(&root)
        .unwrap()
        .deliver(&[alice], &[message])
        .unwrap();
    let server = ServerBinary::start(
        BIN,
        &[
            "serve",
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--mail-root",
            root.to_str().unwrap(),
            "--users",
            users.to_str().unwrap(),
            "--domain",
            "example.test",
        ],
        1,
    );
    let mut c = Imap::connect(server.tcp_port(0));
    // No plaintext passwords without TLS unless the flag allows it.
    let refused = c.cmd("a", "LOGIN alice wonderland");
    assert_eq!(
        refused.last().unwrap(),
        "a NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS"
    );
    drop(c);
    drop(server);

    let server = ServerBinary::start(
        BIN,
        &[
            "serve",
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--mail-root",
            root.to_str().unwrap(),
            "--users",
            users.to_str().unwrap(),
            "--domain",
            "example.test",
            "--allow-plaintext-auth",
        ],
        1,
    );
    let mut c = Imap::connect(server.tcp_port(0));
    assert!(c
        .cmd("a", "LOGIN alice wonderland")
        .last()
        .unwrap()
        .starts_with("a OK "));
    let select = c.cmd("b", "SELECT INBOX");
    assert!(select.contains(&"* 1 EXISTS".to_owned()), "{select:?}");
    write!(c.writer, "c FETCH 1 BODY.PEEK[]\r\n").unwrap();
    assert_eq!(c.line(), format!("* 1 FETCH (BODY[] {{{}}}", message.len()));
    let mut got = vec![0; message.len()];
    c.reader.read_exact(&mut got).unwrap();
    assert_eq!(got, message);
    assert_eq!(c.line(), ")");
    assert_eq!(c.line(), "c OK FETCH completed");
    assert_eq!(
        c.cmd("d", "LOGOUT").last().unwrap(),
        "d OK LOGOUT completed"
    );
}

#[test]
fn bad_configuration_exits_2_with_one_line() {
    let dir = TempDir::new("imap-serve").unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--mail-root",
            dir.path().to_str().unwrap(),
            "--users",
            dir.path().join("missing").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--users"), "{err}");
}

#[test]
fn fetch_downloads_once_and_watch_sees_new_mail() {
    let dir = TempDir::new("imap-fetch").unwrap();
    let root = dir.path().join("mail");
    let users = dir.path().join("users");
    std::fs::write(&users, "alice@example.test:{PLAIN}wonderland\n").unwrap();
    let alice = MailAddress::parse("alice@example.test").unwrap();
    let store = MailStore::open(&root).unwrap();
    let first = b"From: bob@example.test\r\nSubject: one\r\n\r\nfirst\r\n".as_slice();
    let second = b"From: carol@example.test\r\nSubject: two\r\n\r\nsecond\r\n".as_slice();
    store
        .deliver(std::slice::from_ref(&alice), &[first])
        .unwrap();
    let server = ServerBinary::start(
        BIN,
        &[
            "serve",
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--mail-root",
            root.to_str().unwrap(),
            "--users",
            users.to_str().unwrap(),
            "--domain",
            "example.test",
            "--allow-plaintext-auth",
        ],
        1,
    );
    let address = format!("127.0.0.1:{}", server.tcp_port(0));
    let local = dir.path().join("local");
    let client = |sub: &str, extra: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args([
            sub,
            "--server",
            &address,
            "--no-tls",
            "--user",
            "alice@example.test",
        ])
        .args(extra)
        .env("TORSION_IMAP_PASSWORD", "wonderland");
        cmd
    };
    // Without --allow-plaintext-auth the password is not sent: exit 1.
    let shy = client("fetch", &["--to-maildir", local.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(shy.status.code(), Some(1), "{shy:?}");
    let fetch = || {
        let out = client(
            "fetch",
            &[
                "--allow-plaintext-auth",
                "--to-maildir",
                local.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(fetch().starts_with("fetched 1 new message(s)"));
    store
        .deliver(std::slice::from_ref(&alice), &[second])
        .unwrap();
    assert!(fetch().starts_with("fetched 1 new message(s) from INBOX into"));
    let again = fetch();
    assert!(again.starts_with("fetched 0 new"), "{again}");
    assert!(again.contains("(2 already there)"), "{again}");
    let mut bodies: Vec<Vec<u8>> = std::fs::read_dir(local.join("cur"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    bodies.sort();
    assert_eq!(bodies, [first.to_vec(), second.to_vec()]);

    // watch: one line per new message, then exit (--count 1).
    let mut watch = client("watch", &["--allow-plaintext-auth", "--count", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once it has the mailbox open (UIDNEXT known), a delivery is reported.
    let mut started = String::new();
    BufReader::new(watch.stderr.take().unwrap())
        .read_line(&mut started)
        .unwrap();
    assert_eq!(started, "watching INBOX from UID 3\n");
    let third = b"From: dave@example.test\r\nSubject: three\r\n\r\nthird\r\n".as_slice();
    store.deliver(&[alice], &[third]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = watch.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "watch did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let mut out = String::new();
    watch
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "3\tdave@example.test\tthree\n");
}
