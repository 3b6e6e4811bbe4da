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
//! --max-connections 20000 --max-per-ip 0`. Each measurement starts a fresh server, torsion-irc
//! first. Both servers and the load client share the machine's cores, so the servers' CPU time
//! per 1000 deliveries is reported beside the rate, and the load client's own CPU time shows
//! whether it could have been the bottleneck.
//!
//! Targets (IRC issue): at least 2× the peer's fan-out rate, and no more memory per idle client.

mod load;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::util::{self, ServerProcess};
use load::{Fanout, FanoutPlan, IdleMemory};

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
/// Fan-out target: torsion-irc / InspIRCd deliveries per second.
const FANOUT_TARGET: f64 = 2.0;
/// Memory target: torsion-irc / InspIRCd KiB per idle client.
const MEMORY_TARGET: f64 = 1.0;

/// Sizes of one run (`--receivers`, `--messages`, `--idle-clients`, `--seconds`).
#[derive(Debug, Clone)]
struct Options {
    receivers: usize,
    messages: u64,
    idle_clients: usize,
    limit_seconds: u64,
    /// A torsion-irc binary to measure instead of building the workspace's.
    binary: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        receivers: RECEIVERS,
        messages: MESSAGES,
        idle_clients: IDLE_CLIENTS,
        limit_seconds: FANOUT_LIMIT_SECONDS,
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
    /// Start a fresh server for `phase`; returns it, its address and the command line.
    fn start(
        &self,
        root: &Path,
        phase: &str,
    ) -> Result<(ServerProcess, SocketAddr, String), String> {
        let dir = root.join("var").join("bench").join("irc");
        let log = dir.join(format!("{phase}-{}.log", self.slug));
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
    phase: &str,
    commands: &mut Vec<String>,
    measure: impl FnOnce(SocketAddr, u32) -> Result<T, String>,
) -> Result<T, String> {
    let (mut server, addr, command) = contender.start(root, phase)?;
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
    let inspircd = find_program("inspircd", "inspircd")?;
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
    println!(
        "bench irc: fan-out {} receivers × {} messages ({} bytes of text, {WARMUP_MESSAGES} warm-up, window {WINDOW}); {idle_clients} idle clients; a fresh server each; logs in var/bench/irc/",
        plan.receivers, plan.messages, plan.text_bytes
    );
    let mut commands = Vec::new();
    let mut fanouts = Vec::new();
    for c in &contenders {
        let result = measured(&root, c, "fanout", &mut commands, |addr, pid| {
            runtime.block_on(load::fanout(addr, pid, &plan))
        });
        match &result {
            Ok(f) => println!(
                "  fan-out      {:<12} {:>10.0} deliveries/s  {:>6.3} s  {:>6.2} CPU ms/1000  server {:.2} cores, load client {:.2} cores{}",
                c.label,
                f.per_second(),
                f.seconds,
                f.cpu_ms_per_1000(),
                f.server_cores(),
                f.client_cores(),
                if f.complete { "" } else { "  INCOMPLETE" }
            ),
            Err(e) => println!("  fan-out      {:<12} error: {e}", c.label),
        }
        fanouts.push(result);
    }
    let mut memories = Vec::new();
    for c in &contenders {
        let result = measured(&root, c, "memory", &mut commands, |addr, pid| {
            runtime.block_on(load::idle_clients(
                addr,
                pid,
                idle_clients,
                IDLE_CONCURRENCY,
                IDLE_LIMIT,
                SETTLE,
            ))
        });
        match &result {
            Ok(m) => println!(
                "  idle memory  {:<12} {:>10.2} KiB/client ({} clients, RSS {} → {} KiB; registered in {:.1} s)",
                c.label,
                m.kib_per_client(),
                m.registered,
                m.rss_before / 1024,
                m.rss_after / 1024,
                m.register_seconds
            ),
            Err(e) => println!("  idle memory  {:<12} error: {e}", c.label),
        }
        memories.push(result);
    }
    report(&command, &plan, idle_clients, &fanouts, &memories);
    Ok(())
}

/// Where a program is: on PATH, or in the sbin directories Debian installs daemons into.
fn find_program(name: &str, package: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| format!("{name} not found: apt-get install -y {package}"))
}

fn cell(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "error".into(), |v| format!("{v:.decimals$}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?).filter(|r| r.is_finite())
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "pass",
        Some(false) => "FAIL",
        None => "n/a",
    }
}

