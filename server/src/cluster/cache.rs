//! The cluster cache on disk, one folder per kubeconfig context:
//!
//! ```text
//! $XDG_CACHE_HOME/usher/clusters/<context>-<hash>/
//!   snapshot.json            what was read, when, and from which server (and where each CRD is)
//!   checked.json             the last refresh that found nothing changed (time, problems)
//!   crds-<hash>.jsonl        the CustomResourceDefinitions, one per line
//!   openapi/<hash>.json      the schemas of one OpenAPI v3 group-version document
//! ```
//!
//! Every file is written to a temporary file beside it and renamed into place, and the
//! snapshot is written last, so a reader sees the old cache or the new one, never half of one.
//! OpenAPI documents are named by the server's hash, so an unchanged document is never fetched
//! or written again. CRDs live outside the snapshot, one per line, at offsets the snapshot
//! lists: the language server reads the snapshot (small) and the CRDs of the groups its open
//! documents use first, and the rest after.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

/// Bumped when the snapshot's shape changes; older caches are ignored (and refreshed).
pub const CACHE_FORMAT: u32 = 2;

/// The server's version (`/version`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerVersion {
    #[serde(rename = "gitVersion", default)]
    pub git_version: String,
    #[serde(default)]
    pub major: String,
    #[serde(default)]
    pub minor: String,
}

impl ServerVersion {
    /// `(major, minor)`, from `major`/`minor` (which may carry a `+`, as on managed clusters),
    /// else from `gitVersion` (`v1.29.3-eks-…`).
    pub fn major_minor(&self) -> Option<(u32, u32)> {
        let num = |s: &str| {
            s.trim_end_matches('+')
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        };
        if let (Some(a), Some(b)) = (num(&self.major), num(&self.minor)) {
            return Some((a, b));
        }
        let mut parts = self.git_version.trim_start_matches('v').split('.');
        Some((num(parts.next()?)?, num(parts.next()?)?))
    }
}

/// One resource type the server serves (from discovery or its CRDs).
pub use crate::schema::ServedKind as ApiResource;

/// One OpenAPI v3 group-version document, by the server's hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpenApiDoc {
    pub hash: String,
    /// File name under `openapi/`.
    pub file: String,
    /// How many schemas it holds.
    pub schemas: usize,
}

/// Where one CRD is in the CRD file of a snapshot.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CrdEntry {
    pub name: String,
    pub group: String,
    pub kind: String,
    /// Its line in the CRD file: bytes `start..end`.
    pub start: u64,
    pub end: u64,
}

/// A refresh that found the cluster unchanged (`checked.json`).
#[derive(Debug, Serialize, Deserialize)]
struct Check {
    fingerprint: String,
    taken_at: u64,
    problems: Vec<String>,
    requests: u64,
    bytes: u64,
}

/// Everything read from one cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    pub context: String,
    pub server: String,
    /// When the refresh that produced it finished (seconds since the Unix epoch).
    pub taken_at: u64,
    pub version: Option<ServerVersion>,
    pub resources: Vec<ApiResource>,
    /// OpenAPI v3 documents by path (`api/v1`, `apis/apps/v1`, …); the group-versions that
    /// CRDs serve are read from the CRDs instead.
    pub openapi: BTreeMap<String, OpenApiDoc>,
    /// The CustomResourceDefinitions (all of them, or after [`ContextCache::load_partial`] the
    /// ones asked for); stored in `crd_file`, not in snapshot.json.
    #[serde(skip)]
    pub crds: Vec<Json>,
    /// The file of the cache folder that holds the CRDs (empty: none), and where each is.
    #[serde(default)]
    pub crd_file: String,
    #[serde(default)]
    pub crd_index: Vec<CrdEntry>,
    /// `crds` holds only some of the CRDs of `crd_index`.
    #[serde(skip)]
    pub partial: bool,
    /// Kyverno ClusterPolicies/Policies/PolicyExceptions, ValidatingPolicies,
    /// ValidatingAdmissionPolicies and their bindings.
    pub policies: Vec<Json>,
    /// Namespaces (name and labels), for namespace selectors.
    pub namespaces: Vec<Json>,
    /// ConfigMaps that the cluster's policies read (`context[].configMap`).
    pub config_maps: Vec<Json>,
    /// Answers to the cluster policies' `apiCall` context entries (GET only), by URL path.
    pub api_calls: BTreeMap<String, Json>,
    pub policy_reports: Vec<Json>,
    /// What the refresh could not read (the rest was kept).
    pub problems: Vec<String>,
    /// Requests sent and bytes received by the refresh.
    pub requests: u64,
    pub bytes: u64,
    /// A hash of what the cluster holds (see `fetch::fingerprint`): equal fingerprints mean
    /// nothing changed.
    #[serde(default)]
    pub fingerprint: String,
}

