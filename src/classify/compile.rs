//! Turn merged rule files (plus keshvar's names and demonyms) into one ASCII-case-insensitive
//! aho-corasick automaton with leftmost-longest matching, so "Papua New Guinea" beats "Guinea"
//! and a stop-phrase such as "South China Sea" swallows "China". Phrases with an acronym in them
//! ("US", "BIS", "AI Act") are case-sensitive: the scanner compares the matched bytes with the
//! pattern, which costs nothing on the many matches that are not acronyms and saves a second
//! pass over the text.

use std::collections::{BTreeMap, HashMap, HashSet};

use aho_corasick::MatchKind;
use aho_corasick::nfa::contiguous;

use super::ClassifyError;
use super::rules::{RulesFile, Weights};
use super::text::{self, is_cjk, is_word_char};

/// How a country is mentioned; decides the weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mention {
    Name,
    Demonym,
    Metonym,
    Agency,
    Company,
    Place,
    City,
    Media,
}

impl Mention {
    pub fn parse(kind: &str) -> Mention {
        match kind {
            "demonym" => Mention::Demonym,
            "metonym" => Mention::Metonym,
            "agency" => Mention::Agency,
            "company" => Mention::Company,
            "place" => Mention::Place,
            "city" => Mention::City,
            "media" => Mention::Media,
            _ => Mention::Name,
        }
    }

