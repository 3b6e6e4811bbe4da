//! Channel membership and information: JOIN, PART, KICK, INVITE, TOPIC, NAMES, LIST.

use crate::proto::{self, casemap, numeric::*, Message};
use crate::server::caps;
use crate::server::channel::{Channel, Status, Topic};
use crate::server::clock;
use crate::server::network::{names_entry, ClientId, Network};

use super::need_params;

/// `JOIN #a,#b [key,key]` and `JOIN 0`.
pub fn join(net: &mut Network, id: ClientId, msg: &Message) {
    if need_params(net, id, msg, 1) {
        return;
    }
    if msg.param(0) == "0" {
        let joined: Vec<String> = net
            .clients
            .get(&id)
            .map(|c| c.channels.clone())
            .unwrap_or_default();
        for folded in joined {
            part_one(net, id, &folded, "Left all channels");
        }
        return;
    }
    let keys: Vec<&str> = msg.param(1).split(',').collect();
    for (i, name) in msg.param(0).split(',').enumerate() {
        if i >= net.config.limits.max_targets.max(10) {
            net.reply(id, ERR_TOOMANYTARGETS, &[name, "Too many targets"]);
            break;
        }
        join_one(net, id, name, keys.get(i).copied().unwrap_or(""));
    }
}

fn join_one(net: &mut Network, id: ClientId, name: &str, key: &str) {
    let limits = &net.config.limits;
    if !proto::valid_channel(name, limits.channel_len) {
        super::no_such_channel(net, id, name);
        return;
    }
    let (per_user, max_channels) = (limits.channels_per_user, limits.max_channels);
    let folded = casemap::fold(name);
    let Some(client) = net.clients.get(&id) else {
        return;
    };
    if client.channels.contains(&folded) {
        return;
    }
    if client.channels.len() >= per_user {
        net.reply(
            id,
            ERR_TOOMANYCHANNELS,
            &[name, "You have joined too many channels"],
        );
        return;
    }
    let prefix = client.prefix.clone();
    let account = client.account.clone().unwrap_or_else(|| "*".into());
    let realname = client.realname.clone();
    let away = client.away.clone();
    let creating = !net.channels.contains_key(&folded);
    if creating {
        if net.channels.len() >= max_channels {
            net.reply(
                id,
                ERR_NOSUCHCHANNEL,
                &[name, "Too many channels on this server"],
            );
            return;
        }
        net.channels
            .insert(folded.clone(), Channel::new(name, clock::unix_now()));
    }
    let Some(ch) = net.channels.get_mut(&folded) else {
        return;
    };
    if !creating {
        let invited = ch.invites.contains(&id);
        // Modern IRC "JOIN": ban (474), invite-only (473), key (475), limit (471).
        let refusal = if ch.is_banned(&prefix) && !invited {
            Some((ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"))
        } else if ch.modes.invite_only && !invited && !ch.is_invex(&prefix) {
            Some((ERR_INVITEONLYCHAN, "Cannot join channel (+i)"))
        } else if ch.modes.key.as_deref().is_some_and(|k| k != key) && !invited {
            Some((ERR_BADCHANNELKEY, "Cannot join channel (+k)"))
        } else if ch.modes.limit.is_some_and(|l| ch.members.len() >= l) && !invited {
            Some((ERR_CHANNELISFULL, "Cannot join channel (+l)"))
        } else {
            None
        };
        if let Some((code, text)) = refusal {
            let shown = ch.name.clone();
            net.reply(id, code, &[&shown, text]);
            return;
        }
    }
    ch.invites.remove(&id);
    // The first to join an empty channel (new, or a configured persistent one) is its operator.
    let op = ch.members.is_empty();
    ch.members.insert(id, Status { op, voice: false });
    let shown = ch.name.clone();
    if let Some(client) = net.clients.get_mut(&id) {
        client.channels.push(folded.clone());
    }
    let plain = proto::line(&prefix, "JOIN", [shown.as_str()]);
    let extended = proto::line(&prefix, "JOIN", [shown.as_str(), &account, &realname]);
    let away_line = away.map(|text| proto::line(&prefix, "AWAY", [&*text]));
    let members: Vec<ClientId> = net
        .channels
        .get(&folded)
        .map(|c| c.members.keys().copied().collect())
        .unwrap_or_default();
    for member in members {
        let Some(caps) = net.clients.get(&member).map(|c| c.caps) else {
            continue;
        };
        let line = if caps.has(caps::EXTENDED_JOIN) {
            &extended
        } else {
            &plain
        };
        net.send(member, line.clone());
        if member != id && caps.has(caps::AWAY_NOTIFY) {
            if let Some(away_line) = &away_line {
                net.send(member, away_line.clone());
            }
        }
    }
    send_topic(net, id, &folded, false);
    names(net, id, &folded);
}

/// 332 + 333, or 331 when `explicit` (a TOPIC query) and there is none.
fn send_topic(net: &mut Network, id: ClientId, folded: &str, explicit: bool) {
    let Some(ch) = net.channels.get(folded) else {
        return;
    };
    let name = ch.name.clone();
    match ch.topic.clone() {
        Some(Topic {
            text,
            set_by,
            set_at,
        }) => {
            net.reply(id, RPL_TOPIC, &[&name, &text]);
            net.reply(id, RPL_TOPICWHOTIME, &[&name, &set_by, &set_at.to_string()]);
        }
        None if explicit => net.reply(id, RPL_NOTOPIC, &[&name, "No topic is set"]),
        None => {}
    }
}

/// 353 lines and 366 for one channel (folded name) as `id` may see it.
pub fn names(net: &mut Network, id: ClientId, folded: &str) {
    let Some(viewer) = net.clients.get(&id) else {
        return;
    };
    let multi = viewer.caps.has(caps::MULTI_PREFIX);
    let userhost = viewer.caps.has(caps::USERHOST_IN_NAMES);
    let Some(ch) = net.channels.get(folded) else {
        return;
    };
    let is_member = ch.members.contains_key(&id);
    let name = ch.name.clone();
    if ch.modes.secret && !is_member {
        net.reply(id, RPL_ENDOFNAMES, &[&name, "End of /NAMES list"]);
        return;
    }
    let symbol = if ch.modes.secret { "@" } else { "=" };
    // Lines of at most ~400 bytes of names, so each fits 512 with the prefix.
    let mut lines = Vec::new();
    let mut current = String::new();
    for (member, status) in &ch.members {
        let Some(client) = net.clients.get(member) else {
            continue;
        };
        if !is_member && client.modes.invisible {
            continue;
        }
        let mut entry = String::new();
        names_entry(&mut entry, client, status.prefix(multi), userhost);
        if !current.is_empty() && current.len() + entry.len() + 1 > 400 {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&entry);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    for line in lines {
        net.reply(id, RPL_NAMREPLY, &[symbol, &name, &line]);
    }
    net.reply(id, RPL_ENDOFNAMES, &[&name, "End of /NAMES list"]);
}

/// `NAMES [#a,#b]`.
pub fn names_cmd(net: &mut Network, id: ClientId, msg: &Message) {
    let target = msg.param(0);
    if target.is_empty() {
        net.reply(id, RPL_ENDOFNAMES, &["*", "End of /NAMES list"]);
        return;
    }
    for name in target.split(',').take(net.config.limits.max_targets) {
        let folded = casemap::fold(name);
        if net.channels.contains_key(&folded) {
            names(net, id, &folded);
        } else {
            net.reply(id, RPL_ENDOFNAMES, &[name, "End of /NAMES list"]);
        }
    }
}

/// `PART #a,#b [:reason]`.
pub fn part(net: &mut Network, id: ClientId, msg: &Message) {
    if need_params(net, id, msg, 1) {
        return;
    }
    let reason = msg.param(1).to_owned();
    for name in msg
        .param(0)
        .split(',')
        .take(net.config.limits.max_targets.max(10))
    {
        let folded = casemap::fold(name);
        let Some(ch) = net.channels.get(&folded) else {
            super::no_such_channel(net, id, name);
            continue;
        };
        if !ch.members.contains_key(&id) {
            let shown = ch.name.clone();
            super::not_on_channel(net, id, &shown);
            continue;
        }
        part_one(net, id, &folded, &reason);
    }
}

/// Broadcast PART and leave (the caller checked membership).
fn part_one(net: &mut Network, id: ClientId, folded: &str, reason: &str) {
    let Some(prefix) = net.clients.get(&id).map(|c| c.prefix.clone()) else {
        return;
    };
    let Some(ch) = net.channels.get(folded) else {
        return;
    };
    let line = if reason.is_empty() {
        proto::line(&prefix, "PART", [ch.name.as_str()])
    } else {
        proto::line(&prefix, "PART", [ch.name.as_str(), reason])
    };
    net.send_channel(folded, &line, None);
    leave(net, id, folded);
}

/// Remove `id` from a channel, deleting the channel when it empties.
pub fn leave(net: &mut Network, id: ClientId, folded: &str) {
    if let Some(ch) = net.channels.get_mut(folded) {
        ch.members.remove(&id);
        if ch.is_disposable() {
            net.channels.remove(folded);
        }
    }
    if let Some(client) = net.clients.get_mut(&id) {
        client.channels.retain(|c| c != folded);
    }
}

/// `KICK #chan nick[,nick] [:reason]`.
pub fn kick(net: &mut Network, id: ClientId, msg: &Message) {
    if need_params(net, id, msg, 2) {
        return;
    }
    let name = msg.param(0);
    let folded = casemap::fold(name);
    let Some(ch) = net.channels.get(&folded) else {
        super::no_such_channel(net, id, name);
        return;
    };
    let shown = ch.name.clone();
    let Some(status) = ch.members.get(&id).copied() else {
        super::not_on_channel(net, id, &shown);
        return;
    };
    if !status.op {
        super::not_channel_operator(net, id, &shown);
        return;
    }
    let Some((kicker, kicker_nick)) = net
        .clients
        .get(&id)
        .map(|c| (c.prefix.clone(), c.nick.clone()))
    else {
        return;
    };
    let max_reason = net.config.limits.kick_len;
    for target in msg.param(1).split(',').take(net.config.limits.max_targets) {
        let victim = net.find_nick(target);
        let on = victim.is_some_and(|v| {
            net.channels
                .get(&folded)
                .is_some_and(|c| c.members.contains_key(&v))
        });
        let (Some(victim), true) = (victim, on) else {
            net.reply(
                id,
                ERR_USERNOTINCHANNEL,
                &[target, &shown, "They aren't on that channel"],
            );
            continue;
        };
        let Some(victim_nick) = net.clients.get(&victim).map(|c| c.nick.clone()) else {
            continue;
        };
        let reason: String = match msg.params.get(2) {
            Some(r) if !r.is_empty() => r.chars().take(max_reason).collect(),
            // RFC 2812 §3.2.8: without a comment, "the default message, the nickname of the
            // user issuing the KICK".
            _ => kicker_nick.clone(),
        };
        let line = proto::line(&kicker, "KICK", [shown.as_str(), &victim_nick, &reason]);
        net.send_channel(&folded, &line, None);
        leave(net, victim, &folded);
    }
}

/// `INVITE nick #chan`.
pub fn invite(net: &mut Network, id: ClientId, msg: &Message) {
    if need_params(net, id, msg, 2) {
        return;
    }
    let (nick, name) = (msg.param(0), msg.param(1));
    let Some(target) = net.find_nick(nick) else {
        net.reply(id, ERR_NOSUCHNICK, &[nick, "No such nick/channel"]);
        return;
    };
    let folded = casemap::fold(name);
    let Some(ch) = net.channels.get(&folded) else {
        super::no_such_channel(net, id, name);
        return;
    };
    let shown = ch.name.clone();
    let Some(status) = ch.members.get(&id).copied() else {
        super::not_on_channel(net, id, &shown);
        return;
    };
    if ch.modes.invite_only && !status.op {
        super::not_channel_operator(net, id, &shown);
        return;
    }
    let Some(target_nick) = net.clients.get(&target).map(|c| c.nick.clone()) else {
        return;
    };
    if ch.members.contains_key(&target) {
        net.reply(
            id,
            ERR_USERONCHANNEL,
            &[&target_nick, &shown, "is already on channel"],
        );
        return;
    }
    let max_invites = net.config.limits.max_invites;
    if let Some(ch) = net.channels.get_mut(&folded) {
        if ch.invites.len() >= max_invites {
            ch.invites.clear();
        }
        ch.invites.insert(target);
    }
    let Some(inviter) = net.clients.get(&id).map(|c| c.prefix.clone()) else {
        return;
    };
    net.reply(id, RPL_INVITING, &[&target_nick, &shown]);
    let line = proto::line(&inviter, "INVITE", [target_nick.as_str(), &shown]);
    net.send(target, line.clone());
    if let Some(away) = net.clients.get(&target).and_then(|c| c.away.clone()) {
        net.reply(id, RPL_AWAY, &[&target_nick, &away]);
    }
    // invite-notify: the channel's operators (other than the inviter) hear of it.
    let ops: Vec<ClientId> = net
        .channels
        .get(&folded)
        .map(|c| {
            c.members
                .iter()
                .filter(|(m, s)| s.op && **m != id)
                .map(|(m, _)| *m)
                .collect()
        })
        .unwrap_or_default();
    for op in ops {
        if net
            .clients
            .get(&op)
            .is_some_and(|c| c.caps.has(caps::INVITE_NOTIFY))
        {
            net.send(op, line.clone());
        }
    }
}

/// `TOPIC #chan [:text]`.
pub fn topic(net: &mut Network, id: ClientId, msg: &Message) {
    if need_params(net, id, msg, 1) {
        return;
    }
    let name = msg.param(0);
    let folded = casemap::fold(name);
    let Some(ch) = net.channels.get(&folded) else {
        super::no_such_channel(net, id, name);
        return;
    };
    let shown = ch.name.clone();
    let status = ch.members.get(&id).copied();
    if msg.params.len() < 2 {
        if status.is_none() && ch.modes.secret {
            super::not_on_channel(net, id, &shown);
        } else {
            send_topic(net, id, &folded, true);
        }
        return;
    }
    let Some(status) = status else {
        super::not_on_channel(net, id, &shown);
        return;
    };
    if ch.modes.topic_lock && !status.op {
        super::not_channel_operator(net, id, &shown);
        return;
    }
    let Some(setter) = net.clients.get(&id).map(|c| c.prefix.clone()) else {
        return;
    };
    let text: String = msg
        .param(1)
        .chars()
        .take(net.config.limits.topic_len)
        .collect();
    if let Some(ch) = net.channels.get_mut(&folded) {
        ch.topic = (!text.is_empty()).then(|| Topic {
            text: text.clone(),
            set_by: setter.clone(),
            set_at: clock::unix_now(),
        });
    }
    let line = proto::line(&setter, "TOPIC", [shown.as_str(), &text]);
    net.send_channel(&folded, &line, None);
}

/// `LIST [#a,#b] | [>n|<n]` (ELIST=U).
pub fn list(net: &mut Network, id: ClientId, msg: &Message) {
    let arg = msg.param(0);
    let (min, max) = match (arg.strip_prefix('>'), arg.strip_prefix('<')) {
        (Some(n), _) => (n.parse::<usize>().map(|n| n + 1).unwrap_or(0), usize::MAX),
        (_, Some(n)) => (
            0,
            n.parse::<usize>().unwrap_or(usize::MAX).saturating_sub(1),
        ),
        _ => (0, usize::MAX),
    };
    let wanted: Option<Vec<String>> = (!arg.is_empty() && !arg.starts_with(['>', '<']))
        .then(|| arg.split(',').map(casemap::fold).collect());
    let mut rows = Vec::new();
    for (folded, ch) in &net.channels {
        if wanted.as_ref().is_some_and(|w| !w.contains(folded)) {
            continue;
        }
        let member = ch.members.contains_key(&id);
        if ch.modes.secret && !member {
            continue;
        }
        let count = ch.members.len();
        if count < min || count > max {
            continue;
        }
        let topic = ch
            .topic
            .as_ref()
            .map(|t| t.text.clone())
            .unwrap_or_default();
        rows.push((ch.name.clone(), count.to_string(), topic));
    }
    rows.sort();
    net.reply(id, RPL_LISTSTART, &["Channel", "Users  Name"]);
    for (name, count, topic) in rows {
        net.reply(id, RPL_LIST, &[&name, &count, &topic]);
    }
    net.reply(id, RPL_LISTEND, &["End of /LIST"]);
}
