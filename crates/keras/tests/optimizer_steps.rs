//! Keras optimizers with their options (AMSGrad, centered RMSprop, betas,
//! epsilon, weight decay, momentum, Nesterov, each of the three gradient
//! clips, and the learning-rate schedules), read from the config a
//! `.keras` file's `compile_config` stores and stepped by kymo: six steps
//! on fixed gradients must land where Keras's `apply_gradients` landed. Fixture:
//! `tests/fixtures/keras_files/make_optimizer_steps.py`.

use kymo_keras::CompileSettings;
use kymo_optim::{Optimizer, Slot};
use kymo_train::Recipe;
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("../../../tests/fixtures/keras_files/optimizer_steps.json");

/// Each variable of `value` (a list of nested lists), flattened.
fn variables(value: &Value) -> Vec<Vec<f32>> {
    fn flatten(value: &Value, out: &mut Vec<f32>) {
        match value {
            Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
            number => out.push(number.as_f64().expect("a number") as f32),
        }
    }
    let items = value.as_array().expect("a list of variables");
    items
        .iter()
        .map(|item| {
            let mut flat = Vec::new();
            flatten(item, &mut flat);
            flat
        })
        .collect()
}

#[test]
fn keras_optimizers_with_their_options_step_as_keras_steps_them() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let gradients: Vec<Vec<Vec<f32>>> = fixture["gradients"]
        .as_array()
        .expect("gradient steps")
        .iter()
        .map(variables)
        .collect();
    let cases = fixture["cases"].as_object().expect("cases");
    assert_eq!(cases.len(), 10);
    for (name, case) in cases {
        let compile = json!({"optimizer": case["optimizer"], "loss": "mse"});
        let settings = CompileSettings::from_json(&compile);
        assert!(
            settings.unhonoured.is_empty(),
            "{name}: {:?}",
            settings.unhonoured
        );
        let recipe = settings.apply_to(Recipe::default());
        recipe.check().unwrap_or_else(|e| panic!("{name}: {e}"));
        let config = recipe.fit_config(0);
        let (clip, schedule) = (config.clip, config.schedule);
        let scheduled = case["optimizer"]["config"]["learning_rate"].is_object();
        assert_eq!(schedule.is_some(), scheduled, "{name}: {schedule:?}");
        let clipped = ["clipnorm", "clipvalue", "global_clipnorm"]
            .iter()
            .any(|c| case["optimizer"]["config"][c].is_number());
        assert_eq!(clip.is_some(), clipped, "{name}: {clip:?}");
        let mut optimizer = recipe.optimizer();
        let mut values = variables(&fixture["start"]);
        for (step, (grads, expected)) in gradients
            .iter()
            .zip(case["steps"].as_array().expect("steps"))
            .enumerate()
        {
            // Keras evaluates its schedule at the steps taken so far, as
            // kymo's `fit` does.
            if let Some(schedule) = &schedule {
                optimizer.set_learning_rate(schedule.rate(optimizer.iterations()));
            }
            let mut grads = grads.clone();
            if let Some(clip) = clip {
                let mut views: Vec<&mut [f32]> = grads.iter_mut().map(Vec::as_mut_slice).collect();
                clip.apply(&mut views);
            }
            let mut slots: Vec<Slot<'_>> = values
                .iter_mut()
                .zip(&grads)
                .map(|(value, grad)| Slot { value, grad })
                .collect();
            optimizer.step(&mut slots).expect("matching lengths");
            for (got, want) in values
                .iter()
                .flatten()
                .zip(variables(expected).iter().flatten())
            {
                // Keras computes in f32 with its own operation order.
                assert!(
                    (got - want).abs() <= 2e-6 * want.abs().max(1.0),
                    "{name}, step {}: kymo {got}, Keras {want}",
                    step + 1
                );
            }
        }
    }
}

#[test]
fn what_kymo_cannot_honour_is_said_and_the_rest_still_applies() {
    let compile: Value = serde_json::from_str(
        r#"{"loss": "cosine_similarity",
            "optimizer": {"class_name": "Nadam", "config": {"learning_rate": 0.002, "beta_1": 0.8, "clipnorm": 1.0}}}"#,
    )
    .expect("json");
    let settings = CompileSettings::from_json(&compile);
    assert_eq!(settings.unhonoured.len(), 2, "{:?}", settings.unhonoured);
    assert!(settings.unhonoured[0].contains("Nadam"));
    assert!(settings.unhonoured[1].contains("cosine_similarity"));
    let recipe = settings.apply_to(Recipe::default());
    // The stand-in optimizer keeps its own options; the rate and the clip,
    // which every optimizer has, are the file's.
    assert_eq!(recipe.beta_1, None);
    assert_eq!((recipe.learning_rate, recipe.clipnorm), (0.002, Some(1.0)));
    let legacy: Value = serde_json::from_str(
        r#"{"loss": "mse", "optimizer_config": {"class_name": "SGD", "config": {"lr": 0.05, "decay": 1e-4, "momentum": 0.9, "weight_decay": 0.01}}}"#,
    )
    .expect("json");
    let settings = CompileSettings::from_json(&legacy);
    assert_eq!(settings.learning_rate, Some(0.05));
    let said = settings.unhonoured.join("\n");
    assert!(
        said.contains("decay=0.0001") && said.contains("weight_decay"),
        "{said}"
    );
}
