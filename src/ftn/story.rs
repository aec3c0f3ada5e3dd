//! Echomail → [`ParsedStory`]: the reading rules of RSS-to-echomail gateway posts
//! (title, `Date:`, description, `Link to news story:`), which also fit ordinary messages.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::date::parse_ftn_date;
use super::message::EchoMessage;
use crate::model::{ParsedStory, StoryKind};
use crate::parse::sanitize;

/// Turns a decoded message into a story: guid = MSGID (or a content hash when a message
/// has none), title from the subject (or the body's first paragraph when the subject was
/// cut), link from "Link to news story:" or the first URL, published from the body's
/// `Date:` line, else the message date corrected by TZUTC.
pub fn to_story(msg: &EchoMessage) -> ParsedStory {
    let mut story = ParsedStory::new(StoryKind::Echomail, choose_title(&msg.subject, &msg.body));
    story.guid = Some(match &msg.msgid {
        Some(id) => sanitize::line(id),
        None => synthetic_guid(msg),
    });
    let (link, links) = find_links(&msg.body);
    story.link = link;
    story.links = links;
    story.published = body_date(&msg.body).or_else(|| msg.date_utc());
    story.author = Some(sanitize::line(&msg.from)).filter(|a| !a.is_empty());
    story.area = msg
        .area
        .as_deref()
        .map(sanitize::line)
        .filter(|a| !a.is_empty());
    story.origin = msg.author_address().map(|a| a.to_string());
    story.body = sanitize::block(&msg.body);
    story
}

/// Messages without MSGID still need a stable identity so a packet tossed twice adds
/// nothing: a hash of what identifies a message to a human reader.
fn synthetic_guid(msg: &EchoMessage) -> String {
    let mut h = blake3::Hasher::new();
    for part in [
        msg.area.as_deref().unwrap_or(""),
        &msg.from,
        &msg.to,
        &msg.subject,
        &msg.date_raw,
        &msg.body,
    ] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    let hex = h.finalize().to_hex();
    format!("ftn-nomsgid:{}", hex.get(..24).unwrap_or_default())
}

/// The subject, unless it looks cut (ends in an ellipsis, or is long enough to have hit the
/// 71-byte limit) and the body's first paragraph starts with it: then that paragraph.
pub(crate) fn choose_title(subject: &str, body: &str) -> String {
    let subject = sanitize::line(subject);
    let stem = subject.trim_end_matches(['.', '…', ' ']);
    let para = first_paragraph(body);
    if subject.is_empty() {
        return para;
    }
    let looks_cut =
        subject.ends_with("...") || subject.ends_with('…') || subject.chars().count() >= 50;
    // Some readers print the subject in capitals; the body usually repeats it as written.
    let shouted =
        subject.chars().any(char::is_alphabetic) && !subject.chars().any(char::is_lowercase);
    let head: String = para.chars().take(stem.chars().count()).collect();
    let same_words = head.to_lowercase() == stem.to_lowercase();
    if looks_cut && para.len() > stem.len() && same_words {
        return para;
    }
    if shouted && same_words && head.chars().any(char::is_lowercase) {
        return head;
    }
    subject
}

/// Up to five lines before the first blank line, joined, capped at 300 characters.
fn first_paragraph(body: &str) -> String {
    let lines: Vec<&str> = body
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .take(5)
        .collect();
    let joined = sanitize::line(&lines.join(" "));
    if joined.chars().count() > 300 {
        joined.chars().take(300).collect()
    } else {
        joined
    }
}

/// The date of a gateway post: a `Date:` line among the first lines of the body, with the
/// value on the same line or the next one (RFC 2822 as RSS writes it, or an FTN date as UTC).
pub(crate) fn body_date(body: &str) -> Option<DateTime<Utc>> {
    let lines: Vec<&str> = body.lines().take(24).map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(head) = line.get(..5) else { continue };
        if !head.eq_ignore_ascii_case("date:") {
            continue;
        }
        let same = line.get(5..).unwrap_or_default().trim();
        let value = if same.is_empty() {
            lines
                .iter()
                .skip(i + 1)
                .find(|l| !l.is_empty())
                .copied()
                .unwrap_or_default()
        } else {
            same
        };
        if let Some(d) = parse_any_date(value) {
            return Some(d);
        }
    }
    None
}

