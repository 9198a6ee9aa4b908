//! The read-only view of the cluster a decision may consult. The webhook implements it over
//! watch-driven caches; tests and `palisade check` use [`Snapshot`].

use std::collections::BTreeMap;

use palisade_api::{Tenant, labels};

/// One host and path served by an Ingress, for the hostname collision check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressRoute {
    pub namespace: String,
    pub name: String,
    pub host: String,
    pub path: String,
}

/// What a PersistentVolume says about its owner.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeOwner {
    /// The `palisade.dev/tenant` label of the volume.
    pub tenant: Option<String>,
    /// The namespace of its `claimRef`, if it is bound or reserved.
    pub claim_namespace: Option<String>,
}

pub trait ClusterView {
    fn tenant(&self, name: &str) -> Option<&Tenant>;
    fn tenants(&self) -> Vec<&Tenant>;
    /// Labels of an existing namespace; `None` when the namespace is unknown.
    fn namespace_labels(&self, namespace: &str) -> Option<&BTreeMap<String, String>>;
    /// Names of the namespaces labelled for `tenant`.
    fn namespaces_of(&self, tenant: &str) -> Vec<String>;
    fn volume(&self, name: &str) -> Option<&VolumeOwner>;
    fn ingress_routes(&self) -> Vec<&IngressRoute>;
    /// Pod CIDRs the nodes were given (`spec.podCIDRs`), when the cluster says.
    fn node_pod_cidrs(&self) -> Vec<ipnet::IpNet> {
        Vec::new()
    }

    /// The tenant an existing namespace belongs to, by its label.
    fn tenant_of_namespace(&self, namespace: &str) -> Option<&str> {
        self.namespace_labels(namespace)?
            .get(labels::TENANT)
            .map(String::as_str)
    }
}

/// A plain in-memory [`ClusterView`].
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub tenants: BTreeMap<String, Tenant>,
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    pub volumes: BTreeMap<String, VolumeOwner>,
    pub ingress_routes: Vec<IngressRoute>,
    /// Pod CIDRs of each node, by node name.
    pub node_pod_cidrs: BTreeMap<String, Vec<ipnet::IpNet>>,
}

impl Snapshot {
    pub fn with_tenant(mut self, tenant: Tenant) -> Self {
        let name = tenant.metadata.name.clone().unwrap_or_default();
        self.tenants.insert(name, tenant);
        self
    }

    /// Adds a namespace; `tenant` is put in its tenant label.
    pub fn with_namespace(mut self, name: &str, tenant: Option<&str>) -> Self {
        let mut namespace_labels = BTreeMap::from([(labels::NAMESPACE_NAME.to_string(), name.to_string())]);
        if let Some(tenant) = tenant {
            namespace_labels.insert(labels::TENANT.to_string(), tenant.to_string());
        }
        self.namespaces.insert(name.to_string(), namespace_labels);
        self
    }
}

impl ClusterView for Snapshot {
    fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.get(name)
    }

    fn tenants(&self) -> Vec<&Tenant> {
        self.tenants.values().collect()
    }

    fn namespace_labels(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.namespaces.get(namespace)
    }

    fn namespaces_of(&self, tenant: &str) -> Vec<String> {
        self.namespaces
            .iter()
            .filter(|(_, l)| l.get(labels::TENANT).map(String::as_str) == Some(tenant))
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn volume(&self, name: &str) -> Option<&VolumeOwner> {
        self.volumes.get(name)
    }

    fn ingress_routes(&self) -> Vec<&IngressRoute> {
        self.ingress_routes.iter().collect()
    }

    fn node_pod_cidrs(&self) -> Vec<ipnet::IpNet> {
        let mut cidrs: Vec<ipnet::IpNet> = self.node_pod_cidrs.values().flatten().copied().collect();
        cidrs.sort();
        cidrs.dedup();
        ipnet::IpNet::aggregate(&cidrs)
    }
}
