//! Writes the fuzz targets' seed corpora with kymo itself, so every seed
//! is a valid input of the current formats:
//! `cargo run --release --manifest-path fuzz/Cargo.toml --bin make_corpus`.

use std::path::{Path, PathBuf};

use kymo_layers::zoo::InceptionSizes;
use kymo_layers::{zoo, ArchitectureSpec, ModelSpec, Sequential};

/// InceptionTime small enough to run within the fuzzer's time per input.
fn small_inception() -> InceptionSizes {
    InceptionSizes {
        kernels: [4, 2, 1],
        filters: 2,
        bottleneck: 2,
        depth: 3,
    }
}
use kymo_optim::{Adam, AnyOptimizer};
use kymo_train::{FitConfig, Trainer};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let folder = dir.join(target);
    std::fs::create_dir_all(&folder).expect("creates the corpus folder");
    std::fs::write(folder.join(name), bytes).expect("writes a seed");
}

fn small_spec() -> ModelSpec {
    ModelSpec::from_toml_str(
        r#"
        input = { channels = 1, length = 16 }
        [[layers]]
        type = "Conv1D"
        filters = 2
        kernel_size = 3
        padding = "same"
        [[layers]]
        type = "LeakyReLU"
        negative_slope = 0.1
        [[layers]]
        type = "MaxPooling1D"
        pool_size = 3
        strides = 1
        padding = "same"
        [[layers]]
        type = "BatchNormalization"
        [[layers]]
        type = "Flatten"
        [[layers]]
        type = "Dense"
        units = 1
        "#,
    )
    .expect("valid spec")
}

fn npy(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}\n");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    bytes
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("corpus");
    let specs: [(&str, ArchitectureSpec); 7] = [
        ("small", small_spec().into()),
        ("original", zoo::original(1040).into()),
        ("answer", zoo::answer(1040).into()),
        ("answer_bn", zoo::answer_bn(64).into()),
        // Graphs: residual joins, concatenated branches.
        ("resnet", zoo::resnet_with(32, [2, 3, 3]).into()),
        (
            "inception",
            zoo::inception_with(32, small_inception()).into(),
        ),
        ("fcn", zoo::fcn_with(32, [2, 3, 2]).into()),
    ];
    for (name, spec) in &specs {
        write(
            &dir,
            "spec_toml",
            &format!("{name}.toml"),
            spec.to_toml().expect("toml").as_bytes(),
        );
        write(
            &dir,
            "spec_json",
            &format!("{name}.json"),
            spec.to_json().as_bytes(),
        );
    }
    let keras = std::fs::read(root.join("../tests/fixtures/keras/original_model.json"))
        .expect("the committed Keras fixture");
    write(&dir, "keras_json", "original_model.json", &keras);
    // A functional model: Keras's own to_json of FCN.
    let functional = std::fs::read(root.join("../tests/fixtures/graphs/fcn.keras.json"))
        .expect("the committed Keras graph fixture");
    write(&dir, "keras_json", "fcn.keras.json", &functional);

    let model = Sequential::new(&small_spec(), 1).expect("builds");
    let mut trainer = Trainer::new(
        model,
        AnyOptimizer::Adam(Adam::default()),
        FitConfig::default(),
    );
    let temporary = std::env::temp_dir().join(format!("kymo-corpus-{}.kymo", std::process::id()));
    trainer.checkpoint().save(&temporary).expect("saves");
    let file = std::fs::read(&temporary).expect("reads");
    let _ = std::fs::remove_file(&temporary);
    write(&dir, "checkpoint_bytes", "small.kymo", &file);
    write(&dir, "checkpoint_payload", "small.payload", &file[24..]);

    let x = npy(
        &[3, 4],
        &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0],
    );
    let y = npy(&[3], &[1.0, 2.0, 3.0]);
    let cut = ((x.len() * 255) / (x.len() + y.len())) as u8;
    let mut pair = vec![cut];
    pair.extend_from_slice(&x);
    pair.extend_from_slice(&y);
    // The cut byte must land on the boundary the target computes.
    let rest = pair.len() - 1;
    let mut fixed = cut;
    while (fixed as usize * rest) / 255 < x.len() {
        fixed += 1;
    }
    pair[0] = fixed;
    write(&dir, "npy_pair", "pair.bin", &pair);

    write(
        &dir,
        "csv",
        "header.csv",
        b"y,a,b,c\n1.5,0.1,0.2,0.3\n2.5,1,2,3\n",
    );
    write(&dir, "csv", "plain.csv", b"1,0.1,0.2\n2,0.3,0.4\n");

    let answer = Sequential::<f32>::new(&zoo::answer(64), 0).expect("builds");
    let tensors = kymo_layers::torch::to_safetensors(&answer).expect("serializes");
    write(&dir, "safetensors", "answer64.safetensors", &tensors);
}
