//! Schema layer: the catalog of kinds and their structural schemas, validation, deprecated
//! APIs. Knows Kubernetes, not LSP.

mod builtin_kinds;

pub mod builtin;
pub mod catalog;
pub mod cel_rules;
pub mod compile;
pub mod deprecation;
pub mod formats;
pub mod model;
pub mod suggest;
pub mod validate;

pub use catalog::{
    Catalog, ClusterSchemas, CrdLoadError, KindInfo, KindSource, ServedKind, split_api_version,
};
pub use deprecation::KubeVersion;
pub use validate::{SchemaFix, SchemaIssue, ValidationOptions, Validator};

use crate::finding::Severity;
use crate::yaml::{Node, Value};

#[derive(Debug, Clone, Copy)]
pub struct SchemaCheckOptions {
    /// The Kubernetes version deprecations are judged against.
    pub kubernetes_version: KubeVersion,
    pub unknown_fields: Option<Severity>,
    /// Severity of "no schema for this custom resource"; None to stay silent.
    pub missing_schemas: Option<Severity>,
}

impl Default for SchemaCheckOptions {
    fn default() -> Self {
        let (major, minor) = builtin::BUILTIN_KUBERNETES_VERSION;
        SchemaCheckOptions {
            kubernetes_version: KubeVersion { major, minor },
            unknown_fields: Some(Severity::Error),
            missing_schemas: Some(Severity::Warning),
        }
    }
}

/// API groups of client-side configuration files that look like resources but are never sent
/// to an API server (kustomize, kubeadm, kind, Kyverno CLI tests…).
const CLIENT_SIDE_GROUPS: &[&str] = &[
    "kustomize.config.k8s.io",
    "kubeadm.k8s.io",
    "kubelet.config.k8s.io",
    "kubeproxy.config.k8s.io",
    "apiserver.config.k8s.io",
    "kubescheduler.config.k8s.io",
    "kind.x-k8s.io",
    "cli.kyverno.io",
    "config.kubernetes.io",
    "skaffold",
    "ctlptl.dev",
    "k3d.io",
];

/// The identity of a document that looks like a Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceId {
    pub api_version: String,
    pub kind: String,
}

/// Reads `apiVersion` and `kind`; None when the document is not a Kubernetes object (neither
/// is present, or the document is not a mapping).
pub fn resource_id(root: &Node) -> Option<(Option<&Node>, Option<&Node>)> {
    if !matches!(root.value, Value::Map(_)) {
        return None;
    }
    let api = root.get("apiVersion");
    let kind = root.get("kind");
    match (api, kind) {
        (None, None) => None,
        // Only one of the two: Kubernetes only if it also has the shape of an object.
        (None, Some(_)) | (Some(_), None) if root.get("metadata").is_none() => None,
        _ => Some((api, kind)),
    }
}

/// Checks one document: identifies its kind, reports unknown and removed APIs, validates it
/// against its schema. Documents without `apiVersion` and `kind` are left alone.
pub fn check_document(
    catalog: &Catalog,
    root: &Node,
    options: &SchemaCheckOptions,
) -> Vec<SchemaIssue> {
    let mut validator = Validator::new(
        catalog,
        ValidationOptions {
            unknown_fields: options.unknown_fields,
        },
    );
    check_resource(catalog, root, options, &mut validator);
    validator.issues
}

fn issue(
    code: &'static str,
    severity: Severity,
    node: &Node,
    pointer: &str,
    message: String,
    fix: Option<SchemaFix>,
) -> SchemaIssue {
    SchemaIssue {
        code,
        severity,
        span: node.span,
        pointer: pointer.into(),
        message,
        fix,
    }
}

