//! The knowledge layer: the rules people wrote down (wiki pages, Slack threads, meeting
//! transcripts), the policies and the resource kinds, as chunks with provenance, indexed for
//! lookup (BM25 and vectors) by every face.

pub mod advisor;
pub mod build;
pub mod embed;
pub mod index;
pub mod query;
pub mod sources;
pub mod vectors;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where a chunk comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceType {
    /// A Kyverno/CEL policy or a ValidatingAdmissionPolicy.
    Policy,
    /// A Markdown or plain-text document (wiki export).
    Doc,
    /// A Slack thread.
    Slack,
    /// A passage of a meeting transcript (WebVTT, SRT).
    Transcript,
    /// A resource kind (built-in or CRD).
    Kind,
}

impl SourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::Policy => "policy",
            SourceType::Doc => "doc",
            SourceType::Slack => "slack",
            SourceType::Transcript => "transcript",
            SourceType::Kind => "kind",
        }
    }

    pub fn parse(s: &str) -> Option<SourceType> {
        Some(match s {
            "policy" => SourceType::Policy,
            "doc" => SourceType::Doc,
            "slack" => SourceType::Slack,
            "transcript" => SourceType::Transcript,
            "kind" => SourceType::Kind,
            _ => return None,
        })
    }
}

/// Where exactly a chunk's text is, as precisely as its source allows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The file (documents, transcripts, policies, CRDs) or the export folder (Slack).
    pub path: Option<PathBuf>,
    /// First and last line (1-based) in `path`.
    pub lines: Option<(u32, u32)>,
    /// Slack channel (without `#`).
    pub channel: Option<String>,
    /// Author (Slack: the thread's first poster, by display name) or speaker (transcripts).
    pub author: Option<String>,
    /// When: RFC 3339 date-time (Slack) or offset into the recording `HH:MM:SS` (transcripts).
    pub time: Option<String>,
    /// Slack thread timestamp (`ts` of the parent message).
    pub thread: Option<String>,
}

/// One searchable piece of knowledge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Stable across re-indexing: the source type and the place, e.g.
    /// `policy:require-run-as-nonroot`, `doc:wiki/databases.md:12-30`,
    /// `slack:platform:1712345678.000100`, `transcript:meetings/2026-10-02.vtt:00:12:31`,
    /// `kind:apps/v1/Deployment`. Policies are named by `metadata.name` (with `/<rule>` for a
    /// rule's own chunk).
    pub id: String,
    pub source_type: SourceType,
    /// A short title (the heading, the policy title, the channel and date, the kind).
    pub title: String,
    /// The text that is indexed and shown.
    pub text: String,
    pub provenance: Provenance,
    /// Kubernetes kinds the chunk concerns (policy match kinds, the kind itself, kinds named
    /// in the text), for filtering by kind.
    pub kinds: Vec<String>,
}

/// How much of a kind's description its embedding sees (characters).
const KIND_DESCRIPTION_EMBEDDED: usize = 400;

impl Chunk {
    /// The text embedded for this chunk (title and text). A kind's is its summary: the kind
    /// line, the start of its description and its field names (the full text, with each
    /// field's description, is for words and display; embedding it costs 2-3 times as long,
    /// which counts for a cluster with a thousand CRDs).
    pub fn embedding_text(&self) -> String {
        if self.source_type != SourceType::Kind {
            return format!("{}\n{}", self.title, self.text);
        }
        let mut head = Vec::new();
        let mut fields = Vec::new();
        for line in self.text.lines() {
            if let Some(field) = line.strip_prefix("- ") {
                fields.push(field.split(':').next().unwrap_or(field).trim());
            } else if !line.starts_with("Fields") && head.len() < 2 {
                head.push(line);
            }
        }
        let mut out = self.title.clone();
        for line in head {
            out.push('\n');
            out.extend(line.chars().take(KIND_DESCRIPTION_EMBEDDED));
        }
        if !fields.is_empty() {
            out.push_str("\nFields: ");
            out.push_str(&fields.join(", "));
        }
        out
    }
}

/// Keeps the first chunk of each id: a policy found in two places (the bundled pack and a
/// folder, or a library's `-cel` copy of a classic policy) is indexed, and ranked, once.
pub fn unique_by_id(chunks: &mut Vec<Chunk>) {
    let mut seen = std::collections::HashSet::new();
    chunks.retain(|c| seen.insert(c.id.clone()));
}
