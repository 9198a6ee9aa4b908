//! The proxy's view of the cluster: admission's [`Snapshot`] (tenants and namespaces), kept by
//! the same `palisade-view` driver and `Index` code as the webhook, read with the proxy's own
//! rights. It decides *which* names a user's view is made of, never what they contain: every
//! object shown is read again as the user.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::runtime::watcher;
use kube::{Api, Client};
use palisade_admission::{AdmissionConfig, ClusterView, Requester, Snapshot};
use palisade_api::Tenant;
use palisade_tenancy::ClusterInventory;
use palisade_tenancy::render::{ClassKind, VisibleNames, visible_cluster_objects};
use palisade_view::driver::{Driver, IndexHolder, IndexSink, Needed, Sink, Synced, WatchMetrics, WatchTask};
use palisade_view::inventory::{InventoryUpdates, Labels};
use palisade_view::inventory_watch::{InventoryHolder, watch_inventory};
use palisade_view::{Binding, Index as _, Memberships};

use crate::identity::Identity;

use crate::plan::{Scope, widen};

pub struct ProxyView {
    snapshot: RwLock<Snapshot>,
    /// Nodes, classes and volumes: which of them a user's view holds.
    inventory: RwLock<ClusterInventory>,
    /// Where RoleBindings name whom: the tenant namespaces of users who hold a role there.
    members: RwLock<Memberships>,
    synced: Synced,
    watch_metrics: WatchMetrics,
    /// Bumped on every change, so that open watches recompute who sees what.
    changed: tokio::sync::watch::Sender<u64>,
    /// Only the identity rules of admission are used (who owns what), not its exemptions:
    /// an administrator who owns a tenant sees the tenant view.
    config: AdmissionConfig,
}

impl Default for ProxyView {
    fn default() -> Self {
        ProxyView {
            snapshot: RwLock::default(),
            inventory: RwLock::default(),
            members: RwLock::default(),
            synced: Synced::default(),
            watch_metrics: WatchMetrics::default(),
            changed: tokio::sync::watch::channel(0).0,
            config: AdmissionConfig::default(),
        }
    }
}

impl ProxyView {
    /// The tenants `identity` acts for (owner by user, group or ServiceAccount; a
    /// ServiceAccount of a tenant namespace), decided by admission's [`Requester`], the code
    /// the webhook uses; those tenants' namespaces; and the cluster-scoped objects they may
    /// see, decided by the function the controller renders the owners' RBAC from. A user who
    /// holds a role (a RoleBinding names them or their group) in tenant namespaces has those
    /// namespaces in the view too: the API server decides what they may read there.
    pub fn scope(&self, identity: &Identity) -> Scope {
        let snapshot = self.snapshot.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let inventory = self.inventory.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = self
            .members
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .namespaces_of(&identity.username, &identity.groups);
        let requester = Requester::new(&identity.user_info(), &self.config);
        let tenants: Vec<String> = requester.tenants(&*snapshot).into_iter().map(str::to_string).collect();
        let mut namespaces = Vec::new();
        let mut visible = VisibleNames::nothing();
        for name in &tenants {
            let own = snapshot.namespaces_of(name);
            if let Some(tenant) = snapshot.tenant(name) {
                widen(&mut visible, visible_cluster_objects(tenant, &own, &inventory));
            }
            namespaces.extend(own);
        }
        namespaces.extend(held.into_iter().filter(|ns| snapshot.tenant_of_namespace(ns).is_some()));
        namespaces.sort();
        namespaces.dedup();
        Scope {
            tenants,
            namespaces,
            visible,
        }
    }

    /// A receiver that sees every change to the view.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn synced(&self) -> &Synced {
        &self.synced
    }

    pub fn watch_metrics(&self) -> &WatchMetrics {
        &self.watch_metrics
    }

    fn write(&self, change: impl FnOnce(&mut Snapshot)) {
        {
            let mut guard = self.snapshot.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            change(&mut guard);
        }
        self.changed.send_modify(|generation| *generation += 1);
    }

    /// Replaces the whole view (unit tests).
    pub fn replace(&self, snapshot: Snapshot) {
        self.write(|current| *current = snapshot);
        self.synced.force();
    }
}

