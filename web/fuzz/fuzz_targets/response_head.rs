//! The response-head parser (the client's and the proxy's) on any bytes: never panics; a
//! head it accepts has one framing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_web::proto::response::parse_response_head;

fuzz_target!(|data: &[u8]| {
    for head_request in [false, true] {
        if let Ok(Some((head, used))) = parse_response_head(data, head_request) {
            assert!(used <= data.len());
            let te = head.parts.headers.contains_key("transfer-encoding");
            let cl = head.parts.headers.contains_key("content-length");
            assert!(!(te && cl));
        }
    }
});
