//! HTML → readable plain text: paragraphs and lists kept, links collected into a numbered
//! list and referenced in the text as `[n]`. Entities decoded, scripts and styles dropped.

use html2text::render::RichAnnotation;

/// Text of an HTML fragment plus its links, numbered in order of first appearance.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub links: Vec<String>,
}

/// True when `s` may carry markup or entities; plain text skips the HTML parser entirely,
/// which keeps ingest fast for the many feeds whose descriptions are plain.
pub fn looks_like_html(s: &str) -> bool {
    s.contains('<') || s.contains('&')
}

/// Render `html` to text. Relative links are resolved against `base` when given; only
/// absolute http(s) and mailto links are kept in the list (others stay as plain text).
pub fn to_text(html: &str, base: Option<&url::Url>) -> Rendered {
    if !looks_like_html(html) {
        return Rendered {
            text: html.to_string(),
            links: Vec::new(),
        };
    }
    if let Some(text) = simple_markup_to_text(html) {
        return Rendered {
            text,
            links: Vec::new(),
        };
    }
    // A very wide width: the interface wraps to the screen, the store keeps whole lines.
    let lines = match html2text::config::rich()
        .no_table_borders()
        .lines_from_read(html.as_bytes(), 10_000)
    {
        Ok(lines) => lines,
        Err(e) => {
            tracing::debug!("html2text failed ({e}); keeping text without markup");
            return Rendered {
                text: strip_tags(html),
                links: Vec::new(),
            };
        }
    };
    let mut out = Rendered::default();
    for line in lines {
        let mut open_link: Option<String> = None;
        for piece in line.tagged_strings() {
            let link = piece.tag.iter().find_map(|a| match a {
                RichAnnotation::Link(url) => Some(url.clone()),
                _ => None,
            });
            if open_link.is_some() && open_link != link {
                close_link(&mut out, open_link.take(), base);
            }
            out.text.push_str(&piece.s);
            open_link = link;
        }
        close_link(&mut out, open_link, base);
        out.text.push('\n');
    }
    let trimmed_len = out.text.trim_end().len();
    out.text.truncate(trimmed_len);
    out
}

/// Tags whose only effect is a paragraph or line break, or emphasis that plain text drops.
const SIMPLE_TAGS: &[&str] = &[
    "p", "br", "b", "i", "em", "strong", "span", "div", "u", "small", "sup", "sub",
];

/// Most feed descriptions are a paragraph or two with emphasis. For those, skip building an
/// HTML DOM (html2text's cost dominates ingest otherwise) and convert directly, in one pass.
/// Anything else — links, lists, tables, scripts, comments, attributes on block tags,
/// malformed tags — returns `None` and goes through html2text.
///
/// Within a line, runs of whitespace become one space; a newline in the source, `<br>` and a
/// paragraph (`<p>`, `<div>`: a blank line) break lines; the ends are trimmed.
fn simple_markup_to_text(html: &str) -> Option<String> {
    let mut out = Spacer {
        text: String::with_capacity(html.len()),
        newlines: 0,
        space: false,
    };
    let mut rest = html;
    loop {
        let lt = rest.find('<').unwrap_or(rest.len());
        let (text, tail) = rest.split_at(lt);
        out.push_text(&decode_entities(text)?);
        let Some(after) = tail.strip_prefix('<') else {
            break;
        };
        let gt = after.find('>')?;
        let tag = after[..gt].trim();
        let closing = tag.starts_with('/');
        let name = tag.trim_start_matches('/').trim_end_matches('/').trim();
        let name = name.split_ascii_whitespace().next().unwrap_or("");
        let simple = SIMPLE_TAGS.iter().find(|t| t.eq_ignore_ascii_case(name))?;
        match *simple {
            // A paragraph replaces whatever break came before it with one blank line.
            "p" | "div" => {
                out.newlines = 2;
                out.space = false;
            }
            "br" if !closing => out.newlines += 1,
            _ => {}
        }
        rest = &after[gt + 1..];
    }
    Some(out.text)
}

