//! Reading HTTP responses off a TestPeer, for the in-memory tests.

#![allow(dead_code, clippy::unwrap_used)]

use torsion_core::testkit::TestPeer;

/// A response as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Read one response; `head` says the request was HEAD (no body follows).
pub async fn read_reply(peer: &mut TestPeer, head: bool) -> Reply {
    let status_line = peer.read_line().await.expect("a status line");
    let mut words = status_line.splitn(3, ' ');
    assert_eq!(words.next(), Some("HTTP/1.1"), "{status_line:?}");
    let status: u16 = words.next().unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let line = peer.read_line().await.expect("a header line");
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').expect("name: value");
        headers.push((k.to_owned(), v.trim().to_owned()));
    }
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
    };
    if head || status == 204 || status == 304 || (100..200).contains(&status) {
        return reply;
    }
    if reply.header("transfer-encoding") == Some("chunked") {
        loop {
            let size = peer.read_line().await.expect("chunk size");
            let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
            if size == 0 {
                assert_eq!(peer.read_line().await.as_deref(), Some(""));
                break;
            }
            reply.body.extend(peer.read_exact(size).await);
            assert_eq!(peer.read_line().await.as_deref(), Some(""));
        }
    } else if let Some(len) = reply.header("content-length") {
        let len: usize = len.parse().unwrap();
        reply.body = peer.read_exact(len).await;
    } else {
        let mut body = peer.read_to_close().await.into_bytes();
        body.extend_from_slice(peer.unread());
        let n = peer.unread().len();
        peer.consume(n);
        reply.body = body;
    }
    reply
}

/// `GET path` with Host, and its response.
pub async fn get(peer: &mut TestPeer, path: &str, extra: &str) -> Reply {
    peer.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n"))
        .await;
    read_reply(peer, false).await
}

/// A body fed through a channel (a streaming body of unknown length).
pub struct Channel(
    pub tokio::sync::mpsc::Receiver<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>,
);

impl http_body::Body for Channel {
    type Data = bytes::Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx)
    }
}
