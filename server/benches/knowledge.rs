//! Knowledge index benchmark (issue 5): indexing throughput (chunks/s, BM25 only and with
//! embeddings), index size, open time, query latency p50/p99 (hybrid including the query
//! embedding, and BM25 alone) and the recall@10 of the HNSW graph against exact search on the
//! real embedded vectors; then the same for a generated Slack export of 100,000 messages.
//!
//! Every index is built by `usher::knowledge::build::build`, the function `usher index` runs.
//! Without the embedding model (`scripts/setup-model.sh`, or `$USHER_MODEL_DIR`) only the BM25
//! parts run; without ../shared/corpus the policy-library part is skipped.
//!
//! Knobs (environment): `USHER_BENCH_SLACK_MESSAGES` (default 100000),
//! `USHER_BENCH_SLACK_SUBSET` (messages of the export embedded to measure the embedding rate,
//! default 10000), `USHER_BENCH_EMBED_BUDGET` (seconds: the full export is embedded when the
//! measured rate says it takes at most this long, default 300).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use usher::config::PolicyConfig;
use usher::knowledge::build::{BuildOptions, BuildReport, Embeddings, Outcome, Progress, build};
use usher::knowledge::embed::Embedder;
use usher::knowledge::index::{Filters, KnowledgeIndex, Mode};
use usher::knowledge::vectors::VectorIndex;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Questions people ask a platform team (for latency and recall).
const QUESTIONS: &[&str] = &[
    "which region can I run a postgres database in?",
    "may I place the orders datastore in Frankfurt?",
    "do I need a PodDisruptionBudget for my deployment?",
    "how do I get a new namespace for my team?",
    "can containers run as root in production?",
    "what cpu and memory requests should I set?",
    "how do I roll back a failed deploy?",
    "is the latest tag allowed for images?",
    "who approves NetworkPolicy changes?",
    "when is the next cluster upgrade to 1.31?",
    "how do I rotate a database password stored in a Secret?",
    "why is my pod stuck in CrashLoopBackOff?",
    "can I use hostPath volumes?",
    "what labels are required on every workload?",
    "how do I expose a service with an Ingress?",
    "what is the on-call escalation for a prod incident?",
    "how many replicas should a production service have?",
    "how do I configure autoscaling with an HPA?",
    "are privileged containers allowed?",
    "where is the runbook for the payments api?",
    "how long are logs retained?",
    "how do I get access to the prod cluster?",
    "which base image should I use?",
    "can a CronJob run every minute?",
    "how do I add a readiness probe?",
    "can I put secrets in environment variables?",
    "how do I restrict egress traffic from my namespace?",
    "how do I schedule GPU workloads on special nodes?",
    "how do I debug DNS resolution in the cluster?",
    "who owns the ingress controller?",
    "is there a freeze on deploys before the holidays?",
    "what does the owner label need to contain?",
];

/// Timed runs of each question.
const ROUNDS: usize = 10;

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: u64) -> String {
    format!(
        "{:.1} MiB ({bytes} bytes)",
        bytes as f64 / (1u64 << 20) as f64
    )
}

fn dir_size(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("usher-bench-knowledge-{}", std::process::id()))
}

/// Builds a fresh index (nothing to reuse) and prints its throughput.
fn timed_build(label: &str, opts: &BuildOptions, embeddings: Embeddings<'_>) -> Box<BuildReport> {
    let _ = std::fs::remove_dir_all(&opts.dir);
    let mut warnings = Vec::new();
    let mut progress = |p: Progress<'_>| match p {
        Progress::Warning(w) => warnings.push(w),
        Progress::Notice(n) => println!("  notice: {n}"),
        _ => {}
    };
    let report = match build(opts, embeddings, &mut progress).expect("index builds") {
        Outcome::Built(r) => r,
        Outcome::UpToDate { .. } => unreachable!("a fresh folder is never up to date"),
    };
    if let Some(first) = warnings.first() {
        println!(
            "  ({} warnings, as `usher index` would print them; the first: {first})",
            warnings.len()
        );
    }
    let t = &report.timings;
    let vectors = if report.index.vectors.is_some() {
        format!(
            ", embed {} ({:.1} chunks/s), hnsw graph {}",
            secs(t.embed),
            report.embedded as f64 / t.embed.as_secs_f64().max(1e-9),
            secs(t.graph)
        )
    } else {
        String::new()
    };
    println!(
        "  {label}: {} chunks in {} = {:.0} chunks/s (read {}{vectors}, write {})",
        report.chunks,
        secs(t.total),
        report.chunks as f64 / t.total.as_secs_f64().max(1e-9),
        secs(t.read),
        secs(t.write),
    );
    report
}

