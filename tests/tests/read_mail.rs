//! End to end: a message sent with torsion-smtp's client to a torsion-smtp server is seen by
//! an IMAP client in IDLE on a torsion-imap server over the same mail root, and fetched back
//! byte-identical to what was stored (the sent message under the server's Received header).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use torsion_imap::client::Event;

const MESSAGE: &[u8] = b"From: bob@remote.test\r\nTo: alice@example.test\r\nSubject: read me\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello Alice \xe2\x98\x95\r\n.. a dot line\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_over_smtp_is_seen_in_idle_and_fetched_byte_identical() {
    let site = common::MailSite::start("e2e-read").await;
    let mut reader = site.reader().await;
    assert_eq!(reader.select("INBOX").await.unwrap().exists, 0);
    let mut idle = reader.idle().await.unwrap();

    let mut sender = site.sender().await;
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
    let cur = site.dir.path().join("mail/example.test/alice/cur");
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
    site.stop().await;
}
