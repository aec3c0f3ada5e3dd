//! Writing echomail: type 2+ packets (FSC-0048) with messages laid out the way tossers
//! expect (AREA line, MSGID/PID/TZUTC/CHRS kludges, tear line, origin, SEEN-BY, PATH), the
//! gateway-post body layout, and BinkleyTerm-style outbound (BSO) file names.

use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};
use oem_cp::code_table::ENCODING_TABLE_CP437;
use unicode_normalization::UnicodeNormalization;
use unicode_width::UnicodeWidthStr;

use super::FtnError;
use super::address::FtnAddress;
use super::date::{format_ftn_date, format_tzutc};
use super::packet::{HEADER_LEN, MAX_NAME, MAX_SUBJECT, PacketHeader, PacketKind};

/// Lines of the body are wrapped at this many columns.
pub const WRAP_COLUMNS: usize = 79;

/// The charsets echowatch writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OutCharset {
    /// `CHRS: UTF-8 4`.
    #[default]
    Utf8,
    /// `CHRS: CP437 2`, characters outside CP437 transliterated (`—` → `-`, `ő` → `o`,
    /// `Новости` → `Novosti`, with `deunicode` for other scripts).
    Cp437,
}

impl OutCharset {
    fn chrs(self) -> &'static str {
        match self {
            OutCharset::Utf8 => "UTF-8 4",
            OutCharset::Cp437 => "CP437 2",
        }
    }

    /// The text as it will read once encoded: for CP437, what it lacks transliterated
    /// (`ж` → `zh`, `漢` → `Han `). Lines are wrapped after this, as transliteration can
    /// make them longer.
    pub fn transliterate(self, text: &str) -> String {
        match self {
            OutCharset::Utf8 => text.to_string(),
            OutCharset::Cp437 => super::charset::Charset::Cp437.decode(&self.encode(text)),
        }
    }

    /// Encodes text; never emits NUL or the soft-CR byte 0x8D.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            OutCharset::Utf8 => text.bytes().filter(|b| *b != 0).collect(),
            OutCharset::Cp437 => {
                // CP437 has a few Greek letters (π, Σ, Ω …) for formulas. Text written in
                // Greek needs others too: it is transliterated whole, not left half Greek
                // and half Latin (`Ελλάδα` → `Ellada`, not `Eλλada`).
                let greek_text = text.chars().any(|c| is_greek(c) && cp437_byte(c).is_none());
                let mut out = Vec::with_capacity(text.len());
                for c in text.chars() {
                    if greek_text && is_greek(c) {
                        transliterate_char(c, &mut out);
                    } else {
                        encode_cp437_char(c, &mut out);
                    }
                }
                out
            }
        }
    }
}

fn encode_cp437_char(c: char, out: &mut Vec<u8>) {
    if c == '\0' {
        return;
    }
    if c.is_ascii() {
        out.push(c as u8);
        return;
    }
    if let Some(b) = cp437_byte(c) {
        out.push(b);
        return;
    }
    let ascii: Option<&str> = match c {
        '\u{2010}'..='\u{2015}' | '\u{2212}' => Some("-"),
        '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{2032}' => Some("'"),
        '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{2033}' => Some("\""),
        '\u{2026}' => Some("..."),
        '\u{2022}' => Some("*"),
        '\u{20ac}' => Some("EUR"),
        '\u{2122}' => Some("(TM)"),
        '\u{00a9}' => Some("(C)"),
        '\u{00ae}' => Some("(R)"),
        '\u{00a0}' | '\u{2000}'..='\u{200a}' | '\u{202f}' => Some(" "),
        // Letters with a stroke do not decompose.
        'Ł' => Some("L"),
        'ł' => Some("l"),
        'Ø' => Some("O"),
        'ø' => Some("o"),
        'Đ' => Some("D"),
        'đ' => Some("d"),
        'Œ' => Some("OE"),
        'œ' => Some("oe"),
        _ => None,
    };
    if let Some(s) = ascii {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    // Letters with accents CP437 lacks: decompose and keep the base letter.
    let mut any = false;
    for d in std::iter::once(c).nfkd() {
        if unicode_normalization::char::is_combining_mark(d) {
            continue;
        }
        if d.is_ascii() {
            out.push(d as u8);
            any = true;
        } else if let Some(b) = cp437_byte(d) {
            out.push(b);
            any = true;
        }
    }
    if any {
        return;
    }
    // Other scripts (Cyrillic, Greek letters CP437 lacks, CJK, emoji): transliterated to
    // ASCII, so that a CP437 reader sees words, not a line of `?`.
    transliterate_char(c, out);
}

/// `c` in CP437, if it has it. 0x8D is 'ì' there, but readers take it for a soft CR: never
/// written.
fn cp437_byte(c: char) -> Option<u8> {
    (c != 'ì')
        .then(|| oem_cp::encode_char_checked(c, &ENCODING_TABLE_CP437))
        .flatten()
}

/// Greek and Coptic, and Greek with its accents.
fn is_greek(c: char) -> bool {
    matches!(c, '\u{0370}'..='\u{03ff}' | '\u{1f00}'..='\u{1fff}')
}

/// `c` as ASCII letters (`ж` → `zh`), or `?` when there is no such reading.
fn transliterate_char(c: char, out: &mut Vec<u8>) {
    match deunicode::deunicode_char(c) {
        Some(ascii) if !ascii.is_empty() => {
            out.extend(ascii.bytes().filter(|b| b.is_ascii_graphic() || *b == b' '));
        }
        _ => out.push(b'?'),
    }
}

/// One echomail message to write.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoMessageOut {
    pub area: String,
    /// Cut to 35 bytes when longer.
    pub from_name: String,
    pub to_name: String,
    /// Cut to 71 bytes (ending in `...`) when longer.
    pub subject: String,
    /// Local time of writing with its offset (the offset becomes TZUTC).
    pub date: DateTime<FixedOffset>,
    pub orig: FtnAddress,
    /// Net/node of the packed message's destination (for echomail: the uplink).
    pub dest: FtnAddress,
    pub msgid: String,
    pub reply: Option<String>,
    pub pid: String,
    pub charset: OutCharset,
    /// Plain text; `\n` separates lines, each wrapped at 79 columns when written.
    pub body: String,
    /// Text after `--- ` (empty for a bare `---`).
    pub tearline: String,
    /// Origin text; ` (orig)` is appended and the line kept within 79 columns.
    pub origin: String,
    pub seen_by: Vec<FtnAddress>,
    pub path: Vec<FtnAddress>,
}

