//! The runner over real loopback sockets: limits, refusals, shutdown, reload, errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use torsion_core::framing::LineCodec;
use torsion_core::runner::{self, Limits, Refusal, RunError, Server, ServiceArgs};
use torsion_core::testkit::{RunningServer, TestPeer, TestTls};
use torsion_core::{ClientEndpoint, Connection, ServerEndpoint, Service};

/// Greets, then answers each line with "ok LINE"; counts reloads; refuses politely.
#[derive(Debug, Default)]
struct Greeter {
    reloads: AtomicUsize,
    stubborn: bool,
}

impl Service for Greeter {
    fn protocol(&self) -> &'static str {
        "greeter"
    }

    async fn handle(self: Arc<Self>, mut conn: Connection) {
        conn.queue(b"hello\r\n");
        if self.stubborn {
            // A session mid-transaction that will not be interrupted by shutdown.
            conn.set_shutdown_interrupts(false);
        }
        let mut lines = LineCodec::any_eol(1000);
        while let Ok(Some(line)) = conn.read_frame(&mut lines).await {
            let mut reply = b"ok ".to_vec();
            reply.extend_from_slice(&line);
            if conn.feed_frame(&mut lines, reply).await.is_err() {
                return;
            }
        }
        conn.queue(b"bye\r\n");
        let _ = conn.close().await;
    }

    async fn refuse(self: Arc<Self>, mut conn: Connection, reason: Refusal) {
        let _ = conn.send(format!("busy {reason:?}\r\n").as_bytes()).await;
    }

    fn reload(&self) -> Result<(), String> {
        self.reloads.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn limits() -> Limits {
    Limits {
        shutdown_timeout: Duration::from_secs(2),
        ..Limits::default()
    }
}

#[tokio::test]
async fn max_connections_refuses_with_the_service_reply() {
    let server = RunningServer::start_with_limits(
        Arc::new(Greeter::default()),
        &["tcp:0:interface=127.0.0.1"],
        Limits {
            max_connections: 2,
            ..limits()
        },
    )
    .await;
    let mut a = server.connect().await;
    a.expect_line("hello").await;
    let mut b = server.connect().await;
    b.expect_line("hello").await;
    let mut c = server.connect().await;
    c.expect_line("busy TooManyConnections").await;
    c.expect_closed().await;
    // A slot frees when a session ends.
    a.shutdown_write().await;
    a.expect_line("bye").await;
    a.expect_closed().await;
    let mut d = loop {
        let mut d = server.connect().await;
        match d.read_line().await.as_deref() {
            Some("hello") => break d,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    d.send_line("x").await;
    d.expect_line("ok x").await;
    server.stop().await;
}

#[tokio::test]
async fn max_per_ip_counts_each_address_separately() {
    let server = RunningServer::start_with_limits(
        Arc::new(Greeter::default()),
        &["tcp:0:interface=0.0.0.0"],
        Limits {
            max_per_ip: 1,
            ..limits()
        },
    )
    .await;
    let port = server.addr().port();
    let connect_from = |src: &'static str| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{src}:0").parse().unwrap()).unwrap();
        let stream = socket
            .connect(format!("127.0.0.1:{port}").parse().unwrap())
            .await
            .unwrap();
        TestPeer::new(torsion_core::Stream::Tcp(stream))
    };
    let mut first = connect_from("127.0.0.1").await;
    first.expect_line("hello").await;
    let mut second = connect_from("127.0.0.1").await;
    second.expect_line("busy TooManyFromPeer").await;
    let mut other = connect_from("127.0.0.2").await;
    other.expect_line("hello").await;
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_sessions_finish_then_cuts_them_at_the_deadline() {
    let server = RunningServer::start_with_limits(
        Arc::new(Greeter {
            stubborn: true,
            ..Greeter::default()
        }),
        &["tcp:0:interface=127.0.0.1"],
        Limits {
            shutdown_timeout: Duration::from_millis(500),
            ..limits()
        },
    )
    .await;
    let endpoint = server.client_endpoint();
    let mut peer = server.connect().await;
    peer.expect_line("hello").await;
    let started = std::time::Instant::now();
    let control = server.control().clone();
    let stop = tokio::spawn(server.stop());
    control.shutting_down().await;
    // Still served during the grace period...
    peer.send_line("during").await;
    peer.expect_line("ok during").await;
    // ...and no new connections are accepted.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(endpoint.connect().await.is_err(), "listener closed");
    // Cut at the deadline without a goodbye.
    peer.expect_closed().await;
    stop.await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn reload_swaps_the_tls_certificate_and_calls_the_service() {
    let tls = TestTls::generate();
    let service = Arc::new(Greeter::default());
    let server = RunningServer::start(service.clone(), &[&tls.server_endpoint(0)]).await;
    let port = server.addr().port();
    let mut before = TestPeer::connect(&tls.client_endpoint(port)).await;
    before.expect_line("hello").await;

    // Replace the files with a certificate from a different CA, then reload (SIGHUP does this).
    let replacement = TestTls::generate();
    std::fs::copy(replacement.cert_path(), tls.cert_path()).unwrap();
    std::fs::copy(replacement.key_path(), tls.key_path()).unwrap();
    server.control().reload();
    let mut waited = 0;
    while service.reloads.load(Ordering::SeqCst) == 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    assert_eq!(service.reloads.load(Ordering::SeqCst), 1);

    // New handshakes use the new certificate: the old CA no longer verifies it.
    assert!(tls.client_endpoint(port).connect().await.is_err());
    let mut after = TestPeer::connect(&replacement.client_endpoint(port)).await;
    after.expect_line("hello").await;
    // The connection made before the reload is untouched.
    before.send_line("still here").await;
    before.expect_line("ok still here").await;
    server.stop().await;
}

#[tokio::test]
async fn a_broken_certificate_on_reload_keeps_the_old_one() {
    let tls = TestTls::generate();
    let server =
        RunningServer::start(Arc::new(Greeter::default()), &[&tls.server_endpoint(0)]).await;
    let port = server.addr().port();
    std::fs::write(tls.cert_path(), "not a certificate").unwrap();
    server.control().reload();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut peer = TestPeer::connect(&tls.client_endpoint(port)).await;
    peer.expect_line("hello").await;
    server.stop().await;
}

#[tokio::test]
async fn tls_garbage_and_plaintext_on_a_tls_port_do_not_disturb_the_server() {
    let tls = TestTls::generate();
    let server =
        RunningServer::start(Arc::new(Greeter::default()), &[&tls.server_endpoint(0)]).await;
    let port = server.addr().port();
    let plain = ClientEndpoint::parse(&format!("127.0.0.1:{port}")).unwrap();
    let mut garbage = TestPeer::connect(&plain).await;
    garbage.send("GET / HTTP/1.0\r\n\r\n").await;
    let _ = garbage.read_to_close().await;
    let mut good = TestPeer::connect(&tls.client_endpoint(port)).await;
    good.expect_line("hello").await;
    server.stop().await;
}

#[tokio::test]
async fn bind_errors_are_runtime_failures_naming_the_endpoint() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let endpoint = ServerEndpoint::parse(&format!("tcp:{port}:interface=127.0.0.1")).unwrap();
    let err = Server::bind(Arc::new(Greeter::default()), &[endpoint], limits())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        err.to_string(),
        format!("tcp:127.0.0.1:{port}: address already in use")
    );

    let missing =
        ServerEndpoint::parse("tls:0:privateKey=/nonexistent/key.pem:interface=127.0.0.1").unwrap();
    let err = Server::bind(Arc::new(Greeter::default()), &[missing], limits())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("/nonexistent/key.pem"), "{err}");
}

#[test]
fn run_maps_results_to_exit_codes() {
    use std::process::ExitCode;
    assert_eq!(runner::run("t", async { Ok(()) }), ExitCode::SUCCESS);
    assert_eq!(
        runner::run("t", async { Err(RunError::Config("bad".into())) }),
        ExitCode::from(2)
    );
    assert_eq!(
        runner::run("t", async { Err(RunError::Runtime("boom".into())) }),
        ExitCode::from(1)
    );
}

#[test]
fn service_args_parse_and_validate() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        service: ServiceArgs,
    }
    let cli = Cli::try_parse_from([
        "x",
        "--listen",
        "tcp:0",
        "--listen",
        r"tcp:1:interface=\:\:1",
        "--max-per-ip",
        "0",
        "--idle-timeout",
        "0",
    ])
    .unwrap();
    assert_eq!(cli.service.listen.len(), 2);
    let limits = cli.service.limits();
    assert_eq!(limits.max_per_ip, 0);
    assert_eq!(limits.idle_timeout, None);
    assert_eq!(limits.write_timeout, None);
    assert_eq!(limits.frame_timeout, None);
    // A protocol's defaults hold unless the operator gave the flag; then the flag wins.
    let smtp_like = Limits {
        idle_timeout: Some(Duration::from_secs(300)),
        write_timeout: Some(Duration::from_secs(60)),
        frame_timeout: Some(Duration::from_secs(300)),
        ..Limits::default()
    };
    let unset = Cli::try_parse_from(["x"]).unwrap().service;
    let limits = unset.limits_over(smtp_like.clone());
    assert_eq!(limits.idle_timeout, Some(Duration::from_secs(300)));
    assert_eq!(limits.write_timeout, Some(Duration::from_secs(60)));
    let set = Cli::try_parse_from(["x", "--idle-timeout", "10"])
        .unwrap()
        .service;
    let limits = set.limits_over(smtp_like);
    assert_eq!(limits.idle_timeout, Some(Duration::from_secs(10)));
    assert_eq!(limits.write_timeout, Some(Duration::from_secs(10)));
    assert_eq!(limits.frame_timeout, Some(Duration::from_secs(10)));
    assert_eq!(unset.limits().idle_timeout, Some(Duration::from_secs(600)));
    let err = Cli::try_parse_from(["x", "--listen", "tcp:notaport"])
        .err()
        .unwrap();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("\"notaport\""), "{err}");
    let defaults = ServiceArgs::defaults();
    assert_eq!(
        defaults.endpoints_or(&["tcp:25"]).unwrap()[0].to_string(),
        "tcp:0.0.0.0:25"
    );
    assert!(runner::init_logging("info,[[[", runner::LogFormat::Text).is_err());
}

