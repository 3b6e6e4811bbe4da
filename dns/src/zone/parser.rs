//! RFC 1035 §5 master files ("zone files"), read the way BIND and NSD read them.
//!
//! The parser is two stages, both hand-written and panic-free on any input:
//!
//! 1. a **lexer** turns bytes into *entries* — one line, or several lines joined by `( … )` — of
//!    *tokens* (words and quoted strings, escapes left in place), dropping `;` comments and
//!    remembering whether the entry began with whitespace (the owner is then the previous one);
//! 2. a **record parser** reads directives (`$ORIGIN`, `$TTL`, `$INCLUDE`) and resource records
//!    `[owner] [TTL] [class] type RDATA` (TTL and class in either order) into hickory `Record`s.
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

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hickory_proto::rr::rdata::{
    sshfp, tlsa, A, AAAA, CAA, CNAME, HINFO, MX, NAPTR, NS, NULL, PTR, SOA, SRV, SSHFP, TLSA, TXT,
};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};

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

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

/// A word or a quoted string, exactly as written (escapes not yet decoded; quotes removed).
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    text: &'a [u8],
    quoted: bool,
}

/// One logical entry: a line, or the lines a pair of parentheses joins.
#[derive(Debug)]
struct Entry<'a> {
    /// The entry's first line.
    line: usize,
    /// The entry began with a space or tab: no owner field, the previous owner applies.
    blank_owner: bool,
    /// Never empty.
    tokens: Vec<Token<'a>>,
}

#[derive(Debug)]
struct LexError {
    line: usize,
    reason: String,
}

#[derive(Debug)]
struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    fn new(input: &'a [u8]) -> Self {
        Lexer {
            input,
            pos: 0,
            line: 1,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.input.get(self.pos + offset).copied()
    }

    fn error(&self, line: usize, reason: impl Into<String>) -> LexError {
        LexError {
            line,
            reason: reason.into(),
        }
    }

    /// The next entry with at least one token, or `None` at the end of the input.
    fn next_entry(&mut self) -> Result<Option<Entry<'a>>, LexError> {
        while self.pos < self.input.len() {
            let line = self.line;
            let blank_owner = matches!(self.peek(), Some(b' ' | b'\t'));
            let mut tokens = Vec::new();
            // The line of the open parenthesis, while inside one.
            let mut open_paren: Option<usize> = None;
            loop {
                match self.peek() {
                    None => {
                        if let Some(paren_line) = open_paren {
                            return Err(self.error(paren_line, "unclosed parenthesis"));
                        }
                        break;
                    }
                    Some(b'\n') => {
                        self.pos += 1;
                        self.line += 1;
                        if open_paren.is_none() {
                            break;
                        }
                    }
                    Some(b' ' | b'\t' | b'\r') => self.pos += 1,
                    Some(b';') => self.skip_comment(),
                    Some(b'(') => {
                        if open_paren.is_some() {
                            return Err(self.error(self.line, "nested parentheses"));
                        }
                        open_paren = Some(self.line);
                        self.pos += 1;
                    }
                    Some(b')') => {
                        if open_paren.take().is_none() {
                            return Err(self.error(self.line, "')' without a matching '('"));
                        }
                        self.pos += 1;
                    }
                    Some(b'"') => tokens.push(self.quoted()?),
                    Some(_) => tokens.push(self.word()?),
                }
                if tokens.len() > MAX_ENTRY_TOKENS {
                    return Err(self.error(line, format!("more than {MAX_ENTRY_TOKENS} tokens")));
                }
            }
            if !tokens.is_empty() {
                return Ok(Some(Entry {
                    line,
                    blank_owner,
                    tokens,
                }));
            }
        }
        Ok(None)
    }

    /// Skips to the end of the line (the newline itself is left for the caller).
    fn skip_comment(&mut self) {
        while let Some(b) = self.peek() {
            if b == b'\n' {
                break;
            }
            self.pos += 1;
        }
    }

    /// Steps over a backslash and the byte it escapes (counting an escaped newline).
    fn skip_escape(&mut self, what_line: usize, what: &str) -> Result<(), LexError> {
        match self.peek_at(1) {
            None => Err(self.error(what_line, format!("backslash at the end of the {what}"))),
            Some(escaped) => {
                if escaped == b'\n' {
                    self.line += 1;
                }
                self.pos += 2;
                Ok(())
            }
        }
    }

    fn token(&self, start: usize, end: usize, quoted: bool) -> Result<Token<'a>, LexError> {
        if end - start > MAX_TOKEN_BYTES {
            return Err(self.error(
                self.line,
                format!("token longer than {MAX_TOKEN_BYTES} bytes"),
            ));
        }
        Ok(Token {
            text: self.input.get(start..end).unwrap_or_default(),
            quoted,
        })
    }

    fn word(&mut self) -> Result<Token<'a>, LexError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                b'\\' => self.skip_escape(self.line, "input")?,
                _ => self.pos += 1,
            }
            if self.pos - start > MAX_TOKEN_BYTES {
                break;
            }
        }
        self.token(start, self.pos, false)
    }

    fn quoted(&mut self) -> Result<Token<'a>, LexError> {
        let open_line = self.line;
        self.pos += 1; // the opening quote
        let start = self.pos;
        loop {
            match self.peek() {
                None | Some(b'\n') => {
                    return Err(self.error(open_line, "unterminated quoted string"));
                }
                Some(b'"') => break,
                Some(b'\\') => self.skip_escape(open_line, "quoted string")?,
                Some(_) => self.pos += 1,
            }
            if self.pos - start > MAX_TOKEN_BYTES {
                return self.token(start, self.pos, true);
            }
        }
        let token = self.token(start, self.pos, true)?;
        self.pos += 1; // the closing quote
        Ok(token)
    }
}

// ---------------------------------------------------------------------------------------------
// Record parser
// ---------------------------------------------------------------------------------------------

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

/// The fields of an entry, consumed in order.
#[derive(Debug)]
struct Fields<'t, 'a> {
    tokens: std::slice::Iter<'t, Token<'a>>,
}

impl<'t, 'a> Fields<'t, 'a> {
    fn new(tokens: &'t [Token<'a>]) -> Self {
        Fields {
            tokens: tokens.iter(),
        }
    }

    fn next_opt(&mut self) -> Option<&'t Token<'a>> {
        self.tokens.next()
    }

    fn next(&mut self, what: &str) -> Result<&'t Token<'a>, String> {
        self.tokens.next().ok_or_else(|| format!("missing {what}"))
    }

    /// The next field, which must not be a quoted string.
    fn word(&mut self, what: &str) -> Result<&'a [u8], String> {
        let token = self.next(what)?;
        if token.quoted {
            return Err(format!("{what} must not be quoted"));
        }
        Ok(token.text)
    }

    fn number<T: FromStr>(&mut self, what: &str) -> Result<T, String> {
        parse_number(self.word(what)?, what)
    }

    fn name(&mut self, what: &str, origin: &Name) -> Result<Name, String> {
        parse_name(self.next(what)?, origin)
    }

    fn character_string(&mut self, what: &str) -> Result<Vec<u8>, String> {
        character_string(self.next(what)?)
    }

    /// All remaining fields as hex (RFC 3597 §5 and the binary fields of SSHFP and TLSA allow
    /// whitespace between the digits).
    fn hex(&mut self) -> Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        let mut high: Option<u8> = None;
        for token in self.tokens.by_ref() {
            if token.quoted {
                return Err("hex data must not be quoted".to_owned());
            }
            for &c in token.text {
                let nibble = match c {
                    b'0'..=b'9' => c - b'0',
                    b'a'..=b'f' => c - b'a' + 10,
                    b'A'..=b'F' => c - b'A' + 10,
                    _ => return Err(format!("bad hex data '{}'", show(token.text))),
                };
                match high.take() {
                    Some(h) => bytes.push(h << 4 | nibble),
                    None => high = Some(nibble),
                }
            }
            if bytes.len() > MAX_RDATA_BYTES {
                return Err(format!("RDATA longer than {MAX_RDATA_BYTES} bytes"));
            }
        }
        if high.is_some() {
            return Err("odd number of hex digits".to_owned());
        }
        Ok(bytes)
    }

    fn has_more(&self) -> bool {
        self.tokens.len() > 0
    }

    fn finish(mut self) -> Result<(), String> {
        match self.tokens.next() {
            None => Ok(()),
            Some(extra) => Err(format!("unexpected '{}' after the data", show(extra.text))),
        }
    }
}

