//! Measured tagging quality (issue 4, point 5): run the tagger over a labeled JSONL set and
//! report per-label precision/recall/F1, micro and macro averages for countries and policies,
//! the errors with their evidence, policy tags on hard negatives, and the same figures for a
//! naive baseline (case-insensitive substring matching of the same lexicon, no context rules).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use aho_corasick::AhoCorasick;
use serde::Deserialize;

use super::{ClassifyError, Tagger, scan};
use crate::model::{Evidence, TagKind, TextField};

#[derive(Debug, Deserialize)]
struct Item {
    #[serde(default)]
    id: Option<String>,
    title: String,
    #[serde(default, alias = "body")]
    summary: String,
    /// Required (checked after parsing, for a clearer message than serde's): an item without
    /// its labels would count every tag the tagger finds as wrong and measure nothing.
    #[serde(default)]
    countries: Option<Vec<String>>,
    #[serde(default)]
    policies: Option<Vec<String>>,
    #[serde(default)]
    kind: Option<String>,
}

/// Precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Prf {
    fn from_counts(tp: usize, fp: usize, fn_: usize) -> Prf {
        let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        let f1 = if tp + fp + fn_ == 0 {
            1.0
        } else {
            2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
        };
        Prf {
            precision,
            recall,
            f1,
        }
    }
}

/// Counts for one label.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelStats {
    pub label: String,
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

impl LabelStats {
    pub fn prf(&self) -> Prf {
        Prf::from_counts(self.tp, self.fp, self.fn_)
    }
}

/// One family of labels (countries or policies).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupReport {
    pub labels: Vec<LabelStats>,
    pub micro: Prf,
    /// Mean F1 (and P, R) over labels present in the gold set or the predictions.
    pub macro_avg: Prf,
}

impl GroupReport {
    fn from_counts(counts: BTreeMap<String, LabelStats>) -> GroupReport {
        let labels: Vec<LabelStats> = counts.into_values().collect();
        let (tp, fp, fn_) = labels
            .iter()
            .fold((0, 0, 0), |(a, b, c), l| (a + l.tp, b + l.fp, c + l.fn_));
        let n = labels.len().max(1) as f64;
        let sum = labels
            .iter()
            .map(LabelStats::prf)
            .fold(Prf::default(), |acc, p| Prf {
                precision: acc.precision + p.precision,
                recall: acc.recall + p.recall,
                f1: acc.f1 + p.f1,
            });
        let macro_avg = if labels.is_empty() {
            Prf {
                precision: 1.0,
                recall: 1.0,
                f1: 1.0,
            }
        } else {
            Prf {
                precision: sum.precision / n,
                recall: sum.recall / n,
                f1: sum.f1 / n,
            }
        };
        GroupReport {
            micro: Prf::from_counts(tp, fp, fn_),
            macro_avg,
            labels,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    FalsePositive,
    FalseNegative,
}

/// A wrong or missed tag, with the evidence the tagger had (for a miss: what it found below
/// the threshold, if anything).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorCase {
    pub id: String,
    pub title: String,
    pub kind: ErrorKind,
    pub tag: String,
    pub score: f32,
    pub evidence: Vec<Evidence>,
}

/// The result of [`evaluate`]; `Display` prints the full report.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    pub stories: usize,
    pub hard_negatives: usize,
    pub countries: GroupReport,
    pub policies: GroupReport,
    pub baseline_countries: GroupReport,
    pub baseline_policies: GroupReport,
    pub errors: Vec<ErrorCase>,
    /// Policy tags the tagger put on stories of kind `negative`.
    pub hard_negative_hits: Vec<ErrorCase>,
    /// Same count for the baseline.
    pub baseline_hard_negative_hits: usize,
}

type Labels = (BTreeSet<String>, BTreeSet<String>);

/// The naive baseline: every phrase of the lexicon, matched case-insensitively anywhere.
struct Naive {
    ac: Option<AhoCorasick>,
    targets: Vec<(Option<String>, Option<String>)>,
}

