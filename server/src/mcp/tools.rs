//! The tools `usher mcp` offers, protocol-free: each takes its JSON arguments and returns a
//! structured result (checked against the output schema it declares), a text rendering and a
//! one-line summary for the audit log. Nothing here writes a file or talks to a cluster.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::analysis::Analyzer;
use crate::analysis::context::Seg;
use crate::analysis::skeleton::{enum_values, properties, required, scalar_text, schema_at};
use crate::config::Config;
use crate::finding::{Finding, Severity};
use crate::knowledge::SourceType;
use crate::knowledge::advisor::{Advice, Advisor, provenance_line, summary};
use crate::knowledge::build::{BuildOptions, Embeddings, build};
use crate::knowledge::index::Filters;
use crate::policy::Policy;
use crate::schema::Catalog;
use crate::schema::catalog::KindInfo;
use crate::text::{LineIndex, PositionEncoding};
use crate::yaml::YamlFile;

/// Bounds on what a caller may ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest `yaml` accepted by `check_manifest`, in bytes.
    pub max_yaml_bytes: usize,
    /// Longest query, in characters.
    pub max_query_chars: usize,
    /// Most results a search returns.
    pub max_k: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_yaml_bytes: 1 << 20,
            max_query_chars: 2_000,
            max_k: 50,
        }
    }
}

/// A tool's answer.
#[derive(Debug)]
pub struct Output {
    pub structured: Json,
    pub text: String,
    /// One line for the audit log.
    pub summary: String,
}

/// A tool's definition, as `tools/list` shows it.
pub struct ToolDef {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input: Json,
    pub output: Json,
}

/// The knowledge index as the tools use it, opened (or built, BM25 only, in a temporary
/// folder when the workspace has none) once, in the background.
pub struct Knowledge {
    pub advisor: Option<Arc<Advisor>>,
    /// The analyzer with the index attached (written rules beside findings).
    pub analyzer: Arc<Analyzer>,
    /// What the index is, in one line (or why there is none).
    pub status: String,
    _temporary: Option<tempfile::TempDir>,
}

/// The workspace the server answers about: its configuration, schemas, policies and index.
pub struct Workspace {
    pub root: PathBuf,
    pub config: Config,
    pub config_file: Option<PathBuf>,
    /// Schemas and policies, without the knowledge index (ready at start).
    pub analyzer: Arc<Analyzer>,
    /// CRD and policy files that could not be read.
    pub load_errors: Vec<String>,
    /// Which cluster cache is used, or why none is.
    pub notices: Vec<String>,
    /// The cluster cache in use: its kinds and policies go into the in-memory index too.
    pub cluster: Option<Arc<crate::cluster::ClusterView>>,
    pub limits: Limits,
    knowledge: OnceLock<Knowledge>,
}

impl Workspace {
    /// Reads the configuration (`config`, else `.usher.yaml` from `root` upwards), the CRDs
    /// and the policies. The knowledge index is opened later ([`Workspace::knowledge`]).
    /// With `use_cluster`, the cached data of the kubeconfig context `context` (else the
    /// configured or current one) is used when it has a cache; the cluster is never contacted.
    pub fn load(
        root: &Path,
        config: Option<&Path>,
        no_config: bool,
        use_cluster: bool,
        context: Option<&str>,
    ) -> Result<Workspace, String> {
        let config_file = if no_config {
            None
        } else {
            config
                .map(Path::to_path_buf)
                .or_else(|| Config::discover(root))
        };
        let cfg = match &config_file {
            Some(p) => Config::load(p).map_err(|e| e.to_string())?,
            None => Config::default(),
        };
        let root = config_file
            .as_ref()
            .and_then(|p| p.parent())
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
        let mut settings = crate::lsp::settings::Settings::default();
        settings.config = cfg.clone();
        settings.workspace = root.clone();
        let mut notices = Vec::new();
        let cluster = if use_cluster {
            let loaded = crate::cluster::load_configured(cfg.cluster.as_ref(), context, None);
            if let Some(e) = loaded.error {
                return Err(e);
            }
            notices = loaded.notices;
            if let Some(v) = &loaded.view {
                notices.push(format!("using the {}", v.summary()));
            }
            loaded.view.map(Arc::new)
        } else {
            None
        };
        let (analyzer, load_errors) = settings.analyzer_for(cluster.as_deref());
        Ok(Workspace {
            notices,
            cluster,
            root,
            config: cfg,
            config_file,
            analyzer: Arc::new(analyzer),
            load_errors,
            limits: Limits::default(),
            knowledge: OnceLock::new(),
        })
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.analyzer.catalog
    }

    /// The knowledge index, opened on first use (the server starts this in the background).
    pub fn knowledge(&self) -> &Knowledge {
        self.knowledge.get_or_init(|| self.open_knowledge())
    }

