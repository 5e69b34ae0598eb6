//! Policy layer: Kyverno `ClusterPolicy`/`Policy` loaded from files, matched against
//! resources and evaluated locally (pattern, anyPattern, deny, foreach, preconditions), with
//! Kyverno's own wording. Knows Kubernetes and Kyverno, not LSP.

pub mod cel_policy;
pub mod conditions;
pub mod engine;
pub mod exception;
pub mod fix;
pub mod functions;
pub mod matching;
pub mod pattern;
pub mod pss;
pub mod quantity;
pub mod vars;
pub mod x509;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::yaml::{YamlFile, strip_bom};

/// What a failed rule means at admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    Enforce,
    Audit,
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// `ClusterPolicy` or `Policy`.
    pub kind: String,
    pub name: String,
    /// For namespaced `Policy`: the namespace it applies to.
    pub namespace: Option<String>,
    pub annotations: serde_json::Map<String, Json>,
    pub action: FailureAction,
    pub background: bool,
    pub rules: Vec<Rule>,
    /// The file it came from.
    pub path: PathBuf,
    /// The whole policy document (for rules' raw fields).
    pub raw: Json,
    /// The Pod controllers its rules are generated for, worked out once.
    pub controllers: std::sync::OnceLock<Vec<&'static str>>,
    /// For a ValidatingAdmissionPolicy: its ValidatingAdmissionPolicyBindings.
    pub bindings: Vec<Json>,
}

impl Policy {
    /// Whether this is a CEL policy kind (ValidatingPolicy, ValidatingAdmissionPolicy) rather
    /// than a Kyverno ClusterPolicy/Policy.
    pub fn is_cel_kind(&self) -> bool {
        self.kind == "ValidatingPolicy" || self.kind == "ValidatingAdmissionPolicy"
    }
}

impl Policy {
    /// The controllers Kyverno's autogen generates this policy's Pod rules for.
    pub fn autogen_controllers(&self) -> &[&'static str] {
        self.controllers
            .get_or_init(|| matching::autogen_controllers(self))
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub raw: Json,
    /// `validate`, `mutate`, `generate`, `verifyImages`.
    pub rule_type: RuleType,
    /// Rule-level override of the policy's failure action.
    pub action: Option<FailureAction>,
    /// The autogen rewrites of this rule for Pod controllers and CronJobs, made once.
    pub autogen: [std::sync::OnceLock<Json>; 2],
    /// The kinds `match` can select (bare names), when it names them all; worked out once.
    pub kinds: std::sync::OnceLock<Option<Vec<String>>>,
}

impl Rule {
    /// Whether `match` can select a resource of this kind: a quick filter before the full
    /// match (true when the rule does not name its kinds plainly).
    pub fn may_match_kind(&self, kind: &str) -> bool {
        match self.kinds.get_or_init(|| matching::match_kinds(&self.raw)) {
            Some(kinds) => kinds.iter().any(|k| k == kind),
            None => true,
        }
    }

    /// The rule as Kyverno's autogen rewrites it for a controller (`cronjob`: for CronJobs).
    pub fn autogen_raw(&self, cronjob: bool) -> &Json {
        self.autogen[usize::from(cronjob)].get_or_init(|| engine::autogen_rule(&self.raw, cronjob))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleType {
    Pattern,
    AnyPattern,
    Deny,
    Foreach,
    PodSecurity,
    Cel,
    Manifests,
    Mutate,
    Generate,
    VerifyImages,
    Other,
}

impl RuleType {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::Pattern => "pattern",
            RuleType::AnyPattern => "anyPattern",
            RuleType::Deny => "deny",
            RuleType::Foreach => "foreach",
            RuleType::PodSecurity => "podSecurity",
            RuleType::Cel => "cel",
            RuleType::Manifests => "manifests",
            RuleType::Mutate => "mutate",
            RuleType::Generate => "generate",
            RuleType::VerifyImages => "verifyImages",
            RuleType::Other => "other",
        }
    }

