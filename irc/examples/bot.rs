//! An example bot: joins a channel and answers `!ping` and `!time`.
//!
//! ```text
//! cargo run -p torsion-irc --example bot -- --server 127.0.0.1:6667 --nick torsionbot --channel '#torsion'
//! ```
//! Flags: `--server HOST:PORT|ENDPOINT` (default 127.0.0.1:6667), `--nick NICK` (default
//! torsionbot), `--channel CHAN` (default #torsion, repeatable), `--sasl USER:PASS` (or the
//! TORSION_IRC_SASL environment variable). It reconnects when the server goes away; Ctrl-C quits.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use torsion_core::runner::{init_logging, LogFormat};
use torsion_irc::client::{Client, ClientConfig, Event};

struct Args {
    server: String,
    config: ClientConfig,
}

const USAGE: &str =
    "usage: bot [--server HOST:PORT|ENDPOINT] [--nick NICK] [--channel CHAN]… [--sasl USER:PASS]";

/// Flags by hand: the example only needs the `client` feature, which does not bring clap.
fn parse_args() -> Result<Args, String> {
    let mut server = "127.0.0.1:6667".to_owned();
    let mut nick = "torsionbot".to_owned();
    let mut channels = Vec::new();
    let mut sasl = std::env::var("TORSION_IRC_SASL").ok();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (flag.clone(), None),
        };
        if name == "--help" || name == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{name} needs a value\n{USAGE}")),
        };
        match name.as_str() {
            "--server" => server = value,
            "--nick" => nick = value,
            "--channel" => channels.push(value),
            "--sasl" => sasl = Some(value),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    if channels.is_empty() {
        channels.push("#torsion".to_owned());
    }
    let mut config = ClientConfig::new(nick);
    config.realname = "Torsion example bot".into();
    for channel in channels {
        config = config.with_channel(channel);
    }
    if let Some(sasl) = sasl {
        let (user, pass) = sasl
            .split_once(':')
            .ok_or("--sasl expects USER:PASS".to_owned())?;
        config = config.with_sasl(user, pass);
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(Args { server, config })
}

/// `YYYY-MM-DD HH:MM:SS UTC` from the system clock (civil-from-days, H. Hinnant's algorithm).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let _ = init_logging("info", LogFormat::Text);
    let mut client = match Client::connect(&args.server, args.config).await {
        Ok(client) => client,
        Err(e) => {
            eprintln!("bot: {e}");
            return ExitCode::from(1);
        }
    };
    let handle = client.handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = handle.quit(Some("Ctrl-C".into())).await;
        }
    });
    while let Some(event) = client.next_event().await {
        match &event {
            Event::Registered { nick } => tracing::info!(%nick, "registered"),
            Event::Join {
                own: true, channel, ..
            } => tracing::info!(%channel, "joined"),
            Event::Disconnected { reason } => tracing::warn!(%reason, "disconnected"),
            Event::Reconnecting { delay, .. } => tracing::info!(?delay, "reconnecting"),
            _ => {}
        }
        let Some((reply_to, text)) = event.as_request() else {
            continue;
        };
        let answer = match text.trim() {
            "!ping" => "pong".to_owned(),
            "!time" => utc_now(),
            _ => continue,
        };
        if let Err(e) = client.privmsg(reply_to, answer).await {
            tracing::warn!(error = %e, "cannot answer");
        }
    }
    match client.finish().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bot: {e}");
            ExitCode::from(1)
        }
    }
}
