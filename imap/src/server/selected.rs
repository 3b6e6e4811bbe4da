//! The mailbox commands: SELECT/EXAMINE, STATUS, APPEND, and in the selected state FETCH,
//! STORE, EXPUNGE (and UID EXPUNGE, RFC 4315), COPY/MOVE (RFC 6851) with UIDPLUS codes, CLOSE,
//! UNSELECT, CHECK — and telling a session what other sessions and programs changed
//! (EXISTS, EXPUNGE, FETCH FLAGS) at the points RFC 9051 §7.5.1 allows.
//!
//! FETCH serves FLAGS, UID, RFC822.SIZE, INTERNALDATE, ENVELOPE, BODY, BODYSTRUCTURE (from
//! mail-parser, [`super::mime`]) and every body section (`BODY[]`, `HEADER`,
//! `HEADER.FIELDS[.NOT]`, `TEXT`, MIME parts `1.2`, `1.2.MIME`, `1.2.HEADER`, `1.2.TEXT`,
//! `RFC822*`, partial ranges), MODSEQ with CHANGEDSINCE/VANISHED (RFC 7162), and BINARY,
//! BINARY.PEEK and BINARY.SIZE (RFC 3516: transfer encoding undone, literal8 for NULs).

use std::io::Write as _;
use std::sync::Arc;

use imap_codec::imap_types::command::{FetchModifier, SelectParameter};
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName, Section};
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use imap_codec::imap_types::status::StatusDataItemName;
use torsion_mailstore::Mailbox as StoredMailbox;
use torsion_mailstore::{Flags, KeywordTable, Keywords, MailAddress, Message, NewMessage};

use super::mime::{self, Want};
use super::response::Out;
use super::session::Session;

/// Why a mailbox's STATUS could not be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StatusFailure {
    /// No such mailbox.
    NotFound,
    /// The store failed reading it.
    Store,
}

/// What a STORE asks for.
#[derive(Debug)]
pub struct StoreRequest<'f, 'a> {
    /// Replace, add or remove.
    pub kind: StoreType,
    /// `.SILENT` or not.
    pub response: StoreResponse,
    /// The flags.
    pub flags: &'f [Flag<'a>],
    /// CONDSTORE `UNCHANGEDSINCE`.
    pub unchanged_since: Option<u64>,
    /// UID STORE.
    pub uid: bool,
}

/// A selected mailbox as the client knows it.
#[derive(Debug)]
pub struct Selected {
    /// Its name (UTF-8).
    pub name: String,
    /// Where it is.
    pub mailbox: Arc<dyn StoredMailbox>,
    /// EXAMINE.
    pub read_only: bool,
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// The messages in message-sequence-number order, as last reported to the client.
    pub messages: Vec<Message>,
    /// Keyword names.
    pub keywords: KeywordTable,
    /// HIGHESTMODSEQ as of the last look at the mailbox.
    pub highest_modseq: u64,
    /// UIDNEXT as of the last look.
    pub uid_next: u32,
    /// Expunges seen but not yet told (they wait for a command that allows them).
    pub expunges_pending: bool,
    /// UIDs that are `\Recent` in this session, ascending (IMAP4rev1 only: RFC 3501
    /// §2.3.2; RFC 9051 has no \Recent). Claimed from the store by SELECT and as new mail
    /// arrives, so each message is recent in one session only; EXAMINE shows what no one has
    /// claimed and claims nothing.
    pub recent: Vec<u32>,
}

impl Selected {
    /// Whether the message with `uid` is `\Recent` here.
    pub fn is_recent(&self, uid: u32) -> bool {
        self.recent.binary_search(&uid).is_ok()
    }
}

/// The system flags a client may set (and `$Forwarded`, which Maildir keeps as `P`).
const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded";

/// `(\Seen $Junk …)` for a message, with `\Recent` if `recent`.
pub fn flag_list(flags: Flags, keywords: Keywords, table: &KeywordTable, recent: bool) -> String {
    let mut out = Vec::new();
    write_flag_list(&mut out, flags, keywords, table, recent);
    String::from_utf8(out).unwrap_or_default()
}

/// [`flag_list`] appended to `out` (no allocation: a FETCH 1:* FLAGS writes 100,000).
pub fn write_flag_list(
    out: &mut Vec<u8>,
    flags: Flags,
    keywords: Keywords,
    table: &KeywordTable,
    recent: bool,
) {
    out.push(b'(');
    let start = out.len();
    let word = |out: &mut Vec<u8>, name: &str| {
        if out.len() > start {
            out.push(b' ');
        }
        out.extend_from_slice(name.as_bytes());
    };
    for name in flags.iter_imap_names() {
        word(out, name);
    }
    if recent {
        word(out, "\\Recent");
    }
    for name in table.iter_names_of(keywords) {
        word(out, name);
    }
    out.push(b')');
}

