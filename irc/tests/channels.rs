//! Channels: JOIN, PART, KICK, INVITE, TOPIC, NAMES, LIST, MODE — in memory, paused clock.

#![cfg(feature = "server")]

mod common;

use common::*;

#[tokio::test(start_paused = true)]
async fn join_creates_with_op_and_shows_topic_and_names() {
    let s = server();
    let mut a = register(&s, "alice").await;
    a.send("JOIN #Rust").await;
    a.expect(":alice!~alice@localhost JOIN :#Rust").await;
    a.expect(":irc.test 353 alice = #Rust :@alice").await;
    a.expect(":irc.test 366 alice #Rust :End of /NAMES list")
        .await;
    a.send("TOPIC #rust :Systems programming").await;
    a.expect(":alice!~alice@localhost TOPIC #Rust :Systems programming")
        .await;
    let mut b = register(&s, "bob").await;
    b.send("JOIN #RUST").await;
    b.expect(":bob!~bob@localhost JOIN :#Rust").await;
    b.expect(":irc.test 332 bob #Rust :Systems programming")
        .await;
    b.expect(":irc.test 333 bob #Rust alice!~alice@localhost *")
        .await;
    let names = b.line().await;
    assert!(
        names == ":irc.test 353 bob = #Rust :@alice bob"
            || names == ":irc.test 353 bob = #Rust :bob @alice",
        "{names}"
    );
    b.expect(":irc.test 366 bob #Rust :End of /NAMES list")
        .await;
    a.expect(":bob!~bob@localhost JOIN :#Rust").await;
    // Joining again is a no-op.
    b.send("JOIN #rust").await;
    b.expect_nothing().await;
}

#[tokio::test(start_paused = true)]
async fn join_errors_and_several_channels_with_keys() {
    let s = server();
    let mut a = register(&s, "a").await;
    a.send("JOIN").await;
    a.expect(":irc.test 461 a JOIN :Not enough parameters")
        .await;
    a.send("JOIN nohash").await;
    a.expect(":irc.test 403 a nohash :No such channel").await;
    join(&mut a, "#locked").await;
    a.send("MODE #locked +k sesame").await;
    a.expect(":a!~a@localhost MODE #locked +k :sesame").await;
    let mut b = register(&s, "b").await;
    b.send("JOIN #locked,#open").await;
    b.expect(":irc.test 475 b #locked :Cannot join channel (+k)")
        .await;
    b.expect(":b!~b@localhost JOIN :#open").await;
    b.until(" 366 ").await;
    b.send("JOIN #locked,#other sesame").await;
    b.expect(":b!~b@localhost JOIN :#locked").await;
    b.until(" 366 b #locked").await;
    b.expect(":b!~b@localhost JOIN :#other").await;
    b.until(" 366 b #other").await;
    // JOIN 0 parts everything.
    b.send("JOIN 0").await;
    let parts = b.collect_until("PART").await;
    assert_eq!(parts.len(), 1);
    b.until("PART").await;
    b.until("PART").await;
    b.send("WHOIS b").await;
    let whois = b.collect_until(" 318 ").await;
    assert!(!whois.iter().any(|l| l.contains(" 319 ")), "{whois:?}");
}

