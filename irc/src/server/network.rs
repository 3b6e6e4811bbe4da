//! The network state shared by every session (Twisted's factory): clients, nicks, channels,
//! WHOWAS history — and the output path. Handlers run under one lock and are plain
//! synchronous functions: a command in, lines queued to clients out. Every line to a client goes
//! through its byte-bounded send queue, so a client's own replies and what others send it keep
//! their order, and a client that stops reading is disconnected instead of growing memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{BufMut, Bytes, BytesMut};
use torsion_core::sendq::SendQueue;

use crate::proto::{self, casemap, Message};

use super::caps::{self, Caps};
use super::channel::Channel;
use super::clock;
use super::config::ServerConfig;

/// A client's number, unique for the server's lifetime.
pub type ClientId = u64;

/// SASL exchange state.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum SaslState {
    /// No exchange.
    #[default]
    Idle,
    /// `AUTHENTICATE PLAIN` accepted; collecting base64 chunks.
    Collecting(String),
    /// Password being checked off the lock.
    Checking,
}

/// User modes.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserModes {
    /// +i
    pub invisible: bool,
    /// +o
    pub oper: bool,
    /// +w
    pub wallops: bool,
}

impl UserModes {
    /// `+iow`-style string.
    pub fn string(self) -> String {
        let mut s = String::from("+");
        for (on, c) in [(self.invisible, 'i'), (self.oper, 'o'), (self.wallops, 'w')] {
            if on {
                s.push(c);
            }
        }
        s
    }
}

/// One connected client. (Boxed strings for the rarely set fields: this record exists for
/// every connection.)
#[derive(Debug)]
pub struct Client {
    /// Its number.
    pub id: ClientId,
    /// The nick (`*` before one is chosen).
    pub nick: String,
    /// The username (from USER, `~`-prefixed: no ident lookups).
    pub user: String,
    /// The realname.
    pub realname: String,
    /// The host shown to others (the peer's IP address).
    pub host: String,
    /// `nick!user@host`, kept current.
    pub prefix: String,
    /// Registration complete.
    pub registered: bool,
    /// USER received.
    pub got_user: bool,
    /// PASS given (and matching, when the server has a password).
    pub pass: Option<Box<str>>,
    /// CAP LS/REQ seen before registration and no CAP END yet.
    pub cap_negotiating: bool,
    /// CAP LS version (302 enables cap-notify and multi-line LS).
    pub cap_version: u32,
    /// Enabled capabilities.
    pub caps: Caps,
    /// User modes.
    pub modes: UserModes,
    /// Away message.
    pub away: Option<Box<str>>,
    /// Account (after SASL).
    pub account: Option<Box<str>>,
    /// SASL state.
    pub sasl: SaslState,
    /// Folded names of joined channels.
    pub channels: Vec<String>,
    /// Unix time of connection (WHOIS 317).
    pub signon: u64,
    /// Last PRIVMSG/NOTICE (idle time in WHOIS 317).
    pub last_spoke: Instant,
    /// When it connected (the registration deadline counts from here).
    pub connected: Instant,
    /// Last line received (keepalive: PING after `ping_interval` of silence).
    pub last_active: Instant,
    /// A keepalive PING is unanswered.
    pub ping_sent: bool,
    /// Connected over TLS (WHOIS 671).
    pub tls: bool,
    /// Output.
    pub queue: SendQueue,
    /// The OPER name used.
    pub oper_name: Option<Box<str>>,
}

/// What the LUSERS counters count of one client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    user: bool,
    invisible: bool,
    oper: bool,
}

/// The LUSERS counters.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    users: usize,
    invisible: usize,
    opers: usize,
}

impl Tally {
    fn add(&mut self, c: Counted) {
        self.users += usize::from(c.user);
        self.invisible += usize::from(c.invisible);
        self.opers += usize::from(c.oper);
    }

    fn remove(&mut self, c: Counted) {
        self.users -= usize::from(c.user);
        self.invisible -= usize::from(c.invisible);
        self.opers -= usize::from(c.oper);
    }
}

/// A WHOWAS entry.
#[derive(Debug, Clone)]
pub struct Whowas {
    /// The nick.
    pub nick: String,
    /// The username.
    pub user: String,
    /// The host.
    pub host: String,
    /// The realname.
    pub realname: String,
    /// Unix time the nick was given up.
    pub when: u64,
}

