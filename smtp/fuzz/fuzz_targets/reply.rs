//! The client's reply reader on arbitrary server output: never panics, respects its limits,
//! and gives the same replies however the bytes are split across reads.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use torsion_smtp::client::reply::{parse_replies, ReplyCodec, MAX_REPLY_LINE, MAX_REPLY_LINES};
use torsion_smtp::proto::Reply;

fn check(reply: &Reply) {
    assert!((200..600).contains(&reply.code));
    assert!(!reply.lines.is_empty() && reply.lines.len() <= MAX_REPLY_LINES);
    assert!(reply.lines.iter().all(|l| l.len() <= MAX_REPLY_LINE * 3));
    // What we parsed serialises back to something we parse the same way (unless replacing
    // invalid UTF-8 made a line too long to send).
    if reply.lines.iter().any(|l| l.len() + 16 > MAX_REPLY_LINE) {
        return;
    }
    let (again, err) = parse_replies(&reply.to_bytes());
    assert!(err.is_none(), "{err:?} for {reply:?}");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].code, reply.code);
    assert_eq!(again[0].lines.len(), reply.lines.len());
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, input)) = data.split_first() else {
        return;
    };
    let (whole, whole_err) = parse_replies(input);
    whole.iter().for_each(check);
    // Byte pieces of `step` size (1..=16).
    let step = usize::from(step % 16) + 1;
    let mut codec = ReplyCodec::new();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut failed = false;
    'outer: for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(reply)) => got.push(reply),
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break 'outer;
                }
            }
        }
    }
    assert_eq!(got, whole);
    assert_eq!(failed, whole_err.is_some());
});
