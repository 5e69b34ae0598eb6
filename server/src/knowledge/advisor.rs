//! What the faces show beside their findings: the policies and written rules that concern a
//! resource, and the written rules behind a policy. Protocol-free; the language server, `usher
//! check --explain` and the MCP server present it. Lookups are cached (per resource query and
//! per policy), so an unchanged resource never costs a second search or embedding.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value as Json;

use super::embed::Embedder;
use super::index::{Filters, KnowledgeIndex, Mode, OpenError};
use super::query::{ResourceQuery, resource_query};
use super::{Chunk, SourceType};

/// Hits shown for a resource (hover, `--explain`).
pub const RESOURCE_HITS: usize = 5;
/// Written rules shown for a policy finding.
const RULES_PER_POLICY: usize = 3;
/// Most written-rule diagnostics on one resource.
const DIAGNOSTICS_PER_RESOURCE: usize = 3;
/// How far down the vector list written rules are looked for.
const VECTOR_POOL: usize = 50;
/// Cached lookups before the cache starts over (a session edits far fewer resources).
const CACHE_LIMIT: usize = 4096;

/// One piece of knowledge about something, with how close it is in meaning.
#[derive(Debug, Clone)]
pub struct Advice {
    pub chunk: Arc<Chunk>,
    /// Cosine similarity of the question and the chunk (0 to 1), when the model is there.
    pub relevance: Option<f32>,
}

impl Advice {
    /// Whether this is something people wrote down (not a policy or a kind).
    pub fn is_written(&self) -> bool {
        is_written(self.chunk.source_type)
    }
}

fn is_written(t: SourceType) -> bool {
    matches!(
        t,
        SourceType::Doc | SourceType::Slack | SourceType::Transcript
    )
}

/// What the index knows about one resource.
#[derive(Debug, Default)]
pub struct ResourceAdvice {
    /// The best hits (policies, written rules, kinds), hybrid-ranked.
    pub hits: Vec<Advice>,
    /// Written rules at least as relevant as the threshold, most relevant first.
    pub written: Vec<Advice>,
}

pub struct Advisor {
    index: KnowledgeIndex,
    /// The model, when it is the one the index was embedded with.
    embedder: Option<Embedder>,
    threshold: Option<f32>,
    /// Relative provenance paths are relative to this folder.
    workspace: PathBuf,
    /// Chunk id → row of the index's vectors.
    rows: HashMap<String, usize>,
    resources: Mutex<HashMap<ResourceQuery, Arc<ResourceAdvice>>>,
    policies: Mutex<HashMap<String, Arc<Vec<Advice>>>>,
}

impl std::fmt::Debug for Advisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advisor")
            .field("index", &self.index.dir)
            .field("vectors", &self.embedder.is_some())
            .finish_non_exhaustive()
    }
}

impl Advisor {
    /// Opens the index in `dir`. `embedder` loads the model (or says why there is none); it is
    /// called only when the index has vectors.
    /// `threshold` the relevance from which written rules become diagnostics (None: never).
    /// Returns the advisor and notices worth telling the user once (BM25 only, and why).
    pub fn open(
        dir: &Path,
        embedder: impl FnOnce() -> Result<Embedder, String>,
        threshold: Option<f32>,
        workspace: &Path,
    ) -> Result<(Advisor, Vec<String>), OpenError> {
        let index = KnowledgeIndex::open(dir)?;
        let mut notices = Vec::new();
        let embedder = if index.vectors.is_some() {
            embedder()
        } else {
            Err(String::new())
        };
        let embedder = match (embedder, &index.vectors, &index.manifest.model) {
            (Ok(e), Some(_), Some(m)) if m == e.model_id() => Some(e),
            (Ok(_), Some(_), Some(_)) => {
                notices.push(format!(
                    "the knowledge index {} was embedded with another model; words only (BM25) \
                     until `usher index` runs again",
                    dir.display()
                ));
                None
            }
            (_, None, _) | (_, _, None) => {
                notices.push(format!(
                    "the knowledge index {} has no vectors; words only (BM25) until `usher index` \
                     runs with the embedding model",
                    dir.display()
                ));
                None
            }
            (Err(why), Some(_), Some(_)) => {
                notices.push(format!(
                    "{why}; knowledge lookups use words only (BM25), and written rules are not \
                     reported as diagnostics (their relevance needs the model)"
                ));
                None
            }
        };
        let rows = index
            .vectors
            .as_ref()
            .map(|v| {
                v.keys
                    .iter()
                    .enumerate()
                    .map(|(i, (id, _))| (id.clone(), i))
                    .collect()
            })
            .unwrap_or_default();
        Ok((
            Advisor {
                index,
                embedder,
                threshold,
                workspace: workspace.to_path_buf(),
                rows,
                resources: Mutex::new(HashMap::new()),
                policies: Mutex::new(HashMap::new()),
            },
            notices,
        ))
    }

    pub fn index(&self) -> &KnowledgeIndex {
        &self.index
    }

