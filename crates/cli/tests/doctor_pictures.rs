//! `kymo doctor --markdown` draws its pictures beside the report and links
//! them: the probe's learning curves and the layers' gradients and dead
//! units (the `--verify` picture is drawn by the same code from the arms,
//! and checked in kymo-plot).

mod common;
use common::kymo;

#[test]
fn the_markdown_report_links_the_pictures_it_wrote_beside_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("exam.md");
    let report_arg = report.to_string_lossy().into_owned();
    kymo(&[
        "doctor",
        "answer",
        "--samples",
        "60",
        "--probe-epochs",
        "2",
        "--markdown",
        &report_arg,
    ]);
    let text = std::fs::read_to_string(&report).expect("report written");
    assert!(text.contains("## Pictures"), "{text}");
    for name in ["exam-learning-curves.png", "exam-layers.png"] {
        assert!(
            text.contains(&format!("]({name})")),
            "{name} not linked:\n{text}"
        );
        let bytes = std::fs::read(dir.path().join(name)).expect("picture written");
        assert_eq!(&bytes[1..4], b"PNG", "{name}");
        assert!(
            bytes.len() > 2_000,
            "{name} is {} bytes: an empty picture?",
            bytes.len()
        );
    }
    // No verification ran, so no verify picture is claimed.
    assert!(!text.contains("exam-verify.png"), "{text}");
    assert!(!dir.path().join("exam-verify.png").exists());
}
