//! dnsperf: the command line every server gets, running it bounded in time, and reading the
//! statistics it prints at the end.

use std::path::Path;
use std::time::Duration;

use super::SERVER_ADDR;
use crate::util::{self, ServerProcess};

/// dnsperf `-c`: simulated clients (source ports, so SO_REUSEPORT spreads them over sockets).
pub(super) const CLIENTS: u32 = 20;
/// dnsperf `-q`: queries outstanding at once. Enough to keep every server busy, and few enough
/// that the opening burst fits the smallest receive buffer here (torsion-dns and Unbound keep
/// the default 208 KiB; at `-q 500` they lose ~300 of the burst, and a lost query holds its
/// slot for the whole `-t` timeout).
pub(super) const OUTSTANDING: u32 = 100;
/// dnsperf `-Q`: a rate cap far above what the servers reach (no cap in effect).
pub(super) const MAX_QPS: u32 = 1_000_000;
/// dnsperf `-t`: seconds before an unanswered query counts as lost.
const QUERY_TIMEOUT_SECONDS: u64 = 5;
/// Time dnsperf gets beyond its `-l` limit before it is killed.
const DNSPERF_GRACE: Duration = Duration::from_secs(QUERY_TIMEOUT_SECONDS + 15);

/// What one dnsperf run reported, plus the server's CPU time during it.
#[derive(Debug, Clone)]
pub(super) struct Measurement {
    pub(super) sent: u64,
    pub(super) completed: u64,
    pub(super) lost: u64,
    pub(super) qps: f64,
    /// Seconds.
    pub(super) avg_latency: f64,
    /// Seconds, from "Average Latency (s): X (min Y, max Z)" when dnsperf prints them.
    pub(super) min_latency: Option<f64>,
    pub(super) max_latency: Option<f64>,
    /// Seconds, from "Latency StdDev (s):" when dnsperf prints it.
    pub(super) latency_stddev: Option<f64>,
    /// "NOERROR 244381 (87.45%), NXDOMAIN 35075 (12.55%)" as (rcode, percent).
    pub(super) rcodes: Vec<(String, f64)>,
    pub(super) run_seconds: f64,
    pub(super) server_cpu: f64,
    /// CPU seconds the upstream authority used during the run (cache misses), for resolvers.
    pub(super) upstream_cpu: Option<f64>,
}

impl Measurement {
    pub(super) fn cpu_per_100k(&self) -> Option<f64> {
        (self.completed > 0).then(|| self.server_cpu / self.completed as f64 * 100_000.0)
    }

    pub(super) fn cores_busy(&self) -> Option<f64> {
        (self.run_seconds > 0.0).then(|| self.server_cpu / self.run_seconds)
    }