/// The value after `label` (ASCII, any case) at the start of a line, trimmed.
fn label_value<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let t = line.trim();
    let head = t.get(..label.len())?;
    head.eq_ignore_ascii_case(label)
        .then(|| t.get(label.len()..).unwrap_or_default().trim())
}

/// A horizontal rule as gateways draw one above the link (ten or more `=` or `-`).
fn is_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 10 && (t.bytes().all(|b| b == b'=') || t.bytes().all(|b| b == b'-'))
}

/// Whitespace runs to one space, lowercased: how a wrapped title line compares to a title.
fn normalized(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The description inside a body laid out as a gateway post (title, `Date:`,
/// `Description:`, a rule, `Link to news story:`, as this gateway and RSS-to-echo gateways
/// write it); a body without `Description:` or a link line comes back whole. The gateway
/// rebuilds that layout around what this returns, so a story that arrived as echomail is
/// gated out with one header and footer, not its own wrapped in a second set.
pub fn gateway_description<'a>(body: &'a str, title: &str) -> Cow<'a, str> {
    let lines: Vec<&str> = body.lines().collect();
    let link_at = lines
        .iter()
        .position(|l| label_value(l, "link to news story:").is_some());
    // The label follows the title and the Date: block; further down it is prose.
    let desc_at = lines
        .iter()
        .take(12)
        .position(|l| label_value(l, "description:").is_some());
    if link_at.is_none() && desc_at.is_none() {
        return Cow::Borrowed(body);
    }
    let mut end = link_at.unwrap_or(lines.len());
    while end > 0
        && lines
            .get(end - 1)
            .is_some_and(|l| l.trim().is_empty() || is_rule(l))
    {
        end -= 1;
    }
    let mut text: Vec<&str> = Vec::new();
    match desc_at.filter(|d| *d < end) {
        Some(d) => {
            if let Some(same_line) = lines.get(d).and_then(|l| label_value(l, "description:"))
                && !same_line.is_empty()
            {
                text.push(same_line);
            }
            text.extend(lines.get(d + 1..end).unwrap_or_default());
        }
        None => {
            // No label: the title paragraph and a Date: block lead, the description follows.
            let blank = |i: usize| lines.get(i).is_none_or(|l| l.trim().is_empty());
            let mut start = 0;
            while start < end && blank(start) {
                start += 1;
            }
            let para_end = (start..end).find(|i| blank(*i)).unwrap_or(end);
            let para = lines.get(start..para_end).unwrap_or_default().join(" ");
            if !title.trim().is_empty() && normalized(&para) == normalized(title) {
                start = para_end;
            }
            while start < end && blank(start) {
                start += 1;
            }
            if let Some(date) = lines.get(start).and_then(|l| label_value(l, "date:"))
                && start < end
            {
                start += 1;
                if date.is_empty() {
                    // The value sits on the next non-empty line.
                    while start < end && blank(start) {
                        start += 1;
                    }
                    start += 1;
                }
            }
            text.extend(lines.get(start.min(end)..end).unwrap_or_default());
        }
    }
    let first = text
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(text.len());
    let last = text
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(first, |i| i + 1);
    Cow::Owned(text.get(first..last).unwrap_or_default().join("\n"))
}

fn parse_any_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc2822(value) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(value) {
        return Some(d.with_timezone(&Utc));
    }
    parse_ftn_date(value).map(|d| d.and_utc())
}

fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

fn is_url_token(t: &str) -> bool {
    !t.is_empty() && t.chars().all(is_url_char)
}

fn starts_url(t: &str) -> bool {
    let lower = t.get(..8).unwrap_or(t).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Removes sentence punctuation that follows a URL in prose.
fn trim_url(url: &str) -> String {
    let mut u = url.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '"']);
    if u.ends_with(')') && !u.contains('(') {
        u = u.trim_end_matches(')');
    }
    u.to_string()
}

/// A line long enough that the writer probably wrapped it there.
fn looks_wrapped(line: &str) -> bool {
    line.chars().count() >= 60
}

