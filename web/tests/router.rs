//! Routes in memory: parameters, query and form decoding, JSON in and out, state, 405/OPTIONS/
//! HEAD, literal-over-parameter precedence, fallback, custom errors; and the layers: timeout,
//! compression, and a `tower::Service` run as a handler.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use common::{get, read_reply};
use http::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use torsion_core::testkit::TestPeer;
use torsion_web::server::layers::{Compress, Logged, Timeout, Tower};
use torsion_web::server::reply::{HttpError, IntoResponse, Json};
use torsion_web::server::router::{Ctx, Router};
use torsion_web::server::{Body, Handler, HttpServer, RequestBody, ServerConfig};

#[derive(Default)]
struct App {
    hits: AtomicU64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct User {
    id: u32,
    name: String,
}

#[derive(Deserialize)]
struct Page {
    page: u32,
    #[serde(default)]
    q: String,
}

/// An error type of the application's own, answered as JSON.
struct ApiError(StatusCode, &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response<Body> {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

async fn show(ctx: Ctx<App>) -> Result<Json<User>, HttpError> {
    ctx.state.hits.fetch_add(1, Ordering::SeqCst);
    let id: u32 = ctx.param_as("id")?;
    Ok(Json(User {
        id,
        name: format!("user{id}"),
    }))
}

async fn create(ctx: Ctx<App>) -> Result<(StatusCode, Json<User>), HttpError> {
    let user: User = ctx.json().await?;
    Ok((StatusCode::CREATED, Json(user)))
}

async fn search(ctx: Ctx<App>) -> Result<String, HttpError> {
    let page: Page = ctx.query()?;
    Ok(format!("page {} q={}", page.page, page.q))
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

async fn login(ctx: Ctx<App>) -> Result<String, HttpError> {
    let form: Login = ctx.form().await?;
    Ok(format!("hello {}", form.user))
}

fn router() -> Router<App> {
    Router::with_state(App::default())
        .get("/users/me", |_ctx| async { "it is you" })
        .get("/users/{id}", show)
        .post("/users", create)
        .get("/search", search)
        .post("/login", login)
        .get("/files/{*path}", |ctx: Ctx<App>| async move {
            format!("file {}", ctx.param("path").unwrap_or(""))
        })
        .get("/teapot", |_ctx| async {
            Err::<String, _>(ApiError(StatusCode::IM_A_TEAPOT, "short and stout"))
        })
        .get("/hits", |ctx: Ctx<App>| async move {
            ctx.state.hits.load(Ordering::SeqCst).to_string()
        })
        .get("/big", |_ctx| async { "compress me ".repeat(500) })
        .get("/slow", |_ctx| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        })
        .fallback(|ctx: Ctx<App>| async move {
            (
                StatusCode::NOT_FOUND,
                format!("no route for {}", ctx.req.uri().path()),
            )
        })
}

fn serve<H: Handler>(handler: H) -> TestPeer {
    TestPeer::serve(Arc::new(HttpServer::new(ServerConfig::default(), handler)))
}

async fn send(
    peer: &mut TestPeer,
    method: &str,
    path: &str,
    ctype: &str,
    body: &str,
) -> common::Reply {
    peer.send(format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
    .await;
    read_reply(peer, false).await
}

#[tokio::test(start_paused = true)]
async fn params_query_json_form_and_state() {
    let mut peer = serve(router());
    let r = get(&mut peer, "/users/7", "").await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), r#"{"id":7,"name":"user7"}"#);
    assert_eq!(get(&mut peer, "/users/me", "").await.text(), "it is you");
    assert_eq!(get(&mut peer, "/users/x", "").await.status, 400);
    assert_eq!(get(&mut peer, "/hits", "").await.text(), "2");
    assert_eq!(
        get(&mut peer, "/search?page=3&q=caf%C3%A9+au+lait", "")
            .await
            .text(),
        "page 3 q=café au lait"
    );
    assert_eq!(get(&mut peer, "/search?page=x", "").await.status, 400);
    assert_eq!(
        get(&mut peer, "/files/a/b%20c.txt", "").await.text(),
        "file a/b c.txt"
    );
    let r = send(
        &mut peer,
        "POST",
        "/users",
        "application/json",
        r#"{"id":9,"name":"nine"}"#,
    )
    .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (201, r#"{"id":9,"name":"nine"}"#)
    );
    assert_eq!(
        send(&mut peer, "POST", "/users", "text/plain", "{}")
            .await
            .status,
        415
    );
    assert_eq!(
        send(&mut peer, "POST", "/users", "application/json", "{nope")
            .await
            .status,
        400
    );
    let r = send(
        &mut peer,
        "POST",
        "/login",
        "application/x-www-form-urlencoded",
        "user=al%26ice&x=1",
    )
    .await;
    assert_eq!(r.text(), "hello al&ice");
    // Too large: 413 before the body is read, and the connection is closed (the rest of the
    // body is not worth reading).
    let big = format!("{{\"id\":1,\"name\":\"{}\"}}", "n".repeat(1_100_000));
    let head = format!(
        "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        big.len()
    );
    peer.send(head).await;
    let _ = peer.try_send(&big).await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!((r.status, r.header("connection")), (413, Some("close")));
}

#[tokio::test(start_paused = true)]
async fn methods_head_options_fallback_and_custom_errors() {
    let mut peer = serve(router());
    peer.send("DELETE /users/7 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!(
        (r.status, r.header("allow")),
        (405, Some("GET, HEAD, OPTIONS"))
    );
    peer.send("OPTIONS /users HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!((r.status, r.header("allow")), (204, Some("POST, OPTIONS")));
    peer.send("HEAD /users/7 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let r = read_reply(&mut peer, true).await;
    assert_eq!((r.status, r.header("content-length")), (200, Some("23")));
    let r = get(&mut peer, "/nowhere", "").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, "no route for /nowhere")
    );
    let r = get(&mut peer, "/teapot", "").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (418, r#"{"error":"short and stout"}"#)
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_and_compression_layers() {
    let mut peer = serve(Logged::new(Compress::new(Timeout::new(
        router(),
        Duration::from_secs(5),
    ))));
    let r = get(&mut peer, "/slow", "").await;
    assert_eq!(r.status, 503);
    let r = get(&mut peer, "/big", "Accept-Encoding: gzip, br\r\n").await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&r.body[..]), &mut text)
        .unwrap();
    assert_eq!(text, "compress me ".repeat(500));
    assert!(r.body.len() < 200);
    let r = get(&mut peer, "/big", "Accept-Encoding: gzip;q=0\r\n").await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    // Small bodies are left alone.
    let r = get(&mut peer, "/users/me", "Accept-Encoding: gzip\r\n").await;
    assert_eq!(
        (r.header("content-encoding"), r.text().as_str()),
        (None, "it is you")
    );
}

/// A tower service written by hand (what axum's Router is, as far as the trait goes).
#[derive(Clone)]
struct Hello;

impl tower_service::Service<Request<RequestBody>> for Hello {
    type Response = Response<http_body_util_free::Full>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody>) -> Self::Future {
        let text = format!("tower saw {}", req.uri().path());
        std::future::ready(Ok(Response::new(http_body_util_free::Full(Some(
            text.into(),
        )))))
    }
}

mod http_body_util_free {
    //! A one-frame body, as http-body-util's `Full` (not a dependency here).
    use bytes::Bytes;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct Full(pub Option<Bytes>);

    impl http_body::Body for Full {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.take().map(|b| Ok(http_body::Frame::data(b))))
        }
        fn size_hint(&self) -> http_body::SizeHint {
            http_body::SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_tower_service_runs_as_a_handler() {
    let mut peer = serve(Tower::new(Hello));
    let r = get(&mut peer, "/via/tower", "").await;
    assert_eq!((r.status, r.text().as_str()), (200, "tower saw /via/tower"));
    assert_eq!(r.header("content-length"), Some("20"));
}
