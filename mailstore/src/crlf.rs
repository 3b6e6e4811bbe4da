//! Line ends as IMAP and POP3 must show them. RFC 5322 §2.3 ends every line with CRLF, IMAP's
//! sizes count octets "as expressed in RFC 5322 format" (RFC 9051 §7.5.2, RFC822.SIZE) and POP3
//! counts the message as transmitted (RFC 1939 §11); but Maildirs written by other programs —
//! Postfix's local and virtual agents, procmail, maildrop, mutt — hold bare LF. Such a message
//! is kept on disk as it is and shown with every bare LF made CRLF: its size (the index's
//! `size`, Dovecot's `,W=` "virtual size" in file names) counts the CRs it will gain, and
//! [`Maildir::read`](crate::Maildir::read) adds them.

use std::io::{self, Read};

/// How many LFs in `bytes` have no CR before them; `after_cr` says whether the byte before
/// `bytes` was a CR (for data read in pieces).
fn bare_lfs(bytes: &[u8], after_cr: bool) -> u64 {
    let mut previous_cr = after_cr;
    let mut n = 0;
    for &b in bytes {
        if b == b'\n' && !previous_cr {
            n += 1;
        }
        previous_cr = b == b'\r';
    }
    n
}

/// The size of a message given in pieces once every bare LF is CRLF.
pub fn size_of_parts(parts: &[&[u8]]) -> u64 {
    let mut after_cr = false;
    let mut size = 0;
    for part in parts {
        size += part.len() as u64 + bare_lfs(part, after_cr);
        if let Some(&last) = part.last() {
            after_cr = last == b'\r';
        }
    }
    size
}

/// The size of what `reader` yields once every bare LF is CRLF, read in 64 KiB pieces.
pub fn size_of_reader(mut reader: impl Read) -> io::Result<u64> {
    let mut buf = vec![0; 64 * 1024];
    let mut after_cr = false;
    let mut size = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(size),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        size += n as u64 + bare_lfs(&buf[..n], after_cr);
        after_cr = buf[n - 1] == b'\r';
    }
}

/// `bytes` with every bare LF made CRLF (unchanged, not copied, when there is none).
pub fn normalise(bytes: Vec<u8>) -> Vec<u8> {
    let extra = bare_lfs(&bytes, false) as usize;
    if extra == 0 {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len() + extra);
    let mut previous_cr = false;
    for &b in &bytes {
        if b == b'\n' && !previous_cr {
            out.push(b'\r');
        }
        out.push(b);
        previous_cr = b == b'\r';
    }
    out
}

/// A reader of what `inner` yields with every bare LF made CRLF, for messages too large to
/// normalise in memory (a POP3 RETR streams through this).
#[derive(Debug)]
pub struct CrlfReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Unread bytes in `buf`: `buf[at..end]`.
    at: usize,
    end: usize,
    /// The last byte taken from `inner` was a CR.
    after_cr: bool,
    /// A CR is owed before the LF at `buf[at]`.
    owe_cr: bool,
}

impl<R: Read> CrlfReader<R> {
    /// Wrap `inner`.
    pub fn new(inner: R) -> Self {
        CrlfReader {
            inner,
            buf: vec![0; 16 * 1024],
            at: 0,
            end: 0,
            after_cr: false,
            owe_cr: false,
        }
    }
}

impl<R: Read> Read for CrlfReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.at == self.end {
            let n = self.inner.read(&mut self.buf)?;
            if n == 0 {
                return Ok(0);
            }
            (self.at, self.end) = (0, n);
        }
        let mut written = 0;
        while written < out.len() && self.at < self.end {
            let b = self.buf[self.at];
            if b == b'\n' && !self.after_cr && !self.owe_cr {
                self.owe_cr = true;
            }
            if self.owe_cr {
                out[written] = b'\r';
                written += 1;
                self.owe_cr = false;
                // The LF itself is written next (now preceded by a CR).
                self.after_cr = true;
                continue;
            }
            out[written] = b;
            written += 1;
            self.after_cr = b == b'\r';
            self.at += 1;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bare_lfs_gain_a_cr_and_crlf_is_left_alone() {
        assert_eq!(normalise(b"a\nb\r\nc\n".to_vec()), b"a\r\nb\r\nc\r\n");
        assert_eq!(normalise(b"\n\n".to_vec()), b"\r\n\r\n");
        assert_eq!(normalise(b"lone\rcr".to_vec()), b"lone\rcr");
        assert_eq!(size_of_parts(&[b"a\nb\r\n"]), 6);
        // A CRLF split between two pieces is not a bare LF.
        assert_eq!(size_of_parts(&[b"a\r", b"\nb\n"]), 6);
        assert_eq!(size_of_parts(&[b"", b"\n"]), 2);
    }

    proptest! {
        #[test]
        fn every_way_of_counting_agrees(bytes in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'x')], 0..200), split in 0usize..200) {
            let normal = normalise(bytes.clone());
            let split = split.min(bytes.len());
            let (a, b) = bytes.split_at(split);
            prop_assert_eq!(size_of_parts(&[a, b]), normal.len() as u64);
            prop_assert_eq!(size_of_parts(&[&bytes]), normal.len() as u64);
            let pieces = bytes.chunks(7).fold(
                Box::new(io::empty()) as Box<dyn Read>,
                |r, c| Box::new(r.chain(c)),
            );
            prop_assert_eq!(size_of_reader(pieces).unwrap(), normal.len() as u64);
            // Normalised data has no bare LF left, and only CRs were added.
            prop_assert_eq!(bare_lfs(&normal, false), 0);
            let without_cr = |v: &[u8]| v.iter().filter(|&&c| c != b'\r').count();
            prop_assert_eq!(without_cr(&normal), without_cr(&bytes));
            // The streaming form agrees, whatever the read sizes.
            let pieces = bytes.chunks(5).fold(
                Box::new(io::empty()) as Box<dyn Read>,
                |r, c| Box::new(r.chain(c)),
            );
            let mut streamed = Vec::new();
            let mut reader = CrlfReader::new(pieces);
            let mut small = [0u8; 3];
            loop {
                let n = reader.read(&mut small[..1 + split % 3]).unwrap();
                if n == 0 { break; }
                streamed.extend_from_slice(&small[..n]);
            }
            prop_assert_eq!(streamed, normal);
        }
    }
}
