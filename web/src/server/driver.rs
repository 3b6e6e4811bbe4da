//! One connection's loop: read a head, run the handler while feeding it the body, write the
//! response, and go round again while the connection may be kept alive. Requests are
//! answered one at a time in arrival order, so pipelined requests get their responses in
//! order (RFC 9112 §9.3.2) and their bytes simply wait in the read buffer; responses queued
//! while more requests are buffered go out together in one write.
//!
//! When a connection is closed (RFC 9112 §9.6): after `Connection: close` or an HTTP/1.0
//! request without keep-alive, after [`ServerConfig::max_requests`], after a response to a
//! request whose body was not read to its end (and more than [`DRAIN_LIMIT`] of it was left,
//! or a `100 Continue` had not been sent), after any framing error, and on shutdown once the
//! response in flight is written.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::BytesMut;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use tokio_util::codec::Decoder;
use torsion_core::runner::{Limits, Refusal};
use torsion_core::{Connection, ReadError, Service};

use super::body::BodySender;
use super::log::{AccessLog, Entry};
use super::{error_response, Body, ConnInfo, Handler, RequestBody, ServerConfig};
use crate::body::write_body;
use crate::proto::head::{check_incomplete, head_end, parse_request_head, skip_empty_lines};
use crate::proto::response::{date_now, write_head};
use crate::proto::{BodyDecoder, BodyError, BodyLength, BodyPiece, HeadError, RequestHead};

/// Unread request body the server reads and discards to keep the connection (nginx's
/// lingering read is of the same order); more than this and the connection is closed.
pub const DRAIN_LIMIT: u64 = 64 * 1024;

/// An HTTP/1.1 server running `handler`; see the [module docs](self).
#[derive(Debug)]
pub struct HttpServer<H> {
    config: ServerConfig,
    handler: H,
    log: Option<AccessLog>,
}

impl<H: Handler> HttpServer<H> {
    /// Serve `handler` with `config`.
    pub fn new(config: ServerConfig, handler: H) -> Self {
        HttpServer {
            config,
            handler,
            log: None,
        }
    }

    /// Write an access log line per request.
    pub fn with_access_log(mut self, log: AccessLog) -> Self {
        self.log = Some(log);
        self
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The runner limits HTTP wants by default: the keep-alive idle timeout between requests,
    /// a request timeout for heads and bodies (with the minimum data rate), nginx-like.
    pub fn standard_limits(config: &ServerConfig) -> Limits {
        Limits {
            idle_timeout: Some(config.keep_alive_timeout),
            frame_timeout: Some(config.request_timeout),
            ..Limits::default()
        }
    }
}

impl<H: Handler> Service for HttpServer<H> {
    fn protocol(&self) -> &'static str {
        "http"
    }

    fn default_limits(&self) -> Limits {
        Self::standard_limits(&self.config)
    }

    /// Keep-alive connections are many and mostly idle: their tracing span is debug-level
    /// (a few hundred bytes each otherwise); the access log names the client per request.
    fn long_lived_connections(&self) -> bool {
        true
    }

    // Not an `async fn`: that would keep `conn` in its own state beside the loop's copy.
    fn handle(self: Arc<Self>, conn: Connection) -> impl Future<Output = ()> + Send {
        serve_connection(self, conn)
    }

    async fn refuse(self: Arc<Self>, mut conn: Connection, reason: Refusal) {
        let text = match reason {
            Refusal::TooManyConnections => "Too many connections",
            Refusal::TooManyFromPeer => "Too many connections from your address",
        };
        let resp = error_response(StatusCode::SERVICE_UNAVAILABLE, text);
        let mut resp = resp;
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        let _ = write_response(&mut conn, resp, &self.config, false, Version::HTTP_11, true).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn.close()).await;
    }
}

/// Why a head could not be read: the head was refused, or the transport failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeadReadError {
    #[error(transparent)]
    Head(#[from] HeadError),
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}

