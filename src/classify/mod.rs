//! Country and policy tagging (issue 4). Placeholder until the tagger lands: tags nothing.

use crate::model::AutoTag;

/// The rule-based tagger. Built once, shared by every ingest.
#[derive(Debug, Default)]
pub struct Tagger {}

impl Tagger {
    /// The rules shipped inside the binary.
    pub fn builtin() -> Tagger {
        Tagger {}
    }

    /// Tags for one story, from its title and body.
    pub fn tag(&self, _title: &str, _body: &str) -> Vec<AutoTag> {
        Vec::new()
    }
}
