//! What a program asks the client to send.

use super::config::is_word;
use super::error::ClientError;
use crate::proto::Message;

/// A command for the server. Text is split into several lines when it is too long or contains
/// line breaks; targets and channels must be single words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// PRIVMSG.
    Privmsg {
        /// Channel or nick.
        target: String,
        /// The text.
        text: String,
    },
    /// NOTICE.
    Notice {
        /// Channel or nick.
        target: String,
        /// The text.
        text: String,
    },
    /// CTCP ACTION (`/me`).
    Action {
        /// Channel or nick.
        target: String,
        /// The action text.
        text: String,
    },
    /// A CTCP request (e.g. `PING 12345`, `VERSION`).
    Ctcp {
        /// Channel or nick.
        target: String,
        /// The CTCP command.
        command: String,
        /// Its parameters ("" for none).
        params: String,
    },
    /// JOIN; the channel is also rejoined after a reconnect.
    Join {
        /// The channel.
        channel: String,
        /// The channel key, if any.
        key: Option<String>,
    },
    /// PART; the channel is no longer rejoined.
    Part {
        /// The channel.
        channel: String,
        /// The part message.
        reason: Option<String>,
    },
    /// NICK.
    Nick(String),
    /// QUIT: sent after everything queued before it; then the client stops (no reconnect).
    Quit(Option<String>),
    /// Any message, sent as is (rate-limited like the rest).
    Raw(Message),
}

impl Command {
    /// Check that the command can be sent without breaking the protocol (no line breaks or
    /// spaces where they would change the meaning).
    pub fn validate(&self) -> Result<(), ClientError> {
        let word = |what: &'static str, value: &str| {
            if is_word(value) {
                Ok(())
            } else {
                Err(ClientError::Invalid {
                    what,
                    value: value.to_owned(),
                })
            }
        };
        match self {
            Command::Privmsg { target, .. }
            | Command::Notice { target, .. }
            | Command::Action { target, .. } => word("target", target),
            Command::Ctcp {
                target, command, ..
            } => {
                word("target", target)?;
                word("CTCP command", command)
            }
            Command::Join { channel, key } => {
                word("channel", channel)?;
                match key {
                    Some(key) => word("channel key", key),
                    None => Ok(()),
                }
            }
            Command::Part { channel, .. } => word("channel", channel),
            Command::Nick(nick) => word("nick", nick),
            Command::Quit(_) => Ok(()),
            Command::Raw(msg) => {
                let bytes = msg.to_bytes();
                match Message::parse(&bytes) {
                    Ok(back) if back == *msg => Ok(()),
                    _ => Err(ClientError::Invalid {
                        what: "raw message",
                        value: msg.to_string(),
                    }),
                }
            }
        }
    }
}

/// `s` on one line: CR, LF and NUL become spaces (for part and quit messages).
pub(crate) fn one_line(s: &str) -> String {
    s.replace(['\r', '\n', '\0'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let ok = Command::Privmsg {
            target: "#c".into(),
            text: "multi\nline is fine".into(),
        };
        assert!(ok.validate().is_ok());
        let bad = Command::Privmsg {
            target: "#c PRIVMSG x".into(),
            text: "hi".into(),
        };
        assert!(bad.validate().is_err());
        assert!(Command::Join {
            channel: "#a\r\nQUIT".into(),
            key: None
        }
        .validate()
        .is_err());
        let raw = Message::new("MODE", vec!["#c".into(), "+o".into(), "bob".into()]);
        assert!(Command::Raw(raw).validate().is_ok());
        let raw = Message::new("MODE", vec!["a b".into(), "x".into()]);
        assert!(Command::Raw(raw).validate().is_err());
        let raw = Message::new("PRIVMSG", vec!["a".into(), "x\r\nQUIT".into()]);
        assert!(Command::Raw(raw).validate().is_err());
        assert_eq!(one_line("a\r\nb"), "a  b");
    }
}
