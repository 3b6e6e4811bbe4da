//! The SMTP client against our own server (in memory and over loopback, with and without TLS)
//! and against scripted fake servers for what ours never does (no EHLO, no PIPELINING, odd
//! replies); and the `send` CLI through the binary.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use torsion_core::testkit::{memory_pair, RunningServer, TestPeer, TestTls};
use torsion_core::tls::ReloadableServerConfig;
use torsion_core::{Address, ClientEndpoint, Connection, Service, Stream};
use torsion_smtp::client::{Client, ClientConfig, ClientError, TlsMode};
use torsion_smtp::server::{Mode, SmtpServer};

fn config() -> ClientConfig {
    ClientConfig::new("client.test").with_timeout(Duration::from_secs(30))
}

/// A client connected in memory to `server`.
async fn in_memory(server: Arc<SmtpServer>, config: ClientConfig) -> Result<Client, ClientError> {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server_conn = Connection::new(
        Stream::Memory(a),
        Address::Memory("client".into()),
        Address::Memory("server".into()),
    );
    tokio::spawn(server.handle(server_conn));
    let client_conn = Connection::new(
        Stream::Memory(b),
        Address::Memory("server".into()),
        Address::Memory("client".into()),
    );
    Client::with_connection(client_conn, "mx.example.test", config).await
}

/// A client connected in memory to a scripted fake server (the returned peer plays the server).
fn fake_server(
    config: ClientConfig,
) -> (
    tokio::task::JoinHandle<Result<Client, ClientError>>,
    TestPeer,
) {
    let (conn, peer) = memory_pair();
    let task = tokio::spawn(Client::with_connection(conn, "fake.test", config));
    (task, peer)
}

/// The fake server's side of greeting + EHLO with these extension lines.
async fn greet(peer: &mut TestPeer, extensions: &[&str]) {
    peer.send_line("220 fake.test ESMTP").await;
    peer.expect_line("EHLO client.test").await;
    let mut reply = String::new();
    let mut lines = vec!["fake.test"];
    lines.extend_from_slice(extensions);
    for (i, line) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        reply.push_str(&format!("250{sep}{line}\r\n"));
    }
    peer.send(reply).await;
}

