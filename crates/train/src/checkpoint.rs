//! Checkpoints: everything a training run needs to resume exactly, in one
//! file that is written whole or not at all and checked before use.
//!
//! Layout (little-endian):
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | magic `KYMOCKPT` |
//! | 8 | 4 | format version (3) |
//! | 12 | 8 | payload length |
//! | 20 | 4 | CRC-32 of the payload |
//! | 24 | n | payload (see [`crate::codec`]) |

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use kymo_data::Preprocessor;
use kymo_layers::{ArchitectureSpec, BuildLimits, Model, NamedArray};
use kymo_optim::AnyOptimizer;
use kymo_tensor::SeededRng;
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{codec, FitConfig, History, TrainError, Trainer};

const MAGIC: &[u8; 8] = b"KYMOCKPT";
// 2: the signal preprocessing (a `Preprocessor`, as JSON) replaced the
// standardizer of version 1. 3: Adam's AMSGrad and centered RMSprop's
// state joined the optimizer's.
const VERSION: u32 = 3;
const HEADER: usize = 24;

/// Why a checkpoint could not be written or read.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// The file could not be opened, written, synced or renamed.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file ends before its header or its declared payload does.
    #[error("checkpoint {path}: truncated: {needed} bytes needed, {found} present")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header (or header plus payload) needs.
        needed: u64,
        /// Bytes present.
        found: u64,
    },
    /// The file does not start with kymo's magic.
    #[error("checkpoint {path}: not a kymo checkpoint (bytes 0..8 are {found:?}, expected \"KYMOCKPT\")")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first bytes.
        found: Vec<u8>,
    },
    /// A format version this build cannot read.
    #[error(
        "checkpoint {path}: format version {found} at byte 8; this build reads version {supported}"
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Version supported.
        supported: u32,
    },
    /// Bytes after the declared payload.
    #[error("checkpoint {path}: {extra} bytes after the payload that ends at byte {end}")]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Where the payload ends.
        end: u64,
        /// How many bytes follow.
        extra: u64,
    },
    /// The payload does not match its checksum: the file is corrupted.
    #[error("checkpoint {path}: payload (bytes 24..{end}) fails its CRC-32: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Where the payload ends.
        end: u64,
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The payload could not be decoded, or encoded.
    #[error("checkpoint {path}: payload: {reason}")]
    Payload {
        /// The file.
        path: PathBuf,
        /// The codec's message.
        reason: String,
    },
    /// The checkpoint does not fit the model it describes.
    #[error("checkpoint: {0}")]
    Inconsistent(String),
}

/// A stored weight: name, shape and values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredArray {
    /// `layer/weight`.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub values: Vec<f32>,
}

/// Everything a run needs to resume: model spec and weights, optimizer and
/// its state, RNG streams, settings, history, and the data standardization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The model spec (Sequential or graph), as JSON: tagged enums need a
    /// self-describing format.
    pub model_spec_json: String,
    /// The fit settings, as JSON.
    pub fit_config_json: String,
    /// Every weight.
    pub weights: Vec<StoredArray>,
    /// Optimizer configuration and state.
    pub optimizer: AnyOptimizer,
    /// The shuffling stream.
    pub shuffle_rng: SeededRng,
    /// Dropout streams, in layer order.
    pub layer_rngs: Vec<SeededRng>,
    /// Epochs done.
    pub history: History,
    /// The preprocessing of signals and targets the run trained on (a
    /// `kymo_data::Preprocessor` as JSON: its steps are a tagged enum),
    /// so `predict` applies it to new signals and maps predictions back.
    pub preprocessor_json: Option<String>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The folder a save to `path` writes in (`.` for a bare file name) and the
/// file's name, which its temporary's name starts from.
fn directory_and_name(path: &Path) -> (&Path, String) {
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (directory, file_name)
}

