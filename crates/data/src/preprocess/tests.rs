use super::*;
use crate::{DatasetScaler, SyntheticSpectra};

fn spectra(samples: usize) -> Dataset {
    SyntheticSpectra {
        samples,
        length: 64,
        ..Default::default()
    }
    .generate()
    .expect("valid settings")
}

#[test]
fn the_standard_pipeline_equals_the_dataset_scaler_bit_for_bit() {
    let (train, test) = (spectra(30), spectra(10));
    let scaler = DatasetScaler::fit(&train).unwrap();
    let pre = Pipeline::standard().fit(&train).unwrap();
    for data in [&train, &test] {
        let (a, b) = (
            scaler.transform(data).unwrap(),
            pre.transform(data).unwrap(),
        );
        assert_eq!(a.signals(), b.signals());
        assert_eq!(a.targets(), b.targets());
    }
    let back = pre.targets_to_units(&pre.transform(&test).unwrap().targets().clone());
    let back = back.unwrap();
    assert!(back
        .iter()
        .zip(test.targets())
        .all(|(a, b)| (a - b).abs() < 1e-4));
}

#[test]
fn steps_are_fitted_on_training_rows_only_and_survive_serialization() {
    let train = spectra(20);
    let pipeline = Pipeline::with_steps(Step::parse_list("msc,savgol:7:2:1,standardize").unwrap());
    let pre = pipeline.fit(&train).unwrap();
    let other = spectra(5);
    let direct = pre.transform_signals(other.signals()).unwrap();
    let json = serde_json::to_string(&pre).unwrap();
    let back: Preprocessor = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pre);
    assert_eq!(back.transform_signals(other.signals()).unwrap(), direct);
    // The training rows come out standardized; new rows only approximately.
    let t = pre.transform(&train).unwrap();
    let first_point_mean = t.signals().iter().step_by(64).sum::<f32>() / 20.0;
    assert!(first_point_mean.abs() < 1e-4, "{first_point_mean}");
}

#[test]
fn snv_makes_every_spectrum_zero_mean_whatever_its_offset() {
    let train = spectra(8);
    let shifted = train
        .map(|s| s.mapv(|v| 3.0 * v + 5.0), |t| t.clone())
        .unwrap();
    let pre = Pipeline {
        steps: vec![Step::Snv],
        standardize_targets: false,
    }
    .fit(&train)
    .unwrap();
    let (a, b) = (
        pre.transform_signals(train.signals()).unwrap(),
        pre.transform_signals(shifted.signals()).unwrap(),
    );
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-4));
    assert_eq!(
        pre.targets_to_units(train.targets()).unwrap(),
        *train.targets()
    );
}

#[test]
fn wrong_shapes_and_values_are_errors_that_say_where() {
    let pre = Pipeline::with_steps(vec![Step::Log1p])
        .fit(&spectra(4))
        .unwrap();
    let error = pre
        .transform_signals(&Array3::zeros((2, 1, 10)))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("1 channel(s) x 64 points") && error.contains("1 x 10"),
        "{error}"
    );
    let mut negative = Array3::<f32>::zeros((2, 1, 64));
    negative[[1, 0, 5]] = -2.0;
    let error = pre.transform_signals(&negative).unwrap_err().to_string();
    assert!(error.contains("sample 2, point 6"), "{error}");
    let error = Pipeline::with_steps(vec![Step::SavitzkyGolay {
        window: 99,
        order: 2,
        derivative: 0,
    }])
    .fit(&spectra(4))
    .unwrap_err()
    .to_string();
    assert!(error.contains("longer than the signal"), "{error}");
}

#[test]
fn steps_read_back_what_they_print_and_refuse_anything_else() {
    let steps = Step::parse_list("snv, msc,log1p,standardize,savgol:11:2:1,savgol:5:2").unwrap();
    assert_eq!(steps.len(), 6);
    let printed: Vec<String> = steps.iter().map(Step::to_string).collect();
    assert_eq!(Step::parse_list(&printed.join(",")).unwrap(), steps);
    assert_eq!(Step::parse_list("none").unwrap(), vec![]);
    for bad in ["snv2", "savgol:11", "savgol:a:2", "savgol:5:2:1:0"] {
        assert!(Step::parse_list(bad).is_err(), "{bad}");
    }
    let toml: Pipeline = toml_like();
    assert_eq!(
        toml.steps[1],
        Step::SavitzkyGolay {
            window: 11,
            order: 2,
            derivative: 0
        }
    );
}

fn toml_like() -> Pipeline {
    serde_json::from_str(
        r#"{"steps": [{"step": "snv"}, {"step": "savitzky_golay", "window": 11, "order": 2}]}"#,
    )
    .unwrap()
}