/// Size of the index on disk, and the time to open it (best of three).
fn size_and_open(dir: &Path, graph_build: Option<Duration>) {
    let vectors = std::fs::metadata(dir.join("vectors.bin")).map_or(0, |m| m.len());
    println!("  index size: {} total", mib(dir_size(dir)));
    if vectors > 0 {
        println!(
            "  of which vectors.bin (vectors, ids, hnsw graph): {}",
            mib(vectors)
        );
    }
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let index = KnowledgeIndex::open(dir).expect("index opens");
        best = best.min(t.elapsed());
        drop(index);
    }
    match graph_build {
        Some(g) => println!(
            "  open: {} (hnsw graph read from vectors.bin; rebuilding it on open would add {})",
            ms(best),
            secs(g)
        ),
        None => println!("  open: {}", ms(best)),
    }
}

/// Query latency p50/p99 over the questions, hybrid (with the query embedding) and BM25.
fn latency(index: &KnowledgeIndex, embedder: Option<&Embedder>, questions: &[&str]) {
    let filters = Filters::default();
    let mut bm25 = Vec::new();
    let mut hybrid = Vec::new();
    let mut embed = Vec::new();
    let mut vector = Vec::new();
    let embedder = embedder.filter(|_| index.vectors.is_some());
    // One untimed round warms the caches.
    for round in 0..=ROUNDS {
        for q in questions {
            let t = Instant::now();
            let hits = index
                .search_mode(q, None, 10, &filters, Mode::Bm25)
                .unwrap();
            let took = t.elapsed();
            std::hint::black_box(hits);
            if round > 0 {
                bm25.push(took);
            }
            let Some(e) = embedder else { continue };
            // Each question as if asked for the first time: the model runs.
            e.forget_queries();
            let t = Instant::now();
            let qv = e.embed_query(q).unwrap();
            let embedded = t.elapsed();
            let hits = index
                .search_mode(q, Some(&qv), 10, &filters, Mode::Hybrid)
                .unwrap();
            let took = t.elapsed();
            std::hint::black_box(hits);
            let t = Instant::now();
            let near = index.vectors.as_ref().unwrap().search(&qv, 10);
            let searched = t.elapsed();
            std::hint::black_box(near);
            if round > 0 {
                hybrid.push(took);
                embed.push(embedded);
                vector.push(searched);
            }
        }
    }
    let n = bm25.len();
    let line = |label: &str, mut v: Vec<Duration>| {
        if v.is_empty() {
            return;
        }
        v.sort();
        println!(
            "  {label}: p50 {}, p99 {} ({n} queries: {} questions × {ROUNDS})",
            ms(pct(&v, 0.5)),
            ms(pct(&v, 0.99)),
            questions.len()
        );
    };
    line(
        "query latency, hybrid incl. query embedding (k = 10)",
        hybrid,
    );
    line("  of which the query embedding alone", embed);
    line("  hnsw search alone (k = 10)", vector);
    line("query latency, BM25 only (k = 10)", bm25);
}

/// Nearest vectors: (row, similarity), best first.
type Ranked = Vec<(usize, f32)>;

/// Recall@10 of the graph against exact search: the questions' vectors and up to 200 of the
/// chunks' own vectors as queries. A hit whose similarity ties the 10th exact one counts.
fn recall(vectors: &VectorIndex, embedder: &Embedder, questions: &[&str]) {
    let mut queries: Vec<Vec<f32>> = questions
        .iter()
        .map(|q| embedder.embed_query(q).unwrap())
        .collect();
    let step = (vectors.len() / 200).max(1);
    queries.extend(
        (0..vectors.len())
            .step_by(step)
            .take(200)
            .map(|i| vectors.vector(i).to_vec()),
    );
    let k = 10.min(vectors.len());
    let exact: Vec<Vec<(usize, f32)>> = queries.iter().map(|q| vectors.exact(q, k)).collect();
    let measure = |search: &dyn Fn(&[f32]) -> Ranked| {
        let mut found = 0;
        for (q, ex) in queries.iter().zip(&exact) {
            let kth = ex.last().map_or(f32::MIN, |x| x.1);
            let approx = search(q);
            found += approx
                .iter()
                .filter(|(i, s)| ex.iter().any(|x| x.0 == *i) || *s >= kth - 1e-6)
                .count()
                .min(k);
        }
        found as f64 / (k * queries.len()) as f64
    };
    // The graph itself (`search` compares every vector of a small index).
    let default = measure(&|q| vectors.search_ef(q, 10, usher::knowledge::vectors::EF_SEARCH));
    println!(
        "  hnsw recall@10 vs exact search: {default:.4} (target >= 0.98; {} queries: {} questions, {} chunk vectors; {} vectors)",
        queries.len(),
        questions.len(),
        queries.len() - questions.len(),
        vectors.len()
    );
    let by_ef: Vec<String> = [10, 16, 32, 64, 128]
        .iter()
        .map(|&ef| format!("ef {ef}: {:.4}", measure(&|q| vectors.search_ef(q, 10, ef))))
        .collect();
    println!(
        "  recall@10 by search width (default ef = {}): {}",
        usher::knowledge::vectors::EF_SEARCH,
        by_ef.join(", ")
    );
}

