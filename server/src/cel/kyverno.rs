//! Kyverno's CEL libraries, as far as a local evaluation can answer them:
//! - `resource.Get(apiVersion, resource, namespace, name)` and `resource.List(apiVersion,
//!   resource, namespace)` from the resources known locally (a test's context file, the files
//!   given as parameters); a resource not known locally is an error naming it;
//! - `parseServiceAccount(username)` → `{Namespace, Name}`;
//! - `time.now()`;
//! - `http.Get`/`http.Post` and `image.GetMetadata` need the network: evaluating them says so
//!   (the rule is reported as needing cluster data, not as passed or failed).

use std::sync::Arc;

use cel::common::types::DYN_TYPE;
use cel::objects::{Key, Map, Opaque};
use serde_json::Value as Json;

use super::{Value, fn_error, to_value};
use crate::cel_value_fn;

/// The start of a function error that means "needs data usher does not have locally".
pub const UNSUPPORTED: &str = "[needs cluster data]";

/// The resources `resource.Get`/`resource.List` answer from.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResourceLib {
    pub items: Arc<Vec<Json>>,
}

impl Opaque for ResourceLib {
    fn runtime_type_name(&self) -> &str {
        "kyverno.resource"
    }
}

/// A library Kyverno offers that needs the network (`http`, `image`).
#[derive(Debug, PartialEq, Eq)]
pub struct NetworkLib(pub &'static str);

impl Opaque for NetworkLib {
    fn runtime_type_name(&self) -> &str {
        self.0
    }
}

/// The value of the `resource` variable.
pub fn resource_lib(items: Arc<Vec<Json>>) -> Value {
    Value::Opaque(Arc::new(ResourceLib { items }))
}

/// The values of the `http` and `image` variables.
pub fn network_libs() -> [(&'static str, Value); 2] {
    [
        ("http", Value::Opaque(Arc::new(NetworkLib("kyverno.http")))),
        (
            "image",
            Value::Opaque(Arc::new(NetworkLib("kyverno.image"))),
        ),
    ]
}

fn string_arg<'a>(function: &str, v: &'a Value) -> Result<&'a str, cel::ExecutionError> {
    match v {
        Value::String(s) => Ok(s.as_str()),
        other => Err(fn_error(
            function,
            format!("expected a string argument, got {:?}", other.type_of()),
        )),
    }
}

/// The resource name (plural, lower case) Kubernetes serves a kind under.
pub fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s')
        || lower.ends_with("sh")
        || lower.ends_with("ch")
        || lower.ends_with('x')
    {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

fn lib<'a>(function: &str, v: &'a Value) -> Result<&'a ResourceLib, cel::ExecutionError> {
    match v {
        Value::Opaque(o) => o
            .downcast_ref::<ResourceLib>()
            .ok_or_else(|| fn_error(function, "not called on the resource library")),
        _ => Err(fn_error(function, "not called on the resource library")),
    }
}

fn matches(item: &Json, api: &str, resource: &str, namespace: &str) -> bool {
    let s = |p: &str| item.pointer(p).and_then(Json::as_str).unwrap_or("");
    s("/apiVersion") == api
        && plural(s("/kind")) == resource.to_ascii_lowercase()
        && (namespace.is_empty()
            || s("/metadata/namespace") == namespace
            || (s("/metadata/namespace").is_empty() && namespace == "default"))
}

fn resource_get(args: &[Value]) -> Result<Value, cel::ExecutionError> {
    const F: &str = "resource.Get";
    let [this, api, res, ns, name] = args else {
        return Err(cel::ExecutionError::invalid_argument_count(
            4,
            args.len().saturating_sub(1),
        ));
    };
    let lib = lib(F, this)?;
    let (api, res, ns, name) = (
        string_arg(F, api)?,
        string_arg(F, res)?,
        string_arg(F, ns)?,
        string_arg(F, name)?,
    );
    lib.items
        .iter()
        .find(|i| {
            matches(i, api, res, ns)
                && i.pointer("/metadata/name").and_then(Json::as_str) == Some(name)
        })
        .map(to_value)
        .ok_or_else(|| {
            let place = if ns.is_empty() { String::new() } else { format!(" in namespace {ns}") };
            fn_error(
                F,
                format!("{UNSUPPORTED} {api} {res} {name}{place} is not among the resources known locally"),
            )
        })
}

