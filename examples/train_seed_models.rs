//! Trains the seed question's model (batch 1) and the accepted answer's
//! model (batch 32) on synthetic spectra, in a few lines of library code.
//!
//! `cargo run --release --example train_seed_models [samples] [epochs]`

use kymo::data::{validation_split, DatasetScaler, SyntheticSpectra};
use kymo::layers::{zoo, Sequential};
use kymo::optim::{Adam, AnyOptimizer};
use kymo::train::{FitConfig, Metric, Progress, Trainer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let samples: usize = args.next().map_or(Ok(400), |a| a.parse())?;
    let epochs: usize = args.next().map_or(Ok(5), |a| a.parse())?;

    let data = SyntheticSpectra {
        samples,
        ..Default::default()
    }
    .generate()?;
    let (train, val) = validation_split(&data, 0.2)?;
    // Standardize on the training split only.
    let scaler = DatasetScaler::fit(&train)?;
    let (train, val) = (scaler.transform(&train)?, scaler.transform(&val)?);

    for (name, spec, batch_size) in [
        ("original", zoo::original(1040), 1),
        ("answer", zoo::answer(1040), 32),
    ] {
        let model = Sequential::new(&spec, 0)?;
        let config = FitConfig {
            epochs,
            batch_size,
            metrics: vec![Metric::R2],
            ..Default::default()
        };
        let mut trainer = Trainer::new(model, AnyOptimizer::Adam(Adam::new(1e-3)), config);
        let batches = train.len().div_ceil(batch_size);
        trainer.fit(&train, Some(&val), &mut [&mut Progress::new(batches)])?;
        let last = trainer.history.epochs.last().ok_or("no epoch ran")?;
        println!(
            "{name} (batch {batch_size}): val_loss {:.4} (target variance 1.0 after standardization), val_r2 {:.3}, {:.0} samples/s",
            last.val_loss.unwrap_or(f64::NAN),
            last.get("val_r2").unwrap_or(f64::NAN),
            last.samples_per_second
        );
    }
    Ok(())
}
