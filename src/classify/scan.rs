//! The runtime: one leftmost-longest pass of the automaton over title and body (with the
//! matches that overlap a taken one), the boundary/case post-filters, then scoring of country
//! mentions and policy triggers.

use aho_corasick::Anchored;
use aho_corasick::automaton::Automaton;
use aho_corasick::automaton::StateID;
use aho_corasick::nfa::contiguous;

use super::compile::{self, ActionKind, Compiled, Mention, Strength};
use super::text::{self, Normalized, is_cjk, is_word_char};
use crate::model::{AutoTag, Evidence, Tag, TextField};

#[derive(Debug, Clone, Copy)]
struct Hit {
    pat: u32,
    start: usize,
    end: usize,
    /// Starts inside an earlier hit and ends beyond it (see [`overlapping`]).
    overlap: bool,
}

/// One action of one accepted hit, at a place in the story.
#[derive(Debug, Clone, Copy)]
struct Event {
    kind: ActionKind,
    field: TextField,
    /// Normalised offsets within the field.
    start: usize,
    end: usize,
}

struct Field<'a> {
    which: TextField,
    orig: &'a str,
    norm: Normalized<'a>,
    /// The last line checked for ALL-CAPS: (start, end, caps).
    caps: std::cell::Cell<Option<(usize, usize, bool)>>,
}

impl Field<'_> {
    fn text(&self) -> &str {
        self.norm.text()
    }

    fn is_caps(&self, pos: usize) -> bool {
        if let Some((s, e, caps)) = self.caps.get()
            && s <= pos
            && pos <= e
        {
            return caps;
        }
        let (s, e, caps) = text::caps_line(self.norm.text(), pos);
        self.caps.set(Some((s, e, caps)));
        caps
    }

    fn evidence(&self, start: usize, end: usize, weight: f32) -> Evidence {
        let (s, e) = (self.norm.orig_start(start), self.norm.orig_end(end));
        let (s, e) = if s <= e && self.orig.is_char_boundary(s) && self.orig.is_char_boundary(e) {
            (s, e)
        } else {
            (0, 0)
        };
        Evidence {
            phrase: self.orig.get(s..e).unwrap_or_default().to_string(),
            field: self.which,
            start: s,
            end: e,
            weight,
        }
    }
}

fn bounded(text: &str, start: usize, end: usize, cjk: bool, open_end: bool) -> bool {
    if cjk {
        return true;
    }
    // CJK text has no spaces between words, so a CJK character next to a Latin name ("EU宣布",
    // "对Entity List的") ends that word; Latin letters and digits still join ("Chinas").
    let edge = |c: Option<char>| c.is_none_or(|c| !is_word_char(c) || is_cjk(c));
    let before_ok = edge(text::char_before(text, start));
    let after_ok = open_end || edge(text::char_at(text, end));
    before_ok && after_ok
}

#[derive(Debug, Clone, Copy)]
struct Found {
    slot: usize,
    start: usize,
    end: usize,
}

/// The leftmost-longest match in `hay[at..end]`. This is aho-corasick's own search loop,
/// specialised to an unanchored automaton without prefilter, where only dead and match states
/// are special (a test checks it against the library's `try_find`); it skips the per-byte span and bounds checks of the generic loop (~30 % of the
/// tagger's time went to that loop).
fn find(nfa: &contiguous::NFA, hay: &[u8], at: usize, end: usize) -> Option<Found> {
    let mut sid = nfa.start_state(Anchored::No).ok()?;
    let found = |sid, end: usize| {
        let pid = nfa.match_pattern(sid, 0);
        let start = end.checked_sub(nfa.pattern_len(pid))?;
        Some(Found {
            slot: pid.as_usize(),
            start,
            end,
        })
    };
    let mut best = if nfa.is_match(sid) {
        found(sid, at)
    } else {
        None
    };
    for (i, &b) in hay.get(at..end)?.iter().enumerate() {
        sid = nfa.next_state(Anchored::No, sid, b);
        if nfa.is_special(sid) {
            if nfa.is_dead(sid) {
                return best;
            }
            if nfa.is_match(sid) {
                best = found(sid, at + i + 1);
            }
        }
    }
    best
}

/// The accepted matches of one field, in order, with per match the case check of
/// case-sensitive patterns, word boundaries and the ALL-CAPS rule for bare acronyms.
fn hits(c: &Compiled, field: &Field<'_>, out: &mut Vec<Hit>) {
    if field.text().is_ascii() {
        hits_at_word_starts(c, field, out);
    } else {
        hits_anywhere(c, field, out);
    }
}

/// What one match at `m` leads to: its accepted hits go to `out`.
enum Verdict {
    /// Some member matched in case: go on after the match.
    Taken,
    /// Only case-sensitive members, in the wrong case: a shorter match at the same start may
    /// still count ("china's mss" still says "china").
    RetryShorter,
    /// Go on from the next place.
    Next,
}

