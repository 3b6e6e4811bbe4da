//! IRCv3 capabilities this server offers (capability negotiation 302).

/// One capability, a bit in [`Caps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    /// The name as negotiated.
    pub name: &'static str,
    bit: u32,
}

macro_rules! caps {
    ($($konst:ident = $name:literal, $bit:literal;)*) => {
        $(
            #[doc = concat!("`", $name, "`")]
            pub const $konst: Cap = Cap { name: $name, bit: 1 << $bit };
        )*
        /// Every capability, in the order CAP LS lists them.
        pub const ALL: &[Cap] = &[$($konst),*];
    };
}

caps! {
    ACCOUNT_NOTIFY = "account-notify", 0;
    ACCOUNT_TAG = "account-tag", 1;
    AWAY_NOTIFY = "away-notify", 2;
    BATCH = "batch", 13;
    CAP_NOTIFY = "cap-notify", 3;
    CHGHOST = "chghost", 4;
    ECHO_MESSAGE = "echo-message", 5;
    EXTENDED_JOIN = "extended-join", 6;
    INVITE_NOTIFY = "invite-notify", 7;
    LABELED_RESPONSE = "labeled-response", 14;
    MESSAGE_TAGS = "message-tags", 8;
    MULTI_PREFIX = "multi-prefix", 9;
    SASL = "sasl", 10;
    SERVER_TIME = "server-time", 11;
    USERHOST_IN_NAMES = "userhost-in-names", 12;
}

/// Look a capability up by name.
pub fn by_name(name: &str) -> Option<Cap> {
    ALL.iter()
        .copied()
        .find(|c| c.name.eq_ignore_ascii_case(name))
}

/// A set of enabled capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps(u32);

impl Caps {
    /// Whether `cap` is enabled.
    pub fn has(self, cap: Cap) -> bool {
        self.0 & cap.bit != 0
    }

    /// Enable or disable `cap`.
    pub fn set(&mut self, cap: Cap, on: bool) {
        if on {
            self.0 |= cap.bit;
        } else {
            self.0 &= !cap.bit;
        }
    }

    /// Names of the enabled capabilities.
    pub fn names(self) -> Vec<&'static str> {
        ALL.iter()
            .filter(|c| self.has(**c))
            .map(|c| c.name)
            .collect()
    }

    /// Which of the four tag variants of a relayed message this client gets: bit 0 = server-time,
    /// bit 1 = message-tags.
    pub fn tag_variant(self) -> usize {
        usize::from(self.has(SERVER_TIME)) | (usize::from(self.has(MESSAGE_TAGS)) << 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_query() {
        let mut caps = Caps::default();
        caps.set(SASL, true);
        caps.set(MULTI_PREFIX, true);
        assert!(caps.has(SASL) && caps.has(MULTI_PREFIX) && !caps.has(ECHO_MESSAGE));
        assert_eq!(caps.names(), ["multi-prefix", "sasl"]);
        caps.set(SASL, false);
        assert!(!caps.has(SASL));
        assert_eq!(by_name("Server-Time"), Some(SERVER_TIME));
        assert_eq!(by_name("nope"), None);
    }
}
