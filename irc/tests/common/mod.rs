//! Shared helpers for the server tests: in-memory sessions on a paused clock.
#![allow(clippy::unwrap_used, dead_code)]

use std::sync::Arc;

use torsion_core::cred::{hash_password, CredentialStore, StoredPassword};
use torsion_core::testkit::TestPeer;
use torsion_irc::server::{IrcServer, OperAccount, ServerConfig};

/// A server named irc.test with no MOTD, an account alice/wonderland and an oper admin/secret.
pub fn config() -> ServerConfig {
    let mut config = ServerConfig::new("irc.test");
    config.network = "TestNet".into();
    let mut store = CredentialStore::new();
    store.insert("alice", StoredPassword::parse("{PLAIN}wonderland").unwrap());
    config.accounts = Some(Arc::new(store));
    config.opers.push(OperAccount {
        name: "admin".into(),
        password: StoredPassword::parse(&hash_password("secret").unwrap()).unwrap(),
    });
    config
}

pub fn server() -> Arc<IrcServer> {
    Arc::new(IrcServer::new(config()))
}

/// A client of `server`.
pub struct Client {
    pub peer: TestPeer,
    pub nick: String,
}

impl Client {
    pub async fn send(&mut self, line: &str) {
        self.peer.send_line(line).await;
    }

    /// The next line.
    pub async fn line(&mut self) -> String {
        self.peer
            .read_line()
            .await
            .unwrap_or_else(|| panic!("{}: connection closed", self.nick))
    }

    /// Expect the next line to be exactly `expected` (`*` at the end: prefix match).
    pub async fn expect(&mut self, expected: &str) {
        self.peer.expect_line(expected).await;
    }

    /// Read lines until one contains `needle`; returns it. Panics after 200 lines.
    pub async fn until(&mut self, needle: &str) -> String {
        for _ in 0..200 {
            let line = self.line().await;
            if line.contains(needle) {
                return line;
            }
        }
        panic!("{}: no line containing {needle:?}", self.nick);
    }

    /// Lines up to and including the one containing `needle`.
    pub async fn collect_until(&mut self, needle: &str) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..500 {
            let line = self.line().await;
            let done = line.contains(needle);
            out.push(line);
            if done {
                return out;
            }
        }
        panic!("{}: no line containing {needle:?}", self.nick);
    }

    /// A PING/PONG round trip: everything the server sent before is read and returned.
    pub async fn sync(&mut self) -> Vec<String> {
        self.send("PING :sync-token").await;
        let mut lines = self.collect_until("sync-token").await;
        lines.pop();
        lines
    }

    /// Assert that nothing arrived since the last read.
    pub async fn expect_nothing(&mut self) {
        let lines = self.sync().await;
        assert!(lines.is_empty(), "{}: unexpected {lines:?}", self.nick);
    }
}

/// Connect without registering.
pub fn connect(server: &Arc<IrcServer>, name: &str) -> Client {
    Client {
        peer: TestPeer::serve(server.clone()),
        nick: name.to_owned(),
    }
}

/// Connect and register as `nick` (with CAPs if any), reading the whole welcome burst.
pub async fn register_with_caps(server: &Arc<IrcServer>, nick: &str, caps: &str) -> Client {
    let mut c = connect(server, nick);
    if !caps.is_empty() {
        c.send("CAP LS 302").await;
        c.until("CAP * LS").await;
        c.send(&format!("CAP REQ :{caps}")).await;
        c.until("ACK").await;
    }
    c.send(&format!("NICK {nick}")).await;
    c.send(&format!("USER {nick} 0 * :Real {nick}")).await;
    if !caps.is_empty() {
        c.send("CAP END").await;
    }
    c.until(" 001 ").await;
    c.until(" 422 ").await;
    c
}

pub async fn register(server: &Arc<IrcServer>, nick: &str) -> Client {
    register_with_caps(server, nick, "").await
}

/// Join `channel` and read through the end of NAMES.
pub async fn join(c: &mut Client, channel: &str) {
    c.send(&format!("JOIN {channel}")).await;
    c.until(" 366 ").await;
}
