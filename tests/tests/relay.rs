//! End to end: torsion-dns serves an MX for `remote.test` → a torsion-smtp relays an
//! authenticated submission through its queue → a second torsion-smtp stores it in its
//! Maildir. And the failure path: the remote server refuses a recipient, the relay bounces
//! (RFC 3464) into the local sender's mailbox.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use torsion_core::cred::CredentialStore;
use torsion_core::testkit::{RunningServer, TempDir};
use torsion_dns::server::{serve_udp, QueryHandler, ZoneSet, ZoneSpec};
use torsion_dns::{Resolver, ResolverConfig};
use torsion_mailstore::{Aliases, Directory, MailStore};
use torsion_smtp::server::relay_worker::{
    LocalDelivery, NextHop, RelayOptions, RelayWorker, MAX_QUEUE_AGE,
};
use torsion_smtp::server::{Mode, RelayQueue, SessionConfig, SmtpServer};
use torsion_smtp::{Client, ClientConfig, TlsMode};

const ZONE: &str = "$ORIGIN remote.test.
$TTL 60
@    IN SOA ns hostmaster 1 3600 600 86400 60
@    IN NS  ns
ns   IN A   127.0.0.1
@    IN MX  10 mx
mx   IN A   127.0.0.1
";

/// An authoritative torsion-dns for remote.test on a UDP port of 127.0.0.1.
async fn dns(dir: &Path, shutdown: CancellationToken) -> std::net::SocketAddr {
    let zone = dir.join("remote.test.zone");
    std::fs::write(&zone, ZONE).unwrap();
    let spec: ZoneSpec = zone.to_str().unwrap().parse().unwrap();
    let catalog = ZoneSet::new(vec![spec]).load().unwrap();
    let handler = Arc::new(QueryHandler::new(catalog));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(serve_udp(vec![socket], handler, shutdown, 16));
    addr
}

fn session_config(hostname: &str, domain: &str, users: &str) -> Arc<SessionConfig> {
    let accounts: CredentialStore = users.parse().unwrap();
    Arc::new(SessionConfig {
        hostname: hostname.into(),
        directory: Arc::new(Directory::new(
            [domain.to_owned()],
            accounts,
            Aliases::new(),
        )),
        max_message_size: 1 << 20,
        max_recipients: 50,
        max_errors: 10,
        allow_plaintext_auth: true,
        relay_enabled: true,
    })
}