    /// Whether lookups rank by meaning as well as words.
    pub fn has_vectors(&self) -> bool {
        self.embedder.is_some()
    }

    /// The relevance threshold of written-rule diagnostics (None: off or no model).
    pub fn threshold(&self) -> Option<f32> {
        self.threshold.filter(|_| self.embedder.is_some())
    }

    /// The file a chunk comes from, absolute.
    pub fn source_path(&self, chunk: &Chunk) -> Option<PathBuf> {
        let p = chunk.provenance.path.as_ref()?;
        if crate::policy::is_virtual_path(p) {
            return None;
        }
        Some(if p.is_relative() {
            self.workspace.join(p)
        } else {
            p.clone()
        })
    }

    /// The policies, written rules and kinds that concern `resource` (a Kubernetes object).
    pub fn for_resource(&self, resource: &Json) -> Arc<ResourceAdvice> {
        let query = resource_query(resource);
        if query.text.is_empty() {
            return Arc::default();
        }
        if let Some(hit) = self
            .resources
            .lock()
            .ok()
            .and_then(|c| c.get(&query).cloned())
        {
            return hit;
        }
        let qv = self
            .embedder
            .as_ref()
            .and_then(|e| e.embed_query(&query.text).ok());
        let advice = self.lookup(&query, qv);
        self.remember(query, advice)
    }

    /// Looks up several resources at once (one run of the model for all their queries), so
    /// that [`Advisor::for_resource`] finds them cached: for a file of many resources, or
    /// beside other work.
    pub fn prefetch(&self, resources: &[Json]) {
        let mut queries: Vec<ResourceQuery> = resources
            .iter()
            .map(resource_query)
            .filter(|q| !q.text.is_empty())
            .collect();
        let mut seen = std::collections::HashSet::new();
        let cache = self.resources.lock().ok();
        queries.retain(|q| {
            !cache.as_ref().is_some_and(|c| c.contains_key(q)) && seen.insert(q.clone())
        });
        drop(cache);
        if queries.is_empty() {
            return;
        }
        let vectors = self.embedder.as_ref().and_then(|e| {
            let texts: Vec<&str> = queries.iter().map(|q| q.text.as_str()).collect();
            e.embed_queries(&texts).ok()
        });
        for (i, q) in queries.into_iter().enumerate() {
            let qv = vectors.as_ref().and_then(|v| v.get(i).cloned());
            let advice = self.lookup(&q, qv);
            self.remember(q, advice);
        }
    }

    fn remember(&self, query: ResourceQuery, advice: ResourceAdvice) -> Arc<ResourceAdvice> {
        let advice = Arc::new(advice);
        if let Ok(mut cache) = self.resources.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(query, advice.clone());
        }
        advice
    }

    /// A free-text question (`usher mcp`'s search tools): hybrid-ranked when the model is
    /// there, by words (BM25) otherwise. Each hit carries its similarity to the question when
    /// it is known.
    pub fn search(&self, query: &str, k: usize, filters: &Filters) -> Result<Vec<Advice>, String> {
        let qv = match &self.embedder {
            Some(e) => Some(e.embed_query(query)?),
            None => None,
        };
        let hits = self
            .index
            .search_mode(query, qv.as_deref(), k, filters, Mode::Hybrid)?;
        Ok(hits
            .into_iter()
            .map(|h| Advice {
                relevance: qv.as_deref().and_then(|q| self.similarity(q, &h.chunk.id)),
                chunk: h.chunk,
            })
            .collect())
    }

    fn lookup(&self, query: &ResourceQuery, qv: Option<Vec<f32>>) -> ResourceAdvice {
        let filters = query.filters();
        // Kinds are left out: the resource's own kind (and its other versions) would top the
        // list, and hovering `kind` shows its schema already.
        let hits = self
            .index
            .search_mode(
                &query.text,
                qv.as_deref(),
                RESOURCE_HITS * 3,
                &filters,
                Mode::Hybrid,
            )
            .unwrap_or_default();
        let hits: Vec<Advice> = hits
            .into_iter()
            .filter(|h| h.chunk.source_type != SourceType::Kind)
            .take(RESOURCE_HITS)
            .map(|h| Advice {
                relevance: qv.as_deref().and_then(|q| self.similarity(q, &h.chunk.id)),
                chunk: h.chunk,
            })
            .collect();
        let written = match (self.threshold(), &qv) {
            (Some(t), Some(q)) => self.written_near(q, t, DIAGNOSTICS_PER_RESOURCE, None),
            _ => Vec::new(),
        };
        ResourceAdvice { hits, written }
    }

    /// Cosine similarity of `query` and the chunk `id`'s vector.
    fn similarity(&self, query: &[f32], id: &str) -> Option<f32> {
        let vectors = self.index.vectors.as_ref()?;
        let row = *self.rows.get(id)?;
        Some(
            vectors
                .vector(row)
                .iter()
                .zip(query)
                .map(|(a, b)| a * b)
                .sum(),
        )
    }

    /// Written rules whose vectors are at least `threshold` similar to `query`.
    fn written_near(
        &self,
        query: &[f32],
        threshold: f32,
        most: usize,
        skip: Option<&str>,
    ) -> Vec<Advice> {
        let Some(vectors) = &self.index.vectors else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (row, sim) in vectors.search(query, VECTOR_POOL) {
            if sim < threshold || out.len() >= most {
                break;
            }
            let id = &vectors.keys[row].0;
            if Some(id.as_str()) == skip {
                continue;
            }
            if let Some(chunk) = self.index.chunk(id)
                && is_written(chunk.source_type)
            {
                out.push(Advice {
                    chunk,
                    relevance: Some(sim),
                });
            }
        }
        out
    }

    /// The written rules behind policy `name` (by meaning: the policy's own vector in the
    /// index), for `relatedInformation` on its findings. Needs the model; cached per policy.
    pub fn for_policy(&self, name: &str) -> Arc<Vec<Advice>> {
        if let Some(hit) = self.policies.lock().ok().and_then(|c| c.get(name).cloned()) {
            return hit;
        }
        let id = format!("policy:{name}");
        let found = match (
            self.threshold.filter(|_| self.embedder.is_some()),
            &self.index.vectors,
        ) {
            (Some(t), Some(vectors)) => match self.rows.get(&id) {
                Some(&row) => {
                    let v = vectors.vector(row).to_vec();
                    self.written_near(&v, t, RULES_PER_POLICY, Some(&id))
                }
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
        let found = Arc::new(found);
        if let Ok(mut cache) = self.policies.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(name.to_string(), found.clone());
        }
        found
    }
}

