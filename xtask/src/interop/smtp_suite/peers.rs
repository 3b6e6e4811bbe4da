//! The "our client against third-party servers" half of the SMTP suite: Postfix's `smtp-sink`
//! (a relay smarthost and a target for `torsion-smtp send`), and the client library's own
//! `#[ignore]`d interop tests (`smtp/tests/client_interop.rs`: smtp-sink and aiosmtpd), run
//! with `TORSION_INTEROP=1` and reported one check per test.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::super::{require, shorten, Report};
use super::{run_bounded, send_cli, write_message, BOB, EXCHANGE, SCRATCH, START};
use crate::util::{self, ServerProcess};

/// Bound on building and running the client library's interop tests.
const CLIENT_TESTS: Duration = Duration::from_secs(600);
/// The aiosmtpd version `.ci/run` installs.
const AIOSMTPD_VERSION: &str = "1.4.6";

/// `torsion-smtp send` to smtp-sink: two recipients, the dot-leading lines arrive intact.
pub(super) fn send_cli_to_sink(root: &Path, sink: &Sink) -> Result<(), String> {
    let token = "interop-send-cli-sink";
    let file = write_message(root, token)?;
    let server = format!("127.0.0.1:{}", sink.port);
    let args = format!(
        "send --server {server} --from {} --to dave@elsewhere.test --to erin@elsewhere.test --helo client.test {file}",
        BOB.0
    );
    send_cli(root, &args, None)?;
    let dump = sink.wait_for(token, EXCHANGE)?.replace("\r\n", "\n");
    for needle in [
        "X-Rcpt-Args: <dave@elsewhere.test>\nX-Rcpt-Args: <erin@elsewhere.test>\n",
        "\n.leading dot\n..two dots\nlast line\n",
    ] {
        if !dump.contains(needle) {
            return Err(format!(
                "smtp-sink's copy lacks {needle:?}: {:?}",
                shorten(&dump)
            ));
        }
    }
    Ok(())
}

/// Postfix's `smtp-sink`, dumping every transaction into its own file.
#[derive(Debug)]
pub(super) struct Sink {
    /// Held for its `Drop`, which stops smtp-sink by PID.
    _process: ServerProcess,
    pub(super) port: u16,
    dir: PathBuf,
}

