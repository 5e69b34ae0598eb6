//! Knowledge sources turned into chunks with exact provenance: Markdown and plain-text
//! documents, Slack exports, meeting transcripts (WebVTT, SRT), policies and resource kinds.
//!
//! [`load`] dispatches on what a path is; the per-source modules can be used directly too.
//! Bad input (malformed JSON or cues, binary files, invalid UTF-8) gives an error naming the
//! file and the position; nothing here panics on it.

pub mod kinds;
pub mod markdown;
pub mod policies;
pub mod slack;
pub mod transcript;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::Chunk;

/// The largest file read as a knowledge source.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// Reads the knowledge at `path`: a Slack export folder (one holding `channels.json`), a
/// Markdown/plain-text document (`.md`, `.markdown`, `.txt`), a transcript (`.vtt`, `.srt`),
/// or a folder of those (searched recursively, hidden entries skipped, other files ignored).
/// Ids are relative to `path` when it is a folder, to the file's folder when it is a file.
/// Stops at the first source that cannot be read; see [`load_lenient`] to keep going.
pub fn load(path: &Path) -> Result<Vec<Chunk>, String> {
    let (chunks, errors) = load_inner(path, true);
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(chunks),
    }
}

/// Like [`load`] but reads everything it can, returning the errors of the sources it could
/// not read next to the chunks of the others.
pub fn load_lenient(path: &Path) -> (Vec<Chunk>, Vec<String>) {
    load_inner(path, false)
}

fn load_inner(path: &Path, stop_early: bool) -> (Vec<Chunk>, Vec<String>) {
    let mut chunks = Vec::new();
    let mut errors = Vec::new();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            errors.push(format!("{}: {e}", path.display()));
            return (chunks, errors);
        }
    };
    if meta.is_dir() {
        walk(path, path, stop_early, &mut chunks, &mut errors);
    } else {
        let root = path.parent().unwrap_or(Path::new(""));
        match kind_of_file(path) {
            Some(kind) => match load_file(root, path, kind) {
                Ok(c) => chunks.extend(c),
                Err(e) => errors.push(e),
            },
            None => errors.push(format!(
                "{}: not a knowledge source (expected .md, .markdown, .txt, .vtt, .srt or a Slack \
                 export folder)",
                path.display()
            )),
        }
    }
    dedup_ids(&mut chunks);
    (chunks, errors)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileKind {
    Markdown,
    Text,
    Vtt,
    Srt,
}

fn kind_of_file(path: &Path) -> Option<FileKind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "md" | "markdown" => FileKind::Markdown,
        "txt" => FileKind::Text,
        "vtt" => FileKind::Vtt,
        "srt" => FileKind::Srt,
        _ => return None,
    })
}

fn load_file(root: &Path, path: &Path, kind: FileKind) -> Result<Vec<Chunk>, String> {
    let text = read_text(path)?;
    let rel = rel_path(root, path);
    Ok(match kind {
        FileKind::Markdown => markdown::markdown_chunks(&text, path, &rel),
        FileKind::Text => markdown::text_chunks(&text, path, &rel),
        FileKind::Vtt => transcript::vtt_chunks(&text, path, &rel)?,
        FileKind::Srt => transcript::srt_chunks(&text, path, &rel)?,
    })
}

fn is_slack_export(dir: &Path) -> bool {
    dir.join("channels.json").is_file()
}

fn walk(
    root: &Path,
    dir: &Path,
    stop_early: bool,
    chunks: &mut Vec<Chunk>,
    errors: &mut Vec<String>,
) {
    if stop_early && !errors.is_empty() {
        return;
    }
    if is_slack_export(dir) {
        match slack::load_export(dir) {
            Ok(c) => chunks.extend(c),
            Err(e) => errors.push(e),
        }
        return;
    }
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            errors.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    entries.sort();
    for p in entries {
        if stop_early && !errors.is_empty() {
            return;
        }
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        // Symlinks are followed for files but not for folders (no cycles).
        let Ok(ft) = std::fs::symlink_metadata(&p).map(|m| m.file_type()) else {
            continue;
        };
        if ft.is_dir() {
            walk(root, &p, stop_early, chunks, errors);
        } else if let Some(kind) = kind_of_file(&p) {
            match load_file(root, &p, kind) {
                Ok(c) => chunks.extend(c),
                Err(e) => errors.push(e),
            }
        }
    }
}

