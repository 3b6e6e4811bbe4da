//! Interop: our SMTP client against real third-party servers — Postfix's `smtp-sink` (Debian
//! package `postfix`) and Python's `aiosmtpd` (PyPI). Ignored by default; run with
//!
//! ```text
//! DEBIAN_FRONTEND=noninteractive apt-get install -y postfix   # for /usr/sbin/smtp-sink
//! pip install aiosmtpd
//! TORSION_INTEROP=1 cargo test -p torsion-smtp --test client_interop -- --ignored
//! ```
//!
//! Each test starts its own server on a free loopback port and stops it (by its process
//! handle) when done.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use torsion_core::testkit::{TempDir, TestTls};
use torsion_core::ClientEndpoint;
use torsion_smtp::client::{Client, ClientConfig, ClientError, TlsMode};

const WHY: &str = "interop: needs smtp-sink and aiosmtpd; TORSION_INTEROP=1 cargo test -p torsion-smtp --test client_interop -- --ignored";

/// Whether interop runs were asked for; when not, an explicitly run test says so and passes.
fn enabled() -> bool {
    let on = std::env::var("TORSION_INTEROP").as_deref() == Ok("1");
    if !on {
        eprintln!("skipped: set TORSION_INTEROP=1");
    }
    on
}

/// A server process, killed and reaped when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn endpoint(&self) -> ClientEndpoint {
        ClientEndpoint::parse(&format!("127.0.0.1:{}", self.port)).unwrap()
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Start `program args` (stdout to `stdout`, if given) and wait until it accepts connections.
async fn start(program: &str, args: &[String], port: u16, stdout: Option<&Path>) -> Server {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stderr(Stdio::inherit());
    match stdout {
        Some(path) => cmd.stdout(std::fs::File::create(path).unwrap()),
        None => cmd.stdout(Stdio::null()),
    };
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e} ({WHY})"));
    let mut server = Server { child, port };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("{program} exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{program} did not start listening on port {port}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `smtp-sink [OPTIONS] 127.0.0.1:PORT 10`, dumping each message into `dump_dir`.
async fn smtp_sink(options: &[&str], dump_dir: &Path) -> Server {
    let program = ["/usr/sbin/smtp-sink", "/usr/bin/smtp-sink"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("smtp-sink");
    let port = free_port();
    let mut args: Vec<String> = Vec::new();
    if is_root() {
        // smtp-sink drops privileges; as root it must be told to whom.
        args.extend(["-u".into(), "root".into()]);
    }
    args.extend(["-d".into(), format!("{}/msg.", dump_dir.display())]);
    args.extend(options.iter().map(|o| (*o).to_owned()));
    args.extend([format!("127.0.0.1:{port}"), "10".into()]);
    start(program, &args, port, None).await
}

/// `python3 -u -m aiosmtpd -n -l 127.0.0.1:PORT [OPTIONS]`, printing messages to `stdout`.
async fn aiosmtpd(options: &[String], stdout: &Path) -> Server {
    let port = free_port();
    let mut args: Vec<String> = vec!["-u".into(), "-m".into(), "aiosmtpd".into(), "-n".into()];
    args.extend(["-l".into(), format!("127.0.0.1:{port}")]);
    args.extend(options.iter().cloned());
    start("python3", &args, port, Some(stdout)).await
}

fn config() -> ClientConfig {
    ClientConfig::new("client.test").with_timeout(Duration::from_secs(20))
}

/// The dumped messages (smtp-sink's single-message files), line endings as LF.
fn dumps(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap()).replace("\r\n", "\n"))
        .collect()
}

