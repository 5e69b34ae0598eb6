//! Evaluates a policy's rules on one resource, as Kyverno's engine does, with Kyverno's
//! result wording.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Value as Json, json};

use super::matching::{RequestInfo, rule_applies};
use super::pattern::{self, PatternError};
use super::vars::{Context, render, substitute, substitute_str};
use super::{FailureAction, Policy, Rule, RuleType, conditions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
    Error,
    /// Not evaluated: a feature not supported yet, or data only a cluster has.
    Unsupported,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::Error => "error",
            Status::Unsupported => "unsupported",
        }
    }
}

/// The result of one rule on one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub policy: String,
    /// The rule's name as reported (`autogen-…` for generated controller rules).
    pub rule: String,
    /// The rule's name in the policy.
    pub base_rule: String,
    pub rule_type: RuleType,
    pub status: Status,
    pub message: String,
    /// JSON pointer (into the resource) of where the check failed, when known.
    pub pointer: Option<String>,
    pub action: FailureAction,
    /// The index of the policy in the slice given to [`evaluate_all`].
    pub policy_index: usize,
}

fn needs_default_namespace(resource: &Json) -> bool {
    let Some(meta) = resource.get("metadata").and_then(Json::as_object) else {
        return false;
    };
    if meta
        .get("namespace")
        .and_then(Json::as_str)
        .is_some_and(|n| !n.is_empty())
    {
        return false;
    }
    let api = resource
        .get("apiVersion")
        .and_then(Json::as_str)
        .unwrap_or("");
    let kind = resource.get("kind").and_then(Json::as_str).unwrap_or("");
    match crate::schema::Catalog::builtin().lookup(api, kind) {
        Some(info) => info.namespaced,
        // Unknown kinds: namespaced unless they look cluster-wide.
        None => !kind.starts_with("Cluster") && kind != "Namespace",
    }
}

/// Extra data for an evaluation: the request, and variables provided by a test's values file
/// (for context entries that would need a cluster).
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    pub request: RequestInfo,
    /// Values by variable name or dotted path (`request.operation`), applied to the context.
    pub values: HashMap<String, Json>,
    /// The namespace of namespaced resources that do not name one (default: `default`).
    pub default_namespace: Option<String>,
    /// PolicyExceptions: the rules they name are skipped on the resources they match.
    pub exceptions: std::sync::Arc<Vec<super::exception::PolicyException>>,
    /// Evaluate as Kyverno's background scan (existing resources, PolicyReports) rather than
    /// at admission: policies with `background: false` are left out.
    pub background_scan: bool,
    /// Resources known locally that CEL's `resource.Get`/`resource.List` and policy
    /// parameters (`paramRef`) are answered from (a test's context and resources).
    pub cel_resources: std::sync::Arc<Vec<Json>>,
    /// Answers to `apiCall` context entries by URL path (from the cluster cache).
    pub api_calls: std::sync::Arc<std::collections::BTreeMap<String, Json>>,
}

/// The labels of Namespace `name` among `resources`.
fn namespace_labels(resources: &[Json], name: &str) -> Option<serde_json::Map<String, Json>> {
    let ns = resources.iter().find(|r| {
        r.get("kind").and_then(Json::as_str) == Some("Namespace")
            && r.pointer("/metadata/name").and_then(Json::as_str) == Some(name)
    })?;
    Some(
        ns.pointer("/metadata/labels")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default(),
    )
}

/// The PolicyException that makes a rule skip on this resource, if any.
fn exception_for(
    policy: &Policy,
    rule: &str,
    resource: &Json,
    opts: &EvalOptions,
    ctx: &dyn Fn() -> Context,
) -> Option<String> {
    opts.exceptions
        .iter()
        .find(|e| {
            e.names(&policy.name, policy.namespace.as_deref(), rule)
                && e.covers(resource, &opts.request, &ctx())
        })
        .map(|e| e.full_name())
}

/// Evaluates every rule of `policy` that applies to `resource`. A namespaced resource without
/// `metadata.namespace` is evaluated in the default namespace, where it would land.
pub fn evaluate(policy: &Policy, resource: &Json, opts: &EvalOptions) -> Vec<Outcome> {
    evaluate_all(std::slice::from_ref(policy), resource, opts)
}

