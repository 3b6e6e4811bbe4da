//! The client against our server over loopback: pooled keep-alive reuse, streamed chunked
//! uploads, redirects and their policy, gzip decoding, timeouts, a stale pooled connection
//! retried, https with given roots, and a CONNECT proxy.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use torsion_core::testkit::{RunningServer, TestTls};
use torsion_web::body::Body;
use torsion_web::client::pool::PoolKey;
use torsion_web::client::url::Origin;
use torsion_web::client::{Client, ClientConfig, ClientError, RedirectPolicy};
use torsion_web::server::{handler_fn, ConnInfo, HttpServer, RequestBody, ServerConfig};

static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

async fn app(req: Request<RequestBody>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let mut resp = match path.as_str() {
        "/echo" => {
            let body = req.into_body().collect(1 << 24).await.unwrap();
            Response::new(Body::from(body))
        }
        "/peer" => {
            let peer = req.extensions().get::<ConnInfo>().unwrap().peer.to_string();
            Response::new(Body::from(peer))
        }
        "/gzip" => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&b"squeeze me ".repeat(10_000)).unwrap();
            let mut r = Response::new(Body::from(enc.finish().unwrap()));
            r.headers_mut()
                .insert("content-encoding", "gzip".parse().unwrap());
            r
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Response::new(Body::from("late"))
        }
        "/headers" => {
            let auth = req
                .headers()
                .get("authorization")
                .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned());
            Response::new(Body::from(format!("{} auth={auth}", req.method())))
        }
        p if p.starts_with("/redirect/") => {
            let (code, to) = p["/redirect/".len()..].split_once('/').unwrap();
            let mut r = Response::new(Body::from("moved"));
            *r.status_mut() = StatusCode::from_u16(code.parse().unwrap()).unwrap();
            let to = percent_encoding::percent_decode_str(to)
                .decode_utf8()
                .unwrap();
            r.headers_mut().insert("location", to.parse().unwrap());
            r
        }
        "/loop" => {
            let mut r = Response::new(Body::Empty);
            *r.status_mut() = StatusCode::FOUND;
            r.headers_mut().insert("location", "/loop".parse().unwrap());
            r
        }
        _ => Response::new(Body::from(format!("{} {path}", req.method()))),
    };
    resp.headers_mut().insert("x-path", path.parse().unwrap());
    resp
}

async fn server(endpoint: &str, config: ServerConfig) -> RunningServer {
    RunningServer::start(
        Arc::new(HttpServer::new(config, handler_fn(app))),
        &[endpoint],
    )
    .await
}

fn client() -> Client {
    Client::new(ClientConfig {
        head_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    })
}

#[tokio::test]
async fn keep_alive_connections_are_pooled_and_reused() {
    let s = server("tcp:0:interface=127.0.0.1", ServerConfig::default()).await;
    let c = client();
    let base = format!("http://127.0.0.1:{}", s.addr().port());
    let mut peers = Vec::new();
    for _ in 0..3 {
        let r = c.get(&format!("{base}/peer")).await.unwrap();
        assert_eq!(r.status(), 200);
        peers.push(r.into_body().text(1000).await.unwrap());
    }
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "one connection: {peers:?}"
    );
    let key = PoolKey {
        origin: Origin::of(&base.parse().unwrap()).unwrap(),
        proxied: false,
    };
    assert_eq!(c.pool().idle_count(&key), 1);
    // A body not read to its end: that connection is not pooled.
    let r = c.get(&format!("{base}/gzip")).await.unwrap();
    drop(r);
    assert_eq!(c.pool().idle_count(&key), 0);
    s.stop().await;
}

#[tokio::test]
async fn uploads_stream_chunked_and_gzip_is_decoded() {
    let s = server("tcp:0:interface=127.0.0.1", ServerConfig::default()).await;
    let c = client();
    let base = format!("http://127.0.0.1:{}", s.addr().port());
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, std::io::Error>>(2);
    tokio::spawn(async move {
        for i in 0..100 {
            let piece = Bytes::from(format!("piece {i};"));
            if tx.send(Ok(http_body::Frame::data(piece))).await.is_err() {
                return;
            }
        }
    });
    let mut req = Request::new(Body::stream(common::Channel(rx)));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = format!("{base}/echo").parse().unwrap();
    let r = c.request(req).await.unwrap();
    let text = r.into_body().text(1 << 20).await.unwrap();
    let expected: String = (0..100).map(|i| format!("piece {i};")).collect();
    assert_eq!(text, expected);

    let r = c.get(&format!("{base}/gzip")).await.unwrap();
    assert_eq!(r.headers().get("content-encoding"), None);
    let body = r.into_body().bytes(1 << 20).await.unwrap();
    assert!(body == b"squeeze me ".repeat(10_000));
    s.stop().await;
}