#[tokio::test(start_paused = true)]
async fn invite_only_limit_and_bans() {
    let s = server();
    let mut op = register(&s, "op").await;
    join(&mut op, "#club").await;
    op.send("MODE #club +il 2").await;
    op.expect(":op!~op@localhost MODE #club +il :2").await;
    let mut guest = register(&s, "guest").await;
    guest.send("JOIN #club").await;
    guest
        .expect(":irc.test 473 guest #club :Cannot join channel (+i)")
        .await;
    op.send("INVITE guest #club").await;
    op.expect(":irc.test 341 op guest :#club").await;
    guest.expect(":op!~op@localhost INVITE guest :#club").await;
    join(&mut guest, "#club").await;
    // Full now (+l 2), even for an invex'd user.
    op.send("MODE #club -i+I third!*@*").await;
    op.until("MODE #club -i+I :third!*@*").await;
    let mut third = register(&s, "third").await;
    third.send("JOIN #club").await;
    third
        .expect(":irc.test 471 third #club :Cannot join channel (+l)")
        .await;
    op.send("MODE #club -l+b third").await;
    op.until("MODE #club -l+b :third!*@*").await;
    third.send("JOIN #club").await;
    third
        .expect(":irc.test 474 third #club :Cannot join channel (+b)")
        .await;
    op.send("MODE #club +e *!*@localhost").await;
    op.until("MODE #club +e :*!*@localhost").await;
    join(&mut third, "#club").await;
    op.send("MODE #club b").await;
    op.until(" 367 op #club third!*@* op!~op@localhost ").await;
    op.expect(":irc.test 368 op #club :End of channel ban list")
        .await;
    op.send("MODE #club e").await;
    op.until(" 348 op #club *!*@localhost ").await;
    op.until(" 349 ").await;
    op.send("MODE #club I").await;
    op.until(" 346 op #club third!*@* ").await;
    op.until(" 347 ").await;
}

#[tokio::test(start_paused = true)]
async fn invite_errors() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut b = register(&s, "b").await;
    join(&mut a, "#x").await;
    join(&mut b, "#x").await;
    a.until("JOIN").await;
    a.send("INVITE").await;
    a.expect(":irc.test 461 a INVITE :Not enough parameters")
        .await;
    a.send("INVITE nobody #x").await;
    a.expect(":irc.test 401 a nobody :No such nick/channel")
        .await;
    a.send("INVITE b #x").await;
    a.expect(":irc.test 443 a b #x :is already on channel")
        .await;
    a.send("INVITE b #nochan").await;
    a.expect(":irc.test 403 a #nochan :No such channel").await;
    let mut c = register(&s, "c").await;
    c.send("INVITE a #x").await;
    c.expect(":irc.test 442 c #x :You're not on that channel")
        .await;
    a.send("MODE #x +i").await;
    a.until("MODE #x :+i").await;
    b.send("INVITE c #x").await;
    b.until(" 482 b #x :You're not channel operator").await;
}

#[tokio::test(start_paused = true)]
async fn part_and_kick() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut b = register(&s, "b").await;
    join(&mut a, "#k").await;
    join(&mut b, "#k").await;
    a.until("JOIN").await;
    b.send("KICK #k a").await;
    b.expect(":irc.test 482 b #k :You're not channel operator")
        .await;
    a.send("KICK #k nobody").await;
    a.expect(":irc.test 441 a nobody #k :They aren't on that channel")
        .await;
    a.send("KICK #nope b").await;
    a.expect(":irc.test 403 a #nope :No such channel").await;
    a.send("KICK #k b :be nice").await;
    a.expect(":a!~a@localhost KICK #k b :be nice").await;
    b.expect(":a!~a@localhost KICK #k b :be nice").await;
    // A second KICK of someone who is no longer there: 441, no KICK message.
    a.send("KICK #k b").await;
    a.expect(":irc.test 441 a b #k :They aren't on that channel")
        .await;
    a.expect_nothing().await;
    b.expect_nothing().await;
    b.send("PART #k").await;
    b.expect(":irc.test 442 b #k :You're not on that channel")
        .await;
    b.send("PART #gone").await;
    b.expect(":irc.test 403 b #gone :No such channel").await;
    join(&mut b, "#k").await;
    a.until("JOIN").await;
    b.send("PART #k :see you").await;
    b.expect(":b!~b@localhost PART #k :see you").await;
    a.expect(":b!~b@localhost PART #k :see you").await;
    // The last one out: the channel disappears.
    a.send("PART #k").await;
    a.expect(":a!~a@localhost PART :#k").await;
    a.send("LIST").await;
    a.expect(":irc.test 321 a Channel :Users  Name").await;
    a.expect(":irc.test 323 a :End of /LIST").await;
}

