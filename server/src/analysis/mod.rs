//! The analysis core: turns a file's text into findings (YAML and schema), caching per document
//! content. Protocol-free: the CLI, the language server and the MCP server convert its output.

pub mod context;
pub mod hardening;
pub mod ide;
mod policy_fix;
pub mod setup;
pub mod skeleton;
mod suppress;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::finding::{Finding, Fix, Related, Severity, TextEdit};
use crate::schema::{Catalog, KindSource, SchemaCheckOptions, SchemaFix, check_document};
use crate::yaml::{YamlDocument, YamlFile, YamlIssue};

/// Documents larger than this are not analysed: no Kubernetes object can be this large (the
/// API server's request limit is 3 MiB), and tree-sitter's memory grows with the document.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
/// tree-sitter-yaml counts rows in 16 bits: longer documents cannot be parsed reliably.
pub const MAX_DOCUMENT_LINES: usize = 32_767;

/// The result of analysing one document, shared by every file and edit that has the same bytes.
#[derive(Debug, Default)]
pub struct DocumentAnalysis {
    pub findings: Vec<Finding>,
    /// Whether the document is a Kubernetes object (has apiVersion/kind).
    pub is_resource: bool,
}

pub struct Analyzer {
    pub catalog: Arc<Catalog>,
    pub options: SchemaCheckOptions,
    /// Kyverno policies evaluated on every resource.
    pub policies: Arc<Vec<crate::policy::Policy>>,
    policy_options: crate::policy::engine::EvalOptions,
    cache: Mutex<HashMap<u64, Arc<DocumentAnalysis>>>,
    /// The knowledge index: written rules behind policy findings, and beside resources.
    pub knowledge: Option<Arc<crate::knowledge::advisor::Advisor>>,
    /// Written-rule findings per document content hash (the resource's fingerprint).
    knowledge_cache: Mutex<HashMap<u64, Arc<Vec<Finding>>>>,
}