/// Evaluates several policies on one resource, preparing the resource and its admission
/// context once for all of them.
pub fn evaluate_all(policies: &[Policy], resource: &Json, opts: &EvalOptions) -> Vec<Outcome> {
    let with_ns;
    let resource = if needs_default_namespace(resource) {
        let mut r = resource.clone();
        if let Some(m) = r.get_mut("metadata").and_then(Json::as_object_mut) {
            m.insert(
                "namespace".into(),
                json!(opts.default_namespace.as_deref().unwrap_or("default")),
            );
        }
        with_ns = r;
        &with_ns
    } else {
        resource
    };
    // Namespace selectors: the labels of the resource's Namespace when it is known locally
    // (the policy files' resources, the cluster cache) and the caller gave none.
    let with_labels;
    let opts = match (
        &opts.request.namespace_labels,
        resource
            .pointer("/metadata/namespace")
            .and_then(Json::as_str),
    ) {
        (None, Some(ns)) => match namespace_labels(&opts.cel_resources, ns) {
            Some(labels) => {
                let mut o = opts.clone();
                o.request.namespace_labels = Some(labels);
                with_labels = o;
                &with_labels
            }
            None => opts,
        },
        _ => opts,
    };
    let base: OnceLock<Context> = OnceLock::new();
    // Many policies: spread them over the cores (the results keep the policies' order).
    if policies.len() >= 64 {
        use rayon::prelude::*;
        return policies
            .par_chunks(16)
            .enumerate()
            .map(|(c, chunk)| {
                let mut out = Vec::new();
                for (i, policy) in chunk.iter().enumerate() {
                    evaluate_one(policy, c * 16 + i, resource, opts, &base, &mut out);
                }
                out
            })
            .collect::<Vec<_>>()
            .concat();
    }
    let mut out = Vec::new();
    for (i, policy) in policies.iter().enumerate() {
        evaluate_one(policy, i, resource, opts, &base, &mut out);
    }
    out
}

fn evaluate_one(
    policy: &Policy,
    index: usize,
    resource: &Json,
    opts: &EvalOptions,
    base: &OnceLock<Context>,
    out: &mut Vec<Outcome>,
) {
    let before = out.len();
    evaluate_rules(policy, resource, opts, base, out);
    for o in &mut out[before..] {
        o.policy_index = index;
    }
}

fn evaluate_rules(
    policy: &Policy,
    resource: &Json,
    opts: &EvalOptions,
    base: &OnceLock<Context>,
    out: &mut Vec<Outcome>,
) {
    if opts.background_scan && !policy.background {
        return;
    }
    let kind = resource.get("kind").and_then(Json::as_str).unwrap_or("");
    // A namespaced Policy applies only in its namespace.
    if let Some(ns) = &policy.namespace {
        let res_ns = resource
            .get("metadata")
            .and_then(|m| m.get("namespace"))
            .and_then(Json::as_str)
            .unwrap_or("default");
        if res_ns != ns {
            return;
        }
    }
    if policy.is_cel_kind() {
        let rule = &policy.rules[0];
        let ctx = base.get_or_init(|| request_context(resource, opts));
        for (action, (status, message, pointer)) in
            super::cel_policy::evaluate_policy(policy, resource, ctx, opts)
        {
            let mut o = outcome(policy, rule, &rule.name, status, message, pointer);
            o.action = action;
            out.push(o);
        }
        return;
    }
    let base = || base.get_or_init(|| request_context(resource, opts)).clone();
    let controllers = policy.autogen_controllers();
    for rule in &policy.rules {
        if rule.may_match_kind(kind) && rule_applies(&rule.raw, resource, None, &opts.request) {
            if let Some(e) = exception_for(policy, &rule.name, resource, opts, &base) {
                out.push(excepted(policy, rule, &rule.name, e));
                continue;
            }
            out.push(evaluate_rule(
                policy,
                rule,
                &rule.raw,
                &rule.name,
                resource,
                base(),
                opts,
            ));
            continue;
        }
        if !controllers.contains(&kind) || !rule.may_match_kind("Pod") {
            continue;
        }
        let cronjob = kind == "CronJob";
        let template = if cronjob {
            resource.pointer("/spec/jobTemplate/spec/template")
        } else {
            resource.pointer("/spec/template")
        };
        if template.is_none()
            || !rule_applies(&rule.raw, resource, Some(("v1", "Pod")), &opts.request)
        {
            continue;
        }
        let name = if cronjob {
            format!("autogen-cronjob-{}", rule.name)
        } else {
            format!("autogen-{}", rule.name)
        };
        if let Some(e) = exception_for(policy, &name, resource, opts, &base) {
            out.push(excepted(policy, rule, &name, e));
            continue;
        }
        out.push(evaluate_rule(
            policy,
            rule,
            rule.autogen_raw(cronjob),
            &name,
            resource,
            base(),
            opts,
        ));
    }
}

fn excepted(policy: &Policy, rule: &Rule, name: &str, exception: String) -> Outcome {
    outcome(
        policy,
        rule,
        name,
        Status::Skip,
        format!("rule skipped due to policy exception {exception}"),
        None,
    )
}

