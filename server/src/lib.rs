//! usher: Kubernetes manifests checked against schemas and policies before they leave the
//! editor. Layers, lowest first: `text`, `yaml`, `schema`, `analysis`; the faces (CLI, LSP)
//! live in `cli`.

pub mod text;
pub mod yaml;
