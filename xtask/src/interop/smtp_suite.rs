//! Interop checks for torsion-smtp, over loopback:
//!
//! - **Clients against our server**: swaks (Debian `swaks`) — plain delivery to a local user
//!   and to an alias, STARTTLS with a verified certificate, AUTH PLAIN and LOGIN on the
//!   submission port (in plaintext with `--allow-plaintext-auth`, after STARTTLS without it),
//!   a wrong password, `--pipeline`, relay denied; Python's smtplib (`send_message`, and
//!   STARTTLS + `login` on submission); raw Python sockets for BDAT (swaks has none) and for a
//!   plaintext AUTH attempt, which must be refused. Every delivery is checked in the Maildir
//!   (`new/`) as soon as the client has its 250 — the server stores durably before replying —
//!   including the `Received:` header and its `with ESMTP[S][A]` protocol.
//! - **Our client against third-party servers** ([`peers`]): authenticated relay mail leaves through our
//!   relay worker to Postfix's `smtp-sink` (`--smarthost`), `torsion-smtp send` delivers to
//!   smtp-sink and to our own submission port (STARTTLS + AUTH), and the client library's
//!   `#[ignore]`d interop tests (`smtp/tests/client_interop.rs`: smtp-sink and aiosmtpd) run
//!   with `TORSION_INTEROP=1`, one check per test.
//!
//! The Python scripts live in `xtask/interop-data/smtp/`. Servers listen on port 0 and are
//! stopped by PID; scratch files go under var/interop/smtp/ (emptied first).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{python_step, require, shorten, Client, Report};
use crate::util::{self, ServerProcess};
use peers::Sink;

mod peers;

/// Bound on a server logging `listening on` (or accepting connections).
const START: Duration = Duration::from_secs(10);
/// Bound on one client program (swaks, a Python script, `torsion-smtp send`).
const EXCHANGE: Duration = Duration::from_secs(30);
/// Bound on relay mail reaching smtp-sink after the 250.
const RELAY: Duration = Duration::from_secs(20);
/// The scripts, relative to the workspace root.
const SCRIPTS: &str = "xtask/interop-data/smtp";
/// Scratch directory, relative to the workspace root.
const SCRATCH: &str = "var/interop/smtp";
/// Our host name and mail domain.
const HOSTNAME: &str = "mx.interop.test";
const DOMAIN: &str = "example.test";
/// The accounts (`{PLAIN}` in the users file).
const ALICE: (&str, &str) = ("alice@example.test", "wonderland");
const BOB: (&str, &str) = ("bob@example.test", "builder");