    fn open_knowledge(&self) -> Knowledge {
        let kc = self.config.knowledge.as_ref();
        let attach = |advisor: Option<Arc<Advisor>>| {
            let mut a = self.analyzer.without_caches();
            a.set_knowledge(advisor);
            Arc::new(a)
        };
        match crate::knowledge::advisor::open_configured(kc, &self.root) {
            Ok(Some((advisor, notices))) => {
                let mode = if advisor.has_vectors() {
                    "words and meaning"
                } else {
                    "words only (BM25)"
                };
                let mut status = format!("index {} ({mode})", advisor.index().dir.display());
                for n in notices {
                    status.push_str("; ");
                    status.push_str(&n);
                }
                let advisor = Some(Arc::new(advisor));
                return Knowledge {
                    analyzer: attach(advisor.clone()),
                    advisor,
                    status,
                    _temporary: None,
                };
            }
            Ok(None) => {}
            Err(e) => {
                return Knowledge {
                    advisor: None,
                    analyzer: attach(None),
                    status: e,
                    _temporary: None,
                };
            }
        }
        // No index yet: the policies, the kinds and the configured sources, by words only, in
        // a folder that goes away with the server. `usher index` makes a lasting one with
        // meaning as well.
        let built = (|| {
            let tmp = tempfile::Builder::new()
                .prefix("usher-mcp-index-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary index folder: {e}"))?;
            let mut opts = BuildOptions::new(tmp.path().join("index"));
            opts.sources = kc.map(|k| k.sources.clone()).unwrap_or_default();
            opts.sources.retain(|p| p.exists());
            opts.policies = self.config.policies.clone().unwrap_or_default();
            opts.crds = self.config.crds.clone();
            opts.kinds = kc.and_then(|k| k.kinds).unwrap_or(true);
            opts.cluster = self.cluster.clone();
            build(&opts, Embeddings::Off, &mut |_| {})?;
            let (advisor, _) = Advisor::open(&opts.dir, || Err(String::new()), None, &self.root)
                .map_err(|e| format!("{e:?}"))?;
            Ok::<_, String>((advisor, tmp))
        })();
        match built {
            Ok((advisor, tmp)) => {
                let advisor = Some(Arc::new(advisor));
                Knowledge {
                    analyzer: attach(advisor.clone()),
                    advisor,
                    status: format!(
                        "no knowledge index in {}: policies and kinds indexed in memory, words \
                         only; run `usher index` there for written rules and ranking by meaning",
                        self.root.display()
                    ),
                    _temporary: Some(tmp),
                }
            }
            Err(e) => Knowledge {
                advisor: None,
                analyzer: attach(None),
                status: format!("no knowledge index: {e}"),
                _temporary: None,
            },
        }
    }

    /// Runs tool `name`. Errors are messages for the caller (bad arguments, nothing found).
    pub fn call(&self, name: &str, args: Json) -> Result<Output, String> {
        match name {
            "search_policies" => self.search_policies(parse(args)?),
            "check_manifest" => self.check_manifest(parse(args)?),
            "explain" => self.explain(parse(args)?),
            "find_kinds" => self.find_kinds(parse(args)?),
            "list_policies" => self.list_policies(parse(args)?),
            "get_policy" => self.get_policy(parse(args)?),
            other => Err(format!("unknown tool `{other}`")),
        }
    }

    fn check_query(&self, query: &str) -> Result<(), String> {
        let n = query.chars().count();
        if query.trim().is_empty() {
            return Err("`query` is empty: say what you are looking for".into());
        }
        if n > self.limits.max_query_chars {
            return Err(format!(
                "`query` has {n} characters; the limit is {}",
                self.limits.max_query_chars
            ));
        }
        Ok(())
    }

    fn check_k(&self, k: Option<u64>, default: usize) -> Result<usize, String> {
        match k {
            None => Ok(default),
            Some(0) => Err("`k` must be at least 1".into()),
            Some(k) if k as usize > self.limits.max_k => {
                Err(format!("`k` is {k}; the limit is {}", self.limits.max_k))
            }
            Some(k) => Ok(k as usize),
        }
    }

    fn search_policies(&self, a: SearchArgs) -> Result<Output, String> {
        self.check_query(&a.query)?;
        let k = self.check_k(a.k, 5)?;
        let source_type = match a.source_type.as_deref() {
            None | Some("") => None,
            Some(s) => Some(SourceType::parse(s).ok_or_else(|| {
                format!("`source_type` `{s}` is not one of policy, doc, slack, transcript, kind")
            })?),
        };
        let kn = self.knowledge();
        let advisor = kn.advisor.as_ref().ok_or_else(|| kn.status.clone())?;
        let filters = Filters {
            source_type,
            kind: a.kind.clone().filter(|k| !k.is_empty()),
            for_resource: None,
        };
        // Kinds have their own tool: left out unless asked for.
        let extra = if source_type.is_none() { k } else { 0 };
        let hits: Vec<Advice> = advisor
            .search(&a.query, k + extra, &filters)?
            .into_iter()
            .filter(|h| source_type.is_some() || h.chunk.source_type != SourceType::Kind)
            .take(k)
            .collect();
        let results: Vec<Json> = hits.iter().map(|h| self.advice_json(advisor, h)).collect();
        let mut text = String::new();
        for (i, r) in results.iter().enumerate() {
            text.push_str(&format!(
                "{}. [{}] {}{}\n   {}\n",
                i + 1,
                r["sourceType"].as_str().unwrap_or(""),
                r["title"].as_str().unwrap_or(""),
                match r["provenance"].as_str() {
                    Some(p) if !p.is_empty() => format!(" — {p}"),
                    _ => String::new(),
                },
                r["summary"].as_str().unwrap_or("")
            ));
        }
        if results.is_empty() {
            text.push_str("Nothing found.\n");
        }
        let ranking = if advisor.has_vectors() {
            "hybrid"
        } else {
            "bm25"
        };
        Ok(Output {
            summary: format!("{} results ({ranking})", results.len()),
            structured: json!({"results": results, "ranking": ranking, "index": kn.status}),
            text,
        })
    }

    fn advice_json(&self, advisor: &Advisor, h: &Advice) -> Json {
        let c = &h.chunk;
        let mut text = c.text.clone();
        if text.len() > MAX_TEXT {
            let mut end = MAX_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        json!({
            "id": c.id,
            "sourceType": c.source_type.as_str(),
            "title": c.title,
            "summary": summary(c, 300),
            "text": text,
            "provenance": provenance_line(c),
            "path": advisor.source_path(c).map(|p| p.display().to_string())
                .or_else(|| c.provenance.path.as_ref().map(|p| p.display().to_string())),
            "line": c.provenance.lines.map(|(a, _)| a),
            "kinds": c.kinds,
            "relevance": rounded(h.relevance),
        })
    }

    fn find_kinds(&self, a: FindKindsArgs) -> Result<Output, String> {
        self.check_query(&a.query)?;
        let k = self.check_k(a.k, 5)?;
        let kn = self.knowledge();
        let advisor = kn.advisor.as_ref().ok_or_else(|| kn.status.clone())?;
        let filters = Filters {
            source_type: Some(SourceType::Kind),
            ..Filters::default()
        };
        let catalog = self.catalog();
        let mut results = Vec::new();
        let mut text = String::new();
        for h in advisor.search(&a.query, k, &filters)? {
            let Some(rest) = h.chunk.id.strip_prefix("kind:") else {
                continue;
            };
            let Some((api, kind)) = rest.rsplit_once('/') else {
                continue;
            };
            let Some(info) = catalog.lookup(api, kind) else {
                continue;
            };
            let description = catalog
                .arena
                .description(info.root)
                .map(first_sentence)
                .unwrap_or_default();
            text.push_str(&format!(
                "{} ({}): {}\n",
                info.kind,
                info.api_version(),
                description
            ));
            results.push(json!({
                "apiVersion": info.api_version(),
                "kind": info.kind,
                "group": info.group,
                "version": info.version,
                "plural": info.plural,
                "namespaced": info.namespaced,
                "description": description,
                "source": source_json(info),
                "relevance": rounded(h.relevance),
            }));
        }
        if results.is_empty() {
            text.push_str("No kind found.\n");
        }
        Ok(Output {
            summary: format!("{} kinds", results.len()),
            structured: json!({"results": results}),
            text,
        })
    }

    fn check_manifest(&self, a: CheckArgs) -> Result<Output, String> {
        if a.yaml.len() > self.limits.max_yaml_bytes {
            return Err(format!(
                "`yaml` is {} bytes; the limit is {} bytes (check large files with `usher check`)",
                a.yaml.len(),
                self.limits.max_yaml_bytes
            ));
        }
        let filename = a.filename.unwrap_or_else(|| "manifest.yaml".into());
        if filename.len() > 1024 {
            return Err("`filename` is longer than 1024 bytes".into());
        }
        let kn = self.knowledge();
        let analyzer = &kn.analyzer;
        let text = a.yaml.strip_prefix('\u{feff}').unwrap_or(&a.yaml);
        let bom = a.yaml.len() - text.len();
        if let Err((code, message, at)) = crate::analysis::decode_file(text.as_bytes(), usize::MAX)
        {
            let f = crate::analysis::file_finding(code, message, at..at);
            let index = LineIndex::new(text);
            let findings = vec![finding_json(text, &index, &f)];
            return Ok(Output {
                summary: "1 finding (1 error)".into(),
                text: format!("{filename}: error: {}\n", f.message),
                structured: json!({
                    "filename": filename,
                    "summary": {"errors": 1, "warnings": 0, "infos": 0, "resources": 0},
                    "findings": findings, "resources": [], "fixed": null,
                }),
            });
        }
        let file = YamlFile::parse(text);
        // The knowledge lookups (one run of the embedding model for the resources not seen
        // before) go on beside the analysis.
        let (analysis, located) = std::thread::scope(|scope| {
            if let Some(adv) = &analyzer.knowledge {
                let all: Vec<Json> = file
                    .docs
                    .iter()
                    .filter_map(|d| d.root())
                    .filter(|r| r.get("kind").is_some() && r.get("apiVersion").is_some())
                    .map(|r| r.to_json())
                    .collect();
                scope.spawn(move || adv.prefetch(&all));
            }
            let analysis = analyzer.analyze_parsed(text, &file);
            let mut located: Vec<(usize, Finding)> = Vec::new();
            for (at, f) in analysis.iter() {
                let fixes = analyzer.fixes_for(text, &file, at, f);
                let mut f = crate::analysis::shift(f, at);
                f.fixes = fixes;
                located.push((at, f));
            }
            (analysis, located)
        });
        let mut located = located;
        let index = LineIndex::new(text);
        let mut resources = Vec::new();
        for doc in &file.docs {
            for f in analyzer.knowledge_findings(doc).iter() {
                located.push((doc.start, crate::analysis::shift(f, doc.start)));
            }
            if let Some(r) = resource_json(analyzer, text, &index, doc) {
                resources.push(r);
            }
        }
        located.sort_by_key(|(_, f)| f.range.start);
        let findings: Vec<Json> = located
            .iter()
            .map(|(_, f)| finding_json(text, &index, f))
            .collect();
        let count = |s: Severity| located.iter().filter(|(_, f)| f.severity == s).count();
        let (errors, warnings, infos) = (
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Info) + count(Severity::Hint),
        );
        // The safe fixes applied together, when they apply cleanly.
        // (Only when some finding has a preferred fix: fix_text would find none otherwise.)
        let any_preferred = located
            .iter()
            .any(|(_, f)| f.fixes.iter().any(|x| x.preferred));
        let fixed = any_preferred
            .then(|| analyzer.fix_text(text))
            .filter(|f| !f.applied.is_empty());
        let applied = fixed.as_ref().map_or(0, |f| f.applied.len());
        let fixed_json = if let Some(fixed) = fixed {
            let after = analyzer.analyze_text(&fixed.text);
            let left = |s: Severity| after.iter().filter(|(_, f)| f.severity == s).count();
            json!({
                "yaml": format!("{}{}", &a.yaml[..bom], fixed.text),
                "applied": fixed.applied,
                "remaining": {"errors": left(Severity::Error), "warnings": left(Severity::Warning)},
            })
        } else {
            Json::Null
        };
        let mut out = String::new();
        for (_, f) in &located {
            let p = index.line_col(text, f.range.start, PositionEncoding::Utf32);
            out.push_str(&format!(
                "{filename}:{}:{}: {}: {} [{}]\n",
                p.line + 1,
                p.col + 1,
                f.severity.as_str(),
                f.message,
                f.code
            ));
            match f.fixes.iter().find(|x| x.preferred) {
                Some(fix) => out.push_str(&format!("  fix: {}\n", fix.title)),
                None if !f.fixes.is_empty() => {
                    let titles: Vec<&str> =
                        f.fixes.iter().take(3).map(|x| x.title.as_str()).collect();
                    out.push_str(&format!("  fixes to choose from: {}\n", titles.join(" | ")));
                }
                None => {}
            }
            for r in &f.related {
                out.push_str(&format!("  note: {}\n", r.message));
            }
        }
        if located.is_empty() {
            out.push_str(&format!("{filename}: no findings\n"));
        }
        if let Some(applied) = fixed_json.get("applied").and_then(Json::as_array) {
            out.push_str(&format!(
                "{} fix{} apply cleanly; the fixed YAML is in `fixed.yaml`\n",
                applied.len(),
                if applied.len() == 1 { "" } else { "es" }
            ));
        }
        Ok(Output {
            summary: format!(
                "{} ({}, {}), {}{}",
                count_of(located.len(), "finding"),
                count_of(errors, "error"),
                count_of(warnings, "warning"),
                count_of(analysis.resources, "resource"),
                if applied == 0 {
                    String::new()
                } else {
                    format!(", {}", count_of(applied, "fix"))
                }
            ),
            structured: json!({
                "filename": filename,
                "summary": {"errors": errors, "warnings": warnings, "infos": infos,
                            "resources": analysis.resources},
                "findings": findings,
                "resources": resources,
                "fixed": fixed_json,
            }),
            text: out,
        })
    }

    fn explain(&self, a: ExplainArgs) -> Result<Output, String> {
        let catalog = self.catalog();
        let info = match catalog.lookup(&a.api_version, &a.kind) {
            Some(i) => i,
            None => {
                let versions: Vec<String> = catalog
                    .kinds_named(&a.kind)
                    .map(KindInfo::api_version)
                    .collect();
                if versions.is_empty() {
                    let mut names: Vec<&str> =
                        catalog.kinds.iter().map(|k| k.kind.as_str()).collect();
                    names.sort_unstable();
                    names.dedup();
                    let close = crate::schema::suggest::suggest(&a.kind, names, 3);
                    return Err(format!(
                        "no kind `{}` is known{}; find_kinds finds kinds by what they are for",
                        a.kind,
                        if close.is_empty() {
                            String::new()
                        } else {
                            format!(" (did you mean {}?)", quoted(&close))
                        }
                    ));
                }
                return Err(format!(
                    "`{}` is not served as `{}`; known apiVersions: {}",
                    a.kind,
                    a.api_version,
                    quoted(&versions.iter().map(String::as_str).collect::<Vec<_>>())
                ));
            }
        };
        let path_text = a.path.unwrap_or_default();
        let segs = parse_field_path(&path_text)?;
        let arena = &catalog.arena;
        // Walk the path, saying where it leaves the schema.
        let mut id = info.root;
        let mut walked: Vec<Seg> = Vec::new();
        let mut is_required = false;
        for seg in &segs {
            let mut next = walked.clone();
            next.push(seg.clone());
            match schema_at(catalog, info.root, &next) {
                Some(n) => {
                    if let Seg::Key(k) = seg {
                        is_required = required(arena, id).iter().any(|r| r == k);
                    }
                    id = n;
                    walked = next;
                }
                None => {
                    let at = dotted(&walked);
                    return Err(match seg {
                        Seg::Key(k) => {
                            let props = properties(arena, id);
                            let close = crate::schema::suggest::suggest(
                                k,
                                props.iter().map(|(n, _)| n.as_str()),
                                3,
                            );
                            format!(
                                "`{}` has no field `{k}`{}",
                                if at.is_empty() {
                                    info.kind.clone()
                                } else {
                                    format!("{}.{at}", info.kind)
                                },
                                if close.is_empty() {
                                    String::new()
                                } else {
                                    format!(" (did you mean {}?)", quoted(&close))
                                }
                            )
                        }
                        Seg::Item => format!("`{}.{at}` is not a list", info.kind),
                    });
                }
            }
        }
        // For a list, its items' fields.
        let fields_of = match arena.items(id) {
            Some(items) => items,
            None => id,
        };
        let req = required(arena, fields_of);
        let fields: Vec<Json> = properties(arena, fields_of)
            .into_iter()
            .map(|(name, fid)| {
                json!({
                    "name": name,
                    "type": arena.type_label(fid),
                    "required": req.contains(&name),
                    "description": arena.description(fid).map(first_paragraph).unwrap_or_default(),
                })
            })
            .collect();
        let description = arena.description(id).unwrap_or_default().to_string();
        let values = enum_values(arena, id);
        let default = arena.default_value(id).map(scalar_text);
        let ty = if walked.is_empty() {
            "Object".to_string()
        } else {
            arena.type_label(id)
        };
        let path_out = dotted(&walked);
        let mut text = format!(
            "KIND:       {}\nVERSION:    {}\n\n",
            info.kind,
            info.api_version()
        );
        if !walked.is_empty() {
            text.push_str(&format!(
                "FIELD: {} <{ty}>{}\n\n",
                path_out,
                if is_required { " -required-" } else { "" }
            ));
        }
        text.push_str("DESCRIPTION:\n");
        for line in description.lines() {
            text.push_str(&format!("    {line}\n"));
        }
        if !values.is_empty() {
            text.push_str(&format!("\nALLOWED VALUES: {}\n", values.join(", ")));
        }
        if let Some(d) = &default {
            text.push_str(&format!("\nDEFAULT: {d}\n"));
        }
        if !fields.is_empty() {
            text.push_str("\nFIELDS:\n");
            for f in &fields {
                text.push_str(&format!(
                    "  {} <{}>{}\n    {}\n\n",
                    f["name"].as_str().unwrap_or(""),
                    f["type"].as_str().unwrap_or(""),
                    if f["required"] == true {
                        " -required-"
                    } else {
                        ""
                    },
                    f["description"].as_str().unwrap_or("")
                ));
            }
        }
        Ok(Output {
            summary: format!(
                "{} {}{}: {} fields",
                info.api_version(),
                info.kind,
                if path_out.is_empty() {
                    String::new()
                } else {
                    format!(".{path_out}")
                },
                fields.len()
            ),
            structured: json!({
                "apiVersion": info.api_version(),
                "kind": info.kind,
                "path": path_out,
                "type": ty,
                "required": is_required,
                "description": description,
                "enum": values,
                "default": default,
                "namespaced": info.namespaced,
                "source": source_json(info),
                "fields": fields,
            }),
            text,
        })
    }

    fn list_policies(&self, a: ListArgs) -> Result<Output, String> {
        let filter = a.filter.unwrap_or_default().to_lowercase();
        if filter.chars().count() > self.limits.max_query_chars {
            return Err(format!(
                "`filter` is longer than {} characters",
                self.limits.max_query_chars
            ));
        }
        let mut out = Vec::new();
        let mut text = String::new();
        for p in self.analyzer.policies.iter() {
            let j = policy_json(p);
            if !filter.is_empty() {
                let hay = [
                    &j["name"],
                    &j["title"],
                    &j["category"],
                    &j["subject"],
                    &j["description"],
                    &j["kinds"],
                ]
                .iter()
                .map(|v| v.to_string().to_lowercase())
                .collect::<Vec<_>>()
                .join(" ");
                if !filter.split_whitespace().all(|w| hay.contains(w)) {
                    continue;
                }
            }
            text.push_str(&format!(
                "{} ({}, {}): {}\n",
                p.name,
                j["category"].as_str().unwrap_or("uncategorised"),
                j["action"].as_str().unwrap_or(""),
                j["title"].as_str().unwrap_or("")
            ));
            out.push(j);
        }
        if out.is_empty() {
            text.push_str("No policy matches.\n");
        }
        Ok(Output {
            summary: format!("{} policies", out.len()),
            structured: json!({"policies": out}),
            text,
        })
    }

    /// The policies, as `list_policies` shows them.
    pub fn policies(&self) -> &[Policy] {
        &self.analyzer.policies
    }

    fn get_policy(&self, a: GetArgs) -> Result<Output, String> {
        let (ns, name) = match a.name.split_once('/') {
            Some((ns, n)) => (Some(ns), n),
            None => (None, a.name.as_str()),
        };
        let Some(p) = self
            .analyzer
            .policies
            .iter()
            .find(|p| p.name == name && ns.is_none_or(|ns| p.namespace.as_deref() == Some(ns)))
        else {
            let names: Vec<&str> = self
                .analyzer
                .policies
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            // Names that contain what was asked for, then the closest spellings.
            let mut close: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| !name.is_empty() && n.contains(name))
                .take(3)
                .collect();
            for n in crate::schema::suggest::suggest(name, names.iter().copied(), 3) {
                if close.len() < 3 && !close.contains(&n) {
                    close.push(n);
                }
            }
            return Err(format!(
                "no policy `{}`{}; list_policies lists them",
                a.name,
                if close.is_empty() {
                    String::new()
                } else {
                    format!(" (did you mean {}?)", quoted(&close))
                }
            ));
        };
        let mut j = policy_json(p);
        let yaml = policy_text(p);
        j["yaml"] = json!(yaml);
        let related: Vec<Json> = match self.knowledge().advisor.as_ref() {
            Some(adv) => adv
                .for_policy(&p.name)
                .iter()
                .map(|h| self.advice_json(adv, h))
                .collect(),
            None => Vec::new(),
        };
        j["relatedRules"] = json!(related);
        let text = format!(
            "# {} — {}\n# {}\n{}",
            p.name,
            j["title"].as_str().unwrap_or(""),
            j["source"].as_str().unwrap_or(""),
            yaml
        );
        Ok(Output {
            summary: format!("policy {}", p.name),
            structured: j,
            text,
        })
    }
}

