//! Wildcard masks (`*` any run, `?` one character) as used by bans, WHO and oper host
//! checks, matched case-insensitively under the server's casemapping.

use super::casemap::fold_char;

/// Whether `text` matches `mask`. Iterative with backtracking to the last `*`: linear-ish
/// in practice and never recursive, so a hostile mask like `*a*a*a*a*b` cannot blow the stack.
pub fn matches(mask: &str, text: &str) -> bool {
    let m: Vec<char> = mask.chars().map(fold_char).collect();
    let t: Vec<char> = text.chars().map(fold_char).collect();
    let (mut mi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if mi < m.len() && (m[mi] == '?' || m[mi] == t[ti]) && m[mi] != '*' {
            mi += 1;
            ti += 1;
        } else if mi < m.len() && m[mi] == '*' {
            star = Some((mi, ti));
            mi += 1;
        } else if let Some((smi, sti)) = star {
            mi = smi + 1;
            ti = sti + 1;
            star = Some((smi, sti + 1));
        } else {
            return false;
        }
    }
    while mi < m.len() && m[mi] == '*' {
        mi += 1;
    }
    mi == m.len()
}

/// Normalise a ban-style mask to `nick!user@host` form (`alice` → `alice!*@*`,
/// `*@host` → `*!*@host`, `user@host` → `*!user@host`), as ircds do before storing it.
pub fn normalize(mask: &str) -> String {
    let (nick, rest) = match mask.split_once('!') {
        Some((n, r)) => (n, Some(r)),
        None => {
            if mask.contains('@') {
                ("*", Some(mask))
            } else {
                (mask, None)
            }
        }
    };
    let (user, host) = match rest {
        None => ("*", "*"),
        Some(r) => match r.split_once('@') {
            Some((u, h)) => (u, h),
            None => (r, "*"),
        },
    };
    let or_star = |s: &str| {
        if s.is_empty() {
            "*".to_owned()
        } else {
            s.to_owned()
        }
    };
    format!("{}!{}@{}", or_star(nick), or_star(user), or_star(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", ""));
        assert!(matches("*!*@*", "alice!a@host"));
        assert!(matches("ali?e!*@*.example", "ALICE!x@a.b.example"));
        assert!(!matches("ali?e!*@*.example", "alice!x@example"));
        assert!(matches("*a*b", "xxaxxb"));
        assert!(!matches("*a*b", "xxaxxbc"));
        assert!(matches("nick[a]", "NICK{A}"));
        // Pathological masks stay fast.
        let text = "a".repeat(400);
        assert!(!matches(&format!("{}b", "*a".repeat(50)), &text));
    }

    #[test]
    fn normalising() {
        assert_eq!(normalize("alice"), "alice!*@*");
        assert_eq!(normalize("*@host"), "*!*@host");
        assert_eq!(normalize("u@h"), "*!u@h");
        assert_eq!(normalize("n!u"), "n!u@*");
        assert_eq!(normalize("n!u@h"), "n!u@h");
    }
}
