//! Static files in memory: validators and conditionals, ranges, directories (redirect, index,
//! listing), precompressed siblings, traversal and symlink defences, methods, large files.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{get, read_reply};
use torsion_core::testkit::{TempDir, TestPeer};
use torsion_web::server::files::Files;
use torsion_web::server::{HttpServer, ServerConfig};

struct Site {
    dir: TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = TempDir::new("web-files").unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("docs/sub")).unwrap();
        std::fs::create_dir_all(root.join("plain")).unwrap();
        std::fs::write(root.join("hello.txt"), "hello, world\n").unwrap();
        std::fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
        std::fs::write(root.join("app.js"), "console.log('plain');").unwrap();
        std::fs::write(root.join("app.js.gz"), b"\x1f\x8bGZ").unwrap();
        std::fs::write(root.join("app.js.br"), b"BR").unwrap();
        std::fs::write(root.join("docs/a <b>&\"c\".txt"), "x").unwrap();
        std::fs::write(root.join("docs/.hidden"), "x").unwrap();
        std::fs::write(root.join("plain/file.bin"), vec![7u8; 10]).unwrap();
        let digits: String = (0..100)
            .map(|i| char::from(b'0' + (i % 10) as u8))
            .collect();
        std::fs::write(root.join("digits.txt"), digits).unwrap();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(root.join("big.bin"), big).unwrap();
        std::fs::write(dir.path().join("secret.txt"), "outside").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("leak.txt")).unwrap();
        std::os::unix::fs::symlink(root.join("hello.txt"), root.join("alias.txt")).unwrap();
        Site { dir }
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    fn serve(&self, files: Files) -> TestPeer {
        TestPeer::serve(Arc::new(HttpServer::new(ServerConfig::default(), files)))
    }

    fn peer(&self) -> TestPeer {
        self.serve(Files::new(self.root()).with_listing(true))
    }
}

#[tokio::test]
async fn a_file_with_its_validators_and_type() {
    let site = Site::new();
    let mut peer = site.peer();
    let r = get(&mut peer, "/hello.txt", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello, world\n");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let etag = r.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let modified = r.header("last-modified").unwrap().to_owned();
    // HEAD: the same fields, no body.
    peer.send("HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let h = read_reply(&mut peer, true).await;
    assert_eq!(h.header("content-length"), Some("13"));
    assert_eq!(h.header("etag"), Some(etag.as_str()));
    // Conditionals.
    let r = get(
        &mut peer,
        "/hello.txt",
        &format!("If-None-Match: {etag}\r\n"),
    )
    .await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = get(
        &mut peer,
        "/hello.txt",
        &format!("If-Modified-Since: {modified}\r\n"),
    )
    .await;
    assert_eq!(r.status, 304);
    let r = get(&mut peer, "/hello.txt", "If-Match: \"other\"\r\n").await;
    assert_eq!(r.status, 412);
    let r = get(&mut peer, "/hello.txt", &format!("If-Match: {etag}\r\n")).await;
    assert_eq!(r.status, 200);
    let r = get(
        &mut peer,
        "/hello.txt",
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n",
    )
    .await;
    assert_eq!(r.status, 200);
    // Through a symlink that stays inside the root.
    assert_eq!(
        get(&mut peer, "/alias.txt", "").await.text(),
        "hello, world\n"
    );
}

#[tokio::test]
async fn ranges_single_multiple_unsatisfiable_and_if_range() {
    let site = Site::new();
    let mut peer = site.peer();
    let r = get(&mut peer, "/digits.txt", "Range: bytes=10-14\r\n").await;
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "01234");
    assert_eq!(r.header("content-range"), Some("bytes 10-14/100"));
    let r = get(&mut peer, "/digits.txt", "Range: bytes=-3\r\n").await;
    assert_eq!((r.status, r.text().as_str()), (206, "789"));
    let r = get(&mut peer, "/digits.txt", "Range: bytes=0-1,50-51\r\n").await;
    assert_eq!(r.status, 206);
    let ctype = r.header("content-type").unwrap();
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap();
    let text = r.text();
    assert_eq!(
        text.matches(&format!("--{boundary}\r\n")).count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("Content-Range: bytes 0-1/100\r\n\r\n01\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Content-Range: bytes 50-51/100\r\n\r\n01\r\n"),
        "{text}"
    );
    assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    assert_eq!(
        r.body.len(),
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
    );
    let r = get(&mut peer, "/digits.txt", "Range: bytes=100-\r\n").await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */100"));
    // 1000 overlapping ranges: coalesced into one.
    let absurd = format!("Range: bytes={}\r\n", vec!["0-0"; 1000].join(","));
    let r = get(&mut peer, "/digits.txt", &absurd).await;
    assert_eq!((r.status, r.text().as_str()), (206, "0"));
    // If-Range with a stale validator: the whole file.
    let r = get(
        &mut peer,
        "/digits.txt",
        "Range: bytes=0-0\r\nIf-Range: \"stale\"\r\n",
    )
    .await;
    assert_eq!((r.status, r.body.len()), (200, 100));
    let etag = r.header("etag").unwrap().to_owned();
    let r = get(
        &mut peer,
        "/digits.txt",
        &format!("Range: bytes=0-0\r\nIf-Range: {etag}\r\n"),
    )
    .await;
    assert_eq!(r.status, 206);
}

#[tokio::test]
async fn directories_redirect_index_and_list_with_escaping() {
    let site = Site::new();
    let mut peer = site.peer();
    let r = get(&mut peer, "/docs?x=1", "").await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/docs/?x=1"));
    let r = get(&mut peer, "/", "").await;
    assert_eq!(r.text(), "<h1>home</h1>");
    assert_eq!(r.header("content-type"), Some("text/html"));
    let r = get(&mut peer, "/docs/", "").await;
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(page.contains("<a href=\"sub/\">sub/</a>"), "{page}");
    assert!(
        page.contains("<a href=\"a%20%3Cb%3E&%22c%22.txt\">a &lt;b&gt;&amp;&quot;c&quot;.txt</a>"),
        "{page}"
    );
    assert!(!page.contains(".hidden"));
    assert!(page.contains("<a href=\"../\">"));
    // Without listing: 403.
    let mut peer = site.serve(Files::new(site.root()));
    assert_eq!(get(&mut peer, "/plain/", "").await.status, 403);
    assert_eq!(get(&mut peer, "/hello.txt/", "").await.status, 404);
}

#[tokio::test]
async fn precompressed_siblings_follow_accept_encoding() {
    let site = Site::new();
    let mut peer = site.peer();
    let r = get(
        &mut peer,
        "/app.js",
        "Accept-Encoding: gzip, deflate, br\r\n",
    )
    .await;
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("content-type"), Some("text/javascript"));
    assert_eq!(r.body, b"BR");
    let br_etag = r.header("etag").unwrap().to_owned();
    let r = get(&mut peer, "/app.js", "Accept-Encoding: gzip\r\n").await;
    assert_eq!(
        (r.header("content-encoding"), r.body.as_slice()),
        (Some("gzip"), &b"\x1f\x8bGZ"[..])
    );
    assert_ne!(r.header("etag"), Some(br_etag.as_str()));
    let r = get(&mut peer, "/app.js", "Accept-Encoding: br;q=0\r\n").await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.text(), "console.log('plain');");
    let mut peer = site.serve(Files::new(site.root()).with_precompressed(false));
    let r = get(&mut peer, "/app.js", "Accept-Encoding: br\r\n").await;
    assert_eq!(r.header("content-encoding"), None);
}

