//! `torsion-imap fetch` (download a mailbox into a local Maildir, once per message: re-runs
//! fetch only what is new, by UIDVALIDITY and UID) and `torsion-imap watch` (a line per new
//! message as it arrives, through IDLE). Exit 0 on success, 1 when the server or the local
//! Maildir fails, 2 for bad arguments.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use torsion_core::runner::{self, LogFormat, RunError};
use torsion_core::ClientEndpoint;
use torsion_imap::client::{Client, ClientConfig, ClientError, Event, TlsMode};
use torsion_mailstore::{Flags, Keywords, Maildir};

/// The environment variable the password is taken from (keeps it out of `ps`).
pub const PASSWORD_ENV: &str = "TORSION_IMAP_PASSWORD";
/// The state file `fetch` keeps in the target Maildir (one `MAILBOX\tUIDVALIDITY\tUID` line
/// per message fetched; Maildir readers ignore files they do not know).
pub const STATE_FILE: &str = "torsion-fetch.state";
/// Bytes of message bodies asked for in one FETCH.
const BATCH_BYTES: u64 = 16 * 1024 * 1024;

/// How to reach and log in to the server (shared by `fetch` and `watch`).
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// The server: HOST[:PORT] (143, or 993 with --tls), or a client endpoint
    /// (tcp:host=H:port=P, tls:host=H:port=P[:trustRoots=PEM]).
    #[arg(long, value_name = "HOST:PORT|ENDPOINT")]
    pub server: String,
    /// Implicit TLS from the first byte (port 993). Without it, STARTTLS is required.
    #[arg(long, conflicts_with = "no_tls")]
    pub tls: bool,
    /// No TLS at all (the password then also needs --allow-plaintext-auth).
    #[arg(long)]
    pub no_tls: bool,
    /// CA certificates (PEM) to verify the server with, instead of the system store.
    #[arg(long, value_name = "PEM")]
    pub trust_roots: Option<PathBuf>,
    /// The account (`user@domain`). The password comes from TORSION_IMAP_PASSWORD, else
    /// from the first line of stdin.
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// Send the password over an unencrypted connection.
    #[arg(long)]
    pub allow_plaintext_auth: bool,
    /// The mailbox (UTF-8 name).
    #[arg(long, value_name = "NAME", default_value = "INBOX")]
    pub mailbox: String,
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

/// Arguments of `torsion-imap fetch`.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Only messages matching these IMAP search keys (e.g. `UNSEEN SINCE 1-Nov-2026`).
    #[arg(long, value_name = "KEYS", default_value = "ALL")]
    pub search: String,
    /// The local Maildir to download into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub to_maildir: PathBuf,
}

/// Arguments of `torsion-imap watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Exit after this many new messages (default: run until interrupted).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

fn failure(server: &str, e: ClientError) -> RunError {
    RunError::Runtime(format!("{server}: {e}"))
}

/// Connect and log in as the flags say.
async fn connect(args: &ConnectArgs) -> Result<Client, RunError> {
    runner::init_logging(&args.log_level, args.log_format)?;
    let port = if args.tls { 993 } else { 143 };
    let endpoint = ClientEndpoint::parse_with_default_port(&args.server, Some(port))
        .map_err(|e| RunError::Config(format!("--server: {e}")))?;
    let tls = match (args.tls, args.no_tls) {
        (true, _) => TlsMode::Implicit,
        (false, true) => TlsMode::None,
        (false, false) if matches!(endpoint, ClientEndpoint::Tls { .. }) => TlsMode::Implicit,
        (false, false) => TlsMode::StartTls,
    };
    let mut config = ClientConfig::new()
        .with_tls(tls)
        .with_timeout(Duration::from_secs(args.timeout.max(1)));
    config.trust_roots = args.trust_roots.clone();
    config.allow_plaintext_auth = args.allow_plaintext_auth;
    let password = password()?;
    let mut client = Client::connect(&endpoint, config)
        .await
        .map_err(|e| failure(&args.server, e))?;
    let login = if client.has_capability("AUTH=PLAIN") {
        client.authenticate_plain(&args.user, &password).await
    } else {
        client.login(&args.user, &password).await
    };
    login.map_err(|e| failure(&args.server, e))?;
    Ok(client)
}

fn password() -> Result<String, RunError> {
    torsion_core::cred::passwd::client_password(PASSWORD_ENV).map_err(RunError::Config)
}

/// What `fetch` has already downloaded: (mailbox, UIDVALIDITY, UID).
fn load_state(path: &Path) -> Result<HashSet<(String, u32, u32)>, RunError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(RunError::Runtime(format!("{}: {e}", path.display()))),
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (mailbox, validity, uid) = (f.next()?, f.next()?, f.next()?);
            Some((
                mailbox.to_owned(),
                validity.parse().ok()?,
                uid.parse().ok()?,
            ))
        })
        .collect())
}

fn flags_of(names: &[String]) -> Flags {
    names
        .iter()
        .fold(Flags::EMPTY, |f, n| match n.to_ascii_lowercase().as_str() {
            "\\seen" => f.with(Flags::SEEN),
            "\\answered" => f.with(Flags::ANSWERED),
            "\\flagged" => f.with(Flags::FLAGGED),
            "\\draft" => f.with(Flags::DRAFT),
            "$forwarded" => f.with(Flags::PASSED),
            _ => f,
        })
}

