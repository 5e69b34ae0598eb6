//! `usher lsp`: the language server face. It converts between LSP and the analysis layer and
//! schedules work; it holds no analysis logic of its own.
//!
//! Concurrency: `didOpen`/`didChange`/`didClose` update the document state synchronously
//! (no `.await` while it is held), so notifications apply in the order they arrive. Analysis
//! runs on a blocking worker, one loop per document: edits that arrive while it runs supersede
//! it (it stops between documents and its results are dropped), and the next round takes the
//! newest text. Diagnostics are published only for the version they were computed for, and
//! only while that version is still current.

mod convert;
pub mod settings;
pub mod transport;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value as Json;
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use crate::analysis::{Analyzer, FileAnalysis, ide};
use crate::text::{LineIndex, PositionEncoding};
use crate::yaml::YamlFile;

use convert::Conv;
use settings::{Settings, SettingsSource};

/// An open document.
struct Doc {
    version: i32,
    text: Arc<String>,
    index: Arc<LineIndex>,
    file: YamlFile,
    /// The newest version, shared with a running analysis so that it can stop early.
    latest: Arc<AtomicI32>,
    /// Whether an analysis loop is running for this document.
    running: bool,
    /// Findings of the last analysed version.
    findings: Option<(i32, Arc<FileAnalysis>)>,
}

/// A document's text, line index, documents and findings, as of now.
type Current = (Arc<String>, Arc<LineIndex>, YamlFile, Arc<FileAnalysis>);

/// What an analysis round works on.
struct Snapshot {
    version: i32,
    text: Arc<String>,
    index: Arc<LineIndex>,
    file: YamlFile,
    latest: Arc<AtomicI32>,
}

struct State {
    docs: Mutex<HashMap<Uri, Doc>>,
    analyzer: RwLock<Arc<Analyzer>>,
    settings: RwLock<Settings>,
    /// Reloads run one at a time, in the order they were asked for: an older one finishing
    /// last would put back the settings it read.
    reloading: tokio::sync::Mutex<()>,
    encoding: RwLock<PositionEncoding>,
    snippets: RwLock<bool>,
    /// Client capabilities that decide what we ask of the client.
    caps: RwLock<ClientFlags>,
    roots: RwLock<Vec<PathBuf>>,
    init_options: RwLock<Option<Json>>,
    /// The cluster cache in use, and the context whose cache is loading or loaded.
    cluster: RwLock<Option<Arc<crate::cluster::ClusterView>>>,
    cluster_context: RwLock<Option<String>>,
}

#[derive(Default, Clone, Copy)]
struct ClientFlags {
    configuration: bool,
    /// `window.workDoneProgress`: server-initiated progress (the cluster refresh).
    work_done_progress: bool,
    watched_files_dynamic: bool,
    hierarchical_symbols: bool,
    line_folding_only: bool,
}

pub struct Backend {
    client: Client,
    state: Arc<State>,
}

/// Runs the language server on standard input and output until the client exits.
pub fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let stdout = tokio::io::stdout();
        // Frames pass through a guard that replaces malformed messages (see `transport`).
        let (guarded, reader) = tokio::io::duplex(1 << 20);
        tokio::spawn(transport::guard(tokio::io::stdin(), guarded));
        let stdin = reader;
        let (service, socket) = LspService::build(|client| Backend {
            client,
            state: Arc::new(State {
                docs: Mutex::new(HashMap::new()),
                analyzer: RwLock::new(Arc::new(Analyzer::new(
                    crate::schema::Catalog::builtin(),
                    Default::default(),
                ))),
                settings: RwLock::new(Settings::default()),
                reloading: tokio::sync::Mutex::new(()),
                encoding: RwLock::new(PositionEncoding::Utf16),
                snippets: RwLock::new(false),
                caps: RwLock::new(ClientFlags::default()),
                roots: RwLock::new(Vec::new()),
                init_options: RwLock::new(None),
                cluster: RwLock::new(None),
                cluster_context: RwLock::new(None),
            }),
        })
        .custom_method("usher/documentText", Backend::document_text)
        .custom_method(transport::MALFORMED_REQUEST, Backend::malformed_request)
        .custom_method(
            transport::MALFORMED_NOTIFICATION,
            Backend::malformed_notification,
        )
        .finish();
        Server::new(stdin, stdout, socket).serve(service).await;
    });
    // The stdin reader may still be blocked in a read: do not wait for it.
    runtime.shutdown_background();
    Ok(())
}

