//! Editor questions answered from a file's text and its lowered documents: hover, completion,
//! outline, folding and selection ranges. Plain data with byte ranges; the language server
//! converts them.

use std::ops::Range;

use crate::finding::{Finding, TextEdit};
use crate::schema::model::{SchemaId, Types};
use crate::schema::{Catalog, KindInfo};
use crate::yaml::{Node, Value, YamlDocument, YamlFile};

use super::context::{self, Seg, mapping_path, shape, sibling_keys, top_level_value};
use super::skeleton::{
    Skeleton, enum_values, is_block, properties, required, scalar_text, schema_at,
};

/// The document of `file` that holds byte `offset` (the last one at a boundary).
pub fn document_at(file: &YamlFile, offset: usize) -> Option<&YamlDocument> {
    file.docs
        .iter()
        .rev()
        .find(|d| d.start <= offset && offset <= d.end)
        .or_else(|| file.docs.last().filter(|d| offset >= d.end))
}

/// What the cursor is on in a lowered document.
#[derive(Debug, Clone)]
pub struct Located {
    pub path: Vec<Seg>,
    /// On a key (the last step of `path`) or on a value.
    pub on_key: bool,
    /// Document-relative span of what the cursor is on.
    pub span: Range<usize>,
}

/// Finds the deepest key or scalar value at document-relative `offset`.
pub fn locate(root: &Node, offset: usize) -> Option<Located> {
    let mut path = Vec::new();
    let mut node = root;
    'descend: loop {
        match &node.value {
            Value::Map(entries) => {
                for e in entries {
                    if e.key_span.contains(offset) {
                        path.push(Seg::Key(e.key.clone()));
                        return Some(Located {
                            path,
                            on_key: true,
                            span: e.key_span.start as usize..e.key_span.end as usize,
                        });
                    }
                    if e.value.span.contains(offset) && !e.value.span.is_empty() {
                        path.push(Seg::Key(e.key.clone()));
                        node = &e.value;
                        continue 'descend;
                    }
                }
                return None;
            }
            Value::Seq(items) => {
                for item in items {
                    if item.span.contains(offset) && !item.span.is_empty() {
                        path.push(Seg::Item);
                        node = item;
                        continue 'descend;
                    }
                }
                return None;
            }
            _ => {
                return node.span.contains(offset).then_some(Located {
                    path,
                    on_key: false,
                    span: node.span.start as usize..node.span.end as usize,
                });
            }
        }
    }
}

/// The catalog entry of a document's resource, from its lowered value or, when the document
/// does not parse, from its top-level `apiVersion:` and `kind:` lines.
pub fn resource_kind<'c>(
    catalog: &'c Catalog,
    body: &str,
    doc: Option<&YamlDocument>,
) -> Option<&'c KindInfo> {
    if let Some(root) = doc.and_then(YamlDocument::root) {
        let api = root.get("apiVersion").and_then(Node::as_str);
        let kind = root.get("kind").and_then(Node::as_str);
        if let (Some(a), Some(k)) = (api, kind) {
            return catalog.lookup(a, k);
        }
    }
    let lines: Vec<&str> = body.split('\n').collect();
    let api = top_level_value(&lines, "apiVersion")?.1;
    let kind = top_level_value(&lines, "kind")?.1;
    catalog.lookup(api, kind)
}

/// Hover text (Markdown) and the byte range it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct HoverInfo {
    pub markdown: String,
    pub range: Range<usize>,
}

