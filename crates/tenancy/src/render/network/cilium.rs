//! One CiliumClusterwideNetworkPolicy per tenant (`cilium.io/v2`). A clusterwide policy is used
//! because namespace labels (`io.cilium.k8s.namespace.labels.*`) are honoured there, so one object
//! covers every namespace of the tenant and needs no update when a namespace is added.
//! `ingressDeny`/`egressDeny` win over every allow, so no tenant-written policy can open a path to
//! another tenant that the Tenant did not grant.

use palisade_api::labels;
use serde_json::{Value, json};

use super::{Grants, port_triples};
use crate::render::{ClusterFacts, ManagedObject};

const NAMESPACE_LABEL_PREFIX: &str = "k8s:io.cilium.k8s.namespace.labels.";
const POD_NAMESPACE: &str = "k8s:io.kubernetes.pod.namespace";

pub fn render(grants: &Grants<'_>, facts: &ClusterFacts) -> ManagedObject {
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

    let mut ingress_allowed = vec![grants.tenant.to_string()];
    ingress_allowed.extend(grants.from_tenants.iter().cloned());
    let mut egress_allowed = vec![grants.tenant.to_string()];
    egress_allowed.extend(grants.to_tenants.iter().cloned());
    let spec = json!({
        "endpointSelector": { "matchLabels": { &tenant_key: grants.tenant } },
        "ingress": ingress,
        "ingressDeny": [{ "fromEndpoints": [other_tenants(ingress_allowed)] }],
        "egress": egress,
        "egressDeny": [{ "toEndpoints": [other_tenants(egress_allowed)] }],
    });
    let name = format!("palisade-tenant-{}", grants.tenant);
    ManagedObject::custom(
        "cilium.io/v2",
        "CiliumClusterwideNetworkPolicy",
        None,
        &name,
        grants.tenant,
        spec,
    )
}