mod cluster;

fn not_open(uri: &Uri) -> RpcError {
    RpcError::invalid_params(format!("document {} is not open", uri.as_str()))
}

impl Backend {
    fn conv(&self) -> PositionEncoding {
        *self.state.encoding.read().unwrap()
    }

    fn analyzer(&self) -> Arc<Analyzer> {
        self.state.analyzer.read().unwrap().clone()
    }

    async fn log(&self, typ: MessageType, message: impl Into<String>) {
        self.client.log_message(typ, message.into()).await;
    }

    /// Starts an analysis loop for `uri` unless one is running (it will pick up the newest
    /// version itself).
    fn schedule(&self, uri: &Uri) {
        let start = {
            let mut docs = self.state.docs.lock().unwrap();
            match docs.get_mut(uri) {
                Some(doc) if !doc.running => {
                    doc.running = true;
                    true
                }
                _ => false,
            }
        };
        if start {
            let client = self.client.clone();
            let state = self.state.clone();
            let uri = uri.clone();
            tokio::spawn(async move { analysis_loop(client, state, uri).await });
        }
    }

    fn reanalyze_all(&self) {
        let uris: Vec<Uri> = {
            let mut docs = self.state.docs.lock().unwrap();
            for d in docs.values_mut() {
                d.findings = None;
                // Wake a running loop: the same version must be analysed again.
                d.latest.store(i32::MIN, Ordering::SeqCst);
                d.latest.store(d.version, Ordering::SeqCst);
            }
            docs.keys().cloned().collect()
        };
        for uri in uris {
            self.schedule(&uri);
        }
    }

