//! QNAME minimisation (RFC 9156): how much of the name to show the next server.

use hickory_proto::rr::Name;

/// RFC 9156 §2.3 MAX_MINIMISE_COUNT: minimised queries per name before asking the whole name.
pub const MAX_MINIMISE_COUNT: usize = 10;

/// RFC 9156 §2.3 MINIMISE_ONE_LAB: the first minimised queries add one label each; later
/// ones add several, so that a name of many labels stays within MAX_MINIMISE_COUNT.
pub const MINIMISE_ONE_LAB: usize = 4;

/// The number of labels of `name` (the root has none).
pub(crate) fn label_count(name: &Name) -> usize {
    name.iter().count()
}

/// How many labels the next minimised question has, given the labels asked so far (or the
/// zone's), the name's, and the minimised questions already asked of this zone (RFC 9156
/// §2.3: one label at a time for MINIMISE_ONE_LAB steps, then the rest spread over the steps
/// left up to MAX_MINIMISE_COUNT).
pub(crate) fn next_label_count(asked: usize, total: usize, steps: usize) -> usize {
    if asked >= total {
        return total;
    }
    let left = total - asked;
    let step = if steps < MINIMISE_ONE_LAB {
        1
    } else if steps < MAX_MINIMISE_COUNT {
        (left / (MAX_MINIMISE_COUNT - steps)).max(1)
    } else {
        left
    };
    (asked + step).min(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimisation_steps_follow_rfc_9156() {
        // www.example.tld. from the root: one label at a time.
        assert_eq!(next_label_count(0, 3, 0), 1);
        assert_eq!(next_label_count(1, 3, 0), 2);
        assert_eq!(next_label_count(3, 3, 0), 3);
        // A long name: after MINIMISE_ONE_LAB single steps, bigger ones.
        let mut asked = 0;
        let mut steps = 0;
        while asked < 30 {
            asked = next_label_count(asked, 30, steps);
            steps += 1;
        }
        assert!(steps <= MAX_MINIMISE_COUNT + 1, "{steps}");
        assert_eq!(label_count(&Name::root()), 0);
        assert_eq!(label_count(&Name::from_ascii("*.example.").unwrap()), 2);
    }
}
