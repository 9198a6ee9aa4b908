//! NetworkPolicies: which grants carry over into Palisade's own isolation.

use palisade_api::{EgressCidr, IsolationMode, PortRule, TenantSpec, labels};
use serde_json::{Map, Value};

use crate::conversion::GapKind;
use crate::cx::{Cx, compact};

pub(crate) fn convert_network(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec, tenant: &str) {
    let path = "spec.networkPolicies";
    let items = match spec.get("networkPolicies") {
        Some(policies) => match cx.object(policies, path, &["items"]) {
            Some(map) => cx.array(map, "items", path),
            None => &[],
        },
        None => &[],
    };
    if items.is_empty() {
        out.network.isolation = IsolationMode::None;
        cx.gap(
            path,
            GapKind::Note,
            "Capsule had no NetworkPolicies for this tenant, so its pods could reach and be reached by any pod. \
             Kept that: spec.network.isolation is None. To isolate the tenant, set spec.network.isolation: Strict \
             (deny in and out except within the tenant and DNS), then grant what it needs in \
             spec.network.allowFrom and spec.network.egress",
        );
        return;
    }
    out.network.isolation = IsolationMode::Strict;
    for (i, item) in items.iter().enumerate() {
        let field = format!("{path}.items[{i}]");
        let mut carried = Vec::new();
        let mut lost = Vec::new();
        network_item(item, tenant, out, &mut carried, &mut lost);
        let mut message = String::from(
            "not copied: Palisade generates the tenant's isolation itself (isolation Strict: default deny in and \
             out, allow within the tenant, allow DNS)",
        );
        if !carried.is_empty() {
            message.push_str(&format!("; carried over: {}", carried.join(", ")));
        }
        if !lost.is_empty() {
            message.push_str(&format!(
                "; NOT carried over (grant in spec.network or keep as a NetworkPolicy in each namespace): {}",
                lost.join(", ")
            ));
        }
        cx.gap(
            field,
            if lost.is_empty() {
                GapKind::Note
            } else {
                GapKind::Partial
            },
            message,
        );
    }
    out.network.allow_from.tenants.retain(|t| t != tenant);
    let restricts = |direction: &str| {
        items
            .iter()
            .any(|item| match item.get("policyTypes").and_then(Value::as_array) {
                Some(types) => types.iter().any(|t| t.as_str() == Some(direction)),
                // Without policyTypes, a policy always covers ingress, and egress when it has egress rules.
                None => direction == "Ingress" || item.get("egress").is_some(),
            })
    };
    if !restricts("Egress") {
        for cidr in ["0.0.0.0/0", "::/0"] {
            out.network.egress.cidrs.push(EgressCidr {
                cidr: cidr.to_string(),
                except: Vec::new(),
                ports: Vec::new(),
            });
        }
        cx.gap(
            path,
            GapKind::Note,
            "Capsule's policies restricted only ingress, so the tenant's pods could connect anywhere. Palisade's \
             Strict isolation covers both directions: egress to 0.0.0.0/0 and ::/0 was added to \
             spec.network.egress.cidrs to keep outgoing traffic open; narrow or remove it to restrict egress",
        );
    }
    if !restricts("Ingress") {
        cx.gap(
            path,
            GapKind::Partial,
            "Capsule's policies restricted only egress, so any pod could connect to the tenant's pods. Palisade's \
             Strict isolation admits only the tenant itself and what spec.network.allowFrom grants; list the \
             namespaces and tenants that must reach this tenant there",
        );
    }
}

