//! Parsing one CSV field into its column's value, strictly: what PostgreSQL
//! would round, wrap or guess at is an error here, before the row is sent.
//!
//! Accepted forms (surrounding spaces and tabs are ignored for the non-text
//! types; text is kept byte for byte):
//! - date: `YYYY-MM-DD`, a real calendar day, years 0001..=9999;
//! - time: `HH:MM`, `HH:MM:SS` or `HH:MM:SS.ffffff` (1..=6 digits), 00:00..=23:59:59.999999
//!   and the day's end `24:00:00` that PostgreSQL also accepts;
//! - numeric(15,2): `[+-]digits[.digits]` (or `.5`), at most 13 integer digits;
//!   more than 2 decimals only when the extra ones are zeros (`1.500`), never
//!   rounded; no exponent, `NaN`, `Infinity`, thousands separators or currency signs;
//! - smallint, integer: `[+-]digits` within the type's range, and a fraction
//!   only when its digits are all zeros (`38.0`, `38.`): what a dataframe writes
//!   for an integer column with a missing value (pandas turns the column into
//!   floats). `38.5` is refused, never rounded.
//!
//! Negative amounts and quantities are accepted: they are how returns and
//! refunds appear in retail data.

/// Why a field was refused, for the error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueFault {
    /// Empty field in a column that does not allow NULL.
    Empty,
    /// Not valid UTF-8.
    InvalidUtf8,
    /// Contains a NUL byte, which PostgreSQL text cannot hold.
    NulByte,
    /// Not a date in `YYYY-MM-DD` form.
    DateSyntax,
    /// `YYYY-MM-DD` form, but no such day (2023-02-30).
    DateOutOfRange,
    /// Later than the load's time plus the window (`--max-date-ahead`).
    DateTooLate,
    /// Earlier than the floor (`--min-date`).
    DateTooEarly,
    /// Not a time in `HH:MM[:SS[.ffffff]]` form.
    TimeSyntax,
    /// `HH:MM:SS` form, but no such time (24:61:00).
    TimeOutOfRange,
    /// Not a decimal number.
    NumberSyntax,
    /// More than 2 non-zero decimals: would be rounded by numeric(15,2).
    TooManyDecimals,
    /// More than 13 integer digits: does not fit numeric(15,2).
    NumberOutOfRange,
    /// Not an integer.
    IntegerSyntax,
    /// A number with a non-zero fraction in an integer column.
    IntegerFraction,
    /// Outside smallint's range.
    SmallintOutOfRange,
    /// Outside integer's range.
    IntegerOutOfRange,
}

impl ValueFault {
    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            ValueFault::Empty => "empty value in a required column",
            ValueFault::InvalidUtf8 => {
                "invalid UTF-8 (an object in another encoding needs --encoding LABEL, or \
                 SOURCE_ENCODING for the Lambda)"
            }
            ValueFault::NulByte => "NUL byte in text",
            ValueFault::DateSyntax => "not a date (expected YYYY-MM-DD)",
            ValueFault::DateOutOfRange => "no such date",
            ValueFault::DateTooLate => {
                "implausible date: later than the load's time plus --max-date-ahead (1 day unless set)"
            }
            ValueFault::DateTooEarly => {
                "implausible date: earlier than --min-date (1900-01-01 unless set)"
            }
            ValueFault::TimeSyntax => "not a time (expected HH:MM, HH:MM:SS or HH:MM:SS.ffffff, two-digit hours)",
            ValueFault::TimeOutOfRange => "no such time of day",
            ValueFault::NumberSyntax => "not a decimal number",
            ValueFault::TooManyDecimals => "more than 2 decimal places (would be rounded)",
            ValueFault::NumberOutOfRange => "out of range for numeric(15,2)",
            ValueFault::IntegerSyntax => "not an integer",
            ValueFault::IntegerFraction => "not a whole number (would be rounded)",
            ValueFault::SmallintOutOfRange => "out of range for smallint",
            ValueFault::IntegerOutOfRange => "out of range for integer",
        }
    }
}

