//! End-to-end tests of `usher lsp`: the real binary, JSON-RPC over stdio.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

#[path = "support/apiserver.rs"]
mod apiserver;

const TIMEOUT: Duration = Duration::from_secs(30);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn uri_of(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A minimal LSP client around the `usher lsp` process.
struct Client {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Json>,
    next_id: i64,
    /// Notifications received while waiting for something else.
    notifications: Vec<Json>,
    /// Answer to `workspace/configuration` for the `usher` section.
    configuration: Json,
}

impl Client {
    fn start() -> Client {
        Client::start_with_env(&[])
    }

    /// With extra environment variables (a kubeconfig, a cache folder).
    fn start_with_env(env: &[(&str, &std::ffi::OsStr)]) -> Client {
        let mut command = Command::new(env!("CARGO_BIN_EXE_usher"));
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start usher lsp");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut len = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length:") {
                        len = Some(v.trim().parse::<usize>().unwrap());
                    }
                }
                let mut body = vec![0; len.expect("Content-Length from the server")];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let msg: Json = serde_json::from_slice(&body).expect("server sent valid JSON");
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
        Client {
            child,
            stdin,
            rx,
            next_id: 1,
            notifications: Vec::new(),
            configuration: Json::Null,
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).unwrap();
        self.stdin.flush().unwrap();
    }

    fn send(&mut self, msg: &Json) {
        let body = serde_json::to_vec(msg).unwrap();
        let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        frame.extend(body);
        self.send_raw(&frame);
    }

    fn notify(&mut self, method: &str, params: Json) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Receives one message, answering requests from the server on the way.
    fn recv(&mut self, deadline: Instant) -> Option<Json> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = match self.rx.recv_timeout(left) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => return None,
            };
            if msg.get("method").is_some() && msg.get("id").is_some() {
                let result = match msg["method"].as_str().unwrap() {
                    "workspace/configuration" => {
                        let n = msg["params"]["items"].as_array().map_or(1, Vec::len);
                        Json::Array(vec![self.configuration.clone(); n])
                    }
                    _ => Json::Null,
                };
                let id = msg["id"].clone();
                self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
                continue;
            }
            return Some(msg);
        }
    }

    /// Sends a request and waits for its response (result or error object).
    fn request_full(&mut self, method: &str, params: Json) -> Json {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let msg = self
                .recv(deadline)
                .unwrap_or_else(|| panic!("no response to {method}"));
            if msg.get("id") == Some(&json!(id)) {
                return msg;
            }
            self.notifications.push(msg);
        }
    }

    fn request(&mut self, method: &str, params: Json) -> Json {
        let msg = self.request_full(method, params);
        assert!(msg.get("error").is_none(), "{method} failed: {msg}");
        msg["result"].clone()
    }

    fn initialize(&mut self, root: Option<&Path>, encodings: &[&str], init: Json) -> Json {
        let params = json!({
            "processId": null,
            "rootUri": root.map(uri_of),
            "initializationOptions": init,
            "capabilities": {
                "general": {"positionEncodings": encodings},
                "workspace": {"configuration": true, "didChangeWatchedFiles": {"dynamicRegistration": true}},
                "textDocument": {
                    "completion": {"completionItem": {"snippetSupport": true}},
                    "documentSymbol": {"hierarchicalDocumentSymbolSupport": true},
                    "publishDiagnostics": {"versionSupport": true}
                }
            }
        });
        let result = self.request("initialize", params);
        self.notify("initialized", json!({}));
        result
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}),
        );
    }

    fn change(&mut self, uri: &str, version: i32, changes: Json) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": changes}),
        );
    }

    /// Waits for diagnostics of `uri` at `version` (any version when None).
    fn diagnostics(&mut self, uri: &str, version: Option<i32>) -> Vec<Json> {
        let matches = |m: &Json| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && version.is_none_or(|v| m["params"]["version"] == v)
        };
        if let Some(i) = self.notifications.iter().rposition(matches) {
            let m = self.notifications.remove(i);
            return m["params"]["diagnostics"].as_array().unwrap().clone();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let msg = self
                .recv(deadline)
                .unwrap_or_else(|| panic!("no diagnostics for {uri} version {version:?}"));
            if matches(&msg) {
                return msg["params"]["diagnostics"].as_array().unwrap().clone();
            }
            self.notifications.push(msg);
        }
    }

    /// Waits for a notification that satisfies `pred` (also among those already received).
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Json) -> bool) -> Json {
        if let Some(i) = self.notifications.iter().position(&pred) {
            return self.notifications.remove(i);
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let msg = self
                .recv(deadline)
                .unwrap_or_else(|| panic!("timed out waiting for {what}"));
            if pred(&msg) {
                return msg;
            }
            self.notifications.push(msg);
        }
    }

    /// Waits for diagnostics of `uri` whose codes satisfy `pred`.
    fn diagnostics_where(&mut self, uri: &str, pred: impl Fn(&[&str]) -> bool) -> Vec<Json> {
        let m = self.wait_for(&format!("diagnostics of {uri}"), |m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && pred(
                    &m["params"]["diagnostics"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d["code"].as_str().unwrap())
                        .collect::<Vec<_>>(),
                )
        });
        m["params"]["diagnostics"].as_array().unwrap().clone()
    }

    fn text(&mut self, uri: &str) -> (i64, String) {
        let r = self.request("usher/documentText", json!({"textDocument": {"uri": uri}}));
        (
            r["version"].as_i64().unwrap(),
            r["text"].as_str().unwrap().to_string(),
        )
    }

    fn shutdown(mut self) {
        self.request("shutdown", Json::Null);
        self.notify("exit", Json::Null);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "usher lsp exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "usher lsp did not exit after `exit`"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Settings without the bundled policy pack (these tests are about sync, schemas and fixes).
fn no_policies() -> Json {
    json!({"policies": {"bundled": false}})
}

/// Columns of `col` Unicode characters into `line` in another encoding.
fn column(line: &str, chars: usize, encoding: &str) -> usize {
    let prefix: String = line.chars().take(chars).collect();
    match encoding {
        "utf-8" => prefix.len(),
        _ => prefix.encode_utf16().count(),
    }
}

/// `usher check --format json` findings of files: (path, code, line0, char_col0, end_line0, end_char_col0).
fn check_findings(
    paths: &[PathBuf],
    cwd: &Path,
) -> Vec<(String, String, usize, usize, usize, usize)> {
    let out = Command::new(env!("CARGO_BIN_EXE_usher"))
        .arg("check")
        .arg("--format")
        .arg("json")
        .args(paths)
        .current_dir(cwd)
        .output()
        .unwrap();
    let doc: Json = serde_json::from_slice(&out.stdout).unwrap();
    let mut v = Vec::new();
    for file in doc["files"].as_array().unwrap() {
        for f in file["findings"].as_array().unwrap() {
            let path = Path::new(file["path"].as_str().unwrap());
            let rel = path.strip_prefix(cwd).unwrap_or(path);
            v.push((
                rel.display().to_string(),
                f["code"].as_str().unwrap().to_string(),
                f["start"]["line"].as_u64().unwrap() as usize - 1,
                f["start"]["column"].as_u64().unwrap() as usize - 1,
                f["end"]["line"].as_u64().unwrap() as usize - 1,
                f["end"]["column"].as_u64().unwrap() as usize - 1,
            ));
        }
    }
    v
}

fn diag_key(d: &Json) -> (String, usize, usize, usize, usize) {
    let r = &d["range"];
    (
        d["code"].as_str().unwrap().to_string(),
        r["start"]["line"].as_u64().unwrap() as usize,
        r["start"]["character"].as_u64().unwrap() as usize,
        r["end"]["line"].as_u64().unwrap() as usize,
        r["end"]["character"].as_u64().unwrap() as usize,
    )
}

#[test]
fn diagnostics_match_usher_check_on_the_demo_workspace() {
    let demo = repo().join("fixtures/demo");
    let mut files: Vec<PathBuf> = walk(&demo);
    files.sort();
    for encoding in ["utf-16", "utf-8"] {
        let mut c = Client::start();
        let init = c.initialize(Some(&demo), &[encoding], json!({}));
        assert_eq!(init["capabilities"]["positionEncoding"], encoding);
        assert_eq!(init["serverInfo"]["name"], "usher");
        let expected = check_findings(&files, &demo);
        assert!(expected.len() >= 19, "{expected:?}");
        let mut total = 0;
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let lines: Vec<&str> = text.split('\n').collect();
            let uri = uri_of(file);
            c.open(&uri, &text);
            let diags = c.diagnostics(&uri, Some(1));
            // Written-rule diagnostics need a knowledge index (`make demo` builds one);
            // `usher check` without --explain has none.
            let diags: Vec<Json> = diags
                .into_iter()
                .filter(|d| !d["code"].as_str().unwrap_or("").starts_with("knowledge/"))
                .collect();
            let mut got: Vec<_> = diags.iter().map(diag_key).collect();
            let rel = file.strip_prefix(&demo).unwrap().display().to_string();
            let mut want: Vec<_> = expected
                .iter()
                .filter(|e| e.0 == rel)
                .map(|e| {
                    (
                        e.1.clone(),
                        e.2,
                        column(lines[e.2], e.3, encoding),
                        e.4,
                        column(lines.get(e.4).copied().unwrap_or(""), e.5, encoding),
                    )
                })
                .collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{rel} ({encoding})");
            total += got.len();
            for d in &diags {
                let code = d["code"].as_str().unwrap();
                // Schema and YAML findings come from usher; the bundled pack's from kyverno,
                // with the policy file as their origin.
                if code.starts_with("usher-") {
                    assert_eq!(d["source"], "kyverno", "{d}");
                } else {
                    assert_eq!(d["source"], "usher", "{d}");
                }
            }
            // A custom resource's findings point at the CRD its schema came from.
            if rel.ends_with("reporting.yaml") {
                let d = &diags[0];
                let href = d["codeDescription"]["href"].as_str().unwrap();
                assert!(href.ends_with("crds/database-crd.yaml"), "{d}");
                let related = d["relatedInformation"][0]["location"]["uri"]
                    .as_str()
                    .unwrap();
                assert_eq!(related, href);
            }
        }
        assert_eq!(total, expected.len());
        c.shutdown();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "yaml")
            && !p.ends_with(".usher.yaml")
            && p.file_name().unwrap() != ".usher.yaml"
        {
            out.push(p);
        }
    }
    out
}

