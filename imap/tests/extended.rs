//! The command forms imap-codec does not parse, in memory: ESEARCH return options (RFC 4731),
//! LIST-EXTENDED (RFC 5258) with LIST-STATUS (RFC 5819) and SPECIAL-USE (RFC 6154), CREATE with
//! USE (RFC 6154 §3), MULTIAPPEND (RFC 3502), and RENAME of INBOX (RFC 9051 §6.3.6).

#![allow(clippy::unwrap_used)]

mod common;

use common::{alice, login, response, setup, ONE, TWO};
use torsion_mailstore::store::SpecialUse;

#[tokio::test(start_paused = true)]
async fn search_return_options() {
    let s = setup();
    for _ in 0..3 {
        s.store.deliver(&[alice()], &[ONE]).unwrap();
        s.store.deliver(&[alice()], &[TWO]).unwrap();
    }
    let mut c = login(&s).await;
    c.send_line("s SELECT INBOX").await;
    response(&mut c, "s").await;
    c.send_line("a1 SEARCH RETURN (MIN MAX COUNT) FROM carol")
        .await;
    c.expect_line("* ESEARCH (TAG \"a1\") MIN 2 MAX 6 COUNT 3")
        .await;
    c.expect_line("a1 OK SEARCH completed").await;
    c.send_line("a2 UID SEARCH RETURN () FROM bob").await;
    c.expect_line("* ESEARCH (TAG \"a2\") UID ALL 1,3,5").await;
    c.expect_line("a2 OK UID SEARCH completed").await;
    c.send_line("a3 UID SEARCH RETURN (ALL) 2:4").await;
    c.expect_line("* ESEARCH (TAG \"a3\") UID ALL 2:4").await;
    c.expect_line("a3 OK UID SEARCH completed").await;
    // Nothing found: MIN/MAX/ALL left out, COUNT 0 still given.
    c.send_line("a4 SEARCH RETURN (MIN MAX ALL COUNT) FROM nobody")
        .await;
    c.expect_line("* ESEARCH (TAG \"a4\") COUNT 0").await;
    c.expect_line("a4 OK SEARCH completed").await;
    c.send_line("a5 SEARCH RETURN (COUNT) CHARSET UTF-8 SUBJECT second")
        .await;
    c.expect_line("* ESEARCH (TAG \"a5\") COUNT 3").await;
    c.expect_line("a5 OK SEARCH completed").await;
    // With CONDSTORE: MODSEQ of the one message MIN names.
    c.send_line("m1 STORE 2 +FLAGS (\\Flagged)").await;
    response(&mut c, "m1").await;
    c.send_line("a6 SEARCH RETURN (MIN) MODSEQ 1").await;
    let lines = response(&mut c, "a6").await;
    let esearch = lines.iter().find(|l| l.starts_with("* ESEARCH")).unwrap();
    assert!(
        esearch.starts_with("* ESEARCH (TAG \"a6\") MIN 1 MODSEQ "),
        "{lines:?}"
    );
    // Without RETURN a rev1 client still gets SEARCH.
    c.send_line("a7 SEARCH FROM carol").await;
    c.expect_line("* SEARCH 2 4 6").await;
    c.expect_line("a7 OK SEARCH completed").await;
    c.send_line("a8 SEARCH RETURN (SAVE) ALL").await;
    c.expect_line("a8 BAD Unknown RETURN option SAVE").await;
    c.send_line("a9 CAPABILITY").await;
    let caps = c.read_line().await.unwrap();
    for cap in [
        "ESEARCH",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "CREATE-SPECIAL-USE",
        "MULTIAPPEND",
    ] {
        assert!(caps.split(' ').any(|c| c == cap), "{cap} in {caps}");
    }
}