/// Run every SMTP check into `report`.
pub fn run(report: &mut Report) {
    if let Err(e) = util::cargo_build(&["-p", "torsion-smtp", "--bin", "torsion-smtp"]) {
        report.fail("smtp: build torsion-smtp", &e);
        return;
    }
    let root = util::workspace_root();
    let scratch = root.join(SCRATCH);
    let _ = std::fs::remove_dir_all(&scratch);
    if let Err(e) = std::fs::create_dir_all(&scratch) {
        report.fail("smtp: create var/interop/smtp", &e.to_string());
        return;
    }
    if let Err(e) = setup_files(&root) {
        report.fail("smtp: write the users file, aliases and certificate", &e);
        return;
    }
    let sink = match Sink::start(&root, "relay") {
        Ok(sink) => Some(sink),
        Err(e) => {
            report.fail("smtp: start smtp-sink", &e);
            None
        }
    };

    // The main server: STARTTLS, AUTH only under TLS, relay to smtp-sink.
    let mut flags = vec!["--tls-cert", "cert.pem", "--tls-key", "key.pem"];
    let smarthost = sink.as_ref().map(|s| format!("127.0.0.1:{}", s.port));
    if let Some(host) = &smarthost {
        flags.extend(["--queue-dir", "queue", "--smarthost", host]);
    }
    match Smtp::start(&root, "main", &flags) {
        Ok(server) => {
            main_checks(report, &root, &server, sink.as_ref());
            if let Err(e) = server.stop() {
                report.fail("smtp: torsion-smtp exits 0 on SIGTERM", &e);
            }
        }
        Err(e) => report.fail("smtp: start torsion-smtp", &e),
    }

    // A second server that allows AUTH in plaintext (and has no TLS at all).
    match Smtp::start(&root, "plaintext-auth", &["--allow-plaintext-auth"]) {
        Ok(server) => {
            for mechanism in ["PLAIN", "LOGIN"] {
                let lower = mechanism.to_lowercase();
                let name = format!("smtp-swaks-auth-{lower}-plaintext (AUTH {mechanism} without TLS on submission with --allow-plaintext-auth: 235, delivered with ESMTPA)");
                report.check(&name, || {
                    let token = format!("interop-auth-{lower}-plaintext");
                    let (sub, (user, password)) = (server.submission_addr(), BOB);
                    let args = format!("--server {sub} --from {user} --to {} -a {mechanism} -au {user} -ap {password}", ALICE.0);
                    expect_in(&swaks(&root, &args, &token, true)?, "235 2.7.0")?;
                    received_with(&server.delivered(&root, "alice", &token)?, "ESMTPA")
                });
            }
            if let Err(e) = server.stop() {
                report.fail("smtp: torsion-smtp (plaintext AUTH) exits 0 on SIGTERM", &e);
            }
        }
        Err(e) => report.fail("smtp: start torsion-smtp --allow-plaintext-auth", &e),
    }

    if let Some(sink) = &sink {
        report.check(
            "smtp-send-cli-smtp-sink (torsion-smtp send to Postfix's smtp-sink, two recipients, dot-leading lines)",
            || peers::send_cli_to_sink(&root, sink),
        );
    }
    drop(sink);
    peers::client_library_tests(report, &root);
}

