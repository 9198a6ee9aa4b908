//! What exists at cluster scope for the owners' views (nodes and their labels, class names,
//! PersistentVolumes and the namespaces of their claims), kept from watches, and which tenants
//! each change concerns. Pure: the watches feed it in `inventory_watch.rs`.
//!
//! A change wakes exactly the tenants whose [`visible_cluster_objects`] it changes, without
//! looking at every tenant (1,000 of them is the target):
//!
//! - a node event whose labels did not change (most are status updates) costs one map lookup;
//!   one that did is tested against each distinct node selector, not each tenant;
//! - a class appearing or going changes only tenants whose allow-list for that kind has a
//!   `prefix*` pattern matching it: unrestricted kinds show every class anyway, and exact names
//!   are shown whether the class exists or not;
//! - a volume whose claim moves changes what the holders of the namespaces it left and joined
//!   see, if they differ; who holds a namespace is the tenant directory's answer (see
//!   [`Woken::volumes`]).
//!
//! [`visible_cluster_objects`]: palisade_tenancy::render::visible_cluster_objects

use std::collections::{BTreeMap, BTreeSet};

use palisade_api::{ClassAllowList, Tenant};
use palisade_tenancy::ClusterInventory;
use palisade_tenancy::render::{ClassKind, MarkedPolicies, MarkedPolicy, node_selected};

type Labels = BTreeMap<String, String>;

/// What of a tenant's spec a change of the inventory can concern.
#[derive(Debug, Default, PartialEq)]
struct Interest {
    /// `spec.workloads.nodeSelector`; empty: the tenant sees no node, whatever happens.
    selector: Labels,
    /// The allow-lists that hold a `prefix*` pattern, by kind.
    patterned: BTreeMap<ClassKind, ClassAllowList>,
}

impl Interest {
    fn of(tenant: &Tenant) -> Interest {
        let patterned = ClassKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let list = kind.allow_list(&tenant.spec)?;
                list.allowed
                    .iter()
                    .any(|entry| entry.ends_with('*'))
                    .then(|| (kind, list.clone()))
            })
            .collect();
        Interest {
            selector: tenant.spec.workloads.node_selector.clone(),
            patterned,
        }
    }

    fn is_empty(&self) -> bool {
        self.selector.is_empty() && self.patterned.is_empty()
    }
}

/// Whether a class named `name` coming or going changes what a tenant with `list` sees: it must
/// be allowed, and not by an exact name (those are shown whether the class exists or not).
fn class_concerns(list: &ClassAllowList, name: &str) -> bool {
    list.allows(name) && !list.allowed.iter().any(|entry| entry == name)
}

/// What [`Inventory::take_woken`] hands over.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Woken {
    pub tenants: BTreeSet<String>,
    /// Volumes whose claim moved, as `(namespace before, namespace after)` (`None`: no claim,
    /// or no volume): the holders of the two namespaces see other volumes now, unless they are
    /// the same tenant.
    pub volumes: BTreeSet<(Option<String>, Option<String>)>,
    /// Every tenant: a tenant policy came, changed or went (each tenant has a binding of each).
    pub all: bool,
}

impl Woken {
    /// Every tenant to wake, with `owner_of` saying who holds a namespace.
    pub fn resolve<'a>(self, owner_of: impl Fn(&str) -> Option<&'a str>) -> BTreeSet<String> {
        let mut tenants = self.tenants;
        for (before, after) in &self.volumes {
            let (left, joined) = (
                before.as_deref().and_then(&owner_of),
                after.as_deref().and_then(&owner_of),
            );
            if left != joined {
                tenants.extend(left.into_iter().chain(joined).map(str::to_string));
            }
        }
        tenants
    }
}

/// The inventory, with the tenants' interest in it.
#[derive(Debug, Default)]
pub struct Inventory {
    cluster: ClusterInventory,
    /// Each distinct non-empty node selector → the tenants with it.
    selectors: BTreeMap<Labels, BTreeSet<String>>,
    /// Per kind, tenant → its allow-list, for the lists with a pattern.
    patterned: BTreeMap<ClassKind, BTreeMap<String, ClassAllowList>>,
    /// Tenant → what it is indexed under above, to take it out again.
    interests: BTreeMap<String, Interest>,
    woken: Woken,
}

