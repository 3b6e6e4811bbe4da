//! ENVELOPE, BODYSTRUCTURE, part sections and BINARY sections of arbitrary message bytes
//! (malformed MIME): never a panic, every section lies within the message, and a decoded
//! BINARY section is never longer than the message. Also what the store does with such bytes:
//! the header cache's block (`torsion_mailstore::headers`) parses and yields an envelope, and
//! bare-LF normalisation is exactly as long as the size counted for it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_imap::server::mime::{self, Want};

fuzz_target!(|data: &[u8]| {
    let block = torsion_mailstore::headers::select_fields(data);
    assert!(block.ends_with(b"\r\n"));
    if let Some(head) = mime::parse(&block) {
        let _ = mime::envelope(&head, false);
    }
    let normal = torsion_mailstore::crlf::normalise(data.to_vec());
    assert_eq!(normal.len() as u64, torsion_mailstore::crlf::size_of_parts(&[data]));
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
