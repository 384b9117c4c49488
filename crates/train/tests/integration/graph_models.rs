//! Graph models through the whole training path: a residual network and an
//! Inception network train, checkpoint and resume on the bits of an
//! uninterrupted run.

use kymo_data::{validation_split, DatasetScaler, SyntheticSpectra};
use kymo_layers::zoo::{self, InceptionSizes};
use kymo_layers::ArchitectureSpec;
use kymo_optim::{Adam, AnyOptimizer};
use kymo_train::{Checkpoint, FitConfig, Trainer};

fn data(length: usize) -> (kymo_data::Dataset, kymo_data::Dataset) {
    let spectra = SyntheticSpectra {
        samples: 48,
        length,
        ..Default::default()
    }
    .generate()
    .expect("generates");
    let (train, val) = validation_split(&spectra, 0.25).expect("splits");
    let scaler = DatasetScaler::fit(&train).expect("fits");
    (
        scaler.transform(&train).expect("same width"),
        scaler.transform(&val).expect("same width"),
    )
}

fn trainer(spec: &ArchitectureSpec, epochs: usize) -> Trainer {
    let config = FitConfig {
        epochs,
        batch_size: 8,
        seed: 3,
        ..Default::default()
    };
    let model = spec.build::<f32>(3).expect("builds");
    Trainer::new(model, AnyOptimizer::Adam(Adam::new(1e-3)), config)
}

fn bits(trainer: &Trainer) -> Vec<Vec<u32>> {
    trainer
        .model
        .get_weights()
        .iter()
        .map(|w| w.array.iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn graph_models_resume_from_a_checkpoint_on_the_uninterrupted_bits() {
    let length = 48;
    let (train, val) = data(length);
    let inception = InceptionSizes {
        kernels: [8, 4, 2],
        filters: 4,
        bottleneck: 4,
        depth: 3,
    };
    for spec in [
        ArchitectureSpec::from(zoo::resnet_with(length, [4, 8, 8])),
        zoo::inception_with(length, inception).into(),
    ] {
        let mut whole = trainer(&spec, 4);
        whole.fit(&train, Some(&val), &mut []).expect("trains");
        let losses = whole.history.series("loss");
        assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");

        let mut first = trainer(&spec, 2);
        first.fit(&train, Some(&val), &mut []).expect("trains");
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("run.kymo");
        first.checkpoint().save(&path).expect("saves");
        let mut resumed =
            Trainer::from_checkpoint(&Checkpoint::load(&path).expect("loads")).expect("rebuilds");
        assert_eq!(
            resumed.model.architecture(),
            spec.build::<f32>(0).expect("builds").architecture()
        );
        resumed.config.epochs = 4;
        resumed.fit(&train, Some(&val), &mut []).expect("trains");
        assert_eq!(bits(&resumed), bits(&whole));
        assert_eq!(
            resumed.history.series("val_loss"),
            whole.history.series("val_loss")
        );
    }
}
