//! kymo reads Keras's own files and predicts what Keras predicted: the
//! question's model, the answer's with BatchNormalization, a functional
//! ResNet block and a softmax classifier, each trained a few steps and
//! saved as `.keras` and as legacy `.h5` by
//! `tests/fixtures/keras_files/make_keras_files.py` (Keras 3.15, versions
//! in `versions.txt`), with Keras's predictions on a fixed input.

use std::path::PathBuf;

use kymo_layers::Mode;
use kymo_train::{Loss, Metric, OptimizerName};
use ndarray::ArrayD;
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/keras_files")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).expect("fixture");
    serde_json::from_str(&text).expect("json")
}

/// Keras's fixed input `[N, L]` as kymo's `[N, 1, L]`.
fn input(expected: &Value) -> ArrayD<f32> {
    let rows = expected["x"].as_array().expect("rows");
    let length = rows[0].as_array().expect("row").len();
    let values: Vec<f32> = rows
        .iter()
        .flat_map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_f64().expect("number") as f32)
        })
        .collect();
    ArrayD::from_shape_vec(vec![rows.len(), 1, length], values).expect("shape")
}

#[test]
fn every_fixture_predicts_what_keras_predicted_from_both_formats() {
    let expected = expected();
    let x = input(&expected);
    for name in ["question", "answer_bn", "resnet", "classifier"] {
        let want: Vec<f64> = expected["models"][name]
            .as_array()
            .expect("rows")
            .iter()
            .flat_map(|r| {
                r.as_array()
                    .expect("row")
                    .iter()
                    .map(|v| v.as_f64().expect("number"))
            })
            .collect();
        for extension in ["keras", "h5"] {
            let path = fixtures().join(format!("{name}.{extension}"));
            let file =
                kymo_keras::read(&path).unwrap_or_else(|e| panic!("{name}.{extension}: {e}"));
            let mut model = file.model::<f32>().expect("weights fit");
            let got = model.forward(x.clone(), Mode::Inference).expect("predicts");
            assert_eq!(got.len(), want.len(), "{name}.{extension}");
            let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (g, w) in got.iter().zip(&want) {
                let error = (f64::from(*g) - w).abs() / w.abs().max(0.1 * scale);
                assert!(error < 1e-5, "{name}.{extension}: kymo {g}, Keras {w}");
            }
        }
    }
}

/// `spec` with every LeakyReLU slope rounded to float32, as TensorFlow
/// holds `tf.nn.leaky_relu`'s `alpha` (a float32 attribute) even when the
/// model computes in float64.
fn slopes_as_tensorflow_holds_them(spec: &mut kymo_layers::ArchitectureSpec) {
    let layers: Vec<&mut kymo_layers::LayerSpec> = match spec {
        kymo_layers::ArchitectureSpec::Sequential(s) => s.layers.iter_mut().collect(),
        kymo_layers::ArchitectureSpec::Graph(g) => {
            g.nodes.iter_mut().map(|n| &mut n.layer).collect()
        }
    };
    for layer in layers {
        if let kymo_layers::LayerSpec::LeakyReLU(leaky) = layer {
            leaky.negative_slope = f64::from(leaky.negative_slope as f32);
        }
    }
}

#[test]
fn in_float64_every_fixture_predicts_what_keras_predicts_in_float64() {
    // Keras's float64 clone of each model, the stored weights cast to
    // float64 (make_keras_files.py --float64-only).
    let text = std::fs::read_to_string(fixtures().join("expected_f64.json")).expect("fixture");
    let expected64: Value = serde_json::from_str(&text).expect("json");
    let x = input(&expected()).mapv(f64::from);
    for name in ["question", "answer_bn", "resnet", "classifier"] {
        let want: Vec<f64> = expected64[name]
            .as_array()
            .expect("rows")
            .iter()
            .flat_map(|r| {
                r.as_array()
                    .expect("row")
                    .iter()
                    .map(|v| v.as_f64().expect("number"))
            })
            .collect();
        for extension in ["keras", "h5"] {
            let mut file =
                kymo_keras::read(&fixtures().join(format!("{name}.{extension}"))).expect("reads");
            // kymo computes LeakyReLU(0.1) with 0.1 itself; TensorFlow's
            // float64 run uses float32(0.1), 1.5e-9 away: that alone moves
            // the question's outputs by up to 1e-8. Matched, the two agree
            // to float64's rounding.
            slopes_as_tensorflow_holds_them(&mut file.spec);
            let got = file
                .model::<f64>()
                .expect("weights fit")
                .forward(x.clone(), Mode::Inference)
                .expect("predicts");
            let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (g, w) in got.iter().zip(&want) {
                let error = (g - w).abs() / w.abs().max(0.1 * scale);
                assert!(
                    error < 1e-9,
                    "{name}.{extension}: kymo {g}, Keras {w} (relative {error:.1e})"
                );
            }
        }
    }
}

