//! A channel: members with their status, modes, topic and the +b/+e/+I lists.

use std::collections::{HashMap, HashSet};

use crate::proto::mask;

use super::network::ClientId;

/// A member's channel status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// +o
    pub op: bool,
    /// +v
    pub voice: bool,
}

impl Status {
    /// The highest prefix (`@`, `+` or "").
    pub fn highest(self) -> &'static str {
        if self.op {
            "@"
        } else if self.voice {
            "+"
        } else {
            ""
        }
    }

    /// All prefixes, highest first (multi-prefix).
    pub fn all(self) -> &'static str {
        match (self.op, self.voice) {
            (true, true) => "@+",
            (true, false) => "@",
            (false, true) => "+",
            (false, false) => "",
        }
    }

    /// The prefix(es) a client sees depending on multi-prefix.
    pub fn prefix(self, multi: bool) -> &'static str {
        if multi {
            self.all()
        } else {
            self.highest()
        }
    }
}

/// The topic and who set it when.
#[derive(Debug, Clone)]
pub struct Topic {
    /// The text.
    pub text: String,
    /// `nick!user@host` of the setter.
    pub set_by: String,
    /// Unix time.
    pub set_at: u64,
}

/// One +b/+e/+I entry.
#[derive(Debug, Clone)]
pub struct ListEntry {
    /// The normalised `nick!user@host` mask.
    pub mask: String,
    /// Who set it.
    pub set_by: String,
    /// Unix time.
    pub set_at: u64,
}

/// Channel modes without lists.
#[derive(Debug, Clone, Default)]
pub struct Modes {
    /// +i
    pub invite_only: bool,
    /// +m
    pub moderated: bool,
    /// +n
    pub no_external: bool,
    /// +s
    pub secret: bool,
    /// +t
    pub topic_lock: bool,
    /// +k
    pub key: Option<String>,
    /// +l
    pub limit: Option<usize>,
}

/// A channel.
#[derive(Debug)]
pub struct Channel {
    /// The name as first created (case preserved).
    pub name: String,
    /// Unix time of creation (329).
    pub created: u64,
    /// The topic.
    pub topic: Option<Topic>,
    /// Members and their status.
    pub members: HashMap<ClientId, Status>,
    /// Simple modes.
    pub modes: Modes,
    /// +b
    pub bans: Vec<ListEntry>,
    /// +e
    pub excepts: Vec<ListEntry>,
    /// +I
    pub invex: Vec<ListEntry>,
    /// Clients invited (INVITE), cleared when they join.
    pub invites: HashSet<ClientId>,
    /// Created by configuration: never removed when empty.
    pub persistent: bool,
}

impl Channel {
    /// A new channel with the default modes +nt.
    pub fn new(name: &str, created: u64) -> Self {
        Channel {
            name: name.to_owned(),
            created,
            topic: None,
            members: HashMap::new(),
            modes: Modes {
                no_external: true,
                topic_lock: true,
                ..Modes::default()
            },
            bans: Vec::new(),
            excepts: Vec::new(),
            invex: Vec::new(),
            invites: HashSet::new(),
            persistent: false,
        }
    }

    /// Whether `prefix` (`nick!user@host`) is banned and not excepted.
    pub fn is_banned(&self, prefix: &str) -> bool {
        self.bans.iter().any(|e| mask::matches(&e.mask, prefix))
            && !self.excepts.iter().any(|e| mask::matches(&e.mask, prefix))
    }

    /// Whether `prefix` matches an invite exception.
    pub fn is_invex(&self, prefix: &str) -> bool {
        self.invex.iter().any(|e| mask::matches(&e.mask, prefix))
    }

    /// `+ntk key`-style mode string and its parameters (the key only for members).
    pub fn mode_string(&self, show_key: bool) -> (String, Vec<String>) {
        let m = &self.modes;
        let mut s = String::from("+");
        let mut params = Vec::new();
        for (on, c) in [
            (m.invite_only, 'i'),
            (m.moderated, 'm'),
            (m.no_external, 'n'),
            (m.secret, 's'),
            (m.topic_lock, 't'),
        ] {
            if on {
                s.push(c);
            }
        }
        if let Some(key) = &m.key {
            s.push('k');
            params.push(if show_key { key.clone() } else { "*".into() });
        }
        if let Some(limit) = m.limit {
            s.push('l');
            params.push(limit.to_string());
        }
        (s, params)
    }

    /// The list for a list mode letter.
    pub fn list_mut(&mut self, letter: char) -> Option<&mut Vec<ListEntry>> {
        match letter {
            'b' => Some(&mut self.bans),
            'e' => Some(&mut self.excepts),
            'I' => Some(&mut self.invex),
            _ => None,
        }
    }

    /// Whether the channel should disappear now.
    pub fn is_disposable(&self) -> bool {
        self.members.is_empty() && !self.persistent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_and_exceptions() {
        let mut c = Channel::new("#t", 0);
        let entry = |m: &str| ListEntry {
            mask: m.into(),
            set_by: "op".into(),
            set_at: 0,
        };
        c.bans.push(entry("*!*@bad.example"));
        assert!(c.is_banned("x!y@bad.example"));
        assert!(!c.is_banned("x!y@good.example"));
        c.excepts.push(entry("friend!*@*"));
        assert!(!c.is_banned("friend!y@bad.example"));
        c.modes.key = Some("sekrit".into());
        c.modes.limit = Some(5);
        assert_eq!(
            c.mode_string(true),
            ("+ntkl".into(), vec!["sekrit".into(), "5".into()])
        );
        assert_eq!(c.mode_string(false).1[0], "*");
        assert_eq!(
            Status {
                op: true,
                voice: true
            }
            .prefix(true),
            "@+"
        );
        assert_eq!(
            Status {
                op: true,
                voice: true
            }
            .prefix(false),
            "@"
        );
    }
}
