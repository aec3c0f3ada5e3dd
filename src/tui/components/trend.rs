//! The trend view: stories per week for the current query and filters, split by the top
//! countries or policies, as a line chart.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, LegendPosition, Paragraph};

use super::{DIM, FOCUSED};
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
    let block = Block::bordered()
        .border_style(FOCUSED)
        .title(format!(" Stories per week, by {by} "))
        .title(
            Line::from(format!(
                " {}: by {other} ",
                app.keys.first_key(Action::Trend)
            ))
            .right_aligned(),
        );
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(data) = &t.data else {
        let msg = t
            .error
            .as_deref()
            .map(|e| format!("trend: {e}"))
            .unwrap_or_else(|| "counting…".into());
        f.render_widget(Paragraph::new(msg).style(DIM), inner);
        return;
    };
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
    let max = data.total.iter().copied().max().unwrap_or(0).max(1) as f64;
    // Headroom above the highest week keeps the lines clear of the legend in the top corner.
    let top = (max * 1.35).ceil();
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
    let label = |i: usize| {
        data.weeks
            .get(i)
            .map(|d| d.format("%m-%d").to_string())
            .unwrap_or_default()
    };
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .style(DIM)
                .bounds([0.0, (weeks - 1) as f64])
                // The last week is still running: its point is low because it is not over.
                .labels([
                    label(0),
                    label(weeks / 2),
                    format!("{} so far", label(weeks - 1)),
                ]),
        )
        .y_axis(
            Axis::default()
                .style(DIM)
                .bounds([0.0, top])
                .labels(["0".to_string(), format!("{}", top as u64)]),
        )
        .legend_position(Some(LegendPosition::TopLeft))
        .hidden_legend_constraints((Constraint::Ratio(1, 1), Constraint::Ratio(1, 1)));
    f.render_widget(chart, inner);
}
