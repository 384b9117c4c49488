//! # kymo-plot
//!
//! PNG charts for kymo's reports. [`save_png`] draws a plotters picture
//! into an RGB buffer and encodes it with the `png` crate; DejaVu Sans is
//! embedded and registered as `sans-serif` ([`register_font`]), so no
//! system font library is needed. The doctor's pictures are here too, each
//! from plain numbers so this crate depends on no model code:
//! [`learning_curves`], [`layer_health`] and [`arms_over_seeds`].
//!
//! plotters' own PNG encoder goes through the `image` crate, whose decoders
//! (JPEG among them) were a tenth of a fresh release build and unused here.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("curves.png");
//! kymo_plot::learning_curves(&path, &[1.0, 0.5, 0.3], &[1.1, 0.6, 0.4], 1.0).unwrap();
//! let bytes = std::fs::read(&path).unwrap();
//! assert_eq!(&bytes[1..4], b"PNG");
//! ```

mod doctor_pictures;

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

pub use doctor_pictures::{arms_over_seeds, layer_health, learning_curves, LayerHealth};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the embedded DejaVu Sans as plotters' `sans-serif` (again is
/// harmless).
pub fn register_font() -> anyhow::Result<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow::anyhow!("embedded font is invalid"))
}

/// Draws a `width` x `height` picture with `draw` on white and writes it
/// to `path` as an 8-bit RGB PNG.
pub fn save_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Line plots on white compress well: with the defaults the plots were
    // 2.5x larger than the `image` crate's encoding of them.
    encoder.set_compression(png::Compression::Best);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let mut writer = encoder
        .write_header()
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .write_image_data(&pixels)
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .finish()
        .with_context(|| format!("writing {}", path.display()))
}

/// The range a log axis needs to show every finite positive value,
/// padded by half either way (`1e-3..1` when there is none).
pub fn positive_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let finite: Vec<f64> = values.filter(|v| v.is_finite() && *v > 0.0).collect();
    let low = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let high = finite.iter().copied().fold(0.0f64, f64::max);
    if finite.is_empty() {
        (1e-3, 1.0)
    } else {
        (low / 1.5, high * 1.5)
    }
}