/// What is wrong with a file as a whole (not YAML text at all): a code, a message and the byte
/// offset it concerns.
pub type FileProblem = (&'static str, String, usize);

/// The file's text, or why it is not YAML text at all (too large, binary, not UTF-8). UTF-8 is
/// validated once, here, and the text is borrowed, not copied.
pub fn decode_file(bytes: &[u8], max_bytes: usize) -> Result<&str, FileProblem> {
    if bytes.len() > max_bytes {
        return Err((
            "file/too-large",
            format!(
                "file is {} MiB, larger than the limit of {} MiB; not analysed",
                bytes.len() >> 20,
                max_bytes >> 20
            ),
            0,
        ));
    }
    let head = &bytes[..bytes.len().min(8192)];
    if let Some(i) = head.iter().position(|&b| b == 0) {
        return Err((
            "file/binary",
            "binary file (contains NUL bytes); not analysed".into(),
            i,
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        (
            "file/invalid-utf8",
            format!("invalid UTF-8 at byte {at}; YAML files must be UTF-8 text"),
            at,
        )
    })
}

impl Analyzer {
    pub fn new(catalog: Arc<Catalog>, options: SchemaCheckOptions) -> Self {
        Analyzer {
            catalog,
            options,
            policies: Arc::new(Vec::new()),
            policy_options: Default::default(),
            cache: Mutex::new(HashMap::new()),
            knowledge: None,
            knowledge_cache: Mutex::new(HashMap::new()),
        }
    }

    /// A copy with the same schemas, policies and options, and empty caches (to attach a
    /// knowledge index to while this one stays in use).
    pub fn without_caches(&self) -> Analyzer {
        Analyzer {
            catalog: self.catalog.clone(),
            options: self.options,
            policies: self.policies.clone(),
            policy_options: self.policy_options.clone(),
            cache: Mutex::new(HashMap::new()),
            knowledge: self.knowledge.clone(),
            knowledge_cache: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the knowledge index (policy findings then name the written rules behind them).
    pub fn set_knowledge(&mut self, advisor: Option<Arc<crate::knowledge::advisor::Advisor>>) {
        self.knowledge = advisor;
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
        if let Ok(mut c) = self.knowledge_cache.lock() {
            c.clear();
        }
    }

    /// The resource of a document as JSON (None when it is not one).
    pub fn resource_json(doc: &YamlDocument) -> Option<serde_json::Value> {
        let root = doc.root()?;
        let is_resource = root.get("kind").is_some() && root.get("apiVersion").is_some();
        is_resource.then(|| root.to_json())
    }

    /// Whether the knowledge findings of `doc` are at hand without a search (one hash
    /// lookup: this runs for every document on every keystroke).
    pub fn knowledge_cached(&self, doc: &YamlDocument) -> bool {
        self.knowledge.is_none()
            || self
                .knowledge_cache
                .lock()
                .is_ok_and(|c| c.contains_key(&doc.hash))
    }

    /// For `usher check --explain`: the knowledge index's top hits for the resource of `doc`
    /// (policies, written rules, kinds) as Information findings on its `kind`, then the
    /// written rules above the threshold (see [`Analyzer::knowledge_findings`]).
    pub fn explain_findings(&self, doc: &YamlDocument) -> Vec<Finding> {
        let (Some(k), Some(json), Some(root)) =
            (&self.knowledge, Self::resource_json(doc), doc.root())
        else {
            return Vec::new();
        };
        let span = kind_span(root);
        let advice = k.for_resource(&json);
        let mut out: Vec<Finding> = advice
            .hits
            .iter()
            .filter(|a| !advice.written.iter().any(|w| w.chunk.id == a.chunk.id))
            .map(|a| {
                let c = &a.chunk;
                Finding {
                    severity: Severity::Info,
                    range: span.start as usize..span.end as usize,
                    message: format!(
                        "related {}{}: {} — {}",
                        c.source_type.as_str(),
                        a.relevance
                            .map(|r| format!(" (relevance {r:.2})"))
                            .unwrap_or_default(),
                        c.title.replace('\n', " "),
                        crate::knowledge::advisor::summary(c, 160)
                    ),
                    source: "usher",
                    code: "knowledge/related".into(),
                    pointer: None,
                    related: vec![Related {
                        message: Some(crate::knowledge::advisor::provenance_line(c))
                            .filter(|p| !p.is_empty())
                            .unwrap_or_else(|| c.id.clone()),
                        path: k.source_path(c),
                        range: None,
                        line: c.provenance.lines.map(|(a, _)| a),
                    }],
                    fixes: Vec::new(),
                }
            })
            .collect();
        out.extend(self.knowledge_findings(doc).iter().cloned());
        out
    }

    /// Written rules relevant to the resource of `doc` (above the configured threshold), as
    /// Information findings on its `kind` (ranges relative to the document). Not part of
    /// [`Analyzer::analyze_document`]: the lookup embeds the resource's query, so the language
    /// server runs it after publishing the other findings.
    pub fn knowledge_findings(&self, doc: &YamlDocument) -> Arc<Vec<Finding>> {
        if self.knowledge.is_none() {
            return Arc::default();
        }
        if let Some(hit) = self
            .knowledge_cache
            .lock()
            .ok()
            .and_then(|c| c.get(&doc.hash).cloned())
        {
            return hit;
        }
        let found = Arc::new(self.compute_knowledge_findings(doc));
        if let Ok(mut c) = self.knowledge_cache.lock() {
            if c.len() > 50_000 {
                c.clear();
            }
            c.insert(doc.hash, found.clone());
        }
        found
    }

    fn compute_knowledge_findings(&self, doc: &YamlDocument) -> Vec<Finding> {
        let (Some(k), Some(json), Some(root)) =
            (&self.knowledge, Self::resource_json(doc), doc.root())
        else {
            return Vec::new();
        };
        let span = kind_span(root);
        k.for_resource(&json)
            .written
            .iter()
            .map(|a| {
                let c = &a.chunk;
                let origin = crate::knowledge::advisor::provenance_line(c);
                Finding {
                    severity: Severity::Info,
                    range: span.start as usize..span.end as usize,
                    message: format!(
                        "written rule ({origin}): {}",
                        crate::knowledge::advisor::summary(c, 160)
                    ),
                    source: "usher",
                    code: "knowledge/written-rule".into(),
                    pointer: None,
                    related: vec![Related {
                        message: format!(
                            "{} (relevance {:.2})",
                            c.title,
                            a.relevance.unwrap_or_default()
                        ),
                        path: k.source_path(c),
                        range: None,
                        line: c.provenance.lines.map(|(a, _)| a),
                    }],
                    fixes: Vec::new(),
                }
            })
            .collect()
    }

    /// Sets the policies to evaluate (and the namespace of resources that name none).
    pub fn set_policies(
        &mut self,
        policies: Vec<crate::policy::Policy>,
        default_namespace: Option<String>,
    ) {
        self.policies = Arc::new(policies);
        self.policy_options.default_namespace = default_namespace;
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
    }

    /// PolicyExceptions (the rules they name are skipped on the resources they match) and
    /// whether policies are evaluated as Kyverno's background scan rather than at admission.
    pub fn set_exceptions(
        &mut self,
        exceptions: Vec<crate::policy::exception::PolicyException>,
        background_scan: bool,
    ) {
        self.policy_options.exceptions = Arc::new(exceptions);
        self.policy_options.background_scan = background_scan;
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
    }

    /// Resources known locally (the policy files' ConfigMaps, Namespaces, …) that CEL policies'
    /// parameters and `resource.Get`/`resource.List` are answered from.
    /// Answers to policies' GET `apiCall` context entries, by URL path (the cluster cache).
    pub fn set_api_calls(
        &mut self,
        answers: std::collections::BTreeMap<String, serde_json::Value>,
    ) {
        self.policy_options.api_calls = Arc::new(answers);
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
    }

    pub fn set_cel_resources(&mut self, resources: Vec<serde_json::Value>) {
        self.policy_options.cel_resources = Arc::new(resources);
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
    }

    /// Analyses one document (`text` is the whole file); ranges are relative to the document.
    pub fn analyze_document(&self, text: &str, doc: &YamlDocument) -> Arc<DocumentAnalysis> {
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(&doc.hash)
        {
            return hit.clone();
        }
        let result = Arc::new(self.compute(&text[doc.start..doc.end], doc));
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 50_000 {
                cache.clear();
            }
            cache.insert(doc.hash, result.clone());
        }
        result
    }

    fn compute(&self, body: &str, doc: &YamlDocument) -> DocumentAnalysis {
        let mut out = self.compute_unsorted(body, doc);
        suppress::apply(body, &mut out.findings);
        out.findings.sort_by(|a, b| {
            a.range
                .start
                .cmp(&b.range.start)
                .then(b.severity.cmp(&a.severity))
        });
        out
    }

    fn compute_unsorted(&self, body: &str, doc: &YamlDocument) -> DocumentAnalysis {
        let mut out = DocumentAnalysis::default();
        if body.len() > MAX_DOCUMENT_BYTES {
            out.findings.push(plain(
                Severity::Error,
                0..body.find('\n').unwrap_or(body.len()),
                "yaml/document-too-large",
                format!(
                    "document is {} MiB; documents over {} MiB are not analysed",
                    body.len() >> 20,
                    MAX_DOCUMENT_BYTES >> 20
                ),
            ));
            return out;
        }
        let lowered = &doc.lowered;
        let many_lines = lowered.root.is_none()
            && body.bytes().filter(|&b| b == b'\n').count() > MAX_DOCUMENT_LINES;
        if many_lines {
            out.findings.push(plain(
                Severity::Warning,
                0..body.find('\n').unwrap_or(body.len()),
                "yaml/document-too-long",
                format!("document has more than {MAX_DOCUMENT_LINES} lines, more than the YAML parser handles; not analysed"),
            ));
            return out;
        }
        for issue in &lowered.issues {
            out.findings.push(yaml_finding(issue));
        }
        let Some(root) = &lowered.root else {
            return out;
        };
        out.is_resource = crate::schema::resource_id(root).is_some();
        if !out.is_resource {
            return out;
        }
        let related = self.schema_origin(root);
        if !self.policies.is_empty() {
            // The resource as JSON, made once for both.
            let json = root.to_json();
            self.policy_findings(root, &json, &mut out.findings);
            self.mutation_findings(body, root, &json, &mut out.findings);
        }
        for issue in check_document(&self.catalog, root, &self.options) {
            let range = issue.span.start as usize..issue.span.end as usize;
            let fixes = match &issue.fix {
                Some(SchemaFix::AddFields(fields)) => {
                    add_fields_fix(&self.catalog, body, root, &issue.pointer, fields)
                }
                Some(SchemaFix::ReplaceValue(to))
                    if matches!(issue.code, "schema/removed-api" | "schema/deprecated-api")
                        && to.len() == 1 =>
                {
                    self.migration_fix(root, &to[0], range.clone())
                }
                _ => schema_fixes(&issue.fix, range.clone(), body),
            };
            let mut message = issue.message;
            if issue.code == "schema/type" {
                let note = yaml_1_1_note(body.get(range.clone()).unwrap_or_default());
                match message.strip_suffix(": quote it") {
                    Some(head) if !note.is_empty() => message = format!("{head}{note}: quote it"),
                    _ => message.push_str(&note),
                }
            }
            out.findings.push(Finding {
                severity: issue.severity,
                range,
                message,
                source: "usher",
                code: issue.code.into(),
                pointer: Some(issue.pointer),
                related: related.clone().into_iter().collect(),
                fixes,
            });
        }
        out
    }

    /// Kyverno policy results as findings, placed on the failing path: a wrong value on the
    /// value, a missing key on its parent's key, a rule without a path on `kind`.
    fn policy_findings(
        &self,
        root: &crate::yaml::Node,
        json: &serde_json::Value,
        out: &mut Vec<Finding>,
    ) {
        use crate::policy::engine::{Status, evaluate_all};
        let outcomes = evaluate_all(&self.policies, json, &self.policy_options);
        for o in outcomes {
            let policy = &self.policies[o.policy_index];
            // ValidatingPolicy / ValidatingAdmissionPolicy have no named rules.
            let code = if o.rule.is_empty() {
                o.policy.clone()
            } else {
                format!("{}/{}", o.policy, o.rule)
            };
            {
                let (severity, code) = match o.status {
                    Status::Fail => (
                        match o.action {
                            crate::policy::FailureAction::Enforce => Severity::Error,
                            crate::policy::FailureAction::Audit => Severity::Warning,
                        },
                        code.clone(),
                    ),
                    Status::Error => (Severity::Warning, code.clone()),
                    Status::Unsupported if o.message.starts_with("needs cluster data") => {
                        (Severity::Info, code.clone())
                    }
                    _ => continue,
                };
                let span = match o.pointer.as_deref().and_then(|p| root.pointer(p)) {
                    Some(t) => match (&t.node.value, t.key_span) {
                        (crate::yaml::Value::Map(_) | crate::yaml::Value::Seq(_), Some(k)) => k,
                        _ if t.node.span.is_empty() => t.key_span.unwrap_or(t.node.span),
                        _ => t.node.span,
                    },
                    None => match o.pointer.as_deref() {
                        Some(p) => {
                            let t = root.closest(p);
                            match (t.key_span, &t.node.value) {
                                (Some(k), _) => k,
                                // A list item: its first key (`- name: …`).
                                (None, crate::yaml::Value::Map(entries)) if !entries.is_empty() => {
                                    entries[0].key_span
                                }
                                _ => kind_span(root),
                            }
                        }
                        None => kind_span(root),
                    },
                };
                let category = policy
                    .annotations
                    .get("policies.kyverno.io/category")
                    .and_then(|c| c.as_str())
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default();
                let message = match o.status {
                    Status::Error if o.rule.is_empty() => format!(
                        "{} {} could not be evaluated: {}",
                        policy.kind, o.policy, o.message
                    ),
                    Status::Error => format!(
                        "policy {} rule {} could not be evaluated: {}",
                        o.policy, o.rule, o.message
                    ),
                    _ => o.message.clone(),
                };
                out.push(Finding {
                    severity,
                    range: span.start as usize..span.end as usize,
                    message,
                    source: if policy.kind == "ValidatingAdmissionPolicy" {
                        "admission"
                    } else {
                        "kyverno"
                    },
                    code: code.into(),
                    pointer: o.pointer.clone(),
                    related: self.policy_related(policy, category),
                    fixes: Vec::new(),
                });
            }
        }
    }

    /// A policy finding's related places: the policy, then the written rules behind it.
    fn policy_related(&self, policy: &crate::policy::Policy, category: String) -> Vec<Related> {
        let mut related = vec![Related {
            message: format!("policy {}{category}", policy.name),
            path: Some(policy.path.clone()),
            range: None,
            line: None,
        }];
        if let Some(k) = &self.knowledge {
            for a in k.for_policy(&policy.name).iter() {
                let c = &a.chunk;
                related.push(Related {
                    message: format!(
                        "written rule ({}): {}",
                        crate::knowledge::advisor::provenance_line(c),
                        crate::knowledge::advisor::summary(c, 160)
                    ),
                    path: k.source_path(c),
                    range: None,
                    line: c.provenance.lines.map(|(a, _)| a),
                });
            }
        }
        related
    }

    /// Changing a removed or deprecated apiVersion to its replacement. The change is
    /// mechanical when the resource is valid under the new version as it stands; otherwise
    /// the fix says how many findings the new version's schema would leave.
    fn migration_fix(
        &self,
        root: &crate::yaml::Node,
        to: &str,
        range: std::ops::Range<usize>,
    ) -> Vec<Fix> {
        use crate::yaml::{Node, Value};
        let Value::Map(entries) = &root.value else {
            return Vec::new();
        };
        let mut migrated = entries.clone();
        for e in &mut migrated {
            if e.key == "apiVersion" {
                e.value = Node::new(Value::Str(to.to_string()), e.value.span);
            }
        }
        let migrated = Node::new(Value::Map(migrated), root.span);
        let left = check_document(&self.catalog, &migrated, &self.options)
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .count();
        let (title, preferred) = if left == 0 {
            (format!("Migrate to `{to}`"), true)
        } else {
            (
                format!(
                    "Change apiVersion to `{to}` ({left} field{} then need{} changes)",
                    if left == 1 { "" } else { "s" },
                    if left == 1 { "s" } else { "" }
                ),
                false,
            )
        };
        vec![Fix {
            title,
            edits: vec![TextEdit {
                range,
                new_text: to.to_string(),
            }],
            preferred,
        }]
    }

    /// The CRD file a resource's schema came from, for `relatedInformation`.
    fn schema_origin(&self, root: &crate::yaml::Node) -> Option<Related> {
        let api = root.get("apiVersion")?.as_str()?;
        let kind = root.get("kind")?.as_str()?;
        match &self.catalog.lookup(api, kind)?.source {
            KindSource::Crd { path, name } => Some(Related {
                message: format!("schema from CustomResourceDefinition {name}"),
                path: Some(path.clone()),
                range: None,
                line: None,
            }),
            KindSource::Builtin | KindSource::Cluster { .. } => None,
        }
    }

    /// Analyses a whole file's text; ranges are absolute byte offsets. Documents are lowered
    /// in parallel and dropped as soon as they are analysed, so memory stays bounded by the
    /// findings, not by the size of the file.
    pub fn analyze_text(&self, text: &str) -> FileAnalysis {
        use rayon::prelude::*;
        let segments = crate::yaml::split_documents(text);
        let parts: Vec<(usize, Arc<DocumentAnalysis>)> = segments
            .par_iter()
            .map(|seg| {
                let doc = YamlDocument::new(text, *seg);
                (doc.start, self.analyze_document(text, &doc))
            })
            .collect();
        FileAnalysis::new(parts)
    }

    /// Analyses a file already split and lowered (the language server keeps one per open
    /// document and updates it edit by edit).
    pub fn analyze_parsed(&self, text: &str, file: &YamlFile) -> FileAnalysis {
        self.analyze_parsed_until(text, file, &|| false)
            .unwrap_or_default()
    }

    /// As [`Analyzer::analyze_parsed`], but gives up (None) between documents once
    /// `cancelled` says the result is no longer wanted.
    pub fn analyze_parsed_until(
        &self,
        text: &str,
        file: &YamlFile,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<FileAnalysis> {
        let mut parts = Vec::with_capacity(file.docs.len());
        for doc in &file.docs {
            if cancelled() {
                return None;
            }
            parts.push((doc.start, self.analyze_document(text, doc)));
        }
        Some(FileAnalysis::new(parts))
    }
}

/// The span of a resource's `kind` value (where findings without a path go).
pub(crate) fn kind_span(root: &crate::yaml::Node) -> crate::yaml::Span {
    root.entry("kind").map(|e| e.value.span).unwrap_or_else(|| {
        crate::yaml::Span::new(root.span.start as usize, root.span.start as usize)
    })
}

/// A file's findings: each document's analysis (shared with the cache, so an edit costs only
/// the documents it touched) at its offset in the file. Findings come in file order; a missing
/// schema is reported once per file (per apiVersion and kind).
#[derive(Debug, Default)]
pub struct FileAnalysis {
    parts: Vec<(usize, Arc<DocumentAnalysis>)>,
    /// Findings left out as repeats: (part, finding) indices.
    repeats: HashSet<(usize, usize)>,
    pub resources: usize,
    pub documents: usize,
}

impl FileAnalysis {
    fn new(parts: Vec<(usize, Arc<DocumentAnalysis>)>) -> Self {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut repeats = HashSet::new();
        for (p, (_, a)) in parts.iter().enumerate() {
            for (i, f) in a.findings.iter().enumerate() {
                if f.code == "schema/missing-schema" && !seen.insert(&f.message) {
                    repeats.insert((p, i));
                }
            }
        }
        FileAnalysis {
            resources: parts.iter().filter(|(_, a)| a.is_resource).count(),
            documents: parts.len(),
            repeats,
            parts,
        }
    }

    /// Every finding with the offset of its document (its ranges are relative to that).
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Finding)> {
        self.parts.iter().enumerate().flat_map(move |(p, (at, a))| {
            a.findings
                .iter()
                .enumerate()
                .filter(move |(i, _)| !self.repeats.contains(&(p, *i)))
                .map(move |(_, f)| (*at, f))
        })
    }

    pub fn len(&self) -> usize {
        self.parts
            .iter()
            .map(|(_, a)| a.findings.len())
            .sum::<usize>()
            - self.repeats.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The findings with file offsets.
    pub fn findings(&self) -> Vec<Finding> {
        self.iter().map(|(at, f)| shift(f, at)).collect()
    }

    /// The findings whose range (with file offsets) touches `range`, with their document's
    /// offset (their own ranges are relative to it).
    pub fn touching(&self, range: std::ops::Range<usize>) -> Vec<(usize, &Finding)> {
        self.iter()
            .filter(|(at, f)| f.range.start + at <= range.end && range.start <= f.range.end + at)
            .collect()
    }

    /// The findings (with file offsets) whose range touches `range`.
    pub fn findings_touching(&self, range: std::ops::Range<usize>) -> Vec<Finding> {
        self.touching(range)
            .into_iter()
            .map(|(at, f)| shift(f, at))
            .collect()
    }
}

/// A finding about a whole file (unreadable, binary, not UTF-8, too large).
pub fn file_finding(code: &'static str, message: String, range: std::ops::Range<usize>) -> Finding {
    plain(Severity::Error, range, code, message)
}

fn plain(
    severity: Severity,
    range: std::ops::Range<usize>,
    code: &'static str,
    message: String,
) -> Finding {
    Finding {
        severity,
        range,
        message,
        source: "usher",
        code: code.into(),
        pointer: None,
        related: Vec::new(),
        fixes: Vec::new(),
    }
}

fn yaml_finding(issue: &YamlIssue) -> Finding {
    let severity = if issue.kind.is_error() {
        Severity::Error
    } else {
        Severity::Warning
    };
    let mut f = plain(
        severity,
        issue.span.start as usize..issue.span.end as usize,
        issue.kind.code(),
        issue.message.clone(),
    );
    if let Some(first) = issue.related {
        f.related.push(Related {
            message: "first defined here".into(),
            path: None,
            range: Some(first.start as usize..first.end as usize),
            line: None,
        });
    }
    f
}

/// Moves a document-relative finding (its ranges, related places and fixes' edits) to file
/// offsets.
pub fn shift(f: &Finding, by: usize) -> Finding {
    let mut f = f.clone();
    f.range = f.range.start + by..f.range.end + by;
    for r in &mut f.related {
        if r.path.is_none()
            && let Some(range) = &r.range
        {
            r.range = Some(range.start + by..range.end + by);
        }
    }
    for fix in &mut f.fixes {
        for e in &mut fix.edits {
            e.range = e.range.start + by..e.range.end + by;
        }
    }
    f
}

/// For a plain scalar that Kubernetes' YAML (1.1) reads as something else than its text
/// (`yes` as true, `0755` as 493), a note saying so; otherwise nothing.
fn yaml_1_1_note(source: &str) -> String {
    use crate::yaml::Value;
    let source = source.trim();
    let v = crate::yaml::scalar::resolve_plain(source);
    let only_1_1 = match v {
        Value::Bool(_) => {
            !source.eq_ignore_ascii_case("true") && !source.eq_ignore_ascii_case("false")
        }
        Value::Int(i) => crate::yaml::scalar::parse_int(source) != Some(i),
        _ => false,
    };
    if only_1_1 {
        format!(" (Kubernetes reads the unquoted `{source}` as {v}, the YAML 1.1 way)")
    } else {
        String::new()
    }
}

/// Whether `s` written as a plain YAML scalar would read back as the same string.
pub fn plain_safe(s: &str) -> bool {
    !s.is_empty()
        && matches!(
            crate::yaml::scalar::resolve_plain(s),
            crate::yaml::Value::Str(_)
        )
        && !s.starts_with([
            '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%',
            '@', '`', ' ',
        ])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with([':', ' '])
}

fn schema_fixes(fix: &Option<SchemaFix>, range: std::ops::Range<usize>, body: &str) -> Vec<Fix> {
    let Some(fix) = fix else { return Vec::new() };
    match fix {
        SchemaFix::RenameKey(to) => vec![Fix {
            title: format!("Rename to `{to}`"),
            edits: vec![TextEdit {
                range,
                new_text: to.clone(),
            }],
            preferred: true,
        }],
        SchemaFix::ReplaceValue(candidates) => {
            let original = body.get(range.clone()).unwrap_or_default();
            let quoted = original.starts_with(['"', '\'']);
            candidates
                .iter()
                .take(3)
                .map(|c| {
                    let new_text = if c.starts_with('"') || (plain_safe(c) && !quoted) {
                        c.clone()
                    } else {
                        serde_json::to_string(c).unwrap_or_else(|_| c.clone())
                    };
                    Fix {
                        title: format!("Replace with `{}`", c.trim_matches('"')),
                        edits: vec![TextEdit {
                            range: range.clone(),
                            new_text,
                        }],
                        preferred: candidates.len() == 1,
                    }
                })
                .collect()
        }
        SchemaFix::QuoteValue => {
            let original = body.get(range.clone()).unwrap_or_default();
            if original.is_empty() || original.starts_with(['"', '\'']) {
                return Vec::new();
            }
            vec![Fix {
                title: format!("Quote `{original}`"),
                edits: vec![TextEdit {
                    range,
                    new_text: serde_json::to_string(original).unwrap_or_default(),
                }],
                preferred: true,
            }]
        }
        SchemaFix::AddFields(_) => Vec::new(),
    }
}

/// "Add missing fields": the required fields with placeholder values, as lines after the last
/// entry of the mapping at `pointer` (or under its key when it is empty). Flow mappings get no
/// fix. Comments and the rest of the text are left as they are.
fn add_fields_fix(
    catalog: &Catalog,
    body: &str,
    root: &crate::yaml::Node,
    pointer: &str,
    fields: &[(String, Option<crate::schema::model::SchemaId>)],
) -> Vec<Fix> {
    use crate::yaml::Value;
    let Some(target) = root.pointer(pointer) else {
        return Vec::new();
    };
    let column = |at: usize| at - body[..at].rfind('\n').map_or(0, |p| p + 1);
    let line_end = |at: usize| body[at..].find('\n').map_or(body.len(), |p| at + p);
    let node = target.node;
    let (at, indent, lead) = match &node.value {
        Value::Map(entries) if !entries.is_empty() => {
            let first = entries[0].key_span.start as usize;
            if body[..first].ends_with('{') || body[node.span.start as usize..].starts_with('{') {
                return Vec::new();
            }
            let last = entries
                .iter()
                .map(|e| e.value.span.end.max(e.key_span.end) as usize)
                .max()
                .unwrap_or(first);
            (line_end(last), column(first), "\n")
        }
        Value::Null if node.span.is_empty() => {
            let Some(key) = target.key_span else {
                return Vec::new();
            };
            let key_start = key.start as usize;
            // A key after `- ` keeps the item's column for its children.
            (line_end(key.end as usize), column(key_start) + 2, "\n")
        }
        _ => return Vec::new(),
    };
    let mut sk = skeleton::Skeleton::new(&catalog.arena, false);
    sk.max_depth = 3;
    let mut text = String::new();
    for (name, id) in fields {
        text.push_str(lead);
        text.push_str(&" ".repeat(indent));
        sk.field(&mut text, name, *id, indent, 0);
    }
    let names: Vec<String> = fields.iter().map(|(n, _)| format!("`{n}`")).collect();
    vec![Fix {
        title: format!("Add missing {}", names.join(", ")),
        edits: vec![TextEdit {
            range: at..at,
            new_text: text,
        }],
        preferred: true,
    }]
}
