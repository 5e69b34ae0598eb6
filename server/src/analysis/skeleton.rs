//! Schema-driven YAML text: the properties of a schema, and skeletons of required fields for
//! completion snippets and "add missing fields" fixes.

use serde_json::Value as Json;

use crate::schema::Catalog;
use crate::schema::model::{Additional, SchemaArena, SchemaId, Types};

use super::context::Seg;

/// Every property of an object schema (its own and those of `allOf` parts), sorted by name.
pub fn properties(arena: &SchemaArena, id: SchemaId) -> Vec<(String, SchemaId)> {
    let mut out: Vec<(String, SchemaId)> = Vec::new();
    collect_properties(arena, id, &mut out, 0);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

fn collect_properties(
    arena: &SchemaArena,
    id: SchemaId,
    out: &mut Vec<(String, SchemaId)>,
    depth: u32,
) {
    if depth > 8 {
        return;
    }
    let node = arena.get(arena.resolve(id));
    out.extend(node.properties.iter().map(|(k, v)| (k.to_string(), *v)));
    for &sub in &node.all_of {
        collect_properties(arena, sub, out, depth + 1);
    }
}

/// The required properties of an object schema.
pub fn required(arena: &SchemaArena, id: SchemaId) -> Vec<String> {
    let node = arena.get(arena.resolve(id));
    let mut out: Vec<String> = node.required.iter().map(|r| r.to_string()).collect();
    for &sub in &node.all_of {
        for r in &arena.get(arena.resolve(sub)).required {
            if !out.iter().any(|o| **o == **r) {
                out.push(r.to_string());
            }
        }
    }
    out
}

/// The schema at `path` under `root`.
pub fn schema_at(catalog: &Catalog, root: SchemaId, path: &[Seg]) -> Option<SchemaId> {
    let arena = &catalog.arena;
    let mut id = root;
    for seg in path {
        id = match seg {
            Seg::Key(k) if k == "metadata" && is_resource_root(catalog, id) => {
                catalog.object_meta.or_else(|| arena.property(id, k))?
            }
            Seg::Key(k) => arena.property(id, k)?,
            Seg::Item => arena.items(id)?,
        };
    }
    Some(id)
}

fn is_resource_root(catalog: &Catalog, id: SchemaId) -> bool {
    catalog.arena.property(id, "metadata").is_none()
        && catalog.arena.property(id, "apiVersion").is_some()
}

/// The allowed values of a scalar schema, as YAML text.
pub fn enum_values(arena: &SchemaArena, id: SchemaId) -> Vec<String> {
    arena
        .get(arena.resolve(id))
        .enum_values
        .iter()
        .map(scalar_text)
        .collect()
}

/// A JSON value written as a YAML scalar (flow style for collections).
pub fn scalar_text(v: &Json) -> String {
    match v {
        Json::String(s) if super::plain_safe(s) => s.clone(),
        Json::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// Writes YAML text for fields of a schema. Snippets use tab stops and choices (`${1|a,b|}`);
/// plain text uses defaults, the first allowed value or an empty value of the right type.
pub struct Skeleton<'a> {
    pub arena: &'a SchemaArena,
    pub snippet: bool,
    next_tab: u32,
    /// How deep required children are expanded.
    pub max_depth: usize,
}

impl<'a> Skeleton<'a> {
    pub fn new(arena: &'a SchemaArena, snippet: bool) -> Self {
        Skeleton {
            arena,
            snippet,
            next_tab: 1,
            max_depth: 4,
        }
    }

    /// The next tab stop, with a placeholder.
    pub fn tab(&mut self, placeholder: &str) -> String {
        let n = self.next_tab;
        self.next_tab += 1;
        if placeholder.is_empty() {
            format!("${n}")
        } else {
            format!("${{{n}:{}}}", escape(placeholder))
        }
    }

    fn choice(&mut self, values: &[String]) -> String {
        let n = self.next_tab;
        self.next_tab += 1;
        let escaped: Vec<String> = values
            .iter()
            .map(|v| escape(v).replace(',', "\\,").replace('|', "\\|"))
            .collect();
        format!("${{{n}|{}|}}", escaped.join(","))
    }

    /// `name: value` (and nested lines) with the key at column `indent`; the first line is not
    /// indented, following lines are.
    pub fn field(
        &mut self,
        out: &mut String,
        name: &str,
        id: Option<SchemaId>,
        indent: usize,
        depth: usize,
    ) {
        out.push_str(&key_text(name));
        out.push(':');
        let Some(id) = id else {
            out.push(' ');
            let v = if self.snippet {
                self.tab("")
            } else {
                "\"\"".into()
            };
            out.push_str(&v);
            return;
        };
        self.value(out, id, indent, depth);
    }

    /// The value part after `key:` (a leading space or a line break included).
    fn value(&mut self, out: &mut String, id: SchemaId, indent: usize, depth: usize) {
        let arena = self.arena;
        let node = arena.get(arena.resolve(id));
        let default = arena.default_value(id).cloned();
        let enums = enum_values(arena, id);
        if !enums.is_empty() {
            out.push(' ');
            let text = if self.snippet {
                let mut values = enums.clone();
                if let Some(d) = &default {
                    let d = scalar_text(d);
                    values.retain(|v| *v != d);
                    values.insert(0, d);
                }
                self.choice(&values)
            } else {
                default
                    .as_ref()
                    .map_or_else(|| enums[0].clone(), scalar_text)
            };
            out.push_str(&text);
            return;
        }
        let types = node.types;
        let is_object =
            types.has(Types::OBJECT) || (!node.properties.is_empty() && !types.has(Types::ARRAY));
        if types.has(Types::ARRAY) && !node.int_or_string {
            let item = node.items;
            let item_required = item.map(|i| required(arena, i)).unwrap_or_default();
            if depth < self.max_depth && !item_required.is_empty() {
                let item = item.unwrap();
                out.push('\n');
                push_indent(out, indent + 2);
                out.push_str("- ");
                self.fields(out, item, &item_required, indent + 4, depth + 1);
            } else if self.snippet {
                out.push('\n');
                push_indent(out, indent + 2);
                out.push_str("- ");
                let t = self.tab("");
                out.push_str(&t);
            } else {
                out.push_str(" []");
            }
            return;
        }
        if is_object && !node.int_or_string {
            let req = required(arena, id);
            if depth < self.max_depth && !req.is_empty() {
                out.push('\n');
                push_indent(out, indent + 2);
                self.fields(out, id, &req, indent + 2, depth + 1);
            } else if self.snippet {
                out.push('\n');
                push_indent(out, indent + 2);
                let t = self.tab("");
                out.push_str(&t);
            } else {
                out.push_str(" {}");
            }
            return;
        }
        out.push(' ');
        let is_bool = types.has(Types::BOOLEAN) && !types.has(Types::STRING);
        let text = match (self.snippet, &default) {
            (true, _) if is_bool => {
                let first = default.as_ref().map_or("false".to_string(), scalar_text);
                let second = if first == "true" { "false" } else { "true" };
                self.choice(&[first, second.to_string()])
            }
            (true, Some(d)) => self.tab(&scalar_text(d)),
            (true, None) => self.tab(""),
            (false, Some(d)) => scalar_text(d),
            (false, None) if is_bool => "false".into(),
            (false, None) if types.has(Types::INTEGER) || types.has(Types::NUMBER) => "0".into(),
            (false, None) => "\"\"".into(),
        };
        out.push_str(&text);
    }

    /// Several fields of object `id`, one per line at `indent` (the first line not indented).
    pub fn fields(
        &mut self,
        out: &mut String,
        id: SchemaId,
        names: &[String],
        indent: usize,
        depth: usize,
    ) {
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                out.push('\n');
                push_indent(out, indent);
            }
            let prop = self.arena.property(id, name);
            self.field(out, name, prop, indent, depth);
        }
    }

    /// Ends a snippet with its final tab stop.
    pub fn finish(&mut self, out: &mut String) {
        if self.snippet && self.next_tab > 1 {
            out.push_str("$0");
        }
    }

    pub fn used_tabs(&self) -> bool {
        self.next_tab > 1
    }
}

