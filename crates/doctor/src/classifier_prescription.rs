//! The doctor's classifier: FCN (Wang et al. 2017) for the data's channels
//! and classes, trained as its authors trained it, and a verdict against
//! MiniRocket on validation rows the choice holds out, as the regression
//! verdict weighs a CNN against ridge: the CNN is prescribed only when it
//! classifies the held-out rows better than MiniRocket does; otherwise the
//! doctor says MiniRocket wins (cheaper, deterministic, no training).

use kymo_baselines::MiniRocketClassifier;
use kymo_data::{stratified_split, Dataset, Metric, Pipeline};
use kymo_layers::{zoo, Activation, ArchitectureSpec};
use kymo_train::{authors_recipe, Recipe, Trainer};

use crate::statistics::median;
use crate::{DoctorError, Finding, FindingId, Severity};

/// The prescribed classifier for `train` (labelled): FCN with the data's
/// channels and `Dense(classes, softmax)`, and the authors' recipe with at
/// most `epochs` epochs (their 2000 when `None`).
pub fn prescribe_classifier(
    train: &Dataset,
    epochs: Option<usize>,
) -> Result<(ArchitectureSpec, Recipe), DoctorError> {
    let classes = train.classes().map_or(0, <[String]>::len);
    let spec = ArchitectureSpec::from(zoo::fcn(train.length()))
        .with_input_channels(train.channels())
        .with_head(classes, Activation::Softmax)?;
    // Invariant: "fcn" is one of the authors' models.
    let mut recipe =
        authors_recipe("fcn", train.len()).expect("invariant: fcn has the authors' recipe");
    if let Some(cap) = epochs {
        recipe.epochs = recipe.epochs.min(cap);
        recipe.early_stopping_patience = Some(recipe.epochs);
    }
    Ok((spec, recipe))
}

/// Which tool the doctor prescribes for a classification set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassifierChoice {
    /// The CNN beat MiniRocket on the held-out rows.
    Cnn,
    /// MiniRocket classified the held-out rows at least as well.
    MiniRocket,
}

/// The figures behind the choice: accuracies on the held-out rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierVerdict {
    /// The choice.
    pub choice: ClassifierChoice,
    /// The CNN's accuracy per seed.
    pub cnn: Vec<f64>,
    /// MiniRocket's accuracy per seed.
    pub minirocket: Vec<f64>,
    /// Rows held out.
    pub held_out: usize,
}

/// Trains `spec` with `recipe` on `train` (preprocessed by the recipe's
/// pipeline, fitted on `train` and kept in the trainer) with `seed`.
pub fn train_classifier(
    spec: &ArchitectureSpec,
    recipe: &Recipe,
    train: &Dataset,
    seed: u64,
) -> Result<Trainer, DoctorError> {
    let preprocessor = Pipeline::named(recipe.preprocessing.as_deref())?.fit(train)?;
    let ready = preprocessor.transform(train)?;
    let mut trainer = Trainer::new(
        spec.build::<f32>(seed)?,
        recipe.optimizer(),
        recipe.fit_config(seed),
    );
    trainer.preprocessor = Some(preprocessor);
    recipe.fit_with(&mut trainer, &ready, &ready, Default::default())?;
    Ok(trainer)
}

/// The accuracy of a trained classifier on a labelled set (in the user's
/// units: its preprocessing is applied).
pub fn accuracy(trainer: &mut Trainer, data: &Dataset) -> Result<f64, DoctorError> {
    let predictions = trainer.predict(data)?;
    Ok(Metric::Accuracy.compute(predictions.view(), data.targets()))
}

