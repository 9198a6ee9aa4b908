//! NetworkPolicies written by tenant users can never open a path to or from another tenant that the
//! Tenant specs did not grant.
//!
//! A `namespaceSelector` passes when what it can ever match is provably confined:
//! - it pins `palisade.dev/tenant` to the tenant itself or granted tenants, or
//! - it pins `kubernetes.io/metadata.name` to existing namespaces that are not other tenants', or
//! - it requires `palisade.dev/tenant` to be absent (non-tenant namespaces only).
//!
//! Anything else (`{}`, `team: x`) could match another tenant's namespace today or tomorrow, and
//! is refused with the fix spelled out. An `ipBlock` overlapping the cluster's pod CIDRs must
//! except them, since CNIs differ on whether ipBlocks match pod addresses.

use std::collections::BTreeSet;

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use palisade_api::labels;

use super::{InTenant, typed};
use crate::Verdict;

pub fn review(context: &InTenant<'_>) -> Verdict {
    let policy: NetworkPolicy = match typed(context.request.object.as_ref(), "NetworkPolicy") {
        Ok(policy) => policy,
        Err(denial) => return denial,
    };
    let Some(spec) = policy.spec else {
        return Verdict::Allow;
    };
    let tenant = context.tenant_name;
    let mut ingress_allowed: BTreeSet<String> =
        context.tenant.spec.network.allow_from.tenants.iter().cloned().collect();
    ingress_allowed.insert(tenant.to_string());
    let mut egress_allowed: BTreeSet<String> = context
        .view
        .tenants()
        .into_iter()
        .filter(|t| t.spec.network.allow_from.tenants.iter().any(|s| s == tenant))
        .filter_map(|t| t.metadata.name.clone())
        .collect();
    egress_allowed.insert(tenant.to_string());

    let ingress_peers = spec
        .ingress
        .iter()
        .flatten()
        .flat_map(|r| r.from.iter().flatten())
        .map(|p| ("ingress from", p, &ingress_allowed));
    let egress_peers = spec
        .egress
        .iter()
        .flatten()
        .flat_map(|r| r.to.iter().flatten())
        .map(|p| ("egress to", p, &egress_allowed));
    for (direction, peer, allowed) in ingress_peers.chain(egress_peers) {
        if let Err(problem) = check_peer(context, peer, allowed) {
            return Verdict::deny(format!(
                "tenant \"{tenant}\": NetworkPolicy \"{}\" {direction} {problem}",
                context.request.name
            ));
        }
    }
    Verdict::Allow
}

fn check_peer(context: &InTenant<'_>, peer: &NetworkPolicyPeer, allowed: &BTreeSet<String>) -> Result<(), String> {
    if let Some(selector) = &peer.namespace_selector {
        check_namespace_selector(context, selector, allowed)?;
    }
    if let Some(block) = &peer.ip_block {
        // Configured CIDRs win; otherwise what the nodes were given.
        let pod_cidrs = if context.config.pod_cidrs.is_empty() {
            context.view.node_pod_cidrs()
        } else {
            context.config.pod_cidrs.clone()
        };
        if pod_cidrs.is_empty() {
            // Unknown pod ranges would make every ipBlock pass unchecked.
            return Err(format!(
                "has ipBlock \"{}\", and Palisade does not know the cluster's pod CIDRs (no node reports spec.podCIDRs and the webhook has no --pod-cidr), so it cannot tell whether the block reaches other tenants' pods; ask your platform team to set --pod-cidr",
                block.cidr
            ));
        }
        check_ip_block(&pod_cidrs, &block.cidr, block.except.as_deref().unwrap_or_default())?;
    }
    Ok(())
}

/// Values a selector pins `key` to (`matchLabels`, or an `In` expression), if it pins it.
fn pinned_values(selector: &LabelSelector, key: &str) -> Option<BTreeSet<String>> {
    let mut pinned: Option<BTreeSet<String>> = None;
    let mut narrow = |values: BTreeSet<String>| {
        pinned = Some(match pinned.take() {
            Some(existing) => existing.intersection(&values).cloned().collect(),
            None => values,
        });
    };
    if let Some(value) = selector.match_labels.as_ref().and_then(|m| m.get(key)) {
        narrow(BTreeSet::from([value.clone()]));
    }
    for expression in selector.match_expressions.iter().flatten() {
        if expression.key == key && expression.operator == "In" {
            narrow(expression.values.iter().flatten().cloned().collect());
        }
    }
    pinned
}

fn check_namespace_selector(
    context: &InTenant<'_>,
    selector: &LabelSelector,
    allowed: &BTreeSet<String>,
) -> Result<(), String> {
    let granted = allowed
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(tenants) = pinned_values(selector, labels::TENANT) {
        let foreign: Vec<&String> = tenants.iter().filter(|t| !allowed.contains(*t)).collect();
        if let Some(first) = foreign.first() {
            return Err(format!(
                "selects namespaces of tenant \"{first}\", which this tenant was not granted (allowed: {granted})"
            ));
        }
        return Ok(());
    }
    if let Some(names) = pinned_values(selector, labels::NAMESPACE_NAME) {
        for name in &names {
            match context.view.namespace_labels(name) {
                None => {
                    return Err(format!(
                        "selects namespace \"{name}\", which does not exist; another tenant could create it later, so only existing namespaces may be named"
                    ));
                }
                Some(_) => match context.view.tenant_of_namespace(name) {
                    Some(owner) if !allowed.contains(owner) => {
                        return Err(format!(
                            "selects namespace \"{name}\" of tenant \"{owner}\", which this tenant was not granted (allowed: {granted})"
                        ));
                    }
                    _ => {}
                },
            }
        }
        return Ok(());
    }
    let excludes_tenants = selector
        .match_expressions
        .iter()
        .flatten()
        .any(|e| e.key == labels::TENANT && e.operator == "DoesNotExist");
    if excludes_tenants {
        return Ok(());
    }
    Err(format!(
        "has a namespaceSelector that could match other tenants' namespaces; add {}: {} to it (or name namespaces with {}), or use `{} DoesNotExist` for non-tenant namespaces",
        labels::TENANT,
        context.tenant_name,
        labels::NAMESPACE_NAME,
        labels::TENANT
    ))
}

fn check_ip_block(pod_cidrs: &[IpNet], cidr: &str, except: &[String]) -> Result<(), String> {
    let Ok(block) = cidr.parse::<IpNet>() else {
        return Err(format!("has ipBlock \"{cidr}\", which is not a CIDR"));
    };
    let excepted: Vec<IpNet> = except.iter().filter_map(|e| e.parse().ok()).collect();
    for pods in pod_cidrs {
        let overlaps = block.contains(pods) || pods.contains(&block);
        let carved_out = excepted.iter().any(|e| e.contains(pods));
        if overlaps && !carved_out {
            return Err(format!(
                "has ipBlock {cidr}, which covers pod addresses ({pods}) and so other tenants' pods; select pods with podSelector/namespaceSelector instead, or add except: [{pods}]"
            ));
        }
    }
    Ok(())
}
