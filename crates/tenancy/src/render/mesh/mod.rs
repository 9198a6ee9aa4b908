//! Service-mesh isolation: mTLS, and authorization by workload identity, so that even traffic the
//! network lets through is refused unless it comes from the tenant itself or a granted caller.

mod istio;
mod linkerd;

use palisade_api::{MeshProvider, Tenant};

use super::{ClusterFacts, NamespacePlan, Skipped, TenantLookup};

/// Namespaces whose workloads may call into `tenant`: its own, and those of granted tenants.
fn caller_namespaces(tenant: &Tenant, index: &dyn TenantLookup) -> Vec<String> {
    let name = tenant.metadata.name.as_deref().unwrap_or_default();
    let mut namespaces = index.namespaces_of(name);
    for granted in &tenant.spec.mesh.allow_from_tenants {
        namespaces.extend(index.namespaces_of(granted));
    }
    namespaces.sort();
    namespaces.dedup();
    namespaces
}

/// `(namespace, service account)` pairs from `allowFromServiceAccounts` (validated elsewhere).
fn granted_service_accounts(tenant: &Tenant) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = tenant
        .spec
        .mesh
        .allow_from_service_accounts
        .iter()
        .filter_map(|entry| entry.split_once('/'))
        .map(|(ns, sa)| (ns.to_string(), sa.to_string()))
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

pub fn render_namespace(
    tenant: &Tenant,
    namespace: &str,
    index: &dyn TenantLookup,
    facts: &ClusterFacts,
    plan: &mut NamespacePlan,
) {
    let (objects, available, api) = match tenant.spec.mesh.provider {
        MeshProvider::None => return,
        MeshProvider::Istio => (
            istio::render(tenant, namespace, index),
            facts.apis.istio,
            "security.istio.io/v1 (Istio is not installed)",
        ),
        MeshProvider::Linkerd => (
            linkerd::render(tenant, namespace, index),
            facts.apis.linkerd,
            "policy.linkerd.io (Linkerd is not installed)",
        ),
    };
    if available {
        plan.objects.extend(objects);
    } else {
        plan.skipped.extend(
            objects
                .into_iter()
                .map(|o| Skipped::from_object(o, format!("the cluster does not serve {api}"))),
        );
    }
}
