//! `torsion-smtp send`: send one message from a file or stdin — the scriptable `sendmail` of
//! this suite. Prints one line per recipient, exits 0 when every recipient took the message,
//! 1 when the server refused (with its reply), 2 for bad arguments.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use torsion_core::runner::{self, LogFormat, RunError};
use torsion_core::ClientEndpoint;
use torsion_smtp::client::{Client, ClientConfig, ClientError, SendReport, TlsMode};

/// The environment variable `--auth` takes the password from (keeps it out of `ps`).
pub const PASSWORD_ENV: &str = "TORSION_SMTP_PASSWORD";
/// SMTP's port when `--server` gives none.
const DEFAULT_PORT: u16 = 25;

/// Arguments of `torsion-smtp send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The server: HOST[:PORT] (port 25), [IPv6]:PORT, or a client endpoint
    /// (tcp:host=H:port=P, tls:host=H:port=P[:trustRoots=PEM]).
    #[arg(long, value_name = "HOST:PORT|ENDPOINT")]
    pub server: String,
    /// Require STARTTLS, verifying the server's certificate.
    #[arg(long, conflicts_with = "tls")]
    pub starttls: bool,
    /// Implicit TLS from the first byte (port 465), verifying the server's certificate.
    #[arg(long)]
    pub tls: bool,
    /// CA certificates (PEM) to verify the server with, instead of the system store.
    #[arg(long, value_name = "PEM")]
    pub trust_roots: Option<PathBuf>,
    /// Authenticate as USER (AUTH PLAIN, or LOGIN). The password comes from the
    /// TORSION_SMTP_PASSWORD environment variable, or else from the first line of stdin when
    /// the message is read from FILE.
    #[arg(long, value_name = "USER")]
    pub auth: Option<String>,
    /// Send the --auth credentials even over an unencrypted connection (by default the
    /// password only goes over TLS: use --starttls or --tls).
    #[arg(long)]
    pub allow_plaintext_auth: bool,
    /// The envelope sender (`<>` or "" for the null sender).
    #[arg(long, value_name = "ADDR", allow_hyphen_values = true)]
    pub from: String,
    /// An envelope recipient; repeat the flag (or separate addresses with commas) for more.
    #[arg(long, value_name = "ADDR", required = true, value_delimiter = ',')]
    pub to: Vec<String>,
    /// The name to give in EHLO/HELO (default: this machine's host name).
    #[arg(long, value_name = "NAME")]
    pub helo: Option<String>,
    /// Seconds to wait for each reply from the server.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// Log filter (error, warn, info, debug, trace, or tracing directives).
    #[arg(long, value_name = "LEVEL", default_value = "warn")]
    pub log_level: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The message (headers and body, as RFC 5322 text). Without FILE, or with `-`, it is
    /// read from stdin.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Run `torsion-smtp send`.
pub async fn run(args: SendArgs) -> Result<(), RunError> {
    runner::init_logging(&args.log_level, args.log_format)?;
    let endpoint = ClientEndpoint::parse_with_default_port(&args.server, Some(DEFAULT_PORT))
        .map_err(|e| RunError::Config(format!("--server: {e}")))?;
    let config = config(&args, &endpoint)?;
    let from_file = args.file.as_ref().filter(|f| f.as_os_str() != "-");
    let config = match &args.auth {
        None => config,
        Some(user) => {
            let password = password(from_file.is_some()).await?;
            config.with_auth(user.clone(), password)
        }
    };
    let message = match from_file {
        Some(path) => {
            let owned = path.clone();
            tokio::task::spawn_blocking(move || std::fs::read(owned))
                .await
                .map_err(|e| RunError::Runtime(format!("reading {}: {e}", path.display())))?
                .map_err(|e| RunError::Config(format!("{}: {e}", path.display())))?
        }
        None => read_stdin().await?,
    };
    let from = args.from.as_str();
    let from = (!from.is_empty() && from != "<>").then_some(from);
    let to: Vec<&str> = args.to.iter().map(String::as_str).collect();

    let mut client = Client::connect(&endpoint, config)
        .await
        .map_err(|e| failure(&args.server, e))?;
    let result = client.send(from, &to, &message).await;
    // QUIT whatever happened: a refused message still deserves a clean goodbye.
    let quit = client.quit().await;
    let report = result.map_err(|e| failure(&args.server, e))?;
    print_report(&args.to, &report);
    if let Err(e) = quit {
        tracing::warn!("QUIT: {e}");
    }
    verdict(&args.server, &report)
}

/// The client configuration from the flags.
fn config(args: &SendArgs, endpoint: &ClientEndpoint) -> Result<ClientConfig, RunError> {
    let tls_endpoint = matches!(endpoint, ClientEndpoint::Tls { .. });
    let tls = match (args.starttls, args.tls) {
        (true, _) if tls_endpoint => {
            return Err(RunError::Config(
                "--starttls with a tls: endpoint: the connection is already TLS".into(),
            ))
        }
        (true, _) => TlsMode::Required,
        // A `tls:` endpoint does its own handshake (with its trustRoots).
        (false, true) if tls_endpoint => TlsMode::None,
        (false, true) => TlsMode::Implicit,
        (false, false) => TlsMode::None,
    };
    let helo = args.helo.clone().unwrap_or_else(local_host_name);
    let mut config = ClientConfig::new(helo)
        .with_tls(tls)
        .with_timeout(Duration::from_secs(args.timeout.max(1)));
    config.trust_roots = args.trust_roots.clone();
    config.allow_plaintext_auth = args.allow_plaintext_auth;
    Ok(config)
}