    pub(super) fn rcode_summary(&self) -> String {
        self.rcodes
            .iter()
            .map(|(code, pct)| format!("{code} {pct:.1}%"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The figures dnsperf prints at the end of a run (server CPU not filled in).
pub(super) fn parse(output: &str) -> Result<Measurement, String> {
    let field = |label: &str| -> Option<&str> {
        output
            .lines()
            .find_map(|line| line.trim_start().strip_prefix(label))
            .map(str::trim)
    };
    let first_number = |label: &str| -> Result<f64, String> {
        field(label)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
            .ok_or_else(|| format!("no `{label}` line in dnsperf's output"))
    };
    let count = |label: &str| first_number(label).map(|n| n as u64);
    let latency_range = field("Average Latency (s):").map_or((None, None), latency_min_max);
    let latency_stddev = field("Latency StdDev (s):")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok());
    let rcodes = field("Response codes:")
        .map(|rest| {
            rest.split(',')
                .filter_map(|part| {
                    let mut words = part.split_whitespace();
                    let code = words.next()?.to_owned();
                    let pct = words
                        .nth(1)?
                        .trim_start_matches('(')
                        .trim_end_matches(')')
                        .trim_end_matches('%')
                        .parse::<f64>()
                        .ok()?;
                    Some((code, pct))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Measurement {
        sent: count("Queries sent:")?,
        completed: count("Queries completed:")?,
        lost: count("Queries lost:")?,
        qps: first_number("Queries per second:")?,
        avg_latency: first_number("Average Latency (s):")?,
        min_latency: latency_range.0,
        max_latency: latency_range.1,
        latency_stddev,
        rcodes,
        run_seconds: first_number("Run time (s):")?,
        server_cpu: 0.0,
        upstream_cpu: None,
    })
}

/// The "(min Y, max Z)" after the average on dnsperf's "Average Latency (s):" line (`rest` is
/// the text after the label), each `None` when absent or unreadable.
fn latency_min_max(rest: &str) -> (Option<f64>, Option<f64>) {
    let Some(inside) = rest
        .split_once('(')
        .and_then(|(_, tail)| tail.split_once(')'))
        .map(|(inside, _)| inside)
    else {
        return (None, None);
    };
    let value = |key: &str| {
        inside.split(',').find_map(|part| {
            let mut words = part.split_whitespace();
            (words.next() == Some(key))
                .then(|| words.next()?.parse::<f64>().ok())
                .flatten()
        })
    };
    (value("min"), value("max"))
}

/// The dnsperf arguments used for every run (`-l`, `-p` and `-Q` vary: `max_qps` is
/// [`MAX_QPS`] for the full-speed runs and the fixed offered load for the latency runs).
pub(super) fn args(port: u16, queries: &Path, seconds: u64, max_qps: u32) -> Vec<String> {
    [
        "-s".to_owned(),
        SERVER_ADDR.to_string(),
        "-p".to_owned(),
        port.to_string(),
        "-d".to_owned(),
        queries.display().to_string(),
        "-l".to_owned(),
        seconds.to_string(),
        "-c".to_owned(),
        CLIENTS.to_string(),
        "-q".to_owned(),
        OUTSTANDING.to_string(),
        "-Q".to_owned(),
        max_qps.to_string(),
        "-t".to_owned(),
        QUERY_TIMEOUT_SECONDS.to_string(),
    ]
    .to_vec()
}

/// Run dnsperf (`program`, in `root`) for `seconds` against `port` with the `queries` file,
/// sending at most `max_qps` queries per second, output to `log`, and parse its statistics.
pub(super) fn run(
    program: &Path,
    root: &Path,
    queries: &Path,
    port: u16,
    seconds: u64,
    max_qps: u32,
    log: &Path,
) -> Result<Measurement, String> {
    let args = args(port, queries, seconds, max_qps);
    let mut run = ServerProcess::spawn("dnsperf", program, &args, root, log)?;
    let limit = Duration::from_secs(seconds) + DNSPERF_GRACE;
    match run.wait_timeout(limit) {
        Some(status) if status.success() => {}
        Some(status) => {
            return Err(format!(
                "dnsperf ended with {}: {} (see {})",
                util::describe_status(status),
                util::last_line(log),
                log.display()
            ))
        }
        None => {
            run.kill();
            return Err(format!(
                "dnsperf still running {} s after its time limit; killed",
                DNSPERF_GRACE.as_secs()
            ));
        }
    }
    let output =
        std::fs::read_to_string(log).map_err(|e| format!("cannot read {}: {e}", log.display()))?;
    parse(&output).map_err(|e| format!("{e} (see {})", log.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         279762
  Queries completed:    279456 (99.89%)
  Queries lost:         306 (0.11%)

  Response codes:       NOERROR 244381 (87.45%), NXDOMAIN 35075 (12.55%)
  Average packet size:  request 35, response 115
  Run time (s):         5.001058
  Queries per second:   55879.375924

  Average Latency (s):  0.002979 (min 0.000015, max 0.016873)
  Latency StdDev (s):   0.001755
";

    #[test]
    fn parses_dnsperf_statistics() {
        let m = parse(OUTPUT).unwrap();
        assert_eq!((m.sent, m.completed, m.lost), (279_762, 279_456, 306));
        assert!((m.qps - 55_879.375_924).abs() < 1e-6);
        assert!((m.avg_latency - 0.002_979).abs() < 1e-9);
        assert!((m.run_seconds - 5.001_058).abs() < 1e-9);
        assert_eq!(
            m.rcodes,
            [
                ("NOERROR".to_owned(), 87.45),
                ("NXDOMAIN".to_owned(), 12.55)
            ]
        );
        assert_eq!(m.min_latency, Some(0.000_015));
        assert_eq!(m.max_latency, Some(0.016_873));
        assert_eq!(m.latency_stddev, Some(0.001_755));
        assert!(parse("Statistics:\n").is_err());
    }

    #[test]
    fn latency_spread_is_optional() {
        // Older dnsperf: the average alone, no min/max and no StdDev line.
        let bare = OUTPUT
            .replace(" (min 0.000015, max 0.016873)", "")
            .replace("  Latency StdDev (s):   0.001755\n", "");
        let m = parse(&bare).unwrap();
        assert!((m.avg_latency - 0.002_979).abs() < 1e-9);
        assert_eq!((m.min_latency, m.max_latency), (None, None));
        assert_eq!(m.latency_stddev, None);
    }

    #[test]
    fn reads_latency_min_and_max() {
        assert_eq!(
            latency_min_max("0.000348 (min 0.000010, max 0.004555)"),
            (Some(0.000_010), Some(0.004_555))
        );
        assert_eq!(
            latency_min_max("0.1 (max 2.5, min 0.5)"),
            (Some(0.5), Some(2.5))
        );
        assert_eq!(latency_min_max("0.1 (min 0.05)"), (Some(0.05), None));
        assert_eq!(latency_min_max("0.1 (min x, max 2)"), (None, Some(2.0)));
        assert_eq!(latency_min_max("0.1"), (None, None));
        assert_eq!(latency_min_max("0.1 (min 0.05"), (None, None));
    }

    #[test]
    fn rate_goes_to_dash_q() {
        let args = args(53, Path::new("q.txt"), 10, 20_000);
        let at = args.iter().position(|a| a == "-Q").unwrap();
        assert_eq!(args[at + 1], "20000");
        let at = args.iter().position(|a| a == "-l").unwrap();
        assert_eq!(args[at + 1], "10");
    }
}
