//! Open or closed at an instant, when it opens next, and since when it has been closed. Pure:
//! every function takes the instant (milliseconds since the Unix epoch) and the zone
//! explicitly, and is tested natively.
//!
//! Shifts are local wall-clock times; each local date's shifts are turned into instants in the
//! zone, and all three questions are answered on those instants, so they agree with each other
//! on the days the clocks change:
//! - a time the clocks skip (02:30 on a spring-forward night) means the moment they land
//!   (03:00): a shift starting in the gap opens then, one lying wholly in the gap never opens;
//! - a time that happens twice (02:30 on a fall-back night) means its first occurrence.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike};
use chrono_tz::Tz;

use crate::schedule::{DAY_MINUTES, Schedule};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// How far back a closed period is looked for; a policy closed longer than this (a long
/// holiday) counts its closed period from this far back, so the customer is answered again.
pub const CLOSED_LOOKBACK_DAYS: i64 = 14;
/// How far ahead the next opening is looked for. A year of holidays is not a schedule.
const OPENING_HORIZON_DAYS: i64 = 400;
/// The longest clock jump in the database is a whole day (Samoa, December 2011).
const LONGEST_GAP_MINUTES: i64 = 26 * 60;

/// A schedule in a time zone, with the local dates that are closed all day.
#[derive(Debug, Clone)]
pub struct Hours {
    pub zone: Tz,
    pub schedule: Schedule,
    pub holidays: BTreeSet<NaiveDate>,
}

impl Hours {
    /// The instant as local time; `None` only for instants chrono cannot represent.
    pub fn local(&self, at_ms: i64) -> Option<DateTime<Tz>> {
        self.zone.timestamp_millis_opt(at_ms).single()
    }

    /// The openings of one local date as instants `[start, end)`, earliest first: none on a
    /// holiday, none for a shift the clocks skip entirely.
    pub fn openings_on(&self, date: NaiveDate) -> Vec<(i64, i64)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        self.schedule
            .shifts(date.weekday())
            .iter()
            .filter_map(|shift| {
                let start = self.instant(date, shift.start)?;
                let end = self.instant(date, shift.end)?;
                (start < end).then_some((start, end))
            })
            .collect()
    }

    /// Whether `at_ms` falls within an opening.
    pub fn is_open(&self, at_ms: i64) -> bool {
        let Some(today) = self.local(at_ms).map(|now| now.date_naive()) else { return false };
        // Yesterday too: with the clocks moved, its last shift may reach into today.
        [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .flat_map(|date| self.openings_on(date))
            .any(|(start, end)| start <= at_ms && at_ms < end)
    }

    /// The first opening that starts after `at_ms`, in local time; `None` if none does within
    /// [`OPENING_HORIZON_DAYS`] (a schedule without shifts, or holidays all the way).
    pub fn next_opening(&self, at_ms: i64) -> Option<DateTime<Tz>> {
        let today = self.local(at_ms)?.date_naive();
        (0..=OPENING_HORIZON_DAYS)
            .filter_map(|days| today.checked_add_signed(TimeDelta::days(days)))
            .flat_map(|date| self.openings_on(date))
            .find(|(start, _)| *start > at_ms)
            .and_then(|(start, _)| self.local(start))
    }

    /// When the closed period around `at_ms` began: the end of the last opening that ended by
    /// then, across days and holidays, or [`CLOSED_LOOKBACK_DAYS`] before `at_ms` when nothing
    /// was open that recently. Meaningful while closed (open, it is the previous closing).
    pub fn closed_since(&self, at_ms: i64) -> i64 {
        let floor = at_ms.saturating_sub(CLOSED_LOOKBACK_DAYS * DAY_MS);
        let Some(today) = self.local(at_ms).map(|now| now.date_naive()) else { return floor };
        (0..=CLOSED_LOOKBACK_DAYS + 1)
            .filter_map(|days| today.checked_sub_signed(TimeDelta::days(days)))
            .flat_map(|date| self.openings_on(date).into_iter().rev())
            .map(|(_, end)| end)
            .find(|end| *end <= at_ms)
            .map_or(floor, |end| end.max(floor))
    }

    /// `minutes` after local midnight of `date` (1440 is the next midnight) as an instant, with
    /// the module's rules for skipped and repeated times.
    fn instant(&self, date: NaiveDate, minutes: u16) -> Option<i64> {
        let midnight = date.and_hms_opt(0, 0, 0)?;
        let wall = midnight.checked_add_signed(TimeDelta::minutes(i64::from(minutes.min(DAY_MINUTES))))?;
        (0..=LONGEST_GAP_MINUTES).find_map(|late| {
            let wall: NaiveDateTime = wall.checked_add_signed(TimeDelta::minutes(late))?;
            match self.zone.from_local_datetime(&wall) {
                LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Some(at.timestamp_millis()),
                LocalResult::None => None,
            }
        })
    }
}

