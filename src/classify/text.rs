//! Text preparation for matching: NFKC plus folding of curly quotes, dashes and odd spaces,
//! with a map back to byte offsets of the original field so evidence points at what the
//! reader sees. Plain ASCII text (the common case) is matched as is, without copying.

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// One changed character (or combining sequence) of the original.
#[derive(Debug, Clone, Copy)]
struct Seg {
    norm_start: usize,
    norm_len: usize,
    orig_start: usize,
    orig_len: usize,
}

/// A field ready for matching.
pub(crate) struct Normalized<'a> {
    orig: &'a str,
    /// The normalised text, used when `changed`; otherwise the original is matched as is.
    buf: String,
    changed: bool,
    segs: Vec<Seg>,
}

/// The allocations of a [`Normalized`], kept by the caller for the next field.
#[derive(Debug, Default)]
pub(crate) struct NormBuffers {
    text: String,
    segs: Vec<Seg>,
}

impl NormBuffers {
    /// Bytes held.
    pub fn capacity(&self) -> usize {
        self.text.capacity() + self.segs.capacity() * std::mem::size_of::<Seg>()
    }
}

/// The folds applied after NFKC: typographic quotes, dashes and spaces to ASCII, invisible
/// characters dropped. `None` keeps the character.
fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}' | '\u{2032}' | '\u{ff07}' => "'",
        '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{201f}' | '\u{2033}' => "\"",
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2212}' => "-",
        '\u{ad}' | '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}' => "",
        '\n' => "\n",
        c if c.is_whitespace() && !c.is_ascii() => " ",
        _ => return None,
    })
}

/// End of the run of ASCII bytes starting at `from`, eight bytes at a time.
fn ascii_run_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let high = u64::from_le_bytes(word) & HIGH;
        if high != 0 {
            return i + (high.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    bytes
        .get(i..)
        .and_then(|b| b.iter().position(|&c| c >= 0x80))
        .map_or(bytes.len(), |p| i + p)
}

/// Normalise one pattern or field.
pub(crate) fn normalize(orig: &str) -> Normalized<'_> {
    normalize_into(orig, NormBuffers::default())
}

/// Normalise a field into reused buffers.
pub(crate) fn normalize_into(orig: &str, bufs: NormBuffers) -> Normalized<'_> {
    let NormBuffers {
        text: mut out,
        mut segs,
    } = bufs;
    out.clear();
    segs.clear();
    if orig.is_ascii() {
        return Normalized {
            orig,
            buf: out,
            changed: false,
            segs,
        };
    }
    out.reserve(orig.len() + 16);
    let mut buf = String::new();
    let bytes = orig.as_bytes();
    let mut i = 0usize;
    while i < bytes.len() {
        // Copy the ASCII run up to the next non-ASCII character in one go.
        let run = ascii_run_end(bytes, i);
        out.push_str(orig.get(i..run).unwrap_or_default());
        i = run;
        let Some(c) = orig.get(i..).and_then(|r| r.chars().next()) else {
            break;
        };
        // A base character and the combining marks after it normalise together; a mark after
        // an ASCII letter takes that letter back.
        let mut start = i;
        if canonical_combining_class(c) != 0
            && i > 0
            && bytes.get(i - 1).is_some_and(u8::is_ascii_alphabetic)
        {
            start = i - 1;
            out.pop();
        }
        let mut end = i + c.len_utf8();
        while let Some(n) = orig.get(end..).and_then(|r| r.chars().next()) {
            if n.is_ascii() || canonical_combining_class(n) == 0 {
                break;
            }
            end += n.len_utf8();
        }
        let lone = start == i && end == i + c.len_utf8();
        i = end;
        let group = orig.get(start..end).unwrap_or_default();
        let mut utf8 = [0u8; 4];
        let folded: &str = if lone && is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes {
            // A lone character NFKC keeps (curly quotes, dashes, CJK): only the folds apply.
            match fold(c) {
                Some(f) => f,
                None => c.encode_utf8(&mut utf8),
            }
        } else {
            buf.clear();
            for ch in group.nfkc() {
                match fold(ch) {
                    Some(f) => buf.push_str(f),
                    None => buf.push(ch),
                }
            }
            &buf
        };
        if folded != group {
            segs.push(Seg {
                norm_start: out.len(),
                norm_len: folded.len(),
                orig_start: start,
                orig_len: end - start,
            });
        }
        out.push_str(folded);
    }
    Normalized {
        orig,
        buf: out,
        changed: !segs.is_empty(),
        segs,
    }
}