    fn of(rule: &Json) -> RuleType {
        if let Some(v) = rule.get("validate") {
            if v.get("pattern").is_some() {
                RuleType::Pattern
            } else if v.get("anyPattern").is_some() {
                RuleType::AnyPattern
            } else if v.get("deny").is_some() {
                RuleType::Deny
            } else if v.get("foreach").is_some() {
                RuleType::Foreach
            } else if v.get("podSecurity").is_some() {
                RuleType::PodSecurity
            } else if v.get("cel").is_some() {
                RuleType::Cel
            } else if v.get("manifests").is_some() {
                RuleType::Manifests
            } else {
                RuleType::Other
            }
        } else if rule.get("mutate").is_some() {
            RuleType::Mutate
        } else if rule.get("generate").is_some() {
            RuleType::Generate
        } else if rule.get("verifyImages").is_some() {
            RuleType::VerifyImages
        } else {
            RuleType::Other
        }
    }
}

fn action_of(v: Option<&Json>) -> Option<FailureAction> {
    match v?.as_str()?.to_ascii_lowercase().as_str() {
        "enforce" => Some(FailureAction::Enforce),
        "audit" => Some(FailureAction::Audit),
        _ => None,
    }
}

/// A policy file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLoadError {
    pub path: PathBuf,
    pub message: String,
}

/// Whether a document is a Kyverno policy this layer evaluates.
pub fn is_kyverno_policy(doc: &Json) -> bool {
    let api = doc.get("apiVersion").and_then(Json::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Json::as_str).unwrap_or("");
    api.starts_with("kyverno.io/") && (kind == "ClusterPolicy" || kind == "Policy")
}

/// Whether a document is a policy this layer evaluates: Kyverno ClusterPolicy/Policy,
/// ValidatingPolicy or ValidatingAdmissionPolicy.
pub fn is_policy(doc: &Json) -> bool {
    is_kyverno_policy(doc) || cel_policy::is_cel_policy(doc)
}

/// A policy document's kind, metadata, name and spec (an error when name or spec is missing).
fn header(doc: &Json) -> Result<(String, Json, String, &Json), String> {
    let kind = doc
        .get("kind")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    let meta = doc.get("metadata").cloned().unwrap_or(Json::Null);
    let name = meta
        .get("name")
        .and_then(Json::as_str)
        .ok_or("the policy has no metadata.name")?
        .to_string();
    let spec = doc
        .get("spec")
        .ok_or_else(|| format!("policy {name} has no spec"))?;
    Ok((kind, meta, name, spec))
}

fn annotations_of(meta: &Json) -> serde_json::Map<String, Json> {
    meta.get("annotations")
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default()
}

/// A ValidatingPolicy or ValidatingAdmissionPolicy: one CEL rule (named after nothing: these
/// kinds have no rules), its action from `validationActions`.
fn cel_kind_from_json(doc: &Json, path: &Path) -> Result<Policy, String> {
    let (kind, meta, name, spec) = header(doc)?;
    let validations = spec
        .get("validations")
        .and_then(Json::as_array)
        .ok_or_else(|| format!("{kind} {name} has no spec.validations"))?;
    for (i, v) in validations.iter().enumerate() {
        if v.get("expression").and_then(Json::as_str).is_none() {
            return Err(format!("{kind} {name}: validations[{i}] has no expression"));
        }
    }
    let action = cel_policy::actions(spec.get("validationActions"));
    Ok(Policy {
        kind,
        namespace: None,
        annotations: annotations_of(&meta),
        action,
        background: spec
            .pointer("/evaluation/background/enabled")
            .and_then(Json::as_bool)
            .unwrap_or(true),
        rules: vec![Rule {
            name: String::new(),
            raw: spec.clone(),
            rule_type: RuleType::Cel,
            action: None,
            autogen: Default::default(),
            kinds: Default::default(),
        }],
        name,
        path: path.to_path_buf(),
        raw: doc.clone(),
        controllers: Default::default(),
        bindings: Vec::new(),
    })
}

