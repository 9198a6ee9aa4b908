//! Checks on what a container may do as root: privileged mode, privilege escalation, Linux
//! capabilities, and the /proc mask.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Violation;
use super::util::{containers, containers_phrase, in_user_namespace, is_windows, join_quote};

pub(crate) fn privileged(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let bad: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|s| s.privileged) == Some(true))
        .map(|c| c.name)
        .collect();
    (!bad.is_empty()).then(|| {
        Violation::new(
            "privileged",
            format!(
                "{} must not set securityContext.privileged=true",
                containers_phrase(&bad)
            ),
        )
    })
}

/// v1.8 to v1.24: every container must say `allowPrivilegeEscalation: false` explicitly.
pub(crate) fn allow_privilege_escalation_1_8(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let bad: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|s| s.allow_privilege_escalation) != Some(false))
        .map(|c| c.name)
        .collect();
    (!bad.is_empty()).then(|| {
        Violation::new(
            "allowPrivilegeEscalation != false",
            format!(
                "{} must set securityContext.allowPrivilegeEscalation=false",
                containers_phrase(&bad)
            ),
        )
    })
}

/// v1.25+: Windows pods cannot set the field at all, so they are exempt.
pub(crate) fn allow_privilege_escalation_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    allow_privilege_escalation_1_8(meta, spec)
}

/// The capabilities a container runtime grants by default: adding them back is harmless.
const DEFAULT_CAPABILITIES: &[&str] = &[
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

pub(crate) fn capabilities_baseline(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut added = BTreeSet::new();
    for c in containers(spec) {
        let adds = c
            .security_context
            .and_then(|s| s.capabilities.as_ref())
            .and_then(|caps| caps.add.as_deref())
            .unwrap_or_default();
        let forbidden: Vec<&str> = adds
            .iter()
            .map(String::as_str)
            .filter(|a| !DEFAULT_CAPABILITIES.contains(a))
            .collect();
        if !forbidden.is_empty() {
            bad.push(c.name);
            added.extend(forbidden);
        }
    }
    (!bad.is_empty()).then(|| {
        let added: Vec<&str> = added.into_iter().collect();
        Violation::new(
            "non-default capabilities",
            format!(
                "{} must not include {} in securityContext.capabilities.add",
                containers_phrase(&bad),
                join_quote(&added)
            ),
        )
    })
}

/// v1.22 to v1.24: drop ALL, add nothing but NET_BIND_SERVICE.
pub(crate) fn capabilities_restricted_1_22(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut missing_drop_all = Vec::new();
    let mut adding = Vec::new();
    let mut added = BTreeSet::new();
    for c in containers(spec) {
        let Some(caps) = c.security_context.and_then(|s| s.capabilities.as_ref()) else {
            missing_drop_all.push(c.name);
            continue;
        };
        if !caps.drop.iter().flatten().any(|d| d == "ALL") {
            missing_drop_all.push(c.name);
        }
        let forbidden: Vec<&str> = caps
            .add
            .iter()
            .flatten()
            .map(String::as_str)
            .filter(|a| *a != "NET_BIND_SERVICE")
            .collect();
        if !forbidden.is_empty() {
            adding.push(c.name);
            added.extend(forbidden);
        }
    }
    let mut details = Vec::new();
    if !missing_drop_all.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&missing_drop_all)
        ));
    }
    if !adding.is_empty() {
        let added: Vec<&str> = added.into_iter().collect();
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&added)
        ));
    }
    (!details.is_empty()).then(|| Violation::new("unrestricted capabilities", details.join("; ")))
}

/// v1.25+: Windows pods cannot set capabilities, so they are exempt.
pub(crate) fn capabilities_restricted_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    capabilities_restricted_1_22(meta, spec)
}

/// Any procMount other than Default unmasks /proc. Restricted keeps this form at every version.
pub(crate) fn proc_mount_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for c in containers(spec) {
        if let Some(mount) = c.security_context.and_then(|s| s.proc_mount.as_deref())
            && mount != "Default"
        {
            bad.push(c.name);
            types.insert(mount);
        }
    }
    (!bad.is_empty()).then(|| {
        let types: Vec<&str> = types.into_iter().collect();
        Violation::new(
            "procMount",
            format!(
                "{} must not set securityContext.procMount to {}",
                containers_phrase(&bad),
                join_quote(&types)
            ),
        )
    })
}

/// Baseline from v1.35: an unmasked /proc inside a user namespace exposes nothing of the
/// node's, so pods with `hostUsers: false` may have it.
pub(crate) fn proc_mount_1_35_baseline(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if in_user_namespace(spec) {
        return None;
    }
    proc_mount_1_0(meta, spec)
}
