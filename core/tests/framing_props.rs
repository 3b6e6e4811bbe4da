//! Property tests: every framing codec decodes the same frames however the byte stream is cut
//! into reads, and never panics or buffers beyond its limit on arbitrary input.

use bytes::BytesMut;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};
use torsion_core::framing::{
    CountedCodec, FrameError, LengthPrefixedCodec, LineCodec, NetstringCodec, PrefixWidth,
};

/// Feed `input` to `codec` in pieces whose sizes cycle through `cuts`; collect frames.
fn decode_chunked<D>(codec: &mut D, input: &[u8], cuts: &[usize]) -> Vec<Result<Vec<u8>, String>>
where
    D: Decoder<Item = bytes::Bytes, Error = FrameError>,
{
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < input.len() {
        let n = cuts[i % cuts.len()].max(1).min(input.len() - pos);
        i += 1;
        buf.extend_from_slice(&input[pos..pos + n]);
        pos += n;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => out.push(Ok(frame.to_vec())),
                Ok(None) => break,
                Err(e) if e.is_recoverable() => out.push(Err(e.to_string())),
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }
    out
}

fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
    // Lines without the delimiter byte, some longer than the limit.
    prop::collection::vec(
        prop::num::u8::ANY.prop_filter("no LF", |b| *b != b'\n'),
        0..40,
    )
}

proptest! {
    #[test]
    fn lines_round_trip_under_any_chunking(
        lines in prop::collection::vec(line_strategy(), 0..20),
        cuts in prop::collection::vec(1usize..17, 1..8),
    ) {
        let mut enc = LineCodec::new(&b"\n"[..], 1000);
        let mut wire = BytesMut::new();
        for l in &lines {
            enc.encode(l, &mut wire).unwrap();
        }
        let whole = decode_chunked(&mut LineCodec::new(&b"\n"[..], 1000), &wire, &[wire.len().max(1)]);
        let chunked = decode_chunked(&mut LineCodec::new(&b"\n"[..], 1000), &wire, &cuts);
        let expected: Vec<Result<Vec<u8>, String>> = lines.iter().map(|l| Ok(l.clone())).collect();
        prop_assert_eq!(&whole, &expected);
        prop_assert_eq!(&chunked, &expected);
    }

    #[test]
    fn crlf_lines_with_a_limit_agree_under_any_chunking(
        input in prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'\r', b'\n', b' ']), 0..400),
        cuts in prop::collection::vec(1usize..23, 1..8),
        limit in 1usize..30,
    ) {
        let whole = decode_chunked(&mut LineCodec::crlf(limit), &input, &[input.len().max(1)]);
        let chunked = decode_chunked(&mut LineCodec::crlf(limit), &input, &cuts);
        // Over-long lines are reported exactly once each and good lines are identical,
        // whatever the chunking.
        let good = |v: &Vec<Result<Vec<u8>, String>>| v.iter().filter_map(|r| r.as_ref().ok().cloned()).collect::<Vec<_>>();
        let errors = |v: &Vec<Result<Vec<u8>, String>>| v.iter().filter(|r| r.is_err()).count();
        prop_assert_eq!(good(&whole), good(&chunked));
        prop_assert_eq!(errors(&whole), errors(&chunked));
        for frame in good(&chunked) {
            prop_assert!(frame.len() <= limit);
            prop_assert!(!frame.windows(2).any(|w| w == b"\r\n"));
        }
    }

    #[test]
    fn any_eol_strips_cr_under_any_chunking(
        lines in prop::collection::vec(prop::collection::vec(b'a'..=b'z', 0..20), 0..10),
        crlf in prop::collection::vec(any::<bool>(), 10),
        cuts in prop::collection::vec(1usize..9, 1..5),
    ) {
        let mut wire = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            wire.extend_from_slice(l);
            wire.extend_from_slice(if crlf[i % crlf.len()] { b"\r\n" } else { b"\n" });
        }
        let got = decode_chunked(&mut LineCodec::any_eol(100), &wire, &cuts);
        let expected: Vec<Result<Vec<u8>, String>> = lines.iter().map(|l| Ok(l.clone())).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn netstrings_round_trip_under_any_chunking(
        items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..50), 0..10),
        cuts in prop::collection::vec(1usize..13, 1..6),
    ) {
        let mut enc = NetstringCodec::new(100);
        let mut wire = BytesMut::new();
        for it in &items {
            enc.encode(it, &mut wire).unwrap();
        }
        let got = decode_chunked(&mut NetstringCodec::new(100), &wire, &cuts);
        let expected: Vec<Result<Vec<u8>, String>> = items.iter().map(|i| Ok(i.clone())).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn length_prefixed_round_trip_under_any_chunking(
        items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
        width in prop::sample::select(vec![PrefixWidth::U8, PrefixWidth::U16, PrefixWidth::U32]),
        cuts in prop::collection::vec(1usize..40, 1..6),
    ) {
        let limit = if width == PrefixWidth::U8 { 255 } else { 1000 };
        let items: Vec<Vec<u8>> = items.into_iter().map(|mut i| { i.truncate(limit); i }).collect();
        let mut enc = LengthPrefixedCodec::new(width, limit);
        let mut wire = BytesMut::new();
        for it in &items {
            enc.encode(it, &mut wire).unwrap();
        }
        let got = decode_chunked(&mut LengthPrefixedCodec::new(width, limit), &wire, &cuts);
        let expected: Vec<Result<Vec<u8>, String>> = items.iter().map(|i| Ok(i.clone())).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn counted_delivers_exactly_the_count(
        data in prop::collection::vec(any::<u8>(), 0..500),
        count in 0u64..600,
        max_chunk in 1usize..64,
        cuts in prop::collection::vec(1usize..50, 1..6),
    ) {
        let mut codec = CountedCodec::new(count, max_chunk);
        let got = decode_chunked(&mut codec, &data, &cuts);
        let bytes: Vec<u8> = got.into_iter().flat_map(|r| r.unwrap()).collect();
        let expect = (count as usize).min(data.len());
        prop_assert_eq!(&bytes[..], &data[..expect]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_memory_stays_bounded(
        data in prop::collection::vec(any::<u8>(), 0..2000),
        cuts in prop::collection::vec(1usize..300, 1..6),
    ) {
        let limit = 64;
        let mut line = LineCodec::crlf(limit);
        let mut net = NetstringCodec::new(limit);
        let mut len16 = LengthPrefixedCodec::new(PrefixWidth::U16, limit);
        let mut buf_line = BytesMut::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < data.len() {
            let n = cuts[i % cuts.len()].min(data.len() - pos);
            i += 1;
            buf_line.extend_from_slice(&data[pos..pos + n]);
            pos += n;
            while let Ok(Some(_)) | Err(FrameError::LineTooLong { .. }) = line.decode(&mut buf_line) {}
            // The line codec never holds more than one maximal line plus what one read added.
            prop_assert!(buf_line.len() <= limit + 2 + n, "held {}", buf_line.len());
        }
        let _ = decode_chunked(&mut net, &data, &cuts);
        let _ = decode_chunked(&mut len16, &data, &cuts);
    }
}