/// Kyverno's autogen rewrite of a Pod rule for a controller: references to the Pod's
/// `spec`/`metadata` move under the template, patterns are wrapped to the template's place.
pub fn autogen_rule(raw: &Json, cronjob: bool) -> Json {
    let base = if cronjob {
        "spec.jobTemplate.spec.template"
    } else {
        "spec.template"
    };
    let text = serde_json::to_string(raw).unwrap_or_default();
    let text = text
        .replace(
            "request.object.spec",
            &format!("request.object.{base}.spec"),
        )
        .replace(
            "request.oldObject.spec",
            &format!("request.oldObject.{base}.spec"),
        )
        .replace(
            "request.object.metadata",
            &format!("request.object.{base}.metadata"),
        )
        .replace(
            "request.oldObject.metadata",
            &format!("request.oldObject.{base}.metadata"),
        );
    let mut rule: Json = serde_json::from_str(&text).unwrap_or_else(|_| raw.clone());
    let wrap = |p: Json| -> Json {
        if cronjob {
            json!({"spec": {"jobTemplate": {"spec": {"template": p}}}})
        } else {
            json!({"spec": {"template": p}})
        }
    };
    if let Some(v) = rule.get_mut("validate").and_then(Json::as_object_mut) {
        if let Some(p) = v.remove("pattern") {
            v.insert("pattern".into(), wrap(p));
        }
        if let Some(Json::Array(ps)) = v.remove("anyPattern") {
            v.insert(
                "anyPattern".into(),
                Json::Array(ps.into_iter().map(wrap).collect()),
            );
        }
    }
    rule
}

fn outcome(
    policy: &Policy,
    rule: &Rule,
    name: &str,
    status: Status,
    message: String,
    pointer: Option<String>,
) -> Outcome {
    Outcome {
        policy: policy.name.clone(),
        rule: name.to_string(),
        base_rule: rule.name.clone(),
        rule_type: rule.rule_type,
        status,
        message,
        pointer,
        action: rule.action.unwrap_or(policy.action),
        policy_index: 0,
    }
}

/// What a policy's mutate rules would make of `resource` at admission: per rule that applies
/// (reported name, `autogen-…` for controllers), the mutated resource or why it cannot be
/// worked out locally. Rules that change nothing are left out.
pub fn mutations(
    policy: &Policy,
    resource: &Json,
    opts: &EvalOptions,
) -> Vec<(String, Result<Json, String>)> {
    let kind = resource.get("kind").and_then(Json::as_str).unwrap_or("");
    let mut out = Vec::new();
    for rule in &policy.rules {
        if rule.rule_type != RuleType::Mutate {
            continue;
        }
        let (name, wrap): (String, Option<&str>) = if rule.may_match_kind(kind)
            && rule_applies(&rule.raw, resource, None, &opts.request)
        {
            (rule.name.clone(), None)
        } else if policy.autogen_controllers().contains(&kind)
            && rule.may_match_kind("Pod")
            && rule_applies(&rule.raw, resource, Some(("v1", "Pod")), &opts.request)
        {
            if kind == "CronJob" {
                (
                    format!("autogen-cronjob-{}", rule.name),
                    Some("/spec/jobTemplate/spec/template"),
                )
            } else {
                (format!("autogen-{}", rule.name), Some("/spec/template"))
            }
        } else {
            continue;
        };
        let result = mutate_rule(&rule.raw, resource, wrap, opts);
        match result {
            Ok(Some(m)) if m != *resource => out.push((name, Ok(m))),
            Ok(_) => {}
            Err(e) => out.push((name, Err(e))),
        }
    }
    out
}

/// One mutate rule on a resource (`wrap`: where the Pod template sits, for autogen); None when
/// its preconditions do not hold.
fn mutate_rule(
    raw: &Json,
    resource: &Json,
    wrap: Option<&str>,
    opts: &EvalOptions,
) -> Result<Option<Json>, String> {
    let m = raw.get("mutate").ok_or("not a mutate rule")?;
    if m.get("foreach").is_some() || m.get("targets").is_some() {
        return Err("foreach and targets mutations are not applied locally yet".into());
    }
    // For a controller, the rule sees the Pod template as `request.object`.
    let (subject, pointer) = match wrap {
        Some(p) => (
            resource.pointer(p).cloned().ok_or("no Pod template")?,
            Some(p),
        ),
        None => (resource.clone(), None),
    };
    let mut ctx = request_context(&subject, opts);
    load_context(raw.get("context"), &mut ctx, opts).map_err(|(_, e)| e)?;
    if let Some(pre) = raw.get("preconditions") {
        match conditions::evaluate(pre, &ctx) {
            Ok((true, _)) => {}
            Ok((false, _)) => return Ok(None),
            Err(e) => return Err(format!("failed to evaluate preconditions: {e}")),
        }
    }
    let mutated = if let Some(overlay) = m.get("patchStrategicMerge") {
        let overlay = substitute(overlay, &ctx).map_err(|e| e.0)?;
        super::fix::strategic_merge(&subject, &overlay)
    } else if let Some(ops) = m.get("patchesJson6902") {
        let ops = match substitute(ops, &ctx).map_err(|e| e.0)? {
            Json::String(text) => serde_yaml_ops(&text)?,
            other => other,
        };
        super::fix::json_patch(&subject, &ops)?
    } else {
        return Err("this mutation is not applied locally yet".into());
    };
    Ok(Some(match pointer {
        Some(p) => {
            let mut whole = resource.clone();
            if let Some(slot) = whole.pointer_mut(p) {
                *slot = mutated;
            }
            whole
        }
        None => mutated,
    }))
}

