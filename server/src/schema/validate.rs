//! Validating a lowered document against a structural schema, as the API server would
//! (with strict field validation).

use serde_json::Value as Json;

use super::catalog::Catalog;
use super::formats::{check_string_format, is_quantity};
use super::model::{Additional, ListType, SchemaId, SchemaNode, Types};
use super::suggest::suggest;
use crate::finding::Severity;
use crate::yaml::node::escape_pointer_token;
use crate::yaml::{Entry, Node, Span, Value};

/// A suggested change attached to a schema issue.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaFix {
    /// Rename the key at the issue's span.
    RenameKey(String),
    /// Replace the value at the issue's span with one of these (best first).
    ReplaceValue(Vec<String>),
    /// Add these missing fields (name and schema) to the mapping at `pointer`.
    AddFields(Vec<(String, Option<SchemaId>)>),
    /// Quote the plain scalar at the issue's span, as written (`yes` becomes `"yes"`).
    QuoteValue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SchemaIssue {
    pub code: &'static str,
    pub severity: Severity,
    /// Document-relative span.
    pub span: Span,
    /// JSON pointer of the value concerned.
    pub pointer: String,
    pub message: String,
    pub fix: Option<SchemaFix>,
}

#[derive(Debug, Clone, Copy)]
pub struct ValidationOptions {
    /// Severity of unknown fields; None to ignore them.
    pub unknown_fields: Option<Severity>,
}

impl Default for ValidationOptions {
    fn default() -> Self {
        ValidationOptions {
            unknown_fields: Some(Severity::Error),
        }
    }
}

/// Most issues reported for one document (a wrong kind of file would otherwise flood).
const MAX_ISSUES: usize = 200;

pub struct Validator<'a> {
    pub(super) catalog: &'a Catalog,
    options: ValidationOptions,
    pub issues: Vec<SchemaIssue>,
    pub(super) path: Vec<String>,
    /// Validation rules whose compile error was reported (schema node, rule index): once each.
    pub(super) compile_errors: Vec<(SchemaId, usize)>,
}

/// Where a value sits: its span and the span of the key that holds it (if any).
#[derive(Clone, Copy)]
struct Place {
    key: Option<Span>,
}

impl<'a> Validator<'a> {
    pub fn new(catalog: &'a Catalog, options: ValidationOptions) -> Self {
        Validator {
            catalog,
            options,
            issues: Vec::new(),
            path: Vec::new(),
            compile_errors: Vec::new(),
        }
    }

    /// Validates a whole resource against its kind's root schema.
    pub fn validate_resource(&mut self, root: &Node, schema: SchemaId) {
        self.check(root, schema, Place { key: None });
    }

    fn pointer(&self) -> String {
        let mut p = String::new();
        for seg in &self.path {
            p.push('/');
            p.push_str(&escape_pointer_token(seg));
        }
        p
    }

    /// A readable path: `spec.template.spec.containers[0]`.
    fn dotted(&self) -> String {
        let s = super::cel_rules::field_path_text(&self.path);
        if s.is_empty() {
            "the resource".into()
        } else {
            s
        }
    }

    pub(super) fn report(
        &mut self,
        code: &'static str,
        severity: Severity,
        span: Span,
        message: String,
        fix: Option<SchemaFix>,
    ) {
        if self.issues.len() >= MAX_ISSUES {
            return;
        }
        let pointer = self.pointer();
        self.issues.push(SchemaIssue {
            code,
            severity,
            span,
            pointer,
            message,
            fix,
        });
    }

    fn name_of(&self, node: &SchemaNode) -> String {
        match &node.name {
            Some(n) => n.rsplit('.').next().unwrap_or(n).to_string(),
            None => self.dotted(),
        }
    }

