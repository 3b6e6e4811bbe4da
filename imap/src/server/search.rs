//! SEARCH and UID SEARCH (RFC 9051 §6.4.4): every key of the base protocol plus WITHIN's
//! OLDER/YOUNGER, over flags, sizes, UIDs and sequence sets (no file read), internal and sent
//! dates, and header, body and text matches (case-insensitive substrings of the decoded text).
//! The envelope fields (FROM, TO, CC, BCC, SUBJECT, HEADER of one of them, the SENT* dates)
//! come from the store's header cache (`torsion_mailstore::headers`, one file per mailbox);
//! any other key reads and parses the message once, only when it needs it. Charsets: UTF-8
//! and US-ASCII (others `NO [BADCHARSET]`). IMAP4rev1 clients get `* SEARCH`, IMAP4rev2 ones
//! and those asking `RETURN (…)` `* ESEARCH` (RFC 9051 §7.3.4, RFC 4731).

use std::cell::OnceCell;

use imap_codec::imap_types::core::{AString, Charset};
use imap_codec::imap_types::search::SearchKey;
use mail_parser::{Address, HeaderValue};
use torsion_mailstore::{headers, Flags, Message};

use super::mime;
use super::response::Out;
use super::selected::resolve;
use super::session::Session;
use crate::proto::search_return::ReturnOptions;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The day (since the epoch) of an IMAP search date (`chrono::NaiveDate` shown as YYYY-MM-DD).
fn day_of(date: &impl std::fmt::Display) -> i64 {
    let text = date.to_string();
    let mut parts = text.split('-').map(|p| p.parse::<i64>().unwrap_or(0));
    let (y, m, d) = (
        parts.next().unwrap_or(1970),
        parts.next().unwrap_or(1),
        parts.next().unwrap_or(1),
    );
    days_from_civil(y, m.clamp(1, 12) as u32, d.clamp(1, 31) as u32)
}

fn text(a: &AString<'_>) -> String {
    String::from_utf8_lossy(a.as_ref()).to_lowercase()
}

fn contains(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(needle)
}

/// A search key made ready once per command: needles lowercased, dates as days, sequence
/// sets as a membership table over the messages, keywords as letters.
enum Key {
    All,
    None,
    And(Vec<Key>),
    Or(Box<Key>, Box<Key>),
    Not(Box<Key>),
    /// Messages (by index) a sequence set or UID set names.
    In(Vec<bool>),
    Flag(Flags),
    Keyword(usize),
    Larger(u64),
    Smaller(u64),
    Before(i64),
    On(i64),
    Since(i64),
    Older(i64),
    Younger(i64),
    SentBefore(i64),
    SentOn(i64),
    SentSince(i64),
    Header(String, String),
    Body(String),
    Text(String),
    /// CONDSTORE (RFC 7162 §3.1.5): MODSEQ at least this. Per-flag entries are not kept,
    /// so the message's MODSEQ stands for each (as §3.1.5 allows).
    ModSeq(u64),
}

