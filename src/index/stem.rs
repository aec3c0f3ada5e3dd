//! The English analyzer, fused and memoised, with Chinese and Japanese characters searchable.
//!
//! tantivy's `en_stem` is a chain (SimpleTokenizer → RemoveLongFilter(40) → LowerCaser →
//! Stemmer(English)) that copies each token at every stage and runs the Porter2 stemmer on
//! every token, allocating as it goes. News text repeats a small vocabulary, so one pass that
//! splits and lower-cases into a reused buffer and remembers each word's stem does the same
//! work for much less (stemming alone was 14 % of a cold sync's CPU). On text without Han,
//! Hiragana or Katakana the output is exactly the stock analyzer's (a property test checks it).
//!
//! Chinese and Japanese are written without spaces, so the stock chain made a whole run of
//! them one token (`对镓、锗相关物项实施出口管制` found only by its first clause, whole). Here
//! each Han, Hiragana or Katakana character is a token of its own, with its own position, as
//! Lucene's StandardTokenizer does for ideographs: a query word of several such characters
//! becomes a phrase of consecutive characters, which is a substring match (`出口管制`), and a
//! single character (`镓`) is a plain term. Overlapping bigrams (Lucene's CJKAnalyzer) rank
//! slightly better on long Chinese text but cannot find a one-character word without prefix
//! queries over the bigrams; unigrams keep single characters, as-you-type prefixes and
//! snippets simple, and the term dictionary small. Hangul is written with spaces and stays in
//! words.

use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::FxHashMap;
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};

/// Words stemmed before the memo is emptied: bounds its memory on unusual text (a few MB).
const MEMO_LIMIT: usize = 50_000;

/// Tokens of this many bytes or more are dropped, as `RemoveLongFilter::limit(40)` does.
const LONG_TOKEN: usize = 40;

/// The analyzer of title and body: split, drop long tokens, lower-case and stem in one pass;
/// Han, Hiragana and Katakana one character a token.
pub fn english_analyzer() -> TextAnalyzer {
    TextAnalyzer::from(EnglishTokenizer::default())
}

/// The four stages of the stock chain fused: each token is found, lower-cased and looked up
/// in the memo without the per-stage copies and per-character decoding of the chain (which
/// was a third of the indexing thread's instructions).
///
/// Each indexing thread clones the analyzer per field, so each clone has its own memo and no
/// lock is ever taken.
#[derive(Clone, Default)]
struct EnglishTokenizer {
    token: Token,
    memo: FxHashMap<String, Stem>,
}

impl Tokenizer for EnglishTokenizer {
    type TokenStream<'a> = EnglishTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        if self.memo.len() > MEMO_LIMIT {
            self.memo.clear();
        }
        self.token.reset();
        EnglishTokenStream {
            text,
            at: 0,
            token: &mut self.token,
            memo: &mut self.memo,
        }
    }
}

struct EnglishTokenStream<'a> {
    text: &'a str,
    /// Byte offset where the search for the next token starts.
    at: usize,
    token: &'a mut Token,
    memo: &'a mut FxHashMap<String, Stem>,
}

/// What a non-ASCII character is to the tokenizer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Char {
    /// Not alphanumeric: splits words, as in tantivy's `SimpleTokenizer`.
    Separator,
    /// Part of a word.
    Word,
    /// Han, Hiragana or Katakana: a token of its own.
    Cjk,
}

/// The non-ASCII character at byte `i`, and its length.
fn non_ascii_at(text: &str, i: usize) -> (Char, usize) {
    text.get(i..)
        .and_then(|r| r.chars().next())
        .map_or((Char::Separator, 1), |c| {
            let class = if !c.is_alphanumeric() {
                Char::Separator
            } else if is_cjk(c) {
                Char::Cjk
            } else {
                Char::Word
            };
            (class, c.len_utf8())
        })
}

/// Han ideographs (with 々 〆 〇), Hiragana and Katakana (full and half width, with ー):
/// the scripts written without spaces between words. Only asked of alphanumeric characters.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3005..=0x3007        // 々 〆 〇
        | 0x3021..=0x3029      // Suzhou numerals
        | 0x3038..=0x303B      // more Han numerals, 〻
        | 0x3040..=0x30FF      // Hiragana, Katakana
        | 0x31F0..=0x31FF      // Katakana phonetic extensions
        | 0x3400..=0x4DBF      // CJK extension A
        | 0x4E00..=0x9FFF      // CJK unified ideographs
        | 0xF900..=0xFAFF      // CJK compatibility ideographs
        | 0xFF66..=0xFF9F      // half-width Katakana
        | 0x1B000..=0x1B16F    // Kana supplement and extended
        | 0x20000..=0x3FFFF    // extensions B to I, compatibility supplement
    )
}

/// A word's stem, as remembered.
#[derive(Clone)]
enum Stem {
    /// The first this many bytes of the (lower-cased) word.
    Prefix(usize),
    Other(String),
}

