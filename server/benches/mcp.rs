//! Benchmark of `usher mcp` as an agent sees it: the real binary over stdio (JSON-RPC lines),
//! on a copy of the demo workspace with its knowledge index (embedded when the model is
//! installed). Prints figures; asserts nothing.
//!
//! - start: process spawn to the `initialize` answer, and to the first `search_policies`
//!   answer (the knowledge index opened, the model loaded);
//! - `check_manifest` on a 200-line manifest (five resources): a new manifest each call with
//!   new names (every resource analysed and looked up in the knowledge index anew; the model
//!   runs for the resources whose first 32 query tokens are new), a new manifest each call
//!   whose every resource is new to the model too (the worst case), one resource edited each
//!   call (what an agent's fix-and-recheck loop sends), and the same manifest again;
//! - `search_policies`: varied questions, hybrid ranking with the query embedding.
//!
//! Latencies are round trips (write the request, read the answer); the server-side part is
//! read from the audit log (`durationMs`).
//!
//! Run: `cargo bench -p usher --bench mcp` (or `make bench`); `USHER_BENCH_NO_MODEL=1` for an
//! index without vectors (BM25 only).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The embedding model, unless `USHER_BENCH_NO_MODEL=1` asks for BM25 only.
fn model() -> Option<PathBuf> {
    let dir = root().join(".tools/model");
    let off = std::env::var("USHER_BENCH_NO_MODEL").is_ok_and(|v| v == "1");
    (!off && dir.join("manifest.json").is_file()).then_some(dir)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == ".usher" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
}

impl Server {
    fn start(ws: &Path, audit: &Path) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_usher"));
        cmd.args(["mcp", "--audit-log"])
            .arg(audit)
            .current_dir(ws)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(model) = model() {
            cmd.env("USHER_MODEL_DIR", model);
        }
        let mut child = cmd.spawn().expect("usher mcp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Server {
            child,
            stdin,
            stdout,
            next_id: 0,
        }
    }

    fn request(&mut self, method: &str, params: Json) -> Json {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut line = serde_json::to_vec(&msg).unwrap();
        line.push(b'\n');
        self.stdin.write_all(&line).unwrap();
        self.stdin.flush().unwrap();
        let mut buf = String::new();
        loop {
            buf.clear();
            if self.stdout.read_line(&mut buf).unwrap() == 0 {
                panic!("usher mcp closed its output");
            }
            let v: Json = serde_json::from_str(&buf).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    fn initialize(&mut self) {
        self.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "0"}}),
        );
        let note = b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";
        self.stdin.write_all(note).unwrap();
        self.stdin.flush().unwrap();
    }

    fn tool(&mut self, name: &str, arguments: Json) -> Json {
        let r = self.request("tools/call", json!({"name": name, "arguments": arguments}));
        assert_ne!(r["isError"], true, "{name}: {r}");
        r
    }

    fn stop(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

/// A 200-line manifest: a Deployment with two containers, its Service, ConfigMap,
/// HorizontalPodAutoscaler and PodDisruptionBudget. `n` changes names and values in every
/// resource; `edit` changes one value of the Deployment only (an agent's next attempt);
/// `fresh` also changes the first fields of every resource, so that each resource's query is
/// new to the embedding model (which reads its first 32 tokens).
fn manifest(n: usize, edit: usize, fresh: bool) -> String {
    // The first fields: they vary with `n` only when `fresh`.
    let early = |base: usize| if fresh { base + n } else { base };
    let mut s = format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders-{n}
  namespace: shop
  labels:
    app.kubernetes.io/name: orders-{n}
    app.kubernetes.io/part-of: shop
    app.kubernetes.io/version: \"1.{n}.0\"
  annotations:
    owner: team-orders
spec:
  replicas: {r}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      app.kubernetes.io/name: orders-{n}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: orders-{n}
        app.kubernetes.io/part-of: shop
    spec:
      serviceAccountName: orders
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: api
          image: registry.example.com/shop/orders:1.{n}.0
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: 8080
            - name: metrics
              containerPort: 9090
          env:
            - name: LOG_LEVEL
              value: level-{edit}
            - name: DB_HOST
              valueFrom:
                configMapKeyRef:
                  name: orders-{n}-config
                  key: db.host
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: orders-db
                  key: password
          resources:
            requests:
              cpu: 250m
              memory: 256Mi
            limits:
              memory: 512Mi
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
          readinessProbe:
            httpGet:
              path: /ready
              port: http
            periodSeconds: 5
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [ALL]
          volumeMounts:
            - name: tmp
              mountPath: /tmp
        - name: proxy
          image: registry.example.com/shop/proxy:2.{n}
          ports:
            - name: proxy
              containerPort: 8443
          resources:
            requests:
              cpu: 50m
              memory: 64Mi
            limits:
              memory: 128Mi
          livenessProbe:
            tcpSocket:
              port: proxy
          readinessProbe:
            tcpSocket:
              port: proxy
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [ALL]
      volumes:
        - name: tmp
          emptyDir: {{}}
---
apiVersion: v1
kind: Service
metadata:
  name: orders-{n}
  namespace: shop
  labels:
    app.kubernetes.io/name: orders-{n}
    app.kubernetes.io/part-of: shop
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: orders-{n}
  ports:
    - name: http
      port: 80
      targetPort: http
    - name: metrics
      port: 9090
      targetPort: metrics
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: orders-{n}-config
  namespace: shop
data:
  db.host: orders-db.shop.svc
  db.port: \"5432\"
  cache.ttl: \"{n}s\"
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: orders-{n}
  namespace: shop
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: orders-{n}
  minReplicas: {min}
  maxReplicas: {max}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 70
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: orders-{n}
  namespace: shop
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: orders-{n}
",
        r = if fresh { early(2) } else { 2 + n % 3 },
        min = early(2),
        max = early(10),
    );
    // Pad with config entries to 200 lines.
    let mut i = 0;
    while s.lines().count() < 200 {
        s = s.replacen(
            "  db.host:",
            &format!(
                "  feature.{i}: \"{}\"\n  db.host:",
                if fresh && i == 0 {
                    n.to_string()
                } else {
                    (n + i).is_multiple_of(2).to_string()
                }
            ),
            1,
        );
        i += 1;
    }
    s
}

