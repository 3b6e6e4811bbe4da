//! The IMAP session as a state machine: a parsed command in, response lines and at most one
//! effect for the driver out (RFC 9051 §3: not authenticated → authenticated → logout). The
//! session never touches the network; it reads and changes mail through the store, which the
//! driver calls it for on the blocking pool.
//!
//! Built so far: CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN and AUTHENTICATE PLAIN (SASL-IR)
//! with LOGINDISABLED before TLS, ID, ENABLE, NAMESPACE, CREATE, DELETE, RENAME, SUBSCRIBE,
//! UNSUBSCRIBE, LIST, LSUB, and (in [`super::selected`]) SELECT, EXAMINE, STATUS, APPEND,
//! CHECK, CLOSE, UNSELECT, EXPUNGE, FETCH, STORE, COPY, MOVE and the UID forms, and IDLE
//! (carried out by the driver), CONDSTORE and QRESYNC ([`super::condstore`]), ESEARCH
//! ([`super::search`]), LIST-EXTENDED, LIST-STATUS and CREATE-SPECIAL-USE
//! ([`super::mailboxes`]), MULTIAPPEND. A command imap-codec knows but this server does
//! not is answered `NO [CANNOT]` and not advertised.

use std::sync::Arc;

use imap_codec::decode::Decoder as _;
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::command::{Command, CommandBody, StoreModifier};
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use imap_codec::imap_types::extensions::utf8::Utf8Kind;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::CommandCodec;
use torsion_mailstore::{mutf7, MailAddress, Store};

use super::response::{quoted, Out};
use super::selected::{Selected, StoreRequest};
use crate::proto::assemble;
use crate::proto::extended::{self, Extended};
use crate::proto::search_return::{self, ReturnOptions};

/// Fixed parts of the configuration every session shares.
#[derive(Debug)]
pub struct Config {
    /// The server's name (greeting, ID).
    pub hostname: String,
    /// Allow LOGIN and AUTHENTICATE over a connection without TLS.
    pub allow_plaintext_auth: bool,
    /// STARTTLS is possible (a certificate is configured).
    pub starttls: bool,
    /// The mail root.
    pub store: Arc<dyn Store>,
    /// APPENDLIMIT.
    pub append_limit: u64,
}

/// Where the session is (RFC 9051 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Before LOGIN/AUTHENTICATE.
    NotAuthenticated,
    /// Logged in as this account.
    Authenticated(MailAddress),
    /// After LOGOUT.
    Logout,
}

/// What the driver must do after a command's responses are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// Close the connection (after LOGOUT).
    Close,
    /// Upgrade to TLS now (the OK was written).
    StartTls,
    /// Check the password for `user` off the session, then call
    /// [`Session::login_checked`] with the tag.
    CheckPassword {
        /// The command's tag.
        tag: String,
        /// The login name as given.
        user: String,
        /// The candidate password.
        password: Vec<u8>,
    },
    /// AUTHENTICATE without an initial response: send `+ ` and read one line of base64,
    /// then call [`Session::authenticate_data`].
    SaslContinue {
        /// The command's tag.
        tag: String,
    },
    /// IDLE (RFC 2177): send `+ idling`, then report changes to the selected mailbox as they
    /// happen ([`Session::report_changes`]) until the client sends `DONE`, then the tagged OK.
    Idle {
        /// The command's tag.
        tag: String,
    },
}

/// One client's session.
#[derive(Debug)]
pub struct Session {
    pub(super) config: Arc<Config>,
    state: State,
    tls: bool,
    /// ENABLE IMAP4rev2 (RFC 9051 §6.3.1).
    pub(super) rev2: bool,
    /// ENABLE UTF8=ACCEPT (RFC 6855): mailbox names in UTF-8.
    pub(super) utf8: bool,
    /// A CONDSTORE-enabling command was seen (RFC 7162 §3.1).
    pub(super) condstore: bool,
    /// ENABLE QRESYNC (RFC 7162 §3.2.3): VANISHED instead of EXPUNGE.
    pub(super) qresync: bool,
    /// The selected mailbox.
    pub(super) selected: Option<Selected>,
    /// The RETURN options of the SEARCH being run (RFC 4731), if it had any.
    pub(super) search_return: Option<ReturnOptions>,
    /// Failed logins so far (the driver delays and finally disconnects).
    pub failed_logins: u32,
}

