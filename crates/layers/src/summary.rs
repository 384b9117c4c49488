//! Keras-like model summaries, with each layer's receptive field.

use std::fmt;

use kymo_tensor::Float;

use crate::{Model, Sequential, Shape};

/// How much of the input one output position of a layer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceptiveField {
    /// This many consecutive input points.
    Points(usize),
    /// Every input point (after Flatten, Dense or global pooling).
    All,
}

impl fmt::Display for ReceptiveField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceptiveField::Points(n) => write!(f, "{n}"),
            ReceptiveField::All => write!(f, "all"),
        }
    }
}

/// One row of a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// Layer name.
    pub name: String,
    /// Keras class name.
    pub kind: &'static str,
    /// Per-sample output shape.
    pub output: Shape,
    /// Scalars in the layer's weights.
    pub params: usize,
    /// Receptive field of one output position on the model's input.
    pub receptive_field: ReceptiveField,
}

/// A model summary: rows, totals, and the receptive field of the last
/// layer that still has positions.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// One row per layer.
    pub rows: Vec<SummaryRow>,
    /// All weights.
    pub total_params: usize,
    /// Trainable weights.
    pub trainable_params: usize,
    /// Input length.
    pub input_length: usize,
}

impl Summary {
    /// Summarises a Sequential `model`, whose layers form one chain.
    pub fn of<T: Float>(model: &Sequential<T>) -> Self {
        let mut field = ReceptiveField::Points(1);
        let mut jump = 1usize;
        let rows = model
            .layers()
            .iter()
            .map(|layer| {
                field = match (field, layer.reach()) {
                    (ReceptiveField::Points(n), Some(reach)) => {
                        let n = n + (reach.size - 1) * jump;
                        jump *= reach.stride;
                        ReceptiveField::Points(n)
                    }
                    _ => ReceptiveField::All,
                };
                SummaryRow {
                    name: layer.name().to_string(),
                    kind: layer.spec().kind(),
                    output: layer.output_shape(),
                    params: layer.parameters().iter().map(|p| p.value.len()).sum(),
                    receptive_field: field,
                }
            })
            .collect();
        let input_length = match model.input_shape() {
            Shape::Signal { length, .. } => length,
            Shape::Features(n) => n,
        };
        Self {
            rows,
            total_params: model.count_params(),
            trainable_params: model.count_trainable_params(),
            input_length,
        }
    }

    /// The receptive field of one position of the last layer that still has
    /// positions (before Flatten): what one input to the head sees.
    pub fn receptive_field(&self) -> usize {
        self.rows
            .iter()
            .filter_map(|r| match r.receptive_field {
                ReceptiveField::Points(n) => Some(n),
                ReceptiveField::All => None,
            })
            .next_back()
            .unwrap_or(1)
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A shape as Keras's `model.summary()` prints it: `(None, steps,
/// channels)` for a signal (kymo holds it channels first), `(None, n)`
/// for features.
fn keras_order(shape: Shape) -> String {
    match shape {
        Shape::Signal { channels, length } => format!("(None, {length}, {channels})"),
        Shape::Features(n) => format!("(None, {n})"),
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<String> = self
            .rows
            .iter()
            .map(|row| format!("{} ({})", row.name, row.kind))
            .collect();
        // Wide enough for the longest label and a space, as Keras widens.
        let width = labels
            .iter()
            .map(|l| l.chars().count() + 1)
            .fold(38, usize::max);
        let rule = "─".repeat(width + 46);
        writeln!(
            f,
            "{:<width$}{:<20}{:>12}{:>14}",
            "Layer (type)", "Output Shape", "Param #", "Receptive"
        )?;
        writeln!(f, "{rule}")?;
        for (row, label) in self.rows.iter().zip(&labels) {
            writeln!(
                f,
                "{:<width$}{:<20}{:>12}{:>14}",
                label,
                keras_order(row.output),
                thousands(row.params),
                row.receptive_field.to_string()
            )?;
        }
        writeln!(f, "{rule}")?;
        writeln!(f, " Total params: {}", thousands(self.total_params))?;
        writeln!(f, " Trainable params: {}", thousands(self.trainable_params))?;
        writeln!(
            f,
            " Non-trainable params: {}",
            thousands(self.total_params - self.trainable_params)
        )?;
        writeln!(
            f,
            " Receptive field of one head input: {} of {} input points",
            self.receptive_field(),
            self.input_length
        )
    }
}
