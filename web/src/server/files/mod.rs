//! Static files (`torsion-web serve --path DIR`, Twisted's `static.File`, nginx's `root`):
//! GET, HEAD and OPTIONS on a directory tree.
//!
//! - The path is normalised first ([`crate::proto::path`]): no `..` above the root, no
//!   encoded separators, NULs or backslashes (400).
//! - Symbolic links are followed only while the target stays inside the root (else 404, as if
//!   absent), unless [`Files::allow_symlinks_outside`] says otherwise: the file is opened with
//!   openat2(2) and `RESOLVE_BENEATH` relative to the root's descriptor, so the kernel itself
//!   refuses any path (through `..` or a symlink) that leaves the tree, in one system call
//!   (where openat2 is missing, before Linux 5.6, or refuses an absolute symlink, the path is
//!   canonicalised and checked instead).
//! - Files are opened non-blocking and checked with fstat after opening, so nothing swapped
//!   in between (a FIFO, a directory) is read; only regular files are served.
//! - A directory without its trailing slash is redirected (301) to it, so relative links in
//!   it work; with the slash, its index file (`index.html`) or, if enabled, a listing.
//! - Strong ETag (modification time in nanoseconds and length) and Last-Modified;
//!   If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since (304/412) and Range with
//!   If-Range (206, multipart/byteranges, 416) — [`conditional`], [`crate::proto::range`].
//! - Precompressed siblings (`app.js.br`, `.zst`, `.gz`) are sent for clients that accept them,
//!   with `Content-Encoding` and `Vary: Accept-Encoding` ([`encoding`]).
//! - Bodies are file pieces: the connection sends them with sendfile(2) where it can.
//!
//! File system calls are made directly on the runtime's threads, as nginx makes them on its
//! workers: on a page-cached tree they take microseconds, less than a hand-off to a blocking
//! pool would.

pub mod conditional;
pub mod encoding;
pub mod listing;

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use super::{error_response, Body, Handler, Piece, RequestBody};
use crate::proto::path::normalise;
use crate::proto::range::{self, Ranges};
use conditional::Validators;
use encoding::Coding;

/// Serves a directory tree; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Files {
    root: PathBuf,
    /// The root directory, opened once: paths are resolved beneath it.
    root_fd: Option<Arc<std::os::fd::OwnedFd>>,
    index: Vec<String>,
    listing: bool,
    precompressed: bool,
    symlinks_outside: bool,
}

