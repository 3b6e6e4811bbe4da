//! Interop checks for torsion-irc: clients of the third-party Python `irc` library (PyPI `irc`
//! 20.5.0; `.ci/run` installs it under var/interop/python) against our server over loopback —
//! registration, channel and private messages, TOPIC, MODE +o, NICK, CTCP ACTION, QUIT, TLS
//! with a verified certificate — plus SASL PLAIN from a raw-socket Python client (the library
//! has no SASL) and `torsion-irc send` watched by a library client. The scripts live in
//! `xtask/interop-data/irc/`; each prints `ok` or exits non-zero with its reason. Servers listen
//! on port 0 and are stopped by PID; scratch files go under var/interop/.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{make_certificate, python_step, require, shorten, Client, Report};
use crate::util::{self, ServerProcess};

/// Bound on the server logging `listening on`.
const START: Duration = Duration::from_secs(10);
/// Bound on one Python script or one `torsion-irc send` (each waits at most 5 s per event).
const EXCHANGE: Duration = Duration::from_secs(30);
/// The scripts, relative to the workspace root.
const SCRIPTS: &str = "xtask/interop-data/irc";
/// The library version `.ci/run` installs.
const LIBRARY_VERSION: &str = "20.5.0";
/// The account the SASL check logs in with (`--auth memory:USER:PASS`).
const SASL_USER: &str = "alice";
const SASL_PASSWORD: &str = "wonderland";

/// Run every IRC check into `report`.
pub fn run(report: &mut Report) {
    if let Err(e) = util::cargo_build(&["-p", "torsion-irc", "--bin", "torsion-irc"]) {
        report.fail("irc: build torsion-irc", &e);
        return;
    }
    let root = util::workspace_root();
    if let Err(e) = std::fs::create_dir_all(root.join("var").join("interop")) {
        report.fail("irc: create var/interop", &e.to_string());
        return;
    }
    let mut library = false;
    report.check(
        &format!("irc-library (python3 imports the irc library {LIBRARY_VERSION})"),
        || {
            library_version(&root).and_then(|v| {
                library = true;
                if v == LIBRARY_VERSION {
                    Ok(())
                } else {
                    Err(format!("irc {v} is installed, {LIBRARY_VERSION} expected"))
                }
            })
        },
    );
    let auth = format!("memory:{SASL_USER}:{SASL_PASSWORD}");
    let server = match Irc::start(&root, "irc-interop", &[], &["--auth", &auth]) {
        Ok(server) => Some(server),
        Err(e) => {
            report.fail("irc: start torsion-irc", &e);
            None
        }
    };
    if let Some(server) = &server {
        let port = server.port.to_string();
        let steps = [
            (
                "privmsg",
                "irc-privmsg (two irc-library clients register, join, exchange channel and private PRIVMSGs)",
            ),
            (
                "topic-mode",
                "irc-topic-mode (TOPIC seen by the other client and on JOIN; MODE +o lets it set the topic)",
            ),
            ("nick", "irc-nick (NICK change seen; messages reach the new nick)"),
            ("action", "irc-ctcp-action (CTCP ACTION relayed to the channel)"),
            ("quit", "irc-quit (QUIT with its message seen by the other client)"),
        ];
        for (step, name) in steps {
            if library {
                report.check(name, || {
                    python(&root, "chat.py", &[&port, step]).map(|_| ())
                });
            } else {
                report.fail(
                    name,
                    "skipped: the irc library is missing (see irc-library)",
                );
            }
        }
        report.check(
            "irc-sasl-plain (raw-socket CAP LS/REQ, AUTHENTICATE PLAIN: 900/903; wrong password: 904)",
            || {
                python(&root, "sasl.py", &[&port, SASL_USER, SASL_PASSWORD]).map(|_| ())
            },
        );
        let name =
            "irc-send-cli (torsion-irc send posts to a channel an irc-library client watches)";
        if library {
            report.check(name, || send_cli(&root, server.port));
        } else {
            report.fail(
                name,
                "skipped: the irc library is missing (see irc-library)",
            );
        }
    }
    if let Some(server) = server {
        if let Err(e) = server.stop() {
            report.fail("irc: torsion-irc exits 0 on SIGTERM", &e);
        }
    }
    let name =
        "irc-tls (an irc-library client over TLS, certificate verified, talks to a plaintext one)";
    if library {
        report.check(name, || tls(&root));
    } else {
        report.fail(
            name,
            "skipped: the irc library is missing (see irc-library)",
        );
    }
}

fn binary() -> PathBuf {
    util::release_dir().join("torsion-irc")
}

/// A running torsion-irc and its first TCP (or TLS) port.
#[derive(Debug)]
struct Irc {
    process: ServerProcess,
    port: u16,
    addresses: Vec<String>,
}

