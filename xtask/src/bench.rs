//! `cargo xtask bench NAME [--seconds N]`: run one of ours and a reference server in the same
//! run, print both and the ratio (`core`: torsion-core's echo against a plain tokio echo; `dns`:
//! torsion-dns against NSD and Unbound under dnsperf; `irc`: torsion-irc against InspIRCd, with
//! its own flags, see [`irc`]; `smtp`: torsion-smtp against Postfix under smtp-source, see
//! [`smtp`]; `imap`: torsion-imap against Dovecot under our own IMAP load client, see
//! [`imap`]; `pop3`: torsion-pop3 against Dovecot's pop3d, see [`pop3`]; `web`: torsion-web against
//! nginx under wrk, see [`web`]). Benchmarks are not tests: the targets
//! are reported as pass or fail but the exit code is 0 either way (2 for a bad command line).

mod dns;
mod echo;
pub(crate) mod imap;
mod irc;
mod load;
mod pop3;
mod smtp;
pub(crate) mod web;

use std::process::ExitCode;

/// Default length of each measurement (`bench dns` has its own, [`dns::DEFAULT_SECONDS`], and
/// its own flags).
const DEFAULT_SECONDS: u64 = 5;
/// Longest measurement accepted.
const MAX_SECONDS: u64 = 600;

/// Entry point: `args` are the words after `bench`.
pub fn main(args: &[String]) -> ExitCode {
    let Some(name) = args.first() else {
        return crate::usage_error("bench: missing NAME (core, dns, imap, irc, pop3, smtp, web)");
    };
    match name.as_str() {
        "dns" => return dns::main(&args[1..]),
        "imap" => return imap::main(&args[1..]),
        "pop3" => return pop3::main(&args[1..]),
        "irc" => return irc::main(&args[1..]),
        "smtp" => return smtp::main(&args[1..]),
        "web" => return web::main(&args[1..]),
        _ => {}
    }
    let mut seconds = None;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--seconds" => match crate::parse_number("--seconds", args.get(i + 1), 1..=MAX_SECONDS)
            {
                Ok(n) => {
                    seconds = Some(n);
                    i += 2;
                }
                Err(e) => return crate::usage_error(&e),
            },
            other => return crate::usage_error(&format!("bench: unexpected argument {other:?}")),
        }
    }
    match name.as_str() {
        "core" => echo::main(seconds.unwrap_or(DEFAULT_SECONDS)),
        other => crate::usage_error(&format!(
            "bench: unknown benchmark {other:?} (known: core, dns, imap, irc, pop3, smtp, web)"
        )),
    }
}

/// A numeric flag of a benchmark: its name, where the value goes, and the range allowed.
pub(crate) type NumberFlag<'a> = (&'static str, &'a mut u64, std::ops::RangeInclusive<u64>);

/// Parse `bench NAME`'s words: `--flag N` for each of `numbers` (within its range) and
/// `binary.0 PATH` (the server binary to measure instead of building one).
pub(crate) fn parse_flags(
    bench: &str,
    args: &[String],
    numbers: &mut [NumberFlag<'_>],
    binary: (&str, &mut Option<std::path::PathBuf>),
) -> Result<(), String> {
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1);
        let flag = args[i].as_str();
        if let Some((name, slot, range)) = numbers.iter_mut().find(|(n, _, _)| *n == flag) {
            **slot = crate::parse_number(name, value, range.clone())?;
        } else if flag == binary.0 {
            *binary.1 = Some(std::path::PathBuf::from(
                value.ok_or_else(|| format!("{flag} needs a value"))?,
            ));
        } else {
            return Err(format!("bench {bench}: unexpected argument {flag:?}"));
        }
        i += 2;
    }
    Ok(())
}

/// The median of the finite `values` (the mean of the middle two for an even count); `None`
/// when there are none. The benchmarks that run several rounds report each server's median.
fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[middle]),
        _ => Some((values[middle - 1] + values[middle]) / 2.0),
    }
}

/// A table cell: `value` to `decimals` places, or "error" when it could not be measured.
fn cell(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "error".into(), |v| format!("{v:.decimals$}"))
}

/// `a / b` when both were measured and the quotient is finite.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?).filter(|r| r.is_finite())
}

/// A target's result cell.
fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "pass",
        Some(false) => "FAIL",
        None => "n/a",
    }
}

/// The exit code of a benchmark, printing why it could not run (a benchmark that ran is
/// success whatever its figures: benchmarks are not tests).
pub fn finish(name: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("bench {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_into_their_slots() {
        let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let (mut a, mut b, mut bin) = (1, 2, None);
        parse_flags(
            "t",
            &words("--a 5 --bin /x"),
            &mut [("--a", &mut a, 1..=9), ("--b", &mut b, 0..=3)],
            ("--bin", &mut bin),
        )
        .unwrap();
        assert_eq!((a, b, bin.clone()), (5, 2, Some("/x".into())));
        assert!(parse_flags(
            "t",
            &words("--a 10"),
            &mut [("--a", &mut a, 1..=9)],
            ("--bin", &mut bin)
        )
        .is_err());
        assert!(parse_flags(
            "t",
            &words("--c 1"),
            &mut [("--a", &mut a, 1..=9)],
            ("--bin", &mut bin)
        )
        .is_err());
    }

    #[test]
    fn medians_skip_non_finite_values() {
        assert_eq!(median([]), None);
        assert_eq!(median([3.0]), Some(3.0));
        assert_eq!(median([5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median([f64::NAN, 2.0, f64::INFINITY]), Some(2.0));
    }
}
