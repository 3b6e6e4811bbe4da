//! `cargo xtask bench pop3`: torsion-pop3 against Dovecot's pop3d (Debian's 2.3, binaries only:
//! an unprivileged instance of its own from /work/shared/peers/dovecot.conf, as `bench imap`
//! runs it) on two copies of the same mail root, in the same run.
//!
//! - **RETR throughput**: `--sessions` (20) concurrent sessions, each its own account with
//!   `--messages` (50) messages of about 75 KB, log in once, then RETR message 1, 2, … in turn
//!   (one command at a time, as fetchmail and most clients do) for `--seconds` (10) after 2 s
//!   of warm-up; MB/s = message bytes received (the multi-line responses, terminator
//!   excluded) / time; server CPU per MB.
//! - **Logins per second**: the same sessions each loop connect → greeting → USER → PASS →
//!   STAT → QUIT → close for `--seconds`; logins/s = completed loops / time; server CPU per
//!   1000 logins. A login locks and lists the maildrop on both servers.
//!
//! The load client is one single-threaded tokio runtime (raw TCP, a buffered reader that
//! looks for the `CRLF.CRLF` terminator with memchr), so it keeps to one core. Every loop is
//! bounded by its deadline and a count. Both servers get the same passwords in `{PLAIN}`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::imap::dovecot::{self, Dovecot};
use super::imap::maildir;
use super::{cell, ratio, verdict};
use crate::util::{self, ServerProcess};

const SESSIONS: u64 = 20;
const SECONDS: u64 = 10;
const MESSAGES: u64 = 50;
/// Body lines of a message (about 75 bytes each: about 75 KB a message).
const BODY_LINES: usize = 1000;
const WARMUP: Duration = Duration::from_secs(2);
const DOMAIN: &str = "example.test";
const PASSWORD: &str = "benchpw";
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on any one reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on the iterations of any load loop (besides its deadline).
const MAX_ITERATIONS: u64 = 10_000_000;
/// Dovecot's address: not 127.0.0.1, which Dovecot treats as a secure local client.
const DOVECOT_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

#[derive(Debug, Clone)]
struct Options {
    sessions: u64,
    seconds: u64,
    messages: u64,
    binary: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        sessions: SESSIONS,
        seconds: SECONDS,
        messages: MESSAGES,
        binary: None,
    };
    super::parse_flags(
        "pop3",
        args,
        &mut [
            ("--sessions", &mut options.sessions, 1..=200),
            ("--seconds", &mut options.seconds, 1..=600),
            ("--messages", &mut options.messages, 1..=10_000),
        ],
        ("--torsion-pop3", &mut options.binary),
    )?;
    Ok(options)
}

/// Entry point: `args` are the words after `bench pop3`.
pub fn main(args: &[String]) -> ExitCode {
    match parse_options(args) {
        Ok(options) => super::finish("pop3", run(&options)),
        Err(e) => crate::usage_error(&e),
    }
}

/// One load's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    /// Completed operations (RETRs or logins).
    ops: u64,
    /// Message bytes received.
    bytes: u64,
    seconds: f64,
    cpu: f64,
}

/// One server's figures: (RETR, logins), or why they could not be measured.
type Measured = Result<(Load, Load), String>;
/// A table row: its name, the figure from a server's loads, its decimals.
type Row<'a> = (&'a str, &'a dyn Fn(&(Load, Load)) -> f64, usize);

/// A server under test, running.
enum Running {
    Torsion(ServerProcess),
    Dovecot(Dovecot),
}

impl Running {
    fn cpu_seconds(&self) -> f64 {
        match self {
            Running::Torsion(p) => util::cpu_seconds(p.pid()).unwrap_or(0.0),
            Running::Dovecot(d) => d.cpu_seconds(),
        }
    }

    fn stop(self) -> Result<(), String> {
        match self {
            Running::Torsion(mut p) => p.stop_cleanly(),
            Running::Dovecot(d) => d.stop(),
        }
    }
}

fn users(options: &Options) -> Vec<String> {
    (1..=options.sessions)
        .map(|i| format!("user{i:02}@{DOMAIN}"))
        .collect()
}

