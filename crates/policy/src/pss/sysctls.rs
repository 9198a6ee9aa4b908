//! Baseline sysctls: only sysctls that are namespaced per pod and isolated from other pods on
//! the node. The allowed list grows as the kernel namespaces more of them, so the check is
//! versioned by the list.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Violation;

/// (first version, sysctls allowed from then on).
const ALLOWED: &[(u32, &[&str])] = &[
    (
        0,
        &[
            "kernel.shm_rmid_forced",
            "net.ipv4.ip_local_port_range",
            "net.ipv4.tcp_syncookies",
            "net.ipv4.ping_group_range",
            "net.ipv4.ip_unprivileged_port_start",
        ],
    ),
    (27, &["net.ipv4.ip_local_reserved_ports"]),
    (
        29,
        &[
            "net.ipv4.tcp_keepalive_time",
            "net.ipv4.tcp_fin_timeout",
            "net.ipv4.tcp_keepalive_intvl",
            "net.ipv4.tcp_keepalive_probes",
        ],
    ),
    (32, &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]),
    (
        37,
        &["net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"],
    ),
];

fn allowed_at(minor: u32, name: &str) -> bool {
    ALLOWED
        .iter()
        .take_while(|(since, _)| *since <= minor)
        .any(|(_, names)| names.contains(&name))
}

fn sysctls(spec: &PodSpec, minor: u32) -> Option<Violation> {
    // In the pod's order, duplicates kept: PSA lists them as written.
    let bad: Vec<&str> = spec
        .security_context
        .as_ref()
        .and_then(|s| s.sysctls.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| !allowed_at(minor, n))
        .collect();
    (!bad.is_empty()).then(|| Violation::new("forbidden sysctls", bad.join(", ")))
}

pub(crate) fn sysctls_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    sysctls(spec, 0)
}
pub(crate) fn sysctls_1_27(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    sysctls(spec, 27)
}
pub(crate) fn sysctls_1_29(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    sysctls(spec, 29)
}
pub(crate) fn sysctls_1_32(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    sysctls(spec, 32)
}
pub(crate) fn sysctls_1_37(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    sysctls(spec, 37)
}

/// The versions at which the allowed list grew: the registry needs one revision per step.
#[cfg(test)]
pub(crate) fn steps() -> impl Iterator<Item = u32> {
    ALLOWED.iter().map(|(since, _)| *since)
}