const NON_ASCII: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  labels: {note: \"🚀部署\", tier: 1}\ndata:\n  greeting: \"こんにちは 👋\"\n";

#[test]
fn positions_in_utf8_and_utf16_with_emoji_and_cjk() {
    for (encoding, col) in [("utf-16", 31), ("utf-8", 37)] {
        let mut c = Client::start();
        let init = c.initialize(None, &[encoding], no_policies());
        assert_eq!(init["capabilities"]["positionEncoding"], encoding);
        let uri = "file:///tmp/usher-e2e/non-ascii.yaml";
        c.open(uri, NON_ASCII);
        let diags = c.diagnostics(uri, Some(1));
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0]["code"], "schema/type");
        assert_eq!(
            diags[0]["range"]["start"],
            json!({"line": 4, "character": col})
        );
        assert_eq!(
            diags[0]["range"]["end"],
            json!({"line": 4, "character": col + 1})
        );
        // An edit after the emoji, in the client's columns: `1` becomes `"1"`.
        c.change(
            uri,
            2,
            json!([{"range": {"start": {"line": 4, "character": col}, "end": {"line": 4, "character": col + 1}}, "text": "\"1\""}]),
        );
        assert_eq!(c.diagnostics(uri, Some(2)), Vec::<Json>::new());
        assert_eq!(c.text(uri).1, NON_ASCII.replace("tier: 1", "tier: \"1\""));
        // Hover after the CJK value lands on `greeting`'s line.
        let hover_col = if encoding == "utf-8" { 14 } else { 8 };
        let h = c.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": {"line": 6, "character": hover_col}}),
        );
        assert!(h.is_null() || h["range"]["start"]["line"] == 6, "{h}");
        c.shutdown();
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "a",
    "\n",
    "  ",
    "- ",
    ": ",
    "---\n",
    "kind: Pod\n",
    "é",
    "🚀",
    "部署",
    "\r\n",
    "{",
    "]",
    "\"x\"",
    "spec:\n  replicas: 3\n",
    "# comment\n",
    "\t",
    "...",
    "&a ",
    "*a",
    "",
];