/// INTERNALDATE (`"17-Jul-1996 02:44:25 +0000"`) of a Unix time.
pub fn internal_date(secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = torsion_core::date::civil_from_days(days);
    format!(
        "\"{d:02}-{}-{y:04} {:02}:{:02}:{:02} +0000\"",
        MONTHS[(m as usize).clamp(1, 12) - 1],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The indexes (0-based) of the messages `set` names among `messages`, ascending, each once.
/// Ranges are intersected with what exists (never enumerated: `1:4294967295` costs nothing).
/// With UIDs, `*` is the highest UID and `n:*` always includes it (RFC 9051 §6.4.8).
pub fn resolve(set: &SequenceSet, uid: bool, messages: &[Message]) -> Vec<usize> {
    let n = messages.len();
    let largest = if uid {
        messages.last().map_or(0, |m| m.uid)
    } else {
        n as u32
    };
    let value = |s: &SeqOrUid| match s {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => largest,
    };
    let mut out: Vec<usize> = Vec::new();
    for seq in set.0.as_ref() {
        let (lo, hi) = match seq {
            Sequence::Single(s) => (value(s), value(s)),
            Sequence::Range(a, b) => {
                let (a, b) = (value(a), value(b));
                (a.min(b), a.max(b))
            }
        };
        if uid {
            let start = messages.partition_point(|m| m.uid < lo);
            let end = messages.partition_point(|m| m.uid <= hi);
            out.extend(start..end);
        } else if lo >= 1 && (lo as usize) <= n {
            out.extend(lo as usize - 1..(hi as usize).min(n));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The ENVELOPE of a message mail-parser could not read at all.
fn empty_envelope() -> String {
    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)".to_owned()
}

/// The BODY of a message mail-parser could not read at all: `size` bytes of text.
fn empty_body(size: u64) -> String {
    format!("(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" {size} 0)")
}

/// The header of a message: up to and including the blank line that ends it.
fn header_of(message: &[u8]) -> &[u8] {
    let mut i = 0;
    while i < message.len() {
        let line_end = message[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(message.len(), |p| i + p + 1);
        let line = &message[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            return &message[..line_end];
        }
        i = line_end;
    }
    message
}

/// Header fields named in `names` (or, with `not`, the others), then the blank line.
fn header_fields(message: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let header = header_of(message);
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
            keep = names.iter().any(|n| n.eq_ignore_ascii_case(&name)) != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn astring_text(a: &AString<'_>) -> String {
    String::from_utf8_lossy(a.as_ref()).into_owned()
}

/// One FETCH body item to serve: the name to answer with and how to cut the message.
struct BodyItem {
    name: String,
    part: BodyPart,
    partial: Option<(u32, u32)>,
    peek: bool,
}

enum BodyPart {
    Whole,
    Header,
    Fields(Vec<String>, bool),
    Text,
    /// A MIME part (`1.2`) and what of it.
    Part(Vec<u32>, Want),
    /// Header fields of the message a part holds (`1.2.HEADER.FIELDS (…)`).
    PartFields(Vec<u32>, Vec<String>, bool),
    /// BINARY[1.2] (RFC 3516): the part with its transfer encoding undone.
    Binary(Vec<u32>),
}

/// BINARY of part `path`: the bytes, a missing part as empty (like BODY), or the CTE that
/// cannot be undone.
fn binary_of(parsed: Option<&mail_parser::Message<'_>>, path: &[u32]) -> Result<Vec<u8>, String> {
    let Some(msg) = parsed else {
        return Ok(Vec::new());
    };
    match mime::binary(msg, path) {
        Ok(bytes) => Ok(bytes),
        Err(mime::BinaryError::NoPart) => Ok(Vec::new()),
        Err(mime::BinaryError::UnknownCte(cte)) => Err(cte),
    }
}

fn unknown_cte(tag: &str, cte: &str, out: &mut Out) {
    out.no_code(
        tag,
        "UNKNOWN-CTE",
        &format!("Cannot decode the transfer encoding {cte:?}"),
    );
}

fn path_of(part: &imap_codec::imap_types::fetch::Part) -> Vec<u32> {
    part.0.as_ref().iter().map(|n| n.get()).collect()
}

fn dotted(path: &[u32]) -> String {
    path.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn field_list(f: &[String], not: bool) -> String {
    format!(
        "HEADER.FIELDS{} ({})",
        if not { ".NOT" } else { "" },
        f.iter()
            .map(|n| n.to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(" ")
    )
}

impl Session {
    /// Flags in a STORE/APPEND as system flags and keyword names; `None` for `\Recent` or
    /// an unknown `\` flag (RFC 9051: only keywords may be created).
    fn parse_flags(flags: &[Flag<'_>]) -> Option<(Flags, Vec<String>)> {
        let mut system = Flags::EMPTY;
        let mut keywords = Vec::new();
        for flag in flags {
            match flag {
                Flag::Answered => system = system.with(Flags::ANSWERED),
                Flag::Deleted => system = system.with(Flags::DELETED),
                Flag::Draft => system = system.with(Flags::DRAFT),
                Flag::Flagged => system = system.with(Flags::FLAGGED),
                Flag::Seen => system = system.with(Flags::SEEN),
                Flag::Keyword(atom) if atom.as_ref().eq_ignore_ascii_case("$Forwarded") => {
                    system = system.with(Flags::PASSED)
                }
                Flag::Keyword(atom) => keywords.push(atom.as_ref().to_owned()),
                Flag::Extension(_) => return None,
            }
        }
        Some((system, keywords))
    }

    /// SELECT / EXAMINE (RFC 9051 §6.3.2).
    pub(super) fn select(
        &mut self,
        tag: &str,
        mailbox: &Mailbox<'_>,
        parameters: &[SelectParameter],
        read_only: bool,
        out: &mut Out,
    ) {
        let command = if read_only { "EXAMINE" } else { "SELECT" };
        let mut resync = None;
        for parameter in parameters {
            match parameter {
                SelectParameter::CondStore => self.enable_condstore(out),
                // RFC 7162 §3.2.5: QRESYNC parameters without ENABLE QRESYNC are an error.
                SelectParameter::QResync { .. } if !self.qresync => {
                    return out.bad(tag, "QRESYNC must be enabled first");
                }
                SelectParameter::QResync {
                    uid_validity,
                    mod_sequence_value,
                    known_uids,
                    ..
                } => resync = Some((uid_validity.get(), mod_sequence_value.get(), known_uids)),
            }
        }
        // Selecting deselects first, even when the new selection fails (RFC 9051 §6.3.2).
        if self.selected.take().is_some() {
            out.untagged("OK [CLOSED] Previous mailbox closed");
        }
        let Some(addr) = self.account().cloned() else {
            return;
        };
        let Some(name) = self.mailbox_name(mailbox) else {
            return out.no_code(tag, "NONEXISTENT", "No such mailbox");
        };
        let maildir = match self.config.store.mailbox(&addr, &name) {
            Ok(m) => m,
            Err(_) => return out.no_code(tag, "NONEXISTENT", "No such mailbox"),
        };
        let snapshot = match maildir.sync() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(mailbox = name, "{command}: {e}");
                return out.no_code(tag, "SERVERBUG", "The mailbox could not be read");
            }
        };
        let keyword_names: Vec<&str> = snapshot.keywords.names().map(|(_, n)| n).collect();
        let all = if keyword_names.is_empty() {
            SYSTEM_FLAGS.to_owned()
        } else {
            format!("{SYSTEM_FLAGS} {}", keyword_names.join(" "))
        };
        out.untagged(&format!("{} EXISTS", snapshot.messages.len()));
        let recent = if self.rev2 {
            Vec::new()
        } else if read_only {
            let first = snapshot.first_recent;
            snapshot
                .messages
                .iter()
                .map(|m| m.uid)
                .filter(|&uid| uid >= first)
                .collect()
        } else {
            maildir.claim_recent().unwrap_or_else(|e| {
                tracing::warn!(mailbox = name, "{command}: \\Recent: {e}");
                Vec::new()
            })
        };
        if !self.rev2 {
            // RFC 3501 §7.3.2; the claim may have seen mail newer than the snapshot: only
            // what this view holds counts.
            let shown = recent
                .iter()
                .filter(|&&uid| snapshot.get(uid).is_some())
                .count();
            out.untagged(&format!("{shown} RECENT"));
        }
        out.untagged(&format!("FLAGS ({all})"));
        let permanent = if read_only {
            "()".to_owned()
        } else {
            format!("({all} \\*)")
        };
        out.untagged(&format!("OK [PERMANENTFLAGS {permanent}] Flags permitted"));
        if !self.rev2 {
            if let Some(i) = snapshot
                .messages
                .iter()
                .position(|m| !m.flags.contains(Flags::SEEN))
            {
                out.untagged(&format!("OK [UNSEEN {}] First unseen", i + 1));
            }
        }
        out.untagged(&format!(
            "OK [UIDVALIDITY {}] UIDs valid",
            snapshot.uid_validity
        ));
        out.untagged(&format!(
            "OK [UIDNEXT {}] Predicted next UID",
            snapshot.uid_next
        ));
        if self.condstore {
            out.untagged(&format!(
                "OK [HIGHESTMODSEQ {}] Highest",
                snapshot.highest_modseq
            ));
        }
        if self.rev2 {
            // RFC 9051 §6.3.2: the LIST response for the mailbox.
            out.untagged(&format!("LIST () \".\" {}", self.shown(&name)));
        }
        self.selected = Some(Selected {
            name,
            mailbox: maildir,
            read_only,
            uid_validity: snapshot.uid_validity,
            messages: snapshot.messages,
            keywords: snapshot.keywords,
            highest_modseq: snapshot.highest_modseq,
            uid_next: snapshot.uid_next,
            expunges_pending: false,
            recent,
        });
        // RFC 7162 §3.2.5.1: what changed since the client's last session, if its UIDs
        // are still good — expunges as VANISHED (EARLIER), then flags with MODSEQ.
        if let Some((validity, since, known)) = resync {
            if validity == snapshot.uid_validity {
                self.vanished_earlier(since, known.as_ref(), out);
                let sel = self.selected.as_ref().expect("just selected");
                for (i, m) in sel.messages.iter().enumerate() {
                    let known = known
                        .as_ref()
                        .is_none_or(|k| !resolve(k, true, std::slice::from_ref(m)).is_empty());
                    if m.modseq > since && known {
                        out.untagged(&self.flags_fetch(i, m, true));
                    }
                }
            }
        }
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        out.ok(tag, &format!("[{mode}] {command} completed"));
    }

    /// STATUS (RFC 9051 §6.3.11, RFC 8438 SIZE).
    pub(super) fn status(
        &mut self,
        tag: &str,
        mailbox: &Mailbox<'_>,
        items: &[StatusDataItemName],
        out: &mut Out,
    ) {
        let Some(addr) = self.account().cloned() else {
            return;
        };
        let Some(name) = self.mailbox_name(mailbox) else {
            return out.no_code(tag, "NONEXISTENT", "No such mailbox");
        };
        match self.status_line(&addr, &name, items, out) {
            Ok(line) => {
                out.untagged(&line);
                out.ok(tag, "STATUS completed");
            }
            Err(StatusFailure::NotFound) => out.no_code(tag, "NONEXISTENT", "No such mailbox"),
            Err(StatusFailure::Store) => {
                out.no_code(tag, "SERVERBUG", "The mailbox could not be read")
            }
        }
    }

    /// The `STATUS name (…)` response for one mailbox (also LIST-STATUS's, RFC 5819).
    pub(super) fn status_line(
        &mut self,
        addr: &MailAddress,
        name: &str,
        items: &[StatusDataItemName],
        out: &mut Out,
    ) -> Result<String, StatusFailure> {
        let snapshot = match self.config.store.mailbox(addr, name).map(|m| m.sync()) {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!(mailbox = name, "STATUS: {e}");
                return Err(StatusFailure::Store);
            }
            Err(_) => return Err(StatusFailure::NotFound),
        };
        if items.contains(&StatusDataItemName::HighestModSeq) {
            self.enable_condstore(out);
        }
        let mut parts = Vec::new();
        for item in items {
            let value = match item {
                StatusDataItemName::HighestModSeq => ("HIGHESTMODSEQ", snapshot.highest_modseq),
                StatusDataItemName::Messages => ("MESSAGES", snapshot.messages.len() as u64),
                StatusDataItemName::Recent => (
                    "RECENT",
                    snapshot
                        .messages
                        .iter()
                        .filter(|m| m.uid >= snapshot.first_recent)
                        .count() as u64,
                ),
                StatusDataItemName::UidNext => ("UIDNEXT", u64::from(snapshot.uid_next)),
                StatusDataItemName::UidValidity => {
                    ("UIDVALIDITY", u64::from(snapshot.uid_validity))
                }
                StatusDataItemName::Unseen => (
                    "UNSEEN",
                    snapshot
                        .messages
                        .iter()
                        .filter(|m| !m.flags.contains(Flags::SEEN))
                        .count() as u64,
                ),
                StatusDataItemName::Deleted => (
                    "DELETED",
                    snapshot
                        .messages
                        .iter()
                        .filter(|m| m.flags.contains(Flags::DELETED))
                        .count() as u64,
                ),
                StatusDataItemName::Size => {
                    ("SIZE", snapshot.messages.iter().map(|m| m.size).sum())
                }
                _ => continue,
            };
            parts.push(format!("{} {}", value.0, value.1));
        }
        Ok(format!("STATUS {} ({})", self.shown(name), parts.join(" ")))
    }

    /// APPEND (RFC 9051 §6.3.12) with UIDPLUS's APPENDUID.
    pub(super) fn append(
        &mut self,
        tag: &str,
        mailbox: &Mailbox<'_>,
        flags: &[Flag<'_>],
        date: Option<i64>,
        message: &LiteralOrLiteral8<'_>,
        out: &mut Out,
    ) {
        self.append_all(tag, mailbox, &[(flags, date, message)], out);
    }

    /// APPEND of one message or, with MULTIAPPEND (RFC 3502), several: all are stored or,
    /// if any cannot be, none ("the server MUST NOT append any of the messages", §3).
    /// APPENDUID carries the UIDs as a set (RFC 4315 §3).
    pub(super) fn append_all(
        &mut self,
        tag: &str,
        mailbox: &Mailbox<'_>,
        messages: &[(&[Flag<'_>], Option<i64>, &LiteralOrLiteral8<'_>)],
        out: &mut Out,
    ) {
        let Some(addr) = self.account().cloned() else {
            return;
        };
        let Some(name) = self.mailbox_name(mailbox) else {
            return out.no_code(tag, "TRYCREATE", "No such mailbox");
        };
        let Ok(maildir) = self.config.store.mailbox(&addr, &name) else {
            return out.no_code(tag, "TRYCREATE", "No such mailbox");
        };
        let mut prepared = Vec::with_capacity(messages.len());
        for &(flags, date, message) in messages {
            let bytes: &[u8] = match message {
                LiteralOrLiteral8::Literal(l) => l.as_ref(),
                LiteralOrLiteral8::Literal8(l) => &l.data,
            };
            if bytes.len() as u64 > self.config.append_limit {
                return out.no_code(tag, "TOOBIG", "Message too large");
            }
            let Some((system, keyword_names)) = Self::parse_flags(flags) else {
                return out.bad(tag, "Invalid flag in APPEND");
            };
            let date = date
                .map(|d| std::time::UNIX_EPOCH + std::time::Duration::from_secs(d.max(0) as u64));
            prepared.push((bytes, system, keyword_names, date));
        }
        let result = (|| {
            let names: Vec<&str> = prepared
                .iter()
                .flat_map(|p| p.2.iter().map(String::as_str))
                .collect();
            let (table, _) = maildir.intern_keywords(&names)?;
            let parts: Vec<[&[u8]; 1]> = prepared.iter().map(|p| [p.0]).collect();
            let batch: Vec<NewMessage<'_>> = prepared
                .iter()
                .zip(&parts)
                .map(|(p, part)| NewMessage {
                    parts: part,
                    flags: p.1,
                    keywords: p
                        .2
                        .iter()
                        .filter_map(|n| table.index_of(n))
                        .fold(Keywords::EMPTY, |k, i| k.with(i)),
                    internal_date: p.3,
                })
                .collect();
            maildir.append_many(&batch)
        })();
        match result {
            Ok((validity, uids)) => {
                if self
                    .selected
                    .as_ref()
                    .is_some_and(|s| s.mailbox.same_as(&*maildir))
                {
                    self.report_changes(out, false, false);
                }
                out.ok(
                    tag,
                    &format!(
                        "[APPENDUID {validity} {}] APPEND completed",
                        super::search::compress(&uids)
                    ),
                );
            }
            Err(e) => {
                tracing::warn!(mailbox = name, "APPEND: {e}");
                out.no_code(tag, "SERVERBUG", "The message could not be stored");
            }
        }
    }

    /// Bring the selected view up to date with the mailbox, telling the client: new messages
    /// (`EXISTS`), changed flags (`FETCH (FLAGS …)`, with the UID for UID commands) and, where
    /// `expunges` allows (not during FETCH, STORE or SEARCH), vanished messages (`EXPUNGE`).
    pub fn report_changes(&mut self, out: &mut Out, expunges: bool, with_uid: bool) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let full = expunges && sel.expunges_pending;
        let changes = match sel.mailbox.changes(sel.highest_modseq, full) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(mailbox = sel.name, "sync: {e}");
                return;
            }
        };
        if changes.uid_validity != sel.uid_validity {
            // The index was rebuilt under us: UIDs mean nothing any more (RFC 9051 §2.3.1.1).
            out.untagged("BYE The mailbox was rebuilt; please reconnect");
            self.selected = None;
            return;
        }
        if let Some(keywords) = changes.keywords {
            sel.keywords = keywords;
        }
        if let Some(present) = &changes.present {
            let gone = |m: &Message| present.binary_search(&m.uid).is_err();
            if expunges {
                let mut vanished = Vec::new();
                for i in (0..sel.messages.len()).rev() {
                    if gone(&sel.messages[i]) {
                        let m = sel.messages.remove(i);
                        if self.qresync {
                            vanished.push(m.uid);
                        } else {
                            out.untagged(&format!("{} EXPUNGE", i + 1));
                        }
                    }
                }
                if !vanished.is_empty() {
                    // RFC 7162 §3.2.10: VANISHED replaces EXPUNGE once QRESYNC is on.
                    vanished.reverse();
                    out.untagged(&format!("VANISHED {}", super::search::compress(&vanished)));
                }
                sel.expunges_pending = false;
            } else if sel.messages.iter().any(gone) {
                sel.expunges_pending = true;
            }
        }
        let before = sel.messages.len();
        let mut told = Vec::new();
        for now in changes.changed {
            let last = sel.messages.last().map_or(0, |m| m.uid);
            if now.uid > last {
                sel.messages.push(now);
                continue;
            }
            let Ok(i) = sel.messages.binary_search_by_key(&now.uid, |m| m.uid) else {
                continue;
            };
            let m = &mut sel.messages[i];
            if now.flags != m.flags || now.keywords != m.keywords {
                told.push(i);
            }
            *m = now;
        }
        sel.highest_modseq = changes.highest_modseq;
        sel.uid_next = changes.uid_next;
        let arrived = sel.messages.len() > before;
        if arrived && !self.rev2 && !sel.read_only {
            // New mail is recent in the first session to hear of it (RFC 3501 §2.3.2).
            match sel.mailbox.claim_recent() {
                Ok(claimed) => {
                    sel.recent.extend(claimed);
                    sel.recent.sort_unstable();
                    sel.recent.dedup();
                }
                Err(e) => tracing::warn!(mailbox = sel.name, "\\Recent: {e}"),
            }
        }
        let sel = self.selected.as_ref().expect("still selected");
        for i in told {
            out.untagged(&self.flags_fetch(i, &sel.messages[i], with_uid));
        }
        if sel.messages.len() != before {
            out.untagged(&format!("{} EXISTS", sel.messages.len()));
            if !self.rev2 {
                let recent = sel.messages.iter().filter(|m| sel.is_recent(m.uid)).count();
                out.untagged(&format!("{recent} RECENT"));
            }
        }
    }

    /// `N FETCH (UID u FLAGS (…) MODSEQ (m))` for a flag change: with the UID for UID
    /// commands, and UID and MODSEQ always once CONDSTORE is on (RFC 7162 §3.1, erratum 1807).
    pub(super) fn flags_fetch(&self, index: usize, m: &Message, with_uid: bool) -> String {
        let keywords = self.selected.as_ref().map(|s| &s.keywords);
        let empty = KeywordTable::default();
        let mut line = format!("{} FETCH (", index + 1);
        if with_uid || self.condstore {
            line.push_str(&format!("UID {} ", m.uid));
        }
        line.push_str(&format!(
            "FLAGS {}",
            flag_list(
                m.flags,
                m.keywords,
                keywords.unwrap_or(&empty),
                self.selected.as_ref().is_some_and(|s| s.is_recent(m.uid))
            )
        ));
        if self.condstore {
            line.push_str(&format!(" MODSEQ ({})", m.modseq));
        }
        line.push(')');
        line
    }

    /// FETCH / UID FETCH (RFC 9051 §6.4.5).
    pub(super) fn fetch(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        items: &MacroOrMessageDataItemNames<'_>,
        modifiers: &[FetchModifier],
        uid: bool,
        out: &mut Out,
    ) {
        let command = if uid { "UID FETCH" } else { "FETCH" };
        let mut names: Vec<MessageDataItemName<'_>> = match items {
            MacroOrMessageDataItemNames::Macro(m) => m.expand(),
            MacroOrMessageDataItemNames::MessageDataItemNames(n) => n.clone(),
        };
        if uid && !names.contains(&MessageDataItemName::Uid) {
            names.insert(0, MessageDataItemName::Uid);
        }
        let changed_since = modifiers.iter().find_map(|m| match m {
            FetchModifier::ChangedSince(n) => Some(n.get()),
            FetchModifier::Vanished => None,
        });
        let vanished = modifiers.contains(&FetchModifier::Vanished);
        // RFC 7162 §3.2.6: VANISHED only in UID FETCH, with CHANGEDSINCE, once QRESYNC is on.
        if vanished && !(uid && self.qresync && changed_since.is_some()) {
            return out.bad(
                tag,
                "VANISHED needs UID FETCH with CHANGEDSINCE after ENABLE QRESYNC",
            );
        }
        // CHANGEDSINCE implies the MODSEQ item (RFC 7162 §3.1.4.1).
        if changed_since.is_some() && !names.contains(&MessageDataItemName::ModSeq) {
            names.push(MessageDataItemName::ModSeq);
        }
        if names.contains(&MessageDataItemName::ModSeq) {
            self.enable_condstore(out);
        }
        self.report_changes(out, uid, uid);
        if let (true, Some(since)) = (vanished, changed_since) {
            self.vanished_earlier(since, Some(set), out);
        }
        let Some(sel) = self.selected.as_ref() else {
            return out.bad(tag, "No mailbox selected");
        };
        let mut bodies: Vec<Option<BodyItem>> = Vec::new();
        for name in &names {
            let item = match name {
                MessageDataItemName::BodyExt {
                    section,
                    partial,
                    peek,
                } => {
                    let names_of = |fields: &imap_codec::imap_types::core::Vec1<AString<'_>>| {
                        fields.as_ref().iter().map(astring_text).collect::<Vec<_>>()
                    };
                    let part = match section {
                        None => BodyPart::Whole,
                        Some(Section::Header(None)) => BodyPart::Header,
                        Some(Section::Text(None)) => BodyPart::Text,
                        Some(Section::HeaderFields(None, fields)) => {
                            BodyPart::Fields(names_of(fields), false)
                        }
                        Some(Section::HeaderFieldsNot(None, fields)) => {
                            BodyPart::Fields(names_of(fields), true)
                        }
                        Some(Section::Part(p)) => BodyPart::Part(path_of(p), Want::Body),
                        Some(Section::Mime(p)) => BodyPart::Part(path_of(p), Want::Mime),
                        Some(Section::Header(Some(p))) => BodyPart::Part(path_of(p), Want::Header),
                        Some(Section::Text(Some(p))) => BodyPart::Part(path_of(p), Want::Text),
                        Some(Section::HeaderFields(Some(p), fields)) => {
                            BodyPart::PartFields(path_of(p), names_of(fields), false)
                        }
                        Some(Section::HeaderFieldsNot(Some(p), fields)) => {
                            BodyPart::PartFields(path_of(p), names_of(fields), true)
                        }
                    };
                    let section_name = match &part {
                        BodyPart::Whole => String::new(),
                        BodyPart::Header => "HEADER".into(),
                        BodyPart::Text => "TEXT".into(),
                        BodyPart::Fields(f, not) => field_list(f, *not),
                        BodyPart::Part(p, want) => match want {
                            Want::Body => dotted(p),
                            Want::Mime => format!("{}.MIME", dotted(p)),
                            Want::Header => format!("{}.HEADER", dotted(p)),
                            Want::Text => format!("{}.TEXT", dotted(p)),
                        },
                        BodyPart::PartFields(p, f, not) => {
                            format!("{}.{}", dotted(p), field_list(f, *not))
                        }
                        BodyPart::Binary(p) => dotted(p),
                    };
                    let partial = partial.map(|(start, len)| (start, len.get()));
                    let name = match partial {
                        Some((start, _)) => format!("BODY[{section_name}]<{start}>"),
                        None => format!("BODY[{section_name}]"),
                    };
                    Some(BodyItem {
                        name,
                        part,
                        partial,
                        peek: *peek,
                    })
                }
                MessageDataItemName::Binary {
                    section,
                    partial,
                    peek,
                } => {
                    let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
                    let partial = partial.map(|(start, len)| (start, len.get()));
                    let name = match partial {
                        Some((start, _)) => format!("BINARY[{}]<{start}>", dotted(&path)),
                        None => format!("BINARY[{}]", dotted(&path)),
                    };
                    Some(BodyItem {
                        name,
                        part: BodyPart::Binary(path),
                        partial,
                        peek: *peek,
                    })
                }
                MessageDataItemName::Rfc822 => Some(BodyItem {
                    name: "RFC822".into(),
                    part: BodyPart::Whole,
                    partial: None,
                    peek: false,
                }),
                MessageDataItemName::Rfc822Header => Some(BodyItem {
                    name: "RFC822.HEADER".into(),
                    part: BodyPart::Header,
                    partial: None,
                    peek: true,
                }),
                MessageDataItemName::Rfc822Text => Some(BodyItem {
                    name: "RFC822.TEXT".into(),
                    part: BodyPart::Text,
                    partial: None,
                    peek: false,
                }),
                MessageDataItemName::Flags
                | MessageDataItemName::BinarySize { .. }
                | MessageDataItemName::ModSeq
                | MessageDataItemName::Uid
                | MessageDataItemName::Rfc822Size
                | MessageDataItemName::InternalDate
                | MessageDataItemName::Envelope
                | MessageDataItemName::Body
                | MessageDataItemName::BodyStructure => None,
            };
            bodies.push(item);
        }
        let utf8 = self.utf8 || self.rev2;
        let mut indexes = resolve(set, uid, &sel.messages);
        if !uid && indexes.is_empty() && !sel.messages.is_empty() {
            return out.bad(tag, "Invalid message sequence number");
        }
        if let Some(since) = changed_since {
            indexes.retain(|&i| sel.messages[i].modseq > since);
        }
        let sets_seen = !sel.read_only && bodies.iter().flatten().any(|b| !b.peek);
        // \Seen set by this FETCH is stored first, so that the FLAGS (and MODSEQ) reported
        // with the message are what the mailbox holds (RFC 9051 §6.4.5).
        let seen_now: Vec<u32> = if sets_seen {
            self.mark_seen(&indexes)
        } else {
            Vec::new()
        };
        // What the items need of each message, decided once for the whole FETCH.
        let wants_envelope = names.contains(&MessageDataItemName::Envelope);
        let needs_structure = names.iter().any(|n| {
            matches!(
                n,
                MessageDataItemName::Body | MessageDataItemName::BodyStructure
            )
        });
        let needs_mime = needs_structure
            || bodies.iter().flatten().any(|b| {
                matches!(
                    b.part,
                    BodyPart::Part(..) | BodyPart::PartFields(..) | BodyPart::Binary(..)
                )
            })
            || names
                .iter()
                .any(|n| matches!(n, MessageDataItemName::BinarySize { .. }));
        let needs_body = needs_mime || bodies.iter().any(Option::is_some);
        // ENVELOPE is built only from the fields the store keeps a cache of (RFC 9051
        // §7.5.2): without anything else that needs the message, it comes from that cache.
        let heads = if wants_envelope && !needs_body {
            let sel = self.selected.as_ref().expect("checked above");
            let wanted: Vec<&Message> = indexes.iter().map(|&i| &sel.messages[i]).collect();
            let live = |uid| sel.messages.binary_search_by_key(&uid, |m| m.uid).is_ok();
            sel.mailbox
                .header_fields(sel.uid_validity, &wanted, &live, sel.messages.len())
                .unwrap_or_else(|e| {
                    tracing::warn!(mailbox = sel.name, "header cache unusable: {e}");
                    Vec::new()
                })
        } else {
            Vec::new()
        };
        // One line buffer for every message, written to with `write!` (no String per item).
        let mut line: Vec<u8> = Vec::with_capacity(256);
        for (k, &i) in indexes.iter().enumerate() {
            let sel = self.selected.as_ref().expect("checked above");
            let m = &sel.messages[i];
            let head = heads.get(k).cloned().flatten();
            let envelope_from_file = wants_envelope && head.is_none();
            let bytes = if needs_body || envelope_from_file {
                match sel.mailbox.read(m) {
                    Ok(b) => Some(b),
                    // Expunged by someone else since our view: RFC 9051 §7.5.1 lets us
                    // say nothing of it until we may send EXPUNGE.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        tracing::warn!(mailbox = sel.name, "FETCH: {e}");
                        return out.no_code(tag, "SERVERBUG", "A message could not be read");
                    }
                }
            } else {
                None
            };
            let parsed = bytes
                .as_deref()
                .filter(|_| needs_mime || envelope_from_file)
                .and_then(mime::parse);
            let head_parsed = head.as_deref().and_then(mime::parse);
            let flags = m.flags;
            line.clear();
            let _ = write!(line, "* {} FETCH (", i + 1);
            let mut first = true;
            let mut sep = |line: &mut Vec<u8>| {
                if !std::mem::take(&mut first) {
                    line.push(b' ');
                }
            };
            for (name, body) in names.iter().zip(&bodies) {
                sep(&mut line);
                match (name, body) {
                    (_, Some(b)) => {
                        let whole = bytes.as_deref().unwrap_or_default();
                        let cut: Vec<u8> = match &b.part {
                            BodyPart::Whole => whole.to_vec(),
                            BodyPart::Header => header_of(whole).to_vec(),
                            BodyPart::Text => whole[header_of(whole).len()..].to_vec(),
                            BodyPart::Fields(f, not) => header_fields(whole, f, *not),
                            // A part that does not exist reads as empty (as Dovecot does).
                            BodyPart::Part(p, want) => parsed
                                .as_ref()
                                .and_then(|msg| mime::section(msg, p, *want))
                                .unwrap_or_default(),
                            BodyPart::PartFields(p, f, not) => parsed
                                .as_ref()
                                .and_then(|msg| mime::section(msg, p, Want::Header))
                                .map(|h| header_fields(&h, f, *not))
                                .unwrap_or_default(),
                            BodyPart::Binary(p) => match binary_of(parsed.as_ref(), p) {
                                Ok(bytes) => bytes,
                                Err(cte) => return unknown_cte(tag, &cte, out),
                            },
                        };
                        let cut = match b.partial {
                            Some((start, len)) => {
                                let start = (start as usize).min(cut.len());
                                let end = start.saturating_add(len as usize).min(cut.len());
                                cut[start..end].to_vec()
                            }
                            None => cut,
                        };
                        // RFC 3516 §4.2: a literal8 (`~{N}`) when the data holds a NUL.
                        let eight = matches!(b.part, BodyPart::Binary(_)) && cut.contains(&0);
                        let tilde = if eight { "~" } else { "" };
                        line.extend_from_slice(
                            format!("{} {tilde}{{{}}}\r\n", b.name, cut.len()).as_bytes(),
                        );
                        line.extend_from_slice(&cut);
                    }
                    (MessageDataItemName::BinarySize { section }, None) => {
                        let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
                        match binary_of(parsed.as_ref(), &path) {
                            Ok(bytes) => line.extend_from_slice(
                                format!("BINARY.SIZE[{}] {}", dotted(&path), bytes.len())
                                    .as_bytes(),
                            ),
                            Err(cte) => return unknown_cte(tag, &cte, out),
                        }
                    }
                    (MessageDataItemName::Flags, None) => {
                        let recent = sel.is_recent(m.uid);
                        line.extend_from_slice(b"FLAGS ");
                        write_flag_list(&mut line, flags, m.keywords, &sel.keywords, recent);
                    }
                    (MessageDataItemName::Uid, None) => {
                        let _ = write!(line, "UID {}", m.uid);
                    }
                    (MessageDataItemName::ModSeq, None) => {
                        let _ = write!(line, "MODSEQ ({})", m.modseq);
                    }
                    (MessageDataItemName::Rfc822Size, None) => {
                        let _ = write!(line, "RFC822.SIZE {}", m.size);
                    }
                    (MessageDataItemName::InternalDate, None) => line.extend_from_slice(
                        format!("INTERNALDATE {}", internal_date(m.internal_date)).as_bytes(),
                    ),
                    (MessageDataItemName::Envelope, None) => {
                        let env = parsed
                            .as_ref()
                            .or(head_parsed.as_ref())
                            .map_or_else(empty_envelope, |msg| mime::envelope(msg, utf8));
                        line.extend_from_slice(format!("ENVELOPE {env}").as_bytes());
                    }
                    (MessageDataItemName::BodyStructure | MessageDataItemName::Body, None) => {
                        let extended = *name == MessageDataItemName::BodyStructure;
                        let structure = parsed.as_ref().map_or_else(
                            || empty_body(m.size),
                            |msg| mime::bodystructure(msg, extended, utf8),
                        );
                        let item = if extended { "BODYSTRUCTURE" } else { "BODY" };
                        line.extend_from_slice(format!("{item} {structure}").as_bytes());
                    }
                    _ => {}
                }
            }
            // \Seen set by this FETCH is reported with it (RFC 9051 §6.4.5), with its
            // MODSEQ once CONDSTORE is on (RFC 7162 §3.1).
            if seen_now.binary_search(&m.uid).is_ok() {
                if !names.contains(&MessageDataItemName::Flags) {
                    let recent = sel.is_recent(m.uid);
                    line.extend_from_slice(b" FLAGS ");
                    write_flag_list(&mut line, flags, m.keywords, &sel.keywords, recent);
                }
                if self.condstore && !names.contains(&MessageDataItemName::ModSeq) {
                    let _ = write!(line, " MODSEQ ({})", m.modseq);
                }
            }
            line.extend_from_slice(b")\r\n");
            out.raw(&line);
        }
        out.ok(tag, &format!("{command} completed"));
    }

    /// Set \Seen on the messages at `indexes` that lack it (a FETCH of a body without
    /// PEEK); the UIDs now carrying it, ascending. A failure leaves the flags as they were.
    fn mark_seen(&mut self, indexes: &[usize]) -> Vec<u32> {
        let Some(sel) = self.selected.as_mut() else {
            return Vec::new();
        };
        let changes: Vec<(u32, Flags, Keywords)> = indexes
            .iter()
            .map(|&i| &sel.messages[i])
            .filter(|m| !m.flags.contains(Flags::SEEN))
            .map(|m| (m.uid, m.flags.with(Flags::SEEN), m.keywords))
            .collect();
        if changes.is_empty() {
            return Vec::new();
        }
        match sel.mailbox.store(&changes, None) {
            Ok(outcome) => {
                let mut seen = Vec::new();
                for (uid, modseq) in outcome.updated {
                    if let Ok(i) = sel.messages.binary_search_by_key(&uid, |m| m.uid) {
                        let m = &mut sel.messages[i];
                        m.flags = m.flags.with(Flags::SEEN);
                        m.modseq = modseq;
                        seen.push(uid);
                    }
                }
                seen
            }
            Err(e) => {
                tracing::warn!(mailbox = sel.name, "FETCH \\Seen: {e}");
                Vec::new()
            }
        }
    }

    /// STORE / UID STORE (RFC 9051 §6.4.6), with CONDSTORE's UNCHANGEDSINCE (RFC 7162
    /// §3.1.3): messages changed since are left alone and named in `[MODIFIED …]`.
    pub(super) fn store(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        request: &StoreRequest<'_, '_>,
        out: &mut Out,
    ) {
        let uid = request.uid;
        let command = if uid { "UID STORE" } else { "STORE" };
        if request.unchanged_since.is_some() {
            self.enable_condstore(out);
        }
        self.report_changes(out, uid, uid);
        let Some(sel) = self.selected.as_mut() else {
            return out.bad(tag, "No mailbox selected");
        };
        if sel.read_only {
            return out.no_code(tag, "READ-ONLY", "The mailbox is read-only (EXAMINE)");
        }
        let Some((system, keyword_names)) = Self::parse_flags(request.flags) else {
            return out.bad(tag, "Invalid flag in STORE");
        };
        let names: Vec<&str> = keyword_names.iter().map(String::as_str).collect();
        let (table, indexes) = match sel.mailbox.intern_keywords(&names) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(mailbox = sel.name, "STORE: {e}");
                return out.no_code(tag, "SERVERBUG", "The mail store failed");
            }
        };
        let kind = request.kind;
        if indexes.iter().any(Option::is_none) && kind != StoreType::Remove {
            return out.no_code(
                tag,
                "LIMIT",
                "No more keywords can be defined in this mailbox",
            );
        }
        sel.keywords = table;
        let keywords = indexes
            .iter()
            .flatten()
            .fold(Keywords::EMPTY, |k, i| k.with(*i));
        let targets = resolve(set, uid, &sel.messages);
        let changes: Vec<(u32, Flags, Keywords)> = targets
            .iter()
            .map(|&i| {
                let m = &sel.messages[i];
                let (f, k) = match kind {
                    StoreType::Replace => (system, keywords),
                    StoreType::Add => (m.flags.with(system), m.keywords.union(keywords)),
                    StoreType::Remove => (m.flags.without(system), m.keywords.without(keywords)),
                };
                (m.uid, f, k)
            })
            .collect();
        let outcome = match sel.mailbox.store(&changes, request.unchanged_since) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(mailbox = sel.name, "STORE: {e}");
                return out.no_code(tag, "SERVERBUG", "The mail store failed");
            }
        };
        let mut updated = Vec::new();
        for (uid, modseq) in &outcome.updated {
            let Ok(i) = sel.messages.binary_search_by_key(uid, |m| m.uid) else {
                continue;
            };
            if let Some((_, f, k)) = changes.iter().find(|c| c.0 == *uid) {
                let m = &mut sel.messages[i];
                (m.flags, m.keywords, m.modseq) = (*f, *k, *modseq);
                updated.push(i);
            }
        }
        let sel = self.selected.as_ref().expect("still selected");
        for i in updated {
            let m = &sel.messages[i];
            if request.response == StoreResponse::Answer {
                out.untagged(&self.flags_fetch(i, m, uid));
            } else if self.condstore {
                // .SILENT still reports the new MODSEQ (RFC 7162 §3.1.3, its example).
                let uid_part = if uid {
                    format!("UID {} ", m.uid)
                } else {
                    String::new()
                };
                out.untagged(&format!(
                    "{} FETCH ({uid_part}MODSEQ ({}))",
                    i + 1,
                    m.modseq
                ));
            }
        }
        if outcome.modified.is_empty() {
            return out.ok(tag, &format!("{command} completed"));
        }
        let mut modified: Vec<u32> = outcome
            .modified
            .iter()
            .filter_map(|u| {
                let i = sel.messages.binary_search_by_key(u, |m| m.uid).ok()?;
                Some(if uid { *u } else { i as u32 + 1 })
            })
            .collect();
        modified.sort_unstable();
        out.ok(
            tag,
            &format!(
                "[MODIFIED {}] Conditional {command} failed for some messages",
                super::search::compress(&modified)
            ),
        );
    }

    /// EXPUNGE, UID EXPUNGE (only the given UIDs, RFC 4315) and CLOSE's silent expunge.
    pub(super) fn expunge(&mut self, tag: Option<&str>, only: Option<&SequenceSet>, out: &mut Out) {
        let Some(sel) = self.selected.as_mut() else {
            if let Some(tag) = tag {
                out.bad(tag, "No mailbox selected");
            }
            return;
        };
        if sel.read_only {
            if let Some(tag) = tag {
                out.no_code(tag, "READ-ONLY", "The mailbox is read-only (EXAMINE)");
            }
            return;
        }
        let allowed = only.map(|set| resolve(set, true, &sel.messages));
        let doomed: Vec<u32> = sel
            .messages
            .iter()
            .enumerate()
            .filter(|(i, m)| {
                m.flags.contains(Flags::DELETED)
                    && allowed.as_ref().is_none_or(|a| a.binary_search(i).is_ok())
            })
            .map(|(_, m)| m.uid)
            .collect();
        if let Err(e) = sel.mailbox.expunge(&doomed) {
            tracing::warn!(mailbox = sel.name, "EXPUNGE: {e}");
            if let Some(tag) = tag {
                out.no_code(tag, "SERVERBUG", "The mail store failed");
            }
            return;
        }
        if let Some(tag) = tag {
            // The expunged messages (ours and anyone's) are reported by the sync.
            self.report_changes(out, true, false);
            match &self.selected {
                // With QRESYNC the client learns the MODSEQ its cache is now at (RFC 7162
                // §3.2.10's examples).
                Some(sel) if self.qresync => out.ok(
                    tag,
                    &format!("[HIGHESTMODSEQ {}] EXPUNGE completed", sel.highest_modseq),
                ),
                _ => out.ok(tag, "EXPUNGE completed"),
            }
        }
    }

    /// CLOSE (expunge silently, deselect) and UNSELECT (deselect).
    pub(super) fn close(&mut self, tag: &str, expunge: bool, out: &mut Out) {
        if self.selected.is_none() {
            return out.bad(tag, "No mailbox selected");
        }
        if expunge {
            self.expunge(None, None, out);
        }
        self.selected = None;
        out.ok(
            tag,
            if expunge {
                "CLOSE completed"
            } else {
                "UNSELECT completed"
            },
        );
    }

    /// COPY / MOVE and their UID forms, with COPYUID (RFC 4315, RFC 6851).
    pub(super) fn copy(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        mailbox: &Mailbox<'_>,
        uid: bool,
        is_move: bool,
        out: &mut Out,
    ) {
        let command = match (uid, is_move) {
            (false, false) => "COPY",
            (true, false) => "UID COPY",
            (false, true) => "MOVE",
            (true, true) => "UID MOVE",
        };
        let (Some(addr), Some(name)) = (self.account().cloned(), self.mailbox_name(mailbox)) else {
            return out.no_code(tag, "TRYCREATE", "No such mailbox");
        };
        let Ok(dest) = self.config.store.mailbox(&addr, &name) else {
            return out.no_code(tag, "TRYCREATE", "No such mailbox");
        };
        let Some(sel) = self.selected.as_mut() else {
            return out.bad(tag, "No mailbox selected");
        };
        if is_move && sel.read_only {
            return out.no_code(tag, "READ-ONLY", "The mailbox is read-only (EXAMINE)");
        }
        let indexes = resolve(set, uid, &sel.messages);
        if indexes.is_empty() {
            return out.ok(tag, &format!("{command} completed (nothing to do)"));
        }
        let messages: Vec<Message> = indexes.iter().map(|&i| sel.messages[i].clone()).collect();
        let (validity, pairs) = match sel.mailbox.copy_into(&messages, &sel.keywords, &*dest) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return out.no_code(tag, "EXPUNGEISSUED", "Some of the messages were expunged");
            }
            Err(e) => {
                tracing::warn!(mailbox = sel.name, "{command}: {e}");
                return out.no_code(tag, "SERVERBUG", "The messages could not be copied");
            }
        };
        let uid_set = |uids: &mut dyn Iterator<Item = u32>| {
            uids.map(|u| u.to_string()).collect::<Vec<_>>().join(",")
        };
        let code = format!(
            "COPYUID {validity} {} {}",
            uid_set(&mut pairs.iter().map(|p| p.0)),
            uid_set(&mut pairs.iter().map(|p| p.1))
        );
        if !is_move {
            return out.ok(tag, &format!("[{code}] {command} completed"));
        }
        // MOVE: the COPYUID goes in an untagged OK before the EXPUNGEs (RFC 6851 §4.3).
        out.untagged(&format!("OK [{code}] Moved"));
        let moved: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        if let Err(e) = sel.mailbox.expunge(&moved) {
            tracing::warn!(mailbox = sel.name, "{command}: {e}");
            return out.no_code(tag, "SERVERBUG", "The messages were copied but not removed");
        }
        self.report_changes(out, true, false);
        out.ok(tag, &format!("{command} completed"));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Messages with these UIDs and nothing else set (shared with the CONDSTORE tests).
    pub(crate) fn msgs(uids: &[u32]) -> Vec<Message> {
        uids.iter()
            .map(|&uid| Message {
                uid,
                modseq: 1,
                size: 1,
                internal_date: 0,
                flags: Flags::EMPTY,
                keywords: Keywords::EMPTY,
                key: format!("k{uid}").into(),
            })
            .collect()
    }

    pub(crate) fn set(s: &str) -> SequenceSet {
        SequenceSet::try_from(s).unwrap()
    }

    #[test]
    fn sequence_sets_resolve_against_what_exists() {
        let m = msgs(&[3, 7, 9, 20]);
        assert_eq!(resolve(&set("1:*"), false, &m), [0, 1, 2, 3]);
        assert_eq!(resolve(&set("2,4,2"), false, &m), [1, 3]);
        assert_eq!(resolve(&set("*:3"), false, &m), [2, 3]);
        assert_eq!(resolve(&set("5"), false, &m), Vec::<usize>::new());
        assert_eq!(resolve(&set("7:9"), true, &m), [1, 2]);
        assert_eq!(resolve(&set("1:4294967295"), true, &m), [0, 1, 2, 3]);
        // `n:*` includes the last UID even when n is beyond it.
        assert_eq!(resolve(&set("100:*"), true, &m), [3]);
        assert_eq!(resolve(&set("*"), true, &msgs(&[])), Vec::<usize>::new());
    }

    #[test]
    fn dates_and_headers() {
        assert_eq!(internal_date(0), "\"01-Jan-1970 00:00:00 +0000\"");
        assert_eq!(
            internal_date(1_600_000_000),
            "\"13-Sep-2020 12:26:40 +0000\""
        );
        let m = b"From: a@b\r\nSubject: hi\r\n there\r\nTo: c@d\r\n\r\nbody\r\n";
        assert_eq!(header_of(m).len(), m.len() - 6);
        assert_eq!(
            header_fields(m, &["subject".into()], false),
            b"Subject: hi\r\n there\r\n\r\n"
        );
        assert_eq!(
            header_fields(m, &["subject".into()], true),
            b"From: a@b\r\nTo: c@d\r\n\r\n"
        );
        assert_eq!(header_of(b"no blank line"), b"no blank line");
    }
}
