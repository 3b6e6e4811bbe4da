//! `cargo xtask bench smtp`: messages per second accepted *and durably stored* by
//! `torsion-smtp`, against Postfix 3 delivering to Maildir on this machine, both loaded by
//! Postfix's `smtp-source` (Debian package `postfix`).
//!
//! - **Load**: `smtp-source -s 20 -m N -l 1024 -d -M bench.test -f sender@bench.test -t
//!   alice@example.test 127.0.0.1:PORT` — 20 parallel sessions, each sending message after
//!   message over its connection (`-d`), 1 KiB of body per message, one recipient. A warm-up
//!   of 500 messages (same command) goes first, so both servers have their processes and
//!   connections' worth of state; it is counted in the mailbox but not in the figures.
//! - **Figure**: N divided by the time from starting smtp-source until all N message files
//!   exist in the recipient's Maildir `new/`. torsion-smtp writes, fsyncs and renames each file
//!   (and fsyncs the directory) *before* its 250, so its files exist when smtp-source exits;
//!   Postfix acknowledges once the message is safe in its queue (cleanup fsyncs the queue
//!   file) and virtual(8) delivers to Maildir afterwards (fsync, then rename), so the clock
//!   runs until the last file appears. The time until smtp-source finished (every message
//!   acknowledged) is shown beside it.
//! - **CPU**: the server's CPU time per message (utime + stime from /proc: torsion-smtp's one
//!   process; Postfix's master and every process below it, plus the workers that exited, via
//!   the master's `cutime`/`cstime`), and smtp-source's own CPU time.
//!
//! Postfix runs from the templates in /work/shared/peers (see [`postfix`]); torsion-smtp from
//! `serve --listen tcp:0:interface=127.0.0.1 --hostname mx.bench.test --domain example.test
//! --mail-root DIR/mail --users DIR/users --queue-dir DIR/queue`. Each measurement starts a
//! fresh server with an empty mail root, torsion-smtp first. Every wait is bounded by
//! `--seconds` (120 s by default per server).
//!
//! Target (SMTP issue): at least Postfix's rate, with the same durability.

mod postfix;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use super::{cell, ratio};
use crate::util::{self, ServerProcess};
use postfix::Postfix;

/// Messages measured, by default.
const MESSAGES: u64 = 20_000;
/// Warm-up messages before the measured run.
const WARMUP: u64 = 500;
/// Parallel SMTP sessions.
const SESSIONS: u64 = 20;
/// Body bytes per message (`smtp-source -l`).
const MESSAGE_BYTES: u64 = 1024;
/// Default bound on one server's measured run, in seconds.
const LIMIT_SECONDS: u64 = 120;
/// Bound on a server starting to greet.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the Maildir is counted once smtp-source has finished.
const COUNT_EVERY: Duration = Duration::from_millis(20);
/// Target: torsion-smtp / Postfix messages per second.
const TARGET: f64 = 1.0;
/// The recipient; both servers deliver it to DIR/example.test/alice/new.
const RECIPIENT: &str = "alice@example.test";

/// Sizes of one run (`--messages`, `--sessions`, `--seconds`).
#[derive(Debug, Clone)]
struct Options {
    messages: u64,
    sessions: u64,
    limit_seconds: u64,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        messages: MESSAGES,
        sessions: SESSIONS,
        limit_seconds: LIMIT_SECONDS,
    };
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1);
        match args[i].as_str() {
            "--messages" => {
                options.messages = crate::parse_number("--messages", value, 100..=100_000)?
            }
            "--sessions" => options.sessions = crate::parse_number("--sessions", value, 1..=100)?,
            "--seconds" => {
                options.limit_seconds = crate::parse_number("--seconds", value, 1..=600)?
            }
            other => return Err(format!("bench smtp: unexpected argument {other:?}")),
        }
        i += 2;
    }
    Ok(options)
}

/// Entry point of `bench smtp`; `args` are the words after `smtp`.
pub fn main(args: &[String]) -> ExitCode {
    let options = match parse_options(args) {
        Ok(options) => options,
        Err(e) => return crate::usage_error(&e),
    };
    super::finish("smtp", run(&options))
}

