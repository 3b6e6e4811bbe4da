//! `torsion-imap`: the IMAP server (`serve`) over the same mail root, users file and address
//! form (`user@domain` logs in) as `torsion-smtp serve`, a password hasher (`passwd`), and
//! the client side: `fetch` (download into a Maildir) and `watch` (new mail as it arrives).

mod fetch_cli;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use torsion_core::cred::passwd::{passwd_main, PasswdArgs};
use torsion_core::cred::CredentialStore;
use torsion_core::runner::{self, RunError, ServiceArgs, StartTlsArgs};
use torsion_imap::server::{Config, ImapServer};
use torsion_mailstore::{Aliases, Directory, MailStore};

#[derive(Debug, clap::Parser)]
#[command(
    name = "torsion-imap",
    version,
    about = "IMAP4rev2/IMAP4rev1 server on a Maildir root"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the IMAP server (default --listen tcp:143; `tls:993:privateKey=…:certKey=…` for
    /// implicit TLS).
    Serve(Box<ServeArgs>),
    /// Hash a password (read from stdin) into a users-file line `USER@DOMAIN:{ARGON2ID}…`.
    Passwd(PasswdArgs),
    /// Download a mailbox into a local Maildir; re-runs fetch only new messages (by UID).
    Fetch(fetch_cli::FetchArgs),
    /// Print a line (UID, sender, subject) per new message as it arrives (IDLE).
    Watch(fetch_cli::WatchArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// This server's host name (greeting).
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    hostname: String,
    /// Maildir root: DIR/domain/user/ is each mailbox (torsion-smtp's --mail-root).
    #[arg(long, value_name = "DIR")]
    mail_root: PathBuf,
    /// Accounts: lines USER@DOMAIN:{SCHEME}hash (torsion-smtp's --users).
    #[arg(long, value_name = "FILE")]
    users: PathBuf,
    /// The domain a bare user name logs in to (repeatable; with exactly one, `alice` means
    /// `alice@DOMAIN`).
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    #[command(flatten)]
    tls: StartTlsArgs,
    /// Allow LOGIN and AUTHENTICATE over unencrypted connections (tests, loopback set-ups).
    #[arg(long)]
    allow_plaintext_auth: bool,
    /// Largest message APPEND accepts, in bytes (APPENDLIMIT).
    #[arg(long, value_name = "BYTES", default_value_t = 50 * 1024 * 1024)]
    append_limit: u64,
    /// Logged-in connections one account may hold at once (0: no limit); one more gets
    /// `NO [LIMIT]`.
    #[arg(long, value_name = "N", default_value_t = torsion_imap::server::driver::DEFAULT_MAX_CONNECTIONS_PER_USER)]
    max_connections_per_user: usize,
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> ExitCode {
    let cli: Cli = runner::parse_args();
    match cli.command {
        Command::Serve(args) => runner::run("torsion-imap", serve(*args)),
        Command::Passwd(args) => passwd_main("torsion-imap", &args),
        Command::Fetch(args) => runner::run("torsion-imap", fetch_cli::fetch(args)),
        Command::Watch(args) => runner::run("torsion-imap", fetch_cli::watch(args)),
    }
}

async fn serve(args: ServeArgs) -> Result<(), RunError> {
    let config_err =
        |what: &str, e: &dyn std::fmt::Display| RunError::Config(format!("{what}: {e}"));
    let accounts =
        CredentialStore::from_file(&args.users).map_err(|e| config_err("--users", &e))?;
    let directory = Arc::new(Directory::new(
        args.domains.clone(),
        accounts,
        Aliases::new(),
    ));
    let store = MailStore::open(&args.mail_root)
        .map_err(|e| config_err(&format!("--mail-root {}", args.mail_root.display()), &e))?;
    let tls = args.tls.load()?;
    runner::init_logging(&args.service.log_level, args.service.log_format)?;
    let config = Config {
        hostname: args.hostname.clone(),
        allow_plaintext_auth: args.allow_plaintext_auth,
        starttls: tls.is_some(),
        store: Arc::new(store),
        append_limit: args.append_limit,
    };
    let server = Arc::new(
        ImapServer::new(config, directory, tls)
            .with_max_connections_per_user(args.max_connections_per_user),
    );
    runner::serve(server, &args.service, &["tcp:143"]).await
}
