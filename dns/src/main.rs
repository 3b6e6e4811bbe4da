//! `torsion-dns`: authoritative server, caching recursive resolver or forwarder (`serve`), and a
//! dig-like client (`query`).

// The `query` subcommand's output is its purpose.
#![allow(clippy::print_stdout)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use torsion_core::runner::{self, Limits, RunError, Server, ServerControl, ServiceArgs};
use torsion_core::ServerEndpoint;
use torsion_dns::client::exchange::{exchange, ExchangeOptions};
use torsion_dns::client::present::format_message;
use torsion_dns::client::ResolverConfig;
use torsion_dns::server::{serve_udp, Acl, Cidr, DnsTcp, QueryHandler, ZoneSet, ZoneSpec};
use torsion_dns::zone::hosts::HostsFile;

#[path = "recursion_cli.rs"]
mod recursion;

/// Recursive resolutions in flight at once (UDP); more are shed.
const MAX_PENDING_RESOLUTIONS: usize = 4096;

#[derive(Debug, clap::Parser)]
#[command(
    name = "torsion-dns",
    version,
    about = "Authoritative DNS server, caching resolver and forwarder"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve DNS over UDP and TCP.
    Serve(Box<ServeArgs>),
    /// Ask a DNS server one question and print the answer (like dig).
    Query(QueryArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// UDP and TCP port (shorthand for --listen udp:N --listen tcp:N); default 53 when no
    /// --listen is given.
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// Serve this zone authoritatively (repeatable): FILE, or ORIGIN=FILE when the file has no
    /// $ORIGIN.
    #[arg(long = "zone", value_name = "[ORIGIN=]FILE")]
    zones: Vec<ZoneSpec>,
    /// Resolve names iteratively from the root (the default when no --zone and no --forward).
    #[arg(long)]
    recursive: bool,
    /// Root hints in named.root format instead of the built-in IANA list.
    #[arg(long, value_name = "FILE", requires = "recursive")]
    root_hints: Option<PathBuf>,
    /// Forward queries to these resolvers, caching answers, with failover (repeatable).
    #[arg(
        long = "forward",
        value_name = "IP[:PORT]",
        conflicts_with = "recursive"
    )]
    forward: Vec<String>,
    /// Answer A/AAAA/PTR from an /etc/hosts-format file.
    #[arg(long, value_name = "FILE")]
    hosts_file: Option<PathBuf>,
    /// Cache entries kept by the resolver.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    cache_size: usize,
    /// Clients allowed to recurse (repeatable; default: loopback and private ranges).
    #[arg(long = "allow-recursion", value_name = "CIDR")]
    allow_recursion: Vec<Cidr>,
    /// Clients allowed to transfer zones with AXFR over TCP (repeatable; default: none).
    #[arg(long = "allow-transfer", value_name = "CIDR")]
    allow_transfer: Vec<Cidr>,
    /// UDP sockets on each UDP port (SO_REUSEPORT); 0: one per CPU.
    #[arg(long, value_name = "N", default_value_t = 0)]
    udp_sockets: usize,
    /// Send every upstream query to this port instead of 53 (test hierarchies on loopback).
    #[arg(long, value_name = "PORT", hide = true)]
    upstream_port: Option<u16>,
    #[command(flatten)]
    service: ServiceArgs,
}

#[derive(Debug, clap::Args)]
struct QueryArgs {
    /// The name to look up.
    name: String,
    /// Record type (A, AAAA, MX, TXT, NS, SOA, SRV, PTR, CAA, ANY, …).
    #[arg(default_value = "A")]
    rtype: String,
    /// Server to ask (IP or IP:PORT, [IPv6]:PORT); default: the first nameserver in /etc/resolv.conf.
    #[arg(long, value_name = "IP[:PORT]")]
    server: Option<String>,
    /// Use TCP.
    #[arg(long)]
    tcp: bool,
    /// Print only the answers' data.
    #[arg(long)]
    short: bool,
    /// Seconds to wait for an answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    timeout: u64,
    /// Do not ask for recursion (RD=0), as when querying an authoritative server.
    #[arg(long)]
    norecurse: bool,
}

