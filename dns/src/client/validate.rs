//! Deciding whether a datagram is the answer to our query (RFC 5452).
//!
//! Pure functions over bytes, no I/O: the exchange drivers call [`accept_response`] on every
//! datagram or TCP message they receive, and so can anything else that sends queries (the
//! recursor's upstream pool).
//!
//! An off-path attacker who wants to poison a resolver has to guess the source port and the
//! 16-bit ID of an outstanding query and answer before the real server does (RFC 5452 §4). The
//! port and ID are made unpredictable by the exchange; here we make sure nothing but an exact
//! match is accepted: the ID, QR=1, the opcode, and the question section (RFC 5452 §9.1: "The
//! question section of the response MUST match that of the query"), with names compared
//! case-insensitively (RFC 4343).

use hickory_proto::op::{Header, Message, MessageType, Query};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// Length of the fixed DNS header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;

/// Why a received message is not the response to our query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Fewer bytes than a DNS header.
    #[error("{0} bytes is too short for a DNS header")]
    TooShort(usize),
    /// QR=0: a query, not a response.
    #[error("not a response (QR=0)")]
    NotResponse,
    /// The ID differs from the query's.
    #[error("ID {got} does not match the query's {expected}")]
    IdMismatch {
        /// The query's ID.
        expected: u16,
        /// The received ID.
        got: u16,
    },
    /// The opcode differs from the query's.
    #[error("opcode {got} does not match the query's {expected}")]
    OpcodeMismatch {
        /// The query's opcode.
        expected: u8,
        /// The received opcode.
        got: u8,
    },
    /// The question section is not the query's.
    #[error("question section does not match the query")]
    QuestionMismatch,
    /// ID and QR matched but the message does not decode. On UDP this may still be forged
    /// junk; on TCP it is a broken server.
    #[error("malformed response: {0}")]
    Malformed(String),
}

/// Whether two question sections are the same question: the same number of entries and, entry
/// by entry, the same name (ASCII case-insensitive, RFC 4343; the FQDN flag of a
/// caller-built name is not significant), type and class.
pub fn questions_match(query: &[Query], response: &[Query]) -> bool {
    query.len() == response.len()
        && query.iter().zip(response).all(|(q, r)| {
            q.query_type() == r.query_type()
                && q.query_class() == r.query_class()
                && q.name().eq_ignore_root(r.name())
        })
}

