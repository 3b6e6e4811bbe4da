//! How the client connects: name, TLS policy, credentials, timeouts.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Per-command reply timeout by default. RFC 5321 §4.5.3.2 asks for 5 minutes for the
/// greeting, MAIL and RCPT, 2 for DATA, 3 per data block; one value covers them.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Wait for the reply to the final `.` (RFC 5321 §4.5.3.2.6: 10 minutes; the server may be
/// scanning or delivering the message, and giving up early risks a duplicate).
pub const DEFAULT_DATA_TIMEOUT: Duration = Duration::from_secs(600);

/// When to use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plaintext only (STARTTLS is never sent).
    #[default]
    None,
    /// STARTTLS when the server offers it, *without* certificate verification (Postfix's
    /// `smtp_tls_security_level = may`, RFC 7435 opportunistic security: it defeats passive
    /// eavesdropping, not an active attacker); plaintext only when STARTTLS is not offered.
    /// A STARTTLS that is offered but then fails is an error, not a silent downgrade.
    Opportunistic,
    /// STARTTLS must be offered and succeed, with the certificate verified against
    /// `trust_roots` (or the system store) for the server name.
    Required,
    /// TLS from the first byte (port 465, RFC 8314), verified like `Required`.
    Implicit,
}

/// Client settings. `Debug` hides the password.
#[derive(Clone)]
pub struct ClientConfig {
    /// The name sent in EHLO/HELO (our host name, or an address literal like `[192.0.2.1]`).
    pub helo_name: String,
    /// TLS policy.
    pub tls: TlsMode,
    /// AUTH credentials (user, password): PLAIN if offered, else LOGIN.
    pub auth: Option<(String, String)>,
    /// Send the credentials even when the connection is not encrypted (the server offered no
    /// STARTTLS, or TLS is off). Off by default: both mechanisms carry the password in the
    /// clear, and a man in the middle can strip STARTTLS from the EHLO reply (Postfix's
    /// `smtp_sasl_security_options = noplaintext` refuses the same way).
    pub allow_plaintext_auth: bool,
    /// How long to wait for each reply (and for each write to make progress).
    pub timeout: Duration,
    /// How long to wait for the reply to the end of the message data.
    pub data_timeout: Duration,
    /// CA certificates (PEM) for verified TLS; `None` is the system store.
    pub trust_roots: Option<PathBuf>,
    /// The name the certificate must match (and SNI); defaults to the endpoint's host.
    pub server_name: Option<String>,
}

impl ClientConfig {
    /// Plaintext, no AUTH, the default timeouts.
    pub fn new(helo_name: impl Into<String>) -> Self {
        ClientConfig {
            helo_name: helo_name.into(),
            tls: TlsMode::None,
            auth: None,
            allow_plaintext_auth: false,
            timeout: DEFAULT_TIMEOUT,
            data_timeout: DEFAULT_DATA_TIMEOUT,
            trust_roots: None,
            server_name: None,
        }
    }

    /// Set the TLS policy.
    pub fn with_tls(mut self, tls: TlsMode) -> Self {
        self.tls = tls;
        self
    }

    /// Authenticate as `user`.
    pub fn with_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some((user.into(), password.into()));
        self
    }

    /// Allow AUTH over an unencrypted connection (see [`ClientConfig::allow_plaintext_auth`]).
    pub fn allow_plaintext_auth(mut self) -> Self {
        self.allow_plaintext_auth = true;
        self
    }

    /// Set the per-reply timeout (the data timeout is raised to at least this).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.data_timeout = self.data_timeout.max(timeout);
        self
    }

    /// Trust these CA certificates for verified TLS.
    pub fn with_trust_roots(mut self, pem: impl Into<PathBuf>) -> Self {
        self.trust_roots = Some(pem.into());
        self
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("helo_name", &self.helo_name)
            .field("tls", &self.tls)
            .field(
                "auth",
                &self.auth.as_ref().map(|(user, _)| (user, "<redacted>")),
            )
            .field("allow_plaintext_auth", &self.allow_plaintext_auth)
            .field("timeout", &self.timeout)
            .field("data_timeout", &self.data_timeout)
            .field("trust_roots", &self.trust_roots)
            .field("server_name", &self.server_name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let config = ClientConfig::new("client.test").with_auth("alice", "s3cret");
        let shown = format!("{config:?}");
        assert!(
            shown.contains("alice") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
