//! The selected state in memory: SELECT/EXAMINE, FETCH, STORE, EXPUNGE, COPY/MOVE, APPEND,
//! STATUS, and two sessions (and torsion-smtp's delivery path) seeing each other's changes.

#![allow(clippy::unwrap_used)]

mod common;

use common::{alice, login, response, setup, ONE, TWO};

#[tokio::test(start_paused = true)]
async fn select_fetch_store_expunge() {
    let s = setup();
    s.store.deliver(&[alice()], &[ONE]).unwrap();
    s.store.deliver(&[alice()], &[TWO]).unwrap();
    let mut c = login(&s).await;
    c.send_line("s SELECT INBOX").await;
    let lines = response(&mut c, "s").await;
    assert!(lines.contains(&"* 2 EXISTS".to_owned()), "{lines:?}");
    assert!(
        lines.contains(&"* 2 RECENT".to_owned()),
        "IMAP4rev1 needs RECENT, and this first session gets both: {lines:?}"
    );
    assert!(lines.iter().any(
        |l| l.starts_with("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded")
    ));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("* OK [PERMANENTFLAGS (") && l.contains("\\*)")));
    assert!(lines.contains(&"* OK [UNSEEN 1] First unseen".to_owned()));
    assert!(lines.iter().any(|l| l.starts_with("* OK [UIDVALIDITY ")));
    assert!(lines.contains(&"* OK [UIDNEXT 3] Predicted next UID".to_owned()));
    assert_eq!(lines.last().unwrap(), "s OK [READ-WRITE] SELECT completed");

    c.send_line("f1 FETCH 1:* (UID FLAGS RFC822.SIZE)").await;
    c.expect_line(&format!(
        "* 1 FETCH (UID 1 FLAGS (\\Recent) RFC822.SIZE {})",
        ONE.len()
    ))
    .await;
    c.expect_line(&format!(
        "* 2 FETCH (UID 2 FLAGS (\\Recent) RFC822.SIZE {})",
        TWO.len()
    ))
    .await;
    c.expect_line("f1 OK FETCH completed").await;
    // PEEK leaves \Seen alone; BODY[] sets it and says so.
    c.send_line("f2 FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject)]")
        .await;
    c.expect_line("* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {18}")
        .await;
    c.expect_line("Subject: first").await;
    c.expect_line("").await;
    c.expect_line(")").await;
    c.expect_line("f2 OK FETCH completed").await;
    c.send_line("f3 FETCH 1 (BODY[TEXT])").await;
    c.expect_line("* 1 FETCH (BODY[TEXT] {13}").await;
    c.expect_line("Hello Alice").await;
    c.expect_line(" FLAGS (\\Seen \\Recent))").await;
    c.expect_line("f3 OK FETCH completed").await;
    c.send_line("f4 UID FETCH 2 (BODY.PEEK[]<0.10> INTERNALDATE)")
        .await;
    let line = c.read_line().await.unwrap();
    assert_eq!(line, "* 2 FETCH (UID 2 BODY[]<0> {10}");
    let rest = c.read_line().await.unwrap();
    assert!(rest.starts_with("From: caro INTERNALDATE \""), "{rest}");
    assert!(rest.ends_with(" +0000\")"), "{rest}");
    c.expect_line("f4 OK UID FETCH completed").await;
    c.send_line("f5 FETCH 3 FLAGS").await;
    c.expect_line("f5 BAD Invalid message sequence number")
        .await;
    // UIDs that do not exist are no error; `n:*` always includes the last (§6.4.8).
    c.send_line("f6 UID FETCH 100:200 FLAGS").await;
    c.expect_line("f6 OK UID FETCH completed").await;
    c.send_line("f7 UID FETCH 100:* FLAGS").await;
    c.expect_line("* 2 FETCH (UID 2 FLAGS (\\Recent))").await;
    c.expect_line("f7 OK UID FETCH completed").await;

    // STORE: flags and keywords, silent or not.
    c.send_line("t1 STORE 2 +FLAGS (\\Flagged $Junk)").await;
    c.expect_line("* 2 FETCH (FLAGS (\\Flagged \\Recent $Junk))")
        .await;
    c.expect_line("t1 OK STORE completed").await;
    c.send_line("t2 UID STORE 1:2 +FLAGS.SILENT (\\Deleted)")
        .await;
    c.expect_line("t2 OK UID STORE completed").await;
    c.send_line("t3 STORE 1 -FLAGS (\\Deleted)").await;
    c.expect_line("* 1 FETCH (FLAGS (\\Seen \\Recent))").await;
    c.expect_line("t3 OK STORE completed").await;
    c.send_line("t4 STORE 1 +FLAGS (\\Recent)").await;
    c.expect_line("t4 BAD Invalid flag in STORE").await;
    c.send_line("e EXPUNGE").await;
    c.expect_line("* 2 EXPUNGE").await;
    c.expect_line("e OK EXPUNGE completed").await;
    let left = s.store.inbox(&alice()).unwrap().sync().unwrap();
    assert_eq!(left.messages.len(), 1);
    assert_eq!(left.messages[0].uid, 1);
    // The keyword survived in Dovecot's file.
    assert_eq!(left.keywords.index_of("$Junk"), Some(0));
}

