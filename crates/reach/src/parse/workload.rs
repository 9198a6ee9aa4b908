//! Pods and pod-owning workloads → endpoints.

use crate::error::Error;
use crate::model::{ContainerPort, Origin, Workload};
use crate::parse::fields::{self, Ctx};
use crate::parse::raw;
use std::net::Ipv4Addr;

/// Kinds whose pod template becomes one endpoint.
pub const WORKLOAD_KINDS: [&str; 8] = [
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "VirtualMachine",
];

fn container_ports(
    ctx: &Ctx<'_>,
    field: &str,
    spec: &raw::PodSpec,
    notes: &mut Vec<String>,
) -> Result<Vec<ContainerPort>, Error> {
    let mut out = Vec::new();
    for (i, c) in spec.containers.iter().enumerate() {
        for (j, p) in c.ports.iter().enumerate() {
            let f = format!("{field}.containers[{i}].ports[{j}]");
            let Some(v) = &p.container_port else {
                notes.push(format!(
                    "{}: {}: {f}: no containerPort; the port is ignored",
                    ctx.file, ctx.object
                ));
                continue;
            };
            out.push(ContainerPort {
                name: p.name.clone().filter(|n| !n.is_empty()),
                port: fields::port_number(ctx, &format!("{f}.containerPort"), v)?,
                protocol: fields::protocol(ctx, &format!("{f}.protocol"), p.protocol.as_deref())?,
            });
        }
    }
    Ok(out)
}

/// A Pod: named after its controlling owner when it has one (kind `Pod` when the owner has none).
pub fn pod(
    ctx: &Ctx<'_>,
    raw: &raw::Pod,
    namespace: &str,
    name: &str,
    notes: &mut Vec<String>,
) -> Result<Workload, Error> {
    let owner = raw
        .metadata
        .owner_references
        .iter()
        .find(|o| o.controller == Some(true))
        .or_else(|| raw.metadata.owner_references.first());
    let (name, kind) = match owner {
        // Static pods are "owned" by their Node: they are their own endpoint.
        Some(o) if !o.name.is_empty() && o.kind != "Node" => (
            o.name.clone(),
            match o.kind.as_str() {
                "" => "Pod".to_string(),
                // A virt-launcher pod runs the VirtualMachineInstance of the same-named VM.
                "VirtualMachineInstance" => "VirtualMachine".to_string(),
                k => k.to_string(),
            },
        ),
        _ => (name.to_string(), "Pod".to_string()),
    };
    let mut ips: Vec<Ipv4Addr> = Vec::new();
    let all_ips = raw.status.pod_ip.iter().chain(raw.status.pod_ips.iter().map(|p| &p.ip));
    for ip in all_ips {
        if let Ok(a) = ip.parse::<Ipv4Addr>()
            && !ips.contains(&a)
        {
            ips.push(a);
        }
    }
    Ok(Workload {
        namespace: namespace.to_string(),
        name,
        kind,
        labels: fields::labels(ctx, "metadata.labels", raw.metadata.labels.as_ref())?,
        ports: container_ports(ctx, "spec", &raw.spec, notes)?,
        ips,
        secondary_networks: secondary_networks(&raw.metadata, &raw.spec),
        secondary_ips: Vec::new(),
        origin: Origin {
            source: ctx.file.to_string(),
        },
    })
}

/// A KubeVirt VirtualMachineInstance: `None` when a VirtualMachine owns it (the VM stands for it).
pub fn vmi(
    ctx: &Ctx<'_>,
    raw: &raw::Pod,
    namespace: &str,
    name: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Workload>, Error> {
    if raw.metadata.owner_references.iter().any(|o| o.kind == "VirtualMachine") {
        return Ok(None);
    }
    let mut w = pod(ctx, raw, namespace, name, notes)?;
    w.kind = "VirtualMachineInstance".to_string();
    w.name = name.to_string();
    Ok(Some(w))
}

/// A workload with a pod template (CronJob: `spec.jobTemplate.spec.template`).
pub fn workload(
    ctx: &Ctx<'_>,
    raw: &raw::Workload,
    kind: &str,
    namespace: &str,
    name: &str,
    notes: &mut Vec<String>,
) -> Result<Workload, Error> {
    let (field, template) = match (&raw.spec.template, &raw.spec.job_template) {
        (Some(t), _) => ("spec.template", t),
        (None, Some(j)) => match &j.spec.template {
            Some(t) => ("spec.jobTemplate.spec.template", t),
            None => return Err(ctx.invalid("spec.jobTemplate.spec.template", "required: the pod template")),
        },
        (None, None) => return Err(ctx.invalid("spec.template", "required: the pod template")),
    };
    Ok(Workload {
        namespace: namespace.to_string(),
        name: name.to_string(),
        kind: kind.to_string(),
        labels: fields::labels(
            ctx,
            &format!("{field}.metadata.labels"),
            template.metadata.labels.as_ref(),
        )?,
        ports: container_ports(ctx, &format!("{field}.spec"), &template.spec, notes)?,
        ips: Vec::new(),
        secondary_networks: secondary_networks(&template.metadata, &template.spec),
        secondary_ips: cloud_init_addresses(&template.spec),
        origin: Origin {
            source: ctx.file.to_string(),
        },
    })
}

/// Multus attachments: the `k8s.v1.cni.cncf.io/networks` annotation (`a, ns/b@if` or a JSON list
/// of `{name, namespace}`) and KubeVirt `multus.networkName`. Networks are identified by name:
/// same-named attachment definitions in several namespaces join one network.
fn secondary_networks(meta: &raw::Meta, spec: &raw::PodSpec) -> Vec<String> {
    let name_of = |n: &str| -> String {
        let n = n.trim();
        let n = n.rsplit_once('/').map_or(n, |x| x.1);
        n.split('@').next().unwrap_or(n).to_string()
    };
    let mut out: Vec<String> = Vec::new();
    let annotation = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get("k8s.v1.cni.cncf.io/networks"))
        .and_then(|v| v.as_str());
    if let Some(a) = annotation {
        if a.trim_start().starts_with('[') {
            if let Ok(serde_json::Value::Array(items)) = serde_json::from_str(a) {
                for i in items {
                    if let Some(n) = i.get("name").and_then(|n| n.as_str()) {
                        out.push(name_of(n));
                    }
                }
            }
        } else {
            out.extend(a.split(',').filter(|n| !n.trim().is_empty()).map(name_of));
        }
    }
    for n in &spec.networks {
        if let Some(m) = &n.multus {
            out.push(name_of(&m.network_name));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// IPv4 addresses from KubeVirt cloud-init `networkData` (`addresses: [a.b.c.d/len]`).
fn cloud_init_addresses(spec: &raw::PodSpec) -> Vec<Ipv4Addr> {
    fn walk(v: &serde_json::Value, out: &mut Vec<Ipv4Addr>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    if k == "addresses"
                        && let Some(list) = v.as_array()
                    {
                        for a in list.iter().filter_map(|a| a.as_str()) {
                            let ip = a.split('/').next().unwrap_or(a);
                            if let Ok(ip) = ip.parse::<Ipv4Addr>() {
                                out.push(ip);
                            }
                        }
                    } else {
                        walk(v, out);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for vol in &spec.volumes {
        let data = vol.cloud_init_no_cloud.as_ref().and_then(|c| c.network_data.as_deref());
        if let Some(data) = data
            && let Ok(v) = serde_saphyr::from_str::<serde_json::Value>(data)
        {
            walk(&v, &mut out);
        }
    }
    out
}
