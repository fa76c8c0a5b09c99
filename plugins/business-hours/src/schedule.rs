//! The weekly schedule and the holidays, read from what config spells. Pure: no host imports,
//! tested natively.
//!
//! A schedule is a table of weekdays to shifts, `mon = ["09:00-13:00", "14:00-18:00"]`. A day
//! left out is closed. A shift never runs past midnight: one that should is written as two, the
//! evening ending at `24:00` and the next day starting at `00:00`, so every shift belongs to
//! exactly one local date and a holiday closes exactly that date.

use std::collections::BTreeSet;

use chrono::{NaiveDate, Weekday};
use serde_json::Value;

/// Minutes in a day: `24:00`, where a shift may end.
pub const DAY_MINUTES: u16 = 24 * 60;

/// The config keys of the days, Monday first (the index is `Weekday::num_days_from_monday`).
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// The same days spelled out, also accepted as keys.
const DAY_NAMES: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// One opening on a day, in minutes since local midnight: open from `start` (included) until
/// `end` (excluded), `end` at most [`DAY_MINUTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Shift {
    pub start: u16,
    pub end: u16,
}

impl Shift {
    /// `"09:00-13:00"` (spaces around the parts are fine). `None` when it is not two times, or
    /// it ends before it starts.
    pub fn parse(text: &str) -> Option<Self> {
        let (start, end) = text.split_once('-')?;
        let (start, end) = (parse_time(start)?, parse_time(end)?);
        (start < end && start < DAY_MINUTES).then_some(Self { start, end })
    }
}

/// `"HH:MM"` (or `"H:MM"`) as minutes since midnight, `"24:00"` included.
fn parse_time(text: &str) -> Option<u16> {
    let (hours, minutes) = text.trim().split_once(':')?;
    let digits = |part: &str, len: std::ops::RangeInclusive<usize>| {
        (len.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())).then(|| part.parse::<u16>().ok())?
    };
    let (hours, minutes) = (digits(hours, 1..=2)?, digits(minutes, 2..=2)?);
    let fits = (hours < 24 && minutes < 60) || (hours == 24 && minutes == 0);
    fits.then_some(hours * 60 + minutes)
}

/// `"HH:MM"`, for messages.
pub fn format_time(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The shifts of each weekday, sorted, never overlapping; back-to-back shifts are merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    days: [Vec<Shift>; 7],
}

impl Schedule {
    /// A schedule from shifts per weekday, checked like config's (for tests and callers that
    /// build one by hand).
    pub fn from_days(days: &[(Weekday, &[&str])]) -> Result<Self, String> {
        let mut table = serde_json::Map::new();
        for (day, shifts) in days {
            let key = DAYS[day.num_days_from_monday() as usize];
            let shifts = shifts.iter().map(|shift| Value::String((*shift).into()));
            table.insert(key.into(), Value::Array(shifts.collect()));
        }
        parse_schedule(&Value::Object(table))
    }

    /// The shifts on a weekday, earliest first.
    pub fn shifts(&self, day: Weekday) -> &[Shift] {
        &self.days[day.num_days_from_monday() as usize]
    }

    /// Whether no day has a shift: such a schedule never opens.
    pub fn is_empty(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }
}

