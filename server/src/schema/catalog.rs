//! The schema catalog: (apiVersion, kind) → compiled structural schema, from built-in types
//! and CustomResourceDefinition files.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::{Value as Json, json};

use super::builtin::builtin_schemas;
use super::compile::Compiler;
use super::model::{SchemaArena, SchemaId};
use crate::analysis::MAX_DOCUMENT_LINES;
use crate::yaml::{YamlFile, strip_bom};

pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindSource {
    Builtin,
    Crd {
        path: PathBuf,
        name: String,
    },
    /// Read from a cluster (kubeconfig context): its OpenAPI v3 documents, or the
    /// CustomResourceDefinition `crd`.
    Cluster {
        context: String,
        crd: Option<String>,
    },
}

impl KindSource {
    /// Where a schema came from, for hovers and tools (Markdown when `code` wraps names).
    pub fn describe(&self, code: &str) -> String {
        match self {
            KindSource::Builtin => {
                let (ma, mi) = super::builtin::BUILTIN_KUBERNETES_VERSION;
                format!("built-in (Kubernetes {ma}.{mi})")
            }
            KindSource::Crd { path, name } => format!(
                "CustomResourceDefinition {code}{name}{code} from {code}{}{code}",
                path.display()
            ),
            KindSource::Cluster { context, crd: None } => {
                format!("cluster {code}{context}{code} (its OpenAPI schema)")
            }
            KindSource::Cluster {
                context,
                crd: Some(name),
            } => format!(
                "CustomResourceDefinition {code}{name}{code} of cluster {code}{context}{code}"
            ),
        }
    }

    /// Whether the schema is a CustomResourceDefinition's (from a file or a cluster).
    pub fn is_crd(&self) -> bool {
        matches!(
            self,
            KindSource::Crd { .. } | KindSource::Cluster { crd: Some(_), .. }
        )
    }
}

/// A resource type a cluster serves (from its discovery or its CRDs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServedKind {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

/// The schemas read from a cluster.
pub struct ClusterSchemas<'a> {
    /// The kubeconfig context.
    pub context: &'a str,
    /// The `components.schemas` of its OpenAPI v3 documents (the built-in group-versions and
    /// any aggregated API), merged.
    pub definitions: serde_json::Map<String, Json>,
    /// What its discovery lists; kinds of the OpenAPI documents that it does not list are
    /// left out (empty: discovery failed, and the kinds usher knows built-in are used).
    pub served: &'a [ServedKind],
    pub crds: &'a [Json],
}

#[derive(Debug, Clone)]
pub struct KindInfo {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
    pub root: SchemaId,
    pub source: KindSource,
}

impl KindInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// A CRD file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdLoadError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Debug)]
pub struct Catalog {
    pub arena: SchemaArena,
    pub kinds: Vec<KindInfo>,
    by_key: HashMap<(String, String), usize>,
    defs: HashMap<String, SchemaId>,
    pub object_meta: Option<SchemaId>,
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

static BUILTIN: OnceLock<Arc<Catalog>> = OnceLock::new();

impl Catalog {
    /// A catalog with the built-in kinds only (compiled once per process, then cloned cheaply
    /// through `Arc`).
    pub fn builtin() -> Arc<Catalog> {
        BUILTIN
            .get_or_init(|| Arc::new(Catalog::build_builtin()))
            .clone()
    }

    fn build_builtin() -> Catalog {
        let schemas = builtin_schemas();
        let mut arena = SchemaArena::default();
        let mut compiler = Compiler::new(&mut arena);
        compiler.compile_definitions(&schemas.definitions);
        let defs = std::mem::take(&mut compiler.defs);
        let mut catalog = Catalog {
            arena,
            kinds: Vec::new(),
            by_key: HashMap::new(),
            object_meta: defs.get(OBJECT_META).copied(),
            defs,
        };
        for k in schemas.kinds {
            let Some(&root) = catalog.defs.get(&k.definition) else {
                continue;
            };
            catalog.insert(KindInfo {
                group: k.group.into(),
                version: k.version.into(),
                kind: k.kind.into(),
                plural: k.plural.into(),
                namespaced: k.namespaced,
                root,
                source: KindSource::Builtin,
            });
        }
        catalog
    }

    /// A catalog with the built-in kinds plus the CRDs found in `paths` (files or folders,
    /// searched recursively for `.yaml`, `.yml` and `.json`). Later CRDs override earlier ones
    /// and built-in kinds.
    pub fn with_crds(paths: &[PathBuf]) -> (Catalog, Vec<CrdLoadError>) {
        let mut catalog = Catalog::build_builtin();
        let errors = catalog.load_crds(paths);
        (catalog, errors)
    }

