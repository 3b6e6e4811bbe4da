//! The stub resolver against fake DNS servers on 127.0.0.1.
//!
//! Each fake server listens on UDP and TCP on the same port and answers from a closure over the
//! decoded query, recording what it was asked. Timeouts are real (tokio's paused clock does not
//! drive sockets), so the tests that need one use short ones and bound the elapsed time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use torsion_dns::client::{exchange, ExchangeOptions, ResolveError, Resolver, ResolverConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

/// What the fake server sends back for one query, in order.
enum Reply {
    Message(Message),
    Raw(Vec<u8>),
}

impl From<Message> for Reply {
    fn from(message: Message) -> Self {
        Self::Message(message)
    }
}

impl Reply {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Message(m) => m.to_vec().unwrap(),
            Self::Raw(bytes) => bytes.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct Asked {
    transport: Transport,
    name: String,
    rtype: RecordType,
    id: u16,
    peer: SocketAddr,
}

type Handler = dyn Fn(&Message, Transport) -> Vec<Reply> + Send + Sync;

struct FakeServer {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<Asked>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl FakeServer {
    async fn start(
        handler: impl Fn(&Message, Transport) -> Vec<Reply> + Send + Sync + 'static,
    ) -> Self {
        let handler: Arc<Handler> = Arc::new(handler);
        let asked = Arc::new(Mutex::new(Vec::new()));
        // UDP on a free port, then TCP on the same port (retry if that TCP port is taken).
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let record = {
            let asked = Arc::clone(&asked);
            move |query: &Message, transport, peer| {
                let q = &query.queries[0];
                asked.lock().unwrap().push(Asked {
                    transport,
                    name: q.name().to_ascii(),
                    rtype: q.query_type(),
                    id: query.metadata.id,
                    peer,
                });
            }
        };
        let record = Arc::new(record);

        let udp_task = {
            let handler = Arc::clone(&handler);
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65535];
                loop {
                    let Ok((len, peer)) = udp.recv_from(&mut buf).await else {
                        continue;
                    };
                    let Ok(query) = Message::from_vec(&buf[..len]) else {
                        continue;
                    };
                    record(&query, Transport::Udp, peer);
                    for reply in handler(&query, Transport::Udp) {
                        let _ = udp.send_to(&reply.bytes(), peer).await;
                    }
                }
            })
        };
        let tcp_task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, peer)) = tcp.accept().await else {
                    continue;
                };
                let handler = Arc::clone(&handler);
                let record = Arc::clone(&record);
                tokio::spawn(async move {
                    let mut prefix = [0u8; 2];
                    if stream.read_exact(&mut prefix).await.is_err() {
                        return;
                    }
                    let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
                    if stream.read_exact(&mut message).await.is_err() {
                        return;
                    }
                    let Ok(query) = Message::from_vec(&message) else {
                        return;
                    };
                    record(&query, Transport::Tcp, peer);
                    for reply in handler(&query, Transport::Tcp) {
                        let bytes = reply.bytes();
                        let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
                        framed.extend_from_slice(&bytes);
                        let _ = stream.write_all(&framed).await;
                    }
                });
            }
        });
        Self {
            addr,
            asked,
            tasks: vec![udp_task, tcp_task],
        }
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }

    fn names(&self) -> Vec<String> {
        self.asked().into_iter().map(|a| a.name).collect()
    }
}

/// A UDP socket that receives queries and never answers.
async fn dead_server() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn qname(query: &Message) -> String {
    query.queries[0].name().to_ascii()
}

fn qtype(query: &Message) -> RecordType {
    query.queries[0].query_type()
}

/// An empty NOERROR response to `query`.
fn reply(query: &Message) -> Message {
    let mut r = Message::response(query.metadata.id, query.metadata.op_code);
    r.metadata.recursion_desired = query.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    r.queries = query.queries.clone();
    r
}

fn with_answers(query: &Message, answers: Vec<Record>) -> Message {
    let mut r = reply(query);
    r.answers = answers;
    r
}

fn with_rcode(query: &Message, rcode: ResponseCode) -> Message {
    let mut r = reply(query);
    r.metadata.response_code = rcode;
    r
}

fn rec(owner: &str, ttl: u32, data: RData) -> Record {
    Record::from_rdata(name(owner), ttl, data)
}

fn a(ip: &str) -> RData {
    RData::A(A::from_str(ip).unwrap())
}

