//! Where the controller's watch events become state: every watch runs in the `palisade-view`
//! driver, and lands in one of two sinks here.
//!
//! - [`TenantSink`]: each Tenant goes to kube-runtime's store (which the Controller reads), to the
//!   trigger of its own reconcile, and to the tenant directory, whose relations say which *other*
//!   tenants to reconcile (grants, mesh callers, claims).
//! - [`ManagedSink`]: each object Palisade manages, by metadata only, goes to the [`Cache`]
//!   (fingerprints for the apply skip and the prune); namespaces also to the directory.
//!
//! Nodes, classes and volumes go to the [`Inventory`] (`inventory_watch.rs`), which also keeps
//! what of each Tenant's spec they can concern; so do tenant policies ([`crate::tenant_policies`]),
//! whose changes concern every tenant.
//!
//! Most kinds are watched by metadata only (labels and resourceVersion): the controller never
//! holds whole objects, which keeps 40,000 managed objects in a few MiB. ResourceQuotas are
//! watched whole, for their `status.used`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DynamicObject;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use palisade_api::{Tenant, labels};
use palisade_view::driver::{Driver, Needed, Sink, StreamingReset, WatchTask};
use palisade_view::{Index as _, NamespaceEntry, TenantDirectory};
use serde_json::Value;
use tokio::sync::Notify;

use crate::cache::{Cache, Seen, fingerprint_of};
use crate::diff::ObjectKey;
use crate::foreign::{ForeignPolicies, tenant_changes_verdicts};
use crate::inventory::{Inventory, Woken};
use crate::kinds::ManagedKind;

/// The cache, the tenant directory, the cluster inventory, and where to send the tenants to
/// reconcile.
pub struct Shared {
    cache: Mutex<Cache>,
    directory: RwLock<TenantDirectory>,
    /// Nodes, classes and volumes, for the owners' views (see [`crate::inventory`]).
    inventory: RwLock<Inventory>,
    tenants: Store<Tenant>,
    wake: UnboundedSender<ObjectRef<Tenant>>,
    /// Verdicts on the NetworkPolicies Palisade did not write (see [`crate::foreign`]).
    foreign: Mutex<ForeignPolicies>,
    /// Tells the watch of those policies to list and judge them all again.
    pub judge_again: Notify,
}

impl Shared {
    pub fn new(tenants: Store<Tenant>, wake: UnboundedSender<ObjectRef<Tenant>>) -> Self {
        Shared {
            cache: Mutex::default(),
            directory: RwLock::default(),
            inventory: RwLock::default(),
            tenants,
            wake,
            foreign: Mutex::default(),
            judge_again: Notify::new(),
        }
    }

