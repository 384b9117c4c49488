//! kill -9 during training: a child process trains with a full-state
//! checkpoint every epoch and a best-weights checkpoint; the parent kills it
//! with SIGKILL at seeded random moments. After every kill the last
//! checkpoint loads, no temporary file of an interrupted save survives the
//! next save, and the run resumed from that checkpoint ends on the same bits
//! as a run never interrupted.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kymo_data::{Dataset, SyntheticSpectra};
use kymo_layers::{ModelSpec, Sequential};
use kymo_optim::{Adam, AnyOptimizer};
use kymo_tensor::SeededRng;
use kymo_train::{Callback, Checkpoint, EpochLog, FitConfig, ModelCheckpoint, TrainError, Trainer};

const EPOCHS: usize = 12;
const CHILD_DIR: &str = "KYMO_KILL_NINE_DIR";

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

/// Saves the whole run after every epoch, as a resumable run does.
struct EveryEpoch(PathBuf);

impl Callback for EveryEpoch {
    fn on_epoch_end(&mut self, trainer: &mut Trainer, _log: &EpochLog) -> Result<(), TrainError> {
        trainer.checkpoint().save(&self.0)?;
        Ok(())
    }
}

/// Trains to `EPOCHS` in `dir`, resuming from `dir/state.kymo` if present.
fn train_in(dir: &Path) -> Trainer {
    let state = dir.join("state.kymo");
    let (train, validation) = data();
    let mut trainer = if state.exists() {
        Trainer::from_checkpoint(&Checkpoint::load(&state).expect("the last checkpoint loads"))
            .expect("rebuilds")
    } else {
        let config = FitConfig {
            epochs: EPOCHS,
            batch_size: 8,
            seed: 11,
            ..FitConfig::default()
        };
        let model = Sequential::new(&spec(), 3).expect("builds");
        Trainer::new(model, AnyOptimizer::Adam(Adam::default()), config)
    };
    let mut every_epoch = EveryEpoch(state);
    let mut best = ModelCheckpoint::best_only(dir.join("best.kymo"));
    trainer
        .fit(
            &train,
            Some(&validation),
            &mut [&mut every_epoch, &mut best],
        )
        .expect("trains");
    trainer
}

/// The child's body: runs only when the parent sets `KYMO_KILL_NINE_DIR`.
#[test]
#[ignore = "the child process of the kill -9 test; run by it"]
fn child_trains_with_a_checkpoint_every_epoch() {
    let dir = std::env::var(CHILD_DIR).expect("run by the kill -9 test");
    train_in(Path::new(&dir));
}

fn spawn_child(dir: &Path) -> std::process::Child {
    // The test's path inside this binary: the module path without the crate.
    let module = module_path!().split_once("::").map(|(_, m)| m);
    let name = "child_trains_with_a_checkpoint_every_epoch";
    let test = module.map_or(name.to_string(), |m| format!("{m}::{name}"));
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", &test, "--ignored", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns the child")
}

/// A run's end state, bit for bit: weights, optimizer state (as JSON) and
/// every epoch's loss. Wall times are left out.
type Fingerprint = (Vec<Vec<u32>>, Vec<u8>, Vec<(usize, u64)>);

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
        .map(|e| (e.epoch, e.loss.to_bits()))
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

#[test]
fn twenty_kills_lose_nothing_and_resume_bit_exactly() {
    let reference_dir = tempfile::tempdir().expect("temp dir");
    let started = std::time::Instant::now();
    let reference = train_in(reference_dir.path()).checkpoint();
    // Kill between 5% and 95% of an uninterrupted run (in-process, so a
    // child with its start-up cost lands kills across the whole run).
    let run_time = started.elapsed().as_secs_f64().max(0.05);
    let mut rng = SeededRng::new(19, 0);
    let mut killed_with_checkpoint = 0;
    let mut killed_mid_run = 0;
    for round in 0..20 {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = spawn_child(dir.path());
        let delay = run_time * rng.uniform_in(0.05, 1.2);
        std::thread::sleep(Duration::from_secs_f64(delay));
        // SIGKILL on Unix: the child gets no chance to clean up.
        let _ = child.kill();
        child.wait().expect("reaped");
        let state = dir.path().join("state.kymo");
        if state.exists() {
            killed_with_checkpoint += 1;
            let loaded = Checkpoint::load(&state)
                .unwrap_or_else(|e| panic!("round {round}: the last checkpoint must load: {e}"));
            assert!(!loaded.history.epochs.is_empty(), "round {round}");
            if loaded.history.epochs.len() < EPOCHS {
                killed_mid_run += 1;
            }
        }
        if dir.path().join("best.kymo").exists() {
            Checkpoint::load(&dir.path().join("best.kymo"))
                .unwrap_or_else(|e| panic!("round {round}: best weights must load: {e}"));
        }
        // Resume to the end in a fresh child, as a rerun would.
        let status = spawn_child(dir.path()).wait().expect("resumed child runs");
        assert!(status.success(), "round {round}: the resumed run failed");
        let resumed = Checkpoint::load(&state).expect("final checkpoint");
        assert_eq!(
            fingerprint(&resumed),
            fingerprint(&reference),
            "round {round}: the resumed run must end on the uninterrupted run's bits"
        );
        assert_eq!(
            temporaries(dir.path()),
            Vec::<String>::new(),
            "round {round}: temporaries of killed saves must not survive the next save"
        );
    }
    eprintln!(
        "kill -9: of 20 kills, {killed_with_checkpoint} landed after the first checkpoint, \
         {killed_mid_run} of them before the last epoch"
    );
    // The seeded delays must land kills between checkpoints, or the test
    // checks nothing about resuming.
    assert!(killed_mid_run >= 5, "only {killed_mid_run} kills mid-run");
}