/// Text written word by word: the whitespace and breaks seen since the last word are held
/// back until the next one, so nothing trails and nothing needs trimming afterwards.
struct Spacer {
    text: String,
    newlines: usize,
    space: bool,
}

impl Spacer {
    fn push_text(&mut self, text: &str) {
        // Split at whitespace bytes without decoding: ASCII whitespace is a single byte, and
        // only a non-ASCII character can be other (Unicode) whitespace, so only those are
        // decoded. Descriptions are nearly all ASCII; this loop was most of ingest's HTML time.
        let bytes = text.as_bytes();
        let mut word_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let (white, len) = if b.is_ascii() {
                (b.is_ascii_whitespace() || b == 0x0b, 1)
            } else {
                text.get(i..)
                    .and_then(|r| r.chars().next())
                    .map_or((false, 1), |c| (c.is_whitespace(), c.len_utf8()))
            };
            if white {
                self.push_word(text.get(word_start..i).unwrap_or_default());
                if b == b'\n' {
                    self.newlines += 1;
                } else {
                    self.space = true;
                }
                word_start = i + len;
            }
            i += len;
        }
        self.push_word(text.get(word_start..).unwrap_or_default());
    }

    fn push_word(&mut self, word: &str) {
        if word.is_empty() {
            return;
        }
        if !self.text.is_empty() {
            if self.newlines > 0 {
                self.text.extend(std::iter::repeat_n('\n', self.newlines));
            } else if self.space {
                self.text.push(' ');
            }
        }
        self.newlines = 0;
        self.space = false;
        self.text.push_str(word);
    }
}

/// Entities decoded by a maintained table; a stray `&` that is no entity stays as it is.
fn decode_entities(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    if s.contains('>') {
        return None;
    }
    Some(html_escape::decode_html_entities(s))
}

/// After a link's text, append its reference number (reusing the number of a repeated URL).
fn close_link(out: &mut Rendered, link: Option<String>, base: Option<&url::Url>) {
    let Some(raw) = link else { return };
    let resolved = match url::Url::parse(raw.trim()) {
        Ok(u) => Some(u),
        Err(url::ParseError::RelativeUrlWithoutBase) => base.and_then(|b| b.join(raw.trim()).ok()),
        Err(_) => None,
    };
    let Some(url) = resolved.filter(|u| matches!(u.scheme(), "http" | "https" | "mailto")) else {
        return;
    };
    let url = url.to_string();
    let n = match out.links.iter().position(|l| *l == url) {
        Some(i) => i + 1,
        None => {
            out.links.push(url);
            out.links.len()
        }
    };
    out.text.push_str(&format!("[{n}]"));
}