impl Whowas {
    /// An entry for `client` known as `nick` until now.
    pub fn of(client: &Client, nick: &str) -> Self {
        Whowas {
            nick: nick.to_owned(),
            user: client.user.clone(),
            host: client.host.clone(),
            realname: client.realname.clone(),
            when: clock::unix_now(),
        }
    }
}

/// Something the driver must do outside the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Check `password` for `user` (SASL) or the OPER account `user`, then call
    /// [`Network::password_checked`].
    CheckPassword {
        /// What is being checked.
        purpose: PasswordPurpose,
        /// The account or oper name.
        user: String,
        /// The candidate.
        password: Vec<u8>,
    },
}

/// What a password check is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordPurpose {
    /// SASL PLAIN against `--auth`.
    Sasl,
    /// OPER against `--oper`.
    Oper,
}

/// The whole server state.
#[derive(Debug)]
pub struct Network {
    /// Configuration.
    pub config: Arc<ServerConfig>,
    /// Clients by id (boxed: the table keeps spare slots as it grows, and a spare slot costs
    /// a pointer rather than a whole client record).
    pub clients: HashMap<ClientId, Box<Client>>,
    /// Folded nick → id (reserved at NICK, before registration completes).
    pub nicks: HashMap<String, ClientId>,
    /// Folded channel name → channel.
    pub channels: HashMap<String, Channel>,
    /// Nicks that were, newest last.
    pub whowas: VecDeque<Whowas>,
    /// Most clients seen at once (265/266).
    pub max_seen: usize,
    /// The LUSERS counters, kept as clients register, change modes and leave (counting them
    /// by walking every client made each registration O(clients)).
    tally: Tally,
    next_id: ClientId,
    /// Clients to remove after the current command (send queue overflowed, killed).
    pending_removal: Vec<(ClientId, String)>,
    /// RPL_ISUPPORT lines, built once.
    isupport: Vec<Vec<String>>,
    /// Lines to one client being collected for a labeled response.
    capture: Option<Capture>,
    /// Labeled commands waiting for a password check.
    deferred: HashMap<ClientId, Capture>,
    /// Why removed clients were removed, and their hosts, until their sessions take them
    /// ([`Network::take_close_reason`]).
    closing: HashMap<ClientId, (String, String)>,
    next_batch: u64,
}

/// A labeled command's replies being collected (IRCv3 labeled-response).
#[derive(Debug)]
struct Capture {
    id: ClientId,
    label: String,
    lines: Vec<Bytes>,
}

/// Longest `label` tag value honoured.
const MAX_LABEL: usize = 64;

