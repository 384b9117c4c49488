//! kymo-train's integration tests, in one binary (one link of the whole
//! stack instead of one per file): checkpoint files, the doctor, fit, and
//! kill -9 during training.

mod checkpoint_files;

mod classification;
mod fit;
mod graph_models;
mod kill_nine;

mod predictor;
mod resume_callbacks;
mod search;
mod seed_bits;
