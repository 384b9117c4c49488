//! Errors raised while loading or preparing data, located to the file, row
//! and column.

use std::path::PathBuf;

use thiserror::Error;

/// What went wrong with the data, and where.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A `.ts` file breaks its format.
    #[error("{path}: line {line}: {reason}")]
    TsFormat {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong there.
        reason: String,
    },
    /// The file holds no data rows.
    #[error("{path}: no data rows")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A cell is not a number.
    #[error("{path}: row {row}, column {column}: `{value}` is not a number")]
    NotANumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number in the file.
        row: usize,
        /// 1-based column number.
        column: usize,
        /// The cell's text.
        value: String,
    },
    /// A cell is empty.
    #[error("{path}: row {row}, column {column}: the cell is empty")]
    EmptyCell {
        /// The file.
        path: PathBuf,
        /// 1-based line number in the file.
        row: usize,
        /// 1-based column number.
        column: usize,
    },
    /// The first row is one cell that holds another separator.
    #[error("{path}: row {row} is one cell holding `{found}`: the file looks `{found}`-separated, not `{expected}`-separated")]
    Separator {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        row: usize,
        /// The separator the reader was told to use.
        expected: char,
        /// The separator the row seems to use.
        found: char,
    },
    /// A cell is NaN or infinite.
    #[error("{path}: row {row}, column {column}: `{value}` is not finite")]
    NotFinite {
        /// The file.
        path: PathBuf,
        /// 1-based line number in the file (for NPY, the 1-based sample).
        row: usize,
        /// 1-based column number (for NPY, the 1-based flat index in the sample).
        column: usize,
        /// The value as written.
        value: String,
    },
    /// A row has another number of cells than the first.
    #[error("{path}: row {row} has {found} cells, the first row has {expected}")]
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        row: usize,
        /// Cells in the first row.
        expected: usize,
        /// Cells in this row.
        found: usize,
    },
    /// A target column named or numbered by the caller does not exist.
    #[error("{path}: target column {column} not found ({available})")]
    MissingTarget {
        /// The file.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// What the file has.
        available: String,
    },
    /// A class label a test file holds that its training file did not.
    #[error("{path}: row {row}: label `{label}` is not one of the training classes ({known})")]
    UnknownLabel {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        row: usize,
        /// The label.
        label: String,
        /// The classes it could have been, comma-separated.
        known: String,
    },
    /// The CSV reader failed (bad quoting, invalid UTF-8, ...).
    #[error("{path}: {reason}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The reader's message, with its position.
        reason: String,
    },
    /// An NPY file could not be read as an array of the expected kind.
    #[error("{path}: {reason}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Signals and targets do not fit together, or an argument is invalid.
    #[error("dataset: {0}")]
    Shape(String),
}
