//! The command parser on any line: never panics; a message number it accepts is ≥ 1.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_pop3::proto::{parse, Command};

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match parse(line) {
            Ok(Command::Retr(n) | Command::Dele(n) | Command::Top(n, _)) => assert!(n >= 1),
            Ok(Command::List(Some(n)) | Command::Uidl(Some(n))) => assert!(n >= 1),
            Ok(Command::Pass(p)) => assert!(!p.is_empty()),
            _ => {}
        }
    }
});
