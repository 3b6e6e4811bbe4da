//! User and server queries: WHO, WHOIS, WHOWAS, AWAY, ISON, USERHOST, VERSION, TIME, ADMIN,
//! INFO.

use std::time::{Instant, SystemTime};

use crate::proto::{self, casemap, mask, numeric::*, Message};
use crate::server::caps;
use crate::server::clock;
use crate::server::config::VERSION;
use crate::server::network::{Client, ClientId, Network};

use super::registration::send_isupport;

/// Most WHO replies to one query.
const MAX_WHO_REPLIES: usize = 500;

/// WHO flags: `H`/`G`, `*` for operators, then channel prefixes.
fn who_flags(client: &Client, prefix: &str) -> String {
    let mut flags = String::from(if client.away.is_some() { "G" } else { "H" });
    if client.modes.oper {
        flags.push('*');
    }
    flags.push_str(prefix);
    flags
}

/// Whether two clients share a channel.
fn share_channel(a: &Client, b: &Client) -> bool {
    a.channels.iter().any(|c| b.channels.contains(c))
}

/// `WHO mask [o]`.
pub fn who(net: &mut Network, id: ClientId, msg: &Message) {
    let target = msg.param(0);
    let target = if target.is_empty() { "*" } else { target };
    let opers_only = msg.param(1).contains('o');
    let server = net.config.server_name.clone();
    let Some(viewer) = net.clients.get(&id) else {
        return;
    };
    let multi = viewer.caps.has(caps::MULTI_PREFIX);
    let mut rows: Vec<[String; 7]> = Vec::new();
    if target.starts_with('#') {
        if let Some(ch) = net.channels.get(&casemap::fold(target)) {
            let member = ch.members.contains_key(&id);
            if member || !ch.modes.secret {
                for (m, status) in &ch.members {
                    let Some(c) = net.clients.get(m) else {
                        continue;
                    };
                    // An invisible user is listed only to someone who shares a channel
                    // with them (this one, when the viewer is a member) or an operator.
                    let hidden = c.modes.invisible
                        && !member
                        && !viewer.modes.oper
                        && !share_channel(viewer, c);
                    if hidden || (opers_only && !c.modes.oper) {
                        continue;
                    }
                    rows.push([
                        ch.name.clone(),
                        c.user.clone(),
                        c.host.clone(),
                        c.nick.clone(),
                        who_flags(c, status.prefix(multi)),
                        c.realname.clone(),
                        String::new(),
                    ]);
                }
            }
        }
    } else {
        for c in net.clients.values() {
            if !c.registered || (opers_only && !c.modes.oper) {
                continue;
            }
            let visible =
                c.id == id || !c.modes.invisible || viewer.modes.oper || share_channel(viewer, c);
            let matched = mask::matches(target, &c.nick)
                || mask::matches(target, &c.prefix)
                || mask::matches(target, &c.host)
                || mask::matches(target, &c.realname);
            if visible && matched {
                rows.push([
                    "*".into(),
                    c.user.clone(),
                    c.host.clone(),
                    c.nick.clone(),
                    who_flags(c, ""),
                    c.realname.clone(),
                    String::new(),
                ]);
                if rows.len() >= MAX_WHO_REPLIES {
                    break;
                }
            }
        }
    }
    for [channel, user, host, nick, flags, realname, _] in rows {
        net.reply(
            id,
            RPL_WHOREPLY,
            &[
                &channel,
                &user,
                &host,
                &server,
                &nick,
                &flags,
                &format!("0 {realname}"),
            ],
        );
    }
    net.reply(id, RPL_ENDOFWHO, &[target, "End of WHO list"]);
}

