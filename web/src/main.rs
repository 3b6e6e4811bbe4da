//! `torsion-web`: the HTTP server (`serve`: static files from `--path`, reverse proxies from
//! `--proxy`) and a curl-like client (`get`). Wiring only; the behaviour is in the library.

mod get_cli;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use torsion_core::runner::{self, RunError, ServiceArgs};
use torsion_web::client::ClientConfig;
use torsion_web::server::files::Files;
use torsion_web::server::log::AccessLog;
use torsion_web::server::proxy::Proxy;
use torsion_web::server::{HttpServer, Mount, ServerConfig};

#[derive(Debug, clap::Parser)]
#[command(name = "torsion-web", version, about = "HTTP/1.1 server and client")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve a directory and/or reverse proxies over HTTP (default --listen tcp:8080;
    /// `tls:8443:privateKey=…` for HTTPS).
    Serve(Box<ServeArgs>),
    /// Fetch a URL (curl-like): the body to stdout or -o FILE; exit 1 on an HTTP error.
    Get(Box<get_cli::GetArgs>),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The directory to serve (at `/`, below any --proxy prefix).
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// Forward requests under PREFIX to an upstream HTTP server (repeatable), e.g.
    /// `/api=http://127.0.0.1:9000` (its path, if any, replaces the prefix).
    #[arg(long = "proxy", value_name = "PREFIX=URL")]
    proxies: Vec<String>,
    /// Seconds to wait for an upstream to accept a connection (502 after).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    proxy_connect_timeout: u64,
    /// Seconds to wait for an upstream's response head, and the silence allowed in its body
    /// (504 after).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    proxy_read_timeout: u64,
    /// Index file names tried in a directory, in order (repeatable; default index.html).
    #[arg(long = "index", value_name = "NAME")]
    index: Vec<String>,
    /// List directories that have no index file.
    #[arg(long, overrides_with = "no_listing")]
    listing: bool,
    /// Answer 403 for directories without an index file (the default).
    #[arg(long)]
    no_listing: bool,
    /// Do not send .br/.zst/.gz siblings to clients that accept them.
    #[arg(long)]
    no_precompressed: bool,
    /// Follow symbolic links that lead out of --path.
    #[arg(long)]
    follow_symlinks_outside: bool,
    /// Write an access log in the combined format to FILE (`-`: standard output).
    #[arg(long, value_name = "FILE|-")]
    access_log: Option<PathBuf>,
    /// Largest request body accepted, in bytes (413 beyond).
    #[arg(long, value_name = "BYTES", default_value_t = torsion_web::server::DEFAULT_MAX_BODY)]
    max_body: u64,
    /// Seconds a request head or body may take, and the silence allowed inside one (408).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    request_timeout: u64,
    /// Requests served on one connection before it is closed.
    #[arg(long, value_name = "N", default_value_t = torsion_web::server::DEFAULT_MAX_REQUESTS)]
    max_requests_per_connection: u64,
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> ExitCode {
    let cli: Cli = runner::parse_args();
    match cli.command {
        Command::Serve(args) => runner::run("torsion-web", serve(*args)),
        Command::Get(args) => runner::run("torsion-web", get_cli::get(*args)),
    }
}

async fn serve(args: ServeArgs) -> Result<(), RunError> {
    let config_err = |what: String| RunError::Config(what);
    if args.path.is_none() && args.proxies.is_empty() {
        return Err(config_err(
            "nothing to serve: give --path DIR and/or --proxy PREFIX=URL".into(),
        ));
    }
    let mut mount = Mount::new();
    let upstream_config = ClientConfig {
        connect_timeout: Duration::from_secs(args.proxy_connect_timeout.max(1)),
        head_timeout: Duration::from_secs(args.proxy_read_timeout.max(1)),
        read_timeout: Duration::from_secs(args.proxy_read_timeout.max(1)),
        ..ClientConfig::default()
    };
    for spec in &args.proxies {
        let (prefix, url) = spec
            .split_once('=')
            .ok_or_else(|| config_err(format!("--proxy {spec:?}: expected PREFIX=URL")))?;
        if !prefix.starts_with('/') {
            return Err(config_err(format!(
                "--proxy {spec:?}: the prefix must start with /"
            )));
        }
        let uri = url
            .parse()
            .map_err(|e| config_err(format!("--proxy {spec:?}: {e}")))?;
        let proxy = Proxy::new(prefix, uri, upstream_config.clone())
            .map_err(|e| config_err(format!("--proxy {spec:?}: {e}")))?;
        mount = mount.at(prefix, proxy);
    }
    if let Some(path) = &args.path {
        if !path.is_dir() {
            return Err(config_err(format!(
                "--path {}: not a directory",
                path.display()
            )));
        }
        let index = if args.index.is_empty() {
            vec!["index.html".to_owned()]
        } else {
            args.index.clone()
        };
        let files = Files::new(path)
            .with_index(index)
            .with_listing(args.listing && !args.no_listing)
            .with_precompressed(!args.no_precompressed)
            .allow_symlinks_outside(args.follow_symlinks_outside);
        mount = mount.at("/", files);
    }
    let log = match &args.access_log {
        Some(path) => Some(
            AccessLog::open(path)
                .map_err(|e| config_err(format!("--access-log {}: {e}", path.display())))?,
        ),
        None => None,
    };
    runner::init_logging(&args.service.log_level, args.service.log_format)?;
    let mut config = ServerConfig {
        max_body: args.max_body,
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        max_requests: args.max_requests_per_connection.max(1),
        ..ServerConfig::default()
    };
    if let Some(idle) = args.service.idle_timeout.filter(|&s| s > 0) {
        config.keep_alive_timeout = Duration::from_secs(idle);
    }
    let mut server = HttpServer::new(config, mount);
    if let Some(log) = log {
        server = server.with_access_log(log);
    }
    runner::serve(Arc::new(server), &args.service, &["tcp:8080"]).await
}