/// One measured run.
#[derive(Debug)]
struct Measurement {
    /// Messages measured (after the warm-up).
    messages: u64,
    /// Seconds from starting smtp-source until every file existed.
    seconds: f64,
    /// Seconds until smtp-source had every message acknowledged.
    acked_seconds: f64,
    /// Server CPU seconds over the measured run (until every file existed).
    server_cpu: f64,
    /// smtp-source's CPU seconds.
    source_cpu: f64,
}

impl Measurement {
    fn per_second(&self) -> f64 {
        self.messages as f64 / self.seconds
    }
    fn cpu_us_per_message(&self) -> f64 {
        self.server_cpu * 1e6 / self.messages as f64
    }
    fn server_cores(&self) -> f64 {
        self.server_cpu / self.seconds
    }
    fn source_cores(&self) -> f64 {
        self.source_cpu / self.seconds
    }
}

/// A server under test, running.
enum Running {
    Torsion(ServerProcess),
    Postfix(Postfix),
}

impl Running {
    fn cpu_seconds(&self) -> f64 {
        match self {
            Running::Torsion(p) => util::cpu_seconds(p.pid()).unwrap_or(0.0),
            Running::Postfix(p) => p.cpu_seconds(),
        }
    }

    /// Stop it; an error if it had to be killed or did not exit 0.
    fn stop(self) -> Result<(), String> {
        match self {
            Running::Torsion(mut p) => p.stop_cleanly(),
            Running::Postfix(mut p) => p.stop(),
        }
    }
}

fn run(options: &Options) -> Result<(), String> {
    let command = format!(
        "cargo xtask {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    let root = util::workspace_root();
    let source = util::find_program("smtp-source", "postfix")?;
    let postfix = util::find_program("postfix", "postfix")?;
    util::cargo_build(&["-p", "torsion-smtp", "--bin", "torsion-smtp"])?;
    let binary = util::release_dir().join("torsion-smtp");
    let dir = root.join("var").join("bench").join("smtp");
    println!(
        "bench smtp: smtp-source, {} sessions × {} messages of {MESSAGE_BYTES} bytes (after {WARMUP} warm-up), measured until every Maildir file exists; a fresh server each; data and logs in var/bench/smtp/",
        options.sessions, options.messages
    );
    let limit = Duration::from_secs(options.limit_seconds);
    let mut results = Vec::new();
    let mut commands = Vec::new();
    for label in ["torsion-smtp", "Postfix"] {
        let result = (|| {
            let (server, addr, new_dir, server_command) = if label == "Postfix" {
                let port = free_port()?;
                let instance = Postfix::start(&postfix, &dir.join("postfix"), port)?;
                let new_dir = instance.new_dir.clone();
                let command = instance.command.clone();
                (
                    Running::Postfix(instance),
                    SocketAddr::from(([127, 0, 0, 1], port)),
                    new_dir,
                    command,
                )
            } else {
                start_torsion(&root, &binary, &dir.join("torsion"))?
            };
            commands.push(format!("{label}: {server_command}"));
            let measured = wait_greeting(addr)
                .and_then(|()| measure(&source, addr, &server, &new_dir, options, limit));
            let stopped = server.stop();
            let measured = measured?;
            stopped.map(|()| measured)
        })();
        match &result {
            Ok(m) => println!(
                "  {label:<13} {:>8.0} msgs/s  {:>7.3} s (all acked after {:.3} s)  {:>6.0} CPU µs/msg  server {:.2} cores, smtp-source {:.2} cores",
                m.per_second(),
                m.seconds,
                m.acked_seconds,
                m.cpu_us_per_message(),
                m.server_cores(),
                m.source_cores()
            ),
            Err(e) => println!("  {label:<13} error: {e}"),
        }
        results.push(result);
    }
    report(&command, options, &commands, &results);
    Ok(())
}

/// torsion-smtp on `tcp:0` with an empty mail root under `dir`.
fn start_torsion(
    root: &Path,
    binary: &Path,
    dir: &Path,
) -> Result<(Running, SocketAddr, PathBuf, String), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let users = dir.join("users");
    std::fs::write(&users, format!("{RECIPIENT}:{{PLAIN}}benchpw\n"))
        .map_err(|e| format!("cannot write {}: {e}", users.display()))?;
    let path = |p: &str| dir.join(p).display().to_string();
    let args: Vec<String> = vec![
        "serve".into(),
        "--listen".into(),
        "tcp:0:interface=127.0.0.1".into(),
        "--hostname".into(),
        "mx.bench.test".into(),
        "--domain".into(),
        "example.test".into(),
        "--mail-root".into(),
        path("mail"),
        "--users".into(),
        path("users"),
        "--queue-dir".into(),
        path("queue"),
    ];
    let mut server = ServerProcess::spawn(
        "torsion-smtp",
        binary,
        &args,
        root,
        &dir.join("torsion-smtp.log"),
    )?;
    let addresses = server.wait_listening(1, START_TIMEOUT)?;
    let addr = addresses[0]
        .strip_prefix("tcp:")
        .and_then(|a| a.parse::<SocketAddr>().ok())
        .ok_or_else(|| format!("unexpected listening address {:?}", addresses[0]))?;
    let command = format!("torsion-smtp {}", args.join(" "))
        .replace("tcp:0", "tcp:PORT")
        .replace(&dir.display().to_string(), "DIR");
    let new_dir = dir
        .join("mail")
        .join("example.test")
        .join("alice")
        .join("new");
    Ok((Running::Torsion(server), addr, new_dir, command))
}

