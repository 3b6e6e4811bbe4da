//! The IMAP session in memory on a paused clock: greeting, capabilities, login rules,
//! AUTHENTICATE PLAIN, literals, mailbox management, LIST, and bad input.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use torsion_core::cred::sasl::encode_plain;
use torsion_core::cred::CredentialStore;
use torsion_core::testkit::{TempDir, TestPeer};
use torsion_imap::server::{Config, ImapServer};
use torsion_mailstore::{Aliases, Directory, MailAddress, MailStore};

struct Setup {
    dir: TempDir,
    server: Arc<ImapServer>,
    store: MailStore,
}

fn setup(allow_plaintext_auth: bool) -> Setup {
    setup_with(
        allow_plaintext_auth,
        torsion_imap::server::driver::DEFAULT_MAX_CONNECTIONS_PER_USER,
    )
}

fn setup_with(allow_plaintext_auth: bool, per_user: usize) -> Setup {
    let dir = TempDir::new("imap-test").unwrap();
    let store = MailStore::open(dir.path().join("mail")).unwrap();
    let accounts: CredentialStore = "memory:alice@example.test:wonderland:bob@example.test:builder"
        .parse()
        .unwrap();
    let directory = Directory::new(["example.test".to_owned()], accounts, Aliases::default());
    let config = Config {
        hostname: "imap.example.test".into(),
        allow_plaintext_auth,
        starttls: false,
        store: std::sync::Arc::new(store.clone()),
        append_limit: 1024 * 1024,
    };
    let server = Arc::new(
        ImapServer::new(config, Arc::new(directory), None).with_max_connections_per_user(per_user),
    );
    Setup { dir, server, store }
}

async fn connect(s: &Setup) -> TestPeer {
    let mut c = TestPeer::serve(s.server.clone());
    c.expect_line("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 *")
        .await;
    c
}

async fn login(s: &Setup) -> TestPeer {
    let mut c = connect(s).await;
    c.send_line("a LOGIN alice@example.test wonderland").await;
    logged_in(&mut c, "a").await;
    c
}

/// The tagged OK of a login, with its CAPABILITY code.
async fn logged_in(c: &mut TestPeer, tag: &str) {
    let line = c.read_line().await.unwrap();
    assert!(
        line.starts_with(&format!("{tag} OK [CAPABILITY IMAP4rev1 IMAP4rev2 "))
            && line.ends_with("] Logged in"),
        "{line}"
    );
    assert!(
        !line.contains("AUTH=") && !line.contains("LOGINDISABLED"),
        "{line}"
    );
}

fn alice() -> MailAddress {
    MailAddress::parse("alice@example.test").unwrap()
}