/// Position of byte `offset` of `text` in `encoding` columns.
fn position(text: &str, offset: usize, encoding: &str) -> Json {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let start = before.rfind('\n').map_or(0, |p| p + 1);
    let col = match encoding {
        "utf-8" => offset - start,
        _ => text[start..offset].encode_utf16().count(),
    };
    json!({"line": line, "character": col})
}

/// A character boundary at or before `at` that is not inside a `\r\n` line break (LSP
/// positions cannot point between the two).
fn char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at)
        || (at > 0 && text.as_bytes()[at - 1] == b'\r' && text.as_bytes().get(at) == Some(&b'\n'))
    {
        at -= 1;
    }
    at
}

#[test]
fn random_edit_sequences_keep_server_and_client_text_equal() {
    let seed_text =
        std::fs::read_to_string(repo().join("fixtures/demo/apps/checkout-web.yaml")).unwrap();
    for (encoding, seed) in [
        ("utf-16", 0x9E3779B97F4A7C15u64),
        ("utf-8", 0xD1B54A32D192ED03),
    ] {
        let mut rng = Rng(seed);
        let mut c = Client::start();
        c.initialize(None, &[encoding], no_policies());
        let uri = "file:///tmp/usher-e2e/random.yaml";
        let mut text = seed_text.clone();
        c.open(uri, &text);
        let mut version = 1;
        for round in 0..300 {
            version += 1;
            let n = 1 + rng.below(3);
            let mut changes = Vec::new();
            for _ in 0..n {
                let start = char_boundary(&text, rng.below(text.len() + 1));
                let mut end = start + rng.below(12).min(text.len() - start);
                while !text.is_char_boundary(end)
                    || (end > 0
                        && text.as_bytes()[end - 1] == b'\r'
                        && text.as_bytes().get(end) == Some(&b'\n'))
                {
                    end += 1;
                }
                let end = end.max(start);
                let insert = if rng.below(4) == 0 {
                    ""
                } else {
                    PIECES[rng.below(PIECES.len())]
                };
                if rng.below(40) == 0 {
                    // Sometimes a whole-document replacement.
                    text = format!("{insert}{text}");
                    changes.push(json!({"text": text}));
                    continue;
                }
                changes.push(json!({
                    "range": {"start": position(&text, start, encoding), "end": position(&text, end, encoding)},
                    "text": insert
                }));
                text.replace_range(start..end, insert);
            }
            c.change(uri, version, Json::Array(changes));
            if round % 3 == 0 || round > 290 {
                let (v, server_text) = c.text(uri);
                assert_eq!(v, version as i64);
                assert_eq!(server_text, text, "round {round} ({encoding})");
            }
        }
        // The diagnostics of the edited document equal those of the same text opened afresh.
        let edited = c.diagnostics(uri, Some(version));
        let fresh_uri = "file:///tmp/usher-e2e/fresh.yaml";
        c.open(fresh_uri, &text);
        let fresh = c.diagnostics(fresh_uri, Some(1));
        let key = |d: &Json| {
            (
                d["range"].to_string(),
                d["code"].to_string(),
                d["message"].to_string(),
            )
        };
        let mut a: Vec<_> = edited.iter().map(key).collect();
        let mut b: Vec<_> = fresh.iter().map(key).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{encoding}");
        c.shutdown();
    }
}

