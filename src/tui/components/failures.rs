//! The sources that failed the last sync, each with its error, wrapped to the popup's width
//! (the status line only has room for the counts).

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
    let Overlay::Failures { scroll } = app.overlay else {
        return;
    };
    let inner = large_popup(
        f,
        area,
        format!(
            " {} failed in the last sync — j/k scroll, any other key closes ",
            crate::model::counted(app.last_failures.len(), "source", "sources")
        ),
        Color::LightRed,
    );
    let width = (inner.width as usize).max(1);
    let name_style = Style::new()
        .fg(Color::LightRed)
        .add_modifier(Modifier::BOLD);
    let mut lines = Vec::new();
    for (name, error) in &app.last_failures {
        // Names come from the config and errors quote servers and files: sanitised here.
        let name = text::line(name);
        for range in text::wrap(&name, width) {
            let piece = name.get(range).unwrap_or_default().to_string();
            lines.push(Line::from(Span::styled(piece, name_style)));
        }
        let error = text::line(error);
        for range in text::wrap(&error, width.saturating_sub(2)) {
            let piece = error.get(range).unwrap_or_default();
            lines.push(Line::raw(format!("  {piece}")));
        }
        lines.push(Line::default());
    }
    let note = format!(
        "The other sources were read; {} syncs again. Details are in the log (echowatch.log in the data folder).",
        app.keys.first_key(Action::Sync)
    );
    for range in text::wrap(&note, width) {
        let piece = note.get(range).unwrap_or_default().to_string();
        lines.push(Line::from(Span::styled(piece, DIM)));
    }
    let max = lines.len().saturating_sub(inner.height as usize);
    let scroll = u16::try_from(scroll.min(max)).unwrap_or(0);
    f.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}