fn report(
    command: &str,
    plan: &FanoutPlan,
    idle_clients: usize,
    fanouts: &[Result<Fanout, String>],
    memories: &[Result<IdleMemory, String>],
) {
    let fanout = |i: usize| {
        fanouts
            .get(i)
            .and_then(|r| r.as_ref().ok())
            .filter(|f| f.complete)
    };
    let memory = |i: usize| memories.get(i).and_then(|r| r.as_ref().ok());
    let row = |label: &str, f: &dyn Fn(usize) -> Option<f64>, decimals: usize| {
        println!(
            "| {label} | {} | {} | {} |",
            cell(f(0), decimals),
            cell(f(1), decimals),
            cell(ratio(f(0), f(1)), 2)
        );
    };
    let rate_ratio = ratio(
        fanout(0).map(Fanout::per_second),
        fanout(1).map(Fanout::per_second),
    );
    let memory_ratio = ratio(
        memory(0).map(IdleMemory::kib_per_client),
        memory(1).map(IdleMemory::kib_per_client),
    );
    let rate_met = rate_ratio.map(|r| r >= FANOUT_TARGET);
    let memory_met = memory_ratio.map(|r| r <= MEMORY_TARGET);

    println!();
    println!("machine: {}", util::machine_summary());
    println!("command: {command}");
    println!();
    println!("| metric | torsion-irc | InspIRCd | torsion/InspIRCd |");
    println!("| --- | ---: | ---: | ---: |");
    row(
        &format!(
            "fan-out: deliveries/s ({} receivers × {} messages)",
            plan.receivers, plan.messages
        ),
        &|i| fanout(i).map(Fanout::per_second),
        0,
    );
    row(
        "fan-out: seconds until every receiver had every message",
        &|i| fanout(i).map(|f| f.seconds),
        3,
    );
    row(
        "fan-out: server CPU ms per 1000 deliveries",
        &|i| fanout(i).map(Fanout::cpu_ms_per_1000),
        2,
    );
    row(
        "fan-out: server cores busy (CPU s / s)",
        &|i| fanout(i).map(Fanout::server_cores),
        2,
    );
    row(
        "fan-out: load client cores busy",
        &|i| fanout(i).map(Fanout::client_cores),
        2,
    );
    row(
        "fan-out: times the sender waited for its window",
        &|i| fanout(i).map(|f| f.sender_waits as f64),
        0,
    );
    row(
        &format!("idle memory: KiB per registered client ({idle_clients} clients)"),
        &|i| memory(i).map(IdleMemory::kib_per_client),
        2,
    );
    row(
        "idle memory: server RSS with the clients, MiB",
        &|i| memory(i).map(|m| m.rss_after as f64 / (1024.0 * 1024.0)),
        1,
    );
    row(
        "server CPU µs per registration",
        &|i| memory(i).map(IdleMemory::cpu_us_per_registration),
        0,
    );
    println!();
    println!(
        "target: fan-out rate ≥ {FANOUT_TARGET}× InspIRCd's: {} ({})",
        verdict(rate_met),
        cell(rate_ratio, 2)
    );
    println!(
        "target: memory per idle client ≤ {MEMORY_TARGET}× InspIRCd's: {} ({})",
        verdict(memory_met),
        cell(memory_ratio, 2)
    );
    let labels = ["torsion-irc", "InspIRCd"];
    let mut notes = Vec::new();
    for (label, f) in labels.iter().zip(fanouts) {
        match f {
            Ok(f) => {
                if let Some(e) = &f.errors {
                    notes.push(format!(
                        "{label}, fan-out ({} of {} deliveries): {e}",
                        f.deliveries,
                        f.receivers as u64 * f.messages
                    ));
                }
            }
            Err(e) => notes.push(format!("{label}, fan-out: failed: {e}")),
        }
    }
    for (label, m) in labels.iter().zip(memories) {
        match m {
            Ok(m) => {
                if let Some(e) = &m.errors {
                    notes.push(format!("{label}, idle memory: {e}"));
                }
            }
            Err(e) => notes.push(format!("{label}, idle memory: failed: {e}")),
        }
    }
    if !notes.is_empty() {
        println!();
        for note in notes {
            println!("note: {note}");
        }
    }
    let met = [rate_met, memory_met]
        .iter()
        .filter(|v| **v == Some(true))
        .count();
    println!();
    println!("targets met: {met} of 2 (benchmarks are not tests: exit code 0 either way)");
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
        assert!(parse_options(&["--bogus".to_owned()]).is_err());
        assert!(parse_options(&["--messages".to_owned()]).is_err());
    }
}
