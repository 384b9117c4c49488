//! The doctor's pictures, for people who would rather look than read: the
//! probe's learning curves beside the mean predictor, each layer's gradient
//! norm and dead units, and each verified fix against its baseline over
//! seeds.

use std::path::Path;

use plotters::coord::combinators::IntoLogRange;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{positive_range, register_font, save_png};

const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const VALIDATION_COLOR: RGBColor = RGBColor(214, 39, 40);

/// Training and validation loss per epoch on a log scale, with the
/// validation loss of predicting the training mean as a dashed line: a
/// curve above that line has learned nothing a constant would not.
pub fn learning_curves(
    path: &Path,
    train_loss: &[f64],
    val_loss: &[f64],
    mean_val_mse: f64,
) -> anyhow::Result<()> {
    register_font()?;
    let epochs = train_loss.len().max(val_loss.len()).max(2);
    let (low, high) = positive_range(
        train_loss
            .iter()
            .chain(val_loss)
            .copied()
            .chain([mean_val_mse]),
    );
    save_png(path, (900, 480), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "loss per epoch; dashed: predicting the training mean",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(1..epochs, (low..high).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss")
            .label_style(("sans-serif", 13))
            .draw()?;
        for (series, color, label) in [
            (train_loss, TRAIN_COLOR, "training"),
            (val_loss, VALIDATION_COLOR, "validation"),
        ] {
            let points: Vec<(usize, f64)> = series
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite() && **v > 0.0)
                .map(|(e, v)| (e + 1, v.clamp(low, high)))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color));
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )?;
        }
        if mean_val_mse.is_finite() && mean_val_mse > 0.0 {
            chart
                .draw_series(DashedLineSeries::new(
                    [(1, mean_val_mse), (epochs, mean_val_mse)],
                    6,
                    4,
                    BLACK.stroke_width(1),
                ))?
                .label("mean predictor")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()?;
        Ok(())
    })
}

/// One layer's health in the probe: its gradient norm and, for a
/// rectifier, the fraction of its units that never fired on validation.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerHealth {
    /// The layer's name.
    pub name: String,
    /// Median norm of its trainable parameters' gradient over the probe's
    /// steps (NaN for a layer without trainable parameters).
    pub gradient_norm: f64,
    /// Fraction of its units at or below zero for every validation sample
    /// and position (rectifiers only).
    pub dead_fraction: Option<f64>,
}

/// Two panels: each layer's gradient norm on a log scale (a slope of
/// decades from the first layer to the last is a vanishing or exploding
/// gradient), and each rectifier's fraction of dead units.
pub fn layer_health(path: &Path, layers: &[LayerHealth]) -> anyhow::Result<()> {
    register_font()?;
    let with_gradient: Vec<&LayerHealth> = layers
        .iter()
        .filter(|l| l.gradient_norm.is_finite() && l.gradient_norm > 0.0)
        .collect();
    let rectifiers: Vec<(&str, f64)> = layers
        .iter()
        .filter_map(|l| l.dead_fraction.map(|d| (l.name.as_str(), d)))
        .collect();
    save_png(path, (1200, 460), |root| {
        let (left, right) = root.split_horizontally(600);
        let names: Vec<String> = with_gradient.iter().map(|l| l.name.clone()).collect();
        let (low, high) = positive_range(with_gradient.iter().map(|l| l.gradient_norm));
        let mut chart = named_columns(
            &left,
            "gradient norm per layer (median over steps)",
            &names,
            (low..high).log_scale(),
            "gradient norm",
        )?;
        chart.draw_series(LineSeries::new(
            with_gradient
                .iter()
                .enumerate()
                .map(|(i, l)| (i as f64, l.gradient_norm)),
            TRAIN_COLOR.stroke_width(2),
        ))?;
        chart.draw_series(
            with_gradient
                .iter()
                .enumerate()
                .map(|(i, l)| Circle::new((i as f64, l.gradient_norm), 4, TRAIN_COLOR.filled())),
        )?;
        let names: Vec<String> = rectifiers.iter().map(|(n, _)| n.to_string()).collect();
        let mut chart = named_columns(
            &right,
            "dead units per rectifier (on validation)",
            &names,
            0.0f64..1.0,
            "fraction of units never active",
        )?;
        chart.draw_series(rectifiers.iter().enumerate().map(|(i, (_, dead))| {
            let x = i as f64;
            Rectangle::new(
                [(x - 0.3, 0.0), (x + 0.3, *dead)],
                VALIDATION_COLOR.filled(),
            )
        }))?;
        Ok(())
    })
}