    /// A catalog with the built-in kinds, the CRD files of `paths`, and what a cluster serves
    /// (highest precedence: the cluster's OpenAPI schemas replace the built-in ones of the same
    /// name, its CRDs replace CRD files of the same kind).
    pub fn with_sources(
        paths: &[PathBuf],
        cluster: Option<&ClusterSchemas>,
    ) -> (Catalog, Vec<CrdLoadError>) {
        let mut catalog = Catalog::build_builtin();
        let mut errors = catalog.load_crds(paths);
        if let Some(c) = cluster {
            errors.extend(catalog.add_cluster(c));
        }
        (catalog, errors)
    }

    /// Adds a cluster's schemas and CRDs; returns the CRDs that could not be used.
    pub fn add_cluster(&mut self, c: &ClusterSchemas) -> Vec<CrdLoadError> {
        let mut errors = Vec::new();
        if !c.definitions.is_empty() {
            let mut defs = c.definitions.clone();
            super::builtin::apply_overlay(&mut defs);
            let mut compiler = Compiler::new(&mut self.arena);
            compiler.compile_definitions(&defs);
            let compiled = std::mem::take(&mut compiler.defs);
            let served: HashMap<(&str, &str, &str), &ServedKind> = c
                .served
                .iter()
                .map(|s| ((s.group.as_str(), s.version.as_str(), s.kind.as_str()), s))
                .collect();
            for (name, schema) in &defs {
                let Some(&root) = compiled.get(name) else {
                    continue;
                };
                let gvks = schema
                    .get("x-kubernetes-group-version-kind")
                    .and_then(Json::as_array);
                for gvk in gvks.into_iter().flatten() {
                    let field = |k: &str| gvk.get(k).and_then(Json::as_str).unwrap_or_default();
                    let (group, version, kind) = (field("group"), field("version"), field("kind"));
                    let (plural, namespaced) = match served.get(&(group, version, kind)) {
                        Some(s) => (s.plural.clone(), s.namespaced),
                        None if c.served.is_empty() => {
                            let api = if group.is_empty() {
                                version.to_string()
                            } else {
                                format!("{group}/{version}")
                            };
                            match Catalog::builtin().lookup(&api, kind) {
                                Some(b) => (b.plural.clone(), b.namespaced),
                                None => continue,
                            }
                        }
                        None => continue,
                    };
                    self.insert(KindInfo {
                        group: group.into(),
                        version: version.into(),
                        kind: kind.into(),
                        plural,
                        namespaced,
                        root,
                        source: KindSource::Cluster {
                            context: c.context.to_string(),
                            crd: None,
                        },
                    });
                }
            }
            self.defs.extend(compiled);
            self.object_meta = self.defs.get(OBJECT_META).copied();
        }
        for crd in c.crds {
            let name = crd
                .pointer("/metadata/name")
                .and_then(Json::as_str)
                .unwrap_or("<unnamed>")
                .to_string();
            let source = KindSource::Cluster {
                context: c.context.to_string(),
                crd: Some(name.clone()),
            };
            if let Err(message) = self.add_crd_from(crd, source) {
                errors.push(CrdLoadError {
                    path: PathBuf::from(format!("<cluster {}>/{name}", c.context)),
                    message,
                });
            }
        }
        errors
    }

    fn insert(&mut self, info: KindInfo) {
        let key = (info.api_version(), info.kind.clone());
        match self.by_key.get(&key) {
            Some(&i) => self.kinds[i] = info,
            None => {
                self.by_key.insert(key, self.kinds.len());
                self.kinds.push(info);
            }
        }
    }

    pub fn lookup(&self, api_version: &str, kind: &str) -> Option<&KindInfo> {
        self.by_key
            .get(&(api_version.to_string(), kind.to_string()))
            .map(|&i| &self.kinds[i])
    }

    pub fn kinds_named<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a KindInfo> + 'a {
        self.kinds.iter().filter(move |k| k.kind == kind)
    }

    pub fn groups(&self) -> BTreeSet<&str> {
        self.kinds.iter().map(|k| k.group.as_str()).collect()
    }

    pub fn definition(&self, name: &str) -> Option<SchemaId> {
        self.defs.get(name).copied()
    }

    pub fn load_crds(&mut self, paths: &[PathBuf]) -> Vec<CrdLoadError> {
        let mut errors = Vec::new();
        let mut files = Vec::new();
        for p in paths {
            if p.is_dir() {
                for entry in walkdir::WalkDir::new(p).sort_by_file_name().into_iter() {
                    match entry {
                        Ok(e) if e.file_type().is_file() && is_manifest_name(e.path()) => {
                            files.push(e.into_path())
                        }
                        Ok(_) => {}
                        Err(e) => errors.push(CrdLoadError {
                            path: p.clone(),
                            message: e.to_string(),
                        }),
                    }
                }
            } else if p.is_file() {
                files.push(p.clone());
            } else {
                errors.push(CrdLoadError {
                    path: p.clone(),
                    message: "no such file or directory".into(),
                });
            }
        }
        for f in files {
            if let Err(message) = self.load_crd_file(&f) {
                errors.push(CrdLoadError { path: f, message });
            }
        }
        errors
    }

