//! The trend view: stories per week for the current query and filters, split by the top
//! countries or policies, as a line chart.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, LegendPosition, Paragraph};

use super::{DIM, FOCUSED, notice};
use crate::index::FacetField;
use crate::tui::app::{App, Screen};
use crate::tui::keys::Action;

/// A line of the chart: its legend name, its points and its colour.
type Series = (String, Vec<(f64, f64)>, Color);

const COLORS: [Color; 5] = [
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::Red,
];

pub fn draw(app: &App, f: &mut Frame, area: Rect) {
    let Screen::Trend(t) = &app.screen else {
        return;
    };
    let (by, other) = match t.split {
        FacetField::Policy => ("policy", "country"),
        _ => ("country", "policy"),
    };
    let until = t.data.as_ref().and_then(|d| d.until_newest);
    let mut block = Block::bordered()
        .border_style(FOCUSED)
        .title(format!(" Stories per week, by {by} "))
        .title(
            Line::from(format!(
                " {}: by {other} ",
                app.keys.first_key(Action::Trend)
            ))
            .right_aligned(),
        );
    if let Some(u) = until {
        // Said on screen: the weeks shown are not the last weeks before today.
        block = block.title_bottom(format!(
            " up to the newest story, {} ",
            u.format("%Y-%m-%d")
        ));
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(data) = t.data.as_ref().map(|d| &d.trend) else {
        let msg = t
            .error
            .as_deref()
            .map(|e| format!("trend: {e}"))
            .unwrap_or_else(|| "counting…".into());
        f.render_widget(Paragraph::new(msg).style(DIM), inner);
        return;
    };
    let max = data.total.iter().copied().max().unwrap_or(0);
    if max == 0 {
        // A flat line at zero under an axis reading 2 looked like a chart of nothing.
        let end = data
            .weeks
            .last()
            .map(|d| {
                (*d + chrono::Duration::days(6))
                    .format("%Y-%m-%d")
                    .to_string()
            })
            .unwrap_or_default();
        let msg = format!(
            "No stories of this list were published in the {} weeks up to {end}.",
            data.weeks.len()
        );
        notice(f, inner, msg);
        return;
    }
    let points = |counts: &[u64]| -> Vec<(f64, f64)> {
        counts
            .iter()
            .enumerate()
            .map(|(i, n)| (i as f64, *n as f64))
            .collect()
    };
    let mut series: Vec<Series> = vec![("all".into(), points(&data.total), Color::White)];
    for (i, (name, counts)) in data.series.iter().enumerate() {
        let label = match t.split {
            FacetField::Country => name.to_uppercase(),
            _ => name.clone(),
        };
        series.push((
            crate::tui::text::line(&label),
            points(counts),
            COLORS[i % COLORS.len()],
        ));
    }
    // Headroom above the highest week keeps the lines clear of the legend in the top corner;
    // an even top makes the middle label a whole number, so every label is where it says.
    let top = ((max as f64 * 1.35).ceil() as u64)
        .max(2)
        .next_multiple_of(2);
    let datasets: Vec<Dataset<'_>> = series
        .iter()
        .map(|(name, pts, color)| {
            Dataset::default()
                .name(name.clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(*color))
                .data(pts)
        })
        .collect();
    let weeks = data.weeks.len().max(1);
    let label = |i: usize, format: &str| {
        data.weeks
            .get(i)
            .map(|d| d.format(format).to_string())
            .unwrap_or_default()
    };
    // The last week is still running when the window ends today: its point is low because
    // it is not over.
    let last = if until.is_none() {
        format!("{} so far", label(weeks - 1, "%m-%d"))
    } else {
        label(weeks - 1, "%m-%d")
    };
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .style(DIM)
                .bounds([0.0, (weeks - 1) as f64])
                .labels([label(0, "%m-%d"), label(weeks / 2, "%m-%d"), last]),
        )
        .y_axis(
            Axis::default()
                .style(DIM)
                .bounds([0.0, top as f64])
                .labels(["0".to_string(), (top / 2).to_string(), top.to_string()]),
        )
        .legend_position(Some(LegendPosition::TopLeft))
        .hidden_legend_constraints((Constraint::Ratio(1, 1), Constraint::Ratio(1, 1)));
    f.render_widget(chart, inner);
}
