//! Durations as an agent reads them in a reason: "45 s", "2 min", "3 h", "2 days". Rounded
//! down: the reason explains a choice, it is not a report.

/// `ms` in the largest unit that keeps it at least 1 (hours up to two days).
pub fn human(ms: u64) -> String {
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

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn picks_a_readable_unit() {
        assert_eq!(human(45_000), "45 s");
        assert_eq!(human(150_000), "2 min");
        assert_eq!(human(3 * 3_600_000 + 59 * 60_000), "3 h");
        assert_eq!(human(30 * 3_600_000), "30 h");
        assert_eq!(human(3 * 86_400_000), "3 days");
    }
}
