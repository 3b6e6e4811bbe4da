//! Interop checks for torsion-core's example servers: netcat, socat, openssl s_client and
//! Python's socket module as clients, plus the runner's exit codes and graceful shutdown.
//! Servers listen on port 0 or under var/interop/ and are stopped by PID.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{make_certificate, require, shorten, Client, Report};
use crate::util::{self, ServerProcess};

/// Bound on a server logging `listening on`.
const START: Duration = Duration::from_secs(10);
/// Bound on one client exchange.
const EXCHANGE: Duration = Duration::from_secs(10);
/// `--shutdown-timeout` given to the server in the graceful-shutdown check.
const SHUTDOWN_TIMEOUT: u64 = 5;

/// Run every core check into `report`.
pub fn run(report: &mut Report) {
    if let Err(e) = util::cargo_build(&["-p", "torsion-core", "--examples"]) {
        report.fail("core: build the examples", &e);
        return;
    }
    let root = util::workspace_root();
    let dir = root.join("var").join("interop");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        report.fail("core: create var/interop", &e.to_string());
        return;
    }
    report.check("nc-upper (netcat-openbsd to upper over TCP)", || {
        nc_upper(&root)
    });
    report.check("socat-echo-unix (socat to echo over a Unix socket)", || {
        socat_echo_unix(&root)
    });
    report.check(
        "openssl-echo-tls (openssl s_client to echo over TLS)",
        || openssl_echo_tls(&root),
    );
    report.check(
        "sighup-reload (new TLS certificate after SIGHUP, server keeps running)",
        || sighup_reload(&root),
    );
    report.check("python-chat (two Python socket clients chat)", || {
        python_chat(&root)
    });
    report.check("python-counting (greets 1 then 2 open connections)", || {
        python_counting(&root)
    });
    report.check(
        "graceful-shutdown (SIGTERM with a client connected: goodbye, exit 0)",
        || graceful_shutdown(&root),
    );
    report.check("exit-2-bad-endpoint (echo --listen bogus:1)", || {
        bad_endpoint(&root)
    });
    report.check("exit-1-port-in-use (echo on a bound port)", || {
        port_in_use(&root)
    });
}

fn example(name: &str) -> PathBuf {
    util::release_dir().join("examples").join(name)
}

/// Start an example server; returns it and the addresses it logged.
fn start(
    root: &Path,
    example_name: &str,
    check: &str,
    args: &[&str],
) -> Result<(ServerProcess, Vec<String>), String> {
    let log = root
        .join("var")
        .join("interop")
        .join(format!("{check}.log"));
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let listeners = args.iter().filter(|a| *a == "--listen").count();
    let mut server = ServerProcess::spawn(example_name, &example(example_name), &args, root, &log)?;
    let addresses = server.wait_listening(listeners, START)?;
    Ok((server, addresses))
}

/// The TCP port of the first logged address.
fn port(addresses: &[String]) -> Result<String, String> {
    addresses
        .first()
        .and_then(|a| util::port_of(a))
        .map(|p| p.to_string())
        .ok_or_else(|| format!("no port in {addresses:?}"))
}

/// Stop a server and require exit 0.
fn stop_cleanly(mut server: ServerProcess) -> Result<(), String> {
    server.stop_cleanly()
}

fn nc_upper(root: &Path) -> Result<(), String> {
    let nc = require("nc", "netcat-openbsd")?;
    let (server, addresses) = start(
        root,
        "upper",
        "nc-upper",
        &["--listen", "tcp:0:interface=127.0.0.1"],
    )?;
    let port = port(&addresses)?;
    // -N: shut down the sending side at EOF on stdin (netcat-openbsd), so upper sees the end,
    // answers, and closes; -w bounds connecting and idling.
    let mut nc = Client::spawn(&nc, &["-N", "-w", "5", "127.0.0.1", &port], root)?;
    nc.send(b"hello torsion\n")?;
    nc.close_stdin();
    nc.expect("HELLO TORSION", EXCHANGE)?;
    let status = nc.finish(EXCHANGE)?;
    if !status.success() {
        return Err(format!(
            "nc exited with {}; {}",
            util::describe_status(status),
            nc.transcript()
        ));
    }
    stop_cleanly(server)
}

