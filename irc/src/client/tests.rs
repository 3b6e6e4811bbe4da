//! The client protocol as plain function calls: no sockets, no clock but the one we pass in.

use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::proto::Message;

fn lines(state: &mut ClientState, now: Instant) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(line) = state.poll_transmit(now) {
        let text = String::from_utf8(line.to_vec()).expect("utf-8");
        out.push(text.strip_suffix("\r\n").expect("CRLF").to_owned());
    }
    out
}

fn events(state: &mut ClientState) -> Vec<Event> {
    std::iter::from_fn(|| state.poll_event()).collect()
}

fn feed(state: &mut ClientState, line: &str, now: Instant) {
    state.handle_line(line.as_bytes(), now);
}

fn config() -> ClientConfig {
    let mut c = ClientConfig::new("bot");
    c.rate_limit = RateLimit::unlimited();
    c
}

fn started(config: ClientConfig) -> (ClientState, Instant) {
    let now = Instant::now();
    let mut s = ClientState::new(config, now).expect("valid config");
    s.connection_started(now);
    (s, now)
}

/// Registered without capabilities; setup lines and events drained.
fn registered(config: ClientConfig) -> (ClientState, Instant) {
    let (mut s, now) = started(config);
    feed(&mut s, ":srv CAP * LS :multi-prefix", now);
    feed(&mut s, ":srv 001 bot :Welcome", now);
    lines(&mut s, now);
    events(&mut s);
    (s, now)
}

#[test]
fn registers_without_capabilities_of_interest() {
    let (mut s, now) = started(config().with_channel("#a").with_channel("#b"));
    assert_eq!(
        lines(&mut s, now),
        ["CAP LS 302", "NICK bot", "USER bot 0 * bot"]
    );
    feed(&mut s, ":srv CAP * LS :multi-prefix away-notify", now);
    assert_eq!(lines(&mut s, now), ["CAP END"]);
    assert!(!s.is_registered());
    feed(&mut s, ":srv 001 bot :Welcome to IRC", now);
    assert!(s.is_registered());
    assert_eq!(lines(&mut s, now), ["JOIN #a,#b"]);
    let ev = events(&mut s);
    assert_eq!(ev[0], Event::Registered { nick: "bot".into() });
    assert!(matches!(&ev[1], Event::Numeric { code: 1, params } if params[0] == "bot"));
}

#[test]
fn sends_password_and_realname() {
    let mut c = config();
    c.password = Some("secret pass".into());
    c.realname = "Torsion Bot".into();
    let (mut s, now) = started(c);
    assert_eq!(
        lines(&mut s, now),
        [
            "CAP LS 302",
            "PASS :secret pass",
            "NICK bot",
            "USER bot 0 * :Torsion Bot"
        ]
    );
}

#[test]
fn server_without_cap_support() {
    let (mut s, now) = started(config());
    lines(&mut s, now);
    feed(&mut s, ":srv 421 * CAP :Unknown command", now);
    assert!(lines(&mut s, now).is_empty());
    feed(&mut s, ":srv 001 bot :Welcome", now);
    assert!(s.is_registered());
    // The welcome also arrives when a server ignores CAP entirely.
    let (mut s, now) = started(config());
    feed(&mut s, ":srv 001 bot :Welcome", now);
    assert!(s.is_registered());
}

#[test]
fn nick_collision_tries_alternatives_then_gives_up() {
    let mut c = config();
    c.alt_nicks = vec!["robot".into()];
    let (mut s, now) = started(c);
    lines(&mut s, now);
    feed(&mut s, ":srv 433 * bot :Nickname is already in use", now);
    assert_eq!(lines(&mut s, now), ["NICK robot"]);
    feed(&mut s, ":srv 433 * robot :Nickname is already in use", now);
    assert_eq!(lines(&mut s, now), ["NICK bot_"]);
    assert_eq!(s.nick(), "bot_");
    // An erroneous nick (too long for NICKLEN) makes the next candidates shorter.
    feed(&mut s, ":srv 432 * bot_ :Erroneous nickname", now);
    assert_eq!(lines(&mut s, now), ["NICK b__"]);
    for _ in 0..9 {
        feed(&mut s, ":srv 433 * x :in use", now);
        assert_eq!(lines(&mut s, now).len(), 1);
    }
    assert!(s.poll_close().is_none());
    feed(&mut s, ":srv 433 * bot9 :in use", now);
    assert!(matches!(
        s.poll_close(),
        Some(Close::Fatal(ClientError::NickUnavailable(n))) if n == "bot9"
    ));
    assert_eq!(
        lines(&mut s, now),
        ["QUIT :no usable nickname (last tried \"bot9\")"]
    );
}