/// Builds a policy from its JSON document.
pub fn from_json(doc: &Json, path: &Path) -> Result<Policy, String> {
    if cel_policy::is_cel_policy(doc) {
        return cel_kind_from_json(doc, path);
    }
    let (kind, meta, name, spec) = header(doc)?;
    let action = action_of(spec.get("validationFailureAction")).unwrap_or(FailureAction::Audit);
    let rules_raw = spec
        .get("rules")
        .and_then(Json::as_array)
        .ok_or_else(|| format!("policy {name} has no spec.rules"))?;
    let mut rules = Vec::new();
    for (i, r) in rules_raw.iter().enumerate() {
        let rname = r
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| format!("policy {name}: rule {i} has no name"))?;
        rules.push(Rule {
            name: rname.to_string(),
            raw: r.clone(),
            rule_type: RuleType::of(r),
            action: action_of(r.get("validate").and_then(|v| v.get("failureAction"))),
            autogen: Default::default(),
            kinds: Default::default(),
        });
    }
    Ok(Policy {
        kind: kind.clone(),
        namespace: if kind == "Policy" {
            Some(
                meta.get("namespace")
                    .and_then(Json::as_str)
                    .unwrap_or("default")
                    .to_string(),
            )
        } else {
            None
        },
        name,
        annotations: annotations_of(&meta),
        action,
        background: spec
            .get("background")
            .and_then(Json::as_bool)
            .unwrap_or(true),
        rules,
        path: path.to_path_buf(),
        raw: doc.clone(),
        controllers: Default::default(),
        bindings: Vec::new(),
    })
}

/// Policies and the PolicyExceptions that go with them.
#[derive(Debug, Default)]
pub struct PolicySet {
    pub policies: Vec<Policy>,
    pub exceptions: Vec<exception::PolicyException>,
    /// ValidatingAdmissionPolicyBindings (attached to their policies once all are loaded).
    pub bindings: Vec<Json>,
    /// The other resources of the policy files (parameter ConfigMaps, Namespaces, …): what CEL
    /// policies' `paramRef` and `resource.Get` are answered from.
    pub resources: Vec<Json>,
}

/// Reads the Kyverno policies of a file (other documents are ignored).
pub fn load_file(path: &Path) -> Result<Vec<Policy>, PolicyLoadError> {
    load_file_set(path).map(|s| s.policies)
}

/// Reads the Kyverno policies and PolicyExceptions of a file (other documents are ignored).
pub fn load_file_set(path: &Path) -> Result<PolicySet, PolicyLoadError> {
    let err = |message: String| PolicyLoadError {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let text = crate::analysis::decode_file(&bytes, 64 << 20).map_err(|(_, m, _)| err(m))?;
    let text = strip_bom(text);
    let file = YamlFile::parse(text);
    let mut out = PolicySet::default();
    for doc in &file.docs {
        if let Some(issue) = doc.lowered.issues.iter().find(|i| i.kind.is_error()) {
            let index = crate::text::LineIndex::new(text);
            let pos = index.line_col(
                text,
                doc.start + issue.span.start as usize,
                crate::text::PositionEncoding::Utf32,
            );
            return Err(err(format!(
                "{}:{}: {}",
                pos.line + 1,
                pos.col + 1,
                issue.message
            )));
        }
        let Some(root) = doc.root() else { continue };
        out.add(root.to_json(), path).map_err(err)?;
    }
    Ok(out)
}

impl PolicySet {
    /// Files one document: a policy, a binding, a PolicyException or another resource.
    pub fn add(&mut self, json: Json, path: &Path) -> Result<(), String> {
        if is_policy(&json) {
            self.policies.push(from_json(&json, path)?);
        } else if cel_policy::is_binding(&json) {
            self.bindings.push(json);
        } else if exception::is_exception(&json) {
            self.exceptions.push(exception::from_json(&json, path)?);
        } else if json.get("kind").and_then(Json::as_str).is_some()
            && json
                .pointer("/metadata/name")
                .and_then(Json::as_str)
                .is_some()
        {
            self.resources.push(json);
        }
        Ok(())
    }
}

/// Whether a policy's path names no file: the bundled pack (`<bundled>/…`) or a cluster
/// (`<cluster NAME>/…`).
pub fn is_virtual_path(path: &Path) -> bool {
    path.to_str().is_some_and(|p| p.starts_with('<'))
}

/// Reads policies from files and folders (folders recursively, `.yaml`/`.yml`).
pub fn load_paths(paths: &[PathBuf]) -> (Vec<Policy>, Vec<PolicyLoadError>) {
    let (set, errors) = load_paths_set(paths);
    (set.policies, errors)
}

/// Reads policies and PolicyExceptions from files and folders.
pub fn load_paths_set(paths: &[PathBuf]) -> (PolicySet, Vec<PolicyLoadError>) {
    let mut set = PolicySet::default();
    let mut errors = Vec::new();
    let mut add = |s: PolicySet| {
        set.policies.extend(s.policies);
        set.exceptions.extend(s.exceptions);
        set.bindings.extend(s.bindings);
        set.resources.extend(s.resources);
    };
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = walkdir::WalkDir::new(p)
                .sort_by_file_name()
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(|e| e.into_path())
                .filter(|f| crate::schema::catalog::is_manifest_name(f))
                .collect();
            files.sort();
            for f in files {
                match load_file_set(&f) {
                    Ok(s) => add(s),
                    Err(e) => errors.push(e),
                }
            }
        } else {
            match load_file_set(p) {
                Ok(s) if s.policies.is_empty() && s.exceptions.is_empty() && s.bindings.is_empty() => {
                    errors.push(PolicyLoadError {
                        path: p.clone(),
                        message: "no Kyverno ClusterPolicy, Policy, ValidatingPolicy, \
                                  ValidatingAdmissionPolicy, binding or PolicyException in this file"
                            .into(),
                    })
                }
                Ok(s) => add(s),
                Err(e) => errors.push(e),
            }
        }
    }
    cel_policy::attach_bindings(&mut set.policies, &set.bindings);
    (set, errors)
}

