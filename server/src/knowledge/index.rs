//! The persisted knowledge index: chunks in `tantivy` (BM25, filters by source type and kind)
//! under a folder (default `.usher/index`) with a manifest (format version, chunk count, the
//! hash of every source). Writes are atomic: a new index is built beside the old one and
//! swapped in by renames, so a crash mid-index leaves the old one usable. An index that is
//! missing, corrupt or of another format is reported as such, never a crash.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{DocAddress, Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, Term, doc};

use super::vectors::{VectorIndex, rrf};
use super::{Chunk, SourceType};

/// Bumped when the on-disk layout changes; an index of another format is rebuilt.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub chunks: usize,
    /// Source path → sha256-like content hash (hex) of what was indexed from it.
    pub sources: BTreeMap<String, String>,
    /// When the index was written (RFC 3339, UTC).
    pub written: String,
    /// The embedding model of `vectors.bin` (id with its hash), if the chunks were embedded.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub dimensions: Option<usize>,
}

struct Fields {
    id: Field,
    source_type: Field,
    kinds: Field,
    title: Field,
    text: Field,
    chunk: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // English stemming: "databases" finds "database".
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("en_stem")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        source_type: b.add_text_field("source_type", STRING),
        kinds: b.add_text_field("kinds", STRING),
        title: b.add_text_field("title", text.clone()),
        text: b.add_text_field("text", text),
        chunk: b.add_text_field("chunk", STORED),
    };
    (b.build(), fields)
}

/// A search hit: the chunk and its BM25 score.
#[derive(Debug, Clone)]
pub struct Hit {
    pub chunk: Arc<Chunk>,
    pub score: f32,
}

/// What a search is limited to.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub source_type: Option<SourceType>,
    /// A kind name (`Deployment`), matched against the chunks' kinds.
    pub kind: Option<String>,
    /// The kind of the resource being asked about: policies that cannot apply to it (an
    /// Ingress policy for a Deployment) are left out; written rules and kinds are kept.
    pub for_resource: Option<String>,
}

/// Workload kinds that Kyverno's autogen extends Pod policies to.
const POD_CONTROLLERS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
];

impl Filters {
    /// Whether a policy chunk may concern a resource of `kind`.
    fn applies(chunk: &Chunk, kind: &str) -> bool {
        if chunk.source_type != SourceType::Policy || chunk.kinds.is_empty() {
            return true;
        }
        let controller = POD_CONTROLLERS.iter().any(|c| c.eq_ignore_ascii_case(kind));
        chunk.kinds.iter().any(|k| {
            let k = k.rsplit('/').next().unwrap_or(k);
            k == "*" || k.eq_ignore_ascii_case(kind) || (controller && k == "Pod")
        })
    }

    fn keeps(&self, chunk: &Chunk) -> bool {
        self.for_resource
            .as_deref()
            .is_none_or(|kind| Filters::applies(chunk, kind))
    }
}

pub struct KnowledgeIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    pub manifest: Manifest,
    pub dir: PathBuf,
    /// The chunks' vectors, when the index was built with an embedding model.
    pub vectors: Option<VectorIndex>,
    /// The chunks read so far. A resource's lookup weighs a few hundred candidates (by words
    /// and by meaning, before the filters): each is read from the store and parsed once per
    /// opened index, not once per lookup. An opened index never changes (a new one replaces
    /// it, and the reader does not reload), so neither do its chunks; the cache holds at most
    /// the index's own chunks.
    cache: Mutex<ChunkCache>,
}

#[derive(Default)]
struct ChunkCache {
    by_address: HashMap<DocAddress, Arc<Chunk>>,
    by_id: HashMap<String, Arc<Chunk>>,
}

/// How to rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bm25,
    Vector,
    /// Both, fused by reciprocal rank.
    Hybrid,
}

/// Why an index could not be opened.
#[derive(Debug)]
pub enum OpenError {
    Missing,
    /// Corrupt, unreadable or of another format: rebuild it.
    Unusable(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Missing => f.write_str("no index yet"),
            OpenError::Unusable(why) => write!(f, "the index cannot be used ({why})"),
        }
    }
}

/// A content hash of a source, to tell whether it changed since it was indexed.
pub fn content_hash(bytes: &[u8]) -> String {
    // FNV-1a 64 twice with different offsets: stable across runs and platforms.
    let mut a: u64 = 0xcbf29ce484222325;
    let mut b: u64 = 0x84222325cbf29ce4;
    for &x in bytes {
        a = (a ^ u64::from(x)).wrapping_mul(0x100000001b3);
        b = (b ^ u64::from(x))
            .wrapping_mul(0x100000001b3)
            .rotate_left(5);
    }
    format!("{a:016x}{b:016x}")
}

