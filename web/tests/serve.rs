//! The `torsion-web` binary over loopback TCP (where files go out with sendfile(2)): keep-alive
//! requests on one connection, a large file byte-identical, the access log, a download in
//! flight finishing across SIGTERM, and bad arguments exiting 2.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use torsion_core::testkit::{ServerBinary, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_torsion-web");

/// Read one response with a Content-Length body: (status, headers, body).
fn response(reader: &mut BufReader<TcpStream>) -> (u16, Vec<String>, Vec<u8>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end().to_owned();
        if h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length: ") {
            length = v.parse().unwrap();
        }
        headers.push(h);
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    (status, headers, body)
}

fn connect(port: u16) -> (BufReader<TcpStream>, TcpStream) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    (BufReader::new(stream.try_clone().unwrap()), stream)
}

#[test]
fn files_over_loopback_with_the_access_log_and_a_graceful_stop() {
    let dir = TempDir::new("web-serve").unwrap();
    let root = dir.path().join("www");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("index.html"), "<p>hi</p>").unwrap();
    let big: Vec<u8> = (0..8_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    let log = dir.path().join("access.log");
    let server = ServerBinary::start(
        BIN,
        &[
            "serve",
            "--path",
            root.to_str().unwrap(),
            "--access-log",
            log.to_str().unwrap(),
            "--listen",
            "tcp:0:interface=127.0.0.1",
        ],
        1,
    );
    let port = server.tcp_port(0);
    let (mut reader, mut writer) = connect(port);
    writer
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, _, body) = response(&mut reader);
    assert_eq!((status, body.as_slice()), (200, &b"<p>hi</p>"[..]));
    let (status, _, body) = response(&mut reader);
    assert_eq!(status, 200);
    assert!(body == big, "the 8 MB file differs");

    // A download in flight when SIGTERM arrives is finished, then the connection closes.
    writer
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    reader.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    server.signal("TERM");
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    let text_end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(
        rest[text_end..] == big[..],
        "the download in flight was cut"
    );
    // (read_to_end returned: the server closed once the response was complete.)
    assert_eq!(server.stop(), 0);

    let lines = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{}", lines[0]);
    assert!(
        lines[0].ends_with("\"GET / HTTP/1.1\" 200 9 \"-\" \"t/1\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("\"GET /big.bin HTTP/1.1\" 200 8000000 "),
        "{}",
        lines[1]
    );
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let out = Command::new(BIN)
        .args(["serve", "--path", "/nonexistent/dir", "--listen", "tcp:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--path /nonexistent/dir: not a directory"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn get_downloads_and_proxy_forwards() {
    let dir = TempDir::new("web-get").unwrap();
    let root = dir.path().join("www");
    std::fs::create_dir_all(root.join("up")).unwrap();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(root.join("up/data.bin"), &data).unwrap();
    let upstream = ServerBinary::start(
        BIN,
        &[
            "serve",
            "--path",
            root.to_str().unwrap(),
            "--listen",
            "tcp:0:interface=127.0.0.1",
        ],
        1,
    );
    let front = ServerBinary::start(
        BIN,
        &[
            "serve",
            "--proxy",
            &format!("/up=http://127.0.0.1:{}", upstream.tcp_port(0)),
            "--listen",
            "tcp:0:interface=127.0.0.1",
        ],
        1,
    );
    let out = dir.path().join("got.bin");
    let url = format!("http://127.0.0.1:{}/up/data.bin", front.tcp_port(0));
    let status = Command::new(BIN)
        .args(["get", &url, "-o", out.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(std::fs::read(&out).unwrap() == data);
    // An HTTP error: exit 1, no file, nothing half-written.
    let missing = dir.path().join("missing.bin");
    let url404 = format!("http://127.0.0.1:{}/up/none", front.tcp_port(0));
    let out404 = Command::new(BIN)
        .args(["get", &url404, "-o", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out404.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out404.stderr).contains("404"));
    assert!(!missing.exists());
    // Not routed (no --path on the front): 404 as well.
    let other = format!("http://127.0.0.1:{}/elsewhere", front.tcp_port(0));
    assert_eq!(
        Command::new(BIN)
            .args(["get", &other])
            .output()
            .unwrap()
            .status
            .code(),
        Some(1)
    );
    // Bad arguments: exit 2.
    assert_eq!(
        Command::new(BIN)
            .args(["get", "not a url"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
    let nothing = Command::new(BIN)
        .args(["serve", "--listen", "tcp:0"])
        .output()
        .unwrap();
    assert_eq!(nothing.status.code(), Some(2));
    assert_eq!(front.stop(), 0);
    assert_eq!(upstream.stop(), 0);
}