fn resource_list(args: &[Value]) -> Result<Value, cel::ExecutionError> {
    const F: &str = "resource.List";
    let [this, api, res, ns] = args else {
        return Err(cel::ExecutionError::invalid_argument_count(
            3,
            args.len().saturating_sub(1),
        ));
    };
    let lib = lib(F, this)?;
    let (api, res, ns) = (string_arg(F, api)?, string_arg(F, res)?, string_arg(F, ns)?);
    let items: Vec<Value> = lib
        .items
        .iter()
        .filter(|i| matches(i, api, res, ns))
        .map(to_value)
        .collect();
    let mut map = std::collections::HashMap::new();
    map.insert(
        Key::String(Arc::new("items".into())),
        Value::List(Arc::new(items)),
    );
    Ok(Value::Map(Map { map: Arc::new(map) }))
}

fn needs_network(args: &[Value]) -> Result<Value, cel::ExecutionError> {
    let what = match args.first() {
        Some(Value::Opaque(o)) if o.runtime_type_name() == "kyverno.image" => {
            "image metadata from a registry"
        }
        _ => "an HTTP call",
    };
    Err(fn_error(
        "kyverno",
        format!("{UNSUPPORTED} {what} is not made by a local evaluation"),
    ))
}

fn parse_service_account(args: &[Value]) -> Result<Value, cel::ExecutionError> {
    const F: &str = "parseServiceAccount";
    let [user] = args else {
        return Err(cel::ExecutionError::invalid_argument_count(1, args.len()));
    };
    let user = string_arg(F, user)?;
    let (ns, name) = match user.strip_prefix("system:serviceaccount:") {
        Some(rest) => rest.split_once(':').unwrap_or(("", "")),
        None => ("", ""),
    };
    let mut map = std::collections::HashMap::new();
    map.insert(Key::String(Arc::new("Namespace".into())), Value::from(ns));
    map.insert(Key::String(Arc::new("Name".into())), Value::from(name));
    Ok(Value::Map(Map { map: Arc::new(map) }))
}

/// `x.orValue(y)` on a value that is not optional gives `x`: the policy library writes
/// `container.securityContext.capabilities.add.orValue([])` after a presence test, and Kyverno
/// evaluates it so.
fn or_value_plain(args: &[Value]) -> Result<Value, cel::ExecutionError> {
    match args {
        [Value::Opaque(o), default] => match o.downcast_ref::<cel::objects::OptionalValue>() {
            Some(opt) => Ok(opt.value().cloned().unwrap_or_else(|| default.clone())),
            None => Ok(Value::Opaque(o.clone())),
        },
        [this, _] => Ok(this.clone()),
        _ => Err(cel::ExecutionError::invalid_argument_count(
            1,
            args.len().saturating_sub(1),
        )),
    }
}

fn time_now(_: &[Value]) -> Result<Value, cel::ExecutionError> {
    Ok(Value::Timestamp(chrono::Utc::now().fixed_offset()))
}

cel_value_fn!(resource_get_fn => resource_get);
cel_value_fn!(resource_list_fn => resource_list);
cel_value_fn!(needs_network_fn => needs_network);
cel_value_fn!(parse_service_account_fn => parse_service_account);
cel_value_fn!(time_now_fn => time_now);
cel_value_fn!(or_value_plain_fn => or_value_plain);

