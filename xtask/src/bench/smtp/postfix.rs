//! A throwaway Postfix instance from the templates in /work/shared/peers: its own queue
//! directory, virtual(8) delivery to Maildir under its own mail root, logging to a file. It is
//! started with `postfix -c DIR/etc start` (the master daemonizes) and stopped with `postfix
//! -c DIR/etc stop`, then by the master's PID (from its pid file) if it lingers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util;

/// Where the templates are.
const TEMPLATES: &str = "/work/shared/peers";
/// The uid and gid virtual(8) delivers as (`virtual_uid_maps = static:65534` in the template).
const VIRTUAL_ID: u32 = 65534;
/// Bound on `postfix start` / `postfix stop` and on the master exiting.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Postfix instance.
#[derive(Debug)]
pub struct Postfix {
    postfix: PathBuf,
    dir: PathBuf,
    master: Option<u32>,
    /// The Maildir `new/` directory of alice@example.test.
    pub new_dir: PathBuf,
    /// The command that started it, for the report.
    pub command: String,
}

impl Postfix {
    /// Write the configuration into `dir` (emptied first) and start Postfix on
    /// 127.0.0.1:`port`.
    pub fn start(postfix: &Path, dir: &Path, port: u16) -> Result<Postfix, String> {
        let _ = std::fs::remove_dir_all(dir);
        let etc = dir.join("etc");
        for sub in ["etc", "spool", "mail"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        }
        let dir_text = dir.display().to_string();
        for (template, name) in [
            ("postfix-main.cf", "main.cf"),
            ("postfix-master.cf", "master.cf"),
        ] {
            let path = Path::new(TEMPLATES).join(template);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let text = text
                .replace("@DIR@", &dir_text)
                .replace("@PORT@", &port.to_string());
            if ["@DIR@", "@PORT@", "@ADDR@", "@UPSTREAM@"]
                .iter()
                .any(|p| text.contains(p))
            {
                return Err(format!(
                    "{template} has placeholders this benchmark does not fill"
                ));
            }
            std::fs::write(etc.join(name), text)
                .map_err(|e| format!("cannot write {name}: {e}"))?;
        }
        std::fs::write(
            etc.join("vmailbox"),
            "alice@example.test example.test/alice/\n",
        )
        .map_err(|e| format!("cannot write vmailbox: {e}"))?;
        // Postfix creates its data directory itself (owned by `mail_owner`, which it insists
        // on); virtual(8) creates example.test/alice/{tmp,new,cur} as the virtual user.
        std::os::unix::fs::chown(dir.join("mail"), Some(VIRTUAL_ID), Some(VIRTUAL_ID)).map_err(
            |e| format!("cannot chown the mail root to {VIRTUAL_ID} (run as root): {e}"),
        )?;
        let mut instance = Postfix {
            postfix: postfix.to_path_buf(),
            dir: dir.to_path_buf(),
            master: None,
            new_dir: dir
                .join("mail")
                .join("example.test")
                .join("alice")
                .join("new"),
            command: format!("postfix -c {} start", etc.display()),
        };
        instance.control("start")?;
        let pid_file = dir.join("spool").join("pid").join("master.pid");
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .ok_or_else(|| format!("no master PID in {}", pid_file.display()))?;
        instance.master = Some(pid);
        Ok(instance)
    }

    /// `postfix -c DIR/etc VERB`, bounded.
    fn control(&self, verb: &str) -> Result<(), String> {
        let mut child = Command::new(&self.postfix)
            .arg("-c")
            .arg(self.dir.join("etc"))
            .arg(verb)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run postfix {verb}: {e}"))?;
        match util::wait_or_kill(&mut child, CONTROL_TIMEOUT, Duration::from_millis(50)) {
            Ok(Some(status)) if status.success() => Ok(()),
            Ok(Some(status)) => Err(format!(
                "postfix {verb} failed ({}): {}",
                util::describe_status(status),
                util::last_line(&self.dir.join("postfix.log"))
            )),
            Ok(None) => Err(format!("postfix {verb} did not finish")),
            Err(e) => Err(format!("postfix {verb}: {e}")),
        }
    }

    /// CPU seconds used so far by the master and every process below it, including the
    /// workers that have already exited (the master's `cutime`/`cstime`).
    pub fn cpu_seconds(&self) -> f64 {
        let Some(master) = self.master else {
            return 0.0;
        };
        let mut tree = vec![master];
        let mut i = 0;
        let processes: Vec<u32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .collect();
        while i < tree.len() {
            let parent = tree[i];
            tree.extend(
                processes
                    .iter()
                    .filter(|pid| util::parent_pid(**pid).ok() == Some(parent)),
            );
            i += 1;
        }
        tree.iter()
            .filter_map(|pid| util::cpu_seconds_with_reaped_children(*pid).ok())
            .sum()
    }

    /// Stop the instance: `postfix stop`, then wait for the master to exit (SIGKILL by PID if
    /// it does not).
    pub fn stop(&mut self) -> Result<(), String> {
        let Some(master) = self.master.take() else {
            return Ok(());
        };
        let stopped = self.control("stop");
        let deadline = Instant::now() + CONTROL_TIMEOUT;
        while alive(master) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(master) {
            let _ = util::send_signal(master, libc::SIGKILL);
            return Err(format!(
                "the Postfix master ({master}) did not exit: killed"
            ));
        }
        stopped
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Whether `pid` is a live process (not gone, not a zombie waiting for init to reap it).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}
