//! Benchmark of CEL evaluation: expressions per second (one typical Pod Security expression,
//! and the whole CEL part of Kyverno's library — validate.cel rules and ValidatingPolicies —
//! on the corpus manifests), and the latency a keystroke gains in the language server's
//! analysis of a 2,000-line file with those policies loaded. Prints figures; asserts nothing.
//!
//! Run: `cargo bench -p usher --bench cel`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use usher::analysis::Analyzer;
use usher::policy::engine::{EvalOptions, evaluate_all};
use usher::policy::{Policy, RuleType};
use usher::schema::{Catalog, SchemaCheckOptions};
use usher::yaml::YamlFile;

// The allocator of the usher binary, so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn is_cel(p: &Policy) -> bool {
    p.is_cel_kind() || p.rules.iter().any(|r| r.rule_type == RuleType::Cel)
}

fn documents(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
    {
        let p = e.path();
        if !e.file_type().is_file()
            || !matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml"))
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(p) else {
            continue;
        };
        for d in &YamlFile::parse(&text).docs {
            if let Some(r) = d.root() {
                let j = r.to_json();
                if j.get("kind").is_some() && j.get("apiVersion").is_some() {
                    out.push(j);
                }
            }
        }
    }
    out
}

/// The library's CEL folders (`*-cel`, `*-vpol`), with their policies' test resources left out.
fn library_dirs(library: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(library)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir()
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.ends_with("-cel") || n.ends_with("-vpol"))
                })
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// A 2,000-line file of Deployments and Services.
fn two_thousand_lines() -> String {
    let mut text = String::new();
    let mut i = 0;
    while text.lines().count() < 2_000 {
        text.push_str(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: shop\n  labels: {{app.kubernetes.io/name: app-{i}, app.kubernetes.io/part-of: shop}}\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {{app.kubernetes.io/name: app-{i}}}\n  template:\n    metadata:\n      labels: {{app.kubernetes.io/name: app-{i}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/shop/app-{i}:1.0.{i}\n        resources:\n          requests: {{cpu: 100m, memory: 128Mi}}\n          limits: {{memory: 256Mi}}\n        securityContext:\n          allowPrivilegeEscalation: false\n          readOnlyRootFilesystem: true\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\n  namespace: shop\nspec:\n  selector: {{app.kubernetes.io/name: app-{i}}}\n  ports:\n  - {{name: http, port: 80, targetPort: 8080}}\n---\n"
        ));
        i += 1;
    }
    text
}

fn main() {
    // 1. One expression, compiled once, evaluated many times (the inner loop of every rule).
    {
        let pod: serde_json::Value = serde_json::from_str(
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"app":"web"}},
                "spec":{"containers":[
                  {"name":"app","image":"shop/app:1.0","securityContext":{"allowPrivilegeEscalation":false,"runAsNonRoot":true}},
                  {"name":"sidecar","image":"shop/proxy:2.1","securityContext":{"allowPrivilegeEscalation":false,"runAsNonRoot":true}}],
                  "initContainers":[{"name":"init","image":"shop/init:1","securityContext":{"allowPrivilegeEscalation":false}}]}}"#,
        )
        .unwrap();
        let source = "object.spec.containers.all(c, has(c.securityContext) && \
                      has(c.securityContext.allowPrivilegeEscalation) && \
                      c.securityContext.allowPrivilegeEscalation == false) && \
                      (!has(object.spec.initContainers) || object.spec.initContainers.all(c, \
                      has(c.securityContext) && c.securityContext.?allowPrivilegeEscalation.orValue(true) == false))";
        let compiled = usher::cel::compile(source).expect("compiles");
        let mut vars = usher::cel::Vars::new();
        vars.set_json("object", &pod);
        let n = 200_000;
        let start = Instant::now();
        for _ in 0..n {
            let v = usher::cel::eval(&compiled, &vars).expect("evaluates");
            std::hint::black_box(v);
        }
        let t = start.elapsed();
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(usher::cel::cost::estimate(compiled.expression(), &vars));
        }
        let cost = start.elapsed();
        println!(
            "one expression (disallow privilege escalation, 3 containers), compiled once: {n} evaluations in {:.2} s = {:.0} evaluations/s ({:.2} µs each, of which the cost check {:.2} µs)",
            t.as_secs_f64(),
            n as f64 / t.as_secs_f64(),
            t.as_secs_f64() * 1e6 / n as f64,
            cost.as_secs_f64() * 1e6 / n as f64
        );
    }

    let library = root().join("../shared/corpus/kyverno-policies");
    let manifests = root().join("../shared/corpus/manifests");
    if !library.is_dir() {
        println!(
            "notice: ../shared/corpus is absent; the library parts of this benchmark are skipped"
        );
        return;
    }
    let start = Instant::now();
    let (set, _) = usher::policy::load_paths_set(&library_dirs(&library));
    let policies: Vec<Policy> = set.policies.into_iter().filter(is_cel).collect();
    let validating = policies.iter().filter(|p| p.is_cel_kind()).count();
    println!(
        "CEL policies of the library: {} ({} validate.cel ClusterPolicies, {validating} ValidatingPolicy/VAP), loaded in {:.2} s",
        policies.len(),
        policies.len() - validating,
        start.elapsed().as_secs_f64()
    );

    // 2. The whole CEL library on the corpus manifests: CEL expressions evaluated per second.
    // USHER_BENCH_ONLY=keystroke skips this part (for profiling the keystroke part).
    let keystroke_only = std::env::var("USHER_BENCH_ONLY").is_ok_and(|v| v == "keystroke");
    let resources = if manifests.is_dir() && !keystroke_only {
        documents(&manifests)
    } else {
        Vec::new()
    };
    if !resources.is_empty() {
        let opts = EvalOptions::default();
        // A first pass compiles every expression (the cache keeps them); the timed pass is
        // what an editor session sees once the policies are loaded.
        for r in &resources {
            std::hint::black_box(evaluate_all(&policies, r, &opts).len());
        }
        let before = usher::cel::evaluations();
        let start = Instant::now();
        let mut outcomes = 0usize;
        for r in &resources {
            outcomes += evaluate_all(&policies, r, &opts).len();
        }
        let t = start.elapsed();
        let evaluations = usher::cel::evaluations() - before;
        println!(
            "{} CEL policies on {} corpus resources: {:.2} s, {evaluations} CEL expressions evaluated = {:.0} evaluations/s, {outcomes} rule results ({:.0}/s)",
            policies.len(),
            resources.len(),
            t.as_secs_f64(),
            evaluations as f64 / t.as_secs_f64(),
            outcomes as f64 / t.as_secs_f64()
        );
    }

    // 3. Added latency per keystroke: a 2,000-line file, 300 one-character edits.
    let text = two_thousand_lines();
    let lines = text.lines().count();
    {
        let doc = YamlFile::parse(&text);
        let deployment = doc.docs[0].root().expect("deployment").to_json();
        let opts = EvalOptions::default();
        let mut times = Vec::new();
        let mut results = 0;
        let before = usher::cel::evaluations();
        let runs = if keystroke_only { 3_000 } else { 300 };
        for _ in 0..runs {
            let start = Instant::now();
            results = evaluate_all(&policies, &deployment, &opts).len();
            times.push(start.elapsed());
        }
        let per_run = (usher::cel::evaluations() - before) / runs as u64;
        times.sort();
        println!(
            "{} CEL policies on one Deployment ({results} rule results, {per_run} expressions): p50 {:?}, p99 {:?}",
            policies.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    let catalog = Catalog::builtin();
    let mut p99s = Vec::new();
    for (label, set) in [
        ("no policies", Vec::new()),
        ("CEL library", policies.clone()),
    ] {
        let count = set.len();
        let mut analyzer = Analyzer::new(catalog.clone(), SchemaCheckOptions::default());
        analyzer.set_policies(set, None);
        let mut current = text.clone();
        let mut file = YamlFile::parse(&current);
        analyzer.analyze_parsed(&current, &file);
        let mut times = Vec::new();
        // Typing: each keystroke inserts one character into a Deployment's name, so every
        // edit yields a document never seen before (no cache hit) and only it changes.
        let marker = "\n  namespace: shop\n  labels";
        for k in 0..300 {
            let starts: Vec<usize> = current.match_indices(marker).map(|(p, _)| p).collect();
            let at = starts[(k * 7) % starts.len()];
            let ch = (b'a' + (k % 26) as u8) as char;
            let start = Instant::now();
            current.insert(at, ch);
            file.apply_edit(&current, at, at, at + 1);
            let a = analyzer.analyze_parsed(&current, &file);
            std::hint::black_box(a.len());
            times.push(start.elapsed());
        }
        times.sort();
        let findings = analyzer.analyze_parsed(&current, &file).len();
        let p99 = percentile(&times, 0.99);
        p99s.push(p99);
        println!(
            "keystroke analysis, {lines}-line file, {findings} findings, {label} ({count} loaded): p50 {:?}, p99 {p99:?}, max {:?}",
            percentile(&times, 0.5),
            times[times.len() - 1]
        );
    }
    println!(
        "added per-keystroke latency with the CEL library loaded: p99 {:?} (target ≤ 2 ms)",
        p99s[1].saturating_sub(p99s[0])
    );
}