fn judge(c: &Compiled, field: &Field<'_>, m: Found, out: &mut Vec<Hit>) -> Verdict {
    let text = field.text();
    let Some(slot) = c.slots.get(m.slot) else {
        return Verdict::Taken;
    };
    let first = slot.first as usize;
    let members = c
        .members
        .get(first..first + slot.len as usize)
        .unwrap_or_default();
    let matched = text.as_bytes().get(m.start..m.end).unwrap_or_default();
    let mut case_ok = false;
    for &pat in members {
        let Some(p) = c.patterns.get(pat as usize) else {
            continue;
        };
        if p.exact && p.text.as_bytes() != matched {
            continue;
        }
        case_ok = true;
        if !bounded(text, m.start, m.end, p.cjk, p.open_end) {
            continue;
        }
        // In an ALL-CAPS line "US" may be the pronoun: trust only dotted or multi-word forms.
        if p.bare_acronym && field.is_caps(m.start) {
            continue;
        }
        out.push(Hit {
            pat,
            start: m.start,
            end: m.end,
            overlap: false,
        });
    }
    if case_ok {
        Verdict::Taken
    } else if slot.retry_prefix && m.end > m.start + 1 {
        Verdict::RetryShorter
    } else {
        Verdict::Next
    }
}

/// The matches that start at `i`, as (slot, end), shortest first: one anchored walk of the
/// automaton from `root`, its anchored start state. Inlined: it is the scan's inner loop.
#[inline(always)]
fn walk(
    nfa: &contiguous::NFA,
    root: StateID,
    bytes: &[u8],
    i: usize,
    ends: &mut Vec<(usize, usize)>,
) {
    ends.clear();
    let mut sid = root;
    for (k, &b) in bytes.get(i..).unwrap_or_default().iter().enumerate() {
        sid = nfa.next_state(Anchored::Yes, sid, b);
        if nfa.is_special(sid) {
            if nfa.is_dead(sid) {
                break;
            }
            if !nfa.is_match(sid) {
                continue;
            }
            // A match state may also carry a pattern ending here that starts later (a
            // suffix, copied from its failure state): only one that starts at `i` counts.
            let end = i + k + 1;
            if let Some(pid) = (0..nfa.match_len(sid))
                .map(|n| nfa.match_pattern(sid, n))
                .find(|&pid| end.checked_sub(nfa.pattern_len(pid)) == Some(i))
            {
                ends.push((pid.as_usize(), end));
            }
        }
    }
}

/// After the match `m` was taken: the matches that start inside it and end beyond it, each
/// the longest at its start, and in turn those overlapping them. Leftmost-longest matching
/// goes on after a match, so without this an anchor such as "Chinese AI" hid the trigger
/// "AI chips" in "Chinese AI chips". (A match wholly inside another stays hidden: the longer
/// pattern inherits its actions when the rules are compiled.) Only the places the compiler
/// found where a pattern could start inside `m`'s text and run past its end are walked, so
/// most matches never get here (see [`overlapping`]). Returns the end of the last match
/// taken: the scan goes on from there.
#[inline(never)]
fn overlapping_slow(
    c: &Compiled,
    field: &Field<'_>,
    m: Found,
    out: &mut Vec<Hit>,
    ends: &mut Vec<(usize, usize)>,
) -> usize {
    let bytes = field.text().as_bytes();
    let nfa = &c.automaton;
    let Ok(root) = nfa.start_state(Anchored::Yes) else {
        return m.end;
    };
    let mut cur = m;
    let mut k = 0usize;
    while let Some(&off) = c
        .slots
        .get(cur.slot)
        .and_then(|s| c.overlap_offsets(s).get(k))
    {
        k += 1;
        let j = cur.start + usize::from(off);
        walk(nfa, root, bytes, j, ends);
        for &(slot, end) in ends.iter().rev() {
            if end <= cur.end {
                break;
            }
            let found = Found {
                slot,
                start: j,
                end,
            };
            let before = out.len();
            match judge(c, field, found, out) {
                Verdict::Taken => {
                    if out.len() > before {
                        for h in out.get_mut(before..).unwrap_or_default() {
                            h.overlap = true;
                        }
                        cur = found;
                        k = 0;
                    }
                    break;
                }
                Verdict::RetryShorter => {}
                Verdict::Next => break,
            }
        }
    }
    cur.end
}

/// Where the scan goes on after the match `m` was taken: its end, or past the matches that
/// overlap it ([`overlapping_slow`]) when the compiler found a place inside `m`'s text where
/// one could start (about one match in ten).
#[inline(always)]
fn overlapping(
    c: &Compiled,
    field: &Field<'_>,
    m: Found,
    out: &mut Vec<Hit>,
    ends: &mut Vec<(usize, usize)>,
) -> usize {
    if c.slots.get(m.slot).is_some_and(|s| s.overlap_len != 0) {
        overlapping_slow(c, field, m, out, ends)
    } else {
        m.end
    }
}

