//! End-to-end tests of `usher mcp` through a real MCP client: the official Python SDK (`mcp`
//! from PyPI, installed into .tools/mcp-venv by scripts/setup-mcp.sh), running the scenarios of
//! tests/mcp/client.py against the real binary on a copy of the demo workspace (with its
//! knowledge index built by `usher index`). Raw JSON-RPC over stdio covers what a client
//! library cannot send: malformed messages.
//!
//! The Python client is looked up as `$USHER_MCP_PYTHON`, then .tools/mcp-venv/bin/python.
//! Without it the tests print a notice and pass, unless `USHER_REQUIRE_MCP=1` (set by
//! `make test`, so CI cannot skip them silently).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value as Json, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn usher() -> &'static str {
    env!("CARGO_BIN_EXE_usher")
}

/// The Python with the `mcp` package, or None (with a notice) when the tests are to be skipped.
fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("USHER_MCP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".tools/mcp-venv/bin/python"));
    let works = Command::new(&candidate)
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(candidate);
    }
    let msg = format!(
        "no Python with the `mcp` package at {} (run scripts/setup-mcp.sh)",
        candidate.display()
    );
    if std::env::var("USHER_REQUIRE_MCP").is_ok_and(|v| v == "1") {
        panic!("{msg}; USHER_REQUIRE_MCP=1 forbids skipping");
    }
    eprintln!("notice: {msg}; MCP client tests skipped");
    None
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".usher" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of the demo workspace with the cert-manager CRD added and its knowledge index built
/// (with the embedding model when it is installed). Shared by the tests, which only read it.
fn workspace() -> &'static Path {
    static WS: OnceLock<tempfile::TempDir> = OnceLock::new();
    WS.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("usher-mcp-ws-")
            .tempdir()
            .unwrap();
        copy_dir(&root().join("fixtures/demo"), dir.path());
        std::fs::copy(
            root().join("fixtures/crds/certificate-crd.yaml"),
            dir.path().join("crds/certificate-crd.yaml"),
        )
        .unwrap();
        let mut cmd = Command::new(usher());
        cmd.args(["index", "--quiet"]).current_dir(dir.path());
        let model = root().join(".tools/model");
        if model.join("manifest.json").is_file() {
            cmd.env("USHER_MODEL_DIR", &model);
        }
        let o = cmd.output().unwrap();
        assert!(
            o.status.success(),
            "usher index: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        dir
    })
    .path()
}

/// Runs one scenario of tests/mcp/client.py; returns its JSON report.
fn scenario(name: &str, audit: &Path, extra: &[&str]) -> Option<Json> {
    let py = python()?;
    let ws = workspace();
    let mut cmd = Command::new(py);
    cmd.arg(root().join("tests/mcp/client.py"))
        .args([name, "--usher", usher(), "--workspace"])
        .arg(ws)
        .arg("--audit-log")
        .arg(audit)
        .args(extra);
    let model = root().join(".tools/model");
    if model.join("manifest.json").is_file() {
        cmd.env("USHER_MODEL_DIR", &model);
    }
    let o = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "scenario {name} failed:\n{stderr}\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let report: Json = serde_json::from_slice(o.stdout.trim_ascii()).unwrap_or_else(|e| {
        panic!(
            "scenario {name}: no report ({e}):\n{}",
            String::from_utf8_lossy(&o.stdout)
        )
    });
    eprintln!("{report}");
    Some(report)
}

fn audit_path(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(format!("audit-{name}.jsonl"));
    (dir, p)
}

#[test]
fn initialize_tools_resources_and_prompt() {
    let (_d, audit) = audit_path("protocol");
    let Some(r) = scenario("protocol", &audit, &[]) else {
        return;
    };
    assert_eq!(r["tools"], 6);
}

