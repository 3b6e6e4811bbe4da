//! SASL PLAIN and LOGIN response decoding never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_core::cred::sasl;

fuzz_target!(|data: &[u8]| {
    let _ = sasl::decode_plain(data);
    let _ = sasl::decode_plain_raw(data);
    let _ = sasl::decode_login_response(data);
    let _ = sasl::is_abort(data);
});
