//! `usher check`: files and folders in, compiler-style findings out.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use rayon::prelude::*;

use super::output::{FileReport, render_json, render_sarif, render_text};
use super::{CheckArgs, Format};
use crate::analysis::{Analyzer, decode_file};
use crate::config::Config;
use crate::finding::{Finding, Severity};
use crate::schema::KubeVersion;

/// Folders never searched (version control, dependencies, build output).
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "target",
    ".usher",
    ".tools",
];

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (mut config, config_path) = load_config(&args)?;
    config.crds.extend(args.crds.iter().cloned());
    if let Some(v) = &args.kubernetes_version {
        if KubeVersion::parse(v).is_none() {
            bail!("--kubernetes-version `{v}` is not a version such as 1.30");
        }
        config.kubernetes_version = Some(v.clone());
    }
    if args.unknown_fields.is_some() {
        config.unknown_fields = args.unknown_fields;
    }
    if args.missing_schemas.is_some() {
        config.missing_schemas = args.missing_schemas;
    }

    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut inputs = Vec::new();
    for p in &paths {
        collect_inputs(p, &mut inputs)?;
    }

    if args.no_bundled_policies || !args.policies.is_empty() {
        let pc = config.policies.get_or_insert_with(Default::default);
        pc.paths.extend(args.policies.iter().cloned());
        if args.no_bundled_policies {
            pc.bundled = Some(false);
        }
    }
    // The cluster's cache (no network): of --context, else the configured or current context.
    let cluster = if args.no_cluster {
        None
    } else {
        let loaded =
            crate::cluster::load_configured(config.cluster.as_ref(), args.context.as_deref(), None);
        if !args.quiet {
            for n in &loaded.notices {
                eprintln!("usher: notice: {n}");
            }
        }
        if let Some(e) = loaded.error {
            bail!("{e}");
        }
        if let Some(v) = &loaded.view
            && !args.quiet
        {
            eprintln!("usher: using the {}", v.summary());
        }
        loaded.view
    };
    let setup = crate::analysis::setup::configured(&config, cluster.as_ref());
    for e in &setup.crd_errors {
        eprintln!("usher: warning: CRD {}: {}", e.path.display(), e.message);
    }
    for e in &setup.cluster_errors {
        eprintln!("usher: warning: {}: {}", e.path.display(), e.message);
    }
    if !setup.policy_errors.is_empty() {
        // A policy that was asked for and cannot be read would pass everything silently.
        let list: Vec<String> = setup
            .policy_errors
            .iter()
            .map(|e| format!("{}: {}", e.path.display(), e.message))
            .collect();
        bail!("policy could not be loaded: {}", list.join("; "));
    }
    let mut analyzer = setup.analyzer;
    if args.explain {
        let workspace = config_path
            .as_ref()
            .and_then(|p| p.parent())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        match crate::knowledge::advisor::open_configured(config.knowledge.as_ref(), &workspace) {
            Ok(Some((advisor, notices))) => {
                if !args.quiet {
                    for n in notices {
                        eprintln!("usher: notice: {n}");
                    }
                }
                analyzer.set_knowledge(Some(Arc::new(advisor)));
            }
            Ok(None) => bail!(
                "--explain needs the knowledge index and there is none at {}; run `usher index` first",
                config
                    .knowledge
                    .as_ref()
                    .and_then(|k| k.index.clone())
                    .unwrap_or_else(|| workspace.join(".usher/index"))
                    .display()
            ),
            Err(e) => bail!("{e}"),
        }
    }
    let max_bytes = args.max_file_size.saturating_mul(1024 * 1024);
    let stdin_name = args.stdin_filename.clone();

    if args.fix || args.diff {
        let (fixed, files, stdin_fixed) = fix_inputs(&analyzer, &inputs, &args, max_bytes)?;
        if !args.quiet {
            let verb = if args.fix {
                "applied"
            } else {
                "would be applied"
            };
            eprintln!(
                "{fixed} fix{} {verb} in {files} file{}",
                if fixed == 1 { "" } else { "es" },
                plural(files)
            );
        }
        if !args.fix {
            return Ok(if files > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
        if stdin_fixed {
            // The fixed text went to standard output; the findings would be mixed into it.
            return Ok(ExitCode::SUCCESS);
        }
    }

    let mut reports: Vec<FileReport> = inputs
        .par_iter()
        .map(|input| check_input(&analyzer, input, max_bytes, &stdin_name))
        .collect();
    reports.sort_by(|a, b| a.path.cmp(&b.path));

    let errors = reports
        .iter()
        .flat_map(|r| &r.findings)
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = reports
        .iter()
        .flat_map(|r| &r.findings)
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let resources: usize = reports.iter().map(|r| r.resources).sum();

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let rendered = match args.format {
        Format::Text => render_text(&reports, args.explain),
        Format::Json => render_json(&reports),
        Format::Sarif => render_sarif(&reports),
    };
    out.write_all(rendered.as_bytes())?;
    out.flush()?;
    if !args.quiet && args.format == Format::Text {
        let elapsed = started.elapsed();
        eprintln!(
            "{} error{}, {} warning{} in {} file{} ({} resource{} checked in {:.0?})",
            errors,
            plural(errors),
            warnings,
            plural(warnings),
            reports.len(),
            plural(reports.len()),
            resources,
            plural(resources),
            elapsed
        );
    }
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Applies the fixes of every input: writes files (with `--fix`), prints diffs (with
/// `--diff`). Returns (fixes, files changed, whether fixed standard input was printed).
fn fix_inputs(
    analyzer: &Analyzer,
    inputs: &[Input],
    args: &CheckArgs,
    max_bytes: usize,
) -> anyhow::Result<(usize, usize, bool)> {
    let mut fixes = 0;
    let mut files = 0;
    let mut stdin_out = false;
    for input in inputs {
        let (name, bytes) = match input {
            Input::File(p) => (
                p.display().to_string(),
                std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
            ),
            Input::Stdin => {
                let mut buf = Vec::new();
                std::io::stdin().read_to_end(&mut buf)?;
                (args.stdin_filename.clone(), buf)
            }
        };
        // Files that are not YAML text are reported by the check itself; nothing to fix.
        let Ok(text) = decode_file(&bytes, max_bytes) else {
            continue;
        };
        let bom = if text.starts_with('\u{feff}') {
            "\u{feff}"
        } else {
            ""
        };
        let result = analyzer.fix_text(&text[bom.len()..]);
        let fixed = format!("{bom}{}", result.text);
        if matches!(input, Input::Stdin) && args.fix {
            print!("{fixed}");
            stdin_out = true;
        }
        if fixed == text {
            continue;
        }
        fixes += result.applied.len();
        files += 1;
        if args.diff {
            let diff = similar::TextDiff::from_lines(text, fixed.as_str());
            let mut rendered = diff
                .unified_diff()
                .context_radius(3)
                .header(&name, &name)
                .to_string();
            if !rendered.ends_with('\n') {
                rendered.push('\n');
            }
            print!("{rendered}");
        }
        if args.fix
            && let Input::File(p) = input
        {
            write_atomically(p, fixed.as_bytes())
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
    }
    Ok((fixes, files, stdin_out))
}

/// Writes a file through a temporary file in the same folder and a rename, keeping its
/// permissions: a crash leaves either the old or the new content, never half of it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.usher-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The configuration: `--config`, else `.usher.yaml` found from the first path checked (or the
/// current folder) upwards.
fn load_config(args: &CheckArgs) -> anyhow::Result<(Config, Option<PathBuf>)> {
    if args.no_config {
        return Ok((Config::default(), None));
    }
    let start = args
        .paths
        .iter()
        .find(|p| p.as_os_str() != "-")
        .cloned()
        .unwrap_or_else(|| PathBuf::from("."));
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None => Config::discover(&start).or_else(|| Config::discover(Path::new("."))),
    };
    match path {
        Some(p) => Ok((
            Config::load(&p).with_context(|| "invalid configuration".to_string())?,
            Some(p),
        )),
        None => Ok((Config::default(), None)),
    }
}

enum Input {
    File(PathBuf),
    Stdin,
}

fn collect_inputs(path: &Path, out: &mut Vec<Input>) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        out.push(Input::Stdin);
        return Ok(());
    }
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.is_file() {
        out.push(Input::File(path.to_path_buf()));
        return Ok(());
    }
    let walker = walkdir::WalkDir::new(path)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !(e.file_type().is_dir()
                    && SKIPPED_DIRS.contains(&e.file_name().to_string_lossy().as_ref()))
        });
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                if matches!(
                    e.path().extension().and_then(|x| x.to_str()),
                    Some("yaml" | "yml")
                ) {
                    out.push(Input::File(e.into_path()));
                }
            }
            Ok(_) => {}
            Err(e) => eprintln!("usher: warning: {e}"),
        }
    }
    Ok(())
}