/// The checks against the main server.
fn main_checks(report: &mut Report, root: &Path, server: &Smtp, sink: Option<&Sink>) {
    let smtp = server.smtp_addr();
    let submission = server.submission_addr();
    let (alice, (bob, bob_password)) = (ALICE.0, BOB);
    // swaks to a local user on the port-25 listener, plus `more` flags.
    let swaks_local = |to: &str, more: &str, token: &str| {
        let args = format!("--server {smtp} --from swaks@client.test --to {to} {more}");
        swaks(root, &args, token, true)
    };
    // swaks on the submission port as bob, plus `more` flags.
    let swaks_submission = |to: &str, more: &str, token: &str, succeed: bool| {
        let args = format!("--server {submission} --from {bob} --to {to} {more}");
        swaks(root, &args, token, succeed)
    };
    report.check(
        "smtp-swaks-plain (swaks to a local user: the Maildir file exists at the 250 and starts with Received: … with ESMTP)",
        || {
            let token = "interop-plain";
            swaks_local(alice, "", token)?;
            let message = server.delivered(root, "alice", token)?;
            received_with(&message, "ESMTP")?;
            if !message.starts_with("Received: from client.test ") {
                return Err(format!("no Received: header first: {:?}", shorten(&message)));
            }
            Ok(())
        },
    );
    report.check(
        "smtp-swaks-alias (swaks to postmaster@, an alias of alice: delivered to alice)",
        || {
            let token = "interop-alias";
            swaks_local("postmaster@example.test", "", token)?;
            server.delivered(root, "alice", token).map(|_| ())
        },
    );
    report.check(
        "smtp-swaks-starttls (swaks --tls, certificate verified: delivered with ESMTPS)",
        || {
            let token = "interop-starttls";
            let out = swaks_local(alice, "--tls --tls-verify --tls-ca-path ca.pem", token)?;
            expect_in(&out, "TLS started")?;
            received_with(&server.delivered(root, "alice", token)?, "ESMTPS")
        },
    );
    report.check(
        "smtp-swaks-pipeline (swaks --pipeline, two recipients: both mailboxes get it)",
        || {
            let token = "interop-pipeline";
            let out = swaks_local(&format!("{alice},{bob}"), "--pipeline", token)?;
            expect_in(&out, "PIPELINING")?;
            server.delivered(root, "alice", token)?;
            server.delivered(root, "bob", token).map(|_| ())
        },
    );
    report.check(
        "smtp-bdat (raw socket: MAIL, RCPT, BDAT pipelined, then BDAT LAST; stored verbatim, not dot-unstuffed)",
        || {
            let token = "interop-bdat";
            python(root, &["bdat", &server.smtp.to_string(), token])?;
            let message = server.delivered(root, "alice", token)?;
            received_with(&message, "ESMTP")?;
            if !message.contains("first chunk\r\n.not stuffed\r\nsecond chunk\r\n") {
                return Err(format!("chunks not stored verbatim: {:?}", shorten(&message)));
            }
            Ok(())
        },
    );
    report.check(
        "smtp-relay-denied (swaks to a remote domain without AUTH: 554 5.7.1)",
        || {
            let args =
                format!("--server {smtp} --from swaks@client.test --to carol@elsewhere.test");
            expect_in(
                &swaks(root, &args, "interop-relay-denied", false)?,
                "554 5.7.1",
            )
        },
    );
    report.check(
        "smtp-auth-refused-plaintext (submission without TLS: no AUTH in EHLO, AUTH PLAIN gets 5yz, MAIL gets 530 5.7.0)",
        || python(root, &["auth-refused", &server.submission.to_string(), bob, bob_password]).map(|_| ()),
    );
    report.check(
        "smtp-swaks-auth-refused-plaintext (swaks -a PLAIN without TLS on submission fails, nothing delivered)",
        || {
            let token = "interop-auth-refused";
            let auth = format!("-a PLAIN -au {bob} -ap {bob_password}");
            let out = swaks_submission(alice, &auth, token, false)?;
            expect_in(&out, "did not advertise authentication")?;
            match server.delivered(root, "alice", token) {
                Ok(_) => Err("delivered anyway".into()),
                Err(_) => Ok(()),
            }
        },
    );
    for mechanism in ["PLAIN", "LOGIN"] {
        let lower = mechanism.to_lowercase();
        let name = format!("smtp-swaks-auth-{lower}-starttls (swaks --tls -a {mechanism} on submission: 235, delivered with ESMTPSA)");
        report.check(&name, || {
            let token = format!("interop-auth-{lower}-starttls");
            let more = format!("--tls --tls-verify --tls-ca-path ca.pem -a {mechanism} -au {bob} -ap {bob_password}");
            expect_in(&swaks_submission(alice, &more, &token, true)?, "235 2.7.0")?;
            received_with(&server.delivered(root, "alice", &token)?, "ESMTPSA")
        });
    }
    report.check(
        "smtp-swaks-auth-wrong-password (after STARTTLS: 535 5.7.8, swaks fails)",
        || {
            let more = format!("--tls -a PLAIN -au {bob} -ap wrong");
            expect_in(
                &swaks_submission(alice, &more, "interop-wrong-password", false)?,
                "535 5.7.8",
            )
        },
    );
    report.check(
        "smtp-smtplib-send-message (Python smtplib send_message to a local user)",
        || {
            let token = "interop-smtplib";
            python(root, &["smtplib-send", &server.smtp.to_string(), token])?;
            received_with(&server.delivered(root, "alice", token)?, "ESMTP")
        },
    );
    report.check(
        "smtp-smtplib-submission (smtplib on submission: starttls with a verified certificate, login, send_message)",
        || {
            let token = "interop-smtplib-submission";
            let port = server.submission.to_string();
            python(root, &["smtplib-submission", &port, "ca.pem", bob, bob_password, token])?;
            received_with(&server.delivered(root, "alice", token)?, "ESMTPSA")
        },
    );
    report.check(
        "smtp-send-cli-submission (torsion-smtp send --starttls --trust-roots --auth to our submission port)",
        || {
            let token = "interop-send-cli";
            let file = write_message(root, token)?;
            let args = format!("send --server {submission} --starttls --trust-roots ca.pem --auth {bob} --from {bob} --to {alice} --helo client.test {file}");
            send_cli(root, &args, Some(bob_password))?;
            received_with(&server.delivered(root, "alice", token)?, "ESMTPSA")
        },
    );
    let name = "smtp-relay-smarthost-smtp-sink (authenticated mail to a remote domain: queued, then relayed by our client to Postfix's smtp-sink)";
    let Some(sink) = sink else {
        report.fail(name, "skipped: smtp-sink did not start");
        return;
    };
    report.check(name, || {
        let token = "interop-relay";
        let more = format!("--tls -a PLAIN -au {bob} -ap {bob_password}");
        swaks_submission("carol@elsewhere.test", &more, token, true)?;
        let dump = sink.wait_for(token, RELAY)?;
        for needle in [
            "X-Mail-Args: <bob@example.test>",
            "X-Rcpt-Args: <carol@elsewhere.test>",
            "Received: ",
        ] {
            if !dump.contains(needle) {
                return Err(format!(
                    "smtp-sink's copy lacks {needle:?}: {:?}",
                    shorten(&dump)
                ));
            }
        }
        Ok(())
    });
}

