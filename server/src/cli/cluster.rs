//! `usher cluster status` and `usher cluster refresh`: the cluster cache from the terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::json;

use crate::cluster::{
    ClusterView, ContextCache, KubeconfigFile, Progress, Refreshed, Selection, human_age,
};
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// The kubeconfig's contexts, the one usher uses, and what each context's cache holds.
    Status(StatusArgs),
    /// Read the cluster again (get/list only) and update the context's cache.
    Refresh(RefreshArgs),
}

/// Which cluster: shared by the cluster commands and `usher index --cluster`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Target {
    /// The kubeconfig context (default: `cluster.context` of .usher.yaml, else the current
    /// context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig file (default: `cluster.kubeconfig`, else KUBECONFIG, else
    /// ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Configuration file (default: .usher.yaml in the current folder or above).
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Ignore configuration files.
    #[arg(long)]
    pub no_config: bool,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub target: Target,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(args: ClusterArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ClusterCommand::Status(a) => status(a),
        ClusterCommand::Refresh(a) => {
            let selection = a.target.selection()?;
            match refresh_with_progress(&selection, a.quiet) {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("usher: error: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

impl Target {
    pub fn load_config(&self) -> anyhow::Result<Config> {
        if self.no_config {
            return Ok(Config::default());
        }
        match self
            .config
            .clone()
            .or_else(|| Config::discover(Path::new(".")))
        {
            Some(p) => Config::load(&p).with_context(|| "invalid configuration".to_string()),
            None => Ok(Config::default()),
        }
    }

    /// The context to work on; an error when none can be found (the user asked for a cluster).
    pub fn selection(&self) -> anyhow::Result<Selection> {
        let config = self.load_config()?;
        let mut cluster = config.cluster.clone().unwrap_or_default();
        // An explicit command works even when the configuration switches cluster data off.
        cluster.enabled = Some(true);
        match Selection::from_config(
            Some(&cluster),
            self.context.as_deref(),
            self.kubeconfig.as_deref(),
        )
        .map_err(anyhow::Error::msg)?
        {
            Some(s) => Ok(s),
            None => {
                let why = match KubeconfigFile::read(self.kubeconfig.as_deref()) {
                    Ok(k) => format!("kubeconfig {} has no current context", k.origin),
                    Err(e) => e,
                };
                anyhow::bail!("no cluster to read: {why}; name one with --context")
            }
        }
    }
}

/// Refreshes with a progress line on a terminal (plain lines otherwise), then one summary
/// line and the problems. Used by `usher cluster refresh` and `usher index --cluster`.
pub fn refresh_with_progress(selection: &Selection, quiet: bool) -> Result<Refreshed, String> {
    let started = Instant::now();
    let terminal = !quiet && std::io::stderr().is_terminal();
    let last = Mutex::new(String::new());
    let report = |p: Progress| {
        if quiet {
            return;
        }
        let line = match p.count {
            Some((done, total)) => format!("{} {done}/{total}", p.message),
            None => p.message.clone(),
        };
        if terminal {
            eprint!("\r{}: {line}\x1b[K", selection.context);
        } else if p.count.is_none() {
            // Without a terminal, steps only (no counters): logs stay short.
            let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
            if *l != line {
                eprintln!("{}: {line}", selection.context);
                *l = line;
            }
        }
    };
    let result = crate::cluster::refresh_blocking(selection, &report);
    if terminal {
        eprint!("\r\x1b[K");
    }
    let r = result?;
    if !quiet {
        let s = &r.snapshot;
        let version = s
            .version
            .as_ref()
            .map(|v| format!(" ({})", v.git_version))
            .unwrap_or_default();
        eprintln!(
            "cluster {}{version}: {} resource types, {} CRDs, {} OpenAPI documents ({} fetched, {} unchanged), {} policies, {} namespaces, {} policy reports; {} requests, {:.1} MB in {:.2?}{}",
            s.context,
            s.resources.len(),
            s.crd_count(),
            s.openapi.len(),
            r.fetched_documents,
            r.reused_documents,
            s.policies.len(),
            s.namespaces.len(),
            s.policy_reports.len(),
            s.requests,
            s.bytes as f64 / 1e6,
            started.elapsed(),
            if r.changed { "" } else { "; nothing changed" }
        );
        for p in &s.problems {
            eprintln!("usher: warning: {p}");
        }
        if !s.problems.is_empty() {
            eprintln!(
                "usher: {} part(s) could not be read; what the previous cache had of them is kept",
                s.problems.len()
            );
        }
    }
    Ok(r)
}

fn status(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let config = a.target.load_config()?;
    let cluster = config.cluster.clone();
    let kubeconfig_path = a
        .target
        .kubeconfig
        .clone()
        .or_else(|| cluster.as_ref().and_then(|c| c.kubeconfig.clone()));
    let kubeconfig = KubeconfigFile::read(kubeconfig_path.as_deref());
    let selected = Selection::from_config(
        cluster.as_ref(),
        a.target.context.as_deref(),
        kubeconfig_path.as_deref(),
    )
    .ok()
    .flatten()
    .map(|s| s.context);
    let contexts = match &kubeconfig {
        Ok(k) => k.contexts(),
        Err(_) => Vec::new(),
    };
    let mut names: Vec<(String, Option<String>)> = contexts
        .iter()
        .map(|c| (c.name.clone(), c.server.clone()))
        .collect();
    if let Some(s) = &selected
        && !names.iter().any(|(n, _)| n == s)
    {
        names.push((s.clone(), None));
    }
    let mut rows = Vec::new();
    for (name, server) in &names {
        let cache = ContextCache::for_context(name);
        let loaded = cache.as_ref().map(|c| c.load());
        let entry = match loaded {
            Some(Ok(Some(s))) => {
                let view = cache
                    .as_ref()
                    .map(|c| ClusterView::from_snapshot(c, s.clone()));
                json!({
                    "context": name,
                    "server": server.clone().or(Some(s.server.clone()).filter(|x| !x.is_empty())),
                    "selected": selected.as_deref() == Some(name.as_str()),
                    "cache": cache.as_ref().map(|c| c.dir.display().to_string()),
                    "cached": true,
                    "age_seconds": s.age().as_secs(),
                    "version": s.version.as_ref().map(|v| v.git_version.clone()),
                    "resource_types": s.resources.len(),
                    "openapi_documents": s.openapi.len(),
                    "schemas": view.as_ref().map(|v| v.definitions.len()),
                    "crds": s.crd_count(),
                    "policies": s.policies.len(),
                    "namespaces": s.namespaces.len(),
                    "policy_reports": s.policy_reports.len(),
                    "problems": s.problems,
                })
            }
            Some(Err(e)) => json!({
                "context": name, "server": server, "cached": false,
                "selected": selected.as_deref() == Some(name.as_str()),
                "cache": cache.as_ref().map(|c| c.dir.display().to_string()),
                "error": e,
            }),
            _ => json!({
                "context": name, "server": server, "cached": false,
                "selected": selected.as_deref() == Some(name.as_str()),
                "cache": cache.as_ref().map(|c| c.dir.display().to_string()),
            }),
        };
        rows.push(entry);
    }
    if a.json {
        let out = json!({
            "kubeconfig": kubeconfig.as_ref().map(|k| k.origin.clone()).ok(),
            "kubeconfig_error": kubeconfig.as_ref().err(),
            "current_context": kubeconfig.as_ref().ok().and_then(|k| k.current_context().map(str::to_string)),
            "selected": selected,
            "contexts": rows,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    match &kubeconfig {
        Ok(k) => println!(
            "kubeconfig: {} (current context: {})",
            k.origin,
            k.current_context().unwrap_or("none")
        ),
        Err(e) => println!("kubeconfig: {e}"),
    }
    if rows.is_empty() {
        println!("no contexts");
        return Ok(ExitCode::SUCCESS);
    }
    for r in &rows {
        let mark = if r["selected"] == true { "*" } else { " " };
        let name = r["context"].as_str().unwrap_or_default();
        let server = r["server"].as_str().unwrap_or("");
        println!("{mark} {name}  {server}");
        if r["cached"] == true {
            println!(
                "    cache: {} ({}), taken {} ago",
                r["version"].as_str().unwrap_or("version unknown"),
                r["cache"].as_str().unwrap_or_default(),
                human_age(std::time::Duration::from_secs(
                    r["age_seconds"].as_u64().unwrap_or(0)
                ))
            );
            println!(
                "    {} resource types, {} OpenAPI documents ({} schemas), {} CRDs, {} policies, {} namespaces, {} policy reports",
                r["resource_types"],
                r["openapi_documents"],
                r["schemas"],
                r["crds"],
                r["policies"],
                r["namespaces"],
                r["policy_reports"]
            );
            if let Some(ps) = r["problems"].as_array().filter(|p| !p.is_empty()) {
                println!(
                    "    {} part(s) could not be read at the last refresh:",
                    ps.len()
                );
                for p in ps {
                    println!("      - {}", p.as_str().unwrap_or_default());
                }
            }
        } else if let Some(e) = r["error"].as_str() {
            println!("    cache unreadable: {e}");
        } else {
            println!("    no cache (run `usher cluster refresh --context {name}`)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
