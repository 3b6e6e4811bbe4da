//! What the IMAP and POP3 differentials against Dovecot share: a scripted session (one of our
//! client library's examples) runs against torsion-X and against Dovecot, each over its own
//! copy of the same Maildir fixture ([`super::imap_differential::write_mail`]), and the two
//! transcripts must agree section by section (`== NAME` lines start a section). Both
//! transcripts are kept in the scratch directory (emptied first). Dovecot runs on 127.0.0.4
//! (not 127.0.0.1, which Dovecot treats as a secure local client), its mail owned by uid/gid
//! 65534; every process is bounded in time and stopped by its PID.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use super::imap_differential::write_mail;
use super::{Client, Report};
use crate::bench::imap::dovecot;
use crate::util::{self, ServerProcess};

/// The account and its password.
pub(super) const USER: &str = "alice@example.test";
pub(super) const PASSWORD: &str = "wonderland";
/// Dovecot's address (see the module docs).
const DOVECOT_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// Bound on a server starting.
const START: Duration = Duration::from_secs(20);
/// Bound on one run of the scripted session (both servers delay a failed login by 2 s).
const SESSION: Duration = Duration::from_secs(120);

/// One differential: which of our servers, which example drives it, what it must cover.
#[derive(Debug)]
pub(super) struct Differential {
    /// The check's name (`imap-differential`).
    pub name: &'static str,
    /// Our package and binary (`torsion-imap`).
    pub binary: &'static str,
    /// The example that runs the session (`imap_differential`).
    pub example: &'static str,
    /// The Debian package with Dovecot's side (`dovecot-imapd`).
    pub dovecot_package: &'static str,
    /// `--hostname` of our server.
    pub hostname: &'static str,
    /// Scratch directory, relative to the workspace root.
    pub scratch: &'static str,
    /// The sections of the script, as the example names them, and what each one covers.
    pub sections: &'static [(&'static str, &'static str)],
    /// Where Dovecot listens for this protocol.
    pub dovecot_addr: fn(&dovecot::Config) -> SocketAddr,
    /// Dovecot's transcript made comparable where the RFCs allow it to differ.
    pub normalise_dovecot: fn(&str) -> String,
}

impl Differential {
    /// Build, run both sessions, compare every section into `report`.
    pub fn run(&self, report: &mut Report) {
        let name = self.name;
        if let Err(e) = util::cargo_build(&[
            "-p",
            self.binary,
            "--bin",
            self.binary,
            "--example",
            self.example,
        ]) {
            report.fail(
                &format!("{name}: build {} and its example", self.binary),
                &e,
            );
            return;
        }
        let dovecot_program = match util::find_program("dovecot", self.dovecot_package) {
            Ok(p) => p,
            Err(e) => {
                report.fail(&format!("{name}: Dovecot"), &e);
                return;
            }
        };
        let root = util::workspace_root();
        let scratch = root.join(self.scratch);
        let _ = std::fs::remove_dir_all(&scratch);
        let ours = match self.run_torsion(&root, &scratch) {
            Ok(t) => sections(&t),
            Err(e) => {
                report.fail(&format!("{name}: the session against {}", self.binary), &e);
                return;
            }
        };
        let theirs = match self.run_dovecot(&root, &scratch, &dovecot_program) {
            Ok(t) => sections(&(self.normalise_dovecot)(&t)),
            Err(e) => {
                report.fail(&format!("{name}: the session against Dovecot"), &e);
                return;
            }
        };
        let binary = self.binary;
        for (section, what) in self.sections {
            let check = format!("{name} {section} ({binary} = Dovecot: {what})");
            report.check(&check, || {
                let a = ours.iter().find(|(n, _)| n == section).map(|(_, l)| l);
                let b = theirs.iter().find(|(n, _)| n == section).map(|(_, l)| l);
                match (a, b) {
                    (Some(a), Some(b)) if a == b => Ok(()),
                    (Some(a), Some(b)) => Err(format!(
                        "transcripts differ (- {binary}, + Dovecot; both in {}/): {}",
                        self.scratch,
                        diff(a, b).join("\n")
                    )),
                    (None, _) => Err(format!("no such section in {binary}'s transcript")),
                    (_, None) => Err("no such section in Dovecot's transcript".into()),
                }
            });
        }
        let unknown: Vec<&String> = ours
            .iter()
            .chain(&theirs)
            .map(|(n, _)| n)
            .filter(|n| !self.sections.iter().any(|(s, _)| s == n))
            .collect();
        if !unknown.is_empty() {
            report.fail(
                &format!("{name}: sections"),
                &format!("sections not listed in the check: {unknown:?}"),
            );
        }
    }

