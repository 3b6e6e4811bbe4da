//! A throwaway Dovecot 2.3 instance from /work/shared/peers/dovecot.conf: its own base and
//! state directories, log file, passwd-file users and Maildir root, listening on a loopback
//! address other than 127.0.0.1. It runs in the foreground (`dovecot -F -c FILE`) as a child
//! of xtask and is stopped by its PID (SIGTERM, then SIGKILL).
//!
//! Deviations from the template, all written at the end of the generated file or substituted
//! in place (and listed in BENCHMARKS.md): `disable_plaintext_auth = no` (torsion-imap runs
//! with `--allow-plaintext-auth`, both get plaintext LOGIN on loopback), and limits raised for
//! the idle-connection test: `mail_max_userip_connections`, `default_client_limit`,
//! `service imap { process_limit }`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{self, ServerProcess};

/// The template.
const TEMPLATE: &str = "/work/shared/peers/dovecot.conf";
/// The uid and gid of the mail user (Dovecot refuses root): nobody/nogroup.
pub const MAIL_ID: u32 = 65534;
/// Bound on generating the certificate.
const OPENSSL_TIMEOUT: Duration = Duration::from_secs(60);

/// The generated configuration of one instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// The configuration file.
    pub file: PathBuf,
    /// Where it listens for IMAP.
    pub addr: SocketAddr,
    /// Where it listens for POP3 (plain, same address).
    pub pop3_addr: SocketAddr,
    /// Its scratch directory.
    pub dir: PathBuf,
}

/// The per-account connection limit for a run that opens at most `connections` at once to
/// one account (with room for the probes and the warm-up connection).
pub fn per_user_limit(connections: u64) -> u64 {
    connections + 64
}

/// Write `dir/dovecot.conf`, `dir/users.passwd` (every `user@domain` in `users` with
/// `password`, mail under `mail_root`) and a self-signed certificate; IMAP on `addr`.
/// `limit`: the per-account connection limit ([`per_user_limit`]).
pub fn configure(
    dir: &Path,
    mail_root: &Path,
    addr: SocketAddr,
    users: &[String],
    password: &str,
    limit: u64,
) -> Result<Config, String> {
    for sub in ["run", "state"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    }
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if !cert.is_file() || !key.is_file() {
        self_signed(&cert, &key)?;
    }
    let template =
        std::fs::read_to_string(TEMPLATE).map_err(|e| format!("cannot read {TEMPLATE}: {e}"))?;
    let pop3_port = free_port(addr.ip())?;
    let text = generate(
        &template, dir, mail_root, addr, pop3_port, &cert, &key, limit,
    )?;
    let file = dir.join("dovecot.conf");
    std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let mut passwd = String::new();
    for user in users {
        let (local, domain) = user.split_once('@').unwrap_or((user, ""));
        passwd.push_str(&format!(
            "{user}:{{PLAIN}}{password}:{MAIL_ID}:{MAIL_ID}::{}/{domain}/{local}::\n",
            mail_root.display()
        ));
    }
    let users_file = dir.join("users.passwd");
    std::fs::write(&users_file, passwd)
        .map_err(|e| format!("cannot write {}: {e}", users_file.display()))?;
    Ok(Config {
        file,
        addr,
        pop3_addr: SocketAddr::new(addr.ip(), pop3_port),
        dir: dir.to_path_buf(),
    })
}

/// The configuration text: the template with its placeholders filled and the benchmark's
/// overrides.
#[allow(clippy::too_many_arguments)]
fn generate(
    template: &str,
    dir: &Path,
    mail_root: &Path,
    addr: SocketAddr,
    pop3_port: u16,
    cert: &Path,
    key: &Path,
    limit: u64,
) -> Result<String, String> {
    let mut text = template
        .replace("@DIR@", &dir.display().to_string())
        .replace("@ADDR@", &addr.ip().to_string())
        .replace("@IMAP_PORT@", &addr.port().to_string())
        .replace("@POP3_PORT@", &pop3_port.to_string())
        .replace("@MAILROOT@", &mail_root.display().to_string())
        .replace("@CERT@", &cert.display().to_string())
        .replace("@KEY@", &key.display().to_string());
    if let Some(p) = [
        "@DIR@",
        "@ADDR@",
        "@IMAP_PORT@",
        "@POP3_PORT@",
        "@MAILROOT@",
        "@CERT@",
        "@KEY@",
    ]
    .iter()
    .find(|p| text.contains(*p))
    {
        return Err(format!("{TEMPLATE}: placeholder {p} left unfilled"));
    }
    const STRICT: &str = "disable_plaintext_auth = yes";
    if !text.contains(STRICT) {
        return Err(format!("{TEMPLATE}: no `{STRICT}` line to override"));
    }
    text = text.replace(
        STRICT,
        "disable_plaintext_auth = no  # bench imap: torsion-imap runs with --allow-plaintext-auth",
    );
    text.push_str(&format!(
        "\n# bench imap: limits raised for the idle-connection test (defaults 10, 1000, 100).\n\
         mail_max_userip_connections = {limit}\n\
         default_client_limit = {}\n\
         service imap {{\n  process_limit = {limit}\n}}\n",
        limit.max(1000)
    ));
    Ok(text)
}

