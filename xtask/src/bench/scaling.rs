//! `cargo xtask bench --scaling`: the cost of a training step against the
//! signal's length, for the graph models users train on long signals.
//! Time per sample should grow about linearly with length (n log n on FFT
//! paths) and memory linearly, with no cliff.

use std::path::Path;

use plotters::coord::combinators::IntoLogRange;
use plotters::prelude::*;

use super::CaseReport;
use crate::experiment::plots::{register_font, save_png};

/// The models of the sitting.
pub const MODELS: [&str; 2] = ["resnet", "inception"];
/// Their batch size.
pub const BATCH: usize = 8;
/// The frameworks, in the table's and the plot's order.
const FRAMEWORKS: [&str; 3] = ["kymo", "pytorch", "keras"];

/// One figure of a framework in a case, if it ran.
type Measure = fn(&CaseReport, &str) -> Option<f64>;

/// Milliseconds per sample of `framework` in `case`, if it ran.
fn ms_per_sample(case: &CaseReport, framework: &str) -> Option<f64> {
    case.timings
        .iter()
        .find(|t| t.framework == framework)
        .map(|t| 1e3 / t.samples_per_second)
}

fn peak_mib(case: &CaseReport, framework: &str) -> Option<f64> {
    case.timings
        .iter()
        .find(|t| t.framework == framework)
        .map(|t| t.peak_rss_mb)
}

/// The Markdown table: per model and length, each framework's time per
/// sample and per 1,000 points (flat when cost is linear), and peak memory.
pub fn table(cases: &[CaseReport]) -> String {
    let mut out = format!(
        "\ntraining steps at batch {BATCH}: ms per sample (ms per sample per 1,000 points)\n\n| model | length | kymo | PyTorch | Keras | kymo / faster peer | peak MiB kymo / PyTorch / Keras |\n|---|---|---|---|---|---|---|\n"
    );
    for case in cases {
        let time = |name: &str| {
            ms_per_sample(case, name).map_or("—".to_string(), |ms| {
                format!("{ms:.1} ({:.2})", ms * 1e3 / case.length as f64)
            })
        };
        let memory =
            |name: &str| peak_mib(case, name).map_or("—".to_string(), |m| format!("{m:.0}"));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} / {} / {} |\n",
            case.model,
            case.length,
            time("kymo"),
            time("pytorch"),
            time("keras"),
            case.ratio_to_fastest_peer
                .map_or("—".to_string(), |r| format!("{r:.2}x")),
            memory("kymo"),
            memory("pytorch"),
            memory("keras"),
        ));
    }
    out
}

/// Log-log panels of time per sample and peak memory against length, one
/// line per framework and model.
pub fn plot(cases: &[CaseReport], path: &Path) -> anyhow::Result<()> {
    register_font()?;
    save_png(path, (1200, 460), |root| {
        let panels = root.split_evenly((1, 2));
        let measures: [(&str, Measure); 2] = [
            ("ms per sample (training step, batch 8)", ms_per_sample),
            ("peak MiB", peak_mib),
        ];
        for (panel, (label, measure)) in panels.iter().zip(measures) {
            let values: Vec<f64> = cases
                .iter()
                .flat_map(|c| FRAMEWORKS.iter().filter_map(|f| measure(c, f)))
                .collect();
            let low = values
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
                .max(1e-3);
            let high = values.iter().copied().fold(0.0f64, f64::max).max(low * 2.0);
            let shortest = cases.iter().map(|c| c.length).min().unwrap_or(1) as f64;
            let longest = cases.iter().map(|c| c.length).max().unwrap_or(2) as f64;
            let mut chart = ChartBuilder::on(panel)
                .caption(label, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(
                    (shortest / 1.3..longest * 1.3).log_scale(),
                    (low / 1.5..high * 1.5).log_scale(),
                )?;
            chart
                .configure_mesh()
                .x_desc("signal length (points)")
                .x_label_formatter(&|x| format!("{x:.0}"))
                .label_style(("sans-serif", 13))
                .draw()?;
            for (f, framework) in FRAMEWORKS.iter().enumerate() {
                for (m, model) in MODELS.iter().enumerate() {
                    let color = Palette99::pick(2 * f + m).to_rgba();
                    let points: Vec<(f64, f64)> = cases
                        .iter()
                        .filter(|c| c.model == *model)
                        .filter_map(|c| measure(c, framework).map(|v| (c.length as f64, v)))
                        .collect();
                    let style = ShapeStyle {
                        color,
                        filled: m == 0,
                        stroke_width: 2,
                    };
                    chart
                        .draw_series(LineSeries::new(points.clone(), style))?
                        .label(format!("{framework} {model}"))
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
                    chart.draw_series(
                        points
                            .into_iter()
                            .map(move |p| Circle::new(p, if m == 0 { 4 } else { 3 }, style)),
                    )?;
                }
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .draw()?;
        }
        Ok(())
    })
}
