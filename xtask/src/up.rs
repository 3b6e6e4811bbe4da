//! `cargo xtask up [--for SECONDS]`: build and start every server of the suite with a demo
//! configuration on fixed unprivileged ports of 127.0.0.1, print where each listens, and stop
//! them all on Ctrl-C (or after SECONDS, the CI smoke test).
//!
//! Adding a server is one entry in [`SERVERS`]; entries whose crate directory is not in the
//! workspace yet are skipped. Logs go to `var/log/NAME.log`, data to `var/data/NAME/` (an entry's
//! demo files, such as the SMTP users file with its demo accounts, are written there at start).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::util::{self, ServerProcess};

/// How long each server gets to log its `listening on` lines.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest `--for`.
const MAX_FOR_SECONDS: u64 = 7 * 24 * 3600;

/// Which cargo target a server is.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// `cargo build --example NAME`, in `target/release/examples/NAME`.
    Example(&'static str),
    /// `cargo build --bin NAME`, in `target/release/NAME`.
    Bin(&'static str),
}

/// One server of the demo suite.
#[derive(Debug)]
struct Server {
    /// Name in the table and the log file name.
    name: &'static str,
    /// Crate directory below the workspace root; the entry is skipped while it does not exist.
    dir: &'static str,
    /// Cargo package.
    package: &'static str,
    target: Target,
    /// Arguments before the `--listen` flags (a subcommand such as `serve`).
    command: &'static [&'static str],
    /// `--listen` endpoints. Fixed TCP/TLS/UDP ports are checked before anything starts.
    listen: &'static [&'static str],
    /// Other listeners as (flag, endpoint), e.g. `("--submission", "tcp:1587…")`: passed
    /// after the `--listen` flags, checked and waited for the same way.
    listeners: &'static [(&'static str, &'static str)],
    /// More arguments; `{data}` becomes this server's data directory (`var/data/NAME`).
    extra: &'static [&'static str],
    /// Files this server's demo configuration needs, written into its data directory at every
    /// start (overwriting): (file name, contents).
    files: &'static [(&'static str, &'static str)],
    /// Lines printed under the table (demo accounts and the like).
    notes: &'static [&'static str],
}

/// The web demo's page.
const WEB_PAGE: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Torsion</title></head>\n<body><h1>torsion-web</h1><p>Files in var/data/web/ are served here.</p></body></html>\n";

/// The SMTP demo's accounts (`{PLAIN}` passwords: a loopback-only demo).
const SMTP_USERS: &str = "\
alice@example.test:{PLAIN}alice-demo
bob@example.test:{PLAIN}bob-demo
";