#[test]
fn diagnostics_are_never_published_for_stale_versions() {
    let mut c = Client::start();
    c.initialize(None, &["utf-16"], no_policies());
    let uri = "file:///tmp/usher-e2e/stale.yaml";
    let mut text = String::from(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: x\n",
    );
    c.open(uri, &text);
    // A burst of edits without waiting: append to the image name.
    let line = 7;
    for v in 2..=60 {
        let col = "    image: x".len() + (v as usize - 2);
        c.change(
            uri,
            v,
            json!([{"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}, "text": "y"}]),
        );
    }
    text = text.replace("image: x", &format!("image: x{}", "y".repeat(59)));
    let last = c.wait_for("diagnostics of version 60", |m| {
        m["method"] == "textDocument/publishDiagnostics" && m["params"]["version"] == 60
    });
    assert_eq!(last["params"]["diagnostics"], json!([]));
    c.notifications.push(last);
    // Every publication carried a version, in order, and only current ones were sent: after
    // the last version's publication nothing older may follow.
    let deadline = Instant::now() + Duration::from_millis(500);
    while let Some(m) = c.recv(deadline) {
        c.notifications.push(m);
    }
    let versions: Vec<i64> = c
        .notifications
        .iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri)
        .map(|m| {
            m["params"]["version"]
                .as_i64()
                .expect("version in publishDiagnostics")
        })
        .collect();
    // (The same version may be published again when the settings are reloaded.)
    assert!(versions.windows(2).all(|w| w[0] <= w[1]), "{versions:?}");
    assert_eq!(versions.last(), Some(&60), "{versions:?}");
    let (v, server_text) = c.text(uri);
    assert_eq!(v, 60);
    assert_eq!(server_text, text);
    c.shutdown();
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web # the web tier\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      restartPolicy: Sometimes\n      containers:\n      - name: web\n        image: nginx:1.27\n        imagePullPolicyy: Always # keep\n";

#[test]
fn hover_completion_symbols_folding_selection() {
    let mut c = Client::start();
    c.initialize(None, &["utf-16"], no_policies());
    let uri = "file:///tmp/usher-e2e/deploy.yaml";
    c.open(uri, DEPLOYMENT);
    c.diagnostics(uri, Some(1));
    let td = json!({"uri": uri});

    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": td, "position": {"line": 5, "character": 4}}),
    );
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(
        md.contains("**replicas** `integer (int32)` · optional") && md.contains("desired pods"),
        "{md}"
    );
    assert_eq!(h["range"]["start"], json!({"line": 5, "character": 2}));
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": td, "position": {"line": 1, "character": 8}}),
    );
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(
        md.contains("**Deployment** · `apps/v1`") && md.contains("namespaced"),
        "{md}"
    );
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": td, "position": {"line": 12, "character": 22}}),
    );
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(
        md.contains("schema/enum") && md.contains("Sometimes"),
        "{md}"
    );
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": td, "position": {"line": 12, "character": 8}}),
    );
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(
        md.contains("Allowed values: `Always`, `OnFailure`, `Never`"),
        "{md}"
    );

    // Completion in a half-typed line under a container.
    let mut text = DEPLOYMENT.to_string();
    text.push_str("        ima\n");
    c.change(uri, 2, json!([{"text": text}]));
    let r = c.request(
        "textDocument/completion",
        json!({"textDocument": td, "position": {"line": 17, "character": 11}}),
    );
    let items = r["items"].as_array().unwrap();
    let labels: Vec<&str> = items.iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert!(
        labels.contains(&"imagePullSecrets") || labels.contains(&"ports"),
        "{labels:?}"
    );
    assert!(
        !labels.contains(&"image") && !labels.contains(&"name"),
        "present keys: {labels:?}"
    );
    let ports = items.iter().find(|i| i["label"] == "ports").unwrap();
    assert_eq!(ports["insertTextFormat"], 2);
    assert_eq!(
        ports["textEdit"]["newText"],
        "ports:\n  - containerPort: ${1}$0".replace("${1}", "$1")
    );
    assert_eq!(
        ports["textEdit"]["range"]["start"],
        json!({"line": 17, "character": 8})
    );

    // Half-typed value: an enum.
    let text2 = DEPLOYMENT.replace("restartPolicy: Sometimes", "restartPolicy: ");
    c.change(uri, 3, json!([{"text": text2}]));
    let r = c.request(
        "textDocument/completion",
        json!({"textDocument": td, "position": {"line": 12, "character": 21}}),
    );
    let labels: Vec<String> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap().into())
        .collect();
    assert_eq!(labels, vec!["Always", "OnFailure", "Never"]);

    // Booleans.
    let text3 = DEPLOYMENT.replace(
        "        image: nginx:1.27\n",
        "        image: nginx:1.27\n        stdin: \n",
    );
    c.change(uri, 4, json!([{"text": text3}]));
    let r = c.request(
        "textDocument/completion",
        json!({"textDocument": td, "position": {"line": 16, "character": 15}}),
    );
    let labels: Vec<String> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap().into())
        .collect();
    assert_eq!(labels, vec!["true", "false"]);

    // kind/apiVersion pairs: choosing a kind fills in apiVersion.
    let uri2 = "file:///tmp/usher-e2e/new.yaml";
    c.open(uri2, "kind: CronJ\n");
    let r = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri2}, "position": {"line": 0, "character": 11}}),
    );
    let cron = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "CronJob")
        .unwrap()
        .clone();
    assert_eq!(cron["detail"], "batch/v1");
    assert_eq!(
        cron["additionalTextEdits"][0]["newText"],
        "apiVersion: batch/v1\n"
    );
    // An empty document offers whole resources.
    c.change(uri2, 2, json!([{"text": ""}]));
    let r = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri2}, "position": {"line": 0, "character": 0}}),
    );
    let svc = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "Service" && i["detail"] == "v1")
        .unwrap()
        .clone();
    assert!(
        svc["textEdit"]["newText"]
            .as_str()
            .unwrap()
            .starts_with("apiVersion: v1\nkind: Service\nmetadata:\n  name: ${1:name}"),
        "{svc}"
    );

    // Symbols, folding, selection.
    c.change(uri, 5, json!([{"text": DEPLOYMENT}]));
    let s = c.request("textDocument/documentSymbol", json!({"textDocument": td}));
    assert_eq!(s[0]["name"], "Deployment web");
    let children: Vec<&str> = s[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(children, vec!["apiVersion", "kind", "metadata", "spec"]);
    let f = c.request("textDocument/foldingRange", json!({"textDocument": td}));
    let ranges: Vec<(u64, u64)> = f
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["startLine"].as_u64().unwrap(),
                r["endLine"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        ranges.contains(&(0, 16)) && ranges.contains(&(4, 16)),
        "{ranges:?}"
    );
    let sel = c.request(
        "textDocument/selectionRange",
        json!({"textDocument": td, "positions": [{"line": 15, "character": 16}]}),
    );
    assert_eq!(
        sel[0]["range"],
        json!({"start": {"line": 15, "character": 15}, "end": {"line": 15, "character": 25}})
    );
    assert!(sel[0]["parent"]["parent"].is_object());
    c.shutdown();
}

