//! Where the cursor is in a block-style YAML document, read from the text line by line so that
//! it works while the cursor's line (or any other) is not valid YAML yet.

/// One step of a path from the document's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    /// Some item of a sequence.
    Item,
}

/// The structure of one line: sequence dashes, a `key:` and whether a value follows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineShape {
    /// Column of the first character that is not a space.
    pub indent: usize,
    /// Columns of the `- ` indicators at the start of the line.
    pub dashes: Vec<usize>,
    /// The key and its column.
    pub key: Option<(usize, String)>,
    /// Byte range in the line of the value after `key:` (without a trailing comment).
    pub value: Option<(usize, usize)>,
    /// Blank or comment-only line.
    pub blank: bool,
    /// A `---` or `...` line.
    pub marker: bool,
}

/// Reads the shape of a line (without its line break).
pub fn shape(line: &str) -> LineShape {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut s = LineShape::default();
    if line.starts_with("---") || line.starts_with("...") {
        let rest = &line[3..];
        if rest.is_empty() || rest.starts_with([' ', '\t']) {
            s.marker = true;
            return s;
        }
    }
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i] == b' ' {
        i += 1;
    }
    s.indent = i;
    loop {
        if i < bytes.len() && bytes[i] == b'-' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
            s.dashes.push(i);
            i += 1;
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
        } else {
            break;
        }
    }
    let rest = &line[i..];
    if rest.is_empty() || rest.starts_with('#') {
        s.blank = s.dashes.is_empty();
        return s;
    }
    if let Some((key, after)) = key_at(rest) {
        s.key = Some((i, key));
        let value_start = i + after;
        let v = &line[value_start..];
        let trimmed_start = value_start + (v.len() - v.trim_start().len());
        let v = &line[trimmed_start..];
        let end = comment_start(v).unwrap_or(v.len());
        let v_end = trimmed_start + v[..end].trim_end().len();
        if v_end > trimmed_start {
            s.value = Some((trimmed_start, v_end));
        }
    }
    s
}

/// The key at the start of `rest` and the byte offset just after its `:`.
fn key_at(rest: &str) -> Option<(String, usize)> {
    let first = rest.chars().next()?;
    if first == '"' || first == '\'' {
        let close = rest[1..].find(first)? + 1;
        let after = &rest[close + 1..];
        let after = after.trim_start_matches(' ');
        let colon = rest.len() - after.len();
        if after.starts_with(':') && (after.len() == 1 || after[1..].starts_with([' ', '\t'])) {
            return Some((rest[1..close].to_string(), colon + 1));
        }
        return None;
    }
    if matches!(
        first,
        '{' | '[' | '|' | '>' | '&' | '*' | '!' | '%' | '@' | '`'
    ) {
        return None;
    }
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b':' if i + 1 == bytes.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\t' => {
                let key = rest[..i].trim_end();
                if key.is_empty() {
                    return None;
                }
                return Some((key.to_string(), i + 1));
            }
            b'#' if i > 0 && bytes[i - 1] == b' ' => return None,
            _ => i += 1,
        }
    }
    None
}

/// Where a comment starts in a plain value (` #`), if any.
fn comment_start(v: &str) -> Option<usize> {
    if v.starts_with('#') {
        return Some(0);
    }
    if v.starts_with(['"', '\'']) {
        let q = v.chars().next()?;
        let close = v[1..].find(q).map(|c| c + 2)?;
        return v[close..].find(" #").map(|c| c + close);
    }
    v.find(" #")
}

/// Enters the sequence items whose dashes stand before column `below` on a line: one
/// `Item` step each, and the search goes on for the key holding the outermost one.
fn enter_items(
    dashes: &[usize],
    below: usize,
    rev: &mut Vec<Seg>,
    t: &mut usize,
    want_seq: &mut bool,
) {
    let mut first = None;
    for &d in dashes.iter().filter(|&&d| d < below) {
        first.get_or_insert(d);
        rev.push(Seg::Item);
    }
    if let Some(d) = first {
        *t = d;
        *want_seq = true;
    }
}

/// The path of the mapping whose keys sit at column `col` on line `line` of `lines`, where
/// `dashes` are the sequence indicators before that column on that line (a key after `- `
/// starts a new item). Lines above `line` are read upwards by indentation.
pub fn mapping_path(lines: &[&str], line: usize, col: usize, dashes: &[usize]) -> Vec<Seg> {
    let mut rev: Vec<Seg> = Vec::new();
    let mut t = col;
    let mut want_seq = false;
    enter_items(dashes, col, &mut rev, &mut t, &mut want_seq);
    for i in (0..line.min(lines.len())).rev() {
        let s = shape(lines[i]);
        if s.marker {
            break;
        }
        if s.blank {
            continue;
        }
        if t == 0 && !want_seq {
            break;
        }
        if !want_seq {
            match &s.key {
                Some((kc, _)) if *kc == t => {
                    // A sibling; if it opens a sequence item, the mapping is that item.
                    enter_items(&s.dashes, t, &mut rev, &mut t, &mut want_seq);
                }
                Some((kc, k)) if *kc < t && s.indent < t => {
                    rev.push(Seg::Key(k.clone()));
                    t = *kc;
                    enter_items(&s.dashes, *kc, &mut rev, &mut t, &mut want_seq);
                }
                None if s.indent < t && !s.dashes.is_empty() => {
                    // `-` alone (the item's mapping starts on the next line).
                    enter_items(&s.dashes, t, &mut rev, &mut t, &mut want_seq);
                }
                _ => {}
            }
        } else {
            // Looking for the key that holds the sequence whose dashes are at column t.
            if s.indent > t || (s.indent == t && !s.dashes.is_empty()) {
                continue;
            }
            if let Some((kc, k)) = &s.key
                && *kc <= t
            {
                rev.push(Seg::Key(k.clone()));
                t = *kc;
                want_seq = false;
                enter_items(&s.dashes, *kc, &mut rev, &mut t, &mut want_seq);
            } else if !s.dashes.is_empty() && s.indent < t {
                // A sequence nested in a sequence (`- - a`).
                t = s.indent;
            }
        }
    }
    rev.reverse();
    rev
}