#[tokio::test(start_paused = true)]
async fn delivers_with_a_result_per_recipient() {
    let s = setup();
    let mut client = in_memory(s.server(Mode::Relay), config()).await.unwrap();
    assert!(client.is_esmtp() && !client.is_tls() && !client.is_authenticated());
    let ext = client.extensions();
    assert!(ext.pipelining && ext.eight_bit_mime && ext.smtputf8 && ext.chunking);
    assert_eq!(ext.max_size(), Some(10_000));
    assert_eq!(ext.auth, ["PLAIN", "LOGIN"]);
    let report = client
        .send(
            Some("sender@far.test"),
            &[
                "alice@example.test",
                "nobody@example.test",
                "<bob@example.test>",
            ],
            b"Subject: hello\r\n\r\nHi.\r\n",
        )
        .await
        .unwrap();
    assert_eq!(
        report.accepted,
        ["alice@example.test", "<bob@example.test>"]
    );
    assert_eq!(report.rejected.len(), 1);
    let (rcpt, reply) = &report.rejected[0];
    assert_eq!(
        (rcpt.as_str(), reply.code, reply.status),
        ("nobody@example.test", 550, "5.1.1")
    );
    let data = report.data.as_ref().unwrap();
    assert_eq!((data.code, data.status), (250, "2.0.0"));
    assert!(!report.all_accepted());
    assert_eq!(s.inbox("alice@example.test").len(), 1);
    assert_eq!(s.inbox("bob@example.test").len(), 1);
    // The same connection carries a second message (null sender).
    let report = client
        .send(None, &["alice@example.test"], b"again\r\n")
        .await
        .unwrap();
    assert!(report.all_accepted());
    assert_eq!(s.inbox("alice@example.test").len(), 2);
    client.quit().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn dot_stuffing_and_bare_line_feeds_arrive_intact() {
    let s = setup();
    let mut client = in_memory(s.server(Mode::Relay), config()).await.unwrap();
    let message = b"Subject: dots\n\n.leading dot\n..two dots\n.\nbare\rcr\r\nno final newline";
    let report = client
        .send(Some("a@far.test"), &["bob@example.test"], message)
        .await
        .unwrap();
    assert!(report.all_accepted(), "{report:?}");
    let inbox = s.inbox("bob@example.test");
    let text = String::from_utf8(inbox[0].clone()).unwrap();
    let body = text.split_once("Subject: dots").unwrap().1;
    assert_eq!(
        body,
        "\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nbare\r\ncr\r\nno final newline\r\n"
    );
    client.quit().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn no_accepted_recipient_resets_and_sends_nothing() {
    let s = setup();
    let mut client = in_memory(s.server(Mode::Relay), config()).await.unwrap();
    let report = client
        .send(
            Some("a@far.test"),
            &["x@example.test", "y@example.test", "not an address"],
            b"x\r\n",
        )
        .await
        .unwrap();
    assert!(report.accepted.is_empty() && report.data.is_none());
    assert_eq!(report.rejected.len(), 3);
    assert_eq!(report.rejected[0].1.code, 550);
    // Refused locally, never sent.
    assert_eq!(
        (report.rejected[2].1.code, report.rejected[2].1.status),
        (501, "5.1.3")
    );
    // The session is still in a clean state.
    let report = client
        .send(Some("a@far.test"), &["alice@example.test"], b"x\r\n")
        .await
        .unwrap();
    assert!(report.all_accepted());
}

#[tokio::test(start_paused = true)]
async fn a_refused_mail_from_leaves_the_client_usable() {
    let s = setup();
    // Submission without AUTH: MAIL gets 530 (and the pipelined RCPT/DATA 503s are consumed).
    let mut client = in_memory(s.server(Mode::Submission), config())
        .await
        .unwrap();
    let err = client
        .send(Some("alice@example.test"), &["bob@example.test"], b"x\r\n")
        .await
        .unwrap_err();
    let reply = err.reply().unwrap();
    assert_eq!((reply.code, reply.status), (530, "5.7.0"));
    assert!(err.is_permanent());
    assert!(client.is_usable());
    client.noop().await.unwrap();
    client.quit().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn size_refusal_happens_before_sending() {
    let s = setup();
    let mut client = in_memory(s.server(Mode::Relay), config()).await.unwrap();
    let big = vec![b'x'; 20_000];
    let err = client
        .send(Some("a@far.test"), &["alice@example.test"], &big)
        .await
        .unwrap_err();
    let reply = err.reply().unwrap();
    assert_eq!((reply.code, reply.status), (552, "5.3.4"));
    assert!(err.is_permanent());
    assert!(client.is_usable());
    assert!(s.inbox("alice@example.test").is_empty());

    // On the wire: nothing at all goes out for the refused message.
    let (task, mut peer) = fake_server(config());
    greet(&mut peer, &["SIZE 100", "PIPELINING"]).await;
    let mut client = task.await.unwrap().unwrap();
    let err = client
        .send(Some("a@b.test"), &["c@d.test"], &[b'y'; 101])
        .await
        .unwrap_err();
    assert_eq!(err.reply().unwrap().code, 552);
    let quit = tokio::spawn(client.quit());
    peer.expect_line("QUIT").await;
    peer.send_line("221 bye").await;
    quit.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn pipelining_is_used_when_offered() {
    let (task, mut peer) = fake_server(config());
    greet(&mut peer, &["PIPELINING", "SIZE 1000", "8BITMIME"]).await;
    let mut client = task.await.unwrap().unwrap();
    let send = tokio::spawn(async move {
        let report = client
            .send(
                Some("a@b.test"),
                &["c@d.test", "e@f.test"],
                "..dots\nünï\n".as_bytes(),
            )
            .await;
        (client, report)
    });
    // All four commands arrive before the server says anything.
    peer.expect_line("MAIL FROM:<a@b.test> SIZE=15 BODY=8BITMIME")
        .await;
    peer.expect_line("RCPT TO:<c@d.test>").await;
    peer.expect_line("RCPT TO:<e@f.test>").await;
    peer.expect_line("DATA").await;
    peer.send("250 2.1.0 ok\r\n550 5.1.1 no such user\r\n250 2.1.5 ok\r\n354 go\r\n")
        .await;
    peer.expect_line("...dots").await;
    peer.expect_line("ünï").await;
    peer.expect_line(".").await;
    peer.send_line("250 2.0.0 queued as X").await;
    let (client, report) = send.await.unwrap();
    let report = report.unwrap();
    assert_eq!(report.accepted, ["e@f.test"]);
    assert_eq!(report.rejected[0].0, "c@d.test");
    assert_eq!(report.rejected[0].1.lines, ["no such user"]);
    assert_eq!(report.data.unwrap().lines, ["queued as X"]);
    let quit = tokio::spawn(client.quit());
    peer.expect_line("QUIT").await;
    peer.send_line("221 2.0.0 bye").await;
    quit.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn one_command_at_a_time_without_pipelining() {
    let (task, mut peer) = fake_server(config());
    greet(&mut peer, &["8BITMIME"]).await;
    let mut client = task.await.unwrap().unwrap();
    let send = tokio::spawn(async move {
        client
            .send(Some("a@b.test"), &["c@d.test", "e@f.test"], b"hi")
            .await
    });
    for (command, reply) in [
        ("MAIL FROM:<a@b.test>", "250 ok"),
        ("RCPT TO:<c@d.test>", "250 ok"),
        ("RCPT TO:<e@f.test>", "451 4.3.0 try later"),
        ("DATA", "354 go"),
    ] {
        peer.expect_line(command).await;
        // Nothing more until we answer.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            peer.unread().is_empty(),
            "pipelined without PIPELINING: {:?}",
            peer.unread()
        );
        peer.send_line(reply).await;
    }
    peer.expect_line("hi").await;
    peer.expect_line(".").await;
    peer.send_line("250 queued").await;
    let report = send.await.unwrap().unwrap();
    assert_eq!(report.accepted, ["c@d.test"]);
    assert!(report.rejected[0].1.is_transient());
}

#[tokio::test(start_paused = true)]
async fn helo_fallback_when_ehlo_is_refused() {
    let (task, mut peer) = fake_server(config());
    peer.send_line("220 old.test SMTP").await;
    peer.expect_line("EHLO client.test").await;
    peer.send_line("502 Command not implemented").await;
    peer.expect_line("HELO client.test").await;
    peer.send_line("250 old.test").await;
    let mut client = task.await.unwrap().unwrap();
    assert!(!client.is_esmtp());
    assert_eq!(client.extensions().greeting, "old.test");
    let send = tokio::spawn(async move {
        let r = client
            .send(Some("a@b.test"), &["c@d.test"], "8bit ü".as_bytes())
            .await;
        (client, r)
    });
    // No ESMTP parameters after HELO.
    peer.expect_line("MAIL FROM:<a@b.test>").await;
    peer.send_line("250 ok").await;
    peer.expect_line("RCPT TO:<c@d.test>").await;
    peer.send_line("250 ok").await;
    peer.expect_line("DATA").await;
    peer.send_line("354 go").await;
    peer.expect_line("8bit ü").await;
    peer.expect_line(".").await;
    // The final reply is a refusal: an error, and the client stays usable.
    peer.send_line("554 5.6.0 content rejected").await;
    let (mut client, result) = send.await.unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.reply().unwrap().code, 554);
    let noop = tokio::spawn(async move { client.noop().await.map(|_| ()) });
    peer.expect_line("NOOP").await;
    peer.send_line("250 ok").await;
    noop.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_refused_greeting_is_a_permanent_error_and_quits() {
    let (task, mut peer) = fake_server(config());
    peer.send_line("554 5.3.2 no service for you").await;
    peer.expect_line("QUIT").await;
    peer.send_line("221 bye").await;
    let err = task.await.unwrap().unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert_eq!(
        err.to_string(),
        "server replied: 554 5.3.2 no service for you"
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_times_out() {
    let (task, mut peer) = fake_server(config());
    greet(&mut peer, &["PIPELINING"]).await;
    let mut client = task.await.unwrap().unwrap();
    let started = tokio::time::Instant::now();
    let err = client.send(None, &["c@d.test"], b"x").await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(30));
    assert!(!client.is_usable());
    assert!(matches!(client.noop().await, Err(ClientError::Protocol(_))));
    drop(peer);
}

#[tokio::test(start_paused = true)]
async fn malformed_replies_and_closing_servers() {
    let (task, mut peer) = fake_server(config());
    peer.send_line("220 fake").await;
    peer.expect_line("EHLO client.test").await;
    peer.send_line("250-fake").await;
    peer.send_line("251 mixed codes").await;
    let err = task.await.unwrap().unwrap_err();
    assert!(matches!(err, ClientError::Protocol(_)), "{err}");

    // 421 in the middle of a pipelined group: the server is closing; its reply is the error.
    let (task, mut peer) = fake_server(config());
    greet(&mut peer, &["PIPELINING"]).await;
    let mut client = task.await.unwrap().unwrap();
    let send = tokio::spawn(async move {
        let r = client.send(None, &["c@d.test"], b"x").await;
        (client, r)
    });
    peer.expect_line("MAIL FROM:<>").await;
    peer.send_line("421 4.3.2 shutting down").await;
    drop(peer);
    let (client, result) = send.await.unwrap();
    let err = result.unwrap_err();
    assert!(err.reply().unwrap().is_transient() && !err.is_permanent());
    assert!(!client.is_usable());
}

#[tokio::test(start_paused = true)]
async fn auth_login_against_a_server_that_only_offers_login() {
    let (task, mut peer) = fake_server(
        config()
            .allow_plaintext_auth()
            .with_auth("alice", "wonderland"),
    );
    greet(&mut peer, &["AUTH LOGIN"]).await;
    peer.expect_line("AUTH LOGIN").await;
    peer.send_line("334 VXNlcm5hbWU6").await;
    peer.expect_line("YWxpY2U=").await;
    peer.send_line("334 UGFzc3dvcmQ6").await;
    peer.expect_line("d29uZGVybGFuZA==").await;
    peer.send_line("235 2.7.0 ok").await;
    let client = task.await.unwrap().unwrap();
    assert!(client.is_authenticated());

    // No AUTH offered at all: an error naming the problem, after a QUIT.
    let (task, mut peer) = fake_server(
        config()
            .allow_plaintext_auth()
            .with_auth("alice", "wonderland"),
    );
    greet(&mut peer, &["PIPELINING"]).await;
    peer.expect_line("QUIT").await;
    peer.send_line("221 bye").await;
    let err = task.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("does not offer AUTH"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn credentials_never_go_in_the_clear_unless_allowed() {
    // TLS off: refused before any AUTH, whatever the server offers.
    let (task, mut peer) = fake_server(config().with_auth("alice", "wonderland"));
    greet(&mut peer, &["AUTH PLAIN LOGIN"]).await;
    peer.expect_line("QUIT").await;
    peer.send_line("221 bye").await;
    let err = task.await.unwrap().unwrap_err();
    assert!(
        err.to_string()
            .contains("unencrypted connection (TLS is off)"),
        "{err}"
    );

    // Opportunistic TLS and a server that does not offer STARTTLS (or had it stripped): the
    // same refusal, not a silent fallback.
    let (task, mut peer) = fake_server(
        config()
            .with_tls(TlsMode::Opportunistic)
            .with_auth("alice", "wonderland"),
    );
    greet(&mut peer, &["AUTH PLAIN"]).await;
    peer.expect_line("QUIT").await;
    peer.send_line("221 bye").await;
    let err = task.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("did not offer STARTTLS"), "{err}");
    assert!(!err.is_permanent());
}

// ---- Over loopback ----

#[tokio::test]
async fn auth_plain_over_loopback_and_connect_addr() {
    let s = setup();
    let server =
        RunningServer::start(s.server(Mode::Submission), &["tcp:0:interface=127.0.0.1"]).await;
    let endpoint = server.client_endpoint();
    let mut client = Client::connect(
        &endpoint,
        config()
            .allow_plaintext_auth()
            .with_auth("alice@example.test", "wonderland"),
    )
    .await
    .unwrap();
    assert!(client.is_authenticated());
    let report = client
        .send(
            Some("alice@example.test"),
            &["bob@example.test"],
            b"Subject: plain\r\n\r\nx\r\n",
        )
        .await
        .unwrap();
    assert!(report.all_accepted());
    client.quit().await.unwrap();
    assert_eq!(s.inbox("bob@example.test").len(), 1);

    // Wrong password: 535, permanent.
    let err = Client::connect(
        &endpoint,
        config()
            .allow_plaintext_auth()
            .with_auth("alice@example.test", "wrong"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.reply().unwrap().code, 535);
    assert!(err.is_permanent());

    // connect_addr, as the relay uses it.
    let client = Client::connect_addr(server.addr(), "localhost", config())
        .await
        .unwrap();
    assert!(client.extensions().greeting.starts_with("mx.example.test"));
    client.quit().await.unwrap();
    server.stop().await;
}

/// Forwards one connection to `upstream`, rewriting the server's `AUTH PLAIN LOGIN` line to
/// `AUTH LOGIN`, so the client has to use LOGIN with our real server.
async fn login_only_proxy(upstream: std::net::SocketAddr) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut cr, &mut sw).await;
            let _ = sw.shutdown().await;
        });
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let text = String::from_utf8_lossy(&buf[..n]).replace("AUTH PLAIN LOGIN", "AUTH LOGIN");
            if cw.write_all(text.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
    });
    addr
}

#[tokio::test]
async fn auth_login_over_loopback() {
    let s = setup();
    let server =
        RunningServer::start(s.server(Mode::Submission), &["tcp:0:interface=127.0.0.1"]).await;
    let proxy = login_only_proxy(server.addr()).await;
    let mut client = Client::connect_addr(
        proxy,
        "localhost",
        config()
            .allow_plaintext_auth()
            .with_auth("bob@example.test", "builder"),
    )
    .await
    .unwrap();
    assert_eq!(client.extensions().auth, ["LOGIN"]);
    assert!(client.is_authenticated());
    let report = client
        .send(
            Some("bob@example.test"),
            &["alice@example.test"],
            b"Subject: login\r\n\r\nx\r\n",
        )
        .await
        .unwrap();
    assert!(report.all_accepted());
    client.quit().await.unwrap();
    assert_eq!(s.inbox("alice@example.test").len(), 1);
    server.stop().await;
}

fn tls_server(s: &Setup, tls: &TestTls, mode: Mode) -> Arc<SmtpServer> {
    let reloadable = ReloadableServerConfig::load(&tls.key_path(), &tls.cert_path()).unwrap();
    Arc::new(
        SmtpServer::new(s.config.clone(), mode, s.store.clone())
            .with_relay(s.queue.clone())
            .with_tls(reloadable),
    )
}

#[tokio::test]
async fn starttls_required_verifies_the_certificate() {
    let s = setup();
    let tls = TestTls::generate();
    let server = RunningServer::start(
        tls_server(&s, &tls, Mode::Submission),
        &["tcp:0:interface=127.0.0.1"],
    )
    .await;
    let endpoint = server.client_endpoint();
    let required = config_required(&tls).with_auth("alice@example.test", "wonderland");
    let mut client = Client::connect(&endpoint, required).await.unwrap();
    assert!(client.is_tls() && client.is_authenticated());
    // EHLO was repeated after TLS: STARTTLS is no longer offered.
    assert!(!client.extensions().starttls && client.extensions().pipelining);
    let report = client
        .send(
            Some("alice@example.test"),
            &["bob@example.test"],
            b"over TLS\r\n",
        )
        .await
        .unwrap();
    assert!(report.all_accepted());
    client.quit().await.unwrap();

    // An untrusted certificate fails when verification is required.
    let other_ca = TestTls::generate();
    let err = Client::connect(&endpoint, config_required(&other_ca))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Tls(_)), "{err}");
    assert!(!err.is_permanent());
    server.stop().await;

    // Required, but the server has no STARTTLS.
    let plain = RunningServer::start(s.server(Mode::Relay), &["tcp:0:interface=127.0.0.1"]).await;
    let err = Client::connect(&plain.client_endpoint(), config_required(&tls))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not offer STARTTLS"), "{err}");
    plain.stop().await;
}