/// Plain ASCII text (nearly all news): every pattern that can match must start a word (CJK
/// patterns, the only unbounded ones, cannot match ASCII), so the automaton is walked,
/// anchored, only from word starts whose first byte begins some pattern, instead of over
/// every byte with its failure transitions (half of the tagger's time went there).
///
/// Unlike [`hits_anywhere`], a match that starts inside a word (and so is refused) cannot
/// hide a word-start match that it overlaps.
fn hits_at_word_starts(c: &Compiled, field: &Field<'_>, out: &mut Vec<Hit>) {
    let nfa = &c.automaton;
    let Ok(root) = nfa.start_state(Anchored::Yes) else {
        return;
    };
    let bytes = field.text().as_bytes();
    // The ends of the matches found along one walk, shortest first.
    let mut ends: Vec<(usize, usize)> = Vec::new();
    // The place after the run of word bytes from `from`: a word's end is never a word start,
    // the byte after it is.
    let past_word = |from: usize| {
        let rest = bytes.get(from..).unwrap_or_default();
        from + rest
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .unwrap_or(rest.len())
            + 1
    };
    // `i` is always at the start or right after a byte that is not part of a word.
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        if !c.first_bytes[usize::from(b)] {
            i = if b.is_ascii_alphanumeric() {
                past_word(i)
            } else {
                i + 1
            };
            continue;
        }
        walk(nfa, root, bytes, i, &mut ends);
        let mut next = i + 1;
        for &(slot, end) in ends.iter().rev() {
            let m = Found {
                slot,
                start: i,
                end,
            };
            match judge(c, field, m, out) {
                Verdict::Taken => {
                    next = overlapping(c, field, m, out, &mut ends);
                    break;
                }
                Verdict::RetryShorter => {}
                Verdict::Next => break,
            }
        }
        i = if bytes[next - 1].is_ascii_alphanumeric() {
            past_word(next)
        } else {
            next
        };
    }
}

/// Any text: one leftmost-longest pass of the automaton over every byte, as CJK patterns
/// match inside runs of text without spaces.
fn hits_anywhere(c: &Compiled, field: &Field<'_>, out: &mut Vec<Hit>) {
    let text = field.text();
    let mut ends: Vec<(usize, usize)> = Vec::new();
    let mut at = 0usize;
    // The end of the haystack for the next search: shortened only to look for a shorter
    // pattern at the start of a match whose case failed.
    let mut limit = text.len();
    while at < text.len() {
        let found = find(&c.automaton, text.as_bytes(), at, limit);
        if limit < text.len() {
            limit = text.len();
            if found.is_none_or(|m| m.start != at) {
                // No shorter pattern at that start: go on from the next byte.
                at += 1;
                continue;
            }
        }
        let Some(m) = found else { break };
        match judge(c, field, m, out) {
            Verdict::Taken => at = overlapping(c, field, m, out, &mut ends),
            Verdict::RetryShorter => {
                limit = m.end - 1;
                at = m.start;
            }
            Verdict::Next => at = m.start + 1,
        }
    }
}

fn events(c: &Compiled, field: &Field<'_>, hits: &[Hit], out: &mut Vec<Event>) {
    let text = field.text();
    // Where the events of the current run of overlapping hits begin.
    let mut run = out.len();
    for h in hits {
        let Some(p) = c.patterns.get(h.pat as usize) else {
            continue;
        };
        if !h.overlap {
            run = out.len();
        }
        let own = out.len();
        for a in &p.actions {
            let (s, e) = match a.sub {
                Some((s, e)) => (h.start + s as usize, h.start + e as usize),
                None => (h.start, h.end),
            };
            if a.needs_cap || a.lower_only {
                let cap = text::char_at(text, s).is_some_and(char::is_uppercase);
                if cap != a.needs_cap {
                    continue;
                }
            }
            if a.kind == ActionKind::Stop {
                continue;
            }
            // From a case-sensitive pattern inside a case-insensitive match: its case and the
            // ALL-CAPS rule still apply to its span.
            if let Some(inner) = a.exact_of.and_then(|i| c.patterns.get(i as usize))
                && (text.as_bytes().get(s..e) != Some(inner.text.as_bytes())
                    || inner.bare_acronym && field.is_caps(s))
            {
                continue;
            }
            // A hit that overlaps earlier ones adds only what they did not already say about
            // these words: "European Commission President" names the EU once, "export
            // control list" is one export-controls trigger, not two agreeing ones; but the
            // strong "chip export controls" still counts after the weak "AI chip export".
            if h.overlap
                && out.get(run..own).unwrap_or_default().iter().any(|x| {
                    x.start < h.end
                        && h.start < x.end
                        && compile::target_eq(x.kind, a.kind)
                        && compile::strength_rank(x.kind) >= compile::strength_rank(a.kind)
                })
            {
                continue;
            }
            out.push(Event {
                kind: a.kind,
                field: field.which,
                start: s,
                end: e,
            });
        }
    }
}

