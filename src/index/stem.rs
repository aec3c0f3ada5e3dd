//! The English analyzer, fused and memoised.
//!
//! tantivy's `en_stem` is a chain (SimpleTokenizer → RemoveLongFilter(40) → LowerCaser →
//! Stemmer(English)) that copies each token at every stage and runs the Porter2 stemmer on
//! every token, allocating as it goes. News text repeats a small vocabulary, so one pass that
//! splits and lower-cases into a reused buffer and remembers each word's stem does the same
//! work for much less (stemming alone was 14 % of a cold sync's CPU). The output is exactly
//! the stock analyzer's (a property test checks it), so it is registered under the same name
//! and an existing index needs no rebuild.

use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::FxHashMap;
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};

/// Words stemmed before the memo is emptied: bounds its memory on unusual text (a few MB).
const MEMO_LIMIT: usize = 50_000;

/// Tokens of this many bytes or more are dropped, as `RemoveLongFilter::limit(40)` does.
const LONG_TOKEN: usize = 40;

/// The `en_stem` analyzer: split, drop long tokens, lower-case and stem in one pass.
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

/// The non-ASCII character at byte `i`, if it is alphanumeric (what splits tokens in
/// tantivy's `SimpleTokenizer`), and its length.
fn non_ascii_at(text: &str, i: usize) -> (bool, usize) {
    text.get(i..)
        .and_then(|r| r.chars().next())
        .map_or((false, 1), |c| (c.is_alphanumeric(), c.len_utf8()))
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

impl EnglishTokenStream<'_> {
    /// The next run of alphanumeric characters, as byte offsets, and whether it is all ASCII.
    /// ASCII bytes are classified by a table, without decoding: news text is nearly all ASCII.
    fn next_word(&mut self) -> Option<(usize, usize, bool)> {
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
                (true, _) => break,
                (false, len) => i += len,
            }
        }
        let start = i;
        let mut ascii = true;
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
                (true, len) => {
                    ascii = false;
                    i += len;
                }
                (false, _) => break,
            }
        }
        self.at = i;
        Some((start, i, ascii))
    }
}

impl TokenStream for EnglishTokenStream<'_> {
    fn advance(&mut self) -> bool {
        loop {
            let Some((start, end, ascii)) = self.next_word() else {
                return false;
            };
            // Every word takes a position, even one dropped as too long (as in the chain).
            self.token.position = self.token.position.wrapping_add(1);
            if end - start >= LONG_TOKEN {
                continue;
            }
            let word = self.text.get(start..end).unwrap_or_default();
            // Lower-cased straight into the token, which then becomes its stem: most English
            // stems are a prefix of the word ("exports" → "export"), a truncation.
            let text = &mut self.token.text;
            text.clear();
            if ascii {
                text.push_str(word);
                text.make_ascii_lowercase();
            } else {
                // As tantivy's LowerCaser: per character, no final-sigma rule.
                for c in word.chars() {
                    text.extend(c.to_lowercase());
                }
            }
            self.token.offset_from = start;
            self.token.offset_to = end;
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

    fn terms(a: &mut TextAnalyzer, text: &str) -> Vec<(String, usize, usize, usize)> {
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

    proptest::proptest! {
        #[test]
        fn any_text_gives_the_stock_tokens(texts in proptest::collection::vec(
            // Arbitrary text, and text of a few repeated words (the memo's hits), among them
            // words at the length limit and words whose length changes when lower-cased.
            "\\PC{0,80}|((Export|exports|exporting|chips|CHIP|Été|半导体|İSTANBUL|ΣΊΣΥΦΟΣ|x{39}|x{40}|x{41})[ ,.-]){0,20}",
            1..4,
        )) {
            // One memo across several texts, as an indexing thread uses it.
            let mut memo = english_analyzer();
            for text in &texts {
                proptest::prop_assert_eq!(terms(&mut memo, text), terms(&mut stock(), text));
            }
        }
    }

    #[test]
    fn same_tokens_as_the_stock_english_analyzer() {
        let text = "Restricting exports: the Commerce Department restricts restricted chips, \
                    and exporters' licences — Ünïcode wörds, CJK 半导体, and a \
                    supercalifragilisticexpialidociousandthensomemorelettershere word. \
                    Restricting again.";
        let expected = terms(&mut stock(), text);
        let mut memo = english_analyzer();
        // Twice through one analyzer: the second pass is served from the memo.
        assert_eq!(terms(&mut memo, text), expected);
        assert_eq!(terms(&mut memo, text), expected);
    }
}