/// Whether a property is an object or a list (its value goes on the next lines).
pub fn is_block(arena: &SchemaArena, id: SchemaId) -> bool {
    let node = arena.get(arena.resolve(id));
    !node.int_or_string
        && node.enum_values.is_empty()
        && (node.types.has(Types::ARRAY)
            || node.types.has(Types::OBJECT)
            || !node.properties.is_empty()
            || matches!(node.additional, Additional::Schema(_)))
}

fn push_indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn key_text(name: &str) -> String {
    if super::plain_safe(name) {
        name.to_string()
    } else {
        serde_json::to_string(name).unwrap_or_else(|_| name.to_string())
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('$', "\\$")
        .replace('}', "\\}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_spec_skeleton() {
        let catalog = Catalog::builtin();
        let info = catalog.lookup("apps/v1", "Deployment").unwrap();
        let spec = catalog.arena.property(info.root, "spec").unwrap();
        let mut out = String::new();
        let mut sk = Skeleton::new(&catalog.arena, false);
        sk.field(&mut out, "spec", Some(spec), 0, 0);
        assert!(
            out.starts_with("spec:\n  selector: {}\n  template: {}"),
            "{out}"
        );
        let mut out = String::new();
        let mut sk = Skeleton::new(&catalog.arena, true);
        let containers = schema_at(
            &catalog,
            info.root,
            &[
                Seg::Key("spec".into()),
                Seg::Key("template".into()),
                Seg::Key("spec".into()),
                Seg::Key("containers".into()),
            ],
        )
        .unwrap();
        sk.field(&mut out, "containers", Some(containers), 0, 0);
        assert_eq!(out, "containers:\n  - name: $1");
        let policy = schema_at(
            &catalog,
            info.root,
            &[
                Seg::Key("spec".into()),
                Seg::Key("template".into()),
                Seg::Key("spec".into()),
                Seg::Key("restartPolicy".into()),
            ],
        )
        .unwrap();
        let mut out = String::new();
        Skeleton::new(&catalog.arena, true).field(&mut out, "restartPolicy", Some(policy), 0, 0);
        assert_eq!(out, "restartPolicy: ${1|Always,OnFailure,Never|}");
    }
}
