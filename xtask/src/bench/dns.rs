//! `cargo xtask bench dns`: dnsperf against `torsion-dns` and the real peers in one run.
//!
//! - **Authoritative answers**: the zone in `interop-data/bench/bench.test.zone` served by NSD
//!   (`server-count: 2`, `reuseport`) and by `torsion-dns serve --zone`.
//! - **Cached answers**: Unbound (`num-threads: 2`, a stub zone for `bench.test`) and
//!   `torsion-dns serve --forward`, both in front of the same upstream authority (NSD on
//!   127.0.0.2), measured after a warm-up pass has filled their caches. Our recursor starts
//!   from root hints, so the forwarder is the closest equivalent of Unbound's stub zone: both
//!   send every cache miss for the zone to one configured address.
//!
//! Every measurement uses the same query file and dnsperf settings, and starts a fresh server.
//! On this 2-core machine dnsperf takes about one core, so besides queries per second the
//! server's CPU time per 100k queries (utime + stime of its whole process tree, from /proc) is
//! reported: the fairer figure when the load generator and the server share the cores.
//!
//! Targets (from the DNS issue): ahead of NSD on authoritative answers and of Unbound on cached
//! answers, read as a QPS ratio torsion/peer above 1 and a CPU-per-query ratio below 1.

mod dnsperf;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::util::{self, ServerProcess};
use dnsperf::Measurement;

/// Default length of each measurement, in seconds.
pub const DEFAULT_SECONDS: u64 = 10;
/// The benchmark zone, relative to the workspace root.
const ZONE: &str = "xtask/interop-data/bench/bench.test.zone";
/// dnsperf's query file (names and types; existing names, NXDOMAIN and NODATA).
const QUERIES: &str = "xtask/interop-data/bench/bench.test.queries";
/// The zone's origin.
const ORIGIN: &str = "bench.test";
/// Where the servers under test listen.
const SERVER_ADDR: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// Where the upstream authority of the cached-answer measurement listens.
const UPSTREAM_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Warm-up before every measurement (fills the resolvers' caches: the query file has 2000
/// lines and each warm-up sends several times that many queries).
const WARMUP_SECONDS: u64 = 3;
/// Time a server gets to answer its first query.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Readiness probes: wait for each answer this long.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Rcode shares (percentage points) allowed to differ between two servers before a note says
/// their answers differ.
const RCODE_TOLERANCE: f64 = 1.0;

/// Where a program is: on PATH, or in the sbin directories Debian installs daemons into.
fn find_program(name: &str, package: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| format!("{name} not found: apt-get install -y {package}"))
}

/// A port free on `ip` for both UDP and TCP right now (released before returning).
fn free_port(ip: Ipv4Addr) -> Result<u16, String> {
    for _ in 0..50 {
        let udp = UdpSocket::bind((ip, 0)).map_err(|e| format!("cannot bind UDP on {ip}: {e}"))?;
        let port = udp.local_addr().map_err(|e| e.to_string())?.port();
        if TcpListener::bind((ip, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(format!(
        "no port free on {ip} for both UDP and TCP in 50 tries"
    ))
}

/// Ask `server` for the zone's SOA once over UDP: whether a NOERROR answer with at least one
/// record came back within [`PROBE_TIMEOUT`].
fn answers_soa(server: SocketAddr, id: u16) -> bool {
    let Ok(name) = Name::from_ascii(format!("{ORIGIN}.")) else {
        return false;
    };
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name, RecordType::SOA));
    let Ok(wire) = query.to_vec() else {
        return false;
    };
    let Ok(socket) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) else {
        return false;
    };
    if socket.connect(server).is_err()
        || socket.set_read_timeout(Some(PROBE_TIMEOUT)).is_err()
        || socket.send(&wire).is_err()
    {
        return false;
    }
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + PROBE_TIMEOUT;
    while Instant::now() < deadline {
        let Ok(n) = socket.recv(&mut buf) else {
            return false;
        };
        if let Ok(reply) = Message::from_vec(&buf[..n]) {
            if reply.metadata.id == id {
                return reply.metadata.message_type == MessageType::Response
                    && reply.metadata.response_code == ResponseCode::NoError
                    && !reply.answers.is_empty();
            }
        }
    }
    false
}

