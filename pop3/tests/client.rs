//! The POP3 client against our server over loopback: STLS (verified) and implicit TLS, every
//! command, pipelined RETR and DELE, response codes; and `torsion-pop3 retrieve` (the binary)
//! downloading only new mail with a UIDL state file, then deleting it.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use torsion_core::cred::CredentialStore;
use torsion_core::testkit::{RunningServer, ServerBinary, TempDir, TestTls};
use torsion_core::tls::ReloadableServerConfig;
use torsion_mailstore::{Aliases, Directory, Flags, MailAddress, MailStore};
use torsion_pop3::client::{Client, ClientConfig, ClientError, TlsMode};
use torsion_pop3::server::{Config, DeleteMode, Pop3Server};

const BIN: &str = env!("CARGO_BIN_EXE_torsion-pop3");

fn alice() -> MailAddress {
    MailAddress::parse("alice@example.test").unwrap()
}

fn server(store: &MailStore, tls: Option<&TestTls>, plaintext: bool) -> Arc<Pop3Server> {
    let accounts: CredentialStore = "memory:alice@example.test:wonderland".parse().unwrap();
    let directory = Directory::new(["example.test".to_owned()], accounts, Aliases::default());
    let tls = tls.map(|t| ReloadableServerConfig::load(&t.key_path(), &t.cert_path()).unwrap());
    let config = Config {
        hostname: "pop.example.test".into(),
        allow_plaintext_auth: plaintext,
        stls: tls.is_some(),
        store: Arc::new(store.clone()),
        delete_mode: DeleteMode::Expunge,
        login_delay: 0,
    };
    Arc::new(Pop3Server::new(config, Arc::new(directory), tls))
}

fn config(tls: &TestTls) -> ClientConfig {
    ClientConfig::new()
        .with_trust_roots(tls.ca_path())
        .with_timeout(Duration::from_secs(20))
}

#[tokio::test]
async fn stls_and_every_command_through_the_client() {
    let dir = TempDir::new("pop3-client").unwrap();
    let store = MailStore::open(dir.path().join("mail")).unwrap();
    let long_line = format!("{}\r\n", "x".repeat(5000));
    let messages: Vec<Vec<u8>> = vec![
        b"Subject: one\r\n\r\n.dot\r\nbody\r\n".to_vec(),
        format!("Subject: two\r\n\r\n{long_line}end\r\n").into_bytes(),
        b"Subject: three\r\n\r\n3\r\n".to_vec(),
    ];
    for m in &messages {
        store.deliver(&[alice()], &[m]).unwrap();
    }
    let tls = TestTls::generate();
    let running = RunningServer::start(
        server(&store, Some(&tls), false),
        &["tcp:0:interface=127.0.0.1"],
    )
    .await;
    let endpoint = running.client_endpoint();
    let mut client = Client::connect(&endpoint, config(&tls)).await.unwrap();
    assert!(client.is_tls());
    assert!(client.greeting().contains("pop.example.test"));
    // After STLS, CAPA was asked again: no STLS, but USER and SASL PLAIN now.
    assert!(!client.has_capability("STLS") && client.has_capability("USER"));
    assert!(client.has_capability("PIPELINING"));
    let wrong = client
        .login("alice@example.test", "nope")
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Some("AUTH"), "{wrong}");
    client
        .auth_plain("alice@example.test", "wonderland")
        .await
        .unwrap();
    let total: u64 = messages.iter().map(|m| m.len() as u64).sum();
    assert_eq!(client.stat().await.unwrap(), (3, total));
    let list = client.list().await.unwrap();
    assert_eq!(
        list,
        messages
            .iter()
            .enumerate()
            .map(|(i, m)| (i as u32 + 1, m.len() as u64))
            .collect::<Vec<_>>()
    );
    let uidl = client.uidl().await.unwrap();
    assert_eq!(uidl.len(), 3);
    assert!(uidl.iter().all(|(_, id)| id.len() == 16));
    assert_eq!(client.retr(1).await.unwrap(), messages[0]);
    let mut sink = Vec::new();
    assert_eq!(
        client.retr_to(2, &mut sink).await.unwrap(),
        messages[1].len() as u64
    );
    assert_eq!(sink, messages[1]);
    assert_eq!(client.top(3, 0).await.unwrap(), b"Subject: three\r\n\r\n");
    let missing = client.retr(9).await.unwrap_err();
    assert!(matches!(missing, ClientError::Refused { .. }), "{missing}");
    // Pipelined: all three again, in order.
    let mut got = Vec::new();
    client
        .retr_each(&[1, 2, 3], |n, m| {
            got.push((n, m.unwrap()));
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![
            (1, messages[0].clone()),
            (2, messages[1].clone()),
            (3, messages[2].clone())
        ]
    );
    client.noop().await.unwrap();
    client.dele_many(&[1, 3]).await.unwrap();
    client.rset().await.unwrap();
    client.dele_many(&[1, 2]).await.unwrap();
    // A second session meanwhile: IN-USE.
    let mut other = Client::connect(&endpoint, config(&tls)).await.unwrap();
    let busy = other
        .login("alice@example.test", "wonderland")
        .await
        .unwrap_err();
    assert_eq!(busy.code(), Some("IN-USE"), "{busy}");
    client.quit().await.unwrap();
    let snap = store.inbox(&alice()).unwrap().sync().unwrap();
    assert_eq!(snap.messages.len(), 1, "1 and 2 were deleted at QUIT");
    assert_eq!(snap.messages[0].size, messages[2].len() as u64);
    // RETR of message 3 happened in that session: \Seen.
    assert!(snap.messages[0].flags.contains(Flags::SEEN));
    other
        .login("alice@example.test", "wonderland")
        .await
        .unwrap();
    assert_eq!(other.stat().await.unwrap().0, 1);
    other.quit().await.unwrap();
    running.stop().await;
}

