//! The relay worker: delivers queued mail with the SMTP client — MX lookup through the
//! torsion-dns [`Resolver`] (falling back to the domain's own addresses, RFC 5321 §5.1;
//! honouring null MX, RFC 7505), opportunistic STARTTLS, retries with exponential backoff for
//! days, and a bounce (RFC 3464) to the sender on permanent failure or expiry.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use torsion_core::ClientEndpoint;
use torsion_dns::{ResolveError, Resolver, ResolverConfig};
use torsion_mailstore::{Directory, MailAddress, MailStore, Route};

use crate::client::{Client, ClientConfig, ClientError, TlsMode};

use super::dsn::{self, Failure};
use super::relay::{QueueEntry, RecipientState, RelayQueue};

/// How long a message may stay queued before it is bounced (Postfix: 5 days).
pub const MAX_QUEUE_AGE: Duration = Duration::from_secs(5 * 24 * 3600);
/// First retry delay; each later one doubles, up to [`MAX_RETRY_DELAY`].
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(5 * 60);
/// Longest delay between attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(4 * 3600);
/// How often the worker looks at the queue even without news.
const SCAN_INTERVAL: Duration = Duration::from_secs(30);
/// Time allowed per SMTP command to a remote server.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(120);

/// The delay before attempt `attempts + 1`, after `attempts` failed ones.
pub fn retry_delay(attempts: u32) -> Duration {
    let factor = 1u64 << attempts.saturating_sub(1).min(16);
    (FIRST_RETRY_DELAY * factor as u32).min(MAX_RETRY_DELAY)
}

/// Where relayed mail goes.
#[derive(Debug, Clone)]
pub enum NextHop {
    /// Everything to one host (`--smarthost`).
    Smarthost {
        /// Host name or IP.
        host: String,
        /// Port.
        port: u16,
    },
    /// The recipient domain's MX hosts.
    Mx {
        /// The resolver.
        resolver: Resolver,
        /// Port to connect to (25, or a test port).
        port: u16,
    },
}

/// Local delivery of bounces to local senders.
#[derive(Debug, Clone)]
pub struct LocalDelivery {
    /// The mail root.
    pub store: MailStore,
    /// Local domains and accounts.
    pub directory: Arc<Directory>,
}

/// How the worker relays.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Our name (EHLO, bounces).
    pub hostname: String,
    /// Smarthost or MX.
    pub next_hop: NextHop,
    /// Bounces to local senders go straight into their mailbox.
    pub local: Option<LocalDelivery>,
    /// How long a message may wait.
    pub max_age: Duration,
}

/// `HOST[:PORT]`, `[V6]:PORT` or a bare IPv6 address, through torsion-core's endpoint parser
/// (the same forms every `--server` flag takes).
fn split_host_port(s: &str, default_port: u16) -> Result<(String, u16), String> {
    match ClientEndpoint::parse_with_default_port(s, Some(default_port)) {
        Ok(ClientEndpoint::Tcp { host, port, .. }) => Ok((host, port)),
        Ok(_) => Err(format!("{s:?}: expected HOST[:PORT]")),
        Err(e) => Err(e.to_string()),
    }
}

impl RelayOptions {
    /// From the `serve` flags.
    pub fn from_flags(
        hostname: &str,
        smarthost: Option<&str>,
        resolvers: &[String],
        relay_port: Option<u16>,
    ) -> Result<Self, String> {
        let port = relay_port.unwrap_or(25);
        let next_hop = match smarthost {
            Some(s) => {
                let (host, port) =
                    split_host_port(s, 25).map_err(|e| format!("--smarthost: {e}"))?;
                NextHop::Smarthost { host, port }
            }
            None => {
                let config = if resolvers.is_empty() {
                    ResolverConfig::from_system().map_err(|e| format!("/etc/resolv.conf: {e}"))?
                } else {
                    let mut servers = Vec::new();
                    for r in resolvers {
                        let (host, port) =
                            split_host_port(r, 53).map_err(|e| format!("--resolver: {e}"))?;
                        let ip: IpAddr = host
                            .parse()
                            .map_err(|_| format!("--resolver {r:?}: not an IP address"))?;
                        servers.push(SocketAddr::new(ip, port));
                    }
                    ResolverConfig::with_servers(servers)
                };
                NextHop::Mx {
                    resolver: Resolver::new(config),
                    port,
                }
            }
        };
        Ok(RelayOptions {
            hostname: hostname.to_owned(),
            next_hop,
            local: None,
            max_age: MAX_QUEUE_AGE,
        })
    }
}