    fn check(&mut self, node: &Node, id: SchemaId, place: Place) {
        let arena = &self.catalog.arena;
        let sid = arena.resolve(id);
        let s = arena.get(sid);
        let first_issue = self.issues.len();
        let has_rules = !s.validations.is_empty() || !arena.get(id).validations.is_empty();
        // A reference node may carry its own default/description only; the structure is in `s`.
        if let Value::Null = node.value {
            if !(s.nullable || s.types.has(Types::NULL)) && s.strict_null {
                self.report(
                    "schema/null",
                    Severity::Warning,
                    node.span,
                    format!(
                        "`{}` is not nullable: the API server drops a null here",
                        self.dotted()
                    ),
                    None,
                );
            }
            return;
        }
        if !self.check_type(node, s) {
            return;
        }
        if !s.enum_values.is_empty() && !enum_contains(&s.enum_values, &node.value) {
            let allowed: Vec<String> = s.enum_values.iter().map(json_text).collect();
            let shown = node_text(&node.value);
            let mut candidates: Vec<&str> =
                suggest(&shown, allowed.iter().map(String::as_str), allowed.len());
            for a in &allowed {
                if !candidates.contains(&a.as_str()) {
                    candidates.push(a);
                }
            }
            let key_name = self.path.last().cloned().unwrap_or_default();
            self.report(
                "schema/enum",
                Severity::Error,
                node.span,
                format!(
                    "`{shown}` is not an allowed value for `{key_name}`: expected one of {}",
                    allowed.join(", ")
                ),
                Some(SchemaFix::ReplaceValue(
                    candidates.into_iter().map(str::to_string).collect(),
                )),
            );
        }
        match &node.value {
            Value::Str(text) => self.check_string(node, text, s),
            Value::Int(i) => self.check_number(node, *i as f64, s),
            Value::Float(f) => self.check_number(node, *f, s),
            Value::Seq(items) => self.check_array(node, items, s),
            Value::Map(entries) => self.check_object(node, entries, s, place),
            _ => {}
        }
        let (all_of, any_of, one_of, not) =
            (s.all_of.clone(), s.any_of.clone(), s.one_of.clone(), s.not);
        for sub in all_of {
            self.check(node, sub, place);
        }
        if !any_of.is_empty() && !any_of.iter().any(|&sub| self.matches(node, sub, place)) {
            self.report(
                "schema/any-of",
                Severity::Error,
                node.span,
                format!(
                    "`{}` matches none of the schemas it may take",
                    self.dotted()
                ),
                None,
            );
        }
        if !one_of.is_empty() {
            let n = one_of
                .iter()
                .filter(|&&sub| self.matches(node, sub, place))
                .count();
            if n != 1 {
                self.report(
                    "schema/one-of",
                    Severity::Error,
                    node.span,
                    format!(
                        "`{}` must match exactly one of its schemas; it matches {n}",
                        self.dotted()
                    ),
                    None,
                );
            }
        }
        if let Some(not) = not
            && self.matches(node, not, place)
        {
            self.report(
                "schema/not",
                Severity::Error,
                node.span,
                format!("`{}` matches a schema it must not match", self.dotted()),
                None,
            );
        }
        if has_rules {
            let both = [id, sid];
            let ids = if id == sid { &both[1..] } else { &both[..] };
            self.check_rules(node, ids, place.key, first_issue);
        }
    }

    /// Whether `node` validates against `id` (issues are discarded).
    fn matches(&mut self, node: &Node, id: SchemaId, place: Place) -> bool {
        let saved = std::mem::take(&mut self.issues);
        self.check(node, id, place);
        let ok = !self.issues.iter().any(|i| i.severity == Severity::Error);
        self.issues = saved;
        ok
    }

