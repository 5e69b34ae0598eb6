//! `usher test`: runs Kyverno CLI test files (`cli.kyverno.io/v1alpha1` `Test`) against the
//! local policy engine. Stricter than Kyverno's runner: a row passes only when usher computes
//! exactly the expected result for that policy, rule (or its autogen name) and resource; rows
//! that need features not evaluated yet are skipped with the reason, never passed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value as Json;

use crate::policy::engine::{self, EvalOptions, Status};
use crate::policy::{self, Policy};
use crate::yaml::{YamlFile, strip_bom};

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Test files or folders (searched recursively for `kyverno-test.yaml` and other files
    /// holding a `cli.kyverno.io` `Test`).
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Print only failed and skipped rows.
    #[arg(long)]
    pub failures_only: bool,

    /// Print agreement per rule type after the rows.
    #[arg(long)]
    pub summary: bool,
}

/// The verdict of one (row, resource) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowResult {
    Pass,
    Fail(String),
    Skip(String),
}

/// One checked (row, resource) pair.
#[derive(Debug, Clone)]
pub struct Checked {
    pub test: PathBuf,
    pub policy: String,
    pub rule: String,
    pub resource: String,
    pub expected: String,
    pub rule_type: String,
    pub result: RowResult,
}

fn read_docs(path: &Path) -> Result<Vec<Json>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = crate::analysis::decode_file(&bytes, 64 << 20)
        .map_err(|(_, m, _)| format!("{}: {m}", path.display()))?;
    let text = strip_bom(text);
    let file = YamlFile::parse(text);
    let mut out = Vec::new();
    for d in &file.docs {
        if let Some(issue) = d.lowered.issues.iter().find(|i| i.kind.is_error()) {
            return Err(format!("{}: {}", path.display(), issue.message));
        }
        if let Some(root) = d.root() {
            out.push(root.to_json());
        }
    }
    Ok(out)
}

fn is_test_doc(doc: &Json) -> bool {
    doc.get("apiVersion")
        .and_then(Json::as_str)
        .is_some_and(|a| a.starts_with("cli.kyverno.io/"))
        && doc.get("kind").and_then(Json::as_str) == Some("Test")
}

/// Finds test files under the paths.
pub fn find_tests(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_file() {
            out.push(p.clone());
            continue;
        }
        for e in walkdir::WalkDir::new(p)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
        {
            let f = e.path();
            if !e.file_type().is_file() || !crate::schema::catalog::is_manifest_name(f) {
                continue;
            }
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let in_test_dir = f
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|n| n.to_str())
                == Some(".kyverno-test");
            if (name.starts_with("kyverno-test") || in_test_dir)
                && let Ok(docs) = read_docs(f)
                && docs.iter().any(is_test_doc)
            {
                out.push(f.to_path_buf());
            }
        }
    }
    out
}

fn str_list(v: Option<&Json>) -> Vec<String> {
    v.and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The values file: per policy, per rule and per resource variables.
#[derive(Default)]
struct Values {
    global: HashMap<String, Json>,
    rules: HashMap<(String, String), HashMap<String, Json>>,
    resources: HashMap<(String, String), HashMap<String, Json>>,
    namespaces: HashMap<String, serde_json::Map<String, Json>>,
    /// The test's PolicyExceptions (its `exceptions` files).
    exceptions: std::sync::Arc<Vec<crate::policy::exception::PolicyException>>,
    /// Resources for CEL's `resource.Get`/`resource.List` and parameters.
    cel_resources: std::sync::Arc<Vec<Json>>,
}

fn map_of(v: Option<&Json>) -> HashMap<String, Json> {
    v.and_then(Json::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn load_values(doc: &Json) -> Values {
    let mut values = Values {
        global: map_of(doc.get("globalValues")),
        ..Default::default()
    };
    for p in doc
        .get("policies")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let pname = p
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        for r in p
            .get("rules")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let rname = r
                .get("name")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_string();
            values
                .rules
                .insert((pname.clone(), rname), map_of(r.get("values")));
        }
        for r in p
            .get("resources")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let rname = r
                .get("name")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_string();
            values
                .resources
                .insert((pname.clone(), rname), map_of(r.get("values")));
        }
    }
    for ns in doc
        .get("namespaceSelector")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(name), Some(labels)) = (
            ns.get("name").and_then(Json::as_str),
            ns.get("labels").and_then(Json::as_object),
        ) {
            values.namespaces.insert(name.to_string(), labels.clone());
        }
    }
    values
}

