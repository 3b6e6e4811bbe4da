//! CONDSTORE and QRESYNC (RFC 7162) in memory: MODSEQ in FETCH, CHANGEDSINCE,
//! STORE UNCHANGEDSINCE with MODIFIED, SEARCH MODSEQ, STATUS HIGHESTMODSEQ, another
//! session's changes with UID and MODSEQ, SELECT (QRESYNC …) and VANISHED.

#![allow(clippy::unwrap_used)]

mod common;

use common::{alice, login, response, setup, ONE, TWO};
use torsion_core::testkit::TestPeer;

/// The number in `[NAME n]` among `lines`.
fn code(lines: &[String], name: &str) -> u64 {
    let start = format!("[{name} ");
    lines
        .iter()
        .find_map(|l| {
            let at = l.find(&start)? + start.len();
            l[at..].split(']').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

/// The MODSEQ of one FETCH line.
fn modseq(line: &str) -> u64 {
    let at = line.find("MODSEQ (").unwrap() + "MODSEQ (".len();
    line[at..].split(')').next().unwrap().parse().unwrap()
}

async fn command(c: &mut TestPeer, tag: &str, text: &str) -> Vec<String> {
    c.send_line(&format!("{tag} {text}")).await;
    response(c, tag).await
}

#[tokio::test(start_paused = true)]
async fn condstore_modseqs_changedsince_and_conditional_store() {
    let s = setup();
    for _ in 0..3 {
        s.store.deliver(&[alice()], &[ONE]).unwrap();
    }
    let mut c = login(&s).await;
    let caps = command(&mut c, "c", "CAPABILITY").await;
    assert!(
        caps[0].contains(" CONDSTORE") && caps[0].contains(" QRESYNC"),
        "{caps:?}"
    );
    // Plain SELECT: no HIGHESTMODSEQ until CONDSTORE is enabled.
    let plain = command(&mut c, "s", "SELECT INBOX").await;
    assert!(
        !plain.iter().any(|l| l.contains("HIGHESTMODSEQ")),
        "{plain:?}"
    );
    // FETCH MODSEQ enables it: HIGHESTMODSEQ comes first (RFC 7162 §3.1.2.1).
    let first = command(&mut c, "f", "FETCH 1:* (FLAGS MODSEQ)").await;
    assert!(first[0].starts_with("* OK [HIGHESTMODSEQ "), "{first:?}");
    let highest = code(&first, "HIGHESTMODSEQ");
    let seqs: Vec<u64> = first[1..4].iter().map(|l| modseq(l)).collect();
    assert!(seqs.iter().all(|&m| m <= highest && m > 0), "{first:?}");
    assert_eq!(
        first[1],
        format!("* 1 FETCH (FLAGS (\\Recent) MODSEQ ({}))", seqs[0])
    );

    // STORE UNCHANGEDSINCE: the current MODSEQ passes, an old one fails with MODIFIED.
    let ok = command(
        &mut c,
        "t",
        &format!("STORE 1 (UNCHANGEDSINCE {}) +FLAGS (\\Flagged)", seqs[0]),
    )
    .await;
    assert_eq!(ok.len(), 2, "{ok:?}");
    assert!(
        ok[0].starts_with("* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent) MODSEQ ("),
        "{ok:?}"
    );
    let flagged = modseq(&ok[0]);
    assert!(flagged > highest, "{ok:?}");
    assert_eq!(ok[1], "t OK STORE completed");
    let refused = command(
        &mut c,
        "u",
        &format!(
            "UID STORE 1:2 (UNCHANGEDSINCE {}) +FLAGS.SILENT (\\Seen)",
            seqs[1]
        ),
    )
    .await;
    // UID 2 was unchanged since: updated, and .SILENT still tells its new MODSEQ.
    assert!(
        refused[0].starts_with("* 2 FETCH (UID 2 MODSEQ ("),
        "{refused:?}"
    );
    assert_eq!(
        refused.last().unwrap(),
        "u OK [MODIFIED 1] Conditional UID STORE failed for some messages"
    );
    let seen2 = modseq(&refused[0]);

    // CHANGEDSINCE: only what changed after, with MODSEQ.
    let changed = command(
        &mut c,
        "g",
        &format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})"),
    )
    .await;
    assert_eq!(
        changed,
        [
            format!("* 1 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ ({flagged}))"),
            format!("* 2 FETCH (FLAGS (\\Seen \\Recent) MODSEQ ({seen2}))"),
            "g OK FETCH completed".to_owned(),
        ]
    );
    // SEARCH MODSEQ: the hits and their highest MODSEQ.
    let found = command(&mut c, "h", &format!("SEARCH MODSEQ {flagged}")).await;
    assert_eq!(found[0], format!("* SEARCH 1 2 (MODSEQ {seen2})"));
    let none = command(&mut c, "h2", &format!("SEARCH MODSEQ {}", seen2 + 1)).await;
    assert_eq!(none[0], "* SEARCH");
    let status = command(&mut c, "st", "STATUS INBOX (HIGHESTMODSEQ MESSAGES)").await;
    assert_eq!(
        status[0],
        format!("* STATUS \"INBOX\" (HIGHESTMODSEQ {seen2} MESSAGES 3)")
    );

    // Another session's change reaches this one with UID and MODSEQ.
    let mut other = login(&s).await;
    command(&mut other, "s", "SELECT INBOX").await;
    command(&mut other, "t", "STORE 3 +FLAGS (\\Answered)").await;
    let noop = command(&mut c, "n", "NOOP").await;
    assert!(
        noop[0].starts_with("* 3 FETCH (UID 3 FLAGS (\\Answered \\Recent) MODSEQ ("),
        "{noop:?}"
    );
    // A conditional store on something another session changed fails for it.
    let raced = command(
        &mut other,
        "r",
        &format!("STORE 1 (UNCHANGEDSINCE {highest}) -FLAGS (\\Flagged)"),
    )
    .await;
    assert_eq!(
        raced.last().unwrap(),
        "r OK [MODIFIED 1] Conditional STORE failed for some messages"
    );
    // SELECT (CONDSTORE) in a fresh session reports HIGHESTMODSEQ.
    let mut fresh = login(&s).await;
    let sel = command(&mut fresh, "s", "EXAMINE INBOX (CONDSTORE)").await;
    assert!(code(&sel, "HIGHESTMODSEQ") > seen2, "{sel:?}");
    let enabled = command(&mut fresh, "e", "ENABLE CONDSTORE").await;
    assert_eq!(
        enabled[0], "* ENABLED",
        "already enabled by SELECT: {enabled:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn qresync_select_vanished_and_uid_fetch_vanished() {
    let s = setup();
    for body in [ONE, TWO, ONE, TWO] {
        s.store.deliver(&[alice()], &[body]).unwrap();
    }
    let mut c = login(&s).await;
    let early = command(&mut c, "x", "SELECT INBOX (QRESYNC (1 1))").await;
    assert!(early.last().unwrap().starts_with("x BAD "), "{early:?}");
    let enabled = command(&mut c, "e", "ENABLE QRESYNC").await;
    assert_eq!(enabled[0], "* ENABLED QRESYNC");
    let sel = command(&mut c, "s", "SELECT INBOX").await;
    let validity = code(&sel, "UIDVALIDITY");
    let cached = code(&sel, "HIGHESTMODSEQ");

    // While the client is away: UID 2 is expunged, UID 3 flagged, a message arrives.
    let mut other = login(&s).await;
    command(&mut other, "s", "SELECT INBOX").await;
    command(&mut other, "d", "UID STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    command(&mut other, "x", "EXPUNGE").await;
    command(&mut other, "f", "UID STORE 3 +FLAGS (\\Flagged)").await;
    command(&mut c, "l", "LOGOUT").await;
    s.store.deliver(&[alice()], &[ONE]).unwrap();

    let mut c = login(&s).await;
    command(&mut c, "e", "ENABLE QRESYNC").await;
    let resync = command(
        &mut c,
        "s",
        &format!("SELECT INBOX (QRESYNC ({validity} {cached} 1:4))"),
    )
    .await;
    assert!(resync.contains(&"* 4 EXISTS".to_owned()), "{resync:?}");
    assert!(
        resync.contains(&"* VANISHED (EARLIER) 2".to_owned()),
        "{resync:?}"
    );
    let flagged: Vec<&String> = resync.iter().filter(|l| l.contains(" FETCH (")).collect();
    // UID 3 (flagged) and UID 5 (new, beyond the known UIDs: not sent as a change).
    assert_eq!(flagged.len(), 1, "{resync:?}");
    assert!(
        flagged[0].starts_with("* 2 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ ("),
        "{resync:?}"
    );
    // A wrong UIDVALIDITY: a plain select, nothing about changes.
    let stale = command(&mut c, "s2", "SELECT INBOX (QRESYNC (7 1))").await;
    assert!(
        !stale
            .iter()
            .any(|l| l.contains("VANISHED") || l.contains("FETCH")),
        "{stale:?}"
    );
    let vanished = command(
        &mut c,
        "v",
        &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {cached} VANISHED)"),
    )
    .await;
    assert_eq!(vanished[0], "* VANISHED (EARLIER) 2", "{vanished:?}");
    assert!(
        vanished.iter().any(|l| l.starts_with("* 4 FETCH (UID 5 ")),
        "{vanished:?}"
    );
    let bad = command(&mut c, "b", "FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)").await;
    assert!(bad[0].starts_with("b BAD "), "{bad:?}");
    // Expunges are told as VANISHED, and the tagged OK carries HIGHESTMODSEQ.
    command(&mut c, "d", "UID STORE 1,4 +FLAGS.SILENT (\\Deleted)").await;
    let gone = command(&mut c, "x", "EXPUNGE").await;
    assert_eq!(gone[0], "* VANISHED 1,4", "{gone:?}");
    assert!(gone[1].starts_with("x OK [HIGHESTMODSEQ "), "{gone:?}");
    // Nothing vanished since the current MODSEQ: nothing is said.
    let now = code(&gone, "HIGHESTMODSEQ");
    let quiet = command(
        &mut c,
        "q",
        &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {now} VANISHED)"),
    )
    .await;
    assert_eq!(quiet, ["q OK UID FETCH completed"]);
    // Exact, from the store's tombstones: a client that last saw MODSEQ `now` hears of UID 3
    // (expunged since), not of 1, 2 and 4 (gone before it looked).
    command(&mut other, "d3", "UID STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    command(&mut other, "x3", "EXPUNGE").await;
    let mut late = login(&s).await;
    command(&mut late, "e", "ENABLE QRESYNC").await;
    let exact = command(
        &mut late,
        "s",
        &format!("SELECT INBOX (QRESYNC ({validity} {now} 1:10))"),
    )
    .await;
    assert!(
        exact.contains(&"* VANISHED (EARLIER) 3".to_owned()),
        "{exact:?}"
    );
    // From MODSEQ 1, before every expunge: all four.
    let all = command(
        &mut late,
        "s1",
        &format!("SELECT INBOX (QRESYNC ({validity} 1 1:10))"),
    )
    .await;
    assert!(
        all.contains(&"* VANISHED (EARLIER) 1:4".to_owned()),
        "{all:?}"
    );
}
