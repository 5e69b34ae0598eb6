//! Kubeconfig: which file (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`), which context (flag,
//! configuration, else the current context), and the `kube` client for it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::client::ReadOnlyClient;

/// One context of a kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextInfo {
    pub name: String,
    pub cluster: String,
    /// The API server's URL, when the cluster entry is found.
    pub server: Option<String>,
    pub namespace: Option<String>,
}

/// A kubeconfig read from disk (or from `KUBECONFIG`'s files, merged as kubectl does).
pub struct KubeconfigFile {
    pub config: Kubeconfig,
    /// Where it came from, for messages.
    pub origin: String,
}

impl KubeconfigFile {
    /// Reads `explicit` if given, else `KUBECONFIG` (several files separated by `:`), else
    /// `~/.kube/config`.
    pub fn read(explicit: Option<&Path>) -> Result<KubeconfigFile, String> {
        if let Some(p) = explicit {
            return Kubeconfig::read_from(p)
                .map(|config| KubeconfigFile {
                    config,
                    origin: p.display().to_string(),
                })
                .map_err(|e| format!("kubeconfig {}: {}", p.display(), chain(&e)));
        }
        let origin = match std::env::var_os("KUBECONFIG") {
            Some(v) if !v.is_empty() => format!("KUBECONFIG={}", v.to_string_lossy()),
            _ => default_path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "~/.kube/config".into()),
        };
        Kubeconfig::read()
            .map(|config| KubeconfigFile {
                config,
                origin: origin.clone(),
            })
            .map_err(|e| format!("kubeconfig {origin}: {}", chain(&e)))
    }

    pub fn current_context(&self) -> Option<&str> {
        self.config.current_context.as_deref()
    }

    pub fn contexts(&self) -> Vec<ContextInfo> {
        self.config
            .contexts
            .iter()
            .map(|c| {
                let ctx = c.context.as_ref();
                let cluster = ctx.map(|x| x.cluster.clone()).unwrap_or_default();
                let server = self
                    .config
                    .clusters
                    .iter()
                    .find(|k| k.name == cluster)
                    .and_then(|k| k.cluster.as_ref())
                    .and_then(|k| k.server.clone());
                ContextInfo {
                    name: c.name.clone(),
                    cluster,
                    server,
                    namespace: ctx.and_then(|x| x.namespace.clone()),
                }
            })
            .collect()
    }

    /// The context to use: `wanted` if given (it must exist), else the current context.
    pub fn resolve(&self, wanted: Option<&str>) -> Result<ContextInfo, String> {
        let contexts = self.contexts();
        let name = match wanted {
            Some(w) => w.to_string(),
            None => self.current_context().map(str::to_string).ok_or_else(|| {
                format!(
                    "kubeconfig {} has no current context; choose one with --context ({})",
                    self.origin,
                    names(&contexts)
                )
            })?,
        };
        contexts
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                format!(
                    "kubeconfig {} has no context named '{name}' ({})",
                    self.origin,
                    names(&self.contexts())
                )
            })
    }

    /// A read-only client for `context` (exec plugins, tokens and client certificates as
    /// `kube` supports them). `timeout` bounds each request.
    pub async fn client(&self, context: &str, timeout: Duration) -> Result<ReadOnlyClient, String> {
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(self.config.clone(), &options)
            .await
            .map_err(|e| format!("context '{context}': {}", chain(&e)))?;
        config.connect_timeout = Some(timeout);
        // No read timeout on the connection itself: `kube` applies it to every read, idle
        // pooled connections included, so a connection that waited longer than the limit
        // between two requests failed the next one ("connection error: timed out").
        // ReadOnlyClient bounds each request as a whole instead.
        config.read_timeout = None;
        config.write_timeout = None;
        let client = kube::Client::try_from(config)
            .map_err(|e| format!("context '{context}': {}", chain(&e)))?;
        Ok(ReadOnlyClient::new(client, timeout))
    }
}

fn names(contexts: &[ContextInfo]) -> String {
    if contexts.is_empty() {
        "it has no contexts".into()
    } else {
        format!(
            "contexts: {}",
            contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn default_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube").join("config"))
}

/// An error with its causes, on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let m = s.to_string();
        if !message.contains(&m) {
            message = format!("{message}: {m}");
        }
        source = s.source();
    }
    message
}
