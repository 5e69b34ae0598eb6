//! usher: Kubernetes manifests checked against schemas and policies before they leave the
//! editor. Layers, lowest first: `text`, `yaml`, `schema`, `analysis`; the faces (CLI, LSP)
//! are `cli` and `lsp`.

pub mod analysis;
pub mod cel;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod finding;
pub mod knowledge;
pub mod lsp;
pub mod mcp;
pub mod policy;
pub mod schema;
pub mod text;
pub mod yaml;
