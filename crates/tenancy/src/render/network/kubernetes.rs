//! `networking.k8s.io/v1` NetworkPolicies in each tenant namespace.
//!
//! NetworkPolicies only add allows, and a connection needs both the source's egress and the
//! destination's ingress to allow it; so a cross-tenant grant renders on both sides: ingress in the
//! granting tenant, egress in the granted one.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use palisade_api::labels;

use super::{Grants, narrowed_names, port_triples, rule_triples};
use crate::render::{ClusterFacts, ManagedObject, NamespacePlan, Skipped};

pub fn render(grants: &Grants<'_>, namespace: &str, facts: &ClusterFacts, plan: &mut NamespacePlan) {
    let selected_policy = |name: &str,
                           pods: LabelSelector,
                           ingress: Option<Vec<NetworkPolicyIngressRule>>,
                           egress: Option<Vec<NetworkPolicyEgressRule>>| {
        let mut types = Vec::new();
        if ingress.is_some() {
            types.push("Ingress".to_string());
        }
        if egress.is_some() {
            types.push("Egress".to_string());
        }
        ManagedObject::from_typed(&NetworkPolicy {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                labels: Some(labels::managed_labels(grants.tenant)),
                ..ObjectMeta::default()
            },
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(pods),
                policy_types: Some(types),
                ingress,
                egress,
            }),
        })
    };
    let policy =
        |name: &str, ingress: Option<Vec<NetworkPolicyIngressRule>>, egress: Option<Vec<NetworkPolicyEgressRule>>| {
            selected_policy(name, LabelSelector::default(), ingress, egress)
        };
    let same_tenant = tenant_peer(&[grants.tenant.to_string()]);

    plan.objects
        .push(policy("palisade-default-deny", Some(Vec::new()), Some(Vec::new())));
    plan.objects.push(policy(
        "palisade-allow-same-tenant",
        Some(vec![ingress_from(vec![same_tenant.clone()])]),
        Some(vec![egress_to(vec![same_tenant], None)]),
    ));
    if grants.dns {
        let peer = NetworkPolicyPeer {
            namespace_selector: Some(match_labels(
                [(labels::NAMESPACE_NAME.to_string(), facts.dns.namespace.clone())].into(),
            )),
            pod_selector: Some(match_labels(facts.dns.pod_labels.clone())),
            ip_block: None,
        };
        let ports = vec![port("UDP", 53, None), port("TCP", 53, None)];
        plan.objects.push(policy(
            "palisade-allow-dns",
            None,
            Some(vec![egress_to(vec![peer], Some(ports))]),
        ));
    }
    if !grants.from_tenants.is_empty() {
        plan.objects.push(policy(
            "palisade-allow-from-tenants",
            Some(vec![ingress_from(vec![tenant_peer(grants.from_tenants)])]),
            None,
        ));
    }
    // A narrowed grant: only the selected pods, only the ports listed.
    let names = narrowed_names(grants.from_narrowed.iter().map(|g| g.tenant.as_str()));
    for (grant, suffix) in grants.from_narrowed.iter().zip(names) {
        let pods = grant.pod_selector.clone().unwrap_or_default();
        let rule = NetworkPolicyIngressRule {
            from: Some(vec![tenant_peer(std::slice::from_ref(&grant.tenant))]),
            ports: rule_ports(&grant.ports),
        };
        plan.objects.push(selected_policy(
            &format!("palisade-allow-from-tenant-{suffix}"),
            pods,
            Some(vec![rule]),
            None,
        ));
    }
    if !grants.from_namespaces.is_empty() {
        let peer = platform_namespace_peer(grants.from_namespaces);
        plan.objects.push(policy(
            "palisade-allow-from-namespaces",
            Some(vec![ingress_from(vec![peer])]),
            None,
        ));
    }
    let mut to_tenants = Vec::new();
    if !grants.to_tenants.is_empty() {
        to_tenants.push(egress_to(vec![tenant_peer(&grants.to_tenants)], None));
    }
    for (tenant, grant) in &grants.to_narrowed {
        let mut peer = tenant_peer(std::slice::from_ref(tenant));
        peer.pod_selector = grant.pod_selector.clone();
        to_tenants.push(egress_to(vec![peer], rule_ports(&grant.ports)));
    }
    if !to_tenants.is_empty() {
        plan.objects
            .push(policy("palisade-allow-to-tenants", None, Some(to_tenants)));
    }
    if grants.api_server {
        let rules: Vec<NetworkPolicyEgressRule> = facts
            .api_server
            .iter()
            .map(|endpoint| {
                let prefix = if endpoint.ip.is_ipv4() { 32 } else { 128 };
                egress_to(
                    vec![ip_peer(format!("{}/{prefix}", endpoint.ip), Vec::new())],
                    Some(vec![port("TCP", endpoint.port, None)]),
                )
            })
            .collect();
        let object = policy("palisade-allow-api-server", None, Some(rules));
        if facts.api_server.is_empty() {
            plan.skipped.push(Skipped::from_object(
                object,
                "the API server's endpoint addresses are unknown (give them with --api-server IP:PORT; the controller reads them from the `kubernetes` EndpointSlice)",
            ));
        } else {
            plan.objects.push(object);
        }
    }
    if !grants.cidrs.is_empty() {
        let rules = grants
            .cidrs
            .iter()
            .map(|cidr| {
                let ports = port_triples(cidr);
                let ports = (!ports.is_empty()).then(|| ports.into_iter().map(|(p, s, e)| port(&p, s, e)).collect());
                egress_to(vec![ip_peer(cidr.cidr.clone(), cidr.except.clone())], ports)
            })
            .collect();
        plan.objects
            .push(policy("palisade-allow-egress-cidrs", None, Some(rules)));
    }
}