impl Inventory {
    /// What the renderer reads.
    pub fn cluster(&self) -> &ClusterInventory {
        &self.cluster
    }

    /// The tenants to wake, and the volume moves to resolve, since the last call.
    pub fn take_woken(&mut self) -> Woken {
        std::mem::take(&mut self.woken)
    }

    /// A Tenant was written. It is not woken from here: its own change wakes it.
    pub fn tenant_applied(&mut self, tenant: &Tenant) {
        let name = tenant.metadata.name.clone().unwrap_or_default();
        let interest = Interest::of(tenant);
        if self.interests.get(&name) == Some(&interest) {
            return;
        }
        self.tenant_deleted(&name);
        if interest.is_empty() {
            return;
        }
        if !interest.selector.is_empty() {
            self.selectors
                .entry(interest.selector.clone())
                .or_default()
                .insert(name.clone());
        }
        for (kind, list) in &interest.patterned {
            self.patterned
                .entry(*kind)
                .or_default()
                .insert(name.clone(), list.clone());
        }
        self.interests.insert(name, interest);
    }

    pub fn tenant_deleted(&mut self, name: &str) {
        let Some(interest) = self.interests.remove(name) else {
            return;
        };
        if let Some(tenants) = self.selectors.get_mut(&interest.selector) {
            tenants.remove(name);
            if tenants.is_empty() {
                self.selectors.remove(&interest.selector);
            }
        }
        for kind in interest.patterned.keys() {
            if let Some(lists) = self.patterned.get_mut(kind) {
                lists.remove(name);
            }
        }
    }

