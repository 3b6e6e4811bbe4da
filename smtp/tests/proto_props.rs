//! Properties of the DATA stream and replies: the client's dot-stuffer and the server's
//! DataReceiver are inverses; both give the same result however the bytes are split; the
//! reply reader reads back what `Reply::write_to` writes.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use torsion_smtp::client::dotstuff::{dot_stuff, message_size, DotStuffer};
use torsion_smtp::client::reply::parse_replies;
use torsion_smtp::proto::{DataOutcome, DataReceiver, Reply};

/// Bytes biased towards the interesting ones: dots, CR, LF.
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => Just(b'.'),
        2 => Just(b'\r'),
        2 => Just(b'\n'),
        3 => any::<u8>(),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(byte(), 0..max)
}

/// A message of CRLF-terminated lines whose content has no CR or LF.
fn crlf_lines() -> impl Strategy<Value = Vec<u8>> {
    let line = prop::collection::vec(
        byte().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        0..20,
    );
    prop::collection::vec(line, 0..12).prop_map(|lines| {
        let mut out = Vec::new();
        for line in lines {
            out.extend_from_slice(&line);
            out.extend_from_slice(b"\r\n");
        }
        out
    })
}

/// Feed `input` to a receiver in pieces cut at `cuts` (lengths, cycled).
fn receive_in_pieces(
    input: &[u8],
    max: usize,
    cuts: &[usize],
) -> (Vec<u8>, Option<(usize, DataOutcome)>) {
    let mut rx = DataReceiver::new(max);
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts = cuts.iter().cycle();
    while at < input.len() {
        let len = cuts.next().copied().unwrap_or(1).max(1);
        let piece = &input[at..(at + len).min(input.len())];
        if let Some((n, outcome)) = rx.feed(piece, &mut out) {
            return (out, Some((at + n, outcome)));
        }
        at += piece.len();
    }
    (out, None)
}

fn receive(input: &[u8], max: usize) -> (Vec<u8>, Option<(usize, DataOutcome)>) {
    let mut rx = DataReceiver::new(max);
    let mut out = Vec::new();
    let end = rx.feed(input, &mut out);
    (out, end)
}

/// What the stuffer means a message to be: every bare CR, bare LF and CRLF a line break, and
/// a final line break if missing.
fn normalised(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if message.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

proptest! {
    #[test]
    fn stuffing_then_receiving_round_trips_crlf_lines(message in crlf_lines(), tail in bytes(20)) {
        let mut stream = dot_stuff(&message);
        let end = stream.len();
        // Whatever follows the terminator (the next command) is not part of the message.
        stream.extend_from_slice(&tail);
        let (out, result) = receive(&stream, usize::MAX);
        prop_assert_eq!(result, Some((end, DataOutcome::Complete)));
        prop_assert_eq!(&out, &message);
        prop_assert_eq!(message_size(&message), message.len() as u64);
    }

    #[test]
    fn any_bytes_are_stuffed_into_a_well_formed_stream(message in bytes(200)) {
        let stream = dot_stuff(&message);
        let (out, result) = receive(&stream, usize::MAX);
        // Never a bare line ending, never an early end: the server gets exactly one message.
        prop_assert_eq!(result, Some((stream.len(), DataOutcome::Complete)));
        prop_assert_eq!(out.len() as u64, message_size(&message));
        prop_assert_eq!(out, normalised(&message));
    }

    #[test]
    fn the_stuffer_is_chunking_invariant(message in bytes(200), cuts in prop::collection::vec(1usize..16, 1..8)) {
        let mut stuffer = DotStuffer::new();
        let mut out = Vec::new();
        let mut at = 0;
        for len in cuts.iter().cycle() {
            if at >= message.len() {
                break;
            }
            let piece = &message[at..(at + len).min(message.len())];
            stuffer.push(piece, &mut out);
            at += piece.len();
        }
        let size = stuffer.finish(&mut out);
        prop_assert_eq!(size, message_size(&message));
        prop_assert_eq!(out, dot_stuff(&message));
    }

    #[test]
    fn the_receiver_is_chunking_invariant(
        input in bytes(300),
        max in 0usize..200,
        cuts in prop::collection::vec(1usize..32, 1..8),
    ) {
        let whole = receive(&input, max);
        prop_assert!(whole.0.len() <= max);
        prop_assert_eq!(receive_in_pieces(&input, max, &cuts), whole.clone());
        prop_assert_eq!(receive_in_pieces(&input, max, &[1]), whole);
    }

    #[test]
    fn the_receiver_chunks_stuffed_messages_the_same(message in crlf_lines(), cuts in prop::collection::vec(1usize..8, 1..8)) {
        let stream = dot_stuff(&message);
        let (out, result) = receive_in_pieces(&stream, usize::MAX, &cuts);
        prop_assert_eq!(result, Some((stream.len(), DataOutcome::Complete)));
        prop_assert_eq!(out, message);
    }

    #[test]
    fn replies_read_back_what_is_written(
        code in 200u16..600,
        status in prop_oneof![Just(""), Just("2.0.0"), Just("5.1.1"), Just("4.7.0"), Just("5.7.26")],
        lines in prop::collection::vec("[A-Za-z][A-Za-z0-9 =.-]{0,30}|", 1..5),
    ) {
        // Enhanced codes only where their class matches the reply (as servers send them).
        let status = if status.starts_with(char::from(b'0' + (code / 100) as u8)) { status } else { "" };
        let reply = Reply::multi(code, status, lines);
        let (parsed, err) = parse_replies(&reply.to_bytes());
        prop_assert!(err.is_none());
        prop_assert_eq!(parsed, vec![reply]);
    }
}