/// Throughput, size, open time, latency and recall for one set of sources.
fn bench_set(name: &str, opts: BuildOptions, embedder: Option<&Embedder>) {
    println!("\n== {name} ==");
    let mut bm25 = opts.clone();
    bm25.dir = opts.dir.with_extension("bm25");
    let report = timed_build("indexing, BM25 only", &bm25, Embeddings::Off);
    size_and_open(&bm25.dir, None);
    let Some(e) = embedder else {
        latency(&report.index, None, QUESTIONS);
        return;
    };
    drop(report);
    let _ = std::fs::remove_dir_all(&bm25.dir);
    let report = timed_build("indexing with embeddings", &opts, Embeddings::Model(e));
    size_and_open(&opts.dir, Some(report.timings.graph));
    latency(&report.index, Some(e), QUESTIONS);
    recall(report.index.vectors.as_ref().unwrap(), e, QUESTIONS);
    drop(report);
    let _ = std::fs::remove_dir_all(&opts.dir);
}

/// The machine's load average (other work on the machine slows every figure down).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| {
            let v: Vec<&str> = l.split_whitespace().take(3).collect();
            (v.len() == 3).then(|| format!("load average {} {} {}", v[0], v[1], v[2]))
        })
        .unwrap_or_else(|| "load average unknown".into())
}

fn main() {
    let started = Instant::now();
    println!(
        "knowledge index benchmark: {} cores, {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load()
    );
    let work = scratch();
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let embedder = match Embedder::locate(&root(), None).and_then(|f| Embedder::load(&f)) {
        Ok(e) => {
            println!("model: {} ({} dimensions)", e.model_id(), e.dimensions());
            Some(e)
        }
        Err(e) => {
            println!(
                "notice: {e}; embeddings, hybrid latency and hnsw recall are skipped (BM25 only)"
            );
            None
        }
    };

    // (a) The demo's written rules, the bundled policies and the built-in kinds.
    let mut demo = BuildOptions::new(work.join("demo"));
    demo.sources = vec![root().join("fixtures/demo/knowledge")];
    bench_set(
        "(a) fixtures/demo/knowledge + bundled policies + built-in kinds",
        demo,
        embedder.as_ref(),
    );

    // (b) The policy library, alone.
    let library = root().join("../shared/corpus/kyverno-policies");
    if library.is_dir() {
        let mut opts = BuildOptions::new(work.join("library"));
        opts.policies = PolicyConfig {
            paths: vec![library],
            bundled: Some(false),
            ..PolicyConfig::default()
        };
        opts.kinds = false;
        bench_set(
            "(b) policy library ../shared/corpus/kyverno-policies",
            opts,
            embedder.as_ref(),
        );
    } else {
        println!("\nnotice: ../shared/corpus is absent; the policy-library part is skipped");
    }

    slack(&work, embedder.as_ref());
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "\nbenchmark finished in {} ({})",
        secs(started.elapsed()),
        load()
    );
}

