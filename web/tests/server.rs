//! The HTTP/1.1 connection rules, in memory under a paused clock: keep-alive and pipelining,
//! HTTP/1.0, HEAD, chunked bodies both ways, 100-continue, the limits and their statuses,
//! request smuggling shapes, timeouts, and draining unread bodies.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{get, read_reply};
use http::{Request, Response, StatusCode};
use torsion_core::testkit::TestPeer;
use torsion_web::server::{
    error_response, handler_fn, Body, HttpServer, RequestBody, ServerConfig,
};

/// Echoes the method and path; `/echo` answers with the request body; `/stream` with a body
/// of unknown length; `/reject` answers 403 without reading the body.
async fn app(req: Request<RequestBody>) -> Response<Body> {
    match req.uri().path() {
        "/echo" => {
            let limit = 1 << 20;
            match req.into_body().collect(limit).await {
                Ok(b) => Response::new(Body::from(b)),
                Err(e) => error_response(e.status(), &e.to_string()),
            }
        }
        "/stream" => {
            let (tx, rx) =
                tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, std::io::Error>>(4);
            tokio::spawn(async move {
                for piece in ["one ", "two ", "three"] {
                    let _ = tx
                        .send(Ok(http_body::Frame::data(Bytes::from(piece))))
                        .await;
                }
            });
            Response::new(Body::stream(common::Channel(rx)))
        }
        "/reject" => error_response(StatusCode::FORBIDDEN, "no"),
        path => Response::new(Body::from(format!("{} {path}", req.method()))),
    }
}

fn config() -> ServerConfig {
    ServerConfig {
        max_body: 1000,
        keep_alive_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        max_requests: 5,
        ..ServerConfig::default()
    }
}

fn serve() -> TestPeer {
    TestPeer::serve(Arc::new(HttpServer::new(config(), handler_fn(app))))
}

#[tokio::test(start_paused = true)]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let mut peer = serve();
    peer.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nHEAD /c HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let a = read_reply(&mut peer, false).await;
    assert_eq!((a.status, a.text().as_str()), (200, "GET /a"));
    assert!(a.header("date").unwrap().ends_with(" GMT"));
    assert!(a.header("server").unwrap().starts_with("torsion-web/"));
    assert_eq!(a.header("connection"), None);
    let b = read_reply(&mut peer, false).await;
    assert_eq!(b.text(), "GET /b");
    let c = read_reply(&mut peer, true).await;
    assert_eq!(c.header("content-length"), Some("7"));
    // Still open: another request works.
    assert_eq!(get(&mut peer, "/d", "").await.text(), "GET /d");
}

#[tokio::test(start_paused = true)]
async fn http_1_0_closes_unless_kept_alive_and_connection_close_is_honoured() {
    let mut peer = serve();
    peer.send("GET /a HTTP/1.0\r\n\r\n").await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!(r.header("connection"), Some("close"));
    peer.expect_closed().await;

    let mut peer = serve();
    peer.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!(r.header("connection"), Some("keep-alive"));
    peer.send("GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!(
        (r.text().as_str(), r.header("connection")),
        ("GET /b", Some("close"))
    );
    peer.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn chunked_bodies_in_and_out() {
    let mut peer = serve();
    peer.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-T: 1\r\n\r\n")
        .await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!((r.status, r.text().as_str()), (200, "hello world"));
    let r = get(&mut peer, "/stream", "").await;
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "one two three");
    // HTTP/1.0 has no chunked coding: the body ends with the connection.
    peer.send("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.text(), "one two three");
}

#[tokio::test(start_paused = true)]
async fn expect_100_continue_is_sent_only_when_the_body_is_wanted() {
    let mut peer = serve();
    peer.send("PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .await;
    peer.expect_line("HTTP/1.1 100 Continue").await;
    peer.expect_line("").await;
    peer.send("hello").await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!(r.text(), "hello");
    // A handler that answers without reading: no 100, and the connection closes (the client
    // may or may not send the body now).
    peer.send(
        "PUT /reject HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("connection"), Some("close"));
    peer.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn limits_answer_413_414_431_and_close() {
    for (request, status) in [
        (
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n".to_owned(),
            413,
        ),
        (
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000)),
            414,
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
                (0..101)
                    .map(|i| format!("X-{i}: v\r\n"))
                    .collect::<String>()
            ),
            431,
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "b".repeat(40_000)
            ),
            431,
        ),
    ] {
        let mut peer = serve();
        let _ = peer.try_send(&request).await;
        let r = read_reply(&mut peer, false).await;
        assert_eq!(r.status, status, "{}", &request[..40]);
        assert_eq!(r.header("connection"), Some("close"));
        peer.expect_closed().await;
    }
    // A chunked body over the limit: the handler sees TooLarge and answers 413.
    let mut peer = serve();
    let chunk = format!("3e8\r\n{}\r\n", "z".repeat(1000));
    peer.send(format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}"
    ))
    .await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
}