fn check_resource(
    catalog: &Catalog,
    root: &Node,
    options: &SchemaCheckOptions,
    validator: &mut Validator<'_>,
) {
    let Some((api, kind)) = resource_id(root) else {
        return;
    };
    let issues = &mut validator.issues;
    let (api_node, kind_node) = match (api, kind) {
        (Some(a), Some(k)) => (a, k),
        (None, Some(k)) => {
            issues.push(issue(
                "schema/missing-api-version",
                Severity::Error,
                k,
                "/kind",
                "this resource has a `kind` but no `apiVersion`".into(),
                None,
            ));
            return;
        }
        (Some(a), None) => {
            issues.push(issue(
                "schema/missing-kind",
                Severity::Error,
                a,
                "/apiVersion",
                "this resource has an `apiVersion` but no `kind`".into(),
                None,
            ));
            return;
        }
        (None, None) => return,
    };
    let (Some(api_version), Some(kind)) = (api_node.as_str(), kind_node.as_str()) else {
        let bad = if api_node.as_str().is_none() {
            api_node
        } else {
            kind_node
        };
        issues.push(issue(
            "schema/type",
            Severity::Error,
            bad,
            "",
            "`apiVersion` and `kind` must be strings".into(),
            None,
        ));
        return;
    };
    let (group, _version) = split_api_version(api_version);
    if CLIENT_SIDE_GROUPS.contains(&group)
        || api_version.starts_with("skaffold/")
        || api_version == "builtin"
    {
        return;
    }
    // `v1 List` and `<Kind>List`: check each item as a resource of its own.
    let typed_list = kind
        .strip_suffix("List")
        .is_some_and(|k| catalog.lookup(api_version, k).is_some());
    if (api_version == "v1" && kind == "List") || typed_list {
        if let Some(items) = root.get("items").and_then(Node::as_seq) {
            for item in items {
                check_resource(catalog, item, options, validator);
            }
        }
        return;
    }

    // Deprecated and removed API versions.
    let lifecycle = deprecation::lifecycle(api_version, kind);
    let target = options.kubernetes_version;
    if let Some(l) = lifecycle {
        let deprecated = KubeVersion {
            major: l.deprecated.0,
            minor: l.deprecated.1,
        };
        let removed = l.removed.map(|(major, minor)| KubeVersion { major, minor });
        let instead = match (l.replacement, l.note) {
            (Some(r), _) => format!("use `apiVersion: {r}`"),
            (None, Some(note)) => note.to_string(),
            (None, None) => "it has no replacement".into(),
        };
        let fix = l
            .replacement
            .map(|r| SchemaFix::ReplaceValue(vec![r.to_string()]));
        match removed {
            Some(r) if target >= r => {
                validator.issues.push(issue(
                    "schema/removed-api",
                    Severity::Error,
                    api_node,
                    "/apiVersion",
                    format!("{api_version} {kind} was removed in Kubernetes {r} (target {target}): {instead}"),
                    fix,
                ));
                return;
            }
            _ if target >= deprecated => {
                let when = removed.map_or(String::new(), |r| format!(" and is removed in {r}"));
                validator.issues.push(issue(
                    "schema/deprecated-api",
                    Severity::Warning,
                    api_node,
                    "/apiVersion",
                    format!("{api_version} {kind} is deprecated since Kubernetes {deprecated}{when}: {instead}"),
                    fix,
                ));
            }
            _ => {}
        }
    }

    let Some(info) = catalog.lookup(api_version, kind) else {
        if lifecycle.is_none() {
            unknown_type(
                catalog,
                api_node,
                kind_node,
                api_version,
                kind,
                options,
                &mut validator.issues,
            );
        }
        return;
    };
    validator.validate_resource(root, info.root);
}

