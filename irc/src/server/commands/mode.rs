//! `MODE` for channels (+o +v +b +e +I +i +k +l +m +n +s +t) and users (+i +o +w).
//! CHANMODES=beI,k,l,imnst and PREFIX=(ov)@+ as advertised in RPL_ISUPPORT.

use crate::proto::{self, casemap, mask, numeric::*, Message};
use crate::server::channel::ListEntry;
use crate::server::clock;
use crate::server::network::{ClientId, Network};

use super::need_params;

/// `MODE target [modestring [args…]]`.
pub fn mode(net: &mut Network, id: ClientId, msg: &Message) {
    if need_params(net, id, msg, 1) {
        return;
    }
    let target = msg.param(0);
    if target.starts_with('#') {
        channel_mode(net, id, msg);
    } else {
        user_mode(net, id, msg);
    }
}

fn user_mode(net: &mut Network, id: ClientId, msg: &Message) {
    let target = msg.param(0);
    let Some(other) = net.find_nick(target) else {
        net.reply(id, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
        return;
    };
    if other != id {
        let verb = if msg.params.len() > 1 {
            "Can't change mode for other users"
        } else {
            "Can't view modes for other users"
        };
        net.reply(id, ERR_USERSDONTMATCH, &[verb]);
        return;
    }
    let counted = net.counted(id);
    let Some(client) = net.clients.get_mut(&id) else {
        return;
    };
    if msg.params.len() < 2 {
        let modes = client.modes.string();
        net.reply(id, RPL_UMODEIS, &[&modes]);
        return;
    }
    let mut adding = true;
    let mut applied = String::new();
    let mut applied_sign = None;
    let mut unknown = false;
    for c in msg.param(1).chars() {
        match c {
            '+' => adding = true,
            '-' => adding = false,
            'i' | 'w' | 'o' => {
                let slot = match c {
                    'i' => &mut client.modes.invisible,
                    'w' => &mut client.modes.wallops,
                    _ => &mut client.modes.oper,
                };
                // +o only through OPER (Modern IRC "User Modes": "+o ... MUST NOT be set by MODE").
                if (c == 'o' && adding) || *slot == adding {
                    continue;
                }
                *slot = adding;
                if c == 'o' {
                    client.oper_name = None;
                }
                if applied_sign != Some(adding) {
                    applied.push(if adding { '+' } else { '-' });
                    applied_sign = Some(adding);
                }
                applied.push(c);
            }
            _ => unknown = true,
        }
    }
    let nick = client.nick.clone();
    net.recount(id, counted);
    if unknown {
        net.reply(id, ERR_UMODEUNKNOWNFLAG, &["Unknown MODE flag"]);
    }
    if !applied.is_empty() {
        net.send(id, proto::line(&nick, "MODE", [nick.as_str(), &applied]));
    }
}

fn channel_mode(net: &mut Network, id: ClientId, msg: &Message) {
    let name = msg.param(0);
    let folded = casemap::fold(name);
    let Some(ch) = net.channels.get(&folded) else {
        super::no_such_channel(net, id, name);
        return;
    };
    let shown = ch.name.clone();
    let status = ch.members.get(&id).copied();
    if msg.params.len() < 2 {
        let (modes, params) = ch.mode_string(status.is_some());
        let created = ch.created.to_string();
        let mut all = vec![shown.as_str(), modes.as_str()];
        all.extend(params.iter().map(String::as_str));
        net.reply(id, RPL_CHANNELMODEIS, &all);
        net.reply(id, RPL_CREATIONTIME, &[&shown, &created]);
        return;
    }
    let Some(setter) = net.clients.get(&id).map(|c| c.prefix.clone()) else {
        return;
    };
    let is_op = status.is_some_and(|s| s.op);
    let limits = net.config.limits.clone();
    let mut args = msg.params[2..].iter();
    let mut adding = true;
    let mut changes: Vec<(bool, char, Option<String>)> = Vec::new();
    let mut with_param = 0;
    let mut denied = false;
    for c in msg.param(1).chars() {
        match c {
            '+' => {
                adding = true;
                continue;
            }
            '-' => {
                adding = false;
                continue;
            }
            _ => {}
        }
        match c {
            'b' | 'e' | 'I' => {
                let Some(arg) = args.next() else {
                    // No argument: list it (allowed for everyone who can see the channel).
                    send_list(net, id, &folded, c);
                    continue;
                };
                if !is_op {
                    denied = true;
                    continue;
                }
                with_param += 1;
                if with_param > limits.modes_per_command {
                    continue;
                }
                let normal = mask::normalize(arg);
                let Some(ch) = net.channels.get_mut(&folded) else {
                    return;
                };
                let Some(list) = ch.list_mut(c) else {
                    continue;
                };
                let existing = list.iter().position(|e| casemap::eq(&e.mask, &normal));
                match (adding, existing) {
                    (true, None) => {
                        if list.len() >= limits.max_list_entries {
                            net.reply(
                                id,
                                ERR_BANLISTFULL,
                                &[&shown, &normal, "Channel list is full"],
                            );
                            continue;
                        }
                        list.push(ListEntry {
                            mask: normal.clone(),
                            set_by: setter.clone(),
                            set_at: clock::unix_now(),
                        });
                        changes.push((true, c, Some(normal)));
                    }
                    (false, Some(pos)) => {
                        let entry = list.remove(pos);
                        changes.push((false, c, Some(entry.mask)));
                    }
                    _ => {}
                }
            }
            'o' | 'v' => {
                let Some(arg) = args.next() else {
                    continue;
                };
                if !is_op {
                    denied = true;
                    continue;
                }
                with_param += 1;
                if with_param > limits.modes_per_command {
                    continue;
                }
                let Some(target) = net.find_nick(arg) else {
                    net.reply(id, ERR_NOSUCHNICK, &[arg, "No such nick/channel"]);
                    continue;
                };
                let nick = net
                    .clients
                    .get(&target)
                    .map(|c| c.nick.clone())
                    .unwrap_or_default();
                let Some(ch) = net.channels.get_mut(&folded) else {
                    return;
                };
                let Some(st) = ch.members.get_mut(&target) else {
                    net.reply(
                        id,
                        ERR_USERNOTINCHANNEL,
                        &[&nick, &shown, "They aren't on that channel"],
                    );
                    continue;
                };
                let slot = if c == 'o' { &mut st.op } else { &mut st.voice };
                if *slot != adding {
                    *slot = adding;
                    changes.push((adding, c, Some(nick)));
                }
            }
            'k' => {
                // +k needs a key; -k takes one too but ircds accept it missing.
                let arg = args.next();
                if !is_op {
                    denied = true;
                    continue;
                }
                let Some(ch) = net.channels.get_mut(&folded) else {
                    return;
                };
                if adding {
                    let Some(key) = arg else {
                        net.reply(id, ERR_NEEDMOREPARAMS, &["MODE", "Not enough parameters"]);
                        continue;
                    };
                    let key: String = key.chars().take(23).collect();
                    if key.is_empty() || key.contains([' ', ',']) {
                        net.reply(id, ERR_INVALIDKEY, &[&shown, "Key is not well-formed"]);
                        continue;
                    }
                    ch.modes.key = Some(key.clone());
                    changes.push((true, 'k', Some(key)));
                } else if ch.modes.key.take().is_some() {
                    changes.push((false, 'k', Some("*".into())));
                }
            }
            'l' => {
                if !is_op {
                    if adding {
                        args.next();
                    }
                    denied = true;
                    continue;
                }
                let Some(ch) = net.channels.get_mut(&folded) else {
                    return;
                };
                if adding {
                    let Some(n) = args.next().and_then(|a| a.parse::<usize>().ok()) else {
                        continue;
                    };
                    if n == 0 {
                        continue;
                    }
                    ch.modes.limit = Some(n);
                    changes.push((true, 'l', Some(n.to_string())));
                } else if ch.modes.limit.take().is_some() {
                    changes.push((false, 'l', None));
                }
            }
            'i' | 'm' | 'n' | 's' | 't' => {
                if !is_op {
                    denied = true;
                    continue;
                }
                let Some(ch) = net.channels.get_mut(&folded) else {
                    return;
                };
                let m = &mut ch.modes;
                let slot = match c {
                    'i' => &mut m.invite_only,
                    'm' => &mut m.moderated,
                    'n' => &mut m.no_external,
                    's' => &mut m.secret,
                    _ => &mut m.topic_lock,
                };
                if *slot != adding {
                    *slot = adding;
                    changes.push((adding, c, None));
                }
            }
            other => {
                let letter = other.to_string();
                net.reply(
                    id,
                    ERR_UNKNOWNMODE,
                    &[&letter, "is unknown mode char to me"],
                );
            }
        }
    }
    if denied {
        if status.is_none() {
            super::not_on_channel(net, id, &shown);
        } else {
            super::not_channel_operator(net, id, &shown);
        }
    }
    if changes.is_empty() {
        return;
    }
    let mut modes = String::new();
    let mut sign = None;
    let mut params: Vec<String> = Vec::new();
    for (adding, c, arg) in changes {
        if sign != Some(adding) {
            modes.push(if adding { '+' } else { '-' });
            sign = Some(adding);
        }
        modes.push(c);
        params.extend(arg);
    }
    let mut all: Vec<&str> = vec![shown.as_str(), modes.as_str()];
    all.extend(params.iter().map(String::as_str));
    let line = proto::line(&setter, "MODE", all);
    net.send_channel(&folded, &line, None);
}

fn send_list(net: &mut Network, id: ClientId, folded: &str, letter: char) {
    let Some(ch) = net.channels.get(folded) else {
        return;
    };
    let shown = ch.name.clone();
    let (item, end, end_text, list) = match letter {
        'b' => (
            RPL_BANLIST,
            RPL_ENDOFBANLIST,
            "End of channel ban list",
            &ch.bans,
        ),
        'e' => (
            RPL_EXCEPTLIST,
            RPL_ENDOFEXCEPTLIST,
            "End of channel exception list",
            &ch.excepts,
        ),
        _ => (
            RPL_INVITELIST,
            RPL_ENDOFINVITELIST,
            "End of channel invite list",
            &ch.invex,
        ),
    };
    let entries = list.clone();
    for e in entries {
        net.reply(
            id,
            item,
            &[&shown, &e.mask, &e.set_by, &e.set_at.to_string()],
        );
    }
    net.reply(id, end, &[&shown, end_text]);
}
