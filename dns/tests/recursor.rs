//! The recursor and the forwarder against a fake network in memory (`fake`): every query is
//! logged, so the tests assert on exactly which servers were asked what.
//!
//! Time is tokio's paused clock: latencies and timeouts are `sleep`s that auto-advance.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "recursor/fake.rs"]
mod fake;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use fake::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};
use torsion_dns::cache::DnsCache;
use torsion_dns::forwarder::Forwarder;
use torsion_dns::recursor::{RecursionError, Recursor, RecursorOptions};

fn recursor_with(net: &Net, options: RecursorOptions, cache: DnsCache) -> Recursor<Net> {
    Recursor::new(net.clone(), Arc::new(cache), hints(), options)
}

fn recursor(net: &Net) -> Recursor<Net> {
    recursor_with(net, RecursorOptions::default(), DnsCache::new(1000))
}

fn no_minimisation() -> RecursorOptions {
    RecursorOptions {
        qname_minimisation: false,
        ..RecursorOptions::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Recursor

#[tokio::test(start_paused = true)]
async fn resolves_through_three_levels() {
    let net = hierarchy();
    let r = recursor_with(&net, no_minimisation(), DnsCache::new(100));
    let res = r
        .resolve(&n("www.example.tld."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(addrs(&res), vec![ip("192.0.2.1")]);
    assert!(res.authorities.is_empty());
    let log = net.log();
    let ips: Vec<IpAddr> = log.iter().map(|s| s.ip).collect();
    assert_eq!(ips, vec![ip(ROOT), ip(TLD), ip(EXAMPLE)]);
    assert!(log.iter().all(|s| !s.rd && s.name == n("www.example.tld.")));
}

#[tokio::test(start_paused = true)]
async fn qname_minimisation_shows_each_server_only_what_it_needs() {
    let net = hierarchy();
    let r = recursor(&net);
    let res = r
        .resolve(&n("www.example.tld."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(addrs(&res), vec![ip("192.0.2.1")]);
    let asked: Vec<(IpAddr, Name, RecordType)> = net
        .log()
        .into_iter()
        .map(|s| (s.ip, s.name, s.rtype))
        .collect();
    assert_eq!(
        asked,
        vec![
            (ip(ROOT), n("tld."), RecordType::A),
            (ip(TLD), n("example.tld."), RecordType::A),
            (ip(EXAMPLE), n("www.example.tld."), RecordType::A),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn qname_minimisation_walks_empty_non_terminals_and_survives_servers_denying_them() {
    for broken in [false, true] {
        let net = hierarchy();
        net.add(
            EXAMPLE,
            "example.tld.",
            vec![a("a.b.c.example.tld.", "192.0.2.5")],
        );
        net.with_server(EXAMPLE, |s| s.nx_for_ent = broken);
        let r = recursor(&net);
        let res = r
            .resolve(&n("a.b.c.example.tld."), RecordType::A)
            .await
            .unwrap();
        assert_eq!(addrs(&res), vec![ip("192.0.2.5")], "broken={broken}");
        let names: Vec<Name> = net.asked(EXAMPLE).into_iter().map(|s| s.name).collect();
        let expected = if broken {
            // NXDOMAIN for c.example.tld.: ask the whole name instead.
            vec![n("c.example.tld."), n("a.b.c.example.tld.")]
        } else {
            vec![
                n("c.example.tld."),
                n("b.c.example.tld."),
                n("a.b.c.example.tld."),
            ]
        };
        assert_eq!(names, expected, "broken={broken}");
    }
}

#[tokio::test(start_paused = true)]
async fn repeats_come_from_the_cache_with_ttls_counted_down() {
    let net = hierarchy();
    let r = recursor(&net);
    let www = n("www.example.tld.");
    let first = r.resolve(&www, RecordType::A).await.unwrap();
    assert_eq!(first.answers[0].ttl, 300);
    let queries = net.count();

    tokio::time::advance(Duration::from_secs(100)).await;
    let second = r.resolve(&www, RecordType::A).await.unwrap();
    assert_eq!(net.count(), queries, "answered from the cache");
    assert_eq!(addrs(&second), addrs(&first));
    assert_eq!(second.answers[0].ttl, 200);

    // Another name in the same zone starts at the cached delegation.
    tokio::time::advance(Duration::from_secs(1)).await;
    let alias = r
        .resolve(&n("alias.example.tld."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(alias.answers.len(), 2);
    let new: Vec<Sent> = net.log().split_off(queries);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].ip, ip(EXAMPLE));

    // After expiry it is asked again; the glue (TTL 300, like the answer) has expired too,
    // so the walk starts over from the root.
    tokio::time::advance(Duration::from_secs(300)).await;
    r.resolve(&www, RecordType::A).await.unwrap();
    let ips: Vec<IpAddr> = net.log()[queries + 1..].iter().map(|s| s.ip).collect();
    assert_eq!(ips, vec![ip(ROOT), ip(TLD), ip(EXAMPLE)]);
}

#[tokio::test(start_paused = true)]
async fn glue_is_used_only_in_bailiwick() {
    let net = hierarchy();
    const POISON: &str = "6.6.6.6";
    const REAL: &str = "10.0.4.1";
    // tld. delegates evil.tld. to a server named in other.; its "glue" is not tld.'s to give.
    net.add(
        TLD,
        "tld.",
        vec![
            ns("evil.tld.", "ns.attacker.other."),
            a("ns.attacker.other.", POISON),
        ],
    );
    net.add(OTHER, "other.", vec![a("ns.attacker.other.", REAL)]);
    net.add(REAL, "evil.tld.", vec![a("www.evil.tld.", "192.0.2.7")]);
    net.add(POISON, "evil.tld.", vec![a("www.evil.tld.", "6.6.6.7")]);
    // In-bailiwick glue is used as is.
    net.add(
        TLD,
        "tld.",
        vec![
            ns("good.tld.", "ns.good.tld."),
            a("ns.good.tld.", "10.0.4.2"),
        ],
    );
    net.add(
        "10.0.4.2",
        "good.tld.",
        vec![a("www.good.tld.", "192.0.2.8")],
    );

    let r = recursor(&net);
    let res = r.resolve(&n("www.evil.tld."), RecordType::A).await.unwrap();
    assert_eq!(addrs(&res), vec![ip("192.0.2.7")]);
    assert!(net.asked(POISON).is_empty(), "the poisoned glue was used");
    assert!(
        net.asked(OTHER)
            .iter()
            .any(|s| s.name == n("ns.attacker.other.")),
        "the name server's address was looked up instead"
    );

    let before = net.count();
    let res = r.resolve(&n("www.good.tld."), RecordType::A).await.unwrap();
    assert_eq!(addrs(&res), vec![ip("192.0.2.8")]);
    let ips: Vec<IpAddr> = net.log()[before..].iter().map(|s| s.ip).collect();
    assert_eq!(ips, vec![ip(TLD), ip("10.0.4.2")]);
}

#[tokio::test(start_paused = true)]
async fn sibling_glue_is_taken_only_when_allowed() {
    for sibling_glue in [true, false] {
        let net = hierarchy();
        // sibling.tld. is served by ns.helper.tld., whose address tld. also knows itself.
        net.add(
            TLD,
            "tld.",
            vec![
                ns("sibling.tld.", "ns.helper.tld."),
                a("ns.helper.tld.", "10.0.5.1"),
            ],
        );
        net.add(
            "10.0.5.1",
            "sibling.tld.",
            vec![a("www.sibling.tld.", "192.0.2.9")],
        );
        let options = RecursorOptions {
            sibling_glue,
            ..no_minimisation()
        };
        let r = recursor_with(&net, options, DnsCache::new(100));
        let res = r
            .resolve(&n("www.sibling.tld."), RecordType::A)
            .await
            .unwrap();
        assert_eq!(addrs(&res), vec![ip("192.0.2.9")]);
        let looked_up = net.asked(TLD).iter().any(|s| s.name == n("ns.helper.tld."));
        assert_eq!(looked_up, !sibling_glue);
    }
}

#[tokio::test(start_paused = true)]
async fn name_servers_without_glue_are_resolved() {
    let net = hierarchy();
    net.add(TLD, "tld.", vec![ns("glueless.tld.", "ns.host.other.")]);
    net.add(OTHER, "other.", vec![a("ns.host.other.", "10.0.6.1")]);
    net.add(
        "10.0.6.1",
        "glueless.tld.",
        vec![a("www.glueless.tld.", "192.0.2.10")],
    );
    let r = recursor_with(&net, no_minimisation(), DnsCache::new(100));
    let res = r
        .resolve(&n("www.glueless.tld."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(addrs(&res), vec![ip("192.0.2.10")]);
    let asked: Vec<(IpAddr, Name)> = net.log().into_iter().map(|s| (s.ip, s.name)).collect();
    assert_eq!(
        asked,
        vec![
            (ip(ROOT), n("www.glueless.tld.")),
            (ip(TLD), n("www.glueless.tld.")),
            // The nested lookup starts from the root again: other. is not cached yet.
            (ip(ROOT), n("ns.host.other.")),
            (ip(OTHER), n("ns.host.other.")),
            (ip("10.0.6.1"), n("www.glueless.tld.")),
        ]
    );
    // The name server's address was cached like any answer.
    assert!(r.cache().get(&n("ns.host.other."), RecordType::A).is_some());
}

#[tokio::test(start_paused = true)]
async fn name_servers_inside_their_zone_without_glue_are_lame() {
    let net = hierarchy();
    net.add(TLD, "tld.", vec![ns("noglue.tld.", "ns.noglue.tld.")]);
    let r = recursor(&net);
    let err = r
        .resolve(&n("www.noglue.tld."), RecordType::A)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RecursionError::ServersFailed { zone, .. } if *zone == n("noglue.tld.")),
        "{err}"
    );
    assert!(err.to_string().contains("no glue"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn cname_chains_are_followed_across_zones() {
    let net = hierarchy();
    net.add(
        EXAMPLE,
        "example.tld.",
        vec![
            cname("web.example.tld.", "alias.example.tld."),
            cname("cdn.example.tld.", "edge.cdn.other."),
        ],
    );
    net.add(
        OTHER,
        "other.",
        vec![
            ns("cdn.other.", "ns.cdn.other."),
            a("ns.cdn.other.", "10.0.7.1"),
        ],
    );
    net.add(
        "10.0.7.1",
        "cdn.other.",
        vec![a("edge.cdn.other.", "192.0.2.11")],
    );
    let r = recursor(&net);

    // In one zone: one response holds the chain.
    let res = r
        .resolve(&n("web.example.tld."), RecordType::A)
        .await
        .unwrap();
    let types: Vec<RecordType> = res.answers.iter().map(Record::record_type).collect();
    assert_eq!(
        types,
        vec![RecordType::CNAME, RecordType::CNAME, RecordType::A]
    );
    assert_eq!(addrs(&res), vec![ip("192.0.2.1")]);

    // Across zones.
    let res = r
        .resolve(&n("cdn.example.tld."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(res.answers.len(), 2);
    assert_eq!(res.answers[0].record_type(), RecordType::CNAME);
    assert_eq!(res.answers[1].name, n("edge.cdn.other."));
    assert_eq!(addrs(&res), vec![ip("192.0.2.11")]);

    // The pieces are cached: asking again costs nothing, and the CNAME itself is cached.
    let cached = r
        .cached_answer(&n("cdn.example.tld."), RecordType::A)
        .unwrap();
    assert_eq!(cached.answers.len(), 2);
    let before = net.count();
    let again = r
        .resolve(&n("cdn.example.tld."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(again.answers.len(), 2);
    assert!(r
        .resolve(&n("cdn.example.tld."), RecordType::CNAME)
        .await
        .is_ok());
    assert_eq!(net.count(), before);
}

#[tokio::test(start_paused = true)]
async fn cname_loops_are_errors() {
    let net = hierarchy();
    net.add(
        EXAMPLE,
        "example.tld.",
        vec![
            cname("loop.example.tld.", "loop.other."),
            cname("a.example.tld.", "b.example.tld."),
            cname("b.example.tld.", "a.example.tld."),
        ],
    );
    net.add(
        OTHER,
        "other.",
        vec![cname("loop.other.", "loop.example.tld.")],
    );
    let r = recursor(&net);
    let err = r
        .resolve(&n("loop.example.tld."), RecordType::A)
        .await
        .unwrap_err();
    assert!(matches!(err, RecursionError::CnameLoop { .. }), "{err}");
    assert!(err.to_string().contains("CNAME loop"));
    let err = r
        .resolve(&n("a.example.tld."), RecordType::A)
        .await
        .unwrap_err();
    assert!(matches!(err, RecursionError::CnameLoop { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn overlong_cname_chains_are_errors() {
    let net = hierarchy();
    let chain: Vec<Record> = (0..15)
        .map(|i| cname(&format!("c{i}.example.tld."), &format!("c{}.other.", i)))
        .collect();
    net.add(EXAMPLE, "example.tld.", chain);
    let back: Vec<Record> = (0..15)
        .map(|i| cname(&format!("c{i}.other."), &format!("c{}.example.tld.", i + 1)))
        .collect();
    net.add(OTHER, "other.", back);
    let r = recursor(&net);
    let err = r
        .resolve(&n("c0.example.tld."), RecordType::A)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RecursionError::CnameChainTooLong { .. }),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn nxdomain_and_nodata_are_answered_and_cached() {
    let net = hierarchy();
    let r = recursor(&net);
    let nope = n("nope.example.tld.");
    let nx = r.resolve(&nope, RecordType::A).await.unwrap();
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert!(nx.answers.is_empty());
    assert_eq!(nx.authorities.len(), 1);
    assert_eq!(nx.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(nx.authorities[0].ttl, 60, "min(SOA TTL, MINIMUM)");

    let www = n("www.example.tld.");
    let nodata = r.resolve(&www, RecordType::AAAA).await.unwrap();
    assert_eq!(nodata.rcode, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);

    let before = net.count();
    tokio::time::advance(Duration::from_secs(30)).await;
    let nx = r.resolve(&nope, RecordType::A).await.unwrap();
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert_eq!(nx.authorities[0].ttl, 30);
    let nodata = r.resolve(&www, RecordType::AAAA).await.unwrap();
    assert_eq!(nodata.rcode, ResponseCode::NoError);
    assert_eq!(net.count(), before, "negative answers came from the cache");
    // The positive answer is still asked for: NODATA for AAAA says nothing about A.
    r.resolve(&www, RecordType::A).await.unwrap();
    assert_eq!(net.count(), before + 1);

    tokio::time::advance(Duration::from_secs(30)).await;
    r.resolve(&nope, RecordType::A).await.unwrap();
    assert_eq!(net.count(), before + 2, "expired after the negative TTL");
}

#[tokio::test(start_paused = true)]
async fn a_dead_server_is_skipped_for_another_of_the_zone() {
    let net = hierarchy();
    const DEAD: &str = "10.0.8.1";
    const LIVE: &str = "10.0.8.2";
    net.add(
        TLD,
        "tld.",
        vec![
            ns("two.tld.", "ns1.two.tld."),
            ns("two.tld.", "ns2.two.tld."),
            a("ns1.two.tld.", DEAD),
            a("ns2.two.tld.", LIVE),
            ns("warm.tld.", "ns.warm.tld."),
            a("ns.warm.tld.", LIVE),
        ],
    );
    net.add(LIVE, "two.tld.", vec![a("www.two.tld.", "192.0.2.12")]);
    net.add(LIVE, "warm.tld.", vec![a("www.warm.tld.", "192.0.2.13")]);
    net.with_server(DEAD, |s| s.dead = true);
    net.with_server(LIVE, |s| s.latency = Duration::from_millis(50));
    let r = recursor_with(&net, no_minimisation(), DnsCache::new(100));
    // The live server's RTT is learnt first, so the dead (never tried) one is picked first.
    r.resolve(&n("www.warm.tld."), RecordType::A).await.unwrap();
    let res = r.resolve(&n("www.two.tld."), RecordType::A).await.unwrap();
    assert_eq!(addrs(&res), vec![ip("192.0.2.12")]);
    let asked: Vec<IpAddr> = net
        .log()
        .into_iter()
        .filter(|s| s.name == n("www.two.tld.") && s.ip != ip(ROOT) && s.ip != ip(TLD))
        .map(|s| s.ip)
        .collect();
    assert_eq!(asked, vec![ip(DEAD), ip(LIVE)]);
    assert!(r.server_srtt(ip(DEAD)).unwrap() >= Duration::from_secs(1));

    // Now the dead server is known to be bad and is not tried first.
    let before = net.count();
    net.add(LIVE, "two.tld.", vec![a("ftp.two.tld.", "192.0.2.14")]);
    r.resolve(&n("ftp.two.tld."), RecordType::A).await.unwrap();
    let ips: Vec<IpAddr> = net.log()[before..].iter().map(|s| s.ip).collect();
    assert_eq!(ips, vec![ip(LIVE)]);
}

#[tokio::test(start_paused = true)]
async fn all_servers_dead_is_an_error_naming_the_zone() {
    let net = hierarchy();
    net.add(
        TLD,
        "tld.",
        vec![
            ns("down.tld.", "ns1.down.tld."),
            ns("down.tld.", "ns2.down.tld."),
            a("ns1.down.tld.", "10.0.9.1"),
            a("ns2.down.tld.", "10.0.9.2"),
        ],
    );
    let r = recursor(&net);
    let err = r
        .resolve(&n("www.down.tld."), RecordType::A)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "all name servers for down.tld. timed out");
    assert_eq!(net.asked("10.0.9.1").len(), 1);
    assert_eq!(net.asked("10.0.9.2").len(), 1);

    // SERVFAIL from every server is reported too.
    net.with_server(EXAMPLE, |s| s.rcode = Some(ResponseCode::ServFail));
    let err = r
        .resolve(&n("www.example.tld."), RecordType::A)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("all name servers for example.tld. failed"),
        "{message}"
    );
    assert!(message.contains("Server Failure"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn out_of_bailiwick_records_are_neither_returned_nor_cached() {
    let net = hierarchy();
    net.with_server(EXAMPLE, |s| s.poison = vec![a("www.bank.tld.", "6.6.6.6")]);
    let r = recursor(&net);
    let res = r
        .resolve(&n("www.example.tld."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(res.answers.len(), 1);
    assert_eq!(addrs(&res), vec![ip("192.0.2.1")]);
    assert!(r.cache().get(&n("www.bank.tld."), RecordType::A).is_none());

    let res = r.resolve(&n("www.bank.tld."), RecordType::A).await.unwrap();
    assert_eq!(addrs(&res), vec![ip("192.0.2.20")]);
    assert_eq!(net.asked(BANK).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_identical_questions_share_one_resolution() {
    let net = hierarchy();
    for server in [ROOT, TLD, EXAMPLE] {
        net.with_server(server, |s| s.latency = Duration::from_millis(20));
    }
    let r = Arc::new(recursor(&net));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let r = r.clone();
        tasks.spawn(async move { r.resolve(&n("www.example.tld."), RecordType::A).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(addrs(&result.unwrap().unwrap()), vec![ip("192.0.2.1")]);
    }
    assert_eq!(net.count(), 3, "{:?}", net.log());
    assert_eq!(r.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_query_budget_is_enforced() {
    let net = hierarchy();
    let options = RecursorOptions {
        max_queries: 2,
        ..RecursorOptions::default()
    };
    let r = recursor_with(&net, options, DnsCache::new(100));
    let err = r
        .resolve(&n("www.example.tld."), RecordType::A)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RecursionError::QueryBudgetExhausted { limit: 2, .. }),
        "{err}"
    );
    assert_eq!(net.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn referral_depth_is_limited() {
    let net = hierarchy();
    let options = RecursorOptions {
        max_referrals: 1,
        ..RecursorOptions::default()
    };
    let r = recursor_with(&net, options, DnsCache::new(100));
    let err = r
        .resolve(&n("www.example.tld."), RecordType::A)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RecursionError::TooManyReferrals { .. }),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_faster_server_is_preferred() {
    let net = hierarchy();
    const FAST: &str = "10.0.10.1";
    const SLOW: &str = "10.0.10.2";
    net.add(
        TLD,
        "tld.",
        vec![
            ns("fast.tld.", "ns1.fast.tld."),
            ns("fast.tld.", "ns2.fast.tld."),
            a("ns1.fast.tld.", FAST),
            a("ns2.fast.tld.", SLOW),
        ],
    );
    for server in [FAST, SLOW] {
        let records = (0..10)
            .map(|i| a(&format!("h{i}.fast.tld."), "192.0.2.30"))
            .collect();
        net.add(server, "fast.tld.", records);
    }
    net.with_server(FAST, |s| s.latency = Duration::from_millis(5));
    net.with_server(SLOW, |s| s.latency = Duration::from_millis(300));
    let r = recursor(&net);
    for i in 0..10 {
        r.resolve(&n(&format!("h{i}.fast.tld.")), RecordType::A)
            .await
            .unwrap();
    }
    let (fast, slow) = (net.asked(FAST).len(), net.asked(SLOW).len());
    assert_eq!(fast + slow, 10);
    assert!(fast >= 8 && slow <= 2, "fast {fast}, slow {slow}");
    assert!(r.server_srtt(ip(FAST)).unwrap() < r.server_srtt(ip(SLOW)).unwrap());
}

#[tokio::test(start_paused = true)]
async fn stale_answers_are_served_when_the_servers_fail() {
    let net = hierarchy();
    let cache = DnsCache::new(100).with_serve_stale(Duration::from_secs(3600));
    let r = recursor_with(&net, RecursorOptions::default(), cache);
    let www = n("www.example.tld.");
    r.resolve(&www, RecordType::A).await.unwrap();
    tokio::time::advance(Duration::from_secs(301)).await;
    net.with_server(EXAMPLE, |s| s.dead = true);
    let stale = r.resolve(&www, RecordType::A).await.unwrap();
    assert_eq!(addrs(&stale), vec![ip("192.0.2.1")]);
    assert_eq!(stale.answers[0].ttl, 30);
    // Unknown names still fail.
    let err = r
        .resolve(&n("ftp.example.tld."), RecordType::A)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("example.tld."), "{err}");
}

#[tokio::test(start_paused = true)]
async fn zone_transfers_are_not_resolved() {
    let net = hierarchy();
    let r = recursor(&net);
    let err = r
        .resolve(&n("example.tld."), RecordType::AXFR)
        .await
        .unwrap_err();
    assert!(matches!(err, RecursionError::UnsupportedType { .. }));
    assert_eq!(net.count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Forwarder

const UP1: &str = "192.0.2.53";
const UP2: &str = "198.51.100.53";

/// Two "recursive" upstreams answering for example.tld. directly.
fn upstreams() -> Net {
    let net = Net::default();
    for up in [UP1, UP2] {
        net.add(up, "example.tld.", vec![a("www.example.tld.", "192.0.2.1")]);
    }
    net
}

fn forwarder(net: &Net) -> Forwarder<Net> {
    let servers = [UP1, UP2]
        .iter()
        .map(|s| SocketAddr::new(ip(s), 53))
        .collect();
    Forwarder::new(net.clone(), servers, Arc::new(DnsCache::new(100)))
}

#[tokio::test(start_paused = true)]
async fn forwarder_fails_over_and_remembers_the_live_upstream() {
    let net = upstreams();
    net.with_server(UP1, |s| s.dead = true);
    let f = forwarder(&net);
    let res = f
        .resolve(&n("www.example.tld."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(addrs(&res), vec![ip("192.0.2.1")]);
    let ips: Vec<IpAddr> = net.log().iter().map(|s| s.ip).collect();
    assert_eq!(ips, vec![ip(UP1), ip(UP2)]);
    assert!(
        net.log().iter().all(|s| s.rd),
        "forwarded queries ask for recursion"
    );
    assert_eq!(f.preferred_upstream(), Some(SocketAddr::new(ip(UP2), 53)));

    // The next question goes straight to the live one.
    f.resolve(&n("ftp.example.tld."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(net.asked(UP1).len(), 1);
    assert_eq!(net.asked(UP2).len(), 2);

    // SERVFAIL and REFUSED fail over too.
    net.with_server(UP1, |s| s.dead = false);
    net.with_server(UP2, |s| s.rcode = Some(ResponseCode::Refused));
    let res = f
        .resolve(&n("www.example.tld."), RecordType::MX)
        .await
        .unwrap();
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(f.preferred_upstream(), Some(SocketAddr::new(ip(UP1), 53)));

    net.with_server(UP1, |s| s.rcode = Some(ResponseCode::ServFail));
    let err = f
        .resolve(&n("mail.example.tld."), RecordType::A)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("all upstream resolvers failed"),
        "{message}"
    );
    assert!(
        message.contains("Server Failure") && message.contains("Refused"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn forwarder_caches_positive_and_negative_answers() {
    let net = upstreams();
    let f = forwarder(&net);
    let www = n("www.example.tld.");
    f.resolve(&www, RecordType::A).await.unwrap();
    let nx = f
        .resolve(&n("nope.example.tld."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert_eq!(nx.authorities[0].ttl, 60);
    let nodata = f.resolve(&www, RecordType::AAAA).await.unwrap();
    assert_eq!(nodata.rcode, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(net.count(), 3);

    tokio::time::advance(Duration::from_secs(50)).await;
    let hit = f.resolve(&www, RecordType::A).await.unwrap();
    assert_eq!(hit.answers[0].ttl, 250);
    let nx = f
        .resolve(&n("nope.example.tld."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert_eq!(nx.authorities[0].ttl, 10);
    f.resolve(&www, RecordType::AAAA).await.unwrap();
    assert_eq!(net.count(), 3, "all from the cache");

    tokio::time::advance(Duration::from_secs(10)).await;
    f.resolve(&n("nope.example.tld."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(net.count(), 4);
}

#[tokio::test(start_paused = true)]
async fn forwarder_coalesces_identical_questions() {
    let net = upstreams();
    net.with_server(UP1, |s| s.latency = Duration::from_millis(30));
    let f = Arc::new(forwarder(&net));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let f = f.clone();
        tasks.spawn(async move { f.resolve(&n("www.example.tld."), RecordType::A).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert!(result.unwrap().is_ok());
    }
    assert_eq!(net.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn forwarder_without_upstreams_fails_cleanly() {
    let net = upstreams();
    let f = Forwarder::new(net.clone(), Vec::new(), Arc::new(DnsCache::new(10)));
    let err = f
        .resolve(&n("www.example.tld."), RecordType::A)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no upstream"), "{err}");
    assert_eq!(f.preferred_upstream(), None);
}
