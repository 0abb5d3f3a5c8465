//! Every feature of the facade compiles on its own (and with none), so a
//! user who picks one engine and one framework gets a working build; so do
//! the combinations that switch on code of their own (`cfg(all(…))`).
//!
//! Runs `cargo check` in a target directory of its own (the outer `cargo
//! test` holds the lock on the usual one).

use std::path::PathBuf;
use std::process::Command;

const FEATURES: &[&str] = &[
    "memory", "file", "sqlite", "postgres", "mysql", "redis", "axum", "actix", "rocket", "django",
    "rustls", "metrics",
];

/// Combinations that enable items no single feature does: Django's
/// formats over a SQL engine, and its `cached_db` store (SQL plus Redis).
const COMBINATIONS: &[&[&str]] = &[
    &["django", "sqlite"],
    &["django", "redis", "sqlite"],
    &["django", "redis", "postgres"],
];

#[test]
fn each_feature_and_gated_combination_compiles() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target/feature-checks");
    let mut combos: Vec<Vec<&str>> = vec![vec![]];
    combos.extend(FEATURES.iter().map(|f| vec![*f]));
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