/// Wait until `server` answers the zone's SOA; fails if the process exits first or after
/// [`START_TIMEOUT`]. `extra_log` is a log file the server writes itself (NSD, Unbound).
fn wait_answering(
    process: &mut ServerProcess,
    server: SocketAddr,
    extra_log: Option<&Path>,
) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut id: u16 = 0x4000;
    let describe = |process: &ServerProcess| {
        let mut text = util::last_line(&process.log);
        if let Some(log) = extra_log {
            text.push_str("; ");
            text.push_str(&util::last_line(log));
        }
        text
    };
    loop {
        id = id.wrapping_add(1);
        if answers_soa(server, id) {
            return Ok(());
        }
        if let Some(status) = process.try_status() {
            return Err(format!(
                "{} exited ({}) before answering: {}",
                process.name,
                util::describe_status(status),
                describe(process)
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} did not answer `{ORIGIN} SOA` on {server} within {} s: {}",
                process.name,
                START_TIMEOUT.as_secs(),
                describe(process)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// User + system CPU seconds of `pid` and all its descendants (NSD serves from forked
/// children; Unbound and torsion-dns from threads, which /proc/PID/stat already sums).
fn tree_cpu_seconds(pid: u32) -> Result<f64, String> {
    let mut parent_of: HashMap<u32, u32> = HashMap::new();
    let entries = std::fs::read_dir("/proc").map_err(|e| format!("cannot list /proc: {e}"))?;
    for entry in entries.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state, ppid, …
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.insert(child, ppid);
        }
    }
    let mut tree: HashSet<u32> = HashSet::from([pid]);
    loop {
        let before = tree.len();
        for (child, parent) in &parent_of {
            if tree.contains(parent) {
                tree.insert(*child);
            }
        }
        if tree.len() == before {
            break;
        }
    }
    let mut total = util::cpu_seconds(pid).map_err(|e| format!("CPU time of {pid}: {e}"))?;
    for other in tree.iter().filter(|p| **p != pid) {
        // A child that exits meanwhile simply stops counting.
        total += util::cpu_seconds(*other).unwrap_or(0.0);
    }
    Ok(total)
}

/// Warm up, then measure one server: dnsperf for `seconds`, and the server's CPU time over
/// exactly that run (and the upstream's, when there is one: it shows whether the cache was
/// warm).
fn measure(
    ctx: &Context,
    process: &mut ServerProcess,
    port: u16,
    slug: &str,
    upstream: Option<u32>,
) -> Result<Measurement, String> {
    let logs = ctx.root.join("var").join("bench").join("dns");
    dnsperf::run(
        &ctx.dnsperf,
        &ctx.root,
        &ctx.root.join(QUERIES),
        port,
        WARMUP_SECONDS,
        &logs.join(format!("{slug}-warmup.dnsperf.log")),
    )
    .map_err(|e| format!("warm-up: {e}"))?;
    let pid = process.pid();
    let upstream_before = upstream.map(tree_cpu_seconds).transpose()?;
    let before = tree_cpu_seconds(pid)?;
    let mut result = dnsperf::run(
        &ctx.dnsperf,
        &ctx.root,
        &ctx.root.join(QUERIES),
        port,
        ctx.seconds,
        &logs.join(format!("{slug}.dnsperf.log")),
    )?;
    let after = tree_cpu_seconds(pid)?;
    result.server_cpu = after - before;
    if let (Some(upstream), Some(before)) = (upstream, upstream_before) {
        result.upstream_cpu = Some(tree_cpu_seconds(upstream)? - before);
    }
    if let Some(status) = process.try_status() {
        return Err(format!(
            "{} exited during the run ({}): {}",
            process.name,
            util::describe_status(status),
            util::last_line(&process.log)
        ));
    }
    Ok(result)
}

/// Stop a server by its PID (SIGTERM, then SIGKILL) and say if it did not exit cleanly.
fn stop(mut process: ServerProcess, notes: &mut Vec<String>) {
    match process.stop(util::STOP_TIMEOUT) {
        Ok(status) if status.success() => {}
        Ok(status) => notes.push(format!(
            "{} ended with {} after SIGTERM (see {})",
            process.name,
            util::describe_status(status),
            process.log.display()
        )),
        Err(e) => notes.push(e),
    }
}

/// Fixed inputs of the whole run.
#[derive(Debug)]
struct Context {
    root: PathBuf,
    seconds: u64,
    dnsperf: PathBuf,
    nsd: PathBuf,
    unbound: PathBuf,
    torsion: PathBuf,
}

impl Context {
    fn scratch(&self, name: &str) -> Result<PathBuf, String> {
        let dir = self.root.join("var").join("bench").join("dns").join(name);
        // A fresh directory: no NSD zone list, xfrd state or pid file from an earlier run.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(dir)
    }

    fn log(&self, slug: &str) -> PathBuf {
        self.root
            .join("var")
            .join("bench")
            .join("dns")
            .join(format!("{slug}.log"))
    }

    /// NSD from the shared template, serving the benchmark zone on `addr:port`.
    fn start_nsd(
        &self,
        name: &str,
        addr: Ipv4Addr,
        port: u16,
    ) -> Result<(ServerProcess, PathBuf), String> {
        let dir = self.scratch(name)?;
        let template = read_template("nsd.conf")?;
        let zonefile = "bench.test.zone";
        std::fs::copy(self.root.join(ZONE), dir.join(zonefile))
            .map_err(|e| format!("cannot copy {ZONE}: {e}"))?;
        let config = template
            .replace("@DIR@", &dir.display().to_string())
            .replace("@ADDR@", &addr.to_string())
            .replace("@PORT@", &port.to_string())
            .replace("name: \"example.test\"", &format!("name: \"{ORIGIN}\""))
            .replace(
                "zonefile: \"example.test.zone\"",
                &format!("zonefile: \"{zonefile}\""),
            );
        let unreplaced = ["@DIR@", "@ADDR@", "@PORT@"]
            .iter()
            .any(|p| config.contains(p));
        if !config.contains(&format!("zonefile: \"{zonefile}\"")) || unreplaced {
            return Err("/work/shared/peers/nsd.conf no longer has the expected lines".into());
        }
        let conf = dir.join("nsd.conf");
        std::fs::write(&conf, config)
            .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        let args = ["-d", "-c"]
            .map(String::from)
            .into_iter()
            .chain([conf.display().to_string()])
            .collect::<Vec<_>>();
        let mut process =
            ServerProcess::spawn(name, &self.nsd, &args, &self.root, &self.log(name))?;
        let own_log = dir.join("nsd.log");
        wait_answering(&mut process, SocketAddr::from((addr, port)), Some(&own_log))?;
        Ok((process, conf))
    }

    /// Unbound from the shared template, with its stub zone for the benchmark zone pointing
    /// at `upstream`.
    fn start_unbound(
        &self,
        port: u16,
        upstream: SocketAddr,
    ) -> Result<(ServerProcess, PathBuf), String> {
        let name = "unbound";
        let dir = self.scratch(name)?;
        let template = read_template("unbound.conf")?;
        let config = template
            .replace("@DIR@", &dir.display().to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@ADDR@", &SERVER_ADDR.to_string())
            .replace(
                "@UPSTREAM@",
                &format!("{}@{}", upstream.ip(), upstream.port()),
            )
            .replace("\"example.test\"", &format!("\"{ORIGIN}\""));
        let unreplaced = ["@DIR@", "@ADDR@", "@PORT@", "@UPSTREAM@"]
            .iter()
            .any(|p| config.contains(p));
        if !config.contains(&format!("name: \"{ORIGIN}\"")) || unreplaced {
            return Err("/work/shared/peers/unbound.conf no longer has the expected lines".into());
        }
        let conf = dir.join("unbound.conf");
        std::fs::write(&conf, config)
            .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        let args = ["-d", "-c"]
            .map(String::from)
            .into_iter()
            .chain([conf.display().to_string()])
            .collect::<Vec<_>>();
        let mut process =
            ServerProcess::spawn(name, &self.unbound, &args, &self.root, &self.log(name))?;
        let own_log = dir.join("unbound.log");
        wait_answering(
            &mut process,
            SocketAddr::from((SERVER_ADDR, port)),
            Some(&own_log),
        )?;
        Ok((process, conf))
    }

    /// `torsion-dns serve` on `port` (UDP and TCP) with `extra` flags.
    fn start_torsion(
        &self,
        name: &str,
        port: u16,
        extra: &[String],
    ) -> Result<(ServerProcess, Vec<String>), String> {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            format!("udp:{port}:interface={SERVER_ADDR}"),
            "--listen".into(),
            format!("tcp:{port}:interface={SERVER_ADDR}"),
        ];
        args.extend_from_slice(extra);
        args.extend(["--log-level".into(), "warn".into()]);
        let mut process =
            ServerProcess::spawn(name, &self.torsion, &args, &self.root, &self.log(name))?;
        wait_answering(&mut process, SocketAddr::from((SERVER_ADDR, port)), None)?;
        Ok((process, args))
    }
}

fn read_template(file: &str) -> Result<String, String> {
    let path = Path::new("/work/shared/peers").join(file);
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// One comparison: ours against a peer, on one kind of answer.
#[derive(Debug)]
struct Comparison {
    title: &'static str,
    peer: &'static str,
    torsion: Result<Measurement, String>,
    other: Result<Measurement, String>,
}

/// Entry point of `bench dns`.
pub fn main(seconds: u64) -> ExitCode {
    super::finish("dns", run(seconds))
}

fn run(seconds: u64) -> Result<(), String> {
    let command = format!(
        "cargo xtask {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    let root = util::workspace_root();
    let (dnsperf, nsd, unbound) = (
        find_program("dnsperf", "dnsperf")?,
        find_program("nsd", "nsd")?,
        find_program("unbound", "unbound")?,
    );
    util::cargo_build(&["-p", "torsion-dns", "--bin", "torsion-dns"])?;
    let ctx = Context {
        root,
        seconds,
        dnsperf,
        nsd,
        unbound,
        torsion: util::release_dir().join("torsion-dns"),
    };
    let zone = ctx.root.join(ZONE);
    let example = dnsperf::args(0, Path::new(QUERIES), seconds)
        .join(" ")
        .replace("-p 0", "-p PORT");
    println!(
        "bench dns: {seconds} s per measurement after a {WARMUP_SECONDS} s warm-up, a fresh server each; logs and configs in var/bench/dns/"
    );
    println!("  load: dnsperf {example}");
    let mut notes = Vec::new();

    // Authoritative answers: NSD and torsion-dns serve the same zone file.
    let auth_port = free_port(SERVER_ADDR)?;
    let zone_flag = ["--zone".to_owned(), format!("{ORIGIN}={}", zone.display())];
    let torsion_auth = ctx
        .start_torsion("torsion-auth", auth_port, &zone_flag)
        .and_then(|(mut process, args)| {
            println!("  authoritative: torsion-dns {}", args.join(" "));
            let result = measure(&ctx, &mut process, auth_port, "torsion-auth", None);
            stop(process, &mut notes);
            result
        });
    report_line("authoritative", "torsion-dns", &torsion_auth);
    let nsd_auth =
        ctx.start_nsd("nsd-auth", SERVER_ADDR, auth_port)
            .and_then(|(mut process, conf)| {
                println!("  authoritative: nsd -d -c {}", conf.display());
                let result = measure(&ctx, &mut process, auth_port, "nsd-auth", None);
                stop(process, &mut notes);
                result
            });
    report_line("authoritative", "NSD", &nsd_auth);

    // Cached answers: both resolvers in front of one upstream NSD on 127.0.0.2.
    let upstream_port = free_port(UPSTREAM_ADDR)?;
    let upstream = SocketAddr::from((UPSTREAM_ADDR, upstream_port));
    let cached = match ctx.start_nsd("nsd-upstream", UPSTREAM_ADDR, upstream_port) {
        Ok((upstream_process, conf)) => {
            println!(
                "  upstream for both resolvers: nsd -d -c {} on {upstream}",
                conf.display()
            );
            let port = free_port(SERVER_ADDR)?;
            let upstream_pid = Some(upstream_process.pid());
            let forward = ["--forward".to_owned(), upstream.to_string()];
            let torsion = ctx
                .start_torsion("torsion-forwarder", port, &forward)
                .and_then(|(mut process, args)| {
                    println!("  cached: torsion-dns {}", args.join(" "));
                    let result =
                        measure(&ctx, &mut process, port, "torsion-forwarder", upstream_pid);
                    stop(process, &mut notes);
                    result
                });
            report_line("cached", "torsion-dns", &torsion);
            let unbound = ctx
                .start_unbound(port, upstream)
                .and_then(|(mut process, conf)| {
                    println!("  cached: unbound -d -c {}", conf.display());
                    let result = measure(&ctx, &mut process, port, "unbound", upstream_pid);
                    stop(process, &mut notes);
                    result
                });
            report_line("cached", "Unbound", &unbound);
            stop(upstream_process, &mut notes);
            (torsion, unbound)
        }
        Err(e) => (
            Err(format!("no upstream: {e}")),
            Err(format!("no upstream: {e}")),
        ),
    };

    let comparisons = [
        Comparison {
            title: "authoritative",
            peer: "NSD",
            torsion: torsion_auth,
            other: nsd_auth,
        },
        Comparison {
            title: "cached (resolver)",
            peer: "Unbound",
            torsion: cached.0,
            other: cached.1,
        },
    ];
    report(&command, &comparisons, notes);
    Ok(())
}

fn report_line(phase: &str, label: &str, result: &Result<Measurement, String>) {
    match result {
        Ok(m) => println!(
            "  {phase:<13} {label:<11} {:>9.0} q/s  {:>6.3} ms avg  {:>5} lost  {:>5.2} CPU s/100k q  {:.2} cores  [{}]",
            m.qps,
            m.avg_latency * 1000.0,
            m.lost,
            m.cpu_per_100k().unwrap_or(f64::NAN),
            m.cores_busy().unwrap_or(f64::NAN),
            m.rcode_summary()
        ),
        Err(e) => println!("  {phase:<13} {label:<11} error: {e}"),
    }
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

/// Rcodes whose share differs by more than [`RCODE_TOLERANCE`] points between two runs.
fn rcode_differences(a: &Measurement, b: &Measurement) -> Vec<String> {
    let share = |m: &Measurement, code: &str| {
        m.rcodes
            .iter()
            .find(|(c, _)| c == code)
            .map_or(0.0, |(_, p)| *p)
    };
    let mut codes: Vec<&str> = a
        .rcodes
        .iter()
        .chain(&b.rcodes)
        .map(|(c, _)| c.as_str())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
        .into_iter()
        .filter(|code| (share(a, code) - share(b, code)).abs() > RCODE_TOLERANCE)
        .map(|code| format!("{code} {:.1}% vs {:.1}%", share(a, code), share(b, code)))
        .collect()
}

fn report(command: &str, comparisons: &[Comparison], mut notes: Vec<String>) {
    println!();
    println!("machine: {}", util::machine_summary());
    println!("command: {command}");
    println!();
    println!("| answers | metric | torsion-dns | peer | torsion/peer | target | result |");
    println!("| --- | --- | ---: | ---: | ---: | --- | --- |");
    let mut verdicts = Vec::new();
    for c in comparisons {
        let ours = c.torsion.as_ref().ok();
        let theirs = c.other.as_ref().ok();
        let qps = |m: Option<&Measurement>| m.map(|m| m.qps);
        let latency = |m: Option<&Measurement>| m.map(|m| m.avg_latency * 1000.0);
        let cpu = |m: Option<&Measurement>| m.and_then(Measurement::cpu_per_100k);
        let cores = |m: Option<&Measurement>| m.and_then(Measurement::cores_busy);
        let lost = |m: Option<&Measurement>| m.map(|m| m.lost as f64);
        let qps_ratio = ratio(qps(ours), qps(theirs));
        let cpu_ratio = ratio(cpu(ours), cpu(theirs));
        let qps_met = qps_ratio.map(|r| r > 1.0);
        let cpu_met = cpu_ratio.map(|r| r < 1.0);
        verdicts.extend([qps_met, cpu_met]);
        println!(
            "| {} | queries/s | {} | {} ({}) | {} | ratio > 1 | {} |",
            c.title,
            cell(qps(ours), 0),
            cell(qps(theirs), 0),
            c.peer,
            cell(qps_ratio, 2),
            verdict(qps_met)
        );
        println!(
            "| | server CPU s per 100k queries | {} | {} | {} | ratio < 1 | {} |",
            cell(cpu(ours), 2),
            cell(cpu(theirs), 2),
            cell(cpu_ratio, 2),
            verdict(cpu_met)
        );
        println!(
            "| | average latency, ms | {} | {} | {} | — | — |",
            cell(latency(ours), 3),
            cell(latency(theirs), 3),
            cell(ratio(latency(ours), latency(theirs)), 2)
        );
        println!(
            "| | server cores busy (CPU s / run s) | {} | {} | {} | — | — |",
            cell(cores(ours), 2),
            cell(cores(theirs), 2),
            cell(ratio(cores(ours), cores(theirs)), 2)
        );
        let upstream = |m: Option<&Measurement>| m.and_then(|m| m.upstream_cpu);
        if upstream(ours).is_some() || upstream(theirs).is_some() {
            println!(
                "| | upstream CPU s during the run (cache misses; ~0 when warm) | {} | {} | — | — | — |",
                cell(upstream(ours), 3),
                cell(upstream(theirs), 3)
            );
        }
        println!(
            "| | queries lost (of sent) | {} of {} | {} of {} | — | — | — |",
            cell(lost(ours), 0),
            ours.map_or_else(|| "?".into(), |m| m.sent.to_string()),
            cell(lost(theirs), 0),
            theirs.map_or_else(|| "?".into(), |m| m.sent.to_string()),
        );
        match (&c.torsion, &c.other) {
            (Ok(a), Ok(b)) => {
                let diffs = rcode_differences(a, b);
                if !diffs.is_empty() {
                    notes.push(format!(
                        "{}: response codes differ (torsion-dns vs {}): {}",
                        c.title,
                        c.peer,
                        diffs.join("; ")
                    ));
                }
            }
            (torsion, other) => {
                for (label, r) in [("torsion-dns", torsion), (c.peer, other)] {
                    if let Err(e) = r {
                        notes.push(format!("{}, {label}: failed: {e}", c.title));
                    }
                }
            }
        }
    }
    if !notes.is_empty() {
        println!();
        for note in notes {
            println!("note: {note}");
        }
    }
    let met = verdicts.iter().filter(|v| **v == Some(true)).count();
    println!();
    println!(
        "targets met: {met} of {} (benchmarks are not tests: exit code 0 either way)",
        verdicts.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_differing_rcode_shares() {
        let a = dnsperf::parse(
            "Queries sent: 10\nQueries completed: 10 (100.00%)\nQueries lost: 0 (0.00%)\n\
             Response codes: NOERROR 8 (87.45%), NXDOMAIN 2 (12.55%)\nRun time (s): 1.0\n\
             Queries per second: 10.0\nAverage Latency (s): 0.001 (min 0.001, max 0.001)\n",
        )
        .unwrap();
        let mut b = a.clone();
        assert!(rcode_differences(&a, &b).is_empty());
        b.rcodes = vec![("NOERROR".into(), 80.0), ("SERVFAIL".into(), 20.0)];
        let diffs = rcode_differences(&a, &b);
        assert_eq!(diffs.len(), 3, "{diffs:?}");
    }

    #[test]
    fn sums_cpu_over_own_process() {
        assert!(tree_cpu_seconds(std::process::id()).unwrap() >= 0.0);
    }
}
