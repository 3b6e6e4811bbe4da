//! Durable delivery under crashes: a child process (this test binary re-executed) delivers and
//! dies at each step, or is SIGKILLed at a random moment in a delivery loop; afterwards `new/`
//! holds only whole messages and a reader never sees a partial one.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use torsion_core::testkit::TempDir;
use torsion_mailstore::{Maildir, Stage};

const ENV: &str = "TORSION_MAILSTORE_CRASH";

/// A message whose integrity can be checked: a header, `lines` body lines, a trailer.
fn message(n: usize, lines: usize) -> Vec<u8> {
    let mut m = format!("Subject: message {n}\r\n\r\n").into_bytes();
    for i in 0..lines {
        m.extend_from_slice(
            format!("line {i} of message {n} ........................................\r\n")
                .as_bytes(),
        );
    }
    m.extend_from_slice(b"-- end --\r\n");
    m
}

fn whole(bytes: &[u8]) -> bool {
    bytes.starts_with(b"Subject: message ") && bytes.ends_with(b"-- end --\r\n")
}

/// The child: only does something when re-executed with the environment variable set.
#[test]
fn child() {
    let Ok(spec) = std::env::var(ENV) else {
        return;
    };
    let (dir, what) = spec.split_once('|').unwrap();
    let md = Maildir::create(dir).unwrap();
    if what == "loop" {
        for n in 0..100_000 {
            md.deliver(&message(n, 200)).unwrap();
        }
        return;
    }
    let stop = match what {
        "written" => Stage::Written,
        "file-synced" => Stage::FileSynced,
        "renamed" => Stage::Renamed,
        _ => Stage::DirSynced,
    };
    md.deliver_with(&message(1, 5000), &mut |stage| {
        if stage == stop {
            std::process::abort();
        }
    })
    .unwrap();
}

fn spawn_child(dir: &Path, what: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(ENV, format!("{}|{what}", dir.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn a_crash_at_each_step_leaves_nothing_or_the_whole_message() {
    for (what, visible) in [
        ("written", false),
        ("file-synced", false),
        ("renamed", true),
        ("dir-synced", true),
    ] {
        let dir = TempDir::new("crash").unwrap();
        let status = spawn_child(dir.path(), what).wait().unwrap();
        assert!(!status.success(), "{what}: the child should have died");
        let new = files(&dir.path().join("new"));
        if visible {
            assert_eq!(new.len(), 1, "{what}");
            assert!(whole(&std::fs::read(&new[0]).unwrap()), "{what}");
        } else {
            assert!(new.is_empty(), "{what}: {new:?}");
            // The orphan in tmp/ is never listed.
            let listing = Maildir::new(dir.path()).sync().unwrap();
            assert!(listing.messages.is_empty());
        }
    }
}

#[test]
fn sigkill_in_a_delivery_loop_never_leaves_a_partial_message() {
    let mut delivered = 0;
    for round in 0..3u64 {
        let dir = TempDir::new("crash-loop").unwrap();
        let mut child = spawn_child(dir.path(), "loop");
        // Let it deliver for a while (a different moment each round), then kill -9.
        std::thread::sleep(Duration::from_millis(150 + 70 * round));
        child.kill().unwrap();
        child.wait().unwrap();
        let new = files(&dir.path().join("new"));
        for path in &new {
            let bytes = std::fs::read(path).unwrap();
            assert!(whole(&bytes), "partial message {}", path.display());
        }
        delivered += new.len();
        let md = Maildir::new(dir.path());
        let listing = md.sync().unwrap();
        assert_eq!(listing.messages.len(), new.len());
        for m in &listing.messages {
            assert_eq!(m.size as usize, md.read(m).unwrap().len());
        }
    }
    assert!(
        delivered > 0,
        "the child never got to deliver: the test proved nothing"
    );
}