/// Hover at byte `offset` of the file: schema documentation of the key, the resource on
/// `kind`/`apiVersion`, and the findings at that place.
pub fn hover(
    catalog: &Catalog,
    text: &str,
    file: &YamlFile,
    offset: usize,
    findings: &[Finding],
) -> Option<HoverInfo> {
    let doc = document_at(file, offset)?;
    let body = &text[doc.start..doc.end];
    let rel = offset - doc.start;
    let located = doc.root().and_then(|r| locate(r, rel));
    let kind = resource_kind(catalog, body, Some(doc));
    let mut parts: Vec<String> = Vec::new();
    let mut range = offset..offset;
    if let Some(loc) = &located {
        range = loc.span.start + doc.start..loc.span.end + doc.start;
        let top = loc.path.len() == 1;
        let is_identity =
            top && matches!(&loc.path[0], Seg::Key(k) if k == "kind" || k == "apiVersion");
        if is_identity {
            if let Some(info) = kind {
                parts.push(kind_markdown(catalog, info));
            }
        } else if loc.on_key
            && let Some(info) = kind
            && let Some(id) = schema_at(catalog, info.root, &loc.path)
        {
            let parent = schema_at(catalog, info.root, &loc.path[..loc.path.len() - 1]);
            let name = match loc.path.last() {
                Some(Seg::Key(k)) => k.as_str(),
                _ => "",
            };
            let is_required =
                parent.is_some_and(|p| required(&catalog.arena, p).iter().any(|r| r == name));
            parts.push(field_markdown(catalog, info, &loc.path, id, is_required));
        }
    }
    let here: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.range.start <= offset && offset <= f.range.end.max(f.range.start + 1))
        .collect();
    if !here.is_empty() {
        let lines: Vec<String> = here
            .iter()
            .map(|f| format!("**{}** `{}`: {}", f.severity.as_str(), f.code, f.message))
            .collect();
        parts.push(lines.join("\n\n"));
        if located.is_none() {
            range = here[0].range.clone();
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(HoverInfo {
        markdown: parts.join("\n\n---\n\n"),
        range,
    })
}

/// "Policies and rules for this resource": the knowledge index's top hits, shown when hovering
/// the resource's `kind` or `metadata.name`. None elsewhere.
pub fn knowledge_hover(
    advisor: &crate::knowledge::advisor::Advisor,
    file: &YamlFile,
    offset: usize,
) -> Option<HoverInfo> {
    let doc = document_at(file, offset)?;
    let root = doc.root()?;
    let loc = locate(root, offset - doc.start)?;
    let on = |want: &[&str]| {
        loc.path.len() == want.len()
            && loc
                .path
                .iter()
                .zip(want)
                .all(|(s, w)| matches!(s, Seg::Key(k) if k == w))
    };
    if !(on(&["kind"]) || on(&["metadata", "name"])) {
        return None;
    }
    root.get("apiVersion")?;
    let advice = advisor.for_resource(&root.to_json());
    let mut md = String::from("**Policies and rules for this resource**");
    if !advisor.has_vectors() {
        md.push_str(" _(by words only: no embedding model)_");
    }
    md.push('\n');
    if advice.hits.is_empty() {
        md.push_str("\nNothing in the knowledge index concerns it.");
    }
    let mut shown: Vec<&str> = Vec::new();
    for a in advice.hits.iter().chain(advice.written.iter()) {
        if shown.contains(&a.chunk.id.as_str()) {
            continue;
        }
        shown.push(&a.chunk.id);
        let c = &a.chunk;
        let origin = crate::knowledge::advisor::provenance_line(c);
        let place = match advisor.source_path(c) {
            Some(p) => {
                let line = c.provenance.lines.map(|(l, _)| l).unwrap_or(1);
                let path = p
                    .display()
                    .to_string()
                    .replace('%', "%25")
                    .replace(' ', "%20")
                    .replace('#', "%23");
                format!("[{origin}](file://{path}#L{line})")
            }
            None => origin,
        };
        let relevance = a
            .relevance
            .map(|r| format!(", relevance {r:.2}"))
            .unwrap_or_default();
        md.push_str(&format!(
            "\n- **{}** ({}{relevance}): {} — {place}",
            c.title.replace('\n', " "),
            c.source_type.as_str(),
            crate::knowledge::advisor::summary(c, 200),
        ));
    }
    Some(HoverInfo {
        markdown: md,
        range: loc.span.start + doc.start..loc.span.end + doc.start,
    })
}

fn source_text(info: &KindInfo) -> String {
    info.source.describe("`")
}

/// The Markdown shown for a resource kind.
pub fn kind_markdown(catalog: &Catalog, info: &KindInfo) -> String {
    let group = if info.group.is_empty() {
        "core"
    } else {
        info.group.as_str()
    };
    let scope = if info.namespaced {
        "namespaced"
    } else {
        "cluster-scoped"
    };
    let mut md = format!(
        "**{}** · `{}`\n\ngroup `{group}`, version `{}`, {scope}, resource `{}`",
        info.kind,
        info.api_version(),
        info.version,
        info.plural
    );
    if let Some(d) = catalog.arena.description(info.root) {
        md.push_str("\n\n");
        md.push_str(d);
    }
    md.push_str(&format!("\n\nSchema: {}", source_text(info)));
    md
}

/// The Markdown shown for a field.
pub fn field_markdown(
    catalog: &Catalog,
    info: &KindInfo,
    path: &[Seg],
    id: SchemaId,
    is_required: bool,
) -> String {
    let arena = &catalog.arena;
    let name = match path.last() {
        Some(Seg::Key(k)) => k.clone(),
        _ => String::new(),
    };
    let dotted: Vec<String> = path
        .iter()
        .map(|s| match s {
            Seg::Key(k) => k.clone(),
            Seg::Item => "[]".into(),
        })
        .collect();
    let mut md = format!(
        "**{name}** `{}` · {}\n\n`{}.{}`",
        arena.type_label(id),
        if is_required { "required" } else { "optional" },
        info.kind,
        dotted.join(".").replace(".[]", "[]")
    );
    if let Some(d) = arena.description(id) {
        md.push_str("\n\n");
        md.push_str(d);
    }
    let values = enum_values(arena, id);
    if !values.is_empty() {
        let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        md.push_str(&format!("\n\nAllowed values: {}", quoted.join(", ")));
    }
    if let Some(d) = arena.default_value(id) {
        md.push_str(&format!("\n\nDefault: `{}`", scalar_text(d)));
    }
    md
}

/// What kind of thing a completion item inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionKind {
    Field,
    Value,
    Kind,
    Snippet,
}

