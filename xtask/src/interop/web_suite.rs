//! Interop checks for torsion-web. Real clients against our server (static files from a
//! scratch tree, `--proxy /api` in front of a Python http.server upstream that echoes bodies):
//! curl (keep-alive reuse, a range, If-None-Match and If-Modified-Since, a chunked upload and
//! `Expect: 100-continue` through the proxy), Python `requests` and `http.client`, wrk as a
//! smoke load (no errors, no non-2xx), and headless Chromium loading a page whose script and
//! stylesheet it must fetch. And our client (`torsion-web get`) against real servers: nginx
//! (an unprivileged instance from /work/shared/peers/nginx.conf) and Python's http.server.
//! Servers on loopback, stopped by PID; scratch under var/interop/web/ (emptied first).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{python_step, require, Client, Report};
use crate::bench::web::nginx::{self, Nginx};
use crate::util::{self, ServerProcess};

const PROGRAM: &str = "torsion-web";
const SCRATCH: &str = "var/interop/web";
const DATA: &str = "xtask/interop-data/web";
/// Bound on a server starting.
const START: Duration = Duration::from_secs(20);
/// Bound on one client run.
const RUN: Duration = Duration::from_secs(60);

/// Run every web check into `report`.
pub fn run(report: &mut Report) {
    if let Err(e) = util::cargo_build(&["-p", PROGRAM, "--bin", PROGRAM, "--example", "chat_admin"])
    {
        report.fail("web: build torsion-web", &e);
        return;
    }
    let root = util::workspace_root();
    let scratch = root.join(SCRATCH);
    let _ = std::fs::remove_dir_all(&scratch);
    let www = scratch.join("www");
    if let Err(e) = fill_www(&root, &www) {
        report.fail("web: write the document tree", &e);
        return;
    }
    match Site::start(&root, &scratch, &www) {
        Ok(site) => {
            clients_against_us(&root, &site, &www, report);
            if let Err(e) = site.stop() {
                report.fail("web: torsion-web exits 0 on SIGTERM", &e);
            }
        }
        Err(e) => report.fail("web: start torsion-web and its upstream", &e),
    }
    chat_admin_in_chromium(&root, &scratch, report);
    our_client_against_nginx(&root, &scratch, &www, report);
    our_client_against_http_server(&root, &scratch, &www, report);
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The document tree: the page and its assets, a 1 KiB file, a 3 MB file, a precompressed file.
fn fill_www(root: &Path, www: &Path) -> Result<(), String> {
    std::fs::create_dir_all(www).map_err(|e| format!("{}: {e}", www.display()))?;
    for name in ["index.html", "app.js", "style.css", "data.json"] {
        let from = root.join(DATA).join(name);
        std::fs::copy(&from, www.join(name)).map_err(|e| format!("{}: {e}", from.display()))?;
    }
    let bytes =
        |n: u32, k: u32| -> Vec<u8> { (0..n).map(|i| (i.wrapping_mul(k) >> 7) as u8).collect() };
    write(&www.join("1k.bin"), &bytes(1024, 2_654_435_761))?;
    write(&www.join("big.bin"), &bytes(3_000_000, 40_503))?;
    Ok(())
}

/// torsion-web with `--proxy /api` to a Python upstream.
struct Site {
    web: ServerProcess,
    upstream: ServerProcess,
    port: u16,
    log: PathBuf,
}

impl Site {
    fn start(root: &Path, scratch: &Path, www: &Path) -> Result<Site, String> {
        let python = require("python3", "python3")?;
        let script = root.join(DATA).join("upstream.py").display().to_string();
        let mut upstream = ServerProcess::spawn(
            "upstream.py",
            &python,
            &["-B".to_owned(), script],
            root,
            &scratch.join("upstream.log"),
        )?;
        let up = upstream.wait_listening(1, START)?;
        let up_port = up
            .first()
            .and_then(|a| util::port_of(a))
            .ok_or("no upstream port")?;
        let log = scratch.join("access.log");
        let args: Vec<String> = [
            "serve",
            "--path",
            &www.display().to_string(),
            "--proxy",
            &format!("/api=http://127.0.0.1:{up_port}"),
            "--access-log",
            &log.display().to_string(),
            "--listen",
            "tcp:0:interface=127.0.0.1",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut web = ServerProcess::spawn(
            PROGRAM,
            &util::release_dir().join(PROGRAM),
            &args,
            root,
            &scratch.join("torsion-web.log"),
        )?;
        let addrs = web.wait_listening(1, START)?;
        let port = addrs
            .first()
            .and_then(|a| util::port_of(a))
            .ok_or("no port")?;
        Ok(Site {
            web,
            upstream,
            port,
            log,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn stop(mut self) -> Result<(), String> {
        let _ = self.upstream.stop(util::STOP_TIMEOUT);
        self.web.stop_cleanly()
    }
}

/// Run `program ARGS` (stdin: `input`), bounded: (exit success, stdout, stderr).
fn tool(
    root: &Path,
    program: &Path,
    args: &[&str],
    input: Option<&[u8]>,
) -> Result<(bool, Vec<u8>, String), String> {
    let mut client = Client::spawn(program, args, root)?;
    if let Some(data) = input {
        client.send(data)?;
    }
    client.close_stdin();
    let status = client.finish(RUN)?;
    Ok((status.success(), client.stdout().to_vec(), client.stderr()))
}

fn clients_against_us(root: &Path, site: &Site, www: &Path, report: &mut Report) {
    let one_k = std::fs::read(www.join("1k.bin")).unwrap_or_default();
    let big = std::fs::read(www.join("big.bin")).unwrap_or_default();
    let curl = || require("curl", "curl");
    report.check(
        "web-curl-keepalive (curl: two URLs on one connection, the second reuses it)",
        || {
            let (ok, _, err) = tool(
                root,
                &curl()?,
                &[
                    "-sv",
                    "-o",
                    "/dev/null",
                    "-o",
                    "/dev/null",
                    &site.url("/1k.bin"),
                    &site.url("/index.html"),
                ],
                None,
            )?;
            if !ok || !err.contains("Re-using existing connection") {
                return Err(format!("no connection reuse: {}", super::shorten(&err)));
            }
            Ok(())
        },
    );
    report.check("web-curl-range (curl -r 10-19: 206, the ten bytes)", || {
        let (ok, out, _) = tool(
            root,
            &curl()?,
            &["-s", "-f", "-r", "10-19", &site.url("/1k.bin")],
            None,
        )?;
        if !ok || out != one_k[10..20] {
            return Err(format!("got {out:?}"));
        }
        Ok(())
    });
    report.check(
        "web-curl-conditional (ETag from HEAD, then If-None-Match → 304; -z a later date → 304)",
        || {
            let (_, head, _) = tool(root, &curl()?, &["-sI", &site.url("/1k.bin")], None)?;
            let head = String::from_utf8_lossy(&head).into_owned();
            let etag = head
                .lines()
                .find_map(|l| l.strip_prefix("etag: "))
                .ok_or_else(|| format!("no ETag in {head:?}"))?
                .trim()
                .to_owned();
            let code = |extra: &[&str]| -> Result<String, String> {
                let mut args = vec!["-s", "-o", "/dev/null", "-w", "%{http_code}"];
                args.extend_from_slice(extra);
                let url = site.url("/1k.bin");
                args.push(&url);
                let (_, out, _) = tool(root, &curl()?, &args, None)?;
                Ok(String::from_utf8_lossy(&out).into_owned())
            };
            let inm = code(&["-H", &format!("If-None-Match: {etag}")])?;
            let ims = code(&["-z", "Tue, 01 Jan 2030 00:00:00 GMT"])?;
            if inm != "304" || ims != "304" {
                return Err(format!("If-None-Match → {inm}, If-Modified-Since → {ims}"));
            }
            Ok(())
        },
    );
    report.check(
        "web-curl-chunked-upload (curl -T - from stdin: chunked through the proxy, echoed)",
        || {
            let data: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
            let (ok, out, err) = tool(
                root,
                &curl()?,
                &["-s", "-f", "-T", "-", &site.url("/api/echo")],
                Some(&data),
            )?;
            if !ok || out != data {
                return Err(format!(
                    "{} bytes back; {}",
                    out.len(),
                    super::shorten(&err)
                ));
            }
            Ok(())
        },
    );
    report.check("web-curl-100-continue (a 3 MB POST with Expect: 100-continue gets 100 Continue, then the echo)", || {
        let file = www.join("big.bin").display().to_string();
        let (ok, out, err) = tool(root, &curl()?, &["-sv", "-f", "-H", "Expect: 100-continue", "--data-binary", &format!("@{file}"), &site.url("/api/echo")], None)?;
        if !ok || !err.contains("HTTP/1.1 100 Continue") || out != big {
            return Err(format!("{} bytes back; {}", out.len(), super::shorten(&err)));
        }
        Ok(())
    });
    let www_s = www.display().to_string();
    report.check("web-python-requests (requests.Session: GETs, HEAD, Range, If-None-Match, POST via the proxy, X-Forwarded-For, 404)", || {
        python_step(root, &format!("{DATA}/client.py"), &["requests", &site.url(""), &www_s], RUN).map(|_| ())
    });
    report.check(
        "web-python-http.client (keep-alive on one connection, chunked upload through the proxy)",
        || {
            python_step(
                root,
                &format!("{DATA}/client.py"),
                &["http.client", "127.0.0.1", &site.port.to_string()],
                RUN,
            )
            .map(|_| ())
        },
    );
    report.check(
        "web-wrk-smoke (wrk -t2 -c16 -d2s on a 1 KiB file: requests served, no errors, all 2xx)",
        || {
            let wrk = require("wrk", "wrk")?;
            let (ok, out, err) = tool(
                root,
                &wrk,
                &["-t2", "-c16", "-d2s", &site.url("/1k.bin")],
                None,
            )?;
            let out = String::from_utf8_lossy(&out).into_owned();
            let rate = out
                .lines()
                .find_map(|l| l.strip_prefix("Requests/sec:"))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            if !ok || rate <= 0.0 || out.contains("Socket errors") || out.contains("Non-2xx") {
                return Err(format!("{out} {err}"));
            }
            Ok(())
        },
    );
    report.check(
        "web-chromium (headless Chromium loads the page, its script, stylesheet and a fetch())",
        || {
            let chromium = require("chromium", "chromium")?;
            let profile = root
                .join(SCRATCH)
                .join("chromium-profile")
                .display()
                .to_string();
            let (_, out, err) = tool(
                root,
                &chromium,
                &[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    &format!("--user-data-dir={profile}"),
                    "--virtual-time-budget=10000",
                    "--dump-dom",
                    &site.url("/index.html"),
                ],
                None,
            )?;
            let dom = String::from_utf8_lossy(&out).into_owned();
            if !dom.contains("loaded 42 styled") {
                return Err(format!(
                    "DOM: {} / {}",
                    super::shorten(&dom),
                    super::shorten(&err)
                ));
            }
            let log = std::fs::read_to_string(&site.log).unwrap_or_default();
            for asset in ["/app.js", "/style.css", "/data.json"] {
                if !log
                    .lines()
                    .any(|l| l.contains(&format!("\"GET {asset} HTTP/1.1\" 200 ")))
                {
                    return Err(format!("no 200 for {asset} in the access log"));
                }
            }
            Ok(())
        },
    );
}

/// Wait until something accepts connections on 127.0.0.1:`port`.
fn wait_port(port: u16, what: &str) -> Result<(), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = std::time::Instant::now() + START;
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if std::time::Instant::now() >= deadline {
            return Err(format!("{what} did not accept connections on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn chat_admin_in_chromium(root: &Path, scratch: &Path, report: &mut Report) {
    report.check("web-chat-admin (headless Chromium via chromedriver: load the admin page, submit the banner form with its CSRF token; a netcat-style client then gets the new banner)", || {
        let driver = require("chromedriver", "chromium-driver")?;
        let free = || crate::bench::imap::dovecot::free_port(Ipv4Addr::LOCALHOST.into());
        let (chat_port, admin_port, driver_port) = (free()?, free()?, free()?);
        let args: Vec<String> = [
            "--listen",
            &format!("tcp:{chat_port}:interface=127.0.0.1"),
            "--admin",
            &format!("tcp:{admin_port}:interface=127.0.0.1"),
            "--banner",
            "The old banner",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let example = util::release_dir().join("examples").join("chat_admin");
        let mut server = ServerProcess::spawn("chat_admin", &example, &args, root, &scratch.join("chat_admin.log"))?;
        server.wait_listening(2, START)?;
        let mut chromedriver = ServerProcess::spawn(
            "chromedriver",
            &driver,
            &[format!("--port={driver_port}")],
            root,
            &scratch.join("chromedriver.log"),
        )?;
        let result = wait_port(driver_port, "chromedriver").and_then(|()| {
            let profile = scratch.join("chromium-admin-profile").display().to_string();
            python_step(
                root,
                &format!("{DATA}/chat_admin.py"),
                &[&driver_port.to_string(), &format!("http://127.0.0.1:{admin_port}/"), &chat_port.to_string(), &profile],
                RUN,
            )
            .map(|_| ())
        });
        let _ = chromedriver.stop(util::STOP_TIMEOUT);
        let stopped = server.stop_cleanly();
        result.and(stopped)
    });
}

/// `torsion-web get URL -o FILE` (plus `extra`): the file's bytes.
fn get(root: &Path, url: &str, out: &Path, extra: &[&str]) -> Result<Vec<u8>, String> {
    let out_s = out.display().to_string();
    let mut args = vec!["get", url, "-o", &out_s];
    args.extend_from_slice(extra);
    let (ok, _, err) = tool(root, &util::release_dir().join(PROGRAM), &args, None)?;
    if !ok {
        return Err(format!(
            "torsion-web get {url} failed: {}",
            super::shorten(&err)
        ));
    }
    std::fs::read(out).map_err(|e| format!("{}: {e}", out.display()))
}

fn our_client_against_nginx(root: &Path, scratch: &Path, www: &Path, report: &mut Report) {
    report.check("web-client-nginx (torsion-web get from nginx: a 3 MB file byte-identical, a range, a 404 exits 1)", || {
        let program = require("nginx", "nginx-light")?;
        let dir = scratch.join("nginx");
        let port = crate::bench::imap::dovecot::free_port(Ipv4Addr::LOCALHOST.into())?;
        let file = nginx::configure(&dir, port, None)?;
        for name in ["big.bin", "1k.bin"] {
            std::fs::copy(www.join(name), dir.join("www").join(name)).map_err(|e| e.to_string())?;
        }
        let server = Nginx::start(&program, &dir, &file, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
        let base = format!("http://127.0.0.1:{port}");
        let result = (|| {
            let big = std::fs::read(www.join("big.bin")).map_err(|e| e.to_string())?;
            if get(root, &format!("{base}/big.bin"), &scratch.join("nginx-big.bin"), &[])? != big {
                return Err("big.bin differs".to_owned());
            }
            let part = get(root, &format!("{base}/big.bin"), &scratch.join("nginx-part.bin"), &["-H", "Range: bytes=1000-1999"])?;
            if part != big[1000..2000] {
                return Err("the range differs".to_owned());
            }
            let (ok, _, _) = tool(root, &util::release_dir().join(PROGRAM), &["get", &format!("{base}/missing")], None)?;
            if ok {
                return Err("a 404 exited 0".to_owned());
            }
            Ok(())
        })();
        let stopped = server.stop();
        result.and(stopped)
    });
}

fn our_client_against_http_server(root: &Path, scratch: &Path, www: &Path, report: &mut Report) {
    report.check("web-client-http.server (torsion-web get from Python's http.server, HTTP/1.0 and close-delimited: byte-identical)", || {
        let python = require("python3", "python3")?;
        let port = crate::bench::imap::dovecot::free_port(Ipv4Addr::LOCALHOST.into())?;
        let args: Vec<String> = ["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory", &www.display().to_string()]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let mut server = ServerProcess::spawn("http.server", &python, &args, root, &scratch.join("http.server.log"))?;
        wait_port(port, "http.server")?;
        let result = (|| {
            let big = std::fs::read(www.join("big.bin")).map_err(|e| e.to_string())?;
            if get(root, &format!("http://127.0.0.1:{port}/big.bin"), &scratch.join("pyserver-big.bin"), &[])? != big {
                return Err("big.bin differs".to_owned());
            }
            Ok(())
        })();
        let _ = server.stop(util::STOP_TIMEOUT);
        result
    });
}
