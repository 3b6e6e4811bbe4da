//! `cargo xtask bench irc`: `torsion-irc` against InspIRCd 3 (Debian package `inspircd`), with
//! a load client written here in Rust on tokio ([`load`]).
//!
//! - **Fan-out**: 200 receivers and one sender in `#bench`. After a warm-up round, the sender
//!   (an IRC operator, so neither server's flood control applies) sends 25,000 PRIVMSGs of 100
//!   bytes of text; the figure is deliveries per second, receivers × messages divided by the
//!   time from the first message to the moment the last receiver has the last one (every
//!   receiver checks it got every sequence number, in order). The sender pipelines up to 64
//!   messages per write and never runs more than a window of 1000 messages ahead of the
//!   slowest receiver: ≤ 1000 × ~145 bytes per receiver waiting anywhere, far below the
//!   1 MiB send queue both servers have (`--sendq 1048576`, InspIRCd's `hardsendq="1M"`), so
//!   neither server ever drops a slow receiver and TCP backpressure does the rest.
//! - **Idle memory**: 10,000 registered clients (NICK, USER, the welcome read to its end) that
//!   then say nothing; the figure is (server RSS after − before) / clients, in KiB.
//!
//! InspIRCd runs from `/work/shared/peers/inspircd.conf` (no fakelag, 1 MB sendq, no DNS
//! lookups, `netbuffersize="65534"`, an oper `bench` with the `users/flood/*` privileges);
//! torsion-irc from `serve --oper bench:{PLAIN}benchpw --sendq 1048576 --max-clients 20000
//! --max-connections 20000 --max-per-ip 0`. Each measurement starts a fresh server.
//!
//! One fan-out measurement swings a lot on a shared machine, so the fan-out comparison runs
//! several rounds (`--rounds N`, default [`DEFAULT_ROUNDS`]), alternating the servers
//! (torsion-irc, InspIRCd, torsion-irc, InspIRCd, …) so that drift on the machine falls on both
//! alike. The headline figures are each server's median over its rounds and the ratio of the
//! two medians; every round's figures, their ratios and the range of those are printed too.
//! The idle-memory figure barely moves between runs: one round per server unless
//! `--memory-rounds N` asks for more (reported the same way).
//! Both servers and the load client share the machine's cores, so the servers' CPU time
//! per 1000 deliveries is reported beside the rate, and the load client's own CPU time shows
//! whether it could have been the bottleneck.
//!
//! Targets (IRC issue): at least 2× the peer's fan-out rate, and no more memory per idle client.

mod load;
mod report;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::util::{self, ServerProcess};
use load::FanoutPlan;
use report::{report, Results};

/// Where the servers listen.
const SERVER_ADDR: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// Defaults of the fan-out.
const RECEIVERS: usize = 200;
const MESSAGES: u64 = 25_000;
const WARMUP_MESSAGES: u64 = 500;
const WINDOW: u64 = 1000;
const TEXT_BYTES: usize = 100;
/// Default bound on the measured fan-out round, in seconds.
const FANOUT_LIMIT_SECONDS: u64 = 120;
/// Default idle clients.
const IDLE_CLIENTS: usize = 10_000;
/// Fan-out clients registering at once.
const CONNECT_CONCURRENCY: usize = 200;
/// Idle clients registering at once. InspIRCd takes about a second to complete each
/// registration (it finishes them on its once-a-second timer), so with few in flight
/// registering 10,000 would take minutes.
const IDLE_CONCURRENCY: usize = 2000;
/// Bound on registering the idle clients.
const IDLE_LIMIT: Duration = Duration::from_secs(120);
/// Wait after registering the idle clients before reading RSS.
const SETTLE: Duration = Duration::from_secs(2);
/// Send queue of both servers, bytes (InspIRCd's template: `hardsendq="1M"`).
const SENDQ: u64 = 1 << 20;
/// The operator both servers know.
const OPER_NAME: &str = "bench";
const OPER_PASSWORD: &str = "benchpw";
/// Time a server gets to welcome its first client.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Default fan-out rounds (each measures both servers once, alternating). A round takes
/// about 10 s with the default sizes, so three rounds and the memory round make ~1 minute.
pub const DEFAULT_ROUNDS: u64 = 3;
/// Default idle-memory rounds.
const DEFAULT_MEMORY_ROUNDS: u64 = 1;
/// Most rounds accepted (either kind).
const MAX_ROUNDS: u64 = 20;
/// Fan-out target: torsion-irc / InspIRCd deliveries per second.
const FANOUT_TARGET: f64 = 2.0;
/// Memory target: torsion-irc / InspIRCd KiB per idle client.
const MEMORY_TARGET: f64 = 1.0;