/// `patchesJson6902` is a YAML (or JSON) text holding the list of operations.
fn serde_yaml_ops(text: &str) -> Result<Json, String> {
    let file = crate::yaml::YamlFile::parse(text);
    let doc = file.docs.first().ok_or("empty JSON patch")?;
    if let Some(issue) = doc.lowered.issues.first() {
        return Err(format!("invalid patchesJson6902: {}", issue.message));
    }
    Ok(doc.root().map(|r| r.to_json()).unwrap_or(Json::Null))
}

/// The admission context of a request for `object`.
pub fn request_context(object: &Json, opts: &EvalOptions) -> Context {
    let meta = object.get("metadata");
    let ns = meta
        .and_then(|m| m.get("namespace"))
        .cloned()
        .unwrap_or(json!(""));
    let name = meta
        .and_then(|m| m.get("name"))
        .cloned()
        .unwrap_or(json!(""));
    let kind = object.get("kind").cloned().unwrap_or(Json::Null);
    let api = object
        .get("apiVersion")
        .and_then(Json::as_str)
        .unwrap_or("");
    let (group, version) = crate::schema::split_api_version(api);
    let operation = if opts.request.operation.is_empty() {
        "CREATE"
    } else {
        opts.request.operation.as_str()
    };
    let old = if operation == "UPDATE" || operation == "DELETE" {
        object.clone()
    } else {
        Json::Null
    };
    let data = json!({
        "request": {
            "operation": operation,
            "object": if operation == "DELETE" { Json::Null } else { object.clone() },
            "oldObject": old,
            "namespace": ns,
            "name": name,
            "kind": {"group": group, "version": version, "kind": kind},
            "userInfo": {},
            "roles": [],
            "clusterRoles": [],
            "dryRun": false,
        },
        "serviceAccountName": "",
        "serviceAccountNamespace": "",
        "images": images(object),
    });
    let mut ctx = Context::new(data);
    let mut keys: Vec<&String> = opts.values.keys().collect();
    keys.sort();
    for k in keys {
        ctx.set_path(k, opts.values[k].clone());
    }
    ctx
}

/// Kyverno's `images` variable: per container name, the parsed image reference.
fn images(object: &Json) -> Json {
    let spec = object
        .pointer("/spec/template/spec")
        .or_else(|| object.get("spec"));
    let mut out = serde_json::Map::new();
    for (field, key) in [
        ("containers", "containers"),
        ("initContainers", "initContainers"),
        ("ephemeralContainers", "ephemeralContainers"),
    ] {
        let mut m = serde_json::Map::new();
        for c in spec
            .and_then(|s| s.get(field))
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(image)) = (
                c.get("name").and_then(Json::as_str),
                c.get("image").and_then(Json::as_str),
            ) else {
                continue;
            };
            m.insert(name.to_string(), parse_image(image));
        }
        if !m.is_empty() {
            out.insert(key.to_string(), Json::Object(m));
        }
    }
    Json::Object(out)
}

/// Splits an image reference into registry, path, name, tag and digest as Kyverno does.
pub fn parse_image(image: &str) -> Json {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, d.to_string()),
        None => (image, String::new()),
    };
    let (registry, path) = match rest.split_once('/') {
        Some((first, remainder)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_string(), remainder.to_string())
        }
        _ => ("docker.io".to_string(), rest.to_string()),
    };
    let (path, tag) = match path.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p.to_string(), t.to_string()),
        _ => (path, String::new()),
    };
    let tag = if tag.is_empty() && digest.is_empty() {
        "latest".to_string()
    } else {
        tag
    };
    let name = path.rsplit('/').next().unwrap_or(&path).to_string();
    json!({"registry": registry, "path": path, "name": name, "tag": tag, "digest": digest, "reference": image})
}