    /// Type check; false stops further checks of this value.
    fn check_type(&mut self, node: &Node, s: &SchemaNode) -> bool {
        let v = &node.value;
        if s.int_or_string {
            let quantity = s.format.as_deref() == Some("quantity");
            let ok = matches!(v, Value::Int(_) | Value::Str(_))
                || (quantity && matches!(v, Value::Float(_)));
            if !ok {
                let expected = if quantity {
                    "a quantity (string or number)"
                } else {
                    "an integer or a string"
                };
                self.type_issue(node, expected);
                return false;
            }
            if quantity
                && let Value::Str(text) = v
                && !is_quantity(text)
            {
                self.report(
                    "schema/format",
                    Severity::Error,
                    node.span,
                    format!(
                        "`{text}` is not a valid quantity for `{}` (such as 500m, 128Mi or 2)",
                        self.dotted()
                    ),
                    None,
                );
                return false;
            }
            return true;
        }
        if s.types.any() {
            return true;
        }
        let t = s.types;
        let ok = match v {
            Value::Null => true,
            Value::Bool(_) => t.has(Types::BOOLEAN),
            Value::Int(_) => t.has(Types::INTEGER) || t.has(Types::NUMBER),
            Value::Float(_) => t.has(Types::NUMBER),
            Value::Str(_) => t.has(Types::STRING),
            Value::Seq(_) => t.has(Types::ARRAY),
            Value::Map(_) => t.has(Types::OBJECT),
        };
        if !ok {
            let expected = t.describe();
            let article = if expected.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            self.type_issue(node, &format!("{article} {expected}"));
        }
        ok
    }

    fn type_issue(&mut self, node: &Node, expected: &str) {
        let found = match &node.value {
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
            other => format!("{} {}", other.type_name(), other),
        };
        let mut message = format!("`{}` must be {expected}, found {found}", self.dotted());
        let mut fix = None;
        match &node.value {
            Value::Str(s) if expected.contains("integer") && s.trim().parse::<i64>().is_ok() => {
                message.push_str(": remove the quotes");
                fix = Some(SchemaFix::ReplaceValue(vec![s.trim().to_string()]));
            }
            Value::Int(_) | Value::Float(_) | Value::Bool(_) if expected.contains("string") => {
                message.push_str(": quote it");
                fix = Some(SchemaFix::QuoteValue);
            }
            _ => {}
        }
        self.report("schema/type", Severity::Error, node.span, message, fix);
    }

    fn check_string(&mut self, node: &Node, text: &str, s: &SchemaNode) {
        if let Some(format) = s.format.as_deref()
            && let Some(expected) = check_string_format(format, text)
        {
            self.report(
                "schema/format",
                Severity::Error,
                node.span,
                format!("`{}` must be {expected}", self.dotted()),
                None,
            );
        }
        if let Some(p) = &s.pattern
            && let Some(re) = &p.regex
            && !re.is_match(text)
        {
            self.report(
                "schema/pattern",
                Severity::Error,
                node.span,
                format!(
                    "`{text}` does not match the pattern `{}` required for `{}`",
                    p.source,
                    self.dotted()
                ),
                None,
            );
        }
        let len = text.chars().count() as u64;
        if let Some(min) = s.min_length
            && len < min
        {
            self.report(
                "schema/min-length",
                Severity::Error,
                node.span,
                format!(
                    "`{}` must be at least {min} characters long (it has {len})",
                    self.dotted()
                ),
                None,
            );
        }
        if let Some(max) = s.max_length
            && len > max
        {
            self.report(
                "schema/max-length",
                Severity::Error,
                node.span,
                format!(
                    "`{}` must be at most {max} characters long (it has {len})",
                    self.dotted()
                ),
                None,
            );
        }
    }

