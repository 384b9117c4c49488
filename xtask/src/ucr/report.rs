//! The UCR experiment's Markdown report: per set and arm, the median test
//! accuracy over seeds, its range, the published figure and the gap.

use kymo_doctor::median;

use super::published;
use super::{Row, UcrProfile};

fn arm_label(arm: &str) -> &str {
    match arm {
        "prescription" => "doctor's prescription",
        "fcn" => "FCN",
        "resnet" => "ResNet",
        "inception" => "InceptionTime",
        "minirocket" => "MiniRocket",
        "1nn" => "1-NN (Euclidean)",
        other => other,
    }
}

/// The report: one table per set, the profile, the sources.
pub fn markdown(rows: &[Row], profile: &UcrProfile, name: &str, seconds: f64) -> String {
    let mut text = format!(
        "# UCR/UEA classification ({name} profile)\n\nTest accuracy on the archive's test split, median over {} seeds with the range; deep models trained as their authors train them (Adam 1e-3, plateau on training loss, best-loss weights, batch N/10 capped), epochs capped at {} (FCN and the prescription's FCN), {} (ResNet) and {} (InceptionTime, {} network(s)). Wall time {:.0} s.\n",
        profile.seeds, profile.epochs[0], profile.epochs[1], profile.epochs[2], profile.ensemble, seconds
    );
    let mut sets: Vec<&str> = rows.iter().map(|r| r.set.as_str()).collect();
    sets.dedup();
    for set in sets {
        text.push_str(&format!(
            "\n## {set}\n\n| arm | median | range | published | median - published | seconds |\n|---|---|---|---|---|---|\n"
        ));
        for row in rows.iter().filter(|r| r.set == set) {
            let mid = median(&row.accuracies);
            let (low, high) = row
                .accuracies
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let reference = if row.arm == "prescription" {
                published::best(set)
            } else {
                published::accuracy(set, &row.arm)
            };
            let (published_text, gap) = match reference {
                Some(p) => (
                    format!(
                        "{p:.3}{}",
                        if row.arm == "prescription" {
                            " (best)"
                        } else {
                            ""
                        }
                    ),
                    format!("{:+.3}", mid - p),
                ),
                None => ("-".into(), "-".into()),
            };
            let label = if row.choices.is_empty() {
                arm_label(&row.arm).to_string()
            } else {
                format!("{} (chose {})", arm_label(&row.arm), row.choices.join(", "))
            };
            text.push_str(&format!(
                "| {label} | {mid:.3} | {low:.3}-{high:.3} | {published_text} | {gap} | {:.0} |\n",
                row.seconds
            ));
        }
    }
    text.push_str("\nSources of the published figures:\n\n");
    for (what, source) in published::SOURCES {
        text.push_str(&format!("- {what}: {source}\n"));
    }
    text
}
