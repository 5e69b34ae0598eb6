//! `validate.podSecurity`: the checks of the Pod Security Standards (baseline and
//! restricted, latest version), with Kyverno's `exclude` entries.

use serde_json::Value as Json;

use super::pattern::wildcard_match;

/// The controls checked, by level, with what each asks in words: the knowledge index
/// describes `podSecurity` rules with these (a rule's text names the fields it checks).
pub const CONTROLS: &[(&str, &str, &str)] = &[
    (
        "HostProcess",
        "baseline",
        "Windows hostProcess containers are not allowed: securityContext.windowsOptions.hostProcess must not be true",
    ),
    (
        "Host Namespaces",
        "baseline",
        "sharing the host namespaces is not allowed: hostNetwork, hostPID and hostIPC must not be true",
    ),
    (
        "Privileged Containers",
        "baseline",
        "privileged containers are not allowed: securityContext.privileged must not be true",
    ),
    (
        "Capabilities",
        "baseline",
        "securityContext.capabilities.add may only add the default capabilities (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT)",
    ),
    (
        "HostPath Volumes",
        "baseline",
        "hostPath volumes are not allowed",
    ),
    (
        "Host Ports",
        "baseline",
        "containers must not use host ports: ports[].hostPort must be unset or 0",
    ),
    (
        "AppArmor",
        "baseline",
        "the AppArmor profile may only be RuntimeDefault or Localhost, not Unconfined",
    ),
    (
        "SELinux",
        "baseline",
        "seLinuxOptions: only the container_t, container_init_t, container_kvm_t and container_engine_t types; user and role must be unset",
    ),
    (
        "/proc Mount Type",
        "baseline",
        "securityContext.procMount must be Default",
    ),
    (
        "Seccomp",
        "baseline",
        "the seccomp profile (seccompProfile.type) must not be Unconfined",
    ),
    (
        "Sysctls",
        "baseline",
        "securityContext.sysctls may only set the safe sysctls",
    ),
    (
        "Volume Types",
        "restricted",
        "volumes may only be configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected or secret",
    ),
    (
        "Privilege Escalation",
        "restricted",
        "privilege escalation (setuid) is not allowed: securityContext.allowPrivilegeEscalation must be false",
    ),
    (
        "Running as Non-root",
        "restricted",
        "containers must run as non-root: securityContext.runAsNonRoot must be true",
    ),
    (
        "Running as Non-root user",
        "restricted",
        "containers must not run as root: securityContext.runAsUser must not be 0",
    ),
    (
        "Seccomp",
        "restricted",
        "seccompProfile.type must be set to RuntimeDefault or Localhost",
    ),
    (
        "Capabilities",
        "restricted",
        "containers must drop ALL capabilities (securityContext.capabilities.drop: [ALL]) and may only add NET_BIND_SERVICE",
    ),
];

/// One violated control.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The control's name as Kyverno's exclusions name it (`Capabilities`, `Host Ports`…).
    pub control: &'static str,
    /// What is wrong.
    pub reason: String,
    /// JSON pointer into the Pod.
    pub pointer: String,
    /// The container's image, for container-level controls.
    pub image: Option<String>,
    /// The offending values (for exclusions with `values`).
    pub values: Vec<String>,
}

const BASELINE_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];
const SELINUX_TYPES: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// Containers of all kinds with their JSON pointers.
fn containers(spec: &Json) -> Vec<(String, &Json)> {
    let mut out = Vec::new();
    for field in ["initContainers", "containers", "ephemeralContainers"] {
        for (i, c) in spec
            .get(field)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            out.push((format!("/spec/{field}/{i}"), c));
        }
    }
    out
}

fn truthy(v: Option<&Json>) -> bool {
    v.and_then(Json::as_bool).unwrap_or(false)
}

