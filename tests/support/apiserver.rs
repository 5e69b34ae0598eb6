//! A loopback HTTPS Kubernetes API server for tests and benchmarks: it serves recorded API
//! answers (version, discovery — aggregated or legacy —, `/openapi/v3` with per-document
//! hashes, paged lists, objects by name) built from OpenAPI documents, CRDs and objects, with a
//! test CA, a bearer token and client certificates, records every request, and injects faults.
//! Tests only: production code talks to real clusters.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use serde_json::{Value as Json, json};
use tokio_rustls::rustls;

/// What a request gets instead of its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// This status with a Kubernetes `Status` body.
    Status(u16),
    /// The answer, after this long.
    Delay(Duration),
    /// The first half of the answer only.
    Truncate,
    /// Something that is not JSON.
    NotJson,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub authorized: bool,
    /// The Accept header.
    pub accept: String,
}

/// A served resource: (group, version, plural, kind, namespaced).
type Served = (String, String, String, String, bool);
/// Resources by group and version: (plural, kind, namespaced).
type ByGroup = BTreeMap<String, BTreeMap<String, Vec<(String, String, bool)>>>;

struct Lists {
    api_version: String,
    kind: String,
    items: Vec<Json>,
}

struct State {
    version: Mutex<Json>,
    /// Exact path → body.
    documents: Mutex<BTreeMap<String, Vec<u8>>>,
    /// List path → items (paged with limit/continue).
    lists: Mutex<BTreeMap<String, Lists>>,
    /// Group-version paths of the OpenAPI index → (document path).
    openapi: Mutex<BTreeMap<String, String>>,
    /// Served resources: (group, version, plural, kind, namespaced).
    resources: Mutex<Vec<Served>>,
    /// Path prefix → fault (the longest matching prefix wins).
    faults: Mutex<Vec<(String, Fault)>>,
    log: Mutex<Vec<Logged>>,
    token: Mutex<String>,
    aggregated: AtomicBool,
    /// The last resourceVersion given to an object.
    resource_version: std::sync::atomic::AtomicU64,
}

/// The running server.
pub struct ApiServer {
    pub url: String,
    /// Where the CA, client certificate and kubeconfig files are.
    pub dir: tempfile::TempDir,
    pub token: String,
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// What the server serves.
#[derive(Default)]
pub struct ClusterData {
    /// `gitVersion`, e.g. `v1.29.3`.
    pub version: String,
    /// OpenAPI v3 documents: (path like `apis/apps/v1`, document).
    pub openapi: Vec<(String, Json)>,
    pub crds: Vec<Json>,
    /// Other objects (policies, namespaces, ConfigMaps, reports…), listed by kind.
    pub objects: Vec<Json>,
}

impl ClusterData {
    /// OpenAPI documents from a folder of files named as the API serves them with `/` as `__`
    /// (`apis__apps__v1_openapi.json`); YAML or JSON files of CRDs and objects.
    pub fn from_files(version: &str, openapi_dir: &Path, object_files: &[PathBuf]) -> ClusterData {
        let mut data = ClusterData {
            version: version.into(),
            ..Default::default()
        };
        let mut names: Vec<PathBuf> = std::fs::read_dir(openapi_dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        for p in names {
            let stem = p.file_name().unwrap().to_string_lossy().to_string();
            let path = stem
                .trim_end_matches(".json")
                .trim_end_matches("_openapi")
                .replace("__", "/");
            let doc: Json = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            data.openapi.push((path, doc));
        }
        for f in object_files {
            for doc in read_objects(f) {
                if doc["kind"] == "CustomResourceDefinition" {
                    data.crds.push(doc);
                } else {
                    data.objects.push(doc);
                }
            }
        }
        data
    }
}

/// Every object of a YAML file (documents separated by `---`) or a folder of them.
pub fn read_objects(path: &Path) -> Vec<Json> {
    let mut out = Vec::new();
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for d in saphyr_docs(&text) {
            if d.get("kind").is_some() {
                out.push(d);
            }
        }
    }
    out
}

fn saphyr_docs(text: &str) -> Vec<Json> {
    use saphyr::{LoadableYamlNode, Yaml};
    fn conv(y: &Yaml) -> Json {
        match y {
            Yaml::Value(s) => match s {
                saphyr::Scalar::Null => Json::Null,
                saphyr::Scalar::Boolean(b) => Json::Bool(*b),
                saphyr::Scalar::Integer(i) => json!(i),
                saphyr::Scalar::FloatingPoint(f) => json!(f.into_inner()),
                saphyr::Scalar::String(s) => Json::String(s.to_string()),
            },
            Yaml::Sequence(v) => Json::Array(v.iter().map(conv).collect()),
            Yaml::Mapping(m) => Json::Object(
                m.iter()
                    .map(|(k, v)| {
                        let key = match conv(k) {
                            Json::String(s) => s,
                            other => other.to_string(),
                        };
                        (key, conv(v))
                    })
                    .collect(),
            ),
            Yaml::Tagged(_, inner) => conv(inner),
            _ => Json::Null,
        }
    }
    Yaml::load_from_str(text)
        .unwrap_or_default()
        .iter()
        .map(conv)
        .collect()
}

/// The plural of a kind (the kinds tests use; English plurals otherwise).
pub fn plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if let Some(stem) = k.strip_suffix('y') {
        format!("{stem}ies")
    } else if k.ends_with('s') {
        format!("{k}es")
    } else {
        format!("{k}s")
    }
}

fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "ClusterPolicy"
            | "ValidatingPolicy"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "ClusterPolicyReport"
            | "CustomResourceDefinition"
            | "Node"
    )
}

fn split_api_version(api_version: &str) -> (String, String) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

fn hash_of(bytes: &[u8]) -> String {
    // FNV-1a, 64 bits, twice with different seeds: enough to tell documents apart.
    let mut a: u64 = 0xcbf29ce484222325;
    let mut b: u64 = 0x84222325cbf29ce4;
    for &x in bytes {
        a = (a ^ x as u64).wrapping_mul(0x100000001b3);
        b = (b ^ x as u64).wrapping_mul(0x100000001b3);
    }
    format!("{a:016X}{b:016X}")
}

impl ApiServer {
    /// Starts the server on a free loopback port.
    pub fn start(data: ClusterData) -> ApiServer {
        let dir = tempfile::tempdir().unwrap();
        let token = "usher-test-token-5b1d".to_string();
        let state = Arc::new(State {
            version: Mutex::new(json!({})),
            documents: Mutex::new(BTreeMap::new()),
            lists: Mutex::new(BTreeMap::new()),
            openapi: Mutex::new(BTreeMap::new()),
            resources: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            token: Mutex::new(token.clone()),
            aggregated: AtomicBool::new(true),
            resource_version: std::sync::atomic::AtomicU64::new(0),
        });
        let mut server = ApiServer {
            url: String::new(),
            dir,
            token,
            state,
            runtime: None,
        };
        server.load(data);
        let tls = server.certificates();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        server.url = format!("https://127.0.0.1:{port}");
        let state = server.state.clone();
        runtime.spawn(async move {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let client_cert = stream.get_ref().1.peer_certificates().is_some();
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(&state, req, client_cert).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        server.runtime = Some(runtime);
        server.write_kubeconfig();
        server
    }

    fn load(&mut self, data: ClusterData) {
        let st = &self.state;
        let (major, minor) = {
            let v = data.version.trim_start_matches('v');
            let mut p = v.split('.');
            (
                p.next().unwrap_or("1").to_string(),
                p.next().unwrap_or("0").to_string(),
            )
        };
        *st.version.lock().unwrap() = json!({"major": major, "minor": minor, "gitVersion": data.version, "platform": "linux/amd64"});
        let mut resources = Vec::new();
        for (path, doc) in &data.openapi {
            self.set_openapi_document(path, doc);
            // Resources of a built-in group-version: its list paths.
            let (group, version) = match path.split('/').collect::<Vec<_>>().as_slice() {
                ["api", v] => (String::new(), v.to_string()),
                ["apis", g, v] => (g.to_string(), v.to_string()),
                _ => continue,
            };
            let mut found: BTreeMap<String, (String, bool)> = BTreeMap::new();
            for (p, item) in doc["paths"].as_object().into_iter().flatten() {
                let Some(op) = item.get("get") else { continue };
                if op["x-kubernetes-action"] != "list" || p.contains("/watch/") {
                    continue;
                }
                let Some(kind) = op["x-kubernetes-group-version-kind"]["kind"].as_str() else {
                    continue;
                };
                let plural = p.rsplit('/').next().unwrap_or_default().to_string();
                let namespaced = p.contains("/namespaces/{namespace}/");
                let e = found.entry(plural).or_insert((kind.to_string(), false));
                e.1 |= namespaced;
            }
            for (plural, (kind, namespaced)) in found {
                resources.push((group.clone(), version.clone(), plural, kind, namespaced));
            }
        }
        let mut lists: BTreeMap<String, Lists> = BTreeMap::new();
        for crd in &data.crds {
            let group = crd["spec"]["group"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let kind = crd["spec"]["names"]["kind"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let plural = crd["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let namespaced = crd["spec"]["scope"] != "Cluster";
            for v in crd["spec"]["versions"].as_array().into_iter().flatten() {
                if v["served"] == false {
                    continue;
                }
                let version = v["name"].as_str().unwrap_or_default().to_string();
                resources.push((
                    group.clone(),
                    version.clone(),
                    plural.clone(),
                    kind.clone(),
                    namespaced,
                ));
                // Real servers publish CRD group-versions in /openapi/v3 too.
                let path = format!("apis/{group}/{version}");
                self.set_openapi_document(
                    &path,
                    &json!({"openapi": "3.0.0", "components": {"schemas": {}}}),
                );
            }
        }
        let mut crd_list = data.crds.clone();
        for c in crd_list.iter_mut() {
            c.as_object_mut().unwrap().remove("apiVersion");
            c.as_object_mut().unwrap().remove("kind");
            self.stamp(c);
        }
        lists.insert(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions".into(),
            Lists {
                api_version: "apiextensions.k8s.io/v1".into(),
                kind: "CustomResourceDefinitionList".into(),
                items: crd_list,
            },
        );
        for o in &data.objects {
            let kind = o["kind"].as_str().unwrap_or_default().to_string();
            let api_version = o["apiVersion"].as_str().unwrap_or_default().to_string();
            let (group, version) = split_api_version(&api_version);
            let plural = plural(&kind);
            let namespaced = !cluster_scoped(&kind);
            if !resources
                .iter()
                .any(|r| r.0 == group && r.1 == version && r.2 == plural)
            {
                resources.push((
                    group.clone(),
                    version.clone(),
                    plural.clone(),
                    kind.clone(),
                    namespaced,
                ));
            }
            let base = if group.is_empty() {
                format!("/api/{version}")
            } else {
                format!("/apis/{group}/{version}")
            };
            let mut item = o.clone();
            item.as_object_mut().unwrap().remove("apiVersion");
            item.as_object_mut().unwrap().remove("kind");
            lists
                .entry(format!("{base}/{plural}"))
                .or_insert_with(|| Lists {
                    api_version: api_version.clone(),
                    kind: format!("{kind}List"),
                    items: Vec::new(),
                })
                .items
                .push(item);
            let name = o["metadata"]["name"].as_str().unwrap_or_default();
            let by_name = match o["metadata"]["namespace"].as_str() {
                Some(ns) if namespaced => format!("{base}/namespaces/{ns}/{plural}/{name}"),
                _ => format!("{base}/{plural}/{name}"),
            };
            st.documents
                .lock()
                .unwrap()
                .insert(by_name, serde_json::to_vec(o).unwrap());
        }
        resources.sort();
        resources.dedup();
        *st.resources.lock().unwrap() = resources;
        *st.lists.lock().unwrap() = lists;
    }

    /// Serves (or replaces) the OpenAPI document of `path` (`apis/apps/v1`); its hash changes
    /// with its content, as a real server's does.
    pub fn set_openapi_document(&self, path: &str, doc: &Json) {
        let bytes = serde_json::to_vec(doc).unwrap();
        let url = format!("/openapi/v3/{path}");
        self.state
            .openapi
            .lock()
            .unwrap()
            .insert(path.to_string(), hash_of(&bytes));
        self.state.documents.lock().unwrap().insert(url, bytes);
    }

    /// Adds items to the list at `path`.
    pub fn add_list_items(&self, path: &str, items: Vec<Json>) {
        let mut lists = self.state.lists.lock().unwrap();
        if let Some(l) = lists.get_mut(path) {
            l.items.extend(items);
        }
    }

    /// Replaces the item of the same name in the list at `path` (or adds it), with a new
    /// resourceVersion, as an update on a real server.
    pub fn update_list_item(&self, path: &str, mut item: Json) {
        self.stamp(&mut item);
        let mut lists = self.state.lists.lock().unwrap();
        if let Some(l) = lists.get_mut(path) {
            let name = item["metadata"]["name"].clone();
            match l.items.iter_mut().find(|i| i["metadata"]["name"] == name) {
                Some(old) => *old = item,
                None => l.items.push(item),
            }
        }
    }

    /// Gives an object the next resourceVersion.
    fn stamp(&self, o: &mut Json) {
        let v = self.state.resource_version.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(meta) = o.get_mut("metadata").and_then(Json::as_object_mut) {
            meta.insert("resourceVersion".into(), Json::String(v.to_string()));
        }
    }

    /// Requests whose path starts with `prefix` get `fault` (until [`clear_faults`]).
    pub fn fault(&self, prefix: &str, fault: Fault) {
        self.state
            .faults
            .lock()
            .unwrap()
            .push((prefix.to_string(), fault));
    }

    pub fn clear_faults(&self) {
        self.state.faults.lock().unwrap().clear();
    }

    /// Serves aggregated discovery when asked (the default) or legacy discovery only.
    pub fn set_aggregated_discovery(&self, on: bool) {
        self.state.aggregated.store(on, Ordering::SeqCst);
    }

    /// Replaces the token the server accepts (so that the kubeconfig's token is refused).
    pub fn set_token(&self, token: &str) {
        *self.state.token.lock().unwrap() = token.to_string();
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }

    pub fn clear_log(&self) {
        self.state.log.lock().unwrap().clear();
    }

    /// The kubeconfig: contexts `test` (token, current), `test-cert` (client certificate),
    /// `test-bad-token` and `test-no-server` (a port nothing listens on).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn write_kubeconfig(&self) {
        let d = self.dir.path();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let text = format!(
            "apiVersion: v1
kind: Config
current-context: test
clusters:
- name: test
  cluster:
    server: {url}
    certificate-authority: {ca}
- name: nowhere
  cluster:
    server: https://127.0.0.1:{closed}
    certificate-authority: {ca}
users:
- name: token
  user:
    token: {token}
- name: cert
  user:
    client-certificate: {cert}
    client-key: {key}
- name: bad
  user:
    token: not-the-token
contexts:
- name: test
  context: {{cluster: test, user: token}}
- name: test-cert
  context: {{cluster: test, user: cert}}
- name: test-bad-token
  context: {{cluster: test, user: bad}}
- name: test-no-server
  context: {{cluster: nowhere, user: token}}
",
            url = self.url,
            ca = d.join("ca.pem").display(),
            cert = d.join("client.pem").display(),
            key = d.join("client-key.pem").display(),
            token = self.token,
        );
        std::fs::write(self.kubeconfig(), text).unwrap();
    }

    /// A test CA; the server's certificate (127.0.0.1, localhost) and a client certificate
    /// signed by it; the server's TLS configuration (client certificates optional).
    fn certificates(&self) -> Arc<rustls::ServerConfig> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let d = self.dir.path();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "usher test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        server_params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "usher-test-user");
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().unwrap();
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

        std::fs::write(d.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(d.join("client.pem"), client_cert.pem()).unwrap();
        std::fs::write(d.join("client-key.pem"), client_key.serialize_pem()).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(server_key.serialize_der()),
        );
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![server_cert.der().clone()], key)
            .unwrap();
        Arc::new(config)
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())))
        .unwrap()
}

