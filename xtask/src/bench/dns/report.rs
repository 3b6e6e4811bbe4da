//! The summary of `bench dns`: each server's median over its rounds, the ratio of the
//! medians against the targets, and every round side by side.

use super::dnsperf::Measurement;
use super::{Comparison, Series, RCODE_TOLERANCE};
use crate::util;

fn cell(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "error".into(), |v| format!("{v:.decimals$}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?).filter(|r| r.is_finite())
}

/// The median of the finite `values` (the mean of the middle two for an even count).
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

/// The median of `metric` over the rounds of `series` that succeeded.
fn median_of(series: &Series, metric: impl Fn(&Measurement) -> Option<f64>) -> Option<f64> {
    median(series.iter().flatten().filter_map(metric))
}

/// Rounds of `series` that succeeded, as "N of M" when some failed.
fn rounds_used(series: &Series) -> String {
    let ok = series.iter().filter(|r| r.is_ok()).count();
    if ok == series.len() {
        ok.to_string()
    } else {
        format!("{ok} of {}", series.len())
    }
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "pass",
        Some(false) => "FAIL",
        None => "n/a",
    }
}

/// Rcodes whose share differs by more than [`RCODE_TOLERANCE`] points between two runs.
fn rcode_differences(a: &Measurement, b: &Measurement) -> Vec<String> {
    let share = |m: &Measurement, code: &str| {
        m.rcodes
            .iter()
            .find(|(c, _)| c == code)
            .map_or(0.0, |(_, p)| *p)
    };
    let mut codes: Vec<&str> = a
        .rcodes
        .iter()
        .chain(&b.rcodes)
        .map(|(c, _)| c.as_str())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
        .into_iter()
        .filter(|code| (share(a, code) - share(b, code)).abs() > RCODE_TOLERANCE)
        .map(|code| format!("{code} {:.1}% vs {:.1}%", share(a, code), share(b, code)))
        .collect()
}

pub(super) fn report(command: &str, comparisons: &[Comparison], mut notes: Vec<String>) {
    let qps = |m: &Measurement| Some(m.qps);
    let latency = |m: &Measurement| Some(m.avg_latency * 1000.0);
    let cpu = Measurement::cpu_per_100k;
    let cores = Measurement::cores_busy;
    let upstream = |m: &Measurement| m.upstream_cpu;
    println!();
    println!("machine: {}", util::machine_summary());
    println!("command: {command}");
    println!();
    println!(
        "Each figure is the median over the rounds (ratios: of the two medians); every round below."
    );
    println!();
    println!("| answers | metric | torsion-dns | peer | torsion/peer | target | result |");
    println!("| --- | --- | ---: | ---: | ---: | --- | --- |");
    let mut verdicts = Vec::new();
    for c in comparisons {
        let (ours, theirs) = (&c.torsion, &c.other);
        let qps_ratio = ratio(median_of(ours, qps), median_of(theirs, qps));
        let cpu_ratio = ratio(median_of(ours, cpu), median_of(theirs, cpu));
        let qps_met = qps_ratio.map(|r| r > 1.0);
        let cpu_met = cpu_ratio.map(|r| r < 1.0);
        verdicts.extend([qps_met, cpu_met]);
        println!(
            "| {} | queries/s | {} | {} ({}) | {} | ratio > 1 | {} |",
            c.title,
            cell(median_of(ours, qps), 0),
            cell(median_of(theirs, qps), 0),
            c.peer,
            cell(qps_ratio, 2),
            verdict(qps_met)
        );
        println!(
            "| | server CPU s per 100k queries | {} | {} | {} | ratio < 1 | {} |",
            cell(median_of(ours, cpu), 2),
            cell(median_of(theirs, cpu), 2),
            cell(cpu_ratio, 2),
            verdict(cpu_met)
        );
        println!(
            "| | average latency, ms | {} | {} | {} | — | — |",
            cell(median_of(ours, latency), 3),
            cell(median_of(theirs, latency), 3),
            cell(
                ratio(median_of(ours, latency), median_of(theirs, latency)),
                2
            )
        );
        println!(
            "| | server cores busy (CPU s / run s) | {} | {} | {} | — | — |",
            cell(median_of(ours, cores), 2),
            cell(median_of(theirs, cores), 2),
            cell(ratio(median_of(ours, cores), median_of(theirs, cores)), 2)
        );
        if median_of(ours, upstream).is_some() || median_of(theirs, upstream).is_some() {
            println!(
                "| | upstream CPU s during the run (cache misses; ~0 when warm) | {} | {} | — | — | — |",
                cell(median_of(ours, upstream), 3),
                cell(median_of(theirs, upstream), 3)
            );
        }
        let lost = |series: &Series| {
            let (lost, sent) = series
                .iter()
                .flatten()
                .fold((0, 0), |(l, s), m| (l + m.lost, s + m.sent));
            format!("{lost} of {sent}")
        };
        println!(
            "| | queries lost (of sent, all rounds) | {} | {} | — | — | — |",
            lost(ours),
            lost(theirs)
        );
        println!(
            "| | rounds measured | {} | {} | — | — | — |",
            rounds_used(ours),
            rounds_used(theirs)
        );
        // Rcode shares, round by round; one note per comparison is enough.
        if let Some(diffs) = ours
            .iter()
            .zip(theirs)
            .filter_map(|pair| match pair {
                (Ok(a), Ok(b)) => Some(rcode_differences(a, b)),
                _ => None,
            })
            .find(|diffs| !diffs.is_empty())
        {
            notes.push(format!(
                "{}: response codes differ (torsion-dns vs {}): {}",
                c.title,
                c.peer,
                diffs.join("; ")
            ));
        }
        for (label, series) in [("torsion-dns", ours), (c.peer, theirs)] {
            for (round, result) in (1..).zip(series) {
                if let Err(e) = result {
                    notes.push(format!("{}, {label}, round {round}: failed: {e}", c.title));
                }
            }
        }
    }
    report_rounds(comparisons);
    if !notes.is_empty() {
        println!();
        for note in notes {
            println!("note: {note}");
        }
    }
    let met = verdicts.iter().filter(|v| **v == Some(true)).count();
    println!();
    println!(
        "targets met: {met} of {} (benchmarks are not tests: exit code 0 either way)",
        verdicts.len()
    );
}

