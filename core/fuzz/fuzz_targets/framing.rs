//! Every framing codec over arbitrary bytes, cut into reads of fuzzer-chosen sizes: no panic,
//! frames within their limits, and the line codec's buffer bounded by its limit.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use torsion_core::framing::{
    CountedCodec, FrameError, LengthPrefixedCodec, LineCodec, NetstringCodec, PrefixWidth, RawCodec,
};

const LIMIT: usize = 100;

/// `line_delimiter`: for line codecs, the delimiter length (the buffer may hold one maximal
/// line, its delimiter minus one byte, and one read).
fn drive<D: Decoder<Item = bytes::Bytes, Error = FrameError>>(codec: &mut D, cuts: &[u8], data: &[u8], line_delimiter: Option<usize>) {
    let mut buf = BytesMut::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < data.len() {
        let n = usize::from(cuts.get(i % cuts.len().max(1)).copied().unwrap_or(255)).max(1).min(data.len() - pos);
        i += 1;
        buf.extend_from_slice(&data[pos..pos + n]);
        pos += n;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => assert!(frame.len() <= LIMIT.max(255)),
                Ok(None) => break,
                Err(e) if e.is_recoverable() => {}
                Err(_) => return,
            }
        }
        if let Some(dlen) = line_delimiter {
            assert!(buf.len() <= LIMIT + dlen + n, "held {} bytes", buf.len());
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, rest)) = input.split_first() else { return };
    let split = rest.len().min(8);
    let (cuts, data) = rest.split_at(split);
    match selector % 8 {
        0 => drive(&mut LineCodec::crlf(LIMIT), cuts, data, Some(2)),
        1 => drive(&mut LineCodec::any_eol(LIMIT), cuts, data, Some(2)),
        2 => drive(&mut LineCodec::new(&b"\r\n.\r\n"[..], LIMIT), cuts, data, Some(5)),
        3 => drive(&mut NetstringCodec::new(LIMIT), cuts, data, None),
        4 => drive(&mut LengthPrefixedCodec::new(PrefixWidth::U8, LIMIT), cuts, data, None),
        5 => drive(&mut LengthPrefixedCodec::new(PrefixWidth::U16, LIMIT), cuts, data, None),
        6 => drive(&mut LengthPrefixedCodec::new(PrefixWidth::U32, LIMIT), cuts, data, None),
        _ => {
            drive(&mut CountedCodec::new(u64::from(selector), 7), cuts, data, None);
            drive(&mut RawCodec::new(LIMIT), cuts, data, None);
        }
    }
});
