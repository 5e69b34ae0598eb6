//! Command-line faces: `usher check` (and later `lsp`, `mcp`, `index`, `search`, `test`).

pub mod check;
pub mod cluster;
pub mod index;
pub mod output;
pub mod test;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Level;

#[derive(Debug, Parser)]
#[command(
    name = "usher",
    version,
    about = "Kubernetes manifests checked against schemas before they leave the editor",
    long_about = "usher checks Kubernetes YAML against the schemas of built-in kinds and of your \
CustomResourceDefinitions, reports removed and deprecated APIs, evaluates Kyverno policies \
locally, and serves the same analysis to \
editors (usher lsp) and AI agents (usher mcp)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests: YAML syntax, schemas, unknown fields, removed APIs, Kyverno policies.
    Check(CheckArgs),
    /// Run the language server on standard input/output (for VS Code, Neovim, Helix…).
    Lsp(LspArgs),
    /// Run Kyverno CLI test files (kyverno-test.yaml) against the local policy engine.
    Test(test::TestArgs),
    /// Build the knowledge index: policies, written rules (docs, Slack exports, meeting
    /// transcripts) and resource kinds.
    Index(index::IndexArgs),
    /// Search the knowledge index.
    Search(index::SearchArgs),
    /// Serve the checks and the knowledge index to AI agents over the Model Context Protocol
    /// (standard input/output; read-only, every call audited).
    Mcp(crate::mcp::McpArgs),
    /// The clusters of your kubeconfig: refresh a context's cache (read-only) or show what
    /// the caches hold.
    Cluster(cluster::ClusterArgs),
}

#[derive(Debug, clap::Args)]
pub struct LspArgs {
    /// Talk over standard input/output (the only transport; accepted for editors that pass it).
    #[arg(long)]
    pub stdio: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `file:line:col: severity: message [code]`, like a compiler.
    Text,
    /// One JSON document with every finding.
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Files or folders to check (folders are searched recursively for .yaml and .yml files;
    /// `-` reads standard input). Defaults to the current folder.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// A CustomResourceDefinition file or a folder of them; may be repeated. Added to the
    /// `crds` of the configuration file.
    #[arg(long = "crd", value_name = "PATH")]
    pub crds: Vec<PathBuf>,

    /// Kubernetes version that removed and deprecated APIs are judged against (e.g. 1.29).
    /// Default: the configuration file's `kubernetesVersion`, else the newest built-in (1.37).
    #[arg(long, value_name = "VERSION")]
    pub kubernetes_version: Option<String>,

    /// Configuration file. Default: `.usher.yaml` in the folder of the first PATH or the nearest
    /// folder above it, else from the current folder upwards.
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,

    /// Ignore any configuration file.
    #[arg(long)]
    pub no_config: bool,

    /// A Kyverno policy file or folder (ClusterPolicy/Policy); may be repeated. Added to the
    /// `policies.paths` of the configuration file.
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,

    /// Do not evaluate the policy pack bundled with usher.
    #[arg(long)]
    pub no_bundled_policies: bool,

    /// How to report fields a schema does not define (strict field validation).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub unknown_fields: Option<Level>,

    /// How to report custom resources whose CRD is not known.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub missing_schemas: Option<Level>,

    /// Files larger than this many MiB are reported and skipped.
    #[arg(long, value_name = "MIB", default_value_t = 100)]
    pub max_file_size: usize,

    /// Name to show for standard input in findings.
    #[arg(long, value_name = "NAME", default_value = "<stdin>")]
    pub stdin_filename: String,

    /// Print findings only, without the summary line.
    #[arg(short, long)]
    pub quiet: bool,

    /// Apply the fixes that are safe without choosing (misspelled keys, values a policy
    /// requires, …) and write the files; then report what is left. Standard input: the fixed
    /// text goes to standard output.
    #[arg(long)]
    pub fix: bool,

    /// Print the fixes as a unified diff. Without --fix nothing is written, and the exit code
    /// is 1 when there is something to fix.
    #[arg(long)]
    pub diff: bool,
    /// Add what the knowledge index (`usher index`) knows about each resource: the related
    /// policies and written rules (wiki, Slack, meetings), and the written rules behind each
    /// policy finding.
    #[arg(long, conflicts_with_all = ["fix", "diff"])]
    pub explain: bool,

    /// Use the cached schemas and policies of this kubeconfig context (`usher cluster
    /// refresh`). Default: `cluster.context` of the configuration, else the current context,
    /// when it has a cache. Nothing is sent to the cluster.
    #[arg(long, value_name = "NAME", conflicts_with = "no_cluster")]
    pub context: Option<String>,

    /// Ignore the cluster cache: built-in schemas, CRD files and local policies only.
    #[arg(long)]
    pub no_cluster: bool,
}
