//! The POP3 session in memory on a paused clock: every command and its errors, login rules,
//! the maildrop lock, deletion only at QUIT, consistency with the store IMAP reads.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use torsion_core::cred::sasl::encode_plain;
use torsion_core::cred::CredentialStore;
use torsion_core::testkit::{TempDir, TestPeer};
use torsion_mailstore::{Aliases, Directory, Flags, MailAddress, MailStore};
use torsion_pop3::proto::uidl;
use torsion_pop3::server::{Config, DeleteMode, Pop3Server};

struct Setup {
    _dir: TempDir,
    server: Arc<Pop3Server>,
    store: MailStore,
}

fn setup_with(allow_plaintext_auth: bool, delete_mode: DeleteMode, login_delay: u32) -> Setup {
    let dir = TempDir::new("pop3-test").unwrap();
    let store = MailStore::open(dir.path().join("mail")).unwrap();
    let accounts: CredentialStore = "memory:alice@example.test:wonderland:bob@example.test:builder"
        .parse()
        .unwrap();
    let directory = Directory::new(["example.test".to_owned()], accounts, Aliases::default());
    let config = Config {
        hostname: "pop.example.test".into(),
        allow_plaintext_auth,
        stls: false,
        store: Arc::new(store.clone()),
        delete_mode,
        login_delay,
    };
    let server = Arc::new(Pop3Server::new(config, Arc::new(directory), None));
    Setup {
        _dir: dir,
        server,
        store,
    }
}

fn setup() -> Setup {
    setup_with(true, DeleteMode::Expunge, 0)
}

fn alice() -> MailAddress {
    MailAddress::parse("alice@example.test").unwrap()
}

const ONE: &[u8] = b"From: a@example.test\r\nSubject: one\r\n\r\nfirst body\r\n.leading dot\r\n";
const TWO: &[u8] = b"Subject: two\r\n\r\nline 1\r\nline 2\r\nline 3\r\n";

fn deliver(s: &Setup, messages: &[&[u8]]) {
    for m in messages {
        s.store.deliver(&[alice()], &[m]).unwrap();
    }
}

async fn connect(s: &Setup) -> TestPeer {
    let mut c = TestPeer::serve(s.server.clone());
    c.expect_line("+OK pop.example.test POP3 server ready")
        .await;
    c
}

async fn login(s: &Setup) -> TestPeer {
    let mut c = connect(s).await;
    c.send_line("USER alice@example.test").await;
    c.expect_line("+OK Send your password").await;
    c.send_line("PASS wonderland").await;
    c.expect_line("+OK Logged in, *").await;
    c
}

/// Log in, retrying while an ending session still holds the maildrop (bounded).
async fn login_once_free(s: &Setup) -> TestPeer {
    for _ in 0..100 {
        let mut c = connect(s).await;
        c.send_line("USER alice@example.test").await;
        c.expect_line("+OK Send your password").await;
        c.send_line("PASS wonderland").await;
        let reply = c.read_line().await.unwrap();
        if reply.starts_with("+OK Logged in, ") {
            return c;
        }
        assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the maildrop stayed locked");
}

/// Lines of a multi-line response up to (not including) the `.`.
async fn multiline(c: &mut TestPeer) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = c.read_line().await.unwrap();
        if line == "." {
            return lines;
        }
        lines.push(line);
    }
}

