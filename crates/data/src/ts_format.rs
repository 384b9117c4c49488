//! The UCR/UEA `.ts` format, as the sktime and aeon archives ship it:
//! `@` header lines, then one case per line after `@data`, its channels
//! separated by `:` and their values by `,`, the class label (or the
//! regression target) last. Univariate and multivariate, equal length.
//!
//! Every malformed case is an error that names the file and the line: a
//! missing value (`?`), a ragged series, a label that `@classLabel` does not
//! declare, a case with another channel count than the first.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3};

use crate::{DataError, Dataset};

/// What a case ends with: a class label, a numeric target, or nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum TsTargets {
    /// Class labels: each case's index into `classes`, in the order
    /// `@classLabel` declares them.
    Classes {
        /// The declared class names.
        classes: Vec<String>,
        /// Each case's class index.
        labels: Vec<usize>,
    },
    /// `@targetLabel true`: one number per case.
    Values(Vec<f32>),
}

/// A `.ts` file's cases: `[N, C, L]` signals and their targets.
#[derive(Debug, Clone, PartialEq)]
pub struct TsData {
    /// `@problemName`, if given.
    pub problem: Option<String>,
    /// The series, `[cases, channels, length]`.
    pub signals: Array3<f32>,
    /// Labels or targets.
    pub targets: TsTargets,
}

impl TsData {
    /// The cases as a [`Dataset`]: class labels become class indices with
    /// the declared class names, numeric targets one target column.
    pub fn into_dataset(self) -> Result<Dataset, DataError> {
        match self.targets {
            TsTargets::Classes { classes, labels } => {
                let targets = Array2::from_shape_fn((labels.len(), 1), |(i, _)| labels[i] as f32);
                Dataset::new(self.signals, targets)?.with_classes(classes)
            }
            TsTargets::Values(values) => {
                let targets = Array2::from_shape_vec((values.len(), 1), values)
                    .map_err(|e| DataError::Shape(e.to_string()))?;
                Dataset::new(self.signals, targets)
            }
        }
    }

    /// The cases as a [`Dataset`] whose class indices follow `classes`
    /// (a test file read with its training file's classes): a class this
    /// file declares that `classes` lacks is an error.
    pub fn into_dataset_with_classes(
        self,
        path: &Path,
        classes: &[String],
    ) -> Result<Dataset, DataError> {
        let own = self.into_dataset()?;
        let (Some(declared), Some(labels)) = (own.classes(), own.labels()) else {
            return Ok(own);
        };
        let mut remapped = Vec::with_capacity(labels.len());
        for (row, &label) in labels.iter().enumerate() {
            let name = &declared[label];
            let index =
                classes
                    .iter()
                    .position(|c| c == name)
                    .ok_or_else(|| DataError::UnknownLabel {
                        path: path.to_path_buf(),
                        row: row + 1,
                        label: name.clone(),
                        known: classes.join(", "),
                    })?;
            remapped.push(index as f32);
        }
        let targets = Array2::from_shape_vec((remapped.len(), 1), remapped)
            .map_err(|e| DataError::Shape(e.to_string()))?;
        Dataset::new(own.signals().clone(), targets)?.with_classes(classes.to_vec())
    }
}

/// Reads a `.ts` file.
pub fn load_ts(path: &Path) -> Result<TsData, DataError> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_ts(&text, path)
}

/// The header's declarations, as far as reading the cases needs them.
#[derive(Default)]
struct Header {
    problem: Option<String>,
    classes: Option<Vec<String>>,
    target_label: bool,
}

/// Parses `.ts` text; `path` names it in errors.
pub fn parse_ts(text: &str, path: &Path) -> Result<TsData, DataError> {
    let error = |line: usize, reason: String| DataError::TsFormat {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut header = Header::default();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    let mut data_started = false;
    for (number, line) in lines.by_ref() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !line.starts_with('@') {
            return Err(error(number, "a case before `@data`".into()));
        }
        if read_header_line(line, number, &mut header, &error)? {
            data_started = true;
            break;
        }
    }
    if !data_started {
        return Err(error(text.lines().count(), "no `@data` line".into()));
    }
    let mut cases = Cases::default();
    for (number, line) in lines {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        cases.read(line, number, &header, &error)?;
    }
    cases.finish(header, path)
}

