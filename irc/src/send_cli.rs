//! `torsion-irc send`: a one-shot notifier, the way CI systems post to IRC. Connects, registers
//! (with SASL if asked), joins the channel, sends each line of the message (or of stdin), quits
//! cleanly, and exits 0 — or 2 for bad arguments, 1 when the server refused something.

use std::io::Read;
use std::time::Duration;

use tokio::time::{timeout_at, Instant};
use torsion_core::runner::{self, LogFormat, RunError};
use torsion_irc::client::{Client, ClientConfig, ClientError, Command, Event, QUIT_TIMEOUT};
use torsion_irc::proto::{casemap, numeric};

/// The environment variable `--sasl` falls back to (keeps the password out of `ps`).
pub const SASL_ENV: &str = "TORSION_IRC_SASL";
/// The most message text read from stdin: this is a notifier, not a pastebin (at the default
/// flood rate 64 KiB is already many minutes of lines).
pub const MAX_INPUT: usize = 64 * 1024;
/// The QUIT message.
const QUIT_MESSAGE: &str = "torsion-irc send";

/// Replies that mean we cannot join (RFC 2812 §3.2.1, Modern IRC).
const JOIN_ERRORS: [&str; 8] = [
    numeric::ERR_NOSUCHCHANNEL,
    numeric::ERR_TOOMANYCHANNELS,
    numeric::ERR_CHANNELISFULL,
    numeric::ERR_INVITEONLYCHAN,
    numeric::ERR_BANNEDFROMCHAN,
    numeric::ERR_BADCHANNELKEY,
    numeric::ERR_BADCHANMASK,
    "477", // ERR_NEEDREGGEDNICK (common extension)
];
/// Replies that mean a message did not get through.
const SEND_ERRORS: [&str; 3] = [
    numeric::ERR_CANNOTSENDTOCHAN,
    numeric::ERR_NOSUCHNICK,
    numeric::ERR_NOSUCHCHANNEL,
];

/// Arguments of `torsion-irc send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The server: HOST[:PORT] (port 6667), [IPv6]:PORT, or a client endpoint
    /// (tcp:host=H:port=P, tls:host=H:port=P[:trustRoots=PEM]).
    #[arg(long, value_name = "HOST:PORT|ENDPOINT")]
    pub server: String,
    /// Nickname (NICK_, NICK__, NICK1… are tried if it is taken).
    #[arg(long, value_name = "NICK")]
    pub nick: String,
    /// Channel to join and post to ('#' is added when it has no channel prefix).
    #[arg(long, value_name = "CHAN")]
    pub channel: String,
    /// Channel key, for a channel with mode +k.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Authenticate with SASL PLAIN as USER:PASS (failure is an error). Prefer the
    /// TORSION_IRC_SASL environment variable, which `ps` does not show.
    #[arg(long, value_name = "USER:PASS", env = SASL_ENV, hide_env_values = true)]
    pub sasl: Option<String>,
    /// Connection password (PASS).
    #[arg(long, value_name = "PASS")]
    pub password: Option<String>,
    /// Send NOTICEs instead of PRIVMSGs (what bots should use for automatic messages).
    #[arg(long)]
    pub notice: bool,
    /// Seconds allowed for connecting, registering and joining.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
    /// Log filter (error, warn, info, debug, trace, or tracing directives).
    #[arg(long, value_name = "LEVEL", default_value = "warn")]
    pub log_level: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The message; each line is sent as one message (long lines are split). Without MESSAGE,
    /// or with `-`, lines are read from stdin.
    #[arg(value_name = "MESSAGE")]
    pub message: Vec<String>,
}

