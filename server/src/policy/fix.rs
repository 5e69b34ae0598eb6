//! Changes derived from policies: a resource repaired so that a validate pattern holds (where
//! the pattern says unambiguously what to write), and Kyverno's mutate rules
//! (`patchStrategicMerge` with anchors, `patchesJson6902`) applied locally.
//!
//! Nothing here is trusted blindly: callers re-evaluate the policy on the changed resource and
//! offer a fix only when the finding it targets is gone.

use serde_json::{Map, Value as Json};

use super::pattern::{self, Anchor, parse_key};

/// A pattern value that names exactly one value to write: a boolean, a number, or a string
/// without wildcards, operators or ranges.
fn literal(p: &Json) -> Option<Json> {
    match p {
        Json::Bool(_) | Json::Number(_) => Some(p.clone()),
        Json::String(s) => {
            let special = s.is_empty()
                || s.contains(['*', '?', '<', '>', '=', '!', '|', '&'])
                || s.contains("{{")
                || (s.contains('-') && s.split('-').all(|x| x.trim().parse::<f64>().is_ok()));
            // Kyverno patterns write booleans as strings: the resource wants the boolean.
            match s.as_str() {
                "true" => Some(Json::Bool(true)),
                "false" => Some(Json::Bool(false)),
                _ => (!special).then(|| p.clone()),
            }
        }
        _ => None,
    }
}

/// The value a missing key must get for a pattern to hold: literals, and maps whose required
/// keys all have one (anchored keys are optional and left out). None when the pattern does not
/// determine it.
fn skeleton(p: &Json) -> Option<Json> {
    match p {
        Json::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                match parse_key(k) {
                    (Anchor::None | Anchor::AddIfNotPresent, name)
                        if !name.contains(['*', '?']) =>
                    {
                        out.insert(name.to_string(), skeleton(v)?);
                    }
                    (Anchor::None | Anchor::AddIfNotPresent, _) => return None,
                    _ => {}
                }
            }
            (!out.is_empty()).then_some(Json::Object(out))
        }
        _ => literal(p),
    }
}

/// `resource` changed so that `pattern` holds where the pattern determines how: a literal
/// value is set, a missing required map gets the pattern's skeleton, an `X(key)` is removed.
/// Elements that a conditional anchor excludes are left alone.
pub fn repair(resource: &Json, pat: &Json) -> Json {
    let mut out = resource.clone();
    fix_value(&mut out, pat);
    out
}

fn fix_value(slot: &mut Json, pat: &Json) {
    if pattern::validate(slot, pat).is_ok() {
        return;
    }
    match (slot, pat) {
        (Json::Object(m), Json::Object(p)) => fix_map(m, p),
        (Json::Array(items), Json::Array(p)) => {
            if let Some(first @ Json::Object(_)) = p.first() {
                for item in items {
                    fix_value(item, first);
                }
            }
        }
        (slot, p) => {
            if let Some(v) = skeleton(p) {
                *slot = v;
            }
        }
    }
}

fn fix_map(m: &mut Map<String, Json>, p: &Map<String, Json>) {
    // A conditional anchor that does not hold: the pattern does not apply to this map.
    for (k, v) in p {
        if let (Anchor::Condition, name) = parse_key(k) {
            let ok = m
                .get(name)
                .is_some_and(|have| pattern::validate(have, v).is_ok());
            if !ok {
                return;
            }
        }
    }
    for (k, v) in p {
        let (anchor, name) = parse_key(k);
        if name.contains(['*', '?']) {
            continue;
        }
        match anchor {
            Anchor::Negation => {
                m.shift_remove(name);
            }
            Anchor::Equality => {
                if let Some(have) = m.get_mut(name) {
                    fix_value(have, v);
                }
            }
            Anchor::None | Anchor::AddIfNotPresent => match m.get_mut(name) {
                Some(have) => fix_value(have, v),
                None => {
                    if let Some(s) = skeleton(v) {
                        m.insert(name.to_string(), s);
                    }
                }
            },
            Anchor::Condition | Anchor::Existence | Anchor::Global => {}
        }
    }
}

/// Applies a `patchStrategicMerge` overlay: maps merge, `+(key)` adds only when absent,
/// conditional anchors `(key)` select the maps (and list elements) the overlay applies to,
/// lists of maps merge by `name`, other values replace.
pub fn strategic_merge(resource: &Json, overlay: &Json) -> Json {
    let mut out = resource.clone();
    merge_into(&mut out, overlay);
    out
}

fn conditions_hold(m: &Map<String, Json>, overlay: &Map<String, Json>) -> bool {
    overlay.iter().all(|(k, v)| match parse_key(k) {
        (Anchor::Condition, name) => m
            .get(name)
            .is_some_and(|have| pattern::validate(have, v).is_ok()),
        _ => true,
    })
}

