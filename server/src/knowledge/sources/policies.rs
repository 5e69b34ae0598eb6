//! Policies → chunks: one per policy, with its annotations, each rule's message and a readable
//! summary of what the rule checks (matched kinds, pattern leaves with their required values,
//! deny conditions, Pod Security level, foreach lists, CEL expressions).
//!
//! [`policy_chunk`] works on a loaded Kyverno [`Policy`]; [`load_policy_chunks`] reads YAML
//! files and folders, including the CEL kinds (`ValidatingPolicy` of `policies.kyverno.io`,
//! `ValidatingAdmissionPolicy` of `admissionregistration.k8s.io`).

use std::path::Path;

use serde_json::Value as Json;

use crate::knowledge::{Chunk, Provenance, SourceType};
use crate::policy::Policy;
use crate::yaml::YamlFile;

const TITLE: &str = "policies.kyverno.io/title";
const CATEGORY: &str = "policies.kyverno.io/category";
const SEVERITY: &str = "policies.kyverno.io/severity";
const SUBJECT: &str = "policies.kyverno.io/subject";
const DESCRIPTION: &str = "policies.kyverno.io/description";

/// The chunk of a Kyverno policy: id `policy:<name>`.
pub fn policy_chunk(p: &Policy) -> Chunk {
    let mut lines = header(&p.name, &p.annotations);
    let title = lines[0].clone();
    let mut kinds: Vec<String> = Vec::new();
    for r in &p.rules {
        let message = r
            .raw
            .pointer("/validate/message")
            .and_then(Json::as_str)
            .map(str::trim);
        lines.push(match message {
            Some(m) if !m.is_empty() => format!("Rule {}: {m}", r.name),
            _ => format!("Rule {}:", r.name),
        });
        let rk = rule_kinds(&r.raw);
        for k in &rk {
            if !kinds.contains(k) {
                kinds.push(k.clone());
            }
        }
        for s in rule_summary(&r.raw, &rk) {
            lines.push(format!("  {s}"));
        }
    }
    Chunk {
        id: format!("policy:{}", p.name),
        source_type: SourceType::Policy,
        title,
        text: lines.join("\n"),
        provenance: Provenance {
            path: Some(p.path.clone()),
            ..Provenance::default()
        },
        kinds,
    }
}

