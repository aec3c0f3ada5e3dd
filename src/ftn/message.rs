//! The echomail layer (FTS-0004, FTS-4000, FTS-0009, FTS-4008, FTS-5003): a packed message's
//! text split into `AREA:`, kludges, body, tear line, origin, SEEN-BY and PATH, decoded by
//! its `CHRS` kludge or the area's default charset.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset, Utc};

use super::address::FtnAddress;
use super::charset::{Charset, Charsets};
use super::date::{parse_ftn_date, parse_tzutc};
use super::packet::PackedMessage;

/// A decoded echomail (or netmail, when `area` is `None`) message.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoMessage {
    /// Echo tag from the `AREA:` line; `None` for netmail.
    pub area: Option<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    /// The DateTime field as written, and its reading (local time of the writer).
    pub date_raw: String,
    pub date: Option<NaiveDateTime>,
    /// Packed-message net/node fields (the zone is not in the packed message).
    pub orig_net: u16,
    pub orig_node: u16,
    pub dest_net: u16,
    pub dest_node: u16,
    pub attributes: u16,
    /// Every kludge line in order, `^A` removed: (name, value). `PATH` and `Via` included.
    pub kludges: Vec<(String, String)>,
    pub msgid: Option<String>,
    pub reply: Option<String>,
    pub pid: Option<String>,
    /// The `TZUTC` (or `TZUTCINFO`) offset when present and valid.
    pub tzutc: Option<FixedOffset>,
    /// The charset the text was decoded with, and whether a `CHRS` kludge named it.
    pub charset: Charset,
    pub charset_from_kludge: bool,
    /// Message text without AREA, kludges, tear line, origin, SEEN-BY and PATH; lines joined by `\n`.
    pub body: String,
    /// Tear line text after `---` (may be empty), when present.
    pub tearline: Option<String>,
    /// The whole origin line after `* Origin: `, and the address in its last parentheses.
    pub origin: Option<String>,
    pub origin_addr: Option<FtnAddress>,
    /// SEEN-BY and PATH entries (`net/node`, 2D, as written).
    pub seen_by: Vec<String>,
    pub path: Vec<String>,
}

impl EchoMessage {
    /// Decodes a packed message. The charset is the `CHRS` kludge's, else `defaults`' for
    /// the message's area (CP437 when not configured).
    pub fn from_packed(msg: &PackedMessage<'_>, defaults: &Charsets) -> EchoMessage {
        Self::decode_packed(msg, defaults, None)
    }

    fn decode_packed(
        msg: &PackedMessage<'_>,
        defaults: &Charsets,
        forced: Option<Charset>,
    ) -> EchoMessage {
        let (area_tag, leading_chrs) = scan_control(msg.text);
        let chrs = forced.or(leading_chrs);
        let area = area_tag
            .map(|tag| String::from_utf8_lossy(tag.trim_ascii()).into_owned())
            .filter(|t| !t.is_empty());
        let (charset, from_kludge) = match chrs {
            Some(cs) => (cs, true),
            None => (defaults.for_area(area.as_deref()), false),
        };
        let soft_cr = charset.has_soft_cr();
        let decode = |b: &[u8]| -> String {
            if soft_cr && b.contains(&0x8D) {
                let cleaned: Vec<u8> = b.iter().copied().filter(|c| *c != 0x8D).collect();
                charset.decode(&cleaned)
            } else {
                charset.decode(b)
            }
        };
        // Decode the text once (borrowed when it is ASCII or valid UTF-8), then split lines.
        let cleaned: Cow<'_, [u8]> = if soft_cr && msg.text.contains(&0x8D) {
            Cow::Owned(msg.text.iter().copied().filter(|c| *c != 0x8D).collect())
        } else {
            Cow::Borrowed(msg.text)
        };
        let text = charset.decode_cow(&cleaned);

        let mut kludges = Vec::new();
        let mut content: Vec<&str> = Vec::with_capacity(text.len() / 40 + 4);
        let mut area_pending = area.is_some();
        for line in split_str_lines(&text) {
            if let Some(k) = line.strip_prefix('\u{1}') {
                let (name, value) = split_kludge(k);
                // A charset kludge after the body started (rare): decode again with it.
                if chrs.is_none()
                    && (name.eq_ignore_ascii_case("CHRS") || name.eq_ignore_ascii_case("CHARSET"))
                    && let Some(cs) = Charset::from_chrs(value)
                {
                    return Self::decode_packed(msg, defaults, Some(cs));
                }
                kludges.push((name.to_string(), value.to_string()));
                continue;
            }
            if area_pending {
                // The AREA line is the first non-empty, non-kludge line (see scan_control).
                if !line.is_empty() {
                    area_pending = false;
                }
                continue;
            }
            content.push(line);
        }

