//! `?`: every key in use (after the config's rebindings) and what it does.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{DIM, centered};
use crate::tui::app::{App, Overlay};
use crate::tui::keys::Action;
use crate::tui::text;

pub fn draw(app: &App, f: &mut Frame, area: Rect) {
    let scroll = match app.overlay {
        Overlay::Help { scroll } => scroll,
        _ => 0,
    };
    let popup = centered(
        area,
        area.width.saturating_sub(4).min(100),
        area.height.saturating_sub(2),
    );
    f.render_widget(Clear, popup);
    let block = Block::bordered()
        .title(" Keys — any other key closes ")
        .border_style(Style::new().fg(Color::Yellow));
    let inner = block.inner(popup);
    f.render_widget(block, popup);

    let key_style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    let mut entries: Vec<(String, String)> = Action::ALL
        .iter()
        .map(|a| (app.keys.keys_of(*a), a.describe().to_string()))
        .collect();
    entries.extend(
        [
            ("1-9", "reader: open link [n]"),
            ("C-c", "quit at once"),
            ("Enter Esc", "prompt: run / cancel"),
            ("C-u C-w", "prompt: clear / delete word"),
            ("Tab ↑↓", "tags: complete / choose"),
            ("+t -t", "tags: add / remove, Enter saves"),
        ]
        .map(|(k, d)| (k.to_string(), d.to_string())),
    );
    let two = inner.width >= 64;
    let col_w = if two {
        inner.width as usize / 2
    } else {
        inner.width as usize
    };
    // As wide as the widest key list ("PgDn C-f Space"), within half a column.
    let key_w = entries
        .iter()
        .map(|(k, _)| text::width(k))
        .max()
        .unwrap_or(11)
        .min(col_w / 2);
    let cell = |(k, d): &(String, String)| -> Vec<Span<'static>> {
        vec![
            Span::styled(text::fit(k, key_w), key_style),
            Span::raw(" "),
            // One cell stays free so the columns never touch.
            Span::raw(text::fit(d, col_w.saturating_sub(key_w + 2))),
            Span::raw(" "),
        ]
    };
    let mut lines = Vec::new();
    if two {
        let half = entries.len().div_ceil(2);
        for i in 0..half {
            let mut spans = cell(&entries[i]);
            if let Some(e) = entries.get(i + half) {
                spans.extend(cell(e));
            }
            lines.push(Line::from(spans));
        }
    } else {
        lines.extend(entries.iter().map(|e| Line::from(cell(e))));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        text::truncate("Query: words, \"phrases\", AND OR NOT, -word, country:CN policy:entity-list tag:brief source: area: kind:echomail", inner.width as usize),
        DIM,
    )));
    lines.push(Line::from(Span::styled(
        text::truncate(
            "Keys are rebound in the config: [keys] action = \"key\"",
            inner.width as usize,
        ),
        DIM,
    )));
    let max = lines.len().saturating_sub(inner.height as usize);
    let scroll = u16::try_from(scroll.min(max)).unwrap_or(0);
    f.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}
