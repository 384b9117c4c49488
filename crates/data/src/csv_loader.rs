//! CSV loading: one sample per row, some columns targets, the rest the
//! signal (one channel), as a chemometrics or time-series user keeps them.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3};

use crate::{DataError, Dataset};

/// A column, by header name or by 0-based index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// By header name (needs a header row).
    Name(String),
    /// By 0-based position.
    Index(usize),
}

impl Column {
    /// Parses a command-line spelling: a number is an index, anything else a name.
    pub fn parse(text: &str) -> Column {
        text.parse()
            .map(Column::Index)
            .unwrap_or_else(|_| Column::Name(text.to_string()))
    }
}

/// How to read a CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Whether the first row names the columns (default true).
    pub has_header: bool,
    /// Target columns; every other column is a signal point.
    pub targets: Vec<Column>,
    /// Field delimiter (default `,`).
    pub delimiter: u8,
    /// How the target column is read: numbers, or class labels.
    pub labels: Labels,
}

/// How a CSV's target column is read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Labels {
    /// Numbers: regression targets (or class indices given as numbers).
    #[default]
    Values,
    /// Class labels, strings or integers, in one target column; the
    /// classes are the distinct labels sorted (integers by value, anything
    /// else as text), as scikit-learn's `LabelEncoder` and Keras users'
    /// `np.unique` order them.
    Classes,
    /// Class labels from this list, in its order: a test file read with
    /// its training file's classes. A label not in it is an error.
    KnownClasses(Vec<String>),
}

/// The distinct labels sorted: by value when every label is an integer
/// (so `10` follows `9`), else as text.
pub fn sorted_classes<'a>(labels: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut distinct: Vec<String> = labels
        .into_iter()
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let integers: Option<Vec<i64>> = distinct.iter().map(|l| l.parse().ok()).collect();
    if let Some(values) = integers {
        let mut pairs: Vec<(i64, String)> = values.into_iter().zip(distinct).collect();
        pairs.sort();
        distinct = pairs.into_iter().map(|(_, l)| l).collect();
    }
    distinct
}

impl CsvOptions {
    /// Header row, comma-separated, these target columns.
    pub fn new(targets: Vec<Column>) -> Self {
        Self {
            has_header: true,
            targets,
            delimiter: b',',
            labels: Labels::Values,
        }
    }

    /// One target column of class labels.
    pub fn classes(target: Column) -> Self {
        Self {
            labels: Labels::Classes,
            ..Self::new(vec![target])
        }
    }
}

/// Loads a CSV file into a one-channel [`Dataset`]. Nothing is dropped or
/// coerced: an empty file, a ragged row, a non-number, NaN or infinity, or a
/// missing target column is an error naming the file, row and column.
pub fn load_csv(path: &Path, options: &CsvOptions) -> Result<Dataset, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    load_csv_bytes(path, &bytes, options)
}

/// Loads a CSV file's bytes, as [`load_csv`] does the file; `path` only
/// names it in errors.
pub fn load_csv_bytes(
    path: &Path,
    bytes: &[u8],
    options: &CsvOptions,
) -> Result<Dataset, DataError> {
    let (signals, targets, classes) = parse_table(path, bytes, options, true)?;
    let data = Dataset::new(signals, targets)?;
    match classes {
        Some(classes) => data.with_classes(classes),
        None => Ok(data),
    }
}

/// The signals of a CSV file that may hold no target (what `predict`
/// reads): every column but `options.targets` (which may be empty) is a
/// signal point; the same errors as [`load_csv`].
pub fn load_csv_signals(path: &Path, options: &CsvOptions) -> Result<Array3<f32>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    let (signals, _, _) = parse_table(path, &bytes, options, false)?;
    if let Some((index, _)) = signals.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(DataError::Shape(format!(
            "{}: signal value at {index:?} is not finite",
            path.display()
        )));
    }
    Ok(signals)
}