fn evaluate_rule(
    policy: &Policy,
    rule: &Rule,
    raw: &Json,
    name: &str,
    object: &Json,
    mut ctx: Context,
    opts: &EvalOptions,
) -> Outcome {
    match rule.rule_type {
        RuleType::Pattern
        | RuleType::AnyPattern
        | RuleType::Deny
        | RuleType::Foreach
        | RuleType::PodSecurity
        | RuleType::Cel => {}
        other => {
            return outcome(
                policy,
                rule,
                name,
                Status::Unsupported,
                format!("{} rules are not evaluated yet", other.as_str()),
                None,
            );
        }
    }
    if let Err(o) = load_context(raw.get("context"), &mut ctx, opts) {
        return outcome(policy, rule, name, o.0, o.1, None);
    }
    if let Some(pre) = raw.get("preconditions") {
        match conditions::evaluate(pre, &ctx) {
            Ok((true, _)) => {}
            Ok((false, _)) => {
                return outcome(
                    policy,
                    rule,
                    name,
                    Status::Skip,
                    "preconditions not met".into(),
                    None,
                );
            }
            Err(e) => {
                return outcome(
                    policy,
                    rule,
                    name,
                    Status::Error,
                    format!("failed to evaluate preconditions: {e}"),
                    None,
                );
            }
        }
    }
    if rule.rule_type == RuleType::Cel {
        // Autogen: the rule sees the Pod of the controller's template.
        let template = name
            .starts_with("autogen-")
            .then(|| super::cel_policy::template_pointer(object))
            .flatten();
        let pod = template.map(|t| super::cel_policy::pod_shared(&ctx, object, t));
        let input = super::cel_policy::Input::new(
            &ctx,
            pod.as_deref().unwrap_or(object),
            template.unwrap_or(""),
            opts,
        );
        let (status, msg, pointer) = super::cel_policy::evaluate_validate_cel(raw, &input);
        return outcome(policy, rule, name, status, msg, pointer);
    }
    let validate = raw.get("validate").unwrap_or(&Json::Null);
    let message = validate.get("message").and_then(Json::as_str).unwrap_or("");
    let (status, msg, pointer) = validate_block(validate, object, &ctx, name, message, "", 0);
    outcome(policy, rule, name, status, msg, pointer)
}

type Verdict = (Status, String, Option<String>);

/// Context entries: variables are computed; entries that need a cluster use values given by
/// the caller, or make the rule unsupported.
fn load_context(
    entries: Option<&Json>,
    ctx: &mut Context,
    opts: &EvalOptions,
) -> Result<(), (Status, String)> {
    for entry in entries.and_then(Json::as_array).into_iter().flatten() {
        let Some(name) = entry.get("name").and_then(Json::as_str) else {
            continue;
        };
        if let Some(v) = opts.values.get(name) {
            ctx.set_path(name, v.clone());
            continue;
        }
        if let Some(var) = entry.get("variable") {
            let value = match (var.get("value"), var.get("jmesPath")) {
                (Some(v), path) => {
                    let v = substitute(v, ctx)
                        .map_err(|e| (Status::Error, format!("context variable {name}: {e}")))?;
                    match path.and_then(Json::as_str) {
                        Some(p) => Context::new(v)
                            .query(
                                &substitute_str(p, ctx)
                                    .map(|x| render(&x))
                                    .unwrap_or_default(),
                            )
                            .unwrap_or(Json::Null),
                        None => v,
                    }
                }
                (None, Some(p)) => {
                    let p = substitute_str(p.as_str().unwrap_or(""), ctx)
                        .map(|x| render(&x))
                        .map_err(|e| (Status::Error, e.0))?;
                    ctx.query(&p).unwrap_or(Json::Null)
                }
                (None, None) => Json::Null,
            };
            let value = if value.is_null() {
                var.get("default").cloned().unwrap_or(Json::Null)
            } else {
                value
            };
            ctx.set_path(name, value);
            continue;
        }
        if let Some(value) = cached_context(entry, ctx, opts)? {
            ctx.set_path(name, value);
            continue;
        }
        let what = ["apiCall", "configMap", "imageRegistry", "globalReference"]
            .into_iter()
            .find(|k| entry.get(*k).is_some())
            .unwrap_or("context");
        return Err((
            Status::Unsupported,
            format!("needs cluster data: context entry `{name}` ({what})"),
        ));
    }
    Ok(())
}

/// A `configMap` or GET `apiCall` context entry answered from known resources (the policy
/// files' other documents, the cluster cache): `Ok(None)` when it cannot be.
fn cached_context(
    entry: &Json,
    ctx: &Context,
    opts: &EvalOptions,
) -> Result<Option<Json>, (Status, String)> {
    let text = |v: Option<&Json>| -> Result<Option<String>, (Status, String)> {
        match v.and_then(Json::as_str) {
            Some(s) => substitute_str(s, ctx)
                .map(|x| Some(render(&x)))
                .map_err(|e| (Status::Error, e.0)),
            None => Ok(None),
        }
    };
    if let Some(cm) = entry.get("configMap") {
        let Some(name) = text(cm.get("name"))? else {
            return Ok(None);
        };
        let namespace = text(cm.get("namespace"))?.unwrap_or_else(|| "default".into());
        return Ok(opts
            .cel_resources
            .iter()
            .find(|r| {
                r.get("kind").and_then(Json::as_str) == Some("ConfigMap")
                    && r.pointer("/metadata/name").and_then(Json::as_str) == Some(name.as_str())
                    && r.pointer("/metadata/namespace")
                        .and_then(Json::as_str)
                        .unwrap_or("default")
                        == namespace
            })
            .cloned());
    }
    if let Some(call) = entry.get("apiCall") {
        let method = call.get("method").and_then(Json::as_str).unwrap_or("GET");
        if !method.eq_ignore_ascii_case("GET") || call.get("service").is_some() {
            return Ok(None);
        }
        let Some(path) = text(call.get("urlPath"))? else {
            return Ok(None);
        };
        let Some(answer) = opts.api_calls.get(&path) else {
            return Ok(None);
        };
        return Ok(Some(match text(call.get("jmesPath"))? {
            Some(q) if !q.is_empty() => {
                Context::new(answer.clone()).query(&q).unwrap_or(Json::Null)
            }
            _ => answer.clone(),
        }));
    }
    Ok(None)
}