/// Every round's queries per second and CPU per query, side by side, with the spread of the
/// round ratios (how far one round alone could have misled).
fn report_rounds(comparisons: &[Comparison]) {
    println!();
    println!("Per round (torsion-dns measured first in each):");
    println!();
    println!(
        "| answers | round | torsion-dns q/s | peer q/s | torsion/peer | torsion-dns CPU s/100k q | peer CPU s/100k q | torsion/peer |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for c in comparisons {
        let mut qps_ratios = Vec::new();
        for (round, (ours, theirs)) in (1..).zip(c.torsion.iter().zip(&c.other)) {
            let (ours, theirs) = (ours.as_ref().ok(), theirs.as_ref().ok());
            let qps = |m: Option<&Measurement>| m.map(|m| m.qps);
            let cpu = |m: Option<&Measurement>| m.and_then(Measurement::cpu_per_100k);
            let qps_ratio = ratio(qps(ours), qps(theirs));
            qps_ratios.extend(qps_ratio);
            println!(
                "| {} | {round} | {} | {} ({}) | {} | {} | {} | {} |",
                c.title,
                cell(qps(ours), 0),
                cell(qps(theirs), 0),
                c.peer,
                cell(qps_ratio, 2),
                cell(cpu(ours), 2),
                cell(cpu(theirs), 2),
                cell(ratio(cpu(ours), cpu(theirs)), 2)
            );
        }
        if qps_ratios.len() > 1 {
            let low = qps_ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let high = qps_ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            println!(
                "| {} | range | — | — | {low:.2}–{high:.2} | — | — | — |",
                c.title
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::dns::dnsperf;

    #[test]
    fn flags_differing_rcode_shares() {
        let a = dnsperf::parse(
            "Queries sent: 10\nQueries completed: 10 (100.00%)\nQueries lost: 0 (0.00%)\n\
             Response codes: NOERROR 8 (87.45%), NXDOMAIN 2 (12.55%)\nRun time (s): 1.0\n\
             Queries per second: 10.0\nAverage Latency (s): 0.001 (min 0.001, max 0.001)\n",
        )
        .unwrap();
        let mut b = a.clone();
        assert!(rcode_differences(&a, &b).is_empty());
        b.rcodes = vec![("NOERROR".into(), 80.0), ("SERVFAIL".into(), 20.0)];
        let diffs = rcode_differences(&a, &b);
        assert_eq!(diffs.len(), 3, "{diffs:?}");
    }

    #[test]
    fn medians_skip_non_finite_values() {
        assert_eq!(median([]), None);
        assert_eq!(median([3.0]), Some(3.0));
        assert_eq!(median([5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median([f64::NAN, 2.0, f64::INFINITY]), Some(2.0));
    }

    #[test]
    fn medians_use_the_rounds_that_succeeded() {
        let m = |qps: f64| {
            let mut m = dnsperf::parse(
                "Queries sent: 10\nQueries completed: 10 (100.00%)\nQueries lost: 0 (0.00%)\n\
                 Run time (s): 1.0\nQueries per second: 10.0\nAverage Latency (s): 0.001\n",
            )
            .unwrap();
            m.qps = qps;
            m
        };
        let series: Series = vec![
            Ok(m(100.0)),
            Err("crashed".into()),
            Ok(m(300.0)),
            Ok(m(50.0)),
        ];
        assert_eq!(median_of(&series, |m| Some(m.qps)), Some(100.0));
        assert_eq!(rounds_used(&series), "3 of 4");
        assert_eq!(rounds_used(&vec![Ok(m(1.0))]), "1");
    }
}
