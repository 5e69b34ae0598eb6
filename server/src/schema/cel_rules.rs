//! CRD validation rules (`x-kubernetes-validations`): CEL expressions the API server evaluates
//! on the value of the schema node that carries them. Evaluated here during schema validation,
//! as on a create: `self` is the node's value (pruned of unknown fields, defaulted and typed as
//! the API server gives it to CEL), transition rules (those reading `oldSelf`) are skipped unless
//! `optionalOldSelf` is set, and a failure is reported on the field it belongs to, worded as the
//! API server words it (`spec: Invalid value: "object": <message>`).
//!
//! Rules are compiled once (the CEL cache is keyed by source text); a schema without rules costs
//! nothing more than a test of an empty list per value.

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::objects::{Key, Map, OptionalValue};
use serde_json::Value as Json;

use super::model::{Additional, SchemaArena, SchemaId, Types, ValidationRule};
use super::validate::Validator;
use crate::cel::{CelError, Compiled, Value, Vars, to_value};
use crate::finding::Severity;
use crate::yaml::{Node, Span, Value as Yaml};

/// Code of a rule that does not hold (or cannot be evaluated) for a resource.
pub const RULE_CODE: &str = "schema/validation-rule";
/// Code of a rule of the CRD that does not compile (a problem of the CRD, reported once).
pub const RULE_COMPILE_CODE: &str = "schema/validation-rule-compile";

/// Structural errors after which the API server does not run validation rules (the value is
/// not what the rules were written for); applied here to the subtree of the rule's node.
const BLOCKING: &[&str] = &[
    "schema/type",
    "schema/required",
    "schema/enum",
    "schema/max-length",
    "schema/max-items",
    "schema/max-properties",
];

/// Words CEL reserves; a property so named is `__name__` in a rule (`self.__namespace__`).
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// The name of an object property as rules spell it (Kubernetes' escaping: `foo-bar` is
/// `foo__dash__bar`, `namespace` is `__namespace__`); None when a rule cannot name it.
pub fn escape_property(name: &str) -> Option<String> {
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !name.contains("__") {
        return Some(name.to_string());
    }
    let mut out = String::with_capacity(name.len() + 8);
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
                out.push_str("__underscores__");
            }
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

/// The value of `self` for a rule: the JSON value typed by its schema as the API server hands
/// it to CEL. Unknown fields are pruned, defaults applied, nulls of non-nullable fields dropped,
/// `number` fields are doubles, `date-time`/`date` strings timestamps; declared properties are
/// named as rules spell them.
pub fn self_value(
    arena: &SchemaArena,
    object_meta: Option<SchemaId>,
    json: &Json,
    id: SchemaId,
) -> Value {
    Typer { arena, object_meta }.typed(json, id, 0)
}

struct Typer<'a> {
    arena: &'a SchemaArena,
    object_meta: Option<SchemaId>,
}

