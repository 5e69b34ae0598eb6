//! `usher index` and `usher search`: the knowledge index from the terminal.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::json;

use crate::config::Config;
use crate::knowledge::embed::Embedder;
use crate::knowledge::index::{Filters, KnowledgeIndex, Mode, OpenError, content_hash};
use crate::knowledge::vectors::VectorIndex;
use crate::knowledge::{Chunk, SourceType, sources};

#[derive(Debug, clap::Args)]
pub struct IndexArgs {
    /// Knowledge sources to index besides `knowledge.sources` of .usher.yaml: Markdown or
    /// text files, Slack export folders, transcripts (.vtt, .srt), folders of them.
    #[arg(long = "source", value_name = "PATH")]
    pub sources: Vec<PathBuf>,
    /// Policy files or folders to index besides `policies.paths` (Kyverno, CEL, VAP).
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Leave the bundled policy pack out of the index.
    #[arg(long)]
    pub no_bundled_policies: bool,
    /// Leave resource kinds (built-in and CRDs) out of the index.
    #[arg(long)]
    pub no_kinds: bool,
    /// The index folder (default: `knowledge.index`, else `.usher/index`).
    #[arg(long, value_name = "DIR")]
    pub index_dir: Option<PathBuf>,
    /// Rebuild even when no source changed.
    #[arg(long)]
    pub force: bool,
    /// Configuration file (default: .usher.yaml in the current folder or above).
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Ignore configuration files.
    #[arg(long)]
    pub no_config: bool,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// What to look for: a question, words, a manifest's text.
    #[arg(value_name = "QUERY")]
    pub query: String,
    /// Only chunks that concern this kind (e.g. Deployment).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Only this source type: policy, doc, slack, transcript, kind.
    #[arg(long, value_name = "TYPE")]
    pub source_type: Option<String>,
    /// Number of hits.
    #[arg(short, default_value_t = 10)]
    pub k: usize,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    /// Ranking: hybrid (words and meaning, the default), bm25 or vector.
    #[arg(long, value_name = "MODE", default_value = "hybrid")]
    pub mode: String,
    /// The index folder (default: `knowledge.index`, else `.usher/index`).
    #[arg(long, value_name = "DIR")]
    pub index_dir: Option<PathBuf>,
    /// Configuration file (default: .usher.yaml in the current folder or above).
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Ignore configuration files.
    #[arg(long)]
    pub no_config: bool,
}

fn config(path: &Option<PathBuf>, none: bool) -> anyhow::Result<Config> {
    if none {
        return Ok(Config::default());
    }
    match path.clone().or_else(|| Config::discover(Path::new("."))) {
        Some(p) => Config::load(&p).with_context(|| "invalid configuration".to_string()),
        None => Ok(Config::default()),
    }
}

fn index_dir(arg: &Option<PathBuf>, config: &Config) -> PathBuf {
    arg.clone()
        .or_else(|| config.knowledge.as_ref().and_then(|k| k.index.clone()))
        .unwrap_or_else(|| PathBuf::from(".usher/index"))
}

/// The embedding model, from `.tools/model` in the current folder or above or
/// `$USHER_MODEL_DIR`.
fn embedder() -> Result<Embedder, String> {
    Embedder::locate(Path::new("."), None).and_then(|f| Embedder::load(&f))
}

/// A hash of everything under a path (file names and contents), to tell whether it changed.
fn source_hash(path: &Path) -> String {
    let mut acc = Vec::new();
    for e in walkdir::WalkDir::new(path)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
    {
        acc.extend_from_slice(e.path().to_string_lossy().as_bytes());
        acc.extend_from_slice(
            content_hash(&std::fs::read(e.path()).unwrap_or_default()).as_bytes(),
        );
    }
    content_hash(&acc)
}