/// One column per arm (the unfixed setup first, then each fix): each
/// seed's validation MSE a dot, the median a bar, on a log scale, with the
/// mean predictor's validation MSE dashed.
pub fn arms_over_seeds(
    path: &Path,
    arms: &[(String, Vec<f64>)],
    mean_val_mse: f64,
) -> anyhow::Result<()> {
    register_font()?;
    let (low, high) = positive_range(
        arms.iter()
            .flat_map(|(_, v)| v.iter().copied())
            .chain([mean_val_mse]),
    );
    let names: Vec<String> = arms.iter().map(|(n, _)| n.clone()).collect();
    let n = names.len().max(1);
    save_png(path, (1200, 500), |root| {
        let mut chart = named_columns(
            root,
            "validation MSE per seed, each fix against its baseline; dashed: the mean predictor",
            &names,
            (low..high).log_scale(),
            "validation MSE",
        )?;
        for (i, (_, values)) in arms.iter().enumerate() {
            let x = i as f64;
            let color = if i == 0 { BLACK } else { TRAIN_COLOR };
            let seeds = values.len().max(1) as f64;
            chart.draw_series(values.iter().enumerate().map(|(k, v)| {
                let jitter = -0.15 + 0.3 * (k as f64 + 0.5) / seeds;
                // A non-finite run is drawn at the top edge, where it shows.
                let y = if v.is_finite() {
                    v.clamp(low, high)
                } else {
                    high
                };
                Circle::new((x + jitter, y), 4, color.filled())
            }))?;
            if let Some(median) = median(values) {
                chart.draw_series(LineSeries::new(
                    [(x - 0.3, median), (x + 0.3, median)],
                    color.stroke_width(3),
                ))?;
            }
        }
        if mean_val_mse.is_finite() && mean_val_mse > 0.0 {
            chart.draw_series(DashedLineSeries::new(
                [(-0.5, mean_val_mse), (n as f64 - 0.5, mean_val_mse)],
                6,
                4,
                BLACK.stroke_width(1),
            ))?;
        }
        Ok(())
    })
}

/// A chart of one column per name (ticks at 0, 1, ... labelled with the
/// names) over `y`, its mesh drawn: what the layer and fix pictures share.
fn named_columns<'a, 'b, Y>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    caption: &str,
    names: &[String],
    y: Y,
    y_desc: &str,
) -> anyhow::Result<
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, Y::CoordDescType>>,
>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let n = names.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 17))
        .margin(10)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y)?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| label_at(names, *x))
        .x_label_style(("sans-serif", 11))
        .y_desc(y_desc)
        .label_style(("sans-serif", 12))
        .disable_x_mesh()
        .draw()?;
    Ok(chart)
}

/// The name at an integer tick, nothing between ticks.
fn label_at(names: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 {
        names.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// The (upper) median of the finite values; `None` when there are none.
fn median(values: &[f64]) -> Option<f64> {
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    finite.sort_by(f64::total_cmp);
    Some(finite[finite.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_size(path: &Path) -> (u32, u32) {
        let decoder = png::Decoder::new(std::fs::File::open(path).expect("written"));
        let reader = decoder.read_info().expect("a PNG");
        let info = reader.info();
        (info.width, info.height)
    }

    #[test]
    fn each_picture_is_a_png_of_its_size_even_with_empty_or_non_finite_input() {
        let dir = tempfile::tempdir().expect("temp dir");
        let curves = dir.path().join("curves.png");
        learning_curves(&curves, &[f64::NAN, 0.5], &[], f64::INFINITY).expect("draws");
        assert_eq!(png_size(&curves), (900, 480));
        let health = dir.path().join("health.png");
        let layers = [
            LayerHealth {
                name: "conv".into(),
                gradient_norm: 0.3,
                dead_fraction: Some(0.25),
            },
            LayerHealth {
                name: "flatten".into(),
                gradient_norm: f64::NAN,
                dead_fraction: None,
            },
        ];
        layer_health(&health, &layers).expect("draws");
        assert_eq!(png_size(&health), (1200, 460));
        let arms = dir.path().join("arms.png");
        let values = vec![
            ("baseline".to_string(), vec![1.0, f64::INFINITY, 0.8]),
            ("fix".to_string(), vec![]),
        ];
        arms_over_seeds(&arms, &values, 1.0).expect("draws");
        assert_eq!(png_size(&arms), (1200, 500));
    }

    #[test]
    fn ticks_name_only_integer_positions_and_the_median_skips_non_finite_runs() {
        let names = vec!["a".to_string(), "b".to_string()];
        assert_eq!(label_at(&names, 1.0), "b");
        assert_eq!(label_at(&names, 0.5), "");
        assert_eq!(label_at(&names, 7.0), "");
        assert_eq!(median(&[3.0, f64::NAN, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[f64::INFINITY]), None);
    }
}
