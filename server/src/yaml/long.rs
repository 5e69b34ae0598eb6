//! Documents too long for tree-sitter-yaml (more than
//! [`MAX_DOCUMENT_LINES`](crate::analysis::MAX_DOCUMENT_LINES) lines: its scanner counts rows in
//! 16 bits), read as plain values with saphyr instead. Only where positions are not needed: a
//! CustomResourceDefinition file passed with `--crd` (Argo Workflows' are over 42,000 lines) is
//! a schema to load, not a manifest to annotate.
//!
//! The values are the lowering's JSON shape (`tests/yaml_differential.rs` holds the two parsers
//! to the same values on the corpus). Anchors are expanded within saphyr's node budget, so an
//! alias bomb is an error, not an exhausted memory.

use saphyr::{LoadableYamlNode, Scalar, ScanError, Yaml};
use serde_json::{Map, Value as Json};

/// Why a long document could not be read; `line` and `column` are 1-based, within the text
/// given to [`documents`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongDocumentError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for LongDocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {} column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Every document of `text`, as JSON values (empty documents are left out).
pub fn documents(text: &str) -> Result<Vec<Json>, LongDocumentError> {
    let docs = Yaml::load_from_str(text).map_err(|e| scan_error(&e))?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in &docs {
        let value = json(doc).map_err(|message| LongDocumentError {
            line: 1,
            column: 1,
            message,
        })?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

fn scan_error(e: &ScanError) -> LongDocumentError {
    let m = e.marker();
    LongDocumentError {
        line: m.line().max(1),
        column: m.col() + 1,
        message: e.info().to_string(),
    }
}

fn json(y: &Yaml) -> Result<Json, String> {
    Ok(match y {
        Yaml::Value(s) => scalar(s),
        Yaml::Representation(s, _, _) => Json::String(s.to_string()),
        Yaml::Tagged(_, inner) => json(inner)?,
        Yaml::Sequence(items) => Json::Array(items.iter().map(json).collect::<Result<_, _>>()?),
        Yaml::Mapping(m) => {
            let mut map = Map::new();
            for (k, v) in m.iter() {
                let key = match json(k)? {
                    Json::String(s) => s,
                    Json::Null => "null".into(),
                    Json::Bool(b) => b.to_string(),
                    Json::Number(n) => n.to_string(),
                    _ => return Err("a mapping key that is itself a collection".into()),
                };
                if key == "<<" {
                    return Err("merge keys (`<<`) are not supported in documents this long".into());
                }
                map.insert(key, json(v)?);
            }
            Json::Object(map)
        }
        Yaml::Alias(_) | Yaml::BadValue => return Err("an alias to an unknown anchor".into()),
    })
}

fn scalar(s: &Scalar) -> Json {
    match s {
        Scalar::Null => Json::Null,
        Scalar::Boolean(b) => Json::Bool(*b),
        Scalar::Integer(i) => Json::from(*i),
        // As the lowering: a non-finite float has no JSON number.
        Scalar::FloatingPoint(f) => {
            serde_json::Number::from_f64(f.into_inner()).map_or(Json::Null, Json::Number)
        }
        Scalar::String(s) => Json::String(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_take_the_lowering_shape() {
        let docs =
            documents("a: 1\nb: [true, null, 2.5, x]\nc:\n  d: |\n    text\n---\n---\n5: five\n")
                .unwrap();
        assert_eq!(
            docs,
            vec![
                json!({"a": 1, "b": [true, null, 2.5, "x"], "c": {"d": "text\n"}}),
                json!({"5": "five"}),
            ]
        );
    }

    #[test]
    fn errors_say_where() {
        let e = documents("a: 1\nb: [unclosed\n").unwrap_err();
        assert!(e.line >= 2, "{e}");
        let e = documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!(
            (e.line, e.message.contains("duplicated key")),
            (2, true),
            "{e}"
        );
        let e = documents("base: &b {x: 1}\nmerged:\n  <<: *b\n").unwrap_err();
        assert!(e.message.contains("merge keys"), "{e}");
    }

    #[test]
    fn an_alias_bomb_is_an_error() {
        let mut text = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
            ));
        }
        let e = documents(&text).unwrap_err();
        assert!(e.message.contains("alias"), "{e}");
    }
}
