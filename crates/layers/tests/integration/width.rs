//! `ArchitectureSpec::with_width`: how a search widens or narrows one
//! design without touching its output.

use kymo_layers::{zoo, ArchitectureSpec, LayerSpec};

fn widths(spec: &ArchitectureSpec) -> Vec<usize> {
    let ArchitectureSpec::Sequential(s) = spec else {
        return Vec::new();
    };
    s.layers
        .iter()
        .filter_map(|l| match l {
            LayerSpec::Conv1D(c) => Some(c.filters),
            LayerSpec::Dense(d) => Some(d.units),
            _ => None,
        })
        .collect()
}

#[test]
fn doubling_scales_convolutions_and_hidden_dense_but_not_the_output() {
    let base: ArchitectureSpec = zoo::doctor(128).into();
    assert_eq!(widths(&base), vec![16, 32, 32, 32, 32, 1]);
    let wide = base.clone().with_width(2.0);
    assert_eq!(widths(&wide), vec![32, 64, 64, 64, 64, 1]);
    let narrow = base.with_width(0.5);
    assert_eq!(widths(&narrow), vec![8, 16, 16, 16, 16, 1]);
    let model = narrow.build::<f32>(0).unwrap();
    assert!(model.count_params() > 0);
}

#[test]
fn a_widened_graph_still_builds_and_keeps_its_head() {
    let base: ArchitectureSpec = zoo::resnet(64).into();
    let head = base
        .clone()
        .with_head(3, kymo_layers::Activation::Softmax)
        .unwrap();
    let wide = head.with_width(0.25);
    let model = wide.build::<f32>(0).unwrap();
    let smaller = base.build::<f32>(0).unwrap();
    assert!(model.count_params() < smaller.count_params() / 4);
    assert_eq!(model.output_shape(), kymo_layers::Shape::Features(3));
}

#[test]
fn a_tiny_factor_keeps_at_least_one_unit() {
    let spec: ArchitectureSpec = zoo::doctor(64).into();
    assert!(widths(&spec.with_width(1e-6)).iter().all(|&w| w >= 1));
}
