//! The query handler without sockets: parsing, validation, routing, limits.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use proptest::prelude::*;
use torsion_dns::server::handler::ResolveFuture;
use torsion_dns::server::{Acl, Answer, Catalog, Outcome, QueryHandler, Resolve, Transport};
use torsion_dns::zone::hosts::HostsFile;
use torsion_dns::zone::parser::parse_zone_str;
use torsion_dns::zone::Zone;

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn zone() -> Zone {
    let mut text = String::from(
        "$TTL 300\n@ IN SOA ns hm 1 7200 900 1209600 60\n@ IN NS ns\nns IN A 192.0.2.53\nwww IN A 192.0.2.80\n",
    );
    for i in 0..60 {
        text.push_str(&format!(
            "big IN TXT \"{i:03} padding padding padding padding padding\"\n"
        ));
    }
    let parsed = parse_zone_str(&text, &n("example.test."), "t").unwrap();
    Zone::from_records(parsed.origin, parsed.records).unwrap()
}

fn handler() -> QueryHandler {
    QueryHandler::new(Catalog::new(vec![zone()]))
}

fn query(name: &str, rtype: RecordType, edns: Option<u16>, rd: bool) -> Vec<u8> {
    let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = rd;
    m.queries.push(Query::query(n(name), rtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.edns = Some(e);
    }
    m.to_vec().unwrap()
}

/// The Extended DNS Error info code of a response (RFC 8914), if it has one.
fn ede(r: &Message) -> Option<u16> {
    use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
    match r.edns.as_ref()?.option(EdnsCode::from(15))? {
        EdnsOption::Unknown(15, data) => Some(u16::from_be_bytes([*data.first()?, *data.get(1)?])),
        _ => None,
    }
}

const LOCAL: &str = "127.0.0.1";
const REMOTE: &str = "203.0.113.7";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn ask(h: &QueryHandler, bytes: &[u8], from: &str, t: Transport) -> Message {
    match h.handle(bytes, ip(from), t).await {
        Outcome::Reply(r) => Message::from_vec(&r).unwrap(),
        other => panic!("expected one reply, got {other:?}"),
    }
}

#[tokio::test]
async fn authoritative_answer_echoes_id_question_and_edns() {
    let r = ask(
        &handler(),
        &query("www.example.test.", RecordType::A, Some(4096), true),
        REMOTE,
        Transport::Udp,
    )
    .await;
    assert_eq!(r.metadata.id, 4242);
    assert_eq!(r.metadata.message_type, MessageType::Response);
    assert!(r.metadata.authoritative);
    assert!(r.metadata.recursion_desired);
    assert!(!r.metadata.recursion_available);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.queries.len(), 1);
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.edns.as_ref().unwrap().max_payload(), 1232);
}

#[tokio::test]
async fn malformed_queries_get_formerr_or_silence() {
    let h = handler();
    // Shorter than a header: dropped.
    assert!(matches!(
        h.handle(&[1, 2, 3], ip(REMOTE), Transport::Udp).await,
        Outcome::Drop
    ));
    // A response: dropped (no reflection loops).
    let mut resp = Message::response(7, OpCode::Query);
    resp.queries
        .push(Query::query(n("www.example.test."), RecordType::A));
    assert!(matches!(
        h.handle(&resp.to_vec().unwrap(), ip(REMOTE), Transport::Udp)
            .await,
        Outcome::Drop
    ));
    // No question, two questions, a claimed 65535 questions, garbage after the header.
    let mut none = Message::new(1, MessageType::Query, OpCode::Query)
        .to_vec()
        .unwrap();
    let mut huge = none.clone();
    huge[4] = 0xff;
    huge[5] = 0xff;
    let mut two = Message::new(1, MessageType::Query, OpCode::Query);
    two.queries
        .push(Query::query(n("a.example.test."), RecordType::A));
    two.queries
        .push(Query::query(n("b.example.test."), RecordType::A));
    let mut garbage = query("www.example.test.", RecordType::A, None, false);
    garbage.truncate(20);
    for bytes in [
        std::mem::take(&mut none),
        huge,
        two.to_vec().unwrap(),
        garbage,
    ] {
        let r = ask(&h, &bytes, REMOTE, Transport::Udp).await;
        assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    }
}

