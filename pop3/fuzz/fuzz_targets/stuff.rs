//! Byte-stuffing of any message (RETR, and TOP with any line count): the output ends with
//! the one terminating `.` line, and unstuffing its lines gives back the message's lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_pop3::proto::{stuff, unstuff};

fuzz_target!(|data: &[u8]| {
    let (top, message) = match data.split_first() {
        Some((b, rest)) if b & 1 == 1 => (Some(u32::from(b >> 1)), rest),
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    let mut out = Vec::new();
    stuff(message, top, &mut out);
    assert!(out.ends_with(b".\r\n"));
    let body = &out[..out.len() - 3];
    assert!(body.is_empty() || body.ends_with(b"\r\n"));
    let lines: Vec<&[u8]> = if body.is_empty() {
        Vec::new()
    } else {
        body[..body.len() - 2].split(|&b| b == b'\n').collect()
    };
    let expected: Vec<&[u8]> = message
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    for (i, line) in lines.iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let back = unstuff(line).expect("no terminator before the end");
        assert_eq!(back, expected[i]);
    }
    if top.is_none() {
        // Every line of the message (a final empty piece is the last line end).
        let n = expected.len() - usize::from(message.ends_with(b"\n") || message.is_empty());
        assert_eq!(lines.len(), n);
    }
});
