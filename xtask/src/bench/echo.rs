//! `cargo xtask bench core`: torsion-core's `echo` example against a minimal hand-written tokio
//! echo server (`baseline_echo`), to measure what the core (runner, limits, spans, `Connection`,
//! codecs) costs over raw tokio. Each measurement runs on a fresh server process, torsion
//! first, then the baseline.
//!
//! torsion-core sets TCP_NODELAY on every accepted socket (right for line protocols: a reply
//! is never held back by Nagle's algorithm), the canonical tokio echo does not. On loopback
//! that alone changes bulk throughput by ~25%, so throughput is also measured against the
//! baseline with `--nodelay`, which isolates what the core's own code costs.
//!
//! Targets (from the core issue): throughput and connection rate within 10% of the baseline
//! (ratio ≥ 0.9), and under 4 KiB of server memory per idle connection.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::load::{self, ConnectionRate, IdleMemory, Throughput};
use super::{cell, ratio, verdict};
use crate::util::{self, ServerProcess};

/// Throughput: concurrent connections.
const STREAMS: usize = 64;
/// Throughput: unanswered bytes allowed per connection.
const WINDOW: usize = 32 * 1024;
/// Connection rate: concurrent connecting workers.
const CONNECTORS: usize = 32;
/// Idle memory: connections held open.
const IDLE_CONNECTIONS: usize = 10_000;
/// Idle memory: connections opened concurrently.
const IDLE_BATCH: usize = 250;
/// Idle memory: bound on opening them all.
const IDLE_OPEN_LIMIT: Duration = Duration::from_secs(60);
/// Warm-up before throughput and connection-rate measurements.
const WARMUP: Duration = Duration::from_secs(1);
/// Wait after opening the idle connections before reading RSS.
const SETTLE: Duration = Duration::from_secs(1);
/// Minimum ratio torsion/baseline for throughput and connection rate.
const RATIO_TARGET: f64 = 0.9;
/// Maximum bytes of server memory per idle connection.
const MEMORY_TARGET: f64 = 4096.0;

/// A server under test.
#[derive(Debug)]
struct Contender {
    label: &'static str,
    /// Log file stem in var/bench.
    slug: &'static str,
    binary: PathBuf,
    args: Vec<String>,
}

impl Contender {
    fn start(&self, phase: &str) -> Result<(ServerProcess, SocketAddr), String> {
        let root = util::workspace_root();
        let log = root
            .join("var")
            .join("bench")
            .join(format!("core-{phase}-{}.log", self.slug));
        let mut server = ServerProcess::spawn(self.label, &self.binary, &self.args, &root, &log)?;
        let addresses = server.wait_listening(1, Duration::from_secs(10))?;
        let addr = addresses[0]
            .strip_prefix("tcp:")
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .ok_or_else(|| {
                format!(
                    "{}: unexpected listening address {:?}",
                    self.label, addresses[0]
                )
            })?;
        Ok((server, addr))
    }
}

/// Per-contender results of one run.
#[derive(Debug)]
struct Results {
    throughput: Result<Throughput, String>,
    rate: Result<ConnectionRate, String>,
    memory: Result<IdleMemory, String>,
}

/// Entry point of `bench core`.
pub fn main(seconds: u64) -> ExitCode {
    super::finish("core", run(Duration::from_secs(seconds)))
}

