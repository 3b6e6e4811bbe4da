//! Which names to try for a name the user typed: glibc's `res_search` rules.
//!
//! - A name ending in `.` is absolute: only that name is tried.
//! - A name with at least `ndots` dots is tried as-is first, then with each search suffix.
//! - A name with fewer dots is tried with each search suffix first, then as-is.
//!
//! Duplicates (a search list holding the root, or the same suffix twice) are tried once.

use hickory_proto::rr::Name;

use super::resolv_conf::ResolverConfig;

/// Why a name cannot be looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid domain name {name:?}: {reason}")]
pub struct BadName {
    /// The name as given.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a name as typed (UTF-8 names are IDNA-encoded; `_srv` labels are allowed) into an
/// absolute name, without applying any search list.
pub fn parse_absolute(name: &str) -> Result<Name, BadName> {
    let bad = |reason: String| BadName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("empty".to_owned()));
    }
    let mut parsed = Name::from_str_relaxed(name).map_err(|e| bad(e.to_string()))?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

/// The absolute names to try, in order, for `name` under `config`'s search list and `ndots`.
pub fn candidates(name: &str, config: &ResolverConfig) -> Result<Vec<Name>, BadName> {
    let as_is = parse_absolute(name)?;
    if name.ends_with('.') {
        return Ok(vec![as_is]);
    }
    let mut relative = as_is.clone();
    relative.set_fqdn(false);
    // Suffixes that make the name too long are skipped; the name as-is is always possible.
    let searched = config
        .search
        .iter()
        .filter_map(|suffix| relative.clone().append_domain(suffix).ok());

    let dots = name.bytes().filter(|&b| b == b'.').count();
    let ordered: Vec<Name> = if dots >= usize::from(config.ndots) {
        std::iter::once(as_is).chain(searched).collect()
    } else {
        searched.chain(std::iter::once(as_is)).collect()
    };
    let mut unique: Vec<Name> = Vec::with_capacity(ordered.len());
    for candidate in ordered {
        if !unique.contains(&candidate) {
            unique.push(candidate);
        }
    }
    Ok(unique)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(search: &[&str], ndots: u8) -> ResolverConfig {
        ResolverConfig {
            search: search
                .iter()
                .map(|s| Name::from_ascii(s).unwrap())
                .collect(),
            ndots,
            ..ResolverConfig::default()
        }
    }

    fn tried(name: &str, config: &ResolverConfig) -> Vec<String> {
        candidates(name, config)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn absolute_names_are_tried_alone() {
        let c = config(&["corp.example."], 1);
        assert_eq!(tried("host.example.", &c), ["host.example."]);
        assert_eq!(tried("host.", &c), ["host."]);
    }

    #[test]
    fn few_dots_search_first() {
        let c = config(&["corp.example.", "example."], 1);
        assert_eq!(
            tried("host", &c),
            ["host.corp.example.", "host.example.", "host."]
        );
    }

    #[test]
    fn enough_dots_as_is_first() {
        let c = config(&["corp.example.", "example."], 1);
        assert_eq!(
            tried("www.test", &c),
            ["www.test.", "www.test.corp.example.", "www.test.example."]
        );
        let c = config(&["corp.example."], 3);
        assert_eq!(tried("a.b.c.d", &c), ["a.b.c.d.", "a.b.c.d.corp.example."]);
        assert_eq!(tried("a.b.c", &c), ["a.b.c.corp.example.", "a.b.c."]);
        assert_eq!(tried("a.b", &c), ["a.b.corp.example.", "a.b."]);
    }

    #[test]
    fn ndots_zero_always_tries_as_is_first() {
        let c = config(&["corp.example."], 0);
        assert_eq!(tried("host", &c), ["host.", "host.corp.example."]);
    }

    #[test]
    fn no_search_list_means_as_is_only() {
        assert_eq!(tried("host", &config(&[], 1)), ["host."]);
    }

    #[test]
    fn duplicates_are_tried_once() {
        let c = config(&["example.", ".", "example."], 1);
        assert_eq!(tried("host", &c), ["host.example.", "host."]);
    }

    #[test]
    fn case_is_kept_out_of_the_way_and_bad_names_are_errors() {
        assert!(candidates("", &config(&[], 1)).is_err());
        assert!(candidates("a..b", &config(&[], 1)).is_err());
        let long = "a".repeat(64);
        assert!(candidates(&long, &config(&[], 1)).is_err());
    }

    #[test]
    fn too_long_with_a_suffix_falls_back_to_as_is() {
        let label = "a".repeat(63);
        let name = format!("{label}.{label}.{label}.{}", "b".repeat(50));
        let c = config(&["example.com."], 5);
        assert_eq!(tried(&name, &c), [format!("{name}.")]);
    }

    #[test]
    fn parse_absolute_accepts_service_labels_and_utf8() {
        assert_eq!(
            parse_absolute("_imap._tcp.example.com").unwrap().to_ascii(),
            "_imap._tcp.example.com."
        );
        assert_eq!(
            parse_absolute("bücher.example").unwrap().to_ascii(),
            "xn--bcher-kva.example."
        );
    }
}
