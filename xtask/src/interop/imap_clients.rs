//! Interop checks for torsion-imap with three real mail clients, over loopback:
//! - the PyPI `imapclient` library (pinned, [`IMAPCLIENT_VERSION`]; `.ci/run` installs it under
//!   var/interop/python): capabilities before and after LOGIN, a wrong password refused,
//!   NAMESPACE, ID, ENABLE CONDSTORE, LIST with special-use folders; APPEND → APPENDUID, SELECT
//!   with HIGHESTMODSEQ, SEARCH keys, FETCH of ENVELOPE, BODYSTRUCTURE, BODY[] byte for byte,
//!   INTERNALDATE and MODSEQ, flags with CHANGEDSINCE and SEARCH MODSEQ, COPY, MOVE, UID
//!   EXPUNGE, STATUS; CREATE/RENAME (children follow)/DELETE, LSUB, modified UTF-7 names; IDLE
//!   woken by another connection's APPEND;
//! - mbsync (Debian isync) syncing a whole account both ways over a verified STARTTLS: a first
//!   pull of every folder (a sub-folder, flags, a 300 kB message), changes on both sides (flags,
//!   deletions, new folders and messages) each seen on the other, then a sync that changes
//!   nothing;
//! - NeoMutt, its curses screens on a pseudo-terminal driven by pushed and typed keys: `-Z` with
//!   and without new (UNSEEN, then \Recent) mail, reading and piping messages (byte for byte,
//!   \Seen only once displayed), flagging, copying, saving, deleting, the folder browser's
//!   listing and create/rename/delete, and sending from the compose menu with the copy
//!   APPENDed to Sent.
//!
//! The scripts are `xtask/interop-data/imap/{imapclient,mbsync,neomutt}_check.py`; each step is
//! a check of its own, printing `ok` or exiting non-zero with its reason, and is bounded in
//! time. One torsion-imap (started as in [`imap_suite`](super::imap_suite)) serves the three
//! accounts, with STARTTLS for mbsync and plaintext LOGIN allowed for the others; it listens on
//! port 0 and is stopped by PID. Scratch files go under var/interop/imap-clients/ (emptied
//! first). mbsync's and NeoMutt's steps build on the account an earlier step left: a step whose
//! prerequisite failed is reported as skipped.

use std::time::Duration;

use super::imap_suite::setup;
use super::mail_server::MailServer as Imap;
use super::{make_certificate, python_step, require, Report};
use crate::util;

/// The imapclient version `.ci/run` installs.
const IMAPCLIENT_VERSION: &str = "4.1.0";
/// Scratch directory, relative to the workspace root.
const SCRATCH: &str = "var/interop/imap-clients";
/// The scripts, relative to the workspace root.
const SCRIPTS: &str = "xtask/interop-data/imap";
/// One account per client, as each script expects (`{PLAIN}` in the users file).
const USERS: &str = "alice@example.test:{PLAIN}wonderland\n\
                     sync@example.test:{PLAIN}sync-secret\n\
                     mutt@example.test:{PLAIN}mutt-secret\n";
/// Bound on one imapclient step (10 s socket timeout per operation, IDLE waits 10 s).
const IMAPCLIENT_STEP: Duration = Duration::from_secs(60);
/// Bound on one mbsync step (one mbsync run of at most 60 s, plus imaplib checks).
const MBSYNC_STEP: Duration = Duration::from_secs(150);
/// Bound on one NeoMutt step (up to four NeoMutt runs of at most 30 s each, plus imaplib).
const NEOMUTT_STEP: Duration = Duration::from_secs(180);

/// imapclient's steps (independent of each other): script step and check name.
const IMAPCLIENT_STEPS: &[(&str, &str)] = &[
    (
        "session",
        "imap-imapclient-session (imapclient: capabilities before and after LOGIN, wrong password refused, NAMESPACE, ID, ENABLE CONDSTORE, LIST with special-use flags, no XLIST)",
    ),
    (
        "messages",
        "imap-imapclient-messages (imapclient: APPEND → APPENDUID, SELECT with HIGHESTMODSEQ, SEARCH keys, FETCH ENVELOPE/BODYSTRUCTURE/BODY[]/INTERNALDATE/MODSEQ, flags, CHANGEDSINCE, SEARCH MODSEQ, COPY, MOVE, UID EXPUNGE, EXPUNGE, STATUS)",
    ),
    (
        "folders",
        "imap-imapclient-folders (imapclient: CREATE with a sub-folder, LIST patterns and \\HasChildren, RENAME with children, SUBSCRIBE/LSUB, modified UTF-7 name, DELETE)",
    ),
    (
        "idle",
        "imap-imapclient-idle (imapclient: IDLE sees another connection's APPEND as EXISTS, DONE, FETCH of the new message)",
    ),
];