impl Typer<'_> {
    fn typed(&self, json: &Json, id: SchemaId, depth: usize) -> Value {
        if depth > 100 {
            return to_value(json);
        }
        let s = self.arena.get(self.arena.resolve(id));
        match json {
            Json::Object(m) => {
                let mut out: HashMap<Key, Value> = HashMap::with_capacity(m.len());
                let key = |k: String| Key::String(Arc::new(k));
                for (k, v) in m {
                    if let Some(p) = s.property(k) {
                        if let (Some(name), Some(val)) =
                            (escape_property(k), self.field(v, p, depth))
                        {
                            out.insert(key(name), val);
                        }
                    } else if s.embedded_resource
                        && matches!(k.as_str(), "apiVersion" | "kind" | "metadata")
                    {
                        let val = match (k.as_str(), self.object_meta) {
                            ("metadata", Some(meta)) => self.typed(v, meta, depth + 1),
                            _ => to_value(v),
                        };
                        out.insert(key(k.clone()), val);
                    } else {
                        match s.additional {
                            Additional::Schema(a) => {
                                if let Some(val) = self.field(v, a, depth) {
                                    out.insert(key(k.clone()), val);
                                }
                            }
                            Additional::Any => {
                                out.insert(key(k.clone()), to_value(v));
                            }
                            Additional::Forbidden => {}
                        }
                    }
                }
                // Defaults of absent fields (and of nulls the API server would drop).
                for (k, p) in &s.properties {
                    match m.get(&**k) {
                        Some(Json::Null) if self.nullable(*p) => continue,
                        Some(Json::Null) | None => {}
                        Some(_) => continue,
                    }
                    if let Some(d) = self.arena.default_value(*p)
                        && let Some(name) = escape_property(k)
                    {
                        out.insert(key(name), self.typed(d, *p, depth + 1));
                    }
                }
                Value::Map(Map { map: Arc::new(out) })
            }
            Json::Array(items) => match s.items {
                Some(i) => Value::List(Arc::new(
                    items.iter().map(|x| self.typed(x, i, depth + 1)).collect(),
                )),
                None => to_value(json),
            },
            Json::Number(n) if s.types.has(Types::NUMBER) && !s.types.has(Types::INTEGER) => {
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
            Json::String(t) if s.types.has(Types::STRING) && !s.int_or_string => {
                match s.format.as_deref().and_then(|f| timestamp(f, t)) {
                    Some(ts) => Value::Timestamp(ts),
                    None => to_value(json),
                }
            }
            _ => to_value(json),
        }
    }

    /// A property's value; None when the API server prunes it (a null where none is allowed).
    fn field(&self, v: &Json, p: SchemaId, depth: usize) -> Option<Value> {
        if v.is_null() {
            return self.nullable(p).then_some(Value::Null);
        }
        Some(self.typed(v, p, depth + 1))
    }

    fn nullable(&self, p: SchemaId) -> bool {
        let s = self.arena.get(self.arena.resolve(p));
        s.nullable || s.types.has(Types::NULL)
    }
}

/// A `date-time` or `date` string as the timestamp the API server gives CEL.
fn timestamp(format: &str, text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    match format {
        "date-time" => chrono::DateTime::parse_from_rfc3339(text).ok(),
        "date" => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().fixed_offset()),
        _ => None,
    }
}

/// Whether an expression reads `oldSelf` (a transition rule).
pub fn reads_old_self(compiled: &Compiled) -> bool {
    fn walk(e: &IdedExpr) -> bool {
        match &e.expr {
            Expr::Ident(name) => name == "oldSelf",
            Expr::Select(s) => walk(&s.operand),
            Expr::Call(c) => c.target.as_deref().is_some_and(walk) || c.args.iter().any(walk),
            Expr::Comprehension(c) => [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ]
            .into_iter()
            .any(walk),
            Expr::List(l) => l.elements.iter().any(walk),
            Expr::Map(m) => m.entries.iter().any(|entry| match &entry.expr {
                EntryExpr::MapEntry(me) => walk(&me.key) || walk(&me.value),
                EntryExpr::StructField(f) => walk(&f.value),
            }),
            Expr::Struct(s) => s.entries.iter().any(|entry| match &entry.expr {
                EntryExpr::MapEntry(me) => walk(&me.key) || walk(&me.value),
                EntryExpr::StructField(f) => walk(&f.value),
            }),
            Expr::Literal(_) | Expr::Unspecified => false,
        }
    }
    walk(compiled.expression())
}

