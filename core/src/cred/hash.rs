//! Stored password formats: `{ARGON2ID}<PHC string>` and `{PLAIN}password`.
//!
//! The scheme tag in braces is matched case-insensitively (`{argon2id}` works too). New passwords are
//! always hashed with Argon2id ([`hash_password`]); `{PLAIN}` exists for tests and throwaway setups,
//! like Twisted's in-memory checker, and is compared in constant time.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::CredError;

/// Scheme tag of Argon2id hashes, without the braces.
pub const ARGON2ID_SCHEME: &str = "ARGON2ID";
/// Scheme tag of plaintext passwords, without the braces.
pub const PLAIN_SCHEME: &str = "PLAIN";

/// Salt length in bytes (the PHC string format's recommendation, 128 bits).
const SALT_LEN: usize = 16;

/// A password as it is stored in a credentials file: the scheme and its payload.
///
/// `Debug` never shows the payload: a PLAIN password is the secret itself, and an Argon2 hash can
/// still be attacked offline.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredPassword {
    /// An Argon2id hash in PHC string format (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    Argon2id(String),
    /// A plaintext password.
    Plain(String),
}

impl StoredPassword {
    /// Parses `{SCHEME}payload`. The scheme is case-insensitive; an Argon2id payload must be a
    /// complete PHC string for the `argon2id` algorithm (checked here, so a bad credentials file
    /// fails when it is loaded rather than at the first login). Error messages never echo the
    /// payload.
    pub fn parse(s: &str) -> Result<Self, CredError> {
        let (scheme, payload) = s
            .strip_prefix('{')
            .and_then(|rest| rest.split_once('}'))
            .ok_or(CredError::MissingScheme)?;
        if scheme.eq_ignore_ascii_case(ARGON2ID_SCHEME) {
            validate_phc(payload)?;
            Ok(Self::Argon2id(payload.to_owned()))
        } else if scheme.eq_ignore_ascii_case(PLAIN_SCHEME) {
            if payload.is_empty() {
                return Err(CredError::BadHash("empty {PLAIN} password".to_owned()));
            }
            Ok(Self::Plain(payload.to_owned()))
        } else {
            Err(CredError::UnknownScheme(scheme.to_owned()))
        }
    }

    /// The canonical stored form, `{ARGON2ID}…` or `{PLAIN}…` (contains the secret for PLAIN).
    pub fn encode(&self) -> String {
        match self {
            Self::Argon2id(phc) => format!("{{{ARGON2ID_SCHEME}}}{phc}"),
            Self::Plain(password) => format!("{{{PLAIN_SCHEME}}}{password}"),
        }
    }

    /// The scheme tag, without braces: `ARGON2ID` or `PLAIN`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Argon2id(_) => ARGON2ID_SCHEME,
            Self::Plain(_) => PLAIN_SCHEME,
        }
    }

    /// Whether `candidate` is the password. Argon2id costs tens of milliseconds by design: call it
    /// from a blocking thread (see [`super::CredentialStore::check`]), not on the reactor.
    pub fn verify(&self, candidate: &[u8]) -> bool {
        match self {
            Self::Argon2id(phc) => match PasswordHash::new(phc) {
                // The parameters (m, t, p) come from the PHC string, not from `hasher()`.
                Ok(hash) => hasher().verify_password(candidate, &hash).is_ok(),
                Err(_) => false,
            },
            Self::Plain(password) => constant_time_eq(password.as_bytes(), candidate),
        }
    }
}

impl fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoredPassword::{}(<redacted>)", self.scheme())
    }
}

/// Checks that `phc` is a usable Argon2id PHC string: the right algorithm, with a salt and a hash.
fn validate_phc(phc: &str) -> Result<(), CredError> {
    let hash = PasswordHash::new(phc)
        .map_err(|e| CredError::BadHash(format!("invalid {{ARGON2ID}} PHC string: {e}")))?;
    if hash.algorithm != argon2::ARGON2ID_IDENT {
        return Err(CredError::BadHash(format!(
            "{{ARGON2ID}} PHC string is for algorithm `{}`, expected `argon2id`",
            hash.algorithm
        )));
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(CredError::BadHash(
            "{ARGON2ID} PHC string lacks a salt or a hash".to_owned(),
        ));
    }
    Ok(())
}

/// Hashes `password` with Argon2id (the argon2 crate's default, OWASP-recommended parameters:
/// m=19456 KiB, t=2, p=1) and a fresh random salt, returning the stored form `{ARGON2ID}$argon2id$…`.
///
/// Takes tens of milliseconds; from async code, call it through `tokio::task::spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String, CredError> {
    let salt = random_salt()?;
    let hash = hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| CredError::Hashing(e.to_string()))?;
    Ok(format!("{{{ARGON2ID_SCHEME}}}{hash}"))
}

/// Hashes `password` with a fixed salt (no randomness, so it cannot fail for want of entropy).
/// Used for the dummy hash that unknown users are checked against; never for real accounts.
pub(crate) fn hash_with_fixed_salt(password: &str, salt_b64: &str) -> Result<String, CredError> {
    let salt = SaltString::from_b64(salt_b64).map_err(|e| CredError::Hashing(e.to_string()))?;
    let hash = hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| CredError::Hashing(e.to_string()))?;
    Ok(format!("{{{ARGON2ID_SCHEME}}}{hash}"))
}