/// Applies LSP text edits (UTF-16) to `text`.
fn apply_edits(text: &str, edits: &[Json]) -> String {
    let offset = |p: &Json| {
        let line = p["line"].as_u64().unwrap() as usize;
        let col = p["character"].as_u64().unwrap() as usize;
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        let l = &text[start..];
        let mut units = 0;
        let mut at = start;
        for ch in l.chars() {
            if units >= col || ch == '\n' {
                break;
            }
            units += ch.len_utf16();
            at += ch.len_utf8();
        }
        at
    };
    let mut spans: Vec<(usize, usize, String)> = edits
        .iter()
        .map(|e| {
            (
                offset(&e["range"]["start"]),
                offset(&e["range"]["end"]),
                e["newText"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    spans.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = text.to_string();
    for (s, e, t) in spans {
        out.replace_range(s..e, &t);
    }
    out
}

#[test]
fn code_actions_fix_findings_and_keep_comments() {
    let mut c = Client::start();
    c.initialize(None, &["utf-16"], no_policies());
    let uri = "file:///tmp/usher-e2e/fix.yaml";
    let mut text = format!(
        "{DEPLOYMENT}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - name: http # named\n    targetPort: 8080\n---\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: pdb\nspec:\n  minAvailable: 1\n"
    );
    c.open(uri, &text);
    let mut version = 1;
    let mut diags = c.diagnostics(uri, Some(1));
    let codes: Vec<&str> = diags.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes.len(), 4, "{codes:?}");
    // Apply the preferred (or first) fix of each diagnostic, one at a time, re-checking.
    let mut applied = Vec::new();
    while let Some(d) = diags.first().cloned() {
        let actions = c.request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": d["range"], "context": {"diagnostics": [d]}}),
        );
        let actions = actions.as_array().unwrap();
        let action = actions
            .iter()
            .find(|a| a["isPreferred"] == true)
            .or(actions.first())
            .unwrap_or_else(|| panic!("no fix for {d}"));
        assert_eq!(action["kind"], "quickfix");
        applied.push(action["title"].as_str().unwrap().to_string());
        let edits = action["edit"]["changes"][uri].as_array().unwrap();
        text = apply_edits(&text, edits);
        version += 1;
        c.change(uri, version, json!([{"text": text}]));
        let next = c.diagnostics(uri, Some(version));
        assert!(
            next.len() < diags.len(),
            "fix {:?} did not remove {d}: {next:?}",
            applied.last()
        );
        diags = next;
        assert!(applied.len() < 10);
    }
    assert_eq!(
        applied,
        vec![
            "Replace with `Always`",
            "Rename to `imagePullPolicy`",
            "Add missing `port`",
            "Migrate to `policy/v1`",
        ]
    );
    assert!(
        text.contains("  name: web # the web tier\n")
            && text.contains("imagePullPolicy: Always # keep\n")
    );
    assert!(
        text.contains("  - name: http # named\n    targetPort: 8080\n    port: 0\n"),
        "{text}"
    );
    assert!(text.contains("apiVersion: policy/v1\nkind: PodDisruptionBudget"));
    c.shutdown();
}

#[test]
fn bad_input_gets_clear_errors_and_the_server_keeps_running() {
    let mut c = Client::start();
    c.initialize(None, &["utf-16"], no_policies());
    let uri = "file:///tmp/usher-e2e/bad.yaml";
    c.open(uri, "apiVersion: v1\nkind: Pod\n");
    c.diagnostics(uri, Some(1));
    // Garbage, invalid JSON, a non-object, a request without `jsonrpc`.
    c.send_raw(b"this is not a header\r\n\r\n");
    c.send_raw(b"Content-Length: 5\r\n\r\n{bad}");
    c.send_raw(b"Content-Length: 5\r\n\r\n[1,2]");
    let r = {
        let body = br#"{"id":77,"method":"textDocument/hover"}"#;
        c.send_raw(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        c.send_raw(body);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let m = c.recv(deadline).expect("response to the malformed request");
            if m["id"] == 77 {
                break m;
            }
            c.notifications.push(m);
        }
    };
    assert_eq!(r["error"]["code"], -32600, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("jsonrpc"),
        "{r}"
    );
    // Unknown methods.
    let r = c.request_full("usher/noSuchMethod", json!({}));
    assert_eq!(r["error"]["code"], -32601);
    // Requests for a document that is not open.
    let r = c.request_full("textDocument/hover", json!({"textDocument": {"uri": "file:///nope.yaml"}, "position": {"line": 0, "character": 0}}));
    assert_eq!(r["error"]["code"], -32602);
    assert!(
        r["error"]["message"].as_str().unwrap().contains("not open"),
        "{r}"
    );
    // Invalid params.
    let r = c.request_full("textDocument/hover", json!({"textDocument": 3}));
    assert_eq!(r["error"]["code"], -32602);
    // Out-of-range positions clamp.
    let r = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 999, "character": 999}}),
    );
    assert!(r.is_null() || r.is_object());
    c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 4000}}),
    );
    // An edit past the end is applied at the end, with a warning in the log.
    c.change(uri, 2, json!([{"range": {"start": {"line": 50, "character": 0}, "end": {"line": 60, "character": 3}}, "text": "metadata:\n  name: p\n"}]));
    assert_eq!(
        c.text(uri).1,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
    );
    // Edits to a document that is not open are ignored.
    c.change("file:///nope.yaml", 2, json!([{"text": "x"}]));
    c.diagnostics(uri, Some(2));
    let logs: Vec<String> = c
        .notifications
        .iter()
        .filter(|m| m["method"] == "window/logMessage")
        .map(|m| m["params"]["message"].as_str().unwrap().to_string())
        .collect();
    assert!(logs.iter().any(|l| l.contains("invalid JSON")), "{logs:?}");
    assert!(
        logs.iter().any(|l| l.contains("Content-Length")),
        "{logs:?}"
    );
    assert!(logs.iter().any(|l| l.contains("past the end")), "{logs:?}");
    // Binary-looking and huge inputs are analysed without crashing.
    c.change(uri, 3, json!([{"text": "\u{0}\u{1}key: [\n".repeat(2000)}]));
    c.diagnostics(uri, Some(3));
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    c.change(uri, 4, json!([{"text": bomb}]));
    let d = c.diagnostics(uri, Some(4));
    assert!(
        d.iter()
            .any(|d| d["code"].as_str().unwrap().contains("alias")),
        "{d:?}"
    );
    // Still alive.
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}),
    );
    assert!(h.is_null() || h.is_object());
    c.shutdown();
}