/// The password: from the environment, else the first line of stdin (only when stdin is not
/// the message).
async fn password(message_from_file: bool) -> Result<String, RunError> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(password);
    }
    if !message_from_file {
        return Err(RunError::Config(format!(
            "--auth: set {PASSWORD_ENV}, or give the message as FILE and the password on stdin"
        )));
    }
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| RunError::Runtime(format!("reading stdin: {e}")))?
    .map_err(|e| RunError::Config(format!("reading the password from stdin: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(RunError::Config(format!(
            "--auth: no password on stdin (or in {PASSWORD_ENV})"
        )));
    }
    Ok(password.to_owned())
}

async fn read_stdin() -> Result<Vec<u8>, RunError> {
    tokio::task::spawn_blocking(|| {
        let mut buf = Vec::new();
        std::io::stdin().lock().read_to_end(&mut buf).map(|_| buf)
    })
    .await
    .map_err(|e| RunError::Runtime(format!("reading stdin: {e}")))?
    .map_err(|e| RunError::Runtime(format!("reading stdin: {e}")))
}

/// This machine's name for EHLO: /etc/hostname, else `localhost`.
fn local_host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

/// One line per recipient, in the order given, then the server's answer to the message.
fn print_report(to: &[String], report: &SendReport) {
    let mut out = std::io::stdout().lock();
    for rcpt in to {
        if report.accepted.contains(rcpt) {
            let _ = writeln!(out, "{rcpt}: accepted");
        } else if let Some((_, reply)) = report.rejected.iter().find(|(r, _)| r == rcpt) {
            let _ = writeln!(out, "{rcpt}: rejected: {reply}");
        }
    }
    if let Some(reply) = &report.data {
        let _ = writeln!(out, "message: {reply}");
    }
    let _ = out.flush();
}

/// Exit 0 only when every recipient has the message.
fn verdict(server: &str, report: &SendReport) -> Result<(), RunError> {
    match (&report.data, report.rejected.first()) {
        (Some(_), None) => Ok(()),
        (Some(_), Some(_)) => Err(RunError::Runtime(format!(
            "{server}: {} of {} recipients rejected",
            report.rejected.len(),
            report.rejected.len() + report.accepted.len()
        ))),
        (None, Some((rcpt, reply))) => Err(RunError::Runtime(format!(
            "{server}: no recipient accepted ({rcpt}: {reply})"
        ))),
        (None, None) => Err(RunError::Runtime(format!("{server}: nothing sent"))),
    }
}

fn failure(server: &str, e: ClientError) -> RunError {
    match e {
        ClientError::Reply(reply) => RunError::Runtime(format!("{server}: {reply}")),
        other => RunError::Runtime(format!("{server}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use torsion_smtp::proto::Reply;

    fn args(server: &str, starttls: bool, tls: bool) -> SendArgs {
        SendArgs {
            server: server.into(),
            starttls,
            tls,
            trust_roots: None,
            auth: None,
            allow_plaintext_auth: false,
            from: "a@b.test".into(),
            to: vec!["c@d.test".into()],
            helo: Some("client.test".into()),
            timeout: 5,
            log_level: "warn".into(),
            log_format: LogFormat::Text,
            file: None,
        }
    }

    fn tls_mode(server: &str, starttls: bool, tls: bool) -> Result<TlsMode, RunError> {
        let a = args(server, starttls, tls);
        let endpoint = ClientEndpoint::parse_with_default_port(server, Some(25)).unwrap();
        config(&a, &endpoint).map(|c| c.tls)
    }

    #[test]
    fn tls_flags() {
        assert_eq!(tls_mode("mx.test", false, false).unwrap(), TlsMode::None);
        assert_eq!(
            tls_mode("mx.test:587", true, false).unwrap(),
            TlsMode::Required
        );
        assert_eq!(
            tls_mode("mx.test:465", false, true).unwrap(),
            TlsMode::Implicit
        );
        assert_eq!(
            tls_mode("tls:host=mx.test:port=465", false, true).unwrap(),
            TlsMode::None
        );
        assert!(matches!(
            tls_mode("tls:host=mx.test:port=465", true, false),
            Err(RunError::Config(_))
        ));
    }

    #[test]
    fn plaintext_auth_only_when_asked() {
        let endpoint = ClientEndpoint::parse_with_default_port("mx.test", Some(DEFAULT_PORT))
            .expect("endpoint");
        let mut a = args("mx.test", false, false);
        assert!(!config(&a, &endpoint).expect("config").allow_plaintext_auth);
        a.allow_plaintext_auth = true;
        assert!(config(&a, &endpoint).expect("config").allow_plaintext_auth);
    }

    #[test]
    fn verdicts() {
        let ok = Reply::new(250, "2.0.0", "queued");
        let no = Reply::new(550, "5.1.1", "unknown");
        let all = SendReport {
            accepted: vec!["a".into()],
            rejected: vec![],
            data: Some(ok.clone()),
        };
        assert!(verdict("s", &all).is_ok());
        let some = SendReport {
            rejected: vec![("b".into(), no.clone())],
            ..all
        };
        assert!(matches!(verdict("s", &some), Err(RunError::Runtime(m)) if m.contains("1 of 2")));
        let none = SendReport {
            accepted: vec![],
            rejected: vec![("b".into(), no)],
            data: None,
        };
        assert!(
            matches!(verdict("s", &none), Err(RunError::Runtime(m)) if m.contains("550 5.1.1 unknown"))
        );
    }
}
