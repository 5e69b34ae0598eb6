//! Markdown and plain-text documents → chunks.
//!
//! Markdown is split at headings (ATX `#` … `######` and setext `===`/`---`, outside fenced
//! code); each section is titled by its heading path (`Databases › Regions`). A section
//! longer than [`MAX_CHUNK_CHARS`] is split between blocks (paragraphs, list items, fences),
//! never inside a fenced code block or a list item (indented continuation lines stay with
//! their item). Plain text is split into paragraphs packed the same way. Provenance is the
//! file and the 1-based line range; ids are `doc:<relative path>:<first>-<last>`.

use std::path::Path;

use crate::knowledge::{Chunk, Provenance, SourceType};

/// The size a chunk aims to stay under (a single block larger than this is kept whole).
pub const MAX_CHUNK_CHARS: usize = 1200;

/// Separator of a heading path in titles.
pub const TITLE_SEPARATOR: &str = " › ";

/// A run of lines that is never split: a paragraph, a list item with its continuation lines,
/// a fenced code block. Lines are 0-based and inclusive.
#[derive(Debug, Clone, Copy)]
struct Block {
    first: usize,
    last: usize,
}

/// The chunks of a Markdown document. `rel` is its path relative to the source root (for ids).
pub fn markdown_chunks(text: &str, path: &Path, rel: &str) -> Vec<Chunk> {
    let lines: Vec<&str> = text.lines().collect();
    let stem = file_title(path, rel);
    let mut out = Vec::new();
    let start = front_matter_end(&lines);
    // Headings outside fenced code.
    // (line, level, text, first body line)
    let mut headings: Vec<(usize, usize, String, usize)> = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for (i, line) in lines.iter().enumerate().skip(start) {
        if let Some(f) = fence_marker(line) {
            match fence {
                None => fence = Some(f),
                Some((c, n)) if f.0 == c && f.1 >= n && is_fence_close(line) => fence = None,
                Some(_) => {}
            }
            continue;
        }
        if fence.is_some() {
            continue;
        }
        if let Some((level, title)) = atx_heading(line) {
            headings.push((i, level, title, i + 1));
        } else if let Some(level) = setext_level(line)
            && i > start
            && setext_text(&lines, start, i - 1)
            && headings.last().is_none_or(|h| h.0 != i - 1)
        {
            headings.push((i - 1, level, lines[i - 1].trim().to_string(), i + 1));
        }
    }
    // The part before the first heading.
    let first_heading = headings.first().map_or(lines.len(), |h| h.0);
    emit_section(
        &lines,
        None,
        start,
        first_heading,
        &stem,
        path,
        rel,
        &mut out,
    );
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (n, (line, level, title, body)) in headings.iter().enumerate() {
        while stack.last().is_some_and(|(l, _)| l >= level) {
            stack.pop();
        }
        stack.push((*level, title.clone()));
        let full: Vec<&str> = stack.iter().map(|(_, t)| t.as_str()).collect();
        let end = headings.get(n + 1).map_or(lines.len(), |h| h.0);
        emit_section(
            &lines,
            Some(*line),
            *body,
            end,
            &full.join(TITLE_SEPARATOR),
            path,
            rel,
            &mut out,
        );
    }
    out
}

/// The chunks of a plain-text document: paragraphs, packed up to [`MAX_CHUNK_CHARS`].
pub fn text_chunks(text: &str, path: &Path, rel: &str) -> Vec<Chunk> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let title = file_title(path, rel);
    emit_section(&lines, None, 0, lines.len(), &title, path, rel, &mut out);
    out
}

fn file_title(path: &Path, rel: &str) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| rel.to_string())
}

/// Chunks of one section: its heading line (if any) and its body lines `start..end`.
#[allow(clippy::too_many_arguments)]
fn emit_section(
    lines: &[&str],
    heading: Option<usize>,
    start: usize,
    end: usize,
    title: &str,
    path: &Path,
    rel: &str,
    out: &mut Vec<Chunk>,
) {
    let blocks = blocks(lines, start, end);
    if blocks.is_empty() {
        return;
    }
    let size = |a: usize, b: usize| -> usize { lines[a..=b].iter().map(|l| l.len() + 1).sum() };
    let mut group_first = heading.unwrap_or(blocks[0].first);
    let mut group_last: Option<usize> = None;
    for b in &blocks {
        if let Some(last) = group_last
            && size(group_first, b.last) > MAX_CHUNK_CHARS
        {
            out.push(chunk(lines, group_first, last, title, path, rel));
            group_first = b.first;
        }
        group_last = Some(b.last);
    }
    if let Some(last) = group_last {
        out.push(chunk(lines, group_first, last, title, path, rel));
    }
}

