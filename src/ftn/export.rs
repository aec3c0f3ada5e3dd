//! BBS reader text exports: messages printed as text, several per file, each starting with
//! a `From NAME@Z:N/F[.P] to NAME on DATE` header line (Mystic, and readers like it), often
//! preceded by a `• Subject` line, indented as a block, ending with tear line and origin.

use super::FtnError;
use super::address::FtnAddress;
use super::charset::Charset;
use super::date::parse_ftn_date;
use super::message::{EchoMessage, origin_address, split_tail};
use super::story::to_story;
use crate::model::ParsedStory;

/// A `From … to … on …` header line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExportHeader {
    from: String,
    addr: FtnAddress,
    to: String,
    date: String,
}

/// Reads every message of a text export as a story (area-less echomail unless an `AREA:`
/// line says otherwise). Fails when no message header is found at all.
pub fn read_text_export(bytes: &[u8]) -> Result<Vec<ParsedStory>, FtnError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // Readers write the local charset: UTF-8 today, CP437 on DOS-era systems.
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => std::borrow::Cow::Owned(Charset::Cp437.decode(bytes)),
    };
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let headers: Vec<(usize, ExportHeader)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| parse_header(l).map(|h| (i, h)))
        .collect();
    if headers.is_empty() {
        return Err(FtnError::NotTextExport);
    }
    let mut stories = Vec::with_capacity(headers.len());
    for (n, (at, header)) in headers.iter().enumerate() {
        let end = headers.get(n + 1).map_or(lines.len(), |(next, _)| *next);
        let mut body_lines: Vec<&str> = lines.get(at + 1..end).unwrap_or_default().to_vec();
        // A "• Subject" line just before the next header belongs to that next message.
        while body_lines.last().is_some_and(|l| l.trim().is_empty()) {
            body_lines.pop();
        }
        if n + 1 < headers.len() && body_lines.last().is_some_and(|l| is_subject_line(l)) {
            body_lines.pop();
        }
        let subject = subject_before(&lines, *at);
        stories.push(message_story(header, subject, &body_lines));
    }
    Ok(stories)
}

/// True when the bytes look like a text export (a header line among the first 64 KiB).
pub fn looks_like_text_export(bytes: &[u8]) -> bool {
    let head = bytes.get(..bytes.len().min(65536)).unwrap_or_default();
    String::from_utf8_lossy(head)
        .lines()
        .any(|l| parse_header(l).is_some())
}

fn is_subject_line(line: &str) -> bool {
    line.trim_start().starts_with('•')
}

/// The `• Subject` line above a header (blank lines between allowed).
fn subject_before(lines: &[&str], at: usize) -> Option<String> {
    let prev = lines.iter().take(at).rev().find(|l| !l.trim().is_empty())?;
    let t = prev.trim_start();
    t.strip_prefix('•').map(|s| s.trim().to_string())
}

fn parse_header(line: &str) -> Option<ExportHeader> {
    let rest = line.trim().strip_prefix("From ")?;
    // The name may contain spaces and even '@': take the first '@' followed by an address and " to ".
    for (at, _) in rest.match_indices('@') {
        let after = rest.get(at + 1..)?;
        let addr_end = after.find(' ').unwrap_or(after.len());
        let Ok(addr) = after.get(..addr_end)?.parse::<FtnAddress>() else {
            continue;
        };
        let Some(tail) = after.get(addr_end..)?.strip_prefix(" to ") else {
            continue;
        };
        let (to, date) = match tail.rfind(" on ") {
            Some(on) => (tail.get(..on)?, tail.get(on + 4..)?),
            None => (tail, ""),
        };
        return Some(ExportHeader {
            from: rest.get(..at)?.trim().to_string(),
            addr,
            to: to.trim().to_string(),
            date: date.trim().to_string(),
        });
    }
    None
}

