//! Keras's names for a layer's weights inside a `.keras` file: the class
//! name in snake case (`keras.src.utils.naming.to_snake_case`), numbered
//! per class within the model (`conv1d`, `conv1d_1`, ...), as
//! `saving_lib._save_container_state` writes them. Keras 3.15 also writes
//! the layer's own name as the `name` attribute of its `vars` group; the
//! rule here is for files that lack it.

use std::collections::HashMap;

/// `to_snake_case`: `Conv1D` → `conv1d`, `LeakyReLU` → `leaky_re_lu`,
/// `BatchNormalization` → `batch_normalization`.
pub fn to_snake_case(class: &str) -> String {
    let word: Vec<char> = class
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // (.)([A-Z][a-z]+) -> \1_\2
    let mut first = String::new();
    for (i, &c) in word.iter().enumerate() {
        let starts_word = i > 0
            && c.is_ascii_uppercase()
            && word.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        if starts_word {
            first.push('_');
        }
        first.push(c);
    }
    // ([a-z])([A-Z]) -> \1_\2, then lower case.
    let chars: Vec<char> = first.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() && chars[i - 1].is_ascii_lowercase() {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The key each layer's weights sit under in a `.keras` file, for layers
/// given as `(class name, layer name)` in the model's order.
pub fn weight_keys<'a>(
    layers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(String, String)> {
    let mut used: HashMap<String, usize> = HashMap::new();
    layers
        .into_iter()
        .map(|(class, name)| {
            let base = to_snake_case(class);
            let count = used.entry(base.clone()).or_insert(0);
            let key = if *count == 0 {
                base.clone()
            } else {
                format!("{base}_{count}")
            };
            *count += 1;
            (key, name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_follows_keras() {
        for (class, snake) in [
            ("Conv1D", "conv1d"),
            ("LeakyReLU", "leaky_re_lu"),
            ("BatchNormalization", "batch_normalization"),
            ("MaxPooling1D", "max_pooling1d"),
            ("GlobalAveragePooling1D", "global_average_pooling1d"),
            ("Dense", "dense"),
            ("InputLayer", "input_layer"),
        ] {
            assert_eq!(to_snake_case(class), snake);
        }
        let keys = weight_keys([
            ("Conv1D", "a"),
            ("LeakyReLU", "b"),
            ("Conv1D", "c"),
            ("Dense", "d"),
            ("Conv1D", "e"),
        ]);
        let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["conv1d", "leaky_re_lu", "conv1d_1", "dense", "conv1d_2"]
        );
    }
}