fn write_mail(dir: &Path, options: &Options, owner: Option<u32>) -> Result<(), String> {
    let mail = dir.join("mail");
    let _ = std::fs::remove_dir_all(&mail);
    for user in users(options) {
        let local = user.split('@').next().unwrap_or(&user);
        maildir::write_inbox(
            &mail.join(DOMAIN).join(local),
            options.messages as usize,
            BODY_LINES,
            owner,
        )?;
    }
    if let Some(id) = owner {
        for path in [mail.clone(), mail.join(DOMAIN)] {
            std::os::unix::fs::chown(&path, Some(id), Some(id))
                .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

fn torsion_args(dir: &Path) -> Vec<String> {
    let path = |p: &str| dir.join(p).display().to_string();
    [
        "serve",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--hostname",
        "pop3.bench.test",
        "--domain",
        DOMAIN,
        "--mail-root",
        &path("mail"),
        "--users",
        &path("users"),
        "--allow-plaintext-auth",
        "--max-per-ip",
        "0",
    ]
    .map(String::from)
    .to_vec()
}

fn run(options: &Options) -> Result<(), String> {
    let root = util::workspace_root();
    let dovecot_program = util::find_program("dovecot", "dovecot-imapd dovecot-pop3d")?;
    let binary = match &options.binary {
        Some(b) => b.clone(),
        None => {
            util::cargo_build(&["-p", "torsion-pop3", "--bin", "torsion-pop3"])?;
            util::release_dir().join("torsion-pop3")
        }
    };
    let _ = util::raise_nofile_limit();
    let base = root.join("var/bench/pop3");
    println!(
        "bench pop3: {} sessions × {} s, {} messages of ~75 KB per account; data and logs in var/bench/pop3/",
        options.sessions, options.seconds, options.messages
    );
    let accounts = users(options);
    // torsion-pop3
    let ours = base.join("torsion");
    std::fs::create_dir_all(&ours).map_err(|e| format!("{}: {e}", ours.display()))?;
    let lines: String = accounts
        .iter()
        .map(|u| format!("{u}:{{PLAIN}}{PASSWORD}\n"))
        .collect();
    std::fs::write(ours.join("users"), lines).map_err(|e| format!("users file: {e}"))?;
    write_mail(&ours, options, None)?;
    // Dovecot
    let theirs = base.join("dovecot");
    std::fs::create_dir_all(&theirs).map_err(|e| format!("{}: {e}", theirs.display()))?;
    write_mail(&theirs, options, Some(dovecot::MAIL_ID))?;
    let ip = DOVECOT_IP.into();
    let config = dovecot::configure(
        &theirs,
        &theirs.join("mail"),
        SocketAddr::new(ip, dovecot::free_port(ip)?),
        &accounts,
        PASSWORD,
        dovecot::per_user_limit(options.sessions),
    )?;
    std::thread::sleep(Duration::from_secs(3));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let mut results: Vec<(&str, Measured)> = Vec::new();
    for label in ["torsion-pop3", "Dovecot"] {
        let started: Result<(Running, SocketAddr), String> = if label == "Dovecot" {
            Dovecot::start(&dovecot_program, &config, &root).and_then(|d| {
                wait_greeting(config.pop3_addr).map(|()| (Running::Dovecot(d), config.pop3_addr))
            })
        } else {
            ServerProcess::spawn(
                "torsion-pop3",
                &binary,
                &torsion_args(&ours),
                &root,
                &ours.join("torsion-pop3.log"),
            )
            .and_then(|mut p| {
                let addresses = p.wait_listening(1, START_TIMEOUT)?;
                let addr = addresses[0]
                    .strip_prefix("tcp:")
                    .and_then(|a| a.parse::<SocketAddr>().ok())
                    .ok_or_else(|| format!("unexpected listening address {:?}", addresses[0]))?;
                Ok((Running::Torsion(p), addr))
            })
        };
        let result = started.and_then(|(running, addr)| {
            let measured = (|| -> Result<(Load, Load), String> {
                let retr = runtime.block_on(measure(&running, addr, options, Mode::Retr))?;
                let login = runtime.block_on(measure(&running, addr, options, Mode::Login))?;
                Ok((retr, login))
            })();
            let stopped = running.stop();
            let measured = measured?;
            stopped.map(|()| measured)
        });
        match &result {
            Ok((retr, login)) => println!(
                "  {label:<12} RETR {:.1} MB/s ({} RETRs, {:.3} CPU s per MB); logins {:.0}/s ({:.3} CPU s per 1000)",
                retr.bytes as f64 / 1e6 / retr.seconds,
                retr.ops,
                retr.cpu / (retr.bytes as f64 / 1e6),
                login.ops as f64 / login.seconds,
                login.cpu / login.ops as f64 * 1000.0
            ),
            Err(e) => println!("  {label:<12} error: {e}"),
        }
        results.push((label, result));
    }
    print!("{}", report(options, &results));
    Ok(())
}

fn report(options: &Options, results: &[(&str, Measured)]) -> String {
    let get = |i: usize, f: &dyn Fn(&(Load, Load)) -> f64| -> Option<f64> {
        results
            .get(i)
            .and_then(|(_, r)| r.as_ref().ok())
            .map(f)
            .filter(|v| v.is_finite())
    };
    let rows: [Row<'_>; 4] = [
        (
            "RETR throughput, MB/s",
            &|(r, _)| r.bytes as f64 / 1e6 / r.seconds,
            1,
        ),
        (
            "RETR: server CPU s per MB",
            &|(r, _)| r.cpu / (r.bytes as f64 / 1e6),
            4,
        ),
        (
            "logins per second (connect … QUIT)",
            &|(_, l)| l.ops as f64 / l.seconds,
            0,
        ),
        (
            "logins: server CPU s per 1000",
            &|(_, l)| l.cpu / l.ops as f64 * 1000.0,
            3,
        ),
    ];
    let mut out = format!(
        "\n| metric ({} sessions, {} s each) | torsion-pop3 | Dovecot | torsion/Dovecot |\n| --- | ---: | ---: | ---: |\n",
        options.sessions, options.seconds
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
    for (i, name) in [(0, "RETR throughput (MB/s)"), (2, "logins per second")] {
        let f = rows[i].1;
        let met = ratio(get(0, f), get(1, f)).map(|r| r >= 1.0);
        out.push_str(&format!(
            "target: {name} ≥ Dovecot's: {} ({})\n",
            verdict(met),
            cell(ratio(get(0, f), get(1, f)), 2)
        ));
    }
    out.push_str("(benchmarks are not tests: exit code 0 either way)\n");
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Retr,
    Login,
}

/// Warm up, then measure `mode` with every session at once.
async fn measure(
    running: &Running,
    addr: SocketAddr,
    options: &Options,
    mode: Mode,
) -> Result<Load, String> {
    let warm = WARMUP.min(Duration::from_secs(options.seconds));
    run_sessions(addr, options, mode, warm).await?;
    let cpu = running.cpu_seconds();
    let began = Instant::now();
    let mut load = run_sessions(addr, options, mode, Duration::from_secs(options.seconds)).await?;
    load.seconds = began.elapsed().as_secs_f64();
    load.cpu = running.cpu_seconds() - cpu;
    Ok(load)
}

async fn run_sessions(
    addr: SocketAddr,
    options: &Options,
    mode: Mode,
    length: Duration,
) -> Result<Load, String> {
    let deadline = tokio::time::Instant::now() + length;
    let mut tasks = tokio::task::JoinSet::new();
    for user in users(options) {
        let messages = options.messages as u32;
        tasks.spawn(async move {
            match mode {
                Mode::Retr => retr_loop(addr, &user, messages, deadline).await,
                Mode::Login => login_loop(addr, &user, deadline).await,
            }
        });
    }
    let mut total = Load::default();
    while let Some(joined) = tasks.join_next().await {
        let load = joined.map_err(|e| format!("load task: {e}"))??;
        total.ops += load.ops;
        total.bytes += load.bytes;
    }
    Ok(total)
}

/// A POP3 connection for the load: a read buffer and a line/terminator reader.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut c = Conn {
            stream,
            buf: Vec::with_capacity(256 * 1024),
            start: 0,
        };
        c.ok("greeting").await?;
        Ok(c)
    }

    async fn fill(&mut self) -> Result<(), String> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 128 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + 64 * 1024, 0);
        let read =
            tokio::time::timeout(REPLY_TIMEOUT, self.stream.read(&mut self.buf[len..])).await;
        let n = match read {
            Ok(Ok(0)) => Err("connection closed".to_owned()),
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no reply within 30 s".to_owned()),
        };
        self.buf.truncate(len + *n.as_ref().unwrap_or(&0));
        n.map(|_| ())
    }

    /// One status line, which must be `+OK`.
    async fn ok(&mut self, what: &str) -> Result<(), String> {
        loop {
            if let Some(i) = memchr::memmem::find(&self.buf[self.start..], b"\r\n") {
                let line = &self.buf[self.start..self.start + i];
                let good = line.starts_with(b"+OK");
                let text = String::from_utf8_lossy(line).into_owned();
                self.start += i + 2;
                return if good {
                    Ok(())
                } else {
                    Err(format!("{what}: {text}"))
                };
            }
            self.fill().await?;
        }
    }

    /// A multi-line body up to `CRLF.CRLF` (the status line already read); its bytes.
    async fn body(&mut self) -> Result<u64, String> {
        let mut from = self.start;
        loop {
            // The terminator may start at the body's first byte (an empty body) or after a CRLF.
            if self.buf[self.start..].starts_with(b".\r\n") {
                self.start += 3;
                return Ok(0);
            }
            if let Some(i) = memchr::memmem::find(
                &self.buf[from.saturating_sub(4).max(self.start)..],
                b"\r\n.\r\n",
            ) {
                let at = from.saturating_sub(4).max(self.start) + i;
                let bytes = (at + 2 - self.start) as u64;
                self.start = at + 5;
                return Ok(bytes);
            }
            from = self.buf.len();
            self.fill().await?;
        }
    }

    async fn send(&mut self, line: &str) -> Result<(), String> {
        self.stream
            .write_all(line.as_bytes())
            .await
            .map_err(|e| e.to_string())
    }

    async fn login(&mut self, user: &str) -> Result<(), String> {
        self.send(&format!("USER {user}\r\nPASS {PASSWORD}\r\n"))
            .await?;
        self.ok("USER").await?;
        self.ok("PASS").await
    }
}