#[test]
fn collision_after_registration_is_only_reported() {
    let (mut s, now) = registered(config());
    feed(
        &mut s,
        ":srv 433 bot other :Nickname is already in use",
        now,
    );
    assert!(lines(&mut s, now).is_empty());
    assert!(matches!(
        events(&mut s)[..],
        [Event::Numeric { code: 433, .. }]
    ));
}

#[test]
fn welcome_sets_the_nick_the_server_chose() {
    let (mut s, now) = started(config());
    feed(&mut s, ":srv 001 bot_1 :Welcome", now);
    assert_eq!(s.nick(), "bot_1");
}

#[test]
fn answers_ping_at_once() {
    let (mut s, now) = started(config());
    lines(&mut s, now);
    feed(&mut s, "PING :irc.example.org", now);
    assert_eq!(lines(&mut s, now), ["PONG irc.example.org"]);
    feed(&mut s, "PING :a token with spaces", now);
    assert_eq!(lines(&mut s, now), ["PONG :a token with spaces"]);
    // Still at once when the rate limit is exhausted.
    let mut c = config();
    c.rate_limit = RateLimit {
        burst: 1,
        interval: Duration::from_secs(60),
    };
    let (mut s, now) = registered(c);
    s.command(Command::Privmsg {
        target: "#c".into(),
        text: "a".into(),
    })
    .unwrap();
    s.command(Command::Privmsg {
        target: "#c".into(),
        text: "b".into(),
    })
    .unwrap();
    feed(&mut s, "PING x", now);
    assert_eq!(lines(&mut s, now), ["PONG x", "PRIVMSG #c a"]);
    assert!(events(&mut s).is_empty(), "PING is not an event");
}

#[test]
fn sasl_plain_flow() {
    let (mut s, now) = started(config().with_sasl("bot", "hunter2"));
    lines(&mut s, now);
    feed(
        &mut s,
        ":srv CAP * LS * :multi-prefix sasl=PLAIN,EXTERNAL",
        now,
    );
    assert!(lines(&mut s, now).is_empty(), "waits for the last LS line");
    feed(&mut s, ":srv CAP * LS :server-time message-tags", now);
    assert_eq!(
        lines(&mut s, now),
        ["CAP REQ :sasl server-time message-tags"]
    );
    feed(&mut s, ":srv CAP * ACK :sasl server-time message-tags", now);
    assert_eq!(lines(&mut s, now), ["AUTHENTICATE PLAIN"]);
    feed(&mut s, "AUTHENTICATE +", now);
    let expected = torsion_core::cred::sasl::encode_plain("", "bot", b"hunter2");
    assert_eq!(lines(&mut s, now), [format!("AUTHENTICATE {expected}")]);
    feed(
        &mut s,
        ":srv 900 * bot!bot@host botaccount :You are now logged in",
        now,
    );
    feed(&mut s, ":srv 903 * :SASL authentication successful", now);
    assert_eq!(lines(&mut s, now), ["CAP END"]);
    feed(&mut s, ":srv 001 bot :Welcome", now);
    assert!(s.is_registered());
    let ev = events(&mut s);
    assert!(ev.contains(&Event::Authenticated {
        account: Some("botaccount".into())
    }));
    assert!(ev.contains(&Event::Registered { nick: "bot".into() }));
}

#[test]
fn sasl_payload_is_chunked() {
    // authzid NUL authcid NUL password = 300 bytes → 400 base64 bytes: one full chunk, then "+".
    let password = "p".repeat(300 - 2 - 3);
    let (mut s, now) = started(config().with_sasl("bot", password.as_str()));
    feed(&mut s, ":srv CAP * LS :sasl", now);
    feed(&mut s, ":srv CAP * ACK :sasl", now);
    lines(&mut s, now);
    feed(&mut s, "AUTHENTICATE +", now);
    let out = lines(&mut s, now);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].len(), "AUTHENTICATE ".len() + 400);
    assert_eq!(out[1], "AUTHENTICATE +");
}