/// Frames request heads. Looks for the blank line that ends a head incrementally, so a head
/// trickled in byte by byte costs linear time, and parses it once complete.
#[derive(Debug, Default)]
pub(crate) struct HeadCodec {
    /// Bytes already searched for the end of the head.
    scanned: usize,
}

impl Decoder for HeadCodec {
    type Item = RequestHead;
    type Error = HeadReadError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RequestHead>, HeadReadError> {
        let lead = skip_empty_lines(src)?;
        let from = self.scanned.max(lead).saturating_sub(2).max(lead);
        let Some(end) = head_end(src, from) else {
            self.scanned = src.len();
            check_incomplete(&src[lead..])?;
            return Ok(None);
        };
        self.scanned = 0;
        match parse_request_head(&src[..end])? {
            Some((head, used)) => {
                let _ = src.split_to(used.max(end));
                Ok(Some(head))
            }
            None => Err(HeadError::Malformed("incomplete head").into()),
        }
    }
}

/// How the request body stands after the handler answered.
enum BodyState {
    /// Read to its end (or there was none).
    Done,
    /// Partly read; the decoder can drain the rest.
    Unread(BodyDecoder),
    /// The client was told to wait (`Expect: 100-continue`) and never told to go on.
    NotStarted,
    /// Broken (a framing error, a timeout, the client gone): close after the response.
    Broken,
}

/// What the wait for a head gave. Small on purpose: it is the only thing (besides the
/// connection and the codec) the loop keeps while a request is served, so it decides the size
/// of an idle connection's task — the head itself is boxed.
enum Next {
    Request(Box<RequestHead>),
    Refuse(StatusCode, String),
    Close,
}

/// The connection's loop. A plain `fn` returning an `async move` block, not an `async fn`: an
/// `async fn` moves its `Connection` argument into a second local and keeps both (rustc
/// #62958), which would cost 320 bytes per idle connection.
#[allow(clippy::manual_async_fn)] // deliberately not an async fn: see above
fn serve_connection<H: Handler>(
    server: Arc<HttpServer<H>>,
    mut conn: Connection,
) -> impl Future<Output = ()> + Send {
    async move {
        let server = &*server;
        let config = &server.config;
        let mut codec = HeadCodec::default();
        let mut served: u64 = 0;
        conn.set_frame_timeout(Some(config.request_timeout));
        loop {
            // Between requests the keep-alive timeout applies; inside a head, the request
            // timeout (the frame deadline, from the head's first byte).
            conn.set_idle_timeout(Some(if served == 0 {
                config.request_timeout
            } else {
                config.keep_alive_timeout
            }));
            let next = match conn.read_frame(&mut codec).await {
                Ok(Some(head)) => Next::Request(Box::new(head)),
                Ok(None) => Next::Close,
                Err(ReadError::Frame(HeadReadError::Head(e))) => {
                    tracing::debug!(error = %e, "bad request head");
                    Next::Refuse(e.status(), e.to_string())
                }
                Err(ReadError::FrameTimeout) => Next::Refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    "Request head too slow".to_owned(),
                ),
                Err(ReadError::IdleTimeout) if !conn.pending_input().is_empty() => Next::Refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    "Request head too slow".to_owned(),
                ),
                // Closed or idle between requests, mid-head, or shutting down: close quietly.
                Err(_) => Next::Close,
            };
            match next {
                Next::Request(head) => {
                    served += 1;
                    // Boxed: the request's futures (the handler's, the body's, the response's)
                    // live on the heap while it runs, so an idle connection's task is only this
                    // loop's state.
                    if Box::pin(serve_request(server, &mut conn, *head, served)).await {
                        continue;
                    }
                }
                Next::Refuse(status, text) => {
                    let resp = error_response(status, &text);
                    let _ = Box::pin(write_response(
                        &mut conn,
                        resp,
                        config,
                        false,
                        Version::HTTP_11,
                        true,
                    ))
                    .await;
                }
                Next::Close => {}
            }
            break;
        }
        let _ = Box::pin(conn.close()).await;
    }
}

