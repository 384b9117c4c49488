//! A small budgeted search on validation: a few widths, learning rates and
//! weight decays around a recipe, each trained once from the same seed and
//! scored by its best validation loss, the winner's setup returned.
//!
//! The search only ever sees the training and validation rows it is given:
//! a test split held out by the caller stays out of every choice (the
//! validation rows are the inner level of a nested split whose outer level
//! is the test). Every candidate starts from the same seed, so candidates
//! differ in their settings, not in their luck.
//!
//! The search is coordinate-wise, as a careful person tunes by hand: the
//! recipe itself, then one factor changed at a time (wider, a larger
//! learning rate, more weight decay, then narrower, a smaller learning
//! rate, less decay), and last the combination of each factor's best value
//! when it differs from every setup already tried. `trials` caps the
//! networks trained.

use std::time::Instant;

use kymo_data::Dataset;
use kymo_layers::ArchitectureSpec;
use serde::{Deserialize, Serialize};

use crate::{OptimizerName, Recipe, TrainError};

/// What a search tries: its budget in networks and the values of each
/// factor besides the recipe's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Search {
    /// Most networks trained to choose, the recipe's own setup included.
    pub trials: usize,
    /// Width factors tried: every Conv1D's filters and hidden Dense's units
    /// scaled ([`ArchitectureSpec::with_width`]).
    pub widths: Vec<f64>,
    /// Factors of the recipe's learning rate tried.
    pub learning_rate_factors: Vec<f64>,
    /// Decoupled weight decays tried (Adam and AdamW only).
    pub weight_decays: Vec<f64>,
}

impl Default for Search {
    /// Eight networks: twice and half the width, three times and a third of
    /// the learning rate, weight decay 0.1 and 0.001, and the combination.
    fn default() -> Self {
        Self {
            trials: 8,
            widths: vec![2.0, 0.5],
            learning_rate_factors: vec![3.0, 1.0 / 3.0],
            weight_decays: vec![0.1, 0.001],
        }
    }
}

/// One setup a search trains: a width factor, a learning rate and a
/// weight decay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Width factor of the architecture (1: as given).
    pub width: f64,
    /// Learning rate.
    pub learning_rate: f64,
    /// Decoupled weight decay, if the optimizer has one.
    pub weight_decay: Option<f64>,
}

impl Candidate {
    /// The candidate of `recipe` as it is.
    pub fn of(recipe: &Recipe) -> Self {
        Self {
            width: 1.0,
            learning_rate: recipe.learning_rate,
            weight_decay: recipe.weight_decay,
        }
    }

    /// `spec` and `recipe` set to this candidate: the recipe's own search
    /// removed, and one network (a chosen setup is then trained as the
    /// recipe's ensemble asks).
    pub fn apply(&self, spec: &ArchitectureSpec, recipe: &Recipe) -> (ArchitectureSpec, Recipe) {
        let spec = if self.width == 1.0 {
            spec.clone()
        } else {
            spec.clone().with_width(self.width)
        };
        let recipe = Recipe {
            learning_rate: self.learning_rate,
            weight_decay: self.weight_decay,
            search: None,
            ensemble: None,
            ..recipe.clone()
        };
        (spec, recipe)
    }

    fn same_as(&self, other: &Candidate) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs());
        close(self.width, other.width)
            && close(self.learning_rate, other.learning_rate)
            && match (self.weight_decay, other.weight_decay) {
                (Some(a), Some(b)) => close(a, b),
                (a, b) => a.is_none() && b.is_none(),
            }
    }
}

/// One trained candidate and what it scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The setup trained.
    pub candidate: Candidate,
    /// Its lowest validation loss over the epochs (infinite when no epoch
    /// gave a finite one, or it failed).
    pub validation_loss: f64,
    /// Epochs trained.
    pub epochs: usize,
    /// Wall seconds.
    pub seconds: f64,
    /// Why it failed to build or train, if it did.
    pub error: Option<String>,
}

/// The trials of a search, in the order trained, and the one chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchOutcome {
    /// Every candidate trained.
    pub trials: Vec<Trial>,
    /// Index of the chosen trial: the lowest validation loss, the recipe's
    /// own setup on ties.
    pub chosen: usize,
}