impl Sink {
    pub(super) fn start(root: &Path, name: &str) -> Result<Sink, String> {
        let program = find_program("smtp-sink", "postfix")?;
        let port = free_port()?;
        let dir = root.join(SCRATCH).join(format!("sink-{name}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut args = Vec::new();
        if is_root() {
            // smtp-sink drops privileges; as root it must be told to whom.
            args.extend(["-u".to_owned(), "root".to_owned()]);
        }
        args.extend([
            "-d".to_owned(),
            format!("{}/msg.", dir.display()),
            format!("127.0.0.1:{port}"),
            "10".to_owned(),
        ]);
        let log = root.join(SCRATCH).join(format!("sink-{name}.log"));
        let mut process = ServerProcess::spawn("smtp-sink", &program, &args, root, &log)?;
        let deadline = Instant::now() + START;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = process.try_status() {
                return Err(format!(
                    "smtp-sink exited ({}): {}",
                    util::describe_status(status),
                    util::last_line(&log)
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!("smtp-sink not accepting on port {port}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Sink {
            _process: process,
            port,
            dir,
        })
    }

    /// Wait for a dumped message containing `token`.
    pub(super) fn wait_for(&self, token: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
                let text =
                    String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap_or_default())
                        .into_owned();
                if text.contains(token) {
                    return Ok(text);
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "smtp-sink got no message with {token:?} within {} s",
                    timeout.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// The installed aiosmtpd version, with var/interop/python on the path.
fn aiosmtpd_version(root: &Path) -> Result<String, String> {
    let python = require("python3", "python3")?;
    let mut command = Command::new(python);
    command
        .args([
            "-B",
            "-c",
            "import importlib.metadata as m; import aiosmtpd; print(m.version('aiosmtpd'))",
        ])
        .env("PYTHONPATH", python_path(root))
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (status, output) = run_bounded(command, EXCHANGE)?;
    if status.success() {
        Ok(output.trim().to_owned())
    } else {
        Err(format!(
            "{} (CI installs it: python3 -m pip install --target var/interop/python aiosmtpd=={AIOSMTPD_VERSION})",
            shorten(&output)
        ))
    }
}

/// var/interop/python before any PYTHONPATH already set.
fn python_path(root: &Path) -> std::ffi::OsString {
    let mut paths = vec![root.join("var").join("interop").join("python")];
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

/// `TORSION_INTEROP=1 cargo test --workspace --test client_interop -- --ignored` (`--workspace`,
/// not `-p torsion-smtp`: the same feature set as CI's `cargo test --workspace`, so its build is
/// reused instead of compiling the dependencies again), with
/// /usr/sbin on PATH (smtp-sink) and var/interop/python on PYTHONPATH (aiosmtpd); one check
/// per test it reports.
pub(super) fn client_library_tests(report: &mut Report, root: &Path) {
    report.check(
        &format!("smtp-aiosmtpd (python3 imports aiosmtpd {AIOSMTPD_VERSION})"),
        || {
            let version = aiosmtpd_version(root)?;
            if version == AIOSMTPD_VERSION {
                Ok(())
            } else {
                Err(format!(
                    "aiosmtpd {version} is installed, {AIOSMTPD_VERSION} expected"
                ))
            }
        },
    );
    let mut path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for dir in ["/usr/sbin", "/sbin"] {
        if !path.iter().any(|p| p == Path::new(dir)) {
            path.push(dir.into());
        }
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "test",
            "--workspace",
            "--test",
            "client_interop",
            "--",
            "--ignored",
        ])
        .env("TORSION_INTEROP", "1")
        .env("PATH", std::env::join_paths(path).unwrap_or_default())
        .env("PYTHONPATH", python_path(root))
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let name = "smtp-client-interop";
    let (status, output) = match run_bounded(command, CLIENT_TESTS) {
        Ok(result) => result,
        Err(e) => {
            report.fail(name, &format!("cargo test --test client_interop: {e}"));
            return;
        }
    };
    let _ = std::fs::write(root.join(SCRATCH).join("client-interop.log"), &output);
    let results = test_results(&output);
    if results.is_empty() {
        report.fail(
            name,
            &format!(
                "cargo test --test client_interop reported no tests ({}): {}",
                util::describe_status(status),
                shorten(&output)
            ),
        );
        return;
    }
    for (test, passed) in results {
        report.check(
            &format!("{name}-{test} (smtp/tests/client_interop.rs: our client library against smtp-sink / aiosmtpd)"),
            || {
                if passed {
                    Ok(())
                } else {
                    Err(format!(
                        "{} (var/interop/smtp/client-interop.log)",
                        failure_detail(&output, &test)
                    ))
                }
            },
        );
    }
}

/// `(name, passed)` for each `test NAME ... ok|FAILED` line of libtest's output.
fn test_results(output: &str) -> Vec<(String, bool)> {
    output
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("test ")?;
            let (name, outcome) = rest.split_once(" ... ")?;
            match outcome.trim() {
                "ok" => Some((name.to_owned(), true)),
                "FAILED" => Some((name.to_owned(), false)),
                _ => None,
            }
        })
        .collect()
}

/// The `---- NAME stdout ----` section of a failed test, shortened.
fn failure_detail(output: &str, test: &str) -> String {
    let header = format!("---- {test} stdout ----");
    output.find(&header).map_or_else(
        || "FAILED".to_owned(),
        |start| {
            let section = &output[start + header.len()..];
            let end = section.find("\n---- ").unwrap_or(section.len());
            shorten(&section[..end])
        },
    )
}

/// Where a program is: on PATH, or in the sbin directories Debian installs daemons into.
fn find_program(name: &str, package: &str) -> Result<PathBuf, String> {
    require(name, package).or_else(|e| {
        ["/usr/sbin", "/sbin", "/usr/local/sbin"]
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|p| p.is_file())
            .ok_or(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libtest_results() {
        let out = "running 2 tests\ntest a_b ... ok\ntest c ... FAILED\n\nfailures:\n\n---- c stdout ----\nthread panicked at x\n\nfailures:\n    c\n";
        assert_eq!(
            test_results(out),
            [("a_b".to_owned(), true), ("c".to_owned(), false)]
        );
        assert!(failure_detail(out, "c").contains("panicked"));
    }
}
