//! The server's settings: the workspace's `.usher.yaml`, then `initializationOptions`, then
//! the client's `usher` section of `workspace/configuration` (later sources win key by key).

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tower_lsp_server::ls_types::MessageType;

use crate::analysis::Analyzer;
use crate::config::Config;

/// Keys editors send that configure the client or the server process, not the analysis.
const CLIENT_KEYS: &[&str] = &["path", "trace", "debounceMs", "enable"];

#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub config: Config,
    pub config_file: Option<PathBuf>,
    /// Wait this long after an edit before analysing (0: analyse at once; edits that arrive
    /// while an analysis runs supersede it either way).
    pub debounce_ms: u64,
    /// Canonical CRD paths, to know which file changes matter.
    crd_paths: Vec<PathBuf>,
    /// The folder of the config file, else the first workspace root: where the knowledge
    /// index (`.usher/index`) and relative knowledge paths are.
    pub workspace: PathBuf,
}

pub struct SettingsSource<'a> {
    pub roots: &'a [PathBuf],
    pub init_options: Option<&'a Json>,
    pub client: Option<&'a Json>,
}

/// Merges the sources; messages are problems to report (with their level) and notes.
pub fn load(src: &SettingsSource<'_>) -> (Settings, Vec<(MessageType, String)>) {
    let mut messages = Vec::new();
    let mut settings = Settings::default();
    let base = src
        .roots
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("."));
    if let Some(path) = src.roots.iter().find_map(|r| Config::discover(r)) {
        match Config::load(&path) {
            Ok(c) => settings.config = c,
            Err(e) => messages.push((
                MessageType::ERROR,
                format!("{e}; using defaults for its settings"),
            )),
        }
        settings.workspace = path
            .parent()
            .map_or_else(|| base.clone(), Path::to_path_buf);
        settings.config_file = Some(path);
    } else {
        settings.workspace = base.clone();
    }
    for (what, value) in [
        ("initializationOptions", src.init_options),
        ("workspace configuration", src.client),
    ] {
        let Some(Json::Object(map)) = value else {
            continue;
        };
        let mut map = map.clone();
        if let Some(ms) = map.get("debounceMs").and_then(Json::as_u64) {
            settings.debounce_ms = ms.min(2_000);
        }
        for k in CLIENT_KEYS {
            map.remove(*k);
        }
        // Empty values mean "not set" (editors send "" and [] for untouched settings).
        map.retain(|_, v| {
            !(v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(Vec::is_empty))
        });
        match Config::from_json(Json::Object(map)) {
            Ok(c) => merge(&mut settings.config, c, &base),
            Err(e) => messages.push((MessageType::ERROR, format!("{what}: {e}; ignored"))),
        }
    }
    settings.crd_paths = settings
        .config
        .crds
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    (settings, messages)
}

/// Keys set in `over` replace those of `base`; CRD paths are added (relative ones resolved
/// against the workspace root).
fn merge(base: &mut Config, over: Config, root: &Path) {
    if over.kubernetes_version.is_some() {
        base.kubernetes_version = over.kubernetes_version;
    }
    for p in over.crds {
        let p = if p.is_absolute() { p } else { root.join(p) };
        if !base.crds.contains(&p) {
            base.crds.push(p);
        }
    }
    if over.unknown_fields.is_some() {
        base.unknown_fields = over.unknown_fields;
    }
    if over.missing_schemas.is_some() {
        base.missing_schemas = over.missing_schemas;
    }
    if let Some(mut p) = over.policies {
        p.paths = p
            .paths
            .into_iter()
            .map(|x| if x.is_absolute() { x } else { root.join(x) })
            .collect();
        base.policies = Some(p);
    }
    if let Some(mut k) = over.knowledge {
        let abs = |x: PathBuf| if x.is_absolute() { x } else { root.join(x) };
        k.sources = k.sources.into_iter().map(abs).collect();
        k.index = k.index.map(abs);
        k.model = k.model.map(abs);
        base.knowledge = Some(k);
    }
    if over.cluster.is_some() {
        base.cluster = over.cluster;
    }
}

impl Settings {
    /// The analyzer for these settings (CRD files are read now), without cluster data.
    pub fn analyzer_with_errors(&self) -> (Analyzer, Vec<String>) {
        self.analyzer_for(None)
    }

    /// The analyzer for these settings with a cluster's cache; the messages are files and
    /// cluster objects that could not be used.
    pub fn analyzer_for(
        &self,
        cluster: Option<&crate::cluster::ClusterView>,
    ) -> (Analyzer, Vec<String>) {
        let setup = crate::analysis::setup::configured(&self.config, cluster);
        let errors = setup
            .crd_errors
            .iter()
            .map(|e| format!("{}: {}", e.path.display(), e.message))
            .chain(
                setup
                    .policy_errors
                    .iter()
                    .chain(&setup.cluster_errors)
                    .map(|e| format!("{}: {}", e.path.display(), e.message)),
            )
            .collect();
        (setup.analyzer, errors)
    }

    pub fn analyzer(&self) -> Analyzer {
        self.analyzer_with_errors().0
    }

    /// The knowledge index folder.
    pub fn index_dir(&self) -> PathBuf {
        self.config
            .knowledge
            .as_ref()
            .and_then(|k| k.index.clone())
            .unwrap_or_else(|| self.workspace.join(".usher/index"))
    }

    /// Whether a change to `path` changes the analysis (a config file, a CRD file, the
    /// knowledge index's manifest, written last when `usher index` swaps in a new index).
    pub fn affects(&self, path: &Path) -> bool {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if crate::config::CONFIG_NAMES.contains(&name) {
            return true;
        }
        if name == "manifest.json" && path.parent() == Some(self.index_dir().as_path()) {
            return true;
        }
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        // A deleted file cannot be canonicalised: compare its parent too.
        let parent = path
            .parent()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .map(|p| p.join(name));
        self.crd_paths
            .iter()
            .any(|c| abs.starts_with(c) || parent.as_ref().is_some_and(|p| p.starts_with(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_sources_win_and_client_keys_are_ignored() {
        let init =
            serde_json::json!({"kubernetesVersion": "1.25", "crds": ["a"], "path": "/bin/usher"});
        let client = serde_json::json!({"kubernetesVersion": "1.30", "crds": [], "debounceMs": 20, "unknownFields": ""});
        let (s, messages) = load(&SettingsSource {
            roots: &[PathBuf::from("/nonexistent-root")],
            init_options: Some(&init),
            client: Some(&client),
        });
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(s.config.kubernetes_version.as_deref(), Some("1.30"));
        assert_eq!(s.config.crds, vec![PathBuf::from("/nonexistent-root/a")]);
        assert_eq!(s.debounce_ms, 20);
        let bad = serde_json::json!({"kubernetesVersoin": "1.25"});
        let (_, messages) = load(&SettingsSource {
            roots: &[],
            init_options: Some(&bad),
            client: None,
        });
        assert!(
            messages[0].1.contains("unknown field `kubernetesVersoin`"),
            "{messages:?}"
        );
    }
}