/// An opening as the customer reads it, in the zone's local time: `"Mon 09:00"` when it is
/// less than a week ahead, `"Mon 13 Jan 09:00"` when further (a long holiday), so the weekday
/// alone is never ambiguous. English, like the default auto-reply.
pub fn describe_opening(opens: &DateTime<Tz>, now: &DateTime<Tz>) -> String {
    const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let weekday = WEEKDAYS[opens.weekday().num_days_from_monday() as usize];
    let time = format!("{:02}:{:02}", opens.hour(), opens.minute());
    let days_ahead = opens.date_naive().signed_duration_since(now.date_naive()).num_days();
    if days_ahead < 7 {
        format!("{weekday} {time}")
    } else {
        format!("{weekday} {} {} {time}", opens.day(), MONTHS[opens.month0() as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday::{Fri, Mon, Sat, Sun, Thu, Tue, Wed};
    use chrono::{Utc, Weekday};
    use chrono_tz::Europe::Madrid;

    /// Mon–Fri 09:00–13:00 and 14:00–18:00 in Madrid; weekends closed.
    fn office() -> Hours {
        let split: &[&str] = &["09:00-13:00", "14:00-18:00"];
        hours(&[(Mon, split), (Tue, split), (Wed, split), (Thu, split), (Fri, split)], &[])
    }

    fn hours(days: &[(Weekday, &[&str])], holidays: &[(i32, u32, u32)]) -> Hours {
        Hours {
            zone: Madrid,
            schedule: Schedule::from_days(days).expect("valid schedule"),
            holidays: holidays.iter().map(|&(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).expect("date")).collect(),
        }
    }

    /// A Madrid wall-clock time (unambiguous ones only) as an instant.
    fn madrid(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        Madrid.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("unambiguous local time").timestamp_millis()
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("time").timestamp_millis()
    }

    fn opening(hours: &Hours, at: i64) -> Option<String> {
        let now = hours.local(at)?;
        hours.next_opening(at).map(|opens| describe_opening(&opens, &now))
    }

    // 2025-06-02 is a Monday.

    #[test]
    fn split_shifts_close_at_lunch() {
        let office = office();
        assert!(!office.is_open(madrid(2025, 6, 2, 8, 59)));
        assert!(office.is_open(madrid(2025, 6, 2, 9, 0)), "the start is included");
        assert!(office.is_open(madrid(2025, 6, 2, 12, 59)));
        assert!(!office.is_open(madrid(2025, 6, 2, 13, 0)), "the end is excluded");
        assert!(!office.is_open(madrid(2025, 6, 2, 13, 30)));
        assert!(office.is_open(madrid(2025, 6, 2, 14, 0)));
        assert!(!office.is_open(madrid(2025, 6, 2, 18, 0)));
    }

    #[test]
    fn ten_at_night_on_a_weekday_is_closed() {
        assert!(!office().is_open(madrid(2025, 6, 4, 22, 0)));
    }

    #[test]
    fn weekends_are_closed() {
        let office = office();
        assert!(!office.is_open(madrid(2025, 6, 7, 11, 0)), "Saturday");
        assert!(!office.is_open(madrid(2025, 6, 8, 11, 0)), "Sunday");
    }

    #[test]
    fn the_zone_decides_not_utc() {
        // 09:30 in Madrid in June is 07:30 UTC.
        let office = office();
        assert!(office.is_open(utc(2025, 6, 2, 7, 30)));
        assert!(!office.is_open(utc(2025, 6, 2, 16, 30)), "18:30 local");
        assert!(office.is_open(utc(2025, 6, 2, 15, 30)), "17:30 local");
    }

    #[test]
    fn holidays_close_the_whole_day() {
        let office = hours(&[(Mon, &["09:00-18:00"]), (Tue, &["09:00-18:00"])], &[(2025, 6, 2)]);
        assert!(!office.is_open(madrid(2025, 6, 2, 11, 0)));
        assert!(office.is_open(madrid(2025, 6, 3, 11, 0)));
    }

    #[test]
    fn a_shift_to_midnight_runs_into_the_next_day_s_shift() {
        let late = hours(&[(Fri, &["20:00-24:00"]), (Sat, &["00:00-02:00"])], &[]);
        assert!(late.is_open(madrid(2025, 6, 6, 23, 59)));
        assert!(late.is_open(madrid(2025, 6, 7, 0, 0)));
        assert!(late.is_open(madrid(2025, 6, 7, 1, 59)));
        assert!(!late.is_open(madrid(2025, 6, 7, 2, 0)));
        assert_eq!(late.closed_since(madrid(2025, 6, 7, 5, 0)), madrid(2025, 6, 7, 2, 0));
    }

    #[test]
    fn next_opening_after_lunch_and_overnight() {
        let office = office();
        assert_eq!(opening(&office, madrid(2025, 6, 2, 13, 30)).as_deref(), Some("Mon 14:00"));
        assert_eq!(opening(&office, madrid(2025, 6, 2, 22, 0)).as_deref(), Some("Tue 09:00"));
        assert_eq!(opening(&office, madrid(2025, 6, 3, 7, 0)).as_deref(), Some("Tue 09:00"));
    }

    #[test]
    fn next_opening_across_a_weekend() {
        let office = office();
        let friday_evening = madrid(2025, 6, 6, 19, 0);
        assert_eq!(office.next_opening(friday_evening).map(|at| at.timestamp_millis()), Some(madrid(2025, 6, 9, 9, 0)));
        assert_eq!(opening(&office, friday_evening).as_deref(), Some("Mon 09:00"));
        assert_eq!(opening(&office, madrid(2025, 6, 8, 12, 0)).as_deref(), Some("Mon 09:00"));
    }

    #[test]
    fn next_opening_across_a_weekend_and_a_holiday() {
        let split: &[&str] = &["09:00-13:00", "14:00-18:00"];
        let office = hours(&[(Mon, split), (Tue, split), (Wed, split), (Thu, split), (Fri, split)], &[(2025, 6, 9)]);
        assert_eq!(opening(&office, madrid(2025, 6, 6, 19, 0)).as_deref(), Some("Tue 09:00"));
        assert_eq!(office.closed_since(madrid(2025, 6, 9, 12, 0)), madrid(2025, 6, 6, 18, 0));
    }

    #[test]
    fn an_opening_a_week_away_carries_its_date() {
        // Holidays the whole week after Friday 6 June: opens Monday 16 June.
        let split: &[&str] = &["09:00-18:00"];
        let holidays = [(2025, 6, 9), (2025, 6, 10), (2025, 6, 11), (2025, 6, 12), (2025, 6, 13)];
        let office = hours(&[(Mon, split), (Tue, split), (Wed, split), (Thu, split), (Fri, split)], &holidays);
        assert_eq!(opening(&office, madrid(2025, 6, 6, 19, 0)).as_deref(), Some("Mon 16 Jun 09:00"));
    }

    #[test]
    fn a_schedule_without_shifts_never_opens() {
        let never = hours(&[], &[]);
        let at = madrid(2025, 6, 2, 11, 0);
        assert!(!never.is_open(at));
        assert_eq!(never.next_opening(at), None);
        assert_eq!(never.closed_since(at), at - CLOSED_LOOKBACK_DAYS * DAY_MS);
    }

    #[test]
    fn closed_since_is_the_last_closing() {
        let office = office();
        assert_eq!(office.closed_since(madrid(2025, 6, 2, 13, 30)), madrid(2025, 6, 2, 13, 0), "lunch");
        assert_eq!(office.closed_since(madrid(2025, 6, 2, 22, 0)), madrid(2025, 6, 2, 18, 0), "evening");
        assert_eq!(office.closed_since(madrid(2025, 6, 3, 8, 0)), madrid(2025, 6, 2, 18, 0), "past midnight");
        assert_eq!(office.closed_since(madrid(2025, 6, 8, 10, 0)), madrid(2025, 6, 6, 18, 0), "weekend");
        assert_eq!(office.closed_since(madrid(2025, 6, 2, 18, 0)), madrid(2025, 6, 2, 18, 0), "at the closing");
    }

    #[test]
    fn closed_since_looks_back_fourteen_days_at_most() {
        let weekly = hours(&[(Mon, &["09:00-10:00"])], &[(2025, 6, 9), (2025, 6, 16)]);
        // Last open Monday 2 June; on Wednesday 18 June that is over 14 days ago.
        let at = madrid(2025, 6, 18, 12, 0);
        assert_eq!(weekly.closed_since(at), at - CLOSED_LOOKBACK_DAYS * DAY_MS);
        // On Sunday 15 June it is within.
        assert_eq!(weekly.closed_since(madrid(2025, 6, 15, 12, 0)), madrid(2025, 6, 2, 10, 0));
    }

    // Madrid moves its clocks on Sunday 30 March 2025 (02:00 CET → 03:00 CEST, at 01:00 UTC)
    // and on Sunday 26 October 2025 (03:00 CEST → 02:00 CET, at 01:00 UTC).

    #[test]
    fn spring_forward_moves_opening_by_an_hour_in_utc() {
        let office = office();
        // Friday before, 09:00 CET is 08:00 UTC; Monday after, 09:00 CEST is 07:00 UTC.
        assert!(office.is_open(utc(2025, 3, 28, 8, 0)));
        assert!(!office.is_open(utc(2025, 3, 28, 7, 30)));
        assert!(office.is_open(utc(2025, 3, 31, 7, 0)));
        assert!(!office.is_open(utc(2025, 3, 31, 6, 30)));
        let saturday = utc(2025, 3, 29, 12, 0);
        assert_eq!(office.next_opening(saturday).map(|at| at.timestamp_millis()), Some(utc(2025, 3, 31, 7, 0)));
        assert_eq!(opening(&office, saturday).as_deref(), Some("Mon 09:00"));
        // The closed period began Friday 18:00 CET, 17:00 UTC.
        assert_eq!(office.closed_since(utc(2025, 3, 31, 6, 0)), utc(2025, 3, 28, 17, 0));
    }

    #[test]
    fn a_shift_starting_in_the_skipped_hour_opens_when_the_clocks_land() {
        let night = hours(&[(Sun, &["02:30-05:00"])], &[]);
        // 02:30 does not exist on 30 March; it opens at 03:00 CEST (01:00 UTC).
        assert!(!night.is_open(utc(2025, 3, 30, 0, 59)));
        assert!(night.is_open(utc(2025, 3, 30, 1, 0)));
        assert!(night.is_open(utc(2025, 3, 30, 2, 59)), "04:59 CEST");
        assert!(!night.is_open(utc(2025, 3, 30, 3, 0)), "05:00 CEST");
        let saturday = madrid(2025, 3, 29, 12, 0);
        assert_eq!(opening(&night, saturday).as_deref(), Some("Sun 03:00"));
    }

    #[test]
    fn a_shift_wholly_in_the_skipped_hour_never_opens() {
        let gap = hours(&[(Sun, &["02:00-02:45"])], &[]);
        assert!(!gap.is_open(utc(2025, 3, 30, 1, 0)));
        assert!(!gap.is_open(utc(2025, 3, 30, 0, 59)));
        // The next one is a week later, at 02:00 CEST.
        let saturday = madrid(2025, 3, 29, 12, 0);
        assert_eq!(gap.next_opening(saturday).map(|at| at.timestamp_millis()), Some(madrid(2025, 4, 6, 2, 0)));
    }

    #[test]
    fn fall_back_keeps_the_shift_on_the_wall_clock() {
        let office = office();
        // Friday 24 October 18:00 CEST is 16:00 UTC; Monday 27 October 09:00 CET is 08:00 UTC.
        assert!(office.is_open(utc(2025, 10, 24, 15, 59)));
        assert!(!office.is_open(utc(2025, 10, 24, 16, 0)));
        assert!(!office.is_open(utc(2025, 10, 27, 7, 30)));
        assert!(office.is_open(utc(2025, 10, 27, 8, 0)));
        let sunday = utc(2025, 10, 26, 12, 0);
        assert_eq!(office.next_opening(sunday).map(|at| at.timestamp_millis()), Some(utc(2025, 10, 27, 8, 0)));
        assert_eq!(office.closed_since(sunday), utc(2025, 10, 24, 16, 0));
    }

    #[test]
    fn a_night_shift_over_the_repeated_hour_covers_both() {
        let night = hours(&[(Sun, &["01:00-03:00"])], &[]);
        // 01:00 CEST (23:00 UTC Saturday) until 03:00 CET (02:00 UTC): three real hours.
        assert!(!night.is_open(utc(2025, 10, 25, 22, 59)));
        assert!(night.is_open(utc(2025, 10, 25, 23, 0)));
        assert!(night.is_open(utc(2025, 10, 26, 0, 30)), "02:30 CEST");
        assert!(night.is_open(utc(2025, 10, 26, 1, 30)), "02:30 CET");
        assert!(!night.is_open(utc(2025, 10, 26, 2, 0)));
        assert_eq!(night.closed_since(utc(2025, 10, 26, 5, 0)), utc(2025, 10, 26, 2, 0));
    }

    #[test]
    fn sunday_opening_schedule_answers_on_sunday() {
        let shop = hours(&[(Sun, &["10:00-14:00"]), (Sat, &["10:00-14:00"])], &[]);
        assert!(shop.is_open(madrid(2025, 6, 8, 10, 0)));
        assert!(!shop.is_open(madrid(2025, 6, 9, 10, 0)), "Monday");
        assert_eq!(opening(&shop, madrid(2025, 6, 9, 10, 0)).as_deref(), Some("Sat 10:00"));
        assert_eq!(opening(&shop, madrid(2025, 6, 8, 8, 0)).as_deref(), Some("Sun 10:00"));
    }
}