/// Reads one `@` line into `header`; true at `@data`.
fn read_header_line(
    line: &str,
    number: usize,
    header: &mut Header,
    error: &impl Fn(usize, String) -> DataError,
) -> Result<bool, DataError> {
    let mut words = line.split_whitespace();
    let tag = words.next().unwrap_or_default().to_ascii_lowercase();
    let value = |words: &mut std::str::SplitWhitespace<'_>| {
        words
            .next()
            .map(str::to_ascii_lowercase)
            .unwrap_or_default()
    };
    match tag.as_str() {
        "@data" => return Ok(true),
        "@problemname" => header.problem = words.next().map(str::to_string),
        "@classlabel" => {
            if value(&mut words) == "true" {
                let classes: Vec<String> = words.map(str::to_string).collect();
                if classes.is_empty() {
                    return Err(error(number, "`@classLabel true` declares no class".into()));
                }
                header.classes = Some(classes);
            }
        }
        "@targetlabel" => header.target_label = value(&mut words) == "true",
        "@timestamps" => {
            if value(&mut words) == "true" {
                return Err(error(
                    number,
                    "series with timestamps are not supported".into(),
                ));
            }
        }
        "@equallength" => {
            if value(&mut words) == "false" {
                return Err(error(
                    number,
                    "unequal-length series are not supported".into(),
                ));
            }
        }
        // Declarations the cases themselves show (checked there).
        "@univariate" | "@dimensions" | "@serieslength" | "@missing" => {}
        other => return Err(error(number, format!("unknown header `{other}`"))),
    }
    Ok(false)
}

/// The cases read so far.
#[derive(Default)]
struct Cases {
    values: Vec<f32>,
    channels: usize,
    length: usize,
    labels: Vec<usize>,
    targets: Vec<f32>,
    count: usize,
}

