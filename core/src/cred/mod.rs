//! Credentials: Twisted's `cred` and `strcred`, for every server that logs users in.
//!
//! A [`CredentialStore`] maps account names to [`StoredPassword`]s and is built from an `--auth`
//! spec in Twisted's strcred syntax:
//!
//! | spec | meaning |
//! | --- | --- |
//! | `memory:USER:PASS[:USER2:PASS2…]` | accounts given inline, passwords stored as `{PLAIN}` (tests, demos) |
//! | `file:PATH` | one `name:{SCHEME}hash` per line; `#` comments and blank lines ignored |
//!
//! A credentials file looks like this (`torsion-X passwd alice` prints such a line, see
//! [`run_passwd`]):
//!
//! ```text
//! # name:{SCHEME}payload
//! alice@example.test:{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$…$…
//! bob:{PLAIN}only-for-tests
//! ```
//!
//! Protocol crates accept anything implementing [`CredentialChecker`], so other back ends can be
//! added later; [`CredentialStore`] is the one that exists today. SASL PLAIN and LOGIN decoding for
//! SMTP, IMAP and POP3 lives in [`sasl`].
//!
//! Checking an Argon2id password costs tens of milliseconds on purpose, so
//! [`CredentialStore::check`] runs it on tokio's blocking pool, never on the reactor; and an unknown
//! user is checked against a dummy hash so that response time does not reveal which accounts exist.
//!
//! ```
//! use torsion_core::cred::{CredentialChecker, CredentialStore};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // What `--auth memory:alice:secret:bob:hunter2` gives a server (clap parses it via `FromStr`).
//! let store: CredentialStore = "memory:alice:secret:bob:hunter2".parse()?;
//! assert_eq!(store.len(), 2);
//! assert!(store.check_sync("alice", b"secret"));
//! assert!(!store.check_sync("alice", b"wrong"));
//! assert!(!store.check_sync("mallory", b"secret"));
//!
//! // In a server session, from async code:
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! assert!(runtime.block_on(store.check("bob", b"hunter2")));
//! # Ok(())
//! # }
//! ```

pub mod hash;
pub mod passwd;
pub mod sasl;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

pub use hash::{constant_time_eq, hash_password, StoredPassword};
pub use passwd::{run_passwd, PasswdArgs};
pub use sasl::{PlainCredentials, SaslError};