#[test]
fn required_sasl_failure_is_fatal() {
    let (mut s, now) = started(config().with_sasl("bot", "wrong"));
    feed(&mut s, ":srv CAP * LS :sasl", now);
    feed(&mut s, ":srv CAP * ACK :sasl", now);
    feed(&mut s, "AUTHENTICATE +", now);
    lines(&mut s, now);
    feed(&mut s, ":srv 904 * :SASL authentication failed", now);
    assert!(
        matches!(s.poll_close(), Some(Close::Fatal(ClientError::SaslFailed(r))) if r.contains("904"))
    );
    let out = lines(&mut s, now);
    assert_eq!(out.len(), 1);
    assert!(out[0].starts_with("QUIT :SASL authentication failed"));
}

#[test]
fn optional_sasl_failure_goes_on() {
    let mut c = config().with_sasl("bot", "wrong");
    c.sasl_required = false;
    let (mut s, now) = started(c);
    feed(&mut s, ":srv CAP * LS :sasl", now);
    feed(&mut s, ":srv CAP * ACK :sasl", now);
    feed(&mut s, "AUTHENTICATE +", now);
    lines(&mut s, now);
    feed(&mut s, ":srv 904 * :SASL authentication failed", now);
    assert!(s.poll_close().is_none());
    assert_eq!(lines(&mut s, now), ["CAP END"]);
    assert!(events(&mut s)
        .iter()
        .any(|e| matches!(e, Event::SaslFailed { reason } if reason.contains("904"))));
    feed(&mut s, ":srv 001 bot :Welcome", now);
    assert!(s.is_registered());
}

#[test]
fn sasl_unavailable() {
    // Not offered at all: fatal when required, before anything else is requested.
    let (mut s, now) = started(config().with_sasl("bot", "pw"));
    lines(&mut s, now);
    feed(&mut s, ":srv CAP * LS :server-time", now);
    assert!(matches!(
        s.poll_close(),
        Some(Close::Fatal(ClientError::SaslFailed(_)))
    ));
    // Offered without PLAIN.
    let (mut s, now) = started(config().with_sasl("bot", "pw"));
    feed(&mut s, ":srv CAP * LS :sasl=EXTERNAL", now);
    assert!(
        matches!(s.poll_close(), Some(Close::Fatal(ClientError::SaslFailed(r))) if r.contains("EXTERNAL"))
    );
    // Refused with NAK.
    let (mut s, now) = started(config().with_sasl("bot", "pw"));
    feed(&mut s, ":srv CAP * LS :sasl", now);
    feed(&mut s, ":srv CAP * NAK :sasl", now);
    assert!(matches!(s.poll_close(), Some(Close::Fatal(_))));
    // A server that registers us without CAP when SASL is required.
    let (mut s, now) = started(config().with_sasl("bot", "pw"));
    feed(&mut s, ":srv 001 bot :Welcome", now);
    assert!(!s.is_registered());
    assert!(matches!(s.poll_close(), Some(Close::Fatal(_))));
    // Optional: registration goes on without it, asking for the other capabilities.
    let mut c = config().with_sasl("bot", "pw");
    c.sasl_required = false;
    let (mut s, now) = started(c);
    lines(&mut s, now);
    feed(&mut s, ":srv CAP * LS :server-time", now);
    assert_eq!(lines(&mut s, now), ["CAP REQ server-time"]);
    feed(&mut s, ":srv CAP * ACK :server-time", now);
    assert_eq!(lines(&mut s, now), ["CAP END"]);
}

#[test]
fn ctcp_version_and_ping_are_answered() {
    let (mut s, now) = registered(config());
    feed(&mut s, ":alice!a@h PRIVMSG bot :\u{1}VERSION\u{1}", now);
    feed(
        &mut s,
        ":alice!a@h PRIVMSG #chan :\u{1}PING 12345\u{1}",
        now,
    );
    feed(&mut s, ":alice!a@h PRIVMSG bot :\u{1}CLIENTINFO\u{1}", now);
    feed(&mut s, ":alice!a@h PRIVMSG bot :\u{1}FINGER\u{1}", now);
    let version = format!("torsion-irc {}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        lines(&mut s, now),
        [
            format!("NOTICE alice :\u{1}VERSION {version}\u{1}"),
            "NOTICE alice :\u{1}PING 12345\u{1}".to_owned(),
            "NOTICE alice :\u{1}CLIENTINFO ACTION CLIENTINFO PING SOURCE VERSION\u{1}".to_owned(),
        ]
    );
    let ev = events(&mut s);
    assert_eq!(ev.len(), 4);
    assert!(
        matches!(&ev[1], Event::CtcpRequest { command, params, target, .. }
        if command == "PING" && params == "12345" && target == "#chan")
    );
    assert!(matches!(&ev[3], Event::CtcpRequest { command, .. } if command == "FINGER"));
}

