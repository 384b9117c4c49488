//! PNG plots of an experiment, drawn with plotters and an embedded font
//! (DejaVu Sans, so no system font library is needed).
//!
//! plotters draws into an RGB buffer and the `png` crate encodes it:
//! plotters' own encoder goes through the `image` crate, whose decoders
//! (JPEG among them) were a tenth of a fresh release build and unused here.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::Context;
use plotters::coord::combinators::IntoLogRange;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::run::RunResult;
use super::stats::VariantSummary;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

pub(crate) fn register_font() -> anyhow::Result<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow::anyhow!("embedded font is invalid"))
}

/// Draws a `width` x `height` picture with `draw` and writes it to `path`
/// as an 8-bit RGB PNG.
pub(crate) fn save_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Line plots on white compress well: with the defaults the plots were
    // 2.5x larger than the `image` crate's encoding of them.
    encoder.set_compression(png::Compression::Best);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let mut writer = encoder
        .write_header()
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .write_image_data(&pixels)
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .finish()
        .with_context(|| format!("writing {}", path.display()))
}

fn positive_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let finite: Vec<f64> = values.filter(|v| v.is_finite() && *v > 0.0).collect();
    let low = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let high = finite.iter().copied().fold(0.0f64, f64::max);
    if finite.is_empty() {
        (1e-3, 1.0)
    } else {
        (low / 1.5, high * 1.5)
    }
}

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
