//! The tenant directory: who holds which namespace, who granted whom, what each tenant's objects
//! use of the quota, and which tenants must be rendered again when something changes. Kept up to date one event at a time (no rebuild per
//! question), pure, and shared: admission's `ClusterView`, the renderer (through
//! [`TenantLookup`]) and the controller's wake-ups all read it.
//!
//! Ownership of a namespace:
//! - a namespace labelled `palisade.dev/tenant` belongs to that tenant, whoever else lists it;
//! - an unlabelled namespace listed in several Tenants' `spec.namespaces.names` belongs to the
//!   oldest of them (creationTimestamp, then name): the Tenant that asked first keeps it, and a
//!   later Tenant cannot take it by listing it too. The others' claims are *refused*.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use palisade_api::{Tenant, TenantGrant, labels};
use palisade_tenancy::quantity::Amount;
use palisade_tenancy::render::TenantLookup;

use crate::Index;

/// What one object uses of the quota: resource name (`requests.cpu`, `pods`, ...) → amount.
pub type Usage = BTreeMap<String, Amount>;

/// A namespace as the directory keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceEntry {
    pub name: String,
    /// Its `palisade.dev/tenant` label.
    pub tenant: Option<String>,
    /// Whether it has a deletionTimestamp.
    pub terminating: bool,
}

impl NamespaceEntry {
    /// The entry of a namespace from its metadata (a metadata-only watch gives no more).
    pub fn of(metadata: &ObjectMeta) -> NamespaceEntry {
        NamespaceEntry {
            name: metadata.name.clone().unwrap_or_default(),
            tenant: metadata.labels.as_ref().and_then(|l| l.get(labels::TENANT)).cloned(),
            terminating: metadata.deletion_timestamp.is_some(),
        }
    }
}

impl From<&Namespace> for NamespaceEntry {
    fn from(namespace: &Namespace) -> Self {
        NamespaceEntry::of(&namespace.metadata)
    }
}

/// The order in which Tenants listing the same unlabelled namespace get it: oldest first, a
/// Tenant not yet stored (no creationTimestamp) last, then by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Claimant {
    unstored: bool,
    created: Option<Timestamp>,
    name: String,
}

impl Claimant {
    fn of(tenant: &Tenant) -> Claimant {
        let created = tenant.metadata.creation_timestamp.as_ref().map(|t| t.0);
        Claimant {
            unstored: created.is_none(),
            created,
            name: name_of(tenant).to_string(),
        }
    }
}

fn name_of(tenant: &Tenant) -> &str {
    tenant.metadata.name.as_deref().unwrap_or_default()
}

/// Every tenant and labelled namespace, with the relations between them.
#[derive(Debug, Clone, Default)]
pub struct TenantDirectory {
    tenants: BTreeMap<String, Arc<Tenant>>,
    /// Labelled namespace → its tenant label.
    labelled: BTreeMap<String, String>,
    /// Tenant → its labelled namespaces.
    labelled_by_tenant: BTreeMap<String, BTreeSet<String>>,
    terminating: BTreeSet<String>,
    /// Namespace → the Tenants whose `spec.namespaces.names` list it, in claim order.
    claims: BTreeMap<String, BTreeSet<Claimant>>,
    /// Tenant → tenants that let it connect to them (`network.allowFrom.tenants`).
    network_egress: BTreeMap<String, BTreeSet<String>>,
    /// Tenant → granting tenant → the narrowed grants naming it, in the granting Tenant's order.
    network_egress_narrowed: BTreeMap<String, BTreeMap<String, Vec<TenantGrant>>>,
    /// Tenant → tenants whose mesh authorization names it (and so lists its namespaces).
    mesh_callers: BTreeMap<String, BTreeSet<String>>,
    /// Namespace → object key (`pods/<uid>`, ...) → what the object uses. Kept for every
    /// namespace, so a namespace that joins a tenant brings its usage along.
    usage: BTreeMap<String, BTreeMap<String, Usage>>,
    /// Tenants whose rendering may have changed since [`TenantDirectory::take_woken`].
    woken: BTreeSet<String>,
}

