//! The core chat example (netcat/telnet clients, `core/examples/chat.rs`, included as it is)
//! plus a web admin page on torsion-web: the banner shown to new clients is viewed and
//! changed through an HTML form, and the connected users are listed. A change applies to the
//! next client that connects, without a restart.
//!
//! `cargo run -p torsion-web --example chat_admin -- --listen tcp:8000 --admin tcp:8081`
//!
//! The form is safe against cross-site request forgery: the POST must carry the page's token
//! (random per process, compared in constant time) and, when the browser sends one, an
//! `Origin` naming this server; the page is served with a Content-Security-Policy that allows
//! no script at all, and every name and the banner are HTML-escaped. The admin listener
//! defaults to loopback.

#[path = "../../core/examples/chat.rs"]
#[allow(dead_code)]
mod chat;

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use chat::ChatRoom;
use http::header::{self, HeaderValue};
use serde::Deserialize;
use torsion_core::runner::{self, ServiceArgs};
use torsion_core::ServerEndpoint;
use torsion_web::server::reply::{Html, HttpError, IntoResponse, Redirect};
use torsion_web::server::router::{Ctx, Router};
use torsion_web::server::{html_escape, Body, HttpServer, ServerConfig};

/// Longest banner accepted.
const MAX_BANNER: usize = 200;

/// The admin page's state: the room, and the token its forms carry.
pub struct Admin {
    room: Arc<ChatRoom>,
    token: String,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret.
        f.debug_struct("Admin")
            .field("room", &self.room)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// Administer `room`, with a fresh random token.
    pub fn new(room: Arc<ChatRoom>) -> std::io::Result<Self> {
        let mut bytes = [0u8; 16];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Admin { room, token })
    }
}

/// Headers that keep the page from being framed, sniffed or scripted.
fn harden(mut resp: http::Response<Body>) -> http::Response<Body> {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn show(ctx: Ctx<Admin>) -> http::Response<Body> {
    let admin = &ctx.state;
    let users: String = admin
        .room
        .names()
        .iter()
        .map(|n| format!("<li>{}</li>\n", html_escape(n)))
        .collect();
    let users = if users.is_empty() {
        "<li><em>nobody</em></li>\n".to_owned()
    } else {
        users
    };
    let page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Chat admin</title></head>\n<body>\n<h1>Chat admin</h1>\n\
         <p>New clients are greeted with: <strong id=\"banner\">{banner}</strong></p>\n\
         <form method=\"post\" action=\"/banner\">\n<input type=\"hidden\" name=\"csrf\" value=\"{token}\">\n\
         <label>Banner <input type=\"text\" name=\"banner\" maxlength=\"{MAX_BANNER}\" value=\"{banner}\"></label>\n\
         <button type=\"submit\">Change</button>\n</form>\n<h2>Connected users</h2>\n<ul id=\"users\">\n{users}</ul>\n</body></html>\n",
        banner = html_escape(&admin.room.banner()),
        token = admin.token,
    );
    harden(Html(page).into_response())
}

#[derive(Deserialize)]
struct BannerForm {
    #[serde(default)]
    banner: String,
    /// Missing is the same as wrong (403, not 400).
    #[serde(default)]
    csrf: String,
}

/// Constant-time equality (the token must not leak through timing).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn change(ctx: Ctx<Admin>) -> Result<Redirect, HttpError> {
    // A browser names the page a POST comes from; it must be this server.
    if let Some(origin) = ctx.header(header::ORIGIN) {
        let host = ctx.header(header::HOST).unwrap_or("");
        let ours = [format!("http://{host}"), format!("https://{host}")];
        if !ours.iter().any(|o| o == origin) {
            return Err(HttpError::forbidden("cross-origin request refused"));
        }
    }
    let state = ctx.state.clone();
    let form: BannerForm = ctx.form().await?;
    if !same(form.csrf.as_bytes(), state.token.as_bytes()) {
        return Err(HttpError::forbidden(
            "the form's token is missing or wrong: reload the page",
        ));
    }
    let banner = form.banner.trim();
    if banner.chars().count() > MAX_BANNER || banner.chars().any(char::is_control) {
        return Err(HttpError::bad_request(format!(
            "a banner is one line of at most {MAX_BANNER} characters"
        )));
    }
    state.room.set_banner(banner);
    tracing::info!(banner, "banner changed");
    Ok(Redirect::see_other("/"))
}

/// The admin site.
pub fn admin_router(admin: Admin) -> Router<Admin> {
    Router::with_state(admin)
        .get("/", show)
        .post("/banner", change)
}

