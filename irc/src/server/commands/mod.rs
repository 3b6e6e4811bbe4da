//! Command handlers, one module per family. Each is a synchronous function over the
//! [`Network`]: the command in, lines queued to clients out.

pub mod channel;
pub mod messaging;
pub mod mode;
pub mod oper;
pub mod query;
pub mod registration;

use std::time::Instant;

use crate::proto::{numeric::*, Message};

use super::network::{ClientId, Effect, Network};

/// Route one message.
pub fn dispatch(net: &mut Network, id: ClientId, msg: Message, now: Instant) -> Option<Effect> {
    let registered = net.is_registered(id);
    let cmd = msg.command.as_str();
    // Commands allowed before registration completes (Modern IRC "Connection Registration").
    match cmd {
        "CAP" => return registration::cap(net, id, &msg, now),
        "AUTHENTICATE" => return registration::authenticate(net, id, &msg),
        "PASS" => return registration::pass(net, id, &msg),
        "NICK" => return registration::nick(net, id, &msg, now),
        "USER" => return registration::user(net, id, &msg, now),
        "PING" => {
            if msg.params.is_empty() {
                net.reply(id, ERR_NOORIGIN, &["No origin specified"]);
            } else {
                let server = net.server_name().to_owned();
                net.server_line(id, "PONG", &[&server, msg.param(0)]);
            }
            return None;
        }
        "PONG" => return None,
        "QUIT" => {
            let reason = match msg.params.first() {
                Some(r) if !r.is_empty() => format!("Quit: {r}"),
                _ => "Client Quit".to_owned(),
            };
            net.quit(id, &reason);
            return None;
        }
        _ => {}
    }
    if !registered {
        net.reply(id, ERR_NOTREGISTERED, &["You have not registered"]);
        return None;
    }
    match cmd {
        "PRIVMSG" => messaging::privmsg(net, id, &msg, messaging::Kind::Privmsg, now),
        "NOTICE" => messaging::privmsg(net, id, &msg, messaging::Kind::Notice, now),
        "TAGMSG" => messaging::privmsg(net, id, &msg, messaging::Kind::Tagmsg, now),
        "JOIN" => channel::join(net, id, &msg),
        "PART" => channel::part(net, id, &msg),
        "KICK" => channel::kick(net, id, &msg),
        "INVITE" => channel::invite(net, id, &msg),
        "TOPIC" => channel::topic(net, id, &msg),
        "NAMES" => channel::names_cmd(net, id, &msg),
        "LIST" => channel::list(net, id, &msg),
        "MODE" => mode::mode(net, id, &msg),
        "WHO" => query::who(net, id, &msg),
        "WHOIS" => query::whois(net, id, &msg, now),
        "WHOWAS" => query::whowas(net, id, &msg),
        "AWAY" => query::away(net, id, &msg),
        "ISON" => query::ison(net, id, &msg),
        "USERHOST" => query::userhost(net, id, &msg),
        "MOTD" => registration::motd(net, id),
        "LUSERS" => registration::lusers(net, id),
        "VERSION" => query::version(net, id),
        "TIME" => query::time(net, id),
        "ADMIN" => query::admin(net, id),
        "INFO" => query::info(net, id),
        "OPER" => return oper::oper(net, id, &msg),
        "KILL" => oper::kill(net, id, &msg),
        "WALLOPS" => oper::wallops(net, id, &msg),
        _ => net.reply(id, ERR_UNKNOWNCOMMAND, &[cmd, "Unknown command"]),
    }
    None
}

/// Reply 461 when `msg` has fewer than `n` parameters (empty trailing counts as absent for
/// the first parameter only); true when the handler should stop.
pub fn need_params(net: &mut Network, id: ClientId, msg: &Message, n: usize) -> bool {
    if msg.params.len() < n || (n > 0 && msg.params[0].is_empty()) {
        net.reply(
            id,
            ERR_NEEDMOREPARAMS,
            &[&msg.command, "Not enough parameters"],
        );
        return true;
    }
    false
}

/// 403 for `name`.
pub fn no_such_channel(net: &mut Network, id: ClientId, name: &str) {
    net.reply(id, ERR_NOSUCHCHANNEL, &[name, "No such channel"]);
}

/// 442 for `channel`.
pub fn not_on_channel(net: &mut Network, id: ClientId, channel: &str) {
    net.reply(
        id,
        ERR_NOTONCHANNEL,
        &[channel, "You're not on that channel"],
    );
}

/// 482 for `channel`.
pub fn not_channel_operator(net: &mut Network, id: ClientId, channel: &str) {
    net.reply(
        id,
        ERR_CHANOPRIVSNEEDED,
        &[channel, "You're not channel operator"],
    );
}
