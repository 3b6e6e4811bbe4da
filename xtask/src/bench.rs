//! `cargo xtask bench NAME [--seconds N]`: run one of ours and a reference server in the same
//! run, print both and the ratio. Benchmarks are not tests: the targets are reported as pass or
//! fail but the exit code is 0 either way (2 for a bad command line).

mod echo;
mod load;

use std::process::ExitCode;

/// Default length of each measurement.
const DEFAULT_SECONDS: u64 = 5;
/// Longest measurement accepted.
const MAX_SECONDS: u64 = 600;

/// Entry point: `args` are the words after `bench`.
pub fn main(args: &[String]) -> ExitCode {
    let Some(name) = args.first() else {
        return crate::usage_error("bench: missing NAME (core)");
    };
    let mut seconds = DEFAULT_SECONDS;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--seconds" => match crate::parse_number("--seconds", args.get(i + 1), 1..=MAX_SECONDS)
            {
                Ok(n) => {
                    seconds = n;
                    i += 2;
                }
                Err(e) => return crate::usage_error(&e),
            },
            other => return crate::usage_error(&format!("bench: unexpected argument {other:?}")),
        }
    }
    match name.as_str() {
        "core" => echo::main(seconds),
        "dns" | "irc" | "smtp" => {
            println!("bench {name}: not built yet");
            ExitCode::from(2)
        }
        other => crate::usage_error(&format!("bench: unknown benchmark {other:?} (known: core)")),
    }
}
