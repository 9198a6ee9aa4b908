//! The read-only view of the cluster a decision may consult. The webhook implements it over
//! watch-driven caches; tests and `palisade check` use [`Snapshot`].

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use palisade_api::{Tenant, labels};
use palisade_view::{Index, TenantDirectory};

use crate::quota::namespace_key;
use crate::usage::Usage;

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
    /// The cluster's Service CIDRs (its ServiceCIDR objects), when the cluster says.
    fn service_cidrs(&self) -> Vec<ipnet::IpNet> {
        Vec::new()
    }

    /// What the watch has seen of a tenant's quota usage: per object uid (and per namespace, as
    /// `namespace/<name>` counting one `namespaces`).
    fn observed_usage(&self, tenant: &str) -> BTreeMap<String, Usage> {
        let _ = tenant;
        BTreeMap::new()
    }
    /// Whether the namespace holds Palisade's object of `kind` (`ResourceQuota`, `LimitRange`);
    /// `None` when the view does not track them.
    fn holds_managed(&self, namespace: &str, kind: &str) -> Option<bool> {
        let _ = (namespace, kind);
        None
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
    /// Tenants, and which namespaces are labelled for each: fed through [`palisade_view::Index`]
    /// (see [`crate::index`]), never edited by hand, so its relations stay true.
    pub directory: TenantDirectory,
    /// Labels of every namespace.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    pub volumes: BTreeMap<String, VolumeOwner>,
    pub ingress_routes: Vec<IngressRoute>,
    /// Pod CIDRs of each node, by node name.
    pub node_pod_cidrs: BTreeMap<String, Vec<ipnet::IpNet>>,
    /// CIDRs of each ServiceCIDR object, by its name.
    pub service_cidrs: BTreeMap<String, Vec<ipnet::IpNet>>,
    /// Palisade's ResourceQuotas and LimitRanges seen: (namespace, kind). `None`: not tracked.
    pub managed_quota_objects: Option<BTreeSet<(String, String)>>,
}

impl Snapshot {
    pub fn with_tenant(mut self, tenant: Tenant) -> Self {
        Index::<Tenant>::apply(&mut self, tenant);
        self
    }

    /// Adds a namespace; `tenant` is put in its tenant label.
    pub fn with_namespace(mut self, name: &str, tenant: Option<&str>) -> Self {
        let mut namespace_labels = BTreeMap::from([(labels::NAMESPACE_NAME.to_string(), name.to_string())]);
        if let Some(tenant) = tenant {
            namespace_labels.insert(labels::TENANT.to_string(), tenant.to_string());
        }
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(namespace_labels),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Index::<Namespace>::apply(&mut self, namespace);
        self
    }
}

impl ClusterView for Snapshot {
    fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.directory.tenant(name)
    }

    fn tenants(&self) -> Vec<&Tenant> {
        self.directory.tenants().collect()
    }

    fn namespace_labels(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.namespaces.get(namespace)
    }

    fn namespaces_of(&self, tenant: &str) -> Vec<String> {
        self.directory
            .labelled_namespaces_of(tenant)
            .map(str::to_string)
            .collect()
    }

    fn tenant_of_namespace(&self, namespace: &str) -> Option<&str> {
        self.directory.tenant_of(namespace)
    }

    fn volume(&self, name: &str) -> Option<&VolumeOwner> {
        self.volumes.get(name)
    }

    fn ingress_routes(&self) -> Vec<&IngressRoute> {
        self.ingress_routes.iter().collect()
    }

    fn observed_usage(&self, tenant: &str) -> BTreeMap<String, Usage> {
        let mut observed = self.directory.usage_of(tenant);
        for namespace in self.directory.labelled_namespaces_of(tenant) {
            let counted = Usage::from([(
                crate::quota::NAMESPACES.to_string(),
                palisade_tenancy::quantity::Amount::units(1),
            )]);
            observed.insert(namespace_key(namespace), counted);
        }
        observed
    }

    fn holds_managed(&self, namespace: &str, kind: &str) -> Option<bool> {
        let held = self.managed_quota_objects.as_ref()?;
        Some(held.contains(&(namespace.to_string(), kind.to_string())))
    }

    fn node_pod_cidrs(&self) -> Vec<ipnet::IpNet> {
        let mut cidrs: Vec<ipnet::IpNet> = self.node_pod_cidrs.values().flatten().copied().collect();
        cidrs.sort();
        cidrs.dedup();
        ipnet::IpNet::aggregate(&cidrs)
    }

    fn service_cidrs(&self) -> Vec<ipnet::IpNet> {
        let cidrs: Vec<ipnet::IpNet> = self.service_cidrs.values().flatten().copied().collect();
        ipnet::IpNet::aggregate(&cidrs)
    }
}
