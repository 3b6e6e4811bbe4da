//! A throwaway nginx from /work/shared/peers/nginx.conf (Debian's nginx, unprivileged, in the
//! foreground so it is stopped by its PID): its own directory with the pid file, logs and temp
//! paths, serving `DIR/www` on 127.0.0.1:PORT; for the benchmark also a `location /api/`
//! proxying to a local upstream with a keep-alive pool (the fair counterpart of `torsion-web
//! --proxy`) and `location = /json` answering `{"message":"Hello, World!"}` with `return 200`
//! (the counterpart of the routed JSON handler).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::{self, ServerProcess};

const TEMPLATE: &str = "/work/shared/peers/nginx.conf";
/// Bound on nginx starting to accept connections.
const START: Duration = Duration::from_secs(20);

/// A running nginx.
#[derive(Debug)]
pub struct Nginx {
    process: ServerProcess,
}

/// Write `dir/nginx.conf` for `port` (document root `dir/www`, which the caller fills), with a
/// proxy to `upstream` under `/api/` and the `/json` location if `upstream` is given.
pub fn configure(dir: &Path, port: u16, upstream: Option<SocketAddr>) -> Result<PathBuf, String> {
    let template = std::fs::read_to_string(TEMPLATE).map_err(|e| format!("{TEMPLATE}: {e}"))?;
    for sub in [
        "nginx-tmp/body",
        "nginx-tmp/proxy",
        "nginx-tmp/fastcgi",
        "nginx-tmp/uwsgi",
        "nginx-tmp/scgi",
        "www",
    ] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut text = template
        .replace("@DIR@", &dir.display().to_string())
        .replace("@PORT@", &port.to_string());
    if let Some(up) = upstream {
        let server = "    server {\n";
        let Some(at) = text.find(server) else {
            return Err(format!("{TEMPLATE} no longer has a `server {{` block"));
        };
        let block = format!(
            "    upstream torsion_upstream {{\n        server {up};\n        keepalive 64;\n    }}\n"
        );
        text.insert_str(at, &block);
        let root_line = format!("        root {}/www;\n", dir.display());
        let Some(at) = text.find(&root_line) else {
            return Err(format!("{TEMPLATE} no longer has the expected root line"));
        };
        text.insert_str(
            at + root_line.len(),
            "        location /api/ {\n            proxy_pass http://torsion_upstream;\n            proxy_http_version 1.1;\n            proxy_set_header Connection \"\";\n        }\n        location = /json {\n            default_type application/json;\n            return 200 '{\"message\":\"Hello, World!\"}';\n        }\n",
        );
    }
    let file = dir.join("nginx.conf");
    std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(file)
}

impl Nginx {
    /// `nginx -c FILE -g 'daemon off;'`, once it accepts connections on `addr`.
    pub fn start(
        program: &Path,
        dir: &Path,
        file: &Path,
        addr: SocketAddr,
    ) -> Result<Nginx, String> {
        let args = vec![
            "-c".to_owned(),
            file.display().to_string(),
            "-p".to_owned(),
            dir.display().to_string(),
            "-g".to_owned(),
            "daemon off;".to_owned(),
        ];
        let mut process =
            ServerProcess::spawn("nginx", program, &args, dir, &dir.join("nginx.stderr"))?;
        let deadline = Instant::now() + START;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = process.try_status() {
                return Err(format!(
                    "nginx exited ({}): {}",
                    util::describe_status(status),
                    util::last_line(&dir.join("nginx-error.log"))
                ));
            }
            if Instant::now() >= deadline {
                process.kill();
                return Err(format!(
                    "nginx did not accept connections on {addr} within {} s",
                    START.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Nginx { process })
    }

    /// The master's PID (its workers are its children).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Stop it by its PID (SIGTERM; nginx's fast shutdown), then SIGKILL if need be.
    pub fn stop(mut self) -> Result<(), String> {
        self.process.stop(util::STOP_TIMEOUT).map(|_| ())
    }
}