fn aaaa(ip: &str) -> RData {
    RData::AAAA(AAAA::from_str(ip).unwrap())
}

fn config(servers: &[SocketAddr], timeout_ms: u64, attempts: u8) -> ResolverConfig {
    ResolverConfig {
        timeout: Duration::from_millis(timeout_ms),
        attempts,
        ..ResolverConfig::with_servers(servers.to_vec())
    }
}

/// A resolver for servers that answer: a generous timeout so a slow machine does not flake.
fn resolver(servers: &[SocketAddr]) -> Resolver {
    Resolver::new(config(servers, 3000, 1))
}

/// A simple zone: answers for a few names, NXDOMAIN otherwise.
fn zone(query: &Message, _transport: Transport) -> Vec<Reply> {
    let q = qname(query);
    let answers = match (q.as_str(), qtype(query)) {
        ("www.example.com.", RecordType::A) => vec![
            rec("www.example.com.", 300, a("192.0.2.1")),
            rec("www.example.com.", 300, a("192.0.2.2")),
        ],
        ("www.example.com.", RecordType::AAAA) => {
            vec![rec("www.example.com.", 120, aaaa("2001:db8::1"))]
        }
        ("example.com.", RecordType::MX) => vec![
            rec(
                "example.com.",
                3600,
                RData::MX(MX::new(20, name("mx2.example.com."))),
            ),
            rec(
                "example.com.",
                3600,
                RData::MX(MX::new(5, name("mx0.example.com."))),
            ),
            rec(
                "example.com.",
                3600,
                RData::MX(MX::new(10, name("mx1.example.com."))),
            ),
        ],
        ("example.com.", RecordType::TXT) => vec![rec(
            "example.com.",
            60,
            RData::TXT(TXT::from_bytes(vec![b"v=spf1 ", b"ip4:192.0.2.0/24 -all"])),
        )],
        ("_imap._tcp.example.com.", RecordType::SRV) => vec![
            rec(
                "_imap._tcp.example.com.",
                60,
                RData::SRV(SRV::new(20, 0, 143, name("c.example.com."))),
            ),
            rec(
                "_imap._tcp.example.com.",
                60,
                RData::SRV(SRV::new(10, 1, 143, name("b.example.com."))),
            ),
            rec(
                "_imap._tcp.example.com.",
                60,
                RData::SRV(SRV::new(10, 9, 143, name("a.example.com."))),
            ),
        ],
        ("1.2.0.192.in-addr.arpa.", RecordType::PTR) => vec![rec(
            "1.2.0.192.in-addr.arpa.",
            60,
            RData::PTR(PTR(name("www.example.com."))),
        )],
        (
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            RecordType::PTR,
        ) => vec![rec(
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            60,
            RData::PTR(PTR(name("v6.example.com."))),
        )],
        ("example.com." | "www.example.com." | "_imap._tcp.example.com.", _) => {
            return vec![reply(query).into()];
        }
        _ => return vec![with_rcode(query, ResponseCode::NXDomain).into()],
    };
    vec![with_answers(query, answers).into()]
}

#[tokio::test]
async fn a_lookup_returns_the_records_with_ttls() {
    let server = FakeServer::start(zone).await;
    let lookup = resolver(&[server.addr])
        .lookup("www.example.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(lookup.name, name("www.example.com."));
    assert!(lookup.cname_chain.is_empty());
    let data: Vec<_> = lookup
        .records
        .iter()
        .map(|r| (r.ttl, r.data.clone()))
        .collect();
    assert_eq!(data, vec![(300, a("192.0.2.1")), (300, a("192.0.2.2"))]);
    let asked = server.asked();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].transport, Transport::Udp);
    assert_eq!(asked[0].rtype, RecordType::A);
}

#[tokio::test]
async fn aaaa_lookup() {
    let server = FakeServer::start(zone).await;
    let lookup = resolver(&[server.addr])
        .lookup("www.example.com.", RecordType::AAAA)
        .await
        .unwrap();
    assert_eq!(lookup.records.len(), 1);
    assert_eq!(lookup.records[0].data, aaaa("2001:db8::1"));
    assert_eq!(lookup.records[0].ttl, 120);
}

