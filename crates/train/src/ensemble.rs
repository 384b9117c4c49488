//! Seed ensembles on disk: `ensemble.toml` names the member checkpoints
//! (paths relative to its folder), which [`crate::Predictor::load`] reads
//! and averages. `kymo fit` writes member 1 as `best.kymo`, so every tool
//! that reads one checkpoint still works on an ensemble's folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::TrainError;

/// The list of an ensemble's member checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleManifest {
    /// Member checkpoint files, relative to the manifest's folder.
    pub members: Vec<PathBuf>,
}

impl EnsembleManifest {
    /// The manifest's file name in a run's folder.
    pub const FILE_NAME: &'static str = "ensemble.toml";

    /// The checkpoint file of member `index` (from 0): `best.kymo`, then
    /// `best-2.kymo`, `best-3.kymo`, ...
    pub fn member_file(index: usize) -> PathBuf {
        match index {
            0 => PathBuf::from("best.kymo"),
            i => PathBuf::from(format!("best-{}.kymo", i + 1)),
        }
    }

    /// The manifest of `members` members named by [`Self::member_file`].
    pub fn numbered(members: usize) -> Self {
        Self {
            members: (0..members).map(Self::member_file).collect(),
        }
    }

    /// Writes the manifest into `folder`, returning its path.
    pub fn write(&self, folder: &Path) -> Result<PathBuf, TrainError> {
        let path = folder.join(Self::FILE_NAME);
        let text = toml::to_string(self).map_err(|e| TrainError::Config {
            field: "ensemble",
            reason: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(|source| TrainError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Reads a manifest, refusing one without members.
    pub fn read(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrainError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let manifest: Self = toml::from_str(&text).map_err(|e| TrainError::Config {
            field: "ensemble",
            reason: format!("{}: {e}", path.display()),
        })?;
        if manifest.members.is_empty() {
            return Err(TrainError::Config {
                field: "ensemble",
                reason: format!("{} names no member checkpoint", path.display()),
            });
        }
        Ok(manifest)
    }

    /// The members' paths, resolved against the folder of the manifest at
    /// `manifest_path`.
    pub fn checkpoints(&self, manifest_path: &Path) -> Vec<PathBuf> {
        let folder = manifest_path.parent().unwrap_or(Path::new("."));
        self.members.iter().map(|m| folder.join(m)).collect()
    }

    /// Whether `path` names a manifest rather than a checkpoint.
    pub fn is_manifest(path: &Path) -> bool {
        path.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_members_round_trip_and_resolve_beside_the_manifest() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let manifest = EnsembleManifest::numbered(3);
        assert_eq!(
            manifest.members,
            ["best.kymo", "best-2.kymo", "best-3.kymo"].map(PathBuf::from)
        );
        let path = manifest.write(folder.path()).expect("writes");
        let read = EnsembleManifest::read(&path).expect("reads");
        assert_eq!(read, manifest);
        assert_eq!(
            read.checkpoints(&path)[1],
            folder.path().join("best-2.kymo")
        );
        assert!(EnsembleManifest::is_manifest(&path));
        assert!(!EnsembleManifest::is_manifest(Path::new("best.kymo")));
    }

    #[test]
    fn an_empty_or_foreign_manifest_is_refused_by_name() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("ensemble.toml");
        std::fs::write(&path, "members = []\n").expect("writes");
        let error = EnsembleManifest::read(&path).unwrap_err().to_string();
        assert!(error.contains("no member"), "{error}");
        std::fs::write(&path, "checkpoints = [\"a.kymo\"]\n").expect("writes");
        let error = EnsembleManifest::read(&path).unwrap_err().to_string();
        assert!(error.contains("ensemble.toml"), "{error}");
    }
}
