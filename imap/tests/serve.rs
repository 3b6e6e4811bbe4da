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
