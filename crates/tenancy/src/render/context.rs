//! What the renderer needs to know beyond the Tenant itself: facts about the cluster, and the other
//! tenants (their namespaces, and which of them granted this one access).

use std::collections::{BTreeMap, BTreeSet};

use palisade_api::{Tenant, TenantGrant};

/// Facts about the cluster. The controller discovers them; the CLI takes them from flags, with
/// defaults that fit a standard cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterFacts {
    pub dns: DnsFacts,
    /// Where the API server really listens (the endpoints behind the `kubernetes` Service, after
    /// DNAT): a NetworkPolicy sees these, not the Service's ClusterIP.
    pub api_server: Vec<ApiServerEndpoint>,
    pub apis: AvailableApis,
}

impl Default for ClusterFacts {
    fn default() -> Self {
        ClusterFacts {
            dns: DnsFacts::default(),
            api_server: Vec::new(),
            apis: AvailableApis::all(),
        }
    }
}

/// Where the cluster DNS pods run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsFacts {
    pub namespace: String,
    pub pod_labels: BTreeMap<String, String>,
}

impl Default for DnsFacts {
    fn default() -> Self {
        DnsFacts {
            namespace: "kube-system".to_string(),
            pod_labels: [("k8s-app".to_string(), "kube-dns".to_string())].into_iter().collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiServerEndpoint {
    pub ip: std::net::IpAddr,
    pub port: u16,
}

/// Which optional APIs the cluster serves; objects of absent APIs are reported as skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvailableApis {
    pub admin_network_policy: bool,
    pub cilium: bool,
    pub calico: bool,
    pub istio: bool,
    pub linkerd: bool,
}

impl AvailableApis {
    pub fn all() -> Self {
        AvailableApis {
            admin_network_policy: true,
            cilium: true,
            calico: true,
            istio: true,
            linkerd: true,
        }
    }

    pub fn none() -> Self {
        AvailableApis {
            admin_network_policy: false,
            cilium: false,
            calico: false,
            istio: false,
            linkerd: false,
        }
    }
}

/// What the renderer asks about the other tenants. [`TenantIndex`] answers from files (`palisade
/// render`); the controller answers from its watch-fed tenant directory (`palisade-view`), so
/// that it never rebuilds an index per reconcile.
pub trait TenantLookup {
    /// The namespaces of `tenant`, sorted.
    fn namespaces_of(&self, tenant: &str) -> Vec<String>;
    /// Tenants that let `tenant`'s pods connect to theirs, sorted.
    fn network_egress_targets(&self, tenant: &str) -> Vec<String>;
    /// Narrowed grants that let `tenant`'s pods connect to some ports or pods of another tenant:
    /// `(granting tenant, grant)`, sorted by granting tenant, each tenant's grants in its order.
    fn network_egress_narrowed(&self, tenant: &str) -> Vec<(String, TenantGrant)>;
}

impl TenantLookup for TenantIndex {
    fn namespaces_of(&self, tenant: &str) -> Vec<String> {
        TenantIndex::namespaces_of(self, tenant)
    }
    fn network_egress_targets(&self, tenant: &str) -> Vec<String> {
        TenantIndex::network_egress_targets(self, tenant)
    }
    fn network_egress_narrowed(&self, tenant: &str) -> Vec<(String, TenantGrant)> {
        TenantIndex::network_egress_narrowed(self, tenant)
    }
}

/// All tenants and their namespaces, as far as they are known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantIndex {
    namespaces: BTreeMap<String, BTreeSet<String>>,
    /// tenant → tenants that list it in `network.allowFrom.tenants` (it may connect out to them).
    network_egress: BTreeMap<String, BTreeSet<String>>,
    /// tenant → `(granting tenant, grant)` for each `network.allowFrom.tenantGrants` entry naming
    /// it (it may connect out to those ports and pods), in the granting tenants' order.
    network_egress_narrowed: BTreeMap<String, Vec<(String, TenantGrant)>>,
}

impl TenantIndex {
    /// An index of `tenants`, each owning the namespaces of its `spec.namespaces.names` and of its
    /// status. Add namespaces seen in the cluster with [`TenantIndex::add_namespace`].
    pub fn new<'a>(tenants: impl IntoIterator<Item = &'a Tenant>) -> Self {
        Self::build(tenants, true)
    }

