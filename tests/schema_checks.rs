//! Schema checks on resources written for this project: one focused case per rule.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use usher::analysis::Analyzer;
use usher::schema::{Catalog, SchemaCheckOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn analyzer() -> Analyzer {
    let (catalog, errors) = Catalog::with_crds(&[root().join("fixtures/crds")]);
    assert!(errors.is_empty(), "{errors:?}");
    Analyzer::new(Arc::new(catalog), SchemaCheckOptions::default())
}

/// (code, text of the finding's range) for every finding.
fn check(text: &str) -> Vec<(String, String)> {
    analyzer()
        .analyze_text(text)
        .findings()
        .into_iter()
        .map(|f| (f.code.to_string(), text[f.range.clone()].to_string()))
        .collect()
}

fn codes(text: &str) -> Vec<String> {
    check(text).into_iter().map(|(c, _)| c).collect()
}

const DB: &str = "apiVersion: platform.acme.io/v1alpha1\nkind: Database\nmetadata:\n  name: db\nspec:\n  engine: postgres\n  owner: payments\n";

fn db(extra: &str) -> String {
    format!("{DB}{extra}")
}

#[test]
fn a_valid_custom_resource_is_clean() {
    assert!(check(DB).is_empty(), "{:?}", check(DB));
}

#[test]
fn crd_constraints() {
    assert_eq!(
        check(&db("  engine: mysql\n"))
            .iter()
            .filter(|(c, _)| c == "schema/enum")
            .count(),
        1
    );
    assert_eq!(
        check(&db("  region: eu-west-1\n")),
        vec![("schema/pattern".into(), "eu-west-1".into())]
    );
    assert_eq!(
        check(&db("  storageGB: 20000\n")),
        vec![("schema/maximum".into(), "20000".into())]
    );
    assert_eq!(
        check(&db("  owner2: x\n")),
        vec![("schema/unknown-field".into(), "owner2".into())]
    );
    let long = "x".repeat(64);
    assert_eq!(
        codes(&db(&format!("  version: \"1\"\n  description: {long}\n"))),
        Vec::<String>::new()
    );
    assert_eq!(
        codes(&format!("{DB}  version: 1.x\n")),
        vec!["schema/pattern"]
    );
}

#[test]
fn required_fields_are_reported_on_the_parent_key() {
    let text = "apiVersion: platform.acme.io/v1alpha1\nkind: Database\nmetadata: {name: db}\nspec:\n  engine: redis\n";
    assert_eq!(check(text), vec![("schema/required".into(), "spec".into())]);
}

#[test]
fn list_types_are_unique() {
    let set = db("  allowedCIDRs: [10.0.0.0/8, 10.0.0.0/8]\n");
    assert_eq!(codes(&set), vec!["schema/duplicate-item"]);
    let map = db("  users:\n  - {name: a, role: admin}\n  - {name: a, role: readonly}\n");
    assert_eq!(codes(&map), vec!["schema/duplicate-item"]);
    let ok = db("  users:\n  - {name: a, role: admin}\n  - {name: b, role: readonly}\n");
    assert!(codes(&ok).is_empty());
    // Built-in list maps: container ports keyed by (containerPort, protocol) with TCP default.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: x\n    ports:\n    - containerPort: 80\n    - {containerPort: 80, protocol: TCP}\n    - {containerPort: 80, protocol: UDP}\n";
    assert_eq!(codes(pod), vec!["schema/duplicate-item"]);
    let two = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: x}\n  - {name: c, image: z}\n";
    assert_eq!(codes(two), vec!["schema/duplicate-item"]);
}