/// `IN` and `CLASS1` are accepted; other classes are errors; anything else is not a class.
fn is_class(text: &[u8]) -> Result<bool, String> {
    let word = upper(text);
    match word.as_str() {
        "IN" | "CLASS1" => Ok(true),
        "CH" | "CS" | "HS" | "NONE" => Err(format!("class {word} is not supported (only IN)")),
        _ => match word.strip_prefix("CLASS") {
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                match digits.parse::<u16>() {
                    Ok(1) => Ok(true),
                    Ok(_) => Err(format!("class {word} is not supported (only IN)")),
                    Err(_) => Err(format!("bad class {word}")),
                }
            }
            _ => Ok(false),
        },
    }
}

/// A type mnemonic (any case) or RFC 3597 `TYPEnnn`. Meta-types are refused (RFC 6895 §3.1).
fn parse_type(text: &[u8]) -> Result<RecordType, String> {
    let word = upper(text);
    let rtype = match word.strip_prefix("TYPE") {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            RecordType::from(
                digits
                    .parse::<u16>()
                    .map_err(|_| format!("bad type {}", show(text)))?,
            )
        }
        _ => RecordType::from_str(&word).map_err(|_| format!("unknown type {}", show(text)))?,
    };
    let code = u16::from(rtype);
    // 0 is reserved, OPT (41) is a pseudo-record, 128-255 are QTYPEs and meta-types.
    if code == 0 || code == 41 || (128..=255).contains(&code) {
        return Err(format!("{} cannot appear in a zone file", show(text)));
    }
    Ok(rtype)
}

/// The RDATA of `rtype`, from its presentation format or RFC 3597's `\# length hex`.
fn parse_rdata(rtype: RecordType, tokens: &[Token<'_>], origin: &Name) -> Result<RData, String> {
    let mut fields = Fields::new(tokens);
    if let Some(first) = tokens.first() {
        if !first.quoted && first.text == b"\\#" {
            fields.next_opt();
            return generic_rdata(rtype, fields);
        }
    }
    let rdata = match rtype {
        RecordType::A => {
            let text = fields.word("IPv4 address")?;
            RData::A(A(parse_address::<Ipv4Addr>(text, "IPv4")?))
        }
        RecordType::AAAA => {
            let text = fields.word("IPv6 address")?;
            RData::AAAA(AAAA(parse_address::<Ipv6Addr>(text, "IPv6")?))
        }
        RecordType::NS => RData::NS(NS(fields.name("NS host name", origin)?)),
        RecordType::CNAME => RData::CNAME(CNAME(fields.name("CNAME target", origin)?)),
        RecordType::PTR => RData::PTR(PTR(fields.name("PTR target", origin)?)),
        RecordType::MX => {
            let preference = fields.number("MX preference")?;
            RData::MX(MX::new(preference, fields.name("MX exchange", origin)?))
        }
        RecordType::SOA => {
            let mname = fields.name("SOA MNAME", origin)?;
            let rname = fields.name("SOA RNAME", origin)?;
            let serial = fields.number("SOA serial")?;
            let mut timer = |what: &str| -> Result<u32, String> {
                parse_ttl(fields.word(what)?).map_err(|e| format!("{what}: {e}"))
            };
            let refresh = timer("SOA refresh")?;
            let retry = timer("SOA retry")?;
            let expire = timer("SOA expire")?;
            let minimum = timer("SOA minimum")?;
            RData::SOA(SOA::new(
                mname,
                rname,
                serial,
                as_i32(refresh),
                as_i32(retry),
                as_i32(expire),
                minimum,
            ))
        }
        RecordType::TXT => {
            let mut strings = vec![fields.character_string("TXT string")?];
            while fields.has_more() {
                strings.push(fields.character_string("TXT string")?);
            }
            let wire: usize = strings.iter().map(|s| s.len() + 1).sum();
            if wire > MAX_RDATA_BYTES {
                return Err(format!("TXT data longer than {MAX_RDATA_BYTES} bytes"));
            }
            RData::TXT(TXT::from_bytes(strings.iter().map(Vec::as_slice).collect()))
        }
        RecordType::SRV => {
            let priority = fields.number("SRV priority")?;
            let weight = fields.number("SRV weight")?;
            let port = fields.number("SRV port")?;
            RData::SRV(SRV::new(
                priority,
                weight,
                port,
                fields.name("SRV target", origin)?,
            ))
        }
        RecordType::CAA => caa(&mut fields)?,
        RecordType::HINFO => {
            let cpu = fields.character_string("HINFO CPU")?;
            let os = fields.character_string("HINFO OS")?;
            RData::HINFO(HINFO::from_bytes(cpu.into(), os.into()))
        }
        RecordType::SSHFP => {
            let algorithm = sshfp::Algorithm::from(fields.number::<u8>("SSHFP algorithm")?);
            let kind = sshfp::FingerprintType::from(fields.number::<u8>("SSHFP type")?);
            if !fields.has_more() {
                return Err("missing SSHFP fingerprint".to_owned());
            }
            RData::SSHFP(SSHFP::new(algorithm, kind, fields.hex()?))
        }
        RecordType::TLSA => {
            let usage = tlsa::CertUsage::from(fields.number::<u8>("TLSA usage")?);
            let selector = tlsa::Selector::from(fields.number::<u8>("TLSA selector")?);
            let matching = tlsa::Matching::from(fields.number::<u8>("TLSA matching type")?);
            if !fields.has_more() {
                return Err("missing TLSA certificate data".to_owned());
            }
            RData::TLSA(TLSA::new(usage, selector, matching, fields.hex()?))
        }
        RecordType::NAPTR => {
            let order = fields.number("NAPTR order")?;
            let preference = fields.number("NAPTR preference")?;
            let flags = fields.character_string("NAPTR flags")?;
            // RFC 3403 §4.1: flags are single characters from A-Z and 0-9.
            if !flags.iter().all(u8::is_ascii_alphanumeric) {
                return Err("NAPTR flags must be letters and digits".to_owned());
            }
            let services = fields.character_string("NAPTR services")?;
            let regexp = fields.character_string("NAPTR regexp")?;
            let replacement = fields.name("NAPTR replacement", origin)?;
            RData::NAPTR(NAPTR::new(
                order,
                preference,
                flags.into(),
                services.into(),
                regexp.into(),
                replacement,
            ))
        }
        other => {
            return Err(format!(
                "type {other} has no presentation-format parser here; write its RDATA in \
                 RFC 3597 form (\\# length hex)"
            ))
        }
    };
    fields.finish()?;
    Ok(rdata)
}

/// RFC 8659 §4.1.1: `flags tag value`.
fn caa(fields: &mut Fields<'_, '_>) -> Result<RData, String> {
    let flags: u8 = fields.number("CAA flags")?;
    let tag = fields.word("CAA tag")?;
    // RFC 8659 §4.1: a tag is 1-15 ASCII letters and digits.
    if tag.is_empty() || tag.len() > 15 || !tag.iter().all(u8::is_ascii_alphanumeric) {
        return Err(format!(
            "bad CAA tag '{}': 1 to 15 letters and digits",
            show(tag)
        ));
    }
    let value = unescape(fields.next("CAA value")?.text)?;
    if 2 + tag.len() + value.len() > MAX_RDATA_BYTES {
        return Err(format!("CAA data longer than {MAX_RDATA_BYTES} bytes"));
    }
    let mut caa = CAA::new_issue(false, None, Vec::new());
    caa.issuer_critical = flags & 0x80 != 0;
    caa.reserved_flags = flags & 0x7f;
    caa.tag = String::from_utf8_lossy(tag).into_owned();
    caa.value = value;
    Ok(RData::CAA(caa))
}

/// RFC 3597 §5: `\# length hex…`; a type hickory knows is decoded into its typed RDATA.
fn generic_rdata(rtype: RecordType, mut fields: Fields<'_, '_>) -> Result<RData, String> {
    let length: u16 = fields.number("RDATA length")?;
    let bytes = fields.hex()?;
    if bytes.len() != usize::from(length) {
        return Err(format!(
            "RDATA length {length} does not match the {} bytes of hex data",
            bytes.len()
        ));
    }
    // RFC 6895 §3.1: 65280-65534 are for private use, so their RDATA is opaque — even 65305,
    // which hickory decodes as its own ANAME.
    if (0xff00..=0xfffe).contains(&u16::from(rtype)) {
        let rdata = if bytes.is_empty() {
            NULL::new()
        } else {
            NULL::with(bytes)
        };
        return Ok(RData::Unknown { code: rtype, rdata });
    }
    let mut decoder = BinDecoder::new(&bytes);
    RData::read(&mut decoder, rtype, Restrict::new(length))
        .map_err(|e| format!("bad {rtype} RDATA: {e}"))
}

/// A domain name field: `@`, a relative name (the origin is appended) or an absolute one, with
/// `\X` and `\DDD` escapes (RFC 1035 §5.1). Case is kept.
fn parse_name(token: &Token<'_>, origin: &Name) -> Result<Name, String> {
    if token.quoted {
        return Err(format!(
            "domain name must not be quoted: \"{}\"",
            show(token.text)
        ));
    }
    let text = token.text;
    if text == b"@" {
        return Ok(origin.clone());
    }
    let shown = || show(text);
    let mut labels: Vec<Vec<u8>> = Vec::new();
    let mut label = Vec::new();
    let mut absolute = false;
    if text != b"." {
        let mut i = 0;
        while let Some(&b) = text.get(i) {
            match b {
                b'\\' => {
                    let (byte, used) = escape(text.get(i + 1..).unwrap_or_default())?;
                    label.push(byte);
                    i += 1 + used;
                }
                b'.' => {
                    if label.is_empty() {
                        return Err(format!("empty label in name '{}'", shown()));
                    }
                    labels.push(std::mem::take(&mut label));
                    i += 1;
                    absolute = i == text.len();
                }
                _ => {
                    label.push(b);
                    i += 1;
                }
            }
            if label.len() > MAX_LABEL_BYTES {
                return Err(format!(
                    "label longer than {MAX_LABEL_BYTES} bytes in name '{}'",
                    shown()
                ));
            }
        }
        if !label.is_empty() {
            labels.push(label);
        }
    } else {
        absolute = true;
    }
    let suffix: Vec<&[u8]> = if absolute {
        Vec::new()
    } else {
        origin.iter().collect()
    };
    let wire = labels.iter().map(|l| l.len() + 1).sum::<usize>()
        + suffix.iter().map(|l| l.len() + 1).sum::<usize>()
        + 1;
    if wire > MAX_NAME_BYTES {
        return Err(format!(
            "name '{}' longer than {MAX_NAME_BYTES} bytes",
            shown()
        ));
    }
    let all = labels.iter().map(Vec::as_slice).chain(suffix);
    Name::from_labels(all).map_err(|e| format!("bad name '{}': {e}", shown()))
}

/// A TTL: plain seconds, or number-unit pairs (`1w2d3h4m5s`, units in any case).
fn parse_ttl(text: &[u8]) -> Result<u32, String> {
    let bad = |why: &str| format!("bad TTL '{}': {why}", show(text));
    if text.is_empty() {
        return Err(bad("empty"));
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    let mut units = false;
    for &c in text {
        if c.is_ascii_digit() {
            let n = number.unwrap_or(0) * 10 + u64::from(c - b'0');
            if n > u64::from(MAX_TTL) {
                return Err(bad("more than 2147483647 seconds"));
            }
            number = Some(n);
            continue;
        }
        let scale: u64 = match c.to_ascii_lowercase() {
            b's' => 1,
            b'm' => 60,
            b'h' => 3_600,
            b'd' => 86_400,
            b'w' => 604_800,
            _ => {
                return Err(bad(
                    "expected seconds or a number with unit s, m, h, d or w",
                ))
            }
        };
        let n = number.take().ok_or_else(|| bad("unit without a number"))?;
        total += n * scale;
        if total > u64::from(MAX_TTL) {
            return Err(bad("more than 2147483647 seconds"));
        }
        units = true;
    }
    if let Some(n) = number {
        if units {
            return Err(bad("number without a unit after one with a unit"));
        }
        total = n;
    }
    u32::try_from(total).map_err(|_| bad("more than 2147483647 seconds"))
}

/// A timer already checked against [`MAX_TTL`], so it fits.
fn as_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A decimal number: digits only (no sign, no spaces).
fn parse_number<T: FromStr>(text: &[u8], what: &str) -> Result<T, String> {
    let bad = || format!("bad {what} '{}'", show(text));
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)
}

fn parse_address<T: FromStr>(text: &[u8], family: &str) -> Result<T, String> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad {family} address '{}'", show(text)))
}

