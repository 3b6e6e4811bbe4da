//! The reverse proxy over loopback: forwarding fields in, hop-by-hop fields out both ways,
//! bodies streamed both ways, pooled upstream connections, and the failures — a dead
//! upstream (502), a slow one (504), one that answers garbage (502), one that dies inside a
//! body (the client's connection ends), none of which hangs the client.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use torsion_core::testkit::RunningServer;
use torsion_web::body::Body;
use torsion_web::client::{Client, ClientConfig};
use torsion_web::server::proxy::Proxy;
use torsion_web::server::{handler_fn, ConnInfo, HttpServer, Mount, RequestBody, ServerConfig};

async fn upstream_app(req: Request<RequestBody>) -> Response<Body> {
    match req.uri().path() {
        "/api/echo" => {
            let body = req.into_body().collect(1 << 24).await.unwrap();
            Response::new(Body::from(body))
        }
        "/api/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Response::new(Body::from("late"))
        }
        _ => {
            let peer = req.extensions().get::<ConnInfo>().unwrap().peer.to_string();
            let mut fields: Vec<String> = req
                .headers()
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
                .collect();
            fields.sort();
            Response::new(Body::from(format!(
                "{} {}\npeer: {peer}\n{}",
                req.method(),
                req.uri(),
                fields.join("\n")
            )))
        }
    }
}

async fn start(upstream: &str, head_timeout: Duration) -> RunningServer {
    let config = ClientConfig {
        connect_timeout: Duration::from_secs(2),
        head_timeout,
        read_timeout: head_timeout,
        ..ClientConfig::default()
    };
    let proxy = Proxy::new("/api", upstream.parse().unwrap(), config).unwrap();
    let mount = Mount::new().at("/api", proxy);
    RunningServer::start(
        Arc::new(HttpServer::new(ServerConfig::default(), mount)),
        &["tcp:0:interface=127.0.0.1"],
    )
    .await
}

async fn upstream() -> RunningServer {
    RunningServer::start(
        Arc::new(HttpServer::new(
            ServerConfig::default(),
            handler_fn(upstream_app),
        )),
        &["tcp:0:interface=127.0.0.1"],
    )
    .await
}

fn client() -> Client {
    Client::new(ClientConfig {
        decode_gzip: false,
        ..ClientConfig::default()
    })
}

#[tokio::test]
async fn forwarding_fields_and_hop_by_hop_removal() {
    let up = upstream().await;
    let front = start(
        &format!("http://127.0.0.1:{}", up.addr().port()),
        Duration::from_secs(5),
    )
    .await;
    // A raw request (our client would not send a Connection field of its own).
    let text = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(front.addr()).await.unwrap();
        s.write_all(b"GET /api/info?q=1 HTTP/1.1\r\nHost: front.test\r\nConnection: close, x-secret\r\nX-Secret: s\r\nTE: trailers\r\nX-Forwarded-For: 203.0.113.5\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let out = String::from_utf8(out).unwrap();
        out.split_once("\r\n\r\n").unwrap().1.to_owned()
    };
    assert!(text.starts_with("GET /api/info?q=1\n"), "{text}");
    assert!(
        text.contains("\nx-forwarded-for: 203.0.113.5, 127.0.0.1"),
        "{text}"
    );
    assert!(text.contains("\nx-forwarded-proto: http"), "{text}");
    assert!(text.contains("\nx-forwarded-host: front.test"), "{text}");
    assert!(
        text.contains("\nforwarded: for=127.0.0.1;proto=http;host=\"front.test\""),
        "{text}"
    );
    assert!(
        text.contains(&format!("\nhost: 127.0.0.1:{}", up.addr().port())),
        "{text}"
    );
    assert!(
        !text.contains("x-secret") && !text.contains("\nte:"),
        "{text}"
    );
    front.stop().await;
    up.stop().await;
}

/// An upstream that answers every request with `reply` (raw bytes).
async fn raw_upstream(reply: &'static [u8]) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(reply).await;
        }
    });
    (port, task)
}

#[tokio::test]
async fn hop_by_hop_fields_of_the_response_are_removed() {
    let (port, task) = raw_upstream(
        b"HTTP/1.1 200 OK\r\nConnection: x-private\r\nX-Private: 1\r\nX-Public: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 3\r\n\r\nhop",
    )
    .await;
    let front = start(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2)).await;
    let r = client()
        .get(&format!("http://127.0.0.1:{}/api/x", front.addr().port()))
        .await
        .unwrap();
    assert!(r.headers().get("x-private").is_none());
    assert!(r.headers().get("keep-alive").is_none());
    assert_eq!(r.headers()["x-public"], "1");
    assert_eq!(r.into_body().text(10).await.unwrap(), "hop");
    front.stop().await;
    task.abort();
}

#[tokio::test]
async fn bodies_stream_both_ways_over_pooled_upstream_connections() {
    let up = upstream().await;
    let front = start(
        &format!("http://127.0.0.1:{}", up.addr().port()),
        Duration::from_secs(5),
    )
    .await;
    let c = client();
    let base = format!("http://127.0.0.1:{}", front.addr().port());
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 239) as u8).collect();
    let mut req = Request::new(Body::from(big.clone()));
    *req.method_mut() = http::Method::PUT;
    *req.uri_mut() = format!("{base}/api/echo").parse().unwrap();
    let r = c.request(req).await.unwrap();
    assert_eq!(r.headers()["content-length"], "3000000");
    assert!(r.into_body().bytes(1 << 23).await.unwrap() == big);
    // The upstream sees one connection from the proxy for sequential requests.
    let mut peers = Vec::new();
    for _ in 0..4 {
        let text = c
            .get(&format!("{base}/api/p"))
            .await
            .unwrap()
            .into_body()
            .text(10_000)
            .await
            .unwrap();
        peers.push(text.lines().nth(1).unwrap().to_owned());
    }
    assert!(peers.iter().all(|p| *p == peers[0]), "{peers:?}");
    front.stop().await;
    up.stop().await;
}

#[tokio::test]
async fn upstream_failures_are_502_and_504_never_a_hang() {
    // Nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let front = start(&format!("http://127.0.0.1:{port}"), Duration::from_secs(1)).await;
    let c = client();
    let r = c
        .get(&format!("http://127.0.0.1:{}/api/x", front.addr().port()))
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    front.stop().await;

    // Too slow.
    let up = upstream().await;
    let front = start(
        &format!("http://127.0.0.1:{}", up.addr().port()),
        Duration::from_secs(1),
    )
    .await;
    let r = c
        .get(&format!(
            "http://127.0.0.1:{}/api/slow",
            front.addr().port()
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    front.stop().await;
    up.stop().await;

    // Garbage, and a body cut short.
    for reply in [
        &b"garbage garbage\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
    ] {
        let garbage = reply.starts_with(b"garbage");
        let (port, task) = raw_upstream(reply).await;
        let front = start(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2)).await;
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            c.get(&format!("http://127.0.0.1:{}/api/x", front.addr().port())),
        )
        .await
        .unwrap();
        if garbage {
            assert_eq!(r.unwrap().status(), 502);
        } else {
            let r = r.unwrap();
            assert_eq!(r.status(), 200);
            let body = tokio::time::timeout(Duration::from_secs(10), r.into_body().bytes(1000))
                .await
                .unwrap();
            assert!(
                body.is_err(),
                "an incomplete body must fail, not look complete"
            );
        }
        front.stop().await;
        task.abort();
    }
}
