//! A differential check of torsion-pop3 against Dovecot 2.3's pop3d: the same scripted session,
//! driven by our client library (`pop3/examples/pop3_differential.rs`), runs against each
//! server over its own copy of the same Maildir (the IMAP differential's fixture), and the two
//! normalised transcripts must agree section by section (CAPA, login, STAT/LIST/UIDL, RETR
//! plain and pipelined, TOP, DELE/RSET, IN-USE, the UPDATE state). Both transcripts are kept in
//! var/interop/pop3-differential/ (emptied first).
//!
//! Dovecot runs as in the IMAP differential (see imap_differential.rs): from
//! /work/shared/peers/dovecot.conf, on 127.0.0.4, mail owned by uid/gid 65534; its POP3
//! listener is the template's. Every process is bounded in time and stopped by its PID.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use super::imap_differential::{diff, sections, write, write_mail};
use super::{Client, Report};
use crate::bench::imap::dovecot;
use crate::util::{self, ServerProcess};

/// Scratch directory, relative to the workspace root.
const SCRATCH: &str = "var/interop/pop3-differential";
const USER: &str = "alice@example.test";
const PASSWORD: &str = "wonderland";
/// Dovecot's address (not 127.0.0.1, which Dovecot treats as a secure local client).
const DOVECOT_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// Bound on a server starting.
const START: Duration = Duration::from_secs(20);
/// Bound on one run of the scripted session (failed logins are delayed 2 s by both).
const SESSION: Duration = Duration::from_secs(120);

/// The sections of the script and what each covers.
const SECTIONS: &[(&str, &str)] = &[
    (
        "capa",
        "CAPA lists TOP, UIDL, USER, PIPELINING, RESP-CODES, AUTH-RESP-CODE",
    ),
    (
        "login",
        "a wrong password refused with [AUTH], then USER/PASS",
    ),
    (
        "listing",
        "STAT, LIST (sizes with CRLF), UIDL shape, UIDL n, LIST of a missing message",
    ),
    (
        "retr",
        "RETR of every message (bytes), a missing one, pipelined RETRs",
    ),
    ("top", "TOP n 0/1/3 of every message (bytes)"),
    (
        "dele",
        "DELE, DELE again, RETR of a deleted message, STAT, RSET, pipelined DELE, NOOP",
    ),
    (
        "in-use",
        "a second session for the same maildrop gets [IN-USE]",
    ),
    (
        "update",
        "QUIT removes the deleted messages; the next session keeps the other UIDLs",
    ),
];

/// Run the check into `report`.
pub fn run(report: &mut Report) {
    if let Err(e) = util::cargo_build(&[
        "-p",
        "torsion-pop3",
        "--bin",
        "torsion-pop3",
        "--example",
        "pop3_differential",
    ]) {
        report.fail("pop3-differential: build torsion-pop3 and its example", &e);
        return;
    }
    let dovecot_program = match util::find_program("dovecot", "dovecot-pop3d") {
        Ok(p) => p,
        Err(e) => {
            report.fail("pop3-differential: Dovecot", &e);
            return;
        }
    };
    let root = util::workspace_root();
    let scratch = root.join(SCRATCH);
    let _ = std::fs::remove_dir_all(&scratch);
    let ours = match run_torsion(&root, &scratch) {
        Ok(t) => sections(&t),
        Err(e) => {
            report.fail("pop3-differential: the session against torsion-pop3", &e);
            return;
        }
    };
    let theirs = match run_dovecot(&root, &scratch, &dovecot_program) {
        Ok(t) => sections(&t),
        Err(e) => {
            report.fail("pop3-differential: the session against Dovecot", &e);
            return;
        }
    };
    for (name, what) in SECTIONS {
        let check = format!("pop3-differential {name} (torsion-pop3 = Dovecot: {what})");
        report.check(&check, || {
            let a = ours.iter().find(|(n, _)| n == name).map(|(_, l)| l);
            let b = theirs.iter().find(|(n, _)| n == name).map(|(_, l)| l);
            match (a, b) {
                (Some(a), Some(b)) if a == b => Ok(()),
                (Some(a), Some(b)) => Err(format!(
                    "transcripts differ (- torsion-pop3, + Dovecot; both in {SCRATCH}/): {}",
                    diff(a, b).join("\n")
                )),
                (None, _) => Err("no such section in torsion-pop3's transcript".into()),
                (_, None) => Err("no such section in Dovecot's transcript".into()),
            }
        });
    }
}