#[tokio::test(start_paused = true)]
async fn examine_is_read_only_and_status_counts() {
    let s = setup();
    s.store.deliver(&[alice()], &[ONE]).unwrap();
    let mut c = login(&s).await;
    c.send_line("st STATUS INBOX (MESSAGES UNSEEN UIDNEXT SIZE)")
        .await;
    c.expect_line(&format!(
        "* STATUS \"INBOX\" (MESSAGES 1 UNSEEN 1 UIDNEXT 2 SIZE {})",
        ONE.len()
    ))
    .await;
    c.expect_line("st OK STATUS completed").await;
    c.send_line("x EXAMINE INBOX").await;
    let lines = response(&mut c, "x").await;
    assert!(
        lines.contains(&"* OK [PERMANENTFLAGS ()] Flags permitted".to_owned()),
        "{lines:?}"
    );
    assert_eq!(lines.last().unwrap(), "x OK [READ-ONLY] EXAMINE completed");
    c.send_line("f FETCH 1 BODY[]").await;
    let lines = response(&mut c, "f").await;
    assert!(
        !lines.iter().any(|l| l.contains("\\Seen")),
        "EXAMINE never sets \\Seen: {lines:?}"
    );
    c.send_line("t STORE 1 +FLAGS (\\Seen)").await;
    c.expect_line("t NO [READ-ONLY] The mailbox is read-only (EXAMINE)")
        .await;
    // A failed SELECT still deselects (RFC 9051 §6.3.2), and says so (§7.1, CLOSED).
    c.send_line("n SELECT Nope").await;
    c.expect_line("* OK [CLOSED] Previous mailbox closed").await;
    c.expect_line("n NO [NONEXISTENT] No such mailbox").await;
    c.send_line("f2 FETCH 1 FLAGS").await;
    c.expect_line("f2 BAD FETCH needs a selected mailbox").await;
}