/// Checks a Pod (`metadata` + `spec`) at `level` (`baseline` or `restricted`; `privileged`
/// allows everything).
pub fn check(pod: &Json, level: &str) -> Vec<Violation> {
    let mut v = Vec::new();
    if level == "privileged" {
        return v;
    }
    let restricted = level == "restricted";
    let empty = Json::Null;
    let spec = pod.get("spec").unwrap_or(&empty);
    let psc = spec.get("securityContext").unwrap_or(&empty);
    let cs = containers(spec);
    let mut push = |control: &'static str,
                    reason: String,
                    pointer: String,
                    image: Option<String>,
                    values: Vec<String>| {
        v.push(Violation {
            control,
            reason,
            pointer,
            image,
            values,
        });
    };
    let image_of = |c: &Json| c.get("image").and_then(Json::as_str).map(str::to_string);

    // HostProcess.
    if truthy(psc.pointer("/windowsOptions/hostProcess")) {
        push(
            "HostProcess",
            "hostProcess is true".into(),
            "/spec/securityContext/windowsOptions/hostProcess".into(),
            None,
            vec![],
        );
    }
    for (p, c) in &cs {
        if truthy(c.pointer("/securityContext/windowsOptions/hostProcess")) {
            push(
                "HostProcess",
                "hostProcess is true".into(),
                format!("{p}/securityContext/windowsOptions/hostProcess"),
                image_of(c),
                vec![],
            );
        }
    }
    // Host namespaces.
    for f in ["hostNetwork", "hostPID", "hostIPC"] {
        if truthy(spec.get(f)) {
            push(
                "Host Namespaces",
                format!("{f} is true"),
                format!("/spec/{f}"),
                None,
                vec![],
            );
        }
    }
    // Privileged containers, capabilities, host ports, /proc mount, SELinux, seccomp,
    // AppArmor per container.
    for (p, c) in &cs {
        let sc = c.get("securityContext").unwrap_or(&empty);
        let image = image_of(c);
        if truthy(sc.get("privileged")) {
            push(
                "Privileged Containers",
                "privileged is true".into(),
                format!("{p}/securityContext/privileged"),
                image.clone(),
                vec![],
            );
        }
        let added: Vec<String> = sc
            .pointer("/capabilities/add")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
        let bad: Vec<String> = added
            .iter()
            .filter(|c| {
                if restricted {
                    c.as_str() != "NET_BIND_SERVICE"
                } else {
                    !BASELINE_CAPS.contains(&c.as_str())
                }
            })
            .cloned()
            .collect();
        if !bad.is_empty() {
            push(
                "Capabilities",
                format!("non-default capabilities {}", bad.join(", ")),
                format!("{p}/securityContext/capabilities/add"),
                image.clone(),
                bad,
            );
        }
        if restricted {
            let drops: Vec<String> = sc
                .pointer("/capabilities/drop")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_uppercase))
                .collect();
            if !drops.iter().any(|d| d == "ALL") {
                push(
                    "Capabilities",
                    "capabilities.drop must include ALL".into(),
                    format!("{p}/securityContext"),
                    image.clone(),
                    vec![],
                );
            }
        }
        for (j, port) in c
            .get("ports")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(hp) = port.get("hostPort").and_then(Json::as_i64)
                && hp != 0
            {
                push(
                    "Host Ports",
                    format!("hostPort {hp}"),
                    format!("{p}/ports/{j}/hostPort"),
                    image.clone(),
                    vec![hp.to_string()],
                );
            }
        }
        if let Some(pm) = sc.get("procMount").and_then(Json::as_str)
            && pm != "Default"
        {
            push(
                "/proc Mount Type",
                format!("procMount {pm}"),
                format!("{p}/securityContext/procMount"),
                image.clone(),
                vec![pm.to_string()],
            );
        }
        selinux(
            sc.get("seLinuxOptions"),
            &format!("{p}/securityContext/seLinuxOptions"),
            image.clone(),
            &mut push,
        );
        if let Some(t) = sc.pointer("/seccompProfile/type").and_then(Json::as_str)
            && (t == "Unconfined" || (restricted && t != "RuntimeDefault" && t != "Localhost"))
        {
            push(
                "Seccomp",
                format!("seccompProfile.type {t}"),
                format!("{p}/securityContext/seccompProfile/type"),
                image.clone(),
                vec![t.to_string()],
            );
        }
        if let Some(t) = sc.pointer("/appArmorProfile/type").and_then(Json::as_str)
            && t != "RuntimeDefault"
            && t != "Localhost"
        {
            push(
                "AppArmor",
                format!("appArmorProfile.type {t}"),
                format!("{p}/securityContext/appArmorProfile/type"),
                image.clone(),
                vec![t.to_string()],
            );
        }
        if restricted {
            if sc.get("allowPrivilegeEscalation").and_then(Json::as_bool) != Some(false) {
                push(
                    "Privilege Escalation",
                    "allowPrivilegeEscalation != false".into(),
                    format!("{p}/securityContext/allowPrivilegeEscalation"),
                    image.clone(),
                    vec![],
                );
            }
            if sc.get("runAsUser").and_then(Json::as_i64) == Some(0) {
                push(
                    "Running as Non-root user",
                    "runAsUser is 0".into(),
                    format!("{p}/securityContext/runAsUser"),
                    image.clone(),
                    vec!["0".into()],
                );
            }
        }
    }
    // AppArmor annotations.
    for (k, val) in pod
        .pointer("/metadata/annotations")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
    {
        if k.starts_with("container.apparmor.security.beta.kubernetes.io/") {
            let s = val.as_str().unwrap_or("");
            if s != "runtime/default" && !s.starts_with("localhost/") {
                push(
                    "AppArmor",
                    format!("AppArmor profile {s}"),
                    "/metadata/annotations".into(),
                    None,
                    vec![s.to_string()],
                );
            }
        }
    }
    if let Some(t) = psc.pointer("/appArmorProfile/type").and_then(Json::as_str)
        && t != "RuntimeDefault"
        && t != "Localhost"
    {
        push(
            "AppArmor",
            format!("appArmorProfile.type {t}"),
            "/spec/securityContext/appArmorProfile/type".into(),
            None,
            vec![t.to_string()],
        );
    }
    selinux(
        psc.get("seLinuxOptions"),
        "/spec/securityContext/seLinuxOptions",
        None,
        &mut push,
    );
    // Pod-level seccomp.
    let pod_seccomp = psc.pointer("/seccompProfile/type").and_then(Json::as_str);
    if pod_seccomp == Some("Unconfined")
        || (restricted && pod_seccomp.is_some_and(|t| t != "RuntimeDefault" && t != "Localhost"))
    {
        push(
            "Seccomp",
            format!("seccompProfile.type {}", pod_seccomp.unwrap_or("")),
            "/spec/securityContext/seccompProfile/type".into(),
            None,
            vec![pod_seccomp.unwrap_or("").to_string()],
        );
    }
    if restricted && pod_seccomp.is_none() {
        for (p, c) in &cs {
            if c.pointer("/securityContext/seccompProfile/type").is_none() {
                push(
                    "Seccomp",
                    "seccompProfile must be RuntimeDefault or Localhost".into(),
                    format!("{p}/securityContext"),
                    image_of(c),
                    vec![],
                );
            }
        }
    }
    // Sysctls.
    for (i, s) in psc
        .get("sysctls")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = s.get("name").and_then(Json::as_str).unwrap_or("");
        if !SAFE_SYSCTLS.contains(&name) {
            push(
                "Sysctls",
                format!("unsafe sysctl {name}"),
                format!("/spec/securityContext/sysctls/{i}/name"),
                None,
                vec![name.to_string()],
            );
        }
    }
    // Volumes.
    for (i, vol) in spec
        .get("volumes")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if vol.get("hostPath").is_some() {
            push(
                "HostPath Volumes",
                "hostPath volume".into(),
                format!("/spec/volumes/{i}/hostPath"),
                None,
                vec![],
            );
        }
        if restricted && let Some(m) = vol.as_object() {
            for k in m.keys() {
                if k != "name" && k != "hostPath" && !RESTRICTED_VOLUMES.contains(&k.as_str()) {
                    push(
                        "Volume Types",
                        format!("volume type {k}"),
                        format!("/spec/volumes/{i}/{k}"),
                        None,
                        vec![k.clone()],
                    );
                }
            }
        }
    }
    if restricted {
        // Running as non-root: the Pod or every container says so, and none says false.
        let pod_nonroot = psc.get("runAsNonRoot").and_then(Json::as_bool);
        if pod_nonroot == Some(false) {
            push(
                "Running as Non-root",
                "runAsNonRoot is false".into(),
                "/spec/securityContext/runAsNonRoot".into(),
                None,
                vec![],
            );
        }
        for (p, c) in &cs {
            let own = c
                .pointer("/securityContext/runAsNonRoot")
                .and_then(Json::as_bool);
            if own == Some(false) || (own.is_none() && pod_nonroot != Some(true)) {
                push(
                    "Running as Non-root",
                    "runAsNonRoot != true".into(),
                    format!("{p}/securityContext"),
                    image_of(c),
                    vec![],
                );
            }
        }
        if psc.get("runAsUser").and_then(Json::as_i64) == Some(0) {
            push(
                "Running as Non-root user",
                "runAsUser is 0".into(),
                "/spec/securityContext/runAsUser".into(),
                None,
                vec!["0".into()],
            );
        }
    }
    v
}