/// Where a chunk comes from, in one line: `wiki/rules.md:12-30`, `#platform · Dana ·
/// 2026-10-01`, `meetings/sync.vtt @ 00:12:31 (Dana)`; empty when nothing is known.
pub fn provenance_line(c: &Chunk) -> String {
    let p = &c.provenance;
    let path = p.path.as_ref().map(|p| p.display().to_string());
    match c.source_type {
        SourceType::Slack => {
            let mut s = format!(
                "#{} · {} · {}",
                p.channel.as_deref().unwrap_or("?"),
                p.author.as_deref().unwrap_or("?"),
                p.time.as_deref().unwrap_or("?")
            );
            if let Some(t) = &p.thread {
                s.push_str(&format!(" · thread {t}"));
            }
            s
        }
        SourceType::Transcript => format!(
            "{} @ {}{}",
            path.unwrap_or_default(),
            p.time.as_deref().unwrap_or("?"),
            p.author
                .as_ref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default()
        ),
        _ => match (path, p.lines) {
            (Some(path), Some((a, b))) if b > a => format!("{path}:{a}-{b}"),
            (Some(path), Some((a, _))) => format!("{path}:{a}"),
            (Some(path), None) => path,
            (None, _) => String::new(),
        },
    }
}

/// `advisor` for the language server and `usher check`: the index of `knowledge.index` (else
/// `<workspace>/.usher/index`) with the model of `knowledge.model` (else `.tools/model` or
/// `$USHER_MODEL_DIR`). Ok(None) when there is no index yet.
pub fn open_configured(
    config: Option<&crate::config::KnowledgeConfig>,
    workspace: &Path,
) -> Result<Option<(Advisor, Vec<String>)>, String> {
    let dir = config
        .and_then(|k| k.index.clone())
        .unwrap_or_else(|| workspace.join(".usher/index"));
    let threshold = config.map_or(Some(crate::config::DEFAULT_RELEVANCE), |k| {
        k.diagnostic_threshold()
    });
    let model = config.and_then(|k| k.model.clone());
    let load = || Embedder::locate(workspace, model.as_deref()).and_then(|f| Embedder::load(&f));
    match Advisor::open(&dir, load, threshold, workspace) {
        Ok(found) => Ok(Some(found)),
        Err(OpenError::Missing) => Ok(None),
        Err(OpenError::Unusable(why)) => Err(format!(
            "the knowledge index {} cannot be used ({why}); run `usher index` to rebuild it",
            dir.display()
        )),
    }
}

/// The first sentence (or line) of a chunk's text, for one-line summaries.
pub fn summary(c: &Chunk, max_chars: usize) -> String {
    let text = c
        .text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('#')
                && *l != c.title.trim()
                // A policy's header lines (see sources::policies) are not its gist.
                && !["Category:", "Severity:", "Subject:", "Kubernetes version:"]
                    .iter()
                    .any(|h| l.starts_with(h))
        })
        .collect::<Vec<_>>()
        .join(" ");
    let text = if text.is_empty() {
        c.title.clone()
    } else {
        text
    };
    // Whole sentences, at least a few words' worth ("Okay." says nothing).
    let end = text
        .char_indices()
        .find(|(i, ch)| matches!(ch, '.' | '?' | '!') && *i >= 40 && text[i + 1..].starts_with(' '))
        .map_or(text.len(), |(i, _)| i + 1);
    let first = &text[..end];
    if first.chars().count() <= max_chars {
        first.to_string()
    } else {
        let cut: String = first.chars().take(max_chars.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}