#[tokio::test]
async fn mx_lookup_is_sorted_by_preference() {
    let server = FakeServer::start(zone).await;
    let mxs = resolver(&[server.addr])
        .mx_lookup("example.com.")
        .await
        .unwrap();
    let got: Vec<_> = mxs
        .iter()
        .map(|m| (m.preference, m.exchange.to_ascii()))
        .collect();
    assert_eq!(
        got,
        vec![
            (5, "mx0.example.com.".to_owned()),
            (10, "mx1.example.com.".to_owned()),
            (20, "mx2.example.com.".to_owned())
        ]
    );
}

#[tokio::test]
async fn txt_lookup_concatenates_each_records_strings() {
    let server = FakeServer::start(zone).await;
    let txts = resolver(&[server.addr])
        .txt_lookup("example.com.")
        .await
        .unwrap();
    assert_eq!(txts, vec![b"v=spf1 ip4:192.0.2.0/24 -all".to_vec()]);
}

#[tokio::test]
async fn srv_lookup_is_sorted_by_priority_then_weight() {
    let server = FakeServer::start(zone).await;
    let srvs = resolver(&[server.addr])
        .srv_lookup("_imap._tcp.example.com.")
        .await
        .unwrap();
    let got: Vec<_> = srvs
        .iter()
        .map(|s| (s.priority, s.weight, s.port, s.target.to_ascii()))
        .collect();
    assert_eq!(
        got,
        vec![
            (10, 9, 143, "a.example.com.".to_owned()),
            (10, 1, 143, "b.example.com.".to_owned()),
            (20, 0, 143, "c.example.com.".to_owned())
        ]
    );
}