/// Holds out a stratified 20% of `train` (for overlapping windows, the
/// last 20% of each class with the windows sharing points with them
/// dropped: `kymo_data::blocked_split`), trains the CNN (`spec`, `recipe`)
/// and MiniRocket on the rest with each of `seeds`, and chooses.
pub fn choose_classifier(
    spec: &ArchitectureSpec,
    recipe: &Recipe,
    train: &Dataset,
    seeds: &[u64],
) -> Result<ClassifierVerdict, DoctorError> {
    let (fit_rows, held_out) = if kymo_data::is_windowed(train) {
        let (fit_rows, held_out, _) = kymo_data::blocked_split(train, 0.2)?;
        (fit_rows, held_out)
    } else {
        stratified_split(train, 0.2, 0)?
    };
    let mut cnn = Vec::with_capacity(seeds.len());
    let mut minirocket = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        let mut trainer = train_classifier(spec, recipe, &fit_rows, seed)?;
        cnn.push(accuracy(&mut trainer, &held_out)?);
        minirocket.push(MiniRocketClassifier::fit(&fit_rows, seed)?.accuracy(&held_out)?);
    }
    let choice = if median(&cnn) > median(&minirocket) {
        ClassifierChoice::Cnn
    } else {
        ClassifierChoice::MiniRocket
    };
    Ok(ClassifierVerdict {
        choice,
        cnn,
        minirocket,
        held_out: held_out.len(),
    })
}

impl ClassifierVerdict {
    /// The finding: MiniRocket wins (Medium), or how the CNN won (Info).
    pub fn finding(&self) -> Finding {
        let measured = format!(
            "accuracy on {} held-out training rows (stratified 20%), median over {} seeds: CNN {:.3} {:?}, MiniRocket {:.3} {:?}",
            self.held_out,
            self.cnn.len(),
            median(&self.cnn),
            self.cnn,
            median(&self.minirocket),
            self.minirocket
        );
        match self.choice {
            ClassifierChoice::MiniRocket => Finding::new(FindingId::MiniRocketBeatsCnn, Severity::Medium, "MiniRocket classifies this data at least as well as the prescribed CNN")
                .measured(measured)
                .why("MiniRocket's fixed random kernels into a ridge classifier match the deep models on most of the UCR archive at a fraction of the cost; where it is not beaten on held-out rows, training a CNN buys nothing")
                .fix("use MiniRocket (kymo_baselines::MiniRocketClassifier; sktime's MiniRocket with RidgeClassifierCV), or train the CNN longer and compare again"),
            ClassifierChoice::Cnn => Finding::new(FindingId::MiniRocketBeatsCnn, Severity::Info, "The prescribed CNN beats MiniRocket on held-out rows")
                .measured(measured)
                .why("the CNN is worth its training here")
                .fix("train the prescription on all training rows (kymo fit --model model.toml)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    #[test]
    fn the_prescription_fits_the_data_and_the_verdict_names_the_winner() {
        // Two classes that differ in frequency: both tools separate them.
        let n = 30;
        let signals = Array3::from_shape_fn((n, 2, 32), |(i, c, l)| {
            let f = if i % 2 == 0 { 1.0 } else { 3.0 };
            (f * l as f32 * 0.4 + i as f32).sin() + c as f32 * 0.1
        });
        let targets = Array2::from_shape_fn((n, 1), |(i, _)| (i % 2) as f32);
        let data = Dataset::new(signals, targets)
            .expect("finite")
            .with_classes(vec!["slow".into(), "fast".into()])
            .expect("indices");
        let (spec, recipe) = prescribe_classifier(&data, Some(5)).expect("prescribes");
        assert_eq!(spec.input().channels, 2);
        assert!(spec.ends_in_softmax());
        assert_eq!((recipe.epochs, recipe.batch_size), (5, 3));
        let verdict = choose_classifier(&spec, &recipe, &data, &[0]).expect("runs");
        assert_eq!(verdict.held_out, 6);
        // Ties go to MiniRocket: it separates these perfectly.
        assert_eq!(verdict.minirocket, vec![1.0]);
        assert_eq!(verdict.choice, ClassifierChoice::MiniRocket);
        assert_eq!(verdict.finding().severity, Severity::Medium);
    }
}
