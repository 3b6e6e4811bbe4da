//! A differential check of torsion-imap against Dovecot 2.3: the same scripted session, driven
//! by our client library (`imap/examples/imap_differential.rs`), runs against each server over
//! its own copy of the same Maildir, and the two normalised transcripts must agree section by
//! section (login, LIST, SELECT/EXAMINE, UID SEARCH, UID FETCH, UID STORE, APPEND, UID
//! COPY/MOVE, EXPUNGE, a second session's NOOP and IDLE, CONDSTORE, a bare-LF message). The
//! example does the normalising (what the RFCs leave free: UIDVALIDITY and MODSEQ values,
//! response text, the order of untagged responses, extra folders and capabilities); a section
//! that differs fails with the differing lines. Both transcripts are kept in
//! var/interop/imap-differential/ (emptied first).
//!
//! Dovecot runs from /work/shared/peers/dovecot.conf as `cargo xtask bench imap` runs it (see
//! xtask/src/bench/imap/dovecot.rs); the running of both sides is in mail_differential.rs,
//! shared with the POP3 differential, which uses this fixture too.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::mail_differential::{write, Differential};
use super::Report;

/// The sections of the script, as the example names them, and what each one covers.
const SECTIONS: &[(&str, &str)] = &[
    ("login", "LOGIN with a wrong password refused, then accepted; capabilities used"),
    ("list", "LIST \"\" * / % / Work.* / Work.% with CHILDREN attributes"),
    (
        "select",
        "SELECT/EXAMINE counts, UIDNEXT, read-only, a failed SELECT deselects",
    ),
    (
        "search",
        "UID SEARCH with flag, keyword, address, subject, date, size, OR/NOT, BODY/TEXT/HEADER, UID and sequence keys",
    ),
    (
        "fetch",
        "UID FETCH flags, RFC822.SIZE, BODY[] and BODY[HEADER] hashes, BODY[] sets \\Seen",
    ),
    (
        "store",
        "UID STORE +FLAGS/-FLAGS/FLAGS/.SILENT with keywords, FETCH responses with UIDs, a STORE after EXAMINE changes nothing",
    ),
    (
        "append",
        "APPEND with flags and date → APPENDUID, to the selected mailbox, to a missing one → TRYCREATE",
    ),
    (
        "copy-move",
        "UID COPY and UID MOVE between folders, flags and dates kept, EXPUNGE for the moved message",
    ),
    ("expunge", "EXPUNGE of \\Deleted messages, expunged UIDs"),
    (
        "two-sessions",
        "a second session sees the first's APPEND, STORE and EXPUNGE on NOOP, and new mail in IDLE",
    ),
    (
        "condstore",
        "MODSEQ increases on STORE, FETCH responses carry UID and MODSEQ, SEARCH MODSEQ, UNCHANGEDSINCE, CHANGEDSINCE",
    ),
    ("bare-lf", "a message stored with bare LF: RFC822.SIZE and BODY[] in CRLF form"),
    ("logout", "LOGOUT"),
];
/// One fixture message: folder (`""`: INBOX), file name after the unique part, internal date
/// (the file's mtime), text.
struct Fixture {
    folder: &'static str,
    /// `cur` or `new`.
    sub: &'static str,
    /// Maildir info (`:2,FLAGS`) or `""` (a message in `new/`).
    info: &'static str,
    mtime: u64,
    text: String,
}

/// Run the check into `report`.
pub fn run(report: &mut Report) {
    Differential {
        name: "imap-differential",
        binary: "torsion-imap",
        example: "imap_differential",
        dovecot_package: "dovecot-imapd",
        hostname: "imap.differential.test",
        scratch: "var/interop/imap-differential",
        sections: SECTIONS,
        dovecot_addr: |config| config.addr,
        normalise_dovecot,
    }
    .run(report);
}

/// Dovecot's transcript with what Dovecot does differently, where the RFCs allow it, made
/// comparable. (Nothing yet: every rule here needs a comment saying why it is allowed.)
fn normalise_dovecot(transcript: &str) -> String {
    transcript.to_owned()
}

/// A CRLF message from `\n`-separated lines.
fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

