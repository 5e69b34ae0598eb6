//! YAML layer: documents split at `---`, parsed with tree-sitter-yaml, lowered to spanned
//! values; incremental at the granularity of documents.

pub mod long;
pub mod lower;
pub mod node;
pub mod patch;
pub mod scalar;
pub mod split;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

pub use lower::{LoweredDocument, YamlIssue, YamlIssueKind, lower_document};
pub use node::{Entry, Node, PointerTarget, Span, Value};
pub use split::{Segment, split_documents};

/// One document of a file: where it is and what it lowered to.
#[derive(Debug, Clone)]
pub struct YamlDocument {
    pub start: usize,
    pub end: usize,
    pub explicit: bool,
    /// Hash of the document's bytes: the key of every per-document cache.
    pub hash: u64,
    pub lowered: Arc<LoweredDocument>,
}

impl YamlDocument {
    /// Splits out and lowers the document at `seg` of `text`.
    pub fn new(text: &str, seg: Segment) -> Self {
        let body = &text[seg.start..seg.end];
        YamlDocument {
            start: seg.start,
            end: seg.end,
            explicit: seg.explicit,
            hash: content_hash(body),
            lowered: Arc::new(lower_document(body)),
        }
    }

    /// The document's value, if it has one (a document holding only comments has none).
    pub fn root(&self) -> Option<&Node> {
        self.lowered.root.as_ref()
    }
}

pub fn content_hash(text: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// A whole YAML file as a list of documents.
#[derive(Debug, Clone, Default)]
pub struct YamlFile {
    pub docs: Vec<YamlDocument>,
}

/// Strips a UTF-8 byte-order mark, which YAML allows at the start of a stream.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

impl YamlFile {
    pub fn parse(text: &str) -> Self {
        let docs = split_documents(text)
            .into_iter()
            .map(|seg| YamlDocument::new(text, seg))
            .collect();
        YamlFile { docs }
    }

    /// Updates the documents after the bytes `start..old_end` of the previous text were replaced
    /// by `new_text[start..new_end]`. Documents the edit does not touch are kept as they are
    /// (shifted); only the touched ones are split and lowered again. Returns the indices of the
    /// documents that were lowered again.
    pub fn apply_edit(
        &mut self,
        new_text: &str,
        start: usize,
        old_end: usize,
        new_end: usize,
    ) -> Vec<usize> {
        let delta = new_end as isize - old_end as isize;
        if self.docs.is_empty() {
            *self = YamlFile::parse(new_text);
            return (0..self.docs.len()).collect();
        }
        // The first and last documents the edit touches (touching a boundary touches both sides).
        let mut first = self
            .docs
            .iter()
            .position(|d| d.end >= start)
            .unwrap_or(self.docs.len() - 1);
        // An edit on a document's first line can unmake its `---` marker (or make one), which
        // merges the document into the previous one: that one is touched too.
        if first > 0 {
            let doc_start = self.docs[first].start.min(new_text.len());
            let first_line_end = new_text[doc_start..]
                .find('\n')
                .map_or(new_text.len(), |i| doc_start + i);
            if start <= first_line_end {
                first -= 1;
            }
        }
        let last = self
            .docs
            .iter()
            .rposition(|d| d.start <= old_end)
            .unwrap_or(first)
            .max(first);
        let region_start = self.docs[first].start;
        let region_end = (self.docs[last].end as isize + delta) as usize;
        let region_end = region_end.min(new_text.len()).max(region_start);
        let region = &new_text[region_start..region_end];
        let mut fresh: Vec<YamlDocument> = split_documents(region)
            .into_iter()
            .map(|seg| {
                let seg = Segment {
                    start: seg.start + region_start,
                    end: seg.end + region_start,
                    explicit: seg.explicit,
                };
                YamlDocument::new(new_text, seg)
            })
            .collect();
        // An empty region (everything deleted) leaves no document.
        if region.is_empty() {
            fresh.clear();
        }
        let relowered: Vec<usize> = (first..first + fresh.len()).collect();
        let tail: Vec<YamlDocument> = self.docs.drain(last + 1..).collect();
        self.docs.truncate(first);
        self.docs.extend(fresh);
        for mut d in tail {
            d.start = (d.start as isize + delta) as usize;
            d.end = (d.end as isize + delta) as usize;
            self.docs.push(d);
        }
        if self.docs.is_empty() {
            *self = YamlFile::parse(new_text);
            return (0..self.docs.len()).collect();
        }
        relowered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(file: &YamlFile) -> Vec<Option<serde_json::Value>> {
        file.docs
            .iter()
            .map(|d| d.root().map(Node::to_json))
            .collect()
    }

    #[test]
    fn edits_relower_only_touched_documents() {
        let text = "a: 1\n---\nb: 2\n---\nc: 3\n";
        let mut file = YamlFile::parse(text);
        let before: Vec<_> = file.docs.iter().map(|d| d.lowered.clone()).collect();
        let pos = text.find('2').unwrap();
        let new_text = format!("{}42{}", &text[..pos], &text[pos + 1..]);
        let changed = file.apply_edit(&new_text, pos, pos + 1, pos + 2);
        assert_eq!(changed, vec![1]);
        assert!(Arc::ptr_eq(&before[0], &file.docs[0].lowered));
        assert!(Arc::ptr_eq(&before[2], &file.docs[2].lowered));
        assert_eq!(values(&file), values(&YamlFile::parse(&new_text)));
        assert_eq!(file.docs[2].start, new_text.rfind("---").unwrap());
    }

    #[test]
    fn edits_on_marker_lines_give_what_a_fresh_parse_gives() {
        let base = "a: 1\nb: 2\n---\nc: 3\nd: 4\n---\ne: 5\n";
        // Every single-character deletion, and insertions of `x`, `-`, `\n`, at every offset,
        // each applied to a file parsed from `base`.
        for pos in 0..base.len() {
            let mut cases = vec![(pos, pos + 1, String::new())];
            for ins in ["x", "-", "\n", "---\n"] {
                cases.push((pos, pos, ins.to_string()));
            }
            for (from, to, ins) in cases {
                let new_text = format!("{}{}{}", &base[..from], ins, &base[to..]);
                let mut file = YamlFile::parse(base);
                file.apply_edit(&new_text, from, to, from + ins.len());
                let fresh = YamlFile::parse(&new_text);
                let ranges =
                    |f: &YamlFile| f.docs.iter().map(|d| (d.start, d.end)).collect::<Vec<_>>();
                assert_eq!(
                    (ranges(&file), values(&file)),
                    (ranges(&fresh), values(&fresh)),
                    "edit {from}..{to} -> {ins:?}: {new_text:?}"
                );
            }
        }
    }

    #[test]
    fn edits_that_add_or_remove_markers() {
        let text = "a: 1\n---\nb: 2\n";
        let mut file = YamlFile::parse(text);
        let new_text = "a: 1\n---\nb: 2\n---\nc: 3\n";
        file.apply_edit(new_text, text.len(), text.len(), new_text.len());
        assert_eq!(values(&file), values(&YamlFile::parse(new_text)));
        // Remove the first marker: two documents become one.
        let merged = "a: 1\nb: 2\n---\nc: 3\n";
        file.apply_edit(merged, 5, 9, 5);
        assert_eq!(values(&file), values(&YamlFile::parse(merged)));
        // Delete everything.
        file.apply_edit("", 0, merged.len(), 0);
        assert_eq!(values(&file), values(&YamlFile::parse("")));
    }
}