        let tail = split_tail(&content);
        let (body, tearline, origin, seen_by_lines) =
            (tail.body, tail.tearline, tail.origin, tail.seen_by_lines);

        let kludge = |name: &str| {
            kludges
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let tzutc = kludge("TZUTC")
            .or_else(|| kludge("TZUTCINFO"))
            .and_then(|v| parse_tzutc(&v));
        let path = kludges
            .iter()
            .filter(|(n, _)| n == "PATH")
            .flat_map(|(_, v)| expand_2d(v))
            .collect();
        let seen_by = seen_by_lines.iter().flat_map(|l| expand_2d(l)).collect();
        let origin_addr = origin.as_deref().and_then(origin_address);
        let date_raw = decode(msg.date_time);
        EchoMessage {
            area,
            from: decode(msg.from),
            to: decode(msg.to),
            subject: decode(msg.subject),
            date: parse_ftn_date(&date_raw),
            date_raw,
            orig_net: msg.orig_net,
            orig_node: msg.orig_node,
            dest_net: msg.dest_net,
            dest_node: msg.dest_node,
            attributes: msg.attributes,
            msgid: kludge("MSGID"),
            reply: kludge("REPLY"),
            pid: kludge("PID"),
            tzutc,
            charset,
            charset_from_kludge: from_kludge,
            body,
            tearline,
            origin,
            origin_addr,
            seen_by,
            path,
            kludges,
        }
    }

    /// The value of the first kludge of that name (case-insensitive), e.g. `INTL`, `FMPT`, `TOPT`.
    pub fn kludge(&self, name: &str) -> Option<&str> {
        self.kludges
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The message date in UTC, corrected by TZUTC (taken as UTC when there is none).
    pub fn date_utc(&self) -> Option<DateTime<Utc>> {
        let local = self.date?;
        let offset = self.tzutc.unwrap_or(Utc.fix());
        local
            .and_local_timezone(offset)
            .single()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The address of the message's author: origin line, else MSGID, else `None`.
    pub fn author_address(&self) -> Option<FtnAddress> {
        self.origin_addr.or_else(|| {
            let id = self.msgid.as_deref()?;
            id.split_whitespace().next()?.parse().ok()
        })
    }
}

/// What [`split_tail`] finds in decoded lines.
pub(crate) struct Tail {
    pub body: String,
    pub tearline: Option<String>,
    pub origin: Option<String>,
    pub seen_by_lines: Vec<String>,
}

/// Reads the control block at the end of a message backwards (SEEN-BY lines, the origin
/// line, the tear line) and joins the rest as the body, outer blank lines trimmed.
pub(crate) fn split_tail<S: AsRef<str>>(content: &[S]) -> Tail {
    let line_at = |i: usize| content.get(i).map(|l| l.as_ref());
    let mut end = content.len();
    let mut seen_by_lines = Vec::new();
    while let Some(line) = end.checked_sub(1).and_then(line_at) {
        if line.trim().is_empty() {
            end -= 1;
        } else if let Some(rest) = line.trim_start().strip_prefix("SEEN-BY:") {
            seen_by_lines.push(rest.to_string());
            end -= 1;
        } else {
            break;
        }
    }
    seen_by_lines.reverse();
    let mut origin = None;
    if let Some(line) = end.checked_sub(1).and_then(line_at)
        && let Some(rest) = line.trim_start().strip_prefix("* Origin:")
    {
        origin = Some(rest.trim().to_string());
        end -= 1;
        // Some readers leave blank lines between the tear line and the origin.
        while end
            .checked_sub(1)
            .and_then(line_at)
            .is_some_and(|l| l.trim().is_empty())
        {
            end -= 1;
        }
    }
    let mut tearline = None;
    if let Some(line) = end.checked_sub(1).and_then(line_at) {
        let t = line.trim_start();
        if t.trim_end() == "---" || t.starts_with("--- ") {
            tearline = Some(t.get(3..).unwrap_or_default().trim().to_string());
            end -= 1;
        }
    }
    let first = (0..end)
        .find(|i| line_at(*i).is_some_and(|l| !l.trim().is_empty()))
        .unwrap_or(end);
    while end > first && line_at(end - 1).is_some_and(|l| l.trim().is_empty()) {
        end -= 1;
    }
    let mut body = String::new();
    for i in first..end {
        if i > first {
            body.push('\n');
        }
        body.push_str(line_at(i).unwrap_or_default().trim_end());
    }
    Tail {
        body,
        tearline,
        origin,
        seen_by_lines,
    }
}

/// Splits decoded text on CR, LF and CRLF (FTS-0001 uses CR; exports and some software
/// LF). `str::find(char)` is memchr; the next CR and LF positions are cached so a text
/// without one of them is not rescanned for every line.
fn split_str_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut pos = 0usize;
    let mut next_cr: Option<Option<usize>> = None;
    let mut next_lf: Option<Option<usize>> = None;
    let mut done = text.is_empty();
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let rest = text.get(pos..).unwrap_or_default();
        let refresh = |cached: &mut Option<Option<usize>>, c: char| {
            if cached.is_none_or(|p| p.is_some_and(|p| p < pos)) {
                *cached = Some(rest.find(c).map(|i| pos + i));
            }
            cached.flatten()
        };
        let cr = refresh(&mut next_cr, '\r');
        let lf = refresh(&mut next_lf, '\n');
        let end = match (cr, lf) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match end {
            Some(e) => {
                let line = text.get(pos..e).unwrap_or_default();
                let skip = if cr == Some(e) && lf == Some(e + 1) {
                    2
                } else {
                    1
                };
                pos = e + skip;
                done = pos >= text.len();
                Some(line)
            }
            None => {
                done = true;
                Some(rest)
            }
        }
    })
}

