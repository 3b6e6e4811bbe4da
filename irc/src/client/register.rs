//! Registration: capability negotiation (IRCv3 "Capability Negotiation", `CAP LS 302`), SASL
//! PLAIN (IRCv3 "SASL Authentication", RFC 4616), nickname fallback and the welcome (001).
//!
//! ```text
//! C: CAP LS 302 / [PASS] / NICK / USER
//! S: CAP * LS :sasl=PLAIN server-time …        (several lines when "CAP * LS * :…")
//! C: CAP REQ :sasl server-time                  (only what we want and the server offers)
//! S: CAP * ACK :sasl server-time
//! C: AUTHENTICATE PLAIN      S: AUTHENTICATE +      C: AUTHENTICATE <base64, 400-byte chunks>
//! S: 900 … / 903             C: CAP END      S: 001 …
//! ```

use torsion_core::cred::sasl::encode_plain;

use super::error::ClientError;
use super::event::Event;
use super::nick;
use super::state::{CapPhase, ClientState, Close};
use crate::proto::{numeric, Message};

/// Capabilities requested whenever the server offers them: harmless, and they make events
/// richer (`time` and `msgid` tags).
const OPTIONAL_CAPS: [&str; 2] = ["server-time", "message-tags"];
/// AUTHENTICATE payloads are sent in chunks of this many bytes (IRCv3 SASL).
const SASL_CHUNK: usize = 400;

impl ClientState {
    /// `CAP` from the server.
    pub(crate) fn on_cap(&mut self, msg: &Message) {
        let sub = msg.param(1).to_ascii_uppercase();
        let list = msg.params.last().map(String::as_str).unwrap_or("");
        match (sub.as_str(), &mut self.cap) {
            ("LS", CapPhase::Listing(caps)) => {
                caps.extend(list.split_ascii_whitespace().map(
                    |token| match token.split_once('=') {
                        Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                        None => (token.to_owned(), None),
                    },
                ));
                let more = msg.params.len() >= 4 && msg.param(2) == "*";
                if !more {
                    let caps = std::mem::take(caps);
                    self.request_caps(&caps);
                }
            }
            ("ACK", CapPhase::Requested { sasl }) => {
                let sasl_requested = *sasl;
                let acked = list.split_ascii_whitespace().any(|c| c == "sasl");
                if sasl_requested && acked {
                    self.cap = CapPhase::SaslStarted;
                    self.send_now("AUTHENTICATE", &["PLAIN"]);
                } else if sasl_requested {
                    self.sasl_failed("the server did not enable the sasl capability".into());
                } else {
                    self.cap_end();
                }
            }
            ("NAK", CapPhase::Requested { sasl }) => {
                if *sasl {
                    self.sasl_failed("the server refused the sasl capability".into());
                } else {
                    self.cap_end();
                }
            }
            _ => self.events.push_back(Event::Raw(msg.clone())),
        }
    }

    /// Decide what to `CAP REQ` once the whole LS list is in.
    fn request_caps(&mut self, offered: &[(String, Option<String>)]) {
        let find = |name: &str| offered.iter().find(|(n, _)| n == name);
        let mut wanted: Vec<&str> = Vec::new();
        let mut sasl = false;
        if self.config.sasl.is_some() {
            match find("sasl") {
                Some((_, Some(mechs)))
                    if !mechs.split(',').any(|m| m.eq_ignore_ascii_case("PLAIN")) =>
                {
                    self.sasl_unavailable(format!(
                        "the server does not offer SASL PLAIN (only {mechs})"
                    ));
                }
                Some(_) => {
                    wanted.push("sasl");
                    sasl = true;
                }
                None => self.sasl_unavailable("the server does not offer SASL".into()),
            }
            if self.close.is_some() {
                return;
            }
        }
        for cap in OPTIONAL_CAPS {
            if find(cap).is_some() {
                wanted.push(cap);
            }
        }
        if wanted.is_empty() {
            self.cap_end();
        } else {
            self.cap = CapPhase::Requested { sasl };
            let list = wanted.join(" ");
            self.send_now("CAP", &["REQ", &list]);
        }
    }