impl Normalized<'_> {
    pub fn text(&self) -> &str {
        if self.changed { &self.buf } else { self.orig }
    }

    /// Give the allocations back for reuse.
    pub fn into_buffers(self) -> NormBuffers {
        NormBuffers {
            text: self.buf,
            segs: self.segs,
        }
    }

    /// The last changed segment starting at or before `p`.
    fn seg_at(&self, p: usize) -> Option<&Seg> {
        let idx = self.segs.partition_point(|s| s.norm_start <= p);
        idx.checked_sub(1).and_then(|i| self.segs.get(i))
    }

    fn linear(&self, p: usize) -> usize {
        match self.seg_at(p) {
            None => p,
            Some(s) => s.orig_start + s.orig_len + (p - s.norm_start - s.norm_len),
        }
    }

    /// Original byte offset where a match starting at normalised offset `p` starts.
    pub fn orig_start(&self, p: usize) -> usize {
        let o = match self.seg_at(p) {
            Some(s) if p < s.norm_start + s.norm_len => s.orig_start,
            _ => self.linear(p),
        };
        o.min(self.orig.len())
    }

    /// Original byte offset where a match ending (exclusive) at normalised offset `p` ends.
    pub fn orig_end(&self, p: usize) -> usize {
        let Some(q) = p.checked_sub(1) else { return 0 };
        let o = match self.seg_at(q) {
            Some(s) if q < s.norm_start + s.norm_len => s.orig_start + s.orig_len,
            _ => self.linear(q) + 1,
        };
        o.min(self.orig.len())
    }
}

/// Letters and digits join words; everything else (space, punctuation, hyphen, apostrophe)
/// separates them, so "US-China" and "China's" both expose the name.
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// True if `c` belongs to a script written without spaces (CJK, kana, Hangul), where
/// patterns match as substrings.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF66..=0xFF9F | 0x20000..=0x2FFFF)
}

pub(crate) fn char_before(text: &str, pos: usize) -> Option<char> {
    text.get(..pos).and_then(|s| s.chars().next_back())
}

pub(crate) fn char_at(text: &str, pos: usize) -> Option<char> {
    text.get(pos..).and_then(|s| s.chars().next())
}

/// Up to four words near a position, without allocating.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Words<'a> {
    words: [&'a str; 4],
    len: usize,
}

impl<'a> Words<'a> {
    fn push(&mut self, w: &'a str) {
        if let Some(slot) = self.words.get_mut(self.len) {
            *slot = w;
            self.len += 1;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.words.iter().take(self.len).copied()
    }

    pub fn first(&self) -> Option<&'a str> {
        self.iter().next()
    }

    fn full(&self, n: usize) -> bool {
        self.len >= n.min(self.words.len())
    }
}

/// Up to `n` (≤ 4) words before `pos`, nearest first, stopping at sentence punctuation.
pub(crate) fn prev_words(text: &str, pos: usize, n: usize) -> Words<'_> {
    // Byte by byte while the text is ASCII (the common case); a non-ASCII byte sends the
    // whole lookup to the character-based version.
    let mut out = Words::default();
    let Some(head) = text.get(..pos) else {
        return out;
    };
    let bytes = head.as_bytes();
    let mut end = bytes.len();
    while !out.full(n) {
        let mut word_end = None;
        while let Some(&b) = end.checked_sub(1).and_then(|i| bytes.get(i)) {
            if !b.is_ascii() {
                return prev_words_chars(text, pos, n);
            }
            if b.is_ascii_alphanumeric() {
                word_end = Some(end);
                break;
            }
            if matches!(b, b'.' | b'!' | b'?' | b';' | b':' | b'\n') {
                return out;
            }
            end -= 1;
        }
        let Some(we) = word_end else { return out };
        let mut ws = we;
        while let Some(&b) = ws.checked_sub(1).and_then(|i| bytes.get(i)) {
            if !b.is_ascii() {
                return prev_words_chars(text, pos, n);
            }
            if !b.is_ascii_alphanumeric() {
                break;
            }
            ws -= 1;
        }
        out.push(head.get(ws..we).unwrap_or_default());
        end = ws;
    }
    out
}

