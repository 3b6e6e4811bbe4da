//! Connection behaviour: framing switches, backpressure, timeouts, shutdown, STARTTLS.

use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use torsion_core::framing::{CountedCodec, FrameError, LineCodec};
use torsion_core::testkit::{memory_pair, memory_pair_with_capacity, TestTls};
use torsion_core::{Address, Connection, ConnectionOptions, ReadError, Stream};

fn pair_of_connections() -> (Connection, Connection) {
    let (a, b) = tokio::io::duplex(16 * 1024);
    (
        Connection::new(
            Stream::Memory(a),
            Address::Memory("client".into()),
            Address::Memory("server".into()),
        ),
        Connection::new(
            Stream::Memory(b),
            Address::Memory("server".into()),
            Address::Memory("client".into()),
        ),
    )
}

#[tokio::test(start_paused = true)]
async fn framing_switches_mid_stream_without_losing_bytes() {
    let (mut conn, mut peer) = memory_pair();
    // An IMAP-style command announcing a literal, the literal, and the rest of the line,
    // all arriving in one write.
    peer.send("A1 APPEND INBOX {11}\r\nHello\r\nWorld FLAGS\r\nA2 NOOP\r\n")
        .await;
    let mut lines = LineCodec::crlf(1000);
    assert_eq!(
        conn.read_frame(&mut lines).await.unwrap().unwrap(),
        &b"A1 APPEND INBOX {11}"[..]
    );
    let mut literal = CountedCodec::new(11, 4);
    let mut body = Vec::new();
    while let Some(chunk) = conn.read_frame(&mut literal).await.unwrap() {
        assert!(chunk.len() <= 4);
        body.extend_from_slice(&chunk);
        if literal.is_done() {
            break;
        }
    }
    assert_eq!(body, b"Hello\r\nWorl");
    assert_eq!(
        conn.read_frame(&mut lines).await.unwrap().unwrap(),
        &b"d FLAGS"[..]
    );
    assert_eq!(
        conn.read_frame(&mut lines).await.unwrap().unwrap(),
        &b"A2 NOOP"[..]
    );
}

