//! `DataReceiver`: the input fed in arbitrary pieces gives exactly what one feed gives (the
//! same message, the same end position and outcome), and the kept message never exceeds the
//! limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_smtp::proto::{DataOutcome, DataReceiver};

type Result = (Vec<u8>, Option<(usize, DataOutcome)>, usize);

fn one_feed(input: &[u8], max: usize) -> Result {
    let mut rx = DataReceiver::new(max);
    let mut out = Vec::new();
    let end = rx.feed(input, &mut out);
    (out, end, rx.size())
}

fn pieces(input: &[u8], max: usize, cuts: &[u8]) -> Result {
    let mut rx = DataReceiver::new(max);
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts = cuts.iter().cycle();
    while at < input.len() {
        let len = usize::from(*cuts.next().unwrap_or(&1)).max(1);
        let piece = &input[at..(at + len).min(input.len())];
        if let Some((n, outcome)) = rx.feed(piece, &mut out) {
            return (out, Some((at + n, outcome)), rx.size());
        }
        at += piece.len();
    }
    (out, None, rx.size())
}

fuzz_target!(|data: &[u8]| {
    // First byte: the limit; next up to 8 bytes: piece lengths; the rest: the stream.
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let split = rest.len().min(8);
    let (cuts, input) = rest.split_at(split);
    let max = usize::from(limit) * 4;
    let whole = one_feed(input, max);
    assert!(whole.0.len() <= max);
    if let Some((n, _)) = whole.1 {
        assert!(n <= input.len());
        assert!(input[..n].ends_with(b"\r\n.\r\n") || input[..n] == *b".\r\n");
    }
    let cuts = if cuts.is_empty() { &[1u8][..] } else { cuts };
    assert_eq!(pieces(input, max, cuts), whole);
});