fn prev_words_chars(text: &str, pos: usize, n: usize) -> Words<'_> {
    let mut out = Words::default();
    let Some(head) = text.get(..pos) else {
        return out;
    };
    let mut end = head.len();
    while !out.full(n) {
        // Skip separators back to the previous word, giving up at a sentence break.
        let before = head.get(..end).unwrap_or_default();
        let mut word_end = None;
        for (i, c) in before.char_indices().rev() {
            if is_word_char(c) {
                word_end = Some(i + c.len_utf8());
                break;
            }
            if matches!(c, '.' | '!' | '?' | ';' | ':' | '\n') {
                return out;
            }
        }
        let Some(we) = word_end else { return out };
        let slice = head.get(..we).unwrap_or_default();
        let ws = slice
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        out.push(head.get(ws..we).unwrap_or_default());
        end = ws;
    }
    out
}

/// Up to `n` (≤ 4) words after `pos` (hyphenated words count as one), stopping at punctuation.
pub(crate) fn next_words(text: &str, pos: usize, n: usize) -> Words<'_> {
    // Byte by byte while the text is ASCII, as in `prev_words`.
    let mut out = Words::default();
    let Some(tail) = text.get(pos..) else {
        return out;
    };
    let bytes = tail.as_bytes();
    let mut i = 0;
    while !out.full(n) {
        let mut start = None;
        while let Some(&b) = bytes.get(i) {
            if !b.is_ascii() {
                return next_words_chars(text, pos, n);
            }
            i += 1;
            if b.is_ascii_alphanumeric() {
                start = Some(i - 1);
                break;
            }
            if matches!(b, b'.' | b'!' | b'?' | b';' | b':' | b'\n' | b',') {
                return out;
            }
        }
        let Some(s) = start else { return out };
        while let Some(&b) = bytes.get(i) {
            if !b.is_ascii() {
                return next_words_chars(text, pos, n);
            }
            if !(b.is_ascii_alphanumeric() || b == b'-') {
                break;
            }
            i += 1;
        }
        out.push(tail.get(s..i).unwrap_or_default().trim_end_matches('-'));
    }
    out
}

fn next_words_chars(text: &str, pos: usize, n: usize) -> Words<'_> {
    let mut out = Words::default();
    let Some(tail) = text.get(pos..) else {
        return out;
    };
    let mut chars = tail.char_indices().peekable();
    while !out.full(n) {
        let mut start = None;
        for (i, c) in chars.by_ref() {
            if is_word_char(c) {
                start = Some(i);
                break;
            }
            if matches!(c, '.' | '!' | '?' | ';' | ':' | '\n' | ',') {
                return out;
            }
        }
        let Some(s) = start else { return out };
        let mut e = tail.len();
        while let Some(&(i, c)) = chars.peek() {
            if is_word_char(c) || c == '-' {
                chars.next();
            } else {
                e = i;
                break;
            }
        }
        out.push(tail.get(s..e).unwrap_or_default().trim_end_matches('-'));
    }
    out
}

/// True if `pos` begins a sentence: field start, or only quotes/brackets/spaces back to
/// sentence punctuation.
pub(crate) fn at_sentence_start(text: &str, pos: usize) -> bool {
    let head = text.get(..pos).unwrap_or_default();
    for c in head.chars().rev() {
        match c {
            ' ' | '"' | '\'' | '(' | '[' | '\t' => continue,
            '.' | '!' | '?' | ':' | ';' | '\n' | '-' => return true,
            _ => return false,
        }
    }
    true
}

/// Byte classes for [`positions`]: bit 0 = part of a word, bit 1 = ends a sentence always,
/// bit 2 = ends a sentence when followed by whitespace ('.').
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if b.is_ascii_alphanumeric() || b >= 0x80 {
            t[i] = 1;
        }
        i += 1;
    }
    t[b'!' as usize] = 2;
    t[b'?' as usize] = 2;
    t[b'\n' as usize] = 2;
    t[b'.' as usize] = 4;
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// High bit of each byte of `x` (all bytes < 0x80) that lies in `lo..=hi`; no carries cross
/// bytes because every sum stays below 0x100.
fn in_range(x: u64, lo: u8, hi: u8) -> u64 {
    let ge = x + ONES * u64::from(0x80 - lo);
    let gt = x + ONES * u64::from(0x7f - hi);
    ge & !gt & HIGH
}