/// Makes ids unique by suffixing repeats with `~2`, `~3`, … (two transcript passages in the
/// same second, two Slack exports of one channel).
fn dedup_ids(chunks: &mut [Chunk]) {
    let mut seen: HashSet<String> = HashSet::new();
    for c in chunks.iter_mut() {
        if !seen.insert(c.id.clone()) {
            let mut n = 2;
            while !seen.insert(format!("{}~{n}", c.id)) {
                n += 1;
            }
            c.id = format!("{}~{n}", c.id);
        }
    }
}

/// `path` relative to `root`, with `/` separators (the file name when it is not under it).
pub(crate) fn rel_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        parts.join("/")
    }
}

/// Reads a text file: refuses binary files, large files and invalid UTF-8 with a message that
/// names the file (and the line and byte of the bad UTF-8); strips a byte-order mark.
pub(crate) fn read_text(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{}: {} MiB, larger than the limit of {} MiB",
            path.display(),
            meta.len() >> 20,
            MAX_FILE_BYTES >> 20
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Decodes a source's bytes (see [`read_text`]); the error has no file name.
pub(crate) fn decode(bytes: &[u8]) -> Result<String, String> {
    let head = &bytes[..bytes.len().min(8192)];
    if let Some(i) = memchr::memchr(0, head) {
        return Err(format!("binary file (NUL byte at offset {i})"));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.strip_prefix('\u{feff}').unwrap_or(s).to_string()),
        Err(e) => {
            let at = e.valid_up_to();
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(format!("line {line}: invalid UTF-8 at byte {at}"))
        }
    }
}

/// Common Kubernetes kinds, for [`kinds_in_text`].
const COMMON_KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Service",
    "Ingress",
    "ConfigMap",
    "Secret",
    "Namespace",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "NetworkPolicy",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "StorageClass",
    "LimitRange",
    "ResourceQuota",
    "CustomResourceDefinition",
    "ClusterPolicy",
    "PolicyException",
];

/// The common Kubernetes kinds a text names (as whole words, in their usual spelling,
/// plurals included), in the order of [`COMMON_KINDS`].
pub(crate) fn kinds_in_text(text: &str) -> Vec<String> {
    let mut words: HashSet<&str> = HashSet::new();
    for w in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if !w.is_empty() {
            words.insert(w);
        }
    }
    COMMON_KINDS
        .iter()
        .filter(|k| {
            words.contains(**k)
                || words.contains(format!("{k}s").as_str())
                || words.contains(format!("{k}es").as_str())
                || k.strip_suffix('y')
                    .is_some_and(|stem| words.contains(format!("{stem}ies").as_str()))
        })
        .map(|k| k.to_string())
        .collect()
}

