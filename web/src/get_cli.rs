//! `torsion-web get URL`: fetch a URL as curl does — method, headers and data from flags,
//! redirects followed under the client's policy, the body to stdout or `-o FILE` (written to
//! `FILE.part` and renamed when complete, so an interrupted download never looks finished),
//! a progress line on a terminal for large downloads. Exit 0 for a 2xx/3xx answer, 1 for an
//! HTTP error (4xx/5xx: its body is not written, as `curl --fail` does) or a failure to fetch,
//! 2 for bad arguments.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use torsion_core::runner::{self, LogFormat, RunError};
use torsion_web::body::Body;
use torsion_web::client::{Client, ClientConfig, RedirectPolicy};

/// Arguments of `torsion-web get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The URL (http:// or https://).
    pub url: String,
    /// Write the body to FILE instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Send DATA as the body (POST unless --request says otherwise); `@FILE` sends a file.
    #[arg(short = 'd', long, value_name = "DATA")]
    pub data: Option<String>,
    /// The method (default GET, or POST with --data).
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub method: Option<String>,
    /// Print the response's status line and headers (to standard error).
    #[arg(short = 'i', long)]
    pub include: bool,
    /// Most redirects followed (0: none).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_redirs: u32,
    /// CA certificates (PEM) to verify https servers with, instead of the system store.
    #[arg(long, value_name = "PEM")]
    pub trust_roots: Option<PathBuf>,
    /// An HTTP proxy (http://host:port): CONNECT for https, absolute URLs for http.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Seconds the whole request may take up to the response head (the body is bounded by
    /// the read timeout, 30 s of silence).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// Log filter.
    #[arg(long, value_name = "LEVEL", default_value = "warn")]
    pub log_level: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

fn bad(e: impl std::fmt::Display) -> RunError {
    RunError::Config(e.to_string())
}

fn failed(e: impl std::fmt::Display) -> RunError {
    RunError::Runtime(e.to_string())
}

/// Run `get`.
pub async fn get(args: GetArgs) -> Result<(), RunError> {
    runner::init_logging(&args.log_level, args.log_format)?;
    let uri: Uri = args
        .url
        .parse()
        .map_err(|e| bad(format!("{}: {e}", args.url)))?;
    let proxy = match &args.proxy {
        Some(p) => Some(p.parse().map_err(|e| bad(format!("--proxy {p}: {e}")))?),
        None => None,
    };
    let body = match &args.data {
        None => Body::Empty,
        Some(d) => match d.strip_prefix('@') {
            Some(path) => {
                Body::from(std::fs::read(path).map_err(|e| bad(format!("--data @{path}: {e}")))?)
            }
            None => Body::Full(Bytes::from(d.clone())),
        },
    };
    let method = match &args.method {
        Some(m) => Method::from_bytes(m.as_bytes())
            .map_err(|_| bad(format!("--request {m}: not a method")))?,
        None if args.data.is_some() => Method::POST,
        None => Method::GET,
    };
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| bad(format!("--header {h:?}: expected NAME: VALUE")))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| bad(format!("--header {h:?}: bad name")))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| bad(format!("--header {h:?}: bad value")))?;
        req.headers_mut().append(name, value);
    }
    if args.data.is_some() && !req.headers().contains_key(http::header::CONTENT_TYPE) {
        req.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    let client = Client::new(ClientConfig {
        redirects: RedirectPolicy {
            max: args.max_redirs,
            allow_downgrade: false,
        },
        trust_roots: args.trust_roots.clone(),
        proxy,
        total_timeout: Some(Duration::from_secs(args.timeout.max(1))),
        ..ClientConfig::default()
    });
    let resp = client
        .request(req)
        .await
        .map_err(|e| failed(format!("{}: {e}", args.url)))?;
    let status = resp.status();
    if args.include {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "HTTP/1.1 {status}");
        for (k, v) in resp.headers() {
            let _ = writeln!(err, "{k}: {}", String::from_utf8_lossy(v.as_bytes()));
        }
        let _ = writeln!(err);
    }
    if status.is_client_error() || status.is_server_error() {
        return Err(failed(format!("{}: HTTP {status}", args.url)));
    }
    let length = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = resp.into_body();
    let (mut out, part): (Box<dyn Write>, Option<(PathBuf, PathBuf)>) = match &args.output {
        Some(path) => {
            let mut part = path.clone().into_os_string();
            part.push(".part");
            let part = PathBuf::from(part);
            let file = std::fs::File::create(&part)
                .map_err(|e| failed(format!("{}: {e}", part.display())))?;
            (
                Box::new(std::io::BufWriter::new(file)),
                Some((part, path.clone())),
            )
        }
        None => (Box::new(std::io::stdout().lock()), None),
    };
    let progress =
        part.is_some() && std::io::stderr().is_terminal() && length.is_none_or(|n| n > 1 << 20);
    let started = Instant::now();
    let mut shown = Instant::now();
    let mut received: u64 = 0;
    let result: Result<(), RunError> = async {
        while let Some(piece) = body.chunk().await {
            let piece = piece.map_err(|e| failed(format!("{}: {e}", args.url)))?;
            out.write_all(&piece)
                .map_err(|e| failed(format!("writing: {e}")))?;
            received += piece.len() as u64;
            if progress && shown.elapsed() > Duration::from_millis(200) {
                shown = Instant::now();
                show_progress(received, length, started.elapsed());
            }
        }
        out.flush().map_err(|e| failed(format!("writing: {e}")))
    }
    .await;
    if progress {
        show_progress(received, length, started.elapsed());
        eprintln!();
    }
    drop(out);
    match (result, part) {
        (Ok(()), Some((part, path))) => {
            std::fs::rename(&part, &path).map_err(|e| failed(format!("{}: {e}", path.display())))
        }
        (Ok(()), None) => Ok(()),
        (Err(e), Some((part, _))) => {
            let _ = std::fs::remove_file(part);
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

fn show_progress(received: u64, length: Option<u64>, elapsed: Duration) {
    let mib = |n: u64| n as f64 / (1024.0 * 1024.0);
    let rate = mib(received) / elapsed.as_secs_f64().max(0.001);
    let line = match length {
        Some(total) if total > 0 => format!(
            "\r{:5.1}%  {:.1}/{:.1} MiB  {rate:.1} MiB/s ",
            received as f64 * 100.0 / total as f64,
            mib(received),
            mib(total)
        ),
        _ => format!("\r{:.1} MiB  {rate:.1} MiB/s ", mib(received)),
    };
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.flush();
}
