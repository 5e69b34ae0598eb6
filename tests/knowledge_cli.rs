//! End-to-end tests of `usher index` and `usher search`, driving the real binary on the demo
//! knowledge set (fixtures/demo/knowledge).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn usher(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("usher runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("usher-knowledge-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn index_then_search_with_provenance_filters_and_json() {
    let dir = scratch("search");
    let knowledge = root().join("fixtures/demo/knowledge");
    let k = knowledge.to_str().unwrap();
    let o = usher(&dir, &["index", "--no-config", "--source", k]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("indexed "), "{err}");
    assert!(dir.join(".usher/index/manifest.json").is_file());

    // The written rule about database regions comes first, with its file and lines.
    let o = usher(
        &dir,
        &[
            "search",
            "--no-config",
            "which region can I run a postgres database in?",
            "-k",
            "5",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let hits: Json = serde_json::from_slice(&o.stdout).unwrap();
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0]["sourceType"], "doc");
    assert!(hits[0]["text"].as_str().unwrap().contains("us-east-1"));
    assert!(hits[0]["provenance"]["lines"].is_array());
    let types: Vec<&str> = hits
        .iter()
        .map(|h| h["sourceType"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"slack") && types.contains(&"transcript"),
        "{types:?}"
    );

    // Filters by source type and by kind.
    let o = usher(
        &dir,
        &[
            "search",
            "--no-config",
            "database region",
            "--source-type",
            "slack",
            "--json",
        ],
    );
    let hits: Json = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!hits.as_array().unwrap().is_empty());
    for h in hits.as_array().unwrap() {
        assert_eq!(h["sourceType"], "slack");
        assert!(h["provenance"]["channel"].is_string());
        assert!(h["provenance"]["author"].is_string());
    }
    let o = usher(
        &dir,
        &[
            "search",
            "--no-config",
            "run as root",
            "--kind",
            "Pod",
            "--source-type",
            "policy",
            "--json",
        ],
    );
    let hits: Json = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        hits[0]["id"].as_str().unwrap().starts_with("policy:usher-"),
        "{hits}"
    );

    // Text output: numbered hits with provenance lines.
    let o = usher(&dir, &["search", "--no-config", "owner label", "-k", "3"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with(" 1. ["), "{out}");

    // Nothing changed: re-indexing is a no-op.
    let o = usher(&dir, &["index", "--no-config", "--source", k]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("up to date"));
}

#[test]
fn clear_errors_for_missing_or_broken_indexes_and_bad_arguments() {
    let dir = scratch("errors");
    let o = usher(&dir, &["search", "--no-config", "anything"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("run `usher index` first"));

    let o = usher(
        &dir,
        &["index", "--no-config", "--no-kinds", "--source", "nope"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope: no such file or folder"));

    let o = usher(
        &dir,
        &[
            "index",
            "--no-config",
            "--no-kinds",
            "--no-bundled-policies",
        ],
    );
    assert!(o.status.success());
    std::fs::write(dir.join(".usher/index/manifest.json"), "garbage").unwrap();
    let o = usher(&dir, &["search", "--no-config", "anything"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("run `usher index` to rebuild it"));
    // A broken index is rebuilt by the next `usher index`.
    let o = usher(
        &dir,
        &[
            "index",
            "--no-config",
            "--no-kinds",
            "--no-bundled-policies",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let o = usher(
        &dir,
        &["search", "--no-config", "x", "--source-type", "wiki"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not one of policy, doc"));
}
