//! SMTP sessions in memory: every command, extension and error reply, delivery into Maildir.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::*;
use std::time::Duration;
use torsion_core::cred::sasl::{encode_base64, encode_plain};

use torsion_core::testkit::TestPeer;
use torsion_smtp::server::Mode;

#[tokio::test(start_paused = true)]
async fn ehlo_advertises_extensions() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    let caps = ehlo(&mut c).await;
    assert_eq!(caps[0], "250-mx.example.test Hello client.test [127.0.0.1]");
    for ext in [
        "PIPELINING",
        "SIZE 10000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "AUTH PLAIN LOGIN",
    ] {
        assert!(
            caps.iter().any(|l| l[4..] == *ext),
            "{ext} missing: {caps:?}"
        );
    }
    // No certificate configured: no STARTTLS.
    assert!(!caps.iter().any(|l| l.contains("STARTTLS")));
    assert!(caps.last().unwrap().starts_with("250 "));
    c.send_line("HELO old.client").await;
    c.expect_line("250 mx.example.test Hello old.client").await;
    c.send_line("NOOP").await;
    c.expect_line("250 2.0.0 OK").await;
    c.send_line("VRFY alice").await;
    c.expect_line("252 2.5.0 *").await;
    c.send_line("EXPN team").await;
    c.expect_line("502 5.5.1 EXPN not available").await;
    c.send_line("HELP").await;
    c.expect_line("214-2.0.0 *").await;
    c.expect_line("214 2.0.0 See RFC 5321").await;
    c.send_line("QUIT").await;
    c.expect_line("221 2.0.0 mx.example.test closing connection")
        .await;
    c.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn delivers_a_message_to_local_users_with_a_received_header() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    ehlo(&mut c).await;
    c.script(
        "C: MAIL FROM:<sender@far.test> SIZE=100
         S: 250 2.1.0 Sender OK
         C: RCPT TO:<Alice@Example.TEST>
         S: 250 2.1.5 Recipient OK
         C: RCPT TO:<team@example.test>
         S: 250 2.1.5 Recipient OK
         C: DATA
         S: 354 End data with <CR><LF>.<CR><LF>",
    )
    .await;
    c.send("Subject: hello\r\n\r\n..dot stuffed\r\nbody\r\n.\r\n")
        .await;
    c.expect_line("250 2.0.0 Ok: queued as *").await;
    let alice = s.inbox("alice@example.test");
    let bob = s.inbox("bob@example.test");
    assert_eq!(
        alice.len(),
        1,
        "one copy for alice even though she is a recipient twice"
    );
    assert_eq!(bob.len(), 1);
    let text = String::from_utf8(alice[0].clone()).unwrap();
    assert!(text.starts_with("Received: from client.test ([127.0.0.1])\r\n\tby mx.example.test (Torsion) with ESMTP;\r\n\t"), "{text}");
    assert!(
        text.ends_with("\r\nSubject: hello\r\n\r\n.dot stuffed\r\nbody\r\n"),
        "{text}"
    );
    // The session goes on: RSET, a second transaction.
    c.script(
        "C: MAIL FROM:<>
         S: 250 2.1.0 Sender OK
         C: RCPT TO:<Postmaster>
         S: 250 2.1.5 Recipient OK
         C: DATA
         S: 354 *",
    )
    .await;
    c.send(".\r\n").await;
    c.expect_line("250 2.0.0 *").await;
    assert_eq!(s.inbox("alice@example.test").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn pipelined_commands_get_replies_in_order() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    ehlo(&mut c).await;
    c.send("MAIL FROM:<x@far.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        .await;
    c.expect_line("250 2.1.0 Sender OK").await;
    c.expect_line("550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown")
        .await;
    c.expect_line("250 2.1.5 Recipient OK").await;
    c.expect_line("354 End data with <CR><LF>.<CR><LF>").await;
    c.send("hi\r\n.\r\nQUIT\r\n").await;
    c.expect_line("250 2.0.0 *").await;
    c.expect_line("221 *").await;
    assert_eq!(s.inbox("bob@example.test").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn sequence_errors_get_503() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    c.script(
        "C: MAIL FROM:<a@far.test>
         S: 503 5.5.1 Send EHLO/HELO first
         C: EHLO c
         S: 250-*",
    )
    .await;
    reply(&mut c).await;
    c.script(
        "C: RCPT TO:<alice@example.test>
         S: 503 5.5.1 Need MAIL before RCPT
         C: DATA
         S: 503 5.5.1 Need MAIL command
         C: MAIL FROM:<a@far.test>
         S: 250 2.1.0 Sender OK
         C: MAIL FROM:<a@far.test>
         S: 503 5.5.1 Nested MAIL command
         C: DATA
         S: 503 5.5.1 Need RCPT command
         C: RSET
         S: 250 2.0.0 OK
         C: RCPT TO:<alice@example.test>
         S: 503 5.5.1 Need MAIL before RCPT",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn syntax_errors_and_unknown_commands() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    ehlo(&mut c).await;
    c.script(
        "C: FROB
         S: 500 5.5.1 Command unrecognized
         C: MAIL FROM:alice@far.test
         S: 501 5.1.7 Bad sender address syntax
         C: MAIL FROM:<a@far.test> RET=HDRS
         S: 555 5.5.4 Unsupported parameter RET
         C: MAIL FROM:<jörg@far.test>
         S: 553 5.6.7 Non-ASCII address requires SMTPUTF8
         C: MAIL FROM:<a@far.test> SIZE=999999
         S: 552 5.3.4 Message size exceeds fixed maximum message size
         C: MAIL FROM:<a@far.test>
         S: 250 2.1.0 Sender OK
         C: RCPT TO:<not an address>
         S: 501 5.1.3 Bad recipient address syntax
         C: RCPT TO:<a@b.c> NOTIFY=NEVER
         S: 555 5.5.4 Unsupported parameter NOTIFY
         C: DATA extra
         S: 501 5.5.4 Syntax error: this command takes no arguments",
    )
    .await;
    c.send(format!("NOOP {}\r\n", "x".repeat(3000))).await;
    c.expect_line("500 5.5.2 Line too long").await;
    c.send_line("NOOP").await;
    c.expect_line("250 2.0.0 OK").await;
}

#[tokio::test(start_paused = true)]
async fn too_many_errors_disconnects() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    for _ in 0..9 {
        c.send_line("BOGUS").await;
        c.expect_line("500 5.5.1 Command unrecognized").await;
    }
    c.send_line("BOGUS").await;
    c.expect_line("421 4.7.0 mx.example.test Too many errors, closing connection")
        .await;
    c.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn recipient_limit() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    ehlo(&mut c).await;
    c.send_line("MAIL FROM:<a@far.test>").await;
    c.expect_line("250 *").await;
    for _ in 0..5 {
        c.send_line("RCPT TO:<alice@example.test>").await;
        c.expect_line("250 2.1.5 Recipient OK").await;
    }
    c.send_line("RCPT TO:<bob@example.test>").await;
    c.expect_line("452 4.5.3 Too many recipients").await;
}

#[tokio::test(start_paused = true)]
async fn never_an_open_relay() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    ehlo(&mut c).await;
    c.script(
        "C: MAIL FROM:<spammer@far.test>
         S: 250 2.1.0 Sender OK
         C: RCPT TO:<victim@elsewhere.test>
         S: 554 5.7.1 <victim@elsewhere.test>: Relay access denied",
    )
    .await;
    assert!(s.queue.list().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn authenticated_users_relay_into_the_queue() {
    let s = setup();
    let mut c = s.connect(Mode::Submission).await;
    ehlo(&mut c).await;
    c.script(
        "C: MAIL FROM:<alice@example.test>
         S: 530 5.7.0 Authentication required",
    )
    .await;
    c.send_line(&format!(
        "AUTH PLAIN {}",
        encode_plain("", "alice@example.test", b"wrong")
    ))
    .await;
    c.expect_line("535 5.7.8 Authentication credentials invalid")
        .await;
    c.send_line(&format!(
        "AUTH PLAIN {}",
        encode_plain("", "alice@example.test", b"wonderland")
    ))
    .await;
    c.expect_line("235 2.7.0 Authentication successful").await;
    c.script(
        "C: AUTH PLAIN
         S: 503 5.5.1 Already authenticated
         C: MAIL FROM:<bob@example.test>
         S: 553 5.7.1 Sender address <bob@example.test> not owned by user alice@example.test
         C: MAIL FROM:<alice@example.test>
         S: 250 2.1.0 Sender OK
         C: RCPT TO:<friend@far.test>
         S: 250 2.1.5 Recipient OK
         C: RCPT TO:<bob@example.test>
         S: 250 2.1.5 Recipient OK
         C: DATA
         S: 354 *",
    )
    .await;
    c.send("Subject: out\r\n\r\nhi\r\n.\r\n").await;
    c.expect_line("250 2.0.0 Ok: queued as *").await;
    assert_eq!(s.inbox("bob@example.test").len(), 1);
    let queued = s.queue.list().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].from.as_deref(), Some("alice@example.test"));
    assert_eq!(queued[0].recipients[0].0, "friend@far.test");
    let msg = String::from_utf8(s.queue.message(&queued[0].id).unwrap()).unwrap();
    assert!(msg.contains("with ESMTPA"), "{msg}");
}

#[tokio::test(start_paused = true)]
async fn auth_login_and_cancel() {
    let s = setup();
    let mut c = s.connect(Mode::Submission).await;
    ehlo(&mut c).await;
    c.script(
        "C: AUTH LOGIN
         S: 334 VXNlcm5hbWU6
         C: *
         S: 501 5.0.0 Authentication cancelled
         C: AUTH CRAM-MD5
         S: 504 5.5.4 Unrecognized authentication type
         C: AUTH LOGIN
         S: 334 VXNlcm5hbWU6",
    )
    .await;
    c.send_line(&encode_base64(b"bob@example.test")).await;
    c.expect_line("334 UGFzc3dvcmQ6").await;
    c.send_line(&encode_base64(b"builder")).await;
    c.expect_line("235 2.7.0 Authentication successful").await;
}

#[tokio::test(start_paused = true)]
async fn plaintext_auth_refused_without_tls_by_default() {
    let s = setup_with(|c| c.allow_plaintext_auth = false);
    let mut c = s.connect(Mode::Submission).await;
    let caps = ehlo(&mut c).await;
    assert!(!caps.iter().any(|l| l.contains("AUTH")), "{caps:?}");
    c.send_line(&format!(
        "AUTH PLAIN {}",
        encode_plain("", "alice@example.test", b"wonderland")
    ))
    .await;
    c.expect_line("538 5.7.11 Encryption required for requested authentication mechanism")
        .await;
}

#[tokio::test(start_paused = true)]
async fn oversized_messages_are_refused_whole() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    ehlo(&mut c).await;
    c.send("MAIL FROM:<a@far.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        .await;
    for _ in 0..3 {
        c.read_line().await.unwrap();
    }
    let big = format!("{}\r\n", "x".repeat(998)).repeat(20);
    c.send(format!("{big}.\r\n")).await;
    c.expect_line("552 5.3.4 Message size exceeds fixed maximum message size")
        .await;
    assert!(s.inbox("alice@example.test").is_empty());
    c.send_line("NOOP").await;
    c.expect_line("250 2.0.0 OK").await;
}

#[tokio::test(start_paused = true)]
async fn smuggling_is_rejected_and_nothing_is_delivered() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    ehlo(&mut c).await;
    c.send("MAIL FROM:<a@far.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        .await;
    for _ in 0..3 {
        c.read_line().await.unwrap();
    }
    // A bare-LF "end of data" followed by a smuggled transaction: all of it is data.
    c.send("Subject: x\r\n\r\nhi\n.\nMAIL FROM:<ceo@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nforged\r\n.\r\n")
        .await;
    c.expect_line("554 5.6.0 Message contains bare CR or LF, rejected (RFC 5321 section 2.3.8)")
        .await;
    c.send_line("NOOP").await;
    c.expect_line("250 2.0.0 OK").await;
    assert!(s.inbox("alice@example.test").is_empty());
    assert!(s.inbox("bob@example.test").is_empty());
}

#[tokio::test(start_paused = true)]
async fn bdat_chunks() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    ehlo(&mut c).await;
    c.send("BDAT 5\r\nhello").await;
    c.expect_line("503 5.5.1 Need MAIL command").await;
    c.send("MAIL FROM:<a@far.test> BODY=BINARYMIME\r\nRCPT TO:<alice@example.test>\r\n")
        .await;
    c.expect_line("250 *").await;
    c.expect_line("250 *").await;
    c.send_line("DATA").await;
    c.expect_line("503 5.5.1 BINARYMIME requires BDAT").await;
    c.send("BDAT 14\r\nSubject: b\r\n\r\n").await;
    c.expect_line("250 2.0.0 14 octets received").await;
    // Binary-safe: a line with just a dot and bare LFs are message content in BDAT.
    c.send("BDAT 9 LAST\r\n.\r\nbin\n\0\n").await;
    c.expect_line("250 2.0.0 Ok: queued as *").await;
    let mail = s.inbox("alice@example.test");
    assert_eq!(mail.len(), 1);
    assert!(mail[0].ends_with(b"Subject: b\r\n\r\n.\r\nbin\n\0\n"));
    // Too big across chunks.
    c.send("MAIL FROM:<a@far.test>\r\nRCPT TO:<alice@example.test>\r\n")
        .await;
    c.expect_line("250 *").await;
    c.expect_line("250 *").await;
    let chunk = "y".repeat(6000);
    c.send(format!("BDAT 6000\r\n{chunk}")).await;
    c.expect_line("250 2.0.0 6000 octets received").await;
    c.send(format!("BDAT 6000 LAST\r\n{chunk}")).await;
    c.expect_line("552 5.3.4 Message size exceeds fixed maximum message size")
        .await;
    assert_eq!(s.inbox("alice@example.test").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn client_vanishing_mid_data_delivers_nothing() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    ehlo(&mut c).await;
    c.send("MAIL FROM:<a@far.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        .await;
    for _ in 0..3 {
        c.read_line().await.unwrap();
    }
    c.send("Subject: partial\r\n\r\nhalf a mess").await;
    c.shutdown_write().await;
    c.expect_closed().await;
    c.join().await;
    assert!(s.inbox("alice@example.test").is_empty());
}

#[tokio::test(start_paused = true)]
async fn idle_clients_time_out() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    tokio::time::sleep(std::time::Duration::from_secs(301)).await;
    c.expect_line("421 4.4.2 mx.example.test Timeout, closing connection")
        .await;
    c.expect_closed().await;
}

/// The limits `torsion-smtp serve --idle-timeout SECONDS` runs with.
fn with_idle_flag(seconds: u64) -> torsion_core::runner::Limits {
    let mut args = torsion_core::runner::ServiceArgs::defaults();
    args.idle_timeout = Some(seconds);
    args.limits_over(torsion_smtp::server::SmtpServer::standard_limits())
}

#[tokio::test(start_paused = true)]
async fn the_operators_idle_timeout_wins_over_the_five_minutes() {
    let s = setup();
    let mut c = s.connect_with(Mode::Relay, with_idle_flag(10)).await;
    c.set_timeout(Duration::from_secs(60));
    let started = tokio::time::Instant::now();
    c.expect_line("421 4.4.2 mx.example.test Timeout, closing connection")
        .await;
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    c.expect_closed().await;
}

/// Sends `byte` every `interval` until the server closes (noticed at the next send, so up
/// to one interval after the close).
fn trickle(
    mut c: TestPeer,
    byte: &'static str,
    interval: Duration,
) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut sent = 0usize;
        loop {
            if c.try_send(byte).await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(interval).await;
            if sent > 100_000 {
                break;
            }
        }
        c.read_to_close().await
    })
}

