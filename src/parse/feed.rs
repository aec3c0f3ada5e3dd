//! RSS 0.9x/1.0/2.0, Atom and JSON Feed (feed-rs) → [`ParsedStory`].

use feed_rs::model::{Entry, Text};

use super::{html, sanitize};
use crate::model::{ParsedStory, StoryKind};

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("not a valid RSS/Atom/JSON feed: {0}")]
    Parse(String),
    #[error("feed declares XML entities (<!ENTITY); refused to expand them")]
    EntityDeclaration,
}

/// Cheap check that bytes look like a feed (XML or JSON Feed) before trying harder.
pub fn sniff(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    (t.starts_with('<')
        && (t.contains("<rss")
            || t.contains("<feed")
            || t.contains("<rdf")
            || t.starts_with("<?xml")))
        || (t.starts_with('{') && t.contains("jsonfeed.org"))
}

/// Parse a whole feed document. `base` (the URL it came from) resolves relative links.
pub fn parse(bytes: &[u8], base: Option<&str>) -> Result<Vec<ParsedStory>, FeedError> {
    parse_with_charset(bytes, base, None)
}

/// [`parse`] for a feed fetched over HTTP whose `Content-Type` named a `charset`: that charset
/// decides how the bytes are read (RFC 7303), see [`to_utf8`].
pub fn parse_with_charset(
    bytes: &[u8],
    base: Option<&str>,
    http_charset: Option<&str>,
) -> Result<Vec<ParsedStory>, FeedError> {
    let transcoded = to_utf8(bytes, http_charset);
    let bytes = transcoded.as_deref().unwrap_or(bytes);
    // Entity declarations are how "billion laughs" and external-entity tricks start; no
    // legitimate feed needs them. Looked for after transcoding, so a UTF-16 body cannot hide one.
    if memfind(bytes, b"<!ENTITY") {
        return Err(FeedError::EntityDeclaration);
    }
    let parser = feed_rs::parser::Builder::new()
        .base_uri(base)
        .timestamp_parser(super::date::timestamp)
        .build();
    let feed = parser
        .parse(bytes)
        .map_err(|e| FeedError::Parse(why_not_a_feed(&e, bytes)))?;
    let base_url = base.and_then(|b| url::Url::parse(b).ok());
    Ok(feed
        .entries
        .into_iter()
        .map(|e| story_of(e, base_url.as_ref()))
        .collect())
}

/// The bytes as UTF-8 for feed-rs when they need transcoding, else None (feed-rs reads them
/// as they are: UTF-8, a byte order mark, or the encoding the XML declaration names).
///
/// In order:
/// - A byte order mark is the document's own unambiguous word and wins over everything, as
///   in browsers. UTF-16 is decoded here.
/// - The HTTP charset, when encoding_rs knows it, wins over the XML declaration (RFC 7303).
///   Except for the most common misconfiguration: a server that labels every response
///   `charset=iso-8859-1` (or another legacy charset) while the CMS writes UTF-8. Bytes that
///   are valid UTF-8 and say so themselves (no declaration means UTF-8 in XML, or one that
///   names UTF-8) are kept as UTF-8: legacy 8-bit text with non-ASCII letters is almost never
///   valid UTF-8 by accident, and ASCII reads the same either way.
/// - A `charset=utf-8` header on bytes that are not UTF-8 is plainly wrong: ignored.
/// - Otherwise (no header, or an unknown charset) an XML feed that is not UTF-8 and does not
///   say what it is (no `encoding` in an XML declaration) is, by the XML rules, broken; in
///   practice it is almost always Latin-1 or Windows-1252 from an old CMS. Read it as
///   Windows-1252 (a superset of Latin-1's printable characters) rather than refusing it.
fn to_utf8(bytes: &[u8], http_charset: Option<&str>) -> Option<Vec<u8>> {
    use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        // feed-rs reads a UTF-8 BOM but finds no root element behind a UTF-16 one.
        if encoding == UTF_8 {
            return None;
        }
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return Some(with_utf8_declaration(&text));
    }
    let is_utf8 = std::str::from_utf8(bytes).is_ok();
    let declared = declared_encoding(bytes);
    let declares_utf8 = match declared {
        None => true,
        Some(label) => Encoding::for_label(label) == Some(UTF_8),
    };
    let from_header = http_charset
        .and_then(|label| Encoding::for_label(label.trim().as_bytes()))
        // The "replacement" encoding (labels of charsets unsafe on the web) decodes to U+FFFD.
        .filter(|e| *e != encoding_rs::REPLACEMENT);
    let encoding = match from_header {
        Some(e) if e == UTF_8 && is_utf8 => {
            // The header wins over a declaration that names another encoding, which feed-rs
            // would otherwise follow: rewrite it.
            return (!declares_utf8)
                .then(|| with_utf8_declaration(&String::from_utf8_lossy(bytes)));
        }
        // NUL is no XML character: UTF-8-valid bytes holding one are UTF-16 without a BOM.
        Some(_) if is_utf8 && declares_utf8 && !bytes.contains(&0) => return None,
        Some(e) if e != UTF_8 => e,
        _ if is_utf8 || declared.is_some() => return None,
        _ => WINDOWS_1252,
    };
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    Some(with_utf8_declaration(&text))
}