#[tokio::test]
async fn unsupported_opcode_class_version() {
    let h = handler();
    let mut update = Message::new(9, MessageType::Query, OpCode::Update);
    update
        .queries
        .push(Query::query(n("example.test."), RecordType::SOA));
    let r = ask(&h, &update.to_vec().unwrap(), REMOTE, Transport::Udp).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NotImp);

    let mut chaos = Message::new(9, MessageType::Query, OpCode::Query);
    let mut q = Query::query(n("version.bind."), RecordType::TXT);
    q.query_class = DNSClass::CH;
    chaos.queries.push(q);
    let r = ask(&h, &chaos.to_vec().unwrap(), REMOTE, Transport::Udp).await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);

    let mut v1 = Message::new(9, MessageType::Query, OpCode::Query);
    v1.queries
        .push(Query::query(n("www.example.test."), RecordType::A));
    let mut e = Edns::new();
    e.set_version(1);
    v1.edns = Some(e);
    let r = ask(&h, &v1.to_vec().unwrap(), REMOTE, Transport::Udp).await;
    // 16 is BADVERS in an OPT context (hickory decodes the shared code as BADSIG).
    assert_eq!(u16::from(r.metadata.response_code), 16);
}

#[tokio::test]
async fn not_our_zone_and_no_recursion_is_refused() {
    let r = ask(
        &handler(),
        &query("www.other.test.", RecordType::A, None, true),
        LOCAL,
        Transport::Udp,
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert!(r.answers.is_empty());
    // No OPT in the query: no EDE either. With EDNS: 20 "Not Authoritative", as NSD says.
    assert_eq!(ede(&r), None);
    let r = ask(
        &handler(),
        &query("www.other.test.", RecordType::A, Some(1232), true),
        LOCAL,
        Transport::Udp,
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert_eq!(ede(&r), Some(20));
}

#[tokio::test]
async fn large_answers_are_truncated_over_udp_and_whole_over_tcp() {
    let h = handler();
    let r = ask(
        &h,
        &query("big.example.test.", RecordType::TXT, None, false),
        REMOTE,
        Transport::Udp,
    )
    .await;
    assert!(r.metadata.truncation);
    assert!(r.answers.is_empty());
    assert_eq!(r.queries.len(), 1);
    let bytes = query("big.example.test.", RecordType::TXT, Some(1232), false);
    let r = ask(&h, &bytes, REMOTE, Transport::Udp).await;
    assert!(r.metadata.truncation, "60 × 50 bytes is over 1232 too");
    let r = ask(&h, &bytes, REMOTE, Transport::Tcp).await;
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 60);
}

#[tokio::test]
async fn axfr_only_over_tcp_to_allowed_clients() {
    let bytes = query("example.test.", RecordType::AXFR, None, false);
    let h = handler().with_transfers(Acl::new(vec!["127.0.0.0/8".parse().unwrap()]));
    let r = ask(&h, &bytes, LOCAL, Transport::Udp).await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    let r = ask(&h, &bytes, REMOTE, Transport::Tcp).await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    let with_edns = query("example.test.", RecordType::AXFR, Some(1232), false);
    let r = ask(&h, &with_edns, REMOTE, Transport::Tcp).await;
    assert_eq!(ede(&r), Some(18), "a refused transfer is Prohibited");
    let Outcome::Stream(messages) = h.handle(&bytes, ip(LOCAL), Transport::Tcp).await else {
        panic!("expected a transfer")
    };
    let records: Vec<Record> = messages
        .iter()
        .flat_map(|m| Message::from_vec(m).unwrap().answers)
        .collect();
    assert_eq!(records.first().unwrap().record_type(), RecordType::SOA);
    assert_eq!(records.last().unwrap().record_type(), RecordType::SOA);
    assert_eq!(records.len(), 1 + 1 + 1 + 1 + 60 + 1);
    assert!(!messages.is_empty());
}

#[tokio::test]
async fn hosts_file_answers() {
    let hosts = HostsFile::parse("192.0.2.9 printer.lan printer\n");
    let h = handler().with_hosts(hosts);
    let r = ask(
        &h,
        &query("printer.lan.", RecordType::A, None, true),
        LOCAL,
        Transport::Udp,
    )
    .await;
    assert_eq!(r.answers.len(), 1);
    assert!(matches!(r.answers[0].data, RData::A(A(a)) if a.to_string() == "192.0.2.9"));
}

/// A fake recursive side: one cached name, one resolvable name, the rest fail.
#[derive(Default)]
struct Fake {
    resolutions: AtomicUsize,
}

impl Resolve for Fake {
    fn cached(&self, name: &Name, _: RecordType) -> Option<Answer> {
        (name == &n("cached.test.")).then(|| Answer {
            rcode: ResponseCode::NoError,
            answers: vec![Record::from_rdata(
                name.clone(),
                30,
                RData::A(A::new(192, 0, 2, 1)),
            )],
            authorities: vec![],
        })
    }
    fn resolve<'a>(&'a self, name: &'a Name, _: RecordType) -> ResolveFuture<'a> {
        self.resolutions.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if name == &n("resolvable.test.") {
                Ok(Answer {
                    rcode: ResponseCode::NoError,
                    answers: vec![Record::from_rdata(
                        name.clone(),
                        60,
                        RData::A(A::new(192, 0, 2, 2)),
                    )],
                    authorities: vec![],
                })
            } else {
                Err("all name servers timed out".into())
            }
        })
    }
}