type Parsed<T> = Result<T, ValueFault>;

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

#[inline]
fn digit(b: u8) -> Option<u32> {
    let d = b.wrapping_sub(b'0');
    (d < 10).then_some(d as u32)
}

#[inline]
fn digits2(s: &[u8]) -> Option<u32> {
    Some(digit(s[0])? * 10 + digit(s[1])?)
}

/// Parses `YYYY-MM-DD` into days since 2000-01-01 (PostgreSQL's date).
#[inline]
pub fn parse_date(field: &[u8]) -> Parsed<i32> {
    let s = field.trim_ascii();
    if s.len() != 10 || s[4] != b'-' || s[7] != b'-' {
        return Err(ValueFault::DateSyntax);
    }
    let (y, m, d) = match (digits2(&s[0..2]), digits2(&s[2..4]), digits2(&s[5..7])) {
        (Some(y1), Some(y2), Some(m)) => (y1 * 100 + y2, m, digits2(&s[8..10])),
        _ => return Err(ValueFault::DateSyntax),
    };
    let d = d.ok_or(ValueFault::DateSyntax)?;
    if y == 0 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return Err(ValueFault::DateOutOfRange);
    }
    let days = days_from_civil(y as i64, m as i64, d as i64) - PG_EPOCH_DAYS;
    Ok(days as i32)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `HH:MM[:SS[.ffffff]]` into microseconds since midnight
/// (PostgreSQL's time).
#[inline]
pub fn parse_time(field: &[u8]) -> Parsed<i64> {
    let s = field.trim_ascii();
    if s.len() < 5 || s[2] != b':' {
        return Err(ValueFault::TimeSyntax);
    }
    let h = digits2(&s[0..2]).ok_or(ValueFault::TimeSyntax)?;
    let m = digits2(&s[3..5]).ok_or(ValueFault::TimeSyntax)?;
    let (sec, frac_us) = match s.len() {
        5 => (0, 0),
        8 if s[5] == b':' => (digits2(&s[6..8]).ok_or(ValueFault::TimeSyntax)?, 0),
        10..=15 if s[5] == b':' && s[8] == b'.' => {
            let sec = digits2(&s[6..8]).ok_or(ValueFault::TimeSyntax)?;
            let mut us = 0u32;
            let frac = &s[9..];
            for &b in frac {
                us = us * 10 + digit(b).ok_or(ValueFault::TimeSyntax)?;
            }
            (sec, us * 10u32.pow(6 - frac.len() as u32))
        }
        _ => return Err(ValueFault::TimeSyntax),
    };
    let end_of_day = h == 24 && m == 0 && sec == 0 && frac_us == 0;
    if !end_of_day && (h > 23 || m > 59 || sec > 59) {
        return Err(ValueFault::TimeOutOfRange);
    }
    Ok(((h as i64 * 60 + m as i64) * 60 + sec as i64) * 1_000_000 + frac_us as i64)
}

/// The largest numeric(15,2) in cents: 13 integer digits, 2 decimals.
const MAX_CENTS: i64 = 999_999_999_999_999;

/// Parses a decimal into cents for numeric(15,2).
#[inline]
pub fn parse_money(field: &[u8]) -> Parsed<i64> {
    let s = field.trim_ascii();
    let (negative, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (int_part, frac_part) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (&s[..dot], &s[dot + 1..]),
        None => (s, &s[s.len()..]),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(ValueFault::NumberSyntax);
    }
    let mut int_value: i64 = 0;
    let mut significant = 0usize;
    for &b in int_part {
        let d = digit(b).ok_or(ValueFault::NumberSyntax)?;
        if significant > 0 || d != 0 {
            significant += 1;
            if significant > 13 {
                // Keep checking the syntax so `1e99999...` says syntax.
                if int_part.iter().all(|&b| b.is_ascii_digit())
                    && frac_part.iter().all(|&b| b.is_ascii_digit())
                {
                    return Err(ValueFault::NumberOutOfRange);
                }
                return Err(ValueFault::NumberSyntax);
            }
            int_value = int_value * 10 + d as i64;
        }
    }
    let mut cents: i64 = 0;
    for (i, &b) in frac_part.iter().enumerate() {
        let d = digit(b).ok_or(ValueFault::NumberSyntax)?;
        match i {
            0 => cents += d as i64 * 10,
            1 => cents += d as i64,
            _ if d != 0 => {
                return Err(if frac_part.iter().all(|b| b.is_ascii_digit()) {
                    ValueFault::TooManyDecimals
                } else {
                    ValueFault::NumberSyntax
                })
            }
            _ => {}
        }
    }
    let value = int_value * 100 + cents;
    debug_assert!(value <= MAX_CENTS);
    Ok(if negative { -value } else { value })
}

