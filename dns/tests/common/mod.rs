//! Running the `torsion-dns` binary in tests.
#![allow(dead_code, clippy::unwrap_used)] // each test file uses part of this

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_torsion-dns");

/// A running server: its UDP and TCP addresses, and its log lines as they arrive.
pub struct Running {
    pub child: Child,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub log: mpsc::Receiver<String>,
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args([
                "--listen",
                "udp:0:interface=127.0.0.1",
                "--listen",
                "tcp:0:interface=127.0.0.1",
            ])
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut udp, mut tcp) = (None, None);
        while udp.is_none() || tcp.is_none() {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("server did not start");
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                if let Some(a) = addr.strip_prefix("udp:") {
                    udp = Some(a.parse().unwrap());
                } else if let Some(a) = addr.strip_prefix("tcp:") {
                    tcp = Some(a.parse().unwrap());
                }
            }
        }
        Running {
            child,
            udp: udp.unwrap(),
            tcp: tcp.unwrap(),
            log: rx,
        }
    }

    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(line) = self.log.recv_timeout(Duration::from_millis(200)) {
                if line.contains(needle) {
                    return line;
                }
            }
        }
        panic!("no log line containing {needle:?}");
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn stop(mut self) -> i32 {
        self.signal("TERM");
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill().unwrap();
        panic!("server did not stop on SIGTERM");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed test must not leave the server running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