pub fn register(env: &mut cel::Env) -> Result<(), cel::DeclarationError> {
    let d = || DYN_TYPE;
    env.add_member_overload(
        "Get",
        "kyverno_resource_get",
        d(),
        vec![d(), d(), d(), d()],
        resource_get_fn,
    )?;
    env.add_member_overload(
        "List",
        "kyverno_resource_list",
        d(),
        vec![d(), d(), d()],
        resource_list_fn,
    )?;
    env.add_member_overload("Get", "kyverno_http_get", d(), vec![d()], needs_network_fn)?;
    env.add_member_overload(
        "Get",
        "kyverno_http_get_headers",
        d(),
        vec![d(), d()],
        needs_network_fn,
    )?;
    env.add_member_overload(
        "Post",
        "kyverno_http_post",
        d(),
        vec![d(), d()],
        needs_network_fn,
    )?;
    env.add_member_overload(
        "Post",
        "kyverno_http_post_headers",
        d(),
        vec![d(), d(), d()],
        needs_network_fn,
    )?;
    env.add_member_overload(
        "GetMetadata",
        "kyverno_image_metadata",
        d(),
        vec![d()],
        needs_network_fn,
    )?;
    env.add_overload(
        "parseServiceAccount",
        "kyverno_parse_service_account",
        vec![d()],
        parse_service_account_fn,
    )?;
    env.add_member_overload(
        super::OR_VALUE,
        "usher_or_value",
        d(),
        vec![d()],
        or_value_plain_fn,
    )?;
    env.add_overload("time.now", "kyverno_time_now", vec![], time_now_fn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{CelError, Vars, eval_str};
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.set_value(
            "resource",
            resource_lib(Arc::new(vec![
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "regs", "namespace": "default"}, "data": {"registries": "ghcr.io"}}),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"exec": "no"}}}),
            ])),
        );
        for (name, value) in network_libs() {
            v.set_value(name, value);
        }
        v
    }

    #[test]
    fn resource_get_and_list_answer_from_local_resources() {
        let v = vars();
        assert_eq!(
            eval_str(
                "resource.Get('v1', 'configmaps', 'default', 'regs').data.registries",
                &v
            ),
            Ok(Value::from("ghcr.io"))
        );
        assert_eq!(
            eval_str(
                "resource.Get('v1', 'namespaces', '', 'prod').metadata.labels.exec",
                &v
            ),
            Ok(Value::from("no"))
        );
        assert_eq!(
            eval_str("size(resource.List('v1', 'configmaps', '').items)", &v),
            Ok(Value::Int(1))
        );
        assert!(matches!(
            eval_str("resource.Get('v1', 'configmaps', 'default', 'other')", &v),
            Err(CelError::Unsupported(m)) if m.contains("other")
        ));
    }

    #[test]
    fn network_calls_need_cluster_data() {
        let v = vars();
        assert!(matches!(
            eval_str("http.Get('https://example.invalid')", &v),
            Err(CelError::Unsupported(_))
        ));
        assert!(matches!(
            eval_str("image.GetMetadata('nginx:1').config.created", &v),
            Err(CelError::Unsupported(m)) if m.contains("registry")
        ));
    }

    #[test]
    fn service_accounts_and_time() {
        let v = vars();
        assert_eq!(
            eval_str(
                "parseServiceAccount('system:serviceaccount:team-a:deployer').Namespace",
                &v
            ),
            Ok(Value::from("team-a"))
        );
        assert_eq!(
            eval_str("parseServiceAccount('alice').Name", &v),
            Ok(Value::from(""))
        );
        assert_eq!(
            eval_str("time.now() > timestamp('2020-01-01T00:00:00Z')", &v),
            Ok(Value::Bool(true))
        );
    }

    #[test]
    fn or_value_on_plain_values_gives_the_value() {
        let v = vars();
        assert_eq!(eval_str("[1, 2].orValue([]).size()", &v), Ok(Value::Int(2)));
        assert_eq!(eval_str("{'a': 1}.?b.orValue(3)", &v), Ok(Value::Int(3)));
        assert_eq!(eval_str("{'a': 1}.?a.orValue(3)", &v), Ok(Value::Int(1)));
    }

    #[test]
    fn plurals() {
        assert_eq!(plural("ConfigMap"), "configmaps");
        assert_eq!(plural("Ingress"), "ingresses");
        assert_eq!(plural("NetworkPolicy"), "networkpolicies");
        assert_eq!(plural("Gateway"), "gateways");
    }
}
