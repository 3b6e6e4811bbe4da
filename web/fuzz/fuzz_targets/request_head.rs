//! The request-head parser on any bytes: never panics; a head it accepts used no more bytes
//! than it was given, within the head limit, and frames its body unambiguously.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_web::proto::head::{parse_request_head, BodyLength, MAX_HEAD};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((head, used))) = parse_request_head(data) {
        assert!(used <= data.len() && used <= MAX_HEAD + 16);
        let te = head.parts.headers.contains_key("transfer-encoding");
        let cl = head.parts.headers.contains_key("content-length");
        assert!(!(te && cl), "both framings accepted");
        if te {
            assert_eq!(head.body, BodyLength::Chunked);
        }
    }
});