/// The `schedule` setting, as its JSON form: a table of days to a list of shifts (or one shift
/// as a string). The errors name the setting and the day, since an admin reads them in the log.
pub fn parse_schedule(value: &Value) -> Result<Schedule, String> {
    let Value::Object(table) = value else {
        return Err(r#"config value `schedule` must be a table of days to shifts, like `mon = ["09:00-17:00"]`"#.into());
    };
    let mut days: [Vec<(Shift, &str)>; 7] = Default::default();
    for (key, shifts) in table {
        let Some(day) = day_index(key) else {
            return Err(format!("config value `schedule` has an unknown day `{key}`: use {}", DAYS.join(", ")));
        };
        let texts: Vec<&str> = match shifts {
            Value::String(text) => vec![text.as_str()],
            Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().ok_or_else(|| not_a_shift(DAYS[day], &item.to_string())))
                .collect::<Result<_, _>>()?,
            other => return Err(not_a_shift(DAYS[day], &other.to_string())),
        };
        for text in texts {
            let shift = Shift::parse(text).ok_or_else(|| not_a_shift(DAYS[day], text))?;
            days[day].push((shift, text));
        }
    }
    let mut schedule = Schedule::default();
    for (day, mut shifts) in days.into_iter().enumerate() {
        shifts.sort();
        for pair in shifts.windows(2) {
            let ((first, first_text), (second, second_text)) = (pair[0], pair[1]);
            if second.start < first.end {
                return Err(format!(
                    "config value `schedule`: {} shifts `{}` and `{}` overlap",
                    DAYS[day],
                    first_text.trim(),
                    second_text.trim()
                ));
            }
        }
        schedule.days[day] = merge(shifts.into_iter().map(|(shift, _)| shift));
    }
    Ok(schedule)
}

/// Sorted, non-overlapping shifts with back-to-back ones joined (`09:00-13:00` and
/// `13:00-18:00` are one opening: no closing at 13:00 to start a closed period from).
fn merge(shifts: impl Iterator<Item = Shift>) -> Vec<Shift> {
    let mut merged: Vec<Shift> = Vec::new();
    for shift in shifts {
        match merged.last_mut() {
            Some(last) if last.end == shift.start => last.end = shift.end,
            _ => merged.push(shift),
        }
    }
    merged
}

fn day_index(key: &str) -> Option<usize> {
    let key = key.trim().to_ascii_lowercase();
    DAYS.iter().position(|day| *day == key).or_else(|| DAY_NAMES.iter().position(|day| *day == key))
}

fn not_a_shift(day: &str, text: &str) -> String {
    format!(
        "config value `schedule`: {day} shift `{}` is not \"HH:MM-HH:MM\" with the start before the end \
         (a shift past midnight is two: one to \"24:00\", one from \"00:00\" the next day)",
        text.trim()
    )
}

/// The `holidays` setting: local dates, `"YYYY-MM-DD"`, closed all day.
pub fn parse_holidays(items: &[String]) -> Result<BTreeSet<NaiveDate>, String> {
    items
        .iter()
        .map(|item| {
            parse_date(item)
                .ok_or_else(|| format!("config value `holidays`: `{item}` is not a date like \"2025-12-25\""))
        })
        .collect()
}