    /// Loads the configuration (file, initializationOptions, workspace/configuration) and
    /// rebuilds the analyzer.
    async fn reload(&self, from_client: Option<Json>) {
        let _one_at_a_time = self.state.reloading.lock().await;
        let roots = self.state.roots.read().unwrap().clone();
        let init = self.state.init_options.read().unwrap().clone();
        let source = SettingsSource {
            roots: &roots,
            init_options: init.as_ref(),
            client: from_client.as_ref(),
        };
        let (settings, messages) = settings::load(&source);
        for (typ, m) in &messages {
            self.log(*typ, m.clone()).await;
            if *typ == MessageType::ERROR || *typ == MessageType::WARNING {
                self.client.show_message(*typ, format!("usher: {m}")).await;
            }
        }
        // The cluster: the cache of the same context stays in use; another context (or the
        // first start) loads in the background, so the server answers at once.
        let selection =
            crate::cluster::Selection::from_config(settings.config.cluster.as_ref(), None, None);
        let selected = match &selection {
            Ok(s) => s.clone(),
            Err(e) => {
                self.log(MessageType::WARNING, format!("cluster: {e}"))
                    .await;
                None
            }
        };
        let context = selected.as_ref().map(|s| s.context.clone());
        let same = *self.state.cluster_context.read().unwrap() == context;
        if !same {
            *self.state.cluster.write().unwrap() = None;
            *self.state.cluster_context.write().unwrap() = context;
        }
        let cluster = self.state.cluster.read().unwrap().clone();
        let (mut analyzer, crd_errors) = settings.analyzer_for(cluster.as_deref());
        let knowledge_config = settings.config.knowledge.clone();
        let workspace = settings.workspace.clone();
        let opened = tokio::task::spawn_blocking(move || {
            crate::knowledge::advisor::open_configured(knowledge_config.as_ref(), &workspace)
        })
        .await
        .unwrap_or_else(|e| Err(format!("opening the knowledge index failed: {e}")));
        match opened {
            Ok(Some((advisor, notices))) => {
                for n in notices {
                    self.log(MessageType::INFO, n).await;
                }
                self.log(
                    MessageType::INFO,
                    format!(
                        "knowledge index {}: {} chunks{}",
                        advisor.index().dir.display(),
                        advisor.index().manifest.chunks,
                        if advisor.has_vectors() {
                            ", words and meaning"
                        } else {
                            ", words only"
                        }
                    ),
                )
                .await;
                analyzer.set_knowledge(Some(std::sync::Arc::new(advisor)));
            }
            Ok(None) => {
                self.log(
                    MessageType::INFO,
                    format!(
                        "no knowledge index at {} (`usher index` builds one): hovers and \
                         diagnostics show no written rules",
                        settings.index_dir().display()
                    ),
                )
                .await;
            }
            Err(e) => {
                self.log(MessageType::WARNING, e.clone()).await;
                self.client
                    .show_message(MessageType::WARNING, format!("usher: {e}"))
                    .await;
            }
        }
        for e in &crd_errors {
            self.log(MessageType::WARNING, format!("not loaded: {e}"))
                .await;
        }
        let (kinds, crd_kinds) = (
            analyzer.catalog.kinds.len(),
            analyzer
                .catalog
                .kinds
                .iter()
                .filter(|k| k.source.is_crd())
                .count(),
        );
        self.log(
            MessageType::INFO,
            format!(
                "usher {}: {kinds} kinds ({crd_kinds} from CRDs), Kubernetes {}{}",
                env!("CARGO_PKG_VERSION"),
                analyzer.options.kubernetes_version,
                settings
                    .config_file
                    .as_ref()
                    .map_or(String::new(), |p| format!(", config {}", p.display()))
            ),
        )
        .await;
        *self.state.analyzer.write().unwrap() = Arc::new(analyzer);
        *self.state.settings.write().unwrap() = settings;
        self.reanalyze_all();
        if !same && let Some(selection) = selected {
            let backend = Backend {
                client: self.client.clone(),
                state: self.state.clone(),
            };
            tokio::spawn(async move { backend.cluster_start(selection).await });
        }
    }

    async fn pull_configuration(&self) -> Option<Json> {
        if !self.state.caps.read().unwrap().configuration {
            return None;
        }
        let items = vec![ConfigurationItem {
            scope_uri: None,
            section: Some("usher".into()),
        }];
        match self.client.configuration(items).await {
            Ok(mut values) => values.pop().filter(|v| !v.is_null()),
            Err(e) => {
                self.log(
                    MessageType::WARNING,
                    format!("workspace/configuration failed: {e}"),
                )
                .await;
                None
            }
        }
    }

    /// Findings for the current text of `uri` (computed now if the last analysis is stale).
    fn findings(&self, uri: &Uri) -> RpcResult<Current> {
        let docs = self.state.docs.lock().unwrap();
        let doc = docs.get(uri).ok_or_else(|| not_open(uri))?;
        let (text, index, file) = (doc.text.clone(), doc.index.clone(), doc.file.clone());
        if let Some((v, f)) = &doc.findings
            && *v == doc.version
        {
            return Ok((text, index, file, f.clone()));
        }
        drop(docs);
        let analysis = self.analyzer().analyze_parsed(&text, &file);
        Ok((text, index, file, Arc::new(analysis)))
    }

    fn with_doc<R>(&self, uri: &Uri, f: impl FnOnce(&Doc) -> R) -> RpcResult<R> {
        let docs = self.state.docs.lock().unwrap();
        docs.get(uri).map(f).ok_or_else(|| not_open(uri))
    }
}

