//! Text from outside is cleaned once, here, before anything stores or shows it:
//! terminal escape sequences are removed whole (`ESC[31m`, not just the ESC), then C0/C1
//! control characters (but newline and tab), DEL and bidi overrides, so a feed title can
//! never move the cursor, recolour the screen or reorder text.

use std::borrow::Cow;

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

/// Terminal escape sequences (ECMA-48) removed whole: CSI (`ESC [` or U+009B, parameters,
/// final byte), strings (OSC, DCS, SOS, PM, APC up to BEL or ST) and two-byte escapes. An
/// unterminated string loses only its introducer, so text after it is kept. The ESC and C1
/// characters left over are removed with the other controls afterwards.
pub fn without_escape_sequences(text: &str) -> Cow<'_, str> {
    if !may_hold_escapes(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        let (kind, body) = match c {
            '\u{1b}' => match after.chars().next() {
                Some('[') => (Seq::Csi, &after[1..]),
                Some(']' | 'P' | 'X' | '^' | '_') => (Seq::Str, &after[1..]),
                Some(_) => (Seq::Esc, after),
                None => (Seq::Esc, after),
            },
            '\u{9b}' => (Seq::Csi, after),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => (Seq::Str, after),
            _ => {
                out.push(c);
                rest = after;
                continue;
            }
        };
        rest = match kind {
            // Parameters, intermediates, then one final byte.
            Seq::Csi => {
                let body = skip_in(skip_in(body, '\u{30}'..='\u{3f}'), '\u{20}'..='\u{2f}');
                skip_one_in(body, '\u{40}'..='\u{7e}')
            }
            Seq::Str => {
                let bel = body.find('\u{7}').map(|i| (i, 1));
                let st = body
                    .find("\u{1b}\\")
                    .map(|i| (i, 2))
                    .into_iter()
                    .chain(body.find('\u{9c}').map(|i| (i, '\u{9c}'.len_utf8())))
                    .min();
                match bel.into_iter().chain(st).min() {
                    Some((i, len)) => &body[i + len..],
                    // Unterminated: drop the introducer only.
                    None => body,
                }
            }
            // Intermediates, then one final byte.
            Seq::Esc => skip_one_in(skip_in(body, '\u{20}'..='\u{2f}'), '\u{30}'..='\u{7e}'),
        };
    }
    Cow::Owned(out)
}

/// `text` after its leading characters in `range`.
fn skip_in(text: &str, range: std::ops::RangeInclusive<char>) -> &str {
    let end = text
        .find(|c: char| !range.contains(&c))
        .unwrap_or(text.len());
    &text[end..]
}

/// `text` after its first character if that is in `range`.
fn skip_one_in(text: &str, range: std::ops::RangeInclusive<char>) -> &str {
    match text.chars().next() {
        Some(c) if range.contains(&c) => &text[c.len_utf8()..],
        _ => text,
    }
}

/// Whether `text` has an ESC or a C1 introducer (U+0090, U+0098, U+009B, U+009D–U+009F, which
/// UTF-8 writes as 0xC2 and a second byte): a byte search, as every story passes here.
fn may_hold_escapes(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr2_iter(0x1b, 0xc2, bytes).any(|i| {
        bytes[i] == 0x1b || matches!(bytes.get(i + 1), Some(0x90 | 0x98 | 0x9b | 0x9d..=0x9f))
    })
}

enum Seq {
    Csi,
    Str,
    Esc,
}

/// A one-line field (title, author, source name): escape sequences and forbidden characters
/// dropped, every run of whitespace (including newlines and tabs) becomes one space, ends
/// trimmed.
pub fn line(text: &str) -> String {
    let text = &*without_escape_sequences(text);
    let mut out = String::with_capacity(text.len());
    if text.is_ascii() {
        // Most feed and echomail text is plain ASCII: copy clean runs whole instead of
        // pushing char by char (same result as `line_chars_into`, checked by a property test).
        line_ascii_into(&mut out, text);
    } else {
        line_chars_into(&mut out, text);
    }
    out
}

/// The general (any Unicode) version of [`line`], appending to `out`; returns whether it
/// appended anything.
fn line_chars_into(out: &mut String, text: &str) -> bool {
    let start = out.len();
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = out.len() > start;
        } else if !is_forbidden(c) {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out.len() > start
}