/// (c) A generated Slack export.
fn slack(work: &Path, embedder: Option<&Embedder>) {
    let messages = env_usize("USHER_BENCH_SLACK_MESSAGES", 100_000);
    let subset = env_usize("USHER_BENCH_SLACK_SUBSET", 10_000).min(messages);
    let budget = Duration::from_secs(env_usize("USHER_BENCH_EMBED_BUDGET", 300) as u64);
    println!("\n== (c) generated Slack export, {messages} messages ==");
    let export = work.join("slack-export");
    let t = Instant::now();
    let shape = generate_slack(&export, messages, 42);
    println!(
        "  generated in {}: {} channels, {} users, {} day files, {} threads with replies, {} messages ({} of them channel joins, skipped by the loader); {} on disk",
        secs(t.elapsed()),
        shape.channels,
        shape.users,
        shape.files,
        shape.threads,
        shape.messages,
        shape.joins,
        mib(dir_size(&export))
    );
    let mut opts = BuildOptions::new(work.join("slack-index"));
    opts.sources = vec![export.clone()];
    opts.policies.bundled = Some(false);
    opts.kinds = false;
    let report = timed_build("indexing, BM25 only", &opts, Embeddings::Off);
    let chunks = report.chunks;
    size_and_open(&opts.dir, None);
    latency(&report.index, None, QUESTIONS);
    drop(report);
    let _ = std::fs::remove_dir_all(&opts.dir);
    let Some(e) = embedder else {
        let _ = std::fs::remove_dir_all(&export);
        return;
    };

    // The embedding rate, measured on a smaller export of the same shape.
    println!("  -- with embeddings: first a {subset}-message export of the same shape --");
    let small = work.join("slack-export-small");
    generate_slack(&small, subset, 7);
    let mut small_opts = opts.clone();
    small_opts.dir = work.join("slack-index-small");
    small_opts.sources = vec![small.clone()];
    let report = timed_build(
        &format!("indexing {subset} messages with embeddings"),
        &small_opts,
        Embeddings::Model(e),
    );
    let per_chunk = report.timings.total.as_secs_f64() / report.chunks.max(1) as f64;
    let estimate = Duration::from_secs_f64(per_chunk * chunks as f64);
    println!(
        "  extrapolated to the full export ({chunks} chunks, linear in chunks; the hnsw graph grows a little faster): about {} with embeddings",
        secs(estimate)
    );
    if estimate > budget {
        println!(
            "  the full export is not embedded here (estimate above the {} s budget; USHER_BENCH_EMBED_BUDGET raises it); figures below are for the {subset}-message index",
            budget.as_secs()
        );
        size_and_open(&small_opts.dir, Some(report.timings.graph));
        latency(&report.index, Some(e), QUESTIONS);
        let vectors = report.index.vectors.as_ref().unwrap();
        recall(vectors, e, QUESTIONS);
        full_size_graph(work, vectors, chunks, e);
    } else {
        drop(report);
        let report = timed_build(
            &format!("indexing all {messages} messages with embeddings"),
            &opts,
            Embeddings::Model(e),
        );
        size_and_open(&opts.dir, Some(report.timings.graph));
        latency(&report.index, Some(e), QUESTIONS);
        recall(report.index.vectors.as_ref().unwrap(), e, QUESTIONS);
    }
    let _ = std::fs::remove_dir_all(&export);
    let _ = std::fs::remove_dir_all(&small);
}

/// The graph at the full export's size, without embedding it all: the real vectors of the
/// subset, each repeated with a little noise (synthetic, labelled so), to measure what
/// building the graph costs (what opening would cost if it were rebuilt), opening the
/// persisted graph, and recall at that size.
fn full_size_graph(work: &Path, real: &VectorIndex, n: usize, embedder: &Embedder) {
    if real.is_empty() || n <= real.len() {
        return;
    }
    println!(
        "  -- full-size graph check: {n} vectors made from the {} real ones plus noise (synthetic) --",
        real.len()
    );
    let mut rng = Rng(99);
    let vectors: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            let base = real.vector(i % real.len());
            let v: Vec<f32> = base
                .iter()
                .map(|x| x + 0.02 * ((rng.next() >> 11) as f32 / (1u64 << 53) as f32 - 0.5))
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect();
    let keys = (0..n)
        .map(|i| (format!("slack:synthetic:{i}"), format!("{i:032x}")))
        .collect();
    let t = Instant::now();
    let index = VectorIndex::build(real.dims, keys, vectors);
    let built = t.elapsed();
    let path = work.join("synthetic-vectors.bin");
    index.save(&path).unwrap();
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    drop(index);
    let mut best = Duration::MAX;
    let mut loaded = None;
    for _ in 0..3 {
        let t = Instant::now();
        let v = VectorIndex::load(&path).unwrap();
        best = best.min(t.elapsed());
        loaded = Some(v);
    }
    println!(
        "  hnsw graph build (= the cost of rebuilding it on every open): {}; vectors.bin {}; loading it with the graph: {}",
        secs(built),
        mib(size),
        ms(best)
    );
    recall(loaded.as_ref().unwrap(), embedder, QUESTIONS);
    let _ = std::fs::remove_file(&path);
}

