//! Kyverno `validate.pattern` semantics: anchors, list semantics, wildcards, value operators,
//! quantities and durations. Follows Kyverno's engine (pkg/engine/validate) decision by
//! decision: a conditional-anchor mismatch makes the pattern not apply (skip), anything else
//! that does not match fails at the path where it did not.

use serde_json::Value as Json;

use super::quantity;

/// Why a pattern did not match.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternError {
    /// Kyverno's path: `/spec/containers/0/image/` (trailing slash, as Kyverno prints it).
    pub path: String,
    pub message: String,
    /// A conditional (or global) anchor did not match: the pattern does not apply.
    pub skip: bool,
    /// A global anchor did not match: the whole rule does not apply.
    pub global: bool,
}

impl PatternError {
    fn fail(path: &str, message: impl Into<String>) -> Self {
        PatternError {
            path: path.to_string(),
            message: message.into(),
            skip: false,
            global: false,
        }
    }
}

/// The kind of a pattern key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    None,
    /// `(key)`
    Condition,
    /// `=(key)`
    Equality,
    /// `X(key)`
    Negation,
    /// `^(key)`
    Existence,
    /// `<(key)`
    Global,
    /// `+(key)` (mutate only; treated as a plain key when validating)
    AddIfNotPresent,
}

/// Splits an anchored key into its anchor and the plain key.
pub fn parse_key(key: &str) -> (Anchor, &str) {
    let table: [(&str, Anchor); 5] = [
        ("=(", Anchor::Equality),
        ("X(", Anchor::Negation),
        ("^(", Anchor::Existence),
        ("<(", Anchor::Global),
        ("+(", Anchor::AddIfNotPresent),
    ];
    if key.ends_with(')') {
        for (prefix, anchor) in table {
            if let Some(inner) = key.strip_prefix(prefix) {
                return (anchor, &inner[..inner.len() - 1]);
            }
        }
        if let Some(inner) = key.strip_prefix('(') {
            return (Anchor::Condition, &inner[..inner.len() - 1]);
        }
    }
    (Anchor::None, key)
}

/// Matches `resource` against `pattern` (both JSON), starting at `path` (`/`).
pub fn validate(resource: &Json, pattern: &Json) -> Result<(), PatternError> {
    element(resource, pattern, "/")
}

fn element(resource: &Json, pattern: &Json, path: &str) -> Result<(), PatternError> {
    match pattern {
        Json::Object(p) => match resource {
            Json::Object(r) => map(r, p, path),
            _ => Err(PatternError::fail(
                path,
                format!("expected a map, found {}", type_name(resource)),
            )),
        },
        Json::Array(p) => match resource {
            Json::Array(r) => array(r, p, path),
            _ => Err(PatternError::fail(
                path,
                format!("expected an array, found {}", type_name(resource)),
            )),
        },
        _ => {
            // A scalar pattern against a list: every element must match.
            if let Json::Array(items) = resource {
                for item in items {
                    if !value_matches(item, pattern) {
                        return Err(PatternError::fail(
                            path,
                            format!("value {} does not match {}", short(item), short(pattern)),
                        ));
                    }
                }
                return Ok(());
            }
            if value_matches(resource, pattern) {
                Ok(())
            } else {
                Err(PatternError::fail(
                    path,
                    format!(
                        "value {} does not match {}",
                        short(resource),
                        short(pattern)
                    ),
                ))
            }
        }
    }
}

fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "a map",
    }
}