    pub fn foreign(&self) -> MutexGuard<'_, ForeignPolicies> {
        self.foreign.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tenants and namespace ownership. Taken before the cache when both are needed.
    pub fn directory(&self) -> RwLockReadGuard<'_, TenantDirectory> {
        self.directory.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// What exists at cluster scope. Taken after the directory when both are needed, and never
    /// held while taking the directory.
    pub fn inventory(&self) -> RwLockReadGuard<'_, Inventory> {
        self.inventory.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the inventory and wakes the tenants whose view the change concerns (the holders
    /// of namespaces whose volumes changed are asked of the directory once the inventory is
    /// released).
    pub(crate) fn change_inventory_and_wake(&self, change: impl FnOnce(&mut Inventory)) {
        let woken = {
            let mut inventory = self.inventory.write().unwrap_or_else(PoisonError::into_inner);
            change(&mut inventory);
            inventory.take_woken()
        };
        if woken == Woken::default() {
            return;
        }
        if woken.all {
            self.wake_all();
            return;
        }
        let tenants = {
            let directory = self.directory();
            woken.resolve(|namespace| directory.owner_of(namespace))
        };
        self.wake(tenants);
    }

    pub fn tenants(&self) -> &Store<Tenant> {
        &self.tenants
    }

    /// Queues a reconcile of each tenant (the controller merges repeats).
    pub fn wake(&self, tenants: impl IntoIterator<Item = String>) {
        for tenant in tenants {
            // Fails only once the controller has stopped, when nothing is left to wake.
            let _ = self.wake.unbounded_send(ObjectRef::new(&tenant));
        }
    }

    /// Queues a reconcile of every known tenant.
    pub fn wake_all(&self) {
        let names: Vec<String> = self
            .directory()
            .tenants()
            .filter_map(|t| t.metadata.name.clone())
            .collect();
        self.wake(names);
    }

    /// Changes the directory and wakes the tenants the change concerns.
    fn change_directory(&self, change: impl FnOnce(&mut TenantDirectory)) -> BTreeSet<String> {
        let mut directory = self.directory.write().unwrap_or_else(PoisonError::into_inner);
        change(&mut directory);
        directory.take_woken()
    }

    /// A namespace's owner or state changed: the policies in it are judged again.
    fn namespaces_changed(&self, change: impl FnOnce(&mut TenantDirectory)) -> BTreeSet<String> {
        let woken = self.change_directory(change);
        if !woken.is_empty() {
            self.judge_again.notify_one();
        }
        woken
    }

    /// A namespace this controller just created or read live: recorded now, so the next
    /// reconcile does not wait for the watch to report it.
    pub fn saw_namespace(&self, kind: &ManagedKind, metadata: &ObjectMeta) {
        let seen = seen(kind, metadata, None);
        let entry = namespace_entry(&seen);
        let mut woken = self.cache().saw(seen);
        woken.extend(self.namespaces_changed(|d| d.apply(entry)));
        self.wake(woken);
    }

    /// A Tenant was written: if it is new or grants other platform namespaces, the verdicts on
    /// the policies Palisade did not write are computed again. Called before the directory takes
    /// the new version, so the directory still holds the one before.
    fn tenant_seen(&self, tenant: &Tenant) {
        let name = tenant.metadata.name.as_deref().unwrap_or_default();
        if tenant_changes_verdicts(self.directory().tenant(name), tenant) {
            self.judge_again.notify_one();
        }
    }

    /// Forgets every object of a kind no longer watched; wakes their tenants.
    fn forget_kind(&self, kind: &ManagedKind) {
        let woken = {
            let mut cache = self.cache();
            cache.relist_started(kind.api_version, kind.kind);
            cache.relist_done(kind.api_version, kind.kind)
        };
        self.wake(woken);
    }
}

/// What a watch reports about an object, reduced to what the cache keeps.
pub fn seen(kind: &ManagedKind, metadata: &ObjectMeta, data: Option<&Value>) -> Seen {
    let labels = metadata.labels.as_ref();
    let label = |name: &str| labels.and_then(|l| l.get(name)).cloned();
    let quota_used = data
        .filter(|_| is_quota(kind))
        .and_then(|d| d.pointer("/status/used"))
        .and_then(|used| serde_json::from_value(used.clone()).ok());
    Seen {
        key: ObjectKey::new(
            kind.api_version,
            kind.kind,
            metadata.namespace.as_deref(),
            metadata.name.as_deref().unwrap_or_default(),
        ),
        tenant: label(labels::TENANT),
        managed: label(labels::MANAGED_BY).as_deref() == Some(labels::MANAGED_BY_VALUE),
        fingerprint: fingerprint(kind, metadata, data),
        quota_used,
        claimed: claimed(metadata),
        terminating: kind.kind == "Namespace" && metadata.deletion_timestamp.is_some(),
    }
}

fn namespace_entry(seen: &Seen) -> NamespaceEntry {
    NamespaceEntry {
        name: seen.key.name.clone(),
        tenant: seen.tenant.clone(),
        terminating: seen.terminating,
    }
}

/// The manifest hash of the `palisade.dev/applied` annotation, if only Palisade wrote the object
/// (status writers aside): any other writer shows in managedFields, and its edit may have
/// changed what Palisade set.
fn claimed(metadata: &ObjectMeta) -> Option<u64> {
    let only_palisade = metadata.managed_fields.iter().flatten().all(|entry| {
        entry.manager.as_deref() == Some(crate::FIELD_MANAGER)
            || entry.subresource.as_deref().is_some_and(|s| !s.is_empty())
    });
    if !only_palisade {
        return None;
    }
    let annotation = metadata.annotations.as_ref()?.get(labels::APPLIED_HASH)?;
    u64::from_str_radix(annotation, 16).ok()
}

/// The fingerprint of a live object. A quota's status changes with every pod, so a quota is
/// fingerprinted by what Palisade writes; everything else by its resourceVersion, which the API
/// server changes on every write and leaves alone when an apply changes nothing.
pub fn fingerprint(kind: &ManagedKind, metadata: &ObjectMeta, data: Option<&Value>) -> u64 {
    if is_quota(kind) {
        let spec = data.and_then(|d| d.get("spec"));
        fingerprint_of(&(&metadata.labels, &metadata.annotations, spec))
    } else {
        fingerprint_of(&metadata.resource_version)
    }
}

fn is_quota(kind: &ManagedKind) -> bool {
    kind.api_version == "v1" && kind.kind == "ResourceQuota"
}

fn is_namespace(kind: &ManagedKind) -> bool {
    kind.api_version == "v1" && kind.kind == "Namespace"
}

/// Objects of one managed kind, into the cache (and, for namespaces, the directory). A relist
/// streams into the cache, which marks what it sees and forgets the rest at the end: 40,000
/// managed objects are never held twice.
struct ManagedSink {
    shared: Arc<Shared>,
    kind: &'static ManagedKind,
    /// The namespaces of a relist in progress, for the directory (a few per tenant).
    relisted_namespaces: Mutex<Vec<NamespaceEntry>>,
}

impl ManagedSink {
    fn relisted_namespaces(&self) -> MutexGuard<'_, Vec<NamespaceEntry>> {
        self.relisted_namespaces.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StreamingReset<Seen> for ManagedSink {
    fn relist_started(&self) {
        self.relisted_namespaces().clear();
        self.shared
            .cache()
            .relist_started(self.kind.api_version, self.kind.kind);
    }

    fn relisted(&self, seen: Seen) {
        if is_namespace(self.kind) {
            self.relisted_namespaces().push(namespace_entry(&seen));
        }
        self.shared.cache().relisted(seen);
    }

    fn relist_done(&self) {
        let mut woken = self.shared.cache().relist_done(self.kind.api_version, self.kind.kind);
        if is_namespace(self.kind) {
            let entries = std::mem::take(&mut *self.relisted_namespaces());
            woken.extend(self.shared.namespaces_changed(|d| d.reset(entries)));
        }
        self.shared.wake(woken);
    }
}

impl Sink<Seen> for ManagedSink {
    fn apply(&self, seen: Seen) {
        let entry = is_namespace(self.kind).then(|| namespace_entry(&seen));
        let mut woken = self.shared.cache().saw(seen);
        if let Some(entry) = entry {
            woken.extend(self.shared.namespaces_changed(|d| d.apply(entry)));
        }
        self.shared.wake(woken);
    }

