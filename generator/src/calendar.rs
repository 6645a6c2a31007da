//! Calendar dates without a date crate: parse `YYYY-MM-DD`, add days, format.
//!
//! Dates convert to and from a day count since 1970-01-01 with Howard Hinnant's civil-date
//! algorithms, which are exact for the proleptic Gregorian calendar.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ParseError;

/// A calendar date in years 1..=9999 (so it always formats as `YYYY-MM-DD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// 2024-01-01, the default first day.
    pub const DEFAULT_START: Date = Date {
        year: 2024,
        month: 1,
        day: 1,
    };

    /// The date, or `None` when it does not exist or is outside years 1..=9999.
    pub fn from_ymd(year: u32, month: u32, day: u32) -> Option<Date> {
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(Date {
            year: year as u16,
            month: month as u8,
            day: day as u8,
        })
    }

    /// The year.
    pub fn year(self) -> u32 {
        u32::from(self.year)
    }

    /// The month, 1..=12.
    pub fn month(self) -> u32 {
        u32::from(self.month)
    }

    /// The day of the month, 1..=31.
    pub fn day(self) -> u32 {
        u32::from(self.day)
    }

    /// The date `days` later (earlier when negative), or `None` outside years 1..=9999.
    pub fn add_days(self, days: i64) -> Option<Date> {
        let (y, m, d) = civil_from_days(self.days_since_epoch().checked_add(days)?);
        let year = u32::try_from(y).ok()?;
        Date::from_ymd(year, m, d)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(i64::from(self.year), self.month(), self.day())
    }

    /// The date as the 10 ASCII bytes `YYYY-MM-DD`.
    pub fn ascii(self) -> [u8; 10] {
        let digit = |v: u32| b'0' + (v % 10) as u8;
        let (y, m, d) = (self.year(), self.month(), self.day());
        [
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(d / 10),
            digit(d),
        ]
    }
}

/// Whether `year` has a February 29.
pub(crate) fn is_leap(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1..=12) of `year`.
pub(crate) fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = ParseError;

    /// Parses exactly `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseError(format!("`{s}` is not a valid date (expected YYYY-MM-DD)"));
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let number = |range: std::ops::Range<usize>| -> Option<u32> {
            b[range.clone()]
                .iter()
                .all(u8::is_ascii_digit)
                .then(|| s[range].parse().ok())
                .flatten()
        };
        let (year, month, day) = (number(0..4), number(5..7), number(8..10));
        match (year, month, day) {
            (Some(y), Some(m), Some(d)) => Date::from_ymd(y, m, d).ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_day_of_four_centuries() {
        let start = Date::from_ymd(1900, 1, 1).expect("valid date");
        let mut previous = start;
        for offset in 1..146_097 {
            let date = start.add_days(offset).expect("in range");
            assert_eq!(date.days_since_epoch(), start.days_since_epoch() + offset);
            assert!(date > previous);
            assert_eq!(date.to_string().parse::<Date>(), Ok(date));
            previous = date;
        }
    }

    #[test]
    fn known_values() {
        let epoch = Date::from_ymd(1970, 1, 1).expect("valid date");
        assert_eq!(epoch.days_since_epoch(), 0);
        let leap = Date::from_ymd(2024, 2, 28).expect("valid date");
        assert_eq!(
            leap.add_days(1).map(|d| d.to_string()),
            Some("2024-02-29".into())
        );
        assert_eq!(
            leap.add_days(2).map(|d| d.to_string()),
            Some("2024-03-01".into())
        );
        assert_eq!(&Date::DEFAULT_START.ascii(), b"2024-01-01");
    }

    #[test]
    fn rejects_impossible_dates() {
        for text in [
            "2023-02-29",
            "2024-13-01",
            "2024-04-31",
            "2024-00-10",
            "24-01-01",
            "2024-1-01",
        ] {
            assert!(text.parse::<Date>().is_err(), "{text}");
        }
        assert!("2024-02-29".parse::<Date>().is_ok());
    }
}
