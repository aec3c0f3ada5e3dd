//! The types that flow between stages: parse produces [`ParsedStory`], classify adds
//! [`AutoTag`]s, the store turns them into [`Story`] rows with ids.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a story came from: a web feed or FidoNet-style echomail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoryKind {
    Feed,
    Echomail,
}

impl StoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoryKind::Feed => "feed",
            StoryKind::Echomail => "echomail",
        }
    }
}

impl FromStr for StoryKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "feed" => Ok(StoryKind::Feed),
            "echomail" => Ok(StoryKind::Echomail),
            other => Err(format!("unknown story kind {other:?}")),
        }
    }
}

/// One story as the parse stage produces it: text already sanitised, no ids yet.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedStory {
    /// Source-local identity: a feed item's guid, an echomail MSGID. `None` falls back to the link.
    pub guid: Option<String>,
    pub link: Option<String>,
    pub title: String,
    /// Plain text, paragraphs separated by blank lines, links referenced as `[n]`.
    pub body: String,
    /// The numbered links of the body, in order (`[1]` is `links[0]`).
    pub links: Vec<String>,
    pub published: Option<DateTime<Utc>>,
    pub author: Option<String>,
    pub kind: StoryKind,
    /// Echo area tag (echomail only).
    pub area: Option<String>,
    /// FTN origin address, e.g. `1337:1/100` (echomail only).
    pub origin: Option<String>,
}

/// Most characters a story's title keeps: a long headline is a few hundred; without a cap a
/// hostile feed's 10 MB title was stored whole and kept the interface busy laying it out.
pub const MAX_TITLE_CHARS: usize = 2000;
/// Most characters the other one-line fields (author, echo area, origin) keep.
pub const MAX_FIELD_CHARS: usize = 500;
/// Longest link kept. A cut URL is a wrong one, so a longer link is dropped, not cut: real
/// pages' addresses are well under 2 KB, and browsers and servers refuse far shorter ones.
pub const MAX_LINK_BYTES: usize = 8 * 1024;
/// Most links of a body kept (the reader numbers them).
pub const MAX_LINKS: usize = 500;

impl ParsedStory {
    /// The story with its one-line fields cut to [`MAX_TITLE_CHARS`] and [`MAX_FIELD_CHARS`]
    /// (see [`crate::parse::sanitize::capped`]). Every ingested story passes here, whatever
    /// it was read from. The guid is an identity, not text to show: it is left whole.
    pub fn capped(mut self) -> Self {
        use crate::parse::sanitize::capped;
        self.title = capped(self.title, MAX_TITLE_CHARS);
        for field in [&mut self.author, &mut self.area, &mut self.origin]
            .into_iter()
            .flatten()
        {
            *field = capped(std::mem::take(field), MAX_FIELD_CHARS);
        }
        if self.link.as_ref().is_some_and(|l| l.len() > MAX_LINK_BYTES) {
            self.link = None;
        }
        self.links.retain(|l| l.len() <= MAX_LINK_BYTES);
        self.links.truncate(MAX_LINKS);
        self
    }

    pub fn new(kind: StoryKind, title: impl Into<String>) -> Self {
        ParsedStory {
            guid: None,
            link: None,
            title: title.into(),
            body: String::new(),
            links: Vec::new(),
            published: None,
            author: None,
            kind,
            area: None,
            origin: None,
        }
    }
}

/// The three families of tags. Country and policy tags are written `country:CN`,
/// `policy:entity-list`; free tags are bare labels such as `brief`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagKind {
    Country,
    Policy,
    Free,
}

/// A tag in canonical form: countries upper case (`CN`, `EU`), policies and free tags lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tag {
    pub kind: TagKind,
    pub value: String,
}

impl Tag {
    pub fn country(code: &str) -> Tag {
        Tag {
            kind: TagKind::Country,
            value: code.trim().to_ascii_uppercase(),
        }
    }
    pub fn policy(id: &str) -> Tag {
        Tag {
            kind: TagKind::Policy,
            value: id.trim().to_ascii_lowercase(),
        }
    }
    pub fn free(label: &str) -> Tag {
        Tag {
            kind: TagKind::Free,
            value: label.trim().to_lowercase(),
        }
    }
}

/// Why a tag typed by someone (config, `tag`, the editor) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagInputError {
    #[error(transparent)]
    Syntax(#[from] TagParseError),
    #[error(
        "unknown country code {0:?}: use an ISO 3166-1 alpha-2 code (`country:CN`) or `country:EU`"
    )]
    UnknownCountry(String),
}

