//! Property test of the mailbox index: whatever mix of deliveries, flag changes, expunges and
//! changes behind its back (renames, deletions by other programs, restarts) happens, a sync
//! agrees with the files, UIDs are stable and never reused, and MODSEQs only grow.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::fs;

use proptest::prelude::*;
use torsion_core::testkit::TempDir;
use torsion_mailstore::{Flags, Keywords, Maildir};

#[derive(Debug, Clone)]
enum Op {
    Deliver,
    Store(usize, u8),
    Expunge(usize),
    RenameBehind(usize, u8),
    DeleteBehind(usize),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Deliver),
        2 => (any::<usize>(), 0u8..64).prop_map(|(i, f)| Op::Store(i, f)),
        1 => any::<usize>().prop_map(Op::Expunge),
        1 => (any::<usize>(), 0u8..64).prop_map(|(i, f)| Op::RenameBehind(i, f)),
        1 => any::<usize>().prop_map(Op::DeleteBehind),
        1 => Just(Op::Restart),
    ]
}

/// Flags from six bits, in the order of `Flags`' letters.
fn flags(bits: u8) -> Flags {
    let all = [
        Flags::DRAFT,
        Flags::FLAGGED,
        Flags::PASSED,
        Flags::ANSWERED,
        Flags::SEEN,
        Flags::DELETED,
    ];
    all.iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .fold(Flags::EMPTY, |acc, (_, f)| acc.with(*f))
}

/// The files in cur/: key → info.
fn files(md: &Maildir) -> HashMap<String, String> {
    fs::read_dir(md.path().join("cur"))
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let (key, info) = name.split_once(":2,").unwrap();
            (key.to_owned(), info.to_owned())
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_index_agrees_with_the_files(ops in prop::collection::vec(op(), 1..30)) {
        let dir = TempDir::new("index-props").unwrap();
        let mut md = Maildir::create(dir.path()).unwrap();
        let mut uid_of: HashMap<String, u32> = HashMap::new();
        let mut max_uid = 0u32;
        let mut highest = 0u64;
        let mut validity = None;
        let mut delivered = 0;
        for op in ops {
            let snap = md.sync().unwrap();
            let pick = |i: usize| (!snap.messages.is_empty()).then(|| &snap.messages[i % snap.messages.len()]);
            match op {
                Op::Deliver => {
                    delivered += 1;
                    md.deliver(format!("message {delivered}").as_bytes()).unwrap();
                }
                Op::Store(i, bits) => {
                    if let Some(m) = pick(i) {
                        let out = md.store(&[(m.uid, flags(bits), Keywords::EMPTY)], None).unwrap();
                        prop_assert_eq!(out.updated.len(), 1);
                        prop_assert!(out.highest_modseq >= snap.highest_modseq);
                    }
                }
                Op::Expunge(i) => {
                    if let Some(m) = pick(i) {
                        prop_assert_eq!(md.expunge(&[m.uid]).unwrap(), vec![m.uid]);
                    }
                }
                Op::RenameBehind(i, bits) => {
                    if let Some(m) = pick(i) {
                        let to = md.path().join("cur").join(format!("{}:2,{}", m.key, flags(bits).to_maildir()));
                        fs::rename(md.path_of(m), to).unwrap();
                    }
                }
                Op::DeleteBehind(i) => {
                    if let Some(m) = pick(i) {
                        fs::remove_file(md.path_of(m)).unwrap();
                    }
                }
                Op::Restart => md = Maildir::new(dir.path()),
            }
            let after = md.sync().unwrap();
            // One UIDVALIDITY throughout.
            prop_assert_eq!(*validity.get_or_insert(after.uid_validity), after.uid_validity);
            // The snapshot is the files.
            let on_disk = files(&md);
            prop_assert_eq!(on_disk.len(), after.messages.len());
            for m in &after.messages {
                prop_assert_eq!(on_disk.get(&*m.key), Some(&m.info()));
                prop_assert!(m.uid < after.uid_next);
                prop_assert!(m.modseq <= after.highest_modseq);
                // A message keeps its UID; a new one gets a UID never used before.
                match uid_of.get(&*m.key) {
                    Some(uid) => prop_assert_eq!(*uid, m.uid),
                    None => {
                        prop_assert!(m.uid > max_uid, "UID {} reused (max {})", m.uid, max_uid);
                        uid_of.insert(m.key.to_string(), m.uid);
                        max_uid = max_uid.max(m.uid);
                    }
                }
            }
            prop_assert!(after.messages.windows(2).all(|w| w[0].uid < w[1].uid));
            // HIGHESTMODSEQ never goes back, and any change moves it.
            prop_assert!(after.highest_modseq >= highest);
            let changed = !after.report.added.is_empty()
                || !after.report.expunged.is_empty()
                || !after.report.flags_changed.is_empty();
            if changed {
                prop_assert!(after.highest_modseq > highest);
            }
            highest = after.highest_modseq;
        }
    }
}