fn inbox_uids(s: &Setup) -> Vec<u32> {
    let inbox = s.store.inbox(&alice()).unwrap();
    inbox
        .sync()
        .unwrap()
        .messages
        .iter()
        .map(|m| m.uid)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn capabilities_before_and_after_login() {
    let s = setup();
    let mut c = connect(&s).await;
    c.send_line("CAPA").await;
    c.expect_line("+OK Capability list follows").await;
    let caps = multiline(&mut c).await;
    for cap in [
        "TOP",
        "UIDL",
        "USER",
        "SASL PLAIN",
        "UTF8",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "EXPIRE NEVER",
    ] {
        assert!(caps.iter().any(|c| c == cap), "{cap} in {caps:?}");
    }
    assert!(caps
        .iter()
        .any(|c| c.starts_with("IMPLEMENTATION torsion-pop3 ")));
    assert!(!caps.iter().any(|c| c == "STLS"), "no certificate, no STLS");
    assert!(!caps.iter().any(|c| c.starts_with("LOGIN-DELAY")));
    c.send_line("USER alice@example.test").await;
    c.expect_line("+OK Send your password").await;
    c.send_line("PASS wonderland").await;
    c.expect_line("+OK Logged in, 0 messages (0 octets)").await;
    c.send_line("capa").await;
    c.expect_line("+OK Capability list follows").await;
    let caps = multiline(&mut c).await;
    assert!(
        !caps.iter().any(|c| c == "USER" || c.starts_with("SASL")),
        "{caps:?}"
    );
    c.send_line("QUIT").await;
    c.expect_line("+OK Bye").await;
    c.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn no_password_before_tls_unless_allowed() {
    let s = setup_with(false, DeleteMode::Expunge, 0);
    let mut c = connect(&s).await;
    c.send_line("CAPA").await;
    c.expect_line("+OK Capability list follows").await;
    let caps = multiline(&mut c).await;
    assert!(
        !caps.iter().any(|c| c == "USER" || c.starts_with("SASL")),
        "{caps:?}"
    );
    let refused =
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections (use STLS)";
    c.send_line("USER alice@example.test").await;
    c.expect_line(refused).await;
    c.send_line("PASS wonderland").await;
    c.expect_line(refused).await;
    c.send_line(&format!(
        "AUTH PLAIN {}",
        encode_plain("", "alice@example.test", b"wonderland")
    ))
    .await;
    c.expect_line(refused).await;
    c.send_line("STLS").await;
    c.expect_line("-ERR STLS not available").await;
    c.send_line("QUIT").await;
    c.expect_line("+OK Bye").await;
    c.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn stat_list_uidl_retr_top_dele_rset() {
    let s = setup();
    deliver(&s, &[ONE, TWO]);
    let mut c = connect(&s).await;
    let total = ONE.len() + TWO.len();
    c.send_line("USER alice@example.test").await;
    c.expect_line("+OK Send your password").await;
    c.send_line("PASS wonderland").await;
    c.expect_line(&format!("+OK Logged in, 2 messages ({total} octets)"))
        .await;
    c.send_line("STAT").await;
    c.expect_line(&format!("+OK 2 {total}")).await;
    c.send_line("LIST").await;
    c.expect_line(&format!("+OK 2 messages ({total} octets)"))
        .await;
    assert_eq!(
        multiline(&mut c).await,
        [format!("1 {}", ONE.len()), format!("2 {}", TWO.len())]
    );
    c.send_line("LIST 2").await;
    c.expect_line(&format!("+OK 2 {}", TWO.len())).await;
    c.send_line("LIST 3").await;
    c.expect_line("-ERR No such message 3").await;
    // UIDLs are the IMAP UIDs with UIDVALIDITY.
    let snap = s.store.inbox(&alice()).unwrap().sync().unwrap();
    let ids: Vec<String> = snap
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{} {}", i + 1, uidl(m.uid, snap.uid_validity)))
        .collect();
    c.send_line("UIDL").await;
    c.expect_line("+OK Unique-ID listing follows").await;
    assert_eq!(multiline(&mut c).await, ids);
    c.send_line("UIDL 1").await;
    c.expect_line(&format!("+OK {}", ids[0])).await;
    // RETR: the whole message, dot-stuffed.
    c.send_line("RETR 1").await;
    c.expect_line(&format!("+OK {} octets", ONE.len())).await;
    assert_eq!(
        multiline(&mut c).await,
        [
            "From: a@example.test",
            "Subject: one",
            "",
            "first body",
            "..leading dot"
        ]
    );
    c.send_line("TOP 2 1").await;
    c.expect_line("+OK Top of message follows").await;
    assert_eq!(multiline(&mut c).await, ["Subject: two", "", "line 1"]);
    c.send_line("TOP 2 0").await;
    c.expect_line("+OK Top of message follows").await;
    assert_eq!(multiline(&mut c).await, ["Subject: two", ""]);
    c.send_line("DELE 1").await;
    c.expect_line("+OK Message 1 deleted").await;
    c.send_line("DELE 1").await;
    c.expect_line("-ERR Message 1 already deleted").await;
    c.send_line("RETR 1").await;
    c.expect_line("-ERR Message 1 already deleted").await;
    c.send_line("LIST 1").await;
    c.expect_line("-ERR Message 1 already deleted").await;
    c.send_line("STAT").await;
    c.expect_line(&format!("+OK 1 {}", TWO.len())).await;
    c.send_line("LIST").await;
    c.expect_line(&format!("+OK 1 messages ({} octets)", TWO.len()))
        .await;
    assert_eq!(multiline(&mut c).await, [format!("2 {}", TWO.len())]);
    c.send_line("RSET").await;
    c.expect_line(&format!("+OK 2 messages ({total} octets)"))
        .await;
    c.send_line("NOOP").await;
    c.expect_line("+OK ").await;
    c.send_line("DELE 2").await;
    c.expect_line("+OK Message 2 deleted").await;
    // Nothing is deleted before QUIT.
    assert_eq!(inbox_uids(&s).len(), 2);
    c.send_line("QUIT").await;
    c.expect_line("+OK Bye").await;
    c.expect_closed().await;
    // The deleted one is gone for IMAP too; the retrieved one is \Seen.
    let snap = s.store.inbox(&alice()).unwrap().sync().unwrap();
    assert_eq!(snap.messages.len(), 1);
    assert!(snap.messages[0].flags.contains(Flags::SEEN));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_deletes_nothing_and_releases_the_lock() {
    let s = setup();
    deliver(&s, &[ONE, TWO]);
    let mut c = login(&s).await;
    c.send_line("DELE 1").await;
    c.expect_line("+OK Message 1 deleted").await;
    c.send_line("RETR 2").await;
    c.expect_line("+OK *").await;
    multiline(&mut c).await;
    // A second session meanwhile finds the maildrop locked.
    let mut other = connect(&s).await;
    other.send_line("USER alice@example.test").await;
    other.expect_line("+OK Send your password").await;
    other.send_line("PASS wonderland").await;
    other
        .expect_line("-ERR [IN-USE] Mailbox is locked by another POP3 session")
        .await;
    // Another account is not affected.
    other.send_line("USER bob@example.test").await;
    other.expect_line("+OK Send your password").await;
    other.send_line("PASS builder").await;
    other
        .expect_line("+OK Logged in, 0 messages (0 octets)")
        .await;
    drop(other);
    c.shutdown_write().await;
    c.join().await;
    let snap = s.store.inbox(&alice()).unwrap().sync().unwrap();
    assert_eq!(snap.messages.len(), 2, "nothing deleted without QUIT");
    assert!(
        !snap.messages[1].flags.contains(Flags::SEEN),
        "nor flagged without QUIT"
    );
    // The lock went with the session.
    let mut again = login(&s).await;
    again.send_line("STAT").await;
    again.expect_line("+OK 2 *").await;
}

#[tokio::test(start_paused = true)]
async fn flag_mode_keeps_deleted_mail_for_imap_and_hides_it_from_pop3() {
    let s = setup_with(true, DeleteMode::Flag, 0);
    deliver(&s, &[ONE, TWO]);
    let mut c = login(&s).await;
    c.send_line("DELE 1").await;
    c.expect_line("+OK Message 1 deleted").await;
    c.send_line("QUIT").await;
    c.expect_line("+OK Bye").await;
    c.expect_closed().await;
    let snap = s.store.inbox(&alice()).unwrap().sync().unwrap();
    assert_eq!(snap.messages.len(), 2);
    assert!(snap.messages[0].flags.contains(Flags::DELETED));
    let mut c = connect(&s).await;
    c.send_line("USER alice@example.test").await;
    c.expect_line("+OK *").await;
    c.send_line("PASS wonderland").await;
    c.expect_line(&format!("+OK Logged in, 1 messages ({} octets)", TWO.len()))
        .await;
    c.send_line("UIDL").await;
    c.expect_line("+OK *").await;
    let ids = multiline(&mut c).await;
    assert_eq!(
        ids,
        [format!(
            "1 {}",
            uidl(snap.messages[1].uid, snap.uid_validity)
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn uidls_are_stable_across_sessions_and_new_mail_appears_at_the_next_login() {
    let s = setup();
    deliver(&s, &[ONE]);
    let mut c = login(&s).await;
    c.send_line("UIDL 1").await;
    let first = c.read_line().await.unwrap();
    // Mail delivered during a session waits for the next one (RFC 1939: the maildrop is
    // fixed at login).
    deliver(&s, &[TWO]);
    c.send_line("STAT").await;
    c.expect_line(&format!("+OK 1 {}", ONE.len())).await;
    c.send_line("QUIT").await;
    c.expect_line("+OK Bye").await;
    let mut c = login(&s).await;
    c.send_line("UIDL 1").await;
    c.expect_line(&first).await;
    c.send_line("STAT").await;
    c.expect_line(&format!("+OK 2 {}", ONE.len() + TWO.len()))
        .await;
}

#[tokio::test(start_paused = true)]
async fn auth_plain_inline_continued_aborted_and_refused() {
    let s = setup();
    let mut c = connect(&s).await;
    c.send_line("AUTH").await;
    c.expect_line("+OK ").await;
    assert_eq!(multiline(&mut c).await, ["PLAIN"]);
    c.send_line("AUTH CRAM-MD5").await;
    c.expect_line("-ERR [AUTH] Unsupported authentication mechanism")
        .await;
    c.send_line("AUTH PLAIN").await;
    c.expect_line("+ ").await;
    c.send_line("*").await;
    c.expect_line("-ERR Authentication cancelled").await;
    c.send_line("AUTH PLAIN =").await;
    c.expect_line("-ERR [AUTH] Invalid PLAIN response").await;
    c.send_line(&format!(
        "AUTH PLAIN {}",
        encode_plain("bob@example.test", "alice@example.test", b"wonderland")
    ))
    .await;
    c.expect_line("-ERR [AUTH] Acting as another user is not allowed")
        .await;
    c.send_line("AUTH PLAIN").await;
    c.expect_line("+ ").await;
    c.send_line(&encode_plain("", "alice@example.test", b"wonderland"))
        .await;
    c.expect_line("+OK Logged in, 0 messages (0 octets)").await;
    c.send_line("AUTH PLAIN").await;
    c.expect_line("-ERR Already logged in").await;
    let mut c = connect(&s).await;
    c.send_line(&format!(
        "auth plain {}",
        encode_plain("", "bob", b"builder")
    ))
    .await;
    c.expect_line("+OK Logged in, *").await;
}

#[tokio::test(start_paused = true)]
async fn failed_logins_are_delayed_counted_and_end_the_connection() {
    let s = setup();
    let mut c = connect(&s).await;
    c.send_line("PASS x").await;
    c.expect_line("-ERR USER first").await;
    for _ in 0..2 {
        let started = tokio::time::Instant::now();
        c.send_line("USER alice@example.test").await;
        c.expect_line("+OK Send your password").await;
        c.send_line("PASS wrong").await;
        c.expect_line("-ERR [AUTH] Authentication failed").await;
        assert!(started.elapsed() >= torsion_pop3::server::driver::FAILED_LOGIN_DELAY);
    }
    c.send_line("USER nobody@example.test").await;
    c.expect_line("+OK Send your password").await;
    c.send_line("PASS wrong").await;
    c.expect_line("-ERR [AUTH] Authentication failed").await;
    c.expect_line("-ERR [AUTH] Too many failed logins").await;
    c.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn bad_out_of_state_and_oversized_commands() {
    let s = setup();
    deliver(&s, &[ONE]);
    let mut c = connect(&s).await;
    for (line, reply) in [
        ("STAT", "-ERR Log in first"),
        ("RETR 1", "-ERR Log in first"),
        ("XYZZY", "-ERR Unknown command XYZZY"),
        ("", "-ERR Empty command"),
        ("APOP alice 0123", "-ERR APOP not supported *"),
        ("RETR x", "-ERR Syntax: RETR msg"),
    ] {
        c.send_line(line).await;
        c.expect_line(reply).await;
    }
    c.send_line(&"A".repeat(5000)).await;
    c.expect_line("-ERR Command line too long").await;
    c.send_line("UTF8").await;
    c.expect_line("+OK UTF8 enabled").await;
    c.send_line("USER alice@example.test").await;
    c.expect_line("+OK *").await;
    c.send_line("PASS wonderland").await;
    c.expect_line("+OK Logged in, *").await;
    for (line, reply) in [
        ("RETR 0", "-ERR Syntax: RETR msg"),
        ("RETR 2", "-ERR No such message 2"),
        ("TOP 1", "-ERR Syntax: TOP msg lines"),
        ("USER bob", "-ERR Already logged in"),
        ("STLS", "-ERR Not allowed after login"),
        ("UTF8", "-ERR Not allowed after login"),
        ("DELE 99999999999", "-ERR Syntax: DELE msg"),
    ] {
        c.send_line(line).await;
        c.expect_line(reply).await;
    }
    // Bad commands are bounded.
    for _ in 0..torsion_pop3::server::driver::MAX_BAD_COMMANDS {
        c.send_line("BOGUS").await;
    }
    let rest = c.read_to_close().await;
    assert!(rest.ends_with("-ERR Too many bad commands\n"), "{rest}");
    assert_eq!(inbox_uids(&s).len(), 1, "nothing deleted");
}

#[tokio::test(start_paused = true)]
async fn pipelined_commands_are_answered_in_order() {
    let s = setup();
    deliver(&s, &[ONE, TWO]);
    let mut c = connect(&s).await;
    c.send(
        b"USER alice@example.test\r\nPASS wonderland\r\nSTAT\r\nRETR 2\r\nDELE 1\r\nDELE 2\r\nQUIT\r\n",
    )
    .await;
    c.expect_line("+OK Send your password").await;
    c.expect_line("+OK Logged in, 2 messages *").await;
    c.expect_line("+OK 2 *").await;
    c.expect_line(&format!("+OK {} octets", TWO.len())).await;
    assert_eq!(multiline(&mut c).await.len(), 5);
    c.expect_line("+OK Message 1 deleted").await;
    c.expect_line("+OK Message 2 deleted").await;
    c.expect_line("+OK Bye").await;
    c.expect_closed().await;
    assert!(inbox_uids(&s).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_message_expunged_by_imap_during_the_session() {
    let s = setup();
    deliver(&s, &[ONE, TWO]);
    let mut c = login(&s).await;
    let inbox = s.store.inbox(&alice()).unwrap();
    let uid = inbox.sync().unwrap().messages[0].uid;
    inbox.expunge(&[uid]).unwrap();
    c.send_line("RETR 1").await;
    c.expect_line("-ERR Message 1 was removed by another session")
        .await;
    c.send_line("DELE 1").await;
    c.expect_line("+OK Message 1 deleted").await;
    c.send_line("RETR 2").await;
    c.expect_line("+OK *").await;
    multiline(&mut c).await;
    c.send_line("QUIT").await;
    c.expect_line("+OK Bye").await;
    let snap = inbox.sync().unwrap();
    assert_eq!(snap.messages.len(), 1);
    assert!(snap.messages[0].flags.contains(Flags::SEEN));
}

#[tokio::test(start_paused = true)]
async fn login_delay_is_advertised_and_enforced() {
    let s = setup_with(true, DeleteMode::Expunge, 300);
    let mut c = connect(&s).await;
    c.send_line("CAPA").await;
    c.expect_line("+OK *").await;
    assert!(multiline(&mut c)
        .await
        .iter()
        .any(|l| l == "LOGIN-DELAY 300"));
    c.send_line("USER alice@example.test").await;
    c.expect_line("+OK *").await;
    c.send_line("PASS wonderland").await;
    c.expect_line("+OK Logged in, *").await;
    c.send_line("QUIT").await;
    c.expect_line("+OK Bye").await;
    let mut c = connect(&s).await;
    c.send_line("USER alice@example.test").await;
    c.expect_line("+OK *").await;
    c.send_line("PASS wonderland").await;
    c.expect_line("-ERR [LOGIN-DELAY] Wait 300 seconds between logins")
        .await;
    tokio::time::advance(std::time::Duration::from_secs(301)).await;
    c.send_line("USER alice@example.test").await;
    c.expect_line("+OK *").await;
    c.send_line("PASS wonderland").await;
    c.expect_line("+OK Logged in, *").await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_session_is_logged_out_without_deleting() {
    let s = setup();
    deliver(&s, &[ONE]);
    let mut c = login(&s).await;
    c.send_line("DELE 1").await;
    c.expect_line("+OK Message 1 deleted").await;
    c.set_timeout(std::time::Duration::from_secs(11 * 60));
    c.expect_line("-ERR Disconnected for inactivity").await;
    c.expect_closed().await;
    assert_eq!(inbox_uids(&s).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn garbage_instead_of_a_tls_handshake_closes_cleanly() {
    let s = setup();
    deliver(&s, &[ONE]);
    let tls = torsion_core::testkit::TestTls::generate();
    let reloadable =
        torsion_core::tls::ReloadableServerConfig::load(&tls.key_path(), &tls.cert_path()).unwrap();
    let accounts: CredentialStore = "memory:alice@example.test:wonderland".parse().unwrap();
    let directory = Directory::new(["example.test".to_owned()], accounts, Aliases::default());
    let config = Config {
        hostname: "pop.example.test".into(),
        allow_plaintext_auth: false,
        stls: true,
        store: Arc::new(s.store.clone()),
        delete_mode: DeleteMode::Expunge,
        login_delay: 0,
    };
    let server = Arc::new(Pop3Server::new(
        config,
        Arc::new(directory),
        Some(reloadable),
    ));
    let mut c = TestPeer::serve(server.clone());
    c.expect_line("+OK pop.example.test POP3 server ready")
        .await;
    c.send_line("CAPA").await;
    c.expect_line("+OK *").await;
    assert!(multiline(&mut c).await.iter().any(|l| l == "STLS"));
    c.send_line("STLS").await;
    c.expect_line("+OK Begin TLS negotiation").await;
    c.send(b"USER alice@example.test\r\nPASS wonderland\r\nDELE 1\r\nQUIT\r\n")
        .await;
    // A TLS alert record (content type 21) and the close; no POP3 reply to the plaintext.
    assert_eq!(c.read_to_close().await, "");
    assert_eq!(c.unread().first(), Some(&0x15), "{:?}", c.unread());
    c.join().await;
    assert_eq!(inbox_uids(&s).len(), 1, "nothing deleted");
}

#[tokio::test(start_paused = true)]
async fn a_client_vanishing_in_any_state_deletes_nothing_and_leaves_no_lock() {
    let s = setup();
    let big = format!(
        "Subject: big\r\n\r\n{}",
        "0123456789abcdef\r\n".repeat(100_000)
    );
    deliver(&s, &[ONE, big.as_bytes()]);
    // Authorization, after USER.
    let mut c = connect(&s).await;
    c.send_line("USER alice@example.test").await;
    c.expect_line("+OK *").await;
    drop(c);
    // In the SASL continuation.
    let mut c = connect(&s).await;
    c.send_line("AUTH PLAIN").await;
    c.expect_line("+ ").await;
    c.shutdown_write().await;
    c.join().await;
    // Mid-RETR of a 1.8 MB message, with a DELE before it.
    let mut c = login(&s).await;
    c.send_line("DELE 1").await;
    c.expect_line("+OK *").await;
    c.send_line("RETR 2").await;
    c.expect_line("+OK *").await;
    c.read_line().await.unwrap();
    drop(c);
    // Mid-line in the transaction state (once the dropped session has noticed: a reconnect
    // in the same instant may still find the lock held, as with Dovecot).
    let mut c = login_once_free(&s).await;
    c.send(b"DELE 1\r\nDELE 2\r\nQU").await;
    c.expect_line("+OK *").await;
    c.expect_line("+OK *").await;
    c.shutdown_write().await;
    c.join().await;
    assert_eq!(inbox_uids(&s).len(), 2, "nothing deleted");
    // No lock left behind.
    let mut c = login(&s).await;
    c.send_line("STAT").await;
    c.expect_line("+OK 2 *").await;
}

#[tokio::test(start_paused = true)]
async fn large_messages_are_streamed_byte_stuffed_and_whole() {
    let s = setup();
    // Above STREAM_ABOVE: read from the file in chunks. Dot lines at chunk boundaries and a
    // file with bare LF line ends (as Postfix writes them) on top.
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    for i in 0..40_000 {
        big.extend_from_slice(if i % 7 == 0 {
            b".dot line\r\n"
        } else {
            b"plain line\r\n"
        });
    }
    deliver(&s, &[&big]);
    let inbox = s.store.inbox(&alice()).unwrap();
    let bare = String::from_utf8(big.clone())
        .unwrap()
        .replace("\r\n", "\n");
    std::fs::write(
        inbox.path().join("new/1700000000.M1P1Q1.postfix"),
        bare.as_bytes(),
    )
    .unwrap();
    assert!(big.len() as u64 > torsion_pop3::server::session::STREAM_ABOVE);
    let mut c = login(&s).await;
    for n in [1, 2] {
        c.send_line(&format!("RETR {n}")).await;
        c.expect_line(&format!("+OK {} octets", big.len())).await;
        let lines = multiline(&mut c).await;
        assert_eq!(lines.len(), 40_002, "message {n}");
        assert_eq!(lines[2], "..dot line");
        assert_eq!(lines[3], "plain line");
        let mut expected = Vec::new();
        torsion_pop3::proto::stuff(&big, None, &mut expected);
        let got: Vec<u8> = lines
            .iter()
            .flat_map(|l| format!("{l}\r\n").into_bytes())
            .chain(b".\r\n".iter().copied())
            .collect();
        assert_eq!(got, expected, "message {n}");
    }
    c.send_line("TOP 2 2").await;
    c.expect_line("+OK Top of message follows").await;
    assert_eq!(
        multiline(&mut c).await,
        ["Subject: big", "", "..dot line", "plain line"]
    );
    // The session goes on after a stream.
    c.send_line("STAT").await;
    c.expect_line(&format!("+OK 2 {}", 2 * big.len())).await;
    c.send_line("QUIT").await;
    c.expect_line("+OK Bye").await;
    let snap = inbox.sync().unwrap();
    assert!(snap.messages.iter().all(|m| m.flags.contains(Flags::SEEN)));
}
