//! The policy's `[routing.policies.config]` values. The host hands a string as it is and any
//! other TOML value (a number, an array, a table) as JSON text.

use super::bindings::switchboard::router::config;

/// A config value, trimmed; `None` when unset or blank.
pub fn config_value(key: &str) -> Option<String> {
    config::get(key).map(|value| value.trim().to_string()).filter(|value| !value.is_empty())
}

/// A config value read as `T` from its JSON form; `Ok(None)` when unset, and an error naming
/// the key when it does not fit (so the policy can say which setting is wrong).
pub fn config_json<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, String> {
    let Some(text) = config_value(key) else { return Ok(None) };
    serde_json::from_str(&text).map(Some).map_err(|error| format!("config value `{key}` is not valid: {error}"))
}

/// A list of strings: a TOML array, or one comma-separated string; empty when unset.
pub fn config_list(key: &str) -> Vec<String> {
    let Some(text) = config_value(key) else { return Vec::new() };
    match serde_json::from_str::<Vec<String>>(&text) {
        Ok(items) => items.into_iter().map(|item| item.trim().to_string()).filter(|item| !item.is_empty()).collect(),
        Err(_) => text.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_string).collect(),
    }
}