impl TenantDirectory {
    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.get(name).map(AsRef::as_ref)
    }

    /// Every Tenant, by name.
    pub fn tenants(&self) -> impl Iterator<Item = &Tenant> {
        self.tenants.values().map(AsRef::as_ref)
    }

    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// The tenant whose label `namespace` carries.
    pub fn tenant_of(&self, namespace: &str) -> Option<&str> {
        self.labelled.get(namespace).map(String::as_str)
    }

    /// The namespaces labelled for `tenant`, sorted.
    pub fn labelled_namespaces_of(&self, tenant: &str) -> impl Iterator<Item = &str> {
        self.labelled_by_tenant
            .get(tenant)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Whether the labelled `namespace` is being deleted.
    pub fn is_terminating(&self, namespace: &str) -> bool {
        self.terminating.contains(namespace)
    }

    /// Who holds `namespace`: its label, else the oldest Tenant listing it.
    pub fn owner_of(&self, namespace: &str) -> Option<&str> {
        self.tenant_of(namespace).or_else(|| {
            self.claims
                .get(namespace)
                .and_then(|claims| claims.first())
                .map(|c| c.name.as_str())
        })
    }

    /// The namespaces `tenant` lists but another tenant holds, sorted.
    pub fn refused(&self, tenant: &str) -> BTreeSet<String> {
        let Some(spec) = self.tenants.get(tenant) else {
            return BTreeSet::new();
        };
        spec.spec
            .namespaces
            .names
            .iter()
            .filter(|ns| self.owner_of(ns).is_some_and(|owner| owner != tenant))
            .cloned()
            .collect()
    }

    /// Tenants whose mesh authorization names `tenant`, sorted.
    pub fn mesh_callers_of(&self, tenant: &str) -> impl Iterator<Item = &str> {
        self.mesh_callers.get(tenant).into_iter().flatten().map(String::as_str)
    }

    /// Records what the object `key` in `namespace` uses, replacing what it used before.
    pub fn set_usage(&mut self, namespace: &str, key: String, usage: Usage) {
        self.usage.entry(namespace.to_string()).or_default().insert(key, usage);
    }

    /// Forgets what the object `key` in `namespace` used.
    pub fn remove_usage(&mut self, namespace: &str, key: &str) {
        if let Some(objects) = self.usage.get_mut(namespace) {
            objects.remove(key);
            if objects.is_empty() {
                self.usage.remove(namespace);
            }
        }
    }

    /// Keeps only the usage of objects whose key `keep` accepts (a relist of one kind).
    pub fn retain_usage(&mut self, mut keep: impl FnMut(&str) -> bool) {
        for objects in self.usage.values_mut() {
            objects.retain(|key, _| keep(key));
        }
        self.usage.retain(|_, objects| !objects.is_empty());
    }

    /// What the objects in the labelled namespaces of `tenant` use, by object key.
    pub fn usage_of(&self, tenant: &str) -> BTreeMap<String, Usage> {
        self.labelled_namespaces_of(tenant)
            .filter_map(|namespace| self.usage.get(namespace))
            .flatten()
            .map(|(key, usage)| (key.clone(), usage.clone()))
            .collect()
    }

    /// The tenants to render again because of the changes applied since the last call.
    pub fn take_woken(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.woken)
    }

    /// Wakes `tenant` and the tenants whose mesh rules list its namespaces.
    fn wake_with_callers(&mut self, tenant: &str) {
        let callers: Vec<String> = self.mesh_callers_of(tenant).map(str::to_string).collect();
        self.woken.insert(tenant.to_string());
        self.woken.extend(callers);
    }

    /// Wakes every tenant listing `namespace` (ownership of an unlabelled one may pass).
    fn wake_claimants(&mut self, namespace: &str) {
        let claimants: Vec<String> = self
            .claims
            .get(namespace)
            .into_iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect();
        for claimant in claimants {
            self.wake_with_callers(&claimant);
        }
    }

    /// Files `tenant`'s relations (`add`) or removes them.
    fn relate(&mut self, tenant: &Tenant, add: bool) {
        let name = name_of(tenant).to_string();
        let change = |set: &mut BTreeSet<String>| {
            if add {
                set.insert(name.clone());
            } else {
                set.remove(&name);
            }
        };
        for target in &tenant.spec.network.allow_from.tenants {
            change(self.network_egress.entry(target.clone()).or_default());
        }
        for target in tenant.spec.network.allow_from.tenant_grants.iter().map(|g| &g.tenant) {
            let by_granter = self.network_egress_narrowed.entry(target.clone()).or_default();
            if add {
                let grants = tenant
                    .spec
                    .network
                    .allow_from
                    .tenant_grants
                    .iter()
                    .filter(|g| g.tenant == *target)
                    .cloned()
                    .collect();
                by_granter.insert(name.clone(), grants);
            } else {
                by_granter.remove(&name);
            }
        }
        let mesh = &tenant.spec.mesh;
        let called = mesh
            .allow_from_tenants
            .iter()
            .chain(mesh.allow_from_tenant_grants.iter().map(|g| &g.tenant));
        for target in called {
            change(self.mesh_callers.entry(target.clone()).or_default());
        }
        let claimant = Claimant::of(tenant);
        for namespace in &tenant.spec.namespaces.names {
            let claims = self.claims.entry(namespace.clone()).or_default();
            if add {
                claims.insert(claimant.clone());
            } else {
                claims.remove(&claimant);
            }
        }
        self.drop_empty();
    }

    fn drop_empty(&mut self) {
        self.network_egress.retain(|_, set| !set.is_empty());
        self.network_egress_narrowed.retain(|_, map| !map.is_empty());
        self.mesh_callers.retain(|_, set| !set.is_empty());
        self.claims.retain(|_, set| !set.is_empty());
    }

    /// Wakes what `tenant`'s relations touch: the tenants it grants, those whose mesh names it,
    /// and every claimant of the namespaces it lists.
    fn wake_related(&mut self, tenant: &Tenant) {
        let name = name_of(tenant).to_string();
        self.wake_with_callers(&name);
        self.woken.extend(tenant.spec.network.allow_from.tenant_names());
        for namespace in &tenant.spec.namespaces.names {
            self.wake_claimants(namespace);
        }
    }

    fn remove_tenant(&mut self, name: &str) {
        if let Some(old) = self.tenants.remove(name) {
            self.relate(&old, false);
            self.wake_related(&old);
        }
    }

    fn remove_namespace(&mut self, namespace: &str) {
        self.terminating.remove(namespace);
        if let Some(tenant) = self.labelled.remove(namespace) {
            if let Some(set) = self.labelled_by_tenant.get_mut(&tenant) {
                set.remove(namespace);
                if set.is_empty() {
                    self.labelled_by_tenant.remove(&tenant);
                }
            }
            self.wake_with_callers(&tenant);
        }
        self.wake_claimants(namespace);
    }
}