impl Snapshot {
    /// How many CRDs the cluster has (also when only some are loaded).
    pub fn crd_count(&self) -> usize {
        if self.partial {
            self.crd_index.len()
        } else {
            self.crds.len()
        }
    }

    pub fn age(&self) -> Duration {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Duration::from_secs(now.saturating_sub(self.taken_at))
    }
}

/// `3 s`, `5 min`, `2 h 10 min`, `4 days`.
pub fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => {
            let m = (s % 3600) / 60;
            if m == 0 {
                format!("{} h", s / 3600)
            } else {
                format!("{} h {m} min", s / 3600)
            }
        }
        _ => {
            let days = s / 86_400;
            format!("{days} day{}", if days == 1 { "" } else { "s" })
        }
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// usher's cache folder: `USHER_CACHE_DIR`, else `$XDG_CACHE_HOME/usher`, else
/// `~/.cache/usher`.
pub fn cache_root() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("USHER_CACHE_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(d).join("usher"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("usher"))
}

/// The cache of one context.
#[derive(Debug, Clone)]
pub struct ContextCache {
    pub dir: PathBuf,
}

impl ContextCache {
    /// The folder of `context` (its name made safe for a file name, with a hash of the exact
    /// name so that `a/b` and `a:b` differ), under `root`.
    pub fn new(root: &Path, context: &str) -> ContextCache {
        let safe: String = context
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect();
        let hash = hex(&Sha256::digest(context.as_bytes()))[..10].to_string();
        ContextCache {
            dir: root.join("clusters").join(format!("{safe}-{hash}")),
        }
    }