#[inline]
fn parse_integer(field: &[u8], min: i64, max: i64) -> Result<i64, ValueFault> {
    let s = field.trim_ascii();
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(ValueFault::IntegerSyntax);
    }
    let mut value: i64 = 0;
    let mut overflow = false;
    for (i, &b) in digits.iter().enumerate() {
        let Some(d) = digit(b) else {
            // `38.0`: a point after at least one digit, then only zeros.
            if b == b'.' && i > 0 {
                let fraction = &digits[i + 1..];
                if fraction.iter().all(|&b| b == b'0') {
                    break;
                }
                if fraction.iter().all(u8::is_ascii_digit) {
                    return Err(ValueFault::IntegerFraction);
                }
            }
            return Err(ValueFault::IntegerSyntax);
        };
        value = value * 10 + d as i64;
        // Saturate instead of wrapping; keep scanning to tell syntax errors apart.
        if value > 1 << 40 {
            overflow = true;
            value = 1 << 40;
        }
    }
    let value = if negative { -value } else { value };
    if overflow || value < min || value > max {
        return Err(ValueFault::IntegerOutOfRange);
    }
    Ok(value)
}

/// Parses a smallint.
#[inline]
pub fn parse_int2(field: &[u8]) -> Parsed<i16> {
    parse_integer(field, i16::MIN as i64, i16::MAX as i64)
        .map(|v| v as i16)
        .map_err(|f| match f {
            ValueFault::IntegerOutOfRange => ValueFault::SmallintOutOfRange,
            other => other,
        })
}

/// Parses an integer.
#[inline]
pub fn parse_int4(field: &[u8]) -> Parsed<i32> {
    parse_integer(field, i32::MIN as i64, i32::MAX as i64).map(|v| v as i32)
}

