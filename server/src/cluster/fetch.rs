//! Refreshing the cache of one context: what is read from the cluster, in which order, and
//! what is kept when part of it fails.
//!
//! Requests: `/version`; discovery (`/api`, `/apis`, aggregated when the server offers it,
//! else one resource list per built-in group-version); the CRDs; `/openapi/v3` and each
//! group-version document whose hash changed (the group-versions CRDs serve are taken from the
//! CRDs); Kyverno policies and exceptions, ValidatingPolicies, ValidatingAdmissionPolicies and
//! bindings, Namespaces and PolicyReports when the cluster serves them; the ConfigMaps and GET
//! `apiCall`s the cluster's policies read. Lists are paged. At most [`PARALLEL`] requests are
//! in flight.
//!
//! A request that fails is reported and what the previous cache held for it is kept; nothing
//! that failed to parse is stored.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt;
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use super::cache::{ApiResource, CACHE_FORMAT, ContextCache, OpenApiDoc, ServerVersion, Snapshot};
use super::client::{FetchError, ReadOnlyClient, parse_json};

/// Requests in flight at once.
pub const PARALLEL: usize = 8;
/// Items per page of a list.
const PAGE: usize = 500;

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

/// What a refresh reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub message: String,
    /// `done` of `total`, when the step counts.
    pub count: Option<(usize, usize)>,
}

/// Why a refresh produced nothing (the previous cache, if any, is left as it was).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    #[error("{0}")]
    Unreachable(String),
    #[error("the API server refused every request: {0}")]
    Refused(String),
    #[error("cannot write the cache: {0}")]
    Cache(String),
}

/// A finished refresh.
#[derive(Debug)]
pub struct Refreshed {
    pub snapshot: Snapshot,
    /// OpenAPI documents fetched now, and reused from the cache (same hash).
    pub fetched_documents: usize,
    pub reused_documents: usize,
    /// Whether anything differs from the previous cache.
    pub changed: bool,
}

/// The resources usher lists when the cluster serves them: (group, plural, where it goes).
const LISTS: &[(&str, &str, Bucket)] = &[
    ("kyverno.io", "clusterpolicies", Bucket::Policies),
    ("kyverno.io", "policies", Bucket::Policies),
    ("kyverno.io", "policyexceptions", Bucket::Policies),
    (
        "policies.kyverno.io",
        "validatingpolicies",
        Bucket::Policies,
    ),
    ("policies.kyverno.io", "policyexceptions", Bucket::Policies),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
        Bucket::Policies,
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
        Bucket::Policies,
    ),
    ("", "namespaces", Bucket::Namespaces),
    ("wgpolicyk8s.io", "policyreports", Bucket::Reports),
    ("wgpolicyk8s.io", "clusterpolicyreports", Bucket::Reports),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Policies,
    Namespaces,
    Reports,
}

