//! WHO, WHOIS, WHOWAS, ISON, USERHOST, VERSION, TIME, ADMIN, INFO, LUSERS, user modes,
//! OPER, KILL, WALLOPS — in memory, paused clock.

#![cfg(feature = "server")]

mod common;

use common::*;

#[tokio::test(start_paused = true)]
async fn whois_shows_the_user() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut b = register(&s, "b").await;
    join(&mut b, "#pub").await;
    join(&mut b, "#sec").await;
    b.send("MODE #sec +s").await;
    b.until("MODE").await;
    b.send("AWAY :brb").await;
    b.until(" 306 ").await;
    a.send("WHOIS B").await;
    a.expect(":irc.test 311 a b ~b localhost * :Real b").await;
    a.expect(":irc.test 319 a b :@#pub").await;
    a.expect(":irc.test 312 a b irc.test :TestNet IRC server")
        .await;
    a.expect(":irc.test 301 a b :brb").await;
    let idle = a.line().await;
    assert!(idle.starts_with(":irc.test 317 a b 0 "), "{idle}");
    assert!(idle.ends_with(" :seconds idle, signon time"), "{idle}");
    a.expect(":irc.test 318 a b :End of /WHOIS list").await;
    a.send("WHOIS irc.test nobody").await;
    a.expect(":irc.test 401 a nobody :No such nick/channel")
        .await;
    a.expect(":irc.test 318 a nobody :End of /WHOIS list").await;
    a.send("WHOIS").await;
    a.expect(":irc.test 431 a :No nickname given").await;
}

#[tokio::test(start_paused = true)]
async fn who_respects_invisibility() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut hidden = register(&s, "hidden").await;
    hidden.send("MODE hidden +i").await;
    hidden.expect(":hidden MODE hidden :+i").await;
    a.send("WHO hid*").await;
    a.expect(":irc.test 315 a hid* :End of WHO list").await;
    hidden.send("WHO hid*").await;
    hidden
        .expect(":irc.test 352 hidden * ~hidden localhost irc.test hidden H :0 Real hidden")
        .await;
    hidden.until(" 315 ").await;
    // Sharing a channel makes them visible.
    join(&mut a, "#c").await;
    join(&mut hidden, "#c").await;
    a.send("WHO hidden").await;
    a.until(" 352 a * ~hidden localhost irc.test hidden H :0 Real hidden")
        .await;
    a.until(" 315 ").await;
    a.send("WHO * o").await;
    a.expect(":irc.test 315 a * :End of WHO list").await;
}

#[tokio::test(start_paused = true)]
async fn ison_userhost_and_whowas() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut b = register(&s, "b").await;
    a.send("ISON b nobody A").await;
    a.expect(":irc.test 303 a :b a").await;
    b.send("AWAY :x").await;
    b.until(" 306 ").await;
    a.send("USERHOST a b nobody").await;
    a.expect(":irc.test 302 a :a=+~a@localhost b=-~b@localhost")
        .await;
    a.send("ISON").await;
    a.expect(":irc.test 461 a ISON :Not enough parameters")
        .await;
    a.send("WHOWAS ghost").await;
    a.expect(":irc.test 406 a ghost :There was no such nickname")
        .await;
    a.expect(":irc.test 369 a ghost :End of WHOWAS").await;
    a.send("WHOWAS").await;
    a.expect(":irc.test 431 a :No nickname given").await;
}

#[tokio::test(start_paused = true)]
async fn server_information_commands() {
    let s = server();
    let mut a = register(&s, "a").await;
    a.send("VERSION").await;
    a.expect(":irc.test 351 a torsion-irc-*").await;
    a.until(" 005 ").await;
    a.sync().await;
    a.send("TIME").await;
    a.expect(":irc.test 391 a irc.test *").await;
    a.send("ADMIN").await;
    a.expect(":irc.test 256 a irc.test :Administrative info")
        .await;
    a.expect(":irc.test 257 a *").await;
    a.expect(":irc.test 258 a *").await;
    a.expect(":irc.test 259 a *").await;
    a.send("INFO").await;
    a.until(" 374 a :End of /INFO list").await;
    a.send("LUSERS").await;
    a.expect(":irc.test 251 a :There are 1 users and 0 invisible on 1 servers")
        .await;
    a.expect(":irc.test 255 a :I have 1 clients and 0 servers")
        .await;
    a.expect(":irc.test 265 a 1 1 :Current local users 1, max 1")
        .await;
    a.expect(":irc.test 266 a 1 1 :Current global users 1, max 1")
        .await;
    a.send("MOTD").await;
    a.expect(":irc.test 422 a :MOTD File is missing").await;
}

#[tokio::test(start_paused = true)]
async fn user_modes() {
    let s = server();
    let mut a = register(&s, "a").await;
    let _b = register(&s, "b").await;
    a.send("MODE a").await;
    a.expect(":irc.test 221 a :+").await;
    a.send("MODE a +iwx").await;
    a.expect(":irc.test 501 a :Unknown MODE flag").await;
    a.expect(":a MODE a :+iw").await;
    a.send("MODE a +o").await;
    a.expect_nothing().await;
    a.send("MODE a").await;
    a.expect(":irc.test 221 a :+iw").await;
    a.send("MODE b").await;
    a.expect(":irc.test 502 a :Can't view modes for other users")
        .await;
    a.send("MODE b +i").await;
    a.expect(":irc.test 502 a :Can't change mode for other users")
        .await;
    a.send("MODE nobody").await;
    a.expect(":irc.test 401 a nobody :No such nick/channel")
        .await;
}