fn socat_echo_unix(root: &Path) -> Result<(), String> {
    let socat = require("socat", "socat")?;
    // Relative to the workspace root (the cwd of server and client): short enough for sun_path.
    let socket = "var/interop/echo.sock";
    let _ = std::fs::remove_file(root.join(socket));
    let (server, _) = start(
        root,
        "echo",
        "socat-echo-unix",
        &["--listen", &format!("unix:{socket}")],
    )?;
    // 200 KB of numbered lines: several reads and writes on each side, compared byte for byte.
    let payload: Vec<u8> = (0..4000)
        .flat_map(|i| format!("line {i:05} through socat and back\n").into_bytes())
        .collect();
    let mut socat = Client::spawn(
        &socat,
        &["-t", "5", "-", &format!("UNIX-CONNECT:{socket}")],
        root,
    )?;
    socat.send(&payload)?;
    let status = socat.finish(EXCHANGE)?;
    if !status.success() {
        return Err(format!(
            "socat exited with {}; {}",
            util::describe_status(status),
            socat.transcript()
        ));
    }
    if socat.stdout() != payload.as_slice() {
        return Err(format!(
            "echoed {} bytes, sent {}; first difference at byte {}",
            socat.stdout().len(),
            payload.len(),
            socat
                .stdout()
                .iter()
                .zip(&payload)
                .position(|(a, b)| a != b)
                .unwrap_or(socat.stdout().len().min(payload.len()))
        ));
    }
    stop_cleanly(server)?;
    if root.join(socket).exists() {
        return Err(format!("{socket} still exists after the server stopped"));
    }
    Ok(())
}

/// `openssl s_client` to 127.0.0.1:`port` trusting `ca`: a line must come back.
fn s_client_echo(openssl: &Path, root: &Path, port: &str, ca: &str) -> Result<(), String> {
    let connect = format!("127.0.0.1:{port}");
    // -no_ign_eof: close the connection when stdin closes (after the echo has been seen);
    // -verify_return_error with our certificate as the CA: the handshake must verify.
    let mut client = Client::spawn(
        openssl,
        &[
            "s_client",
            "-connect",
            &connect,
            "-quiet",
            "-no_ign_eof",
            "-servername",
            "localhost",
            "-CAfile",
            ca,
            "-verify_return_error",
        ],
        root,
    )?;
    client.send(b"hello over tls\n")?;
    client.expect("hello over tls\n", EXCHANGE)?;
    let status = client.finish(EXCHANGE)?;
    if !status.success() {
        return Err(format!(
            "openssl s_client exited with {}; {}",
            util::describe_status(status),
            client.transcript()
        ));
    }
    Ok(())
}

fn openssl_echo_tls(root: &Path) -> Result<(), String> {
    let openssl = require("openssl", "openssl")?;
    let key = "var/interop/tls-key.pem";
    let cert = "var/interop/tls-cert.pem";
    make_certificate(&openssl, root, key, cert)?;
    let endpoint = format!("tls:0:privateKey={key}:certKey={cert}:interface=127.0.0.1");
    let (server, addresses) = start(root, "echo", "openssl-echo-tls", &["--listen", &endpoint])?;
    let port = port(&addresses)?;
    s_client_echo(&openssl, root, &port, cert)?;
    stop_cleanly(server)
}

/// Run a Python script (`python3 -c SCRIPT ARGS…`) to completion; it prints `ok` on success.
fn python(root: &Path, script: &str, args: &[&str]) -> Result<(), String> {
    let python = require("python3", "python3")?;
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    let mut client = Client::spawn(&python, &all, root)?;
    let status = client.finish(EXCHANGE)?;
    if status.success() && String::from_utf8_lossy(client.stdout()).trim() == "ok" {
        Ok(())
    } else {
        Err(format!(
            "python3 exited with {}; {}",
            util::describe_status(status),
            client.transcript()
        ))
    }
}