#[tokio::test]
async fn redirects_follow_the_policy() {
    let a = server("tcp:0:interface=127.0.0.1", ServerConfig::default()).await;
    let b = server("tcp:0:interface=127.0.0.2", ServerConfig::default()).await;
    let c = client();
    let base = format!("http://127.0.0.1:{}", a.addr().port());
    let other = format!("http://127.0.0.2:{}", b.addr().port());
    // Relative, then absolute to another origin.
    let r = c.get(&format!("{base}/redirect/302/%2Fend")).await.unwrap();
    assert_eq!(r.headers()["x-path"], "/end");
    // 303 after POST: GET; 307 keeps POST and its body.
    let post = |url: String| {
        let mut req = Request::new(Body::from("data"));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = url.parse().unwrap();
        req.headers_mut()
            .insert("authorization", "Bearer secret".parse().unwrap());
        req
    };
    let r = c
        .request(post(format!("{base}/redirect/303/%2Fheaders")))
        .await
        .unwrap();
    assert_eq!(
        r.into_body().text(100).await.unwrap(),
        "GET auth=Bearer secret"
    );
    let r = c
        .request(post(format!("{base}/redirect/307/%2Fecho")))
        .await
        .unwrap();
    assert_eq!(r.into_body().text(100).await.unwrap(), "data");
    // Across origins the credentials are dropped.
    let to_other = percent_encoding::utf8_percent_encode(
        &format!("{other}/headers"),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    let r = c
        .request(post(format!("{base}/redirect/303/{to_other}")))
        .await
        .unwrap();
    assert_eq!(r.into_body().text(100).await.unwrap(), "GET auth=none");
    // A loop ends at the limit.
    assert!(matches!(
        c.get(&format!("{base}/loop")).await,
        Err(ClientError::TooManyRedirects(10))
    ));
    // No policy: the 3xx itself.
    let none = Client::new(ClientConfig {
        redirects: RedirectPolicy {
            max: 0,
            allow_downgrade: false,
        },
        ..ClientConfig::default()
    });
    assert_eq!(
        none.get(&format!("{base}/loop")).await.unwrap().status(),
        302
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn https_with_given_roots_and_no_downgrade() {
    let tls = TestTls::generate();
    let s = server(&tls.server_endpoint(0), ServerConfig::default()).await;
    let port = s.addr().port();
    let c = Client::new(ClientConfig {
        trust_roots: Some(tls.ca_path()),
        ..ClientConfig::default()
    });
    let r = c.get(&format!("https://127.0.0.1:{port}/x")).await.unwrap();
    assert_eq!(r.into_body().text(100).await.unwrap(), "GET /x");
    // The system roots do not know the test CA.
    let untrusting = client();
    assert!(matches!(
        untrusting.get(&format!("https://127.0.0.1:{port}/x")).await,
        Err(ClientError::Tls(_))
    ));
    // https → http is refused.
    let down = percent_encoding::utf8_percent_encode(
        "http://127.0.0.1:1/",
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    let r = c
        .get(&format!("https://127.0.0.1:{port}/redirect/301/{down}"))
        .await;
    assert!(matches!(r, Err(ClientError::Downgrade(_))), "{r:?}");
    s.stop().await;
}

#[tokio::test]
async fn timeouts_and_a_stale_pooled_connection() {
    let config = ServerConfig {
        keep_alive_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let s = server("tcp:0:interface=127.0.0.1", config).await;
    let c = client();
    let base = format!("http://127.0.0.1:{}", s.addr().port());
    assert!(matches!(
        c.get(&format!("{base}/slow")).await,
        Err(ClientError::Timeout(_))
    ));
    let r = c.get(&format!("{base}/a")).await.unwrap();
    assert_eq!(r.into_body().text(100).await.unwrap(), "GET /a");
    // The server closes the idle connection; the next GET finds it dead and retries.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r = c.get(&format!("{base}/b")).await.unwrap();
    assert_eq!(r.into_body().text(100).await.unwrap(), "GET /b");
    // Nothing listening: a connect error, not a hang.
    let dead = Client::new(ClientConfig {
        connect_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    });
    let port = s.addr().port();
    s.stop().await;
    assert!(matches!(
        dead.get(&format!("http://127.0.0.1:{port}/")).await,
        Err(ClientError::Connect(_))
    ));
}

/// A CONNECT proxy that counts its tunnels.
async fn connect_proxy() -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut reader = BufReader::new(sock);
                let mut line = String::new();
                reader.read_line(&mut line).await.unwrap();
                let target = line.split(' ').nth(1).unwrap().to_owned();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).await.unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                }
                CONNECTIONS.fetch_add(1, Ordering::SeqCst);
                let mut upstream = tokio::net::TcpStream::connect(&target).await.unwrap();
                let mut sock = reader.into_inner();
                sock.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut sock, &mut upstream).await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn https_through_a_connect_proxy() {
    let tls = TestTls::generate();
    let s = server(&tls.server_endpoint(0), ServerConfig::default()).await;
    let (proxy_port, proxy) = connect_proxy().await;
    let c = Client::new(ClientConfig {
        trust_roots: Some(tls.ca_path()),
        proxy: Some(format!("http://127.0.0.1:{proxy_port}").parse().unwrap()),
        ..ClientConfig::default()
    });
    let before = CONNECTIONS.load(Ordering::SeqCst);
    for path in ["/one", "/two"] {
        let r = c
            .get(&format!("https://127.0.0.1:{}{path}", s.addr().port()))
            .await
            .unwrap();
        assert_eq!(
            r.into_body().text(100).await.unwrap(),
            format!("GET {path}")
        );
    }
    // One tunnel, reused from the pool.
    assert_eq!(CONNECTIONS.load(Ordering::SeqCst) - before, 1);
    proxy.abort();
    s.stop().await;
}