fn binary() -> PathBuf {
    util::release_dir().join("torsion-smtp")
}

/// The users file, aliases and certificates under [`SCRATCH`].
fn setup_files(root: &Path) -> Result<(), String> {
    let scratch = root.join(SCRATCH);
    let write = |name: &str, text: String| {
        std::fs::write(scratch.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write(
        "users",
        format!(
            "{}:{{PLAIN}}{}\n{}:{{PLAIN}}{}\n",
            ALICE.0, ALICE.1, BOB.0, BOB.1
        ),
    )?;
    write("aliases", format!("postmaster@{DOMAIN}: {}\n", ALICE.0))?;
    make_certificates(&scratch)
}

/// A running torsion-smtp: its port-25-style and submission ports.
#[derive(Debug)]
struct Smtp {
    process: ServerProcess,
    smtp: u16,
    submission: u16,
    /// Its mail root.
    mail: PathBuf,
}

impl Smtp {
    /// `torsion-smtp serve` on `tcp:0` (`--listen` and `--submission`), data under
    /// [`SCRATCH`] (cwd), with `extra` flags. Each server gets its own mail root.
    fn start(root: &Path, name: &str, extra: &[&str]) -> Result<Smtp, String> {
        let scratch = root.join(SCRATCH);
        let mail = format!("mail-{name}");
        let mut args: Vec<String> = [
            "serve",
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--submission",
            "tcp:0:interface=127.0.0.1",
            "--hostname",
            HOSTNAME,
            "--domain",
            DOMAIN,
            "--mail-root",
            &mail,
            "--users",
            "users",
            "--aliases",
            "aliases",
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let log = scratch.join(format!("{name}.log"));
        let mut process = ServerProcess::spawn("torsion-smtp", &binary(), &args, &scratch, &log)?;
        process.wait_listening(2, START)?;
        let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
        let port = |protocol: &str| {
            text.lines()
                .filter(|l| l.contains(&format!("protocol=\"{protocol}\"")))
                .flat_map(util::listening_addresses)
                .find_map(|a| util::port_of(&a))
                .ok_or_else(|| format!("no {protocol} listener in {}", log.display()))
        };
        let (smtp, submission) = (port("smtp")?, port("submission")?);
        Ok(Smtp {
            process,
            mail: scratch.join(&mail),
            smtp,
            submission,
        })
    }

    fn smtp_addr(&self) -> String {
        format!("127.0.0.1:{}", self.smtp)
    }

    fn submission_addr(&self) -> String {
        format!("127.0.0.1:{}", self.submission)
    }

    /// The message in `user`'s `new/` whose `Subject:` is `token`. It must be there already:
    /// the server replies 250 only after the durable write.
    fn delivered(&self, root: &Path, user: &str, token: &str) -> Result<String, String> {
        let dir = self.mail.join(DOMAIN).join(user).join("new");
        let shown = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("no mailbox {shown}: {e}"))?;
        let needle = format!("Subject: {token}\r\n");
        let mut seen = 0;
        for entry in entries.flatten() {
            seen += 1;
            let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap_or_default())
                .into_owned();
            if text.contains(&needle) {
                return Ok(text);
            }
        }
        Err(format!(
            "no message with Subject: {token} among the {seen} in {shown}"
        ))
    }

    /// SIGTERM and require exit 0.
    fn stop(mut self) -> Result<(), String> {
        self.process.stop_cleanly()
    }
}

/// The first `Received:` header names protocol `with` exactly (RFC 3848: ESMTP, ESMTPS,
/// ESMTPA, ESMTPSA).
fn received_with(message: &str, with: &str) -> Result<(), String> {
    let received = message
        .split("\r\n")
        .skip_while(|l| !l.starts_with("Received:"))
        .take_while(|l| l.starts_with("Received:") || l.starts_with(['\t', ' ']))
        .collect::<Vec<_>>()
        .join(" ");
    if received.is_empty() {
        return Err(format!("no Received: header: {:?}", shorten(message)));
    }
    if received.contains(&format!(" with {with};")) || received.contains(&format!(" with {with} "))
    {
        Ok(())
    } else {
        Err(format!(
            "Received: does not say `with {with}`: {received:?}"
        ))
    }
}

fn expect_in(output: &str, needle: &str) -> Result<(), String> {
    if output.contains(needle) {
        Ok(())
    } else {
        Err(format!(
            "{needle:?} not in the transcript: {:?}",
            shorten(output)
        ))
    }
}

/// `swaks ARGS… --helo client.test --header "Subject: TOKEN"` in [`SCRATCH`] (ARGS split at
/// whitespace); returns its transcript (stdout and stderr). `succeed`: whether swaks must exit
/// 0 (or must not).
fn swaks(root: &Path, args: &str, token: &str, succeed: bool) -> Result<String, String> {
    let swaks = require("swaks", "swaks")?;
    let subject = format!("Subject: {token}");
    let mut all: Vec<&str> = args.split_whitespace().collect();
    all.extend([
        "--helo",
        "client.test",
        "--header",
        &subject,
        "--timeout",
        "10",
    ]);
    let mut client = Client::spawn(&swaks, &all, &root.join(SCRATCH))?;
    let status = client.finish(EXCHANGE)?;
    let transcript = format!(
        "{}\n{}",
        String::from_utf8_lossy(client.stdout()),
        client.stderr()
    );
    if status.success() == succeed {
        Ok(transcript)
    } else {
        Err(format!(
            "swaks {} exited with {} (expected {}): {:?}",
            all.join(" "),
            util::describe_status(status),
            if succeed { "success" } else { "failure" },
            shorten(&transcript)
        ))
    }
}

/// `python3 SCRIPTS/client.py ARGS…` in [`SCRATCH`] (bounded); its stdout must start with `ok`.
fn python(root: &Path, args: &[&str]) -> Result<String, String> {
    let script = root.join(SCRIPTS).join("client.py").display().to_string();
    python_step(&root.join(SCRATCH), &script, args, EXCHANGE)
}

/// A message file (LF line endings, a dot-leading line) for `torsion-smtp send`; returns its
/// path relative to [`SCRATCH`].
fn write_message(root: &Path, token: &str) -> Result<String, String> {
    let name = format!("{token}.eml");
    let text = format!(
        "Subject: {token}\nFrom: <{}>\nTo: <{}>\n\nsent by torsion-smtp send\n.leading dot\n..two dots\nlast line\n",
        BOB.0, ALICE.0
    );
    std::fs::write(root.join(SCRATCH).join(&name), text).map_err(|e| format!("{name}: {e}"))?;
    Ok(name)
}

/// Run `torsion-smtp ARGS…` (ARGS split at whitespace; the password, if any, in TORSION_SMTP_PASSWORD); must exit 0.
fn send_cli(root: &Path, args: &str, password: Option<&str>) -> Result<(), String> {
    let mut command = Command::new(binary());
    command
        .args(args.split_whitespace())
        .current_dir(root.join(SCRATCH))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match password {
        Some(p) => command.env("TORSION_SMTP_PASSWORD", p),
        None => command.env_remove("TORSION_SMTP_PASSWORD"),
    };
    let (status, output) = run_bounded(command, EXCHANGE)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "torsion-smtp {args} exited with {}: {:?}",
            util::describe_status(status),
            shorten(&output)
        ))
    }
}