async fn retr_loop(
    addr: SocketAddr,
    user: &str,
    messages: u32,
    deadline: tokio::time::Instant,
) -> Result<Load, String> {
    let mut c = Conn::open(addr).await?;
    c.login(user).await?;
    let mut load = Load::default();
    let mut n = 0;
    while tokio::time::Instant::now() < deadline && load.ops < MAX_ITERATIONS {
        n = n % messages + 1;
        c.send(&format!("RETR {n}\r\n")).await?;
        c.ok("RETR").await?;
        load.bytes += c.body().await?;
        load.ops += 1;
    }
    c.send("QUIT\r\n").await?;
    c.ok("QUIT").await?;
    Ok(load)
}

async fn login_loop(
    addr: SocketAddr,
    user: &str,
    deadline: tokio::time::Instant,
) -> Result<Load, String> {
    let mut load = Load::default();
    while tokio::time::Instant::now() < deadline && load.ops < MAX_ITERATIONS {
        let mut c = Conn::open(addr).await?;
        c.login(user).await?;
        c.send("STAT\r\nQUIT\r\n").await?;
        c.ok("STAT").await?;
        c.ok("QUIT").await?;
        load.ops += 1;
    }
    Ok(load)
}

/// Wait until `addr` greets with `+OK`.
fn wait_greeting(addr: SocketAddr) -> Result<(), String> {
    use std::io::{BufRead, BufReader, Write};
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(stream) => {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut line = String::new();
                let _ = BufReader::new(&stream).read_line(&mut line);
                let _ = (&stream).write_all(b"QUIT\r\n");
                if line.starts_with("+OK") {
                    return Ok(());
                }
                last = format!("greeting {line:?}");
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("no +OK greeting from {addr}: {last}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_report() {
        let o = parse_options(&[
            "--sessions".into(),
            "3".into(),
            "--messages".into(),
            "7".into(),
        ])
        .unwrap();
        assert_eq!((o.sessions, o.seconds, o.messages), (3, SECONDS, 7));
        assert!(parse_options(&["--bogus".into()]).is_err());
        let load = Load {
            ops: 100,
            bytes: 50_000_000,
            seconds: 10.0,
            cpu: 2.0,
        };
        let text = report(
            &o,
            &[
                ("torsion-pop3", Ok((load, load))),
                ("Dovecot", Err("x".into())),
            ],
        );
        assert!(
            text.contains("| RETR throughput, MB/s | 5.0 | error | error |"),
            "{text}"
        );
        assert!(
            text.contains("target: logins per second ≥ Dovecot's: n/a"),
            "{text}"
        );
    }
}