    fn delete(&self, seen: Seen) {
        let entry = is_namespace(self.kind).then(|| namespace_entry(&seen));
        let mut woken = self.shared.cache().deleted(&seen.key);
        if let Some(entry) = entry {
            woken.extend(self.shared.namespaces_changed(|d| d.delete(entry)));
        }
        self.shared.wake(woken);
    }

    fn reset(&self, listed: Vec<Seen>) {
        self.relist_started();
        for seen in listed {
            self.relisted(seen);
        }
        self.relist_done();
    }

    fn streaming(&self) -> Option<&dyn StreamingReset<Seen>> {
        Some(self)
    }
}

/// Tenants, into kube-runtime's store, then (the store's own copy, shared) into the directory,
/// which says which other tenants each change concerns; the tenant itself and those are queued
/// for reconcile by name. A relist streams: only the names are held until it ends.
pub struct TenantSink {
    shared: Arc<Shared>,
    store: Mutex<Writer<Tenant>>,
    /// The names of a relist in progress.
    relisted: Mutex<Vec<String>>,
}

impl TenantSink {
    pub fn new(shared: Arc<Shared>, store: Writer<Tenant>) -> Self {
        TenantSink {
            shared,
            store: Mutex::new(store),
            relisted: Mutex::default(),
        }
    }

    fn store(&self, event: &watcher::Event<Tenant>) {
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .apply_watcher_event(event);
    }

    /// The store's copy of `name`.
    fn stored(&self, name: &str) -> Option<Arc<Tenant>> {
        self.shared.tenants().get(&ObjectRef::new(name))
    }

    fn relisted(&self) -> MutexGuard<'_, Vec<String>> {
        self.relisted.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink<Tenant> for TenantSink {
    fn apply(&self, tenant: Tenant) {
        let name = tenant.name_any();
        self.store(&watcher::Event::Apply(tenant));
        let Some(stored) = self.stored(&name) else {
            return;
        };
        self.shared.tenant_seen(&stored);
        self.shared.change_inventory_and_wake(|i| i.tenant_applied(&stored));
        let mut woken = self.shared.change_directory(|d| d.apply(stored));
        woken.insert(name);
        self.shared.wake(woken);
    }

    fn delete(&self, tenant: Tenant) {
        self.store(&watcher::Event::Delete(tenant.clone()));
        self.shared
            .change_inventory_and_wake(|i| i.tenant_deleted(&tenant.name_any()));
        let woken = self.shared.change_directory(|d| d.delete(tenant));
        self.shared.wake(woken);
    }

    fn reset(&self, tenants: Vec<Tenant>) {
        self.relist_started();
        for tenant in tenants {
            StreamingReset::relisted(self, tenant);
        }
        self.relist_done();
    }

    fn streaming(&self) -> Option<&dyn StreamingReset<Tenant>> {
        Some(self)
    }
}

impl StreamingReset<Tenant> for TenantSink {
    fn relist_started(&self) {
        self.relisted().clear();
        self.store(&watcher::Event::Init);
    }

