//! One AdminNetworkPolicy per tenant (`policy.networking.k8s.io/v1alpha1`): the guard tenant
//! NetworkPolicies cannot override. Traffic within the tenant and what the Tenant grants is passed
//! on to NetworkPolicies (which Palisade also writes, so default deny still holds); DNS is always
//! allowed; every other tenant's namespaces are denied outright.

use palisade_api::labels;
use serde_json::{Value, json};

use super::{Grants, narrowed_names, rule_triples};
use crate::render::{ClusterFacts, ManagedObject};

/// Tenants' subjects never overlap, so one priority serves all of them; it sits in the middle of
/// the range to leave room above (platform overrides) and below.
const PRIORITY: u32 = 500;

pub fn render(grants: &Grants<'_>, facts: &ClusterFacts) -> ManagedObject {
    let same_tenant = json!({ "namespaces": { "matchLabels": { labels::TENANT: grants.tenant } } });
    let other_tenants = json!({ "namespaces": { "matchExpressions": [
        { "key": labels::TENANT, "operator": "Exists" }
    ] } });

    let mut ingress = vec![rule(
        "pass-same-tenant",
        "Pass",
        "from",
        vec![same_tenant.clone()],
        None,
    )];
    if !grants.from_tenants.is_empty() {
        let peer = json!({ "namespaces": { "matchExpressions": [
            { "key": labels::TENANT, "operator": "In", "values": grants.from_tenants }
        ] } });
        ingress.push(rule("pass-granted-tenants", "Pass", "from", vec![peer], None));
    }
    // A narrowed grant passes only its ports here; which pods it opens is the NetworkPolicies'
    // part (an AdminNetworkPolicy's subject is the whole tenant). The rest of that tenant's
    // traffic falls to the deny below.
    let names = narrowed_names(grants.from_narrowed.iter().map(|g| g.tenant.as_str()));
    for (grant, suffix) in grants.from_narrowed.iter().zip(names) {
        let peer = json!({ "namespaces": { "matchLabels": { labels::TENANT: grant.tenant } } });
        ingress.push(rule(
            &format!("pass-tenant-{suffix}"),
            "Pass",
            "from",
            vec![peer],
            anp_ports(&grant.ports),
        ));
    }
    ingress.push(rule(
        "deny-other-tenants",
        "Deny",
        "from",
        vec![other_tenants.clone()],
        None,
    ));

    let mut egress = vec![rule("pass-same-tenant", "Pass", "to", vec![same_tenant], None)];
    if grants.dns {
        let dns = json!({ "pods": {
            "namespaceSelector": { "matchLabels": { labels::NAMESPACE_NAME: facts.dns.namespace } },
            "podSelector": { "matchLabels": facts.dns.pod_labels },
        } });
        let ports = vec![
            json!({ "portNumber": { "protocol": "UDP", "port": 53 } }),
            json!({ "portNumber": { "protocol": "TCP", "port": 53 } }),
        ];
        egress.push(rule("allow-dns", "Allow", "to", vec![dns], Some(ports)));
    }
    if !grants.to_tenants.is_empty() {
        let peer = json!({ "namespaces": { "matchExpressions": [
            { "key": labels::TENANT, "operator": "In", "values": grants.to_tenants }
        ] } });
        egress.push(rule("pass-granted-tenants", "Pass", "to", vec![peer], None));
    }
    let names = narrowed_names(grants.to_narrowed.iter().map(|(t, _)| t.as_str()));
    for ((tenant, grant), suffix) in grants.to_narrowed.iter().zip(names) {
        let namespaces = json!({ "matchLabels": { labels::TENANT: tenant } });
        let peer = match &grant.pod_selector {
            Some(pods) => json!({ "pods": { "namespaceSelector": namespaces, "podSelector": pods } }),
            None => json!({ "namespaces": namespaces }),
        };
        egress.push(rule(
            &format!("pass-tenant-{suffix}"),
            "Pass",
            "to",
            vec![peer],
            anp_ports(&grant.ports),
        ));
    }
    egress.push(rule("deny-other-tenants", "Deny", "to", vec![other_tenants], None));

    let spec = json!({
        "priority": PRIORITY,
        "subject": { "namespaces": { "matchLabels": { labels::TENANT: grants.tenant } } },
        "ingress": ingress,
        "egress": egress,
    });
    let name = format!("palisade-tenant-{}", grants.tenant);
    ManagedObject::custom(
        "policy.networking.k8s.io/v1alpha1",
        "AdminNetworkPolicy",
        None,
        &name,
        grants.tenant,
        spec,
    )
}

/// AdminNetworkPolicy ports (`portNumber` or `portRange`); `None` (every port) when none are listed.
fn anp_ports(ports: &[palisade_api::PortRule]) -> Option<Vec<Value>> {
    (!ports.is_empty()).then(|| {
        rule_triples(ports)
            .into_iter()
            .map(|(protocol, port, end)| match end {
                Some(end) => json!({ "portRange": { "protocol": protocol, "start": port, "end": end } }),
                None => json!({ "portNumber": { "protocol": protocol, "port": port } }),
            })
            .collect()
    })
}

fn rule(name: &str, action: &str, direction: &str, peers: Vec<Value>, ports: Option<Vec<Value>>) -> Value {
    let mut rule = json!({ "name": name, "action": action, direction: peers });
    if let Some(ports) = ports {
        rule["ports"] = Value::Array(ports);
    }
    rule
}