/// Reads one replicated NetworkPolicy and carries over the grants that map onto Palisade's
/// tenant-level ones; describes the rest.
fn network_item(item: &Value, tenant: &str, out: &mut TenantSpec, carried: &mut Vec<String>, lost: &mut Vec<String>) {
    let peers = |rule: &Value, key: &str| rule.get(key).and_then(Value::as_array).cloned();
    for (r, rule) in item
        .get("ingress")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Some(from) = peers(rule, "from").filter(|f| !f.is_empty()) else {
            lost.push(format!("ingress[{r}] allows every source"));
            continue;
        };
        for (p, peer) in from.iter().enumerate() {
            let at = format!("ingress[{r}].from[{p}]");
            match namespace_peer(peer) {
                Some(NamespacePeer::SameNamespace) => {}
                Some(NamespacePeer::Tenant(other)) if other == tenant => {}
                Some(NamespacePeer::Tenant(other)) => {
                    if !out.network.allow_from.tenants.contains(&other) {
                        out.network.allow_from.tenants.push(other.clone());
                    }
                    carried.push(format!("{at} → allowFrom.tenants {other}"));
                }
                Some(NamespacePeer::Namespace(name)) => {
                    if !out.network.allow_from.namespaces.contains(&name) {
                        out.network.allow_from.namespaces.push(name.clone());
                    }
                    carried.push(format!("{at} → allowFrom.namespaces {name}"));
                }
                None => lost.push(format!("{at} ({})", compact(peer))),
            }
        }
    }
    for (r, rule) in item
        .get("egress")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Some(to) = peers(rule, "to").filter(|t| !t.is_empty()) else {
            lost.push(format!("egress[{r}] allows every destination"));
            continue;
        };
        let (ports, named_ports) = port_rules(rule.get("ports"));
        for (p, peer) in to.iter().enumerate() {
            let at = format!("egress[{r}].to[{p}]");
            if let Some(block) = peer.get("ipBlock") {
                let cidr = block
                    .get("cidr")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let except = block
                    .get("except")
                    .and_then(Value::as_array)
                    .map(|e| e.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default();
                if named_ports {
                    lost.push(format!("{at} (named ports)"));
                    continue;
                }
                carried.push(format!("{at} → egress.cidrs {cidr}"));
                out.network.egress.cidrs.push(EgressCidr {
                    cidr,
                    except,
                    ports: ports.clone(),
                });
                continue;
            }
            match namespace_peer(peer) {
                Some(NamespacePeer::SameNamespace) => {}
                Some(NamespacePeer::Tenant(other)) if other == tenant => {}
                Some(NamespacePeer::Namespace(name)) if name == "kube-system" && is_dns_only(&ports) => {
                    carried.push(format!("{at} → egress.dns"));
                }
                _ => lost.push(format!("{at} ({})", compact(peer))),
            }
        }
    }
}

enum NamespacePeer {
    /// Pods of the policy's own namespace: inside the tenant.
    SameNamespace,
    Tenant(String),
    Namespace(String),
}

/// A peer that selects all pods of a namespace (by name) or of a tenant (by Capsule's label).
fn namespace_peer(peer: &Value) -> Option<NamespacePeer> {
    let Some(namespaces) = peer.get("namespaceSelector") else {
        return peer.get("podSelector").map(|_| NamespacePeer::SameNamespace);
    };
    if peer
        .get("podSelector")
        .is_some_and(|p| p.as_object().is_some_and(|m| !m.is_empty()))
    {
        return None;
    }
    let map = namespaces.as_object()?;
    if map
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_some_and(|e| !e.is_empty())
    {
        return None;
    }
    let match_labels = map.get("matchLabels")?.as_object()?;
    if match_labels.len() != 1 {
        return None;
    }
    let (key, value) = match_labels.iter().next()?;
    let value = value.as_str()?.to_string();
    match key.as_str() {
        "capsule.clastix.io/tenant" | "projectcapsule.dev/tenant" => Some(NamespacePeer::Tenant(value)),
        labels::NAMESPACE_NAME => Some(NamespacePeer::Namespace(value)),
        _ => None,
    }
}

/// Numeric ports of a NetworkPolicy rule, and whether it also had named ports.
fn port_rules(ports: Option<&Value>) -> (Vec<PortRule>, bool) {
    let mut rules = Vec::new();
    let mut named = false;
    for port in ports.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        let protocol = port
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP")
            .to_string();
        match port.get("port") {
            Some(Value::Number(n)) => {
                let Some(number) = n.as_u64().and_then(|n| u16::try_from(n).ok()) else {
                    named = true;
                    continue;
                };
                let end_port = port
                    .get("endPort")
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok());
                rules.push(PortRule {
                    protocol,
                    port: number,
                    end_port,
                });
            }
            _ => named = true,
        }
    }
    (rules, named)
}

fn is_dns_only(ports: &[PortRule]) -> bool {
    !ports.is_empty() && ports.iter().all(|p| p.port == 53 && p.end_port.is_none())
}
