//! Pod hardening remedies: the settings the Pod Security Standards (restricted) and the usual
//! security policies ask for, each applied to a Pod's spec (or a controller's Pod template)
//! only where it is missing or wrong. Policy fixes try them for rules that have no pattern to
//! repair from (`podSecurity`, `deny`, `foreach`): the fewest remedies that make the rule pass.

use serde_json::{Map, Value as Json, json};

/// A remedy: what it does in words, and the change (true when it changed something).
pub struct Remedy {
    pub title: &'static str,
    pub apply: fn(&mut Map<String, Json>) -> bool,
}

pub const REMEDIES: &[Remedy] = &[
    Remedy {
        title: "run as non-root (runAsNonRoot: true)",
        apply: run_as_non_root,
    },
    Remedy {
        title: "forbid privilege escalation (allowPrivilegeEscalation: false)",
        apply: no_privilege_escalation,
    },
    Remedy {
        title: "drop ALL capabilities",
        apply: drop_all_capabilities,
    },
    Remedy {
        title: "use the RuntimeDefault seccomp profile",
        apply: seccomp_runtime_default,
    },
    Remedy {
        title: "no privileged containers (privileged: false)",
        apply: not_privileged,
    },
    Remedy {
        title: "read-only root filesystem (readOnlyRootFilesystem: true)",
        apply: read_only_root,
    },
    Remedy {
        title: "no host namespaces (hostNetwork, hostPID, hostIPC: false)",
        apply: no_host_namespaces,
    },
];

/// The JSON pointer of the Pod spec in a resource of `kind` (None: no Pod inside).
pub fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("/spec"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => Some("/spec/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// `resource` with `remedy` applied to its Pod spec; None when it changes nothing.
pub fn apply(resource: &Json, remedy: &Remedy) -> Option<Json> {
    let kind = resource.get("kind")?.as_str()?;
    let pointer = pod_spec_pointer(kind)?;
    let mut out = resource.clone();
    let spec = out.pointer_mut(pointer)?.as_object_mut()?;
    (remedy.apply)(spec).then_some(out)
}

fn containers(spec: &mut Map<String, Json>) -> impl Iterator<Item = &mut Map<String, Json>> {
    let mut all = Vec::new();
    for (field, list) in spec.iter_mut() {
        if matches!(
            field.as_str(),
            "containers" | "initContainers" | "ephemeralContainers"
        ) && let Json::Array(items) = list
        {
            all.extend(items.iter_mut().filter_map(Json::as_object_mut));
        }
    }
    all.into_iter()
}

/// The object at `key` of `map`, made an object if it is missing or something else.
fn object<'a>(map: &'a mut Map<String, Json>, key: &str) -> &'a mut Map<String, Json> {
    let slot = map.entry(key.to_string()).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("made an object")
}

/// Sets `key` to `value` unless it already is; true when it changed.
fn set(map: &mut Map<String, Json>, key: &str, value: Json) -> bool {
    if map.get(key) == Some(&value) {
        return false;
    }
    map.insert(key.to_string(), value);
    true
}

/// Sets `key` to `value` in every container's securityContext; true when one changed.
fn set_in_containers(spec: &mut Map<String, Json>, key: &str, value: Json) -> bool {
    let mut changed = false;
    for c in containers(spec) {
        changed |= set(object(c, "securityContext"), key, value.clone());
    }
    changed
}

/// Replaces `key: from` by `key: to` in the containers' securityContexts that have it; true
/// when one changed.
fn replace_in_containers(spec: &mut Map<String, Json>, key: &str, from: Json, to: Json) -> bool {
    let mut changed = false;
    for c in containers(spec) {
        if let Some(sc) = c.get_mut("securityContext").and_then(Json::as_object_mut)
            && sc.get(key) == Some(&from)
        {
            sc.insert(key.into(), to.clone());
            changed = true;
        }
    }
    changed
}

fn run_as_non_root(spec: &mut Map<String, Json>) -> bool {
    let pod = set(object(spec, "securityContext"), "runAsNonRoot", json!(true));
    // A container's own `false` overrides the Pod's `true`.
    replace_in_containers(spec, "runAsNonRoot", json!(false), json!(true)) | pod
}

fn no_privilege_escalation(spec: &mut Map<String, Json>) -> bool {
    set_in_containers(spec, "allowPrivilegeEscalation", json!(false))
}

fn drop_all_capabilities(spec: &mut Map<String, Json>) -> bool {
    let mut changed = false;
    for c in containers(spec) {
        let caps = object(object(c, "securityContext"), "capabilities");
        let drop = caps.entry("drop").or_insert_with(|| json!([]));
        if !drop.is_array() {
            *drop = json!([]);
        }
        let list = drop.as_array_mut().expect("made a list");
        if !list.iter().any(|d| d == "ALL") {
            list.push(json!("ALL"));
            changed = true;
        }
    }
    changed
}

