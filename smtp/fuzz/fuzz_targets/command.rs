//! `Command::parse` on arbitrary bytes: never panics, and what it accepts is consistent
//! (paths within RFC 5321 limits, UTF-8 addresses only with SMTPUTF8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_smtp::proto::command::MAX_PATH;
use torsion_smtp::proto::Command;

fuzz_target!(|data: &[u8]| {
    let Ok(command) = Command::parse(data) else {
        return;
    };
    // Only valid UTF-8 without CR, LF or NUL is ever accepted.
    let text = std::str::from_utf8(data).expect("accepted non-UTF-8");
    assert!(!text.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0));
    match command {
        Command::Mail {
            from: Some(from),
            params,
        } => {
            assert!(from.to_string().len() <= MAX_PATH + 1);
            assert!(!from.is_utf8() || params.smtputf8);
        }
        Command::Rcpt { to } => assert!(to.to_string().len() <= MAX_PATH + 1),
        Command::Ehlo(domain) | Command::Helo(domain) => assert!(!domain.is_empty()),
        _ => {}
    }
});