/// Converts seconds since the Unix epoch to an RFC 3339 UTC date-time (`2026-10-02T09:15:00Z`).
pub(crate) fn rfc3339_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::knowledge::SourceType;

    /// A fresh temporary folder for a test.
    pub(crate) fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("usher-knowledge-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    pub(crate) fn demo_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/demo/knowledge")
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_791_018_000), "2026-10-03T09:00:00Z");
    }

    #[test]
    fn kinds_named_in_text() {
        assert_eq!(
            kinds_in_text(
                "No NodePort Services; every Deployment, CronJobs, NetworkPolicies. Podcast"
            ),
            vec!["Deployment", "CronJob", "Service", "NetworkPolicy"]
        );
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        let dir = temp_dir("bad-files");
        std::fs::write(dir.join("bin.md"), b"# T\n\0\x01\x02").unwrap();
        let e = load(&dir.join("bin.md")).unwrap_err();
        assert!(e.contains("bin.md") && e.contains("binary"), "{e}");
        std::fs::write(dir.join("utf.txt"), b"ok\nline two \xff\xfe").unwrap();
        let e = load(&dir.join("utf.txt")).unwrap_err();
        assert!(e.contains("utf.txt: line 2: invalid UTF-8"), "{e}");
        std::fs::write(dir.join("empty.md"), b"").unwrap();
        assert_eq!(load(&dir.join("empty.md")).unwrap(), vec![]);
        std::fs::write(dir.join("empty.vtt"), b"").unwrap();
        let e = load(&dir.join("empty.vtt")).unwrap_err();
        assert!(e.contains("empty.vtt: line 1"), "{e}");
        let e = load(&dir.join("nope.pdf")).unwrap_err();
        assert!(e.contains("nope.pdf"), "{e}");
        // Lenient loading keeps the good files.
        std::fs::write(dir.join("good.md"), b"# Good\n\nText.\n").unwrap();
        let (chunks, errors) = load_lenient(&dir);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(chunks.iter().any(|c| c.id == "doc:good.md:1-3"));
    }

    #[test]
    fn folders_are_walked_skipping_hidden() {
        let dir = temp_dir("walk");
        std::fs::create_dir_all(dir.join("wiki/.git")).unwrap();
        std::fs::write(dir.join("wiki/a.md"), "# A\n\nalpha\n").unwrap();
        std::fs::write(dir.join("wiki/.git/b.md"), "# B\n\nbeta\n").unwrap();
        std::fs::write(dir.join("wiki/c.yaml"), "a: b\n").unwrap();
        let chunks = load(&dir).unwrap();
        let ids: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, vec!["doc:wiki/a.md:1-3"]);
    }

    #[test]
    fn demo_knowledge_has_the_us_east_1_decision_everywhere() {
        let chunks = load(&demo_dir()).unwrap();
        let about = |t: SourceType| -> Vec<&Chunk> {
            chunks
                .iter()
                .filter(|c| c.source_type == t && c.text.contains("us-east-1"))
                .collect()
        };
        let docs = about(SourceType::Doc);
        assert!(!docs.is_empty());
        let doc = docs[0];
        assert_eq!(doc.id, "doc:wiki/platform-rules.md:36-43");
        assert_eq!(doc.title, "Platform rules › Databases › Regions");
        assert_eq!(doc.provenance.lines, Some((36, 43)));
        let file = std::fs::read_to_string(demo_dir().join("wiki/platform-rules.md")).unwrap();
        let lines: Vec<&str> = file.lines().collect();
        assert_eq!(doc.text, lines[35..43].join("\n"));
        assert!(
            doc.provenance
                .path
                .as_ref()
                .unwrap()
                .ends_with("wiki/platform-rules.md")
        );

        let slack = about(SourceType::Slack);
        assert_eq!(slack.len(), 1, "{slack:?}");
        let thread = slack[0];
        assert_eq!(thread.id, "slack:platform:1790673240.000100");
        assert_eq!(thread.title, "#platform, 2026-09-29");
        assert_eq!(thread.provenance.channel.as_deref(), Some("platform"));
        assert_eq!(thread.provenance.author.as_deref(), Some("Lee Chen"));
        assert_eq!(
            thread.provenance.time.as_deref(),
            Some("2026-09-29T09:14:00Z")
        );
        assert_eq!(
            thread.provenance.thread.as_deref(),
            Some("1790673240.000100")
        );
        assert!(thread.provenance.path.as_ref().unwrap().ends_with("slack"));
        // The thread spans two day files and ends with the decision.
        assert!(thread.text.contains("Question for @priya"));
        assert!(
            thread
                .text
                .contains("priya: Decision: databases run only in us-east-1")
        );
        assert!(thread.text.contains("wiki page Platform rules."));

        let tr = about(SourceType::Transcript);
        let ids: Vec<&str> = tr.iter().map(|c| c.id.as_str()).collect();
        let vtt = "transcript:meetings/2026-10-02-platform-sync.vtt";
        assert_eq!(
            ids,
            vec![format!("{vtt}:00:00:04"), format!("{vtt}:00:04:07")]
        );
        assert_eq!(tr[0].provenance.time.as_deref(), Some("00:00:04"));
        assert_eq!(
            tr[0].provenance.author.as_deref(),
            Some("Priya Raman, Tom Berg, Lee Chen")
        );
        assert!(
            tr[0]
                .text
                .contains("Priya Raman: Right. So I want to record the decision")
        );
        assert!(
            tr[0]
                .provenance
                .path
                .as_ref()
                .unwrap()
                .ends_with("2026-10-02-platform-sync.vtt")
        );

        // The owner-label decision is in all three kinds of source too.
        for t in [SourceType::Doc, SourceType::Slack, SourceType::Transcript] {
            assert!(
                chunks.iter().any(|c| c.source_type == t
                    && c.text.contains("owner")
                    && c.kinds.contains(&"Service".to_string())),
                "{t:?}"
            );
        }
        // Every id is unique.
        let ids: HashSet<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), chunks.len());
    }
}