/// Checks a text field: valid UTF-8 without NUL bytes.
#[inline]
pub fn check_text(field: &[u8]) -> Parsed<()> {
    if std::str::from_utf8(field).is_err() {
        return Err(ValueFault::InvalidUtf8);
    }
    if field.contains(&0) {
        return Err(ValueFault::NulByte);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date(b"2000-01-01"), Ok(0));
        assert_eq!(parse_date(b"2000-01-02"), Ok(1));
        assert_eq!(parse_date(b"1999-12-31"), Ok(-1));
        assert_eq!(parse_date(b"2024-03-01"), Ok(8826));
        assert_eq!(parse_date(b" 2024-02-29 "), Ok(8825));
        assert_eq!(parse_date(b"2023-02-29"), Err(ValueFault::DateOutOfRange));
        assert_eq!(parse_date(b"2023-02-30"), Err(ValueFault::DateOutOfRange));
        assert_eq!(parse_date(b"2023-13-01"), Err(ValueFault::DateOutOfRange));
        assert_eq!(parse_date(b"0000-01-01"), Err(ValueFault::DateOutOfRange));
        assert_eq!(parse_date(b"2023/01/01"), Err(ValueFault::DateSyntax));
        assert_eq!(parse_date(b"2023-1-01"), Err(ValueFault::DateSyntax));
        assert_eq!(parse_date(b"20230101"), Err(ValueFault::DateSyntax));
        assert_eq!(parse_date(b""), Err(ValueFault::DateSyntax));
        assert_eq!(parse_date(b"2023-0a-01"), Err(ValueFault::DateSyntax));
        assert_eq!(parse_date(b"9999-12-31"), Ok(2_921_939));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time(b"00:00:00"), Ok(0));
        assert_eq!(
            parse_time(b"17:58:00"),
            Ok((17 * 3600 + 58 * 60) * 1_000_000)
        );
        assert_eq!(parse_time(b"17:58"), Ok((17 * 3600 + 58 * 60) * 1_000_000));
        assert_eq!(parse_time(b"00:00:01.5"), Ok(1_500_000));
        assert_eq!(parse_time(b"00:00:01.000001"), Ok(1_000_001));
        assert_eq!(parse_time(b"24:00:00"), Ok(86_400_000_000));
        assert_eq!(parse_time(b"24:61:00"), Err(ValueFault::TimeOutOfRange));
        assert_eq!(parse_time(b"24:00:01"), Err(ValueFault::TimeOutOfRange));
        assert_eq!(parse_time(b"23:59:60"), Err(ValueFault::TimeOutOfRange));
        assert_eq!(parse_time(b"1:00:00"), Err(ValueFault::TimeSyntax));
        assert_eq!(parse_time(b"00:00:01.1234567"), Err(ValueFault::TimeSyntax));
        assert_eq!(parse_time(b"00:00:01."), Err(ValueFault::TimeSyntax));
        assert_eq!(parse_time(b"noon"), Err(ValueFault::TimeSyntax));
    }

    /// Cases cargo-mutants showed untested (TESTING.md): each line fails
    /// under one of the mutants it reported.
    #[test]
    fn edges_found_by_mutation_testing() {
        // ':' is the byte after '9'.
        assert_eq!(parse_int4(b"1:"), Err(ValueFault::IntegerSyntax));
        assert_eq!(parse_date(b"2023-0:-01"), Err(ValueFault::DateSyntax));
        assert_eq!(parse_date(b"2023-01/01"), Err(ValueFault::DateSyntax));
        // 30-day months, and the century rules of leap years.
        assert_eq!(parse_date(b"2023-04-30"), Ok(8520));
        assert_eq!(parse_date(b"2023-04-31"), Err(ValueFault::DateOutOfRange));
        assert_eq!(parse_date(b"2023-11-31"), Err(ValueFault::DateOutOfRange));
        assert_eq!(parse_date(b"1900-02-29"), Err(ValueFault::DateOutOfRange));
        assert_eq!(parse_date(b"2000-02-29"), Ok(59));
        // Separators and fractions of times.
        assert_eq!(parse_time(b"12-00:00"), Err(ValueFault::TimeSyntax));
        assert_eq!(parse_time(b"12:00-00"), Err(ValueFault::TimeSyntax));
        assert_eq!(parse_time(b"12:00:00-5"), Err(ValueFault::TimeSyntax));
        assert_eq!(parse_time(b"12:00-00.5"), Err(ValueFault::TimeSyntax));
        assert_eq!(parse_time(b"00:00:01.25"), Ok(1_250_000));
        // The last valid values of each field, and the first invalid minute.
        assert_eq!(
            parse_time(b"23:59:59"),
            Ok(((23 * 60 + 59) * 60 + 59) * 1_000_000)
        );
        assert_eq!(parse_time(b"00:60:00"), Err(ValueFault::TimeOutOfRange));
        assert_eq!(parse_time(b"00:00:60"), Err(ValueFault::TimeOutOfRange));
        assert_eq!(parse_int2(b"+7"), Ok(7));
    }

    #[test]
    fn money() {
        assert_eq!(parse_money(b"20.00"), Ok(2000));
        assert_eq!(parse_money(b"20"), Ok(2000));
        assert_eq!(parse_money(b"20.5"), Ok(2050));
        assert_eq!(parse_money(b".5"), Ok(50));
        assert_eq!(parse_money(b"5."), Ok(500));
        assert_eq!(parse_money(b"-0.01"), Ok(-1));
        assert_eq!(parse_money(b"+1.10"), Ok(110));
        assert_eq!(parse_money(b"1.500"), Ok(150));
        assert_eq!(parse_money(b"0009999999999999.99"), Ok(MAX_CENTS));
        assert_eq!(parse_money(b"1.505"), Err(ValueFault::TooManyDecimals));
        assert_eq!(
            parse_money(b"10000000000000"),
            Err(ValueFault::NumberOutOfRange)
        );
        assert_eq!(parse_money(b"1e5"), Err(ValueFault::NumberSyntax));
        assert_eq!(parse_money(b"NaN"), Err(ValueFault::NumberSyntax));
        assert_eq!(parse_money(b"1,000.00"), Err(ValueFault::NumberSyntax));
        assert_eq!(parse_money(b"$5"), Err(ValueFault::NumberSyntax));
        assert_eq!(parse_money(b"."), Err(ValueFault::NumberSyntax));
        assert_eq!(parse_money(b"-"), Err(ValueFault::NumberSyntax));
        assert_eq!(parse_money(b"1.2.3"), Err(ValueFault::NumberSyntax));
        assert_eq!(parse_money(b"12.3x"), Err(ValueFault::NumberSyntax));
        assert_eq!(
            parse_money(b"99999999999999999999e1"),
            Err(ValueFault::NumberSyntax)
        );
    }

    #[test]
    fn integers() {
        assert_eq!(parse_int2(b"7"), Ok(7));
        assert_eq!(parse_int2(b"-32768"), Ok(-32768));
        assert_eq!(parse_int2(b"32767"), Ok(32767));
        assert_eq!(parse_int2(b"32768"), Err(ValueFault::SmallintOutOfRange));
        assert_eq!(parse_int2(b"70000"), Err(ValueFault::SmallintOutOfRange));
        // A zero fraction is the integer; any other is refused, never rounded.
        assert_eq!(parse_int2(b"3.0"), Ok(3));
        assert_eq!(parse_int2(b" -3.000 "), Ok(-3));
        assert_eq!(parse_int4(b"38."), Ok(38));
        assert_eq!(parse_int2(b"32767.0"), Ok(32767));
        assert_eq!(parse_int2(b"32768.0"), Err(ValueFault::SmallintOutOfRange));
        assert_eq!(parse_int2(b"3.5"), Err(ValueFault::IntegerFraction));
        assert_eq!(parse_int4(b"3.01"), Err(ValueFault::IntegerFraction));
        assert_eq!(parse_int4(b".0"), Err(ValueFault::IntegerSyntax));
        assert_eq!(parse_int4(b"-.0"), Err(ValueFault::IntegerSyntax));
        assert_eq!(parse_int4(b"3.0x"), Err(ValueFault::IntegerSyntax));
        assert_eq!(parse_int4(b"3..0"), Err(ValueFault::IntegerSyntax));
        assert_eq!(parse_int4(b"3x.5"), Err(ValueFault::IntegerSyntax));
        assert_eq!(parse_int4(b"3.0e1"), Err(ValueFault::IntegerSyntax));
        assert_eq!(parse_int4(b"2147483647"), Ok(i32::MAX));
        assert_eq!(
            parse_int4(b"2147483648"),
            Err(ValueFault::IntegerOutOfRange)
        );
        assert_eq!(
            parse_int4(b"99999999999999999999999999"),
            Err(ValueFault::IntegerOutOfRange)
        );
        assert_eq!(parse_int4(b"1e3"), Err(ValueFault::IntegerSyntax));
        assert_eq!(parse_int4(b""), Err(ValueFault::IntegerSyntax));
        assert_eq!(parse_int4(b"+"), Err(ValueFault::IntegerSyntax));
    }

    #[test]
    fn text() {
        assert_eq!(check_text("Café, \"x\"\t\n".as_bytes()), Ok(()));
        assert_eq!(check_text(b"\xff\xfe"), Err(ValueFault::InvalidUtf8));
        assert_eq!(check_text(b"a\0b"), Err(ValueFault::NulByte));
    }
}
