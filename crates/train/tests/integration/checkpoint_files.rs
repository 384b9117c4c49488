//! Bad checkpoint files get named errors, never a panic or a huge allocation.

use kymo_layers::Model;
use kymo_layers::{zoo, Sequential};
use kymo_optim::{Adam, AnyOptimizer};
use kymo_train::{Checkpoint, CheckpointError, FitConfig, Trainer};

fn saved() -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.kymo");
    let model = Sequential::new(&zoo::answer(32), 0).expect("builds");
    let mut trainer = Trainer::new(
        model,
        AnyOptimizer::Adam(Adam::default()),
        FitConfig::default(),
    );
    trainer.checkpoint().save(&path).expect("writes");
    let bytes = std::fs::read(&path).expect("reads");
    (dir, path, bytes)
}

#[test]
fn a_checkpoint_round_trips() {
    let (_dir, path, _) = saved();
    let loaded = Checkpoint::load(&path).expect("valid file");
    let model = loaded.model().expect("rebuilds");
    assert_eq!(
        model.count_params(),
        Sequential::<f32>::new(&zoo::answer(32), 0)
            .expect("builds")
            .count_params()
    );
}

#[test]
fn truncated_files_are_refused_at_every_length() {
    let (_dir, path, bytes) = saved();
    for cut in [0, 5, 23, 24, 100, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).expect("writes");
        match Checkpoint::load(&path) {
            Err(CheckpointError::Truncated { needed, found, .. }) => {
                assert_eq!(found, cut as u64);
                assert!(needed > found);
            }
            other => panic!("cut at {cut}: expected Truncated, got {other:?}"),
        }
    }
}

#[test]
fn a_flipped_payload_byte_fails_the_checksum() {
    let (_dir, path, mut bytes) = saved();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&path, &bytes).expect("writes");
    assert!(matches!(
        Checkpoint::load(&path),
        Err(CheckpointError::Checksum { .. })
    ));
}

#[test]
fn foreign_files_and_other_versions_are_named() {
    let (_dir, path, mut bytes) = saved();
    let mut foreign = bytes.clone();
    foreign[..8].copy_from_slice(b"PK\x03\x04ZIP!");
    std::fs::write(&path, &foreign).expect("writes");
    let err = Checkpoint::load(&path).expect_err("not ours");
    assert!(matches!(err, CheckpointError::BadMagic { .. }));
    assert!(err.to_string().contains("not a kymo checkpoint"));
    bytes[8] = 9;
    std::fs::write(&path, &bytes).expect("writes");
    assert!(matches!(
        Checkpoint::load(&path),
        Err(CheckpointError::UnsupportedVersion { found: 9, .. })
    ));
}

#[test]
fn a_forged_length_is_refused_before_any_allocation() {
    let (_dir, path, mut bytes) = saved();
    bytes[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&path, &bytes).expect("writes");
    assert!(matches!(
        Checkpoint::load(&path),
        Err(CheckpointError::Truncated { .. })
    ));
    bytes.truncate(24);
    bytes[12..20].copy_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(b"junk");
    std::fs::write(&path, &bytes).expect("writes");
    assert!(matches!(
        Checkpoint::load(&path),
        Err(CheckpointError::TrailingBytes { extra: 4, .. })
    ));
}

#[test]
fn a_consistent_but_garbled_payload_is_a_decode_error() {
    let (_dir, path, saved_bytes) = saved();
    // A well-formed header around a payload that is not a checkpoint.
    let payload = vec![0xFFu8; 64];
    // The current format version, as a checkpoint saved now states it.
    let mut bytes = b"KYMOCKPT".to_vec();
    bytes.extend_from_slice(&saved_bytes[8..12]);
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    std::fs::write(&path, &bytes).expect("writes");
    let error = Checkpoint::load(&path);
    assert!(
        matches!(error, Err(CheckpointError::Payload { .. })),
        "{error:?}"
    );
}