impl Key {
    fn compile(key: &SearchKey<'_>, sel: &super::selected::Selected, now: i64) -> Key {
        let membership = |set, uid| {
            let mut table = vec![false; sel.messages.len()];
            for i in resolve(set, uid, &sel.messages) {
                table[i] = true;
            }
            Key::In(table)
        };
        let keyword = |atom: &str| {
            if atom.eq_ignore_ascii_case("$Forwarded") {
                return Key::Flag(Flags::PASSED);
            }
            sel.keywords
                .names()
                .find(|(_, n)| n.eq_ignore_ascii_case(atom))
                .map_or(Key::None, |(i, _)| Key::Keyword(i))
        };
        let not = |k: Key| Key::Not(Box::new(k));
        let recent = || Key::In(sel.messages.iter().map(|m| sel.is_recent(m.uid)).collect());
        let header = |name: &str, value: &AString<'_>| Key::Header(name.to_owned(), text(value));
        match key {
            SearchKey::All => Key::All,
            // \Recent (IMAP4rev1 sessions only; RFC 3501 §6.4.4: NEW is RECENT UNSEEN).
            SearchKey::Recent => recent(),
            SearchKey::Old => not(recent()),
            SearchKey::New => Key::And(vec![recent(), not(Key::Flag(Flags::SEEN))]),
            SearchKey::And(keys) => Key::And(
                keys.as_ref()
                    .iter()
                    .map(|k| Key::compile(k, sel, now))
                    .collect(),
            ),
            SearchKey::Or(a, b) => Key::Or(
                Box::new(Key::compile(a, sel, now)),
                Box::new(Key::compile(b, sel, now)),
            ),
            SearchKey::Not(k) => not(Key::compile(k, sel, now)),
            SearchKey::SequenceSet(set) => membership(set, false),
            SearchKey::Uid(set) => membership(set, true),
            SearchKey::Answered => Key::Flag(Flags::ANSWERED),
            SearchKey::Unanswered => not(Key::Flag(Flags::ANSWERED)),
            SearchKey::Deleted => Key::Flag(Flags::DELETED),
            SearchKey::Undeleted => not(Key::Flag(Flags::DELETED)),
            SearchKey::Draft => Key::Flag(Flags::DRAFT),
            SearchKey::Undraft => not(Key::Flag(Flags::DRAFT)),
            SearchKey::Flagged => Key::Flag(Flags::FLAGGED),
            SearchKey::Unflagged => not(Key::Flag(Flags::FLAGGED)),
            SearchKey::Seen => Key::Flag(Flags::SEEN),
            SearchKey::Unseen => not(Key::Flag(Flags::SEEN)),
            SearchKey::Keyword(atom) => keyword(atom.as_ref()),
            SearchKey::Unkeyword(atom) => not(keyword(atom.as_ref())),
            SearchKey::Larger(n) => Key::Larger(u64::from(*n)),
            SearchKey::Smaller(n) => Key::Smaller(u64::from(*n)),
            SearchKey::Before(d) => Key::Before(day_of(d.as_ref())),
            SearchKey::On(d) => Key::On(day_of(d.as_ref())),
            SearchKey::Since(d) => Key::Since(day_of(d.as_ref())),
            SearchKey::Older(secs) => Key::Older(now - i64::from(secs.get())),
            SearchKey::Younger(secs) => Key::Younger(now - i64::from(secs.get())),
            SearchKey::SentBefore(d) => Key::SentBefore(day_of(d.as_ref())),
            SearchKey::SentOn(d) => Key::SentOn(day_of(d.as_ref())),
            SearchKey::SentSince(d) => Key::SentSince(day_of(d.as_ref())),
            SearchKey::From(s) => header("from", s),
            SearchKey::To(s) => header("to", s),
            SearchKey::Cc(s) => header("cc", s),
            SearchKey::Bcc(s) => header("bcc", s),
            SearchKey::Subject(s) => header("subject", s),
            SearchKey::Header(name, value) => {
                header(&String::from_utf8_lossy(name.as_ref()), value)
            }
            SearchKey::Body(s) => Key::Body(text(s)),
            SearchKey::Text(s) => Key::Text(text(s)),
            SearchKey::ModSequence { modseq, .. } => Key::ModSeq(*modseq),
        }
    }

    /// Whether `test` holds for this key or any key inside it.
    fn any(&self, test: &dyn Fn(&Key) -> bool) -> bool {
        test(self)
            || match self {
                Key::Not(k) => k.any(test),
                Key::Or(a, b) => a.any(test) || b.any(test),
                Key::And(keys) => keys.iter().any(|k| k.any(test)),
                _ => false,
            }
    }

    fn uses_modseq(&self) -> bool {
        self.any(&|k| matches!(k, Key::ModSeq(_)))
    }