/// High bit of each byte of `x` equal to `c` (exact, any byte values).
fn eq_bytes(x: u64, c: u8) -> u64 {
    let v = x ^ (ONES * u64::from(c));
    !(((v & !HIGH) + !HIGH) | v) & HIGH
}

/// Eight bytes at a time: (tokens started, sentences ended, last byte is a word byte).
/// Same classes as [`CLASS`]: ASCII alphanumerics and every non-ASCII byte join words.
fn chunk_counts(chunk: u64, prev_word: u64, next_is_space: bool) -> (u32, u32, u64) {
    let high = chunk & HIGH;
    let x = chunk & !HIGH;
    let alnum = in_range(x | (ONES * 0x20), b'a', b'z') | in_range(x, b'0', b'9');
    let word = (alnum & !high) | high;
    let starts = word & !((word << 8) | (prev_word << 7));
    // Sentence ends are among the bytes that are neither word bytes nor spaces, which most
    // chunks of prose lack; the few there are go through the byte table.
    let mut sents = 0;
    let mut punct = !word & HIGH & !eq_bytes(chunk, b' ');
    while punct != 0 {
        let k = punct.trailing_zeros() / 8;
        punct &= punct - 1;
        let class = CLASS[((chunk >> (k * 8)) & 0xff) as usize];
        if class & 2 != 0 {
            sents += 1;
        } else if class & 4 != 0 {
            let next_space = if k == 7 {
                next_is_space
            } else {
                ((chunk >> ((k + 1) * 8)) as u8).is_ascii_whitespace()
            };
            sents += u32::from(next_space);
        }
    }
    (starts.count_ones(), sents, word >> 63)
}

/// Token and sentence index at the offset of each item (items sorted by offset), in one scan.
pub(crate) fn positions<T>(
    text: &str,
    items: &mut [T],
    offset: impl Fn(&T) -> usize,
    mut set: impl FnMut(&mut T, u32, u32),
) {
    let bytes = text.as_bytes();
    let (mut tok, mut sent) = (0u32, 0u32);
    let mut prev_word = 0u8;
    let mut i = 0usize;
    for item in items.iter_mut() {
        let target = offset(item).min(bytes.len());
        let run = bytes.get(i..target).unwrap_or_default();
        let mut chunks = run.chunks_exact(8);
        let mut k = i;
        for c in chunks.by_ref() {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            let next_is_space = bytes.get(k + 8).is_none_or(u8::is_ascii_whitespace);
            let (t, s, last) = chunk_counts(
                u64::from_le_bytes(word),
                u64::from(prev_word),
                next_is_space,
            );
            tok += t;
            sent += s;
            prev_word = last as u8;
            k += 8;
        }
        for (j, &b) in chunks.remainder().iter().enumerate() {
            let class = CLASS[b as usize];
            let word = class & 1;
            tok += u32::from(word & !prev_word & 1);
            prev_word = word;
            if class & 2 != 0
                || (class & 4 != 0 && bytes.get(k + j + 1).is_none_or(u8::is_ascii_whitespace))
            {
                sent += 1;
            }
        }
        i = i.max(target);
        set(item, tok, sent);
    }
}

/// Count tokens and sentences of a whole field.
pub(crate) fn totals(text: &str) -> (u32, u32) {
    let mut out = [(0u32, 0u32)];
    positions(text, &mut out, |_| text.len(), |o, t, s| *o = (t, s));
    let [o] = out;
    o
}

