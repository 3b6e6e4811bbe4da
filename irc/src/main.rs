//! `torsion-irc`: an IRC server (`serve`), a one-shot notifier (`send`) and a password hasher
//! (`passwd`) for `--auth` files and `--oper` lines.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use torsion_core::cred::passwd::{passwd_main, PasswdArgs};
use torsion_core::cred::{CredentialStore, StoredPassword};
use torsion_core::runner::{self, RunError, ServiceArgs};
use torsion_irc::server::{IrcServer, OperAccount, ServerConfig};

mod send_cli;

#[derive(Debug, clap::Parser)]
#[command(name = "torsion-irc", version, about = "IRC server and notifier")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the IRC server.
    Serve(Box<ServeArgs>),
    /// Join a channel, send each line of MESSAGE (or stdin), and quit — for CI notifications.
    Send(send_cli::SendArgs),
    /// Hash a password (read from stdin) into a `NAME:{ARGON2ID}…` line for --auth files and --oper.
    Passwd(PasswdArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// This server's name, the source of its numerics.
    #[arg(long, value_name = "NAME", default_value = "irc.torsion.test")]
    server_name: String,
    /// The network name (ISUPPORT NETWORK).
    #[arg(long, value_name = "NAME", default_value = "TorsionNet")]
    network: String,
    /// Message of the day, re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    motd: Option<PathBuf>,
    /// Channel that always exists, even empty (repeatable; Twisted's --group).
    #[arg(long = "channel", value_name = "NAME")]
    channels: Vec<String>,
    /// Accounts for SASL PLAIN: memory:USER:PASS[,…] or file:PATH (lines USER:{SCHEME}hash).
    #[arg(long, value_name = "SPEC")]
    auth: Option<String>,
    /// IRC operator NAME:{SCHEME}hash (repeatable; make the hash with `torsion-irc passwd`).
    #[arg(long = "oper", value_name = "NAME:{SCHEME}HASH")]
    opers: Vec<String>,
    /// Connection password clients must send with PASS.
    #[arg(
        long,
        value_name = "PASS",
        env = "TORSION_IRC_PASSWORD",
        hide_env_values = true
    )]
    password: Option<String>,
    /// Most clients connected at once.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_clients: usize,
    /// Bytes of output that may wait for one client before it is disconnected.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    sendq: usize,
    /// Flood control: messages a client may send at once.
    #[arg(long, value_name = "N", default_value_t = 10)]
    flood_burst: u32,
    /// Flood control: messages per second after the burst.
    #[arg(long, value_name = "N", default_value_t = 2.0)]
    flood_rate: f64,
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> ExitCode {
    let cli: Cli = runner::parse_args();
    match cli.command {
        Command::Serve(args) => runner::run("torsion-irc", serve(*args)),
        Command::Send(args) => runner::run("torsion-irc", send_cli::run(args)),
        Command::Passwd(args) => passwd_main("torsion-irc", &args),
    }
}

fn config(args: &ServeArgs) -> Result<ServerConfig, RunError> {
    let mut config = ServerConfig::new(&args.server_name);
    if !crate_valid_server_name(&args.server_name) {
        return Err(RunError::Config(format!(
            "--server-name {:?}: must be a host name with a dot and no spaces",
            args.server_name
        )));
    }
    config.network = args.network.clone();
    if let Some(path) = &args.motd {
        config.motd = Some(torsion_irc::server::read_motd(path).map_err(RunError::Config)?);
    }
    for name in &args.channels {
        if !torsion_irc::proto::valid_channel(name, config.limits.channel_len) {
            return Err(RunError::Config(format!(
                "--channel {name:?}: not a valid channel name (#name)"
            )));
        }
        config.channels.push(name.clone());
    }
    if let Some(spec) = &args.auth {
        let store = CredentialStore::from_auth_spec(spec)
            .map_err(|e| RunError::Config(format!("--auth: {e}")))?;
        config.accounts = Some(Arc::new(store));
    }
    for line in &args.opers {
        let (name, hash) = line.split_once(':').ok_or_else(|| {
            RunError::Config(format!("--oper {line:?}: expected NAME:{{SCHEME}}hash"))
        })?;
        let password = StoredPassword::parse(hash)
            .map_err(|e| RunError::Config(format!("--oper {name}: {e}")))?;
        config.opers.push(OperAccount {
            name: name.to_owned(),
            password,
        });
    }
    config.password = args.password.clone();
    config.limits.max_clients = args.max_clients;
    config.limits.sendq = args.sendq.max(4096);
    config.limits.flood_burst = args.flood_burst.max(1);
    if args.flood_rate.is_nan() || args.flood_rate <= 0.0 {
        return Err(RunError::Config("--flood-rate must be above 0".into()));
    }
    config.limits.flood_rate = args.flood_rate;
    Ok(config)
}

fn crate_valid_server_name(name: &str) -> bool {
    name.contains('.')
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

async fn serve(args: ServeArgs) -> Result<(), RunError> {
    let config = config(&args)?;
    runner::init_logging(&args.service.log_level, args.service.log_format)?;
    let mut server = IrcServer::new(config);
    if let Some(path) = &args.motd {
        server = server.with_motd_file(path.clone());
    }
    runner::serve(Arc::new(server), &args.service, &["tcp:6667"]).await
}