async fn analysis_loop(client: Client, state: Arc<State>, uri: Uri) {
    loop {
        let debounce = state.settings.read().unwrap().debounce_ms;
        if debounce > 0 {
            tokio::time::sleep(Duration::from_millis(debounce)).await;
        }
        let snap = {
            let docs = state.docs.lock().unwrap();
            let Some(doc) = docs.get(&uri) else { return };
            Snapshot {
                version: doc.version,
                text: doc.text.clone(),
                index: doc.index.clone(),
                file: doc.file.clone(),
                latest: doc.latest.clone(),
            }
        };
        let analyzer = state.analyzer.read().unwrap().clone();
        let encoding = *state.encoding.read().unwrap();
        let version = snap.version;
        let latest = snap.latest.clone();
        let doc_uri = uri.clone();
        let knowledge_snap = (snap.text.clone(), snap.index.clone(), snap.file.clone());
        let knowledge_analyzer = analyzer.clone();
        let result = tokio::task::spawn_blocking(move || {
            let cancelled = || latest.load(Ordering::SeqCst) != version;
            let analysis = analyzer.analyze_parsed_until(&snap.text, &snap.file, &cancelled)?;
            let conv = Conv::new(&snap.text, &snap.index, encoding);
            let mut diagnostics: Vec<Diagnostic> = analysis
                .iter()
                .map(|(at, f)| conv.diagnostic_at(f, at, &doc_uri))
                .collect();
            // Written rules: at once when every lookup is cached, else after publishing.
            let pending = analyzer.knowledge.is_some()
                && !snap.file.docs.iter().all(|d| analyzer.knowledge_cached(d));
            if !pending {
                for d in &snap.file.docs {
                    for f in analyzer.knowledge_findings(d).iter() {
                        diagnostics.push(conv.diagnostic_at(f, d.start, &doc_uri));
                    }
                }
            }
            Some((Arc::new(analysis), diagnostics, pending))
        })
        .await;
        let Ok(Some((findings, diagnostics, pending))) = result else {
            // Superseded (or the worker failed): analyse the newest version.
            if !still_open(&state, &uri) {
                return;
            }
            continue;
        };
        // Publish only if this is still the current version.
        let current = {
            let mut docs = state.docs.lock().unwrap();
            let Some(doc) = docs.get_mut(&uri) else {
                return;
            };
            if doc.version == version && doc.latest.load(Ordering::SeqCst) == version {
                doc.findings = Some((version, findings));
                true
            } else {
                false
            }
        };
        if current {
            client
                .publish_diagnostics(uri.clone(), diagnostics.clone(), Some(version))
                .await;
        }
        if current && pending {
            // The knowledge lookups embed the resources' queries: done after the findings are
            // out, dropped as soon as a newer version arrives.
            let latest = state
                .docs
                .lock()
                .unwrap()
                .get(&uri)
                .map(|d| d.latest.clone());
            let doc_uri = uri.clone();
            let more = tokio::task::spawn_blocking(move || {
                let latest = latest?;
                let (text, index, file) = knowledge_snap;
                let conv = Conv::new(&text, &index, encoding);
                // The resources not looked up yet, embedded a batch at a time (one run of the
                // model per batch instead of one per resource).
                if let Some(adv) = &knowledge_analyzer.knowledge {
                    let new: Vec<serde_json::Value> = file
                        .docs
                        .iter()
                        .filter(|d| !knowledge_analyzer.knowledge_cached(d))
                        .filter_map(Analyzer::resource_json)
                        .collect();
                    for batch in new.chunks(16) {
                        if latest.load(Ordering::SeqCst) != version {
                            return None;
                        }
                        adv.prefetch(batch);
                    }
                }
                let mut extra = Vec::new();
                for d in &file.docs {
                    if latest.load(Ordering::SeqCst) != version {
                        return None;
                    }
                    for f in knowledge_analyzer.knowledge_findings(d).iter() {
                        extra.push(conv.diagnostic_at(f, d.start, &doc_uri));
                    }
                }
                Some(extra)
            })
            .await;
            if let Ok(Some(extra)) = more
                && !extra.is_empty()
            {
                let still = state.docs.lock().unwrap().get(&uri).is_some_and(|d| {
                    d.version == version && d.latest.load(Ordering::SeqCst) == version
                });
                if still {
                    let mut all = diagnostics;
                    all.extend(extra);
                    client
                        .publish_diagnostics(uri.clone(), all, Some(version))
                        .await;
                }
            }
        }
        let done = {
            let mut docs = state.docs.lock().unwrap();
            match docs.get_mut(&uri) {
                None => true,
                Some(doc) if doc.version == version && current => {
                    doc.running = false;
                    true
                }
                Some(_) => false,
            }
        };
        if done {
            return;
        }
    }
}