#[tokio::test(start_paused = true)]
async fn smuggling_shapes_get_400_and_nothing_behind_them_is_served() {
    for request in [
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n X: y\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX: a\rGET /smuggled\r\n\r\n",
    ] {
        let mut peer = serve();
        peer.send(request).await;
        let r = read_reply(&mut peer, false).await;
        assert_eq!(r.status, 400, "{request:?}");
        peer.expect_closed().await;
    }
    // Bad chunk framing inside the body: the handler's read fails, 400, close.
    let mut peer = serve();
    peer.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!(r.status, 400);
    peer.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn garbage_gets_400_never_a_panic() {
    for junk in [
        &b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
        b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\0\0\0\0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n",
    ] {
        let mut peer = serve();
        peer.send(junk).await;
        let r = read_reply(&mut peer, false).await;
        assert_eq!(r.status, 400, "{junk:?}");
        peer.expect_closed().await;
        peer.join().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_trickled_head_gets_408_and_idle_connections_close_quietly() {
    let mut peer = serve();
    peer.send("GET / HTTP/1.1\r\n").await;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if peer.try_send("X-Slow: 1\r\n").await.is_err() {
            break;
        }
    }
    let r = read_reply(&mut peer, false).await;
    assert_eq!(r.status, 408);
    peer.expect_closed().await;

    // Kept alive, then nothing: closed without a word after the keep-alive timeout.
    let mut peer = serve();
    assert_eq!(get(&mut peer, "/a", "").await.status, 200);
    tokio::time::sleep(Duration::from_secs(6)).await;
    peer.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn max_requests_per_connection_closes_after_the_last() {
    let mut peer = serve();
    for i in 1..=5 {
        let r = get(&mut peer, &format!("/{i}"), "").await;
        assert_eq!(r.header("connection"), (i == 5).then_some("close"), "{i}");
    }
    peer.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn unread_bodies_are_drained_when_small_and_cut_when_large() {
    let mut peer = serve();
    // /a does not read its 10-byte body: drained, the connection goes on.
    peer.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(read_reply(&mut peer, false).await.text(), "POST /a");
    assert_eq!(read_reply(&mut peer, false).await.text(), "GET /b");
    // A large unread body (under the limit of a server with a larger one) closes.
    let big = ServerConfig {
        max_body: 1 << 20,
        ..config()
    };
    let mut peer = TestPeer::serve(Arc::new(HttpServer::new(big, handler_fn(app))));
    peer.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
        .await;
    let _ = peer.try_send(vec![b'z'; 70_000]).await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!(r.header("connection"), Some("close"));
}

#[tokio::test(start_paused = true)]
async fn options_star_and_absolute_targets_reach_the_handler() {
    let mut peer = serve();
    peer.send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(read_reply(&mut peer, false).await.text(), "OPTIONS *");
    peer.send("GET http://example.test/abs?q=1 HTTP/1.1\r\nHost: other\r\n\r\n")
        .await;
    assert_eq!(read_reply(&mut peer, false).await.text(), "GET /abs");
}

#[tokio::test(start_paused = true)]
async fn a_trickled_body_gets_408_and_close() {
    let mut peer = serve();
    peer.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n0123456789")
        .await;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if peer.try_send("z").await.is_err() {
            break;
        }
    }
    let r = read_reply(&mut peer, false).await;
    assert_eq!(r.status, 408);
    assert_eq!(r.header("connection"), Some("close"));
    peer.expect_closed().await;
}
