//! `torsion-pop3 retrieve`: download a POP3 maildrop into a local Maildir (`new/`, so mail
//! programs show it unread). With `--keep-uidl-state FILE`, only messages whose UIDL is not in
//! the file are downloaded (fetchmail's UIDL tracking); each UIDL is added, durably, right
//! after its message is delivered, so an interrupted run loses nothing and fetches nothing
//! twice. `--delete` DELEtes what was downloaded (now or before) and QUITs so the server
//! removes it. Exit 0 on success, 1 when the server or the local Maildir fails, 2 for bad
//! arguments.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use torsion_core::runner::{self, LogFormat, RunError};
use torsion_core::ClientEndpoint;
use torsion_mailstore::Maildir;
use torsion_pop3::client::{Client, ClientConfig, ClientError, TlsMode};

/// The environment variable the password is taken from (keeps it out of `ps`).
pub const PASSWORD_ENV: &str = "TORSION_POP3_PASSWORD";

/// Arguments of `torsion-pop3 retrieve`.
#[derive(Debug, clap::Args)]
pub struct RetrieveArgs {
    /// The server: HOST[:PORT] (110, or 995 with --tls), or a client endpoint
    /// (tcp:host=H:port=P, tls:host=H:port=P[:trustRoots=PEM]).
    #[arg(long, value_name = "HOST:PORT|ENDPOINT")]
    pub server: String,
    /// Implicit TLS from the first byte (port 995). Without it, STLS is required.
    #[arg(long, conflicts_with = "no_tls")]
    pub tls: bool,
    /// No TLS at all (the password then also needs --allow-plaintext-auth).
    #[arg(long)]
    pub no_tls: bool,
    /// CA certificates (PEM) to verify the server with, instead of the system store.
    #[arg(long, value_name = "PEM")]
    pub trust_roots: Option<PathBuf>,
    /// The account (`user@domain`). The password comes from TORSION_POP3_PASSWORD, else from
    /// the first line of stdin.
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// Send the password over an unencrypted connection.
    #[arg(long)]
    pub allow_plaintext_auth: bool,
    /// The local Maildir to deliver into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub to_maildir: PathBuf,
    /// Delete downloaded messages from the server.
    #[arg(long)]
    pub delete: bool,
    /// Remember downloaded messages by UIDL in FILE and download only new ones.
    #[arg(long, value_name = "FILE")]
    pub keep_uidl_state: Option<PathBuf>,
    /// Seconds to wait for each response.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub timeout: u64,
    /// Log filter.
    #[arg(long, value_name = "LEVEL", default_value = "warn")]
    pub log_level: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

fn failure(server: &str, e: ClientError) -> RunError {
    RunError::Runtime(format!("{server}: {e}"))
}

fn local_failure(path: &Path, e: impl std::fmt::Display) -> RunError {
    RunError::Runtime(format!("{}: {e}", path.display()))
}

/// The UIDLs in the state file (one per line).
fn load_state(path: &Path) -> Result<HashSet<String>, RunError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(local_failure(path, e)),
    }
}