/// ASCII whitespace as `char::is_whitespace` sees it: tab, LF, VT, FF, CR and space.
fn ascii_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// ASCII bytes kept as they are: printable characters (no whitespace, controls or DEL).
fn ascii_plain(b: u8) -> bool {
    b > b' ' && b != 0x7f
}

/// [`line_chars_into`] for ASCII `text` (the caller checks). Clean stretches (printable
/// words joined by single spaces) are copied in one go. Slicing a str at ASCII positions
/// is always on a character boundary.
fn line_ascii_into(out: &mut String, text: &str) -> bool {
    let start_len = out.len();
    let bytes = text.as_bytes();
    let mut pending_space = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if !ascii_plain(b) {
            if ascii_space(b) {
                pending_space = out.len() > start_len;
            }
            i += 1;
            continue;
        }
        let run_start = i;
        loop {
            i += bytes
                .get(i..)
                .and_then(|rest| rest.iter().position(|&b| !ascii_plain(b)))
                .unwrap_or(bytes.len() - i);
            // A single space between two words stays inside the stretch.
            match (bytes.get(i), bytes.get(i + 1)) {
                (Some(b' '), Some(&next)) if ascii_plain(next) => i += 1,
                _ => break,
            }
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push_str(text.get(run_start..i).unwrap_or_default());
    }
    out.len() > start_len
}

/// `text` cut to at most `max_chars` characters, on a character boundary, ending with `…`
/// when anything was cut (trailing spaces before it dropped). `max_chars` must be at least 1.
pub fn capped(mut text: String, max_chars: usize) -> String {
    // Bytes are at least as many as characters: most text needs no counting.
    if text.len() <= max_chars {
        return text;
    }
    if let Some((cut, _)) = text.char_indices().nth(max_chars.saturating_sub(1)) {
        if text[cut..].chars().nth(1).is_none() {
            return text; // exactly `max_chars` characters: nothing to cut
        }
        text.truncate(cut);
        text.truncate(text.trim_end().len());
        text.push('…');
    }
    text
}

/// A file path as shown to a user (stderr, the interface, a `.reason` file): the names in an
/// inbound folder are chosen by a remote mailer, so a path is cleaned as any outside line is
/// (an `ESC ] 0;` in a name would otherwise retitle the terminal).
pub fn path(path: &std::path::Path) -> String {
    line(&path.to_string_lossy())
}