/// A rule's `fieldPath` (`.spec.replicas`, `.labels['app.kubernetes.io/name']`, `.items[0]`)
/// as path segments; None when it does not parse.
pub fn parse_field_path(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let b = text.trim().as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                if j == start {
                    return None;
                }
                out.push(std::str::from_utf8(&b[start..j]).ok()?.to_string());
                i = j;
            }
            b'[' => {
                let quote = *b.get(i + 1)?;
                if quote == b'\'' || quote == b'"' {
                    let mut seg = Vec::new();
                    let mut j = i + 2;
                    loop {
                        let c = *b.get(j)?;
                        if c == b'\\' {
                            seg.push(*b.get(j + 1)?);
                            j += 2;
                        } else if c == quote {
                            break;
                        } else {
                            seg.push(c);
                            j += 1;
                        }
                    }
                    if b.get(j + 1) != Some(&b']') {
                        return None;
                    }
                    out.push(String::from_utf8(seg).ok()?);
                    i = j + 2;
                } else {
                    let close = i + 1 + b[i + 1..].iter().position(|&c| c == b']')?;
                    let index = std::str::from_utf8(&b[i + 1..close]).ok()?.trim();
                    index.parse::<usize>().ok()?;
                    out.push(index.to_string());
                    i = close + 1;
                }
            }
            _ if i == 0 => {
                // A path without the leading dot (`spec.replicas`).
                let mut j = 0;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                out.push(std::str::from_utf8(&b[..j]).ok()?.to_string());
                i = j;
            }
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A path as the API server writes field paths: `spec.containers[0].name`.
pub(super) fn field_path_text(segments: &[String]) -> String {
    let mut s = String::new();
    for seg in segments {
        if seg.parse::<usize>().is_ok() {
            s.push('[');
            s.push_str(seg);
            s.push(']');
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(seg);
        }
    }
    s
}

/// The rule's own words for messages: its message, else its expression.
fn rule_text(rule: &ValidationRule) -> &str {
    match rule.message.as_deref().map(str::trim) {
        Some(m) if !m.is_empty() => m,
        _ => rule.rule.trim(),
    }
}

/// The JSON type name the API server shows as the invalid "value" of a rule's node.
fn type_name(types: Types, node: &Node) -> &'static str {
    for (bit, name) in [
        (Types::OBJECT, "object"),
        (Types::ARRAY, "array"),
        (Types::STRING, "string"),
        (Types::INTEGER, "integer"),
        (Types::NUMBER, "number"),
        (Types::BOOLEAN, "boolean"),
    ] {
        if types.0 == bit {
            return name;
        }
    }
    match node.value {
        Yaml::Map(_) => "object",
        Yaml::Seq(_) => "array",
        Yaml::Str(_) => "string",
        Yaml::Int(_) => "integer",
        Yaml::Float(_) => "number",
        Yaml::Bool(_) => "boolean",
        Yaml::Null => "null",
    }
}

/// `<path>: <reason>: <detail>` as the API server's field errors read.
fn field_error(path: &str, reason: Option<&str>, type_name: &str, detail: &str) -> String {
    let body = match reason {
        Some("FieldValueForbidden") => format!("Forbidden: {detail}"),
        Some("FieldValueRequired") => format!("Required value: {detail}"),
        Some("FieldValueDuplicate") => format!("Duplicate value: \"{type_name}\": {detail}"),
        _ => format!("Invalid value: \"{type_name}\": {detail}"),
    };
    if path.is_empty() {
        body
    } else {
        format!("{path}: {body}")
    }
}

/// Where a finding about a value goes: a scalar's value, a collection's key (the first key of
/// a mapping without one, as a list item), as the other schema findings are placed.
fn span_of(node: &Node, key: Option<Span>) -> Span {
    match &node.value {
        Yaml::Map(entries) => {
            key.unwrap_or_else(|| entries.first().map_or(node.span, |e| e.key_span))
        }
        Yaml::Seq(_) => key.unwrap_or(node.span),
        _ => node.span,
    }
}

/// The node at `path` below `node`, with the span of the key holding it.
fn descend<'n>(node: &'n Node, path: &[String]) -> Option<(&'n Node, Option<Span>)> {
    let mut cur = node;
    let mut key = None;
    for seg in path {
        match &cur.value {
            Yaml::Map(_) => {
                let e = cur.entry(seg)?;
                key = Some(e.key_span);
                cur = &e.value;
            }
            Yaml::Seq(items) => {
                cur = items.get(seg.parse::<usize>().ok()?)?;
                key = None;
            }
            _ => return None,
        }
    }
    Some((cur, key))
}

/// What a rule gave.
enum Outcome {
    Pass,
    /// Not evaluated: a transition rule, or one needing data this side of the API server lacks.
    Skipped,
    Failed(String),
    Error(String),
}

