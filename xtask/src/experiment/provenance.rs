//! Where a result came from: git revision, toolchain, CPU, threads, config.

use std::process::Command;

use serde::Serialize;

/// Provenance recorded beside every experiment's results.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    /// `git describe --always --dirty`.
    pub git_revision: String,
    /// `rustc --version`.
    pub rustc: String,
    /// CPU model name.
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Runs trained in parallel.
    pub jobs: usize,
    /// GEMM threads per run.
    pub gemm_threads: usize,
    /// CRC-32 of the resolved configuration.
    pub config_hash: String,
    /// Unix time the experiment started.
    pub started_unix: u64,
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

impl Provenance {
    /// Reads the machine and repository.
    pub fn collect(jobs: usize, gemm_threads: usize, config_hash: u32) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            git_revision: command_output("git", &["describe", "--always", "--dirty"]),
            rustc: command_output("rustc", &["--version"]),
            cpu,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            jobs,
            gemm_threads,
            config_hash: format!("{config_hash:08x}"),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}
