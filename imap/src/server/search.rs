//! SEARCH and UID SEARCH (RFC 9051 §6.4.4): every key of the base protocol plus WITHIN's
//! OLDER/YOUNGER, over flags, sizes, UIDs and sequence sets (no file read), internal and sent
//! dates, and header, body and text matches (case-insensitive substrings of the decoded text,
//! the message read and parsed once, only when a key needs it). Charsets: UTF-8 and US-ASCII
//! (others `NO [BADCHARSET]`). IMAP4rev1 clients get `* SEARCH`, IMAP4rev2 ones `* ESEARCH`
//! (RFC 9051 §7.3.4). imap-types 2.0.0-alpha.10 parses no ESEARCH return options, so RETURN
//! (MIN MAX COUNT) is not offered yet.

use imap_codec::imap_types::core::{AString, Charset};
use imap_codec::imap_types::search::SearchKey;
use mail_parser::{Address, HeaderValue};
use torsion_mailstore::{Flags, Message};

use super::mime;
use super::response::Out;
use super::selected::resolve;
use super::session::Session;

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

/// What of a message the keys look at, read when first needed.
struct Content {
    raw: Option<Vec<u8>>,
}

impl Content {
    fn contains(haystack: &str, needle: &str) -> bool {
        haystack.to_lowercase().contains(needle)
    }
}

/// One message being tested.
struct Candidate<'a> {
    index: usize,
    message: &'a Message,
    content: Content,
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
        if criteria.iter().any(uses_modseq) {
            return out.no_code(tag, "CANNOT", "CONDSTORE is not available yet");
        }
        self.report_changes(out, uid, uid);
        let Some(sel) = self.selected.as_ref() else {
            return out.bad(tag, "No mailbox selected");
        };
        let now = torsion_core::date::unix_now() as i64;
        let names = self.keyword_names(sel);
        let mut hits = Vec::new();
        for (index, message) in sel.messages.iter().enumerate() {
            let mut c = Candidate {
                index,
                message,
                content: Content { raw: None },
            };
            let all = criteria
                .iter()
                .all(|k| matches(k, &mut c, sel, &names, now));
            if all {
                hits.push(if uid { message.uid } else { index as u32 + 1 });
            }
        }
        if self.rev2 {
            let mut line = format!("ESEARCH (TAG {})", super::response::quoted(tag));
            if uid {
                line.push_str(" UID");
            }
            if !hits.is_empty() {
                line.push_str(&format!(" ALL {}", compress(&hits)));
            }
            out.untagged(&line);
        } else {
            let list: Vec<String> = hits.iter().map(u32::to_string).collect();
            out.untagged(format!("SEARCH {}", list.join(" ")).trim_end());
        }
        out.ok(tag, &format!("{command} completed"));
    }

    fn keyword_names(&self, sel: &super::selected::Selected) -> Vec<(usize, String)> {
        sel.keywords
            .names()
            .map(|(i, n)| (i, n.to_ascii_lowercase()))
            .collect()
    }
}

fn uses_modseq(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::ModSequence { .. } => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.as_ref().iter().any(uses_modseq),
        _ => false,
    }
}

/// `1:3,5,7:9`.
pub fn compress(sorted: &[u32]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    out.join(",")
}

fn has_keyword(c: &Candidate<'_>, names: &[(usize, String)], atom: &str) -> bool {
    let atom = atom.to_ascii_lowercase();
    if atom == "$forwarded" {
        return c.message.flags.contains(Flags::PASSED);
    }
    names
        .iter()
        .any(|(i, n)| *n == atom && c.message.keywords.has(*i))
}