fn check_input(
    analyzer: &Analyzer,
    input: &Input,
    max_bytes: usize,
    stdin_name: &str,
) -> FileReport {
    let (path, bytes) = match input {
        Input::File(p) => (p.display().to_string(), std::fs::read(p)),
        Input::Stdin => {
            let mut buf = Vec::new();
            let r = std::io::stdin().read_to_end(&mut buf).map(|_| buf);
            (stdin_name.to_string(), r)
        }
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            let f = crate::analysis::file_finding(
                "file/unreadable",
                format!("cannot read the file: {e}"),
                0..0,
            );
            return FileReport::new(path, vec![f], 0, "");
        }
    };
    check_bytes(analyzer, path, &bytes, max_bytes)
}

/// Checks one file's bytes.
pub fn check_bytes(
    analyzer: &Analyzer,
    path: String,
    bytes: &[u8],
    max_bytes: usize,
) -> FileReport {
    let text = match decode_file(bytes, max_bytes) {
        Ok(text) => text,
        Err((code, message, at)) => {
            // Point at the offending byte: its line is what the text before it shows.
            let before = String::from_utf8_lossy(&bytes[..at.min(bytes.len())]);
            let end = before.len();
            return FileReport::new(
                path,
                vec![crate::analysis::file_finding(code, message, end..end)],
                0,
                &before,
            );
        }
    };
    let bom = usize::from(text.starts_with('\u{feff}')) * 3;
    let analysis = analyzer.analyze_text(&text[bom..]);
    let mut all = analysis.findings();
    if analyzer.knowledge.is_some() {
        let file = crate::yaml::YamlFile::parse(&text[bom..]);
        for doc in &file.docs {
            for mut f in analyzer.explain_findings(doc) {
                f.range = f.range.start + doc.start..f.range.end + doc.start;
                all.push(f);
            }
        }
        all.sort_by_key(|f| f.range.start);
    }
    let findings: Vec<Finding> = all
        .into_iter()
        .map(|mut f| {
            f.range = f.range.start + bom..f.range.end + bom;
            for fix in &mut f.fixes {
                for e in &mut fix.edits {
                    e.range = e.range.start + bom..e.range.end + bom;
                }
            }
            f
        })
        .collect();
    FileReport::new(path, findings, analysis.resources, text)
}
