//! The cluster in the language server: the context's cache is read in the background at start
//! (diagnostics come at once from built-in schemas, then again with the cluster's), then the
//! cluster is read again in the background with work-done progress; when it cannot be reached
//! the cache stays in use and one message says how old it is.

use std::sync::Arc;

use tower_lsp_server::ls_types::{
    MessageType, NumberOrString, WorkDoneProgressCreateParams, request::WorkDoneProgressCreate,
};

use super::{Backend, State};
use crate::cluster::{ClusterView, Progress, Selection, human_age};

impl Backend {
    /// Loads `selection`'s cache (first the CRDs of the groups the open documents use, then
    /// the rest), then refreshes it (when it had one, or the configuration names the context,
    /// and `cluster.refresh` is not false).
    pub(super) async fn cluster_start(&self, selection: Selection) {
        let sel = selection.clone();
        let state = self.state.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let t = std::time::Instant::now();
            let Some(cache) = sel.cache() else {
                return Ok(None);
            };
            // snapshot.json and the OpenAPI documents first: by then the client has usually
            // said which documents are open.
            let Some(head) = ClusterView::load_partial(&sel, |_| false)? else {
                return Ok(None);
            };
            let groups = open_groups(&state);
            let view = head.with_crds(&cache, |e| groups.contains(&e.group))?;
            Ok(Some((view, t.elapsed())))
        })
        .await
        .unwrap_or_else(|e| Err(format!("reading the cluster cache failed: {e}")));
        let had_cache = match loaded {
            Ok(Some((view, took))) => {
                let loaded_crds = view.snapshot.crds.len();
                self.log(
                    MessageType::INFO,
                    format!(
                        "using the {} (read in {took:.0?}{})",
                        view.summary(),
                        if view.is_partial() {
                            format!(
                                "; first the {loaded_crds} CRDs of the open documents' groups, the rest follows"
                            )
                        } else {
                            String::new()
                        }
                    ),
                )
                .await;
                for p in &view.problems {
                    self.log(MessageType::WARNING, p.clone()).await;
                }
                let view = Arc::new(view);
                let partial = view.is_partial().then(|| view.clone());
                self.cluster_apply(&selection, view).await;
                if let (Some(view), Some(cache)) = (partial, selection.cache()) {
                    let t = std::time::Instant::now();
                    let all = tokio::task::spawn_blocking(move || view.with_crds(&cache, |_| true))
                        .await
                        .unwrap_or_else(|e| Err(format!("reading the CRDs failed: {e}")));
                    match all {
                        Ok(all) => {
                            self.log(
                                MessageType::INFO,
                                format!(
                                    "cluster {}: all {} CRDs read in {:.0?}",
                                    selection.context,
                                    all.snapshot.crds.len(),
                                    t.elapsed()
                                ),
                            )
                            .await;
                            self.cluster_apply(&selection, Arc::new(all)).await;
                        }
                        Err(e) => {
                            self.log(MessageType::WARNING, format!("cluster cache: {e}"))
                                .await
                        }
                    }
                }
                true
            }
            Ok(None) => {
                self.log(
                    MessageType::INFO,
                    format!(
                        "context '{}' has no cluster cache (`usher cluster refresh` makes one)",
                        selection.context
                    ),
                )
                .await;
                false
            }
            Err(e) => {
                self.log(MessageType::WARNING, format!("cluster cache: {e}"))
                    .await;
                false
            }
        };
        let named = self
            .state
            .settings
            .read()
            .unwrap()
            .config
            .cluster
            .as_ref()
            .is_some_and(|c| c.context.is_some());
        if selection.refresh && (had_cache || named) {
            self.cluster_refresh(&selection).await;
        }
    }

    /// Installs an analyzer with `view`, if `selection` is still the context in use.
    async fn cluster_apply(&self, selection: &Selection, view: Arc<ClusterView>) {
        let _one_at_a_time = self.state.reloading.lock().await;
        if self.state.cluster_context.read().unwrap().as_deref() != Some(&selection.context) {
            return;
        }
        let settings = self.state.settings.read().unwrap().clone();
        let knowledge = self.analyzer().knowledge.clone();
        let v = view.clone();
        let built = tokio::task::spawn_blocking(move || settings.analyzer_for(Some(&v))).await;
        let Ok((mut analyzer, errors)) = built else {
            self.log(MessageType::ERROR, "building the cluster's schemas failed")
                .await;
            return;
        };
        for e in errors {
            self.log(MessageType::WARNING, format!("not loaded: {e}"))
                .await;
        }
        analyzer.set_knowledge(knowledge);
        self.log(
            MessageType::INFO,
            format!(
                "cluster {}: {} kinds, Kubernetes {}",
                selection.context,
                analyzer.catalog.kinds.len(),
                analyzer.options.kubernetes_version
            ),
        )
        .await;
        *self.state.cluster.write().unwrap() = Some(view);
        *self.state.analyzer.write().unwrap() = Arc::new(analyzer);
        self.reanalyze_all();
    }

    /// Reads the cluster again, with progress; installs the new cache when something changed.
    async fn cluster_refresh(&self, selection: &Selection) {
        let title = format!("usher: reading cluster {}", selection.context);
        let progress = if self.state.caps.read().unwrap().work_done_progress {
            let token = NumberOrString::String(format!("usher/cluster/{}", selection.context));
            let created = self
                .client
                .send_request::<WorkDoneProgressCreate>(WorkDoneProgressCreateParams {
                    token: token.clone(),
                })
                .await;
            match created {
                Ok(()) => Some(
                    self.client
                        .progress(token, title.clone())
                        .with_message("connecting")
                        .begin()
                        .await,
                ),
                Err(_) => None,
            }
        } else {
            None
        };
        // Progress reports cross from the refresh (synchronous callback) to the client.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
        let sel = selection.clone();
        let refresh = tokio::spawn(async move {
            let report = move |p: Progress| {
                let _ = tx.send(p);
            };
            crate::cluster::refresh(&sel, &report).await
        });
        while let Some(p) = rx.recv().await {
            if let Some(progress) = &progress {
                let message = match p.count {
                    Some((done, total)) => format!("{} {done}/{total}", p.message),
                    None => p.message,
                };
                progress.report(message).await;
            }
        }
        let result = refresh
            .await
            .unwrap_or_else(|e| Err(format!("the refresh stopped: {e}")));
        match result {
            Ok(r) => {
                let summary = format!(
                    "cluster {} read: {} OpenAPI documents ({} fetched), {} CRDs, {} policies{}",
                    selection.context,
                    r.snapshot.openapi.len(),
                    r.fetched_documents,
                    r.snapshot.crds.len(),
                    r.snapshot.policies.len(),
                    if r.changed { "" } else { "; nothing changed" }
                );
                if let Some(p) = progress {
                    p.finish_with_message(summary.clone()).await;
                }
                self.log(MessageType::INFO, summary).await;
                for p in &r.snapshot.problems {
                    self.log(MessageType::WARNING, format!("cluster: {p}"))
                        .await;
                }
                if !r.snapshot.problems.is_empty() {
                    self.client
                        .show_message(
                            MessageType::WARNING,
                            format!(
                                "usher: cluster {}: {} part(s) could not be read (see the log); the rest is up to date",
                                selection.context,
                                r.snapshot.problems.len()
                            ),
                        )
                        .await;
                }
                let applied = self.state.cluster.read().unwrap().is_some();
                if r.changed || !applied {
                    let Some(cache) = selection.cache() else {
                        return;
                    };
                    let view = tokio::task::spawn_blocking(move || {
                        ClusterView::from_snapshot(&cache, r.snapshot)
                    })
                    .await;
                    if let Ok(view) = view {
                        self.cluster_apply(selection, Arc::new(view)).await;
                    }
                }
            }
            Err(e) => {
                if let Some(p) = progress {
                    p.finish_with_message("failed").await;
                }
                let age = self
                    .state
                    .cluster
                    .read()
                    .unwrap()
                    .as_ref()
                    .map(|v| human_age(v.snapshot.age()));
                let message = match age {
                    Some(age) if !e.contains("stays in use") => format!(
                        "usher: cluster {}: {e}; using the cache of {age} ago",
                        selection.context
                    ),
                    _ => format!("usher: cluster {}: {e}", selection.context),
                };
                self.log(MessageType::WARNING, message.clone()).await;
                self.client
                    .show_message(MessageType::WARNING, message)
                    .await;
            }
        }
    }
}

/// The API groups of the open documents (custom resources only: built-in groups have no CRD).
fn open_groups(state: &State) -> std::collections::HashSet<String> {
    let docs = state.docs.lock().unwrap();
    docs.values()
        .flat_map(|d| &d.file.docs)
        .filter_map(|doc| {
            let api = doc.root()?.get("apiVersion")?.as_str()?;
            let (group, _) = crate::schema::split_api_version(api);
            group.contains('.').then(|| group.to_string())
        })
        .collect()
}