    /// `AUTHENTICATE` from the server: `+` asks for our credentials.
    pub(crate) fn on_authenticate(&mut self, msg: &Message) {
        if self.cap != CapPhase::SaslStarted || msg.param(0) != "+" {
            return;
        }
        let Some(sasl) = self.config.sasl.clone() else {
            return;
        };
        let payload = encode_plain("", &sasl.user, sasl.password.as_bytes());
        for chunk in payload.as_bytes().chunks(SASL_CHUNK) {
            let chunk = String::from_utf8_lossy(chunk);
            self.send_now("AUTHENTICATE", &[&chunk]);
        }
        // A payload that is an exact multiple of the chunk size ends with an empty chunk.
        if payload.len().is_multiple_of(SASL_CHUNK) {
            self.send_now("AUTHENTICATE", &["+"]);
        }
        self.cap = CapPhase::SaslSent;
    }

    /// Numerics that drive registration (the others pass through untouched).
    pub(crate) fn on_registration_numeric(&mut self, msg: &Message) {
        match msg.command.as_str() {
            numeric::RPL_WELCOME => self.welcome(msg),
            numeric::ERR_NICKNAMEINUSE | numeric::ERR_ERRONEUSNICKNAME | "437"
                if !self.registered =>
            {
                let shorten = msg.command == numeric::ERR_ERRONEUSNICKNAME;
                self.nick_attempt += 1;
                match nick::candidate(&self.config, self.nick_attempt, shorten) {
                    Some(next) => {
                        tracing::debug!(taken = %self.nick, next = %next, "nickname unavailable");
                        self.nick = next.clone();
                        self.send_now("NICK", &[&next]);
                    }
                    None => {
                        let last = self.nick.clone();
                        self.fatal(ClientError::NickUnavailable(last));
                    }
                }
            }
            numeric::RPL_LOGGEDIN => {
                self.account = msg.params.get(2).cloned();
            }
            numeric::RPL_SASLSUCCESS | numeric::ERR_SASLALREADY => {
                if matches!(self.cap, CapPhase::SaslSent | CapPhase::SaslStarted) {
                    self.authenticated = true;
                    self.events.push_back(Event::Authenticated {
                        account: self.account.clone(),
                    });
                    self.cap_end();
                }
            }
            numeric::ERR_NICKLOCKED
            | numeric::ERR_SASLFAIL
            | numeric::ERR_SASLTOOLONG
            | numeric::ERR_SASLABORTED => {
                if matches!(self.cap, CapPhase::SaslSent | CapPhase::SaslStarted) {
                    let reason = msg.params.last().cloned().unwrap_or_default();
                    self.sasl_failed(format!("{} {reason}", msg.command));
                }
            }
            numeric::ERR_UNKNOWNCOMMAND
                if msg.param(1).eq_ignore_ascii_case("CAP")
                    && !matches!(self.cap, CapPhase::Done) =>
            {
                // A server without capability negotiation: registration goes on without it.
                self.cap = CapPhase::Done;
                if self.config.sasl.is_some() {
                    self.sasl_unavailable("the server does not support capabilities".into());
                }
            }
            _ => {}
        }
    }

    /// 001: registered.
    fn welcome(&mut self, msg: &Message) {
        if self.registered {
            return;
        }
        if !matches!(self.cap, CapPhase::Done) {
            // The server ignored CAP (or finished registration without CAP END).
            self.cap = CapPhase::Done;
        }
        if self.config.sasl.is_some() && self.config.sasl_required && !self.authenticated {
            self.fatal(ClientError::SaslFailed(
                "the server completed registration without SASL".into(),
            ));
            return;
        }
        self.registered = true;
        if let Some(nick) = msg.params.first().filter(|n| !n.is_empty() && *n != "*") {
            self.nick = nick.clone();
        }
        let joins = self.rejoin_lines();
        self.outbox.push_front(joins);
        self.outbox.release();
        self.events.push_back(Event::Registered {
            nick: self.nick.clone(),
        });
    }

    /// SASL cannot even start.
    fn sasl_unavailable(&mut self, reason: String) {
        if self.config.sasl_required {
            self.fatal(ClientError::SaslFailed(reason));
        } else {
            self.events.push_back(Event::SaslFailed { reason });
        }
    }

    /// SASL was attempted and failed.
    fn sasl_failed(&mut self, reason: String) {
        self.sasl_unavailable(reason);
        if self.close.is_none() {
            self.cap_end();
        }
    }

    fn cap_end(&mut self) {
        if self.cap != CapPhase::Done {
            self.cap = CapPhase::Done;
            self.send_now("CAP", &["END"]);
        }
    }

    /// Stop for good: say why to the server, then close.
    pub(crate) fn fatal(&mut self, error: ClientError) {
        tracing::warn!(%error, "giving up");
        let reason = error.to_string();
        self.send_now("QUIT", &[&reason]);
        self.close = Some(Close::Fatal(error));
    }
}