fn ok(bytes: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .unwrap()
}

async fn answer(
    st: &State,
    req: Request<hyper::body::Incoming>,
    client_cert: bool,
) -> Response<Full<Bytes>> {
    let uri = req.uri().clone();
    let path = uri.path().to_string();
    let query: HashMap<String, String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let token = st.token.lock().unwrap().clone();
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let authorized = client_cert || bearer.as_deref() == Some(token.as_str());
    st.log.lock().unwrap().push(Logged {
        accept: req
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        method: req.method().to_string(),
        uri: uri.to_string(),
        authorized,
    });
    if !authorized {
        return status(401, "Unauthorized", "Unauthorized");
    }
    if req.method() != hyper::Method::GET {
        return status(405, "MethodNotAllowed", "the test server is read-only");
    }
    let fault = {
        let faults = st.faults.lock().unwrap();
        faults
            .iter()
            .filter(|(p, _)| path.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, f)| f.clone())
    };
    match &fault {
        Some(Fault::Status(code)) => {
            let reason = match code {
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "NotFound",
                500 => "InternalError",
                503 => "ServiceUnavailable",
                _ => "Unknown",
            };
            let message = match code {
                403 => format!(
                    "{} is forbidden: User \"usher-test-user\" cannot list resource at the cluster scope",
                    path.rsplit('/').next().unwrap_or_default()
                ),
                _ => format!("{reason} ({path})"),
            };
            return status(*code, reason, &message);
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        _ => {}
    }
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = route(st, &path, &query, &accept);
    match body {
        None => status(
            404,
            "NotFound",
            &format!("the server could not find the requested resource ({path})"),
        ),
        Some(bytes) => match fault {
            Some(Fault::Truncate) => ok(bytes[..bytes.len() / 2].to_vec()),
            Some(Fault::NotJson) => ok(b"<html><body>502 Bad Gateway</body></html>".to_vec()),
            _ => ok(bytes),
        },
    }
}