/// Byte classes for the scan: an ASCII separator, an ASCII letter or digit, or a byte of a
/// non-ASCII character (decoded to decide).
const SEPARATOR: u8 = 0;
const ALNUM: u8 = 1;
const NON_ASCII: u8 = 2;
static CLASS: [u8; 256] = {
    let mut t = [NON_ASCII; 256];
    let mut b = 0;
    while b < 128 {
        t[b] = if (b as u8).is_ascii_alphanumeric() {
            ALNUM
        } else {
            SEPARATOR
        };
        b += 1;
    }
    t
};

/// What a token found by [`EnglishTokenStream::next_word`] is made of.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Ascii,
    /// Some non-ASCII letters or digits (lower-cased per character).
    Unicode,
    /// One Han, Hiragana or Katakana character (neither lower-cased nor stemmed).
    Cjk,
}

impl EnglishTokenStream<'_> {
    /// The next token, as byte offsets: a run of alphanumeric characters, or one Han, Hiragana
    /// or Katakana character. ASCII bytes are classified by a table, without decoding: news
    /// text is nearly all ASCII, and only non-ASCII characters are looked at more closely.
    fn next_word(&mut self) -> Option<(usize, usize, Word)> {
        let bytes = self.text.as_bytes();
        let mut i = self.at;
        loop {
            i += bytes
                .get(i..)?
                .iter()
                .position(|&b| CLASS[b as usize] != SEPARATOR)?;
            if CLASS[bytes[i] as usize] == ALNUM {
                break;
            }
            match non_ascii_at(self.text, i) {
                (Char::Word, _) => break,
                (Char::Cjk, len) => {
                    self.at = i + len;
                    return Some((i, i + len, Word::Cjk));
                }
                (Char::Separator, len) => i += len,
            }
        }
        let start = i;
        let mut kind = Word::Ascii;
        loop {
            let rest = bytes.get(i..).unwrap_or_default();
            i += rest
                .iter()
                .position(|&b| CLASS[b as usize] != ALNUM)
                .unwrap_or(rest.len());
            if bytes.get(i).is_none_or(|&b| CLASS[b as usize] == SEPARATOR) {
                break;
            }
            match non_ascii_at(self.text, i) {
                (Char::Word, len) => {
                    kind = Word::Unicode;
                    i += len;
                }
                // A Han or Kana character ends the word (`AI芯片` is `ai`, `芯`, `片`).
                (Char::Cjk | Char::Separator, _) => break,
            }
        }
        self.at = i;
        Some((start, i, kind))
    }
}