/// Removes the temporary files that saves of `file_name` killed mid-write
/// left behind (`.{file_name}.tmp-<pid>` of a process that no longer runs),
/// so that kill -9 during a save costs nothing but that save. A process is
/// known dead when `/proc/<pid>` is absent; where there is no `/proc`,
/// nothing is removed. Best effort: a file that cannot be removed stays.
fn remove_stale_temporaries(directory: &Path, file_name: &str) {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return;
    }
    let prefix = format!(".{file_name}.tmp-");
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !proc_root.join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Checkpoint {
    /// Writes the checkpoint atomically: to a temporary file beside `path`,
    /// synced, then renamed over `path`. A crash leaves the old file intact.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let payload = codec::encode(self).map_err(|reason| CheckpointError::Payload {
            path: path.to_path_buf(),
            reason,
        })?;
        let mut bytes = Vec::with_capacity(HEADER + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        let (directory, file_name) = directory_and_name(path);
        std::fs::create_dir_all(directory).map_err(io(path))?;
        let temporary = directory.join(format!(".{file_name}.tmp-{}", std::process::id()));
        let written = (|| {
            let mut file = File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)?;
            // Make the rename itself durable.
            File::open(directory)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.map_err(io(path))?;
        remove_stale_temporaries(directory, &file_name);
        Ok(())
    }

    /// Removes the temporary files that saves to `path` killed mid-write
    /// left behind, as every save does after it renames. A rerun calls it
    /// before training too ([`crate::ModelCheckpoint`] does), because a run
    /// killed during its last save may have no save left to make.
    pub fn remove_interrupted_saves(path: &Path) {
        let (directory, file_name) = directory_and_name(path);
        remove_stale_temporaries(directory, &file_name);
    }

    /// Reads and checks a checkpoint: size, magic, version, length and
    /// checksum are verified before any decoding.
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(io(path))?;
        Self::from_bytes(&bytes, path)
    }

    /// Checks and decodes a checkpoint's bytes, as [`Checkpoint::load`] does
    /// a file's; `path` only names the origin in errors. The decoder never
    /// allocates more than a small multiple of `bytes.len()`.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, CheckpointError> {
        let owned = || path.to_path_buf();
        let found = bytes.len() as u64;
        if bytes.len() < HEADER {
            return Err(CheckpointError::Truncated {
                path: owned(),
                needed: HEADER as u64,
                found,
            });
        }
        if &bytes[0..8] != MAGIC {
            return Err(CheckpointError::BadMagic {
                path: owned(),
                found: bytes[0..8].to_vec(),
            });
        }
        let word = |range: std::ops::Range<usize>| -> [u8; 8] {
            let mut out = [0u8; 8];
            out[..range.len()].copy_from_slice(&bytes[range]);
            out
        };
        let version = u32::from_le_bytes(word(8..12)[..4].try_into().unwrap_or([0; 4]));
        if version != VERSION {
            return Err(CheckpointError::UnsupportedVersion {
                path: owned(),
                found: version,
                supported: VERSION,
            });
        }
        let declared = u64::from_le_bytes(word(12..20));
        let stored = u32::from_le_bytes(word(20..24)[..4].try_into().unwrap_or([0; 4]));
        let end = (HEADER as u64).saturating_add(declared);
        if end > found {
            return Err(CheckpointError::Truncated {
                path: owned(),
                needed: end,
                found,
            });
        }
        if end < found {
            return Err(CheckpointError::TrailingBytes {
                path: owned(),
                end,
                extra: found - end,
            });
        }
        let payload = &bytes[HEADER..];
        let computed = crc32fast::hash(payload);
        if computed != stored {
            return Err(CheckpointError::Checksum {
                path: owned(),
                end,
                stored,
                computed,
            });
        }
        codec::decode(payload).map_err(|reason| CheckpointError::Payload {
            path: owned(),
            reason,
        })
    }

    /// The model spec, Sequential or graph.
    pub fn architecture(&self) -> Result<ArchitectureSpec, CheckpointError> {
        ArchitectureSpec::from_json_str(&self.model_spec_json)
            .map_err(|e| CheckpointError::Inconsistent(e.to_string()))
    }

    /// The weights as named arrays.
    pub fn named_weights(&self) -> Result<Vec<NamedArray<f32>>, CheckpointError> {
        self.weights
            .iter()
            .map(|w| {
                ArrayD::from_shape_vec(w.shape.clone(), w.values.clone())
                    .map(|array| NamedArray {
                        name: w.name.clone(),
                        array,
                    })
                    .map_err(|e| CheckpointError::Inconsistent(format!("weight `{}`: {e}", w.name)))
            })
            .collect()
    }

    /// The preprocessing the run trained on, if it stored one.
    pub fn preprocessor(&self) -> Result<Option<Preprocessor>, CheckpointError> {
        self.preprocessor_json
            .as_deref()
            .map(|json| {
                serde_json::from_str(json)
                    .map_err(|e| CheckpointError::Inconsistent(format!("preprocessing: {e}")))
            })
            .transpose()
    }

    /// The model the checkpoint describes, with its weights and streams.
    ///
    /// The spec is sized before it is built, and may not ask for more
    /// parameters than the checkpoint stores values: a spec forged to ask
    /// for billions of weights is refused before they are allocated.
    pub fn model(&self) -> Result<Box<dyn Model<f32>>, TrainError> {
        let stored: u64 = self.weights.iter().map(|w| w.values.len() as u64).sum();
        let limits = BuildLimits {
            max_parameters: stored,
            ..BuildLimits::default()
        };
        let mut model = self.architecture()?.build_with_limits::<f32>(0, &limits)?;
        model.set_weights(&self.named_weights()?)?;
        let rngs = model.rngs_mut();
        if rngs.len() != self.layer_rngs.len() {
            return Err(CheckpointError::Inconsistent(format!(
                "{} layer random streams stored, the model has {}",
                self.layer_rngs.len(),
                rngs.len()
            ))
            .into());
        }
        for (rng, stored) in rngs.into_iter().zip(&self.layer_rngs) {
            *rng = stored.clone();
        }
        Ok(model)
    }
}