#[tokio::test]
async fn recursion_is_offered_only_to_allowed_clients_that_ask() {
    let fake = Arc::new(Fake::default());
    let h = handler().with_recursion(fake.clone(), Acl::local_networks());
    // Cache hit: answered without the slow path.
    assert!(matches!(
        h.handle_fast(
            &query("cached.test.", RecordType::A, None, true),
            ip(LOCAL),
            Transport::Udp
        ),
        Outcome::Reply(_)
    ));
    // Miss: the slow path, then the answer with RA.
    let slow = h.handle_fast(
        &query("resolvable.test.", RecordType::A, None, true),
        ip(LOCAL),
        Transport::Udp,
    );
    let Outcome::Resolve(pending) = slow else {
        panic!("expected recursion")
    };
    let r = Message::from_vec(&h.resolve(pending).await.unwrap()).unwrap();
    assert!(r.metadata.recursion_available);
    assert_eq!(r.answers.len(), 1);
    // Failure: SERVFAIL.
    let r = ask(
        &h,
        &query("broken.test.", RecordType::A, None, true),
        LOCAL,
        Transport::Udp,
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    // Not an allowed client, or RD=0: REFUSED, and no upstream work.
    let before = fake.resolutions.load(Ordering::SeqCst);
    let r = ask(
        &h,
        &query("resolvable.test.", RecordType::A, None, true),
        REMOTE,
        Transport::Udp,
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert!(!r.metadata.recursion_available);
    let r = ask(
        &h,
        &query("resolvable.test.", RecordType::A, Some(1232), true),
        REMOTE,
        Transport::Udp,
    )
    .await;
    assert_eq!(
        ede(&r),
        Some(18),
        "recursion not offered to this client: Prohibited"
    );
    let r = ask(
        &h,
        &query("resolvable.test.", RecordType::A, None, false),
        LOCAL,
        Transport::Udp,
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert_eq!(fake.resolutions.load(Ordering::SeqCst), before);
    // Our own zone still answers authoritatively, with RA for allowed clients.
    let r = ask(
        &h,
        &query("www.example.test.", RecordType::A, None, true),
        LOCAL,
        Transport::Udp,
    )
    .await;
    assert!(r.metadata.authoritative && r.metadata.recursion_available);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let h = handler();
        let out = h.handle_fast(&bytes, ip(REMOTE), Transport::Udp);
        if let Outcome::Reply(r) = out {
            prop_assert!(r.len() <= 1232);
        }
    }

    #[test]
    fn mutated_queries_never_panic(pos in 0usize..40, byte in any::<u8>(), qtype in any::<u16>()) {
        let h = handler();
        let mut bytes = query("www.example.test.", RecordType::from(qtype), Some(1232), true);
        if pos < bytes.len() {
            bytes[pos] = byte;
        }
        let _ = h.handle_fast(&bytes, ip(REMOTE), Transport::Udp);
        let _ = h.handle_fast(&bytes, ip(LOCAL), Transport::Tcp);
    }
}

#[tokio::test]
async fn compression_loops_long_names_and_edns_garbage_are_formerr() {
    let h = handler();
    let header = |qd: u8, ar: u8| vec![0x12, 0x34, 0x01, 0x00, 0, qd, 0, 0, 0, 0, 0, ar];
    // A question name that is a pointer to itself (offset 12).
    let mut looped = header(1, 0);
    looped.extend([0xc0, 12, 0, 1, 0, 1]);
    // Labels adding up to more than 255 bytes.
    let mut long = header(1, 0);
    for _ in 0..5 {
        long.push(63);
        long.extend([b'a'; 63]);
    }
    long.extend([0, 0, 1, 0, 1]);
    // An OPT record whose RDLENGTH runs past the end of the packet.
    let mut bad_opt = query("www.example.test.", RecordType::A, None, false);
    bad_opt[11] = 1;
    bad_opt.extend([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 200, 1, 2, 3]);
    for (packet, id) in [(looped, 0x1234), (long, 0x1234), (bad_opt, 4242)] {
        let r = ask(&h, &packet, REMOTE, Transport::Udp).await;
        assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
        assert_eq!(
            r.metadata.id, id,
            "the ID is echoed so the client can match the error"
        );
        assert!(r.answers.is_empty());
    }
}

#[tokio::test]
async fn repeated_questions_reuse_the_encoded_answer_with_the_new_id_case_and_flags() {
    let h = handler();
    let first = ask(
        &h,
        &query("www.example.test.", RecordType::A, Some(1232), true),
        REMOTE,
        Transport::Udp,
    )
    .await;
    assert_eq!(h.catalog().answer_cache().len(), 1);
    // Same question, other ID, other letter case, RD off.
    let mut m = Message::new(777, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = false;
    m.metadata.checking_disabled = true;
    m.queries.push(Query::query(
        Name::from_ascii("WWW.Example.TEST.").unwrap(),
        RecordType::A,
    ));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    m.edns = Some(e);
    let second = ask(&h, &m.to_vec().unwrap(), REMOTE, Transport::Udp).await;
    assert_eq!(h.catalog().answer_cache().len(), 1, "served from the cache");
    assert_eq!(second.metadata.id, 777);
    assert!(!second.metadata.recursion_desired);
    assert!(second.metadata.checking_disabled);
    assert_eq!(second.queries[0].name.to_ascii(), "WWW.Example.TEST.");
    assert_eq!(second.answers, first.answers);
    assert!(second.metadata.authoritative);
    // Without EDNS it is a different answer (no OPT): encoded separately.
    let third = ask(
        &h,
        &query("www.example.test.", RecordType::A, None, true),
        REMOTE,
        Transport::Udp,
    )
    .await;
    assert!(third.edns.is_none());
    assert_eq!(h.catalog().answer_cache().len(), 2);
    // A reload starts afresh.
    h.replace_catalog(Catalog::new(vec![zone()]));
    assert!(h.catalog().answer_cache().is_empty());
}

/// Counts how often the handler consults the resolver's cache.
#[derive(Default)]
struct Counting {
    lookups: AtomicUsize,
}

impl Resolve for Counting {
    fn cached(&self, name: &Name, _: RecordType) -> Option<Answer> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        Some(Answer {
            rcode: ResponseCode::NoError,
            answers: vec![Record::from_rdata(
                name.clone(),
                300,
                RData::A(A::new(192, 0, 2, 5)),
            )],
            authorities: vec![],
        })
    }
    fn resolve<'a>(&'a self, _: &'a Name, _: RecordType) -> ResolveFuture<'a> {
        Box::pin(async { Err("not used".to_string()) })
    }
}

#[tokio::test(start_paused = true)]
async fn cached_answers_are_reused_as_bytes_for_a_second_only() {
    let counting = Arc::new(Counting::default());
    let h = handler().with_recursion(counting.clone(), Acl::local_networks());
    let ask_cached = |id: u16| {
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.queries
            .push(Query::query(n("cached.example.org."), RecordType::A));
        m.to_vec().unwrap()
    };
    let first = ask(&h, &ask_cached(1), LOCAL, Transport::Udp).await;
    let second = ask(&h, &ask_cached(2), LOCAL, Transport::Udp).await;
    assert_eq!(
        counting.lookups.load(Ordering::SeqCst),
        1,
        "the second came from the encoded answer"
    );
    assert_eq!(second.metadata.id, 2);
    assert_eq!(second.answers, first.answers);
    assert_eq!(second.answers[0].ttl, 300);
    tokio::time::advance(std::time::Duration::from_millis(1500)).await;
    let _ = ask(&h, &ask_cached(3), LOCAL, Transport::Udp).await;
    assert_eq!(
        counting.lookups.load(Ordering::SeqCst),
        2,
        "stale after a second: asked again"
    );
}

/// The raw reply bytes `h` gives to `bytes`.
fn raw_reply(h: &QueryHandler, bytes: &[u8], from: &str, t: Transport) -> Option<Vec<u8>> {
    match h.handle_fast(bytes, ip(from), t) {
        Outcome::Reply(r) => Some(r),
        _ => None,
    }
}

/// Mixed-case spelling of `name`, letter by letter from `mask`.
fn recase(name: &str, mask: u64) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A reply from the encoded-answer cache is byte for byte what the full decode, lookup and
    /// encode gives a fresh handler for the same query.
    #[test]
    fn cached_replies_equal_fresh_ones(
        which in 0usize..5,
        rtype in prop::sample::select(vec![
            RecordType::A, RecordType::AAAA, RecordType::TXT, RecordType::SOA, RecordType::NS,
            RecordType::MX, RecordType::ANY,
        ]),
        edns in prop::option::of(prop::sample::select(vec![0u16, 512, 1232, 4096])),
        rd in any::<bool>(),
        cd in any::<bool>(),
        id in any::<u16>(),
        masks in (any::<u64>(), any::<u64>()),
        tcp in any::<bool>(),
        local in any::<bool>(),
    ) {
        let names = [
            "www.example.test.", "big.example.test.", "example.test.", "nope.example.test.",
            "elsewhere.example.org.",
        ];
        let name = names[which];
        let t = if tcp { Transport::Tcp } else { Transport::Udp };
        let from = if local { LOCAL } else { REMOTE };
        let build = |mask: u64, id: u16| {
            let mut m = Message::new(id, MessageType::Query, OpCode::Query);
            m.metadata.recursion_desired = rd;
            m.metadata.checking_disabled = cd;
            m.queries.push(Query::query(n(&recase(name, mask)), rtype));
            if let Some(size) = edns {
                let mut e = Edns::new();
                e.set_max_payload(size);
                m.edns = Some(e);
            }
            m.to_vec().unwrap()
        };
        let counting = Arc::new(Counting::default());
        let warm = handler().with_recursion(counting.clone(), Acl::local_networks());
        // Warm up with another ID and spelling, then ask again.
        let _ = raw_reply(&warm, &build(masks.0, id.wrapping_add(1)), from, t);
        let request = build(masks.1, id);
        let cached = raw_reply(&warm, &request, from, t);
        let fresh = handler().with_recursion(Arc::new(Counting::default()), Acl::local_networks());
        prop_assert_eq!(cached, raw_reply(&fresh, &request, from, t));
    }
}