impl Tag {
    /// A tag as a person types it: the syntax of [`FromStr`], and a country must be an ISO
    /// 3166-1 alpha-2 code or `EU` (`UK`, which ISO reserves for the United Kingdom, is read
    /// as `GB`). Tags read back from the store are not held to this, so none is lost.
    pub fn from_input(text: &str) -> Result<Tag, TagInputError> {
        let mut tag: Tag = text.parse()?;
        if tag.kind == TagKind::Country {
            if tag.value == "UK" {
                tag.value = "GB".into();
            }
            if tag.value != "EU" && keshvar::Alpha2::try_from(tag.value.as_str()).is_err() {
                return Err(TagInputError::UnknownCountry(tag.value));
            }
        }
        Ok(tag)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TagKind::Country => write!(f, "country:{}", self.value),
            TagKind::Policy => write!(f, "policy:{}", self.value),
            TagKind::Free => f.write_str(&self.value),
        }
    }
}

/// Parse errors for tags: an empty label, or a character that would break queries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid tag {0:?}: tags are `country:XX`, `policy:ID` or a label of letters, digits, `-`, `_`, `.`"
)]
pub struct TagParseError(pub String);

impl FromStr for Tag {
    type Err = TagParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || TagParseError(s.to_string());
        let valid = |v: &str| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let tag = if let Some(code) = s.strip_prefix("country:") {
            if !(code.len() == 2 && code.chars().all(|c| c.is_ascii_alphabetic())) {
                return Err(bad());
            }
            Tag::country(code)
        } else if let Some(id) = s.strip_prefix("policy:") {
            Tag::policy(id)
        } else if let Some(label) = s.strip_prefix("tag:") {
            Tag::free(label)
        } else {
            Tag::free(s)
        };
        if valid(&tag.value) {
            Ok(tag)
        } else {
            Err(bad())
        }
    }
}

/// Who put a tag on a story. A manual decision (add or remove) always wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    /// From the `tags` of the source in the config.
    Source,
    /// From the tagger.
    Auto,
    /// From an analyst (`tag`, the interface).
    Manual,
}

impl Provenance {
    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::Source => "source",
            Provenance::Auto => "auto",
            Provenance::Manual => "manual",
        }
    }
}

impl FromStr for Provenance {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "source" => Ok(Provenance::Source),
            "auto" => Ok(Provenance::Auto),
            "manual" => Ok(Provenance::Manual),
            other => Err(format!("unknown provenance {other:?}")),
        }
    }
}

/// Which part of a story a piece of evidence was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextField {
    Title,
    Body,
}

/// Why the tagger put a tag on: the phrase it matched and where (byte offsets into the field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub phrase: String,
    pub field: TextField,
    pub start: usize,
    pub end: usize,
    pub weight: f32,
}

/// A tag the tagger decided on, with its score and evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoTag {
    pub tag: Tag,
    pub score: f32,
    pub evidence: Vec<Evidence>,
}

/// A count with its noun, for messages: `1 story`, `2 stories`, `0 stories`.
pub fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_links_are_dropped_not_cut() {
        let mut s = ParsedStory::new(StoryKind::Feed, "t");
        let huge = format!("https://x.test/{}", "a".repeat(300 * 1024));
        s.link = Some(huge.clone());
        s.links = vec!["https://x.test/ok".into(), huge];
        s.links
            .extend((0..1000).map(|i| format!("https://x.test/{i}")));
        let s = s.capped();
        assert_eq!(s.link, None);
        assert_eq!(s.links.len(), MAX_LINKS);
        assert_eq!(s.links[0], "https://x.test/ok");
        assert!(s.links.iter().all(|l| l.len() <= MAX_LINK_BYTES));
    }

    #[test]
    fn tags_round_trip_through_text() {
        for text in ["country:CN", "policy:entity-list", "brief"] {
            let tag: Tag = text.parse().unwrap();
            assert_eq!(tag.to_string(), text);
        }
        assert_eq!("country:cn".parse::<Tag>().unwrap(), Tag::country("CN"));
        assert_eq!("tag:Brief".parse::<Tag>().unwrap(), Tag::free("brief"));
        assert!("country:CHN".parse::<Tag>().is_err());
        assert!("".parse::<Tag>().is_err());
        assert!("two words".parse::<Tag>().is_err());
        // Input is held to real codes; the store's own tags are read back whatever they say.
        assert_eq!(Tag::from_input("country:uk").unwrap(), Tag::country("GB"));
        assert_eq!(Tag::from_input("country:EU").unwrap(), Tag::country("EU"));
        assert_eq!(Tag::from_input("country:tw").unwrap(), Tag::country("TW"));
        for bad in ["country:XX", "country:zz", "country:CHN"] {
            assert!(Tag::from_input(bad).is_err(), "{bad}");
        }
        assert!("country:XX".parse::<Tag>().is_ok());
    }
}