/// Run `torsion-irc send`.
pub async fn run(args: SendArgs) -> Result<(), RunError> {
    runner::init_logging(&args.log_level, args.log_format)?;
    let text = if args.message.is_empty() || args.message == ["-"] {
        read_stdin().await?
    } else {
        args.message.join(" ")
    };
    let plan = Plan::new(&args, &text)?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout.max(1));
    let mut client =
        match timeout_at(deadline, Client::connect(&args.server, plan.config.clone())).await {
            Ok(result) => result.map_err(run_error)?,
            Err(_) => return Err(timed_out(&args, "connecting")),
        };
    // Registration and JOIN, within the timeout.
    loop {
        let event = match timeout_at(deadline, client.next_event()).await {
            Ok(Some(event)) => event,
            Ok(None) => return Err(stopped(client).await),
            Err(_) => {
                quit_quietly(client).await;
                return Err(timed_out(&args, "joining"));
            }
        };
        match event {
            Event::Registered { .. } => {
                client
                    .send(Command::Join {
                        channel: plan.channel.clone(),
                        key: args.key.clone(),
                    })
                    .await
                    .map_err(run_error)?;
            }
            Event::Join {
                own: true, channel, ..
            } if casemap::eq(&channel, &plan.channel) => break,
            Event::Numeric { code, params }
                if is_about(&params, &plan.channel, code, &JOIN_ERRORS) =>
            {
                quit_quietly(client).await;
                return Err(RunError::Runtime(format!(
                    "cannot join {}: {}",
                    plan.channel,
                    params.last().map(String::as_str).unwrap_or("refused")
                )));
            }
            _ => {}
        }
    }
    for line in &plan.lines {
        let command = if args.notice {
            Command::Notice {
                target: plan.channel.clone(),
                text: line.clone(),
            }
        } else {
            Command::Privmsg {
                target: plan.channel.clone(),
                text: line.clone(),
            }
        };
        client.send(command).await.map_err(run_error)?;
    }
    client
        .quit(Some(QUIT_MESSAGE.into()))
        .await
        .map_err(run_error)?;
    // Lines go out at the flood-control rate; watch for refusals until the server closes.
    let mut refused = None;
    while let Some(event) = client.next_event().await {
        if let Event::Numeric { code, params } = &event {
            if is_about(params, &plan.channel, *code, &SEND_ERRORS) && refused.is_none() {
                refused = params.last().cloned();
            }
        }
    }
    client.finish().await.map_err(run_error)?;
    match refused {
        Some(reason) => Err(RunError::Runtime(format!(
            "the server refused the message for {}: {reason}",
            plan.channel
        ))),
        None => Ok(()),
    }
}

/// What to do, checked before connecting.
#[derive(Debug)]
struct Plan {
    config: ClientConfig,
    channel: String,
    lines: Vec<String>,
}

impl Plan {
    fn new(args: &SendArgs, text: &str) -> Result<Plan, RunError> {
        let mut config = ClientConfig::new(&args.nick);
        config.realname = "torsion-irc send".into();
        config.reconnect = None;
        config.password = args.password.clone();
        if let Some(sasl) = &args.sasl {
            let (user, pass) = sasl.split_once(':').ok_or_else(|| {
                RunError::Config(format!("--sasl (or {SASL_ENV}): expected USER:PASS"))
            })?;
            config = config.with_sasl(user, pass);
        }
        config
            .validate()
            .map_err(|e| RunError::Config(format!("{e}")))?;
        let channel = if args.channel.starts_with(['#', '&', '+', '!']) {
            args.channel.clone()
        } else {
            format!("#{}", args.channel)
        };
        if !torsion_irc::proto::valid_channel(&channel, 200)
            && !channel.starts_with(['&', '+', '!'])
        {
            return Err(RunError::Config(format!(
                "--channel {:?} is not a channel name",
                args.channel
            )));
        }
        let lines: Vec<String> = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        if lines.is_empty() {
            return Err(RunError::Config("nothing to send (empty message)".into()));
        }
        Ok(Plan {
            config,
            channel,
            lines,
        })
    }
}

