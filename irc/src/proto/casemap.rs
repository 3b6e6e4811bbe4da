//! Case-insensitive names per `CASEMAPPING=rfc1459` (Modern IRC, "CASEMAPPING Parameter"):
//! ASCII letters plus `[]\~` as the upper-case forms of `{}|^`.

/// The casemapping this implementation advertises.
pub const CASEMAPPING: &str = "rfc1459";

/// Lower-case one character under rfc1459.
pub fn fold_char(c: char) -> char {
    match c {
        'A'..='Z' => c.to_ascii_lowercase(),
        '[' => '{',
        ']' => '}',
        '\\' => '|',
        '~' => '^',
        c => c,
    }
}

/// The folded (canonical) form of a nick or channel name, used as a map key.
pub fn fold(name: &str) -> String {
    name.chars().map(fold_char).collect()
}

/// Whether two names are equal under rfc1459.
pub fn eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.chars().map(fold_char).eq(b.chars().map(fold_char))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1459_folding() {
        assert_eq!(fold("Alice[]\\~"), "alice{}|^");
        assert!(eq("#Chan[x]", "#chan{X}"));
        assert!(!eq("a", "b"));
        assert_eq!(fold("ÄB"), "Äb");
    }
}
