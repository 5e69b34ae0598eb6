//! Fixes from policies: mutate rules offered as "Apply <policy>/<rule>", and validate
//! patterns repaired where the pattern determines the value. Every fix is re-checked: the
//! changed resource is evaluated again and the fix is offered only when the rule it targets
//! passes; the edits are checked to produce exactly the changed resource.

use serde_json::Value as Json;

use super::{Analyzer, kind_span};
use crate::finding::{Finding, Fix, Related, Severity};
use crate::policy::engine::{Status, evaluate, mutations};
use crate::policy::{Policy, RuleType, fix};
use crate::yaml::Node;
use crate::yaml::patch::edits_to;

/// A short account of a change: `set /spec/x, add /spec/y`.
fn describe(old: &Json, new: &Json) -> String {
    let changes = fix::changed_paths(old, new, 3);
    let mut parts: Vec<String> = changes
        .iter()
        .take(3)
        .map(|(p, what)| format!("{what} {p}"))
        .collect();
    if changes.len() > 3 {
        parts.push("…".into());
    }
    parts.join(", ")
}

/// The rule a reported name (`autogen-cronjob-x`, `autogen-x`, `x`) stands for, with the raw
/// rule as evaluated for that name.
fn rule_for<'a>(policy: &'a Policy, reported: &str) -> Option<&'a Json> {
    if let Some(base) = reported.strip_prefix("autogen-cronjob-")
        && let Some(r) = policy.rules.iter().find(|r| r.name == base)
    {
        return Some(r.autogen_raw(true));
    }
    if let Some(base) = reported.strip_prefix("autogen-")
        && let Some(r) = policy.rules.iter().find(|r| r.name == base)
    {
        return Some(r.autogen_raw(false));
    }
    policy
        .rules
        .iter()
        .find(|r| r.name == reported)
        .map(|r| &r.raw)
}

impl Analyzer {
    /// Findings for mutate rules that would change the resource at admission (Hint), each
    /// with an "Apply" fix.
    pub(super) fn mutation_findings(
        &self,
        body: &str,
        root: &Node,
        json: &Json,
        out: &mut Vec<Finding>,
    ) {
        let has_mutate = |p: &Policy| p.rules.iter().any(|r| r.rule_type == RuleType::Mutate);
        if !self.policies.iter().any(has_mutate) {
            return;
        }
        let span = kind_span(root);
        for policy in self.policies.iter().filter(|p| has_mutate(p)) {
            for (rule, result) in mutations(policy, json, &self.policy_options) {
                let code = format!("{}/{rule}", policy.name);
                let related = vec![Related {
                    message: format!("policy {}", policy.name),
                    path: Some(policy.path.clone()),
                    range: None,
                    line: None,
                }];
                let (message, fixes) = match result {
                    Ok(mutated) => {
                        let what = describe(json, &mutated);
                        let fixes = edits_to(body, root, &mutated)
                            .map(|edits| Fix {
                                title: format!("Apply {code} ({what})"),
                                edits,
                                preferred: false,
                            })
                            .into_iter()
                            .collect();
                        (
                            format!(
                                "policy {} rule {rule} changes this resource at admission: {what}",
                                policy.name
                            ),
                            fixes,
                        )
                    }
                    Err(e) => (
                        format!(
                            "policy {} rule {rule} mutates this resource at admission; the change cannot be worked out locally: {e}",
                            policy.name
                        ),
                        Vec::new(),
                    ),
                };
                out.push(Finding {
                    severity: Severity::Hint,
                    range: span.start as usize..span.end as usize,
                    message,
                    source: "kyverno",
                    code: code.into(),
                    pointer: None,
                    related,
                    fixes,
                });
            }
        }
    }

    /// Fixes for a Kyverno finding (code `<policy>/<rule>`) of the document whose text is
    /// `body` and root `root`: the resource repaired after the rule's pattern, offered only
    /// when the rule then passes. Worked out on demand (code actions, `--fix`), not per
    /// keystroke.
    pub fn policy_fixes(&self, body: &str, root: &Node, finding: &Finding) -> Vec<Fix> {
        if finding.source != "kyverno" || !finding.fixes.is_empty() {
            return Vec::new();
        }
        let Some((pname, rname)) = finding.code.split_once('/') else {
            return Vec::new();
        };
        let json = root.to_json();
        let mut out = Vec::new();
        for policy in self.policies.iter().filter(|p| p.name == pname) {
            let Some(raw) = rule_for(policy, rname) else {
                continue;
            };
            let validate = raw.get("validate");
            let patterns: Vec<&Json> = match (
                validate.and_then(|v| v.get("pattern")),
                validate.and_then(|v| v.get("anyPattern")),
            ) {
                (Some(p), _) => vec![p],
                (None, Some(Json::Array(ps))) => ps.iter().collect(),
                _ => {
                    // No pattern to repair from (podSecurity, deny, foreach): the fewest
                    // hardening remedies that make the rule pass.
                    if let Some(fix) = self.hardening_fix(policy, rname, body, root, &json, finding)
                    {
                        out.push(fix);
                    }
                    continue;
                }
            };
            for pattern in patterns {
                if crate::policy::vars::has_vars(pattern) {
                    continue;
                }
                let repaired = fix::repair(&json, pattern);
                if repaired == json {
                    continue;
                }
                let passes = evaluate(policy, &repaired, &self.policy_options)
                    .iter()
                    .any(|o| o.rule == rname && o.status == Status::Pass);
                if !passes {
                    continue;
                }
                if let Some(edits) = edits_to(body, root, &repaired) {
                    out.push(Fix {
                        title: format!("Fix {}: {}", finding.code, describe(&json, &repaired)),
                        edits,
                        preferred: true,
                    });
                    break;
                }
            }
        }
        out
    }
}