/// A step of a script that builds on an earlier one: its name, the step that must have passed
/// before it, and the check name.
type Step = (&'static str, Option<&'static str>, &'static str);

/// mbsync's steps, in order (each builds on the one before).
const MBSYNC_STEPS: &[Step] = &[
    (
        "pull",
        None,
        "imap-mbsync-pull (mbsync over verified STARTTLS: a seeded account — special-use folders, a sub-folder, flags, a 300 kB message — synced into an empty Maildir, identical)",
    ),
    (
        "changes",
        Some("pull"),
        "imap-mbsync-changes (mbsync both ways: flags, deletions, \\Deleted, new folders and messages on each side reach the other; accounts identical)",
    ),
    (
        "resync",
        Some("changes"),
        "imap-mbsync-resync (mbsync with nothing to do changes neither side)",
    ),
];

/// NeoMutt's steps, in order: new-mail writes the muttrc and fills INBOX; change works on what
/// read left.
const NEOMUTT_STEPS: &[Step] = &[
    (
        "new-mail",
        None,
        "imap-neomutt-new-mail (neomutt -Z: no new mail on an empty account; after APPENDs, opens INBOX with 3 messages, 2 new, by STATUS UNSEEN)",
    ),
    (
        "recent-mail",
        Some("new-mail"),
        "imap-neomutt-recent-mail (neomutt -Z with mail_check_recent: another session's APPEND is \\Recent in STATUS, so -Z opens that folder)",
    ),
    (
        "read",
        Some("new-mail"),
        "imap-neomutt-read (neomutt index: messages piped byte for byte without changing flags; a displayed message becomes \\Seen)",
    ),
    (
        "change",
        Some("read"),
        "imap-neomutt-change (neomutt: flag, copy to Archive, save to Trash, delete — each seen on the server)",
    ),
    (
        "browse",
        Some("new-mail"),
        "imap-neomutt-browse (neomutt folder browser: LIST shows the folders; create a sub-folder, rename and delete it)",
    ),
    (
        "send",
        Some("new-mail"),
        "imap-neomutt-send (neomutt compose menu: the message reaches $sendmail and its \\Seen copy (Fcc) is APPENDed to Sent)",
    ),
];

/// Run the imapclient, mbsync and NeoMutt checks into `report`.
pub fn run(report: &mut Report) {
    if let Err(e) = util::cargo_build(&["-p", "torsion-imap", "--bin", "torsion-imap"]) {
        report.fail("imap-clients: build torsion-imap", &e);
        return;
    }
    let root = util::workspace_root();
    let scratch = root.join(SCRATCH);
    let _ = std::fs::remove_dir_all(&scratch);
    if let Err(e) = setup(&scratch, USERS) {
        report.fail("imap-clients: write the users file and the mail root", &e);
        return;
    }
    let cert = format!("{SCRATCH}/cert.pem");
    let start = || -> Result<Imap, String> {
        let key = format!("{SCRATCH}/key.pem");
        make_certificate(&require("openssl", "openssl")?, &root, &key, &cert)?;
        Imap::start(
            "torsion-imap",
            &root,
            SCRATCH,
            "imap-clients",
            &[],
            &[
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--allow-plaintext-auth",
            ],
        )
    };
    let server = match start() {
        Ok(server) => server,
        Err(e) => {
            report.fail("imap-clients: start torsion-imap", &e);
            return;
        }
    };
    let port = server.port.to_string();

    let script = format!("{SCRIPTS}/imapclient_check.py");
    let mut library = Ok(());
    report.check(
        &format!("imap-imapclient-library (python3 imports imapclient {IMAPCLIENT_VERSION})"),
        || {
            let outcome = python_step(
                &root,
                &script,
                &["version", IMAPCLIENT_VERSION],
                IMAPCLIENT_STEP,
            );
            // A different version still runs the steps; no library at all skips them.
            if let Err(e) = &outcome {
                if e.contains("cannot import imapclient") {
                    library = Err(
                        "skipped: imapclient cannot be imported (see imap-imapclient-library)"
                            .to_owned(),
                    );
                }
            }
            outcome.map(|_| ())
        },
    );
    for (step, name) in IMAPCLIENT_STEPS {
        report.check(name, || {
            library.clone()?;
            python_step(&root, &script, &[*step, &port], IMAPCLIENT_STEP).map(|_| ())
        });
    }

    let mbsync = require("mbsync", "isync").map(|_| ());
    sequence(report, &mbsync, MBSYNC_STEPS, |step| {
        let script = format!("{SCRIPTS}/mbsync_check.py");
        python_step(&root, &script, &[step, &port, SCRATCH, &cert], MBSYNC_STEP)
    });
    let neomutt = require("neomutt", "neomutt").map(|_| ());
    sequence(report, &neomutt, NEOMUTT_STEPS, |step| {
        let script = format!("{SCRIPTS}/neomutt_check.py");
        python_step(&root, &script, &[step, &port, SCRATCH], NEOMUTT_STEP)
    });

    if let Err(e) = server.stop() {
        report.fail("imap-clients: torsion-imap exits 0 on SIGTERM", &e);
    }
}

/// One check per step of `steps`, in order, each run by `run` once `tool` is there and its
/// prerequisite has passed (it works on the account that step left); otherwise it fails as
/// skipped.
fn sequence(
    report: &mut Report,
    tool: &Result<(), String>,
    steps: &[Step],
    run: impl Fn(&str) -> Result<String, String>,
) {
    let mut passed: Vec<&str> = Vec::new();
    for (step, after, name) in steps {
        report.check(name, || {
            tool.clone()?;
            if let Some(needed) = after.filter(|needed| !passed.contains(needed)) {
                return Err(format!("skipped: it needs step {needed:?}, which failed"));
            }
            run(step)?;
            passed.push(step);
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_step_exists() {
        let root = util::workspace_root();
        let names = |steps: &[Step]| -> Vec<(&str, &str)> {
            steps.iter().map(|(step, _, name)| (*step, *name)).collect()
        };
        for (script, steps) in [
            ("imapclient_check.py", IMAPCLIENT_STEPS.to_vec()),
            ("mbsync_check.py", names(MBSYNC_STEPS)),
            ("neomutt_check.py", names(NEOMUTT_STEPS)),
        ] {
            let text = std::fs::read_to_string(root.join(SCRIPTS).join(script)).unwrap();
            for (step, name) in steps {
                assert!(
                    text.contains(&format!("\"{step}\": ")),
                    "{script} lacks {step}"
                );
                assert!(name.starts_with("imap-"), "{name}");
            }
        }
    }

    #[test]
    fn a_failed_step_skips_those_that_need_it() {
        const STEPS: &[Step] = &[
            ("a", None, "a"),
            ("b", Some("a"), "b"),
            ("c", None, "c"),
            ("d", Some("c"), "d"),
        ];
        let ran = std::cell::RefCell::new(Vec::new());
        let mut report = Report::default();
        sequence(&mut report, &Ok(()), STEPS, |step| {
            ran.borrow_mut().push(step.to_owned());
            if step == "a" {
                Err("broken".into())
            } else {
                Ok("ok".into())
            }
        });
        assert_eq!(*ran.borrow(), ["a", "c", "d"]);
        assert_eq!((report.passed, report.failed), (2, 2));
        let missing = Err("mbsync not found on PATH (apt-get install isync)".to_owned());
        let mut report = Report::default();
        sequence(&mut report, &missing, STEPS, |_| {
            unreachable!("no tool, no run")
        });
        assert_eq!((report.passed, report.failed), (0, 4));
    }

    #[test]
    fn prerequisites_come_earlier() {
        for steps in [MBSYNC_STEPS, NEOMUTT_STEPS] {
            for (i, (_, after, _)) in steps.iter().enumerate() {
                if let Some(after) = after {
                    assert!(steps[..i].iter().any(|(s, _, _)| s == after), "{after}");
                }
            }
        }
    }
}
