//! Benchmark of the policy engine: evaluations per second of the bundled pack plus the
//! classic policies of Kyverno's library on the corpus manifests, and the latency a keystroke
//! gains in the language server's analysis with 300 policies loaded. Prints figures; asserts
//! nothing.
//!
//! Run: `cargo bench -p usher --bench policy`.

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

fn classic(p: &Policy) -> bool {
    p.rules.iter().any(|r| {
        matches!(
            r.rule_type,
            RuleType::Pattern
                | RuleType::AnyPattern
                | RuleType::Deny
                | RuleType::Foreach
                | RuleType::PodSecurity
        )
    })
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

fn main() {
    let mut policies = usher::policy::bundled();
    let library = root().join("../shared/corpus/kyverno-policies");
    let manifests = root().join("../shared/corpus/manifests");
    if library.is_dir() {
        let (loaded, _) = usher::policy::load_paths(std::slice::from_ref(&library));
        policies.extend(loaded.into_iter().filter(classic));
    } else {
        println!(
            "notice: ../shared/corpus is absent; only the bundled pack and generated resources are used"
        );
    }
    let rules: usize = policies.iter().map(|p| p.rules.len()).sum();
    println!(
        "policies: {} ({rules} rules; bundled pack + classic library policies)",
        policies.len()
    );

    // 1. Evaluations per second on the corpus manifests.
    // USHER_BENCH_ONLY=keystroke skips this part (for profiling the keystroke part).
    let keystroke_only = std::env::var("USHER_BENCH_ONLY").is_ok_and(|v| v == "keystroke");
    let resources = if manifests.is_dir() && !keystroke_only {
        documents(&manifests)
    } else {
        Vec::new()
    };
    if !resources.is_empty() {
        let opts = EvalOptions::default();
        let start = Instant::now();
        let mut outcomes = 0usize;
        for r in &resources {
            outcomes += evaluate_all(&policies, r, &opts).len();
        }
        let t = start.elapsed();
        let pairs = resources.len() * policies.len();
        println!(
            "evaluate {} policies on {} corpus resources: {:.2} s, {:.0} policy×resource checks/s, {outcomes} rule results ({:.0} rule evaluations/s)",
            policies.len(),
            resources.len(),
            t.as_secs_f64(),
            pairs as f64 / t.as_secs_f64(),
            outcomes as f64 / t.as_secs_f64()
        );
    }

    // 2. Added latency per keystroke: a 2,000-line file, 300 policies, 300 one-character edits.
    let mut text = String::new();
    let mut i = 0;
    while text.lines().count() < 2_000 {
        text.push_str(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: shop\n  labels: {{app.kubernetes.io/name: app-{i}, app.kubernetes.io/part-of: shop}}\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {{app.kubernetes.io/name: app-{i}}}\n  template:\n    metadata:\n      labels: {{app.kubernetes.io/name: app-{i}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/shop/app-{i}:1.0.{i}\n        resources:\n          requests: {{cpu: 100m, memory: 128Mi}}\n          limits: {{memory: 256Mi}}\n        securityContext:\n          allowPrivilegeEscalation: false\n          readOnlyRootFilesystem: true\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\n  namespace: shop\nspec:\n  selector: {{app.kubernetes.io/name: app-{i}}}\n  ports:\n  - {{name: http, port: 80, targetPort: 8080}}\n---\n"
        ));
        i += 1;
    }
    let lines = text.lines().count();
    // 300 policies: the set above, repeated under other names when it has fewer.
    let mut loaded: Vec<Policy> = Vec::new();
    let mut copy = 0;
    while loaded.len() < 300 && !policies.is_empty() {
        for p in &policies {
            if loaded.len() == 300 {
                break;
            }
            let mut p = p.clone();
            if copy > 0 {
                p.name = format!("{}-copy{copy}", p.name);
            }
            loaded.push(p);
        }
        copy += 1;
    }
    // The policy part alone: all loaded policies on one Deployment of the file.
    {
        let doc = YamlFile::parse(&text);
        let deployment = doc.docs[0].root().expect("deployment").to_json();
        let opts = EvalOptions::default();
        let mut times = Vec::new();
        let mut results = 0;
        for _ in 0..300 {
            let start = Instant::now();
            results = evaluate_all(&loaded, &deployment, &opts).len();
            times.push(start.elapsed());
        }
        times.sort();
        println!(
            "evaluate {} policies on one Deployment ({results} rule results): p50 {:?}, p99 {:?}",
            loaded.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    let catalog = Catalog::builtin();
    for (label, set) in [("no policies", Vec::new()), ("300 policies", loaded)] {
        let count = set.len();
        let mut analyzer = Analyzer::new(catalog.clone(), SchemaCheckOptions::default());
        analyzer.set_policies(set, None);
        let mut current = text.clone();
        let mut file = YamlFile::parse(&current);
        analyzer.analyze_parsed(&current, &file);
        let mut times = Vec::new();
        // Typing: each keystroke inserts one character into a resource's name, so every edit
        // yields a document never seen before (no cache hit) and only that document changes.
        let marker = "\n  namespace: shop";
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
        println!(
            "keystroke analysis, {lines}-line file, {findings} findings, {label} ({count} loaded): p50 {:?}, p99 {:?}, max {:?}",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times[times.len() - 1]
        );
    }
}
