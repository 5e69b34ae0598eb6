//! Built-in Kubernetes kinds from k8s-openapi's schemars schemas, with the validation facts the
//! OpenAPI documents leave out (enums the API server enforces, list types and their keys).

use k8s_openapi::Resource;
use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Value as Json, json};

use super::builtin_kinds::builtin_kinds;

/// The newest Kubernetes version k8s-openapi describes (its `latest` feature).
pub const BUILTIN_KUBERNETES_VERSION: (u32, u32) = (1, 37);

pub struct BuiltinKind {
    pub api_version: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// Name of the kind's definition in `definitions`.
    pub definition: String,
}

/// Every built-in kind and the definitions of all their types.
pub struct BuiltinSchemas {
    pub kinds: Vec<BuiltinKind>,
    pub definitions: serde_json::Map<String, Json>,
}

pub fn builtin_schemas() -> BuiltinSchemas {
    let settings = SchemaSettings::openapi3();
    let mut generator = SchemaGenerator::new(settings);
    let mut kinds = Vec::new();
    macro_rules! add {
        ($ty:ty, $namespaced:expr) => {{
            let _ = generator.subschema_for::<$ty>();
            kinds.push(BuiltinKind {
                api_version: <$ty as Resource>::API_VERSION,
                group: <$ty as Resource>::GROUP,
                version: <$ty as Resource>::VERSION,
                kind: <$ty as Resource>::KIND,
                plural: <$ty as Resource>::URL_PATH_SEGMENT,
                namespaced: $namespaced,
                definition: <$ty as JsonSchema>::schema_name().into_owned(),
            });
        }};
    }
    builtin_kinds!(add);
    let mut definitions = generator.take_definitions(true);
    apply_overlay(&mut definitions);
    BuiltinSchemas { kinds, definitions }
}