/// Keys already present in the mapping at column `col` around line `line` (the line itself
/// excluded).
pub fn sibling_keys(lines: &[&str], line: usize, col: usize, starts_item: bool) -> Vec<String> {
    let mut keys = Vec::new();
    if !starts_item {
        for i in (0..line.min(lines.len())).rev() {
            let s = shape(lines[i]);
            if s.marker {
                break;
            }
            if s.blank {
                continue;
            }
            match &s.key {
                Some((kc, k)) if *kc == col => {
                    keys.push(k.clone());
                    if s.dashes.iter().any(|&d| d < col) {
                        break;
                    }
                }
                _ if s.indent < col => break,
                _ => {}
            }
        }
    }
    for l in lines.iter().skip(line + 1) {
        let s = shape(l);
        if s.marker {
            break;
        }
        if s.blank {
            continue;
        }
        if s.indent < col {
            break;
        }
        if let Some((kc, k)) = &s.key
            && *kc == col
            && s.indent == col
        {
            keys.push(k.clone());
        }
    }
    keys
}

/// A top-level `key: value` of the document, read from the text (works in broken documents).
pub fn top_level_value<'a>(lines: &[&'a str], key: &str) -> Option<(usize, &'a str, usize)> {
    for (i, l) in lines.iter().enumerate() {
        let s = shape(l);
        if s.marker && i > 0 {
            break;
        }
        if s.indent != 0 || !s.dashes.is_empty() {
            continue;
        }
        if let Some((0, k)) = &s.key
            && k == key
        {
            let (a, b) = s.value?;
            let v = l[a..b].trim_matches(['"', '\'']);
            return Some((i, v, a));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_at(text: &str) -> Vec<Seg> {
        // The cursor is at `|`.
        let cursor = text.find('|').unwrap();
        let text = text.replace('|', "");
        let lines: Vec<&str> = text.split('\n').collect();
        let line = text[..cursor].matches('\n').count();
        let line_start = text[..cursor].rfind('\n').map_or(0, |p| p + 1);
        let s = shape(lines[line]);
        let pre = &text[line_start..cursor];
        let col = pre.rfind([' ', '-']).map_or(0, |p| p + 1);
        mapping_path(&lines, line, col, &s.dashes)
    }

    fn keys(p: &[&str]) -> Vec<Seg> {
        p.iter()
            .map(|k| {
                if *k == "[]" {
                    Seg::Item
                } else {
                    Seg::Key(k.to_string())
                }
            })
            .collect()
    }

    #[test]
    fn paths_of_half_typed_lines() {
        let doc = "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        ima|\n";
        assert_eq!(
            path_at(doc),
            keys(&["spec", "template", "spec", "containers", "[]"])
        );
        let doc = "spec:\n  containers:\n    - name: a\n      image: x\n    - |\n";
        assert_eq!(path_at(doc), keys(&["spec", "containers", "[]"]));
        let doc = "spec:\n  replicas: 1\n  sel|";
        assert_eq!(path_at(doc), keys(&["spec"]));
        let doc = "spec:\n  template:\n    metadata:\n      labels:\n        app: x\n    |";
        assert_eq!(path_at(doc), keys(&["spec", "template"]));
        let doc = "a: 1\n|";
        assert_eq!(path_at(doc), keys(&[]));
        let doc = "spec:\n  ports:\n  - port: 80\n    protocol: TCP\n  - name: b\n    tar|";
        assert_eq!(path_at(doc), keys(&["spec", "ports", "[]"]));
        let doc = "spec:\n  containers:\n  - name: a\n    ports:\n    - containerPort: 1\n  sel|";
        assert_eq!(path_at(doc), keys(&["spec"]));
        let doc = "spec:\n  containers:\n  -\n    na|";
        assert_eq!(path_at(doc), keys(&["spec", "containers", "[]"]));
    }

    #[test]
    fn shapes() {
        let s = shape("  - name: web # the name");
        assert_eq!(s.dashes, vec![2]);
        assert_eq!(s.key, Some((4, "name".into())));
        assert_eq!(s.value, Some((10, 13)));
        let s = shape("  \"quoted key\": 'v'");
        assert_eq!(s.key, Some((2, "quoted key".into())));
        assert!(shape("   # c").blank);
        assert!(shape("---").marker);
        assert_eq!(shape("  image").key, None);
        assert_eq!(shape("url: http://x").key, Some((0, "url".into())));
    }

    #[test]
    fn siblings() {
        let text = "spec:\n  replicas: 1\n  x\n  selector:\n    a: b\n  template: {}\nother: 1\n";
        let lines: Vec<&str> = text.split('\n').collect();
        let mut k = sibling_keys(&lines, 2, 2, false);
        k.sort();
        assert_eq!(k, vec!["replicas", "selector", "template"]);
        let text = "c:\n- name: a\n  image: b\n- name: c\n  x\n  ports: []\n";
        let lines: Vec<&str> = text.split('\n').collect();
        let mut k = sibling_keys(&lines, 4, 2, false);
        k.sort();
        assert_eq!(k, vec!["name", "ports"]);
    }
}