fn merge_into(slot: &mut Json, overlay: &Json) {
    match overlay {
        Json::Object(o) => {
            if !slot.is_object() {
                *slot = Json::Object(Map::new());
            }
            let Json::Object(m) = slot else { return };
            if !conditions_hold(m, o) {
                return;
            }
            for (k, v) in o {
                let (anchor, name) = parse_key(k);
                match anchor {
                    Anchor::Condition | Anchor::Existence | Anchor::Global => {}
                    Anchor::Negation | Anchor::Equality => {}
                    Anchor::AddIfNotPresent => {
                        if !m.contains_key(name) {
                            m.insert(name.to_string(), strip_anchors(v));
                        }
                    }
                    Anchor::None => match m.get_mut(name) {
                        Some(have) => merge_into(have, v),
                        None => {
                            // A nested overlay whose conditions cannot hold on nothing adds nothing.
                            if has_conditions(v) {
                                continue;
                            }
                            m.insert(name.to_string(), strip_anchors(v));
                        }
                    },
                }
            }
        }
        Json::Array(o) => {
            let Json::Array(items) = slot else {
                *slot = strip_anchors(overlay);
                return;
            };
            let anchored = o.iter().any(has_conditions);
            if anchored {
                // Each overlay element applies to every element its anchors select.
                for ov in o {
                    for item in items.iter_mut() {
                        merge_into(item, ov);
                    }
                }
                return;
            }
            let by_name = o
                .iter()
                .all(|x| x.get("name").and_then(Json::as_str).is_some());
            if by_name && !o.is_empty() {
                for ov in o {
                    let name = ov.get("name");
                    match items.iter_mut().find(|i| i.get("name") == name) {
                        Some(item) => merge_into(item, ov),
                        None => items.push(strip_anchors(ov)),
                    }
                }
            } else {
                *slot = strip_anchors(overlay);
            }
        }
        other => *slot = other.clone(),
    }
}

fn has_conditions(v: &Json) -> bool {
    match v {
        Json::Object(m) => m
            .iter()
            .any(|(k, v)| matches!(parse_key(k).0, Anchor::Condition) || has_conditions(v)),
        Json::Array(a) => a.iter().any(has_conditions),
        _ => false,
    }
}

/// The overlay's own content without anchored keys (what gets written when it is added whole).
fn strip_anchors(v: &Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.iter()
                .filter_map(|(k, v)| match parse_key(k) {
                    (Anchor::None, name) | (Anchor::AddIfNotPresent, name) => {
                        Some((name.to_string(), strip_anchors(v)))
                    }
                    _ => None,
                })
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.iter().map(strip_anchors).collect()),
        other => other.clone(),
    }
}

/// Applies an RFC 6902 JSON patch (`add`, `remove`, `replace`, `copy`, `move`, `test`).
pub fn json_patch(resource: &Json, ops: &Json) -> Result<Json, String> {
    let mut doc = resource.clone();
    let ops = ops
        .as_array()
        .ok_or("a JSON patch is a list of operations")?;
    for (i, op) in ops.iter().enumerate() {
        let kind = op.get("op").and_then(Json::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Json::as_str)
            .ok_or(format!("operation {i} has no path"))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or(format!("operation {i} ({kind}) has no value"))
        };
        match kind {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, value()?)?;
            }
            "copy" | "move" => {
                let from = op
                    .get("from")
                    .and_then(Json::as_str)
                    .ok_or(format!("operation {i} ({kind}) has no from"))?;
                let v = if kind == "move" {
                    remove(&mut doc, from)?
                } else {
                    doc.pointer(from)
                        .cloned()
                        .ok_or(format!("path {from} does not exist"))?
                };
                add(&mut doc, path, v)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(format!("test failed at {path}"));
                }
            }
            other => return Err(format!("unknown JSON patch operation `{other}`")),
        }
    }
    Ok(doc)
}

fn split_pointer(path: &str) -> Result<(&str, String), String> {
    let cut = path.rfind('/').ok_or(format!("invalid path `{path}`"))?;
    let last = path[cut + 1..].replace("~1", "/").replace("~0", "~");
    Ok((&path[..cut], last))
}

fn add(doc: &mut Json, path: &str, value: Json) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    let target = doc
        .pointer_mut(parent)
        .ok_or(format!("path {parent} does not exist"))?;
    match target {
        Json::Object(m) => {
            m.insert(last, value);
        }
        Json::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| format!("invalid index in {path}"))?;
                if i > a.len() {
                    return Err(format!("index out of range in {path}"));
                }
                a.insert(i, value);
            }
        }
        _ => return Err(format!("{parent} is not a map or a list")),
    }
    Ok(())
}

