//! `cargo xtask interop [SUITE]`: real third-party programs (netcat, socat, openssl, Python's
//! socket module, dig, kdig, NSD, the Python `irc` library, swaks, smtplib, Postfix's
//! smtp-sink, aiosmtpd, …) against our servers, and our clients against them. Each check
//! prints `ok NAME` or `FAIL NAME: reason`; the last line is `N passed, M failed`, and any
//! failure exits 1. A missing tool is a failure naming the Debian package to install. Every
//! child process is bounded by a timeout.

mod core_suite;
mod dns_suite;
mod imap_clients;
mod imap_differential;
mod imap_suite;
mod irc_suite;
mod mail_differential;
mod mail_server;
mod pop3_differential;
mod pop3_suite;
mod smtp_suite;
mod web_suite;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::process::ExitCode;

/// The suites, in the order `cargo xtask interop` runs them.
const SUITES: &[&str] = &["core", "dns", "irc", "smtp", "imap", "pop3", "web"];

/// Entry point: `args` are the words after `interop`.
pub fn main(args: &[String]) -> ExitCode {
    let suites: Vec<&str> = match args {
        [] => SUITES.to_vec(),
        [suite] if SUITES.contains(&suite.as_str()) => vec![suite.as_str()],
        [suite] => {
            return crate::usage_error(&format!(
                "interop: unknown suite {suite:?} (known: {})",
                SUITES.join(", ")
            ))
        }
        _ => return crate::usage_error("interop: expected at most one SUITE"),
    };
    let mut report = Report::default();
    for suite in suites {
        match suite {
            "core" => core_suite::run(&mut report),
            "dns" => dns_suite::run(&mut report),
            "irc" => irc_suite::run(&mut report),
            "smtp" => smtp_suite::run(&mut report),
            "imap" => {
                imap_suite::run(&mut report);
                imap_clients::run(&mut report);
                imap_differential::run(&mut report);
            }
            "pop3" => {
                pop3_suite::run(&mut report);
                pop3_differential::run(&mut report);
            }
            "web" => web_suite::run(&mut report),
            _ => unreachable!("SUITES lists only known suites"),
        }
    }
    println!("{} passed, {} failed", report.passed, report.failed);
    if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `python3 -B SCRIPT ARGS…` in `cwd`, bounded by `timeout`: its stdout, which must start with
/// `ok` (the convention of every interop script), or why not.
pub fn python_step(
    cwd: &Path,
    script: &str,
    args: &[&str],
    timeout: std::time::Duration,
) -> Result<String, String> {
    let python = require("python3", "python3")?;
    // -B: no __pycache__ beside the scripts in the source tree.
    let mut all = vec!["-B", script];
    all.extend_from_slice(args);
    let mut client = Client::spawn(&python, &all, cwd)?;
    let status = client.finish(timeout)?;
    let stdout = String::from_utf8_lossy(client.stdout()).into_owned();
    if status.success() && stdout.trim_start().starts_with("ok") {
        Ok(stdout)
    } else {
        Err(format!(
            "python3 {} exited with {}; {}",
            all.join(" "),
            crate::util::describe_status(status),
            client.transcript()
        ))
    }
}

/// Counts checks and prints each outcome.
#[derive(Debug, Default)]
pub struct Report {
    passed: usize,
    failed: usize,
}

impl Report {
    /// Run one check; a panic inside it counts as a failure.
    pub fn check(&mut self, name: &str, check: impl FnOnce() -> Result<(), String>) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check))
            .unwrap_or_else(|_| Err("the check panicked".into()));
        match outcome {
            Ok(()) => {
                self.passed += 1;
                println!("ok {name}");
            }
            Err(reason) => self.fail(name, &reason),
        }
    }

    /// Record a failure that happened outside a check (a build, a missing prerequisite).
    pub fn fail(&mut self, name: &str, reason: &str) {
        self.failed += 1;
        // One line per failure, whatever the reason contains.
        println!("FAIL {name}: {}", reason.trim().replace('\n', " | "));
    }
}

/// The path of `tool` on PATH, or an error naming the Debian package that provides it.
pub fn require(tool: &str, package: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(tool))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| format!("{tool} not found on PATH (apt-get install {package})"))
}