impl Files {
    /// Serve the tree under `root` (index file `index.html`, no listing, precompressed
    /// siblings used).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        let root_fd = File::open(&root)
            .ok()
            .map(|f| Arc::new(std::os::fd::OwnedFd::from(f)));
        Files {
            root,
            root_fd,
            index: vec!["index.html".to_owned()],
            listing: false,
            precompressed: true,
            symlinks_outside: false,
        }
    }

    /// The index file names tried in a directory, in order (empty: none).
    pub fn with_index(mut self, names: Vec<String>) -> Self {
        self.index = names;
        self
    }

    /// List directories that have no index file (else 403).
    pub fn with_listing(mut self, on: bool) -> Self {
        self.listing = on;
        self
    }

    /// Send `.br`/`.zst`/`.gz` siblings to clients that accept them.
    pub fn with_precompressed(mut self, on: bool) -> Self {
        self.precompressed = on;
        self
    }

    /// Follow symbolic links that lead out of the root.
    pub fn allow_symlinks_outside(mut self, on: bool) -> Self {
        self.symlinks_outside = on;
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Answer a request (synchronously: see the module docs).
    pub fn serve(&self, req: &Request<RequestBody>) -> Response<Body> {
        let method = req.method();
        if *method == Method::OPTIONS {
            let mut resp = Response::new(Body::Empty);
            *resp.status_mut() = StatusCode::NO_CONTENT;
            resp.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            return resp;
        }
        if *method != Method::GET && *method != Method::HEAD {
            let mut resp = error_response(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
            resp.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            return resp;
        }
        let safe = match normalise(req.uri().path()) {
            Ok(p) => p,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let mut path = self.root.clone();
        path.extend(&safe.segments);
        let (file, meta) = match self.open(&path) {
            Ok(found) => found,
            Err(status) => return not_served(status),
        };
        if meta.is_dir() {
            if !safe.trailing_slash {
                let mut location = safe.to_href();
                location.push('/');
                if let Some(q) = req.uri().query() {
                    location.push('?');
                    location.push_str(q);
                }
                return redirect(&location);
            }
            for name in &self.index {
                let candidate = path.join(name);
                if let Ok((file, meta)) = self.open(&candidate) {
                    if meta.is_file() {
                        return self.file(req, &candidate, file, meta);
                    }
                }
            }
            if !self.listing {
                return error_response(StatusCode::FORBIDDEN, "Directory listing is off");
            }
            return match listing::render(&path, &safe.to_href()) {
                Ok(page) => {
                    let mut resp = Response::new(Body::from(page));
                    resp.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    );
                    resp
                }
                Err(e) => not_served(io_status(&e)),
            };
        }
        if safe.trailing_slash {
            // `/file.txt/` names a directory that is not there.
            return not_served(StatusCode::NOT_FOUND);
        }
        self.file(req, &path, file, meta)
    }

    /// Open `path` (non-blocking, so a FIFO cannot stall us) and fstat it; refuse what is
    /// not a regular file or directory, and symlinks out of the root.
    fn open(&self, path: &Path) -> Result<(File, Metadata), StatusCode> {
        let file = match (&self.root_fd, self.symlinks_outside) {
            (Some(root), false) => match self.open_beneath(root, path) {
                Some(result) => result?,
                None => self.open_checked(path)?,
            },
            (None, false) => self.open_checked(path)?,
            (_, true) => open_plain(path)?,
        };
        let meta = file.metadata().map_err(|e| io_status(&e))?;
        if !meta.is_file() && !meta.is_dir() {
            return Err(StatusCode::NOT_FOUND);
        }
        Ok((file, meta))
    }

    /// openat2(RESOLVE_BENEATH) relative to the root; `None` if the kernel lacks openat2.
    fn open_beneath(
        &self,
        root: &std::os::fd::OwnedFd,
        path: &Path,
    ) -> Option<Result<File, StatusCode>> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        let relative = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        match rustix::fs::openat2(root, relative, flags, Mode::empty(), ResolveFlags::BENEATH) {
            Ok(fd) => Some(Ok(File::from(fd))),
            Err(rustix::io::Errno::NOSYS) => None,
            // EXDEV: a `..` or a symlink leads out of the root — or is an absolute symlink,
            // which RESOLVE_BENEATH refuses even when it points inside: the slow check decides.
            Err(rustix::io::Errno::XDEV) => Some(self.open_checked(path)),
            Err(e) => Some(Err(io_status(&io::Error::from(e)))),
        }
    }

    /// Canonicalise and check the path stays inside the root, then open it.
    fn open_checked(&self, path: &Path) -> Result<File, StatusCode> {
        let real = std::fs::canonicalize(path).map_err(|e| io_status(&e))?;
        if !real.starts_with(&self.root) {
            return Err(StatusCode::NOT_FOUND);
        }
        open_plain(path)
    }

    /// The precompressed sibling to send instead of `path`, if one is wanted and exists.
    fn sibling(&self, req: &Request<RequestBody>, path: &Path) -> Option<(Coding, File, Metadata)> {
        if !self.precompressed {
            return None;
        }
        for coding in encoding::acceptable(req.headers()) {
            let mut name = path.as_os_str().to_owned();
            name.push(coding.suffix);
            if let Ok((file, meta)) = self.open(Path::new(&name)) {
                if meta.is_file() {
                    return Some((coding, file, meta));
                }
            }
        }
        None
    }

    fn file(
        &self,
        req: &Request<RequestBody>,
        path: &Path,
        file: File,
        meta: Metadata,
    ) -> Response<Body> {
        let content_type = mime_guess::from_path(path)
            .first_raw()
            .unwrap_or("application/octet-stream");
        let (file, meta, coding) = match self.sibling(req, path) {
            Some((coding, f, m)) => (f, m, Some(coding)),
            None => (file, meta, None),
        };
        let len = meta.len();
        let validators = validators(&meta, coding);
        let mut headers = HeaderMap::new();
        set(&mut headers, header::CONTENT_TYPE, content_type);
        set(&mut headers, header::ETAG, &validators.etag);
        set(
            &mut headers,
            header::LAST_MODIFIED,
            &torsion_core::date::http_date(UNIX_EPOCH + Duration::from_secs(validators.modified)),
        );
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(coding) = coding {
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(coding.name),
            );
            headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        if let Some(status) = conditional::evaluate(req.method(), req.headers(), &validators) {
            let mut resp = Response::new(Body::Empty);
            *resp.status_mut() = status;
            if status == StatusCode::NOT_MODIFIED {
                // RFC 9110 §15.4.5: the fields a 200 would have had that describe it.
                headers.remove(header::CONTENT_TYPE);
                headers.remove(header::ACCEPT_RANGES);
                *resp.headers_mut() = headers;
            }
            return resp;
        }
        let file = Arc::new(file);
        let ranges = match req.headers().get(header::RANGE) {
            Some(h)
                if *req.method() == Method::GET
                    && conditional::if_range_allows(req.headers(), &validators) =>
            {
                range::evaluate(h.as_bytes(), len)
            }
            _ => Ranges::Full,
        };
        let mut resp = match ranges {
            Ranges::Full => Response::new(Body::Pieces(vec![Piece::File {
                file,
                offset: 0,
                len,
            }])),
            Ranges::Unsatisfiable => {
                let mut resp =
                    error_response(StatusCode::RANGE_NOT_SATISFIABLE, "Range not satisfiable");
                set(
                    resp.headers_mut(),
                    header::CONTENT_RANGE,
                    &format!("bytes */{len}"),
                );
                return resp;
            }
            Ranges::Partial(list) if list.len() == 1 => {
                let (first, last) = list[0];
                set(
                    &mut headers,
                    header::CONTENT_RANGE,
                    &format!("bytes {first}-{last}/{len}"),
                );
                let mut resp = Response::new(Body::Pieces(vec![Piece::File {
                    file,
                    offset: first,
                    len: last - first + 1,
                }]));
                *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
                resp
            }
            Ranges::Partial(list) => {
                let boundary = boundary(&validators);
                let mut pieces = Vec::with_capacity(list.len() * 2 + 1);
                for (first, last) in list {
                    let part = format!(
                        "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {first}-{last}/{len}\r\n\r\n"
                    );
                    pieces.push(Piece::Bytes(Bytes::from(part)));
                    pieces.push(Piece::File {
                        file: file.clone(),
                        offset: first,
                        len: last - first + 1,
                    });
                }
                pieces.push(Piece::Bytes(Bytes::from(format!("\r\n--{boundary}--\r\n"))));
                set(
                    &mut headers,
                    header::CONTENT_TYPE,
                    &format!("multipart/byteranges; boundary={boundary}"),
                );
                let mut resp = Response::new(Body::Pieces(pieces));
                *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
                resp
            }
        };
        let status = resp.status();
        *resp.headers_mut() = headers;
        *resp.status_mut() = status;
        resp
    }
}