/// Reads the cluster behind `client` and stores what it read in `cache` (atomically).
/// `previous` is the cache before this refresh: unchanged OpenAPI documents are reused from
/// it, and what fails now is kept from it.
pub async fn refresh(
    client: &ReadOnlyClient,
    context: &str,
    server: &str,
    cache: &ContextCache,
    previous: Option<&Snapshot>,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Refreshed, RefreshError> {
    let say = |m: &str| {
        progress(Progress {
            message: m.to_string(),
            count: None,
        })
    };
    let mut problems: Vec<String> = Vec::new();
    let mut answered = 0usize;

    say("reading the server version");
    let version = match client.get_json("/version").await {
        Ok(j) => {
            answered += 1;
            serde_json::from_value::<ServerVersion>(j).ok()
        }
        Err(e) if e.is_unreachable() => {
            return Err(RefreshError::Unreachable(format!("{server}: {e}")));
        }
        Err(e @ FetchError::Status { code: 401, .. }) => {
            return Err(RefreshError::Refused(format!(
                "{e} (the credentials of context '{context}' were not accepted)"
            )));
        }
        Err(e) => {
            problems.push(format!("GET /version: {e}"));
            previous.and_then(|p| p.version.clone())
        }
    };

    say("reading CustomResourceDefinitions and API discovery");
    let (crds, discovery) = tokio::join!(list_crds(client, previous), discover(client));
    let crds: Vec<Json> = match crds {
        Ok(mut items) => {
            answered += 1;
            sort_objects(&mut items);
            items
        }
        Err(e) => {
            problems.push(format!("list customresourcedefinitions: {e}"));
            previous.map(|p| p.crds.clone()).unwrap_or_default()
        }
    };
    let crd_gvs: BTreeSet<(String, String)> = crds.iter().flat_map(crd_group_versions).collect();
    let mut resources: Vec<ApiResource> = crds.iter().flat_map(crd_resources).collect();
    let (discovered, preferred) = match discovery {
        Ok(Discovery::Aggregated(found)) => {
            answered += 1;
            let preferred = found.preferred.clone();
            (Some(found.resources), preferred)
        }
        Ok(Discovery::Legacy {
            group_versions,
            preferred,
        }) => {
            answered += 1;
            // One resource list per group-version that no CRD serves.
            let wanted: Vec<(String, String)> = group_versions
                .into_iter()
                .filter(|gv| !crd_gvs.contains(gv))
                .collect();
            let total = wanted.len();
            let mut done = 0;
            let mut found = Vec::new();
            let mut lists = futures::stream::iter(wanted.into_iter().map(|(g, v)| async move {
                let path = if g.is_empty() {
                    format!("/api/{v}")
                } else {
                    format!("/apis/{g}/{v}")
                };
                let r = client.get_json(&path).await;
                (g, v, path, r)
            }))
            .buffer_unordered(PARALLEL);
            while let Some((g, v, path, r)) = lists.next().await {
                done += 1;
                progress(Progress {
                    message: "reading API discovery".into(),
                    count: Some((done, total)),
                });
                match r.and_then(|j| legacy_resources(&g, &v, &j)) {
                    Ok(rs) => found.extend(rs),
                    Err(e) => problems.push(format!("GET {path}: {e}")),
                }
            }
            (Some(found), preferred)
        }
        Err(e) => {
            problems.push(format!("API discovery: {e}"));
            (None, HashMap::new())
        }
    };
    match discovered {
        Some(found) => {
            // CRD resources come from the CRDs themselves; discovery adds the rest.
            let known: BTreeSet<(String, String, String)> = resources
                .iter()
                .map(|r| (r.group.clone(), r.version.clone(), r.kind.clone()))
                .collect();
            resources.extend(found.into_iter().filter(|r| {
                !known.contains(&(r.group.clone(), r.version.clone(), r.kind.clone()))
            }));
        }
        None => {
            if let Some(p) = previous {
                let have: BTreeSet<(String, String, String)> = resources
                    .iter()
                    .map(|r| (r.group.clone(), r.version.clone(), r.kind.clone()))
                    .collect();
                resources.extend(
                    p.resources
                        .iter()
                        .filter(|r| {
                            !have.contains(&(r.group.clone(), r.version.clone(), r.kind.clone()))
                        })
                        .cloned(),
                );
            }
        }
    }
    resources.sort_by(|a, b| (&a.group, &a.version, &a.kind).cmp(&(&b.group, &b.version, &b.kind)));
    resources.dedup_by(|a, b| a.group == b.group && a.version == b.version && a.kind == b.kind);

    // Policies, namespaces and reports: only what the cluster serves (when discovery failed,
    // the usual versions are tried and a 404 means "not installed").
    say("reading policies, namespaces and policy reports");
    let discovery_known = !resources.is_empty();
    let plan: Vec<(Bucket, String, String)> = LISTS
        .iter()
        .filter_map(|(group, plural, bucket)| {
            let version = serving_version(&resources, &preferred, group, plural).or_else(|| {
                (!discovery_known).then(|| default_version(group, plural).to_string())
            })?;
            let path = if group.is_empty() {
                format!("/api/{version}/{plural}")
            } else {
                format!("/apis/{group}/{version}/{plural}")
            };
            Some((*bucket, path, format!("{plural}{}", dot(group))))
        })
        .collect();
    let mut policies = Vec::new();
    let mut namespaces = Vec::new();
    let mut reports = Vec::new();
    let mut lists =
        futures::stream::iter(plan.into_iter().map(|(bucket, path, what)| async move {
            let r = list_all(client, &path).await;
            (bucket, what, r)
        }))
        .buffer_unordered(PARALLEL);
    while let Some((bucket, what, r)) = lists.next().await {
        let out = match bucket {
            Bucket::Policies => &mut policies,
            Bucket::Namespaces => &mut namespaces,
            Bucket::Reports => &mut reports,
        };
        match r {
            Ok(items) => {
                answered += 1;
                out.extend(items.into_iter().map(|i| match bucket {
                    Bucket::Namespaces => namespace_summary(&i),
                    _ => trim(i),
                }));
            }
            Err(FetchError::Status { code: 404, .. }) if !discovery_known => {}
            Err(e) => {
                problems.push(format!("list {what}: {e}"));
                // Keep what the previous cache had of this kind.
                if let Some(p) = previous {
                    let kind_plural = what.split('.').next().unwrap_or_default();
                    let old = match bucket {
                        Bucket::Policies => &p.policies,
                        Bucket::Namespaces => &p.namespaces,
                        Bucket::Reports => &p.policy_reports,
                    };
                    out.extend(
                        old.iter()
                            .filter(|o| bucket == Bucket::Namespaces || plural_of(o) == kind_plural)
                            .cloned(),
                    );
                }
            }
        }
    }
    drop(lists);
    sort_objects(&mut policies);
    sort_objects(&mut namespaces);
    sort_objects(&mut reports);

    // OpenAPI v3: the index, then every document whose hash changed.
    say("reading the OpenAPI v3 index");
    let mut openapi: BTreeMap<String, OpenApiDoc> = BTreeMap::new();
    let mut fetched_documents = 0;
    let mut reused_documents = 0;
    match client
        .get_json("/openapi/v3")
        .await
        .and_then(|j| openapi_index(&j))
    {
        Ok(index) => {
            answered += 1;
            let mut to_fetch = Vec::new();
            for (path, (url, hash)) in index {
                let Some(gv) = path_group_version(&path) else {
                    continue;
                };
                if crd_gvs.contains(&gv) {
                    continue;
                }
                match previous.and_then(|p| p.openapi.get(&path)) {
                    Some(old) if !hash.is_empty() && old.hash == hash && cache.has_doc(old) => {
                        reused_documents += 1;
                        openapi.insert(path, old.clone());
                    }
                    _ => to_fetch.push((path, url, hash)),
                }
            }
            let total = to_fetch.len();
            let mut done = 0;
            let mut docs =
                futures::stream::iter(to_fetch.into_iter().map(|(path, url, hash)| async move {
                    let r = client
                        .get(&url, "application/json")
                        .await
                        .and_then(|t| document_schemas(&t));
                    (path, url, hash, r)
                }))
                .buffer_unordered(PARALLEL);
            while let Some((path, url, hash, r)) = docs.next().await {
                done += 1;
                progress(Progress {
                    message: "reading OpenAPI documents".into(),
                    count: Some((done, total)),
                });
                match r {
                    Ok(schemas) => match cache.store_doc(&path, &hash, &schemas) {
                        Ok(doc) => {
                            fetched_documents += 1;
                            openapi.insert(path, doc);
                        }
                        Err(e) => return Err(RefreshError::Cache(e)),
                    },
                    Err(e) => {
                        problems.push(format!("GET {}: {e}", url_path(&url)));
                        if let Some(old) = previous.and_then(|p| p.openapi.get(&path))
                            && cache.has_doc(old)
                        {
                            openapi.insert(path, old.clone());
                        }
                    }
                }
            }
        }
        Err(e) => {
            problems.push(format!("GET /openapi/v3: {e}"));
            if let Some(p) = previous {
                openapi.extend(
                    p.openapi
                        .iter()
                        .filter(|(_, d)| cache.has_doc(d))
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
            }
        }
    }

    // What the cluster's policies read: ConfigMaps and GET apiCalls without variables.
    let (cm_refs, call_refs) = policy_reads(&policies);
    let mut config_maps = Vec::new();
    let mut api_calls = BTreeMap::new();
    if !cm_refs.is_empty() || !call_refs.is_empty() {
        say("reading the ConfigMaps and API calls of the cluster's policies");
    }
    for (ns, name) in cm_refs {
        let path = format!("/api/v1/namespaces/{ns}/configmaps/{name}");
        match client.get_json(&path).await {
            Ok(cm) => config_maps.push(trim(cm)),
            Err(e) => {
                problems.push(format!("GET {path}: {e}"));
                let old = previous.into_iter().flat_map(|p| &p.config_maps).find(|c| {
                    c.pointer("/metadata/name").and_then(Json::as_str) == Some(name.as_str())
                        && c.pointer("/metadata/namespace").and_then(Json::as_str)
                            == Some(ns.as_str())
                });
                config_maps.extend(old.cloned());
            }
        }
    }
    for path in call_refs {
        match client.get_json(&path).await {
            Ok(j) => {
                api_calls.insert(path, trim_list(j));
            }
            Err(e) => {
                problems.push(format!("GET {path}: {e}"));
                if let Some(old) = previous.and_then(|p| p.api_calls.get(&path)) {
                    api_calls.insert(path, old.clone());
                }
            }
        }
    }

    if answered == 0 {
        return Err(RefreshError::Refused(
            problems.first().cloned().unwrap_or_default(),
        ));
    }

    let mut snapshot = Snapshot {
        format: CACHE_FORMAT,
        context: context.to_string(),
        server: server.to_string(),
        taken_at: super::cache::now_secs(),
        version,
        resources,
        openapi,
        crds,
        policies,
        namespaces,
        config_maps,
        api_calls,
        policy_reports: reports,
        problems,
        requests: client
            .traffic
            .requests
            .load(std::sync::atomic::Ordering::Relaxed),
        bytes: client
            .traffic
            .bytes
            .load(std::sync::atomic::Ordering::Relaxed),
        fingerprint: String::new(),
        crd_file: String::new(),
        crd_index: Vec::new(),
        partial: false,
    };
    snapshot.fingerprint = fingerprint(&snapshot);
    let unchanged = previous.filter(|p| p.fingerprint == snapshot.fingerprint);
    let changed = unchanged.is_none();
    match unchanged {
        Some(p) => {
            snapshot.crd_file = p.crd_file.clone();
            snapshot.crd_index = p.crd_index.clone();
            cache.store_check(&snapshot).map_err(RefreshError::Cache)?;
        }
        None => cache.store(&mut snapshot).map_err(RefreshError::Cache)?,
    }
    Ok(Refreshed {
        snapshot,
        fetched_documents,
        reused_documents,
        changed,
    })
}

/// A hash of what the cluster holds (not of when it was read or what failed).
pub fn fingerprint(s: &Snapshot) -> String {
    let mut h = Sha256::new();
    let mut add = |v: &dyn erased::Ser| h.update(v.bytes());
    add(&s.version);
    add(&s.resources);
    add(&s
        .openapi
        .iter()
        .map(|(k, v)| (k, &v.hash))
        .collect::<Vec<_>>());
    // CRDs by name and resourceVersion when they all have one (a change gives a new one):
    // hashing a thousand CRD schemas again costs more than the refresh that found no change.
    let versions: Option<Vec<(&str, &str)>> = s
        .crds
        .iter()
        .map(|c| {
            Some((
                c.pointer("/metadata/name")?.as_str()?,
                c.pointer("/metadata/resourceVersion")?
                    .as_str()
                    .filter(|v| !v.is_empty())?,
            ))
        })
        .collect();
    match versions {
        Some(v) => add(&v),
        None => add(&s.crds),
    }
    add(&s.policies);
    add(&s.namespaces);
    add(&s.config_maps);
    add(&s.api_calls);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

mod erased {
    /// Serializable values of different types, for hashing.
    pub trait Ser {
        fn bytes(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn bytes(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
/// Asks for a list's metadata only (the API server's `PartialObjectMetadataList`), else the
/// full list.
const METADATA_ONLY: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
/// Above this many changed CRDs, one full list is cheaper than one GET each.
const CRD_GETS: usize = 50;

/// The cluster's CRDs, trimmed. With a previous cache, their metadata first (a few hundred
/// bytes each instead of the whole schema): the CRDs whose `resourceVersion` did not change
/// are taken from the cache, the others read one by one, or in one full list when many
/// changed or the server does not offer metadata-only lists.
async fn list_crds(
    client: &ReadOnlyClient,
    previous: Option<&Snapshot>,
) -> Result<Vec<Json>, FetchError> {
    let old: HashMap<&str, &Json> = previous
        .map(|p| {
            p.crds
                .iter()
                .filter_map(|c| Some((c.pointer("/metadata/name")?.as_str()?, c)))
                .collect()
        })
        .unwrap_or_default();
    let full = || async {
        Ok(list_all(client, CRDS)
            .await?
            .into_iter()
            .map(trim)
            .collect())
    };
    if old.is_empty() {
        return full().await;
    }
    let (kind, items) = list_pages(client, CRDS, METADATA_ONLY).await?;
    if kind.as_deref() != Some("PartialObjectMetadata") {
        // Full objects after all.
        return Ok(items.into_iter().map(trim).collect());
    }
    let version = |o: &Json| {
        o.pointer("/metadata/resourceVersion")
            .and_then(Json::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let mut out = Vec::with_capacity(items.len());
    let mut changed = Vec::new();
    for item in &items {
        let Some(name) = item.pointer("/metadata/name").and_then(Json::as_str) else {
            continue;
        };
        match old.get(name) {
            Some(o) if version(o).is_some() && version(o) == version(item) => {
                out.push((*o).clone())
            }
            _ => changed.push(name.to_string()),
        }
    }
    if changed.len() > CRD_GETS {
        return full().await;
    }
    let mut gets =
        futures::stream::iter(changed.into_iter().map(|name| async move {
            client.get_json(&format!("{CRDS}/{}", encode(&name))).await
        }))
        .buffer_unordered(PARALLEL);
    while let Some(r) = gets.next().await {
        out.push(trim(r?));
    }
    drop(gets);
    Ok(out)
}

/// Every item of a list, following `continue` tokens.
async fn list_all(client: &ReadOnlyClient, path: &str) -> Result<Vec<Json>, FetchError> {
    Ok(list_pages(client, path, "application/json").await?.1)
}

/// Every page of the list at `path`; returns the items' kind (from the list's) and the items,
/// each with its `apiVersion` and `kind`.
async fn list_pages(
    client: &ReadOnlyClient,
    path: &str,
    accept: &str,
) -> Result<(Option<String>, Vec<Json>), FetchError> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    let mut item_kind = None;
    loop {
        let url = match &token {
            None => format!("{path}?limit={PAGE}"),
            Some(t) => format!("{path}?limit={PAGE}&continue={}", encode(t)),
        };
        let page = parse_json(&client.get(&url, accept).await?)?;
        let Some(list) = page.get("items").and_then(Json::as_array) else {
            return Err(FetchError::Invalid(format!(
                "GET {url}: the answer is not a list (no items)"
            )));
        };
        // Items of a list carry no apiVersion/kind; the list's kind names them.
        let kind = page
            .get("kind")
            .and_then(Json::as_str)
            .and_then(|k| k.strip_suffix("List"))
            .map(str::to_string);
        let api_version = page.get("apiVersion").cloned();
        item_kind.clone_from(&kind);
        for item in list {
            let mut item = item.clone();
            if let Some(obj) = item.as_object_mut() {
                if !obj.contains_key("kind")
                    && let Some(k) = &kind
                {
                    obj.insert("kind".into(), Json::String(k.clone()));
                }
                if !obj.contains_key("apiVersion")
                    && let Some(v) = &api_version
                {
                    obj.insert("apiVersion".into(), v.clone());
                }
            }
            items.push(item);
        }
        match page
            .pointer("/metadata/continue")
            .and_then(Json::as_str)
            .filter(|t| !t.is_empty())
        {
            Some(t) if token.as_deref() != Some(t) => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok((item_kind, items))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Aggregated {
    resources: Vec<ApiResource>,
    preferred: HashMap<String, String>,
}

enum Discovery {
    Aggregated(Aggregated),
    Legacy {
        group_versions: Vec<(String, String)>,
        preferred: HashMap<String, String>,
    },
}

/// `/api` and `/apis`, asking for aggregated discovery.
async fn discover(client: &ReadOnlyClient) -> Result<Discovery, FetchError> {
    let (core, groups) = tokio::join!(
        client.get("/api", AGGREGATED),
        client.get("/apis", AGGREGATED)
    );
    let core = parse_json(&core?)?;
    let groups = parse_json(&groups?)?;
    let is_aggregated =
        |j: &Json| j.get("kind").and_then(Json::as_str) == Some("APIGroupDiscoveryList");
    if is_aggregated(&core) && is_aggregated(&groups) {
        let mut out = Aggregated {
            resources: Vec::new(),
            preferred: HashMap::new(),
        };
        for list in [&core, &groups] {
            for g in list
                .get("items")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let group = g
                    .pointer("/metadata/name")
                    .and_then(Json::as_str)
                    .unwrap_or_default();
                let versions = g.get("versions").and_then(Json::as_array);
                for (i, v) in versions.into_iter().flatten().enumerate() {
                    let Some(version) = v.get("version").and_then(Json::as_str) else {
                        continue;
                    };
                    if i == 0 {
                        out.preferred.insert(group.to_string(), version.to_string());
                    }
                    for r in v
                        .get("resources")
                        .and_then(Json::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let (Some(plural), Some(kind)) = (
                            r.get("resource").and_then(Json::as_str),
                            r.pointer("/responseKind/kind").and_then(Json::as_str),
                        ) else {
                            continue;
                        };
                        out.resources.push(ApiResource {
                            group: group.to_string(),
                            version: version.to_string(),
                            kind: kind.to_string(),
                            plural: plural.to_string(),
                            namespaced: r.get("scope").and_then(Json::as_str) == Some("Namespaced"),
                        });
                    }
                }
            }
        }
        return Ok(Discovery::Aggregated(out));
    }
    // Legacy: APIVersions and APIGroupList; resources are listed per group-version later.
    let mut group_versions = Vec::new();
    let mut preferred = HashMap::new();
    for v in core
        .get("versions")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(v) = v.as_str() {
            group_versions.push((String::new(), v.to_string()));
            preferred
                .entry(String::new())
                .or_insert_with(|| v.to_string());
        }
    }
    let Some(list) = groups.get("groups").and_then(Json::as_array) else {
        return Err(FetchError::Invalid("GET /apis: not an APIGroupList".into()));
    };
    for g in list {
        let Some(name) = g.get("name").and_then(Json::as_str) else {
            continue;
        };
        for v in g
            .get("versions")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(version) = v.get("version").and_then(Json::as_str) {
                group_versions.push((name.to_string(), version.to_string()));
            }
        }
        if let Some(p) = g
            .pointer("/preferredVersion/version")
            .and_then(Json::as_str)
        {
            preferred.insert(name.to_string(), p.to_string());
        }
    }
    Ok(Discovery::Legacy {
        group_versions,
        preferred,
    })
}

/// The resources of an `APIResourceList` (subresources left out).
fn legacy_resources(
    group: &str,
    version: &str,
    list: &Json,
) -> Result<Vec<ApiResource>, FetchError> {
    let Some(rs) = list.get("resources").and_then(Json::as_array) else {
        return Err(FetchError::Invalid("not an APIResourceList".into()));
    };
    Ok(rs
        .iter()
        .filter_map(|r| {
            let plural = r.get("name")?.as_str()?;
            if plural.contains('/') {
                return None;
            }
            Some(ApiResource {
                group: group.to_string(),
                version: version.to_string(),
                kind: r.get("kind")?.as_str()?.to_string(),
                plural: plural.to_string(),
                namespaced: r.get("namespaced").and_then(Json::as_bool).unwrap_or(true),
            })
        })
        .collect())
}

/// The version to list `group/plural` at: the group's preferred version when it serves the
/// resource, else the first that does.
fn serving_version(
    resources: &[ApiResource],
    preferred: &HashMap<String, String>,
    group: &str,
    plural: &str,
) -> Option<String> {
    let serving: Vec<&ApiResource> = resources
        .iter()
        .filter(|r| r.group == group && r.plural == plural)
        .collect();
    let p = preferred.get(group);
    serving
        .iter()
        .find(|r| Some(&r.version) == p)
        .or_else(|| serving.first())
        .map(|r| r.version.clone())
}

fn default_version(group: &str, plural: &str) -> &'static str {
    match (group, plural) {
        ("kyverno.io", "policyexceptions") => "v2",
        ("policies.kyverno.io", _) => "v1",
        ("wgpolicyk8s.io", _) => "v1alpha2",
        _ => "v1",
    }
}

fn dot(group: &str) -> String {
    if group.is_empty() {
        String::new()
    } else {
        format!(".{group}")
    }
}

/// The plural of an object's kind, as the lists above name it.
fn plural_of(o: &Json) -> String {
    let kind = o
        .get("kind")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if kind.ends_with("policy") {
        format!("{}ies", &kind[..kind.len() - 1])
    } else {
        format!("{kind}s")
    }
}

/// The served group-versions of a CRD.
fn crd_group_versions(crd: &Json) -> Vec<(String, String)> {
    let group = crd
        .pointer("/spec/group")
        .and_then(Json::as_str)
        .unwrap_or_default();
    crd.pointer("/spec/versions")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(Json::as_bool) != Some(false))
        .filter_map(|v| Some((group.to_string(), v.get("name")?.as_str()?.to_string())))
        .collect()
}

fn crd_resources(crd: &Json) -> Vec<ApiResource> {
    let kind = crd
        .pointer("/spec/names/kind")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let namespaced = crd.pointer("/spec/scope").and_then(Json::as_str) != Some("Cluster");
    if kind.is_empty() {
        return Vec::new();
    }
    crd_group_versions(crd)
        .into_iter()
        .map(|(group, version)| ApiResource {
            group,
            version,
            kind: kind.to_string(),
            plural: plural.to_string(),
            namespaced,
        })
        .collect()
}

/// `/openapi/v3`: path → (server-relative URL, hash).
fn openapi_index(j: &Json) -> Result<BTreeMap<String, (String, String)>, FetchError> {
    let Some(paths) = j.get("paths").and_then(Json::as_object) else {
        return Err(FetchError::Invalid("GET /openapi/v3: no paths".into()));
    };
    Ok(paths
        .iter()
        .filter_map(|(path, v)| {
            let url = v.get("serverRelativeURL")?.as_str()?.to_string();
            let hash = url
                .split_once('?')
                .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("hash=")))
                .unwrap_or_default()
                .to_string();
            Some((path.clone(), (url, hash)))
        })
        .collect())
}

fn url_path(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// `api/v1` → ("", "v1"); `apis/apps/v1` → ("apps", "v1"); anything else → None.
fn path_group_version(path: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["api", v] => Some((String::new(), v.to_string())),
        ["apis", g, v] => Some((g.to_string(), v.to_string())),
        _ => None,
    }
}

/// The schemas of one OpenAPI v3 document.
fn document_schemas(text: &str) -> Result<Map<String, Json>, FetchError> {
    let doc = parse_json(text)?;
    match doc.pointer("/components/schemas") {
        Some(Json::Object(m)) => Ok(m.clone()),
        Some(_) => Err(FetchError::Invalid(
            "components.schemas is not an object".into(),
        )),
        None if doc.is_object() => Ok(Map::new()),
        None => Err(FetchError::Invalid("not an OpenAPI document".into())),
    }
}

/// Drops what usher never reads and what makes caches large: managed fields, the
/// last-applied annotation, status (but for PolicyReports, whose results are their point).
fn trim(mut o: Json) -> Json {
    if let Some(meta) = o.get_mut("metadata").and_then(Json::as_object_mut) {
        meta.remove("managedFields");
        if let Some(a) = meta.get_mut("annotations").and_then(Json::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    if let Some(obj) = o.as_object_mut() {
        obj.remove("status");
    }
    o
}

fn trim_list(mut j: Json) -> Json {
    if let Some(items) = j.get_mut("items").and_then(Json::as_array_mut) {
        for i in items.iter_mut() {
            *i = trim(std::mem::take(i));
        }
    }
    trim(j)
}

fn namespace_summary(ns: &Json) -> Json {
    let mut meta = Map::new();
    for k in ["name", "labels"] {
        if let Some(v) = ns.pointer(&format!("/metadata/{k}")) {
            meta.insert(k.into(), v.clone());
        }
    }
    serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
}

fn sort_objects(v: &mut [Json]) {
    let key = |o: &Json| {
        (
            o.get("kind")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
            o.pointer("/metadata/namespace")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
            o.pointer("/metadata/name")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
        )
    };
    v.sort_by_key(key);
}

/// The ConfigMaps (namespace, name) and GET API paths that policies' context entries read,
/// when they hold no variables.
fn policy_reads(policies: &[Json]) -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    let mut cms = BTreeSet::new();
    let mut calls = BTreeSet::new();
    for p in policies {
        for rule in p
            .pointer("/spec/rules")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            for entry in rule
                .get("context")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(cm) = entry.get("configMap") {
                    let name = cm.get("name").and_then(Json::as_str).unwrap_or_default();
                    let ns = cm
                        .get("namespace")
                        .and_then(Json::as_str)
                        .or_else(|| p.pointer("/metadata/namespace").and_then(Json::as_str))
                        .unwrap_or("default");
                    if !name.is_empty() && !name.contains("{{") && !ns.contains("{{") {
                        cms.insert((ns.to_string(), name.to_string()));
                    }
                }
                if let Some(call) = entry.get("apiCall") {
                    let method = call.get("method").and_then(Json::as_str).unwrap_or("GET");
                    let path = call
                        .get("urlPath")
                        .and_then(Json::as_str)
                        .unwrap_or_default();
                    if method.eq_ignore_ascii_case("GET")
                        && path.starts_with('/')
                        && !path.contains("{{")
                        && call.get("service").is_none()
                    {
                        calls.insert(path.to_string());
                    }
                }
            }
        }
    }
    (cms, calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_hashes_are_read_from_the_openapi_index() {
        let j = serde_json::json!({"paths": {
            "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=ABC"},
            "apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=DEF&x=1"},
            "apis": {"serverRelativeURL": "/openapi/v3/apis?hash=1"},
            ".well-known/openid-configuration": {"serverRelativeURL": "/openapi/v3/.well-known/openid-configuration?hash=2"}
        }});
        let idx = openapi_index(&j).unwrap();
        assert_eq!(idx["apis/apps/v1"].1, "DEF");
        let gvs: Vec<_> = idx.keys().filter_map(|p| path_group_version(p)).collect();
        assert_eq!(
            gvs,
            vec![("".into(), "v1".into()), ("apps".into(), "v1".into())]
        );
    }

    #[test]
    fn policy_reads_skip_variables_and_non_get_calls() {
        let p = serde_json::json!({"kind": "Policy", "metadata": {"name": "p", "namespace": "team"},
        "spec": {"rules": [{"context": [
            {"name": "a", "configMap": {"name": "allowed-registries"}},
            {"name": "b", "configMap": {"name": "{{request.namespace}}", "namespace": "x"}},
            {"name": "c", "apiCall": {"urlPath": "/api/v1/namespaces"}},
            {"name": "d", "apiCall": {"urlPath": "/api/v1/namespaces/{{request.namespace}}/pods"}},
            {"name": "e", "apiCall": {"method": "POST", "urlPath": "/apis/authorization.k8s.io/v1/subjectaccessreviews"}}
        ]}]}});
        let (cms, calls) = policy_reads(&[p]);
        assert_eq!(
            cms.into_iter().collect::<Vec<_>>(),
            vec![("team".into(), "allowed-registries".into())]
        );
        assert_eq!(
            calls.into_iter().collect::<Vec<_>>(),
            vec!["/api/v1/namespaces".to_string()]
        );
    }

    #[test]
    fn plurals_of_policy_kinds() {
        for (kind, plural) in [
            ("ClusterPolicy", "clusterpolicies"),
            (
                "ValidatingAdmissionPolicyBinding",
                "validatingadmissionpolicybindings",
            ),
            ("PolicyException", "policyexceptions"),
            ("ValidatingPolicy", "validatingpolicies"),
        ] {
            assert_eq!(plural_of(&serde_json::json!({"kind": kind})), plural);
        }
    }
}