#[test]
fn compile_settings_come_back_from_both_formats() {
    for extension in ["keras", "h5"] {
        let read = |name: &str| {
            kymo_keras::read(&fixtures().join(format!("{name}.{extension}")))
                .expect("reads")
                .compile
                .expect("compiled")
        };
        let question = read("question");
        assert_eq!(question.loss, Some(Loss::Mse));
        assert_eq!(question.optimizer, Some(OptimizerName::Adam));
        assert!((question.learning_rate.expect("rate") - 1e-3).abs() < 1e-9);
        let answer = read("answer_bn");
        assert_eq!(answer.loss, Some(Loss::Mae));
        assert_eq!(answer.optimizer, Some(OptimizerName::RMSprop));
        let resnet = read("resnet");
        assert_eq!(resnet.loss, Some(Loss::Huber { delta: 1.0 }));
        assert_eq!(
            (resnet.optimizer, resnet.momentum),
            (Some(OptimizerName::SGD), Some(0.9))
        );
        let classifier = read("classifier");
        assert_eq!(
            classifier.loss,
            Some(Loss::SparseCategoricalCrossentropy { from_logits: false })
        );
        assert!(
            classifier.metrics.contains(&Metric::Accuracy),
            "{extension}: {:?}",
            classifier.metric_names
        );
    }
}

#[test]
fn damaged_files_are_named_with_the_place_inside_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, extension) in [("question", "keras"), ("question", "h5")] {
        let bytes = std::fs::read(fixtures().join(format!("{name}.{extension}"))).expect("fixture");
        // Truncated: cut in half.
        let path = dir.path().join(format!("cut.{extension}"));
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("writes");
        let error = kymo_keras::read(&path)
            .err()
            .expect("a truncated file is refused")
            .to_string();
        assert!(error.contains("cut."), "{error}");
        let place = if extension == "keras" {
            "zip entry"
        } else {
            "HDF5 object"
        };
        assert!(error.contains(place), "{extension}: {error}");
    }
    // A layer kymo does not have is named by the configuration.
    let custom = rewrite_config(
        &dir.path().join("custom.keras"),
        "classifier.keras",
        "\"GlobalAveragePooling1D\"",
        "\"MyCustomPooling\"",
    );
    let error = kymo_keras::read(&custom)
        .err()
        .expect("a custom layer is refused")
        .to_string();
    assert!(error.contains("MyCustomPooling"), "{error}");
    // A weight whose shape does not match the layer: the layer, the HDF5
    // path and both shapes are named.
    let wider = rewrite_config(
        &dir.path().join("wider.keras"),
        "question.keras",
        "\"filters\": 4",
        "\"filters\": 5",
    );
    let error = kymo_keras::read(&wider)
        .err()
        .expect("a shape mismatch is refused")
        .to_string();
    assert!(
        error.contains("ConvLayer1")
            && error.contains("layers/conv1d/vars/0")
            && error.contains("[10, 1, 4]"),
        "{error}"
    );
}

/// `fixture` with `from` replaced by `to` in its config.json, written to `out`.
fn rewrite_config(out_path: &std::path::Path, fixture: &str, from: &str, to: &str) -> PathBuf {
    let bytes = std::fs::read(fixtures().join(fixture)).expect("fixture");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let name = entry.name().to_string();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).expect("reads");
        if name == "config.json" {
            let text = String::from_utf8(content).expect("utf-8");
            assert!(text.contains(from), "{fixture}: no `{from}` to replace");
            content = text.replacen(from, to, 1).into_bytes();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("entry");
        std::io::Write::write_all(&mut out, &content).expect("writes");
    }
    let bytes = out.finish().expect("zip").into_inner();
    std::fs::write(out_path, bytes).expect("writes");
    out_path.to_path_buf()
}

/// `model`'s weights moved off their initial values, each by its own
/// amount (variances kept positive), so that two layers of one shape no
/// longer hold the same BatchNormalization statistics: a file that handed
/// one layer's weights to another would then predict something else.
fn perturbed(model: &mut dyn kymo_layers::Model<f32>) {
    let weights: Vec<kymo_layers::NamedArray<f32>> = model
        .get_weights()
        .into_iter()
        .enumerate()
        .map(|(w, mut weight)| {
            for (i, value) in weight.array.iter_mut().enumerate() {
                let step = ((w * 31 + i * 17) % 13) as f32 / 13.0;
                *value = if weight.name.ends_with("moving_variance") {
                    0.5 + step
                } else {
                    *value + 0.2 * (step - 0.5)
                };
            }
            weight
        })
        .collect();
    model.set_weights(&weights).expect("same names and shapes");
}