fn selinux(
    opts: Option<&Json>,
    pointer: &str,
    image: Option<String>,
    push: &mut impl FnMut(&'static str, String, String, Option<String>, Vec<String>),
) {
    let Some(o) = opts else { return };
    if let Some(t) = o.get("type").and_then(Json::as_str)
        && !SELINUX_TYPES.contains(&t)
    {
        push(
            "SELinux",
            format!("seLinuxOptions.type {t}"),
            format!("{pointer}/type"),
            image.clone(),
            vec![t.to_string()],
        );
    }
    for f in ["user", "role"] {
        if o.get(f)
            .and_then(Json::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            push(
                "SELinux",
                format!("seLinuxOptions.{f} is set"),
                format!("{pointer}/{f}"),
                image.clone(),
                vec![],
            );
        }
    }
}

/// Whether a Kyverno `exclude` entry covers a violation.
pub fn excluded(v: &Violation, excludes: &[Json]) -> bool {
    excludes.iter().any(|e| {
        let control = e.get("controlName").and_then(Json::as_str).unwrap_or("");
        if !control.eq_ignore_ascii_case(v.control) {
            return false;
        }
        let images: Vec<&str> = e
            .get("images")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .collect();
        if !images.is_empty() {
            let Some(img) = &v.image else { return false };
            if !images.iter().any(|p| wildcard_match(p, img)) {
                return false;
            }
        }
        let values: Vec<&str> = e
            .get("values")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .collect();
        if !values.is_empty()
            && !v.values.is_empty()
            && !v
                .values
                .iter()
                .all(|x| values.iter().any(|p| wildcard_match(p, x)))
        {
            return false;
        }
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn baseline_and_restricted() {
        let ok = json!({"spec": {"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "a", "image": "x", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}});
        assert!(
            check(&ok, "restricted").is_empty(),
            "{:?}",
            check(&ok, "restricted")
        );
        let bad = json!({"spec": {"hostNetwork": true, "containers": [{"name": "a", "image": "nginx", "securityContext": {"privileged": true, "capabilities": {"add": ["NET_ADMIN"]}}, "ports": [{"containerPort": 80, "hostPort": 80}]}]}});
        let controls: Vec<&str> = check(&bad, "baseline").iter().map(|v| v.control).collect();
        assert_eq!(
            controls,
            vec![
                "Host Namespaces",
                "Privileged Containers",
                "Capabilities",
                "Host Ports"
            ]
        );
        let v = check(&bad, "baseline");
        assert!(excluded(
            &v[2],
            &[
                json!({"controlName": "Capabilities", "images": ["nginx*"], "values": ["NET_ADMIN"]})
            ]
        ));
        assert!(!excluded(
            &v[2],
            &[json!({"controlName": "Capabilities", "images": ["redis*"]})]
        ));
    }
}
