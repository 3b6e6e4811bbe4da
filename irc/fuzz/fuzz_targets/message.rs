//! The message parser over arbitrary bytes: no panic, and whatever parses survives a round
//! trip (serialise → parse gives the same message).
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_irc::proto::Message;

fn round_trip(msg: &Message) {
    let wire = msg.to_bytes();
    assert!(wire.ends_with(b"\r\n"));
    assert!(
        !wire[..wire.len() - 2].contains(&b'\n') && !wire[..wire.len() - 2].contains(&b'\r'),
        "serialised message spans lines: {wire:?}"
    );
    // `parse` (server limits): serialising may grow a line (lossy UTF-8 decoding turns one
    // invalid byte into three), so the 512-byte client limit could reject the copy.
    match Message::parse(&wire) {
        Ok(back) => assert_eq!(&back, msg, "wire: {:?}", String::from_utf8_lossy(&wire)),
        Err(e) => panic!(
            "{msg:?} serialised to {:?}, which does not parse: {e}",
            String::from_utf8_lossy(&wire)
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::parse(data) {
        round_trip(&msg);
    }
    if let Ok(msg) = Message::parse_client(data) {
        round_trip(&msg);
    }
});