/// Shared helpers for the Python scripts: connect with a timeout, read CRLF/LF lines.
const PY_PRELUDE: &str = r#"
import socket, sys
port = int(sys.argv[1])
def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s, s.makefile("rb")
def expect(f, want):
    line = f.readline().decode("utf-8", "replace").rstrip("\r\n")
    if line != want:
        sys.exit(f"expected {want!r}, got {line!r}")
"#;

fn python_chat(root: &Path) -> Result<(), String> {
    let banner = "Welcome to the interop chat.";
    let (server, addresses) = start(
        root,
        "chat",
        "python-chat",
        &["--listen", "tcp:0:interface=127.0.0.1", "--banner", banner],
    )?;
    let script = format!(
        r#"{PY_PRELUDE}
def join(name):
    s, f = connect()
    expect(f, {banner:?})
    expect(f, "What's your name?")
    s.sendall(name.encode() + b"\r\n")
    expect(f, f"Welcome, {{name}}!")
    return s, f
alice, alice_in = join("alice")
bob, bob_in = join("bob")
alice.sendall(b"hello from alice\n")
expect(bob_in, "<alice> hello from alice")
bob.sendall(b"hi alice\r\n")
expect(alice_in, "<bob> hi alice")
print("ok")
"#
    );
    python(root, &script, &[&port(&addresses)?])?;
    stop_cleanly(server)
}

fn python_counting(root: &Path) -> Result<(), String> {
    let (server, addresses) = start(
        root,
        "counting",
        "python-counting",
        &["--listen", "tcp:0:interface=127.0.0.1"],
    )?;
    let script = format!(
        r#"{PY_PRELUDE}
a, a_in = connect()
expect(a_in, "Welcome! There are currently 1 open connections.")
b, b_in = connect()
expect(b_in, "Welcome! There are currently 2 open connections.")
b.sendall(b"still echoing\n")
expect(b_in, "still echoing")
print("ok")
"#
    );
    python(root, &script, &[&port(&addresses)?])?;
    stop_cleanly(server)
}

fn graceful_shutdown(root: &Path) -> Result<(), String> {
    let python = require("python3", "python3")?;
    let timeout = SHUTDOWN_TIMEOUT.to_string();
    let (mut server, addresses) = start(
        root,
        "upper",
        "graceful-shutdown",
        &[
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--shutdown-timeout",
            &timeout,
        ],
    )?;
    // The client does one round trip, says "ready", then reads until the server closes.
    let script = format!(
        r#"{PY_PRELUDE}
s, f = connect()
s.sendall(b"hi\n")
expect(f, "HI")
print("ready", flush=True)
s.settimeout(15)
rest = f.read()
print("closed after:", rest.decode("utf-8", "replace").strip())
"#
    );
    let port = port(&addresses)?;
    let mut client = Client::spawn(&python, &["-c", &script, &port], root)?;
    client.expect("ready", EXCHANGE)?;
    util::send_signal(server.pid(), libc::SIGTERM)
        .map_err(|e| format!("SIGTERM to {}: {e}", server.pid()))?;
    let limit = Duration::from_secs(SHUTDOWN_TIMEOUT + 2);
    let Some(status) = server.wait_timeout(limit) else {
        server.kill();
        return Err(format!(
            "upper still running {} s after SIGTERM",
            limit.as_secs()
        ));
    };
    if !status.success() {
        return Err(format!(
            "upper exited with {}: {}",
            util::describe_status(status),
            util::last_line(&server.log)
        ));
    }
    let client_status = client.finish(EXCHANGE)?;
    let said = String::from_utf8_lossy(client.stdout()).into_owned();
    if !client_status.success() || !said.contains("closed after: server shutting down") {
        return Err(format!(
            "expected the client to get \"server shutting down\" and EOF; python3 {}; {}",
            util::describe_status(client_status),
            client.transcript()
        ));
    }
    Ok(())
}