/// `WHOIS [server] nick`.
pub fn whois(net: &mut Network, id: ClientId, msg: &Message, now: Instant) {
    let nick = if msg.params.len() >= 2 {
        msg.param(1)
    } else {
        msg.param(0)
    };
    if nick.is_empty() {
        net.reply(id, ERR_NONICKNAMEGIVEN, &["No nickname given"]);
        return;
    }
    let nick = nick.split(',').next().unwrap_or(nick);
    let Some(target) = net.find_nick(nick).and_then(|t| net.clients.get(&t)) else {
        net.reply(id, ERR_NOSUCHNICK, &[nick, "No such nick/channel"]);
        net.reply(id, RPL_ENDOFWHOIS, &[nick, "End of /WHOIS list"]);
        return;
    };
    let Some(viewer) = net.clients.get(&id) else {
        return;
    };
    let multi = viewer.caps.has(caps::MULTI_PREFIX);
    let channels: Vec<String> = target
        .channels
        .iter()
        .filter_map(|f| net.channels.get(f))
        .filter(|ch| !ch.modes.secret || ch.members.contains_key(&id))
        .take(net.config.limits.max_whois_channels)
        .map(|ch| {
            let prefix = ch
                .members
                .get(&target.id)
                .map(|s| s.prefix(multi))
                .unwrap_or("");
            format!("{prefix}{}", ch.name)
        })
        .collect();
    let t_nick = target.nick.clone();
    let (user, host, real) = (
        target.user.clone(),
        target.host.clone(),
        target.realname.clone(),
    );
    let (oper, account, tls, away) = (
        target.modes.oper,
        target.account.clone(),
        target.tls,
        target.away.clone(),
    );
    let idle = now.saturating_duration_since(target.last_spoke).as_secs();
    let signon = target.signon;
    let server = net.config.server_name.clone();
    let network = net.config.network.clone();
    net.reply(id, RPL_WHOISUSER, &[&t_nick, &user, &host, "*", &real]);
    // Lines of channel names, each comfortably inside 512 bytes.
    let mut line = String::new();
    for ch in channels {
        if line.len() + ch.len() > 400 {
            net.reply(id, RPL_WHOISCHANNELS, &[&t_nick, &line]);
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&ch);
    }
    if !line.is_empty() {
        net.reply(id, RPL_WHOISCHANNELS, &[&t_nick, &line]);
    }
    net.reply(
        id,
        RPL_WHOISSERVER,
        &[&t_nick, &server, &format!("{network} IRC server")],
    );
    if oper {
        net.reply(id, RPL_WHOISOPERATOR, &[&t_nick, "is an IRC operator"]);
    }
    if let Some(account) = account {
        net.reply(
            id,
            RPL_WHOISACCOUNT,
            &[&t_nick, &account, "is logged in as"],
        );
    }
    if tls {
        net.reply(
            id,
            RPL_WHOISSECURE,
            &[&t_nick, "is using a secure connection"],
        );
    }
    if let Some(away) = away {
        net.reply(id, RPL_AWAY, &[&t_nick, &away]);
    }
    net.reply(
        id,
        RPL_WHOISIDLE,
        &[
            &t_nick,
            &idle.to_string(),
            &signon.to_string(),
            "seconds idle, signon time",
        ],
    );
    net.reply(id, RPL_ENDOFWHOIS, &[&t_nick, "End of /WHOIS list"]);
}

/// `WHOWAS nick [count]`.
pub fn whowas(net: &mut Network, id: ClientId, msg: &Message) {
    let nick = msg.param(0);
    if nick.is_empty() {
        net.reply(id, ERR_NONICKNAMEGIVEN, &["No nickname given"]);
        return;
    }
    let count = msg
        .param(1)
        .parse::<usize>()
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or(usize::MAX);
    let entries: Vec<_> = net
        .whowas
        .iter()
        .rev()
        .filter(|w| casemap::eq(&w.nick, nick))
        .take(count.min(20))
        .cloned()
        .collect();
    if entries.is_empty() {
        net.reply(id, ERR_WASNOSUCHNICK, &[nick, "There was no such nickname"]);
    }
    let server = net.config.server_name.clone();
    for w in entries {
        net.reply(
            id,
            RPL_WHOWASUSER,
            &[&w.nick, &w.user, &w.host, "*", &w.realname],
        );
        let when =
            clock::http_date(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(w.when));
        net.reply(id, RPL_WHOISSERVER, &[&w.nick, &server, &when]);
    }
    net.reply(id, RPL_ENDOFWHOWAS, &[nick, "End of WHOWAS"]);
}