#[test]
fn ctcp_floods_do_not_fill_the_queue() {
    let mut c = config();
    c.rate_limit = RateLimit {
        burst: 1,
        interval: Duration::from_secs(2),
    };
    let (mut s, now) = registered(c);
    for _ in 0..50 {
        feed(&mut s, ":mallory!m@h PRIVMSG bot :\u{1}VERSION\u{1}", now);
    }
    assert!(s.queued() <= 4 + 1, "{}", s.queued());
    // Servers are never answered.
    let (mut s, now) = registered(config());
    feed(
        &mut s,
        ":irc.example.org PRIVMSG bot :\u{1}VERSION\u{1}",
        now,
    );
    assert!(lines(&mut s, now).is_empty());
}

#[test]
fn messages_actions_and_notices_become_events() {
    let (mut s, now) = registered(config());
    feed(
        &mut s,
        "@time=2024-01-01T00:00:00.000Z :alice!a@h PRIVMSG #chan :hello there",
        now,
    );
    feed(&mut s, ":alice!a@h PRIVMSG bot :psst", now);
    feed(&mut s, ":alice!a@h NOTICE bot :fyi", now);
    feed(
        &mut s,
        ":alice!a@h PRIVMSG #chan :\u{1}ACTION waves\u{1}",
        now,
    );
    feed(&mut s, ":bob!b@h NOTICE bot :\u{1}VERSION irssi\u{1}", now);
    let ev = events(&mut s);
    let alice = Source::parse("alice!a@h");
    assert_eq!(
        ev[0],
        Event::Message {
            from: alice.clone(),
            target: "#chan".into(),
            text: "hello there".into(),
            is_notice: false,
            reply_to: "#chan".into(),
            tags: vec![("time".into(), Some("2024-01-01T00:00:00.000Z".into()))],
        }
    );
    assert_eq!(ev[0].as_request(), Some(("#chan", "hello there")));
    assert!(matches!(&ev[1], Event::Message { reply_to, .. } if reply_to == "alice"));
    assert!(matches!(
        &ev[2],
        Event::Message {
            is_notice: true,
            ..
        }
    ));
    assert_eq!(ev[2].as_request(), None);
    assert!(
        matches!(&ev[3], Event::Action { text, reply_to, .. } if text == "waves" && reply_to == "#chan")
    );
    assert!(
        matches!(&ev[4], Event::CtcpReply { command, params, .. } if command == "VERSION" && params == "irssi")
    );
    assert!(lines(&mut s, now).is_empty(), "no answer to notices");
}

#[test]
fn membership_events_and_tracking() {
    let (mut s, now) = registered(config());
    feed(&mut s, ":bot!~bot@example.org JOIN #a", now);
    feed(&mut s, ":bot!~bot@example.org JOIN :#b", now);
    feed(&mut s, ":alice!a@h JOIN #a", now);
    feed(&mut s, ":alice!a@h PART #a :bye", now);
    feed(&mut s, ":op!o@h KICK #b bot :out", now);
    feed(&mut s, ":alice!a@h QUIT :gone", now);
    feed(&mut s, ":bot!~bot@example.org NICK newbot", now);
    feed(&mut s, ":op!o@h TOPIC #a :new topic", now);
    feed(&mut s, ":srv 332 newbot #a :old topic", now);
    feed(&mut s, ":op!o@h INVITE newbot #c", now);
    feed(&mut s, ":op!o@h MODE #a +o newbot", now);
    assert_eq!(s.channels(), ["#a"]);
    assert_eq!(s.nick(), "newbot");
    let ev = events(&mut s);
    assert!(matches!(&ev[0], Event::Join { own: true, channel, .. } if channel == "#a"));
    assert!(matches!(&ev[1], Event::Join { own: true, channel, .. } if channel == "#b"));
    assert!(matches!(&ev[2], Event::Join { own: false, .. }));
    assert!(matches!(&ev[3], Event::Part { own: false, reason: Some(r), .. } if r == "bye"));
    assert!(matches!(&ev[4], Event::Kick { own: true, nick, .. } if nick == "bot"));
    assert!(matches!(&ev[5], Event::Quit { reason: Some(r), .. } if r == "gone"));
    assert!(matches!(&ev[6], Event::Nick { own: true, new, .. } if new == "newbot"));
    assert!(matches!(&ev[7], Event::Topic { by: Some(_), topic, .. } if topic == "new topic"));
    assert!(matches!(&ev[8], Event::Topic { by: None, topic, .. } if topic == "old topic"));
    assert!(matches!(&ev[9], Event::Numeric { code: 332, .. }));
    assert!(matches!(&ev[10], Event::Invite { channel, .. } if channel == "#c"));
    assert!(matches!(&ev[11], Event::Raw(m) if m.command == "MODE"));
}

