//! `match`/`exclude`: which resources a rule applies to, and Kyverno's autogen for Pod
//! controllers.

use serde_json::Value as Json;

use super::Policy;
use super::pattern::wildcard_match;

/// What is known about the admission request besides the resource.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub operation: String,
    /// Labels of the resource's namespace, when known.
    pub namespace_labels: Option<serde_json::Map<String, Json>>,
}

/// The Pod controllers autogen covers, and where their Pod template sits.
pub const POD_CONTROLLERS: &[&str] = &[
    "DaemonSet",
    "Deployment",
    "Job",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
];

/// Whether a kind pattern (`Pod`, `v1/Pod`, `apps/v1/Deployment`, `batch/*/CronJob`, `*`)
/// matches a resource. Subresource patterns (`Pod/exec`, `Pod.status`) match no object.
pub fn kind_matches(pattern: &str, api_version: &str, kind: &str) -> bool {
    if !pattern.contains(['/', '.']) {
        return wildcard_match(pattern, kind);
    }
    let (group, version) = crate::schema::split_api_version(api_version);
    let parts: Vec<&str> = pattern.split('/').collect();
    let last = *parts.last().unwrap_or(&"");
    if last.contains('.') && !last.contains('*') {
        return false;
    }
    match parts.as_slice() {
        [k] => wildcard_match(k, kind),
        [a, b] => {
            if b.chars().next().is_some_and(char::is_lowercase) && !b.starts_with('*') {
                // `Kind/subresource`
                return false;
            }
            wildcard_match(a, version) && wildcard_match(b, kind)
        }
        [g, v, k] => {
            wildcard_match(g, group) && wildcard_match(v, version) && wildcard_match(k, kind)
        }
        _ => false,
    }
}

/// The strings of a list (or a single string), borrowed.
fn strs(v: Option<&Json>) -> impl Iterator<Item = &str> + Clone {
    let (list, single) = match v {
        Some(Json::Array(a)) => (a.as_slice(), None),
        Some(Json::String(s)) => (&[][..], Some(s.as_str())),
        _ => (&[][..], None),
    };
    list.iter().filter_map(Json::as_str).chain(single)
}

