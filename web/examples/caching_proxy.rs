//! A caching web proxy for line clients (the seeds' example, on torsion-web's client): a
//! client sends a URL line, the server answers with the page's body and closes. Each URL is
//! fetched once and served from the cache after that; concurrent requests for a URL that is
//! still being fetched share that one fetch; entries expire after `--ttl` seconds, or the
//! `Cache-Control: max-age` the upstream gave (`no-store`, `no-cache` and `private` answers
//! are not kept); memory is bounded by `--max-bytes` in all (least recently used entries go
//! first) and `--max-entry` per page (larger pages are refused with an error line).
//!
//! `cargo run -p torsion-web --example caching_proxy -- --listen tcp:8004 --ttl 60`, then
//! `echo http://127.0.0.1:8080/ | nc 127.0.0.1 8004`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::OnceCell;
use tokio::time::Instant;
use torsion_core::framing::LineCodec;
use torsion_core::runner::{self, ServiceArgs};
use torsion_core::{Connection, Service};
use torsion_web::client::{Client, ClientConfig};

/// Longest URL line.
const MAX_LINE: usize = 8 * 1024;

/// What a fetch gave: the body, and how long it may be kept (`None`: not at all).
type Fetched = Result<(Bytes, Option<Duration>), String>;

struct Entry {
    cell: Arc<OnceCell<Fetched>>,
    /// Set once the fetch is done: when the entry stops being served.
    expires: Option<Instant>,
    last_used: Instant,
    size: usize,
}

/// The cache shared by every connection.
pub struct PageCache {
    client: Client,
    ttl: Duration,
    max_bytes: usize,
    max_entry: u64,
    entries: Mutex<HashMap<String, Entry>>,
    /// Fetches made (for the tests and the log).
    fetches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache").field("ttl", &self.ttl).finish()
    }
}

/// `max-age` from Cache-Control, or `Some(0)` for an answer that must not be kept.
fn freshness(headers: &http::HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        for directive in value.to_str().unwrap_or("").split(',') {
            let d = directive.trim().to_ascii_lowercase();
            if matches!(d.as_str(), "no-store" | "no-cache" | "private") {
                return Some(Duration::ZERO);
            }
            if let Some(n) = d.strip_prefix("max-age=") {
                max_age = n
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs);
            }
        }
    }
    max_age
}

impl PageCache {
    /// A cache keeping pages `ttl` by default, `max_bytes` in all, `max_entry` per page.
    pub fn new(client: Client, ttl: Duration, max_bytes: usize, max_entry: u64) -> Self {
        PageCache {
            client,
            ttl,
            max_bytes,
            max_entry,
            entries: Mutex::default(),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The page at `url`, from the cache or fetched (once, however many ask at the same time).
    pub async fn get(&self, url: &str) -> Result<Bytes, String> {
        let now = Instant::now();
        let cell = {
            let mut entries = self.entries();
            let fresh = entries
                .get(url)
                .is_some_and(|e| e.expires.is_none_or(|t| t > now));
            if !fresh {
                entries.insert(
                    url.to_owned(),
                    Entry {
                        cell: Arc::new(OnceCell::new()),
                        expires: None,
                        last_used: now,
                        size: 0,
                    },
                );
            }
            let entry = entries.get_mut(url).ok_or("cache entry vanished")?;
            entry.last_used = now;
            entry.cell.clone()
        };
        let result = cell.get_or_init(|| self.fetch(url)).await.clone();
        self.settle(url, &cell, &result);
        result.map(|(body, _)| body)
    }

    async fn fetch(&self, url: &str) -> Fetched {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let resp = self.client.get(url).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let keep = freshness(resp.headers()).unwrap_or(self.ttl);
        let body = resp
            .into_body()
            .bytes(self.max_entry)
            .await
            .map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("upstream answered {status}"));
        }
        Ok((body, (!keep.is_zero()).then_some(keep)))
    }

    /// After a fetch: give the entry its expiry and size (or drop it if it is not to be
    /// kept), then evict least recently used entries while over the memory bound.
    fn settle(&self, url: &str, cell: &Arc<OnceCell<Fetched>>, result: &Fetched) {
        let mut entries = self.entries();
        let Some(entry) = entries.get_mut(url).filter(|e| Arc::ptr_eq(&e.cell, cell)) else {
            return;
        };
        if entry.expires.is_some() {
            return;
        }
        match result {
            Ok((body, Some(keep))) => {
                entry.expires = Some(Instant::now() + *keep);
                entry.size = body.len() + url.len();
            }
            // Errors and no-store answers are not kept: the next request fetches again.
            _ => {
                entries.remove(url);
                return;
            }
        }
        let now = Instant::now();
        entries.retain(|_, e| e.expires.is_none_or(|t| t > now));
        let mut total: usize = entries.values().map(|e| e.size).sum();
        while total > self.max_bytes {
            let Some(oldest) = entries
                .iter()
                .filter(|(_, e)| e.expires.is_some())
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = entries.remove(&oldest) {
                total -= e.size;
            }
        }
    }

    /// Bytes held by finished entries.
    pub fn bytes(&self) -> usize {
        self.entries().values().map(|e| e.size).sum()
    }