/// The line around `pos` (start, end) and whether it is mostly upper case ("LET US KNOW"),
/// where case tells nothing.
pub(crate) fn caps_line(text: &str, pos: usize) -> (usize, usize, bool) {
    let bytes = text.as_bytes();
    let pos = pos.min(bytes.len());
    let start = bytes
        .get(..pos)
        .and_then(|b| b.iter().rposition(|&c| c == b'\n'))
        .map_or(0, |i| i + 1);
    let end = bytes
        .get(pos..)
        .and_then(|b| b.iter().position(|&c| c == b'\n'))
        .map_or(bytes.len(), |i| pos + i);
    let (mut upper, mut lower) = (0u32, 0u32);
    for &b in bytes.get(start..end).unwrap_or_default() {
        // The lead byte of a character in U+3000..U+DFFF (kana, CJK, Hangul) counts as a
        // letter without case: "美国BIS与EU和USTR" is Chinese with acronyms, not shouting.
        if b.is_ascii_uppercase() {
            upper += 1;
        } else if b.is_ascii_lowercase() || (0xE3..=0xED).contains(&b) {
            lower += 1;
        }
    }
    (start, end, upper >= 6 && upper * 5 > (upper + lower) * 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_and_maps_back() {
        let orig = "People\u{2019}s Republic\u{a0}of China \u{ff35}\u{ff33}";
        let n = normalize(orig);
        assert_eq!(n.text(), "People's Republic of China US");
        let p = n.text().find("China").unwrap();
        let (s, e) = (n.orig_start(p), n.orig_end(p + 5));
        assert_eq!(&orig[s..e], "China");
        let p = n.text().find("US").unwrap();
        assert_eq!(
            &orig[n.orig_start(p)..n.orig_end(p + 2)],
            "\u{ff35}\u{ff33}"
        );
        let p = n.text().find("'s").unwrap();
        assert_eq!(&orig[n.orig_start(p)..n.orig_end(p + 2)], "\u{2019}s");
    }

    /// The byte-at-a-time definition the eight-byte version must agree with.
    fn positions_slow(text: &str, at: usize) -> (u32, u32) {
        let bytes = text.as_bytes();
        let (mut tok, mut sent, mut prev) = (0, 0, 0);
        for (j, &b) in bytes.iter().take(at).enumerate() {
            let class = CLASS[b as usize];
            tok += u32::from(class & 1 & !prev & 1);
            prev = class & 1;
            if class & 2 != 0
                || (class & 4 != 0 && bytes.get(j + 1).is_none_or(u8::is_ascii_whitespace))
            {
                sent += 1;
            }
        }
        (tok, sent)
    }

    #[test]
    fn positions_match_bytewise_definition() {
        let text = "Hi. The U.S. said: no! Why? e.g.\tok\r\nNext\x0cline 3.5% Zürich\u{2019}s \
                    日本 A_B-C ~z{Z@9:0/ end.";
        for start in 0..text.len() {
            let offsets: Vec<usize> = (start..=text.len()).step_by(3).collect();
            let mut items: Vec<(usize, u32, u32)> = offsets.iter().map(|&o| (o, 0, 0)).collect();
            positions(text, &mut items, |x| x.0, |x, t, s| (x.1, x.2) = (t, s));
            for (o, t, s) in items {
                assert_eq!((t, s), positions_slow(text, o), "offset {o}");
            }
        }
        assert_eq!(totals(text), positions_slow(text, text.len()));
    }

    #[test]
    fn word_lookups_agree_with_character_versions() {
        let texts = [
            "Talks in The Hague. Rates matching Taiwan's levels, said the U.S.-based firm; end",
            "no sanctions on Chinese chip-making firms: none - at all!",
            "Zürich-based Ärzte said ï, then 日本 firms, and more-",
            "a -b- c-- d",
        ];
        for t in texts {
            for pos in (0..=t.len()).filter(|&p| t.is_char_boundary(p)) {
                for n in 1..=4 {
                    let fast: Vec<&str> = prev_words(t, pos, n).iter().collect();
                    let slow: Vec<&str> = prev_words_chars(t, pos, n).iter().collect();
                    assert_eq!(fast, slow, "prev {t:?} {pos} {n}");
                    let fast: Vec<&str> = next_words(t, pos, n).iter().collect();
                    let slow: Vec<&str> = next_words_chars(t, pos, n).iter().collect();
                    assert_eq!(fast, slow, "next {t:?} {pos} {n}");
                }
            }
        }
    }

    #[test]
    fn words_around() {
        let t = "Talks in The Hague. Rates matching Taiwan's levels";
        let p = t.find("Taiwan").unwrap();
        assert_eq!(
            prev_words(t, p, 3).iter().collect::<Vec<_>>(),
            vec!["matching", "Rates"]
        );
        assert_eq!(
            next_words(t, 0, 2).iter().collect::<Vec<_>>(),
            vec!["Talks", "in"]
        );
        assert!(at_sentence_start(t, t.find("Rates").unwrap()));
        assert!(!at_sentence_start(t, p));
    }
}
