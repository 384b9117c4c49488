//! kill -9 during training: a child process trains with a full-state
//! checkpoint every epoch and a best-weights checkpoint; the parent kills it
//! with SIGKILL at seeded random moments. After every kill the last
//! checkpoint loads, no temporary file of an interrupted save survives the
//! next save, and the run resumed from that checkpoint ends on the same bits
//! as a run never interrupted.
//!
//! Two runs are killed: a plain one (a checkpoint every epoch, resumed with
//! `Trainer::from_checkpoint`), and one with every stateful callback
//! (ReduceLROnPlateau with a patience shorter than the run, EarlyStopping
//! restoring the best weights, a best-only ModelCheckpoint) resumed by
//! `BackupAndRestore`, killed inside plateaus.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kymo_data::{Dataset, SyntheticSpectra};
use kymo_layers::{ModelSpec, Sequential};
use kymo_optim::{Adam, AnyOptimizer};
use kymo_tensor::SeededRng;
use kymo_train::{
    BackupAndRestore, Callback, Checkpoint, EarlyStopping, EpochLog, FitConfig, ModelCheckpoint,
    ReduceLROnPlateau, TrainError, Trainer,
};

const EPOCHS: usize = 12;
const CHILD_DIR: &str = "KYMO_KILL_NINE_DIR";
/// `plain` or `callbacks`: which run the child trains.
const CHILD_RUN: &str = "KYMO_KILL_NINE_RUN";

fn spec() -> ModelSpec {
    ModelSpec::from_toml_str(
        r#"
        input = { channels = 1, length = 64 }
        [[layers]]
        type = "Conv1D"
        filters = 8
        kernel_size = 5
        padding = "same"
        [[layers]]
        type = "LeakyReLU"
        negative_slope = 0.1
        [[layers]]
        type = "Flatten"
        [[layers]]
        type = "Dense"
        units = 1
        "#,
    )
    .expect("valid spec")
}

fn data() -> (Dataset, Dataset) {
    let all = SyntheticSpectra {
        samples: 600,
        length: 64,
        seed: 5,
        ..SyntheticSpectra::default()
    }
    .generate()
    .expect("generates");
    kymo_data::validation_split(&all, 0.25).expect("splits")
}

/// Slows each epoch down by a fixed pause (first among the callbacks, so
/// before the epoch's saves): the epochs of these small runs take a few
/// milliseconds, and the parent must be able to land a kill inside a
/// chosen one. A pause changes no bits.
struct Pace;

impl Callback for Pace {
    fn on_epoch_end(&mut self, _trainer: &mut Trainer, _log: &EpochLog) -> Result<(), TrainError> {
        std::thread::sleep(Duration::from_millis(15));
        Ok(())
    }
}

/// Saves the whole run after every epoch, as a resumable run does.
struct EveryEpoch(PathBuf);

impl Callback for EveryEpoch {
    fn on_epoch_end(&mut self, trainer: &mut Trainer, _log: &EpochLog) -> Result<(), TrainError> {
        trainer.checkpoint().save(&self.0)?;
        Ok(())
    }
}

/// A new run of both children: the spec at seed 3, `EPOCHS` of batch 8.
fn fresh_trainer(adam: Adam) -> Trainer {
    let config = FitConfig {
        epochs: EPOCHS,
        batch_size: 8,
        seed: 11,
        ..FitConfig::default()
    };
    let model = Sequential::new(&spec(), 3).expect("builds");
    Trainer::new(model, AnyOptimizer::Adam(adam), config)
}

/// Trains to `EPOCHS` in `dir`, resuming from `dir/state.kymo` if present.
fn train_in(dir: &Path) -> Trainer {
    let state = dir.join("state.kymo");
    let (train, validation) = data();
    let mut trainer = if state.exists() {
        Trainer::from_checkpoint(&Checkpoint::load(&state).expect("the last checkpoint loads"))
            .expect("rebuilds")
    } else {
        fresh_trainer(Adam::default())
    };
    let mut every_epoch = EveryEpoch(state);
    let mut best = ModelCheckpoint::best_only(dir.join("best.kymo"));
    trainer
        .fit(
            &train,
            Some(&validation),
            &mut [&mut Pace, &mut every_epoch, &mut best],
        )
        .expect("trains");
    trainer
}

/// The plateau schedule of the second run: it halves the rate after two
/// epochs without improvement, several times in `EPOCHS`.
fn plateau() -> ReduceLROnPlateau {
    ReduceLROnPlateau::new(0.5, 2, 1e-5)
}

