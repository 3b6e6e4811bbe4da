//! Interop checks for torsion-pop3: Python's poplib against our server over loopback (USER/
//! PASS with a wrong password refused, CAPA, STAT, LIST, UIDL, RETR byte for byte, TOP, DELE
//! and RSET, IN-USE for a second session, deletion at QUIT; USER refused before STLS, then a
//! verified STLS session; implicit TLS with `POP3_SSL`), and fetchmail (Debian's) downloading
//! with UIDL tracking: a second run fetches only the message delivered in between, a third
//! nothing. Scripts in `xtask/interop-data/pop3/`; servers on port 0, stopped by PID; scratch
//! under var/interop/pop3*/ (emptied first).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use super::imap_suite::setup;
use super::mail_server::MailServer;
use super::{make_certificate, python_step, require, Client, Report};
use crate::util;

/// Bound on one Python step (its socket timeout is 10 s per operation; a failed login waits 2 s).
const EXCHANGE: Duration = Duration::from_secs(60);
/// Bound on one fetchmail run.
const FETCHMAIL: Duration = Duration::from_secs(60);
/// The script, relative to the workspace root.
const SCRIPT: &str = "xtask/interop-data/pop3/client.py";
/// Scratch directories, relative to the workspace root.
const SCRATCH: &str = "var/interop/pop3";
const SCRATCH_FETCHMAIL: &str = "var/interop/pop3-fetchmail";
/// The account (`{PLAIN}` in the users file).
const USERS: &str = "alice@example.test:{PLAIN}wonderland\n";
const PROGRAM: &str = "torsion-pop3";

/// Run every POP3 check into `report`.
pub fn run(report: &mut Report) {
    if let Err(e) = util::cargo_build(&["-p", PROGRAM, "--bin", PROGRAM]) {
        report.fail("pop3: build torsion-pop3", &e);
        return;
    }
    let root = util::workspace_root();
    poplib_checks(&root, report);
    fetchmail_check(&root, report);
}

fn fresh(root: &Path, scratch: &str) -> Result<(), String> {
    let dir = root.join(scratch);
    let _ = std::fs::remove_dir_all(&dir);
    setup(&dir, USERS)
}

fn poplib_checks(root: &Path, report: &mut Report) {
    if let Err(e) = fresh(root, SCRATCH) {
        report.fail("pop3: write the users file and the mail root", &e);
        return;
    }
    match MailServer::start(
        PROGRAM,
        root,
        SCRATCH,
        "pop3-plain",
        &[],
        &["--allow-plaintext-auth"],
    ) {
        Ok(server) => {
            let port = server.port.to_string();
            let expected = format!("{SCRATCH}/expected.eml");
            report.check(
                "pop3-read-mail (poplib: wrong password → [AUTH], CAPA, STAT, LIST, UIDL, RETR byte for byte, TOP, DELE/RSET, second session → [IN-USE], DELE + QUIT removes the message)",
                || python(root, &["read-mail", &port, &expected]).map(|_| ()),
            );
            if let Err(e) = server.stop() {
                report.fail("pop3: torsion-pop3 exits 0 on SIGTERM", &e);
            }
        }
        Err(e) => report.fail("pop3: start torsion-pop3", &e),
    }
    let tls = || -> Result<(MailServer, String), String> {
        let key = format!("{SCRATCH}/key.pem");
        let cert = format!("{SCRATCH}/cert.pem");
        make_certificate(&require("openssl", "openssl")?, root, &key, &cert)?;
        let endpoint = format!("tls:0:privateKey={key}:certKey={cert}:interface=127.0.0.1");
        let server = MailServer::start(
            PROGRAM,
            root,
            SCRATCH,
            "pop3-tls",
            &[&endpoint],
            &["--tls-cert", &cert, "--tls-key", &key],
        )?;
        Ok((server, cert))
    };
    match tls() {
        Ok((server, cert)) => {
            let plain = server.port_of("tcp:").map(|p| p.to_string());
            let secure = server.port_of("tls:").map(|p| p.to_string());
            report.check(
                "pop3-stls (poplib: no USER in CAPA and USER refused with [AUTH] before STLS; STLS with the certificate verified, then USER/PASS)",
                || python(root, &["starttls", &plain?, &cert]).map(|_| ()),
            );
            report.check(
                "pop3-implicit-tls (poplib POP3_SSL on a tls: endpoint, certificate verified, USER/PASS, STAT)",
                || python(root, &["implicit-tls", &secure?, &cert]).map(|_| ()),
            );
            if let Err(e) = server.stop() {
                report.fail("pop3: torsion-pop3 (TLS) exits 0 on SIGTERM", &e);
            }
        }
        Err(e) => report.fail("pop3: start torsion-pop3 with TLS", &e),
    }
}

