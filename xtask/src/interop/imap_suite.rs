//! Interop checks for torsion-imap: Python's imaplib (the standard library's IMAP client)
//! against our server over loopback — LOGIN (a wrong password refused), LIST with special-use
//! folders, SELECT, FETCH of a message delivered into the Maildir (byte for byte), ENVELOPE and
//! BODYSTRUCTURE, SEARCH, STORE,
//! CLOSE; APPEND with flags and a date (APPENDUID), COPY (COPYUID), UID MOVE, EXPUNGE, STATUS,
//! CREATE/RENAME/DELETE with modified UTF-7 names, SUBSCRIBE/LSUB; LOGINDISABLED before
//! STARTTLS then a verified STARTTLS session; implicit TLS (`IMAP4_SSL`) on a `tls:` endpoint.
//! The script is `xtask/interop-data/imap/client.py`; each step prints `ok` or exits non-zero
//! with its reason. Servers listen on port 0 and are stopped by PID; scratch files go under
//! var/interop/imap/ (emptied first).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::mail_server::MailServer as Imap;
use super::{make_certificate, python_step, require, Report};
use crate::util;

/// Bound on one Python step (its socket timeout is 10 s per operation).
const EXCHANGE: Duration = Duration::from_secs(60);
/// The script, relative to the workspace root.
const SCRIPT: &str = "xtask/interop-data/imap/client.py";
/// Scratch directory, relative to the workspace root.
const SCRATCH: &str = "var/interop/imap";
/// The account (`{PLAIN}` in the users file).
const USERS: &str = "alice@example.test:{PLAIN}wonderland\n";
/// The message delivered into alice's Maildir before the checks.
const MESSAGE: &[u8] = b"Return-Path: <bob@example.test>\r\nFrom: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: interop\r\nMessage-ID: <interop-1@example.test>\r\n\r\nHello from the interop suite.\r\n\xe2\x98\x95 8-bit line\r\n";

/// Run every IMAP check into `report`.
pub fn run(report: &mut Report) {
    if let Err(e) = util::cargo_build(&["-p", "torsion-imap", "--bin", "torsion-imap"]) {
        report.fail("imap: build torsion-imap", &e);
        return;
    }
    let root = util::workspace_root();
    let scratch = root.join(SCRATCH);
    let _ = std::fs::remove_dir_all(&scratch);
    if let Err(e) = setup(&scratch, USERS) {
        report.fail("imap: write the users file and the mail root", &e);
        return;
    }
    match Imap::start(
        "torsion-imap",
        &root,
        SCRATCH,
        "imap-plain",
        &[],
        &["--allow-plaintext-auth"],
    ) {
        Ok(server) => {
            let port = server.port.to_string();
            let expected = format!("{SCRATCH}/expected.eml");
            report.check(
                "imap-read-mail (imaplib: LOGIN, wrong password refused, LIST with \\Sent, SELECT, FETCH of a delivered message byte for byte, ENVELOPE and BODYSTRUCTURE, SEARCH and UID SEARCH, STORE, CLOSE)",
                || python(&root, &["read-mail", &port, &expected]).map(|_| ()),
            );
            report.check(
                "imap-folders (imaplib: APPEND with flags and date → APPENDUID, COPY → COPYUID, UID MOVE, STATUS, EXPUNGE, CREATE/RENAME/DELETE in modified UTF-7, SUBSCRIBE/LSUB)",
                || python(&root, &["folders", &port]).map(|_| ()),
            );
            if let Err(e) = server.stop() {
                report.fail("imap: torsion-imap exits 0 on SIGTERM", &e);
            }
        }
        Err(e) => report.fail("imap: start torsion-imap", &e),
    }
    let tls = || -> Result<(Imap, String, String), String> {
        let key = format!("{SCRATCH}/key.pem");
        let cert = format!("{SCRATCH}/cert.pem");
        make_certificate(&require("openssl", "openssl")?, &root, &key, &cert)?;
        let endpoint = format!("tls:0:privateKey={key}:certKey={cert}:interface=127.0.0.1");
        let server = Imap::start(
            "torsion-imap",
            &root,
            SCRATCH,
            "imap-tls",
            &[&endpoint],
            &["--tls-cert", &cert, "--tls-key", &key],
        )?;
        Ok((server, cert, endpoint))
    };
    match tls() {
        Ok((server, cert, _)) => {
            let plain = server.port_of("tcp:").map(|p| p.to_string());
            let secure = server.port_of("tls:").map(|p| p.to_string());
            report.check(
                "imap-starttls (imaplib: LOGINDISABLED and LOGIN refused before STARTTLS; after it, certificate verified, LOGIN)",
                || python(&root, &["starttls", &plain?, &cert]).map(|_| ()),
            );
            report.check(
                "imap-implicit-tls (imaplib IMAP4_SSL on a tls: endpoint, certificate verified, LOGIN, EXAMINE)",
                || python(&root, &["implicit-tls", &secure?, &cert]).map(|_| ()),
            );
            if let Err(e) = server.stop() {
                report.fail("imap: torsion-imap (TLS) exits 0 on SIGTERM", &e);
            }
        }
        Err(e) => report.fail("imap: start torsion-imap with TLS", &e),
    }
}

/// The users file (`users`: lines `USER@DOMAIN:{PLAIN}PASSWORD`), and the message delivered
/// into alice's INBOX as torsion-smtp would (a file in `new/`), with a copy the script compares
/// against.
pub(super) fn setup(scratch: &Path, users: &str) -> Result<(), String> {
    let new = scratch.join("mail/example.test/alice/new");
    for dir in [
        new.clone(),
        scratch.join("mail/example.test/alice/cur"),
        scratch.join("mail/example.test/alice/tmp"),
    ] {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let write = |path: PathBuf, bytes: &[u8]| {
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    write(scratch.join("users"), users.as_bytes())?;
    write(
        new.join(format!("1700000000.M1P1Q1.interop,S={}", MESSAGE.len())),
        MESSAGE,
    )?;
    write(scratch.join("expected.eml"), MESSAGE)
}

/// `python3 client.py ARGS…` to completion (bounded); its stdout must start with `ok`.
fn python(root: &Path, args: &[&str]) -> Result<String, String> {
    python_step(root, SCRIPT, args, EXCHANGE)
}