/// Warm up, then run the measured smtp-source and wait for every file.
fn measure(
    source: &Path,
    addr: SocketAddr,
    server: &Running,
    new_dir: &Path,
    options: &Options,
    limit: Duration,
) -> Result<Measurement, String> {
    run_source(source, addr, WARMUP, options.sessions, limit)?;
    wait_for_files(new_dir, WARMUP, Instant::now() + limit).map_err(|e| format!("warm-up: {e}"))?;
    let cpu_before = server.cpu_seconds();
    let source_before = own_children_cpu();
    let start = Instant::now();
    let deadline = start + limit;
    let acked = run_source(source, addr, options.messages, options.sessions, limit)?;
    let acked_seconds = acked.duration_since(start).as_secs_f64();
    let source_cpu = own_children_cpu() - source_before;
    let done = wait_for_files(new_dir, WARMUP + options.messages, deadline)?;
    let server_cpu = server.cpu_seconds() - cpu_before;
    Ok(Measurement {
        messages: options.messages,
        seconds: done.duration_since(start).as_secs_f64(),
        acked_seconds,
        server_cpu,
        source_cpu,
    })
}

/// CPU seconds of this process's exited (waited-for) children: smtp-source's, as a delta.
fn own_children_cpu() -> f64 {
    let me = std::process::id();
    util::cpu_seconds_with_reaped_children(me).unwrap_or(0.0) - util::cpu_seconds(me).unwrap_or(0.0)
}

