//! Who receives mail here: the local domains, the accounts (torsion-core credential file,
//! `user@domain:{SCHEME}hash`) and the aliases file.
//!
//! Aliases file (`#` comments and blank lines ignored):
//!
//! ```text
//! postmaster@example.test: alice@example.test
//! team@example.test: alice@example.test, bob, carol@elsewhere.test
//! @example.test: alice@example.test          # catch-all for unknown users of the domain
//! ```
//!
//! A bare target (`bob`) means the same domain as the alias. Expansion is recursive with a depth
//! limit ([`MAX_ALIAS_DEPTH`]); an address met again on its own expansion path is delivered
//! as itself if it is an account (so `a@d: a@d, b@d` keeps a copy) and is otherwise a loop.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use torsion_core::cred::CredentialStore;

use crate::address::MailAddress;

/// How deep alias expansion may go.
pub const MAX_ALIAS_DEPTH: usize = 10;
/// Most addresses one recipient may expand to.
pub const MAX_EXPANSION: usize = 1000;

/// Why an aliases file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AliasError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A line is malformed.
    #[error("{path}:{line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Parsed aliases.
#[derive(Debug, Clone, Default)]
pub struct Aliases {
    exact: HashMap<MailAddress, Vec<MailAddress>>,
    catchall: HashMap<String, Vec<MailAddress>>,
}

impl Aliases {
    /// No aliases.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read an aliases file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, AliasError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| AliasError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|(line, reason)| AliasError::Parse {
            path: path.to_owned(),
            line,
            reason,
        })
    }

    /// Parse aliases text; errors are (line, reason).
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut aliases = Aliases::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (lhs, rhs) = line.split_once(':').ok_or((
                line_no,
                "expected `alias@domain: target[, target…]`".to_owned(),
            ))?;
            let lhs = lhs.trim();
            let (local, domain) = lhs
                .rsplit_once('@')
                .ok_or((line_no, format!("`{lhs}` is not an address or @domain")))?;
            let mut targets = Vec::new();
            for t in rhs.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let full = if t.contains('@') {
                    t.to_owned()
                } else {
                    format!("{t}@{domain}")
                };
                let addr = MailAddress::parse(&full)
                    .map_err(|e| (line_no, format!("target `{t}`: {e}")))?;
                targets.push(addr);
            }
            if targets.is_empty() {
                return Err((line_no, format!("`{lhs}` has no targets")));
            }
            if local.is_empty() {
                let domain = MailAddress::new("x", domain)
                    .map_err(|e| (line_no, format!("`{lhs}`: {e}")))?
                    .domain()
                    .to_owned();
                if aliases.catchall.insert(domain, targets).is_some() {
                    return Err((line_no, format!("catch-all `{lhs}` defined twice")));
                }
            } else {
                let addr = MailAddress::new(local, domain)
                    .map_err(|e| (line_no, format!("`{lhs}`: {e}")))?;
                if aliases.exact.insert(addr, targets).is_some() {
                    return Err((line_no, format!("alias `{lhs}` defined twice")));
                }
            }
        }
        Ok(aliases)
    }

    /// Number of aliases (exact and catch-all).
    pub fn len(&self) -> usize {
        self.exact.len() + self.catchall.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where mail for one recipient goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Our domain: these local mailboxes, plus these remote addresses (aliases that forward).
    Local {
        /// Local accounts to deliver to.
        mailboxes: Vec<MailAddress>,
        /// Forwarding targets elsewhere.
        forward: Vec<MailAddress>,
    },
    /// Our domain, but no such user (SMTP: 550 5.1.1).
    Unknown,
    /// An alias loop or an expansion too large (SMTP: 554 5.4.6 per RFC 3463).
    Loop,
    /// Not our domain.
    Remote,
}

/// The local domains, accounts and aliases.
#[derive(Debug, Clone)]
pub struct Directory {
    domains: HashSet<String>,
    accounts: Arc<CredentialStore>,
    aliases: Aliases,
}

