//! What the mail end-to-end tests share: one mail root and account, a torsion-smtp server
//! delivering into it, a torsion-imap server reading it, and the clients' settings.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use torsion_core::cred::CredentialStore;
use torsion_core::testkit::{RunningServer, TempDir};
use torsion_imap::client::{Client as ImapClient, ClientConfig as ImapConfig, TlsMode as ImapTls};
use torsion_imap::server::{Config, ImapServer};
use torsion_mailstore::{Aliases, Directory, MailStore};
use torsion_smtp::server::{Mode, SessionConfig, SmtpServer};
use torsion_smtp::{Client, ClientConfig, TlsMode};

/// The one account, `alice@example.test`.
pub const USER: &str = "alice@example.test";
pub const PASSWORD: &str = "wonderland";

/// A mail root with SMTP delivering and IMAP reading.
pub struct MailSite {
    pub dir: TempDir,
    pub store: MailStore,
    pub directory: Arc<Directory>,
    pub smtp: RunningServer,
    pub imap: RunningServer,
}

impl MailSite {
    pub async fn start(name: &str) -> MailSite {
        let dir = TempDir::new(name).unwrap();
        let store = MailStore::open(dir.path().join("mail")).unwrap();
        let accounts: CredentialStore = format!("memory:{USER}:{PASSWORD}").parse().unwrap();
        let directory = Arc::new(Directory::new(
            ["example.test".to_owned()],
            accounts,
            Aliases::new(),
        ));
        let smtp = RunningServer::start(
            Arc::new(SmtpServer::new(
                Arc::new(SessionConfig {
                    hostname: "mx.example.test".into(),
                    directory: directory.clone(),
                    max_message_size: 1 << 20,
                    max_recipients: 10,
                    max_errors: 10,
                    allow_plaintext_auth: false,
                    relay_enabled: false,
                }),
                Mode::Relay,
                store.clone(),
            )),
            &["tcp:0:interface=127.0.0.1"],
        )
        .await;
        let imap = RunningServer::start(
            Arc::new(ImapServer::new(
                Config {
                    hostname: "imap.example.test".into(),
                    allow_plaintext_auth: true,
                    starttls: false,
                    store: Arc::new(store.clone()),
                    append_limit: 1 << 20,
                },
                directory.clone(),
                None,
            )),
            &["tcp:0:interface=127.0.0.1"],
        )
        .await;
        MailSite {
            dir,
            store,
            directory,
            smtp,
            imap,
        }
    }

    /// An SMTP client (no TLS) connected to the site's SMTP server.
    pub async fn sender(&self) -> Client {
        let mut config = ClientConfig::new("remote.test");
        config.tls = TlsMode::None;
        Client::connect_addr(self.smtp.addr(), "127.0.0.1", config)
            .await
            .unwrap()
    }

    /// An IMAP client logged in as the account (no TLS).
    pub async fn reader(&self) -> ImapClient {
        let config = ImapConfig::new()
            .with_tls(ImapTls::None)
            .allow_plaintext_auth()
            .with_timeout(Duration::from_secs(20));
        let mut reader = ImapClient::connect(&self.imap.client_endpoint(), config)
            .await
            .unwrap();
        reader.login(USER, PASSWORD).await.unwrap();
        reader
    }

    pub async fn stop(self) {
        self.smtp.stop().await;
        self.imap.stop().await;
    }
}
