//! # kymo-data
//!
//! Data for 1D signal models: a [`Dataset`] of signals `[N, C, L]` and
//! targets `[N, T]`; CSV and NPY loaders whose errors name the file, row and
//! column; the [`SyntheticSpectra`] generator behind kymo's examples and
//! experiments; Keras's `validation_split` and seeded random splits; a
//! [`Standardizer`] fitted on training data; and seeded mini-batch orders.
//! It can be used without any other kymo crate but the RNG of kymo-tensor.
//!
//! ```
//! use kymo_data::{validation_split, DatasetScaler, SyntheticSpectra};
//!
//! let data = SyntheticSpectra { samples: 50, ..Default::default() }.generate().unwrap();
//! assert_eq!((data.len(), data.channels(), data.length()), (50, 1, 1040));
//! let (train, val) = validation_split(&data, 0.2).unwrap();
//! let scaler = DatasetScaler::fit(&train).unwrap();
//! let val = scaler.transform(&val).unwrap();
//! assert_eq!(val.len(), 10);
//! ```

mod augment;
mod batching;
mod csv_loader;
mod dataset;
pub mod datasets;
mod error;
mod metrics;
mod npy;
pub mod preprocess;
mod split;
mod standardize;
mod synthetic;
mod ts_format;
mod ucr_sets;
mod windows;

pub use augment::Augmentation;
pub use batching::epoch_batches;
pub use csv_loader::{
    load_csv, load_csv_bytes, load_csv_signals, sorted_classes, Column, CsvOptions, Labels,
};
pub use dataset::Dataset;
pub use error::DataError;
pub use metrics::{predicted_classes, true_classes, ConfusionMatrix, Metric};
pub use npy::{
    infer_layout, load_npy, load_npy_bytes, load_npy_bytes_with, load_npy_signals, load_npy_with,
    NpyData, NpyLayout, NpyOptions,
};
pub use preprocess::{Pipeline, Preprocessor, Step};
pub use split::{random_split, stratified_split, validation_split};
pub use standardize::{DatasetScaler, Standardizer};
pub use synthetic::SyntheticSpectra;
pub use ts_format::{load_ts, parse_ts, TsData, TsTargets};
pub use windows::{
    blocked_split, is_windowed, overlaps_between, overlaps_within, recording_order, BlockedRows,
    Overlaps, MIN_SHARED, WINDOWED_SHARE,
};
