//! Alternative nicknames when the wanted one is taken (433 ERR_NICKNAMEINUSE) or refused
//! (432 ERR_ERRONEUSNICKNAME, 437 ERR_UNAVAILRESOURCE) during registration.

use super::config::ClientConfig;

/// Suffixes appended to the configured nick after the explicit alternatives.
const SUFFIXES: [&str; 11] = ["_", "__", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// The nickname for attempt `attempt` (0 is the configured nick). With `shorten` (the server
/// refused the last candidate as erroneous, typically over `NICKLEN`), generated candidates
/// replace the end of the nick instead of extending it. `None` when everything has been tried.
pub(crate) fn candidate(config: &ClientConfig, attempt: usize, shorten: bool) -> Option<String> {
    if attempt == 0 {
        return Some(config.nick.clone());
    }
    if let Some(alt) = config.alt_nicks.get(attempt - 1) {
        return Some(alt.clone());
    }
    let suffix = SUFFIXES.get(attempt - 1 - config.alt_nicks.len())?;
    let base = &config.nick;
    if shorten {
        let keep = base.chars().count().saturating_sub(suffix.len()).max(1);
        let short: String = base.chars().take(keep).collect();
        Some(format!("{short}{suffix}"))
    } else {
        Some(format!("{base}{suffix}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence() {
        let mut c = ClientConfig::new("bot");
        c.alt_nicks = vec!["robot".into()];
        let got: Vec<_> = (0..15).map_while(|i| candidate(&c, i, false)).collect();
        assert_eq!(
            got,
            [
                "bot", "robot", "bot_", "bot__", "bot1", "bot2", "bot3", "bot4", "bot5", "bot6",
                "bot7", "bot8", "bot9"
            ]
        );
        assert_eq!(candidate(&c, 2, true).as_deref(), Some("bo_"));
        assert_eq!(candidate(&c, 3, true).as_deref(), Some("b__"));
    }
}