#[tokio::test]
async fn ipv6_loopback_with_twisted_escaping_and_brackets() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback on this machine; nothing to test");
        return;
    }
    let server = RunningServer::start(
        Arc::new(Greeter::default()),
        &[r"tcp:0:interface=\:\:1", "tcp:0:interface=[::1]"],
    )
    .await;
    for i in 0..2 {
        let addr = server.address(i).socket_addr().unwrap();
        assert!(addr.is_ipv6());
        let endpoint = ClientEndpoint::parse(&format!("[::1]:{}", addr.port())).unwrap();
        let mut peer = TestPeer::connect(&endpoint).await;
        peer.expect_line("hello").await;
        let endpoint =
            ClientEndpoint::parse(&format!(r"tcp:host=\:\:1:port={}", addr.port())).unwrap();
        let mut peer = TestPeer::connect(&endpoint).await;
        peer.expect_line("hello").await;
    }
    server.stop().await;
}

#[tokio::test]
async fn abort_resets_and_close_finishes_cleanly() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = ClientEndpoint::parse(&format!(
        "127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    ))
    .unwrap();
    let client = endpoint.connect().await.unwrap();
    let (mut server_side, _) = listener.accept().await.unwrap();
    client.abort();
    let mut buf = [0u8; 16];
    let err = tokio::io::AsyncReadExt::read(&mut server_side, &mut buf)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);

    let mut client = endpoint.connect().await.unwrap();
    let (mut server_side, _) = listener.accept().await.unwrap();
    client.queue(b"last words");
    client.close().await.unwrap();
    let mut got = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut server_side, &mut got)
        .await
        .unwrap();
    assert_eq!(got, b"last words");
}

