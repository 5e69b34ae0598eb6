//! The MCP audit log: one JSON line per tool call (time, tool, a digest and the size of the
//! arguments, what came back, how long it took), appended to a file. The arguments themselves
//! are not written (manifests may hold secrets); their SHA-256 identifies them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};

/// One finished tool call.
pub struct Entry<'a> {
    pub tool: &'a str,
    /// The arguments as received (serialized JSON).
    pub arguments: &'a [u8],
    pub ok: bool,
    /// One line: what the result held, or the error.
    pub summary: &'a str,
    pub duration: Duration,
    /// The client, as it named itself at initialization.
    pub client: Option<&'a str>,
}

pub struct AuditLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl AuditLog {
    /// Opens `path` for appending (its folder is created). Fails with a message naming the
    /// file: a server that cannot audit does not start.
    pub fn open(path: &Path) -> Result<AuditLog, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                format!(
                    "cannot create the folder of the audit log {}: {e}",
                    path.display()
                )
            })?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open the audit log {}: {e}", path.display()))?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line, written with a single `write` and flushed to the file.
    pub fn append(&self, e: &Entry<'_>) -> Result<(), String> {
        let line = render(e, now_rfc3339());
        let mut file = self
            .file
            .lock()
            .map_err(|_| "the audit log lock is poisoned".to_string())?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|err| format!("cannot write the audit log {}: {err}", self.path.display()))
    }
}

/// The line for `e` at `time`.
fn render(e: &Entry<'_>, time: String) -> String {
    let digest = Sha256::digest(e.arguments);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut v = json!({
        "time": time,
        "tool": e.tool,
        "arguments": {"sha256": hex, "bytes": e.arguments.len()},
        "ok": e.ok,
        "result": e.summary,
        "durationMs": (e.duration.as_secs_f64() * 1e6).round() / 1e3,
    });
    if let Some(c) = e.client {
        v["client"] = json!(c);
    }
    let mut line = v.to_string();
    line.push('\n');
    line
}

/// The current time, RFC 3339 UTC with milliseconds.
fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = crate::knowledge::sources::rfc3339_utc(now.as_secs() as i64);
    // `…:SSZ` → `…:SS.mmmZ`
    format!("{}.{:03}Z", secs.trim_end_matches('Z'), now.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(args: &'a [u8]) -> Entry<'a> {
        Entry {
            tool: "check_manifest",
            arguments: args,
            ok: true,
            summary: "2 findings (1 error)",
            duration: Duration::from_micros(1500),
            client: Some("test 1.0"),
        }
    }

    #[test]
    fn a_line_holds_the_digest_not_the_arguments() {
        let line = render(&entry(br#"{"yaml":"password: hunter2"}"#), "T".into());
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        assert!(!line.contains("hunter2"));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["tool"], "check_manifest");
        assert_eq!(v["arguments"]["bytes"], 28);
        assert_eq!(
            v["arguments"]["sha256"].as_str().unwrap().len(),
            64,
            "{line}"
        );
        assert_eq!(v["durationMs"], 1.5);
        assert_eq!(v["client"], "test 1.0");
    }

    #[test]
    fn lines_are_appended_and_write_failures_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        log.append(&entry(b"{}")).unwrap();
        log.append(&entry(b"{}")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(now_rfc3339().ends_with('Z'));

        // /dev/full accepts the open and fails every write (ENOSPC).
        if Path::new("/dev/full").exists() {
            let full = AuditLog::open(Path::new("/dev/full")).unwrap();
            let err = full.append(&entry(b"{}")).unwrap_err();
            assert!(err.contains("/dev/full"), "{err}");
        }
        let err = AuditLog::open(&path.join("not-a-folder/x")).err().unwrap();
        assert!(err.contains("audit log"), "{err}");
    }
}
