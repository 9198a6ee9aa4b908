//! What exists at cluster scope for the owners' views (nodes and their labels, class names,
//! PersistentVolumes and the namespaces of their claims), one change at a time. The controller
//! keeps it to render the owners' RBAC; the proxy keeps it to know which names make up a user's
//! view of nodes, classes and volumes. Both are fed by `inventory_watch::watch_inventory` (feature `driver`).

use std::collections::{BTreeMap, BTreeSet};

use palisade_tenancy::ClusterInventory;
use palisade_tenancy::render::ClassKind;

pub type Labels = BTreeMap<String, String>;

/// The changes a watch of nodes, volumes and classes makes. A `*_reset` says: these are all of
/// them now (a relist).
pub trait InventoryUpdates {
    fn node_applied(&mut self, name: String, labels: Labels);
    fn node_deleted(&mut self, name: &str);
    fn nodes_reset(&mut self, nodes: Vec<(String, Labels)>);
    fn class_applied(&mut self, kind: ClassKind, name: String);
    fn class_deleted(&mut self, kind: ClassKind, name: &str);
    fn classes_reset(&mut self, kind: ClassKind, names: BTreeSet<String>);
    /// A PersistentVolume whose claim is in `namespace` (`None`: it has no claim).
    fn volume_applied(&mut self, name: String, namespace: Option<String>);
    fn volume_deleted(&mut self, name: &str);
    fn volumes_reset(&mut self, volumes: Vec<(String, Option<String>)>);
}

/// The plain inventory, for holders that need no more than the facts.
impl InventoryUpdates for ClusterInventory {
    fn node_applied(&mut self, name: String, labels: Labels) {
        self.nodes.insert(name, labels);
    }
    fn node_deleted(&mut self, name: &str) {
        self.nodes.remove(name);
    }
    fn nodes_reset(&mut self, nodes: Vec<(String, Labels)>) {
        self.nodes = nodes.into_iter().collect();
    }
    fn class_applied(&mut self, kind: ClassKind, name: String) {
        self.classes.entry(kind).or_default().insert(name);
    }
    fn class_deleted(&mut self, kind: ClassKind, name: &str) {
        if let Some(names) = self.classes.get_mut(&kind) {
            names.remove(name);
        }
    }
    fn classes_reset(&mut self, kind: ClassKind, names: BTreeSet<String>) {
        self.classes.insert(kind, names);
    }
    fn volume_applied(&mut self, name: String, namespace: Option<String>) {
        match namespace {
            Some(namespace) => self.volumes.insert(name, namespace),
            None => self.volumes.remove(&name),
        };
    }
    fn volume_deleted(&mut self, name: &str) {
        self.volumes.remove(name);
    }
    fn volumes_reset(&mut self, volumes: Vec<(String, Option<String>)>) {
        self.volumes = volumes
            .into_iter()
            .filter_map(|(name, namespace)| namespace.map(|ns| (name, ns)))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_inventory_follows_applies_deletes_and_relists() {
        let mut inventory = ClusterInventory::default();
        inventory.node_applied("n1".into(), Labels::from([("zone".into(), "a".into())]));
        inventory.node_applied("n2".into(), Labels::new());
        inventory.node_deleted("n2");
        assert_eq!(inventory.nodes.keys().collect::<Vec<_>>(), ["n1"]);
        inventory.nodes_reset(vec![("n3".into(), Labels::new())]);
        assert_eq!(inventory.nodes.keys().collect::<Vec<_>>(), ["n3"]);

        inventory.class_applied(ClassKind::Storage, "fast".into());
        inventory.class_applied(ClassKind::Storage, "slow".into());
        inventory.class_deleted(ClassKind::Storage, "slow");
        assert_eq!(
            inventory.classes[&ClassKind::Storage],
            BTreeSet::from(["fast".to_string()])
        );
        inventory.classes_reset(ClassKind::Storage, BTreeSet::new());
        assert!(inventory.classes[&ClassKind::Storage].is_empty());

        inventory.volume_applied("pv1".into(), Some("team-a".into()));
        inventory.volume_applied("pv2".into(), Some("team-b".into()));
        inventory.volume_applied("pv2".into(), None);
        assert_eq!(
            inventory.volumes.keys().collect::<Vec<_>>(),
            ["pv1"],
            "a released volume leaves"
        );
        inventory.volumes_reset(vec![("pv9".into(), Some("x".into())), ("pv8".into(), None)]);
        assert_eq!(inventory.volumes.keys().collect::<Vec<_>>(), ["pv9"]);
        inventory.volume_deleted("pv9");
        assert!(inventory.volumes.is_empty());
    }
}
