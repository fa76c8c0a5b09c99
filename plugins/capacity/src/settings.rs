//! The policy's settings, from its `[routing.policies.config]` table. Parsing takes a lookup
//! function instead of calling the host's `config` import, so it runs in native tests; a bad
//! value is an error that names its key, because the host logs it and the admin has to find it.

use switchboard_sdk::router::{parse_list, same_name};

/// What `[routing.policies.config]` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The team (by name, matched case-insensitively) for conversations nobody put in a team.
    pub default_team: Option<String>,
    /// Whether a conversation without any team may go to any agent with room. Off, such a
    /// conversation is left alone (for a person, or a later policy, to place).
    pub any_team: bool,
    /// The team names this policy assigns for; empty means every team. Lets several capacity
    /// policies (or a capacity policy and a person) share the teams between them.
    pub teams: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self { default_team: None, any_team: true, teams: Vec::new() }
    }
}

impl Settings {
    /// Read the settings through `get`, which returns a key's value (a TOML string as it is,
    /// anything else as JSON text) or `None` when it is unset.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let value = |key: &str| get(key).map(|text| text.trim().to_string()).filter(|text| !text.is_empty());
        let any_team = match value("any_team") {
            Some(text) => boolean("any_team", &text)?,
            None => Self::default().any_team,
        };
        let teams = match value("teams") {
            Some(text) => parse_list("teams", &text, "team names")?,
            None => Vec::new(),
        };
        Ok(Self { default_team: value("default_team"), any_team, teams })
    }

    /// Whether this policy assigns for the team called `name`.
    pub fn covers(&self, name: &str) -> bool {
        self.teams.is_empty() || self.teams.iter().any(|team| same_name(team, name))
    }
}

/// `true` or `false`: a TOML boolean (which arrives as JSON text) or the same word as a string.
fn boolean(key: &str, text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("config value `{key}` must be true or false, not `{text}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::parse(|key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        assert_eq!(parse(&[("name", "capacity")]), Ok(Settings::default()));
        assert!(Settings::default().any_team);
    }

    #[test]
    fn reads_every_key() {
        let settings = parse(&[("default_team", " Billing "), ("any_team", "false"), ("teams", r#"["Billing", " Sales ", ""]"#)]);
        assert_eq!(
            settings,
            Ok(Settings { default_team: Some("Billing".into()), any_team: false, teams: vec!["Billing".into(), "Sales".into()] })
        );
    }

    #[test]
    fn teams_may_be_one_comma_separated_string() {
        assert_eq!(parse(&[("teams", "Billing, Sales,")]).map(|s| s.teams), Ok(vec!["Billing".to_string(), "Sales".to_string()]));
    }

    #[test]
    fn blank_values_count_as_unset() {
        assert_eq!(parse(&[("default_team", "  "), ("any_team", " ")]), Ok(Settings::default()));
    }

    #[test]
    fn bad_values_name_their_key() {
        let any_team = parse(&[("any_team", "sometimes")]).err().unwrap_or_default();
        assert!(any_team.contains("`any_team`"), "{any_team}");
        let teams = parse(&[("teams", "[1, 2]")]).err().unwrap_or_default();
        assert!(teams.contains("`teams`"), "{teams}");
    }

    #[test]
    fn covers_every_team_unless_listed() {
        assert!(Settings::default().covers("Anything"));
        let settings = Settings { teams: vec!["Billing".into()], ..Settings::default() };
        assert!(settings.covers("billing"));
        assert!(!settings.covers("Sales"));
    }
}
