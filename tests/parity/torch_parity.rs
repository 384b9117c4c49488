//! Parity with PyTorch: state_dicts written by PyTorch load into kymo under
//! their own keys, and kymo then computes PyTorch's forward outputs (both
//! modes), loss, every gradient and BatchNormalization's running mean.
//!
//! Fixtures: `tests/fixtures/parity/torch_*.safetensors` and
//! `torch_parity.json`, written by `make_torch_fixtures.py` beside them
//! (versions in `versions_torch.txt`). No Python is needed to run this test.

use kymo::layers::torch::{from_safetensors, TorchLayout};
use kymo::layers::Model;
use kymo::layers::{Mode, Sequential};
use kymo::train::Loss;
use ndarray::Array2;
use serde_json::Value;

use crate::parity_support::{array, assert_close};

const FIXTURE: &str = include_str!("../fixtures/parity/torch_parity.json");

fn check(name: &str, file: &[u8], kernels: [usize; 3], pools: [usize; 3], batch_norm: bool) {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let length = fixture["length"].as_u64().expect("length") as usize;
    let entry = &fixture["models"][name];
    let x = array(&fixture["x"]);
    let y: Array2<f32> = array(&fixture["y"]).into_dimensionality().expect("[B, 1]");
    let spec = kymo::layers::zoo::seed_structure([4, 6, 8], kernels, pools, batch_norm, length);
    let build = || {
        let mut model = Sequential::<f32>::new(&spec, 0).expect("builds");
        from_safetensors(&mut model, file, name).expect("PyTorch's state_dict loads");
        model
    };

    let inference = build()
        .forward(x.clone(), Mode::Inference)
        .expect("forward");
    let want = array(&entry["inference_output"]);
    assert_close(
        "PyTorch",
        &format!("{name} inference output"),
        &inference,
        &want,
        1e-5,
    );

    let mut model = build();
    let output = model.forward(x, Mode::Train).expect("forward");
    let want = array(&entry["train_output"]);
    assert_close(
        "PyTorch",
        &format!("{name} training output"),
        &output,
        &want,
        1e-5,
    );
    let (loss, grad) = Loss::Mse.evaluate(&output, &y).expect("same shape");
    let torch_loss = entry["loss"].as_f64().expect("loss");
    assert!(
        (loss - torch_loss).abs() <= 1e-5 * torch_loss.abs(),
        "{name} loss: kymo {loss}, PyTorch {torch_loss}"
    );
    model.zero_grad();
    model.backward(grad).expect("backward");

    let layout = TorchLayout::of(&model).expect("exportable");
    let names = model.parameter_names();
    let by_key = |key: &str| {
        let weight = layout
            .tensors
            .iter()
            .find(|t| t.key == key)
            .and_then(|t| t.weight.clone())
            .unwrap_or_else(|| panic!("{key} is a kymo weight"));
        let index = names.iter().position(|n| *n == weight).expect("named");
        model.parameters()[index].clone()
    };
    let gradients = entry["gradients"].as_object().expect("gradients");
    assert_eq!(
        gradients.len(),
        model.parameters().iter().filter(|p| p.trainable).count()
    );
    for (key, value) in gradients {
        let got = by_key(key).grad;
        assert_close(
            "PyTorch",
            &format!("{name} gradient {key}"),
            &got,
            &array(value),
            1e-5,
        );
    }
    // PyTorch's running_var takes the unbiased batch variance and Keras's
    // (kymo's) the biased one, so only the running mean is comparable.
    for (key, value) in entry["running_mean_after_one_step"]
        .as_object()
        .expect("stats")
    {
        let got = by_key(key).value;
        assert_close(
            "PyTorch",
            &format!("{name} {key}"),
            &got,
            &array(value),
            1e-5,
        );
    }
}

#[test]
fn the_question_model_matches_pytorch() {
    let file = include_bytes!("../fixtures/parity/torch_original.safetensors");
    check("original", file, [10, 6, 4], [8, 4, 2], false);
}

#[test]
fn the_answer_model_matches_pytorch() {
    let file = include_bytes!("../fixtures/parity/torch_answer.safetensors");
    check("answer", file, [2, 3, 3], [2, 3, 3], false);
}

#[test]
fn the_answer_model_with_batch_normalization_matches_pytorch_in_both_modes() {
    let file = include_bytes!("../fixtures/parity/torch_answer_bn.safetensors");
    check("answer_bn", file, [2, 3, 3], [2, 3, 3], true);
}