fn line_at(text: &[u8], start: usize) -> &[u8] {
    let rest = text.get(start..).unwrap_or_default();
    let end = rest
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n')
        .unwrap_or(rest.len());
    rest.get(..end).unwrap_or_default()
}

fn strip_prefix_ci<'b>(line: &'b [u8], prefix: &[u8]) -> Option<&'b [u8]> {
    let head = line.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        line.get(prefix.len()..)
    } else {
        None
    }
}

/// What decoding depends on, from the leading lines (AREA and the kludges around it, where
/// every writer puts them): the AREA tag and the charset named by `CHRS`/`CHARSET` (or
/// `CODEPAGE`, which overrides `CHRS: IBMPC`). Both are ASCII in every charset. A charset
/// kludge further down is caught while splitting lines (see `decode_packed`).
fn scan_control(text: &[u8]) -> (Option<&[u8]>, Option<Charset>) {
    let mut area = None;
    let mut area_seen = false;
    let mut chrs = None;
    let mut codepage = None;
    let mut start = 0;
    while start < text.len() {
        let line = line_at(text, start);
        if let Some(k) = line.strip_prefix(b"\x01") {
            if let Some(v) =
                strip_prefix_ci(k, b"CHRS:").or_else(|| strip_prefix_ci(k, b"CHARSET:"))
            {
                chrs = chrs.or_else(|| Charset::from_chrs(&String::from_utf8_lossy(v)));
            } else if let Some(v) = strip_prefix_ci(k, b"CODEPAGE:") {
                let v = String::from_utf8_lossy(v);
                codepage = codepage.or_else(|| Charset::from_chrs(&format!("CP{}", v.trim())));
            }
        } else if !line.is_empty() {
            if area_seen {
                break; // the body starts
            }
            area_seen = true;
            area = strip_prefix_ci(line, b"AREA:");
            if area.is_none() {
                break; // netmail: the body starts
            }
        }
        start += line.len() + 1;
    }
    let cs = match (chrs, codepage) {
        (Some(Charset::Cp437), Some(cp)) => Some(cp),
        (Some(cs), _) => Some(cs),
        (None, cp) => cp,
    };
    (area, cs)
}

/// `NAME: value` (most kludges) or `NAME value` (INTL, FMPT, TOPT).
fn split_kludge(text: &str) -> (&str, &str) {
    let text = text.trim_end();
    let name_end = text.find([':', ' ']).unwrap_or(text.len());
    let name = text.get(..name_end).unwrap_or_default();
    let rest = text.get(name_end..).unwrap_or_default();
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    (name, rest.trim())
}

/// Expands 2D lists (`1/100 101 2/5`) into `net/node` entries; the net carries over.
fn expand_2d(list: &str) -> Vec<String> {
    let mut net: Option<&str> = None;
    let mut out = Vec::new();
    for tok in list.split_whitespace() {
        match tok.split_once('/') {
            Some((n, node)) => {
                net = Some(n);
                out.push(format!("{n}/{node}"));
            }
            None => match net {
                Some(n) => out.push(format!("{n}/{tok}")),
                None => out.push(tok.to_string()),
            },
        }
    }
    out
}

