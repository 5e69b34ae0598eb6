//! Sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) run by ONNX Runtime through `ort`.
//!
//! Nothing here downloads anything. `scripts/setup-model.sh` puts the ONNX Runtime shared
//! library, the model, its tokenizer and a manifest into `.tools/model/`; [`Embedder::locate`]
//! finds that folder and [`Embedder::load`] loads the library (`ort`'s `load-dynamic`), the
//! session and the tokenizer. Vectors are the mean of the last hidden state over the attention
//! mask, L2-normalised, as sentence-transformers computes them for this model.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use serde::Deserialize;
use tokenizers::{
    Encoding, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams, pad_encodings,
};

/// The folder `scripts/setup-model.sh` installs into, relative to the workspace (or a parent).
pub const MODEL_DIR: &str = ".tools/model";
/// Environment variable naming a model folder, used when neither a configured folder nor
/// `.tools/model` is found.
pub const MODEL_DIR_ENV: &str = "USHER_MODEL_DIR";

pub const LIBRARY_FILE: &str = "libonnxruntime.so";
pub const MODEL_FILE: &str = "model.onnx";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const MANIFEST_FILE: &str = "manifest.json";

/// Texts per inference call.
pub const BATCH_SIZE: usize = 32;
/// Longer texts are truncated to this many tokens (the model was trained with 256).
pub const MAX_TOKENS: usize = 256;
/// Tokens of a search query that are embedded (see [`Embedder::embed_query`]).
pub const MAX_QUERY_TOKENS: usize = 32;

/// Query vectors kept by model input before the cache starts over (1.5 KiB each).
const QUERY_CACHE_LIMIT: usize = 4096;

/// The files of one installed model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    pub dir: PathBuf,
    pub library: PathBuf,
    pub model: PathBuf,
    pub tokenizer: PathBuf,
    pub manifest: PathBuf,
}

impl ModelFiles {
    /// The files in `dir`, or an error naming the ones that are missing.
    pub fn in_dir(dir: &Path) -> Result<ModelFiles, String> {
        let files = ModelFiles {
            dir: dir.to_path_buf(),
            library: dir.join(LIBRARY_FILE),
            model: dir.join(MODEL_FILE),
            tokenizer: dir.join(TOKENIZER_FILE),
            manifest: dir.join(MANIFEST_FILE),
        };
        let missing: Vec<&str> = [
            (&files.library, LIBRARY_FILE),
            (&files.model, MODEL_FILE),
            (&files.tokenizer, TOKENIZER_FILE),
            (&files.manifest, MANIFEST_FILE),
        ]
        .into_iter()
        .filter(|(path, _)| !path.is_file())
        .map(|(_, name)| name)
        .collect();
        if missing.is_empty() {
            Ok(files)
        } else {
            Err(format!(
                "the model folder {} lacks {} (scripts/setup-model.sh installs them)",
                dir.display(),
                missing.join(", ")
            ))
        }
    }
}

/// `manifest.json` as `scripts/setup-model.sh` writes it.
#[derive(Debug, Clone, Deserialize)]
struct Manifest {
    model_id: String,
    dimensions: usize,
    files: BTreeMap<String, ManifestFile>,
}

#[derive(Debug, Clone, Deserialize)]
struct ManifestFile {
    sha256: String,
}

/// ONNX Runtime allows one environment per process, and `ort` loads one library per process:
/// both are created by the first [`Embedder::load`] and shared by every later one.
static RUNTIME: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);

fn runtime(library: &Path) -> Result<Environment, String> {
    let library = library
        .canonicalize()
        .map_err(|e| format!("ONNX Runtime library {}: {e}", library.display()))?;
    let mut runtime = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((loaded, environment)) = runtime.as_ref() {
        if *loaded != library {
            return Err(format!(
                "ONNX Runtime is already loaded from {}; one process cannot load {} as well",
                loaded.display(),
                library.display()
            ));
        }
        return Ok(environment.clone());
    }
    let environment = ort::init_from(&library)
        .map_err(|e| format!("cannot load the ONNX Runtime library: {e}"))?
        .with_name("usher")
        .build()
        .map_err(|e| {
            format!(
                "cannot create an ONNX Runtime environment from {}: {e}",
                library.display()
            )
        })?;
    *runtime = Some((library, environment.clone()));
    Ok(environment)
}

