//! IMAP keywords (`$Junk`, `$Forwarded`, custom ones) the way Dovecot keeps them in a Maildir,
//! so that mail Dovecot wrote is read without a migration and the other way round: a message's
//! keywords are lowercase letters after its flags in the file name (`:2,FSab`), and the
//! mailbox's `dovecot-keywords` file names each letter — one `INDEX NAME` line per keyword,
//! `0` for `a` up to `25` for `z`. So a Maildir holds at most 26 keywords; a 27th is refused
//! (the IMAP server answers `NO [LIMIT]`).

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// The keyword file's name (Dovecot's).
pub const FILE: &str = "dovecot-keywords";
/// Most keywords one Maildir can name (the letters `a`–`z`).
pub const MAX_KEYWORDS: usize = 26;
/// Longest keyword accepted.
pub const MAX_KEYWORD_LEN: usize = 128;

/// A set of keyword letters: bit `i` is letter `'a' + i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Keywords(u32);

impl Keywords {
    /// None.
    pub const EMPTY: Keywords = Keywords(0);

    /// The lowercase letters of a file name's info (`FSab` → a, b); other characters ignored.
    pub fn from_maildir(letters: &str) -> Self {
        let mut k = Keywords(0);
        for c in letters.bytes() {
            if c.is_ascii_lowercase() {
                k.0 |= 1 << (c - b'a');
            }
        }
        k
    }

    /// The letters, in ASCII order (as Maildir wants them).
    pub fn to_maildir(self) -> String {
        (0..MAX_KEYWORDS as u8)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| char::from(b'a' + i))
            .collect()
    }

    /// Whether keyword number `index` is set.
    pub fn has(self, index: usize) -> bool {
        index < MAX_KEYWORDS && self.0 & (1 << index) != 0
    }

    /// With keyword number `index` set.
    pub fn with(self, index: usize) -> Self {
        if index < MAX_KEYWORDS {
            Keywords(self.0 | 1 << index)
        } else {
            self
        }
    }

    /// Union.
    pub fn union(self, other: Keywords) -> Self {
        Keywords(self.0 | other.0)
    }

    /// Difference.
    pub fn without(self, other: Keywords) -> Self {
        Keywords(self.0 & !other.0)
    }

    /// Whether every keyword of `other` is set.
    pub fn contains(self, other: Keywords) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether none is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The indexes set, ascending.
    pub fn indexes(self) -> impl Iterator<Item = usize> {
        (0..MAX_KEYWORDS).filter(move |i| self.0 & (1 << i) != 0)
    }
}

/// Whether `name` may be a keyword: an IMAP atom (RFC 9051 `flag-keyword`), no `\`.
pub fn valid_keyword(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_KEYWORD_LEN
        && name.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        })
}

/// The keyword names of one Maildir, by letter index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeywordTable {
    names: Vec<Option<String>>,
}

impl KeywordTable {
    /// Read `dir/dovecot-keywords` (missing: none). Lines that do not parse are skipped.
    pub fn load(dir: &Path) -> io::Result<Self> {
        let text = match fs::read_to_string(dir.join(FILE)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e),
        };
        let mut table = KeywordTable::default();
        for line in text.lines() {
            let Some((index, name)) = line.split_once(' ') else {
                continue;
            };
            let (Ok(index), true) = (index.parse::<usize>(), valid_keyword(name)) else {
                continue;
            };
            if index < MAX_KEYWORDS && table.index_of(name).is_none() {
                if table.names.len() <= index {
                    table.names.resize(index + 1, None);
                }
                table.names[index] = Some(name.to_owned());
            }
        }
        Ok(table)
    }

    /// The letter index of `name` (keywords compare case-insensitively, RFC 9051 §2.3.2).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names
            .iter()
            .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }

    /// The name of keyword `index`.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.names.get(index)?.as_deref()
    }

    /// Every named keyword, by index.
    pub fn names(&self) -> impl Iterator<Item = (usize, &str)> {
        self.names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((i, n.as_deref()?)))
    }

    /// The names of the keywords in `set` (letters with no name are left out).
    pub fn names_of(&self, set: Keywords) -> Vec<&str> {
        self.iter_names_of(set).collect()
    }

    /// [`names_of`](Self::names_of) without collecting them.
    pub fn iter_names_of(&self, set: Keywords) -> impl Iterator<Item = &str> {
        set.indexes().filter_map(|i| self.name(i))
    }

    /// The index of `name`, giving it the first free letter if it has none (the caller
    /// then [`save`](Self::save)s under the mailbox lock). `None`: not a valid keyword, or
    /// all 26 letters are taken.
    pub fn intern(&mut self, name: &str) -> Option<usize> {
        if !valid_keyword(name) {
            return None;
        }
        if let Some(i) = self.index_of(name) {
            return Some(i);
        }
        let free = match self.names.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.names.len() < MAX_KEYWORDS => {
                self.names.push(None);
                self.names.len() - 1
            }
            None => return None,
        };
        self.names[free] = Some(name.to_owned());
        Some(free)
    }

    /// Write the table to `dir/dovecot-keywords` (temporary file, then rename).
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let mut text = String::new();
        for (i, name) in self.names() {
            text.push_str(&format!("{i} {name}\n"));
        }
        let tmp = dir.join(format!("{FILE}.tmp"));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(FILE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use torsion_core::testkit::TempDir;

    #[test]
    fn letters_round_trip() {
        let k = Keywords::from_maildir("FSzab");
        assert_eq!(k.to_maildir(), "abz");
        assert!(k.has(0) && k.has(1) && k.has(25) && !k.has(2));
        assert_eq!(k.indexes().collect::<Vec<_>>(), [0, 1, 25]);
        assert_eq!(k.without(Keywords::from_maildir("a")).to_maildir(), "bz");
        assert!(Keywords::EMPTY.is_empty());
        assert_eq!(Keywords::EMPTY.with(30), Keywords::EMPTY);
    }

    #[test]
    fn table_reads_dovecots_file_and_interns_up_to_26() {
        let dir = TempDir::new("keywords").unwrap();
        fs::write(
            dir.path().join(FILE),
            "0 $Junk\n2 NonJunk\nbad line\n3 \\Seen\n1 $junk\n",
        )
        .unwrap();
        let mut t = KeywordTable::load(dir.path()).unwrap();
        assert_eq!(t.index_of("$JUNK"), Some(0));
        assert_eq!(t.index_of("nonjunk"), Some(2));
        assert_eq!(t.name(1), None, "a duplicate name is not a second keyword");
        assert_eq!(t.name(3), None, "\\Seen is not a keyword");
        assert_eq!(t.intern("$Forwarded"), Some(1), "the first free letter");
        assert_eq!(t.intern("$forwarded"), Some(1));
        assert_eq!(t.intern("bad(name"), None);
        t.save(dir.path()).unwrap();
        let again = KeywordTable::load(dir.path()).unwrap();
        assert_eq!(again, t);
        let set = Keywords::from_maildir("abc");
        assert_eq!(again.names_of(set), ["$Junk", "$Forwarded", "NonJunk"]);
        for i in 0..30 {
            let before = t.names().count();
            let got = t.intern(&format!("k{i}"));
            assert_eq!(got.is_some(), before < MAX_KEYWORDS, "k{i}");
        }
        assert_eq!(t.names().count(), MAX_KEYWORDS);
        assert_eq!(t.intern("one-too-many"), None);
    }
}