fn message_story(
    header: &ExportHeader,
    subject: Option<String>,
    body_lines: &[&str],
) -> ParsedStory {
    // Readers indent the whole message: remove the common indent.
    let indent = body_lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    let mut content: Vec<&str> = Vec::with_capacity(body_lines.len());
    let mut kludges = Vec::new();
    let mut subject = subject;
    let mut area = None;
    for (i, line) in body_lines.iter().enumerate() {
        let l = line.get(indent..).unwrap_or_else(|| line.trim_start());
        // Some readers show kludges as "@MSGID: …" or keep the ^A; keep them out of the body.
        if let Some(k) = l.strip_prefix('\u{1}').or_else(|| kludge_shown_with_at(l)) {
            let (name, value) = k.split_once([':', ' ']).unwrap_or((k, ""));
            kludges.push((name.trim().to_string(), value.trim().to_string()));
            continue;
        }
        if content.is_empty() && area.is_none() && i < 3 {
            if let Some(a) = l.strip_prefix("AREA:") {
                area = Some(a.trim().to_string());
                continue;
            }
            if let Some(s) = l
                .strip_prefix("Subj:")
                .or_else(|| l.strip_prefix("Subject:"))
            {
                subject = Some(s.trim().to_string());
                continue;
            }
        }
        content.push(l);
    }
    let tail = split_tail(&content);
    let kludge = |name: &str| {
        kludges
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let origin_addr = tail
        .origin
        .as_deref()
        .and_then(origin_address)
        .or(Some(header.addr));
    let msg = EchoMessage {
        area,
        from: header.from.clone(),
        to: header.to.clone(),
        subject: subject.unwrap_or_default(),
        date: parse_ftn_date(&header.date),
        date_raw: header.date.clone(),
        orig_net: header.addr.net,
        orig_node: header.addr.node,
        dest_net: 0,
        dest_node: 0,
        attributes: 0,
        msgid: kludge("MSGID"),
        reply: kludge("REPLY"),
        pid: kludge("PID"),
        tzutc: kludge("TZUTC").and_then(|v| super::date::parse_tzutc(&v)),
        charset: Charset::Utf8,
        charset_from_kludge: false,
        body: tail.body,
        tearline: tail.tearline,
        origin: tail.origin,
        origin_addr,
        seen_by: Vec::new(),
        path: Vec::new(),
        kludges,
    };
    let mut story = to_story(&msg);
    if msg.msgid.is_none() {
        // Without a MSGID the link is the better identity across exports (the store falls
        // back to it), and a hash of printed text would change with the reader's layout.
        if story.link.is_some() {
            story.guid = None;
        }
    }
    story
}

fn kludge_shown_with_at(line: &str) -> Option<&str> {
    let k = line.strip_prefix('@')?;
    let name_end = k.find(':')?;
    let name = k.get(..name_end)?;
    let known = [
        "MSGID", "REPLY", "PID", "TZUTC", "CHRS", "CHARSET", "TID", "PATH", "INTL", "FMPT", "TOPT",
        "Via",
    ];
    known
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
        .then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_line() {
        let h =
            parse_header("    From TechnologyDaily@1337:1/100 to All on Thu Jun 11 22:15:27 2026")
                .unwrap();
        assert_eq!(h.from, "TechnologyDaily");
        assert_eq!(h.addr, FtnAddress::new(1337, 1, 100, 0));
        assert_eq!(h.to, "All");
        assert_eq!(h.date, "Thu Jun 11 22:15:27 2026");
        let h = parse_header(
            "From Jane Doe@home@2:5020/1.4 to John on the hill on 01 Jan 26  10:00:00",
        )
        .unwrap();
        assert_eq!(
            (h.from.as_str(), h.to.as_str()),
            ("Jane Doe@home", "John on the hill")
        );
        assert!(parse_header("From here to there on Monday").is_none());
    }

    #[test]
    fn two_messages() {
        let text = "• First subject\n\n  From A@1:2/3 to All on Thu Jun 11 22:15:27 2026\n  First subject\n\n  Body https://a.example/x\n\n  --- R\n  * Origin: X (1:2/3)\n\n• Second\n  From B@1:2/4.1 to All on 12 Jun 26  10:00:00\n  Second body\n";
        let s = read_text_export(text.as_bytes()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].title, "First subject");
        assert_eq!(s[0].link.as_deref(), Some("https://a.example/x"));
        assert_eq!(s[0].body, "First subject\n\nBody https://a.example/x");
        assert_eq!(s[1].title, "Second");
        assert_eq!(s[1].origin.as_deref(), Some("1:2/4.1"));
        assert_eq!(
            s[1].published.unwrap().to_rfc3339(),
            "2026-06-12T10:00:00+00:00"
        );
        assert!(read_text_export(b"nothing here").is_err());
    }
}