/// Sizes of one run (`--receivers`, `--messages`, `--idle-clients`, `--seconds`, `--rounds`,
/// `--memory-rounds`).
#[derive(Debug, Clone)]
struct Options {
    receivers: usize,
    messages: u64,
    idle_clients: usize,
    limit_seconds: u64,
    /// Fan-out rounds; each measures both servers.
    rounds: u64,
    /// Idle-memory rounds; each measures both servers.
    memory_rounds: u64,
    /// A torsion-irc binary to measure instead of building the workspace's.
    binary: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        receivers: RECEIVERS,
        messages: MESSAGES,
        idle_clients: IDLE_CLIENTS,
        limit_seconds: FANOUT_LIMIT_SECONDS,
        rounds: DEFAULT_ROUNDS,
        memory_rounds: DEFAULT_MEMORY_ROUNDS,
        binary: None,
    };
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1);
        let to_usize = |n: u64| usize::try_from(n).map_err(|e| e.to_string());
        match args[i].as_str() {
            "--receivers" => {
                options.receivers = to_usize(crate::parse_number("--receivers", value, 1..=5000)?)?;
            }
            "--messages" => {
                options.messages = crate::parse_number("--messages", value, 1..=1_000_000)?;
            }
            "--idle-clients" => {
                options.idle_clients =
                    to_usize(crate::parse_number("--idle-clients", value, 0..=19_000)?)?;
            }
            "--seconds" => {
                options.limit_seconds = crate::parse_number("--seconds", value, 1..=600)?;
            }
            "--rounds" => {
                options.rounds = crate::parse_number("--rounds", value, 1..=MAX_ROUNDS)?;
            }
            "--memory-rounds" => {
                options.memory_rounds =
                    crate::parse_number("--memory-rounds", value, 1..=MAX_ROUNDS)?;
            }
            "--torsion-irc" => {
                let path = value.ok_or("--torsion-irc needs a path")?;
                options.binary = Some(PathBuf::from(path));
            }
            other => return Err(format!("bench irc: unexpected argument {other:?}")),
        }
        i += 2;
    }
    Ok(options)
}

/// Entry point of `bench irc`; `args` are the words after `irc`.
pub fn main(args: &[String]) -> ExitCode {
    let options = match parse_options(args) {
        Ok(options) => options,
        Err(e) => return crate::usage_error(&e),
    };
    super::finish("irc", run(&options))
}

/// A server under test.
#[derive(Debug)]
struct Contender {
    label: &'static str,
    slug: &'static str,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Torsion(PathBuf),
    InspIrcd(PathBuf),
}

impl Contender {
    /// Start a fresh server for round `round` of `phase`; returns it, its address and the
    /// command line.
    fn start(
        &self,
        root: &Path,
        phase: &str,
        round: u64,
    ) -> Result<(ServerProcess, SocketAddr, String), String> {
        let dir = root.join("var").join("bench").join("irc");
        let log = dir.join(format!("{phase}-{round}-{}.log", self.slug));
        match &self.kind {
            Kind::Torsion(binary) => {
                let args: Vec<String> = [
                    "serve",
                    "--listen",
                    "tcp:0:interface=127.0.0.1",
                    "--server-name",
                    "irc.bench.test",
                    "--oper",
                    &format!("{OPER_NAME}:{{PLAIN}}{OPER_PASSWORD}"),
                    "--sendq",
                    &SENDQ.to_string(),
                    "--max-clients",
                    "20000",
                    "--max-connections",
                    "20000",
                    "--max-per-ip",
                    "0",
                    "--log-level",
                    "info",
                ]
                .map(String::from)
                .to_vec();
                let mut server = ServerProcess::spawn(self.label, binary, &args, root, &log)?;
                let addresses = server.wait_listening(1, START_TIMEOUT)?;
                let addr = addresses[0]
                    .strip_prefix("tcp:")
                    .and_then(|a| a.parse::<SocketAddr>().ok())
                    .ok_or_else(|| format!("unexpected listening address {:?}", addresses[0]))?;
                wait_welcoming(&mut server, addr, None)?;
                let command =
                    format!("torsion-irc {}", args.join(" ")).replace("tcp:0", "tcp:PORT");
                Ok((server, addr, command))
            }
            Kind::InspIrcd(binary) => {
                let scratch = dir.join(format!("inspircd-{phase}"));
                let _ = std::fs::remove_dir_all(&scratch);
                std::fs::create_dir_all(&scratch)
                    .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
                let port = free_port()?;
                let template_path = Path::new("/work/shared/peers/inspircd.conf");
                let template = std::fs::read_to_string(template_path)
                    .map_err(|e| format!("cannot read {}: {e}", template_path.display()))?;
                let config = template
                    .replace("@DIR@", &scratch.display().to_string())
                    .replace("@PORT@", &port.to_string());
                if config.contains("@DIR@") || config.contains("@PORT@") {
                    return Err(
                        "inspircd.conf has placeholders this benchmark does not fill".into(),
                    );
                }
                let expected = [
                    &format!("<oper name=\"{OPER_NAME}\" password=\"{OPER_PASSWORD}\"")[..],
                    "hardsendq=\"1M\"",
                ];
                if expected.iter().any(|e| !config.contains(e)) {
                    return Err(format!(
                        "{} no longer has the expected oper and sendq settings",
                        template_path.display()
                    ));
                }
                let conf = scratch.join("inspircd.conf");
                std::fs::write(&conf, config)
                    .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
                let args: Vec<String> = ["--nofork", "--runasroot", "--config"]
                    .map(String::from)
                    .into_iter()
                    .chain([conf.display().to_string()])
                    .collect();
                let mut server = ServerProcess::spawn(self.label, binary, &args, root, &log)?;
                let addr = SocketAddr::from((SERVER_ADDR, port));
                wait_welcoming(&mut server, addr, Some("failed to bind"))?;
                let command = format!("inspircd {}", args.join(" "));
                Ok((server, addr, command))
            }
        }
    }
}