    /// The Tenants were listed again: these are all of them.
    pub fn tenants_reset<'a>(&mut self, tenants: impl IntoIterator<Item = &'a Tenant>) {
        self.selectors.clear();
        self.patterned.clear();
        self.interests.clear();
        for tenant in tenants {
            self.tenant_applied(tenant);
        }
    }

    pub fn node_applied(&mut self, name: String, labels: Labels) {
        if self.cluster.nodes.get(&name) == Some(&labels) {
            return;
        }
        let before = self.cluster.nodes.insert(name, labels.clone());
        self.node_changed(before.as_ref(), Some(&labels));
    }

    pub fn node_deleted(&mut self, name: &str) {
        if let Some(before) = self.cluster.nodes.remove(name) {
            self.node_changed(Some(&before), None);
        }
    }

    /// The nodes were listed again: these are all of them.
    pub fn nodes_reset(&mut self, nodes: impl IntoIterator<Item = (String, Labels)>) {
        let mut before = std::mem::take(&mut self.cluster.nodes);
        for (name, labels) in nodes {
            let old = before.remove(&name);
            if old.as_ref() != Some(&labels) {
                self.node_changed(old.as_ref(), Some(&labels));
            }
            self.cluster.nodes.insert(name, labels);
        }
        for gone in before.values() {
            self.node_changed(Some(gone), None);
        }
    }

    /// Wakes the tenants whose selector matches one of `before` and `after` but not the other.
    fn node_changed(&mut self, before: Option<&Labels>, after: Option<&Labels>) {
        let matches = |selector: &Labels, labels: Option<&Labels>| labels.is_some_and(|l| node_selected(selector, l));
        for (selector, tenants) in &self.selectors {
            if matches(selector, before) != matches(selector, after) {
                self.woken.tenants.extend(tenants.iter().cloned());
            }
        }
    }

    pub fn class_applied(&mut self, kind: ClassKind, name: String) {
        if !self
            .cluster
            .classes
            .get(&kind)
            .is_some_and(|names| names.contains(&name))
        {
            self.class_changed(kind, &name);
            self.cluster.classes.entry(kind).or_default().insert(name);
        }
    }

    pub fn class_deleted(&mut self, kind: ClassKind, name: &str) {
        if self
            .cluster
            .classes
            .get_mut(&kind)
            .is_some_and(|names| names.remove(name))
        {
            self.class_changed(kind, name);
        }
    }

    /// The classes of `kind` were listed again: these are all of them.
    pub fn classes_reset(&mut self, kind: ClassKind, names: BTreeSet<String>) {
        let before = self.cluster.classes.remove(&kind).unwrap_or_default();
        for name in before.symmetric_difference(&names) {
            self.class_changed(kind, name);
        }
        self.cluster.classes.insert(kind, names);
    }

    /// A ValidatingAdmissionPolicy marked as a tenant policy was written: every tenant is woken
    /// if what the renderer reads of it changed (a status write changes nothing).
    pub fn policy_applied(&mut self, policy: MarkedPolicy) {
        if self.cluster.policies.get(&policy.name) != Some(&policy) {
            self.cluster.policies.insert(policy.name.clone(), policy);
            self.woken.all = true;
        }
    }

    /// A tenant policy was deleted or lost its marker: every tenant loses its binding.
    pub fn policy_deleted(&mut self, name: &str) {
        if self.cluster.policies.remove(name).is_some() {
            self.woken.all = true;
        }
    }

    /// The tenant policies were listed again: these are all of them.
    pub fn policies_reset(&mut self, policies: impl IntoIterator<Item = MarkedPolicy>) {
        let policies: MarkedPolicies = policies.into_iter().map(|p| (p.name.clone(), p)).collect();
        if self.cluster.policies != policies {
            self.cluster.policies = policies;
            self.woken.all = true;
        }
    }

    fn class_changed(&mut self, kind: ClassKind, name: &str) {
        let Some(lists) = self.patterned.get(&kind) else {
            return;
        };
        let concerned = lists
            .iter()
            .filter(|(_, list)| class_concerns(list, name))
            .map(|(tenant, _)| tenant.clone());
        self.woken.tenants.extend(concerned);
    }

    /// A PersistentVolume whose claim is in `namespace` (`None`: it has no claim).
    pub fn volume_applied(&mut self, name: String, namespace: Option<String>) {
        let before = match &namespace {
            Some(namespace) => self.cluster.volumes.insert(name, namespace.clone()),
            None => self.cluster.volumes.remove(&name),
        };
        self.volume_moved(before, namespace);
    }

    pub fn volume_deleted(&mut self, name: &str) {
        let before = self.cluster.volumes.remove(name);
        self.volume_moved(before, None);
    }

    /// The PersistentVolumes were listed again: these are all of them.
    pub fn volumes_reset(&mut self, volumes: impl IntoIterator<Item = (String, Option<String>)>) {
        let mut before = std::mem::take(&mut self.cluster.volumes);
        for (name, namespace) in volumes {
            self.volume_moved(before.remove(&name), namespace.clone());
            if let Some(namespace) = namespace {
                self.cluster.volumes.insert(name, namespace);
            }
        }
        for gone in before.into_values() {
            self.volume_moved(Some(gone), None);
        }
    }

    fn volume_moved(&mut self, before: Option<String>, after: Option<String>) {
        if before != after {
            self.woken.volumes.insert((before, after));
        }
    }
}

