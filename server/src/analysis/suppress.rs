//! Inline suppression: `# usher:ignore <code>[, <code>…] -- reason`.
//!
//! A comment at the end of a line covers that line; a comment on a line of its own covers the
//! next line with content; a comment before a document's first key covers the whole document.
//! A code is a finding's code (`require-labels/check-for-labels`, `schema/unknown-field`), a
//! policy name alone (all its rules), and a rule name also covers its autogen variants
//! (`autogen-…`). A comment that suppresses nothing is reported, so stale ones do not pile up.

use crate::finding::{Finding, Fix, Severity, TextEdit};

const MARK: &str = "usher:ignore";

struct Suppression {
    /// The comment (from `#` to the end of its line).
    span: std::ops::Range<usize>,
    /// Where the comment starts its own line: the whole line can be removed.
    own_line: bool,
    codes: Vec<String>,
    /// The lines covered (inclusive), or None for the whole document.
    lines: Option<(usize, usize)>,
    used: bool,
}

fn covers(code: &str, finding: &str) -> bool {
    if code == finding {
        return true;
    }
    let Some((policy, rule)) = finding.split_once('/') else {
        return false;
    };
    match code.split_once('/') {
        None => code == policy,
        Some((p, r)) => {
            p == policy
                && (rule.strip_prefix("autogen-cronjob-") == Some(r)
                    || rule.strip_prefix("autogen-") == Some(r))
        }
    }
}

/// Removes suppressed findings from a document's findings and adds one for every unused
/// suppression.
pub(super) fn apply(body: &str, findings: &mut Vec<Finding>) {
    if !body.contains(MARK) {
        return;
    }
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', body.as_bytes()).map(|i| i + 1))
        .collect();
    let line_of = |at: usize| line_starts.partition_point(|&s| s <= at) - 1;
    let line_text = |l: usize| {
        let end = line_starts.get(l + 1).map_or(body.len(), |e| e - 1);
        &body[line_starts[l]..end]
    };
    let is_content = |l: usize| {
        let t = line_text(l).trim();
        !t.is_empty() && !t.starts_with('#') && t != "---"
    };
    let first_content = (0..line_starts.len()).find(|&l| is_content(l));
    let mut sups = Vec::new();
    for (at, _) in body.match_indices(MARK) {
        let l = line_of(at);
        let ls = line_starts[l];
        let before = body[ls..at].trim_end();
        let Some(hash) = before.strip_suffix('#').map(|b| ls + b.len()) else {
            continue;
        };
        // A comment starts a line or follows whitespace.
        if hash > ls && !body[..hash].ends_with([' ', '\t']) {
            continue;
        }
        let end = ls + line_text(l).len();
        let rest = &body[at + MARK.len()..end];
        let list = rest.split(" --").next().unwrap_or("");
        let codes: Vec<String> = list
            .split([',', ' ', '\t'])
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let own_line = body[ls..hash].trim().is_empty();
        let lines = if !own_line {
            Some((l, l))
        } else if first_content.is_none_or(|f| l < f) {
            None
        } else {
            match (l + 1..line_starts.len()).find(|&n| is_content(n)) {
                Some(n) => Some((n, n)),
                None => Some((l, l)),
            }
        };
        sups.push(Suppression {
            span: hash..end,
            own_line,
            codes,
            lines,
            used: false,
        });
    }
    findings.retain(|f| {
        let line = line_of(f.range.start.min(body.len()));
        let mut keep = true;
        for s in &mut sups {
            let in_scope = s.lines.is_none_or(|(a, b)| (a..=b).contains(&line));
            let matches = s.codes.is_empty() || s.codes.iter().any(|c| covers(c, &f.code));
            if in_scope && matches {
                s.used = true;
                keep = false;
            }
        }
        keep
    });
    for s in sups.into_iter().filter(|s| !s.used) {
        let remove = if s.own_line {
            let ls = line_starts[line_of(s.span.start)];
            ls..(s.span.end + 1).min(body.len())
        } else {
            let trimmed = body[..s.span.start].trim_end_matches([' ', '\t']).len();
            trimmed..s.span.end
        };
        let what = if s.codes.is_empty() {
            "any finding".to_string()
        } else {
            s.codes.join(", ")
        };
        findings.push(Finding {
            severity: Severity::Warning,
            range: s.span.clone(),
            message: format!("unused suppression: no {what} finding here"),
            source: "usher",
            code: "usher/unused-suppression".into(),
            pointer: None,
            related: Vec::new(),
            fixes: vec![Fix {
                title: "Remove unused suppression".into(),
                edits: vec![TextEdit {
                    range: remove,
                    new_text: String::new(),
                }],
                preferred: true,
            }],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(code: &str, at: usize) -> Finding {
        Finding {
            severity: Severity::Warning,
            range: at..at + 1,
            message: String::new(),
            source: "kyverno",
            code: code.to_string().into(),
            pointer: None,
            related: Vec::new(),
            fixes: Vec::new(),
        }
    }

    #[test]
    fn trailing_own_line_and_document_comments() {
        let body = "# usher:ignore pol-a -- whole document\nkind: Pod\n# usher:ignore pol-b/r -- next line\nspec:\n  x: 1 # usher:ignore pol-c/r\n  y: 2\n";
        let spec = body.find("spec").unwrap();
        let x = body.find("x: 1").unwrap();
        let y = body.find("y: 2").unwrap();
        let mut fs = vec![
            finding("pol-a/any", y),
            finding("pol-b/autogen-r", spec),
            finding("pol-b/r", y),
            finding("pol-c/r", x),
            finding("pol-c/r", y),
        ];
        apply(body, &mut fs);
        let left: Vec<(String, usize)> = fs
            .iter()
            .map(|f| (f.code.to_string(), f.range.start))
            .collect();
        assert_eq!(
            left,
            vec![("pol-b/r".to_string(), y), ("pol-c/r".to_string(), y)]
        );
    }

    #[test]
    fn unused_suppressions_are_reported_with_a_removal_fix() {
        let body = "kind: Pod\nspec:\n  x: 1 # usher:ignore pol/r -- stale\n";
        let mut fs = Vec::new();
        apply(body, &mut fs);
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].code, "usher/unused-suppression");
        assert_eq!(&body[fs[0].range.clone()], "# usher:ignore pol/r -- stale");
        let fixed = crate::yaml::patch::apply(body, &fs[0].fixes[0].edits);
        assert_eq!(fixed, "kind: Pod\nspec:\n  x: 1\n");
    }

    #[test]
    fn text_inside_values_is_not_a_comment() {
        let body = "kind: Pod\nmetadata:\n  name: a#usher:ignore\n";
        let mut fs = vec![finding("p/r", body.find("name").unwrap())];
        apply(body, &mut fs);
        assert_eq!(fs.len(), 1);
    }
}
