//! PRIVMSG/NOTICE, IRCv3 tags on relayed messages, SendQ — in memory, paused clock.

#![cfg(feature = "server")]

mod common;

use common::*;

#[tokio::test(start_paused = true)]
async fn channel_messages_reach_everyone_else() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut b = register(&s, "b").await;
    let mut c = register(&s, "c").await;
    for x in [&mut a, &mut b, &mut c] {
        join(x, "#room").await;
    }
    a.sync().await;
    b.sync().await;
    a.send("PRIVMSG #room :hello all").await;
    b.expect(":a!~a@localhost PRIVMSG #room :hello all").await;
    c.expect(":a!~a@localhost PRIVMSG #room :hello all").await;
    a.expect_nothing().await;
    c.send("NOTICE #ROOM :note").await;
    a.expect(":c!~c@localhost NOTICE #room :note").await;
    b.expect(":c!~c@localhost NOTICE #room :note").await;
}

#[tokio::test(start_paused = true)]
async fn private_messages_and_away_replies() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut b = register(&s, "b").await;
    a.send("PRIVMSG B :psst").await;
    b.expect(":a!~a@localhost PRIVMSG b :psst").await;
    b.send("AWAY :gone fishing").await;
    b.until(" 306 ").await;
    a.send("PRIVMSG b :are you there").await;
    a.expect(":irc.test 301 a b :gone fishing").await;
    b.expect(":a!~a@localhost PRIVMSG b :are you there").await;
    // NOTICE gets no automatic replies.
    a.send("NOTICE b :fyi").await;
    b.expect(":a!~a@localhost NOTICE b :fyi").await;
    a.expect_nothing().await;
    a.send("PRIVMSG a,b :both").await;
    a.expect(":a!~a@localhost PRIVMSG a :both").await;
    b.expect(":a!~a@localhost PRIVMSG b :both").await;
}

#[tokio::test(start_paused = true)]
async fn message_errors() {
    let s = server();
    let mut a = register(&s, "a").await;
    a.send("PRIVMSG").await;
    a.expect(":irc.test 411 a :No recipient given (PRIVMSG)")
        .await;
    a.send("PRIVMSG a").await;
    a.expect(":irc.test 412 a :No text to send").await;
    a.send("PRIVMSG nobody :x").await;
    a.expect(":irc.test 401 a nobody :No such nick/channel")
        .await;
    a.send("PRIVMSG #nowhere :x").await;
    a.expect(":irc.test 401 a #nowhere :No such nick/channel")
        .await;
    a.send("PRIVMSG a,a,a,a,a :x").await;
    for _ in 0..4 {
        a.expect(":a!~a@localhost PRIVMSG a :x").await;
    }
    a.expect(":irc.test 407 a a :Too many targets").await;
    a.send("NOTICE nobody :x").await;
    a.send("NOTICE").await;
    a.expect_nothing().await;
}

#[tokio::test(start_paused = true)]
async fn no_external_moderated_and_banned() {
    let s = server();
    let mut op = register(&s, "op").await;
    let mut user = register(&s, "user").await;
    let mut outsider = register(&s, "out").await;
    join(&mut op, "#mod").await;
    join(&mut user, "#mod").await;
    op.sync().await;
    outsider.send("PRIVMSG #mod :hi from outside").await;
    outsider
        .expect(":irc.test 404 out #mod :Cannot send to channel")
        .await;
    op.send("MODE #mod -n").await;
    op.until("MODE").await;
    user.until("MODE").await;
    outsider.send("PRIVMSG #mod :now allowed").await;
    user.expect(":out!~out@localhost PRIVMSG #mod :now allowed")
        .await;
    op.until("now allowed").await;
    op.send("MODE #mod +m").await;
    op.until("MODE").await;
    user.until("MODE").await;
    user.send("PRIVMSG #mod :can I talk").await;
    user.expect(":irc.test 404 user #mod :Cannot send to channel")
        .await;
    op.send("MODE #mod +v user").await;
    op.until("MODE").await;
    user.until("MODE").await;
    user.send("PRIVMSG #mod :voiced now").await;
    op.expect(":user!~user@localhost PRIVMSG #mod :voiced now")
        .await;
    op.send("MODE #mod -mv+b user user").await;
    op.until("MODE").await;
    user.until("MODE").await;
    user.send("PRIVMSG #mod :banned").await;
    user.expect(":irc.test 404 user #mod :Cannot send to channel")
        .await;
    op.expect_nothing().await;
}

#[tokio::test(start_paused = true)]
async fn status_messages_reach_only_ops() {
    let s = server();
    let mut op = register(&s, "op").await;
    let mut plain = register(&s, "plain").await;
    join(&mut op, "#s").await;
    join(&mut plain, "#s").await;
    op.sync().await;
    plain.send("NOTICE @#s :ops only").await;
    op.expect(":plain!~plain@localhost NOTICE @#s :ops only")
        .await;
    plain.expect_nothing().await;
}

#[tokio::test(start_paused = true)]
async fn echo_message_server_time_and_client_tags() {
    let s = server();
    let mut tagger = register_with_caps(&s, "t", "echo-message message-tags server-time").await;
    let mut timeonly = register_with_caps(&s, "u", "server-time").await;
    let mut plain = register(&s, "p").await;
    for x in [&mut tagger, &mut timeonly, &mut plain] {
        join(x, "#tags").await;
    }
    tagger.sync().await;
    timeonly.sync().await;
    tagger
        .send("@+draft/reply=abc;+x=a\\sb PRIVMSG #tags :tagged")
        .await;
    let echo = tagger.line().await;
    assert!(echo.starts_with("@time="), "{echo}");
    assert!(
        echo.contains(";+draft/reply=abc;+x=a\\sb :t!~t@localhost PRIVMSG #tags :tagged"),
        "{echo}"
    );
    let timed = timeonly.line().await;
    assert!(timed.starts_with("@time=20"), "{timed}");
    assert!(
        timed.ends_with("Z :t!~t@localhost PRIVMSG #tags :tagged"),
        "{timed}"
    );
    plain.expect(":t!~t@localhost PRIVMSG #tags :tagged").await;
    // Private messages too.
    tagger.send("PRIVMSG p :direct").await;
    plain.expect(":t!~t@localhost PRIVMSG p :direct").await;
    tagger.until("PRIVMSG p :direct").await;
}

