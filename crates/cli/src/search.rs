//! `kymo fit`'s search step: the recipe's budgeted search on validation
//! run before training, its trials written to `search.csv` and the chosen
//! setup to `chosen-model.toml` and `chosen-recipe.toml`, which train the
//! same network again without searching.

use anyhow::Context as _;
use std::path::Path;

use kymo_data::Dataset;
use kymo_doctor::Recipe;
use kymo_layers::ArchitectureSpec;
use kymo_train::{Search, Trial};

/// Runs `search` around `spec` and `setup` on the preprocessed splits from
/// `seed`, writes its files into `out`, and returns the chosen model and
/// recipe (the recipe's ensemble kept, its search removed).
pub fn choose(
    search: &Search,
    (spec, setup): (&ArchitectureSpec, &Recipe),
    splits: (&Dataset, &Dataset),
    seed: u64,
    out: &Path,
) -> anyhow::Result<(ArchitectureSpec, Recipe)> {
    eprintln!(
        "kymo fit: searching up to {} setups on validation (seed {seed})",
        search.trials
    );
    let mut report = |trial: &Trial| eprintln!("kymo fit: {}", describe(trial));
    let outcome = search.run(spec, setup, splits, seed, &mut report)?;
    let path = out.join("search.csv");
    let mut writer =
        csv::Writer::from_path(&path).with_context(|| format!("{}", path.display()))?;
    writer.write_record([
        "width",
        "learning_rate",
        "weight_decay",
        "validation_loss",
        "epochs",
        "seconds",
        "chosen",
        "error",
    ])?;
    for (i, trial) in outcome.trials.iter().enumerate() {
        let c = &trial.candidate;
        writer.write_record([
            c.width.to_string(),
            c.learning_rate.to_string(),
            c.weight_decay.map_or(String::new(), |d| d.to_string()),
            trial.validation_loss.to_string(),
            trial.epochs.to_string(),
            format!("{:.3}", trial.seconds),
            (i == outcome.chosen).to_string(),
            trial.error.clone().unwrap_or_default(),
        ])?;
    }
    writer.flush()?;
    let best = outcome.best();
    let (chosen_spec, mut chosen) = best.candidate.apply(spec, setup);
    chosen.ensemble = setup.ensemble;
    std::fs::write(out.join("chosen-model.toml"), chosen_spec.to_toml()?)?;
    std::fs::write(out.join("chosen-recipe.toml"), chosen.to_toml())?;
    eprintln!(
        "kymo fit: chose {} of {} trials ({}); trials in {}",
        outcome.chosen + 1,
        outcome.trials.len(),
        describe(best),
        path.display()
    );
    Ok((chosen_spec, chosen))
}

fn describe(trial: &Trial) -> String {
    let c = &trial.candidate;
    let outcome = match &trial.error {
        Some(error) => format!("failed: {error}"),
        None => format!(
            "validation loss {:.5} in {} epochs, {:.1} s",
            trial.validation_loss, trial.epochs, trial.seconds
        ),
    };
    format!(
        "width x{}, learning rate {:.2e}, weight decay {} -> {outcome}",
        c.width,
        c.learning_rate,
        c.weight_decay.map_or("none".into(), |d| format!("{d:.0e}"))
    )
}