fn short(v: &Json) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// Keys of `pattern` with wildcards (`*`, `?`) under labels/annotations are matched against
/// the resource's keys: each matching key must satisfy the value pattern (Kyverno checks one
/// matching key, whichever its map iteration yields first; checking all of them is the
/// deterministic reading).
fn expand_wildcard_keys<'p>(
    resource: &serde_json::Map<String, Json>,
    pattern: &'p serde_json::Map<String, Json>,
) -> Vec<(String, &'p Json)> {
    let mut out = Vec::new();
    for (k, v) in pattern {
        let (anchor, plain) = parse_key(k);
        if plain.contains(['*', '?']) {
            let mut matched = false;
            for rk in resource.keys() {
                if wildcard_match(plain, rk) {
                    matched = true;
                    let key = rewrap(anchor, rk);
                    out.push((key, v));
                }
            }
            if !matched {
                // No key matches: keep the pattern key (a plain one then fails as missing,
                // anchored ones behave as absent).
                out.push((k.clone(), v));
            }
        } else {
            out.push((k.clone(), v));
        }
    }
    out
}

fn rewrap(anchor: Anchor, key: &str) -> String {
    match anchor {
        Anchor::None => key.to_string(),
        Anchor::Condition => format!("({key})"),
        Anchor::Equality => format!("=({key})"),
        Anchor::Negation => format!("X({key})"),
        Anchor::Existence => format!("^({key})"),
        Anchor::Global => format!("<({key})"),
        Anchor::AddIfNotPresent => format!("+({key})"),
    }
}

fn map(
    resource: &serde_json::Map<String, Json>,
    pattern: &serde_json::Map<String, Json>,
    path: &str,
) -> Result<(), PatternError> {
    // Kyverno expands wildcard keys in metadata labels and annotations only.
    let entries: Vec<(String, &Json)> =
        if path.ends_with("/metadata/labels/") || path.ends_with("/metadata/annotations/") {
            expand_wildcard_keys(resource, pattern)
        } else {
            pattern.iter().map(|(k, v)| (k.clone(), v)).collect()
        };
    // Kyverno's order: the anchors (conditional ones first here, so that a condition that does
    // not hold wins), then the other keys, those holding anchors (or a global anchor) first in
    // descending key order, then the rest in ascending key order.
    let kind = |k: &str| parse_key(k).0;
    let mut ordered: Vec<(String, &Json)> = Vec::new();
    for (k, v) in &entries {
        if kind(k) == Anchor::Condition {
            ordered.push((k.clone(), v));
        }
    }
    for (k, v) in &entries {
        if matches!(
            kind(k),
            Anchor::Existence | Anchor::Negation | Anchor::Equality
        ) {
            ordered.push((k.clone(), v));
        }
    }
    let (mut front, mut back): (Vec<_>, Vec<_>) = entries
        .iter()
        .filter(|(k, _)| {
            matches!(
                kind(k),
                Anchor::None | Anchor::Global | Anchor::AddIfNotPresent
            )
        })
        .map(|(k, v)| (k.clone(), *v))
        .partition(|(k, v)| kind(k) == Anchor::Global || has_nested_anchors(v));
    front.sort_by(|a, b| b.0.cmp(&a.0));
    back.sort_by(|a, b| a.0.cmp(&b.0));
    ordered.extend(front);
    ordered.extend(back);
    for (key, pat) in &ordered {
        let (anchor, name) = parse_key(key);
        let here = format!("{path}{name}/");
        let value = resource.get(name);
        match anchor {
            Anchor::Condition | Anchor::Global => {
                if let Some(v) = value
                    && let Err(e) = element(v, pat, &here)
                {
                    // Whatever does not match under a condition means "does not apply".
                    return Err(PatternError {
                        path: here,
                        message: format!("conditional anchor mismatch: {}", e.message),
                        skip: true,
                        global: anchor == Anchor::Global || e.global,
                    });
                }
                if value.is_none() && anchor == Anchor::Condition {
                    // Kyverno: a conditional anchor on an absent key does not hold.
                    return Err(PatternError {
                        path: here,
                        message: format!("conditional anchor key `{name}` is not present"),
                        skip: true,
                        global: false,
                    });
                }
                // Kyverno: a global anchor on an absent key holds.
            }
            Anchor::Negation => {
                if value.is_some() {
                    return Err(PatternError::fail(
                        &here,
                        format!("field `{name}` is not allowed"),
                    ));
                }
            }
            Anchor::Equality => {
                if let Some(v) = value {
                    element(v, pat, &here)?;
                }
            }
            Anchor::Existence => {
                if let Some(v) = value {
                    existence(v, pat, &here)?;
                }
            }
            Anchor::None | Anchor::AddIfNotPresent => {
                if pat.as_str() == Some("*") {
                    if value.is_none_or(Json::is_null) {
                        return Err(PatternError::fail(
                            &here,
                            format!("field `{name}` is required"),
                        ));
                    }
                    continue;
                }
                let v = value.unwrap_or(&Json::Null);
                element(v, pat, &here)?;
            }
        }
    }
    Ok(())
}