fn config_required(tls: &TestTls) -> ClientConfig {
    config()
        .with_tls(TlsMode::Required)
        .with_trust_roots(tls.ca_path())
}

#[tokio::test]
async fn starttls_opportunistic_accepts_any_certificate_and_falls_back_when_not_offered() {
    let s = setup();
    let tls = TestTls::generate();
    let server = RunningServer::start(
        tls_server(&s, &tls, Mode::Relay),
        &["tcp:0:interface=127.0.0.1"],
    )
    .await;
    // No trust roots for the test CA: verification would fail; opportunistic does not verify.
    let mut client = Client::connect(
        &server.client_endpoint(),
        config().with_tls(TlsMode::Opportunistic),
    )
    .await
    .unwrap();
    assert!(client.is_tls());
    let report = client
        .send(Some("x@far.test"), &["alice@example.test"], b"hi\r\n")
        .await
        .unwrap();
    assert!(report.all_accepted());
    client.quit().await.unwrap();
    server.stop().await;

    let plain = RunningServer::start(s.server(Mode::Relay), &["tcp:0:interface=127.0.0.1"]).await;
    let client = Client::connect(
        &plain.client_endpoint(),
        config().with_tls(TlsMode::Opportunistic),
    )
    .await
    .unwrap();
    assert!(!client.is_tls());
    client.quit().await.unwrap();
    plain.stop().await;
}

