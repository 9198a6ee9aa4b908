//! One CiliumClusterwideNetworkPolicy per tenant (`cilium.io/v2`). A clusterwide policy is used
//! because namespace labels (`io.cilium.k8s.namespace.labels.*`) are honoured there, so one object
//! covers every namespace of the tenant and needs no update when a namespace is added.
//! `ingressDeny`/`egressDeny` win over every allow, so no tenant-written policy can open a path to
//! another tenant that the Tenant did not grant.

use palisade_api::labels;
use serde_json::{Value, json};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{Grants, narrowed_names, port_triples, rule_triples};
use crate::render::{ClusterFacts, ManagedObject};

const NAMESPACE_LABEL_PREFIX: &str = "k8s:io.cilium.k8s.namespace.labels.";
const POD_NAMESPACE: &str = "k8s:io.kubernetes.pod.namespace";

/// The tenant's policy, then one per narrowed grant that selects pods (a policy selects its
/// endpoints once, so those grants need their own).
pub fn render(grants: &Grants<'_>, facts: &ClusterFacts) -> Vec<ManagedObject> {
    let tenant_key = format!("{NAMESPACE_LABEL_PREFIX}{}", labels::TENANT);
    let same_tenant = json!({ "matchLabels": { &tenant_key: grants.tenant } });
    let tenants_in = |tenants: &[String]| json!({ "matchExpressions": [{ "key": &tenant_key, "operator": "In", "values": tenants }] });
    let other_tenants = |allowed: Vec<String>| {
        json!({ "matchExpressions": [
            { "key": &tenant_key, "operator": "Exists" },
            { "key": &tenant_key, "operator": "NotIn", "values": allowed },
        ] })
    };

    let mut ingress = vec![json!({ "fromEndpoints": [same_tenant.clone()] })];
    if !grants.from_tenants.is_empty() {
        ingress.push(json!({ "fromEndpoints": [tenants_in(grants.from_tenants)] }));
    }
    let mut selected = Vec::new();
    let names = narrowed_names(grants.from_narrowed.iter().map(|g| g.tenant.as_str()));
    for (grant, suffix) in grants.from_narrowed.iter().zip(names) {
        let mut rule = json!({ "fromEndpoints": [{ "matchLabels": { &tenant_key: grant.tenant } }] });
        if let Some(ports) = cilium_ports(&grant.ports) {
            rule["toPorts"] = ports;
        }
        match &grant.pod_selector {
            None => ingress.push(rule),
            Some(pods) => {
                let mut endpoints = k8s_selector(pods);
                endpoints["matchLabels"][&tenant_key] = json!(grants.tenant);
                selected.push(ManagedObject::custom(
                    "cilium.io/v2",
                    "CiliumClusterwideNetworkPolicy",
                    None,
                    // Tenant names have no dots, so this cannot be another tenant's `palisade-tenant-<name>`.
                    &format!("palisade-tenant-{}.from-{suffix}", grants.tenant),
                    grants.tenant,
                    json!({ "endpointSelector": endpoints, "ingress": [rule] }),
                ));
            }
        }
    }
    if !grants.from_namespaces.is_empty() {
        // Only while they are not tenant namespaces: a tenant's namespace of the same name
        // does not get the grant.
        ingress.push(json!({ "fromEndpoints": [{ "matchExpressions": [
            { "key": POD_NAMESPACE, "operator": "In", "values": grants.from_namespaces },
            { "key": &tenant_key, "operator": "DoesNotExist" },
        ] }] }));
    }

    let mut egress = vec![json!({ "toEndpoints": [same_tenant] })];
    if grants.dns {
        let mut dns_selector = serde_json::Map::new();
        dns_selector.insert(POD_NAMESPACE.to_string(), Value::String(facts.dns.namespace.clone()));
        for (key, value) in &facts.dns.pod_labels {
            dns_selector.insert(format!("k8s:{key}"), Value::String(value.clone()));
        }
        egress.push(json!({
            "toEndpoints": [{ "matchLabels": dns_selector }],
            "toPorts": [{ "ports": [{ "port": "53", "protocol": "ANY" }] }],
        }));
    }
    if !grants.to_tenants.is_empty() {
        egress.push(json!({ "toEndpoints": [tenants_in(&grants.to_tenants)] }));
    }
    for (tenant, grant) in &grants.to_narrowed {
        let mut endpoints = grant
            .pod_selector
            .as_ref()
            .map_or_else(|| json!({ "matchLabels": {} }), k8s_selector);
        endpoints["matchLabels"][&tenant_key] = json!(tenant);
        let mut rule = json!({ "toEndpoints": [endpoints] });
        if let Some(ports) = cilium_ports(&grant.ports) {
            rule["toPorts"] = ports;
        }
        egress.push(rule);
    }
    if grants.api_server {
        egress.push(json!({ "toEntities": ["kube-apiserver"] }));
    }
    for cidr in grants.cidrs {
        let mut rule = json!({ "toCIDRSet": [{ "cidr": cidr.cidr }] });
        if !cidr.except.is_empty() {
            rule["toCIDRSet"][0]["except"] = json!(cidr.except);
        }
        let ports: Vec<Value> = port_triples(cidr)
            .into_iter()
            .map(|(protocol, port, end)| {
                let mut p = json!({ "port": port.to_string(), "protocol": protocol });
                if let Some(end) = end {
                    p["endPort"] = json!(end);
                }
                p
            })
            .collect();
        if !ports.is_empty() {
            rule["toPorts"] = json!([{ "ports": ports }]);
        }
        egress.push(rule);
    }

    // Deny rules win over every allow, so a narrowed grant's tenant is left out of them; what
    // it opens is only what the allows above (and in the pod-selecting policies) say, and the
    // default deny of selected endpoints drops the rest.
    let mut ingress_allowed = vec![grants.tenant.to_string()];
    ingress_allowed.extend(grants.from_tenants.iter().cloned());
    ingress_allowed.extend(grants.from_narrowed.iter().map(|g| g.tenant.clone()));
    ingress_allowed.sort();
    ingress_allowed.dedup();
    let mut egress_allowed = vec![grants.tenant.to_string()];
    egress_allowed.extend(grants.to_tenants.iter().cloned());
    egress_allowed.extend(grants.to_narrowed.iter().map(|(t, _)| t.clone()));
    egress_allowed.sort();
    egress_allowed.dedup();
    let spec = json!({
        "endpointSelector": { "matchLabels": { &tenant_key: grants.tenant } },
        "ingress": ingress,
        "ingressDeny": [{ "fromEndpoints": [other_tenants(ingress_allowed)] }],
        "egress": egress,
        "egressDeny": [{ "toEndpoints": [other_tenants(egress_allowed)] }],
    });
    let name = format!("palisade-tenant-{}", grants.tenant);
    let mut objects = vec![ManagedObject::custom(
        "cilium.io/v2",
        "CiliumClusterwideNetworkPolicy",
        None,
        &name,
        grants.tenant,
        spec,
    )];
    objects.extend(selected);
    objects
}