fn still_open(state: &State, uri: &Uri) -> bool {
    state.docs.lock().unwrap().contains_key(uri)
}

/// Applies one content change to `doc`. Returns a warning when a position was outside the
/// document and had to be clamped.
fn apply_change(
    doc: &mut Doc,
    change: TextDocumentContentChangeEvent,
    encoding: PositionEncoding,
) -> Option<String> {
    let mut warning = None;
    let (start, end) = match change.range {
        None => {
            let text = change.text;
            doc.file = YamlFile::parse(&text);
            doc.index = Arc::new(LineIndex::new(&text));
            doc.text = Arc::new(text);
            return None;
        }
        Some(range) => {
            let lines = doc.index.line_count() as u32;
            for p in [range.start, range.end] {
                if p.line >= lines {
                    warning = Some(format!(
                        "edit at {}:{} is past the end of the document ({lines} lines); applied at the end",
                        p.line, p.character
                    ));
                }
            }
            let conv = Conv::new(&doc.text, &doc.index, encoding);
            let a = conv.offset(range.start);
            let b = conv.offset(range.end);
            if b < a {
                warning = Some(format!(
                    "edit range {}:{}-{}:{} ends before it starts; applied as an insertion",
                    range.start.line, range.start.character, range.end.line, range.end.character
                ));
                (a, a)
            } else {
                (a, b)
            }
        }
    };
    let old = &doc.text;
    let mut text = String::with_capacity(old.len() + change.text.len());
    text.push_str(&old[..start]);
    text.push_str(&change.text);
    text.push_str(&old[end..]);
    let new_end = start + change.text.len();
    doc.file.apply_edit(&text, start, end, new_end);
    doc.index = Arc::new(LineIndex::new(&text));
    doc.text = Arc::new(text);
    warning
}

/// Parameters of `usher/documentText`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentTextParams {
    pub text_document: TextDocumentIdentifier,
}

/// Result of `usher/documentText`: the server's view of an open document.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentTextResult {
    pub version: i32,
    pub text: String,
    pub documents: usize,
}

impl Backend {
    /// `usher/documentText`: the text and version the server holds for a document (for
    /// clients and tests to check that incremental sync agrees).
    pub async fn document_text(&self, params: DocumentTextParams) -> RpcResult<DocumentTextResult> {
        self.with_doc(&params.text_document.uri, |d| DocumentTextResult {
            version: d.version,
            text: d.text.to_string(),
            documents: d.file.docs.len(),
        })
    }
}

/// Parameters of the messages that stand in for malformed input.
#[derive(Debug, serde::Deserialize)]
pub struct MalformedParams {
    pub reason: String,
}

impl Backend {
    async fn malformed_request(&self, params: MalformedParams) -> RpcResult<()> {
        self.log(
            MessageType::ERROR,
            format!("malformed request: {}", params.reason),
        )
        .await;
        Err(RpcError {
            code: tower_lsp_server::jsonrpc::ErrorCode::InvalidRequest,
            message: format!("malformed request: {}", params.reason).into(),
            data: None,
        })
    }