    pub fn weight(self, w: &Weights) -> f32 {
        match self {
            Mention::Name => w.name,
            Mention::Demonym => w.demonym,
            Mention::Metonym => w.metonym,
            Mention::Agency => w.agency,
            Mention::Company => w.company,
            Mention::Place => w.place,
            Mention::City => w.city,
            Mention::Media => w.media,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strength {
    Strong,
    /// Strong weight, needs an anchor.
    Anchored,
    Weak,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ActionKind {
    Country {
        id: u16,
        mention: Mention,
        anchored: bool,
    },
    Ambiguous(u16),
    Policy {
        id: u16,
        trigger: u32,
        strength: Strength,
    },
    Anchor(u8),
    Context {
        amb: u16,
        option: u8,
    },
    Veto(u16),
    /// A cue that the term of this other-meaning rule means something else in this story.
    OtherMeaning(u16),
    Stop,
}

impl ActionKind {
    /// Family used to decide which inner matches a longer pattern inherits.
    fn family(self) -> u8 {
        match self {
            ActionKind::Country { .. } | ActionKind::Ambiguous(_) => 0,
            ActionKind::Policy { .. } => 1,
            ActionKind::Anchor(_) => 2,
            ActionKind::Context { .. } | ActionKind::Veto(_) | ActionKind::OtherMeaning(_) => 3,
            ActionKind::Stop => 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Action {
    pub kind: ActionKind,
    /// The match must start with an upper-case letter (proper nouns: "China", not "china").
    pub needs_cap: bool,
    /// The match must not start with an upper-case letter: the lower-case reading of a phrase
    /// whose capitalised form says more ("entity list" beside the strong "Entity List").
    pub lower_only: bool,
    /// For an action inherited from a shorter pattern inside this one: its byte span within
    /// the match.
    pub sub: Option<(u16, u16)>,
    /// Inherited from a case-sensitive pattern (this index) inside a case-insensitive one: the
    /// span must still match that pattern's case.
    pub exact_of: Option<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// Normalised text as matched.
    pub text: String,
    /// No word-boundary check (CJK).
    pub cjk: bool,
    /// Skip the boundary check after the match ("Sino-").
    pub open_end: bool,
    /// A single case-sensitive token without dots ("US", "EAR"): not trusted in ALL-CAPS lines.
    pub bare_acronym: bool,
    /// Case-sensitive: the matched bytes must equal `text` exactly.
    pub exact: bool,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone)]
pub(crate) struct AmbiguousRule {
    pub given_name: bool,
    pub start_needs_context: bool,
    pub fallback: Option<(u16, Mention)>,
    pub options: Vec<(u16, Mention)>,
}

/// Patterns that share one automaton entry (same text up to ASCII case: "Us", "US").
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    /// Range in [`Compiled::members`].
    pub first: u32,
    pub len: u32,
    /// Some case-sensitive member could fail and a shorter pattern is a prefix of this one:
    /// the scanner then retries for that shorter match at the same place.
    pub retry_prefix: bool,
    /// Range in [`Compiled::overlap_starts`]: where inside this slot's text another pattern
    /// could start and run past its end.
    pub overlap_len: u16,
    pub overlap_first: u32,
}

/// Everything the scanner needs; built once.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub countries: Vec<String>,
    pub policies: Vec<String>,
    pub patterns: Vec<Pattern>,
    /// One automaton over every pattern, ASCII-case-insensitive; its pattern ids are slots.
    pub automaton: contiguous::NFA,
    /// Bytes that leave the automaton's anchored start state: where a pattern can begin.
    pub first_bytes: [bool; 256],
    /// Per automaton pattern: the patterns sharing that text up to ASCII case.
    pub slots: Vec<Slot>,
    /// The pattern indexes of all slots, each slot's run contiguous.
    pub members: Vec<u32>,
    /// Byte offsets into slot texts, ascending per slot (see [`Slot::overlap_first`]).
    pub overlap_starts: Vec<u16>,
    /// Per policy: bit mask of the anchor sets that count for it.
    pub policy_anchors: Vec<u64>,
    /// Per policy: weak triggers needed to agree (0 = never).
    pub policy_agree: Vec<u32>,
    /// Per policy: the policies it yields to.
    pub policy_yields: Vec<Vec<u16>>,
    /// Sorted, lower case.
    pub negation_words: WordSet,
    /// Per trigger: its own anchor sets (`weak_with`, `anchored_with`), 0 for the policy's.
    pub trigger_anchors: Vec<u64>,
    /// Per trigger: the anchor sets near which a weak trigger weighs as a strong one
    /// (`strong_with`), 0 for none.
    pub trigger_promote: Vec<u64>,
    /// Bit of the `tech` anchor set (anchored agencies use it).
    pub tech_mask: u64,
    pub ambiguous: Vec<AmbiguousRule>,
    /// Per other-meaning rule: its term, as written (see [`Compiled::is_term`]).
    pub other_meanings: Vec<String>,
    pub weights: Weights,
    /// Sorted, lower case.
    pub venue_words: WordSet,
    /// Sorted, lower case.
    pub comparison_words: WordSet,
    /// Sorted, lower case.
    pub firm_nouns: WordSet,
    /// Sorted, lower case.
    pub firm_modifiers: WordSet,
    /// Sorted, lower case.
    pub state_nouns: WordSet,
    /// Sorted, lower case.
    pub state_modifiers: WordSet,
}

impl Compiled {
    /// Where, inside a match of `slot`, an overlapping match could start.
    pub fn overlap_offsets(&self, slot: &Slot) -> &[u16] {
        let first = slot.overlap_first as usize;
        self.overlap_starts
            .get(first..first + usize::from(slot.overlap_len))
            .unwrap_or_default()
    }

    /// Whether `matched` (a trigger's text as found) is the term of other-meaning rule `k`,
    /// or its plural: exactly for an acronym ("SMEs" for `SME`), in any case otherwise.
    pub fn is_term(&self, k: u16, matched: &str) -> bool {
        let Some(term) = self.other_meanings.get(k as usize) else {
            return false;
        };
        let one = matched.strip_suffix('s').unwrap_or(matched);
        if is_case_sensitive(term) {
            matched == term || one == term
        } else {
            matched.eq_ignore_ascii_case(term) || one.eq_ignore_ascii_case(term)
        }
    }
}

/// A small set of lower-case words (negations, venue words, firm nouns) looked up around
/// mentions. Most looked-up words are not in it; a first-byte and length filter rejects them
/// before the binary search.
#[derive(Debug, Default)]
pub(crate) struct WordSet {
    /// Sorted.
    words: Vec<String>,
    /// Bit per first byte of a word.
    first: [u64; 4],
    /// Bit per byte length of a word (63 = longer).
    lens: u64,
}

impl WordSet {
    fn new(set: HashSet<String>) -> WordSet {
        let mut words: Vec<String> = set.into_iter().collect();
        words.sort();
        let (mut first, mut lens) = ([0u64; 4], 0u64);
        for w in &words {
            let b = w.as_bytes().first().copied().unwrap_or(0);
            if let Some(f) = first.get_mut(usize::from(b >> 6)) {
                *f |= 1 << (b & 63);
            }
            lens |= 1 << w.len().min(63);
        }
        WordSet { words, first, lens }
    }

    /// Case-insensitive (ASCII) membership, without allocating for ASCII words.
    pub fn contains(&self, word: &str) -> bool {
        let b = word
            .as_bytes()
            .first()
            .copied()
            .unwrap_or(0)
            .to_ascii_lowercase();
        let first = self
            .first
            .get(usize::from(b >> 6))
            .is_some_and(|f| f & (1 << (b & 63)) != 0);
        if !first || self.lens & (1 << word.len().min(63)) == 0 {
            return false;
        }
        let lower = word.bytes().map(|b| b.to_ascii_lowercase());
        self.words
            .binary_search_by(|probe| probe.bytes().cmp(lower.clone()))
            .is_ok()
    }
}

/// A phrase with an acronym in it (two upper-case ASCII letters in a row) matches exactly.
fn is_case_sensitive(p: &str) -> bool {
    let b = p.as_bytes();
    b.windows(2).any(|w| w.iter().all(u8::is_ascii_uppercase))
}

/// Splits `a|b|c` into variants of one trigger.
fn variants(entry: &str) -> impl Iterator<Item = &str> {
    entry.split('|').map(str::trim).filter(|s| !s.is_empty())
}

/// Extra spellings of a policy trigger or anchor: hyphen/space swaps and a plural.
fn spellings(v: &str) -> Vec<String> {
    let mut out = vec![v.to_string()];
    if v.contains('-') {
        out.push(v.replace('-', " "));
    }
    if v.contains(' ') && !v.chars().any(is_cjk) {
        out.push(v.replace(' ', "-"));
    }
    let plural: Vec<String> = out
        .iter()
        .filter(|s| {
            s.chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphabetic() && c != 's' && c != 'S')
                && s.len() > 2
        })
        .map(|s| format!("{s}s"))
        .collect();
    out.extend(plural);
    out
}

#[derive(Default)]
struct Builder {
    /// (normalised text or its lower-case form for case-insensitive ones, case-sensitive) → index
    index: HashMap<(String, bool), usize>,
    patterns: Vec<(Pattern, bool)>,
    countries: Vec<String>,
    country_ix: HashMap<String, u16>,
    policies: Vec<String>,
    policy_ix: HashMap<String, u16>,
    next_trigger: u32,
}

impl Builder {
    fn country(&mut self, code: &str) -> u16 {
        if let Some(&i) = self.country_ix.get(code) {
            return i;
        }
        let i = self.countries.len() as u16;
        self.countries.push(code.to_string());
        self.country_ix.insert(code.to_string(), i);
        i
    }

    fn policy(&mut self, id: &str) -> u16 {
        if let Some(&i) = self.policy_ix.get(id) {
            return i;
        }
        let i = self.policies.len() as u16;
        self.policies.push(id.to_string());
        self.policy_ix.insert(id.to_string(), i);
        i
    }

    /// Every variant and spelling of one policy phrase, under one new trigger (so they count
    /// once); returns the trigger.
    fn add_policy_phrase(&mut self, entry: &str, id: u16, strength: Strength) -> u32 {
        let trigger = self.next_trigger;
        self.next_trigger += 1;
        for v in variants(entry) {
            for s in spellings(v) {
                self.add(
                    &s,
                    ActionKind::Policy {
                        id,
                        trigger,
                        strength,
                    },
                );
            }
        }
        trigger
    }

    fn add(&mut self, phrase: &str, kind: ActionKind) {
        let norm = text::normalize(phrase).text().trim().to_string();
        if norm.is_empty() {
            return;
        }
        let cs = is_case_sensitive(&norm);
        let needs_cap = !cs && norm.chars().next().is_some_and(char::is_uppercase);
        let key = (
            if cs {
                norm.clone()
            } else {
                norm.to_ascii_lowercase()
            },
            cs,
        );
        let idx = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.patterns.len();
                let cjk = norm.chars().any(is_cjk);
                let open_end = norm.ends_with('-');
                let bare_acronym = cs && norm.chars().all(|c| c.is_alphanumeric());
                self.patterns.push((
                    Pattern {
                        text: norm,
                        cjk,
                        open_end,
                        bare_acronym,
                        exact: cs,
                        actions: Vec::new(),
                    },
                    cs,
                ));
                self.index.insert(key, i);
                i
            }
        };
        if let Some((p, _)) = self.patterns.get_mut(idx) {
            let action = Action {
                kind,
                needs_cap,
                lower_only: false,
                sub: None,
                exact_of: None,
            };
            // One pattern says one thing per target: keep the first (strongest listed) role.
            let mut same = p.actions.iter_mut().filter(|a| same_target(a.kind, kind));
            let (first, split) = (same.next(), same.next().is_some());
            match first {
                // Split already: both readings are set, the first listed stays.
                Some(_) if split => {}
                // A capitalised and a lower-case phrase of one policy with different strengths
                // ("Entity List" strong, "entity list" only in a trade context): each says its
                // own thing, told apart by the case of the match's first letter.
                Some(existing)
                    if existing.needs_cap != needs_cap
                        && strength(existing.kind) != strength(kind) =>
                {
                    if existing.needs_cap {
                        p.actions.push(Action {
                            lower_only: true,
                            ..action
                        });
                    } else {
                        existing.lower_only = true;
                        p.actions.push(action);
                    }
                }
                // A lower-case spelling of the same trigger lifts the capital requirement.
                Some(existing) => existing.needs_cap &= needs_cap,
                None => p.actions.push(action),
            }
        }
    }
}

fn strength(kind: ActionKind) -> Option<Strength> {
    match kind {
        ActionKind::Policy { strength, .. } => Some(strength),
        _ => None,
    }
}

fn same_target(a: ActionKind, b: ActionKind) -> bool {
    use ActionKind::*;
    match (a, b) {
        (Country { id: x, .. }, Country { id: y, .. }) => x == y,
        (Policy { id: x, .. }, Policy { id: y, .. }) => x == y,
        (Anchor(x), Anchor(y)) => x == y,
        (Ambiguous(x), Ambiguous(y)) | (Veto(x), Veto(y)) => x == y,
        (OtherMeaning(x), OtherMeaning(y)) => x == y,
        (Context { amb: x, option: o }, Context { amb: y, option: p }) => x == y && o == p,
        (Stop, Stop) => true,
        _ => false,
    }
}

pub(crate) fn compile(files: &[RulesFile]) -> Result<Compiled, ClassifyError> {
    let mut b = Builder::default();
    let mut weights = Weights::default();
    let mut venue_words = HashSet::new();
    let mut comparison_words = HashSet::new();
    let mut firm_nouns = HashSet::new();
    let mut firm_modifiers = HashSet::new();
    let mut negation_words = HashSet::new();
    let mut state_nouns = HashSet::new();
    let mut state_modifiers = HashSet::new();
    let lower = |v: &Vec<String>| v.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>();
    for f in files {
        if let Some(w) = &f.weights {
            weights.apply(w);
        }
        if let Some(c) = &f.context {
            venue_words.extend(lower(&c.venue_words));
            comparison_words.extend(lower(&c.comparison_words));
            firm_nouns.extend(lower(&c.firm_nouns));
            firm_modifiers.extend(lower(&c.firm_modifiers));
            negation_words.extend(lower(&c.negation_words));
            state_nouns.extend(lower(&c.state_nouns));
            state_modifiers.extend(lower(&c.state_modifiers));
        }
    }

    // Stop-phrases first: they carry no meaning, but longest-match lets them swallow.
    for f in files {
        for p in f
            .stop
            .iter()
            .flat_map(|s| &s.phrases)
            .flat_map(|e| variants(e))
        {
            b.add(p, ActionKind::Stop);
        }
    }

    // Anchor sets.
    let mut anchor_ix: BTreeMap<String, u8> = BTreeMap::new();
    for f in files {
        for set in &f.anchor_sets {
            let n = anchor_ix.len();
            let id = *anchor_ix.entry(set.id.get_ref().clone()).or_insert(n as u8);
            if anchor_ix.len() > 64 {
                return Err(ClassifyError::Build("more than 64 anchor sets".into()));
            }
            for entry in &set.phrases {
                for v in variants(entry) {
                    for s in spellings(v) {
                        b.add(&s, ActionKind::Anchor(id));
                    }
                }
            }
        }
    }
    let tech_mask = anchor_ix.get("tech").map_or(0, |&i| 1u64 << i);

    // Policies.
    let mut policy_anchors: HashMap<u16, u64> = HashMap::new();
    let mut trigger_anchors: HashMap<u32, u64> = HashMap::new();
    let mut trigger_promote: HashMap<u32, u64> = HashMap::new();
    let mask_of = |sets: &[toml::Spanned<String>], policy: &str| {
        let mut mask = 0u64;
        for s in sets {
            let Some(&i) = anchor_ix.get(s.get_ref()) else {
                return Err(ClassifyError::Build(format!(
                    "policy {policy:?} names unknown anchor set {:?}",
                    s.get_ref()
                )));
            };
            mask |= 1u64 << i;
        }
        Ok(mask)
    };
    let mut agree: HashMap<u16, u32> = HashMap::new();
    let mut yields: HashMap<u16, Vec<String>> = HashMap::new();
    for f in files {
        for p in &f.policies {
            let id = b.policy(p.id.get_ref());
            if let Some(n) = p.agree {
                agree.insert(id, n);
            }
            yields
                .entry(id)
                .or_default()
                .extend(p.yields_to.iter().map(|y| y.get_ref().clone()));
            if let Some(sets) = &p.anchors {
                policy_anchors.insert(id, mask_of(sets, p.id.get_ref())?);
            }
            let groups = p.weak_with.iter().map(|g| (g, Strength::Weak));
            for (group, strength) in
                groups.chain(p.anchored_with.iter().map(|g| (g, Strength::Anchored)))
            {
                let mask = mask_of(&group.anchors, p.id.get_ref())?;
                for entry in &group.phrases {
                    let trigger = b.add_policy_phrase(entry, id, strength);
                    trigger_anchors.insert(trigger, mask);
                }
            }
            for group in &p.strong_with {
                let mask = mask_of(&group.anchors, p.id.get_ref())?;
                for entry in &group.phrases {
                    let trigger = b.add_policy_phrase(entry, id, Strength::Weak);
                    trigger_promote.insert(trigger, mask);
                }
            }
            for (list, strength) in [
                (&p.strong, Strength::Strong),
                (&p.anchored, Strength::Anchored),
                (&p.weak, Strength::Weak),
            ] {
                for entry in list {
                    b.add_policy_phrase(entry, id, strength);
                }
            }
        }
    }

    // Ambiguous names come before the gazetteer so that keshvar's plain entry for, say,
    // "Georgia" does not also fire.
    let mut ambiguous = Vec::new();
    let mut ambiguous_phrases: HashSet<String> = HashSet::new();
    for f in files {
        for a in &f.ambiguous {
            let amb = ambiguous.len() as u16;
            ambiguous_phrases.insert(a.phrase.get_ref().to_lowercase());
            let kind_of = |k: &Option<toml::Spanned<String>>| {
                Mention::parse(k.as_ref().map_or("name", |k| k.get_ref()))
            };
            let mut options = Vec::new();
            for (oi, o) in a.options.iter().enumerate() {
                options.push((b.country(o.code.get_ref()), kind_of(&o.kind)));
                for c in o.context.iter().flat_map(|e| variants(e)) {
                    b.add(
                        c,
                        ActionKind::Context {
                            amb,
                            option: oi as u8,
                        },
                    );
                }
            }
            for v in a.veto.iter().flat_map(|e| variants(e)) {
                b.add(v, ActionKind::Veto(amb));
            }
            let fallback = a
                .fallback
                .as_ref()
                .map(|c| (b.country(c.get_ref()), kind_of(&a.fallback_kind)));
            b.add(a.phrase.get_ref(), ActionKind::Ambiguous(amb));
            ambiguous.push(AmbiguousRule {
                given_name: a.given_name,
                start_needs_context: a.start_needs_context,
                fallback,
                options,
            });
        }
    }

    let mut other_meanings = Vec::new();
    for f in files {
        for m in &f.other_meanings {
            let k = other_meanings.len() as u16;
            for cue in m.cues.iter().flat_map(|e| variants(e)) {
                b.add(cue, ActionKind::OtherMeaning(k));
            }
            other_meanings.push(m.term.get_ref().clone());
        }
    }

    // Our overlay, before keshvar, so its roles win for shared strings.
    for f in files {
        for c in &f.countries {
            let id = b.country(c.code.get_ref());
            let lists: [(&Vec<String>, Mention, bool); 9] = [
                (&c.agencies, Mention::Agency, false),
                (&c.anchored_agencies, Mention::Agency, true),
                (&c.names, Mention::Name, false),
                (&c.demonyms, Mention::Demonym, false),
                (&c.metonyms, Mention::Metonym, false),
                (&c.places, Mention::Place, false),
                (&c.cities, Mention::City, false),
                (&c.companies, Mention::Company, false),
                (&c.media, Mention::Media, false),
            ];
            for (list, mention, anchored) in lists {
                for v in list.iter().flat_map(|e| variants(e)) {
                    b.add(
                        v,
                        ActionKind::Country {
                            id,
                            mention,
                            anchored,
                        },
                    );
                }
            }
        }
    }

    add_keshvar(&mut b, files, &ambiguous_phrases);
    let prefixed = inherit_inner_actions(&mut b);
    let (mut slots, members) = slots(&b.patterns, &prefixed);

    let mut texts = Vec::with_capacity(slots.len());
    for slot in &slots {
        // An empty pattern would match everywhere without moving the scan forward.
        let Some(text) = members
            .get(slot.first as usize)
            .and_then(|&m| b.patterns.get(m as usize))
            .map(|p| p.0.text.as_str())
            .filter(|t| !t.is_empty())
        else {
            return Err(ClassifyError::Build(
                "a pattern slot without text (a bug in the rules compiler)".into(),
            ));
        };
        texts.push(text);
    }
    // A contiguous NFA, not a DFA: on the tagger bench it scans within ~10 % of the DFA's
    // speed (its 0.8 MB stay in cache; the DFA's 31 MB do not), and it builds in ~15 ms
    // instead of ~100 ms, which every sync paid before tagging its first story.
    // No prefilter: with thousands of patterns it finds nothing to skip.
    let automaton = contiguous::NFA::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .ascii_case_insensitive(true)
        .prefilter(false)
        .build(&texts)
        .map_err(|e| ClassifyError::Build(e.to_string()))?;
    let first_bytes = first_bytes(&automaton)?;
    let overlap_starts = overlap_starts(&automaton, &texts, &mut slots, |slot| {
        members
            .get(slot.first as usize..(slot.first + slot.len) as usize)
            .unwrap_or_default()
            .iter()
            .any(|&m| b.patterns.get(m as usize).is_some_and(|p| is_stop(&p.0)))
    })?;
    let patterns: Vec<Pattern> = b.patterns.into_iter().map(|(p, _)| p).collect();
    let default_mask = tech_mask;
    let n_policies = b.policies.len() as u16;
    let policy_agree = (0..n_policies)
        .map(|i| agree.get(&i).copied().unwrap_or(weights.min_agreeing))
        .collect();
    let mut policy_yields = Vec::new();
    for i in 0..n_policies {
        let mut v = Vec::new();
        for y in yields.get(&i).into_iter().flatten() {
            let Some(&j) = b.policy_ix.get(y) else {
                return Err(ClassifyError::Build(format!(
                    "policy {:?} yields to unknown policy {y:?}",
                    b.policies.get(i as usize).map_or("", |s| s.as_str())
                )));
            };
            v.push(j);
        }
        policy_yields.push(v);
    }
    let trigger_anchors = (0..b.next_trigger)
        .map(|t| trigger_anchors.get(&t).copied().unwrap_or(0))
        .collect();
    let trigger_promote = (0..b.next_trigger)
        .map(|t| trigger_promote.get(&t).copied().unwrap_or(0))
        .collect();
    let policy_anchors = (0..b.policies.len() as u16)
        .map(|i| policy_anchors.get(&i).copied().unwrap_or(default_mask))
        .collect();
    Ok(Compiled {
        countries: b.countries,
        policies: b.policies,
        patterns,
        automaton,
        first_bytes,
        slots,
        members,
        overlap_starts,
        policy_anchors,
        trigger_anchors,
        trigger_promote,
        policy_agree,
        policy_yields,
        negation_words: WordSet::new(negation_words),
        tech_mask,
        ambiguous,
        other_meanings,
        weights,
        venue_words: WordSet::new(venue_words),
        comparison_words: WordSet::new(comparison_words),
        firm_nouns: WordSet::new(firm_nouns),
        firm_modifiers: WordSet::new(firm_modifiers),
        state_nouns: WordSet::new(state_nouns),
        state_modifiers: WordSet::new(state_modifiers),
    })
}

/// Country names and demonyms from keshvar: ISO short and long names, unofficial names
/// (English and other Latin-script forms, CJK forms), nationality adjectives.
/// The bytes a pattern can start with, from the anchored start state's transitions.
fn first_bytes(nfa: &contiguous::NFA) -> Result<[bool; 256], ClassifyError> {
    use aho_corasick::Anchored;
    use aho_corasick::automaton::Automaton;
    let start = nfa
        .start_state(Anchored::Yes)
        .map_err(|e| ClassifyError::Build(e.to_string()))?;
    let mut out = [false; 256];
    for (b, can) in out.iter_mut().enumerate() {
        *can = !nfa.is_dead(nfa.next_state(Anchored::Yes, start, b as u8));
    }
    Ok(out)
}

/// Per slot, the places inside its text where a match of another pattern could start and
/// run past the text's end: a place where a word starts (or a CJK character is, or follows)
/// from which an anchored walk of the automaton over the rest of the text is still alive.
/// Stop-phrases get none: what starts inside one is part of what it hides ("blue chip
/// export" has no chip export). Fills the slots' ranges; returns the offsets.
fn overlap_starts(
    nfa: &contiguous::NFA,
    texts: &[&str],
    slots: &mut [Slot],
    is_stop_slot: impl Fn(&Slot) -> bool,
) -> Result<Vec<u16>, ClassifyError> {
    use aho_corasick::Anchored;
    use aho_corasick::automaton::Automaton;
    let root = nfa
        .start_state(Anchored::Yes)
        .map_err(|e| ClassifyError::Build(e.to_string()))?;
    let mut out = Vec::new();
    for (slot, t) in slots.iter_mut().zip(texts) {
        slot.overlap_first = out.len() as u32;
        if is_stop_slot(slot) {
            continue;
        }
        let bytes = t.as_bytes();
        let ascii = t.is_ascii();
        let can_start = |j: usize| {
            if ascii {
                // Most texts: a word starts after any byte that is not a letter or digit.
                return bytes.get(j - 1).is_some_and(|b| !b.is_ascii_alphanumeric());
            }
            let ch = text::char_at(t, j);
            text::char_before(t, j).is_some_and(|p| !is_word_char(p) || is_cjk(p))
                || ch.is_some_and(is_cjk)
        };
        for j in 1..bytes.len() {
            if !t.is_char_boundary(j) || !can_start(j) {
                continue;
            }
            let mut sid = root;
            let alive = bytes.get(j..).unwrap_or_default().iter().all(|&b| {
                sid = nfa.next_state(Anchored::Yes, sid, b);
                !nfa.is_dead(sid)
            });
            if alive && let Ok(j) = u16::try_from(j) {
                out.push(j);
            }
        }
        // A slot's text is at most a few hundred bytes: its offsets fit in u16.
        slot.overlap_len = u16::try_from(out.len() as u32 - slot.overlap_first).unwrap_or(0);
    }
    Ok(out)
}

fn add_keshvar(b: &mut Builder, files: &[RulesFile], ambiguous: &HashSet<String>) {
    let mut exclude_names: HashSet<String> = HashSet::new();
    let mut exclude_demonyms: HashSet<String> = HashSet::new();
    let mut owner: HashMap<String, String> = HashMap::new();
    for k in files.iter().filter_map(|f| f.keshvar.as_ref()) {
        exclude_names.extend(k.exclude_names.iter().map(|s| s.to_lowercase()));
        exclude_demonyms.extend(k.exclude_demonyms.iter().map(|s| s.to_lowercase()));
        owner.extend(
            k.demonym_owner
                .iter()
                .map(|(d, c)| (d.to_lowercase(), c.get_ref().clone())),
        );
    }
    // Demonyms keshvar gives to several countries are used only when the overlay says whose.
    let mut demonym_count: HashMap<String, usize> = HashMap::new();
    for c in keshvar::CountryIterator::new() {
        if let Some(d) = c.maybe_nationality() {
            *demonym_count.entry(d.to_lowercase()).or_default() += 1;
        }
    }
    let usable = |name: &str| {
        !name.is_empty()
            && !name.contains(['(', ')', '[', ',', ']'])
            && !exclude_names.contains(&name.to_lowercase())
            && !ambiguous.contains(&name.to_lowercase())
            && name.chars().any(char::is_alphabetic)
    };
    for c in keshvar::CountryIterator::new() {
        let code = c.alpha2().to_string();
        let id = b.country(&code);
        let mut names = vec![c.iso_short_name(), c.iso_long_name()];
        names.extend(c.unofficial_name_list().iter().copied());
        for n in names {
            let n = n.strip_prefix("The ").unwrap_or(n);
            // Keep Latin-script and CJK forms; other scripts never occur in our sources'
            // English text and cost automaton size.
            let script_ok = n
                .chars()
                .all(|ch| ch.is_ascii() || is_cjk(ch) || ch.is_alphabetic() && (ch as u32) < 0x250);
            if usable(n) && script_ok {
                b.add(
                    n,
                    ActionKind::Country {
                        id,
                        mention: Mention::Name,
                        anchored: false,
                    },
                );
            }
        }
        if let Some(d) = c.maybe_nationality() {
            let dl = d.to_lowercase();
            let shared = demonym_count.get(&dl).copied().unwrap_or(0) > 1;
            let ok_owner = owner.get(&dl).is_none_or(|o| *o == code);
            let assigned = owner.get(&dl).is_some_and(|o| *o == code);
            if usable(d) && !exclude_demonyms.contains(&dl) && ok_owner && (!shared || assigned) {
                b.add(
                    d,
                    ActionKind::Country {
                        id,
                        mention: Mention::Demonym,
                        anchored: false,
                    },
                );
                if d.ends_with('n') || d.ends_with('i') {
                    b.add(
                        &format!("{d}s"),
                        ActionKind::Country {
                            id,
                            mention: Mention::Demonym,
                            anchored: false,
                        },
                    );
                }
            }
        }
    }
}

/// Same target for the purpose of dropping an inner match: same country, policy or anchor
/// set, or the very same action.
pub(crate) fn target_eq(a: ActionKind, b: ActionKind) -> bool {
    match (a, b) {
        (ActionKind::Country { id: x, .. }, ActionKind::Country { id: y, .. }) => x == y,
        (ActionKind::Policy { id: x, .. }, ActionKind::Policy { id: y, .. }) => x == y,
        (ActionKind::Anchor(x), ActionKind::Anchor(y)) => x == y,
        _ => a == b,
    }
}

/// Weak policy triggers rank below strong and anchored ones; everything else ranks alike.
pub(crate) fn strength_rank(kind: ActionKind) -> u8 {
    match kind {
        ActionKind::Policy {
            strength: Strength::Weak,
            ..
        } => 0,
        _ => 1,
    }
}

fn is_stop(p: &Pattern) -> bool {
    p.actions.iter().any(|a| a.kind == ActionKind::Stop)
}

/// Every action of `inner` already said by `outer` (or `outer` is a stop-phrase).
fn covered(outer: &Pattern, inner: &Pattern) -> bool {
    is_stop(outer)
        || inner
            .actions
            .iter()
            .all(|x| outer.actions.iter().any(|y| target_eq(x.kind, y.kind)))
}

/// Group patterns whose texts are equal up to ASCII case into automaton slots. A
/// case-sensitive member that a case-insensitive one already covers is dropped; the others
/// stay as extra members checked at scan time.
fn slots(patterns: &[(Pattern, bool)], prefixed: &[bool]) -> (Vec<Slot>, Vec<u32>) {
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut by_text: HashMap<String, usize> = HashMap::new();
    for (i, (p, _)) in patterns.iter().enumerate() {
        let key = p.text.to_ascii_lowercase();
        let g = *by_text.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        if let Some(g) = groups.get_mut(g) {
            g.push(i as u32);
        }
    }
    let mut slots = Vec::with_capacity(groups.len());
    let mut members = Vec::with_capacity(patterns.len());
    let pat = |i: u32| patterns.get(i as usize).map(|p| &p.0);
    for mut g in groups {
        // Case-insensitive members first: they always match, as in a case-insensitive pass.
        g.sort_by_key(|&i| pat(i).is_some_and(|p| p.exact));
        let ci: Vec<u32> = g
            .iter()
            .copied()
            .filter(|&i| pat(i).is_some_and(|p| !p.exact))
            .collect();
        g.retain(|&i| {
            let Some(p) = pat(i) else { return false };
            !p.exact
                || !ci
                    .iter()
                    .filter_map(|&o| pat(o))
                    .any(|outer| covered(outer, p))
        });
        let exact = g.iter().any(|&i| pat(i).is_some_and(|p| p.exact));
        let retry_prefix = exact
            && g.iter()
                .any(|&i| prefixed.get(i as usize).copied().unwrap_or(false));
        slots.push(Slot {
            first: members.len() as u32,
            len: g.len() as u32,
            retry_prefix,
            overlap_first: 0,
            overlap_len: 0,
        });
        members.extend(g);
    }
    (slots, members)
}

/// Which patterns occur inside which (`patterns` are text and case-sensitivity).
struct InnerPatterns {
    /// Per pattern: another pattern is a prefix of it (at any byte, not only a word end).
    prefixed: Vec<bool>,
    /// Per pattern: (start, end, inner pattern) of every other pattern inside it with word
    /// boundaries on both sides; for one span, inner patterns in ascending order.
    inner_of: Vec<Vec<(usize, usize, usize)>>,
}

/// What an overlapping ASCII-case-insensitive search of every pattern over every pattern finds,
/// keeping only matches at the start or at word boundaries — looked up in a hash map of the
/// patterns instead: an automaton of all patterns took ~15 ms to build, ~40 % of building the
/// tagger, which every sync with new stories waits for.
fn inner_patterns(patterns: &[(&str, bool)]) -> InnerPatterns {
    let mut by_text: HashMap<Vec<u8>, Vec<usize>> = HashMap::with_capacity(patterns.len());
    for (i, (t, _)) in patterns.iter().enumerate() {
        by_text
            .entry(t.as_bytes().to_ascii_lowercase())
            .or_default()
            .push(i);
    }
    let mut prefixed = vec![false; patterns.len()];
    let mut inner_of: Vec<Vec<(usize, usize, usize)>> = vec![Vec::new(); patterns.len()];
    let mut lower = Vec::new();
    for (outer, &(t, exact)) in patterns.iter().enumerate() {
        lower.clear();
        lower.extend(t.as_bytes().iter().map(u8::to_ascii_lowercase));
        let word_edge = |c: Option<char>| c.is_none_or(|c| !is_word_char(c));
        let bounds: Vec<usize> = t
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(t.len()))
            .collect();
        for &s in &bounds {
            let starts_word = word_edge(text::char_before(t, s));
            if s > 0 && !starts_word {
                continue;
            }
            for &e in bounds.iter().filter(|&&e| e > s) {
                let ends_word = word_edge(text::char_at(t, e));
                if s > 0 && !ends_word {
                    continue;
                }
                let Some(found) = lower.get(s..e).and_then(|k| by_text.get(k)) else {
                    continue;
                };
                for &pi in found {
                    if pi == outer || (s == 0 && e == t.len()) {
                        continue;
                    }
                    let Some(&(inner_text, inner_exact)) = patterns.get(pi) else {
                        continue;
                    };
                    // A case-sensitive pattern inside a case-sensitive one must match its case.
                    if inner_exact && exact && t.get(s..e) != Some(inner_text) {
                        continue;
                    }
                    if s == 0 {
                        prefixed[outer] = true;
                    }
                    if starts_word && ends_word {
                        inner_of[outer].push((s, e, pi));
                    }
                }
            }
        }
    }
    InnerPatterns { prefixed, inner_of }
}