/// Longest echo area tag accepted. No FTS document sets a maximum; tags in use are far
/// shorter, and a tosser must be able to keep the tag as a name in its area table.
pub const MAX_AREA_TAG: usize = 50;

/// Checks an echo area tag for the `AREA:` line (FTS-0004): 1 to [`MAX_AREA_TAG`] bytes of
/// printable ASCII without spaces. Tossers read the tag up to the end of the line and match
/// it against their area list, so anything else is either misfiled or sent to BAD.
pub fn check_area_tag(tag: &str) -> Result<(), FtnError> {
    let bad = |reason: &'static str| {
        Err(FtnError::BadAreaTag {
            tag: tag.to_string(),
            reason,
        })
    };
    if tag.is_empty() {
        return bad("it is empty");
    }
    if tag.len() > MAX_AREA_TAG {
        return bad("it is longer than 50 bytes");
    }
    if tag.chars().any(char::is_whitespace) {
        return bad("echo tags have no spaces");
    }
    if !tag.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("echo tags are printable ASCII, without control characters");
    }
    Ok(())
}

/// Writes a whole packet: header, messages, terminator. Fails on an area tag
/// [`check_area_tag`] refuses rather than write a message no tosser files correctly.
pub fn write_packet(
    header: &PacketHeader,
    messages: &[EchoMessageOut],
) -> Result<Vec<u8>, FtnError> {
    for m in messages {
        check_area_tag(&m.area)?;
    }
    let mut out =
        Vec::with_capacity(HEADER_LEN + messages.iter().map(|m| m.body.len() + 512).sum::<usize>());
    write_header(header, &mut out)?;
    for m in messages {
        write_message(m, &mut out);
    }
    out.extend_from_slice(&[0, 0]);
    Ok(out)
}

/// One packet of [`split_packets`]: its bytes and which of the messages (by index) it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketBytes {
    pub bytes: Vec<u8>,
    pub messages: Range<usize>,
}

/// Writes the messages into as many packets as it takes to keep each within `max_bytes`
/// (header and terminator included; 0 = no limit, one packet), in order, as tossers that
/// cap packet size do (crashmail's `MAXPKTSIZE`, hpt's `pktSize`). A message too large for
/// any packet still goes out, whole and alone in its packet: it is never dropped or cut.
/// Packets are made one at a time as the iterator is driven, so a run of thousands of
/// messages never holds all its packets in memory. No messages, no packets.
///
/// Fails, before any packet is made, where [`write_packet`] would.
pub fn split_packets<'a>(
    header: &PacketHeader,
    messages: &'a [EchoMessageOut],
    max_bytes: usize,
) -> Result<PacketSplit<'a>, FtnError> {
    for m in messages {
        check_area_tag(&m.area)?;
    }
    let mut head = Vec::with_capacity(HEADER_LEN);
    write_header(header, &mut head)?;
    Ok(PacketSplit {
        header: head,
        messages,
        next: 0,
        max_bytes,
        pending: None,
    })
}

/// The packets of [`split_packets`], made one per `next()`.
#[derive(Debug)]
pub struct PacketSplit<'a> {
    header: Vec<u8>,
    messages: &'a [EchoMessageOut],
    next: usize,
    max_bytes: usize,
    /// Message `next`, already encoded, that did not fit the packet before.
    pending: Option<Vec<u8>>,
}

