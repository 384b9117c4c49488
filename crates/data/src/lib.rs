//! kymo-data
