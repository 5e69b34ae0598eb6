//! API versions Kubernetes deprecated and removed, with their replacements.

/// A Kubernetes minor version (`1.29`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
}

impl KubeVersion {
    /// Parses `1.29`, `v1.29`, `1.29.3`, `v1.30.0-gke.1`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().trim_start_matches('v');
        let mut parts = s.split(['.', '-', '+']);
        let major = parts.next()?.parse().ok()?;
        let minor_text = parts.next()?;
        let minor = minor_text.trim_end_matches('+').parse().ok()?;
        Some(KubeVersion { major, minor })
    }
}

impl std::fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

pub struct ApiLifecycle {
    pub api_version: &'static str,
    pub kinds: &'static [&'static str],
    pub deprecated: (u32, u32),
    pub removed: Option<(u32, u32)>,
    /// The apiVersion to use instead; None when the kind was dropped altogether.
    pub replacement: Option<&'static str>,
    /// What to do when there is no replacement.
    pub note: Option<&'static str>,
}

const fn api(
    api_version: &'static str,
    kinds: &'static [&'static str],
    deprecated: (u32, u32),
    removed: Option<(u32, u32)>,
    replacement: Option<&'static str>,
) -> ApiLifecycle {
    ApiLifecycle {
        api_version,
        kinds,
        deprecated,
        removed,
        replacement,
        note: None,
    }
}

