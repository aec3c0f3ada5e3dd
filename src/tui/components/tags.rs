//! The tag editor: the story's tags with provenance, an input line with completion from the
//! taxonomy, all countries and the tags in use.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{DIM, ERROR, centered};
use crate::model::Provenance;
use crate::tui::app::{App, Level, Overlay};
use crate::tui::text;

pub fn draw(app: &App, f: &mut Frame, area: Rect) {
    let Overlay::Tags(ed) = &app.overlay else {
        return;
    };
    let popup = centered(area, 76, 20);
    f.render_widget(Clear, popup);
    let block = Block::bordered()
        .title(format!(
            " Tags: {} ",
            text::truncate(&ed.title, popup.width.saturating_sub(12) as usize)
        ))
        .border_style(Style::new().fg(Color::Yellow));
    let inner = block.inner(popup);
    f.render_widget(block, popup);
    let w = inner.width as usize;

    let mut lines = Vec::new();
    let mut tags = String::new();
    for t in &ed.tags {
        let mark = match t.provenance {
            Provenance::Manual => "*",
            Provenance::Auto => "",
            Provenance::Source => "°",
        };
        tags.push_str(&format!("{}{mark}  ", t.tag));
    }
    if tags.is_empty() {
        tags.push_str("(no tags)");
    }
    for r in text::wrap(tags.trim_end(), w) {
        lines.push(Line::from(tags[r].to_string()));
    }
    lines.push(Line::from(Span::styled(
        text::truncate("* manual  ° from the source  (others: tagger)", w),
        DIM,
    )));
    lines.push(Line::default());
    let input_row = lines.len();
    let prefix = "> ";
    lines.push(Line::from(vec![
        Span::styled(
            prefix,
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ),
        Span::raw(text::truncate(&ed.input, w.saturating_sub(2))),
    ]));
    // What the last Enter did, right under the line it was about, whole (up to 3 lines).
    if let Some((m, level)) = &ed.message {
        let style = match level {
            Level::Error => ERROR,
            Level::Info => Style::new().fg(Color::Green),
        };
        let m = text::line(m);
        for r in text::wrap(&m, w).into_iter().take(3) {
            lines.push(Line::from(Span::styled(m[r].to_string(), style)));
        }
    }
    for (i, (tag, hint)) in ed.candidates.iter().enumerate() {
        let style = if i == ed.selected {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        let tw = 28.min(w / 2);
        lines.push(Line::from(vec![
            Span::styled(format!("  {}", text::fit(tag, tw)), style),
            Span::styled(
                format!(
                    " {}",
                    text::truncate(&text::line(hint), w.saturating_sub(tw + 3))
                ),
                style.patch(DIM),
            ),
        ]));
    }
    let bottom = inner.height as usize;
    lines.truncate(bottom.saturating_sub(1));
    while lines.len() + 1 < bottom {
        lines.push(Line::default());
    }
    lines.push(Line::from(Span::styled(
        text::truncate(
            "+tag adds, -tag removes · Tab completes · Enter saves · Esc closes",
            w,
        ),
        DIM,
    )));
    f.render_widget(Paragraph::new(lines), inner);
    if input_row < inner.height as usize {
        let before = &ed.input[..ed.cursor.min(ed.input.len())];
        let x = inner.x + (2 + text::width(before)).min(w.saturating_sub(1)) as u16;
        f.set_cursor_position(Position {
            x,
            y: inner.y + input_row as u16,
        });
    }
}
