//! `usher mcp`: the analysis and the knowledge index for AI agents, over the Model Context
//! Protocol (stdio, the official `rmcp` SDK). Tools search policies and written rules, check
//! manifests (findings, fixes, the fixed YAML), explain schemas and find kinds; policies are
//! also resources, and a prompt tells an agent to check before it applies.
//!
//! Read-only by design: no tool writes a file, applies anything or talks to a cluster. Every
//! tool call is appended to the audit log ([`audit`]); a call whose audit line cannot be
//! written is not answered.

pub mod audit;
pub mod framing;
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, Prompt, PromptArgument, PromptMessage,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, Role, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::Value as Json;

use self::audit::{AuditLog, Entry};
use self::tools::{Workspace, policy_text, policy_uri};

#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// Configuration file (default: .usher.yaml in the current folder or above). Its folder is
    /// the workspace: CRDs, policies and the knowledge index come from it.
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Ignore configuration files.
    #[arg(long)]
    pub no_config: bool,
    /// Where every tool call is appended as one JSON line (default: `mcp.auditLog` of the
    /// configuration, else $XDG_STATE_HOME/usher/mcp-audit.jsonl, else
    /// ~/.local/state/usher/mcp-audit.jsonl).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Use the cached schemas and policies of this kubeconfig context (`usher cluster
    /// refresh`). Default: `cluster.context` of the configuration, else the current context,
    /// when it has a cache. The cluster itself is never contacted.
    #[arg(long, value_name = "NAME", conflicts_with = "no_cluster")]
    pub context: Option<String>,
    /// Ignore the cluster cache: built-in schemas, CRD files and local policies only.
    #[arg(long)]
    pub no_cluster: bool,
    /// Largest manifest `check_manifest` accepts, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 1024)]
    pub max_yaml_kib: usize,
}

/// What the server tells an agent at initialization.
const INSTRUCTIONS: &str = "usher knows this workspace's Kubernetes schemas (built-in and CRDs), \
the admission policies the cluster enforces, and the rules people wrote down (docs, Slack, \
meeting transcripts). Before writing a manifest, use search_policies for the rules that concern \
it and find_kinds/explain for the kinds and fields. Before applying one, call check_manifest and \
fix every error (fixes come as edits and as `fixed.yaml`), then check again. All tools are \
read-only.";

/// The prompt's name.
const PROMPT: &str = "check-before-apply";

pub fn run(args: McpArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let cwd = std::env::current_dir()?;
    let mut ws = Workspace::load(
        &cwd,
        args.config.as_deref(),
        args.no_config,
        !args.no_cluster,
        args.context.as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    ws.limits.max_yaml_bytes = args.max_yaml_kib.saturating_mul(1024);
    for n in &ws.notices {
        eprintln!("usher mcp: {n}");
    }
    for e in &ws.load_errors {
        eprintln!("usher mcp: warning: {e}");
    }
    let audit_path = args
        .audit_log
        .clone()
        .or_else(|| ws.config.mcp.as_ref().and_then(|m| m.audit_log.clone()))
        .or_else(default_audit_path)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no place for the audit log: set --audit-log, `mcp.auditLog` in .usher.yaml, \
                 or HOME"
            )
        })?;
    let audit = AuditLog::open(&audit_path).map_err(anyhow::Error::msg)?;
    eprintln!(
        "usher mcp: workspace {}{}; {} policies; audit log {}",
        ws.root.display(),
        ws.config_file
            .as_ref()
            .map(|p| format!(" ({})", p.display()))
            .unwrap_or_default(),
        ws.policies().len(),
        audit.path().display()
    );
    let ws = Arc::new(ws);
    // The knowledge index opens (or is built) while the client initializes.
    {
        let ws = ws.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let status = &ws.knowledge().status;
            eprintln!(
                "usher mcp: knowledge: {status} (ready in {:.0?})",
                t.elapsed()
            );
        });
    }
    let server = UsherMcp::new(ws, audit);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        // stdin → framing (malformed lines answered here) → service → stdout.
        let (service_in, to_service) = tokio::io::duplex(1 << 20);
        let (service_out, from_service) = tokio::io::duplex(1 << 20);
        let (replies, replies_rx) = tokio::sync::mpsc::channel(64);
        let input = tokio::spawn(framing::filter_input(
            tokio::io::stdin(),
            to_service,
            replies,
        ));
        let output = tokio::spawn(framing::write_output(
            from_service,
            replies_rx,
            tokio::io::stdout(),
        ));
        let running = server
            .serve((service_in, service_out))
            .await
            .map_err(|e| anyhow::anyhow!("MCP initialization failed: {e}"))?;
        eprintln!("usher mcp: ready in {:.0?}", started.elapsed());
        let reason = running.waiting().await?;
        input.abort();
        let _ = output.await;
        eprintln!("usher mcp: stopped ({reason:?})");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn default_audit_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))?;
    Some(state.join("usher/mcp-audit.jsonl"))
}

#[derive(Clone)]
pub struct UsherMcp {
    ws: Arc<Workspace>,
    audit: Arc<AuditLog>,
    tools: Arc<Vec<Tool>>,
}

