//! `preconditions` and `validate.deny` conditions: `any`/`all` lists of `key operator value`
//! after variable substitution, with Kyverno's operators.

use serde_json::Value as Json;

use super::pattern::wildcard_match;
use super::quantity::{self, Number};
use super::vars::{Context, VarError, render, substitute};

/// Evaluates a conditions block (`{any: [...], all: [...]}` or a legacy list, which means
/// all). Returns whether it holds, and the message of the first failing condition that has one.
pub fn evaluate(block: &Json, ctx: &Context) -> Result<(bool, Option<String>), VarError> {
    match block {
        Json::Array(list) => all(list, ctx),
        Json::Object(m) => {
            let mut ok = true;
            let mut message = None;
            if let Some(Json::Array(list)) = m.get("all") {
                let (r, msg) = all(list, ctx)?;
                ok &= r;
                message = message.or(msg);
            }
            if let Some(Json::Array(list)) = m.get("any") {
                let mut any_ok = list.is_empty();
                let mut first_msg = None;
                for c in list {
                    let (r, msg) = condition(c, ctx)?;
                    if r {
                        any_ok = true;
                        break;
                    }
                    first_msg = first_msg.or(msg);
                }
                ok &= any_ok;
                if !any_ok {
                    message = message.or(first_msg);
                }
            }
            Ok((ok, message))
        }
        Json::Null => Ok((true, None)),
        _ => Err(VarError(
            "conditions must be a list or have `any`/`all`".into(),
        )),
    }
}

fn all(list: &[Json], ctx: &Context) -> Result<(bool, Option<String>), VarError> {
    for c in list {
        let (r, msg) = condition(c, ctx)?;
        if !r {
            return Ok((false, msg));
        }
    }
    Ok((true, None))
}

fn condition(c: &Json, ctx: &Context) -> Result<(bool, Option<String>), VarError> {
    // As Kyverno: a condition whose variables cannot be resolved (a JMESPath function given
    // null, say) does not hold; it is not an error of the rule.
    let (Ok(key), Ok(value)) = (
        substitute(c.get("key").unwrap_or(&Json::Null), ctx),
        substitute(c.get("value").unwrap_or(&Json::Null), ctx),
    ) else {
        return Ok((false, None));
    };
    let op = c.get("operator").and_then(Json::as_str).unwrap_or("Equals");
    let message = c
        .get("message")
        .map(|m| substitute(m, ctx).map(|v| render(&v)))
        .transpose()?;
    let result =
        apply(op, &key, &value).ok_or_else(|| VarError(format!("unknown operator `{op}`")))?;
    Ok((result, if result { None } else { message }))
}

/// Applies an operator; None for an unknown one.
pub fn apply(op: &str, key: &Json, value: &Json) -> Option<bool> {
    let op = op.to_ascii_lowercase();
    if value.is_null() && (op.ends_with("in") || op.starts_with("any") || op.starts_with("all")) {
        return Some(false);
    }
    Some(match op.as_str() {
        "equals" | "equal" => equals(key, value),
        "notequals" | "notequal" => !equals(key, value),
        "anyin" => list_of(key).iter().any(|k| contained(k, value)),
        "allin" => {
            let keys = list_of(key);
            !keys.is_empty() && keys.iter().all(|k| contained(k, value))
        }
        "anynotin" => list_of(key).iter().any(|k| !contained(k, value)),
        "allnotin" => list_of(key).iter().all(|k| !contained(k, value)),
        "in" => match key {
            Json::Array(keys) => keys.iter().all(|k| contained(k, value)),
            k => contained(k, value),
        },
        "notin" => match key {
            Json::Array(keys) => !keys.iter().all(|k| contained(k, value)),
            k => !contained(k, value),
        },
        "greaterthan" => ordered(key, value).is_some_and(|o| o.is_gt()),
        "greaterthanorequals" => ordered(key, value).is_some_and(|o| o.is_ge()),
        "lessthan" => ordered(key, value).is_some_and(|o| o.is_lt()),
        "lessthanorequals" => ordered(key, value).is_some_and(|o| o.is_le()),
        "durationgreaterthan" => durations(key, value).is_some_and(|o| o.is_gt()),
        "durationgreaterthanorequals" => durations(key, value).is_some_and(|o| o.is_ge()),
        "durationlessthan" => durations(key, value).is_some_and(|o| o.is_lt()),
        "durationlessthanorequals" => durations(key, value).is_some_and(|o| o.is_le()),
        _ => return None,
    })
}

fn list_of(v: &Json) -> Vec<Json> {
    match v {
        Json::Array(a) => a.clone(),
        Json::String(s) if s.trim_start().starts_with('[') => {
            serde_json::from_str::<Vec<Json>>(s).unwrap_or_else(|_| vec![v.clone()])
        }
        other => vec![other.clone()],
    }
}

