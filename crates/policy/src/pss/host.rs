//! Baseline checks that keep a pod off the node's own resources: host namespaces, hostPath
//! volumes, host ports, probe/lifecycle hosts, Windows host processes.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{LifecycleHandler, PodSpec, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Violation;
use super::util::{containers, containers_phrase, join_quote, pluralize};

pub(crate) fn host_namespaces(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let set: Vec<&str> = [
        (spec.host_network, "hostNetwork=true"),
        (spec.host_pid, "hostPID=true"),
        (spec.host_ipc, "hostIPC=true"),
    ]
    .into_iter()
    .filter(|(on, _)| *on == Some(true))
    .map(|(_, what)| what)
    .collect();
    (!set.is_empty()).then(|| Violation::new("host namespaces", set.join(", ")))
}

pub(crate) fn host_path_volumes(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let names: Vec<&str> = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| v.host_path.is_some())
        .map(|v| v.name.as_str())
        .collect();
    (!names.is_empty()).then(|| {
        Violation::new(
            "hostPath volumes",
            format!("{} {}", pluralize("volume", "volumes", names.len()), join_quote(&names)),
        )
    })
}

pub(crate) fn host_ports(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut bad = Vec::new();
    // A set of decimal strings: PSA sorts the ports as text, so "10" comes before "9".
    let mut ports = BTreeSet::new();
    for c in containers(spec) {
        let used: Vec<i32> = c.ports.iter().filter_map(|p| p.host_port).filter(|p| *p != 0).collect();
        if !used.is_empty() {
            bad.push(c.name);
            ports.extend(used.iter().map(i32::to_string));
        }
    }
    (!bad.is_empty()).then(|| {
        let ports: Vec<String> = ports.into_iter().collect();
        Violation::new(
            "hostPort",
            format!(
                "{} {} {} {}",
                containers_phrase(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize("hostPort", "hostPorts", ports.len()),
                ports.join(", ")
            ),
        )
    })
}

fn probe_hosts(probe: Option<&Probe>) -> impl Iterator<Item = &str> {
    let http = probe.and_then(|p| p.http_get.as_ref()).and_then(|h| h.host.as_deref());
    let tcp = probe
        .and_then(|p| p.tcp_socket.as_ref())
        .and_then(|t| t.host.as_deref());
    http.into_iter().chain(tcp).filter(|h| !h.is_empty())
}

fn handler_hosts(handler: Option<&LifecycleHandler>) -> impl Iterator<Item = &str> {
    let http = handler
        .and_then(|p| p.http_get.as_ref())
        .and_then(|h| h.host.as_deref());
    let tcp = handler
        .and_then(|p| p.tcp_socket.as_ref())
        .and_then(|t| t.host.as_deref());
    http.into_iter().chain(tcp).filter(|h| !h.is_empty())
}

/// From v1.34: a probe or lifecycle hook aimed at another host lets the kubelet reach
/// addresses the pod itself could not.
pub(crate) fn host_probes_and_host_lifecycle(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    // Unlike most checks, PSA reports both the containers and the hosts as sorted sets here.
    let mut bad = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    for c in containers(spec) {
        let lifecycle = c.lifecycle;
        let found: Vec<&str> = c
            .probes
            .iter()
            .flat_map(|p| probe_hosts(*p))
            .chain(handler_hosts(lifecycle.and_then(|l| l.post_start.as_ref())))
            .chain(handler_hosts(lifecycle.and_then(|l| l.pre_stop.as_ref())))
            .collect();
        if !found.is_empty() {
            bad.insert(c.name);
            hosts.extend(found);
        }
    }
    (!bad.is_empty()).then(|| {
        let bad: Vec<&str> = bad.into_iter().collect();
        let hosts: Vec<&str> = hosts.into_iter().collect();
        Violation::new(
            "probe or lifecycle host",
            format!(
                "{} {} {} {}",
                containers_phrase(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize("probe or lifecycle host", "probe or lifecycle hosts", hosts.len()),
                join_quote(&hosts)
            ),
        )
    })
}

pub(crate) fn windows_host_process(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut setters = Vec::new();
    let pod = spec
        .security_context
        .as_ref()
        .and_then(|s| s.windows_options.as_ref())
        .and_then(|w| w.host_process);
    if pod == Some(true) {
        setters.push("pod".to_owned());
    }
    let bad: Vec<&str> = containers(spec)
        .filter(|c| {
            c.security_context
                .and_then(|s| s.windows_options.as_ref())
                .and_then(|w| w.host_process)
                == Some(true)
        })
        .map(|c| c.name)
        .collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    (!setters.is_empty()).then(|| {
        Violation::new(
            "hostProcess",
            format!(
                "{} must not set securityContext.windowsOptions.hostProcess=true",
                setters.join(" and ")
            ),
        )
    })
}