impl UsherMcp {
    pub fn new(ws: Arc<Workspace>, audit: AuditLog) -> UsherMcp {
        let tools = tools::definitions()
            .into_iter()
            .map(|d| {
                let object = |v: Json| match v {
                    Json::Object(m) => Arc::new(m),
                    _ => Arc::new(Default::default()),
                };
                Tool::new(d.name, d.description, object(d.input))
                    .with_title(d.title)
                    .with_raw_output_schema(object(d.output))
                    .with_annotations(
                        ToolAnnotations::with_title(d.title)
                            .read_only(true)
                            .destructive(false)
                            .idempotent(true)
                            .open_world(false),
                    )
            })
            .collect();
        UsherMcp {
            ws,
            audit: Arc::new(audit),
            tools: Arc::new(tools),
        }
    }

    /// Runs one tool call off the async threads, audits it, and shapes the result.
    async fn call(&self, name: String, arguments: Json, client: Option<String>) -> CallToolResult {
        let started = Instant::now();
        let raw = serde_json::to_vec(&arguments).unwrap_or_default();
        let ws = self.ws.clone();
        let tool = name.clone();
        let outcome = tokio::task::spawn_blocking(move || ws.call(&tool, arguments))
            .await
            .unwrap_or_else(|e| Err(format!("the tool failed unexpectedly: {e}")));
        let summary = match &outcome {
            Ok(o) => o.summary.clone(),
            Err(e) => format!("error: {e}"),
        };
        let logged = self.audit.append(&Entry {
            tool: &name,
            arguments: &raw,
            ok: outcome.is_ok(),
            summary: &summary,
            duration: started.elapsed(),
            client: client.as_deref(),
        });
        if let Err(e) = logged {
            eprintln!("usher mcp: error: {e}");
            return CallToolResult::error(vec![ContentBlock::text(format!(
                "{e}. usher answers only calls it can audit; the result is withheld. Ask the \
                 user to check the audit log's disk and permissions."
            ))]);
        }
        match outcome {
            Ok(o) => {
                let mut r = CallToolResult::structured(o.structured);
                r.content = vec![ContentBlock::text(o.text)];
                r
            }
            Err(e) => CallToolResult::error(vec![ContentBlock::text(e)]),
        }
    }
}

impl ServerHandler for UsherMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(
            Implementation::new("usher", env!("CARGO_PKG_VERSION"))
                .with_title("usher: Kubernetes manifests, schemas and policies"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self.tools.iter().any(|t| t.name == request.name) {
            let names: Vec<&str> = self.tools.iter().map(|t| t.name.as_ref()).collect();
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool `{}`; the tools are {}",
                    request.name,
                    names.join(", ")
                ),
                None,
            ));
        }
        let client = context
            .peer
            .peer_info()
            .map(|p| format!("{} {}", p.client_info.name, p.client_info.version));
        let args = request.arguments.map(Json::Object).unwrap_or(Json::Null);
        Ok(self
            .call(request.name.to_string(), args, client)
            .await
            .into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resources = self
            .ws
            .policies()
            .iter()
            .map(|p| {
                let title = p
                    .annotations
                    .get("policies.kyverno.io/title")
                    .and_then(Json::as_str)
                    .unwrap_or(&p.name);
                let mut r = Resource::new(policy_uri(p), p.name.clone())
                    .with_title(format!("{} policy: {title}", p.kind))
                    .with_mime_type("application/yaml");
                if let Some(d) = p
                    .annotations
                    .get("policies.kyverno.io/description")
                    .and_then(Json::as_str)
                {
                    r = r.with_description(d.trim());
                }
                r
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let Some(p) = self
            .ws
            .policies()
            .iter()
            .find(|p| policy_uri(p) == request.uri)
        else {
            return Err(ErrorData::resource_not_found(
                format!(
                    "no policy at {}; resources/list lists them (usher://policies/<name>)",
                    request.uri
                ),
                None,
            ));
        };
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(policy_text(p), request.uri).with_mime_type("application/yaml"),
        ])
        .into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![
            Prompt::new(
                PROMPT,
                Some(
                    "Write or change Kubernetes manifests the way this organisation accepts them: \
                     look up its rules first, check with usher before applying, fix until clean.",
                ),
                Some(vec![
                    PromptArgument::new("task")
                        .with_description(
                            "what the manifests are for, e.g. \"deploy the billing API\"",
                        )
                        .with_required(false),
                ]),
            )
            .with_title("Check Kubernetes manifests before applying them"),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name != PROMPT {
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown prompt `{}`; the prompt is `{PROMPT}`",
                    request.name
                ),
                None,
            ));
        }
        let task = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("task"))
            .and_then(Json::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty());
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, prompt_text(task))])
                .with_description("Check Kubernetes manifests with usher before applying them")
                .into(),
        )
    }
}

fn prompt_text(task: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(t) = task {
        s.push_str(&format!("Task: {t}\n\n"));
    }
    s.push_str(
        "You are writing Kubernetes manifests for a cluster whose admission policies reject \
non-compliant resources. Use the usher tools so the manifests are accepted the first time:\n\
1. Before writing, call search_policies with what you are about to deploy (e.g. \"postgres \
database\", \"public ingress\") and follow the policies and written rules it returns; cite their \
provenance when you explain a choice.\n\
2. Use find_kinds to pick the right kind (including the cluster's CRDs) and explain for the \
fields you are unsure of.\n\
3. Call check_manifest on every manifest before applying it. Fix every error and warning: apply \
the preferred fixes' edits (or take `fixed.yaml` when it is given), and for the rest change the \
YAML as the message says.\n\
4. Call check_manifest again; apply only when it reports no errors. Never apply to get the \
cluster's opinion: the check is the cluster's opinion.\n",
    );
    s
}
