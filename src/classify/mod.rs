//! Country and policy tagging (issue 4).
//!
//! Rules are data: `data/taxonomy.toml` (the 18 policy ids with strong, anchored and weak
//! triggers, tech anchors, stop-phrases) and `data/countries.toml` (our overlay gazetteer:
//! aliases, metonyms, agencies, companies, places, ambiguous names) ship inside the binary;
//! country names and demonyms come from the `keshvar` crate. Users extend the rules with a
//! file of the same format ([`Tagger::with_overlay`]).
//!
//! Tagging is one leftmost-longest aho-corasick pass over title and body (plus, after a match,
//! the matches that start inside it and run past its end, so that overlapping phrases do not
//! hide each other), followed by word-boundary and case filters, context rules and scoring;
//! every tag keeps the phrases that produced it as [`Evidence`](crate::model::Evidence).

mod compile;
pub mod eval;
mod rules;
mod scan;
mod text;

#[cfg(test)]
mod pitfalls;

use crate::model::AutoTag;

const TAXONOMY: &str = include_str!("data/taxonomy.toml");
const COUNTRIES: &str = include_str!("data/countries.toml");

/// Why rules could not be loaded or an evaluation file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("{origin}: {message}")]
    Toml { origin: String, message: String },
    #[error("{origin}, line {line}, key `{key}`: {message}")]
    Rule {
        origin: String,
        line: usize,
        key: String,
        message: String,
    },
    #[error("building the tagger: {0}")]
    Build(String),
    #[error("evaluation set, line {line}: {message}")]
    EvalLine { line: usize, message: String },
}

/// The rule-based tagger. Built once (building compiles the automata), shared by every ingest;
/// it is `Send + Sync` and tagging takes `&self`.
#[derive(Debug)]
pub struct Tagger {
    compiled: compile::Compiled,
}

/// The policy ids there are, built in and added by a user rules file (`overlay`, its text),
/// in rule order, read without building a tagger: cheap enough to check a config with.
/// Fails as [`Tagger::with_overlay`] would on a file it cannot parse.
pub fn policy_ids(overlay: Option<&str>) -> Result<Vec<String>, ClassifyError> {
    let mut files = vec![rules::parse("built-in taxonomy.toml", TAXONOMY)?];
    if let Some(text) = overlay {
        files.push(rules::parse("overlay", text)?);
    }
    let mut ids: Vec<String> = Vec::new();
    for policy in files.iter().flat_map(|f| &f.policies) {
        if !ids.contains(policy.id.get_ref()) {
            ids.push(policy.id.get_ref().clone());
        }
    }
    Ok(ids)
}

impl Tagger {
    /// The rules shipped inside the binary.
    ///
    /// The built-in data is part of the program and covered by tests, so a failure here is a
    /// bug in this crate, not bad input; [`Tagger::try_builtin`] returns it as an error instead.
    #[allow(clippy::expect_used)]
    pub fn builtin() -> Tagger {
        Tagger::try_builtin().expect("built-in tagging rules are valid (tested)")
    }

    /// The built-in rules, reporting a broken data file as an error.
    pub fn try_builtin() -> Result<Tagger, ClassifyError> {
        Tagger::from_sources(&[])
    }

    /// The built-in rules extended by a user rules file in the same TOML format as the
    /// built-in data files: extra triggers for a policy (or a new policy), aliases, agencies,
    /// companies or places for a country, stop-phrases, ambiguous names, changed weights.
    /// Errors name the line and key.
    pub fn with_overlay(extra_rules_toml: &str) -> Result<Tagger, ClassifyError> {
        Tagger::from_sources(&[("overlay", extra_rules_toml)])
    }

    fn from_sources(extra: &[(&str, &str)]) -> Result<Tagger, ClassifyError> {
        let mut files = vec![
            rules::parse("built-in taxonomy.toml", TAXONOMY)?,
            rules::parse("built-in countries.toml", COUNTRIES)?,
        ];
        for (origin, text) in extra {
            files.push(rules::parse(origin, text)?);
        }
        Ok(Tagger {
            compiled: compile::compile(&files)?,
        })
    }

    /// Tags for one story, from its title and body: countries first, then policies, each
    /// group by descending score, every tag with its evidence.
    pub fn tag(&self, title: &str, body: &str) -> Vec<AutoTag> {
        scan::tag(&self.compiled, title, body)
    }

    /// The policy ids the rules know, in rule order.
    pub fn policy_ids(&self) -> &[String] {
        &self.compiled.policies
    }

    /// Every phrase of the lexicon with the country code or policy id it stands for, ignoring
    /// all context rules: the naive keyword baseline of the evaluation.
    pub(crate) fn lexicon(&self) -> Vec<(String, Option<String>, Option<String>)> {
        let c = &self.compiled;
        let mut out = Vec::new();
        for p in &c.patterns {
            for a in &p.actions {
                let (country, policy) = match a.kind {
                    compile::ActionKind::Country { id, .. } => {
                        (c.countries.get(id as usize).cloned(), None)
                    }
                    compile::ActionKind::Ambiguous(amb) => {
                        let rule = c.ambiguous.get(amb as usize);
                        let id = rule
                            .and_then(|r| r.fallback.or(r.options.first().copied()))
                            .map(|x| x.0);
                        (
                            id.and_then(|id| c.countries.get(id as usize).cloned()),
                            None,
                        )
                    }
                    compile::ActionKind::Policy { id, .. } => {
                        (None, c.policies.get(id as usize).cloned())
                    }
                    _ => continue,
                };
                let phrase = match a.sub {
                    Some((s, e)) => p
                        .text
                        .get(s as usize..e as usize)
                        .unwrap_or_default()
                        .to_string(),
                    None => p.text.clone(),
                };
                out.push((phrase, country, policy));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn builtin_rules_load_and_tagger_is_shareable() {
        assert_send_sync::<Tagger>();
        let t = Tagger::try_builtin().unwrap();
        assert_eq!(t.policy_ids().len(), 18, "{:?}", t.policy_ids());
        // The cheap list a config is checked against is the tagger's own.
        assert_eq!(policy_ids(None).unwrap(), t.policy_ids());
        let overlay = "[[policy]]\nid = \"quantum-controls\"\nstrong = [\"q rule\"]\n";
        assert_eq!(
            policy_ids(Some(overlay)).unwrap(),
            Tagger::with_overlay(overlay).unwrap().policy_ids()
        );
    }

    #[test]
    fn overlay_adds_rules_and_reports_errors() {
        let t = Tagger::with_overlay(
            "[[country]]\ncode = \"NL\"\nagencies = [\"Ministry of Foreign Trade and Development\"]\n\
             [[policy]]\nid = \"quantum-controls\"\nstrong = [\"quantum computing export rule\"]\n",
        )
        .unwrap();
        let tags = t.tag(
            "Ministry of Foreign Trade and Development issues quantum computing export rule",
            "",
        );
        let names: Vec<String> = tags.iter().map(|t| t.tag.to_string()).collect();
        assert!(names.contains(&"country:NL".to_string()), "{names:?}");
        assert!(
            names.contains(&"policy:quantum-controls".to_string()),
            "{names:?}"
        );

        let err = Tagger::with_overlay("[[country]]\ncode = \"ZZ\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("country.code"),
            "{err}"
        );
        let err = Tagger::with_overlay("[[policy]\n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
