//! Building the knowledge index: sources, policies and resource kinds read into chunks, new
//! chunks embedded (the vectors of unchanged ones taken from the old index), the vectors'
//! graph built, and the index written (atomically, see [`KnowledgeIndex::write`]).
//!
//! `usher index` and the benchmarks run this one function; it prints nothing itself but
//! reports what it does through a [`Progress`] callback.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::embed::Embedder;
use super::index::{KnowledgeIndex, OpenError, content_hash};
use super::vectors::VectorIndex;
use super::{Chunk, sources};
use crate::config::PolicyConfig;

/// What to index, and where.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The index folder.
    pub dir: PathBuf,
    /// Knowledge sources: Markdown or text files, Slack export folders, transcripts (.vtt,
    /// .srt), folders of them.
    pub sources: Vec<PathBuf>,
    /// Policies: the bundled pack (`bundled`, `categories`) and policy files or folders
    /// (`paths`: Kyverno, CEL, ValidatingAdmissionPolicy).
    pub policies: PolicyConfig,
    /// CRD files or folders: their kinds are indexed with the built-in ones.
    pub crds: Vec<PathBuf>,
    /// Whether resource kinds (built-in and CRDs) are indexed.
    pub kinds: bool,
    /// Rebuild even when no source changed.
    pub force: bool,
    /// A cluster's cache (`usher index --cluster`): its kinds (OpenAPI and CRDs) and policies
    /// are indexed; the index is rebuilt when what the cluster holds changes.
    pub cluster: Option<std::sync::Arc<crate::cluster::ClusterView>>,
}

impl BuildOptions {
    /// The defaults of `usher index` without configuration: no sources, the bundled policies
    /// and the built-in kinds.
    pub fn new(dir: impl Into<PathBuf>) -> BuildOptions {
        BuildOptions {
            dir: dir.into(),
            sources: Vec::new(),
            policies: PolicyConfig::default(),
            crds: Vec::new(),
            kinds: true,
            force: false,
            cluster: None,
        }
    }
}

/// Where the embedding model comes from.
pub enum Embeddings<'a> {
    /// This loaded model.
    Model(&'a Embedder),
    /// Found by [`Embedder::locate`] and loaded only when something has to be indexed; without
    /// one the index is BM25 only, with a [`Progress::Notice`] saying so.
    Locate {
        workspace: PathBuf,
        configured: Option<PathBuf>,
    },
    /// None: BM25 only.
    Off,
}

/// What the build is doing, for the caller to show.
#[derive(Debug)]
pub enum Progress<'a> {
    /// About to read knowledge source `n` (1-based) of `total`.
    Reading {
        n: usize,
        total: usize,
        path: &'a Path,
    },
    /// Read a knowledge source (after its warnings, if any).
    Read { path: &'a Path, chunks: usize },
    /// Policies read (the bundled pack and the policy paths).
    Policies { chunks: usize },
    /// Resource kinds read.
    Kinds { chunks: usize },
    /// Something could not be read; the rest is indexed (counted in
    /// [`BuildReport::problems`]).
    Warning(String),
    /// Worth saying, not a problem (no embedding model, an unusable old index).
    Notice(String),
    /// Embedded `done` of `total` new chunks so far.
    Embedding { done: usize, total: usize },
    /// Embedding finished.
    Embedded {
        count: usize,
        reused: usize,
        elapsed: Duration,
    },
}

/// Where the time went.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Hashing the sources, checking the old index, reading sources, policies and kinds.
    pub read: Duration,
    /// Loading the model (with [`Embeddings::Locate`]) and embedding the new chunks.
    pub embed: Duration,
    /// Building the vectors' search graph.
    pub graph: Duration,
    /// Writing the index (BM25, vectors, manifest) and opening it.
    pub write: Duration,
    pub total: Duration,
}

/// A finished build.
pub struct BuildReport {
    /// The new index, open.
    pub index: KnowledgeIndex,
    pub chunks: usize,
    /// Sources, policies or CRDs that could not be read (each reported as a warning).
    pub problems: usize,
    /// Chunks embedded now, and chunks whose vectors came from the old index.
    pub embedded: usize,
    pub reused: usize,
    pub timings: Timings,
}

pub enum Outcome {
    /// No source changed (and no rebuild was forced): the index was left as it is.
    UpToDate {
        chunks: usize,
    },
    Built(Box<BuildReport>),
}

/// Chunks embedded per call of the model (and per progress report).
const EMBED_GROUP: usize = 64;

