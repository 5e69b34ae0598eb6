//! `preconditions` and `validate.deny` conditions: `any`/`all` lists of `key operator value`
//! after variable substitution, with Kyverno's operators.

use serde_json::Value as Json;

use super::pattern::wildcard_match;
use super::quantity::{self, Quantity};
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
        // Kyverno: a quantity compared with a string that is no quantity is neither equal
        // nor unequal.
        "equals" | "equal" => equals(key, value).unwrap_or(false),
        "notequals" | "notequal" => equals(key, value).is_some_and(|e| !e),
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

/// Whether `k` is one of `set` (a list, a JSON list in a string, or one value). Wildcards
/// match either way (Kyverno: `wildcard.Match(key, v) || wildcard.Match(v, key)`); a range
/// `a-b` applies only when the value is a single string, not inside a list.
fn contained(k: &Json, set: &Json) -> bool {
    if let Json::String(range) = set
        && is_range(range)
    {
        return super::pattern::value_matches(&Json::String(render(k)), set);
    }
    let ks = render(k);
    list_of(set).iter().any(|m| match m {
        Json::String(p) => p == &ks || wildcard_match(p, &ks) || wildcard_match(&ks, p),
        _ => equals(k, m).unwrap_or(false) || render(m) == ks,
    })
}

/// Kyverno's `a-b` range operator (`^(\d+(\.\d+)?)([^-]*)-(\d+(\.\d+)?)([^-]*)$`).
fn is_range(p: &str) -> bool {
    let Some((lo, hi)) = p.split_once('-') else {
        return false;
    };
    let number_then_unit = |s: &str| {
        let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        if digits == 0 || s.contains('-') {
            return false;
        }
        match s[digits..].strip_prefix('.') {
            Some(r) => r.starts_with(|c: char| c.is_ascii_digit()),
            None => true,
        }
    };
    number_then_unit(lo) && number_then_unit(hi)
}

/// Kyverno's `Equals` (pkg/engine/variables/operator/equal.go), by the key's type: a duration
/// on either side compares as durations (a number being seconds); a quantity key compares with
/// a quantity string (None when the value is another string: neither equal nor unequal); other
/// strings match the value as a wildcard pattern; numbers compare with numbers or numeric
/// strings; booleans only with booleans; lists and maps deeply.
fn equals(key: &Json, value: &Json) -> Option<bool> {
    Some(match (key, value) {
        (Json::String(k), _) => {
            if let Some((a, b)) = duration_pair(key, value) {
                return Some(a == b);
            }
            if let Some(kq) = Quantity::parse(k)
                && let Json::String(v) = value
            {
                return Quantity::parse(v).map(|vq| kq.add(&vq.negate()).is_zero());
            }
            match value {
                Json::String(v) => k == v || wildcard_match(v, k),
                Json::Null => k.is_empty(),
                _ => false,
            }
        }
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        (Json::Number(a), Json::String(s)) => {
            if let Some((x, y)) = duration_pair(key, value) {
                return Some(x == y);
            }
            s.parse::<f64>().is_ok_and(|v| Some(v) == a.as_f64())
        }
        (Json::Null, Json::String(s)) => s.is_empty(),
        (a, b) => a == b,
    })
}

/// A Go duration string other than `0` (Kyverno's test for "is a duration"), in seconds.
fn duration_str(v: &Json) -> Option<f64> {
    match v {
        Json::String(s) if s != "0" => quantity::parse_duration(s),
        _ => None,
    }
}

/// Kyverno's `parseDuration`: when one side is a duration, the other may be a duration or a
/// number of seconds.
fn duration_pair(key: &Json, value: &Json) -> Option<(f64, f64)> {
    let (k, v) = (duration_str(key), duration_str(value));
    if k.is_none() && v.is_none() {
        return None;
    }
    let secs = |d: Option<f64>, j: &Json| d.or_else(|| j.as_f64());
    Some((secs(k, key)?, secs(v, value)?))
}