impl Validator<'_> {
    /// Evaluates the validation rules of the schema nodes `ids` (a node and what it refers to)
    /// on `node`. `first_issue` is where the issues of this value's subtree start: a blocking
    /// error there means the rules do not run, as the API server would not run them.
    pub(super) fn check_rules(
        &mut self,
        node: &Node,
        ids: &[SchemaId],
        key: Option<Span>,
        first_issue: usize,
    ) {
        if self.issues[first_issue.min(self.issues.len())..]
            .iter()
            .any(|i| BLOCKING.contains(&i.code))
        {
            return;
        }
        let arena = &self.catalog.arena;
        let object_meta = self.catalog.object_meta;
        let mut vars: Option<Vars> = None;
        let here = self.path_text();
        for &id in ids {
            let schema = arena.get(id);
            let types = arena.get(arena.resolve(id)).types;
            for (index, rule) in schema.validations.iter().enumerate() {
                let compiled = match crate::cel::compile(&rule.rule) {
                    Ok(c) => c,
                    Err(e) => {
                        if !self.compile_errors.contains(&(id, index)) {
                            self.compile_errors.push((id, index));
                            let message = match e {
                                CelError::Compile(m) => m,
                                other => other.to_string(),
                            };
                            self.report(
                                RULE_COMPILE_CODE,
                                Severity::Warning,
                                span_of(node, key),
                                format!(
                                    "x-kubernetes-validations rule does not compile: {message} (rule: `{}`)",
                                    rule.rule.trim()
                                ),
                                None,
                            );
                        }
                        continue;
                    }
                };
                let transition = reads_old_self(&compiled);
                if transition && !rule.optional_old_self {
                    continue;
                }
                let vars = vars.get_or_insert_with(|| {
                    let mut v = Vars::new();
                    v.set_value("self", self_value(arena, object_meta, &node.to_json(), id));
                    v
                });
                if transition {
                    vars.set_value("oldSelf", Value::Opaque(Arc::new(OptionalValue::none())));
                } else {
                    vars.remove("oldSelf");
                }
                #[cfg(test)]
                tests::EVALUATED.with(|n| n.set(n.get() + 1));
                let tname = type_name(types, node);
                let outcome = match crate::cel::eval(&compiled, vars) {
                    Ok(Value::Bool(true)) => Outcome::Pass,
                    Ok(Value::Bool(false)) => Outcome::Failed(failure_message(rule, vars)),
                    Ok(other) => Outcome::Error(format!(
                        "the rule gave {} instead of a bool evaluating rule: {}",
                        crate::cel::display(&other),
                        rule_text(rule)
                    )),
                    Err(CelError::Eval(m)) | Err(CelError::Compile(m)) => {
                        Outcome::Error(format!("{m} evaluating rule: {}", rule_text(rule)))
                    }
                    Err(CelError::Cost(m)) => Outcome::Error(format!(
                        "the rule exceeded the cost budget ({m}) for rule: {}",
                        rule_text(rule)
                    )),
                    Err(CelError::Unsupported(_)) => Outcome::Skipped,
                };
                match outcome {
                    Outcome::Pass | Outcome::Skipped => {}
                    Outcome::Error(detail) => {
                        let message = field_error(&here, None, tname, &detail);
                        self.report(
                            RULE_CODE,
                            Severity::Error,
                            span_of(node, key),
                            message,
                            None,
                        );
                    }
                    Outcome::Failed(detail) => {
                        let below = rule
                            .field_path
                            .as_deref()
                            .and_then(parse_field_path)
                            .unwrap_or_default();
                        let mut full = self.path.clone();
                        full.extend(below.iter().cloned());
                        let message = field_error(
                            &field_path_text(&full),
                            rule.reason.as_deref(),
                            tname,
                            &detail,
                        );
                        match descend(node, &below).filter(|_| !below.is_empty()) {
                            Some((target, target_key)) => {
                                let depth = self.path.len();
                                self.path.extend(below.iter().cloned());
                                self.report(
                                    RULE_CODE,
                                    Severity::Error,
                                    span_of(target, target_key),
                                    message,
                                    None,
                                );
                                self.path.truncate(depth);
                            }
                            None => self.report(
                                RULE_CODE,
                                Severity::Error,
                                span_of(node, key),
                                message,
                                None,
                            ),
                        }
                    }
                }
            }
        }
    }

    fn path_text(&self) -> String {
        field_path_text(&self.path)
    }
}

