//! Registration, capability negotiation, SASL, keepalive — in memory on a paused clock.

#![cfg(feature = "server")]

mod common;

use std::sync::Arc;

use common::*;
use torsion_core::cred::sasl::encode_plain;
use torsion_irc::server::IrcServer;

#[tokio::test(start_paused = true)]
async fn welcome_burst_has_isupport_lusers_and_motd() {
    let s = server();
    let mut c = connect(&s, "alice");
    c.send("NICK alice").await;
    c.send("USER al 0 * :Alice Liddell").await;
    c.expect(":irc.test 001 alice :Welcome to the TestNet IRC Network alice!~al@localhost")
        .await;
    c.expect(":irc.test 002 alice :Your host is irc.test, running version torsion-irc-*")
        .await;
    c.expect(":irc.test 003 alice :This server was created *")
        .await;
    let myinfo = c.line().await;
    assert!(myinfo.starts_with(":irc.test 004 alice irc.test torsion-irc-"));
    assert!(myinfo.ends_with(" iow beIiklmnost :beIklov"));
    let burst = c.collect_until(" 422 ").await;
    let isupport: String = burst
        .iter()
        .filter(|l| l.contains(" 005 "))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    for token in [
        "CASEMAPPING=rfc1459",
        "CHANTYPES=#",
        "CHANMODES=beI,k,l,imnst",
        "PREFIX=(ov)@+",
        "NICKLEN=30",
        "CHANNELLEN=64",
        "TOPICLEN=390",
        "NETWORK=TestNet",
        ":are supported by this server",
    ] {
        assert!(isupport.contains(token), "{token} missing from {isupport}");
    }
    assert!(burst.iter().all(|l| l.len() <= 510));
    assert!(burst
        .iter()
        .any(|l| l.contains(" 251 alice :There are 1 users")));
    assert!(burst
        .iter()
        .any(|l| l.contains(" 255 alice :I have 1 clients")));
    assert!(burst
        .last()
        .unwrap()
        .ends_with("422 alice :MOTD File is missing"));
}

#[tokio::test(start_paused = true)]
async fn motd_is_sent_when_configured() {
    let mut config = config();
    config.motd = Some(vec!["Be nice.".into(), "Second line".into()]);
    let s = Arc::new(IrcServer::new(config));
    let mut c = connect(&s, "bob");
    c.send("NICK bob").await;
    c.send("USER bob 0 * :Bob").await;
    c.until(" 375 ").await;
    c.expect(":irc.test 372 bob :- Be nice.").await;
    c.expect(":irc.test 372 bob :- Second line").await;
    c.expect(":irc.test 376 bob :End of /MOTD command.").await;
    c.send("MOTD").await;
    c.until(" 375 ").await;
}

#[tokio::test(start_paused = true)]
async fn commands_before_registration_get_451() {
    let s = server();
    let mut c = connect(&s, "x");
    c.send("JOIN #a").await;
    c.expect(":irc.test 451 * :You have not registered").await;
    c.send("PRIVMSG #a :hi").await;
    c.expect(":irc.test 451 * :You have not registered").await;
    c.send("PING x").await;
    c.expect(":irc.test PONG irc.test :x").await;
}

#[tokio::test(start_paused = true)]
async fn nick_errors() {
    let s = server();
    let _alice = register(&s, "alice").await;
    let mut c = connect(&s, "x");
    c.send("NICK").await;
    c.expect(":irc.test 431 * :No nickname given").await;
    c.send("NICK 9lives").await;
    c.expect(":irc.test 432 * 9lives :Erroneous nickname").await;
    c.send("NICK ALICE").await;
    c.expect(":irc.test 433 * ALICE :Nickname is already in use")
        .await;
    c.send(&format!("NICK {}", "n".repeat(31))).await;
    c.until(" 432 ").await;
    c.send("USER x 0 * :x").await;
    c.send("NICK Alice[1]").await;
    c.until(" 001 Alice[1] ").await;
    c.until(" 422 ").await;
    // rfc1459 casemapping: {} are the lower case of [].
    let mut d = connect(&s, "y");
    d.send("NICK alice{1}").await;
    d.expect(":irc.test 433 * alice{1} :Nickname is already in use")
        .await;
}

