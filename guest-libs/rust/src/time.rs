//! Showing what `naas:ftp@0.2.0` returns: times as UTC ISO 8601, kinds by name.

use crate::{Datetime, EntryKind};

/// `2026-12-01T22:05:09Z` (seconds; the nanoseconds are left out).
pub fn format_datetime(time: &Datetime) -> String {
    let days = time.seconds.div_euclid(86_400);
    let second_of_day = time.seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// `file`, `directory`, `symlink` or `other`, as in the WIT.
pub fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Directory => "directory",
        EntryKind::Symlink => "symlink",
        EntryKind::Other => "other",
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(format_datetime(&Datetime { seconds: 0, nanoseconds: 0 }), "1970-01-01T00:00:00Z");
        assert_eq!(format_datetime(&Datetime { seconds: 1_795_298_709, nanoseconds: 5 }), "2026-11-21T22:05:09Z");
        assert_eq!(format_datetime(&Datetime { seconds: 951_782_400, nanoseconds: 0 }), "2000-02-29T00:00:00Z");
        assert_eq!(format_datetime(&Datetime { seconds: -1, nanoseconds: 0 }), "1969-12-31T23:59:59Z");
    }
}