/// `smtp-source -s SESSIONS -m COUNT -l 1024 -d …` to completion (killed after `limit`);
/// returns when it finished.
fn run_source(
    source: &Path,
    addr: SocketAddr,
    count: u64,
    sessions: u64,
    limit: Duration,
) -> Result<Instant, String> {
    let mut child: Child = Command::new(source)
        .args([
            "-s",
            &sessions.to_string(),
            "-m",
            &count.to_string(),
            "-l",
            &MESSAGE_BYTES.to_string(),
            "-d",
            "-M",
            "bench.test",
            "-f",
            "sender@bench.test",
            "-t",
            RECIPIENT,
            &addr.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start smtp-source: {e}"))?;
    match util::wait_or_kill(&mut child, limit, Duration::from_millis(2)) {
        Ok(Some(status)) => {
            let finished = Instant::now();
            if status.success() {
                return Ok(finished);
            }
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                use std::io::Read;
                let _ = err.read_to_string(&mut stderr);
            }
            Err(format!(
                "smtp-source exited with {}: {}",
                util::describe_status(status),
                stderr.trim()
            ))
        }
        Ok(None) => Err(format!(
            "smtp-source did not finish {count} messages within {} s: killed",
            limit.as_secs()
        )),
        Err(e) => Err(format!("waiting for smtp-source: {e}")),
    }
}

/// Wait until `dir` holds at least `count` files; returns when it did.
fn wait_for_files(dir: &Path, count: u64, deadline: Instant) -> Result<Instant, String> {
    loop {
        let now = Instant::now();
        let n = std::fs::read_dir(dir).map_or(0, |entries| entries.count() as u64);
        if n >= count {
            return Ok(now);
        }
        if now >= deadline {
            return Err(format!(
                "{n} of {count} message files in {} at the time limit",
                dir.display()
            ));
        }
        std::thread::sleep(COUNT_EVERY);
    }
}

/// Wait until the server at `addr` sends a 220 greeting.
fn wait_greeting(addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match greet(addr) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "no 220 greeting from {addr} within {} s: {last}",
        START_TIMEOUT.as_secs()
    ))
}

fn greet(addr: SocketAddr) -> Result<(), String> {
    let stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let _ = (&stream).write_all(b"QUIT\r\n");
    if line.starts_with("220") {
        Ok(())
    } else {
        Err(format!("greeting {line:?}"))
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

fn report(
    command: &str,
    options: &Options,
    commands: &[String],
    results: &[Result<Measurement, String>],
) {
    let get = |i: usize| results.get(i).and_then(|r| r.as_ref().ok());
    let row = |label: &str, f: &dyn Fn(&Measurement) -> f64, decimals: usize| {
        let (a, b) = (get(0).map(f), get(1).map(f));
        println!(
            "| {label} | {} | {} | {} |",
            cell(a, decimals),
            cell(b, decimals),
            cell(ratio(a, b), 2)
        );
    };
    println!();
    println!("machine: {}", util::machine_summary());
    println!("command: {command}");
    for c in commands {
        println!("  {c}");
    }
    println!();
    println!("| metric | torsion-smtp | Postfix | torsion/Postfix |");
    println!("| --- | ---: | ---: | ---: |");
    row(
        &format!(
            "messages/s, accepted and in the Maildir ({} sessions × {} messages, 1 KiB)",
            options.sessions, options.messages
        ),
        &Measurement::per_second,
        0,
    );
    row("seconds until every file existed", &|m| m.seconds, 3);
    row(
        "seconds until smtp-source had every 250",
        &|m| m.acked_seconds,
        3,
    );
    row(
        "server CPU µs per message",
        &Measurement::cpu_us_per_message,
        0,
    );
    row(
        "server cores busy (CPU s / s)",
        &Measurement::server_cores,
        2,
    );
    row("smtp-source cores busy", &Measurement::source_cores, 2);
    let rate = ratio(
        get(0).map(Measurement::per_second),
        get(1).map(Measurement::per_second),
    );
    println!();
    println!(
        "target: rate ≥ {TARGET}× Postfix's: {} ({})",
        match rate.map(|r| r >= TARGET) {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None => "n/a",
        },
        cell(rate, 2)
    );
    for (label, r) in ["torsion-smtp", "Postfix"].iter().zip(results) {
        if let Err(e) = r {
            println!("note: {label}: failed: {e}");
        }
    }
    println!("(benchmarks are not tests: exit code 0 either way)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        let args: Vec<String> = ["--messages", "1000", "--sessions", "5"]
            .map(String::from)
            .to_vec();
        let options = parse_options(&args).unwrap();
        assert_eq!((options.messages, options.sessions), (1000, 5));
        assert_eq!(options.limit_seconds, LIMIT_SECONDS);
        assert!(parse_options(&["--messages".to_owned(), "5".to_owned()]).is_err());
        assert!(parse_options(&["--bogus".to_owned()]).is_err());
    }
}