/// A TCP port free on [`SERVER_ADDR`] right now.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((SERVER_ADDR, 0))
        .map_err(|e| format!("cannot bind {SERVER_ADDR}:0: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Wait until a client can register on `addr`. Fails if the process exits first, after
/// [`START_TIMEOUT`], or if its log contains `bad` (InspIRCd keeps running when it could not
/// bind, and another server might own the port).
fn wait_welcoming(
    server: &mut ServerProcess,
    addr: SocketAddr,
    bad: Option<&str>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(bad) = bad {
            let log = std::fs::read_to_string(&server.log).unwrap_or_default();
            if log.contains(bad) {
                return Err(format!(
                    "{}: {bad} (see {})",
                    server.name,
                    server.log.display()
                ));
            }
        }
        let probe = runtime.block_on(load::registers(addr, Duration::from_secs(2)));
        if probe.is_ok() {
            return Ok(());
        }
        if let Some(status) = server.try_status() {
            return Err(format!(
                "{} exited ({}): {}",
                server.name,
                util::describe_status(status),
                util::last_line(&server.log)
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} did not welcome a client on {addr} within {} s: {}",
                server.name,
                START_TIMEOUT.as_secs(),
                probe.err().unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Start a fresh server, run `measure` against it, stop it by PID and check how it ended.
fn measured<T>(
    root: &Path,
    contender: &Contender,
    (phase, round): (&str, u64),
    commands: &mut Vec<String>,
    measure: impl FnOnce(SocketAddr, u32) -> Result<T, String>,
) -> Result<T, String> {
    let (mut server, addr, command) = contender.start(root, phase, round)?;
    if !commands.contains(&command) {
        println!("  {}: {command}", contender.label);
        commands.push(command);
    }
    let result = measure(addr, server.pid());
    let exited_early = server.try_status();
    let stopped = server.stop(util::STOP_TIMEOUT);
    let value = result?;
    if let Some(status) = exited_early {
        return Err(format!(
            "{} exited during the measurement ({}): {}",
            contender.label,
            util::describe_status(status),
            util::last_line(&server.log)
        ));
    }
    match stopped {
        Ok(_) => Ok(value),
        Err(e) => Err(e),
    }
}

fn run(options: &Options) -> Result<(), String> {
    let command = format!(
        "cargo xtask {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    let root = util::workspace_root();
    // Children inherit the limit: both servers and this load client need > 10,000 sockets.
    let nofile =
        util::raise_nofile_limit().map_err(|e| format!("cannot raise RLIMIT_NOFILE: {e}"))?;
    let idle_clients = options.idle_clients.min(
        usize::try_from(nofile)
            .unwrap_or(usize::MAX)
            .saturating_sub(500),
    );
    let inspircd = util::find_program("inspircd", "inspircd")?;
    let binary = match &options.binary {
        Some(path) => path.clone(),
        None => {
            util::cargo_build(&["-p", "torsion-irc", "--bin", "torsion-irc"])?;
            util::release_dir().join("torsion-irc")
        }
    };
    let contenders = [
        Contender {
            label: "torsion-irc",
            slug: "torsion",
            kind: Kind::Torsion(binary),
        },
        Contender {
            label: "InspIRCd",
            slug: "inspircd",
            kind: Kind::InspIrcd(inspircd),
        },
    ];
    let plan = FanoutPlan {
        receivers: options.receivers,
        messages: options.messages,
        warmup: WARMUP_MESSAGES,
        window: WINDOW,
        text_bytes: TEXT_BYTES,
        limit: Duration::from_secs(options.limit_seconds),
        oper: Some((OPER_NAME.into(), OPER_PASSWORD.into())),
        connect_concurrency: CONNECT_CONCURRENCY,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let Options {
        rounds,
        memory_rounds,
        ..
    } = *options;
    println!(
        "bench irc: fan-out {} receivers × {} messages ({} bytes of text, {WARMUP_MESSAGES} warm-up, window {WINDOW}), {rounds} round(s); {idle_clients} idle clients, {memory_rounds} round(s); each round measures both servers in turn, a fresh server each; logs in var/bench/irc/",
        plan.receivers, plan.messages, plan.text_bytes
    );
    let mut commands = Vec::new();
    let mut results = Results::default();
    for (round, i) in schedule(rounds, contenders.len()) {
        let c = &contenders[i];
        let result = measured(&root, c, ("fanout", round), &mut commands, |addr, pid| {
            runtime.block_on(load::fanout(addr, pid, &plan))
        });
        let tag = format!("{round}/{rounds}");
        match &result {
            Ok(f) => println!(
                "  fan-out      {:<12} {tag:>5} {:>10.0} deliveries/s  {:>6.3} s  {:>6.2} CPU ms/1000  server {:.2} cores, load client {:.2} cores{}",
                c.label,
                f.per_second(),
                f.seconds,
                f.cpu_ms_per_1000(),
                f.server_cores(),
                f.client_cores(),
                if f.complete { "" } else { "  INCOMPLETE" }
            ),
            Err(e) => println!("  fan-out      {:<12} {tag:>5} error: {e}", c.label),
        }
        results.fanouts[i].push(result);
    }
    for (round, i) in schedule(memory_rounds, contenders.len()) {
        let c = &contenders[i];
        let result = measured(&root, c, ("memory", round), &mut commands, |addr, pid| {
            runtime.block_on(load::idle_clients(
                addr,
                pid,
                idle_clients,
                IDLE_CONCURRENCY,
                IDLE_LIMIT,
                SETTLE,
            ))
        });
        let tag = format!("{round}/{memory_rounds}");
        match &result {
            Ok(m) => println!(
                "  idle memory  {:<12} {tag:>5} {:>10.2} KiB/client ({} clients, RSS {} → {} KiB; registered in {:.1} s)",
                c.label,
                m.kib_per_client(),
                m.registered,
                m.rss_before / 1024,
                m.rss_after / 1024,
                m.register_seconds
            ),
            Err(e) => println!("  idle memory  {:<12} {tag:>5} error: {e}", c.label),
        }
        results.memories[i].push(result);
    }
    report(&command, &plan, idle_clients, &results);
    Ok(())
}

/// The order of the measurements: rounds `1..=rounds`, each measuring every one of
/// `contenders` in turn (torsion-irc first), as (round, contender index).
fn schedule(rounds: u64, contenders: usize) -> impl Iterator<Item = (u64, usize)> {
    (1..=rounds).flat_map(move |round| (0..contenders).map(move |i| (round, i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        let args: Vec<String> = [
            "--messages",
            "10",
            "--receivers",
            "3",
            "--idle-clients",
            "0",
        ]
        .map(String::from)
        .to_vec();
        let options = parse_options(&args).unwrap();
        assert_eq!(
            (options.messages, options.receivers, options.idle_clients),
            (10, 3, 0)
        );
        assert_eq!(options.limit_seconds, FANOUT_LIMIT_SECONDS);
        assert_eq!(
            (options.rounds, options.memory_rounds),
            (DEFAULT_ROUNDS, DEFAULT_MEMORY_ROUNDS)
        );
        assert!(parse_options(&["--bogus".to_owned()]).is_err());
        assert!(parse_options(&["--messages".to_owned()]).is_err());
    }

    #[test]
    fn parses_rounds() {
        let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let options = parse_options(&words("--rounds 5 --memory-rounds 2 --seconds 30")).unwrap();
        assert_eq!(
            (options.rounds, options.memory_rounds, options.limit_seconds),
            (5, 2, 30)
        );
        assert!(parse_options(&words("--rounds 0")).is_err());
        assert!(parse_options(&words("--rounds")).is_err());
        assert!(parse_options(&words("--memory-rounds 0")).is_err());
        assert!(parse_options(&words("--rounds 21")).is_err());
    }

    #[test]
    fn schedule_alternates_the_servers_round_by_round() {
        assert_eq!(
            schedule(3, 2).collect::<Vec<_>>(),
            [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]
        );
        assert_eq!(schedule(1, 2).collect::<Vec<_>>(), [(1, 0), (1, 1)]);
    }
}