/// A hash of everything under a path (file names and contents), to tell whether it changed.
pub fn source_hash(path: &Path) -> String {
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

/// Builds (or rebuilds) the index described by `opts`, unless it is up to date.
pub fn build(
    opts: &BuildOptions,
    embeddings: Embeddings<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Outcome, String> {
    let started = Instant::now();
    let pc = &opts.policies;

    // What the index is made of, to tell whether anything changed.
    let mut hashes = BTreeMap::new();
    for p in opts.sources.iter().chain(&pc.paths).chain(&opts.crds) {
        if !p.exists() {
            return Err(format!("{}: no such file or folder", p.display()));
        }
        hashes.insert(p.display().to_string(), source_hash(p));
    }
    if let Some(c) = &opts.cluster {
        hashes.insert(
            format!("<cluster {}>", c.context),
            c.snapshot.fingerprint.clone(),
        );
    }
    // Installing or changing the model re-indexes.
    let model_manifest = match &embeddings {
        Embeddings::Model(e) => Some(e.files().manifest.clone()),
        Embeddings::Locate {
            workspace,
            configured,
        } => Embedder::locate(workspace, configured.as_deref())
            .ok()
            .map(|f| f.manifest),
        Embeddings::Off => None,
    };
    hashes.insert(
        "<settings>".into(),
        content_hash(
            format!(
                "{:?} {} {:?} v{} model {:?}",
                pc.bundled,
                opts.kinds,
                pc.categories,
                env!("CARGO_PKG_VERSION"),
                model_manifest
                    .and_then(|m| std::fs::read(m).ok())
                    .map(|m| content_hash(&m))
            )
            .as_bytes(),
        ),
    );
    // The old index: up to date, or the source of unchanged chunks' vectors.
    let old_vectors = match KnowledgeIndex::open(&opts.dir) {
        Ok(existing) if !opts.force && existing.manifest.sources == hashes => {
            return Ok(Outcome::UpToDate {
                chunks: existing.manifest.chunks,
            });
        }
        Ok(mut existing) => existing.manifest.model.clone().zip(existing.vectors.take()),
        Err(e @ OpenError::Unusable(_)) => {
            progress(Progress::Notice(format!(
                "{}: {e}; rebuilding it",
                opts.dir.display()
            )));
            None
        }
        Err(OpenError::Missing) => None,
    };

    let (mut chunks, problems) = read_chunks(opts, progress);
    super::unique_by_id(&mut chunks);
    let read = started.elapsed();

    // Embeddings: only chunks whose text is new are embedded; the rest come from the old index.
    let t = Instant::now();
    let loaded;
    let embedder = match embeddings {
        Embeddings::Model(e) => Some(e),
        Embeddings::Locate {
            workspace,
            configured,
        } => match Embedder::locate(&workspace, configured.as_deref())
            .and_then(|f| Embedder::load(&f))
        {
            Ok(e) => {
                loaded = e;
                Some(&loaded)
            }
            Err(e) => {
                progress(Progress::Notice(format!(
                    "{e}; the index is BM25 only (words, not meaning). Everything else works."
                )));
                None
            }
        },
        Embeddings::Off => None,
    };
    let (mut embedded, mut reused, mut embed, mut graph) = (0, 0, Duration::ZERO, Duration::ZERO);
    let vectors = match embedder {
        Some(embedder) => {
            let old = old_vectors.filter(|(model, _)| model == embedder.model_id());
            let vectors = embed_chunks(&chunks, embedder, old.as_ref().map(|o| &o.1), progress)?;
            embedded = vectors.embedded;
            reused = chunks.len() - embedded;
            embed = t.elapsed();
            let t = Instant::now();
            let index = VectorIndex::build(embedder.dimensions(), vectors.keys, vectors.vectors);
            graph = t.elapsed();
            Some((embedder.model_id().to_string(), index))
        }
        None => None,
    };
    let t = Instant::now();
    let index = KnowledgeIndex::write(
        &opts.dir,
        &chunks,
        hashes,
        vectors.as_ref().map(|(m, v)| (m.clone(), v)),
    )?;
    let write = t.elapsed();
    Ok(Outcome::Built(Box::new(BuildReport {
        chunks: index.manifest.chunks,
        index,
        problems,
        embedded,
        reused,
        timings: Timings {
            read,
            embed,
            graph,
            write,
            total: started.elapsed(),
        },
    })))
}

/// The chunks of the knowledge sources, the policies and the kinds, with the number of
/// things that could not be read.
fn read_chunks(opts: &BuildOptions, progress: &mut dyn FnMut(Progress<'_>)) -> (Vec<Chunk>, usize) {
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut problems = 0;
    let total = opts.sources.len();
    for (i, p) in opts.sources.iter().enumerate() {
        progress(Progress::Reading {
            n: i + 1,
            total,
            path: p,
        });
        let (found, errors) = sources::load_lenient(p);
        problems += errors.len();
        for e in errors {
            progress(Progress::Warning(e));
        }
        progress(Progress::Read {
            path: p,
            chunks: found.len(),
        });
        chunks.extend(found);
    }
    // Policies: the pack and the configured files (Kyverno, CEL, ValidatingAdmissionPolicy).
    let pc = &opts.policies;
    let (set, errors) = crate::policy::from_config_set(Some(pc));
    problems += errors.len();
    for e in &errors {
        progress(Progress::Warning(format!(
            "{}: {}",
            e.path.display(),
            e.message
        )));
    }
    let mut policy_chunks: Vec<Chunk> = set
        .policies
        .iter()
        .filter(|p| p.path.starts_with("<bundled>"))
        .map(sources::policies::policy_chunk)
        .collect();
    if let Some(c) = &opts.cluster {
        let (set, errors) = c.policy_set();
        problems += errors.len();
        for e in &errors {
            progress(Progress::Warning(format!(
                "{}: {}",
                e.path.display(),
                e.message
            )));
        }
        policy_chunks.extend(set.policies.iter().map(sources::policies::policy_chunk));
    }
    for p in &pc.paths {
        match sources::policies::load_policy_chunks(p) {
            Ok(c) => policy_chunks.extend(c),
            Err(e) => {
                progress(Progress::Warning(e));
                problems += 1;
            }
        }
    }
    progress(Progress::Policies {
        chunks: policy_chunks.len(),
    });
    chunks.extend(policy_chunks);
    if opts.kinds {
        let catalog = if opts.crds.is_empty() && opts.cluster.is_none() {
            crate::schema::Catalog::builtin()
        } else {
            let (c, errors) = match &opts.cluster {
                Some(cluster) => cluster.catalog(&opts.crds),
                None => crate::schema::Catalog::with_crds(&opts.crds),
            };
            for e in &errors {
                progress(Progress::Warning(format!(
                    "CRD {}: {}",
                    e.path.display(),
                    e.message
                )));
            }
            std::sync::Arc::new(c)
        };
        let kinds = sources::kinds::kind_chunks(&catalog);
        progress(Progress::Kinds {
            chunks: kinds.len(),
        });
        chunks.extend(kinds);
    }
    (chunks, problems)
}

struct Embedded {
    keys: Vec<(String, String)>,
    vectors: Vec<Vec<f32>>,
    /// How many were embedded now (the others were reused).
    embedded: usize,
}

/// The vectors of `chunks`: reused from `old` when a chunk's id and text are unchanged,
/// embedded otherwise (in groups of similar length: a batch is padded to its longest text).
fn embed_chunks(
    chunks: &[Chunk],
    embedder: &Embedder,
    old: Option<&VectorIndex>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Embedded, String> {
    let t = Instant::now();
    let texts: Vec<String> = chunks.iter().map(Chunk::embedding_text).collect();
    let keys: Vec<(String, String)> = chunks
        .iter()
        .zip(&texts)
        .map(|(c, t)| (c.id.clone(), content_hash(t.as_bytes())))
        .collect();
    let old_rows: HashMap<(&str, &str), usize> = old
        .filter(|o| o.dims == embedder.dimensions())
        .map(|o| {
            o.keys
                .iter()
                .enumerate()
                .map(|(row, (id, hash))| ((id.as_str(), hash.as_str()), row))
                .collect()
        })
        .unwrap_or_default();
    let reused: Vec<Option<usize>> = keys
        .iter()
        .map(|(id, hash)| old_rows.get(&(id.as_str(), hash.as_str())).copied())
        .collect();
    let mut missing: Vec<usize> = (0..chunks.len()).filter(|&i| reused[i].is_none()).collect();
    missing.sort_by_key(|&i| texts[i].len());
    let mut fresh: HashMap<usize, Vec<f32>> = HashMap::with_capacity(missing.len());
    for (n, group) in missing.chunks(EMBED_GROUP).enumerate() {
        progress(Progress::Embedding {
            done: n * EMBED_GROUP,
            total: missing.len(),
        });
        let refs: Vec<&str> = group.iter().map(|&i| texts[i].as_str()).collect();
        let out = embedder.embed(&refs)?;
        fresh.extend(group.iter().copied().zip(out));
    }
    progress(Progress::Embedded {
        count: missing.len(),
        reused: chunks.len() - missing.len(),
        elapsed: t.elapsed(),
    });
    let vectors = (0..chunks.len())
        .map(|i| match reused[i] {
            Some(row) => old.map_or_else(Vec::new, |o| o.vector(row).to_vec()),
            None => fresh.remove(&i).unwrap_or_default(),
        })
        .collect();
    Ok(Embedded {
        keys,
        vectors,
        embedded: missing.len(),
    })
}
