//! Text edits that turn a YAML document into a wanted JSON value while touching only what
//! changes: a changed scalar is replaced in place, a new key is inserted after its mapping's
//! last entry at the mapping's indentation, a removed key loses its lines, new list items are
//! appended. Comments, key order and formatting elsewhere are kept. Every result is checked by
//! parsing the edited text again: edits are returned only when they produce exactly the
//! wanted value.

use std::ops::Range;

use serde_json::Value as Json;

use super::{Node, Value, YamlFile};
use crate::finding::TextEdit;

/// Edits (relative to `body`, the document's text) that turn the document whose root is
/// `root` into `want`; None when that cannot be done safely.
pub fn edits_to(body: &str, root: &Node, want: &Json) -> Option<Vec<TextEdit>> {
    let mut edits = Vec::new();
    walk(body, root, want, &mut edits)?;
    if edits.is_empty() {
        return Some(edits);
    }
    let patched = apply(body, &edits);
    let file = YamlFile::parse(&patched);
    let doc = file.docs.first()?;
    if file.docs.len() != 1 || !doc.lowered.issues.is_empty() {
        return None;
    }
    (doc.root()?.to_json() == *want).then_some(edits)
}

/// Applies non-overlapping edits to a text.
pub fn apply(text: &str, edits: &[TextEdit]) -> String {
    let mut sorted: Vec<&TextEdit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.range.start, e.range.end));
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for e in sorted {
        if e.range.start < at {
            continue;
        }
        out.push_str(&text[at..e.range.start]);
        out.push_str(&e.new_text);
        at = e.range.end;
    }
    out.push_str(&text[at..]);
    out
}

fn line_start(body: &str, at: usize) -> usize {
    body[..at].rfind('\n').map_or(0, |p| p + 1)
}

fn line_end(body: &str, at: usize) -> usize {
    body[at..].find('\n').map_or(body.len(), |p| at + p)
}

/// A node's end without the line breaks a block node's span may take in.
fn content_end(body: &str, end: usize) -> usize {
    body[..end].trim_end_matches(['\n', '\r']).len()
}

fn column(body: &str, at: usize) -> usize {
    at - line_start(body, at)
}

/// Whether the node is written in flow style (`{…}`, `[…]`).
fn is_flow(body: &str, node: &Node) -> bool {
    matches!(
        body.as_bytes().get(node.span.start as usize),
        Some(b'{' | b'[')
    )
}

fn edit(edits: &mut Vec<TextEdit>, range: Range<usize>, text: String) {
    edits.push(TextEdit {
        range,
        new_text: text,
    });
}

fn walk(body: &str, node: &Node, want: &Json, edits: &mut Vec<TextEdit>) -> Option<()> {
    if node.to_json() == *want {
        return Some(());
    }
    let span = node.span.start as usize..node.span.end as usize;
    match (&node.value, want) {
        (Value::Map(entries), Json::Object(m)) if !entries.is_empty() && !is_flow(body, node) => {
            let indent = column(body, entries[0].key_span.start as usize);
            for e in entries {
                match m.get(&e.key) {
                    Some(v) => walk(body, &e.value, v, edits)?,
                    None => {
                        let start = e.key_span.start as usize;
                        let ls = line_start(body, start);
                        // Only a key that starts its line can lose its lines.
                        if !body[ls..start].trim().is_empty() {
                            return None;
                        }
                        let end = line_end(
                            body,
                            (e.value.span.end as usize).max(e.key_span.end as usize),
                        );
                        edit(edits, ls..(end + 1).min(body.len()), String::new());
                    }
                }
            }
            let mut added = String::new();
            for (k, v) in m {
                if !entries.iter().any(|e| &e.key == k) {
                    added.push('\n');
                    added.push_str(&" ".repeat(indent));
                    added.push_str(&key_text(k));
                    added.push(':');
                    added.push_str(&block(v, indent + 2));
                }
            }
            if !added.is_empty() {
                let last = entries
                    .iter()
                    .map(|e| (e.value.span.end as usize).max(e.key_span.end as usize))
                    .max()?;
                let at = line_end(body, content_end(body, last));
                edit(edits, at..at, added);
            }
            Some(())
        }
        (Value::Seq(items), Json::Array(a)) if !items.is_empty() && !is_flow(body, node) => {
            for (item, v) in items.iter().zip(a) {
                walk(body, item, v, edits)?;
            }
            let dash = |item: &Node| -> Option<usize> {
                let start = item.span.start as usize;
                let ls = line_start(body, start);
                let before = &body[ls..start];
                let d = before.rfind('-')?;
                before[..d].trim().is_empty().then_some(ls + d)
            };
            if a.len() > items.len() {
                let indent = column(body, dash(&items[0])?);
                let mut added = String::new();
                for v in &a[items.len()..] {
                    added.push('\n');
                    added.push_str(&" ".repeat(indent));
                    added.push('-');
                    added.push_str(&item_text(v, indent + 2));
                }
                let at = line_end(body, content_end(body, items.last()?.span.end as usize));
                edit(edits, at..at, added);
            } else {
                for item in &items[a.len()..] {
                    let d = dash(item)?;
                    let ls = line_start(body, d);
                    let end = line_end(body, item.span.end as usize);
                    edit(edits, ls..(end + 1).min(body.len()), String::new());
                }
            }
            Some(())
        }
        (Value::Map(_) | Value::Seq(_), _) => {
            edit(edits, span, flow(want));
            Some(())
        }
        // A scalar (or an empty value after `key:`): the new value in flow style, in place.
        _ => {
            let text = flow(want);
            if span.is_empty() {
                edit(edits, span, format!(" {text}"));
            } else {
                edit(edits, span, text);
            }
            Some(())
        }
    }
}