/// Enum values the API server enforces for built-in fields (written in Go validation, absent
/// from the published OpenAPI documents).
pub const ENUMS: &[(&str, &str, &[&str])] = &[
    (
        "io.k8s.api.core.v1.Container",
        "imagePullPolicy",
        &["Always", "IfNotPresent", "Never"],
    ),
    (
        "io.k8s.api.core.v1.Container",
        "terminationMessagePolicy",
        &["File", "FallbackToLogsOnError"],
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "imagePullPolicy",
        &["Always", "IfNotPresent", "Never"],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "restartPolicy",
        &["Always", "OnFailure", "Never"],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "dnsPolicy",
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "preemptionPolicy",
        &["Never", "PreemptLowerPriority"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "type",
        &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "sessionAffinity",
        &["ClientIP", "None"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "externalTrafficPolicy",
        &["Cluster", "Local"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "internalTrafficPolicy",
        &["Cluster", "Local"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ipFamilyPolicy",
        &["SingleStack", "PreferDualStack", "RequireDualStack"],
    ),
    (
        "io.k8s.api.core.v1.ServicePort",
        "protocol",
        &["SCTP", "TCP", "UDP"],
    ),
    (
        "io.k8s.api.core.v1.ContainerPort",
        "protocol",
        &["SCTP", "TCP", "UDP"],
    ),
    (
        "io.k8s.api.core.v1.EndpointPort",
        "protocol",
        &["SCTP", "TCP", "UDP"],
    ),
    (
        "io.k8s.api.core.v1.Toleration",
        "operator",
        &["Equal", "Exists"],
    ),
    (
        "io.k8s.api.core.v1.Toleration",
        "effect",
        &["NoExecute", "NoSchedule", "PreferNoSchedule"],
    ),
    (
        "io.k8s.api.core.v1.Taint",
        "effect",
        &["NoExecute", "NoSchedule", "PreferNoSchedule"],
    ),
    (
        "io.k8s.api.core.v1.NodeSelectorRequirement",
        "operator",
        &["DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"],
    ),
    (
        "io.k8s.api.core.v1.SeccompProfile",
        "type",
        &["Localhost", "RuntimeDefault", "Unconfined"],
    ),
    (
        "io.k8s.api.core.v1.AppArmorProfile",
        "type",
        &["Localhost", "RuntimeDefault", "Unconfined"],
    ),
    (
        "io.k8s.api.core.v1.SecurityContext",
        "procMount",
        &["Default", "Unmasked"],
    ),
    (
        "io.k8s.api.core.v1.PodSecurityContext",
        "fsGroupChangePolicy",
        &["OnRootMismatch", "Always"],
    ),
    (
        "io.k8s.api.core.v1.HTTPGetAction",
        "scheme",
        &["HTTP", "HTTPS"],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        "volumeMode",
        &["Block", "Filesystem"],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeSpec",
        "volumeMode",
        &["Block", "Filesystem"],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeSpec",
        "persistentVolumeReclaimPolicy",
        &["Delete", "Recycle", "Retain"],
    ),
    (
        "io.k8s.api.core.v1.TopologySpreadConstraint",
        "whenUnsatisfiable",
        &["DoNotSchedule", "ScheduleAnyway"],
    ),
    (
        "io.k8s.api.core.v1.TopologySpreadConstraint",
        "nodeAffinityPolicy",
        &["Honor", "Ignore"],
    ),
    (
        "io.k8s.api.core.v1.TopologySpreadConstraint",
        "nodeTaintsPolicy",
        &["Honor", "Ignore"],
    ),
    (
        "io.k8s.api.core.v1.ContainerResizePolicy",
        "restartPolicy",
        &["NotRequired", "RestartContainer"],
    ),
    (
        "io.k8s.api.apps.v1.DeploymentStrategy",
        "type",
        &["Recreate", "RollingUpdate"],
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetSpec",
        "podManagementPolicy",
        &["OrderedReady", "Parallel"],
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetUpdateStrategy",
        "type",
        &["OnDelete", "RollingUpdate"],
    ),
    (
        "io.k8s.api.apps.v1.DaemonSetUpdateStrategy",
        "type",
        &["OnDelete", "RollingUpdate"],
    ),
    (
        "io.k8s.api.batch.v1.JobSpec",
        "completionMode",
        &["Indexed", "NonIndexed"],
    ),
    (
        "io.k8s.api.batch.v1.CronJobSpec",
        "concurrencyPolicy",
        &["Allow", "Forbid", "Replace"],
    ),
    (
        "io.k8s.api.networking.v1.HTTPIngressPath",
        "pathType",
        &["Exact", "ImplementationSpecific", "Prefix"],
    ),
    (
        "io.k8s.api.autoscaling.v2.MetricSpec",
        "type",
        &[
            "ContainerResource",
            "External",
            "Object",
            "Pods",
            "Resource",
        ],
    ),
    (
        "io.k8s.api.autoscaling.v2.MetricTarget",
        "type",
        &["AverageValue", "Utilization", "Value"],
    ),
    (
        "io.k8s.api.autoscaling.v2.HPAScalingPolicy",
        "type",
        &["Pods", "Percent"],
    ),
    (
        "io.k8s.api.autoscaling.v2.HPAScalingRules",
        "selectPolicy",
        &["Disabled", "Max", "Min"],
    ),
    (
        "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
        "unhealthyPodEvictionPolicy",
        &["AlwaysAllow", "IfHealthyBudget"],
    ),
];

/// Enum values of the items of built-in list fields.
pub const ITEM_ENUMS: &[(&str, &str, &[&str])] = &[
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        "accessModes",
        &[
            "ReadOnlyMany",
            "ReadWriteMany",
            "ReadWriteOnce",
            "ReadWriteOncePod",
        ],
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicySpec",
        "policyTypes",
        &["Egress", "Ingress"],
    ),
];

/// `x-kubernetes-list-type: map` lists of built-in types and their keys, with the default of a
/// key that may be left out (`protocol` defaults to TCP).
pub const LIST_MAPS: &[(&str, &str, &[&str])] = &[
    ("io.k8s.api.core.v1.PodSpec", "containers", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "initContainers", &["name"]),
    (
        "io.k8s.api.core.v1.PodSpec",
        "ephemeralContainers",
        &["name"],
    ),
    ("io.k8s.api.core.v1.PodSpec", "volumes", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "imagePullSecrets", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "hostAliases", &["ip"]),
    (
        "io.k8s.api.core.v1.PodSpec",
        "topologySpreadConstraints",
        &["topologyKey", "whenUnsatisfiable"],
    ),
    ("io.k8s.api.core.v1.Container", "env", &["name"]),
    (
        "io.k8s.api.core.v1.Container",
        "ports",
        &["containerPort", "protocol"],
    ),
    (
        "io.k8s.api.core.v1.Container",
        "volumeMounts",
        &["mountPath"],
    ),
    (
        "io.k8s.api.core.v1.Container",
        "volumeDevices",
        &["devicePath"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ports",
        &["port", "protocol"],
    ),
];

/// Defaults of list-map keys that may be omitted.
pub const KEY_DEFAULTS: &[(&str, &str, &str)] = &[
    ("io.k8s.api.core.v1.ContainerPort", "protocol", "TCP"),
    ("io.k8s.api.core.v1.ServicePort", "protocol", "TCP"),
];

fn property_mut<'a>(
    defs: &'a mut serde_json::Map<String, Json>,
    def: &str,
    prop: &str,
) -> Option<&'a mut Json> {
    defs.get_mut(def)?.get_mut("properties")?.get_mut(prop)
}

/// Definitions that hold any JSON value (CRD `default`, `enum`, `example`) or one of several
/// shapes (`items` as a schema or a list): schemars writes them as objects, the API accepts any.
const FREE_FORM: &[&str] = &[
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
];

pub(crate) fn apply_overlay(defs: &mut serde_json::Map<String, Json>) {
    for name in FREE_FORM {
        if let Some(def) = defs.get_mut(*name) {
            let description = def.get("description").cloned().unwrap_or(Json::Null);
            *def =
                json!({ "description": description, "x-kubernetes-preserve-unknown-fields": true });
        }
    }
    for (def, prop, values) in ENUMS {
        if let Some(Json::Object(p)) = property_mut(defs, def, prop) {
            p.insert("enum".into(), json!(values));
        }
    }
    for (def, prop, values) in ITEM_ENUMS {
        if let Some(Json::Object(p)) = property_mut(defs, def, prop)
            && let Some(Json::Object(items)) = p.get_mut("items")
        {
            items.insert("enum".into(), json!(values));
        }
    }
    for (def, prop, keys) in LIST_MAPS {
        if let Some(Json::Object(p)) = property_mut(defs, def, prop) {
            p.insert("x-kubernetes-list-type".into(), json!("map"));
            p.insert("x-kubernetes-list-map-keys".into(), json!(keys));
        }
    }
    for (def, prop, default) in KEY_DEFAULTS {
        if let Some(Json::Object(p)) = property_mut(defs, def, prop) {
            p.insert("default".into(), json!(default));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_definition_with_descriptions() {
        let b = builtin_schemas();
        assert!(b.kinds.len() > 90, "{} kinds", b.kinds.len());
        for k in &b.kinds {
            assert!(
                b.definitions.contains_key(&k.definition),
                "{}",
                k.definition
            );
        }
        let deploy = &b.definitions["io.k8s.api.apps.v1.DeploymentSpec"];
        assert!(
            deploy["description"]
                .as_str()
                .unwrap()
                .contains("desired behavior")
        );
    }

    #[test]
    fn overlay_targets_exist_and_descriptions_name_the_values() {
        let b = builtin_schemas();
        // The API's own descriptions name the allowed values for most fields: a cross-check
        // that the table speaks of the fields it means.
        let mut confirmed = 0;
        for (def, prop, values) in ENUMS {
            let p = &b.definitions[*def]["properties"][*prop];
            assert_eq!(
                p["enum"].as_array().map(Vec::len),
                Some(values.len()),
                "{def}.{prop}"
            );
            let d = p["description"].as_str().unwrap_or_default();
            let named = values.iter().filter(|v| d.contains(*v)).count();
            confirmed += usize::from(named * 2 >= values.len());
        }
        assert!(
            confirmed * 10 >= ENUMS.len() * 8,
            "only {confirmed} of {} enums confirmed",
            ENUMS.len()
        );
        for (def, prop, _) in LIST_MAPS.iter().chain(ITEM_ENUMS) {
            assert!(
                b.definitions[*def]["properties"].get(*prop).is_some(),
                "{def}.{prop}"
            );
        }
    }
}