fn run(measure: Duration) -> Result<(), String> {
    let command = format!(
        "cargo xtask {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    // Children inherit the limit: both servers and this load generator need > 10,000 sockets.
    let nofile =
        util::raise_nofile_limit().map_err(|e| format!("cannot raise RLIMIT_NOFILE: {e}"))?;
    let idle_count = IDLE_CONNECTIONS.min(
        usize::try_from(nofile)
            .unwrap_or(usize::MAX)
            .saturating_sub(500),
    );

    util::cargo_build(&["-p", "torsion-core", "--example", "echo"])?;
    util::cargo_build(&["-p", "xtask", "--bin", "baseline_echo"])?;
    let release = util::release_dir();
    let contenders = [
        Contender {
            label: "torsion echo",
            slug: "torsion",
            binary: release.join("examples").join("echo"),
            args: [
                "--listen",
                "tcp:0:interface=127.0.0.1",
                "--max-per-ip",
                "0",
                "--max-connections",
                "20000",
                "--log-level",
                "info",
            ]
            .map(String::from)
            .to_vec(),
        },
        Contender {
            label: "baseline",
            slug: "baseline",
            binary: release.join("baseline_echo"),
            args: ["--listen", "127.0.0.1:0"].map(String::from).to_vec(),
        },
    ];
    let baseline_nodelay = Contender {
        label: "baseline+ND",
        slug: "baseline-nodelay",
        binary: release.join("baseline_echo"),
        args: ["--listen", "127.0.0.1:0", "--nodelay"]
            .map(String::from)
            .to_vec(),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;

    println!(
        "bench core: {} s per measurement, {} s warm-up; logs in var/bench/",
        measure.as_secs(),
        WARMUP.as_secs()
    );
    let mut throughput: Vec<Result<Throughput, String>> = Vec::new();
    for c in contenders.iter().chain([&baseline_nodelay]) {
        let result = measured(c, "throughput", |addr, pid| {
            runtime.block_on(load::throughput(
                addr, pid, STREAMS, WINDOW, WARMUP, measure,
            ))
        });
        match &result {
            Ok(t) => println!(
                "  throughput    {:<13} {:>9.1} MB/s  {:>6.2} CPU s/GB",
                c.label,
                t.mb_per_second(),
                t.cpu_seconds_per_gb()
            ),
            Err(e) => println!("  throughput    {:<13} error: {e}", c.label),
        }
        throughput.push(result);
    }
    let mut rate: Vec<Result<ConnectionRate, String>> = Vec::new();
    for c in &contenders {
        let result = measured(c, "connrate", |addr, pid| {
            runtime.block_on(load::connection_rate(
                addr, pid, CONNECTORS, WARMUP, measure,
            ))
        });
        match &result {
            Ok(r) => println!(
                "  connections   {:<13} {:>9.0} /s    {:>6.1} CPU µs/conn",
                c.label,
                r.per_second(),
                r.cpu_us_per_connection()
            ),
            Err(e) => println!("  connections   {:<13} error: {e}", c.label),
        }
        rate.push(result);
    }
    let mut memory: Vec<Result<IdleMemory, String>> = Vec::new();
    for c in &contenders {
        let result = measured(c, "memory", |addr, pid| {
            runtime.block_on(load::idle_memory(
                addr,
                pid,
                idle_count,
                IDLE_BATCH,
                IDLE_OPEN_LIMIT,
                SETTLE,
            ))
        });
        match &result {
            Ok(m) => println!(
                "  idle memory   {:<13} {:>9.0} B/conn ({} conns, RSS {} → {} KiB)",
                c.label,
                m.bytes_per_connection(),
                m.opened,
                m.rss_before / 1024,
                m.rss_after / 1024
            ),
            Err(e) => println!("  idle memory   {:<13} error: {e}", c.label),
        }
        memory.push(result);
    }
    // The third throughput run is the baseline with TCP_NODELAY.
    let nodelay_throughput = throughput
        .pop()
        .unwrap_or_else(|| Err("not measured".into()));
    let mut results =
        throughput
            .into_iter()
            .zip(rate)
            .zip(memory)
            .map(|((throughput, rate), memory)| Results {
                throughput,
                rate,
                memory,
            });
    let (Some(torsion), Some(baseline)) = (results.next(), results.next()) else {
        return Err("internal error: missing results".into());
    };
    report(
        &command,
        &torsion,
        &baseline,
        &nodelay_throughput,
        idle_count,
    );
    Ok(())
}

/// Start a fresh server, run `measure` against it, stop it (SIGTERM) and check it exited 0.
fn measured<T>(
    contender: &Contender,
    phase: &str,
    measure: impl FnOnce(SocketAddr, u32) -> Result<T, String>,
) -> Result<T, String> {
    let (mut server, addr) = contender.start(phase)?;
    let result = measure(addr, server.pid());
    let stopped = server.stop(util::STOP_TIMEOUT);
    let value = result?;
    match stopped {
        Ok(status) if status.success() => Ok(value),
        Ok(status) => Err(format!(
            "{} ended with {} (see {})",
            contender.label,
            util::describe_status(status),
            server.log.display()
        )),
        Err(e) => Err(e),
    }
}

fn report(
    command: &str,
    torsion: &Results,
    baseline: &Results,
    nodelay: &Result<Throughput, String>,
    idle_count: usize,
) {
    let tp = |r: &Results| r.throughput.as_ref().ok().map(Throughput::mb_per_second);
    let tp_cpu = |r: &Results| {
        r.throughput
            .as_ref()
            .ok()
            .map(Throughput::cpu_seconds_per_gb)
    };
    let cr = |r: &Results| r.rate.as_ref().ok().map(ConnectionRate::per_second);
    let cr_cpu = |r: &Results| {
        r.rate
            .as_ref()
            .ok()
            .map(ConnectionRate::cpu_us_per_connection)
    };
    let mem = |r: &Results| r.memory.as_ref().ok().map(IdleMemory::bytes_per_connection);
    let nd_tp = nodelay.as_ref().ok().map(Throughput::mb_per_second);
    let nd_cpu = nodelay.as_ref().ok().map(Throughput::cpu_seconds_per_gb);

    // The core's overhead is judged against the baseline with the same socket options
    // (TCP_NODELAY); the canonical Nagle-on baseline is shown for reference.
    let tp_ratio = ratio(tp(torsion), nd_tp);
    let cr_ratio = ratio(cr(torsion), cr(baseline));
    let tp_met = tp_ratio.map(|r| r >= RATIO_TARGET);
    let cr_met = cr_ratio.map(|r| r >= RATIO_TARGET);
    let mem_met = mem(torsion).map(|m| m < MEMORY_TARGET);

    println!();
    println!("machine: {}", util::machine_summary());
    println!("command: {command}");
    println!();
    println!(
        "| metric | torsion echo | baseline (tokio echo) | torsion/baseline | target | result |"
    );
    println!("| --- | ---: | ---: | ---: | --- | --- |");
    println!(
        "| throughput, MB/s echoed ({STREAMS} conns, 1 KiB lines, {} KiB window), baseline with TCP_NODELAY as torsion sets it | {} | {} | {} | ratio ≥ {RATIO_TARGET} | {} |",
        WINDOW / 1024,
        cell(tp(torsion), 1),
        cell(nd_tp, 1),
        cell(tp_ratio, 2),
        verdict(tp_met)
    );
    println!(
        "| server CPU, s per GB echoed, baseline with TCP_NODELAY | {} | {} | {} | — | — |",
        cell(tp_cpu(torsion), 2),
        cell(nd_cpu, 2),
        cell(ratio(tp_cpu(torsion), nd_cpu), 2)
    );
    println!(
        "| throughput, MB/s, canonical baseline (Nagle on: a socket policy, not core code) | {} | {} | {} | — | — |",
        cell(tp(torsion), 1),
        cell(tp(baseline), 1),
        cell(ratio(tp(torsion), tp(baseline)), 2),
    );
    println!(
        "| server CPU, s per GB, canonical baseline | {} | {} | {} | — | — |",
        cell(tp_cpu(torsion), 2),
        cell(tp_cpu(baseline), 2),
        cell(ratio(tp_cpu(torsion), tp_cpu(baseline)), 2)
    );
    println!(
        "| connections/s ({CONNECTORS} workers: connect, 1 KiB round trip, close) | {} | {} | {} | ratio ≥ {RATIO_TARGET} | {} |",
        cell(cr(torsion), 0),
        cell(cr(baseline), 0),
        cell(cr_ratio, 2),
        verdict(cr_met)
    );
    println!(
        "| server CPU, µs per connection | {} | {} | {} | — | — |",
        cell(cr_cpu(torsion), 1),
        cell(cr_cpu(baseline), 1),
        cell(ratio(cr_cpu(torsion), cr_cpu(baseline)), 2)
    );
    println!(
        "| idle memory, bytes per connection ({idle_count} conns) | {} | {} | {} | < {MEMORY_TARGET} B (torsion) | {} |",
        cell(mem(torsion), 0),
        cell(mem(baseline), 0),
        cell(ratio(mem(torsion), mem(baseline)), 2),
        verdict(mem_met)
    );

    let mut notes: Vec<String> = [("torsion echo", torsion), ("baseline", baseline)]
        .iter()
        .flat_map(|(label, r)| {
            [
                (
                    "throughput",
                    r.throughput.as_ref().map(|t| t.errors.clone()),
                ),
                ("connections", r.rate.as_ref().map(|t| t.errors.clone())),
                ("idle memory", r.memory.as_ref().map(|t| t.errors.clone())),
            ]
            .into_iter()
            .filter_map(move |(metric, outcome)| match outcome {
                Ok(None) => None,
                Ok(Some(errors)) => Some(format!("{label}, {metric}: {errors}")),
                Err(e) => Some(format!("{label}, {metric}: failed: {e}")),
            })
        })
        .collect();
    match nodelay {
        Ok(Throughput {
            errors: Some(errors),
            ..
        }) => notes.push(format!("baseline+ND, throughput: {errors}")),
        Err(e) => notes.push(format!("baseline+ND, throughput: failed: {e}")),
        Ok(_) => {}
    }
    if !notes.is_empty() {
        println!();
        for note in notes {
            println!("note: {note}");
        }
    }
    let verdicts = [tp_met, cr_met, mem_met];
    let met = verdicts.iter().filter(|v| **v == Some(true)).count();
    println!();
    println!(
        "targets met: {met} of {} (benchmarks are not tests: exit code 0 either way)",
        verdicts.len()
    );
}
