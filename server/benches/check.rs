//! Benchmark of the foundation: lowering + schema validation throughput, `usher check`
//! end-to-end, and re-validation after a one-character edit. Prints figures; asserts nothing.
//!
//! Run: `cargo bench -p usher --bench check` (or `make bench`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use usher::analysis::Analyzer;
use usher::schema::{Catalog, SchemaCheckOptions};
use usher::yaml::YamlFile;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A realistic multi-document file of about `lines` lines: Deployments, Services, ConfigMaps.
fn generate(lines: usize) -> (String, usize) {
    let mut out = String::new();
    let mut i = 0;
    let mut resources = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: shop\n  labels:\n    app.kubernetes.io/name: app-{i}\n    app.kubernetes.io/part-of: shop\nspec:\n  replicas: {r}\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: app-{i}\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: app-{i}\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/shop/app-{i}:1.{i}.0\n        imagePullPolicy: IfNotPresent\n        ports:\n        - containerPort: 8080\n          name: http\n        env:\n        - name: MODE\n          value: production\n        resources:\n          requests: {{cpu: 100m, memory: 128Mi}}\n          limits: {{memory: 256Mi}}\n        readinessProbe:\n          httpGet: {{path: /ready, port: http}}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\nspec:\n  selector:\n    app.kubernetes.io/name: app-{i}\n  ports:\n  - name: http\n    port: 80\n    targetPort: http\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i}-config\ndata:\n  settings.json: |\n    {{\"feature\": true, \"level\": {i}}}\n---\n",
            r = 1 + i % 3
        ));
        i += 1;
        resources += 3;
    }
    (out, resources)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let catalog = Catalog::builtin();
    let (text, resources) = generate(20_000);
    let lines = text.lines().count();
    println!(
        "generated file: {lines} lines, {resources} resources, {} KiB",
        text.len() / 1024
    );

    // 1. Lowering + validation in process (documents in parallel), cold cache each round.
    let rounds = 5;
    let start = Instant::now();
    let mut findings = 0;
    for _ in 0..rounds {
        let analyzer = Analyzer::new(catalog.clone(), SchemaCheckOptions::default());
        findings += analyzer.analyze_text(&text).len();
    }
    let per_round = start.elapsed() / rounds;
    println!(
        "lower + validate (in process, documents in parallel on 2 cores): {:.1} ms per file, {:.0} resources/s, {:.1} MiB/s ({} findings)",
        per_round.as_secs_f64() * 1e3,
        resources as f64 / per_round.as_secs_f64(),
        text.len() as f64 / per_round.as_secs_f64() / 1048576.0,
        findings / rounds as usize
    );

    // 2. Re-validation after a one-character edit (incremental: only the touched document).
    let analyzer = Analyzer::new(catalog.clone(), SchemaCheckOptions::default());
    let mut current = text.clone();
    let mut file = YamlFile::parse(&current);
    analyzer.analyze_parsed(&current, &file);
    let mut times = Vec::new();
    let positions: Vec<usize> = current
        .match_indices("replicas: ")
        .map(|(i, _)| i + 10)
        .collect();
    for (n, &pos) in positions.iter().cycle().take(300).enumerate() {
        let digit = char::from(b'1' + (n % 9) as u8);
        let start = Instant::now();
        current.replace_range(pos..pos + 1, &digit.to_string());
        file.apply_edit(&current, pos, pos + 1, pos + 1);
        let result = analyzer.analyze_parsed(&current, &file);
        times.push(start.elapsed());
        std::hint::black_box(result);
    }
    times.sort();
    println!(
        "re-validate after a 1-char edit ({lines} lines, {} edits): p50 {:?}, p99 {:?}, max {:?}",
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1]
    );

    // 3. `usher check` end to end (parallel over files) on the generated file and the corpus.
    let bin = root().join("target/release/usher");
    if !bin.is_file() {
        println!(
            "notice: target/release/usher not built; end-to-end figures skipped (run `cargo build --release`)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("usher-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file_path = dir.join("generated.yaml");
    std::fs::write(&file_path, &text).unwrap();
    // Eight copies so both cores have work, as `usher check` parallelises over files.
    for k in 0..8 {
        std::fs::write(dir.join(format!("copy-{k}.yaml")), &text).unwrap();
    }
    let run = |args: &[&str]| {
        let start = Instant::now();
        let out = std::process::Command::new(&bin)
            .args(args)
            .output()
            .unwrap();
        (
            start.elapsed(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mut best = Duration::MAX;
    for _ in 0..3 {
        best = best.min(run(&["check", "--no-config", "-q", dir.to_str().unwrap()]).0);
    }
    let total = resources * 9;
    println!(
        "usher check on 9 generated files ({total} resources): {:.0} ms, {:.0} resources/s (wall, incl. start-up)",
        best.as_secs_f64() * 1e3,
        total as f64 / best.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    let corpus = root().join("../shared/corpus/manifests");
    if corpus.is_dir() {
        let mut best = (Duration::MAX, String::new());
        for _ in 0..3 {
            let r = run(&["check", "--no-config", corpus.to_str().unwrap()]);
            if r.0 < best.0 {
                best = r;
            }
        }
        let summary = best.1.lines().last().unwrap_or_default().to_string();
        let resources: usize = summary
            .split('(')
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        println!(
            "usher check on ../shared/corpus/manifests: {:.0} ms, {:.0} resources/s [{summary}]",
            best.0.as_secs_f64() * 1e3,
            resources as f64 / best.0.as_secs_f64()
        );
    } else {
        println!("notice: ../shared/corpus is absent; corpus figures skipped");
    }
    let _ = Arc::strong_count(&catalog);
}
