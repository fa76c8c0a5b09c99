//! The policy's settings, from its `[routing.policies.config]` table. Parsing takes a lookup
//! function instead of calling the host's `config` import, so it runs in native tests; a bad
//! value is an error that names its key, because the host logs it and the admin has to find it.

use std::collections::BTreeMap;

use serde_json::Value;

use switchboard_sdk::router::parse_list;
use switchboard_sdk::router::prelude::ReachableChannel;

const HOUR_MS: f64 = 3_600_000.0;

/// Providers whose customer-service window is known without configuration: Meta's. Outside
/// it only a pre-approved template may be sent.
const DEFAULT_WINDOWS: &[(&str, f64)] = &[("whatsapp", 24.0), ("messenger", 24.0), ("instagram", 24.0)];

/// What `[routing.policies.config]` says. Keys of `costs`, `windows` and `templates` are
/// channel ids or plugin names; a channel id wins over its plugin's name.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Cost per message, in whatever currency the admin thinks in.
    pub costs: BTreeMap<String, f64>,
    /// Customer-service windows, in milliseconds (the defaults, overridden by `windows`).
    pub windows: BTreeMap<String, u64>,
    /// Channels with an approved template that fits a re-engagement.
    pub templates: Vec<String>,
}

impl Settings {
    /// Read the settings through `get`, which returns a key's value (a TOML string as it is,
    /// anything else as JSON text) or `None` when it is unset. `costs` is required: without
    /// prices this policy has nothing to compare.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let value = |key: &str| get(key).map(|text| text.trim().to_string()).filter(|text| !text.is_empty());
        let Some(costs) = value("costs") else {
            return Err("config value `costs` is not set: give each channel or plugin its cost per message, like costs = { whatsapp = 0.005, email = 0 }".to_string());
        };
        let costs = table("costs", &costs, "cost per message")?;
        let mut windows: BTreeMap<String, u64> =
            DEFAULT_WINDOWS.iter().map(|(plugin, hours)| (plugin.to_string(), (hours * HOUR_MS) as u64)).collect();
        if let Some(text) = value("windows") {
            for (key, hours) in table("windows", &text, "window in hours")? {
                if hours <= 0.0 {
                    return Err(format!("config value `windows.{key}` must be a window in hours above 0, not {hours}"));
                }
                windows.insert(key, (hours * HOUR_MS) as u64);
            }
        }
        let templates = match value("templates") {
            Some(text) => parse_list("templates", &text, "channel ids or plugin names")?,
            None => Vec::new(),
        };
        Ok(Self { costs, windows, templates })
    }

    /// What a message on `channel` costs, if its channel id or plugin has a price.
    pub fn cost(&self, channel: &ReachableChannel) -> Option<f64> {
        lookup(&self.costs, channel).copied()
    }

    /// How long `channel`'s customer-service window lasts, if it has one.
    pub fn window_ms(&self, channel: &ReachableChannel) -> Option<u64> {
        lookup(&self.windows, channel).copied()
    }

    /// Whether an approved template fits a re-engagement on `channel`.
    pub fn has_template(&self, channel: &ReachableChannel) -> bool {
        self.templates.iter().any(|item| *item == channel.channel_id || *item == channel.plugin)
    }
}

/// The channel id's entry, else the plugin's.
fn lookup<'a, T>(map: &'a BTreeMap<String, T>, channel: &ReachableChannel) -> Option<&'a T> {
    map.get(&channel.channel_id).or_else(|| map.get(&channel.plugin))
}