/// The story link and every URL of the body, in order, duplicates removed. Wrapped URLs
/// are joined: on the "Link to news story:" line every URL-only token belongs to the link
/// (`…western- models-while…` is one URL), and a URL ending a long line continues on the
/// next line when that line is one URL-only token or the URL ends in `-` or `/`.
pub(crate) fn find_links(body: &str) -> (Option<String>, Vec<String>) {
    let lines: Vec<&str> = body.lines().collect();
    let mut links: Vec<String> = Vec::new();
    let mut gateway_link = None;
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        let trimmed = line.trim();
        let is_link_line = trimmed
            .get(..19)
            .is_some_and(|h| h.eq_ignore_ascii_case("link to news story:"));
        if gateway_link.is_none() && is_link_line {
            let rest = trimmed.get(19..).unwrap_or_default().trim();
            let (url_line, rest, mut next) = if rest.is_empty() {
                // The URL may sit alone on the next line.
                let n = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default();
                (n, n, i + 2)
            } else {
                (trimmed, rest, i + 1)
            };
            let tokens: Vec<&str> = rest.split_whitespace().collect();
            if tokens.first().is_some_and(|t| starts_url(t)) {
                let mut url: String = tokens
                    .iter()
                    .take_while(|t| is_url_token(t))
                    .copied()
                    .collect();
                let whole_line = tokens.iter().all(|t| is_url_token(t));
                if whole_line && looks_wrapped(url_line) {
                    while let Some(cont) = lines.get(next).map(|l| l.trim()) {
                        if cont.contains(' ')
                            || !is_url_token(cont)
                            || cont.starts_with("---")
                            || starts_url(cont)
                        {
                            break;
                        }
                        url.push_str(cont);
                        next += 1;
                    }
                }
                let url = trim_url(&url);
                gateway_link = Some(url.clone());
                push_unique(&mut links, url);
                i = next;
                continue;
            }
        }
        collect_urls(&lines, i, &mut links);
        i += 1;
    }
    let link = gateway_link.or_else(|| links.first().cloned());
    (link, links)
}

fn push_unique(links: &mut Vec<String>, url: String) {
    if url.len() > 10 && !links.contains(&url) {
        links.push(url);
    }
}

/// URLs on line `i`, continued onto the next line when wrapped.
fn collect_urls(lines: &[&str], i: usize, links: &mut Vec<String>) {
    let Some(line) = lines.get(i) else { return };
    let mut rest: &str = line;
    while let Some(at) = find_url_start(rest) {
        let tail = rest.get(at..).unwrap_or_default();
        let len = tail.find(|c: char| !is_url_char(c)).unwrap_or(tail.len());
        let mut url = tail.get(..len).unwrap_or_default().to_string();
        let after = tail.get(len..).unwrap_or_default();
        if after.trim().is_empty() && looks_wrapped(line) {
            if let Some(next) = lines.get(i + 1).map(|l| l.trim())
                && let Some(first) = next.split_whitespace().next()
                && is_url_token(first)
                && !starts_url(first)
                && (url.ends_with('-') || url.ends_with('/') || !next.contains(' '))
            {
                url.push_str(first);
            }
        } else if url.ends_with('-') {
            // "…western- models-while…": a hyphen split with a space left behind.
            let mut words = after.split(' ');
            if words.next() == Some("")
                && let Some(w) = words.next()
                && is_url_token(w)
                && w.contains('-')
            {
                url.push_str(w);
            }
        }
        push_unique(links, trim_url(&url));
        rest = tail.get(len.max(1)..).unwrap_or_default();
    }
}