/// Runs one test file.
pub fn run_test(path: &Path) -> Result<Vec<Checked>, String> {
    let docs = read_docs(path)?;
    let test = docs
        .into_iter()
        .find(is_test_doc)
        .ok_or_else(|| format!("{}: no cli.kyverno.io Test", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut policies: Vec<Policy> = Vec::new();
    let mut bindings: Vec<Json> = Vec::new();
    let mut other_policy_kinds: HashMap<String, String> = HashMap::new();
    for p in str_list(test.get("policies")) {
        let file = dir.join(&p);
        for doc in read_docs(&file)? {
            if crate::policy::cel_policy::is_binding(&doc) {
                bindings.push(doc);
            } else if policy::is_policy(&doc) {
                policies.push(
                    policy::from_json(&doc, &file)
                        .map_err(|e| format!("{}: {e}", file.display()))?,
                );
            } else if let (Some(kind), Some(name)) = (
                doc.get("kind").and_then(Json::as_str),
                doc.pointer("/metadata/name").and_then(Json::as_str),
            ) {
                other_policy_kinds.insert(name.to_string(), kind.to_string());
            }
        }
    }
    crate::policy::cel_policy::attach_bindings(&mut policies, &bindings);
    let mut exceptions = Vec::new();
    for e in str_list(test.get("exceptions")) {
        let file = dir.join(&e);
        for doc in read_docs(&file)? {
            if crate::policy::exception::is_exception(&doc) {
                exceptions.push(
                    crate::policy::exception::from_json(&doc, &file)
                        .map_err(|err| format!("{}: {err}", file.display()))?,
                );
            }
        }
    }
    let exceptions = std::sync::Arc::new(exceptions);
    let mut resources: Vec<Json> = Vec::new();
    for r in str_list(test.get("resources")) {
        resources.extend(read_docs(&dir.join(&r))?);
    }
    let mut values = match test.get("variables").and_then(Json::as_str) {
        Some(v) => {
            let docs = read_docs(&dir.join(v))?;
            docs.first().map(load_values).unwrap_or_default()
        }
        None => Values::default(),
    };
    values.exceptions = exceptions;
    // What CEL's resource.Get/List and policy parameters are answered from: the test's context
    // file (`spec.resources`) and its resources.
    let mut locals: Vec<Json> = Vec::new();
    if let Some(c) = test.get("context").and_then(Json::as_str) {
        for doc in read_docs(&dir.join(c))? {
            if let Some(items) = doc.pointer("/spec/resources").and_then(Json::as_array) {
                locals.extend(items.iter().cloned());
            }
        }
    }
    locals.extend(resources.iter().cloned());
    // The values file's Namespaces (`namespaces:`), for `namespaceObject` and namespace labels.
    if let Some(v) = test.get("variables").and_then(Json::as_str) {
        for doc in read_docs(&dir.join(v))? {
            for ns in doc
                .get("namespaces")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(name), Some(labels)) = (
                    ns.pointer("/metadata/name").and_then(Json::as_str),
                    ns.pointer("/metadata/labels").and_then(Json::as_object),
                ) {
                    values
                        .namespaces
                        .entry(name.to_string())
                        .or_insert_with(|| labels.clone());
                }
                locals.push(ns.clone());
            }
        }
    }
    values.cel_resources = std::sync::Arc::new(locals);
    // The request's user (`userinfo: userinfo.yaml`, a cli.kyverno.io UserInfo).
    if let Some(u) = test.get("userinfo").and_then(Json::as_str) {
        for doc in read_docs(&dir.join(u))? {
            for key in ["userInfo", "roles", "clusterRoles"] {
                if let Some(v) = doc.get(key) {
                    values.global.insert(format!("request.{key}"), v.clone());
                }
            }
        }
    }
    let mut out = Vec::new();
    for row in test
        .get("results")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let pname = row
            .get("policy")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let rname = row
            .get("rule")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let kind = row
            .get("kind")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let expected = row
            .get("result")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let mut names = str_list(row.get("resources"));
        if let Some(r) = row.get("resource").and_then(Json::as_str) {
            names.push(r.to_string());
        }
        let unsupported_row = [
            "isMutatingPolicy",
            "isMUtatingPolicy",
            "isGeneratingPolicy",
            "isDeletingPolicy",
        ]
        .iter()
        .find(|k| row.get(**k).and_then(Json::as_bool) == Some(true))
        .map(|k| format!("{} rows are not evaluated yet", k.trim_start_matches("is")))
        .or_else(|| {
            (row.get("patchedResources").is_some() || row.get("patchedResource").is_some())
                .then(|| "mutate expectations are not evaluated yet".to_string())
        })
        .or_else(|| {
            row.get("generatedResource")
                .is_some()
                .then(|| "generate expectations are not evaluated yet".to_string())
        });
        // Several policies may share a name (a ClusterPolicy and its ValidatingPolicy twin):
        // the row's kind of policy and its rule decide.
        let wants_cel_kind = ["isValidatingPolicy", "isValidatingAdmissionPolicy"]
            .iter()
            .any(|k| row.get(*k).and_then(Json::as_bool) == Some(true));
        let policy = policies
            .iter()
            .filter(|p| p.name == pname)
            .find(|p| {
                p.is_cel_kind() == wants_cel_kind
                    && (wants_cel_kind
                        || p.rules.iter().any(|r| {
                            r.name == rname
                                || format!("autogen-{}", r.name) == rname
                                || format!("autogen-cronjob-{}", r.name) == rname
                        }))
            })
            .or_else(|| policies.iter().find(|p| p.name == pname));
        let rule = policy.and_then(|p| {
            if p.is_cel_kind() {
                // These kinds have no named rules; a row may still name one.
                return p.rules.first();
            }
            p.rules.iter().find(|r| {
                r.name == rname
                    || format!("autogen-{}", r.name) == rname
                    || format!("autogen-cronjob-{}", r.name) == rname
            })
        });
        let rule_type = match (policy, rule) {
            (Some(p), Some(_)) if p.is_cel_kind() => p.kind.clone(),
            (_, Some(r)) => r.rule_type.as_str().to_string(),
            _ => match other_policy_kinds.get(&pname) {
                Some(k) => k.clone(),
                None => "unknown".into(),
            },
        };
        for name in names {
            let (ns, rname_only) = match name.split_once('/') {
                Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
                None => (None, name.clone()),
            };
            let result = if let Some(reason) = &unsupported_row {
                RowResult::Skip(reason.clone())
            } else if let (Some(policy), Some(rule)) = (policy, rule) {
                let targets: Vec<&Json> = resources
                    .iter()
                    .filter(|r| {
                        r.get("kind").and_then(Json::as_str) == Some(kind.as_str())
                            && r.pointer("/metadata/name").and_then(Json::as_str)
                                == Some(rname_only.as_str())
                            && ns.as_ref().is_none_or(|ns| {
                                r.pointer("/metadata/namespace")
                                    .and_then(Json::as_str)
                                    .unwrap_or("default")
                                    == ns
                            })
                    })
                    .collect();
                if targets.is_empty() {
                    RowResult::Fail(format!(
                        "resource {kind}/{name} not found in the test's resources"
                    ))
                } else {
                    check(policy, &rule.name, &rname, &targets, &expected, &values)
                }
            } else if policy.is_some() {
                RowResult::Fail(format!("rule {rname} not found in policy {pname}"))
            } else {
                match other_policy_kinds.get(&pname) {
                    Some(k) => RowResult::Skip(format!("{k} policies are not evaluated yet")),
                    None => {
                        RowResult::Fail(format!("policy {pname} not found in the test's policies"))
                    }
                }
            };
            out.push(Checked {
                test: path.to_path_buf(),
                policy: pname.clone(),
                rule: rname.clone(),
                resource: format!("{kind}/{name}"),
                expected: expected.clone(),
                rule_type: rule_type.clone(),
                result,
            });
        }
    }
    Ok(out)
}