/// A rule's message with its variables substituted (as written when they cannot be).
fn render_message(message: &str, ctx: &Context) -> String {
    substitute_str(message, ctx)
        .map(|v| render(&v))
        .unwrap_or_else(|_| message.to_string())
}

fn fail_message(message: &str, ctx: &Context, rule: &str, path: &str) -> String {
    let msg = render_message(message, ctx);
    let msg = msg.trim_end_matches('.');
    if msg.is_empty() {
        format!("validation error: rule {rule} failed at path {path}")
    } else {
        format!("validation error: {msg}. rule {rule} failed at path {path}")
    }
}

/// A Kyverno path (`/spec/a/0/`) as a JSON pointer (`/spec/a/0`).
fn pointer_of(path: &str) -> String {
    path.trim_end_matches('/').to_string()
}

/// Evaluates `validate` (pattern, anyPattern, deny or foreach) on `object` (the resource, or
/// a foreach element). `base` is the JSON pointer of `object` in the resource.
fn validate_block(
    v: &Json,
    object: &Json,
    ctx: &Context,
    rule: &str,
    message: &str,
    base: &str,
    depth: usize,
) -> Verdict {
    if depth > 8 {
        return (Status::Error, "foreach nested too deeply".into(), None);
    }
    if let Some(p) = v.get("pattern") {
        let p = match super::vars::substitute_cow(p, ctx) {
            Ok(p) => p,
            Err(e) => {
                return (
                    Status::Error,
                    format!("variable substitution failed: {e}"),
                    None,
                );
            }
        };
        return match pattern::validate(object, &p) {
            Ok(()) => (
                Status::Pass,
                format!("validation rule '{rule}' passed."),
                None,
            ),
            Err(PatternError {
                skip: true,
                message: m,
                ..
            }) => (Status::Skip, format!("rule {rule} skipped: {m}"), None),
            Err(e) => (
                Status::Fail,
                fail_message(message, ctx, rule, &format!("{base}{}", e.path)),
                Some(format!("{base}{}", pointer_of(&e.path))),
            ),
        };
    }
    if let Some(Json::Array(patterns)) = v.get("anyPattern") {
        let mut failures = Vec::new();
        let mut first_pointer = None;
        let mut all_skip = true;
        for (i, p) in patterns.iter().enumerate() {
            let p = match super::vars::substitute_cow(p, ctx) {
                Ok(p) => p,
                Err(e) => {
                    return (
                        Status::Error,
                        format!("variable substitution failed: {e}"),
                        None,
                    );
                }
            };
            match pattern::validate(object, &p) {
                Ok(()) => {
                    return (
                        Status::Pass,
                        format!("validation rule '{rule}' anyPattern[{i}] passed."),
                        None,
                    );
                }
                Err(e) => {
                    if !e.skip {
                        all_skip = false;
                        first_pointer.get_or_insert(format!("{base}{}", pointer_of(&e.path)));
                    }
                    failures.push(format!("rule {rule}[{i}] failed at path {base}{}", e.path));
                }
            }
        }
        if all_skip && !patterns.is_empty() {
            return (
                Status::Skip,
                format!("rule {rule} skipped: no pattern applies"),
                None,
            );
        }
        let msg = render_message(message, ctx);
        let msg = msg.trim_end_matches('.');
        return (
            Status::Fail,
            format!("validation error: {msg}. {}", failures.join(" ")),
            first_pointer,
        );
    }
    if let Some(deny) = v.get("deny") {
        // `deny: {}` denies everything.
        let result = match deny.get("conditions").filter(|c| !c.is_null()) {
            None => Ok((true, None)),
            Some(conds) => conditions::evaluate(conds, ctx),
        };
        return match result {
            Ok((true, cond_msg)) => {
                let joined: Vec<&str> = [message, cond_msg.as_deref().unwrap_or("")]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect();
                let text = if joined.is_empty() {
                    format!("validation error: rule {rule} failed")
                } else {
                    render_message(&joined.join("; "), ctx)
                };
                (Status::Fail, text, None)
            }
            Ok((false, _)) => (
                Status::Pass,
                format!("validation rule '{rule}' passed."),
                None,
            ),
            Err(e) => (
                Status::Error,
                format!("failed to evaluate deny conditions: {e}"),
                None,
            ),
        };
    }
    if let Some(ps) = v.get("podSecurity") {
        return pod_security(ps, object, rule);
    }
    if let Some(Json::Array(each)) = v.get("foreach") {
        return foreach(each, ctx, rule, message, depth);
    }
    (
        Status::Error,
        format!("rule {rule}: nothing to validate"),
        None,
    )
}

