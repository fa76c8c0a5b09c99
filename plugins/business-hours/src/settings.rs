//! The policy's settings, checked. Pure: [`Settings::new`] takes the values as the SDK's config
//! helpers read them, so the checks are tested natively.

use chrono_tz::Tz;
use serde_json::Value;

use crate::hours::Hours;
use crate::schedule::{parse_holidays, parse_schedule};

/// The policy's name when the host does not pass one (it always should).
pub const DEFAULT_NAME: &str = "business-hours";

/// The auto-reply when `auto_reply` is unset; `{opens}` becomes the next opening.
pub const DEFAULT_AUTO_REPLY: &str =
    "Thanks for your message. We're closed right now and will answer when we open ({opens}).";

/// The config values, as read: strings trimmed and `None` when blank, JSON ones parsed.
#[derive(Debug, Clone, Default)]
pub struct Raw {
    /// `name`: the policy's configured name, which the host sets.
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub schedule: Option<Value>,
    pub holidays: Vec<String>,
    pub after_hours_team: Option<String>,
    pub auto_reply: Option<String>,
    pub auto_reply_enabled: Option<bool>,
}

/// What [`crate::decide::decide`] works from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This policy's name, as its auto-replies are recorded under (`auto-reply.policy`).
    pub name: String,
    pub hours: Hours,
    /// The team (by name) that takes conversations out of hours.
    pub after_hours_team: Option<String>,
    /// The text sent out of hours, `{opens}` not yet replaced; `None` when turned off.
    pub auto_reply: Option<String>,
}

impl Settings {
    /// Check the values. Errors name the setting, for the admin reading the host's log.
    pub fn new(raw: Raw) -> Result<Self, String> {
        let timezone =
            raw.timezone.ok_or("config value `timezone` is required: an IANA name like \"Europe/Madrid\"")?;
        let zone: Tz = timezone.parse().map_err(|_| {
            format!("config value `timezone`: `{timezone}` is not an IANA time zone (like \"Europe/Madrid\")")
        })?;
        let schedule = raw
            .schedule
            .ok_or(r#"config value `schedule` is required: a table of days to shifts, like `mon = ["09:00-17:00"]`"#)?;
        let schedule = parse_schedule(&schedule)?;
        if schedule.is_empty() {
            return Err("config value `schedule` has no shifts: the policy would never open".into());
        }
        let holidays = parse_holidays(&raw.holidays)?;
        let auto_reply = match raw.auto_reply_enabled {
            Some(false) => None,
            _ => Some(raw.auto_reply.unwrap_or_else(|| DEFAULT_AUTO_REPLY.into())),
        };
        Ok(Self {
            name: raw.name.unwrap_or_else(|| DEFAULT_NAME.into()),
            hours: Hours { zone, schedule, holidays },
            after_hours_team: raw.after_hours_team,
            auto_reply,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw() -> Raw {
        Raw {
            timezone: Some("Europe/Madrid".into()),
            schedule: Some(json!({"mon": ["09:00-17:00"]})),
            ..Raw::default()
        }
    }

    #[test]
    fn defaults_fill_in() {
        let settings = Settings::new(raw()).expect("valid");
        assert_eq!(settings.name, DEFAULT_NAME);
        assert_eq!(settings.hours.zone, chrono_tz::Europe::Madrid);
        assert_eq!(settings.auto_reply.as_deref(), Some(DEFAULT_AUTO_REPLY));
        assert_eq!(settings.after_hours_team, None);
        assert!(settings.hours.holidays.is_empty());
    }

    #[test]
    fn values_are_taken() {
        let settings = Settings::new(Raw {
            name: Some("hours-es".into()),
            holidays: vec!["2025-12-25".into()],
            after_hours_team: Some("Night shift".into()),
            auto_reply: Some("Back at {opens}".into()),
            auto_reply_enabled: Some(true),
            ..raw()
        })
        .expect("valid");
        assert_eq!(settings.name, "hours-es");
        assert_eq!(settings.auto_reply.as_deref(), Some("Back at {opens}"));
        assert_eq!(settings.after_hours_team.as_deref(), Some("Night shift"));
        assert_eq!(settings.hours.holidays.len(), 1);
    }

    #[test]
    fn auto_reply_can_be_turned_off() {
        let settings = Settings::new(Raw { auto_reply_enabled: Some(false), auto_reply: Some("x".into()), ..raw() });
        assert_eq!(settings.expect("valid").auto_reply, None);
    }

    #[test]
    fn the_readme_example_is_valid() {
        // README.md's TOML as the host hands it over: strings as they are, the rest as JSON.
        let schedule: Value = serde_json::from_str(
            r#"{"mon": ["09:00-13:00", "14:00-18:00"], "tue": ["09:00-13:00", "14:00-18:00"],
                "wed": ["09:00-13:00", "14:00-18:00"], "thu": ["09:00-13:00", "14:00-18:00"], "fri": ["09:00-15:00"]}"#,
        )
        .expect("json");
        let settings = Settings::new(Raw {
            name: Some("business-hours".into()),
            timezone: Some("Europe/Madrid".into()),
            schedule: Some(schedule),
            holidays: vec!["2025-12-25".into(), "2026-01-01".into(), "2026-01-06".into()],
            after_hours_team: Some("After hours".into()),
            auto_reply: Some("Gracias por escribirnos. Ahora estamos cerrados; abrimos {opens}.".into()),
            auto_reply_enabled: None,
        })
        .expect("valid");
        assert_eq!(settings.hours.holidays.len(), 3);
    }

    #[test]
    fn errors_name_the_setting() {
        let cases = [
            (Raw { timezone: None, ..raw() }, "`timezone`"),
            (Raw { timezone: Some("Europe/Madird".into()), ..raw() }, "`timezone`"),
            (Raw { timezone: Some("CET+1".into()), ..raw() }, "`timezone`"),
            (Raw { schedule: None, ..raw() }, "`schedule`"),
            (Raw { schedule: Some(json!({})), ..raw() }, "`schedule`"),
            (Raw { schedule: Some(json!({"mon": ["09:00-13:00", "12:00-17:00"]})), ..raw() }, "`schedule`"),
            (Raw { holidays: vec!["2025-13-01".into()], ..raw() }, "`holidays`"),
        ];
        for (raw, key) in cases {
            let error = Settings::new(raw).expect_err("invalid");
            assert!(error.contains(key), "{key}: {error}");
        }
    }
}
