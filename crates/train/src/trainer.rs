//! The fit loop: Keras's `fit`, `evaluate` and `predict` over any [`Model`].

use std::time::Instant;

use kymo_data::{epoch_batches, validation_split, Dataset, Preprocessor};
use kymo_layers::{Mode, Model, Parameter};
use kymo_optim::{AnyOptimizer, Optimizer, Slot};
use kymo_tensor::{derive_seed, Runtime, SeededRng};
use ndarray::{Array2, ArrayD, Axis, Ix2};

use crate::sample_parallel::two_dimensional;
use crate::{Callback, EpochLog, FitConfig, History, StepRecorder, TrainError};

/// Everything a training run is: model, optimizer, settings, the shuffling
/// stream, the epochs done and their history. A checkpoint saves all of it,
/// so a run resumes exactly where it stopped.
pub struct Trainer {
    /// The model being trained: a `Sequential`, a `Graph`, or any other
    /// [`Model`].
    pub model: Box<dyn Model<f32>>,
    /// Its optimizer, with state.
    pub optimizer: AnyOptimizer,
    /// The run's settings.
    pub config: FitConfig,
    /// Epochs completed so far.
    pub history: History,
    /// Set by a callback to end training after the current epoch (Keras's
    /// `model.stop_training`).
    pub stop_training: bool,
    /// The preprocessing the data went through, kept in checkpoints so new
    /// signals get the same and predictions map back to the target's units.
    pub preprocessor: Option<Preprocessor>,
    /// Where steps and predictions run (rayon's global pool and the
    /// process-wide thread count unless set; not saved in checkpoints).
    pub runtime: Runtime,
    /// A look inside each step (the doctor's probe records with one); not
    /// saved in checkpoints.
    pub recorder: Option<Box<dyn StepRecorder>>,
    pub(crate) shuffle_rng: SeededRng,
    /// Set by [`Trainer::resume_from`]: the next `fit` hands it to every
    /// callback's `on_resume`.
    pub(crate) resume_point: Option<crate::ResumePoint>,
}

/// Loss and metrics of a model on a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The loss as Keras reports it: the data loss plus the weights'
    /// penalties (`kymo_layers::Regularizer`).
    pub loss: f64,
    /// The data loss alone (equal to `loss` without regularizers).
    pub data_loss: f64,
    /// Metrics by name.
    pub metrics: Vec<(String, f64)>,
    /// The predictions, `[N, T]`.
    pub predictions: Array2<f32>,
}

impl Trainer {
    /// A fresh run of `model` (a `Sequential`, a `Graph` or a boxed
    /// [`Model`]).
    pub fn new(
        model: impl Into<Box<dyn Model<f32>>>,
        optimizer: AnyOptimizer,
        config: FitConfig,
    ) -> Self {
        let shuffle_rng = SeededRng::new(derive_seed(config.seed, "shuffle"), 0);
        Self {
            model: model.into(),
            optimizer,
            config,
            history: History::default(),
            stop_training: false,
            preprocessor: None,
            runtime: Runtime::default(),
            recorder: None,
            shuffle_rng,
            resume_point: None,
        }
    }

    /// Epochs completed.
    pub fn epochs_done(&self) -> usize {
        self.history.epochs.len()
    }