    async fn malformed_notification(&self, params: MalformedParams) {
        self.log(
            MessageType::ERROR,
            format!("malformed message ignored: {}", params.reason),
        )
        .await;
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        let caps = &params.capabilities;
        let offered = caps
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_ref());
        let utf8 = offered.is_some_and(|e| e.contains(&PositionEncodingKind::UTF8));
        let encoding = if utf8 {
            PositionEncoding::Utf8
        } else {
            PositionEncoding::Utf16
        };
        *self.state.encoding.write().unwrap() = encoding;
        let td = caps.text_document.as_ref();
        *self.state.snippets.write().unwrap() = td
            .and_then(|t| t.completion.as_ref())
            .and_then(|c| c.completion_item.as_ref())
            .and_then(|i| i.snippet_support)
            .unwrap_or(false);
        let ws = caps.workspace.as_ref();
        *self.state.caps.write().unwrap() = ClientFlags {
            configuration: ws.and_then(|w| w.configuration).unwrap_or(false),
            work_done_progress: caps
                .window
                .as_ref()
                .and_then(|w| w.work_done_progress)
                .unwrap_or(false),
            watched_files_dynamic: ws
                .and_then(|w| w.did_change_watched_files.as_ref())
                .and_then(|d| d.dynamic_registration)
                .unwrap_or(false),
            hierarchical_symbols: td
                .and_then(|t| t.document_symbol.as_ref())
                .and_then(|d| d.hierarchical_document_symbol_support)
                .unwrap_or(false),
            line_folding_only: td
                .and_then(|t| t.folding_range.as_ref())
                .and_then(|f| f.line_folding_only)
                .unwrap_or(false),
        };
        let mut roots: Vec<PathBuf> = params
            .workspace_folders
            .iter()
            .flatten()
            .filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned()))
            .collect();
        #[allow(deprecated)]
        if roots.is_empty()
            && let Some(root) = params.root_uri.as_ref().and_then(|u| u.to_file_path())
        {
            roots.push(root.into_owned());
        }
        *self.state.roots.write().unwrap() = roots;
        *self.state.init_options.write().unwrap() = params.initialization_options.clone();
        // Settings from the config file and initializationOptions now; workspace/configuration
        // once initialized.
        let roots = self.state.roots.read().unwrap().clone();
        let (settings, _) = settings::load(&SettingsSource {
            roots: &roots,
            init_options: params.initialization_options.as_ref(),
            client: None,
        });
        *self.state.analyzer.write().unwrap() = Arc::new(settings.analyzer());
        *self.state.settings.write().unwrap() = settings;

        Ok(InitializeResult {
            offset_encoding: None,
            server_info: Some(ServerInfo {
                name: "usher".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            capabilities: ServerCapabilities {
                position_encoding: Some(if utf8 {
                    PositionEncodingKind::UTF8
                } else {
                    PositionEncodingKind::UTF16
                }),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                        ..Default::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![":".into(), " ".into(), "-".into()]),
                    ..Default::default()
                }),
                document_symbol_provider: Some(OneOf::Left(true)),
                folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
                selection_range_provider: Some(SelectionRangeProviderCapability::Simple(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            },
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let from_client = self.pull_configuration().await;
        self.reload(from_client).await;
        if self.state.caps.read().unwrap().watched_files_dynamic {
            let watchers = ["**/*.yaml", "**/*.yml", "**/*.json"]
                .iter()
                .map(|g| FileSystemWatcher {
                    glob_pattern: GlobPattern::String((*g).into()),
                    kind: None,
                })
                .collect();
            let registration = Registration {
                id: "usher-watch".into(),
                method: "workspace/didChangeWatchedFiles".into(),
                register_options: serde_json::to_value(DidChangeWatchedFilesRegistrationOptions {
                    watchers,
                })
                .ok(),
            };
            if let Err(e) = self.client.register_capability(vec![registration]).await {
                self.log(
                    MessageType::WARNING,
                    format!("could not watch configuration and CRD files: {e}"),
                )
                .await;
            }
        }
    }

    async fn shutdown(&self) -> RpcResult<()> {
        self.state.docs.lock().unwrap().clear();
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let td = params.text_document;
        {
            let text = td.text;
            let mut docs = self.state.docs.lock().unwrap();
            let doc = Doc {
                version: td.version,
                file: YamlFile::parse(&text),
                index: Arc::new(LineIndex::new(&text)),
                text: Arc::new(text),
                latest: Arc::new(AtomicI32::new(td.version)),
                running: false,
                findings: None,
            };
            if let Some(old) = docs.insert(td.uri.clone(), doc) {
                // Reopened while open: a running loop of the old entry stops on its own.
                old.latest.store(i32::MIN, Ordering::SeqCst);
            }
        }
        self.schedule(&td.uri);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let version = params.text_document.version;
        let encoding = self.conv();
        let mut warnings = Vec::new();
        let open = 'apply: {
            let mut docs = self.state.docs.lock().unwrap();
            let Some(doc) = docs.get_mut(&uri) else {
                break 'apply false;
            };
            if version <= doc.version {
                warnings.push(format!(
                    "didChange version {version} is not newer than {}",
                    doc.version
                ));
            }
            for change in params.content_changes {
                if let Some(w) = apply_change(doc, change, encoding) {
                    warnings.push(w);
                }
            }
            doc.version = version;
            doc.latest.store(version, Ordering::SeqCst);
            true
        };
        if !open {
            self.log(
                MessageType::WARNING,
                format!("didChange for {} which is not open; ignored", uri.as_str()),
            )
            .await;
            return;
        }
        for w in warnings {
            self.log(MessageType::WARNING, format!("{}: {w}", uri.as_str()))
                .await;
        }
        self.schedule(&uri);
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        // The text is already current; a saved config or CRD file changes the analysis.
        if let Some(path) = params.text_document.uri.to_file_path()
            && self.state.settings.read().unwrap().affects(&path)
        {
            let from_client = self.pull_configuration().await;
            self.reload(from_client).await;
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        let removed = self.state.docs.lock().unwrap().remove(&uri);
        if let Some(doc) = removed {
            doc.latest.store(i32::MIN, Ordering::SeqCst);
            self.client.publish_diagnostics(uri, Vec::new(), None).await;
        }
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let pushed = params
            .settings
            .get("usher")
            .cloned()
            .filter(|v| !v.is_null());
        let from_client = match pushed {
            Some(v) => Some(v),
            None => self.pull_configuration().await,
        };
        self.reload(from_client).await;
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let relevant = {
            let settings = self.state.settings.read().unwrap();
            params
                .changes
                .iter()
                .any(|c| c.uri.to_file_path().is_some_and(|p| settings.affects(&p)))
        };
        if relevant {
            let from_client = self.pull_configuration().await;
            self.reload(from_client).await;
        }
    }

    async fn hover(&self, params: HoverParams) -> RpcResult<Option<Hover>> {
        let uri = params.text_document_position_params.text_document.uri;
        let pos = params.text_document_position_params.position;
        let (text, index, file, findings) = self.findings(&uri)?;
        let conv = Conv::new(&text, &index, self.conv());
        let offset = conv.offset(pos);
        let analyzer = self.analyzer();
        let here = findings.findings_touching(offset..offset);
        let schema = ide::hover(&analyzer.catalog, &text, &file, offset, &here);
        let knowledge = analyzer
            .knowledge
            .as_ref()
            .and_then(|k| ide::knowledge_hover(k, &file, offset));
        let h = match (schema, knowledge) {
            (Some(mut h), Some(k)) => {
                h.markdown = format!("{}\n\n---\n\n{}", h.markdown, k.markdown);
                h
            }
            (Some(h), None) | (None, Some(h)) => h,
            (None, None) => return Ok(None),
        };
        Ok(Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: h.markdown,
            }),
            range: Some(conv.range(h.range)),
        }))
    }

    async fn completion(&self, params: CompletionParams) -> RpcResult<Option<CompletionResponse>> {
        let uri = params.text_document_position.text_document.uri;
        let pos = params.text_document_position.position;
        let (text, index, file) =
            self.with_doc(&uri, |d| (d.text.clone(), d.index.clone(), d.file.clone()))?;
        let conv = Conv::new(&text, &index, self.conv());
        let offset = conv.offset(pos);
        let snippets = *self.state.snippets.read().unwrap();
        let analyzer = self.analyzer();
        let items = ide::complete(&analyzer.catalog, &text, &file, offset, snippets);
        let items: Vec<CompletionItem> = items.into_iter().map(|c| conv.completion(c)).collect();
        Ok(Some(CompletionResponse::List(CompletionList {
            is_incomplete: false,
            items,
        })))
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> RpcResult<Option<DocumentSymbolResponse>> {
        let uri = params.text_document.uri;
        let (text, index, file) =
            self.with_doc(&uri, |d| (d.text.clone(), d.index.clone(), d.file.clone()))?;
        let conv = Conv::new(&text, &index, self.conv());
        let symbols = ide::symbols(&text, &file);
        if self.state.caps.read().unwrap().hierarchical_symbols {
            Ok(Some(DocumentSymbolResponse::Nested(
                symbols.into_iter().map(|s| conv.symbol(s)).collect(),
            )))
        } else {
            Ok(Some(DocumentSymbolResponse::Flat(
                conv.flat_symbols(&uri, symbols),
            )))
        }
    }

    async fn folding_range(
        &self,
        params: FoldingRangeParams,
    ) -> RpcResult<Option<Vec<FoldingRange>>> {
        let uri = params.text_document.uri;
        let (text, index, file) =
            self.with_doc(&uri, |d| (d.text.clone(), d.index.clone(), d.file.clone()))?;
        let conv = Conv::new(&text, &index, self.conv());
        let line_only = self.state.caps.read().unwrap().line_folding_only;
        let mut out: Vec<FoldingRange> = ide::folding_ranges(&text, &file)
            .into_iter()
            .filter_map(|r| conv.folding(r, line_only))
            .collect();
        out.sort_by_key(|f| (f.start_line, std::cmp::Reverse(f.end_line)));
        out.dedup_by_key(|f| (f.start_line, f.end_line));
        Ok(Some(out))
    }

    async fn selection_range(
        &self,
        params: SelectionRangeParams,
    ) -> RpcResult<Option<Vec<SelectionRange>>> {
        let uri = params.text_document.uri;
        let (text, index, file) =
            self.with_doc(&uri, |d| (d.text.clone(), d.index.clone(), d.file.clone()))?;
        let conv = Conv::new(&text, &index, self.conv());
        let out = params
            .positions
            .into_iter()
            .map(|p| {
                let offset = conv.offset(p);
                let chain = ide::selection_ranges(&file, offset);
                conv.selection(chain, p)
            })
            .collect();
        Ok(Some(out))
    }

    async fn code_action(&self, params: CodeActionParams) -> RpcResult<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let (text, index, file, findings) = self.findings(&uri)?;
        let conv = Conv::new(&text, &index, self.conv());
        let start = conv.offset(params.range.start);
        let end = conv.offset(params.range.end).max(start);
        let analyzer = self.analyzer();
        let mut out: CodeActionResponse = Vec::new();
        for (at, f) in findings.touching(start..end) {
            let fixes = analyzer.fixes_for(&text, &file, at, f);
            if fixes.is_empty() {
                continue;
            }
            let diagnostic = conv.diagnostic_at(f, at, &uri);
            for fix in &fixes {
                let edits: Vec<TextEdit> = fix
                    .edits
                    .iter()
                    .map(|e| TextEdit {
                        range: conv.range(e.range.clone()),
                        new_text: e.new_text.clone(),
                    })
                    .collect();
                out.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix.title.clone(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
                    edit: Some(WorkspaceEdit {
                        changes: Some(HashMap::from([(uri.clone(), edits)])),
                        ..Default::default()
                    }),
                    is_preferred: Some(fix.preferred),
                    ..Default::default()
                }));
            }
        }
        Ok(Some(out))
    }
}