fn seccomp_runtime_default(spec: &mut Map<String, Json>) -> bool {
    let allowed = |p: Option<&Json>| {
        matches!(
            p.and_then(|p| p.get("type")).and_then(Json::as_str),
            Some("RuntimeDefault" | "Localhost")
        )
    };
    let mut changed = false;
    let psc = object(spec, "securityContext");
    if !allowed(psc.get("seccompProfile")) {
        psc.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
        changed = true;
    }
    for c in containers(spec) {
        if let Some(sc) = c.get_mut("securityContext").and_then(Json::as_object_mut)
            && sc.contains_key("seccompProfile")
            && !allowed(sc.get("seccompProfile"))
        {
            sc.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
            changed = true;
        }
    }
    changed
}

fn not_privileged(spec: &mut Map<String, Json>) -> bool {
    replace_in_containers(spec, "privileged", json!(true), json!(false))
}

fn read_only_root(spec: &mut Map<String, Json>) -> bool {
    set_in_containers(spec, "readOnlyRootFilesystem", json!(true))
}

fn no_host_namespaces(spec: &mut Map<String, Json>) -> bool {
    let mut changed = false;
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec.get(key) == Some(&json!(true)) {
            spec.insert(key.into(), json!(false));
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(pod: Json) -> Json {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
               "spec": {"template": {"spec": pod}}})
    }

    #[test]
    fn remedies_change_only_what_is_missing_or_wrong() {
        let d = deployment(json!({"containers": [
            {"name": "a", "securityContext": {"capabilities": {"drop": ["NET_RAW"]}, "privileged": true}},
            {"name": "b", "securityContext": {"runAsNonRoot": false, "seccompProfile": {"type": "Unconfined"}}}]}));
        let by = |title: &str| {
            REMEDIES
                .iter()
                .find(|r| r.title.starts_with(title))
                .unwrap()
        };

        let r = apply(&d, by("drop ALL")).unwrap();
        assert_eq!(
            r.pointer("/spec/template/spec/containers/0/securityContext/capabilities/drop")
                .unwrap(),
            &json!(["NET_RAW", "ALL"])
        );
        assert_eq!(
            r.pointer("/spec/template/spec/containers/1/securityContext/capabilities/drop")
                .unwrap(),
            &json!(["ALL"])
        );
        assert!(
            apply(&r, by("drop ALL")).is_none(),
            "applied twice changes nothing"
        );

        let r = apply(&d, by("run as non-root")).unwrap();
        assert_eq!(
            r.pointer("/spec/template/spec/securityContext/runAsNonRoot")
                .unwrap(),
            true
        );
        assert_eq!(
            r.pointer("/spec/template/spec/containers/1/securityContext/runAsNonRoot")
                .unwrap(),
            true
        );

        let r = apply(&d, by("use the RuntimeDefault")).unwrap();
        assert_eq!(
            r.pointer("/spec/template/spec/securityContext/seccompProfile/type")
                .unwrap(),
            "RuntimeDefault"
        );
        assert_eq!(
            r.pointer("/spec/template/spec/containers/1/securityContext/seccompProfile/type")
                .unwrap(),
            "RuntimeDefault"
        );
        let r = apply(&d, by("no privileged")).unwrap();
        assert_eq!(
            r.pointer("/spec/template/spec/containers/0/securityContext/privileged")
                .unwrap(),
            false
        );
        assert!(apply(&d, by("no host namespaces")).is_none());
        let svc = json!({"apiVersion": "v1", "kind": "Service", "spec": {}});
        assert!(REMEDIES.iter().all(|r| apply(&svc, r).is_none()));
        let cron = json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}}});
        assert!(apply(&cron, by("read-only")).is_some());
    }

    #[test]
    fn rules_without_a_pattern_get_the_fewest_remedies_that_make_them_pass() {
        let mut analyzer = crate::analysis::Analyzer::new(
            crate::schema::Catalog::builtin(),
            crate::schema::SchemaCheckOptions::default(),
        );
        analyzer.set_policies(crate::policy::bundled(), None);
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n  namespace: a\nspec:\n  selector:\n    matchLabels: {app: x}\n  template:\n    metadata:\n      labels: {app: x}\n    spec:\n      securityContext:\n        runAsNonRoot: true\n      containers:\n        - name: x\n          image: x:1\n          securityContext:\n            allowPrivilegeEscalation: false\n";
        let file = crate::yaml::YamlFile::parse(text);
        let analysis = analyzer.analyze_parsed(text, &file);
        let titles = |code: &str| -> Vec<String> {
            let (at, f) = analysis
                .iter()
                .find(|(_, f)| f.code.starts_with(code))
                .unwrap_or_else(|| panic!("no {code} finding"));
            analyzer
                .fixes_for(text, &file, at, f)
                .into_iter()
                .map(|x| x.title)
                .collect()
        };
        // A deny rule: one remedy.
        let t = titles("usher-drop-all-capabilities/");
        assert_eq!(t.len(), 1, "{t:?}");
        assert!(t[0].ends_with(": drop ALL capabilities"), "{t:?}");
        // podSecurity restricted: the two controls that fail, nothing else.
        let t = titles("usher-podsecurity-restricted/");
        assert_eq!(t.len(), 1, "{t:?}");
        assert!(
            t[0].ends_with(": drop ALL capabilities, use the RuntimeDefault seccomp profile"),
            "{t:?}"
        );
    }
}
