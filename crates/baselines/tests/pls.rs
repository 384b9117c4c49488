//! PLS regression against scikit-learn's `PLSRegression(scale=True)`:
//! predictions for 1 to 6 components, and the component count that 5-fold
//! cross-validation picks. Fixture: `tests/fixtures/pls_sklearn.json`,
//! written by `make_pls_fixture.py` beside it (no Python needed here).

use kymo_baselines::Pls;
use ndarray::{Array1, Array2};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/pls_sklearn.json");

fn matrix(value: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(value.clone()).expect("rows of numbers");
    let width = rows.first().map_or(0, Vec::len);
    Array2::from_shape_vec((rows.len(), width), rows.concat()).expect("rectangular")
}

fn vector(value: &Value) -> Array1<f64> {
    Array1::from(serde_json::from_value::<Vec<f64>>(value.clone()).expect("numbers"))
}

#[test]
fn pls_predicts_as_scikit_learn_does_and_cross_validation_picks_its_count() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("JSON");
    let (x, y) = (matrix(&fixture["x_train"]), vector(&fixture["y_train"]));
    let test = matrix(&fixture["x_test"]);
    for components in 1..=6 {
        let model = Pls::fit(x.view(), y.view(), components).expect("fits");
        let ours = model.predict(test.view()).expect("same width");
        let theirs = vector(&fixture["predictions"][components.to_string()]);
        for (a, b) in ours.iter().zip(&theirs) {
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "{components} components: {a} vs {b}"
            );
        }
    }
    let chosen = Pls::fit_cv(x.view(), y.view(), 6, 5).expect("fits");
    assert_eq!(
        chosen.components as u64,
        fixture["cv_best"].as_u64().expect("count")
    );
}

#[test]
fn pls_refuses_what_it_cannot_fit() {
    let x = Array2::<f64>::zeros((5, 3));
    let y = Array1::<f64>::zeros(5);
    assert!(Pls::fit(x.view(), y.view(), 0).is_err());
    assert!(Pls::fit(x.view(), y.view(), 4).is_err());
    assert!(Pls::fit(x.view(), Array1::<f64>::zeros(4).view(), 1).is_err());
    // A constant target: nothing to explain, so the mean is predicted.
    let model = Pls::fit(x.view(), (y + 2.5).view(), 1).expect("a constant target fits");
    let predicted = model
        .predict(Array2::<f64>::ones((2, 3)).view())
        .expect("same width");
    assert!(predicted.iter().all(|&v| v == 2.5), "{predicted}");
    assert!(model.predict(Array2::<f64>::zeros((2, 2)).view()).is_err());
}