/// `^(key)`: each map of the pattern list must match at least one element of the resource's
/// list.
fn existence(resource: &Json, pattern: &Json, path: &str) -> Result<(), PatternError> {
    let Some(items) = resource.as_array() else {
        return Err(PatternError::fail(
            path,
            "existence anchor: the value must be a list",
        ));
    };
    let Some(patterns) = pattern.as_array() else {
        return Err(PatternError::fail(
            path,
            "existence anchor: the pattern must be a list",
        ));
    };
    for p in patterns {
        if !p.is_object() {
            return Err(PatternError::fail(
                path,
                "existence anchor: the pattern must be a list of maps",
            ));
        }
        let found = items
            .iter()
            .enumerate()
            .any(|(i, item)| element(item, p, &format!("{path}{i}/")).is_ok());
        if !found {
            return Err(PatternError::fail(
                path,
                "existence anchor: no element matches the pattern",
            ));
        }
    }
    Ok(())
}

/// Whether a pattern holds an anchor anywhere (Kyverno checks such keys first).
fn has_nested_anchors(pattern: &Json) -> bool {
    match pattern {
        Json::Object(m) => m.iter().any(|(k, v)| {
            !matches!(parse_key(k).0, Anchor::None | Anchor::AddIfNotPresent)
                || has_nested_anchors(v)
        }),
        Json::Array(a) => a.iter().any(has_nested_anchors),
        _ => false,
    }
}

