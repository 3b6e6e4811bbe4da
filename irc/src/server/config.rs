//! Server configuration and limits. Every limit is named here with the reason for its default.

use std::sync::Arc;
use std::time::Duration;

use torsion_core::cred::{CredentialStore, StoredPassword};

/// Limits and timers; all bounded so no client can grow the server's memory.
#[derive(Debug, Clone)]
pub struct Limits {
    /// NICKLEN (ergo and InspIRCd default to 30).
    pub nick_len: usize,
    /// CHANNELLEN.
    pub channel_len: usize,
    /// TOPICLEN (what fits a 512-byte line with room for the prefix).
    pub topic_len: usize,
    /// KICKLEN.
    pub kick_len: usize,
    /// AWAYLEN.
    pub away_len: usize,
    /// USERLEN (the ident part).
    pub user_len: usize,
    /// Channels one client may be in (CHANLIMIT).
    pub channels_per_user: usize,
    /// Targets per PRIVMSG/NOTICE/JOIN/... (TARGMAX).
    pub max_targets: usize,
    /// Entries in each of a channel's +b/+e/+I lists (MAXLIST).
    pub max_list_entries: usize,
    /// Mode changes with a parameter per MODE command (MODES).
    pub modes_per_command: usize,
    /// Bytes of output that may wait for a client before it is disconnected ("SendQ exceeded").
    pub sendq: usize,
    /// Bytes of input waiting behind flood control before a client is disconnected ("Excess Flood").
    pub recvq: usize,
    /// Flood control: messages a client may send at once.
    pub flood_burst: u32,
    /// Flood control: messages per second once the burst is used.
    pub flood_rate: f64,
    /// Silence after which the server sends PING.
    pub ping_interval: Duration,
    /// Silence after the PING after which the client is dropped ("Ping timeout").
    pub ping_timeout: Duration,
    /// Time a connection has to complete registration.
    pub registration_timeout: Duration,
    /// Remembered nicks for WHOWAS.
    pub whowas_entries: usize,
    /// Connected (registered or not) clients; the runner's --max-connections caps sockets too.
    pub max_clients: usize,
    /// Channels on the whole server.
    pub max_channels: usize,
    /// Invitations remembered per channel.
    pub max_invites: usize,
    /// Nicks answered per ISON/USERHOST.
    pub max_query_nicks: usize,
    /// Bytes of an AUTHENTICATE exchange (SASL PLAIN is small).
    pub max_sasl_bytes: usize,
    /// Monitored nicks... (reserved) and the like are not supported.
    pub max_whois_channels: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            nick_len: 30,
            channel_len: 64,
            topic_len: 390,
            kick_len: 390,
            away_len: 200,
            user_len: 10,
            channels_per_user: 50,
            max_targets: 4,
            max_list_entries: 100,
            modes_per_command: 4,
            sendq: 1 << 20,
            recvq: 8 * 1024,
            flood_burst: 10,
            flood_rate: 2.0,
            ping_interval: Duration::from_secs(120),
            ping_timeout: Duration::from_secs(60),
            registration_timeout: Duration::from_secs(60),
            whowas_entries: 1000,
            max_clients: 100_000,
            max_channels: 100_000,
            max_invites: 100,
            max_query_nicks: 20,
            max_sasl_bytes: 800,
            max_whois_channels: 100,
        }
    }
}

/// An IRC operator account (`--oper NAME:{SCHEME}hash`).
#[derive(Debug, Clone)]
pub struct OperAccount {
    /// The name given to OPER.
    pub name: String,
    /// The password, hashed.
    pub password: StoredPassword,
}

/// Everything the server is told at start (and on SIGHUP, the MOTD).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// This server's name (the source of numerics).
    pub server_name: String,
    /// NETWORK in ISUPPORT.
    pub network: String,
    /// MOTD lines; `None` answers 422.
    pub motd: Option<Vec<String>>,
    /// Channels created at start that never disappear (Twisted's `--group`).
    pub channels: Vec<String>,
    /// Accounts for SASL PLAIN.
    pub accounts: Option<Arc<CredentialStore>>,
    /// IRC operators.
    pub opers: Vec<OperAccount>,
    /// Connection password (PASS), if any.
    pub password: Option<String>,
    /// Limits and timers.
    pub limits: Limits,
    /// Human-readable start time for 003.
    pub created: String,
    /// Text for ADMIN.
    pub admin: Vec<String>,
}

impl ServerConfig {
    /// A configuration with defaults for `server_name`.
    pub fn new(server_name: impl Into<String>) -> Self {
        ServerConfig {
            server_name: server_name.into(),
            network: "TorsionNet".into(),
            motd: None,
            channels: Vec::new(),
            accounts: None,
            opers: Vec::new(),
            password: None,
            limits: Limits::default(),
            created: crate::server::clock::http_date_now(),
            admin: vec![
                "Torsion IRC server".into(),
                "Administrator: see the server's operators".into(),
            ],
        }
    }
}

/// The version string for 004/351.
pub const VERSION: &str = concat!("torsion-irc-", env!("CARGO_PKG_VERSION"));
