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

use super::mail_differential::Differential;
use super::Report;

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
    Differential {
        name: "pop3-differential",
        binary: "torsion-pop3",
        example: "pop3_differential",
        dovecot_package: "dovecot-pop3d",
        hostname: "pop3.differential.test",
        scratch: "var/interop/pop3-differential",
        sections: SECTIONS,
        dovecot_addr: |config| config.pop3_addr,
        normalise_dovecot: str::to_owned,
    }
    .run(report);
}
