//! `torsion_imap::client::Client` against our server on loopback: login rules, LIST,
//! SELECT, SEARCH, FETCH of a delivered message byte for byte, STORE, APPEND with APPENDUID,
//! MOVE, EXPUNGE, another session's changes as events, and IDLE seeing a delivery.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{alice, setup, ONE, TWO};
use torsion_core::testkit::RunningServer;
use torsion_imap::client::{Client, ClientConfig, ClientError, Event, TlsMode};

fn plain() -> ClientConfig {
    ClientConfig::new()
        .with_tls(TlsMode::None)
        .allow_plaintext_auth()
        .with_timeout(Duration::from_secs(20))
}

#[tokio::test]
async fn the_client_reads_and_changes_a_mailbox() {
    let s = setup();
    s.store.deliver(&[alice()], &[ONE]).unwrap();
    s.store.deliver(&[alice()], &[TWO]).unwrap();
    let server = RunningServer::start(s.server.clone(), &["tcp:0:interface=127.0.0.1"]).await;
    let endpoint = server.client_endpoint();

    // STARTTLS is required by default, and this server offers none.
    let refused = Client::connect(&endpoint, ClientConfig::new()).await;
    assert!(matches!(refused, Err(ClientError::Tls(_))), "{refused:?}");
    // Without TLS a password is not sent unless allowed.
    let mut shy = Client::connect(&endpoint, ClientConfig::new().with_tls(TlsMode::None))
        .await
        .unwrap();
    assert!(matches!(
        shy.login("alice@example.test", "wonderland").await,
        Err(ClientError::PlaintextAuth)
    ));

    let mut c = Client::connect(&endpoint, plain()).await.unwrap();
    assert!(c.has_capability("IMAP4rev2") && c.has_capability("AUTH=PLAIN"));
    let wrong = c.login("alice@example.test", "nope").await;
    assert!(
        matches!(&wrong, Err(ClientError::Refused { kind: "NO", .. })),
        "{wrong:?}"
    );
    c.authenticate_plain("alice@example.test", "wonderland")
        .await
        .unwrap();
    assert!(c.has_capability("MOVE"), "{:?}", c.capabilities());

    let list = c.list("", "*").await.unwrap();
    let sent = list.iter().find(|e| e.name == "Sent").unwrap();
    assert!(sent.attributes.iter().any(|a| a == "\\Sent"), "{list:?}");
    assert_eq!(sent.delimiter, Some('.'));

    let inbox = c.select("INBOX").await.unwrap();
    assert_eq!((inbox.exists, inbox.uid_next), (2, 3));
    assert!(inbox.uid_validity > 0 && !inbox.read_only);
    assert_eq!(c.uid_search("ALL").await.unwrap(), [1, 2]);
    assert_eq!(c.uid_search("SUBJECT second").await.unwrap(), [2]);

    let messages = c
        .uid_fetch("1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
        .await
        .unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].uid, Some(1));
    assert_eq!(messages[0].body.as_deref(), Some(ONE));
    assert_eq!(messages[1].body.as_deref(), Some(TWO));
    assert_eq!(messages[1].size, Some(TWO.len() as u32));
    // Recent in this (IMAP4rev1) session, the first to see the message (RFC 3501 §2.3.2).
    assert_eq!(
        messages[0].flags.as_deref(),
        Some(&["\\Recent".to_owned()][..])
    );

    c.uid_store("1", "+FLAGS", "(\\Seen $Important)")
        .await
        .unwrap();
    // The STORE's own FETCH response comes back as an event.
    let stored = c.take_events();
    assert!(
        matches!(stored.as_slice(), [Event::Fetch(f)] if f.uid == Some(1)),
        "{stored:?}"
    );
    let flags = c.uid_fetch("1", "(FLAGS)").await.unwrap();
    assert_eq!(
        flags[0].flags.as_deref(),
        Some(
            &[
                "\\Seen".to_owned(),
                "\\Recent".to_owned(),
                "$Important".to_owned()
            ][..]
        )
    );
    let appended = c
        .append("Drafts", "(\\Draft)", b"Subject: draft\r\n\r\nLater\r\n")
        .await
        .unwrap();
    assert_eq!(appended.map(|(_, uid)| uid), Some(1));
    c.uid_move("2", "Archive").await.unwrap();
    assert_eq!(c.take_events(), [Event::Expunge(2)]);
    assert_eq!(c.selected().unwrap().exists, 1);

    // Another session's change and a delivery arrive as events at NOOP.
    let mut other = Client::connect(&endpoint, plain()).await.unwrap();
    other
        .login("alice@example.test", "wonderland")
        .await
        .unwrap();
    other.select("INBOX").await.unwrap();
    other.uid_store("1", "+FLAGS", "(\\Flagged)").await.unwrap();
    s.store.deliver(&[alice()], &[TWO]).unwrap();
    let events = c.noop().await.unwrap();
    assert!(events.contains(&Event::Exists(2)), "{events:?}");
    assert!(
        events.iter().any(|e| matches!(e, Event::Fetch(f)
            if f.seq == 1 && f.flags.as_ref().is_some_and(|f| f.contains(&"\\Flagged".to_owned())))),
        "{events:?}"
    );

    // IDLE: a delivery shows up as EXISTS (inotify or the poll fallback: within seconds).
    let mut idle = c.idle().await.unwrap();
    s.store.deliver(&[alice()], &[ONE]).unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), idle.next())
        .await
        .expect("an event within 10 s")
        .unwrap();
    assert_eq!(event, Event::Exists(3));
    let mut c = idle.done().await.unwrap();
    c.uid_store("1", "+FLAGS.SILENT", "(\\Deleted)")
        .await
        .unwrap();
    c.expunge().await.unwrap();
    assert_eq!(c.take_events(), [Event::Expunge(1)]);
    assert_eq!(c.examine("INBOX").await.unwrap().exists, 2);
    c.logout().await.unwrap();
    other.logout().await.unwrap();
    server.stop().await;
}

