//! Process plumbing shared by the subcommands: building with cargo, spawning servers with their
//! stderr in a log file, learning their addresses from the `listening on …` log lines, stopping
//! them by PID, and reading RSS and CPU time from /proc.

use std::fs::{self, File};
use std::io;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often waits poll a child or its log file.
const POLL: Duration = Duration::from_millis(20);
/// How long a server gets to exit after SIGTERM before it is killed (above the servers'
/// default `--shutdown-timeout` of 10 s).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Wait up to `timeout` for `child` to exit, looking every `poll`; past the deadline kill and
/// reap it and return `Ok(None)`. For the one-shot programs the tasks run (load generators,
/// clients, `postfix start`), which must never hang a run.
pub fn wait_or_kill(
    child: &mut Child,
    timeout: Duration,
    poll: Duration,
) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(poll);
    }
}

/// Where a program is: on PATH, or in the sbin directories Debian installs daemons into; the
/// error names the package to install.
pub fn find_program(name: &str, package: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| format!("{name} not found: apt-get install -y {package}"))
}

/// The workspace root (xtask/ lives directly below it).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// `target/release`, found next to the running xtask binary (so `CARGO_TARGET_DIR` is honoured),
/// falling back to `<root>/target/release`.
pub fn release_dir() -> PathBuf {
    // current_exe is target/<profile>/xtask.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("release")))
        .filter(|dir| dir.is_dir())
        .unwrap_or_else(|| workspace_root().join("target").join("release"))
}

/// `cargo build --release ARGS…` in the workspace root, output passed through.
pub fn cargo_build(args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .arg("build")
        .arg("--release")
        .args(args)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo build --release {} failed ({})",
            args.join(" "),
            describe_status(status)
        ))
    }
}

/// "exit code 1", "killed by signal 9".
pub fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => "unknown status".into(),
    }
}

/// The addresses in `listening on ADDR` log lines (text or JSON logs), in order.
pub fn listening_addresses(log: &str) -> Vec<String> {
    const MARK: &str = "listening on ";
    log.lines()
        .filter_map(|line| {
            let rest = &line[line.find(MARK)? + MARK.len()..];
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            (end > 0).then(|| rest[..end].to_owned())
        })
        .collect()
}

/// The port of `tcp:127.0.0.1:PORT` / `tls:…` / `udp:…` (the last `:`-separated field).
pub fn port_of(address: &str) -> Option<u16> {
    address.rsplit(':').next()?.parse().ok()
}

/// A server child process with stdout and stderr in a log file. Dropping it stops the process
/// (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]), so servers never outlive an error or panic.
#[derive(Debug)]
pub struct ServerProcess {
    /// Short name for messages.
    pub name: String,
    /// Where the child's stderr (and stdout) go.
    pub log: PathBuf,
    child: Child,
    status: Option<ExitStatus>,
}

impl ServerProcess {
    /// Start `program ARGS…` in `cwd`, stdin closed, output to `log` (truncated).
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        cwd: &Path,
        log: &Path,
    ) -> Result<Self, String> {
        if let Some(dir) = log.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let err = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let out = err
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        sys::terminate_with_parent(&mut command);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        Ok(ServerProcess {
            name: name.to_owned(),
            log: log.to_path_buf(),
            child,
            status: None,
        })
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait until the log shows `count` `listening on` lines; returns the addresses. Fails if the
    /// child exits first (quoting the end of its log) or after `timeout`.
    pub fn wait_listening(
        &mut self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            let addresses = listening_addresses(&log);
            if addresses.len() >= count {
                return Ok(addresses);
            }
            if let Some(status) = self.try_status() {
                return Err(format!(
                    "{} exited ({}) before listening: {}",
                    self.name,
                    describe_status(status),
                    last_line(&self.log)
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not log `listening on` within {} s (see {})",
                    self.name,
                    timeout.as_secs(),
                    self.log.display()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The exit status if the child has exited (never blocks).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Send SIGTERM (graceful shutdown) if the child is still running.
    pub fn terminate(&mut self) {
        if self.try_status().is_none() {
            // Best effort: the child may exit between the check and the signal.
            let _ = sys::send_signal(self.pid(), libc::SIGTERM);
        }
    }

    /// Wait up to `timeout` for the child to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// SIGTERM, wait up to `timeout`, else SIGKILL. `Err` says it had to be killed.
    pub fn stop(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        self.terminate();
        if let Some(status) = self.wait_timeout(timeout) {
            return Ok(status);
        }
        self.kill();
        Err(format!(
            "{} did not exit within {} s of SIGTERM; killed",
            self.name,
            timeout.as_secs()
        ))
    }

    /// SIGTERM (as [`stop`](Self::stop)) and require exit 0.
    pub fn stop_cleanly(&mut self) -> Result<(), String> {
        let status = self.stop(STOP_TIMEOUT)?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} exited with {}: {}",
                self.name,
                describe_status(status),
                last_line(&self.log)
            ))
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.stop(STOP_TIMEOUT);
        }
    }
}