/// The fixture, in delivery order (UIDs 1, 2, … within each folder).
fn fixtures() -> Vec<Fixture> {
    let base64_line =
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\n";
    let attachment = base64_line.repeat(20);
    vec![
        Fixture {
            folder: "",
            sub: "cur",
            info: ":2,S",
            mtime: 1_707_134_400, // 2024-02-05 12:00 UTC
            text: crlf(
                "Return-Path: <bob@example.test>\n\
                 From: Bob <bob@example.test>\n\
                 To: Alice <alice@example.test>\n\
                 Cc: Frank <frank@example.test>\n\
                 Subject: Quarterly report\n\
                 Date: Mon, 05 Feb 2024 09:00:00 +0000\n\
                 Message-ID: <fixture-1@example.test>\n\
                 MIME-Version: 1.0\n\
                 Content-Type: text/plain; charset=us-ascii\n\
                 \n\
                 Hi Alice,\n\
                 \n\
                 the quarterly numbers are in. The quick brown fox jumps over the lazy dog.\n\
                 \n\
                 Bob\n",
            ),
        },
        Fixture {
            folder: "",
            sub: "cur",
            info: ":2,",
            mtime: 1_710_072_000, // 2024-03-10 12:00 UTC
            text: crlf(&format!(
                "From: Carol <carol@example.org>\n\
                 To: alice@example.test\n\
                 Subject: Photos from the trip\n\
                 Date: Sun, 10 Mar 2024 18:30:00 +0100\n\
                 Message-ID: <fixture-2@example.org>\n\
                 MIME-Version: 1.0\n\
                 Content-Type: multipart/mixed; boundary=\"b0undary\"\n\
                 \n\
                 This is a multi-part message in MIME format.\n\
                 --b0undary\n\
                 Content-Type: text/plain; charset=us-ascii\n\
                 \n\
                 Two photos attached.\n\
                 --b0undary\n\
                 Content-Type: application/octet-stream; name=\"photo.bin\"\n\
                 Content-Transfer-Encoding: base64\n\
                 Content-Disposition: attachment; filename=\"photo.bin\"\n\
                 \n\
                 {attachment}\
                 --b0undary--\n"
            )),
        },
        Fixture {
            folder: "",
            sub: "cur",
            info: ":2,FR",
            mtime: 1_711_972_800, // 2024-04-01 12:00 UTC
            text: crlf(
                "From: Dave <dave@example.net>\n\
                 To: alice@example.test\n\
                 Subject: =?UTF-8?Q?Caf=C3=A9_menu?=\n\
                 Date: Mon, 01 Apr 2024 08:15:00 -0700\n\
                 Message-ID: <fixture-3@example.net>\n\
                 MIME-Version: 1.0\n\
                 Content-Type: text/plain; charset=utf-8\n\
                 Content-Transfer-Encoding: 8bit\n\
                 \n\
                 Crème brûlée — 4 €\n\
                 Today's agenda is food.\n",
            ),
        },
        Fixture {
            folder: "",
            sub: "cur",
            info: ":2,ST",
            mtime: 1_705_320_000, // 2024-01-15 12:00 UTC
            text: crlf(
                "From: Bob <bob@example.test>\n\
                 To: alice@example.test\n\
                 Subject: Old newsletter\n\
                 Date: Mon, 15 Jan 2024 07:00:00 +0000\n\
                 Message-ID: <fixture-4@example.test>\n\
                 \n\
                 Nothing new.\n",
            ),
        },
        Fixture {
            folder: "",
            sub: "cur",
            info: ":2,Sa",
            mtime: 1_716_292_800, // 2024-05-21 12:00 UTC
            text: crlf(
                "From: Carol <carol@example.org>\n\
                 To: Alice <alice@example.test>\n\
                 Subject: Re: Quarterly report\n\
                 Date: Tue, 21 May 2024 10:00:00 +0000\n\
                 Message-ID: <fixture-5@example.org>\n\
                 In-Reply-To: <fixture-1@example.test>\n\
                 \n\
                 Thanks Bob.\n",
            ),
        },
        Fixture {
            folder: "",
            sub: "new",
            info: "",
            mtime: 1_716_206_400, // 2024-05-20 12:00 UTC
            text: crlf(
                "From: Erin <erin@example.test>\n\
                 To: alice@example.test\n\
                 Subject: Meeting tomorrow\n\
                 Date: Mon, 20 May 2024 16:00:00 +0000\n\
                 Message-ID: <fixture-6@example.test>\n\
                 X-Priority: 1\n\
                 \n\
                 Agenda: budget.\n",
            ),
        },
        Fixture {
            folder: "Archive",
            sub: "cur",
            info: ":2,S",
            mtime: 1_701_432_000, // 2023-12-01 12:00 UTC
            text: crlf(
                "From: Bob <bob@example.test>\n\
                 To: alice@example.test\n\
                 Subject: Archived thread\n\
                 Date: Fri, 01 Dec 2023 09:00:00 +0000\n\
                 Message-ID: <archive-1@example.test>\n\
                 \n\
                 Kept for reference.\n",
            ),
        },
        Fixture {
            folder: "Work",
            sub: "cur",
            info: ":2,",
            mtime: 1_717_243_200, // 2024-06-01 12:00 UTC
            text: crlf(
                "From: Dave <dave@example.net>\n\
                 To: alice@example.test\n\
                 Subject: Project kickoff\n\
                 Date: Sat, 01 Jun 2024 09:00:00 +0000\n\
                 Message-ID: <work-1@example.net>\n\
                 \n\
                 Kickoff on Monday.\n",
            ),
        },
        Fixture {
            folder: "Legacy",
            sub: "cur",
            info: ":2,S",
            mtime: 1_656_936_000, // 2022-07-04 12:00 UTC
            // Bare LF, as many delivery agents store mail (Dovecot's LDA by default).
            text: "From: Old <old@example.test>\n\
                   To: alice@example.test\n\
                   Subject: Stored with LF\n\
                   Date: Mon, 04 Jul 2022 09:00:00 +0000\n\
                   \n\
                   first line\n\
                   second line\n\
                   third line\n\
                   fourth line\n\
                   fifth line\n\
                   sixth line\n\
                   seventh\n"
                .to_owned(),
        },
    ]
}