#[tokio::test]
async fn connect_timeout_and_refusal_name_the_endpoint() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = ClientEndpoint::parse(&format!("tcp:host=127.0.0.1:port={port}:timeout=2"))
        .unwrap()
        .connect()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("tcp:127.0.0.1:{port}: ")),
        "{err}"
    );
    let err = ClientEndpoint::parse("tls:host=localhost:port=1:trustRoots=/nonexistent.pem")
        .unwrap()
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent.pem"), "{err}");
}

#[tokio::test]
async fn unix_listener_mode_stale_socket_and_live_socket() {
    use std::os::unix::fs::PermissionsExt;
    let dir = torsion_core::testkit::TempDir::new("unix-listen").unwrap();
    let path = dir.path().join("s.sock");
    // A stale socket file left by a crashed server is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let endpoint = ServerEndpoint::parse(&format!("unix:{}:mode=0600", path.display())).unwrap();
    let listener = endpoint.listen().await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A live one is not stolen.
    let err = endpoint.listen().await.unwrap_err();
    assert!(err.to_string().ends_with("address already in use"), "{err}");
    drop(listener);
    assert!(!path.exists(), "removed when the listener closes");
    // A regular file in the way is not deleted.
    std::fs::write(&path, "data").unwrap();
    assert!(endpoint.listen().await.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
}

#[tokio::test]
async fn udp_endpoints_bind_several_sockets_on_one_port() {
    let endpoint = ServerEndpoint::parse("udp:0:interface=127.0.0.1").unwrap();
    let sockets = endpoint.bind_udp(2).unwrap();
    let a = sockets[0].local_addr().unwrap();
    assert_eq!(a, sockets[1].local_addr().unwrap());
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"ping", a).await.unwrap();
    let (mut b0, mut b1) = ([0u8; 8], [0u8; 8]);
    let got = tokio::select! {
        r = sockets[0].recv_from(&mut b0) => b0[..r.unwrap().0].to_vec(),
        r = sockets[1].recv_from(&mut b1) => b1[..r.unwrap().0].to_vec(),
    };
    assert_eq!(got, b"ping");
    assert!(
        endpoint.listen().await.is_err(),
        "UDP endpoints do not accept streams"
    );
}

#[test]
fn clap_errors_render_as_one_line() {
    use clap::Parser;
    #[derive(Debug, Parser)]
    #[command(name = "torsion-x")]
    struct Cli {
        #[command(flatten)]
        service: ServiceArgs,
    }
    let err = Cli::try_parse_from(["torsion-x", "--listen", "bogus:1"]).unwrap_err();
    let line = runner::one_line_error(&err);
    assert!(!line.contains('\n'));
    assert!(line.starts_with("error: invalid value 'bogus:1'"), "{line}");
    assert!(line.contains("unknown endpoint type \"bogus\""), "{line}");
    let ok: Cli = runner::parse_args_from(["torsion-x", "--listen", "tcp:0"]);
    assert_eq!(ok.service.listen.len(), 1);
}