fn route(st: &State, path: &str, query: &HashMap<String, String>, accept: &str) -> Option<Vec<u8>> {
    let resources = st.resources.lock().unwrap().clone();
    let aggregated =
        st.aggregated.load(Ordering::SeqCst) && accept.contains("as=APIGroupDiscoveryList");
    let groups = || {
        let mut by_group: ByGroup = BTreeMap::new();
        for (g, v, plural, kind, ns) in &resources {
            by_group
                .entry(g.clone())
                .or_default()
                .entry(v.clone())
                .or_default()
                .push((plural.clone(), kind.clone(), *ns));
        }
        by_group
    };
    let to_bytes = |j: Json| Some(serde_json::to_vec(&j).unwrap());
    match path {
        "/version" => return to_bytes(st.version.lock().unwrap().clone()),
        "/api" | "/apis" => {
            let core = path == "/api";
            let all = groups();
            if aggregated {
                let items: Vec<Json> = all
                    .iter()
                    .filter(|(g, _)| g.is_empty() == core)
                    .map(|(g, versions)| {
                        // Newest version first, as a preferred version is listed.
                        let mut vs: Vec<&String> = versions.keys().collect();
                        vs.sort_by(|a, b| b.cmp(a));
                        json!({"metadata": {"name": g}, "versions": vs.iter().map(|v| json!({
                            "version": v,
                            "resources": versions[*v].iter().map(|(plural, kind, ns)| json!({
                                "resource": plural,
                                "responseKind": {"group": g, "version": v, "kind": kind},
                                "scope": if *ns { "Namespaced" } else { "Cluster" },
                                "verbs": ["get", "list", "watch"]
                            })).collect::<Vec<_>>()
                        })).collect::<Vec<_>>()})
                    })
                    .collect();
                return to_bytes(
                    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "items": items}),
                );
            }
            if core {
                let versions: Vec<&String> =
                    all.get("").map(|v| v.keys().collect()).unwrap_or_default();
                return to_bytes(json!({"kind": "APIVersions", "versions": versions}));
            }
            let groups: Vec<Json> = all
                .iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(g, versions)| {
                    let mut vs: Vec<&String> = versions.keys().collect();
                    vs.sort_by(|a, b| b.cmp(a));
                    json!({"name": g,
                        "versions": vs.iter().map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v})).collect::<Vec<_>>(),
                        "preferredVersion": {"groupVersion": format!("{g}/{}", vs[0]), "version": vs[0]}})
                })
                .collect();
            return to_bytes(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}));
        }
        "/openapi/v3" => {
            let index = st.openapi.lock().unwrap();
            let paths: serde_json::Map<String, Json> = index
                .iter()
                .map(|(p, h)| {
                    (
                        p.clone(),
                        json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={h}")}),
                    )
                })
                .collect();
            return to_bytes(json!({"paths": paths}));
        }
        _ => {}
    }
    if let Some(b) = st.documents.lock().unwrap().get(path) {
        return Some(b.clone());
    }
    if let Some(l) = st.lists.lock().unwrap().get(path) {
        let limit: usize = query
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(usize::MAX);
        let start: usize = query
            .get("continue")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let end = start.saturating_add(limit).min(l.items.len());
        let items = &l.items[start.min(end)..end];
        let next = if end < l.items.len() {
            end.to_string()
        } else {
            String::new()
        };
        if accept.contains("as=PartialObjectMetadataList") {
            let items: Vec<Json> = items
                .iter()
                .map(|i| json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": i["metadata"]}))
                .collect();
            return to_bytes(
                json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": "1", "continue": next}, "items": items}),
            );
        }
        return to_bytes(json!({"kind": l.kind, "apiVersion": l.api_version,
            "metadata": {"resourceVersion": "1", "continue": next}, "items": items}));
    }
    // One item of a cluster-scoped list, by name.
    if let Some((list, name)) = path.rsplit_once('/')
        && let Some(l) = st.lists.lock().unwrap().get(list)
        && let Some(item) = l.items.iter().find(|i| i["metadata"]["name"] == name)
    {
        let mut item = item.clone();
        let kind = l.kind.strip_suffix("List").unwrap_or(&l.kind);
        item["apiVersion"] = json!(l.api_version);
        item["kind"] = json!(kind);
        return to_bytes(item);
    }
    // Legacy discovery: one group-version's resources.
    let gv = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["", "api", v] => Some((String::new(), v.to_string())),
        ["", "apis", g, v] => Some((g.to_string(), v.to_string())),
        _ => None,
    };
    if let Some((g, v)) = gv {
        let rs: Vec<Json> = resources
            .iter()
            .filter(|r| r.0 == g && r.1 == v)
            .map(|(_, _, plural, kind, ns)| json!({"name": plural, "kind": kind, "namespaced": ns, "verbs": ["get", "list"]}))
            .collect();
        if !rs.is_empty() {
            let gv = if g.is_empty() {
                v.clone()
            } else {
                format!("{g}/{v}")
            };
            return to_bytes(
                json!({"kind": "APIResourceList", "groupVersion": gv, "resources": rs}),
            );
        }
    }
    // A served resource without objects: an empty list, as an API server answers.
    let listed = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["", "api", v, plural] => Some((String::new(), v.to_string(), plural.to_string())),
        ["", "apis", g, v, plural] => Some((g.to_string(), v.to_string(), plural.to_string())),
        _ => None,
    };
    if let Some((g, v, plural)) = listed
        && let Some((_, _, _, kind, _)) = resources
            .iter()
            .find(|r| r.0 == g && r.1 == v && r.2 == plural)
    {
        let api_version = if g.is_empty() { v } else { format!("{g}/{v}") };
        return to_bytes(
            json!({"kind": format!("{kind}List"), "apiVersion": api_version,
            "metadata": {"resourceVersion": "1"}, "items": []}),
        );
    }
    None
}
