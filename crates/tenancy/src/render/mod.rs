//! The renderer: a pure function from a Tenant, one of its namespaces and what is known about the
//! cluster to the exact objects that namespace must hold. The controller applies its output with
//! server-side apply and prunes what it no longer lists; `palisade render` prints it.
//!
//! Output is deterministic: the same input gives the same objects, in the same order, with the
//! same names, so a re-render never churns the cluster.

mod cluster_view;
mod context;
mod mesh;
mod namespace;
mod naming;
mod network;
mod object;
pub mod policy_binding;
mod quota;
mod rbac;

pub use cluster_view::{ClassKind, ClusterInventory, Names, VisibleNames, node_selected, visible_cluster_objects};
pub use context::{ApiServerEndpoint, AvailableApis, ClusterFacts, DnsFacts, TenantIndex, TenantLookup};
pub use namespace::{namespace_annotations, namespace_labels};
pub use naming::short_hash;
pub use object::{ManagedObject, Skipped};
pub use policy_binding::{MarkedPolicies, MarkedPolicy, policy_statuses};
pub use rbac::{owner_cluster_role_name, render_owner_cluster_rbac};

use palisade_api::Tenant;

/// Everything one tenant namespace must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespacePlan {
    pub namespace: String,
    /// Objects in the order they should be applied; the Namespace itself comes first.
    pub objects: Vec<ManagedObject>,
    /// Objects that should exist but cannot, with the reason (e.g. the mesh's CRDs are absent).
    pub skipped: Vec<Skipped>,
}

/// Everything a tenant must have: cluster-scoped objects plus one plan per namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantPlan {
    pub tenant: String,
    pub cluster_objects: Vec<ManagedObject>,
    pub namespaces: Vec<NamespacePlan>,
    pub skipped: Vec<Skipped>,
}

impl TenantPlan {
    /// Every object of the plan, cluster-scoped first.
    pub fn all_objects(&self) -> impl Iterator<Item = &ManagedObject> {
        self.cluster_objects
            .iter()
            .chain(self.namespaces.iter().flat_map(|ns| ns.objects.iter()))
    }

    /// Every skipped object of the plan.
    pub fn all_skipped(&self) -> impl Iterator<Item = &Skipped> {
        self.skipped
            .iter()
            .chain(self.namespaces.iter().flat_map(|ns| ns.skipped.iter()))
    }
}

/// What namespace `namespace` of `tenant` must hold.
pub fn render_namespace(
    tenant: &Tenant,
    namespace: &str,
    index: &dyn TenantLookup,
    facts: &ClusterFacts,
) -> NamespacePlan {
    let name = tenant_name(tenant);
    let mut plan = NamespacePlan {
        namespace: namespace.to_string(),
        objects: Vec::new(),
        skipped: Vec::new(),
    };
    plan.objects.push(namespace::render(tenant, namespace));
    plan.objects.extend(rbac::render(tenant, namespace));
    plan.objects.extend(quota::render(tenant, namespace));
    network::render_namespace(tenant, namespace, index, facts, &mut plan);
    mesh::render_namespace(tenant, namespace, index, facts, &mut plan);
    debug_assert!(plan.objects.iter().all(|o| o.tenant() == Some(name)));
    plan
}

/// Cluster-scoped objects a tenant needs: its owners' ClusterRole and ClusterRoleBinding (see
/// [`rbac::render_owner_cluster_rbac`]; what they may see of `inventory` is
/// [`visible_cluster_objects`]), the provider's AdminNetworkPolicy or
/// CiliumClusterwideNetworkPolicy, and a ValidatingAdmissionPolicyBinding of each tenant policy
/// in `inventory.policies` (see [`policy_binding`]).
pub fn render_cluster_scoped(
    tenant: &Tenant,
    index: &dyn TenantLookup,
    facts: &ClusterFacts,
    inventory: &ClusterInventory,
) -> (Vec<ManagedObject>, Vec<Skipped>) {
    let namespaces = index.namespaces_of(tenant_name(tenant));
    let visible = visible_cluster_objects(tenant, &namespaces, inventory);
    let mut objects = rbac::render_owner_cluster_rbac(tenant, &namespaces, &visible);
    let (network, skipped) = network::render_cluster_scoped(tenant, index, facts);
    objects.extend(network);
    objects.extend(policy_binding::render(tenant, &inventory.policies));
    (objects, skipped)
}

/// The whole tenant: cluster-scoped objects and every namespace the index knows for it.
pub fn render_tenant(
    tenant: &Tenant,
    index: &dyn TenantLookup,
    facts: &ClusterFacts,
    inventory: &ClusterInventory,
) -> TenantPlan {
    let name = tenant_name(tenant);
    let (cluster_objects, skipped) = render_cluster_scoped(tenant, index, facts, inventory);
    let namespaces = index
        .namespaces_of(name)
        .iter()
        .map(|ns| render_namespace(tenant, ns, index, facts))
        .collect();
    TenantPlan {
        tenant: name.to_string(),
        cluster_objects,
        namespaces,
        skipped,
    }
}

fn tenant_name(tenant: &Tenant) -> &str {
    tenant.metadata.name.as_deref().unwrap_or_default()
}
