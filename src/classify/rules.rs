//! The rule files: TOML schema, parsing with line numbers in errors, validation and merging.
//!
//! The built-in files (`data/taxonomy.toml`, `data/countries.toml`) and any user overlay share
//! one schema, so an overlay can add triggers to a policy, a new policy, aliases to a country,
//! stop-phrases or ambiguous names. See the header of `data/taxonomy.toml` for the format.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::ClassifyError;

/// One rule file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RulesFile {
    #[serde(default)]
    pub weights: Option<WeightsFile>,
    #[serde(default)]
    pub context: Option<ContextFile>,
    #[serde(default, rename = "anchor_set")]
    pub anchor_sets: Vec<AnchorSetFile>,
    #[serde(default, rename = "policy")]
    pub policies: Vec<PolicyFile>,
    #[serde(default)]
    pub stop: Option<StopFile>,
    #[serde(default)]
    pub keshvar: Option<KeshvarFile>,
    #[serde(default, rename = "country")]
    pub countries: Vec<CountryFile>,
    #[serde(default, rename = "ambiguous")]
    pub ambiguous: Vec<AmbiguousFile>,
    #[serde(default, rename = "other_meaning")]
    pub other_meanings: Vec<OtherMeaningFile>,
}

/// A trigger with another common meaning that a story can make plain: where any of `cues`
/// appears ("Bank for International Settlements"), `term` ("BIS") counts for no country or
/// policy anywhere in that story.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OtherMeaningFile {
    pub term: Spanned<String>,
    pub cues: Vec<String>,
}

/// Scores and thresholds; every field optional so an overlay can change one.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WeightsFile {
    pub name: Option<f32>,
    pub demonym: Option<f32>,
    pub metonym: Option<f32>,
    pub agency: Option<f32>,
    pub company: Option<f32>,
    pub place: Option<f32>,
    pub city: Option<f32>,
    pub media: Option<f32>,
    pub country_threshold: Option<f32>,
    pub strong: Option<f32>,
    pub weak: Option<f32>,
    pub title_factor: Option<f32>,
    pub policy_threshold: Option<f32>,
    pub venue_factor: Option<f32>,
    pub comparison_factor: Option<f32>,
    pub anchor_window: Option<u32>,
    /// How many occurrences of one strong trigger count towards a score (repetition is not
    /// evidence).
    pub max_repeats: Option<u32>,
    /// How many different weak triggers of a policy must agree to count without an anchor
    /// (0 = never).
    pub min_agreeing: Option<u32>,
}

