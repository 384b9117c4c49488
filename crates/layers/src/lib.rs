//! kymo-layers
