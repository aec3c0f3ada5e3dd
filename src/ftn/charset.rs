//! Character sets of echomail (FTS-5003 `CHRS` identifiers) and their decoders: IBM code pages
//! through `oem_cp`, ISO/Windows/KOI8 through `encoding_rs`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use encoding_rs::Encoding;
use oem_cp::code_table as oem;

/// A character set a message can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Charset {
    Utf8,
    /// 7-bit ASCII (`ASCII 1`); bytes ≥ 0x80 are read as CP437, the usual reality.
    Ascii,
    Cp437,
    Cp850,
    Cp852,
    Cp858,
    Cp865,
    Cp866,
    /// `encoding_rs` codecs: ISO-8859-x, windows-125x, KOI8-R/U, macintosh.
    Other(&'static Encoding),
}

impl Charset {
    /// Maps a `CHRS` (or `CHARSET`/`CODEPAGE`) identifier; the level number is ignored as
    /// FTS-5003 recommends. `None` for identifiers we cannot decode.
    pub fn from_chrs(identifier: &str) -> Option<Charset> {
        let id = identifier.split_whitespace().next()?.to_ascii_uppercase();
        let cs = match id.as_str() {
            "UTF-8" | "UTF8" => Charset::Utf8,
            "ASCII" | "US-ASCII" => Charset::Ascii,
            "CP437" | "IBMPC" | "IBM437" | "437" => Charset::Cp437,
            "CP850" | "IBM850" | "850" => Charset::Cp850,
            "CP852" | "IBM852" | "852" => Charset::Cp852,
            "CP858" | "858" => Charset::Cp858,
            "CP865" | "IBM865" | "865" => Charset::Cp865,
            "CP866" | "IBM866" | "+7_FIDO" | "+7" | "866" | "CP848" => Charset::Cp866,
            "LATIN-1" | "LATIN1" | "ISO-8859-1" | "ISO8859-1" => {
                Charset::Other(encoding_rs::WINDOWS_1252)
            }
            "LATIN-2" | "LATIN2" | "ISO-8859-2" => Charset::Other(encoding_rs::ISO_8859_2),
            "LATIN-5" | "LATIN5" | "ISO-8859-9" => Charset::Other(encoding_rs::WINDOWS_1254),
            "LATIN-9" | "LATIN9" | "ISO-8859-15" => Charset::Other(encoding_rs::ISO_8859_15),
            "CP1250" => Charset::Other(encoding_rs::WINDOWS_1250),
            "CP1251" => Charset::Other(encoding_rs::WINDOWS_1251),
            "CP1252" => Charset::Other(encoding_rs::WINDOWS_1252),
            "KOI8-R" | "KOI8" => Charset::Other(encoding_rs::KOI8_R),
            "KOI8-U" => Charset::Other(encoding_rs::KOI8_U),
            "CP10000" | "MAC" => Charset::Other(encoding_rs::MACINTOSH),
            _ => return None,
        };
        Some(cs)
    }

    /// The `CHRS` value a writer puts in a message (identifier and level).
    pub fn chrs_kludge(&self) -> String {
        match self {
            Charset::Utf8 => "UTF-8 4".into(),
            Charset::Ascii => "ASCII 1".into(),
            other => format!("{other} 2"),
        }
    }

    /// True where byte 0x8D is FTS-0001's "soft CR" (a wrap hint to drop) rather than a
    /// letter: the Western code pages and ISO-8859-1, where it is unused or rare. In CP866
    /// it is Cyrillic `Н`, in UTF-8 a continuation byte, so it must stay there.
    pub fn has_soft_cr(&self) -> bool {
        match self {
            Charset::Ascii | Charset::Cp437 | Charset::Cp850 | Charset::Cp858 | Charset::Cp865 => {
                true
            }
            Charset::Other(e) => *e == encoding_rs::WINDOWS_1252 || *e == encoding_rs::ISO_8859_15,
            Charset::Utf8 | Charset::Cp852 | Charset::Cp866 => false,
        }
    }

    /// Like [`Charset::decode`], but borrows when the bytes are ASCII (or valid UTF-8 for UTF-8).
    pub fn decode_cow<'b>(&self, bytes: &'b [u8]) -> Cow<'b, str> {
        if let Ok(s) = std::str::from_utf8(bytes)
            && (*self == Charset::Utf8 || s.is_ascii())
        {
            return Cow::Borrowed(s);
        }
        if *self == Charset::Utf8 {
            return String::from_utf8_lossy(bytes);
        }
        Cow::Owned(self.decode(bytes))
    }

    /// Decodes bytes; never fails (undecodable bytes become U+FFFD).
    pub fn decode(&self, bytes: &[u8]) -> String {
        // Pure ASCII is the same in every supported charset: skip the table walk.
        if bytes.is_ascii() {
            return String::from_utf8_lossy(bytes).into_owned();
        }
        match self {
            Charset::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Charset::Ascii | Charset::Cp437 => decode_table(bytes, &oem::DECODING_TABLE_CP437),
            Charset::Cp850 => decode_table(bytes, &oem::DECODING_TABLE_CP850),
            Charset::Cp852 => decode_table(bytes, &oem::DECODING_TABLE_CP852),
            Charset::Cp858 => decode_table(bytes, &oem::DECODING_TABLE_CP858),
            Charset::Cp865 => decode_table(bytes, &oem::DECODING_TABLE_CP865),
            Charset::Cp866 => decode_table(bytes, &oem::DECODING_TABLE_CP866),
            Charset::Other(e) => e.decode_without_bom_handling(bytes).0.into_owned(),
        }
    }
}