/// The demo suite. Protocol binaries follow the GUIDE's `torsion-X serve --listen …` shape;
/// when a crate lands, give its entry the flags for its data (`{data}`) if it needs any.
const SERVERS: &[Server] = &[
    Server {
        name: "echo",
        dir: "core",
        package: "torsion-core",
        target: Target::Example("echo"),
        command: &[],
        listen: &["tcp:8000:interface=127.0.0.1"],
        extra: &[],
        listeners: &[],
        files: &[],
        notes: &[],
    },
    Server {
        name: "upper",
        dir: "core",
        package: "torsion-core",
        target: Target::Example("upper"),
        command: &[],
        listen: &["tcp:8001:interface=127.0.0.1"],
        extra: &[],
        listeners: &[],
        files: &[],
        notes: &[],
    },
    Server {
        name: "counting",
        dir: "core",
        package: "torsion-core",
        target: Target::Example("counting"),
        command: &[],
        listen: &["tcp:8002:interface=127.0.0.1"],
        extra: &[],
        listeners: &[],
        files: &[],
        notes: &[],
    },
    Server {
        name: "chat",
        dir: "core",
        package: "torsion-core",
        target: Target::Example("chat"),
        command: &[],
        listen: &["tcp:8003:interface=127.0.0.1"],
        extra: &["--banner", "Welcome to the Torsion demo chat."],
        listeners: &[],
        files: &[],
        notes: &[],
    },
    Server {
        name: "dns",
        dir: "dns",
        package: "torsion-dns",
        target: Target::Bin("torsion-dns"),
        command: &["serve"],
        listen: &[
            "udp:5353:interface=127.0.0.1",
            "tcp:5353:interface=127.0.0.1",
        ],
        extra: &["--zone", "dns/demo/demo.test.zone"],
        listeners: &[],
        files: &[],
        notes: &[],
    },
    Server {
        name: "irc",
        dir: "irc",
        package: "torsion-irc",
        target: Target::Bin("torsion-irc"),
        command: &["serve"],
        listen: &["tcp:6667:interface=127.0.0.1"],
        extra: &[],
        listeners: &[],
        files: &[],
        notes: &[],
    },
    Server {
        name: "smtp",
        dir: "smtp",
        package: "torsion-smtp",
        target: Target::Bin("torsion-smtp"),
        command: &["serve"],
        listen: &["tcp:2525:interface=127.0.0.1"],
        // Submission (AUTH required) on 1587, as IMAP and POP3 sit on 1143 and 1110.
        listeners: &[("--submission", "tcp:1587:interface=127.0.0.1")],
        extra: &[
            "--hostname",
            "localhost",
            "--domain",
            "example.test",
            "--mail-root",
            "{data}/mail",
            "--queue-dir",
            "{data}/queue",
            "--users",
            "{data}/users",
            // A loopback-only demo without a certificate: AUTH over plaintext is allowed.
            "--allow-plaintext-auth",
        ],
        files: &[("users", SMTP_USERS)],
        notes: &[
            "smtp: mail for @example.test lands in var/data/smtp/mail/example.test/USER/new/",
            "smtp: accounts alice@example.test / alice-demo and bob@example.test / bob-demo (AUTH PLAIN or LOGIN on 1587)",
            "smtp: try `swaks --server 127.0.0.1:2525 --to alice@example.test`",
        ],
    },
    Server {
        name: "imap",
        dir: "imap",
        package: "torsion-imap",
        target: Target::Bin("torsion-imap"),
        command: &["serve"],
        listen: &["tcp:1143:interface=127.0.0.1"],
        // The mail SMTP delivers, with the same accounts.
        extra: &[
            "--hostname",
            "localhost",
            "--domain",
            "example.test",
            "--mail-root",
            "{data}/../smtp/mail",
            "--users",
            "{data}/users",
            // A loopback-only demo without a certificate: LOGIN over plaintext is allowed.
            "--allow-plaintext-auth",
        ],
        listeners: &[],
        files: &[("users", SMTP_USERS)],
        notes: &["imap: read that mail on 1143 as alice / alice-demo (e.g. `mutt -f imap://alice@127.0.0.1:1143/`)"],
    },
    Server {
        name: "pop3",
        dir: "pop3",
        package: "torsion-pop3",
        target: Target::Bin("torsion-pop3"),
        command: &["serve"],
        listen: &["tcp:1110:interface=127.0.0.1"],
        // The same mail and accounts as SMTP and IMAP.
        extra: &[
            "--hostname",
            "localhost",
            "--domain",
            "example.test",
            "--mail-root",
            "{data}/../smtp/mail",
            "--users",
            "{data}/users",
            // A loopback-only demo without a certificate: USER/PASS over plaintext is allowed.
            "--allow-plaintext-auth",
        ],
        listeners: &[],
        files: &[("users", SMTP_USERS)],
        notes: &["pop3: or download it on 1110 (e.g. `torsion-pop3 retrieve --server 127.0.0.1:1110 --no-tls --allow-plaintext-auth --user alice --to-maildir /tmp/mail`)"],
    },
    Server {
        name: "web",
        dir: "web",
        package: "torsion-web",
        target: Target::Bin("torsion-web"),
        command: &["serve"],
        listen: &["tcp:8080:interface=127.0.0.1"],
        // Serves its data directory (a demo page), with listings and an access log.
        extra: &[
            "--path",
            "{data}",
            "--listing",
            "--access-log",
            "{data}/../../log/web-access.log",
        ],
        listeners: &[],
        files: &[("index.html", WEB_PAGE)],
        notes: &["web: http://127.0.0.1:8080/ serves var/data/web/ (e.g. `torsion-web get http://127.0.0.1:8080/`)"],
    },
];

impl Server {
    /// Whether the server exists yet: its crate, and for a binary its `src/main.rs` (a crate
    /// joins the suite when it has its server binary, not before).
    fn present(&self) -> bool {
        let dir = util::workspace_root().join(self.dir);
        let binary = match self.target {
            Target::Bin(_) => dir.join("src/main.rs").is_file(),
            Target::Example(_) => true,
        };
        dir.join("Cargo.toml").is_file() && binary
    }

    fn binary(&self) -> PathBuf {
        match self.target {
            Target::Example(name) => util::release_dir().join("examples").join(name),
            Target::Bin(name) => util::release_dir().join(name),
        }
    }