/// `"YYYY-MM-DD"`, strictly: four, two and two digits, and a real date.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let mut parts = text.trim().split('-');
    let mut number = |len: usize| {
        let part = parts.next()?;
        (part.len() == len && part.bytes().all(|b| b.is_ascii_digit())).then(|| part.parse::<u32>().ok())?
    };
    let (year, month, day) = (number(4)?, number(2)?, number(2)?);
    if parts.next().is_some() {
        return None;
    }
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shift(start: &str, end: &str) -> Shift {
        Shift { start: parse_time(start).expect("start"), end: parse_time(end).expect("end") }
    }

    #[test]
    fn times_are_hours_and_minutes() {
        assert_eq!(parse_time("09:00"), Some(540));
        assert_eq!(parse_time("9:30"), Some(570));
        assert_eq!(parse_time(" 18:45 "), Some(1125));
        assert_eq!(parse_time("00:00"), Some(0));
        assert_eq!(parse_time("24:00"), Some(DAY_MINUTES));
        for bad in ["24:01", "25:00", "12:60", "12", "12:5", "123:00", "ab:cd", "-1:00", "", "12:00:00"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(format_time(540), "09:00");
        assert_eq!(format_time(DAY_MINUTES), "24:00");
    }

    #[test]
    fn shifts_start_before_they_end() {
        assert_eq!(Shift::parse("09:00-13:00"), Some(shift("09:00", "13:00")));
        assert_eq!(Shift::parse(" 22:00 - 24:00 "), Some(shift("22:00", "24:00")));
        assert_eq!(Shift::parse("18:00-09:00"), None, "past midnight");
        assert_eq!(Shift::parse("09:00-09:00"), None, "empty");
        assert_eq!(Shift::parse("24:00-24:00"), None);
        assert_eq!(Shift::parse("09:00"), None);
        assert_eq!(Shift::parse("09:00-13:00-14:00"), None);
    }

    #[test]
    fn split_shifts_are_kept_apart_and_sorted() {
        let schedule =
            parse_schedule(&json!({"mon": ["14:00-18:00", "09:00-13:00"], "Tuesday": "10:00-12:00"})).expect("valid");
        assert_eq!(schedule.shifts(Weekday::Mon), [shift("09:00", "13:00"), shift("14:00", "18:00")]);
        assert_eq!(schedule.shifts(Weekday::Tue), [shift("10:00", "12:00")]);
        assert!(schedule.shifts(Weekday::Sun).is_empty(), "a missing day is closed");
        assert!(!schedule.is_empty());
    }

    #[test]
    fn back_to_back_shifts_merge() {
        let schedule = parse_schedule(&json!({"fri": ["13:00-18:00", "09:00-13:00", "22:00-24:00"]})).expect("valid");
        assert_eq!(schedule.shifts(Weekday::Fri), [shift("09:00", "18:00"), shift("22:00", "24:00")]);
    }

    #[test]
    fn overlapping_shifts_are_refused_by_name() {
        let error = parse_schedule(&json!({"wed": ["09:00-13:00", "12:00-18:00"]})).expect_err("overlap");
        assert!(error.contains("`schedule`") && error.contains("wed"), "{error}");
        assert!(error.contains("09:00-13:00") && error.contains("12:00-18:00"), "{error}");
        let error = parse_schedule(&json!({"wed": ["09:00-18:00", "10:00-11:00"]})).expect_err("contained");
        assert!(error.contains("overlap"), "{error}");
    }

    #[test]
    fn invalid_schedules_name_the_setting() {
        let cases = [
            json!(["09:00-17:00"]),
            json!({"mon": ["9-5"]}),
            json!({"mon": ["18:00-09:00"]}),
            json!({"mon": [9]}),
            json!({"mon": 9}),
            json!({"funday": ["09:00-17:00"]}),
        ];
        for case in cases {
            let error = parse_schedule(&case).expect_err("invalid");
            assert!(error.starts_with("config value `schedule`"), "{case}: {error}");
        }
        let error = parse_schedule(&json!({"mon": ["18:00-02:00"]})).expect_err("past midnight");
        assert!(error.contains("24:00"), "says how to write it: {error}");
    }

    #[test]
    fn an_empty_day_list_is_closed() {
        let schedule = parse_schedule(&json!({"sat": []})).expect("valid");
        assert!(schedule.is_empty());
    }

    #[test]
    fn from_days_builds_the_same_schedule() {
        let built = Schedule::from_days(&[(Weekday::Mon, &["09:00-13:00", "14:00-18:00"])]).expect("valid");
        let parsed = parse_schedule(&json!({"mon": ["09:00-13:00", "14:00-18:00"]})).expect("valid");
        assert_eq!(built, parsed);
    }

    #[test]
    fn holidays_are_strict_dates() {
        let holidays = parse_holidays(&["2025-12-25".into(), " 2026-01-01 ".into()]).expect("valid");
        assert!(holidays.contains(&NaiveDate::from_ymd_opt(2025, 12, 25).expect("date")));
        assert!(holidays.contains(&NaiveDate::from_ymd_opt(2026, 1, 1).expect("date")));
        for bad in ["2025-02-30", "25-12-25", "2025-1-01", "2025/12/25", "2025-12-25-1", "christmas"] {
            let error = parse_holidays(&[bad.into()]).expect_err(bad);
            assert!(error.contains("`holidays`") && error.contains(bad), "{error}");
        }
        assert!(parse_holidays(&[]).expect("none").is_empty());
    }
}