fn array(resource: &[Json], pattern: &[Json], path: &str) -> Result<(), PatternError> {
    let Some(first) = pattern.first() else {
        return Err(PatternError::fail(path, "the pattern is an empty list"));
    };
    match first {
        Json::Object(_) => {
            // The first map applies to every element; elements where a conditional anchor
            // does not hold are skipped.
            let mut applied = 0;
            let mut skipped: Option<PatternError> = None;
            for (i, item) in resource.iter().enumerate() {
                match element(item, first, &format!("{path}{i}/")) {
                    Ok(()) => applied += 1,
                    // A conditional or global anchor that does not hold skips the element.
                    Err(e) if e.skip => {
                        skipped.get_or_insert(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            if applied == 0
                && let Some(mut e) = skipped
            {
                e.path = path.to_string();
                return Err(e);
            }
            Ok(())
        }
        _ => {
            // Lists of scalars (or of lists): element by element, as Kyverno does.
            if resource.len() < pattern.len() {
                return Err(PatternError::fail(
                    path,
                    format!(
                        "expected at least {} elements, found {}",
                        pattern.len(),
                        resource.len()
                    ),
                ));
            }
            for (i, p) in pattern.iter().enumerate() {
                element(&resource[i], p, &format!("{path}{i}/"))?;
            }
            Ok(())
        }
    }
}

/// Kyverno's `ValidateValueWithPattern`.
pub fn value_matches(value: &Json, pattern: &Json) -> bool {
    match pattern {
        Json::Bool(p) => value.as_bool() == Some(*p),
        Json::Number(p) => {
            let Some(p) = p.as_f64() else { return false };
            match value {
                Json::Number(n) => n.as_f64() == Some(p),
                Json::String(s) => s.trim().parse::<f64>().is_ok_and(|v| v == p),
                _ => false,
            }
        }
        Json::Null => match value {
            Json::Null => true,
            Json::Number(n) => n.as_f64() == Some(0.0),
            Json::String(s) => s.is_empty(),
            Json::Bool(b) => !b,
            _ => false,
        },
        Json::String(p) => string_patterns(value, p),
        _ => false,
    }
}

/// `a | b` (any) of `c & d` (all) of single patterns.
fn string_patterns(value: &Json, pattern: &str) -> bool {
    if let Json::String(s) = value
        && s == pattern
    {
        return true;
    }
    pattern
        .split('|')
        .any(|alt| alt.split('&').all(|c| single_pattern(value, c.trim())))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    NotEqual,
    More,
    Less,
    MoreEqual,
    LessEqual,
}

fn single_pattern(value: &Json, pattern: &str) -> bool {
    // Ranges, as Kyverno rewrites them: `a-b` is `>=a & <=b`, `a!-b` is `<a | >b`.
    if let Some((lo, hi, negate)) = parse_range(pattern) {
        return if negate {
            single_pattern(value, &format!("<{lo}")) || single_pattern(value, &format!(">{hi}"))
        } else {
            single_pattern(value, &format!(">={lo}")) && single_pattern(value, &format!("<={hi}"))
        };
    }
    let (op, rest) = if let Some(r) = pattern.strip_prefix(">=") {
        (Op::MoreEqual, r)
    } else if let Some(r) = pattern.strip_prefix("<=") {
        (Op::LessEqual, r)
    } else if let Some(r) = pattern.strip_prefix('>') {
        (Op::More, r)
    } else if let Some(r) = pattern.strip_prefix('<') {
        (Op::Less, r)
    } else if let Some(r) = pattern.strip_prefix('!') {
        (Op::NotEqual, r)
    } else {
        (Op::Equal, pattern)
    };
    let rest = rest.trim();
    // Numbers, quantities and durations compare by value.
    if quantity::Number::parse(rest).is_some() {
        // Kyverno compares a missing (null) value as `0`.
        let value_text = match value {
            Json::Number(n) => Some(n.to_string()),
            Json::String(s) => Some(s.clone()),
            Json::Null => Some("0".to_string()),
            _ => None,
        };
        if let Some(vt) = value_text
            && let Some(ord) = quantity::compare_text(&vt, rest)
        {
            return match op {
                Op::Equal => ord.is_eq(),
                Op::NotEqual => !ord.is_eq(),
                Op::More => ord.is_gt(),
                Op::Less => ord.is_lt(),
                Op::MoreEqual => ord.is_ge(),
                Op::LessEqual => ord.is_le(),
            };
        }
        if matches!(op, Op::More | Op::Less | Op::MoreEqual | Op::LessEqual) {
            return false;
        }
    }
    let text = match value {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        Json::Bool(b) => b.to_string(),
        // Kyverno: a missing value matches no string pattern, not even a negation.
        Json::Null => return false,
        _ => return false,
    };
    match op {
        Op::Equal => wildcard_match(rest, &text),
        Op::NotEqual => !wildcard_match(rest, &text),
        _ => false,
    }
}

fn parse_range(pattern: &str) -> Option<(&str, &str, bool)> {
    // The separator is a `-` (or `!-`) between two numbers; a leading `-` is a sign.
    let bytes = pattern.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] != b'-' {
            continue;
        }
        let (left, negate) = if bytes[i - 1] == b'!' {
            (&pattern[..i - 1], true)
        } else {
            (&pattern[..i], false)
        };
        let right = &pattern[i + 1..];
        if left.is_empty() || right.is_empty() {
            continue;
        }
        if let (Some(_), Some(_)) = (
            quantity::Number::parse(left.trim()),
            quantity::Number::parse(right.trim()),
        ) && left
            .trim()
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '-')
        {
            return Some((left.trim(), right.trim(), negate));
        }
    }
    None
}

/// Glob match with `*` (any run) and `?` (one character).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return pattern == text;
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(r: Json, p: Json) -> bool {
        validate(&r, &p).is_ok()
    }

    /// The failure (not a skip) of a pattern that must fail.
    fn fails(r: Json, p: Json) -> PatternError {
        let e = validate(&r, &p).expect_err("expected a failure");
        assert!(!e.skip, "expected a failure, got a skip: {e:?}");
        e
    }

    /// A pattern that must not apply (a conditional or global anchor does not hold).
    fn skips(r: Json, p: Json) -> PatternError {
        let e = validate(&r, &p).expect_err("expected a skip");
        assert!(e.skip, "expected a skip, got a failure: {e:?}");
        e
    }

    fn pod() -> Json {
        json!({"spec": {"containers": [
            {"name": "a", "image": "nginx:1.25", "securityContext": {"privileged": false}},
            {"name": "b", "image": "redis:latest"}
        ]}})
    }

    #[test]
    fn parse_key_anchors() {
        assert_eq!(parse_key("(name)"), (Anchor::Condition, "name"));
        assert_eq!(parse_key("=(name)"), (Anchor::Equality, "name"));
        assert_eq!(parse_key("X(name)"), (Anchor::Negation, "name"));
        assert_eq!(parse_key("^(name)"), (Anchor::Existence, "name"));
        assert_eq!(parse_key("<(name)"), (Anchor::Global, "name"));
        assert_eq!(parse_key("+(name)"), (Anchor::AddIfNotPresent, "name"));
        assert_eq!(parse_key("name"), (Anchor::None, "name"));
        assert_eq!(parse_key("(name"), (Anchor::None, "(name"));
    }

    #[test]
    fn plain_value_mismatch_fails_at_its_path() {
        let e = fails(
            pod(),
            json!({"spec": {"containers": [{"image": "!*:latest"}]}}),
        );
        assert_eq!(e.path, "/spec/containers/1/image/");
    }

    #[test]
    fn list_pattern_applies_its_map_to_every_element() {
        assert!(ok(pod(), json!({"spec": {"containers": [{"name": "?*"}]}})));
        let e = fails(pod(), json!({"spec": {"containers": [{"name": "a"}]}}));
        assert_eq!(e.path, "/spec/containers/1/name/");
        // An empty resource list has nothing to fail.
        assert!(ok(
            json!({"spec": {"containers": []}}),
            json!({"spec": {"containers": [{"name": "a"}]}})
        ));
        // A map pattern against a scalar fails.
        let e = fails(json!({"spec": 1}), json!({"spec": {"a": 1}}));
        assert_eq!(e.path, "/spec/");
    }

    #[test]
    fn scalar_pattern_applies_to_every_list_element() {
        let r = json!({"args": ["--a", "--b"]});
        assert!(ok(r.clone(), json!({"args": "--*"})));
        let e = fails(r, json!({"args": "!--b"}));
        assert_eq!(e.path, "/args/");
    }

    #[test]
    fn conditional_anchor_mismatch_skips() {
        // Holds for container a: its image is checked (and passes).
        assert!(ok(
            pod(),
            json!({"spec": {"containers": [{"(name)": "a", "image": "nginx:*"}]}})
        ));
        // Holds for a, whose image fails: the rule fails.
        let e = fails(
            pod(),
            json!({"spec": {"containers": [{"(name)": "a", "image": "redis:*"}]}}),
        );
        assert_eq!(e.path, "/spec/containers/0/image/");
        // Holds for no element: the pattern does not apply.
        skips(
            pod(),
            json!({"spec": {"containers": [{"(name)": "z", "image": "x"}]}}),
        );
    }

    #[test]
    fn conditional_anchor_on_absent_key_skips() {
        skips(
            json!({"spec": {}}),
            json!({"spec": {"(hostNetwork)": true, "hostPID": false}}),
        );
    }

    #[test]
    fn equality_anchor_checks_only_when_present() {
        assert!(ok(
            json!({"spec": {}}),
            json!({"spec": {"=(hostNetwork)": false}})
        ));
        assert!(ok(
            json!({"spec": {"hostNetwork": false}}),
            json!({"spec": {"=(hostNetwork)": false}})
        ));
        let e = fails(
            json!({"spec": {"hostNetwork": true}}),
            json!({"spec": {"=(hostNetwork)": false}}),
        );
        assert_eq!(e.path, "/spec/hostNetwork/");
    }

    #[test]
    fn negation_anchor_forbids_the_key() {
        let e = fails(
            json!({"spec": {"hostPID": false}}),
            json!({"spec": {"X(hostPID)": "null"}}),
        );
        assert_eq!(e.path, "/spec/hostPID/");
        assert!(ok(
            json!({"spec": {}}),
            json!({"spec": {"X(hostPID)": "null"}})
        ));
    }

    #[test]
    fn existence_anchor_needs_one_matching_element() {
        assert!(ok(
            pod(),
            json!({"spec": {"^(containers)": [{"name": "b"}]}})
        ));
        let e = fails(pod(), json!({"spec": {"^(containers)": [{"name": "z"}]}}));
        assert_eq!(e.path, "/spec/containers/");
        // Absent: nothing to check.
        assert!(ok(
            json!({"spec": {}}),
            json!({"spec": {"^(containers)": [{"name": "z"}]}})
        ));
    }

    #[test]
    fn existence_anchor_checks_every_map_of_the_pattern() {
        assert!(ok(
            pod(),
            json!({"spec": {"^(containers)": [{"name": "a"}, {"name": "b"}]}})
        ));
        fails(
            pod(),
            json!({"spec": {"^(containers)": [{"name": "a"}, {"name": "z"}]}}),
        );
    }

    #[test]
    fn existence_anchor_on_a_non_list_fails() {
        let e = fails(
            json!({"spec": {"containers": {"name": "a"}}}),
            json!({"spec": {"^(containers)": [{"name": "a"}]}}),
        );
        assert_eq!(e.path, "/spec/containers/");
    }

    #[test]
    fn global_anchor_mismatch_skips_the_rule() {
        let e = skips(
            json!({"spec": {"containers": [{"image": "docker.io/x"}]}}),
            json!({"spec": {"containers": [{"<(image)": "corp.io/*"}], "imagePullSecrets": [{"name": "corp"}]}}),
        );
        assert!(e.global);
    }

    #[test]
    fn global_anchor_holding_for_one_element_applies_the_rule() {
        let pattern = json!({"spec": {
            "containers": [{"<(image)": "corp.io/*"}],
            "imagePullSecrets": [{"name": "corp"}]
        }});
        let two =
            json!({"spec": {"containers": [{"image": "docker.io/x"}, {"image": "corp.io/y"}]}});
        let e = fails(two.clone(), pattern.clone());
        assert_eq!(e.path, "/spec/imagePullSecrets/");
        let mut with_secret = two;
        with_secret["spec"]["imagePullSecrets"] = json!([{"name": "corp"}]);
        assert!(ok(with_secret, pattern));
    }

    #[test]
    fn global_anchor_on_absent_key_holds() {
        // Kyverno: a global anchor whose key is absent does not stop the rule.
        let e = fails(
            json!({"spec": {"containers": [{"name": "a"}]}}),
            json!({"spec": {"containers": [{"<(image)": "corp.io/*"}], "hostNetwork": false}}),
        );
        assert_eq!(e.path, "/spec/hostNetwork/");
    }

    #[test]
    fn keys_holding_anchors_are_checked_first() {
        // Kyverno checks `spec` (it holds a conditional anchor) before `metadata`: no container
        // is named z, so the pattern does not apply, although the label fails too.
        skips(
            json!({"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "a"}]}}),
            json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"(name)": "z", "image": "y"}]}}),
        );
    }

    #[test]
    fn required_star_and_non_empty_wildcard() {
        // `*`: the key must be present (any value, even empty).
        let e = fails(
            json!({"metadata": {}}),
            json!({"metadata": {"labels": "*"}}),
        );
        assert!(e.message.contains("required"), "{e:?}");
        assert!(ok(
            json!({"metadata": {"labels": {}}}),
            json!({"metadata": {"labels": "*"}})
        ));
        assert!(ok(
            json!({"metadata": {"name": ""}}),
            json!({"metadata": {"name": "*"}})
        ));
        // `?*`: a non-empty value.
        fails(json!({"metadata": {}}), json!({"metadata": {"name": "?*"}}));
        fails(
            json!({"metadata": {"name": ""}}),
            json!({"metadata": {"name": "?*"}}),
        );
        assert!(ok(
            json!({"metadata": {"name": "x"}}),
            json!({"metadata": {"name": "?*"}})
        ));
    }

    #[test]
    fn null_pattern_matches_missing_and_empty() {
        assert!(ok(json!({"spec": {}}), json!({"spec": {"hostPort": null}})));
        assert!(ok(
            json!({"spec": {"hostPort": 0}}),
            json!({"spec": {"hostPort": null}})
        ));
        assert!(ok(json!({"spec": {"x": ""}}), json!({"spec": {"x": null}})));
        assert!(ok(
            json!({"spec": {"x": false}}),
            json!({"spec": {"x": null}})
        ));
        fails(
            json!({"spec": {"hostPort": 80}}),
            json!({"spec": {"hostPort": null}}),
        );
        fails(json!({"spec": {"x": {}}}), json!({"spec": {"x": null}}));
    }

    #[test]
    fn missing_value_compares_as_zero_and_matches_no_string() {
        // Kyverno turns a missing value into `0` for numeric comparisons…
        assert!(ok(json!({}), json!({"replicas": "<10"})));
        assert!(!ok(json!({}), json!({"replicas": ">0"})));
        assert!(ok(json!({}), json!({"replicas": "0-5"})));
        // …and matches it against no string pattern, not even a negation.
        fails(json!({}), json!({"image": "!*:latest"}));
        fails(json!({}), json!({"image": "*"}));
    }

    #[test]
    fn wildcards_in_values() {
        assert!(value_matches(&json!("nginx:1.2"), &json!("*:*")));
        assert!(!value_matches(&json!("nginx"), &json!("*:*")));
        assert!(value_matches(&json!("x"), &json!("?")));
        assert!(!value_matches(&json!("xy"), &json!("?")));
        assert!(value_matches(
            &json!("registry.io/app"),
            &json!("registry.io/*")
        ));
        assert!(value_matches(&json!(8080), &json!("80*")));
    }

    #[test]
    fn wildcards_in_label_keys() {
        let labels = json!({"metadata": {"labels": {"app.kubernetes.io/name": "x"}}});
        assert!(ok(
            labels.clone(),
            json!({"metadata": {"labels": {"app.kubernetes.io/*": "?*"}}})
        ));
        let e = fails(
            json!({"metadata": {"labels": {"team-a": ""}}}),
            json!({"metadata": {"labels": {"team-*": "?*"}}}),
        );
        assert_eq!(e.path, "/metadata/labels/team-a/");
        // No key matches: a plain wildcard key fails as missing.
        fails(
            labels.clone(),
            json!({"metadata": {"labels": {"owner*": "?*"}}}),
        );
        // Anchored wildcard keys keep their anchor.
        assert!(ok(
            labels,
            json!({"metadata": {"labels": {"=(owner*)": "x"}}})
        ));
    }

    #[test]
    fn wildcard_keys_elsewhere_are_literal() {
        // Outside metadata labels and annotations, `*` in a key is an ordinary character.
        fails(
            json!({"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}),
            json!({"spec": {"nodeSelector": {"kubernetes.io/*": "?*"}}}),
        );
    }

    #[test]
    fn comparison_operators() {
        assert!(value_matches(&json!(3), &json!(">2")));
        assert!(!value_matches(&json!(2), &json!(">2")));
        assert!(value_matches(&json!(2), &json!(">=2")));
        assert!(value_matches(&json!(1), &json!("<2")));
        assert!(!value_matches(&json!(3), &json!("<=2")));
        assert!(value_matches(&json!("5"), &json!("> 4")));
        // Order operators do not apply to text.
        assert!(!value_matches(&json!("abc"), &json!(">1")));
    }

    #[test]
    fn negation_operator() {
        assert!(value_matches(&json!("nginx:1.2"), &json!("!*:latest")));
        assert!(!value_matches(&json!("nginx:latest"), &json!("!*:latest")));
        assert!(value_matches(&json!(3), &json!("!2")));
        assert!(!value_matches(&json!(2), &json!("!2")));
    }

    #[test]
    fn or_and_and_operators() {
        assert!(value_matches(&json!("b"), &json!("a | b")));
        assert!(!value_matches(&json!("c"), &json!("a | b")));
        assert!(value_matches(&json!(5), &json!(">1 & <10")));
        assert!(!value_matches(&json!(10), &json!(">1 & <10")));
        assert!(value_matches(&json!(0), &json!(">1 & <10 | 0")));
    }

    #[test]
    fn ranges() {
        assert!(value_matches(&json!(5), &json!("1-10")));
        assert!(value_matches(&json!(10), &json!("1-10")));
        assert!(!value_matches(&json!(11), &json!("1-10")));
        assert!(!value_matches(&json!(5), &json!("1!-10")));
        assert!(value_matches(&json!(11), &json!("1!-10")));
        assert!(value_matches(&json!(0), &json!("1!-10")));
        assert!(value_matches(&json!("1500m"), &json!("1-2")));
        assert!(value_matches(&json!("90m"), &json!("1h-2h")));
    }

    #[test]
    fn quantities() {
        assert!(value_matches(&json!("1Gi"), &json!("1024Mi")));
        assert!(value_matches(&json!("2Gi"), &json!("<=2048Mi")));
        assert!(!value_matches(&json!("3Gi"), &json!("<=2048Mi")));
        assert!(value_matches(&json!("200m"), &json!(">100m")));
        assert!(value_matches(&json!("0.2"), &json!(">100m")));
        assert!(!value_matches(&json!("50m"), &json!(">100m")));
        assert!(value_matches(&json!(1), &json!("1000m")));
        // Not a quantity: compared as text.
        assert!(!value_matches(&json!("lots"), &json!(">1Gi")));
    }

    #[test]
    fn durations() {
        assert!(value_matches(&json!("30m"), &json!("<=1h")));
        assert!(value_matches(&json!("1h"), &json!("<=1h")));
        assert!(!value_matches(&json!("90m"), &json!("<=1h")));
        assert!(value_matches(&json!("30s"), &json!("<1m")));
        assert!(value_matches(&json!("1h30m"), &json!("90m")));
    }

    #[test]
    fn numbers_and_strings() {
        assert!(value_matches(&json!(80), &json!("80")));
        assert!(value_matches(&json!("80"), &json!(80)));
        assert!(!value_matches(&json!(80.5), &json!(80)));
        assert!(value_matches(&json!(1.5), &json!(1.5)));
        assert!(!value_matches(&json!("eighty"), &json!(80)));
        assert!(!value_matches(&json!(true), &json!(1)));
    }

    #[test]
    fn booleans() {
        assert!(value_matches(&json!(false), &json!(false)));
        assert!(!value_matches(&json!(true), &json!(false)));
        assert!(!value_matches(&json!("false"), &json!(false)));
        assert!(value_matches(&json!(true), &json!("true")));
    }
}