/// A strict semantic version (`1.24.3`, `1.25.0-rc.1`), as `semver.Parse` takes it.
fn semver(s: &str) -> Option<(u64, u64, u64, Vec<String>)> {
    let core_pre = s.split('+').next()?;
    let (core, pre) = match core_pre.split_once('-') {
        Some((c, p)) => (c, p.split('.').map(str::to_string).collect()),
        None => (core_pre, Vec::new()),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some((
        parts[0].parse().ok()?,
        parts[1].parse().ok()?,
        parts[2].parse().ok()?,
        pre,
    ))
}

fn semver_cmp(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    let (x, y) = (semver(a)?, semver(b)?);
    let core = (x.0, x.1, x.2).cmp(&(y.0, y.1, y.2));
    if core != Ordering::Equal {
        return Some(core);
    }
    // A pre-release is lower than the release; identifiers compare numerically or by text.
    Some(match (x.3.is_empty(), y.3.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            for (p, q) in x.3.iter().zip(&y.3) {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return Some(o);
                }
            }
            x.3.len().cmp(&y.3.len())
        }
    })
}

/// Kyverno's numeric operators (pkg/engine/variables/operator/numeric.go): durations first
/// (a number against a duration being seconds), then two quantity strings, then numbers
/// (a string key or value that is a plain number counts as one), then strict semantic versions.
fn ordered(key: &Json, value: &Json) -> Option<std::cmp::Ordering> {
    if let Some((a, b)) = duration_pair(key, value) {
        return a.partial_cmp(&b);
    }
    if let (Json::String(a), Json::String(b)) = (key, value)
        && let (Some(x), Some(y)) = (Quantity::parse(a), Quantity::parse(b))
    {
        let d = x.add(&y.negate()).mantissa;
        return Some(d.cmp(&0));
    }
    let plain = |v: &Json| match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    };
    if let Some(k) = plain(key) {
        return k.partial_cmp(&plain(value)?);
    }
    match (key, value) {
        (Json::String(a), Json::String(b)) => semver_cmp(a, b),
        _ => None,
    }
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

    fn op(name: &str, key: Json, value: Json) -> bool {
        apply(name, &key, &value).unwrap_or_else(|| panic!("unknown operator {name}"))
    }

    #[test]
    fn equals_scalars_and_wildcards() {
        assert!(op("Equals", json!("abc"), json!("abc")));
        assert!(op("Equals", json!("abc"), json!("a*")));
        assert!(op("Equals", json!("abc"), json!("a?c")));
        assert!(!op("Equals", json!("abc"), json!("b*")));
        assert!(op("Equals", json!(3), json!(3.0)));
        assert!(op("Equals", json!(3), json!("3")));
        assert!(op("Equals", json!(true), json!(true)));
        // Operators are case-insensitive, `Equal` is an alias.
        assert!(op("equal", json!("x"), json!("x")));
    }

    #[test]
    fn equals_does_not_convert_booleans() {
        assert!(!op("Equals", json!(true), json!("true")));
        assert!(!op("Equals", json!("true"), json!(true)));
        assert!(op("NotEquals", json!(true), json!("true")));
    }

    #[test]
    fn equals_quantities_and_durations() {
        assert!(op("Equals", json!("1Gi"), json!("1024Mi")));
        assert!(op("Equals", json!("500m"), json!("0.5")));
        assert!(op("Equals", json!("1h"), json!("60m0s")));
        // A duration against a number: the number is seconds.
        assert!(op("Equals", json!("1h"), json!(3600)));
        // A quantity against a string that is no quantity: neither equal nor unequal.
        assert!(!op("Equals", json!("1Gi"), json!("big")));
        assert!(!op("NotEquals", json!("1Gi"), json!("big")));
    }

    #[test]
    fn equals_lists_and_maps() {
        assert!(op("Equals", json!(["a", "b"]), json!(["a", "b"])));
        assert!(!op("Equals", json!(["a", "b"]), json!(["b", "a"])));
        assert!(op("Equals", json!({"a": 1}), json!({"a": 1})));
        assert!(!op("Equals", json!({"a": 1}), json!("a")));
    }

    #[test]
    fn not_equals() {
        assert!(op("NotEquals", json!("abc"), json!("xyz")));
        assert!(!op("NotEquals", json!("abc"), json!("a*")));
        assert!(op("NotEquals", json!(3), json!(4)));
        assert!(!op("NotEqual", json!("2Gi"), json!("2048Mi")));
        assert!(op("NotEquals", json!(["a"]), json!(["b"])));
    }

    #[test]
    fn in_deprecated() {
        assert!(op("In", json!("a"), json!(["a", "b"])));
        assert!(!op("In", json!("c"), json!(["a", "b"])));
        assert!(op("In", json!(["a", "b"]), json!(["a", "b", "c"])));
        assert!(!op("In", json!(["a", "z"]), json!(["a", "b", "c"])));
        // A JSON list in a string (a ConfigMap value).
        assert!(op("In", json!("b"), json!("[\"a\", \"b\"]")));
    }

    #[test]
    fn not_in_deprecated() {
        assert!(op("NotIn", json!("c"), json!(["a", "b"])));
        assert!(!op("NotIn", json!("a"), json!(["a", "b"])));
        assert!(op("NotIn", json!(["a", "z"]), json!(["a", "b"])));
        assert!(!op("NotIn", json!(["a", "b"]), json!(["a", "b"])));
    }

    #[test]
    fn any_in() {
        assert!(op("AnyIn", json!(["a", "b"]), json!(["b", "c"])));
        assert!(!op("AnyIn", json!(["a", "b"]), json!(["c"])));
        assert!(op("AnyIn", json!("b"), json!(["b", "c"])));
        assert!(op("AnyIn", json!(443), json!([80, 443])));
        assert!(!op("AnyIn", json!([]), json!(["a"])));
        // A null value holds nothing.
        assert!(!op("AnyIn", json!("a"), json!(null)));
    }

    #[test]
    fn any_in_wildcards_match_either_way() {
        assert!(op("AnyIn", json!(["prod-web"]), json!(["prod-*"])));
        assert!(op("AnyIn", json!(["prod-*"]), json!(["prod-web"])));
        assert!(op("AnyIn", json!("kube-system"), json!(["kube-*"])));
        assert!(!op("AnyIn", json!(["dev-web"]), json!(["prod-*"])));
    }

    #[test]
    fn any_in_range_only_as_a_single_value() {
        assert!(op("AnyIn", json!(8080), json!("8000-9000")));
        assert!(op("AnyIn", json!([80, 8080]), json!("8000-9000")));
        assert!(!op("AnyIn", json!([80, 443]), json!("8000-9000")));
        // Inside a list, `8000-9000` is just a string.
        assert!(!op("AnyIn", json!(8080), json!(["8000-9000"])));
    }

    #[test]
    fn all_in() {
        assert!(op("AllIn", json!(["a", "b"]), json!(["a", "b", "c"])));
        assert!(!op("AllIn", json!(["a", "z"]), json!(["a", "b", "c"])));
        assert!(op("AllIn", json!(["prod-a", "prod-b"]), json!(["prod-*"])));
        assert!(op("AllIn", json!([8080, 8443]), json!("8000-9000")));
        assert!(!op("AllIn", json!([80, 8443]), json!("8000-9000")));
    }

    #[test]
    fn any_not_in() {
        assert!(op("AnyNotIn", json!(["a", "z"]), json!(["a", "b"])));
        assert!(!op("AnyNotIn", json!(["a", "b"]), json!(["a", "b", "c"])));
        assert!(!op("AnyNotIn", json!(["prod-a"]), json!(["prod-*"])));
        assert!(op("AnyNotIn", json!("z"), json!(["a", "b"])));
    }

    #[test]
    fn all_not_in() {
        assert!(op("AllNotIn", json!(["x", "y"]), json!(["a", "b"])));
        assert!(!op("AllNotIn", json!(["a", "b"]), json!(["a", "b"])));
        assert!(!op("AllNotIn", json!("a"), json!(["a", "b"])));
        assert!(!op("AllNotIn", json!(["prod-a"]), json!(["prod-*"])));
    }

    #[test]
    fn greater_and_less_than_numbers() {
        assert!(op("GreaterThan", json!(5), json!(3)));
        assert!(!op("GreaterThan", json!(3), json!(3)));
        assert!(op("GreaterThanOrEquals", json!(3), json!(3)));
        assert!(op("LessThan", json!(2), json!(3.5)));
        assert!(op("LessThanOrEquals", json!(3), json!(3)));
        // Numeric strings count as numbers.
        assert!(op("GreaterThan", json!("10"), json!(9)));
        assert!(op("LessThan", json!(9), json!("10")));
        assert!(!op("GreaterThan", json!("abc"), json!(1)));
    }

    #[test]
    fn greater_and_less_than_quantities() {
        assert!(op("GreaterThan", json!("2Gi"), json!("1024Mi")));
        assert!(op("LessThan", json!("250m"), json!("1")));
        assert!(op("GreaterThanOrEquals", json!("1Gi"), json!("1024Mi")));
        // A quantity with a unit is not compared with a bare number.
        assert!(!op("GreaterThan", json!("2Gi"), json!(1)));
    }

    #[test]
    fn greater_and_less_than_durations() {
        assert!(op("LessThan", json!("30m0s"), json!("1h")));
        assert!(op("GreaterThan", json!("2h"), json!("90m0s")));
        // A number against a duration is seconds.
        assert!(op("GreaterThan", json!("2h"), json!(3600)));
        assert!(op("LessThan", json!(59), json!("1m0s")));
    }

    #[test]
    fn greater_and_less_than_versions() {
        assert!(op("GreaterThanOrEquals", json!("1.24.0"), json!("1.20.0")));
        assert!(op("LessThan", json!("1.25.0-rc.1"), json!("1.25.0")));
        // Only full semantic versions compare (Kyverno's `semver.Parse`).
        assert!(!op("GreaterThanOrEquals", json!("1.24.0"), json!("1.20")));
        assert!(!op("GreaterThan", json!("v1.24.0"), json!("1.20.0")));
    }

    #[test]
    fn duration_operators_deprecated() {
        assert!(op("DurationGreaterThan", json!("2h"), json!("90m")));
        assert!(!op("DurationGreaterThan", json!("1h"), json!("1h")));
        assert!(op("DurationGreaterThanOrEquals", json!("1h"), json!("60m")));
        assert!(op("DurationLessThan", json!("30s"), json!(60)));
        assert!(op("DurationLessThanOrEquals", json!(60), json!("1m")));
        assert!(!op("DurationLessThan", json!("soon"), json!("1m")));
    }

    #[test]
    fn unknown_operator() {
        assert_eq!(apply("Bogus", &json!(1), &json!(1)), None);
        let ctx = Context::new(json!({}));
        let block = json!({"all": [{"key": 1, "operator": "Bogus", "value": 1}]});
        assert!(evaluate(&block, &ctx).unwrap_err().0.contains("Bogus"));
    }

    fn ctx() -> Context {
        Context::new(
            json!({"request": {"operation": "DELETE", "object": {"spec": {"replicas": 3}}}}),
        )
    }

    fn cond(key: &str, operator: &str, value: Json) -> Json {
        json!({"key": key, "operator": operator, "value": value})
    }

    #[test]
    fn any_block_holds_when_one_holds() {
        let block = json!({"any": [
            cond("{{ request.operation }}", "Equals", json!("CREATE")),
            cond("{{ request.operation }}", "Equals", json!("DELETE")),
        ]});
        assert_eq!(evaluate(&block, &ctx()).unwrap(), (true, None));
        let block = json!({"any": [
            {"key": "{{ request.operation }}", "operator": "Equals", "value": "CREATE", "message": "not a create"},
        ]});
        assert_eq!(
            evaluate(&block, &ctx()).unwrap(),
            (false, Some("not a create".into()))
        );
    }

    #[test]
    fn all_block_needs_every_condition() {
        let block = json!({"all": [
            cond("{{ request.operation }}", "Equals", json!("DELETE")),
            {"key": "{{ request.object.spec.replicas }}", "operator": "GreaterThan", "value": 5, "message": "{{ request.object.spec.replicas }} replicas"},
        ]});
        assert_eq!(
            evaluate(&block, &ctx()).unwrap(),
            (false, Some("3 replicas".into()))
        );
    }

    #[test]
    fn any_and_all_together() {
        let block = json!({
            "any": [cond("{{ request.operation }}", "Equals", json!("DELETE"))],
            "all": [cond("{{ request.object.spec.replicas }}", "LessThan", json!(5))],
        });
        assert!(evaluate(&block, &ctx()).unwrap().0);
        let block = json!({
            "any": [cond("{{ request.operation }}", "Equals", json!("CREATE"))],
            "all": [cond("{{ request.object.spec.replicas }}", "LessThan", json!(5))],
        });
        assert!(!evaluate(&block, &ctx()).unwrap().0);
    }

    #[test]
    fn legacy_list_and_empty_blocks() {
        let list = json!([cond(
            "{{ request.operation }}",
            "NotEquals",
            json!("CREATE")
        )]);
        assert!(evaluate(&list, &ctx()).unwrap().0);
        assert!(evaluate(&json!({"any": []}), &ctx()).unwrap().0);
        assert!(evaluate(&json!(null), &ctx()).unwrap().0);
        assert!(evaluate(&json!("x"), &ctx()).is_err());
    }

    #[test]
    fn unresolvable_variable_makes_the_condition_false() {
        let block = json!({"all": [cond("{{ to_upper(request.nope) }}", "Equals", json!(""))]});
        assert_eq!(evaluate(&block, &ctx()).unwrap(), (false, None));
    }
}
