//! End-to-end tests of `usher check`, driving the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value as Json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `check` runs without the bundled policy pack unless a test asks for policies: these tests
/// are about YAML and schemas (the pack has its own tests).
fn with_policy_default(args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    if v.first().map(String::as_str) == Some("check")
        && !v
            .iter()
            .any(|a| a.starts_with("--policy") || a == "--bundled")
    {
        v.insert(1, "--no-bundled-policies".into());
    }
    v.retain(|a| a != "--bundled");
    v
}

fn usher(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(with_policy_default(args))
        .current_dir(root())
        .output()
        .expect("usher runs")
}

fn usher_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(with_policy_default(args))
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json_findings(o: &Output) -> Vec<(String, u64, String, String)> {
    let doc: Json = serde_json::from_slice(&o.stdout).expect("JSON output");
    let mut out = Vec::new();
    for f in doc["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap().to_string();
        for x in f["findings"].as_array().unwrap() {
            out.push((
                path.clone(),
                x["start"]["line"].as_u64().unwrap(),
                x["code"].as_str().unwrap().to_string(),
                x["message"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// The demo reports exactly the findings listed in fixtures/demo/EXPECTED.md.
#[test]
fn demo_reports_exactly_the_expected_findings() {
    let expected_md = std::fs::read_to_string(root().join("fixtures/demo/EXPECTED.md")).unwrap();
    let mut expected: Vec<(String, u64, String)> = expected_md
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| file") && !l.starts_with("|---"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                format!("fixtures/demo/{}", cells[1]),
                cells[2].parse().unwrap(),
                cells[cells.len() - 2].trim_matches('`').to_string(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 19);
    let o = usher(&["check", "--format", "json", "fixtures/demo"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut got: Vec<(String, u64, String)> = json_findings(&o)
        .into_iter()
        .map(|(p, l, c, _)| (p, l, c))
        .collect();
    got.sort();
    assert_eq!(got, expected);
}

#[test]
fn text_output_is_compiler_style_and_exit_codes_follow_errors() {
    let o = usher(&[
        "check",
        "fixtures/demo/apps/fraud-scorer.yaml",
        "--no-config",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("fixtures/demo/apps/fraud-scorer.yaml:28:7: error: unknown field `contaienrs` in `spec.template.spec`: did you mean `containers`? [schema/unknown-field]"),
        "{out}"
    );
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(
        summary.contains("errors") && summary.contains("1 file"),
        "{summary}"
    );
    // A clean file exits 0.
    let o = usher(&["check", "fixtures/demo/apps/ledger.yaml", "--no-config"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o), "");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        usher(&["check", "no/such/path.yaml"]).status.code(),
        Some(2)
    );
    assert_eq!(
        usher(&["check", "--format", "xml", "fixtures/demo"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        usher(&["check", "--kubernetes-version", "latest", "fixtures/demo"])
            .status
            .code(),
        Some(2)
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".usher.yaml"), "kubernetesVersoin: 1.30\n").unwrap();
    std::fs::write(dir.path().join("a.yaml"), "a: 1\n").unwrap();
    let o = usher(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(".usher.yaml") && err.contains("kubernetesVersoin"),
        "{err}"
    );
    let help = stdout(&usher(&["check", "--help"]));
    for flag in [
        "--format",
        "--crd",
        "--kubernetes-version",
        "--config",
        "--unknown-fields",
        "--missing-schemas",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn stdin_and_formats() {
    let input = b"apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  type: Nodeport\n  ports: [{port: 80}]\n";
    let o = usher_stdin(
        &["check", "-", "--no-config", "--stdin-filename", "svc.yaml"],
        input,
    );
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.starts_with("svc.yaml:6:9: error: `Nodeport` is not an allowed value for `type`"),
        "{out}"
    );
    let o = usher_stdin(&["check", "-", "--no-config", "-f", "sarif"], input);
    let sarif: Json = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "schema/enum");
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        6
    );
    let o = usher_stdin(&["check", "-", "--no-config", "-f", "json"], input);
    let doc: Json = serde_json::from_slice(&o.stdout).unwrap();
    let fixes = &doc["files"][0]["findings"][0]["fixes"];
    assert_eq!(fixes[0]["edits"][0]["new_text"], "NodePort", "{doc}");
}

#[test]
fn crd_flag_and_kubernetes_version() {
    let db = b"apiVersion: platform.acme.io/v1alpha1\nkind: Database\nmetadata: {name: a}\nspec:\n  engine: postgres\n  owner: team\n  storageGB: 5\n";
    let o = usher_stdin(&["check", "-", "--no-config"], db);
    assert!(
        stdout(&o).contains("[schema/missing-schema]"),
        "{}",
        stdout(&o)
    );
    assert_eq!(o.status.code(), Some(0));
    let o = usher_stdin(&["check", "-", "--no-config", "--crd", "fixtures/crds"], db);
    assert!(
        stdout(&o).contains("`spec.storageGB` must be at least 10, found 5 [schema/minimum]"),
        "{}",
        stdout(&o)
    );
    let ingress = b"apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: a}\n";
    let o = usher_stdin(
        &["check", "-", "--no-config", "--kubernetes-version", "1.20"],
        ingress,
    );
    assert!(stdout(&o).contains("warning: extensions/v1beta1 Ingress is deprecated since Kubernetes 1.14 and is removed in 1.22"), "{}", stdout(&o));
    assert_eq!(o.status.code(), Some(0));
    let o = usher_stdin(
        &["check", "-", "--no-config", "--kubernetes-version", "1.22"],
        ingress,
    );
    assert!(
        stdout(&o).contains("error: extensions/v1beta1 Ingress was removed in Kubernetes 1.22"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn non_kubernetes_yaml_is_left_alone() {
    let o = usher(&["check", "fixtures/demo/ci/pipeline.yaml", "fixtures/yaml"]);
    assert_eq!(stdout(&o), "", "{}", stdout(&o));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn bad_inputs_get_clear_messages() {
    let o = usher(&["check", "--no-config", "fixtures/bad"]);
    let out = stdout(&o);
    let expect = [
        ("fixtures/bad/binary.yaml", "[file/binary]"),
        ("fixtures/bad/invalid-utf8.yaml", "[file/invalid-utf8]"),
        ("fixtures/bad/tabs.yaml", "[yaml/tab-indentation]"),
        ("fixtures/bad/unclosed-quote.yaml", "never closed"),
        ("fixtures/bad/alias-bomb.yaml", "[yaml/alias-budget]"),
        ("fixtures/bad/unknown-alias.yaml", "[yaml/unknown-alias]"),
        (
            "fixtures/bad/template-placeholder.yaml:2:9",
            "template placeholder",
        ),
        (
            "fixtures/bad/template-placeholder.yaml:4:8",
            "[yaml/collection-key]",
        ),
    ];
    for (file, needle) in expect {
        assert!(
            out.lines()
                .any(|l| l.starts_with(file) && l.contains(needle)),
            "{file}: {needle} not in\n{out}"
        );
    }
    for quiet in ["empty.yaml", "only-comments.yaml"] {
        assert!(
            !out.contains(quiet),
            "{quiet} should produce nothing:\n{out}"
        );
    }
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("files"),
        "no summary"
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
}

#[test]
fn deep_nesting_and_huge_files_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("deep.yaml");
    std::fs::write(
        &deep,
        format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000)),
    )
    .unwrap();
    let o = usher(&["check", "--no-config", deep.to_str().unwrap()]);
    assert!(stdout(&o).contains("[yaml/too-deep]"), "{}", stdout(&o));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));

    // A 50 MB file of many resources.
    let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels: {app: x}\ndata:\n  key: value\n  other: |\n    line one\n    line two\n---\n";
    let big = dir.path().join("big.yaml");
    let copies = 50 * 1024 * 1024 / doc.len() + 1;
    std::fs::write(&big, doc.repeat(copies)).unwrap();
    let o = usher(&["check", "--no-config", big.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(
        summary.contains(&format!("{copies} resources")),
        "{summary}"
    );
    // Over the size limit: reported and skipped.
    let o = usher(&[
        "check",
        "--no-config",
        "--max-file-size",
        "10",
        big.to_str().unwrap(),
    ]);
    assert!(stdout(&o).contains("[file/too-large]"), "{}", stdout(&o));
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_folder_of_ten_thousand_files() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..10_000 {
        let sub = dir.path().join(format!("d{}", i / 500));
        if i % 500 == 0 {
            std::fs::create_dir(&sub).unwrap();
        }
        let body = if i == 4321 {
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: x, imagePullPolicy: Sometimes}]\n".to_string()
        } else {
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\ndata: {{k: v}}\n")
        };
        std::fs::write(sub.join(format!("f{i}.yaml")), body).unwrap();
    }
    let o = usher(&["check", "--no-config", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("f4321.yaml:5:53: error: `Sometimes`"), "{out}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("in 10000 files (10000 resources"));
}

#[test]
fn bundled_policies_and_policy_files() {
    // The bundled pack is on by default: Kyverno wording, on the failing value, as warnings.
    let o = usher(&["check", "--bundled", "fixtures/demo/apps/ledger.yaml"]);
    let out = stdout(&o);
    assert!(
        out.contains("fixtures/demo/apps/ledger.yaml:102:37: warning: validation error: The root filesystem must be read-only (securityContext.readOnlyRootFilesystem: true). rule autogen-validate-readOnlyRootFilesystem failed at path /spec/template/spec/containers/1/securityContext/readOnlyRootFilesystem/ [usher-require-ro-rootfs/autogen-validate-readOnlyRootFilesystem]"),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(0), "warnings only");
    // A policy file with Enforce: errors, exit 1; a missing key is reported on its parent key.
    let o = usher(&[
        "check",
        "--no-bundled-policies",
        "--policy",
        "fixtures/policies/require-owner.yaml",
        "fixtures/policies/unowned.yaml",
    ]);
    let out = stdout(&o);
    assert_eq!(
        out,
        "fixtures/policies/unowned.yaml:11:7: error: validation error: Every workload names its owning team in the `owner` label. rule autogen-require-owner failed at path /spec/template/metadata/labels/owner/ [require-owner/autogen-require-owner]\n\
         fixtures/policies/unowned.yaml:22:19: error: validation error: Every workload names its owning team in the `owner` label. rule require-owner failed at path /metadata/labels/owner/ [require-owner/require-owner]\n"
    );
    assert_eq!(o.status.code(), Some(1));
    // A broken policy file is a clear warning with its position.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: x}\nspec:\n  rules: [\n",
    )
    .unwrap();
    let o = usher(&[
        "check",
        "--policy",
        bad.to_str().unwrap(),
        "fixtures/demo/apps/ledger.yaml",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.yaml") && err.contains("5:"), "{err}");
    assert_eq!(o.status.code(), Some(2));
}

/// A scratch copy of a fixture (fixes write files).
fn scratch(fixture: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("usher-fix-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let to = dir.join("manifest.yaml");
    std::fs::copy(root().join(fixture), &to).unwrap();
    to
}

#[test]
fn diff_prints_fixes_without_writing_and_fix_writes_them() {
    let file = scratch("fixtures/fix/deployment.yaml", "diff");
    let path = file.to_str().unwrap();
    let before = std::fs::read_to_string(&file).unwrap();
    let policy = [
        "--no-bundled-policies",
        "--policy",
        "fixtures/fix/policies.yaml",
    ];

    let o = usher(&[&["check", "--diff"][..], &policy, &[path]].concat());
    assert_eq!(o.status.code(), Some(1), "something to fix: exit 1");
    let diff = stdout(&o);
    assert!(diff.contains(&format!("--- {path}")), "{diff}");
    assert!(diff.contains("-      hostNetwork: true\n"), "{diff}");
    assert!(
        diff.contains("-          privileged: true\n+          privileged: false\n"),
        "{diff}"
    );
    assert!(
        diff.contains("+      securityContext:\n+        runAsNonRoot: true\n"),
        "{diff}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("3 fixes would be applied in 1 file"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "--diff writes nothing"
    );

    let o = usher(&[&["check", "--fix"][..], &policy, &[path]].concat());
    let after = std::fs::read_to_string(&file).unwrap();
    assert_ne!(after, before);
    // Comments and flow style elsewhere are kept.
    assert!(after.contains("name: web # the web tier"), "{after}");
    assert!(after.contains("image: nginx:1.27 # pinned"), "{after}");
    assert!(after.contains("matchLabels: {app: web}"), "{after}");
    // What is left: only the mutate hint (applied at admission, not by --fix).
    let out = stdout(&o);
    assert!(!out.contains("fix-demo/"), "{out}");
    assert!(
        out.contains("hint: policy add-team-label rule team changes this resource"),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(0), "{out}");

    // Nothing left to fix: --diff is silent and exits 0.
    let o = usher(&[&["check", "--diff"][..], &policy, &[path]].concat());
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "");
}

#[test]
fn fix_on_standard_input_prints_the_fixed_text() {
    let input = std::fs::read(root().join("fixtures/fix/deployment.yaml")).unwrap();
    let o = usher_stdin(
        &[
            "check",
            "--no-bundled-policies",
            "--policy",
            "fixtures/fix/policies.yaml",
            "--fix",
            "-",
        ],
        &input,
    );
    let out = stdout(&o);
    assert!(out.starts_with("# A Deployment that breaks"), "{out}");
    assert!(out.contains("privileged: false"), "{out}");
    assert!(!out.contains("hostNetwork"), "{out}");
}

#[test]
fn inline_suppressions_hide_findings_and_stale_ones_are_reported() {
    let o = usher(&[
        "check",
        "--no-bundled-policies",
        "--policy",
        "fixtures/fix/policies.yaml",
        "--format",
        "json",
        "fixtures/fix/suppressed.yaml",
    ]);
    let found: Vec<(String, u64)> = json_findings(&o)
        .into_iter()
        .map(|(_, line, code, _)| (code, line))
        .collect();
    assert_eq!(
        found,
        vec![("usher/unused-suppression".to_string(), 10)],
        "{}",
        stdout(&o)
    );
}

#[test]
fn policy_exceptions_skip_the_rules_they_name_on_what_they_match() {
    let run = |extra: &[&str], file: &str| {
        let o = usher(
            &[
                &[
                    "check",
                    "--no-bundled-policies",
                    "--policy",
                    "fixtures/fix/policies.yaml",
                ][..],
                extra,
                &["--format", "json", file],
            ]
            .concat(),
        );
        let mut codes: Vec<String> = json_findings(&o).into_iter().map(|f| f.2).collect();
        codes.sort();
        codes
    };
    let without = run(&[], "fixtures/fix/deployment.yaml");
    assert!(without.contains(&"fix-demo/autogen-no-host-network".to_string()));
    let with = run(
        &["--policy", "fixtures/fix/exception.yaml"],
        "fixtures/fix/deployment.yaml",
    );
    let expected: Vec<String> = without
        .iter()
        .filter(|c| *c != "fix-demo/autogen-no-host-network")
        .cloned()
        .collect();
    assert_eq!(with, expected);
    // A Pod is not matched by the exception: its rule still applies.
    let pod = run(
        &["--policy", "fixtures/fix/exception.yaml"],
        "fixtures/fix/suppressed.yaml",
    );
    assert_eq!(pod, vec!["usher/unused-suppression".to_string()]);
}

#[test]
fn explain_adds_related_policies_and_written_rules() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let knowledge = root().join("fixtures/demo/knowledge");
    // Words only (a model folder that is not there), so the test does not depend on the model.
    std::fs::write(
        ws.join(".usher.yaml"),
        format!(
            "knowledge:\n  model: no-model\n  sources:\n    - {}\n",
            knowledge.display()
        ),
    )
    .unwrap();
    std::fs::write(
        ws.join("db.yaml"),
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: orders-postgres\n  namespace: shop\n\
         spec:\n  serviceName: orders-postgres\n  selector:\n    matchLabels:\n      app: orders-postgres\n  \
         template:\n    metadata:\n      labels:\n        app: orders-postgres\n    spec:\n      \
         containers:\n      - name: postgres\n        image: registry.shop.example/postgres:16.4\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(args)
            .current_dir(ws)
            .output()
            .unwrap()
    };
    // No index yet: a clear error, usage exit code.
    let o = run(&["check", "--explain", "db.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("run `usher index` first"), "{err}");

    let o = run(&["index", "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["check", "--explain", "db.yaml"]);
    let out = stdout(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("words only"), "{err}");
    // The wiki's rules come up, with their files and lines.
    let related: Vec<&str> = out
        .lines()
        .filter(|l| l.ends_with("[knowledge/related]"))
        .collect();
    assert!(!related.is_empty(), "{out}");
    assert!(
        related
            .iter()
            .all(|l| l.starts_with("db.yaml:2:7: info: related ")),
        "{out}"
    );
    assert!(
        related
            .iter()
            .any(|l| l.contains("related doc: Platform rules › ")),
        "a section of the wiki: {out}"
    );
    assert!(out.contains("platform-rules.md:"), "{out}");
    // Without the model no relevance is known, so no written-rule findings.
    assert!(!out.contains("[knowledge/written-rule]"), "{out}");
    // Policy findings keep their notes; without --explain, no knowledge at all.
    let o = run(&["check", "db.yaml"]);
    assert!(!stdout(&o).contains("knowledge/"), "{}", stdout(&o));
    // --explain does not mix with --fix.
    let o = run(&["check", "--explain", "--fix", "db.yaml"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `usher check --no-config --crd CRD FILE`.
fn check_with_crd(crd: &Path, file: &Path) -> Output {
    usher(&[
        "check",
        "--no-config",
        "--crd",
        crd.to_str().unwrap(),
        file.to_str().unwrap(),
    ])
}

/// A CRD document longer than tree-sitter-yaml reads (more than 32,767 lines) is still loaded
/// with `--crd`, and a broken one is reported with its line.
#[test]
fn crd_documents_over_32767_lines_are_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let mut crd = String::from(
        "# a generated CRD, 11,000 fields long\n---\napiVersion: apiextensions.k8s.io/v1\n\
         kind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  \
         group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  \
         versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      \
         openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            \
         type: object\n            properties:\n",
    );
    for i in 0..11_000 {
        crd.push_str(&format!(
            "              f{i}:\n                type: integer\n                description: field {i}\n"
        ));
    }
    assert!(crd.lines().count() > 33_000);
    let crd_path = dir.path().join("widgets.yaml");
    std::fs::write(&crd_path, &crd).unwrap();
    let widget = dir.path().join("widget.yaml");
    std::fs::write(
        &widget,
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  f10999: ten\n",
    )
    .unwrap();
    let o = check_with_crd(&crd_path, &widget);
    let out = stdout(&o);
    assert!(
        out.contains("widget.yaml:6:11: error:") && out.contains("f10999"),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.contains("missing-schema"), "{out}");

    // A syntax error past line 32,767: the file and line are reported.
    let broken = crd.replacen("description: field 10999", "description: [field 10999", 1);
    std::fs::write(&crd_path, &broken).unwrap();
    let o = check_with_crd(&crd_path, &widget);
    let err = String::from_utf8_lossy(&o.stderr);
    let line = broken
        .lines()
        .position(|l| l.contains("[field 10999"))
        .unwrap()
        + 1;
    assert!(
        err.contains("widgets.yaml") && err.contains(&format!("line {}", line + 1)),
        "line {line}: {err}"
    );
}

/// Argo Workflows' WorkflowTemplate CRD (42,872 lines) from the corpus.
#[test]
fn the_corpus_argo_workflowtemplate_crd_is_loaded() {
    let crd = root().join("../shared/corpus/crds/argoproj.io_workflowtemplates.yaml");
    if !crd.is_file() {
        eprintln!("notice: {} is absent; skipping", crd.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wt = dir.path().join("wt.yaml");
    std::fs::write(
        &wt,
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata:\n  name: x\n\
         spec:\n  entrypoint: main\n  templatez: []\n",
    )
    .unwrap();
    let o = check_with_crd(&crd, &wt);
    let out = stdout(&o);
    assert!(
        out.contains("wt.yaml:7:3:") && out.contains("templatez"),
        "{out}"
    );
    assert!(!out.contains("missing-schema"), "{out}");
}

#[test]
fn under_indented_flow_lines_are_read_as_kubectl_reads_them() {
    // The shape of Argo Workflows' examples: the closing `"]` of a multi-line string sits at the
    // key's indentation. kubectl accepts it; usher must analyse the Pod, not stop at the YAML.
    let o = usher_stdin(
        &["check", "--no-config", "--stdin-filename", "pod.yaml", "-"],
        b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: build\nspec:\n  containers:\n  - name: build\n    image: golang:1.22\n    command: [sh, -c]\n    args: [\"\n      cd /src &&\n      go build .\n    \"]\n    imagePullPolicyy: Always\n",
    );
    let out = stdout(&o);
    assert!(!out.contains("yaml/"), "{out}");
    assert!(
        out.contains("pod.yaml:14:5:") && out.contains("imagePullPolicyy"),
        "the Pod was not analysed:\n{out}"
    );
}

/// The corpus index says which of its ~2,700 manifests are valid YAML (by a conventional YAML
/// parser, the behaviour kubectl shares). usher must report a YAML error for exactly the
/// invalid ones: no valid manifest refused, no invalid one let through.
#[test]
fn the_corpus_manifests_are_valid_yaml_exactly_where_the_index_says() {
    let corpus = root().join("../shared/corpus");
    let index = corpus.join("manifests-index.tsv");
    let Ok(index) = std::fs::read_to_string(&index) else {
        eprintln!("notice: ../shared/corpus is absent; skipping");
        return;
    };
    let mut invalid = std::collections::BTreeSet::new();
    let mut header = index.lines().next().unwrap_or_default().split('\t');
    let column = header
        .position(|h| h == "valid_yaml")
        .expect("valid_yaml column");
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.get(column).is_some_and(|v| *v != "yes") {
            invalid.insert(corpus.join(cols[0]));
        }
    }
    assert!(!invalid.is_empty());
    let o = usher(&[
        "check",
        "--no-config",
        "--format",
        "json",
        "--missing-schemas",
        "ignore",
        corpus.join("manifests").to_str().unwrap(),
    ]);
    let doc: Json = serde_json::from_slice(&o.stdout).expect("JSON output");
    let mut refused = std::collections::BTreeSet::new();
    for file in doc["files"].as_array().unwrap() {
        let yaml_error =
            file["findings"].as_array().unwrap().iter().any(|f| {
                f["severity"] == "error" && f["code"].as_str().unwrap().starts_with("yaml/")
            });
        if yaml_error {
            refused.insert(std::path::PathBuf::from(file["path"].as_str().unwrap()));
        }
    }
    let files = doc["files"].as_array().unwrap().len();
    assert!(files > 2600, "only {files} files checked");
    assert_eq!(refused, invalid);
}

#[test]
fn plain_scalars_are_read_as_kubernetes_reads_them() {
    // The "Norway problem": go-yaml v2 (kubectl, the API server) reads `NO` and `on` as
    // booleans (and `0644` as octal: see the lowering's unit tests).
    let o = usher_stdin(
        &["check", "--no-config", "--format", "json", "-"],
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  country: NO\n  quoted: \"NO\"\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: nginx:1.27\n    env:\n    - name: X\n      value: on\n  volumes:\n  - name: v\n    configMap:\n      name: c\n      defaultMode: 0644\n",
    );
    let doc: Json = serde_json::from_slice(&o.stdout).expect("JSON output");
    let findings = doc["files"][0]["findings"].as_array().unwrap();
    let types: Vec<(&str, &str)> = findings
        .iter()
        .filter(|f| f["code"] == "schema/type")
        .map(|f| {
            (
                f["message"].as_str().unwrap(),
                f["fixes"][0]["edits"][0]["new_text"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(types.len(), 2, "{findings:#?}");
    assert!(types[0].0.contains("`data.country` must be a string, found boolean false (Kubernetes reads the unquoted `NO` as false"), "{types:?}");
    assert_eq!(types[0].1, "\"NO\"");
    assert!(types[1].0.contains("unquoted `on` as true"), "{types:?}");
}