#[tokio::test(start_paused = true)]
async fn user_and_pass_after_registration_get_462() {
    let s = server();
    let mut c = register(&s, "carol").await;
    c.send("USER a b c d").await;
    c.expect(":irc.test 462 carol :You may not reregister")
        .await;
    c.send("PASS x").await;
    c.expect(":irc.test 462 carol :You may not reregister")
        .await;
    c.send("USER").await;
    c.expect(":irc.test 462 carol :You may not reregister")
        .await;
    let mut d = connect(&s, "d");
    d.send("USER a b").await;
    d.expect(":irc.test 461 * USER :Not enough parameters")
        .await;
}

#[tokio::test(start_paused = true)]
async fn user_with_an_empty_parameter_gets_461_and_registration_can_still_complete() {
    let s = server();
    let mut c = connect(&s, "e");
    // Modern IRC "USER message": empty parameters are refused with ERR_NEEDMOREPARAMS.
    c.send("USER u 0 * :").await;
    c.expect(":irc.test 461 * USER :Not enough parameters")
        .await;
    c.send("NICK e").await;
    c.send("USER : 0 * :Real").await;
    c.expect(":irc.test 461 e USER :Not enough parameters")
        .await;
    // Nothing was half-registered: NICK alone did not complete it, a good USER does.
    c.expect_nothing().await;
    c.send("USER u 0 * :Real Name").await;
    c.expect(":irc.test 001 e :Welcome*").await;
    c.until(" 422 ").await;
    c.send("WHOIS e").await;
    c.expect(":irc.test 311 e e ~u localhost * :Real Name")
        .await;
}

#[tokio::test(start_paused = true)]
async fn server_password_is_required_when_set() {
    let mut config = config();
    config.password = Some("letmein".into());
    let s = Arc::new(IrcServer::new(config));
    let mut bad = connect(&s, "bad");
    bad.send("PASS wrong").await;
    bad.send("NICK bad").await;
    bad.send("USER bad 0 * :Bad").await;
    bad.expect(":irc.test 464 bad :Password incorrect").await;
    bad.expect("ERROR :Closing Link: localhost (Bad password)")
        .await;
    bad.peer.expect_closed().await;
    let mut good = connect(&s, "good");
    good.send("PASS letmein").await;
    good.send("NICK good").await;
    good.send("USER good 0 * :Good").await;
    good.until(" 001 good ").await;
}

#[tokio::test(start_paused = true)]
async fn cap_negotiation_suspends_registration() {
    let s = server();
    let mut c = connect(&s, "dave");
    c.send("CAP LS 302").await;
    let ls = c.line().await;
    assert!(ls.starts_with(":irc.test CAP * LS :"), "{ls}");
    for cap in [
        "multi-prefix",
        "sasl=PLAIN",
        "message-tags",
        "server-time",
        "echo-message",
        "away-notify",
        "account-notify",
        "extended-join",
        "userhost-in-names",
        "invite-notify",
        "cap-notify",
        "chghost",
        "batch",
        "labeled-response",
    ] {
        assert!(ls.contains(cap), "{cap} missing: {ls}");
    }
    c.send("NICK dave").await;
    c.send("USER dave 0 * :Dave").await;
    c.send("CAP REQ :multi-prefix bogus").await;
    c.expect(":irc.test CAP dave NAK :multi-prefix bogus").await;
    c.send("CAP REQ :multi-prefix server-time").await;
    c.expect(":irc.test CAP dave ACK :multi-prefix server-time")
        .await;
    c.send("CAP LIST").await;
    c.expect(":irc.test CAP dave LIST :multi-prefix server-time")
        .await;
    c.send("CAP REQ -server-time").await;
    c.expect(":irc.test CAP dave ACK :-server-time").await;
    // No welcome yet: the client has not ended negotiation.
    c.expect_nothing().await;
    c.send("CAP END").await;
    c.until(" 001 dave ").await;
    c.send("CAP FOO").await;
    c.until(" 410 dave FOO :Invalid CAP command").await;
}