impl KnowledgeIndex {
    /// Writes a new index of `chunks` to `dir`, replacing the one there only once the new one
    /// is complete.
    pub fn write(
        dir: &Path,
        chunks: &[Chunk],
        sources: BTreeMap<String, String>,
        vectors: Option<(String, &VectorIndex)>,
    ) -> Result<KnowledgeIndex, String> {
        let parent = dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        let tmp = parent.join(format!(".{name}.new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let result = Self::write_into(&tmp, chunks, sources, vectors);
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        // Swap: old → .old, new → dir, drop .old.
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        let had_old = dir.exists();
        if had_old {
            std::fs::rename(dir, &old)
                .map_err(|e| format!("cannot replace {}: {e}", dir.display()))?;
        }
        if let Err(e) = std::fs::rename(&tmp, dir) {
            if had_old {
                let _ = std::fs::rename(&old, dir);
            }
            return Err(format!("cannot move the new index into place: {e}"));
        }
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        Self::open(dir).map_err(|e| e.to_string())
    }

    fn write_into(
        tmp: &Path,
        chunks: &[Chunk],
        sources: BTreeMap<String, String>,
        vectors: Option<(String, &VectorIndex)>,
    ) -> Result<(), String> {
        let err = |e: tantivy::TantivyError| format!("index: {e}");
        let ft = tmp.join("tantivy");
        std::fs::create_dir_all(&ft).map_err(|e| format!("cannot create {}: {e}", ft.display()))?;
        let (schema, f) = schema();
        let index = Index::create_in_dir(&ft, schema).map_err(err)?;
        let mut writer = index.writer_with_num_threads(1, 50_000_000).map_err(err)?;
        for c in chunks {
            let mut d = doc!(
                f.id => c.id.clone(),
                f.source_type => c.source_type.as_str(),
                f.title => c.title.clone(),
                f.text => c.text.clone(),
                f.chunk => serde_json::to_string(c).map_err(|e| e.to_string())?,
            );
            for k in &c.kinds {
                d.add_text(f.kinds, k.to_ascii_lowercase());
            }
            writer.add_document(d).map_err(err)?;
        }
        writer.commit().map_err(err)?;
        writer.wait_merging_threads().map_err(err)?;
        if let Some((_, v)) = &vectors {
            v.save(&tmp.join("vectors.bin"))?;
        }
        let manifest = Manifest {
            model: vectors.as_ref().map(|(m, _)| m.clone()),
            dimensions: vectors.as_ref().map(|(_, v)| v.dims),
            format: FORMAT_VERSION,
            chunks: chunks.len(),
            sources,
            written: crate::policy::functions::format_rfc3339(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64().floor())
                    .unwrap_or(0.0),
            ),
        };
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
        std::fs::write(tmp.join("manifest.json"), text)
            .map_err(|e| format!("cannot write the manifest: {e}"))
    }

    /// Opens the index in `dir`.
    pub fn open(dir: &Path) -> Result<KnowledgeIndex, OpenError> {
        let manifest_path = dir.join("manifest.json");
        let text = match std::fs::read_to_string(&manifest_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(OpenError::Missing),
            Err(e) => {
                return Err(OpenError::Unusable(format!(
                    "{}: {e}",
                    manifest_path.display()
                )));
            }
        };
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| OpenError::Unusable(format!("{}: {e}", manifest_path.display())))?;
        if manifest.format != FORMAT_VERSION {
            return Err(OpenError::Unusable(format!(
                "format {} is not this version's {FORMAT_VERSION}",
                manifest.format
            )));
        }
        let unusable = |e: tantivy::TantivyError| OpenError::Unusable(e.to_string());
        let index = Index::open_in_dir(dir.join("tantivy")).map_err(unusable)?;
        let (expected, fields) = schema();
        if index.schema() != expected {
            return Err(OpenError::Unusable(
                "its schema is not this version's".into(),
            ));
        }
        // A snapshot: document addresses (the chunk cache's keys) stay valid.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(unusable)?;
        let vectors = match manifest.model {
            Some(_) => {
                Some(VectorIndex::load(&dir.join("vectors.bin")).map_err(OpenError::Unusable)?)
            }
            None => None,
        };
        Ok(KnowledgeIndex {
            index,
            reader,
            fields,
            manifest,
            dir: dir.to_path_buf(),
            vectors,
            cache: Mutex::default(),
        })
    }