/// Token and sentence index of every event (sorted by place); body positions continue after
/// the title's. Only anchor checks need them, so they are computed on first use.
fn place(events: &[Event], title: &str, body: &str) -> Vec<(u32, u32)> {
    let split = events.partition_point(|e| e.field == TextField::Title);
    let mut pos: Vec<(usize, u32, u32)> = events.iter().map(|e| (e.start, 0, 0)).collect();
    let (tp, bp) = pos.split_at_mut(split);
    text::positions(
        title,
        tp,
        |p| p.0,
        |p, tok, sent| {
            p.1 = tok;
            p.2 = sent;
        },
    );
    if !bp.is_empty() {
        let (title_toks, title_sents) = text::totals(title);
        text::positions(
            body,
            bp,
            |p| p.0,
            |p, tok, sent| {
                p.1 = title_toks + tok;
                p.2 = title_sents + 1 + sent;
            },
        );
    }
    pos.into_iter().map(|(_, t, s)| (t, s)).collect()
}

/// One piece of evidence for a candidate: (policy?, id, field, normalised start, end, weight);
/// turned into `Evidence` only for returned tags. One flat list per story instead of a vector
/// per candidate.
type EvidenceRow = (bool, u16, TextField, usize, usize, f32);

pub(crate) fn tag(c: &Compiled, title: &str, body: &str) -> Vec<AutoTag> {
    tag_scored(c, title, body, false)
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

/// Buffers one tagging call needs, kept per thread so that a story costs few allocations.
#[derive(Default)]
struct Scratch {
    norm: [text::NormBuffers; 2],
    hits: Vec<Hit>,
    events: Vec<Event>,
}

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

/// All candidate tags with their scores; `true` marks those at or above the threshold. With
/// `include_below`, candidates under the threshold are returned too (the evaluation shows them
/// for misses).
pub(crate) fn tag_scored(
    c: &Compiled,
    title: &str,
    body: &str,
    include_below: bool,
) -> Vec<(AutoTag, bool)> {
    // This thread's buffers; a nested call or one during thread teardown gets fresh ones.
    let mut scratch = SCRATCH.try_with(|s| s.take()).unwrap_or_default();
    let [nt, nb] = std::mem::take(&mut scratch.norm);
    let fields = [
        Field {
            which: TextField::Title,
            orig: title,
            norm: text::normalize_into(title, nt),
            caps: std::cell::Cell::new(None),
        },
        Field {
            which: TextField::Body,
            orig: body,
            norm: text::normalize_into(body, nb),
            caps: std::cell::Cell::new(None),
        },
    ];
    let (h, evs) = (&mut scratch.hits, &mut scratch.events);
    evs.clear();
    for f in fields.iter() {
        h.clear();
        hits(c, f, h);
        events(c, f, h, evs);
    }
    let out = if evs.is_empty() {
        Vec::new()
    } else {
        score(c, &fields, evs, include_below)
    };
    scratch.norm = fields.map(|f| f.norm.into_buffers());
    // Do not keep the buffers of an unusually long story alive.
    if scratch.norm.iter().all(|n| n.capacity() <= 1 << 20) && scratch.hits.capacity() <= 1 << 16 {
        let _ = SCRATCH.try_with(|s| s.set(scratch));
    }
    out
}

/// Scoring of the events of one story.
fn score(
    c: &Compiled,
    fields: &[Field<'_>; 2],
    evs: &mut [Event],
    include_below: bool,
) -> Vec<(AutoTag, bool)> {
    let [tf, bf] = fields;
    evs.sort_by_key(|e| (e.field == TextField::Body, e.start));
    let evs: &[Event] = evs;
    let w = &c.weights;

    let anchors: Vec<(u8, usize)> = evs
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            if let ActionKind::Anchor(s) = e.kind {
                Some((s, i))
            } else {
                None
            }
        })
        .collect();
    let positions = std::cell::OnceCell::new();
    let anchored = |i: usize, mask: u64| {
        let near = |a: usize| {
            let pos: &Vec<(u32, u32)> = positions.get_or_init(|| place(evs, tf.text(), bf.text()));
            let (Some(&(at, asent)), Some(&(et, esent))) = (pos.get(a), pos.get(i)) else {
                return false;
            };
            asent == esent || at.abs_diff(et) <= w.anchor_window
        };
        anchors.iter().any(|&(set, a)| {
            mask & (1u64 << set) != 0
                && (evs.get(a).is_some_and(|a| a.field == TextField::Title) || near(a))
        })
    };
    let contexts: Vec<(u16, u8)> = evs
        .iter()
        .filter_map(|e| {
            if let ActionKind::Context { amb, option } = e.kind {
                Some((amb, option))
            } else {
                None
            }
        })
        .collect();
    let vetoed: Vec<u16> = evs
        .iter()
        .filter_map(|e| {
            if let ActionKind::Veto(a) = e.kind {
                Some(a)
            } else {
                None
            }
        })
        .collect();

    // Terms whose other meaning the story spells out ("BIS" beside "Bank for International
    // Settlements") count for nothing in it.
    let other_meaning: Vec<u16> = evs
        .iter()
        .filter_map(|e| match e.kind {
            ActionKind::OtherMeaning(k) => Some(k),
            _ => None,
        })
        .collect();
    let means_other = |e: &Event, text: &str| {
        !other_meaning.is_empty()
            && text
                .get(e.start..e.end)
                .is_some_and(|m| other_meaning.iter().any(|&k| c.is_term(k, m)))
    };

    // Stories carry a handful of candidates: small vectors beat hash maps here.
    let mut countries: Small<u16, f32> = Small(Vec::with_capacity(8));
    let mut policies: Small<u16, f32> = Small(Vec::with_capacity(8));
    let mut evidence: Vec<EvidenceRow> = Vec::with_capacity(evs.len());
    let mut repeats: Small<(u16, u32), u32> = Small::default();
    let mut weak_best: Small<(u16, u32), (f32, Event)> = Small::default();
    let mut strong_policies: Vec<u16> = Vec::new();
    let mut weak_triggers: Small<u16, Vec<u32>> = Small::default();
    for e in evs {
        if let ActionKind::Policy {
            id,
            trigger,
            strength: Strength::Weak,
        } = e.kind
        {
            let v = weak_triggers.entry(id, Vec::new);
            if !v.contains(&trigger) {
                v.push(trigger);
            }
        }
    }

    for (ei, e) in evs.iter().enumerate() {
        let field = if e.field == TextField::Title { tf } else { bf };
        let title_factor = if e.field == TextField::Title {
            w.title_factor
        } else {
            1.0
        };
        if matches!(
            e.kind,
            ActionKind::Country { .. } | ActionKind::Ambiguous(_) | ActionKind::Policy { .. }
        ) && means_other(e, field.text())
        {
            continue;
        }
        match e.kind {
            ActionKind::Country {
                id,
                mention,
                anchored: needs_anchor,
            } => {
                if needs_anchor && !anchored(ei, c.tech_mask) {
                    continue;
                }
                let wt = country_weight(c, field, e, mention) * title_factor;
                add(&mut countries, &mut evidence, false, id, wt, e);
            }
            ActionKind::Ambiguous(amb) => {
                let Some(rule) = c.ambiguous.get(amb as usize) else {
                    continue;
                };
                if vetoed.contains(&amb) {
                    continue;
                }
                let text = field.text();
                if rule.given_name && looks_like_person(text, e.start, e.end) {
                    continue;
                }
                let chosen = rule
                    .options
                    .iter()
                    .enumerate()
                    .find(|(oi, _)| contexts.contains(&(amb, *oi as u8)))
                    .map(|(_, o)| *o)
                    .or_else(|| {
                        let risky = (rule.start_needs_context
                            && text::at_sentence_start(text, e.start))
                            || field.is_caps(e.start);
                        if risky { None } else { rule.fallback }
                    });
                if let Some((id, mention)) = chosen {
                    let wt = country_weight(c, field, e, mention) * title_factor;
                    add(&mut countries, &mut evidence, false, id, wt, e);
                }
            }
            ActionKind::Policy {
                id,
                trigger,
                strength,
            } => {
                let own = c
                    .trigger_anchors
                    .get(trigger as usize)
                    .copied()
                    .unwrap_or(0);
                let mask = if own != 0 {
                    own
                } else {
                    c.policy_anchors.get(id as usize).copied().unwrap_or(0)
                };
                // "carries no sanctions": a negated trigger says the opposite.
                let negated = || {
                    text::prev_words(field.text(), e.start, 2)
                        .iter()
                        .any(|p| c.negation_words.contains(p))
                };
                // "AI chips" beside "export controls": the strong "AI chip(s) + export".
                let promoted = || {
                    let sets = c
                        .trigger_promote
                        .get(trigger as usize)
                        .copied()
                        .unwrap_or(0);
                    sets != 0 && anchored(ei, sets)
                };
                match strength {
                    Strength::Strong => {}
                    // Ambiguous acronyms (TPP, BIS, CAC) need a tech anchor (or their own set).
                    Strength::Anchored
                        if anchored(ei, if own != 0 { own } else { c.tech_mask }) => {}
                    Strength::Anchored => continue,
                    Strength::Weak if promoted() => {}
                    Strength::Weak => {
                        let need = c.policy_agree.get(id as usize).copied().unwrap_or(0);
                        let agree = need > 0
                            && weak_triggers
                                .get(&id)
                                .is_some_and(|v| v.len() >= need as usize);
                        if (agree || anchored(ei, mask)) && !negated() {
                            // A weak trigger counts once, at its best place (title over body).
                            let best = weak_best.entry((id, trigger), || (0.0, *e));
                            if title_factor * w.weak > best.0 {
                                *best = (title_factor * w.weak, *e);
                            }
                        }
                        continue;
                    }
                }
                if negated() {
                    continue;
                }
                let n = repeats.entry((id, trigger), || 0);
                *n += 1;
                if *n > w.max_repeats {
                    continue;
                }
                strong_policies.push(id);
                add(
                    &mut policies,
                    &mut evidence,
                    true,
                    id,
                    w.strong * title_factor,
                    e,
                );
            }
            _ => {}
        }
    }

    let mut weak = weak_best.0;
    weak.sort_by_key(|(k, _)| *k);
    for ((id, _), (weight, e)) in weak {
        add(&mut policies, &mut evidence, true, id, weight, &e);
    }

    // A policy with only weak evidence yields to a policy it defers to that fired.
    let fired: Vec<u16> = policies
        .0
        .iter()
        .filter(|(_, s)| *s >= w.policy_threshold)
        .map(|(id, _)| *id)
        .collect();
    policies.0.retain(|(id, _)| {
        strong_policies.contains(id)
            || !c
                .policy_yields
                .get(*id as usize)
                .is_some_and(|ys| ys.iter().any(|y| fired.contains(y)))
    });

    let mut out = Vec::with_capacity(countries.0.len() + policies.0.len());
    let mut push = |map: Small<u16, f32>,
                    is_policy: bool,
                    threshold: f32,
                    make: &dyn Fn(u16) -> Option<Tag>| {
        let mut v: Vec<_> = map
            .0
            .into_iter()
            .filter(|(_, s)| include_below || *s >= threshold)
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for (id, score) in v {
            if let Some(tag) = make(id) {
                let fired = score >= threshold;
                let evidence = evidence
                    .iter()
                    .filter(|r| r.0 == is_policy && r.1 == id)
                    .map(|&(_, _, which, start, end, weight)| {
                        let field = if which == TextField::Title { tf } else { bf };
                        field.evidence(start, end, weight)
                    })
                    .collect();
                out.push((
                    AutoTag {
                        tag,
                        score,
                        evidence,
                    },
                    fired,
                ));
            }
        }
    };
    push(countries, false, w.country_threshold, &|id| {
        c.countries.get(id as usize).map(|s| Tag::country(s))
    });
    push(policies, true, w.policy_threshold, &|id| {
        c.policies.get(id as usize).map(|s| Tag::policy(s))
    });
    out
}

