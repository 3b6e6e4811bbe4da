//! RFC 1035 §5 master files ("zone files"), read the way BIND and NSD read them.
//!
//! The parser is two stages, both hand-written and panic-free on any input:
//!
//! 1. a **lexer** (`lexer.rs`) turns bytes into *entries* — one line, or several lines joined by
//!    `( … )` — of *tokens* (words and quoted strings, escapes left in place), dropping `;`
//!    comments and remembering whether the entry began with whitespace (the owner is then the
//!    previous one);
//! 2. a **record parser** (this module, with `rdata.rs` for each type's RDATA) reads directives
//!    (`$ORIGIN`, `$TTL`, `$INCLUDE`) and resource records `[owner] [TTL] [class] type RDATA`
//!    (TTL and class in either order) into hickory `Record`s.
//!
//! Syntax accepted beyond the RFC 1035 basics: TTL units (`1w2d3h4m5s`, any case; RFC 2308 §4
//! `$TTL`), `\.` and `\DDD` escapes in names and strings, RFC 3597 generic types and RDATA
//! (`TYPE65534 \# 3 abcdef`, `CLASS1`). Types parsed from their own presentation format: A, AAAA,
//! NS, CNAME, PTR, SOA, MX, TXT, SRV, CAA, HINFO, SSHFP, TLSA and NAPTR; any other type can be
//! written in the generic form (known types are then decoded into their typed RDATA).
//!
//! # TTLs, as BIND does it
//! A record without a TTL takes the `$TTL` default if one has been set; without `$TTL` it takes
//! the last TTL written explicitly on an earlier record (RFC 1035 §5.1). If there is neither, an
//! SOA record takes its own MINIMUM field (BIND's rule for pre-RFC 2308 files; that value then
//! counts as the last explicit TTL) and any other record is an error. `$TTL` set inside an
//! `$INCLUDE`d file stays in effect after it, as in BIND. TTLs above 2³¹−1 are errors (RFC 2181
//! §8), not silently clamped.
//!
//! # What is left to the caller
//! Names keep the case they were written in; comparisons are the caller's job. Zone-level rules
//! (exactly one SOA at the apex, CNAME exclusivity, glue) belong to the zone loader: this module
//! only checks that every owner is inside the zone.
//!
//! # Limits
//! Every limit is a named constant below; breaking one is an error, never a truncation.
//!
//! # Layout
//! `lexer.rs` (bytes to entries of tokens), `fields.rs` (an entry's fields: names, numbers,
//! strings, escapes), `ttl.rs` (TTLs with units), `rdata.rs` (types, classes and RDATA,
//! RFC 3597 generic form included); this module holds the public API, the limits, directives
//! (`$ORIGIN`, `$TTL`, `$INCLUDE`) and the record loop.

mod fields;
mod lexer;
mod rdata;
#[cfg(test)]
mod tests;
mod ttl;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use hickory_proto::rr::{Name, RData, Record};

use fields::{parse_name, show, unescape, upper, Fields};
use lexer::{Entry, Lexer, Token};
use rdata::{is_class, parse_rdata, parse_type};
use ttl::parse_ttl;

/// How deeply `$INCLUDE`s may nest (the top-level file is depth 0).
pub const MAX_INCLUDE_DEPTH: usize = 8;
/// Records in one zone, counting every included file.
pub const MAX_RECORDS: usize = 1_000_000;
/// Bytes in one file (the top-level text or any one included file).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Bytes in one token. Long binary RDATA (hex) can be split over several tokens, as BIND writes it.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Tokens in one entry: enough for the largest RDATA (65,535 one-byte pieces) plus the owner,
/// TTL, class and type, and small enough that an entry's token list stays a few MiB at most.
pub const MAX_ENTRY_TOKENS: usize = 70_000;
/// Largest TTL (and SOA timer) accepted: RFC 2181 §8.
pub const MAX_TTL: u32 = 0x7fff_ffff;

/// Largest RDATA on the wire (RDLENGTH is 16 bits).
const MAX_RDATA_BYTES: usize = 65_535;
/// Longest `<character-string>` (one length octet).
const MAX_CHARACTER_STRING: usize = 255;
/// Longest label and name on the wire (RFC 1035 §2.3.4).
const MAX_LABEL_BYTES: usize = 63;
const MAX_NAME_BYTES: usize = 255;
/// How much of an offending token an error message quotes.
const MAX_SHOWN_BYTES: usize = 80;

/// A parsed master file: the zone origin (always absolute) and its records, in file order.
#[derive(Debug, Clone)]
pub struct ParsedZone {
    pub origin: Name,
    pub records: Vec<Record>,
}

