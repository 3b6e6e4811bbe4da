//! The path normaliser on any string: never panics; no accepted segment is empty, `.`, `..`
//! or holds a separator or NUL, and re-normalising the encoded result is stable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_web::proto::path::normalise;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(p) = normalise(text) {
        for s in &p.segments {
            assert!(!s.is_empty() && s != "." && s != "..");
            assert!(!s.contains('/') && !s.contains('\\') && !s.contains('\0'));
        }
        let again = normalise(&p.to_href()).expect("an encoded path normalises");
        assert_eq!(again.segments, p.segments);
    }
});
