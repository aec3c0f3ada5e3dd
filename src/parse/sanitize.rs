//! Text from outside is cleaned once, here, before anything stores or shows it:
//! C0/C1 control characters (but newline and tab), DEL and bidi overrides are removed,
//! so a feed title can never move the cursor, recolour the screen or reorder text.

/// True for characters that must never reach the store or the terminal.
pub fn is_forbidden(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        // Bidi embeddings, overrides and isolates (Trojan Source), and the line/paragraph
        // separators that some terminals treat as newlines.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' => true,
        // Byte-order mark and other zero-width format characters that only confuse widths.
        '\u{feff}' | '\u{200b}' | '\u{2060}' => true,
        _ => false,
    }
}

/// A one-line field (title, author, source name): forbidden characters dropped, every run of
/// whitespace (including newlines and tabs) becomes one space, ends trimmed.
pub fn line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else if !is_forbidden(c) {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// A multi-line body: forbidden characters dropped, CR/CRLF become LF, trailing spaces cut,
/// runs of spaces inside a line collapsed, at most one blank line between paragraphs.
pub fn block(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_lines = 0usize;
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    for raw in normalised.split('\n') {
        let cleaned = line_keep_indent(raw);
        if cleaned.is_empty() {
            blank_lines += 1;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_lines > 0 {
                out.push('\n');
            }
        }
        blank_lines = 0;
        out.push_str(&cleaned);
    }
    out
}

/// Like [`line`] but keeps a leading indent (lists, quotes) of up to eight columns; tabs
/// become spaces so widths are predictable on screen.
fn line_keep_indent(raw: &str) -> String {
    let indent = raw
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .map(|c| if c == '\t' { 4 } else { 1 })
        .sum::<usize>()
        .min(8);
    let rest = line(raw);
    if rest.is_empty() {
        return rest;
    }
    let mut out = " ".repeat(indent);
    out.push_str(&rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_and_bidi_are_removed() {
        assert_eq!(
            line("Evil\x1b[31m red\x07 \u{202e}txt.exe\u{9b}"),
            "Evil[31m red txt.exe"
        );
        assert_eq!(line("  a \t b\n c  "), "a b c");
        assert_eq!(block("one\r\ntwo\r\r\r\nthree\x00"), "one\ntwo\n\nthree");
        assert_eq!(
            block("\n\n  - item\n\n\n\npara  end   \n"),
            "  - item\n\npara end"
        );
    }

    proptest! {
        #[test]
        fn nothing_forbidden_survives(s in any::<String>()) {
            prop_assert!(!line(&s).chars().any(|c| is_forbidden(c) || c == '\n' || c == '\t'));
            prop_assert!(!block(&s).chars().any(|c| is_forbidden(c) || c == '\t' || c == '\r'));
            // Sanitising is idempotent: cleaning twice changes nothing.
            prop_assert_eq!(line(&line(&s)), line(&s));
            prop_assert_eq!(block(&block(&s)), block(&s));
        }
    }
}