impl SearchOutcome {
    /// The chosen trial.
    pub fn best(&self) -> &Trial {
        &self.trials[self.chosen]
    }
}

/// The factor a first-round candidate changes, to combine the winners.
#[derive(Clone, Copy, PartialEq)]
enum Factor {
    Width,
    LearningRate,
    WeightDecay,
}

impl Search {
    /// Refuses a search that cannot run: no trials, or a factor that is
    /// not a positive number.
    pub fn check(&self) -> Result<(), TrainError> {
        let invalid = |reason: String| {
            Err(TrainError::Config {
                field: "search",
                reason,
            })
        };
        if self.trials == 0 {
            return invalid("`trials` must be at least 1".into());
        }
        let values = self
            .widths
            .iter()
            .chain(&self.learning_rate_factors)
            .chain(&self.weight_decays);
        if let Some(bad) = values.copied().find(|v| !(v.is_finite() && *v > 0.0)) {
            return invalid(format!(
                "widths, learning-rate factors and weight decays must be positive numbers, not {bad}"
            ));
        }
        Ok(())
    }

    /// The first round around `recipe`: its own setup, then one factor
    /// changed at a time, the first value of each factor before the
    /// second, with the factor each changes.
    fn first_round(&self, recipe: &Recipe) -> Vec<(Candidate, Option<Factor>)> {
        let base = Candidate::of(recipe);
        let decays = matches!(recipe.optimizer, OptimizerName::Adam | OptimizerName::AdamW);
        let mut round = vec![(base, None)];
        let most = self
            .widths
            .len()
            .max(self.learning_rate_factors.len())
            .max(self.weight_decays.len());
        for i in 0..most {
            if let Some(&width) = self.widths.get(i) {
                round.push((Candidate { width, ..base }, Some(Factor::Width)));
            }
            if let Some(&factor) = self.learning_rate_factors.get(i) {
                let learning_rate = base.learning_rate * factor;
                round.push((
                    Candidate {
                        learning_rate,
                        ..base
                    },
                    Some(Factor::LearningRate),
                ));
            }
            if let Some(&decay) = self.weight_decays.get(i).filter(|_| decays) {
                let weight_decay = Some(decay);
                round.push((
                    Candidate {
                        weight_decay,
                        ..base
                    },
                    Some(Factor::WeightDecay),
                ));
            }
        }
        let mut distinct: Vec<(Candidate, Option<Factor>)> = Vec::new();
        for (candidate, factor) in round {
            if !distinct.iter().any(|(c, _)| c.same_as(&candidate)) {
                distinct.push((candidate, factor));
            }
        }
        distinct
    }

    /// Trains the candidates around `spec` and `recipe` on `train`, each
    /// from `seed`, scores them on `validation`, and returns every trial
    /// and the chosen one. `report` sees each trial as it ends. A
    /// candidate that fails to build or train is recorded with its error
    /// and never chosen; the search fails only when the recipe's own
    /// setup does.
    pub fn run(
        &self,
        spec: &ArchitectureSpec,
        recipe: &Recipe,
        (train, validation): (&Dataset, &Dataset),
        seed: u64,
        report: &mut dyn FnMut(&Trial),
    ) -> Result<SearchOutcome, TrainError> {
        self.check()?;
        if !recipe.validation {
            return Err(TrainError::Config {
                field: "search",
                reason: "a search chooses on validation: the recipe must use validation".into(),
            });
        }
        let round = self.first_round(recipe);
        // One trial is kept for the combination when the budget allows a
        // first round of at least the base and two changes.
        let first = if self.trials >= 4 {
            round.len().min(self.trials - 1)
        } else {
            round.len().min(self.trials)
        };
        let mut trials = Vec::new();
        for (candidate, _) in &round[..first] {
            let trial = train_candidate(candidate, spec, recipe, (train, validation), seed)?;
            if trials.is_empty() {
                if let Some(error) = &trial.error {
                    return Err(TrainError::Config {
                        field: "search",
                        reason: format!("the recipe's own setup failed: {error}"),
                    });
                }
            }
            report(&trial);
            trials.push(trial);
        }
        if trials.len() < self.trials {
            let combined = combination(&round[..first], &trials);
            if !trials.iter().any(|t| t.candidate.same_as(&combined)) {
                let trial = train_candidate(&combined, spec, recipe, (train, validation), seed)?;
                report(&trial);
                trials.push(trial);
            }
        }
        let chosen = best_index(&trials);
        Ok(SearchOutcome { trials, chosen })
    }
}

