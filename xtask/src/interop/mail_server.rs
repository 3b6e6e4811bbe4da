//! A torsion mail server binary (`torsion-imap`, `torsion-pop3`) run for an interop check:
//! `PROGRAM serve` over the users file and mail root a suite wrote into its scratch
//! directory, on `tcp:0` plus any other endpoints, stopped cleanly by PID.

use std::path::Path;
use std::time::Duration;

use crate::util::{self, ServerProcess};

/// Bound on the server logging `listening on`.
const START: Duration = Duration::from_secs(10);

/// A running server and its first port.
#[derive(Debug)]
pub(super) struct MailServer {
    process: ServerProcess,
    pub(super) port: u16,
    addresses: Vec<String>,
}

impl MailServer {
    /// `PROGRAM serve` (the release binary `program`) on `tcp:0` plus `listen` endpoints,
    /// with `extra` flags, over `scratch/users` and `scratch/mail` (`scratch` relative to
    /// `root`), its log `scratch/CHECK.log`.
    pub(super) fn start(
        program: &str,
        root: &Path,
        scratch: &str,
        check: &str,
        listen: &[&str],
        extra: &[&str],
    ) -> Result<MailServer, String> {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--hostname".into(),
            "mail.interop.test".into(),
            "--domain".into(),
            "example.test".into(),
            "--mail-root".into(),
            format!("{scratch}/mail"),
            "--users".into(),
            format!("{scratch}/users"),
            "--listen".into(),
            "tcp:0:interface=127.0.0.1".into(),
        ];
        for endpoint in listen {
            args.push("--listen".into());
            args.push((*endpoint).into());
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let log = root.join(scratch).join(format!("{check}.log"));
        let binary = util::release_dir().join(program);
        let mut process = ServerProcess::spawn(program, &binary, &args, root, &log)?;
        let addresses = process.wait_listening(1 + listen.len(), START)?;
        let port = addresses
            .first()
            .and_then(|a| util::port_of(a))
            .ok_or_else(|| format!("no port in {addresses:?}"))?;
        Ok(MailServer {
            process,
            port,
            addresses,
        })
    }

    /// The port of the listener whose address starts with `scheme`.
    pub(super) fn port_of(&self, scheme: &str) -> Result<u16, String> {
        self.addresses
            .iter()
            .find(|a| a.starts_with(scheme))
            .and_then(|a| util::port_of(a))
            .ok_or_else(|| format!("no {scheme} address in {:?}", self.addresses))
    }

    /// SIGTERM and require exit 0.
    pub(super) fn stop(mut self) -> Result<(), String> {
        self.process.stop_cleanly()
    }
}
