//! `kymo dataset <name> --out <dir>`: a built-in data set as the files a
//! user of another tool would have: for the NIR sets, CSV files
//! (`calibration.csv`, `test.csv`; a `target` column, then one column per
//! wavelength); for the UCR/UEA sets, the archive's `.ts` files.

use anyhow::Context as _;
use std::path::Path;

use kymo_data::Dataset;

fn write(data: &Dataset, wavelengths: &[f32], path: &Path) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_path(path).with_context(|| format!("{}", path.display()))?;
    let mut header = vec!["target".to_string()];
    header.extend(wavelengths.iter().map(|w| format!("nm{w}")));
    writer.write_record(&header)?;
    for (signal, target) in data.signals().outer_iter().zip(data.targets().rows()) {
        let mut row = vec![target[0].to_string()];
        row.extend(signal.iter().map(|v| v.to_string()));
        writer.write_record(&row)?;
    }
    writer.flush()?;
    Ok(())
}

/// Writes a UCR/UEA set's archive files (`<Name>_TRAIN.ts`, `_TEST.ts`).
fn write_ucr(files: [(String, &str); 2], out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let mut written = Vec::new();
    for (file, text) in files {
        let path = out.join(file);
        std::fs::write(&path, text).with_context(|| format!("{}", path.display()))?;
        written.push(path.display().to_string());
    }
    println!("{} (class labels in the file)", written.join(" and "));
    Ok(())
}

/// Writes the set's calibration and test rows.
pub fn run(name: &str, out: &Path) -> anyhow::Result<()> {
    if let Some(files) = kymo_data::datasets::ucr_files(name) {
        return write_ucr(files, out);
    }
    let spectra = kymo_data::datasets::by_name(name).with_context(|| {
        format!(
            "`{name}` is not a built-in data set ({}, {})",
            kymo_data::datasets::NAMES.join(", "),
            kymo_data::datasets::UCR_NAMES.join(", ")
        )
    })??;
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    write(
        &spectra.calibration,
        &spectra.wavelengths_nm,
        &out.join("calibration.csv"),
    )?;
    write(
        &spectra.test,
        &spectra.wavelengths_nm,
        &out.join("test.csv"),
    )?;
    println!(
        "{}: {} ({}); {} and {} (column `target`)",
        spectra.name,
        spectra.target,
        spectra.unit,
        out.join("calibration.csv").display(),
        out.join("test.csv").display()
    );
    Ok(())
}