impl Network {
    /// A network with the configured persistent channels.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        let now = clock::unix_now();
        let mut channels = HashMap::new();
        for name in &config.channels {
            let mut channel = Channel::new(name, now);
            channel.persistent = true;
            channels.insert(casemap::fold(name), channel);
        }
        let isupport = isupport_tokens(&config);
        Network {
            config,
            clients: HashMap::new(),
            nicks: HashMap::new(),
            channels,
            whowas: VecDeque::new(),
            max_seen: 0,
            tally: Tally::default(),
            next_id: 1,
            pending_removal: Vec::new(),
            isupport,
            capture: None,
            deferred: HashMap::new(),
            closing: HashMap::new(),
            next_batch: 1,
        }
    }

    /// The server name.
    pub fn server_name(&self) -> &str {
        &self.config.server_name
    }

    /// Add a connection; `None` when the server is full.
    pub fn connect(
        &mut self,
        host: String,
        tls: bool,
        queue: SendQueue,
        now: Instant,
    ) -> Option<ClientId> {
        if self.clients.len() >= self.config.limits.max_clients {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.clients.insert(
            id,
            Box::new(Client {
                id,
                nick: "*".into(),
                user: String::new(),
                realname: String::new(),
                prefix: String::new(),
                host,
                registered: false,
                got_user: false,
                pass: None,
                cap_negotiating: false,
                cap_version: 0,
                caps: Caps::default(),
                modes: UserModes::default(),
                away: None,
                account: None,
                sasl: SaslState::Idle,
                channels: Vec::new(),
                signon: clock::unix_now(),
                last_spoke: now,
                connected: now,
                last_active: now,
                ping_sent: false,
                tls,
                queue,
                oper_name: None,
            }),
        );
        Some(id)
    }

    /// Why `id` was removed, and its host (once: for its session, to say goodbye with).
    pub fn take_close_reason(&mut self, id: ClientId) -> Option<(String, String)> {
        self.closing.remove(&id)
    }

    /// `id` sent a line at `now` (any line answers a keepalive PING).
    pub fn touch(&mut self, id: ClientId, now: Instant) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.last_active = now;
            client.ping_sent = false;
        }
    }

    /// The keepalive round, run about once a second for every client (as InspIRCd does)
    /// instead of a timer per connection: disconnect clients that did not register within
    /// `registration_timeout`, PING those silent for `ping_interval`, and disconnect those
    /// that left that PING unanswered for `ping_timeout`.
    pub fn sweep(&mut self, now: Instant) {
        let limits = &self.config.limits;
        let (interval, timeout) = (limits.ping_interval, limits.ping_timeout);
        let mut ping = Vec::new();
        for client in self.clients.values_mut() {
            if !client.registered {
                if now.saturating_duration_since(client.connected) >= limits.registration_timeout {
                    self.pending_removal
                        .push((client.id, "Registration timed out".into()));
                }
            } else if !client.ping_sent {
                if now.saturating_duration_since(client.last_active) >= interval {
                    client.ping_sent = true;
                    ping.push(client.id);
                }
            } else if now.saturating_duration_since(client.last_active) >= interval + timeout {
                let secs = (interval + timeout).as_secs();
                self.pending_removal
                    .push((client.id, format!("Ping timeout: {secs} seconds")));
            }
        }
        if !ping.is_empty() {
            let line = proto::line("", "PING", [self.config.server_name.as_str()]);
            for id in ping {
                self.send(id, line.clone());
            }
        }
        self.flush_removals();
    }

    /// Disconnect everyone with `reason` (server shutdown).
    pub fn quit_all(&mut self, reason: &str) {
        let ids: Vec<ClientId> = self.clients.keys().copied().collect();
        for id in ids {
            self.remove_client(id, reason);
        }
        self.flush_removals();
    }

    /// Registered users.
    pub fn user_count(&self) -> usize {
        self.tally.users
    }

    /// Registered users, those of them invisible (+i), and operators (LUSERS).
    pub fn lusers_counts(&self) -> (usize, usize, usize) {
        (self.tally.users, self.tally.invisible, self.tally.opers)
    }

    /// What the LUSERS counters count of `id` now; pass it to [`Network::recount`] after
    /// changing the client's registration or modes.
    pub fn counted(&self, id: ClientId) -> Counted {
        self.clients
            .get(&id)
            .map_or_else(Counted::default, |c| Counted {
                user: c.registered,
                invisible: c.registered && c.modes.invisible,
                oper: c.modes.oper,
            })
    }

    /// `id` changed since `before` (registration, +i/-i, OPER, -o): update the counters.
    pub fn recount(&mut self, id: ClientId, before: Counted) {
        let after = self.counted(id);
        self.tally.remove(before);
        self.tally.add(after);
    }

    /// Whether `id` is an IRC operator (exempt from flood control).
    pub fn is_oper(&self, id: ClientId) -> bool {
        self.clients.get(&id).is_some_and(|c| c.modes.oper)
    }

    /// Whether `id` finished registration.
    pub fn is_registered(&self, id: ClientId) -> bool {
        self.clients.get(&id).is_some_and(|c| c.registered)
    }

    /// Id of the client with `nick` (any case).
    pub fn find_nick(&self, nick: &str) -> Option<ClientId> {
        self.nicks.get(&casemap::fold(nick)).copied()
    }

    /// The channel named `name` (any case).
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.get(&casemap::fold(name))
    }

    // ----- output -----

    /// Queue raw bytes for `id`; an overflowing queue schedules the client's removal.
    pub fn send(&mut self, id: ClientId, line: Bytes) {
        if let Some(capture) = self.capture.as_mut().filter(|c| c.id == id) {
            capture.lines.push(line);
            return;
        }
        self.deliver(id, line);
    }

    /// Queue `line` for `id` as a message it receives, never as part of a labeled response it
    /// is waiting for (a message a client sends itself is both delivered and, with
    /// echo-message, echoed; only the echo carries the label).
    pub fn deliver(&mut self, id: ClientId, line: Bytes) {
        if let Some(client) = self.clients.get(&id) {
            if client.queue.try_send(line).is_err() {
                self.pending_removal.push((id, "SendQ exceeded".into()));
            }
        }
    }

    /// Queue a numeric `:server CODE nick params…` for `id`.
    pub fn reply(&mut self, id: ClientId, code: &str, params: &[&str]) {
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        let mut out = BytesMut::with_capacity(96);
        proto::write_line(
            &mut out,
            &self.config.server_name,
            code,
            std::iter::once(client.nick.as_str()).chain(params.iter().copied()),
        );
        self.send(id, out.freeze());
    }

    /// Queue `:server COMMAND params…` (no nick inserted) for `id`.
    pub fn server_line(&mut self, id: ClientId, command: &str, params: &[&str]) {
        let line = proto::line(&self.config.server_name, command, params.iter().copied());
        self.send(id, line);
    }

    /// Send `line` to every member of `channel` (folded name), except `except`.
    pub fn send_channel(&mut self, channel: &str, line: &Bytes, except: Option<ClientId>) {
        let Some(ch) = self.channels.get(channel) else {
            return;
        };
        for (&member, _) in ch.members.iter() {
            if Some(member) == except {
                continue;
            }
            if let Some(client) = self.clients.get(&member) {
                if client.queue.try_send(line.clone()).is_err() {
                    self.pending_removal.push((member, "SendQ exceeded".into()));
                }
            }
        }
    }

    /// Ids of everyone sharing a channel with `id`, plus `id` itself, each once.
    pub fn neighbours(&self, id: ClientId) -> Vec<ClientId> {
        let mut out = vec![id];
        if let Some(client) = self.clients.get(&id) {
            for name in &client.channels {
                if let Some(ch) = self.channels.get(name) {
                    out.extend(ch.members.keys().copied());
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Send a line built per recipient capability set to the neighbours of `id` (NICK, QUIT,
    /// AWAY…): `filter` picks recipients by their capabilities.
    pub fn send_neighbours(
        &mut self,
        id: ClientId,
        include_self: bool,
        line: &Bytes,
        filter: impl Fn(Caps) -> bool,
    ) {
        for other in self.neighbours(id) {
            if other == id && !include_self {
                continue;
            }
            if self.clients.get(&other).is_some_and(|c| filter(c.caps)) {
                self.send(other, line.clone());
            }
        }
    }

    /// The `@time=…` tag prefix (with the space) for a relayed message.
    pub fn time_tag(now: SystemTime) -> String {
        format!("@time={} ", clock::server_time(now))
    }

    // ----- removal -----

    /// Remove a client, telling everyone sharing a channel `QUIT :reason`; its session sees its
    /// queue close and ends the connection with `ERROR :Closing Link: … (reason)`.
    pub fn quit(&mut self, id: ClientId, reason: &str) {
        self.remove_client(id, reason);
        self.flush_removals();
    }

    /// Schedule a client's removal at the end of the current command.
    pub fn schedule_removal(&mut self, id: ClientId, reason: impl Into<String>) {
        self.pending_removal.push((id, reason.into()));
    }

    /// Carry out scheduled removals (which may overflow other queues in turn).
    pub fn flush_removals(&mut self) {
        while let Some((id, reason)) = self.pending_removal.pop() {
            self.remove_client(id, &reason);
        }
    }

    fn remove_client(&mut self, id: ClientId, reason: &str) {
        self.deferred.remove(&id);
        let counted = self.counted(id);
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        // For the session, which notices the removal by its send queue closing.
        let host = &client.host;
        self.closing
            .entry(id)
            .or_insert_with(|| (reason.to_owned(), host.clone()));
        if client.registered {
            let line = proto::line(&client.prefix, "QUIT", [reason]);
            for other in self.neighbours(id) {
                if other != id {
                    self.send(other, line.clone());
                }
            }
        }
        let Some(client) = self.clients.remove(&id) else {
            return;
        };
        self.tally.remove(counted);
        for name in &client.channels {
            if let Some(ch) = self.channels.get_mut(name) {
                ch.members.remove(&id);
                if ch.is_disposable() {
                    self.channels.remove(name);
                }
            }
        }
        for ch in self.channels.values_mut() {
            ch.invites.remove(&id);
        }
        if client.nick != "*" {
            let folded = casemap::fold(&client.nick);
            if self.nicks.get(&folded) == Some(&id) {
                self.nicks.remove(&folded);
            }
            if client.registered {
                self.push_whowas(Whowas::of(&client, &client.nick));
            }
        }
    }

    /// Add a WHOWAS entry, dropping the oldest past the limit.
    pub fn push_whowas(&mut self, entry: Whowas) {
        self.whowas.push_back(entry);
        while self.whowas.len() > self.config.limits.whowas_entries {
            self.whowas.pop_front();
        }
    }

    /// The RPL_ISUPPORT token lines.
    pub fn isupport(&self) -> &[Vec<String>] {
        &self.isupport
    }

    /// Handle one parsed message from `id`.
    pub fn handle(&mut self, id: ClientId, msg: Message, now: Instant) -> Option<Effect> {
        let label = self.label_of(id, &msg);
        self.labeled(id, label, |net| {
            super::commands::dispatch(net, id, msg, now)
        })
    }

    /// Refuse a message that was not valid UTF-8: the server advertises `UTF8ONLY`, whose
    /// spec says servers "MUST NOT relay content … containing non-UTF-8 data" and may answer
    /// `FAIL <command> INVALID_UTF8`. Nothing of the message is acted on.
    pub fn refuse_invalid_utf8(&mut self, id: ClientId, msg: &Message) {
        let label = self.label_of(id, msg);
        self.labeled(id, label, |net| {
            net.server_line(
                id,
                "FAIL",
                &[
                    &msg.command,
                    "INVALID_UTF8",
                    "Message rejected, your IRC software MUST use UTF-8 encoding on this network",
                ],
            );
            None
        });
    }

    /// The `label` tag of `msg`, when `id` negotiated labeled-response and the label is usable.
    fn label_of(&self, id: ClientId, msg: &Message) -> Option<String> {
        msg.tag("label")
            .flatten()
            .filter(|l| !l.is_empty() && l.len() <= MAX_LABEL)
            .filter(|_| {
                self.clients
                    .get(&id)
                    .is_some_and(|c| c.caps.has(caps::LABELED_RESPONSE))
            })
            .map(str::to_owned)
    }

    /// Run `command` for `id`, collecting what it sends `id` into a labeled response when
    /// there is a `label`.
    fn labeled(
        &mut self,
        id: ClientId,
        label: Option<String>,
        command: impl FnOnce(&mut Self) -> Option<Effect>,
    ) -> Option<Effect> {
        if let Some(label) = label {
            self.capture = Some(Capture {
                id,
                label,
                lines: Vec::new(),
            });
        }
        let effect = command(self);
        if let Some(capture) = self.capture.take() {
            if effect.is_some() {
                self.deferred.insert(id, capture);
            } else {
                self.finish_labeled(capture);
            }
        }
        self.flush_removals();
        effect
    }

    /// Send a labeled command's replies: none → `ACK`, one → that line with the label,
    /// several → a `labeled-response` batch (IRCv3 labeled-response, batch).
    fn finish_labeled(&mut self, capture: Capture) {
        let Capture { id, label, lines } = capture;
        let Some(caps) = self.clients.get(&id).map(|c| c.caps) else {
            return;
        };
        let server = self.config.server_name.clone();
        let label_tag = format!("label={}", tag_value(&label));
        match lines.len() {
            0 => {
                let line = tagged_line(&format!("@{label_tag} "), &server, "ACK", []);
                self.send(id, line);
            }
            1 => {
                let line = add_tag(&lines[0], &label_tag);
                self.send(id, line);
            }
            _ if caps.has(caps::BATCH) => {
                let batch = self.next_batch.to_string();
                self.next_batch += 1;
                let start = tagged_line(
                    &format!("@{label_tag} "),
                    &server,
                    "BATCH",
                    [format!("+{batch}").as_str(), "labeled-response"],
                );
                self.send(id, start);
                let batch_tag = format!("batch={batch}");
                for line in &lines {
                    self.send(id, add_tag(line, &batch_tag));
                }
                let end = tagged_line("", &server, "BATCH", [format!("-{batch}").as_str()]);
                self.send(id, end);
            }
            _ => {
                for line in lines {
                    self.send(id, line);
                }
            }
        }
    }

    /// A password check finished (see [`Effect::CheckPassword`]).
    pub fn password_checked(
        &mut self,
        id: ClientId,
        purpose: PasswordPurpose,
        user: &str,
        ok: bool,
        now: Instant,
    ) {
        self.capture = self.deferred.remove(&id);
        match purpose {
            PasswordPurpose::Sasl => {
                super::commands::registration::sasl_result(self, id, user, ok, now)
            }
            PasswordPurpose::Oper => super::commands::oper::oper_result(self, id, user, ok),
        }
        if let Some(capture) = self.capture.take() {
            self.finish_labeled(capture);
        }
        self.flush_removals();
    }
}

/// Build the ISUPPORT tokens, at most 13 per line (Modern IRC: "RPL_ISUPPORT").
fn isupport_tokens(config: &ServerConfig) -> Vec<Vec<String>> {
    let l = &config.limits;
    let tokens = vec![
        format!("AWAYLEN={}", l.away_len),
        format!("CASEMAPPING={}", casemap::CASEMAPPING),
        format!("CHANLIMIT=#:{}", l.channels_per_user),
        "CHANMODES=beI,k,l,imnst".to_owned(),
        format!("CHANNELLEN={}", l.channel_len),
        "CHANTYPES=#".to_owned(),
        "ELIST=U".to_owned(),
        "EXCEPTS=e".to_owned(),
        "INVEX=I".to_owned(),
        format!("KICKLEN={}", l.kick_len),
        format!("MAXLIST=beI:{}", l.max_list_entries),
        format!("MAXTARGETS={}", l.max_targets),
        format!("MODES={}", l.modes_per_command),
        format!("NETWORK={}", config.network),
        format!("NICKLEN={}", l.nick_len),
        "PREFIX=(ov)@+".to_owned(),
        "STATUSMSG=@+".to_owned(),
        format!(
            "TARGMAX=JOIN:{t},PART:{t},KICK:{t},PRIVMSG:{t},NOTICE:{t},NAMES:1,LIST:1,WHOIS:1",
            t = l.max_targets
        ),
        format!("TOPICLEN={}", l.topic_len),
        format!("USERLEN={}", l.user_len),
        "UTF8ONLY".to_owned(),
    ];
    tokens.chunks(13).map(<[String]>::to_vec).collect()
}

/// Append `nick` (or `nick!user@host`) with its prefix for NAMES.
pub fn names_entry(out: &mut String, client: &Client, prefix: &str, userhost: bool) {
    out.push_str(prefix);
    if userhost {
        out.push_str(&client.prefix);
    } else {
        out.push_str(&client.nick);
    }
}

/// `:prefix COMMAND params` as Bytes, with an optional tag prefix (`@time=… `).
pub fn tagged_line<'a>(
    tags: &str,
    source: &str,
    command: &str,
    params: impl IntoIterator<Item = &'a str>,
) -> Bytes {
    let mut out = BytesMut::with_capacity(tags.len() + 96);
    out.put_slice(tags.as_bytes());
    proto::write_line(&mut out, source, command, params);
    out.freeze()
}

/// A tag value escaped for the wire.
fn tag_value(value: &str) -> String {
    let mut out = BytesMut::new();
    proto::escape_tag_value(value, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `line` with `tag` (`key=value`, already escaped) added to its tags.
pub fn add_tag(line: &Bytes, tag: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(line.len() + tag.len() + 2);
    out.put_u8(b'@');
    out.put_slice(tag.as_bytes());
    match line.strip_prefix(b"@") {
        Some(rest) => {
            out.put_u8(b';');
            out.put_slice(rest);
        }
        None => {
            out.put_u8(b' ');
            out.put_slice(line);
        }
    }
    out.freeze()
}
