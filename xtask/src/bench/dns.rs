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
//! Each comparison runs several rounds (`--rounds N`, default [`DEFAULT_ROUNDS`]), alternating
//! the servers (torsion-dns, peer, torsion-dns, peer, …) so that drift on the machine (another
//! build, thermal limits) falls on both alike. The headline figures are each server's median
//! over its rounds and the ratio of the two medians, so one noisy round cannot decide the
//! result; every round's figures are printed too.
//! On this 2-core machine dnsperf takes about one core, so besides queries per second the
//! server's CPU time per 100k queries (utime + stime of its whole process tree, from /proc) is
//! reported: the fairer figure when the load generator and the server share the cores.
//!
//! At full speed the average latency is mostly time spent queued (dnsperf is the bottleneck
//! here), so after the rounds of each comparison one more run per server, a fresh server each
//! (warmed up like the others), offers a fixed moderate load (`--latency-rate N` queries per
//! second, default [`DEFAULT_LATENCY_RATE`]; 0 skips it) for the same `--seconds`: the achieved
//! rate should equal the offered one, and the latency (average, and dnsperf's min, max and
//! standard deviation) is then the server's answer time rather than queueing.
//!
//! Targets (from the DNS issue): ahead of NSD on authoritative answers and of Unbound on cached
//! answers, read as a QPS ratio torsion/peer above 1 and a CPU-per-query ratio below 1.

mod dnsperf;
mod report;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::util::{self, ServerProcess};
use dnsperf::Measurement;
use report::report;

/// Default length of each measurement, in seconds.
pub const DEFAULT_SECONDS: u64 = 10;
/// Default number of rounds per comparison (each round measures both servers once). Three
/// rounds of the four measurements take about 3 minutes with the default length.
pub const DEFAULT_ROUNDS: u64 = 3;
/// Most rounds accepted.
const MAX_ROUNDS: u64 = 20;
/// Default offered load of the latency runs, queries per second (well below what every server
/// and dnsperf sustain here, so nothing queues).
pub const DEFAULT_LATENCY_RATE: u32 = 20_000;
/// Highest `--latency-rate` accepted (dnsperf's cap of the full-speed runs).
const MAX_LATENCY_RATE: u32 = dnsperf::MAX_QPS;
/// Longest measurement accepted, in seconds.
const MAX_SECONDS: u64 = 600;
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

/// Warm up (at full speed), then measure one server: dnsperf for `seconds` sending at most
/// `max_qps` queries per second, and the server's CPU time over exactly that run (and the
/// upstream's, when there is one: it shows whether the cache was warm).
fn measure(
    ctx: &Context,
    process: &mut ServerProcess,
    port: u16,
    slug: &str,
    upstream: Option<u32>,
    max_qps: u32,
) -> Result<Measurement, String> {
    let logs = ctx.root.join("var").join("bench").join("dns");
    dnsperf::run(
        &ctx.dnsperf,
        &ctx.root,
        &ctx.root.join(QUERIES),
        port,
        WARMUP_SECONDS,
        dnsperf::MAX_QPS,
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
        max_qps,
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

/// One server's measurements in a comparison, one per round (a failed round keeps its error).
type Series = Vec<Result<Measurement, String>>;

/// One comparison: ours against a peer, on one kind of answer, over several rounds, then
/// one latency run each at a fixed offered load.
#[derive(Debug)]
struct Comparison {
    title: &'static str,
    peer: &'static str,
    torsion: Series,
    other: Series,
    latency: Option<Latency>,
}

/// The latency runs of a comparison: each server once at `rate` queries per second.
#[derive(Debug)]
struct Latency {
    rate: u32,
    torsion: Result<Measurement, String>,
    other: Result<Measurement, String>,
}

/// The command line of `bench dns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Options {
    seconds: u64,
    rounds: u64,
    /// Offered load of the latency runs (queries/s); 0: no latency runs.
    latency_rate: u32,
}

/// `[--seconds N] [--rounds N] [--latency-rate N]`, the words after `bench dns`.
fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seconds: DEFAULT_SECONDS,
        rounds: DEFAULT_ROUNDS,
        latency_rate: DEFAULT_LATENCY_RATE,
    };
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1);
        match args[i].as_str() {
            "--seconds" => {
                options.seconds = crate::parse_number("--seconds", value, 1..=MAX_SECONDS)?;
            }
            "--rounds" => {
                options.rounds = crate::parse_number("--rounds", value, 1..=MAX_ROUNDS)?;
            }
            "--latency-rate" => {
                let range = 0..=u64::from(MAX_LATENCY_RATE);
                let rate = crate::parse_number("--latency-rate", value, range)?;
                options.latency_rate = u32::try_from(rate).map_err(|e| e.to_string())?;
            }
            other => return Err(format!("bench dns: unexpected argument {other:?}")),
        }
        i += 2;
    }
    Ok(options)
}