impl Iterator for PacketSplit<'_> {
    type Item = PacketBytes;

    fn next(&mut self) -> Option<PacketBytes> {
        let first = self.next;
        if first >= self.messages.len() {
            return None;
        }
        let mut out = self.header.clone();
        while let Some(m) = self.messages.get(self.next) {
            let encoded = self.pending.take().unwrap_or_else(|| {
                let mut one = Vec::with_capacity(m.body.len() + 512);
                write_message(m, &mut one);
                one
            });
            // The first message always goes in, however large: the limit splits, never drops.
            let full = self.max_bytes != 0
                && self.next > first
                && out.len() + encoded.len() + 2 > self.max_bytes;
            if full {
                self.pending = Some(encoded);
                break;
            }
            out.extend_from_slice(&encoded);
            self.next += 1;
        }
        out.extend_from_slice(&[0, 0]);
        Some(PacketBytes {
            bytes: out,
            messages: first..self.next,
        })
    }
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn write_header(h: &PacketHeader, out: &mut Vec<u8>) -> Result<(), FtnError> {
    if h.password.len() > 8 {
        return Err(FtnError::Write(format!(
            "packet password longer than 8 bytes ({})",
            h.password.len()
        )));
    }
    if h.orig_domain.len() > 8 || h.dest_domain.len() > 8 {
        return Err(FtnError::Write("domain longer than 8 bytes".into()));
    }
    let mut password = [0u8; 8];
    for (d, s) in password.iter_mut().zip(&h.password) {
        *d = *s;
    }
    let start = out.len();
    let when = h.created.unwrap_or_default();
    let [prod_lo, prod_hi] = h.product_code.to_le_bytes();
    put16(out, h.orig.node);
    put16(out, h.dest.node);
    match h.kind {
        PacketKind::TwoTwo => {
            put16(out, h.orig.point);
            put16(out, h.dest.point);
            out.extend_from_slice(&[0; 8]);
            put16(out, 2); // sub-version where the baud rate was
        }
        PacketKind::Stone | PacketKind::TwoPlus => {
            let year = u16::try_from(when.year())
                .map_err(|_| FtnError::Write("year out of range".into()))?;
            for v in [
                year,
                when.month0() as u16,
                when.day() as u16,
                when.hour() as u16,
                when.minute() as u16,
                when.second() as u16,
            ] {
                put16(out, v);
            }
            put16(out, h.baud);
        }
    }
    put16(out, 2);
    let is_point_plus = h.kind == PacketKind::TwoPlus && h.orig.point != 0;
    // FSC-0048: a point writes origNet = -1 and its boss's net in auxNet.
    put16(out, if is_point_plus { 0xFFFF } else { h.orig.net });
    put16(out, h.dest.net);
    out.push(prod_lo);
    out.push(h.revision.0);
    out.extend_from_slice(&password);
    put16(out, h.orig.zone);
    put16(out, h.dest.zone);
    match h.kind {
        PacketKind::TwoTwo => {
            let mut dom = [0u8; 16];
            for (d, s) in dom.iter_mut().zip(&h.orig_domain) {
                *d = *s;
            }
            for (d, s) in dom.iter_mut().skip(8).zip(&h.dest_domain) {
                *d = *s;
            }
            out.extend_from_slice(&dom);
        }
        PacketKind::TwoPlus => {
            put16(out, if is_point_plus { h.orig.net } else { 0 });
            let cw = h.capability_word | 1;
            out.extend_from_slice(&cw.to_be_bytes()); // validation copy, byte-swapped
            out.push(prod_hi);
            out.push(h.revision.1);
            put16(out, cw);
            put16(out, h.orig.zone);
            put16(out, h.dest.zone);
            put16(out, h.orig.point);
            put16(out, h.dest.point);
        }
        PacketKind::Stone => out.extend_from_slice(&[0; 16]),
    }
    out.extend_from_slice(&[0; 4]); // product specific data
    debug_assert_eq!(out.len() - start, HEADER_LEN);
    Ok(())
}

/// Cuts encoded bytes to `max` without splitting a UTF-8 sequence; CP437 is one byte a char.
fn cut_bytes(bytes: &mut Vec<u8>, max: usize, charset: OutCharset) {
    if bytes.len() <= max {
        return;
    }
    let mut end = max;
    if charset == OutCharset::Utf8 {
        while end > 0 && bytes.get(end).is_some_and(|b| (0x80..0xC0).contains(b)) {
            end -= 1;
        }
    }
    bytes.truncate(end);
}

/// The subject as written: at most 71 bytes, an ellipsis marking a cut.
pub fn fit_subject(subject: &str, charset: OutCharset) -> Vec<u8> {
    let clean = one_line(subject);
    let mut bytes = charset.encode(&clean);
    let max = MAX_SUBJECT - 1;
    if bytes.len() > max {
        cut_bytes(&mut bytes, max - 3, charset);
        while bytes.last() == Some(&b' ') {
            bytes.pop();
        }
        bytes.extend_from_slice(b"...");
    }
    bytes
}

fn fit_name(name: &str, charset: OutCharset) -> Vec<u8> {
    let mut bytes = charset.encode(&one_line(name));
    cut_bytes(&mut bytes, MAX_NAME - 1, charset);
    bytes
}