fn remove(doc: &mut Json, path: &str) -> Result<Json, String> {
    let (parent, last) = split_pointer(path)?;
    let target = doc
        .pointer_mut(parent)
        .ok_or(format!("path {parent} does not exist"))?;
    match target {
        Json::Object(m) => m
            .shift_remove(&last)
            .ok_or(format!("path {path} does not exist")),
        Json::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid index in {path}"))?;
            if i >= a.len() {
                return Err(format!("index out of range in {path}"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("{parent} is not a map or a list")),
    }
}

/// The JSON pointers where two values differ (at most `max`), for describing a change.
pub fn changed_paths(old: &Json, new: &Json, max: usize) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    diff(old, new, String::new(), &mut out, max);
    out
}

fn diff(old: &Json, new: &Json, at: String, out: &mut Vec<(String, &'static str)>, max: usize) {
    if out.len() > max || old == new {
        return;
    }
    match (old, new) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, v) in b {
                let p = format!("{at}/{k}");
                match a.get(k) {
                    Some(o) => diff(o, v, p, out, max),
                    None => out.push((p, "add")),
                }
            }
            for k in a.keys() {
                if !b.contains_key(k) {
                    out.push((format!("{at}/{k}"), "remove"));
                }
            }
        }
        (Json::Array(a), Json::Array(b)) if a.len() == b.len() => {
            for (i, (o, v)) in a.iter().zip(b).enumerate() {
                diff(o, v, format!("{at}/{i}"), out, max);
            }
        }
        _ => out.push((if at.is_empty() { "/".into() } else { at }, "set")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repair_sets_literals_adds_skeletons_and_removes_negated_keys() {
        let res = json!({"spec": {"hostNetwork": true, "containers": [
            {"name": "a", "securityContext": {"privileged": true}},
            {"name": "b"}]}});
        let pat = json!({"spec": {"X(hostNetwork)": "null", "containers": [
            {"securityContext": {"privileged": false, "runAsNonRoot": true}}]}});
        let fixed = repair(&res, &pat);
        assert_eq!(
            fixed,
            json!({"spec": {"containers": [
                {"name": "a", "securityContext": {"privileged": false, "runAsNonRoot": true}},
                {"name": "b", "securityContext": {"privileged": false, "runAsNonRoot": true}}]}})
        );
        assert!(pattern::validate(&fixed, &pat).is_ok());
    }

    #[test]
    fn repair_leaves_what_the_pattern_does_not_determine() {
        // `?*` says "any non-empty value": nothing to write.
        let res = json!({"metadata": {"name": "x"}});
        let pat = json!({"metadata": {"labels": {"app": "?*"}}});
        assert_eq!(repair(&res, &pat), res);
        // A conditional anchor that does not hold: the element is left alone.
        let res =
            json!({"spec": {"containers": [{"image": "nginx:1", "imagePullPolicy": "Never"}]}});
        let pat =
            json!({"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}});
        assert_eq!(repair(&res, &pat), res);
    }

    #[test]
    fn strategic_merge_with_anchors() {
        let res = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [
            {"name": "app", "image": "nginx:latest"}, {"name": "side", "image": "envoy:1.2"}]}});
        let overlay = json!({"metadata": {"labels": {"+(a)": "2", "+(team)": "web"}},
            "spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}});
        assert_eq!(
            strategic_merge(&res, &overlay),
            json!({"metadata": {"labels": {"a": "1", "team": "web"}}, "spec": {"containers": [
                {"name": "app", "image": "nginx:latest", "imagePullPolicy": "Always"},
                {"name": "side", "image": "envoy:1.2"}]}})
        );
        // Lists of named maps merge by name.
        let overlay = json!({"spec": {"containers": [{"name": "side", "image": "envoy:1.3"}]}});
        assert_eq!(
            strategic_merge(&res, &overlay)["spec"]["containers"][1]["image"],
            "envoy:1.3"
        );
    }

    #[test]
    fn json_patch_operations() {
        let res = json!({"metadata": {"labels": {"a": "1"}}, "l": [1, 2]});
        let ops = json!([
            {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "3"},
            {"op": "add", "path": "/l/-", "value": 3},
            {"op": "remove", "path": "/l/0"},
            {"op": "test", "path": "/l/0", "value": 2}
        ]);
        assert_eq!(
            json_patch(&res, &ops).unwrap(),
            json!({"metadata": {"labels": {"a": "3", "b/c": "2"}}, "l": [2, 3]})
        );
        assert!(json_patch(&res, &json!([{"op": "remove", "path": "/nope/x"}])).is_err());
        assert!(json_patch(&res, &json!([{"op": "test", "path": "/l/0", "value": 9}])).is_err());
    }
}