fn run_torsion(root: &Path, scratch: &Path) -> Result<String, String> {
    let dir = scratch.join("torsion");
    let mail = dir.join("mail");
    write_mail(&mail.join("example.test/alice"), None)?;
    let users = dir.join("users");
    write(&users, format!("{USER}:{{PLAIN}}{PASSWORD}\n").as_bytes())?;
    let args: Vec<String> = [
        "serve",
        "--hostname",
        "pop3.differential.test",
        "--domain",
        "example.test",
        "--mail-root",
        &mail.display().to_string(),
        "--users",
        &users.display().to_string(),
        "--allow-plaintext-auth",
        "--listen",
        "tcp:0:interface=127.0.0.1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let binary = util::release_dir().join("torsion-pop3");
    let mut server = ServerProcess::spawn(
        "torsion-pop3",
        &binary,
        &args,
        root,
        &dir.join("server.log"),
    )?;
    let addresses = server.wait_listening(1, START)?;
    let port = addresses
        .first()
        .and_then(|a| util::port_of(a))
        .ok_or_else(|| format!("no port in {addresses:?}"))?;
    let transcript = session(
        root,
        &format!("127.0.0.1:{port}"),
        &scratch.join("torsion.txt"),
    );
    let stopped = server.stop_cleanly();
    let transcript = transcript?;
    stopped.map_err(|e| format!("torsion-pop3 did not exit cleanly: {e}"))?;
    Ok(transcript)
}

fn run_dovecot(root: &Path, scratch: &Path, program: &Path) -> Result<String, String> {
    let dir = scratch.join("dovecot");
    let mail = dir.join("mail");
    write_mail(&mail.join("example.test/alice"), Some(dovecot::MAIL_ID))?;
    for path in [mail.clone(), mail.join("example.test")] {
        std::os::unix::fs::chown(&path, Some(dovecot::MAIL_ID), Some(dovecot::MAIL_ID))
            .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
    }
    let ip = IpAddr::V4(DOVECOT_IP);
    let addr = std::net::SocketAddr::new(ip, dovecot::free_port(ip)?);
    let config = dovecot::configure(
        &dir.join("conf"),
        &mail,
        addr,
        &[USER.to_owned()],
        PASSWORD,
        dovecot::per_user_limit(4),
    )?;
    let server = dovecot::Dovecot::start(program, &config, root)?;
    let transcript = session(
        root,
        &config.pop3_addr.to_string(),
        &scratch.join("dovecot.txt"),
    );
    let stopped = server.stop();
    let transcript = transcript?;
    stopped.map_err(|e| format!("Dovecot did not stop: {e}"))?;
    Ok(transcript)
}

/// Run the example against `server` (`HOST:PORT`); its stdout, also written to `keep`.
fn session(root: &Path, server: &str, keep: &Path) -> Result<String, String> {
    let example = util::release_dir()
        .join("examples")
        .join("pop3_differential");
    let mut client = Client::spawn(&example, &[server, USER, PASSWORD], root)?;
    let status = client.finish(SESSION)?;
    let stdout = String::from_utf8_lossy(client.stdout()).into_owned();
    write(keep, stdout.as_bytes())?;
    if !status.success() {
        return Err(format!(
            "pop3_differential {server} exited with {}; {}",
            util::describe_status(status),
            client.transcript()
        ));
    }
    Ok(stdout)
}