    /// Whether the key looks at header fields the store keeps a cache of (see
    /// `torsion_mailstore::headers`): then those are fetched for every message first.
    fn uses_cached_fields(&self) -> bool {
        self.any(&|k| match k {
            Key::Header(name, _) => headers::is_cached_field(name),
            Key::SentBefore(_) | Key::SentOn(_) | Key::SentSince(_) => true,
            _ => false,
        })
    }
}

/// One message being tested; its file is read, and parsed, at most once and only if a key
/// needs it. `head` is the store's cached copy of its envelope fields, when the key uses them:
/// those are then parsed from it instead.
struct Candidate<'r> {
    index: usize,
    message: &'r Message,
    mailbox: &'r dyn torsion_mailstore::Mailbox,
    raw: &'r OnceCell<Vec<u8>>,
    parsed: &'r OnceCell<Option<mail_parser::Message<'r>>>,
    head: Option<&'r [u8]>,
    head_parsed: &'r OnceCell<Option<mail_parser::Message<'r>>>,
}

impl<'r> Candidate<'r> {
    /// The bytes and parse to read header `name` from (the Date: field for `None`): the
    /// cached fields when they hold it, else the whole message.
    fn header_source(
        &self,
        name: Option<&str>,
    ) -> Option<(&'r [u8], &'r mail_parser::Message<'r>)> {
        if let Some(head) = self.head {
            if name.is_none_or(headers::is_cached_field) {
                let parsed = self
                    .head_parsed
                    .get_or_init(|| mime::parse(head))
                    .as_ref()?;
                return Some((head, parsed));
            }
        }
        Some((self.raw(), self.parsed()?))
    }