#[tokio::test(start_paused = true)]
async fn greeting_capability_noop_logout() {
    let s = setup(true);
    let mut c = TestPeer::serve(s.server.clone());
    let greeting = c.read_line().await.unwrap();
    assert!(
        greeting.contains(" AUTH=PLAIN ") && greeting.contains(" SASL-IR "),
        "{greeting}"
    );
    assert!(
        greeting.ends_with("] imap.example.test IMAP4rev2 server ready"),
        "{greeting}"
    );
    assert!(
        !greeting.contains("STARTTLS"),
        "no certificate, no STARTTLS"
    );
    c.send_line("t1 CAPABILITY").await;
    c.expect_line("* CAPABILITY IMAP4rev1 IMAP4rev2 AUTH=PLAIN *")
        .await;
    c.expect_line("t1 OK CAPABILITY completed").await;
    c.send_line("t2 noop").await;
    c.expect_line("t2 OK NOOP completed").await;
    c.send_line("t3 ID (\"name\" \"test\")").await;
    c.expect_line("* ID (\"name\" \"torsion-imap\" \"version\" *")
        .await;
    c.expect_line("t3 OK ID completed").await;
    c.send_line("t4 STARTTLS").await;
    c.expect_line("t4 BAD STARTTLS is not available on this connection")
        .await;
    c.send_line("t5 LIST \"\" *").await;
    c.expect_line("t5 BAD LIST needs you to log in first").await;
    c.send_line("t6 LOGOUT").await;
    c.expect_line("* BYE Logging out").await;
    c.expect_line("t6 OK LOGOUT completed").await;
    c.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn no_password_before_tls_unless_allowed() {
    let s = setup(false);
    let mut c = TestPeer::serve(s.server.clone());
    let greeting = c.read_line().await.unwrap();
    assert!(greeting.contains(" LOGINDISABLED "), "{greeting}");
    assert!(!greeting.contains("AUTH=PLAIN"), "{greeting}");
    c.send_line("a LOGIN alice@example.test wonderland").await;
    c.expect_line("a NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS")
        .await;
    c.send_line(&format!(
        "b AUTHENTICATE PLAIN {}",
        encode_plain("", "alice@example.test", b"wonderland")
    ))
    .await;
    c.expect_line("b NO [PRIVACYREQUIRED] Authentication is disabled before STARTTLS")
        .await;
}

#[tokio::test(start_paused = true)]
async fn login_failures_are_delayed_counted_and_end_the_connection() {
    let s = setup(true);
    let mut c = connect(&s).await;
    let started = tokio::time::Instant::now();
    c.send_line("a LOGIN alice@example.test wrong").await;
    c.expect_line("a NO [AUTHENTICATIONFAILED] Invalid credentials")
        .await;
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "delayed"
    );
    c.send_line("b LOGIN nobody@example.test x").await;
    c.expect_line("b NO [AUTHENTICATIONFAILED] Invalid credentials")
        .await;
    c.send_line("c LOGIN alice wrong").await;
    c.expect_line("c NO [AUTHENTICATIONFAILED] Invalid credentials")
        .await;
    c.expect_line("* BYE Too many failed logins").await;
    c.expect_closed().await;
    // The bare local part works when one domain is served.
    let mut c = connect(&s).await;
    c.send_line("a LOGIN alice wonderland").await;
    logged_in(&mut c, "a").await;
    c.send_line("b LOGIN alice wonderland").await;
    c.expect_line("b BAD Already logged in").await;
}

#[tokio::test(start_paused = true)]
async fn authenticate_plain_with_and_without_initial_response_and_literals() {
    let s = setup(true);
    let mut c = connect(&s).await;
    c.send_line("a AUTHENTICATE PLAIN").await;
    c.expect_line("+ ").await;
    c.send_line(&encode_plain("", "bob@example.test", b"builder"))
        .await;
    logged_in(&mut c, "a").await;
    // SASL-IR; acting as someone else is refused; cancel with `*`.
    let mut c = connect(&s).await;
    c.send_line(&format!(
        "a AUTHENTICATE PLAIN {}",
        encode_plain("bob@example.test", "alice@example.test", b"wonderland")
    ))
    .await;
    c.expect_line("a NO [AUTHORIZATIONFAILED] Acting as another user is not allowed")
        .await;
    c.send_line("b AUTHENTICATE PLAIN").await;
    c.expect_line("+ ").await;
    c.send_line("*").await;
    c.expect_line("b BAD Authentication cancelled").await;
    c.send_line("c AUTHENTICATE CRAM-MD5").await;
    c.expect_line("c NO Unsupported authentication mechanism (PLAIN only)")
        .await;
    // LOGIN with a synchronising literal for the password, and a LITERAL+ one.
    c.send_line("d LOGIN {18}").await;
    c.expect_line("+ Ready for literal data").await;
    c.send(b"alice@example.test {10+}\r\nwonderland\r\n").await;
    logged_in(&mut c, "d").await;
}