impl TokenStream for EnglishTokenStream<'_> {
    fn advance(&mut self) -> bool {
        loop {
            let Some((start, end, kind)) = self.next_word() else {
                return false;
            };
            // Every word takes a position, even one dropped as too long (as in the chain).
            self.token.position = self.token.position.wrapping_add(1);
            if end - start >= LONG_TOKEN {
                continue;
            }
            let word = self.text.get(start..end).unwrap_or_default();
            self.token.offset_from = start;
            self.token.offset_to = end;
            // Lower-cased straight into the token, which then becomes its stem: most English
            // stems are a prefix of the word ("exports" → "export"), a truncation.
            let text = &mut self.token.text;
            text.clear();
            match kind {
                Word::Ascii => {
                    text.push_str(word);
                    text.make_ascii_lowercase();
                }
                // As tantivy's LowerCaser: per character, no final-sigma rule.
                Word::Unicode => {
                    for c in word.chars() {
                        text.extend(c.to_lowercase());
                    }
                }
                // Han and Kana have no case, and English stemming has nothing to take off.
                Word::Cjk => {
                    text.push_str(word);
                    return true;
                }
            }
            let stem = match self.memo.get(text.as_str()) {
                Some(stem) => stem,
                None => {
                    let stem = Stemmer::create(Algorithm::English).stem(text);
                    let stem = if text.starts_with(stem.as_ref()) {
                        Stem::Prefix(stem.len())
                    } else {
                        Stem::Other(stem.into_owned())
                    };
                    self.memo.entry(text.clone()).or_insert(stem)
                }
            };
            match stem {
                Stem::Prefix(len) => text.truncate(*len),
                Stem::Other(other) => {
                    text.clear();
                    text.push_str(other);
                }
            }
            return true;
        }
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer};

    type Terms = Vec<(String, usize, usize, usize)>;

    fn terms(a: &mut TextAnalyzer, text: &str) -> Terms {
        let mut out = Vec::new();
        let mut stream = a.token_stream(text);
        while stream.advance() {
            let t = stream.token();
            out.push((t.text.clone(), t.position, t.offset_from, t.offset_to));
        }
        out
    }

    fn stock() -> TextAnalyzer {
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(tantivy::tokenizer::Stemmer::new(
                tantivy::tokenizer::Language::English,
            ))
            .build()
    }

    /// What the analyzer should give, written the plain way: spans of alphanumeric characters
    /// where each Han or Kana character is a span of its own, each span taking a position and
    /// going through the stock analyzer alone.
    fn reference(text: &str) -> Terms {
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut word: Option<usize> = None;
        for (i, c) in text.char_indices() {
            let cjk = c.is_alphanumeric() && is_cjk(c);
            if !c.is_alphanumeric() || cjk {
                if let Some(start) = word.take() {
                    spans.push((start, i));
                }
                if cjk {
                    spans.push((i, i + c.len_utf8()));
                }
            } else if word.is_none() {
                word = Some(i);
            }
        }
        if let Some(start) = word {
            spans.push((start, text.len()));
        }
        let mut out = Vec::new();
        for (position, (from, to)) in spans.into_iter().enumerate() {
            for (term, ..) in terms(&mut stock(), &text[from..to]) {
                out.push((term, position, from, to));
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn text_without_han_or_kana_gives_the_stock_tokens(texts in proptest::collection::vec(
            // Arbitrary text, and text of a few repeated words (the memo's hits), among them
            // words at the length limit and words whose length changes when lower-cased.
            "\\PC{0,80}|((Export|exports|exporting|chips|CHIP|Été|İSTANBUL|ΣΊΣΥΦΟΣ|수출|x{39}|x{40}|x{41})[ ,.-]){0,20}",
            1..4,
        )) {
            // One memo across several texts, as an indexing thread uses it.
            let mut memo = english_analyzer();
            for text in &texts {
                let text: String = text.chars().filter(|&c| !is_cjk(c)).collect();
                proptest::prop_assert_eq!(terms(&mut memo, &text), terms(&mut stock(), &text));
            }
        }

        #[test]
        fn any_text_gives_the_reference_tokens(texts in proptest::collection::vec(
            "\\PC{0,80}|((Export|exports|AI|芯片|半导体|出口管制|輸出管理|を|ソフトウェア|ｶﾀｶﾅ|々|𠮷|Été|수출|x{40})[ ,.、。-]?){0,20}",
            1..4,
        )) {
            let mut memo = english_analyzer();
            for text in &texts {
                proptest::prop_assert_eq!(terms(&mut memo, text), reference(text));
            }
        }
    }

    #[test]
    fn same_tokens_as_the_stock_english_analyzer() {
        let text = "Restricting exports: the Commerce Department restricts restricted chips, \
                    and exporters' licences — Ünïcode wörds, Korean 반도체 수출, and a \
                    supercalifragilisticexpialidociousandthensomemorelettershere word. \
                    Restricting again.";
        let expected = terms(&mut stock(), text);
        let mut memo = english_analyzer();
        // Twice through one analyzer: the second pass is served from the memo.
        assert_eq!(terms(&mut memo, text), expected);
        assert_eq!(terms(&mut memo, text), expected);
    }

    #[test]
    fn han_and_kana_are_one_token_a_character() {
        let texts = |text: &str| -> Vec<(String, usize)> {
            terms(&mut english_analyzer(), text)
                .into_iter()
                .map(|(t, position, ..)| (t, position))
                .collect()
        };
        let owned = |v: &[(&str, usize)]| -> Vec<(String, usize)> {
            v.iter().map(|(t, p)| (t.to_string(), *p)).collect()
        };
        // Chinese between punctuation, Latin glued to Han, Japanese kanji and kana.
        assert_eq!(
            texts("对镓、锗实施出口管制"),
            owned(&[
                ("对", 0),
                ("镓", 1),
                ("锗", 2),
                ("实", 3),
                ("施", 4),
                ("出", 5),
                ("口", 6),
                ("管", 7),
                ("制", 8)
            ])
        );
        assert_eq!(
            texts("Exports of AI芯片 rose"),
            owned(&[
                ("export", 0),
                ("of", 1),
                ("ai", 2),
                ("芯", 3),
                ("片", 4),
                ("rose", 5)
            ])
        );
        assert_eq!(
            texts("輸出管理のソフトウェア"),
            owned(&[
                ("輸", 0),
                ("出", 1),
                ("管", 2),
                ("理", 3),
                ("の", 4),
                ("ソ", 5),
                ("フ", 6),
                ("ト", 7),
                ("ウ", 8),
                ("ェ", 9),
                ("ア", 10)
            ])
        );
        // Offsets are each character's bytes, for snippets.
        let offsets: Vec<(usize, usize)> = terms(&mut english_analyzer(), "a镓b")
            .into_iter()
            .map(|(_, _, from, to)| (from, to))
            .collect();
        assert_eq!(offsets, vec![(0, 1), (1, 4), (4, 5)]);
        // Korean is written with spaces: its words stay whole.
        assert_eq!(texts("반도체 수출"), owned(&[("반도체", 0), ("수출", 1)]));
    }
}
