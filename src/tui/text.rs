//! Text for the screen: sanitised again (DESIGN.md: strip controls at ingest *and* at the
//! screen), measured in terminal cells (wide CJK characters, emoji), truncated, wrapped,
//! and the query's terms found for highlighting.

use std::ops::Range;

use tantivy::tokenizer::{TextAnalyzer, TokenStream};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::parse::sanitize;

/// One line of text safe to draw: controls and bidi overrides gone, whitespace collapsed.
pub fn line(text: &str) -> String {
    sanitize::line(text)
}

/// A block of text safe to draw: controls gone, tabs as spaces, paragraphs kept.
pub fn block(text: &str) -> String {
    sanitize::block(text).replace('\t', "    ")
}

pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(c).unwrap_or(0)
}

/// Cut `text` to at most `max` cells, ending in `…` when something was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = char_width(c);
        if used + w > max - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// `text` truncated or padded with spaces to exactly `cells` cells.
pub fn fit(text: &str, cells: usize) -> String {
    let mut out = truncate(text, cells);
    let w = width(&out);
    out.extend(std::iter::repeat_n(' ', cells.saturating_sub(w)));
    out
}

/// Byte ranges of the lines of one paragraph (no newlines in it) wrapped to `max` cells:
/// breaks after spaces, or after any wide (CJK) character, or inside a word longer than a line.
pub fn wrap(text: &str, max: usize) -> Vec<Range<usize>> {
    let max = max.max(1);
    let mut lines: Vec<Range<usize>> = Vec::new();
    // A line ends without the spaces it broke at.
    let push = |lines: &mut Vec<Range<usize>>, r: Range<usize>| {
        let trimmed = text[r.clone()].trim_end_matches(' ').len();
        lines.push(r.start..r.start + trimmed);
    };
    let mut start = 0usize;
    let mut used = 0usize;
    // Byte offset just after the last break opportunity in this line, and the width up to it.
    let mut last_break: Option<(usize, usize)> = None;
    for (i, c) in text.char_indices() {
        let w = char_width(c);
        if used + w > max && used > 0 {
            if c == ' ' {
                push(&mut lines, start..i);
                start = i + 1;
                used = 0;
                last_break = None;
                continue;
            }
            match last_break {
                Some((b, bw)) if b > start => {
                    push(&mut lines, start..b);
                    start = b;
                    used -= bw;
                }
                _ => {
                    push(&mut lines, start..i);
                    start = i;
                    used = 0;
                }
            }
            last_break = None;
            // The rest of the word plus this character may still not fit: cut it.
            if used + w > max && used > 0 {
                push(&mut lines, start..i);
                start = i;
                used = 0;
            }
        }
        used += w;
        if c == ' ' || w == 2 {
            last_break = Some((i + c.len_utf8(), used));
        }
    }
    if start < text.len() || lines.is_empty() {
        push(&mut lines, start..text.len());
    }
    lines
}

fn analyzer() -> TextAnalyzer {
    // The index's own, so highlights are what the query matched (stems, CJK characters).
    crate::index::english_analyzer()
}

/// Finds the words of a query in a text the way the index matches them (stemmed, any case).
#[derive(Clone, Default)]
pub struct Highlighter {
    stems: Vec<String>,
}

