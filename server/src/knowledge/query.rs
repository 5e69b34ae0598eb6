//! Knowledge queries built from a resource: what the language server, `usher check --explain`
//! and the retrieval benchmark ask the index about a manifest. Raw YAML makes a poor query
//! (`spec`, `template`, `containers` match every policy); this keeps what tells resources
//! apart: the kind and its group, the names, the images, the labels and the fields that are set
//! (as `parent key value`, e.g. `securityContext runAsNonRoot false`).

use serde_json::Value;

/// Keys that only wrap other fields; they say nothing about the resource.
const WRAPPERS: &[&str] = &[
    "spec",
    "template",
    "jobTemplate",
    "metadata",
    "items",
    "data",
    "stringData",
];

/// The most words a query carries: beyond this the field list only dilutes it.
const MAX_WORDS: usize = 80;

/// What to ask the index about one resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceQuery {
    /// The resource's kind, to leave out policies for other kinds.
    pub kind: Option<String>,
    /// The words to search for.
    pub text: String,
}

impl ResourceQuery {
    /// Search filters for this resource: policies that can apply to its kind, every written
    /// rule.
    pub fn filters(&self) -> super::index::Filters {
        super::index::Filters {
            for_resource: self.kind.clone(),
            ..Default::default()
        }
    }
}

/// A query for the knowledge about `resource` (a Kubernetes object as JSON).
pub fn resource_query(resource: &Value) -> ResourceQuery {
    let mut q = Words::default();
    let kind = resource.get("kind").and_then(Value::as_str).unwrap_or("");
    q.push(kind);
    // The whole apiVersion: its version matters to deprecation rules.
    if let Some(api) = resource.get("apiVersion").and_then(Value::as_str) {
        q.push(api);
    }
    // The fields first: they are what sets one resource of a kind apart from another.
    if let Some(obj) = resource.as_object() {
        for (k, v) in obj {
            if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
                fields(k, v, &mut q);
            }
        }
    }
    if let Some(m) = resource.get("metadata") {
        labels_and_annotations(m, &mut q);
        for key in ["name", "namespace"] {
            if let Some(s) = m.get(key).and_then(Value::as_str) {
                q.push(s);
            }
        }
    }
    // Images last: every workload has one, so they say the least about which rules apply.
    for image in std::mem::take(&mut q.images) {
        image_words(&image, &mut q);
    }
    q.words.truncate(MAX_WORDS);
    ResourceQuery {
        kind: (!kind.is_empty()).then(|| kind.to_string()),
        text: q.words.join(" "),
    }
}

/// [`resource_query`] for YAML text (the first document); `None` when it is not a mapping.
pub fn yaml_query(text: &str) -> Option<ResourceQuery> {
    let doc = crate::yaml::lower::lower_document(text);
    let json = doc.root.as_ref()?.to_json();
    json.is_object().then(|| resource_query(&json))
}

fn labels_and_annotations(meta: &Value, q: &mut Words) {
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            q.push(k);
            if let Some(v) = v.as_str() {
                q.push(v);
            }
        }
    }
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        for (k, v) in annotations {
            q.push(k);
            if let Some(v) = v.as_str().filter(|v| v.len() <= 64) {
                q.push(v);
            }
        }
    }
}

#[derive(Default)]
struct Words {
    words: Vec<String>,
    images: Vec<String>,
}

impl Words {
    fn push(&mut self, s: &str) {
        let s = s.trim();
        if s.is_empty() || s.len() > 120 || self.words.iter().any(|w| w == s) {
            return;
        }
        self.words.push(s.to_string());
    }
}

fn fields(key: &str, v: &Value, q: &mut Words) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == "metadata" {
                    // A pod template's metadata: its labels and annotations are worth keeping.
                    labels_and_annotations(child, q);
                    continue;
                }
                let parent = if WRAPPERS.contains(&key) { "" } else { key };
                leaf_or_descend(parent, k, child, q);
            }
        }
        Value::Array(items) => {
            for item in items {
                fields(key, item, q);
            }
        }
        _ => {}
    }
}

fn leaf_or_descend(parent: &str, key: &str, v: &Value, q: &mut Words) {
    match v {
        Value::Object(_) | Value::Array(_) => {
            if !WRAPPERS.contains(&key) {
                q.push(key);
            }
            fields(key, v, q);
        }
        Value::String(s) if key == "image" => q.images.push(s.clone()),
        // A container's or port's own name tells nothing about what it does.
        Value::String(_) if key == "name" => {}
        _ => {
            if !parent.is_empty() {
                q.push(parent);
            }
            q.push(key);
            match v {
                Value::String(s) if s.len() <= 64 && !s.contains('\n') => q.push(s),
                Value::Bool(b) => q.push(if *b { "true" } else { "false" }),
                Value::Number(n) => q.push(&n.to_string()),
                _ => {}
            }
        }
    }
}

/// `registry/repo:tag@digest` as its parts: registry, repository, `tag`/`latest`, `digest`.
fn image_words(image: &str, q: &mut Words) {
    let (name, digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let (path, tag) = match name.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, Some(t)),
        _ => (name, None),
    };
    let mut parts = path.split('/');
    if path.contains('/')
        && let Some(first) = path.split('/').next()
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        q.push("registry");
        q.push(first);
        parts.next();
    }
    for p in parts {
        q.push(p);
    }
    match tag {
        Some(t) => q.push(t),
        None if !digest => q.push("latest"),
        None => {}
    }
    if digest {
        q.push("digest");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_becomes_its_kind_names_images_labels_and_set_fields() {
        let q = yaml_query(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: orders-db\n  labels:\n    \
             team: payments\nspec:\n  replicas: 2\n  template:\n    metadata:\n      labels:\n        \
             app: orders\n    spec:\n      hostNetwork: true\n      containers:\n      - name: c1\n        \
             image: ghcr.io/acme/postgres:16\n        securityContext:\n          runAsNonRoot: false\n",
        )
        .unwrap();
        assert_eq!(q.kind.as_deref(), Some("Deployment"));
        assert_eq!(
            q.text,
            "Deployment apps/v1 replicas 2 app orders hostNetwork true containers securityContext \
             runAsNonRoot false team payments orders-db registry ghcr.io acme postgres 16"
        );
    }

    #[test]
    fn untagged_images_read_as_latest_and_digests_are_named() {
        let mut q = Words::default();
        image_words("nginx", &mut q);
        assert_eq!(q.words, ["nginx", "latest"]);
        let mut q = Words::default();
        image_words("localhost:5000/app@sha256:abc", &mut q);
        assert_eq!(q.words, ["registry", "localhost:5000", "app", "digest"]);
    }

    #[test]
    fn non_mappings_have_no_query() {
        assert_eq!(yaml_query("- a\n- b\n"), None);
        assert_eq!(yaml_query(""), None);
    }
}
