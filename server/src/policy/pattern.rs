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
/// the resource's keys: each matching key must satisfy the value pattern.
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
    let entries = expand_wildcard_keys(resource, pattern);
    // Anchors first (conditions decide whether the rest applies), then plain keys.
    let (anchored, plain): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(k, _)| {
        matches!(
            parse_key(k).0,
            Anchor::Condition
                | Anchor::Global
                | Anchor::Existence
                | Anchor::Negation
                | Anchor::Equality
        )
    });
    // Kyverno handles conditional and global anchors before the others.
    let mut ordered: Vec<(String, &Json)> = Vec::new();
    for (k, v) in &anchored {
        if matches!(parse_key(k).0, Anchor::Condition | Anchor::Global) {
            ordered.push((k.clone(), v));
        }
    }
    for (k, v) in &anchored {
        if !matches!(parse_key(k).0, Anchor::Condition | Anchor::Global) {
            ordered.push((k.clone(), v));
        }
    }
    ordered.extend(plain);
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
                if value.is_none() && anchor == Anchor::Global {
                    return Err(PatternError {
                        path: here,
                        message: format!("global anchor key `{name}` is not present"),
                        skip: true,
                        global: true,
                    });
                }
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

/// `^(key)`: the resource's list must have at least one element that matches.
fn existence(resource: &Json, pattern: &Json, path: &str) -> Result<(), PatternError> {
    let Some(items) = resource.as_array() else {
        return Err(PatternError::fail(
            path,
            "existence anchor: the value must be a list",
        ));
    };
    let Some(p) = pattern.as_array().and_then(|p| p.first()) else {
        return Err(PatternError::fail(
            path,
            "existence anchor: the pattern must be a list of one element",
        ));
    };
    for (i, item) in items.iter().enumerate() {
        if element(item, p, &format!("{path}{i}/")).is_ok() {
            return Ok(());
        }
    }
    Err(PatternError::fail(
        path,
        "existence anchor: no element matches the pattern",
    ))
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
                    Err(e) if e.skip => {
                        if e.global {
                            return Err(e);
                        }
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
    // Ranges: `a-b` (inside, inclusive) and `a!-b` (outside).
    if let Some((lo, hi, negate)) = parse_range(pattern) {
        let Some(v) = number_of(value) else {
            return false;
        };
        let inside = quantity::compare(&v, &lo).is_some_and(|o| o.is_ge())
            && quantity::compare(&v, &hi).is_some_and(|o| o.is_le());
        return inside != negate;
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
        let value_text = match value {
            Json::Number(n) => Some(n.to_string()),
            Json::String(s) => Some(s.clone()),
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
        Json::Null => {
            // A missing value matches only negations of something present.
            return op == Op::NotEqual
                && !rest.is_empty()
                && rest != "*"
                && !wildcard_match(rest, "");
        }
        _ => return false,
    };
    match op {
        Op::Equal => wildcard_match(rest, &text),
        Op::NotEqual => !wildcard_match(rest, &text),
        _ => false,
    }
}

fn number_of(value: &Json) -> Option<quantity::Number> {
    match value {
        Json::Number(n) => n.as_f64().map(quantity::Number::Plain),
        Json::String(s) => quantity::Number::parse(s.trim()),
        _ => None,
    }
}

fn parse_range(pattern: &str) -> Option<(quantity::Number, quantity::Number, bool)> {
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
        if let (Some(lo), Some(hi)) = (
            quantity::Number::parse(left.trim()),
            quantity::Number::parse(right.trim()),
        ) && left
            .trim()
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '-')
        {
            return Some((lo, hi, negate));
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

    #[test]
    fn values_and_operators() {
        assert!(value_matches(&json!("nginx:1.2"), &json!("*:*")));
        assert!(!value_matches(&json!("nginx"), &json!("*:*")));
        assert!(value_matches(&json!("nginx:1.2"), &json!("!*:latest")));
        assert!(!value_matches(&json!("nginx:latest"), &json!("!*:latest")));
        assert!(value_matches(&json!(3), &json!(">2")));
        assert!(value_matches(&json!("2Gi"), &json!("<=2048Mi")));
        assert!(!value_matches(&json!("3Gi"), &json!("<=2048Mi")));
        assert!(value_matches(&json!(5), &json!("1-10")));
        assert!(!value_matches(&json!(5), &json!("1!-10")));
        assert!(value_matches(&json!(11), &json!("1!-10")));
        assert!(value_matches(&json!("b"), &json!("a | b")));
        assert!(value_matches(&json!(5), &json!(">1 & <10")));
        assert!(value_matches(&json!(null), &json!(null)));
        assert!(value_matches(&json!(""), &json!(null)));
        assert!(value_matches(&json!("30s"), &json!("<1m")));
        assert!(value_matches(&json!(false), &json!(false)));
        assert!(!value_matches(&json!("false"), &json!(false)));
        assert!(value_matches(&json!("x"), &json!("?")));
        assert!(value_matches(&json!(80), &json!("80")));
    }

    #[test]
    fn anchors() {
        let pod = json!({"spec": {"containers": [{"name": "a", "image": "nginx:latest", "securityContext": {"privileged": false}}]}});
        assert!(ok(
            pod.clone(),
            json!({"spec": {"containers": [{"image": "!*:latest | *"}]}})
        ));
        let e = validate(
            &pod,
            &json!({"spec": {"containers": [{"image": "!*:latest"}]}}),
        )
        .unwrap_err();
        assert_eq!(e.path, "/spec/containers/0/image/");
        assert!(!e.skip);
        // Conditional anchor mismatch: skip.
        let e = validate(
            &pod,
            &json!({"spec": {"containers": [{"(name)": "b", "image": "x"}]}}),
        )
        .unwrap_err();
        assert!(e.skip);
        // Equality anchor: checked only when present.
        assert!(ok(pod.clone(), json!({"spec": {"=(hostNetwork)": false}})));
        assert!(!ok(
            json!({"spec": {"hostNetwork": true}}),
            json!({"spec": {"=(hostNetwork)": false}})
        ));
        // Negation.
        assert!(!ok(
            json!({"spec": {"hostPID": true}}),
            json!({"spec": {"X(hostPID)": "null"}})
        ));
        // Existence: at least one.
        assert!(ok(
            pod.clone(),
            json!({"spec": {"^(containers)": [{"name": "a"}]}})
        ));
        assert!(!ok(
            pod.clone(),
            json!({"spec": {"^(containers)": [{"name": "z"}]}})
        ));
        // Required field with `*`.
        assert!(!ok(
            json!({"metadata": {}}),
            json!({"metadata": {"labels": "*"}})
        ));
        // Wildcard keys.
        let labels = json!({"metadata": {"labels": {"app.kubernetes.io/name": "x"}}});
        assert!(ok(
            labels.clone(),
            json!({"metadata": {"labels": {"app.kubernetes.io/*": "?*"}}})
        ));
        // Global anchor: the whole rule does not apply.
        let e = validate(
            &pod,
            &json!({"spec": {"containers": [{"<(image)": "*:v1", "name": "q"}]}}),
        )
        .unwrap_err();
        assert!(e.skip && e.global);
    }
}