    /// The best `k` chunks for `query` (BM25 over titles and texts), within `filters`.
    pub fn search(&self, query: &str, k: usize, filters: &Filters) -> Result<Vec<Hit>, String> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let f = &self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.text]);
        parser.set_field_boost(f.title, 2.0);
        // Lenient: people type questions, not query syntax.
        let (text_query, _errors) = parser.parse_query_lenient(&sanitize(query));
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text_query)];
        if let Some(t) = filters.source_type {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.source_type, t.as_str()),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        if let Some(kind) = &filters.kind {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.kinds, &kind.to_ascii_lowercase()),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        // Policies for other kinds are left out after ranking: fetch enough to fill `k`.
        let fetch = if filters.for_resource.is_some() {
            k * 4
        } else {
            k
        };
        let top = searcher
            .search(&query, &TopDocs::with_limit(fetch).order_by_score())
            .map_err(|e| format!("search failed: {e}"))?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let chunk = self.read(&searcher, addr)?;
            if filters.keeps(&chunk) {
                hits.push(Hit { chunk, score });
            }
        }
        hits.truncate(k);
        Ok(hits)
    }
}

impl KnowledgeIndex {
    /// A chunk by its id.
    pub fn chunk(&self, id: &str) -> Option<Arc<Chunk>> {
        if let Some(c) = self.cache.lock().ok()?.by_id.get(id) {
            return Some(c.clone());
        }
        let q = TermQuery::new(
            Term::from_field_text(self.fields.id, id),
            IndexRecordOption::Basic,
        );
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&q, &TopDocs::with_limit(1).order_by_score())
            .ok()?;
        let (_, addr) = top.first()?;
        self.read(&searcher, *addr).ok()
    }

    /// The chunk stored at `addr`, read and parsed once.
    fn read(&self, searcher: &Searcher, addr: DocAddress) -> Result<Arc<Chunk>, String> {
        if let Some(c) = self
            .cache
            .lock()
            .map_err(|_| "the chunk cache is poisoned".to_string())?
            .by_address
            .get(&addr)
        {
            return Ok(c.clone());
        }
        let d: TantivyDocument = searcher
            .doc(addr)
            .map_err(|e| format!("search failed: {e}"))?;
        let json = d
            .get_first(self.fields.chunk)
            .and_then(|v| v.as_str())
            .ok_or("corrupt index entry: no chunk stored")?;
        let chunk: Arc<Chunk> =
            Arc::new(serde_json::from_str(json).map_err(|e| format!("corrupt index entry: {e}"))?);
        if let Ok(mut cache) = self.cache.lock() {
            cache.by_id.insert(chunk.id.clone(), chunk.clone());
            cache.by_address.insert(addr, chunk.clone());
        }
        Ok(chunk)
    }

    /// Ranks by BM25, by vector similarity to `query_vector`, or by both fused. Without a
    /// query vector (or vectors in the index), every mode is BM25.
    pub fn search_mode(
        &self,
        query: &str,
        query_vector: Option<&[f32]>,
        k: usize,
        filters: &Filters,
        mode: Mode,
    ) -> Result<Vec<Hit>, String> {
        let (Some(qv), Some(vectors)) = (query_vector, &self.vectors) else {
            return self.search(query, k, filters);
        };
        if mode == Mode::Bm25 {
            return self.search(query, k, filters);
        }
        let pool = (k * 5).max(50);
        let wanted = |c: &Chunk| {
            filters.source_type.is_none_or(|t| c.source_type == t)
                && filters
                    .kind
                    .as_ref()
                    .is_none_or(|k| c.kinds.iter().any(|x| x.eq_ignore_ascii_case(k)))
                && filters.keeps(c)
        };
        let filtered = filters.source_type.is_some()
            || filters.kind.is_some()
            || filters.for_resource.is_some();
        let mut by_vector: Vec<Hit> = Vec::new();
        for (i, sim) in vectors.search(qv, if filtered { pool * 4 } else { pool }) {
            let Some(chunk) = self.chunk(&vectors.keys[i].0) else {
                continue;
            };
            if wanted(&chunk) {
                by_vector.push(Hit { chunk, score: sim });
            }
            if by_vector.len() >= pool {
                break;
            }
        }
        if mode == Mode::Vector {
            by_vector.truncate(k);
            return Ok(by_vector);
        }
        let by_words = self.search(query, pool, filters)?;
        let mut pool_chunks: Vec<Arc<Chunk>> = Vec::new();
        let index_of = |c: &Arc<Chunk>, pool_chunks: &mut Vec<Arc<Chunk>>| -> usize {
            match pool_chunks.iter().position(|x| x.id == c.id) {
                Some(i) => i,
                None => {
                    pool_chunks.push(c.clone());
                    pool_chunks.len() - 1
                }
            }
        };
        let words: Vec<usize> = by_words
            .iter()
            .map(|h| index_of(&h.chunk, &mut pool_chunks))
            .collect();
        let meaning: Vec<usize> = by_vector
            .iter()
            .map(|h| index_of(&h.chunk, &mut pool_chunks))
            .collect();
        // Reciprocal rank fusion over both pools (k = 60, as Cormack et al.). Measured on the
        // retrieval dev set, it beats either list alone once a policy is one chunk and
        // manifests are queried through `query::resource_query`.
        Ok(rrf(&[words, meaning])
            .into_iter()
            .take(k)
            .map(|(i, score)| Hit {
                chunk: pool_chunks[i].clone(),
                score,
            })
            .collect())
    }
}