/// Table decoding for the IBM code pages, copying ASCII runs whole (most of any message is
/// ASCII, and per-character pushes were the cost of reading CP437 echoes).
fn decode_table(bytes: &[u8], table: &[char; 128]) -> String {
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 4);
    let mut rest = bytes;
    while !rest.is_empty() {
        let run = rest.iter().position(|b| *b >= 0x80).unwrap_or(rest.len());
        let (ascii, tail) = rest.split_at(run);
        // An ASCII run is valid UTF-8 by construction.
        out.push_str(std::str::from_utf8(ascii).unwrap_or_default());
        let high = tail.iter().position(|b| *b < 0x80).unwrap_or(tail.len());
        let (upper, next) = tail.split_at(high);
        for b in upper {
            out.push(
                table
                    .get(usize::from(b & 0x7F))
                    .copied()
                    .unwrap_or('\u{FFFD}'),
            );
        }
        rest = next;
    }
    out
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Charset::Utf8 => "UTF-8",
            Charset::Ascii => "ASCII",
            Charset::Cp437 => "CP437",
            Charset::Cp850 => "CP850",
            Charset::Cp852 => "CP852",
            Charset::Cp858 => "CP858",
            Charset::Cp865 => "CP865",
            Charset::Cp866 => "CP866",
            Charset::Other(e) => {
                let n = e.name();
                return match n {
                    "windows-1252" => f.write_str("LATIN-1"),
                    "ISO-8859-2" => f.write_str("LATIN-2"),
                    "windows-1254" => f.write_str("LATIN-5"),
                    "ISO-8859-15" => f.write_str("LATIN-9"),
                    "windows-1250" => f.write_str("CP1250"),
                    "windows-1251" => f.write_str("CP1251"),
                    "macintosh" => f.write_str("CP10000"),
                    other => f.write_str(other),
                };
            }
        };
        f.write_str(name)
    }
}

/// An unknown charset name in configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown FTN charset {0:?} (try UTF-8, CP437, CP850, CP866, LATIN-1, KOI8-R …)")]
pub struct UnknownCharset(pub String);

impl FromStr for Charset {
    type Err = UnknownCharset;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Charset::from_chrs(s).ok_or_else(|| UnknownCharset(s.to_string()))
    }
}

/// The charset assumed for messages without a `CHRS` kludge: one default plus per-area
/// overrides (area tags compared case-insensitively). CP437 when nothing is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charsets {
    pub default: Charset,
    per_area: HashMap<String, Charset>,
}

impl Default for Charsets {
    fn default() -> Self {
        Charsets {
            default: Charset::Cp437,
            per_area: HashMap::new(),
        }
    }
}

impl Charsets {
    /// The settings as one stable string (areas sorted), to tell when they changed.
    pub fn describe(&self) -> String {
        let mut areas: Vec<_> = self.per_area.iter().collect();
        areas.sort_by(|a, b| a.0.cmp(b.0));
        format!("{:?} {areas:?}", self.default)
    }

    pub fn new(default: Charset) -> Self {
        Charsets {
            default,
            per_area: HashMap::new(),
        }
    }

    /// Sets the default for one echo area.
    pub fn with_area(mut self, area: &str, charset: Charset) -> Self {
        self.per_area.insert(area.to_ascii_uppercase(), charset);
        self
    }

    /// The default for `area` (or the global default for netmail / unknown areas).
    pub fn for_area(&self, area: Option<&str>) -> Charset {
        area.and_then(|a| self.per_area.get(&a.to_ascii_uppercase()).copied())
            .unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrs_names() {
        assert_eq!(Charset::from_chrs("UTF-8 4"), Some(Charset::Utf8));
        assert_eq!(Charset::from_chrs("utf-8 2"), Some(Charset::Utf8));
        assert_eq!(Charset::from_chrs("+7_FIDO 2"), Some(Charset::Cp866));
        assert_eq!(Charset::from_chrs("KLINGON 2"), None);
        assert_eq!(Charset::Cp866.decode(&[0x8D, 0xAE]), "Но");
        assert_eq!(Charset::Cp437.decode(&[0x82]), "é");
        assert_eq!(Charset::from_chrs("LATIN-1").unwrap().decode(&[0xE9]), "é");
        assert_eq!(
            Charset::from_chrs("LATIN-1").unwrap().chrs_kludge(),
            "LATIN-1 2"
        );
        assert_eq!(Charset::Cp437.chrs_kludge(), "CP437 2");
        let cs = Charsets::default().with_area("ru.news", Charset::Cp866);
        assert_eq!(cs.for_area(Some("RU.NEWS")), Charset::Cp866);
        assert_eq!(cs.for_area(None), Charset::Cp437);
    }
}
