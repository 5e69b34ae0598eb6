//! The spanned value tree a YAML document lowers to.

use std::fmt;

/// A byte range, relative to the start of the document's segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
    pub fn shift(self, by: usize) -> std::ops::Range<usize> {
        self.start as usize + by..self.end as usize + by
    }
    pub fn contains(&self, offset: usize) -> bool {
        (self.start as usize) <= offset && offset <= self.end as usize
    }
}

/// A JSON-compatible value with the span it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One key/value pair of a mapping. Keys are strings, as in JSON (non-string scalar keys are
/// written the way Kubernetes' YAML-to-JSON conversion writes them).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

/// What a JSON pointer designates in a document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointerTarget<'a> {
    /// The key's span when the pointer's last step is a mapping key.
    pub key_span: Option<Span>,
    pub node: &'a Node,
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "array",
            Value::Map(_) => "object",
        }
    }
}

impl Node {
    pub fn new(value: Value, span: Span) -> Self {
        Node { value, span }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The entry for `key` when this is a mapping (the last one when a key is duplicated).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().rev().find(|e| e.key == key)
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// Follows a JSON pointer (RFC 6901: `/spec/containers/0/image`, `~1` and `~0` escapes).
    pub fn pointer(&self, pointer: &str) -> Option<PointerTarget<'_>> {
        let mut target = PointerTarget {
            key_span: None,
            node: self,
        };
        if pointer.is_empty() {
            return Some(target);
        }
        let rest = pointer.strip_prefix('/')?;
        for raw in rest.split('/') {
            let step = unescape_pointer_token(raw);
            target = match &target.node.value {
                Value::Map(entries) => {
                    let e = entries.iter().rev().find(|e| e.key == step)?;
                    PointerTarget {
                        key_span: Some(e.key_span),
                        node: &e.value,
                    }
                }
                Value::Seq(items) => {
                    let i: usize = step.parse().ok()?;
                    PointerTarget {
                        key_span: None,
                        node: items.get(i)?,
                    }
                }
                _ => return None,
            };
        }
        Some(target)
    }

    /// The deepest existing prefix of `pointer`: for a pointer to a missing key, the span of
    /// the closest parent that exists.
    pub fn closest(&self, pointer: &str) -> PointerTarget<'_> {
        let mut target = PointerTarget {
            key_span: None,
            node: self,
        };
        let Some(rest) = pointer.strip_prefix('/') else {
            return target;
        };
        for raw in rest.split('/') {
            let step = unescape_pointer_token(raw);
            let next = match &target.node.value {
                Value::Map(entries) => {
                    entries
                        .iter()
                        .rev()
                        .find(|e| e.key == step)
                        .map(|e| PointerTarget {
                            key_span: Some(e.key_span),
                            node: &e.value,
                        })
                }
                Value::Seq(items) => {
                    step.parse::<usize>()
                        .ok()
                        .and_then(|i| items.get(i))
                        .map(|n| PointerTarget {
                            key_span: None,
                            node: n,
                        })
                }
                _ => None,
            };
            match next {
                Some(t) => target = t,
                None => break,
            }
        }
        target
    }

    /// Number of nodes in this subtree (used for alias expansion budgets).
    pub fn size(&self) -> usize {
        1 + match &self.value {
            Value::Seq(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) => entries.iter().map(|e| e.value.size()).sum(),
            _ => 0,
        }
    }

    /// A copy of this subtree whose every span is `span` (an alias expanded at `span`).
    pub fn relocated(&self, span: Span) -> Node {
        let value = match &self.value {
            Value::Seq(items) => Value::Seq(items.iter().map(|n| n.relocated(span)).collect()),
            Value::Map(entries) => Value::Map(
                entries
                    .iter()
                    .map(|e| Entry {
                        key: e.key.clone(),
                        key_span: span,
                        value: e.value.relocated(span),
                    })
                    .collect(),
            ),
            other => other.clone(),
        };
        Node { value, span }
    }

    /// Converts to `serde_json::Value` (NaN and infinities become null, as JSON has no such numbers).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(entries) => {
                let mut map = serde_json::Map::with_capacity(entries.len());
                for e in entries {
                    map.insert(e.key.clone(), e.value.to_json());
                }
                serde_json::Value::Object(map)
            }
        }
    }
}

impl fmt::Display for Value {
    /// A short rendering for messages: scalars as written in JSON, collections by their type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Seq(_) => f.write_str("a list"),
            Value::Map(_) => f.write_str("a mapping"),
        }
    }
}

pub fn unescape_pointer_token(raw: &str) -> std::borrow::Cow<'_, str> {
    if raw.contains('~') {
        std::borrow::Cow::Owned(raw.replace("~1", "/").replace("~0", "~"))
    } else {
        std::borrow::Cow::Borrowed(raw)
    }
}

pub fn escape_pointer_token(raw: &str) -> std::borrow::Cow<'_, str> {
    if raw.contains(['~', '/']) {
        std::borrow::Cow::Owned(raw.replace('~', "~0").replace('/', "~1"))
    } else {
        std::borrow::Cow::Borrowed(raw)
    }
}