#[test]
fn max_items_nullable_preserve_unknown_embedded_int_or_string() {
    let cidrs: Vec<String> = (0..11).map(|i| format!("10.0.{i}.0/24")).collect();
    assert_eq!(
        codes(&db(&format!("  allowedCIDRs: [{}]\n", cidrs.join(", ")))),
        vec!["schema/max-items"]
    );
    // nullable: null accepted; a null on a non-nullable CRD field is a warning.
    assert!(codes(&db("  description: null\n")).is_empty());
    assert_eq!(codes(&db("  storageGB: null\n")), vec!["schema/null"]);
    // preserve-unknown-fields: anything goes below.
    assert!(
        codes(&db(
            "  parameters: {max_connections: 200, nested: {a: [1, 2]}}\n"
        ))
        .is_empty()
    );
    // embedded resource: apiVersion/kind/metadata allowed and metadata validated.
    assert!(codes(&db("  connectionSecretTemplate:\n    apiVersion: v1\n    kind: Secret\n    metadata: {name: s}\n    type: Opaque\n")).is_empty());
    assert_eq!(
        codes(&db(
            "  connectionSecretTemplate:\n    apiVersion: v1\n    kind: Secret\n    metadata: {nmae: s}\n"
        )),
        vec!["schema/unknown-field"]
    );
    // int-or-string.
    assert!(codes(&db("  maintenanceWindow: 3\n")).is_empty());
    assert!(codes(&db("  maintenanceWindow: sun-03:00\n")).is_empty());
    assert_eq!(
        codes(&db("  maintenanceWindow: [1]\n")),
        vec!["schema/type"]
    );
}

#[test]
fn builtin_types_formats_and_quantities() {
    let pod = |c: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: c\n    image: x\n{c}"
        )
    };
    assert!(
        codes(&pod(
            "    resources: {limits: {cpu: 500m, memory: 128Mi}, requests: {cpu: 0.5}}\n"
        ))
        .is_empty()
    );
    assert_eq!(
        codes(&pod("    resources: {limits: {memory: 128MB}}\n")),
        vec!["schema/format"]
    );
    assert_eq!(
        codes(&pod("    ports: [{containerPort: 99999999999}]\n")),
        vec!["schema/format"]
    );
    assert_eq!(codes(&pod("    stdin: \"yes\"\n")), vec!["schema/type"]);
    assert_eq!(codes(&pod("    args: [1, two]\n")), vec!["schema/type"]);
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  good: aGVsbG8=\n  bad: hello world!\n";
    assert_eq!(
        check(secret),
        vec![("schema/format".into(), "hello world!".into())]
    );
    // Labels are a string map: a number is a type error.
    assert_eq!(
        codes("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {tier: 3}\n"),
        vec!["schema/type"]
    );
}

#[test]
fn kinds_and_api_versions() {
    assert_eq!(
        check("apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: x}\n"),
        vec![("schema/unknown-kind".into(), "Deploymnet".into())]
    );
    assert_eq!(
        check("apiVersion: app/v1\nkind: Deployment\nmetadata: {name: x}\n"),
        vec![("schema/unknown-api-version".into(), "app/v1".into())]
    );
    assert_eq!(
        codes("apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: x}\n"),
        vec!["schema/removed-api"]
    );
    assert_eq!(
        codes("apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: x}\n"),
        vec!["schema/removed-api"]
    );
    assert_eq!(
        codes("kind: Service\nmetadata: {name: x}\n"),
        vec!["schema/missing-api-version"]
    );
    assert!(codes("kind: thing\nname: not kubernetes\n").is_empty());
    // v1 List items are checked one by one.
    assert_eq!(
        codes(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n  dta: {}\n"
        ),
        vec!["schema/unknown-field"]
    );
    // Kustomize files are client-side: left alone.
    assert!(codes("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n").is_empty());
}

#[test]
fn one_broken_document_does_not_stop_the_others() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: [unclosed\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndta: {}\n";
    let got = codes(text);
    assert!(got.contains(&"yaml/syntax".to_string()), "{got:?}");
    assert!(got.contains(&"schema/unknown-field".to_string()), "{got:?}");
}

#[test]
fn every_corpus_crd_loads() {
    let dir = root().join("../shared/corpus/crds");
    if !dir.is_dir() {
        println!("notice: ../shared/corpus is absent; CRD loading test skipped");
        return;
    }
    let (catalog, errors) = Catalog::with_crds(&[dir]);
    let crds = catalog
        .kinds
        .iter()
        .filter(|k| matches!(k.source, usher::schema::KindSource::Crd { .. }))
        .count();
    println!("loaded {crds} CRD versions, {} errors", errors.len());
    assert!(errors.is_empty(), "{:?}", &errors[..errors.len().min(5)]);
    assert!(crds > 1000, "{crds}");
}