fn main() -> ExitCode {
    let cli: Cli = runner::parse_args();
    match cli.command {
        Command::Serve(args) => runner::run("torsion-dns", serve(*args)),
        Command::Query(args) => query(args),
    }
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`, with a default port.
pub(crate) fn parse_server(s: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(addr) = SocketAddr::from_str(s) {
        return Ok(addr);
    }
    let ip = s.trim_start_matches('[').trim_end_matches(']');
    IpAddr::from_str(ip)
        .map(|ip| SocketAddr::new(ip, default_port))
        .map_err(|_| format!("{s:?} is not IP, IP:PORT or [IPv6]:PORT"))
}

async fn serve(args: ServeArgs) -> Result<(), RunError> {
    runner::init_logging(&args.service.log_level, args.service.log_format)?;
    let zones = Arc::new(ZoneSet::new(args.zones.clone()));
    let catalog = zones.load().map_err(RunError::Config)?;
    let mut handler = QueryHandler::new(catalog);
    if let Some(path) = &args.hosts_file {
        let hosts = HostsFile::load(path)
            .map_err(|e| RunError::Config(format!("{}: {e}", path.display())))?;
        for warning in hosts.warnings() {
            tracing::warn!("{}: {warning}", path.display());
        }
        handler = handler.with_hosts(hosts);
    }
    let allow_recursion = if args.allow_recursion.is_empty() {
        Acl::local_networks()
    } else {
        Acl::new(args.allow_recursion.clone())
    };
    if let Some(resolve) = recursion::build(&args)? {
        handler = handler.with_recursion(resolve, allow_recursion);
    }
    handler = handler.with_transfers(Acl::new(args.allow_transfer.clone()));
    let handler = Arc::new(handler);

    let mut endpoints = args.service.listen.clone();
    if let Some(port) = args.port {
        for scheme in ["udp", "tcp"] {
            endpoints.push(
                ServerEndpoint::parse(&format!("{scheme}:{port}"))
                    .map_err(|e| RunError::Config(e.to_string()))?,
            );
        }
    }
    if endpoints.is_empty() {
        endpoints = args.service.endpoints_or(&["udp:53", "tcp:53"])?;
    }
    let (udp, stream): (Vec<_>, Vec<_>) = endpoints
        .into_iter()
        .partition(|e| matches!(e, ServerEndpoint::Udp { .. }));

    let control = ServerControl::new();
    let sockets_per_port = match args.udp_sockets {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let mut sockets = Vec::new();
    for endpoint in &udp {
        let bound = endpoint.bind_udp(sockets_per_port)?;
        if let Some(first) = bound.first() {
            let addr = first
                .local_addr()
                .map_err(|e| RunError::Runtime(format!("{endpoint}: {e}")))?;
            tracing::info!(protocol = "dns", "listening on udp:{addr}");
        }
        sockets.extend(bound);
    }
    let udp_task = tokio::spawn(serve_udp(
        sockets,
        handler.clone(),
        control.shutdown_token(),
        MAX_PENDING_RESOLUTIONS,
    ));
    let signals = tokio::spawn(runner::watch_signals(control.clone()));
    let limits: Limits = args.service.limits_over(DnsTcp::standard_limits());
    let result = if stream.is_empty() {
        // UDP only: reload and shutdown are ours to handle.
        loop {
            tokio::select! {
                () = control.shutting_down() => break Ok(()),
                () = control.reload_requested() => {
                    let previous = handler.catalog();
                    handler.replace_catalog(zones.reload(&previous));
                    tracing::info!("serving {} zone(s) after reload", handler.catalog().zones().len());
                }
            }
        }
    } else {
        let tcp = Arc::new(DnsTcp::new(handler.clone(), zones.clone()));
        let server = Server::bind_with_control(tcp, &stream, limits, control.clone()).await?;
        server.run().await
    };
    control.shutdown();
    let _ = udp_task.await;
    signals.abort();
    result
}

fn query(args: QueryArgs) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("torsion-dns: {msg}");
        ExitCode::from(2)
    };
    let mut name = match Name::from_str(&args.name) {
        Ok(n) => n,
        Err(e) => return fail(format!("{:?} is not a domain name: {e}", args.name)),
    };
    name.set_fqdn(true);
    let rtype = match args.rtype.to_ascii_uppercase().parse::<RecordType>() {
        Ok(t) => t,
        Err(_) => match args
            .rtype
            .to_ascii_uppercase()
            .strip_prefix("TYPE")
            .and_then(|n| n.parse::<u16>().ok())
        {
            Some(code) => RecordType::from(code),
            None => return fail(format!("{:?} is not a record type", args.rtype)),
        },
    };
    let server = match &args.server {
        Some(s) => match parse_server(s, 53) {
            Ok(addr) => addr,
            Err(e) => return fail(format!("--server {e}")),
        },
        None => match ResolverConfig::from_system()
            .ok()
            .and_then(|c| c.nameservers.first().copied())
        {
            Some(addr) => addr,
            None => return fail("no --server and no nameserver in /etc/resolv.conf".into()),
        },
    };
    let opts = ExchangeOptions {
        timeout: Duration::from_secs(args.timeout.max(1)),
        tcp: args.tcp,
        recursion_desired: !args.norecurse,
        ..ExchangeOptions::default()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("torsion-dns: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(exchange(server, &name, rtype, &opts)) {
        Ok(response) => {
            print!("{}", format_message(&response, args.short));
            // Exit 0 on NOERROR; otherwise 10 + the RCODE (NXDOMAIN 13, SERVFAIL 12, REFUSED 15).
            match response.metadata.response_code {
                ResponseCode::NoError => ExitCode::SUCCESS,
                rcode => ExitCode::from(
                    10u8.saturating_add(u8::try_from(u16::from(rcode)).unwrap_or(245)),
                ),
            }
        }
        Err(e) => {
            eprintln!("torsion-dns: {e}");
            ExitCode::from(1)
        }
    }
}