/// RoleBindings, reduced to their subjects, into the view; open watches re-plan on every change.
struct MembersSink(Arc<ProxyView>);

impl Sink<Binding> for MembersSink {
    fn apply(&self, binding: Binding) {
        self.0.change_members(|m| m.apply(binding));
    }
    fn delete(&self, binding: Binding) {
        self.0.change_members(|m| m.delete(binding));
    }
    fn reset(&self, bindings: Vec<Binding>) {
        self.0.change_members(|m| m.reset(bindings));
    }
}

impl ProxyView {
    fn change_members(&self, change: impl FnOnce(&mut Memberships)) {
        {
            let mut members = self.members.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            change(&mut members);
        }
        self.changed.send_modify(|generation| *generation += 1);
    }
}

/// The shared inventory watches deliver here. Open watches re-plan only when a fact changed:
/// most node events are status updates that change no label.
impl InventoryHolder for ProxyView {
    type Inventory = Tracked;
    fn change_inventory(&self, change: impl FnOnce(&mut Tracked)) {
        let changed = {
            let mut inventory = self
                .inventory
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut tracked = Tracked {
                inventory: std::mem::take(&mut *inventory),
                changed: false,
            };
            change(&mut tracked);
            *inventory = tracked.inventory;
            tracked.changed
        };
        if changed {
            self.changed.send_modify(|generation| *generation += 1);
        }
    }
}

/// The inventory, and whether a change of it changed anything.
pub struct Tracked {
    inventory: ClusterInventory,
    changed: bool,
}

impl Tracked {
    fn note(&mut self, changed: bool) {
        self.changed |= changed;
    }
}

impl InventoryUpdates for Tracked {
    fn node_applied(&mut self, name: String, labels: Labels) {
        let same = self.inventory.nodes.get(&name) == Some(&labels);
        self.note(!same);
        self.inventory.node_applied(name, labels);
    }
    fn node_deleted(&mut self, name: &str) {
        self.note(self.inventory.nodes.contains_key(name));
        self.inventory.node_deleted(name);
    }
    fn nodes_reset(&mut self, nodes: Vec<(String, Labels)>) {
        let before = std::mem::take(&mut self.inventory.nodes);
        self.inventory.nodes_reset(nodes);
        self.note(before != self.inventory.nodes);
    }
    fn class_applied(&mut self, kind: ClassKind, name: String) {
        let known = self.inventory.classes.get(&kind).is_some_and(|n| n.contains(&name));
        self.note(!known);
        self.inventory.class_applied(kind, name);
    }
    fn class_deleted(&mut self, kind: ClassKind, name: &str) {
        let known = self.inventory.classes.get(&kind).is_some_and(|n| n.contains(name));
        self.note(known);
        self.inventory.class_deleted(kind, name);
    }
    fn classes_reset(&mut self, kind: ClassKind, names: BTreeSet<String>) {
        self.note(self.inventory.classes.get(&kind) != Some(&names));
        self.inventory.classes_reset(kind, names);
    }
    fn volume_applied(&mut self, name: String, namespace: Option<String>) {
        self.note(self.inventory.volumes.get(&name) != namespace.as_ref());
        self.inventory.volume_applied(name, namespace);
    }
    fn volume_deleted(&mut self, name: &str) {
        self.note(self.inventory.volumes.contains_key(name));
        self.inventory.volume_deleted(name);
    }
    fn volumes_reset(&mut self, volumes: Vec<(String, Option<String>)>) {
        let before = std::mem::take(&mut self.inventory.volumes);
        self.inventory.volumes_reset(volumes);
        self.note(before != self.inventory.volumes);
    }
}

/// Tenants and namespaces into the snapshot; open watches re-plan on every change.
impl IndexHolder for ProxyView {
    type State = Snapshot;
    fn change(&self, change: impl FnOnce(&mut Snapshot)) {
        self.write(change);
    }
}

