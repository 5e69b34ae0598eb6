//! What every analysis returns: findings with ranges, plain data that each face converts.

use std::path::PathBuf;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Hint,
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Hint => "hint",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A replacement of the bytes `range` of the file by `new_text`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TextEdit {
    pub range: std::ops::Range<usize>,
    pub new_text: String,
}

/// A fix for a finding: edits to apply together.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<TextEdit>,
    /// Whether this is the obvious fix (a single suggestion), safe to apply without choosing.
    pub preferred: bool,
}

/// Another place a finding refers to (the first of two duplicate keys, the CRD a schema came
/// from).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Related {
    pub message: String,
    /// The file; None means the file of the finding.
    pub path: Option<PathBuf>,
    /// Byte range in that file; None when only the file is known.
    pub range: Option<std::ops::Range<usize>>,
    /// 1-based line in that file, when the place is known by line (knowledge sources).
    pub line: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Byte range in the file.
    pub range: std::ops::Range<usize>,
    pub message: String,
    /// The tool that speaks: `usher` for YAML and schema findings.
    pub source: &'static str,
    /// A stable code, `<layer>/<what>`.
    pub code: std::borrow::Cow<'static, str>,
    /// JSON pointer of the value concerned in its document, when there is one.
    pub pointer: Option<String>,
    pub related: Vec<Related>,
    pub fixes: Vec<Fix>,
}
