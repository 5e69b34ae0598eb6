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

/// With the embedding model installed (scripts/setup-model.sh), chunks are embedded, unchanged
/// ones are reused, and hybrid search finds meaning that shares no words with the text.
#[test]
fn embeddings_make_hybrid_search_find_meaning() {
    let model = root().join(".tools/model");
    if !model.join("manifest.json").is_file() {
        eprintln!("notice: no embedding model in .tools/model (scripts/setup-model.sh); skipped");
        return;
    }
    let dir = scratch("hybrid");
    let k = root().join("fixtures/demo/knowledge");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(args)
            .current_dir(&dir)
            .env("USHER_MODEL_DIR", &model)
            .output()
            .unwrap()
    };
    let base = [
        "index",
        "--no-config",
        "--no-kinds",
        "--no-bundled-policies",
        "--source",
    ];
    let o = run(&[&base[..], &[k.to_str().unwrap()]].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("BM25 and vectors"), "{err}");
    let o = run(&[&base[..], &[k.to_str().unwrap(), "--force"]].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("embedded 0 chunks"),
        "unchanged chunks are reused: {err}"
    );

    // No word of the question is in the decision ("databases run only in us-east-1").
    let q = "may I place the orders datastore in Frankfurt?";
    let o = run(&[
        "search",
        "--no-config",
        q,
        "-k",
        "5",
        "--json",
        "--mode",
        "vector",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let hits: Json = serde_json::from_slice(&o.stdout).unwrap();
    let texts: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["text"].as_str().unwrap())
        .collect();
    assert!(texts.iter().any(|t| t.contains("us-east-1")), "{texts:?}");
    let o = run(&["search", "--no-config", q, "-k", "5"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("(hybrid)"));
}

/// `knowledge.model` of .usher.yaml names the model (no `.tools/model` above the folder, no
/// `$USHER_MODEL_DIR`); a changed source re-embeds only its changed chunks.
#[test]
fn configured_model_and_incremental_reindexing() {
    let model = root().join(".tools/model");
    if !model.join("manifest.json").is_file() {
        eprintln!("notice: no embedding model in .tools/model (scripts/setup-model.sh); skipped");
        return;
    }
    let dir = scratch("configured-model");
    // A copy of the demo's wiki page, to change it later.
    let wiki = root().join("fixtures/demo/knowledge/wiki/platform-rules.md");
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    let page = std::fs::read_to_string(&wiki).unwrap();
    std::fs::write(dir.join("docs/rules.md"), &page).unwrap();
    let write_config = |model: &Path| {
        std::fs::write(
            dir.join(".usher.yaml"),
            format!(
                "policies:\n  bundled: false\nknowledge:\n  kinds: false\n  sources:\n    - docs/\n  model: {}\n",
                model.display()
            ),
        )
        .unwrap();
    };
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(args)
            .current_dir(&dir)
            .env_remove("USHER_MODEL_DIR")
            .output()
            .unwrap()
    };
    write_config(&model);
    let o = run(&["index"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("BM25 and vectors"), "{err}");
    let first = err
        .lines()
        .find_map(|l| l.strip_prefix("embedded "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(first > 2, "{err}");
    let o = run(&["search", "where may databases run?", "--mode", "vector"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("(vectors)"));

    // One paragraph more: only the chunk that changed is embedded again.
    std::fs::write(
        dir.join("docs/rules.md"),
        format!(
            "{page}\n## Cron jobs\n\nCronJobs must not run more often than every five minutes.\n"
        ),
    )
    .unwrap();
    let o = run(&["index"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("embedded "))
        .unwrap_or_else(|| panic!("{err}"));
    let again: usize = line.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(again >= 1 && again < first, "{line}");
    assert!(line.contains("unchanged, reused"), "{line}");

    // A configured folder without a model: BM25 only, said once, nothing breaks.
    write_config(&dir.join("no-model-here"));
    let o = run(&["index"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("no-model-here"), "{err}");
    assert!(err.contains("BM25 only"), "{err}");
}