fn maildir_messages(root: &Path, domain: &str, user: &str) -> Vec<String> {
    let new = root.join(domain).join(user).join("new");
    std::fs::read_dir(new)
        .map(|d| {
            d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_is_relayed_by_mx_to_a_second_server_and_failures_bounce() {
    let dir = TempDir::new("e2e-relay").unwrap();
    let shutdown = CancellationToken::new();
    let dns_addr = dns(dir.path(), shutdown.clone()).await;

    // The remote server: mail for remote.test, user bob.
    let remote_root = dir.path().join("remote-mail");
    let remote_store = MailStore::open(&remote_root).unwrap();
    let remote = RunningServer::start(
        Arc::new(SmtpServer::new(
            session_config("mx.remote.test", "remote.test", "memory:bob@remote.test:pw"),
            Mode::Relay,
            remote_store,
        )),
        &["tcp:0:interface=127.0.0.1"],
    )
    .await;
    let remote_port = remote.addr().port();

    // The local server: submission for alice@local.test, a queue, a relay worker that asks
    // our DNS for MX records and connects to the remote's port.
    let local_root = dir.path().join("local-mail");
    let local_store = MailStore::open(&local_root).unwrap();
    let config = session_config(
        "mx.local.test",
        "local.test",
        "memory:alice@local.test:wonderland",
    );
    let queue = Arc::new(RelayQueue::open(dir.path().join("queue")).unwrap());
    let local = RunningServer::start(
        Arc::new(
            SmtpServer::new(config.clone(), Mode::Submission, local_store.clone())
                .with_relay(queue.clone()),
        ),
        &["tcp:0:interface=127.0.0.1"],
    )
    .await;
    let options = RelayOptions {
        hostname: "mx.local.test".into(),
        next_hop: NextHop::Mx {
            resolver: Resolver::new(ResolverConfig::with_servers(vec![dns_addr])),
            port: remote_port,
        },
        local: None,
        max_age: MAX_QUEUE_AGE,
    };
    let worker =
        RelayWorker::new(queue.clone(), options, shutdown.clone()).with_local(LocalDelivery {
            store: local_store,
            directory: config.directory.clone(),
        });
    let worker = tokio::spawn(worker.run());

    // Alice submits (AUTH PLAIN over plaintext loopback, allowed by the test configuration).
    let mut client_config = ClientConfig::new("laptop.local.test");
    client_config.tls = TlsMode::None;
    client_config.auth = Some(("alice@local.test".into(), "wonderland".into()));
    client_config.allow_plaintext_auth = true;
    let mut client = Client::connect_addr(local.addr(), "127.0.0.1", client_config)
        .await
        .unwrap();
    let report = client
        .send(
            Some("alice@local.test"),
            &["bob@remote.test", "nobody@remote.test"],
            b"From: alice@local.test\r\nTo: bob@remote.test\r\nSubject: across\r\n\r\nHello Bob.\r\n",
        )
        .await
        .unwrap();
    assert_eq!(report.accepted.len(), 2, "{report:?}");
    client.quit().await.unwrap();

    // Bob's mailbox on the remote server gets it, with both servers' trace headers.
    wait_for("the relayed message", || {
        !maildir_messages(&remote_root, "remote.test", "bob").is_empty()
    })
    .await;
    let bob = maildir_messages(&remote_root, "remote.test", "bob");
    assert_eq!(bob.len(), 1);
    let text = &bob[0];
    assert!(
        text.contains("by mx.remote.test (Torsion) with ESMTP"),
        "{text}"
    );
    assert!(
        text.contains("by mx.local.test (Torsion) with ESMTPA"),
        "{text}"
    );
    assert!(
        text.ends_with("Subject: across\r\n\r\nHello Bob.\r\n"),
        "{text}"
    );

    // nobody@remote.test was refused by the remote (550 5.1.1): Alice gets a bounce.
    wait_for("the bounce", || {
        !maildir_messages(&local_root, "local.test", "alice").is_empty()
    })
    .await;
    let bounce = &maildir_messages(&local_root, "local.test", "alice")[0];
    assert!(bounce.contains("report-type=delivery-status"), "{bounce}");
    assert!(
        bounce.contains("Final-Recipient: rfc822; nobody@remote.test"),
        "{bounce}"
    );
    assert!(bounce.contains("Status: 5.1.1"), "{bounce}");
    assert!(bounce.contains("Subject: across"), "{bounce}");
    // Both recipients are settled: the queue is empty.
    wait_for("an empty queue", || queue.list().unwrap().is_empty()).await;

    shutdown.cancel();
    worker.await.unwrap();
    local.stop().await;
    remote.stop().await;
}

#[tokio::test]
async fn an_unreachable_next_hop_defers_with_backoff_and_keeps_the_mail() {
    let dir = TempDir::new("e2e-defer").unwrap();
    let queue = Arc::new(RelayQueue::open(dir.path().join("queue")).unwrap());
    let from = torsion_smtp::proto::command::parse_mailbox("alice@local.test").unwrap();
    let to = torsion_smtp::proto::command::parse_mailbox("bob@remote.test").unwrap();
    let id = queue
        .enqueue(Some(&from), &[to], &[b"Subject: later\r\n\r\nx\r\n"])
        .unwrap();
    // Port 1 on loopback: connection refused.
    let options = RelayOptions {
        hostname: "mx.local.test".into(),
        next_hop: NextHop::Smarthost {
            host: "127.0.0.1".into(),
            port: 1,
        },
        local: None,
        max_age: MAX_QUEUE_AGE,
    };
    let worker = RelayWorker::new(queue.clone(), options, CancellationToken::new());
    let before = torsion_core::date::unix_now();
    let next = worker.run_due().await.unwrap();
    let entry = queue.load(&id).unwrap().unwrap();
    assert_eq!(entry.attempts, 1);
    assert!(
        entry.last_error.as_deref().unwrap().contains("127.0.0.1"),
        "{entry:?}"
    );
    // First retry five minutes later; nothing is due before then.
    assert!(
        (before + 299..=before + 302).contains(&next),
        "{next} vs {before}"
    );
    assert_eq!(entry.next_attempt, next);
    assert_eq!(worker.run_due().await, Some(next));
    assert_eq!(queue.load(&id).unwrap().unwrap().attempts, 1);
}