/// Checks `bytes` against `query` and decodes it if it is the response.
///
/// The header and question are checked before the rest is decoded, so junk costs little. A
/// truncated response (TC=1) whose body does not decode (a server may cut a message mid-record)
/// is still accepted as a message holding only the header and question, because all the caller
/// needs from it is the TC bit (RFC 1035 §4.2.1, RFC 7766 §5).
pub fn accept_response(query: &Message, bytes: &[u8]) -> Result<Message, Rejection> {
    if bytes.len() < HEADER_LEN {
        return Err(Rejection::TooShort(bytes.len()));
    }
    let mut decoder = BinDecoder::new(bytes);
    let header = Header::read(&mut decoder).map_err(|e| Rejection::Malformed(e.to_string()))?;
    let metadata = header.metadata;
    if metadata.id != query.metadata.id {
        return Err(Rejection::IdMismatch {
            expected: query.metadata.id,
            got: metadata.id,
        });
    }
    if metadata.message_type != MessageType::Response {
        return Err(Rejection::NotResponse);
    }
    if metadata.op_code != query.metadata.op_code {
        return Err(Rejection::OpcodeMismatch {
            expected: u8::from(query.metadata.op_code),
            got: u8::from(metadata.op_code),
        });
    }
    // A count larger than ours cannot match; checking first avoids decoding up to 65535
    // questions from a hostile message.
    if usize::from(header.counts.queries) != query.queries.len() {
        return Err(Rejection::QuestionMismatch);
    }
    let mut questions = Vec::with_capacity(query.queries.len());
    for _ in 0..header.counts.queries {
        let question =
            Query::read(&mut decoder).map_err(|e| Rejection::Malformed(e.to_string()))?;
        questions.push(question);
    }
    if !questions_match(&query.queries, &questions) {
        return Err(Rejection::QuestionMismatch);
    }
    match Message::from_vec(bytes) {
        Ok(message) => Ok(message),
        Err(_) if metadata.truncation => {
            let mut message = Message::new(metadata.id, metadata.message_type, metadata.op_code);
            message.metadata = metadata;
            message.queries = questions;
            Ok(message)
        }
        Err(e) => Err(Rejection::Malformed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{OpCode, ResponseCode};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
    use proptest::prelude::*;
    use std::str::FromStr;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn query(id: u16, qname: &str, rtype: RecordType) -> Message {
        let mut q = Message::new(id, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(name(qname), rtype));
        q
    }

    fn response_to(q: &Message) -> Message {
        let mut r = Message::response(q.metadata.id, q.metadata.op_code);
        r.queries = q.queries.clone();
        r.add_answer(Record::from_rdata(
            name("example.com."),
            300,
            RData::A(A::from_str("192.0.2.1").unwrap()),
        ));
        r
    }

    #[test]
    fn questions_match_ignores_case_and_fqdn_flag() {
        let a = [Query::query(name("Example.COM."), RecordType::A)];
        let b = [Query::query(name("example.com."), RecordType::A)];
        let relative = [Query::query(name("example.com"), RecordType::A)];
        assert!(questions_match(&a, &b));
        assert!(questions_match(&relative, &b));
    }

    #[test]
    fn questions_match_rejects_other_name_type_class_or_count() {
        let q = [Query::query(name("example.com."), RecordType::A)];
        assert!(!questions_match(
            &q,
            &[Query::query(name("example.net."), RecordType::A)]
        ));
        assert!(!questions_match(
            &q,
            &[Query::query(name("example.com."), RecordType::AAAA)]
        ));
        let mut chaos = Query::query(name("example.com."), RecordType::A);
        chaos.set_query_class(DNSClass::CH);
        assert!(!questions_match(&q, &[chaos]));
        assert!(!questions_match(&q, &[]));
        assert!(!questions_match(&q, &[q[0].clone(), q[0].clone()]));
        // A name that is a suffix of the other is still another name.
        assert!(!questions_match(
            &q,
            &[Query::query(name("www.example.com."), RecordType::A)]
        ));
    }

    #[test]
    fn accepts_the_matching_response() {
        let q = query(4242, "example.com.", RecordType::A);
        let bytes = response_to(&q).to_vec().unwrap();
        let m = accept_response(&q, &bytes).unwrap();
        assert_eq!(m.metadata.id, 4242);
        assert_eq!(m.answers.len(), 1);
    }

    #[test]
    fn accepts_a_response_with_the_question_in_other_case() {
        let q = query(7, "example.com.", RecordType::A);
        let mut r = response_to(&q);
        r.queries = vec![Query::query(name("EXAMPLE.com."), RecordType::A)];
        assert!(accept_response(&q, &r.to_vec().unwrap()).is_ok());
    }

    #[test]
    fn rejects_wrong_id() {
        let q = query(1, "example.com.", RecordType::A);
        let mut r = response_to(&q);
        r.metadata.id = 2;
        assert_eq!(
            accept_response(&q, &r.to_vec().unwrap()),
            Err(Rejection::IdMismatch {
                expected: 1,
                got: 2
            })
        );
    }

    #[test]
    fn rejects_a_query_echoed_back() {
        let q = query(1, "example.com.", RecordType::A);
        assert_eq!(
            accept_response(&q, &q.to_vec().unwrap()),
            Err(Rejection::NotResponse)
        );
    }

    #[test]
    fn rejects_wrong_question_or_opcode() {
        let q = query(1, "example.com.", RecordType::A);
        let mut r = response_to(&q);
        r.queries = vec![Query::query(name("evil.example."), RecordType::A)];
        assert_eq!(
            accept_response(&q, &r.to_vec().unwrap()),
            Err(Rejection::QuestionMismatch)
        );
        let mut r = response_to(&q);
        r.queries.clear();
        r.metadata.response_code = ResponseCode::FormErr;
        assert_eq!(
            accept_response(&q, &r.to_vec().unwrap()),
            Err(Rejection::QuestionMismatch)
        );
        let mut r = response_to(&q);
        r.metadata.op_code = OpCode::Notify;
        assert!(matches!(
            accept_response(&q, &r.to_vec().unwrap()),
            Err(Rejection::OpcodeMismatch { .. })
        ));
    }

    #[test]
    fn rejects_short_and_truncated_bodies() {
        let q = query(1, "example.com.", RecordType::A);
        assert_eq!(accept_response(&q, &[0; 5]), Err(Rejection::TooShort(5)));
        let bytes = response_to(&q).to_vec().unwrap();
        let cut = &bytes[..bytes.len() - 3];
        assert!(matches!(
            accept_response(&q, cut),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn accepts_a_tc_response_cut_mid_record_as_header_and_question() {
        let q = query(1, "example.com.", RecordType::A);
        let mut r = response_to(&q);
        r.metadata.truncation = true;
        let bytes = r.to_vec().unwrap();
        let m = accept_response(&q, &bytes[..bytes.len() - 3]).unwrap();
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty());
        assert_eq!(m.queries, q.queries);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let q = query(0x1234, "example.com.", RecordType::A);
            let _ = accept_response(&q, &bytes);
        }

        #[test]
        fn arbitrary_bodies_after_a_matching_header_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            flags in any::<u16>(),
            counts in proptest::collection::vec(any::<u16>(), 4),
        ) {
            let q = query(0x1234, "example.com.", RecordType::A);
            let mut bytes = vec![0x12, 0x34];
            bytes.extend_from_slice(&(flags | 0x8000).to_be_bytes());
            // Mostly a QDCOUNT of 1 so the decoder gets past the header checks.
            let qdcount = if counts[0] % 4 == 0 { counts[0] } else { 1 };
            bytes.extend_from_slice(&qdcount.to_be_bytes());
            for c in &counts[1..] {
                bytes.extend_from_slice(&(c % 8).to_be_bytes());
            }
            // Half the time, a valid question so the record decoding is exercised.
            if flags % 2 == 0 {
                bytes.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
            }
            bytes.extend_from_slice(&body);
            let _ = accept_response(&q, &bytes);
        }
    }
}
