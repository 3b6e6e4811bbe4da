//! `torsion-smtp`: an ESMTP server with submission and a relay queue (`serve`), the queue
//! listing (`queue`), a sending client (`send`) and a password hasher (`passwd`).

// `queue` prints the queue: output is its purpose.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use torsion_core::cred::passwd::{passwd_main, PasswdArgs};
use torsion_core::cred::CredentialStore;
use torsion_core::runner::{self, RunError, Server, ServerControl, ServiceArgs, StartTlsArgs};
use torsion_core::ServerEndpoint;
use torsion_mailstore::{Aliases, Directory, MailStore};
use torsion_smtp::server::relay_worker::{LocalDelivery, RelayOptions, RelayWorker};
use torsion_smtp::server::{Mode, RecipientState, RelayQueue, SessionConfig, SmtpServer};

mod send_cli;

#[derive(Debug, clap::Parser)]
#[command(
    name = "torsion-smtp",
    version,
    about = "ESMTP server, relay queue and client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the SMTP server (port 25 rules on --listen, AUTH-required on --submission).
    Serve(Box<ServeArgs>),
    /// List the relay queue.
    Queue(QueueArgs),
    /// Send a message from a file or stdin.
    Send(send_cli::SendArgs),
    /// Hash a password (read from stdin) into a users-file line `USER@DOMAIN:{ARGON2ID}…`.
    Passwd(PasswdArgs),
}