/// The address in the last parentheses of an origin line, e.g. `… (1337:1/100.0)`.
pub fn origin_address(origin: &str) -> Option<FtnAddress> {
    let open = origin.rfind('(')?;
    let inner = origin.get(open + 1..)?;
    let close = inner.find(')').unwrap_or(inner.len());
    inner.get(..close)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(text: &[u8]) -> PackedMessage<'_> {
        PackedMessage {
            offset: 58,
            orig_node: 100,
            dest_node: 0,
            orig_net: 1,
            dest_net: 1,
            attributes: 0,
            cost: 0,
            date_time: b"28 Nov 26  22:56:24",
            to: b"All",
            from: b"Daily",
            subject: b"Hello",
            text,
        }
    }

    #[test]
    fn splits_control_from_body() {
        let text = b"AREA:TQW_TECH\r\x01MSGID: 1337:1/100 0b5c1800\r\x01TZUTC: -0700\r\x01INTL 1:2/3 1:2/4\rHello\r\r  world\r\r--- Tosser 1.0\r * Origin: Some BBS (1:2) (1337:1/100.5)\rSEEN-BY: 1/100 101 2/5\rSEEN-BY: 2/6\r\x01PATH: 1/100\r";
        let m = EchoMessage::from_packed(&packed(text), &Charsets::default());
        assert_eq!(m.area.as_deref(), Some("TQW_TECH"));
        assert_eq!(m.msgid.as_deref(), Some("1337:1/100 0b5c1800"));
        assert_eq!(m.kludge("INTL"), Some("1:2/3 1:2/4"));
        assert_eq!(m.body, "Hello\n\n  world");
        assert_eq!(m.tearline.as_deref(), Some("Tosser 1.0"));
        assert_eq!(m.origin_addr, Some(FtnAddress::new(1337, 1, 100, 5)));
        assert_eq!(m.seen_by, ["1/100", "1/101", "2/5", "2/6"]);
        assert_eq!(m.path, ["1/100"]);
        assert_eq!(
            m.date_utc().unwrap().to_rfc3339(),
            "2026-11-29T05:56:24+00:00"
        );
    }

    #[test]
    fn charsets_and_soft_cr() {
        // CP866 with CHRS: 0x8D is the letter Н and must survive.
        let m = EchoMessage::from_packed(
            &packed(b"AREA:R\n\x01CHRS: CP866 2\n\x8D\xA5\xE2\n"),
            &Charsets::default(),
        );
        assert_eq!(m.body, "Нет");
        // CP437 by default: 0x8D is a soft CR and goes.
        let m = EchoMessage::from_packed(
            &packed(b"AREA:R\r\nsoft\x8Dwrap caf\x82\r\n"),
            &Charsets::default(),
        );
        assert_eq!(m.body, "softwrap café");
        assert!(!m.charset_from_kludge);
        // Per-area default.
        let cs = Charsets::default().with_area("R", Charset::Cp866);
        let m = EchoMessage::from_packed(&packed(b"AREA:R\r\x8D\xA5\xE2"), &cs);
        assert_eq!(m.body, "Нет");
        // UTF-8: 0x8D is a continuation byte.
        let m =
            EchoMessage::from_packed(&packed("AREA:R\r\x01CHRS: UTF-8 4\rНет\r".as_bytes()), &cs);
        assert_eq!(m.body, "Нет");
    }

    #[test]
    fn late_charset_kludge_and_mixed_line_ends() {
        let m = EchoMessage::from_packed(
            &packed(b"AREA:R\r\nbody \x8D\xA5\n\r\x01CHRS: CP866 2\r"),
            &Charsets::default(),
        );
        assert_eq!((m.charset, m.body.as_str()), (Charset::Cp866, "body Не"));
        let lines: Vec<&str> = split_str_lines("a\r\nb\n\rc\r\r").collect();
        assert_eq!(lines, ["a", "b", "", "c", ""]);
        assert_eq!(split_str_lines("").count(), 0);
        assert_eq!(split_str_lines("x").collect::<Vec<_>>(), ["x"]);
    }

    #[test]
    fn netmail_has_no_area() {
        let m = EchoMessage::from_packed(
            &packed(
                b"\x01INTL 99:99/99 1:322/761\r\x01MSGID: 1:322/761 ea6ec1dd\rThis is a sample.\r",
            ),
            &Charsets::default(),
        );
        assert_eq!(m.area, None);
        assert_eq!(m.body, "This is a sample.");
        assert_eq!(m.author_address(), Some(FtnAddress::new(1, 322, 761, 0)));
    }
}