impl Session {
    /// A session on a connection that is (`tls`) or is not encrypted yet.
    pub fn new(config: Arc<Config>, tls: bool) -> Self {
        Session {
            config,
            state: State::NotAuthenticated,
            tls,
            rev2: false,
            utf8: false,
            condstore: false,
            qresync: false,
            selected: None,
            search_return: None,
            failed_logins: 0,
        }
    }

    /// The state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// A subscription to the selected mailbox's changes (what IDLE waits on).
    pub fn watch_selected(
        &self,
    ) -> Option<std::io::Result<torsion_mailstore::watch::MailboxWatch>> {
        self.selected.as_ref().map(|s| s.mailbox.watch())
    }

    /// The TLS upgrade finished.
    pub fn tls_started(&mut self) {
        self.tls = true;
    }

    /// Whether passwords may be sent now.
    fn auth_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_auth
    }

    /// The greeting (RFC 9051 §7.1.1), with capabilities.
    pub fn greeting(&self, out: &mut Out) {
        out.untagged(&format!(
            "OK [CAPABILITY {}] {} IMAP4rev2 server ready",
            self.capabilities(),
            self.config.hostname
        ));
    }

    /// The capabilities for the current state.
    pub fn capabilities(&self) -> String {
        let mut caps = vec!["IMAP4rev1", "IMAP4rev2"];
        if self.state == State::NotAuthenticated {
            if self.config.starttls && !self.tls {
                caps.push("STARTTLS");
            }
            if self.auth_allowed() {
                caps.push("AUTH=PLAIN");
            } else {
                caps.push("LOGINDISABLED");
            }
        }
        caps.extend([
            "SASL-IR",
            "LITERAL+",
            "ENABLE",
            "ID",
            "NAMESPACE",
            "CHILDREN",
            "SPECIAL-USE",
            "UTF8=ACCEPT",
            "UIDPLUS",
            "MOVE",
            "UNSELECT",
            "STATUS=SIZE",
            "IDLE",
            "WITHIN",
            "CONDSTORE",
            "QRESYNC",
            "BINARY",
            "ESEARCH",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "CREATE-SPECIAL-USE",
            "MULTIAPPEND",
        ]);
        let mut out = caps.join(" ");
        out.push_str(&format!(" APPENDLIMIT={}", self.config.append_limit));
        out
    }

    /// Parse and run one assembled command (bytes as sent, literals included); responses go to
    /// `out`. Returns the effect and whether the command was malformed (the driver counts
    /// those). imap-codec parses; the forms it does not know are tried in
    /// [`crate::proto::extended`] and [`crate::proto::search_return`].
    pub fn execute(&mut self, bytes: &[u8], out: &mut Out) -> (Effect, bool) {
        let codec = CommandCodec::default();
        let syntax_error = |out: &mut Out| {
            // RFC 9051 §7.1.3: BAD with the tag if there is one, else untagged.
            let first = bytes.split(|&b| b == b'\r').next().unwrap_or_default();
            match assemble::tag_of(first) {
                Some(tag) => out.bad(&tag, "Command syntax error"),
                None => out.untagged("BAD Command syntax error"),
            }
            (Effect::None, true)
        };
        match search_return::split(bytes) {
            Some(Ok((plain, options))) => {
                return match codec.decode(&plain) {
                    Ok((_, command)) => {
                        self.search_return = Some(options);
                        let effect = self.handle(command, out);
                        self.search_return = None;
                        (effect, false)
                    }
                    Err(_) => syntax_error(out),
                };
            }
            Some(Err(e)) => {
                let first = bytes.split(|&b| b == b' ').next().unwrap_or_default();
                return match assemble::tag_of(first) {
                    Some(tag) => {
                        out.bad(&tag, &e.0);
                        (Effect::None, true)
                    }
                    None => syntax_error(out),
                };
            }
            None => {}
        }
        if let Ok((_, command)) = codec.decode(bytes) {
            return (self.handle(command, out), false);
        }
        let extended = match extended::parse(bytes) {
            Some(Ok(e)) => e,
            Some(Err(refused)) => {
                out.bad(&refused.tag, &refused.reason);
                return (Effect::None, true);
            }
            None => return syntax_error(out),
        };
        let tag = match &extended {
            Extended::List(l) => l.tag.clone(),
            Extended::MultiAppend { tag, .. } => tag.clone(),
            Extended::CreateUse { plain, .. } => {
                assemble::tag_of(plain.split(|&b| b == b' ').next().unwrap_or_default())
                    .unwrap_or_default()
            }
        };
        if self.state == State::NotAuthenticated {
            out.bad(&tag, "Log in first");
            return (Effect::None, false);
        }
        match extended {
            Extended::List(list) => self.list_extended(&list, out),
            Extended::CreateUse { plain, uses } => match codec.decode(&plain) {
                Ok((
                    _,
                    Command {
                        body: CommandBody::Create { mailbox },
                        ..
                    },
                )) => self.create_with_use(&tag, &mailbox, &uses, out),
                _ => return syntax_error(out),
            },
            Extended::MultiAppend { parts, .. } => {
                let mut decoded = Vec::with_capacity(parts.len());
                for part in &parts {
                    match codec.decode(part) {
                        Ok((_, command)) => decoded.push(command),
                        Err(_) => return syntax_error(out),
                    }
                }
                let mut messages = Vec::with_capacity(decoded.len());
                let mut target = None;
                for command in &decoded {
                    let CommandBody::Append {
                        mailbox,
                        flags,
                        date,
                        message,
                    } = &command.body
                    else {
                        return syntax_error(out);
                    };
                    target = Some(mailbox);
                    let date = date.as_ref().map(|d| d.as_ref().timestamp());
                    messages.push((flags.as_slice(), date, message));
                }
                if let Some(mailbox) = target {
                    self.append_all(&tag, mailbox, &messages, out);
                }
            }
        }
        (Effect::None, false)
    }

    /// Handle one command; responses go to `out`.
    pub fn handle(&mut self, command: Command<'_>, out: &mut Out) -> Effect {
        let tag = command.tag.inner().to_owned();
        let name = command.body.name();
        match command.body {
            CommandBody::Capability => {
                out.untagged(&format!("CAPABILITY {}", self.capabilities()));
                out.ok(&tag, "CAPABILITY completed");
            }
            CommandBody::Noop => {
                self.report_changes(out, true, false);
                out.ok(&tag, "NOOP completed");
            }
            CommandBody::Logout => {
                out.untagged("BYE Logging out");
                out.ok(&tag, "LOGOUT completed");
                self.state = State::Logout;
                return Effect::Close;
            }
            CommandBody::Id { .. } => {
                out.untagged(&format!(
                    "ID (\"name\" \"torsion-imap\" \"version\" {})",
                    quoted(env!("CARGO_PKG_VERSION"))
                ));
                out.ok(&tag, "ID completed");
            }
            CommandBody::StartTLS => {
                if self.tls || !self.config.starttls {
                    out.bad(&tag, "STARTTLS is not available on this connection");
                } else if self.state != State::NotAuthenticated {
                    out.bad(&tag, "STARTTLS only before logging in");
                } else {
                    out.ok(&tag, "Begin TLS negotiation now");
                    return Effect::StartTls;
                }
            }
            CommandBody::Login { username, password } => {
                if self.state != State::NotAuthenticated {
                    out.bad(&tag, "Already logged in");
                } else if !self.auth_allowed() {
                    // RFC 9051 §6.2.3: LOGINDISABLED without TLS.
                    out.no_code(&tag, "PRIVACYREQUIRED", "LOGIN is disabled before STARTTLS");
                } else {
                    return Effect::CheckPassword {
                        tag,
                        user: String::from_utf8_lossy(username.as_ref()).into_owned(),
                        password: password.declassify().as_ref().to_vec(),
                    };
                }
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                if self.state != State::NotAuthenticated {
                    out.bad(&tag, "Already logged in");
                } else if mechanism != AuthMechanism::Plain {
                    out.no(&tag, "Unsupported authentication mechanism (PLAIN only)");
                } else if !self.auth_allowed() {
                    out.no_code(
                        &tag,
                        "PRIVACYREQUIRED",
                        "Authentication is disabled before STARTTLS",
                    );
                } else {
                    return match initial_response {
                        Some(ir) => self.plain(tag, ir.declassify().as_ref(), out),
                        None => Effect::SaslContinue { tag },
                    };
                }
            }
            body if self.state == State::NotAuthenticated => {
                let _ = body;
                out.bad(&tag, &format!("{name} needs you to log in first"));
            }
            CommandBody::Enable { capabilities } => {
                let mut enabled = Vec::new();
                for cap in capabilities.as_ref() {
                    match cap {
                        CapabilityEnable::Utf8(Utf8Kind::Accept) if !self.utf8 => {
                            self.utf8 = true;
                            enabled.push("UTF8=ACCEPT");
                        }
                        CapabilityEnable::Other(_)
                            if cap.to_string().eq_ignore_ascii_case("IMAP4rev2") && !self.rev2 =>
                        {
                            self.rev2 = true;
                            enabled.push("IMAP4rev2");
                        }
                        CapabilityEnable::CondStore if !self.condstore => {
                            self.enable_condstore(out);
                            enabled.push("CONDSTORE");
                        }
                        // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
                        CapabilityEnable::Other(_)
                            if cap.to_string().eq_ignore_ascii_case("QRESYNC") && !self.qresync =>
                        {
                            self.enable_condstore(out);
                            self.qresync = true;
                            enabled.push("QRESYNC");
                        }
                        _ => {}
                    }
                }
                // RFC 5161 §3.2: ENABLED lists what this command enabled (rev2 clients get
                // it whether or not it is empty).
                out.untagged(format!("ENABLED {}", enabled.join(" ")).trim_end());
                out.ok(&tag, "ENABLE completed");
            }
            CommandBody::Namespace => {
                out.untagged("NAMESPACE ((\"\" \".\")) NIL NIL");
                out.ok(&tag, "NAMESPACE completed");
            }
            CommandBody::Create { mailbox } => self.create(&tag, &mailbox, out),
            CommandBody::Delete { mailbox } => self.delete(&tag, &mailbox, out),
            CommandBody::Rename { from, to } => self.rename(&tag, &from, &to, out),
            CommandBody::Subscribe { mailbox } => self.subscribe(&tag, &mailbox, true, out),
            CommandBody::Unsubscribe { mailbox } => self.subscribe(&tag, &mailbox, false, out),
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => self.list(&tag, &reference, &mailbox_wildcard, false, out),
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => self.list(&tag, &reference, &mailbox_wildcard, true, out),
            CommandBody::Select {
                mailbox,
                parameters,
            } => self.select(&tag, &mailbox, &parameters, false, out),
            CommandBody::Examine {
                mailbox,
                parameters,
            } => self.select(&tag, &mailbox, &parameters, true, out),
            CommandBody::Status {
                mailbox,
                item_names,
            } => self.status(&tag, &mailbox, &item_names, out),
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let date = date.map(|d| d.as_ref().timestamp());
                self.append(&tag, &mailbox, &flags, date, &message, out);
            }
            body if self.selected.is_none()
                && matches!(
                    body,
                    CommandBody::Check
                        | CommandBody::Close
                        | CommandBody::Unselect
                        | CommandBody::Expunge
                        | CommandBody::ExpungeUid { .. }
                        | CommandBody::Fetch { .. }
                        | CommandBody::Store { .. }
                        | CommandBody::Copy { .. }
                        | CommandBody::Move { .. }
                        | CommandBody::Search { .. }
                ) =>
            {
                out.bad(&tag, &format!("{name} needs a selected mailbox"));
            }
            CommandBody::Idle => return Effect::Idle { tag },
            CommandBody::Check => {
                self.report_changes(out, true, false);
                out.ok(&tag, "CHECK completed");
            }
            CommandBody::Close => self.close(&tag, true, out),
            CommandBody::Unselect => self.close(&tag, false, out),
            CommandBody::Expunge => self.expunge(Some(&tag), None, out),
            CommandBody::ExpungeUid { sequence_set } => {
                self.expunge(Some(&tag), Some(&sequence_set), out)
            }
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => self.fetch(
                &tag,
                &sequence_set,
                &macro_or_item_names,
                &modifiers,
                uid,
                out,
            ),
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                let unchanged_since = modifiers
                    .iter()
                    .map(|StoreModifier::UnchangedSince(n)| *n)
                    .next();
                let store = StoreRequest {
                    kind,
                    response,
                    flags: &flags,
                    unchanged_since,
                    uid,
                };
                self.store(&tag, &sequence_set, &store, out);
            }
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => self.search(&tag, charset.as_ref(), criteria.as_ref(), uid, out),
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(&tag, &sequence_set, &mailbox, uid, false, out),
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(&tag, &sequence_set, &mailbox, uid, true, out),
            _ => out.no_code(
                &tag,
                "CANNOT",
                &format!("{name} is not available in this server yet"),
            ),
        }
        Effect::None
    }

    /// The base64-decoded PLAIN response (RFC 4616): `authzid NUL authcid NUL password`.
    fn plain(&mut self, tag: String, response: &[u8], out: &mut Out) -> Effect {
        match torsion_core::cred::sasl::decode_plain_raw(response) {
            // No proxy authorization: acting as someone else is refused.
            Ok(c) if c.authzid.is_empty() || c.authzid == c.authcid => Effect::CheckPassword {
                tag,
                user: c.authcid,
                password: c.password,
            },
            Ok(_) => {
                out.no_code(
                    &tag,
                    "AUTHORIZATIONFAILED",
                    "Acting as another user is not allowed",
                );
                Effect::None
            }
            Err(_) => {
                out.bad(&tag, "Malformed PLAIN response");
                Effect::None
            }
        }
    }

    /// The client's line after `+ ` in AUTHENTICATE (base64, or `*` to cancel).
    pub fn authenticate_data(&mut self, tag: String, line: &[u8], out: &mut Out) -> Effect {
        use base64::Engine as _;
        if line == b"*" {
            out.bad(&tag, "Authentication cancelled");
            return Effect::None;
        }
        match base64::engine::general_purpose::STANDARD.decode(line) {
            Ok(response) => self.plain(tag, &response, out),
            Err(_) => {
                out.bad(&tag, "Malformed base64");
                Effect::None
            }
        }
    }

    /// The password check of LOGIN/AUTHENTICATE finished: `account` is the account logged
    /// in to, or `None` if the check failed.
    pub fn login_checked(&mut self, tag: &str, account: Option<MailAddress>, out: &mut Out) {
        match account {
            Some(addr) => {
                if let Err(e) = self.config.store.provision(&addr) {
                    tracing::warn!(%addr, "cannot prepare the mailbox: {e}");
                    out.no_code(tag, "SERVERBUG", "The mailbox is not available");
                    return;
                }
                self.state = State::Authenticated(addr);
                let caps = self.capabilities();
                out.tagged(tag, &format!("OK [CAPABILITY {caps}] Logged in"));
            }
            None => {
                self.failed_logins += 1;
                out.no_code(tag, "AUTHENTICATIONFAILED", "Invalid credentials");
            }
        }
    }

    pub(super) fn account(&self) -> Option<&MailAddress> {
        match &self.state {
            State::Authenticated(addr) => Some(addr),
            _ => None,
        }
    }

    /// A mailbox name from the wire as UTF-8: modified UTF-7 unless the client enabled
    /// UTF-8 (RFC 6855, IMAP4rev2 names are UTF-8 too); `None` if it cannot be one.
    pub(super) fn mailbox_name(&self, mailbox: &Mailbox<'_>) -> Option<String> {
        match mailbox {
            Mailbox::Inbox => Some("INBOX".to_owned()),
            Mailbox::Other(other) => self.wire_name(other.as_ref()),
        }
    }

    pub(super) fn wire_name(&self, bytes: &[u8]) -> Option<String> {
        let text = std::str::from_utf8(bytes).ok()?;
        if self.utf8 || self.rev2 {
            // RFC 9051 §5.1: names are UTF-8; a client may still send modified UTF-7.
            if text.contains('&') {
                if let Some(decoded) = mutf7::decode(text) {
                    return Some(decoded);
                }
            }
            Some(text.to_owned())
        } else {
            mutf7::decode(text)
        }
    }

    /// A name for the wire, quoted.
    pub(super) fn shown(&self, name: &str) -> String {
        if self.utf8 || self.rev2 {
            quoted(name)
        } else {
            quoted(&mutf7::encode(name))
        }
    }
}
