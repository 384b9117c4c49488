//! Weights out to PyTorch's names and back: round trips, the layout of the
//! seed's models, and the errors a wrong file gets.

use kymo_layers::torch::{
    from_safetensors, load_npy_dir, save_npy_dir, to_safetensors, TorchLayout,
};
use kymo_layers::Model;
use kymo_layers::{zoo, LayerError, Sequential};

fn keys(model: &Sequential<f32>) -> Vec<String> {
    TorchLayout::of(model)
        .unwrap()
        .tensors
        .into_iter()
        .map(|t| t.key)
        .collect()
}

#[test]
fn the_seed_models_get_the_keys_of_their_pytorch_sequential() {
    let original = Sequential::<f32>::new(&zoo::original(1040), 0).unwrap();
    // conv, leaky, pool three times, then Flatten (9) and Dense (10).
    assert_eq!(
        keys(&original),
        [
            "0.weight",
            "0.bias",
            "3.weight",
            "3.bias",
            "6.weight",
            "6.bias",
            "10.weight",
            "10.bias"
        ]
    );
    let with_bn = Sequential::<f32>::new(&zoo::answer_bn(1040), 0).unwrap();
    let bn_keys = keys(&with_bn);
    assert_eq!(
        &bn_keys[2..7],
        [
            "2.weight",
            "2.bias",
            "2.running_mean",
            "2.running_var",
            "2.num_batches_tracked"
        ]
    );
    // The doctor's Dense(32, relu) becomes nn.Sequential(Linear, ReLU).
    let doctor = Sequential::<f32>::new(&zoo::doctor(1040), 0).unwrap();
    let layout = TorchLayout::of(&doctor).unwrap();
    assert!(layout.modules[13].starts_with("nn.Sequential(nn.Linear(2080, 32"));
    assert_eq!(layout.tensors[8].key, "13.0.weight");
    assert_eq!(layout.tensors[8].shape, [32, 2080]);
}

#[test]
fn python_mirrors_keras_padding_and_batch_normalization() {
    let model = Sequential::<f32>::new(&zoo::answer_bn(1040), 0).unwrap();
    let source = TorchLayout::of(&model).unwrap().python();
    assert!(source
        .contains("nn.Conv1d(1, 32, 2, stride=1, padding='same', dilation=1, bias=True),  # 0"));
    // Pool 2, stride 1, same: one element of -inf on the right only.
    assert!(source.contains("nn.ConstantPad1d((0, 1), float('-inf')), nn.MaxPool1d(2, stride=1)"));
    assert!(source.contains("nn.BatchNorm1d(32, eps=0.001, momentum=0.01)"));
    assert!(source.contains("nn.LeakyReLU(negative_slope=0.1)"));
    assert!(source.contains("nn.Linear(133120, 1, bias=True)"));
}

#[test]
fn python_pads_a_causal_convolution_on_the_left_only() {
    let spec = kymo_layers::ModelSpec {
        input: kymo_layers::InputSpec {
            channels: 1,
            length: 32,
        },
        layers: vec![
            kymo_layers::LayerSpec::Conv1D(kymo_layers::layers::Conv1DSpec {
                padding: kymo_tensor::Padding::Causal,
                dilation_rate: 2,
                ..kymo_layers::layers::Conv1DSpec::new(4, 3)
            }),
            kymo_layers::LayerSpec::Flatten(Default::default()),
            kymo_layers::LayerSpec::Dense(kymo_layers::layers::DenseSpec::new(1)),
        ],
    };
    let model = Sequential::<f32>::new(&spec, 0).unwrap();
    let source = TorchLayout::of(&model).unwrap().python();
    // The span less one, (3 - 1) * 2, all on the left; then no padding.
    assert!(
        source.contains(
            "nn.ConstantPad1d((4, 0), 0.0), nn.Conv1d(1, 4, 3, stride=1, padding=0, dilation=2"
        ),
        "{source}"
    );
}

#[test]
fn safetensors_round_trip_is_bit_exact_in_both_precisions() {
    let spec = zoo::answer_bn(64);
    let model = Sequential::<f64>::new(&spec, 3).unwrap();
    let bytes = to_safetensors(&model).unwrap();
    let mut copy = Sequential::<f64>::new(&spec, 4).unwrap();
    assert_ne!(copy.get_weights(), model.get_weights());
    from_safetensors(&mut copy, &bytes, "memory").unwrap();
    assert_eq!(copy.get_weights(), model.get_weights());

    // An f64 file loads into an f32 model, rounded.
    let mut single = Sequential::<f32>::new(&spec, 5).unwrap();
    from_safetensors(&mut single, &bytes, "memory").unwrap();
    let expected: Vec<f32> = model.get_weights()[0]
        .array
        .iter()
        .map(|v| *v as f32)
        .collect();
    let found: Vec<f32> = single.get_weights()[0].array.iter().copied().collect();
    assert_eq!(found, expected);
}

