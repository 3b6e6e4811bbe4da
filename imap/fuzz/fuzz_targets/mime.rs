//! ENVELOPE, BODYSTRUCTURE, part sections and BINARY sections of arbitrary message bytes
//! (malformed MIME): never a panic, every section lies within the message, and a decoded
//! BINARY section is never longer than the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_imap::server::mime::{self, Want};

fuzz_target!(|data: &[u8]| {
    let Some(msg) = mime::parse(data) else {
        return;
    };
    let _ = mime::envelope(&msg, false);
    let _ = mime::envelope(&msg, true);
    let _ = mime::bodystructure(&msg, true, false);
    let _ = mime::bodystructure(&msg, false, true);
    for path in [&[1u32][..], &[1, 1], &[2], &[2, 1, 3], &[3, 2]] {
        for want in [Want::Body, Want::Mime, Want::Header, Want::Text] {
            if let Some(bytes) = mime::section(&msg, path, want) {
                assert!(bytes.len() <= data.len());
            }
        }
        if let Ok(bytes) = mime::binary(&msg, path) {
            assert!(bytes.len() <= data.len());
        }
    }
});