#[test]
fn a_failed_save_leaves_the_previous_checkpoint_intact() {
    let (dir, path, bytes) = saved();
    // Saving into a path whose parent is a file fails; the old file stays.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").expect("writes");
    let model = Sequential::new(&zoo::answer(32), 1).expect("builds");
    let mut trainer = Trainer::new(
        model,
        AnyOptimizer::Adam(Adam::default()),
        FitConfig::default(),
    );
    assert!(trainer
        .checkpoint()
        .save(&blocker.join("inner.kymo"))
        .is_err());
    assert_eq!(std::fs::read(&path).expect("still there"), bytes);
    // No temporary files are left behind either.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("lists")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}

/// A checkpoint whose CRC is right but whose spec asks for a huge layer:
/// the fuzzer's structure-aware reproducer, which used to abort the
/// process in the weight initializer.
#[test]
fn a_valid_checkpoint_with_a_forged_spec_is_refused_before_allocating() {
    let (_dir, path, _) = saved();
    let mut checkpoint = Checkpoint::load(&path).expect("valid file");
    for (filters, field) in [
        ("4000000000", "parameters"),
        ("18446744073709551615", "kernel_size"),
    ] {
        checkpoint.model_spec_json = format!(
            r#"{{"input": {{"channels": 1, "length": 32}},
               "layers": [{{"type": "Conv1D", "filters": {filters}, "kernel_size": 3}}]}}"#
        );
        checkpoint.save(&path).expect("writes");
        let loaded = Checkpoint::load(&path).expect("the file itself is whole");
        let error = match loaded.model() {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a {filters}-filter spec must be refused"),
        };
        assert!(
            error.contains("'conv1d' (Conv1D)") && error.contains(field),
            "{error}"
        );
    }
}

#[test]
fn a_save_removes_temporaries_that_killed_saves_left() {
    let (dir, path, _) = saved();
    // pid 4194304 is above Linux's pid_max: no such process can exist.
    let stale = dir.path().join(".model.kymo.tmp-4194304");
    let foreign = dir.path().join(".other.kymo.tmp-4194304");
    std::fs::write(&stale, b"half a checkpoint").expect("writes");
    std::fs::write(&foreign, b"another file's").expect("writes");
    Checkpoint::load(&path)
        .expect("valid")
        .save(&path)
        .expect("saves");
    assert!(!stale.exists(), "the dead save's temporary must go");
    assert!(
        foreign.exists(),
        "another file's temporary is not ours to remove"
    );
}

/// A run killed while saving its last epoch's best weights resumes with no
/// epoch left, so no save that would clean up after the killed one: the
/// callback cleans up when training begins.
#[test]
fn a_rerun_with_nothing_left_to_train_removes_a_killed_best_save() {
    let dir = tempfile::tempdir().expect("temp dir");
    let best = dir.path().join("best.kymo");
    // pid 4194304 is above Linux's pid_max: no such process can exist.
    let stale = dir.path().join(".best.kymo.tmp-4194304");
    std::fs::write(&stale, b"half a checkpoint").expect("writes");
    let data = kymo_data::SyntheticSpectra {
        samples: 8,
        length: 32,
        seed: 1,
        ..kymo_data::SyntheticSpectra::default()
    }
    .generate()
    .expect("generates");
    let model = Sequential::new(&zoo::answer(32), 0).expect("builds");
    let config = FitConfig {
        epochs: 0,
        ..FitConfig::default()
    };
    let mut trainer = Trainer::new(model, AnyOptimizer::Adam(Adam::default()), config);
    let mut checkpoint = kymo_train::ModelCheckpoint::best_only(&best);
    trainer
        .fit(&data, None, &mut [&mut checkpoint])
        .expect("nothing to train is not an error");
    assert!(trainer.history.epochs.is_empty(), "no epoch ran");
    assert!(!stale.exists(), "the killed save's temporary must go");
    assert!(!best.exists(), "and nothing was saved");
}
