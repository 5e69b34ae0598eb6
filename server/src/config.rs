//! The configuration file `.usher.yaml` (same keys as the language server's settings).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::finding::Severity;
use crate::schema::{KubeVersion, SchemaCheckOptions};
use crate::yaml::{YamlFile, strip_bom};

pub const CONFIG_NAMES: &[&str] = &[".usher.yaml", ".usher.yml"];

/// A level for a check that can be turned down or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    Ignore,
}

impl Level {
    pub fn severity(self) -> Option<Severity> {
        match self {
            Level::Error => Some(Severity::Error),
            Level::Warning => Some(Severity::Warning),
            Level::Ignore => None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Kubernetes version that deprecated and removed APIs are judged against.
    pub kubernetes_version: Option<String>,
    /// CustomResourceDefinition files or folders.
    #[serde(default)]
    pub crds: Vec<PathBuf>,
    pub unknown_fields: Option<Level>,
    pub missing_schemas: Option<Level>,
    /// Kyverno policies to evaluate.
    pub policies: Option<PolicyConfig>,
    /// The knowledge index: written rules (docs, Slack exports, transcripts) and where the
    /// index lives.
    pub knowledge: Option<KnowledgeConfig>,
    /// The cluster whose schemas and policies apply (cached per kubeconfig context).
    pub cluster: Option<crate::cluster::ClusterConfig>,
    /// `usher mcp`.
    pub mcp: Option<McpConfig>,
}

/// The `mcp` key.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpConfig {
    /// The audit log (one JSON line per tool call); relative to the config file.
    pub audit_log: Option<PathBuf>,
}

/// The `knowledge` key.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// Markdown/text files, Slack export folders, transcripts (.vtt, .srt), folders of them;
    /// relative to the config file.
    #[serde(default)]
    pub sources: Vec<PathBuf>,
    /// The index folder (default: `.usher/index` beside the config file).
    pub index: Option<PathBuf>,
    /// Whether resource kinds (built-in and CRDs) are indexed (default: true).
    pub kinds: Option<bool>,
    /// The embedding model's folder (`model.onnx`, `tokenizer.json`, `manifest.json` and the
    /// ONNX Runtime library), instead of `.tools/model` or `$USHER_MODEL_DIR`.
    pub model: Option<PathBuf>,
    /// Written rules (docs, Slack, transcripts) at least this relevant to a resource appear
    /// as Information diagnostics on its `kind` line. Relevance is the cosine similarity of
    /// the resource's query and the rule (0 to 1; needs the embedding model). Default 0.45;
    /// `off` turns them off.
    pub diagnostics: Option<RelevanceSetting>,
}

/// `knowledge.diagnostics`: a threshold, or `off`.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq)]
#[serde(untagged)]
pub enum RelevanceSetting {
    Threshold(f32),
    Switch(Switch),
}

#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    Off,
    On,
}

impl KnowledgeConfig {
    /// The relevance threshold of written-rule diagnostics, `None` when they are off.
    pub fn diagnostic_threshold(&self) -> Option<f32> {
        match self.diagnostics {
            None | Some(RelevanceSetting::Switch(Switch::On)) => Some(DEFAULT_RELEVANCE),
            Some(RelevanceSetting::Switch(Switch::Off)) => None,
            Some(RelevanceSetting::Threshold(t)) if t > 1.0 => None,
            Some(RelevanceSetting::Threshold(t)) => Some(t.max(0.0)),
        }
    }
}

/// Default relevance threshold of written-rule diagnostics.
pub const DEFAULT_RELEVANCE: f32 = 0.45;