/// The model's input names, as found at load.
#[derive(Debug, Clone)]
struct Inputs {
    input_ids: String,
    attention_mask: String,
    token_type_ids: Option<String>,
}

/// A loaded sentence embedding model. Shareable between threads: inference takes a lock on the
/// session (ONNX Runtime parallelises inside one call), tokenisation does not.
pub struct Embedder {
    session: Mutex<Session>,
    tokenizer: Tokenizer,
    /// The same, truncating at [`MAX_QUERY_TOKENS`].
    query_tokenizer: Tokenizer,
    /// Query vectors by the token ids the model saw: queries that differ only after their
    /// first [`MAX_QUERY_TOKENS`] tokens (a renamed resource, an edited env value deep in a
    /// Deployment) have the same model input, hence the same vector, and skip the model.
    query_vectors: Mutex<HashMap<Vec<u32>, Vec<f32>>>,
    /// Texts run through the model so far.
    rows_run: AtomicUsize,
    inputs: Inputs,
    output: String,
    dimensions: usize,
    model_id: String,
    files: ModelFiles,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model_id", &self.model_id)
            .field("dimensions", &self.dimensions)
            .field("dir", &self.files.dir)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Finds the model files: in `configured` when given (and nowhere else), else in
    /// `.tools/model` under `workspace` or one of its parents, else in `$USHER_MODEL_DIR`.
    pub fn locate(workspace: &Path, configured: Option<&Path>) -> Result<ModelFiles, String> {
        if let Some(dir) = configured {
            let dir = if dir.is_relative() {
                workspace.join(dir)
            } else {
                dir.to_path_buf()
            };
            return ModelFiles::in_dir(&dir);
        }
        let workspace = workspace
            .canonicalize()
            .unwrap_or_else(|_| workspace.to_path_buf());
        let mut incomplete = None;
        for dir in workspace.ancestors().map(|a| a.join(MODEL_DIR)) {
            if dir.is_dir() {
                match ModelFiles::in_dir(&dir) {
                    Ok(files) => return Ok(files),
                    Err(e) => {
                        incomplete.get_or_insert(e);
                    }
                }
            }
        }
        if let Some(dir) = std::env::var_os(MODEL_DIR_ENV).filter(|d| !d.is_empty()) {
            return ModelFiles::in_dir(Path::new(&dir));
        }
        Err(incomplete.unwrap_or_else(|| {
            format!(
                "no embedding model: no {MODEL_DIR} in {} or above and ${MODEL_DIR_ENV} is not set \
                 (scripts/setup-model.sh installs one)",
                workspace.display()
            )
        }))
    }

