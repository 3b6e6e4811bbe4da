//! The summary of `bench dns`: each server's median over its rounds, the ratio of the
//! medians against the targets, and every round side by side.

use super::dnsperf::Measurement;
use super::{Comparison, Latency, Series, RCODE_TOLERANCE};
use crate::bench::{cell, median, ratio, verdict};
use crate::util;

/// "a / b" of two figures in milliseconds (`seconds` in, `n/a` for one dnsperf did not print).
fn ms_pair(a: Option<f64>, b: Option<f64>) -> String {
    let ms = |v: Option<f64>| v.map_or_else(|| "n/a".into(), |s| format!("{:.3}", s * 1000.0));
    format!("{} / {}", ms(a), ms(b))
}

/// "a / b" of two ratios (`n/a` where either side is missing).
fn ratio_pair(a: Option<f64>, b: Option<f64>) -> String {
    let r = |v: Option<f64>| v.map_or_else(|| "n/a".into(), |r| format!("{r:.2}"));
    format!("{} / {}", r(a), r(b))
}

/// Offered loads the achieved rate may fall short of, as a share, before a note says so.
const RATE_SHORTFALL: f64 = 0.01;

/// The main-table rows of a comparison's latency runs at a fixed offered load, and notes on
/// runs that failed or did not reach that load.
fn latency_rows(c: &Comparison, latency: &Latency, notes: &mut Vec<String>) -> Vec<String> {
    let rate = latency.rate;
    let (ours, theirs) = (latency.torsion.as_ref().ok(), latency.other.as_ref().ok());
    let pair = |m: Option<&Measurement>,
                a: fn(&Measurement) -> Option<f64>,
                b: fn(&Measurement) -> Option<f64>| {
        m.map_or_else(|| "error".into(), |m| ms_pair(a(m), b(m)))
    };
    let both = |f: fn(&Measurement) -> Option<f64>| ratio(ours.and_then(f), theirs.and_then(f));
    let avg: fn(&Measurement) -> Option<f64> = |m| Some(m.avg_latency);
    let max: fn(&Measurement) -> Option<f64> = |m| m.max_latency;
    let stddev: fn(&Measurement) -> Option<f64> = |m| m.latency_stddev;
    let min: fn(&Measurement) -> Option<f64> = |m| m.min_latency;
    let achieved = |m: Option<&Measurement>| {
        m.map_or_else(
            || "error".into(),
            |m| format!("{:.0} ({} lost)", m.qps, m.lost),
        )
    };
    for (label, result) in [("torsion-dns", &latency.torsion), (c.peer, &latency.other)] {
        match result {
            Err(e) => notes.push(format!(
                "{}, {label}, latency at {rate} q/s: failed: {e}",
                c.title
            )),
            Ok(m) if m.qps < f64::from(rate) * (1.0 - RATE_SHORTFALL) || m.lost > 0 => {
                notes.push(format!(
                    "{}, {label}, latency at {rate} q/s: only {:.0} q/s achieved, {} lost (the latency includes queueing)",
                    c.title, m.qps, m.lost
                ));
            }
            Ok(_) => {}
        }
    }
    vec![
        format!(
            "| | latency at {rate} q/s, ms avg / max | {} | {} | {} | — | — |",
            pair(ours, avg, max),
            pair(theirs, avg, max),
            ratio_pair(both(avg), both(max))
        ),
        format!(
            "| | latency at {rate} q/s, ms stddev / min | {} | {} | {} | — | — |",
            pair(ours, stddev, min),
            pair(theirs, stddev, min),
            ratio_pair(both(stddev), both(min))
        ),
        format!(
            "| | queries/s achieved at {rate} q/s offered | {} | {} | {} | — | — |",
            achieved(ours),
            achieved(theirs),
            cell(ratio(ours.map(|m| m.qps), theirs.map(|m| m.qps)), 2)
        ),
    ]
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
    if let Some(rate) = comparisons
        .iter()
        .find_map(|c| c.latency.as_ref().map(|l| l.rate))
    {
        println!(
            "Latency rows: one run per server at a fixed {rate} q/s offered (no queueing), after the rounds."
        );
    }
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
        // Hardening issue: latency at saturation no worse than the peer's.
        let latency_ratio = ratio(median_of(ours, latency), median_of(theirs, latency));
        let latency_met = latency_ratio.map(|r| r <= 1.0);
        verdicts.push(latency_met);
        println!(
            "| | average latency at full speed, ms | {} | {} | {} | ratio ≤ 1 | {} |",
            cell(median_of(ours, latency), 3),
            cell(median_of(theirs, latency), 3),
            cell(latency_ratio, 2),
            verdict(latency_met)
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
        if let Some(latency) = &c.latency {
            for row in latency_rows(c, latency, &mut notes) {
                println!("{row}");
            }
        }
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
        "| answers | round | torsion-dns q/s | peer q/s | torsion/peer | torsion-dns CPU s/100k q | peer CPU s/100k q | torsion/peer | torsion-dns ms avg | peer ms avg | torsion/peer |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for c in comparisons {
        let mut qps_ratios = Vec::new();
        for (round, (ours, theirs)) in (1..).zip(c.torsion.iter().zip(&c.other)) {
            let (ours, theirs) = (ours.as_ref().ok(), theirs.as_ref().ok());
            let qps = |m: Option<&Measurement>| m.map(|m| m.qps);
            let cpu = |m: Option<&Measurement>| m.and_then(Measurement::cpu_per_100k);
            let ms = |m: Option<&Measurement>| m.map(|m| m.avg_latency * 1000.0);
            let qps_ratio = ratio(qps(ours), qps(theirs));
            qps_ratios.extend(qps_ratio);
            println!(
                "| {} | {round} | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} |",
                c.title,
                cell(qps(ours), 0),
                cell(qps(theirs), 0),
                c.peer,
                cell(qps_ratio, 2),
                cell(cpu(ours), 2),
                cell(cpu(theirs), 2),
                cell(ratio(cpu(ours), cpu(theirs)), 2),
                cell(ms(ours), 3),
                cell(ms(theirs), 3),
                cell(ratio(ms(ours), ms(theirs)), 2)
            );
        }
        if qps_ratios.len() > 1 {
            let low = qps_ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let high = qps_ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            println!(
                "| {} | range | — | — | {low:.2}–{high:.2} | — | — | — | — | — | — |",
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
    fn latency_rows_show_avg_max_and_ratios() {
        let run = |avg: &str, min: &str, max: &str, stddev: &str, qps: &str| {
            dnsperf::parse(&format!(
                "Queries sent: 10\nQueries completed: 10 (100.00%)\nQueries lost: 0 (0.00%)\n\
                 Run time (s): 1.0\nQueries per second: {qps}\n\
                 Average Latency (s): {avg} (min {min}, max {max})\nLatency StdDev (s): {stddev}\n"
            ))
            .unwrap()
        };
        let comparison = |latency| Comparison {
            title: "authoritative",
            peer: "NSD",
            torsion: Vec::new(),
            other: Vec::new(),
            latency: Some(latency),
        };
        let c = comparison(Latency {
            rate: 20_000,
            torsion: Ok(run("0.0001", "0.00001", "0.002", "0.00005", "20000.1")),
            other: Ok(run("0.0002", "0.00002", "0.001", "0.0001", "20000.0")),
        });
        let mut notes = Vec::new();
        let rows = latency_rows(&c, c.latency.as_ref().unwrap(), &mut notes);
        assert_eq!(
            rows[0],
            "| | latency at 20000 q/s, ms avg / max | 0.100 / 2.000 | 0.200 / 1.000 | 0.50 / 2.00 | — | — |"
        );
        assert_eq!(
            rows[1],
            "| | latency at 20000 q/s, ms stddev / min | 0.050 / 0.010 | 0.100 / 0.020 | 0.50 / 0.50 | — | — |"
        );
        assert_eq!(
            rows[2],
            "| | queries/s achieved at 20000 q/s offered | 20000 (0 lost) | 20000 (0 lost) | 1.00 | — | — |"
        );
        assert!(notes.is_empty(), "{notes:?}");

        // A failed run and one that fell short of the offered load both get a note.
        let c = comparison(Latency {
            rate: 20_000,
            torsion: Err("crashed".into()),
            other: Ok(run("0.0002", "0.00002", "0.001", "0.0001", "15000")),
        });
        let rows = latency_rows(&c, c.latency.as_ref().unwrap(), &mut notes);
        assert!(
            rows[0].contains("| error | 0.200 / 1.000 | n/a / n/a |"),
            "{}",
            rows[0]
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[1].contains("only 15000 q/s achieved"), "{}", notes[1]);
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