#[tokio::test(start_paused = true)]
async fn nick_changes_are_seen_by_channel_members_once() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut b = register(&s, "b").await;
    let mut stranger = register(&s, "s").await;
    join(&mut a, "#1").await;
    join(&mut a, "#2").await;
    join(&mut b, "#1").await;
    join(&mut b, "#2").await;
    a.sync().await;
    a.send("NICK alpha").await;
    a.expect(":a!~a@localhost NICK :alpha").await;
    b.expect(":a!~a@localhost NICK :alpha").await;
    b.expect_nothing().await;
    stranger.expect_nothing().await;
    b.send("PRIVMSG #1 :hi alpha").await;
    a.expect(":b!~b@localhost PRIVMSG #1 :hi alpha").await;
    // Case-only change is allowed.
    a.send("NICK ALPHA").await;
    a.expect(":alpha!~a@localhost NICK :ALPHA").await;
    a.send("NICK b").await;
    a.expect(":irc.test 433 ALPHA b :Nickname is already in use")
        .await;
    stranger.send("WHOWAS a").await;
    stranger.until(" 314 s a ~a localhost * :Real a").await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_does_not_read_is_dropped_for_sendq() {
    let mut config = config();
    config.limits.sendq = 64 * 1024;
    let s = std::sync::Arc::new(torsion_irc::server::IrcServer::new(config));
    let mut talker = register(&s, "talker").await;
    talker.send("OPER admin secret").await;
    talker.until(" 381 ").await;
    let mut sleeper = register(&s, "sleeper").await;
    join(&mut talker, "#big").await;
    join(&mut sleeper, "#big").await;
    talker.sync().await;
    let text = "x".repeat(400);
    // The in-memory pipe holds 64 KiB, the session's write buffer 64 KiB, the SendQ 64 KiB:
    // 2000 × ~430 bytes overflows all three.
    let mut batch = String::new();
    for _ in 0..2000 {
        batch.push_str(&format!("PRIVMSG #big :{text}\r\n"));
    }
    talker.peer.send(batch).await;
    talker
        .until(":sleeper!~sleeper@localhost QUIT :SendQ exceeded")
        .await;
    let rest = sleeper.peer.read_to_close().await;
    assert!(
        rest.ends_with("ERROR :Closing Link: localhost (SendQ exceeded)\n"),
        "{}",
        &rest[rest.len().saturating_sub(200)..]
    );
    assert!(s.network().find_nick("sleeper").is_none());
}

#[tokio::test(start_paused = true)]
async fn labeled_responses() {
    let s = server();
    let mut c = register_with_caps(
        &s,
        "lab",
        "labeled-response batch echo-message message-tags",
    )
    .await;
    let mut other = register(&s, "other").await;
    c.send("@label=abc PING x").await;
    c.expect("@label=abc :irc.test PONG irc.test :x").await;
    // Nothing to say: ACK.
    c.send("@label=n1 PONG x").await;
    c.expect("@label=n1 :irc.test ACK").await;
    // echo-message: the echo carries the label.
    c.send("@label=m1 PRIVMSG other :hi").await;
    c.expect("@label=m1 :lab!~lab@localhost PRIVMSG other :hi")
        .await;
    other.expect(":lab!~lab@localhost PRIVMSG other :hi").await;
    // Several lines: a labeled-response batch.
    c.send("@label=w;+x=y WHOIS other").await;
    c.expect("@label=w :irc.test BATCH +1 :labeled-response")
        .await;
    c.expect("@batch=1 :irc.test 311 lab other ~other localhost * :Real other")
        .await;
    let rest = c.collect_until("BATCH :-1").await;
    assert!(
        rest.iter()
            .all(|l| l.starts_with("@batch=1 ") || l == ":irc.test BATCH :-1"),
        "{rest:?}"
    );
    // Password checks happen off the lock; the reply is still labeled.
    c.send("@label=op OPER admin wrong").await;
    c.expect("@label=op :irc.test 464 lab :Password incorrect")
        .await;
    // Without the capability, labels are ignored.
    other.send("@label=zzz PING y").await;
    other.expect(":irc.test PONG irc.test :y").await;
}

#[tokio::test(start_paused = true)]
async fn a_burst_larger_than_the_write_buffer_is_delivered_without_waiting_for_input() {
    // Regression: a session that had 64 KiB in its write buffer stopped taking from its send
    // queue until the client sent something (or the PING timer fired).
    let s = server();
    let mut talker = register(&s, "talker").await;
    talker.send("OPER admin secret").await;
    talker.until(" 381 ").await;
    let mut reader = register(&s, "reader").await;
    join(&mut talker, "#burst").await;
    join(&mut reader, "#burst").await;
    talker.sync().await;
    let text = "z".repeat(400);
    let mut batch = String::new();
    for i in 0..400 {
        batch.push_str(&format!("PRIVMSG #burst :{i} {text}\r\n"));
    }
    talker.peer.send(batch).await;
    for i in 0..400 {
        let line = reader.line().await;
        assert!(
            line.starts_with(&format!(":talker!~talker@localhost PRIVMSG #burst :{i} ")),
            "message {i}: {}",
            &line[..line.len().min(80)]
        );
    }
}