/// The policy pack bundled with usher (file name, text).
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "best-practices.yaml",
        include_str!("../../policies/best-practices.yaml"),
    ),
    (
        "pod-security.yaml",
        include_str!("../../policies/pod-security.yaml"),
    ),
];

/// Loads the bundled pack (its files are part of the binary).
pub fn bundled() -> Vec<Policy> {
    let mut out = Vec::new();
    for (name, text) in BUNDLED {
        let path = PathBuf::from(format!("<bundled>/{name}"));
        for doc in &YamlFile::parse(text).docs {
            if let Some(root) = doc.root() {
                let json = root.to_json();
                if is_kyverno_policy(&json)
                    && let Ok(p) = from_json(&json, &path)
                {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// The policies a configuration asks for: the bundled pack (unless turned off; only the
/// chosen categories when some are named) and the policy files and folders.
pub fn from_config(
    config: Option<&crate::config::PolicyConfig>,
) -> (Vec<Policy>, Vec<PolicyLoadError>) {
    let (set, errors) = from_config_set(config);
    (set.policies, errors)
}

/// As [`from_config`], with the PolicyExceptions found in the policy files and folders.
pub fn from_config_set(
    config: Option<&crate::config::PolicyConfig>,
) -> (PolicySet, Vec<PolicyLoadError>) {
    let mut policies = Vec::new();
    let bundled_on = config.and_then(|c| c.bundled).unwrap_or(true);
    if bundled_on {
        let categories: Vec<String> = config
            .map(|c| {
                c.categories
                    .iter()
                    .map(|s| s.to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        policies.extend(bundled().into_iter().filter(|p| {
            categories.is_empty()
                || p.annotations
                    .get("policies.kyverno.io/category")
                    .and_then(Json::as_str)
                    .is_some_and(|c| categories.contains(&c.to_ascii_lowercase()))
        }));
    }
    let (loaded, errors) = match config {
        Some(c) if !c.paths.is_empty() => load_paths_set(&c.paths),
        _ => (PolicySet::default(), Vec::new()),
    };
    policies.extend(loaded.policies);
    (
        PolicySet {
            policies,
            exceptions: loaded.exceptions,
            bindings: loaded.bindings,
            resources: loaded.resources,
        },
        errors,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundled_pack_loads_and_evaluates_only_supported_rules() {
        let pack = super::bundled();
        assert!(pack.len() >= 15, "{}", pack.len());
        for p in &pack {
            for r in &p.rules {
                assert!(
                    matches!(
                        r.rule_type,
                        super::RuleType::Pattern
                            | super::RuleType::AnyPattern
                            | super::RuleType::Deny
                            | super::RuleType::Foreach
                            | super::RuleType::PodSecurity
                    ),
                    "{}/{}",
                    p.name,
                    r.name
                );
            }
        }
    }
}
