//! The reference for `cargo xtask bench core`: the canonical tokio echo server, nothing more
//! (no limits, no logging per connection, no timeouts), on the default multi-threaded runtime.
//!
//! `baseline_echo [--listen ADDR] [--nodelay]` (default `127.0.0.1:0`) prints
//! `listening on tcp:ADDR` to stderr, like Torsion's servers, and exits 0 on SIGTERM or SIGINT.
//! `--nodelay` sets TCP_NODELAY on accepted sockets, as torsion-core's listeners do.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut addr = "127.0.0.1:0".to_owned();
    let mut nodelay = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.len()) {
            ("--listen", 1..) => addr = args.next().cloned().unwrap_or_default(),
            ("--nodelay", _) => nodelay = true,
            _ => {
                eprintln!("baseline_echo: usage: baseline_echo [--listen ADDR] [--nodelay]");
                return ExitCode::from(2);
            }
        }
    }
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        eprintln!("baseline_echo: --listen {addr:?}: expected IP:PORT");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("baseline_echo: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(addr, nodelay)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baseline_echo: {e}");
            ExitCode::from(1)
        }
    }
}

async fn serve(addr: SocketAddr, nodelay: bool) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!("listening on tcp:{}", listener.local_addr()?);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    if nodelay {
                        // Best effort, as in torsion-core: a failure only costs latency.
                        let _ = socket.set_nodelay(true);
                    }
                    tokio::spawn(echo(socket));
                }
                Err(e) => {
                    // Out of file descriptors: back off rather than spin.
                    eprintln!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}

async fn echo(mut socket: TcpStream) {
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if socket.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
