//! Typed events: what the server told us, decoded.

use std::fmt;
use std::time::Duration;

use crate::proto::Message;

/// IRCv3 message tags as parsed (`time`, `msgid`, client tags…); a tag without a value is `None`.
pub type Tags = Vec<(String, Option<String>)>;

/// The source of a message: `nick!user@host`, or a server name (then only `nick` is set and
/// [`Source::is_server`] is true).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Source {
    /// The nickname (or server name).
    pub nick: String,
    /// The user name, when the source is a user.
    pub user: Option<String>,
    /// The host, when the source is a user.
    pub host: Option<String>,
}

impl Source {
    /// Parse `nick!user@host`, `nick@host` or a bare name.
    pub fn parse(source: &str) -> Source {
        let (rest, host) = match source.split_once('@') {
            Some((rest, host)) => (rest, Some(host.to_owned())),
            None => (source, None),
        };
        let (nick, user) = match rest.split_once('!') {
            Some((nick, user)) => (nick, Some(user.to_owned())),
            None => (rest, None),
        };
        Source {
            nick: nick.to_owned(),
            user,
            host,
        }
    }

    /// Whether this looks like a server rather than a user (a dotted name without `!`/`@`).
    pub fn is_server(&self) -> bool {
        self.user.is_none() && self.host.is_none() && self.nick.contains('.')
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.nick)?;
        if let Some(user) = &self.user {
            write!(f, "!{user}")?;
        }
        if let Some(host) = &self.host {
            write!(f, "@{host}")?;
        }
        Ok(())
    }
}

/// Something that happened. Every server message produces at most one event, except numerics
/// that also drive a typed event (332 gives [`Event::Topic`] and [`Event::Numeric`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A connection was established (registration starts).
    Connected {
        /// The endpoint, as text.
        endpoint: String,
    },
    /// Registration completed (001); `nick` is the nickname the server gave us.
    Registered {
        /// Our nickname.
        nick: String,
    },
    /// SASL succeeded (903).
    Authenticated {
        /// The account, from 900 when the server sent it.
        account: Option<String>,
    },
    /// SASL failed or was impossible, and it is not required: registration goes on.
    SaslFailed {
        /// The server's explanation.
        reason: String,
    },
    /// A PRIVMSG or NOTICE (not CTCP).
    Message {
        /// Who sent it.
        from: Source,
        /// Where it was sent: a channel, or our nick for a private message.
        target: String,
        /// The text.
        text: String,
        /// NOTICE rather than PRIVMSG (bots must not answer notices, RFC 2812 §3.3.2).
        is_notice: bool,
        /// Where an answer goes: the channel, or the sender for a private message.
        reply_to: String,
        /// IRCv3 tags.
        tags: Tags,
    },
    /// A CTCP ACTION (`/me`).
    Action {
        /// Who acted.
        from: Source,
        /// Channel or our nick.
        target: String,
        /// The action text.
        text: String,
        /// Where an answer goes.
        reply_to: String,
        /// IRCv3 tags.
        tags: Tags,
    },
    /// A CTCP request other than ACTION. VERSION, PING, CLIENTINFO and SOURCE have already
    /// been answered when this arrives.
    CtcpRequest {
        /// Who asked.
        from: Source,
        /// Channel or our nick.
        target: String,
        /// The CTCP command, upper-cased.
        command: String,
        /// Its parameters.
        params: String,
    },
    /// A CTCP reply (CTCP inside a NOTICE).
    CtcpReply {
        /// Who answered.
        from: Source,
        /// The CTCP command, upper-cased.
        command: String,
        /// Its parameters.
        params: String,
    },
    /// Someone (`own`: we) joined a channel.
    Join {
        /// Who joined.
        from: Source,
        /// The channel.
        channel: String,
        /// Whether it was us.
        own: bool,
    },
    /// Someone left a channel.
    Part {
        /// Who left.
        from: Source,
        /// The channel.
        channel: String,
        /// The part message.
        reason: Option<String>,
        /// Whether it was us.
        own: bool,
    },
    /// Someone quit IRC.
    Quit {
        /// Who quit.
        from: Source,
        /// The quit message.
        reason: Option<String>,
    },
    /// Someone was kicked from a channel.
    Kick {
        /// Who kicked.
        by: Source,
        /// The channel.
        channel: String,
        /// Who was kicked.
        nick: String,
        /// The reason given.
        reason: Option<String>,
        /// Whether we were kicked.
        own: bool,
    },
    /// Someone changed nickname.
    Nick {
        /// The old identity.
        from: Source,
        /// The new nickname.
        new: String,
        /// Whether it was us.
        own: bool,
    },
    /// A channel topic: set now (TOPIC, `by` set) or reported on join (332, `by` unset).
    Topic {
        /// The channel.
        channel: String,
        /// The topic text ("" when cleared).
        topic: String,
        /// Who set it, for a TOPIC change.
        by: Option<Source>,
    },
    /// We were invited to a channel.
    Invite {
        /// Who invited us.
        from: Source,
        /// The channel.
        channel: String,
    },
    /// A numeric reply.
    Numeric {
        /// The three-digit code (see [`crate::proto::numeric`]).
        code: u16,
        /// The parameters; the first is our nick (or `*` before registration).
        params: Vec<String>,
    },
    /// The server sent ERROR (it is about to close the connection).
    ServerError {
        /// The message.
        message: String,
    },
    /// The connection ended.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// A reconnection attempt failed (another follows per the backoff policy).
    ConnectFailed {
        /// Why.
        error: String,
    },
    /// The client will reconnect after `delay`.
    Reconnecting {
        /// Which attempt this is (1 for the first after a disconnection).
        attempt: u32,
        /// How long it waits first.
        delay: Duration,
    },
    /// Any other message (MODE, CAP, WALLOPS, unknown commands…).
    Raw(Message),
}

impl Event {
    /// For a PRIVMSG (not a notice) or ACTION: where an answer goes and the text.
    pub fn as_request(&self) -> Option<(&str, &str)> {
        match self {
            Event::Message {
                reply_to,
                text,
                is_notice: false,
                ..
            }
            | Event::Action { reply_to, text, .. } => Some((reply_to, text)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        let s = Source::parse("alice!~a@example.org");
        assert_eq!(s.nick, "alice");
        assert_eq!(s.user.as_deref(), Some("~a"));
        assert_eq!(s.host.as_deref(), Some("example.org"));
        assert_eq!(s.to_string(), "alice!~a@example.org");
        assert!(!s.is_server());
        let s = Source::parse("irc.example.org");
        assert!(s.is_server());
        assert_eq!(s.to_string(), "irc.example.org");
        let s = Source::parse("bob@host");
        assert_eq!(
            (s.nick.as_str(), s.user, s.host.as_deref()),
            ("bob", None, Some("host"))
        );
    }
}