/// Words that change the weight of a neighbouring country mention.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContextFile {
    /// A metonym right after one of these is a venue or dateline ("talks in Geneva").
    #[serde(default)]
    pub venue_words: Vec<String>,
    /// A mention shortly after one of these is a comparison ("rates matching Taiwan's").
    #[serde(default)]
    pub comparison_words: Vec<String>,
    /// A demonym right before one of these describes a company, weighted like a company.
    #[serde(default)]
    pub firm_nouns: Vec<String>,
    /// Words that may sit between the demonym and the firm noun ("Chinese AI start-up").
    #[serde(default)]
    pub firm_modifiers: Vec<String>,
    /// A demonym right before one of these names a state actor, weighted like an agency
    /// ("Chinese regulators").
    #[serde(default)]
    pub state_nouns: Vec<String>,
    /// Words that may sit between the demonym and the state noun ("Chinese trade ministry").
    #[serde(default)]
    pub state_modifiers: Vec<String>,
    /// A policy trigger right after one of these is negated ("carries no sanctions").
    #[serde(default)]
    pub negation_words: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnchorSetFile {
    pub id: Spanned<String>,
    #[serde(default)]
    pub phrases: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyFile {
    pub id: Spanned<String>,
    /// Fire alone.
    #[serde(default)]
    pub strong: Vec<String>,
    /// Strong weight, but only with an anchor nearby (ambiguous acronyms such as `BIS`).
    #[serde(default)]
    pub anchored: Vec<String>,
    /// Count only with an anchor nearby or when two different weak triggers agree.
    #[serde(default)]
    pub weak: Vec<String>,
    /// Which anchor sets count for `anchored` and `weak` (default: `tech`).
    #[serde(default)]
    pub anchors: Option<Vec<Spanned<String>>>,
    /// Weak triggers with their own anchor sets.
    #[serde(default)]
    pub weak_with: Vec<WeakWith>,
    /// Anchored acronyms with their own anchor sets (default for `anchored`: `tech`).
    #[serde(default)]
    pub anchored_with: Vec<WeakWith>,
    /// Weak triggers (counted as `weak` ones otherwise) that weigh as strong ones where an
    /// anchor of these sets is near: the "X + Y" strong triggers of taxonomy.md ("AI chip(s) +
    /// export").
    #[serde(default)]
    pub strong_with: Vec<WeakWith>,
    /// How many different weak triggers must agree to count without an anchor (0 = never);
    /// default `weights.min_agreeing`.
    #[serde(default)]
    pub agree: Option<u32>,
    /// Policies that take precedence: when one of them fires and this one has only weak
    /// evidence, this one is dropped (a smuggling case mentions chips and licences, but its
    /// instrument is enforcement).
    #[serde(default)]
    pub yields_to: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WeakWith {
    pub anchors: Vec<Spanned<String>>,
    pub phrases: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StopFile {
    #[serde(default)]
    pub phrases: Vec<String>,
}

/// How the country names and demonyms of the `keshvar` crate are taken in.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeshvarFile {
    /// Names that are ordinary words or foreign forms that collide with English ("Island").
    #[serde(default)]
    pub exclude_names: Vec<String>,
    #[serde(default)]
    pub exclude_demonyms: Vec<String>,
    /// Demonyms keshvar gives to several countries, resolved to one ("Dutch" → NL).
    #[serde(default)]
    pub demonym_owner: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CountryFile {
    pub code: Spanned<String>,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub demonyms: Vec<String>,
    #[serde(default)]
    pub metonyms: Vec<String>,
    #[serde(default)]
    pub agencies: Vec<String>,
    /// Agency acronyms with other common meanings: count only with a tech anchor nearby.
    #[serde(default)]
    pub anchored_agencies: Vec<String>,
    #[serde(default)]
    pub companies: Vec<String>,
    /// Sub-national places (US states, regions).
    #[serde(default)]
    pub places: Vec<String>,
    /// Cities other than capitals used as metonyms.
    #[serde(default)]
    pub cities: Vec<String>,
    #[serde(default)]
    pub media: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AmbiguousFile {
    pub phrase: Spanned<String>,
    /// Also a given name: ignore when a capitalised word follows ("Jordan Whitley").
    #[serde(default)]
    pub given_name: bool,
    /// At a sentence start (where every word is capitalised) require context.
    #[serde(default)]
    pub start_needs_context: bool,
    /// Any of these in the story means the word is not a country at all.
    #[serde(default)]
    pub veto: Vec<String>,
    /// Country used when no option's context is present (and the position allows it).
    #[serde(default)]
    pub fallback: Option<Spanned<String>>,
    #[serde(default)]
    pub fallback_kind: Option<Spanned<String>>,
    #[serde(default, rename = "option")]
    pub options: Vec<AmbiguousOption>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AmbiguousOption {
    pub code: Spanned<String>,
    /// Mention kind deciding the weight (`name`, `place`, …); default `name`.
    #[serde(default)]
    pub kind: Option<Spanned<String>>,
    pub context: Vec<String>,
}

/// Parse one rule file; `origin` names it in errors.
pub(crate) fn parse(origin: &str, text: &str) -> Result<RulesFile, ClassifyError> {
    let file: RulesFile = toml::from_str(text).map_err(|e| ClassifyError::Toml {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    validate(origin, text, &file)?;
    Ok(file)
}

/// 1-based line of a byte offset, for error messages.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |s| s.matches('\n').count()) + 1
}

fn invalid<T>(
    origin: &str,
    text: &str,
    spanned: &Spanned<T>,
    key: &str,
    message: String,
) -> ClassifyError {
    ClassifyError::Rule {
        origin: origin.to_string(),
        line: line_of(text, spanned.span().start),
        key: key.to_string(),
        message,
    }
}

/// A country code the tagger may emit: an ISO 3166-1 alpha-2 code keshvar knows, or `EU`.
pub(crate) fn valid_country(code: &str) -> bool {
    code == "EU" || keshvar::Alpha2::try_from(code).is_ok()
}

pub(crate) const MENTION_KINDS: [&str; 8] = [
    "name", "demonym", "metonym", "agency", "company", "place", "city", "media",
];

fn validate(origin: &str, text: &str, file: &RulesFile) -> Result<(), ClassifyError> {
    let kebab = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let check_code = |code: &Spanned<String>, key: &str| {
        if valid_country(code.get_ref()) {
            Ok(())
        } else {
            Err(invalid(
                origin,
                text,
                code,
                key,
                format!(
                    "{:?} is not an ISO 3166-1 alpha-2 code (upper case) or EU",
                    code.get_ref()
                ),
            ))
        }
    };
    let check_kind = |kind: &Option<Spanned<String>>, key: &str| match kind {
        Some(k) if !MENTION_KINDS.contains(&k.get_ref().as_str()) => Err(invalid(
            origin,
            text,
            k,
            key,
            format!(
                "unknown mention kind {:?}; expected one of {MENTION_KINDS:?}",
                k.get_ref()
            ),
        )),
        _ => Ok(()),
    };
    for set in &file.anchor_sets {
        if !kebab(set.id.get_ref()) {
            return Err(invalid(
                origin,
                text,
                &set.id,
                "anchor_set.id",
                "use lower-case kebab-case".into(),
            ));
        }
    }
    for policy in &file.policies {
        if !kebab(policy.id.get_ref()) {
            return Err(invalid(
                origin,
                text,
                &policy.id,
                "policy.id",
                "policy ids are lower-case kebab-case".into(),
            ));
        }
        for list in [&policy.strong, &policy.anchored, &policy.weak] {
            if list.iter().any(|p| p.trim().is_empty()) {
                return Err(invalid(
                    origin,
                    text,
                    &policy.id,
                    "policy",
                    "empty trigger phrase".into(),
                ));
            }
        }
    }
    for country in &file.countries {
        check_code(&country.code, "country.code")?;
    }
    if let Some(k) = &file.keshvar {
        for code in k.demonym_owner.values() {
            check_code(code, "keshvar.demonym_owner")?;
        }
    }
    for amb in &file.ambiguous {
        if amb.phrase.get_ref().trim().is_empty() {
            return Err(invalid(
                origin,
                text,
                &amb.phrase,
                "ambiguous.phrase",
                "empty phrase".into(),
            ));
        }
        if let Some(code) = &amb.fallback {
            check_code(code, "ambiguous.fallback")?;
        }
        check_kind(&amb.fallback_kind, "ambiguous.fallback_kind")?;
        for opt in &amb.options {
            check_code(&opt.code, "ambiguous.option.code")?;
            check_kind(&opt.kind, "ambiguous.option.kind")?;
        }
    }
    Ok(())
}

/// Weights and thresholds after merging, with the defaults of the taxonomy.
#[derive(Debug, Clone)]
pub(crate) struct Weights {
    pub name: f32,
    pub demonym: f32,
    pub metonym: f32,
    pub agency: f32,
    pub company: f32,
    pub place: f32,
    pub city: f32,
    pub media: f32,
    pub country_threshold: f32,
    pub strong: f32,
    pub weak: f32,
    pub title_factor: f32,
    pub policy_threshold: f32,
    pub venue_factor: f32,
    pub comparison_factor: f32,
    pub anchor_window: u32,
    pub max_repeats: u32,
    pub min_agreeing: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            name: 1.0,
            demonym: 0.8,
            metonym: 0.8,
            agency: 1.0,
            company: 0.5,
            place: 0.7,
            city: 0.5,
            media: 0.2,
            country_threshold: 1.0,
            strong: 2.0,
            weak: 1.0,
            title_factor: 1.5,
            policy_threshold: 2.0,
            venue_factor: 0.3,
            comparison_factor: 0.3,
            anchor_window: 25,
            max_repeats: 2,
            min_agreeing: 2,
        }
    }
}

impl Weights {
    pub fn apply(&mut self, w: &WeightsFile) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = w.$f { self.$f = v; } )* };
        }
        set!(
            name,
            demonym,
            metonym,
            agency,
            company,
            place,
            city,
            media,
            country_threshold,
            strong,
            weak,
            title_factor,
            policy_threshold,
            venue_factor,
            comparison_factor,
            anchor_window,
            max_repeats,
            min_agreeing
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_line_and_key() {
        let text = "[[country]]\ncode = \"US\"\n\n[[country]]\ncode = \"XX\"\n";
        let err = parse("overlay", text).unwrap_err().to_string();
        assert!(
            err.contains("line 5") && err.contains("country.code"),
            "{err}"
        );

        let err = parse("overlay", "[[policy]]\nid = \"Bad Id\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("policy.id"), "{err}");

        let err = parse("overlay", "[[policy]]\nid = \"x\"\nstrogn = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("strogn") && err.contains("line 3"), "{err}");
    }
}