    /// Like [`TenantIndex::new`], but ignoring the status: for the controller, which knows the
    /// namespaces from the cluster itself and must let a namespace go once it leaves both the
    /// spec and the cluster.
    pub fn from_specs<'a>(tenants: impl IntoIterator<Item = &'a Tenant>) -> Self {
        Self::build(tenants, false)
    }

    fn build<'a>(tenants: impl IntoIterator<Item = &'a Tenant>, with_status: bool) -> Self {
        let mut index = TenantIndex::default();
        for tenant in tenants {
            let name = tenant.metadata.name.clone().unwrap_or_default();
            let owned = index.namespaces.entry(name.clone()).or_default();
            owned.extend(tenant.spec.namespaces.names.iter().cloned());
            if let Some(status) = tenant.status.as_ref().filter(|_| with_status) {
                owned.extend(status.namespaces.iter().cloned());
            }
            index.add_grants(&name, tenant);
        }
        index
    }

    /// The controller's index, where every namespace belongs to one tenant at most, and the
    /// claims that lost (tenant → namespaces it lists but may not have):
    ///
    /// - a namespace in `labelled` (`(namespace, tenant)`: its `palisade.dev/tenant` label, set
    ///   once by Palisade) belongs to that tenant, whoever else lists it;
    /// - an unlabelled namespace listed in several tenants' `spec.namespaces.names` belongs to
    ///   the oldest of them (creationTimestamp, then name): the Tenant that asked first keeps it,
    ///   and a later Tenant cannot take it by listing it too.
    ///
    /// The status is ignored, as in [`TenantIndex::from_specs`].
    pub fn resolve<'a, 'n>(
        tenants: impl IntoIterator<Item = &'a Tenant>,
        labelled: impl IntoIterator<Item = (&'n str, &'n str)>,
    ) -> (Self, BTreeMap<String, BTreeSet<String>>) {
        let mut tenants: Vec<&Tenant> = tenants.into_iter().collect();
        tenants.sort_by(|a, b| {
            let created = |t: &Tenant| t.metadata.creation_timestamp.as_ref().map(|c| c.0);
            // A Tenant not yet stored (no timestamp) is the newest.
            let age = |t: &Tenant| (created(t).is_none(), created(t));
            age(a).cmp(&age(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
        });
        let mut index = TenantIndex::default();
        let mut owner: BTreeMap<String, String> = BTreeMap::new();
        for (namespace, tenant) in labelled {
            owner.insert(namespace.to_string(), tenant.to_string());
            index.add_namespace(tenant, namespace);
        }
        let mut refused: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for tenant in &tenants {
            let name = tenant.metadata.name.clone().unwrap_or_default();
            index.namespaces.entry(name.clone()).or_default();
            for namespace in &tenant.spec.namespaces.names {
                match owner.get(namespace) {
                    Some(holder) if *holder != name => {
                        refused.entry(name.clone()).or_default().insert(namespace.clone());
                    }
                    Some(_) => {}
                    None => {
                        owner.insert(namespace.clone(), name.clone());
                        index.add_namespace(&name, namespace);
                    }
                }
            }
            index.add_grants(&name, tenant);
        }
        (index, refused)
    }

    /// Records the network grants `tenant` (named `name`) gives other tenants.
    fn add_grants(&mut self, name: &str, tenant: &Tenant) {
        let allow_from = &tenant.spec.network.allow_from;
        for source in &allow_from.tenants {
            self.network_egress
                .entry(source.clone())
                .or_default()
                .insert(name.to_string());
        }
        for grant in &allow_from.tenant_grants {
            self.network_egress_narrowed
                .entry(grant.tenant.clone())
                .or_default()
                .push((name.to_string(), grant.clone()));
        }
    }

    /// Records that `namespace` belongs to `tenant`.
    pub fn add_namespace(&mut self, tenant: &str, namespace: &str) {
        self.namespaces
            .entry(tenant.to_string())
            .or_default()
            .insert(namespace.to_string());
    }

    /// The namespaces of `tenant`, sorted.
    pub fn namespaces_of(&self, tenant: &str) -> Vec<String> {
        self.namespaces
            .get(tenant)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Tenants that let `tenant`'s pods connect to theirs, sorted.
    pub fn network_egress_targets(&self, tenant: &str) -> Vec<String> {
        self.network_egress
            .get(tenant)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Narrowed grants that let `tenant`'s pods connect to some ports or pods of another tenant:
    /// `(granting tenant, grant)`, sorted by granting tenant, each tenant's grants in its order.
    pub fn network_egress_narrowed(&self, tenant: &str) -> Vec<(String, TenantGrant)> {
        let mut grants = self.network_egress_narrowed.get(tenant).cloned().unwrap_or_default();
        grants.sort_by(|a, b| a.0.cmp(&b.0));
        grants
    }
}