/// A relevance with three decimals, as the tools show it.
fn rounded(relevance: Option<f32>) -> Option<f64> {
    relevance.map(|r| (f64::from(r) * 1000.0).round() / 1000.0)
}

/// `1 finding`, `2 findings`; `1 fix`, `2 fixes`.
fn count_of(n: usize, what: &str) -> String {
    let plural = if what.ends_with('x') { "es" } else { "s" };
    format!("{n} {what}{}", if n == 1 { "" } else { plural })
}

/// Longest chunk text returned by the search tools.
const MAX_TEXT: usize = 2_000;

fn parse<T: serde::de::DeserializeOwned>(args: Json) -> Result<T, String> {
    let args = if args.is_null() { json!({}) } else { args };
    serde_json::from_value(args).map_err(|e| format!("invalid arguments: {e}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
    k: Option<u64>,
    source_type: Option<String>,
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FindKindsArgs {
    query: String,
    k: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckArgs {
    yaml: String,
    filename: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainArgs {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    filter: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetArgs {
    name: String,
}

/// `spec.template.spec.containers[].image` (also `containers[0]`, or a leading `Kind.`
/// left out) into segments.
fn parse_field_path(path: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    if path.len() > 1024 {
        return Err("`path` is longer than 1024 bytes".into());
    }
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Err(format!("`path` `{path}`: `[` without `]`"));
            };
            if !r[..end].chars().all(|c| c.is_ascii_digit()) {
                return Err(format!(
                    "`path` `{path}`: list items are written `[]` or `[0]`"
                ));
            }
            out.push(Seg::Item);
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("`path` `{path}`: unexpected `{rest}`"));
        }
    }
    Ok(out)
}

fn dotted(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Item => s.push_str("[]"),
        }
    }
    s
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn first_paragraph(s: &str) -> String {
    s.split("\n\n").next().unwrap_or("").trim().to_string()
}

fn first_sentence(s: &str) -> String {
    let p = first_paragraph(s);
    match p.find(". ") {
        Some(i) => p[..=i].to_string(),
        None => p,
    }
}

fn source_json(info: &KindInfo) -> Json {
    json!(info.source.describe(""))
}

/// A finding as the tools return it: 1-based lines and columns (columns count Unicode
/// characters), end exclusive; fixes as edits in the same positions.
fn finding_json(text: &str, index: &LineIndex, f: &Finding) -> Json {
    let range = |r: &std::ops::Range<usize>| {
        let s = index.line_col(text, r.start, PositionEncoding::Utf32);
        let e = index.line_col(text, r.end, PositionEncoding::Utf32);
        json!({
            "start": {"line": s.line + 1, "column": s.col + 1},
            "end": {"line": e.line + 1, "column": e.col + 1},
        })
    };
    json!({
        "severity": f.severity.as_str(),
        "code": f.code,
        "source": f.source,
        "message": f.message,
        "range": range(&f.range),
        "pointer": f.pointer,
        "related": f.related.iter().map(|r| json!({
            "message": r.message,
            "path": r.path.as_ref().map(|p| p.display().to_string()),
            "line": r.line.or_else(|| r.range.as_ref().filter(|_| r.path.is_none())
                .map(|x| index.line_of(x.start) as u32 + 1)),
        })).collect::<Vec<_>>(),
        "fixes": f.fixes.iter().map(|x| json!({
            "title": x.title,
            "preferred": x.preferred,
            "edits": x.edits.iter().map(|e| json!({
                "range": range(&e.range),
                "newText": e.new_text,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// A resource of the manifest with what the knowledge index knows about it.
fn resource_json(
    analyzer: &Analyzer,
    text: &str,
    index: &LineIndex,
    doc: &crate::yaml::YamlDocument,
) -> Option<Json> {
    let root = doc.root()?;
    let kind = root.get("kind")?.to_json();
    let api = root.get("apiVersion")?.to_json();
    let json = root.to_json();
    let name = json
        .pointer("/metadata/name")
        .cloned()
        .unwrap_or(Json::Null);
    let line = index
        .line_col(text, doc.start, PositionEncoding::Utf32)
        .line
        + 1;
    let related: Vec<Json> = match &analyzer.knowledge {
        Some(adv) => adv
            .for_resource(&json)
            .hits
            .iter()
            .map(|h| {
                json!({
                    "id": h.chunk.id,
                    "sourceType": h.chunk.source_type.as_str(),
                    "title": h.chunk.title,
                    "summary": summary(&h.chunk, 200),
                    "provenance": provenance_line(&h.chunk),
                    "relevance": rounded(h.relevance),
                })
            })
            .collect(),
        None => Vec::new(),
    };
    Some(json!({"apiVersion": api, "kind": kind, "name": name, "line": line, "related": related}))
}

fn policy_json(p: &Policy) -> Json {
    let ann = |k: &str| {
        p.annotations
            .get(&format!("policies.kyverno.io/{k}"))
            .and_then(Json::as_str)
            .map(|s| s.trim().to_string())
    };
    let mut kinds: Vec<String> = Vec::new();
    let rules: Vec<Json> = p
        .rules
        .iter()
        .map(|r| {
            let ks = r
                .kinds
                .get_or_init(|| crate::policy::matching::match_kinds(&r.raw))
                .clone()
                .unwrap_or_default();
            for k in &ks {
                if !kinds.contains(k) {
                    kinds.push(k.clone());
                }
            }
            let action = r.action.unwrap_or(p.action);
            json!({"name": r.name, "type": r.rule_type.as_str(), "kinds": ks,
                   "action": action_str(action)})
        })
        .collect();
    let source = if p.path.starts_with("<bundled>") {
        format!("bundled with usher ({})", p.path.display())
    } else if let Some(context) = crate::cluster::context_of_path(&p.path) {
        format!("read from cluster {context}")
    } else {
        p.path.display().to_string()
    };
    json!({
        "name": p.name,
        "kind": p.kind,
        "namespace": p.namespace,
        "title": ann("title"),
        "category": ann("category"),
        "severity": ann("severity"),
        "subject": ann("subject"),
        "description": ann("description"),
        "action": action_str(p.action),
        "kinds": kinds,
        "rules": rules,
        "source": source,
        "uri": policy_uri(p),
    })
}

fn action_str(a: crate::policy::FailureAction) -> &'static str {
    match a {
        crate::policy::FailureAction::Enforce => "enforce",
        crate::policy::FailureAction::Audit => "audit",
    }
}

/// The MCP resource URI of a policy.
pub fn policy_uri(p: &Policy) -> String {
    match &p.namespace {
        Some(ns) => format!("usher://policies/{ns}/{}", p.name),
        None => format!("usher://policies/{}", p.name),
    }
}

/// The policy's own YAML text: its document in its file (or the bundled pack); the document
/// as YAML-compatible JSON when the file cannot be read any more.
pub fn policy_text(p: &Policy) -> String {
    let text = match p.path.strip_prefix("<bundled>") {
        Ok(file) => crate::policy::BUNDLED
            .iter()
            .find(|(n, _)| Path::new(n) == file)
            .map(|(_, t)| t.to_string()),
        Err(_) => std::fs::read_to_string(&p.path).ok(),
    };
    if let Some(text) = text {
        let text = crate::yaml::strip_bom(&text);
        let file = YamlFile::parse(text);
        for doc in &file.docs {
            let Some(root) = doc.root() else { continue };
            let json = root.to_json();
            if json.pointer("/metadata/name").and_then(Json::as_str) == Some(p.name.as_str())
                && json.get("kind").and_then(Json::as_str) == Some(p.kind.as_str())
            {
                let body = text[doc.start..doc.end]
                    .trim_start_matches("---")
                    .trim_start_matches(['\r', '\n']);
                let mut s = body.to_string();
                if !s.ends_with('\n') {
                    s.push('\n');
                }
                return s;
            }
        }
    }
    serde_json::to_string_pretty(&p.raw).unwrap_or_default() + "\n"
}

/// The tools, with their input and output schemas and descriptions written for agents.
pub fn definitions() -> Vec<ToolDef> {
    let position = json!({
        "type": "object",
        "properties": {"line": {"type": "integer"}, "column": {"type": "integer"}},
        "required": ["line", "column"],
    });
    let range = json!({
        "type": "object",
        "description": "1-based line and column (columns count Unicode characters); end is exclusive",
        "properties": {"start": position, "end": position},
        "required": ["start", "end"],
    });
    let advice = json!({
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "sourceType": {"type": "string", "enum": ["policy", "doc", "slack", "transcript", "kind"]},
            "title": {"type": "string"},
            "summary": {"type": "string"},
            "text": {"type": "string"},
            "provenance": {"type": "string", "description": "where it was written: file:lines, Slack channel · author · date, recording @ time"},
            "path": {"type": ["string", "null"]},
            "line": {"type": ["integer", "null"]},
            "kinds": {"type": "array", "items": {"type": "string"}},
            "relevance": {"type": ["number", "null"], "description": "similarity of meaning to the question, 0 to 1 (null without the embedding model)"},
        },
        "required": ["id", "sourceType", "title", "summary", "provenance"],
    });
    let policy = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "kind": {"type": "string"},
            "namespace": {"type": ["string", "null"]},
            "title": {"type": ["string", "null"]},
            "category": {"type": ["string", "null"]},
            "severity": {"type": ["string", "null"]},
            "subject": {"type": ["string", "null"]},
            "description": {"type": ["string", "null"]},
            "action": {"type": "string", "enum": ["enforce", "audit"], "description": "enforce: the cluster rejects violations; audit: it reports them"},
            "kinds": {"type": "array", "items": {"type": "string"}},
            "rules": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "type": {"type": "string"},
                "kinds": {"type": "array", "items": {"type": "string"}},
                "action": {"type": "string"}}, "required": ["name", "type"]}},
            "source": {"type": "string"},
            "uri": {"type": "string"},
        },
        "required": ["name", "kind", "action", "rules", "source", "uri"],
    });
    let mut get_policy = policy.clone();
    get_policy["properties"]["yaml"] = json!({"type": "string"});
    get_policy["properties"]["relatedRules"] = json!({"type": "array", "items": advice});
    get_policy["required"]
        .as_array_mut()
        .expect("required is a list")
        .push(json!("yaml"));
    let k = |default: u64| {
        json!({"type": "integer", "minimum": 1, "maximum": 50, "default": default,
               "description": "how many results (1 to 50)"})
    };
    vec![
        ToolDef {
            name: "search_policies",
            title: "Search policies and written rules",
            description: "Search the organisation's rules for Kubernetes resources: the admission \
policies enforced in the cluster (Kyverno) and the rules people wrote down in docs, Slack \
threads and meeting transcripts (\"databases only in us-east-1\"). Ask before writing a \
manifest, e.g. \"which region may a postgres database run in\" or \"what must every \
Deployment set\". Each result says where it comes from (file and lines, channel and author, \
recording and time) so it can be cited.",
            input: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "a question or keywords (at most 2000 characters)"},
                    "k": k(5),
                    "source_type": {"type": "string", "enum": ["policy", "doc", "slack", "transcript", "kind"],
                                    "description": "only this kind of source"},
                    "kind": {"type": "string", "description": "only what concerns this Kubernetes kind, e.g. Deployment"},
                },
                "required": ["query"],
                "additionalProperties": false,
            }),
            output: json!({
                "type": "object",
                "properties": {
                    "results": {"type": "array", "items": advice},
                    "ranking": {"type": "string", "enum": ["hybrid", "bm25"]},
                    "index": {"type": "string"},
                },
                "required": ["results", "ranking"],
            }),
        },
        ToolDef {
            name: "check_manifest",
            title: "Check a Kubernetes manifest",
            description: "Check Kubernetes YAML (one or more documents) before applying it: YAML \
syntax, the schema of each kind (built-in and CRDs: unknown or misspelt fields, wrong types, \
missing required fields), removed or deprecated apiVersions, and the admission policies the \
cluster enforces, with the written rules that relate to each resource. Every finding has a \
range and, when usher knows how, fixes as text edits; `fixed.yaml` is the whole manifest with \
the safe fixes applied. Check again after editing: apply only when there are no errors.",
            input: json!({
                "type": "object",
                "properties": {
                    "yaml": {"type": "string", "description": "the manifest text (at most 1 MiB)"},
                    "filename": {"type": "string", "description": "a name for the manifest in messages"},
                },
                "required": ["yaml"],
                "additionalProperties": false,
            }),
            output: json!({
                "type": "object",
                "properties": {
                    "filename": {"type": "string"},
                    "summary": {"type": "object", "properties": {
                        "errors": {"type": "integer"}, "warnings": {"type": "integer"},
                        "infos": {"type": "integer"}, "resources": {"type": "integer"}},
                        "required": ["errors", "warnings", "infos", "resources"]},
                    "findings": {"type": "array", "items": {"type": "object", "properties": {
                        "severity": {"type": "string", "enum": ["error", "warning", "info", "hint"]},
                        "code": {"type": "string"},
                        "source": {"type": "string"},
                        "message": {"type": "string"},
                        "range": range,
                        "pointer": {"type": ["string", "null"], "description": "JSON pointer of the value in its document"},
                        "related": {"type": "array", "items": {"type": "object", "properties": {
                            "message": {"type": "string"}, "path": {"type": ["string", "null"]},
                            "line": {"type": ["integer", "null"]}}, "required": ["message"]}},
                        "fixes": {"type": "array", "items": {"type": "object", "properties": {
                            "title": {"type": "string"},
                            "preferred": {"type": "boolean", "description": "the obvious fix, safe to apply without choosing"},
                            "edits": {"type": "array", "items": {"type": "object", "properties": {
                                "range": range, "newText": {"type": "string"}},
                                "required": ["range", "newText"]}}},
                            "required": ["title", "preferred", "edits"]}},
                    }, "required": ["severity", "code", "message", "range", "fixes"]}},
                    "resources": {"type": "array", "items": {"type": "object", "properties": {
                        "apiVersion": {}, "kind": {}, "name": {}, "line": {"type": "integer"},
                        "related": {"type": "array"}}}},
                    "fixed": {"type": ["object", "null"], "properties": {
                        "yaml": {"type": "string"},
                        "applied": {"type": "array", "items": {"type": "string"}},
                        "remaining": {"type": "object"}},
                        "description": "the manifest with every safe fix applied; null when none applies"},
                },
                "required": ["filename", "summary", "findings", "fixed"],
            }),
        },
        ToolDef {
            name: "explain",
            title: "Explain a resource or field",
            description: "Documentation of a Kubernetes resource kind or one of its fields, like \
`kubectl explain`: type, whether it is required, description, allowed values, default, and the \
fields below it. From the same schemas usher checks with (built-in Kubernetes, the workspace's \
CRDs). `path` is dotted, with `[]` for list items: `spec.template.spec.containers[].resources`.",
            input: json!({
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string", "description": "e.g. apps/v1, v1, cert-manager.io/v1"},
                    "kind": {"type": "string", "description": "e.g. Deployment"},
                    "path": {"type": "string", "description": "a field path; empty for the resource itself"},
                },
                "required": ["apiVersion", "kind"],
                "additionalProperties": false,
            }),
            output: json!({
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "path": {"type": "string"}, "type": {"type": "string"},
                    "required": {"type": "boolean"}, "description": {"type": "string"},
                    "enum": {"type": "array", "items": {"type": "string"}},
                    "default": {"type": ["string", "null"]},
                    "namespaced": {"type": "boolean"},
                    "source": {"type": "string"},
                    "fields": {"type": "array", "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "type": {"type": "string"},
                        "required": {"type": "boolean"}, "description": {"type": "string"}},
                        "required": ["name", "type", "required", "description"]}},
                },
                "required": ["apiVersion", "kind", "path", "type", "description", "fields"],
            }),
        },
        ToolDef {
            name: "find_kinds",
            title: "Find resource kinds for a need",
            description: "Find the Kubernetes resource kinds (built-in and the workspace's CRDs) \
that serve a need, e.g. \"managed postgres database\", \"TLS certificate\", \"run a job every \
night\". Returns apiVersion and kind to write in a manifest; then use `explain` for its fields.",
            input: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "what the resource is for (at most 2000 characters)"},
                    "k": k(5),
                },
                "required": ["query"],
                "additionalProperties": false,
            }),
            output: json!({
                "type": "object",
                "properties": {"results": {"type": "array", "items": {"type": "object", "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "group": {"type": "string"}, "version": {"type": "string"},
                    "plural": {"type": "string"}, "namespaced": {"type": "boolean"},
                    "description": {"type": "string"}, "source": {"type": "string"},
                    "relevance": {"type": ["number", "null"]}},
                    "required": ["apiVersion", "kind", "namespaced", "description", "source"]}}},
                "required": ["results"],
            }),
        },
        ToolDef {
            name: "list_policies",
            title: "List the policies",
            description: "List the admission policies usher evaluates for this workspace (the ones \
the cluster enforces): name, title, category, severity, the kinds they apply to, and whether a \
violation is rejected (enforce) or reported (audit). `filter` keeps policies whose name, title, \
category, description or kinds contain all its words.",
            input: json!({
                "type": "object",
                "properties": {"filter": {"type": "string", "description": "words to look for, e.g. \"pod security\" or Ingress"}},
                "additionalProperties": false,
            }),
            output: json!({
                "type": "object",
                "properties": {"policies": {"type": "array", "items": policy}},
                "required": ["policies"],
            }),
        },
        ToolDef {
            name: "get_policy",
            title: "Get one policy",
            description: "One policy in full: its YAML, rules, the kinds it applies to, whether it \
is enforced, and the written rules (docs, Slack, meetings) behind it. `name` is the policy's \
metadata.name (`namespace/name` for a namespaced Policy).",
            input: json!({
                "type": "object",
                "properties": {"name": {"type": "string", "description": "e.g. require-run-as-nonroot"}},
                "required": ["name"],
                "additionalProperties": false,
            }),
            output: get_policy,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
    }

    fn workspace() -> Workspace {
        Workspace::load(&fixtures().join("demo"), None, false, false, None).unwrap()
    }

    #[test]
    fn field_paths() {
        let segs = parse_field_path("spec.template.spec.containers[].image").unwrap();
        assert_eq!(dotted(&segs), "spec.template.spec.containers[].image");
        assert_eq!(
            dotted(&parse_field_path("spec.containers[0]").unwrap()),
            "spec.containers[]"
        );
        assert!(parse_field_path("spec.containers[x]").is_err());
        assert!(parse_field_path("spec.containers[").is_err());
        assert!(parse_field_path("").unwrap().is_empty());
    }

    #[test]
    fn explain_walks_fields_and_names_wrong_ones() {
        let ws = workspace();
        let out = ws
            .call(
                "explain",
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "path": "spec.template.spec.containers[]"}),
            )
            .unwrap();
        let s = &out.structured;
        assert_eq!(s["path"], "spec.template.spec.containers[]");
        let names: Vec<&str> = s["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"image") && names.contains(&"securityContext"),
            "{names:?}"
        );
        let name = s["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "name")
            .unwrap();
        assert_eq!(name["required"], true);
        assert!(
            out.text
                .starts_with("KIND:       Deployment\nVERSION:    apps/v1"),
            "{}",
            out.text
        );

        let err = ws
            .call(
                "explain",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "path": "spec.replica"}),
            )
            .unwrap_err();
        assert!(err.contains("`replicas`"), "{err}");
        let err = ws
            .call("explain", json!({"apiVersion": "v1", "kind": "Deployment"}))
            .unwrap_err();
        assert!(err.contains("apps/v1"), "{err}");
        let err = ws
            .call("explain", json!({"apiVersion": "v1", "kind": "Deploymnt"}))
            .unwrap_err();
        assert!(err.contains("`Deployment`"), "{err}");
        let err = ws.call("explain", json!({"kind": "Pod"})).unwrap_err();
        assert!(err.contains("apiVersion"), "{err}");
    }

    #[test]
    fn check_manifest_reports_findings_fixes_and_fixed_yaml() {
        let ws = workspace();
        let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n          imagePullPolicy: Allways\n";
        let out = ws.call("check_manifest", json!({"yaml": yaml})).unwrap();
        let s = &out.structured;
        let codes: Vec<&str> = s["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        assert!(codes.contains(&"schema/enum"), "{codes:?}");
        // Several allowed values: fixes to choose from, the closest first, none preferred.
        let e = s["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "schema/enum")
            .unwrap();
        assert_eq!(e["range"]["start"], json!({"line": 17, "column": 28}));
        assert_eq!(e["fixes"][0]["edits"][0]["newText"], "Always", "{e}");
        assert_eq!(e["fixes"][0]["preferred"], false);
        // The policies' safe fixes, applied together.
        let fixed = s["fixed"]["yaml"].as_str().unwrap();
        assert!(fixed.contains("allowPrivilegeEscalation: false"), "{fixed}");
        assert!(fixed.contains("imagePullPolicy: Allways"), "{fixed}");
        assert!(s["fixed"]["remaining"]["errors"] == 1, "{}", s["fixed"]);
        assert_eq!(s["summary"]["resources"], 1);
    }

    #[test]
    fn limits_and_bad_arguments_are_clear() {
        let mut ws = workspace();
        ws.limits.max_yaml_bytes = 10;
        let err = ws
            .call("check_manifest", json!({"yaml": "a: 1\nb: 2\nc: 3\n"}))
            .unwrap_err();
        assert!(err.contains("limit is 10 bytes"), "{err}");
        let err = ws.call("check_manifest", json!({"yml": "a"})).unwrap_err();
        assert!(err.starts_with("invalid arguments"), "{err}");
        let err = ws
            .call("search_policies", json!({"query": "x", "k": 500}))
            .unwrap_err();
        assert!(err.contains("limit is 50"), "{err}");
        let err = ws
            .call("search_policies", json!({"query": "  "}))
            .unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let long = "a".repeat(2_001);
        let err = ws.call("find_kinds", json!({"query": long})).unwrap_err();
        assert!(err.contains("2001 characters"), "{err}");
        assert!(ws.call("nope", json!({})).is_err());
    }

    #[test]
    fn policies_are_listed_and_shown_with_their_yaml() {
        let ws = workspace();
        let all = ws.call("list_policies", json!({})).unwrap();
        let n = all.structured["policies"].as_array().unwrap().len();
        assert!(n > 5, "{n}");
        let some = ws
            .call("list_policies", json!({"filter": "latest tag"}))
            .unwrap();
        let names: Vec<&str> = some.structured["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(!names.is_empty() && names.len() < n, "{names:?}");
        let one = ws.call("get_policy", json!({"name": names[0]})).unwrap();
        let yaml = one.structured["yaml"].as_str().unwrap();
        assert!(yaml.contains(&format!("name: {}", names[0])), "{yaml}");
        assert!(
            yaml.starts_with("apiVersion") || yaml.starts_with('#'),
            "{yaml}"
        );
        let err = ws
            .call("get_policy", json!({"name": "usher-disallow-latest-tagg"}))
            .unwrap_err();
        assert!(err.contains("did you mean"), "{err}");
    }

    #[test]
    fn without_an_index_search_uses_a_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::load(dir.path(), None, true, false, None).unwrap();
        let out = ws
            .call("find_kinds", json!({"query": "run a job on a schedule"}))
            .unwrap();
        let kinds: Vec<&str> = out.structured["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["kind"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"CronJob"), "{kinds:?}");
        let out = ws
            .call(
                "search_policies",
                json!({"query": "image tag latest", "k": 3}),
            )
            .unwrap();
        let r = &out.structured["results"][0];
        assert_eq!(r["sourceType"], "policy", "{}", out.text);
        assert_eq!(out.structured["ranking"], "bm25");
        assert!(
            ws.knowledge().status.contains("usher index"),
            "{}",
            ws.knowledge().status
        );
    }
}
