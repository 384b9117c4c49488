//! The seed's models keep their bits across refactors: three Adam steps of
//! each (seed 7, a fixed batch, at the seed's 1040 points) hash to the
//! values the code gave before the Model trait, the graph models and the
//! fusion plan landed (commit 2c5587b, the same function run there as an
//! example). A change that moves one bit of a loss, an output or a weight
//! fails here; if a change means to move them, its note says why and this
//! table is updated with it.

use kymo_layers::{zoo, Mode, ModelSpec, Sequential};
use kymo_optim::{Adam, AnyOptimizer};
use kymo_train::{FitConfig, Trainer};
use ndarray::{Array2, ArrayD};

const PINNED: [(&str, u64); 4] = [
    ("original", 0x2dd2_7975_276c_4bd3),
    ("answer", 0x8584_03ae_65d0_2065),
    ("answer_bn", 0xc051_a586_ae95_e2d0),
    ("doctor", 0x31b3_6a35_7850_5961),
];

/// FNV-1a over the bits of every value fed.
struct Fingerprint(u64);

impl Fingerprint {
    fn feed(&mut self, value: f32) {
        for byte in value.to_bits().to_le_bytes() {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Three Adam steps of `spec` (seed 7) on a fixed batch: every loss and
/// training output, the weights after, and an inference pass.
fn fingerprint(spec: &ModelSpec, batch: usize) -> u64 {
    let length = spec.input.length;
    let x = ArrayD::from_shape_fn(vec![batch, 1, length], |i| {
        ((i[0] * 131 + i[2] * 17) % 97) as f32 / 48.0 - 1.0
    });
    let y = Array2::from_shape_fn((batch, 1), |(b, _)| b as f32 * 0.1 - 0.2);
    let model = Sequential::<f32>::new(spec, 7).expect("builds");
    let config = FitConfig::default();
    let mut trainer = Trainer::new(model, AnyOptimizer::Adam(Adam::new(1e-3)), config);
    let mut print = Fingerprint(0xcbf2_9ce4_8422_2325);
    for _ in 0..3 {
        let (loss, output) = trainer.train_on_batch(x.clone(), &y).expect("steps");
        print.feed(loss as f32);
        output.iter().for_each(|&v| print.feed(v));
    }
    for weight in trainer.model.get_weights() {
        weight.array.iter().for_each(|&v| print.feed(v));
    }
    let inference = trainer.model.forward(x, Mode::Inference).expect("forward");
    inference.iter().for_each(|&v| print.feed(v));
    print.0
}

#[test]
fn the_seed_models_give_the_bits_they_gave_before_the_redesign() {
    for (name, pinned) in PINNED {
        let spec = zoo::by_name(name, zoo::SEED_LENGTH).expect("built in");
        let batch = if name == "original" { 2 } else { 4 };
        assert_eq!(fingerprint(&spec, batch), pinned, "{name}");
    }
}
