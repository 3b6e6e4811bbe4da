//! Splitting long message text so every line the server relays fits the 512-byte limit
//! (RFC 1459 §2.3; Modern IRC "Message format").
//!
//! The limit applies to the line *as the server relays it*, with our full source in front:
//! `:nick!user@host PRIVMSG #target :text\r\n`. We do not know our host before the server tells
//! us, so until it does (the echo of our first JOIN) we assume [`ASSUMED_USER_LEN`] and
//! [`ASSUMED_HOST_LEN`], as other client libraries do.

use crate::proto::MAX_LINE;

/// Assumed user name length in our source before we learn it (`USERLEN` is commonly 10,
/// including the `~` servers prefix to unverified idents).
pub const ASSUMED_USER_LEN: usize = 10;
/// Assumed host length in our source before we learn it (a DNS label limit; cloaks and IPv6
/// addresses fit).
pub const ASSUMED_HOST_LEN: usize = 63;
/// The smallest text budget we ever use, however long the target: a line slightly over 512
/// bytes that the server truncates beats an endless loop of empty lines.
pub const MIN_TEXT_BUDGET: usize = 32;

/// Bytes of text that fit in one `command target :text` line, given our source
/// (`nick!user@host`) length.
pub fn text_budget(source_len: usize, command: &str, target: &str) -> usize {
    // ':' source ' ' command ' ' target ' :' text CRLF
    let overhead = 1 + source_len + 1 + command.len() + 1 + target.len() + 2 + 2;
    MAX_LINE.saturating_sub(overhead).max(MIN_TEXT_BUDGET)
}

/// The source length to assume for `nick` when the server has not shown us our `user@host`.
pub fn assumed_source_len(nick: &str) -> usize {
    nick.len() + 1 + ASSUMED_USER_LEN + 1 + ASSUMED_HOST_LEN
}

/// Split `text` into lines of at most `max` bytes: first at line breaks (CR, LF, CRLF), then
/// long lines at the last space that keeps the piece at least half full, else at the last UTF-8
/// character boundary. Empty lines are dropped (an empty PRIVMSG is an error) and NUL bytes
/// removed. `max` below 4 is treated as 4 so a character always fits.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let max = max.max(4);
    let mut out = Vec::new();
    for line in text.split(['\n', '\r']) {
        let cleaned;
        let mut rest: &str = if line.contains('\0') {
            cleaned = line.replace('\0', "");
            &cleaned
        } else {
            line
        };
        while rest.len() > max {
            let mut cut = max;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let space = if rest.as_bytes()[cut] == b' ' {
                Some(cut)
            } else {
                rest[..cut].rfind(' ')
            };
            let (piece, next) = match space {
                Some(at) if at >= max / 2 => (&rest[..at], rest[at..].trim_start_matches(' ')),
                _ => (&rest[..cut], &rest[cut..]),
            };
            if !piece.is_empty() {
                out.push(piece.to_owned());
            }
            rest = next;
        }
        if !rest.is_empty() {
            out.push(rest.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(split_text("hello world", 100), ["hello world"]);
        assert!(split_text("", 100).is_empty());
    }

    #[test]
    fn line_breaks_make_lines() {
        assert_eq!(split_text("a\r\nb\n\nc\rd", 100), ["a", "b", "c", "d"]);
        assert_eq!(split_text("a\0b", 100), ["ab"]);
    }

    #[test]
    fn prefers_word_boundaries() {
        let text = "the quick brown fox jumps over the lazy dog";
        let parts = split_text(text, 16);
        assert_eq!(parts, ["the quick brown", "fox jumps over", "the lazy dog"]);
        for p in &parts {
            assert!(p.len() <= 16);
        }
    }

    #[test]
    fn hard_splits_long_words_on_char_boundaries() {
        let text = "é".repeat(20); // 40 bytes
        let parts = split_text(&text, 15);
        for p in &parts {
            assert!(p.len() <= 15, "{p:?}");
        }
        assert_eq!(parts.concat(), text);
        assert_eq!(parts[0].len(), 14);
        let text = "x".repeat(25);
        assert_eq!(
            split_text(&text, 10),
            ["x".repeat(10), "x".repeat(10), "x".repeat(5)]
        );
    }

    #[test]
    fn a_space_too_early_is_not_used() {
        // The only space is at 1, far less than half of 10: hard split instead.
        assert_eq!(
            split_text("a bcdefghijklmnop", 10),
            ["a bcdefghi", "jklmnop"]
        );
    }

    #[test]
    fn budget_keeps_relayed_lines_within_512() {
        let nick = "bot";
        let budget = text_budget(assumed_source_len(nick), "PRIVMSG", "#channel");
        let source = format!("{nick}!{}@{}", "u".repeat(10), "h".repeat(63));
        let text = "word ".repeat(300);
        for part in split_text(&text, budget) {
            let line = format!(":{source} PRIVMSG #channel :{part}\r\n");
            assert!(line.len() <= 512, "{}", line.len());
        }
        assert_eq!(
            text_budget(10, "PRIVMSG", &"#".repeat(600)),
            MIN_TEXT_BUDGET
        );
    }
}
