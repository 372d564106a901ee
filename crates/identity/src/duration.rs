//! Durations as people write them on a command line: `90s`, `30m`, `24h`, `7d`, `10y`, or a
//! sum such as `1h30m`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text was empty.
    #[error("duration is empty")]
    Empty,
    /// A number was missing or not a number.
    #[error("duration {0:?} is not of the form <number><unit>, e.g. 24h or 1h30m")]
    Malformed(String),
    /// The unit is not one of s, m, h, d, y.
    #[error("duration {input:?} has unknown unit {unit:?}; use s, m, h, d or y")]
    UnknownUnit {
        /// The text as given.
        input: String,
        /// The unit found.
        unit: String,
    },
    /// The duration is zero.
    #[error("duration {0:?} is zero")]
    Zero(String),
    /// The duration does not fit.
    #[error("duration {0:?} is too long")]
    Overflow(String),
}

/// Parses a duration such as `24h` or `1h30m`. A year is 365 days.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(DurationError::Malformed(input.to_owned()));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::Overflow(input.to_owned()))?;
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "y" => 365 * 86_400,
            "" => return Err(DurationError::Malformed(input.to_owned())),
            other => {
                return Err(DurationError::UnknownUnit {
                    input: input.to_owned(),
                    unit: other.to_owned(),
                });
            }
        };
        total = n
            .checked_mul(secs)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| DurationError::Overflow(input.to_owned()))?;
    }
    if total == 0 {
        return Err(DurationError::Zero(input.to_owned()));
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration for people: the two largest units, e.g. `3d 4h` or `12m 5s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

/// Formats a time as RFC 3339 in UTC, e.g. `2026-11-21T07:54:49Z`.
pub fn format_timestamp(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("10y").unwrap(),
            Duration::from_secs(10 * 365 * 86_400)
        );
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration("5w"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("h"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("12"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(parse_duration("0s"), Err(DurationError::Zero(_))));
        assert!(matches!(
            parse_duration("99999999999999999999y"),
            Err(DurationError::Overflow(_))
        ));
        assert_eq!(format_duration(Duration::from_secs(90_000)), "1d 1h");
        assert_eq!(format_duration(Duration::from_secs(65)), "1m 5s");
        assert_eq!(
            format_timestamp(UNIX_EPOCH + Duration::from_secs(1_795_334_089)),
            "2026-11-22T07:54:49Z"
        );
        assert_eq!(format_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