impl Handler for Files {
    async fn call(&self, req: Request<RequestBody>) -> Response<Body> {
        self.serve(&req)
    }
}

/// Open non-blocking (a FIFO must not stall us), following symlinks anywhere.
fn open_plain(path: &Path) -> Result<File, StatusCode> {
    OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| io_status(&e))
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// Strong validators from the file's metadata (and the coding, a different representation).
fn validators(meta: &Metadata, coding: Option<Coding>) -> Validators {
    let secs = u64::try_from(meta.mtime()).unwrap_or(0);
    let nanos = u64::try_from(meta.mtime_nsec()).unwrap_or(0);
    let suffix = coding.map_or(String::new(), |c| format!("-{}", c.name));
    Validators {
        etag: format!("\"{secs:x}.{nanos:x}-{:x}{suffix}\"", meta.len()),
        modified: secs,
    }
}

/// A multipart boundary that cannot occur in the parts' headers and is unlikely in the file.
fn boundary(v: &Validators) -> String {
    let seed = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in v.etag.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("torsion-{h:016x}")
}

fn redirect(location: &str) -> Response<Body> {
    let mut resp = error_response(StatusCode::MOVED_PERMANENTLY, "Moved");
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn io_status(e: &io::Error) -> StatusCode {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => StatusCode::NOT_FOUND,
        io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        io::ErrorKind::InvalidFilename => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn not_served(status: StatusCode) -> Response<Body> {
    let text = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Forbidden",
        _ => "The file could not be read",
    };
    error_response(status, text)
}