/// Run echo with `args` until it exits; returns its exit code and log.
fn run_to_exit(root: &Path, check: &str, args: &[&str]) -> Result<(Option<i32>, String), String> {
    let log = root
        .join("var")
        .join("interop")
        .join(format!("{check}.log"));
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let mut server = ServerProcess::spawn("echo", &example("echo"), &args, root, &log)?;
    let Some(status) = server.wait_timeout(EXCHANGE) else {
        server.kill();
        return Err(format!(
            "echo still running after {} s: {}",
            EXCHANGE.as_secs(),
            util::last_line(&log)
        ));
    };
    Ok((
        status.code(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    ))
}

fn bad_endpoint(root: &Path) -> Result<(), String> {
    let (code, stderr) = run_to_exit(root, "exit-2-bad-endpoint", &["--listen", "bogus:1"])?;
    match code {
        Some(2) if stderr.contains("bogus") => Ok(()),
        Some(2) => Err(format!(
            "exit code 2 but stderr does not mention \"bogus\": {}",
            shorten(&stderr)
        )),
        other => Err(format!(
            "expected exit code 2, got {other:?}: {}",
            shorten(&stderr)
        )),
    }
}

fn port_in_use(root: &Path) -> Result<(), String> {
    let holder =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind a listener: {e}"))?;
    let port = holder.local_addr().map_err(|e| e.to_string())?.port();
    let endpoint = format!("tcp:{port}:interface=127.0.0.1");
    let (code, stderr) = run_to_exit(root, "exit-1-port-in-use", &["--listen", &endpoint])?;
    drop(holder);
    match code {
        Some(1) if stderr.contains("address already in use") => Ok(()),
        Some(1) => Err(format!(
            "exit code 1 but stderr does not say \"address already in use\": {}",
            shorten(&stderr)
        )),
        other => Err(format!(
            "expected exit code 1, got {other:?}: {}",
            shorten(&stderr)
        )),
    }
}

fn sighup_reload(root: &Path) -> Result<(), String> {
    let openssl = require("openssl", "openssl")?;
    let (key, cert) = ("var/interop/hup-key.pem", "var/interop/hup-cert.pem");
    let (key2, cert2) = ("var/interop/hup-key2.pem", "var/interop/hup-cert2.pem");
    make_certificate(&openssl, root, key, cert)?;
    make_certificate(&openssl, root, key2, cert2)?;
    let old_ca = "var/interop/hup-old-ca.pem";
    std::fs::copy(root.join(cert), root.join(old_ca)).map_err(|e| e.to_string())?;
    let endpoint = format!("tls:0:privateKey={key}:certKey={cert}:interface=127.0.0.1");
    let (server, addresses) = start(root, "echo", "sighup-reload", &["--listen", &endpoint])?;
    let port = port(&addresses)?;
    s_client_echo(&openssl, root, &port, old_ca)?;
    // Install the second certificate in place and ask for a reload.
    for (from, to) in [(key2, key), (cert2, cert)] {
        std::fs::copy(root.join(from), root.join(to))
            .map_err(|e| format!("{from} -> {to}: {e}"))?;
    }
    util::send_signal(server.pid(), libc::SIGHUP)
        .map_err(|e| format!("SIGHUP to {}: {e}", server.pid()))?;
    let deadline = std::time::Instant::now() + EXCHANGE;
    loop {
        let log = std::fs::read_to_string(&server.log).unwrap_or_default();
        if log.contains("reloaded TLS certificate") {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "no \"reloaded TLS certificate\" in {}",
                server.log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // New handshakes present the new certificate: trusted with it, refused with the old one.
    s_client_echo(&openssl, root, &port, cert2)?;
    if s_client_echo(&openssl, root, &port, old_ca).is_ok() {
        return Err("the old certificate is still served after SIGHUP".into());
    }
    stop_cleanly(server)
}