/// Tenants shared with whoever else keeps them (the controller's kube-runtime store): one copy
/// of each Tenant in memory.
impl Index<Arc<Tenant>> for TenantDirectory {
    fn apply(&mut self, tenant: Arc<Tenant>) {
        let name = name_of(&tenant).to_string();
        // Relations follow from the spec and the age alone: a status write, a resync or a
        // relist of an unchanged Tenant keeps the newest object and wakes nobody.
        let same_relations = self.tenants.get(&name).is_some_and(|old| {
            old.spec == tenant.spec && old.metadata.creation_timestamp == tenant.metadata.creation_timestamp
        });
        if !same_relations {
            self.remove_tenant(&name);
            self.relate(&tenant, true);
            self.wake_related(&tenant);
        }
        self.tenants.insert(name, tenant);
    }

    fn delete(&mut self, tenant: Arc<Tenant>) {
        self.remove_tenant(name_of(&tenant));
    }

    fn reset(&mut self, tenants: Vec<Arc<Tenant>>) {
        let listed: BTreeSet<&str> = tenants.iter().map(|t| name_of(t)).collect();
        let gone: Vec<String> = self
            .tenants
            .keys()
            .filter(|name| !listed.contains(name.as_str()))
            .cloned()
            .collect();
        for name in gone {
            self.remove_tenant(&name);
        }
        for tenant in tenants {
            self.apply(tenant);
        }
    }
}

