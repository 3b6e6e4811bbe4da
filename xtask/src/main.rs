//! `cargo xtask …`: run the suite, benchmark it against reference servers, and check it with
//! real third-party clients. Developer tooling, so it reports on stdout.
#![allow(clippy::print_stdout)]

mod bench;
mod interop;
mod up;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  up [--for SECONDS]          build and start every server with a demo configuration on 127.0.0.1;
                              Ctrl-C stops them (or after SECONDS: a smoke test, non-zero exit if
                              any server failed)
  bench NAME [--seconds N]    benchmark against a reference server (NAME: core, dns); N seconds
                              per measurement (core 5, dns 10 by default)
  bench dns [--seconds N] [--rounds R] [--latency-rate Q]
                              torsion-dns against NSD (authoritative) and Unbound (cached) under
                              dnsperf: R alternating rounds (default 3), medians reported; then
                              latency at a fixed Q queries/s (default 20000; 0: skip)
  bench irc [--receivers N] [--messages N] [--idle-clients N] [--seconds N] [--rounds R]
            [--memory-rounds M] [--torsion-irc BIN]
                              torsion-irc against InspIRCd: channel fan-out (200 receivers ×
                              25,000 messages, at most N = 120 s; R alternating rounds, default
                              3, medians reported) and memory per idle client (10,000; M rounds,
                              default 1); BIN: measure that binary instead of building one
  bench imap [--sessions N] [--seconds N] [--mailbox N] [--big N] [--idle N] [--torsion-imap BIN]
                              torsion-imap against Dovecot: mixed load of N sessions, SELECT +
                              UID FETCH 1:* on a large INBOX cold and warm, memory per IDLE
                              connection (see BENCHMARKS.md)
  bench smtp [--messages N] [--sessions N] [--seconds N]
                              torsion-smtp against Postfix (Maildir delivery) under smtp-source:
                              messages/s accepted and durably stored (20 sessions × 20,000
                              messages of 1 KiB, at most N = 120 s per server)
  bench pop3 [--sessions N] [--seconds N] [--messages N] [--torsion-pop3 BIN]
                              torsion-pop3 against Dovecot's pop3d: RETR MB/s and logins/s
  bench web [--seconds N] [--connections N] [--idle N] [--torsion-web BIN]
                              torsion-web against nginx under wrk -t2 -cN (default 64, 10 s):
                              1 KiB and 1 MiB files, a routed JSON handler, the reverse proxy,
                              memory per idle keep-alive connection (N = 10,000)
  interop [SUITE]             real third-party programs against our servers and clients (SUITE:
                              core, dns, irc, smtp, imap, pop3, web; default: every suite)
  help                        this text";

/// A bad command line: one line on stderr, exit 2.
pub fn usage_error(message: &str) -> ExitCode {
    eprintln!("xtask: {message} (try `cargo xtask help`)");
    ExitCode::from(2)
}

/// The value after a flag, parsed as a whole number within `range`.
pub fn parse_number(
    flag: &str,
    value: Option<&String>,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    match value.parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag} {value:?}: expected a whole number from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        return usage_error("missing command: up, bench or interop");
    };
    let rest = &args[1..];
    match command.as_str() {
        "up" => up::main(rest),
        "bench" => bench::main(rest),
        "interop" => interop::main(rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => usage_error(&format!(
            "unknown command {other:?}: expected up, bench or interop"
        )),
    }
}