#[derive(Debug, clap::Parser)]
#[command(about = "The chat server for netcat clients, with a web page to change its banner")]
struct Args {
    /// Text sent to each client on connect (changeable on the admin page).
    #[arg(long, default_value = "Welcome to Torsion chat.")]
    banner: String,
    /// Where the admin page listens.
    #[arg(
        long,
        value_name = "ENDPOINT",
        default_value = "tcp:8081:interface=127.0.0.1"
    )]
    admin: ServerEndpoint,
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> ExitCode {
    let args: Args = runner::parse_args();
    runner::run("chat_admin", async move {
        runner::init_logging(&args.service.log_level, args.service.log_format)?;
        let room = Arc::new(ChatRoom::new(args.banner.clone()));
        let admin = Admin::new(room.clone())
            .map_err(|e| runner::RunError::Runtime(format!("cannot read /dev/urandom: {e}")))?;
        let server = HttpServer::new(ServerConfig::default(), admin_router(admin));
        let mut admin_args = args.service.clone();
        admin_args.listen = vec![args.admin.clone()];
        let chat = runner::serve(room, &args.service, &["tcp:8000"]);
        let web = runner::serve(Arc::new(server), &admin_args, &[]);
        tokio::try_join!(chat, web).map(|_| ())
    })
}

#[cfg(test)]
mod admin_tests {
    use super::*;
    use torsion_core::testkit::TestPeer;

    fn site() -> (Arc<ChatRoom>, TestPeer, String) {
        let room = Arc::new(ChatRoom::new("<b>hi</b>"));
        let admin = Admin::new(room.clone()).expect("urandom");
        let token = admin.token.clone();
        let peer = TestPeer::serve(Arc::new(HttpServer::new(
            ServerConfig::default(),
            admin_router(admin),
        )));
        (room, peer, token)
    }

    async fn reply(peer: &mut TestPeer) -> (u16, String) {
        let status = peer.read_line().await.expect("status");
        let mut length = 0;
        let mut head = String::new();
        loop {
            let line = peer.read_line().await.expect("header");
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("content-length: ") {
                length = v.parse().expect("length");
            }
            head.push_str(&line);
            head.push('\n');
        }
        let body = String::from_utf8(peer.read_exact(length).await).expect("utf-8");
        let code = status
            .split(' ')
            .nth(1)
            .expect("code")
            .parse()
            .expect("number");
        (code, head + "\n" + &body)
    }

    async fn post(peer: &mut TestPeer, body: &str, origin: Option<&str>) -> (u16, String) {
        let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
        peer.send(format!(
            "POST /banner HTTP/1.1\r\nHost: admin.test\r\n{origin}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
        .await;
        reply(peer).await
    }

    #[tokio::test(start_paused = true)]
    async fn the_page_is_escaped_and_the_form_is_csrf_safe() {
        let (room, mut peer, token) = site();
        peer.send("GET / HTTP/1.1\r\nHost: admin.test\r\n\r\n")
            .await;
        let (code, page) = reply(&mut peer).await;
        assert_eq!(code, 200);
        assert!(
            page.contains("&lt;b&gt;hi&lt;/b&gt;") && !page.contains("<b>hi</b>"),
            "{page}"
        );
        assert!(page.contains(&format!("name=\"csrf\" value=\"{token}\"")));
        assert!(page.contains("content-security-policy: default-src 'none'"));
        // No token, a wrong token, a foreign origin: refused, nothing changed.
        assert_eq!(post(&mut peer, "banner=evil", None).await.0, 403);
        assert_eq!(post(&mut peer, "banner=evil&csrf=00", None).await.0, 403);
        let good = format!("banner=New+%3Cbanner%3E&csrf={token}");
        assert_eq!(
            post(&mut peer, &good, Some("http://evil.test")).await.0,
            403
        );
        assert_eq!(room.banner(), "<b>hi</b>");
        // A multi-line banner is refused.
        assert_eq!(
            post(&mut peer, &format!("banner=a%0D%0Ab&csrf={token}"), None)
                .await
                .0,
            400
        );
        // The real form: 303 back to the page, which shows the new banner escaped.
        let (code, head) = post(&mut peer, &good, Some("http://admin.test")).await;
        assert_eq!(code, 303, "{head}");
        assert!(head.contains("location: /"));
        assert_eq!(room.banner(), "New <banner>");
        // The next chat client gets it.
        let mut client = TestPeer::serve(room.clone());
        client.expect_line("New <banner>").await;
        client.expect_line("What's your name?").await;
        client.send("alice\n").await;
        client.expect_line("Welcome, alice!").await;
        peer.send("GET / HTTP/1.1\r\nHost: admin.test\r\n\r\n")
            .await;
        let (_, page) = reply(&mut peer).await;
        assert!(page.contains("<li>alice</li>"), "{page}");
        assert!(page.contains("New &lt;banner&gt;"));
    }
}
