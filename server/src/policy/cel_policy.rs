//! CEL policies: Kyverno `validate.cel` rules in ClusterPolicy/Policy, Kyverno's
//! `ValidatingPolicy` (`policies.kyverno.io`) and the native `ValidatingAdmissionPolicy` with
//! its bindings (`admissionregistration.k8s.io/v1`). Expressions run on the CEL layer with the
//! variables admission gives them (`object`, `oldObject`, `request`, `params`,
//! `namespaceObject`, `variables`, Kyverno's `resource`/`http`/`image`).

use std::sync::Arc;

use serde_json::{Value as Json, json};

use super::engine::{EvalOptions, Status};
use super::matching::selector_matches;
use super::{FailureAction, Policy};
use crate::cel::{self, CelError, Value, Vars};

/// The result of a CEL rule: status, message, where (JSON pointer into the resource).
pub type Verdict = (Status, String, Option<String>);

/// Whether a document is a CEL policy kind this layer evaluates.
pub fn is_cel_policy(doc: &Json) -> bool {
    let api = doc.get("apiVersion").and_then(Json::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Json::as_str).unwrap_or("");
    (api.starts_with("policies.kyverno.io/") && kind == "ValidatingPolicy")
        || (api.starts_with("admissionregistration.k8s.io/") && kind == "ValidatingAdmissionPolicy")
}

/// Whether a document binds a ValidatingAdmissionPolicy.
pub fn is_binding(doc: &Json) -> bool {
    doc.get("apiVersion")
        .and_then(Json::as_str)
        .is_some_and(|a| a.starts_with("admissionregistration.k8s.io/"))
        && doc.get("kind").and_then(Json::as_str) == Some("ValidatingAdmissionPolicyBinding")
}

/// Pod controllers Kyverno generates ValidatingPolicy rules for, with where their Pod
/// template sits.
const CONTROLLERS: &[(&str, &str)] = &[
    ("DaemonSet", "/spec/template"),
    ("Deployment", "/spec/template"),
    ("Job", "/spec/template"),
    ("StatefulSet", "/spec/template"),
    ("ReplicaSet", "/spec/template"),
    ("ReplicationController", "/spec/template"),
    ("CronJob", "/spec/jobTemplate/spec/template"),
];

/// Where the Pod template of a controller sits, if `resource` is one.
pub fn template_pointer(resource: &Json) -> Option<&'static str> {
    let kind = resource.get("kind").and_then(Json::as_str)?;
    CONTROLLERS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, p)| *p)
        .filter(|p| resource.pointer(p).is_some())
}

/// [`pod_of`], made once per resource and template (shared by every policy evaluated on it).
pub fn pod_shared(ctx: &super::vars::Context, resource: &Json, template: &str) -> Arc<Json> {
    ctx.memo(&format!("pod {template}"), || pod_of(resource, template))
}