/// A completion item with byte ranges in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: Option<String>,
    pub documentation: Option<String>,
    /// Text replacing `replace`; a snippet when `snippet` is set.
    pub insert: String,
    pub snippet: bool,
    pub replace: Range<usize>,
    pub additional: Vec<TextEdit>,
    pub sort: String,
    pub filter: Option<String>,
}

/// Completion at byte `offset` of the file. `snippets`: whether the client expands snippets.
pub fn complete(
    catalog: &Catalog,
    text: &str,
    file: &YamlFile,
    offset: usize,
    snippets: bool,
) -> Vec<Completion> {
    let (doc_start, doc_end) = match document_at(file, offset) {
        Some(d) => (d.start, d.end),
        None => (0, text.len()),
    };
    let doc_end = doc_end.max(offset).min(text.len());
    let body = &text[doc_start..doc_end];
    let rel = offset - doc_start;
    let lines: Vec<&str> = body.split('\n').collect();
    let line_no = body[..rel].matches('\n').count();
    let line_start = body[..rel].rfind('\n').map_or(0, |p| p + 1);
    let line = lines.get(line_no).copied().unwrap_or("");
    let col = rel - line_start;
    let pre = &line[..col.min(line.len())];
    let abs = |r: usize| doc_start + line_start + r;
    let pre_shape = shape(pre);
    if pre.trim_start().starts_with('#') || pre.contains(" #") {
        return Vec::new();
    }
    let info = resource_kind(
        catalog,
        body,
        document_at(file, offset).filter(|d| d.start == doc_start),
    );

    if let Some((kc, key)) = &pre_shape.key {
        // A value after `key:`.
        let after_colon = pre[*kc..].find(':').map_or(col, |c| kc + c + 1);
        let vstart =
            after_colon + (pre[after_colon..].len() - pre[after_colon..].trim_start().len());
        let full = shape(line);
        let vend = full.value.map_or(col, |(_, e)| e.max(col));
        let partial = pre[vstart..].trim_start_matches(['"', '\'']);
        let replace = abs(vstart)..abs(vend.max(vstart));
        let mut path = mapping_path(&lines, line_no, *kc, &pre_shape.dashes);
        if path.is_empty() && (key == "kind" || key == "apiVersion") {
            return identity_values(
                catalog,
                &lines,
                key,
                partial,
                replace,
                doc_start,
                &line_starts(body),
            );
        }
        path.push(Seg::Key(key.clone()));
        let Some(info) = info else { return Vec::new() };
        let Some(id) = schema_at(catalog, info.root, &path) else {
            return Vec::new();
        };
        return value_items(catalog, id, replace);
    }

    // A key (possibly after `- `), possibly half-typed.
    let word_start = pre
        .rfind([' ', '-'])
        .map_or(0, |p| p + 1)
        .max(pre_shape.indent);
    let partial = &pre[word_start..];
    if partial.contains([':', '{', '[', '"', '\''])
        || (!partial.is_empty() && partial.starts_with(['&', '*', '!', '|', '>']))
    {
        return Vec::new();
    }
    let rest = &line[col.min(line.len())..];
    let word_end = col
        + rest
            .find(|c: char| c == ':' || c.is_whitespace())
            .unwrap_or(rest.len());
    let has_colon = line[word_end..].trim_start().starts_with(':');
    let replace = abs(word_start)..abs(word_end);
    let key_col = word_start;
    let dashes: Vec<usize> = pre_shape.dashes.clone();
    let starts_item = dashes.iter().any(|&d| d < key_col);
    let path = mapping_path(&lines, line_no, key_col, &dashes);
    let present = sibling_keys(&lines, line_no, key_col, starts_item);
    if path.is_empty() && info.is_none() {
        return root_items(catalog, &lines, &present, replace, snippets);
    }
    let Some(info) = info else { return Vec::new() };
    let Some(id) = schema_at(catalog, info.root, &path) else {
        return Vec::new();
    };
    let arena = &catalog.arena;
    let req = required(arena, id);
    let mut out = Vec::new();
    let object_id = if path.is_empty() { info.root } else { id };
    for (name, prop) in properties(arena, object_id) {
        if present.contains(&name) {
            continue;
        }
        let is_required = req.contains(&name);
        let mut insert = String::new();
        let mut snippet = false;
        if has_colon {
            insert.push_str(&name);
        } else if snippets {
            let mut sk = Skeleton::new(arena, true);
            sk.max_depth = 2;
            sk.field(&mut insert, &name, Some(prop), 0, 0);
            sk.finish(&mut insert);
            snippet = sk.used_tabs();
        } else {
            insert.push_str(&name);
            insert.push(':');
            if !is_block(arena, prop) {
                insert.push(' ');
            }
        }
        let mut doc = String::new();
        if let Some(d) = arena.description(prop) {
            doc.push_str(d);
        }
        out.push(Completion {
            label: name.clone(),
            kind: CompletionKind::Field,
            detail: Some(format!(
                "{}{}",
                arena.type_label(prop),
                if is_required { " (required)" } else { "" }
            )),
            documentation: (!doc.is_empty()).then_some(doc),
            insert,
            snippet,
            replace: replace.clone(),
            additional: Vec::new(),
            sort: format!("{}{}", if is_required { 0 } else { 1 }, name),
            filter: None,
        });
    }
    out
}