#[tokio::test(start_paused = true)]
async fn oper_kill_and_wallops() {
    let s = server();
    let mut a = register(&s, "a").await;
    let mut victim = register(&s, "victim").await;
    let mut listener = register(&s, "listener").await;
    listener.send("MODE listener +w").await;
    listener.until("MODE").await;
    a.send("KILL victim :spam").await;
    a.expect(":irc.test 481 a :Permission Denied- You're not an IRC operator")
        .await;
    a.send("WALLOPS :hello").await;
    a.expect(":irc.test 481 a :Permission Denied- You're not an IRC operator")
        .await;
    a.send("OPER admin wrong").await;
    a.expect(":irc.test 464 a :Password incorrect").await;
    a.send("OPER nobody secret").await;
    a.expect(":irc.test 464 a :Password incorrect").await;
    a.send("OPER admin").await;
    a.expect(":irc.test 461 a OPER :Not enough parameters")
        .await;
    a.send("OPER admin secret").await;
    a.expect(":irc.test 381 a :You are now an IRC operator")
        .await;
    a.expect(":a MODE a :+o").await;
    a.send("WHOIS a").await;
    a.until(" 313 a a :is an IRC operator").await;
    a.send("LUSERS").await;
    a.until(" 252 a 1 :operator(s) online").await;
    a.sync().await;
    a.send("WALLOPS :maintenance soon").await;
    listener
        .expect(":a!~a@localhost WALLOPS :maintenance soon")
        .await;
    a.send("KILL nobody :x").await;
    a.expect(":irc.test 401 a nobody :No such nick/channel")
        .await;
    a.send("KILL irc.test :x").await;
    a.expect(":irc.test 483 a :You can't kill a server!").await;
    a.send("KILL victim :spam").await;
    victim.expect(":a!~a@localhost KILL victim :spam").await;
    victim
        .expect("ERROR :Closing Link: localhost (Killed (a (spam)))")
        .await;
    victim.peer.expect_closed().await;
    a.send("ISON victim").await;
    a.expect(":irc.test 303 a :").await;
}

/// The LUSERS counters are kept incrementally; after every kind of change they must equal a
/// count over all clients.
#[tokio::test(start_paused = true)]
async fn lusers_counters_follow_registration_modes_opers_and_quits() {
    fn recount(s: &std::sync::Arc<torsion_irc::server::IrcServer>) -> (usize, usize, usize) {
        let net = s.network();
        let users = net.clients.values().filter(|c| c.registered).count();
        let invisible = net
            .clients
            .values()
            .filter(|c| c.registered && c.modes.invisible)
            .count();
        let opers = net.clients.values().filter(|c| c.modes.oper).count();
        (users, invisible, opers)
    }
    let check = |s: &std::sync::Arc<torsion_irc::server::IrcServer>, expected| {
        assert_eq!(s.network().lusers_counts(), expected);
        assert_eq!(recount(s), expected);
    };
    let s = server();
    let mut a = register(&s, "a").await;
    let mut b = register(&s, "b").await;
    check(&s, (2, 0, 0));
    a.send("MODE a +i").await;
    a.until("MODE").await;
    a.send("MODE a +i").await; // no change
    a.sync().await;
    check(&s, (2, 1, 0));
    b.send("OPER admin secret").await;
    b.until("MODE b :+o").await;
    check(&s, (2, 1, 1));
    b.send("MODE b -o").await;
    b.until("MODE b :-o").await;
    check(&s, (2, 1, 0));
    b.send("OPER admin secret").await;
    b.until("MODE b :+o").await;
    a.send("LUSERS").await;
    a.expect(":irc.test 251 a :There are 1 users and 1 invisible on 1 servers")
        .await;
    a.expect(":irc.test 252 a 1 :operator(s) online").await;
    a.send("QUIT :bye").await;
    a.until("ERROR").await;
    b.sync().await;
    check(&s, (1, 0, 1));
    b.send("QUIT :bye").await;
    b.until("ERROR").await;
    check(&s, (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn who_on_a_channel_hides_invisible_members_from_outsiders() {
    let s = server();
    let mut outsider = register(&s, "out").await;
    let mut hidden = register(&s, "hidden").await;
    let mut shown = register(&s, "shown").await;
    hidden.send("MODE hidden +i").await;
    hidden.until("+i").await;
    join(&mut hidden, "#room").await;
    join(&mut shown, "#room").await;
    hidden.sync().await;
    // Not a member, no channel in common: only the visible member is listed.
    outsider.send("WHO #room").await;
    outsider
        .expect(":irc.test 352 out #room ~shown localhost irc.test shown H :0 Real shown")
        .await;
    outsider
        .expect(":irc.test 315 out #room :End of WHO list")
        .await;
    // A mask does not reveal them either.
    outsider.send("WHO *").await;
    let rows = outsider.collect_until(" 315 ").await;
    assert!(rows.iter().all(|r| !r.contains(" hidden H")), "{rows:?}");
    assert!(rows.iter().any(|r| r.contains(" shown H")), "{rows:?}");
    // Sharing another channel with them does.
    join(&mut hidden, "#other").await;
    join(&mut outsider, "#other").await;
    outsider.send("WHO #room").await;
    let rows = outsider.collect_until(" 315 ").await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().any(|r| r.contains(" hidden H")), "{rows:?}");
    // An operator sees everyone.
    let mut oper = register(&s, "oper").await;
    oper.send("OPER admin secret").await;
    oper.until(" 381 ").await;
    oper.sync().await;
    oper.send("WHO #room").await;
    let rows = oper.collect_until(" 315 ").await;
    assert_eq!(rows.len(), 3, "{rows:?}");
}