#[tokio::test]
async fn implicit_tls_and_the_plaintext_rules() {
    let dir = TempDir::new("pop3-client-tls").unwrap();
    let store = MailStore::open(dir.path().join("mail")).unwrap();
    let tls = TestTls::generate();
    let spec = format!(
        "tls:0:interface=127.0.0.1:privateKey={}:certKey={}",
        tls.key_path().display(),
        tls.cert_path().display()
    );
    let running = RunningServer::start(server(&store, None, false), &[&spec]).await;
    let port = running.addr().port();
    let endpoint = format!(
        "tls:host=127.0.0.1:port={port}:trustRoots={}",
        tls.ca_path().display()
    )
    .parse()
    .unwrap();
    let mut client = Client::connect(&endpoint, config(&tls)).await.unwrap();
    assert!(client.is_tls());
    client
        .login("alice@example.test", "wonderland")
        .await
        .unwrap();
    assert_eq!(client.stat().await.unwrap(), (0, 0));
    client.quit().await.unwrap();
    running.stop().await;

    // No TLS offered: STLS required fails; no TLS at all refuses to send the password.
    let plain =
        RunningServer::start(server(&store, None, false), &["tcp:0:interface=127.0.0.1"]).await;
    let err = Client::connect(&plain.client_endpoint(), config(&tls))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not offer STLS"), "{err}");
    let mut client = Client::connect(
        &plain.client_endpoint(),
        config(&tls).with_tls(TlsMode::None),
    )
    .await
    .unwrap();
    let err = client
        .login("alice@example.test", "wonderland")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::PlaintextAuth), "{err}");
    plain.stop().await;
}

