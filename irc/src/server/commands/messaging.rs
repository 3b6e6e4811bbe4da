//! PRIVMSG, NOTICE and TAGMSG: the fan-out hot path. A message to a channel is serialised once per
//! tag variant actually needed (plain, server-time, client tags, account…) and the same
//! `Bytes` is shared by every recipient's send queue — never re-encoded per member.

use std::time::{Instant, SystemTime};

use bytes::{BufMut, Bytes, BytesMut};

use crate::proto::{self, casemap, escape_tag_value, numeric::*, Message};
use crate::server::caps::{self, Caps};
use crate::server::clock;
use crate::server::network::{ClientId, Network};

/// Builds the wire forms of one relayed message on demand.
struct Relay<'a> {
    source: &'a str,
    command: &'a str,
    /// The text (`None` for TAGMSG, which has none).
    text: Option<&'a str>,
    /// Only clients with message-tags receive it (TAGMSG).
    tags_only: bool,
    client_tags: Vec<(&'a str, Option<&'a str>)>,
    account: Option<&'a str>,
    /// When the message arrived; formatted only if a recipient has server-time.
    now: SystemTime,
    time: std::sync::OnceLock<String>,
    /// Index: bit 0 server-time, bit 1 message-tags, bit 2 account-tag.
    built: [Option<Bytes>; 8],
}

impl<'a> Relay<'a> {
    fn variant(&self, caps: Caps) -> usize {
        let mut v = usize::from(caps.has(caps::SERVER_TIME));
        if caps.has(caps::MESSAGE_TAGS) && !self.client_tags.is_empty() {
            v |= 2;
        }
        if caps.has(caps::ACCOUNT_TAG) && self.account.is_some() {
            v |= 4;
        }
        v
    }

    fn line(&mut self, caps: Caps, target: &str) -> Bytes {
        let v = self.variant(caps);
        if let Some(line) = &self.built[v] {
            return line.clone();
        }
        let text_len = self.text.map_or(0, str::len);
        let mut out = BytesMut::with_capacity(text_len + self.source.len() + 64);
        let mut tags: Vec<(&str, Option<&str>)> = Vec::new();
        if v & 4 != 0 {
            tags.push(("account", self.account));
        }
        if v & 1 != 0 {
            tags.push((
                "time",
                Some(self.time.get_or_init(|| clock::server_time(self.now))),
            ));
        }
        if v & 2 != 0 {
            tags.extend(self.client_tags.iter().copied());
        }
        if !tags.is_empty() {
            out.put_u8(b'@');
            for (i, (k, val)) in tags.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b';');
                }
                out.put_slice(k.as_bytes());
                if let Some(val) = val.filter(|v| !v.is_empty()) {
                    out.put_u8(b'=');
                    escape_tag_value(val, &mut out);
                }
            }
            out.put_u8(b' ');
        }
        match self.text {
            Some(text) => proto::write_line(&mut out, self.source, self.command, [target, text]),
            None => proto::write_line(&mut out, self.source, self.command, [target]),
        }
        let line = out.freeze();
        self.built[v] = Some(line.clone());
        line
    }

    /// Whether a client with `caps` is sent this message at all.
    fn reaches(&self, caps: Caps) -> bool {
        !self.tags_only || caps.has(caps::MESSAGE_TAGS)
    }
}

/// The three messages that relay text or tags to a channel or a nick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PRIVMSG.
    Privmsg,
    /// NOTICE: never answered with an error (RFC 2812 §3.3.2) or RPL_AWAY.
    Notice,
    /// TAGMSG (IRCv3 message-tags): tags only, delivered only to clients that negotiated
    /// message-tags.
    Tagmsg,
}

