//! Tagging quality on the shared development set (issue 4, point 5): country micro-F1 ≥ 0.95,
//! policy micro-F1 ≥ 0.85, no policy tag on hard negatives. Skips with a message when
//! ../shared is absent.

use std::path::Path;

use echowatch::classify::{Tagger, eval};

#[test]
fn dev_set_meets_quality_bar() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval/tagging-dev.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "SKIP: {} not found (the shared test material is absent)",
            path.display()
        );
        return;
    };
    let report = eval::evaluate(&Tagger::builtin(), &text).expect("dev set parses");
    println!("{report}");
    assert!(
        report.stories >= 50,
        "dev set looks truncated: {} stories",
        report.stories
    );
    assert_quality(&report, 0.95, 0.85);
    // The rules must beat plain keyword matching clearly.
    assert!(report.policies.micro.f1 > report.baseline_policies.micro.f1 + 0.1);
    assert!(report.countries.micro.f1 > report.baseline_countries.micro.f1 + 0.1);
}

/// The stories a QA pass wrote against taxonomy.md in the seventh session (86, of which 17
/// hard negatives), kept in the repo as a regression set. The rules were tuned on it, so it
/// guards those fixes; it does not measure how the tagger does on text it has not seen.
#[test]
fn qa_regression_set_keeps_its_fixes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tagging/qa7-cases.jsonl");
    let text = std::fs::read_to_string(&path).expect("the QA regression set is in the repo");
    let report = eval::evaluate(&Tagger::builtin(), &text).expect("QA set parses");
    println!("{report}");
    assert_eq!(report.stories, 86);
    // One miss left (q407, transshipment, settled on another branch): policy micro-F1 0.991.
    assert_quality(&report, 0.98, 0.98);
}

/// Country and policy micro-F1 at least these, and no policy tag on a hard negative.
fn assert_quality(report: &eval::EvalReport, countries: f64, policies: f64) {
    let (c, p) = (report.countries.micro.f1, report.policies.micro.f1);
    assert!(c >= countries, "country micro-F1 {c:.3} < {countries}");
    assert!(p >= policies, "policy micro-F1 {p:.3} < {policies}");
    assert!(
        report.hard_negative_hits.is_empty(),
        "policy tags on hard negatives: {:?}",
        report
            .hard_negative_hits
            .iter()
            .map(|c| format!("{} {}", c.id, c.tag))
            .collect::<Vec<_>>()
    );
}