impl Highlighter {
    /// The free-text terms of a tantivy query: words and phrases, and `title:`/`body:` values;
    /// operators, negated terms and other fields' values are left out.
    pub fn new(query: &str) -> Highlighter {
        let mut words = String::new();
        let mut negated = false;
        for raw in query.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')')) {
            // Phrases are split by whitespace too: each of their words is highlighted.
            let mut token = raw;
            if token.starts_with('"') && negated {
                continue;
            }
            if matches!(token, "AND" | "OR" | "NOT" | "&&" | "||") {
                negated = token == "NOT";
                continue;
            }
            if let Some(rest) = token.strip_prefix('-') {
                negated = rest.starts_with('"');
                continue;
            }
            if std::mem::take(&mut negated) {
                continue;
            }
            token = token.trim_start_matches('+');
            if let Some((field, value)) = token.split_once(':') {
                if !matches!(field, "title" | "body") {
                    continue;
                }
                token = value;
            }
            words.push_str(token.trim_matches(|c: char| c == '"' || c == '*' || c == '^'));
            words.push(' ');
        }
        let mut stems = Vec::new();
        let mut a = analyzer();
        let mut stream = a.token_stream(&words);
        while stream.advance() {
            let t = stream.token().text.clone();
            if !stems.contains(&t) {
                stems.push(t);
            }
        }
        Highlighter { stems }
    }

    pub fn is_empty(&self) -> bool {
        self.stems.is_empty()
    }

    /// Byte ranges of the words of `text` that match the query.
    pub fn ranges(&self, text: &str) -> Vec<Range<usize>> {
        if self.stems.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut a = analyzer();
        let mut stream = a.token_stream(text);
        while stream.advance() {
            let t = stream.token();
            if self.stems.contains(&t.text)
                && t.offset_from < t.offset_to
                && text.is_char_boundary(t.offset_from)
            {
                out.push(t.offset_from..t.offset_to.min(text.len()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_query_words_are_highlighted_as_the_index_matched_them() {
        let h = Highlighter::new("出口管制");
        let title = "商务部公告：对镓实施出口管制";
        let marked: String = h.ranges(title).into_iter().map(|r| &title[r]).collect();
        assert_eq!(marked, "出口管制");
        assert_eq!(
            Highlighter::new("restricting")
                .ranges("It restricts exports")
                .len(),
            1
        );
    }

    #[test]
    fn controls_never_reach_the_screen() {
        let evil = "Title\u{1b}[2J\u{7}\u{202e}gnp.exe\r\nnext";
        let l = line(evil);
        assert!(
            !l.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{l:?}"
        );
        let b = block("a\tb\u{1b}]0;x\u{7}\n\nc");
        assert!(!b.chars().any(|c| c.is_control() && c != '\n'), "{b:?}");
    }

    #[test]
    fn widths_count_cells() {
        assert_eq!(width("中国出口管制"), 12);
        assert_eq!(truncate("中国出口管制", 7), "中国出…");
        assert_eq!(width(&fit("中国出口管制", 7)), 7);
        assert_eq!(fit("ab", 4), "ab  ");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(width(&truncate("🚢🚢🚢", 5)), 5);
    }

    #[test]
    fn wrapping_respects_width_and_words() {
        let text = "The quick brown fox jumps over the lazy dog";
        let lines: Vec<&str> = wrap(text, 10).into_iter().map(|r| &text[r]).collect();
        assert_eq!(
            lines,
            ["The quick", "brown fox", "jumps over", "the lazy", "dog"]
        );
        let cjk = "中国商务部宣布对镓锗相关物项实施出口管制";
        for r in wrap(cjk, 9) {
            assert!(width(&cjk[r]) <= 9);
        }
        let long = "supercalifragilisticexpialidocious";
        assert!(wrap(long, 10).iter().all(|r| width(&long[r.clone()]) <= 10));
        assert_eq!(wrap("", 10), vec![0..0]);
        for w in 0..6 {
            for r in wrap("a 中 b🚢c  d", w) {
                assert!(r.start <= r.end);
            }
        }
    }

    #[test]
    fn highlighter_matches_stems_and_skips_fields() {
        let h = Highlighter::new(
            "restricting country:CN -tariffs \"entity list\" NOT gallium title:Dutch",
        );
        let text = "Dutch rule restricts exports; Entity List grows; tariffs and gallium";
        let found: Vec<&str> = h.ranges(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(found, ["Dutch", "restricts", "Entity", "List"]);
        assert!(Highlighter::new("country:CN").is_empty());
        assert!(Highlighter::new("").ranges("anything").is_empty());
    }
}
