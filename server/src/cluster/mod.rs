//! The cluster layer: schemas, CRDs, policies and namespaces read from the user's clusters —
//! read-only ([`client`]) — and cached per kubeconfig context on disk ([`cache`]), so that
//! everything works offline from the last refresh ([`fetch`]).
//!
//! Faces use [`Selection::from_config`] to learn which context applies, [`ClusterView::load`] to
//! read its cache (no network), and [`refresh`] to read the cluster again.

pub mod cache;
pub mod client;
pub mod fetch;
pub mod kubeconfig;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value as Json};

pub use cache::{ContextCache, CrdEntry, Snapshot, human_age};
pub use fetch::{Progress, RefreshError, Refreshed};
pub use kubeconfig::{ContextInfo, KubeconfigFile};

use crate::policy::{PolicyLoadError, PolicySet};
use crate::schema::{Catalog, ClusterSchemas, CrdLoadError, KubeVersion};

/// Default time limit of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The `cluster:` section of `.usher.yaml`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterConfig {
    /// Use the cluster's cached schemas and policies (default true; false: never read the
    /// cache or the cluster).
    pub enabled: Option<bool>,
    /// The kubeconfig context (default: the kubeconfig's current context).
    pub context: Option<String>,
    /// The kubeconfig file (default: `KUBECONFIG`, else `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// Whether the language server refreshes the cache in the background at start (default
    /// true, once the context has a cache, i.e. after `usher cluster refresh` or
    /// `usher index --cluster`).
    pub refresh: Option<bool>,
    /// Seconds one request may take (default 30).
    pub timeout_seconds: Option<u64>,
    /// Evaluate the policies installed in the cluster like local ones (default true).
    pub policies: Option<bool>,
}

/// Which context's cluster data applies, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub context: String,
    pub kubeconfig: Option<PathBuf>,
    pub timeout: Duration,
    pub policies: bool,
    pub refresh: bool,
}

impl Selection {
    /// The context named by `flag`, else by the configuration, else the kubeconfig's current
    /// context. `Ok(None)`: cluster data is switched off, or no context is named and no
    /// kubeconfig can be read (not an error unless the user asked for a cluster).
    pub fn from_config(
        config: Option<&ClusterConfig>,
        flag: Option<&str>,
        kubeconfig_flag: Option<&Path>,
    ) -> Result<Option<Selection>, String> {
        let c = config.cloned().unwrap_or_default();
        if c.enabled == Some(false) && flag.is_none() {
            return Ok(None);
        }
        let kubeconfig = kubeconfig_flag.map(Path::to_path_buf).or(c.kubeconfig);
        let context = match flag.map(str::to_string).or(c.context) {
            Some(ctx) => ctx,
            None => match KubeconfigFile::read(kubeconfig.as_deref()) {
                Ok(k) => match k.current_context() {
                    Some(ctx) if !ctx.is_empty() => ctx.to_string(),
                    _ => return Ok(None),
                },
                Err(e) if kubeconfig.is_some() => return Err(e),
                Err(_) => return Ok(None),
            },
        };
        Ok(Some(Selection {
            context,
            kubeconfig,
            timeout: c
                .timeout_seconds
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_TIMEOUT),
            policies: c.policies.unwrap_or(true),
            refresh: c.refresh.unwrap_or(true),
        }))
    }

    pub fn cache(&self) -> Option<ContextCache> {
        ContextCache::for_context(&self.context)
    }
}

/// The pseudo-path of a policy read from a cluster: `<cluster CONTEXT>/KIND/NAME`.
pub fn policy_path(context: &str, kind: &str, namespace: Option<&str>, name: &str) -> PathBuf {
    match namespace {
        Some(ns) => PathBuf::from(format!("<cluster {context}>/{kind}/{ns}/{name}")),
        None => PathBuf::from(format!("<cluster {context}>/{kind}/{name}")),
    }
}

/// The context of a [`policy_path`].
pub fn context_of_path(path: &Path) -> Option<&str> {
    let s = path.to_str()?.strip_prefix("<cluster ")?;
    Some(&s[..s.find(">/")?])
}

/// A context's cache, read and ready to use.
#[derive(Debug)]
pub struct ClusterView {
    pub context: String,
    pub snapshot: Arc<Snapshot>,
    /// The schemas of its OpenAPI documents, merged.
    pub definitions: Map<String, Json>,
    /// Documents of the cache that could not be read.
    pub problems: Vec<String>,
}

