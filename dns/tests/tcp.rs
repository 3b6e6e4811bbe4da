//! DNS over TCP (RFC 7766) through the runner on loopback: pipelined queries answered as they
//! complete (out of order), answers still delivered after the client half-closes.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use torsion_core::testkit::RunningServer;
use torsion_dns::server::handler::ResolveFuture;
use torsion_dns::server::{Acl, Answer, Catalog, DnsTcp, QueryHandler, Resolve, ZoneSet};
use torsion_dns::zone::parser::parse_zone_str;
use torsion_dns::zone::Zone;

/// A slow upstream: answers after 300 ms.
struct Slow;

impl Resolve for Slow {
    fn cached(&self, _: &Name, _: RecordType) -> Option<Answer> {
        None
    }
    fn resolve<'a>(&'a self, name: &'a Name, _: RecordType) -> ResolveFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(Answer {
                rcode: ResponseCode::NoError,
                answers: vec![Record::from_rdata(
                    name.clone(),
                    60,
                    RData::A(A::new(192, 0, 2, 9)),
                )],
                authorities: vec![],
            })
        })
    }
}

fn handler() -> Arc<QueryHandler> {
    let origin = Name::from_str("example.test.").unwrap();
    let text =
        "$TTL 300\n@ IN SOA ns hm 1 2 3 4 5\n@ IN NS ns\nns IN A 192.0.2.53\nwww IN A 192.0.2.80\n";
    let parsed = parse_zone_str(text, &origin, "t").unwrap();
    let zone = Zone::from_records(parsed.origin, parsed.records).unwrap();
    Arc::new(
        QueryHandler::new(Catalog::new(vec![zone]))
            .with_recursion(Arc::new(Slow), Acl::local_networks()),
    )
}

fn framed(id: u16, name: &str) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.queries
        .push(Query::query(Name::from_str(name).unwrap(), RecordType::A));
    let body = m.to_vec().unwrap();
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend(body);
    out
}

async fn read_response(peer: &mut torsion_core::testkit::TestPeer) -> Message {
    let len = peer.read_exact(2).await;
    let len = u16::from_be_bytes([len[0], len[1]]) as usize;
    Message::from_vec(&peer.read_exact(len).await).unwrap()
}

#[tokio::test]
async fn pipelined_queries_are_answered_as_they_complete() {
    let service = Arc::new(DnsTcp::new(handler(), Arc::new(ZoneSet::default())));
    let server = RunningServer::start(service, &["tcp:0:interface=127.0.0.1"]).await;
    let mut peer = server.connect().await;
    // Slow recursive question first, then two authoritative ones, in one write.
    let mut burst = framed(1, "slow.example.org.");
    burst.extend(framed(2, "www.example.test."));
    burst.extend(framed(3, "ns.example.test."));
    peer.send(&burst).await;
    let ids: Vec<u16> = [
        read_response(&mut peer).await,
        read_response(&mut peer).await,
        read_response(&mut peer).await,
    ]
    .iter()
    .map(|m| m.metadata.id)
    .collect();
    assert_eq!(
        ids,
        vec![2, 3, 1],
        "the slow answer comes last, out of order"
    );

    // Ask and half-close at once: the answer still arrives, then the server closes.
    peer.send(framed(4, "another.example.org.")).await;
    peer.shutdown_write().await;
    let last = read_response(&mut peer).await;
    assert_eq!(last.metadata.id, 4);
    assert_eq!(last.answers.len(), 1);
    peer.expect_closed().await;
    server.stop().await;
}

fn serve_in_memory(limits: torsion_core::runner::Limits) -> torsion_core::testkit::TestPeer {
    let service = Arc::new(DnsTcp::new(handler(), Arc::new(ZoneSet::default())));
    let options = limits.connection_options();
    torsion_core::testkit::TestPeer::serve_with(service, |c| c.with_options(options))
}

#[tokio::test(start_paused = true)]
async fn a_trickled_message_is_closed_at_the_deadline() {
    let mut peer = serve_in_memory(DnsTcp::standard_limits());
    peer.set_timeout(Duration::from_secs(600));
    // An honest query first: answered, and its deadline ends with it.
    peer.send(framed(1, "www.example.test.")).await;
    assert_eq!(read_response(&mut peer).await.metadata.id, 1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let started = tokio::time::Instant::now();
    // A 65,535-byte length prefix, then one byte a second: every byte would restart an idle
    // timer; the message's deadline holds (10 s, plus 2 ms of credit per byte).
    peer.send([0xff, 0xff]).await;
    let mut sent = 0;
    while peer.try_send([0u8]).await.is_ok() && sent < 1000 {
        sent += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    peer.expect_closed().await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(10) && elapsed <= Duration::from_secs(12),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_idle_timeout_flag_replaces_the_ten_seconds() {
    for (flag, expected) in [(None, 10), (Some(3), 3), (Some(60), 60)] {
        let mut args = torsion_core::runner::ServiceArgs::defaults();
        args.idle_timeout = flag;
        let mut peer = serve_in_memory(args.limits_over(DnsTcp::standard_limits()));
        peer.set_timeout(Duration::from_secs(600));
        let started = tokio::time::Instant::now();
        peer.expect_closed().await;
        assert_eq!(started.elapsed(), Duration::from_secs(expected), "{flag:?}");
    }
}
