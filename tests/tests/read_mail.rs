//! End to end: a message sent with torsion-smtp's client to a torsion-smtp server is seen by
//! an IMAP client in IDLE on a torsion-imap server over the same mail root, and fetched back
//! byte-identical to what was stored (the sent message under the server's Received header).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use torsion_core::cred::CredentialStore;
use torsion_core::testkit::{RunningServer, TempDir};
use torsion_imap::client::{
    Client as ImapClient, ClientConfig as ImapConfig, Event, TlsMode as ImapTls,
};
use torsion_imap::server::{Config, ImapServer};
use torsion_mailstore::{Aliases, Directory, MailStore};
use torsion_smtp::server::{Mode, SessionConfig, SmtpServer};
use torsion_smtp::{Client, ClientConfig, TlsMode};

const MESSAGE: &[u8] = b"From: bob@remote.test\r\nTo: alice@example.test\r\nSubject: read me\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello Alice \xe2\x98\x95\r\n.. a dot line\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_over_smtp_is_seen_in_idle_and_fetched_byte_identical() {
    let dir = TempDir::new("e2e-read").unwrap();
    let store = MailStore::open(dir.path().join("mail")).unwrap();
    let accounts: CredentialStore = "memory:alice@example.test:wonderland".parse().unwrap();
    let directory = Arc::new(Directory::new(
        ["example.test".to_owned()],
        accounts,
        Aliases::new(),
    ));
    let smtp = RunningServer::start(
        Arc::new(SmtpServer::new(
            Arc::new(SessionConfig {
                hostname: "mx.example.test".into(),
                directory: directory.clone(),
                max_message_size: 1 << 20,
                max_recipients: 10,
                max_errors: 10,
                allow_plaintext_auth: false,
                relay_enabled: false,
            }),
            Mode::Relay,
            store.clone(),
        )),
        &["tcp:0:interface=127.0.0.1"],
    )
    .await;
    let imap = RunningServer::start(
        Arc::new(ImapServer::new(
            Config {
                hostname: "imap.example.test".into(),
                allow_plaintext_auth: true,
                starttls: false,
                store: std::sync::Arc::new(store.clone()),
                append_limit: 1 << 20,
            },
            directory,
            None,
        )),
        &["tcp:0:interface=127.0.0.1"],
    )
    .await;

    let config = ImapConfig::new()
        .with_tls(ImapTls::None)
        .allow_plaintext_auth()
        .with_timeout(Duration::from_secs(20));
    let mut reader = ImapClient::connect(&imap.client_endpoint(), config)
        .await
        .unwrap();
    reader
        .login("alice@example.test", "wonderland")
        .await
        .unwrap();
    assert_eq!(reader.select("INBOX").await.unwrap().exists, 0);
    let mut idle = reader.idle().await.unwrap();

    let mut sender_config = ClientConfig::new("remote.test");
    sender_config.tls = TlsMode::None;
    let mut sender = Client::connect_addr(smtp.addr(), "127.0.0.1", sender_config)
        .await
        .unwrap();
    let report = sender
        .send(Some("bob@remote.test"), &["alice@example.test"], MESSAGE)
        .await
        .unwrap();
    assert!(report.all_accepted(), "{report:?}");
    sender.quit().await.unwrap();

    // The delivery reaches the IDLE session (inotify, or the 1 s poll fallback).
    let event = tokio::time::timeout(Duration::from_secs(10), idle.next())
        .await
        .expect("EXISTS within 10 s")
        .unwrap();
    assert_eq!(event, Event::Exists(1));
    let mut reader = idle.done().await.unwrap();
    let fetched = reader
        .uid_fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[])")
        .await
        .unwrap();
    assert_eq!(fetched.len(), 1);
    let body = fetched[0].body.clone().unwrap();
    // What the server stored: its Received header, then the message exactly as sent.
    let cur = dir.path().join("mail/example.test/alice/cur");
    let files: Vec<_> = std::fs::read_dir(&cur).unwrap().collect();
    assert_eq!(files.len(), 1);
    let stored = std::fs::read(files[0].as_ref().unwrap().path()).unwrap();
    assert_eq!(body, stored);
    assert!(
        body.starts_with(b"Received: from remote.test"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(body.ends_with(MESSAGE));
    assert_eq!(fetched[0].size, Some(body.len() as u32));
    reader.logout().await.unwrap();
    smtp.stop().await;
    imap.stop().await;
}