#[tokio::test]
async fn traversal_and_escaping_symlinks_are_refused() {
    let site = Site::new();
    for (path, status) in [
        ("/../secret.txt", 400),
        ("/%2e%2e/secret.txt", 400),
        ("/docs/../../secret.txt", 400),
        ("/hello.txt%00.html", 400),
        ("/docs%2f..%2f..%2fsecret.txt", 400),
        ("/..%5csecret.txt", 400),
        ("/leak.txt", 404),
        ("/missing", 404),
    ] {
        let mut peer = site.peer();
        let r = get(&mut peer, path, "").await;
        assert_eq!(r.status, status, "{path}");
        assert!(!r.text().contains("outside"), "{path}");
    }
    let mut peer = site.serve(Files::new(site.root()).allow_symlinks_outside(true));
    assert_eq!(get(&mut peer, "/leak.txt", "").await.text(), "outside");
}

#[tokio::test]
async fn methods_options_and_a_fifo() {
    let site = Site::new();
    let mut peer = site.peer();
    peer.send("POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    peer.send("OPTIONS /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let r = read_reply(&mut peer, false).await;
    assert_eq!(
        (r.status, r.header("allow")),
        (204, Some("GET, HEAD, OPTIONS"))
    );
    // A FIFO is not a file: 404 at once, no worker stuck opening it.
    let fifo = site.root().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let r = tokio::time::timeout(Duration::from_secs(5), get(&mut peer, "/pipe", ""))
        .await
        .unwrap();
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_large_file_arrives_whole_and_ranges_of_it_too() {
    let site = Site::new();
    let mut peer = site.peer();
    let expected: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let r = get(&mut peer, "/big.bin", "").await;
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.body == expected);
    let r = get(&mut peer, "/big.bin", "Range: bytes=100000-250000\r\n").await;
    assert!(r.body == expected[100_000..=250_000]);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_cut_off_with_bounded_memory() {
    let site = Site::new();
    let config = ServerConfig {
        request_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    };
    let server = Arc::new(HttpServer::new(config, Files::new(site.root())));
    let (conn, mut peer) = torsion_core::testkit::memory_pair_with_capacity(4096);
    let task = tokio::spawn(torsion_core::Service::handle(server, conn));
    peer.send("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n").await;
    // Read nothing more. The server's writes stall on the full pipe; its buffer is bounded
    // (64 KiB) whatever the file's size, and the write timeout ends the connection.
    tokio::time::sleep(Duration::from_secs(30)).await;
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the session ended")
        .expect("no panic");
}