#[test]
fn a_wrong_shape_is_refused_naming_the_tensor_and_both_shapes() {
    // Same keys, different filters: answer_bn with 16 filters in the first conv.
    let other = zoo::seed_structure([16, 64, 128], [2, 3, 3], [2, 3, 3], true, 64);
    let bytes = to_safetensors(&Sequential::<f32>::new(&other, 0).unwrap()).unwrap();
    let mut model = Sequential::<f32>::new(&zoo::answer_bn(64), 1).unwrap();
    let before = model.get_weights();
    let error = from_safetensors(&mut model, &bytes, "other.safetensors").unwrap_err();
    match &error {
        LayerError::WeightShape {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "0.weight (ConvLayer1/kernel)");
            assert_eq!(expected, &[32, 1, 2]);
            assert_eq!(found, &[16, 1, 2]);
        }
        other => panic!("expected WeightShape, got {other}"),
    }
    assert!(error.to_string().contains("[32, 1, 2]"));
    assert_eq!(
        model.get_weights(),
        before,
        "a refused file changes nothing"
    );
}

#[test]
fn a_foreign_key_a_missing_key_and_garbage_are_refused() {
    let original = Sequential::<f32>::new(&zoo::original(64), 0).unwrap();
    let with_bn_bytes =
        to_safetensors(&Sequential::<f32>::new(&zoo::answer_bn(64), 0).unwrap()).unwrap();
    let mut model = Sequential::<f32>::new(&zoo::original(64), 0).unwrap();
    let error = from_safetensors(&mut model, &with_bn_bytes, "bn.safetensors").unwrap_err();
    assert!(matches!(error, LayerError::UnknownWeight { .. }), "{error}");

    // The same file without one tensor.
    let bytes = to_safetensors(&original).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<_> = file
        .tensors()
        .into_iter()
        .filter(|(k, _)| k != "3.bias")
        .collect();
    let pruned = safetensors::serialize(kept, None).unwrap();
    let error = from_safetensors(&mut model, &pruned, "pruned.safetensors").unwrap_err();
    assert!(matches!(error, LayerError::MissingWeight { .. }), "{error}");
    assert!(
        error.to_string().contains("3.bias (ConvLayer2/bias)"),
        "{error}"
    );

    let error = from_safetensors(&mut model, &bytes[..20], "cut.safetensors").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("weight file cut.safetensors:"),
        "{error}"
    );
}

#[test]
fn npy_directory_round_trip_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = zoo::answer_bn(64);
    let model = Sequential::<f32>::new(&spec, 7).unwrap();
    save_npy_dir(&model, dir.path()).unwrap();
    assert!(dir.path().join("2.running_var.npy").exists());
    let mut copy = Sequential::<f32>::new(&spec, 8).unwrap();
    load_npy_dir(&mut copy, dir.path()).unwrap();
    assert_eq!(copy.get_weights(), model.get_weights());

    std::fs::remove_file(dir.path().join("0.bias.npy")).unwrap();
    let error = load_npy_dir(&mut copy, dir.path()).unwrap_err();
    assert!(
        error.to_string().contains("0.bias (ConvLayer1/bias)"),
        "{error}"
    );
}

#[test]
fn a_graph_becomes_a_module_of_named_attributes_and_its_weights_round_trip() {
    let spec: kymo_layers::ArchitectureSpec = zoo::resnet_with(64, [4, 6, 6]).into();
    let model = spec.build::<f32>(3).unwrap();
    let layout = TorchLayout::of(model.as_ref()).unwrap();
    let forward = layout.forward.as_ref().expect("a graph has a forward");
    // Each layer is an attribute named after it; merges are expressions.
    assert!(layout
        .attributes
        .contains(&"block1_shortcut_conv".to_string()));
    assert!(layout
        .tensors
        .iter()
        .any(|t| t.key == "block1_shortcut_bn.running_var"));
    assert!(
        forward.statements.iter().any(|s| s.contains(" + ")),
        "{:?}",
        forward.statements
    );
    assert_eq!(forward.statements.last().unwrap(), "return output");
    let source = layout.python();
    assert!(source.contains("class Model(nn.Module):"), "{source}");
    assert!(source.contains("model = Model()"), "{source}");
    // Every key is distinct, and the weights come back under them.
    let mut keys: Vec<&str> = layout.tensors.iter().map(|t| t.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), layout.tensors.len());
    let bytes = to_safetensors(model.as_ref()).unwrap();
    let mut copy = spec.build::<f32>(4).unwrap();
    assert_ne!(copy.get_weights(), model.get_weights());
    from_safetensors(copy.as_mut(), &bytes, "in memory").unwrap();
    assert_eq!(copy.get_weights(), model.get_weights());
}