fn line_starts(body: &str) -> Vec<usize> {
    let mut v = vec![0];
    v.extend(body.match_indices('\n').map(|(i, _)| i + 1));
    v
}

fn value_items(catalog: &Catalog, id: SchemaId, replace: Range<usize>) -> Vec<Completion> {
    let arena = &catalog.arena;
    let node = arena.get(arena.resolve(id));
    let default = arena.default_value(id).map(scalar_text);
    let mut values = enum_values(arena, id);
    if values.is_empty() && node.types.has(Types::BOOLEAN) {
        values = vec!["true".into(), "false".into()];
    }
    if values.is_empty()
        && let Some(d) = &default
    {
        values.push(d.clone());
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| Completion {
            label: v.clone(),
            kind: CompletionKind::Value,
            detail: Some(if default.as_deref() == Some(v.as_str()) {
                "default".into()
            } else {
                arena.type_label(id)
            }),
            documentation: None,
            insert: v,
            snippet: false,
            replace: replace.clone(),
            additional: Vec::new(),
            sort: format!("{i:04}"),
            filter: None,
        })
        .collect()
}

/// Preference of an apiVersion: stable before beta before alpha.
fn version_rank(version: &str) -> u8 {
    if version.contains("alpha") {
        2
    } else if version.contains("beta") {
        1
    } else {
        0
    }
}

