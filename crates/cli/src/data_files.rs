//! The user's data files, by extension: a CSV (one sample per row, a target
//! column, one channel) or a UCR/UEA `.ts` file (labels or targets in the
//! file, any number of channels). Shared by `fit` and `predict`.

use std::path::Path;

use kymo_data::{load_csv, load_ts, Column, CsvOptions, Dataset, Labels};

/// What the target of a file is, as the command line says it.
pub struct TargetChoice<'a> {
    /// The target column of a CSV, by name or index.
    pub column: Option<&'a str>,
    /// Whether a CSV's target column holds class labels.
    pub classes: bool,
    /// The classes a model was trained on: a file to score is read with
    /// them, so its labels map to the same indices.
    pub known_classes: Option<&'a [String]>,
}

/// Reads `path` as its extension says.
pub fn load(path: &Path, target: &TargetChoice<'_>) -> anyhow::Result<Dataset> {
    let is_ts = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("ts"));
    if is_ts {
        let cases = load_ts(path)?;
        return Ok(match target.known_classes {
            Some(classes) => cases.into_dataset_with_classes(path, classes)?,
            None => cases.into_dataset()?,
        });
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
