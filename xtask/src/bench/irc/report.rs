//! The summary of `bench irc`: each server's median over its rounds, the ratio of the medians
//! against the targets, and every round side by side with the spread of the round ratios.

use super::load::{Fanout, FanoutPlan, IdleMemory};
use super::{FANOUT_TARGET, MEMORY_TARGET};
use crate::bench::{cell, median, ratio, verdict};
use crate::util;

/// The servers, in the order of [`Results`]' arrays and of every round.
const LABELS: [&str; 2] = ["torsion-irc", "InspIRCd"];

/// One server's measurements of one kind, one per round (a failed round keeps its error).
pub(super) type Series<T> = Vec<Result<T, String>>;

/// Every measurement of a run: index 0 torsion-irc, 1 InspIRCd.
#[derive(Debug, Default)]
pub(super) struct Results {
    pub fanouts: [Series<Fanout>; 2],
    pub memories: [Series<IdleMemory>; 2],
}

/// A measurement that may or may not count towards the medians.
pub(super) trait Round {
    /// Whether its figures mean anything: a fan-out counts only if every receiver got every
    /// message (an incomplete one stopped at the time limit).
    fn usable(&self) -> bool;
}

impl Round for Fanout {
    fn usable(&self) -> bool {
        self.complete
    }
}

impl Round for IdleMemory {
    fn usable(&self) -> bool {
        true
    }
}

/// The measurement of one round, if it succeeded and counts.
fn usable<T: Round>(result: &Result<T, String>) -> Option<&T> {
    result.as_ref().ok().filter(|m| m.usable())
}

/// The median of `metric` over the rounds of `series` that count.
fn median_of<T: Round>(series: &Series<T>, metric: impl Fn(&T) -> f64) -> Option<f64> {
    median(series.iter().filter_map(usable).map(metric))
}

/// Rounds of `series` that count, as "N of M" when some did not.
fn rounds_used<T: Round>(series: &Series<T>) -> String {
    let ok = series.iter().filter_map(usable).count();
    if ok == series.len() {
        ok.to_string()
    } else {
        format!("{ok} of {}", series.len())
    }
}

/// Round by round, `metric` of both servers and their ratio (`None` where a round failed).
type RoundRow = (Option<f64>, Option<f64>, Option<f64>);

fn per_round<T: Round>(pair: &[Series<T>; 2], metric: impl Fn(&T) -> f64) -> Vec<RoundRow> {
    let [ours, theirs] = pair;
    let rounds = ours.len().max(theirs.len());
    (0..rounds)
        .map(|i| {
            let value = |series: &Series<T>| series.get(i).and_then(usable).map(&metric);
            let (a, b) = (value(ours), value(theirs));
            (a, b, ratio(a, b))
        })
        .collect()
}

/// Lowest and highest of the finite `values`.
fn range(values: impl IntoIterator<Item = Option<f64>>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((low, high)) => Some((f64::min(low, v), f64::max(high, v))),
        })
}

fn range_cell(range: Option<(f64, f64)>, decimals: usize) -> String {
    range.map_or_else(
        || "—".into(),
        |(low, high)| format!("{low:.decimals$}–{high:.decimals$}"),
    )
}

/// A row of the summary: the median of `metric` for both servers and the ratio of the medians.
fn median_row<T: Round>(
    label: &str,
    pair: &[Series<T>; 2],
    metric: impl Fn(&T) -> f64,
    decimals: usize,
) {
    let a = median_of(&pair[0], &metric);
    let b = median_of(&pair[1], &metric);
    println!(
        "| {label} | {} | {} | {} |",
        cell(a, decimals),
        cell(b, decimals),
        cell(ratio(a, b), 2)
    );
}