/// A sink that keeps what it is given and the size of each write.
#[derive(Default)]
struct Recorder {
    bytes: Vec<u8>,
    writes: Vec<usize>,
}

impl tokio::io::AsyncWrite for Recorder {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.bytes.extend_from_slice(buf);
        self.writes.push(buf.len());
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_large_body_is_streamed_to_a_sink() {
    let s = setup();
    let mut big = b"From: bob@example.test\r\nSubject: big\r\n\r\n".to_vec();
    while big.len() < 4 << 20 {
        big.extend_from_slice(format!("line {} of a large message\r\n", big.len()).as_bytes());
    }
    s.store.deliver(&[alice()], &[ONE]).unwrap();
    s.store.deliver(&[alice()], &[&big]).unwrap();
    let server = RunningServer::start(s.server.clone(), &["tcp:0:interface=127.0.0.1"]).await;
    let mut config = plain();
    config.max_literal = 8 << 20;
    let mut c = Client::connect(&server.client_endpoint(), config)
        .await
        .unwrap();
    c.login("alice@example.test", "wonderland").await.unwrap();
    c.select("INBOX").await.unwrap();
    // Mail arriving meanwhile is an event, not part of the body.
    s.store.deliver(&[alice()], &[TWO]).unwrap();
    let mut sink = Recorder::default();
    let n = c.uid_fetch_body_to(2, "", &mut sink).await.unwrap();
    assert_eq!(n, Some(big.len() as u64));
    assert!(sink.bytes == big, "the body arrived byte for byte");
    assert!(sink.writes.len() > 1 && sink.writes.iter().all(|&w| w <= 64 * 1024));
    let mut text = Recorder::default();
    c.uid_fetch_body_to(1, "TEXT", &mut text).await.unwrap();
    assert_eq!(text.bytes, b"Hello Alice\r\n");
    assert_eq!(
        c.uid_fetch_body_to(99, "", &mut Recorder::default())
            .await
            .unwrap(),
        None
    );
    // A limit below the body's size refuses it.
    let mut small = plain();
    small.max_literal = 1 << 20;
    let mut d = Client::connect(&server.client_endpoint(), small)
        .await
        .unwrap();
    d.login("alice@example.test", "wonderland").await.unwrap();
    d.select("INBOX").await.unwrap();
    let refused = d.uid_fetch_body_to(2, "", &mut Recorder::default()).await;
    assert!(
        matches!(refused, Err(ClientError::Protocol(_))),
        "{refused:?}"
    );
    c.noop().await.unwrap();
    assert_eq!(c.selected().unwrap().exists, 3);
    c.logout().await.unwrap();
    server.stop().await;
}