/// A pod label selector as a Cilium endpoint selector (keys from the `k8s:` source).
fn k8s_selector(pods: &LabelSelector) -> Value {
    let labels: serde_json::Map<String, Value> = pods
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| (format!("k8s:{k}"), Value::String(v.clone())))
        .collect();
    let mut selector = json!({ "matchLabels": labels });
    let expressions: Vec<Value> = pods
        .match_expressions
        .iter()
        .flatten()
        .map(|e| {
            let mut expression = json!({ "key": format!("k8s:{}", e.key), "operator": e.operator });
            if let Some(values) = &e.values {
                expression["values"] = json!(values);
            }
            expression
        })
        .collect();
    if !expressions.is_empty() {
        selector["matchExpressions"] = Value::Array(expressions);
    }
    selector
}

/// Cilium `toPorts` for a grant's ports; `None` (every port) when none are listed.
fn cilium_ports(ports: &[palisade_api::PortRule]) -> Option<Value> {
    if ports.is_empty() {
        return None;
    }
    let ports: Vec<Value> = rule_triples(ports)
        .into_iter()
        .map(|(protocol, port, end)| {
            let mut p = json!({ "port": port.to_string(), "protocol": protocol });
            if let Some(end) = end {
                p["endPort"] = json!(end);
            }
            p
        })
        .collect();
    Some(json!([{ "ports": ports }]))
}