#[tokio::test(start_paused = true)]
async fn append_copy_move_with_uidplus() {
    let s = setup();
    let mut c = login(&s).await;
    c.send_line(&format!(
        "p APPEND Drafts (\\Draft $Work) \"13-Sep-2020 12:26:40 +0000\" {{{}}}",
        TWO.len()
    ))
    .await;
    c.expect_line("+ Ready for literal data").await;
    c.send(TWO).await;
    c.send(b"\r\n").await;
    let ok = c.read_line().await.unwrap();
    assert!(
        ok.starts_with("p OK [APPENDUID ") && ok.ends_with(" 1] APPEND completed"),
        "{ok}"
    );
    c.send_line(&format!("p2 APPEND Nowhere {{{}+}}", TWO.len()))
        .await;
    c.send(TWO).await;
    c.send(b"\r\n").await;
    c.expect_line("p2 NO [TRYCREATE] No such mailbox").await;
    c.send_line("s SELECT Drafts").await;
    response(&mut c, "s").await;
    c.send_line("f FETCH 1 (FLAGS INTERNALDATE)").await;
    c.expect_line(
        "* 1 FETCH (FLAGS (\\Draft \\Recent $Work) INTERNALDATE \"13-Sep-2020 12:26:40 +0000\")",
    )
    .await;
    c.expect_line("f OK FETCH completed").await;
    c.send_line("c COPY 1 Archive").await;
    let ok = c.read_line().await.unwrap();
    assert!(
        ok.starts_with("c OK [COPYUID ") && ok.ends_with(" 1 1] COPY completed"),
        "{ok}"
    );
    c.send_line("m UID MOVE 1 Trash").await;
    let moved = c.read_line().await.unwrap();
    assert!(
        moved.starts_with("* OK [COPYUID ") && moved.ends_with(" 1 1] Moved"),
        "{moved}"
    );
    c.expect_line("* 1 EXPUNGE").await;
    c.expect_line("m OK UID MOVE completed").await;
    let trash = s.store.folder(&alice(), "Trash").unwrap().sync().unwrap();
    assert_eq!(trash.messages.len(), 1);
    assert_eq!(
        trash.keywords.names_of(trash.messages[0].keywords),
        ["$Work"]
    );
    assert!(s
        .store
        .folder(&alice(), "Drafts")
        .unwrap()
        .sync()
        .unwrap()
        .messages
        .is_empty());
    c.send_line("u UNSELECT").await;
    c.expect_line("u OK UNSELECT completed").await;
}