#[tokio::test(start_paused = true)]
async fn topic_rules() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut b = register(&s, "b").await;
    join(&mut a, "#t").await;
    a.send("TOPIC #t").await;
    a.expect(":irc.test 331 a #t :No topic is set").await;
    b.send("TOPIC #t :outsider").await;
    b.expect(":irc.test 442 b #t :You're not on that channel")
        .await;
    join(&mut b, "#t").await;
    b.send("TOPIC #t :not op").await;
    b.expect(":irc.test 482 b #t :You're not channel operator")
        .await;
    a.send("MODE #t -t").await;
    a.until("MODE #t :-t").await;
    b.until("MODE #t :-t").await;
    b.send("TOPIC #t :now anyone").await;
    b.expect(":b!~b@localhost TOPIC #t :now anyone").await;
    a.until("TOPIC #t :now anyone").await;
    b.send("TOPIC #t :").await;
    b.expect(":b!~b@localhost TOPIC #t :").await;
    b.send("TOPIC #t").await;
    b.expect(":irc.test 331 b #t :No topic is set").await;
    b.send("TOPIC").await;
    b.expect(":irc.test 461 b TOPIC :Not enough parameters")
        .await;
}

#[tokio::test(start_paused = true)]
async fn channel_modes_query_and_errors() {
    let s = server();
    let mut a = register(&s, "a").await;
    join(&mut a, "#m").await;
    a.send("MODE #m").await;
    a.expect(":irc.test 324 a #m :+nt").await;
    a.until(" 329 a #m ").await;
    a.send("MODE #m +zk").await;
    a.expect(":irc.test 472 a z :is unknown mode char to me")
        .await;
    a.expect(":irc.test 461 a MODE :Not enough parameters")
        .await;
    a.send("MODE #m +smk key").await;
    a.expect(":a!~a@localhost MODE #m +smk :key").await;
    a.send("MODE #m").await;
    a.expect(":irc.test 324 a #m +mnstk :key").await;
    a.until(" 329 ").await;
    let mut b = register(&s, "b").await;
    b.send("MODE #m").await;
    b.expect(":irc.test 324 b #m +mnstk :*").await;
    b.until(" 329 ").await;
    b.send("MODE #m -s").await;
    b.expect(":irc.test 442 b #m :You're not on that channel")
        .await;
    b.send("MODE #none").await;
    b.expect(":irc.test 403 b #none :No such channel").await;
    // Secret channels are hidden from LIST and NAMES for outsiders.
    b.send("LIST").await;
    b.expect(":irc.test 321 b Channel :Users  Name").await;
    b.expect(":irc.test 323 b :End of /LIST").await;
    b.send("NAMES #m").await;
    b.expect(":irc.test 366 b #m :End of /NAMES list").await;
}

#[tokio::test(start_paused = true)]
async fn op_and_voice_with_multi_prefix() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut b = register_with_caps(&s, "b", "multi-prefix userhost-in-names").await;
    join(&mut a, "#p").await;
    join(&mut b, "#p").await;
    a.until("JOIN").await;
    a.send("MODE #p +ov b b").await;
    a.expect(":a!~a@localhost MODE #p +ov b :b").await;
    b.expect(":a!~a@localhost MODE #p +ov b :b").await;
    b.send("NAMES #p").await;
    let names = b.line().await;
    assert!(names.contains("@+b!~b@localhost"), "{names}");
    assert!(names.contains("@a!~a@localhost"), "{names}");
    b.until(" 366 ").await;
    a.send("NAMES #p").await;
    let names = a.line().await;
    assert!(names.contains("@b") && !names.contains("@+b"), "{names}");
    a.until(" 366 ").await;
    a.send("MODE #p +o ghost").await;
    a.expect(":irc.test 401 a ghost :No such nick/channel")
        .await;
    let _c = register(&s, "c").await;
    a.send("MODE #p +v c").await;
    a.expect(":irc.test 441 a c #p :They aren't on that channel")
        .await;
    a.send("MODE #p -o b").await;
    a.expect(":a!~a@localhost MODE #p -o :b").await;
    // WHO shows the prefixes.
    a.send("WHO #p").await;
    let who = a.collect_until(" 315 ").await;
    assert!(
        who.iter()
            .any(|l| l.contains(" 352 a #p ~b localhost irc.test b H+ :0 Real b")),
        "{who:?}"
    );
    assert!(who.iter().any(|l| l.contains(" a H@ :0 Real a")), "{who:?}");
}