impl Index<Tenant> for TenantDirectory {
    fn apply(&mut self, tenant: Tenant) {
        Index::<Arc<Tenant>>::apply(self, Arc::new(tenant));
    }

    fn delete(&mut self, tenant: Tenant) {
        self.remove_tenant(name_of(&tenant));
    }

    fn reset(&mut self, tenants: Vec<Tenant>) {
        Index::<Arc<Tenant>>::reset(self, tenants.into_iter().map(Arc::new).collect());
    }
}

impl Index<NamespaceEntry> for TenantDirectory {
    fn apply(&mut self, entry: NamespaceEntry) {
        let unchanged = self.labelled.get(&entry.name) == entry.tenant.as_ref()
            && (entry.tenant.is_none() || self.terminating.contains(&entry.name) == entry.terminating);
        if unchanged {
            return;
        }
        self.remove_namespace(&entry.name);
        let Some(tenant) = entry.tenant else {
            return;
        };
        if entry.terminating {
            self.terminating.insert(entry.name.clone());
        }
        self.labelled.insert(entry.name.clone(), tenant.clone());
        self.labelled_by_tenant
            .entry(tenant.clone())
            .or_default()
            .insert(entry.name.clone());
        self.wake_with_callers(&tenant);
        self.wake_claimants(&entry.name);
    }

    fn delete(&mut self, entry: NamespaceEntry) {
        if self.labelled.contains_key(&entry.name) {
            self.remove_namespace(&entry.name);
        }
    }

    fn reset(&mut self, entries: Vec<NamespaceEntry>) {
        let listed: BTreeSet<&str> = entries
            .iter()
            .filter(|e| e.tenant.is_some())
            .map(|e| e.name.as_str())
            .collect();
        let gone: Vec<String> = self
            .labelled
            .keys()
            .filter(|ns| !listed.contains(ns.as_str()))
            .cloned()
            .collect();
        for namespace in gone {
            self.remove_namespace(&namespace);
        }
        for entry in entries {
            self.apply(entry);
        }
    }
}

impl TenantLookup for TenantDirectory {
    /// The labelled namespaces of `tenant` and the unlabelled ones it lists and holds.
    fn namespaces_of(&self, tenant: &str) -> Vec<String> {
        let mut namespaces: BTreeSet<String> = self.labelled_namespaces_of(tenant).map(str::to_string).collect();
        if let Some(spec) = self.tenants.get(tenant) {
            namespaces.extend(
                spec.spec
                    .namespaces
                    .names
                    .iter()
                    .filter(|ns| self.owner_of(ns) == Some(tenant))
                    .cloned(),
            );
        }
        namespaces.into_iter().collect()
    }

    fn network_egress_targets(&self, tenant: &str) -> Vec<String> {
        self.network_egress.get(tenant).into_iter().flatten().cloned().collect()
    }

    fn network_egress_narrowed(&self, tenant: &str) -> Vec<(String, TenantGrant)> {
        self.network_egress_narrowed
            .get(tenant)
            .into_iter()
            .flatten()
            .flat_map(|(granter, grants)| grants.iter().map(|g| (granter.clone(), g.clone())))
            .collect()
    }
}