fn match_labels(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels),
        match_expressions: None,
    }
}

fn namespace_peer(key: &str, values: &[String]) -> NetworkPolicyPeer {
    let selector = if let [only] = values {
        match_labels([(key.to_string(), only.clone())].into())
    } else {
        LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.to_string(),
                operator: "In".to_string(),
                values: Some(values.to_vec()),
            }]),
        }
    };
    NetworkPolicyPeer {
        namespace_selector: Some(selector),
        pod_selector: None,
        ip_block: None,
    }
}

/// The platform namespaces `names`, and only while they are not tenant namespaces: a tenant
/// that creates a namespace of the same name (after the platform's was deleted, or on a cluster
/// that never had it) does not get the grant.
fn platform_namespace_peer(names: &[String]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: labels::NAMESPACE_NAME.to_string(),
                    operator: "In".to_string(),
                    values: Some(names.to_vec()),
                },
                LabelSelectorRequirement {
                    key: labels::TENANT.to_string(),
                    operator: "DoesNotExist".to_string(),
                    values: None,
                },
            ]),
        }),
        pod_selector: None,
        ip_block: None,
    }
}

fn tenant_peer(tenants: &[String]) -> NetworkPolicyPeer {
    namespace_peer(labels::TENANT, tenants)
}

fn ip_peer(cidr: String, except: Vec<String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr,
            except: (!except.is_empty()).then_some(except),
        }),
        namespace_selector: None,
        pod_selector: None,
    }
}

fn port(protocol: &str, number: u16, end: Option<u16>) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.to_string()),
        port: Some(IntOrString::Int(i32::from(number))),
        end_port: end.map(i32::from),
    }
}

/// The ports of a grant; `None` (every port) when it lists none.
fn rule_ports(ports: &[palisade_api::PortRule]) -> Option<Vec<NetworkPolicyPort>> {
    (!ports.is_empty()).then(|| {
        rule_triples(ports)
            .into_iter()
            .map(|(p, s, e)| port(&p, s, e))
            .collect()
    })
}

fn ingress_from(from: Vec<NetworkPolicyPeer>) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: Some(from),
        ports: None,
    }
}

fn egress_to(to: Vec<NetworkPolicyPeer>, ports: Option<Vec<NetworkPolicyPort>>) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule { to: Some(to), ports }
}