/// Wait (briefly) for `path` to contain `needle` (a server writes after replying).
async fn wait_for(path: &Path, needle: &str) -> String {
    for _ in 0..50 {
        let text = std::fs::read_to_string(path)
            .unwrap_or_default()
            .replace("\r\n", "\n");
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{} never contained {needle:?}: {:?}",
        path.display(),
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

const MESSAGE: &[u8] = b"Subject: interop\n\n.leading dot\n..two dots\n.\nlast line";

#[tokio::test]
#[ignore = "interop"]
async fn smtp_sink_pipelined_delivery_with_auth() {
    if !enabled() {
        return;
    }
    let dir = TempDir::new("sink").unwrap();
    let sink = smtp_sink(&[], dir.path()).await;
    let mut client = Client::connect(
        &sink.endpoint(),
        config().allow_plaintext_auth().with_auth("user", "secret"),
    )
    .await
    .unwrap();
    let ext = client.extensions().clone();
    assert!(
        ext.pipelining && ext.eight_bit_mime && ext.enhanced_status_codes,
        "{ext:?}"
    );
    assert!(client.is_authenticated());
    let report = client
        .send(
            Some("a@example.test"),
            &["b@example.test", "c@example.test"],
            MESSAGE,
        )
        .await
        .unwrap();
    assert!(report.all_accepted(), "{report:?}");
    assert_eq!(report.data.unwrap().status, "2.0.0");
    // A second message on the same connection, null sender.
    let report = client
        .send(None, &["d@example.test"], b"second\n")
        .await
        .unwrap();
    assert!(report.all_accepted());
    client.quit().await.unwrap();
    let dumps = dumps(dir.path());
    assert_eq!(dumps.len(), 2, "{dumps:?}");
    let first = dumps
        .iter()
        .find(|d| d.contains("X-Mail-Args: <a@example.test>"))
        .unwrap();
    assert!(
        first.contains("X-Rcpt-Args: <b@example.test>\nX-Rcpt-Args: <c@example.test>\n"),
        "{first}"
    );
    assert!(
        first.contains("Subject: interop\n\n.leading dot\n..two dots\n.\nlast line"),
        "{first}"
    );
    drop(sink);
}

#[tokio::test]
#[ignore = "interop"]
async fn smtp_sink_refusals() {
    if !enabled() {
        return;
    }
    let dir = TempDir::new("sink").unwrap();
    // Every RCPT hard-rejected (and no PIPELINING): per-recipient results, nothing sent.
    let sink = smtp_sink(&["-f", "RCPT"], dir.path()).await;
    let mut client = Client::connect(&sink.endpoint(), config()).await.unwrap();
    assert!(!client.extensions().pipelining);
    let report = client
        .send(
            Some("a@example.test"),
            &["b@example.test", "c@example.test"],
            b"x",
        )
        .await
        .unwrap();
    assert!(report.accepted.is_empty() && report.data.is_none());
    assert!(
        report.rejected.iter().all(|(_, r)| r.code >= 500),
        "{report:?}"
    );
    client.noop().await.unwrap();
    client.quit().await.unwrap();
    drop(sink);

    // MAIL soft-rejected: a transient error; the client stays usable.
    let sink = smtp_sink(&["-r", "MAIL"], dir.path()).await;
    let mut client = Client::connect(&sink.endpoint(), config()).await.unwrap();
    let err = client
        .send(Some("a@example.test"), &["b@example.test"], b"x")
        .await
        .unwrap_err();
    assert!(err.reply().is_some_and(|r| r.is_transient()), "{err}");
    assert!(client.is_usable());
    client.quit().await.unwrap();
    drop(sink);

    // 421 and disconnect after DATA.
    let sink = smtp_sink(&["-Q", "DATA"], dir.path()).await;
    let mut client = Client::connect(&sink.endpoint(), config()).await.unwrap();
    let err = client
        .send(Some("a@example.test"), &["b@example.test"], b"x")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Reply(r) if r.code == 421) || matches!(err, ClientError::Io(_)),
        "{err}"
    );
    assert!(!err.is_permanent());
    drop(sink);

    // EHLO refused (no ESMTP): HELO fallback, and the message still goes.
    let sink = smtp_sink(&["-e"], dir.path()).await;
    let mut client = Client::connect(&sink.endpoint(), config()).await.unwrap();
    assert!(!client.is_esmtp());
    let report = client
        .send(Some("a@example.test"), &["b@example.test"], b"helo\n")
        .await
        .unwrap();
    assert!(report.all_accepted(), "{report:?}");
    client.quit().await.unwrap();
    drop(sink);
}

