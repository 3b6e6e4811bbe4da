//! `$INCLUDE`: relative paths, origins, error locations, loops and depth.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::super::MAX_INCLUDE_DEPTH;
use super::*;

// ---- $INCLUDE -------------------------------------------------------------------------

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "torsion-zone-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.0.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("dir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn include_with_origin_override_and_origin_restored() {
    let dir = TempDir::new("include");
    let main = dir.write(
        "main.zone",
        "$ORIGIN example.com.\n\
         $TTL 300\n\
         @ SOA ns hostmaster 1 1h 1h 1w 1h\n\
         $INCLUDE hosts.inc\n\
         after A 192.0.2.2\n\
         \tAAAA ::2\n\
         $INCLUDE \"sub/more.inc\" lab ; origin relative to the current one\n\
         tail A 192.0.2.4\n",
    );
    dir.write(
        "hosts.inc",
        "$ORIGIN other.example.com.\ninner A 192.0.2.1\n$TTL 42\n",
    );
    dir.write("sub/more.inc", "x A 192.0.2.3\n$INCLUDE deeper.inc\n");
    dir.write("sub/deeper.inc", "y A 192.0.2.5\n");
    let zone = parse_zone_file(&main, &origin()).expect("parses");
    let owners: Vec<(String, u32)> = zone
        .records
        .iter()
        .map(|r| (r.name.to_ascii(), r.ttl))
        .collect();
    assert_eq!(
        owners,
        [
            ("example.com.".to_owned(), 300),
            ("inner.other.example.com.".to_owned(), 300),
            ("after.example.com.".to_owned(), 42),
            ("after.example.com.".to_owned(), 42),
            ("x.lab.example.com.".to_owned(), 42),
            ("y.lab.example.com.".to_owned(), 42),
            ("tail.example.com.".to_owned(), 42),
        ]
    );
}

#[test]
fn include_from_a_string_is_relative_to_the_current_directory() {
    // `cargo test` runs in the package directory.
    let records = parse("$INCLUDE tests/zone_files/example.com.zone\n");
    assert_eq!(records.len(), 20);
    let dir = TempDir::new("abs");
    let path = dir.write("a.inc", "$TTL 5\nabs A 192.0.2.9\n");
    let records = parse(&format!("$INCLUDE {}\n", path.display()));
    assert_records(&records, &[rr("abs.example.com.", 5, a("192.0.2.9"))]);
}

#[test]
fn include_errors_report_the_included_file_and_line() {
    let dir = TempDir::new("incerr");
    let main = dir.write("main.zone", "$TTL 1\n$INCLUDE bad.inc\n");
    let bad = dir.write("bad.inc", "ok A 192.0.2.1\n\nbroken A 192.0.2.300\n");
    let e = parse_zone_file(&main, &origin()).expect_err("bad include");
    assert_eq!(e.file, bad.display().to_string());
    assert_eq!(e.line, 3);
    assert!(e.reason.contains("bad IPv4 address"), "{e}");

    let missing = dir.write("missing.zone", "$TTL 1\n\n$INCLUDE nope.inc\n");
    let e = parse_zone_file(&missing, &origin()).expect_err("missing include");
    assert_eq!(
        (e.file.as_str(), e.line),
        (missing.to_str().expect("utf8"), 3)
    );
    assert!(e.reason.contains("cannot read $INCLUDE file"), "{e}");

    let e = parse_zone_file(&dir.0.join("absent.zone"), &origin()).expect_err("absent");
    assert_eq!(e.line, 0);
}

#[test]
fn include_loops_are_errors() {
    let dir = TempDir::new("loop");
    let a = dir.write("a.zone", "$TTL 1\nx A 192.0.2.1\n$INCLUDE b.inc\n");
    let b = dir.write("b.inc", "y A 192.0.2.2\n$INCLUDE a.zone\n");
    let e = parse_zone_file(&a, &origin()).expect_err("loop");
    assert_eq!(e.file, b.display().to_string());
    assert_eq!(e.line, 2);
    assert!(e.reason.contains("$INCLUDE loop"), "{e}");

    let itself = dir.write("self.zone", "$INCLUDE self.zone\n");
    let e = parse_zone_file(&itself, &origin()).expect_err("self loop");
    assert_eq!(e.line, 1);
    assert!(e.reason.contains("$INCLUDE loop"), "{e}");

    // Including the same file twice in sequence is not a loop.
    dir.write("twice.inc", "$TTL 1\nz A 192.0.2.3\n");
    let twice = dir.write("twice.zone", "$INCLUDE twice.inc\n$INCLUDE twice.inc\n");
    let zone = parse_zone_file(&twice, &origin()).expect("twice");
    assert_eq!(zone.records.len(), 2);
}

#[test]
fn include_depth_is_limited() {
    let dir = TempDir::new("depth");
    // f0 includes f1 … includes fN; fN holds a record.
    let chain = |files: usize| {
        for i in 0..files {
            let text = if i + 1 == files {
                "$TTL 1\nleaf A 192.0.2.1\n".to_owned()
            } else {
                format!("$INCLUDE f{}.inc\n", i + 1)
            };
            dir.write(&format!("f{i}.inc"), &text);
        }
        parse_zone_file(&dir.0.join("f0.inc"), &origin())
    };
    let zone = chain(MAX_INCLUDE_DEPTH + 1).expect("8 levels of $INCLUDE are fine");
    assert_eq!(zone.records.len(), 1);
    let e = chain(MAX_INCLUDE_DEPTH + 2).expect_err("9 levels");
    assert!(
        e.file.ends_with(&format!("f{MAX_INCLUDE_DEPTH}.inc")),
        "{e}"
    );
    assert_eq!(e.line, 1);
    assert!(e.reason.contains("nested more than 8"), "{e}");
}
