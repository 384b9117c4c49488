use kymo::layers::{zoo, Mode, Sequential};
use ndarray::ArrayD;
use std::time::Instant;
fn main() {
    let name = std::env::args().nth(1).unwrap_or("answer".into());
    let batch: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(32);
    kymo::tensor::set_threads(
        std::env::args()
            .nth(3)
            .map(|s| s.parse().unwrap())
            .unwrap_or(1),
    );
    let mut model = Sequential::<f32>::new(&zoo::by_name(&name, 1040).unwrap(), 0).unwrap();
    let x = ArrayD::from_shape_fn(vec![batch, 1, 1040], |i| ((i[2] * 7919) % 13) as f32 * 0.1);
    for rep in 0..3 {
        let mut h = x.clone();
        let mut fwd = vec![];
        for layer in model.layers_mut() {
            let t = Instant::now();
            h = layer.forward(h, Mode::Train).unwrap();
            fwd.push((layer.name().to_string(), t.elapsed().as_secs_f64() * 1e3));
        }
        let mut g = ArrayD::from_elem(h.shape().to_vec(), 1.0f32);
        let mut bwd = vec![];
        for layer in model.layers_mut().iter_mut().rev() {
            let t = Instant::now();
            g = layer.backward(g).unwrap();
            bwd.push(t.elapsed().as_secs_f64() * 1e3);
        }
        bwd.reverse();
        if rep == 2 {
            for ((n, f), b) in fwd.iter().zip(&bwd) {
                println!("{n:20} fwd {f:8.2} ms  bwd {b:8.2} ms");
            }
        }
    }
}
