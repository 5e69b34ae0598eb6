//! Rendering findings: compiler-style text, JSON, SARIF 2.1.0.

use serde_json::{Value as Json, json};

use crate::finding::{Finding, Severity};
use crate::text::{LineCol, LineIndex, PositionEncoding};

/// A finding with its 1-based line and column (columns count Unicode characters).
pub struct Located {
    pub finding: Finding,
    pub start: LineCol,
    pub end: LineCol,
}

pub struct FileReport {
    pub path: String,
    pub findings: Vec<Located>,
    pub resources: usize,
}

impl FileReport {
    pub fn new(path: String, findings: Vec<Finding>, resources: usize, text: &str) -> Self {
        let index = LineIndex::new(text);
        let findings = findings
            .into_iter()
            .map(|f| {
                let start = index.line_col(text, f.range.start, PositionEncoding::Utf32);
                let end = index.line_col(text, f.range.end, PositionEncoding::Utf32);
                Located {
                    finding: f,
                    start,
                    end,
                }
            })
            .collect();
        FileReport {
            path,
            findings,
            resources,
        }
    }
}

impl std::ops::Deref for Located {
    type Target = Finding;
    fn deref(&self) -> &Finding {
        &self.finding
    }
}

/// One line per finding; with `explain`, its related places (the policy, written rules, their
/// files and lines) follow as indented notes.
pub fn render_text(reports: &[FileReport], explain: bool) -> String {
    let mut out = String::new();
    for r in reports {
        for f in &r.findings {
            out.push_str(&format!(
                "{}:{}:{}: {}: {} [{}]\n",
                r.path,
                f.start.line + 1,
                f.start.col + 1,
                f.severity.as_str(),
                f.message,
                f.code
            ));
            if explain {
                for rel in &f.related {
                    let place = match (&rel.path, rel.line) {
                        (Some(p), Some(l)) => format!("{}:{l}", p.display()),
                        (Some(p), None) if !crate::policy::is_virtual_path(p) => {
                            p.display().to_string()
                        }
                        _ => String::new(),
                    };
                    // The message may name the place already (a knowledge source's origin).
                    let named = rel
                        .path
                        .as_ref()
                        .is_some_and(|p| rel.message.contains(&p.display().to_string()));
                    let place = if place.is_empty() || named {
                        String::new()
                    } else {
                        format!(" ({place})")
                    };
                    out.push_str(&format!("    note: {}{place}\n", rel.message));
                }
            }
        }
    }
    out
}

fn position(p: LineCol) -> Json {
    json!({"line": p.line + 1, "column": p.col + 1})
}

pub fn render_json(reports: &[FileReport]) -> String {
    let files: Vec<Json> = reports
        .iter()
        .map(|r| {
            let findings: Vec<Json> = r
                .findings
                .iter()
                .map(|f| {
                    json!({
                        "severity": f.severity,
                        "code": f.code,
                        "source": f.source,
                        "message": f.message,
                        "start": position(f.start),
                        "end": position(f.end),
                        "byteRange": [f.range.start, f.range.end],
                        "pointer": f.pointer,
                        "related": f.related,
                        "fixes": f.fixes,
                    })
                })
                .collect();
            json!({"path": r.path, "resources": r.resources, "findings": findings})
        })
        .collect();
    let count = |s: Severity| {
        reports
            .iter()
            .flat_map(|r| &r.findings)
            .filter(|f| f.severity == s)
            .count()
    };
    let doc = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "summary": {"files": reports.len(), "errors": count(Severity::Error), "warnings": count(Severity::Warning)},
        "files": files,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

pub fn render_sarif(reports: &[FileReport]) -> String {
    let mut rule_ids: Vec<&str> = reports
        .iter()
        .flat_map(|r| &r.findings)
        .map(|f| f.code.as_ref())
        .collect();
    rule_ids.sort();
    rule_ids.dedup();
    let rules: Vec<Json> = rule_ids
        .iter()
        .map(|id| json!({"id": id, "shortDescription": {"text": rule_description(id)}}))
        .collect();
    let results: Vec<Json> = reports
        .iter()
        .flat_map(|r| r.findings.iter().map(move |f| (r, f)))
        .map(|(r, f)| {
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info | Severity::Hint => "note",
            };
            json!({
                "ruleId": f.code,
                "ruleIndex": rule_ids.iter().position(|id| *id == f.code),
                "level": level,
                "message": {"text": f.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri_of(&r.path)},
                        "region": {
                            "startLine": f.start.line + 1,
                            "startColumn": f.start.col + 1,
                            "endLine": f.end.line + 1,
                            "endColumn": f.end.col + 1,
                        }
                    }
                }],
                "properties": {"pointer": f.pointer},
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "usher",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

fn uri_of(path: &str) -> String {
    let p = path.strip_prefix("./").unwrap_or(path);
    p.replace('\\', "/").replace(' ', "%20")
}

/// One line per code, for SARIF rule metadata.
pub fn rule_description(code: &str) -> &'static str {
    match code {
        "yaml/syntax" => "The YAML could not be parsed",
        "yaml/tab-indentation" => "Tabs used for indentation",
        "yaml/duplicate-key" => "A mapping key appears twice",
        "yaml/unknown-alias" => "An alias names no anchor",
        "yaml/alias-budget" => "Aliases expand beyond the budget (alias bomb)",
        "yaml/too-deep" => "Nesting too deep to analyse",
        "yaml/invalid-tagged-value" => "A value does not fit its tag",
        "yaml/invalid-merge" => "A << merge key with a value that is not a mapping",
        "yaml/invalid-escape" => "An invalid escape in a double-quoted string",
        "yaml/collection-key" => {
            "A mapping key that is a mapping or list (often an unquoted {{template}})"
        }
        "yaml/document-too-large" => "A document too large to analyse",
        "yaml/document-too-long" => "A document with more lines than the parser handles",
        "file/binary" => "A binary file",
        "file/invalid-utf8" => "A file that is not UTF-8",
        "file/too-large" => "A file over the size limit",
        "file/unreadable" => "A file that cannot be read",
        "schema/unknown-field" => "A field the schema does not define",
        "schema/required" => "A required field is missing",
        "schema/type" => "A value of the wrong type",
        "schema/enum" => "A value that is not one of the allowed values",
        "schema/format" => "A value that does not match its format",
        "schema/pattern" => "A value that does not match its pattern",
        "schema/minimum" | "schema/maximum" => "A number out of range",
        "schema/min-length" | "schema/max-length" => "A string of the wrong length",
        "schema/min-items" | "schema/max-items" => "A list with too few or too many items",
        "schema/duplicate-item" => "Duplicate items in a set or map list",
        "schema/null" => "A null value where none is allowed",
        "schema/unknown-kind" => "A kind that does not exist in its API group",
        "schema/unknown-api-version" => "An apiVersion that does not serve the kind",
        "schema/missing-schema" => "A custom resource without a known CRD",
        "schema/validation-rule" => {
            "A CustomResourceDefinition validation rule (x-kubernetes-validations) fails"
        }
        "schema/validation-rule-compile" => "A CRD validation rule that does not compile",
        "schema/removed-api" => "An API version removed from Kubernetes",
        "schema/deprecated-api" => "A deprecated API version",
        "schema/missing-kind" | "schema/missing-api-version" => {
            "A resource without apiVersion or kind"
        }
        _ => "usher finding",
    }
}