#[derive(Debug, clap::Args)]
struct QueueArgs {
    /// The queue directory.
    #[arg(long, value_name = "DIR", default_value = "/var/spool/torsion-smtp")]
    queue_dir: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Submission endpoint (repeatable), e.g. tcp:587 or tls:465:privateKey=…: AUTH required.
    #[arg(long = "submission", value_name = "ENDPOINT")]
    submission: Vec<ServerEndpoint>,
    /// This server's host name (greeting, EHLO, Received:).
    #[arg(long, value_name = "NAME")]
    hostname: String,
    /// A domain whose mail is delivered here (repeatable).
    #[arg(long = "domain", value_name = "DOMAIN", required = true)]
    domains: Vec<String>,
    /// Maildir root: DIR/domain/user/ is each mailbox.
    #[arg(long, value_name = "DIR")]
    mail_root: PathBuf,
    /// Accounts: lines USER@DOMAIN:{SCHEME}hash (make them with `torsion-smtp passwd`).
    #[arg(long, value_name = "FILE")]
    users: PathBuf,
    /// Aliases: `alias@domain: target, …` and `@domain: catchall` lines.
    #[arg(long, value_name = "FILE")]
    aliases: Option<PathBuf>,
    #[command(flatten)]
    tls: StartTlsArgs,
    /// Largest message accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 25 * 1024 * 1024)]
    max_message_size: usize,
    /// Recipients per message.
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_recipients: usize,
    /// Relay queue directory (mail from authenticated users to other domains).
    #[arg(long, value_name = "DIR")]
    queue_dir: Option<PathBuf>,
    /// Send all relayed mail to this host instead of looking up MX records.
    #[arg(long, value_name = "HOST:PORT")]
    smarthost: Option<String>,
    /// DNS resolvers for MX lookups instead of /etc/resolv.conf (repeatable).
    #[arg(long = "resolver", value_name = "IP[:PORT]")]
    resolvers: Vec<String>,
    /// Allow AUTH over unencrypted connections (tests, loopback set-ups).
    #[arg(long)]
    allow_plaintext_auth: bool,
    /// Connect to MX hosts on this port instead of 25 (test hierarchies only).
    #[arg(long, value_name = "PORT", hide = true)]
    relay_port: Option<u16>,
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> ExitCode {
    let cli: Cli = runner::parse_args();
    match cli.command {
        Command::Serve(args) => runner::run("torsion-smtp", serve(*args)),
        Command::Send(args) => runner::run("torsion-smtp", send_cli::run(args)),
        Command::Queue(args) => runner::run("torsion-smtp", async move { list_queue(&args) }),
        Command::Passwd(args) => passwd_main("torsion-smtp", &args),
    }
}

fn list_queue(args: &QueueArgs) -> Result<(), RunError> {
    let queue = RelayQueue::open(&args.queue_dir)
        .map_err(|e| RunError::Config(format!("--queue-dir {}: {e}", args.queue_dir.display())))?;
    let entries = queue.list().map_err(|e| RunError::Runtime(e.to_string()))?;
    if entries.is_empty() {
        println!("Mail queue is empty");
        return Ok(());
    }
    for e in &entries {
        let size = std::fs::metadata(queue.dir().join(format!("{}.eml", e.id)))
            .map(|m| m.len())
            .unwrap_or(0);
        let age = torsion_core::date::unix_now().saturating_sub(e.created);
        println!(
            "{}  {:>8}  {}  attempts={} age={}s  <{}>",
            e.id,
            size,
            torsion_core::date::rfc5322_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(e.created)
            ),
            e.attempts,
            age,
            e.from.as_deref().unwrap_or("")
        );
        if let Some(err) = &e.last_error {
            println!("    ({err})");
        }
        for (rcpt, state) in &e.recipients {
            let state = match state {
                RecipientState::Pending => "pending".to_owned(),
                RecipientState::Delivered => "delivered".to_owned(),
                RecipientState::Failed(why) => format!("failed: {why}"),
            };
            println!("    {rcpt}  {state}");
        }
    }
    println!("-- {} message(s) in queue", entries.len());
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), RunError> {
    let config_err =
        |what: &str, e: &dyn std::fmt::Display| RunError::Config(format!("{what}: {e}"));
    let accounts =
        CredentialStore::from_file(&args.users).map_err(|e| config_err("--users", &e))?;
    let aliases = match &args.aliases {
        Some(path) => Aliases::load(path).map_err(|e| config_err("--aliases", &e))?,
        None => Aliases::new(),
    };
    for domain in &args.domains {
        if !torsion_smtp::proto::command::valid_domain(domain) {
            return Err(RunError::Config(format!(
                "--domain {domain:?}: not a domain name"
            )));
        }
    }
    let directory = Arc::new(Directory::new(args.domains.clone(), accounts, aliases));
    let store = MailStore::open(&args.mail_root)
        .map_err(|e| config_err(&format!("--mail-root {}", args.mail_root.display()), &e))?;
    let tls = args.tls.load()?;
    let queue = match &args.queue_dir {
        Some(dir) => {
            Some(Arc::new(RelayQueue::open(dir).map_err(|e| {
                config_err(&format!("--queue-dir {}", dir.display()), &e)
            })?))
        }
        None => None,
    };
    let relay_options = RelayOptions::from_flags(
        &args.hostname,
        args.smarthost.as_deref(),
        &args.resolvers,
        args.relay_port,
    )
    .map_err(RunError::Config)?;
    runner::init_logging(&args.service.log_level, args.service.log_format)?;

    let session_config = Arc::new(SessionConfig {
        hostname: args.hostname.clone(),
        directory,
        max_message_size: args.max_message_size,
        max_recipients: args.max_recipients.max(1),
        max_errors: 10,
        allow_plaintext_auth: args.allow_plaintext_auth,
        relay_enabled: queue.is_some(),
    });
    let build = |mode: Mode| {
        let mut server = SmtpServer::new(session_config.clone(), mode, store.clone());
        if let Some(tls) = &tls {
            server = server.with_tls(tls.clone());
        }
        if let Some(queue) = &queue {
            server = server.with_relay(queue.clone());
        }
        Arc::new(server)
    };
    let control = ServerControl::new();
    let limits = args.service.limits_over(SmtpServer::standard_limits());
    let endpoints = args.service.endpoints_or(&["tcp:25"])?;
    let mta = Server::bind_with_control(
        build(Mode::Relay),
        &endpoints,
        limits.clone(),
        control.clone(),
    )
    .await?;
    let submission = if args.submission.is_empty() {
        None
    } else {
        Some(
            Server::bind_with_control(
                build(Mode::Submission),
                &args.submission,
                limits,
                control.clone(),
            )
            .await?,
        )
    };
    let signals = tokio::spawn(runner::watch_signals(control.clone()));
    let worker = queue.map(|queue| {
        let worker = RelayWorker::new(queue, relay_options, control.shutdown_token()).with_local(
            LocalDelivery {
                store: store.clone(),
                directory: session_config.directory.clone(),
            },
        );
        tokio::spawn(worker.run())
    });
    let result = match submission {
        Some(sub) => {
            let (a, b) = tokio::join!(mta.run(), sub.run());
            a.and(b)
        }
        None => mta.run().await,
    };
    signals.abort();
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    result
}
