//! `torsion-pop3`: the POP3 server (`serve`) over the same mail root, users file and address
//! form (`user@domain` logs in) as `torsion-smtp serve` and `torsion-imap serve`, a
//! password hasher (`passwd`), and the client side: `retrieve` (download into a Maildir).

mod retrieve_cli;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use torsion_core::cred::passwd::{passwd_main, PasswdArgs};
use torsion_core::cred::CredentialStore;
use torsion_core::runner::{self, RunError, ServiceArgs, StartTlsArgs};
use torsion_mailstore::{Aliases, Directory, MailStore};
use torsion_pop3::server::{Config, DeleteMode, Pop3Server};

#[derive(Debug, clap::Parser)]
#[command(
    name = "torsion-pop3",
    version,
    about = "POP3 server on a Maildir root"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the POP3 server (default --listen tcp:110; `tls:995:privateKey=…:certKey=…` for
    /// implicit TLS).
    Serve(Box<ServeArgs>),
    /// Hash a password (read from stdin) into a users-file line `USER@DOMAIN:{ARGON2ID}…`.
    Passwd(PasswdArgs),
    /// Download the maildrop into a local Maildir (only new messages with
    /// --keep-uidl-state; --delete removes them from the server).
    Retrieve(Box<retrieve_cli::RetrieveArgs>),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DeleteArg {
    /// DELEted messages are removed (IMAP sees them expunged).
    Expunge,
    /// DELEted messages are flagged \Deleted and hidden from POP3 (kept for IMAP).
    Flag,
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
    /// Allow USER/PASS and AUTH over unencrypted connections (tests, loopback set-ups).
    #[arg(long)]
    allow_plaintext_auth: bool,
    /// What DELE does when the session QUITs.
    #[arg(long, value_enum, default_value_t = DeleteArg::Expunge)]
    delete_mode: DeleteArg,
    /// Seconds an account must wait between logins (advertised as LOGIN-DELAY; 0: none).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    login_delay: u32,
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> ExitCode {
    let cli: Cli = runner::parse_args();
    match cli.command {
        Command::Serve(args) => runner::run("torsion-pop3", serve(*args)),
        Command::Passwd(args) => passwd_main("torsion-pop3", &args),
        Command::Retrieve(args) => runner::run("torsion-pop3", retrieve_cli::retrieve(*args)),
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
        stls: tls.is_some(),
        store: Arc::new(store),
        delete_mode: match args.delete_mode {
            DeleteArg::Expunge => DeleteMode::Expunge,
            DeleteArg::Flag => DeleteMode::Flag,
        },
        login_delay: args.login_delay,
    };
    let server = Arc::new(Pop3Server::new(config, directory, tls));
    runner::serve(server, &args.service, &["tcp:110"]).await
}
