//! Message flags as Maildir stores them in file names (`:2,DFPRST`) and as IMAP names them.

/// A set of the six Maildir flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(u8);

/// (Maildir letter, IMAP name), in the ASCII order Maildir requires.
const TABLE: [(char, &str); 6] = [
    ('D', "\\Draft"),
    ('F', "\\Flagged"),
    ('P', "$Forwarded"),
    ('R', "\\Answered"),
    ('S', "\\Seen"),
    ('T', "\\Deleted"),
];

impl Flags {
    /// No flags.
    pub const EMPTY: Flags = Flags(0);
    /// `\Draft` (D).
    pub const DRAFT: Flags = Flags(1);
    /// `\Flagged` (F).
    pub const FLAGGED: Flags = Flags(2);
    /// Passed/forwarded (P).
    pub const PASSED: Flags = Flags(4);
    /// `\Answered` (R).
    pub const ANSWERED: Flags = Flags(8);
    /// `\Seen` (S).
    pub const SEEN: Flags = Flags(16);
    /// `\Deleted` (T, "trashed").
    pub const DELETED: Flags = Flags(32);

    /// Parse the letters after `:2,` (unknown letters, e.g. Dovecot keywords `a`–`z`, are ignored).
    pub fn from_maildir(letters: &str) -> Self {
        let mut f = Flags(0);
        for c in letters.chars() {
            if let Some(i) = TABLE.iter().position(|(l, _)| *l == c) {
                f.0 |= 1 << i;
            }
        }
        f
    }

    /// The letters for a file name, in ASCII order.
    pub fn to_maildir(self) -> String {
        TABLE
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, (l, _))| *l)
            .collect()
    }

    /// Flags from IMAP names (case-insensitive; unknown names are ignored).
    pub fn parse_imap_list(names: &[&str]) -> Self {
        let mut f = Flags(0);
        for name in names {
            if let Some(i) = TABLE.iter().position(|(_, n)| n.eq_ignore_ascii_case(name)) {
                f.0 |= 1 << i;
            }
        }
        f
    }

    /// IMAP names of the flags set.
    pub fn imap_names(self) -> Vec<&'static str> {
        self.iter_imap_names().collect()
    }

    /// [`imap_names`](Self::imap_names) without collecting them.
    pub fn iter_imap_names(self) -> impl Iterator<Item = &'static str> {
        TABLE
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, (_, n))| *n)
    }

    /// Whether every flag in `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Union.
    pub fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// Difference.
    pub fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let f = Flags::from_maildir("TSRFa");
        assert_eq!(f.to_maildir(), "FRST");
        assert!(f.contains(Flags::SEEN.with(Flags::DELETED)));
        assert_eq!(
            f.imap_names(),
            ["\\Flagged", "\\Answered", "\\Seen", "\\Deleted"]
        );
        assert_eq!(Flags::parse_imap_list(&["\\seen", "\\Bogus"]), Flags::SEEN);
        assert_eq!(f.without(Flags::DELETED).to_maildir(), "FRS");
        assert_eq!(Flags::EMPTY.to_maildir(), "");
    }
}
