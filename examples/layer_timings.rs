//! Forward and backward time of every layer of a built-in model, the
//! per-layer view that `docs/performance.md` quotes.
//!
//! ```sh
//! cargo run --release --example layer_timings -- answer 32 2
//! ```
//!
//! Arguments: model (`original`, `answer`, `answer_bn`, `doctor`; default
//! `answer`), batch size (default 32), threads (default 2). Two warm-up
//! steps, then the mean of ten ([`kymo::layers::profile::time_layers`]);
//! no optimizer step.

use kymo::layers::{profile, zoo, Sequential};
use ndarray::{ArrayD, IxDyn};
use std::error::Error;

const WARM_UP: usize = 2;
const STEPS: usize = 10;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("answer", String::as_str);
    let batch: usize = args.get(1).map_or(Ok(32), |s| s.parse())?;
    let threads: usize = args.get(2).map_or(Ok(2), |s| s.parse())?;
    kymo::tensor::set_threads(threads);
    let spec = zoo::by_name(name, zoo::SEED_LENGTH)
        .ok_or_else(|| format!("unknown model '{name}'; one of {:?}", zoo::BUILT_IN))?;
    let mut model = Sequential::<f32>::new(&spec, 1)?;
    let x = ArrayD::from_shape_fn(IxDyn(&[batch, 1, zoo::SEED_LENGTH]), |index| {
        ((index[0] * 7 + index[2]) as f32 * 0.01).sin()
    });
    let timings = profile::time_layers(&mut model, &x, WARM_UP, STEPS)?;
    println!("{name}, batch {batch}, {threads} threads: ms per step");
    for (i, timing) in timings.iter().enumerate() {
        println!(
            "{i:>2} {:<22} forward {:7.2}  backward {:7.2}",
            timing.name,
            timing.forward_seconds * 1e3,
            timing.backward_seconds * 1e3
        );
    }
    let total: f64 = timings
        .iter()
        .map(|t| t.forward_seconds + t.backward_seconds)
        .sum();
    println!(
        "total {:.2} ms per step, {:.1} samples/s (forward and backward only)",
        total * 1e3,
        batch as f64 / total
    );
    Ok(())
}
