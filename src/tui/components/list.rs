//! The story list: one row per hit of the current page, drawn from the index window and the
//! row details of visible stories only.

use chrono::Datelike;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::{DIM, ERROR, FOCUSED, count, highlighted, notice};
use crate::tui::app::{App, Focus, RowInfo};
use crate::tui::keys::Action;
use crate::tui::text;

pub fn draw(app: &mut App, f: &mut Frame, area: Rect) {
    let sort = app.sort_label();
    let mut block = Block::bordered()
        .title(format!(
            " {} {} ",
            count(app.list.total),
            if app.list.total == 1 {
                "story"
            } else {
                "stories"
            }
        ))
        .title(Line::from(format!(" {sort} ")).right_aligned());
    if app.focus == Focus::List {
        block = block.border_style(FOCUSED);
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    app.list.height = inner.height as usize;
    // Keep the selection on screen after a resize.
    let h = app.list.height.max(1);
    if app.list.selected >= app.list.top + h {
        app.list.top = app.list.selected + 1 - h;
    }
    if app.list.selected < app.list.top {
        app.list.top = app.list.selected;
    }
    app.prepare_rows();

    if let Some(e) = &app.list.error {
        let msg = vec![
            Line::from(Span::styled("Search error:", ERROR)),
            Line::from(text::line(e)),
        ];
        f.render_widget(
            Paragraph::new(msg).wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        );
        return;
    }
    if app.list.total == 0 {
        // The keys as bound (the config may have moved them), not the defaults.
        let k = |a| app.keys.first_key(a);
        let msg = if app.ws.index.doc_count() == 0 && app.sync.is_some() {
            "Reading the sources of the config: stories appear here as they arrive.".to_string()
        } else if app.ws.index.doc_count() == 0 {
            format!(
                "No stories yet: press {} to sync the sources of the config, or run `echowatch import PATH`.",
                k(Action::Sync)
            )
        } else {
            format!(
                "No story matches. {} clears the filters, {} changes the query.",
                k(Action::ClearFilters),
                k(Action::Search)
            )
        };
        notice(f, inner, msg);
        return;
    }
    let w = inner.width as usize;
    let mut lines = Vec::with_capacity(h);
    for i in app.list.top..(app.list.top + h).min(app.list.total) {
        let Some(hit) = app.list.hit(i) else {
            // The page is on its way from the search worker.
            lines.push(Line::from(Span::styled("  …", DIM)));
            continue;
        };
        let info = app.list.rows.get(&hit.id);
        let selected = i == app.list.selected;
        lines.push(row(app, hit.published, info, w, selected));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn row(
    app: &App,
    published: chrono::DateTime<chrono::Utc>,
    info: Option<&RowInfo>,
    w: usize,
    selected: bool,
) -> Line<'static> {
    let mut base = Style::new();
    if info.is_some_and(|r| !r.read) {
        base = base.add_modifier(Modifier::BOLD);
    }
    if selected {
        base = base.add_modifier(Modifier::REVERSED);
        if app.focus != Focus::List {
            base = base
                .remove_modifier(Modifier::REVERSED)
                .add_modifier(Modifier::UNDERLINED);
        }
    }
    let date = info.map(|r| r.date).unwrap_or(published);
    let date = if w >= 90 {
        date.format("%Y-%m-%d").to_string()
    } else if date.year() == app.now().year() {
        // Narrow lists drop the year of this year's stories only; a 2011 story must not
        // read as this November. One width for both, so the columns stay aligned.
        date.format("%d %b").to_string()
    } else {
        date.format("%b'%y").to_string()
    };
    let badge = match info {
        Some(r) if r.feed && r.echo => "both",
        Some(r) if r.echo => "echo",
        Some(_) => "feed",
        None => "    ",
    };
    let marks = format!(
        "{}{}",
        if info.is_some_and(|r| !r.read) {
            '●'
        } else {
            ' '
        },
        if info.is_some_and(|r| r.starred) {
            '★'
        } else {
            ' '
        }
    );
    let src_w = if w >= 100 {
        18
    } else if w >= 50 {
        10
    } else {
        0
    };
    let mut spans = vec![
        Span::styled(marks, base),
        Span::styled(format!("{date} "), base),
    ];
    // The title takes the width first: the kind (feed / echo / both) only on wide lists;
    // narrower, the source column (an echo area or a feed's name) says nearly as much.
    if w >= 100 {
        spans.push(Span::styled(
            format!("{badge} "),
            base.patch(DIM).remove_modifier(Modifier::BOLD),
        ));
    }
    if src_w > 0 {
        let src = info.map(|r| app.row_source(r)).unwrap_or("");
        spans.push(Span::styled(format!("{} ", text::fit(src, src_w)), base));
    }
    let used: usize = spans.iter().map(|s| text::width(&s.content)).sum();
    let rest = w.saturating_sub(used);
    let tags = info.map(|r| r.tags.join(" ")).unwrap_or_default();
    let tags_w = if w >= 50 && !tags.is_empty() {
        // The title matters most: narrow lists keep just the first tags (countries).
        let share = if w >= 100 {
            3
        } else if w >= 70 {
            4
        } else {
            6
        };
        text::width(&tags).min(rest / share)
    } else {
        0
    };
    let title_w = rest.saturating_sub(if tags_w > 0 { tags_w + 1 } else { 0 });
    let title = text::fit(info.map(|r| r.title.as_str()).unwrap_or(""), title_w);
    let ranges = app.highlighter.ranges(&title);
    spans.extend(highlighted(&title, &ranges, base));
    if tags_w > 0 {
        spans.push(Span::styled(" ", base));
        spans.push(Span::styled(
            text::fit(&tags, tags_w),
            base.patch(DIM).remove_modifier(Modifier::BOLD),
        ));
    }
    Line::from(spans)
}