#[tokio::test(start_paused = true)]
async fn a_trickled_command_is_closed_at_the_frame_deadline() {
    let s = setup();
    let c = s.connect(Mode::Relay).await;
    let started = tokio::time::Instant::now();
    // One byte every 2 s of a command that never ends: each byte would restart an idle timer.
    let rest = trickle(c, "N", Duration::from_secs(2)).await.unwrap();
    assert!(rest.starts_with("421 4.4.2 "), "{rest:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(300) && elapsed <= Duration::from_secs(303),
        "{elapsed:?}"
    );
    // With the operator's flag, at the flag's deadline.
    let c = s.connect_with(Mode::Relay, with_idle_flag(10)).await;
    let started = tokio::time::Instant::now();
    let rest = trickle(c, "N", Duration::from_secs(2)).await.unwrap();
    assert!(rest.starts_with("421 4.4.2 "), "{rest:?}");
    assert!(
        started.elapsed() <= Duration::from_secs(13),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_trickled_message_is_closed_and_nothing_is_delivered() {
    let s = setup();
    let mut c = s.connect_with(Mode::Relay, with_idle_flag(30)).await;
    ehlo(&mut c).await;
    c.send("MAIL FROM:<a@far.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        .await;
    for _ in 0..3 {
        c.read_line().await.unwrap();
    }
    let started = tokio::time::Instant::now();
    let rest = trickle(c, "x", Duration::from_secs(1)).await.unwrap();
    assert!(rest.starts_with("421 4.4.2 "), "{rest:?}");
    assert!(
        started.elapsed() <= Duration::from_secs(32),
        "{:?}",
        started.elapsed()
    );
    assert!(s.inbox("alice@example.test").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_trickled_bdat_chunk_is_one_frame() {
    let s = setup();
    let mut c = s.connect_with(Mode::Relay, with_idle_flag(30)).await;
    ehlo(&mut c).await;
    c.send("MAIL FROM:<a@far.test>\r\nRCPT TO:<alice@example.test>\r\nBDAT 5000 LAST\r\n")
        .await;
    for _ in 0..2 {
        c.read_line().await.unwrap();
    }
    // Every byte decodes as a piece of the chunk at once; the chunk as a whole is the frame.
    let started = tokio::time::Instant::now();
    let rest = trickle(c, "x", Duration::from_secs(1)).await.unwrap();
    assert!(rest.starts_with("421 4.4.2 "), "{rest:?}");
    assert!(
        started.elapsed() <= Duration::from_secs(32),
        "{:?}",
        started.elapsed()
    );
    assert!(s.inbox("alice@example.test").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_large_message_at_a_modest_rate_is_not_cut_off() {
    let s = setup_with(|c| c.max_message_size = 1_000_000);
    let mut c = s.connect_with(Mode::Relay, with_idle_flag(30)).await;
    ehlo(&mut c).await;
    c.send("MAIL FROM:<a@far.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        .await;
    for _ in 0..3 {
        c.read_line().await.unwrap();
    }
    // 300 KB at 1,000 B/s (twice the minimum rate): ten times the 30 s frame timeout.
    let line = format!("{}\r\n", "a".repeat(998));
    for _ in 0..300 {
        c.send(&line).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    c.send(".\r\n").await;
    c.set_timeout(Duration::from_secs(60));
    c.expect_line("250 *").await;
    assert_eq!(s.inbox("alice@example.test").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_closed_at_the_write_timeout() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    ehlo(&mut c).await;
    // Pipelined commands whose replies (well over the pipe's 64 KiB) are never read.
    let started = tokio::time::Instant::now();
    c.send("NOOP\r\n".repeat(8000)).await;
    c.set_timeout(Duration::from_secs(600));
    c.join().await;
    // The write timeout, then at most the graceful close's own 5 s bound.
    let elapsed = started.elapsed();
    let bound = torsion_smtp::server::WRITE_TIMEOUT;
    assert!(
        elapsed >= bound && elapsed <= bound + Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn aliases_that_forward_are_queued_without_auth() {
    let s = setup();
    let mut c = s.connect(Mode::Relay).await;
    ehlo(&mut c).await;
    c.send("MAIL FROM:<a@far.test>\r\nRCPT TO:<fwd@example.test>\r\nDATA\r\n")
        .await;
    for _ in 0..3 {
        c.read_line().await.unwrap();
    }
    c.send("hi\r\n.\r\n").await;
    c.expect_line("250 *").await;
    let queued = s.queue.list().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].recipients[0].0, "someone@far.test");
}

fn tls_server(
    s: &Setup,
    tls: &torsion_core::testkit::TestTls,
) -> std::sync::Arc<torsion_smtp::server::SmtpServer> {
    let reloadable =
        torsion_core::tls::ReloadableServerConfig::load(&tls.key_path(), &tls.cert_path()).unwrap();
    std::sync::Arc::new(
        torsion_smtp::server::SmtpServer::new(s.config.clone(), Mode::Relay, s.store.clone())
            .with_tls(reloadable),
    )
}

#[tokio::test]
async fn starttls_garbage_handshake_closes_cleanly() {
    let s = setup_with(|c| c.allow_plaintext_auth = false);
    let tls = torsion_core::testkit::TestTls::generate();
    let mut c = torsion_core::testkit::TestPeer::serve(tls_server(&s, &tls));
    c.expect_line("220 *").await;
    let caps = ehlo(&mut c).await;
    assert!(caps.iter().any(|l| l.ends_with("STARTTLS")), "{caps:?}");
    assert!(
        !caps.iter().any(|l| l.contains("AUTH")),
        "no AUTH before TLS: {caps:?}"
    );
    c.send_line("STARTTLS").await;
    c.expect_line("220 2.0.0 Ready to start TLS").await;
    c.send(b"\x16\x03\x01\x00\x05garbage that is not a ClientHello\r\n")
        .await;
    c.read_to_close().await;
    c.join().await;
}

#[tokio::test]
async fn commands_pipelined_after_starttls_are_discarded() {
    use torsion_core::Connection;
    let s = setup();
    let tls = torsion_core::testkit::TestTls::generate();
    let (server_conn, peer) = torsion_core::testkit::memory_pair();
    let server = tls_server(&s, &tls);
    let task = tokio::spawn(torsion_core::Service::handle(server, server_conn));
    let mut peer = peer;
    peer.expect_line("220 *").await;
    ehlo(&mut peer).await;
    // CVE-2011-0411: the injected MAIL must not be executed inside the TLS session.
    peer.send("STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
        .await;
    peer.expect_line("220 2.0.0 Ready to start TLS").await;
    let stream = peer.into_stream();
    let mut conn = Connection::new(
        stream,
        torsion_core::Address::Memory("client".into()),
        torsion_core::Address::Memory("server".into()),
    );
    conn.upgrade_client_tls(
        &tls.connector(),
        rustls_pki_types::ServerName::try_from("localhost").unwrap(),
    )
    .await
    .unwrap();
    let mut lines = torsion_core::framing::LineCodec::crlf(1000);
    conn.send(b"EHLO again\r\nMAIL FROM:<real@far.test>\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 20 {
        let line = conn.read_frame(&mut lines).await.unwrap().unwrap();
        let line = String::from_utf8(line.to_vec()).unwrap();
        let done = line.starts_with("250 2.1.0") || line.starts_with("503");
        got.push(line);
        if done {
            break;
        }
    }
    // A fresh session after TLS: the injected MAIL left no transaction behind, so the real one
    // is not "nested".
    assert_eq!(got.last().unwrap(), "250 2.1.0 Sender OK", "{got:?}");
    assert!(
        got.iter().any(|l| l.contains("AUTH PLAIN LOGIN")),
        "AUTH offered after TLS: {got:?}"
    );
    drop(conn);
    let _ = task.await;
}

#[tokio::test(start_paused = true)]
async fn forwarding_aliases_without_a_relay_queue_are_deferred_not_half_delivered() {
    let s = setup_with(|c| c.relay_enabled = false);
    let mut c = s.connect(Mode::Relay).await;
    ehlo(&mut c).await;
    c.script(
        "C: MAIL FROM:<a@far.test>
         S: 250 2.1.0 Sender OK
         C: RCPT TO:<mixed@example.test>
         S: 451 4.3.0 Forwarding not available, try again later
         C: RCPT TO:<team@example.test>
         S: 250 2.1.5 Recipient OK",
    )
    .await;
}