/// The last non-empty line of a log file (for error messages).
pub fn last_line(path: &Path) -> String {
    fs::read_to_string(path)
        .ok()
        .and_then(|log| {
            log.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("(nothing in {})", path.display()))
}

/// Whether 127.0.0.1:`port` can be bound (TCP, or UDP when `udp`).
pub fn port_is_free(port: u16, udp: bool) -> bool {
    if udp {
        UdpSocket::bind(("127.0.0.1", port)).is_ok()
    } else {
        TcpListener::bind(("127.0.0.1", port)).is_ok()
    }
}

/// A `Name:   123 kB` field of a /proc file (`status`, `smaps_rollup`), in bytes.
pub fn proc_kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib * 1024)
}

/// `VmRSS` of a process, in bytes.
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    proc_kib_field(&status, "VmRSS")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS in /proc/PID/status"))
}

/// User + system CPU time a process has used, in seconds.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    // utime and stime are fields 14 and 15 of /proc/PID/stat.
    Ok(stat_ticks(pid, &[14, 15])? as f64 / sys::clock_ticks_per_second())
}

/// User + system CPU time of a process plus that of the children it has waited for (`cutime`
/// and `cstime`, fields 16 and 17), in seconds: what a daemon and its exited workers used.
pub fn cpu_seconds_with_reaped_children(pid: u32) -> io::Result<f64> {
    Ok(stat_ticks(pid, &[14, 15, 16, 17])? as f64 / sys::clock_ticks_per_second())
}

/// The PID of a process's parent (field 4 of /proc/PID/stat).
pub fn parent_pid(pid: u32) -> io::Result<u32> {
    let ppid = stat_ticks(pid, &[4])?;
    u32::try_from(ppid).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// The sum of the numeric `fields` (numbered as in proc(5), from 3) of /proc/PID/stat.
fn stat_ticks(pid: u32, fields: &[usize]) -> io::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may contain spaces: count fields after it.
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected /proc/PID/stat format",
        )
    };
    let after = stat.rfind(')').map(|i| &stat[i + 1..]).ok_or_else(bad)?;
    let values: Vec<&str> = after.split_whitespace().collect();
    fields.iter().try_fold(0u64, |sum, &field| {
        let value = values
            .get(field.checked_sub(3).ok_or_else(bad)?)
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(bad)?;
        Ok(sum + value)
    })
}

/// Raise the soft open-files limit to the hard limit (children inherit it). Returns the new
/// soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    sys::raise_nofile_limit()
}

/// One line describing the machine: CPUs, CPU model, kernel.
pub fn machine_summary() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".into(), |s| s.trim().to_owned());
    format!("{cpus} CPUs (nproc), {model}, Linux {kernel}")
}

/// Send a signal to a process by PID.
pub fn send_signal(pid: u32, signal: i32) -> io::Result<()> {
    sys::send_signal(pid, signal)
}

/// The few libc calls std has no safe wrapper for. Each is a plain syscall wrapper with
/// arguments we fully control; the SAFETY comments say why each call is sound.
#[allow(unsafe_code)]
mod sys {
    use std::io;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    pub fn send_signal(pid: u32, signal: i32) -> io::Result<()> {
        let pid =
            libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        if pid <= 0 {
            // kill(0 or negative) would signal a whole process group.
            return Err(io::ErrorKind::InvalidInput.into());
        }
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        if unsafe { libc::kill(pid, signal) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub fn clock_ticks_per_second() -> f64 {
        // SAFETY: sysconf(3) with a valid name constant only reads a configuration value.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks > 0 {
            ticks as f64
        } else {
            100.0
        }
    }

    pub fn raise_nofile_limit() -> io::Result<u64> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit(2) writes one `rlimit` into the valid, exclusively borrowed struct.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            // SAFETY: setrlimit(2) only reads the struct, which lives for the whole call.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(limit.rlim_cur)
    }

    /// Have the kernel send SIGTERM to the child if xtask dies without stopping it (killed by a
    /// signal, so no destructor ran). Children are spawned from the main thread, which lives
    /// as long as xtask, so the "parent thread exits" case of PR_SET_PDEATHSIG does not arise.
    pub fn terminate_with_parent(command: &mut Command) {
        // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is
        // async-signal-safe; it allocates nothing and takes no locks.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_listening_lines_in_text_and_json_logs() {
        let log = "2026-01-01T00:00:00Z  INFO torsion_core::runner: listening on tcp:127.0.0.1:40317 protocol=\"echo\"\n\
                   noise\n\
                   {\"level\":\"INFO\",\"message\":\"listening on unix:var/x.sock\",\"protocol\":\"echo\"}\n\
                   listening on tcp:127.0.0.1:9\n";
        assert_eq!(
            listening_addresses(log),
            ["tcp:127.0.0.1:40317", "unix:var/x.sock", "tcp:127.0.0.1:9"]
        );
        assert_eq!(port_of("tcp:127.0.0.1:40317"), Some(40317));
        assert_eq!(port_of("tcp:[::1]:53"), Some(53));
        assert_eq!(port_of("unix:var/x.sock"), None);
    }

    #[test]
    fn reads_own_process_stats() {
        let pid = std::process::id();
        assert!(rss_bytes(pid).unwrap() > 0);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(cpu_seconds_with_reaped_children(pid).unwrap() >= cpu_seconds(pid).unwrap());
        assert_eq!(
            parent_pid(pid).unwrap(),
            std::os::unix::process::parent_id()
        );
        assert!(machine_summary().contains("Linux"));
    }
}