impl Trainer {
    /// A checkpoint of the whole run as it stands.
    pub fn checkpoint(&mut self) -> Checkpoint {
        let weights = self
            .model
            .get_weights()
            .into_iter()
            .map(|w| StoredArray {
                name: w.name,
                shape: w.array.shape().to_vec(),
                values: w.array.iter().copied().collect(),
            })
            .collect();
        Checkpoint {
            model_spec_json: self.model.architecture().to_json(),
            fit_config_json: serde_json::to_string(&self.config).unwrap_or_default(),
            weights,
            optimizer: self.optimizer.clone(),
            shuffle_rng: self.shuffle_rng.clone(),
            layer_rngs: self
                .model
                .rngs_mut()
                .into_iter()
                .map(|r| r.clone())
                .collect(),
            history: self.history.clone(),
            preprocessor_json: self
                .preprocessor
                .as_ref()
                .and_then(|p| serde_json::to_string(p).ok()),
        }
    }

    /// Resumes a run from a checkpoint: the next `fit` continues from the
    /// epoch after the last one stored, with every callback's `on_resume`
    /// (see [`Trainer::resume_from`], which keeps a trainer's own
    /// settings instead). `epochs` may raise the target.
    pub fn from_checkpoint(checkpoint: &Checkpoint) -> Result<Self, TrainError> {
        let config: FitConfig = serde_json::from_str(&checkpoint.fit_config_json)
            .map_err(|e| CheckpointError::Inconsistent(format!("fit settings: {e}")))?;
        let mut trainer = Trainer::new(checkpoint.model()?, checkpoint.optimizer.clone(), config);
        trainer.shuffle_rng = checkpoint.shuffle_rng.clone();
        trainer.history = checkpoint.history.clone();
        trainer.preprocessor = checkpoint.preprocessor()?;
        if !trainer.history.epochs.is_empty() {
            trainer.resume_point = Some(crate::ResumePoint::of(&[checkpoint])?);
        }
        Ok(trainer)
    }
}