/// The fixture Maildir++ at `account` (INBOX, `.Archive`, `.Work`, `.Work.Projects`,
/// `.Legacy`), every file and directory owned by `owner` if given.
pub(super) fn write_mail(account: &Path, owner: Option<u32>) -> Result<(), String> {
    let mkdir = |path: &Path| {
        std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
    };
    let folder_dir = |folder: &str| -> PathBuf {
        if folder.is_empty() {
            account.to_path_buf()
        } else {
            account.join(format!(".{folder}"))
        }
    };
    for folder in ["", "Archive", "Work", "Work.Projects", "Legacy"] {
        let dir = folder_dir(folder);
        for sub in ["cur", "new", "tmp"] {
            mkdir(&dir.join(sub))?;
        }
        if !folder.is_empty() {
            write(&dir.join("maildirfolder"), b"")?;
        }
    }
    // Keyword letter `a` of INBOX (the `:2,Sa` message), in Dovecot's format, which
    // torsion-mailstore reads too.
    write(&account.join("dovecot-keywords"), b"0 $Label1\n")?;
    for (i, fixture) in fixtures().iter().enumerate() {
        let n = i + 1;
        // Increasing times in the names: both servers give UIDs in delivery (name) order.
        let name = format!(
            "{}.M{n}P1Q{n}.fixture,S={}{}",
            1_717_000_000 + n as u64,
            fixture.text.len(),
            fixture.info
        );
        let path = folder_dir(fixture.folder).join(fixture.sub).join(name);
        write(&path, fixture.text.as_bytes())?;
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(fixture.mtime);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(mtime))
            .map_err(|e| format!("cannot set the mtime of {}: {e}", path.display()))?;
    }
    if let Some(id) = owner {
        chown_tree(account, id)?;
    }
    Ok(())
}

/// `chown -R id:id dir`.
fn chown_tree(dir: &Path, id: u32) -> Result<(), String> {
    std::os::unix::fs::chown(dir, Some(id), Some(id))
        .map_err(|e| format!("cannot chown {}: {e}", dir.display()))?;
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            chown_tree(&path, id)?;
        } else {
            std::os::unix::fs::chown(&path, Some(id), Some(id))
                .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_names_carry_sizes_and_flags() {
        let dir = std::env::temp_dir().join(format!("xtask-imap-diff-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write_mail(&dir, None).unwrap();
        let cur: Vec<String> = std::fs::read_dir(dir.join("cur"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(cur.len(), 5);
        assert!(cur.iter().any(|n| n.ends_with(":2,Sa")));
        assert_eq!(std::fs::read_dir(dir.join("new")).unwrap().count(), 1);
        assert!(dir.join(".Work.Projects/cur").is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
