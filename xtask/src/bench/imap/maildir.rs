//! Test mailboxes for `bench imap`, written straight into Maildir `cur/` (what a delivery
//! agent followed by a client that has seen the mail leaves behind): much faster than APPEND
//! and the same for both servers. Each server gets its own copy, so their index files
//! (`torsion-uidlist*`, `dovecot.index*`, `dovecot-uidlist`) never meet.

use std::fs;
use std::path::Path;

/// Distinct senders: `SEARCH FROM "sender7@"` matches one message in this many.
pub const SENDERS: usize = 50;

/// The text of message `i` with about `body_lines` lines of body.
pub fn message(i: usize, body_lines: usize) -> Vec<u8> {
    let mut text = format!(
        "Return-Path: <sender{s}@bench.test>\r\n\
         From: Sender {s} <sender{s}@bench.test>\r\n\
         To: <user@example.test>\r\n\
         Subject: bench message {i}\r\n\
         Date: Mon, 02 Nov 2026 10:{m:02}:{sec:02} +0000\r\n\
         Message-ID: <{i}.bench@bench.test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n",
        s = i % SENDERS,
        m = (i / 60) % 60,
        sec = i % 60,
    );
    for line in 0..body_lines {
        text.push_str(&format!(
            "Line {line} of message {i}: the quick brown fox jumps over the lazy dog.\r\n"
        ));
    }
    text.into_bytes()
}

/// The Maildir flags (after `:2,`) of message `i`: a third seen, some flagged or answered.
pub fn flags(i: usize) -> &'static str {
    match (
        i.is_multiple_of(3),
        i.is_multiple_of(17),
        i.is_multiple_of(29),
    ) {
        (true, true, _) => "FS",
        (true, false, true) => "RS",
        (true, false, false) => "S",
        (false, true, _) => "F",
        (false, false, _) => "",
    }
}

/// A Maildir++ INBOX at `dir` (`cur/ new/ tmp/`) holding `count` messages of `body_lines`
/// body lines each (CRLF line ends), every file named
/// `TIME.M<i>P<pid>Q<i>.bench,S=<size>,W=<size>:2,<flags>` as Dovecot and torsion-imap name
/// theirs (`W=`, the size with CRLF, spares both servers reading every file to learn it).
/// `owner`: chown everything to this uid/gid (Dovecot's mail user).
pub fn write_inbox(
    dir: &Path,
    count: usize,
    body_lines: usize,
    owner: Option<u32>,
) -> Result<(), String> {
    for sub in ["cur", "new", "tmp"] {
        let path = dir.join(sub);
        fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    }
    let pid = std::process::id();
    // One base time, each message a second apart in its name (the unique part is `Q<i>`).
    let base = 1_790_000_000u64;
    let cur = dir.join("cur");
    for i in 0..count {
        let text = message(i, body_lines);
        let size = text.len();
        let name = format!(
            "{}.M{i}P{pid}Q{i}.bench,S={size},W={size}:2,{}",
            base + i as u64,
            flags(i)
        );
        let path = cur.join(name);
        fs::write(&path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if let Some(id) = owner {
            std::os::unix::fs::chown(&path, Some(id), Some(id))
                .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
        }
    }
    if let Some(id) = owner {
        for path in [
            dir.to_path_buf(),
            dir.join("cur"),
            dir.join("new"),
            dir.join("tmp"),
        ] {
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
    fn messages_are_distinct_rfc5322_text() {
        let a = message(7, 3);
        let b = message(8, 3);
        assert_ne!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert!(text.contains("From: Sender 7 <sender7@bench.test>\r\n"));
        assert!(text.contains("\r\n\r\nLine 0 of message 7"));
        assert!(text.ends_with("dog.\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn flags_are_sorted_maildir_letters() {
        for i in 0..200 {
            let f = flags(i);
            let mut sorted: Vec<char> = f.chars().collect();
            sorted.sort_unstable();
            assert_eq!(f, sorted.into_iter().collect::<String>());
        }
        assert_eq!(flags(0), "FS");
        assert_eq!(flags(1), "");
        assert_eq!(flags(3), "S");
    }

    #[test]
    fn writes_an_inbox() {
        let dir = std::env::temp_dir().join(format!("xtask-imap-maildir-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        write_inbox(&dir, 5, 1, None).unwrap();
        let names: Vec<String> = fs::read_dir(dir.join("cur"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 5);
        for name in &names {
            let size: usize = name
                .split(",S=")
                .nth(1)
                .unwrap()
                .split([',', ':'])
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(
                fs::metadata(dir.join("cur").join(name)).unwrap().len() as usize,
                size
            );
        }
        assert!(dir.join("new").is_dir() && dir.join("tmp").is_dir());
        fs::remove_dir_all(&dir).unwrap();
    }
}