/// Last resort when the HTML parser gives up: drop anything between angle brackets.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_lists_and_numbered_links() {
        let base = url::Url::parse("https://example.org/news/").unwrap();
        let r = to_text(
            "<p>BIS adds <a href=\"/rule\">28 firms</a> &amp; more.</p>\
             <ul><li>one</li><li>two <a href='https://x.test/a'>src</a></li></ul>\
             <p>Again <a href=\"https://example.org/rule\">the rule</a>.\
             <a href=\"javascript:alert(1)\">bad</a></p><script>evil()</script>",
            Some(&base),
        );
        assert_eq!(
            r.links,
            vec!["https://example.org/rule", "https://x.test/a"]
        );
        assert!(
            r.text.contains("BIS adds 28 firms[1] & more."),
            "{}",
            r.text
        );
        assert!(r.text.contains("* one"), "{}", r.text);
        assert!(r.text.contains("two src[2]"), "{}", r.text);
        assert!(r.text.contains("Again the rule[1]."), "{}", r.text);
        assert!(!r.text.contains("evil"), "{}", r.text);
        assert!(!r.text.contains("javascript"), "{}", r.text);
    }

    #[test]
    fn simple_markup_takes_the_fast_path_with_the_same_result() {
        let html = "<p>The <b>Bureau</b> said &amp; added&nbsp;firms.</p>\n<p>Second<br/>line &lt;ok&gt;</p>";
        let fast = simple_markup_to_text(html).unwrap();
        assert_eq!(fast, "The Bureau said & added firms.\n\nSecond\nline <ok>");
        // Anything richer goes to html2text.
        assert!(simple_markup_to_text("<p><a href='x'>l</a></p>").is_none());
        assert!(simple_markup_to_text("<ul><li>x</li></ul>").is_none());
        assert!(simple_markup_to_text("<p>unclosed <b").is_none());
        assert!(simple_markup_to_text("<script>x</script>").is_none());
        assert!(simple_markup_to_text("<!-- c --><p>x</p>").is_none());
    }

    proptest::proptest! {
        // The fast path agrees with html2text on the words it keeps.
        #[test]
        fn fast_path_matches_html2text_words(parts in proptest::collection::vec(("[a-z]{1,8}( [a-z]{1,8}){0,3}", 0usize..4), 1..6)) {
            let tags = ["p", "b", "em", "strong"];
            let html: String = parts.iter().map(|(t, k)| format!("<{0}>{1}</{0}> ", tags[*k], t)).collect();
            let fast = simple_markup_to_text(&html).unwrap();
            let slow = html2text::config::plain().string_from_read(html.as_bytes(), 10_000).unwrap();
            let words = |s: &str| s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect::<Vec<_>>();
            proptest::prop_assert_eq!(words(&fast), words(&slow));
        }
    }

    /// The fast path as it was first written (tags to breaks, then lines collapsed in a
    /// second pass): the one-pass version must store the same text.
    fn reference_simple_markup(html: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = html;
        while let Some(lt) = rest.find('<') {
            out.push_str(&decode_entities(&rest[..lt])?);
            let after = &rest[lt + 1..];
            let gt = after.find('>')?;
            let tag = after[..gt].trim();
            let closing = tag.starts_with('/');
            let name = tag.trim_start_matches('/').trim_end_matches('/').trim();
            let lower = name
                .split_ascii_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if !SIMPLE_TAGS.contains(&lower.as_str()) {
                return None;
            }
            match lower.as_str() {
                "p" | "div" => {
                    let trimmed = out.trim_end_matches([' ', '\n']).len();
                    out.truncate(trimmed);
                    if !out.is_empty() {
                        out.push_str("\n\n");
                    }
                }
                "br" if !closing => out.push('\n'),
                _ => {}
            }
            rest = &after[gt + 1..];
        }
        out.push_str(&decode_entities(rest)?);
        let text = out
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n");
        Some(text.trim().to_string())
    }

    proptest::proptest! {
        #[test]
        fn one_pass_fast_path_matches_the_reference(
            parts in proptest::collection::vec(
                ("[a-zA-Z &;\\n\\r\\t\u{b}\u{c}\u{85}\u{a0}\u{2028}\u{3000}é]{0,12}",
                 proptest::sample::select(vec!["<p>", "</p>", "<br>", "<br/>", "<BR >", "<DIV>", "<b>", "</em>", "&amp;", "&nbsp;", "&#10;", " ", "\n", "\r\n", "<a>", ">"])),
                0..8)
        ) {
            let html: String = parts.iter().map(|(t, k)| format!("{t}{k}")).collect();
            // Compared as stored (bodies go through `sanitize::block`, titles through
            // `sanitize::line`), so content hashes of stored stories do not change. Before
            // that they may differ in the number of blank lines around a lone CR.
            let (fast, reference) = (simple_markup_to_text(&html), reference_simple_markup(&html));
            let block = |t: &Option<String>| t.as_deref().map(crate::parse::sanitize::block);
            let line = |t: &Option<String>| t.as_deref().map(crate::parse::sanitize::line);
            proptest::prop_assert_eq!(block(&fast), block(&reference));
            proptest::prop_assert_eq!(line(&fast), line(&reference));
        }
    }

    #[test]
    fn plain_text_passes_through() {
        let r = to_text("No markup here", None);
        assert_eq!(r.text, "No markup here");
        assert!(r.links.is_empty());
    }
}
