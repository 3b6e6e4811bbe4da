//! Operator commands: OPER, KILL, WALLOPS.

use crate::proto::{self, casemap, numeric::*, Message};
use crate::server::network::{ClientId, Effect, Network, PasswordPurpose};

use super::need_params;

/// `OPER name password`: the hash check runs off the lock ([`Effect::CheckPassword`]).
pub fn oper(net: &mut Network, id: ClientId, msg: &Message) -> Option<Effect> {
    if need_params(net, id, msg, 2) {
        return None;
    }
    Some(Effect::CheckPassword {
        purpose: PasswordPurpose::Oper,
        user: msg.param(0).to_owned(),
        password: msg.param(1).as_bytes().to_vec(),
    })
}

/// The OPER password check finished.
pub fn oper_result(net: &mut Network, id: ClientId, name: &str, ok: bool) {
    if !ok {
        net.reply(id, ERR_PASSWDMISMATCH, &["Password incorrect"]);
        return;
    }
    let counted = net.counted(id);
    let Some(client) = net.clients.get_mut(&id) else {
        return;
    };
    let newly = !client.modes.oper;
    client.modes.oper = true;
    client.oper_name = Some(name.into());
    let nick = client.nick.clone();
    net.recount(id, counted);
    net.reply(id, RPL_YOUREOPER, &["You are now an IRC operator"]);
    if newly {
        net.send(id, proto::line(&nick, "MODE", [nick.as_str(), "+o"]));
    }
}

fn require_oper(net: &mut Network, id: ClientId) -> bool {
    if net.is_oper(id) {
        return true;
    }
    net.reply(
        id,
        ERR_NOPRIVILEGES,
        &["Permission Denied- You're not an IRC operator"],
    );
    false
}

/// `KILL nick :reason`.
pub fn kill(net: &mut Network, id: ClientId, msg: &Message) {
    if need_params(net, id, msg, 1) || !require_oper(net, id) {
        return;
    }
    let nick = msg.param(0);
    if casemap::eq(nick, &net.config.server_name) {
        net.reply(id, ERR_CANTKILLSERVER, &["You can't kill a server!"]);
        return;
    }
    let Some(victim) = net.find_nick(nick) else {
        net.reply(id, ERR_NOSUCHNICK, &[nick, "No such nick/channel"]);
        return;
    };
    let Some(killer) = net
        .clients
        .get(&id)
        .map(|c| (c.prefix.clone(), c.nick.clone()))
    else {
        return;
    };
    let reason = if msg.param(1).is_empty() {
        "No reason given"
    } else {
        msg.param(1)
    };
    let victim_nick = net
        .clients
        .get(&victim)
        .map(|c| c.nick.clone())
        .unwrap_or_default();
    net.send(
        victim,
        proto::line(&killer.0, "KILL", [victim_nick.as_str(), reason]),
    );
    net.quit(victim, &format!("Killed ({} ({reason}))", killer.1));
}

/// `WALLOPS :text` to every user with +w.
pub fn wallops(net: &mut Network, id: ClientId, msg: &Message) {
    if need_params(net, id, msg, 1) || !require_oper(net, id) {
        return;
    }
    let Some(prefix) = net.clients.get(&id).map(|c| c.prefix.clone()) else {
        return;
    };
    let line = proto::line(&prefix, "WALLOPS", [msg.param(0)]);
    let recipients: Vec<ClientId> = net
        .clients
        .values()
        .filter(|c| c.registered && c.modes.wallops)
        .map(|c| c.id)
        .collect();
    for r in recipients {
        net.send(r, line.clone());
    }
}
