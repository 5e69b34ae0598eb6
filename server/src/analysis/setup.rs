//! The analyzer a configuration describes: schemas (built-in, CRD files, the cluster's cache),
//! policies (the bundled pack, policy files, the cluster's) and the Kubernetes version, in one
//! place for every face.

use std::collections::HashSet;
use std::sync::Arc;

use super::Analyzer;
use crate::cluster::ClusterView;
use crate::config::Config;
use crate::policy::PolicyLoadError;
use crate::schema::{Catalog, CrdLoadError};

pub struct Setup {
    pub analyzer: Analyzer,
    /// CRD files (and cluster CRDs) that could not be used.
    pub crd_errors: Vec<CrdLoadError>,
    /// Policy files that could not be read (the user's own: worth stopping for).
    pub policy_errors: Vec<PolicyLoadError>,
    /// Cluster policies that could not be used (reported, never fatal).
    pub cluster_errors: Vec<PolicyLoadError>,
}

/// The analyzer for `config`, with `cluster`'s cache when given: its schemas take precedence
/// over built-in ones and CRD files, its Kubernetes version is the default for deprecation
/// checks, its policies are evaluated like local ones (a local policy of the same kind and
/// name wins: it is the one being edited), its Namespaces and ConfigMaps answer namespace
/// selectors, `resource.Get` and `configMap` context entries, and its cached API answers the
/// `apiCall` entries.
pub fn configured(config: &Config, cluster: Option<&ClusterView>) -> Setup {
    let (catalog, crd_errors) = match cluster {
        Some(view) => {
            let (c, e) = view.catalog(&config.crds);
            (Arc::new(c), e)
        }
        None if config.crds.is_empty() => (Catalog::builtin(), Vec::new()),
        None => {
            let (c, e) = Catalog::with_crds(&config.crds);
            (Arc::new(c), e)
        }
    };
    let mut options = config.schema_options();
    if config.kubernetes_version.is_none()
        && let Some(v) = cluster.and_then(ClusterView::kube_version)
    {
        options.kubernetes_version = v;
    }
    let mut analyzer = Analyzer::new(catalog, options);
    let pc = config.policies.as_ref();
    let (mut set, policy_errors) = crate::policy::from_config_set(pc);
    let mut cluster_errors = Vec::new();
    let mut api_calls = Default::default();
    if let Some(view) = cluster {
        let (from_cluster, errors) = view.policy_set();
        cluster_errors = errors;
        if config
            .cluster
            .as_ref()
            .and_then(|c| c.policies)
            .unwrap_or(true)
        {
            let local: HashSet<(String, String)> = set
                .policies
                .iter()
                .map(|p| (p.kind.clone(), p.name.clone()))
                .collect();
            set.policies.extend(
                from_cluster
                    .policies
                    .into_iter()
                    .filter(|p| !local.contains(&(p.kind.clone(), p.name.clone()))),
            );
            set.exceptions.extend(from_cluster.exceptions);
        }
        set.resources.extend(from_cluster.resources);
        api_calls = view.snapshot.api_calls.clone();
    }
    analyzer.set_policies(set.policies, pc.and_then(|p| p.default_namespace.clone()));
    analyzer.set_cel_resources(set.resources);
    analyzer.set_api_calls(api_calls);
    analyzer.set_exceptions(
        set.exceptions,
        pc.and_then(|p| p.background_scan).unwrap_or(false),
    );
    Setup {
        analyzer,
        crd_errors,
        policy_errors,
        cluster_errors,
    }
}
