//! The command assembler on arbitrary input split into lines, with literals taken from the
//! same bytes: never panics, holds no more than its limits allow, and a complete command is
//! what was sent (ends with CRLF); the LIST-EXTENDED/CREATE USE/MULTIAPPEND and SEARCH RETURN
//! parsers take every complete command without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_imap::proto::assemble::{Assembler, Limits, Next};
use torsion_imap::proto::{extended, search_return};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_literal: 300,
        max_append_literal: 1000,
        max_command: 2000,
        max_literals: 8,
    };
    let mut asm = Assembler::new(limits, data.first().is_some_and(|b| b & 1 == 1));
    let mut rest = data;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or_default();
        let take = |rest: &mut &[u8], n: u64| {
            let n = (n as usize).min(rest.len());
            let (lit, tail) = rest.split_at(n);
            *rest = tail;
            lit.to_vec()
        };
        match asm.line(line) {
            Next::Literal { length, .. } => {
                assert!(length <= limits.max_append_literal);
                let lit = take(&mut rest, length);
                asm.literal(&lit);
            }
            Next::Refuse { discard, .. } => {
                let lit = take(&mut rest, discard);
                asm.literal(&lit);
            }
            Next::Complete(bytes) => {
                assert!(bytes.is_empty() || bytes.ends_with(b"\r\n"));
                // The parsers for what imap-codec does not know take any complete command.
                if let Some(Ok(extended::Extended::MultiAppend { parts, .. })) = extended::parse(&bytes) {
                    assert!(parts.iter().map(Vec::len).sum::<usize>() <= 2 * bytes.len() * parts.len());
                }
                if let Some(Ok((plain, _))) = search_return::split(&bytes) {
                    assert!(plain.len() < bytes.len());
                }
            }
        }
        assert!(asm.held() as u64 <= limits.max_command + limits.max_append_literal + data.len() as u64);
    }
});