/// Query text without the query language's operators (kept as words).
fn sanitize(q: &str) -> String {
    q.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .map(|w| w.trim_start_matches('-'))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::Provenance;

    fn chunk(id: &str, t: SourceType, title: &str, text: &str, kinds: &[&str]) -> Chunk {
        Chunk {
            id: id.into(),
            source_type: t,
            title: title.into(),
            text: text.into(),
            provenance: Provenance::default(),
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
        }
    }

    fn sample() -> Vec<Chunk> {
        vec![
            chunk(
                "policy:require-run-as-nonroot",
                SourceType::Policy,
                "Require runAsNonRoot",
                "Containers must run as a non-root user: runAsNonRoot must be true.",
                &["Pod"],
            ),
            chunk(
                "doc:wiki/platform.md:3-9",
                SourceType::Doc,
                "Databases › Regions",
                "Databases run only in us-east-1. Postgres clusters elsewhere are rejected.",
                &[],
            ),
            chunk(
                "slack:platform:1700000000.000100",
                SourceType::Slack,
                "#platform, 2026-10-01",
                "Can I run a postgres database in eu-west-1? No: databases only in us-east-1.",
                &["Cluster"],
            ),
        ]
    }

    #[test]
    fn writes_opens_and_searches_with_filters() {
        let dir = std::env::temp_dir().join(format!("usher-index-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let index_dir = dir.join("index");
        let sources = BTreeMap::from([("wiki/platform.md".to_string(), content_hash(b"x"))]);
        let idx = KnowledgeIndex::write(&index_dir, &sample(), sources.clone(), None).unwrap();
        assert_eq!(idx.manifest.chunks, 3);
        let hits = idx
            .search(
                "which region may my postgres database run in?",
                5,
                &Filters::default(),
            )
            .unwrap();
        let mut top2: Vec<&str> = hits.iter().take(2).map(|h| h.chunk.id.as_str()).collect();
        top2.sort();
        assert_eq!(
            top2,
            [
                "doc:wiki/platform.md:3-9",
                "slack:platform:1700000000.000100"
            ],
            "{hits:?}"
        );
        let only_slack = Filters {
            source_type: Some(SourceType::Slack),
            ..Default::default()
        };
        let hits = idx.search("postgres us-east-1", 5, &only_slack).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].chunk.source_type, SourceType::Slack);
        let pods = Filters {
            kind: Some("pod".into()),
            ..Default::default()
        };
        let hits = idx.search("run as root", 5, &pods).unwrap();
        assert_eq!(hits[0].chunk.id, "policy:require-run-as-nonroot");
        // A Pod policy concerns a Deployment (autogen) but not an Ingress; written rules
        // concern both.
        let about = |kind: &str| Filters {
            for_resource: Some(kind.into()),
            ..Default::default()
        };
        let ids = |f: &Filters| -> Vec<String> {
            idx.search("run as root us-east-1 database", 5, f)
                .unwrap()
                .into_iter()
                .map(|h| h.chunk.id.clone())
                .collect()
        };
        assert!(ids(&about("Deployment")).contains(&"policy:require-run-as-nonroot".into()));
        let ingress = ids(&about("Ingress"));
        assert!(!ingress.contains(&"policy:require-run-as-nonroot".into()));
        assert!(ingress.contains(&"doc:wiki/platform.md:3-9".into()));
        // Query syntax in user input is not an error.
        assert!(
            idx.search("title:(\"unbalanced AND -", 5, &Filters::default())
                .is_ok()
        );
        drop(idx);

        // Re-writing replaces the index; the old one stays usable until the swap.
        let idx = KnowledgeIndex::write(&index_dir, &sample()[..1], sources, None).unwrap();
        assert_eq!(idx.manifest.chunks, 1);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary folders left behind"
        );
        drop(idx);

        // A corrupt manifest or a missing index is reported, not a panic.
        std::fs::write(index_dir.join("manifest.json"), "{not json").unwrap();
        assert!(matches!(
            KnowledgeIndex::open(&index_dir),
            Err(OpenError::Unusable(_))
        ));
        assert!(matches!(
            KnowledgeIndex::open(&dir.join("nothing")),
            Err(OpenError::Missing)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