/// Run `command` (stdout and stderr piped) to completion within `timeout`, else kill it.
/// Returns the status and the combined output.
fn run_bounded(
    mut command: Command,
    timeout: Duration,
) -> Result<(std::process::ExitStatus, String), String> {
    use std::io::Read;
    let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let mut readers = Vec::new();
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        readers.push(std::thread::spawn(move || {
            let mut pipe = pipe;
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        }));
    }
    let status = match util::wait_or_kill(&mut child, timeout, Duration::from_millis(20)) {
        Ok(Some(status)) => status,
        Ok(None) => {
            return Err(format!(
                "still running after {} s: killed",
                timeout.as_secs()
            ))
        }
        Err(e) => return Err(format!("waiting: {e}")),
    };
    let output = readers
        .into_iter()
        .map(|r| r.join().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    Ok((status, output))
}

/// A throwaway CA (`ca.pem`) and a server certificate it signed for localhost / 127.0.0.1
/// (`cert.pem`, `key.pem`), made by openssl in `dir`. Not one self-signed certificate: rustls
/// (our client) rejects a CA certificate used as the server's own (`CaUsedAsEndEntity`).
fn make_certificates(dir: &Path) -> Result<(), String> {
    let openssl = require("openssl", "openssl")?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| format!("server.ext: {e}"))?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [Vec<&str>; 3] = [
        [
            &["req", "-x509"][..],
            &ec,
            &["-subj", "/CN=Torsion interop CA", "-days", "2"],
        ]
        .concat()
        .into_iter()
        .chain(["-keyout", "ca-key.pem", "-out", "ca.pem"])
        .collect(),
        [&["req"][..], &ec, &["-subj", "/CN=localhost"]]
            .concat()
            .into_iter()
            .chain(["-keyout", "key.pem", "-out", "server.csr"])
            .collect(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-set_serial",
            "2",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "cert.pem",
        ],
    ];
    for args in steps {
        let mut run = Client::spawn(&openssl, &args, dir)?;
        let status = run.finish(EXCHANGE)?;
        if !status.success() {
            return Err(format!(
                "openssl {} failed ({}): {}",
                args.join(" "),
                util::describe_status(status),
                shorten(&run.stderr())
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_received_headers() {
        let m = "Received: from c ([127.0.0.1])\r\n\tby mx (Torsion) with ESMTPSA\r\n\tfor <a@b>;\r\n\tdate\r\nSubject: x\r\n";
        assert!(received_with(m, "ESMTPSA").is_ok());
        assert!(received_with(m, "ESMTPS").is_err());
        let m = "Received: from c ([127.0.0.1])\r\n\tby mx (Torsion) with ESMTP;\r\n\tdate\r\n\r\n";
        assert!(received_with(m, "ESMTP").is_ok());
    }
}
