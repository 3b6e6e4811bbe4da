//! Commands and errors the other session tests leave out: CHECK, UID EXPUNGE (only the UIDs
//! given, RFC 4315 §2.1), UID COPY with COPYUID, commands in the wrong state, and clients
//! that vanish in the middle of an APPEND (nothing is stored) or lie about a literal's size.

#![allow(clippy::unwrap_used)]

mod common;

use common::{alice, login, response, setup, ONE, TWO};
use torsion_core::testkit::TestPeer;

#[tokio::test(start_paused = true)]
async fn check_uid_expunge_and_uid_copy() {
    let s = setup();
    for _ in 0..3 {
        s.store.deliver(&[alice()], &[ONE]).unwrap();
    }
    let mut c = login(&s).await;
    // Selected-state commands without a selected mailbox.
    for (tag, command) in [
        ("f", "FETCH 1 FLAGS"),
        ("k", "CHECK"),
        ("x", "UID EXPUNGE 1"),
        ("y", "UID COPY 1 Archive"),
    ] {
        c.send_line(&format!("{tag} {command}")).await;
        let line = c.read_line().await.unwrap();
        assert!(
            line.starts_with(&format!("{tag} BAD ")),
            "{command}: {line}"
        );
    }
    c.send_line("s SELECT INBOX").await;
    response(&mut c, "s").await;
    c.send_line("k CHECK").await;
    c.expect_line("k OK CHECK completed").await;
    c.send_line("d STORE 1:3 +FLAGS.SILENT (\\Deleted)").await;
    response(&mut c, "d").await;
    // Only UID 2 goes, though all three are \Deleted.
    c.send_line("u UID EXPUNGE 2").await;
    c.expect_line("* 2 EXPUNGE").await;
    c.expect_line("u OK EXPUNGE completed").await;
    c.send_line("q UID SEARCH DELETED").await;
    c.expect_line("* SEARCH 1 3").await;
    response(&mut c, "q").await;
    c.send_line("c UID COPY 1,3 Archive").await;
    let copied = c.read_line().await.unwrap();
    assert!(
        copied.starts_with("c OK [COPYUID ") && copied.ends_with(" 1,3 1,2] UID COPY completed"),
        "{copied}"
    );
    c.send_line("t STATUS Archive (MESSAGES)").await;
    c.expect_line("* STATUS \"Archive\" (MESSAGES 2)").await;
    response(&mut c, "t").await;
    // UID COPY to a mailbox that does not exist: TRYCREATE, nothing copied.
    c.send_line("n UID COPY 1 Nowhere").await;
    c.expect_line("n NO [TRYCREATE] No such mailbox").await;
    // An EXAMINEd mailbox cannot be expunged.
    c.send_line("e EXAMINE INBOX").await;
    response(&mut c, "e").await;
    c.send_line("x UID EXPUNGE 1").await;
    c.expect_line("x NO [READ-ONLY] The mailbox is read-only (EXAMINE)")
        .await;
    assert_eq!(
        s.store
            .inbox(&alice())
            .unwrap()
            .sync()
            .unwrap()
            .messages
            .len(),
        2
    );
}

/// Start an APPEND of `TWO` announced whole, send only part of it, and vanish.
async fn vanish_mid_append(c: &mut TestPeer, synchronising: bool) {
    let plus = if synchronising { "" } else { "+" };
    c.send_line(&format!("a APPEND INBOX {{{}{plus}}}", TWO.len()))
        .await;
    if synchronising {
        c.expect_line("+ Ready for literal data").await;
    }
    c.send(&TWO[..TWO.len() / 2]).await;
    c.shutdown_write().await;
    c.join().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_vanishes_mid_append_stores_nothing() {
    let s = setup();
    for synchronising in [true, false] {
        let mut c = login(&s).await;
        vanish_mid_append(&mut c, synchronising).await;
    }
    let inbox = s.store.inbox(&alice()).unwrap();
    assert!(inbox.sync().unwrap().messages.is_empty());
    let tmp = std::fs::read_dir(inbox.path().join("tmp")).unwrap().count();
    assert_eq!(tmp, 0, "no partial file left in tmp/");
    // A literal that says less than what follows: what is left of the line after it makes
    // the command malformed, and nothing is stored.
    let mut c = login(&s).await;
    c.send_line("b APPEND INBOX {5}").await;
    c.expect_line("+ Ready for literal data").await;
    c.send(b"Subject: more than five\r\n").await;
    let reply = c.read_line().await.unwrap();
    assert!(reply.starts_with("b BAD "), "{reply}");
    c.send_line("n NOOP").await;
    c.expect_line("n OK NOOP completed").await;
    assert!(inbox.sync().unwrap().messages.is_empty());
}