/// A longer pattern hides the shorter ones inside it (leftmost-longest), so it inherits their
/// actions: of other families from a pattern of the same case kind ("China Export Control
/// Law", a policy trigger, still names CN), and all of them from a pattern of the other kind
/// unless the longer one already says it all ("Chinese AI firms" keeps the anchor "AI", with a
/// case check on that span at scan time). Stop-phrases inherit nothing. Returns, per pattern,
/// whether a shorter pattern is a prefix of it.
fn inherit_inner_actions(b: &mut Builder) -> Vec<bool> {
    let texts: Vec<(&str, bool)> = b
        .patterns
        .iter()
        .map(|p| (p.0.text.as_str(), p.0.exact))
        .collect();
    let InnerPatterns { prefixed, inner_of } = inner_patterns(&texts);
    // Same kind first, then the other kind against the result, as the two separate passes
    // of the earlier design did.
    for same_kind in [true, false] {
        let mut additions: Vec<(usize, Action)> = Vec::new();
        for (outer, inner) in inner_of.iter().enumerate() {
            let Some((op, _)) = b.patterns.get(outer) else {
                continue;
            };
            if is_stop(op) {
                continue;
            }
            let own: HashSet<u8> = op.actions.iter().map(|a| a.kind.family()).collect();
            // Longest inner match first, then keep those not inside one kept already.
            let mut cands: Vec<(usize, usize, usize)> = inner
                .iter()
                .copied()
                .filter(|&(_, _, pi)| {
                    b.patterns
                        .get(pi)
                        .is_some_and(|(ip, _)| (ip.exact == op.exact) == same_kind)
                })
                .collect();
            cands.sort_by_key(|&(s, e, _)| (std::cmp::Reverse(e - s), s));
            // (start, end, stop-phrase) of the inner matches kept.
            let mut taken: Vec<(usize, usize, bool)> = Vec::new();
            let first_addition = additions.len();
            for (s, e, pi) in cands {
                // Inside one kept already: that one passed it on. Overlapping one only: both
                // readings stand, as at scan time ("Chinese AI" and "AI chips"), except what
                // starts inside a stop-phrase.
                if taken
                    .iter()
                    .any(|&(ts, te, stop)| ts <= s && e <= te || stop && ts < s && s < te)
                {
                    continue;
                }
                let Some((ip, _)) = b.patterns.get(pi) else {
                    continue;
                };
                let (Ok(s16), Ok(e16)) = (u16::try_from(s), u16::try_from(e)) else {
                    continue;
                };
                if is_stop(ip) {
                    taken.push((s, e, true));
                    continue;
                }
                // What an overlapping inner match already passed on about the same words is
                // not said twice (as `scan::events` does for overlapping hits).
                let said = |additions: &[(usize, Action)], a: &Action, span: (u16, u16)| {
                    additions
                        .get(first_addition..)
                        .unwrap_or_default()
                        .iter()
                        .any(|(_, x)| {
                            x.sub.is_some_and(|(xs, xe)| xs < span.1 && span.0 < xe)
                                && target_eq(x.kind, a.kind)
                                && strength_rank(x.kind) >= strength_rank(a.kind)
                        })
                };
                if !same_kind {
                    taken.push((s, e, false));
                    if covered(op, ip) {
                        continue;
                    }
                    let exact_of = (ip.exact && !op.exact).then_some(pi as u32);
                    for a in &ip.actions {
                        let sub = match a.sub {
                            Some((x, y)) => (s16.saturating_add(x), s16.saturating_add(y)),
                            None => (s16, e16),
                        };
                        if said(&additions, a, sub) {
                            continue;
                        }
                        additions.push((
                            outer,
                            Action {
                                sub: Some(sub),
                                exact_of,
                                ..*a
                            },
                        ));
                    }
                    continue;
                }
                let mut any = false;
                for a in &ip.actions {
                    // A longer trigger says all its family says about these words, but an
                    // anchor phrase of one set does not hide an anchor of another set.
                    let hidden = match a.kind {
                        ActionKind::Anchor(_) => op.actions.iter().any(|x| x.kind == a.kind),
                        k => own.contains(&k.family()),
                    };
                    if hidden || a.sub.is_some() || said(&additions, a, (s16, e16)) {
                        continue;
                    }
                    additions.push((
                        outer,
                        Action {
                            sub: Some((s16, e16)),
                            ..*a
                        },
                    ));
                    any = true;
                }
                if any {
                    taken.push((s, e, false));
                }
            }
        }
        for (outer, a) in additions {
            if let Some((p, _)) = b.patterns.get_mut(outer) {
                p.actions.push(a);
            }
        }
    }
    prefixed
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, AhoCorasickKind};

    /// The search [`inner_patterns`] replaced: an overlapping automaton over every pattern.
    fn inner_patterns_by_automaton(patterns: &[(&str, bool)]) -> InnerPatterns {
        let texts: Vec<&str> = patterns.iter().map(|p| p.0).collect();
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(Some(AhoCorasickKind::NoncontiguousNFA))
            .build(&texts)
            .unwrap();
        let mut prefixed = vec![false; texts.len()];
        let mut inner_of = vec![Vec::new(); texts.len()];
        for (outer, &(t, exact)) in patterns.iter().enumerate() {
            for m in ac.find_overlapping_iter(t) {
                let (s, e, pi) = (m.start(), m.end(), m.pattern().as_usize());
                if pi == outer || (s == 0 && e == t.len()) {
                    continue;
                }
                let (it, iexact) = patterns[pi];
                if iexact && exact && t.get(s..e) != Some(it) {
                    continue;
                }
                if s == 0 {
                    prefixed[outer] = true;
                }
                if text::char_before(t, s).is_none_or(|c| !is_word_char(c))
                    && text::char_at(t, e).is_none_or(|c| !is_word_char(c))
                {
                    inner_of[outer].push((s, e, pi));
                }
            }
        }
        InnerPatterns { prefixed, inner_of }
    }

    fn same(patterns: &[(&str, bool)]) {
        let fast = inner_patterns(patterns);
        let slow = inner_patterns_by_automaton(patterns);
        assert_eq!(fast.prefixed, slow.prefixed);
        for (outer, (mut f, mut s)) in fast.inner_of.into_iter().zip(slow.inner_of).enumerate() {
            // Only the order of inner patterns on one span matters to the caller.
            f.sort_by_key(|&(s, e, _)| (s, e));
            s.sort_by_key(|&(s, e, _)| (s, e));
            assert_eq!(f, s, "inside {:?}", patterns[outer].0);
        }
    }

    #[test]
    fn inner_patterns_match_the_automaton_search_on_the_built_in_rules() {
        let tagger = crate::classify::Tagger::builtin();
        let patterns: Vec<(&str, bool)> = tagger
            .compiled
            .patterns
            .iter()
            .map(|p| (p.text.as_str(), p.exact))
            .collect();
        assert!(patterns.len() > 1000);
        same(&patterns);
    }

    /// An anchor phrase of one set keeps the anchors of other sets inside it ("export rules",
    /// an export-controls anchor, still holds the control words "export" and "rules").
    #[test]
    fn an_anchor_phrase_keeps_other_sets_anchors_inside_it() {
        let tagger = crate::classify::Tagger::with_overlay(
            "[[anchor_set]]\nid = \"outer\"\nphrases = [\"alpha beta\"]\n\
             [[anchor_set]]\nid = \"inner\"\nphrases = [\"beta\"]\n\
             [[policy]]\nid = \"test-policy\"\n\
             [[policy.anchored_with]]\nanchors = [\"inner\"]\nphrases = [\"gamma\"]\n",
        )
        .unwrap();
        let fired: Vec<String> = tagger
            .tag("", "The alpha beta report mentions gamma.")
            .iter()
            .map(|t| t.tag.to_string())
            .collect();
        assert_eq!(fired, ["policy:test-policy"]);
    }

    #[test]
    fn inner_patterns_match_the_automaton_search_on_awkward_text() {
        same(&[
            ("US", true),
            ("us", false),
            ("USA", true),
            ("U.S.", true),
            ("Chinese AI firms", false),
            ("AI", true),
            ("ai", false),
            ("export", false),
            ("Export Control", true),
            ("China Export Control Law", true),
            ("Sino-", false),
            ("Sino-US", false),
            ("中国", false),
            ("中国商务部", false),
            ("Côte d'Ivoire", false),
            ("côte", false),
            ("d'Ivoire", false),
            ("EU", true),
            ("EU AI Act", true),
            ("eu ai act", false),
        ]);
    }
}
