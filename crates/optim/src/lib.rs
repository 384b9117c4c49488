//! kymo-optim
