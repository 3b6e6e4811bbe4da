//! One fixed POP3 session, driven by `torsion_pop3::client`, printed as a normalised
//! transcript: `cargo xtask interop pop3` runs it against torsion-pop3 and against Dovecot's
//! pop3d over two copies of the same Maildir and compares the transcripts section by section.
//!
//! Usage: `pop3_differential HOST:PORT USER PASSWORD` (plain TCP, USER/PASS allowed).
//!
//! The maildrop it expects (written by xtask/src/interop/imap_differential.rs): INBOX with six
//! messages, some with bare-LF-free CRLF text, flags and keywords in their names.
//!
//! Output: `== SECTION` lines, then one line per observable result. What RFC 1939/2449 leave
//! to the server is normalised: response texts (only `+OK`/`-ERR` and the RFC 2449 code are
//! printed), extra capabilities (only those the script relies on), UIDL values (only that
//! they are 1–70 printable characters, distinct, and the same in the next session), message
//! bodies (a hash and the length).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use torsion_core::ClientEndpoint;
use torsion_pop3::client::{Client, ClientConfig, ClientError, TlsMode};

/// Bound on each response.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Capabilities the script relies on.
const CAPABILITIES: &[&str] = &[
    "TOP",
    "UIDL",
    "USER",
    "PIPELINING",
    "RESP-CODES",
    "AUTH-RESP-CODE",
];

struct Out(Vec<String>);

impl Out {
    fn section(&mut self, name: &str) {
        self.0.push(format!("== {name}"));
    }
    fn line(&mut self, text: impl Into<String>) {
        self.0.push(text.into());
    }
}

fn outcome<T>(r: &Result<T, ClientError>) -> String {
    match r {
        Ok(_) => "+OK".into(),
        Err(ClientError::Refused { code: Some(c), .. }) => format!("-ERR [{c}]"),
        Err(ClientError::Refused { .. }) => "-ERR".into(),
        Err(e) => format!("error {e}"),
    }
}

fn hash(bytes: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    format!("{:016x} {} bytes", h.finish(), bytes.len())
}

async fn connect(endpoint: &ClientEndpoint) -> Result<Client, ClientError> {
    let config = ClientConfig::new()
        .with_tls(TlsMode::None)
        .allow_plaintext_auth()
        .with_timeout(TIMEOUT);
    Client::connect(endpoint, config).await
}

fn uidl_shape(ids: &[(u32, String)]) -> Vec<String> {
    let distinct: std::collections::HashSet<&String> = ids.iter().map(|(_, id)| id).collect();
    let printable = ids.iter().all(|(_, id)| {
        (1..=70).contains(&id.len()) && id.bytes().all(|b| (0x21..=0x7e).contains(&b))
    });
    vec![
        format!("uidl count {}", ids.len()),
        format!(
            "uidl numbers {:?}",
            ids.iter().map(|(n, _)| *n).collect::<Vec<_>>()
        ),
        format!("uidl distinct {}", distinct.len() == ids.len()),
        format!("uidl printable {printable}"),
    ]
}

async fn script(endpoint: &ClientEndpoint, user: &str, password: &str) -> Result<Out, ClientError> {
    let mut out = Out(Vec::new());
    out.section("capa");
    let mut c = connect(endpoint).await?;
    for cap in CAPABILITIES {
        out.line(format!("{cap} {}", c.has_capability(cap)));
    }
    out.section("login");
    let wrong = c.login(user, "not the password").await;
    out.line(format!("wrong password {}", outcome(&wrong)));
    let mut c = connect(endpoint).await?;
    let r = c.login(user, password).await;
    out.line(format!("login {}", outcome(&r)));
    r?;
    out.section("listing");
    let (count, size) = c.stat().await?;
    out.line(format!("stat {count} {size}"));
    let list = c.list().await?;
    for (n, size) in &list {
        out.line(format!("list {n} {size}"));
    }
    let first_ids = c.uidl().await?;
    for l in uidl_shape(&first_ids) {
        out.line(l);
    }
    let one = c.uidl_one(1).await;
    out.line(format!(
        "uidl 1 {} same {}",
        outcome(&one),
        one.as_ref().ok() == first_ids.first().map(|(_, id)| id)
    ));
    out.line(format!(
        "list {} {}",
        count + 1,
        outcome(&c.list_one(count + 1).await)
    ));
    out.section("retr");
    for (n, size) in &list {
        let body = c.retr(*n).await?;
        out.line(format!(
            "retr {n} {} size matches {}",
            hash(&body),
            body.len() as u64 == *size
        ));
    }
    out.line(format!(
        "retr {} {}",
        count + 1,
        outcome(&c.retr(count + 1).await)
    ));
    let mut got = Vec::new();
    let numbers: Vec<u32> = list.iter().map(|(n, _)| *n).collect();
    c.retr_each(&numbers, |n, m| {
        got.push(format!(
            "pipelined retr {n} {}",
            m.map_or_else(|e| e.to_string(), |b| hash(&b))
        ));
        Ok(())
    })
    .await?;
    for l in got {
        out.line(l);
    }
    out.section("top");
    for (n, _) in &list {
        for lines in [0, 1, 3] {
            let top = c.top(*n, lines).await?;
            out.line(format!("top {n} {lines} {}", hash(&top)));
        }
    }
    out.section("dele");
    out.line(format!("dele 1 {}", outcome(&c.dele(1).await)));
    out.line(format!("dele 1 again {}", outcome(&c.dele(1).await)));
    out.line(format!("retr 1 {}", outcome(&c.retr(1).await)));
    let (n, _) = c.stat().await?;
    out.line(format!("stat count {n}"));
    out.line(format!("rset {}", outcome(&c.rset().await)));
    let (n, _) = c.stat().await?;
    out.line(format!("stat count {n}"));
    out.line(format!("dele 1,2 {}", outcome(&c.dele_many(&[1, 2]).await)));
    out.line(format!("noop {}", outcome(&c.noop().await)));
    out.section("in-use");
    let mut other = connect(endpoint).await?;
    let busy = other.login(user, password).await;
    out.line(format!("second session {}", outcome(&busy)));
    drop(other);
    out.section("update");
    out.line(format!("quit {}", outcome(&c.quit().await)));
    let mut c = connect(endpoint).await?;
    c.login(user, password).await?;
    let (n, size) = c.stat().await?;
    out.line(format!("next session stat {n} {size}"));
    let ids = c.uidl().await?;
    let kept: Vec<&String> = first_ids.iter().skip(2).map(|(_, id)| id).collect();
    out.line(format!(
        "uidls kept {}",
        ids.iter().map(|(_, id)| id).collect::<Vec<_>>() == kept
    ));
    c.quit().await?;
    Ok(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, user, password] = args.as_slice() else {
        eprintln!("usage: pop3_differential HOST:PORT USER PASSWORD");
        return ExitCode::from(2);
    };
    let endpoint = match ClientEndpoint::parse_with_default_port(server, Some(110)) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("pop3_differential: {e}");
            return ExitCode::from(2);
        }
    };
    match script(&endpoint, user, password).await {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            for line in out.0 {
                let _ = writeln!(stdout, "{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pop3_differential {server}: {e}");
            ExitCode::FAILURE
        }
    }
}