    fn args(&self, data: &str) -> Vec<String> {
        let mut args: Vec<String> = self.command.iter().map(|s| (*s).to_owned()).collect();
        for endpoint in self.listen {
            args.push("--listen".into());
            args.push((*endpoint).to_owned());
        }
        for (flag, endpoint) in self.listeners {
            args.push((*flag).to_owned());
            args.push((*endpoint).to_owned());
        }
        args.extend(self.extra.iter().map(|s| s.replace("{data}", data)));
        args
    }

    /// Fixed ports as (port, is_udp), from `tcp:PORT…`, `tls:PORT…`, `udp:PORT…` endpoints.
    fn ports(&self) -> Vec<(u16, bool)> {
        self.listen
            .iter()
            .chain(self.listeners.iter().map(|(_, endpoint)| endpoint))
            .filter_map(|endpoint| {
                let mut parts = endpoint.split(':');
                let kind = parts.next()?;
                let port = parts.next()?.parse::<u16>().ok().filter(|p| *p != 0)?;
                matches!(kind, "tcp" | "tls" | "ssl" | "udp").then_some((port, kind == "udp"))
            })
            .collect()
    }
}

/// Entry point: `args` are the words after `up`.
pub fn main(args: &[String]) -> ExitCode {
    let mut run_for = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--for" => match crate::parse_number("--for", args.get(i + 1), 1..=MAX_FOR_SECONDS) {
                Ok(n) => {
                    run_for = Some(Duration::from_secs(n));
                    i += 2;
                }
                Err(e) => return crate::usage_error(&e),
            },
            other => return crate::usage_error(&format!("up: unexpected argument {other:?}")),
        }
    }
    match up(run_for) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            println!("up: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Returns whether every server started, ran and stopped cleanly.
fn up(run_for: Option<Duration>) -> Result<bool, String> {
    let (servers, skipped): (Vec<&Server>, Vec<&Server>) =
        SERVERS.iter().partition(|s| s.present());
    for s in &skipped {
        println!("skipping {}: {}/ has no server binary yet", s.name, s.dir);
    }

    // A busy fixed port: say which, before building anything.
    let busy: Vec<String> = servers
        .iter()
        .flat_map(|s| s.ports().into_iter().map(move |p| (s.name, p)))
        .filter(|(_, (port, udp))| !util::port_is_free(*port, *udp))
        .map(|(name, (port, udp))| {
            format!(
                "127.0.0.1:{port}/{} ({name})",
                if udp { "udp" } else { "tcp" }
            )
        })
        .collect();
    if !busy.is_empty() {
        return Err(format!("port busy: {}", busy.join(", ")));
    }

    build(&servers)?;

    let root = util::workspace_root();
    let var = root.join("var");
    let mut running: Vec<(&Server, ServerProcess, Vec<String>)> = Vec::new();
    let mut ok = true;
    for server in &servers {
        let data = var.join("data").join(server.name);
        std::fs::create_dir_all(&data)
            .map_err(|e| format!("cannot create {}: {e}", data.display()))?;
        for (name, contents) in server.files {
            let path = data.join(name);
            std::fs::write(&path, contents)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        let log = var.join("log").join(format!("{}.log", server.name));
        let mut process = ServerProcess::spawn(
            server.name,
            &server.binary(),
            &server.args(&data.to_string_lossy()),
            &root,
            &log,
        )?;
        let listeners = server.listen.len() + server.listeners.len();
        match process.wait_listening(listeners, START_TIMEOUT) {
            Ok(addresses) => running.push((server, process, addresses)),
            Err(e) => {
                println!("FAILED {e}");
                ok = false;
            }
        }
    }
    if !ok {
        // Dropping the processes stops the ones that did start.
        println!("not every server started; stopping the others");
        drop(running);
        return Ok(false);
    }

    println!();
    println!("{:<10} {:>7}  {:<32} log", "server", "pid", "listening on");
    for (server, process, addresses) in &running {
        let log = process.log.strip_prefix(&root).unwrap_or(&process.log);
        println!(
            "{:<10} {:>7}  {:<32} {}",
            server.name,
            process.pid(),
            addresses.join(" "),
            log.display()
        );
    }
    let notes: Vec<&str> = running
        .iter()
        .flat_map(|(server, _, _)| server.notes.iter().copied())
        .collect();
    if !notes.is_empty() {
        println!();
        for note in notes {
            println!("{note}");
        }
    }
    println!();
    match run_for {
        Some(d) => println!("running for {} s", d.as_secs()),
        None => println!("running; Ctrl-C stops every server"),
    }

    let mut processes: Vec<ServerProcess> = running.into_iter().map(|(_, p, _)| p).collect();
    let early_exit = wait_for_stop(&mut processes, run_for)?;
    ok &= !early_exit;

    // Graceful stop: SIGTERM to every child by PID at once, then collect exit codes.
    for p in &mut processes {
        p.terminate();
    }
    for p in &mut processes {
        match p.wait_timeout(util::STOP_TIMEOUT) {
            Some(status) => {
                let good = status.success();
                ok &= good;
                println!(
                    "{:<10} {}{}",
                    p.name,
                    util::describe_status(status),
                    if good { "" } else { "  FAILED" }
                );
            }
            None => {
                p.kill();
                ok = false;
                println!(
                    "{:<10} still running {} s after SIGTERM: killed  FAILED",
                    p.name,
                    util::STOP_TIMEOUT.as_secs()
                );
            }
        }
    }
    Ok(ok)
}

/// Build every server in one cargo invocation: one feature resolution, so tokio, rustls,
/// ring and torsion-core are compiled once for all of them (one run per package compiled
/// them again for each package's feature set).
fn build(servers: &[&Server]) -> Result<(), String> {
    let args = build_args(servers);
    let names: Vec<&str> = servers.iter().map(|s| s.name).collect();
    println!(
        "building {} (cargo build --release, one run; a fresh clone takes a few minutes, later runs seconds)…",
        names.join(", ")
    );
    let started = Instant::now();
    util::cargo_build(&args)?;
    println!("built in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `-p PACKAGE` once per package, then each server's `--bin`/`--example`.
fn build_args<'a>(servers: &[&'a Server]) -> Vec<&'a str> {
    let mut packages: Vec<&str> = servers.iter().map(|s| s.package).collect();
    packages.sort_unstable();
    packages.dedup();
    let mut args = Vec::new();
    for package in packages {
        args.extend(["-p", package]);
    }
    for server in servers {
        match server.target {
            Target::Example(name) => args.extend(["--example", name]),
            Target::Bin(name) => args.extend(["--bin", name]),
        }
    }
    args
}

/// Wait for Ctrl-C, SIGTERM or the end of `run_for`, reporting servers that exit on their own.
/// Returns whether any did.
fn wait_for_stop(
    processes: &mut [ServerProcess],
    run_for: Option<Duration>,
) -> Result<bool, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?;
        let mut term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?;
        let deadline = tokio::time::sleep(run_for.unwrap_or(Duration::from_secs(MAX_FOR_SECONDS)));
        tokio::pin!(deadline);
        let mut poll = tokio::time::interval(Duration::from_millis(250));
        let mut exited = vec![false; processes.len()];
        loop {
            tokio::select! {
                _ = int.recv() => { println!("\nSIGINT: stopping every server"); break; }
                _ = term.recv() => { println!("SIGTERM: stopping every server"); break; }
                () = &mut deadline => { println!("{} s elapsed: stopping every server", run_for.unwrap_or_default().as_secs()); break; }
                _ = poll.tick() => {
                    for (p, seen) in processes.iter_mut().zip(exited.iter_mut()) {
                        if let (Some(status), false) = (p.try_status(), *seen) {
                            *seen = true;
                            println!("FAILED {} exited on its own ({}): {}", p.name, util::describe_status(status), util::last_line(&p.log));
                        }
                    }
                }
            }
        }
        Ok(exited.contains(&true))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cargo_run_names_each_package_once_and_every_target() {
        let servers: Vec<&Server> = SERVERS.iter().collect();
        let args = build_args(&servers);
        let packages: Vec<&str> = args
            .chunks(2)
            .filter(|pair| pair[0] == "-p")
            .map(|pair| pair[1])
            .collect();
        let mut unique = packages.clone();
        unique.dedup();
        assert_eq!(packages, unique, "{args:?}");
        for server in &servers {
            assert!(packages.contains(&server.package), "{}", server.package);
            let (flag, name) = match server.target {
                Target::Example(name) => ("--example", name),
                Target::Bin(name) => ("--bin", name),
            };
            assert!(
                args.windows(2).any(|w| w == [flag, name]),
                "{flag} {name} missing from {args:?}"
            );
        }
    }
}
