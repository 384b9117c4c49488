//! Experiment files: which data, which variants, how many seeds and epochs.

use anyhow::Context as _;
use std::collections::BTreeMap;
use std::path::Path;

use kymo_train::Recipe;
use serde::{Deserialize, Serialize};

/// The built-in experiments, by name.
pub const BUILT_IN: [(&str, &str); 4] = [
    ("seed", include_str!("../../experiments/seed.toml")),
    ("zoo", include_str!("../../experiments/zoo.toml")),
    ("tablet", include_str!("../../experiments/tablet.toml")),
    ("corn", include_str!("../../experiments/corn.toml")),
];

/// Where an experiment's data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DataSource {
    /// A data set built into kymo-data (`kymo_data::datasets`), with its
    /// canonical calibration/test split.
    BuiltIn {
        /// Its name (`tablet`, `tablet2`, `corn`, `corn2`, `corn3`).
        dataset: String,
    },
    /// Synthetic spectra (`samples` comes from the profile).
    Synthetic(kymo_data::SyntheticSpectra),
}

/// Scale of a run: samples, epochs and seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Synthetic samples drawn (train + validation + test); unused for a
    /// built-in data set or a CSV.
    #[serde(default)]
    pub samples: usize,
    /// Epochs per run.
    pub epochs: usize,
    /// Seeds per variant.
    pub seeds: usize,
}

/// One arm of the experiment: a name, a model and how it trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Short name, used in file names.
    pub name: String,
    /// What it changes, for the report.
    pub description: String,
    /// A built-in model name or a spec file path.
    pub model: String,
    /// Its training recipe (`kymo_train::Recipe`'s keys). Keys left out
    /// take the experiment's learning rate, the profile's epochs, and
    /// otherwise `Recipe::default()`; preprocessing left out is the
    /// experiment's.
    #[serde(default)]
    pub recipe: toml::Table,
}

impl Variant {
    /// Whether the variant is the doctor's live prescription: its model and
    /// training budget come from `kymo_doctor::prescribe` on the
    /// experiment's training split.
    pub fn is_prescription(&self) -> bool {
        self.model == "prescription"
    }

    /// The recipe it trains with: its own keys, the experiment's learning
    /// rate and the profile's epochs where it names none. Unknown keys and
    /// names are refused, naming the variant.
    pub fn recipe(&self, learning_rate: f64, epochs: usize) -> anyhow::Result<Recipe> {
        let mut table = self.recipe.clone();
        table
            .entry("learning_rate")
            .or_insert(toml::Value::Float(learning_rate));
        table
            .entry("epochs")
            .or_insert(toml::Value::Integer(epochs as i64));
        let text = toml::to_string(&table)?;
        Recipe::from_toml_str(&text).with_context(|| format!("variant `{}`'s recipe", self.name))
    }

    /// The same variant training with `recipe`, every key written out.
    pub fn with_recipe(&self, recipe: &Recipe) -> anyhow::Result<Self> {
        Ok(Self {
            recipe: toml::Table::try_from(recipe)?,
            ..self.clone()
        })
    }
}

/// A whole experiment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Name (output folder).
    pub name: String,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Keras `validation_split` of the training rows.
    pub validation_split: f64,
    /// Last fraction of all rows held out for testing.
    pub test_fraction: f64,
    /// The data: built in or synthetic.
    pub data: DataSource,
    /// Preprocessing of the signals for every variant and baseline that
    /// does not name its own (default: per-point standardization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocessing: Option<String>,
    /// Named profiles (`quick`, `full`).
    pub profiles: BTreeMap<String, Profile>,
    /// The arms.
    pub variants: Vec<Variant>,
}

impl Experiment {
    /// A built-in experiment by name, or a TOML file.
    pub fn load(name_or_path: &str) -> anyhow::Result<Self> {
        let text = match BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
            Some((_, text)) => text.to_string(),
            None => std::fs::read_to_string(Path::new(name_or_path)).map_err(|e| {
                anyhow::anyhow!("{name_or_path}: not a built-in experiment and not readable: {e}")
            })?,
        };
        toml::from_str(&text).with_context(|| name_or_path.to_string())
    }

    /// The resolved configuration as TOML (written beside the results).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not serialize: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_spectra_experiments_read_built_in_sets_and_end_in_the_prescription() {
        for name in ["tablet", "corn"] {
            let e = Experiment::load(name).expect("built-in parses");
            let DataSource::BuiltIn { dataset } = &e.data else {
                panic!("{name} reads synthetic data");
            };
            assert!(kymo_data::datasets::by_name(dataset).is_some(), "{dataset}");
            assert!(e.variants.iter().any(Variant::is_prescription), "{name}");
            assert!(e.profiles["full"].seeds >= 10, "{name}");
        }
    }

    #[test]
    fn every_built_in_variant_names_a_valid_recipe_and_a_typo_is_refused() {
        for (name, _) in BUILT_IN {
            let e = Experiment::load(name).expect("built-in parses");
            for variant in &e.variants {
                variant
                    .recipe(e.learning_rate, 8)
                    .unwrap_or_else(|err| panic!("{name}: {err:#}"));
            }
        }
        let mut typo = Experiment::load("seed").expect("parses").variants[0].clone();
        typo.recipe
            .insert("optimizer".into(), toml::Value::String("Adamm".into()));
        let message = format!("{:#}", typo.recipe(1e-3, 8).expect_err("refused"));
        assert!(
            message.contains("original_b1") && message.contains("RMSprop"),
            "{message}"
        );
    }

    #[test]
    fn the_zoo_experiment_names_only_models_kymo_builds() {
        let e = Experiment::load("zoo").expect("built-in parses");
        for variant in &e.variants {
            let spec = kymo_layers::zoo::architecture_by_name(&variant.model, 1040)
                .unwrap_or_else(|| panic!("{} is not built in", variant.model));
            assert!(spec.build::<f32>(0).is_ok(), "{}", variant.name);
        }
        assert!(e.variants.iter().any(|v| v.model == "resnet"));
    }

    #[test]
    fn the_built_in_experiment_parses_and_each_variant_differs_from_another_by_one_setting() {
        let e = Experiment::load("seed").expect("built-in parses");
        assert!(e.profiles.contains_key("quick") && e.profiles.contains_key("full"));
        assert!(e.profiles["full"].epochs == 25 && e.profiles["full"].seeds >= 10);
        let differences = |a: &Variant, b: &Variant| {
            let (x, y) = (
                a.recipe(1e-3, 8).expect("valid"),
                b.recipe(1e-3, 8).expect("valid"),
            );
            [
                a.model != b.model,
                x.batch_size != y.batch_size,
                x.early_stopping != y.early_stopping,
            ]
            .iter()
            .filter(|&&d| d)
            .count()
        };
        for v in e.variants[1..].iter().filter(|v| !v.is_prescription()) {
            assert!(
                e.variants.iter().any(|w| differences(v, w) == 1),
                "{} has no one-change neighbour",
                v.name
            );
        }
    }
}
