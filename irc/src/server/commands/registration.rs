//! Connection registration: PASS, NICK, USER, CAP, AUTHENTICATE (SASL PLAIN), the welcome
//! burst (001–005, LUSERS, MOTD) — Modern IRC "Connection Registration", IRCv3 capability
//! negotiation 302 and SASL 3.1.

use std::time::Instant;

use torsion_core::cred::sasl;

use crate::proto::{self, casemap, numeric::*, Message};
use crate::server::caps::{self, Caps};
use crate::server::config::VERSION;
use crate::server::network::{ClientId, Effect, Network, PasswordPurpose, SaslState, Whowas};

use super::need_params;

/// `CAP` subcommands.
pub fn cap(net: &mut Network, id: ClientId, msg: &Message, now: Instant) -> Option<Effect> {
    let sub = msg.param(0).to_ascii_uppercase();
    let registered = net.is_registered(id);
    let sasl_offered = net.config.accounts.is_some();
    let client = net.clients.get_mut(&id)?;
    match sub.as_str() {
        "LS" => {
            if !registered {
                client.cap_negotiating = true;
            }
            let version = msg.param(1).parse::<u32>().unwrap_or(0);
            client.cap_version = client.cap_version.max(version);
            let v302 = client.cap_version >= 302;
            let list = offered(sasl_offered, v302);
            let nick = client.nick.clone();
            net.server_line(id, "CAP", &[&nick, "LS", &list]);
        }
        "LIST" => {
            let enabled = client.caps.names().join(" ");
            let nick = client.nick.clone();
            net.server_line(id, "CAP", &[&nick, "LIST", &enabled]);
        }
        "REQ" => {
            if !registered {
                client.cap_negotiating = true;
            }
            let requested = msg.param(1);
            let mut caps = client.caps;
            let mut ok = !requested.trim().is_empty();
            for word in requested.split_whitespace() {
                let (on, name) = match word.strip_prefix('-') {
                    Some(name) => (false, name),
                    None => (true, word),
                };
                match caps::by_name(name) {
                    Some(cap) if cap != caps::SASL || sasl_offered => caps.set(cap, on),
                    _ => ok = false,
                }
            }
            // All or nothing (IRCv3 capability negotiation, "CAP REQ").
            let verb = if ok {
                client.caps = caps;
                "ACK"
            } else {
                "NAK"
            };
            let nick = client.nick.clone();
            net.server_line(id, "CAP", &[&nick, verb, requested]);
        }
        "END" => {
            client.cap_negotiating = false;
            try_register(net, id, now);
        }
        _ => {
            let nick = client.nick.clone();
            let shown = if sub.is_empty() { "*" } else { msg.param(0) };
            net.server_line(
                id,
                ERR_INVALIDCAPCMD,
                &[&nick, shown, "Invalid CAP command"],
            );
        }
    }
    None
}