impl ClusterView {
    /// Reads the cache of `selection`'s context. `Ok(None)`: it has none yet.
    pub fn load(selection: &Selection) -> Result<Option<ClusterView>, String> {
        let Some(cache) = selection.cache() else {
            return Ok(None);
        };
        let Some(snapshot) = cache.load()? else {
            return Ok(None);
        };
        Ok(Some(ClusterView::from_snapshot(&cache, snapshot)))
    }

    /// Like [`ClusterView::load`], with only the CRDs that `select` picks (the language
    /// server's first view: the groups of the open documents); [`ClusterView::with_crds`]
    /// reads the rest.
    pub fn load_partial(
        selection: &Selection,
        select: impl Fn(&CrdEntry) -> bool,
    ) -> Result<Option<ClusterView>, String> {
        let Some(cache) = selection.cache() else {
            return Ok(None);
        };
        let Some(snapshot) = cache.load_partial(select)? else {
            return Ok(None);
        };
        Ok(Some(ClusterView::from_snapshot(&cache, snapshot)))
    }

    /// Whether only some of the cluster's CRDs are loaded.
    pub fn is_partial(&self) -> bool {
        self.snapshot.partial
    }

    /// This view with the CRDs of the cache that `select` picks (its OpenAPI schemas are not
    /// read again).
    pub fn with_crds(
        &self,
        cache: &ContextCache,
        select: impl Fn(&CrdEntry) -> bool,
    ) -> Result<ClusterView, String> {
        let mut snapshot = Snapshot {
            crds: Vec::new(),
            ..(*self.snapshot).clone()
        };
        snapshot.crds = cache.read_crds(&snapshot, select)?;
        snapshot.partial = snapshot.crds.len() < snapshot.crd_index.len();
        Ok(ClusterView {
            context: self.context.clone(),
            snapshot: Arc::new(snapshot),
            definitions: self.definitions.clone(),
            problems: self.problems.clone(),
        })
    }

    /// Reads the OpenAPI documents a snapshot names.
    pub fn from_snapshot(cache: &ContextCache, snapshot: Snapshot) -> ClusterView {
        use rayon::prelude::*;
        let docs: Vec<Result<Map<String, Json>, String>> = snapshot
            .openapi
            .par_iter()
            .map(|(_, d)| cache.load_doc(d))
            .collect();
        let mut definitions = Map::new();
        let mut problems = Vec::new();
        for d in docs {
            match d {
                Ok(m) => {
                    for (k, v) in m {
                        definitions.entry(k).or_insert(v);
                    }
                }
                Err(e) => problems.push(format!("cluster cache: {e}")),
            }
        }
        ClusterView {
            context: snapshot.context.clone(),
            snapshot: Arc::new(snapshot),
            definitions,
            problems,
        }
    }

    /// The schema catalog: built-in kinds, the CRD files of `crd_paths`, then this cluster.
    pub fn catalog(&self, crd_paths: &[PathBuf]) -> (Catalog, Vec<CrdLoadError>) {
        let schemas = ClusterSchemas {
            context: &self.context,
            definitions: self.definitions.clone(),
            served: &self.snapshot.resources,
            crds: &self.snapshot.crds,
        };
        Catalog::with_sources(crd_paths, Some(&schemas))
    }

    /// The cluster's policies, exceptions and bindings (their paths say they come from the
    /// cluster), with its Namespaces, the ConfigMaps its policies read and the answers to
    /// their API calls as the resources CEL policies and context entries are answered from.
    pub fn policy_set(&self) -> (PolicySet, Vec<PolicyLoadError>) {
        let mut set = PolicySet::default();
        let mut errors = Vec::new();
        for doc in &self.snapshot.policies {
            let kind = doc.get("kind").and_then(Json::as_str).unwrap_or("?");
            let name = doc
                .pointer("/metadata/name")
                .and_then(Json::as_str)
                .unwrap_or("?");
            let ns = doc.pointer("/metadata/namespace").and_then(Json::as_str);
            let path = policy_path(&self.context, kind, ns, name);
            if let Err(message) = set.add(doc.clone(), &path) {
                errors.push(PolicyLoadError { path, message });
            }
        }
        set.resources
            .extend(self.snapshot.namespaces.iter().cloned());
        set.resources
            .extend(self.snapshot.config_maps.iter().cloned());
        crate::policy::cel_policy::attach_bindings(&mut set.policies, &set.bindings);
        (set, errors)
    }

    /// The cluster's Kubernetes version.
    pub fn kube_version(&self) -> Option<KubeVersion> {
        let (major, minor) = self.snapshot.version.as_ref()?.major_minor()?;
        KubeVersion::parse(&format!("{major}.{minor}"))
    }

