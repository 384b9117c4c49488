//! What the `kymo` command tests share: running the binary.

/// Runs `kymo` with `args`, expecting success; returns stdout and stderr.
pub fn kymo(args: &[&str]) -> (String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kymo"))
        .args(args)
        .output()
        .expect("kymo runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(output.status.success(), "kymo {args:?} failed:\n{stderr}");
    (stdout, stderr)
}

/// A small kymo model spec (TOML) for `length`-point, one-channel signals:
/// Conv1D(4, 5, same), `activation`, MaxPooling1D(4), Flatten, Dense(1).
#[allow(dead_code)] // not every test binary writes a model
pub fn small_model(length: usize, activation: &str) -> String {
    format!(
        r#"
[input]
channels = 1
length = {length}

[[layers]]
type = "Conv1D"
filters = 4
kernel_size = 5
padding = "same"

[[layers]]
type = "{activation}"

[[layers]]
type = "MaxPooling1D"
pool_size = 4

[[layers]]
type = "Flatten"

[[layers]]
type = "Dense"
units = 1
"#
    )
}