fn offered(sasl_offered: bool, v302: bool) -> String {
    caps::ALL
        .iter()
        .filter(|c| **c != caps::SASL || sasl_offered)
        .map(|c| {
            if *c == caps::SASL && v302 {
                "sasl=PLAIN".to_owned()
            } else {
                c.name.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `AUTHENTICATE` (IRCv3 SASL 3.1, PLAIN only; chunks of 400 bytes, `+` for empty).
pub fn authenticate(net: &mut Network, id: ClientId, msg: &Message) -> Option<Effect> {
    if need_params(net, id, msg, 1) {
        return None;
    }
    let max = net.config.limits.max_sasl_bytes;
    let client = net.clients.get_mut(&id)?;
    let arg = msg.param(0);
    if !client.caps.has(caps::SASL) || net.config.accounts.is_none() {
        net.reply(id, ERR_SASLFAIL, &["SASL authentication failed"]);
        return None;
    }
    if client.account.is_some() {
        net.reply(
            id,
            ERR_SASLALREADY,
            &["You have already authenticated using SASL"],
        );
        return None;
    }
    if arg == "*" {
        client.sasl = SaslState::Idle;
        net.reply(id, ERR_SASLABORTED, &["SASL authentication aborted"]);
        return None;
    }
    match std::mem::take(&mut client.sasl) {
        SaslState::Idle => {
            if arg.eq_ignore_ascii_case("PLAIN") {
                client.sasl = SaslState::Collecting(String::new());
                net.send(id, bytes::Bytes::from_static(b"AUTHENTICATE +\r\n"));
            } else {
                net.reply(
                    id,
                    RPL_SASLMECHS,
                    &["PLAIN", "are available SASL mechanisms"],
                );
                net.reply(id, ERR_SASLFAIL, &["SASL authentication failed"]);
            }
            None
        }
        SaslState::Checking => {
            client.sasl = SaslState::Checking;
            None
        }
        SaslState::Collecting(mut buf) => {
            if arg.len() > 400 || buf.len() + arg.len() > max {
                net.reply(id, ERR_SASLTOOLONG, &["SASL message too long"]);
                return None;
            }
            if arg != "+" {
                buf.push_str(arg);
            }
            if arg.len() == 400 {
                client.sasl = SaslState::Collecting(buf);
                return None;
            }
            match sasl::decode_plain(buf.as_bytes()) {
                Ok(creds) if creds.authorization_identity() == creds.authcid => {
                    client.sasl = SaslState::Checking;
                    Some(Effect::CheckPassword {
                        purpose: PasswordPurpose::Sasl,
                        user: creds.authcid.clone(),
                        password: creds.password.clone(),
                    })
                }
                _ => {
                    net.reply(id, ERR_SASLFAIL, &["SASL authentication failed"]);
                    None
                }
            }
        }
    }
}

/// The SASL password check finished.
pub fn sasl_result(net: &mut Network, id: ClientId, user: &str, ok: bool, now: Instant) {
    let Some(client) = net.clients.get_mut(&id) else {
        return;
    };
    client.sasl = SaslState::Idle;
    if !ok {
        net.reply(id, ERR_SASLFAIL, &["SASL authentication failed"]);
        return;
    }
    client.account = Some(user.into());
    let mask = if client.registered {
        client.prefix.clone()
    } else {
        format!("{}!{}@{}", client.nick, client.user, client.host)
    };
    let registered = client.registered;
    let prefix = client.prefix.clone();
    net.reply(
        id,
        RPL_LOGGEDIN,
        &[&mask, user, &format!("You are now logged in as {user}")],
    );
    net.reply(id, RPL_SASLSUCCESS, &["SASL authentication successful"]);
    if registered {
        let line = proto::line(&prefix, "ACCOUNT", [user]);
        net.send_neighbours(id, false, &line, |c: Caps| c.has(caps::ACCOUNT_NOTIFY));
    }
    try_register(net, id, now);
}

/// `PASS`.
pub fn pass(net: &mut Network, id: ClientId, msg: &Message) -> Option<Effect> {
    if net.is_registered(id) {
        net.reply(id, ERR_ALREADYREGISTERED, &["You may not reregister"]);
        return None;
    }
    if need_params(net, id, msg, 1) {
        return None;
    }
    if let Some(client) = net.clients.get_mut(&id) {
        client.pass = Some(msg.param(0).into());
    }
    None
}

/// `NICK`: reserve the nick; after registration, tell everyone sharing a channel.
pub fn nick(net: &mut Network, id: ClientId, msg: &Message, now: Instant) -> Option<Effect> {
    let new = msg.param(0);
    if new.is_empty() {
        net.reply(id, ERR_NONICKNAMEGIVEN, &["No nickname given"]);
        return None;
    }
    if !proto::valid_nick(new, net.config.limits.nick_len) {
        net.reply(id, ERR_ERRONEUSNICKNAME, &[new, "Erroneous nickname"]);
        return None;
    }
    let folded = casemap::fold(new);
    if let Some(&owner) = net.nicks.get(&folded) {
        if owner != id {
            net.reply(id, ERR_NICKNAMEINUSE, &[new, "Nickname is already in use"]);
            return None;
        }
    }
    let client = net.clients.get_mut(&id)?;
    if client.nick == new {
        return None;
    }
    let old_folded = casemap::fold(&client.nick);
    let old_prefix = client.prefix.clone();
    let registered = client.registered;
    client.nick = new.to_owned();
    client.prefix = format!("{}!{}@{}", client.nick, client.user, client.host);
    if net.nicks.get(&old_folded) == Some(&id) && old_folded != folded {
        net.nicks.remove(&old_folded);
    }
    net.nicks.insert(folded, id);
    if registered {
        let line = proto::line(&old_prefix, "NICK", [new]);
        net.send_neighbours(id, true, &line, |_| true);
        let old_nick = old_prefix.split('!').next().unwrap_or("").to_owned();
        if let Some(entry) = net.clients.get(&id).map(|c| Whowas::of(c, &old_nick)) {
            net.push_whowas(entry);
        }
    } else {
        try_register(net, id, now);
    }
    None
}

/// `USER user mode unused :realname`.
pub fn user(net: &mut Network, id: ClientId, msg: &Message, now: Instant) -> Option<Effect> {
    if net.is_registered(id) {
        net.reply(id, ERR_ALREADYREGISTERED, &["You may not reregister"]);
        return None;
    }
    // Modern IRC "USER message": "The minimum length of <username> is 1 … If it is empty,
    // the server SHOULD reject the command with ERR_NEEDMOREPARAMS (even if an empty parameter
    // is provided)"; an empty realname (`USER u 0 * :`) is refused the same way, as ergo and
    // sable do, so the client learns why registration does not complete.
    if msg.params.len() < 4 || msg.params[0].is_empty() || msg.params[3].is_empty() {
        net.reply(id, ERR_NEEDMOREPARAMS, &["USER", "Not enough parameters"]);
        return None;
    }
    let max = net.config.limits.user_len;
    let client = net.clients.get_mut(&id)?;
    // No ident lookups: the username is unverified, marked with `~` as ircds do.
    let clean: String = msg.params[0]
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .take(max.saturating_sub(1))
        .collect();
    client.user = format!("~{}", if clean.is_empty() { "user" } else { &clean });
    client.realname = msg.params[3].chars().take(100).collect();
    client.got_user = true;
    try_register(net, id, now);
    None
}

/// Complete registration when NICK, USER, CAP END and SASL allow it.
pub fn try_register(net: &mut Network, id: ClientId, _now: Instant) {
    let server_password = net.config.password.clone();
    let counted = net.counted(id);
    let Some(client) = net.clients.get_mut(&id) else {
        return;
    };
    if client.registered
        || client.nick == "*"
        || !client.got_user
        || client.cap_negotiating
        || client.sasl == SaslState::Checking
    {
        return;
    }
    if let Some(expected) = server_password {
        let given = client.pass.as_deref().unwrap_or("");
        if !torsion_core::cred::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            net.reply(id, ERR_PASSWDMISMATCH, &["Password incorrect"]);
            net.quit(id, "Bad password");
            return;
        }
    }
    client.registered = true;
    client.prefix = format!("{}!{}@{}", client.nick, client.user, client.host);
    let prefix = client.prefix.clone();
    net.recount(id, counted);
    let users = net.user_count();
    net.max_seen = net.max_seen.max(users);
    let name = net.config.server_name.clone();
    let network = net.config.network.clone();
    let created = net.config.created.clone();
    net.reply(
        id,
        RPL_WELCOME,
        &[&format!("Welcome to the {network} IRC Network {prefix}")],
    );
    net.reply(
        id,
        RPL_YOURHOST,
        &[&format!("Your host is {name}, running version {VERSION}")],
    );
    net.reply(
        id,
        RPL_CREATED,
        &[&format!("This server was created {created}")],
    );
    net.reply(
        id,
        RPL_MYINFO,
        &[&name, VERSION, "iow", "beIiklmnost", "beIklov"],
    );
    send_isupport(net, id);
    lusers(net, id);
    motd(net, id);
}

/// The RPL_ISUPPORT lines.
pub fn send_isupport(net: &mut Network, id: ClientId) {
    let lines = net.isupport().to_vec();
    for tokens in lines {
        let mut params: Vec<&str> = tokens.iter().map(String::as_str).collect();
        params.push("are supported by this server");
        net.reply(id, RPL_ISUPPORT, &params);
    }
}

/// `LUSERS` (251–255, 265, 266).
pub fn lusers(net: &mut Network, id: ClientId) {
    let (users, invisible, opers) = net.lusers_counts();
    let unknown = net.clients.len() - users;
    let channels = net.channels.len();
    let max = net.max_seen.max(users);
    net.reply(
        id,
        RPL_LUSERCLIENT,
        &[&format!(
            "There are {} users and {invisible} invisible on 1 servers",
            users - invisible
        )],
    );
    if opers > 0 {
        net.reply(id, RPL_LUSEROP, &[&opers.to_string(), "operator(s) online"]);
    }
    if unknown > 0 {
        net.reply(
            id,
            RPL_LUSERUNKNOWN,
            &[&unknown.to_string(), "unknown connection(s)"],
        );
    }
    if channels > 0 {
        net.reply(
            id,
            RPL_LUSERCHANNELS,
            &[&channels.to_string(), "channels formed"],
        );
    }
    net.reply(
        id,
        RPL_LUSERME,
        &[&format!("I have {users} clients and 0 servers")],
    );
    let (u, m) = (users.to_string(), max.to_string());
    net.reply(
        id,
        RPL_LOCALUSERS,
        &[&u, &m, &format!("Current local users {u}, max {m}")],
    );
    net.reply(
        id,
        RPL_GLOBALUSERS,
        &[&u, &m, &format!("Current global users {u}, max {m}")],
    );
}

/// `MOTD` (375, 372…, 376) or 422.
pub fn motd(net: &mut Network, id: ClientId) {
    let config = net.config.clone();
    match &config.motd {
        None => net.reply(id, ERR_NOMOTD, &["MOTD File is missing"]),
        Some(lines) => {
            net.reply(
                id,
                RPL_MOTDSTART,
                &[&format!("- {} Message of the day - ", config.server_name)],
            );
            for line in lines {
                net.reply(id, RPL_MOTD, &[&format!("- {line}")]);
            }
            net.reply(id, RPL_ENDOFMOTD, &["End of /MOTD command."]);
        }
    }
}