/// Trains to `EPOCHS` in `dir` with every stateful callback, resumed by
/// BackupAndRestore (whose files are kept, to compare the end state).
fn train_with_callbacks_in(dir: &Path) -> Trainer {
    let (train, validation) = data();
    let mut trainer = fresh_trainer(Adam::new(2e-2));
    let mut plateau = plateau();
    let mut stopper = EarlyStopping::restoring_best("val_loss", EPOCHS);
    let mut best = ModelCheckpoint::best_only(dir.join("best-weights.kymo"));
    let mut backup = BackupAndRestore {
        delete_checkpoint: false,
        ..BackupAndRestore::new(dir)
    };
    trainer
        .fit(
            &train,
            Some(&validation),
            &mut [
                &mut Pace,
                &mut plateau,
                &mut stopper,
                &mut best,
                &mut backup,
            ],
        )
        .expect("trains");
    trainer
}

/// The child's body: runs only when the parent sets `KYMO_KILL_NINE_DIR`.
#[test]
#[ignore = "the child process of the kill -9 test; run by it"]
fn child_trains_with_a_checkpoint_every_epoch() {
    let dir = std::env::var(CHILD_DIR).expect("run by the kill -9 test");
    match std::env::var(CHILD_RUN).as_deref() {
        Ok("callbacks") => train_with_callbacks_in(Path::new(&dir)),
        _ => train_in(Path::new(&dir)),
    };
}

fn spawn_child(dir: &Path, run: &str) -> std::process::Child {
    // The test's path inside this binary: the module path without the crate.
    let module = module_path!().split_once("::").map(|(_, m)| m);
    let name = "child_trains_with_a_checkpoint_every_epoch";
    let test = module.map_or(name.to_string(), |m| format!("{m}::{name}"));
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", &test, "--ignored", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_RUN, run)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns the child")
}

/// A run's end state, bit for bit: weights, optimizer state (as JSON) and
/// every epoch's loss. Wall times are left out.
type Fingerprint = (Vec<Vec<u32>>, Vec<u8>, Vec<(usize, u64, u64)>);