/// Why a master file was rejected: `file:line: reason`. `line` is the first line of the offending
/// entry (1-based), or 0 when the file as a whole could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct ZoneFileError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// Parses the master file at `path` for the zone `origin`. `$INCLUDE` paths are relative to the
/// directory of the file that includes them.
pub fn parse_zone_file(path: &Path, origin: &Name) -> Result<ParsedZone, ZoneFileError> {
    let label = path.display().to_string();
    let whole_file = |reason: String| ZoneFileError {
        file: label.clone(),
        line: 0,
        reason,
    };
    let text = read_limited(path).map_err(whole_file)?;
    let canonical = std::fs::canonicalize(path).map_err(|e| whole_file(e.to_string()))?;
    let mut parser = Parser::new(origin);
    parser.include_stack.push(canonical);
    let file = FileState::new(label, path.parent().map(Path::to_path_buf), 0, &parser.zone);
    parser.parse_text(&text, file)?;
    Ok(parser.finish())
}

/// Parses master-file text for the zone `origin`; `file_label` names it in errors. `$INCLUDE`
/// paths in the text are relative to the current directory.
pub fn parse_zone_str(
    text: &str,
    origin: &Name,
    file_label: &str,
) -> Result<ParsedZone, ZoneFileError> {
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(ZoneFileError {
            file: file_label.to_owned(),
            line: 0,
            reason: format!("larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    let mut parser = Parser::new(origin);
    let file = FileState::new(file_label.to_owned(), None, 0, &parser.zone);
    parser.parse_text(text.as_bytes(), file)?;
    Ok(parser.finish())
}

/// Reads a whole file, refusing one over [`MAX_FILE_BYTES`] without reading it all.
fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(text)
}

/// State that spans files: the records so far, TTL defaults, the files being read.
#[derive(Debug)]
struct Parser {
    /// The zone's origin: every owner must be at or below it.
    zone: Name,
    records: Vec<Record>,
    /// `$TTL`.
    default_ttl: Option<u32>,
    /// The last TTL written on a record (or taken from an SOA's MINIMUM): RFC 1035's default.
    last_ttl: Option<u32>,
    /// Canonical paths of the files being read, outermost first: an include loop repeats one.
    include_stack: Vec<PathBuf>,
}

/// State local to one file: RFC 1035 §5.1 restores the origin after an `$INCLUDE`.
#[derive(Debug)]
struct FileState {
    label: String,
    /// Where relative `$INCLUDE` paths start (`None`: the current directory).
    dir: Option<PathBuf>,
    depth: usize,
    origin: Name,
    last_owner: Option<Name>,
}

impl FileState {
    fn new(label: String, dir: Option<PathBuf>, depth: usize, origin: &Name) -> Self {
        FileState {
            label,
            dir,
            depth,
            origin: origin.clone(),
            last_owner: None,
        }
    }
}

/// An error in the current entry, or one already located in an included file.
#[derive(Debug)]
enum Fail {
    Here(String),
    Located(ZoneFileError),
}

impl From<String> for Fail {
    fn from(reason: String) -> Self {
        Fail::Here(reason)
    }
}

impl From<&str> for Fail {
    fn from(reason: &str) -> Self {
        Fail::Here(reason.to_owned())
    }
}

impl Parser {
    fn new(origin: &Name) -> Self {
        let mut zone = origin.clone();
        zone.set_fqdn(true);
        Parser {
            zone,
            records: Vec::new(),
            default_ttl: None,
            last_ttl: None,
            include_stack: Vec::new(),
        }
    }

    fn finish(self) -> ParsedZone {
        ParsedZone {
            origin: self.zone,
            records: self.records,
        }
    }

    fn parse_text(&mut self, text: &[u8], mut file: FileState) -> Result<(), ZoneFileError> {
        let mut lexer = Lexer::new(text);
        loop {
            let entry = match lexer.next_entry() {
                Ok(Some(entry)) => entry,
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(ZoneFileError {
                        file: file.label.clone(),
                        line: e.line,
                        reason: e.reason,
                    })
                }
            };
            match self.entry(&entry, &mut file) {
                Ok(()) => {}
                Err(Fail::Here(reason)) => {
                    return Err(ZoneFileError {
                        file: file.label.clone(),
                        line: entry.line,
                        reason,
                    })
                }
                Err(Fail::Located(e)) => return Err(e),
            }
        }
    }

    fn entry(&mut self, entry: &Entry<'_>, file: &mut FileState) -> Result<(), Fail> {
        match entry.tokens.split_first() {
            Some((first, args)) if !first.quoted && first.text.starts_with(b"$") => {
                self.directive(first, args, file)
            }
            _ => self.record(entry, file),
        }
    }

    fn directive(
        &mut self,
        keyword: &Token<'_>,
        args: &[Token<'_>],
        file: &mut FileState,
    ) -> Result<(), Fail> {
        let keyword = upper(keyword.text);
        let mut fields = Fields::new(args);
        match keyword.as_str() {
            "$ORIGIN" => {
                let origin = parse_name(fields.next("$ORIGIN name")?, &file.origin)?;
                fields.finish()?;
                file.origin = origin;
            }
            "$TTL" => {
                let ttl = parse_ttl(fields.word("$TTL value")?)?;
                fields.finish()?;
                self.default_ttl = Some(ttl);
            }
            "$INCLUDE" => {
                let path = fields.next("$INCLUDE file name")?;
                let origin = match fields.next_opt() {
                    Some(name) => parse_name(name, &file.origin)?,
                    None => file.origin.clone(),
                };
                fields.finish()?;
                self.include(path, origin, file)?;
            }
            "$GENERATE" => return Err("$GENERATE (a BIND extension) is not supported".into()),
            _ => return Err(format!("unknown directive {keyword}").into()),
        }
        Ok(())
    }

    fn include(&mut self, path: &Token<'_>, origin: Name, file: &FileState) -> Result<(), Fail> {
        if file.depth >= MAX_INCLUDE_DEPTH {
            return Err(format!("$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep").into());
        }
        let raw = unescape(path.text)?;
        let name = String::from_utf8(raw).map_err(|_| "$INCLUDE file name is not UTF-8")?;
        if name.is_empty() {
            return Err("empty $INCLUDE file name".into());
        }
        let path = match &file.dir {
            Some(dir) => dir.join(&name),
            None => PathBuf::from(&name),
        };
        let shown = path.display().to_string();
        let cannot = |e: String| format!("cannot read $INCLUDE file {shown}: {e}");
        let canonical = std::fs::canonicalize(&path).map_err(|e| cannot(e.to_string()))?;
        if self.include_stack.contains(&canonical) {
            return Err(format!("$INCLUDE loop: {shown} is already being read").into());
        }
        let text = read_limited(&path).map_err(cannot)?;
        self.include_stack.push(canonical);
        let dir = path.parent().map(Path::to_path_buf);
        let included = FileState::new(shown, dir, file.depth + 1, &origin);
        let result = self.parse_text(&text, included);
        self.include_stack.pop();
        result.map_err(Fail::Located)
    }

    fn record(&mut self, entry: &Entry<'_>, file: &mut FileState) -> Result<(), Fail> {
        let mut tokens = entry.tokens.as_slice();
        let owner = if entry.blank_owner {
            file.last_owner
                .clone()
                .ok_or("no owner name: the first record starts with whitespace")?
        } else {
            let (first, rest) = tokens.split_first().ok_or("empty entry")?;
            tokens = rest;
            parse_name(first, &file.origin)?
        };
        if !self.zone.zone_of(&owner) {
            return Err(format!(
                "owner {} is out of zone {}",
                owner.to_ascii(),
                self.zone.to_ascii()
            )
            .into());
        }
        file.last_owner = Some(owner.clone());

        // `[TTL] [class] type` or `[class] [TTL] type`.
        let mut ttl = None;
        let mut class_seen = false;
        let type_token = loop {
            let (token, rest) = tokens.split_first().ok_or("missing type")?;
            tokens = rest;
            if token.quoted {
                return Err(format!("unexpected quoted string \"{}\"", show(token.text)).into());
            }
            if token.text.first().is_some_and(u8::is_ascii_digit) {
                if ttl.is_some() {
                    return Err("two TTL fields".into());
                }
                ttl = Some(parse_ttl(token.text)?);
            } else if is_class(token.text)? {
                if class_seen {
                    return Err("two class fields".into());
                }
                class_seen = true;
            } else {
                break token;
            }
        };
        let rtype = parse_type(type_token.text)?;
        let rdata = parse_rdata(rtype, tokens, &file.origin)?;

        let ttl = match (ttl, self.default_ttl, self.last_ttl, &rdata) {
            (Some(ttl), ..) => {
                self.last_ttl = Some(ttl);
                ttl
            }
            (None, Some(default), ..) => default,
            (None, None, Some(last), _) => last,
            (None, None, None, RData::SOA(soa)) => {
                self.last_ttl = Some(soa.minimum);
                soa.minimum
            }
            (None, None, None, _) => {
                return Err("no TTL: give one on the record or set $TTL".into());
            }
        };
        if self.records.len() >= MAX_RECORDS {
            return Err(format!("more than {MAX_RECORDS} records").into());
        }
        self.records.push(Record::from_rdata(owner, ttl, rdata));
        Ok(())
    }
}
