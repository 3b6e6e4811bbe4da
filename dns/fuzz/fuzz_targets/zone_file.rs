//! Master-file text never panics the zone parser, and whatever it accepts is inside the zone.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use torsion_dns::proto::rr::Name;
use torsion_dns::zone::parser::parse_zone_str;

fn origin() -> &'static Name {
    static ORIGIN: OnceLock<Name> = OnceLock::new();
    ORIGIN.get_or_init(|| Name::from_ascii("example.").expect("static origin"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `$INCLUDE` would read files from the fuzzer's working directory: not what we test here.
    // Directives match in any case.
    if text.to_ascii_lowercase().contains("$include") {
        return;
    }
    if let Ok(zone) = parse_zone_str(text, origin(), "fuzz") {
        for record in &zone.records {
            assert!(
                zone.origin.zone_of(&record.name),
                "{} escaped the zone",
                record.name
            );
        }
    }
});