    /// Loads the ONNX Runtime library, the model and the tokenizer.
    pub fn load(files: &ModelFiles) -> Result<Embedder, String> {
        let manifest = std::fs::read_to_string(&files.manifest)
            .map_err(|e| format!("{}: {e}", files.manifest.display()))?;
        let manifest: Manifest = serde_json::from_str(&manifest)
            .map_err(|e| format!("{}: {e}", files.manifest.display()))?;
        let model_sha256 = manifest
            .files
            .get(MODEL_FILE)
            .map(|f| f.sha256.clone())
            .ok_or_else(|| format!("{}: no sha256 for {MODEL_FILE}", files.manifest.display()))?;
        if manifest.dimensions == 0 {
            return Err(format!("{}: dimensions is 0", files.manifest.display()));
        }

        let environment = runtime(&files.library)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let session = Session::builder(&environment)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                b.with_optimization_level(GraphOptimizationLevel::Level3)
                    .map_err(|e| e.to_string())
            })
            .and_then(|b| b.with_intra_threads(threads).map_err(|e| e.to_string()))
            // The pool's threads spin between the operators of one run (waking a sleeping
            // thread for each of a model's ~500 small operators costs more than the operator)
            // and stop as soon as the run returns, so that they do not take the CPU from the
            // server's other threads between runs.
            .and_then(|b| b.with_intra_op_spinning(true).map_err(|e| e.to_string()))
            .and_then(|b| {
                b.with_config_entry("session.force_spinning_stop", "1")
                    .map_err(|e| e.to_string())
            })
            .and_then(|mut b| b.commit_from_file(&files.model).map_err(|e| e.to_string()))
            .map_err(|e| format!("cannot load the model {}: {e}", files.model.display()))?;

        let inputs = model_inputs(&session, &files.model)?;
        let output = model_output(&session, manifest.dimensions, &files.model)?;

        let mut tokenizer = Tokenizer::from_file(&files.tokenizer).map_err(|e| {
            format!(
                "cannot load the tokenizer {}: {e}",
                files.tokenizer.display()
            )
        })?;
        let padding = tokenizer.get_padding().cloned().unwrap_or_default();
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..padding
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| format!("tokenizer {}: {e}", files.tokenizer.display()))?;
        let mut query_tokenizer = tokenizer.clone();
        query_tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_QUERY_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| format!("tokenizer {}: {e}", files.tokenizer.display()))?;

        Ok(Embedder {
            session: Mutex::new(session),
            tokenizer,
            query_tokenizer,
            query_vectors: Mutex::default(),
            rows_run: AtomicUsize::new(0),
            inputs,
            output,
            dimensions: manifest.dimensions,
            model_id: format!("{}@sha256:{model_sha256}", manifest.model_id),
            files: files.clone(),
        })
    }

    /// Length of every vector.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The manifest's model id and the model file's sha256, e.g.
    /// `all-MiniLM-L6-v2-int8-per-token@sha256:6977…`: vectors from different ids are not
    /// comparable.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// Drops the query vectors kept so far: benchmarks call it to time the model, not the cache.
    pub fn forget_queries(&self) {
        self.query_vectors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// How many texts the model has run on since it was loaded (cached queries not counted).
    pub fn texts_run(&self) -> usize {
        self.rows_run.load(Ordering::Relaxed)
    }

    /// One unit-length vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        // Batches of similar length: a batch is padded to its longest text, so sorting by
        // length spends the model's time on tokens rather than on padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut sorted = Vec::with_capacity(texts.len());
        for batch in order.chunks(BATCH_SIZE) {
            let batch: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            self.embed_batch(&batch, &mut sorted)?;
        }
        let mut vectors = vec![Vec::new(); texts.len()];
        for (i, v) in order.into_iter().zip(sorted) {
            vectors[i] = v;
        }
        Ok(vectors)
    }

    /// The vector of a search query, from its first [`MAX_QUERY_TOKENS`] tokens: the model's
    /// time grows with every token, and a query's first words carry its meaning (questions
    /// are short; resource queries put what matters first).
    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>, String> {
        self.embed_queries(&[query])?
            .pop()
            .ok_or_else(|| "the model returned no vector".to_string())
    }

    /// The vectors of several queries (as [`Embedder::embed_query`]) in one run of the model:
    /// cheaper than one run each. A query whose model input was seen before is not run again.
    pub fn embed_queries(&self, queries: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        // Each query is tokenised once: its token ids are the cache key, and its encoding is
        // what the model runs on when the key is not cached.
        let encodings = queries
            .iter()
            .map(|q| {
                self.query_tokenizer
                    .encode(*q, true)
                    .map_err(|e| format!("tokenizer: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut found: Vec<Option<Vec<f32>>> = {
            let cache = self.query_vectors.lock().unwrap_or_else(|p| p.into_inner());
            encodings
                .iter()
                .map(|e| cache.get(e.get_ids()).cloned())
                .collect()
        };
        // The model runs once per distinct input that is not cached: `missing` holds the first
        // query of each, `slot` the place of its vector in `computed`.
        let mut slot: HashMap<&[u32], usize> = HashMap::new();
        let mut missing: Vec<usize> = Vec::new();
        for (i, e) in encodings.iter().enumerate() {
            if found[i].is_none() {
                slot.entry(e.get_ids()).or_insert_with(|| {
                    missing.push(i);
                    missing.len() - 1
                });
            }
        }
        let mut computed = Vec::with_capacity(missing.len());
        for batch in missing.chunks(BATCH_SIZE) {
            let mut batch: Vec<Encoding> = batch.iter().map(|&i| encodings[i].clone()).collect();
            if let Some(padding) = self.query_tokenizer.get_padding() {
                pad_encodings(&mut batch, padding).map_err(|e| format!("tokenizer: {e}"))?;
            }
            self.run(&batch, &mut computed)?;
        }
        if !computed.is_empty() {
            let mut cache = self.query_vectors.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() + computed.len() > QUERY_CACHE_LIMIT {
                cache.clear();
            }
            for (&i, v) in missing.iter().zip(&computed) {
                cache.insert(encodings[i].get_ids().to_vec(), v.clone());
            }
        }
        encodings
            .iter()
            .enumerate()
            .map(|(i, e)| match found[i].take() {
                Some(v) => Ok(v),
                None => slot
                    .get(e.get_ids())
                    .and_then(|&k| computed.get(k).cloned())
                    .ok_or_else(|| "the model returned no vector".to_string()),
            })
            .collect()
    }

    /// Tokenises `texts` (padded to the longest) and runs the model on them.
    fn embed_batch(&self, texts: &[&str], vectors: &mut Vec<Vec<f32>>) -> Result<(), String> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| format!("tokenizer: {e}"))?;
        if encodings.len() != texts.len() {
            return Err(format!(
                "tokenizer returned {} encodings for {} texts",
                encodings.len(),
                texts.len()
            ));
        }
        self.run(&encodings, vectors)
    }

    /// Runs the model on `encodings` (all padded to one length) and appends one vector each.
    fn run(&self, encodings: &[Encoding], vectors: &mut Vec<Vec<f32>>) -> Result<(), String> {
        let rows = encodings.len();
        let len = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        if len == 0 {
            return Err(format!("tokenizer returned no tokens for {rows} texts"));
        }
        let mut ids = Vec::with_capacity(rows * len);
        let mut mask = Vec::with_capacity(rows * len);
        let mut types = Vec::with_capacity(rows * len);
        for encoding in encodings {
            if encoding.len() != len {
                return Err(format!(
                    "tokenizer padded to {} tokens, expected {len}",
                    encoding.len()
                ));
            }
            ids.extend(encoding.get_ids().iter().map(|&x| i64::from(x)));
            mask.extend(encoding.get_attention_mask().iter().map(|&x| i64::from(x)));
            types.extend(encoding.get_type_ids().iter().map(|&x| i64::from(x)));
        }

        let tensor = |data: Vec<i64>| {
            Tensor::from_array(([rows, len], data)).map_err(|e| format!("input tensor: {e}"))
        };
        let mut inputs = ort::inputs![
            self.inputs.input_ids.as_str() => tensor(ids)?,
            self.inputs.attention_mask.as_str() => tensor(mask.clone())?,
        ];
        if let Some(name) = &self.inputs.token_type_ids {
            inputs.push((name.as_str().into(), tensor(types)?.into()));
        }

        let mut session = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session.run(inputs).map_err(|e| format!("inference: {e}"))?;
        self.rows_run.fetch_add(rows, Ordering::Relaxed);
        let output = outputs
            .get(&self.output)
            .ok_or_else(|| format!("the model returned no {}", self.output))?;
        let (shape, hidden) = output
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("output {}: {e}", self.output))?;
        let expected = [rows as i64, len as i64, self.dimensions as i64];
        if **shape != expected || hidden.len() != rows * len * self.dimensions {
            return Err(format!(
                "output {} has shape {:?}, expected {expected:?}",
                self.output, &**shape
            ));
        }

        let d = self.dimensions;
        for row in 0..rows {
            let mut sum = vec![0f32; d];
            let mut count = 0f32;
            for token in 0..len {
                if mask[row * len + token] == 0 {
                    continue;
                }
                count += 1.0;
                let at = (row * len + token) * d;
                for (s, h) in sum.iter_mut().zip(&hidden[at..at + d]) {
                    *s += h;
                }
            }
            let count = count.max(1.0);
            sum.iter_mut().for_each(|s| *s /= count);
            let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            sum.iter_mut().for_each(|s| *s /= norm);
            vectors.push(sum);
        }
        Ok(())
    }
}