/// Values for `kind:` and `apiVersion:`: choosing one fills in the other.
fn identity_values(
    catalog: &Catalog,
    lines: &[&str],
    key: &str,
    partial: &str,
    replace: Range<usize>,
    doc_start: usize,
    starts: &[usize],
) -> Vec<Completion> {
    let other_key = if key == "kind" { "apiVersion" } else { "kind" };
    let other = top_level_value(lines, other_key);
    let this_line = top_level_value(lines, key).map(|t| t.0).or_else(|| {
        lines.iter().position(|l| {
            shape(l)
                .key
                .as_ref()
                .is_some_and(|(c, k)| *c == 0 && k == key)
        })
    });
    let mut kinds: Vec<&KindInfo> = catalog.kinds.iter().collect();
    kinds.sort_by(|a, b| {
        (a.kind.as_str(), version_rank(&a.version), a.group.as_str()).cmp(&(
            b.kind.as_str(),
            version_rank(&b.version),
            b.group.as_str(),
        ))
    });
    let _ = partial;
    let mut out = Vec::new();
    for (i, info) in kinds.iter().enumerate() {
        let api = info.api_version();
        let (label, value, other_value) = if key == "kind" {
            (info.kind.clone(), info.kind.clone(), api.clone())
        } else {
            if let Some((_, k, _)) = other
                && !k.is_empty()
                && k != info.kind
            {
                continue;
            }
            (api.clone(), api.clone(), info.kind.clone())
        };
        let mut additional = Vec::new();
        match other {
            Some((l, v, vstart)) if v != other_value => {
                let start = doc_start + starts[l] + vstart;
                let end = doc_start + starts[l] + lines[l].trim_end_matches('\r').len();
                let end = end.max(start);
                let line_text = lines[l];
                let value_end = shape(line_text)
                    .value
                    .map_or(end, |(_, e)| doc_start + starts[l] + e);
                additional.push(TextEdit {
                    range: start..value_end,
                    new_text: other_value.clone(),
                });
            }
            Some(_) => {}
            None => {
                // Insert the other line before (apiVersion) or after (kind) this one.
                if let Some(l) = this_line {
                    let at = if key == "kind" {
                        doc_start + starts[l]
                    } else {
                        doc_start
                            + starts
                                .get(l + 1)
                                .copied()
                                .unwrap_or(starts[l] + lines[l].len())
                    };
                    let nl = if key != "kind" && starts.get(l + 1).is_none() {
                        "\n"
                    } else {
                        ""
                    };
                    additional.push(TextEdit {
                        range: at..at,
                        new_text: format!("{nl}{other_key}: {other_value}\n"),
                    });
                }
            }
        }
        out.push(Completion {
            label,
            kind: CompletionKind::Kind,
            detail: Some(if key == "kind" {
                api.clone()
            } else {
                info.kind.clone()
            }),
            documentation: Some(kind_markdown(catalog, info)),
            insert: value,
            snippet: false,
            replace: replace.clone(),
            additional,
            sort: format!("{}{i:05}", version_rank(&info.version)),
            filter: None,
        });
    }
    out
}

/// At the top of a document that has no known kind yet: `apiVersion`, `kind`, and a skeleton
/// per kind.
fn root_items(
    catalog: &Catalog,
    lines: &[&str],
    present: &[String],
    replace: Range<usize>,
    snippets: bool,
) -> Vec<Completion> {
    let mut out = Vec::new();
    for key in ["apiVersion", "kind", "metadata"] {
        if present.iter().any(|p| p == key) {
            continue;
        }
        out.push(Completion {
            label: key.into(),
            kind: CompletionKind::Field,
            detail: None,
            documentation: None,
            insert: if key == "metadata" {
                "metadata:\n  name: ".into()
            } else {
                format!("{key}: ")
            },
            snippet: false,
            replace: replace.clone(),
            additional: Vec::new(),
            sort: format!("0{key}"),
            filter: None,
        });
    }
    let has_identity =
        top_level_value(lines, "kind").is_some() || top_level_value(lines, "apiVersion").is_some();
    if has_identity || !present.is_empty() {
        return out;
    }
    let mut kinds: Vec<&KindInfo> = catalog
        .kinds
        .iter()
        .filter(|k| !k.kind.ends_with("List"))
        .collect();
    kinds.sort_by(|a, b| {
        (a.kind.as_str(), version_rank(&a.version), a.group.as_str()).cmp(&(
            b.kind.as_str(),
            version_rank(&b.version),
            b.group.as_str(),
        ))
    });
    for (i, info) in kinds.iter().enumerate() {
        let api = info.api_version();
        let mut text = format!(
            "apiVersion: {api}\nkind: {}\nmetadata:\n  name: ",
            info.kind
        );
        let arena = &catalog.arena;
        let mut sk = Skeleton::new(arena, snippets);
        sk.max_depth = 3;
        if snippets {
            text.push_str(&sk.tab("name"));
        } else {
            text.push_str("name");
        }
        let mut names = required(arena, info.root);
        names.retain(|n| n != "apiVersion" && n != "kind" && n != "metadata");
        if let Some(spec) = arena.property(info.root, "spec")
            && !names.iter().any(|n| n == "spec")
            && !required(arena, spec).is_empty()
        {
            names.push("spec".into());
        }
        for name in &names {
            text.push('\n');
            let prop = arena.property(info.root, name);
            sk.field(&mut text, name, prop, 0, 0);
        }
        sk.finish(&mut text);
        out.push(Completion {
            label: info.kind.clone(),
            kind: CompletionKind::Snippet,
            detail: Some(api.clone()),
            documentation: Some(kind_markdown(catalog, info)),
            insert: text,
            snippet: snippets,
            replace: replace.clone(),
            additional: Vec::new(),
            sort: format!("1{}{i:05}", version_rank(&info.version)),
            filter: Some(info.kind.clone()),
        });
    }
    out
}

