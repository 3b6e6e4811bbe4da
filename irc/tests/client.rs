//! The client against scripted fake servers: in-memory pipes under a paused clock (reconnects,
//! rate limiting, timers) and real sockets (TCP, TLS).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use torsion_core::testkit::{memory_pair, TestPeer, TestTls};
use torsion_core::{Connection, Stream};
use torsion_irc::client::{Backoff, Client, ClientConfig, ClientError, Dialer, Event, RateLimit};

/// Hands out in-memory connections and gives the test the server end of each.
struct PipeDialer {
    peers: mpsc::UnboundedSender<TestPeer>,
    /// Dials after this many fail (to test giving up).
    fail_after: Option<usize>,
    dialed: usize,
}

impl Dialer for PipeDialer {
    async fn dial(&mut self) -> Result<Connection, ClientError> {
        self.dialed += 1;
        if self.fail_after.is_some_and(|n| self.dialed > n) {
            return Err(ClientError::Disconnected("connection refused".into()));
        }
        let (conn, peer) = memory_pair();
        self.peers.send(peer).map_err(|_| ClientError::Stopped)?;
        Ok(conn)
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

fn pipe_dialer(fail_after: Option<usize>) -> (PipeDialer, mpsc::UnboundedReceiver<TestPeer>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        PipeDialer {
            peers: tx,
            fail_after,
            dialed: 0,
        },
        rx,
    )
}

fn config() -> ClientConfig {
    let mut c = ClientConfig::new("bot");
    c.rate_limit = RateLimit::unlimited();
    c.reconnect = Some(Backoff {
        jitter: false,
        ..Backoff::default()
    });
    c
}

/// Play the server side of a registration without capabilities.
async fn register(peer: &mut TestPeer) {
    peer.script(
        "S: CAP LS 302
         S: NICK bot
         S: USER bot 0 * bot
         C: :srv CAP * LS :multi-prefix
         S: CAP END
         C: :srv 001 bot :Welcome to the test network",
    )
    .await;
}

/// The next event satisfying `pred` (others are skipped); panics after 10 minutes (virtual
/// time in paused tests, where the client's own timers may take minutes).
async fn wait_for(client: &mut Client, pred: impl Fn(&Event) -> bool) -> Event {
    let found = tokio::time::timeout(Duration::from_secs(600), async {
        while let Some(event) = client.next_event().await {
            if pred(&event) {
                return Some(event);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the client stopped before the expected event"),
        Err(_) => panic!("the expected event did not come"),
    }
}

async fn drain(client: &mut Client) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(e) = client.next_event().await {
        events.push(e);
    }
    events
}

#[tokio::test(start_paused = true)]
async fn registers_talks_and_quits_cleanly() {
    let (dialer, mut peers) = pipe_dialer(None);
    let mut client = Client::with_dialer(dialer, config().with_channel("#test"))
        .await
        .unwrap();
    let mut server = peers.recv().await.unwrap();
    register(&mut server).await;
    server.expect_line("JOIN #test").await;
    server.send_line(":bot!~bot@example.org JOIN #test").await;
    assert_eq!(
        wait_for(&mut client, |e| matches!(e, Event::Registered { .. })).await,
        Event::Registered { nick: "bot".into() }
    );
    wait_for(&mut client, |e| matches!(e, Event::Join { own: true, .. })).await;

    server.send_line(":alice!a@h PRIVMSG #test :!ping").await;
    let event = wait_for(&mut client, |e| matches!(e, Event::Message { .. })).await;
    let (reply_to, text) = event.as_request().unwrap();
    assert_eq!((reply_to, text), ("#test", "!ping"));
    client.privmsg(reply_to, "pong").await.unwrap();
    server.expect_line("PRIVMSG #test pong").await;

    server.send_line("PING :srv").await;
    server.expect_line("PONG srv").await;
    server
        .send_line(":alice!a@h PRIVMSG bot :\u{1}VERSION\u{1}")
        .await;
    server
        .expect_line("NOTICE alice :\u{1}VERSION torsion-irc *")
        .await;

    client.quit(Some("bye now".into())).await.unwrap();
    server.expect_line("QUIT :bye now").await;
    server.send_line("ERROR :Closing link").await;
    drop(server);
    let rest = drain(&mut client).await;
    assert_eq!(
        rest.last(),
        Some(&Event::Disconnected {
            reason: "Closing link".into()
        })
    );
    client.finish().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn reconnects_with_backoff_and_rejoins() {
    let (dialer, mut peers) = pipe_dialer(None);
    let mut client = Client::with_dialer(dialer, config()).await.unwrap();
    let mut server = peers.recv().await.unwrap();
    register(&mut server).await;
    client.join("#rust").await.unwrap();
    server.expect_line("JOIN #rust").await;
    server.send_line(":bot!u@h JOIN #rust").await;
    wait_for(&mut client, |e| matches!(e, Event::Join { own: true, .. })).await;

    let dropped_at = Instant::now();
    drop(server);
    assert_eq!(
        wait_for(&mut client, |e| matches!(e, Event::Disconnected { .. })).await,
        Event::Disconnected {
            reason: "connection closed by the server".into()
        }
    );
    assert_eq!(
        wait_for(&mut client, |e| matches!(e, Event::Reconnecting { .. })).await,
        Event::Reconnecting {
            attempt: 1,
            delay: Duration::from_secs(1)
        }
    );
    // Messages sent while disconnected wait for the next registration.
    client.privmsg("#rust", "I'm back").await.unwrap();
    let mut server = peers.recv().await.unwrap();
    assert!(Instant::now() - dropped_at >= Duration::from_secs(1));
    register(&mut server).await;
    server.expect_line("JOIN #rust").await;
    server.expect_line("PRIVMSG #rust :I'm back").await;

    // Fail again right away: the next delay is 1 s again, since registration succeeded.
    drop(server);
    let event = wait_for(&mut client, |e| matches!(e, Event::Reconnecting { .. })).await;
    assert_eq!(
        event,
        Event::Reconnecting {
            attempt: 1,
            delay: Duration::from_secs(1)
        }
    );
    // A connection that never registers makes the delays grow.
    let server = peers.recv().await.unwrap();
    drop(server);
    let event = wait_for(&mut client, |e| matches!(e, Event::Reconnecting { .. })).await;
    assert_eq!(
        event,
        Event::Reconnecting {
            attempt: 2,
            delay: Duration::from_secs(2)
        }
    );
    let mut server = peers.recv().await.unwrap();
    register(&mut server).await;
    server.expect_line("JOIN #rust").await;
    wait_for(&mut client, |e| matches!(e, Event::Registered { .. })).await;
    client.quit(None).await.unwrap();
    server.expect_line("QUIT Leaving").await;
    drop(server);
    drain(&mut client).await;
    client.finish().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts() {
    let (dialer, mut peers) = pipe_dialer(Some(1));
    let mut c = config();
    c.reconnect = Some(Backoff {
        jitter: false,
        max_attempts: Some(3),
        ..Backoff::default()
    });
    let mut client = Client::with_dialer(dialer, c).await.unwrap();
    drop(peers.recv().await.unwrap());
    let events = drain(&mut client).await;
    let failures = events
        .iter()
        .filter(|e| matches!(e, Event::ConnectFailed { .. }))
        .count();
    assert_eq!(failures, 3);
    match client.finish().await {
        Err(ClientError::GaveUp { attempts: 3, last }) => {
            assert!(last.contains("refused"), "{last}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn without_reconnect_a_disconnection_ends_the_client() {
    let (dialer, mut peers) = pipe_dialer(None);
    let mut c = config();
    c.reconnect = None;
    let mut client = Client::with_dialer(dialer, c).await.unwrap();
    let mut server = peers.recv().await.unwrap();
    register(&mut server).await;
    drop(server);
    let events = drain(&mut client).await;
    assert!(matches!(events.last(), Some(Event::Disconnected { .. })));
    assert!(matches!(
        client.finish().await,
        Err(ClientError::Disconnected(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn rate_limit_spaces_lines_after_the_burst() {
    let (dialer, mut peers) = pipe_dialer(None);
    let mut c = config();
    c.rate_limit = RateLimit {
        burst: 3,
        interval: Duration::from_secs(2),
    };
    let client = Client::with_dialer(dialer, c).await.unwrap();
    let mut server = peers.recv().await.unwrap();
    register(&mut server).await;
    let handle = client.handle();
    let sender = tokio::spawn(async move {
        for i in 0..6 {
            handle.privmsg("#c", format!("line {i}")).await.unwrap();
        }
    });
    let start = Instant::now();
    let mut arrivals = Vec::new();
    for i in 0..6 {
        server.expect_line(&format!("PRIVMSG #c :line {i}")).await;
        arrivals.push((Instant::now() - start).as_secs());
    }
    assert_eq!(arrivals, [0, 0, 0, 2, 4, 6]);
    sender.await.unwrap();
    drop(client);
}

#[tokio::test(start_paused = true)]
async fn keepalive_detects_a_dead_server() {
    let (dialer, mut peers) = pipe_dialer(None);
    let mut client = Client::with_dialer(dialer, config()).await.unwrap();
    let mut server = peers.recv().await.unwrap();
    register(&mut server).await;
    wait_for(&mut client, |e| matches!(e, Event::Registered { .. })).await;
    let start = Instant::now();
    server.set_timeout(Duration::from_secs(600));
    server.expect_line("PING torsion-keepalive").await;
    assert_eq!((Instant::now() - start).as_secs(), 120);
    // No answer: the client drops the connection and reconnects.
    let event = wait_for(&mut client, |e| matches!(e, Event::Disconnected { .. })).await;
    assert!(matches!(event, Event::Disconnected { reason } if reason.contains("no answer")));
    assert!(peers.recv().await.is_some());
}

#[tokio::test(start_paused = true)]
async fn nick_collision_during_registration() {
    let (dialer, mut peers) = pipe_dialer(None);
    let mut client = Client::with_dialer(dialer, config()).await.unwrap();
    let mut server = peers.recv().await.unwrap();
    server
        .script(
            "S: CAP LS 302
             S: NICK bot
             S: USER bot 0 * bot
             C: :srv 421 * CAP :Unknown command
             C: :srv 433 * bot :Nickname is already in use
             S: NICK bot_
             C: :srv 433 * bot_ :Nickname is already in use
             S: NICK bot__
             C: :srv 001 bot__ :Welcome",
        )
        .await;
    assert_eq!(
        wait_for(&mut client, |e| matches!(e, Event::Registered { .. })).await,
        Event::Registered {
            nick: "bot__".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn long_and_garbage_server_lines_do_not_break_the_client() {
    let (dialer, mut peers) = pipe_dialer(None);
    let mut client = Client::with_dialer(dialer, config()).await.unwrap();
    let mut server = peers.recv().await.unwrap();
    register(&mut server).await;
    let tags = format!("@+x={}", "v".repeat(8000));
    server
        .send_line(&format!("{tags} :alice!a@h PRIVMSG #c :tagged"))
        .await;
    server
        .send_line(&format!(":alice!a@h PRIVMSG #c :{}", "y".repeat(20_000)))
        .await;
    server.send(b"\xff\xfe\x00garbage\r\n:::\r\n\r\n").await;
    server.send_line(":alice!a@h PRIVMSG #c :still here").await;
    let event = wait_for(&mut client, |e| matches!(e, Event::Message { .. })).await;
    assert!(
        matches!(&event, Event::Message { text, tags, .. } if text == "tagged" && tags.len() == 1)
    );
    let event = wait_for(&mut client, |e| matches!(e, Event::Message { .. })).await;
    assert!(matches!(&event, Event::Message { text, .. } if text == "still here"));
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_quits() {
    let (dialer, mut peers) = pipe_dialer(None);
    let client = Client::with_dialer(dialer, config()).await.unwrap();
    let mut server = peers.recv().await.unwrap();
    register(&mut server).await;
    let finished = tokio::spawn(client.finish());
    server.expect_line("QUIT Leaving").await;
    drop(server);
    finished.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn invalid_input_is_refused_before_sending() {
    let (dialer, _peers) = pipe_dialer(None);
    let client = Client::with_dialer(dialer, config()).await.unwrap();
    assert!(matches!(
        client.privmsg("#a b", "x").await,
        Err(ClientError::Invalid { .. })
    ));
    assert!(client.handle().raw("PRIVMSG #a :x\r\nQUIT").await.is_err());
    let (dialer, _peers) = pipe_dialer(None);
    assert!(matches!(
        Client::with_dialer(dialer, ClientConfig::new("9bad")).await,
        Err(ClientError::Config(_))
    ));
}

/// A fake server on a real socket.
async fn tcp_server() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[tokio::test]
async fn over_tcp_with_reconnect() {
    let (listener, port) = tcp_server().await;
    let mut c = config().with_channel("#ci");
    c.reconnect = Some(Backoff {
        initial: Duration::from_millis(10),
        jitter: false,
        ..Backoff::default()
    });
    let accept = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        (listener, TestPeer::new(Stream::Tcp(tcp)))
    });
    let mut client = Client::connect(&format!("127.0.0.1:{port}"), c)
        .await
        .unwrap();
    let (listener, mut server) = accept.await.unwrap();
    register(&mut server).await;
    server.expect_line("JOIN #ci").await;
    drop(server);
    let (tcp, _) = listener.accept().await.unwrap();
    let mut server = TestPeer::new(Stream::Tcp(tcp));
    register(&mut server).await;
    server.expect_line("JOIN #ci").await;
    wait_for(&mut client, |e| {
        matches!(e, Event::Reconnecting { attempt: 1, .. })
    })
    .await;
    client.notice("#ci", "build passed").await.unwrap();
    server.expect_line("NOTICE #ci :build passed").await;
    client.quit(None).await.unwrap();
    server.expect_line("QUIT Leaving").await;
    drop(server);
    drain(&mut client).await;
    client.finish().await.unwrap();
}

#[tokio::test]
async fn first_connection_failure_is_reported() {
    let (listener, port) = tcp_server().await;
    drop(listener);
    let result = Client::connect(&format!("tcp:host=127.0.0.1:port={port}"), config()).await;
    assert!(matches!(result, Err(ClientError::Connect(_))), "{result:?}");
    let result = Client::connect("not a host:port", config()).await;
    assert!(
        matches!(result, Err(ClientError::Endpoint(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn sasl_over_tls() {
    let tls = TestTls::generate();
    let acceptor = tls.acceptor();
    let (listener, port) = tcp_server().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let stream = acceptor.accept(Stream::Tcp(tcp)).await.unwrap();
        let mut peer = TestPeer::new(Stream::TlsServer(Box::new(stream)));
        let plain = torsion_core::cred::sasl::encode_plain("", "botaccount", b"s3cret");
        peer.script(&format!(
            "S: CAP LS 302
             S: NICK bot
             S: USER bot 0 * bot
             C: :srv CAP * LS * :multi-prefix sasl=PLAIN,SCRAM-SHA-256
             C: :srv CAP * LS :server-time
             S: CAP REQ :sasl server-time
             C: :srv CAP bot ACK :sasl server-time
             S: AUTHENTICATE PLAIN
             C: AUTHENTICATE +
             S: AUTHENTICATE {plain}
             C: :srv 900 bot bot!bot@host botaccount :You are now logged in as botaccount
             C: :srv 903 bot :SASL authentication successful
             S: CAP END
             C: :srv 001 bot :Welcome
             C: @time=2024-05-01T12:00:00.000Z :alice!a@h PRIVMSG bot :hi"
        ))
        .await;
        peer
    });
    let endpoint = format!(
        "tls:host=127.0.0.1:port={port}:trustRoots={}",
        tls.ca_path().display()
    );
    let mut client = Client::connect(&endpoint, config().with_sasl("botaccount", "s3cret"))
        .await
        .unwrap();
    assert_eq!(
        wait_for(&mut client, |e| matches!(e, Event::Authenticated { .. })).await,
        Event::Authenticated {
            account: Some("botaccount".into())
        }
    );
    let event = wait_for(&mut client, |e| matches!(e, Event::Message { .. })).await;
    match event {
        Event::Message { reply_to, tags, .. } => {
            assert_eq!(reply_to, "alice");
            assert_eq!(tags[0].0, "time");
        }
        other => panic!("{other:?}"),
    }
    drop(server.await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn sasl_failure_stops_the_client() {
    let (dialer, mut peers) = pipe_dialer(None);
    let mut client = Client::with_dialer(dialer, config().with_sasl("bot", "wrong"))
        .await
        .unwrap();
    let mut server = peers.recv().await.unwrap();
    server
        .script(
            "S: CAP LS 302
             S: NICK bot
             S: USER bot 0 * bot
             C: :srv CAP * LS :sasl
             S: CAP REQ sasl
             C: :srv CAP * ACK sasl
             S: AUTHENTICATE PLAIN
             C: AUTHENTICATE +
             S: AUTHENTICATE *
             C: :srv 904 * :SASL authentication failed
             S: QUIT :SASL authentication failed: 904 SASL authentication failed
             S: <closed>",
        )
        .await;
    drain(&mut client).await;
    assert!(matches!(
        client.finish().await,
        Err(ClientError::SaslFailed(_))
    ));
}

/// The client against our own server, over in-memory connections on a paused clock.
#[cfg(feature = "server")]
mod against_our_server {
    use std::sync::Arc;

    use torsion_core::cred::{CredentialStore, StoredPassword};
    use torsion_core::{Address, Service};
    use torsion_irc::server::{IrcServer, ServerConfig};

    use super::*;

    /// Dials by handing one end of a fresh pipe to the server.
    struct ServerDialer(Arc<IrcServer>);

    impl Dialer for ServerDialer {
        async fn dial(&mut self) -> Result<Connection, ClientError> {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let server_side = Connection::new(
                Stream::Memory(a),
                Address::Memory("client".into()),
                Address::Memory("server".into()),
            );
            tokio::spawn(self.0.clone().handle(server_side));
            Ok(Connection::new(
                Stream::Memory(b),
                Address::Memory("server".into()),
                Address::Memory("client".into()),
            ))
        }

        fn describe(&self) -> String {
            "irc.test (memory)".into()
        }
    }

    fn server() -> Arc<IrcServer> {
        let mut config = ServerConfig::new("irc.test");
        let mut store = CredentialStore::new();
        store.insert("alice", StoredPassword::parse("{PLAIN}wonderland").unwrap());
        config.accounts = Some(Arc::new(store));
        Arc::new(IrcServer::new(config))
    }

    async fn joined(server: &Arc<IrcServer>, config: ClientConfig) -> Client {
        let mut client = Client::with_dialer(ServerDialer(server.clone()), config)
            .await
            .unwrap();
        wait_for(&mut client, |e| matches!(e, Event::Join { own: true, .. })).await;
        client
    }

    #[tokio::test(start_paused = true)]
    async fn bots_talk_through_the_server() {
        let server = server();
        let mut alice = joined(
            &server,
            ClientConfig::new("alice")
                .with_sasl("alice", "wonderland")
                .with_channel("#test"),
        )
        .await;
        let mut bot = joined(&server, ClientConfig::new("bot").with_channel("#test")).await;
        // Nick collision against a real server.
        let mut second =
            Client::with_dialer(ServerDialer(server.clone()), ClientConfig::new("bot"))
                .await
                .unwrap();
        assert_eq!(
            wait_for(&mut second, |e| matches!(e, Event::Registered { .. })).await,
            Event::Registered {
                nick: "bot_".into()
            }
        );

        alice.privmsg("#test", "!ping").await.unwrap();
        let request = wait_for(&mut bot, |e| matches!(e, Event::Message { .. })).await;
        let (reply_to, text) = request.as_request().unwrap();
        assert_eq!((reply_to, text), ("#test", "!ping"));
        bot.privmsg(reply_to, "pong").await.unwrap();
        let answer = wait_for(&mut alice, |e| matches!(e, Event::Message { .. })).await;
        assert!(
            matches!(&answer, Event::Message { from, text, .. } if from.nick == "bot" && text == "pong")
        );

        // Long text arrives whole, in several lines that each fit.
        let long = (0..400)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        bot.privmsg("#test", long.clone()).await.unwrap();
        let mut got = Vec::new();
        while got.join(" ").len() < long.len() {
            match wait_for(&mut alice, |e| matches!(e, Event::Message { .. })).await {
                Event::Message { text, .. } => got.push(text),
                _ => unreachable!(),
            }
        }
        assert!(got.len() > 1);
        assert_eq!(got.join(" "), long);

        // CTCP VERSION is answered by the bot's client.
        alice.handle().ctcp("bot", "VERSION", "").await.unwrap();
        let reply = wait_for(&mut alice, |e| matches!(e, Event::CtcpReply { .. })).await;
        assert!(matches!(&reply, Event::CtcpReply { command, params, .. }
            if command == "VERSION" && params.starts_with("torsion-irc")));

        bot.quit(None).await.unwrap();
        let quit = wait_for(&mut alice, |e| matches!(e, Event::Quit { .. })).await;
        assert!(matches!(&quit, Event::Quit { from, .. } if from.nick == "bot"));
        drain(&mut bot).await;
        bot.finish().await.unwrap();
    }
}