/// `validate.podSecurity` on a Pod or on the Pod template of a controller.
fn pod_security(ps: &Json, object: &Json, rule: &str) -> Verdict {
    let level = ps.get("level").and_then(Json::as_str).unwrap_or("baseline");
    let version = ps.get("version").and_then(Json::as_str).unwrap_or("latest");
    let excludes: Vec<Json> = ps
        .get("exclude")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let (pod, prefix) = match object.get("kind").and_then(Json::as_str) {
        Some("Pod") => (object.clone(), ""),
        Some("CronJob") => match object.pointer("/spec/jobTemplate/spec/template") {
            Some(t) => (t.clone(), "/spec/jobTemplate/spec/template"),
            None => {
                return (
                    Status::Pass,
                    format!("validation rule '{rule}' passed."),
                    None,
                );
            }
        },
        _ => match object.pointer("/spec/template") {
            Some(t) => (t.clone(), "/spec/template"),
            None => {
                return (
                    Status::Pass,
                    format!("validation rule '{rule}' passed."),
                    None,
                );
            }
        },
    };
    let violations: Vec<super::pss::Violation> = super::pss::check(&pod, level)
        .into_iter()
        .filter(|v| !super::pss::excluded(v, &excludes))
        .collect();
    if violations.is_empty() {
        return (
            Status::Pass,
            format!("validation rule '{rule}' passed."),
            None,
        );
    }
    let reasons: Vec<String> = violations
        .iter()
        .map(|v| format!("{}: {}", v.control, v.reason))
        .collect();
    (
        Status::Fail,
        format!(
            "Validation rule '{rule}' failed. It violates PodSecurity \"{level}:{version}\": ({})",
            reasons.join("; ")
        ),
        Some(format!("{prefix}{}", violations[0].pointer)),
    )
}

/// The JSON pointer of a `request.object.a.b` list expression, when it is that simple.
fn list_pointer(expr: &str) -> Option<String> {
    let expr = expr.trim();
    let expr = expr.strip_suffix("[]").unwrap_or(expr);
    let rest = expr.strip_prefix("request.object.")?;
    if rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
    {
        Some(format!("/{}", rest.replace('.', "/")))
    } else {
        None
    }
}

fn foreach(each: &[Json], ctx: &Context, rule: &str, message: &str, depth: usize) -> Verdict {
    let mut applied = 0;
    let mut last_pass = None;
    for fe in each {
        let Some(list_expr) = fe.get("list").and_then(Json::as_str) else {
            return (
                Status::Error,
                format!("rule {rule}: foreach without `list`"),
                None,
            );
        };
        let expr = match substitute_str(list_expr, ctx) {
            Ok(Json::String(s)) => s,
            Ok(other) => render(&other),
            Err(e) => return (Status::Error, format!("foreach list: {e}"), None),
        };
        let elements = match ctx.query(&expr) {
            Ok(Json::Array(a)) => a,
            Ok(Json::Null) => Vec::new(),
            Ok(other) => vec![other],
            Err(e) => return (Status::Error, format!("foreach list: {e}"), None),
        };
        let base = list_pointer(&expr);
        for (i, el) in elements.iter().enumerate() {
            let mut ectx = ctx.with("element", el.clone());
            ectx.set_path("elementIndex", json!(i));
            ectx.set_path(&format!("elementIndex{depth}"), json!(i));
            if let Err((status, m)) =
                load_context(fe.get("context"), &mut ectx, &EvalOptions::default())
            {
                return (status, m, None);
            }
            if let Some(pre) = fe.get("preconditions") {
                match conditions::evaluate(pre, &ectx) {
                    Ok((true, _)) => {}
                    Ok((false, _)) => continue,
                    Err(e) => return (Status::Error, format!("foreach preconditions: {e}"), None),
                }
            }
            let el_base = base
                .as_ref()
                .map(|b| format!("{b}/{i}"))
                .unwrap_or_default();
            let nested = if fe.get("foreach").is_some() {
                json!({"foreach": fe.get("foreach").cloned().unwrap_or(Json::Null)})
            } else {
                fe.clone()
            };
            let (status, msg, ptr) =
                validate_block(&nested, el, &ectx, rule, message, &el_base, depth + 1);
            match status {
                Status::Pass => {
                    applied += 1;
                    last_pass = Some(msg);
                }
                Status::Skip => {}
                Status::Fail => {
                    let ptr = ptr.or_else(|| base.as_ref().map(|b| format!("{b}/{i}")));
                    return (Status::Fail, msg, ptr);
                }
                other => return (other, msg, ptr),
            }
        }
    }
    if applied == 0 {
        return (
            Status::Skip,
            format!("rule {rule} skipped: no element to validate"),
            None,
        );
    }
    (
        Status::Pass,
        last_pass.unwrap_or_else(|| format!("validation rule '{rule}' passed.")),
        None,
    )
}

