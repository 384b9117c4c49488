//! PNG plots of an experiment, drawn with plotters through kymo-plot
//! (its embedded font and PNG encoding).

use std::path::Path;

use plotters::coord::combinators::IntoLogRange;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::run::RunResult;
use super::stats::VariantSummary;

pub(crate) use kymo_plot::{positive_range, register_font, save_png};

/// Validation loss per epoch on a log scale: one panel per variant, one
/// line per seed, and the loss of predicting the mean as a dashed line.
pub fn validation_curves(
    path: &Path,
    variants: &[String],
    runs: &[RunResult],
    mean_val_mse: f64,
) -> anyhow::Result<()> {
    register_font()?;
    let columns = 2;
    let rows = variants.len().div_ceil(columns).max(1);
    save_png(path, (1200, 380 * rows as u32), |root| {
        let panels = root.split_evenly((rows, columns));
        draw_validation_panels(&panels, variants, runs, mean_val_mse)
    })
}

fn draw_validation_panels(
    panels: &[DrawingArea<BitMapBackend<'_>, Shift>],
    variants: &[String],
    runs: &[RunResult],
    mean_val_mse: f64,
) -> anyhow::Result<()> {
    let (low, high) = positive_range(
        runs.iter()
            .flat_map(|r| r.epochs.iter().map(|e| e.val_loss))
            .chain([mean_val_mse]),
    );
    let max_epoch = runs
        .iter()
        .map(|r| r.epochs.len())
        .max()
        .unwrap_or(1)
        .max(2);
    for (panel, variant) in panels.iter().zip(variants) {
        let mut chart = ChartBuilder::on(panel)
            .caption(variant, ("sans-serif", 20))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .build_cartesian_2d(1..max_epoch, (low..high).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("validation MSE")
            .label_style(("sans-serif", 13))
            .draw()?;
        let mine: Vec<&RunResult> = runs.iter().filter(|r| &r.variant == variant).collect();
        for (i, run) in mine.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let points = run
                .epochs
                .iter()
                .filter(|e| e.val_loss.is_finite())
                .map(|e| (e.epoch + 1, e.val_loss.clamp(low, high)));
            chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
        }
        let mean_line = DashedLineSeries::new(
            [(1, mean_val_mse), (max_epoch, mean_val_mse)],
            6,
            4,
            BLACK.stroke_width(1),
        );
        chart.draw_series(mean_line)?;
    }
    Ok(())
}

/// Test MSE per variant: each seed a dot, the median a bar, the ridge
/// baseline and the mean predictor as dashed lines.
pub fn test_error(
    path: &Path,
    summaries: &[VariantSummary],
    runs: &[RunResult],
    ridge: f64,
    mean: f64,
) -> anyhow::Result<()> {
    register_font()?;
    save_png(path, (1200, 520), |root| {
        draw_test_error(root, summaries, runs, ridge, mean)
    })
}

fn draw_test_error(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    summaries: &[VariantSummary],
    runs: &[RunResult],
    ridge: f64,
    mean: f64,
) -> anyhow::Result<()> {
    let (low, high) = positive_range(runs.iter().map(|r| r.test_mse_final).chain([ridge, mean]));
    let n = summaries.len();
    let mut chart = ChartBuilder::on(root)
        .caption(
            "test MSE (final weights) per variant; dashed: ridge (blue), mean predictor (black)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (low..high).log_scale())?;
    let names: Vec<String> = summaries.iter().map(|s| s.variant.clone()).collect();
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("test MSE (standardized target)")
        .label_style(("sans-serif", 13))
        .disable_x_mesh()
        .draw()?;
    for (i, summary) in summaries.iter().enumerate() {
        let x = i as f64;
        let dots = runs
            .iter()
            .filter(|r| r.variant == summary.variant)
            .enumerate()
            .map(|(k, r)| {
                (
                    x - 0.15 + 0.3 * (k as f64 / 10.0),
                    r.test_mse_final.clamp(low, high),
                )
            });
        chart.draw_series(dots.map(|p| Circle::new(p, 4, RED.mix(0.7).filled())))?;
        let median = summary.test_mse_final.median.clamp(low, high);
        chart.draw_series(LineSeries::new(
            [(x - 0.3, median), (x + 0.3, median)],
            BLACK.stroke_width(3),
        ))?;
    }
    for (value, color) in [(ridge, BLUE), (mean, BLACK)] {
        let line = DashedLineSeries::new(
            [(-0.5, value), (n as f64 - 0.5, value)],
            8,
            5,
            color.stroke_width(1),
        );
        chart.draw_series(line)?;
    }
    Ok(())
}
