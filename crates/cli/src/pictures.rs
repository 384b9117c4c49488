//! The pictures `kymo doctor --markdown` writes beside its report: the
//! probe's learning curves against the mean predictor, each layer's
//! gradient norm and dead units, and (with `--verify`) each fix against
//! its baseline over seeds. Each is a PNG named after the report
//! (`report.md` -> `report-learning-curves.png`, ...), linked from a
//! `Pictures` section at the report's end.

use std::path::Path;

use kymo_doctor::{ProbeStats, Verification};

/// What the pictures are drawn from.
#[derive(Default)]
pub struct Evidence {
    /// The probe's measurements, when it ran.
    pub probe: Option<ProbeStats>,
    /// `--verify`'s arms, the unfixed setup first.
    pub arms: Vec<(String, Verification)>,
    /// The mean predictor's validation MSE in the arms' units.
    pub arms_mean_val_mse: f64,
}

/// Draws the pictures the evidence allows beside `markdown` and returns
/// the Markdown section that shows them (empty when there is nothing to
/// draw).
pub fn draw(markdown: &Path, evidence: &Evidence) -> anyhow::Result<String> {
    let stem = markdown
        .file_stem()
        .map_or("doctor".into(), |s| s.to_string_lossy().into_owned());
    let beside = |suffix: &str| {
        let name = format!("{stem}-{suffix}.png");
        (markdown.with_file_name(&name), name)
    };
    let mut section = String::new();
    if let Some(probe) = &evidence.probe {
        let (path, name) = beside("learning-curves");
        kymo_plot::learning_curves(
            &path,
            &probe.train_loss,
            &probe.val_loss,
            probe.mean_val_mse,
        )?;
        section.push_str(&format!(
            "### The probe's learning curves\n\nTraining and validation loss per epoch of the probe run (standardized target); the dashed line is predicting the training mean ({:.4}).\n\n![learning curves]({name})\n\n",
            probe.mean_val_mse
        ));
        if !probe.layers.is_empty() {
            let (path, name) = beside("layers");
            let layers: Vec<kymo_plot::LayerHealth> = probe
                .layers
                .iter()
                .map(|l| kymo_plot::LayerHealth {
                    name: l.name.clone(),
                    gradient_norm: l.gradient_norm,
                    dead_fraction: l.dead_fraction,
                })
                .collect();
            kymo_plot::layer_health(&path, &layers)?;
            section.push_str(&format!(
                "### Gradients and dead units by layer\n\nLeft: each layer's gradient norm, median over the probe's steps (decades of fall from the last layer to the first is a vanishing gradient). Right: each rectifier's share of units that never fired on validation after the probe.\n\n![layers]({name})\n\n"
            ));
        }
    }
    if !evidence.arms.is_empty() {
        let (path, name) = beside("verify");
        let arms: Vec<(String, Vec<f64>)> = evidence
            .arms
            .iter()
            .map(|(n, v)| (n.clone(), v.per_seed.clone()))
            .collect();
        kymo_plot::arms_over_seeds(&path, &arms, evidence.arms_mean_val_mse)?;
        section.push_str(&format!(
            "### Each fix against its baseline\n\nValidation MSE of each seed (dots) and their median (bar) for the unfixed setup (`baseline`, black) and each fix, at equal optimizer steps; the dashed line is predicting the training mean.\n\n![verify]({name})\n\n"
        ));
    }
    Ok(if section.is_empty() {
        section
    } else {
        format!("## Pictures\n\n{section}")
    })
}