/// Entry point of `bench dns`; `args` are the words after `dns`.
pub fn main(args: &[String]) -> ExitCode {
    match parse_options(args) {
        Ok(options) => super::finish("dns", run(options)),
        Err(e) => crate::usage_error(&e),
    }
}

fn run(options: Options) -> Result<(), String> {
    let Options {
        seconds,
        rounds,
        latency_rate,
    } = options;
    let command = format!(
        "cargo xtask {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    let root = util::workspace_root();
    let (dnsperf, nsd, unbound) = (
        util::find_program("dnsperf", "dnsperf")?,
        util::find_program("nsd", "nsd")?,
        util::find_program("unbound", "unbound")?,
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
    let example = |max_qps: u32| {
        dnsperf::args(0, Path::new(QUERIES), seconds, max_qps)
            .join(" ")
            .replace("-p 0", "-p PORT")
    };
    // Four measurements per round, each a start, a warm-up, the run and a stop (~1 s), and
    // four latency runs of the same length.
    let latency_runs = if latency_rate > 0 { 4 } else { 0 };
    let estimate = (rounds * 4 + latency_runs) * (seconds + WARMUP_SECONDS + 1);
    println!(
        "bench dns: {rounds} round(s), each measuring both servers of a comparison in turn: {seconds} s per measurement after a {WARMUP_SECONDS} s warm-up, a fresh server each (about {} min in all); logs and configs in var/bench/dns/",
        estimate.div_ceil(60)
    );
    println!("  load: dnsperf {}", example(dnsperf::MAX_QPS));
    if latency_rate > 0 {
        println!(
            "  latency (after the rounds, each server once): dnsperf {}",
            example(latency_rate)
        );
    }
    let mut notes = Vec::new();

    // Authoritative answers: NSD and torsion-dns serve the same zone file.
    let auth_port = free_port(SERVER_ADDR)?;
    let zone_flag = ["--zone".to_owned(), format!("{ORIGIN}={}", zone.display())];
    // One measurement of each server, a fresh server each: `slug` names its logs, `announce`
    // prints its command line.
    let torsion_auth_run = |slug: &str, max_qps: u32, announce: bool, notes: &mut Vec<String>| {
        ctx.start_torsion("torsion-auth", auth_port, &zone_flag)
            .and_then(|(mut process, args)| {
                if announce {
                    println!("  authoritative: torsion-dns {}", args.join(" "));
                }
                let result = measure(&ctx, &mut process, auth_port, slug, None, max_qps);
                stop(process, notes);
                result
            })
    };
    let nsd_auth_run = |slug: &str, max_qps: u32, announce: bool, notes: &mut Vec<String>| {
        ctx.start_nsd("nsd-auth", SERVER_ADDR, auth_port)
            .and_then(|(mut process, conf)| {
                if announce {
                    println!("  authoritative: nsd -d -c {}", conf.display());
                }
                let result = measure(&ctx, &mut process, auth_port, slug, None, max_qps);
                stop(process, notes);
                result
            })
    };
    let (mut torsion_auth, mut nsd_auth) = (Series::new(), Series::new());
    for round in 1..=rounds {
        let slug = format!("torsion-auth-{round}");
        let torsion = torsion_auth_run(&slug, dnsperf::MAX_QPS, round == 1, &mut notes);
        report_line("authoritative", "torsion-dns", (round, rounds), &torsion);
        torsion_auth.push(torsion);
        let slug = format!("nsd-auth-{round}");
        let nsd = nsd_auth_run(&slug, dnsperf::MAX_QPS, round == 1, &mut notes);
        report_line("authoritative", "NSD", (round, rounds), &nsd);
        nsd_auth.push(nsd);
    }
    let auth_latency = (latency_rate > 0).then(|| {
        let torsion = torsion_auth_run("torsion-auth-latency", latency_rate, false, &mut notes);
        report_latency_line("authoritative", "torsion-dns", latency_rate, &torsion);
        let other = nsd_auth_run("nsd-auth-latency", latency_rate, false, &mut notes);
        report_latency_line("authoritative", "NSD", latency_rate, &other);
        Latency {
            rate: latency_rate,
            torsion,
            other,
        }
    });

    // Cached answers: both resolvers in front of one upstream NSD on 127.0.0.2.
    let upstream_port = free_port(UPSTREAM_ADDR)?;
    let upstream = SocketAddr::from((UPSTREAM_ADDR, upstream_port));
    let (mut torsion_cached, mut unbound_cached) = (Series::new(), Series::new());
    let mut cached_latency = None;
    match ctx.start_nsd("nsd-upstream", UPSTREAM_ADDR, upstream_port) {
        Ok((upstream_process, conf)) => {
            println!(
                "  upstream for both resolvers: nsd -d -c {} on {upstream}",
                conf.display()
            );
            let port = free_port(SERVER_ADDR)?;
            let upstream_pid = Some(upstream_process.pid());
            let forward = ["--forward".to_owned(), upstream.to_string()];
            let torsion_run =
                |slug: &str, max_qps: u32, announce: bool, notes: &mut Vec<String>| {
                    ctx.start_torsion("torsion-forwarder", port, &forward)
                        .and_then(|(mut process, args)| {
                            if announce {
                                println!("  cached: torsion-dns {}", args.join(" "));
                            }
                            let result =
                                measure(&ctx, &mut process, port, slug, upstream_pid, max_qps);
                            stop(process, notes);
                            result
                        })
                };
            let unbound_run =
                |slug: &str, max_qps: u32, announce: bool, notes: &mut Vec<String>| {
                    ctx.start_unbound(port, upstream)
                        .and_then(|(mut process, conf)| {
                            if announce {
                                println!("  cached: unbound -d -c {}", conf.display());
                            }
                            let result =
                                measure(&ctx, &mut process, port, slug, upstream_pid, max_qps);
                            stop(process, notes);
                            result
                        })
                };
            for round in 1..=rounds {
                let slug = format!("torsion-forwarder-{round}");
                let torsion = torsion_run(&slug, dnsperf::MAX_QPS, round == 1, &mut notes);
                report_line("cached", "torsion-dns", (round, rounds), &torsion);
                torsion_cached.push(torsion);
                let slug = format!("unbound-{round}");
                let unbound = unbound_run(&slug, dnsperf::MAX_QPS, round == 1, &mut notes);
                report_line("cached", "Unbound", (round, rounds), &unbound);
                unbound_cached.push(unbound);
            }
            if latency_rate > 0 {
                let torsion =
                    torsion_run("torsion-forwarder-latency", latency_rate, false, &mut notes);
                report_latency_line("cached", "torsion-dns", latency_rate, &torsion);
                let other = unbound_run("unbound-latency", latency_rate, false, &mut notes);
                report_latency_line("cached", "Unbound", latency_rate, &other);
                cached_latency = Some(Latency {
                    rate: latency_rate,
                    torsion,
                    other,
                });
            }
            stop(upstream_process, &mut notes);
        }
        Err(e) => {
            torsion_cached.push(Err(format!("no upstream: {e}")));
            unbound_cached.push(Err(format!("no upstream: {e}")));
            if latency_rate > 0 {
                cached_latency = Some(Latency {
                    rate: latency_rate,
                    torsion: Err(format!("no upstream: {e}")),
                    other: Err(format!("no upstream: {e}")),
                });
            }
        }
    }

    let comparisons = [
        Comparison {
            title: "authoritative",
            peer: "NSD",
            torsion: torsion_auth,
            other: nsd_auth,
            latency: auth_latency,
        },
        Comparison {
            title: "cached (resolver)",
            peer: "Unbound",
            torsion: torsion_cached,
            other: unbound_cached,
            latency: cached_latency,
        },
    ];
    report(&command, &comparisons, notes);
    Ok(())
}

/// One measurement as it finishes: `round` is (this round, all rounds).
fn report_line(phase: &str, label: &str, round: (u64, u64), result: &Result<Measurement, String>) {
    let round = format!("{}/{}", round.0, round.1);
    match result {
        Ok(m) => println!(
            "  {phase:<13} {label:<11} {round:>5} {:>9.0} q/s  {:>6.3} ms avg  {:>5} lost  {:>5.2} CPU s/100k q  {:.2} cores  [{}]",
            m.qps,
            m.avg_latency * 1000.0,
            m.lost,
            m.cpu_per_100k().unwrap_or(f64::NAN),
            m.cores_busy().unwrap_or(f64::NAN),
            m.rcode_summary()
        ),
        Err(e) => println!("  {phase:<13} {label:<11} {round:>5} error: {e}"),
    }
}

/// One latency run as it finishes, at `rate` queries per second offered.
fn report_latency_line(phase: &str, label: &str, rate: u32, result: &Result<Measurement, String>) {
    let ms = |s: Option<f64>| s.map_or_else(|| "n/a".to_owned(), |s| format!("{:.3}", s * 1000.0));
    match result {
        Ok(m) => println!(
            "  {phase:<13} {label:<11} @{rate} q/s: {:.0} q/s achieved, latency ms avg {} (min {}, max {}, stddev {}), {} lost",
            m.qps,
            ms(Some(m.avg_latency)),
            ms(m.min_latency),
            ms(m.max_latency),
            ms(m.latency_stddev),
            m.lost
        ),
        Err(e) => println!("  {phase:<13} {label:<11} @{rate} q/s: error: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(
            parse_options(&[]).unwrap(),
            Options {
                seconds: DEFAULT_SECONDS,
                rounds: DEFAULT_ROUNDS,
                latency_rate: DEFAULT_LATENCY_RATE,
            }
        );
        assert_eq!(
            parse_options(&words("--rounds 5 --seconds 4")).unwrap(),
            Options {
                seconds: 4,
                rounds: 5,
                latency_rate: DEFAULT_LATENCY_RATE,
            }
        );
        assert_eq!(
            parse_options(&words("--latency-rate 5000"))
                .unwrap()
                .latency_rate,
            5000
        );
        assert_eq!(
            parse_options(&words("--latency-rate 0"))
                .unwrap()
                .latency_rate,
            0
        );
        assert!(parse_options(&words("--latency-rate 1000001")).is_err());
        assert!(parse_options(&words("--latency-rate")).is_err());
        assert!(parse_options(&words("--latency-rate -1")).is_err());
        assert!(parse_options(&words("--rounds 0")).is_err());
        assert!(parse_options(&words("--rounds")).is_err());
        assert!(parse_options(&words("--round 2")).is_err());
    }

    #[test]
    fn sums_cpu_over_own_process() {
        assert!(tree_cpu_seconds(std::process::id()).unwrap() >= 0.0);
    }
}
