//! What a [`Client`](super::Client) needs to know: identity, SASL, channels, flood control and
//! reconnection policy.

use std::time::Duration;

use super::error::ClientError;
use super::ratelimit::RateLimit;
use crate::proto;

/// The longest nickname the client accepts in its configuration. Servers advertise their own
/// `NICKLEN` (often 9 to 32); this only rejects nonsense early.
pub const MAX_CONFIG_NICK: usize = 64;

/// How the client reconnects after losing the connection: exponential backoff from `initial`,
/// doubling up to `max`, optionally with jitter so a server restart is not met by every bot at
/// the same instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first reconnection attempt.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
    /// Randomise each delay within `[delay/2, delay]` ("equal jitter").
    pub jitter: bool,
    /// Give up after this many failed attempts in a row (`None`: never).
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    /// 1 s doubling to 5 min, with jitter, forever.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            jitter: true,
            max_attempts: None,
        }
    }
}

/// SASL PLAIN credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslPlain {
    /// The account name (authentication identity).
    pub user: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for SaslPlain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslPlain")
            .field("user", &self.user)
            .field("password", &"…")
            .finish()
    }
}

/// Client configuration. Start from [`ClientConfig::new`] and set what you need.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The wanted nickname.
    pub nick: String,
    /// Nicknames to try, in order, when the wanted one is taken (433) or refused (432). After
    /// these the client tries `nick_`, `nick__`, then `nick1` … `nick9`.
    pub alt_nicks: Vec<String>,
    /// The user name (ident) sent in `USER`.
    pub user: String,
    /// The real name sent in `USER`.
    pub realname: String,
    /// Connection password (`PASS`), if the server wants one.
    pub password: Option<String>,
    /// SASL PLAIN credentials; when set the client negotiates the `sasl` capability.
    pub sasl: Option<SaslPlain>,
    /// With SASL configured: treat a failed or impossible authentication as fatal (the client
    /// quits and stops, without reconnecting). When false it reports
    /// [`Event::SaslFailed`](super::Event::SaslFailed) and registers unauthenticated.
    pub sasl_required: bool,
    /// Channels joined after every registration (also after a reconnect).
    pub channels: Vec<String>,
    /// Outgoing flood control for messages, joins and other user commands.
    pub rate_limit: RateLimit,
    /// Reconnection policy; `None` to stop after the first disconnection.
    pub reconnect: Option<Backoff>,
    /// The answer to CTCP VERSION.
    pub version: String,
    /// After this long without input, send a PING; after as long again without any answer, drop
    /// the connection (and reconnect). `None` disables the check.
    pub keepalive: Option<Duration>,
    /// Drop the connection if registration does not complete within this time.
    pub registration_timeout: Duration,
}

impl ClientConfig {
    /// A configuration with `nick` as nickname, user name and real name, the default rate limit
    /// (burst of 5, then one line every 2 s), reconnection with the default backoff, keepalive
    /// after 120 s of silence and a 60 s registration timeout.
    pub fn new(nick: impl Into<String>) -> Self {
        let nick = nick.into();
        ClientConfig {
            user: nick.clone(),
            realname: nick.clone(),
            nick,
            alt_nicks: Vec::new(),
            password: None,
            sasl: None,
            sasl_required: true,
            channels: Vec::new(),
            rate_limit: RateLimit::default(),
            reconnect: Some(Backoff::default()),
            version: format!("torsion-irc {}", env!("CARGO_PKG_VERSION")),
            keepalive: Some(Duration::from_secs(120)),
            registration_timeout: Duration::from_secs(60),
        }
    }

    /// Builder: SASL PLAIN credentials.
    pub fn with_sasl(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.sasl = Some(SaslPlain {
            user: user.into(),
            password: password.into(),
        });
        self
    }

    /// Builder: a channel to join after registration.
    pub fn with_channel(mut self, channel: impl Into<String>) -> Self {
        self.channels.push(channel.into());
        self
    }

    /// Check the configuration: nicknames, user name and channels must be sendable.
    pub fn validate(&self) -> Result<(), ClientError> {
        let bad = |what: &str, value: &str| {
            Err(ClientError::Config(format!(
                "{what} {value:?} is not valid"
            )))
        };
        for nick in std::iter::once(&self.nick).chain(&self.alt_nicks) {
            if !proto::valid_nick(nick, MAX_CONFIG_NICK) {
                return bad("nickname", nick);
            }
        }
        if self.user.is_empty() || !is_word(&self.user) {
            return bad("user name", &self.user);
        }
        if has_line_break(&self.realname) {
            return bad("real name", &self.realname);
        }
        if let Some(pass) = &self.password {
            if has_line_break(pass) {
                return Err(ClientError::Config(
                    "the password contains a line break".into(),
                ));
            }
        }
        if let Some(sasl) = &self.sasl {
            if sasl.user.is_empty() || sasl.user.contains('\0') || sasl.password.contains('\0') {
                return Err(ClientError::Config(
                    "SASL user and password must be non-empty and contain no NUL".into(),
                ));
            }
        }
        for channel in &self.channels {
            if !is_word(channel) || channel.contains(',') {
                return bad("channel", channel);
            }
        }
        Ok(())
    }
}

/// Whether `s` is non-empty and can be sent as one middle parameter.
pub(crate) fn is_word(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(':')
        && !s
            .chars()
            .any(|c| c == ' ' || c == '\0' || c == '\r' || c == '\n')
}

fn has_line_break(s: &str) -> bool {
    s.contains(['\r', '\n', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        assert!(ClientConfig::new("bot").validate().is_ok());
        assert!(ClientConfig::new("2bot").validate().is_err());
        let mut c = ClientConfig::new("bot");
        c.channels.push("#a b".into());
        assert!(c.validate().is_err());
        let mut c = ClientConfig::new("bot");
        c.user = "a b".into();
        assert!(c.validate().is_err());
        let c = ClientConfig::new("bot").with_sasl("", "x");
        assert!(c.validate().is_err());
        let c = ClientConfig::new("bot").with_sasl("u", "p");
        assert!(!format!("{c:?}").contains("\"p\""));
    }
}
