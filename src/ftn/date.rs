//! Message dates as FTN software writes them. FTS-0001 says `DD Mon YY  HH:MM:SS`, SEAdog
//! wrote `Www DD Mon YY HH:MM`, and real packets add one-space, four-digit-year, Y2K
//! (`100` for 2000) and seconds-less variants; BBS readers print `Www Mon DD HH:MM:SS YYYY`.
//! One tolerant parser reads them all: find the month name, then day, year and time around it.

use chrono::{FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Parses a message date without a zone (local time of the writer). `None` when no
/// reading makes sense; a bad date is never fatal for a message.
pub fn parse_ftn_date(text: &str) -> Option<NaiveDateTime> {
    // Hyphens and commas appear in some variants ("01-Jan-95", "Mon, 1 Jan 95"); treat as spaces.
    let cleaned: String = text
        .chars()
        .take(64)
        .map(|c| if c == '-' || c == ',' { ' ' } else { c })
        .collect();
    let tokens: Vec<&str> = cleaned.split_whitespace().collect();
    let month_at = tokens.iter().position(|t| month_of(t).is_some())?;
    let month = month_of(tokens.get(month_at)?)?;
    let numeric = |t: &&str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && t.len() <= 4;

    // Day: the number right before the month (FTS-0001, SEAdog) or right after it (ctime).
    let (day_at, day) = match month_at
        .checked_sub(1)
        .and_then(|i| tokens.get(i).map(|t| (i, t)))
    {
        Some((i, t)) if numeric(t) && t.len() <= 2 => (i, *t),
        _ => {
            let i = month_at + 1;
            let t = tokens.get(i).filter(|t| numeric(t) && t.len() <= 2)?;
            (i, *t)
        }
    };
    let day: u32 = day.parse().ok()?;
    let time_at = tokens.iter().position(|t| t.contains(':'))?;
    let time = parse_time(tokens.get(time_at)?)?;
    // Year: the first other number after the month.
    let year_tok = tokens
        .iter()
        .enumerate()
        .skip(month_at + 1)
        .find(|(i, t)| *i != day_at && *i != time_at && numeric(t))
        .map(|(_, t)| *t)?;
    let year = expand_year(year_tok)?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    Some(NaiveDateTime::new(date, time))
}

fn month_of(token: &str) -> Option<u32> {
    let lower = token.get(..3)?.to_ascii_lowercase();
    if token.len() > 3
        && !token
            .get(3..)
            .is_some_and(|r| r.bytes().all(|b| b.is_ascii_alphabetic()) || r == ".")
    {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn parse_time(token: &str) -> Option<NaiveTime> {
    let mut parts = token.split(':');
    let mut field = |max: u32| -> Option<u32> {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<u32>().ok().filter(|v| *v <= max)
    };
    let h = field(23)?;
    let m = field(59)?;
    let s = field(60).unwrap_or(0).min(59);
    NaiveTime::from_hms_opt(h, m, s)
}

/// Two-digit years use the FTN window (80-99 → 19xx, 00-79 → 20xx); `100`..`179` is the
/// Y2K bug of software that printed `year - 1900`.
fn expand_year(token: &str) -> Option<i32> {
    let y: i32 = token.parse().ok()?;
    match token.len() {
        1 | 2 => Some(if y >= 80 { 1900 + y } else { 2000 + y }),
        3 if (100..180).contains(&y) => Some(1900 + y),
        4 if (1980..=2200).contains(&y) => Some(y),
        _ => None,
    }
}

/// Formats a date the FTS-0001 way: `DD Mon YY  HH:MM:SS` (19 characters).
pub fn format_ftn_date(when: &NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = usize::try_from(when.month0())
        .ok()
        .and_then(|i| mon.get(i))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{:02} {} {:02}  {:02}:{:02}:{:02}",
        when.day(),
        m,
        when.year().rem_euclid(100),
        when.hour(),
        when.minute(),
        when.second()
    )
}

/// Reads a TZUTC value (`0200`, `-0700`, and the `+0200` some software writes) as an offset.
pub fn parse_tzutc(value: &str) -> Option<FixedOffset> {
    let v = value.trim();
    let (sign, digits) = match v.as_bytes().first()? {
        b'-' => (-1, v.get(1..)?),
        b'+' => (1, v.get(1..)?),
        _ => (1, v),
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hh: i32 = digits.get(..2)?.parse().ok()?;
    let mm: i32 = digits.get(2..)?.parse().ok()?;
    if hh > 14 || mm > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hh * 3600 + mm * 60))
}

/// Formats an offset for TZUTC: `0000`, `0200`, `-0700` (no plus sign, per FTS-4008).
pub fn format_tzutc(offset: &FixedOffset) -> String {
    let secs = offset.local_minus_utc();
    let sign = if secs < 0 { "-" } else { "" };
    let mins = secs.unsigned_abs() / 60;
    format!("{sign}{:02}{:02}", mins / 60, mins % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd_hms(s: &str) -> String {
        parse_ftn_date(s)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    }

    #[test]
    fn reads_the_variants_software_writes() {
        assert_eq!(ymd_hms("28 Nov 26  22:56:24"), "2026-11-28 22:56:24");
        assert_eq!(ymd_hms("08 Feb 13  21:59:48"), "2013-02-08 21:59:48");
        assert_eq!(ymd_hms("Mon  1 Jan 90 12:34"), "1990-01-01 12:34:00");
        assert_eq!(ymd_hms("1 jan 2001 00:00:01"), "2001-01-01 00:00:01");
        assert_eq!(ymd_hms("01 Jan 100  10:00:00"), "2000-01-01 10:00:00");
        assert_eq!(ymd_hms("01-Jan-95 10:00"), "1995-01-01 10:00:00");
        assert_eq!(ymd_hms("Thu Jun 11 22:15:27 2026"), "2026-06-11 22:15:27");
        for bad in [
            "",
            "garbage",
            "31 Feb 26  10:00:00",
            "01 Foo 26 10:00:00",
            "01 Jan 26",
            "99 Jan 26 10:00",
        ] {
            assert_eq!(parse_ftn_date(bad), None, "{bad}");
        }
        let d = parse_ftn_date("05 Mar 07  01:02:03").unwrap();
        assert_eq!(format_ftn_date(&d), "05 Mar 07  01:02:03");
    }

    #[test]
    fn tzutc() {
        assert_eq!(parse_tzutc("-0700").unwrap().local_minus_utc(), -7 * 3600);
        assert_eq!(
            parse_tzutc("+0530").unwrap().local_minus_utc(),
            5 * 3600 + 1800
        );
        assert_eq!(parse_tzutc("0000").unwrap().local_minus_utc(), 0);
        assert_eq!(parse_tzutc("7"), None);
        assert_eq!(
            format_tzutc(&FixedOffset::west_opt(7 * 3600).unwrap()),
            "-0700"
        );
        assert_eq!(
            format_tzutc(&FixedOffset::east_opt(2 * 3600).unwrap()),
            "0200"
        );
    }
}