/// What the shared inventory watches deliver (`palisade_view::inventory_watch`).
impl palisade_view::inventory::InventoryUpdates for Inventory {
    fn node_applied(&mut self, name: String, labels: Labels) {
        Inventory::node_applied(self, name, labels);
    }
    fn node_deleted(&mut self, name: &str) {
        Inventory::node_deleted(self, name);
    }
    fn nodes_reset(&mut self, nodes: Vec<(String, Labels)>) {
        Inventory::nodes_reset(self, nodes);
    }
    fn class_applied(&mut self, kind: ClassKind, name: String) {
        Inventory::class_applied(self, kind, name);
    }
    fn class_deleted(&mut self, kind: ClassKind, name: &str) {
        Inventory::class_deleted(self, kind, name);
    }
    fn classes_reset(&mut self, kind: ClassKind, names: BTreeSet<String>) {
        Inventory::classes_reset(self, kind, names);
    }
    fn volume_applied(&mut self, name: String, namespace: Option<String>) {
        Inventory::volume_applied(self, name, namespace);
    }
    fn volume_deleted(&mut self, name: &str) {
        Inventory::volume_deleted(self, name);
    }
    fn volumes_reset(&mut self, volumes: Vec<(String, Option<String>)>) {
        Inventory::volumes_reset(self, volumes);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use palisade_tenancy::render::{VisibleNames, visible_cluster_objects};
    use serde_json::{Value, json};

    use super::*;

    fn tenant(name: &str, spec: Value) -> Tenant {
        let mut spec = spec;
        spec["owners"] = json!([{ "kind": "User", "name": "alice" }]);
        serde_json::from_value(json!({
            "apiVersion": "palisade.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": { "name": name },
            "spec": spec,
        }))
        .unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn names(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Tenants covering every way a spec can depend on the inventory, and one that cannot.
    fn tenants() -> Vec<Tenant> {
        vec![
            tenant("shop", json!({ "workloads": { "nodeSelector": { "pool": "shop" } } })),
            tenant(
                "shop-too",
                json!({ "workloads": { "nodeSelector": { "pool": "shop" } } }),
            ),
            tenant(
                "shop-a",
                json!({ "workloads": { "nodeSelector": { "pool": "shop", "zone": "a" } } }),
            ),
            tenant(
                "fast",
                json!({ "storage": { "classes": { "allowed": ["fast-*", "standard"] } } }),
            ),
            tenant(
                "exact",
                json!({ "storage": { "classes": { "allowed": ["fast-ssd"] } } }),
            ),
            tenant(
                "internal",
                json!({ "ingress": { "classes": { "allowed": ["int-*"] } }, "workloads": { "runtimeClasses": { "allowed": ["*"] } } }),
            ),
            tenant("plain", json!({})),
        ]
    }

    /// Who holds which namespace (fixed: namespace changes are the directory's to report).
    fn owner_of(namespace: &str) -> Option<&'static str> {
        match namespace {
            "shop-1" | "shop-2" => Some("shop"),
            "plain-1" => Some("plain"),
            _ => None,
        }
    }

    fn namespaces_of(tenant: &str) -> Vec<String> {
        ["shop-1", "shop-2", "plain-1", "nobody"]
            .into_iter()
            .filter(|ns| owner_of(ns) == Some(tenant))
            .map(str::to_string)
            .collect()
    }

    fn visible(tenants: &[Tenant], inventory: &Inventory) -> BTreeMap<String, VisibleNames> {
        tenants
            .iter()
            .map(|t| {
                let name = t.metadata.name.clone().unwrap();
                let visible = visible_cluster_objects(t, &namespaces_of(&name), inventory.cluster());
                (name, visible)
            })
            .collect()
    }

    type Event = (&'static str, Box<dyn Fn(&mut Inventory)>);

    fn events() -> Vec<Event> {
        let shop_a = || labels(&[("pool", "shop"), ("zone", "a")]);
        vec![
            (
                "a node for shop in zone a",
                Box::new(move |i| i.node_applied("n1".into(), shop_a())),
            ),
            (
                "the same labels again",
                Box::new(move |i| i.node_applied("n1".into(), shop_a())),
            ),
            (
                "moved to zone b",
                Box::new(|i| i.node_applied("n1".into(), labels(&[("pool", "shop"), ("zone", "b")]))),
            ),
            (
                "an unselected node",
                Box::new(|i| i.node_applied("n2".into(), labels(&[("pool", "gpu")]))),
            ),
            (
                "it joins shop",
                Box::new(|i| i.node_applied("n2".into(), labels(&[("pool", "shop")]))),
            ),
            ("a node deleted", Box::new(|i| i.node_deleted("n1"))),
            ("an unknown node deleted", Box::new(|i| i.node_deleted("n9"))),
            (
                "nodes relisted",
                Box::new(move |i| i.nodes_reset([("n2".into(), labels(&[("pool", "gpu")])), ("n3".into(), shop_a())])),
            ),
            (
                "a class a pattern allows",
                Box::new(|i| i.class_applied(ClassKind::Storage, "fast-nvme".into())),
            ),
            (
                "a class named exactly",
                Box::new(|i| i.class_applied(ClassKind::Storage, "fast-ssd".into())),
            ),
            (
                "a class named exactly beside a pattern",
                Box::new(|i| i.class_applied(ClassKind::Storage, "standard".into())),
            ),
            (
                "a class nobody restricts",
                Box::new(|i| i.class_applied(ClassKind::Priority, "high".into())),
            ),
            (
                "a class allowed by `*`",
                Box::new(|i| i.class_applied(ClassKind::Runtime, "gvisor".into())),
            ),
            (
                "an ingress class",
                Box::new(|i| i.class_applied(ClassKind::Ingress, "int-a".into())),
            ),
            (
                "a class seen again",
                Box::new(|i| i.class_applied(ClassKind::Storage, "fast-nvme".into())),
            ),
            (
                "a pattern's class deleted",
                Box::new(|i| i.class_deleted(ClassKind::Storage, "fast-nvme")),
            ),
            (
                "storage classes relisted",
                Box::new(|i| i.classes_reset(ClassKind::Storage, names(&["fast-ssd", "fast-x", "slow"]))),
            ),
            (
                "a volume claimed in shop",
                Box::new(|i| i.volume_applied("pv1".into(), Some("shop-1".into()))),
            ),
            (
                "its status changed",
                Box::new(|i| i.volume_applied("pv1".into(), Some("shop-1".into()))),
            ),
            (
                "claimed again within shop",
                Box::new(|i| i.volume_applied("pv1".into(), Some("shop-2".into()))),
            ),
            (
                "claimed by plain",
                Box::new(|i| i.volume_applied("pv1".into(), Some("plain-1".into()))),
            ),
            ("released", Box::new(|i| i.volume_applied("pv1".into(), None))),
            (
                "claimed where nobody is",
                Box::new(|i| i.volume_applied("pv2".into(), Some("nobody".into()))),
            ),
            (
                "claimed by shop",
                Box::new(|i| i.volume_applied("pv2".into(), Some("shop-1".into()))),
            ),
            ("deleted", Box::new(|i| i.volume_deleted("pv2"))),
            (
                "volumes relisted",
                Box::new(|i| i.volumes_reset([("pv3".into(), Some("plain-1".into())), ("pv4".into(), None)])),
            ),
        ]
    }

    /// Each event wakes exactly the tenants whose visible names it changes (the renderer's own
    /// function is the reference).
    #[test]
    fn events_wake_exactly_the_tenants_whose_view_changes() {
        let tenants = tenants();
        let mut inventory = Inventory::default();
        inventory.tenants_reset(&tenants);
        for (what, event) in events() {
            let before = visible(&tenants, &inventory);
            event(&mut inventory);
            let after = visible(&tenants, &inventory);
            let woken = inventory.take_woken().resolve(owner_of);
            let changed: BTreeSet<String> = before
                .keys()
                .filter(|t| before.get(*t) != after.get(*t))
                .cloned()
                .collect();
            assert_eq!(woken, changed, "{what}");
        }
    }

    #[test]
    fn a_tenant_changed_or_deleted_is_indexed_under_its_new_spec_only() {
        let mut inventory = Inventory::default();
        inventory.tenants_reset(&tenants());
        inventory.tenant_applied(&tenant(
            "shop",
            json!({ "workloads": { "nodeSelector": { "pool": "gpu" } } }),
        ));
        inventory.tenant_deleted("shop-too");
        inventory.tenant_applied(&tenant("fast", json!({})));
        inventory.node_applied("n1".into(), labels(&[("pool", "gpu")]));
        inventory.node_applied("n2".into(), labels(&[("pool", "shop")]));
        inventory.class_applied(ClassKind::Storage, "fast-1".into());
        assert_eq!(inventory.take_woken().tenants, names(&["shop"]));
        inventory.tenants_reset(&[]);
        inventory.node_applied("n1".into(), labels(&[("pool", "shop")]));
        assert_eq!(inventory.take_woken(), Woken::default());
        assert!(inventory.selectors.is_empty() && inventory.interests.is_empty());
    }
}
