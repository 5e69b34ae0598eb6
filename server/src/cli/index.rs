//! `usher index` and `usher search`: the knowledge index from the terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::json;

use crate::config::Config;
use crate::knowledge::SourceType;
use crate::knowledge::build::{BuildOptions, Embeddings, Outcome, Progress, build};
use crate::knowledge::embed::Embedder;
use crate::knowledge::index::{Filters, KnowledgeIndex, Mode, OpenError};

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
    /// Refresh the cluster's cache (read-only) and index its resource kinds (OpenAPI schemas
    /// and CRDs) and policies too. Offline, the last cache is indexed.
    #[arg(long)]
    pub cluster: bool,
    /// The kubeconfig context for --cluster (default: `cluster.context`, else the current
    /// context).
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub context: Option<String>,
    /// The kubeconfig file for --cluster.
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub kubeconfig: Option<PathBuf>,
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

/// The embedding model: `knowledge.model` when configured, else `.tools/model` in the current
/// folder or above, else `$USHER_MODEL_DIR`.
fn embedder(cfg: &Config) -> Result<Embedder, String> {
    let configured = cfg.knowledge.as_ref().and_then(|k| k.model.as_deref());
    Embedder::locate(Path::new("."), configured).and_then(|f| Embedder::load(&f))
}

pub fn run_index(args: IndexArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let cfg = config(&args.config, args.no_config)?;
    let dir = index_dir(&args.index_dir, &cfg);
    let kc = cfg.knowledge.clone().unwrap_or_default();
    let mut opts = BuildOptions::new(&dir);
    opts.sources = kc.sources.clone();
    opts.sources.extend(args.sources.iter().cloned());
    opts.policies = cfg.policies.clone().unwrap_or_default();
    opts.policies.paths.extend(args.policies.iter().cloned());
    if args.no_bundled_policies {
        opts.policies.bundled = Some(false);
    }
    opts.crds = cfg.crds.clone();
    opts.kinds = !args.no_kinds && kc.kinds.unwrap_or(true);
    opts.force = args.force;
    if args.cluster {
        let target = super::cluster::Target {
            context: args.context.clone(),
            kubeconfig: args.kubeconfig.clone(),
            config: args.config.clone(),
            no_config: args.no_config,
        };
        let selection = target.selection()?;
        let view = match super::cluster::refresh_with_progress(&selection, args.quiet) {
            Ok(r) => {
                let cache = selection
                    .cache()
                    .context("no cache folder for the cluster")?;
                crate::cluster::ClusterView::from_snapshot(&cache, r.snapshot)
            }
            Err(e) => match crate::cluster::ClusterView::load(&selection) {
                Ok(Some(view)) => {
                    eprintln!(
                        "usher: warning: {e}; indexing the cache of {} ago",
                        crate::cluster::human_age(view.snapshot.age())
                    );
                    view
                }
                _ => {
                    eprintln!("usher: error: {e}");
                    return Ok(ExitCode::from(2));
                }
            },
        };
        for p in &view.problems {
            eprintln!("usher: warning: {p}");
        }
        opts.cluster = Some(std::sync::Arc::new(view));
    }
    let embeddings = Embeddings::Locate {
        workspace: PathBuf::from("."),
        configured: kc.model.clone(),
    };
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let say = |msg: &str| {
        if !args.quiet {
            eprintln!("{msg}");
        }
    };
    // Clears the progress line before anything else is written.
    let clear = || {
        if progress {
            eprint!("\r\x1b[K");
        }
    };
    let mut report = |p: Progress<'_>| match p {
        Progress::Reading { n, total, path } => {
            if progress {
                eprint!("\r[{n}/{total}] {}\x1b[K", path.display());
            }
        }
        Progress::Read { path, chunks } => {
            clear();
            say(&format!("{}: {chunks} chunks", path.display()));
        }
        Progress::Policies { chunks } => say(&format!("policies: {chunks} chunks")),
        Progress::Kinds { chunks } => say(&format!("resource kinds: {chunks} chunks")),
        Progress::Warning(w) => {
            clear();
            eprintln!("usher: warning: {w}");
        }
        Progress::Notice(n) => {
            clear();
            eprintln!("usher: notice: {n}");
        }
        Progress::Embedding { done, total } => {
            if progress {
                eprint!("\rembedding {done}/{total}\x1b[K");
            }
        }
        Progress::Embedded {
            count,
            reused,
            elapsed,
        } => {
            clear();
            say(&format!(
                "embedded {count} chunks in {elapsed:.2?} ({reused} unchanged, reused)"
            ));
        }
    };
    let built = match build(&opts, embeddings, &mut report).map_err(anyhow::Error::msg)? {
        Outcome::UpToDate { chunks } => {
            say(&format!(
                "index {} is up to date ({chunks} chunks; nothing changed)",
                dir.display(),
            ));
            return Ok(ExitCode::SUCCESS);
        }
        Outcome::Built(built) => built,
    };
    let elapsed = started.elapsed();
    say(&format!(
        "indexed {} chunks into {} in {:.2?} ({:.0} chunks/s{})",
        built.chunks,
        dir.display(),
        elapsed,
        built.chunks as f64 / elapsed.as_secs_f64().max(1e-9),
        if built.index.vectors.is_some() {
            ", BM25 and vectors"
        } else {
            ", BM25 only"
        }
    ));
    Ok(if built.problems > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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
        match embedder(&cfg) {
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
        let prov = crate::knowledge::advisor::provenance_line(&h.chunk);
        if !prov.is_empty() {
            println!("    {prov}");
        }
        println!("    {snippet}{more}");
    }
    eprintln!("{} hits in {:.1?} ({used})", hits.len(), took);
    Ok(ExitCode::SUCCESS)
}