/// Control characters out, whitespace runs to one space: header strings are one line.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_message(m: &EchoMessageOut, out: &mut Vec<u8>) {
    put16(out, 2);
    put16(out, m.orig.node);
    put16(out, m.dest.node);
    put16(out, m.orig.net);
    put16(out, m.dest.net);
    put16(out, 0); // attributes: echomail carries none
    put16(out, 0); // cost
    out.extend_from_slice(format_ftn_date(&m.date.naive_local()).as_bytes());
    out.push(0);
    out.extend_from_slice(&fit_name(&m.to_name, m.charset));
    out.push(0);
    out.extend_from_slice(&fit_name(&m.from_name, m.charset));
    out.push(0);
    out.extend_from_slice(&fit_subject(&m.subject, m.charset));
    out.push(0);
    out.extend_from_slice(&message_text(m));
    out.push(0);
}

/// The message text as bytes: control lines, wrapped body, tear line, origin, SEEN-BY, PATH.
pub fn message_text(m: &EchoMessageOut) -> Vec<u8> {
    let mut t = String::with_capacity(m.body.len() + 400);
    let cr = |t: &mut String, s: &str| {
        t.push_str(s);
        t.push('\r');
    };
    cr(
        &mut t,
        &format!("AREA:{}", one_line(&m.area).replace(' ', "_")),
    );
    cr(&mut t, &format!("\u{1}MSGID: {}", one_line(&m.msgid)));
    if let Some(r) = &m.reply {
        cr(&mut t, &format!("\u{1}REPLY: {}", one_line(r)));
    }
    cr(&mut t, &format!("\u{1}PID: {}", one_line(&m.pid)));
    cr(
        &mut t,
        &format!("\u{1}TZUTC: {}", format_tzutc(m.date.offset())),
    );
    cr(&mut t, &format!("\u{1}CHRS: {}", m.charset.chrs()));
    let body = m.body.trim_end();
    for line in body.split('\n') {
        let line = clean_body_line(&m.charset.transliterate(line));
        // The gateway link line stays whole, past 79 columns if need be: gateway readers
        // look for the URL on it, and a URL cannot be wrapped anyway (wrap_line gives a long
        // word a line of its own, never breaks it). FTS-0001 sets no line length; lines end
        // at a CR and readers wrap long ones.
        if line.starts_with("Link to news story: ") {
            cr(&mut t, &line);
            continue;
        }
        for wrapped in wrap_line(&line, WRAP_COLUMNS) {
            cr(&mut t, &wrapped);
        }
    }
    if !body.is_empty() {
        cr(&mut t, "");
    }
    let tear = one_line(&m.tearline);
    cr(
        &mut t,
        &if tear.is_empty() {
            "---".to_string()
        } else {
            format!("--- {tear}")
        },
    );
    cr(
        &mut t,
        &origin_line(&m.charset.transliterate(&m.origin), m.orig),
    );
    for l in net_node_lines("SEEN-BY:", &sorted_2d(&m.seen_by)) {
        cr(&mut t, &l);
    }
    for l in net_node_lines("\u{1}PATH:", &m.path) {
        cr(&mut t, &l);
    }
    m.charset.encode(&t)
}

/// A body line made safe: no control characters (tabs become spaces), and no line that a
/// tosser would take for a control line.
fn clean_body_line(line: &str) -> String {
    let mut s: String = line
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    let trimmed_len = s.trim_end().len();
    s.truncate(trimmed_len);
    // A `---` line would be taken for the tear line (FTS-0004), which ends the text.
    if s.starts_with("SEEN-BY")
        || s.starts_with("AREA:")
        || s.starts_with("---")
        || s.trim_start().starts_with("* Origin:")
    {
        s.insert(0, ' ');
    }
    s
}

