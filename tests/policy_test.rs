//! `usher test`: Kyverno CLI test files run against the local policy engine.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn usher_test(args: &[&str]) -> (String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_usher"))
        .arg("test")
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

#[test]
fn project_test_file_passes_and_a_wrong_expectation_fails() {
    let (out, code) = usher_test(&["fixtures/kyverno-test/kyverno-test.yaml"]);
    assert!(out.ends_with("5 passed, 0 failed, 0 skipped\n"), "{out}");
    assert_eq!(code, Some(0));
    assert!(
        out.contains("Deployment/unowned-deploy"),
        "autogen row: {out}"
    );
    let (out, code) = usher_test(&["fixtures/kyverno-test/broken"]);
    assert!(out.contains("expected pass, got fail (validation error: Every workload names its owning team in the `owner` label. rule require-owner failed at path /metadata/labels/owner/)"), "{out}");
    assert!(out.ends_with("0 passed, 1 failed, 0 skipped\n"), "{out}");
    assert_eq!(code, Some(1));
    let (_, code) = usher_test(&["fixtures/yaml"]);
    assert_eq!(code, Some(2), "no test files is a usage error");
}

/// Agreement with the expected results of Kyverno's policy library, per classic rule type.
#[test]
fn kyverno_policy_library_conformance() {
    let corpus = root().join("../shared/corpus/kyverno-policies");
    if !corpus.is_dir() {
        eprintln!(
            "notice: ../shared/corpus/kyverno-policies is absent; skipping the conformance test"
        );
        return;
    }
    let (out, _) = usher_test(&[corpus.to_str().unwrap(), "--summary", "--failures-only"]);
    let summary = out.split("rule type").nth(1).expect("summary table");
    eprintln!("rule type{summary}");
    for kind in ["pattern", "anyPattern", "deny", "foreach", "podSecurity"] {
        let line = summary
            .lines()
            .find(|l| l.split_whitespace().next() == Some(kind))
            .unwrap_or_else(|| panic!("no {kind} row in {summary}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        let agree: f64 = cols[1].parse().unwrap();
        let disagree: f64 = cols[2].parse().unwrap();
        assert!(
            agree >= if kind == "podSecurity" { 8.0 } else { 100.0 },
            "{line}"
        );
        assert!(
            agree / (agree + disagree) >= 0.98,
            "{kind} agreement below 98%: {line}"
        );
    }
}

/// CEL policies written for this project: a ValidatingAdmissionPolicy with a binding and a
/// parameter ConfigMap, and a ValidatingPolicy with autogen rows.
#[test]
fn cel_policies_test_file_passes_and_check_places_the_findings() {
    let (out, code) = usher_test(&["fixtures/cel"]);
    assert!(out.ends_with("6 passed, 0 failed, 0 skipped\n"), "{out}");
    assert_eq!(code, Some(0));
    let out = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args([
            "check",
            "--no-config",
            "--no-bundled-policies",
            "--policy",
            "fixtures/cel/policies.yaml",
            "fixtures/cel/resources.yaml",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The parameter comes from the ConfigMap beside the policy; the finding sits on the field
    // the expression reads.
    assert!(
        stdout.contains(
            "fixtures/cel/resources.yaml:7:13: error: replicas must be at most 5, got 8 [replica-limit]"
        ),
        "{stdout}"
    );
    // Autogen: the Deployment's Pod template lacks the label and pins no tag.
    assert!(
        stdout.contains("error: Every Pod names its owning team in the `team` label.; Images are pinned: no `:latest` tag. [require-team-label]"),
        "{stdout}"
    );
    // kube-system is left out by the match condition; the labelled Pod passes.
    assert_eq!(stdout.matches("[replica-limit]").count(), 1, "{stdout}");
    assert_eq!(
        stdout.matches("[require-team-label]").count(),
        1,
        "{stdout}"
    );
    assert_eq!(out.status.code(), Some(1));
}

/// Agreement on the CEL rows of Kyverno's policy library: `validate.cel` rules of
/// ClusterPolicies and ValidatingPolicies (target 95%).
#[test]
fn kyverno_policy_library_cel_conformance() {
    let corpus = root().join("../shared/corpus/kyverno-policies");
    if !corpus.is_dir() {
        eprintln!(
            "notice: ../shared/corpus/kyverno-policies is absent; skipping the CEL conformance test"
        );
        return;
    }
    let (out, _) = usher_test(&[corpus.to_str().unwrap(), "--summary", "--failures-only"]);
    let summary = out.split("rule type").nth(1).expect("summary table");
    eprintln!("rule type{summary}");
    for kind in ["cel", "ValidatingPolicy"] {
        let line = summary
            .lines()
            .find(|l| l.split_whitespace().next() == Some(kind))
            .unwrap_or_else(|| panic!("no {kind} row in {summary}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        let agree: f64 = cols[1].parse().unwrap();
        let disagree: f64 = cols[2].parse().unwrap();
        let skipped: f64 = cols[3].parse().unwrap();
        assert!(agree >= 600.0, "{line}");
        assert!(
            agree / (agree + disagree) >= 0.95,
            "{kind} agreement below 95%: {line}"
        );
        // Skipped rows are only those needing a registry or cluster.
        assert!(skipped / (agree + disagree + skipped) < 0.05, "{line}");
    }
}