#[test]
fn configuration_from_initialization_options_workspace_and_watched_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("crds")).unwrap();
    let cr = "apiVersion: platform.acme.io/v1alpha1\nkind: Database\nmetadata:\n  name: db\nspec:\n  engine: mysql\n";
    let legacy = "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: c\n";
    let mut c = Client::start();
    // initializationOptions: CRD folder and an old Kubernetes version.
    c.initialize(
        Some(root),
        &["utf-16"],
        json!({"crds": ["crds"], "kubernetesVersion": "1.20", "policies": {"bundled": false}}),
    );
    let cr_uri = uri_of(&root.join("db.yaml"));
    let legacy_uri = uri_of(&root.join("legacy.yaml"));
    c.open(&cr_uri, cr);
    c.open(&legacy_uri, legacy);
    let d = c.diagnostics(&cr_uri, Some(1));
    assert_eq!(
        d.iter()
            .map(|d| d["code"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["schema/missing-schema"]
    );
    let d = c.diagnostics(&legacy_uri, Some(1));
    assert!(d.is_empty(), "batch/v1beta1 CronJob is fine on 1.20: {d:?}");
    // The CRD appears; the client reports the file change.
    std::fs::copy(
        repo().join("fixtures/demo/crds/database-crd.yaml"),
        root.join("crds/database.yaml"),
    )
    .unwrap();
    c.notifications.clear();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": uri_of(&root.join("crds/database.yaml")), "type": 1}]}),
    );
    let d = c.diagnostics_where(&cr_uri, |codes| codes.contains(&"schema/enum"));
    assert!(
        d[0]["codeDescription"]["href"]
            .as_str()
            .unwrap()
            .ends_with("crds/database.yaml")
    );
    // workspace/configuration overrides initializationOptions.
    c.configuration = json!({"kubernetesVersion": "1.30", "policies": {"bundled": false}});
    c.notifications.clear();
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": null}),
    );
    c.diagnostics_where(&legacy_uri, |codes| codes == ["schema/removed-api"]);
    // A broken setting is reported, not fatal.
    c.configuration = json!({"kubernetesVersion": "latest"});
    c.notifications.clear();
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": null}),
    );
    let shown = c.wait_for("showMessage", |m| m["method"] == "window/showMessage");
    assert!(
        shown["params"]["message"]
            .as_str()
            .unwrap()
            .contains("not a version"),
        "{shown}"
    );
    assert_eq!(shown["params"]["type"], 1);
    // Closing clears the document's diagnostics.
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": cr_uri}}),
    );
    c.diagnostics_where(&cr_uri, |codes| codes.is_empty());
    c.shutdown();
}