/// The JSON pointer a failure path refers to, or the resource's kind when none is known.
pub fn placement(outcome: &Outcome) -> &str {
    outcome.pointer.as_deref().unwrap_or("/kind")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn policy(yaml: &str) -> Policy {
        let file = crate::yaml::YamlFile::parse(yaml);
        super::super::from_json(&file.docs[0].root().unwrap().to_json(), Path::new("p.yaml"))
            .unwrap()
    }

    #[test]
    fn background_scan_leaves_out_admission_only_policies_and_exceptions_skip() {
        let p = policy(
            "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: p}\nspec:\n  background: false\n  rules:\n  - name: r\n    match: {any: [{resources: {kinds: [Pod]}}]}\n    validate:\n      message: m\n      pattern: {spec: {hostNetwork: false}}\n",
        );
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"hostNetwork": true}});
        let admission = evaluate(&p, &pod, &EvalOptions::default());
        assert_eq!(admission.len(), 1);
        assert_eq!(admission[0].status, Status::Fail);
        let scan = EvalOptions {
            background_scan: true,
            ..Default::default()
        };
        assert!(evaluate(&p, &pod, &scan).is_empty());
        let exception = super::super::exception::from_json(
            &json!({"apiVersion": "kyverno.io/v2", "kind": "PolicyException",
                "metadata": {"name": "e", "namespace": "k"},
                "spec": {"exceptions": [{"policyName": "p", "ruleNames": ["r"]}],
                    "match": {"any": [{"resources": {"kinds": ["Pod"], "names": ["x"]}}]},
                    "conditions": {"any": [{"key": "{{ request.object.spec.hostNetwork }}", "operator": "Equals", "value": true}]}}}),
            Path::new("e.yaml"),
        )
        .unwrap();
        let opts = EvalOptions {
            exceptions: std::sync::Arc::new(vec![exception]),
            ..Default::default()
        };
        let out = evaluate(&p, &pod, &opts);
        assert_eq!(out[0].status, Status::Skip);
        assert_eq!(out[0].message, "rule skipped due to policy exception k/e");
        // Its conditions do not hold: the rule applies.
        let mut other = pod.clone();
        other["spec"]["hostNetwork"] = json!("yes");
        assert_eq!(evaluate(&p, &other, &opts)[0].status, Status::Fail);
    }

    #[test]
    fn pattern_deny_foreach_and_autogen() {
        let p = policy(
            "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: p}\nspec:\n  validationFailureAction: Enforce\n  rules:\n  - name: tag\n    match: {any: [{resources: {kinds: [Pod]}}]}\n    validate:\n      message: \"No latest for {{request.object.metadata.name}}.\"\n      pattern: {spec: {containers: [{image: '!*:latest'}]}}\n  - name: no-delete\n    match: {any: [{resources: {kinds: [Pod]}}]}\n    validate:\n      message: no host network\n      deny:\n        conditions:\n          any:\n          - {key: '{{ request.object.spec.hostNetwork || `false` }}', operator: Equals, value: true}\n  - name: each\n    match: {any: [{resources: {kinds: [Pod]}}]}\n    validate:\n      message: named ports\n      foreach:\n      - list: request.object.spec.containers\n        pattern: {name: 'web*'}\n",
        );
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"hostNetwork": true, "containers": [{"name": "web", "image": "nginx:latest"}, {"name": "db", "image": "pg:1"}]}});
        let out = evaluate(&p, &pod, &EvalOptions::default());
        assert_eq!(out[0].status, Status::Fail);
        assert_eq!(
            out[0].message,
            "validation error: No latest for x. rule tag failed at path /spec/containers/0/image/"
        );
        assert_eq!(out[0].pointer.as_deref(), Some("/spec/containers/0/image"));
        assert_eq!(out[1].status, Status::Fail);
        assert_eq!(out[1].message, "no host network");
        assert_eq!(out[2].status, Status::Fail);
        assert_eq!(out[2].pointer.as_deref(), Some("/spec/containers/1/name"));
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}});
        let out = evaluate(&p, &deploy, &EvalOptions::default());
        assert_eq!(
            out.iter()
                .map(|o| (o.rule.as_str(), o.status))
                .collect::<Vec<_>>(),
            vec![
                ("autogen-tag", Status::Pass),
                ("autogen-no-delete", Status::Pass),
                ("autogen-each", Status::Pass)
            ]
        );
        assert_eq!(parse_image("ghcr.io/a/b:1.2")["registry"], "ghcr.io");
        assert_eq!(parse_image("nginx")["tag"], "latest");
    }
}