/// Starts the watches that keep `view` current; they stop when the tasks are dropped.
pub fn start_watches(client: &Client, view: &Arc<ProxyView>) -> Vec<WatchTask> {
    let driver = Driver::new(view.synced.clone(), view.watch_metrics.clone());
    let tenants = |mut tenant: Tenant| {
        tenant.metadata.managed_fields = None;
        tenant
    };
    let namespaces = |mut namespace: Namespace| {
        namespace.metadata.managed_fields = None;
        namespace
    };
    let (mut watches, _) = watch_inventory(&driver, client, view);
    watches.extend([
        driver.watch(
            "Tenant",
            Needed::Required,
            Api::all(client.clone()),
            watcher::Config::default(),
            tenants,
            IndexSink::of(view),
        ),
        driver.watch(
            "Namespace",
            Needed::Required,
            Api::<Namespace>::all(client.clone()),
            watcher::Config::default(),
            namespaces,
            IndexSink::of(view),
        ),
        driver.watch(
            "RoleBinding",
            Needed::Required,
            Api::<RoleBinding>::all(client.clone()),
            watcher::Config::default(),
            Binding::from,
            vec![Arc::new(MembersSink(view.clone()))],
        ),
    ]);
    watches
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use palisade_api::{Owner, SubjectKind, TenantSpec};

    use super::*;

    fn tenant(name: &str, owner_kind: SubjectKind, owner: &str) -> Tenant {
        let mut spec: TenantSpec = serde_json::from_value(serde_json::json!({"owners": []})).unwrap();
        let mut o: Owner = serde_json::from_value(serde_json::json!({"kind": "User", "name": owner})).unwrap();
        o.kind = owner_kind;
        spec.owners.push(o);
        Tenant::new(name, spec)
    }

    fn who(username: &str, groups: &[&str]) -> Identity {
        Identity {
            username: username.into(),
            uid: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn scope_follows_owners_groups_and_service_account_homes() {
        let view = ProxyView::default();
        view.replace(
            Snapshot::default()
                .with_tenant(tenant("a", SubjectKind::User, "alice"))
                .with_tenant(tenant("b", SubjectKind::Group, "b-devs"))
                .with_namespace("a-1", Some("a"))
                .with_namespace("a-2", Some("a"))
                .with_namespace("b-1", Some("b"))
                .with_namespace("kube-system", None),
        );
        assert_eq!(view.scope(&who("alice", &[])).namespaces, ["a-1", "a-2"]);
        assert_eq!(view.scope(&who("carol", &["b-devs"])).tenants, ["b"]);
        let deployer = view.scope(&who("system:serviceaccount:b-1:deployer", &[]));
        assert_eq!(
            (deployer.tenants.as_slice(), deployer.namespaces.as_slice()),
            (&["b".to_string()][..], &["b-1".to_string()][..])
        );
        // The same ServiceAccount name in another tenant's namespace is someone else.
        assert_eq!(
            view.scope(&who("system:serviceaccount:a-1:deployer", &[])).tenants,
            ["a"]
        );
        assert!(!view.scope(&who("mallory", &["system:authenticated"])).is_tenant_user());
    }

    #[test]
    fn only_inventory_changes_that_change_a_fact_are_announced() {
        let view = ProxyView::default();
        let mut changes = view.subscribe();
        let labels = Labels::from([("pool".to_string(), "a".to_string())]);
        view.change_inventory(|i| i.node_applied("n1".into(), labels.clone()));
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        // A status update: same labels.
        view.change_inventory(|i| i.node_applied("n1".into(), labels.clone()));
        view.change_inventory(|i| i.volume_applied("pv".into(), None));
        view.change_inventory(|i| i.class_deleted(ClassKind::Storage, "none"));
        assert!(!changes.has_changed().unwrap());
        view.change_inventory(|i| i.class_applied(ClassKind::Storage, "fast".into()));
        assert!(changes.has_changed().unwrap());
    }

    #[test]
    fn every_change_is_announced() {
        let view = ProxyView::default();
        let mut changes = view.subscribe();
        view.replace(Snapshot::default());
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        view.change(|snapshot| snapshot.apply(Namespace::default()));
        assert!(changes.has_changed().unwrap());
    }
}