#[test]
fn policy_findings_get_fixes_and_mutations_an_apply_action() {
    let dir = std::env::temp_dir().join(format!("usher-lsp-policyfix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policies = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/fix/policies.yaml")
        .canonicalize()
        .unwrap();
    let mut c = Client::start();
    c.initialize(
        None,
        &["utf-16"],
        json!({"policies": {"bundled": false, "paths": [policies]}}),
    );
    let uri = "file:///tmp/usher-e2e/policyfix.yaml";
    let mut text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/fix/deployment.yaml"),
    )
    .unwrap();
    c.open(uri, &text);
    let mut version = 1;
    let mut diags = c.diagnostics(uri, Some(1));
    let codes: Vec<&str> = diags.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(
        codes,
        [
            "add-team-label/team",
            "fix-demo/autogen-run-as-non-root",
            "fix-demo/autogen-no-host-network",
            "fix-demo/autogen-no-privileged"
        ]
    );
    assert_eq!(diags[0]["severity"], 4, "a mutation is a hint");
    // Each policy finding has a fix that removes it; the mutation is applied last.
    let mut applied = Vec::new();
    while let Some(d) = diags
        .iter()
        .find(|d| d["code"].as_str().unwrap().starts_with("fix-demo/"))
        .or(diags.first())
        .cloned()
    {
        let actions = c.request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": d["range"], "context": {"diagnostics": [d]}}),
        );
        let action = actions
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["diagnostics"][0]["code"] == d["code"])
            .unwrap_or_else(|| panic!("no fix for {d}"))
            .clone();
        applied.push(action["title"].as_str().unwrap().to_string());
        text = apply_edits(&text, action["edit"]["changes"][uri].as_array().unwrap());
        version += 1;
        c.change(uri, version, json!([{"text": text}]));
        let next = c.diagnostics(uri, Some(version));
        assert!(
            !next.iter().any(|n| n["code"] == d["code"]),
            "fix {:?} did not remove {d}: {next:?}",
            applied.last()
        );
        diags = next;
        assert!(applied.len() < 10);
    }
    assert_eq!(applied.len(), 4, "{applied:?}");
    assert!(
        applied[3].starts_with("Apply add-team-label/team"),
        "{applied:?}"
    );
    assert!(text.contains("name: web # the web tier\n"), "{text}");
    assert!(text.contains("    team: platform\n"), "{text}");
    assert!(text.contains("          privileged: false\n"), "{text}");
}

/// The embedding model installed by `scripts/setup-model.sh`, when it is there.
fn model_dir() -> Option<PathBuf> {
    let dir = repo().join(".tools/model");
    dir.join("model.onnx").is_file().then_some(dir)
}

#[test]
fn knowledge_hover_written_rule_diagnostics_and_related_rules() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let knowledge = repo().join("fixtures/demo/knowledge");
    let model = model_dir();
    if model.is_none() {
        eprintln!(
            "notice: no embedding model in .tools/model (scripts/setup-model.sh): testing the \
             words-only knowledge lookups"
        );
    }
    // A low threshold: the test is about the plumbing, not about where the default sits.
    let mut config = format!(
        "knowledge:\n  diagnostics: 0.3\n  sources:\n    - {}\n",
        knowledge.display()
    );
    match &model {
        Some(m) => config.push_str(&format!("  model: {}\n", m.display())),
        // A folder without a model: the index is words only, whatever the environment has.
        None => config.push_str(&format!("  model: {}\n", root.join("no-model").display())),
    }
    std::fs::write(root.join(".usher.yaml"), &config).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["index", "-q"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // A Deployment without an owner label, requests or limits.
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cart-worker\n  \
                namespace: shop\nspec:\n  selector:\n    matchLabels:\n      app: cart\n  \
                template:\n    metadata:\n      labels:\n        app: cart\n    spec:\n      \
                containers:\n      - name: worker\n        image: registry.shop.example/cart:1.4.2\n";
    let mut c = Client::start();
    c.initialize(Some(root), &["utf-16"], json!({}));
    // The server says which index it opened (and how: words only, or words and meaning).
    let opened = c.wait_for("the knowledge index to open", |m| {
        m["method"] == "window/logMessage"
            && m["params"]["message"]
                .as_str()
                .is_some_and(|s| s.starts_with("knowledge index"))
    });
    let how = opened["params"]["message"].as_str().unwrap();
    assert_eq!(model.is_some(), how.ends_with("words and meaning"), "{how}");
    let uri = uri_of(&root.join("deploy.yaml"));
    c.open(&uri, text);

    // Hovering `kind` (and `metadata.name`) lists the policies and written rules.
    for (line, character) in [(1, 7), (3, 9)] {
        let h = c.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
        );
        let md = h["contents"]["value"].as_str().unwrap();
        assert!(md.contains("Policies and rules for this resource"), "{md}");
        assert!(md.contains("platform-rules.md"), "{md}");
        assert_eq!(model.is_none(), md.contains("by words only"), "{md}");
    }
    // Elsewhere, no knowledge section.
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 15, "character": 10}}),
    );
    assert!(
        !h.to_string()
            .contains("Policies and rules for this resource"),
        "{h}"
    );

    if model.is_some() {
        // Written rules at least as relevant as the threshold, as Information on the kind
        // line, pointing at their source.
        let d = c.diagnostics_where(&uri, |codes| codes.contains(&"knowledge/written-rule"));
        let knowledge_uri = uri_of(&knowledge);
        for rule in d.iter().filter(|d| d["code"] == "knowledge/written-rule") {
            assert_eq!(rule["severity"], 3, "{rule}");
            assert_eq!(rule["range"]["start"]["line"], 1, "{rule}");
            let related = &rule["relatedInformation"][0];
            assert!(
                related["location"]["uri"]
                    .as_str()
                    .unwrap()
                    .starts_with(&knowledge_uri),
                "{rule}"
            );
            let message = related["message"].as_str().unwrap();
            let relevance: f32 = message
                .rsplit_once("(relevance ")
                .and_then(|(_, r)| r.trim_end_matches(')').parse().ok())
                .unwrap_or_else(|| panic!("{message}"));
            assert!(relevance >= 0.3, "{rule}");
        }
        // The Kyverno finding about requests and limits names the wiki's rule about them.
        let limits = d
            .iter()
            .find(|d| {
                d["code"]
                    .as_str()
                    .unwrap()
                    .starts_with("usher-require-requests-limits")
            })
            .expect("the bundled requests/limits policy fails");
        let related = limits["relatedInformation"].as_array().unwrap();
        assert!(
            related.iter().any(
                |r| r["message"].as_str().unwrap().starts_with("written rule")
                    && r["location"]["uri"]
                        .as_str()
                        .unwrap()
                        .ends_with("platform-rules.md")
                    && r["location"]["range"]["start"]["line"].as_u64().unwrap() > 0
            ),
            "{limits}"
        );
    } else {
        // Without the model no relevance is known: no written-rule diagnostics.
        let d = c.diagnostics(&uri, Some(1));
        assert!(
            d.iter().all(|d| d["code"] != "knowledge/written-rule"),
            "{d:?}"
        );
    }
    c.shutdown();
}

