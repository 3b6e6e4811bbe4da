//! `cargo xtask bench web [--seconds N] [--connections N] [--idle N] [--torsion-web PATH]`:
//! torsion-web against nginx (Debian's, from /work/shared/peers/nginx.conf, two workers) on
//! this machine in the same run, under wrk (`-t2 -cN`, default 64):
//! - a 1 KiB static file: requests per second and server CPU per request;
//! - a 1 MiB static file: GiB/s and server CPU per GiB (sendfile on both);
//! - a small routed JSON handler (`{"message":"Hello, World!"}`: torsion-web's Router with
//!   serde_json in the `hello_json` example; nginx's `return 200` with the same body, the
//!   cheapest answer nginx can give): requests per second and CPU per request;
//! - the reverse proxy, each in front of the same local upstream (a third process, torsion-web
//!   serving the file) with a keep-alive upstream pool: requests per second and the front's
//!   CPU per request;
//! - memory per idle keep-alive connection: N (default 10,000) connections that each made one
//!   request and stay open; the servers' PSS growth divided by N (the kernel's socket buffers
//!   are not in it, for either).
//!
//! The two servers run one after the other, never at once; wrk shares the machine's two cores
//! with each in the same way. Scratch in var/bench/web/.

pub(crate) mod nginx;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use super::imap::dovecot::{free_port, process_tree};
use super::imap::pss_bytes;
use super::{cell, ratio, verdict};
use crate::util::{self, ServerProcess};

const SECONDS: u64 = 10;
const CONNECTIONS: u64 = 64;
const IDLE: u64 = 10_000;
/// Bound on a server starting.
const START: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
struct Options {
    seconds: u64,
    connections: u64,
    idle: u64,
    binary: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seconds: SECONDS,
        connections: CONNECTIONS,
        idle: IDLE,
        binary: None,
    };
    super::parse_flags(
        "web",
        args,
        &mut [
            ("--seconds", &mut options.seconds, 1..=600),
            ("--connections", &mut options.connections, 1..=1000),
            ("--idle", &mut options.idle, 0..=20_000),
        ],
        ("--torsion-web", &mut options.binary),
    )?;
    Ok(options)
}

/// Entry point: `args` are the words after `bench web`.
pub fn main(args: &[String]) -> ExitCode {
    match parse_options(args) {
        Ok(options) => super::finish("web", run(&options)),
        Err(e) => crate::usage_error(&e),
    }
}

/// One wrk run's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    requests: f64,
    bytes: f64,
    seconds: f64,
    /// Server CPU seconds over the run.
    cpu: f64,
}

impl Load {
    fn rate(&self) -> f64 {
        self.requests / self.seconds
    }
    fn cpu_us_per_request(&self) -> f64 {
        self.cpu / self.requests * 1e6
    }
    fn gib_per_s(&self) -> f64 {
        self.bytes / self.seconds / (1u64 << 30) as f64
    }
    fn cpu_per_gib(&self) -> f64 {
        self.cpu / (self.bytes / (1u64 << 30) as f64)
    }
}

/// One server's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    small: Load,
    large: Load,
    json: Load,
    proxy: Load,
    /// PSS bytes per idle connection.
    idle: Option<f64>,
}

/// A server under test.
enum Running {
    Torsion(ServerProcess),
    Nginx(nginx::Nginx),
}

impl Running {
    fn pids(&self) -> Vec<u32> {
        match self {
            Running::Torsion(p) => vec![p.pid()],
            Running::Nginx(n) => process_tree(n.pid()),
        }
    }

    fn cpu(&self) -> f64 {
        self.pids()
            .iter()
            .filter_map(|p| util::cpu_seconds(*p).ok())
            .sum()
    }

    fn pss(&self) -> Result<u64, String> {
        self.pids().iter().map(|p| pss_bytes(*p)).sum()
    }