/// From the Kubernetes deprecated API migration guide.
pub const LIFECYCLE: &[ApiLifecycle] = &[
    api(
        "extensions/v1beta1",
        &["Deployment", "DaemonSet", "ReplicaSet"],
        (1, 9),
        Some((1, 16)),
        Some("apps/v1"),
    ),
    api(
        "extensions/v1beta1",
        &["NetworkPolicy"],
        (1, 9),
        Some((1, 16)),
        Some("networking.k8s.io/v1"),
    ),
    api(
        "extensions/v1beta1",
        &["Ingress"],
        (1, 14),
        Some((1, 22)),
        Some("networking.k8s.io/v1"),
    ),
    ApiLifecycle {
        api_version: "extensions/v1beta1",
        kinds: &["PodSecurityPolicy"],
        deprecated: (1, 11),
        removed: Some((1, 16)),
        replacement: None,
        note: Some(
            "PodSecurityPolicy was removed in 1.25; use Pod Security Admission (namespace labels) or a policy engine",
        ),
    },
    api(
        "apps/v1beta1",
        &[
            "Deployment",
            "StatefulSet",
            "ReplicaSet",
            "DaemonSet",
            "ControllerRevision",
        ],
        (1, 9),
        Some((1, 16)),
        Some("apps/v1"),
    ),
    api(
        "apps/v1beta2",
        &[
            "Deployment",
            "StatefulSet",
            "ReplicaSet",
            "DaemonSet",
            "ControllerRevision",
        ],
        (1, 9),
        Some((1, 16)),
        Some("apps/v1"),
    ),
    api(
        "networking.k8s.io/v1beta1",
        &["Ingress", "IngressClass"],
        (1, 19),
        Some((1, 22)),
        Some("networking.k8s.io/v1"),
    ),
    api(
        "admissionregistration.k8s.io/v1beta1",
        &[
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ],
        (1, 16),
        Some((1, 22)),
        Some("admissionregistration.k8s.io/v1"),
    ),
    api(
        "apiextensions.k8s.io/v1beta1",
        &["CustomResourceDefinition"],
        (1, 16),
        Some((1, 22)),
        Some("apiextensions.k8s.io/v1"),
    ),
    api(
        "apiregistration.k8s.io/v1beta1",
        &["APIService"],
        (1, 19),
        Some((1, 22)),
        Some("apiregistration.k8s.io/v1"),
    ),
    api(
        "authentication.k8s.io/v1beta1",
        &["TokenReview"],
        (1, 19),
        Some((1, 22)),
        Some("authentication.k8s.io/v1"),
    ),
    api(
        "authorization.k8s.io/v1beta1",
        &[
            "SubjectAccessReview",
            "LocalSubjectAccessReview",
            "SelfSubjectAccessReview",
            "SelfSubjectRulesReview",
        ],
        (1, 19),
        Some((1, 22)),
        Some("authorization.k8s.io/v1"),
    ),
    api(
        "certificates.k8s.io/v1beta1",
        &["CertificateSigningRequest"],
        (1, 19),
        Some((1, 22)),
        Some("certificates.k8s.io/v1"),
    ),
    api(
        "coordination.k8s.io/v1beta1",
        &["Lease"],
        (1, 19),
        Some((1, 22)),
        Some("coordination.k8s.io/v1"),
    ),
    api(
        "rbac.authorization.k8s.io/v1beta1",
        &["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"],
        (1, 17),
        Some((1, 22)),
        Some("rbac.authorization.k8s.io/v1"),
    ),
    api(
        "rbac.authorization.k8s.io/v1alpha1",
        &["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"],
        (1, 17),
        Some((1, 22)),
        Some("rbac.authorization.k8s.io/v1"),
    ),
    api(
        "scheduling.k8s.io/v1beta1",
        &["PriorityClass"],
        (1, 14),
        Some((1, 22)),
        Some("scheduling.k8s.io/v1"),
    ),
    api(
        "storage.k8s.io/v1beta1",
        &["CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"],
        (1, 19),
        Some((1, 22)),
        Some("storage.k8s.io/v1"),
    ),
    api(
        "batch/v1beta1",
        &["CronJob"],
        (1, 21),
        Some((1, 25)),
        Some("batch/v1"),
    ),
    api(
        "discovery.k8s.io/v1beta1",
        &["EndpointSlice"],
        (1, 21),
        Some((1, 25)),
        Some("discovery.k8s.io/v1"),
    ),
    api(
        "events.k8s.io/v1beta1",
        &["Event"],
        (1, 21),
        Some((1, 25)),
        Some("events.k8s.io/v1"),
    ),
    api(
        "autoscaling/v2beta1",
        &["HorizontalPodAutoscaler"],
        (1, 22),
        Some((1, 25)),
        Some("autoscaling/v2"),
    ),
    api(
        "autoscaling/v2beta2",
        &["HorizontalPodAutoscaler"],
        (1, 23),
        Some((1, 26)),
        Some("autoscaling/v2"),
    ),
    api(
        "policy/v1beta1",
        &["PodDisruptionBudget"],
        (1, 21),
        Some((1, 25)),
        Some("policy/v1"),
    ),
    ApiLifecycle {
        api_version: "policy/v1beta1",
        kinds: &["PodSecurityPolicy"],
        deprecated: (1, 21),
        removed: Some((1, 25)),
        replacement: None,
        note: Some(
            "use Pod Security Admission (namespace labels) or a policy engine such as Kyverno instead",
        ),
    },
    api(
        "node.k8s.io/v1beta1",
        &["RuntimeClass"],
        (1, 22),
        Some((1, 25)),
        Some("node.k8s.io/v1"),
    ),
    api(
        "storage.k8s.io/v1beta1",
        &["CSIStorageCapacity"],
        (1, 24),
        Some((1, 27)),
        Some("storage.k8s.io/v1"),
    ),
    api(
        "flowcontrol.apiserver.k8s.io/v1beta1",
        &["FlowSchema", "PriorityLevelConfiguration"],
        (1, 23),
        Some((1, 26)),
        Some("flowcontrol.apiserver.k8s.io/v1"),
    ),
    api(
        "flowcontrol.apiserver.k8s.io/v1beta2",
        &["FlowSchema", "PriorityLevelConfiguration"],
        (1, 26),
        Some((1, 29)),
        Some("flowcontrol.apiserver.k8s.io/v1"),
    ),
    api(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        &["FlowSchema", "PriorityLevelConfiguration"],
        (1, 29),
        Some((1, 32)),
        Some("flowcontrol.apiserver.k8s.io/v1"),
    ),
    api(
        "admissionregistration.k8s.io/v1beta1",
        &[
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ],
        (1, 30),
        None,
        Some("admissionregistration.k8s.io/v1"),
    ),
    api("v1", &["ComponentStatus"], (1, 19), None, None),
    api(
        "v1",
        &["Endpoints"],
        (1, 33),
        None,
        Some("discovery.k8s.io/v1"),
    ),
];

pub fn lifecycle(api_version: &str, kind: &str) -> Option<&'static ApiLifecycle> {
    LIFECYCLE
        .iter()
        .find(|l| l.api_version == api_version && l.kinds.contains(&kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(
            KubeVersion::parse("v1.29.3"),
            Some(KubeVersion {
                major: 1,
                minor: 29
            })
        );
        assert_eq!(
            KubeVersion::parse("1.30+"),
            Some(KubeVersion {
                major: 1,
                minor: 30
            })
        );
        assert_eq!(
            KubeVersion::parse("1.30.0-gke.1"),
            Some(KubeVersion {
                major: 1,
                minor: 30
            })
        );
        assert_eq!(KubeVersion::parse("latest"), None);
    }

    #[test]
    fn table_is_consistent() {
        for l in LIFECYCLE {
            if let Some(r) = l.removed {
                assert!(
                    l.deprecated < r,
                    "{} deprecated after removal",
                    l.api_version
                );
            }
            assert!(
                l.replacement.is_some() || l.note.is_some() || l.removed.is_none(),
                "{}",
                l.api_version
            );
        }
        assert_eq!(
            lifecycle("extensions/v1beta1", "Deployment")
                .unwrap()
                .replacement,
            Some("apps/v1")
        );
    }
}
