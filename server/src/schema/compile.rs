//! Compiling JSON/OpenAPI schemas (built-in definitions, CRD `openAPIV3Schema`) into the arena.

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value as Json};

use super::model::{
    Additional, Constraints, ListType, Pattern, SchemaArena, SchemaId, SchemaNode, Types,
    ValidationRule,
};

pub struct Compiler<'a> {
    pub arena: &'a mut SchemaArena,
    /// Named definitions, by name (as `$ref`s name them after their last `/`).
    pub defs: HashMap<String, SchemaId>,
    /// Whether nodes compiled now report nulls (CRD schemas).
    pub strict_null: bool,
    /// Whether objects without `properties` and without `additionalProperties` accept anything
    /// (true for built-in definitions, whose free-form objects are written that way).
    pub open_objects: bool,
}

impl<'a> Compiler<'a> {
    pub fn new(arena: &'a mut SchemaArena) -> Self {
        Compiler {
            arena,
            defs: HashMap::new(),
            strict_null: false,
            open_objects: true,
        }
    }

    /// Compiles a map of named definitions; they may refer to each other (and to themselves).
    pub fn compile_definitions(&mut self, defs: &Map<String, Json>) {
        let mut slots = Vec::with_capacity(defs.len());
        for (name, _) in defs {
            let id = self.arena.push(SchemaNode::default());
            self.defs.insert(name.clone(), id);
            slots.push(id);
        }
        for ((name, schema), id) in defs.iter().zip(slots) {
            let mut node = self.node(schema);
            node.name = Some(name.as_str().into());
            if name.ends_with("api.resource.Quantity") {
                node.format = Some("quantity".into());
            }
            self.arena.nodes[id.0 as usize] = node;
        }
    }

    pub fn compile(&mut self, schema: &Json) -> SchemaId {
        let node = self.node(schema);
        self.arena.push(node)
    }

    fn reference(&self, r: &str) -> Option<SchemaId> {
        let name = r.rsplit('/').next()?;
        self.defs.get(name).copied()
    }