/// Title (the title annotation, else the name), then category, severity, subject and
/// description when annotated.
fn header(name: &str, annotations: &serde_json::Map<String, Json>) -> Vec<String> {
    let ann = |k: &str| {
        annotations
            .get(k)
            .and_then(Json::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let mut lines = vec![ann(TITLE).unwrap_or(name).to_string()];
    for (label, key) in [
        ("Category", CATEGORY),
        ("Severity", SEVERITY),
        ("Subject", SUBJECT),
    ] {
        if let Some(v) = ann(key) {
            lines.push(format!("{label}: {v}"));
        }
    }
    if let Some(d) = ann(DESCRIPTION) {
        lines.push(d.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    lines
}

/// The kinds a rule's `match` names (bare names, in order, without repeats).
pub fn rule_kinds(rule: &Json) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Some(m) = rule.get("match") else {
        return out;
    };
    let mut filters: Vec<&Json> = vec![m];
    for key in ["any", "all"] {
        filters.extend(m.get(key).and_then(Json::as_array).into_iter().flatten());
    }
    for f in filters {
        let kinds = f
            .pointer("/resources/kinds")
            .and_then(Json::as_array)
            .into_iter()
            .flatten();
        for k in kinds.filter_map(Json::as_str) {
            let bare = k.rsplit('/').next().unwrap_or(k).to_string();
            if !out.contains(&bare) {
                out.push(bare);
            }
        }
    }
    out
}

/// Readable lines saying what a rule checks.
pub fn rule_summary(rule: &Json, kinds: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if !kinds.is_empty() {
        out.push(format!("Applies to: {}", kinds.join(", ")));
    }
    if let Some(v) = rule.get("validate") {
        validate_summary(v, "", &mut out);
    }
    if let Some(m) = rule.get("mutate") {
        for key in ["patchStrategicMerge", "patchesJson6902"] {
            if let Some(p) = m.get(key) {
                let mut leaves = Vec::new();
                pattern_leaves(p, "", &mut leaves);
                for l in leaves {
                    out.push(format!("Mutates: {l}"));
                }
            }
        }
    }
    if let Some(g) = rule.get("generate") {
        let kind = g.get("kind").and_then(Json::as_str).unwrap_or("a resource");
        let name = g.get("name").and_then(Json::as_str).unwrap_or("");
        out.push(format!("Generates {kind} {name}").trim_end().to_string());
    }
    if let Some(vi) = rule.get("verifyImages").and_then(Json::as_array) {
        for v in vi {
            let refs: Vec<&str> = v
                .get("imageReferences")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(Json::as_str)
                .collect();
            out.push(format!("Verifies image signatures of {}", refs.join(", ")));
        }
    }
    out
}

fn validate_summary(v: &Json, indent: &str, out: &mut Vec<String>) {
    if let Some(p) = v.get("pattern") {
        let mut leaves = Vec::new();
        pattern_leaves(p, "", &mut leaves);
        out.extend(leaves.into_iter().map(|l| format!("{indent}{l}")));
    }
    if let Some(alts) = v.get("anyPattern").and_then(Json::as_array) {
        out.push(format!("{indent}One of these must hold:"));
        for (i, p) in alts.iter().enumerate() {
            let mut leaves = Vec::new();
            pattern_leaves(p, "", &mut leaves);
            out.push(format!("{indent}  ({}) {}", i + 1, leaves.join("; ")));
        }
    }
    if let Some(d) = v.get("deny") {
        deny_summary(d.get("conditions").unwrap_or(&Json::Null), indent, out);
    }
    if let Some(ps) = v.get("podSecurity") {
        let level = ps.get("level").and_then(Json::as_str).unwrap_or("?");
        let version = ps.get("version").and_then(Json::as_str).unwrap_or("latest");
        out.push(format!(
            "{indent}Pod Security Standards level {level} (version {version})"
        ));
        for e in ps
            .get("exclude")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(c) = e.get("controlName").and_then(Json::as_str) {
                out.push(format!("{indent}  except control {c}"));
            }
        }
        // What the level checks, so that a question about a field finds the rule.
        let levels: &[&str] = match level {
            "restricted" => &["baseline", "restricted"],
            "baseline" => &["baseline"],
            _ => &[],
        };
        for (name, at, what) in crate::policy::pss::CONTROLS {
            if levels.contains(at) {
                out.push(format!("{indent}  {name}: {what}"));
            }
        }
    }
    if let Some(fe) = v.get("foreach").and_then(Json::as_array) {
        for f in fe {
            let list = f.get("list").and_then(Json::as_str).unwrap_or("?");
            out.push(format!("{indent}For each element of {list}:"));
            validate_summary(f, &format!("{indent}  "), out);
        }
    }
    if let Some(exprs) = v.pointer("/cel/expressions").and_then(Json::as_array) {
        for e in exprs {
            cel_line(e, indent, out);
        }
    }
    if v.get("manifests").is_some() {
        out.push(format!("{indent}The resource manifest must be signed"));
    }
}

fn cel_line(e: &Json, indent: &str, out: &mut Vec<String>) {
    let expr = e.get("expression").and_then(Json::as_str).unwrap_or("");
    let msg = e
        .get("message")
        .or_else(|| e.get("messageExpression"))
        .and_then(Json::as_str);
    let expr = expr.split_whitespace().collect::<Vec<_>>().join(" ");
    match msg {
        Some(m) => out.push(format!("{indent}{m} (CEL: {expr})")),
        None => out.push(format!("{indent}CEL: {expr}")),
    }
}

fn deny_summary(conditions: &Json, indent: &str, out: &mut Vec<String>) {
    let mut groups: Vec<(&str, &Vec<Json>)> = Vec::new();
    match conditions {
        Json::Array(list) => groups.push(("all", list)),
        Json::Object(o) => {
            for key in ["any", "all"] {
                if let Some(Json::Array(list)) = o.get(key) {
                    groups.push((key, list));
                }
            }
        }
        _ => {}
    }
    for (key, list) in groups {
        out.push(format!("{indent}Denied when {key} of:"));
        for c in list {
            let k = c.get("key").map(compact).unwrap_or_default();
            let op = c.get("operator").and_then(Json::as_str).unwrap_or("?");
            let v = c.get("value").map(compact).unwrap_or_default();
            out.push(format!("{indent}  {k} {op} {v}"));
        }
    }
}

/// A JSON value as short text: strings bare, the rest compact JSON.
fn compact(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The leaf paths of a pattern with what they require, e.g.
/// `spec.containers[].securityContext.runAsNonRoot must be true`.
pub fn pattern_leaves(v: &Json, path: &str, out: &mut Vec<String>) {
    match v {
        Json::Object(o) => {
            for (k, child) in o {
                let (anchor, name) = split_anchor(k);
                let p = if path.is_empty() {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                };
                match anchor {
                    "X" => out.push(format!("{p} must not be set")),
                    "=" => {
                        let mut inner = Vec::new();
                        pattern_leaves(child, &p, &mut inner);
                        out.extend(inner.into_iter().map(|l| {
                            if l.ends_with("(if present)") {
                                l
                            } else {
                                format!("{l} (if present)")
                            }
                        }));
                    }
                    "" | "+" => pattern_leaves(child, &p, out),
                    _ => {
                        let mut inner = Vec::new();
                        pattern_leaves(child, &p, &mut inner);
                        out.extend(
                            inner.into_iter().map(|l| {
                                format!("only when {}", l.replacen(" must be ", " is ", 1))
                            }),
                        );
                    }
                }
            }
        }
        Json::Array(a) if a.iter().any(|x| x.is_object() || x.is_array()) => {
            for x in a {
                pattern_leaves(x, &format!("{path}[]"), out);
            }
        }
        leaf => out.push(format!("{path} {}", requirement(leaf))),
    }
}

/// `=(name)` → (`=`, `name`); `name` → (``, `name`).
fn split_anchor(key: &str) -> (&str, &str) {
    for a in ["=", "X", "^", "+", "<", "?", ""] {
        if let Some(rest) = key.strip_prefix(a)
            && let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')'))
        {
            return (if a.is_empty() { "(" } else { a }, inner);
        }
    }
    ("", key)
}

fn requirement(v: &Json) -> String {
    match v {
        Json::Null => "must not be set".to_string(),
        Json::String(s) if s == "?*" => "must be set (non-empty)".to_string(),
        Json::String(s) if s == "*" => "must be present".to_string(),
        Json::String(s) if s.contains(['*', '?', '|', '&', '<', '>', '!']) => {
            format!("must match \"{s}\"")
        }
        Json::String(s) => format!("must be \"{s}\""),
        other => format!("must be {other}"),
    }
}

/// Reads the policies of a YAML/JSON file or a folder (recursively, hidden entries skipped):
/// Kyverno `ClusterPolicy`/`Policy` and the CEL kinds. Other documents are ignored.
pub fn load_policy_chunks(path: &Path) -> Result<Vec<Chunk>, String> {
    let mut files = Vec::new();
    if path.is_dir() {
        for e in walkdir::WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        {
            let e = e.map_err(|e| format!("{}: {e}", path.display()))?;
            let ext = e.path().extension().and_then(|x| x.to_str()).unwrap_or("");
            if e.file_type().is_file() && matches!(ext, "yaml" | "yml" | "json") {
                files.push(e.into_path());
            }
        }
    } else {
        files.push(path.to_path_buf());
    }
    let mut out = Vec::new();
    for f in files {
        out.extend(policy_chunks_of_file(&f)?);
    }
    Ok(out)
}

/// The policy chunks of one YAML file (with the line range of each policy's document).
pub fn policy_chunks_of_file(path: &Path) -> Result<Vec<Chunk>, String> {
    let text = super::read_text(path)?;
    let file = YamlFile::parse(&text);
    let mut out = Vec::new();
    for doc in &file.docs {
        let Some(json) = doc.root().map(|r| r.to_json()) else {
            continue;
        };
        let mut chunk = if crate::policy::is_kyverno_policy(&json) {
            let p = crate::policy::from_json(&json, path).map_err(|e| {
                format!(
                    "{}: line {}: {e}",
                    path.display(),
                    doc_line(&text, doc.start)
                )
            })?;
            policy_chunk(&p)
        } else if let Some(c) = cel_policy_chunk(&json, path) {
            c
        } else {
            continue;
        };
        let first = doc_line(&text, doc.start);
        let end = doc.end.min(text.len());
        let last = line_of(&text, end.saturating_sub(1).max(doc.start)).max(first);
        chunk.provenance.lines = Some((first, last));
        out.push(chunk);
    }
    Ok(out)
}

/// The first line of a document's content (after its `---` marker, if any).
fn doc_line(text: &str, start: usize) -> u32 {
    let marker = text.get(start..).is_some_and(|t| t.starts_with("---"));
    line_of(text, start) + u32::from(marker)
}

fn line_of(text: &str, offset: usize) -> u32 {
    let offset = offset.min(text.len());
    memchr::memchr_iter(b'\n', &text.as_bytes()[..offset]).count() as u32 + 1
}

/// The chunk of a CEL policy (`ValidatingPolicy`, `ValidatingAdmissionPolicy`), if `doc` is
/// one.
pub fn cel_policy_chunk(doc: &Json, path: &Path) -> Option<Chunk> {
    let api = doc.get("apiVersion").and_then(Json::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Json::as_str).unwrap_or("");
    let group = api.split('/').next().unwrap_or("");
    let is_cel = matches!(
        (group, kind),
        ("policies.kyverno.io", "ValidatingPolicy")
            | ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy")
    );
    if !is_cel {
        return None;
    }
    let name = doc.pointer("/metadata/name").and_then(Json::as_str)?;
    let annotations = doc
        .pointer("/metadata/annotations")
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default();
    let mut lines = header(name, &annotations);
    let title = lines[0].clone();
    let kinds = constraint_kinds(doc);
    if !kinds.is_empty() {
        lines.push(format!("Applies to: {}", kinds.join(", ")));
    }
    for v in doc
        .pointer("/spec/validations")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        cel_line(v, "Validation: ", &mut lines);
    }
    Some(Chunk {
        id: format!("policy:{name}"),
        source_type: SourceType::Policy,
        title,
        text: lines.join("\n"),
        provenance: Provenance {
            path: Some(path.to_path_buf()),
            ..Provenance::default()
        },
        kinds,
    })
}