// ---- The Slack export generator -------------------------------------------------------------

/// SplitMix64: small, seeded, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const FIRST: &[&str] = &[
    "Priya", "Tom", "Lee", "Sam", "Ana", "Jonas", "Mei", "Omar", "Lucia", "Ravi", "Ingrid", "Kofi",
    "Hana", "Diego", "Fatima", "Nils", "Chen", "Olga", "Mateo", "Aisha", "Yuki", "Pavel", "Zoe",
    "Emeka", "Sofia", "Arjun", "Lena", "Marco", "Noor", "Felix",
];
const LAST: &[&str] = &[
    "Raman", "Berg", "Okafor", "Schmidt", "Silva", "Novak", "Tanaka", "Haddad", "Rossi",
    "Kowalski", "Larsen", "Mensah", "Ivanova", "Garcia", "Nguyen",
];
const CHANNELS: &[&str] = &[
    "platform",
    "platform-help",
    "k8s-upgrades",
    "incidents",
    "deploys",
    "sre",
    "security",
    "observability",
    "databases",
    "networking",
    "ci-cd",
    "cost",
    "on-call",
    "team-payments",
    "team-search",
    "team-checkout",
    "data-eng",
    "dev-experience",
    "announcements",
    "random",
];
const SERVICES: &[&str] = &[
    "payments-api",
    "checkout-web",
    "search-indexer",
    "orders-service",
    "inventory-sync",
    "auth-gateway",
    "notifications",
    "pricing-engine",
    "recommendations",
    "billing-worker",
    "cart-api",
    "shipping-quotes",
    "fraud-scorer",
    "media-resizer",
    "report-builder",
];
const CLUSTERS: &[&str] = &[
    "prod-us-1",
    "prod-us-2",
    "prod-eu-1",
    "staging-eu-1",
    "staging-us-1",
    "dev-shared",
];
const REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
];
const KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "CronJob",
    "Job",
    "Ingress",
    "Service",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "NetworkPolicy",
    "ServiceAccount",
    "ConfigMap",
    "Secret",
    "DaemonSet",
    "PersistentVolumeClaim",
];
const VERSIONS: &[&str] = &["1.29", "1.30", "1.31", "1.32"];
const CPU: &[&str] = &["100m", "250m", "500m", "1", "2"];
const MEM: &[&str] = &["128Mi", "256Mi", "512Mi", "1Gi", "2Gi", "4Gi"];
const DAYS: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];
const ERRORS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "OOMKilled",
    "CreateContainerConfigError",
    "FailedScheduling: 0/12 nodes are available",
    "readiness probe failed: HTTP probe failed with statuscode: 503",
    "context deadline exceeded",
    "x509: certificate has expired or is not yet valid",
];

