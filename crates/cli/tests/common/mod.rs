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
