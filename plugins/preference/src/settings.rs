//! The policy's settings, from its `[routing.policies.config]` table. Parsing takes a lookup
//! function instead of calling the host's `config` import, so it runs in native tests; a bad
//! value is an error that names its key, because the host logs it and the admin has to find it.

/// What `[routing.policies.config]` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How many answers a channel needs before it counts: one quick reply says little.
    pub min_replies: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self { min_replies: 2 }
    }
}

impl Settings {
    /// Read the settings through `get`, which returns a key's value (a TOML string as it is,
    /// anything else as JSON text) or `None` when it is unset.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut settings = Self::default();
        if let Some(text) = get("min_replies").map(|text| text.trim().to_string()).filter(|text| !text.is_empty()) {
            settings.min_replies = match text.parse::<u32>() {
                Ok(count) if count >= 1 => count,
                _ => return Err(format!("config value `min_replies` must be a whole number of at least 1, not `{text}`")),
            };
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::parse(|key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn two_replies_by_default() {
        assert_eq!(parse(&[("name", "preference")]), Ok(Settings { min_replies: 2 }));
        assert_eq!(parse(&[("min_replies", "  ")]), Ok(Settings { min_replies: 2 }));
    }

    #[test]
    fn reads_a_number_or_a_numeric_string() {
        assert_eq!(parse(&[("min_replies", "5")]), Ok(Settings { min_replies: 5 }));
        assert_eq!(parse(&[("min_replies", " 1 ")]), Ok(Settings { min_replies: 1 }));
    }

    #[test]
    fn bad_values_name_their_key() {
        for bad in ["0", "-1", "2.5", "many", "[2]"] {
            let error = parse(&[("min_replies", bad)]).err().unwrap_or_default();
            assert!(error.contains("`min_replies`") && error.contains(bad), "{bad}: {error}");
        }
    }
}