/// The value of `encoding` in the XML declaration that starts `bytes`, if any.
fn declared_encoding(bytes: &[u8]) -> Option<&[u8]> {
    let head = &bytes[..bytes.len().min(256)];
    let decl = head.strip_prefix(b"<?xml")?;
    // `<?xml-stylesheet …?>` is another processing instruction, not the declaration.
    if !decl.first().is_some_and(u8::is_ascii_whitespace) {
        return None;
    }
    let decl = &decl[..decl.iter().position(|&b| b == b'>')?];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let rest = decl[at + 8..]
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let (&quote, rest) = rest.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    Some(&rest[..rest.iter().position(|&b| b == quote)?])
}

/// `text` (now UTF-8) with its XML declaration, if any, saying so: left naming the original
/// encoding, it would make feed-rs decode the text a second time.
fn with_utf8_declaration(text: &str) -> Vec<u8> {
    match text
        .strip_prefix("<?xml")
        .filter(|decl| decl.starts_with(|c: char| c.is_ascii_whitespace()))
        .and_then(|decl| decl.split_once("?>"))
    {
        Some((_, rest)) => [
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            rest.as_bytes(),
        ]
        .concat(),
        None => text.as_bytes().to_vec(),
    }
}

/// feed-rs's error in words a user can act on. Its "no root element" covers every XML
/// document that is not a feed it knows (a web page, a cut-off file, an `<rss>` without a
/// version) and any file that is neither XML nor JSON.
fn why_not_a_feed(e: &feed_rs::parser::ParseFeedError, bytes: &[u8]) -> String {
    use feed_rs::parser::{ParseErrorKind, ParseFeedError};
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    match e {
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => {
            if !bytes.iter().any(|&b| b == b'<' || b == b'{') {
                "it is neither XML nor JSON".into()
            } else if head.starts_with("<!doctype html") || head.starts_with("<html") {
                "it is a web page (HTML), not a feed".into()
            } else if head.starts_with('{') {
                "the JSON is no JSON Feed".into()
            } else {
                "no <rss version=\"2.0\"> (or 0.91/0.92), Atom <feed> or RSS 1.0 <rdf:RDF> \
                 element was found: the XML is another kind of document, or is cut off"
                    .into()
            }
        }
        ParseFeedError::JsonSerde(e) => format!("broken JSON: {e}"),
        ParseFeedError::JsonUnsupportedVersion(v) => {
            format!("unsupported JSON Feed version {v:?}")
        }
        ParseFeedError::XmlReader(e) => format!("broken XML: {e}"),
        other => other.to_string(),
    }
}