impl Cases {
    /// Reads one case line.
    fn read(
        &mut self,
        line: &str,
        number: usize,
        header: &Header,
        error: &impl Fn(usize, String) -> DataError,
    ) -> Result<(), DataError> {
        let mut fields: Vec<&str> = line.split(':').collect();
        let labelled = header.classes.is_some() || header.target_label;
        if labelled {
            let Some(last) = fields.pop() else {
                return Err(error(number, "an empty case".into()));
            };
            let last = last.trim();
            match &header.classes {
                Some(classes) => {
                    let index = classes.iter().position(|c| c == last).ok_or_else(|| {
                        error(
                            number,
                            format!(
                                "class label `{last}` is not declared by `@classLabel` ({})",
                                classes.join(", ")
                            ),
                        )
                    })?;
                    self.labels.push(index);
                }
                None => {
                    let target = last
                        .parse::<f32>()
                        .ok()
                        .filter(|t| t.is_finite())
                        .ok_or_else(|| {
                            error(number, format!("target `{last}` is not a finite number"))
                        })?;
                    self.targets.push(target);
                }
            }
        }
        if fields.is_empty() {
            return Err(error(number, "a case with no series".into()));
        }
        if self.count == 0 {
            self.channels = fields.len();
        } else if fields.len() != self.channels {
            return Err(error(
                number,
                format!(
                    "{} channel(s), the first case has {}",
                    fields.len(),
                    self.channels
                ),
            ));
        }
        for (channel, field) in fields.iter().enumerate() {
            let before = self.values.len();
            for (point, cell) in field.split(',').enumerate() {
                let cell = cell.trim();
                if cell == "?" || cell.eq_ignore_ascii_case("nan") {
                    return Err(error(
                        number,
                        format!(
                            "missing value in channel {} at point {}",
                            channel + 1,
                            point + 1
                        ),
                    ));
                }
                let value = cell
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        error(
                            number,
                            format!(
                                "`{cell}` in channel {} at point {} is not a finite number",
                                channel + 1,
                                point + 1
                            ),
                        )
                    })?;
                self.values.push(value);
            }
            let length = self.values.len() - before;
            if self.count == 0 && channel == 0 {
                self.length = length;
            } else if length != self.length {
                return Err(error(
                    number,
                    format!(
                        "channel {} has {length} points, the first series has {} (ragged series are not supported)",
                        channel + 1,
                        self.length
                    ),
                ));
            }
        }
        self.count += 1;
        Ok(())
    }

    /// The data set the cases make.
    fn finish(self, header: Header, path: &Path) -> Result<TsData, DataError> {
        if self.count == 0 {
            return Err(DataError::Empty {
                path: PathBuf::from(path),
            });
        }
        let signals = Array3::from_shape_vec((self.count, self.channels, self.length), self.values)
            .map_err(|e| DataError::Shape(format!("{}: {e}", path.display())))?;
        let targets = match header.classes {
            Some(classes) => TsTargets::Classes {
                classes,
                labels: self.labels,
            },
            None => TsTargets::Values(self.targets),
        };
        Ok(TsData {
            problem: header.problem,
            signals,
            targets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIVARIATE: &str = "# a comment\n@problemName Toy\n@timeStamps false\n@missing false\n@univariate true\n@equalLength true\n@seriesLength 4\n@classLabel true 1 2\n@data\n1.0,2.0,3.0,4.0:1\n4.0,3.0,2.0,1.0:2\n0.5,0.5,0.5,0.5:1\n";

    fn parse(text: &str) -> Result<TsData, DataError> {
        parse_ts(text, Path::new("toy.ts"))
    }

    fn reason(text: &str) -> String {
        parse(text).expect_err("malformed").to_string()
    }

    #[test]
    fn reads_univariate_and_multivariate_cases_with_their_labels() {
        let data = parse(UNIVARIATE).expect("valid");
        assert_eq!(data.problem.as_deref(), Some("Toy"));
        assert_eq!(data.signals.dim(), (3, 1, 4));
        assert_eq!(data.signals[[1, 0, 0]], 4.0);
        assert_eq!(
            data.targets,
            TsTargets::Classes {
                classes: vec!["1".into(), "2".into()],
                labels: vec![0, 1, 0]
            }
        );
        let multi = "@classLabel true walk run\n@data\n1,2,3:4,5,6:walk\n6,5,4:3,2,1:run\n";
        let data = parse(multi).expect("valid");
        assert_eq!(data.signals.dim(), (2, 2, 3));
        assert_eq!(data.signals[[0, 1, 2]], 6.0);
        let regression = "@targetLabel true\n@data\n1,2,3:0.5\n3,2,1:1.5\n";
        assert_eq!(
            parse(regression).expect("valid").targets,
            TsTargets::Values(vec![0.5, 1.5])
        );
    }

    #[test]
    fn cases_become_a_labelled_dataset_in_the_training_class_order() {
        let data = parse(UNIVARIATE)
            .expect("valid")
            .into_dataset()
            .expect("labelled");
        assert_eq!(data.classes().expect("classes"), ["1", "2"]);
        assert_eq!(data.labels().expect("classes"), vec![0, 1, 0]);
        // Read with the classes in another order, the indices follow it.
        let flipped = vec!["2".to_string(), "1".to_string()];
        let test = parse(UNIVARIATE)
            .expect("valid")
            .into_dataset_with_classes(Path::new("toy.ts"), &flipped)
            .expect("known classes");
        assert_eq!(test.labels().expect("classes"), vec![1, 0, 1]);
        let err = parse(UNIVARIATE)
            .expect("valid")
            .into_dataset_with_classes(Path::new("toy.ts"), &["1".to_string()])
            .unwrap_err();
        assert!(err.to_string().contains("label `2`"), "{err}");
    }

    #[test]
    fn every_malformed_case_names_its_line_and_what_is_wrong() {
        let missing = UNIVARIATE.replace("4.0,3.0,2.0,1.0:2", "4.0,?,2.0,1.0:2");
        let message = reason(&missing);
        assert!(
            message.contains("toy.ts: line 11")
                && message.contains("missing value in channel 1 at point 2"),
            "{message}"
        );
        let ragged = UNIVARIATE.replace("0.5,0.5,0.5,0.5:1", "0.5,0.5,0.5:1");
        let message = reason(&ragged);
        assert!(
            message.contains("line 12") && message.contains("ragged"),
            "{message}"
        );
        let undeclared = UNIVARIATE.replace("4.0,3.0,2.0,1.0:2", "4.0,3.0,2.0,1.0:7");
        let message = reason(&undeclared);
        assert!(
            message.contains("line 11") && message.contains("`7` is not declared"),
            "{message}"
        );
        let channels = "@classLabel true a\n@data\n1,2:3,4:a\n1,2:a\n";
        let message = reason(channels);
        assert!(
            message.contains("line 4") && message.contains("1 channel(s), the first case has 2"),
            "{message}"
        );
        assert!(reason("@classLabel true a\n1,2:a\n").contains("before `@data`"));
        assert!(reason("@timeStamps true\n@data\n").contains("timestamps"));
        assert!(reason("@classLabel true a\n").contains("no `@data`"));
        assert!(reason("@bogus 1\n@data\n").contains("unknown header `@bogus`"));
        assert!(
            reason("@classLabel true a\n@data\n1,x:a\n").contains("`x` in channel 1 at point 2")
        );
    }
}
