//! The store's header cache behind SEARCH and FETCH ENVELOPE, and mail written by other
//! programs with bare LF: what a client sees is the same whichever path served it.

#![allow(clippy::unwrap_used)]

mod common;

use common::{alice, login, response, setup};
use torsion_mailstore::headers;

/// Folded fields, encoded words, a group, and fields ENVELOPE does not use.
const RICH: &[u8] = b"Received: from mx.example.test by imap.example.test\r\n\
From: =?UTF-8?Q?Bj=C3=B6rn?=\r\n <bjorn@example.test>\r\n\
Sender: list@example.test\r\n\
Reply-To: replies@example.test\r\n\
To: Alice <alice@example.test>, bob@example.test\r\n\
Cc: friends: carol@example.test, dave@example.test;\r\n\
Subject: a folded\r\n subject\r\n\
Date: Tue, 01 Dec 2026 10:00:00 +0100\r\n\
Message-ID: <rich@example.test>\r\n\
In-Reply-To: <earlier@example.test>\r\n\
X-Spam: no\r\n\
\r\n\
From: not a header\r\n";

/// As Postfix's local agent writes it: bare LF.
const LF: &[u8] = b"From: erin@example.test\nSubject: bare lf\nDate: Wed, 02 Dec 2026 09:00:00 +0000\n\nline one\nline two\n";

/// The ENVELOPE (…) of a FETCH line.
fn envelope(line: &str) -> String {
    let start = line.find("ENVELOPE (").unwrap() + "ENVELOPE ".len();
    let (mut depth, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in line[start..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return line[start..start + i + 1].to_owned();
                }
            }
            _ => {}
        }
    }
    panic!("unterminated ENVELOPE in {line}");
}

#[tokio::test(start_paused = true)]
async fn envelope_and_search_agree_with_and_without_the_cache() {
    let s = setup();
    s.store.deliver(&[alice()], &[RICH]).unwrap();
    let inbox = s.store.inbox(&alice()).unwrap();
    std::fs::write(
        inbox.path().join("new").join("1700000000.V1I2M3.postfix"),
        LF,
    )
    .unwrap();
    let mut c = login(&s).await;
    c.send_line("s SELECT INBOX").await;
    response(&mut c, "s").await;
    let cache = inbox.path().join(headers::FILE);
    assert!(!cache.exists());

    // ENVELOPE alone comes from the cache (and fills it); with BODY.PEEK[HEADER] beside it,
    // from the message itself.
    c.send_line("f1 FETCH 1:* ENVELOPE").await;
    let cached = response(&mut c, "f1").await;
    assert!(cache.exists(), "FETCH ENVELOPE filled the cache");
    c.send_line("f2 FETCH 1:* (ENVELOPE BODY.PEEK[HEADER.FIELDS (X-SPAM)])")
        .await;
    let direct = response(&mut c, "f2").await;
    let of = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.contains("ENVELOPE ("))
            .map(|l| envelope(l))
            .collect()
    };
    let (cached, direct) = (of(&cached), of(&direct));
    assert_eq!(cached.len(), 2);
    assert_eq!(cached, direct);
    assert!(
        cached[1].starts_with("(\"Tue, 01 Dec 2026 10:00:00 +0100\" \"a folded subject\""),
        "{}",
        cached[1]
    );
    assert!(cached[1].contains("\"<earlier@example.test>\" \"<rich@example.test>\")"));
    assert!(cached[0].contains("\"bare lf\""), "{}", cached[0]);

    // The same SEARCH answers with the cache cold (removed) and warm.
    let searches = [
        "SEARCH FROM bjorn",
        "SEARCH FROM erin SUBJECT lf",
        "SEARCH HEADER Message-ID rich@",
        "SEARCH HEADER X-Spam no",
        "SEARCH SENTSINCE 2-Dec-2026",
        "SEARCH SENTBEFORE 2-Dec-2026",
        "SEARCH OR TO bob CC carol",
        "SEARCH SUBJECT \"folded subject\"",
    ];
    // Message 1 is Postfix's (its name is older), 2 the rich one.
    let expected = ["2", "1", "2", "2", "1", "2", "2", "2"];
    for round in 0..2 {
        if round == 0 {
            std::fs::remove_file(&cache).unwrap();
        }
        for (i, (search, want)) in searches.iter().zip(expected).enumerate() {
            c.send_line(&format!("q{i} {search}")).await;
            let lines = response(&mut c, &format!("q{i}")).await;
            assert_eq!(
                lines[0],
                format!("* SEARCH {want}"),
                "{search} (round {round})"
            );
        }
        assert!(cache.exists());
    }

    // New mail is found too: the cache grows with the mailbox.
    s.store
        .deliver(
            &[alice()],
            &[b"From: bjorn@example.test\r\nSubject: again\r\n\r\nx\r\n"],
        )
        .unwrap();
    c.send_line("n NOOP").await;
    response(&mut c, "n").await;
    c.send_line("q SEARCH FROM bjorn").await;
    assert_eq!(response(&mut c, "q").await[0], "* SEARCH 2 3");
}

#[tokio::test(start_paused = true)]
async fn a_bare_lf_message_is_served_with_crlf() {
    let s = setup();
    let inbox = s.store.inbox(&alice()).unwrap();
    inbox.ensure().unwrap();
    std::fs::write(
        inbox.path().join("new").join("1700000000.V1I2M3.postfix"),
        LF,
    )
    .unwrap();
    let crlf = String::from_utf8(LF.to_vec())
        .unwrap()
        .replace('\n', "\r\n");
    let mut c = login(&s).await;
    c.send_line("s SELECT INBOX").await;
    response(&mut c, "s").await;
    c.send_line("f FETCH 1 (RFC822.SIZE BODY.PEEK[])").await;
    c.expect_line(&format!(
        "* 1 FETCH (RFC822.SIZE {n} BODY[] {{{n}}}",
        n = crlf.len()
    ))
    .await;
    for line in crlf.lines() {
        c.expect_line(line).await;
    }
    c.expect_line(")").await;
    c.expect_line("f OK FETCH completed").await;
    c.send_line(&format!("l SEARCH LARGER {}", LF.len())).await;
    assert_eq!(response(&mut c, "l").await[0], "* SEARCH 1");
    c.send_line("t FETCH 1 BODY.PEEK[TEXT]").await;
    c.expect_line("* 1 FETCH (BODY[TEXT] {20}").await;
}