impl Naive {
    fn new(tagger: &Tagger) -> Naive {
        let lex = tagger.lexicon();
        let phrases: Vec<String> = lex.iter().map(|(p, _, _)| p.to_lowercase()).collect();
        let targets = lex.into_iter().map(|(_, c, p)| (c, p)).collect();
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&phrases)
            .ok();
        Naive { ac, targets }
    }

    fn tag(&self, title: &str, body: &str) -> Labels {
        let mut out = Labels::default();
        let Some(ac) = &self.ac else { return out };
        for text in [title, body] {
            let lower = text.to_lowercase();
            for m in ac.find_overlapping_iter(&lower) {
                if let Some((c, p)) = self.targets.get(m.pattern().as_usize()) {
                    out.0.extend(c.iter().cloned());
                    out.1.extend(p.iter().cloned());
                }
            }
        }
        out
    }
}

fn count(
    counts: &mut BTreeMap<String, LabelStats>,
    gold: &BTreeSet<String>,
    pred: &BTreeSet<String>,
) {
    for l in gold.union(pred) {
        let e = counts.entry(l.clone()).or_insert_with(|| LabelStats {
            label: l.clone(),
            ..Default::default()
        });
        match (gold.contains(l), pred.contains(l)) {
            (true, true) => e.tp += 1,
            (false, true) => e.fp += 1,
            (true, false) => e.fn_ += 1,
            (false, false) => {}
        }
    }
}

/// serde_json's message without its "at line 1 column N": each item is one line, which the
/// caller names, so only the column says more.
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&position) {
        Some(message) if e.column() > 0 => format!("{message} (column {})", e.column()),
        Some(message) => message.to_string(),
        None => text,
    }
}

/// Why [`evaluate_file`] failed, naming the file (and the line, for a bad item).
#[derive(Debug, thiserror::Error)]
pub enum EvalFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: std::path::PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {source}")]
    Other {
        path: std::path::PathBuf,
        #[source]
        source: ClassifyError,
    },
}