impl Irc {
    /// `torsion-irc serve` on `tcp:0` plus `listen` endpoints, with `extra` flags.
    fn start(root: &Path, check: &str, listen: &[&str], extra: &[&str]) -> Result<Irc, String> {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--server-name".into(),
            "irc.interop.test".into(),
            "--listen".into(),
            "tcp:0:interface=127.0.0.1".into(),
        ];
        for endpoint in listen {
            args.push("--listen".into());
            args.push((*endpoint).into());
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let log = root
            .join("var")
            .join("interop")
            .join(format!("{check}.log"));
        let mut process = ServerProcess::spawn("torsion-irc", &binary(), &args, root, &log)?;
        let addresses = process.wait_listening(1 + listen.len(), START)?;
        let port = addresses
            .first()
            .and_then(|a| util::port_of(a))
            .ok_or_else(|| format!("no port in {addresses:?}"))?;
        Ok(Irc {
            process,
            port,
            addresses,
        })
    }

    /// The port of the listener whose address starts with `scheme`.
    fn port_of(&self, scheme: &str) -> Result<u16, String> {
        self.addresses
            .iter()
            .find(|a| a.starts_with(scheme))
            .and_then(|a| util::port_of(a))
            .ok_or_else(|| format!("no {scheme} address in {:?}", self.addresses))
    }

    /// SIGTERM and require exit 0.
    fn stop(mut self) -> Result<(), String> {
        self.process.stop_cleanly()
    }
}

/// Run `python3 SCRIPTS/script ARGS…` to completion (bounded); its stdout must start with `ok`.
fn python(root: &Path, script: &str, args: &[&str]) -> Result<String, String> {
    python_step(root, &format!("{SCRIPTS}/{script}"), args, EXCHANGE)
}

/// The installed version of the irc library, as the scripts see it.
fn library_version(root: &Path) -> Result<String, String> {
    let python = require("python3", "python3")?;
    let script = format!(
        "import sys; sys.path.insert(0, '{SCRIPTS}'); import harness; print(harness.library_version())"
    );
    let mut client = Client::spawn(&python, &["-B", "-c", &script], root)?;
    let status = client.finish(EXCHANGE)?;
    if status.success() {
        Ok(String::from_utf8_lossy(client.stdout()).trim().to_owned())
    } else {
        Err(format!(
            "{} (CI installs it: python3 -m pip install --target var/interop/python irc=={LIBRARY_VERSION})",
            shorten(&client.stderr())
        ))
    }
}

/// A watcher joins `#ci`; `torsion-irc send --server 127.0.0.1:PORT --nick ci --channel #ci
/// "build passed"` must exit 0 and the watcher must see the message from `ci`.
fn send_cli(root: &Path, port: u16) -> Result<(), String> {
    let python = require("python3", "python3")?;
    let port = port.to_string();
    let (channel, nick, text) = ("#ci", "ci", "build passed");
    let watch = format!("{SCRIPTS}/watch.py");
    let mut watcher = Client::spawn(&python, &["-B", &watch, &port, channel, nick, text], root)?;
    watcher.expect("ready", Duration::from_secs(10))?;
    let server = format!("127.0.0.1:{port}");
    let args = [
        "send",
        "--server",
        &server,
        "--nick",
        nick,
        "--channel",
        channel,
        text,
    ];
    let mut send = Client::spawn(&binary(), &args, root)?;
    let status = send.finish(EXCHANGE)?;
    if !status.success() {
        return Err(format!(
            "torsion-irc {} exited with {}; {}",
            args.join(" "),
            util::describe_status(status),
            send.transcript()
        ));
    }
    watcher.expect("ok", Duration::from_secs(10))?;
    let status = watcher.finish(EXCHANGE)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "watch.py exited with {}; {}",
            util::describe_status(status),
            watcher.transcript()
        ))
    }
}

/// torsion-irc on a `tls:` and a `tcp:` endpoint; tls.py connects one client each way.
fn tls(root: &Path) -> Result<(), String> {
    let key = "var/interop/irc-tls-key.pem";
    let cert = "var/interop/irc-tls-cert.pem";
    make_certificate(&require("openssl", "openssl")?, root, key, cert)?;
    let endpoint = format!("tls:0:privateKey={key}:certKey={cert}:interface=127.0.0.1");
    let server = Irc::start(root, "irc-tls", &[&endpoint], &[])?;
    let (tls_port, plain_port) = (server.port_of("tls:")?, server.port_of("tcp:")?);
    let out = python(
        root,
        "tls.py",
        &[&tls_port.to_string(), &plain_port.to_string(), cert],
    )?;
    if !out.contains("TLSv1.") {
        return Err(format!("tls.py did not report a TLS version: {out:?}"));
    }
    server.stop()
}