/// A symbol of the outline.
#[derive(Debug, Clone, PartialEq)]
pub struct Symbol {
    pub name: String,
    pub detail: Option<String>,
    pub kind: SymbolKind,
    pub range: Range<usize>,
    pub selection: Range<usize>,
    pub children: Vec<Symbol>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    Resource,
    Object,
    Array,
    Field,
}

/// Outline of a file: per document `Kind name` with its keys nested.
pub fn symbols(text: &str, file: &YamlFile) -> Vec<Symbol> {
    let mut out = Vec::new();
    for (i, doc) in file.docs.iter().enumerate() {
        let Some(root) = doc.root() else { continue };
        let kind = root.get("kind").and_then(Node::as_str);
        let name = root
            .get("metadata")
            .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
            .and_then(Node::as_str);
        let title = match (kind, name) {
            (Some(k), Some(n)) => format!("{k} {n}"),
            (Some(k), None) => k.to_string(),
            _ => format!("document {}", i + 1),
        };
        let selection = root
            .entry("kind")
            .map_or(root.span, |e| e.value.span)
            .shift(doc.start);
        let mut budget = 5_000usize;
        let range = doc.start..doc.end.max(doc.start).min(text.len());
        let selection = clamp_into(selection, &range);
        out.push(Symbol {
            name: title,
            detail: root
                .get("apiVersion")
                .and_then(Node::as_str)
                .map(str::to_string),
            kind: SymbolKind::Resource,
            range,
            selection,
            children: children(root, doc.start, &mut budget, 0),
        });
    }
    out
}

fn clamp_into(r: Range<usize>, outer: &Range<usize>) -> Range<usize> {
    let s = r.start.clamp(outer.start, outer.end);
    let e = r.end.clamp(s, outer.end);
    s..e
}

fn children(node: &Node, base: usize, budget: &mut usize, depth: usize) -> Vec<Symbol> {
    let mut out = Vec::new();
    if depth > 12 {
        return out;
    }
    match &node.value {
        Value::Map(entries) => {
            for e in entries {
                if *budget == 0 {
                    break;
                }
                *budget -= 1;
                let kind = match e.value.value {
                    Value::Map(_) => SymbolKind::Object,
                    Value::Seq(_) => SymbolKind::Array,
                    _ => SymbolKind::Field,
                };
                let end = e.value.span.end.max(e.key_span.end) as usize;
                let detail = match &e.value.value {
                    Value::Map(_) | Value::Seq(_) => None,
                    v => Some(truncate(&v.to_string(), 60)),
                };
                out.push(Symbol {
                    name: if e.key.is_empty() {
                        "\"\"".into()
                    } else {
                        e.key.clone()
                    },
                    detail,
                    kind,
                    range: e.key_span.start as usize + base..end + base,
                    selection: e.key_span.shift(base),
                    children: children(&e.value, base, budget, depth + 1),
                });
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                if *budget == 0 {
                    break;
                }
                *budget -= 1;
                let name = item
                    .get("name")
                    .and_then(Node::as_str)
                    .map_or_else(|| format!("[{i}]"), |n| format!("[{i}] {n}"));
                let kind = match item.value {
                    Value::Map(_) => SymbolKind::Object,
                    Value::Seq(_) => SymbolKind::Array,
                    _ => SymbolKind::Field,
                };
                out.push(Symbol {
                    name,
                    detail: None,
                    kind,
                    range: item.span.shift(base),
                    selection: item.span.shift(base),
                    children: children(item, base, budget, depth + 1),
                });
            }
        }
        _ => {}
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n).collect();
    t.push('…');
    t
}