/// `PRIVMSG`/`NOTICE targets :text`, `TAGMSG targets`. NOTICE never provokes an error reply
/// (RFC 2812 §3.3.2).
pub fn privmsg(net: &mut Network, id: ClientId, msg: &Message, kind: Kind, now: Instant) {
    let (command, notice) = match kind {
        Kind::Privmsg => ("PRIVMSG", false),
        Kind::Notice => ("NOTICE", true),
        Kind::Tagmsg => ("TAGMSG", false),
    };
    if msg.param(0).is_empty() {
        if !notice {
            net.reply(
                id,
                ERR_NORECIPIENT,
                &[&format!("No recipient given ({command})")],
            );
        }
        return;
    }
    let text = match kind {
        Kind::Tagmsg => None,
        _ if msg.params.len() < 2 || msg.param(1).is_empty() => {
            if !notice {
                net.reply(id, ERR_NOTEXTTOSEND, &["No text to send"]);
            }
            return;
        }
        _ => Some(msg.param(1)),
    };
    let Some(sender) = net.clients.get_mut(&id) else {
        return;
    };
    if kind != Kind::Tagmsg {
        sender.last_spoke = now;
    }
    let source = sender.prefix.clone();
    let account = sender.account.clone();
    // Client-only tags (`+…`) are relayed; any other tag a client sends is the server's to
    // set and is dropped (IRCv3 message-tags).
    let client_tags: Vec<(&str, Option<&str>)> = msg
        .tags
        .iter()
        .filter(|(k, _)| k.starts_with('+'))
        .map(|(k, v)| (k.as_str(), v.as_deref()))
        .collect();
    let mut relay = Relay {
        source: &source,
        command,
        text,
        tags_only: kind == Kind::Tagmsg,
        client_tags,
        account: account.as_deref(),
        now: SystemTime::now(),
        time: std::sync::OnceLock::new(),
        built: Default::default(),
    };
    let max_targets = net.config.limits.max_targets;
    for (i, target) in msg.param(0).split(',').enumerate() {
        if i >= max_targets {
            if !notice {
                net.reply(id, ERR_TOOMANYTARGETS, &[target, "Too many targets"]);
            }
            break;
        }
        // The cached wire forms name the target: start afresh for each.
        relay.built = Default::default();
        // STATUSMSG: `@#chan` reaches operators, `+#chan` voiced users and operators.
        let (status_filter, channel_name) = match target.as_bytes() {
            [b'@', b'#', ..] => (Some('@'), &target[1..]),
            [b'+', b'#', ..] => (Some('+'), &target[1..]),
            _ => (None, target),
        };
        if channel_name.starts_with('#') {
            to_channel(
                net,
                id,
                &mut relay,
                target,
                channel_name,
                status_filter,
                notice,
            );
        } else {
            to_nick(net, id, &mut relay, target, kind);
        }
    }
}

fn to_channel(
    net: &mut Network,
    id: ClientId,
    relay: &mut Relay<'_>,
    target: &str,
    channel_name: &str,
    status_filter: Option<char>,
    notice: bool,
) {
    let folded = casemap::fold(channel_name);
    let Some(ch) = net.channels.get(&folded) else {
        if !notice {
            net.reply(id, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
        }
        return;
    };
    let status = ch.members.get(&id).copied();
    let privileged = status.is_some_and(|s| s.op || s.voice);
    let refused = (ch.modes.no_external && status.is_none())
        || (ch.modes.moderated && !privileged)
        || (!privileged && ch.is_banned(relay.source));
    let shown = match status_filter {
        Some(p) => format!("{p}{}", ch.name),
        None => ch.name.clone(),
    };
    if refused {
        if !notice {
            net.reply(
                id,
                ERR_CANNOTSENDTOCHAN,
                &[&ch.name.clone(), "Cannot send to channel"],
            );
        }
        return;
    }
    let Network {
        channels, clients, ..
    } = &*net;
    let Some(ch) = channels.get(&folded) else {
        return;
    };
    let mut overflowed = Vec::new();
    // The sender's own copy (echo-message) goes through `Network::send`, so a labeled
    // command gets it back labeled.
    let mut echo = None;
    for (&member, st) in &ch.members {
        match status_filter {
            Some('@') if !st.op => continue,
            Some(_) if !(st.op || st.voice) => continue,
            _ => {}
        }
        let Some(client) = clients.get(&member).filter(|c| relay.reaches(c.caps)) else {
            continue;
        };
        if member == id {
            if client.caps.has(caps::ECHO_MESSAGE) {
                echo = Some(relay.line(client.caps, &shown));
            }
            continue;
        }
        let line = relay.line(client.caps, &shown);
        if client.queue.try_send(line).is_err() {
            overflowed.push(member);
        }
    }
    // echo-message for a sender that is not a member (no +n channel).
    if status.is_none() {
        if let Some(sender) = clients.get(&id) {
            if sender.caps.has(caps::ECHO_MESSAGE) && relay.reaches(sender.caps) {
                echo = Some(relay.line(sender.caps, &shown));
            }
        }
    }
    if let Some(echo) = echo {
        net.send(id, echo);
    }
    for member in overflowed {
        net.schedule_removal(member, "SendQ exceeded");
    }
}

fn to_nick(net: &mut Network, id: ClientId, relay: &mut Relay<'_>, target: &str, kind: Kind) {
    let Some(other) = net.find_nick(target) else {
        if kind != Kind::Notice {
            net.reply(id, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
        }
        return;
    };
    let Some(client) = net.clients.get(&other) else {
        return;
    };
    let (nick, caps, away) = (client.nick.clone(), client.caps, client.away.clone());
    let sender_caps = net.clients.get(&id).map_or_else(Caps::default, |c| c.caps);
    let echo = sender_caps.has(caps::ECHO_MESSAGE) && relay.reaches(sender_caps);
    if relay.reaches(caps) {
        let line = relay.line(caps, &nick);
        if other == id && echo {
            // To oneself with echo-message: the delivered copy and the echo both arrive, and
            // only the echo is the labeled response (IRCv3 labeled-response; irctest's
            // testLabeledPrivmsgResponsesToSelf).
            net.deliver(other, line);
        } else {
            net.send(other, line);
        }
    }
    if echo {
        let line = relay.line(sender_caps, &nick);
        net.send(id, line);
    }
    if let (Some(away), Kind::Privmsg) = (away, kind) {
        net.reply(id, RPL_AWAY, &[&nick, &away]);
    }
}