/// Whether `k` is one of `set` (a list, a JSON list in a string, or one value; string members
/// may use wildcards, and numeric ranges `a-b` are allowed).
fn contained(k: &Json, set: &Json) -> bool {
    let members = list_of(set);
    members.iter().any(|m| match (m, k) {
        (Json::String(p), _) => {
            let ks = render(k);
            p == &ks || wildcard_match(p, &ks) || in_range(p, k)
        }
        _ => equals(k, m),
    })
}

fn in_range(p: &str, k: &Json) -> bool {
    let Some((lo, hi)) = p.split_once('-') else {
        return false;
    };
    let (Ok(lo), Ok(hi)) = (lo.trim().parse::<f64>(), hi.trim().parse::<f64>()) else {
        return false;
    };
    let v = match k {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    v.is_some_and(|v| lo <= v && v <= hi)
}

fn equals(key: &Json, value: &Json) -> bool {
    match (key, value) {
        (Json::String(k), Json::String(v)) => {
            if k == v || wildcard_match(v, k) {
                return true;
            }
            quantity::compare_text(k, v).is_some_and(|o| o.is_eq())
        }
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        (Json::Number(a), Json::String(s)) | (Json::String(s), Json::Number(a)) => {
            Number::parse(s).is_some_and(|n| Some(n.value()) == a.as_f64())
        }
        (Json::Bool(a), Json::String(s)) | (Json::String(s), Json::Bool(a)) => s == &a.to_string(),
        (Json::Null, Json::String(s)) | (Json::String(s), Json::Null) => s.is_empty(),
        (a, b) => a == b,
    }
}

fn number(v: &Json) -> Option<Number> {
    match v {
        Json::Number(n) => n.as_f64().map(Number::Plain),
        Json::String(s) => Number::parse(s),
        _ => None,
    }
}

fn ordered(key: &Json, value: &Json) -> Option<std::cmp::Ordering> {
    if let (Json::String(a), Json::String(b)) = (key, value)
        && let Some(o) = quantity::compare_text(a, b)
    {
        return Some(o);
    }
    if let (Some(a), Some(b)) = (number(key), number(value))
        && let Some(o) = quantity::compare(&a, &b)
    {
        return Some(o);
    }
    // Versions (`1.24.3` against `1.20`).
    if let (Json::String(a), Json::String(b)) = (key, value) {
        let parse = |s: &str| -> Option<Vec<u64>> {
            s.trim()
                .trim_start_matches('v')
                .split(['-', '+'])
                .next()?
                .split('.')
                .map(|p| p.parse().ok())
                .collect()
        };
        if let (Some(x), Some(y)) = (parse(a), parse(b)) {
            return Some(x.cmp(&y));
        }
    }
    None
}

fn durations(key: &Json, value: &Json) -> Option<std::cmp::Ordering> {
    let d = |v: &Json| match v {
        Json::String(s) => quantity::parse_duration(s),
        Json::Number(n) => n.as_f64(),
        _ => None,
    };
    d(key)?.partial_cmp(&d(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operators() {
        assert_eq!(apply("Equals", &json!("abc"), &json!("a*")), Some(true));
        assert_eq!(
            apply("AnyIn", &json!(["a", "b"]), &json!(["b"])),
            Some(true)
        );
        assert_eq!(
            apply("AllIn", &json!(["a", "b"]), &json!(["b"])),
            Some(false)
        );
        assert_eq!(
            apply("AnyNotIn", &json!(["a", "b"]), &json!(["b"])),
            Some(true)
        );
        assert_eq!(apply("AllNotIn", &json!(["a"]), &json!(["b"])), Some(true));
        assert_eq!(
            apply("GreaterThan", &json!("2Gi"), &json!("1024Mi")),
            Some(true)
        );
        assert_eq!(apply("LessThan", &json!("30m"), &json!("1h")), Some(true));
        assert_eq!(
            apply("GreaterThanOrEquals", &json!("1.24.0"), &json!("1.20")),
            Some(true)
        );
        assert_eq!(
            apply("AnyIn", &json!(8080), &json!(["8000-9000"])),
            Some(true)
        );
        assert_eq!(apply("Equals", &json!(3), &json!("3")), Some(true));
        assert_eq!(
            apply("DurationGreaterThan", &json!("2h"), &json!("90m")),
            Some(true)
        );
        assert_eq!(apply("Bogus", &json!(1), &json!(1)), None);
        let ctx = Context::new(json!({"request": {"operation": "DELETE"}}));
        let block = json!({"any": [{"key": "{{ request.operation }}", "operator": "Equals", "value": "DELETE"}]});
        assert!(evaluate(&block, &ctx).unwrap().0);
        let block = json!({"all": [{"key": "{{ request.operation }}", "operator": "NotEquals", "value": "DELETE", "message": "no deletes"}]});
        assert_eq!(
            evaluate(&block, &ctx).unwrap(),
            (false, Some("no deletes".into()))
        );
    }
}
