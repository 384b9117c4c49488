//! Callbacks resumed from a checkpoint: EarlyStopping replays its rule over
//! the stored history and stops, and restores, exactly where a run never
//! interrupted does.

use std::collections::BTreeMap;

use kymo_data::{validation_split, SyntheticSpectra};
use kymo_layers::{zoo, Sequential};
use kymo_optim::{Adam, AnyOptimizer};
use kymo_train::{Callback, Checkpoint, EarlyStopping, EpochLog, FitConfig, TrainError, Trainer};

/// Keeps every epoch's checkpoint, so the test can hand any epoch's to
/// resume.
#[derive(Default)]
struct EveryCheckpoint(BTreeMap<usize, Checkpoint>);

impl Callback for EveryCheckpoint {
    fn on_epoch_end(&mut self, trainer: &mut Trainer, log: &EpochLog) -> Result<(), TrainError> {
        self.0.insert(log.epoch, trainer.checkpoint());
        Ok(())
    }
}

fn weights_bits(trainer: &Trainer) -> Vec<Vec<u32>> {
    trainer
        .model
        .get_weights()
        .iter()
        .map(|w| w.array.iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn early_stopping_resumed_mid_run_stops_and_restores_as_an_uninterrupted_run() {
    let raw = SyntheticSpectra {
        samples: 200,
        length: 64,
        seed: 3,
        ..Default::default()
    }
    .generate()
    .expect("valid");
    let (train, validation) = validation_split(&raw, 0.25).expect("splits");
    let config = FitConfig {
        epochs: 40,
        batch_size: 4,
        seed: 2,
        ..FitConfig::default()
    };
    let fresh = || {
        let model = Sequential::new(&zoo::answer(64), 9).expect("builds");
        Trainer::new(model, AnyOptimizer::Adam(Adam::new(3e-3)), config.clone())
    };
    let mut whole = fresh();
    let mut stopper = EarlyStopping::restoring_best("val_loss", 2);
    whole
        .fit(&train, Some(&validation), &mut [&mut stopper])
        .expect("trains");
    let stopped = stopper.stopped_epoch.expect("this setting stops early");
    assert!(stopped >= 3, "stopped at {stopped}: too early to interrupt");

    // Interrupted after the second epoch, resumed through a checkpoint.
    let mut first = fresh();
    first.config.epochs = 2;
    let mut kept = EveryCheckpoint::default();
    // No EarlyStopping here: its end of training would put the best
    // weights back, and a kill leaves the last epoch's weights instead.
    first
        .fit(&train, Some(&validation), &mut [&mut kept])
        .expect("trains");
    let mut resumed = fresh();
    let earlier: Vec<&Checkpoint> = kept.0.values().collect();
    resumed
        .resume_from(&first.checkpoint(), &earlier)
        .expect("the same model");
    let mut resumed_stopper = EarlyStopping::restoring_best("val_loss", 2);
    resumed
        .fit(&train, Some(&validation), &mut [&mut resumed_stopper])
        .expect("trains");
    assert_eq!(resumed_stopper.stopped_epoch, Some(stopped));
    assert_eq!(resumed_stopper.best_epoch, stopper.best_epoch);
    assert_eq!(weights_bits(&resumed), weights_bits(&whole));

    // Without the best epoch's weights the callback cannot resume: here
    // the first epoch is made the best, and only the last one is kept.
    let mut state = first.checkpoint();
    state.history.epochs[0].val_loss = Some(0.0);
    let mut blind = Trainer::from_checkpoint(&state).expect("rebuilds");
    blind.config.epochs = 40;
    let error = blind
        .fit(
            &train,
            Some(&validation),
            &mut [&mut EarlyStopping::restoring_best("val_loss", 2)],
        )
        .expect_err("cannot resume");
    assert!(
        matches!(
            error,
            TrainError::Resume {
                callback: "EarlyStopping",
                ..
            }
        ),
        "{error}"
    );
}
