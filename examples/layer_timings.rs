//! Forward and backward time of every layer of a built-in model, the
//! per-layer view that `docs/performance.md` quotes.
//!
//! ```sh
//! cargo run --release --example layer_timings -- answer 32 2
//! ```
//!
//! Arguments: model (`original`, `answer`, `answer_bn`, `doctor`; default
//! `answer`), batch size (default 32), threads (default 2). Two warm-up
//! steps, then the mean of ten; no optimizer step.

use std::error::Error;
use std::time::Instant;

use kymo::layers::{zoo, Mode, Sequential};
use ndarray::{ArrayD, IxDyn};

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
    let layers = model.layers().len();
    let (mut forward, mut backward) = (vec![0.0f64; layers], vec![0.0f64; layers]);
    for step in 0..WARM_UP + STEPS {
        let timed = step >= WARM_UP;
        let mut h = x.clone();
        for (i, layer) in model.layers_mut().iter_mut().enumerate() {
            let start = Instant::now();
            h = layer.forward(h, Mode::Train)?;
            if timed {
                forward[i] += start.elapsed().as_secs_f64();
            }
        }
        let mut g = h.mapv(|v| v * 0.01);
        for (i, layer) in model.layers_mut().iter_mut().enumerate().rev() {
            let start = Instant::now();
            g = layer.backward(g)?;
            if timed {
                backward[i] += start.elapsed().as_secs_f64();
            }
        }
    }
    let per_step = |seconds: f64| seconds / STEPS as f64 * 1e3;
    println!("{name}, batch {batch}, {threads} threads: ms per step");
    for (i, layer) in model.layers().iter().enumerate() {
        println!(
            "{i:>2} {:<22} forward {:7.2}  backward {:7.2}",
            layer.name(),
            per_step(forward[i]),
            per_step(backward[i])
        );
    }
    let total: f64 = forward.iter().chain(&backward).sum();
    println!(
        "total {:.2} ms per step, {:.1} samples/s (forward and backward only)",
        per_step(total),
        (batch * STEPS) as f64 / total
    );
    Ok(())
}
