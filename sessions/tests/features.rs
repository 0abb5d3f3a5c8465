//! Every feature of the facade compiles on its own (and with none), so a
//! user who picks one engine and one framework gets a working build; so do
//! the combinations that switch on code of their own (`cfg(all(…))`).
//!
//! Runs `cargo check` in a target directory of its own (the outer `cargo
//! test` holds the lock on the usual one).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Combinations that enable items no single feature does: Django's
/// formats over a SQL engine, and its `cached_db` store (SQL plus Redis).
const COMBINATIONS: &[&[&str]] = &[
    &["django", "sqlite"],
    &["django", "redis", "sqlite"],
    &["django", "redis", "postgres"],
];

/// The facade's features as its manifest declares them (`cargo metadata`),
/// all but `default`: a feature added later is checked without anyone
/// listing it here.
fn features(cargo: &str, root: &Path) -> Vec<String> {
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "cargo metadata failed");
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let facade = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "sessions")
        .expect("the workspace holds the facade");
    let names: Vec<String> = facade["features"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|name| *name != "default")
        .cloned()
        .collect();
    assert!(names.len() >= 10, "too few features read: {names:?}");
    names
}

#[test]
fn each_feature_and_gated_combination_compiles() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target/feature-checks");
    let declared = features(&cargo, &root);
    let mut combos: Vec<Vec<&str>> = vec![vec![]];
    combos.extend(declared.iter().map(|f| vec![f.as_str()]));
    combos.extend(COMBINATIONS.iter().map(|c| c.to_vec()));
    for features in combos {
        let output = Command::new(&cargo)
            .current_dir(&root)
            .args([
                "check",
                "--quiet",
                "-p",
                "sessions",
                "--no-default-features",
            ])
            .args(if features.is_empty() {
                vec![]
            } else {
                vec!["--features".to_owned(), features.join(",")]
            })
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "`sessions` with features {features:?} does not compile:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
