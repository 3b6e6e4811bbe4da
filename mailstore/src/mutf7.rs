//! Modified UTF-7 (RFC 3501 §5.1.3), the encoding of non-ASCII mailbox names in IMAP4rev1 and
//! of folder directory names in a Maildir++ mailbox as Dovecot writes them (so `.Entwürfe` is
//! on disk `.Entw&APw-rfe`): printable ASCII stands for itself except `&`, which is `&-`;
//! anything else is UTF-16, base64 with `,` for `/`, between `&` and `-`.

/// The modified base64 alphabet (`,` instead of `/`).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encode a UTF-8 name.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decode a modified UTF-7 name; `None` if it is not valid (bad base64, an encoded run of
/// printable ASCII, which the RFC forbids, a lone surrogate, an unterminated run).
pub fn decode(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(amp) = rest.find('&') {
        let (plain, tail) = rest.split_at(amp);
        if !plain.chars().all(|c| (' '..='~').contains(&c)) {
            return None;
        }
        out.push_str(plain);
        let tail = &tail[1..];
        let end = tail.find('-')?;
        let run = &tail[..end];
        rest = &tail[end + 1..];
        if run.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits = 0u32;
        let mut nbits = 0;
        let mut units = Vec::new();
        for b in run.bytes() {
            let v = ALPHABET.iter().position(|&a| a == b)? as u32;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push(((bits >> nbits) & 0xffff) as u16);
            }
        }
        // Leftover bits must be zero padding, less than one base64 digit's worth.
        if nbits >= 6 || bits & ((1 << nbits) - 1) != 0 {
            return None;
        }
        let decoded = String::from_utf16(&units).ok()?;
        if decoded.is_empty() || decoded.chars().any(|c| (' '..='~').contains(&c)) {
            return None;
        }
        out.push_str(&decoded);
    }
    if !rest.chars().all(|c| (' '..='~').contains(&c)) {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_3501_examples_and_dovecot_names() {
        // RFC 3501 §5.1.3.
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(),
            "~peter/mail/台北/日本語"
        );
        assert_eq!(encode("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(encode("R&D"), "R&-D");
        assert_eq!(decode("R&-D").unwrap(), "R&D");
        assert_eq!(encode("plain"), "plain");
        // Not modified UTF-7.
        for bad in ["&", "&Jjo", "&AGE-", "&U,BTF-", "ü", "&!!-"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_name_round_trips(name in "\\PC{0,40}") {
            let encoded = encode(&name);
            prop_assert!(encoded.chars().all(|c| (' '..='~').contains(&c)));
            prop_assert_eq!(decode(&encoded), Some(name));
        }

        #[test]
        fn decoding_never_panics(s in "[ -~]{0,40}") {
            if let Some(d) = decode(&s) {
                prop_assert_eq!(decode(&encode(&d)), Some(d));
            }
        }
    }
}
