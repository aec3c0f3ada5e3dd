//! `?`: every key in use (after the config's rebindings) and what it does.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{DIM, large_popup};
use crate::tui::app::{App, Overlay};
use crate::tui::keys::Action;
use crate::tui::text;

pub fn draw(app: &App, f: &mut Frame, area: Rect) {
    let scroll = match app.overlay {
        Overlay::Help { scroll } => scroll,
        _ => 0,
    };
    let inner = large_popup(
        f,
        area,
        " Keys — [keys] name · j/k scroll · any other key closes ".into(),
        Color::Yellow,
    );
    let width = inner.width as usize;

    let key_style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    // (keys, the action's name in the config's [keys] table, what it does)
    let mut entries: Vec<(String, &str, &str)> = Action::ALL
        .iter()
        .map(|a| (app.keys.keys_of(*a), a.name(), a.describe()))
        .collect();
    entries.extend(
        [
            ("1-9", "reader: open link [n]; 10+ links: number, Enter"),
            ("C-c", "quit at once"),
            ("Enter Esc", "prompt: run / cancel"),
            ("C-u C-w", "prompt: clear / delete word"),
            ("Tab ↑↓", "tags: complete / choose"),
            ("+t -t", "tags: add / remove, Enter saves"),
        ]
        .map(|(k, d)| (k.to_string(), "", d)),
    );
    let widest = |f: &dyn Fn(&(String, &str, &str)) -> usize| entries.iter().map(f).max();
    let key_w = widest(&|e| text::width(&e.0)).unwrap_or(0);
    let name_w = widest(&|e| text::width(e.1)).unwrap_or(0);
    let desc_w = widest(&|e| text::width(e.2)).unwrap_or(0);
    // One cell after each column and at the end, so columns never touch.
    let entry_w = key_w + name_w + desc_w + 3;
    // Two columns only when every description fits whole in them; otherwise one column
    // (scrolled), and descriptions wrap rather than being cut.
    let two = width >= 2 * entry_w;
    let col_w = if two { width / 2 } else { width };
    let key_w = key_w.min(col_w / 3);
    let name_w = name_w.min(col_w / 3);
    let desc_room = col_w.saturating_sub(key_w + name_w + 3).max(1);
    let cell = |(k, name, d): &(String, &str, &str)| -> Vec<Vec<Span<'static>>> {
        let mut out = Vec::new();
        for (i, range) in text::wrap(d, desc_room).into_iter().enumerate() {
            let piece = d.get(range).unwrap_or_default();
            let (k, name) = if i == 0 {
                (k.as_str(), *name)
            } else {
                ("", "")
            };
            out.push(vec![
                Span::styled(text::fit(k, key_w), key_style),
                Span::raw(" "),
                Span::styled(text::fit(name, name_w), DIM),
                Span::raw(" "),
                Span::raw(text::fit(piece, desc_room)),
                Span::raw(" "),
            ]);
        }
        out
    };
    let mut lines: Vec<Line<'static>> = Vec::new();
    if two {
        let half = entries.len().div_ceil(2);
        for i in 0..half {
            let mut spans = cell(&entries[i]).concat();
            if let Some(e) = entries.get(i + half) {
                spans.extend(cell(e).concat());
            }
            lines.push(Line::from(spans));
        }
    } else {
        lines.extend(entries.iter().flat_map(cell).map(Line::from));
    }
    lines.push(Line::default());
    for note in [
        "Query: words, \"phrases\", AND OR NOT, -word, title: body: country:CN policy:entity-list tag:brief source: area: kind:echomail published:>=2026-08-01",
        "Keys are rebound in the config: [keys] name = \"key …\", e.g. star = \"*\"",
    ] {
        for range in text::wrap(note, width.max(1)) {
            let piece = note.get(range).unwrap_or_default().to_string();
            lines.push(Line::from(Span::styled(piece, DIM)));
        }
    }
    let max = lines.len().saturating_sub(inner.height as usize);
    let scroll = u16::try_from(scroll.min(max)).unwrap_or(0);
    f.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}