/// The Pod a controller's template describes (what autogen rules see as `object`).
pub fn pod_of(resource: &Json, template: &str) -> Json {
    let t = resource.pointer(template).cloned().unwrap_or(Json::Null);
    let mut meta = t.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let (Some(m), Some(ns)) = (
        meta.as_object_mut(),
        resource.pointer("/metadata/namespace").cloned(),
    ) {
        m.entry("namespace").or_insert(ns);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": t.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

/// What an evaluation sees.
pub struct Input<'a> {
    /// The object the expressions see (the resource, or the Pod of a controller's template).
    pub object: &'a Json,
    /// Where `object` sits in the resource ("" or the template's pointer).
    pub base: &'a str,
    pub opts: &'a EvalOptions,
    /// The resource's request context (shared by every policy evaluated on it).
    ctx: &'a super::vars::Context,
}

/// The admission request CEL sees, from the request context the engine prepared once per
/// resource, with `object` as the expressions see it.
fn request_json(ctx: &super::vars::Context, object: &Json) -> Json {
    let mut req = ctx.query("request").unwrap_or_else(|_| json!({}));
    if let Some(r) = req.as_object_mut() {
        r.insert("object".into(), object.clone());
        let ui = r.entry("userInfo").or_insert_with(|| json!({}));
        if let Some(ui) = ui.as_object_mut() {
            ui.entry("username").or_insert_with(|| json!(""));
            ui.entry("groups").or_insert_with(|| json!([]));
        }
        let kind = object.get("kind").and_then(Json::as_str).unwrap_or("");
        r.insert(
            "resource".into(),
            json!({"resource": crate::cel::kyverno::plural(kind)}),
        );
    }
    req
}

impl<'a> Input<'a> {
    pub fn new(
        ctx: &'a super::vars::Context,
        object: &'a Json,
        base: &'a str,
        opts: &'a EvalOptions,
    ) -> Self {
        Input {
            object,
            base,
            opts,
            ctx,
        }
    }

    /// The variables of an evaluation: those of the request, converted once per resource and
    /// object, plus `params`.
    fn vars(&self, params: Option<&Json>) -> Vars {
        let shared = self
            .ctx
            .memo(&format!("cel-vars {}", self.base), || self.request_vars());
        let mut v = Vars::layered(shared);
        v.set_json("params", params.unwrap_or(&Json::Null));
        v
    }

    /// `object`, `oldObject`, `request`, `namespaceObject` and the libraries' variables.
    fn request_vars(&self) -> Vars {
        let request = request_json(self.ctx, self.object);
        let mut v = Vars::new();
        let op = request
            .get("operation")
            .and_then(Json::as_str)
            .unwrap_or("CREATE");
        v.set_json(
            "object",
            if op == "DELETE" {
                &Json::Null
            } else {
                self.object
            },
        );
        v.set_json(
            "oldObject",
            if op == "UPDATE" || op == "DELETE" {
                self.object
            } else {
                &Json::Null
            },
        );
        v.set_json("request", &request);
        let ns = self
            .object
            .pointer("/metadata/namespace")
            .and_then(Json::as_str)
            .unwrap_or("");
        let known = self.opts.cel_resources.iter().find(|r| {
            r.get("kind").and_then(Json::as_str) == Some("Namespace")
                && r.pointer("/metadata/name").and_then(Json::as_str) == Some(ns)
        });
        let ns_obj = if ns.is_empty() {
            Json::Null
        } else if let Some(known) = known {
            let mut n = known.clone();
            if let (Some(labels), Some(m)) = (
                &self.opts.request.namespace_labels,
                n.get_mut("metadata").and_then(Json::as_object_mut),
            ) {
                m.entry("labels")
                    .or_insert_with(|| Json::Object(labels.clone()));
            }
            n
        } else {
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "labels": self.opts.request.namespace_labels.clone().unwrap_or_default(),
                },
            })
        };
        v.set_json("namespaceObject", &ns_obj);
        v.set_value(
            "resource",
            crate::cel::kyverno::resource_lib(self.opts.cel_resources.clone()),
        );
        for (name, value) in crate::cel::kyverno::network_libs() {
            v.set_value(name, value);
        }
        v
    }
}

/// A CEL error as a verdict.
fn error_verdict(what: &str, e: CelError) -> Verdict {
    match e {
        CelError::Unsupported(m) => (
            Status::Unsupported,
            format!("needs cluster data: {m}"),
            None,
        ),
        other => (Status::Error, format!("{what}: {other}"), None),
    }
}

/// Evaluates `variables` (a list of `{name, expression}`) in order into the `variables` map;
/// a variable that fails is left out (using it then fails with its name). The map is bound
/// again only before an expression that reads `variables`, and at the end.
fn bind_variables(list: Option<&Json>, vars: &mut Vars) -> Result<(), Verdict> {
    let mut map = cel::VarMap::default();
    let mut bound = false;
    for var in list.and_then(Json::as_array).into_iter().flatten() {
        let (Some(name), Some(expr)) = (
            var.get("name").and_then(Json::as_str),
            var.get("expression").and_then(Json::as_str),
        ) else {
            continue;
        };
        if !bound && expr.contains("variables") {
            vars.set_map("variables", &map);
            bound = true;
        }
        match cel::eval_str(expr, vars) {
            Ok(v) => {
                map.insert(name, v);
                bound = false;
            }
            Err(CelError::Unsupported(m)) => {
                return Err((
                    Status::Unsupported,
                    format!("needs cluster data: {m}"),
                    None,
                ));
            }
            Err(_) => {}
        }
    }
    if !bound {
        vars.set_map("variables", &map);
    }
    Ok(())
}