fn check(
    policy: &Policy,
    base_rule: &str,
    row_rule: &str,
    targets: &[&Json],
    expected: &str,
    values: &Values,
) -> RowResult {
    let mut got: Vec<String> = Vec::new();
    for target in targets {
        let name = target
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let mut vals: HashMap<String, Json> = values.global.clone();
        if let Some(v) = values
            .rules
            .get(&(policy.name.clone(), base_rule.to_string()))
        {
            vals.extend(v.clone());
        }
        if let Some(v) = values.resources.get(&(policy.name.clone(), name.clone())) {
            vals.extend(v.clone());
        }
        let operation = vals
            .get("request.operation")
            .and_then(Json::as_str)
            .unwrap_or("CREATE")
            .to_string();
        let ns = target
            .pointer("/metadata/namespace")
            .and_then(Json::as_str)
            .unwrap_or("default");
        let opts = EvalOptions {
            request: crate::policy::matching::RequestInfo {
                operation,
                namespace_labels: values.namespaces.get(ns).cloned(),
            },
            values: vals,
            default_namespace: None,
            exceptions: values.exceptions.clone(),
            background_scan: false,
            cel_resources: values.cel_resources.clone(),
            api_calls: Default::default(),
        };
        let outcomes = engine::evaluate(policy, target, &opts);
        let o = outcomes
            .iter()
            .find(|o| o.rule == row_rule)
            .or_else(|| outcomes.iter().find(|o| o.base_rule == base_rule));
        match o {
            // Kyverno's runner reports a rule that does not match the resource as skipped.
            None if expected == "skip" => {}
            None => got.push("skip (the rule does not match the resource)".into()),
            Some(o) if o.status == Status::Unsupported => {
                return RowResult::Skip(o.message.clone());
            }
            Some(o) if o.status.as_str() == expected => {}
            Some(o) => got.push(format!("{} ({})", o.status.as_str(), o.message)),
        }
    }
    if got.is_empty() {
        RowResult::Pass
    } else {
        RowResult::Fail(format!("expected {expected}, got {}", got.join("; ")))
    }
}

pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let tests = find_tests(&args.paths);
    if tests.is_empty() {
        anyhow::bail!(
            "no Kyverno test files (cli.kyverno.io Test) under {}",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut all: Vec<Checked> = Vec::new();
    let mut broken = 0;
    for t in &tests {
        match run_test(t) {
            Ok(rows) => all.extend(rows),
            Err(e) => {
                broken += 1;
                eprintln!("usher: {e}");
            }
        }
    }
    let mut out = String::new();
    out.push_str(&format!(
        "{:<6} {:<40} {:<40} {:<50} {:<8} {}\n",
        "RESULT", "POLICY", "RULE", "RESOURCE", "EXPECTED", "DETAIL"
    ));
    for c in &all {
        let (label, detail) = match &c.result {
            RowResult::Pass => ("pass", String::new()),
            RowResult::Fail(d) => ("FAIL", d.clone()),
            RowResult::Skip(d) => ("skip", d.clone()),
        };
        if args.failures_only && c.result == RowResult::Pass {
            continue;
        }
        out.push_str(&format!(
            "{label:<6} {:<40} {:<40} {:<50} {:<8} {detail}\n",
            c.policy, c.rule, c.resource, c.expected
        ));
    }
    let passed = all.iter().filter(|c| c.result == RowResult::Pass).count();
    let failed = all
        .iter()
        .filter(|c| matches!(c.result, RowResult::Fail(_)))
        .count();
    let skipped = all.len() - passed - failed;
    if args.summary {
        let mut by_type: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
        for c in &all {
            let e = by_type.entry(c.rule_type.as_str()).or_default();
            match c.result {
                RowResult::Pass => e.0 += 1,
                RowResult::Fail(_) => e.1 += 1,
                RowResult::Skip(_) => e.2 += 1,
            }
        }
        out.push_str("\nrule type            agree  disagree  skipped  agreement\n");
        for (t, (p, f, s)) in &by_type {
            let pct = if p + f > 0 {
                format!("{:.1}%", 100.0 * *p as f64 / (*p + *f) as f64)
            } else {
                "-".into()
            };
            out.push_str(&format!("{t:<20} {p:>5}  {f:>8}  {s:>7}  {pct:>9}\n"));
        }
    }
    print!("{out}");
    let files = if broken > 0 {
        format!(" ({broken} test files could not be read)")
    } else {
        String::new()
    };
    println!("{passed} passed, {failed} failed, {skipped} skipped{files}");
    Ok(if failed > 0 || broken > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