#[tokio::test(start_paused = true)]
async fn clean_eof_and_truncated_frame_are_distinguished() {
    let (mut conn, mut peer) = memory_pair();
    peer.send("whole\r\nhalf a li").await;
    peer.shutdown_write().await;
    let mut lines = LineCodec::crlf(100);
    assert_eq!(
        conn.read_frame(&mut lines).await.unwrap().unwrap(),
        &b"whole"[..]
    );
    match conn.read_frame(&mut lines).await {
        Err(ReadError::Truncated { pending: 9 }) => {}
        other => panic!("expected Truncated, got {other:?}"),
    }

    let (mut conn, mut peer) = memory_pair();
    peer.send("done\r\n").await;
    peer.shutdown_write().await;
    assert!(conn.read_frame(&mut lines).await.unwrap().is_some());
    assert!(conn.read_frame(&mut lines).await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn over_long_line_is_recoverable() {
    let (mut conn, mut peer) = memory_pair();
    let mut lines = LineCodec::crlf(10);
    peer.send(vec![b'x'; 50_000]).await;
    let err = conn.read_frame(&mut lines).await.unwrap_err();
    assert!(matches!(
        err,
        ReadError::Frame(FrameError::LineTooLong { limit: 10 })
    ));
    assert!(err.is_recoverable_frame());
    peer.send("\r\nshort\r\n").await;
    assert_eq!(
        conn.read_frame(&mut lines).await.unwrap().unwrap(),
        &b"short"[..]
    );
}

#[tokio::test(start_paused = true)]
async fn slow_reader_applies_backpressure_and_memory_stays_bounded() {
    let (conn, mut peer) = memory_pair_with_capacity(1024);
    let mut conn = conn.with_options(ConnectionOptions {
        max_write_buffer: 4096,
        ..Default::default()
    });
    let writer = tokio::spawn(async move {
        let mut max_seen = 0;
        for _ in 0..1000 {
            conn.feed(&[b'z'; 1000]).await.unwrap();
            max_seen = max_seen.max(conn.buffered_output());
        }
        conn.flush().await.unwrap();
        max_seen
    });
    // The peer reads nothing yet: the writer must be stuck, not buffering a megabyte.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!writer.is_finished(), "feed must wait for the peer");
    // Now drain: everything arrives.
    let all = peer.read_exact(1_000_000).await;
    assert!(all.iter().all(|&b| b == b'z'));
    let max_seen = writer.await.unwrap();
    assert!(max_seen <= 4096, "write buffer grew to {max_seen}");
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_covers_reads_and_stalled_writes() {
    let (conn, _peer) = memory_pair();
    let mut conn = conn.with_options(ConnectionOptions {
        idle_timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    });
    let started = tokio::time::Instant::now();
    let err = conn.read_frame(&mut LineCodec::crlf(10)).await.unwrap_err();
    assert!(matches!(err, ReadError::IdleTimeout), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(5));

    let (conn, _peer) = memory_pair_with_capacity(100);
    let mut conn = conn.with_options(ConnectionOptions {
        idle_timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    });
    conn.queue(&[0u8; 10_000]);
    let err = conn.flush().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
}

fn frame_limited(conn: Connection, frame: u64, rate: u32) -> Connection {
    conn.with_options(ConnectionOptions {
        idle_timeout: Some(Duration::from_secs(frame)),
        frame_timeout: Some(Duration::from_secs(frame)),
        min_data_rate: rate,
        ..Default::default()
    })
}

#[tokio::test(start_paused = true)]
async fn a_trickled_frame_is_cut_off_at_its_deadline() {
    let (conn, mut peer) = memory_pair();
    let mut conn = frame_limited(conn, 10, 500);
    let started = tokio::time::Instant::now();
    let reader = tokio::spawn(async move {
        let result = conn.read_frame(&mut LineCodec::crlf(1000)).await;
        (result.map(|f| f.map(|b| b.to_vec())), conn)
    });
    // One byte a second forever: each byte would restart an idle timer, never the frame's.
    let trickle = tokio::spawn(async move {
        loop {
            if peer.try_send("x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let (result, _conn) = reader.await.unwrap();
    assert!(matches!(result, Err(ReadError::FrameTimeout)), "{result:?}");
    let elapsed = started.elapsed();
    // 10 s plus the credit of ~10 bytes at 500 B/s (20 ms).
    assert!(
        elapsed >= Duration::from_secs(10) && elapsed < Duration::from_millis(10_100),
        "{elapsed:?}"
    );
    trickle.abort();
}

#[tokio::test(start_paused = true)]
async fn a_large_frame_at_the_minimum_rate_is_not_cut_off() {
    let (conn, mut peer) = memory_pair();
    let mut conn = frame_limited(conn, 10, 500);
    // 60 s of 1,000 B/s (twice the minimum rate), then the end of the line: six times the
    // frame timeout, and never a gap as long as the idle timeout.
    let sender = tokio::spawn(async move {
        for _ in 0..60 {
            peer.send([b'a'; 1000]).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        peer.send("\r\n").await;
        peer
    });
    let line = conn
        .read_frame(&mut LineCodec::crlf(100_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line.len(), 60_000);
    let _peer = sender.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn each_frame_gets_its_own_deadline_and_silence_is_idle() {
    let (conn, mut peer) = memory_pair();
    let mut conn = frame_limited(conn, 10, 0);
    let mut lines = LineCodec::crlf(100);
    // Many short frames, each well inside the deadline, over far longer than one deadline.
    for i in 0..30 {
        peer.send(format!("line {i}")).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        peer.send("\r\n").await;
        let line = conn.read_frame(&mut lines).await.unwrap().unwrap();
        assert_eq!(line, format!("line {i}").as_bytes());
    }
    // A partial frame left over after a complete one starts the next frame's clock.
    peer.send("done\r\npart").await;
    assert_eq!(
        conn.read_frame(&mut lines).await.unwrap().unwrap(),
        &b"done"[..]
    );
    let err = conn.read_frame(&mut lines).await.unwrap_err();
    assert!(matches!(err, ReadError::FrameTimeout), "{err:?}");
    // Between frames, silence is the idle timeout, not a frame timeout.
    let (conn, _peer) = memory_pair();
    let mut conn = frame_limited(conn, 10, 0);
    let err = conn.read_frame(&mut lines).await.unwrap_err();
    assert!(matches!(err, ReadError::IdleTimeout), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn a_transfer_read_in_pieces_is_one_frame() {
    let (conn, mut peer) = memory_pair();
    let mut conn = frame_limited(conn, 10, 0);
    let sender = tokio::spawn(async move {
        for _ in 0..100 {
            if peer.try_send("xxxx").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    // Each 4-byte piece decodes at once; without the transfer bracket each would be a frame.
    let mut codec = CountedCodec::new(400, 4);
    conn.start_transfer();
    let started = tokio::time::Instant::now();
    let err = loop {
        match conn.read_frame(&mut codec).await {
            Ok(Some(_)) => continue,
            other => break other.unwrap_err(),
        }
    };
    assert!(matches!(err, ReadError::FrameTimeout), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    sender.abort();
}

#[tokio::test(start_paused = true)]
async fn a_stalled_write_is_bounded_by_the_write_timeout() {
    let (conn, _peer) = memory_pair_with_capacity(100);
    let mut conn = conn.with_options(ConnectionOptions {
        idle_timeout: Some(Duration::from_secs(300)),
        write_timeout: Some(Duration::from_secs(7)),
        ..Default::default()
    });
    let started = tokio::time::Instant::now();
    conn.queue(&[0u8; 10_000]);
    // Through the read path (output is flushed before waiting for input) ...
    let err = conn.read_frame(&mut LineCodec::crlf(10)).await.unwrap_err();
    assert!(matches!(err, ReadError::IdleTimeout), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(7));
    // ... and through flush.
    let err = conn.flush().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(started.elapsed(), Duration::from_secs(14));
}

#[tokio::test(start_paused = true)]
async fn shutdown_interrupts_idle_reads_unless_deferred() {
    let token = CancellationToken::new();
    let (conn, mut peer) = memory_pair();
    let mut conn = conn.with_shutdown(token.clone());
    let t = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        t.cancel();
    });
    let err = conn.read_frame(&mut LineCodec::crlf(10)).await.unwrap_err();
    assert!(matches!(err, ReadError::Shutdown));
    assert!(conn.shutdown_requested());

    // Mid-transaction, the session asks not to be interrupted and still gets its data.
    conn.set_shutdown_interrupts(false);
    let reader = tokio::spawn(async move {
        conn.read_frame(&mut LineCodec::crlf(10))
            .await
            .map(|f| f.map(|b| b.to_vec()))
    });
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!reader.is_finished());
    peer.send("end\r\n").await;
    assert_eq!(reader.await.unwrap().unwrap().unwrap(), b"end");
}

#[tokio::test]
async fn starttls_discards_pipelined_plaintext_and_upgrades_both_sides() {
    let tls = TestTls::generate();
    let acceptor = tls.acceptor();
    let connector = tls.connector();
    let (mut client, mut server) = pair_of_connections();
    let mut lines = LineCodec::crlf(1000);

    let server_task = tokio::spawn(async move {
        let mut lines = LineCodec::crlf(1000);
        let cmd = server.read_frame(&mut lines).await.unwrap().unwrap();
        assert_eq!(cmd, &b"STARTTLS"[..]);
        server.queue(b"220 Ready to start TLS\r\n");
        let discarded = server.upgrade_server_tls(&acceptor).await.unwrap();
        assert!(server.is_tls());
        server.queue(b"250 secure\r\n");
        let next = server.read_frame(&mut lines).await.unwrap().unwrap();
        server.send(b"250 got it\r\n").await.unwrap();
        (discarded, next)
    });

    // A malicious client pipelines a command behind STARTTLS in the same packet.
    client
        .send(b"STARTTLS\r\nRCPT TO:<evil@example>\r\n")
        .await
        .unwrap();
    assert_eq!(
        client.read_frame(&mut lines).await.unwrap().unwrap(),
        &b"220 Ready to start TLS"[..]
    );
    let name = ServerName::try_from("localhost").unwrap();
    assert_eq!(
        client.upgrade_client_tls(&connector, name).await.unwrap(),
        0
    );
    assert!(client.tls_summary().unwrap().contains("TLS"));
    assert_eq!(
        client.read_frame(&mut lines).await.unwrap().unwrap(),
        &b"250 secure"[..]
    );
    client.send(b"EHLO again\r\n").await.unwrap();
    assert_eq!(
        client.read_frame(&mut lines).await.unwrap().unwrap(),
        &b"250 got it"[..]
    );

    let (discarded, next) = server_task.await.unwrap();
    assert_eq!(discarded, "RCPT TO:<evil@example>\r\n".len());
    assert_eq!(
        next,
        &b"EHLO again"[..],
        "the injected command was never processed"
    );
}

#[tokio::test]
async fn tls_handshake_garbage_is_an_error_not_a_panic() {
    let tls = TestTls::generate();
    let (client, mut server) = pair_of_connections();
    let acceptor = tls.acceptor();
    let task = tokio::spawn(async move { server.upgrade_server_tls(&acceptor).await });
    let (mut stream, _) = client.into_parts();
    stream
        .write_all(b"this is not a TLS ClientHello\r\n\r\n")
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    assert!(task.await.unwrap().is_err());
}

#[tokio::test]
async fn idle_tcp_connection_holds_no_buffers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sock, peer) = listener.accept().await.unwrap();
    let mut conn = Connection::new(Stream::Tcp(sock), Address::Tcp(peer), Address::Tcp(addr));
    client.write_all(b"one\r\n").await.unwrap();
    let mut lines = LineCodec::crlf(100);
    assert_eq!(
        conn.read_frame(&mut lines).await.unwrap().unwrap(),
        &b"one"[..]
    );
    conn.queue(b"reply\r\n");
    // Wait for a line that never comes within 100 ms: meanwhile both buffers are released.
    let read = tokio::time::timeout(Duration::from_millis(100), conn.read_frame(&mut lines)).await;
    assert!(read.is_err());
    assert_eq!(conn.buffer_capacity(), (0, 0));
    client.write_all(b"two\r\n").await.unwrap();
    assert_eq!(
        conn.read_frame(&mut lines).await.unwrap().unwrap(),
        &b"two"[..]
    );
}

#[derive(Debug, PartialEq)]
enum Woke {
    Queue,
    Frame(Option<String>),
    Err(String),
}

/// Wait on `conn` and `rx` at once, the way an IRC session does.
async fn wait_either(
    conn: &mut Connection,
    rx: &mut torsion_core::sendq::SendQueueReceiver,
    lines: &mut LineCodec,
) -> Woke {
    use std::task::Poll;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(true) = rx.poll_ready(cx) {
            return Poll::Ready(Woke::Queue);
        }
        match conn.poll_read_frame(cx, lines) {
            Poll::Ready(Ok(frame)) => Poll::Ready(Woke::Frame(
                frame.map(|f| String::from_utf8_lossy(&f).into_owned()),
            )),
            Poll::Ready(Err(e)) => Poll::Ready(Woke::Err(e.to_string())),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// The poll form waits on the socket beside another source (here a send queue) with no future
/// of its own: output goes out before the wait, input and the other source both wake it, and
/// the idle timeout runs from the first `Pending` after the last progress.
#[tokio::test(start_paused = true)]
async fn poll_read_frame_waits_beside_other_sources() {
    let (conn, mut peer) = memory_pair();
    let mut conn = conn.with_options(ConnectionOptions {
        idle_timeout: Some(Duration::from_secs(10)),
        ..Default::default()
    });
    let (tx, mut rx) = torsion_core::sendq::send_queue(1000);
    let mut lines = LineCodec::crlf(100);
    let started = tokio::time::Instant::now();
    conn.queue(b"hello\r\n");
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        tx.try_send(bytes::Bytes::from_static(b"queued")).unwrap();
        tx
    });
    // The queued greeting is written while the session waits.
    let woke = wait_either(&mut conn, &mut rx, &mut lines).await;
    assert_eq!(woke, Woke::Queue);
    peer.expect_line("hello").await;
    assert_eq!(started.elapsed(), Duration::from_secs(4));
    let mut got = Vec::new();
    rx.drain(usize::MAX, |m| got.push(m.clone()));
    assert_eq!(got, ["queued"]);
    let _tx = sender.await.unwrap();

    // The queue's wake-up was no progress on the connection: its idle time still counts from
    // the first wait. Input 5 s later (9 s idle) is in time…
    let (_, woke) = tokio::join!(
        async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            peer.send(b"one\r\n").await;
        },
        wait_either(&mut conn, &mut rx, &mut lines)
    );
    assert_eq!(woke, Woke::Frame(Some("one".into())));
    // …and re-arms the timeout: 10 s of nothing from there ends the next wait.
    let waited = tokio::time::Instant::now();
    let woke = wait_either(&mut conn, &mut rx, &mut lines).await;
    assert_eq!(woke, Woke::Err("idle timeout".into()));
    assert_eq!(waited.elapsed(), Duration::from_secs(10));
}

/// A file of `len` pseudo-random bytes in a fresh temporary directory.
fn test_file(name: &str, len: usize) -> (torsion_core::testkit::TempDir, std::fs::File, Vec<u8>) {
    let dir = torsion_core::testkit::TempDir::new(name).expect("temp dir");
    let data: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = dir.path().join("f");
    std::fs::write(&path, &data).expect("write");
    (dir, std::fs::File::open(&path).expect("open"), data)
}

#[tokio::test]
async fn send_file_over_tcp_sends_the_range_after_queued_output() {
    use tokio::io::AsyncReadExt;
    let (_dir, file, data) = test_file("sendfile-tcp", 3 * 1024 * 1024 + 17);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sock, peer) = listener.accept().await.unwrap();
    let mut conn = Connection::new(Stream::Tcp(sock), Address::Tcp(peer), Address::Tcp(addr));
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        got
    });
    conn.queue(b"head:");
    conn.send_file(&file, 5, data.len() as u64 - 10)
        .await
        .unwrap();
    conn.queue(b":tail");
    // Past the end: the file is shorter than asked.
    let err = conn.send_file(&file, data.len() as u64 - 3, 10).await;
    assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    conn.close().await.unwrap();
    let got = reader.await.unwrap();
    let mut expected = b"head:".to_vec();
    expected.extend_from_slice(&data[5..data.len() - 5]);
    expected.extend_from_slice(b":tail");
    // The short send delivered what the file had (3 bytes) before failing.
    expected.extend_from_slice(&data[data.len() - 3..]);
    assert_eq!(got.len(), expected.len());
    assert!(got == expected);
}

#[tokio::test]
async fn send_file_in_memory_goes_through_the_write_buffer() {
    let (_dir, file, data) = test_file("sendfile-mem", 200 * 1024 + 3);
    let (mut conn, mut peer) = memory_pair();
    let want = data.len() - 1;
    let reader = tokio::spawn(async move { peer.read_exact(want).await });
    conn.send_file(&file, 1, want as u64).await.unwrap();
    conn.flush().await.unwrap();
    let got = reader.await.unwrap();
    assert!(got == data[1..]);
}
