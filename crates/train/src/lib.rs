//! kymo-train