#[test]
fn rejoins_after_reconnect() {
    let (mut s, now) = registered(config().with_channel("#Conf"));
    feed(&mut s, ":bot!u@h JOIN #conf", now);
    feed(&mut s, ":bot!u@h JOIN #extra", now);
    s.command(Command::Join {
        channel: "#gone".into(),
        key: None,
    })
    .unwrap();
    feed(&mut s, ":bot!u@h JOIN #gone", now);
    s.command(Command::Part {
        channel: "#gone".into(),
        reason: None,
    })
    .unwrap();
    lines(&mut s, now);
    s.connection_lost("reset");
    assert_eq!(
        events(&mut s).last(),
        Some(&Event::Disconnected {
            reason: "reset".into()
        })
    );
    // Queued while disconnected: waits for registration, after the rejoin.
    s.command(Command::Privmsg {
        target: "#conf".into(),
        text: "back".into(),
    })
    .unwrap();
    assert!(lines(&mut s, now).is_empty());
    s.connection_started(now);
    feed(&mut s, ":srv 001 bot :Welcome", now);
    let out = lines(&mut s, now);
    assert_eq!(
        &out[out.len() - 2..],
        ["JOIN #Conf,#extra", "PRIVMSG #conf back"]
    );
}

#[test]
fn user_lines_wait_for_registration_then_the_rate_limit() {
    let mut c = config();
    c.rate_limit = RateLimit::default();
    let (mut s, now) = started(c);
    lines(&mut s, now);
    for i in 0..7 {
        s.command(Command::Privmsg {
            target: "#c".into(),
            text: format!("m{i}"),
        })
        .unwrap();
    }
    assert!(lines(&mut s, now).is_empty());
    assert_eq!(s.queued(), 7);
    feed(&mut s, ":srv 001 bot :Welcome", now);
    // CAP END was never needed (no LS): the burst of 5 goes, the rest waits 2 s each.
    assert_eq!(
        lines(&mut s, now),
        [
            "PRIVMSG #c m0",
            "PRIVMSG #c m1",
            "PRIVMSG #c m2",
            "PRIVMSG #c m3",
            "PRIVMSG #c m4"
        ]
    );
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(2)));
    assert!(lines(&mut s, now + Duration::from_millis(1999)).is_empty());
    assert_eq!(
        lines(&mut s, now + Duration::from_secs(2)),
        ["PRIVMSG #c m5"]
    );
    assert_eq!(
        lines(&mut s, now + Duration::from_secs(4)),
        ["PRIVMSG #c m6"]
    );
}

#[test]
fn long_text_is_split_to_fit_the_relayed_line() {
    let (mut s, now) = registered(config());
    let text = "lorem ipsum dolor sit amet ".repeat(60);
    s.command(Command::Privmsg {
        target: "#chan".into(),
        text: text.clone(),
    })
    .unwrap();
    let out = lines(&mut s, now);
    assert!(out.len() > 3);
    let assumed_source = format!("bot!{}@{}", "u".repeat(10), "h".repeat(63));
    let mut rebuilt = Vec::new();
    for line in &out {
        let relayed = format!(":{assumed_source} {line}\r\n");
        assert!(relayed.len() <= 512, "{}", relayed.len());
        let msg = Message::parse(line.as_bytes()).unwrap();
        rebuilt.push(msg.params[1].clone());
    }
    assert_eq!(rebuilt.join(" "), text);
    // Once the server shows our real (short) source, lines get longer.
    feed(&mut s, ":bot!b@h JOIN #chan", now);
    s.command(Command::Privmsg {
        target: "#chan".into(),
        text: text.clone(),
    })
    .unwrap();
    let fewer = lines(&mut s, now);
    assert!(fewer.len() <= out.len());
    assert!(fewer[0].len() > out[0].len());
    // Actions are split too, each piece wrapped in CTCP.
    s.command(Command::Action {
        target: "#chan".into(),
        text,
    })
    .unwrap();
    for line in lines(&mut s, now) {
        assert!(line.starts_with("PRIVMSG #chan :\u{1}ACTION "), "{line}");
        assert!(line.ends_with('\u{1}'));
    }
}