/// Greedy word wrap at `cols` display columns; a word longer than a line (a URL) is never
/// broken, it gets a line of its own. Leading indentation is kept on the first line.
pub fn wrap_line(line: &str, cols: usize) -> Vec<String> {
    if line.width() <= cols {
        return vec![line.to_string()];
    }
    let indent_len = line.len() - line.trim_start_matches(' ').len();
    let mut out = Vec::new();
    let mut cur = line.get(..indent_len).unwrap_or_default().to_string();
    let mut cur_w = cur.width();
    for word in line.split(' ').filter(|w| !w.is_empty()) {
        let w = word.width();
        let blank = cur.trim().is_empty();
        if !blank && cur_w + 1 + w > cols {
            out.push(std::mem::take(&mut cur));
            cur_w = 0;
        }
        if !cur.trim().is_empty() {
            cur.push(' ');
            cur_w += 1;
        }
        cur.push_str(word);
        cur_w += w;
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

fn origin_line(text: &str, addr: FtnAddress) -> String {
    let suffix = format!(" ({addr})");
    let prefix = " * Origin: ";
    let budget = WRAP_COLUMNS.saturating_sub(prefix.len() + suffix.len());
    let mut t = String::new();
    for c in one_line(text).chars() {
        if t.width() + unicode_width::UnicodeWidthChar::width(c).unwrap_or(0) > budget {
            break;
        }
        t.push(c);
    }
    format!("{prefix}{}{suffix}", t.trim_end())
}

fn sorted_2d(list: &[FtnAddress]) -> Vec<FtnAddress> {
    let mut v: Vec<FtnAddress> = list.iter().filter(|a| a.point == 0).copied().collect();
    v.sort_by_key(|a| (a.net, a.node));
    v.dedup_by_key(|a| (a.net, a.node));
    v
}

/// `SEEN-BY: 1/100 101 2/5` style lines (net written only when it changes), ≤ 79 columns.
fn net_node_lines(label: &str, list: &[FtnAddress]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = label.to_string();
    let mut last_net = None;
    for a in list.iter().filter(|a| a.point == 0) {
        let full = format!(" {}/{}", a.net, a.node);
        let item = if last_net == Some(a.net) {
            format!(" {}", a.node)
        } else {
            full.clone()
        };
        if cur.len() + item.len() > WRAP_COLUMNS {
            lines.push(std::mem::replace(&mut cur, label.to_string()));
            cur.push_str(&full);
        } else {
            cur.push_str(&item);
        }
        last_net = Some(a.net);
    }
    if cur.len() > label.len() {
        lines.push(cur);
    }
    lines
}

/// A feed story to post into an echo area.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayPost {
    /// The MSGID serial (FTS-0009: unique per address for years); the MSGID is our address
    /// and this. The gateway takes it from the store's ledger (`Store::ledger_reserve`).
    pub serial: u32,
    pub title: String,
    pub published: Option<DateTime<Utc>>,
    pub description: String,
    pub link: Option<String>,
}

/// Gateway settings shared by every post of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    pub area: String,
    /// Our address (message origin and packet sender).
    pub from: FtnAddress,
    /// The uplink the packet goes to.
    pub to: FtnAddress,
    pub from_name: String,
    pub to_name: String,
    pub origin: String,
    pub charset: OutCharset,
    pub pid: String,
    pub tearline: String,
}

impl GatewayConfig {
    pub fn new(area: &str, from: FtnAddress, to: FtnAddress) -> Self {
        let version = env!("CARGO_PKG_VERSION");
        GatewayConfig {
            area: area.to_ascii_uppercase(),
            from,
            to,
            from_name: "echowatch".into(),
            to_name: "All".into(),
            origin: "echowatch news gateway".into(),
            charset: OutCharset::Utf8,
            pid: format!("echowatch {version}"),
            tearline: format!("echowatch {version}"),
        }
    }
}

impl GatewayPost {
    /// The gateway body: title, `Date:`, `Description:`, a rule, `Link to news story:`.
    pub fn body(&self) -> String {
        let mut b = String::new();
        b.push_str(&one_line(&self.title));
        b.push_str("\n\n");
        if let Some(p) = self.published {
            b.push_str("Date:\n");
            b.push_str(&p.format("%a, %d %b %Y %H:%M:%S +0000").to_string());
            b.push_str("\n\n");
        }
        let desc = self.description.trim();
        if !desc.is_empty() {
            b.push_str("Description:\n");
            b.push_str(desc);
            b.push_str("\n\n");
        }
        if let Some(link) = &self.link {
            b.push_str(&"=".repeat(70));
            b.push_str("\nLink to news story: ");
            b.push_str(link.trim());
            b.push('\n');
        }
        b
    }

    /// The message for this post, written at `posted` (its offset becomes TZUTC).
    pub fn to_message(&self, cfg: &GatewayConfig, posted: DateTime<FixedOffset>) -> EchoMessageOut {
        // Points are not listed in SEEN-BY/PATH; their boss node adds itself when it tosses.
        let nodes: Vec<FtnAddress> = [cfg.from, cfg.to]
            .into_iter()
            .filter(|a| a.point == 0)
            .collect();
        EchoMessageOut {
            area: cfg.area.clone(),
            from_name: cfg.from_name.clone(),
            to_name: cfg.to_name.clone(),
            subject: self.title.clone(),
            date: posted,
            orig: cfg.from,
            dest: cfg.to,
            msgid: format!("{} {:08x}", cfg.from, self.serial),
            reply: None,
            pid: cfg.pid.clone(),
            charset: cfg.charset,
            body: self.body(),
            tearline: cfg.tearline.clone(),
            origin: cfg.origin.clone(),
            seen_by: nodes,
            path: if cfg.from.point == 0 {
                vec![cfg.from]
            } else {
                Vec::new()
            },
        }
    }
}

/// The packet header a gateway run writes (type 2+, optional session password).
pub fn gateway_header(
    cfg: &GatewayConfig,
    created: DateTime<FixedOffset>,
    password: Option<&str>,
) -> PacketHeader {
    let mut h = PacketHeader::new(cfg.from, cfg.to, created.naive_local());
    h.password = password.map(|p| p.as_bytes().to_vec()).unwrap_or_default();
    h
}

/// BSO flavours of a packet (`.out`, `.cut`, `.hut`, `.dut`, `.iut`) and of a flow file
/// (`.flo`, `.clo`, `.hlo`, `.dlo`, `.ilo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavour {
    #[default]
    Normal,
    Crash,
    Hold,
    Direct,
    Immediate,
}