/// `openssl req -x509 …`: a throwaway certificate for the template's `ssl = yes` (the
/// benchmark's connections never start TLS).
fn self_signed(cert: &Path, key: &Path) -> Result<(), String> {
    let openssl = util::find_program("openssl", "openssl")?;
    let mut child = Command::new(openssl)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7",
        ])
        .args(["-subj", "/CN=imap.bench.test", "-keyout"])
        .arg(key)
        .arg("-out")
        .arg(cert)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    match util::wait_or_kill(&mut child, OPENSSL_TIMEOUT, Duration::from_millis(20)) {
        Ok(Some(status)) if status.success() => Ok(()),
        Ok(Some(status)) => Err(format!(
            "openssl req failed ({})",
            util::describe_status(status)
        )),
        Ok(None) => Err("openssl req did not finish: killed".into()),
        Err(e) => Err(format!("openssl req: {e}")),
    }
}

/// A free TCP port on `ip`.
pub fn free_port(ip: IpAddr) -> Result<u16, String> {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port on {ip}: {e}"))
}

/// A running instance.
#[derive(Debug)]
pub struct Dovecot {
    process: ServerProcess,
}

impl Dovecot {
    /// `dovecot -F -c FILE`; returns once it accepts connections (see
    /// [`super::wait_greeting`]).
    pub fn start(dovecot: &Path, config: &Config, root: &Path) -> Result<Dovecot, String> {
        let args = vec![
            "-F".to_owned(),
            "-c".to_owned(),
            config.file.display().to_string(),
        ];
        let mut process = ServerProcess::spawn(
            "dovecot",
            dovecot,
            &args,
            root,
            &config.dir.join("dovecot.stderr"),
        )?;
        if let Err(e) = super::wait_greeting(config.addr) {
            let log = util::last_line(&config.dir.join("dovecot.log"));
            process.kill();
            return Err(format!("{e}; dovecot.log: {log}"));
        }
        Ok(Dovecot { process })
    }

    /// The master and every process below it.
    pub fn processes(&self) -> Vec<u32> {
        process_tree(self.process.pid())
    }

    /// CPU seconds of the master and every process below it, including the processes that
    /// exited (the master's `cutime`/`cstime`: Dovecot's imap processes are its children).
    pub fn cpu_seconds(&self) -> f64 {
        self.processes()
            .iter()
            .filter_map(|pid| util::cpu_seconds_with_reaped_children(*pid).ok())
            .sum()
    }

    /// Stop it by its PID: SIGTERM, then SIGKILL after [`util::STOP_TIMEOUT`].
    pub fn stop(mut self) -> Result<(), String> {
        self.process.stop(util::STOP_TIMEOUT).map(|_| ())
    }
}

/// `pid` and all its descendants (from /proc).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let processes: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, util::parent_pid(p).ok()?)))
        .collect();
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            processes
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_the_template_and_adds_overrides() {
        let template = "base_dir = @DIR@/run\nlisten = @ADDR@\nport = @IMAP_PORT@\nport = @POP3_PORT@\n\
                        mail_location = maildir:@MAILROOT@/%d/%n\nssl_cert = <@CERT@\nssl_key = <@KEY@\n\
                        disable_plaintext_auth = yes\n";
        let text = generate(
            template,
            Path::new("/d"),
            Path::new("/m"),
            "127.0.0.3:1430".parse().unwrap(),
            1100,
            Path::new("/c.pem"),
            Path::new("/k.pem"),
            per_user_limit(500),
        )
        .unwrap();
        assert!(text.contains("base_dir = /d/run\nlisten = 127.0.0.3\nport = 1430\nport = 1100\n"));
        assert!(text.contains("maildir:/m/%d/%n"));
        assert!(text.contains("disable_plaintext_auth = no"));
        assert!(!text.contains("disable_plaintext_auth = yes"));
        assert!(text.contains("mail_max_userip_connections = 564\n"));
        assert!(text.contains("default_client_limit = 1000\n"));
        assert!(text.contains("process_limit = 564\n"));
        let missing = generate(
            "x = @SOMETHING@\n",
            Path::new("/d"),
            Path::new("/m"),
            "127.0.0.3:1".parse().unwrap(),
            2,
            Path::new("/c"),
            Path::new("/k"),
            1,
        );
        assert!(missing.is_err());
    }

    #[test]
    fn finds_own_process_tree() {
        let me = std::process::id();
        assert_eq!(process_tree(me)[0], me);
    }
}
