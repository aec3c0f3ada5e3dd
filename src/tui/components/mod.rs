//! Drawing: one module per part of the screen, each a function from the app state to a
//! region of the frame. Layout: sidebar | list (or reader, or trend), then a prompt line and
//! a status line; help and the tag editor float above.

mod failures;
mod help;
mod list;
mod reader;
mod sidebar;
mod status;
mod tags;
mod trend;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::Paragraph;

use crate::tui::app::{App, Focus, Overlay, Screen};

/// Matched query terms.
pub(crate) const HIGHLIGHT: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
pub(crate) const DIM: Style = Style::new().fg(Color::DarkGray);
pub(crate) const ERROR: Style = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
pub(crate) const FOCUSED: Style = Style::new().fg(Color::Cyan);

/// Draw the whole screen.
pub fn draw(app: &mut App, f: &mut Frame) {
    draw_screen(app, f);
    if app.mono {
        without_colour(f.buffer_mut());
    }
}

/// `NO_COLOR` (no-color.org): colours go, attributes stay, so the cursor (reverse video) and
/// bold text still show. Left to crossterm, every colour change became `ESC [ m`, which also
/// reset the attributes: no cursor at all.
fn without_colour(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        cell.set_fg(ratatui::style::Color::Reset);
        cell.set_bg(ratatui::style::Color::Reset);
    }
}

fn draw_screen(app: &mut App, f: &mut Frame) {
    let area = f.area();
    if area.width < 20 || area.height < 6 {
        f.render_widget(Paragraph::new("echowatch: window too small"), area);
        return;
    }
    let [main, prompt, status] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let side_w = if app.sidebar_hidden {
        0
    } else {
        sidebar_width(area.width, &app.screen)
    };
    if side_w == 0 && app.focus == Focus::Sidebar {
        app.focus = Focus::List;
    }
    let [side, body] =
        Layout::horizontal([Constraint::Length(side_w), Constraint::Min(10)]).areas(main);
    if side_w > 0 {
        sidebar::draw(app, f, side);
    }
    match app.screen {
        Screen::List => list::draw(app, f, body),
        Screen::Reader(_) => reader::draw(app, f, body),
        Screen::Trend(_) => trend::draw(app, f, body),
    }
    status::draw_prompt(app, f, prompt);
    status::draw_status(app, f, status);
    match &app.overlay {
        Overlay::Help { .. } => help::draw(app, f, area),
        Overlay::Failures { .. } => failures::draw(app, f, area),
        Overlay::Tags(_) => tags::draw(app, f, area),
        _ => {}
    }
}

fn sidebar_width(width: u16, screen: &Screen) -> u16 {
    match screen {
        Screen::Reader(_) if width >= 120 => 32,
        Screen::Reader(_) => 0,
        _ if width >= 100 => 32,
        _ if width >= 64 => 24,
        _ => 0,
    }
}

/// A rectangle of at most `w`×`h` centred in `area`.
/// A bordered popup over most of the screen (help, sync failures), cleared and drawn with
/// `title` and a `border` colour: the area inside it.
pub(crate) fn large_popup(
    f: &mut ratatui::Frame,
    area: Rect,
    title: String,
    border: ratatui::style::Color,
) -> Rect {
    let popup = centered(
        area,
        area.width.saturating_sub(4).min(100),
        area.height.saturating_sub(2),
    );
    f.render_widget(ratatui::widgets::Clear, popup);
    let block = ratatui::widgets::Block::bordered()
        .title(title)
        .border_style(ratatui::style::Style::new().fg(border));
    let inner = block.inner(popup);
    f.render_widget(block, popup);
    inner
}

/// A dim, wrapped message filling `area` in place of content (an empty list, a blank chart).
pub(crate) fn notice(f: &mut Frame, area: Rect, msg: String) {
    f.render_widget(
        Paragraph::new(msg)
            .style(DIM)
            .wrap(ratatui::widgets::Wrap { trim: true }),
        area,
    );
}

pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// `text` as spans with the byte `ranges` styled as highlights (ranges sorted, in bounds).
pub(crate) fn highlighted(
    text: &str,
    ranges: &[std::ops::Range<usize>],
    base: Style,
) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut at = 0;
    for r in ranges {
        if r.start < at
            || r.end > text.len()
            || !text.is_char_boundary(r.start)
            || !text.is_char_boundary(r.end)
        {
            continue;
        }
        if r.start > at {
            spans.push(Span::styled(text[at..r.start].to_string(), base));
        }
        spans.push(Span::styled(
            text[r.clone()].to_string(),
            base.patch(HIGHLIGHT),
        ));
        at = r.end;
    }
    if at < text.len() {
        spans.push(Span::styled(text[at..].to_string(), base));
    }
    spans
}

/// Thousands separators for counts.
pub(crate) fn count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