/// Where a packet for `dest` goes in a BSO outbound (FTS-5005): `NNNNnnnn.?ut` in the
/// outbound (`outbound.ZZZ` for other zones, hex zone), or `NNNNnnnn.pnt/0000PPPP.?ut` for
/// points. If that file exists it is an unsent packet: append to it, do not replace it.
pub fn bso_packet_path(
    outbound: &Path,
    own_zone: u16,
    dest: FtnAddress,
    flavour: Flavour,
) -> PathBuf {
    bso_node_file(outbound, own_zone, dest, flavour.packet_ext())
}

/// The flow (file attach) file for `dest` in a BSO outbound (`NNNNnnnn.flo`, `.clo` …,
/// laid out as [`bso_packet_path`]): one file to send a line, `^` before the path meaning
/// "delete once sent". Tossers attach packets there that do not go into the `.?ut`.
pub fn bso_flow_path(
    outbound: &Path,
    own_zone: u16,
    dest: FtnAddress,
    flavour: Flavour,
) -> PathBuf {
    bso_node_file(outbound, own_zone, dest, flavour.flow_ext())
}

/// The busy flag for `dest` in a BSO outbound (`NNNNnnnn.bsy`, laid out as
/// [`bso_packet_path`]), one for every flavour: FTS-5005 5.1 has whoever changes a node's
/// `.?ut`/`.?lo` files create it exclusively first and delete it when done; binkd holds it
/// during a session with the node.
pub fn bso_busy_path(outbound: &Path, own_zone: u16, dest: FtnAddress) -> PathBuf {
    bso_node_file(outbound, own_zone, dest, "bsy")
}

impl Flavour {
    fn packet_ext(self) -> &'static str {
        match self {
            Flavour::Normal => "out",
            Flavour::Crash => "cut",
            Flavour::Hold => "hut",
            Flavour::Direct => "dut",
            Flavour::Immediate => "iut",
        }
    }

    fn flow_ext(self) -> &'static str {
        match self {
            Flavour::Normal => "flo",
            Flavour::Crash => "clo",
            Flavour::Hold => "hlo",
            Flavour::Direct => "dlo",
            Flavour::Immediate => "ilo",
        }
    }
}

fn bso_node_file(outbound: &Path, own_zone: u16, dest: FtnAddress, ext: &str) -> PathBuf {
    let mut dir = outbound.to_path_buf();
    if dest.zone != own_zone && dest.zone != 0 {
        let base = outbound
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "outbound".into());
        dir = outbound.with_file_name(format!("{base}.{:03x}", dest.zone));
    }
    let netnode = format!("{:04x}{:04x}", dest.net, dest.node);
    if dest.point != 0 {
        dir.join(format!("{netnode}.pnt"))
            .join(format!("{:08x}.{ext}", dest.point))
    } else {
        dir.join(format!("{netnode}.{ext}"))
    }
}