#[tokio::test(start_paused = true)]
async fn sasl_plain_success_and_failure() {
    let s = server();
    let mut c = connect(&s, "alice");
    c.send("CAP LS 302").await;
    c.line().await;
    c.send("NICK alice").await;
    c.send("USER alice 0 * :Alice").await;
    c.send("CAP REQ :sasl").await;
    c.expect(":irc.test CAP alice ACK :sasl").await;
    c.send("AUTHENTICATE SCRAM-SHA-256").await;
    c.expect(":irc.test 908 alice PLAIN :are available SASL mechanisms")
        .await;
    c.expect(":irc.test 904 alice :SASL authentication failed")
        .await;
    c.send("AUTHENTICATE PLAIN").await;
    c.expect("AUTHENTICATE +").await;
    c.send(&format!(
        "AUTHENTICATE {}",
        encode_plain("", "alice", b"wrong")
    ))
    .await;
    c.expect(":irc.test 904 alice :SASL authentication failed")
        .await;
    c.send("AUTHENTICATE PLAIN").await;
    c.expect("AUTHENTICATE +").await;
    c.send("AUTHENTICATE *").await;
    c.expect(":irc.test 906 alice :SASL authentication aborted")
        .await;
    c.send("AUTHENTICATE PLAIN").await;
    c.expect("AUTHENTICATE +").await;
    c.send(&format!(
        "AUTHENTICATE {}",
        encode_plain("", "alice", b"wonderland")
    ))
    .await;
    c.expect(":irc.test 900 alice alice!~alice@localhost alice :You are now logged in as alice")
        .await;
    c.expect(":irc.test 903 alice :SASL authentication successful")
        .await;
    c.send("AUTHENTICATE PLAIN").await;
    c.expect(":irc.test 907 alice :You have already authenticated using SASL")
        .await;
    c.send("CAP END").await;
    c.until(" 001 alice ").await;
    c.until(" 422 ").await;
    // WHOIS shows the account.
    c.send("WHOIS alice").await;
    c.until(" 330 alice alice alice :is logged in as").await;
}

#[tokio::test(start_paused = true)]
async fn sasl_needs_the_capability() {
    let s = server();
    let mut c = connect(&s, "x");
    c.send("AUTHENTICATE PLAIN").await;
    c.expect(":irc.test 904 * :SASL authentication failed")
        .await;
}

#[tokio::test(start_paused = true)]
async fn ping_timeout_and_keepalive() {
    let s = server();
    let mut c = register(&s, "sleepy").await;
    // Two minutes of silence: the server pings.
    tokio::time::sleep(std::time::Duration::from_secs(121)).await;
    c.expect("PING :irc.test").await;
    c.send("PONG irc.test").await;
    tokio::time::sleep(std::time::Duration::from_secs(121)).await;
    c.expect("PING :irc.test").await;
    // No answer: dropped a minute later.
    tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    c.expect("ERROR :Closing Link: localhost (Ping timeout: 180 seconds)")
        .await;
    c.peer.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn registration_timeout() {
    let s = server();
    let mut c = connect(&s, "slow");
    c.send("NICK slow").await;
    tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    c.expect("ERROR :Closing Link: localhost (Registration timed out)")
        .await;
    c.peer.expect_closed().await;
    assert!(s.network().find_nick("slow").is_none());
}

#[tokio::test(start_paused = true)]
async fn quit_tells_channel_members_and_frees_the_nick() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut b = register(&s, "b").await;
    join(&mut a, "#c").await;
    join(&mut b, "#c").await;
    a.until("JOIN :#c").await;
    b.send("QUIT :bye now").await;
    b.expect("ERROR :Closing Link: localhost (Quit: bye now)")
        .await;
    b.peer.expect_closed().await;
    a.expect(":b!~b@localhost QUIT :Quit: bye now").await;
    let mut again = register(&s, "b").await;
    again.send("WHOWAS b").await;
    again.until(" 314 b b ~b localhost * :Real b").await;
    again.until(" 369 b b :End of WHOWAS").await;
}

#[tokio::test(start_paused = true)]
async fn long_lines_get_417_and_the_session_goes_on() {
    let s = server();
    let mut c = register(&s, "longy").await;
    c.send(&format!("PRIVMSG longy :{}", "x".repeat(600))).await;
    c.expect(":irc.test 417 longy :Input line was too long")
        .await;
    // Beyond even the tag allowance: the framing discards it.
    c.send(&format!("PRIVMSG longy :{}", "y".repeat(20_000)))
        .await;
    c.expect(":irc.test 417 longy :Input line was too long")
        .await;
    c.send(&format!("@+t={} PING x", "v".repeat(5000))).await;
    c.expect(":irc.test 417 longy :Input line was too long")
        .await;
    c.send("PING still-here").await;
    c.expect(":irc.test PONG irc.test :still-here").await;
}

#[tokio::test(start_paused = true)]
async fn unknown_commands_get_421_and_garbage_is_ignored() {
    let s = server();
    let mut c = register(&s, "g").await;
    c.send("FROBNICATE x").await;
    c.expect(":irc.test 421 g FROBNICATE :Unknown command")
        .await;
    c.peer
        .send(b"\r\n   \r\n:only-a-source\r\n@bad\r\nPRIV\0MSG x\r\n")
        .await;
    c.expect_nothing().await;
}