    /// One line for logs and status bars: `cluster prod (v1.29.3): 1,012 kinds, 14 policies,
    /// cached 2 h ago`.
    pub fn summary(&self) -> String {
        let s = &self.snapshot;
        let version = s
            .version
            .as_ref()
            .map(|v| format!(" ({})", v.git_version))
            .unwrap_or_default();
        format!(
            "cluster {}{version}: {} resource types, {} CRDs, {} policies, cached {} ago",
            self.context,
            s.resources.len(),
            s.crd_count(),
            s.policies.len(),
            human_age(s.age())
        )
    }
}

/// The cluster data a face starts with: the selected context and its cache, read from disk
/// only.
#[derive(Default)]
pub struct Loaded {
    pub selection: Option<Selection>,
    pub view: Option<ClusterView>,
    /// Worth telling the user (a configured context without a cache, an unreadable cache, a
    /// last refresh that missed parts).
    pub notices: Vec<String>,
    /// The user named a context (`--context`) and it has no usable cache.
    pub error: Option<String>,
}

/// Selects the context (`flag`, else the configuration's, else the kubeconfig's current one)
/// and reads its cache. A current context that was never refreshed is silently skipped.
pub fn load_configured(
    config: Option<&ClusterConfig>,
    flag: Option<&str>,
    kubeconfig: Option<&Path>,
) -> Loaded {
    let mut out = Loaded::default();
    let selection = match Selection::from_config(config, flag, kubeconfig) {
        Ok(Some(s)) => s,
        Ok(None) => return out,
        Err(e) => {
            out.notices
                .push(format!("cluster: {e}; cluster data is not used"));
            return out;
        }
    };
    let named = flag.is_some() || config.and_then(|c| c.context.as_ref()).is_some();
    let hint = format!(
        "run `usher cluster refresh --context {}`",
        selection.context
    );
    match ClusterView::load(&selection) {
        Ok(Some(view)) => {
            out.notices.extend(view.problems.iter().cloned());
            let missed = view.snapshot.problems.len();
            if missed > 0 {
                out.notices.push(format!(
                    "the last refresh of cluster {} could not read {missed} part(s); `usher cluster status` lists them",
                    selection.context
                ));
            }
            out.view = Some(view);
        }
        Ok(None) if flag.is_some() => {
            out.error = Some(format!(
                "context '{}' has no cluster cache yet; {hint}",
                selection.context
            ));
        }
        Ok(None) if named => out.notices.push(format!(
            "context '{}' has no cluster cache yet; {hint}",
            selection.context
        )),
        Ok(None) => {}
        Err(e) => out.notices.push(format!(
            "the cluster cache of '{}' cannot be read ({e}); {hint}",
            selection.context
        )),
    }
    out.selection = Some(selection);
    out
}

/// Reads the cluster of `selection` and stores what it read in its cache. The previous cache
/// is reused for unchanged OpenAPI documents and kept for what fails.
pub async fn refresh(
    selection: &Selection,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Refreshed, String> {
    let kubeconfig = KubeconfigFile::read(selection.kubeconfig.as_deref())?;
    let info = kubeconfig.resolve(Some(&selection.context))?;
    let client = kubeconfig.client(&info.name, selection.timeout).await?;
    let cache = selection
        .cache()
        .ok_or("no cache folder: set XDG_CACHE_HOME, HOME or USHER_CACHE_DIR")?;
    let previous = match cache.load() {
        Ok(p) => p,
        Err(e) => {
            progress(Progress {
                message: format!("the old cache is unreadable and will be replaced: {e}"),
                count: None,
            });
            None
        }
    };
    let server = info.server.clone().unwrap_or_default();
    fetch::refresh(
        &client,
        &info.name,
        &server,
        &cache,
        previous.as_ref(),
        progress,
    )
    .await
    .map_err(|e| match (&e, previous.as_ref()) {
        (RefreshError::Unreachable(_) | RefreshError::Refused(_), Some(p)) => {
            format!("{e}; the cache of {} ago stays in use", human_age(p.age()))
        }
        _ => e.to_string(),
    })
}

/// Runs [`refresh`] on a runtime of its own (for the command line).
pub fn refresh_blocking(
    selection: &Selection,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Refreshed, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the network runtime: {e}"))?;
    rt.block_on(refresh(selection, progress))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_paths_name_their_context() {
        let p = policy_path("kind-dev", "ClusterPolicy", None, "require-labels");
        assert_eq!(context_of_path(&p), Some("kind-dev"));
        assert!(crate::policy::is_virtual_path(&p));
        assert_eq!(context_of_path(Path::new("policies/a.yaml")), None);
    }
}