/// Each factor at the value that scored best when it alone changed (the
/// base's value when no change beat the base).
fn combination(round: &[(Candidate, Option<Factor>)], trials: &[Trial]) -> Candidate {
    let base = &trials[0];
    let mut combined = base.candidate;
    for factor in [Factor::Width, Factor::LearningRate, Factor::WeightDecay] {
        let mut best = base.validation_loss;
        for ((candidate, changed), trial) in round.iter().zip(trials) {
            if *changed == Some(factor) && trial.validation_loss < best {
                best = trial.validation_loss;
                match factor {
                    Factor::Width => combined.width = candidate.width,
                    Factor::LearningRate => combined.learning_rate = candidate.learning_rate,
                    Factor::WeightDecay => combined.weight_decay = candidate.weight_decay,
                }
            }
        }
    }
    combined
}

/// The lowest validation loss; the earliest (the base first) on ties.
fn best_index(trials: &[Trial]) -> usize {
    let mut chosen = 0;
    for (i, trial) in trials.iter().enumerate() {
        if trial.validation_loss < trials[chosen].validation_loss {
            chosen = i;
        }
    }
    chosen
}

/// Trains one candidate. An error of the candidate's own making (a width
/// whose graph no longer joins) is kept in the trial; anything else is the
/// caller's and returned. A candidate that diverges trains on with
/// non-finite losses, which score as infinite.
fn train_candidate(
    candidate: &Candidate,
    spec: &ArchitectureSpec,
    recipe: &Recipe,
    (train, validation): (&Dataset, &Dataset),
    seed: u64,
) -> Result<Trial, TrainError> {
    let started = Instant::now();
    let (spec, recipe) = candidate.apply(spec, recipe);
    let outcome = recipe.fit(&spec, train, validation, seed, None);
    let seconds = started.elapsed().as_secs_f64();
    Ok(match outcome {
        Ok(trainer) => {
            let epochs = &trainer.history.epochs;
            let validation_loss = epochs
                .iter()
                .filter_map(|e| e.val_loss)
                .filter(|v| v.is_finite())
                .fold(f64::INFINITY, f64::min);
            Trial {
                candidate: *candidate,
                validation_loss,
                epochs: epochs.len(),
                seconds,
                error: None,
            }
        }
        Err(error @ TrainError::Layer(_)) => Trial {
            candidate: *candidate,
            validation_loss: f64::INFINITY,
            epochs: 0,
            seconds,
            error: Some(error.to_string()),
        },
        Err(other) => return Err(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(width: f64, learning_rate: f64, loss: f64) -> Trial {
        Trial {
            candidate: Candidate {
                width,
                learning_rate,
                weight_decay: Some(0.01),
            },
            validation_loss: loss,
            epochs: 1,
            seconds: 0.0,
            error: None,
        }
    }

    #[test]
    fn the_combination_takes_each_factors_winner_and_keeps_the_base_where_none_won() {
        let trials = [
            trial(1.0, 1e-3, 0.5),
            trial(2.0, 1e-3, 0.4),
            trial(1.0, 3e-3, 0.6),
            trial(0.5, 1e-3, 0.3),
        ];
        let round: Vec<_> = trials
            .iter()
            .zip([
                None,
                Some(Factor::Width),
                Some(Factor::LearningRate),
                Some(Factor::Width),
            ])
            .map(|(t, f)| (t.candidate, f))
            .collect();
        let combined = combination(&round, &trials);
        assert_eq!(combined.width, 0.5);
        assert_eq!(combined.learning_rate, 1e-3);
        assert_eq!(best_index(&trials), 3);
    }

    #[test]
    fn ties_go_to_the_earliest_trial() {
        let trials = [trial(1.0, 1e-3, 0.5), trial(2.0, 1e-3, 0.5)];
        assert_eq!(best_index(&trials), 0);
    }
}
