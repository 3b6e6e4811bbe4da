//! What the in-memory session tests share: a mail store with one account, a logged-in
//! client, reading a response up to its tagged line.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use torsion_core::cred::CredentialStore;
use torsion_core::testkit::{TempDir, TestPeer};
use torsion_imap::server::{Config, ImapServer};
use torsion_mailstore::{Aliases, Directory, MailAddress, MailStore};

pub struct Setup {
    _dir: TempDir,
    pub server: Arc<ImapServer>,
    pub store: MailStore,
}

pub fn setup() -> Setup {
    let dir = TempDir::new("imap-mailbox").unwrap();
    let store = MailStore::open(dir.path().join("mail")).unwrap();
    let accounts: CredentialStore = "memory:alice@example.test:wonderland".parse().unwrap();
    let directory = Directory::new(["example.test".to_owned()], accounts, Aliases::default());
    let config = Config {
        hostname: "imap.example.test".into(),
        allow_plaintext_auth: true,
        starttls: false,
        store: std::sync::Arc::new(store.clone()),
        append_limit: 1024 * 1024,
    };
    let server = Arc::new(ImapServer::new(config, Arc::new(directory), None));
    Setup {
        _dir: dir,
        server,
        store,
    }
}

pub fn alice() -> MailAddress {
    MailAddress::parse("alice@example.test").unwrap()
}

pub const ONE: &[u8] =
    b"From: bob@example.test\r\nSubject: first\r\nTo: alice@example.test\r\n\r\nHello Alice\r\n";
pub const TWO: &[u8] = b"From: carol@example.test\r\nSubject: second\r\n\r\nSecond body\r\n";

pub async fn login(s: &Setup) -> TestPeer {
    let mut c = TestPeer::serve(s.server.clone());
    c.read_line().await.unwrap();
    c.send_line("a LOGIN alice wonderland").await;
    let ok = c.read_line().await.unwrap();
    assert!(ok.starts_with("a OK "), "{ok}");
    c
}

/// Lines up to and including the tagged one.
pub async fn response(c: &mut TestPeer, tag: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = c.read_line().await.unwrap();
        let done = line.starts_with(&format!("{tag} "));
        lines.push(line);
        if done {
            return lines;
        }
    }
}