/// What became of one recipient in one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Failed(String),
    Deferred(String),
}

/// The queue runner.
#[derive(Debug)]
pub struct RelayWorker {
    queue: Arc<RelayQueue>,
    options: RelayOptions,
    shutdown: CancellationToken,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl RelayWorker {
    /// A worker for `queue`, stopping when `shutdown` is cancelled.
    pub fn new(queue: Arc<RelayQueue>, options: RelayOptions, shutdown: CancellationToken) -> Self {
        RelayWorker {
            queue,
            options,
            shutdown,
        }
    }

    /// Deliver local bounces into mailboxes.
    pub fn with_local(mut self, local: LocalDelivery) -> Self {
        self.options.local = Some(local);
        self
    }

    /// Run until shutdown: attempt due entries, then wait for news or the next due time.
    pub async fn run(self) {
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            let next_due = self.run_due().await;
            let now = unix(SystemTime::now());
            let wait = next_due
                .map(|due| Duration::from_secs(due.saturating_sub(now)))
                .unwrap_or(SCAN_INTERVAL)
                .min(SCAN_INTERVAL)
                .max(Duration::from_millis(100));
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = self.queue.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Attempt every due entry once; returns the earliest next attempt time still queued.
    pub async fn run_due(&self) -> Option<u64> {
        let entries = match self.queue.list() {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("cannot read the queue: {e}");
                return None;
            }
        };
        let now = unix(SystemTime::now());
        let mut next: Option<u64> = None;
        for entry in entries {
            if self.shutdown.is_cancelled() {
                break;
            }
            if entry.next_attempt <= now {
                if let Some(due) = self.attempt(entry).await {
                    next = Some(next.map_or(due, |n: u64| n.min(due)));
                }
            } else {
                next = Some(next.map_or(entry.next_attempt, |n| n.min(entry.next_attempt)));
            }
        }
        next
    }

    /// One delivery attempt for an entry; returns its next attempt time if it stays queued.
    async fn attempt(&self, mut entry: QueueEntry) -> Option<u64> {
        let message = match self.queue.message(&entry.id) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(id = entry.id, "queued message unreadable: {e}");
                return None;
            }
        };
        let mut by_domain: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (rcpt, state) in &entry.recipients {
            if *state == RecipientState::Pending {
                let domain = rcpt
                    .rsplit_once('@')
                    .map(|(_, d)| d.to_ascii_lowercase())
                    .unwrap_or_default();
                by_domain.entry(domain).or_default().push(rcpt.clone());
            }
        }
        for (domain, rcpts) in by_domain {
            let outcomes = self
                .deliver_domain(&domain, entry.from.as_deref(), &rcpts, &message)
                .await;
            for (rcpt, outcome) in outcomes {
                let Some(slot) = entry.recipients.iter_mut().find(|(r, _)| *r == rcpt) else {
                    continue;
                };
                match outcome {
                    Outcome::Delivered => {
                        tracing::info!(id = entry.id, rcpt, "delivered");
                        slot.1 = RecipientState::Delivered;
                    }
                    Outcome::Failed(why) => {
                        tracing::info!(id = entry.id, rcpt, why, "delivery failed permanently");
                        slot.1 = RecipientState::Failed(why);
                    }
                    Outcome::Deferred(why) => {
                        tracing::info!(id = entry.id, rcpt, why, "delivery deferred");
                        entry.last_error = Some(why);
                    }
                }
            }
        }
        entry.attempts += 1;
        let now = SystemTime::now();
        let pending = entry
            .recipients
            .iter()
            .any(|(_, s)| *s == RecipientState::Pending);
        let age = unix(now).saturating_sub(entry.created);
        if pending && age >= self.options.max_age.as_secs() {
            let why = format!(
                "4.4.7 message expired after {} days in the queue (last error: {})",
                age / 86_400,
                entry.last_error.as_deref().unwrap_or("none")
            );
            for (_, state) in entry.recipients.iter_mut() {
                if *state == RecipientState::Pending {
                    *state = RecipientState::Failed(why.clone());
                }
            }
        } else if pending {
            entry.next_attempt = unix(now) + retry_delay(entry.attempts).as_secs();
            if let Err(e) = self.queue.update(&entry) {
                tracing::error!(id = entry.id, "cannot update queue entry: {e}");
            }
            return Some(entry.next_attempt);
        }
        self.bounce_failures(&entry, &message);
        if let Err(e) = self.queue.remove(&entry.id) {
            tracing::error!(id = entry.id, "cannot remove delivered entry: {e}");
        }
        None
    }

    /// Send a bounce for the failed recipients (never for a bounce: null sender).
    fn bounce_failures(&self, entry: &QueueEntry, message: &[u8]) {
        let failures: Vec<Failure> = entry
            .recipients
            .iter()
            .filter_map(|(r, s)| match s {
                RecipientState::Failed(why) => Some(Failure {
                    recipient: r.clone(),
                    diagnostic: why.clone(),
                }),
                _ => None,
            })
            .collect();
        let Some(sender) = entry.from.as_deref() else {
            return;
        };
        if failures.is_empty() {
            return;
        }
        let arrival = UNIX_EPOCH + Duration::from_secs(entry.created);
        let report = dsn::bounce(
            &self.options.hostname,
            sender,
            &failures,
            message,
            arrival,
            &entry.id,
        );
        // A local sender gets it straight into the mailbox; others through the queue.
        if let (Some(local), Ok(addr)) = (&self.options.local, MailAddress::parse(sender)) {
            if let Route::Local { mailboxes, .. } = local.directory.route(&addr) {
                match local.store.deliver(&mailboxes, &[&report]) {
                    Ok(_) => return,
                    Err(e) => tracing::error!(sender, "cannot deliver bounce locally: {e}"),
                }
            }
        }
        match crate::proto::command::parse_mailbox(sender) {
            Some(to) => {
                if let Err(e) = self.queue.enqueue(None, &[to], &[&report]) {
                    tracing::error!(sender, "cannot queue bounce: {e}");
                }
            }
            None => tracing::warn!(sender, "cannot bounce to an unparsable sender"),
        }
    }

    /// The hosts to try for `domain`, in order, or a result for every recipient.
    async fn hosts_for(&self, domain: &str) -> Result<(Vec<String>, u16), Outcome> {
        match &self.options.next_hop {
            NextHop::Smarthost { host, port } => Ok((vec![host.clone()], *port)),
            NextHop::Mx { resolver, port } => match resolver.mx_lookup(domain).await {
                Ok(mxs) if mxs.len() == 1 && mxs[0].exchange.is_root() => Err(Outcome::Failed(
                    format!("556 5.1.10 {domain} does not accept mail (null MX, RFC 7505)"),
                )),
                Ok(mxs) if !mxs.is_empty() => Ok((
                    mxs.iter()
                        .filter(|m| !m.exchange.is_root())
                        .map(|m| m.exchange.to_ascii().trim_end_matches('.').to_owned())
                        .collect(),
                    *port,
                )),
                // RFC 5321 §5.1: no MX records, the domain itself is the implicit MX.
                Ok(_) | Err(ResolveError::NoRecords { .. }) => Ok((vec![domain.to_owned()], *port)),
                Err(e) if e.is_temporary() => Err(Outcome::Deferred(format!(
                    "4.4.3 DNS lookup for {domain} failed: {e}"
                ))),
                Err(e) => Err(Outcome::Failed(format!("550 5.1.2 {domain}: {e}"))),
            },
        }
    }

    async fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let resolver = match &self.options.next_hop {
            NextHop::Mx { resolver, .. } => resolver.clone(),
            NextHop::Smarthost { .. } => Resolver::from_system().map_err(|e| e.to_string())?,
        };
        resolver
            .lookup_ip(host)
            .await
            .map(|ips| {
                ips.into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect()
            })
            .map_err(|e| format!("{host}: {e}"))
    }

    async fn deliver_domain(
        &self,
        domain: &str,
        from: Option<&str>,
        rcpts: &[String],
        message: &[u8],
    ) -> Vec<(String, Outcome)> {
        let all = |o: Outcome| {
            rcpts
                .iter()
                .map(|r| (r.clone(), o.clone()))
                .collect::<Vec<_>>()
        };
        let (hosts, port) = match self.hosts_for(domain).await {
            Ok(h) => h,
            Err(outcome) => return all(outcome),
        };
        let mut last_error = format!("4.4.1 no host for {domain} answered");
        for host in &hosts {
            let addrs = match self.addresses(host, port).await {
                Ok(a) => a,
                Err(e) => {
                    last_error = format!("4.4.3 {e}");
                    continue;
                }
            };
            for addr in addrs {
                let mut config = ClientConfig::new(self.options.hostname.clone());
                config.tls = TlsMode::Opportunistic;
                config.timeout = REMOTE_TIMEOUT;
                let mut client = match Client::connect_addr(addr, host, config).await {
                    Ok(c) => c,
                    Err(e) => {
                        last_error = format!("4.4.1 {host} [{addr}]: {e}");
                        continue;
                    }
                };
                let to: Vec<&str> = rcpts.iter().map(String::as_str).collect();
                let result = client.send(from, &to, message).await;
                let _ = client.quit().await;
                match result {
                    Ok(report) => return outcomes_of(rcpts, &report, host),
                    Err(ClientError::Reply(reply))
                        if !reply.is_transient() && reply.code >= 500 =>
                    {
                        return all(Outcome::Failed(format!("{host} said: {reply}")));
                    }
                    Err(e) => {
                        last_error = format!("4.4.2 {host} [{addr}]: {e}");
                        continue;
                    }
                }
            }
        }
        all(Outcome::Deferred(last_error))
    }
}