/// The language server starts from the cluster cache (diagnostics from the cluster's CRDs and
/// policies), refreshes it in the background with work-done progress, and when the cluster
/// refuses it keeps the cache and says how old it is.
#[test]
fn cluster_cache_at_start_background_refresh_with_progress_and_offline_message() {
    let dir = repo().join("fixtures/cluster");
    let server = apiserver::ApiServer::start(apiserver::ClusterData::from_files(
        "v1.29.3",
        &dir.join("openapi"),
        &[dir.join("crds.yaml"), dir.join("objects.yaml")],
    ));
    let cache = tempfile::tempdir().unwrap();
    let kubeconfig = server.kubeconfig();
    let env: Vec<(&str, &std::ffi::OsStr)> = vec![
        ("USHER_CACHE_DIR", cache.path().as_os_str()),
        ("KUBECONFIG", kubeconfig.as_os_str()),
        ("HOME", cache.path().as_os_str()),
    ];
    let refreshed = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["cluster", "refresh", "--no-config"])
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .output()
        .unwrap();
    assert!(refreshed.status.success(), "{refreshed:?}");
    let path = dir.join("manifests/app.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let uri = uri_of(&path);
    let init = |c: &mut Client| {
        let params = json!({
            "processId": null,
            "rootUri": null,
            "initializationOptions": {"policies": {"bundled": false}},
            "capabilities": {"window": {"workDoneProgress": true}}
        });
        c.request("initialize", params);
        c.notify("initialized", json!({}));
    };

    let mut c = Client::start_with_env(&env);
    init(&mut c);
    c.open(&uri, &text);
    let diags = c.diagnostics_where(&uri, |codes| {
        codes.contains(&"require-team-label/check-team")
            && codes.contains(&"schema/validation-rule")
            && codes.contains(&"replica-limit")
    });
    assert!(
        diags.iter().any(|d| d["message"]
            .as_str()
            .unwrap()
            .contains("ap-south-1 is not allowed")),
        "{diags:#?}"
    );
    let begin = c.wait_for("progress begin", |m| {
        m["method"] == "$/progress" && m["params"]["value"]["kind"] == "begin"
    });
    assert_eq!(
        begin["params"]["value"]["title"],
        "usher: reading cluster test"
    );
    let end = c.wait_for("progress end", |m| {
        m["method"] == "$/progress" && m["params"]["value"]["kind"] == "end"
    });
    let done = end["params"]["value"]["message"].as_str().unwrap();
    assert!(done.contains("nothing changed"), "{done}");
    c.shutdown();

    // The cluster now refuses the credentials: the cache stays in use, one message says so.
    // No document is open when the cache is read, so the CRDs come in a second step (first
    // those of the open documents' groups: none), and a document opened then gets them.
    server.set_token("rotated");
    let mut c = Client::start_with_env(&env);
    init(&mut c);
    let log = |c: &mut Client, what: &str, needle: &'static str| {
        let m = c.wait_for(what, |m| {
            m["method"] == "window/logMessage"
                && m["params"]["message"]
                    .as_str()
                    .is_some_and(|t| t.contains(needle))
        });
        m["params"]["message"].as_str().unwrap().to_string()
    };
    let using = log(&mut c, "the cache in use", "using the cluster test");
    assert!(using.contains("first the 0 CRDs"), "{using}");
    let all = log(&mut c, "the rest of the CRDs", "CRDs read in");
    assert!(all.contains("all 1 CRDs"), "{all}");
    c.open(&uri, &text);
    c.diagnostics_where(&uri, |codes| {
        codes.contains(&"require-team-label/check-team")
            && codes.contains(&"schema/validation-rule")
    });
    let shown = c.wait_for("the offline message", |m| {
        m["method"] == "window/showMessage"
            && m["params"]["message"]
                .as_str()
                .is_some_and(|t| t.contains("cluster test"))
    });
    let message = shown["params"]["message"].as_str().unwrap();
    assert!(
        message.contains("401") && message.contains("cache of") && message.contains("ago"),
        "{message}"
    );
    c.shutdown();
}
