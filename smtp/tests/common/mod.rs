//! Shared test setup: an SMTP server over a temporary mail root, in memory.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use torsion_core::cred::CredentialStore;
use torsion_core::runner::Limits;
use torsion_core::testkit::{TempDir, TestPeer};
use torsion_mailstore::{Aliases, Directory, MailStore};
use torsion_smtp::server::{Mode, RelayQueue, SessionConfig, SmtpServer};

pub struct Setup {
    pub dir: TempDir,
    pub store: MailStore,
    pub config: Arc<SessionConfig>,
    pub queue: Arc<RelayQueue>,
}

pub fn setup_with(tweak: impl FnOnce(&mut SessionConfig)) -> Setup {
    let dir = TempDir::new("smtp-test").unwrap();
    let store = MailStore::open(dir.path().join("mail")).unwrap();
    let accounts: CredentialStore = "memory:alice@example.test:wonderland:bob@example.test:builder"
        .parse()
        .unwrap();
    let aliases = Aliases::parse(
        "postmaster@example.test: alice\nteam@example.test: alice, bob\nfwd@example.test: someone@far.test\nmixed@example.test: alice, someone@far.test\n",
    )
    .unwrap();
    let directory = Directory::new(["example.test".to_owned()], accounts, aliases);
    let mut config = SessionConfig {
        hostname: "mx.example.test".into(),
        directory: Arc::new(directory),
        max_message_size: 10_000,
        max_recipients: 5,
        max_errors: 10,
        allow_plaintext_auth: true,
        relay_enabled: true,
    };
    tweak(&mut config);
    let queue = Arc::new(RelayQueue::open(dir.path().join("queue")).unwrap());
    Setup {
        dir,
        store,
        config: Arc::new(config),
        queue,
    }
}

pub fn setup() -> Setup {
    setup_with(|_| {})
}

impl Setup {
    pub fn server(&self, mode: Mode) -> Arc<SmtpServer> {
        Arc::new(
            SmtpServer::new(self.config.clone(), mode, self.store.clone())
                .with_relay(self.queue.clone()),
        )
    }

    /// A client connected in memory with the server's standard timeouts, greeting read.
    pub async fn connect(&self, mode: Mode) -> TestPeer {
        self.connect_with(mode, SmtpServer::standard_limits()).await
    }

    /// A client connected in memory under `limits` (as the runner would give), greeting read.
    pub async fn connect_with(&self, mode: Mode, limits: Limits) -> TestPeer {
        let options = limits.connection_options();
        let mut peer = TestPeer::serve_with(self.server(mode), |c| c.with_options(options));
        peer.expect_line("220 mx.example.test ESMTP Torsion").await;
        peer
    }

    /// Message files delivered to `user` (in new/).
    pub fn inbox(&self, user: &str) -> Vec<Vec<u8>> {
        let (local, domain) = user.split_once('@').unwrap();
        let new: PathBuf = self
            .dir
            .path()
            .join("mail")
            .join(domain)
            .join(local)
            .join("new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return Vec::new();
        };
        let mut out: Vec<(String, Vec<u8>)> = entries
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        out.sort();
        out.into_iter().map(|(_, b)| b).collect()
    }
}

/// Read a multi-line reply; returns its lines.
pub async fn reply(peer: &mut TestPeer) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = peer.read_line().await.expect("connection closed");
        let last = line.as_bytes().get(3) == Some(&b' ') || line.len() == 3;
        lines.push(line);
        if last {
            return lines;
        }
    }
}

/// EHLO and read the capability list.
pub async fn ehlo(peer: &mut TestPeer) -> Vec<String> {
    peer.send_line("EHLO client.test").await;
    reply(peer).await
}