pub(super) fn report(command: &str, plan: &FanoutPlan, idle_clients: usize, results: &Results) {
    let Results { fanouts, memories } = results;
    let rate_ratio = ratio(
        median_of(&fanouts[0], Fanout::per_second),
        median_of(&fanouts[1], Fanout::per_second),
    );
    let memory_ratio = ratio(
        median_of(&memories[0], IdleMemory::kib_per_client),
        median_of(&memories[1], IdleMemory::kib_per_client),
    );
    let rate_met = rate_ratio.map(|r| r >= FANOUT_TARGET);
    let memory_met = memory_ratio.map(|r| r <= MEMORY_TARGET);

    println!();
    println!("machine: {}", util::machine_summary());
    println!("command: {command}");
    println!();
    println!(
        "Each figure is the median over the rounds (ratios: of the two medians; fan-out rounds that did not deliver every message left out); every fan-out round below."
    );
    println!();
    println!("| metric | torsion-irc | InspIRCd | torsion/InspIRCd |");
    println!("| --- | ---: | ---: | ---: |");
    median_row(
        &format!(
            "fan-out: deliveries/s ({} receivers × {} messages)",
            plan.receivers, plan.messages
        ),
        fanouts,
        Fanout::per_second,
        0,
    );
    median_row(
        "fan-out: seconds until every receiver had every message",
        fanouts,
        |f| f.seconds,
        3,
    );
    median_row(
        "fan-out: server CPU ms per 1000 deliveries",
        fanouts,
        Fanout::cpu_ms_per_1000,
        2,
    );
    median_row(
        "fan-out: server cores busy (CPU s / s)",
        fanouts,
        Fanout::server_cores,
        2,
    );
    median_row(
        "fan-out: load client cores busy",
        fanouts,
        Fanout::client_cores,
        2,
    );
    median_row(
        "fan-out: times the sender waited for its window",
        fanouts,
        |f| f.sender_waits as f64,
        0,
    );
    println!(
        "| fan-out: rounds measured | {} | {} | — |",
        rounds_used(&fanouts[0]),
        rounds_used(&fanouts[1])
    );
    median_row(
        &format!("idle memory: KiB per registered client ({idle_clients} clients)"),
        memories,
        IdleMemory::kib_per_client,
        2,
    );
    median_row(
        "idle memory: server RSS with the clients, MiB",
        memories,
        |m| m.rss_after as f64 / (1024.0 * 1024.0),
        1,
    );
    median_row(
        "server CPU µs per registration",
        memories,
        IdleMemory::cpu_us_per_registration,
        0,
    );
    println!(
        "| idle memory: rounds measured | {} | {} | — |",
        rounds_used(&memories[0]),
        rounds_used(&memories[1])
    );
    println!();
    println!(
        "target: fan-out rate ≥ {FANOUT_TARGET}× InspIRCd's: {} ({})",
        verdict(rate_met),
        cell(rate_ratio, 2)
    );
    println!(
        "target: memory per idle client ≤ {MEMORY_TARGET}× InspIRCd's: {} ({})",
        verdict(memory_met),
        cell(memory_ratio, 2)
    );
    report_fanout_rounds(fanouts);
    if memories.iter().any(|series| series.len() > 1) {
        report_memory_rounds(memories);
    }
    let notes = notes(results);
    if !notes.is_empty() {
        println!();
        for note in notes {
            println!("note: {note}");
        }
    }
    let met = [rate_met, memory_met]
        .iter()
        .filter(|v| **v == Some(true))
        .count();
    println!();
    println!("targets met: {met} of 2 (benchmarks are not tests: exit code 0 either way)");
}