    fn stop(self) -> Result<(), String> {
        match self {
            Running::Torsion(mut p) => p.stop_cleanly(),
            Running::Nginx(n) => n.stop(),
        }
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn fill(www: &Path) -> Result<(), String> {
    let bytes = |n: usize| -> Vec<u8> { (0..n).map(|i| (i * 7 % 251) as u8).collect() };
    write(&www.join("1k.bin"), &bytes(1024))?;
    write(&www.join("1m.bin"), &bytes(1 << 20))?;
    write(&www.join("api/1k.bin"), &bytes(1024))
}

fn spawn_torsion(
    binary: &Path,
    root: &Path,
    log: &Path,
    extra: &[String],
) -> Result<(ServerProcess, SocketAddr), String> {
    let mut args = vec!["serve".to_owned()];
    args.extend_from_slice(extra);
    spawn(binary, "torsion-web", root, log, &args)
}

/// Start `program ARGS…` with the flags every run uses; its address once it listens.
fn spawn(
    program: &Path,
    name: &str,
    root: &Path,
    log: &Path,
    args: &[String],
) -> Result<(ServerProcess, SocketAddr), String> {
    let mut all = args.to_vec();
    let common: Vec<String> = [
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--max-per-ip",
        "0",
        "--max-connections",
        "30000",
        "--max-requests-per-connection",
        "1000000",
    ]
    .map(String::from)
    .to_vec();
    all.extend(common);
    let mut process = ServerProcess::spawn(name, program, &all, root, log)?;
    let addresses = process.wait_listening(1, START)?;
    let addr = addresses[0]
        .strip_prefix("tcp:")
        .and_then(|a| a.parse::<SocketAddr>().ok())
        .ok_or_else(|| format!("unexpected listening address {:?}", addresses[0]))?;
    Ok((process, addr))
}

/// The `hello_json` example (the routed JSON handler), with the same flags as torsion-web
/// less the `serve` subcommand.
fn spawn_hello(
    program: &Path,
    root: &Path,
    log: &Path,
) -> Result<(ServerProcess, SocketAddr), String> {
    spawn(program, "hello_json", root, log, &[])
}

/// `wrk -t2 -cN -dS URL`, with the server's CPU over the run.
fn wrk(wrk: &Path, running: &Running, url: &str, options: &Options) -> Result<Load, String> {
    let before = running.cpu();
    let output = Command::new(wrk)
        .args([
            "-t2",
            &format!("-c{}", options.connections),
            &format!("-d{}s", options.seconds),
            url,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let cpu = running.cpu() - before;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        return Err(format!("wrk saw errors: {text}"));
    }
    parse_wrk(&text)
        .map(|(requests, bytes, seconds)| Load {
            requests,
            bytes,
            seconds,
            cpu,
        })
        .ok_or_else(|| format!("cannot read wrk's output: {text}"))
}

/// `N requests in Xs, Y.YYMB read` → (requests, bytes, seconds).
fn parse_wrk(text: &str) -> Option<(f64, f64, f64)> {
    let line = text.lines().find(|l| l.contains(" requests in "))?;
    let mut words = line.split_whitespace();
    let requests: f64 = words.next()?.parse().ok()?;
    let _ = (words.next(), words.next());
    let seconds = words.next()?.trim_end_matches(',');
    let seconds: f64 = if let Some(ms) = seconds.strip_suffix("ms") {
        ms.parse::<f64>().ok()? / 1000.0
    } else if let Some(m) = seconds.strip_suffix('m') {
        m.parse::<f64>().ok()? * 60.0
    } else {
        seconds.strip_suffix('s')?.parse().ok()?
    };
    let read = words.next()?;
    let (number, unit) = read.split_at(read.find(|c: char| c.is_ascii_alphabetic())?);
    let scale = match unit {
        "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024.0f64.powi(4),
        _ => return None,
    };
    Some((requests, number.parse::<f64>().ok()? * scale, seconds))
}

/// Open `n` keep-alive connections that each fetch `/1k.bin` once; the PSS growth per
/// connection once they are all idle. The connections are closed at the end.
fn idle_memory(running: &Running, addr: SocketAddr, n: u64) -> Result<Option<f64>, String> {
    if n == 0 {
        return Ok(None);
    }
    let before = running.pss()?;
    let mut open = Vec::with_capacity(n as usize);
    let request = b"GET /1k.bin HTTP/1.1\r\nHost: bench\r\n\r\n";
    for i in 0..n {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connection {i}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        s.write_all(request)
            .map_err(|e| format!("connection {i}: {e}"))?;
        let mut got = Vec::with_capacity(2048);
        let mut buf = [0u8; 4096];
        loop {
            let k = s
                .read(&mut buf)
                .map_err(|e| format!("connection {i}: {e}"))?;
            if k == 0 {
                return Err(format!("connection {i} closed"));
            }
            got.extend_from_slice(&buf[..k]);
            if let Some(head) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                if got.len() >= head + 4 + 1024 {
                    break;
                }
            }
        }
        open.push(s);
    }
    std::thread::sleep(Duration::from_secs(2));
    let after = running.pss()?;
    drop(open);
    Ok(Some((after as f64 - before as f64) / n as f64))
}

/// `json`: where the JSON handler runs (nginx: itself; torsion-web: the example's process).
fn measure(
    tool: &Path,
    running: &Running,
    addr: SocketAddr,
    json: (&Running, SocketAddr),
    options: &Options,
) -> Result<Figures, String> {
    let url = |p: &str| format!("http://{addr}{p}");
    let json_url = format!("http://{}/json", json.1);
    // A short warm-up (page cache, the servers' first allocations).
    let warm = Options {
        seconds: 1,
        ..options.clone()
    };
    wrk(tool, running, &url("/1k.bin"), &warm)?;
    wrk(tool, json.0, &json_url, &warm)?;
    Ok(Figures {
        small: wrk(tool, running, &url("/1k.bin"), options)?,
        large: wrk(tool, running, &url("/1m.bin"), options)?,
        json: wrk(tool, json.0, &json_url, options)?,
        proxy: wrk(tool, running, &url("/api/1k.bin"), options)?,
        idle: idle_memory(running, addr, options.idle)?,
    })
}

fn run(options: &Options) -> Result<(), String> {
    let root = util::workspace_root();
    let wrk_program = util::find_program("wrk", "wrk")?;
    let nginx_program = util::find_program("nginx", "nginx-light")?;
    let binary = match &options.binary {
        Some(b) => b.clone(),
        None => {
            util::cargo_build(&[
                "-p",
                "torsion-web",
                "--bin",
                "torsion-web",
                "--example",
                "hello_json",
            ])?;
            util::release_dir().join("torsion-web")
        }
    };
    let hello = binary
        .parent()
        .map_or_else(util::release_dir, Path::to_path_buf)
        .join("examples/hello_json");
    let _ = util::raise_nofile_limit();
    let base = root.join("var/bench/web");
    let _ = std::fs::remove_dir_all(&base);
    let www = base.join("www");
    fill(&www)?;
    println!(
        "bench web: wrk -t2 -c{} -d{}s per load; {} idle connections; scratch in var/bench/web/",
        options.connections, options.seconds, options.idle
    );
    // The shared upstream for the proxy runs.
    let (mut upstream, up_addr) = spawn_torsion(
        &binary,
        &root,
        &base.join("upstream.log"),
        &["--path".into(), www.display().to_string()],
    )?;
    let mut results: Vec<(&str, Result<Figures, String>)> = Vec::new();
    for label in ["torsion-web", "nginx"] {
        let started: Result<(Running, SocketAddr), String> = if label == "nginx" {
            let dir = base.join("nginx");
            free_port(Ipv4Addr::LOCALHOST.into()).and_then(|port| {
                let file = nginx::configure(&dir, port, Some(up_addr))?;
                for name in ["1k.bin", "1m.bin"] {
                    std::fs::copy(www.join(name), dir.join("www").join(name))
                        .map_err(|e| e.to_string())?;
                }
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                nginx::Nginx::start(&nginx_program, &dir, &file, addr)
                    .map(|n| (Running::Nginx(n), addr))
            })
        } else {
            spawn_torsion(
                &binary,
                &root,
                &base.join("torsion-web.log"),
                &[
                    "--path".into(),
                    www.display().to_string(),
                    "--proxy".into(),
                    format!("/api=http://{up_addr}"),
                ],
            )
            .map(|(p, a)| (Running::Torsion(p), a))
        };
        let result = started.and_then(|(running, addr)| {
            let measured = if label == "nginx" {
                measure(&wrk_program, &running, addr, (&running, addr), options)
            } else {
                spawn_hello(&hello, &root, &base.join("hello_json.log")).and_then(|(p, a)| {
                    let app = Running::Torsion(p);
                    let m = measure(&wrk_program, &running, addr, (&app, a), options);
                    let stopped = app.stop();
                    let m = m?;
                    stopped.map(|()| m)
                })
            };
            let stopped = running.stop();
            let measured = measured?;
            stopped.map(|()| measured)
        });
        match &result {
            Ok(f) => println!(
                "  {label:<12} 1 KiB {:.0} req/s ({:.1} µs CPU each); 1 MiB {:.2} GiB/s; JSON {:.0} req/s ({:.1} µs CPU each); proxy {:.0} req/s ({:.1} µs CPU each); idle {}",
                f.small.rate(),
                f.small.cpu_us_per_request(),
                f.large.gib_per_s(),
                f.json.rate(),
                f.json.cpu_us_per_request(),
                f.proxy.rate(),
                f.proxy.cpu_us_per_request(),
                f.idle.map_or("-".to_owned(), |b| format!("{b:.0} B/connection"))
            ),
            Err(e) => println!("  {label:<12} error: {e}"),
        }
        results.push((label, result));
    }
    let _ = upstream.stop_cleanly();
    print!("{}", report(options, &results));
    Ok(())
}

type Row<'a> = (&'a str, &'a dyn Fn(&Figures) -> Option<f64>, usize);

fn report(options: &Options, results: &[(&str, Result<Figures, String>)]) -> String {
    let get = |i: usize, f: &dyn Fn(&Figures) -> Option<f64>| -> Option<f64> {
        results
            .get(i)
            .and_then(|(_, r)| r.as_ref().ok())
            .and_then(f)
            .filter(|v| v.is_finite())
    };
    let rows: [Row<'_>; 9] = [
        ("1 KiB file, requests/s", &|f| Some(f.small.rate()), 0),
        (
            "1 KiB file, server CPU µs per request",
            &|f| Some(f.small.cpu_us_per_request()),
            1,
        ),
        ("1 MiB file, GiB/s", &|f| Some(f.large.gib_per_s()), 2),
        (
            "1 MiB file, server CPU s per GiB",
            &|f| Some(f.large.cpu_per_gib()),
            3,
        ),
        (
            "routed JSON handler, requests/s",
            &|f| Some(f.json.rate()),
            0,
        ),
        (
            "routed JSON handler, server CPU µs per request",
            &|f| Some(f.json.cpu_us_per_request()),
            1,
        ),
        (
            "reverse proxy (1 KiB), requests/s",
            &|f| Some(f.proxy.rate()),
            0,
        ),
        (
            "reverse proxy, front CPU µs per request",
            &|f| Some(f.proxy.cpu_us_per_request()),
            1,
        ),
        ("idle keep-alive connection, PSS bytes", &|f| f.idle, 0),
    ];
    let mut out = format!(
        "\n| metric (wrk -t2 -c{} -d{}s; {} idle) | torsion-web | nginx | torsion/nginx |\n| --- | ---: | ---: | ---: |\n",
        options.connections, options.seconds, options.idle
    );
    for (name, f, decimals) in rows {
        let (a, b) = (get(0, f), get(1, f));
        out.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            cell(a, decimals),
            cell(b, decimals),
            cell(ratio(a, b), 2)
        ));
    }
    out.push('\n');
    let r = |i: usize| ratio(get(0, rows[i].1), get(1, rows[i].1));
    let targets = [
        ("1 KiB requests/s ≥ nginx's", r(0).map(|x| x >= 1.0), r(0)),
        (
            "1 KiB CPU per request ≤ nginx's",
            r(1).map(|x| x <= 1.0),
            r(1),
        ),
        ("1 MiB GiB/s ≥ nginx's", r(2).map(|x| x >= 1.0), r(2)),
        ("proxy requests/s ≥ nginx's", r(6).map(|x| x >= 1.0), r(6)),
    ];
    for (name, met, value) in targets {
        out.push_str(&format!(
            "target: {name}: {} ({})\n",
            verdict(met),
            cell(value, 2)
        ));
    }
    let idle = get(0, rows[8].1);
    let nginx_idle = get(1, rows[8].1);
    out.push_str(&format!(
        "target: idle connection ≤ 1024 B above the kernel's: {} ({} B; nginx {} B)\n",
        verdict(idle.map(|b| b <= 1024.0)),
        cell(idle, 0),
        cell(nginx_idle, 0)
    ));
    out.push_str("(benchmarks are not tests: exit code 0 either way)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_read() {
        let text = "Running 5s test @ http://127.0.0.1:1/\n  2 threads and 64 connections\n  351234 requests in 5.00s, 427.90MB read\nRequests/sec:  70246.80\n";
        let (requests, bytes, seconds) = parse_wrk(text).expect("parsed");
        assert_eq!(requests, 351_234.0);
        assert!((bytes - 427.90 * 1024.0 * 1024.0).abs() < 1.0);
        assert!((seconds - 5.0).abs() < 1e-9);
        assert!(parse_wrk("nonsense").is_none());
    }
}