/// `AWAY [:text]`, with away-notify to everyone sharing a channel.
pub fn away(net: &mut Network, id: ClientId, msg: &Message) {
    let max = net.config.limits.away_len;
    let Some(client) = net.clients.get_mut(&id) else {
        return;
    };
    let text: String = msg.param(0).chars().take(max).collect();
    let prefix = client.prefix.clone();
    let line = if text.is_empty() {
        client.away = None;
        net.reply(id, RPL_UNAWAY, &["You are no longer marked as being away"]);
        proto::line(&prefix, "AWAY", [])
    } else {
        client.away = Some(text.as_str().into());
        net.reply(id, RPL_NOWAWAY, &["You have been marked as being away"]);
        proto::line(&prefix, "AWAY", [text.as_str()])
    };
    net.send_neighbours(id, false, &line, |c| c.has(caps::AWAY_NOTIFY));
}

/// `ISON nick…`.
pub fn ison(net: &mut Network, id: ClientId, msg: &Message) {
    if super::need_params(net, id, msg, 1) {
        return;
    }
    let max = net.config.limits.max_query_nicks;
    let online: Vec<String> = msg
        .params
        .iter()
        .flat_map(|p| p.split_whitespace())
        .take(max)
        .filter_map(|n| net.find_nick(n).and_then(|c| net.clients.get(&c)))
        .map(|c| c.nick.clone())
        .collect();
    net.reply(id, RPL_ISON, &[&online.join(" ")]);
}

/// `USERHOST nick…` (up to 5).
pub fn userhost(net: &mut Network, id: ClientId, msg: &Message) {
    if super::need_params(net, id, msg, 1) {
        return;
    }
    let replies: Vec<String> = msg
        .params
        .iter()
        .flat_map(|p| p.split_whitespace())
        .take(5)
        .filter_map(|n| net.find_nick(n).and_then(|c| net.clients.get(&c)))
        .map(|c| {
            format!(
                "{}{}={}{}@{}",
                c.nick,
                if c.modes.oper { "*" } else { "" },
                if c.away.is_some() { '-' } else { '+' },
                c.user,
                c.host
            )
        })
        .collect();
    net.reply(id, RPL_USERHOST, &[&replies.join(" ")]);
}

/// `VERSION` (351 and the ISUPPORT lines).
pub fn version(net: &mut Network, id: ClientId) {
    let server = net.config.server_name.clone();
    net.reply(
        id,
        RPL_VERSION,
        &[VERSION, &server, "Torsion IRC server (Rust)"],
    );
    send_isupport(net, id);
}

/// `TIME`.
pub fn time(net: &mut Network, id: ClientId) {
    let server = net.config.server_name.clone();
    let now = SystemTime::now();
    let unix = clock::unix_now().to_string();
    net.reply(id, RPL_TIME, &[&server, &unix, &clock::http_date(now)]);
}

/// `ADMIN`.
pub fn admin(net: &mut Network, id: ClientId) {
    let server = net.config.server_name.clone();
    let lines = net.config.admin.clone();
    net.reply(id, RPL_ADMINME, &[&server, "Administrative info"]);
    let get = |i: usize| lines.get(i).cloned().unwrap_or_default();
    net.reply(id, RPL_ADMINLOC1, &[&get(0)]);
    net.reply(id, RPL_ADMINLOC2, &[&get(1)]);
    net.reply(id, RPL_ADMINEMAIL, &[&get(2)]);
}

/// `INFO`.
pub fn info(net: &mut Network, id: ClientId) {
    let created = net.config.created.clone();
    for line in [
        format!("{VERSION}: an IRC server in Rust, part of the Torsion suite."),
        "Protocol: RFC 1459/2812 as the Modern IRC document clarifies them, IRCv3.".to_owned(),
        format!("Started {created}"),
    ] {
        net.reply(id, RPL_INFO, &[&line]);
    }
    net.reply(id, RPL_ENDOFINFO, &["End of /INFO list"]);
}
