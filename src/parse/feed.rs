//! RSS 0.9x/1.0/2.0, Atom and JSON Feed (feed-rs) → [`ParsedStory`].

use feed_rs::model::{Entry, Text};

use super::{html, sanitize};
use crate::model::{ParsedStory, StoryKind};

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("not a feed: {0}")]
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
    // Entity declarations are how "billion laughs" and external-entity tricks start; no
    // legitimate feed needs them.
    if memfind(bytes, b"<!ENTITY") {
        return Err(FeedError::EntityDeclaration);
    }
    let transcoded = undeclared_legacy_text(bytes);
    let bytes = transcoded.as_deref().unwrap_or(bytes);
    let parser = feed_rs::parser::Builder::new().base_uri(base).build();
    let feed = parser
        .parse(bytes)
        .map_err(|e| FeedError::Parse(e.to_string()))?;
    let base_url = base.and_then(|b| url::Url::parse(b).ok());
    Ok(feed
        .entries
        .into_iter()
        .map(|e| story_of(e, base_url.as_ref()))
        .collect())
}

/// An XML feed that is not UTF-8 and does not say what it is (no `encoding` in an XML
/// declaration) is, by the XML rules, broken; in practice it is almost always Latin-1 or
/// Windows-1252 from an old CMS. Read it as Windows-1252 (a superset of Latin-1's printable
/// characters) rather than refusing it. A feed that declares its encoding is left to feed-rs.
fn undeclared_legacy_text(bytes: &[u8]) -> Option<Vec<u8>> {
    if std::str::from_utf8(bytes).is_ok() {
        return None;
    }
    let head = &bytes[..bytes.len().min(256)];
    let declared = head.starts_with(b"<?xml")
        && head
            .split(|&b| b == b'>')
            .next()
            .is_some_and(|decl| memfind(decl, b"encoding"));
    if declared
        || head.starts_with(b"\xef\xbb\xbf")
        || head.starts_with(&[0xfe, 0xff])
        || head.starts_with(&[0xff, 0xfe])
    {
        return None;
    }
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
    Some(text.into_owned().into_bytes())
}

fn memfind(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn story_of(entry: Entry, base: Option<&url::Url>) -> ParsedStory {
    let link = pick_link(&entry, base);
    let item_base = link.as_deref().and_then(|l| url::Url::parse(l).ok());
    let base = item_base.as_ref().or(base);

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
fn pick_link(entry: &Entry, base: Option<&url::Url>) -> Option<String> {
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
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
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
}