/// The `policies` key.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyConfig {
    /// Policy files or folders (Kyverno ClusterPolicy/Policy), relative to the config file.
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// Whether the policy pack bundled with usher is on (default: true).
    pub bundled: Option<bool>,
    /// Categories of the bundled pack to use (empty: all), as in the
    /// `policies.kyverno.io/category` annotation.
    #[serde(default)]
    pub categories: Vec<String>,
    /// The namespace of namespaced resources that name none (default: `default`).
    pub default_namespace: Option<String>,
    /// Evaluate as Kyverno's background scan (policies with `background: false` left out)
    /// instead of as at admission (default: false, admission).
    pub background_scan: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Config {
    /// Reads a config file; relative paths in it are resolved against its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.into(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.into(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.crds = config.crds.iter().map(|p| base.join(p)).collect();
        if let Some(pc) = &mut config.policies {
            pc.paths = pc.paths.iter().map(|p| base.join(p)).collect();
        }
        if let Some(m) = &mut config.mcp {
            m.audit_log = m.audit_log.as_ref().map(|p| base.join(p));
        }
        let kc = config.knowledge.get_or_insert_with(Default::default);
        kc.sources = kc.sources.iter().map(|p| base.join(p)).collect();
        kc.model = kc.model.as_ref().map(|p| base.join(p));
        kc.index = Some(base.join(kc.index.as_deref().unwrap_or(Path::new(".usher/index"))));
        if let Some(c) = config.cluster.as_mut() {
            c.kubeconfig = c.kubeconfig.as_ref().map(|p| base.join(p));
        }
        Ok(config)
    }

    /// Parses the YAML text of a config file.
    pub fn parse(text: &str) -> Result<Config, String> {
        let text = strip_bom(text);
        let file = YamlFile::parse(text);
        for doc in &file.docs {
            if let Some(issue) = doc.lowered.issues.iter().find(|i| i.kind.is_error()) {
                let idx = crate::text::LineIndex::new(text);
                let pos = idx.line_col(
                    text,
                    doc.start + issue.span.start as usize,
                    crate::text::PositionEncoding::Utf32,
                );
                return Err(format!(
                    "{}:{}: {}",
                    pos.line + 1,
                    pos.col + 1,
                    issue.message
                ));
            }
        }
        let mut docs = file.docs.iter().filter(|d| d.root().is_some());
        let Some(doc) = docs.next() else {
            return Ok(Config::default());
        };
        let json = doc.root().map(|r| r.to_json()).unwrap_or_default();
        if json.is_null() {
            return Ok(Config::default());
        }
        let config: Config = serde_json::from_value(json).map_err(|e| e.to_string())?;
        config.kube_version()?;
        Ok(config)
    }

    /// Parses settings sent by an editor (JSON), with the same keys.
    pub fn from_json(value: serde_json::Value) -> Result<Config, String> {
        if value.is_null() {
            return Ok(Config::default());
        }
        let config: Config = serde_json::from_value(value).map_err(|e| e.to_string())?;
        config.kube_version()?;
        Ok(config)
    }

    /// Finds `.usher.yaml` in `start` or the nearest folder above it.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        let start = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
        let mut dir = if start.is_dir() {
            Some(start.as_path())
        } else {
            start.parent()
        };
        while let Some(d) = dir {
            for name in CONFIG_NAMES {
                let candidate = d.join(name);
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
            dir = d.parent();
        }
        None
    }

    pub fn kube_version(&self) -> Result<Option<KubeVersion>, String> {
        match &self.kubernetes_version {
            None => Ok(None),
            Some(v) => KubeVersion::parse(v)
                .map(Some)
                .ok_or_else(|| format!("kubernetesVersion `{v}` is not a version such as 1.30")),
        }
    }

    /// Schema options from this configuration.
    pub fn schema_options(&self) -> SchemaCheckOptions {
        let mut options = SchemaCheckOptions::default();
        if let Ok(Some(v)) = self.kube_version() {
            options.kubernetes_version = v;
        }
        if let Some(l) = self.unknown_fields {
            options.unknown_fields = l.severity();
        }
        if let Some(l) = self.missing_schemas {
            options.missing_schemas = l.severity();
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_rejects_unknown_ones() {
        let c = Config::parse("kubernetesVersion: '1.25'\ncrds: [crds/]\nunknownFields: warning\n")
            .unwrap();
        assert_eq!(c.kubernetes_version.as_deref(), Some("1.25"));
        assert_eq!(c.schema_options().unknown_fields, Some(Severity::Warning));
        assert_eq!(
            c.schema_options().kubernetes_version,
            KubeVersion {
                major: 1,
                minor: 25
            }
        );
        let e = Config::parse("kubernetesVersoin: 1.25\n").unwrap_err();
        assert!(e.contains("unknown field `kubernetesVersoin`"), "{e}");
        let e = Config::parse("kubernetesVersion: latest\n").unwrap_err();
        assert!(e.contains("not a version"), "{e}");
        let e = Config::parse("crds: [a\n").unwrap_err();
        assert!(e.starts_with("1:"), "{e}");
        assert_eq!(Config::parse("# nothing\n").unwrap(), Config::default());
    }
}
