//! Structural schemas compiled into an arena: one node per schema object, `$ref`s resolved to
//! node ids, patterns compiled once.

use regex::Regex;
use serde_json::Value as Json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SchemaId(pub u32);

/// JSON types a schema allows (a bit set; empty means any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Types(pub u8);

impl Types {
    pub const OBJECT: u8 = 1;
    pub const ARRAY: u8 = 2;
    pub const STRING: u8 = 4;
    pub const INTEGER: u8 = 8;
    pub const NUMBER: u8 = 16;
    pub const BOOLEAN: u8 = 32;
    pub const NULL: u8 = 64;

    pub fn from_name(name: &str) -> u8 {
        match name {
            "object" => Self::OBJECT,
            "array" => Self::ARRAY,
            "string" => Self::STRING,
            "integer" => Self::INTEGER,
            "number" => Self::NUMBER,
            "boolean" => Self::BOOLEAN,
            "null" => Self::NULL,
            _ => 0,
        }
    }
    pub fn any(self) -> bool {
        self.0 == 0
    }
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    /// Human-readable list: "string", "integer or string".
    pub fn describe(self) -> String {
        let names: Vec<&str> = [
            (Self::OBJECT, "object"),
            (Self::ARRAY, "array"),
            (Self::STRING, "string"),
            (Self::INTEGER, "integer"),
            (Self::NUMBER, "number"),
            (Self::BOOLEAN, "boolean"),
            (Self::NULL, "null"),
        ]
        .iter()
        .filter(|(bit, _)| self.has(*bit))
        .map(|(_, n)| *n)
        .collect();
        match names.len() {
            0 => "any".into(),
            1 => names[0].into(),
            _ => format!(
                "{} or {}",
                names[..names.len() - 1].join(", "),
                names[names.len() - 1]
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    Atomic,
    Set,
    Map,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Additional {
    /// Unknown properties are not allowed (Kubernetes' strict field validation).
    Forbidden,
    /// Any property is allowed.
    Any,
    /// Properties not listed follow this schema (maps such as labels).
    Schema(SchemaId),
}

/// A CEL validation rule (`x-kubernetes-validations`), kept for the CEL evaluator.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationRule {
    pub rule: String,
    pub message: Option<String>,
    pub message_expression: Option<String>,
    pub field_path: Option<String>,
    pub reason: Option<String>,
    /// Whether a transition rule (one that reads `oldSelf`) also runs on create, with
    /// `oldSelf` bound to `optional.none()`.
    pub optional_old_self: bool,
}

#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: Option<Regex>,
}

/// A node's value constraints and combinators: set on a minority of nodes, so kept out of line
/// (a node without any costs one pointer). `SchemaNode` dereferences to them.
#[derive(Debug, Clone, Default)]
pub struct Constraints {
    pub enum_values: Vec<Json>,
    pub pattern: Option<Pattern>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub unique_items: bool,
    pub list_type: Option<ListType>,
    pub list_map_keys: Vec<Box<str>>,
    pub default: Option<Json>,
    pub all_of: Vec<SchemaId>,
    pub any_of: Vec<SchemaId>,
    pub one_of: Vec<SchemaId>,
    pub not: Option<SchemaId>,
    pub validations: Vec<ValidationRule>,
}

/// What a node without constraints dereferences to.
static NO_CONSTRAINTS: Constraints = Constraints {
    enum_values: Vec::new(),
    pattern: None,
    min_length: None,
    max_length: None,
    min_items: None,
    max_items: None,
    min_properties: None,
    max_properties: None,
    minimum: None,
    maximum: None,
    exclusive_minimum: false,
    exclusive_maximum: false,
    multiple_of: None,
    unique_items: false,
    list_type: None,
    list_map_keys: Vec::new(),
    default: None,
    all_of: Vec::new(),
    any_of: Vec::new(),
    one_of: Vec::new(),
    not: None,
    validations: Vec::new(),
};

impl Constraints {
    /// Nothing set.
    pub fn is_empty(&self) -> bool {
        self.enum_values.is_empty()
            && self.pattern.is_none()
            && self.min_length.is_none()
            && self.max_length.is_none()
            && self.min_items.is_none()
            && self.max_items.is_none()
            && self.min_properties.is_none()
            && self.max_properties.is_none()
            && self.minimum.is_none()
            && self.maximum.is_none()
            && !self.exclusive_minimum
            && !self.exclusive_maximum
            && self.multiple_of.is_none()
            && !self.unique_items
            && self.list_type.is_none()
            && self.list_map_keys.is_empty()
            && self.default.is_none()
            && self.all_of.is_empty()
            && self.any_of.is_empty()
            && self.one_of.is_empty()
            && self.not.is_none()
            && self.validations.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct SchemaNode {
    /// Another node this one refines (a `$ref`); its constraints apply too.
    pub reference: Option<SchemaId>,
    /// The definition name when this node is a named definition (`io.k8s.api.core.v1.PodSpec`).
    pub name: Option<Box<str>>,
    pub description: Option<Box<str>>,
    pub types: Types,
    pub format: Option<Box<str>>,
    /// Sorted by name.
    pub properties: Vec<(Box<str>, SchemaId)>,
    pub required: Vec<Box<str>>,
    pub additional: Additional,
    pub items: Option<SchemaId>,
    pub nullable: bool,
    pub int_or_string: bool,
    pub preserve_unknown: bool,
    pub embedded_resource: bool,
    /// Whether a null value must be reported (CRD schemas: the API server prunes nulls of
    /// non-nullable fields; built-in Go types read null as unset).
    pub strict_null: bool,
    /// Enum, bounds, pattern, default, combinators, CEL rules (None: none of them).
    pub constraints: Option<Box<Constraints>>,
}

impl Default for SchemaNode {
    fn default() -> Self {
        SchemaNode {
            reference: None,
            name: None,
            description: None,
            types: Types::default(),
            format: None,
            properties: Vec::new(),
            required: Vec::new(),
            additional: Additional::Any,
            items: None,
            nullable: false,
            int_or_string: false,
            preserve_unknown: false,
            embedded_resource: false,
            strict_null: false,
            constraints: None,
        }
    }
}

impl std::ops::Deref for SchemaNode {
    type Target = Constraints;
    fn deref(&self) -> &Constraints {
        self.constraints.as_deref().unwrap_or(&NO_CONSTRAINTS)
    }
}

impl std::ops::DerefMut for SchemaNode {
    /// Makes room for constraints on first write.
    fn deref_mut(&mut self) -> &mut Constraints {
        self.constraints.get_or_insert_with(Default::default)
    }
}

impl SchemaNode {
    pub fn property(&self, name: &str) -> Option<SchemaId> {
        self.properties
            .binary_search_by(|(k, _)| (**k).cmp(name))
            .ok()
            .map(|i| self.properties[i].1)
    }
}

/// All compiled schema nodes of a catalog.
#[derive(Debug, Default)]
pub struct SchemaArena {
    pub nodes: Vec<SchemaNode>,
}

impl SchemaArena {
    pub fn get(&self, id: SchemaId) -> &SchemaNode {
        &self.nodes[id.0 as usize]
    }

    pub fn push(&mut self, node: SchemaNode) -> SchemaId {
        self.nodes.push(node);
        SchemaId(self.nodes.len() as u32 - 1)
    }

    /// Follows `$ref`s to the node that carries the structure.
    pub fn resolve(&self, mut id: SchemaId) -> SchemaId {
        for _ in 0..32 {
            let node = self.get(id);
            match node.reference {
                Some(next) if next != id => id = next,
                // `allOf: [$ref]` with a description: a wrapper of its one part.
                None if node.all_of.len() == 1
                    && node.types.any()
                    && node.properties.is_empty()
                    && node.items.is_none()
                    && node.all_of[0] != id =>
                {
                    id = node.all_of[0]
                }
                _ => break,
            }
        }
        id
    }

    /// The description of a node, falling back to the one of what it refers to.
    pub fn description(&self, id: SchemaId) -> Option<&str> {
        let node = self.get(id);
        node.description
            .as_deref()
            .or_else(|| node.reference.and_then(|r| self.description(r)))
    }

    /// The default of a node, falling back to the one of what it refers to.
    pub fn default_value(&self, id: SchemaId) -> Option<&Json> {
        let node = self.get(id);
        node.default
            .as_ref()
            .or_else(|| node.reference.and_then(|r| self.default_value(r)))
    }

    /// The schema of property `name` of the object schema `id` (following `$ref`s and allOf).
    pub fn property(&self, id: SchemaId, name: &str) -> Option<SchemaId> {
        let node = self.get(self.resolve(id));
        if let Some(p) = node.property(name) {
            return Some(p);
        }
        for &sub in &node.all_of {
            if let Some(p) = self.property(sub, name) {
                return Some(p);
            }
        }
        match node.additional {
            Additional::Schema(s) => Some(s),
            _ => None,
        }
    }

    /// The schema of the items of array schema `id`.
    pub fn items(&self, id: SchemaId) -> Option<SchemaId> {
        self.get(self.resolve(id)).items
    }

    /// A short type name for hovers and messages: `string`, `[]Container`, `map[string]string`.
    pub fn type_label(&self, id: SchemaId) -> String {
        let node = self.get(self.resolve(id));
        if node.int_or_string {
            return if node.format.as_deref() == Some("quantity") {
                "quantity".into()
            } else {
                "integer or string".into()
            };
        }
        if let Some(name) = &node.name {
            let short = name.rsplit('.').next().unwrap_or(name);
            if node.types.has(Types::OBJECT) || node.types.any() {
                return short.to_string();
            }
        }
        if node.types.has(Types::ARRAY) {
            return match node.items {
                Some(items) => format!("[]{}", self.type_label(items)),
                None => "array".into(),
            };
        }
        if node.types.has(Types::OBJECT)
            && node.properties.is_empty()
            && let Additional::Schema(v) = node.additional
        {
            return format!("map[string]{}", self.type_label(v));
        }
        let mut label = node.types.describe();
        if let Some(f) = &node.format {
            label = format!("{label} ({f})");
        }
        label
    }
}
