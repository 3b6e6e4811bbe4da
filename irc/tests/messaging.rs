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

/// IRCv3 labeled-response for messages, as irctest's labeled_responses checks it: the label
/// goes to the sender only, on the echo when there is one, else on an ACK.
#[tokio::test(start_paused = true)]
async fn labeled_messages_to_self_to_a_client_and_to_a_channel() {
    let s = server();
    let all = "labeled-response batch echo-message message-tags";
    let mut a = register_with_caps(&s, "a", all).await;
    let mut b = register_with_caps(&s, "b", all).await;
    let mut quiet = register_with_caps(&s, "q", "labeled-response batch message-tags").await;
    for c in [&mut a, &mut b, &mut quiet] {
        join(c, "#lab").await;
    }
    for c in [&mut a, &mut b, &mut quiet] {
        c.sync().await;
    }
    // To oneself with echo-message: two copies, only one of them labeled, no batch.
    a.send("@label=self1 PRIVMSG a :hi me").await;
    let lines = [a.line().await, a.line().await];
    let labeled: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("@label=self1 "))
        .collect();
    assert_eq!(labeled.len(), 1, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.ends_with(":a!~a@localhost PRIVMSG a :hi me")),
        "{lines:?}"
    );
    a.expect_nothing().await;
    // To oneself without echo-message: the one copy is the response.
    quiet.send("@label=self2 NOTICE q :note").await;
    quiet
        .expect("@label=self2 :q!~q@localhost NOTICE q :note")
        .await;
    quiet.expect_nothing().await;
    // To another client: the echo is labeled, the recipient's copy is not.
    a.send("@label=pm;+draft/reply=x PRIVMSG b :hello").await;
    a.expect("@label=pm;+draft/reply=x :a!~a@localhost PRIVMSG b :hello")
        .await;
    b.expect("@+draft/reply=x :a!~a@localhost PRIVMSG b :hello")
        .await;
    // Without echo-message: an ACK, and the recipient gets no label.
    quiet.send("@label=pm2 PRIVMSG b :from q").await;
    quiet.expect("@label=pm2 :irc.test ACK").await;
    b.expect(":q!~q@localhost PRIVMSG b :from q").await;
    // To a channel: only the sender's echo is labeled.
    a.send("@label=ch PRIVMSG #lab :all").await;
    a.expect("@label=ch :a!~a@localhost PRIVMSG #lab :all")
        .await;
    b.expect(":a!~a@localhost PRIVMSG #lab :all").await;
    quiet.expect(":a!~a@localhost PRIVMSG #lab :all").await;
    quiet.send("@label=ch2 NOTICE #lab :n").await;
    quiet.expect("@label=ch2 :irc.test ACK").await;
    a.expect(":q!~q@localhost NOTICE #lab :n").await;
    b.expect(":q!~q@localhost NOTICE #lab :n").await;
    // TAGMSG: the same rules.
    a.send("@label=t1;+typing=active TAGMSG :#lab").await;
    a.expect("@label=t1;+typing=active :a!~a@localhost TAGMSG :#lab")
        .await;
    b.expect("@+typing=active :a!~a@localhost TAGMSG :#lab")
        .await;
    quiet
        .expect("@+typing=active :a!~a@localhost TAGMSG :#lab")
        .await;
    quiet.send("@label=t2;+typing=done TAGMSG a").await;
    quiet.expect("@label=t2 :irc.test ACK").await;
    a.expect("@+typing=done :q!~q@localhost TAGMSG :a").await;
    // An unknown command answers 421 inside the label.
    a.send("@label=unk NOSUCHCOMMAND x").await;
    a.expect("@label=unk :irc.test 421 a NOSUCHCOMMAND :Unknown command")
        .await;
    for c in [&mut a, &mut b, &mut quiet] {
        c.expect_nothing().await;
    }
}