    fn check_number(&mut self, node: &Node, x: f64, s: &SchemaNode) {
        if let Some(min) = s.minimum {
            let bad = if s.exclusive_minimum {
                x <= min
            } else {
                x < min
            };
            if bad {
                let rel = if s.exclusive_minimum {
                    "greater than"
                } else {
                    "at least"
                };
                self.report(
                    "schema/minimum",
                    Severity::Error,
                    node.span,
                    format!(
                        "`{}` must be {rel} {}, found {}",
                        self.dotted(),
                        fmt_num(min),
                        fmt_num(x)
                    ),
                    None,
                );
            }
        }
        if let Some(max) = s.maximum {
            let bad = if s.exclusive_maximum {
                x >= max
            } else {
                x > max
            };
            if bad {
                let rel = if s.exclusive_maximum {
                    "less than"
                } else {
                    "at most"
                };
                self.report(
                    "schema/maximum",
                    Severity::Error,
                    node.span,
                    format!(
                        "`{}` must be {rel} {}, found {}",
                        self.dotted(),
                        fmt_num(max),
                        fmt_num(x)
                    ),
                    None,
                );
            }
        }
        if let Some(m) = s.multiple_of
            && m > 0.0
            && (x / m).fract().abs() > 1e-9
        {
            self.report(
                "schema/multiple-of",
                Severity::Error,
                node.span,
                format!("`{}` must be a multiple of {}", self.dotted(), fmt_num(m)),
                None,
            );
        }
        match s.format.as_deref() {
            Some("int32") if x < i32::MIN as f64 || x > i32::MAX as f64 => self.report(
                "schema/format",
                Severity::Error,
                node.span,
                format!("`{}` does not fit in a 32-bit integer", self.dotted()),
                None,
            ),
            _ => {}
        }
    }

    fn check_array(&mut self, node: &Node, items: &[Node], s: &SchemaNode) {
        let n = items.len() as u64;
        if let Some(min) = s.min_items
            && n < min
        {
            self.report(
                "schema/min-items",
                Severity::Error,
                node.span,
                format!(
                    "`{}` must have at least {min} item{} (it has {n})",
                    self.dotted(),
                    plural(min)
                ),
                None,
            );
        }
        if let Some(max) = s.max_items
            && n > max
        {
            self.report(
                "schema/max-items",
                Severity::Error,
                node.span,
                format!(
                    "`{}` must have at most {max} item{} (it has {n})",
                    self.dotted(),
                    plural(max)
                ),
                None,
            );
        }
        let item_schema = s.items;
        match s.list_type {
            Some(ListType::Set) => self.check_unique(items, |n| Some(n.to_json()), "value"),
            Some(ListType::Map) => {
                let keys = s.list_map_keys.clone();
                let defaults: Vec<Option<Json>> = keys
                    .iter()
                    .map(|k| {
                        item_schema
                            .and_then(|i| self.catalog.arena.property(i, k))
                            .and_then(|p| self.catalog.arena.default_value(p).cloned())
                    })
                    .collect();
                self.check_unique(
                    items,
                    |item| {
                        let fields: Vec<Json> = keys
                            .iter()
                            .zip(&defaults)
                            .map(|(k, d)| {
                                item.get(k)
                                    .map(Node::to_json)
                                    .or_else(|| d.clone())
                                    .unwrap_or(Json::Null)
                            })
                            .collect();
                        Some(Json::Array(fields))
                    },
                    "key",
                );
            }
            _ if s.unique_items => self.check_unique(items, |n| Some(n.to_json()), "value"),
            _ => {}
        }
        if let Some(item_schema) = item_schema {
            for (i, item) in items.iter().enumerate() {
                self.path.push(i.to_string());
                self.check(item, item_schema, Place { key: None });
                self.path.pop();
            }
        }
    }

