//! The chunked decoder on any bytes, fed in pieces of any size: never panics, never yields
//! more than its limit, and what it yields does not depend on how the input was split.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use torsion_web::proto::{BodyDecoder, BodyPiece};

const LIMIT: u64 = 4096;

fn decode(data: &[u8], step: usize) -> Result<Vec<u8>, ()> {
    let mut d = BodyDecoder::chunked(LIMIT);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut fed = 0;
    loop {
        match d.decode(&mut buf) {
            Ok(Some(BodyPiece::Data(b))) => out.extend_from_slice(&b),
            Ok(Some(BodyPiece::End)) => return Ok(out),
            Ok(None) if fed >= data.len() => return Err(()),
            Ok(None) => {
                let end = (fed + step).min(data.len());
                buf.extend_from_slice(&data[fed..end]);
                fed = end;
            }
            Err(_) => return Err(()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (step, data) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s % 32) + 1, rest),
        None => return,
    };
    let whole = decode(data, data.len().max(1));
    let pieces = decode(data, step);
    assert_eq!(whole, pieces);
    if let Ok(body) = whole {
        assert!(body.len() as u64 <= LIMIT);
    }
});