#[tokio::test(start_paused = true)]
async fn bad_input_gets_bad_and_too_much_of_it_ends_the_session() {
    let s = setup(true);
    let mut c = connect(&s).await;
    c.send_line("a FROBNICATE").await;
    c.expect_line("a BAD Command syntax error").await;
    c.send_line("* NOOP").await;
    c.expect_line("* BAD Command syntax error").await;
    c.send(vec![b'x'; 70 * 1024]).await;
    c.send(b"\r\n").await;
    c.expect_line("* BAD Command line too long").await;
    // A literal over the limit is refused before it is sent…
    c.send_line("b LOGIN {100000}").await;
    c.expect_line("b NO [TOOBIG] Literal too large").await;
    // …and a non-synchronising one is read and dropped, with its command.
    c.send(format!("c LOGIN {{100000+}}\r\n{} x\r\n", "y".repeat(100_000)).as_bytes())
        .await;
    c.expect_line("c NO [TOOBIG] Literal too large").await;
    c.send_line("d NOOP").await;
    c.expect_line("d OK NOOP completed").await;
    // Two bad commands above and eighteen here: the twentieth is answered, then BYE.
    for i in 0..18 {
        c.send_line(&format!("z{i} ???")).await;
        c.expect_line(&format!("z{i} BAD Command syntax error"))
            .await;
    }
    c.expect_line("* BYE Too many invalid commands").await;
    c.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn a_new_account_gets_its_folders_and_list_shows_them() {
    let s = setup(true);
    let mut c = login(&s).await;
    c.send_line("l1 LIST \"\" *").await;
    c.expect_line("* LIST (\\HasNoChildren) \".\" \"INBOX\"")
        .await;
    c.expect_line("* LIST (\\HasNoChildren \\Archive) \".\" \"Archive\"")
        .await;
    c.expect_line("* LIST (\\HasNoChildren \\Drafts) \".\" \"Drafts\"")
        .await;
    c.expect_line("* LIST (\\HasNoChildren \\Junk) \".\" \"Junk\"")
        .await;
    c.expect_line("* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"")
        .await;
    c.expect_line("* LIST (\\HasNoChildren \\Trash) \".\" \"Trash\"")
        .await;
    c.expect_line("l1 OK LIST completed").await;
    c.send_line("l2 LIST \"\" \"\"").await;
    c.expect_line("* LIST (\\Noselect) \".\" \"\"").await;
    c.expect_line("l2 OK LIST completed").await;
    c.send_line("l3 NAMESPACE").await;
    c.expect_line("* NAMESPACE ((\"\" \".\")) NIL NIL").await;
    c.expect_line("l3 OK NAMESPACE completed").await;
    assert_eq!(s.store.folders(&alice()).unwrap().len(), 5);
}

#[tokio::test(start_paused = true)]
async fn create_rename_delete_subscribe_with_names_in_both_encodings() {
    let s = setup(true);
    let mut c = login(&s).await;
    c.send_line("c1 CREATE Projects.").await;
    c.expect_line("c1 OK CREATE completed").await;
    c.send_line("c2 CREATE Projects.Torsion").await;
    c.expect_line("c2 OK CREATE completed").await;
    c.send_line("c3 CREATE Projects").await;
    c.expect_line("c3 NO [ALREADYEXISTS] Mailbox already exists")
        .await;
    c.send_line("c4 CREATE \"../../etc\"").await;
    c.expect_line("c4 NO [CANNOT] Invalid mailbox name").await;
    // Modified UTF-7 from an IMAP4rev1 client…
    c.send_line("c5 CREATE Entw&APw-rfe").await;
    c.expect_line("c5 OK CREATE completed").await;
    assert!(s
        .store
        .folders(&alice())
        .unwrap()
        .contains(&"Entwürfe".to_owned()));
    c.send_line("l1 LIST \"\" Pro*").await;
    c.expect_line("* LIST (\\HasChildren) \".\" \"Projects\"")
        .await;
    c.expect_line("* LIST (\\HasNoChildren) \".\" \"Projects.Torsion\"")
        .await;
    c.expect_line("l1 OK LIST completed").await;
    c.send_line("l2 LIST \"\" %").await;
    let mut top = Vec::new();
    loop {
        let line = c.read_line().await.unwrap();
        if line.starts_with("l2 ") {
            assert_eq!(line, "l2 OK LIST completed");
            break;
        }
        top.push(line);
    }
    assert!(
        top.iter().any(|l| l.ends_with("\"Entw&APw-rfe\"")),
        "{top:?}"
    );
    assert!(
        !top.iter().any(|l| l.contains("Projects.Torsion")),
        "{top:?}"
    );
    // …and UTF-8 once enabled.
    c.send_line("e1 ENABLE UTF8=ACCEPT").await;
    c.expect_line("* ENABLED UTF8=ACCEPT").await;
    c.expect_line("e1 OK ENABLE completed").await;
    c.send_line("l3 LIST \"\" Entw*").await;
    c.expect_line("* LIST (\\HasNoChildren) \".\" \"Entwürfe\"")
        .await;
    c.expect_line("l3 OK LIST completed").await;
    c.send_line("r1 RENAME Projects Work").await;
    c.expect_line("r1 OK RENAME completed").await;
    assert!(s
        .store
        .folders(&alice())
        .unwrap()
        .contains(&"Work.Torsion".to_owned()));
    c.send_line("r2 RENAME Nope Other").await;
    c.expect_line("r2 NO [NONEXISTENT] No such mailbox").await;
    // RFC 9051 §6.3.6: renaming INBOX moves its messages to the new name, INBOX stays.
    c.send_line("r3 RENAME INBOX Old").await;
    c.expect_line("r3 OK RENAME completed").await;
    assert!(s
        .store
        .folders(&alice())
        .unwrap()
        .contains(&"Old".to_owned()));
    c.send_line("r4 RENAME Old INBOX").await;
    c.expect_line("r4 NO [CANNOT] INBOX cannot be changed that way")
        .await;
    // Subscriptions and LSUB.
    c.send_line("s1 SUBSCRIBE Work.Torsion").await;
    c.expect_line("s1 OK SUBSCRIBE completed").await;
    c.send_line("s2 SUBSCRIBE Missing").await;
    c.expect_line("s2 NO [NONEXISTENT] No such mailbox").await;
    c.send_line("s3 LSUB \"\" Work*").await;
    c.expect_line("* LSUB (\\HasNoChildren) \".\" \"Work.Torsion\"")
        .await;
    c.expect_line("s3 OK LSUB completed").await;
    c.send_line("s4 UNSUBSCRIBE Work.Torsion").await;
    c.expect_line("s4 OK UNSUBSCRIBE completed").await;
    c.send_line("s5 LSUB \"\" Work*").await;
    c.expect_line("s5 OK LSUB completed").await;
    c.send_line("d1 DELETE Work.Torsion").await;
    c.expect_line("d1 OK DELETE completed").await;
    c.send_line("d2 DELETE Work.Torsion").await;
    c.expect_line("d2 NO [NONEXISTENT] No such mailbox").await;
    c.send_line("d3 DELETE INBOX").await;
    c.expect_line("d3 NO [CANNOT] INBOX cannot be changed that way")
        .await;
    // Not built yet: said plainly, not advertised.
    c.send_line("x1 SEARCH ALL").await;
    c.expect_line("x1 BAD SEARCH needs a selected mailbox")
        .await;
    c.send_line("x3 GETQUOTAROOT INBOX").await;
    c.expect_line("x3 NO [CANNOT] GETQUOTAROOT is not available in this server yet")
        .await;
    c.send_line("x2 FETCH 1 FLAGS").await;
    c.expect_line("x2 BAD FETCH needs a selected mailbox").await;
    let _ = &s.dir;
}

#[tokio::test(start_paused = true)]
async fn an_account_holds_a_bounded_number_of_connections() {
    let s = setup_with(true, 2);
    let first = login(&s).await;
    let mut second = login(&s).await;
    let mut third = connect(&s).await;
    third
        .send_line("a LOGIN alice@example.test wonderland")
        .await;
    third
        .expect_line("a NO [LIMIT] Too many connections for this account (at most 2)")
        .await;
    // Still not logged in; another account is not affected.
    third.send_line("b SELECT INBOX").await;
    third
        .expect_line("b BAD SELECT needs you to log in first")
        .await;
    third.send_line("c LOGIN bob@example.test builder").await;
    logged_in(&mut third, "c").await;
    // A connection that ends gives its slot back, however it ends.
    drop(first);
    second.send_line("l LOGOUT").await;
    second.expect_line("* BYE Logging out").await;
    second.expect_line("l OK LOGOUT completed").await;
    second.expect_closed().await;
    // (The slots are released as the server's connection tasks finish: let them run.)
    let mut again = connect(&s).await;
    for attempt in 0..100 {
        again
            .send_line(&format!("a{attempt} LOGIN alice@example.test wonderland"))
            .await;
        let line = again.read_line().await.unwrap();
        if line.starts_with(&format!("a{attempt} OK ")) {
            return;
        }
        assert!(line.contains("[LIMIT]"), "{line}");
        tokio::task::yield_now().await;
    }
    panic!("the slots were never released");
}