/// A TOML table (JSON text) of channel or plugin → a number of at least 0. A number written as
/// a string (`"0.005"`) is read too.
fn table(key: &str, text: &str, meaning: &str) -> Result<BTreeMap<String, f64>, String> {
    let Ok(Value::Object(entries)) = serde_json::from_str::<Value>(text) else {
        return Err(format!(
            "config value `{key}` must be a table of channel or plugin = {meaning}, like {key} = {{ whatsapp = {} }}",
            if key == "windows" { "24" } else { "0.005" }
        ));
    };
    let mut map = BTreeMap::new();
    for (name, entry) in entries {
        let number = match &entry {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => text.trim().parse::<f64>().ok(),
            _ => None,
        };
        match number {
            Some(number) if number.is_finite() && number >= 0.0 => {
                map.insert(name.trim().to_string(), number);
            }
            _ => return Err(format!("config value `{key}.{name}` must be a {meaning} (a number of at least 0), not {entry}")),
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::parse(|key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
    }

    fn channel(id: &str, plugin: &str) -> ReachableChannel {
        ReachableChannel {
            channel_id: id.into(),
            plugin: plugin.into(),
            address: "+15550100".into(),
            templates: true,
            last_inbound_ms: None,
            messages: 0,
            replies: 0,
            median_reply_ms: None,
        }
    }

    #[test]
    fn reads_costs_with_meta_windows_by_default() {
        let settings = parse(&[("costs", r#"{"whatsapp": 0.005, "twilio-sms": 0.0079, "email": 0, "webchat": "0"}"#)]);
        let Ok(settings) = settings else { panic!("{settings:?}") };
        assert_eq!(settings.costs.get("twilio-sms"), Some(&0.0079));
        assert_eq!(settings.costs.get("webchat"), Some(&0.0));
        assert_eq!(settings.windows.get("whatsapp"), Some(&86_400_000));
        assert_eq!(settings.windows.get("messenger"), Some(&86_400_000));
        assert_eq!(settings.windows.get("instagram"), Some(&86_400_000));
        assert_eq!(settings.windows.len(), 3);
        assert!(settings.templates.is_empty());
    }

    #[test]
    fn costs_are_required() {
        let error = parse(&[("name", "cost")]).err().unwrap_or_default();
        assert!(error.contains("`costs` is not set"), "{error}");
    }

    #[test]
    fn windows_override_and_add_to_the_defaults() {
        let settings = parse(&[("costs", "{}"), ("windows", r#"{"whatsapp": 48, "rcs": 0.5}"#)]);
        let windows = settings.map(|settings| settings.windows).unwrap_or_default();
        assert_eq!(windows.get("whatsapp"), Some(&(48 * 3_600_000)));
        assert_eq!(windows.get("rcs"), Some(&1_800_000));
        assert_eq!(windows.get("messenger"), Some(&86_400_000));
    }

    #[test]
    fn templates_are_a_list_or_a_comma_separated_string() {
        let list = parse(&[("costs", "{}"), ("templates", r#"["whatsapp-main", " messenger "]"#)]).map(|s| s.templates);
        assert_eq!(list, Ok(vec!["whatsapp-main".to_string(), "messenger".to_string()]));
        let text = parse(&[("costs", "{}"), ("templates", "whatsapp, ")]).map(|s| s.templates);
        assert_eq!(text, Ok(vec!["whatsapp".to_string()]));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (vec![("costs", "cheap")], "`costs`"),
            (vec![("costs", "[0.1]")], "`costs`"),
            (vec![("costs", r#"{"sms": "lots"}"#)], "`costs.sms`"),
            (vec![("costs", r#"{"sms": -1}"#)], "`costs.sms`"),
            (vec![("costs", r#"{"sms": true}"#)], "`costs.sms`"),
            (vec![("costs", "{}"), ("windows", "24")], "`windows`"),
            (vec![("costs", "{}"), ("windows", r#"{"whatsapp": 0}"#)], "`windows.whatsapp`"),
            (vec![("costs", "{}"), ("windows", r#"{"whatsapp": "a day"}"#)], "`windows.whatsapp`"),
            (vec![("costs", "{}"), ("templates", "[1]")], "`templates`"),
        ];
        for (pairs, key) in cases {
            let error = parse(&pairs).err().unwrap_or_default();
            assert!(error.contains(key), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn a_channel_id_wins_over_its_plugin() {
        let settings = parse(&[
            ("costs", r#"{"whatsapp": 0.005, "whatsapp-eu": 0.02}"#),
            ("windows", r#"{"whatsapp-eu": 12}"#),
            ("templates", "whatsapp-eu"),
        ]);
        let Ok(settings) = settings else { panic!("{settings:?}") };
        let eu = channel("whatsapp-eu", "whatsapp");
        let us = channel("whatsapp-us", "whatsapp");
        assert_eq!((settings.cost(&eu), settings.cost(&us)), (Some(0.02), Some(0.005)));
        assert_eq!((settings.window_ms(&eu), settings.window_ms(&us)), (Some(12 * 3_600_000), Some(86_400_000)));
        assert!(settings.has_template(&eu));
        assert!(!settings.has_template(&us));
        assert_eq!(settings.cost(&channel("sms", "twilio-sms")), None);
        assert_eq!(settings.window_ms(&channel("sms", "twilio-sms")), None);
    }
}
