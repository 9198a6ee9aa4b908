//! A Calico `projectcalico.org/v3` NetworkPolicy in each tenant namespace. Calico evaluates rules
//! in order and stops at the first Allow or Deny, and this policy runs before Kubernetes
//! NetworkPolicies (lower `order`): its final Deny of every other tenant's namespaces therefore
//! holds whatever tenants write, while traffic it does not decide falls through to their policies
//! and, unmatched, is dropped at the end of the tier.

use palisade_api::labels;
use serde_json::{Value, json};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use palisade_api::PortRule;

use super::{Grants, port_triples, rule_triples};
use crate::render::{ClusterFacts, ManagedObject};

const ORDER: f64 = 100.0;
const NAMESPACE_NAME: &str = "projectcalico.org/name";

pub fn render(grants: &Grants<'_>, namespace: &str, facts: &ClusterFacts) -> ManagedObject {
    let same_tenant = format!("{} == '{}'", labels::TENANT, grants.tenant);
    let any_tenant = format!("has({})", labels::TENANT);

    let mut ingress = vec![allow_ns("source", &same_tenant)];
    if !grants.from_tenants.is_empty() {
        ingress.push(allow_ns("source", &in_set(labels::TENANT, grants.from_tenants)));
    }
    for grant in grants.from_narrowed {
        let source = json!({ "namespaceSelector": format!("{} == '{}'", labels::TENANT, grant.tenant) });
        let pods = grant.pod_selector.as_ref().map(calico_selector);
        ingress.extend(narrowed_rules("source", source, pods, &grant.ports));
    }
    if !grants.from_namespaces.is_empty() {
        // Only while they are not tenant namespaces: a tenant's namespace of the same name
        // does not get the grant.
        let platform = format!("{} && !{any_tenant}", in_set(NAMESPACE_NAME, grants.from_namespaces));
        ingress.push(allow_ns("source", &platform));
    }
    ingress.push(json!({ "action": "Deny", "source": { "namespaceSelector": any_tenant } }));

    let mut egress = vec![allow_ns("destination", &same_tenant)];
    if grants.dns {
        let selector = facts
            .dns
            .pod_labels
            .iter()
            .map(|(k, v)| format!("{k} == '{v}'"))
            .collect::<Vec<_>>()
            .join(" && ");
        for protocol in ["UDP", "TCP"] {
            egress.push(json!({
                "action": "Allow",
                "protocol": protocol,
                "destination": {
                    "namespaceSelector": format!("{NAMESPACE_NAME} == '{}'", facts.dns.namespace),
                    "selector": selector,
                    "ports": [53],
                },
            }));
        }
    }
    if !grants.to_tenants.is_empty() {
        egress.push(allow_ns("destination", &in_set(labels::TENANT, &grants.to_tenants)));
    }
    for (tenant, grant) in &grants.to_narrowed {
        let destination = json!({ "namespaceSelector": format!("{} == '{}'", labels::TENANT, tenant) });
        let pods = grant.pod_selector.as_ref().map(calico_selector);
        egress.extend(narrowed_rules("destination", destination, pods, &grant.ports));
    }
    if grants.api_server {
        for endpoint in &facts.api_server {
            let prefix = if endpoint.ip.is_ipv4() { 32 } else { 128 };
            egress.push(json!({
                "action": "Allow",
                "protocol": "TCP",
                "destination": { "nets": [format!("{}/{prefix}", endpoint.ip)], "ports": [endpoint.port] },
            }));
        }
    }
    for cidr in grants.cidrs {
        let mut destination = json!({ "nets": [cidr.cidr] });
        if !cidr.except.is_empty() {
            destination["notNets"] = json!(cidr.except);
        }
        let ports = port_triples(cidr);
        if ports.is_empty() {
            egress.push(json!({ "action": "Allow", "destination": destination }));
        }
        for (protocol, port, end) in ports {
            let mut destination = destination.clone();
            destination["ports"] = json!([match end {
                Some(end) => Value::String(format!("{port}:{end}")),
                None => json!(port),
            }]);
            egress.push(json!({ "action": "Allow", "protocol": protocol, "destination": destination }));
        }
    }
    egress.push(json!({ "action": "Deny", "destination": { "namespaceSelector": any_tenant } }));

    let spec = json!({
        "order": ORDER,
        "selector": "all()",
        "types": ["Ingress", "Egress"],
        "ingress": ingress,
        "egress": egress,
    });
    ManagedObject::custom(
        "projectcalico.org/v3",
        "NetworkPolicy",
        Some(namespace),
        "palisade-tenant-isolation",
        grants.tenant,
        spec,
    )
}

/// Allow rules for a narrowed grant: the other tenant's namespaces on `side` (`source` for
/// ingress, `destination` for egress), this tenant's (or the other's) pods matching `pods` and
/// the `ports` on the destination, one rule per protocol (Calico rules name one protocol).
fn narrowed_rules(side: &str, peer: Value, pods: Option<String>, ports: &[PortRule]) -> Vec<Value> {
    let mut destination = if side == "destination" { peer.clone() } else { json!({}) };
    if let Some(pods) = pods {
        destination["selector"] = Value::String(pods);
    }
    let rule = |protocol: Option<&str>, ports: Option<Vec<Value>>| {
        let mut rule = json!({ "action": "Allow" });
        if let Some(protocol) = protocol {
            rule["protocol"] = json!(protocol);
        }
        if side == "source" {
            rule["source"] = peer.clone();
        }
        let mut destination = destination.clone();
        if let Some(ports) = ports {
            destination["ports"] = Value::Array(ports);
        }
        if destination.as_object().is_some_and(|d| !d.is_empty()) {
            rule["destination"] = destination;
        }
        rule
    };
    if ports.is_empty() {
        return vec![rule(None, None)];
    }
    let mut by_protocol: Vec<(String, Vec<Value>)> = Vec::new();
    for (protocol, port, end) in rule_triples(ports) {
        let value = match end {
            Some(end) => Value::String(format!("{port}:{end}")),
            None => json!(port),
        };
        match by_protocol.iter_mut().find(|(p, _)| *p == protocol) {
            Some((_, list)) => list.push(value),
            None => by_protocol.push((protocol, vec![value])),
        }
    }
    by_protocol
        .into_iter()
        .map(|(protocol, ports)| rule(Some(&protocol), Some(ports)))
        .collect()
}

/// A Kubernetes label selector as a Calico selector expression (`all()` when it selects all).
fn calico_selector(selector: &LabelSelector) -> String {
    let mut terms: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k} == '{v}'"))
        .collect();
    for expression in selector.match_expressions.iter().flatten() {
        let values = expression.values.clone().unwrap_or_default();
        let key = &expression.key;
        terms.push(match expression.operator.as_str() {
            "In" => in_set(key, &values),
            "NotIn" => format!("{key} not in {{{}}}", quoted(&values)),
            "Exists" => format!("has({key})"),
            // Validation admits only the four operators a LabelSelector has.
            _ => format!("!has({key})"),
        });
    }
    if terms.is_empty() {
        "all()".to_string()
    } else {
        terms.join(" && ")
    }
}

fn quoted(values: &[String]) -> String {
    values.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ")
}

fn allow_ns(side: &str, selector: &str) -> Value {
    json!({ "action": "Allow", side: { "namespaceSelector": selector } })
}

fn in_set(key: &str, values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    format!("{key} in {{{}}}", quoted.join(", "))
}