    fn check_unique(&mut self, items: &[Node], key: impl Fn(&Node) -> Option<Json>, what: &str) {
        let mut seen: Vec<(Json, usize)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(k) = key(item) else { continue };
            if let Some((_, first)) = seen.iter().find(|(s, _)| *s == k) {
                let shown = match &k {
                    Json::Array(parts) => {
                        parts.iter().map(json_text).collect::<Vec<_>>().join(", ")
                    }
                    other => json_text(other),
                };
                let list = self.dotted();
                self.path.push(i.to_string());
                self.report(
                    "schema/duplicate-item",
                    Severity::Error,
                    item.span,
                    format!("duplicate {what} `{shown}` in `{list}`: item {first} has it too"),
                    None,
                );
                self.path.pop();
            } else {
                seen.push((k, i));
            }
        }
    }

    fn check_object(&mut self, node: &Node, entries: &[Entry], s: &SchemaNode, place: Place) {
        let owner = place
            .key
            .unwrap_or_else(|| entries.first().map_or(node.span, |e| e.key_span));
        // Required fields.
        let mut missing: Vec<(String, Option<SchemaId>)> = Vec::new();
        for req in &s.required {
            if !entries.iter().any(|e| e.key == **req) {
                missing.push((req.to_string(), s.property(req)));
            }
        }
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|(n, _)| format!("`{n}`")).collect();
            let what = self.name_of(s);
            let message = if names.len() == 1 {
                format!(
                    "missing required field {} in {what} `{}`",
                    names[0],
                    self.dotted()
                )
            } else {
                format!(
                    "missing required fields {} in {what} `{}`",
                    names.join(", "),
                    self.dotted()
                )
            };
            self.report(
                "schema/required",
                Severity::Error,
                owner,
                message,
                Some(SchemaFix::AddFields(missing)),
            );
        }
        let count = entries.len() as u64;
        if let Some(min) = s.min_properties
            && count < min
        {
            self.report(
                "schema/min-properties",
                Severity::Error,
                owner,
                format!(
                    "`{}` must have at least {min} field{}",
                    self.dotted(),
                    plural(min)
                ),
                None,
            );
        }
        if let Some(max) = s.max_properties
            && count > max
        {
            self.report(
                "schema/max-properties",
                Severity::Error,
                owner,
                format!(
                    "`{}` must have at most {max} field{}",
                    self.dotted(),
                    plural(max)
                ),
                None,
            );
        }
        let embedded = s.embedded_resource;
        for e in entries {
            self.path.push(e.key.clone());
            let child_place = Place {
                key: Some(e.key_span),
            };
            if let Some(p) = s.property(&e.key) {
                self.check(&e.value, p, child_place);
            } else if embedded && matches!(e.key.as_str(), "apiVersion" | "kind" | "metadata") {
                if e.key == "metadata"
                    && let Some(meta) = self.catalog.object_meta
                {
                    self.check(&e.value, meta, child_place);
                } else if !matches!(e.value.value, Value::Str(_)) {
                    self.type_issue(&e.value, "a string");
                }
            } else {
                match s.additional {
                    Additional::Schema(a) => self.check(&e.value, a, child_place),
                    Additional::Any => {}
                    Additional::Forbidden => self.unknown_field(e, s),
                }
            }
            self.path.pop();
        }
    }

    fn unknown_field(&mut self, e: &Entry, s: &SchemaNode) {
        let Some(severity) = self.options.unknown_fields else {
            return;
        };
        // The parent path (the entry's key is already pushed).
        let parent = self.dotted_parent_of_last();
        let names = s.properties.iter().map(|(k, _)| &**k);
        let suggestions = suggest(&e.key, names, 3);
        let at = if parent.is_empty() {
            String::new()
        } else {
            format!(" in `{parent}`")
        };
        let message = match suggestions.first() {
            Some(best) => format!("unknown field `{}`{at}: did you mean `{best}`?", e.key),
            None => format!("unknown field `{}`{at}", e.key),
        };
        let fix = suggestions
            .first()
            .map(|b| SchemaFix::RenameKey(b.to_string()));
        self.report("schema/unknown-field", severity, e.key_span, message, fix);
    }

    fn dotted_parent_of_last(&mut self) -> String {
        let last = self.path.pop();
        let s = if self.path.is_empty() {
            String::new()
        } else {
            self.dotted()
        };
        if let Some(l) = last {
            self.path.push(l);
        }
        s
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn node_text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

fn enum_contains(values: &[Json], v: &Value) -> bool {
    values.iter().any(|e| match (e, v) {
        (Json::String(a), Value::Str(b)) => a == b,
        (Json::Bool(a), Value::Bool(b)) => a == b,
        (Json::Number(a), Value::Int(b)) => a.as_f64() == Some(*b as f64),
        (Json::Number(a), Value::Float(b)) => a.as_f64() == Some(*b),
        (Json::Null, Value::Null) => true,
        _ => false,
    })
}