/// Appends the messages of `new` to an unsent packet `existing` (both must be valid and
/// addressed alike), as tossers do with a `.?ut` file already waiting in the outbound.
pub fn append_packets(existing: &[u8], new: &[u8]) -> Result<Vec<u8>, FtnError> {
    let old = super::packet::read_packet(existing)?;
    let add = super::packet::read_packet(new)?;
    if old.header.dest != add.header.dest {
        return Err(FtnError::Write(format!(
            "cannot append: packet is for {} but the new one for {}",
            old.header.dest, add.header.dest
        )));
    }
    let (old_end, new_end) = (old.terminator_offset, add.terminator_offset);
    let mut out = Vec::with_capacity(old_end + new_end);
    out.extend_from_slice(existing.get(..old_end).unwrap_or_default());
    out.extend_from_slice(new.get(HEADER_LEN..new_end).unwrap_or_default());
    out.extend_from_slice(&[0, 0]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_without_breaking_urls() {
        let long = format!(
            "word {} end",
            "https://example.com/".to_string() + &"x".repeat(90)
        );
        let w = wrap_line(&long, 79);
        assert_eq!(w.len(), 3);
        assert!(w[1].starts_with("https://"));
        let text = "lorem ipsum ".repeat(20);
        assert!(wrap_line(text.trim(), 79).iter().all(|l| l.width() <= 79));
    }

    #[test]
    fn subjects_names_and_cp437() {
        let s = fit_subject(&"é".repeat(50), OutCharset::Utf8);
        assert!(s.len() <= 71 && s.ends_with(b"...") && std::str::from_utf8(&s).is_ok());
        assert_eq!(fit_name(&"n".repeat(40), OutCharset::Utf8).len(), 35);
        assert_eq!(
            OutCharset::Cp437.encode("Café — “Łódź” ì…"),
            b"Caf\x82 - \"L\xA2dz\" i...".to_vec()
        );
    }

    #[test]
    fn cp437_transliterates_other_scripts_and_keeps_its_own() {
        let enc = |s: &str| String::from_utf8(OutCharset::Cp437.encode(s)).unwrap();
        assert_eq!(enc("Новости: Экспорт"), "Novosti: Eksport");
        assert_eq!(enc("Ψυχή"), "Psukhe");
        assert!(
            enc("中国出口管制").starts_with("Zhong Guo "),
            "{}",
            enc("中国出口管制")
        );
        let emoji = enc("rules 🚀 tighten");
        assert!(
            emoji.starts_with("rules ") && emoji.ends_with(" tighten"),
            "{emoji}"
        );
        for s in ["Новости", "Ψυχή", "中国", "🚀"] {
            assert!(!enc(s).contains('?'), "{s}: {}", enc(s));
        }
        // CP437's own characters stay as they are: é, ü, box drawing, its Greek letters.
        assert_eq!(
            OutCharset::Cp437.encode("é ü ─┼ π"),
            b"\x82 \x81 \xC4\xC5 \xE3".to_vec()
        );
        // Greek text is transliterated whole, the letters CP437 has as well.
        assert_eq!(enc("Η Ελλάδα και η ΕΕ"), "E Ellada kai e EE");
        // A formula of CP437's own letters keeps them.
        assert_eq!(OutCharset::Cp437.encode("Σ=πr"), b"\xE4=\xE3r".to_vec());
        // Lines are wrapped after transliteration, which makes them longer.
        let line = "漢字 ".repeat(30);
        let cfg = GatewayConfig::new(
            "TQW_TEST",
            FtnAddress::new(1, 1, 100, 0),
            FtnAddress::new(1, 1, 101, 0),
        );
        let now = DateTime::parse_from_rfc3339("2026-06-12T09:30:00+02:00").unwrap();
        let mut m = GatewayPost {
            serial: 1,
            title: "t".into(),
            published: None,
            description: line,
            link: None,
        }
        .to_message(&cfg, now);
        m.charset = OutCharset::Cp437;
        let text = message_text(&m);
        assert!(text.split(|b| *b == b'\r').all(|l| l.len() <= 79));
        // And a whole gateway subject: words, not question marks.
        assert_eq!(
            fit_subject("Минпромторг: экспортный контроль", OutCharset::Cp437),
            b"Minpromtorg: eksportnyi kontrol'".to_vec()
        );
    }

    #[test]
    fn body_lines_like_control_lines_are_escaped() {
        for line in [
            "--- not a tear line",
            "---",
            "SEEN-BY: 1/1",
            "AREA:X",
            " * Origin: x",
        ] {
            assert!(clean_body_line(line).starts_with(' '), "{line}");
        }
        assert_eq!(clean_body_line("-- signature"), "-- signature");
    }

    #[test]
    fn seen_by_and_bso() {
        let a = |n| FtnAddress::new(1, 1, n, 0);
        let l = net_node_lines(
            "SEEN-BY:",
            &sorted_2d(&[a(101), a(100), FtnAddress::new(1, 2, 5, 0)]),
        );
        assert_eq!(l, ["SEEN-BY: 1/100 101 2/5"]);
        let out = Path::new("/o/outbound");
        assert_eq!(
            bso_packet_path(out, 2, FtnAddress::new(2, 104, 36, 0), Flavour::Crash),
            Path::new("/o/outbound/00680024.cut")
        );
        assert_eq!(
            bso_flow_path(out, 2, FtnAddress::new(2, 104, 36, 0), Flavour::Normal),
            Path::new("/o/outbound/00680024.flo")
        );
        assert_eq!(
            bso_flow_path(out, 2, FtnAddress::new(1, 104, 36, 45), Flavour::Hold),
            Path::new("/o/outbound.001/00680024.pnt/0000002d.hlo")
        );
        assert_eq!(
            bso_packet_path(out, 2, FtnAddress::new(1, 104, 36, 45), Flavour::Normal),
            Path::new("/o/outbound.001/00680024.pnt/0000002d.out")
        );
        // The busy flag sits beside the node's packet and flow files, zone and point alike.
        assert_eq!(
            bso_busy_path(out, 2, FtnAddress::new(2, 104, 36, 0)),
            Path::new("/o/outbound/00680024.bsy")
        );
        assert_eq!(
            bso_busy_path(out, 2, FtnAddress::new(1, 104, 36, 45)),
            Path::new("/o/outbound.001/00680024.pnt/0000002d.bsy")
        );
    }

    fn split_fixture(bodies: &[usize]) -> (PacketHeader, Vec<EchoMessageOut>) {
        let cfg = GatewayConfig::new(
            "TQW_TEST",
            FtnAddress::new(1, 1, 100, 0),
            FtnAddress::new(1, 1, 101, 0),
        );
        let now = DateTime::parse_from_rfc3339("2026-06-12T09:30:00+02:00").unwrap();
        let msgs = bodies
            .iter()
            .enumerate()
            .map(|(i, len)| {
                GatewayPost {
                    serial: 0x6a00_0000 + i as u32,
                    title: format!("Story {i}"),
                    published: None,
                    description: "word ".repeat(len / 5),
                    link: Some(format!("https://example.com/{i}")),
                }
                .to_message(&cfg, now)
            })
            .collect();
        (gateway_header(&cfg, now, None), msgs)
    }

    /// Bytes a message takes in a packet.
    fn packed_len(m: &EchoMessageOut) -> usize {
        let mut v = Vec::new();
        write_message(m, &mut v);
        v.len()
    }

    /// The messages of the packets, in order, as the reader sees them.
    fn msgids(packets: &[PacketBytes]) -> Vec<String> {
        packets
            .iter()
            .flat_map(|p| {
                let pkt = crate::ftn::read_packet(&p.bytes).unwrap();
                pkt.messages
                    .iter()
                    .map(|m| {
                        crate::ftn::EchoMessage::from_packed(m, &Default::default())
                            .msgid
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn packets_split_at_the_limit() {
        let (header, msgs) = split_fixture(&[600; 10]);
        let all: Vec<String> = msgs.iter().map(|m| m.msgid.clone()).collect();
        let one = packed_len(&msgs[0]);
        assert!(msgs.iter().all(|m| packed_len(m) == one));
        // Exactly three messages fit: a packet may be as large as the limit, not larger.
        let limit = HEADER_LEN + 3 * one + 2;
        for (max, per_packet) in [(limit, 3), (limit - 1, 2), (limit + one - 1, 3)] {
            let packets: Vec<PacketBytes> = split_packets(&header, &msgs, max).unwrap().collect();
            assert_eq!(packets.len(), 10usize.div_ceil(per_packet), "limit {max}");
            for (i, p) in packets.iter().enumerate() {
                assert!(p.bytes.len() <= max, "{} > {max}", p.bytes.len());
                assert_eq!(p.messages.start, i * per_packet);
                assert_eq!(p.messages.len(), per_packet.min(10 - i * per_packet));
                assert_eq!(&p.bytes[..HEADER_LEN], &packets[0].bytes[..HEADER_LEN]);
            }
            assert_eq!(packets[0].bytes.len(), HEADER_LEN + per_packet * one + 2);
            // Every message once, in order.
            assert_eq!(msgids(&packets), all);
        }
    }

    #[test]
    fn a_message_larger_than_the_limit_goes_alone_and_whole() {
        let (header, msgs) = split_fixture(&[200, 200, 1400, 200]);
        let big = packed_len(&msgs[2]);
        let max = HEADER_LEN + packed_len(&msgs[0]) * 2 + 2;
        assert!(big + HEADER_LEN + 2 > max);
        let packets: Vec<PacketBytes> = split_packets(&header, &msgs, max).unwrap().collect();
        let ranges: Vec<Range<usize>> = packets.iter().map(|p| p.messages.clone()).collect();
        assert_eq!(ranges, [0..2, 2..3, 3..4]);
        assert_eq!(packets[1].bytes.len(), HEADER_LEN + big + 2);
        let pkt = crate::ftn::read_packet(&packets[1].bytes).unwrap();
        assert_eq!(pkt.messages.len(), 1);
        assert_eq!(pkt.messages[0].text, &message_text(&msgs[2])[..]);
        // Even a limit smaller than a header: one message a packet, none lost.
        let tiny: Vec<PacketBytes> = split_packets(&header, &msgs, 1).unwrap().collect();
        assert_eq!(tiny.len(), 4);
        assert_eq!(msgids(&tiny).len(), 4);
    }

    #[test]
    fn no_limit_is_one_packet_as_write_packet_makes_it() {
        let (header, msgs) = split_fixture(&[1400; 50]);
        let packets: Vec<PacketBytes> = split_packets(&header, &msgs, 0).unwrap().collect();
        assert_eq!(packets.len(), 1);
        assert_eq!(packets[0].messages, 0..50);
        assert_eq!(packets[0].bytes, write_packet(&header, &msgs).unwrap());
        assert_eq!(split_packets(&header, &[], 1000).unwrap().count(), 0);
        // A bad area tag is refused before any packet is made.
        let mut bad = msgs.clone();
        bad[49].area = "BAD AREA".into();
        assert!(matches!(
            split_packets(&header, &bad, 0),
            Err(FtnError::BadAreaTag { .. })
        ));
    }

    #[test]
    fn area_tags_are_checked() {
        let (longest, too_long) = ("A".repeat(50), "A".repeat(51));
        for good in [
            "TQW_TECHNOLOGY",
            "FSX_BOT",
            "RU.NEWS",
            "fido-sysop!",
            longest.as_str(),
        ] {
            assert_eq!(check_area_tag(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "BAD AREA",
            "TAB\tAREA",
            "AREA\r",
            "CAFÉ",
            "NUL\0",
            too_long.as_str(),
        ] {
            assert!(
                matches!(check_area_tag(bad), Err(FtnError::BadAreaTag { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_area_tag("BAD AREA").unwrap_err().to_string(),
            "bad echo area tag \"BAD AREA\": echo tags have no spaces"
        );
        // The packet writer refuses one too, whoever built the message.
        let cfg = GatewayConfig::new(
            "BAD AREA",
            FtnAddress::new(1, 1, 100, 0),
            FtnAddress::new(1, 1, 101, 0),
        );
        let post = GatewayPost {
            serial: 1,
            title: "t".into(),
            published: None,
            description: String::new(),
            link: None,
        };
        let now = DateTime::parse_from_rfc3339("2026-06-12T09:30:00+02:00").unwrap();
        let msg = post.to_message(&cfg, now);
        let header = gateway_header(&cfg, now, None);
        assert!(matches!(
            write_packet(&header, &[msg]),
            Err(FtnError::BadAreaTag { .. })
        ));
    }
}
