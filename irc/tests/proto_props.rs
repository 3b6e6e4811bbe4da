//! Properties of the wire layer: generated messages survive serialise → parse unchanged, and
//! no input makes the parser (or the client fed by it) panic.

use proptest::collection::vec;
use proptest::prelude::*;
use torsion_irc::proto::Message;

fn tag_key() -> impl Strategy<Value = String> {
    "\\+?([a-z0-9][a-z0-9.-]{0,10}/)?[A-Za-z0-9-]{1,12}"
}

fn tag_value() -> impl Strategy<Value = Option<String>> {
    // Any text but NUL (escaping covers `;`, space, `\`, CR and LF); empty means no value.
    prop::option::of("[^\u{0}]{1,20}")
}

fn command() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Z]{1,12}", "[0-9]{3}"]
}

fn middle() -> impl Strategy<Value = String> {
    "[^\u{0}\r\n :][^\u{0}\r\n ]{0,15}"
}

fn trailing() -> impl Strategy<Value = String> {
    "[^\u{0}\r\n]{0,40}"
}

fn message() -> impl Strategy<Value = Message> {
    (
        vec((tag_key(), tag_value()), 0..5),
        prop::option::of("[^\u{0}\r\n ]{1,30}"),
        command(),
        vec(middle(), 0..14),
        prop::option::of(trailing()),
    )
        .prop_map(|(tags, source, command, mut params, last)| {
            params.extend(last);
            Message {
                tags,
                source,
                command,
                params,
            }
        })
}

/// Bytes that look like IRC often enough to reach deep into the grammar.
fn ircish() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop::sample::select(b"@:; =\\/+!#.-aZ09\x01\r\n\0\xff\xc3\xa9 ".to_vec()),
        0..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn serialise_then_parse_is_identity(msg in message()) {
        let wire = msg.to_bytes();
        prop_assert_eq!(Message::parse(&wire), Ok(msg.clone()));
        // Messages without tags that fit 512 bytes also pass the client-side limits.
        if msg.tags.is_empty() && wire.len() <= 512 {
            prop_assert_eq!(Message::parse_client(&wire), Ok(msg));
        }
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..1200)) {
        let _ = Message::parse(&bytes);
        let _ = Message::parse_client(&bytes);
    }

    #[test]
    fn whatever_parses_round_trips(bytes in ircish()) {
        for msg in [Message::parse(&bytes), Message::parse_client(&bytes)].into_iter().flatten() {
            prop_assert_eq!(Message::parse(&msg.to_bytes()), Ok(msg));
        }
    }
}

#[cfg(feature = "client")]
proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The client state machine takes anything a server (or an attacker in its place) sends.
    #[test]
    fn client_state_survives_arbitrary_lines(lines in vec(prop_oneof![ircish(), vec(any::<u8>(), 0..300)], 0..30)) {
        use torsion_irc::client::{ClientConfig, ClientState};
        let now = tokio::time::Instant::now();
        let config = ClientConfig::new("bot").with_sasl("bot", "pw");
        let mut state = ClientState::new(config, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
        state.connection_started(now);
        for line in &lines {
            state.handle_line(line, now);
            while let Some(out) = state.poll_transmit(now) {
                prop_assert!(out.ends_with(b"\r\n"));
                prop_assert!(!out[..out.len() - 2].contains(&b'\n'));
                prop_assert!(!out[..out.len() - 2].contains(&b'\r'));
                prop_assert!(!out.contains(&0));
            }
            while state.poll_event().is_some() {}
        }
    }
}
