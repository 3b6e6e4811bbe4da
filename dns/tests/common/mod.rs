//! Running the `torsion-dns` binary in tests.
#![allow(dead_code, clippy::unwrap_used)] // each test file uses part of this

use std::net::SocketAddr;

use torsion_core::testkit::ServerBinary;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_torsion-dns");

/// A running server: its UDP and TCP addresses, its log, signals.
pub struct Running {
    pub server: ServerBinary,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        let mut all = vec![
            "serve",
            "--listen",
            "udp:0:interface=127.0.0.1",
            "--listen",
            "tcp:0:interface=127.0.0.1",
        ];
        all.extend_from_slice(args);
        let server = ServerBinary::start_until(BIN, &all, |addrs| {
            ["udp", "tcp"]
                .iter()
                .all(|scheme| addrs.iter().any(|(s, _)| s == scheme))
        });
        Running {
            udp: server.addr("udp", 0),
            tcp: server.addr("tcp", 0),
            server,
        }
    }

    pub fn wait_for_log(&self, needle: &str) -> String {
        self.server.wait_for_log(needle)
    }

    pub fn signal(&self, sig: &str) {
        self.server.signal(sig);
    }

    pub fn stop(self) -> i32 {
        self.server.stop()
    }
}