#[tokio::test]
async fn reverse_lookup_uses_in_addr_and_ip6_arpa() {
    let server = FakeServer::start(zone).await;
    let resolver = resolver(&[server.addr]);
    let v4 = resolver
        .reverse_lookup("192.0.2.1".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(v4, vec![name("www.example.com.")]);
    let v6 = resolver
        .reverse_lookup("2001:db8::1".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(v6, vec![name("v6.example.com.")]);
    // An IPv4-mapped address is the IPv4 address.
    let mapped = resolver
        .reverse_lookup("::ffff:192.0.2.1".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(mapped, vec![name("www.example.com.")]);
    assert_eq!(
        server.names(),
        [
            "1.2.0.192.in-addr.arpa.",
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            "1.2.0.192.in-addr.arpa."
        ]
    );
}

#[tokio::test]
async fn lookup_ip_of_an_ip_literal_makes_no_query() {
    let server = FakeServer::start(zone).await;
    let resolver = resolver(&[server.addr]);
    assert_eq!(
        resolver.lookup_ip("192.0.2.9").await.unwrap(),
        vec!["192.0.2.9".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(
        resolver.lookup_ip("2001:db8::9").await.unwrap(),
        vec!["2001:db8::9".parse::<IpAddr>().unwrap()]
    );
    assert!(server.asked().is_empty());
}

#[tokio::test]
async fn lookup_ip_returns_ipv6_then_ipv4() {
    let server = FakeServer::start(zone).await;
    let ips = resolver(&[server.addr])
        .lookup_ip("www.example.com.")
        .await
        .unwrap();
    let expected: Vec<IpAddr> = ["2001:db8::1", "192.0.2.1", "192.0.2.2"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(ips, expected);
    let mut types: Vec<_> = server.asked().iter().map(|a| a.rtype).collect();
    types.sort_by_key(|t| u16::from(*t));
    assert_eq!(types, [RecordType::A, RecordType::AAAA]);
}

#[tokio::test]
async fn lookup_ip_of_a_name_without_addresses_is_no_records() {
    let server = FakeServer::start(zone).await;
    let err = resolver(&[server.addr])
        .lookup_ip("example.com.")
        .await
        .unwrap_err();
    assert!(matches!(err, ResolveError::NoRecords { .. }), "{err}");
    let err = resolver(&[server.addr])
        .lookup_ip("missing.example.com.")
        .await
        .unwrap_err();
    assert!(matches!(err, ResolveError::NxDomain { .. }), "{err}");
}

#[tokio::test]
async fn truncated_udp_answer_is_retried_over_tcp() {
    let server = FakeServer::start(|query, transport| match transport {
        Transport::Udp => {
            let mut r = reply(query);
            r.metadata.truncation = true;
            vec![r.into()]
        }
        Transport::Tcp => {
            let answers = (1..=100)
                .map(|i| rec("big.example.", 60, a(&format!("10.0.0.{i}"))))
                .collect();
            vec![with_answers(query, answers).into()]
        }
    })
    .await;
    let lookup = resolver(&[server.addr])
        .lookup("big.example.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(lookup.records.len(), 100);
    let transports: Vec<_> = server.asked().iter().map(|a| a.transport).collect();
    assert_eq!(transports, [Transport::Udp, Transport::Tcp]);
}

#[tokio::test]
async fn tcp_only_exchange_skips_udp() {
    let server = FakeServer::start(zone).await;
    let opts = ExchangeOptions {
        tcp: true,
        timeout: Duration::from_secs(3),
        ..ExchangeOptions::default()
    };
    let response = exchange(server.addr, &name("www.example.com."), RecordType::A, &opts)
        .await
        .unwrap();
    assert_eq!(response.answers.len(), 2);
    let transports: Vec<_> = server.asked().iter().map(|a| a.transport).collect();
    assert_eq!(transports, [Transport::Tcp]);
}

#[tokio::test]
async fn each_query_gets_a_fresh_random_id_and_source_port() {
    let server = FakeServer::start(zone).await;
    let opts = ExchangeOptions::default();
    for _ in 0..8 {
        exchange(server.addr, &name("www.example.com."), RecordType::A, &opts)
            .await
            .unwrap();
    }
    let asked = server.asked();
    let mut ids: Vec<_> = asked.iter().map(|a| a.id).collect();
    let mut ports: Vec<_> = asked.iter().map(|a| a.peer.port()).collect();
    ids.sort_unstable();
    ids.dedup();
    ports.sort_unstable();
    ports.dedup();
    // Eight random 16-bit IDs colliding down to fewer than 6 distinct values is ~impossible;
    // the kernel does not reuse the port of a socket bound a moment ago.
    assert!(ids.len() >= 6, "{ids:?}");
    assert!(ports.len() >= 6, "{ports:?}");
    // RD and EDNS are sent by default.
    assert!(asked.iter().all(|a| a.transport == Transport::Udp));
}

#[tokio::test]
async fn spoofed_response_with_wrong_id_is_ignored() {
    let server = FakeServer::start(|query, _| {
        let mut spoof = with_answers(query, vec![rec("www.example.com.", 60, a("6.6.6.6"))]);
        spoof.metadata.id = query.metadata.id.wrapping_add(1);
        let real = with_answers(query, vec![rec("www.example.com.", 60, a("192.0.2.1"))]);
        vec![spoof.into(), real.into()]
    })
    .await;
    let lookup = resolver(&[server.addr])
        .lookup("www.example.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(lookup.records.len(), 1);
    assert_eq!(lookup.records[0].data, a("192.0.2.1"));
}

#[tokio::test]
async fn spoofed_response_with_wrong_question_or_junk_is_ignored() {
    let server = FakeServer::start(|query, _| {
        let mut spoof = with_answers(query, vec![rec("evil.example.", 60, a("6.6.6.6"))]);
        spoof.queries = vec![Query::query(name("evil.example."), RecordType::A)];
        let mut echoed = query.clone();
        echoed.answers = vec![rec("www.example.com.", 60, a("6.6.6.7"))];
        let real = with_answers(query, vec![rec("www.example.com.", 60, a("192.0.2.1"))]);
        vec![
            spoof.into(),
            echoed.into(), // QR=0
            Reply::Raw(vec![0xde, 0xad]),
            Reply::Raw(query.metadata.id.to_be_bytes().to_vec()),
            real.into(),
        ]
    })
    .await;
    let lookup = resolver(&[server.addr])
        .lookup("www.example.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(lookup.records.len(), 1);
    assert_eq!(lookup.records[0].data, a("192.0.2.1"));
}

#[tokio::test]
async fn only_spoofed_responses_end_in_a_timeout() {
    let server = FakeServer::start(|query, _| {
        let mut spoof = reply(query);
        spoof.metadata.id = query.metadata.id ^ 0x8000;
        vec![spoof.into()]
    })
    .await;
    let started = Instant::now();
    let err = Resolver::new(config(&[server.addr], 200, 1))
        .lookup("www.example.com.", RecordType::A)
        .await
        .unwrap_err();
    assert!(matches!(err, ResolveError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn dead_first_server_fails_over_to_the_second() {
    let (_dead, dead_addr) = dead_server().await;
    let live = FakeServer::start(zone).await;
    let started = Instant::now();
    let lookup = Resolver::new(config(&[dead_addr, live.addr], 200, 2))
        .lookup("www.example.com.", RecordType::A)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(lookup.records.len(), 2);
    assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn all_servers_dead_is_a_timeout_after_attempts_rounds() {
    let (_dead1, addr1) = dead_server().await;
    let (_dead2, addr2) = dead_server().await;
    let started = Instant::now();
    let err = Resolver::new(config(&[addr1, addr2], 100, 2))
        .lookup("www.example.com.", RecordType::A)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, ResolveError::Timeout { .. }), "{err}");
    assert!(err.is_temporary());
    // 2 attempts x 2 servers x 100 ms.
    assert!(elapsed >= Duration::from_millis(390), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn servfail_and_refused_fail_over_to_the_next_server() {
    let servfail =
        FakeServer::start(|q, _| vec![with_rcode(q, ResponseCode::ServFail).into()]).await;
    let refused = FakeServer::start(|q, _| vec![with_rcode(q, ResponseCode::Refused).into()]).await;
    let live = FakeServer::start(zone).await;
    let lookup = resolver(&[servfail.addr, refused.addr, live.addr])
        .lookup("www.example.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(lookup.records.len(), 2);
    assert_eq!(servfail.asked().len(), 1);
    assert_eq!(refused.asked().len(), 1);

    let err = resolver(&[servfail.addr])
        .lookup("www.example.com.", RecordType::A)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::ServerFailure {
                rcode: ResponseCode::ServFail,
                ..
            }
        ),
        "{err}"
    );
    let err = resolver(&[refused.addr])
        .lookup("www.example.com.", RecordType::A)
        .await
        .unwrap_err();
    assert!(matches!(err, ResolveError::Refused { .. }), "{err}");
}

#[tokio::test]
async fn rotate_starts_each_query_at_the_next_server() {
    let first = FakeServer::start(zone).await;
    let second = FakeServer::start(zone).await;
    let resolver = Resolver::new(ResolverConfig {
        rotate: true,
        ..config(&[first.addr, second.addr], 3000, 1)
    });
    for _ in 0..4 {
        resolver
            .lookup("www.example.com.", RecordType::A)
            .await
            .unwrap();
    }
    assert_eq!(first.asked().len(), 2);
    assert_eq!(second.asked().len(), 2);
}

#[tokio::test]
async fn nxdomain_is_told_apart_from_no_records() {
    let server = FakeServer::start(|query, _| {
        let mut negative = match qname(query).as_str() {
            "exists.example." => reply(query),
            _ => with_rcode(query, ResponseCode::NXDomain),
        };
        negative.authorities = vec![rec(
            "example.",
            300,
            RData::SOA(SOA::new(
                name("ns.example."),
                name("root.example."),
                1,
                2,
                3,
                4,
                300,
            )),
        )];
        vec![negative.into()]
    })
    .await;
    let resolver = resolver(&[server.addr]);
    let err = resolver.mx_lookup("exists.example.").await.unwrap_err();
    match &err {
        ResolveError::NoRecords { name, rtype } => {
            assert_eq!(name, "exists.example.");
            assert_eq!(*rtype, RecordType::MX);
        }
        other => panic!("expected NoRecords, got {other}"),
    }
    assert!(!err.is_temporary());
    let err = resolver.mx_lookup("missing.example.").await.unwrap_err();
    assert!(matches!(err, ResolveError::NxDomain { .. }), "{err}");
    assert!(!err.is_temporary());
}

#[tokio::test]
async fn search_domains_follow_ndots() {
    // Answers only host.example.; everything else does not exist.
    let server = FakeServer::start(|query, _| match qname(query).as_str() {
        "host.example." => {
            vec![with_answers(query, vec![rec("host.example.", 60, a("192.0.2.5"))]).into()]
        }
        _ => vec![with_rcode(query, ResponseCode::NXDomain).into()],
    })
    .await;
    let resolver = Resolver::new(ResolverConfig {
        search: vec![name("corp.example."), name("example.")],
        ndots: 1,
        ..config(&[server.addr], 3000, 1)
    });

    // No dots (< ndots): search list first, stopping at the first answer.
    let lookup = resolver.lookup("host", RecordType::A).await.unwrap();
    assert_eq!(lookup.name, name("host.example."));
    assert_eq!(server.names(), ["host.corp.example.", "host.example."]);

    // One dot (>= ndots): as-is first, then the search list.
    server.asked.lock().unwrap().clear();
    let err = resolver.lookup("a.b", RecordType::A).await.unwrap_err();
    assert!(
        matches!(&err, ResolveError::NxDomain { name } if name == "a.b"),
        "{err}"
    );
    assert_eq!(
        server.names(),
        ["a.b.", "a.b.corp.example.", "a.b.example."]
    );

    // Absolute: only itself.
    server.asked.lock().unwrap().clear();
    let err = resolver.lookup("a.b.", RecordType::A).await.unwrap_err();
    assert!(matches!(err, ResolveError::NxDomain { .. }), "{err}");
    assert_eq!(server.names(), ["a.b."]);

    // lookup_ip walks the same list, asking both types per candidate.
    server.asked.lock().unwrap().clear();
    let ips = resolver.lookup_ip("host").await.unwrap();
    assert_eq!(ips, vec!["192.0.2.5".parse::<IpAddr>().unwrap()]);
    let mut names = server.names();
    names.sort();
    assert_eq!(
        names,
        [
            "host.corp.example.",
            "host.corp.example.",
            "host.example.",
            "host.example."
        ]
    );
}

#[tokio::test]
async fn higher_ndots_searches_before_trying_as_is() {
    let server =
        FakeServer::start(|query, _| vec![with_rcode(query, ResponseCode::NXDomain).into()]).await;
    let resolver = Resolver::new(ResolverConfig {
        search: vec![name("corp.example.")],
        ndots: 2,
        ..config(&[server.addr], 3000, 1)
    });
    resolver.lookup("a.b", RecordType::A).await.unwrap_err();
    assert_eq!(server.names(), ["a.b.corp.example.", "a.b."]);
}

#[tokio::test]
async fn nodata_on_one_candidate_beats_nxdomain_on_the_others() {
    let server = FakeServer::start(|query, _| match qname(query).as_str() {
        "host.corp.example." => vec![reply(query).into()],
        _ => vec![with_rcode(query, ResponseCode::NXDomain).into()],
    })
    .await;
    let resolver = Resolver::new(ResolverConfig {
        search: vec![name("corp.example.")],
        ..config(&[server.addr], 3000, 1)
    });
    let err = resolver.lookup("host", RecordType::MX).await.unwrap_err();
    assert!(
        matches!(&err, ResolveError::NoRecords { name, .. } if name == "host.corp.example."),
        "{err}"
    );
    assert_eq!(server.names(), ["host.corp.example.", "host."]);
}

#[tokio::test]
async fn cname_chain_is_followed() {
    let server = FakeServer::start(|query, _| {
        vec![with_answers(
            query,
            vec![
                rec(
                    "www.example.",
                    600,
                    RData::CNAME(CNAME(name("alias.example."))),
                ),
                rec(
                    "alias.example.",
                    300,
                    RData::CNAME(CNAME(name("real.example."))),
                ),
                rec("alias.example.", 300, a("6.6.6.6")),
                rec("real.example.", 30, a("192.0.2.7")),
            ],
        )
        .into()]
    })
    .await;
    let lookup = resolver(&[server.addr])
        .lookup("www.example.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(lookup.name, name("www.example."));
    assert_eq!(
        lookup.cname_chain,
        vec![name("alias.example."), name("real.example.")]
    );
    assert_eq!(lookup.records.len(), 1);
    assert_eq!(lookup.records[0].data, a("192.0.2.7"));
    assert_eq!(lookup.records[0].ttl, 30);
    assert_eq!(lookup.message.answers.len(), 4);
}

#[tokio::test]
async fn cname_to_nothing_is_no_records() {
    let server = FakeServer::start(|query, _| {
        vec![with_answers(
            query,
            vec![rec(
                "www.example.",
                600,
                RData::CNAME(CNAME(name("gone.example."))),
            )],
        )
        .into()]
    })
    .await;
    let err = resolver(&[server.addr])
        .lookup("www.example.", RecordType::A)
        .await
        .unwrap_err();
    assert!(matches!(err, ResolveError::NoRecords { .. }), "{err}");
}

#[tokio::test]
async fn resolver_is_cheap_to_clone_and_usable_from_tasks() {
    let server = FakeServer::start(zone).await;
    let resolver = resolver(&[server.addr]);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let resolver = resolver.clone();
            tokio::spawn(async move { resolver.lookup_ip("www.example.com.").await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().len(), 3);
    }
}