/// Signals, targets (`[rows, target columns]`, class indices when
/// labelled) and class names of a CSV; with `require_target` false, no
/// target column is needed.
type Table = (Array3<f32>, Array2<f32>, Option<Vec<String>>);

fn parse_table(
    path: &Path,
    bytes: &[u8],
    options: &CsvOptions,
    require_target: bool,
) -> Result<Table, DataError> {
    let text = utf8_body(path, bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(options.delimiter)
        .from_reader(text);
    let owned: PathBuf = path.into();
    let mut header: Option<Vec<String>> = None;
    let mut width = None;
    let mut target_columns: Vec<usize> = Vec::new();
    let mut signal_values: Vec<f32> = Vec::new();
    let mut target_values: Vec<f32> = Vec::new();
    let labelled = options.labels != Labels::Values;
    if labelled && options.targets.len() != 1 {
        return Err(DataError::Csv {
            path: path.into(),
            reason: format!(
                "class labels are read from one target column, not {}",
                options.targets.len()
            ),
        });
    }
    // Each row's label and line, when the target holds class labels.
    let mut label_cells: Vec<(String, usize)> = Vec::new();
    let mut rows = 0usize;
    for record in reader.records() {
        let record = record.map_err(|e| DataError::Csv {
            path: owned.clone(),
            reason: e.to_string(),
        })?;
        let line = record.position().map_or(rows + 1, |p| p.line() as usize);
        if rows == 0 && (header.is_none() || !options.has_header) {
            check_separator(&owned, &record, options.delimiter, line)?;
        }
        if options.has_header && header.is_none() {
            let names: Vec<String> = record.iter().map(|s| s.trim().to_string()).collect();
            // The header fixes the width: a target found by name in a
            // header longer than the rows must not index past a row.
            width = Some(names.len());
            header = Some(names);
            continue;
        }
        let expected = *width.get_or_insert(record.len());
        if record.len() != expected {
            return Err(DataError::Ragged {
                path: owned,
                row: line,
                expected,
                found: record.len(),
            });
        }
        if rows == 0 && (require_target || !options.targets.is_empty()) {
            target_columns =
                resolve_targets(&owned, &options.targets, header.as_deref(), expected)?;
        }
        for (index, cell) in record.iter().enumerate() {
            if target_columns.contains(&index) {
                continue;
            }
            signal_values.push(parse_cell(&owned, line, index, cell)?);
        }
        for &index in &target_columns {
            if labelled {
                let label = record[index].trim();
                if label.is_empty() {
                    return Err(DataError::EmptyCell {
                        path: owned,
                        row: line,
                        column: index + 1,
                    });
                }
                label_cells.push((label.to_string(), line));
            } else {
                target_values.push(parse_cell(&owned, line, index, &record[index])?);
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(DataError::Empty { path: owned });
    }
    let length = signal_values.len() / rows;
    if length == 0 {
        return Err(DataError::Shape(format!(
            "{}: every column is a target; no signal left",
            owned.display()
        )));
    }
    let signals = Array3::from_shape_vec((rows, 1, length), signal_values)
        .map_err(|e| DataError::Shape(format!("{}: {e}", owned.display())))?;
    let classes = match &options.labels {
        Labels::Values => None,
        Labels::Classes => Some(sorted_classes(label_cells.iter().map(|(l, _)| l.as_str()))),
        Labels::KnownClasses(known) => Some(known.clone()),
    };
    if let Some(classes) = &classes {
        for (label, line) in &label_cells {
            let index =
                classes
                    .iter()
                    .position(|c| c == label)
                    .ok_or_else(|| DataError::UnknownLabel {
                        path: owned.clone(),
                        row: *line,
                        label: label.clone(),
                        known: classes.join(", "),
                    })?;
            target_values.push(index as f32);
        }
    }
    let targets = Array2::from_shape_vec((rows, target_columns.len()), target_values)
        .map_err(|e| DataError::Shape(format!("{}: {e}", owned.display())))?;
    Ok((signals, targets, classes))
}

/// The file's text without a UTF-8 byte-order mark; a UTF-16 file (by its
/// mark, or by the NUL bytes of its ASCII characters) is named as such.
fn utf8_body<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a [u8], DataError> {
    let encoding = |reason: &str| DataError::Csv {
        path: path.into(),
        reason: reason.to_string(),
    };
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(encoding(
            "the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8",
        ));
    }
    if bytes.iter().take(4096).any(|&b| b == 0) {
        return Err(encoding(
            "the file holds NUL bytes: it looks UTF-16 or binary, not a UTF-8 CSV",
        ));
    }
    Ok(bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes))
}

/// A first row that is one cell holding another common separator means the
/// file is not separated by `delimiter`: say which separator it looks like.
fn check_separator(
    path: &Path,
    record: &csv::StringRecord,
    delimiter: u8,
    line: usize,
) -> Result<(), DataError> {
    if record.len() != 1 {
        return Ok(());
    }
    let cell = &record[0];
    let found = [b';', b'\t', b'|', b',']
        .into_iter()
        .filter(|&c| c != delimiter)
        .find(|&c| cell.as_bytes().contains(&c));
    match found {
        Some(separator) => Err(DataError::Separator {
            path: path.into(),
            row: line,
            expected: char::from(delimiter),
            found: char::from(separator),
        }),
        None => Ok(()),
    }
}

fn parse_cell(path: &Path, row: usize, index: usize, cell: &str) -> Result<f32, DataError> {
    let text = cell.trim();
    if text.is_empty() {
        return Err(DataError::EmptyCell {
            path: path.into(),
            row,
            column: index + 1,
        });
    }
    let value: f32 = text.parse().map_err(|_| DataError::NotANumber {
        path: path.into(),
        row,
        column: index + 1,
        value: text.to_string(),
    })?;
    if !value.is_finite() {
        return Err(DataError::NotFinite {
            path: path.into(),
            row,
            column: index + 1,
            value: text.to_string(),
        });
    }
    Ok(value)
}

fn resolve_targets(
    path: &Path,
    targets: &[Column],
    header: Option<&[String]>,
    width: usize,
) -> Result<Vec<usize>, DataError> {
    if targets.is_empty() {
        return Err(DataError::MissingTarget {
            path: path.into(),
            column: "(none given)".into(),
            available: format!("{width} columns"),
        });
    }
    targets
        .iter()
        .map(|column| match column {
            Column::Index(i) if *i < width => Ok(*i),
            Column::Index(i) => Err(DataError::MissingTarget {
                path: path.into(),
                column: format!("index {i}"),
                available: format!("{width} columns, indices 0..{}", width.saturating_sub(1)),
            }),
            Column::Name(name) => header
                .and_then(|h| h.iter().position(|c| c == name))
                .ok_or_else(|| DataError::MissingTarget {
                    path: path.into(),
                    column: format!("`{name}`"),
                    available: match header {
                        Some(h) if h.len() <= 8 => format!("header: {}", h.join(", ")),
                        Some(h) => {
                            format!("header: {}, ... ({} columns)", h[..8].join(", "), h.len())
                        }
                        None => "the file has no header row".into(),
                    },
                }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn loads_targets_by_name_and_index_with_the_rest_as_signal() {
        let f = write("y,a,b,c\n1.5,0.1,0.2,0.3\n2.5,1,2,3\n");
        let d =
            load_csv(f.path(), &CsvOptions::new(vec![Column::Name("y".into())])).expect("valid");
        assert_eq!((d.len(), d.channels(), d.length()), (2, 1, 3));
        assert_eq!(d.targets().column(0).to_vec(), vec![1.5, 2.5]);
        assert_eq!(
            d.signals().as_slice().expect("contiguous")[3..],
            [1.0, 2.0, 3.0]
        );
        let no_header = write("0.1,0.2,9\n0.3,0.4,8\n");
        let options = CsvOptions {
            has_header: false,
            ..CsvOptions::new(vec![Column::Index(2)])
        };
        let d = load_csv(no_header.path(), &options).expect("valid");
        assert_eq!(d.targets().column(0).to_vec(), vec![9.0, 8.0]);
    }

    #[test]
    fn class_labels_as_strings_or_integers_map_to_sorted_classes() {
        let f = write("label,a,b\nwalk,1,2\nrun,3,4\nwalk,5,6\nsit,7,8\n");
        let d =
            load_csv(f.path(), &CsvOptions::classes(Column::Name("label".into()))).expect("valid");
        assert_eq!(d.classes().expect("labelled"), ["run", "sit", "walk"]);
        assert_eq!(d.labels().expect("labelled"), vec![2, 0, 2, 1]);
        // Integers sort by value: 10 after 9 (as text it would come first).
        let numbers = write("y,a\n9,1\n10,2\n-1,3\n");
        let d = load_csv(numbers.path(), &CsvOptions::classes(Column::Index(0))).expect("valid");
        assert_eq!(d.classes().expect("labelled"), ["-1", "9", "10"]);
        // A test file read with the training classes: an unseen label is
        // named with its row.
        let test = write("label,a,b\nrun,1,2\nswim,3,4\n");
        let options = CsvOptions {
            labels: Labels::KnownClasses(vec!["run".into(), "sit".into(), "walk".into()]),
            ..CsvOptions::new(vec![Column::Name("label".into())])
        };
        let err = load_csv(test.path(), &options).unwrap_err();
        assert!(
            matches!(&err, DataError::UnknownLabel { row: 3, label, .. } if label == "swim"),
            "{err}"
        );
    }

    #[test]
    fn bad_cells_are_located_by_row_and_column() {
        let opts = CsvOptions::new(vec![Column::Index(0)]);
        let err = load_csv(write("y,a,b\n1,2,3\n4,x,6\n").path(), &opts).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::NotANumber {
                    row: 3,
                    column: 2,
                    ..
                }
            ),
            "{err}"
        );
        let err = load_csv(write("y,a,b\n1,NaN,3\n").path(), &opts).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::NotFinite {
                    row: 2,
                    column: 2,
                    ..
                }
            ),
            "{err}"
        );
        let err = load_csv(write("y,a,b\n1,2,inf\n").path(), &opts).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::NotFinite {
                    row: 2,
                    column: 3,
                    ..
                }
            ),
            "{err}"
        );
        let err = load_csv(write("y,a,b\n1,2,3\n4,5\n").path(), &opts).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Ragged {
                    row: 3,
                    expected: 3,
                    found: 2,
                    ..
                }
            ),
            "{err}"
        );
        let err = load_csv(write("y,a,b\n").path(), &opts).unwrap_err();
        assert!(matches!(err, DataError::Empty { .. }), "{err}");
        let err = load_csv(write("").path(), &opts).unwrap_err();
        assert!(matches!(err, DataError::Empty { .. }), "{err}");
    }

    #[test]
    fn a_missing_target_column_names_what_exists() {
        let f = write("conc,a,b\n1,2,3\n");
        let err = load_csv(
            f.path(),
            &CsvOptions::new(vec![Column::Name("target".into())]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`target`") && text.contains("conc, a, b"),
            "{text}"
        );
        let err = load_csv(f.path(), &CsvOptions::new(vec![Column::Index(7)])).unwrap_err();
        assert!(matches!(err, DataError::MissingTarget { .. }));
    }

    #[test]
    fn column_parsing_tells_indices_from_names() {
        assert_eq!(Column::parse("3"), Column::Index(3));
        assert_eq!(Column::parse("conc"), Column::Name("conc".into()));
    }
}