/// Answer one request; whether the connection can carry another.
async fn serve_request<H: Handler>(
    server: &HttpServer<H>,
    conn: &mut Connection,
    head: RequestHead,
    served: u64,
) -> bool {
    let config = &server.config;
    // Made per request rather than kept per connection (an idle connection holds less).
    let info = ConnInfo {
        peer: conn.peer().clone(),
        local: conn.local().clone(),
        tls: conn.is_tls(),
    };
    conn.set_idle_timeout(Some(config.request_timeout));
    let method = head.parts.method.clone();
    let version = head.parts.version;
    let mut close = !head.keep_alive || served >= config.max_requests;
    let log_request = server.log.as_ref().map(|_| Entry::request(&head.parts));
    let (body, decoder) = match head.body {
        BodyLength::Empty => (RequestBody::empty(), None),
        BodyLength::Length(n) => match BodyDecoder::length(n, config.max_body) {
            Ok(d) => {
                let (body, sender) = RequestBody::streamed(Some(n));
                (body, Some((d, sender)))
            }
            Err(e) => {
                // Refused before reading: the body may still be on its way, so close.
                let resp = error_response(e.status(), &e.to_string());
                let _ = write_response(conn, resp, config, false, version, true).await;
                return false;
            }
        },
        BodyLength::Chunked => {
            let (body, sender) = RequestBody::streamed(None);
            (body, Some((BodyDecoder::chunked(config.max_body), sender)))
        }
    };
    let mut request = Request::from_parts(head.parts, body);
    let peer = info.peer.clone();
    request.extensions_mut().insert(info);
    let future = server.handler.call(request);
    let (resp, state) = match decoder {
        None => (future.await, BodyState::Done),
        Some((decoder, sender)) => {
            run_with_body(conn, future, decoder, sender, head.expect_continue).await
        }
    };
    match state {
        BodyState::Done => {}
        BodyState::Unread(decoder) => {
            if !drain(conn, decoder).await {
                close = true;
            }
        }
        BodyState::NotStarted | BodyState::Broken => close = true,
    }
    close |= conn.shutdown_requested();
    let status = resp.status();
    let head_only = method == Method::HEAD;
    let written = write_response(conn, resp, config, head_only, version, close).await;
    if let (Some(log), Some(entry)) = (&server.log, log_request) {
        log.record(&entry, &peer, status, *written.as_ref().unwrap_or(&0));
    }
    written.is_ok() && !close
}

/// Run the handler's future while feeding it the body from the connection, as it asks for
/// it; the response and what is left of the body.
async fn run_with_body<F>(
    conn: &mut Connection,
    future: F,
    mut decoder: BodyDecoder,
    sender: BodySender,
    expect_continue: bool,
) -> (Response<Body>, BodyState)
where
    F: Future<Output = Response<Body>>,
{
    let mut future = pin!(future);
    let BodySender { tx, demand } = sender;
    let mut tx = Some(tokio_util::sync::PollSender::new(tx));
    let mut notified = pin!(demand.notified_owned());
    let mut started = !expect_continue;
    let mut broken = false;
    conn.start_transfer();
    let resp = poll_fn(|cx| {
        loop {
            if let Poll::Ready(resp) = future.as_mut().poll(cx) {
                return Poll::Ready(resp);
            }
            let Some(sender) = tx.as_mut() else {
                return Poll::Pending;
            };
            if !started {
                // RFC 9110 §10.1.1: the client waits for 100 (Continue) before sending; send
                // it only once the handler asks for the body.
                if notified.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                conn.queue(b"HTTP/1.1 100 Continue\r\n\r\n");
                started = true;
            }
            match sender.poll_reserve(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => {
                    // The handler dropped the body: stop reading it.
                    tx = None;
                    continue;
                }
                Poll::Ready(Ok(())) => {}
            }
            let piece = match conn.poll_read_frame(cx, &mut decoder) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(Some(BodyPiece::Data(data)))) => Ok(data),
                Poll::Ready(Ok(Some(BodyPiece::End))) => {
                    // Dropping the sender ends the body for the handler.
                    tx = None;
                    continue;
                }
                Poll::Ready(Ok(None)) | Poll::Ready(Err(ReadError::Truncated { .. })) => {
                    Err(BodyError::Io("connection closed inside the body".into()))
                }
                Poll::Ready(Err(ReadError::Frame(e))) => Err(e),
                Poll::Ready(Err(e)) => Err(BodyError::Io(e.to_string())),
            };
            if piece.is_err() {
                broken = true;
            }
            let _ = sender.send_item(piece);
            if broken {
                tx = None;
            }
        }
    })
    .await;
    conn.finish_transfer();
    let state = if broken {
        BodyState::Broken
    } else if decoder.is_done() {
        BodyState::Done
    } else if !started {
        BodyState::NotStarted
    } else {
        BodyState::Unread(decoder)
    };
    (resp, state)
}