#[test]
fn retrieve_downloads_only_new_mail_then_deletes_it() {
    let dir = TempDir::new("pop3-retrieve").unwrap();
    let root = dir.path().join("mail");
    let users = dir.path().join("users");
    std::fs::write(&users, "alice@example.test:{PLAIN}wonderland\n").unwrap();
    let store = MailStore::open(&root).unwrap();
    store
        .deliver(&[alice()], &[b"Subject: a\r\n\r\n.a\r\n"])
        .unwrap();
    store
        .deliver(&[alice()], &[b"Subject: b\r\n\r\nb\r\n"])
        .unwrap();
    let server = ServerBinary::start(
        BIN,
        &[
            "serve",
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--mail-root",
            root.to_str().unwrap(),
            "--users",
            users.to_str().unwrap(),
            "--allow-plaintext-auth",
        ],
        1,
    );
    let port = server.tcp_port(0).to_string();
    let local = dir.path().join("local");
    let state = dir.path().join("uidl.state");
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args([
                "retrieve",
                "--server",
                &format!("127.0.0.1:{port}"),
                "--no-tls",
                "--allow-plaintext-auth",
                "--user",
                "alice@example.test",
                "--to-maildir",
                local.to_str().unwrap(),
                "--keep-uidl-state",
                state.to_str().unwrap(),
            ])
            .args(extra)
            .env("TORSION_POP3_PASSWORD", "wonderland")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let new_files = || std::fs::read_dir(local.join("new")).unwrap().count();
    assert!(run(&[]).starts_with("retrieved 2 new message(s)"));
    assert_eq!(new_files(), 2);
    assert!(run(&[]).starts_with("retrieved 0 new message(s)"));
    store
        .deliver(&[alice()], &[b"Subject: c\r\n\r\nc\r\n"])
        .unwrap();
    assert!(run(&["--delete"]).starts_with("retrieved 1 new message(s)"));
    assert_eq!(new_files(), 3);
    // Byte-identical copies (unstuffed).
    let mut bodies: Vec<Vec<u8>> = std::fs::read_dir(local.join("new"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    bodies.sort();
    assert!(bodies.contains(&b"Subject: a\r\n\r\n.a\r\n".to_vec()));
    // Deleted on the server, and the state file forgot them.
    assert!(store
        .inbox(&alice())
        .unwrap()
        .sync()
        .unwrap()
        .messages
        .is_empty());
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "");
    // A wrong password: exit 1, nothing written.
    let out = std::process::Command::new(BIN)
        .args([
            "retrieve",
            "--server",
            &format!("127.0.0.1:{port}"),
            "--no-tls",
        ])
        .args(["--allow-plaintext-auth", "--user", "alice@example.test"])
        .args(["--to-maildir", local.to_str().unwrap()])
        .env("TORSION_POP3_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[AUTH]")
            || String::from_utf8_lossy(&out.stderr).contains("Authentication failed"),
        "{out:?}"
    );
}

#[test]
fn a_killed_server_leaves_no_stale_lock() {
    use std::io::{BufRead, BufReader, Write};
    let dir = TempDir::new("pop3-killed").unwrap();
    let root = dir.path().join("mail");
    let users = dir.path().join("users");
    std::fs::write(&users, "alice@example.test:{PLAIN}wonderland\n").unwrap();
    let store = MailStore::open(&root).unwrap();
    store
        .deliver(&[alice()], &[b"Subject: a\r\n\r\na\r\n"])
        .unwrap();
    let args = [
        "serve",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--mail-root",
        root.to_str().unwrap(),
        "--users",
        users.to_str().unwrap(),
        "--allow-plaintext-auth",
    ];
    // Log in and DELE, holding the lock, then SIGKILL the server.
    let login = |port: u16| {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut line = String::new();
        let mut reply = |cmd: &str, line: &mut String| {
            if !cmd.is_empty() {
                write!(writer, "{cmd}\r\n").unwrap();
            }
            line.clear();
            reader.read_line(line).unwrap();
            line.trim_end().to_owned()
        };
        assert!(reply("", &mut line).starts_with("+OK"));
        assert!(reply("USER alice@example.test", &mut line).starts_with("+OK"));
        let logged_in = reply("PASS wonderland", &mut line);
        let dele = reply("DELE 1", &mut line);
        (logged_in, dele, reader, writer)
    };
    let first = ServerBinary::start(BIN, &args, 1);
    let (logged_in, dele, _r, _w) = login(first.tcp_port(0));
    assert!(
        logged_in.starts_with("+OK Logged in, 1 messages"),
        "{logged_in}"
    );
    assert!(dele.starts_with("+OK"), "{dele}");
    first.signal("KILL");
    drop(first);
    // A new server process gets the maildrop at once, with nothing deleted.
    let second = ServerBinary::start(BIN, &args, 1);
    let (logged_in, _, _r, _w) = login(second.tcp_port(0));
    assert!(
        logged_in.starts_with("+OK Logged in, 1 messages"),
        "{logged_in}"
    );
}
