//! The user's data files, by extension: a CSV (one sample per row, a target
//! column, one channel), a UCR/UEA `.ts` file (labels or targets in the
//! file, any number of channels) or an `x.npy` with its `y.npy` (either
//! axis order, any number of channels). Shared by `doctor`, `fit` and
//! `predict`.

use std::path::Path;

use kymo_data::{
    load_csv, load_npy_signals, load_npy_with, load_ts, Column, CsvOptions, Dataset, Labels,
    NpyLayout, NpyOptions,
};
use ndarray::Array3;

/// What the target of a file is, as the command line says it.
pub struct TargetChoice<'a> {
    /// The target column of a CSV, by name or index; for an `x.npy`, the
    /// path of its `y.npy`.
    pub column: Option<&'a str>,
    /// Whether the targets are class labels.
    pub classes: bool,
    /// The classes a model was trained on: a file to score is read with
    /// them, so its labels map to the same indices.
    pub known_classes: Option<&'a [String]>,
    /// An `x.npy`'s axis order (`None`: inferred, see [`kymo_data::infer_layout`]).
    pub layout: Option<NpyLayout>,
    /// The input of the model the data is for, `(channels, length)`, when
    /// the model fixes it: it settles an `x.npy`'s axis order.
    pub model_input: Option<(usize, usize)>,
}

/// The command-line spelling of an `x.npy`'s axis order.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LayoutArg {
    /// `(samples, channels, points)`, PyTorch's order.
    ChannelsFirst,
    /// `(samples, points, channels)`, Keras's order.
    ChannelsLast,
}

impl From<LayoutArg> for NpyLayout {
    fn from(layout: LayoutArg) -> Self {
        match layout {
            LayoutArg::ChannelsFirst => NpyLayout::ChannelsFirst,
            LayoutArg::ChannelsLast => NpyLayout::ChannelsLast,
        }
    }
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(extension))
}

/// Whether `path` is an NPY file.
pub fn is_npy(path: &Path) -> bool {
    has_extension(path, "npy")
}

/// Whether `path` holds its targets itself (a `.ts` file), so that it
/// needs no `--target`.
pub fn holds_targets(path: &Path) -> bool {
    has_extension(path, "ts")
}

fn npy_options(target: &TargetChoice<'_>) -> NpyOptions {
    NpyOptions {
        layout: target.layout,
        model_input: target.model_input,
        classes: target.classes,
        known_classes: target.known_classes.map(<[String]>::to_vec),
    }
}

fn say_layout(path: &Path, layout: Option<NpyLayout>, signals: &Array3<f32>) {
    let (channels, length) = (signals.shape()[1], signals.shape()[2]);
    eprintln!(
        "kymo: read {} as {}: {} signals of {length} points and {channels} channel(s)",
        path.display(),
        layout.map_or("(samples, points)", NpyLayout::describe),
        signals.shape()[0]
    );
}

/// Reads `path` as its extension says.
pub fn load(path: &Path, target: &TargetChoice<'_>) -> anyhow::Result<Dataset> {
    if holds_targets(path) {
        let cases = load_ts(path)?;
        return Ok(match target.known_classes {
            Some(classes) => cases.into_dataset_with_classes(path, classes)?,
            None => cases.into_dataset()?,
        });
    }
    if is_npy(path) {
        let Some(y_path) = target.column else {
            anyhow::bail!(
                "{}: an NPY file of signals needs its targets: --target y.npy",
                path.display()
            );
        };
        let read = load_npy_with(path, Path::new(y_path), &npy_options(target))?;
        say_layout(path, read.layout, read.dataset.signals());
        return Ok(read.dataset);
    }
    let labels = match (target.known_classes, target.classes) {
        (Some(classes), _) => Labels::KnownClasses(classes.to_vec()),
        (None, true) => Labels::Classes,
        (None, false) => Labels::Values,
    };
    let targets = target.column.map(Column::parse).into_iter().collect();
    let options = CsvOptions {
        labels,
        ..CsvOptions::new(targets)
    };
    if options.targets.is_empty() && options.labels != Labels::Values {
        anyhow::bail!(
            "{}: class labels need --target, the column that holds them",
            path.display()
        );
    }
    Ok(load_csv(path, &options)?)
}

/// Reads the signals of `path` alone, to predict: a CSV's every column or
/// an `x.npy`.
pub fn load_signals(path: &Path, target: &TargetChoice<'_>) -> anyhow::Result<Array3<f32>> {
    if is_npy(path) {
        let (signals, layout) = load_npy_signals(path, &npy_options(target))?;
        say_layout(path, layout, &signals);
        return Ok(signals);
    }
    Ok(kymo_data::load_csv_signals(
        path,
        &CsvOptions::new(Vec::new()),
    )?)
}