#[tokio::test(start_paused = true)]
async fn tagmsg_reaches_only_message_tags_clients_and_client_tags_are_relayed() {
    let s = server();
    let mut tagger = register_with_caps(&s, "t", "message-tags echo-message").await;
    let mut tags = register_with_caps(&s, "m", "message-tags").await;
    let mut plain = register(&s, "p").await;
    let mut timed = register_with_caps(&s, "s", "server-time").await;
    for c in [&mut tagger, &mut tags, &mut plain, &mut timed] {
        join(c, "#t").await;
    }
    for c in [&mut tagger, &mut tags, &mut plain, &mut timed] {
        c.sync().await;
    }
    // Client-only tags travel; a tag without `+` is the server's and is not relayed.
    tagger
        .send("@+draft/react=\\:);+draft/reply=1;msgid=forged TAGMSG :#t")
        .await;
    tagger
        .expect("@+draft/react=\\:);+draft/reply=1 :t!~t@localhost TAGMSG :#t")
        .await;
    tags.expect("@+draft/react=\\:);+draft/reply=1 :t!~t@localhost TAGMSG :#t")
        .await;
    // To a nick without message-tags: not delivered, no error (the sender's echo still
    // says the server took it).
    tagger.send("@+typing=active TAGMSG p").await;
    tagger.send("@+typing=active TAGMSG s").await;
    tagger
        .expect("@+typing=active :t!~t@localhost TAGMSG :p")
        .await;
    tagger
        .expect("@+typing=active :t!~t@localhost TAGMSG :s")
        .await;
    tagger.expect_nothing().await;
    plain.expect_nothing().await;
    timed.expect_nothing().await;
    tags.expect_nothing().await;
    // Errors like PRIVMSG's.
    tagger.send("TAGMSG nobody").await;
    tagger
        .expect(":irc.test 401 t nobody :No such nick/channel")
        .await;
    tagger.send("TAGMSG").await;
    tagger
        .expect(":irc.test 411 t :No recipient given (TAGMSG)")
        .await;
    // TAGMSG before registration is refused like any command.
    let mut early = connect(&s, "early");
    early.send("@+x TAGMSG :#t").await;
    early
        .expect(":irc.test 451 * :You have not registered")
        .await;
}

#[tokio::test(start_paused = true)]
async fn client_tag_budget_is_4094_bytes_and_relayed_lines_stay_within_8191() {
    let s = server();
    let caps = "message-tags server-time echo-message";
    let mut a = register_with_caps(&s, "a", caps).await;
    let mut b = register_with_caps(&s, "b", caps).await;
    a.sync().await;
    // "+t=" and the value: exactly 4094 bytes of tag data is accepted …
    let value = "v".repeat(4094 - 3);
    a.send(&format!("@+t={value} PRIVMSG b :big")).await;
    let got = b.line().await;
    let tag_section = got.split(' ').next().unwrap();
    assert!(tag_section.contains(&format!("+t={value}")), "{got}");
    assert!(tag_section.len() <= 8191, "{}", tag_section.len());
    assert!(got.ends_with(" :a!~a@localhost PRIVMSG b :big"), "{got}");
    a.until("PRIVMSG b :big").await;
    // … one more is refused with 417, and nothing is relayed.
    let value = "v".repeat(4094 - 2);
    a.send(&format!("@+t={value} PRIVMSG b :too big")).await;
    a.expect(":irc.test 417 a :Input line was too long").await;
    // A tag section as long as the server's own limit, and one past the framing limit.
    a.send(&format!("@+t={} PRIVMSG b :huge", "v".repeat(8000)))
        .await;
    a.expect(":irc.test 417 a :Input line was too long").await;
    a.send(&format!("@+t={} PRIVMSG b :huger", "v".repeat(9000)))
        .await;
    a.expect(":irc.test 417 a :Input line was too long").await;
    b.expect_nothing().await;
    // The session goes on.
    a.send("PRIVMSG b :small").await;
    b.until("PRIVMSG b :small").await;
}

#[tokio::test(start_paused = true)]
async fn invalid_utf8_is_refused_with_fail_and_never_relayed() {
    let s = server();
    let mut a = register_with_caps(&s, "a", "labeled-response").await;
    let mut b = register(&s, "b").await;
    join(&mut a, "#u").await;
    join(&mut b, "#u").await;
    a.sync().await;
    b.sync().await;
    // Latin-1 "café": not UTF-8.
    a.peer.send(b"PRIVMSG #u :caf\xe9\r\n").await;
    a.expect(
        ":irc.test FAIL PRIVMSG INVALID_UTF8 :Message rejected, your IRC software MUST use UTF-8 encoding on this network",
    )
    .await;
    a.peer.send(b"@label=x TOPIC #u :\xff\xfe\r\n").await;
    a.expect("@label=x :irc.test FAIL TOPIC INVALID_UTF8 :*")
        .await;
    a.peer.send(b"PRIVMSG b :\xc3\r\n").await;
    a.expect(":irc.test FAIL PRIVMSG INVALID_UTF8 :*").await;
    b.expect_nothing().await;
    // Valid UTF-8 goes through.
    a.send("PRIVMSG #u :café ☕").await;
    b.expect(":a!~a@localhost PRIVMSG #u :café ☕").await;
}