/// Byte ranges to fold: each document, and each mapping or sequence value spanning lines
/// (from its key).
pub fn folding_ranges(text: &str, file: &YamlFile) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for doc in &file.docs {
        let end = doc.end.min(text.len());
        let body_end = doc.start + text[doc.start..end].trim_end().len();
        if text[doc.start..body_end].contains('\n') {
            out.push(doc.start..body_end);
        }
        if let Some(root) = doc.root() {
            fold_node(text, root, doc.start, &mut out, 0);
        }
    }
    out
}

fn fold_node(text: &str, node: &Node, base: usize, out: &mut Vec<Range<usize>>, depth: usize) {
    if depth > 64 {
        return;
    }
    let spans_lines = |r: &Range<usize>| text.get(r.clone()).is_some_and(|t| t.contains('\n'));
    match &node.value {
        Value::Map(entries) => {
            for e in entries {
                if matches!(e.value.value, Value::Map(_) | Value::Seq(_) | Value::Str(_)) {
                    let r = e.key_span.start as usize + base..e.value.span.end as usize + base;
                    if spans_lines(&r) {
                        out.push(r);
                    }
                }
                fold_node(text, &e.value, base, out, depth + 1);
            }
        }
        Value::Seq(items) => {
            for item in items {
                let r = item.span.shift(base);
                if matches!(item.value, Value::Map(_)) && spans_lines(&r) {
                    out.push(r);
                }
                fold_node(text, item, base, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// Nested ranges around byte `offset`, innermost first: the scalar or key, the entry, the
/// enclosing mappings and sequences, the document.
pub fn selection_ranges(file: &YamlFile, offset: usize) -> Vec<Range<usize>> {
    let Some(doc) = document_at(file, offset) else {
        return Vec::new();
    };
    let mut chain: Vec<Range<usize>> = Vec::new();
    chain.push(doc.start..doc.end);
    if let Some(root) = doc.root() {
        let rel = offset - doc.start;
        let mut node = root;
        chain.push(root.span.shift(doc.start));
        'descend: loop {
            match &node.value {
                Value::Map(entries) => {
                    for e in entries {
                        let entry = e.key_span.start as usize
                            ..e.value.span.end.max(e.key_span.end) as usize;
                        if entry.start <= rel && rel <= entry.end {
                            chain.push(entry.start + doc.start..entry.end + doc.start);
                            if e.key_span.contains(rel) {
                                chain.push(e.key_span.shift(doc.start));
                                break 'descend;
                            }
                            chain.push(e.value.span.shift(doc.start));
                            node = &e.value;
                            continue 'descend;
                        }
                    }
                    break;
                }
                Value::Seq(items) => {
                    for item in items {
                        if item.span.contains(rel) {
                            chain.push(item.span.shift(doc.start));
                            node = item;
                            continue 'descend;
                        }
                    }
                    break;
                }
                _ => break,
            }
        }
    }
    chain.dedup();
    chain.reverse();
    // Each range must contain the next one (outer ones come later).
    let mut out: Vec<Range<usize>> = Vec::new();
    for r in chain {
        if let Some(last) = out.last()
            && !(r.start <= last.start && last.end <= r.end)
        {
            continue;
        }
        out.push(r);
    }
    out
}

pub use context::LineShape;

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> (String, usize) {
        let cursor = text.find('|').unwrap();
        (text.replace('|', ""), cursor)
    }

    fn labels(items: &[Completion]) -> Vec<&str> {
        items.iter().map(|c| c.label.as_str()).collect()
    }

    #[test]
    fn completes_keys_in_half_typed_documents() {
        let catalog = Catalog::builtin();
        let (text, cursor) =
            at("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n  temp|\n");
        let file = YamlFile::parse(&text);
        let items = complete(&catalog, &text, &file, cursor, true);
        let l = labels(&items);
        assert!(l.contains(&"template") && l.contains(&"selector"), "{l:?}");
        assert!(!l.contains(&"replicas"), "present keys are not offered");
        let sel = items.iter().find(|c| c.label == "selector").unwrap();
        assert_eq!(sel.detail.as_deref(), Some("LabelSelector (required)"));

        let (text, cursor) = at(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: a\n    |\n",
        );
        let file = YamlFile::parse(&text);
        let l: Vec<String> = complete(&catalog, &text, &file, cursor, false)
            .into_iter()
            .map(|c| c.label)
            .collect();
        assert!(
            l.contains(&"image".to_string()) && !l.contains(&"name".to_string()),
            "{l:?}"
        );
    }

    #[test]
    fn typical_half_typed_states() {
        let catalog = Catalog::builtin();
        let complete_at = |doc: &str| {
            let (text, cursor) = at(doc);
            let file = YamlFile::parse(&text);
            complete(&catalog, &text, &file, cursor, true)
        };
        let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n";
        // A new, empty list item.
        let items = complete_at(&format!("{deploy}      - name: a\n      - |\n"));
        assert!(labels(&items).contains(&"name") && labels(&items).contains(&"image"));
        // Deep inside a container, a partial key.
        let items = complete_at(&format!(
            "{deploy}      - name: a\n        resources:\n          lim|\n"
        ));
        assert!(labels(&items).contains(&"limits") && labels(&items).contains(&"requests"));
        // Under metadata (ObjectMeta), with an unclosed flow mapping elsewhere in the document.
        let items =
            complete_at("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  lab|\ndata: {a: [\n");
        assert!(labels(&items).contains(&"labels") && !labels(&items).contains(&"kind"));
        // The key already has its colon: only the name is inserted.
        let items = complete_at("apiVersion: apps/v1\nkind: Deployment\nspec:\n  repl|: 3\n");
        let r = items.iter().find(|c| c.label == "replicas").unwrap();
        assert_eq!(r.insert, "replicas");
        // In a comment, or a flow collection: nothing.
        assert!(complete_at("apiVersion: v1\nkind: Pod\n# sp|\n").is_empty());
        // A root key of a known kind.
        let items = complete_at("apiVersion: v1\nkind: Service\n|\n");
        assert!(labels(&items).contains(&"spec") && labels(&items).contains(&"metadata"));
        assert!(!labels(&items).contains(&"kind"));
    }

    #[test]
    fn completes_values_and_kinds() {
        let catalog = Catalog::builtin();
        let (text, cursor) = at("apiVersion: v1\nkind: Pod\nspec:\n  restartPolicy: |\n");
        let file = YamlFile::parse(&text);
        let l: Vec<String> = complete(&catalog, &text, &file, cursor, true)
            .into_iter()
            .map(|c| c.label)
            .collect();
        assert_eq!(l, vec!["Always", "OnFailure", "Never"]);

        let (text, cursor) = at("kind: Deploy|\n");
        let file = YamlFile::parse(&text);
        let items = complete(&catalog, &text, &file, cursor, true);
        let d = items
            .iter()
            .find(|c| c.label == "Deployment" && c.detail.as_deref() == Some("apps/v1"))
            .unwrap();
        assert_eq!(d.additional[0].new_text, "apiVersion: apps/v1\n");
        assert_eq!(d.additional[0].range, 0..0);
    }

    #[test]
    fn hovers_keys_and_kinds() {
        let catalog = Catalog::builtin();
        let text = "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n";
        let file = YamlFile::parse(text);
        let h = hover(
            &catalog,
            text,
            &file,
            text.find("replicas").unwrap() + 2,
            &[],
        )
        .unwrap();
        assert!(
            h.markdown
                .starts_with("**replicas** `integer (int32)` · optional"),
            "{}",
            h.markdown
        );
        let h = hover(&catalog, text, &file, text.find("Deployment").unwrap(), &[]).unwrap();
        assert!(
            h.markdown
                .contains("group `apps`, version `v1`, namespaced"),
            "{}",
            h.markdown
        );
    }

    #[test]
    fn outline_and_selection() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n---\nkind: Pod\n";
        let file = YamlFile::parse(text);
        let s = symbols(text, &file);
        assert_eq!(s[0].name, "ConfigMap cm");
        assert_eq!(s[1].name, "Pod");
        let names: Vec<&str> = s[0].children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["apiVersion", "kind", "metadata", "data"]);
        let sel = selection_ranges(&file, text.find("cm").unwrap());
        assert_eq!(&text[sel[0].clone()], "cm");
        assert!(
            sel.windows(2)
                .all(|w| w[1].start <= w[0].start && w[0].end <= w[1].end)
        );
        assert!(!folding_ranges(text, &file).is_empty());
    }
}