    fn node(&mut self, schema: &Json) -> SchemaNode {
        let mut node = SchemaNode {
            strict_null: self.strict_null,
            ..SchemaNode::default()
        };
        let Json::Object(obj) = schema else {
            // `true` / `{}`: anything.
            return node;
        };
        if let Some(r) = obj.get("$ref").and_then(Json::as_str) {
            node.reference = self.reference(r);
        }
        node.description = obj
            .get("description")
            .and_then(Json::as_str)
            .map(Into::into);
        match obj.get("type") {
            Some(Json::String(t)) => node.types = Types(Types::from_name(t)),
            Some(Json::Array(ts)) => {
                node.types = Types(
                    ts.iter()
                        .filter_map(Json::as_str)
                        .map(Types::from_name)
                        .fold(0, |a, b| a | b),
                )
            }
            _ => {}
        }
        if node.types.has(Types::NULL) {
            node.nullable = true;
        }
        node.format = obj.get("format").and_then(Json::as_str).map(Into::into);
        if let Some(Json::Object(props)) = obj.get("properties") {
            let mut compiled: Vec<(Box<str>, SchemaId)> = props
                .iter()
                .map(|(k, v)| (k.as_str().into(), self.compile(v)))
                .collect();
            compiled.sort_by(|a, b| a.0.cmp(&b.0));
            node.properties = compiled;
        }
        if let Some(Json::Array(req)) = obj.get("required") {
            node.required = req
                .iter()
                .filter_map(Json::as_str)
                .map(Into::into)
                .collect();
        }
        node.preserve_unknown = flag(obj, "x-kubernetes-preserve-unknown-fields");
        node.int_or_string = flag(obj, "x-kubernetes-int-or-string");
        node.embedded_resource = flag(obj, "x-kubernetes-embedded-resource");
        node.nullable |= flag(obj, "nullable");
        node.additional = match obj.get("additionalProperties") {
            Some(Json::Bool(false)) => Additional::Forbidden,
            Some(Json::Bool(true)) => Additional::Any,
            Some(s @ Json::Object(_)) => Additional::Schema(self.compile(s)),
            _ => {
                let is_object = node.types.has(Types::OBJECT);
                if node.preserve_unknown || node.reference.is_some() {
                    Additional::Any
                } else if is_object && (!node.properties.is_empty() || !self.open_objects) {
                    Additional::Forbidden
                } else {
                    Additional::Any
                }
            }
        };
        if let Some(items) = obj.get("items") {
            node.items = Some(self.compile(items));
        }
        let mut c = Constraints::default();
        if let Some(Json::Array(values)) = obj.get("enum") {
            c.enum_values = values.clone();
        }
        if let Some(p) = obj.get("pattern").and_then(Json::as_str) {
            c.pattern = Some(Pattern {
                source: p.to_string(),
                regex: Regex::new(p).ok(),
            });
        }
        c.min_length = obj.get("minLength").and_then(Json::as_u64);
        c.max_length = obj.get("maxLength").and_then(Json::as_u64);
        c.min_items = obj.get("minItems").and_then(Json::as_u64);
        c.max_items = obj.get("maxItems").and_then(Json::as_u64);
        c.min_properties = obj.get("minProperties").and_then(Json::as_u64);
        c.max_properties = obj.get("maxProperties").and_then(Json::as_u64);
        c.minimum = obj.get("minimum").and_then(Json::as_f64);
        c.maximum = obj.get("maximum").and_then(Json::as_f64);
        exclusive_bound(
            obj.get("exclusiveMinimum"),
            &mut c.minimum,
            &mut c.exclusive_minimum,
        );
        exclusive_bound(
            obj.get("exclusiveMaximum"),
            &mut c.maximum,
            &mut c.exclusive_maximum,
        );
        c.multiple_of = obj.get("multipleOf").and_then(Json::as_f64);
        c.unique_items = flag(obj, "uniqueItems");
        c.list_type = match obj.get("x-kubernetes-list-type").and_then(Json::as_str) {
            Some("atomic") => Some(ListType::Atomic),
            Some("set") => Some(ListType::Set),
            Some("map") => Some(ListType::Map),
            _ => None,
        };
        if let Some(Json::Array(keys)) = obj.get("x-kubernetes-list-map-keys") {
            c.list_map_keys = keys
                .iter()
                .filter_map(Json::as_str)
                .map(Into::into)
                .collect();
        }
        c.default = obj.get("default").cloned();
        for (key, out) in [("allOf", 0), ("anyOf", 1), ("oneOf", 2)] {
            if let Some(Json::Array(subs)) = obj.get(key) {
                let ids: Vec<SchemaId> = subs.iter().map(|s| self.compile(s)).collect();
                match out {
                    0 => c.all_of = ids,
                    1 => c.any_of = ids,
                    _ => c.one_of = ids,
                }
            }
        }
        if let Some(not) = obj.get("not") {
            c.not = Some(self.compile(not));
        }
        if let Some(Json::Array(rules)) = obj.get("x-kubernetes-validations") {
            c.validations = rules
                .iter()
                .filter_map(|r| {
                    let text = |k: &str| r.get(k).and_then(Json::as_str).map(str::to_string);
                    Some(ValidationRule {
                        rule: text("rule")?,
                        message: text("message"),
                        message_expression: text("messageExpression"),
                        field_path: text("fieldPath"),
                        reason: text("reason"),
                        optional_old_self: r
                            .get("optionalOldSelf")
                            .and_then(Json::as_bool)
                            .unwrap_or(false),
                    })
                })
                .collect();
        }
        if !c.is_empty() {
            node.constraints = Some(Box::new(c));
        }
        node
    }
}

/// `exclusiveMinimum`/`exclusiveMaximum`: an OpenAPI v3.0 boolean qualifying the bound, or a
/// JSON Schema 2020-12 number that is the bound itself.
fn exclusive_bound(value: Option<&Json>, bound: &mut Option<f64>, exclusive: &mut bool) {
    match value {
        Some(Json::Bool(b)) => *exclusive = *b,
        Some(n) if n.is_number() => {
            *bound = n.as_f64();
            *exclusive = true;
        }
        _ => {}
    }
}

fn flag(obj: &Map<String, Json>, key: &str) -> bool {
    obj.get(key).and_then(Json::as_bool).unwrap_or(false)
}