fn str_list(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Json::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Whether a label selector (`matchLabels`, `matchExpressions`) selects `labels`.
pub fn selector_matches(selector: &Json, labels: &serde_json::Map<String, Json>) -> bool {
    if let Some(Json::Object(ml)) = selector.get("matchLabels") {
        for (k, v) in ml {
            let want = v.as_str().unwrap_or_default();
            let hit = labels.iter().any(|(lk, lv)| {
                wildcard_match(k, lk) && lv.as_str().is_some_and(|lv| wildcard_match(want, lv))
            });
            if !hit {
                return false;
            }
        }
    }
    if let Some(Json::Array(exprs)) = selector.get("matchExpressions") {
        for e in exprs {
            let key = e.get("key").and_then(Json::as_str).unwrap_or_default();
            let values = str_list(e.get("values"));
            let actual = labels.get(key).and_then(Json::as_str);
            let ok = match e.get("operator").and_then(Json::as_str).unwrap_or("") {
                "In" => actual.is_some_and(|a| values.iter().any(|v| v == a)),
                "NotIn" => actual.is_none_or(|a| !values.iter().any(|v| v == a)),
                "Exists" => actual.is_some(),
                "DoesNotExist" => actual.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

/// One entry of `any`/`all` (a resource description plus user information).
fn filter_matches(
    filter: &Json,
    resource: &Json,
    as_kind: Option<(&str, &str)>,
    req: &RequestInfo,
) -> bool {
    // User information is not known locally: a filter that needs it does not match.
    for key in ["subjects", "roles", "clusterRoles"] {
        if filter
            .get(key)
            .and_then(Json::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            return false;
        }
    }
    let Some(rd) = filter.get("resources") else {
        return true;
    };
    let api = resource
        .get("apiVersion")
        .and_then(Json::as_str)
        .unwrap_or("");
    let kind = resource.get("kind").and_then(Json::as_str).unwrap_or("");
    let (api, kind) = as_kind.unwrap_or((api, kind));
    let meta = resource.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Json::as_str)
        .unwrap_or("");
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Json::as_str)
        .unwrap_or("");
    let mut kinds = strs(rd.get("kinds")).peekable();
    if kinds.peek().is_some() && !kinds.any(|k| kind_matches(k, api, kind)) {
        return false;
    }
    let mut names = strs(rd.get("names")).chain(strs(rd.get("name"))).peekable();
    if names.peek().is_some() && !names.any(|n| wildcard_match(n, name)) {
        return false;
    }
    let mut namespaces = strs(rd.get("namespaces")).peekable();
    if namespaces.peek().is_some() {
        let ns = if kind == "Namespace" { name } else { namespace };
        if !namespaces.any(|n| wildcard_match(n, ns)) {
            return false;
        }
    }
    let mut operations = strs(rd.get("operations")).peekable();
    if operations.peek().is_some() && !operations.any(|o| o == req.operation) {
        return false;
    }
    let empty = serde_json::Map::new();
    if let Some(sel) = rd.get("selector").filter(|s| !s.is_null()) {
        let labels = meta
            .and_then(|m| m.get("labels"))
            .and_then(Json::as_object)
            .unwrap_or(&empty);
        if !selector_matches(sel, labels) {
            return false;
        }
    }
    if let Some(Json::Object(want)) = rd.get("annotations") {
        let have = meta
            .and_then(|m| m.get("annotations"))
            .and_then(Json::as_object)
            .unwrap_or(&empty);
        for (k, v) in want {
            let v = v.as_str().unwrap_or_default();
            if !have.iter().any(|(hk, hv)| {
                wildcard_match(k, hk) && hv.as_str().is_some_and(|hv| wildcard_match(v, hv))
            }) {
                return false;
            }
        }
    }
    if let Some(sel) = rd.get("namespaceSelector").filter(|s| !s.is_null()) {
        match &req.namespace_labels {
            Some(labels) => {
                if !selector_matches(sel, labels) {
                    return false;
                }
            }
            None => return false,
        }
    }
    true
}

/// The bare kinds a rule's `match` can select, or None when some filter does not name its
/// kinds or uses wildcards (then every kind has to be checked in full).
pub fn match_kinds(rule: &Json) -> Option<Vec<String>> {
    let block = rule.get("match")?;
    let mut filters: Vec<&Json> = Vec::new();
    for key in ["any", "all"] {
        filters.extend(
            block
                .get(key)
                .and_then(Json::as_array)
                .into_iter()
                .flatten(),
        );
    }
    if filters.is_empty() {
        filters.push(block);
    }
    let mut out = Vec::new();
    for f in filters {
        let kinds = f.get("resources").and_then(|r| r.get("kinds"));
        let mut any = false;
        for k in strs(kinds) {
            let bare = k.rsplit('/').next().unwrap_or(k);
            if bare.contains(['*', '?']) {
                return None;
            }
            out.push(bare.to_string());
            any = true;
        }
        if !any {
            return None;
        }
    }
    Some(out)
}

/// Whether a `match` or `exclude` block selects the resource.
pub(crate) fn block_matches(
    block: &Json,
    resource: &Json,
    as_kind: Option<(&str, &str)>,
    req: &RequestInfo,
) -> bool {
    let any = block.get("any").and_then(Json::as_array);
    let all = block.get("all").and_then(Json::as_array);
    if any.is_none() && all.is_none() {
        if block.get("resources").is_some()
            || block.get("subjects").is_some()
            || block.get("clusterRoles").is_some()
            || block.get("roles").is_some()
        {
            return filter_matches(block, resource, as_kind, req);
        }
        return false;
    }
    if let Some(any) = any
        && !any.is_empty()
        && !any
            .iter()
            .any(|f| filter_matches(f, resource, as_kind, req))
    {
        return false;
    }
    if let Some(all) = all
        && !all
            .iter()
            .all(|f| filter_matches(f, resource, as_kind, req))
    {
        return false;
    }
    true
}

/// Whether a rule applies: its `match` selects the resource and its `exclude` does not.
/// `as_kind` replaces the resource's apiVersion and kind for kind checks (autogen evaluates
/// a controller as the Pod it creates).
pub fn rule_applies(
    rule: &Json,
    resource: &Json,
    as_kind: Option<(&str, &str)>,
    req: &RequestInfo,
) -> bool {
    let Some(m) = rule.get("match") else {
        return false;
    };
    if !block_matches(m, resource, as_kind, req) {
        return false;
    }
    if let Some(e) = rule.get("exclude")
        && block_matches(e, resource, as_kind, req)
    {
        return false;
    }
    true
}

/// The controllers a policy's Pod rules are generated for (Kyverno's `CanAutoGen`): none
/// when a rule names resources, selects by labels or annotations, or matches other kinds.
pub fn autogen_controllers(policy: &Policy) -> Vec<&'static str> {
    let annotation = policy
        .annotations
        .get("pod-policies.kyverno.io/autogen-controllers")
        .and_then(Json::as_str);
    if annotation == Some("none") {
        return Vec::new();
    }
    let mut needed = false;
    for rule in &policy.rules {
        let raw = &rule.raw;
        if raw.get("generate").is_some() {
            return Vec::new();
        }
        if raw
            .get("mutate")
            .and_then(|m| m.get("patchesJson6902"))
            .is_some()
        {
            return Vec::new();
        }
        let mut descriptions: Vec<&Json> = Vec::new();
        for block in [raw.get("match"), raw.get("exclude")].into_iter().flatten() {
            if let Some(rd) = block.get("resources") {
                descriptions.push(rd);
            }
            for key in ["any", "all"] {
                for f in block
                    .get(key)
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(rd) = f.get("resources") {
                        descriptions.push(rd);
                    }
                }
            }
        }
        for rd in descriptions {
            let named = rd.get("name").is_some()
                || rd
                    .get("names")
                    .and_then(Json::as_array)
                    .is_some_and(|a| !a.is_empty());
            let selected = rd.get("selector").is_some_and(|s| !s.is_null());
            let annotated = rd
                .get("annotations")
                .is_some_and(|a| a.as_object().is_some_and(|m| !m.is_empty()));
            let kinds = str_list(rd.get("kinds"));
            let other_kind = kinds.iter().any(|k| {
                let bare = k.rsplit('/').next().unwrap_or(k);
                bare != "Pod"
            });
            if named || selected || annotated || other_kind {
                return Vec::new();
            }
            needed |= kinds.iter().any(|k| k.rsplit('/').next() == Some("Pod"));
        }
    }
    if !needed {
        return Vec::new();
    }
    let mut all: Vec<&'static str> = POD_CONTROLLERS.to_vec();
    all.push("CronJob");
    match annotation {
        Some(list) => all
            .into_iter()
            .filter(|c| list.split(',').any(|x| x.trim() == *c))
            .collect(),
        None => all,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_and_filters() {
        assert!(kind_matches("Pod", "v1", "Pod"));
        assert!(kind_matches("apps/v1/Deployment", "apps/v1", "Deployment"));
        assert!(kind_matches("batch/*/CronJob", "batch/v1", "CronJob"));
        assert!(kind_matches("*", "x/v1", "Thing"));
        assert!(!kind_matches("Pod/exec", "v1", "Pod"));
        assert!(kind_matches("v1/Pod", "v1", "Pod"));
        let req = RequestInfo {
            operation: "CREATE".into(),
            namespace_labels: None,
        };
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "prod", "labels": {"app": "web"}}});
        let rule = json!({"match": {"any": [{"resources": {"kinds": ["Pod"], "namespaces": ["prod"], "selector": {"matchLabels": {"app": "w*"}}}}]},
                          "exclude": {"any": [{"resources": {"names": ["web-2"]}}]}});
        assert!(rule_applies(&rule, &pod, None, &req));
        let rule = json!({"match": {"any": [{"resources": {"kinds": ["Pod"], "operations": ["DELETE"]}}]}});
        assert!(!rule_applies(&rule, &pod, None, &req));
        let rule = json!({"match": {"resources": {"kinds": ["Pod"]}}, "exclude": {"any": [{"clusterRoles": ["cluster-admin"]}]}});
        assert!(rule_applies(&rule, &pod, None, &req));
    }
}