/// Said after a question: 25 variants of each, all new to the model.
const CONTEXTS: &[&str] = &[
    "in production",
    "in staging",
    "for the payments team",
    "for a batch job",
    "on the shared cluster",
    "for a public website",
    "in the eu region",
    "for internal tools",
    "for a stateful service",
    "during an incident",
    "for a new microservice",
    "for the data platform",
    "in a dev namespace",
    "for a cron job",
    "for the api gateway",
    "in the sandbox cluster",
    "for machine learning jobs",
    "for the mobile backend",
    "before a release",
    "for customer facing apps",
    "on kubernetes 1.35",
    "with helm",
    "with argo cd",
    "for a daemonset",
    "for third party software",
];

const QUESTIONS: &[&str] = &[
    "which region can a postgres database run in",
    "must containers run as root",
    "image tag latest",
    "who approves exceptions to the policies",
    "resource limits for memory",
    "liveness and readiness probes",
    "can I use hostPath volumes",
    "privileged containers",
    "default namespace",
    "required labels for deployments",
    "read only root filesystem",
    "drop all capabilities",
    "host network and host ports",
    "backups for databases",
    "pod security standards restricted",
    "how do we deploy on friday",
    "public ingress needs approval",
    "TLS certificates for services",
    "which registry can images come from",
    "replicas for production services",
];

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "  {label}: p50 {:.2?}, p99 {:.2?}, max {:.2?} ({} calls)",
        pct(&samples, 0.5),
        pct(&samples, 0.99),
        samples[samples.len() - 1],
        samples.len()
    );
}

/// Server-side durations of `tool` from the audit log.
fn audited(audit: &Path, tool: &str, skip: usize) -> Vec<Duration> {
    std::fs::read_to_string(audit)
        .unwrap()
        .lines()
        .skip(skip)
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|e| e["tool"] == tool)
        .map(|e| Duration::from_secs_f64(e["durationMs"].as_f64().unwrap() / 1e3))
        .collect()
}

