//! RFC 3339 timestamps in UTC, from Unix time, without a date library.

use std::time::Duration;

const SECONDS_PER_DAY: u64 = 86_400;
const SECONDS_PER_HOUR: u64 = 3_600;
const SECONDS_PER_MINUTE: u64 = 60;
/// Days from 0000-03-01 (proleptic Gregorian) to 1970-01-01.
const DAYS_FROM_EPOCH_0000_03_01: u64 = 719_468;
/// Days in a 400-year Gregorian era.
const DAYS_PER_ERA: u64 = 146_097;

/// `2026-11-27T10:00:00.123Z`: Unix time as RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339_utc(unix_time: Duration) -> String {
    let seconds = unix_time.as_secs();
    let (year, month, day) = civil_date(seconds / SECONDS_PER_DAY);
    let of_day = seconds % SECONDS_PER_DAY;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / SECONDS_PER_HOUR,
        of_day % SECONDS_PER_HOUR / SECONDS_PER_MINUTE,
        of_day % SECONDS_PER_MINUTE,
        unix_time.subsec_millis()
    )
}

/// Year, month (1–12) and day (1–31) of a count of days since 1970-01-01.
///
/// Counts years from March so that the leap day is the last day of a year: a year of the
/// shifted calendar then has 365 days plus one every 4, less one every 100, plus one every
/// 400, and months from March have the regular lengths 31 30 31 30 31 31 30 31 30 31 31 28/29.
fn civil_date(days_since_epoch: u64) -> (u64, u64, u64) {
    let days = days_since_epoch + DAYS_FROM_EPOCH_0000_03_01;
    let era = days / DAYS_PER_ERA;
    let day_of_era = days % DAYS_PER_ERA;
    // Leap days before this day within the era: one each 4 years (1460 days), none each 100
    // years (36524 days), one again at the era's last day (146096).
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 153 days per 5 months (31 30 31 30 31).
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339_utc(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day of a 400-year leap year) 12:34:56.789.
        assert_eq!(
            rfc3339_utc(Duration::from_millis(951_827_696_789)),
            "2000-02-29T12:34:56.789Z"
        );
        assert_eq!(
            rfc3339_utc(Duration::from_secs(1_709_251_199)),
            "2024-02-29T23:59:59.000Z"
        );
        assert_eq!(
            rfc3339_utc(Duration::from_secs(4_107_542_400)),
            "2100-03-01T00:00:00.000Z"
        );
    }

    #[test]
    fn every_day_follows_the_previous_one() {
        let mut previous = civil_date(0);
        for days in 1..(400 * 366) {
            let (year, month, day) = civil_date(days);
            let (p_year, p_month, p_day) = previous;
            let next_day = (year, month, day) == (p_year, p_month, p_day + 1);
            let next_month = (year, month, day) == (p_year, p_month + 1, 1);
            let next_year = (year, month, day) == (p_year + 1, 1, 1) && p_month == 12;
            assert!(
                next_day || next_month || next_year,
                "{previous:?} -> {year}-{month}-{day}"
            );
            previous = (year, month, day);
        }
    }
}