/// A multi-line body: escape sequences and forbidden characters dropped, CR/CRLF become LF, trailing spaces cut,
/// runs of spaces inside a line collapsed, at most one blank line between paragraphs.
pub fn block(text: &str) -> String {
    let text = &*without_escape_sequences(text);
    let mut out = String::with_capacity(text.len());
    let ascii = text.is_ascii();
    let mut blank_lines = 0usize;
    let mut rest = text;
    // Lines end at LF, CRLF or a lone CR.
    loop {
        // CR and LF bytes never occur inside a multi-byte UTF-8 sequence.
        let eol = rest.bytes().position(|b| b == b'\n' || b == b'\r');
        let (raw, next) = match eol.and_then(|at| rest.split_at_checked(at)) {
            Some((raw, eol)) => {
                let skip = if eol.starts_with("\r\n") { 2 } else { 1 };
                (raw, Some(eol.get(skip..).unwrap_or_default()))
            }
            None => (rest, None),
        };
        // Separator and indent go in first and are taken back if the line is empty, so no
        // line needs a String of its own.
        let mark = out.len();
        if !out.is_empty() {
            out.push('\n');
            if blank_lines > 0 {
                out.push('\n');
            }
        }
        for _ in 0..indent_of(raw) {
            out.push(' ');
        }
        let wrote = if ascii || raw.is_ascii() {
            line_ascii_into(&mut out, raw)
        } else {
            line_chars_into(&mut out, raw)
        };
        if wrote {
            blank_lines = 0;
        } else {
            out.truncate(mark);
            blank_lines += 1;
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    out
}

/// A line's leading indent (lists, quotes) in columns, up to eight; a tab counts four, and
/// becomes spaces so widths are predictable on screen.
fn indent_of(raw: &str) -> usize {
    raw.bytes()
        .take_while(|b| *b == b' ' || *b == b'\t')
        .map(|b| if b == b'\t' { 4 } else { 1 })
        .sum::<usize>()
        .min(8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_and_bidi_are_removed() {
        assert_eq!(
            line("Evil\x1b[31m red\x07 \u{202e}txt.exe\u{9b}"),
            "Evil red txt.exe"
        );
        // Whole sequences go, not just their ESC: colours, titles, cursor moves, charsets.
        assert_eq!(
            line(
                "\x1b[1;31mRED\x1b[0m \x1b]0;pwned\x07title \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x1b(Bok\x1b7"
            ),
            "RED title link ok"
        );
        assert_eq!(line("\u{9b}2Jclear \u{9d}0;t\u{9c}done"), "clear done");
        // An unterminated string loses only its introducer; the text after it stays.
        assert_eq!(line("a \x1b]0;no end"), "a 0;no end");
        assert_eq!(line("trailing\x1b"), "trailing");
        assert_eq!(block("x\x1b[2K\ny\x1b[A"), "x\ny");
        assert_eq!(line("  a \t b\n c  "), "a b c");
        assert_eq!(block("one\r\ntwo\r\r\r\nthree\x00"), "one\ntwo\n\nthree");
        assert_eq!(
            block("\n\n  - item\n\n\n\npara  end   \n"),
            "  - item\n\npara end"
        );
    }

    #[test]
    fn capped_cuts_on_a_char_boundary_and_says_so() {
        assert_eq!(capped("short".into(), 10), "short");
        assert_eq!(capped("exactly10!".into(), 10), "exactly10!");
        assert_eq!(capped("ééééé".into(), 5), "ééééé"); // 10 bytes, 5 chars
        assert_eq!(capped("abcdefghijk".into(), 10), "abcdefghi…");
        assert_eq!(capped("ééééééé".into(), 4), "ééé…");
        assert_eq!(capped("abc    defghijk".into(), 5), "abc…");
        let long = capped("T".repeat(1 << 20), 2000);
        assert_eq!(long.chars().count(), 2000);
        assert!(long.ends_with('…'));
    }

    /// The first, char-by-char implementations, kept as the reference the faster ones
    /// must match exactly.
    fn reference_line(text: &str) -> String {
        let text = &*without_escape_sequences(text);
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

    fn reference_block(text: &str) -> String {
        let text = &*without_escape_sequences(text);
        let mut out = String::with_capacity(text.len());
        let mut blank_lines = 0usize;
        let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
        for raw in normalised.split('\n') {
            let indent = raw
                .chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .map(|c| if c == '\t' { 4 } else { 1 })
                .sum::<usize>()
                .min(8);
            let rest = reference_line(raw);
            if rest.is_empty() {
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
            out.push_str(&" ".repeat(indent));
            out.push_str(&rest);
        }
        out
    }

    /// Text made mostly of the characters the fast paths treat specially.
    fn tricky_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("\r".to_owned()),
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("\t".to_owned()),
            Just(" ".to_owned()),
            Just("\x0b".to_owned()),
            Just("\x0c".to_owned()),
            Just("\x1b[31m".to_owned()),
            Just("\x00".to_owned()),
            Just("\x7f".to_owned()),
            Just("\u{85}".to_owned()),
            Just("\u{a0}".to_owned()),
            Just("\u{2028}".to_owned()),
            Just("\u{202e}".to_owned()),
            Just("é".to_owned()),
            "[a-z]{1,6}",
            "[\\x00-\\x7f]{0,4}",
        ];
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    #[test]
    fn fast_paths_match_on_examples() {
        for s in [
            "",
            " ",
            "\r",
            "\r\r\n",
            "\n\r",
            "a\rb",
            "  \t x\r\n\r\n\r\n  y  ",
            "\t\t\tdeep",
            "\x0bvt\x0cff\x1c\x1d\x1e\x1f",
            "Caf\u{e9}\r\n\r\n  na\u{ef}ve\u{2028}x",
        ] {
            assert_eq!(line(s), reference_line(s), "line({s:?})");
            assert_eq!(block(s), reference_block(s), "block({s:?})");
        }
    }

    proptest! {
        #[test]
        fn fast_paths_match_the_reference(s in tricky_text()) {
            prop_assert_eq!(line(&s), reference_line(&s));
            prop_assert_eq!(block(&s), reference_block(&s));
        }

        #[test]
        fn fast_paths_match_the_reference_on_ascii(s in "[\\x00-\\x7f]{0,200}") {
            prop_assert_eq!(line(&s), reference_line(&s));
            prop_assert_eq!(block(&s), reference_block(&s));
        }

        #[test]
        fn fast_paths_match_the_reference_on_any_text(s in any::<String>()) {
            prop_assert_eq!(line(&s), reference_line(&s));
            prop_assert_eq!(block(&s), reference_block(&s));
        }

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