/// Calls `tool` with each of `calls` and prints the round trips and the server's own times.
fn measure(
    s: &mut Server,
    audit: &Path,
    label: &str,
    tool: &str,
    calls: impl IntoIterator<Item = Json>,
) {
    let before = audit_lines(audit);
    let mut trips = Vec::new();
    for arguments in calls {
        let t = Instant::now();
        s.tool(tool, arguments);
        trips.push(t.elapsed());
    }
    summary(&format!("{label}, round trip"), trips);
    summary(
        &format!("{label}, in the server"),
        audited(audit, tool, before),
    );
}

fn audit_lines(audit: &Path) -> usize {
    std::fs::read_to_string(audit)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn main() {
    let ws_dir = tempfile::Builder::new()
        .prefix("usher-mcp-bench-")
        .tempdir()
        .unwrap();
    let ws = ws_dir.path();
    copy_dir(&root().join("fixtures/demo"), ws);
    let mut index = Command::new(env!("CARGO_BIN_EXE_usher"));
    index.args(["index", "--quiet"]).current_dir(ws);
    let embedded = model().is_some();
    if let Some(model) = model() {
        index.env("USHER_MODEL_DIR", model);
    }
    assert!(index.status().unwrap().success(), "usher index");
    let audit = ws.join("audit.jsonl");
    println!(
        "usher mcp on the demo workspace ({})",
        if embedded {
            "index with vectors: hybrid ranking"
        } else {
            "no embedding model: BM25 only"
        }
    );

    // Start: spawn → initialize answered; → first search answered (index and model loaded).
    let mut init = Vec::new();
    let mut first = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let mut s = Server::start(ws, &audit);
        s.initialize();
        init.push(t.elapsed());
        s.tool(
            "search_policies",
            json!({"query": "image tag latest", "k": 5}),
        );
        first.push(t.elapsed());
        s.stop();
    }
    println!("start:");
    summary("spawn → initialize answered", init);
    summary("spawn → first search_policies answered", first);

    let mut s = Server::start(ws, &audit);
    s.initialize();
    s.tool("search_policies", json!({"query": "warm up", "k": 5}));

    let text = manifest(0, 0, false);
    println!(
        "check_manifest on a {}-line manifest ({} resources, {} findings):",
        text.lines().count(),
        text.split("\n---\n").count(),
        s.tool("check_manifest", json!({"yaml": text}))["structuredContent"]["findings"]
            .as_array()
            .map_or(0, Vec::len)
    );
    for (fresh, label) in [
        (
            false,
            "a new manifest each call (5 resources with new names)",
        ),
        (
            true,
            "a new manifest each call, every resource new to the model too",
        ),
    ] {
        // Far from the other scenario's numbers: nothing of it is cached.
        let calls = (1..=200)
            .map(|n| json!({"yaml": manifest(if fresh { 1000 + n } else { n }, 0, fresh)}));
        measure(&mut s, &audit, label, "check_manifest", calls);
    }
    measure(
        &mut s,
        &audit,
        "the Deployment edited each call (1 changed resource)",
        "check_manifest",
        (1..=200).map(|e| json!({"yaml": manifest(0, e, false)})),
    );
    measure(
        &mut s,
        &audit,
        "same manifest again",
        "check_manifest",
        (0..300).map(|_| json!({"yaml": text})),
    );

    // Every question asked once per context: 500 questions the model has not seen (a query's
    // vector is kept by its model input, so asking the same question again skips the model).
    println!(
        "search_policies ({} questions × {} contexts):",
        QUESTIONS.len(),
        CONTEXTS.len()
    );
    let new_questions = CONTEXTS
        .iter()
        .flat_map(|c| QUESTIONS.iter().map(move |q| format!("{q} {c}")));
    measure(
        &mut s,
        &audit,
        "new questions",
        "search_policies",
        new_questions.map(|q| json!({"query": q, "k": 5})),
    );
    measure(
        &mut s,
        &audit,
        "questions asked before",
        "search_policies",
        QUESTIONS
            .iter()
            .cycle()
            .take(200)
            .map(|q| json!({"query": q, "k": 5})),
    );
    s.stop();
}