fn add(
    map: &mut Small<u16, f32>,
    evidence: &mut Vec<EvidenceRow>,
    is_policy: bool,
    id: u16,
    weight: f32,
    e: &Event,
) {
    if weight <= 0.0 {
        return;
    }
    *map.entry(id, || 0.0) += weight;
    evidence.push((is_policy, id, e.field, e.start, e.end, weight));
}

/// A tiny map for the few keys one story produces.
struct Small<K, V>(Vec<(K, V)>);

impl<K, V> Default for Small<K, V> {
    fn default() -> Self {
        Small(Vec::new())
    }
}

impl<K: PartialEq + Copy, V> Small<K, V> {
    fn entry(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        let idx = match self.0.iter().position(|(x, _)| *x == k) {
            Some(i) => i,
            None => {
                self.0.push((k, make()));
                self.0.len() - 1
            }
        };
        // `idx` is in range by construction; fall back to the last entry to stay panic-free.
        let last = self.0.len().saturating_sub(1);
        &mut self.0[idx.min(last)].1
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.0.iter().find(|(x, _)| x == k).map(|(_, v)| v)
    }
}

/// Base weight of a mention adjusted by its neighbours: a demonym describing a firm counts as
/// a company, one describing a state body as an agency, a capital after "in"/"at" is a venue, a mention after "than"/"matching" a
/// comparison.
fn country_weight(c: &Compiled, field: &Field<'_>, e: &Event, mention: Mention) -> f32 {
    let w = &c.weights;
    let text = field.text();
    let mut weight = mention.weight(w);
    if mention == Mention::Demonym {
        let next = text::next_words(text, e.end, 4);
        let firm = next
            .iter()
            .take_while(|x| c.firm_modifiers.contains(x) || c.firm_nouns.contains(x))
            .any(|x| c.firm_nouns.contains(x));
        // "Chinese regulators" is the state acting, as strong as naming the agency; a bare
        // demonym ("Chinese nationals") stays below the threshold on its own.
        let state = || {
            next.iter()
                .take_while(|x| c.state_modifiers.contains(x) || c.state_nouns.contains(x))
                .any(|x| c.state_nouns.contains(x))
        };
        if firm {
            weight = weight.min(w.company);
        } else if state() {
            weight = weight.max(w.agency);
        }
    }
    let prev = text::prev_words(text, e.start, 4);
    if matches!(mention, Mention::Metonym | Mention::Place | Mention::City)
        && prev.first().is_some_and(|p| c.venue_words.contains(p))
    {
        weight *= w.venue_factor;
    }
    if prev.iter().any(|p| c.comparison_words.contains(p)) {
        weight *= w.comparison_factor;
    }
    weight
}