/// Rewrite the state file with `keep` (temporary file, fsync, rename).
fn save_state(path: &Path, keep: &[&str]) -> Result<(), RunError> {
    let tmp = path.with_extension("tmp");
    let mut text = keep.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    let mut file = std::fs::File::create(&tmp).map_err(|e| local_failure(&tmp, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| local_failure(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| local_failure(path, e))
}

async fn connect(args: &RetrieveArgs) -> Result<Client, RunError> {
    let port = if args.tls { 995 } else { 110 };
    let endpoint = ClientEndpoint::parse_with_default_port(&args.server, Some(port))
        .map_err(|e| RunError::Config(format!("--server: {e}")))?;
    let tls = match (args.tls, args.no_tls) {
        (true, _) => TlsMode::Implicit,
        (false, true) => TlsMode::None,
        (false, false) if matches!(endpoint, ClientEndpoint::Tls { .. }) => TlsMode::Implicit,
        (false, false) => TlsMode::Stls,
    };
    let mut config = ClientConfig::new()
        .with_tls(tls)
        .with_timeout(Duration::from_secs(args.timeout.max(1)));
    config.trust_roots = args.trust_roots.clone();
    config.allow_plaintext_auth = args.allow_plaintext_auth;
    let password =
        torsion_core::cred::passwd::client_password(PASSWORD_ENV).map_err(RunError::Config)?;
    let mut client = Client::connect(&endpoint, config)
        .await
        .map_err(|e| failure(&args.server, e))?;
    let sasl_plain = client.capabilities().iter().any(|c| {
        c.to_ascii_uppercase().starts_with("SASL") && c.to_ascii_uppercase().contains(" PLAIN")
    });
    let login = if sasl_plain {
        client.auth_plain(&args.user, &password).await
    } else {
        client.login(&args.user, &password).await
    };
    login.map_err(|e| failure(&args.server, e))?;
    Ok(client)
}

/// Run `torsion-pop3 retrieve`.
pub async fn retrieve(args: RetrieveArgs) -> Result<(), RunError> {
    runner::init_logging(&args.log_level, args.log_format)?;
    let server = args.server.clone();
    let local =
        Maildir::create(&args.to_maildir).map_err(|e| local_failure(&args.to_maildir, e))?;
    let seen = match &args.keep_uidl_state {
        Some(path) => load_state(path)?,
        None => HashSet::new(),
    };
    let mut client = connect(&args).await?;
    let listing = client.uidl().await.map_err(|e| failure(&server, e))?;
    let wanted: Vec<u32> = listing
        .iter()
        .filter(|(_, id)| !seen.contains(id))
        .map(|(n, _)| *n)
        .collect();
    let already = listing.len() - wanted.len();
    let mut state = match &args.keep_uidl_state {
        Some(path) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| local_failure(path, e))?,
        ),
        None => None,
    };
    let id_of = |n: u32| {
        listing
            .iter()
            .find(|(m, _)| *m == n)
            .map(|(_, id)| id.clone())
            .unwrap_or_default()
    };
    let mut fetched: Vec<u32> = Vec::new();
    let mut refused = 0u64;
    client
        .retr_each(&wanted, |n, message| {
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("{server}: message {n}: {e}");
                    refused += 1;
                    return Ok(());
                }
            };
            local.deliver_parts(&[&message], &mut |_| {})?;
            if let Some(state) = state.as_mut() {
                writeln!(state, "{}", id_of(n))?;
                state.sync_data()?;
            }
            fetched.push(n);
            Ok(())
        })
        .await
        .map_err(|e| match e {
            ClientError::Io(e) => local_failure(&args.to_maildir, e),
            e => failure(&server, e),
        })?;
    if args.delete {
        // What is in the state file was downloaded by an earlier run: it may go too.
        let mut doomed: Vec<u32> = listing
            .iter()
            .filter(|(_, id)| seen.contains(id))
            .map(|(n, _)| *n)
            .chain(fetched.iter().copied())
            .collect();
        doomed.sort_unstable();
        client
            .dele_many(&doomed)
            .await
            .map_err(|e| failure(&server, e))?;
        client.quit().await.map_err(|e| failure(&server, e))?;
        if let Some(path) = &args.keep_uidl_state {
            // Deleted on the server: no need to remember them any longer.
            let keep: Vec<&str> = listing
                .iter()
                .filter(|(n, _)| !doomed.contains(n))
                .map(|(_, id)| id.as_str())
                .filter(|id| seen.contains(*id))
                .collect();
            drop(state);
            save_state(path, &keep)?;
        }
    } else {
        client.quit().await.map_err(|e| failure(&server, e))?;
    }
    let _ = writeln!(
        std::io::stdout().lock(),
        "retrieved {} new message(s) into {} ({already} already there{}{})",
        fetched.len(),
        args.to_maildir.display(),
        if args.delete {
            ", deleted on the server"
        } else {
            ""
        },
        if refused > 0 {
            format!(", {refused} refused by the server")
        } else {
            String::new()
        }
    );
    if refused > 0 {
        return Err(RunError::Runtime(format!(
            "{server}: {refused} message(s) could not be retrieved"
        )));
    }
    Ok(())
}
