//! Views of stored stories for other programs: JSON objects (the `--json` contract of
//! DESIGN.md, shared by `search`, `show` and `export --format jsonl`) and CSV rows.
//! The echomail gateway (`--format ftn`) lives in `crate::ftn`.

use std::io::Write;

use serde_json::{Value, json};

use crate::index::Snippet;
use crate::store::StoryRecord;

/// Extra fields of a search hit.
#[derive(Debug, Clone, Default)]
pub struct HitInfo {
    pub score: f32,
    pub snippet: Option<Snippet>,
}

/// The JSON object of one story: the fields every consumer relies on; `show` adds the body,
/// links and tag provenance; search adds score and snippet.
pub fn story_json(s: &StoryRecord, hit: Option<&HitInfo>, with_body: bool) -> Value {
    let mut v = json!({
        "id": s.id,
        "title": s.title,
        "link": s.link,
        "published": s.date().to_rfc3339(),
        "source": s.sources.first(),
        "sources": s.sources,
        "kind": s.kind.as_str(),
        "kinds": s.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "area": s.area,
        "areas": s.areas,
        "author": s.author,
        "origin": s.origin,
        "countries": s.countries(),
        "policies": s.policies(),
        "tags": s.free_tags(),
        "read": s.read,
        "starred": s.starred,
    });
    if let (Some(h), Value::Object(map)) = (hit, &mut v) {
        map.insert("score".into(), json!(h.score));
        map.insert(
            "snippet".into(),
            json!(h.snippet.as_ref().map(|s| s.text.clone())),
        );
    }
    if let (true, Value::Object(map)) = (with_body, &mut v) {
        map.insert("body".into(), json!(s.body));
        map.insert("links".into(), json!(s.links));
        map.insert(
            "tag_details".into(),
            json!(
                s.tags
                    .iter()
                    .map(|t| json!({
                        "tag": t.tag.to_string(),
                        "provenance": t.provenance.as_str(),
                        "score": t.score,
                        "evidence": t.evidence,
                    }))
                    .collect::<Vec<_>>()
            ),
        );
    }
    v
}

/// One JSON object per line.
pub fn write_jsonl(out: &mut dyn Write, s: &StoryRecord) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &story_json(s, None, true))?;
    out.write_all(b"\n")
}

pub const CSV_HEADER: [&str; 12] = [
    "id",
    "published",
    "title",
    "link",
    "source",
    "sources",
    "kind",
    "area",
    "author",
    "countries",
    "policies",
    "tags",
];

/// A CSV writer with the header already written.
pub fn csv_writer<W: Write>(out: W) -> csv::Result<csv::Writer<W>> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_HEADER)?;
    Ok(w)
}

/// One CSV row; multi-valued fields are joined with `;`. Text from outside is defused for
/// spreadsheets (see [`spreadsheet_safe`]).
pub fn write_csv_row<W: Write>(w: &mut csv::Writer<W>, s: &StoryRecord) -> csv::Result<()> {
    let text = |t: &str| spreadsheet_safe(t).into_owned();
    w.write_record([
        s.id.to_string(),
        s.date().to_rfc3339(),
        text(&s.title),
        text(s.link.as_deref().unwrap_or_default()),
        text(s.sources.first().map(String::as_str).unwrap_or_default()),
        text(&s.sources.join(";")),
        s.kind.as_str().to_string(),
        text(s.area.as_deref().unwrap_or_default()),
        text(s.author.as_deref().unwrap_or_default()),
        s.countries().join(";"),
        s.policies().join(";"),
        text(&s.free_tags().join(";")),
    ])
}

/// A feed title such as `=HYPERLINK("http://evil","click")` would become a live formula when
/// the CSV is opened in a spreadsheet. As OWASP advises, a cell starting with `=`, `+`, `-`,
/// `@`, tab or carriage return gets a leading `'`, which spreadsheets show as text.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Output formats of `export` handled here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

/// Writes stories one by one in the chosen format.
pub enum Exporter<W: Write> {
    Jsonl(W),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> Exporter<W> {
    pub fn new(format: Format, out: W) -> csv::Result<Self> {
        Ok(match format {
            Format::Jsonl => Exporter::Jsonl(out),
            Format::Csv => Exporter::Csv(Box::new(csv_writer(out)?)),
        })
    }

    pub fn write(&mut self, s: &StoryRecord) -> csv::Result<()> {
        match self {
            Exporter::Jsonl(w) => Ok(write_jsonl(w, s)?),
            Exporter::Csv(w) => write_csv_row(w, s),
        }
    }

    pub fn finish(self) -> std::io::Result<()> {
        match self {
            Exporter::Jsonl(mut w) => w.flush(),
            Exporter::Csv(mut w) => w.flush(),
        }
    }
}
pub mod gateway;