fn matches(
    key: &SearchKey<'_>,
    c: &mut Candidate<'_>,
    sel: &super::selected::Selected,
    names: &[(usize, String)],
    now: i64,
) -> bool {
    let m = c.message;
    let flag = |f: Flags| m.flags.contains(f);
    let internal_day = m.internal_date.div_euclid(86_400);
    match key {
        SearchKey::All | SearchKey::Old => true,
        // No \Recent in this server (RFC 9051 removed it).
        SearchKey::New | SearchKey::Recent => false,
        SearchKey::And(keys) => keys.as_ref().iter().all(|k| matches(k, c, sel, names, now)),
        SearchKey::Or(a, b) => matches(a, c, sel, names, now) || matches(b, c, sel, names, now),
        SearchKey::Not(k) => !matches(k, c, sel, names, now),
        SearchKey::SequenceSet(set) => resolve(set, false, &sel.messages)
            .binary_search(&c.index)
            .is_ok(),
        SearchKey::Uid(set) => resolve(set, true, &sel.messages)
            .binary_search(&c.index)
            .is_ok(),
        SearchKey::Answered => flag(Flags::ANSWERED),
        SearchKey::Unanswered => !flag(Flags::ANSWERED),
        SearchKey::Deleted => flag(Flags::DELETED),
        SearchKey::Undeleted => !flag(Flags::DELETED),
        SearchKey::Draft => flag(Flags::DRAFT),
        SearchKey::Undraft => !flag(Flags::DRAFT),
        SearchKey::Flagged => flag(Flags::FLAGGED),
        SearchKey::Unflagged => !flag(Flags::FLAGGED),
        SearchKey::Seen => flag(Flags::SEEN),
        SearchKey::Unseen => !flag(Flags::SEEN),
        SearchKey::Keyword(atom) => has_keyword(c, names, atom.as_ref()),
        SearchKey::Unkeyword(atom) => !has_keyword(c, names, atom.as_ref()),
        SearchKey::Larger(n) => m.size > u64::from(*n),
        SearchKey::Smaller(n) => m.size < u64::from(*n),
        SearchKey::Before(d) => internal_day < day_of(d.as_ref()),
        SearchKey::On(d) => internal_day == day_of(d.as_ref()),
        SearchKey::Since(d) => internal_day >= day_of(d.as_ref()),
        SearchKey::Older(secs) => now - m.internal_date >= i64::from(secs.get()),
        SearchKey::Younger(secs) => now - m.internal_date <= i64::from(secs.get()),
        SearchKey::SentBefore(d) | SearchKey::SentOn(d) | SearchKey::SentSince(d) => {
            let Some(sent) = sent_day(c, sel) else {
                return false;
            };
            let day = day_of(d.as_ref());
            match key {
                SearchKey::SentBefore(_) => sent < day,
                SearchKey::SentOn(_) => sent == day,
                _ => sent >= day,
            }
        }
        SearchKey::From(s) => field(c, sel, "from", &text(s)),
        SearchKey::To(s) => field(c, sel, "to", &text(s)),
        SearchKey::Cc(s) => field(c, sel, "cc", &text(s)),
        SearchKey::Bcc(s) => field(c, sel, "bcc", &text(s)),
        SearchKey::Subject(s) => field(c, sel, "subject", &text(s)),
        SearchKey::Header(name, value) => {
            let name = String::from_utf8_lossy(name.as_ref()).to_lowercase();
            field(c, sel, &name, &text(value))
        }
        SearchKey::Body(s) => body_contains(c, sel, &text(s)),
        SearchKey::Text(s) => {
            let needle = text(s);
            body_contains(c, sel, &needle) || headers_contain(c, sel, &needle)
        }
        _ => false,
    }
}

fn raw<'c>(c: &'c mut Candidate<'_>, sel: &super::selected::Selected) -> &'c [u8] {
    if c.content.raw.is_none() {
        c.content.raw = Some(sel.maildir.read(c.message).unwrap_or_default());
    }
    c.content.raw.as_deref().unwrap_or_default()
}

fn sent_day(c: &mut Candidate<'_>, sel: &super::selected::Selected) -> Option<i64> {
    let raw = raw(c, sel);
    let msg = mime::parse(raw)?;
    let date = msg.date()?;
    // RFC 9051: the date, disregarding time and timezone.
    Some(days_from_civil(
        i64::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    ))
}

/// Whether header `name` (decoded: address names and addresses, text) contains `needle`.
fn field(c: &mut Candidate<'_>, sel: &super::selected::Selected, name: &str, needle: &str) -> bool {
    let raw = raw(c, sel);
    let Some(msg) = mime::parse(raw) else {
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
        let value = match h.value() {
            HeaderValue::Address(Address::List(list)) => list
                .iter()
                .map(|a| {
                    format!(
                        "{} <{}>",
                        a.name.as_deref().unwrap_or(""),
                        a.address.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            HeaderValue::Address(Address::Group(groups)) => groups
                .iter()
                .flat_map(|g| g.addresses.iter())
                .map(|a| {
                    format!(
                        "{} <{}>",
                        a.name.as_deref().unwrap_or(""),
                        a.address.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            HeaderValue::Text(t) => t.to_string(),
            HeaderValue::TextList(list) => list.join(" "),
            _ => String::new(),
        };
        let raw_value = raw
            .get(h.offset_start() as usize..h.offset_end() as usize)
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
            .into_owned();
        if Content::contains(&value, needle) || Content::contains(&raw_value, needle) {
            return true;
        }
    }
    false
}

fn headers_contain(c: &mut Candidate<'_>, sel: &super::selected::Selected, needle: &str) -> bool {
    let raw = raw(c, sel);
    let Some(msg) = mime::parse(raw) else {
        return false;
    };
    let root = msg.root_part();
    let header = raw
        .get(root.raw_header_offset() as usize..root.raw_body_offset() as usize)
        .unwrap_or_default();
    if Content::contains(&String::from_utf8_lossy(header), needle) {
        return true;
    }
    msg.subject().is_some_and(|s| Content::contains(s, needle))
        || root.headers().iter().any(|h| match h.value() {
            HeaderValue::Address(Address::List(list)) => list.iter().any(|a| {
                a.name
                    .as_deref()
                    .is_some_and(|n| Content::contains(n, needle))
            }),
            _ => false,
        })
}

fn body_contains(c: &mut Candidate<'_>, sel: &super::selected::Selected, needle: &str) -> bool {
    let raw = raw(c, sel);
    let Some(msg) = mime::parse(raw) else {
        return false;
    };
    let decoded = (0..msg.text_body_count()).filter_map(|i| msg.body_text(i));
    for text in decoded {
        if Content::contains(&text, needle) {
            return true;
        }
    }
    // Parts mail-parser does not count as text (and undecodable ones): their raw bytes.
    let root = msg.root_part();
    let body = raw
        .get(root.raw_body_offset() as usize..)
        .unwrap_or_default();
    Content::contains(&String::from_utf8_lossy(body), needle)
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