    /// Keras's `fit(x, y, validation_split=fraction)`: the last `fraction`
    /// of `data`, before shuffling, validates.
    pub fn fit_split(
        &mut self,
        data: &Dataset,
        fraction: f64,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<&History, TrainError> {
        let (train, validation) = validation_split(data, fraction)?;
        self.fit(&train, Some(&validation), callbacks)
    }

    /// Trains from the current epoch up to `config.epochs`.
    pub fn fit(
        &mut self,
        train: &Dataset,
        validation: Option<&Dataset>,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<&History, TrainError> {
        if self.config.batch_size == 0 {
            return Err(TrainError::Config {
                field: "batch_size",
                reason: "must be at least 1".into(),
            });
        }
        if train.is_empty() {
            return Err(TrainError::Config {
                field: "data",
                reason: "no training samples".into(),
            });
        }
        self.stop_training = false;
        for callback in callbacks.iter_mut() {
            callback.on_train_begin(self)?;
        }
        // A callback's `on_train_begin` may itself resume the run
        // (BackupAndRestore), so the catching up comes after all of them.
        if let Some(point) = self.resume_point.take() {
            for callback in callbacks.iter_mut() {
                callback.on_resume(self, &point)?;
            }
        }
        while self.epochs_done() < self.config.epochs && !self.stop_training {
            let log = self.train_epoch(train, validation, callbacks)?;
            self.history.epochs.push(log.clone());
            for callback in callbacks.iter_mut() {
                callback.on_epoch_end(self, &log)?;
            }
        }
        for callback in callbacks.iter_mut() {
            callback.on_train_end(self)?;
        }
        Ok(&self.history)
    }

    fn train_epoch(
        &mut self,
        train: &Dataset,
        validation: Option<&Dataset>,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<EpochLog, TrainError> {
        let epoch = self.epochs_done();
        let started = Instant::now();
        let batches = epoch_batches(
            train.len(),
            self.config.batch_size,
            self.config.shuffle,
            &mut self.shuffle_rng,
        );
        let mut loss_sum = 0.0;
        // One column per model output: a classifier's targets are one
        // column of labels, its predictions one column per class.
        let outputs = match self.model.output_shape() {
            kymo_layers::Shape::Features(units) => units,
            kymo_layers::Shape::Signal { channels, length } => channels * length,
        };
        let mut predictions = Array2::<f32>::zeros((train.len(), outputs));
        let mut order = Vec::with_capacity(train.len());
        for (batch_index, indices) in batches.iter().enumerate() {
            let batch_loss =
                self.train_step(train, indices, batch_index, &mut predictions, order.len())?;
            order.extend_from_slice(indices);
            loss_sum += batch_loss * indices.len() as f64;
            for callback in callbacks.iter_mut() {
                callback.on_batch_end(self, batch_index, batch_loss)?;
            }
            if self.stop_training {
                break;
            }
        }
        let seen = order.len().max(1);
        let targets = train.targets().select(Axis(0), &order);
        let predictions = predictions.slice(ndarray::s![..order.len(), ..]).to_owned();
        let mut log = EpochLog {
            epoch,
            loss: loss_sum / seen as f64,
            val_loss: None,
            metrics: Default::default(),
            learning_rate: self.optimizer.learning_rate(),
            seconds: 0.0,
            samples_per_second: 0.0,
        };
        for metric in &self.config.metrics {
            log.metrics.insert(
                metric.name().into(),
                metric.compute(predictions.view(), &targets),
            );
        }
        let train_seconds = started.elapsed().as_secs_f64();
        if let Some(validation) = validation {
            let evaluation = self.evaluate(validation)?;
            log.val_loss = Some(evaluation.loss);
            for (name, value) in evaluation.metrics {
                log.metrics.insert(format!("val_{name}"), value);
            }
        }
        log.seconds = started.elapsed().as_secs_f64();
        log.samples_per_second = seen as f64 / train_seconds.max(1e-9);
        Ok(log)
    }

    /// One optimizer step on the samples at `indices`; writes the
    /// training-mode predictions into `predictions` from row `row`.
    fn train_step(
        &mut self,
        train: &Dataset,
        indices: &[usize],
        batch_index: usize,
        predictions: &mut Array2<f32>,
        row: usize,
    ) -> Result<f64, TrainError> {
        if let Some(schedule) = &self.config.schedule {
            self.optimizer
                .set_learning_rate(schedule.rate(self.optimizer.iterations()));
        }
        let (mut x, y) = train.batch(indices)?;
        if let Some(augment) = &self.config.augment {
            // One stream per (epoch, batch): the draws do not depend on how
            // many batches ran before in this process, so a resumed run
            // draws what an uninterrupted one would.
            let stream = ((self.epochs_done() as u64) << 32) | batch_index as u64;
            let mut rng = SeededRng::new(derive_seed(self.config.seed, "augment"), stream);
            augment.apply(&mut x, &mut rng);
        }
        let (loss, output) = self.train_on_batch(x, &y)?;
        predictions
            .slice_mut(ndarray::s![row..row + indices.len(), ..])
            .assign(&output);
        Ok(loss)
    }

    /// One optimizer step on one batch (Keras's `train_on_batch`): forward in
    /// training mode, loss, backward, clipping, optimizer step. Returns the
    /// batch loss and the training-mode predictions. The learning-rate
    /// schedule is the caller's (`fit` applies it).
    ///
    /// The step runs on the trainer's [`Runtime`] with its workers warm,
    /// so the other cores stay awake for its small kernels.
    pub fn train_on_batch(
        &mut self,
        x: ArrayD<f32>,
        y: &Array2<f32>,
    ) -> Result<(f64, Array2<f32>), TrainError> {
        let runtime = self.runtime.clone();
        runtime.run_warm(|| self.step_on_batch(x, y))
    }

    /// [`Trainer::train_on_batch`]'s work, on whichever thread runs it.
    fn step_on_batch(
        &mut self,
        x: ArrayD<f32>,
        y: &Array2<f32>,
    ) -> Result<(f64, Array2<f32>), TrainError> {
        self.model.zero_grad();
        let output = self.model.forward(x, Mode::Train)?;
        let weights = match &self.config.class_weight {
            Some(class_weight) => Some(crate::class_weight::sample_weights(class_weight, y)?),
            None => None,
        };
        let (loss, grad) = self
            .config
            .loss
            .evaluate_weighted(&output, y, weights.as_deref())?;
        let output = output
            .into_dimensionality::<Ix2>()
            .map_err(|_| TrainError::Config {
                field: "model",
                reason: "the model's output is not [batch, targets]".into(),
            })?;
        self.model.backward(grad)?;
        // Keras's total loss: the data loss plus the weights' penalties,
        // whose gradients join before clipping, and the activity
        // penalties, whose gradients the layers added in backward.
        let loss = loss
            + regularize(self.model.parameters_mut())?
            + self.model.take_activity_penalty(Mode::Train);
        let mut slots = trainable_slots(self.model.parameters_mut())?;
        if let Some(clip) = self.config.clip {
            let mut grads: Vec<&mut [f32]> = slots.iter_mut().map(|s| &mut *s.1).collect();
            clip.apply(&mut grads);
        }
        drop(slots);
        let batch = output.nrows();
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.after_backward(self.model.as_ref(), batch);
        }
        let mut slots: Vec<Slot<'_>> = trainable_slots(self.model.parameters_mut())?
            .into_iter()
            .map(|(value, grad)| Slot { value, grad })
            .collect();
        self.optimizer.step(&mut slots)?;
        drop(slots);
        // Keras projects each constrained trainable weight once the
        // optimizer has applied the gradients.
        for parameter in self.model.parameters_mut() {
            if let (true, Some(constraint)) = (parameter.trainable, &parameter.constraint) {
                constraint.project(&mut parameter.value);
            }
        }
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.after_update(self.model.as_ref());
        }
        Ok((loss, output))
    }

    /// Loss and metrics on `data`, in inference mode, in batches. `data` is
    /// in the model's space, as `fit` takes it (already preprocessed).
    pub fn evaluate(&mut self, data: &Dataset) -> Result<Evaluation, TrainError> {
        // What earlier inference passes (predictions) left is not this
        // evaluation's.
        self.model.take_activity_penalty(Mode::Inference);
        let predictions = self.predict_preprocessed(data)?;
        let (data_loss, _) = self
            .config
            .loss
            .evaluate(&predictions.clone().into_dyn(), data.targets())?;
        // As Keras's `test_step`, the weights' penalties count, and so do
        // the activity penalties of every batch (each over its size,
        // averaged over batches weighted by their sizes: over all samples).
        let loss = data_loss
            + penalty(self.model.parameters())
            + self.model.take_activity_penalty(Mode::Inference);
        let metrics = self
            .config
            .metrics
            .iter()
            .map(|m| {
                (
                    m.name().to_string(),
                    m.compute(predictions.view(), data.targets()),
                )
            })
            .collect();
        Ok(Evaluation {
            loss,
            data_loss,
            metrics,
            predictions,
        })
    }

    /// Predictions for every sample of `data`, `[N, T]`, in inference mode,
    /// as a user has the signals: the trainer's
    /// [`preprocessor`](Trainer::preprocessor) is applied to them first and
    /// the predictions are mapped back to the target's units. Without a
    /// preprocessor this is [`Trainer::predict_preprocessed`].
    pub fn predict(&mut self, data: &Dataset) -> Result<Array2<f32>, TrainError> {
        let Some(preprocessor) = self.preprocessor.clone() else {
            return self.predict_preprocessed(data);
        };
        // Only the signals: a file to predict may carry no target.
        let signals = preprocessor.transform_signals(data.signals())?;
        let ready = Dataset::new(signals, data.targets().clone())?;
        // (`Predictor` does the same for a loaded checkpoint.)
        let predictions = self.predict_preprocessed(&ready)?;
        Ok(preprocessor.targets_to_units(&predictions)?)
    }

    /// Predictions for data already in the model's space (preprocessed, as
    /// `fit` and `evaluate` take it), in the model's target scale.
    pub fn predict_preprocessed(&mut self, data: &Dataset) -> Result<Array2<f32>, TrainError> {
        let runtime = self.runtime.clone();
        predict_on(&runtime, self.model.as_mut(), data, self.config.batch_size)
    }
}

/// Predictions of `model` for every sample of `data`, in inference mode,
/// on the global [`Runtime`] (see [`predict_on`]).
pub fn predict(
    model: &mut dyn Model<f32>,
    data: &Dataset,
    batch_size: usize,
) -> Result<Array2<f32>, TrainError> {
    predict_on(&Runtime::global(), model, data, batch_size)
}

/// Predictions of `model` for every sample of `data`, in inference mode,
/// on `runtime` with its workers warm, as training steps run.
pub fn predict_on(
    runtime: &Runtime,
    model: &mut dyn Model<f32>,
    data: &Dataset,
    batch_size: usize,
) -> Result<Array2<f32>, TrainError> {
    let rows = match crate::sample_parallel::predict_by_samples(runtime, model, data)? {
        Some(rows) => rows,
        None => runtime.run_warm(|| predict_batches(model, data, batch_size))?,
    };
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    ndarray::concatenate(Axis(0), &views).map_err(|e| TrainError::Config {
        field: "model",
        reason: e.to_string(),
    })
}

/// [`predict`]'s batches, one output each.
fn predict_batches(
    model: &mut dyn Model<f32>,
    data: &Dataset,
    batch_size: usize,
) -> Result<Vec<Array2<f32>>, TrainError> {
    let mut rows = Vec::with_capacity(data.len().div_ceil(batch_size.max(1)));
    let all: Vec<usize> = (0..data.len()).collect();
    for indices in all.chunks(batch_size.max(1)) {
        let (x, _) = data.batch(indices)?;
        rows.push(two_dimensional(model.forward(x, Mode::Inference)?)?);
    }
    Ok(rows)
}

/// Adds each trainable parameter's regularizer gradient to its gradient
/// and returns the sum of the penalties (`kymo_layers::Regularizer`).
fn regularize(parameters: Vec<&mut Parameter<f32>>) -> Result<f64, TrainError> {
    let mut total = 0.0;
    for parameter in parameters.into_iter().filter(|p| p.trainable) {
        let Some(regularizer) = parameter.regularizer else {
            continue;
        };
        let name = parameter.name;
        let Parameter { value, grad, .. } = parameter;
        let (Some(value), Some(grad)) = (value.as_slice(), grad.as_slice_mut()) else {
            return Err(TrainError::Config {
                field: "parameters",
                reason: format!("weight `{name}` is not a contiguous array"),
            });
        };
        total += regularizer.penalty(value);
        regularizer.add_gradient(value, grad);
    }
    Ok(total)
}

/// The sum of the trainable parameters' penalties.
fn penalty(parameters: Vec<&Parameter<f32>>) -> f64 {
    parameters
        .into_iter()
        .filter(|p| p.trainable)
        .filter_map(|p| Some(p.regularizer?.penalty(p.value.iter())))
        .sum()
}

/// A parameter's values and gradient, as mutable slices.
type ValueAndGrad<'a> = (&'a mut [f32], &'a mut [f32]);

/// The trainable parameters as (value, gradient) slices.
fn trainable_slots(
    parameters: Vec<&mut Parameter<f32>>,
) -> Result<Vec<ValueAndGrad<'_>>, TrainError> {
    parameters
        .into_iter()
        .filter(|p| p.trainable)
        .map(|p| {
            let name = p.name;
            let Parameter { value, grad, .. } = p;
            match (value.as_slice_mut(), grad.as_slice_mut()) {
                (Some(v), Some(g)) => Ok((v, g)),
                _ => Err(TrainError::Config {
                    field: "parameters",
                    reason: format!("weight `{name}` is not a contiguous array"),
                }),
            }
        })
        .collect()
}