#[tokio::test(start_paused = true)]
async fn flooding_is_delayed_then_disconnected() {
    let s = server();
    let mut c = register(&s, "flood").await;
    // A burst of 10 goes through at once; the 11th waits for a token (half a second).
    for i in 0..11 {
        c.send(&format!("PING {i}")).await;
    }
    for i in 0..11 {
        c.expect(&format!(":irc.test PONG irc.test :{i}")).await;
    }
    // Sustained: far more waiting input than the receive queue allows.
    let mut lines = String::new();
    for i in 0..1000 {
        lines.push_str(&format!("PRIVMSG flood :message number {i}\r\n"));
    }
    let _ = c.peer.try_send(lines).await;
    let rest = c.peer.read_to_close().await;
    assert!(
        rest.contains("ERROR :Closing Link: localhost (Excess Flood)"),
        "{}",
        &rest[rest.len().saturating_sub(300)..]
    );
}

#[tokio::test(start_paused = true)]
async fn operators_are_exempt_from_flood_control() {
    let s = server();
    let mut c = register(&s, "op").await;
    c.send("OPER admin secret").await;
    c.until(" 381 op :You are now an IRC operator").await;
    c.expect(":op MODE op :+o").await;
    let mut lines = String::new();
    for i in 0..200 {
        lines.push_str(&format!("PING {i}\r\n"));
    }
    c.peer.send(lines).await;
    for i in 0..200 {
        c.expect(&format!(":irc.test PONG irc.test :{i}")).await;
    }
}

/// Every connected client keeps one session future for as long as it stays: its size is most
/// of an idle client's memory (BENCHMARKS.md: 520 bytes in a release build, inside a 768-byte
/// task). A guard against a change that quietly makes every idle client bigger — e.g. a large
/// local kept across the session's wait, or an `async fn` that holds its arguments twice.
#[tokio::test]
async fn the_per_client_session_future_stays_small() {
    use torsion_core::Service;
    let (conn, _peer) = torsion_core::testkit::memory_pair();
    let session = server().handle(conn);
    let size = std::mem::size_of_val(&session);
    // 520 bytes in release builds and 528 in debug ones today; a little room, no more.
    let limit = 640;
    assert!(
        size <= limit,
        "the IRC session future is {size} bytes (limit {limit}): see BENCHMARKS.md, irc"
    );
}

/// Send `bytes` one byte every `every`, reading nothing back.
async fn trickle(c: &mut Client, bytes: &[u8], every: std::time::Duration) {
    for b in bytes {
        c.peer.send([*b]).await;
        tokio::time::sleep(every).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_registered_client_trickling_a_line_that_never_ends_is_closed() {
    use std::time::Duration;
    let s = server();
    // The runner's default per-frame deadline is longer than the keepalive: the unanswered
    // PING ends it (a trickled line never counts as activity).
    let mut c = register(&s, "slow").await;
    let started = tokio::time::Instant::now();
    trickle(&mut c, &[b'x'; 88], Duration::from_secs(2)).await;
    c.expect("PING :irc.test").await;
    c.expect("ERROR :Closing Link: localhost (Ping timeout: 180 seconds)")
        .await;
    c.peer.expect_closed().await;
    let elapsed = started.elapsed();
    assert!(
        (Duration::from_secs(180)..Duration::from_secs(183)).contains(&elapsed),
        "{elapsed:?}"
    );
    let elapsed = started.elapsed();
    assert!(
        (Duration::from_secs(180)..Duration::from_secs(183)).contains(&elapsed),
        "{elapsed:?}"
    );

    // With a shorter per-frame deadline (an operator's `--idle-timeout`), it is that deadline.
    let mut c = Client {
        peer: torsion_core::testkit::TestPeer::serve_with(s.clone(), |mut conn| {
            conn.set_frame_timeout(Some(Duration::from_secs(30)));
            conn
        }),
        nick: "slow2".into(),
    };
    c.send("NICK slow2").await;
    c.send("USER slow2 0 * :Slow").await;
    c.until(" 422 ").await;
    let started = tokio::time::Instant::now();
    trickle(&mut c, b"PRIVMSG slow2 :", Duration::from_secs(2)).await;
    c.expect("ERROR :Closing Link: localhost (Input line not completed in time)")
        .await;
    c.peer.expect_closed().await;
    let elapsed = started.elapsed();
    assert!(
        (Duration::from_secs(30)..Duration::from_secs(32)).contains(&elapsed),
        "{elapsed:?}"
    );
}