#[tokio::test]
#[ignore = "interop"]
async fn aiosmtpd_delivery_size_and_smtputf8() {
    if !enabled() {
        return;
    }
    let dir = TempDir::new("aiosmtpd").unwrap();
    let out = dir.path().join("stdout");
    let server = aiosmtpd(&["-u".into(), "-s".into(), "5000".into()], &out).await;
    let mut client = Client::connect(&server.endpoint(), config()).await.unwrap();
    let ext = client.extensions().clone();
    assert_eq!(ext.max_size(), Some(5000));
    assert!(ext.smtputf8 && ext.eight_bit_mime, "{ext:?}");
    let report = client
        .send(
            Some("a@example.test"),
            &["b@example.test", "jörg@exämple.test"],
            MESSAGE,
        )
        .await
        .unwrap();
    assert!(report.all_accepted(), "{report:?}");
    let text = wait_for(&out, "last line").await;
    assert!(
        text.contains("\n.leading dot\n..two dots\n.\nlast line"),
        "{text}"
    );
    // Over the announced SIZE: refused before sending.
    let err = client
        .send(Some("a@example.test"), &["b@example.test"], &[b'x'; 6000])
        .await
        .unwrap_err();
    assert_eq!(
        err.reply().map(|r| (r.code, r.status)),
        Some((552, "5.3.4"))
    );
    client.quit().await.unwrap();
    drop(server);
}

#[tokio::test]
#[ignore = "interop"]
async fn aiosmtpd_starttls_and_implicit_tls() {
    if !enabled() {
        return;
    }
    let tls = TestTls::generate();
    let dir = TempDir::new("aiosmtpd").unwrap();
    let out = dir.path().join("stdout");
    let cert = tls.cert_path().display().to_string();
    let key = tls.key_path().display().to_string();
    let server = aiosmtpd(
        &[
            "--tlscert".into(),
            cert.clone(),
            "--tlskey".into(),
            key.clone(),
        ],
        &out,
    )
    .await;
    // Required: verified against the test CA (the certificate names 127.0.0.1).
    let required = config()
        .with_tls(TlsMode::Required)
        .with_trust_roots(tls.ca_path());
    let mut client = Client::connect(&server.endpoint(), required).await.unwrap();
    assert!(client.is_tls());
    let report = client
        .send(
            Some("a@example.test"),
            &["b@example.test"],
            b"Subject: tls\n\nover STARTTLS\n",
        )
        .await
        .unwrap();
    assert!(report.all_accepted(), "{report:?}");
    client.quit().await.unwrap();
    wait_for(&out, "over STARTTLS").await;
    // Opportunistic: no trust roots, still encrypted.
    let client = Client::connect(
        &server.endpoint(),
        config().with_tls(TlsMode::Opportunistic),
    )
    .await
    .unwrap();
    assert!(client.is_tls());
    client.quit().await.unwrap();
    drop(server);

    let server = aiosmtpd(
        &["--smtpscert".into(), cert, "--smtpskey".into(), key],
        &out,
    )
    .await;
    let implicit = config()
        .with_tls(TlsMode::Implicit)
        .with_trust_roots(tls.ca_path());
    let mut client = Client::connect(&server.endpoint(), implicit).await.unwrap();
    assert!(client.is_tls());
    let report = client
        .send(
            Some("a@example.test"),
            &["b@example.test"],
            b"Subject: tls\n\nover SMTPS\n",
        )
        .await
        .unwrap();
    assert!(report.all_accepted(), "{report:?}");
    client.quit().await.unwrap();
    drop(server);
}
