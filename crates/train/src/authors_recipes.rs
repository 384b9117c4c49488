//! The training recipes the time-series zoo's authors published with their
//! models (hfawaz/dl-4-tsc `classifiers/fcn.py`, `resnet.py`;
//! hfawaz/InceptionTime `classifiers/inception.py`): Adam 1e-3,
//! ReduceLROnPlateau on the training loss (factor 0.5, patience 50, floor
//! 1e-4), the weights of the epoch with the lowest training loss kept, no
//! validation data, a batch of a tenth of the training set capped at 16
//! (FCN) or 64 (ResNet, InceptionTime), and each series z-normalized
//! (kymo's `snv`, per channel), as their `read_dataset` prepares the UCR
//! archive.

use crate::{Loss, Metric, Recipe};

/// The authors' recipe for the zoo model `model` (`fcn`, `resnet`,
/// `inception`) on `train_samples` training cases, for a softmax
/// classifier; `None` for another model.
pub fn authors_recipe(model: &str, train_samples: usize) -> Option<Recipe> {
    let (cap, epochs) = match model {
        "fcn" => (16, 2000),
        "resnet" => (64, 1500),
        "inception" => (64, 1500),
        _ => return None,
    };
    Some(Recipe {
        learning_rate: 1e-3,
        batch_size: (train_samples / 10).clamp(1, cap),
        epochs,
        validation: false,
        // Restores the lowest-training-loss epoch at the end, as the
        // authors' best-only ModelCheckpoint(monitor='loss') reloaded.
        early_stopping: true,
        early_stopping_patience: Some(epochs),
        reduce_lr_patience: Some(50),
        min_learning_rate: Some(1e-4),
        monitor: Some("loss".into()),
        // Per-series z-normalization: per-point standardization fitted on
        // a few dozen series took FCN on Coffee from 1.00 to 0.68.
        preprocessing: Some("snv".into()),
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        metrics: vec![Metric::Accuracy],
        ..Recipe::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_follow_the_authors_caps_and_the_schedule_watches_training_loss() {
        let fcn = authors_recipe("fcn", 50).expect("zoo model");
        assert_eq!((fcn.batch_size, fcn.epochs), (5, 2000));
        assert_eq!(authors_recipe("fcn", 1000).expect("zoo").batch_size, 16);
        assert_eq!(authors_recipe("resnet", 1000).expect("zoo").batch_size, 64);
        assert_eq!(authors_recipe("inception", 5).expect("zoo").batch_size, 1);
        let plateau = fcn.reduce_lr().expect("a plateau schedule");
        assert_eq!(plateau.monitor.name, "loss");
        assert_eq!(plateau.min_lr, 1e-4);
        assert!(authors_recipe("answer", 50).is_none());
        // It survives its own TOML.
        assert_eq!(Recipe::from_toml_str(&fcn.to_toml()).expect("reads"), fcn);
    }
}