/// Every fan-out round's rate and CPU per delivery, side by side, with the range of each
/// column (how far one round alone could have misled).
fn report_fanout_rounds(fanouts: &[Series<Fanout>; 2]) {
    let rates = per_round(fanouts, Fanout::per_second);
    let cpus = per_round(fanouts, Fanout::cpu_ms_per_1000);
    println!();
    println!("Per fan-out round (torsion-irc measured first in each):");
    println!();
    println!(
        "| round | torsion-irc deliveries/s | InspIRCd deliveries/s | torsion/InspIRCd | torsion-irc CPU ms/1000 | InspIRCd CPU ms/1000 | torsion/InspIRCd |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (round, (rate, cpu)) in (1..).zip(rates.iter().zip(&cpus)) {
        println!(
            "| {round} | {} | {} | {} | {} | {} | {} |",
            cell(rate.0, 0),
            cell(rate.1, 0),
            cell(rate.2, 2),
            cell(cpu.0, 2),
            cell(cpu.1, 2),
            cell(cpu.2, 2)
        );
    }
    if rates.len() > 1 {
        println!(
            "| range | {} | {} | {} | {} | {} | {} |",
            range_cell(range(rates.iter().map(|r| r.0)), 0),
            range_cell(range(rates.iter().map(|r| r.1)), 0),
            range_cell(range(rates.iter().map(|r| r.2)), 2),
            range_cell(range(cpus.iter().map(|r| r.0)), 2),
            range_cell(range(cpus.iter().map(|r| r.1)), 2),
            range_cell(range(cpus.iter().map(|r| r.2)), 2)
        );
        let ratios: Vec<f64> = rates.iter().filter_map(|r| r.2).collect();
        println!();
        println!(
            "rounds at ≥ {FANOUT_TARGET}× on their own: {} of {}",
            ratios.iter().filter(|r| **r >= FANOUT_TARGET).count(),
            rates.len()
        );
    }
}

/// Every idle-memory round (printed only when there was more than one).
fn report_memory_rounds(memories: &[Series<IdleMemory>; 2]) {
    let kib = per_round(memories, IdleMemory::kib_per_client);
    println!();
    println!("Per idle-memory round (torsion-irc measured first in each):");
    println!();
    println!("| round | torsion-irc KiB/client | InspIRCd KiB/client | torsion/InspIRCd |");
    println!("| ---: | ---: | ---: | ---: |");
    for (round, row) in (1..).zip(&kib) {
        println!(
            "| {round} | {} | {} | {} |",
            cell(row.0, 2),
            cell(row.1, 2),
            cell(row.2, 2)
        );
    }
    println!(
        "| range | {} | {} | {} |",
        range_cell(range(kib.iter().map(|r| r.0)), 2),
        range_cell(range(kib.iter().map(|r| r.1)), 2),
        range_cell(range(kib.iter().map(|r| r.2)), 2)
    );
}