async fn read_stdin() -> Result<String, RunError> {
    let read = tokio::task::spawn_blocking(|| {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .take(MAX_INPUT as u64 + 1)
            .read_to_end(&mut buf)
            .map(|_| buf)
    });
    let buf = read
        .await
        .map_err(|e| RunError::Runtime(format!("reading stdin: {e}")))?
        .map_err(|e| RunError::Runtime(format!("reading stdin: {e}")))?;
    if buf.len() > MAX_INPUT {
        return Err(RunError::Config(format!(
            "the message on stdin is longer than {MAX_INPUT} bytes"
        )));
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Whether numeric `code` (one of `codes`) is about `channel` (its second parameter).
fn is_about(params: &[String], channel: &str, code: u16, codes: &[&str]) -> bool {
    let code = format!("{code:03}");
    codes.contains(&code.as_str()) && params.get(1).is_some_and(|p| casemap::eq(p, channel))
}

fn run_error(e: ClientError) -> RunError {
    match e {
        ClientError::Config(_) | ClientError::Endpoint(_) | ClientError::Invalid { .. } => {
            RunError::Config(e.to_string())
        }
        _ => RunError::Runtime(e.to_string()),
    }
}

/// QUIT and wait (briefly) for it to go out: leaving without it looks like a crash to the channel.
async fn quit_quietly(mut client: Client) {
    if client.quit(Some(QUIT_MESSAGE.into())).await.is_ok() {
        let bound = QUIT_TIMEOUT + Duration::from_secs(1);
        let _ = tokio::time::timeout(bound, async {
            while client.next_event().await.is_some() {}
        })
        .await;
    }
}

async fn stopped(client: Client) -> RunError {
    match client.finish().await {
        Err(e) => run_error(e),
        Ok(()) => RunError::Runtime("the client stopped before joining".into()),
    }
}

fn timed_out(args: &SendArgs, what: &str) -> RunError {
    RunError::Runtime(format!(
        "{}: timed out after {}s {what}",
        args.server,
        args.timeout.max(1)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(channel: &str, sasl: Option<&str>) -> SendArgs {
        SendArgs {
            server: "127.0.0.1:6667".into(),
            nick: "ci".into(),
            channel: channel.into(),
            key: None,
            sasl: sasl.map(str::to_owned),
            password: None,
            notice: false,
            timeout: 30,
            log_level: "warn".into(),
            log_format: LogFormat::Text,
            message: Vec::new(),
        }
    }

    #[test]
    fn plans() {
        let plan = Plan::new(&args("builds", None), "one\n\ntwo  \n").unwrap();
        assert_eq!(plan.channel, "#builds");
        assert_eq!(plan.lines, ["one", "two"]);
        assert!(plan.config.reconnect.is_none());
        let plan = Plan::new(&args("#b", Some("u:p:w")), "x").unwrap();
        let sasl = plan.config.sasl.unwrap();
        assert_eq!((sasl.user.as_str(), sasl.password.as_str()), ("u", "p:w"));
        assert!(matches!(
            Plan::new(&args("#b", Some("nopass")), "x"),
            Err(RunError::Config(_))
        ));
        assert!(matches!(
            Plan::new(&args("#b", None), "\n \n"),
            Err(RunError::Config(_))
        ));
        assert!(matches!(
            Plan::new(&args("#a b", None), "x"),
            Err(RunError::Config(_))
        ));
        let mut bad = args("#b", None);
        bad.nick = "9".into();
        assert!(matches!(Plan::new(&bad, "x"), Err(RunError::Config(_))));
    }

    #[test]
    fn numerics_about_the_channel() {
        let params = vec![
            "ci".to_owned(),
            "#Builds".to_owned(),
            "Cannot send".to_owned(),
        ];
        assert!(is_about(&params, "#builds", 404, &SEND_ERRORS));
        assert!(!is_about(&params, "#other", 404, &SEND_ERRORS));
        assert!(!is_about(&params, "#builds", 1, &SEND_ERRORS));
    }
}