/// Read and discard the rest of a body, up to [`DRAIN_LIMIT`]; whether the connection can
/// carry another request.
async fn drain(conn: &mut Connection, mut decoder: BodyDecoder) -> bool {
    let start = decoder.total();
    conn.start_transfer();
    let ok = loop {
        if decoder.total() - start > DRAIN_LIMIT {
            break false;
        }
        match conn.read_frame(&mut decoder).await {
            Ok(Some(BodyPiece::Data(_))) => {}
            Ok(Some(BodyPiece::End)) => break true,
            _ => break false,
        }
    };
    conn.finish_transfer();
    ok
}

/// Write `resp` with the framing RFC 9112 §6 asks for; the body bytes written.
async fn write_response(
    conn: &mut Connection,
    resp: Response<Body>,
    config: &ServerConfig,
    head_only: bool,
    version: Version,
    close: bool,
) -> io::Result<u64> {
    let (mut parts, body) = resp.into_parts();
    let status = parts.status;
    let headers = &mut parts.headers;
    // The connection's framing is ours to decide (hop-by-hop fields, RFC 9110 §7.6.1).
    headers.remove(header::TRANSFER_ENCODING);
    headers.remove(header::CONNECTION);
    headers.remove("keep-alive");
    if !headers.contains_key(header::DATE) {
        let date = date_now();
        if let Ok(v) = HeaderValue::from_bytes(&date) {
            headers.insert(header::DATE, v);
        }
    }
    if let Some(server) = &config.server_header {
        if !headers.contains_key(header::SERVER) {
            headers.insert(header::SERVER, server.clone());
        }
    }
    // RFC 9110 §6.4.1: 1xx, 204 and 304 never have content; HEAD gets the fields only.
    let no_content = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let length = body.len();
    let mut close = close;
    let mut chunked = false;
    if status.is_informational() || status == StatusCode::NO_CONTENT {
        headers.remove(header::CONTENT_LENGTH);
    } else if status == StatusCode::NOT_MODIFIED {
        // Leave what the handler set (it may describe the selected representation).
    } else if let Some(n) = length {
        if !headers.contains_key(header::CONTENT_LENGTH) || !head_only {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
    } else if !head_only {
        if version == Version::HTTP_11 {
            headers.insert(
                header::TRANSFER_ENCODING,
                HeaderValue::from_static("chunked"),
            );
            chunked = true;
        } else {
            // HTTP/1.0 has no chunked coding: the end of the connection ends the body.
            headers.remove(header::CONTENT_LENGTH);
            close = true;
        }
    }
    if close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    } else if version == Version::HTTP_10 {
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    write_head(conn.output_buffer(), status, headers);
    if head_only || no_content {
        return Ok(0);
    }
    write_body(conn, body, chunked, length).await
}
