//! End-to-end tests of the cluster layer: the real `usher` binary and its `kube` client against
//! a loopback HTTPS API server (tests/support/apiserver.rs) serving fixtures/cluster, with a test
//! CA, a bearer token or a client certificate, and injected faults.

mod support {
    pub mod apiserver;
}

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value as Json;
use support::apiserver::{ApiServer, ClusterData, Fault};

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn fixture_server() -> ApiServer {
    let dir = root().join("fixtures/cluster");
    ApiServer::start(ClusterData::from_files(
        "v1.29.3",
        &dir.join("openapi"),
        &[dir.join("crds.yaml"), dir.join("objects.yaml")],
    ))
}

/// A sandbox: its own cache folder and HOME, the server's kubeconfig.
struct Env {
    cache: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Env {
    fn new(server: &ApiServer) -> Env {
        Env {
            cache: tempfile::tempdir().unwrap(),
            kubeconfig: server.kubeconfig(),
        }
    }

    fn usher(&self, args: &[&str]) -> Output {
        self.command(&root(), args).output().expect("usher runs")
    }

    /// `usher ARGS` in `dir`, with this sandbox's cache, HOME and kubeconfig.
    fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_usher"));
        c.args(args)
            .current_dir(dir)
            .env("USHER_CACHE_DIR", self.cache.path())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.cache.path())
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("USHER_MODEL_DIR");
        c
    }

    fn status(&self, context: &str) -> Json {
        let o = self.usher(&[
            "cluster",
            "status",
            "--json",
            "--no-config",
            "--context",
            context,
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let all: Json = serde_json::from_slice(&o.stdout).unwrap();
        all["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["context"] == context)
            .cloned()
            .unwrap_or(Json::Null)
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn refresh(env: &Env, context: &str) -> Output {
    env.usher(&["cluster", "refresh", "--no-config", "--context", context])
}

#[test]
fn refresh_then_check_uses_the_clusters_schemas_policies_and_version() {
    let server = fixture_server();
    let env = Env::new(&server);
    let o = refresh(&env, "test");
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cluster test (v1.29.3)"), "{err}");
    assert!(
        err.contains("1 CRDs") && err.contains("3 OpenAPI documents (3 fetched, 0 unchanged)"),
        "{err}"
    );

    let s = env.status("test");
    assert_eq!(s["cached"], true, "{s}");
    assert_eq!(s["version"], "v1.29.3");
    assert_eq!(s["crds"], 1);
    assert_eq!(
        s["policies"], 4,
        "2 ClusterPolicies, a VAP and its binding: {s}"
    );
    assert_eq!(s["namespaces"], 2);
    assert_eq!(s["policy_reports"], 1);
    assert_eq!(s["problems"].as_array().unwrap().len(), 0, "{s}");

    // `check` reads the cache only: no request reaches the server.
    server.clear_log();
    let o = env.usher(&[
        "check",
        "--no-config",
        "--no-bundled-policies",
        "--format",
        "json",
        "fixtures/cluster/manifests/app.yaml",
    ]);
    assert_eq!(
        server.requests().len(),
        0,
        "check sent requests: {:?}",
        server.requests()
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: Json = serde_json::from_slice(&o.stdout).unwrap();
    let findings: Vec<(u64, String, String)> = report["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["start"]["line"].as_u64().unwrap(),
                f["code"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |code: &str, words: &str| {
        findings
            .iter()
            .any(|(_, c, m)| c == code && m.contains(words))
    };
    // The cluster's ClusterPolicy (pattern) and its VAP with binding (Deny).
    assert!(
        has("require-team-label/check-team", "team label"),
        "{findings:#?}"
    );
    assert!(has("replica-limit", "at most 5 replicas"), "{findings:#?}");
    // The cluster's CRD with its CEL rule, and the ConfigMap its policy reads.
    assert!(has("schema/validation-rule", "500 GB"), "{findings:#?}");
    assert!(
        has(
            "database-regions/allowed-region",
            "ap-south-1 is not allowed; allowed regions: us-east-1,eu-west-1"
        ),
        "{findings:#?}"
    );
    // An aggregated API's kind, known only from the cluster's OpenAPI document.
    assert!(
        findings
            .iter()
            .any(|(_, c, m)| c.starts_with("schema/") && m.contains("objective")),
        "{findings:#?}"
    );
    // Removed APIs are judged against the cluster's version (1.29: FlowSchema v1beta3 is only
    // deprecated there; it is removed in 1.32).
    assert!(
        findings
            .iter()
            .any(|(_, c, m)| c.contains("deprecated") && m.contains("v1beta3")),
        "{findings:#?}"
    );
    assert!(
        !findings.iter().any(|(_, c, _)| c.contains("removed")),
        "{findings:#?}"
    );

    // --no-cluster: the built-in view (no cluster policy, FlowSchema v1beta3 removed).
    let o = env.usher(&[
        "check",
        "--no-config",
        "--no-bundled-policies",
        "--no-cluster",
        "--format",
        "json",
        "fixtures/cluster/manifests/app.yaml",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains("require-team-label") && out.contains("removed"),
        "{out}"
    );

    // Every request of the refresh was a GET (get, list, discovery): usher never writes.
    let o = refresh(&env, "test");
    assert!(o.status.success(), "{}", text(&o));
    let log = server.requests();
    assert!(!log.is_empty());
    assert!(log.iter().all(|r| r.method == "GET"), "{log:?}");
}

#[test]
fn an_unchanged_cluster_costs_no_document_and_a_changed_document_is_fetched_alone() {
    let server = fixture_server();
    let env = Env::new(&server);
    assert!(refresh(&env, "test").status.success());
    server.clear_log();
    let o = refresh(&env, "test");
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("(0 fetched, 3 unchanged)") && err.contains("nothing changed"),
        "{err}"
    );
    let docs: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.uri.starts_with("/openapi/v3/"))
        .map(|r| r.uri)
        .collect();
    assert!(docs.is_empty(), "{docs:?}");
    // CRD group-versions are read from the CRDs, never from their OpenAPI documents; and the
    // CRDs, already cached, are listed by their metadata only.
    assert!(
        !server
            .requests()
            .iter()
            .any(|r| r.uri.contains("db.example.io"))
    );
    let crd_lists: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.uri.starts_with(CRDS))
        .collect();
    assert!(
        crd_lists.len() == 1 && crd_lists[0].accept.contains("as=PartialObjectMetadataList"),
        "{crd_lists:?}"
    );

    // One CRD changes: it alone is read again, and the cache has the new version.
    let mut crd = support::apiserver::read_objects(&root().join("fixtures/cluster/crds.yaml"))
        .into_iter()
        .find(|o| o["kind"] == "CustomResourceDefinition")
        .unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["storageGB"]
        ["description"] = "Disk size in GiB (changed).".into();
    server.update_list_item(CRDS, crd);
    server.clear_log();
    let o = refresh(&env, "test");
    assert!(o.status.success(), "{}", text(&o));
    let crd_reads: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.uri.starts_with(CRDS))
        .map(|r| r.uri)
        .collect();
    assert_eq!(
        crd_reads,
        [
            format!("{CRDS}?limit=500"),
            format!("{CRDS}/postgresdatabases.db.example.io")
        ],
        "{}",
        text(&o)
    );
    // The CRDs are stored one per line in crds-<hash>.jsonl beside snapshot.json.
    let context_dir = std::fs::read_dir(env.cache.path().join("clusters"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|d| d.path())
        .find(|p| p.join("snapshot.json").is_file())
        .unwrap();
    let crd_files: Vec<String> = std::fs::read_dir(&context_dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("crds-") && n.ends_with(".jsonl"))
        .collect();
    assert_eq!(
        crd_files.len(),
        1,
        "only the current CRD file: {crd_files:?}"
    );
    assert!(
        std::fs::read_to_string(context_dir.join(&crd_files[0]))
            .unwrap()
            .contains("Disk size in GiB (changed)."),
        "the cache holds the changed CRD"
    );

    let mut doc: Json = serde_json::from_slice(
        &std::fs::read(
            root().join("fixtures/cluster/openapi/apis__slo.example.io__v1_openapi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    doc["components"]["schemas"]["io.example.slo.v1.ServiceLevel"]["description"] =
        "changed".into();
    server.set_openapi_document("apis/slo.example.io/v1", &doc);
    server.clear_log();
    let o = refresh(&env, "test");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("(1 fetched, 2 unchanged)"), "{err}");
    let docs: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.uri.starts_with("/openapi/v3/"))
        .map(|r| r.uri)
        .collect();
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert!(
        docs[0].starts_with("/openapi/v3/apis/slo.example.io/v1?hash="),
        "{docs:?}"
    );
}

#[test]
fn client_certificates_legacy_discovery_and_paged_lists_work() {
    let server = fixture_server();
    server.set_aggregated_discovery(false);
    // Enough CRDs for three pages of 500.
    let many: Vec<Json> = (0..1_100)
        .map(|i| {
            serde_json::json!({
                "metadata": {"name": format!("widgets{i}.w{i}.example.io")},
                "spec": {"group": format!("w{i}.example.io"), "scope": "Namespaced",
                    "names": {"kind": format!("Widget{i}"), "plural": format!("widgets{i}")},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}
            })
        })
        .collect();
    server.add_list_items(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        many,
    );
    let env = Env::new(&server);
    let o = refresh(&env, "test-cert");
    assert!(o.status.success(), "{}", text(&o));
    let s = env.status("test-cert");
    assert_eq!(s["crds"], 1_101, "{s}");
    assert_eq!(s["policies"], 4, "{s}");
    // Legacy discovery lists the built-in group-versions one by one; resource types of CRDs
    // come from the CRDs.
    assert!(s["resource_types"].as_u64().unwrap() >= 1_101 + 4, "{s}");
    let log = server.requests();
    let pages = log
        .iter()
        .filter(|r| {
            r.uri
                .starts_with("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        })
        .count();
    assert_eq!(pages, 3, "{log:?}");
    assert!(
        log.iter().any(|r| r.uri == "/apis/apps/v1"),
        "legacy discovery of apps/v1"
    );
    assert!(
        !log.iter().any(|r| r.uri == "/apis/w7.example.io/v1"),
        "no discovery request per CRD group"
    );
    assert!(
        log.iter().all(|r| r.authorized),
        "the client certificate is accepted"
    );
}

#[test]
fn refused_and_unreachable_clusters_keep_the_cache_and_say_how_old_it_is() {
    let server = fixture_server();
    let env = Env::new(&server);
    assert!(refresh(&env, "test").status.success());
    let before = env.status("test");

    // 401 everywhere: nothing is written, the cache stays.
    server.set_token("rotated");
    let o = refresh(&env, "test");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("401") && err.contains("credentials of context 'test'"),
        "{err}"
    );
    assert!(err.contains("stays in use"), "{err}");
    let after = env.status("test");
    assert_eq!(after["crds"], before["crds"]);
    assert_eq!(after["policies"], before["policies"]);

    // A context with the wrong token and no cache: an error, and no cache is made.
    let o = refresh(&env, "test-bad-token");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(env.status("test-bad-token")["cached"], false);

    // Nothing listens: the error names the server, quickly.
    let started = std::time::Instant::now();
    let o = refresh(&env, "test-no-server");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot reach the API server"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));

    // `check` with the cache of an unreachable context still works.
    server.set_token(&server.token);
    let o = env.usher(&[
        "check",
        "--no-config",
        "--no-bundled-policies",
        "--context",
        "test",
        "fixtures/cluster/manifests/app.yaml",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("require-team-label"),
        "{}",
        text(&o)
    );
    // A context without a cache, named explicitly: a clear error.
    let o = env.usher(&[
        "check",
        "--no-config",
        "--context",
        "test-cert",
        "fixtures/cluster/manifests/app.yaml",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("has no cluster cache yet"),
        "{}",
        text(&o)
    );
}

#[test]
fn partial_failures_keep_the_rest_and_what_the_cache_had() {
    let server = fixture_server();
    let env = Env::new(&server);
    assert!(refresh(&env, "test").status.success());

    // 403 on one group, 500 on one document, a truncated CRD list, a non-JSON namespace list,
    // a slow policy-report list (over the 2 s limit set below).
    server.fault("/apis/kyverno.io/", Fault::Status(403));
    server.fault("/openapi/v3/apis/apps/v1", Fault::Status(500));
    server.fault("/apis/apiextensions.k8s.io/", Fault::Truncate);
    server.fault("/api/v1/namespaces", Fault::NotJson);
    server.fault(
        "/apis/wgpolicyk8s.io/",
        Fault::Delay(Duration::from_secs(6)),
    );
    // The apps/v1 document changed meanwhile, so the 500 is met (an unchanged one is reused).
    let mut apps: Json = serde_json::from_slice(
        &std::fs::read(root().join("fixtures/cluster/openapi/apis__apps__v1_openapi.json"))
            .unwrap(),
    )
    .unwrap();
    apps["info"]["version"] = "v1.29.4".into();
    server.set_openapi_document("apis/apps/v1", &apps);
    let config = env.cache.path().join("usher.yaml");
    std::fs::write(&config, "cluster:\n  timeoutSeconds: 2\n").unwrap();
    let o = env.usher(&[
        "cluster",
        "refresh",
        "--config",
        config.to_str().unwrap(),
        "--context",
        "test",
    ]);
    assert!(
        o.status.success(),
        "partial results are a success with warnings: {}",
        text(&o)
    );
    if std::env::var_os("USHER_TEST_SHOW").is_some() {
        eprintln!("{}", text(&o));
        let o = env.usher(&[
            "check",
            "--no-config",
            "--no-bundled-policies",
            "fixtures/cluster/manifests/app.yaml",
        ]);
        eprintln!("{}", text(&o));
        let o = env.usher(&["cluster", "status", "--no-config"]);
        eprintln!("{}", text(&o));
    }
    let err = String::from_utf8_lossy(&o.stderr);
    for needle in [
        "list clusterpolicies.kyverno.io: 403 Forbidden",
        "GET /openapi/v3/apis/apps/v1: 500",
        "list customresourcedefinitions: invalid answer: the JSON ends early",
        "list namespaces: invalid answer: not JSON",
        "no answer within 2 s",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    let s = env.status("test");
    assert_eq!(s["problems"].as_array().unwrap().len(), 6, "{s}");
    // What failed is kept from the previous cache: CRDs, ClusterPolicies, namespaces, reports,
    // the apps/v1 document.
    assert_eq!(s["crds"], 1, "{s}");
    assert_eq!(s["policies"], 4, "{s}");
    assert_eq!(s["namespaces"], 2, "{s}");
    assert_eq!(s["policy_reports"], 1, "{s}");
    assert_eq!(s["openapi_documents"], 3, "{s}");
    let o = env.usher(&[
        "check",
        "--no-config",
        "--no-bundled-policies",
        "fixtures/cluster/manifests/app.yaml",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("require-team-label") && out.contains("500 GB"),
        "{}",
        text(&o)
    );
    assert!(
        out.contains("ap-south-1 is not allowed"),
        "the ConfigMap is kept too: {}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("could not read 6 part(s)"),
        "{}",
        text(&o)
    );

    // Once the faults are gone, a refresh is clean again.
    server.clear_faults();
    let o = refresh(&env, "test");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(env.status("test")["problems"].as_array().unwrap().len(), 0);
}

/// `usher index --cluster` puts the cluster's kinds and policies in the knowledge index (a
/// second run with nothing changed is a no-op), and `usher mcp` answers from the cluster cache.
#[test]
fn the_clusters_kinds_and_policies_reach_the_index_and_the_mcp_tools() {
    let server = fixture_server();
    let env = Env::new(&server);
    // A folder without .tools/model above it: words only, no embedding model to load.
    let work = tempfile::tempdir().unwrap();
    let index = |extra: &[&str]| {
        let mut args = vec![
            "index",
            "--no-config",
            "--no-bundled-policies",
            "--index-dir",
            "idx",
            "--cluster",
            "--context",
            "test",
        ];
        args.extend_from_slice(extra);
        env.command(work.path(), &args).output().unwrap()
    };
    let o = index(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cluster test (v1.29.3)"), "{err}");
    assert!(err.contains("indexed "), "{err}");

    let search = |query: &str, source_type: &str| -> Vec<Json> {
        let o = env
            .command(
                work.path(),
                &[
                    "search",
                    "--no-config",
                    "--index-dir",
                    "idx",
                    "--source-type",
                    source_type,
                    "-k",
                    "3",
                    "--json",
                    query,
                ],
            )
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let out: Json = serde_json::from_slice(&o.stdout).unwrap();
        out.as_array().cloned().unwrap_or_default()
    };
    let kinds = search("managed postgres database", "kind");
    assert!(
        kinds
            .first()
            .is_some_and(|k| k.to_string().contains("PostgresDatabase")),
        "{kinds:#?}"
    );
    let policies = search("every workload needs a team label", "policy");
    assert!(
        policies
            .iter()
            .any(|p| p.to_string().contains("require-team-label")),
        "{policies:#?}"
    );

    // Nothing changed in the cluster or the sources: the index stays as it is.
    let o = index(&["--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = index(&[]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("up to date"),
        "{}",
        text(&o)
    );

    // usher mcp reads the same cache (never the cluster): the CRD is explained and found.
    server.clear_log();
    let mut child = env
        .command(
            work.path(),
            &[
                "mcp",
                "--no-config",
                "--context",
                "test",
                "--audit-log",
                "audit.jsonl",
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ask = |id: u64, method: &str, params: Json| -> Json {
        let msg =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(stdin, "{msg}").unwrap();
        if method == "initialize" {
            let note = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            // Sent after the answer is read, below.
            let answer = read_answer(&mut stdout, id);
            writeln!(stdin, "{note}").unwrap();
            return answer;
        }
        read_answer(&mut stdout, id)
    };
    ask(
        1,
        "initialize",
        serde_json::json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "cluster-test", "version": "1"}
        }),
    );
    let explained = ask(
        2,
        "tools/call",
        serde_json::json!({"name": "explain", "arguments": {"apiVersion": "db.example.io/v1", "kind": "PostgresDatabase", "path": "spec.storageGB"}}),
    );
    let e = &explained["result"]["structuredContent"];
    assert!(
        e.to_string().contains("Disk size in GB") && e.to_string().contains("cluster test"),
        "{explained:#}"
    );
    let found = ask(
        3,
        "tools/call",
        serde_json::json!({"name": "find_kinds", "arguments": {"query": "managed postgres database", "k": 3}}),
    );
    assert_eq!(
        found["result"]["structuredContent"]["results"][0]["kind"], "PostgresDatabase",
        "{found:#}"
    );
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("using the cluster test"), "{err}");
    assert!(
        server.requests().is_empty(),
        "usher mcp sent requests: {:?}",
        server.requests()
    );
}

/// Reads JSON-RPC lines until the answer to `id`.
fn read_answer(out: &mut impl BufRead, id: u64) -> Json {
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "the server closed its output before answering {id}");
        let Ok(msg) = serde_json::from_str::<Json>(&line) else {
            continue;
        };
        if msg["id"] == id {
            return msg;
        }
    }
}