/// The input names of a BERT-style model: `input_ids`, `attention_mask`, optionally
/// `token_type_ids`; any other input is an error.
fn model_inputs(session: &Session, model: &Path) -> Result<Inputs, String> {
    let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    let find = |name: &str| names.iter().find(|n| **n == name).map(|n| n.to_string());
    let (Some(input_ids), Some(attention_mask)) = (find("input_ids"), find("attention_mask"))
    else {
        return Err(format!(
            "the model {} has inputs {names:?}; expected input_ids and attention_mask",
            model.display()
        ));
    };
    let token_type_ids = find("token_type_ids");
    if let Some(other) = names
        .iter()
        .find(|n| !["input_ids", "attention_mask", "token_type_ids"].contains(n))
    {
        return Err(format!(
            "the model {} has an input {other} this embedder cannot feed (inputs: {names:?})",
            model.display()
        ));
    }
    Ok(Inputs {
        input_ids,
        attention_mask,
        token_type_ids,
    })
}

/// The token-level output (`last_hidden_state`, else the first output), checked to be
/// `[batch, sequence, dimensions]`.
fn model_output(session: &Session, dimensions: usize, model: &Path) -> Result<String, String> {
    let outputs = session.outputs();
    let output = outputs
        .iter()
        .find(|o| o.name() == "last_hidden_state")
        .or_else(|| outputs.first())
        .ok_or_else(|| format!("the model {} has no outputs", model.display()))?;
    if let Some(shape) = output.dtype().tensor_shape() {
        let last = shape.last().copied();
        if shape.len() != 3 || last.is_some_and(|d| d > 0 && d != dimensions as i64) {
            return Err(format!(
                "the model {} output {} has shape {:?}; expected [batch, sequence, {dimensions}]",
                model.display(),
                output.name(),
                &**shape
            ));
        }
    }
    Ok(output.name().to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Instant;

    use super::*;

    /// The installed model, or `None` (with a notice) when `scripts/setup-model.sh` has not run.
    fn embedder() -> Option<&'static Embedder> {
        static EMBEDDER: OnceLock<Option<Embedder>> = OnceLock::new();
        EMBEDDER
            .get_or_init(|| {
                let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
                match Embedder::locate(workspace, None) {
                    Ok(files) => Some(Embedder::load(&files).expect("the installed model loads")),
                    Err(e) => {
                        eprintln!("notice: embedding tests skipped: {e}");
                        None
                    }
                }
            })
            .as_ref()
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn vectors_have_the_model_dimensions_and_unit_norm() {
        let Some(embedder) = embedder() else { return };
        assert_eq!(embedder.dimensions(), 384);
        assert!(
            embedder
                .model_id()
                .starts_with("all-MiniLM-L6-v2-int8-per-token@sha256:"),
            "{}",
            embedder.model_id()
        );
        let vectors = embedder
            .embed(&["containers must not run as root", "a second text"])
            .unwrap();
        assert_eq!(vectors.len(), 2);
        for v in &vectors {
            assert_eq!(v.len(), 384);
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        }
    }

    #[test]
    fn related_texts_are_closer() {
        let Some(embedder) = embedder() else { return };
        let v = embedder
            .embed(&[
                "databases run only in us-east-1",
                "which AWS region may I put a postgres database in?",
                "containers must not run as root",
            ])
            .unwrap();
        let related = cosine(&v[0], &v[1]);
        let unrelated = cosine(&v[0], &v[2]);
        eprintln!("cosine: related {related:.3}, unrelated {unrelated:.3}");
        assert!(
            related > unrelated,
            "related {related}, unrelated {unrelated}"
        );
    }

    #[test]
    fn batching_gives_the_same_vectors() {
        let Some(embedder) = embedder() else { return };
        let texts = [
            "databases run only in us-east-1",
            "short",
            "every Deployment needs resource requests and limits for each of its containers, \
             including init containers, or the admission controller rejects it",
            "",
            "which AWS region may I put a postgres database in?",
        ];
        let batched = embedder.embed(&texts).unwrap();
        let mut worst = 0f32;
        for (text, b) in texts.iter().zip(&batched) {
            let single = embedder.embed(&[text]).unwrap().remove(0);
            for (x, y) in single.iter().zip(b) {
                worst = worst.max((x - y).abs());
            }
        }
        eprintln!("largest difference batched vs one by one: {worst:e}");
        assert!(worst < 1e-5, "largest difference {worst}");
    }

    #[test]
    fn queries_are_embedded_like_texts_up_to_their_token_limit() {
        let Some(embedder) = embedder() else { return };
        let short = "which AWS region may I put a postgres database in?";
        let as_text = embedder.embed(&[short]).unwrap().remove(0);
        let as_query = embedder.embed_query(short).unwrap();
        let worst = as_text
            .iter()
            .zip(&as_query)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "largest difference {worst}");
        // A long query is cut: its vector is no longer the full text's.
        let long = format!(
            "{short} {}",
            "containers need resource limits and probes ".repeat(20)
        );
        let full = embedder.embed(&[long.as_str()]).unwrap().remove(0);
        let cut = embedder.embed_query(&long).unwrap();
        assert_eq!(cut.len(), full.len());
        assert!(full.iter().zip(&cut).any(|(a, b)| (a - b).abs() > 1e-3));
    }

    #[test]
    fn a_query_seen_before_is_not_run_again_and_gets_the_same_vector() {
        let Some(shared) = embedder() else { return };
        // An instance of its own: the count of model runs is this test's alone.
        let embedder = Embedder::load(shared.files()).unwrap();
        let base = "Deployment apps/v1 replicas 3 strategy RollingUpdate ".repeat(8);
        // The two differ only after the model's token limit: one model input.
        let a = format!("{base} orders-1");
        let b = format!("{base} orders-2");
        let fresh = "Service v1 type ClusterIP selector app orders-3";
        let v = embedder
            .embed_queries(&[a.as_str(), b.as_str(), fresh, a.as_str()])
            .unwrap();
        assert_eq!(embedder.texts_run(), 2);
        assert_eq!(v.len(), 4);
        assert_eq!(v[0], v[1]);
        assert_eq!(v[0], v[3]);
        assert_ne!(v[0], v[2]);
        // Asked again, from the cache: the same vectors, no model run.
        assert_eq!(embedder.embed_query(&b).unwrap(), v[1]);
        assert_eq!(embedder.embed_query(fresh).unwrap(), v[2]);
        assert_eq!(embedder.texts_run(), 2);
        // And the cached vector is the one the model gives the text.
        let direct = embedder.embed(&[fresh]).unwrap().remove(0);
        let worst = direct
            .iter()
            .zip(&v[2])
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "largest difference {worst}");
    }

    #[test]
    fn empty_input() {
        let Some(embedder) = embedder() else { return };
        let v = embedder.embed(&[""]).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].len(), 384);
        assert!(embedder.embed(&[]).unwrap().is_empty());
    }

    #[test]
    fn usable_from_several_threads() {
        let Some(embedder) = embedder() else { return };
        let expected = embedder.embed(&["pods need a securityContext"]).unwrap();
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    let got = embedder.embed(&["pods need a securityContext"]).unwrap();
                    assert_eq!(got, expected);
                });
            }
        });
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Embedder::locate(dir.path(), Some(dir.path())).unwrap_err();
        assert!(
            err.contains("libonnxruntime.so") && err.contains("model.onnx"),
            "{err}"
        );
    }

    #[test]
    fn throughput() {
        let Some(embedder) = embedder() else { return };
        let texts: Vec<String> = (0..256)
            .map(|i| {
                format!(
                    "rule {i}: workloads in namespace team-{} must set resource limits",
                    i % 17
                )
            })
            .collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        embedder.embed(&texts[..8]).unwrap();
        let start = Instant::now();
        let vectors = embedder.embed(&texts).unwrap();
        let elapsed = start.elapsed();
        assert_eq!(vectors.len(), 256);
        eprintln!(
            "embedded 256 short texts in {:.0} ms: {:.0} chunks/s",
            elapsed.as_secs_f64() * 1e3,
            256.0 / elapsed.as_secs_f64()
        );
    }
}
