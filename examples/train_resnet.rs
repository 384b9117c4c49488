//! Trains a residual network (ResNet, Wang et al. 2017, at a quarter of its
//! width) on synthetic spectra, checkpoints it halfway, and shows that the
//! resumed run ends on the bits of the uninterrupted one.
//!
//! `cargo run --release --example train_resnet [epochs]`

use kymo::data::{validation_split, DatasetScaler, SyntheticSpectra};
use kymo::layers::zoo;
use kymo::optim::{Adam, AnyOptimizer};
use kymo::train::{Checkpoint, FitConfig, Trainer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let epochs: usize = std::env::args().nth(1).map_or(Ok(6), |a| a.parse())?;
    let data = SyntheticSpectra {
        samples: 300,
        length: 256,
        ..Default::default()
    }
    .generate()?;
    let (train, val) = validation_split(&data, 0.2)?;
    let scaler = DatasetScaler::fit(&train)?; // the training split's statistics only
    let (train, val) = (scaler.transform(&train)?, scaler.transform(&val)?);
    let spec = zoo::resnet_with(256, [16, 32, 32]);
    let new_run = |epochs| -> Result<Trainer, Box<dyn std::error::Error>> {
        let config = FitConfig {
            epochs,
            batch_size: 32,
            ..Default::default()
        };
        Ok(Trainer::new(
            kymo::layers::Graph::new(&spec, 0)?,
            AnyOptimizer::Adam(Adam::new(1e-3)),
            config,
        ))
    };
    let mut whole = new_run(epochs)?;
    whole.fit(&train, Some(&val), &mut [])?;
    let mut half = new_run(epochs / 2)?;
    half.fit(&train, Some(&val), &mut [])?;
    let path = std::env::temp_dir().join("kymo-resnet-example.kymo");
    half.checkpoint().save(&path)?;
    let mut resumed = Trainer::from_checkpoint(&Checkpoint::load(&path)?)?;
    resumed.config.epochs = epochs;
    resumed.fit(&train, Some(&val), &mut [])?;
    println!("{}", whole.model.summary());
    for (epoch, log) in whole.history.epochs.iter().enumerate() {
        println!(
            "epoch {}: loss {:.4}, val_loss {:.4}",
            epoch + 1,
            log.loss,
            log.val_loss.unwrap_or(f64::NAN)
        );
    }
    let same = resumed.model.get_weights() == whole.model.get_weights();
    println!(
        "resumed from epoch {} at {}: same weights as the uninterrupted run: {same}",
        epochs / 2,
        path.display()
    );
    Ok(())
}
