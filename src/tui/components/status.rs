//! The prompt line (search as you type, commands, watch names, confirmations, with the
//! error of a bad query) and the status line (sync progress, counts, filters, last message).

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{DIM, ERROR, count};
use crate::model::counted;
use crate::tui::app::{App, Level, Overlay, PromptKind, Screen};
use crate::tui::keys::Action;
use crate::tui::text;

pub fn draw_prompt(app: &App, f: &mut Frame, area: Rect) {
    let w = area.width as usize;
    let Overlay::Prompt(p) = &app.overlay else {
        let k = |a| app.keys.first_key(a);
        let hint = if matches!(app.screen, Screen::Reader(_)) {
            // The reader's own keys, not the list's.
            format!(
                "{} open  1-9 link  {}/{} next/prev story  {} next unread  {} tags  {} star  {} back",
                k(Action::OpenLink),
                k(Action::NextStory),
                k(Action::PrevStory),
                k(Action::NextUnread),
                k(Action::Tags),
                k(Action::Star),
                k(Action::Quit)
            )
        } else if app.query.is_empty() {
            format!(
                "{} search  {} tags  {} star  {} sync  {} trend  {} help  {} quit",
                k(Action::Search),
                k(Action::Tags),
                k(Action::Star),
                k(Action::Sync),
                k(Action::Trend),
                k(Action::Help),
                k(Action::Quit)
            )
        } else {
            format!("query: {}", text::line(&app.query))
        };
        f.render_widget(Paragraph::new(text::truncate(&hint, w)).style(DIM), area);
        return;
    };
    let prefix = match p.kind {
        PromptKind::Search => "/".to_string(),
        PromptKind::Command => ":".to_string(),
        PromptKind::WatchName => "save search as watch named: ".to_string(),
        PromptKind::ConfirmMarkRead => match p.count {
            Some(n) => format!("mark {} read? [y/N] ", counted(n, "story", "stories")),
            None => "mark all matching stories read (counting…)? [y/N] ".to_string(),
        },
    };
    let err = p.error.as_deref().map(text::line).unwrap_or_default();
    let err_w = if err.is_empty() {
        0
    } else {
        text::width(&err).min(w / 2) + 1
    };
    let field_w = w.saturating_sub(err_w + text::width(&prefix)).max(1);
    // Show the end of a long input, where the cursor usually is.
    let before = &p.input[..p.cursor.min(p.input.len())];
    let mut skip = 0;
    while text::width(&before[skip..]) >= field_w {
        skip += before[skip..]
            .chars()
            .next()
            .map(char::len_utf8)
            .unwrap_or(1);
    }
    let shown = text::truncate(&p.input[skip..], field_w);
    let cursor_x = text::width(&prefix) + text::width(&before[skip..]);
    let mut spans = vec![
        Span::styled(
            prefix,
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ),
        Span::raw(text::fit(&shown, field_w)),
    ];
    if !err.is_empty() {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            text::truncate(&err, err_w.saturating_sub(1)),
            ERROR,
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
    let x = area
        .x
        .saturating_add(u16::try_from(cursor_x).unwrap_or(u16::MAX))
        .min(area.right().saturating_sub(1));
    f.set_cursor_position(Position { x, y: area.y });
}

pub fn draw_status(app: &App, f: &mut Frame, area: Rect) {
    let w = area.width as usize;
    let bar = Style::new().bg(Color::DarkGray).fg(Color::White);
    let mut left = String::new();
    if let Some(s) = &app.sync {
        // Sources finish in any order: name the last one done, not one that looks stuck.
        left.push_str(&format!("⟳ sync {}/{} done", s.done, s.total));
        if !s.current.is_empty() {
            left.push_str(&format!(", last: {}", s.current));
        }
        left.push(' ');
        if s.failed > 0 {
            left.push_str(&format!("({} failed) ", s.failed));
        }
        left.push_str("│ ");
    }
    let sort = app.sort_label();
    left.push_str(&format!(
        "{} of {} · {sort}",
        count(app.list.total),
        count(app.ws.index.doc_count() as usize)
    ));
    for (field, v) in &app.filters {
        left.push_str(&format!(
            " · {}:{}",
            field.name(),
            app.facet_label(*field, v)
        ));
    }
    let (msg, msg_style) = match &app.message {
        Some((m, Level::Error)) => (
            text::line(m),
            bar.fg(Color::LightRed).add_modifier(Modifier::BOLD),
        ),
        Some((m, Level::Info)) => (text::line(m), bar.fg(Color::LightGreen)),
        None => (String::new(), bar),
    };
    // The message wins space over the counts: it is what just happened.
    let msg_w = text::width(&msg).min(w * 3 / 5);
    let left_w = w.saturating_sub(msg_w + 1);
    let spans = vec![
        Span::styled(text::fit(&format!(" {left}"), left_w), bar),
        Span::styled(" ", bar),
        Span::styled(text::fit(&msg, w.saturating_sub(left_w + 1)), msg_style),
    ];
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