    /// Write the fixture, start our server on it, run the session; the transcript.
    fn run_torsion(&self, root: &Path, scratch: &Path) -> Result<String, String> {
        let dir = scratch.join("torsion");
        let mail = dir.join("mail");
        write_mail(&mail.join("example.test/alice"), None)?;
        let users = dir.join("users");
        write(&users, format!("{USER}:{{PLAIN}}{PASSWORD}\n").as_bytes())?;
        let args: Vec<String> = [
            "serve",
            "--hostname",
            self.hostname,
            "--domain",
            "example.test",
            "--mail-root",
            &mail.display().to_string(),
            "--users",
            &users.display().to_string(),
            "--allow-plaintext-auth",
            "--listen",
            "tcp:0:interface=127.0.0.1",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let binary = util::release_dir().join(self.binary);
        let mut server =
            ServerProcess::spawn(self.binary, &binary, &args, root, &dir.join("server.log"))?;
        let addresses = server.wait_listening(1, START)?;
        let port = addresses
            .first()
            .and_then(|a| util::port_of(a))
            .ok_or_else(|| format!("no port in {addresses:?}"))?;
        let transcript = self.session(
            root,
            &format!("127.0.0.1:{port}"),
            &scratch.join("torsion.txt"),
        );
        let stopped = server.stop_cleanly();
        let transcript = transcript?;
        stopped.map_err(|e| format!("{} did not exit cleanly: {e}", self.binary))?;
        Ok(transcript)
    }

    /// Write the fixture (owned by Dovecot's mail user), configure and start Dovecot, run the
    /// session; the transcript.
    fn run_dovecot(&self, root: &Path, scratch: &Path, program: &Path) -> Result<String, String> {
        let dir = scratch.join("dovecot");
        let mail = dir.join("mail");
        write_mail(&mail.join("example.test/alice"), Some(dovecot::MAIL_ID))?;
        for path in [mail.clone(), mail.join("example.test")] {
            std::os::unix::fs::chown(&path, Some(dovecot::MAIL_ID), Some(dovecot::MAIL_ID))
                .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
        }
        let ip = IpAddr::V4(DOVECOT_IP);
        let addr = SocketAddr::new(ip, dovecot::free_port(ip)?);
        let config = dovecot::configure(
            &dir.join("conf"),
            &mail,
            addr,
            &[USER.to_owned()],
            PASSWORD,
            dovecot::per_user_limit(4),
        )?;
        let server = dovecot::Dovecot::start(program, &config, root)?;
        let transcript = self.session(
            root,
            &(self.dovecot_addr)(&config).to_string(),
            &scratch.join("dovecot.txt"),
        );
        let stopped = server.stop();
        let transcript = transcript?;
        stopped.map_err(|e| format!("Dovecot did not stop: {e}"))?;
        Ok(transcript)
    }

    /// Run the example against `server` (`HOST:PORT`); its stdout, also written to `keep`.
    fn session(&self, root: &Path, server: &str, keep: &Path) -> Result<String, String> {
        let example = util::release_dir().join("examples").join(self.example);
        let mut client = Client::spawn(&example, &[server, USER, PASSWORD], root)?;
        let status = client.finish(SESSION)?;
        let stdout = String::from_utf8_lossy(client.stdout()).into_owned();
        write(keep, stdout.as_bytes())?;
        if !status.success() {
            return Err(format!(
                "{} {server} exited with {}; {}",
                self.example,
                util::describe_status(status),
                client.transcript()
            ));
        }
        Ok(stdout)
    }
}

/// `== NAME` sections and their lines.
fn sections(transcript: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in transcript.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            out.push((name.trim().to_owned(), Vec::new()));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push(line.to_owned());
        } else {
            out.push(("(before any section)".into(), vec![line.to_owned()]));
        }
    }
    out
}

/// A line diff (longest common subsequence): `- line` only in `a`, `+ line` only in `b`.
fn diff(a: &[String], b: &[String]) -> Vec<String> {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: the LCS length of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {}", b[j].trim()));
            j += 1;
        } else {
            out.push(format!("- {}", a[i].trim()));
            i += 1;
        }
    }
    out
}

pub(super) fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn diff_marks_lines_on_either_side() {
        let a = lines("x\ny\nz");
        let b = lines("x\nY\nz\nw");
        assert_eq!(diff(&a, &b), ["+ Y", "- y", "+ w"]);
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn transcripts_split_into_sections() {
        let s = sections("== one\na\nb\n== two\n== three\nc\n");
        assert_eq!(s.len(), 3);
        assert_eq!(s[0], ("one".to_owned(), lines("a\nb")));
        assert!(s[1].1.is_empty());
    }
}