fn chunk(lines: &[&str], first: usize, last: usize, title: &str, path: &Path, rel: &str) -> Chunk {
    let text = lines[first..=last].join("\n");
    let (a, b) = (first as u32 + 1, last as u32 + 1);
    Chunk {
        id: format!("doc:{rel}:{a}-{b}"),
        source_type: SourceType::Doc,
        title: title.to_string(),
        kinds: super::kinds_in_text(&text),
        text,
        provenance: Provenance {
            path: Some(path.to_path_buf()),
            lines: Some((a, b)),
            ..Provenance::default()
        },
    }
}

/// The unsplittable blocks of lines `start..end`.
fn blocks(lines: &[&str], start: usize, end: usize) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut current: Option<Block> = None;
    let mut fence: Option<(char, usize)> = None;
    let mut after_blank = false;
    for (i, line) in lines.iter().enumerate().take(end).skip(start) {
        let blank = line.trim().is_empty();
        if fence.is_some() {
            if let Some(f) = fence_marker(line)
                && let Some((c, n)) = fence
                && f.0 == c
                && f.1 >= n
                && is_fence_close(line)
            {
                fence = None;
            }
            if let Some(b) = current.as_mut() {
                b.last = i;
            }
            continue;
        }
        if blank {
            after_blank = true;
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        // A blank line followed by an unindented line, or a list item, starts a new block;
        // indented lines continue the current one (a list item's continuation).
        let starts = current.is_none() || (after_blank && !indented) || is_list_item(line);
        if starts {
            if let Some(b) = current.take() {
                out.push(b);
            }
            current = Some(Block { first: i, last: i });
        } else if let Some(b) = current.as_mut() {
            b.last = i;
        }
        after_blank = false;
        if let Some(f) = fence_marker(line) {
            fence = Some(f);
        }
    }
    if let Some(b) = current {
        out.push(b);
    }
    out
}

/// `- x`, `* x`, `+ x`, `1. x`, `1) x` at the start of a line (not indented).
fn is_list_item(line: &str) -> bool {
    let b = line.as_bytes();
    if b.len() >= 2 && matches!(b[0], b'-' | b'*' | b'+') && b[1] == b' ' {
        return true;
    }
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    digits > 0
        && digits < 10
        && b.len() > digits + 1
        && matches!(b[digits], b'.' | b')')
        && b[digits + 1] == b' '
}

/// An opening or closing code fence: its character and length.
fn fence_marker(line: &str) -> Option<(char, usize)> {
    let t = line.trim_start_matches(' ');
    if line.len() - t.len() > 3 {
        return None;
    }
    let c = t.chars().next()?;
    if c != '`' && c != '~' {
        return None;
    }
    let n = t.chars().take_while(|&x| x == c).count();
    (n >= 3).then_some((c, n))
}

/// A closing fence has nothing after its marker.
fn is_fence_close(line: &str) -> bool {
    let t = line.trim();
    t.chars().all(|c| c == '`') || t.chars().all(|c| c == '~')
}