pub fn run_index(args: IndexArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let cfg = config(&args.config, args.no_config)?;
    let dir = index_dir(&args.index_dir, &cfg);
    let kc = cfg.knowledge.clone().unwrap_or_default();
    let mut source_paths = kc.sources.clone();
    source_paths.extend(args.sources.iter().cloned());
    let mut pc = cfg.policies.clone().unwrap_or_default();
    pc.paths.extend(args.policies.iter().cloned());
    if args.no_bundled_policies {
        pc.bundled = Some(false);
    }
    let with_kinds = !args.no_kinds && kc.kinds.unwrap_or(true);
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let say = |msg: &str| {
        if !args.quiet {
            eprintln!("{msg}");
        }
    };

    // What the index is made of, to tell whether anything changed.
    let mut hashes = BTreeMap::new();
    for p in source_paths.iter().chain(&pc.paths).chain(&cfg.crds) {
        if !p.exists() {
            bail!("{}: no such file or folder", p.display());
        }
        hashes.insert(p.display().to_string(), source_hash(p));
    }
    hashes.insert(
        "<settings>".into(),
        content_hash(
            format!(
                "{:?} {with_kinds} {:?} v{} model {:?}",
                pc.bundled,
                pc.categories,
                env!("CARGO_PKG_VERSION"),
                // Installing or changing the model re-indexes.
                Embedder::locate(Path::new("."), None)
                    .ok()
                    .and_then(|f| std::fs::read(&f.manifest).ok())
                    .map(|m| content_hash(&m))
            )
            .as_bytes(),
        ),
    );
    match KnowledgeIndex::open(&dir) {
        Ok(existing) if !args.force && existing.manifest.sources == hashes => {
            say(&format!(
                "index {} is up to date ({} chunks; nothing changed)",
                dir.display(),
                existing.manifest.chunks
            ));
            return Ok(ExitCode::SUCCESS);
        }
        Err(e @ OpenError::Unusable(_)) => {
            eprintln!("usher: notice: {}: {e}; rebuilding it", dir.display());
        }
        _ => {}
    }

    let mut chunks: Vec<Chunk> = Vec::new();
    let mut problems = 0;
    let total = source_paths.len();
    for (i, p) in source_paths.iter().enumerate() {
        if progress {
            eprint!("\r[{}/{total}] {}\x1b[K", i + 1, p.display());
        }
        let (found, errors) = sources::load_lenient(p);
        if progress {
            eprint!("\r\x1b[K");
        }
        for e in &errors {
            eprintln!("usher: warning: {e}");
        }
        problems += errors.len();
        say(&format!("{}: {} chunks", p.display(), found.len()));
        chunks.extend(found);
    }
    // Policies: the pack and the configured files (Kyverno, CEL, ValidatingAdmissionPolicy).
    let (set, errors) = crate::policy::from_config_set(Some(&pc));
    for e in &errors {
        eprintln!("usher: warning: {}: {}", e.path.display(), e.message);
    }
    problems += errors.len();
    let mut policy_chunks: Vec<Chunk> = set
        .policies
        .iter()
        .filter(|p| p.path.starts_with("<bundled>"))
        .map(sources::policies::policy_chunk)
        .collect();
    for p in &pc.paths {
        match sources::policies::load_policy_chunks(p) {
            Ok(c) => policy_chunks.extend(c),
            Err(e) => {
                eprintln!("usher: warning: {e}");
                problems += 1;
            }
        }
    }
    say(&format!("policies: {} chunks", policy_chunks.len()));
    chunks.extend(policy_chunks);
    if with_kinds {
        let catalog = if cfg.crds.is_empty() {
            crate::schema::Catalog::builtin()
        } else {
            let (c, errors) = crate::schema::Catalog::with_crds(&cfg.crds);
            for e in &errors {
                eprintln!("usher: warning: CRD {}: {}", e.path.display(), e.message);
            }
            std::sync::Arc::new(c)
        };
        let kinds = sources::kinds::kind_chunks(&catalog);
        say(&format!("resource kinds: {} chunks", kinds.len()));
        chunks.extend(kinds);
    }
    crate::knowledge::unique_by_id(&mut chunks);
    // Embeddings: only chunks whose text is new are embedded; the rest come from the old index.
    let vectors = match embedder() {
        Ok(embedder) => {
            let old: HashMap<(String, String), Vec<f32>> = match KnowledgeIndex::open(&dir) {
                Ok(i) if i.manifest.model.as_deref() == Some(embedder.model_id()) => i
                    .vectors
                    .map(|v| {
                        (0..v.len())
                            .map(|n| (v.keys[n].clone(), v.vector(n).to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => HashMap::new(),
            };
            let keys: Vec<(String, String)> = chunks
                .iter()
                .map(|c| (c.id.clone(), content_hash(c.embedding_text().as_bytes())))
                .collect();
            let missing: Vec<usize> = (0..chunks.len())
                .filter(|&i| !old.contains_key(&keys[i]))
                .collect();
            let mut fresh: HashMap<usize, Vec<f32>> = HashMap::new();
            let t = Instant::now();
            for (n, batch) in missing.chunks(64).enumerate() {
                if progress {
                    eprint!("\rembedding {}/{}\x1b[K", n * 64, missing.len());
                }
                let texts: Vec<String> =
                    batch.iter().map(|&i| chunks[i].embedding_text()).collect();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let out = embedder.embed(&refs).map_err(anyhow::Error::msg)?;
                fresh.extend(batch.iter().copied().zip(out));
            }
            if progress {
                eprint!("\r\x1b[K");
            }
            say(&format!(
                "embedded {} chunks in {:.2?} ({} unchanged, reused)",
                missing.len(),
                t.elapsed(),
                chunks.len() - missing.len()
            ));
            let all: Vec<Vec<f32>> = (0..chunks.len())
                .map(|i| fresh.remove(&i).unwrap_or_else(|| old[&keys[i]].clone()))
                .collect();
            Some((
                embedder.model_id().to_string(),
                VectorIndex::build(embedder.dimensions(), keys, all),
            ))
        }
        Err(e) => {
            eprintln!(
                "usher: notice: {e}; the index is BM25 only (words, not meaning). Everything else works."
            );
            None
        }
    };
    let index = KnowledgeIndex::write(
        &dir,
        &chunks,
        hashes,
        vectors.as_ref().map(|(m, v)| (m.clone(), v)),
    )
    .map_err(anyhow::Error::msg)?;
    let elapsed = started.elapsed();
    say(&format!(
        "indexed {} chunks into {} in {:.2?} ({:.0} chunks/s{})",
        index.manifest.chunks,
        dir.display(),
        elapsed,
        index.manifest.chunks as f64 / elapsed.as_secs_f64().max(1e-9),
        if index.vectors.is_some() {
            ", BM25 and vectors"
        } else {
            ", BM25 only"
        }
    ));
    Ok(if problems > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Where a chunk comes from, in one line.
fn provenance_line(c: &Chunk) -> String {
    let p = &c.provenance;
    let path = p.path.as_ref().map(|p| p.display().to_string());
    match c.source_type {
        SourceType::Slack => format!(
            "#{} · {} · {}{}",
            p.channel.as_deref().unwrap_or("?"),
            p.author.as_deref().unwrap_or("?"),
            p.time.as_deref().unwrap_or("?"),
            p.thread
                .as_ref()
                .map(|t| format!(" · thread {t}"))
                .unwrap_or_default()
        ),
        SourceType::Transcript => format!(
            "{} @ {}{}",
            path.unwrap_or_default(),
            p.time.as_deref().unwrap_or("?"),
            p.author
                .as_ref()
                .map(|a| format!(" · {a}"))
                .unwrap_or_default()
        ),
        _ => match (path, p.lines) {
            (Some(path), Some((a, b))) => format!("{path}:{a}-{b}"),
            (Some(path), None) => path,
            (None, _) => String::new(),
        },
    }
}

pub fn run_search(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(&args.config, args.no_config)?;
    let dir = index_dir(&args.index_dir, &cfg);
    if args.query.trim().is_empty() {
        bail!("the query is empty");
    }
    let source_type = match &args.source_type {
        Some(t) => Some(SourceType::parse(t).with_context(|| {
            format!("--source-type `{t}` is not one of policy, doc, slack, transcript, kind")
        })?),
        None => None,
    };
    let index = match KnowledgeIndex::open(&dir) {
        Ok(i) => i,
        Err(OpenError::Missing) => {
            bail!(
                "no knowledge index at {}: run `usher index` first",
                dir.display()
            )
        }
        Err(e) => bail!("{}: {e}; run `usher index` to rebuild it", dir.display()),
    };
    let filters = Filters {
        source_type,
        kind: args.kind.clone(),
        for_resource: None,
    };
    let mode = match args.mode.as_str() {
        "hybrid" => Mode::Hybrid,
        "bm25" => Mode::Bm25,
        "vector" => Mode::Vector,
        other => bail!("--mode `{other}` is not one of hybrid, bm25, vector"),
    };
    let mut used = "BM25";
    let query_vector = if mode != Mode::Bm25 && index.vectors.is_some() {
        match embedder() {
            Ok(e) if Some(e.model_id()) == index.manifest.model.as_deref() => {
                used = if mode == Mode::Hybrid {
                    "hybrid"
                } else {
                    "vectors"
                };
                Some(e.embed_query(&args.query).map_err(anyhow::Error::msg)?)
            }
            Ok(_) => {
                eprintln!(
                    "usher: notice: the index was embedded with another model; BM25 only until `usher index` runs again"
                );
                None
            }
            Err(e) => {
                eprintln!("usher: notice: {e}; BM25 only");
                None
            }
        }
    } else {
        None
    };
    let started = Instant::now();
    let hits = index
        .search_mode(&args.query, query_vector.as_deref(), args.k, &filters, mode)
        .map_err(anyhow::Error::msg)?;
    let took = started.elapsed();
    if args.json {
        let out: Vec<_> = hits
            .iter()
            .map(|h| {
                json!({
                    "id": h.chunk.id,
                    "sourceType": h.chunk.source_type.as_str(),
                    "title": h.chunk.title,
                    "score": h.score,
                    "text": h.chunk.text,
                    "kinds": h.chunk.kinds,
                    "provenance": h.chunk.provenance,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if hits.is_empty() {
        println!("no results");
    }
    for (i, h) in hits.iter().enumerate() {
        let text: String = h
            .chunk
            .text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let snippet: String = text.chars().take(200).collect();
        let more = if text.chars().count() > 200 {
            "…"
        } else {
            ""
        };
        println!(
            "{:>2}. [{}] {}  ({}, score {:.2})",
            i + 1,
            h.chunk.source_type.as_str(),
            h.chunk.title,
            h.chunk.id,
            h.score
        );
        let prov = provenance_line(&h.chunk);
        if !prov.is_empty() {
            println!("    {prov}");
        }
        println!("    {snippet}{more}");
    }
    eprintln!("{} hits in {:.1?} ({used})", hits.len(), took);
    Ok(ExitCode::SUCCESS)
}
