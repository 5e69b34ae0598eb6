//! Splitting a YAML stream into its documents at `---` / `...` marker lines.
//!
//! A line that starts with `---` or `...` followed by white space or the end of the line is
//! always a document marker in YAML 1.2 (no content line may start that way, not even inside a
//! block or quoted scalar), so splitting the text on those lines gives exactly the documents
//! of the stream. Each document is then parsed on its own: one broken document never affects
//! another, and an edit only re-parses the documents it touches.

/// The byte range of one document, including its `---` line and the directives before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub start: usize,
    pub end: usize,
    /// Whether the document starts with an explicit `---` marker.
    pub explicit: bool,
}

#[derive(PartialEq)]
enum LineKind {
    Start,
    End,
    Other,
}

fn marker(line: &[u8]) -> LineKind {
    if line.len() >= 3 {
        let kind = match &line[..3] {
            b"---" => LineKind::Start,
            b"..." => LineKind::End,
            _ => return LineKind::Other,
        };
        if line.len() == 3 || matches!(line[3], b' ' | b'\t' | b'\r' | b'\n') {
            return kind;
        }
    }
    LineKind::Other
}

/// Whether a line holds only white space, a comment or a directive (nothing of a document's
/// content).
fn is_prelude(line: &[u8]) -> bool {
    let trimmed = line
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    match trimmed {
        None => true,
        Some(i) => line[i] == b'#' || (i == 0 && line[0] == b'%'),
    }
}

/// Splits `text` into document segments. Segments are contiguous and cover the whole text.
pub fn split_documents(text: &str) -> Vec<Segment> {
    let bytes = text.as_bytes();
    let mut segments = Vec::new();
    let mut start = 0;
    let mut explicit = false;
    // Whether the current segment has content lines (not only comments/directives/blank).
    let mut has_content = false;
    let mut pos = 0;
    while pos < bytes.len() {
        let line_end = memchr_newline(bytes, pos);
        let line = &bytes[pos..line_end];
        match marker(line) {
            LineKind::Start => {
                if has_content || explicit {
                    segments.push(Segment {
                        start,
                        end: pos,
                        explicit,
                    });
                    start = pos;
                }
                explicit = true;
                // Content may follow the marker on the same line (`--- |`, `--- !!map`).
                has_content = false;
            }
            LineKind::End => {
                segments.push(Segment {
                    start,
                    end: line_end,
                    explicit,
                });
                start = line_end;
                explicit = false;
                has_content = false;
            }
            LineKind::Other => {
                if !is_prelude(line) {
                    has_content = true;
                }
            }
        }
        pos = line_end;
    }
    if start < bytes.len() || segments.is_empty() {
        segments.push(Segment {
            start,
            end: bytes.len(),
            explicit,
        });
    }
    segments
}

fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    match memchr::memchr(b'\n', &bytes[from..]) {
        Some(i) => from + i + 1,
        None => bytes.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        split_documents(text)
            .iter()
            .map(|s| &text[s.start..s.end])
            .collect()
    }

    #[test]
    fn splits_on_markers_and_keeps_prelude() {
        let text = "# head\n---\na: 1\n---\nb: 2\n...\n# tail\n";
        assert_eq!(
            texts(text),
            vec!["# head\n---\na: 1\n", "---\nb: 2\n...\n", "# tail\n"]
        );
    }

    #[test]
    fn content_on_the_marker_line_and_lookalikes() {
        let text = "--- |\n  text\n---x: 1\n----\n---\t\n";
        let segs = texts(text);
        assert_eq!(segs, vec!["--- |\n  text\n---x: 1\n----\n", "---\t\n"]);
    }

    #[test]
    fn directives_belong_to_the_next_document() {
        let text = "a: 1\n...\n%YAML 1.2\n---\nb: 2\n";
        assert_eq!(texts(text), vec!["a: 1\n...\n", "%YAML 1.2\n---\nb: 2\n"]);
    }

    #[test]
    fn segments_cover_the_text() {
        for text in ["", "a", "---", "---\n---\n", "a: 1\n---\n\n"] {
            let segs = split_documents(text);
            assert_eq!(segs.first().unwrap().start, 0);
            assert_eq!(segs.last().unwrap().end, text.len());
            for w in segs.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
        }
    }
}
