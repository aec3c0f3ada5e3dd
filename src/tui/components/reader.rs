//! The reader: the story's sanitised text wrapped to the width, matched terms highlighted,
//! its numbered links, its tags with their provenance and evidence, every source that carried it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::{DIM, FOCUSED, highlighted};
use crate::model::{Provenance, StoryKind, TextField};
use crate::store::StoryRecord;
use crate::tui::app::{App, Screen};
use crate::tui::text::{self, Highlighter};

/// Lines of text wrap at this width at most: on a wide terminal, 160-column lines are hard
/// to follow (newsboat's `text-width`).
const TEXT_WIDTH: usize = 100;

pub fn draw(app: &mut App, f: &mut Frame, area: Rect) {
    let hl = app.highlighter.clone();
    // Where the story is in the list (the id is what `show` and `tag` take).
    let place = format!(" {}/{} ", app.list.selected + 1, app.list.total);
    let Screen::Reader(r) = &mut app.screen else {
        return;
    };
    let block = Block::bordered()
        .border_style(FOCUSED)
        .title(format!("{place}· story {} ", r.id))
        .title(Line::from(flags(&r.story)).right_aligned());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let lines = story_lines(&r.story, &hl, (inner.width as usize).min(TEXT_WIDTH));
    r.lines = lines.len();
    r.height = inner.height as usize;
    r.scroll = r.scroll.min(r.lines.saturating_sub(r.height));
    let scroll = u16::try_from(r.scroll).unwrap_or(u16::MAX);
    f.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}

fn flags(s: &StoryRecord) -> String {
    let mut out = Vec::new();
    if s.starred {
        out.push("★ starred");
    }
    out.push(if s.read { "read" } else { "unread" });
    format!(" {} ", out.join(" · "))
}

/// Wrap one paragraph into lines with highlights.
fn para(out: &mut Vec<Line<'static>>, text_: &str, hl: &Highlighter, width: usize, style: Style) {
    let ranges = hl.ranges(text_);
    for r in text::wrap(text_, width) {
        let piece = &text_[r.clone()];
        let local: Vec<_> = ranges
            .iter()
            .filter(|h| h.start >= r.start && h.end <= r.end)
            .map(|h| (h.start - r.start)..(h.end - r.start))
            .collect();
        out.push(Line::from(highlighted(piece, &local, style)));
    }
}

pub fn story_lines(s: &StoryRecord, hl: &Highlighter, width: usize) -> Vec<Line<'static>> {
    let width = width.max(10);
    let mut out = Vec::new();
    para(
        &mut out,
        &text::line(&s.title),
        hl,
        width,
        Style::new().add_modifier(Modifier::BOLD),
    );

    let mut meta = vec![s.date().format("%Y-%m-%d %H:%M UTC").to_string()];
    let kinds: Vec<&str> = s
        .kinds
        .iter()
        .map(|k| match k {
            StoryKind::Feed => "feed",
            StoryKind::Echomail => "echo",
        })
        .collect();
    meta.push(kinds.join("+"));
    if let Some(a) = &s.area {
        meta.push(format!("area {}", text::line(a)));
    }
    if let Some(a) = &s.author {
        meta.push(format!("by {}", text::line(a)));
    }
    para(
        &mut out,
        &meta.join(" · "),
        &Highlighter::default(),
        width,
        DIM,
    );
    let sources: Vec<String> = s.sources.iter().map(|n| text::line(n)).collect();
    para(
        &mut out,
        &format!("Sources: {}", sources.join(", ")),
        &Highlighter::default(),
        width,
        DIM,
    );
    if let Some(l) = &s.link {
        para(
            &mut out,
            &format!("Link: {}", text::line(l)),
            &Highlighter::default(),
            width,
            Style::new().fg(Color::Cyan),
        );
    }
    out.push(Line::default());

    let body = text::block(&s.body);
    for p in body.split('\n') {
        if p.trim().is_empty() {
            out.push(Line::default());
        } else {
            para(&mut out, p, hl, width, Style::new());
        }
    }

    if !s.links.is_empty() {
        out.push(Line::default());
        // With 10 links or more a number is typed and then Enter (see `open::link_digit`).
        let how = if s.links.len() >= 10 {
            "Links (type the number, then Enter)"
        } else {
            "Links (press the number to open)"
        };
        out.push(Line::from(Span::styled(
            how,
            Style::new().add_modifier(Modifier::BOLD),
        )));
        for (i, l) in s.links.iter().enumerate() {
            let t = format!("[{}] {}", i + 1, text::line(l));
            para(
                &mut out,
                &t,
                &Highlighter::default(),
                width,
                Style::new().fg(Color::Cyan),
            );
        }
    }

    out.push(Line::default());
    out.push(Line::from(Span::styled(
        "Tags",
        Style::new().add_modifier(Modifier::BOLD),
    )));
    if s.tags.is_empty() {
        out.push(Line::from(Span::styled("none (t adds some)", DIM)));
    }
    for t in &s.tags {
        let mut line = format!("{} — {}", t.tag, t.provenance.as_str());
        if t.provenance == Provenance::Auto {
            if let Some(score) = t.score {
                line.push_str(&format!(" {score:.1}"));
            }
            let mut phrases: Vec<String> = Vec::new();
            for e in &t.evidence {
                let p = format!(
                    "“{}”{}",
                    text::line(&e.phrase),
                    if e.field == TextField::Title {
                        " (title)"
                    } else {
                        ""
                    }
                );
                if !phrases.contains(&p) {
                    phrases.push(p);
                }
            }
            if !phrases.is_empty() {
                line.push_str(": ");
                line.push_str(&phrases.into_iter().take(4).collect::<Vec<_>>().join(", "));
            }
        }
        let style = match t.provenance {
            Provenance::Manual => Style::new().fg(Color::Green),
            Provenance::Auto => Style::new(),
            Provenance::Source => DIM,
        };
        para(&mut out, &line, &Highlighter::default(), width, style);
    }
    out
}