/// The kinds of `spec.matchConstraints.resourceRules[].resources` (plural resource names,
/// turned into kinds through the built-in catalog; unknown plurals are kept as they are).
fn constraint_kinds(doc: &Json) -> Vec<String> {
    let catalog = crate::schema::Catalog::builtin();
    let mut out: Vec<String> = Vec::new();
    let rules = doc
        .pointer("/spec/matchConstraints/resourceRules")
        .and_then(Json::as_array)
        .into_iter()
        .flatten();
    for r in rules {
        for res in r
            .get("resources")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
        {
            let plural = res.split('/').next().unwrap_or(res);
            let kind = catalog
                .kinds
                .iter()
                .find(|k| k.plural == plural)
                .map(|k| k.kind.clone())
                .unwrap_or_else(|| plural.to_string());
            if !out.contains(&kind) {
                out.push(kind);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::sources::tests::temp_dir;

    const POLICY: &str = r#"apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: require-run-as-nonroot
  annotations:
    policies.kyverno.io/title: Require runAsNonRoot
    policies.kyverno.io/category: Pod Security Standards (Restricted)
    policies.kyverno.io/severity: medium
    policies.kyverno.io/subject: Pod
    policies.kyverno.io/description: >-
      Containers must be required to run as non-root users.
spec:
  rules:
    - name: run-as-non-root
      match:
        any:
          - resources:
              kinds: [Pod, apps/v1/Deployment]
      validate:
        message: Running as root is not allowed.
        pattern:
          spec:
            =(initContainers):
              - securityContext:
                  runAsNonRoot: true
            containers:
              - securityContext:
                  runAsNonRoot: true
                image: "registry.shop.example/*"
                X(hostPort): null
    - name: no-latest
      match:
        resources:
          kinds: [Pod]
      validate:
        message: No latest tag.
        foreach:
          - list: request.object.spec.containers
            deny:
              conditions:
                any:
                  - key: "{{ element.image }}"
                    operator: Equals
                    value: "*:latest"
    - name: baseline
      match:
        resources:
          kinds: [Pod]
      validate:
        podSecurity:
          level: baseline
          version: latest
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: not-a-policy
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: no-nodeport
  annotations:
    policies.kyverno.io/title: No NodePort Services
spec:
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: [v1]
        operations: [CREATE, UPDATE]
        resources: [services]
  validations:
    - expression: object.spec.type != 'NodePort'
      message: NodePort Services are not allowed.
"#;

    #[test]
    fn policy_and_cel_chunks() {
        let dir = temp_dir("policies");
        let f = dir.join("p.yaml");
        std::fs::write(&f, POLICY).unwrap();
        let chunks = load_policy_chunks(&dir).unwrap();
        let ids: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["policy:require-run-as-nonroot", "policy:no-nodeport"]
        );
        let c = &chunks[0];
        assert_eq!(c.title, "Require runAsNonRoot");
        assert_eq!(c.kinds, vec!["Pod", "Deployment"]);
        assert_eq!(c.provenance.path.as_deref(), Some(f.as_path()));
        assert_eq!(c.provenance.lines, Some((1, 52)));
        let want = "\
Require runAsNonRoot
Category: Pod Security Standards (Restricted)
Severity: medium
Subject: Pod
Containers must be required to run as non-root users.
Rule run-as-non-root: Running as root is not allowed.
  Applies to: Pod, Deployment
  spec.initContainers[].securityContext.runAsNonRoot must be true (if present)
  spec.containers[].securityContext.runAsNonRoot must be true
  spec.containers[].image must match \"registry.shop.example/*\"
  spec.containers[].hostPort must not be set
Rule no-latest: No latest tag.
  Applies to: Pod
  For each element of request.object.spec.containers:
    Denied when any of:
      {{ element.image }} Equals *:latest
Rule baseline:
  Applies to: Pod
  Pod Security Standards level baseline (version latest)
    HostProcess: Windows hostProcess containers are not allowed: securityContext.windowsOptions.hostProcess must not be true
    Host Namespaces: sharing the host namespaces is not allowed: hostNetwork, hostPID and hostIPC must not be true
    Privileged Containers: privileged containers are not allowed: securityContext.privileged must not be true
    Capabilities: securityContext.capabilities.add may only add the default capabilities (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT)
    HostPath Volumes: hostPath volumes are not allowed
    Host Ports: containers must not use host ports: ports[].hostPort must be unset or 0
    AppArmor: the AppArmor profile may only be RuntimeDefault or Localhost, not Unconfined
    SELinux: seLinuxOptions: only the container_t, container_init_t, container_kvm_t and container_engine_t types; user and role must be unset
    /proc Mount Type: securityContext.procMount must be Default
    Seccomp: the seccomp profile (seccompProfile.type) must not be Unconfined
    Sysctls: securityContext.sysctls may only set the safe sysctls";
        assert_eq!(c.text, want);
        let v = &chunks[1];
        assert_eq!(v.title, "No NodePort Services");
        assert_eq!(v.kinds, vec!["Service"]);
        assert_eq!(
            v.text,
            "No NodePort Services\nApplies to: Service\nValidation: NodePort Services are not \
             allowed. (CEL: object.spec.type != 'NodePort')"
        );
        assert_eq!(v.provenance.lines, Some((59, 74)));
    }

    #[test]
    fn policy_without_annotations_is_titled_by_name() {
        let doc = serde_json::json!({
            "apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
            "metadata": {"name": "owner-label"},
            "spec": {"rules": [{"name": "check", "match": {"resources": {"kinds": ["Deployment"]}},
              "validate": {"message": "owner required", "pattern": {"metadata": {"labels": {"owner": "?*"}}}}}]}
        });
        let p = crate::policy::from_json(&doc, Path::new("o.yaml")).unwrap();
        let c = policy_chunk(&p);
        assert_eq!(c.id, "policy:owner-label");
        assert_eq!(c.title, "owner-label");
        assert!(
            c.text
                .contains("metadata.labels.owner must be set (non-empty)"),
            "{}",
            c.text
        );
    }

    #[test]
    fn bad_policy_names_file_and_line() {
        let dir = temp_dir("policies-bad");
        let f = dir.join("bad.yaml");
        std::fs::write(
            &f,
            "a: 1\n---\napiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {}\n",
        )
        .unwrap();
        let e = load_policy_chunks(&f).unwrap_err();
        assert!(
            e.contains("bad.yaml: line 3: the policy has no metadata.name"),
            "{e}"
        );
    }
}