/// A client program driven through its stdin and stdout, every wait bounded. Dropping it kills
/// the program if it is still running.
#[derive(Debug)]
pub struct Client {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    chunks: Receiver<Vec<u8>>,
    stdout: Vec<u8>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Client {
    /// Start `program ARGS…` in `cwd` with piped stdin, stdout and stderr.
    pub fn spawn(program: &Path, args: &[&str], cwd: &Path) -> Result<Self, String> {
        Self::spawn_with_env(program, args, cwd, &[])
    }

    /// As [`spawn`](Self::spawn), with `env` added to the environment.
    pub fn spawn_with_env(
        program: &Path,
        args: &[&str],
        cwd: &Path,
        env: &[(&str, String)],
    ) -> Result<Self, String> {
        let name = program.file_name().map_or_else(
            || program.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let (tx, chunks) = mpsc::channel();
        if let Some(mut out) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = out.read(&mut buf) {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut err) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 4096];
                while let Ok(n @ 1..) = err.read(&mut buf) {
                    sink.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .extend_from_slice(&buf[..n]);
                }
            });
        }
        let stdin = child.stdin.take();
        Ok(Client {
            name,
            child,
            stdin,
            chunks,
            stdout: Vec::new(),
            stderr,
        })
    }

    /// Write to the program's stdin.
    pub fn send(&mut self, data: &[u8]) -> Result<(), String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{}: stdin already closed", self.name))?;
        stdin
            .write_all(data)
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("writing to {}: {e}", self.name))
    }

    /// Close stdin (EOF for the program).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Wait until stdout contains `needle`.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if String::from_utf8_lossy(&self.stdout).contains(needle) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.stdout.extend_from_slice(&chunk),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{needle:?} not seen within {} s; {}",
                        timeout.as_secs(),
                        self.transcript()
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "{} closed its output before {needle:?}; {}",
                        self.name,
                        self.transcript()
                    ))
                }
            }
        }
    }

    /// Close stdin and wait up to `timeout` for the program to exit (killing it otherwise),
    /// collecting the rest of its output.
    pub fn finish(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        self.close_stdin();
        let status =
            match crate::util::wait_or_kill(&mut self.child, timeout, Duration::from_millis(20)) {
                Ok(Some(status)) => status,
                Ok(None) => {
                    return Err(format!(
                        "{} still running after {} s: killed; {}",
                        self.name,
                        timeout.as_secs(),
                        self.transcript()
                    ))
                }
                Err(e) => return Err(format!("waiting for {}: {e}", self.name)),
            };
        // The reader thread ends at EOF; bound the wait in case a grandchild holds the pipe.
        let drain_deadline = Instant::now() + Duration::from_secs(2);
        while let Ok(chunk) = self
            .chunks
            .recv_timeout(drain_deadline.saturating_duration_since(Instant::now()))
        {
            self.stdout.extend_from_slice(&chunk);
        }
        Ok(status)
    }

    /// Everything read from stdout so far.
    pub fn stdout(&self) -> &[u8] {
        &self.stdout
    }

    /// Everything read from stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(
            &self
                .stderr
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }

    /// What the program said so far, shortened, for failure messages.
    pub fn transcript(&self) -> String {
        format!(
            "stdout: {:?}; stderr: {:?}",
            shorten(&String::from_utf8_lossy(&self.stdout)),
            shorten(&self.stderr())
        )
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// At most 300 characters of `text` (its end, where the error usually is).
pub fn shorten(text: &str) -> String {
    let text = text.trim();
    let count = text.chars().count();
    if count <= 300 {
        return text.to_owned();
    }
    let tail: String = text.chars().skip(count - 300).collect();
    format!("…{tail}")
}

/// Bound on `openssl req` making a certificate.
const CERTIFICATE_TIMEOUT: Duration = Duration::from_secs(30);

/// A throwaway self-signed certificate for localhost / 127.0.0.1, made by openssl.
pub fn make_certificate(openssl: &Path, root: &Path, key: &str, cert: &str) -> Result<(), String> {
    let mut req = Client::spawn(
        openssl,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-days",
            "2",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        root,
    )?;
    let status = req.finish(CERTIFICATE_TIMEOUT)?;
    if !status.success() {
        return Err(format!(
            "openssl req failed ({}): {}",
            crate::util::describe_status(status),
            shorten(&req.stderr())
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_package() {
        let err = require("no-such-tool-for-torsion", "torsion-imaginary").unwrap_err();
        assert!(err.contains("apt-get install torsion-imaginary"), "{err}");
        assert!(require("sh", "dash").is_ok());
    }

    #[test]
    fn client_output_and_timeouts_are_bounded() {
        let sh = require("sh", "dash").unwrap();
        let mut cat = Client::spawn(&sh, &["-c", "cat; echo done >&2"], Path::new("/")).unwrap();
        cat.send(b"ping\n").unwrap();
        cat.expect("ping", Duration::from_secs(5)).unwrap();
        assert!(cat.expect("never", Duration::from_millis(100)).is_err());
        assert!(cat.finish(Duration::from_secs(5)).unwrap().success());
        assert!(cat.stderr().contains("done"));
        let mut sleeper = Client::spawn(&sh, &["-c", "exec sleep 30"], Path::new("/")).unwrap();
        assert!(
            sleeper.finish(Duration::from_millis(200)).is_err(),
            "killed after the timeout"
        );
    }
}