/// `matchConditions`/`celPreconditions`: Some(verdict) when they stop the evaluation (skip or
/// error), None when all hold.
fn conditions_hold(list: Option<&Json>, vars: &Vars) -> Option<Verdict> {
    for c in list.and_then(Json::as_array).into_iter().flatten() {
        let Some(expr) = c.get("expression").and_then(Json::as_str) else {
            continue;
        };
        let name = c.get("name").and_then(Json::as_str).unwrap_or(expr);
        match cel::eval_str(expr, vars) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => {
                return Some((
                    Status::Skip,
                    format!("match condition {name} not met"),
                    None,
                ));
            }
            Ok(other) => {
                return Some((
                    Status::Error,
                    format!(
                        "match condition {name} must evaluate to bool, got {}",
                        cel::display(&other)
                    ),
                    None,
                ));
            }
            Err(e) => return Some(error_verdict(&format!("match condition {name}"), e)),
        }
    }
    None
}

/// Runs `validations` (`{expression, message, messageExpression, reason}`): the first that
/// fails decides.
fn run_validations(list: Option<&Json>, vars: &Vars, base: &str) -> Verdict {
    run_validations_with(list, vars, base, false)
}

/// As [`run_validations`]; `ignore_errors` (failurePolicy: Ignore) lets an expression that
/// cannot be evaluated pass instead of deny.
fn run_validations_with(
    list: Option<&Json>,
    vars: &Vars,
    base: &str,
    ignore_errors: bool,
) -> Verdict {
    let mut failures: Vec<(String, Option<String>)> = Vec::new();
    for val in list.and_then(Json::as_array).into_iter().flatten() {
        let Some(expr) = val.get("expression").and_then(Json::as_str) else {
            continue;
        };
        let compiled = match cel::compile(expr) {
            Ok(c) => c,
            Err(e) => return error_verdict(&format!("expression '{expr}'"), e),
        };
        match cel::eval(&compiled, vars) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => {
                let message = val
                    .get("messageExpression")
                    .and_then(Json::as_str)
                    .and_then(|m| match cel::eval_str(m, vars) {
                        Ok(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
                        _ => None,
                    })
                    .or_else(|| {
                        val.get("message")
                            .and_then(Json::as_str)
                            .map(|m| m.trim().to_string())
                            .filter(|m| !m.is_empty())
                    })
                    .unwrap_or_else(|| format!("failed expression: {}", expr.trim()));
                let pointer = cel::first_read(&compiled, "object")
                    .map(|p| format!("{base}{}", cel::pointer(&p)));
                failures.push((message, pointer));
            }
            Ok(other) => {
                return (
                    Status::Error,
                    format!(
                        "expression '{}' must evaluate to bool, got {}",
                        expr.trim(),
                        cel::display(&other)
                    ),
                    None,
                );
            }
            // An expression that fails to evaluate denies the request, as the API server
            // does with failurePolicy Fail (the default).
            Err(CelError::Eval(_)) if ignore_errors => {}
            Err(CelError::Eval(e)) => {
                let pointer = cel::first_read(&compiled, "object")
                    .map(|p| format!("{base}{}", cel::pointer(&p)));
                failures.push((format!("expression '{}' failed: {e}", expr.trim()), pointer));
            }
            Err(e) => return error_verdict(&format!("expression '{}'", expr.trim()), e),
        }
    }
    match failures.first() {
        None => (Status::Pass, String::new(), None),
        Some((_, pointer)) => (
            Status::Fail,
            failures
                .iter()
                .map(|(m, _)| m.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            pointer.clone(),
        ),
    }
}

/// A parameter resource from the local resources: `paramKind` + `paramRef` (name or selector).
fn find_params(
    kind: Option<&Json>,
    reference: Option<&Json>,
    object_ns: &str,
    opts: &EvalOptions,
) -> Result<Option<Json>, Verdict> {
    let (Some(kind), Some(reference)) = (kind, reference) else {
        return Ok(None);
    };
    let api = kind.get("apiVersion").and_then(Json::as_str).unwrap_or("");
    let k = kind.get("kind").and_then(Json::as_str).unwrap_or("");
    let name = reference.get("name").and_then(Json::as_str);
    let ns = reference
        .get("namespace")
        .and_then(Json::as_str)
        .unwrap_or(object_ns);
    let found = opts.cel_resources.iter().find(|r| {
        let s = |p: &str| r.pointer(p).and_then(Json::as_str).unwrap_or("");
        s("/apiVersion") == api
            && s("/kind") == k
            && (ns.is_empty()
                || s("/metadata/namespace").is_empty()
                || s("/metadata/namespace") == ns)
            && match name {
                Some(n) => s("/metadata/name") == n,
                None => reference.get("selector").is_none_or(|sel| {
                    selector_matches(
                        sel,
                        r.pointer("/metadata/labels")
                            .and_then(Json::as_object)
                            .unwrap_or(&serde_json::Map::new()),
                    )
                }),
            }
    });
    match found {
        Some(p) => Ok(Some(p.clone())),
        None => {
            let action = reference
                .get("parameterNotFoundAction")
                .and_then(Json::as_str)
                .unwrap_or("Deny");
            if action == "Allow" {
                Err((
                    Status::Skip,
                    "parameter resource not found (Allow)".into(),
                    None,
                ))
            } else {
                Err((
                    Status::Unsupported,
                    format!(
                        "needs cluster data: parameter {k} {}{} is not among the local resources",
                        if ns.is_empty() {
                            String::new()
                        } else {
                            format!("{ns}/")
                        },
                        name.unwrap_or("(by selector)")
                    ),
                    None,
                ))
            }
        }
    }
}

/// Kyverno `validate.cel` of a ClusterPolicy/Policy rule (`celPreconditions` on the rule).
pub fn evaluate_validate_cel(rule: &Json, input: &Input) -> Verdict {
    let cel_block = rule.pointer("/validate/cel").unwrap_or(&Json::Null);
    let ns = input
        .object
        .pointer("/metadata/namespace")
        .and_then(Json::as_str)
        .unwrap_or("");
    let params = match find_params(
        cel_block.get("paramKind"),
        cel_block.get("paramRef"),
        ns,
        input.opts,
    ) {
        Ok(p) => p,
        Err(v) => return v,
    };
    let mut vars = input.vars(params.as_ref());
    if let Err(v) = bind_variables(cel_block.get("variables"), &mut vars) {
        return v;
    }
    if let Some(v) = conditions_hold(rule.get("celPreconditions"), &vars) {
        return match v.0 {
            Status::Skip => (Status::Skip, "cel preconditions not met".into(), None),
            _ => v,
        };
    }
    run_validations(cel_block.get("expressions"), &vars, input.base)
}

/// Whether `rules` (`resourceRules` of matchConstraints/matchResources) select the resource.
fn resource_rules_match(rules: Option<&Json>, resource: &Json, operation: &str) -> bool {
    let api = resource
        .get("apiVersion")
        .and_then(Json::as_str)
        .unwrap_or("");
    let (group, version) = crate::schema::split_api_version(api);
    let plural =
        crate::cel::kyverno::plural(resource.get("kind").and_then(Json::as_str).unwrap_or(""));
    let has = |list: Option<&Json>, want: &str, empty_all: bool| match list.and_then(Json::as_array)
    {
        None => empty_all,
        Some(a) => a
            .iter()
            .filter_map(Json::as_str)
            .any(|x| x == "*" || x.eq_ignore_ascii_case(want)),
    };
    rules
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .any(|r| {
            has(r.get("apiGroups"), group, true)
                && has(r.get("apiVersions"), version, true)
                && has(r.get("resources"), &plural, false)
                && has(r.get("operations"), operation, true)
                && r.get("resourceNames")
                    .and_then(Json::as_array)
                    .filter(|a| !a.is_empty())
                    .is_none_or(|names| {
                        let n = resource
                            .pointer("/metadata/name")
                            .and_then(Json::as_str)
                            .unwrap_or("");
                        names.iter().any(|x| x.as_str() == Some(n))
                    })
        })
}

/// `matchConstraints` (or a binding's `matchResources`) on a resource.
fn constraints_match(mc: &Json, resource: &Json, opts: &EvalOptions, operation: &str) -> bool {
    if !resource_rules_match(mc.get("resourceRules"), resource, operation) {
        return false;
    }
    if mc.get("excludeResourceRules").is_some()
        && resource_rules_match(mc.get("excludeResourceRules"), resource, operation)
    {
        return false;
    }
    let empty = serde_json::Map::new();
    if let Some(sel) = mc.get("objectSelector") {
        let labels = resource
            .pointer("/metadata/labels")
            .and_then(Json::as_object)
            .unwrap_or(&empty);
        if !selector_matches(sel, labels) {
            return false;
        }
    }
    if let Some(sel) = mc.get("namespaceSelector") {
        let namespaced = resource
            .pointer("/metadata/namespace")
            .and_then(Json::as_str)
            .is_some_and(|n| !n.is_empty());
        if namespaced {
            let labels = opts.request.namespace_labels.as_ref().unwrap_or(&empty);
            if !selector_matches(sel, labels) {
                return false;
            }
        }
    }
    true
}

fn operation(opts: &EvalOptions) -> &str {
    if opts.request.operation.is_empty() {
        "CREATE"
    } else {
        &opts.request.operation
    }
}

/// The controllers a ValidatingPolicy's autogen covers (none when turned off).
fn autogen_kinds(policy: &Policy) -> Vec<String> {
    if policy.kind != "ValidatingPolicy" {
        return Vec::new();
    }
    if let Some(a) = policy
        .annotations
        .get("pod-policies.kyverno.io/autogen-controllers")
        .and_then(Json::as_str)
    {
        if a.eq_ignore_ascii_case("none") {
            return Vec::new();
        }
        return a.split(',').map(|s| s.trim().to_string()).collect();
    }
    match policy
        .raw
        .pointer("/spec/autogen/podControllers/controllers")
        .and_then(Json::as_array)
    {
        Some(list) => list
            .iter()
            .filter_map(Json::as_str)
            .filter_map(|c| {
                CONTROLLERS
                    .iter()
                    .find(|(k, _)| {
                        crate::cel::kyverno::plural(k) == c.to_ascii_lowercase()
                            || k.eq_ignore_ascii_case(c)
                    })
                    .map(|(k, _)| k.to_string())
            })
            .collect(),
        None => CONTROLLERS.iter().map(|(k, _)| k.to_string()).collect(),
    }
}

/// One evaluation of a ValidatingPolicy / ValidatingAdmissionPolicy (per binding for VAPs):
/// the action it carries and its verdict.
/// `ctx` is the resource's request context, prepared once by the engine.
pub fn evaluate_policy(
    policy: &Policy,
    resource: &Json,
    ctx: &super::vars::Context,
    opts: &EvalOptions,
) -> Vec<(FailureAction, Verdict)> {
    let spec = policy.raw.get("spec").unwrap_or(&Json::Null);
    let op = operation(opts);
    let mc = spec.get("matchConstraints").unwrap_or(&Json::Null);
    // The resource itself, or the Pod of a controller's template (autogen).
    let pod;
    let (object, base): (&Json, &str) = if constraints_match(mc, resource, opts, op) {
        (resource, "")
    } else {
        let kind = resource.get("kind").and_then(Json::as_str).unwrap_or("");
        match template_pointer(resource) {
            Some(t) if autogen_kinds(policy).iter().any(|k| k == kind) => {
                pod = pod_shared(ctx, resource, t);
                if !constraints_match(mc, &pod, opts, op) {
                    return Vec::new();
                }
                (&pod, t)
            }
            _ => return Vec::new(),
        }
    };
    let input = Input::new(ctx, object, base, opts);
    let ns = object
        .pointer("/metadata/namespace")
        .and_then(Json::as_str)
        .unwrap_or("");
    // ValidatingAdmissionPolicy: once per binding (unbound: evaluated as a warning).
    let mut runs: Vec<(FailureAction, Option<&Json>, Option<&Json>)> = Vec::new();
    if policy.kind == "ValidatingAdmissionPolicy" {
        for b in &policy.bindings {
            let bspec = b.get("spec").unwrap_or(&Json::Null);
            if let Some(mr) = bspec.get("matchResources")
                && mr.get("resourceRules").is_some()
                && !constraints_match(mr, object, opts, op)
            {
                continue;
            }
            runs.push((
                actions(bspec.get("validationActions")),
                bspec.get("paramRef"),
                Some(b),
            ));
        }
        if policy.bindings.is_empty() {
            runs.push((FailureAction::Audit, None, None));
        }
    } else {
        runs.push((
            actions(spec.get("validationActions")),
            spec.get("paramRef"),
            None,
        ));
    }
    let mut out = Vec::new();
    for (action, param_ref, _) in runs {
        let params = match find_params(spec.get("paramKind"), param_ref, ns, opts) {
            Ok(p) => p,
            Err(v) => {
                out.push((action, v));
                continue;
            }
        };
        let mut vars = input.vars(params.as_ref());
        if let Err(v) = bind_variables(spec.get("variables"), &mut vars) {
            out.push((action, v));
            continue;
        }
        if let Some(v) = conditions_hold(spec.get("matchConditions"), &vars) {
            out.push((action, v));
            continue;
        }
        let ignore = spec.get("failurePolicy").and_then(Json::as_str) == Some("Ignore");
        out.push((
            action,
            run_validations_with(spec.get("validations"), &vars, base, ignore),
        ));
    }
    out
}

/// A `validationActions` list as a failure action: Deny (or none given) enforces.
pub(crate) fn actions(v: Option<&Json>) -> FailureAction {
    let deny = v
        .and_then(Json::as_array)
        .is_none_or(|a| a.iter().any(|x| x.as_str() == Some("Deny")));
    if deny {
        FailureAction::Enforce
    } else {
        FailureAction::Audit
    }
}

/// Binds the ValidatingAdmissionPolicyBindings to their policies.
pub fn attach_bindings(policies: &mut [Policy], bindings: &[Json]) {
    for p in policies
        .iter_mut()
        .filter(|p| p.kind == "ValidatingAdmissionPolicy")
    {
        for b in bindings {
            if b.pointer("/spec/policyName").and_then(Json::as_str) == Some(p.name.as_str())
                && !p.bindings.contains(b)
            {
                p.bindings.push(b.clone());
            }
        }
    }
}

/// Resources known locally for `resource.Get` and params, shared by evaluations.
pub type Locals = Arc<Vec<Json>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(doc: Json) -> Policy {
        crate::policy::from_json(&doc, std::path::Path::new("p.yaml")).unwrap()
    }

    fn vap(actions: Option<&[&str]>) -> Policy {
        let mut p = policy(json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "max-replicas"},
            "spec": {
                "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"]}]},
                "validations": [{"expression": "object.spec.replicas <= 3", "message": "at most 3 replicas"}]
            }
        }));
        if let Some(a) = actions {
            attach_bindings(
                std::slice::from_mut(&mut p),
                &[json!({
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingAdmissionPolicyBinding",
                    "metadata": {"name": "b"},
                    "spec": {"policyName": "max-replicas", "validationActions": a}
                })],
            );
        }
        p
    }

    fn ctx_of(resource: &Json) -> crate::policy::vars::Context {
        crate::policy::engine::request_context(resource, &EvalOptions::default())
    }

    fn deploy(replicas: i64) -> Json {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
               "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx:latest"}]}}}})
    }

    #[test]
    fn binding_actions_decide_the_severity() {
        let opts = EvalOptions::default();
        let deny = evaluate_policy(
            &vap(Some(&["Deny"])),
            &deploy(5),
            &ctx_of(&deploy(5)),
            &opts,
        );
        assert_eq!(deny.len(), 1);
        assert_eq!(deny[0].0, FailureAction::Enforce);
        assert_eq!(deny[0].1.0, Status::Fail);
        assert_eq!(deny[0].1.1, "at most 3 replicas");
        assert_eq!(deny[0].1.2.as_deref(), Some("/spec/replicas"));
        let warn = evaluate_policy(
            &vap(Some(&["Warn", "Audit"])),
            &deploy(5),
            &ctx_of(&deploy(5)),
            &opts,
        );
        assert_eq!(warn[0].0, FailureAction::Audit);
        // Unbound: evaluated as a warning.
        let unbound = evaluate_policy(&vap(None), &deploy(5), &ctx_of(&deploy(5)), &opts);
        assert_eq!(unbound[0].0, FailureAction::Audit);
        assert_eq!(
            evaluate_policy(
                &vap(Some(&["Deny"])),
                &deploy(2),
                &ctx_of(&deploy(2)),
                &opts
            )[0]
            .1
            .0,
            Status::Pass
        );
        // Another kind does not match.
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
        assert!(evaluate_policy(&vap(Some(&["Deny"])), &pod, &ctx_of(&pod), &opts).is_empty());
    }

    #[test]
    fn validating_policy_autogen_sees_the_pod_and_places_findings_in_the_template() {
        let p = policy(json!({
            "apiVersion": "policies.kyverno.io/v1alpha1",
            "kind": "ValidatingPolicy",
            "metadata": {"name": "no-latest"},
            "spec": {
                "validationActions": ["Audit"],
                "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}]},
                "validations": [{"expression": "object.spec.containers.all(c, !c.image.endsWith(':latest'))", "messageExpression": "'latest is mutable: ' + object.spec.containers[0].image"}]
            }
        }));
        let out = evaluate_policy(&p, &deploy(1), &ctx_of(&deploy(1)), &EvalOptions::default());
        assert_eq!(out.len(), 1);
        let (action, (status, message, pointer)) = &out[0];
        assert_eq!(*action, FailureAction::Audit);
        assert_eq!(*status, Status::Fail);
        assert_eq!(message, "latest is mutable: nginx:latest");
        assert_eq!(
            pointer.as_deref(),
            Some("/spec/template/spec/containers/image")
        );
    }

    #[test]
    fn errors_deny_unless_failure_policy_ignores_them_and_conditions_skip() {
        let mk = |failure: &str, condition: &str| {
            policy(json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": "e"},
                "spec": {
                    "failurePolicy": failure,
                    "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"]}]},
                    "matchConditions": [{"name": "c", "expression": condition}],
                    "validations": [{"expression": "object.spec.missing == 1"}]
                }
            }))
        };
        let opts = EvalOptions::default();
        let fail = evaluate_policy(&mk("Fail", "true"), &deploy(1), &ctx_of(&deploy(1)), &opts);
        assert_eq!(fail[0].1.0, Status::Fail);
        assert!(
            fail[0].1.1.contains("no such key: missing"),
            "{}",
            fail[0].1.1
        );
        let ignored = evaluate_policy(
            &mk("Ignore", "true"),
            &deploy(1),
            &ctx_of(&deploy(1)),
            &opts,
        );
        assert_eq!(ignored[0].1.0, Status::Pass);
        let skipped = evaluate_policy(
            &mk("Fail", "object.spec.replicas > 5"),
            &deploy(1),
            &ctx_of(&deploy(1)),
            &opts,
        );
        assert_eq!(skipped[0].1.0, Status::Skip);
    }

    #[test]
    fn malformed_cel_policies_are_load_errors() {
        let path = std::path::Path::new("p.yaml");
        let doc = json!({"apiVersion": "policies.kyverno.io/v1alpha1", "kind": "ValidatingPolicy", "metadata": {"name": "x"}, "spec": {}});
        assert!(
            crate::policy::from_json(&doc, path)
                .unwrap_err()
                .contains("spec.validations")
        );
        let doc = json!({"apiVersion": "policies.kyverno.io/v1alpha1", "kind": "ValidatingPolicy", "metadata": {"name": "x"}, "spec": {"validations": [{"message": "m"}]}});
        assert!(
            crate::policy::from_json(&doc, path)
                .unwrap_err()
                .contains("no expression")
        );
    }
}