/// What can go wrong building a credential store or hashing a password.
#[derive(Debug, thiserror::Error)]
pub enum CredError {
    /// The `--auth` spec is empty.
    #[error("empty --auth spec (expected `memory:USER:PASS[:USER:PASS…]` or `file:PATH`)")]
    EmptySpec,
    /// The `--auth` spec names a back end we do not have.
    #[error("unknown --auth back end `{0}` (expected `memory` or `file`)")]
    UnknownBackend(String),
    /// The `--auth` spec is malformed; the message names the offending part (never a password).
    #[error("bad --auth spec: {0}")]
    BadSpec(String),
    /// A credentials file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line of a credentials file is malformed.
    #[error("{}:{line}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line (never its password).
        reason: String,
    },
    /// A stored password has no `{SCHEME}` prefix.
    #[error(
        "stored password lacks a `{{SCHEME}}` prefix (expected `{{ARGON2ID}}…` or `{{PLAIN}}…`)"
    )]
    MissingScheme,
    /// A stored password's `{SCHEME}` is not one we know.
    #[error("unknown password scheme `{{{0}}}` (expected `{{ARGON2ID}}` or `{{PLAIN}}`)")]
    UnknownScheme(String),
    /// A stored password has a known scheme but an unusable payload.
    #[error("bad stored password: {0}")]
    BadHash(String),
    /// Hashing a new password failed.
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// An account name is not acceptable (in a credentials line, `:` and whitespace are not).
    #[error("bad user name `{user}`: {reason}")]
    BadUser {
        /// The name as given.
        user: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An empty password was given where one is required.
    #[error("empty password")]
    EmptyPassword,
    /// The environment variable meant to hold the password is unusable.
    #[error("environment variable `{var}` {reason}")]
    PasswordEnv {
        /// The variable's name.
        var: String,
        /// `is not set` or `is not valid UTF-8`.
        reason: &'static str,
    },
    /// Reading standard input or writing standard output failed.
    #[error("{what}: {source}")]
    Stdio {
        /// `reading the password from stdin` or `writing the credentials line`.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Accounts and their stored passwords: Twisted's `InMemoryUsernamePasswordDatabaseDontUse` and
/// `FilePasswordDB` in one type.
///
/// Cloning is cheap (the table is behind an `Arc`). Names are compared exactly (case-sensitively).
/// `Debug` shows account names only, never passwords or hashes.
#[derive(Clone, Default)]
pub struct CredentialStore {
    users: Arc<HashMap<String, StoredPassword>>,
    /// Whether any account has an Argon2id hash: decides what an unknown user is checked against.
    has_argon2: bool,
}

impl CredentialStore {
    /// An empty store (every check fails).
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a store from an `--auth` spec: `memory:USER:PASS[:USER2:PASS2…]` or `file:PATH`.
    ///
    /// Like Twisted's strcred, a memory password cannot contain `:`; use a file for that.
    pub fn from_auth_spec(spec: &str) -> Result<Self, CredError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(CredError::EmptySpec);
        }
        let (backend, rest) = spec.split_once(':').unwrap_or((spec, ""));
        if backend.eq_ignore_ascii_case("memory") {
            Self::from_memory_spec(rest)
        } else if backend.eq_ignore_ascii_case("file") {
            if rest.is_empty() {
                return Err(CredError::BadSpec("`file:` needs a path".to_owned()));
            }
            Self::from_file(rest)
        } else {
            Err(CredError::UnknownBackend(backend.to_owned()))
        }
    }

    /// `USER:PASS[:USER2:PASS2…]`, the part after `memory:`.
    fn from_memory_spec(rest: &str) -> Result<Self, CredError> {
        if rest.is_empty() {
            return Err(CredError::BadSpec(
                "`memory:` needs at least one USER:PASS pair".to_owned(),
            ));
        }
        let fields: Vec<&str> = rest.split(':').collect();
        if !fields.len().is_multiple_of(2) {
            // The odd field out is always a user name (fields alternate name, password), so naming
            // it leaks no password.
            let last = fields.last().copied().unwrap_or_default();
            return Err(CredError::BadSpec(format!(
                "`memory:` user `{last}` has no password (expected memory:USER:PASS[:USER:PASS…])"
            )));
        }
        let mut store = Self::new();
        for (index, pair) in fields.chunks_exact(2).enumerate() {
            let (user, password) = (pair[0], pair[1]);
            if user.is_empty() {
                return Err(CredError::BadSpec(format!(
                    "`memory:` user #{} has an empty name",
                    index + 1
                )));
            }
            if password.is_empty() {
                return Err(CredError::BadSpec(format!(
                    "`memory:` user `{user}` has an empty password"
                )));
            }
            if store.contains(user) {
                return Err(CredError::BadSpec(format!(
                    "`memory:` user `{user}` is listed twice"
                )));
            }
            store.insert(user, StoredPassword::Plain(password.to_owned()));
        }
        Ok(store)
    }

    /// Loads a credentials file: lines `name:{SCHEME}payload`, where the name is everything before
    /// the first `:` (so `alice@example.test` works). Blank lines and lines starting with `#` are
    /// ignored, as is whitespace around a line. A malformed line or a name seen twice is an error
    /// `PATH:LINE: reason`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, CredError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CredError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut store = Self::new();
        let mut first_seen: HashMap<String, usize> = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parse_error = |reason: String| CredError::Parse {
                path: path.to_owned(),
                line: line_no,
                reason,
            };
            let Some((name, stored)) = line.split_once(':') else {
                return Err(parse_error(
                    "expected `name:{SCHEME}payload` (no `:` on the line)".to_owned(),
                ));
            };
            if name.is_empty() {
                return Err(parse_error("empty user name".to_owned()));
            }
            if name.chars().any(char::is_whitespace) {
                return Err(parse_error(format!(
                    "user name `{name}` contains whitespace"
                )));
            }
            if let Some(first) = first_seen.get(name) {
                return Err(parse_error(format!(
                    "duplicate user `{name}` (first defined on line {first})"
                )));
            }
            let password = StoredPassword::parse(stored).map_err(|e| parse_error(e.to_string()))?;
            first_seen.insert(name.to_owned(), line_no);
            store.insert(name, password);
        }
        if store.has_argon2 {
            // Pay for the dummy hash now, at start-up, rather than in the first unknown-user login
            // (which would otherwise be measurably slower than the ones after it).
            let _ = dummy_password();
        }
        tracing::debug!(path = %path.display(), users = store.len(), "loaded credentials");
        Ok(store)
    }

    /// Adds or replaces an account, returning its previous password if it had one.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        password: StoredPassword,
    ) -> Option<StoredPassword> {
        self.has_argon2 |= matches!(password, StoredPassword::Argon2id(_));
        Arc::make_mut(&mut self.users).insert(name.into(), password)
    }

    /// Whether the account exists.
    pub fn contains(&self, name: &str) -> bool {
        self.users.contains_key(name)
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Account names, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.users.keys().map(String::as_str)
    }

    /// Whether `password` is `user`'s password. Blocks for as long as the hash takes (tens of
    /// milliseconds for Argon2id): from async code use [`CredentialStore::check`].
    ///
    /// An unknown user is checked against a dummy password of the same kind as the store holds (an
    /// Argon2id hash if the store has any), so the time taken does not tell which accounts exist.
    pub fn check_sync(&self, user: &str, password: &[u8]) -> bool {
        match self.users.get(user) {
            Some(stored) => stored.verify(password),
            None => {
                if self.has_argon2 {
                    if let Some(dummy) = dummy_password() {
                        // black_box: the result is unused, but the work must not be optimised away.
                        std::hint::black_box(dummy.verify(password));
                    }
                } else {
                    std::hint::black_box(constant_time_eq(DUMMY_PASSWORD.as_bytes(), password));
                }
                false
            }
        }
    }

    /// Whether `password` is `user`'s password, checked on tokio's blocking pool so the reactor is
    /// never stalled by Argon2. Must be called within a tokio runtime.
    pub async fn check(&self, user: &str, password: &[u8]) -> bool {
        let store = self.clone();
        let user = user.to_owned();
        let password = password.to_vec();
        match tokio::task::spawn_blocking(move || store.check_sync(&user, &password)).await {
            Ok(ok) => ok,
            Err(e) => {
                tracing::warn!(error = %e, "credential check task failed");
                false
            }
        }
    }
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.names().collect();
        names.sort_unstable();
        f.debug_struct("CredentialStore")
            .field("users", &names)
            .finish_non_exhaustive()
    }
}