/// "Jordan Whitley", "Michael Jordan": a capitalised word right after, or a capitalised word
/// right before that does not start the sentence.
fn looks_like_person(text: &str, start: usize, end: usize) -> bool {
    let rest = text.get(end..).unwrap_or_default();
    if let Some(after) = rest.strip_prefix(' ') {
        let mut chars = after.chars();
        if chars.next().is_some_and(char::is_uppercase)
            && chars.next().is_some_and(char::is_lowercase)
        {
            return true;
        }
    }
    let head = text.get(..start).unwrap_or_default();
    if let Some(before) = head.strip_suffix(' ') {
        let word_start = before
            .char_indices()
            .rev()
            .find(|&(_, ch)| !is_word_char(ch))
            .map_or(0, |(i, ch)| i + ch.len_utf8());
        let word = before.get(word_start..).unwrap_or_default();
        let mut chars = word.chars();
        if chars.next().is_some_and(char::is_uppercase)
            && chars.all(char::is_lowercase)
            && !text::at_sentence_start(text, word_start)
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::Input;

    /// Every candidate tag (fired or not) as "tag score: phrase, phrase".
    fn candidates(tagger: &crate::classify::Tagger, title: &str, body: &str) -> Vec<String> {
        tag_scored(&tagger.compiled, title, body, true)
            .into_iter()
            .map(|(t, _)| {
                let phrases: Vec<&str> = t.evidence.iter().map(|e| e.phrase.as_str()).collect();
                format!("{} {:.1}: {}", t.tag, t.score, phrases.join(", "))
            })
            .collect()
    }

    /// Some candidate `tag` has `phrase` among its evidence (whatever its weight).
    fn cites(found: &[String], tag: &str, phrase: &str) -> bool {
        found.iter().any(|f| {
            f.strip_prefix(tag)
                .and_then(|rest| rest.split_once(": "))
                .is_some_and(|(_, phrases)| phrases.split(", ").any(|p| p == phrase))
        })
    }

    fn fired(tagger: &crate::classify::Tagger, title: &str, body: &str) -> Vec<String> {
        tagger
            .tag(title, body)
            .into_iter()
            .map(|t| t.tag.to_string())
            .collect()
    }

    /// An anchor that a trigger overlaps: "Chinese AI" (a foreign-tech anchor) no longer hides
    /// "AI chips" (ai-chip-controls), QA7 q305.
    #[test]
    fn an_anchor_does_not_hide_the_trigger_it_overlaps() {
        let tagger = crate::classify::Tagger::builtin();
        let found = candidates(
            &tagger,
            "BIS says using Huawei Ascend chips anywhere may violate US export controls",
            "The Bureau of Industry and Security guidance warns companies worldwide against \
             using the Chinese AI chips.",
        );
        assert!(
            cites(&found, "policy:ai-chip-controls", "AI chips"),
            "{found:?}"
        );
        // The anchor still counts, and "Chinese" inside it names China.
        let found = candidates(
            &tagger,
            "",
            "Regulators restricted sales of Chinese AI chips.",
        );
        assert!(
            found.contains(&"country:CN 0.8: Chinese".to_string())
                && cites(&found, "policy:ai-chip-controls", "AI chips"),
            "{found:?}"
        );
    }

    /// A weak trigger that a strong one overlaps: "AI chip export" (weak) no longer hides
    /// "chip export controls" (strong, same policy), nor "foreign investment" (weak) the strong
    /// "investment screening" of another policy.
    #[test]
    fn a_weak_trigger_does_not_hide_the_strong_one_it_overlaps() {
        let tagger = crate::classify::Tagger::builtin();
        let tags = fired(
            &tagger,
            "",
            "Washington tightened AI chip export controls on Tuesday.",
        );
        assert!(tags.contains(&"policy:ai-chip-controls".into()), "{tags:?}");
        let tags = fired(
            &tagger,
            "",
            "The sale was reviewed under the country's foreign investment screening rules.",
        );
        assert!(
            tags.contains(&"policy:investment-screening".into()),
            "{tags:?}"
        );
    }

    /// A match refused at its end ("the app" in "the Apple") no longer hides the word that
    /// begins inside it.
    #[test]
    fn a_refused_match_does_not_hide_what_begins_inside_it() {
        let tagger = crate::classify::Tagger::builtin();
        let found = candidates(
            &tagger,
            "",
            "It streams to the Apple TV and the Apple Watch.",
        );
        assert!(
            found.contains(&"country:US 1.0: Apple, Apple".to_string()),
            "{found:?}"
        );
    }

    /// What overlapping matches say twice about the same words counts once: "European
    /// Commission President" names the EU once (two agencies overlap on "Commission"), and
    /// "export control list" is one export-controls trigger, not two that agree.
    #[test]
    fn overlapping_matches_do_not_count_the_same_words_twice() {
        let tagger = crate::classify::Tagger::builtin();
        let found = candidates(&tagger, "", "European Commission President Ursula spoke.");
        assert!(
            found.contains(&"country:EU 1.0: European Commission".to_string()),
            "{found:?}"
        );
        let found = candidates(&tagger, "", "Open the export control list in the editor.");
        assert!(
            found.contains(&"policy:export-controls 0.0: ".to_string())
                || !found
                    .iter()
                    .any(|f| f.starts_with("policy:export-controls")),
            "{found:?}"
        );
    }

    /// A stop-phrase still hides what starts inside it: "energy tariff rate" has no "tariff
    /// rate" (a strong tariffs trigger).
    #[test]
    fn a_stop_phrase_still_hides_what_starts_inside_it() {
        let tagger = crate::classify::Tagger::builtin();
        let tags = fired(&tagger, "", "The energy tariff rate rises in October.");
        assert!(!tags.contains(&"policy:tariffs".into()), "{tags:?}");
    }

    /// A longer pattern inherits both of two overlapping patterns inside it, as the scan finds
    /// both in the text (here a made-up company name holding "Chinese AI" and "AI chips").
    #[test]
    fn a_pattern_inherits_both_of_two_overlapping_inner_patterns() {
        let tagger = crate::classify::Tagger::with_overlay(
            "[[country]]\ncode = \"CN\"\ncompanies = [\"Chinese AI chips alliance\"]\n",
        )
        .unwrap();
        let found = candidates(
            &tagger,
            "",
            "The Chinese AI chips alliance faces export curbs.",
        );
        assert!(
            cites(&found, "policy:ai-chip-controls", "AI chips"),
            "{found:?}"
        );
    }

    /// The hand-written loop leans on the library's internals: it must find exactly what the
    /// library's own search finds, on text made of pattern pieces, at every start and a few ends.
    /// A small deterministic random source (xorshift): `pick(n)` is in `0..n`.
    fn picker(mut seed: u64) -> impl FnMut(usize) -> usize {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        }
    }

    #[test]
    fn word_start_walks_find_every_hit_of_the_full_scan() {
        let tagger = crate::classify::Tagger::builtin();
        let c = &tagger.compiled;
        let patterns: Vec<&str> = c
            .patterns
            .iter()
            .map(|p| p.text.as_str())
            .filter(|t| t.is_ascii())
            .collect();
        let fillers = [
            " ", "the ", "x", "-", "'s ", "A", "and ", "U.S. ", "ai ", "Chin", "\n", "US ",
        ];
        let mut pick = picker(0x0fed_cba9_8765_4321u64);
        for _ in 0..3000 {
            let mut hay = String::new();
            let spaced = pick(2) == 0;
            for _ in 0..1 + pick(10) {
                if spaced {
                    hay.push(' ');
                }
                if pick(2) == 0 {
                    let p = patterns[pick(patterns.len())];
                    match pick(4) {
                        0 => hay.push_str(&p.to_uppercase()),
                        1 => hay.push_str(&p[..pick(p.len() + 1)]),
                        _ => hay.push_str(p),
                    }
                } else {
                    hay.push_str(fillers[pick(fillers.len())]);
                }
            }
            let field = Field {
                which: TextField::Body,
                orig: &hay,
                norm: text::normalize(&hay),
                caps: std::cell::Cell::new(None),
            };
            let (mut walked, mut scanned) = (Vec::new(), Vec::new());
            hits_at_word_starts(c, &field, &mut walked);
            hits_anywhere(c, &field, &mut scanned);
            let key = |h: &Hit| (h.pat, h.start, h.end);
            let walked: Vec<_> = walked.iter().map(key).collect();
            let scanned: Vec<_> = scanned.iter().map(key).collect();
            // The walk may find more: a refused match inside a word no longer hides an
            // overlapping one at a word start. It never finds less.
            for h in &scanned {
                assert!(walked.contains(h), "{hay:?}: {h:?} missing from {walked:?}");
            }
            // With a space between the pieces, nothing overlaps a word: both agree.
            if spaced {
                assert_eq!(walked, scanned, "{hay:?}");
            }
        }
    }

    #[test]
    fn find_agrees_with_the_library_search() {
        let tagger = crate::classify::Tagger::builtin();
        let c = &tagger.compiled;
        let patterns: Vec<&str> = c.patterns.iter().map(|p| p.text.as_str()).collect();
        let fillers = [
            " ", "the ", "x", "-", "'s ", "A", "and ", "\u{e9}", "U.S. ", "ai ", "Chin",
        ];
        let mut pick = picker(0x1234_5678_9abc_def0u64);
        for _ in 0..1500 {
            let mut hay = String::new();
            for _ in 0..1 + pick(8) {
                if pick(2) == 0 {
                    let p = patterns[pick(patterns.len())];
                    let p = if pick(3) == 0 {
                        p.to_uppercase()
                    } else {
                        p.to_string()
                    };
                    let cut = if pick(4) == 0 {
                        pick(p.len() + 1)
                    } else {
                        p.len()
                    };
                    let cut = (0..=cut)
                        .rev()
                        .find(|&k| p.is_char_boundary(k))
                        .unwrap_or(0);
                    hay.push_str(&p[..cut]);
                } else {
                    hay.push_str(fillers[pick(fillers.len())]);
                }
            }
            let bytes = hay.as_bytes();
            for at in 0..=bytes.len() {
                for end in [bytes.len(), bytes.len().saturating_sub(1), at + 3] {
                    let end = end.clamp(at, bytes.len());
                    let ours = find(&c.automaton, bytes, at, end).map(|f| (f.slot, f.start, f.end));
                    let library = c
                        .automaton
                        .try_find(&Input::new(bytes).span(at..end))
                        .unwrap()
                        .map(|m| (m.pattern().as_usize(), m.start(), m.end()));
                    assert_eq!(ours, library, "{hay:?} {at}..{end}");
                }
            }
        }
    }
}
