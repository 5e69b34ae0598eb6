//! Retrieval quality of the knowledge index on `../shared/corpus/retrieval/dev.jsonl`:
//! questions and manifests against the policy library's policies. Reports recall@5 and MRR@10
//! for BM25, vectors and hybrid, overall and per query type, plus index and query times.
//! Needs ../shared/corpus (skips with a notice without it) and, for vectors, the embedding
//! model (`scripts/setup-model.sh`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use usher::knowledge::embed::Embedder;
use usher::knowledge::index::{KnowledgeIndex, Mode, content_hash};
use usher::knowledge::sources::policies::load_policy_chunks;
use usher::knowledge::vectors::VectorIndex;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The policy name a chunk id stands for (`policy:name`, `policy:name~2`).
fn policy_name(id: &str) -> &str {
    let name = id.strip_prefix("policy:").unwrap_or(id);
    name.split('~').next().unwrap_or(name)
}

fn main() {
    let corpus = root().join("../shared/corpus");
    let dev = corpus.join("retrieval/dev.jsonl");
    if !dev.is_file() {
        println!("notice: ../shared/corpus is absent; retrieval benchmark skipped");
        return;
    }
    let queries: Vec<serde_json::Value> = std::fs::read_to_string(&dev)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let started = Instant::now();
    // As `usher index --policy` loads them: one chunk per policy name.
    let mut chunks = load_policy_chunks(&corpus.join("kyverno-policies")).expect("policy library");
    usher::knowledge::unique_by_id(&mut chunks);
    println!(
        "{} policy chunks from the library in {:.2?}; {} queries",
        chunks.len(),
        started.elapsed(),
        queries.len()
    );
    let embedder = Embedder::locate(&root(), None).and_then(|f| Embedder::load(&f));
    let vectors = match &embedder {
        Ok(e) => {
            let t = Instant::now();
            let texts: Vec<String> = chunks.iter().map(|c| c.embedding_text()).collect();
            let mut all = Vec::new();
            for batch in texts.chunks(64) {
                let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
                all.extend(e.embed(&refs).expect("embedding"));
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "embedded {} chunks in {secs:.1} s ({:.0} chunks/s)",
                chunks.len(),
                chunks.len() as f64 / secs
            );
            let keys = chunks
                .iter()
                .zip(&texts)
                .map(|(c, t)| (c.id.clone(), content_hash(t.as_bytes())))
                .collect();
            Some((
                e.model_id().to_string(),
                VectorIndex::build(e.dimensions(), keys, all),
            ))
        }
        Err(e) => {
            println!("notice: {e}; BM25 only");
            None
        }
    };
    let dir = std::env::temp_dir().join(format!("usher-retrieval-{}", std::process::id()));
    let index = KnowledgeIndex::write(
        &dir,
        &chunks,
        Default::default(),
        vectors.as_ref().map(|(m, v)| (m.clone(), v)),
    )
    .expect("index");
    let modes: &[(&str, Mode)] = if index.vectors.is_some() {
        &[
            ("bm25", Mode::Bm25),
            ("vector", Mode::Vector),
            ("hybrid", Mode::Hybrid),
        ]
    } else {
        &[("bm25", Mode::Bm25)]
    };
    for (label, mode) in modes {
        let mut by_type: std::collections::BTreeMap<String, (f64, f64, usize)> = Default::default();
        let mut times = Vec::new();
        for q in &queries {
            let raw = q["query"].as_str().unwrap();
            // Manifests are asked about as the language server asks: through the resource query.
            let built = (q["type"] == "manifest")
                .then(|| usher::knowledge::query::yaml_query(raw))
                .flatten();
            let text = built.as_ref().map_or(raw, |b| b.text.as_str());
            let filters = built.as_ref().map(|b| b.filters()).unwrap_or_default();
            let relevant: Vec<&str> = q["relevant"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|r| r.as_str())
                .collect();
            // Timed as a first question: the model runs (its query cache is emptied).
            if let Ok(e) = &embedder {
                e.forget_queries();
            }
            let t = Instant::now();
            let qv = match (&embedder, mode) {
                (Ok(e), Mode::Vector | Mode::Hybrid) => Some(e.embed_query(text).unwrap()),
                _ => None,
            };
            let hits = index
                .search_mode(text, qv.as_deref(), 10, &filters, *mode)
                .unwrap();
            times.push(t.elapsed());
            // Policies, not chunks, are ranked: a policy's variants (`-cel`, `-vpol`) count once.
            let mut names: Vec<&str> = Vec::new();
            for h in &hits {
                let n = policy_name(&h.chunk.id);
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            let found5 = relevant
                .iter()
                .filter(|r| names.iter().take(5).any(|n| n == *r))
                .count();
            let recall = found5 as f64 / relevant.len() as f64;
            let rr = names
                .iter()
                .take(10)
                .position(|n| relevant.contains(n))
                .map_or(0.0, |p| 1.0 / (p as f64 + 1.0));
            for key in [
                "all".to_string(),
                q["type"].as_str().unwrap_or("?").to_string(),
            ] {
                let e = by_type.entry(key).or_default();
                e.0 += recall;
                e.1 += rr;
                e.2 += 1;
            }
        }
        times.sort();
        let p = |f: f64| times[((times.len() as f64 - 1.0) * f).round() as usize];
        for (t, (r, m, n)) in &by_type {
            println!(
                "{label:>6} {t:>8}: recall@5 {:.3}, MRR@10 {:.3} ({n} queries)",
                r / *n as f64,
                m / *n as f64
            );
        }
        println!(
            "{label:>6} query latency (incl. query embedding): p50 {:?}, p99 {:?}",
            p(0.5),
            p(0.99)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