#[test]
fn a_keras_file_kymo_writes_reads_back_to_the_same_model() {
    use kymo_layers::zoo;
    let dir = tempfile::tempdir().expect("temp dir");
    let inception = zoo::InceptionSizes {
        kernels: [9, 5, 3],
        filters: 4,
        bottleneck: 4,
        depth: 3,
    };
    let length = 96;
    for (name, spec) in [
        ("original", zoo::original(length).into()),
        ("answer_bn", zoo::answer_bn(length).into()),
        ("doctor", zoo::doctor(length).into()),
        ("fcn", zoo::fcn_with(length, [4, 6, 4]).into()),
        ("resnet", zoo::resnet_with(length, [4, 6, 6]).into()),
        ("inception", zoo::inception_with(length, inception).into()),
        (
            "gate_first",
            kymo_layers::ArchitectureSpec::from_path(&fixtures().join("gate_first.toml"))
                .expect("a graph spec")
                .with_input_length(length),
        ),
    ] {
        let spec: kymo_layers::ArchitectureSpec = spec;
        let mut model = spec.build::<f32>(3).expect("builds");
        perturbed(model.as_mut());
        let path = dir.path().join(format!("{name}.keras"));
        kymo_keras::write_keras(model.as_ref(), &path).expect("writes");
        let file = kymo_keras::read(&path).expect("reads its own file");
        let mut back = file.model::<f32>().expect("weights fit");
        // The file lists a graph's layers in Keras's order, not the spec's.
        let by_name = |mut weights: Vec<kymo_layers::NamedArray<f32>>| {
            weights.sort_by(|a, b| a.name.cmp(&b.name));
            weights
        };
        assert_eq!(
            by_name(back.get_weights()),
            by_name(model.get_weights()),
            "{name}: weights"
        );
        let x = ArrayD::from_shape_fn(vec![3, 1, length], |i| {
            ((i[0] * 7 + i[2] * 3) % 11) as f32 / 5.0 - 1.0
        });
        let want = model.forward(x.clone(), Mode::Inference).expect("predicts");
        let got = back.forward(x, Mode::Inference).expect("predicts");
        assert_eq!(got, want, "{name}: the same weights give the same bits");
    }
}

#[test]
fn keras_and_pytorch_predict_from_kymos_graph_export_what_kymo_predicts() {
    // make_kymo_written_graph.sh trained small_graph.toml (Concatenate,
    // BatchNormalization, Add) a few epochs, and `kymo export` wrote it as
    // a Keras functional model and a PyTorch nn.Module (model.py). Keras
    // 3.15.1 and PyTorch 2.15 loaded them and saved their predictions
    // (worst relative difference from kymo's 2.2e-7 in both).
    let folder = fixtures().join("kymo_written_graph");
    let file = kymo_keras::read(&folder.join("model.keras")).expect("reads kymo's own file");
    assert!(
        matches!(file.spec, kymo_layers::ArchitectureSpec::Graph(_)),
        "a functional model"
    );
    let mut model = file.model::<f32>().expect("weights fit");
    // The module PyTorch ran is the one kymo writes for this model today.
    let layout = kymo_layers::torch::TorchLayout::of(model.as_ref()).expect("maps");
    let python = std::fs::read_to_string(folder.join("model.py")).expect("model.py");
    assert_eq!(layout.python(), python);
    let x: ArrayD<f32> = ndarray_npy::read_npy(folder.join("input.npy")).expect("input");
    let ours = model.forward(x, Mode::Inference).expect("predicts");
    for peer in ["keras_output.npy", "torch_output.npy"] {
        let theirs: ArrayD<f32> = ndarray_npy::read_npy(folder.join(peer)).expect(peer);
        assert_eq!(ours.shape(), theirs.shape(), "{peer}");
        for (g, w) in ours.iter().zip(theirs.iter()) {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(0.01),
                "{peer}: kymo {g}, peer {w}"
            );
        }
    }
}

#[test]
fn keras_predicts_from_kymos_file_what_kymo_predicts() {
    // `kymo export doctor --length 128 --seed 5` wrote model.keras and
    // input.npy; check_keras_export.py loaded it in Keras 3.15.1 and saved
    // Keras's predictions (worst relative difference from kymo's 2.6e-6).
    let folder = fixtures().join("kymo_written");
    let file = kymo_keras::read(&folder.join("model.keras")).expect("reads kymo's own file");
    let mut model = file.model::<f32>().expect("weights fit");
    let x: ArrayD<f32> = ndarray_npy::read_npy(folder.join("input.npy")).expect("input");
    let keras: ArrayD<f32> =
        ndarray_npy::read_npy(folder.join("keras_output.npy")).expect("Keras's output");
    let ours = model.forward(x, Mode::Inference).expect("predicts");
    assert_eq!(ours.shape(), keras.shape());
    for (g, w) in ours.iter().zip(keras.iter()) {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(0.01),
            "kymo {g}, Keras {w}"
        );
    }
}
