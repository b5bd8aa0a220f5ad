//! The equity-curve chart (SVG, `plotters`): daily equity of every run.

use std::path::Path;

use chrono::NaiveDate;
use plotters::prelude::*;

use crate::report::Report;
use crate::ReplayError;

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(174, 199, 232),
    RGBColor(214, 39, 40),
    RGBColor(255, 152, 150),
];

/// Writes the daily equity of every configuration's scorer and baseline.
pub fn write_svg(rep: &Report, path: &Path) -> Result<(), ReplayError> {
    let err = |e: String| ReplayError::Output {
        path: path.display().to_string(),
        reason: e,
    };
    let mut series: Vec<(String, &[(NaiveDate, f64)])> = Vec::new();
    for c in &rep.configs {
        series.push((format!("{} scorer", c.name), &c.scored.daily_equity));
        series.push((
            format!("{} random baseline", c.name),
            &c.baseline.daily_equity,
        ));
    }
    let all = series.iter().flat_map(|(_, s)| s.iter());
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for (_, v) in all {
        lo = lo.min(*v);
        hi = hi.max(*v);
    }
    if lo > hi {
        lo = 0.0;
        hi = 1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1.0);
    // x = days since `from` (labels show the date).
    let from = rep.from;
    let span = i32::try_from((rep.to - rep.from).num_days().max(1)).unwrap_or(i32::MAX);
    let x_of = |d: NaiveDate| i32::try_from((d - from).num_days()).unwrap_or(0);
    let root = SVGBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("equity {} .. {}", rep.from, rep.to),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0..span, (lo - pad)..(hi + pad))
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&|x| {
            (from + chrono::Duration::days(i64::from(*x)))
                .format("%m-%d")
                .to_string()
        })
        .y_desc("net liquidation $")
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, (name, s)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                s.iter().map(|(d, v)| (x_of(*d), *v)),
                color.stroke_width(2),
            ))
            .map_err(|e| err(e.to_string()))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}
