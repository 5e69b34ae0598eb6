//! Kyverno `PolicyException`s (`kyverno.io/v2`, `v2beta1`): named rules of named policies do
//! not apply to the resources the exception matches (and, when it has `conditions`, only when
//! they hold). The rule is then reported as skipped, as Kyverno does.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::matching::{RequestInfo, block_matches};
use super::pattern::wildcard_match;
use super::vars::Context;

#[derive(Debug, Clone)]
pub struct PolicyException {
    pub name: String,
    pub namespace: Option<String>,
    /// (policy name, rule names): a namespaced Policy is named `namespace/name`; names may
    /// use wildcards.
    pub exceptions: Vec<(String, Vec<String>)>,
    pub match_block: Json,
    pub conditions: Option<Json>,
    pub path: PathBuf,
}

pub fn is_exception(doc: &Json) -> bool {
    doc.get("kind").and_then(Json::as_str) == Some("PolicyException")
        && doc
            .get("apiVersion")
            .and_then(Json::as_str)
            .is_some_and(|a| a.starts_with("kyverno.io/"))
}

pub fn from_json(doc: &Json, path: &Path) -> Result<PolicyException, String> {
    let meta = doc.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Json::as_str)
        .ok_or("PolicyException has no metadata.name")?
        .to_string();
    let spec = doc
        .get("spec")
        .ok_or(format!("PolicyException {name} has no spec"))?;
    let list = spec
        .get("exceptions")
        .and_then(Json::as_array)
        .ok_or(format!(
            "PolicyException {name}: spec.exceptions is missing"
        ))?;
    let mut exceptions = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let policy = e.get("policyName").and_then(Json::as_str).ok_or(format!(
            "PolicyException {name}: spec.exceptions[{i}].policyName is missing"
        ))?;
        let rules = e
            .get("ruleNames")
            .and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        exceptions.push((policy.to_string(), rules));
    }
    let match_block = spec
        .get("match")
        .cloned()
        .ok_or(format!("PolicyException {name}: spec.match is missing"))?;
    Ok(PolicyException {
        namespace: meta
            .and_then(|m| m.get("namespace"))
            .and_then(Json::as_str)
            .map(str::to_string),
        name,
        exceptions,
        match_block,
        conditions: spec.get("conditions").cloned(),
        path: path.to_path_buf(),
    })
}

impl PolicyException {
    /// `namespace/name` (or `name`).
    pub fn full_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Whether the exception names this rule (`rule` as reported, `autogen-…` included) of
    /// this policy (`policy_ns`: a namespaced Policy's namespace).
    pub fn names(&self, policy: &str, policy_ns: Option<&str>, rule: &str) -> bool {
        let full = match policy_ns {
            Some(ns) => format!("{ns}/{policy}"),
            None => policy.to_string(),
        };
        self.exceptions.iter().any(|(p, rules)| {
            wildcard_match(p, &full) && rules.iter().any(|r| wildcard_match(r, rule))
        })
    }

    /// Whether the exception covers the resource: its `match` selects it and its conditions
    /// hold (conditions that cannot be evaluated do not hold).
    pub fn covers(&self, resource: &Json, req: &RequestInfo, ctx: &Context) -> bool {
        if !block_matches(&self.match_block, resource, None, req) {
            return false;
        }
        match &self.conditions {
            None => true,
            Some(c) => matches!(super::conditions::evaluate(c, ctx), Ok((true, _))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_match_with_wildcards_and_namespaced_policies() {
        let doc = json!({"apiVersion": "kyverno.io/v2", "kind": "PolicyException",
            "metadata": {"name": "e", "namespace": "ops"},
            "spec": {"exceptions": [
                {"policyName": "disallow-host-*", "ruleNames": ["host-namespaces", "autogen-*"]},
                {"policyName": "team/require-labels", "ruleNames": ["check"]}],
              "match": {"any": [{"resources": {"kinds": ["Pod"], "names": ["agent-*"]}}]}}});
        assert!(is_exception(&doc));
        let e = from_json(&doc, Path::new("e.yaml")).unwrap();
        assert_eq!(e.full_name(), "ops/e");
        assert!(e.names("disallow-host-namespaces", None, "host-namespaces"));
        assert!(e.names(
            "disallow-host-namespaces",
            None,
            "autogen-cronjob-host-namespaces"
        ));
        assert!(!e.names("disallow-host-namespaces", None, "other"));
        assert!(e.names("require-labels", Some("team"), "check"));
        assert!(!e.names("require-labels", None, "check"));
        let ctx = Context::new(json!({}));
        let req = RequestInfo::default();
        let pod =
            |name: &str| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}});
        assert!(e.covers(&pod("agent-1"), &req, &ctx));
        assert!(!e.covers(&pod("web"), &req, &ctx));
    }

    #[test]
    fn malformed_exceptions_say_what_is_missing() {
        let doc = json!({"apiVersion": "kyverno.io/v2", "kind": "PolicyException",
            "metadata": {"name": "e"}, "spec": {"match": {}}});
        assert_eq!(
            from_json(&doc, Path::new("e.yaml")).unwrap_err(),
            "PolicyException e: spec.exceptions is missing"
        );
    }
}
