//! Heap bytes of one training step of a built-in model, by phase: live
//! after the forward pass (the activations kept for backward), the peak
//! within each phase, and what stays live between steps (weights, gradients,
//! each layer's reusable buffers). The view `docs/performance.md`
//! quotes for memory.
//!
//! ```sh
//! cargo run --release --example memory_by_phase -- inception 32
//! ```
//!
//! Arguments: model (any of `zoo::architecture_by_name`'s names; default
//! `inception`), batch size (default 32), signal length (default 1040).
//! A counting allocator wraps the system's, so the figures are the heap's
//! own, without the allocator's slack that resident memory also counts.

use kymo::layers::{zoo, Mode};
use ndarray::ArrayD;
use std::alloc::{GlobalAlloc, Layout, System};
use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to the system allocator unchanged; the
// counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: the caller's layout is passed on as it came.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Starts a phase: the peak restarts from what is live now.
fn start_phase() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("inception", String::as_str);
    let batch: usize = args.get(1).map_or(Ok(32), |s| s.parse())?;
    let length: usize = args.get(2).map_or(Ok(zoo::SEED_LENGTH), |s| s.parse())?;
    let spec =
        zoo::architecture_by_name(name, length).ok_or_else(|| format!("unknown model '{name}'"))?;
    let mut model = spec.build::<f32>(0)?;
    let x = ArrayD::from_shape_fn(vec![batch, 1, length], |index| {
        ((index[0] * 7 + index[2]) as f32 * 0.01).sin()
    });
    println!("{name}, batch {batch}, length {length}: heap MiB");
    // The second step is the steady state: every reusable buffer exists.
    for step in 1..=2 {
        let before = start_phase();
        let y = model.forward(x.clone(), Mode::Train)?;
        let after_forward = LIVE.load(Ordering::Relaxed);
        let forward_peak = PEAK.load(Ordering::Relaxed);
        start_phase();
        model.backward(ArrayD::from_elem(y.raw_dim(), 1e-3))?;
        let backward_peak = PEAK.load(Ordering::Relaxed);
        start_phase();
        for p in model.parameters_mut() {
            p.zero_grad();
        }
        let after_step = LIVE.load(Ordering::Relaxed);
        println!(
            "step {step}: before {:8.1}  forward peak {:8.1}  after forward {:8.1}  \
             backward peak {:8.1}  after {:8.1}",
            mib(before),
            mib(forward_peak),
            mib(after_forward),
            mib(backward_peak),
            mib(after_step)
        );
    }
    Ok(())
}
