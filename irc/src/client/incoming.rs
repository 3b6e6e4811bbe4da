//! Incoming messages: PING, CTCP replies, tracking of our nick and channels, and the
//! translation of everything into [`Event`]s.

use super::config::is_word;
use super::event::{Event, Source};
use super::outbox::LineKind;
use super::state::{truncate, ClientState};
use crate::proto::{ctcp, Message};

/// CTCP requests answered automatically (CTCP CLIENTINFO lists them).
const CTCP_SUPPORTED: &str = "ACTION CLIENTINFO PING SOURCE VERSION";
/// Where the code lives (CTCP SOURCE).
const CTCP_SOURCE: &str = "https://example.invalid/torsion";

impl ClientState {
    /// Route one server message.
    pub(crate) fn dispatch(&mut self, msg: Message) {
        let from = Source::parse(msg.source.as_deref().unwrap_or(""));
        match msg.command.as_str() {
            "PING" => {
                // PONG echoes the PING's parameters (RFC 2812 §3.7.3); never delayed.
                let params: Vec<&str> = msg.params.iter().map(String::as_str).collect();
                self.send_now("PONG", &params);
            }
            // Any input already counts as the keepalive answer.
            "PONG" => {}
            "AUTHENTICATE" => self.on_authenticate(&msg),
            "CAP" => self.on_cap(&msg),
            "ERROR" => {
                let message = msg.param(0).to_owned();
                self.server_error = Some(message.clone());
                self.events.push_back(Event::ServerError { message });
            }
            "PRIVMSG" | "NOTICE" => self.on_text(from, msg),
            "JOIN" => {
                let channel = msg.param(0).to_owned();
                let own = self.is_me(&from.nick);
                if own {
                    self.remember_channel(&channel);
                    // Our own source as others see it: the exact overhead for splitting.
                    if let Some((_, user_host)) =
                        msg.source.as_deref().and_then(|s| s.split_once('!'))
                    {
                        self.user_host = Some(user_host.to_owned());
                    }
                }
                self.events.push_back(Event::Join { from, channel, own });
            }
            "PART" => {
                let channel = msg.param(0).to_owned();
                let own = self.is_me(&from.nick);
                if own {
                    self.forget_channel(&channel);
                }
                let reason = msg.params.get(1).cloned();
                self.events.push_back(Event::Part {
                    from,
                    channel,
                    reason,
                    own,
                });
            }
            "KICK" => {
                let channel = msg.param(0).to_owned();
                let nick = msg.param(1).to_owned();
                let own = self.is_me(&nick);
                if own {
                    self.forget_channel(&channel);
                }
                let reason = msg.params.get(2).cloned();
                self.events.push_back(Event::Kick {
                    by: from,
                    channel,
                    nick,
                    reason,
                    own,
                });
            }
            "QUIT" => {
                let reason = msg.params.first().cloned();
                self.events.push_back(Event::Quit { from, reason });
            }
            "NICK" => {
                let new = msg.param(0).to_owned();
                let own = self.is_me(&from.nick);
                if own {
                    self.nick = new.clone();
                }
                self.events.push_back(Event::Nick { from, new, own });
            }
            "TOPIC" => {
                self.events.push_back(Event::Topic {
                    channel: msg.param(0).to_owned(),
                    topic: msg.param(1).to_owned(),
                    by: Some(from),
                });
            }
            "INVITE" => {
                self.events.push_back(Event::Invite {
                    from,
                    channel: msg.param(1).to_owned(),
                });
            }
            command if command.len() == 3 && command.bytes().all(|b| b.is_ascii_digit()) => {
                self.on_registration_numeric(&msg);
                if command == crate::proto::numeric::RPL_TOPIC {
                    self.events.push_back(Event::Topic {
                        channel: msg.param(1).to_owned(),
                        topic: msg.param(2).to_owned(),
                        by: None,
                    });
                }
                let code = command.parse().unwrap_or(0);
                self.events.push_back(Event::Numeric {
                    code,
                    params: msg.params,
                });
            }
            _ => self.events.push_back(Event::Raw(msg)),
        }
    }

    /// PRIVMSG or NOTICE, plain or CTCP.
    fn on_text(&mut self, from: Source, msg: Message) {
        let is_notice = msg.command == "NOTICE";
        let Message { tags, params, .. } = msg;
        let mut params = params.into_iter();
        let target = params.next().unwrap_or_default();
        let text = params.next().unwrap_or_default();
        let reply_to = if self.is_me(&target) {
            from.nick.clone()
        } else {
            target.clone()
        };
        let Some(request) = ctcp::parse(&text) else {
            self.events.push_back(Event::Message {
                from,
                target,
                text,
                is_notice,
                reply_to,
                tags,
            });
            return;
        };
        let command = request.command.to_ascii_uppercase();
        let params = request.params.to_owned();
        if is_notice {
            self.events.push_back(Event::CtcpReply {
                from,
                command,
                params,
            });
            return;
        }
        if command == "ACTION" {
            self.events.push_back(Event::Action {
                from,
                target,
                text: params,
                reply_to,
                tags,
            });
            return;
        }
        let answer = match command.as_str() {
            "VERSION" => Some(self.config.version.clone()),
            "PING" => Some(params.clone()),
            "CLIENTINFO" => Some(CTCP_SUPPORTED.to_owned()),
            "SOURCE" => Some(CTCP_SOURCE.to_owned()),
            _ => None,
        };
        // Answer users only (a server or an empty source has nowhere to send to), by NOTICE so
        // no bot answers the answer (CTCP spec; RFC 2812 §3.3.2).
        if let Some(answer) = answer {
            if is_word(&from.nick) && !from.is_server() && !self.is_me(&from.nick) {
                let budget = self
                    .budget("NOTICE", &from.nick)
                    .saturating_sub(command.len() + 3);
                let answer = ctcp::format(&command, truncate(&answer, budget));
                if !self.queue_line("NOTICE", &[&from.nick, &answer], LineKind::AutoReply) {
                    tracing::debug!(from = %from, %command, "CTCP reply dropped: queue is long");
                }
            }
        }
        self.events.push_back(Event::CtcpRequest {
            from,
            target,
            command,
            params,
        });
    }
}