#[tokio::test(start_paused = true)]
async fn list_with_filters() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut b = register(&s, "b").await;
    join(&mut a, "#big").await;
    join(&mut b, "#big").await;
    join(&mut a, "#small").await;
    a.send("TOPIC #small :tiny").await;
    a.until("TOPIC").await;
    a.send("LIST").await;
    a.expect(":irc.test 321 a Channel :Users  Name").await;
    a.expect(":irc.test 322 a #big 2 :").await;
    a.expect(":irc.test 322 a #small 1 :tiny").await;
    a.expect(":irc.test 323 a :End of /LIST").await;
    a.send("LIST >1").await;
    a.until(" 321 ").await;
    a.expect(":irc.test 322 a #big 2 :").await;
    a.expect(":irc.test 323 a :End of /LIST").await;
    a.send("LIST #SMALL").await;
    a.until(" 321 ").await;
    a.expect(":irc.test 322 a #small 1 :tiny").await;
    a.until(" 323 ").await;
}

#[tokio::test(start_paused = true)]
async fn persistent_channels_survive_being_empty() {
    let mut config = config();
    config.channels.push("#lobby".into());
    let s = std::sync::Arc::new(torsion_irc::server::IrcServer::new(config));
    let mut a = register(&s, "a").await;
    a.send("LIST").await;
    a.until(" 322 a #lobby 0 :").await;
    join(&mut a, "#lobby").await;
    a.send("PART #lobby").await;
    a.until("PART").await;
    a.send("LIST").await;
    a.until(" 322 a #lobby 0 :").await;
}

#[tokio::test(start_paused = true)]
async fn channel_limit_per_user() {
    let mut config = config();
    config.limits.channels_per_user = 2;
    let s = std::sync::Arc::new(torsion_irc::server::IrcServer::new(config));
    let mut a = register(&s, "a").await;
    join(&mut a, "#1").await;
    join(&mut a, "#2").await;
    a.send("JOIN #3").await;
    a.expect(":irc.test 405 a #3 :You have joined too many channels")
        .await;
}

#[tokio::test(start_paused = true)]
async fn extended_join_and_away_notify() {
    let s = server();
    let mut watcher = register_with_caps(&s, "w", "extended-join away-notify").await;
    join(&mut watcher, "#e").await;
    let mut b = register(&s, "b").await;
    b.send("AWAY :lunch").await;
    b.expect(":irc.test 306 b :You have been marked as being away")
        .await;
    join(&mut b, "#e").await;
    watcher.expect(":b!~b@localhost JOIN #e * :Real b").await;
    watcher.expect(":b!~b@localhost AWAY :lunch").await;
    b.send("AWAY").await;
    b.expect(":irc.test 305 b :You are no longer marked as being away")
        .await;
    watcher.expect(":b!~b@localhost AWAY").await;
}

#[tokio::test(start_paused = true)]
async fn kick_without_a_comment_uses_the_kickers_nick_and_a_repeated_target_is_kicked_once() {
    let s = server();
    let mut op = register(&s, "op").await;
    let mut v = register(&s, "victim").await;
    let mut w = register(&s, "watcher").await;
    join(&mut op, "#k").await;
    join(&mut v, "#k").await;
    join(&mut w, "#k").await;
    op.sync().await;
    v.sync().await;
    // RFC 2812 §3.2.8: the default comment is the kicker's nick.
    op.send("KICK #k victim").await;
    for c in [&mut op, &mut v, &mut w] {
        c.expect(":op!~op@localhost KICK #k victim :op").await;
    }
    join(&mut v, "#k").await;
    op.sync().await;
    w.sync().await;
    // The same target twice in one command: one KICK, then 441.
    op.send("KICK #k victim,victim :twice").await;
    op.expect(":op!~op@localhost KICK #k victim :twice").await;
    op.expect(":irc.test 441 op victim #k :They aren't on that channel")
        .await;
    w.expect(":op!~op@localhost KICK #k victim :twice").await;
    v.expect(":op!~op@localhost KICK #k victim :twice").await;
    for c in [&mut op, &mut v, &mut w] {
        c.expect_nothing().await;
    }
}