#[tokio::test(start_paused = true)]
async fn extended_list_selection_and_return_options() {
    let s = setup();
    s.store.deliver(&[alice()], &[ONE]).unwrap();
    let mut c = login(&s).await;
    for (tag, name) in [
        ("c1", "Lists"),
        ("c2", "Lists.Rust"),
        ("c3", "Top.Deep.Leaf"),
    ] {
        c.send_line(&format!("{tag} CREATE {name}")).await;
        c.expect_line(&format!("{tag} OK CREATE completed")).await;
    }
    c.send_line("u1 SUBSCRIBE Lists.Rust").await;
    c.expect_line("u1 OK SUBSCRIBE completed").await;
    c.send_line("u2 SUBSCRIBE Lists").await;
    c.expect_line("u2 OK SUBSCRIBE completed").await;
    c.send_line("u3 DELETE Lists").await;
    c.expect_line("u3 OK DELETE completed").await;

    // Subscribed names, existing or not (RFC 5258 §3.1, \NonExistent).
    c.send_line("l1 LIST (SUBSCRIBED) \"\" \"Lists*\"").await;
    c.expect_line("* LIST (\\NonExistent \\HasChildren \\Subscribed) \".\" \"Lists\"")
        .await;
    c.expect_line("* LIST (\\HasNoChildren \\Subscribed) \".\" \"Lists.Rust\"")
        .await;
    c.expect_line("l1 OK LIST completed").await;
    // RECURSIVEMATCH: a parent that does not match the selection gets CHILDINFO.
    c.send_line("u4 UNSUBSCRIBE Lists").await;
    c.expect_line("u4 OK UNSUBSCRIBE completed").await;
    c.send_line("l2 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %")
        .await;
    let lines = response(&mut c, "l2").await;
    assert!(
        lines.contains(
            &"* LIST (\\NonExistent \\HasChildren) \".\" \"Lists\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"
                .to_owned()
        ),
        "{lines:?}"
    );
    // INBOX and the default folders are subscribed at provisioning.
    assert!(lines
        .iter()
        .any(|l| l.ends_with("\"INBOX\"") && l.contains("\\Subscribed")));
    assert!(!lines.iter().any(|l| l.contains("\"Top\"")), "{lines:?}");
    // A level that exists only above real mailboxes (Top, Top.Deep) is \Noselect in LIST.
    c.send_line("l3 LIST \"\" Top.%").await;
    c.expect_line("* LIST (\\Noselect \\HasChildren) \".\" \"Top.Deep\"")
        .await;
    c.expect_line("l3 OK LIST completed").await;
    // SPECIAL-USE selection; several patterns; RETURN (STATUS …) after each mailbox.
    c.send_line("l4 LIST (SPECIAL-USE) \"\" *").await;
    let lines = response(&mut c, "l4").await;
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(lines.iter().take(5).all(|l| l.starts_with("* LIST (")));
    assert!(lines.contains(&"* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"".to_owned()));
    c.send_line("l5 LIST \"\" (INBOX \"Lists.*\") RETURN (CHILDREN SUBSCRIBED STATUS (MESSAGES UNSEEN SIZE))")
        .await;
    c.expect_line("* LIST (\\HasNoChildren \\Subscribed) \".\" \"INBOX\"")
        .await;
    c.expect_line(&format!(
        "* STATUS \"INBOX\" (MESSAGES 1 UNSEEN 1 SIZE {})",
        ONE.len()
    ))
    .await;
    c.expect_line("* LIST (\\HasNoChildren \\Subscribed) \".\" \"Lists.Rust\"")
        .await;
    c.expect_line("* STATUS \"Lists.Rust\" (MESSAGES 0 UNSEEN 0 SIZE 0)")
        .await;
    c.expect_line("l5 OK LIST completed").await;
    // Errors name the option and keep the tag.
    c.send_line("l6 LIST (RECURSIVEMATCH) \"\" *").await;
    c.expect_line("l6 BAD RECURSIVEMATCH needs another selection option")
        .await;
    c.send_line("l7 LIST \"\" * RETURN (FOO)").await;
    c.expect_line("l7 BAD Unknown LIST return option FOO").await;
    // A name sent as a literal.
    c.send("l8 LIST () \"\" {5+}\r\nINBOX\r\n").await;
    c.expect_line("* LIST (\\HasNoChildren) \".\" \"INBOX\"")
        .await;
    c.expect_line("l8 OK LIST completed").await;
}

#[tokio::test(start_paused = true)]
async fn create_special_use() {
    let s = setup();
    let mut c = login(&s).await;
    c.send_line("c1 CREATE \"Old Sent\" (USE (\\Sent))").await;
    c.expect_line("c1 OK CREATE completed").await;
    let uses = s.store.special_uses(&alice()).unwrap();
    assert!(
        uses.contains(&(SpecialUse::Sent, "Old Sent".to_owned())),
        "{uses:?}"
    );
    c.send_line("c2 CREATE Other (USE (\\Important))").await;
    c.expect_line("c2 NO [USEATTR] Unknown special use \\Important")
        .await;
    c.send_line("c3 CREATE Other (USE (\\Sent \\Drafts))").await;
    c.expect_line("c3 NO [USEATTR] At most one special use per mailbox")
        .await;
    assert!(
        s.store.folder(&alice(), "Other").is_err(),
        "nothing created"
    );
    c.send_line("c4 CREATE Other (FOO)").await;
    c.expect_line("c4 BAD Unknown CREATE parameter").await;
    c.send_line("c5 LIST \"\" \"Old Sent\" RETURN (SPECIAL-USE)")
        .await;
    c.expect_line("* LIST (\\HasNoChildren \\Sent) \".\" \"Old Sent\"")
        .await;
    c.expect_line("c5 OK LIST completed").await;
}

#[tokio::test(start_paused = true)]
async fn multiappend_stores_all_or_nothing() {
    let s = setup();
    let mut c = login(&s).await;
    let mut command = b"m1 APPEND Drafts (\\Draft) \"04-Dec-2026 10:00:00 +0000\" {".to_vec();
    command.extend_from_slice(format!("{}+}}\r\n", ONE.len()).as_bytes());
    command.extend_from_slice(ONE);
    command.extend_from_slice(format!(" (\\Seen $Work) {{{}+}}\r\n", TWO.len()).as_bytes());
    command.extend_from_slice(TWO);
    command.extend_from_slice(b"\r\n");
    c.send(&command).await;
    let done = c.read_line().await.unwrap();
    let validity = done
        .strip_prefix("m1 OK [APPENDUID ")
        .and_then(|r| r.strip_suffix(" 1:2] APPEND completed"))
        .unwrap_or_else(|| panic!("{done}"));
    assert!(validity.parse::<u32>().is_ok(), "{done}");
    let drafts = s.store.folder(&alice(), "Drafts").unwrap();
    let snapshot = drafts.sync().unwrap();
    assert_eq!(snapshot.messages.len(), 2);
    assert_eq!(drafts.read(&snapshot.messages[0]).unwrap(), ONE);
    assert_eq!(drafts.read(&snapshot.messages[1]).unwrap(), TWO);
    assert_eq!(snapshot.messages[0].internal_date, 1_796_378_400);
    assert_eq!(
        snapshot.keywords.names_of(snapshot.messages[1].keywords),
        ["$Work"]
    );
    // One bad flag: nothing of the command is stored.
    c.send("m2 APPEND Drafts {2+}\r\nhi (\\Bogus) {2+}\r\nho\r\n")
        .await;
    c.expect_line("m2 BAD Invalid flag in APPEND").await;
    // A missing mailbox: TRYCREATE, nothing stored.
    c.send("m3 APPEND Nowhere {2+}\r\nhi {2+}\r\nho\r\n").await;
    c.expect_line("m3 NO [TRYCREATE] No such mailbox").await;
    c.send("m4 APPEND Drafts {2+}\r\nhi junk\r\n").await;
    c.expect_line("m4 BAD expected a message literal").await;
    assert_eq!(drafts.sync().unwrap().messages.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn renaming_inbox_moves_the_messages() {
    let s = setup();
    s.store.deliver(&[alice()], &[ONE]).unwrap();
    s.store.deliver(&[alice()], &[TWO]).unwrap();
    let mut c = login(&s).await;
    c.send_line("r1 RENAME INBOX \"Old Mail\"").await;
    c.expect_line("r1 OK RENAME completed").await;
    c.send_line("st STATUS INBOX (MESSAGES)").await;
    c.expect_line("* STATUS \"INBOX\" (MESSAGES 0)").await;
    c.expect_line("st OK STATUS completed").await;
    c.send_line("s2 STATUS \"Old Mail\" (MESSAGES)").await;
    c.expect_line("* STATUS \"Old Mail\" (MESSAGES 2)").await;
    c.expect_line("s2 OK STATUS completed").await;
    c.send_line("r2 RENAME INBOX Sent").await;
    c.expect_line("r2 NO [ALREADYEXISTS] Mailbox already exists")
        .await;
}
