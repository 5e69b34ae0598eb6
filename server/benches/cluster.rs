//! Benchmark of the cluster layer against a loopback HTTPS API server serving ~1,000 real CRDs
//! (`../shared/corpus/crds`) and the real Kubernetes 1.35 OpenAPI v3 documents
//! (`../shared/corpus/openapi/v1.35`): `usher index --cluster` cold (fetch, parse, schema
//! catalog, kind documents, embeddings, index) and warm (nothing changed), with wall time and
//! peak RSS, and how soon the language server answers from the cache. Prints figures; asserts
//! nothing.
//!
//! Run: `cargo bench -p usher --bench cluster` (embeddings need the model: `make setup`).

#[path = "../../tests/support/apiserver.rs"]
mod apiserver;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs `usher` with `args`; returns (wall time, peak RSS in MiB, stderr).
fn run(args: &[&str], env: &[(&str, &Path)]) -> (Duration, f64, String) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(args)
        .current_dir(root())
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("usher runs");
    let pid = child.id();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut peak_kb = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    (elapsed, peak_kb as f64 / 1024.0, reader.join().unwrap())
}

fn frame(msg: &Json) -> Vec<u8> {
    let body = serde_json::to_vec(msg).unwrap();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend(body);
    out
}

/// Starts `usher lsp`, opens `text`, and returns the times from the start to the first
/// diagnostics, to diagnostics that satisfy `with_cluster`, and to the log message saying the
/// schemas of all the cluster's CRDs are in use (the server reads those of the open
/// documents' groups first).
fn lsp_times(
    env: &[(&str, &Path)],
    uri: &str,
    text: &str,
    with_cluster: impl Fn(&[Json]) -> bool,
) -> (Duration, Option<Duration>, Option<Duration>) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
        .arg("lsp")
        .current_dir(root())
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(
            std::fs::File::create(std::env::temp_dir().join("usher-bench-cluster-lsp.log"))
                .map_or(Stdio::null(), Stdio::from),
        )
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": null, "rootUri": null, "capabilities": {}, "initializationOptions": {"policies": {"bundled": false}}}});
    stdin.write_all(&frame(&initialize)).unwrap();
    stdin.flush().unwrap();
    // A reader thread, so that a server that goes quiet cannot hang the benchmark.
    let (tx, rx) = std::sync::mpsc::channel::<Json>();
    std::thread::spawn(move || {
        loop {
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if out.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some(v) = line.strip_prefix("Content-Length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if out.read_exact(&mut body).is_err() {
                return;
            }
            if tx
                .send(serde_json::from_slice(&body).unwrap_or(Json::Null))
                .is_err()
            {
                return;
            }
        }
    });
    // Nothing else may be sent before the initialize answer (the server drops it).
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Ok(msg) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if msg["id"] == 1 {
            break;
        }
    }
    for m in [
        json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}}),
    ] {
        stdin.write_all(&frame(&m)).unwrap();
    }
    stdin.flush().unwrap();
    let mut first = None;
    let mut full = None;
    let mut all_crds = None;
    let mut read_all = false;
    let mut last = Vec::new();
    let mut seen = Vec::new();
    while let Ok(msg) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        seen.push(format!(
            "{} {}",
            msg["method"].as_str().unwrap_or("response"),
            msg["params"]["message"].as_str().unwrap_or_default()
        ));
        // "… all N CRDs read in …", then "cluster C: K kinds, Kubernetes V" once they are in use.
        if msg["method"] == "window/logMessage" {
            let m = msg["params"]["message"].as_str().unwrap_or_default();
            if m.contains("CRDs read in") {
                read_all = true;
            } else if read_all && m.contains(" kinds, Kubernetes ") {
                all_crds = Some(start.elapsed());
            }
        }
        if full.is_some() && all_crds.is_some() {
            break;
        }
        if msg["method"] == "textDocument/publishDiagnostics" && full.is_none() {
            let at = start.elapsed();
            first.get_or_insert(at);
            let diagnostics = msg["params"]["diagnostics"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if with_cluster(&diagnostics) {
                full = Some(at);
                if all_crds.is_some() {
                    break;
                }
            }
            last = diagnostics;
        }
    }
    if full.is_none() {
        println!(
            "  (no diagnostics with the cluster's schemas; the last ones: {}; messages: {seen:?})",
            Json::Array(last)
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    (first.unwrap_or_default(), full, all_crds)
}

fn main() {
    let corpus = root().join("../shared/corpus");
    let (crds, openapi) = (corpus.join("crds"), corpus.join("openapi/v1.35"));
    if !crds.is_dir() || !openapi.is_dir() {
        println!("notice: ../shared/corpus is absent; the cluster benchmark is skipped");
        return;
    }
    let t = Instant::now();
    let data = apiserver::ClusterData::from_files("v1.35.0", &openapi, &[crds]);
    let served = (data.crds.len(), data.openapi.len());
    let server = apiserver::ApiServer::start(data);
    println!(
        "served: {} CRDs and {} OpenAPI v3 documents (Kubernetes 1.35) over loopback HTTPS (set up in {:.1} s)",
        served.0,
        served.1,
        t.elapsed().as_secs_f64()
    );
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let index = work.path().join("index");
    let kubeconfig = server.kubeconfig();
    let env: Vec<(&str, &Path)> = vec![
        ("USHER_CACHE_DIR", cache.as_path()),
        ("KUBECONFIG", kubeconfig.as_path()),
    ];
    let index_arg = index.to_str().unwrap();
    // USHER_BENCH_ONLY=lsp: only a refresh to make the cache, then the language server part.
    if std::env::var("USHER_BENCH_ONLY").is_ok_and(|v| v == "lsp") {
        let (t, rss, log) = run(&["cluster", "refresh", "--no-config"], &env);
        println!(
            "usher cluster refresh: {:.2} s, peak RSS {rss:.0} MiB\n  {}",
            t.as_secs_f64(),
            log.trim()
        );
        lsp_part(&env, work.path(), served.0);
        if std::env::var_os("USHER_BENCH_KEEP").is_some() {
            println!("kept {}", work.keep().display());
        }
        return;
    }
    let args = [
        "index",
        "--cluster",
        "--no-config",
        "--index-dir",
        index_arg,
    ];
    let (cold, cold_rss, log) = run(&args, &env);
    let summary = log
        .lines()
        .filter(|l| l.starts_with("cluster ") || l.starts_with("indexed") || l.contains("notice"))
        .collect::<Vec<_>>()
        .join("\n  ");
    println!(
        "usher index --cluster, cold: {:.2} s, peak RSS {cold_rss:.0} MiB\n  {summary}",
        cold.as_secs_f64()
    );
    let requests = server.requests().len();
    server.clear_log();
    let (warm, warm_rss, log) = run(&args, &env);
    let summary = log
        .lines()
        .filter(|l| l.starts_with("cluster ") || l.starts_with("index") || l.contains("notice"))
        .collect::<Vec<_>>()
        .join("\n  ");
    println!(
        "usher index --cluster, nothing changed: {:.2} s, peak RSS {warm_rss:.0} MiB, {} requests (cold: {requests})\n  {summary}",
        warm.as_secs_f64(),
        server.requests().len()
    );

    lsp_part(&env, work.path(), served.0);
}

/// The language server from the cache: a custom resource of a corpus CRD with an unknown
/// field, so that the finding shows the cluster's schema is in use.
fn lsp_part(env: &[(&str, &Path)], work: &Path, crds: usize) {
    let text = "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  secretName: web-tls\n  issuerRef: {name: letsencrypt, kind: ClusterIssuer}\n  dnsNames: [shop.example.com]\n  renewBeforeDays: 3\n";
    let file = work.join("cert.yaml");
    std::fs::write(&file, text).unwrap();
    let uri = format!("file://{}", file.display());
    let mut firsts = Vec::new();
    let mut fulls = Vec::new();
    let mut alls = Vec::new();
    for _ in 0..5 {
        let (first, full, all) = lsp_times(env, &uri, text, |d| {
            d.iter().any(|x| {
                x["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("renewBeforeDays"))
            })
        });
        firsts.push(first);
        if let Some(f) = full {
            fulls.push(f);
        }
        alls.extend(all);
    }
    firsts.sort();
    fulls.sort();
    alls.sort();
    let spread = |v: &[Duration]| match (v.first(), v.get(v.len() / 2), v.last()) {
        (Some(lo), Some(mid), Some(hi)) => {
            format!("{mid:.1?} (median of {}; {lo:.1?}–{hi:.1?})", v.len())
        }
        _ => "— (not seen)".to_string(),
    };
    println!(
        "usher lsp from the cache ({crds} CRDs): first diagnostics after {}, diagnostics with the cluster's schemas after {}, every CRD in use after {}",
        spread(&firsts),
        spread(&fulls),
        spread(&alls)
    );
}