    /// Loads every CRD of one file; other documents are skipped. Returns how many kinds were
    /// added.
    pub fn load_crd_file(&mut self, path: &Path) -> Result<usize, String> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let text = String::from_utf8(bytes)
            .map_err(|e| format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))?;
        let text = strip_bom(&text);
        let docs: Vec<Json> = if path.extension().is_some_and(|e| e == "json") {
            vec![serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?]
        } else {
            let file = YamlFile::parse(text);
            let mut docs = Vec::new();
            for d in &file.docs {
                let body = &text[d.start..d.end];
                if body.bytes().filter(|&b| b == b'\n').count() <= MAX_DOCUMENT_LINES {
                    docs.extend(d.root().map(|r| r.to_json()));
                } else {
                    // Too long for tree-sitter-yaml: read without positions (a schema to load).
                    let before = text[..d.start].bytes().filter(|&b| b == b'\n').count();
                    let read = crate::yaml::long::documents(body).map_err(|e| {
                        format!(
                            "line {} column {}: {} (a document of more than {MAX_DOCUMENT_LINES} lines)",
                            before + e.line,
                            e.column,
                            e.message
                        )
                    })?;
                    docs.extend(read);
                }
            }
            docs
        };
        let mut added = 0;
        for doc in docs {
            let items = match doc.get("kind").and_then(Json::as_str) {
                Some("List") | Some("CustomResourceDefinitionList") => doc
                    .get("items")
                    .and_then(Json::as_array)
                    .cloned()
                    .unwrap_or_default(),
                _ => vec![doc],
            };
            for item in items {
                if item.get("kind").and_then(Json::as_str) == Some("CustomResourceDefinition") {
                    added += self.add_crd(&item, path)?;
                }
            }
        }
        Ok(added)
    }

    /// Adds the served versions of one CRD read from the file `path`.
    pub fn add_crd(&mut self, crd: &Json, path: &Path) -> Result<usize, String> {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("<unnamed>")
            .to_string();
        self.add_crd_from(
            crd,
            KindSource::Crd {
                path: path.to_path_buf(),
                name,
            },
        )
    }

    /// Adds the served versions of one CRD, with where it came from.
    fn add_crd_from(&mut self, crd: &Json, source: KindSource) -> Result<usize, String> {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("<unnamed>")
            .to_string();
        let spec = crd
            .get("spec")
            .ok_or_else(|| format!("CRD {name} has no spec"))?;
        let group = spec
            .get("group")
            .and_then(Json::as_str)
            .ok_or_else(|| format!("CRD {name} has no spec.group"))?;
        let kind = spec
            .pointer("/names/kind")
            .and_then(Json::as_str)
            .ok_or_else(|| format!("CRD {name} has no spec.names.kind"))?;
        let plural = spec
            .pointer("/names/plural")
            .and_then(Json::as_str)
            .unwrap_or_default();
        let namespaced = spec.get("scope").and_then(Json::as_str) != Some("Cluster");
        // apiextensions.k8s.io/v1beta1 CRDs may have one schema for all versions.
        let shared_schema = spec.pointer("/validation/openAPIV3Schema");
        let versions: Vec<(String, Option<&Json>)> =
            match spec.get("versions").and_then(Json::as_array) {
                Some(vs) => vs
                    .iter()
                    .filter(|v| v.get("served").and_then(Json::as_bool) != Some(false))
                    .filter_map(|v| {
                        let n = v.get("name")?.as_str()?.to_string();
                        let schema = v.pointer("/schema/openAPIV3Schema").or(shared_schema);
                        Some((n, schema))
                    })
                    .collect(),
                None => match spec.get("version").and_then(Json::as_str) {
                    Some(v) => vec![(v.to_string(), shared_schema)],
                    None => Vec::new(),
                },
            };
        if versions.is_empty() {
            return Err(format!("CRD {name} serves no version"));
        }
        let mut added = 0;
        for (version, schema) in versions {
            let mut schema = schema.cloned().unwrap_or_else(
                || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
            if let Some(obj) = schema.as_object_mut() {
                let props = obj.entry("properties").or_insert_with(|| json!({}));
                if let Some(props) = props.as_object_mut() {
                    props.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
                    props.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
                    let description = props
                        .get("metadata")
                        .and_then(|m| m.get("description"))
                        .cloned();
                    let mut meta = json!({"$ref": format!("#/definitions/{OBJECT_META}")});
                    if let Some(d) = description {
                        meta["description"] = d;
                    }
                    props.insert("metadata".into(), meta);
                }
            }
            let mut compiler = Compiler::new(&mut self.arena);
            compiler.defs = std::mem::take(&mut self.defs);
            compiler.strict_null = true;
            compiler.open_objects = false;
            let root = compiler.compile(&schema);
            self.defs = std::mem::take(&mut compiler.defs);
            self.insert(KindInfo {
                group: group.into(),
                version,
                kind: kind.into(),
                plural: plural.into(),
                namespaced,
                root,
                source: source.clone(),
            });
            added += 1;
        }
        Ok(added)
    }
}

pub fn is_manifest_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}
