//! kill -9 of `cargo xtask experiment` mid-run: the rerun skips the runs
//! that finished, resumes the interrupted ones from their last epoch's
//! checkpoint instead of starting them over, and writes the same report as
//! an experiment never interrupted (timings aside).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ARGS: [&str; 8] = [
    "--seeds",
    "1",
    "--epochs",
    "3",
    "--samples",
    "160",
    "--jobs",
    "1",
];

fn experiment(out: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.arg("experiment").args(ARGS).arg("--out").arg(out);
    command
}

fn finished(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "experiment failed:\n{stderr}");
    stderr
}

/// summary.csv without its wall-time column.
fn summary_without_timings(out: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(out.join("summary.csv")).expect("summary.csv");
    let headers = reader.headers().expect("header").clone();
    let keep: Vec<usize> = (0..headers.len())
        .filter(|&i| &headers[i] != "seconds")
        .collect();
    let mut rows = vec![keep.iter().map(|&i| headers[i].to_string()).collect()];
    for record in reader.records() {
        let record = record.expect("row");
        rows.push(keep.iter().map(|&i| record[i].to_string()).collect());
    }
    rows
}

fn state_files(out: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(variants) = std::fs::read_dir(out.join("runs")) else {
        return found;
    };
    for variant in variants.flatten() {
        for file in std::fs::read_dir(variant.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            // A run's BackupAndRestore folder, once it holds an epoch.
            let state = file.path().join("state.kymo");
            if file.file_name().to_string_lossy().ends_with(".backup") && state.exists() {
                found.push(state);
            }
        }
    }
    found
}

#[test]
fn a_killed_experiment_resumes_and_reports_as_an_uninterrupted_one() {
    let root = tempfile::tempdir().expect("temp dir");
    let (whole, killed) = (root.path().join("whole"), root.path().join("killed"));
    finished(experiment(&whole).output().expect("runs"));

    // Kill as soon as a run has saved an epoch's state and before it ends.
    let mut child = experiment(&killed)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(600);
    while state_files(&killed).is_empty() {
        assert!(Instant::now() < deadline, "no run saved its state");
        assert!(
            child.try_wait().expect("polls").is_none(),
            "ended before a state was saved"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert!(
        !killed.join("summary.csv").exists(),
        "killed before the report"
    );

    let stderr = finished(experiment(&killed).output().expect("reruns"));
    assert!(
        stderr.contains("resuming after epoch"),
        "the interrupted run must resume, not start over:\n{stderr}"
    );
    assert_eq!(
        summary_without_timings(&killed),
        summary_without_timings(&whole)
    );
    assert!(
        state_files(&killed).is_empty(),
        "finished runs keep no resume state"
    );
}