/// Byte offset of the first `http://` or `https://` (any case), without allocating: look
/// for `://` and check the scheme before it.
fn find_url_start(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(rel) = b.get(from..)?.iter().position(|c| *c == b':') {
        let colon = from + rel;
        if b.get(colon + 1..colon + 3) == Some(b"//".as_slice()) {
            for scheme in [b"https".as_slice(), b"http".as_slice()] {
                if let Some(start) = colon.checked_sub(scheme.len())
                    && b.get(start..colon)
                        .is_some_and(|w| w.eq_ignore_ascii_case(scheme))
                {
                    return Some(start);
                }
            }
        }
        from = colon + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_link_joined_across_space_and_lines() {
        let body = "T\n\nLink to news story: https://www.techradar.com/pro/the-great-ai-irony-china-cracks-down-on-western- models-while-us-companies-flock-to-deepseek\n";
        let (link, _) = find_links(body);
        assert_eq!(
            link.as_deref(),
            Some(
                "https://www.techradar.com/pro/the-great-ai-irony-china-cracks-down-on-western-models-while-us-companies-flock-to-deepseek"
            )
        );
        let body = "Link to news story: https://example.com/a/very/long/path/that/goes/on-and-on-\nand-ends-here\n\n--- x";
        assert_eq!(
            find_links(body).0.as_deref(),
            Some("https://example.com/a/very/long/path/that/goes/on-and-on-and-ends-here")
        );
        let body = "Link to news story:\nhttps://example.com/x\nMore text here";
        assert_eq!(find_links(body).0.as_deref(), Some("https://example.com/x"));
    }

    #[test]
    fn first_url_in_prose() {
        let body =
            "See (https://example.com/a). Also http://example.org/b, and https://example.com/a.";
        let (link, links) = find_links(body);
        assert_eq!(link.as_deref(), Some("https://example.com/a"));
        assert_eq!(links, ["https://example.com/a", "http://example.org/b"]);
        let body = "Read the whole thing at the site of the agency here: https://www.bis.gov/press/\nrelease-2026-04 and then comment.";
        assert_eq!(
            find_links(body).0.as_deref(),
            Some("https://www.bis.gov/press/release-2026-04")
        );
        assert_eq!(
            find_links("see https://a.example.com/ now and then")
                .0
                .as_deref(),
            Some("https://a.example.com/")
        );
    }

    #[test]
    fn gateway_layout_is_taken_apart_once() {
        let title = "Beijing's CAC publishes labelling rules for AI-generated content";
        let body = "Beijing's CAC publishes labelling rules for AI-generated content\n\nDate:\nFri, 14 Aug 2026 06:18:00 +0000\n\nDescription:\nThe Cyberspace Administration said providers must label\nsynthetic text.\n\nSecond paragraph.\n\n======================================================================\nLink to news story: https://samples.echowatch.invalid/cac";
        assert_eq!(
            gateway_description(body, title),
            "The Cyberspace Administration said providers must label\nsynthetic text.\n\nSecond paragraph."
        );
        // Without a Description: label (a post with an empty one, another gateway's layout).
        let body = "Short title\n\nDate: Fri, 14 Aug 2026 06:18:00 +0000\n\nThe text.\n\nLink to news story: https://a.example/x";
        assert_eq!(gateway_description(body, "Short title"), "The text.");
        let body = "Short title\n\nDate:\nFri, 14 Aug 2026 06:18:00 +0000\n\n=================\nLink to news story: https://a.example/x";
        assert_eq!(gateway_description(body, "Short title"), "");
        // The title paragraph wrapped by the writer still counts as the title.
        let body = "A long\ntitle\n\nBody.\nLink to news story: https://a.example/x";
        assert_eq!(gateway_description(body, "A long title"), "Body.");
        // Anything else is the description as it is.
        let plain = "A feed story.\n\nIts second paragraph [1].";
        assert!(matches!(gateway_description(plain, "T"), Cow::Borrowed(b) if b == plain));
    }

    #[test]
    fn titles_and_dates() {
        let body = "The Netherlands announces obligations under the AI Act for general-purpose models\n\nDate:\nFri, 14 Aug 2026 06:18:00 +0000\n";
        let title = choose_title(
            "The Netherlands announces obligations under the AI Act for general-p...",
            body,
        );
        assert_eq!(
            title,
            "The Netherlands announces obligations under the AI Act for general-purpose models"
        );
        assert_eq!(choose_title("Hello", "Hello world\n"), "Hello");
        // A subject in capitals takes the body's own casing of the same words.
        assert_eq!(
            choose_title(
                "SEMICONDUCTOR SMUGGLING RING BROKEN UP IN SINGAPORE, POLICE SAY",
                "Semiconductor smuggling ring broken up in Singapore, police say\n\nDate:\n"
            ),
            "Semiconductor smuggling ring broken up in Singapore, police say"
        );
        assert_eq!(
            choose_title(
                "BIS ADDS FIRMS",
                "BIS adds firms to the list, officials said.\n"
            ),
            "BIS adds firms"
        );
        assert_eq!(choose_title("NATO", "NATO met today.\n"), "NATO");
        assert_eq!(
            choose_title("", "First line\nsecond\n\nthird"),
            "First line second"
        );
        assert_eq!(
            body_date(body).unwrap().to_rfc3339(),
            "2026-08-14T06:18:00+00:00"
        );
        assert_eq!(
            body_date("Date: 2026-01-02T03:04:05+01:00")
                .unwrap()
                .to_rfc3339(),
            "2026-01-02T02:04:05+00:00"
        );
        assert_eq!(body_date("no date here"), None);
    }
}
