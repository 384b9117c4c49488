//! The `prescription` variant: the doctor's live output for the question's
//! model on the experiment's own training and validation rows (never the
//! test rows), turned into a concrete variant before any run starts.

use kymo_doctor::{self as doctor, Recipe};
use kymo_layers::{zoo, ArchitectureSpec};

use super::config::Variant;
use super::data::Splits;

/// The variant as it will run, and its model. A variant that is not the
/// prescription is returned as written, its model resolved by name or path.
pub fn materialize(
    variant: &Variant,
    splits: &Splits,
    learning_rate: f64,
) -> anyhow::Result<(Variant, ArchitectureSpec)> {
    let length = splits.train.length();
    if !variant.is_prescription() {
        let spec = kymo_layers::ArchitectureSpec::resolve(&variant.model, length)?;
        return Ok((variant.clone(), spec));
    }
    let question: ArchitectureSpec = zoo::original(length).into();
    let setup = Recipe {
        learning_rate,
        ..Recipe::default()
    };
    let exam = doctor::examine(&question, &setup, &splits.train, &splits.validation, None)?;
    let (spec, fixed) = doctor::prescribe(
        &question,
        &setup,
        &exam.diagnosis,
        Some((&exam.facts, &exam.preprocessing)),
    );
    let concrete = concrete(variant, &fixed)?;
    Ok((concrete, spec))
}

/// A variant that trains with `setup`, its description saying how.
fn concrete(variant: &Variant, setup: &Recipe) -> anyhow::Result<Variant> {
    let trained = variant.with_recipe(setup)?;
    Ok(Variant {
        description: format!(
            "{} (batch {}, {} epochs, {} lr {} weight decay {}, ReduceLROnPlateau patience {}, EarlyStopping patience {}, preprocessing {})",
            variant.description,
            setup.batch_size,
            setup.epochs,
            setup.optimizer,
            setup.learning_rate,
            setup.weight_decay.unwrap_or(0.0),
            setup.reduce_lr_patience.map_or("-".into(), |p| p.to_string()),
            setup.early_stopping_patience.map_or("-".into(), |p| p.to_string()),
            setup.preprocessing.as_deref().unwrap_or("standardize"),
        ),
        ..trained
    })
}