fn key_text(k: &str) -> String {
    if crate::analysis::plain_safe(k) && !k.contains(": ") && !k.contains(" #") {
        k.to_string()
    } else {
        serde_json::to_string(k).unwrap_or_default()
    }
}

/// A scalar, or a container in flow style.
pub fn flow(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => {
            if crate::analysis::plain_safe(s)
                && !s.contains(": ")
                && !s.contains(" #")
                && !s.contains([',', '[', ']', '{', '}', '\n'])
                && s.trim() == s
            {
                s.clone()
            } else {
                serde_json::to_string(s).unwrap_or_default()
            }
        }
        Json::Array(a) => format!("[{}]", a.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Json::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", key_text(k), flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What follows `key:` for a value: ` scalar`, or the block lines at `indent`.
fn block(v: &Json, indent: usize) -> String {
    let pad = " ".repeat(indent);
    match v {
        Json::Object(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("\n{pad}{}:{}", key_text(k), block(v, indent + 2)))
            .collect(),
        // Lists under a key at the key's column, as kubectl writes them.
        Json::Array(a) if !a.is_empty() => {
            let dash = indent.saturating_sub(2);
            a.iter()
                .map(|x| format!("\n{}-{}", " ".repeat(dash), item_text(x, dash + 2)))
                .collect()
        }
        other => format!(" {}", flow(other)),
    }
}

/// What follows `-` for a list item whose content sits at `indent`.
fn item_text(v: &Json, indent: usize) -> String {
    match v {
        Json::Object(m) if !m.is_empty() => {
            let pad = " ".repeat(indent);
            let mut out = String::new();
            for (i, (k, v)) in m.iter().enumerate() {
                if i == 0 {
                    out.push(' ');
                } else {
                    out.push('\n');
                    out.push_str(&pad);
                }
                out.push_str(&key_text(k));
                out.push(':');
                out.push_str(&block(v, indent + 2));
            }
            out
        }
        other => format!(" {}", flow(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(text: &str, want: Json) -> Option<String> {
        let file = YamlFile::parse(text);
        let root = file.docs[0].root()?;
        let edits = edits_to(text, root, &want)?;
        Some(apply(text, &edits))
    }

    #[test]
    fn changes_a_scalar_in_place_keeping_comments() {
        let text = "a: 1 # one\nb:\n  c: x # keep\n";
        assert_eq!(
            patch(text, json!({"a": 1, "b": {"c": "y"}})).unwrap(),
            // A plain `y` would read back as a boolean (Kubernetes' YAML 1.1).
            "a: 1 # one\nb:\n  c: \"y\" # keep\n"
        );
    }

    #[test]
    fn adds_keys_at_the_mapping_indentation() {
        let text = "spec:\n  containers:\n  - name: app\n    image: nginx\n";
        let want = json!({"spec": {"containers": [{"name": "app", "image": "nginx",
            "securityContext": {"runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}}}]}});
        assert_eq!(
            patch(text, want).unwrap(),
            "spec:\n  containers:\n  - name: app\n    image: nginx\n    securityContext:\n      runAsNonRoot: true\n      capabilities:\n        drop:\n        - ALL\n"
        );
    }

    #[test]
    fn removes_keys_and_list_items() {
        let text = "a: 1\nb: 2 # gone\nc:\n- x\n- y\n";
        assert_eq!(
            patch(text, json!({"a": 1, "c": ["x"]})).unwrap(),
            "a: 1\nc:\n- x\n"
        );
    }

    #[test]
    fn appends_list_items_and_quotes_what_needs_it() {
        let text = "l:\n  - a\n";
        assert_eq!(
            patch(text, json!({"l": ["a", {"k": "true", "n": "x: y"}]})).unwrap(),
            "l:\n  - a\n  - k: \"true\"\n    \"n\": \"x: y\"\n"
        );
    }

    #[test]
    fn flow_collections_are_rewritten_in_flow_style() {
        let text = "labels: {a: b}\n";
        assert_eq!(
            patch(text, json!({"labels": {"a": "b", "c": "d"}})).unwrap(),
            "labels: {a: b, c: d}\n"
        );
        let text = "a:\nb: 1\n";
        assert_eq!(
            patch(text, json!({"a": {"x": 1}, "b": 1})).unwrap(),
            "a: {x: 1}\nb: 1\n"
        );
    }

    #[test]
    fn refuses_what_it_cannot_do_safely() {
        // Removing the first key of a list item would take the `- ` with it.
        let text = "l:\n- name: a\n  image: b\n";
        assert!(patch(text, json!({"l": [{"image": "b"}]})).is_none());
    }
}
