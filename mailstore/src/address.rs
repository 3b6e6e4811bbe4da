//! Mail addresses as the store sees them: `local@domain`, compared case-insensitively.
//!
//! RFC 5321 §2.4 says the local part MAY be case-sensitive, but every mainstream MTA
//! (Postfix's default, Dovecot, Exim) folds it for local delivery, and users expect
//! `Alice@Example.test` to reach `alice@example.test`. The store does the same: an address is
//! kept as given for display and folded to lower case for lookups and paths.

use std::fmt;

/// Longest local part (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;
/// Longest domain (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;

/// A `local@domain` address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailAddress {
    local: String,
    domain: String,
}

/// Why a string is not an address the store can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `@`, or nothing on one side of it.
    #[error("expected local@domain")]
    Shape,
    /// The local part is longer than 64 bytes.
    #[error("local part longer than {MAX_LOCAL_PART} bytes")]
    LocalTooLong,
    /// The domain is longer than 255 bytes.
    #[error("domain longer than {MAX_DOMAIN} bytes")]
    DomainTooLong,
    /// A character that cannot be stored safely (a path separator, a control character, a
    /// leading dot...).
    #[error("unsupported character in address")]
    BadCharacter,
}

impl MailAddress {
    /// Parse `local@domain` (the last `@` separates: quoted local parts may contain `@`).
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        let (local, domain) = s.rsplit_once('@').ok_or(AddressError::Shape)?;
        Self::new(local, domain)
    }

    /// An address from its parts, lower-cased and checked.
    pub fn new(local: &str, domain: &str) -> Result<Self, AddressError> {
        if local.is_empty() || domain.is_empty() {
            return Err(AddressError::Shape);
        }
        if local.len() > MAX_LOCAL_PART {
            return Err(AddressError::LocalTooLong);
        }
        if domain.len() > MAX_DOMAIN {
            return Err(AddressError::DomainTooLong);
        }
        // These become directory names: no separators, no dot files, no control characters.
        let bad = |part: &str| {
            part.starts_with('.')
                || part.contains(['/', '\\', '\0'])
                || part.chars().any(char::is_control)
        };
        if bad(local) || bad(domain) || domain.contains(['@', ' ']) || domain.contains("..") {
            return Err(AddressError::BadCharacter);
        }
        Ok(MailAddress {
            local: local.to_lowercase(),
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        })
    }

    /// The local part (folded).
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain (folded).
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

impl fmt::Display for MailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl std::str::FromStr for MailAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_folds() {
        let a = MailAddress::parse("Alice@Example.TEST").unwrap();
        assert_eq!(a.to_string(), "alice@example.test");
        assert_eq!(a.local(), "alice");
        assert_eq!(a.domain(), "example.test");
        assert_eq!(
            MailAddress::parse("\"odd@local\"@example.test")
                .unwrap()
                .local(),
            "\"odd@local\""
        );
        assert_eq!(
            MailAddress::parse("x@example.test.").unwrap().domain(),
            "example.test"
        );
    }

    #[test]
    fn rejects_unsafe_addresses() {
        for bad in [
            "", "@x", "x@", "noat", "../x@d", "x@../d", "a/b@d", "x@d/e", ".x@d", "x@.d", "x@a..b",
            "a\u{1}@d",
        ] {
            assert!(MailAddress::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            MailAddress::parse(&format!("{}@d", "x".repeat(65))),
            Err(AddressError::LocalTooLong)
        );
    }
}