#[test]
fn invalid_commands_are_refused() {
    let (mut s, _) = registered(config());
    assert!(s
        .command(Command::Privmsg {
            target: "#c\r\nQUIT".into(),
            text: "x".into()
        })
        .is_err());
    assert!(s
        .command(Command::Join {
            channel: "".into(),
            key: None
        })
        .is_err());
    assert_eq!(s.queued(), 0);
}

#[test]
fn keepalive_pings_then_gives_up() {
    let (mut s, now) = registered(config());
    let k = Duration::from_secs(120);
    assert_eq!(s.poll_timeout(), Some(now + k));
    s.handle_timeout(now + k);
    assert_eq!(lines(&mut s, now + k), ["PING torsion-keepalive"]);
    // An answer resets the clock.
    feed(
        &mut s,
        ":srv PONG srv torsion-keepalive",
        now + k + Duration::from_secs(1),
    );
    assert_eq!(s.poll_timeout(), Some(now + k * 2 + Duration::from_secs(1)));
    let later = now + k * 2 + Duration::from_secs(1);
    s.handle_timeout(later);
    lines(&mut s, later);
    s.handle_timeout(later + k);
    assert!(matches!(s.poll_close(), Some(Close::Reconnect(r)) if r.contains("240")));
}

#[test]
fn registration_times_out() {
    let (mut s, now) = started(config());
    lines(&mut s, now);
    s.handle_timeout(now + Duration::from_secs(59));
    assert!(s.poll_close().is_none());
    s.handle_timeout(now + Duration::from_secs(60));
    assert!(matches!(s.poll_close(), Some(Close::Reconnect(_))));
}

#[test]
fn quit_goes_after_queued_messages_and_waits_for_the_close() {
    let (mut s, now) = registered(config());
    s.command(Command::Privmsg {
        target: "#c".into(),
        text: "last words".into(),
    })
    .unwrap();
    s.command(Command::Quit(Some("done".into()))).unwrap();
    assert!(s.is_quitting());
    assert!(s
        .command(Command::Privmsg {
            target: "#c".into(),
            text: "x".into()
        })
        .is_err());
    assert_eq!(lines(&mut s, now), ["PRIVMSG #c :last words", "QUIT done"]);
    assert!(s.quit_sent());
    assert_eq!(s.poll_timeout(), Some(now + QUIT_TIMEOUT));
    s.handle_timeout(now + QUIT_TIMEOUT);
    assert!(matches!(s.poll_close(), Some(Close::Quit)));
}

#[test]
fn server_error_becomes_the_disconnect_reason() {
    let (mut s, now) = registered(config());
    feed(&mut s, "ERROR :Closing Link: bot (Excess Flood)", now);
    s.connection_lost("connection closed by the server");
    let ev = events(&mut s);
    assert_eq!(
        ev,
        [
            Event::ServerError {
                message: "Closing Link: bot (Excess Flood)".into()
            },
            Event::Disconnected {
                reason: "Closing Link: bot (Excess Flood)".into()
            },
        ]
    );
}

#[test]
fn garbage_and_huge_lines_are_survived() {
    let (mut s, now) = registered(config());
    feed(&mut s, "", now);
    feed(&mut s, "\u{0}\u{1}@@@ ::: ", now);
    let huge = format!(":alice!a@h PRIVMSG #c :{}", "x".repeat(5000));
    feed(&mut s, &huge, now);
    let ev = events(&mut s);
    assert_eq!(ev.len(), 1);
    assert!(matches!(&ev[0], Event::Message { text, .. } if text.len() == 5000));
}