#[test]
fn every_tool_on_the_demo_workspace() {
    let (_d, audit) = audit_path("tools");
    let Some(r) = scenario("tools", &audit, &[]) else {
        return;
    };
    assert!(r["findings"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn bad_arguments_and_oversized_input_get_clear_errors() {
    let (_d, audit) = audit_path("errors");
    scenario("errors", &audit, &["--max-yaml-kib", "64"]);
}

#[test]
fn agent_loop_check_fix_recheck_is_clean() {
    let (_d, audit) = audit_path("agent");
    let Some(r) = scenario("agent_loop", &audit, &[]) else {
        return;
    };
    assert!(r["rounds"].as_u64().unwrap() >= 1, "{r}");
}

#[test]
fn every_call_is_audited_without_its_arguments() {
    let (_d, audit) = audit_path("audit");
    if scenario("audit", &audit, &[]).is_none() {
        return;
    }
    let text = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
}

#[test]
fn a_call_that_cannot_be_audited_is_not_answered() {
    if !Path::new("/dev/full").exists() {
        eprintln!("notice: no /dev/full; skipped");
        return;
    }
    scenario("audit_failure", Path::new("/dev/full"), &[]);
}

/// No tool changes the workspace: every file is byte-for-byte the same after the scenarios
/// that call every tool (the index folder is only read).
#[test]
fn tools_write_nothing_in_the_workspace() {
    if python().is_none() {
        return;
    }
    let ws = workspace();
    let snapshot = || {
        let mut files: Vec<(PathBuf, Vec<u8>)> = walk(ws)
            .into_iter()
            .map(|p| {
                let b = std::fs::read(&p).unwrap();
                (p, b)
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot();
    let (_d, audit) = audit_path("ro");
    scenario("tools", &audit, &[]);
    scenario("agent_loop", &audit, &[]);
    assert!(before == snapshot(), "a tool changed the workspace");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Malformed input (not JSON, wrong shapes, binary, requests before initialization, unknown
/// methods) gets errors or is dropped; the server keeps answering. No client library needed.
#[test]
fn malformed_messages_keep_the_server_alive() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(usher())
        .args(["mcp", "--no-config", "--audit-log"])
        .arg(dir.path().join("audit.jsonl"))
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Json>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let mut send = |bytes: &[u8]| {
        stdin.write_all(bytes).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    };
    // Messages come in order; each wait reads up to the one it expects.
    let next = || -> Json {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("no answer: the server died")
    };
    let expect = |want: &dyn Fn(&Json) -> bool, what: &str| -> Json {
        loop {
            let v = next();
            if want(&v) {
                return v;
            }
            eprintln!("(skipped {v} while waiting for {what})");
        }
    };
    let error_code = |v: &Json| v["error"]["code"].as_i64();

    send(b"this is not json");
    let r = expect(&|v| error_code(v).is_some(), "a parse error");
    assert_eq!(
        (error_code(&r), &r["id"]),
        (Some(-32700), &Json::Null),
        "{r}"
    );
    send(b"\x00\x01\xff\xfe");
    let r = next();
    assert_eq!(error_code(&r), Some(-32700), "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("UTF-8"),
        "{r}"
    );
    // A request before initialization is refused, and the session can still begin.
    send(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    assert!(error_code(&expect(&|v| v["id"] == 1, "1")).is_some());
    send(
        &serde_json::to_vec(
            &json!({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}}),
        )
        .unwrap(),
    );
    let init = expect(&|v| v["id"] == 2, "the initialize result");
    assert_eq!(init["result"]["serverInfo"]["name"], "usher", "{init}");
    send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    send(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"explain"}}"#);
    let r = expect(&|v| v["id"] == 3, "3");
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("missing field"),
        "{r}"
    );
    send(br#"{"jsonrpc":"2.0","id":4,"method":"no/such/method"}"#);
    assert_eq!(error_code(&expect(&|v| v["id"] == 4, "4")), Some(-32601));
    send(br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":"not an object"}"#);
    assert_eq!(error_code(&expect(&|v| v["id"] == 5, "5")), Some(-32602));
    send(br#"[1, 2, 3]"#);
    assert_eq!(error_code(&next()), Some(-32600));
    send(br#"{"id": 6}"#);
    let r = next();
    assert_eq!((error_code(&r), &r["id"]), (Some(-32600), &json!(6)), "{r}");
    send(&[b'{'; 10_000]);
    assert_eq!(error_code(&next()), Some(-32700));
    send(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"explain","arguments":{"apiVersion":"v1","kind":"Pod","path":"spec.restartPolicy"}}}"#);
    let r = expect(&|v| v["id"] == 7, "7");
    assert_eq!(
        r["result"]["structuredContent"]["path"], "spec.restartPolicy",
        "{r}"
    );
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status} after stdin closed");
}