/// Run `torsion-imap fetch`.
pub async fn fetch(args: FetchArgs) -> Result<(), RunError> {
    let server = args.connect.server.clone();
    let mailbox = args.connect.mailbox.clone();
    let local = Maildir::create(&args.to_maildir)
        .map_err(|e| RunError::Runtime(format!("{}: {e}", args.to_maildir.display())))?;
    let state_path = args.to_maildir.join(STATE_FILE);
    let done = load_state(&state_path)?;
    let mut client = connect(&args.connect).await?;
    let info = client
        .examine(&mailbox)
        .await
        .map_err(|e| failure(&server, e))?;
    let mut uids = client
        .uid_search(&args.search)
        .await
        .map_err(|e| failure(&server, e))?;
    let before = uids.len();
    uids.retain(|u| !done.contains(&(mailbox.clone(), info.uid_validity, *u)));
    let already = before - uids.len();
    // Sizes first, so each FETCH of bodies stays within BATCH_BYTES.
    let mut sizes = Vec::new();
    for chunk in uids.chunks(500) {
        let set: Vec<String> = chunk.iter().map(u32::to_string).collect();
        let got = client
            .uid_fetch(&set.join(","), "(UID RFC822.SIZE)")
            .await
            .map_err(|e| failure(&server, e))?;
        sizes.extend(got.into_iter().filter_map(|m| Some((m.uid?, m.size?))));
    }
    let mut state = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&state_path)
        .map_err(|e| RunError::Runtime(format!("{}: {e}", state_path.display())))?;
    let mut fetched = 0u64;
    let mut batch: Vec<u32> = Vec::new();
    let mut batch_bytes = 0u64;
    let mut i = 0;
    while i <= sizes.len() {
        let next = sizes.get(i);
        let full = next.is_some_and(|(_, s)| batch_bytes + u64::from(*s) > BATCH_BYTES);
        if (next.is_none() || full) && !batch.is_empty() {
            let set: Vec<String> = batch.iter().map(u32::to_string).collect();
            let messages = client
                .uid_fetch(&set.join(","), "(UID FLAGS BODY.PEEK[])")
                .await
                .map_err(|e| failure(&server, e))?;
            for m in messages {
                let (Some(uid), Some(body)) = (m.uid, m.body) else {
                    continue;
                };
                let flags = flags_of(m.flags.as_deref().unwrap_or_default());
                local
                    .append(&[&body], flags, Keywords::EMPTY, None)
                    .map_err(|e| {
                        RunError::Runtime(format!("{}: {e}", args.to_maildir.display()))
                    })?;
                writeln!(state, "{mailbox}\t{}\t{uid}", info.uid_validity)
                    .and_then(|()| state.sync_data())
                    .map_err(|e| RunError::Runtime(format!("{}: {e}", state_path.display())))?;
                fetched += 1;
            }
            batch.clear();
            batch_bytes = 0;
        }
        let Some((uid, size)) = next else { break };
        batch.push(*uid);
        batch_bytes += u64::from(*size);
        i += 1;
    }
    let _ = client.logout().await;
    let _ = writeln!(
        std::io::stdout().lock(),
        "fetched {fetched} new message(s) from {mailbox} into {} ({already} already there)",
        args.to_maildir.display()
    );
    Ok(())
}

/// `UID\tFrom\tSubject` of a message's header.
fn summary(uid: u32, header: &[u8]) -> String {
    let parsed = mail_parser::MessageParser::default().parse_headers(header);
    let from = parsed
        .as_ref()
        .and_then(|m| m.from())
        .and_then(|a| a.first())
        .and_then(|a| a.address.as_deref().map(str::to_owned))
        .unwrap_or_default();
    let subject = parsed
        .as_ref()
        .and_then(|m| m.subject())
        .unwrap_or_default()
        .replace(['\t', '\r', '\n'], " ");
    format!("{uid}\t{from}\t{subject}")
}

/// Run `torsion-imap watch`.
pub async fn watch(args: WatchArgs) -> Result<(), RunError> {
    let server = args.connect.server.clone();
    let mut client = connect(&args.connect).await?;
    let info = client
        .examine(&args.connect.mailbox)
        .await
        .map_err(|e| failure(&server, e))?;
    let mut next_uid = info.uid_next;
    // Anything from UIDNEXT on is reported, even if it arrives before IDLE starts (the
    // server tells it at once then).
    eprintln!("watching {} from UID {next_uid}", args.connect.mailbox);
    let mut printed = 0u64;
    let mut stdout = std::io::stdout();
    loop {
        if args.count.is_some_and(|n| printed >= n) {
            let _ = client.logout().await;
            return Ok(());
        }
        let mut idle = client.idle().await.map_err(|e| failure(&server, e))?;
        loop {
            match idle.next().await.map_err(|e| failure(&server, e))? {
                Event::Exists(_) => break,
                Event::Bye(text) => return Err(failure(&server, ClientError::Closed(text))),
                _ => {}
            }
        }
        client = idle.done().await.map_err(|e| failure(&server, e))?;
        let new = client
            .uid_fetch(&format!("{next_uid}:*"), "(UID BODY.PEEK[HEADER])")
            .await
            .map_err(|e| failure(&server, e))?;
        for m in new {
            let Some(uid) = m.uid.filter(|u| *u >= next_uid) else {
                continue;
            };
            next_uid = uid + 1;
            let _ = writeln!(
                stdout,
                "{}",
                summary(uid, m.header.as_deref().unwrap_or_default())
            );
            let _ = stdout.flush();
            printed += 1;
            if args.count.is_some_and(|n| printed >= n) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_and_flags() {
        assert_eq!(
            summary(
                7,
                b"From: Bob <bob@example.test>\r\nSubject: hi\tthere\r\n\r\n"
            ),
            "7\tbob@example.test\thi there"
        );
        assert_eq!(summary(1, b""), "1\t\t");
        let f = flags_of(&["\\Seen".into(), "$Forwarded".into(), "$Junk".into()]);
        assert!(f.contains(Flags::SEEN.with(Flags::PASSED)));
        assert!(!f.contains(Flags::FLAGGED));
    }
}