/// What went wrong round by round: failures, incomplete fan-outs, load client errors.
fn notes(results: &Results) -> Vec<String> {
    let mut notes = Vec::new();
    for (label, series) in LABELS.iter().zip(&results.fanouts) {
        for (round, result) in (1..).zip(series) {
            match result {
                Ok(f) => {
                    let left_out = if f.complete {
                        ""
                    } else {
                        " (incomplete: left out of the medians)"
                    };
                    if let Some(e) = &f.errors {
                        notes.push(format!(
                            "{label}, fan-out round {round} ({} of {} deliveries){left_out}: {e}",
                            f.deliveries,
                            f.receivers as u64 * f.messages
                        ));
                    } else if !f.complete {
                        notes.push(format!("{label}, fan-out round {round}{left_out}"));
                    }
                }
                Err(e) => notes.push(format!("{label}, fan-out round {round}: failed: {e}")),
            }
        }
    }
    for (label, series) in LABELS.iter().zip(&results.memories) {
        for (round, result) in (1..).zip(series) {
            match result {
                Ok(m) => {
                    if let Some(e) = &m.errors {
                        notes.push(format!("{label}, idle memory round {round}: {e}"));
                    }
                }
                Err(e) => notes.push(format!("{label}, idle memory round {round}: failed: {e}")),
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fanout(per_second: f64, complete: bool) -> Fanout {
        Fanout {
            receivers: 10,
            messages: 100,
            deliveries: if complete { 1000 } else { 500 },
            seconds: 1000.0 / per_second,
            server_cpu: 0.5,
            client_cpu: 0.1,
            complete,
            sender_waits: 0,
            errors: (!complete).then(|| "sender: time limit".to_owned()),
        }
    }

    fn memory(kib: f64) -> IdleMemory {
        IdleMemory {
            rss_before: 1 << 20,
            rss_after: (1 << 20) + (kib * 1024.0 * 100.0) as u64,
            registered: 100,
            register_seconds: 1.0,
            server_cpu: 0.01,
            errors: None,
        }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-6)
    }

    #[test]
    fn medians_leave_out_failed_and_incomplete_rounds() {
        let series: Series<Fanout> = vec![
            Ok(fanout(100.0, true)),
            Err("did not start".into()),
            Ok(fanout(300.0, true)),
            Ok(fanout(1e9, false)),
            Ok(fanout(200.0, true)),
        ];
        assert!(close(median_of(&series, Fanout::per_second), 200.0));
        assert_eq!(rounds_used(&series), "3 of 5");
        assert_eq!(rounds_used(&vec![Ok(fanout(1.0, true))]), "1");
        let none: Series<Fanout> = vec![Err("x".into()), Ok(fanout(5.0, false))];
        assert_eq!(median_of(&none, Fanout::per_second), None);
    }

    #[test]
    fn headline_ratio_is_the_ratio_of_the_medians() {
        // Round ratios 4.0, 1.0 and 1.67; medians 300 and 150, so the headline ratio is 2.0,
        // which is none of the round ratios (nor their median).
        let pair: [Series<Fanout>; 2] = [
            vec![
                Ok(fanout(400.0, true)),
                Ok(fanout(300.0, true)),
                Ok(fanout(250.0, true)),
            ],
            vec![
                Ok(fanout(100.0, true)),
                Ok(fanout(300.0, true)),
                Ok(fanout(150.0, true)),
            ],
        ];
        let headline = ratio(
            median_of(&pair[0], Fanout::per_second),
            median_of(&pair[1], Fanout::per_second),
        );
        assert!(close(headline, 2.0));
        let rounds = per_round(&pair, Fanout::per_second);
        let ratios: Vec<Option<f64>> = rounds.iter().map(|r| r.2).collect();
        assert!(close(ratios[0], 4.0) && close(ratios[1], 1.0) && close(ratios[2], 250.0 / 150.0));
        let (low, high) = range(ratios).unwrap();
        assert!((low - 1.0).abs() < 1e-6 && (high - 4.0).abs() < 1e-6);
    }

    #[test]
    fn per_round_ratios_need_both_servers() {
        let pair: [Series<Fanout>; 2] = [
            vec![Ok(fanout(200.0, true)), Err("crashed".into())],
            vec![Ok(fanout(100.0, false)), Ok(fanout(100.0, true))],
        ];
        let rounds = per_round(&pair, Fanout::per_second);
        assert_eq!(rounds.len(), 2);
        assert!(close(rounds[0].0, 200.0));
        assert_eq!((rounds[0].1, rounds[0].2), (None, None));
        assert_eq!((rounds[1].0, rounds[1].2), (None, None));
        assert!(close(rounds[1].1, 100.0));
        assert_eq!(range([None, None]), None);
        assert_eq!(range_cell(None, 2), "—");
        assert_eq!(range_cell(Some((1.234, 2.5)), 2), "1.23–2.50");
    }

    #[test]
    fn memory_medians_and_notes() {
        let results = Results {
            fanouts: [
                vec![Ok(fanout(10.0, false))],
                vec![Err("no welcome".into())],
            ],
            memories: [
                vec![Ok(memory(2.0)), Ok(memory(1.0)), Ok(memory(1.5))],
                vec![Ok(memory(2.0))],
            ],
        };
        assert!(close(
            median_of(&results.memories[0], IdleMemory::kib_per_client),
            1.5
        ));
        let notes = notes(&results);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].starts_with("torsion-irc, fan-out round 1 (500 of 1000 deliveries)"));
        assert!(notes[0].contains("left out of the medians"));
        assert_eq!(notes[1], "InspIRCd, fan-out round 1: failed: no welcome");
    }
}
