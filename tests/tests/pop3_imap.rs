//! End to end: torsion-smtp delivers a message; POP3 lists it with a UIDL made of the IMAP
//! UID and UIDVALIDITY and retrieves it byte-identical; an IMAP session open meanwhile sees
//! it until the POP3 session's DELE + QUIT, then gets it expunged; a message IMAP expunges
//! is gone from the next POP3 session; IMAP flags survive a POP3 RETR (plus `\Seen`).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use torsion_core::testkit::RunningServer;
use torsion_pop3::client::{Client as PopClient, ClientConfig as PopConfig, TlsMode as PopTls};
use torsion_pop3::proto::uidl;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_delivers_pop3_deletes_imap_no_longer_sees_it() {
    let site = common::MailSite::start("e2e-pop3").await;
    let pop3 = RunningServer::start(
        Arc::new(torsion_pop3::server::Pop3Server::new(
            torsion_pop3::server::Config {
                hostname: "pop.example.test".into(),
                allow_plaintext_auth: true,
                stls: false,
                store: Arc::new(site.store.clone()),
                delete_mode: torsion_pop3::server::DeleteMode::Expunge,
                login_delay: 0,
            },
            site.directory.clone(),
            None,
        )),
        &["tcp:0:interface=127.0.0.1"],
    )
    .await;

    let mut sender = site.sender().await;
    for subject in ["first", "second"] {
        let message = format!("From: bob@remote.test\r\nSubject: {subject}\r\n\r\n.{subject}\r\n");
        let report = sender
            .send(
                Some("bob@remote.test"),
                &["alice@example.test"],
                message.as_bytes(),
            )
            .await
            .unwrap();
        assert!(report.all_accepted(), "{report:?}");
    }
    sender.quit().await.unwrap();

    // IMAP: both messages, the second flagged by the user.
    let mut reader = site.reader().await;
    let info = reader.select("INBOX").await.unwrap();
    assert_eq!(info.exists, 2);
    let fetched = reader.uid_fetch("1:*", "(UID BODY.PEEK[])").await.unwrap();
    let uids: Vec<u32> = fetched.iter().map(|m| m.uid.unwrap()).collect();
    reader
        .uid_store(&uids[1].to_string(), "+FLAGS", "(\\Flagged)")
        .await
        .unwrap();

    // POP3: the UIDLs are the IMAP UIDs; RETR gives the same bytes IMAP gave.
    let pop_config = PopConfig::new()
        .with_tls(PopTls::None)
        .allow_plaintext_auth()
        .with_timeout(Duration::from_secs(20));
    let mut pop = PopClient::connect(&pop3.client_endpoint(), pop_config.clone())
        .await
        .unwrap();
    pop.login(common::USER, common::PASSWORD).await.unwrap();
    let ids = pop.uidl().await.unwrap();
    assert_eq!(
        ids,
        vec![
            (1, uidl(uids[0], info.uid_validity)),
            (2, uidl(uids[1], info.uid_validity))
        ]
    );
    assert_eq!(
        pop.retr(1).await.unwrap(),
        *fetched[0].body.as_ref().unwrap()
    );
    assert_eq!(
        pop.retr(2).await.unwrap(),
        *fetched[1].body.as_ref().unwrap()
    );
    pop.dele(1).await.unwrap();
    // Not yet: deletions wait for QUIT.
    let still = reader.uid_search("ALL").await.unwrap();
    assert_eq!(still, uids);
    pop.quit().await.unwrap();

    // IMAP sees the first gone, the second still flagged and now \Seen.
    let left = reader.uid_fetch("1:*", "(UID FLAGS)").await.unwrap();
    let mut left: Vec<(u32, Vec<String>)> = left
        .into_iter()
        .map(|m| (m.uid.unwrap(), m.flags.unwrap_or_default()))
        .collect();
    // The server may also report the flag change POP3 made as its own FETCH response.
    left.dedup();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].0, uids[1]);
    assert!(left[0].1.iter().any(|f| f == "\\Flagged"), "{left:?}");
    assert!(left[0].1.iter().any(|f| f == "\\Seen"), "{left:?}");

    // And the other way: IMAP expunges the second; the next POP3 session has none.
    reader
        .uid_store(&uids[1].to_string(), "+FLAGS", "(\\Deleted)")
        .await
        .unwrap();
    reader.expunge().await.unwrap();
    let mut pop = PopClient::connect(&pop3.client_endpoint(), pop_config)
        .await
        .unwrap();
    pop.login(common::USER, common::PASSWORD).await.unwrap();
    assert_eq!(pop.stat().await.unwrap(), (0, 0));
    pop.quit().await.unwrap();
    reader.logout().await.unwrap();
    site.stop().await;
    pop3.stop().await;
}