fn unknown_type(
    catalog: &Catalog,
    api_node: &Node,
    kind_node: &Node,
    api_version: &str,
    kind: &str,
    options: &SchemaCheckOptions,
    issues: &mut Vec<SchemaIssue>,
) {
    let (group, _) = split_api_version(api_version);
    // The kind exists under another apiVersion: the apiVersion is wrong.
    let versions: Vec<String> = catalog
        .kinds_named(kind)
        .map(KindInfo::api_version)
        .collect();
    if !versions.is_empty() {
        let close: Vec<&str> =
            suggest::suggest(api_version, versions.iter().map(String::as_str), 3);
        let builtin_group = catalog.groups().contains(group) || !group.contains('.');
        // A custom group that happens to have a kind of the same name (knative's Service) is
        // not a typo unless its apiVersion is close to a real one.
        if builtin_group || !close.is_empty() {
            let mut candidates = close;
            if candidates.is_empty() {
                candidates = versions.iter().map(String::as_str).collect();
                candidates.sort_by_key(|v| (v.contains("alpha"), v.contains("beta")));
                candidates.truncate(3);
            }
            issues.push(issue(
                "schema/unknown-api-version",
                Severity::Error,
                api_node,
                "/apiVersion",
                format!(
                    "`{api_version}` is not an apiVersion of {kind}: did you mean {}?",
                    quote_list(&candidates)
                ),
                Some(SchemaFix::ReplaceValue(
                    candidates.iter().map(|s| s.to_string()).collect(),
                )),
            ));
            return;
        }
    }
    let known_group = catalog.groups().contains(group);
    if known_group || !group.contains('.') {
        // A built-in group (or a misspelled one): the kind or the group is wrong.
        let in_version: Vec<&str> = catalog
            .kinds
            .iter()
            .filter(|k| k.api_version() == api_version)
            .map(|k| k.kind.as_str())
            .collect();
        if !in_version.is_empty() {
            let candidates = suggest::suggest(kind, in_version.iter().copied(), 3);
            let message = if candidates.is_empty() {
                format!("unknown kind `{kind}` in {api_version}")
            } else {
                format!(
                    "unknown kind `{kind}` in {api_version}: did you mean {}?",
                    quote_list(&candidates)
                )
            };
            let fix = (!candidates.is_empty()).then(|| {
                SchemaFix::ReplaceValue(candidates.iter().map(|s| s.to_string()).collect())
            });
            issues.push(issue(
                "schema/unknown-kind",
                Severity::Error,
                kind_node,
                "/kind",
                message,
                fix,
            ));
            return;
        }
        let all_versions: Vec<String> = catalog.kinds.iter().map(KindInfo::api_version).collect();
        let mut unique: Vec<&str> = all_versions.iter().map(String::as_str).collect();
        unique.sort();
        unique.dedup();
        let candidates = suggest::suggest(api_version, unique.iter().copied(), 3);
        let all_kinds: Vec<&str> = catalog.kinds.iter().map(|k| k.kind.as_str()).collect();
        let kind_candidates = suggest::suggest(kind, all_kinds.iter().copied(), 1);
        let mut message = format!("unknown apiVersion `{api_version}` for kind `{kind}`");
        if let Some(c) = candidates.first() {
            message.push_str(&format!(": did you mean `{c}`?"));
        } else if let Some(k) = kind_candidates.first() {
            message.push_str(&format!(": did you mean kind `{k}`?"));
        }
        issues.push(issue(
            "schema/unknown-api-version",
            Severity::Error,
            api_node,
            "/apiVersion",
            message,
            (!candidates.is_empty()).then(|| {
                SchemaFix::ReplaceValue(candidates.iter().map(|s| s.to_string()).collect())
            }),
        ));
        return;
    }
    // A custom resource whose CRD is not known.
    if let Some(severity) = options.missing_schemas {
        issues.push(issue(
            "schema/missing-schema",
            severity,
            kind_node,
            "/kind",
            format!(
                "no schema for {api_version} {kind}: add its CustomResourceDefinition with `--crd` or the `crds` configuration key"
            ),
            None,
        ));
    }
}

fn quote_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        _ => format!(
            "{} or {}",
            quoted[..quoted.len() - 1].join(", "),
            quoted[quoted.len() - 1]
        ),
    }
}
