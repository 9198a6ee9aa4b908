//! Network isolation, for each provider.
//!
//! Every provider expresses the same intent: default deny in and out; allow the tenant's own
//! namespaces, DNS, and what the Tenant grants. Where the provider can (AdminNetworkPolicy,
//! Cilium, Calico), traffic from or to other tenants is also denied at a level tenant-written
//! policies cannot override.

mod admin;
mod calico;
mod cilium;
mod kubernetes;

use palisade_api::{EgressCidr, IsolationMode, NetworkProvider, PortRule, Tenant, TenantGrant};

use super::{ClusterFacts, ManagedObject, NamespacePlan, Skipped, TenantLookup};

/// The tenant's network intent, with the cross-tenant grants resolved.
pub(crate) struct Grants<'a> {
    pub tenant: &'a str,
    /// Tenants whose pods may connect in.
    pub from_tenants: &'a [String],
    /// Tenants whose pods may connect to some ports or pods of this tenant.
    pub from_narrowed: &'a [TenantGrant],
    /// Non-tenant namespaces whose pods may connect in.
    pub from_namespaces: &'a [String],
    /// Tenants this tenant's pods may connect to (they granted it).
    pub to_tenants: Vec<String>,
    /// `(tenant, grant)`: some ports or pods of `tenant` this tenant's pods may connect to.
    pub to_narrowed: Vec<(String, TenantGrant)>,
    pub dns: bool,
    pub api_server: bool,
    pub cidrs: &'a [EgressCidr],
}

impl<'a> Grants<'a> {
    fn new(tenant: &'a Tenant, index: &dyn TenantLookup) -> Self {
        let name = tenant.metadata.name.as_deref().unwrap_or_default();
        let network = &tenant.spec.network;
        Grants {
            tenant: name,
            from_tenants: &network.allow_from.tenants,
            from_narrowed: &network.allow_from.tenant_grants,
            from_namespaces: &network.allow_from.namespaces,
            to_tenants: index.network_egress_targets(name),
            to_narrowed: index.network_egress_narrowed(name),
            dns: network.egress.dns,
            api_server: network.egress.api_server,
            cidrs: &network.egress.cidrs,
        }
    }
}

pub fn render_namespace(
    tenant: &Tenant,
    namespace: &str,
    index: &dyn TenantLookup,
    facts: &ClusterFacts,
    plan: &mut NamespacePlan,
) {
    let network = &tenant.spec.network;
    if network.isolation == IsolationMode::None {
        return;
    }
    let grants = Grants::new(tenant, index);
    match network.provider {
        NetworkProvider::Kubernetes | NetworkProvider::AdminNetworkPolicy => {
            kubernetes::render(&grants, namespace, facts, plan);
        }
        NetworkProvider::Calico => {
            let object = calico::render(&grants, namespace, facts);
            if facts.apis.calico {
                plan.objects.push(object);
            } else {
                plan.skipped.push(Skipped::from_object(
                    object,
                    "the cluster does not serve projectcalico.org/v3 (Calico API server not installed)",
                ));
            }
        }
        NetworkProvider::Cilium => {}
    }
}

pub fn render_cluster_scoped(
    tenant: &Tenant,
    index: &dyn TenantLookup,
    facts: &ClusterFacts,
) -> (Vec<ManagedObject>, Vec<Skipped>) {
    let network = &tenant.spec.network;
    if network.isolation == IsolationMode::None {
        return (Vec::new(), Vec::new());
    }
    let grants = Grants::new(tenant, index);
    let (objects, available, api) = match network.provider {
        NetworkProvider::AdminNetworkPolicy => (
            vec![admin::render(&grants, facts)],
            facts.apis.admin_network_policy,
            "policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy",
        ),
        NetworkProvider::Cilium => (
            cilium::render(&grants, facts),
            facts.apis.cilium,
            "cilium.io/v2 (Cilium is not installed)",
        ),
        NetworkProvider::Kubernetes | NetworkProvider::Calico => return (Vec::new(), Vec::new()),
    };
    if available {
        (objects, Vec::new())
    } else {
        let skipped = objects
            .into_iter()
            .map(|object| Skipped::from_object(object, format!("the cluster does not serve {api}")))
            .collect();
        (Vec::new(), skipped)
    }
}

/// Port ranges as `(protocol, port, end_port)`; an empty list means every port.
pub(crate) fn port_triples(cidr: &EgressCidr) -> Vec<(String, u16, Option<u16>)> {
    rule_triples(&cidr.ports)
}

/// Port ranges as `(protocol, port, end_port)`; an empty list means every port.
pub(crate) fn rule_triples(ports: &[PortRule]) -> Vec<(String, u16, Option<u16>)> {
    ports.iter().map(|p| (p.protocol.clone(), p.port, p.end_port)).collect()
}

/// Names for the narrowed grants of `grants`, in order: `<tenant>-<n>`, `n` counting the
/// entries for that tenant from 0 (stable while the list keeps its order).
pub(crate) fn narrowed_names<'g>(grants: impl IntoIterator<Item = &'g str>) -> Vec<String> {
    let mut seen: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    grants
        .into_iter()
        .map(|tenant| {
            let n = seen.entry(tenant).or_default();
            let name = format!("{tenant}-{n}");
            *n += 1;
            name
        })
        .collect()
}