fn fetchmail_check(root: &Path, report: &mut Report) {
    report.check(
        "pop3-fetchmail (fetchmail with `uidl` and `keep`: the first run delivers the message, the second only the one delivered in between, the third nothing; bodies intact)",
        || {
            let fetchmail = require("fetchmail", "fetchmail")?;
            fresh(root, SCRATCH_FETCHMAIL)?;
            let server = MailServer::start(
                PROGRAM,
                root,
                SCRATCH_FETCHMAIL,
                "pop3-fetchmail",
                &[],
                &["--allow-plaintext-auth"],
            )?;
            let result = fetchmail_runs(root, &fetchmail, server.port);
            let stopped = server.stop();
            result?;
            stopped
        },
    );
}

/// Three fetchmail runs against the server on `port`.
fn fetchmail_runs(root: &Path, fetchmail: &Path, port: u16) -> Result<(), String> {
    let dir = root.join(SCRATCH_FETCHMAIL);
    let out = dir.join("delivered.mbox");
    let rc = dir.join("fetchmailrc");
    let text = format!(
        "set no syslog\n\
         poll 127.0.0.1 protocol pop3 port {port} uidl no dns\n\
         \tuser \"alice@example.test\" there with password \"wonderland\" is root here\n\
         \tkeep sslproto '' mda \"/bin/sh -c 'cat >> {}'\"\n",
        out.display()
    );
    std::fs::write(&rc, text).map_err(|e| format!("{}: {e}", rc.display()))?;
    // fetchmail refuses a run-control file others can read.
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", rc.display()))?;
    let run = |expect: i32| -> Result<String, String> {
        let rc = rc.display().to_string();
        let ids = dir.join("fetchids").display().to_string();
        let args = ["-f", &rc, "--idfile", &ids, "-N", "-v"];
        let mut child = Client::spawn_with_env(
            fetchmail,
            &args,
            root,
            &[
                ("HOME", dir.display().to_string()),
                ("FETCHMAILHOME", dir.display().to_string()),
            ],
        )?;
        let status = child.finish(FETCHMAIL)?;
        if status.code() != Some(expect) {
            return Err(format!(
                "fetchmail exited with {} (expected {expect}): {}",
                util::describe_status(status),
                child.transcript()
            ));
        }
        Ok(std::fs::read_to_string(&out).unwrap_or_default())
    };
    let subjects = |mbox: &str| mbox.matches("\nSubject: ").count();
    // 0: mail was retrieved; 1: there was none (fetchmail(1), EXIT CODES).
    let first = run(0)?;
    if subjects(&first) != 1 || !first.contains("Hello from the interop suite.") {
        return Err(format!("first run delivered {first:?}"));
    }
    let new = dir.join("mail/example.test/alice/new/1700000001.M2P1Q2.interop");
    std::fs::write(
        &new,
        b"From: carol@example.test\r\nSubject: second\r\n\r\nsecond body\r\n",
    )
    .map_err(|e| format!("{}: {e}", new.display()))?;
    let second = run(0)?;
    if subjects(&second) != 2 || !second.contains("second body") {
        return Err(format!("second run: {second:?}"));
    }
    let third = run(1)?;
    if subjects(&third) != 2 {
        return Err(format!("the third run fetched again: {third:?}"));
    }
    Ok(())
}

/// `python3 client.py ARGS…` to completion (bounded); its stdout must start with `ok`.
fn python(root: &Path, args: &[&str]) -> Result<String, String> {
    python_step(root, SCRIPT, args, EXCHANGE)
}