    fn raw(&self) -> &'r [u8] {
        self.raw
            .get_or_init(|| self.mailbox.read(self.message).unwrap_or_default())
    }

    fn parsed(&self) -> Option<&'r mail_parser::Message<'r>> {
        let raw = self.raw();
        self.parsed.get_or_init(|| mime::parse(raw)).as_ref()
    }

    /// The Date: header's day, disregarding time and timezone (RFC 9051 §6.4.4).
    fn sent_day(&self) -> Option<i64> {
        let date = self.header_source(None)?.1.date()?;
        Some(days_from_civil(
            i64::from(date.year),
            u32::from(date.month),
            u32::from(date.day),
        ))
    }

    fn matches(&self, key: &Key) -> bool {
        let m = self.message;
        let day = m.internal_date.div_euclid(86_400);
        match key {
            Key::All => true,
            Key::None => false,
            Key::And(keys) => keys.iter().all(|k| self.matches(k)),
            Key::Or(a, b) => self.matches(a) || self.matches(b),
            Key::Not(k) => !self.matches(k),
            Key::In(table) => table.get(self.index).copied().unwrap_or(false),
            Key::Flag(f) => m.flags.contains(*f),
            Key::Keyword(i) => m.keywords.has(*i),
            Key::Larger(n) => m.size > *n,
            Key::Smaller(n) => m.size < *n,
            Key::Before(d) => day < *d,
            Key::On(d) => day == *d,
            Key::Since(d) => day >= *d,
            Key::Older(t) => m.internal_date <= *t,
            Key::Younger(t) => m.internal_date >= *t,
            Key::SentBefore(d) => self.sent_day().is_some_and(|s| s < *d),
            Key::SentOn(d) => self.sent_day().is_some_and(|s| s == *d),
            Key::SentSince(d) => self.sent_day().is_some_and(|s| s >= *d),
            Key::Header(name, needle) => self.field(name, needle),
            Key::Body(needle) => self.body_contains(needle),
            Key::Text(needle) => self.body_contains(needle) || self.headers_contain(needle),
            Key::ModSeq(at_least) => m.modseq >= *at_least,
        }
    }

    /// Whether header `name` (decoded: address names and addresses, text; or raw) contains
    /// `needle`.
    fn field(&self, name: &str, needle: &str) -> bool {
        let Some((raw, msg)) = self.header_source(Some(name)) else {
            return false;
        };
        for h in msg.root_part().headers() {
            if !h.name().eq_ignore_ascii_case(name) {
                continue;
            }
            // An empty string matches every message that has the header (RFC 9051 §6.4.4).
            if needle.is_empty() {
                return true;
            }
            let addresses = |list: &mut dyn Iterator<Item = &mail_parser::Addr<'_>>| {
                list.map(|a| {
                    format!(
                        "{} <{}>",
                        a.name.as_deref().unwrap_or(""),
                        a.address.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
            };
            let value = match h.value() {
                HeaderValue::Address(Address::List(list)) => addresses(&mut list.iter()),
                HeaderValue::Address(Address::Group(groups)) => {
                    addresses(&mut groups.iter().flat_map(|g| g.addresses.iter()))
                }
                HeaderValue::Text(t) => t.to_string(),
                HeaderValue::TextList(list) => list.join(" "),
                _ => String::new(),
            };
            let raw_value = raw
                .get(h.offset_start() as usize..h.offset_end() as usize)
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            if contains(&value, needle) || contains(&raw_value, needle) {
                return true;
            }
        }
        false
    }

    fn headers_contain(&self, needle: &str) -> bool {
        let raw = self.raw();
        let Some(msg) = self.parsed() else {
            return false;
        };
        let root = msg.root_part();
        let header = raw
            .get(root.raw_header_offset() as usize..root.raw_body_offset() as usize)
            .unwrap_or_default();
        if contains(&String::from_utf8_lossy(header), needle) {
            return true;
        }
        msg.subject().is_some_and(|s| contains(s, needle))
            || root.headers().iter().any(|h| match h.value() {
                HeaderValue::Address(Address::List(list)) => list
                    .iter()
                    .any(|a| a.name.as_deref().is_some_and(|n| contains(n, needle))),
                _ => false,
            })
    }

    fn body_contains(&self, needle: &str) -> bool {
        let raw = self.raw();
        let Some(msg) = self.parsed() else {
            return false;
        };
        for i in 0..msg.text_body_count() {
            if msg.body_text(i).is_some_and(|t| contains(&t, needle)) {
                return true;
            }
        }
        // Parts mail-parser does not count as text (and undecodable ones): their raw bytes.
        let body = raw
            .get(msg.root_part().raw_body_offset() as usize..)
            .unwrap_or_default();
        contains(&String::from_utf8_lossy(body), needle)
    }
}

impl Session {
    /// SEARCH / UID SEARCH.
    pub(super) fn search(
        &mut self,
        tag: &str,
        charset: Option<&Charset<'_>>,
        criteria: &[SearchKey<'_>],
        uid: bool,
        out: &mut Out,
    ) {
        let command = if uid { "UID SEARCH" } else { "SEARCH" };
        if let Some(charset) = charset {
            let name = match charset {
                Charset::Atom(a) => a.as_ref().to_owned(),
                Charset::Quoted(q) => q.as_ref().to_owned(),
            };
            if !["UTF-8", "US-ASCII"]
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&name))
            {
                return out.no_code(tag, "BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset");
            }
        }
        self.report_changes(out, uid, uid);
        let Some(sel) = self.selected.as_ref() else {
            return out.bad(tag, "No mailbox selected");
        };
        let now = torsion_core::date::unix_now() as i64;
        let key = Key::And(criteria.iter().map(|k| Key::compile(k, sel, now)).collect());
        let mut hits = Vec::new();
        let mut top_modseq = 0;
        let mut hit_modseqs = Vec::new();
        let heads = if key.uses_cached_fields() {
            let all: Vec<&Message> = sel.messages.iter().collect();
            let live = |uid| sel.messages.binary_search_by_key(&uid, |m| m.uid).is_ok();
            match sel
                .mailbox
                .header_fields(sel.uid_validity, &all, &live, all.len())
            {
                Ok(heads) => heads,
                Err(e) => {
                    // Only a cache: the messages are read instead.
                    tracing::warn!(mailbox = %sel.name, error = %e, "header cache unusable");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        for (index, message) in sel.messages.iter().enumerate() {
            let raw = OnceCell::new();
            let parsed = OnceCell::new();
            let head_parsed = OnceCell::new();
            let candidate = Candidate {
                index,
                message,
                mailbox: &*sel.mailbox,
                raw: &raw,
                parsed: &parsed,
                head: heads.get(index).and_then(|h| h.as_deref()),
                head_parsed: &head_parsed,
            };
            if candidate.matches(&key) {
                hits.push(if uid { message.uid } else { index as u32 + 1 });
                hit_modseqs.push(message.modseq);
                top_modseq = top_modseq.max(message.modseq);
            }
        }
        // RFC 7162 §3.1.5: a search with MODSEQ tells the highest MODSEQ of what it found.
        let with_modseq = key.uses_modseq() && !hits.is_empty();
        if with_modseq {
            self.enable_condstore(out);
        }
        // RFC 4731 §3.1: RETURN (…) asks for the ESEARCH form; IMAP4rev2 always answers in it
        // (RFC 9051 §6.4.4), with ALL when no options were given.
        let options = self.search_return.take();
        if self.rev2 || options.is_some() {
            let options = options.unwrap_or(ReturnOptions {
                all: true,
                ..ReturnOptions::default()
            });
            let mut line = format!("ESEARCH (TAG {})", super::response::quoted(tag));
            if uid {
                line.push_str(" UID");
            }
            // RFC 4731 §3.1: MIN, MAX and ALL are left out when nothing matched; COUNT is 0.
            let (min, max) = (hits.first(), hits.last());
            if let (true, Some(min)) = (options.min, min) {
                line.push_str(&format!(" MIN {min}"));
            }
            if let (true, Some(max)) = (options.max, max) {
                line.push_str(&format!(" MAX {max}"));
            }
            if options.all && !hits.is_empty() {
                line.push_str(&format!(" ALL {}", compress(&hits)));
            }
            if options.count {
                line.push_str(&format!(" COUNT {}", hits.len()));
            }
            if with_modseq {
                // RFC 7162 §3.1.5 with RFC 4731: MIN or MAX alone gives that message's MODSEQ,
                // anything else the highest of what is returned.
                let first = hit_modseqs.first().copied().unwrap_or(0);
                let last = hit_modseqs.last().copied().unwrap_or(0);
                let modseq = match (options.min, options.max, options.all || options.count) {
                    (true, false, false) => first,
                    (false, true, false) => last,
                    (true, true, false) => first.max(last),
                    _ => top_modseq,
                };
                line.push_str(&format!(" MODSEQ {modseq}"));
            }
            out.untagged(&line);
        } else {
            let mut list: Vec<String> = hits.iter().map(u32::to_string).collect();
            if with_modseq {
                list.push(format!("(MODSEQ {top_modseq})"));
            }
            out.untagged(format!("SEARCH {}", list.join(" ")).trim_end());
        }
        out.ok(tag, &format!("{command} completed"));
    }
}

/// `1:3,5,7:9`.
pub fn compress(sorted: &[u32]) -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for &n in sorted {
        match ranges.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(n) => last.1 = n,
            _ => ranges.push((n, n)),
        }
    }
    compress_ranges(&ranges)
}

/// Ranges as a sequence set: `1:3,5,7:9`.
pub fn compress_ranges(ranges: &[(u32, u32)]) -> String {
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}:{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ranges() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2020, 9, 13), 18_518);
        assert_eq!(torsion_core::date::civil_from_days(18_518), (2020, 9, 13));
        assert_eq!(day_of(&"2000-02-29"), days_from_civil(2000, 2, 29));
        assert_eq!(compress(&[1, 2, 3, 5, 7, 8, 9]), "1:3,5,7:9");
        assert_eq!(compress(&[4]), "4");
        assert_eq!(compress(&[]), "");
    }
}