/// Opening messages: questions, announcements, reports.
const OPENERS: &[&str] = &[
    "Is it OK to run {svc} with a single replica in {cluster}? It's only internal traffic.",
    "Which region should the new {svc} database live in? Product wants {region}.",
    "Heads up: {cluster} gets upgraded to Kubernetes {ver} on {day} at {hour}:00 UTC. Please check your {kind}s for removed APIs.",
    "Reminder: every {kind} in prod needs the `owner` and `team` labels, the admission policy starts enforcing on {day}.",
    "{svc} pods are in {error} since the last deploy in {cluster}, anyone seen this?",
    "Can someone review my NetworkPolicy for {svc}? I want to allow egress only to {svc2} and DNS. {link}",
    "What are sane requests for {svc}? Thinking cpu {cpu} and memory {mem}, limits twice that.",
    "We're seeing p99 latency spikes on {svc} in {region}, started around {hour}:{minute} UTC. Incident ticket {ticket}.",
    "Do we allow `latest` image tags in staging? CI for {svc} pushes `images.shop.example/{team}/{svc}:latest`.",
    "New runbook for {svc} failovers is up: {link}. Please read before your next on-call shift.",
    "How do I get a new namespace for team {team}? The form in {link} 404s.",
    "PSA: privileged containers and hostPath volumes are blocked in {cluster} from now on. Ping {mention} if you need an exception.",
    "Postgres for {svc} is running out of disk, PVC is at {pct}%. Can we resize the PersistentVolumeClaim online?",
    "Is there a deploy freeze this week? We'd like to ship {svc} {semver} on {day}.",
    "Why does my CronJob for {svc} run twice at {hour}:00? concurrencyPolicy is Forbid.",
    "Cost report for last month: {cluster} is up {pct}% mostly because of {svc}. Requests are way above usage.",
    "Proposal: every production Deployment gets a PodDisruptionBudget with maxUnavailable 1. Objections? {link}",
    "HPA for {svc} scales to {num} replicas and then nodes run out. Should we cap maxReplicas?",
    "The ingress controller in {cluster} returns 502 for {svc} after the cert rotation, {error}",
    "Rotating the database password for {svc}: do I update the Secret and restart, or is there an operator for it?",
    "Quick poll: should {team} own the {svc} alerts or should they stay with SRE? cc {mention}",
    "Audit found containers running as root in {ns}. Please set runAsNonRoot: true in your pod securityContext.",
    "Can a StatefulSet for {svc} span two regions ({region} and {region2})? Legal says customer data stays in one region.",
    "DNS lookups from {ns} to {svc2}.{ns2}.svc are timing out intermittently in {cluster}.",
    "We're deprecating the old logging sidecar, switch to the node agent by {day}. Logs are kept 30 days in {region}.",
    "Anyone know how to give a ServiceAccount in {ns} read access to ConfigMaps in {ns2}?",
    "Access to prod clusters now goes through the break-glass flow, see {link}. Standing access is removed on {day}.",
    "GPU nodes are in the `gpu` node pool, use a nodeSelector and the toleration from {link}.",
    "Base images: please move to the distroless base, the old alpine one stops getting patches on {day}.",
    "Readiness probe for {svc} keeps failing during startup, should I add a startupProbe instead?",
];

/// Replies in threads.
const REPLIES: &[&str] = &[
    "No, prod needs at least 2 replicas and a PodDisruptionBudget, otherwise node drains take you down.",
    "Databases only run in us-east-1, backups and audit logging don't exist anywhere else.",
    "Looks like the {kind} still uses a removed API version, run `usher check` on the manifests.",
    "I had the same with {svc2}, it was the memory limit. Bump it to {mem} and it stopped.",
    "Approved, but please add an egress rule for the metrics endpoint too.",
    "We usually start at cpu {cpu} / memory {mem} and tune after a week of metrics.",
    "Rolled back to {semver}, errors are gone. Root cause in {ticket}.",
    "`latest` is rejected by the policy in prod and warned in staging. Pin a digest or a version.",
    "Namespaces are created through the platform repo, open a PR with your team's quota. {link}",
    "Exceptions need a PolicyException with an expiry, and security has to approve it.",
    "Yes, the storage class allows expansion, just edit the PVC. No restart needed.",
    "No freeze this week, the holiday freeze starts on the 15th.",
    "That's the startingDeadlineSeconds interaction, set it lower and it'll stop double-running.",
    "+1, requests on {svc} are {pct}% above p95 usage.",
    "Let's cap maxReplicas at {num} and add a node pool for bursts.",
    "The cert-manager issuer changed, re-issue the certificate and restart the ingress pods.",
    "Use the external-secrets operator, it rotates the Secret and triggers a rollout.",
    "SRE keeps paging, {team} owns the dashboards. Escalation goes to {mention} after 15 minutes.",
    "runAsNonRoot is enforced by the policy pack now, the check runs in CI too.",
    "Not allowed: one region for customer data. Use a cache in {region2} if you need latency.",
    "Check the ndots setting in the pod's dnsConfig, 5 is the default and it hurts.",
    "A Role in {ns2} and a RoleBinding to the ServiceAccount, cluster-wide roles are not needed.",
    "thanks, that fixed it!",
    "thanks {mention}",
    "looking into it",
    "same here in {cluster}",
    "done, merged",
    "can you share the manifest?",
    "Which version of the chart are you on?",
    "Fixed in {semver}, deploying now.",
    "I'll write it up in the wiki: {link}",
    "We discussed this in the platform sync on {day}, decision is in the notes.",
];

const HOSTS: &[&str] = &[
    "wiki.shop.example",
    "runbooks.shop.example",
    "grafana.shop.example",
];