    /// The cache of `context` under [`cache_root`].
    pub fn for_context(context: &str) -> Option<ContextCache> {
        cache_root().map(|r| ContextCache::new(&r, context))
    }

    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join("snapshot.json")
    }

    /// The note of the last refresh that found the cluster as the snapshot has it.
    fn check_path(&self) -> PathBuf {
        self.dir.join("checked.json")
    }

    /// Records a refresh that found nothing changed (its time, problems and traffic) without
    /// writing the whole snapshot again; [`ContextCache::load`] applies it to the snapshot
    /// with the same fingerprint.
    pub fn store_check(&self, snapshot: &Snapshot) -> Result<(), String> {
        let check = Check {
            fingerprint: snapshot.fingerprint.clone(),
            taken_at: snapshot.taken_at,
            problems: snapshot.problems.clone(),
            requests: snapshot.requests,
            bytes: snapshot.bytes,
        };
        let bytes = serde_json::to_vec(&check).map_err(|e| e.to_string())?;
        write_atomic(&self.check_path(), &bytes)
    }

    fn doc_path(&self, file: &str) -> PathBuf {
        self.dir.join("openapi").join(file)
    }

    /// The snapshot, if there is a usable one. `Ok(None)`: no cache yet (or one of an older
    /// format); `Err`: a cache that cannot be read.
    pub fn load(&self) -> Result<Option<Snapshot>, String> {
        let Some(mut s) = self.load_head()? else {
            return Ok(None);
        };
        s.crds = self.read_crds(&s, |_| true)?;
        Ok(Some(s))
    }

    /// The snapshot with only the CRDs that `select` picks (`partial` set when it left some
    /// out); [`ContextCache::read_crds`] reads the others later.
    pub fn load_partial(
        &self,
        select: impl Fn(&CrdEntry) -> bool,
    ) -> Result<Option<Snapshot>, String> {
        let Some(mut s) = self.load_head()? else {
            return Ok(None);
        };
        s.crds = self.read_crds(&s, &select)?;
        s.partial = s.crds.len() < s.crd_index.len();
        Ok(Some(s))
    }

    /// The CRDs of `snapshot`'s index that `select` picks, read from its CRD file (in
    /// parallel when there are many).
    pub fn read_crds(
        &self,
        snapshot: &Snapshot,
        select: impl Fn(&CrdEntry) -> bool,
    ) -> Result<Vec<Json>, String> {
        use rayon::prelude::*;
        use std::io::{Read, Seek, SeekFrom};
        let picked: Vec<&CrdEntry> = snapshot.crd_index.iter().filter(|e| select(e)).collect();
        if picked.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.dir.join(&snapshot.crd_file);
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let mut file = std::fs::File::open(&path).map_err(|e| err(&e))?;
        let parse = |e: &CrdEntry, line: &[u8]| {
            serde_json::from_slice::<Json>(line)
                .map_err(|x| err(&format!("CRD {} at byte {}: {x}", e.name, e.start)))
        };
        if picked.len() * 4 < snapshot.crd_index.len() {
            // A few: read each one at its offset.
            let mut out = Vec::with_capacity(picked.len());
            for e in picked {
                let len = e
                    .end
                    .checked_sub(e.start)
                    .ok_or_else(|| err(&"a bad CRD index"))?;
                let mut line = vec![0; len as usize];
                file.seek(SeekFrom::Start(e.start))
                    .and_then(|_| file.read_exact(&mut line))
                    .map_err(|x| err(&format!("CRD {}: {x}", e.name)))?;
                out.push(parse(e, &line)?);
            }
            return Ok(out);
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| err(&e))?;
        picked
            .par_iter()
            .map(|e| {
                let line = bytes
                    .get(e.start as usize..e.end as usize)
                    .ok_or_else(|| err(&format!("CRD {}: past the end of the file", e.name)))?;
                parse(e, line)
            })
            .collect()
    }

    /// snapshot.json (with checked.json applied), without its CRDs.
    fn load_head(&self) -> Result<Option<Snapshot>, String> {
        let path = self.snapshot_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        #[derive(Deserialize)]
        struct Head {
            format: u32,
        }
        // One parse when the cache is current; the format is looked at only when it fails.
        match serde_json::from_slice::<Snapshot>(&bytes) {
            Ok(mut s) if s.format == CACHE_FORMAT => {
                let check = std::fs::read(self.check_path())
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Check>(&b).ok())
                    .filter(|c| !c.fingerprint.is_empty() && c.fingerprint == s.fingerprint);
                if let Some(c) = check {
                    s.taken_at = c.taken_at;
                    s.problems = c.problems;
                    s.requests = c.requests;
                    s.bytes = c.bytes;
                }
                Ok(Some(s))
            }
            Ok(_) => Ok(None),
            Err(e) => match serde_json::from_slice::<Head>(&bytes) {
                Ok(h) if h.format != CACHE_FORMAT => Ok(None),
                _ => Err(format!("{}: {e}", path.display())),
            },
        }
    }

    /// The schemas of one stored OpenAPI document.
    pub fn load_doc(&self, doc: &OpenApiDoc) -> Result<Map<String, Json>, String> {
        let path = self.doc_path(&doc.file);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        match serde_json::from_slice(&bytes) {
            Ok(Json::Object(m)) => Ok(m),
            Ok(_) => Err(format!("{}: not a JSON object", path.display())),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Whether the document with this hash is stored.
    pub fn has_doc(&self, doc: &OpenApiDoc) -> bool {
        self.doc_path(&doc.file).is_file()
    }

    /// Stores the schemas of the document at `path` with the server's `hash`.
    pub fn store_doc(
        &self,
        path: &str,
        hash: &str,
        schemas: &Map<String, Json>,
    ) -> Result<OpenApiDoc, String> {
        let file = format!(
            "{}.json",
            &hex(&Sha256::digest(format!("{path}\n{hash}").as_bytes()))[..32]
        );
        let bytes = serde_json::to_vec(schemas).map_err(|e| e.to_string())?;
        write_atomic(&self.doc_path(&file), &bytes)?;
        Ok(OpenApiDoc {
            hash: hash.to_string(),
            file,
            schemas: schemas.len(),
        })
    }

    /// Writes the snapshot's CRDs (one per line; its `crd_file` and `crd_index` say where),
    /// then the snapshot (last, so it only names files already written), and removes the files
    /// it no longer names.
    pub fn store(&self, snapshot: &mut Snapshot) -> Result<(), String> {
        if snapshot.partial {
            return Err("internal error: a partly loaded cluster snapshot cannot be stored".into());
        }
        let mut lines = Vec::new();
        let mut index = Vec::with_capacity(snapshot.crds.len());
        for crd in &snapshot.crds {
            let field = |p: &str| crd.pointer(p).and_then(Json::as_str).unwrap_or_default();
            let start = lines.len() as u64;
            // Compact JSON has no line breaks: one CRD per line.
            serde_json::to_writer(&mut lines, crd).map_err(|e| e.to_string())?;
            index.push(CrdEntry {
                name: field("/metadata/name").to_string(),
                group: field("/spec/group").to_string(),
                kind: field("/spec/names/kind").to_string(),
                start,
                end: lines.len() as u64,
            });
            lines.push(b'\n');
        }
        snapshot.crd_file = if lines.is_empty() {
            String::new()
        } else {
            format!("crds-{}.jsonl", &hex(&Sha256::digest(&lines))[..32])
        };
        snapshot.crd_index = index;
        if !lines.is_empty() && !self.dir.join(&snapshot.crd_file).is_file() {
            write_atomic(&self.dir.join(&snapshot.crd_file), &lines)?;
        }
        drop(lines);
        let bytes = serde_json::to_vec(&*snapshot).map_err(|e| e.to_string())?;
        // The note of an earlier check would not describe the new snapshot.
        let _ = std::fs::remove_file(self.check_path());
        write_atomic(&self.snapshot_path(), &bytes)?;
        let keep: std::collections::HashSet<&str> =
            snapshot.openapi.values().map(|d| d.file.as_str()).collect();
        remove_files(&self.dir.join("openapi"), |name| {
            name.ends_with(".json") && !keep.contains(name)
        });
        remove_files(&self.dir, |name| {
            name.starts_with("crds-") && name.ends_with(".jsonl") && name != snapshot.crd_file
        });
        Ok(())
    }
}

/// Removes the files of `dir` whose name `stale` picks (best effort: what cannot be removed
/// stays, unused).
fn remove_files(dir: &Path, stale: impl Fn(&str) -> bool) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        if stale(&e.file_name().to_string_lossy()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path
        .parent()
        .ok_or_else(|| format!("{}: no parent folder", path.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| format!("{}: {}", path.display(), e.error))?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_managed_clusters_parse() {
        let v = |major: &str, minor: &str, git: &str| ServerVersion {
            git_version: git.into(),
            major: major.into(),
            minor: minor.into(),
        };
        assert_eq!(v("1", "29+", "v1.29.3-eks-1").major_minor(), Some((1, 29)));
        assert_eq!(v("", "", "v1.31.0-gke.1").major_minor(), Some((1, 31)));
        assert_eq!(v("", "", "nonsense").major_minor(), None);
    }

    #[test]
    fn an_unchanged_refresh_is_noted_beside_the_snapshot() {
        let root = tempfile::tempdir().unwrap();
        let cache = ContextCache::new(root.path(), "dev");
        let mut snap = Snapshot {
            format: CACHE_FORMAT,
            context: "dev".into(),
            taken_at: 100,
            fingerprint: "f1".into(),
            ..Default::default()
        };
        cache.store(&mut snap).unwrap();
        let mut checked = snap.clone();
        checked.taken_at = 200;
        checked.problems = vec!["list namespaces: 403 Forbidden".into()];
        cache.store_check(&checked).unwrap();
        let loaded = cache.load().unwrap().unwrap();
        assert_eq!(loaded.taken_at, 200);
        assert_eq!(loaded.problems, checked.problems);
        // A new snapshot is not described by the old note.
        snap.fingerprint = "f2".into();
        snap.taken_at = 300;
        cache.store(&mut snap).unwrap();
        let loaded = cache.load().unwrap().unwrap();
        assert_eq!((loaded.taken_at, loaded.problems.len()), (300, 0));
        // Nor is a note whose fingerprint differs.
        checked.fingerprint = "f1".into();
        cache.store_check(&checked).unwrap();
        assert_eq!(cache.load().unwrap().unwrap().taken_at, 300);
    }

    #[test]
    fn snapshot_round_trip_keeps_documents_it_names_only() {
        let root = tempfile::tempdir().unwrap();
        let cache = ContextCache::new(root.path(), "arn:aws:eks:eu-west-1:1:cluster/prod");
        assert!(
            cache
                .dir
                .to_string_lossy()
                .contains("arn_aws_eks_eu-west-1_1_cluster_prod-")
        );
        assert!(cache.load().unwrap().is_none());
        let mut schemas = Map::new();
        schemas.insert(
            "io.example.v1.Thing".into(),
            serde_json::json!({"type": "object"}),
        );
        let old = cache
            .store_doc("apis/example.io/v1", "AAA", &schemas)
            .unwrap();
        let new = cache
            .store_doc("apis/example.io/v1", "BBB", &schemas)
            .unwrap();
        assert_ne!(old.file, new.file);
        let mut snap = Snapshot {
            format: CACHE_FORMAT,
            context: "prod".into(),
            taken_at: now_secs(),
            ..Default::default()
        };
        snap.openapi
            .insert("apis/example.io/v1".into(), new.clone());
        cache.store(&mut snap).unwrap();
        assert!(!cache.has_doc(&old), "the replaced document is removed");
        assert!(cache.has_doc(&new));
        let back = cache.load().unwrap().unwrap();
        assert_eq!(back.context, "prod");
        assert_eq!(cache.load_doc(&new).unwrap(), schemas);
        // A cache of another format is not used.
        std::fs::write(cache.snapshot_path(), br#"{"format": 999}"#).unwrap();
        assert!(cache.load().unwrap().is_none());
        // A broken one is an error, with the file named.
        std::fs::write(cache.snapshot_path(), b"{\"format\": 2, \"con").unwrap();
        let e = cache.load().unwrap_err();
        assert!(e.contains("snapshot.json"), "{e}");
    }

    fn crd(group: &str, kind: &str) -> Json {
        serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{}s.{group}", kind.to_lowercase()), "resourceVersion": "7"},
            "spec": {"group": group, "names": {"kind": kind}, "versions": [{"name": "v1", "description": "a line\nbreak"}]},
        })
    }

    #[test]
    fn crds_are_stored_beside_the_snapshot_and_read_by_group() {
        let root = tempfile::tempdir().unwrap();
        let cache = ContextCache::new(root.path(), "dev");
        let crds: Vec<Json> = (0..12)
            .map(|i| crd(&format!("g{}.example.com", i % 3), &format!("Kind{i}")))
            .collect();
        let mut snap = Snapshot {
            format: CACHE_FORMAT,
            context: "dev".into(),
            crds: crds.clone(),
            ..Default::default()
        };
        cache.store(&mut snap).unwrap();
        assert_eq!(snap.crd_index.len(), 12);
        assert_eq!(snap.crd_index[4].group, "g1.example.com");
        assert_eq!(snap.crd_index[4].kind, "Kind4");
        let first_file = snap.crd_file.clone();
        assert!(cache.dir.join(&first_file).is_file());
        // snapshot.json does not hold the CRDs.
        let head = std::fs::read_to_string(cache.snapshot_path()).unwrap();
        assert!(!head.contains("CustomResourceDefinition"), "{head}");
        // All of them, in order.
        let full = cache.load().unwrap().unwrap();
        assert_eq!(full.crds, crds);
        assert!(!full.partial);
        assert_eq!(full.crd_count(), 12);
        // Those of one group (4 of 12: read at their offsets), then one (read the same way).
        let part = cache
            .load_partial(|e| e.group == "g2.example.com")
            .unwrap()
            .unwrap();
        let kinds: Vec<&str> = part
            .crds
            .iter()
            .map(|c| c["spec"]["names"]["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["Kind2", "Kind5", "Kind8", "Kind11"]);
        assert!(part.partial);
        assert_eq!(part.crd_count(), 12);
        let one = cache.load_partial(|e| e.kind == "Kind7").unwrap().unwrap();
        assert_eq!(one.crds, vec![crds[7].clone()]);
        // A partly loaded snapshot is never stored.
        let mut part = part;
        assert!(cache.store(&mut part).is_err());
        // New CRDs: a new file, the old one removed.
        snap.crds.truncate(5);
        cache.store(&mut snap).unwrap();
        assert_ne!(snap.crd_file, first_file);
        assert!(!cache.dir.join(&first_file).exists());
        assert_eq!(cache.load().unwrap().unwrap().crds, crds[..5].to_vec());
        // A damaged CRD file is an error naming the file, not a cache without CRDs.
        std::fs::write(cache.dir.join(&snap.crd_file), b"{\"trunc").unwrap();
        let e = cache.load().unwrap_err();
        assert!(e.contains(".jsonl"), "{e}");
        let e = cache.load_partial(|e| e.kind == "Kind3").unwrap_err();
        assert!(e.contains("Kind3") || e.contains("kind3"), "{e}");
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(human_age(Duration::from_secs(5)), "5 s");
        assert_eq!(human_age(Duration::from_secs(600)), "10 min");
        assert_eq!(human_age(Duration::from_secs(7800)), "2 h 10 min");
        assert_eq!(human_age(Duration::from_secs(3 * 86_400)), "3 days");
    }
}