impl Analyzer {
    /// A fix from [`super::hardening::REMEDIES`] for rule `rname` of `policy`: one remedy if one
    /// is enough, else all that change the resource, less those the rule passes without.
    fn hardening_fix(
        &self,
        policy: &Policy,
        rname: &str,
        body: &str,
        root: &Node,
        json: &Json,
        finding: &Finding,
    ) -> Option<Fix> {
        use super::hardening::{REMEDIES, apply};
        let passes = |r: &Json| {
            evaluate(policy, r, &self.policy_options)
                .iter()
                .any(|o| o.rule == rname && o.status == Status::Pass)
        };
        let useful: Vec<usize> = (0..REMEDIES.len())
            .filter(|&i| apply(json, &REMEDIES[i]).is_some())
            .collect();
        let with = |chosen: &[usize]| {
            let mut r = json.clone();
            for &i in chosen {
                if let Some(next) = apply(&r, &REMEDIES[i]) {
                    r = next;
                }
            }
            r
        };
        let chosen: Vec<usize> = match useful.iter().find(|&&i| passes(&with(&[i]))) {
            Some(&one) => vec![one],
            None => {
                if useful.is_empty() || !passes(&with(&useful)) {
                    return None;
                }
                let mut keep = useful.clone();
                for i in useful {
                    let without: Vec<usize> = keep.iter().copied().filter(|&k| k != i).collect();
                    if passes(&with(&without)) {
                        keep = without;
                    }
                }
                keep
            }
        };
        let repaired = with(&chosen);
        let edits = edits_to(body, root, &repaired)?;
        let what: Vec<&str> = chosen.iter().map(|&i| REMEDIES[i].title).collect();
        Some(Fix {
            title: format!("Fix {}: {}", finding.code, what.join(", ")),
            edits,
            preferred: true,
        })
    }
}

/// The outcome of [`Analyzer::fix_text`].
#[derive(Debug, Default)]
pub struct FixedText {
    pub text: String,
    /// Titles of the fixes applied, in order.
    pub applied: Vec<String>,
}

impl Analyzer {
    /// The fixes of a finding of `file` (ranges relative to byte `at`, the start of its
    /// document), with file offsets: its own, or those worked out on demand from its policy.
    pub fn fixes_for(
        &self,
        text: &str,
        file: &crate::yaml::YamlFile,
        at: usize,
        finding: &Finding,
    ) -> Vec<Fix> {
        let mut fixes = finding.fixes.clone();
        if fixes.is_empty()
            && finding.source == "kyverno"
            && let Some(doc) = file.docs.iter().find(|d| d.start == at)
            && let Some(root) = doc.root()
        {
            fixes = self.policy_fixes(&text[doc.start..doc.end], root, finding);
        }
        // Every fix is re-checked: it is offered only if its finding is gone afterwards.
        if let Some(doc) = file.docs.iter().find(|d| d.start == at) {
            let body = &text[doc.start..doc.end];
            fixes.retain(|fix| self.removes(body, finding, fix));
        }
        for fix in &mut fixes {
            for e in &mut fix.edits {
                e.range = e.range.start + at..e.range.end + at;
            }
        }
        fixes
    }

    /// Whether applying `fix` (document-relative edits) to the document `body` removes
    /// `finding`: no finding with its code at its place (pointer, or message) is left.
    fn removes(&self, body: &str, finding: &Finding, fix: &Fix) -> bool {
        if fix
            .edits
            .iter()
            .any(|e| e.range.end > body.len() || e.range.start > e.range.end)
        {
            return false;
        }
        let patched = crate::yaml::patch::apply(body, &fix.edits);
        let after = self.analyze_text(&patched);
        !after.iter().any(|(_, f)| {
            f.code == finding.code
                && match (&f.pointer, &finding.pointer) {
                    (Some(a), Some(b)) => a == b,
                    _ => f.message == finding.message,
                }
        })
    }

    /// Applies every finding's preferred fix, round after round (a fix can make another one
    /// possible) until none is left; overlapping fixes wait for the next round. A fix applied
    /// once is not applied again if its finding survives it.
    pub fn fix_text(&self, text: &str) -> FixedText {
        let mut out = FixedText {
            text: text.to_string(),
            applied: Vec::new(),
        };
        let mut tried: std::collections::HashSet<(String, String)> = Default::default();
        for _round in 0..10 {
            let file = crate::yaml::YamlFile::parse(&out.text);
            let analysis = self.analyze_parsed(&out.text, &file);
            let mut edits: Vec<crate::finding::TextEdit> = Vec::new();
            let mut titles = Vec::new();
            for (at, f) in analysis.iter() {
                let fixes = self.fixes_for(&out.text, &file, at, f);
                let Some(fix) = fixes.into_iter().find(|x| x.preferred) else {
                    continue;
                };
                let key = (f.code.to_string(), fix.title.clone());
                if tried.contains(&key) {
                    continue;
                }
                let overlaps = fix.edits.iter().any(|e| {
                    edits.iter().any(|o| {
                        e.range.start < o.range.end && o.range.start < e.range.end
                            || e.range.start == o.range.start
                    })
                });
                if overlaps {
                    continue;
                }
                tried.insert(key);
                edits.extend(fix.edits);
                titles.push(fix.title);
            }
            if edits.is_empty() {
                break;
            }
            out.text = crate::yaml::patch::apply(&out.text, &edits);
            out.applied.extend(titles);
        }
        out
    }
}