/// The message of a failed rule: its `messageExpression`'s value, else its `message`, else
/// `failed rule: <rule>`.
fn failure_message(rule: &ValidationRule, vars: &Vars) -> String {
    if let Some(expr) = &rule.message_expression
        && let Ok(Value::String(s)) = crate::cel::eval_str(expr, vars)
    {
        let s = s.trim();
        if !s.is_empty() && !s.contains('\n') {
            return s.to_string();
        }
    }
    match rule.message.as_deref().map(str::trim) {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => format!("failed rule: {}", rule.rule.trim()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;

    use super::*;
    use crate::schema::{Catalog, SchemaCheckOptions, check_document};

    thread_local! {
        /// Rules evaluated by this thread (to tell that the corpus run evaluated some).
        pub(super) static EVALUATED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }
    use crate::yaml::YamlFile;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    fn catalog() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            let (catalog, errors) = Catalog::with_crds(&[repo().join("fixtures/crd-cel")]);
            assert!(errors.is_empty(), "{errors:?}");
            catalog
        })
    }

    /// Every schema finding of the first document: (code, pointer, text at its span, message).
    fn findings(text: &str) -> Vec<(String, String, String, String)> {
        let file = YamlFile::parse(text);
        let doc = &file.docs[0];
        let body = &text[doc.start..doc.end];
        check_document(
            catalog(),
            doc.root().unwrap(),
            &SchemaCheckOptions::default(),
        )
        .into_iter()
        .map(|i| {
            (
                i.code.to_string(),
                i.pointer,
                body[i.span.start as usize..i.span.end as usize].to_string(),
                i.message,
            )
        })
        .collect()
    }

    fn widget(spec: &str) -> String {
        format!("apiVersion: demo.usher.dev/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n{spec}")
    }

    fn one(spec: &str) -> (String, String, String, String) {
        let all = findings(&widget(spec));
        assert_eq!(all.len(), 1, "{all:#?}");
        all.into_iter().next().unwrap()
    }

    fn finding(pointer: &str, at: &str, message: &str) -> (String, String, String, String) {
        (RULE_CODE.into(), pointer.into(), at.into(), message.into())
    }

    #[test]
    fn a_valid_widget_passes_every_rule() {
        // Defaults (minReplicas, mode) are applied as the API server applies them before the
        // rules run; `ratio: 1` is a double for CEL (a `number` field); the transition rule is
        // skipped and the optionalOldSelf one sees `optional.none()`.
        let spec = "  minReplicas: 2\n  maxReplicas: 3\n  owner: ops@example.com\n  ratio: 1\n  namespace: default\n  expiresAt: \"2030-01-01T00:00:00Z\"\n  tls:\n    enabled: true\n    secretName: web-tls\n  ports:\n    - port: 80\n      targetPort: 8080\n  labels:\n    tier: web\n";
        assert_eq!(findings(&widget(spec)), vec![]);
        assert_eq!(findings(&widget("  maxReplicas: 3\n")), vec![]);
    }

    #[test]
    fn a_failed_rule_is_reported_on_the_node_that_carries_it() {
        assert_eq!(
            one("  minReplicas: 5\n  maxReplicas: 3\n"),
            finding(
                "/spec",
                "spec",
                "spec: Invalid value: \"object\": minReplicas must not exceed maxReplicas"
            )
        );
        assert_eq!(
            one("  owner: Ops\n  maxReplicas: 3\n"),
            finding(
                "/spec/owner",
                "Ops",
                "spec.owner: Invalid value: \"string\": owner must be an email address"
            )
        );
        // The root's rule: on the resource's first key, with no path.
        let text = "apiVersion: demo.usher.dev/v1\nkind: Widget\nmetadata:\n  name: a-very-long-widget-name\nspec:\n  maxReplicas: 3\n";
        assert_eq!(
            findings(text),
            vec![finding(
                "",
                "apiVersion",
                "Invalid value: \"object\": widget names are at most 20 characters"
            )]
        );
    }

    #[test]
    fn message_expression_takes_precedence() {
        assert_eq!(
            one("  mode: Fixed\n  maxReplicas: 3\n"),
            finding(
                "/spec",
                "spec",
                "spec: Invalid value: \"object\": in Fixed mode minReplicas (1) must equal maxReplicas (3)"
            )
        );
    }

    #[test]
    fn field_path_and_reason_place_and_word_the_finding() {
        // The target is absent: on the rule's node, with the target's path in the message.
        assert_eq!(
            one("  maxReplicas: 3\n  tls:\n    enabled: true\n"),
            finding(
                "/spec",
                "spec",
                "spec.tls.secretName: Required value: secretName is required when TLS is enabled"
            )
        );
        // The target is present: on it.
        assert_eq!(
            one("  maxReplicas: 3\n  tls:\n    enabled: true\n    secretName: default\n"),
            finding(
                "/spec/tls/secretName",
                "default",
                "spec.tls.secretName: Forbidden: the default secret may not be used"
            )
        );
    }

    #[test]
    fn rules_of_items_and_map_values_run_per_element() {
        let spec = "  maxReplicas: 3\n  ports:\n    - port: 80\n      targetPort: 8080\n    - name: same\n      port: 90\n      targetPort: 90\n  labels:\n    tier: web\n    team: platform-infrastructure\n";
        assert_eq!(
            findings(&widget(spec)),
            vec![
                finding(
                    "/spec/ports/1",
                    "name",
                    "spec.ports[1]: Invalid value: \"object\": port and targetPort must differ"
                ),
                finding(
                    "/spec/labels/team",
                    "platform-infrastructure",
                    "spec.labels.team: Invalid value: \"string\": label values are at most 8 characters here"
                ),
            ]
        );
    }

    #[test]
    fn values_are_typed_and_named_as_the_api_server_gives_them() {
        let msg = |m: &str| format!("spec: Invalid value: \"object\": {m}");
        assert_eq!(
            one("  maxReplicas: 3\n  ratio: 0.25\n").3,
            msg("ratio must be above 0.5")
        );
        assert_eq!(
            one("  maxReplicas: 3\n  namespace: kube-system\n").3,
            msg("widgets may not target kube-system")
        );
        assert_eq!(
            one("  maxReplicas: 3\n  expiresAt: \"2019-06-01T00:00:00Z\"\n").3,
            msg("expiresAt must be after 2020")
        );
    }

    #[test]
    fn blocking_errors_stop_the_rules_of_their_subtree() {
        // A wrong type or a missing required field: the API server runs no rule (they would
        // only fail to evaluate); the structural finding alone is reported.
        let codes = |spec: &str| -> Vec<String> {
            findings(&widget(spec)).into_iter().map(|f| f.0).collect()
        };
        assert_eq!(
            codes("  minReplicas: 5\n  maxReplicas: three\n"),
            vec!["schema/type"]
        );
        assert_eq!(codes("  minReplicas: 5\n"), vec!["schema/required"]);
        // Other subtrees still run theirs.
        assert_eq!(
            codes("  maxReplicas: 3\n  owner: Ops\n  ports:\n    - name: x\n"),
            vec![RULE_CODE, "schema/required"]
        );
    }

    #[test]
    fn compile_errors_evaluation_errors_and_cost() {
        let text = "apiVersion: demo.usher.dev/v1\nkind: Gadget\nmetadata:\n  name: g\nspec:\n  size: 1\n  parts:\n    - weight: 1\n    - weight: 2\n";
        let all = findings(text);
        let compile: Vec<_> = all.iter().filter(|f| f.0 == RULE_COMPILE_CODE).collect();
        // Once per rule, not once per part.
        assert_eq!(compile.len(), 2, "{all:#?}");
        assert_eq!(compile[0].1, "/spec/parts/0");
        assert!(
            compile[0]
                .3
                .starts_with("x-kubernetes-validations rule does not compile: "),
            "{}",
            compile[0].3
        );
        assert!(compile[0].3.ends_with("(rule: `self.weight >=`)"));
        assert_eq!(compile[1].1, "/spec");
        let rules: Vec<_> = all.iter().filter(|f| f.0 == RULE_CODE).collect();
        assert_eq!(rules.len(), 2, "{all:#?}");
        assert_eq!(
            rules[0].3,
            "spec: Invalid value: \"object\": no such key: limit evaluating rule: limit must be positive"
        );
        assert!(
            rules[1].3.contains("exceeded the cost budget"),
            "{}",
            rules[1].3
        );
        assert_eq!(
            (rules[1].1.as_str(), rules[1].2.as_str()),
            ("/spec", "spec")
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(escape_property("replicas").as_deref(), Some("replicas"));
        assert_eq!(
            escape_property("namespace").as_deref(),
            Some("__namespace__")
        );
        assert_eq!(
            escape_property("app.kubernetes.io/name").as_deref(),
            Some("app__dot__kubernetes__dot__io__slash__name")
        );
        assert_eq!(
            escape_property("a__b-c").as_deref(),
            Some("a__underscores__b__dash__c")
        );
        assert_eq!(escape_property("1st"), None);
        assert_eq!(escape_property("a b"), None);
        let p = |s: &str| parse_field_path(s);
        assert_eq!(
            p(".spec.replicas"),
            Some(vec!["spec".into(), "replicas".into()])
        );
        assert_eq!(
            p(".foo['bar.baz'].x[2]"),
            Some(vec!["foo".into(), "bar.baz".into(), "x".into(), "2".into()])
        );
        assert_eq!(p(".foo[bar]"), None);
        assert_eq!(p(""), None);
        let c = |s: &str| reads_old_self(&crate::cel::compile(s).unwrap());
        assert!(c("self.a == oldSelf.a"));
        assert!(c("self.all(x, x in oldSelf)"));
        assert!(!c("self.a == 'oldSelf'"));
    }

    fn corpus() -> Option<PathBuf> {
        let dir = repo().join("../shared/corpus");
        if dir.is_dir() {
            Some(dir)
        } else {
            eprintln!("notice: ../shared/corpus is absent; corpus test skipped");
            None
        }
    }

    /// Every `x-kubernetes-validations` rule (with its message) below a JSON value.
    fn collect_rules(j: &Json, out: &mut Vec<(String, Option<String>)>) {
        match j {
            Json::Object(m) => {
                for (k, v) in m {
                    if k == "x-kubernetes-validations"
                        && let Json::Array(rules) = v
                    {
                        for r in rules {
                            if let Some(rule) = r.get("rule").and_then(Json::as_str) {
                                out.push((
                                    rule.to_string(),
                                    r.get("messageExpression")
                                        .and_then(Json::as_str)
                                        .map(str::to_string),
                                ));
                            }
                        }
                    } else {
                        collect_rules(v, out);
                    }
                }
            }
            Json::Array(items) => items.iter().for_each(|x| collect_rules(x, out)),
            _ => {}
        }
    }

    /// Loads every real CRD of the corpus and compiles every validation rule (and message
    /// expression) they carry.
    #[test]
    fn corpus_crd_rules_compile() {
        let Some(corpus) = corpus() else { return };
        let dir = corpus.join("crds");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        let mut catalog = Catalog::with_crds(&[]).0;
        let (mut crds_with_rules, mut total, mut transition, mut failures) = (0, 0, 0, Vec::new());
        let mut load_errors = Vec::new();
        let mut unreadable = Vec::new();
        for f in &files {
            if let Err(e) = catalog.load_crd_file(f) {
                load_errors.push(format!("{}: {e}", f.display()));
            }
            let text = std::fs::read_to_string(f).unwrap();
            let mut rules = Vec::new();
            for doc in YamlFile::parse(&text).docs {
                match doc.root() {
                    Some(root) => collect_rules(&root.to_json(), &mut rules),
                    // Beyond tree-sitter-yaml (over 32,767 lines): read as the catalog does.
                    None => match crate::yaml::long::documents(&text[doc.start..doc.end]) {
                        Ok(values) => values.iter().for_each(|v| collect_rules(v, &mut rules)),
                        Err(e) => unreadable
                            .push(format!("{}: {e}", f.file_name().unwrap().to_string_lossy())),
                    },
                }
            }
            crds_with_rules += usize::from(!rules.is_empty());
            for (rule, message_expression) in rules {
                total += 1;
                match crate::cel::compile(&rule) {
                    Ok(c) => transition += usize::from(reads_old_self(&c)),
                    Err(e) => failures.push(format!(
                        "{}: `{rule}`: {e}",
                        f.file_name().unwrap().to_string_lossy()
                    )),
                }
                if let Some(m) = message_expression
                    && let Err(e) = crate::cel::compile(&m)
                {
                    failures.push(format!("message expression `{m}`: {e}"));
                }
            }
        }
        let in_catalog: usize = catalog
            .arena
            .nodes
            .iter()
            .map(|n| n.validations.len())
            .sum();
        eprintln!(
            "corpus: {} CRD files, {crds_with_rules} with rules; {total} rules, {} compile, \
             {transition} are transition rules (oldSelf); {in_catalog} rules kept in the \
             catalog's served versions; {} load errors",
            files.len(),
            total - failures.len(),
            load_errors.len()
        );
        for f in &failures {
            eprintln!("  does not compile: {f}");
        }
        assert!(load_errors.is_empty(), "{load_errors:#?}");
        assert!(unreadable.is_empty(), "{unreadable:#?}");
        assert!(total > 2400, "{total} rules");
        assert!(
            failures.is_empty(),
            "{} rules do not compile",
            failures.len()
        );
        assert!(in_catalog > 0);
    }

    /// The real manifests of the corpus against the real CRDs: resources that clusters accepted
    /// should pass their CRDs' rules (a check of `self`'s typing, defaults and escaping).
    #[test]
    fn corpus_manifests_pass_their_crd_rules() {
        let Some(corpus) = corpus() else { return };
        let (catalog, _) = Catalog::with_crds(&[corpus.join("crds")]);
        let mut checked = 0;
        let mut found = Vec::new();
        EVALUATED.with(|n| n.set(0));
        for entry in walkdir::WalkDir::new(corpus.join("manifests"))
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
        {
            let path = entry.path();
            if !entry.file_type().is_file() || !super::super::catalog::is_manifest_name(path) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            for doc in YamlFile::parse(&text).docs {
                let Some(root) = doc.root() else { continue };
                let api = root.get("apiVersion").and_then(Node::as_str).unwrap_or("");
                let kind = root.get("kind").and_then(Node::as_str).unwrap_or("");
                let Some(info) = catalog.lookup(api, kind) else {
                    continue;
                };
                if !matches!(info.source, crate::schema::KindSource::Crd { .. }) {
                    continue;
                }
                checked += 1;
                for i in check_document(&catalog, root, &SchemaCheckOptions::default()) {
                    if i.code == RULE_CODE || i.code == RULE_COMPILE_CODE {
                        found.push(format!(
                            "{}: {kind} {}: {}",
                            path.display(),
                            i.pointer,
                            i.message
                        ));
                    }
                }
            }
        }
        eprintln!(
            "corpus manifests: {checked} custom resources checked, {} rule evaluations, {} rule \
             findings",
            EVALUATED.with(|n| n.get()),
            found.len()
        );
        for f in &found {
            eprintln!("  {f}");
        }
        assert!(checked > 100, "{checked}");
        assert!(EVALUATED.with(|n| n.get()) > 100);
    }
}