    fn relisted(&self, tenant: Tenant) {
        self.relisted().push(tenant.name_any());
        self.store(&watcher::Event::InitApply(tenant));
    }

    fn relist_done(&self) {
        self.store(&watcher::Event::InitDone);
        let names = std::mem::take(&mut *self.relisted());
        let stored: Vec<Arc<Tenant>> = names.iter().filter_map(|name| self.stored(name)).collect();
        for tenant in &stored {
            self.shared.tenant_seen(tenant);
        }
        self.shared
            .change_inventory_and_wake(|i| i.tenants_reset(stored.iter().map(AsRef::as_ref)));
        let mut woken = self.shared.change_directory(|d| d.reset(stored));
        woken.extend(names);
        self.shared.wake(woken);
    }
}

/// Starts the Tenant watch. Tenants are kept without managedFields: half of a Tenant's size,
/// never read.
pub fn watch_tenants(driver: &Driver, client: &Client, sink: TenantSink) -> WatchTask {
    let strip = |mut tenant: Tenant| {
        tenant.managed_fields_mut().clear();
        tenant
    };
    let api = Api::<Tenant>::all(client.clone());
    driver.watch(
        "Tenant",
        Needed::Required,
        api,
        watcher::Config::default(),
        strip,
        vec![Arc::new(sink)],
    )
}

/// The running watches of managed kinds, by kind.
pub struct Watches {
    driver: Driver,
    running: BTreeMap<(&'static str, &'static str), WatchTask>,
}

impl Watches {
    pub fn new(driver: Driver) -> Self {
        Watches {
            driver,
            running: BTreeMap::new(),
        }
    }

    /// Starts a watch for each of `kinds` not watched yet and stops those no longer served (their
    /// objects leave the cache). Returns the names of the started watches, for
    /// [`palisade_view::driver::Synced::listed`].
    pub fn ensure(&mut self, client: &Client, kinds: &[&'static ManagedKind], shared: &Arc<Shared>) -> Vec<String> {
        let wanted: BTreeSet<(&str, &str)> = kinds.iter().map(|k| (k.api_version, k.kind)).collect();
        let stopped: Vec<(&str, &str)> = self
            .running
            .keys()
            .filter(|id| !wanted.contains(*id))
            .copied()
            .collect();
        for id in stopped {
            self.running.remove(&id);
            if let Some(kind) = crate::kinds::lookup(id.0, id.1) {
                shared.forget_kind(kind);
            }
            tracing::info!(api_version = id.0, kind = id.1, "no longer served; stopped watching it");
        }
        let mut started = Vec::new();
        for kind in kinds {
            let id = (kind.api_version, kind.kind);
            if self.running.contains_key(&id) {
                continue;
            }
            self.running.insert(id, self.watch_kind(client, kind, shared));
            started.push(kind.describe());
        }
        started
    }

    fn watch_kind(&self, client: &Client, kind: &'static ManagedKind, shared: &Arc<Shared>) -> WatchTask {
        let resource = kind.api_resource();
        // Namespaces: every one bound to a tenant, adopted ones too. Other kinds: what Palisade made.
        let selector = if is_namespace(kind) {
            labels::TENANT.to_string()
        } else {
            format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE)
        };
        let config = watcher::Config::default().labels(&selector);
        let sink: Arc<dyn Sink<Seen>> = Arc::new(ManagedSink {
            shared: shared.clone(),
            kind,
            relisted_namespaces: Mutex::default(),
        });
        let name = kind.describe();
        if is_quota(kind) {
            let api = Api::<DynamicObject>::all_with(client.clone(), &resource);
            let reduce = move |o: DynamicObject| seen(kind, &o.metadata, Some(&o.data));
            self.driver
                .watch(&name, Needed::Required, api, config, reduce, vec![sink])
        } else {
            // An Api of PartialObjectMeta asks for metadata only.
            let api = Api::<PartialObjectMeta<DynamicObject>>::all_with(client.clone(), &resource);
            let reduce = move |o: PartialObjectMeta<DynamicObject>| seen(kind, &o.metadata, None);
            self.driver
                .watch(&name, Needed::Required, api, config, reduce, vec![sink])
        }
    }
}

/// The inventory watches feed the shared inventory, and wake the tenants whose view changed.
impl palisade_view::inventory_watch::InventoryHolder for Shared {
    type Inventory = Inventory;
    fn change_inventory(&self, change: impl FnOnce(&mut Inventory)) {
        self.change_inventory_and_wake(change);
    }
}