/// A random salt from the operating system's CSPRNG.
///
/// argon2's `OsRng` path needs rand_core's `getrandom` feature, which our dependency set does not
/// enable; rustls (already a dependency, with the ring provider) exposes the same OS randomness.
fn random_salt() -> Result<SaltString, CredError> {
    let mut bytes = [0u8; SALT_LEN];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| CredError::Hashing("the OS random number generator failed".to_owned()))?;
    SaltString::encode_b64(&bytes).map_err(|e| CredError::Hashing(e.to_string()))
}

/// The Argon2id hasher for new hashes, with the argon2 crate's default (OWASP-recommended)
/// parameters. Unit tests use them too: unoptimised, a hash takes well under a second, so tests
/// exercise the real cost and keep the number of default-cost hashes small (see
/// `tests::cheap_stored_password` for fixtures that need many verifications).
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

/// Compares two byte strings without stopping at the first difference, so the time taken does not
/// reveal how long a matching prefix the candidate has. Different lengths return `false` at once:
/// the length of the secret may leak, its content does not.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold back into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `{ARGON2ID}` stored password with minimal cost (m=8 KiB, t=1), standing for a hash made
    /// elsewhere: for tests that verify many times. Production hashes come from `hash_password`.
    pub(crate) fn cheap_stored_password(password: &str) -> StoredPassword {
        let params = argon2::Params::new(argon2::Params::MIN_M_COST, 1, 1, None).unwrap();
        let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = random_salt().unwrap();
        let phc = argon.hash_password(password.as_bytes(), &salt).unwrap();
        StoredPassword::parse(&format!("{{ARGON2ID}}{phc}")).unwrap()
    }

    #[test]
    fn hash_then_verify() {
        // Default cost: keep the number of hashes and verifications here small.
        let stored = hash_password("correct horse").unwrap();
        assert!(
            stored.starts_with("{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        let parsed = StoredPassword::parse(&stored).unwrap();
        assert!(matches!(parsed, StoredPassword::Argon2id(_)));
        assert_eq!(parsed.encode(), stored);
        assert!(parsed.verify(b"correct horse"));
        // The scheme tag is case-insensitive.
        let lower = StoredPassword::parse(&stored.replacen("{ARGON2ID}", "{argon2id}", 1)).unwrap();
        assert_eq!(lower, parsed);
        assert!(!lower.verify(b"correct horsf"));
    }

    #[test]
    fn salts_differ() {
        let a = random_salt().unwrap();
        let b = random_salt().unwrap();
        assert_ne!(a.as_str(), b.as_str());
        assert!(a.as_str().len() >= 21, "{}", a.as_str()); // 16 bytes, unpadded base64
    }

    #[test]
    fn verify_reads_params_from_the_phc_string() {
        // A hash made elsewhere with other parameters (m=64, t=2, p=2) still verifies: the PHC
        // string carries m, t and p, whatever our own hasher uses.
        let params = argon2::Params::new(64, 2, 2, None).unwrap();
        let other = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap();
        let phc = other.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(phc.contains("m=64,t=2,p=2"), "{phc}");
        let parsed = StoredPassword::parse(&format!("{{ARGON2ID}}{phc}")).unwrap();
        assert!(parsed.verify(b"pw"));
        assert!(!parsed.verify(b"pw2"));
    }

    #[test]
    fn plain_verify() {
        let p = StoredPassword::parse("{PLAIN}hunter2").unwrap();
        assert_eq!(p, StoredPassword::Plain("hunter2".to_owned()));
        assert!(p.verify(b"hunter2"));
        assert!(!p.verify(b"hunter3"));
        assert!(!p.verify(b"hunter"));
        assert!(!p.verify(b"hunter22"));
        assert_eq!(p.encode(), "{PLAIN}hunter2");
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(
            StoredPassword::parse("{plain}x").unwrap(),
            StoredPassword::Plain("x".to_owned())
        );
        assert_eq!(
            StoredPassword::parse("{Plain}a}b").unwrap(),
            StoredPassword::Plain("a}b".to_owned())
        );
        let cheap = cheap_stored_password("pw").encode();
        let mixed = cheap.replacen("{ARGON2ID}", "{Argon2Id}", 1);
        assert!(StoredPassword::parse(&mixed).unwrap().verify(b"pw"));
    }

    #[test]
    fn unknown_scheme_is_named() {
        let err = StoredPassword::parse("{SHA1}abcdef").unwrap_err();
        assert!(
            matches!(&err, CredError::UnknownScheme(s) if s == "SHA1"),
            "{err:?}"
        );
        assert!(err.to_string().contains("SHA1"), "{err}");
    }

    #[test]
    fn malformed_stored_passwords() {
        assert!(matches!(
            StoredPassword::parse("hunter2"),
            Err(CredError::MissingScheme)
        ));
        assert!(matches!(
            StoredPassword::parse("{PLAIN"),
            Err(CredError::MissingScheme)
        ));
        assert!(matches!(
            StoredPassword::parse("{PLAIN}"),
            Err(CredError::BadHash(_))
        ));
        assert!(matches!(
            StoredPassword::parse("{ARGON2ID}not-a-phc"),
            Err(CredError::BadHash(_))
        ));
        // A valid PHC string, but for argon2i.
        let err = StoredPassword::parse(
            "{ARGON2ID}$argon2i$v=19$m=8,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        )
        .unwrap_err();
        assert!(err.to_string().contains("argon2i"), "{err}");
        // No hash part.
        assert!(matches!(
            StoredPassword::parse("{ARGON2ID}$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ"),
            Err(CredError::BadHash(_))
        ));
    }

    #[test]
    fn debug_redacts() {
        let p = StoredPassword::Plain("hunter2".to_owned());
        let shown = format!("{p:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("PLAIN"), "{shown}");
    }

    #[test]
    fn constant_time_eq_cases() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"xbc"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