/// [`evaluate`] on a file, whose errors name it as `FILE:LINE: …`.
pub fn evaluate_file(tagger: &Tagger, path: &std::path::Path) -> Result<EvalReport, EvalFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    evaluate(tagger, &text).map_err(|e| match e {
        ClassifyError::EvalLine { line, message } => EvalFileError::Line {
            path: path.to_path_buf(),
            line,
            message,
        },
        source => EvalFileError::Other {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Evaluate `tagger` on a JSONL set (fields `title`, `summary`, `countries`, `policies`,
/// optional `id`, `kind`). Blank lines are skipped; a malformed line is an error naming it.
pub fn evaluate(tagger: &Tagger, jsonl_text: &str) -> Result<EvalReport, ClassifyError> {
    let naive = Naive::new(tagger);
    let mut items = Vec::new();
    for (i, line) in jsonl_text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let item: Item = serde_json::from_str(line).map_err(|e| ClassifyError::EvalLine {
            line: i + 1,
            message: json_message(&e),
        })?;
        let missing: Vec<&str> = [
            (item.countries.is_none(), "`countries`"),
            (item.policies.is_none(), "`policies`"),
        ]
        .into_iter()
        .filter_map(|(absent, name)| absent.then_some(name))
        .collect();
        if !missing.is_empty() {
            return Err(ClassifyError::EvalLine {
                line: i + 1,
                message: format!(
                    "no {} field: every item needs `countries` and `policies`, [] for none",
                    missing.join(" or ")
                ),
            });
        }
        items.push((i + 1, item));
    }

    let (mut cc, mut pc, mut bcc, mut bpc) = (
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
    );
    let mut errors = Vec::new();
    let mut hard_negative_hits = Vec::new();
    let mut baseline_hard_negative_hits = 0;
    let mut hard_negatives = 0;
    for (line, item) in &items {
        let id = item.id.clone().unwrap_or_else(|| format!("line {line}"));
        let gold_c: BTreeSet<String> = item
            .countries
            .iter()
            .flatten()
            .map(|c| c.trim().to_ascii_uppercase())
            .collect();
        let gold_p: BTreeSet<String> = item
            .policies
            .iter()
            .flatten()
            .map(|p| p.trim().to_ascii_lowercase())
            .collect();
        let all = scan::tag_scored(&tagger.compiled, &item.title, &item.summary, true);
        let mut pred_c = BTreeSet::new();
        let mut pred_p = BTreeSet::new();
        for (t, fired) in &all {
            if *fired {
                match t.tag.kind {
                    TagKind::Country => pred_c.insert(t.tag.value.clone()),
                    _ => pred_p.insert(t.tag.value.clone()),
                };
            }
        }
        count(&mut cc, &gold_c, &pred_c);
        count(&mut pc, &gold_p, &pred_p);
        let (nc, np) = naive.tag(&item.title, &item.summary);
        count(&mut bcc, &gold_c, &nc);
        count(&mut bpc, &gold_p, &np);

        let is_negative = item.kind.as_deref() == Some("negative");
        if is_negative {
            hard_negatives += 1;
            baseline_hard_negative_hits += np.len();
        }
        for (t, fired) in &all {
            let gold = match t.tag.kind {
                TagKind::Country => &gold_c,
                _ => &gold_p,
            };
            let case = |kind| ErrorCase {
                id: id.clone(),
                title: item.title.clone(),
                kind,
                tag: t.tag.to_string(),
                score: t.score,
                evidence: t.evidence.clone(),
            };
            if *fired && !gold.contains(&t.tag.value) {
                errors.push(case(ErrorKind::FalsePositive));
            }
            if *fired && is_negative && t.tag.kind == TagKind::Policy {
                hard_negative_hits.push(case(ErrorKind::FalsePositive));
            }
        }
        for (gold, kind, prefix) in [
            (&gold_c, TagKind::Country, "country"),
            (&gold_p, TagKind::Policy, "policy"),
        ] {
            for g in gold {
                let fired = all
                    .iter()
                    .any(|(t, f)| *f && t.tag.kind == kind && &t.tag.value == g);
                if fired {
                    continue;
                }
                let below = all
                    .iter()
                    .find(|(t, _)| t.tag.kind == kind && &t.tag.value == g);
                errors.push(ErrorCase {
                    id: id.clone(),
                    title: item.title.clone(),
                    kind: ErrorKind::FalseNegative,
                    tag: format!("{prefix}:{g}"),
                    score: below.map_or(0.0, |(t, _)| t.score),
                    evidence: below.map(|(t, _)| t.evidence.clone()).unwrap_or_default(),
                });
            }
        }
    }
    Ok(EvalReport {
        stories: items.len(),
        hard_negatives,
        countries: GroupReport::from_counts(cc),
        policies: GroupReport::from_counts(pc),
        baseline_countries: GroupReport::from_counts(bcc),
        baseline_policies: GroupReport::from_counts(bpc),
        errors,
        hard_negative_hits,
        baseline_hard_negative_hits,
    })
}

fn write_group(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    g: &GroupReport,
    base: &GroupReport,
) -> fmt::Result {
    writeln!(f, "{name}")?;
    writeln!(
        f,
        "  {:<22} {:>4} {:>4} {:>4}  {:>6} {:>6} {:>6}   {:>12}",
        "label", "tp", "fp", "fn", "P", "R", "F1", "baseline F1"
    )?;
    for l in &g.labels {
        let p = l.prf();
        let b = base
            .labels
            .iter()
            .find(|b| b.label == l.label)
            .map(|b| b.prf().f1);
        let b = b.map_or("-".to_string(), |v| format!("{v:.3}"));
        writeln!(
            f,
            "  {:<22} {:>4} {:>4} {:>4}  {:>6.3} {:>6.3} {:>6.3}   {:>12}",
            l.label, l.tp, l.fp, l.fn_, p.precision, p.recall, p.f1, b
        )?;
    }
    for (what, t, b) in [
        ("micro", g.micro, base.micro),
        ("macro", g.macro_avg, base.macro_avg),
    ] {
        writeln!(
            f,
            "  {:<22} {:>4} {:>4} {:>4}  {:>6.3} {:>6.3} {:>6.3}   {:>12}",
            what,
            "",
            "",
            "",
            t.precision,
            t.recall,
            t.f1,
            format!("{:.3}", b.f1)
        )?;
    }
    writeln!(f)
}

fn write_case(f: &mut fmt::Formatter<'_>, c: &ErrorCase) -> fmt::Result {
    let kind = match c.kind {
        ErrorKind::FalsePositive => "FP",
        ErrorKind::FalseNegative => "FN",
    };
    writeln!(
        f,
        "  {kind} {:<26} {} (score {:.2}) — {}",
        c.tag, c.id, c.score, c.title
    )?;
    for e in &c.evidence {
        let field = match e.field {
            TextField::Title => "title",
            TextField::Body => "body",
        };
        writeln!(
            f,
            "       {field}[{}..{}] {:?} +{:.2}",
            e.start, e.end, e.phrase, e.weight
        )?;
    }
    Ok(())
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Tagging evaluation: {} stories, {} hard negatives",
            self.stories, self.hard_negatives
        )?;
        writeln!(
            f,
            "(baseline = case-insensitive substring match of the same lexicon, no context rules)\n"
        )?;
        write_group(f, "Countries", &self.countries, &self.baseline_countries)?;
        write_group(f, "Policies", &self.policies, &self.baseline_policies)?;
        writeln!(
            f,
            "Summary                 tagger micro/macro F1   baseline micro/macro F1"
        )?;
        writeln!(
            f,
            "  countries             {:.3} / {:.3}           {:.3} / {:.3}",
            self.countries.micro.f1,
            self.countries.macro_avg.f1,
            self.baseline_countries.micro.f1,
            self.baseline_countries.macro_avg.f1
        )?;
        writeln!(
            f,
            "  policies              {:.3} / {:.3}           {:.3} / {:.3}",
            self.policies.micro.f1,
            self.policies.macro_avg.f1,
            self.baseline_policies.micro.f1,
            self.baseline_policies.macro_avg.f1
        )?;
        writeln!(
            f,
            "  policy tags on hard negatives: tagger {}, baseline {}\n",
            self.hard_negative_hits.len(),
            self.baseline_hard_negative_hits
        )?;
        writeln!(
            f,
            "Hard-negative policy hits ({})",
            self.hard_negative_hits.len()
        )?;
        for c in &self.hard_negative_hits {
            write_case(f, c)?;
        }
        writeln!(f, "\nErrors ({})", self.errors.len())?;
        for c in &self.errors {
            write_case(f, c)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_reports_errors() {
        let tagger = Tagger::builtin();
        let jsonl = concat!(
            r#"{"id":"a","title":"US adds Chinese chipmakers to the Entity List","summary":"The Commerce Department acted on Monday.","countries":["US","CN"],"policies":["entity-list"],"kind":"positive"}"#,
            "\n\n",
            r#"{"id":"b","title":"Club hands striker a three-match ban","summary":"The league panel ruled on Friday.","countries":[],"policies":[],"kind":"negative"}"#,
            "\n"
        );
        let r = evaluate(&tagger, jsonl).unwrap();
        assert_eq!(r.stories, 2);
        assert_eq!(r.hard_negatives, 1);
        assert!(r.hard_negative_hits.is_empty());
        assert!((r.policies.micro.f1 - 1.0).abs() < 1e-9, "{r}");
        let text = r.to_string();
        assert!(
            text.contains("micro") && text.contains("baseline"),
            "{text}"
        );

        let err = evaluate(&tagger, "{\"title\": 3}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn an_item_without_its_labels_is_an_error_naming_its_line() {
        let tagger = Tagger::builtin();
        let good = r#"{"title":"x","countries":[],"policies":[]}"#;
        for (item, missing) in [
            (
                r#"{"title":"Commerce adds firms to the Entity List"}"#,
                "`countries` or `policies`",
            ),
            (r#"{"title":"x","countries":["US"]}"#, "`policies`"),
            (r#"{"title":"x","policies":[]}"#, "`countries`"),
        ] {
            let err = evaluate(&tagger, &format!("{good}\n{item}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("line 2"), "{err}");
            assert!(err.contains(&format!("no {missing} field")), "{err}");
        }
        // Empty lists are labels: "none of them".
        assert_eq!(evaluate(&tagger, good).unwrap().stories, 1);
    }
}