fn fingerprint(checkpoint: &Checkpoint) -> Fingerprint {
    let weights = checkpoint
        .weights
        .iter()
        .map(|w| w.values.iter().map(|v| v.to_bits()).collect())
        .collect();
    let optimizer = serde_json::to_vec(&checkpoint.optimizer).expect("serializes");
    let losses = checkpoint
        .history
        .epochs
        .iter()
        .map(|e| (e.epoch, e.loss.to_bits(), e.learning_rate.to_bits()))
        .collect();
    (weights, optimizer, losses)
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("reads the folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

/// Waits until the run's last checkpoint holds `epochs` epochs (at once
/// for 0), or the child has ended.
fn wait_for_epochs(state: &Path, epochs: usize, child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while epochs > 0 && std::time::Instant::now() < deadline {
        // Saves are atomic renames: a checkpoint read here is a whole one.
        let done = Checkpoint::load(state).map_or(0, |c| c.history.epochs.len());
        if done >= epochs || child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What the kills of one run found.
struct Kills {
    /// Kills that landed after the first checkpoint.
    with_checkpoint: usize,
    /// Of those, the epochs done when the kill landed before the last one.
    mid_run_epochs: Vec<usize>,
}

/// Kills `run` `rounds` times at seeded moments, resumes each to the end in
/// a fresh child, and checks the end state against `reference`'s. The end
/// state is read from `dir/state.kymo`.
fn kill_and_resume(run: &str, rounds: usize, reference: &Checkpoint, run_time: f64) -> Kills {
    let mut rng = SeededRng::new(19, 0);
    let mut kills = Kills {
        with_checkpoint: 0,
        mid_run_epochs: Vec::new(),
    };
    for round in 0..rounds {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("state.kymo");
        let mut child = spawn_child(dir.path(), run);
        // Wait for a seeded number of finished epochs (timing alone lands
        // kills unevenly when other tests load the machine), then kill at a
        // seeded moment within the next epoch: inside its steps or its saves.
        let epochs_first = (rng.uniform_in(0.0, (EPOCHS - 1) as f64) as usize).min(EPOCHS - 2);
        wait_for_epochs(&state, epochs_first, &mut child);
        // An epoch's time, its saves included, as the uninterrupted run had it.
        let epoch_time = run_time / EPOCHS as f64;
        std::thread::sleep(Duration::from_secs_f64(
            epoch_time * rng.uniform_in(0.0, 1.0),
        ));
        // SIGKILL on Unix: the child gets no chance to clean up.
        let _ = child.kill();
        child.wait().expect("reaped");
        if state.exists() {
            kills.with_checkpoint += 1;
            let loaded = Checkpoint::load(&state).unwrap_or_else(|e| {
                panic!("{run} round {round}: the last checkpoint must load: {e}")
            });
            assert!(!loaded.history.epochs.is_empty(), "{run} round {round}");
            if loaded.history.epochs.len() < EPOCHS {
                kills.mid_run_epochs.push(loaded.history.epochs.len());
            }
        }
        for best in ["best.kymo", "best-weights.kymo"] {
            if dir.path().join(best).exists() {
                Checkpoint::load(&dir.path().join(best))
                    .unwrap_or_else(|e| panic!("{run} round {round}: {best} must load: {e}"));
            }
        }
        // Resume to the end in a fresh child, as a rerun would.
        let status = spawn_child(dir.path(), run)
            .wait()
            .expect("resumed child runs");
        assert!(
            status.success(),
            "{run} round {round}: the resumed run failed"
        );
        let resumed = Checkpoint::load(&state).expect("final checkpoint");
        // Compared whole, reported by epoch: the weights' bits would fill
        // the screen.
        let rates = |c: &Checkpoint| -> Vec<f64> {
            c.history.epochs.iter().map(|e| e.learning_rate).collect()
        };
        assert!(
            fingerprint(&resumed) == fingerprint(reference),
            "{run} round {round}: the resumed run must end on the uninterrupted run's bits \
             (learning rates by epoch: resumed {:?}, uninterrupted {:?})",
            rates(&resumed),
            rates(reference)
        );
        assert_eq!(
            temporaries(dir.path()),
            Vec::<String>::new(),
            "{run} round {round}: temporaries of killed saves must not survive the next save"
        );
    }
    eprintln!(
        "kill -9 ({run}): of {rounds} kills, {} landed after the first checkpoint, {} of them before the last epoch",
        kills.with_checkpoint,
        kills.mid_run_epochs.len()
    );
    kills
}

/// The two kill tests take turns: each times an uninterrupted child to
/// place its kills, and a second one beside it would stretch that time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// An uninterrupted child run of `run`: its end state and the time its
/// epochs took (start-up left out).
fn reference_run(run: &str) -> (Checkpoint, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = std::time::Instant::now();
    let status = spawn_child(dir.path(), run).wait().expect("child runs");
    assert!(status.success(), "the uninterrupted {run} run failed");
    let state = Checkpoint::load(&dir.path().join("state.kymo")).expect("saved");
    // Start-up left out: the epochs' own time, with a margin for the saves.
    let epochs_time: f64 = state.history.epochs.iter().map(|e| e.seconds).sum();
    let run_time = (1.5 * epochs_time)
        .min(started.elapsed().as_secs_f64())
        .max(0.01);
    (state, run_time)
}

#[test]
fn twenty_kills_lose_nothing_and_resume_bit_exactly() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (reference, run_time) = reference_run("plain");
    let kills = kill_and_resume("plain", 20, &reference, run_time);
    // The seeded delays must land kills between checkpoints, or the test
    // checks nothing about resuming.
    assert!(
        kills.mid_run_epochs.len() >= 5,
        "only {} kills mid-run",
        kills.mid_run_epochs.len()
    );
}

#[test]
fn kills_inside_plateaus_resume_every_callback_bit_exactly() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (reference, run_time) = reference_run("callbacks");
    // The schedule must act inside the run: the rate drops at least twice.
    let rates: Vec<f64> = reference
        .history
        .epochs
        .iter()
        .map(|e| e.learning_rate)
        .collect();
    let drops = rates.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(
        drops >= 2,
        "the plateau schedule must reduce the rate: {rates:?}"
    );
    // Epoch counts after which the plateau counter is running: the last
    // epoch did not improve on the best before it by the schedule's delta.
    let mut monitor = plateau().monitor;
    let inside: Vec<usize> = reference
        .history
        .epochs
        .iter()
        .filter_map(|e| (!monitor.update(e.val_loss.unwrap_or(f64::NAN))).then_some(e.epoch + 1))
        .collect();
    let kills = kill_and_resume("callbacks", 20, &reference, run_time);
    let in_plateau = kills
        .mid_run_epochs
        .iter()
        .filter(|n| inside.contains(n))
        .count();
    eprintln!("kill -9 (callbacks): {in_plateau} kills inside a plateau (after epochs {inside:?})");
    assert!(
        in_plateau >= 2,
        "only {in_plateau} kills inside a plateau: the test would not catch a lost counter"
    );
}
