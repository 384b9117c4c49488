//! kymo's MiniRocket against sktime's numba MiniRocket (a port of the
//! reference code), on parameters and features that
//! `tests/fixtures/minirocket/make_minirocket_reference.py` recorded for
//! GunPoint (one channel) and BasicMotions (six channels).
//!
//! - kymo's fit spreads the features over the same dilations.
//! - Rebuilt from the reference's biases (and channel sets), kymo's
//!   transform gives the reference's features exactly: it adds the taps in
//!   the reference's order, so a point next to a bias falls on the same
//!   side, and Rust does not reorder float additions on any CPU.

use kymo_baselines::MiniRocket;
use ndarray::Array3;
use serde_json::Value;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/minirocket/reference.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture is committed");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect()
}

fn counts(value: &Value) -> Vec<usize> {
    numbers(value).into_iter().map(|v| v as usize).collect()
}

/// The fixture's signals `[N, C, L]`.
fn signals(set: &Value) -> Array3<f32> {
    let cases = set["signals"].as_array().expect("cases");
    let channels = set["channels"].as_u64().expect("channels") as usize;
    let length = set["length"].as_u64().expect("length") as usize;
    let flat: Vec<f32> = cases
        .iter()
        .flat_map(|case| case.as_array().expect("channels").iter())
        .flat_map(numbers)
        .map(|v| v as f32)
        .collect();
    Array3::from_shape_vec((cases.len(), channels, length), flat).expect("rectangular")
}

fn rebuilt(set: &Value) -> MiniRocket {
    let channel_sets = set["channel_sets"]
        .as_array()
        .map(|sets| sets.iter().map(counts).collect());
    MiniRocket::from_parameters(
        set["channels"].as_u64().expect("channels") as usize,
        set["length"].as_u64().expect("length") as usize,
        counts(&set["dilations"]),
        counts(&set["features_per_dilation"]),
        numbers(&set["biases"])
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        channel_sets,
    )
    .expect("the reference's parameters are valid")
}

#[test]
fn fit_spreads_features_over_the_reference_dilations() {
    for set in reference()["sets"].as_array().expect("sets") {
        let data = signals(set);
        let biases = set["biases"].as_array().expect("biases").len();
        let fitted = MiniRocket::fit(&data, biases, 0).expect("fits");
        let (dilations, per_dilation) = fitted.dilations();
        assert_eq!(
            dilations,
            counts(&set["dilations"]).as_slice(),
            "{}",
            set["name"]
        );
        assert_eq!(
            per_dilation,
            counts(&set["features_per_dilation"]).as_slice()
        );
        assert_eq!(fitted.features(), biases);
    }
}

#[test]
fn transform_gives_the_reference_features() {
    for set in reference()["sets"].as_array().expect("sets") {
        let data = signals(set);
        let features = rebuilt(set).transform(&data).expect("fitted shape");
        let expected: Vec<Vec<f64>> = set["features"]
            .as_array()
            .expect("rows")
            .iter()
            .map(numbers)
            .collect();
        let mut differing = Vec::new();
        for (i, (row, want)) in features.rows().into_iter().zip(&expected).enumerate() {
            assert_eq!(row.len(), want.len());
            for (j, (&got, &want)) in row.iter().zip(want).enumerate() {
                // The proportions' last bit may differ (numba averages in
                // float32); a point on the other side of a bias moves it by 1/L.
                if (got as f64 - want).abs() > 1e-6 {
                    differing.push((i, j, got, want));
                }
            }
        }
        assert!(
            differing.is_empty(),
            "{}: {} features differ from the reference, first {:?}",
            set["name"],
            differing.len(),
            differing.first()
        );
    }
}

#[test]
fn parameters_that_do_not_fit_together_are_refused_by_name() {
    let set = &reference()["sets"][0];
    let biases: Vec<f32> = numbers(&set["biases"])
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let dilations = counts(&set["dilations"]);
    let per = counts(&set["features_per_dilation"]);
    let short = MiniRocket::from_parameters(
        1,
        150,
        dilations.clone(),
        per.clone(),
        biases[1..].to_vec(),
        None,
    );
    assert!(short.unwrap_err().to_string().contains("biases"));
    let wide =
        MiniRocket::from_parameters(1, 20, dilations.clone(), per.clone(), biases.clone(), None);
    assert!(wide.unwrap_err().to_string().contains("dilation"));
    let sets = Some(vec![vec![7]; 84 * dilations.len()]);
    let channel = MiniRocket::from_parameters(6, 150, dilations, per, biases, sets);
    assert!(channel.unwrap_err().to_string().contains("channel set 0"));
}
