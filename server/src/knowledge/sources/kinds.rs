//! Resource kinds (built-in and CRDs) → chunks: one per kind, with the kind's description and
//! the names and descriptions of its main spec fields, so that a question phrased in the
//! kind's own words ("managed postgres database") finds it.

use crate::knowledge::{Chunk, Provenance, SourceType};
use crate::schema::catalog::{Catalog, KindInfo, KindSource};
use crate::schema::model::SchemaId;

/// How many spec fields a kind's chunk lists.
pub const MAX_FIELDS: usize = 20;
/// How long a field's description may be in a chunk.
const MAX_FIELD_DESCRIPTION: usize = 200;

/// One chunk per kind of the catalog, in the catalog's order.
pub fn kind_chunks(catalog: &Catalog) -> Vec<Chunk> {
    catalog
        .kinds
        .iter()
        .map(|k| kind_chunk(catalog, k))
        .collect()
}

/// The chunk of one kind: id `kind:<group/version/Kind>` (`kind:v1/Pod` for the core group),
/// title `Kind (group/version)`.
pub fn kind_chunk(catalog: &Catalog, info: &KindInfo) -> Chunk {
    let api = info.api_version();
    let arena = &catalog.arena;
    let root = arena.get(arena.resolve(info.root));
    let mut lines = vec![format!(
        "{} ({api}), {} resource `{}`",
        info.kind,
        if info.namespaced {
            "namespaced"
        } else {
            "cluster-scoped"
        },
        info.plural
    )];
    if let Some(d) = description(catalog, info.root) {
        lines.push(d);
    }
    // The spec's fields, else the top-level ones (ConfigMap, Secret…).
    let (label, fields): (&str, Vec<(&str, SchemaId)>) = match root.property("spec") {
        Some(spec) => (
            "spec",
            arena
                .get(arena.resolve(spec))
                .properties
                .iter()
                .map(|(n, id)| (&**n, *id))
                .collect(),
        ),
        None => (
            "",
            root.properties
                .iter()
                .filter(|(n, _)| !matches!(&**n, "apiVersion" | "kind" | "metadata" | "status"))
                .map(|(n, id)| (&**n, *id))
                .collect(),
        ),
    };
    if !fields.is_empty() {
        lines.push(if label.is_empty() {
            "Fields:".to_string()
        } else {
            format!("Fields of {label}:")
        });
    }
    for (name, id) in fields.into_iter().take(MAX_FIELDS) {
        match description(catalog, id) {
            Some(d) => lines.push(format!("- {name}: {}", shorten(&d, MAX_FIELD_DESCRIPTION))),
            None => lines.push(format!("- {name}")),
        }
    }
    let path = match &info.source {
        KindSource::Crd { path, .. } => Some(path.clone()),
        KindSource::Builtin | KindSource::Cluster { .. } => None,
    };
    Chunk {
        id: format!("kind:{api}/{}", info.kind),
        source_type: SourceType::Kind,
        title: format!("{} ({api})", info.kind),
        text: lines.join("\n"),
        provenance: Provenance {
            path,
            ..Provenance::default()
        },
        kinds: vec![info.kind.clone()],
    }
}

/// A node's description: its own, else the one of the node it refers to; whitespace folded.
fn description(catalog: &Catalog, id: SchemaId) -> Option<String> {
    let arena = &catalog.arena;
    let own = arena.get(id).description.as_deref();
    let d = own.or_else(|| arena.get(arena.resolve(id)).description.as_deref())?;
    let d = d.split_whitespace().collect::<Vec<_>>().join(" ");
    (!d.is_empty()).then_some(d)
}

/// The first sentence(s) of `s` up to about `max` characters.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &s[..cut];
    match head.rfind(". ") {
        Some(i) if i > max / 3 => head[..=i].to_string(),
        _ => match head.rfind(' ') {
            Some(i) => format!("{}…", &head[..i]),
            None => format!("{head}…"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    #[test]
    fn builtin_kinds() {
        let catalog = Catalog::builtin();
        let chunks = kind_chunks(&catalog);
        assert_eq!(chunks.len(), catalog.kinds.len());
        let dep = chunks
            .iter()
            .find(|c| c.id == "kind:apps/v1/Deployment")
            .unwrap();
        assert_eq!(dep.title, "Deployment (apps/v1)");
        assert_eq!(dep.kinds, vec!["Deployment"]);
        assert!(dep.text.contains("Fields of spec:"), "{}", dep.text);
        assert!(dep.text.contains("\n- replicas: "), "{}", dep.text);
        assert_eq!(dep.source_type, SourceType::Kind);
        let pod = chunks.iter().find(|c| c.id == "kind:v1/Pod").unwrap();
        assert_eq!(pod.title, "Pod (v1)");
        assert!(pod.text.lines().filter(|l| l.starts_with("- ")).count() <= MAX_FIELDS);
        let cm = chunks.iter().find(|c| c.id == "kind:v1/ConfigMap").unwrap();
        assert!(cm.text.contains("\n- data: "), "{}", cm.text);
        assert!(!cm.text.contains("- apiVersion"), "{}", cm.text);
    }

    #[test]
    fn crd_kinds_carry_their_description_and_file() {
        let path: PathBuf =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/crds/database-crd.yaml");
        let (catalog, errors) = Catalog::with_crds(std::slice::from_ref(&path));
        assert!(errors.is_empty(), "{errors:?}");
        let info = catalog.kinds.iter().find(|k| k.kind == "Database").unwrap();
        let c = kind_chunk(&catalog, info);
        assert_eq!(
            c.id,
            format!("kind:platform.acme.io/{}/Database", info.version)
        );
        assert!(c.text.contains("managed database"), "{}", c.text);
        assert!(c.text.contains("\n- region"), "{}", c.text);
        assert_eq!(c.provenance.path.as_deref(), Some(path.as_path()));
    }

    #[test]
    fn shortening() {
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(
            shorten("First sentence here. Second one is long.", 30),
            "First sentence here."
        );
        assert_eq!(shorten("aaaa bbbb cccc", 10), "aaaa bbbb…");
    }
}