fn memfind(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn story_of(entry: Entry, base: Option<&url::Url>) -> ParsedStory {
    let item_url = pick_link(&entry, base);
    let link = item_url.as_ref().map(url::Url::to_string);
    let base = item_url.as_ref().or(base);

    let title = entry
        .title
        .as_ref()
        .map(|t| text_line(t, base))
        .unwrap_or_default();
    let body_html = entry
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .filter(|b| !b.trim().is_empty())
        .or_else(|| entry.summary.as_ref().map(|s| s.content.clone()))
        .unwrap_or_default();
    let rendered = html::to_text(&body_html, base);
    let title = if title.is_empty() {
        // Some RSS items have only a description: use its first line, like newsboat does.
        sanitize::line(rendered.text.lines().next().unwrap_or("(untitled)"))
    } else {
        title
    };
    let author = entry
        .authors
        .iter()
        .map(|p| sanitize::line(&p.name))
        .find(|n| !n.is_empty());

    let mut story = ParsedStory::new(StoryKind::Feed, title);
    story.guid = Some(sanitize::line(&entry.id)).filter(|g| !g.is_empty());
    story.link = link;
    story.body = sanitize::block(&rendered.text);
    story.links = rendered.links;
    story.published = entry.published.or(entry.updated);
    story.author = author;
    story
}

fn text_line(text: &Text, base: Option<&url::Url>) -> String {
    sanitize::line(&html::to_text(&text.content, base).text)
}

/// The story's own page: the `alternate` link (or one without a rel), else the first one.
/// Parsed once: it is also the base for the item's relative links.
fn pick_link(entry: &Entry, base: Option<&url::Url>) -> Option<url::Url> {
    let chosen = entry
        .links
        .iter()
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .or_else(|| entry.links.first())?;
    let href = chosen.href.trim();
    let url = match url::Url::parse(href) {
        Ok(u) => u,
        Err(_) => base?.join(href).ok()?,
    };
    matches!(url.scheme(), "http" | "https").then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_without_a_declaration_is_read_as_windows_1252() {
        let undeclared = b"<rss version=\"2.0\"><channel><title>T</title><item><title>Not\xedcias \x93hoje\x94</title>\
            <guid>a</guid><description>S\xe3o Paulo</description></item></channel></rss>";
        let stories = parse(undeclared, None).unwrap();
        assert_eq!(stories[0].title, "Not\u{ed}cias \u{201c}hoje\u{201d}");
        assert_eq!(stories[0].body, "S\u{e3}o Paulo");
        // A declared encoding is honoured as declared.
        let declared =
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><channel>\
            <title>T</title><item><title>\xdaltimas</title><guid>b</guid></item></channel></rss>";
        assert_eq!(parse(declared, None).unwrap()[0].title, "\u{da}ltimas");
    }

    fn rss(declaration: &str, title: &str) -> String {
        format!(
            "{declaration}<rss version=\"2.0\"><channel><title>T</title><item><title>{title}</title>\
             <guid>g</guid></item></channel></rss>"
        )
    }

    fn encoded(encoding: &'static encoding_rs::Encoding, text: &str) -> Vec<u8> {
        encoding.encode(text).0.into_owned()
    }

    fn title_of(bytes: &[u8], charset: Option<&str>) -> String {
        parse_with_charset(bytes, None, charset).unwrap()[0]
            .title
            .clone()
    }

    #[test]
    fn the_http_charset_wins_over_the_guess_and_the_declaration() {
        let polish = "Zażółć gęślą";
        let latin2 = encoded(encoding_rs::ISO_8859_2, &rss("", polish));
        assert_eq!(title_of(&latin2, Some("iso-8859-2")), polish);
        // Without the header: the Windows-1252 guess, as before.
        assert_ne!(title_of(&latin2, None), polish);
        // A declaration that disagrees with the header: the header wins (RFC 7303).
        let decl = "<?xml version=\"1.0\" encoding=\"windows-1250\" standalone=\"yes\"?>";
        let declared = encoded(encoding_rs::ISO_8859_2, &rss(decl, "gęślą ąś"));
        assert_eq!(title_of(&declared, Some("ISO-8859-2")), "gęślą ąś");
        // UTF-8 bytes under a declaration of Latin-1 and a UTF-8 header: UTF-8.
        let utf8 = rss("<?xml version='1.0' encoding='ISO-8859-1'?>", polish);
        assert_eq!(title_of(utf8.as_bytes(), Some("utf-8")), polish);
        // A header saying UTF-8 on bytes that are not: ignored, the declaration decides.
        let latin1 = encoded(
            encoding_rs::WINDOWS_1252,
            &rss("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>", "Últimas"),
        );
        assert_eq!(title_of(&latin1, Some("utf-8")), "Últimas");
    }

    #[test]
    fn utf8_that_says_so_survives_a_legacy_charset_header() {
        let text = "Zażółć «gęślą»";
        for decl in ["", "<?xml version=\"1.0\" encoding=\"utf-8\"?>", "\u{feff}"] {
            let xml = rss(decl, text);
            for charset in ["iso-8859-1", "ISO-8859-2", "koi8-r", "utf-16"] {
                assert_eq!(
                    title_of(xml.as_bytes(), Some(charset)),
                    text,
                    "{decl:?} {charset}"
                );
            }
        }
        // A BOM is the document's own word, whatever the header says.
        let mut utf16 = vec![0xff, 0xfe];
        utf16.extend(rss("", text).encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(title_of(&utf16, Some("iso-8859-1")), text);
        // UTF-16 without a BOM, announced by the header (its NULs are valid UTF-8).
        let bare: Vec<u8> = rss("", text)
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(title_of(&bare, Some("utf-16le")), text);
    }

    #[test]
    fn unknown_charsets_and_stylesheets_change_nothing() {
        let latin1 = encoded(encoding_rs::WINDOWS_1252, &rss("", "Not\u{ed}cias"));
        assert_eq!(
            title_of(&latin1, Some("x-no-such-charset")),
            "Not\u{ed}cias"
        );
        let pi = "<?xml-stylesheet type=\"text/xsl\" href=\"encoding.xsl\"?>";
        let styled = encoded(encoding_rs::ISO_8859_2, &rss(pi, "łódź"));
        assert_eq!(title_of(&styled, Some("iso-8859-2")), "łódź");
        assert_eq!(declared_encoding(pi.as_bytes()), None);
        assert_eq!(
            declared_encoding(b"<?xml version=\"1.0\" encoding = 'koi8-r' ?><rss/>"),
            Some(&b"koi8-r"[..])
        );
    }

    #[test]
    fn an_entity_declaration_cannot_hide_in_another_charset() {
        let xml = "<!DOCTYPE r [<!ENTITY a \"aaaa\">]><rss><channel><item><title>&a;</title></item></channel></rss>";
        let utf16: Vec<u8> = xml.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(matches!(
            parse_with_charset(&utf16, None, Some("utf-16be")),
            Err(FeedError::EntityDeclaration)
        ));
    }

    #[test]
    fn rss_items_become_stories() {
        let xml = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>BIS adds &lt;b&gt;firms&lt;/b&gt;</title><link>https://ex.test/a?utm_source=x</link>
<guid>g1</guid><pubDate>Tue, 10 Jun 2025 12:00:00 GMT</pubDate>
<description>&lt;p&gt;Rule &lt;a href="/r"&gt;text&lt;/a&gt;&lt;/p&gt;</description></item>
<item><description>Only a description
second line</description></item>
</channel></rss>"#;
        let stories = parse(xml, Some("https://ex.test/feed.xml")).unwrap();
        assert_eq!(stories.len(), 2);
        let s = &stories[0];
        assert_eq!(s.title, "BIS adds firms");
        assert_eq!(s.guid.as_deref(), Some("g1"));
        assert_eq!(s.link.as_deref(), Some("https://ex.test/a?utm_source=x"));
        assert_eq!(s.body, "Rule text[1]");
        assert_eq!(s.links, vec!["https://ex.test/r"]);
        assert_eq!(
            s.published.unwrap().to_rfc3339(),
            "2025-06-10T12:00:00+00:00"
        );
        assert_eq!(stories[1].title, "Only a description");
    }

    proptest::proptest! {
        // feed-rs and html2text see arbitrary bytes from the network: never a panic, and
        // whatever comes out is sanitised.
        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let _ = parse(&bytes, Some("https://ex.test/"));
        }

        #[test]
        fn arbitrary_item_text_is_sanitised(title in ".{0,200}", body in ".{0,400}") {
            let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;");
            let xml = format!(
                "<rss version=\"2.0\"><channel><item><title>{}</title><description>{}</description></item></channel></rss>",
                esc(&title), esc(&body)
            );
            if let Ok(stories) = parse(xml.as_bytes(), None) {
                for s in stories {
                    proptest::prop_assert!(!s.title.chars().any(|c| super::sanitize::is_forbidden(c) || c == '\n'));
                    proptest::prop_assert!(!s.body.chars().any(super::sanitize::is_forbidden));
                }
            }
        }
    }

    #[test]
    fn entity_declarations_are_refused() {
        let xml = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss><channel><item><title>&a;</title></item></channel></rss>"#;
        assert!(matches!(
            parse(xml, None),
            Err(FeedError::EntityDeclaration)
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        // Truncated XML: feed-rs may recover what it can, but must not panic.
        let _ = parse(b"<rss><channel><item><title>unclosed", None);
        assert!(parse(b"\xff\xfe\x00garbage", None).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_under_any_charset_never_panic(
            // A feed's skeleton with arbitrary bytes spliced in where the declaration, the
            // dates and the text go, so the transcoding and date paths are reached too.
            decl in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            date in "\\PC{0,40}|(Mon|Thu|Xyz), [0-9]{1,3} (Jan|Oct|Foo) [0-9]{2,5} [0-9:]{5,9} [A-Z+0-9-]{0,6}",
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..120),
            bom in proptest::sample::select(vec![&b""[..], b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]),
            charset in proptest::option::of("(utf-8|iso-8859-2|koi8-r|utf-16le|utf-16be|replacement|x-bogus|\\PC{0,12})"),
        ) {
            let mut bytes = bom.to_vec();
            bytes.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"");
            bytes.extend_from_slice(&decl);
            bytes.extend_from_slice(b"\"?><rss version=\"2.0\"><channel><item><title>t</title><pubDate>");
            bytes.extend_from_slice(date.as_bytes());
            bytes.extend_from_slice(b"</pubDate><description>");
            bytes.extend_from_slice(&body);
            bytes.extend_from_slice(b"</description></item></channel></rss>");
            let _ = parse_with_charset(&bytes, Some("http://example.test/feed"), charset.as_deref());
        }
    }
}