/// (channel, day) → the day file's messages: (ts seconds, microseconds, message).
type DayFiles = std::collections::BTreeMap<(usize, i64), Vec<(i64, u32, Json)>>;

/// What was generated.
struct Shape {
    channels: usize,
    users: usize,
    files: usize,
    threads: usize,
    messages: usize,
    joins: usize,
}

struct User {
    id: String,
}

fn fill(template: &str, rng: &mut Rng, users: &[User], channels: &[(String, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 40);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .unwrap_or(rest.len() - 1);
        let slot = &rest[open + 1..close];
        let value = match slot {
            "svc" | "svc2" => rng.pick(SERVICES).to_string(),
            "cluster" => rng.pick(CLUSTERS).to_string(),
            "region" | "region2" => rng.pick(REGIONS).to_string(),
            "kind" => rng.pick(KINDS).to_string(),
            "ver" => rng.pick(VERSIONS).to_string(),
            "cpu" => rng.pick(CPU).to_string(),
            "mem" => rng.pick(MEM).to_string(),
            "day" => rng.pick(DAYS).to_string(),
            "error" => rng.pick(ERRORS).to_string(),
            "hour" => format!("{:02}", 6 + rng.below(14)),
            "minute" => format!("{:02}", rng.below(60)),
            "pct" => (5 + rng.below(90)).to_string(),
            "num" => (4 + rng.below(60)).to_string(),
            "ticket" => format!("PLAT-{}", 1000 + rng.below(9000)),
            "semver" => format!("v{}.{}.{}", 1 + rng.below(4), rng.below(20), rng.below(10)),
            "team" => rng
                .pick(CHANNELS)
                .strip_prefix("team-")
                .unwrap_or("platform")
                .to_string(),
            "ns" | "ns2" => format!("{}-{}", rng.pick(SERVICES), rng.pick(&["prod", "staging"])),
            "mention" => format!("<@{}>", rng.pick(users).id),
            "link" => {
                let host = rng.pick(HOSTS);
                let page = rng.pick(SERVICES);
                if rng.chance(0.5) {
                    format!("<https://{host}/platform/{page}|{page} docs>")
                } else {
                    format!("<https://{host}/platform/{page}>")
                }
            }
            _ => {
                let (id, name) = rng.pick(channels);
                format!("<#{id}|{name}>")
            }
        };
        out.push_str(&value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Writes a Slack export of `total` messages to `dir` (the layout `usher index` reads:
/// channels.json, users.json, `<channel>/<YYYY-MM-DD>.json`), deterministic for a seed.
fn generate_slack(dir: &Path, total: usize, seed: u64) -> Shape {
    let mut rng = Rng(seed);
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let users: Vec<User> = (0..320)
        .map(|i| User {
            id: format!("U{:08X}", 0x1000 + i * 7),
        })
        .collect();
    let users_json: Vec<Json> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / FIRST.len() + i) % LAST.len()];
            let display = if i % 5 == 0 { String::new() } else { format!("{first} {}.", &last[..1]) };
            json!({
                "id": u.id,
                "team_id": "T0SHOP",
                "name": format!("{}.{}{}", first.to_lowercase(), last.to_lowercase(), i / 450),
                "real_name": format!("{first} {last}"),
                "deleted": false,
                "is_bot": false,
                "profile": {"display_name": display, "real_name": format!("{first} {last}"), "title": ""},
            })
        })
        .collect();
    std::fs::write(
        dir.join("users.json"),
        serde_json::to_string_pretty(&users_json).unwrap(),
    )
    .unwrap();
    let channels: Vec<(String, String)> = CHANNELS
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("C{:08X}", 0x5000 + i * 13), n.to_string()))
        .collect();
    // Channel members: 30 to 150 users each.
    let members: Vec<Vec<usize>> = (0..channels.len())
        .map(|_| {
            let n = 30 + rng.below(120);
            (0..n).map(|_| rng.below(users.len())).collect()
        })
        .collect();
    let channels_json: Vec<Json> = channels
        .iter()
        .zip(&members)
        .map(|((id, name), m)| {
            json!({
                "id": id,
                "name": name,
                "created": 1_700_000_000,
                "creator": users[m[0]].id,
                "is_archived": false,
                "is_general": name == "announcements",
                "members": m.iter().map(|&u| users[u].id.clone()).collect::<Vec<_>>(),
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": format!("{name} discussions"), "creator": "", "last_set": 0},
            })
        })
        .collect();
    std::fs::write(
        dir.join("channels.json"),
        serde_json::to_string_pretty(&channels_json).unwrap(),
    )
    .unwrap();

    // Messages per (channel, day): (ts seconds, microseconds, JSON).
    let start: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z
    let span_days = 730;
    let mut days: DayFiles = Default::default();
    let (mut made, mut threads, mut joins, mut micro) = (0usize, 0usize, 0usize, 0u32);
    let mut ts_of = |secs: i64| {
        micro = (micro + 1) % 1_000_000;
        (secs, micro, format!("{secs}.{micro:06}"))
    };
    while made < total {
        // Busy channels get more traffic.
        let c = if rng.chance(0.5) {
            rng.below(6)
        } else {
            rng.below(channels.len())
        };
        let day = rng.below(span_days) as i64;
        let weekday = (day + 1) % 7; // 2024-01-01 was a Monday: 1..=5 are weekdays
        if (weekday == 6 || weekday == 0) && !rng.chance(0.1) {
            continue;
        }
        let secs = start + day * 86_400 + (7 * 3600 + rng.below(12 * 3600)) as i64;
        let poster = *rng.pick(&members[c]);
        if rng.chance(0.01) {
            let (s, m, ts) = ts_of(secs);
            let user = &users[poster].id;
            days.entry((c, s.div_euclid(86_400))).or_default().push((
                s,
                m,
                json!({"type": "message", "subtype": "channel_join", "user": user, "text": format!("<@{user}> has joined the channel"), "ts": ts}),
            ));
            made += 1;
            joins += 1;
            continue;
        }
        let template = *rng.pick(OPENERS);
        let mut text = fill(template, &mut rng, &users, &channels);
        if rng.chance(0.2) {
            text = format!(
                "{} {text}",
                rng.pick(&["Hi all,", "Morning!", "Hey team,", "Question:", "FYI"])
            );
        }
        let replies = if rng.chance(0.45) {
            let mut n = 1;
            while n < 25 && rng.chance(0.75) {
                n += 1;
            }
            n.min(total - made - 1)
        } else {
            0
        };
        let (s, m, parent_ts) = ts_of(secs);
        let mut parent = json!({
            "client_msg_id": format!("{:08x}-{:04x}-{:04x}", rng.next() as u32, rng.below(65536), rng.below(65536)),
            "type": "message",
            "user": users[poster].id,
            "text": text,
            "ts": parent_ts,
            "team": "T0SHOP",
        });
        let mut at = secs;
        let mut reply_users = Vec::new();
        for _ in 0..replies {
            let wait = if rng.chance(0.8) { 1800 } else { 30_000 };
            at += 30 + rng.below(wait) as i64;
            let who = *rng.pick(&members[c]);
            let (rs, rm, ts) = ts_of(at);
            reply_users.push(users[who].id.clone());
            let template = *rng.pick(REPLIES);
            let text = fill(template, &mut rng, &users, &channels);
            days.entry((c, rs.div_euclid(86_400))).or_default().push((
                rs,
                rm,
                json!({"type": "message", "user": users[who].id, "text": text, "ts": ts, "thread_ts": parent_ts, "parent_user_id": users[poster].id}),
            ));
        }
        if replies > 0 {
            threads += 1;
            reply_users.sort();
            reply_users.dedup();
            let obj = parent.as_object_mut().unwrap();
            obj.insert("thread_ts".into(), json!(parent_ts));
            obj.insert("reply_count".into(), json!(replies));
            obj.insert("reply_users_count".into(), json!(reply_users.len()));
            obj.insert("reply_users".into(), json!(reply_users));
        }
        days.entry((c, s.div_euclid(86_400)))
            .or_default()
            .push((s, m, parent));
        made += 1 + replies;
    }
    let mut files = 0;
    for ((c, day), mut msgs) in days {
        msgs.sort_by_key(|m| (m.0, m.1));
        let folder = dir.join(&channels[c].1);
        std::fs::create_dir_all(&folder).unwrap();
        let date = usher::policy::functions::format_rfc3339((day * 86_400) as f64);
        let arr: Vec<Json> = msgs.into_iter().map(|m| m.2).collect();
        std::fs::write(
            folder.join(format!("{}.json", &date[..10])),
            serde_json::to_string_pretty(&arr).unwrap(),
        )
        .unwrap();
        files += 1;
    }
    Shape {
        channels: channels.len(),
        users: users.len(),
        files,
        threads,
        messages: made,
        joins,
    }
}