#[tokio::test]
async fn implicit_tls_by_mode_and_by_endpoint() {
    let s = setup();
    let tls = TestTls::generate();
    let server = RunningServer::start(s.server(Mode::Submission), &[&tls.server_endpoint(0)]).await;
    let port = server.addr().port();
    let by_mode = ClientEndpoint::parse(&format!("127.0.0.1:{port}")).unwrap();
    let config_implicit = config()
        .with_tls(TlsMode::Implicit)
        .with_trust_roots(tls.ca_path());
    let client = Client::connect(
        &by_mode,
        config_implicit.with_auth("alice@example.test", "wonderland"),
    )
    .await
    .unwrap();
    assert!(client.is_tls() && client.is_authenticated());
    client.quit().await.unwrap();
    let client = Client::connect(&tls.client_endpoint(port), config())
        .await
        .unwrap();
    assert!(client.is_tls());
    client.quit().await.unwrap();
    server.stop().await;
}

// ---- The `send` CLI ----

fn cli() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_torsion-smtp"))
}

/// Run the CLI off the runtime's worker threads.
async fn run_cli(
    args: Vec<String>,
    stdin: &'static [u8],
    env: Option<(&'static str, &'static str)>,
) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut cmd = cli();
        cmd.args(&args)
            .env_remove("TORSION_SMTP_PASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn send_cli_sends_a_file_and_reports_each_recipient() {
    let s = setup();
    let tls = TestTls::generate();
    let server = RunningServer::start(
        tls_server(&s, &tls, Mode::Submission),
        &["tcp:0:interface=127.0.0.1"],
    )
    .await;
    let file = s.dir.path().join("message.eml");
    std::fs::write(&file, "Subject: from the CLI\n\n.dot\nbody\n").unwrap();
    let base = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = vec![
            "send".into(),
            "--server".into(),
            server.addr().to_string(),
            "--starttls".into(),
            "--trust-roots".into(),
            tls.ca_path().display().to_string(),
            "--auth".into(),
            "alice@example.test".into(),
            "--from".into(),
            "alice@example.test".into(),
            "--helo".into(),
            "cli.test".into(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    };
    // Password on stdin's first line, message from FILE.
    let file_arg = file.display().to_string();
    let out = run_cli(
        base(&[
            "--to",
            "bob@example.test",
            "--to",
            "nobody@example.test",
            &file_arg,
        ]),
        b"wonderland\n",
        None,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("bob@example.test: accepted\n"), "{stdout}");
    assert!(
        stdout.contains("nobody@example.test: rejected: 550 5.1.1"),
        "{stdout}"
    );
    assert!(stdout.contains("message: 250 2.0.0"), "{stdout}");
    assert!(stderr.contains("1 of 2 recipients rejected"), "{stderr}");
    let bob = String::from_utf8(s.inbox("bob@example.test")[0].clone()).unwrap();
    assert!(
        bob.ends_with("Subject: from the CLI\r\n\r\n.dot\r\nbody\r\n"),
        "{bob}"
    );

    // Password from the environment, message from stdin: all accepted, exit 0.
    let out = run_cli(
        base(&["--to", "bob@example.test"]),
        b"Subject: stdin\r\n\r\nhello\r\n",
        Some(("TORSION_SMTP_PASSWORD", "wonderland")),
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    assert_eq!(s.inbox("bob@example.test").len(), 2);

    // A refusal: the server's reply on stderr, exit 1.
    let out = run_cli(
        base(&["--to", "bob@example.test"]),
        b"x\r\n",
        Some(("TORSION_SMTP_PASSWORD", "wrong")),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("535 5.7.8"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Bad arguments: exit 2. (No password source when the message is on stdin.)
    let out = run_cli(base(&["--to", "bob@example.test"]), b"x\r\n", None).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_cli(
        vec![
            "send".into(),
            "--server".into(),
            "bad host:x".into(),
            "--from".into(),
            "".into(),
            "--to".into(),
            "a@b.test".into(),
        ],
        b"",
        None,
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop().await;
}