/// An ATX heading: its level and text (without the closing `#`s).
fn atx_heading(line: &str) -> Option<(usize, String)> {
    let t = line.trim_start_matches(' ');
    if line.len() - t.len() > 3 {
        return None;
    }
    let level = t.chars().take_while(|&c| c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &t[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut text = rest.trim();
    let stripped = text.trim_end_matches('#');
    if stripped.is_empty() || stripped.ends_with([' ', '\t']) {
        text = stripped.trim_end();
    }
    Some((level, text.to_string()))
}

/// `===` (level 1) or `---` (level 2) under a paragraph line: a setext heading underline.
fn setext_level(line: &str) -> Option<usize> {
    let t = line.trim_end();
    let indent = t.len() - t.trim_start_matches(' ').len();
    let t = t.trim_start_matches(' ');
    if indent > 3 || t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b == b'=') {
        Some(1)
    } else if t.bytes().all(|b| b == b'-') {
        Some(2)
    } else {
        None
    }
}

/// Whether line `i` can be the text of a setext heading: a one-line paragraph that is not a
/// list item, a fence, a quote or an ATX heading.
fn setext_text(lines: &[&str], start: usize, i: usize) -> bool {
    let l = lines[i];
    !l.trim().is_empty()
        && !l.starts_with("    ")
        && !is_list_item(l)
        && fence_marker(l).is_none()
        && atx_heading(l).is_none()
        && !l.trim_start().starts_with('>')
        && (i == start || lines[i - 1].trim().is_empty())
}

/// The first line after a YAML front matter block (`---` … `---` at the very start), or 0.
fn front_matter_end(lines: &[&str]) -> usize {
    if lines.first().map(|l| l.trim_end()) != Some("---") {
        return 0;
    }
    for (i, l) in lines.iter().enumerate().skip(1) {
        let t = l.trim_end();
        if t == "---" || t == "..." {
            return i + 1;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids_titles(chunks: &[Chunk]) -> Vec<(String, String)> {
        chunks
            .iter()
            .map(|c| (c.id.clone(), c.title.clone()))
            .collect()
    }

    const DOC: &str = "\
Intro line.

# Databases

Databases are managed by the platform team.

## Regions

Databases run only in us-east-1.

```yaml
# not a heading
region: us-east-1
```

## Backups ##
Nightly.
# Services
### Labels
- every service has an `owner`
";

    #[test]
    fn sections_by_heading_path() {
        let chunks = markdown_chunks(DOC, Path::new("/k/wiki/db.md"), "wiki/db.md");
        let got = ids_titles(&chunks);
        let want = [
            ("doc:wiki/db.md:1-1", "db"),
            ("doc:wiki/db.md:3-5", "Databases"),
            ("doc:wiki/db.md:7-14", "Databases › Regions"),
            ("doc:wiki/db.md:16-17", "Databases › Backups"),
            ("doc:wiki/db.md:19-20", "Services › Labels"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
        assert!(chunks[2].text.starts_with("## Regions\n"));
        assert!(chunks[2].text.ends_with("```"));
        assert_eq!(chunks[2].provenance.lines, Some((7, 14)));
        assert_eq!(
            chunks[2].provenance.path.as_deref(),
            Some(Path::new("/k/wiki/db.md"))
        );
        assert_eq!(chunks[4].kinds, Vec::<String>::new());
        assert_eq!(chunks[2].source_type, SourceType::Doc);
    }

    #[test]
    fn long_sections_split_between_blocks_only() {
        let para = "word ".repeat(100); // 500 chars
        let code = format!("```\n{}\n\n{}\n```", "x".repeat(700), "y".repeat(700));
        let item = format!(
            "- item {}\n\n  continued {}",
            "a".repeat(600),
            "b".repeat(600)
        );
        let doc = format!("# Long\n\n{para}\n\n{para}\n\n{code}\n\n{item}\n\n- short\n");
        let lines: Vec<&str> = doc.lines().collect();
        let chunks = markdown_chunks(&doc, Path::new("l.md"), "l.md");
        let ranges: Vec<(u32, u32)> = chunks.iter().map(|c| c.provenance.lines.unwrap()).collect();
        // Heading + two paragraphs (≈1,010 chars); the fence (lines 7-11) whole; the list
        // item with its continuation (13-15) whole; the short item.
        assert_eq!(ranges, vec![(1, 5), (7, 11), (13, 15), (17, 17)]);
        assert!(chunks.iter().all(|c| c.title == "Long"));
        assert_eq!(chunks[1].text, lines[6..11].join("\n"));
        assert_eq!(chunks[0].id, "doc:l.md:1-5");
    }

    #[test]
    fn plain_text_paragraphs() {
        let p = "sentence. ".repeat(50); // 500 chars
        let doc = format!("{p}\n\n{p}\nsame paragraph\n\n\n{p}\n");
        let chunks = text_chunks(&doc, Path::new("notes/a.txt"), "notes/a.txt");
        let ids: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, vec!["doc:notes/a.txt:1-4", "doc:notes/a.txt:7-7"]);
        assert_eq!(chunks[0].title, "a");
    }

    #[test]
    fn headings_and_front_matter() {
        assert_eq!(atx_heading("## Regions ##"), Some((2, "Regions".into())));
        assert_eq!(atx_heading("#hashtag"), None);
        assert_eq!(atx_heading("    # code"), None);
        assert_eq!(atx_heading("# C#"), Some((1, "C#".into())));
        let doc = "---\ntitle: x\n---\n# A\ntext\n";
        let chunks = markdown_chunks(doc, Path::new("f.md"), "f.md");
        assert_eq!(
            ids_titles(&chunks),
            vec![("doc:f.md:4-5".into(), "A".into())]
        );
        assert!(markdown_chunks("", Path::new("e.md"), "e.md").is_empty());
        let setext = "Title\n=====\n\nintro\n\nPart two\n--------\ntext\n\n- item\n---\n";
        let chunks = markdown_chunks(setext, Path::new("s.md"), "s.md");
        assert_eq!(
            ids_titles(&chunks),
            vec![
                ("doc:s.md:1-4".into(), "Title".into()),
                ("doc:s.md:6-11".into(), "Title › Part two".into()),
            ]
        );
        assert!(markdown_chunks("# Only a heading\n", Path::new("e.md"), "e.md").is_empty());
    }
}