/// A `<character-string>` (quoted or a bare word), escapes decoded, at most 255 bytes.
fn character_string(token: &Token<'_>) -> Result<Vec<u8>, String> {
    let bytes = unescape(token.text)?;
    if bytes.len() > MAX_CHARACTER_STRING {
        return Err(format!(
            "string longer than {MAX_CHARACTER_STRING} bytes: \"{}\"",
            show(token.text)
        ));
    }
    Ok(bytes)
}

/// Decodes `\X` (X itself) and `\DDD` (the byte with decimal value DDD).
fn unescape(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        if b == b'\\' {
            let (byte, used) = escape(text.get(i + 1..).unwrap_or_default())?;
            out.push(byte);
            i += 1 + used;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

/// The byte an escape stands for, given what follows the backslash, and how many bytes it used.
fn escape(rest: &[u8]) -> Result<(u8, usize), String> {
    match rest {
        [] => Err("backslash at the end of a field".to_owned()),
        [d0, ..] if d0.is_ascii_digit() => match rest {
            [d0, d1, d2, ..] if d1.is_ascii_digit() && d2.is_ascii_digit() => {
                let value =
                    u32::from(d0 - b'0') * 100 + u32::from(d1 - b'0') * 10 + u32::from(d2 - b'0');
                let byte = u8::try_from(value)
                    .map_err(|_| format!("escape \\{value} is more than 255"))?;
                Ok((byte, 3))
            }
            _ => Err("\\DDD escape needs exactly three digits".to_owned()),
        },
        [b, ..] => Ok((*b, 1)),
    }
}

fn upper(text: &[u8]) -> String {
    String::from_utf8_lossy(text).to_ascii_uppercase()
}

/// A token for an error message, cut short.
fn show(text: &[u8]) -> String {
    let cut = text.get(..MAX_SHOWN_BYTES).unwrap_or(text);
    let mut shown = String::from_utf8_lossy(cut).into_owned();
    if cut.len() < text.len() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::DNSClass;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).expect("test name")
    }

    fn origin() -> Name {
        name("example.com.")
    }

    fn parse(text: &str) -> Vec<Record> {
        match parse_zone_str(text, &origin(), "t.zone") {
            Ok(zone) => zone.records,
            Err(e) => panic!("{e}"),
        }
    }

    fn parse_one(text: &str) -> Record {
        let mut records = parse(text);
        assert_eq!(records.len(), 1, "{records:?}");
        records.remove(0)
    }

    fn error(text: &str) -> ZoneFileError {
        match parse_zone_str(text, &origin(), "t.zone") {
            Ok(zone) => panic!("parsed, expected an error: {:?}", zone.records),
            Err(e) => e,
        }
    }

    /// Asserts `text` fails at `t.zone:line:` with a reason containing `needle`.
    #[track_caller]
    fn assert_error(text: &str, line: usize, needle: &str) {
        let e = error(text);
        assert_eq!(e.file, "t.zone", "{e}");
        assert_eq!(e.line, line, "{e}");
        assert!(e.reason.contains(needle), "{e} does not mention {needle:?}");
        assert!(
            e.to_string().starts_with(&format!("t.zone:{line}: ")),
            "{e}"
        );
    }

    /// Records are equal when name (with case), class, TTL and RDATA are.
    #[track_caller]
    fn assert_records(got: &[Record], want: &[Record]) {
        assert_eq!(got.len(), want.len(), "got {got:#?}");
        for (g, w) in got.iter().zip(want) {
            assert!(g.name.eq_case(&w.name), "name {} != {}", g.name, w.name);
            assert_eq!(g.dns_class, DNSClass::IN);
            assert_eq!(g.ttl, w.ttl, "TTL of {}", g.name);
            assert_eq!(g.data, w.data, "RDATA of {}", g.name);
        }
    }

    fn rr(owner: &str, ttl: u32, data: RData) -> Record {
        Record::from_rdata(name(owner), ttl, data)
    }

    fn a(text: &str) -> RData {
        RData::A(A(text.parse().expect("ipv4")))
    }

    fn txt(strings: &[&[u8]]) -> RData {
        RData::TXT(TXT::from_bytes(strings.to_vec()))
    }

    fn caa_rdata(flags: u8, tag: &str, value: &[u8]) -> RData {
        let mut caa = CAA::new_issue(false, None, Vec::new());
        caa.issuer_critical = flags & 0x80 != 0;
        caa.reserved_flags = flags & 0x7f;
        caa.tag = tag.to_owned();
        caa.value = value.to_vec();
        RData::CAA(caa)
    }

    fn fixture(file: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/zone_files")
            .join(file)
    }

    // ---- a whole zone ---------------------------------------------------------------------

    #[test]
    fn example_zone_parses_to_the_exact_record_set() {
        let zone = parse_zone_file(&fixture("example.com.zone"), &origin()).expect("parses");
        assert!(zone.origin.eq_case(&origin()));
        let h = 3600;
        let want = vec![
            rr(
                "example.com.",
                h,
                RData::SOA(SOA::new(
                    name("ns1.example.com."),
                    name("hostmaster.example.com."),
                    2_024_010_101,
                    7200,
                    1800,
                    1_209_600,
                    300,
                )),
            ),
            rr("example.com.", h, RData::NS(NS(name("ns1.example.com.")))),
            rr("example.com.", h, RData::NS(NS(name("ns2.example.net.")))),
            rr(
                "example.com.",
                h,
                RData::MX(MX::new(10, name("mail.example.com."))),
            ),
            rr(
                "example.com.",
                h,
                RData::MX(MX::new(20, name("mail.example.net."))),
            ),
            rr(
                "example.com.",
                h,
                txt(&[b"v=spf1 mx -all", b"say \"hi\"; back\\slash A"]),
            ),
            rr("example.com.", h, caa_rdata(0, "issue", b"letsencrypt.org")),
            rr(
                "example.com.",
                h,
                caa_rdata(128, "iodef", b"mailto:security@example.com"),
            ),
            rr("ns1.example.com.", h, a("192.0.2.1")),
            rr(
                "ns1.example.com.",
                h,
                RData::AAAA(AAAA("2001:db8::1".parse().expect("ipv6"))),
            ),
            rr("mail.example.com.", 300, a("192.0.2.25")),
            rr(
                "www.example.com.",
                h,
                RData::CNAME(CNAME(name("example.com."))),
            ),
            rr(
                "ftp.example.com.",
                600,
                RData::CNAME(CNAME(name("www.example.com."))),
            ),
            rr(
                "_sip._tcp.example.com.",
                h,
                RData::SRV(SRV::new(10, 60, 5060, name("sip.example.com."))),
            ),
            rr("sip.example.com.", h, a("192.0.2.50")),
            rr(
                "1.rev.example.com.",
                h,
                RData::PTR(PTR(name("ns1.example.com."))),
            ),
            rr("*.wild.example.com.", h, a("192.0.2.99")),
            rr(
                "sub.example.com.",
                h,
                RData::NS(NS(name("ns.sub.example.com."))),
            ),
            rr("ns.sub.example.com.", h, a("192.0.2.53")),
            rr(
                "private.example.com.",
                h,
                RData::Unknown {
                    code: RecordType::Unknown(65534),
                    rdata: NULL::with(vec![0xab, 0xcd, 0xef]),
                },
            ),
        ];
        assert_records(&zone.records, &want);
        assert!(zone.records[16].name.is_wildcard());
    }

    // ---- syntax features, one at a time ---------------------------------------------------

    #[test]
    fn origin_directive_absolute_and_relative() {
        let records = parse(
            "$TTL 60\n\
             a A 192.0.2.1\n\
             $ORIGIN sub\n\
             b A 192.0.2.2\n\
             $ORIGIN deeper.sub.example.com.\n\
             c A 192.0.2.3\n\
             d.example.com. A 192.0.2.4\n\
             $ORIGIN @\n\
             e A 192.0.2.5\n",
        );
        let want = [
            rr("a.example.com.", 60, a("192.0.2.1")),
            rr("b.sub.example.com.", 60, a("192.0.2.2")),
            rr("c.deeper.sub.example.com.", 60, a("192.0.2.3")),
            rr("d.example.com.", 60, a("192.0.2.4")),
            rr("e.deeper.sub.example.com.", 60, a("192.0.2.5")),
        ];
        assert_records(&records, &want);
    }

    #[test]
    fn ttl_directive_applies_to_records_without_ttl() {
        let records = parse(
            "$TTL 1d\n\
             a A 192.0.2.1\n\
             b 5 A 192.0.2.2\n\
             c A 192.0.2.3\n\
             $TTL 90\n\
             d A 192.0.2.4\n",
        );
        let ttls: Vec<u32> = records.iter().map(|r| r.ttl).collect();
        // An explicit TTL does not replace $TTL as the default.
        assert_eq!(ttls, [86_400, 5, 86_400, 90]);
    }

    #[test]
    fn ttl_units() {
        for (text, seconds) in [
            ("3600", 3600),
            ("0", 0),
            ("1h", 3600),
            ("30m", 1800),
            ("1d", 86_400),
            ("1w", 604_800),
            ("2h30m", 9000),
            ("1H30M", 5400),
            ("1w2d3h4m5s", 604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5),
            ("10S", 10),
            ("2147483647", MAX_TTL),
        ] {
            assert_eq!(parse_ttl(text.as_bytes()), Ok(seconds), "{text}");
            let record = parse_one(&format!("www {text} IN A 192.0.2.1"));
            assert_eq!(record.ttl, seconds, "{text}");
        }
        for bad in [
            "",
            "1x",
            "h",
            "1hh",
            "1h30",
            "2147483648",
            "9999999999999",
            "4w-1",
            "1.5h",
        ] {
            assert!(parse_ttl(bad.as_bytes()).is_err(), "{bad:?} accepted");
        }
        assert!(parse_ttl(b"3551w").is_err(), "overflows 2^31-1");
    }

    #[test]
    fn parentheses_span_lines_with_comments_inside() {
        let record = parse_one(
            "@ 3600 IN SOA ( ns1 ; primary ( not a paren ) \"no quote\n\
             \thostmaster ; contact\n\
             \n\
             ; a comment-only line inside\n\
             \t1 ; serial\n\
             \t2 3 4 5 ) ; after\n",
        );
        assert_eq!(
            record.data,
            RData::SOA(SOA::new(
                name("ns1.example.com."),
                name("hostmaster.example.com."),
                1,
                2,
                3,
                4,
                5
            ))
        );
        // Parentheses may also split a single field list mid-line, and comments end entries.
        let records = parse("$TTL 1\nwww A (192.0.2.1) ; comment\nwww2 TXT (\"a\"\n\"b\")\n");
        assert_records(
            &records,
            &[
                rr("www.example.com.", 1, a("192.0.2.1")),
                rr("www2.example.com.", 1, txt(&[b"a", b"b"])),
            ],
        );
    }

    #[test]
    fn blank_owner_repeats_the_previous_owner() {
        let records = parse(
            "$TTL 60\n\
             www A 192.0.2.1\n\
             \tA 192.0.2.2\n    AAAA ::1\n\
             ; a comment does not reset it\n\
             \n\
             \t  TXT hello\n\
             other A 192.0.2.3\n\
             \t A 192.0.2.4\n",
        );
        let owners: Vec<String> = records.iter().map(|r| r.name.to_ascii()).collect();
        assert_eq!(
            owners,
            [
                "www.example.com.",
                "www.example.com.",
                "www.example.com.",
                "www.example.com.",
                "other.example.com.",
                "other.example.com."
            ]
        );
    }

    #[test]
    fn at_sign_is_the_current_origin() {
        let records = parse("$TTL 60\n@ MX 10 @\n$ORIGIN sub.example.com.\n@ CNAME @\nx NS @\n");
        assert_records(
            &records,
            &[
                rr(
                    "example.com.",
                    60,
                    RData::MX(MX::new(10, name("example.com."))),
                ),
                rr(
                    "sub.example.com.",
                    60,
                    RData::CNAME(CNAME(name("sub.example.com."))),
                ),
                rr(
                    "x.sub.example.com.",
                    60,
                    RData::NS(NS(name("sub.example.com."))),
                ),
            ],
        );
    }

    #[test]
    fn class_and_ttl_in_either_order_and_class_optional() {
        for line in [
            "www 300 IN A 192.0.2.1",
            "www IN 300 A 192.0.2.1",
            "www 300 A 192.0.2.1",
            "www 5m in a 192.0.2.1",
            "www CLASS1 300 TYPE1 192.0.2.1",
            "www 300 class1 A 192.0.2.1",
        ] {
            let record = parse_one(line);
            assert!(record.name.eq_case(&name("www.example.com.")), "{line}");
            assert_eq!(record.ttl, 300, "{line}");
            assert_eq!(record.data, a("192.0.2.1"), "{line}");
        }
        assert_error("www 300 IN IN A 192.0.2.1", 1, "two class fields");
        assert_error("www 300 IN 400 A 192.0.2.1", 1, "two TTL fields");
    }

    #[test]
    fn escapes_in_names() {
        let record = parse_one("$TTL 1\na\\.b.c\\065\\\\ CNAME x\\.y\\032z.example.net.\n");
        let labels: Vec<&[u8]> = record.name.iter().collect();
        assert_eq!(
            labels,
            [&b"a.b"[..], b"cA\\", b"example", b"com"],
            "{:?}",
            record.name
        );
        match &record.data {
            RData::CNAME(CNAME(target)) => {
                let labels: Vec<&[u8]> = target.iter().collect();
                assert_eq!(labels, [&b"x.y z"[..], b"example", b"net"]);
            }
            other => panic!("{other:?}"),
        }
        // `\.` at the end is part of the label, so the name is still relative.
        let record = parse_one("$TTL 1\ntrail\\. A 192.0.2.1\n");
        assert!(record
            .name
            .eq_case(&Name::from_labels(vec![&b"trail."[..], b"example", b"com"]).expect("name")));
        // Case is kept as written.
        let record = parse_one("$TTL 1\nMiXeD A 192.0.2.1\n");
        assert!(record.name.eq_case(&name("MiXeD.example.com.")));
        assert!(!record.name.eq_case(&name("mixed.example.com.")));
        assert_error("$TTL 1\na\\256 A 192.0.2.1\n", 2, "more than 255");
        assert_error("$TTL 1\na\\12 A 192.0.2.1\n", 2, "three digits");
        assert_error("$TTL 1\na..b A 192.0.2.1\n", 2, "empty label");
        assert_error("$TTL 1\n.a A 192.0.2.1\n", 2, "empty label");
    }

    #[test]
    fn escapes_and_words_in_strings() {
        let record = parse_one(
            "$TTL 1\nt TXT \"quote\\\" back\\\\slash \\001\\255 semi;colon (paren)\" bare\\;word \"\"\n",
        );
        assert_eq!(
            record.data,
            txt(&[
                b"quote\" back\\slash \x01\xff semi;colon (paren)",
                b"bare;word",
                b""
            ])
        );
        let record = parse_one("$TTL 1\nt TXT \"caf\u{e9} \\195\\169\"\n");
        assert_eq!(record.data, txt(&["caf\u{e9} \u{e9}".as_bytes()]));
    }

    #[test]
    fn without_ttl_directive_soa_minimum_then_last_explicit_ttl() {
        let records = parse(
            "@ SOA ns hostmaster 1 2 3 4 1h\n\
             a A 192.0.2.1\n\
             b 60 A 192.0.2.2\n\
             c A 192.0.2.3\n",
        );
        let ttls: Vec<u32> = records.iter().map(|r| r.ttl).collect();
        assert_eq!(ttls, [3600, 3600, 60, 60]);
        // An explicit TTL on the SOA wins over its MINIMUM.
        let records = parse("@ 10 SOA ns hostmaster 1 2 3 4 1h\na A 192.0.2.1\n");
        let ttls: Vec<u32> = records.iter().map(|r| r.ttl).collect();
        assert_eq!(ttls, [10, 10]);
        assert_error("\n\na A 192.0.2.1\n", 3, "no TTL");
    }

    #[test]
    fn generic_rfc3597_syntax() {
        let records = parse(
            "$TTL 1\n\
             a TYPE65534 \\# 4 0A000001\n\
             b type65534 \\# 0\n\
             c TYPE1 \\# 4 0A 00 00 01\n\
             d A \\# 4 c0000201\n\
             e CLASS1 TYPE65280 \\# 2 ( ab\n cd )\n\
             f TYPE2 \\# 13 036e7331076578616d706c6500\n",
        );
        let unknown = |code: u16, bytes: Vec<u8>| RData::Unknown {
            code: RecordType::Unknown(code),
            rdata: if bytes.is_empty() {
                NULL::new()
            } else {
                NULL::with(bytes)
            },
        };
        assert_records(
            &records,
            &[
                rr("a.example.com.", 1, unknown(65534, vec![10, 0, 0, 1])),
                rr("b.example.com.", 1, unknown(65534, Vec::new())),
                rr("c.example.com.", 1, a("10.0.0.1")),
                rr("d.example.com.", 1, a("192.0.2.1")),
                rr("e.example.com.", 1, unknown(65280, vec![0xab, 0xcd])),
                rr("f.example.com.", 1, RData::NS(NS(name("ns1.example.")))),
            ],
        );
        // `\#` only means "generic RDATA" as the first RDATA field: here it is an owner.
        assert_error(
            "$TTL 1\na TYPE65534 \\# 3 0A0000\n\\# 1\n",
            3,
            "missing type",
        );
        assert_error("$TTL 1\na TYPE65534 \\# 4 0A0000\n", 2, "does not match");
        assert_error("$TTL 1\na TYPE65534 \\# 1 0\n", 2, "odd number");
        assert_error("$TTL 1\na TYPE65534 \\# 1 zz\n", 2, "bad hex");
        assert_error("$TTL 1\na TYPE65534 \\# 70000\n", 2, "bad RDATA length");
        assert_error("$TTL 1\na TYPE1 \\# 3 0a0000\n", 2, "bad A RDATA");
        assert_error("$TTL 1\na TYPE65534 1.2.3.4\n", 2, "RFC 3597");
        assert_error("$TTL 1\na TYPE255 \\# 0\n", 2, "cannot appear");
        assert_error("$TTL 1\na AXFR \\# 0\n", 2, "cannot appear");
        assert_error("$TTL 1\na TYPE70000 \\# 0\n", 2, "bad type");
    }

    #[test]
    fn hinfo_sshfp_tlsa_naptr() {
        let records = parse(
            "$TTL 1\n\
             h HINFO \"Intel i7\" Linux\n\
             s SSHFP 4 2 ( 123456789abcdef6 7890123456789ABC )\n\
             _443._tcp TLSA 3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6\n\
             n NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp\n\
             n NAPTR 102 10 \"u\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .\n",
        );
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
                .collect()
        };
        assert_records(
            &records,
            &[
                rr(
                    "h.example.com.",
                    1,
                    RData::HINFO(HINFO::from_bytes(
                        b"Intel i7".to_vec().into(),
                        b"Linux".to_vec().into(),
                    )),
                ),
                rr(
                    "s.example.com.",
                    1,
                    RData::SSHFP(SSHFP::new(
                        sshfp::Algorithm::Ed25519,
                        sshfp::FingerprintType::SHA256,
                        hex("123456789abcdef67890123456789abc"),
                    )),
                ),
                rr(
                    "_443._tcp.example.com.",
                    1,
                    RData::TLSA(TLSA::new(
                        tlsa::CertUsage::DaneEe,
                        tlsa::Selector::Spki,
                        tlsa::Matching::Sha256,
                        hex("0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"),
                    )),
                ),
                rr(
                    "n.example.com.",
                    1,
                    RData::NAPTR(NAPTR::new(
                        100,
                        10,
                        b"S".to_vec().into(),
                        b"SIP+D2U".to_vec().into(),
                        b"".to_vec().into(),
                        name("_sip._udp.example.com."),
                    )),
                ),
                rr(
                    "n.example.com.",
                    1,
                    RData::NAPTR(NAPTR::new(
                        102,
                        10,
                        b"u".to_vec().into(),
                        b"E2U+sip".to_vec().into(),
                        b"!^.*$!sip:info@example.com!".to_vec().into(),
                        Name::root(),
                    )),
                ),
            ],
        );
        assert_error(
            "$TTL 1\nn NAPTR 1 1 \"a-b\" \"\" \"\" .\n",
            2,
            "NAPTR flags",
        );
        assert_error("$TTL 1\ns SSHFP 1 1\n", 2, "missing SSHFP fingerprint");
        assert_error("$TTL 1\nc CAA 0 is-sue x\n", 2, "bad CAA tag");
        assert_error("$TTL 1\nc CAA 256 issue x\n", 2, "bad CAA flags");
        assert_error("$TTL 1\nd DNAME x\n", 2, "RFC 3597");
    }

    #[test]
    fn label_and_name_lengths() {
        let label63 = "a".repeat(63);
        let record = parse_one(&format!("$TTL 1\n{label63} A 192.0.2.1\n"));
        assert_eq!(record.name.iter().next().map(<[u8]>::len), Some(63));
        assert_error(
            &format!("$TTL 1\n{} A 192.0.2.1\n", "a".repeat(64)),
            2,
            "label longer than 63",
        );
        // 13 labels of 16 bytes + "example.com." = 13*17 + 8 + 4 + 1 = 234 bytes: fits.
        let long = vec!["b".repeat(16); 13].join(".");
        parse_one(&format!("$TTL 1\n{long} A 192.0.2.1\n"));
        let too_long = vec!["b".repeat(16); 15].join(".");
        assert_error(
            &format!("$TTL 1\n{too_long} A 192.0.2.1\n"),
            2,
            "longer than 255",
        );
        assert_error(
            &format!("$TTL 1\nx CNAME {too_long}.example.org.\n"),
            2,
            "longer than 255",
        );
    }

    // ---- $INCLUDE -------------------------------------------------------------------------

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "torsion-zone-{tag}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            TempDir(path)
        }

        fn write(&self, file: &str, text: &str) -> PathBuf {
            let path = self.0.join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("dir");
            }
            std::fs::write(&path, text).expect("write");
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn include_with_origin_override_and_origin_restored() {
        let dir = TempDir::new("include");
        let main = dir.write(
            "main.zone",
            "$ORIGIN example.com.\n\
             $TTL 300\n\
             @ SOA ns hostmaster 1 1h 1h 1w 1h\n\
             $INCLUDE hosts.inc\n\
             after A 192.0.2.2\n\
             \tAAAA ::2\n\
             $INCLUDE \"sub/more.inc\" lab ; origin relative to the current one\n\
             tail A 192.0.2.4\n",
        );
        dir.write(
            "hosts.inc",
            "$ORIGIN other.example.com.\ninner A 192.0.2.1\n$TTL 42\n",
        );
        dir.write("sub/more.inc", "x A 192.0.2.3\n$INCLUDE deeper.inc\n");
        dir.write("sub/deeper.inc", "y A 192.0.2.5\n");
        let zone = parse_zone_file(&main, &origin()).expect("parses");
        let owners: Vec<(String, u32)> = zone
            .records
            .iter()
            .map(|r| (r.name.to_ascii(), r.ttl))
            .collect();
        assert_eq!(
            owners,
            [
                ("example.com.".to_owned(), 300),
                ("inner.other.example.com.".to_owned(), 300),
                ("after.example.com.".to_owned(), 42),
                ("after.example.com.".to_owned(), 42),
                ("x.lab.example.com.".to_owned(), 42),
                ("y.lab.example.com.".to_owned(), 42),
                ("tail.example.com.".to_owned(), 42),
            ]
        );
    }

    #[test]
    fn include_from_a_string_is_relative_to_the_current_directory() {
        // `cargo test` runs in the package directory.
        let records = parse("$INCLUDE tests/zone_files/example.com.zone\n");
        assert_eq!(records.len(), 20);
        let dir = TempDir::new("abs");
        let path = dir.write("a.inc", "$TTL 5\nabs A 192.0.2.9\n");
        let records = parse(&format!("$INCLUDE {}\n", path.display()));
        assert_records(&records, &[rr("abs.example.com.", 5, a("192.0.2.9"))]);
    }

    #[test]
    fn include_errors_report_the_included_file_and_line() {
        let dir = TempDir::new("incerr");
        let main = dir.write("main.zone", "$TTL 1\n$INCLUDE bad.inc\n");
        let bad = dir.write("bad.inc", "ok A 192.0.2.1\n\nbroken A 192.0.2.300\n");
        let e = parse_zone_file(&main, &origin()).expect_err("bad include");
        assert_eq!(e.file, bad.display().to_string());
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("bad IPv4 address"), "{e}");

        let missing = dir.write("missing.zone", "$TTL 1\n\n$INCLUDE nope.inc\n");
        let e = parse_zone_file(&missing, &origin()).expect_err("missing include");
        assert_eq!(
            (e.file.as_str(), e.line),
            (missing.to_str().expect("utf8"), 3)
        );
        assert!(e.reason.contains("cannot read $INCLUDE file"), "{e}");

        let e = parse_zone_file(&dir.0.join("absent.zone"), &origin()).expect_err("absent");
        assert_eq!(e.line, 0);
    }

    #[test]
    fn include_loops_are_errors() {
        let dir = TempDir::new("loop");
        let a = dir.write("a.zone", "$TTL 1\nx A 192.0.2.1\n$INCLUDE b.inc\n");
        let b = dir.write("b.inc", "y A 192.0.2.2\n$INCLUDE a.zone\n");
        let e = parse_zone_file(&a, &origin()).expect_err("loop");
        assert_eq!(e.file, b.display().to_string());
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("$INCLUDE loop"), "{e}");

        let itself = dir.write("self.zone", "$INCLUDE self.zone\n");
        let e = parse_zone_file(&itself, &origin()).expect_err("self loop");
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("$INCLUDE loop"), "{e}");

        // Including the same file twice in sequence is not a loop.
        dir.write("twice.inc", "$TTL 1\nz A 192.0.2.3\n");
        let twice = dir.write("twice.zone", "$INCLUDE twice.inc\n$INCLUDE twice.inc\n");
        let zone = parse_zone_file(&twice, &origin()).expect("twice");
        assert_eq!(zone.records.len(), 2);
    }

    #[test]
    fn include_depth_is_limited() {
        let dir = TempDir::new("depth");
        // f0 includes f1 … includes fN; fN holds a record.
        let chain = |files: usize| {
            for i in 0..files {
                let text = if i + 1 == files {
                    "$TTL 1\nleaf A 192.0.2.1\n".to_owned()
                } else {
                    format!("$INCLUDE f{}.inc\n", i + 1)
                };
                dir.write(&format!("f{i}.inc"), &text);
            }
            parse_zone_file(&dir.0.join("f0.inc"), &origin())
        };
        let zone = chain(MAX_INCLUDE_DEPTH + 1).expect("8 levels of $INCLUDE are fine");
        assert_eq!(zone.records.len(), 1);
        let e = chain(MAX_INCLUDE_DEPTH + 2).expect_err("9 levels");
        assert!(
            e.file.ends_with(&format!("f{MAX_INCLUDE_DEPTH}.inc")),
            "{e}"
        );
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("nested more than 8"), "{e}");
    }

    // ---- errors ---------------------------------------------------------------------------

    #[test]
    fn errors_name_the_file_and_line() {
        assert_error(
            "$TTL 1\nwww A 192.0.2.1\nwww FOO x\n",
            3,
            "unknown type FOO",
        );
        assert_error("$TTL 1\n\nwww A 192.0.2\n", 3, "bad IPv4 address '192.0.2'");
        assert_error("$TTL 1\nwww AAAA 2001:db8::g\n", 2, "bad IPv6 address");
        assert_error("$TTL 1\n@ MX 10\n", 2, "missing MX exchange");
        assert_error("$TTL 1\n@ MX\n", 2, "missing MX preference");
        assert_error("$TTL 1\n@ MX ten mail\n", 2, "bad MX preference 'ten'");
        assert_error("$TTL 1\n@ SRV 1 2 70000 x\n", 2, "bad SRV port");
        assert_error("$TTL 1\nwww\n", 2, "missing type");
        assert_error("$TTL 1\nwww 300 IN\n", 2, "missing type");
        assert_error("$TTL 1\nwww 1x A 192.0.2.1\n", 2, "bad TTL '1x'");
        assert_error("$TTL forever\n", 1, "bad TTL");
        assert_error(
            "$TTL 1\nwww.example.net. A 192.0.2.1\n",
            2,
            "owner www.example.net. is out of zone example.com.",
        );
        assert_error(
            "$TTL 1\n$ORIGIN example.org.\nwww A 192.0.2.1\n",
            3,
            "out of zone",
        );
        assert_error(
            "$TTL 1\nwww CH A 192.0.2.1\n",
            2,
            "class CH is not supported",
        );
        assert_error(
            "$TTL 1\nwww CLASS3 A 192.0.2.1\n",
            2,
            "class CLASS3 is not supported",
        );
        assert_error("$TTL 1\nwww A 192.0.2.1 extra\n", 2, "unexpected 'extra'");
        assert_error(
            "$TTL 1\nwww TXT \"x\" \"y\nz A 192.0.2.1\n",
            2,
            "unterminated quoted string",
        );
        assert_error("$TTL 1\nwww TXT \"no end", 2, "unterminated quoted string");
        assert_error(
            "$TTL 1\n@ SOA ns host (\n 1 2 3 4 5\nwww A 192.0.2.1\n",
            2,
            "unclosed parenthesis",
        );
        assert_error(
            "$TTL 1\n@ SOA ns host ( 1 2 (3) 4 5 )\n",
            2,
            "nested parentheses",
        );
        assert_error("$TTL 1\nwww A 192.0.2.1 )\n", 2, "')' without");
        assert_error(
            "$TTL 1\n@ SOA ns host (\n 1 2 3\n 4 five )\n",
            2,
            "SOA minimum",
        );
        assert_error("$TTL 1\nt TXT \"a\" \"\n", 2, "unterminated");
        assert_error(
            &format!("$TTL 1\nt TXT \"{}\"\n", "x".repeat(256)),
            2,
            "string longer than 255",
        );
        assert_error("$TTL 1\n$GENERATE 1-10 x A 192.0.2.$\n", 2, "$GENERATE");
        assert_error("$FOO bar\n", 1, "unknown directive $FOO");
        assert_error("$ORIGIN\n", 1, "missing $ORIGIN name");
        assert_error("$ORIGIN a. b.\n", 1, "unexpected 'b.'");
        assert_error("  A 192.0.2.1\n", 1, "no owner name");
        assert_error(
            "$TTL 1\nwww \"A\" 192.0.2.1\n",
            2,
            "unexpected quoted string",
        );
        assert_error("$TTL 1\n\"www\" A 192.0.2.1\n", 2, "must not be quoted");
        assert_error("$TTL 1\nwww A 192.0.2.1\\", 2, "backslash at the end");
        assert_error(
            "$TTL 1\n@ SOA ns host 4294967296 2 3 4 5\n",
            2,
            "bad SOA serial",
        );
        assert_error(
            &format!("$TTL 1\nt TXT {}\n", "x".repeat(MAX_TOKEN_BYTES + 1)),
            2,
            "token longer than",
        );
    }

    #[test]
    fn owner_check_is_case_insensitive_and_accepts_the_apex() {
        let records = parse("$TTL 1\nEXAMPLE.COM. A 192.0.2.1\nWww.Example.Com. A 192.0.2.2\n");
        assert_eq!(records.len(), 2);
        assert!(records[1].name.eq_case(&name("Www.Example.Com.")));
        // The root zone contains everything.
        let zone =
            parse_zone_str("$TTL 1\nx.y. A 192.0.2.1\n", &Name::root(), "root").expect("root");
        assert_eq!(zone.records.len(), 1);
        // A relative origin is taken as absolute.
        let zone = parse_zone_str("$TTL 1\nx A 192.0.2.1\n", &name("example.com"), "rel")
            .expect("relative origin");
        assert!(zone.origin.is_fqdn());
        assert_eq!(zone.records[0].name, name("x.example.com."));
    }

    #[test]
    fn crlf_line_endings_and_empty_input() {
        let records = parse("$TTL 1\r\nwww A 192.0.2.1\r\n\tA 192.0.2.2\r\n");
        assert_eq!(records.len(), 2);
        assert!(parse("").is_empty());
        assert!(parse("; only a comment\n\n   \n").is_empty());
    }

    // ---- properties -----------------------------------------------------------------------

    /// Zone-file-ish fragments, for inputs that get past the lexer more often than noise does.
    fn zoneish() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            Just("@".to_owned()),
            Just("$ORIGIN".to_owned()),
            Just("$TTL".to_owned()),
            Just("$INCLUDE".to_owned()),
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just(";".to_owned()),
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("\\#".to_owned()),
            Just("\n".to_owned()),
            Just("\n\t".to_owned()),
            Just("IN".to_owned()),
            Just("CLASS1".to_owned()),
            Just("1h30m".to_owned()),
            Just("3600".to_owned()),
            Just("0A000001".to_owned()),
            Just("192.0.2.1".to_owned()),
            Just("::1".to_owned()),
            Just("www".to_owned()),
            Just("a\\.b\\065".to_owned()),
            Just("example.com.".to_owned()),
            Just("\"txt \\\" \\255\"".to_owned()),
            prop::sample::select(vec![
                "A",
                "AAAA",
                "NS",
                "CNAME",
                "SOA",
                "MX",
                "TXT",
                "SRV",
                "PTR",
                "CAA",
                "HINFO",
                "SSHFP",
                "TLSA",
                "NAPTR",
                "TYPE65534",
                "TYPE1",
                "TYPE6",
                "TYPE15",
                "TYPE257",
                "TYPE35",
                "TYPE44",
                "TYPE52",
                "TYPE13",
                "TYPE64",
                "TYPE65",
                "TYPE41",
            ])
            .prop_map(str::to_owned),
            "[0-9a-fA-F]{0,8}",
            "[0-9]{1,6}",
            "[a-z.]{1,8}",
        ];
        prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.join(" "))
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in any::<String>()) {
            let _ = parse_zone_str(&text, &origin(), "fuzz");
        }

        #[test]
        fn never_panics_on_zoneish_text(text in zoneish()) {
            let _ = parse_zone_str(&text, &origin(), "fuzz");
        }

        /// The RFC 3597 path hands arbitrary bytes to hickory's decoder for every type code.
        #[test]
        fn generic_rdata_of_any_type_never_panics(
            code in any::<u16>(),
            bytes in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let text = format!("x 1 TYPE{code} \\# {} {hex}\n", bytes.len());
            let _ = parse_zone_str(&text, &origin(), "generic");
        }

        #[test]
        fn generated_zone_round_trips(records in prop::collection::vec(arb_record(), 1..20)) {
            let mut text = String::new();
            for (record, relative_owner) in &records {
                text.push_str(&presentation(record, *relative_owner));
                text.push('\n');
            }
            let parsed = parse_zone_str(&text, &origin(), "generated")
                .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(parsed.records.len(), records.len());
            for (got, (want, _)) in parsed.records.iter().zip(&records) {
                prop_assert!(got.name.eq_case(&want.name), "{} != {}\n{}", got.name, want.name, text);
                prop_assert_eq!(got.ttl, want.ttl);
                prop_assert_eq!(&got.data, &want.data, "{}", text);
            }
        }
    }

    // ---- a presentation-format writer for the round trip ---------------------------------

    fn arb_label() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            "[a-zA-Z0-9_-]{1,12}".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 1..10),
        ]
    }

    /// An absolute name under `suffix`, short enough to stay under 255 bytes.
    fn arb_name_under(suffix: Name) -> impl Strategy<Value = Name> {
        prop::collection::vec(arb_label(), 0..4).prop_map(move |labels| {
            let all: Vec<&[u8]> = labels
                .iter()
                .map(Vec::as_slice)
                .chain(suffix.iter())
                .collect();
            Name::from_labels(all).expect("short name")
        })
    }

    fn arb_name() -> impl Strategy<Value = Name> {
        prop_oneof![
            arb_name_under(origin()),
            arb_name_under(name("example.net.")),
            Just(Name::root()),
        ]
    }

    fn arb_string() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..40)
    }

    fn arb_rdata() -> impl Strategy<Value = RData> {
        prop_oneof![
            any::<u32>().prop_map(|ip| RData::A(A(Ipv4Addr::from(ip)))),
            any::<u128>().prop_map(|ip| RData::AAAA(AAAA(Ipv6Addr::from(ip)))),
            arb_name().prop_map(|n| RData::NS(NS(n))),
            arb_name().prop_map(|n| RData::CNAME(CNAME(n))),
            arb_name().prop_map(|n| RData::PTR(PTR(n))),
            (any::<u16>(), arb_name()).prop_map(|(p, n)| RData::MX(MX::new(p, n))),
            (
                arb_name(),
                arb_name(),
                any::<u32>(),
                0..=MAX_TTL,
                0..=MAX_TTL,
                0..=MAX_TTL,
                0..=MAX_TTL
            )
                .prop_map(|(m, r, serial, refresh, retry, expire, minimum)| {
                    RData::SOA(SOA::new(
                        m,
                        r,
                        serial,
                        as_i32(refresh),
                        as_i32(retry),
                        as_i32(expire),
                        minimum,
                    ))
                }),
            prop::collection::vec(arb_string(), 1..4).prop_map(|strings| RData::TXT(
                TXT::from_bytes(strings.iter().map(Vec::as_slice).collect())
            )),
            (any::<u16>(), any::<u16>(), any::<u16>(), arb_name())
                .prop_map(|(p, w, port, n)| RData::SRV(SRV::new(p, w, port, n))),
            (
                any::<u8>(),
                "[a-zA-Z0-9]{1,15}",
                prop::collection::vec(any::<u8>(), 0..60)
            )
                .prop_map(|(flags, tag, value)| caa_rdata(flags, &tag, &value)),
            (arb_string(), arb_string())
                .prop_map(|(cpu, os)| RData::HINFO(HINFO::from_bytes(cpu.into(), os.into()))),
            (
                any::<u8>(),
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 1..40)
            )
                .prop_map(|(alg, kind, fp)| RData::SSHFP(SSHFP::new(
                    alg.into(),
                    kind.into(),
                    fp
                ))),
            (
                any::<u8>(),
                any::<u8>(),
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 1..40)
            )
                .prop_map(|(u, s, m, data)| RData::TLSA(TLSA::new(
                    u.into(),
                    s.into(),
                    m.into(),
                    data
                ))),
            (
                any::<u16>(),
                any::<u16>(),
                "[a-zA-Z0-9]{0,3}",
                arb_string(),
                arb_string(),
                arb_name()
            )
                .prop_map(|(order, pref, flags, services, regexp, replacement)| {
                    RData::NAPTR(NAPTR::new(
                        order,
                        pref,
                        flags.into_bytes().into(),
                        services.into(),
                        regexp.into(),
                        replacement,
                    ))
                }),
            (65280u16..=65534, prop::collection::vec(any::<u8>(), 0..40)).prop_map(
                |(code, bytes)| {
                    RData::Unknown {
                        // Private-use codes; hickory names 65305 ANAME.
                        code: RecordType::from(code),
                        rdata: if bytes.is_empty() {
                            NULL::new()
                        } else {
                            NULL::with(bytes)
                        },
                    }
                }
            ),
        ]
    }

    /// A record and whether to write its owner relative to the origin.
    fn arb_record() -> impl Strategy<Value = (Record, bool)> {
        (
            arb_name_under(origin()),
            0..=MAX_TTL,
            arb_rdata(),
            any::<bool>(),
        )
            .prop_map(|(owner, ttl, data, relative)| {
                (Record::from_rdata(owner, ttl, data), relative)
            })
    }

    /// RFC 1035 §5.1 presentation of a name: anything but letters, digits, `-` and `_` as `\DDD`.
    fn write_name(name: &Name, relative_to_origin: bool) -> String {
        if name.is_root() {
            return ".".to_owned();
        }
        let origin = origin();
        let labels: Vec<&[u8]> = name.iter().collect();
        let keep = if relative_to_origin && labels.len() > origin.iter().len() {
            labels.len() - origin.iter().len()
        } else if relative_to_origin {
            return "@".to_owned();
        } else {
            labels.len()
        };
        let mut out = String::new();
        for label in &labels[..keep] {
            for &b in *label {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("\\{b:03}"));
                }
            }
            out.push('.');
        }
        if relative_to_origin {
            out.pop();
        }
        out
    }

    fn write_string(bytes: &[u8]) -> String {
        let mut out = String::from("\"");
        for &b in bytes {
            match b {
                b'"' | b'\\' => {
                    out.push('\\');
                    out.push(char::from(b));
                }
                0x20..=0x7e => out.push(char::from(b)),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('"');
        out
    }

    fn write_hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn presentation(record: &Record, relative_owner: bool) -> String {
        let n = |name: &Name| write_name(name, false);
        let rdata = match &record.data {
            RData::A(a) => format!("A {}", a.0),
            RData::AAAA(aaaa) => format!("AAAA {}", aaaa.0),
            RData::NS(ns) => format!("NS {}", n(&ns.0)),
            RData::CNAME(c) => format!("CNAME {}", n(&c.0)),
            RData::PTR(p) => format!("PTR {}", n(&p.0)),
            RData::MX(mx) => format!("MX {} {}", mx.preference, n(&mx.exchange)),
            RData::SOA(soa) => format!(
                "SOA {} {} ( {} {} {}\n {} {} )",
                n(&soa.mname),
                n(&soa.rname),
                soa.serial,
                soa.refresh,
                soa.retry,
                soa.expire,
                soa.minimum
            ),
            RData::TXT(t) => {
                let strings: Vec<String> = t.txt_data.iter().map(|s| write_string(s)).collect();
                format!("TXT {}", strings.join(" "))
            }
            RData::SRV(srv) => format!(
                "SRV {} {} {} {}",
                srv.priority,
                srv.weight,
                srv.port,
                n(&srv.target)
            ),
            RData::CAA(caa) => format!(
                "CAA {} {} {}",
                caa.flags(),
                caa.tag,
                write_string(&caa.value)
            ),
            RData::HINFO(h) => format!("HINFO {} {}", write_string(&h.cpu), write_string(&h.os)),
            RData::SSHFP(s) => format!(
                "SSHFP {} {} {}",
                u8::from(s.algorithm),
                u8::from(s.fingerprint_type),
                write_hex(&s.fingerprint)
            ),
            RData::TLSA(t) => format!(
                "TLSA {} {} {} {}",
                u8::from(t.cert_usage),
                u8::from(t.selector),
                u8::from(t.matching),
                write_hex(&t.cert_data)
            ),
            RData::NAPTR(naptr) => format!(
                "NAPTR {} {} {} {} {} {}",
                naptr.order,
                naptr.preference,
                write_string(&naptr.flags),
                write_string(&naptr.services),
                write_string(&naptr.regexp),
                n(&naptr.replacement)
            ),
            RData::Unknown { code, rdata } => format!(
                "TYPE{} \\# {} {}",
                u16::from(*code),
                rdata.anything.len(),
                write_hex(&rdata.anything)
            ),
            other => panic!("no writer for {other:?}"),
        };
        format!(
            "{} {} IN {}",
            write_name(&record.name, relative_owner),
            record.ttl,
            rdata
        )
    }
}
