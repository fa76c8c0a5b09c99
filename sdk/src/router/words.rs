//! Pure helpers the bundled policies share: readable durations for reasons, names as people
//! type them, and the list form of a config value. No WIT import is called here, so a
//! policy's native tests can use them.

use super::bindings::switchboard::router::types::{Context, Team};

/// `ms` as an agent reads it in a reason, in the largest unit that keeps it at least 1 (hours
/// up to two days): "45 s", "2 min", "3 h", "2 days". Rounded down: the reason explains a
/// choice, it is not a report.
pub fn human_duration(ms: u64) -> String {
    const SECOND: u64 = 1_000;
    const MINUTE: u64 = 60 * SECOND;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    match ms {
        ms if ms < MINUTE => format!("{} s", ms / SECOND),
        ms if ms < HOUR => format!("{} min", ms / MINUTE),
        ms if ms < 2 * DAY => format!("{} h", ms / HOUR),
        ms => format!("{} days", ms / DAY),
    }
}

/// Names (of teams, say) compared as people type them: ignoring case and surrounding blanks.
pub fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

impl Context {
    /// The team called `name` ([`same_name`]), as a policy's configuration names teams.
    pub fn team_named(&self, name: &str) -> Option<&Team> {
        self.teams.iter().find(|team| same_name(&team.name, name))
    }
}

/// A config value read as a list: a TOML array of strings (which arrives as JSON text) or one
/// comma-separated string; items trimmed, blank ones dropped. An array that is not a list of
/// strings is an error naming `key` and what its items should be (`what`).
pub fn parse_list(key: &str, text: &str, what: &str) -> Result<Vec<String>, String> {
    let items = if text.starts_with('[') {
        serde_json::from_str::<Vec<String>>(text).map_err(|error| format!("config value `{key}` must be a list of {what}: {error}"))?
    } else {
        text.split(',').map(str::to_string).collect()
    };
    Ok(items.into_iter().map(|item| item.trim().to_string()).filter(|item| !item.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_a_readable_unit() {
        assert_eq!(human_duration(45_000), "45 s");
        assert_eq!(human_duration(150_000), "2 min");
        assert_eq!(human_duration(3 * 3_600_000 + 59 * 60_000), "3 h");
        assert_eq!(human_duration(30 * 3_600_000), "30 h");
        assert_eq!(human_duration(3 * 86_400_000), "3 days");
    }

    #[test]
    fn lists_come_as_arrays_or_commas() {
        assert_eq!(parse_list("k", r#"[" a ", "", "b"]"#, "names"), Ok(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(parse_list("k", " a, ,b ", "names"), Ok(vec!["a".to_string(), "b".to_string()]));
        let error = parse_list("teams", "[1]", "team names").unwrap_err();
        assert!(error.starts_with("config value `teams` must be a list of team names:"), "{error}");
        assert!(same_name(" Billing ", "billing"));
    }
}