    /// Fetches made so far.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Service for PageCache {
    fn protocol(&self) -> &'static str {
        "caching-proxy"
    }

    async fn handle(self: Arc<Self>, mut conn: Connection) {
        let mut lines = LineCodec::any_eol(MAX_LINE);
        let Ok(Some(line)) = conn.read_frame(&mut lines).await else {
            return;
        };
        let url = String::from_utf8_lossy(&line).trim().to_owned();
        match self.get(&url).await {
            Ok(body) => {
                let _ = conn.feed(&body).await;
            }
            Err(e) => conn.queue(format!("error: {e}\r\n").as_bytes()),
        }
        let _ = conn.close().await;
    }
}

#[derive(Debug, clap::Parser)]
#[command(about = "A caching web proxy for line clients: send a URL, get the page")]
struct Args {
    /// Seconds a page is kept when the upstream gives no max-age.
    #[arg(long, default_value_t = 60)]
    ttl: u64,
    /// Bytes of pages kept in all.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    max_bytes: usize,
    /// Largest page fetched.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    max_entry: u64,
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> ExitCode {
    let args: Args = runner::parse_args();
    runner::run("caching_proxy", async move {
        runner::init_logging(&args.service.log_level, args.service.log_format)?;
        let cache = PageCache::new(
            Client::new(ClientConfig::default()),
            Duration::from_secs(args.ttl),
            args.max_bytes,
            args.max_entry,
        );
        runner::serve(Arc::new(cache), &args.service, &["tcp:8004"]).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use torsion_core::testkit::RunningServer;
    use torsion_web::server::{handler_fn, Body, HttpServer, ServerConfig};

    /// The upstream: counts its hits; `/slow` takes 300 ms; `/short` says max-age=1;
    /// `/nostore` says no-store; `/big` is 2000 bytes.
    async fn upstream() -> (RunningServer, Arc<AtomicU64>) {
        let hits = Arc::new(AtomicU64::new(0));
        let counter = hits.clone();
        let app = handler_fn(
            move |req: http::Request<torsion_web::server::RequestBody>| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let path = req.uri().path().to_owned();
                    if path == "/slow" {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    let body = if path == "/big" {
                        "b".repeat(2000)
                    } else {
                        format!("page {path}")
                    };
                    let mut resp = http::Response::new(Body::from(body));
                    let cc = match path.as_str() {
                        "/short" => Some("max-age=1"),
                        "/nostore" => Some("no-store"),
                        _ => None,
                    };
                    if let Some(cc) = cc {
                        resp.headers_mut()
                            .insert("cache-control", cc.parse().expect("value"));
                    }
                    resp
                }
            },
        );
        let server = RunningServer::start(
            Arc::new(HttpServer::new(ServerConfig::default(), app)),
            &["tcp:0:interface=127.0.0.1"],
        )
        .await;
        (server, hits)
    }

    fn cache(ttl: Duration, max_bytes: usize) -> Arc<PageCache> {
        Arc::new(PageCache::new(
            Client::new(ClientConfig::default()),
            ttl,
            max_bytes,
            1500,
        ))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fetched_once_coalesced_expired_and_bounded() {
        let (up, hits) = upstream().await;
        let base = format!("http://127.0.0.1:{}", up.addr().port());
        let c = cache(Duration::from_secs(60), 100);
        let before = c.fetches();
        // Once, then from the cache.
        assert_eq!(c.get(&format!("{base}/a")).await.expect("page"), "page /a");
        assert_eq!(c.get(&format!("{base}/a")).await.expect("page"), "page /a");
        assert_eq!(c.fetches() - before, 1);
        // Ten at once for a slow page: one fetch.
        let slow = format!("{base}/slow");
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let c = c.clone();
                let url = slow.clone();
                tokio::spawn(async move { c.get(&url).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.expect("task").expect("page"), "page /slow");
        }
        assert_eq!(c.fetches() - before, 2);
        // max-age=1 expires; no-store is never kept.
        c.get(&format!("{base}/short")).await.expect("page");
        c.get(&format!("{base}/short")).await.expect("page");
        assert_eq!(c.fetches() - before, 3);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        c.get(&format!("{base}/short")).await.expect("page");
        assert_eq!(c.fetches() - before, 4);
        c.get(&format!("{base}/nostore")).await.expect("page");
        c.get(&format!("{base}/nostore")).await.expect("page");
        assert_eq!(c.fetches() - before, 6);
        // Bounded: 100 bytes hold few pages; the oldest go first. Too large a page is refused.
        for i in 0..20 {
            c.get(&format!("{base}/p{i}")).await.expect("page");
        }
        assert!(c.bytes() <= 100, "{} bytes held", c.bytes());
        assert!(c.get(&format!("{base}/big")).await.is_err());
        assert_eq!(hits.load(Ordering::SeqCst), c.fetches());
        up.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn line_clients_get_pages() {
        let (up, hits) = upstream().await;
        let base = format!("http://127.0.0.1:{}", up.addr().port());
        let proxy = RunningServer::start(
            cache(Duration::from_secs(60), 1 << 20),
            &["tcp:0:interface=127.0.0.1"],
        )
        .await;
        for _ in 0..3 {
            let mut peer = proxy.connect().await;
            peer.send(format!("{base}/hello\n")).await;
            assert_eq!(peer.read_to_close().await, "");
            assert_eq!(peer.unread(), b"page /hello");
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "one upstream hit for three clients"
        );
        let mut peer = proxy.connect().await;
        peer.send("not a url\n").await;
        assert!(peer.read_to_close().await.starts_with("error: "));
        proxy.stop().await;
        up.stop().await;
    }
}