impl Directory {
    /// A directory serving `domains`.
    pub fn new(
        domains: impl IntoIterator<Item = String>,
        accounts: CredentialStore,
        aliases: Aliases,
    ) -> Self {
        Directory {
            domains: domains
                .into_iter()
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            accounts: Arc::new(accounts),
            aliases,
        }
    }

    /// Whether mail for `domain` is delivered here.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.domains
            .contains(&domain.trim_end_matches('.').to_ascii_lowercase())
    }

    /// The local domains.
    pub fn domains(&self) -> impl Iterator<Item = &str> {
        self.domains.iter().map(String::as_str)
    }

    /// Whether `addr` is an account (can log in and has a mailbox).
    pub fn is_account(&self, addr: &MailAddress) -> bool {
        self.accounts.contains(&addr.to_string())
    }

    /// The credential store (for SMTP AUTH, IMAP LOGIN, POP3 USER/PASS).
    pub fn accounts(&self) -> &CredentialStore {
        &self.accounts
    }

    /// Check a login. `user` is `local@domain`, or a bare local part when exactly one domain
    /// is served. Returns the account's address on success.
    pub async fn authenticate(&self, user: &str, password: &[u8]) -> Option<MailAddress> {
        let full = if user.contains('@') || self.domains.len() != 1 {
            user.to_owned()
        } else {
            let domain = self.domains.iter().next()?;
            format!("{user}@{domain}")
        };
        // Look up by the folded form, so `Alice@Example.test` logs in as alice@example.test.
        let addr = MailAddress::parse(&full).ok();
        let name = addr.as_ref().map_or(full.clone(), ToString::to_string);
        if self.accounts.check(&name, password).await {
            addr
        } else {
            None
        }
    }

    /// Route mail for `addr`: expand aliases and catch-alls (depth-limited), check accounts.
    pub fn route(&self, addr: &MailAddress) -> Route {
        if !self.is_local_domain(addr.domain()) && !self.aliases.exact.contains_key(addr) {
            return Route::Remote;
        }
        let mut mailboxes = BTreeSet::new();
        let mut forward = BTreeSet::new();
        let mut path = Vec::new();
        match self.expand(addr, &mut path, &mut mailboxes, &mut forward) {
            Err(()) => Route::Loop,
            Ok(()) if mailboxes.is_empty() && forward.is_empty() => Route::Unknown,
            Ok(()) => Route::Local {
                mailboxes: mailboxes.into_iter().collect(),
                forward: forward.into_iter().collect(),
            },
        }
    }

    fn expand(
        &self,
        addr: &MailAddress,
        path: &mut Vec<MailAddress>,
        mailboxes: &mut BTreeSet<MailAddress>,
        forward: &mut BTreeSet<MailAddress>,
    ) -> Result<(), ()> {
        if path.len() > MAX_ALIAS_DEPTH || mailboxes.len() + forward.len() > MAX_EXPANSION {
            return Err(());
        }
        let on_path = path.contains(addr);
        let targets = if on_path {
            None
        } else {
            self.aliases.exact.get(addr).or_else(|| {
                (self.is_local_domain(addr.domain()) && !self.is_account(addr))
                    .then(|| self.aliases.catchall.get(addr.domain()))
                    .flatten()
            })
        };
        match targets {
            Some(targets) => {
                path.push(addr.clone());
                for t in targets {
                    self.expand(t, path, mailboxes, forward)?;
                }
                path.pop();
                Ok(())
            }
            None if self.is_local_domain(addr.domain()) => {
                if self.is_account(addr) {
                    mailboxes.insert(addr.clone());
                    Ok(())
                } else if on_path {
                    Err(())
                } else {
                    // An alias to a non-existent local user: the whole expansion fails as
                    // unknown only if nothing else comes of it.
                    Ok(())
                }
            }
            None => {
                forward.insert(addr.clone());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> MailAddress {
        MailAddress::parse(s).unwrap()
    }

    fn directory(aliases: &str) -> Directory {
        let accounts: CredentialStore =
            "memory:alice@example.test:pw:bob@example.test:pw:carol@other.test:pw"
                .parse()
                .unwrap();
        Directory::new(
            ["example.test".to_owned(), "other.test".to_owned()],
            accounts,
            Aliases::parse(aliases).unwrap(),
        )
    }

    #[test]
    fn routes_accounts_unknowns_and_remote() {
        let d = directory("");
        assert_eq!(
            d.route(&a("Alice@Example.test")),
            Route::Local {
                mailboxes: vec![a("alice@example.test")],
                forward: vec![]
            }
        );
        assert_eq!(d.route(&a("nobody@example.test")), Route::Unknown);
        assert_eq!(d.route(&a("x@elsewhere.test")), Route::Remote);
    }

    #[test]
    fn aliases_catchalls_and_loops() {
        let d = directory(
            "# team\n\
             team@example.test: alice, bob@example.test, friend@far.test\n\
             postmaster@example.test: team@example.test\n\
             keep@example.test: alice@example.test, keep@example.test\n\
             @other.test: carol@other.test\n\
             loop1@example.test: loop2@example.test\n\
             loop2@example.test: loop1@example.test\n\
             ghost@example.test: nobody@example.test\n",
        );
        assert_eq!(
            d.route(&a("postmaster@example.test")),
            Route::Local {
                mailboxes: vec![a("alice@example.test"), a("bob@example.test")],
                forward: vec![a("friend@far.test")]
            }
        );
        assert_eq!(
            d.route(&a("anything@other.test")),
            Route::Local {
                mailboxes: vec![a("carol@other.test")],
                forward: vec![]
            }
        );
        assert_eq!(d.route(&a("loop1@example.test")), Route::Loop);
        assert_eq!(d.route(&a("ghost@example.test")), Route::Unknown);
        // keep@ is not an account, so meeting it again is a loop… unless it were one.
        assert_eq!(d.route(&a("keep@example.test")), Route::Loop);
    }

    #[test]
    fn deep_chains_hit_the_limit() {
        let mut text = String::new();
        for i in 0..20 {
            text.push_str(&format!("a{i}@example.test: a{}@example.test\n", i + 1));
        }
        text.push_str("a20@example.test: alice@example.test\n");
        let d = directory(&text);
        assert_eq!(d.route(&a("a0@example.test")), Route::Loop);
        assert!(matches!(
            d.route(&a("a15@example.test")),
            Route::Local { .. }
        ));
    }

    #[test]
    fn parse_errors_name_the_line() {
        assert_eq!(Aliases::parse("x@d: a\nnocolon\n").unwrap_err().0, 2);
        assert!(Aliases::parse("x@d:\n").is_err());
        assert!(Aliases::parse("x@d: a\nx@d: b\n").is_err());
        assert!(Aliases::parse("x@d: ../etc@d\n").is_err());
    }

    #[tokio::test]
    async fn logins() {
        let accounts: CredentialStore = "memory:alice@example.test:pw".parse().unwrap();
        let one = Directory::new(
            ["example.test".to_owned()],
            accounts.clone(),
            Aliases::new(),
        );
        assert_eq!(
            one.authenticate("alice", b"pw").await,
            Some(a("alice@example.test"))
        );
        assert_eq!(
            one.authenticate("ALICE@example.test", b"pw").await,
            Some(a("alice@example.test"))
        );
        assert_eq!(one.authenticate("alice", b"no").await, None);
        let two = Directory::new(
            ["example.test".to_owned(), "b.test".to_owned()],
            accounts,
            Aliases::new(),
        );
        assert_eq!(two.authenticate("alice", b"pw").await, None);
    }
}
