//! The sidebar: saved searches with their new counts, then countries, policies, sources,
//! echo areas, tags and kinds with counts for the current query and filters.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::{DIM, FOCUSED, count};
use crate::index::FacetField;
use crate::tui::app::{App, Focus, SideItem};
use crate::tui::text;

pub fn draw(app: &mut App, f: &mut Frame, area: Rect) {
    let title = if app.facets_pending {
        " Filters … "
    } else {
        " Filters "
    };
    let mut block = Block::bordered().title(title);
    if app.focus == Focus::Sidebar {
        block = block.border_style(FOCUSED);
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    app.sidebar_height = inner.height as usize;
    let items = app.sidebar_items();
    let h = inner.height as usize;
    // No blank rows at the bottom while entries are hidden above (the list got shorter).
    app.sidebar_top = app.sidebar_top.min(items.len().saturating_sub(h));
    if app.sidebar_selected >= app.sidebar_top + h {
        app.sidebar_top = app.sidebar_selected + 1 - h;
    }
    let w = inner.width as usize;
    let mut lines = Vec::new();
    for (i, item) in items.iter().enumerate().skip(app.sidebar_top).take(h) {
        let selected = app.focus == Focus::Sidebar && i == app.sidebar_selected;
        let sel = if selected {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        let line = match item {
            SideItem::Header(t) => Line::from(Span::styled(
                text::fit(t, w),
                sel.add_modifier(Modifier::BOLD).fg(Color::Magenta),
            )),
            SideItem::Watch(j) => {
                let Some(wt) = app.watches.get(*j) else {
                    continue;
                };
                // All it matches, and in green how many are new since it was last viewed
                // ("+2 7"): a bare "0" read as "nothing matches".
                let total = wt.total.map_or("…".to_string(), count);
                let (n, style) = match wt.new {
                    Some(0) | None => (total, DIM),
                    Some(n) => (
                        format!("+{} {total}", count(n)),
                        Style::new().fg(Color::Green),
                    ),
                };
                // The watch being looked at: its query is the list's, with no filters on top.
                let active = app.filters.is_empty() && app.query.trim() == wt.query.trim();
                let mark = if active { "✓" } else { " " };
                entry(
                    mark,
                    &text::line(&wt.name),
                    &n,
                    style,
                    sel.patch(style_if(active)),
                    w,
                )
            }
            SideItem::Facet(field, value, n) => {
                let active = app.has_filter(*field, value);
                // A source that failed the last sync: `!` in red (the failures key lists why).
                let failed = *field == FacetField::Source
                    && app
                        .last_failures
                        .iter()
                        .any(|(name, _)| name.to_lowercase() == *value);
                let mark = if active {
                    "✓"
                } else if failed {
                    "!"
                } else {
                    " "
                };
                let style = if active {
                    Style::new().fg(Color::Cyan)
                } else if failed {
                    Style::new().fg(Color::LightRed)
                } else {
                    DIM
                };
                let base = if failed && !active {
                    Style::new().fg(Color::LightRed)
                } else {
                    style_if(active)
                };
                entry(
                    mark,
                    &app.facet_label(*field, value),
                    &count(*n as usize),
                    style,
                    sel.patch(base),
                    w,
                )
            }
        };
        lines.push(line);
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn style_if(active: bool) -> Style {
    if active {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new()
    }
}

/// `mark label ... count`, exactly `w` cells.
fn entry(mark: &str, label: &str, n: &str, n_style: Style, base: Style, w: usize) -> Line<'static> {
    let n_w = text::width(n);
    let label_w = w.saturating_sub(n_w + 2);
    Line::from(vec![
        Span::styled(mark.to_string(), base),
        Span::styled(text::fit(label, label_w), base),
        Span::styled(" ", base),
        Span::styled(
            text::truncate(n, w.saturating_sub(label_w + 2)),
            base.patch(n_style),
        ),
    ])
}