#[tokio::test(start_paused = true)]
async fn two_sessions_and_a_delivery_see_each_others_changes() {
    let s = setup();
    s.store.deliver(&[alice()], &[ONE]).unwrap();
    let mut a = login(&s).await;
    let mut b = login(&s).await;
    for (c, t) in [(&mut a, "sa"), (&mut b, "sb")] {
        c.send_line(&format!("{t} SELECT INBOX")).await;
        response(c, t).await;
    }
    // A delivers nothing, B flags, mail arrives: A learns at its next command.
    b.send_line("t STORE 1 +FLAGS (\\Flagged)").await;
    response(&mut b, "t").await;
    s.store.deliver(&[alice()], &[TWO]).unwrap();
    a.send_line("n NOOP").await;
    // A selected first: both messages are recent there (RFC 3501 §2.3.2), not in B.
    a.expect_line("* 1 FETCH (FLAGS (\\Flagged \\Recent))")
        .await;
    a.expect_line("* 2 EXISTS").await;
    a.expect_line("* 2 RECENT").await;
    a.expect_line("n OK NOOP completed").await;
    b.send_line("r SEARCH RECENT").await;
    let told = response(&mut b, "r").await;
    assert!(told.contains(&"* 0 RECENT".to_owned()), "{told:?}");
    assert!(told.contains(&"* SEARCH".to_owned()), "{told:?}");
    // B expunges; A is told at NOOP but not in the middle of a FETCH (RFC 9051 §7.5.1).
    b.send_line("d STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    response(&mut b, "d").await;
    b.send_line("e EXPUNGE").await;
    b.expect_line("* 1 EXPUNGE").await;
    b.expect_line("e OK EXPUNGE completed").await;
    a.send_line("f FETCH 2 UID").await;
    a.expect_line("* 2 FETCH (UID 2)").await;
    a.expect_line("f OK FETCH completed").await;
    a.send_line("n2 NOOP").await;
    a.expect_line("* 1 EXPUNGE").await;
    a.expect_line("n2 OK NOOP completed").await;
    a.send_line("f2 FETCH 1 UID").await;
    a.expect_line("* 1 FETCH (UID 2)").await;
    a.expect_line("f2 OK FETCH completed").await;
    // CLOSE expunges silently.
    a.send_line("t2 STORE 1 +FLAGS (\\Deleted)").await;
    response(&mut a, "t2").await;
    a.send_line("c CLOSE").await;
    a.expect_line("c OK CLOSE completed").await;
    assert!(s
        .store
        .inbox(&alice())
        .unwrap()
        .sync()
        .unwrap()
        .messages
        .is_empty());
}

#[tokio::test(start_paused = true)]
async fn idle_reports_deliveries_and_other_sessions_changes_at_once() {
    let s = setup();
    s.store.deliver(&[alice()], &[ONE]).unwrap();
    let mut a = login(&s).await;
    let mut b = login(&s).await;
    for (c, t) in [(&mut a, "sa"), (&mut b, "sb")] {
        c.send_line(&format!("{t} SELECT INBOX")).await;
        response(c, t).await;
    }
    a.send_line("i IDLE").await;
    a.expect_line("+ idling").await;
    // A delivery in this process (torsion-smtp's path through the store)…
    s.store.deliver(&[alice()], &[TWO]).unwrap();
    a.expect_line("* 2 EXISTS").await;
    a.expect_line("* 2 RECENT").await;
    // …and another session's change.
    b.send_line("t STORE 1 +FLAGS (\\Answered)").await;
    response(&mut b, "t").await;
    a.expect_line("* 1 FETCH (FLAGS (\\Answered \\Recent))")
        .await;
    a.send_line("DONE").await;
    a.expect_line("i OK IDLE terminated").await;
    a.send_line("n NOOP").await;
    a.expect_line("n OK NOOP completed").await;
    // Without a selected mailbox IDLE just waits for DONE; anything else ends it with BAD.
    a.send_line("u UNSELECT").await;
    a.expect_line("u OK UNSELECT completed").await;
    a.send_line("i2 IDLE").await;
    a.expect_line("+ idling").await;
    a.send_line("NOOP").await;
    a.expect_line("i2 BAD Expected DONE").await;
}

/// Real time: the change comes from outside the process (a file written into `new/`, as
/// another delivery agent would), seen through inotify or the polling fallback.
#[tokio::test]
async fn idle_sees_a_delivery_by_another_program() {
    let s = setup();
    s.store.deliver(&[alice()], &[ONE]).unwrap();
    let mut a = login(&s).await;
    a.send_line("s SELECT INBOX").await;
    response(&mut a, "s").await;
    a.send_line("i IDLE").await;
    a.expect_line("+ idling").await;
    let new = s.store.mailbox_path(&alice()).join("new");
    std::fs::write(new.join("1900000000.M1P1Q1.elsewhere"), TWO).unwrap();
    a.expect_line("* 2 EXISTS").await;
    a.expect_line("* 2 RECENT").await;
    a.send_line("DONE").await;
    a.expect_line("i OK IDLE terminated").await;
}

const MULTI: &[u8] = b"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: parts\r\nMessage-ID: <m1@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfirst part\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b1--\r\n";

#[tokio::test(start_paused = true)]
async fn envelope_bodystructure_and_mime_part_sections() {
    let s = setup();
    s.store.deliver(&[alice()], &[MULTI]).unwrap();
    let mut c = login(&s).await;
    c.send_line("s SELECT INBOX").await;
    response(&mut c, "s").await;
    c.send_line("f1 FETCH 1 (ENVELOPE BODYSTRUCTURE)").await;
    let line = c.read_line().await.unwrap();
    assert!(
        line.starts_with(
            "* 1 FETCH (ENVELOPE (NIL \"parts\" ((\"Bob\" NIL \"bob\" \"example.test\"))"
        ),
        "{line}"
    );
    assert!(line.contains(" \"<m1@example.test>\") BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL NIL)(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 4 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"b1\") NIL NIL NIL))"), "{line}");
    c.expect_line("f1 OK FETCH completed").await;
    c.send_line("f2 FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[3])")
        .await;
    c.expect_line("* 1 FETCH (BODY[1] {10}").await;
    let line = c.read_line().await.unwrap();
    assert_eq!(line, "first part BODY[2.MIME] {77}");
    c.expect_line("Content-Type: application/octet-stream")
        .await;
    c.expect_line("Content-Transfer-Encoding: base64").await;
    c.expect_line("").await;
    c.expect_line(" BODY[3] {0}").await;
    c.expect_line(")").await;
    c.expect_line("f2 OK FETCH completed").await;
    c.send_line("f3 FETCH 1 BODY").await;
    let line = c.read_line().await.unwrap();
    assert!(
        line.starts_with(
            "* 1 FETCH (BODY ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 10 0)("
        ) && line.ends_with(" \"MIXED\"))"),
        "{line}"
    );
    c.expect_line("f3 OK FETCH completed").await;
}

#[tokio::test(start_paused = true)]
async fn search_keys_and_both_response_forms() {
    let s = setup();
    s.store.deliver(&[alice()], &[ONE]).unwrap();
    s.store.deliver(&[alice()], &[TWO]).unwrap();
    s.store.deliver(&[alice()], &[MULTI]).unwrap();
    let mut c = login(&s).await;
    c.send_line("s SELECT INBOX").await;
    response(&mut c, "s").await;
    c.send_line("t STORE 2 +FLAGS (\\Seen $Work)").await;
    response(&mut c, "t").await;
    for (query, expect) in [
        ("ALL", "* SEARCH 1 2 3"),
        ("UNSEEN", "* SEARCH 1 3"),
        ("SEEN KEYWORD $work", "* SEARCH 2"),
        ("UNKEYWORD $Work", "* SEARCH 1 3"),
        ("FROM carol", "* SEARCH 2"),
        ("FROM \"Bob\"", "* SEARCH 1 3"),
        ("SUBJECT FIRST", "* SEARCH 1"),
        ("HEADER Message-ID m1@example", "* SEARCH 3"),
        ("HEADER To \"\"", "* SEARCH 1 3"),
        ("BODY \"second body\"", "* SEARCH 2"),
        ("BODY \"first part\"", "* SEARCH 3"),
        ("TEXT alice", "* SEARCH 1 3"),
        ("OR FROM carol SUBJECT parts", "* SEARCH 2 3"),
        ("NOT FROM bob", "* SEARCH 2"),
        ("2:3 LARGER 100", "* SEARCH 3"),
        ("SMALLER 1", "* SEARCH"),
        ("UID 2:*", "* SEARCH 2 3"),
        ("SINCE 1-Jan-2000 BEFORE 1-Jan-2200", "* SEARCH 1 2 3"),
        ("ON 1-Jan-2000", "* SEARCH"),
        ("YOUNGER 3600", "* SEARCH 1 2 3"),
        ("NEW", "* SEARCH 1 3"),
        ("RECENT", "* SEARCH 1 2 3"),
        ("OLD", "* SEARCH"),
        ("CHARSET UTF-8 SUBJECT second", "* SEARCH 2"),
    ] {
        c.send_line(&format!("q SEARCH {query}")).await;
        assert_eq!(c.read_line().await.unwrap(), expect, "SEARCH {query}");
        c.expect_line("q OK SEARCH completed").await;
    }
    c.send_line("u UID SEARCH FROM carol").await;
    c.expect_line("* SEARCH 2").await;
    c.expect_line("u OK UID SEARCH completed").await;
    c.send_line("b SEARCH CHARSET KOI8-R ALL").await;
    c.expect_line("b NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset")
        .await;
    // IMAP4rev2: ESEARCH.
    c.send_line("e ENABLE IMAP4rev2").await;
    response(&mut c, "e").await;
    c.send_line("r1 SEARCH NOT SEEN").await;
    c.expect_line("* ESEARCH (TAG \"r1\") ALL 1,3").await;
    c.expect_line("r1 OK SEARCH completed").await;
    c.send_line("r2 UID SEARCH ALL").await;
    c.expect_line("* ESEARCH (TAG \"r2\") UID ALL 1:3").await;
    c.expect_line("r2 OK UID SEARCH completed").await;
    c.send_line("r3 SEARCH SMALLER 1").await;
    c.expect_line("* ESEARCH (TAG \"r3\")").await;
    c.expect_line("r3 OK SEARCH completed").await;
}

#[tokio::test(start_paused = true)]
async fn binary_fetch_undoes_the_transfer_encoding() {
    let s = setup();
    let message: &[u8] = b"From: a@example.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsoft=\r\nbreak =3D\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAFhYg==\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown\r\n\r\n???\r\n--b--\r\n";
    s.store.deliver(&[alice()], &[message]).unwrap();
    let mut c = login(&s).await;
    c.send_line("s SELECT INBOX").await;
    response(&mut c, "s").await;
    let caps = {
        c.send_line("c CAPABILITY").await;
        response(&mut c, "c").await
    };
    assert!(caps[0].contains(" BINARY"), "{caps:?}");
    // base64 with a NUL: a literal8.
    c.send_line("f FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])")
        .await;
    c.expect_line("* 1 FETCH (BINARY.SIZE[2] 4 BINARY[2] ~{4}")
        .await;
    assert_eq!(c.read_exact(4).await, b"\0\x01ab");
    c.expect_line(")").await;
    c.expect_line("f OK FETCH completed").await;
    // quoted-printable, with a partial; and BINARY (not PEEK) sets \Seen.
    c.send_line("g FETCH 1 (BINARY[1]<0.6>)").await;
    c.expect_line("* 1 FETCH (BINARY[1]<0> {6}").await;
    assert_eq!(c.read_exact(6).await, b"softbr");
    c.expect_line(" FLAGS (\\Seen \\Recent))").await;
    c.expect_line("g OK FETCH completed").await;
    c.send_line("h FETCH 1 BINARY.PEEK[3]").await;
    c.expect_line("h NO [UNKNOWN-CTE] Cannot decode the transfer encoding \"x-unknown\"")
        .await;
    // APPEND takes a literal8 (RFC 3516 §4.4).
    c.send_line("a APPEND INBOX ~{7}").await;
    c.expect_line("+ Ready for literal data").await;
    c.send(b"x\0y\r\n\r\n\r\n").await;
    let appended = response(&mut c, "a").await;
    assert!(
        appended.last().unwrap().starts_with("a OK [APPENDUID "),
        "{appended:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn recent_is_for_the_first_imap4rev1_session_only() {
    let s = setup();
    s.store.deliver(&[alice()], &[ONE]).unwrap();
    s.store.deliver(&[alice()], &[TWO]).unwrap();
    let mut a = login(&s).await;
    a.send_line("st STATUS INBOX (RECENT MESSAGES)").await;
    a.expect_line("* STATUS \"INBOX\" (RECENT 2 MESSAGES 2)")
        .await;
    response(&mut a, "st").await;
    // EXAMINE shows what no one has claimed, and claims nothing.
    a.send_line("x EXAMINE INBOX").await;
    assert!(response(&mut a, "x")
        .await
        .contains(&"* 2 RECENT".to_owned()));
    a.send_line("f FETCH 1 FLAGS").await;
    a.expect_line("* 1 FETCH (FLAGS (\\Recent))").await;
    response(&mut a, "f").await;
    // An IMAP4rev2 session has no \Recent (RFC 9051) and claims nothing either.
    let mut b = login(&s).await;
    b.send_line("e ENABLE IMAP4rev2").await;
    response(&mut b, "e").await;
    b.send_line("s SELECT INBOX").await;
    let selected = response(&mut b, "s").await;
    assert!(
        !selected.iter().any(|l| l.contains("RECENT")),
        "{selected:?}"
    );
    b.send_line("f FETCH 1 FLAGS").await;
    b.expect_line("* 1 FETCH (FLAGS ())").await;
    response(&mut b, "f").await;
    a.send_line("st STATUS INBOX (RECENT)").await;
    a.expect_line("* STATUS \"INBOX\" (RECENT 2)").await;
    response(&mut a, "st").await;
    // SELECT claims them: recent here, for no one else.
    a.send_line("s SELECT INBOX").await;
    assert!(response(&mut a, "s")
        .await
        .contains(&"* 2 RECENT".to_owned()));
    let mut c = login(&s).await;
    c.send_line("st STATUS INBOX (RECENT)").await;
    c.expect_line("* STATUS \"INBOX\" (RECENT 0)").await;
    response(&mut c, "st").await;
    c.send_line("s SELECT INBOX").await;
    assert!(response(&mut c, "s")
        .await
        .contains(&"* 0 RECENT".to_owned()));
    c.send_line("q SEARCH RECENT").await;
    c.expect_line("* SEARCH").await;
    response(&mut c, "q").await;
    a.send_line("q SEARCH RECENT").await;
    a.expect_line("* SEARCH 1 2").await;
    response(&mut a, "q").await;
}
