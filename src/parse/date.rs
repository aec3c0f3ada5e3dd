//! Feed timestamps: feed-rs's lenient parsing, with a fast path for the two forms nearly
//! every feed uses.
//!
//! feed-rs reads an RSS `pubDate` by trying an RFC 3339 reading and then an RFC 2822 one,
//! each after rewriting the text with a handful of regular expressions: about 15,000
//! instructions a date, a tenth of everything feed-rs did for a typical item. Here a date
//! that is plainly RFC 3339 (`2026-10-29T12:34:00Z`) or plain RFC 2822
//! (`Thu, 29 Oct 2026 12:34:00 GMT`) is read directly; anything else, or anything out of
//! range, goes to feed-rs's own parser, so the result is always the one feed-rs gives (a
//! differential test checks it).

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};

/// The timestamp parser handed to feed-rs.
pub(crate) fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    rfc2822_plain(t).or_else(|| lenient(text))
}

/// `[Ddd, ]D Mon YYYY HH:MM:SS ZONE`, the zone numeric or GMT, UT, UTC or Z, every field in
/// range. `None` for anything else, which then goes the lenient way.
fn rfc2822_plain(t: &str) -> Option<DateTime<Utc>> {
    let mut words = t.split(' ');
    let mut day = words.next()?;
    if day.ends_with(',') {
        // The weekday: feed-rs drops it unread (it is often wrong), so do we.
        let name = day.get(..3)?;
        let rest = day.get(3..day.len() - 1)?;
        if !WEEKDAYS.contains(&name) || !rest.bytes().all(|b| b.is_ascii_lowercase()) {
            return None;
        }
        day = words.next()?;
    }
    let day = digits(day, 1..=2)?;
    let month = words.next()?;
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let year = digits(words.next()?, 4..=4)?;
    let mut hms = words.next()?.split(':');
    let hour = digits(hms.next()?, 2..=2)?;
    let minute = digits(hms.next()?, 2..=2)?;
    let second = digits(hms.next()?, 2..=2)?;
    let zone = words.next()?;
    if hms.next().is_some() || words.next().is_some() {
        return None;
    }
    let offset = match zone {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        _ => {
            let (sign, hhmm) = match zone.split_at_checked(1)? {
                ("+", rest) => (1, rest),
                ("-", rest) => (-1, rest),
                _ => return None,
            };
            let hhmm = digits(hhmm, 4..=4)?;
            let (h, m) = (hhmm / 100, hhmm % 100);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60) as i32
        }
    };
    let local =
        NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_opt(hour, minute, second)?;
    let zoned = FixedOffset::east_opt(offset)?
        .from_local_datetime(&local)
        .single()?;
    Some(zoned.with_timezone(&Utc))
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A run of ASCII digits of a length in `len`, as a number.
fn digits(s: &str, len: std::ops::RangeInclusive<usize>) -> Option<u32> {
    if !len.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// feed-rs's own reading of a date it cannot be asked for directly: the parser is private,
/// so it reads a one-item feed carrying the date. Only unusual dates come here.
fn lenient(text: &str) -> Option<DateTime<Utc>> {
    let mut xml = String::with_capacity(text.len() + 80);
    xml.push_str("<rss version=\"2.0\"><channel><item><pubDate>");
    for c in text.chars() {
        match c {
            '<' => xml.push_str("&lt;"),
            '&' => xml.push_str("&amp;"),
            c => xml.push(c),
        }
    }
    xml.push_str("</pubDate></item></channel></rss>");
    let feed = feed_rs::parser::parse(xml.as_bytes()).ok()?;
    feed.entries.first()?.published
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What feed-rs's default parser makes of a date, through the same one-item feed.
    fn feed_rs(text: &str) -> Option<DateTime<Utc>> {
        lenient(text)
    }

    const SAMPLES: &[&str] = &[
        "Thu, 29 Oct 2026 12:34:00 +0000",
        "Thu, 29 Oct 2026 12:34:00 GMT",
        "29 Oct 2026 12:34:00 -0500",
        "Thursday, 29 Oct 2026 12:34:00 UTC",
        "Wed, 29 Oct 2026 12:34:00 +0130",
        "Thu, 9 Oct 2026 02:04:09 -0000",
        "Thu, 29 October 2026 12:34:00 GMT",
        "Thu, 29 Oct 26 12:34:00 GMT",
        "Thu, 29 Oct 2026 24:10:00 GMT",
        "Thu, 29 Oct 2026 2:10:00 GMT",
        "Thu, 29 Oct 2026 12:34 GMT",
        "Thu, 29 Oct 2026 12:34:60 GMT",
        "Thu, 31 Sep 2026 12:34:00 GMT",
        "Thu, 29 oct 2026 12:34:00 GMT",
        "Thu, 29 Oct 2026 12:34:00 EST",
        "Thu, 29 Oct 2026 12:34:00 +2400",
        "Thu, 29 Oct 2026 12:34:00 Z",
        "Thu, 29 Oct 2026 12:34:00",
        "Thu,  29 Oct 2026 12:34:00 GMT",
        "  Thu, 29 Oct 2026 12:34:00 GMT  ",
        "Thu 29 Oct 2026 12:34:00 GMT",
        "Tue, 15 Nov 2022 20:15:04 Z",
        "2026-10-29T12:34:00Z",
        "2026-10-29T12:34:00.123-07:00",
        "2026-10-29T12:34:00+0100",
        "2026-10-29 12:34:00Z",
        "2026-10-29",
        "2017-06-13T03:18:00+00:0",
        "yesterday",
        "",
        "<b>&amp;",
    ];

    #[test]
    fn every_sample_reads_as_feed_rs_reads_it() {
        for s in SAMPLES {
            assert_eq!(timestamp(s), feed_rs(s), "{s:?}");
        }
        // The fast path does take the usual forms.
        assert!(rfc2822_plain("Thu, 29 Oct 2026 12:34:00 GMT").is_some());
        assert!(rfc2822_plain("29 Oct 2026 12:34:00 -0500").is_some());
    }

    #[test]
    fn dates_of_the_shared_corpus_read_as_feed_rs_reads_them() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/feeds");
        if !dir.is_dir() {
            eprintln!("skipped: {} is absent", dir.display());
            return;
        }
        let mut files = vec![dir];
        let mut dates = 0;
        while let Some(p) = files.pop() {
            if p.is_dir() {
                files.extend(
                    std::fs::read_dir(&p)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.path()),
                );
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            for tag in [
                "pubDate",
                "published",
                "updated",
                "dc:date",
                "lastBuildDate",
            ] {
                let open = format!("<{tag}>");
                for piece in text.split(&open).skip(1) {
                    let Some((date, _)) = piece.split_once('<') else {
                        continue;
                    };
                    assert_eq!(
                        timestamp(date),
                        feed_rs(date),
                        "{date:?} in {}",
                        p.display()
                    );
                    dates += 1;
                }
            }
        }
        assert!(dates > 0, "no dates found in the corpus");
    }

    proptest::proptest! {
        #[test]
        fn any_rfc2822_like_date_reads_as_feed_rs_reads_it(
            weekday in "(|Thu, |Thursday, |Xyz, |thu, )",
            day in 0u32..34,
            month in "(Jan|Feb|Oct|Dec|October|oct|Foo)",
            year in "(2026|1999|26|02026|2000)",
            hour in 0u32..26,
            minute in 0u32..62,
            second in 0u32..62,
            zone in "(GMT|UT|UTC|Z|EST|PDT|A|[+-][0-9]{4}|[+-][0-9]{2}|)",
            pad in proptest::bool::ANY,
        ) {
            let day = if pad { format!("{day:02}") } else { day.to_string() };
            let s = format!("{weekday}{day} {month} {year} {hour:02}:{minute:02}:{second:02} {zone}");
            proptest::prop_assert_eq!(timestamp(&s), feed_rs(&s), "{:?}", s);
        }

        #[test]
        fn any_rfc3339_like_date_reads_as_feed_rs_reads_it(
            date in "(2026|0999|26)-(10|13|1)-(29|31|00)",
            sep in "(T|t| |)",
            time in "(12:34:00|24:00:00|12:34|12:34:60)",
            frac in "(|\\.5|\\.123456789|\\.)",
            zone in "(Z|z|[+-][0-9]{2}:[0-9]{2}|[+-][0-9]{4}|[+-][0-9]{2}|)",
        ) {
            let s = format!("{date}{sep}{time}{frac}{zone}");
            proptest::prop_assert_eq!(timestamp(&s), feed_rs(&s), "{:?}", s);
        }
    }
}