/// Lets clap parse `--auth SPEC` straight into a store.
impl FromStr for CredentialStore {
    type Err = CredError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        Self::from_auth_spec(spec)
    }
}

/// Something that can say whether a user's password is right: Twisted's `ICredentialsChecker` for
/// username/password credentials. Protocol servers take `Arc<impl CredentialChecker>` so back ends
/// other than [`CredentialStore`] can be plugged in.
pub trait CredentialChecker: Send + Sync + 'static {
    /// Whether `password` is `user`'s password. Implementations must not block the reactor.
    fn check(&self, user: &str, password: &[u8]) -> impl Future<Output = bool> + Send;
}

impl CredentialChecker for CredentialStore {
    fn check(&self, user: &str, password: &[u8]) -> impl Future<Output = bool> + Send {
        CredentialStore::check(self, user, password)
    }
}

/// Password behind the dummy entry unknown users are checked against. It is never anyone's.
const DUMMY_PASSWORD: &str = "torsion-cred-dummy-password";
/// Fixed salt for the dummy hash (base64 of 16 bytes); it protects no real account.
const DUMMY_SALT_B64: &str = "dG9yc2lvbi1kdW1teS1zYWx0";

/// The dummy Argon2id entry, hashed once per process with the same parameters as real hashes.
fn dummy_password() -> Option<&'static StoredPassword> {
    static DUMMY: OnceLock<Option<StoredPassword>> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            hash::hash_with_fixed_salt(DUMMY_PASSWORD, DUMMY_SALT_B64)
                .and_then(|stored| StoredPassword::parse(&stored))
                .map_err(|e| tracing::warn!(error = %e, "could not compute the dummy hash"))
                .ok()
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file in the temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "torsion-cred-test-{}-{}.passwd",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, contents).unwrap();
            Self(path)
        }

        fn spec(&self) -> String {
            format!("file:{}", self.0.display())
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn memory_one_user() {
        let store = CredentialStore::from_auth_spec("memory:alice:secret").unwrap();
        assert_eq!(store.len(), 1);
        assert!(!store.is_empty());
        assert!(store.contains("alice"));
        assert!(store.check_sync("alice", b"secret"));
        assert!(!store.check_sync("alice", b"Secret"));
        assert!(!store.check_sync("Alice", b"secret"));
    }

    #[test]
    fn memory_two_users() {
        let store = CredentialStore::from_auth_spec("memory:alice:secret:bob:hunter2").unwrap();
        assert_eq!(store.len(), 2);
        let mut names: Vec<&str> = store.names().collect();
        names.sort_unstable();
        assert_eq!(names, ["alice", "bob"]);
        assert!(store.check_sync("bob", b"hunter2"));
        assert!(!store.check_sync("bob", b"secret"));
        assert!(store.check_sync("alice", b"secret"));
    }

    #[test]
    fn memory_odd_fields_is_an_error() {
        let err = CredentialStore::from_auth_spec("memory:alice:secret:bob").unwrap_err();
        assert!(matches!(err, CredError::BadSpec(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("`bob`"), "{msg}");
        assert!(!msg.contains("secret"), "{msg}");
        assert!(CredentialStore::from_auth_spec("memory:alice").is_err());
    }

    #[test]
    fn memory_other_errors() {
        for spec in [
            "memory:",
            "memory",
            "memory::pw",
            "memory:alice:",
            "memory:a:1:a:2",
        ] {
            let err = CredentialStore::from_auth_spec(spec).unwrap_err();
            assert!(matches!(err, CredError::BadSpec(_)), "{spec}: {err:?}");
        }
    }

    #[test]
    fn empty_spec_is_an_error() {
        assert!(matches!(
            CredentialStore::from_auth_spec(""),
            Err(CredError::EmptySpec)
        ));
        assert!(matches!(
            CredentialStore::from_auth_spec("   "),
            Err(CredError::EmptySpec)
        ));
    }

    #[test]
    fn unknown_backend_is_named() {
        let err = CredentialStore::from_auth_spec("ldap:x").unwrap_err();
        assert!(
            matches!(&err, CredError::UnknownBackend(b) if b == "ldap"),
            "{err:?}"
        );
        assert!(err.to_string().contains("ldap"), "{err}");
        assert!(matches!(
            CredentialStore::from_auth_spec("unix"),
            Err(CredError::UnknownBackend(_))
        ));
    }

    #[test]
    fn from_str_and_clap() {
        #[derive(clap::Parser, Debug)]
        struct Cli {
            #[arg(long)]
            auth: CredentialStore,
        }
        let store: CredentialStore = "memory:a:b".parse().unwrap();
        assert!(store.check_sync("a", b"b"));

        let cli = <Cli as clap::Parser>::try_parse_from(["x", "--auth", "memory:u:p"]).unwrap();
        assert!(cli.auth.check_sync("u", b"p"));
        let err = <Cli as clap::Parser>::try_parse_from(["x", "--auth", "ldap:x"]).unwrap_err();
        assert!(err.to_string().contains("ldap"), "{err}");
    }

    #[test]
    fn file_spec() {
        let alice = hash::tests::cheap_stored_password("wonderland").encode();
        let file = TempFile::new(&format!(
            "# accounts\n\nalice@example.test:{alice}\n   # indented comment\r\nbob:{{plain}}builder\r\n"
        ));
        let store = CredentialStore::from_auth_spec(&file.spec()).unwrap();
        assert_eq!(store.len(), 2);
        assert!(store.contains("alice@example.test"));
        assert!(store.check_sync("alice@example.test", b"wonderland"));
        assert!(!store.check_sync("alice@example.test", b"builder"));
        assert!(store.check_sync("bob", b"builder"));
        assert!(!store.check_sync("bob", b"builder\r"));
    }

    #[test]
    fn file_bad_line_reports_path_and_line() {
        let file = TempFile::new("# header\nalice:{PLAIN}x\nbob-has-no-colon\n");
        let err = CredentialStore::from_auth_spec(&file.spec()).unwrap_err();
        assert!(matches!(err, CredError::Parse { line: 3, .. }), "{err:?}");
        let expected = format!("{}:3: ", file.0.display());
        assert!(err.to_string().starts_with(&expected), "{err}");

        let file = TempFile::new("alice:{PLAIN}x\n\ncarol:{MD5}abc\n");
        let err = CredentialStore::from_file(&file.0).unwrap_err();
        let expected = format!("{}:3: ", file.0.display());
        assert!(err.to_string().starts_with(&expected), "{err}");
        assert!(matches!(err, CredError::Parse { line: 3, .. }), "{err:?}");
        assert!(err.to_string().contains("MD5"), "{err}");

        let file = TempFile::new("alice:plaintext-secret\n");
        let err = CredentialStore::from_file(&file.0).unwrap_err();
        assert!(matches!(err, CredError::Parse { line: 1, .. }), "{err:?}");
        assert!(!err.to_string().contains("plaintext-secret"), "{err}");

        let file = TempFile::new(":{PLAIN}x\n");
        assert!(CredentialStore::from_file(&file.0).is_err());
        let file = TempFile::new("al ice:{PLAIN}x\n");
        assert!(CredentialStore::from_file(&file.0).is_err());
    }

    #[test]
    fn file_duplicate_names() {
        let file = TempFile::new("alice:{PLAIN}a\nbob:{PLAIN}b\nalice:{PLAIN}c\n");
        let err = CredentialStore::from_auth_spec(&file.spec()).unwrap_err();
        assert!(matches!(err, CredError::Parse { line: 3, .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("duplicate user `alice`"), "{msg}");
        assert!(msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn file_missing_reports_path() {
        let path = std::env::temp_dir().join("torsion-cred-test-does-not-exist.passwd");
        let err = CredentialStore::from_auth_spec(&format!("file:{}", path.display())).unwrap_err();
        assert!(matches!(err, CredError::Io { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert!(matches!(
            CredentialStore::from_auth_spec("file:"),
            Err(CredError::BadSpec(_))
        ));
    }

    #[test]
    fn unknown_user_is_refused() {
        let mut store = CredentialStore::from_auth_spec("memory:alice:secret").unwrap();
        assert!(!store.check_sync("nobody", b"secret"));
        assert!(!store.check_sync("", b""));
        // With an Argon2id account present, unknown users go through the dummy hash (default
        // cost, so only one such check here).
        assert!(store
            .insert("carol", hash::tests::cheap_stored_password("pw"))
            .is_none());
        assert!(store.has_argon2);
        assert!(store.check_sync("carol", b"pw"));
        assert!(!store.check_sync("nobody", DUMMY_PASSWORD.as_bytes()));
        assert!(dummy_password().is_some_and(|d| d.verify(DUMMY_PASSWORD.as_bytes())));
    }

    #[test]
    fn insert_replaces_and_clones_are_independent() {
        let mut store = CredentialStore::new();
        assert!(store.is_empty());
        store.insert("a", StoredPassword::Plain("1".into()));
        let snapshot = store.clone();
        let old = store.insert("a", StoredPassword::Plain("2".into()));
        assert_eq!(old, Some(StoredPassword::Plain("1".into())));
        assert!(store.check_sync("a", b"2"));
        assert!(snapshot.check_sync("a", b"1"));
    }

    #[test]
    fn debug_shows_names_not_secrets() {
        let store = CredentialStore::from_auth_spec("memory:bob:hunter2:alice:secret").unwrap();
        let shown = format!("{store:?}");
        assert!(shown.contains("alice") && shown.contains("bob"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("secret"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn async_check() {
        let mut store = CredentialStore::from_auth_spec("memory:alice:secret").unwrap();
        store.insert(
            "dave@example.test",
            hash::tests::cheap_stored_password("pw"),
        );
        assert!(store.check("alice", b"secret").await);
        assert!(!store.check("alice", b"nope").await);
        assert!(store.check("dave@example.test", b"pw").await);
        assert!(!store.check("nobody", b"pw").await);

        // Through the trait, as a protocol crate would use it.
        async fn via_trait<C: CredentialChecker>(checker: Arc<C>) -> (bool, bool) {
            (
                checker.check("alice", b"secret").await,
                checker.check("alice", b"x").await,
            )
        }
        let checker = Arc::new(store);
        let handle = tokio::spawn(via_trait(checker));
        assert_eq!(handle.await.unwrap(), (true, false));
    }
}