fn outcomes_of(
    rcpts: &[String],
    report: &crate::client::SendReport,
    host: &str,
) -> Vec<(String, Outcome)> {
    rcpts
        .iter()
        .map(|r| {
            if let Some((_, reply)) = report.rejected.iter().find(|(x, _)| x == r) {
                let why = format!("{host} said: {reply}");
                return (
                    r.clone(),
                    if reply.is_transient() {
                        Outcome::Deferred(why)
                    } else {
                        Outcome::Failed(why)
                    },
                );
            }
            match &report.data {
                Some(reply) if reply.is_positive() => (r.clone(), Outcome::Delivered),
                Some(reply) => {
                    let why = format!("{host} said: {reply}");
                    (
                        r.clone(),
                        if reply.is_transient() {
                            Outcome::Deferred(why)
                        } else {
                            Outcome::Failed(why)
                        },
                    )
                }
                None => (
                    r.clone(),
                    Outcome::Deferred(format!("{host}: no data reply")),
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_ceiling() {
        assert_eq!(retry_delay(1), Duration::from_secs(300));
        assert_eq!(retry_delay(2), Duration::from_secs(600));
        assert_eq!(retry_delay(3), Duration::from_secs(1200));
        assert_eq!(retry_delay(6), Duration::from_secs(9600));
        assert_eq!(retry_delay(7), Duration::from_secs(4 * 3600));
        assert_eq!(retry_delay(1000), Duration::from_secs(4 * 3600));
        // Five days of retries is a few dozen attempts, not thousands.
        let mut t = Duration::ZERO;
        let mut n = 0;
        while t < MAX_QUEUE_AGE {
            n += 1;
            t += retry_delay(n);
        }
        assert!((30..40).contains(&n), "{n}");
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            split_host_port("mail.example:2525", 25).unwrap(),
            ("mail.example".into(), 2525)
        );
        assert_eq!(
            split_host_port("mail.example", 25).unwrap(),
            ("mail.example".into(), 25)
        );
        assert_eq!(split_host_port("[::1]:26", 25).unwrap(), ("::1".into(), 26));
        assert_eq!(split_host_port("::1", 53).unwrap(), ("::1".into(), 53));
        assert!(split_host_port("h:notaport", 25).is_err());
    }
}
