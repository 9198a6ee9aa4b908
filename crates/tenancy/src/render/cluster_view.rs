//! Which cluster-scoped objects a tenant's owners may see, by name.
//!
//! Palisade's proxy never reads what it shows with its own rights: for each name it may show it
//! asks the API server *as the user* (`GET /api/v1/nodes/node-1`, or a list with
//! `fieldSelector=metadata.name=fast`), and RBAC decides. The owners' ClusterRole
//! ([`super::render_owner_cluster_rbac`]) therefore names exactly what this module computes, so
//! the API server, not the proxy, is what keeps a tenant from reading another tenant's objects.

use std::collections::{BTreeMap, BTreeSet};

use palisade_api::{ClassAllowList, Tenant, TenantSpec};

/// The cluster-scoped class kinds a Tenant restricts with an allow-list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClassKind {
    Storage,
    Ingress,
    Gateway,
    Priority,
    Runtime,
}

impl ClassKind {
    pub const ALL: [ClassKind; 5] = [
        ClassKind::Storage,
        ClassKind::Ingress,
        ClassKind::Gateway,
        ClassKind::Priority,
        ClassKind::Runtime,
    ];

    pub fn api_group(self) -> &'static str {
        match self {
            ClassKind::Storage => "storage.k8s.io",
            ClassKind::Ingress => "networking.k8s.io",
            ClassKind::Gateway => "gateway.networking.k8s.io",
            ClassKind::Priority => "scheduling.k8s.io",
            ClassKind::Runtime => "node.k8s.io",
        }
    }

    /// The plural resource name, as RBAC rules and URLs spell it.
    pub fn resource(self) -> &'static str {
        match self {
            ClassKind::Storage => "storageclasses",
            ClassKind::Ingress => "ingressclasses",
            ClassKind::Gateway => "gatewayclasses",
            ClassKind::Priority => "priorityclasses",
            ClassKind::Runtime => "runtimeclasses",
        }
    }

    /// The object kind (`StorageClass`, ...).
    pub fn kind(self) -> &'static str {
        match self {
            ClassKind::Storage => "StorageClass",
            ClassKind::Ingress => "IngressClass",
            ClassKind::Gateway => "GatewayClass",
            ClassKind::Priority => "PriorityClass",
            ClassKind::Runtime => "RuntimeClass",
        }
    }

    /// The Tenant's allow-list for this kind; `None` leaves the kind unrestricted.
    pub fn allow_list(self, spec: &TenantSpec) -> Option<&ClassAllowList> {
        match self {
            ClassKind::Storage => spec.storage.classes.as_ref(),
            ClassKind::Ingress => spec.ingress.classes.as_ref(),
            ClassKind::Gateway => spec.gateway.classes.as_ref(),
            ClassKind::Priority => spec.workloads.priority_classes.as_ref(),
            ClassKind::Runtime => spec.workloads.runtime_classes.as_ref(),
        }
    }
}

/// What exists at cluster scope, as far as views are concerned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterInventory {
    /// Node name → its labels.
    pub nodes: BTreeMap<String, BTreeMap<String, String>>,
    /// The names of the existing classes, per kind.
    pub classes: BTreeMap<ClassKind, BTreeSet<String>>,
    /// PersistentVolume name → the namespace of its `spec.claimRef` (bound or pre-bound).
    pub volumes: BTreeMap<String, String>,
    /// The ValidatingAdmissionPolicies marked as tenant policies: every tenant gets a binding
    /// of each bindable one (see [`super::policy_binding`]). Views do not use them.
    pub policies: super::MarkedPolicies,
}

/// Which objects of one kind may be seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Names {
    /// Every object of the kind, present and future.
    All,
    /// Exactly these names (an empty set: none).
    Only(BTreeSet<String>),
}

/// The names of each cluster-scoped kind a tenant may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisibleNames {
    pub nodes: Names,
    /// One entry for every [`ClassKind`].
    pub classes: BTreeMap<ClassKind, Names>,
    pub volumes: Names,
}

impl VisibleNames {
    /// No object of any cluster-scoped kind.
    pub fn nothing() -> VisibleNames {
        VisibleNames {
            nodes: Names::Only(BTreeSet::new()),
            classes: ClassKind::ALL
                .into_iter()
                .map(|kind| (kind, Names::Only(BTreeSet::new())))
                .collect(),
            volumes: Names::Only(BTreeSet::new()),
        }
    }
}

/// The cluster-scoped objects `tenant` (whose namespaces are `namespaces`) may see in
/// `inventory`:
///
/// - **Nodes**: those whose labels hold every pair of `spec.workloads.nodeSelector`, the nodes
///   its pods may run on. A tenant without a node selector sees none: its pods may land on any
///   node, but showing every node would show every tenant's images (node status lists the
///   images pulled on the node) and the whole cluster's layout.
/// - **Classes**, per kind: without an allow-list, all of them; with one, the existing classes
///   it allows, plus its exact names even when no such class exists yet (so the view does not
///   wait for the class to be created).
/// - **PersistentVolumes**: those whose `claimRef` is in one of `namespaces`; never all.
pub fn visible_cluster_objects(tenant: &Tenant, namespaces: &[String], inventory: &ClusterInventory) -> VisibleNames {
    let spec = &tenant.spec;
    let classes = ClassKind::ALL
        .into_iter()
        .map(|kind| {
            let existing = inventory.classes.get(&kind);
            (kind, visible_classes(kind.allow_list(spec), existing))
        })
        .collect();
    VisibleNames {
        nodes: Names::Only(selected_nodes(&spec.workloads.node_selector, &inventory.nodes)),
        classes,
        volumes: Names::Only(claimed_volumes(namespaces, &inventory.volumes)),
    }
}

/// Whether a node labelled `labels` is one a tenant with `selector` sees: only with a selector,
/// and then when the labels hold all of it.
pub fn node_selected(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(key, value)| labels.get(key) == Some(value))
}

fn selected_nodes(
    selector: &BTreeMap<String, String>,
    nodes: &BTreeMap<String, BTreeMap<String, String>>,
) -> BTreeSet<String> {
    if selector.is_empty() {
        return BTreeSet::new();
    }
    nodes
        .iter()
        .filter(|(_, labels)| node_selected(selector, labels))
        .map(|(name, _)| name.clone())
        .collect()
}

fn visible_classes(list: Option<&ClassAllowList>, existing: Option<&BTreeSet<String>>) -> Names {
    let Some(list) = list else {
        return Names::All;
    };
    let mut names: BTreeSet<String> = existing
        .into_iter()
        .flatten()
        .filter(|name| list.allows(name))
        .cloned()
        .collect();
    // A `*` is never a name: RBAC would take it literally, and validation refuses it anyway.
    names.extend(list.allowed.iter().filter(|entry| !entry.contains('*')).cloned());
    Names::Only(names)
}

fn claimed_volumes(namespaces: &[String], volumes: &BTreeMap<String, String>) -> BTreeSet<String> {
    let namespaces: BTreeSet<&str> = namespaces.iter().map(String::as_str).collect();
    volumes
        .iter()
        .filter(|(_, namespace)| namespaces.contains(namespace.as_str()))
        .map(|(name, _)| name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Value, json};

    use super::*;

    fn tenant(spec: Value) -> Tenant {
        let mut spec = spec;
        spec["owners"] = json!([{ "kind": "User", "name": "alice" }]);
        serde_json::from_value(json!({
            "apiVersion": "palisade.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": { "name": "shop" },
            "spec": spec,
        }))
        .unwrap()
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn only(names: &[&str]) -> Names {
        Names::Only(set(names))
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn inventory() -> ClusterInventory {
        let nodes = [
            ("n-shop-1", labels(&[("pool", "shop"), ("zone", "a")])),
            ("n-shop-2", labels(&[("pool", "shop"), ("zone", "b")])),
            ("n-other", labels(&[("pool", "other"), ("zone", "a")])),
            ("n-bare", labels(&[])),
        ];
        let classes = [
            (ClassKind::Storage, set(&["fast-ssd", "fast-nvme", "standard", "slow"])),
            (ClassKind::Ingress, set(&["nginx", "traefik"])),
            (ClassKind::Priority, set(&["high", "low"])),
            (ClassKind::Runtime, set(&["gvisor"])),
        ];
        let volumes = [("pv-a", "shop-a"), ("pv-b", "shop-b"), ("pv-x", "other-a")];
        ClusterInventory {
            nodes: nodes.into_iter().map(|(n, l)| (n.to_string(), l)).collect(),
            classes: classes.into_iter().collect(),
            volumes: volumes
                .into_iter()
                .map(|(v, ns)| (v.to_string(), ns.to_string()))
                .collect(),
            ..ClusterInventory::default()
        }
    }

    #[test]
    fn nodes_table() {
        let cases = [
            ("no selector: no node at all", json!({}), only(&[])),
            ("one pair", json!({ "pool": "shop" }), only(&["n-shop-1", "n-shop-2"])),
            (
                "every pair must match",
                json!({ "pool": "shop", "zone": "a" }),
                only(&["n-shop-1"]),
            ),
            ("a value no node has", json!({ "pool": "gpu" }), only(&[])),
            ("a key no node has", json!({ "tier": "x" }), only(&[])),
        ];
        for (what, selector, want) in cases {
            let t = tenant(json!({ "workloads": { "nodeSelector": selector } }));
            let visible = visible_cluster_objects(&t, &[], &inventory());
            assert_eq!(visible.nodes, want, "{what}");
        }
    }

    #[test]
    fn classes_table() {
        let cases = [
            ("no allow-list: every class", json!({}), ClassKind::Storage, Names::All),
            (
                "a pattern: the existing classes it allows",
                json!({ "storage": { "classes": { "allowed": ["fast-*"] } } }),
                ClassKind::Storage,
                only(&["fast-nvme", "fast-ssd"]),
            ),
            (
                "exact names, existing or not",
                json!({ "storage": { "classes": { "allowed": ["standard", "future"] } } }),
                ClassKind::Storage,
                only(&["future", "standard"]),
            ),
            (
                "a pattern matching nothing yet",
                json!({ "ingress": { "classes": { "allowed": ["internal-*"] } } }),
                ClassKind::Ingress,
                only(&[]),
            ),
            (
                "a kind with no class in the cluster",
                json!({ "gateway": { "classes": { "allowed": ["eg", "shared-*"] } } }),
                ClassKind::Gateway,
                only(&["eg"]),
            ),
            (
                "priority classes from spec.workloads",
                json!({ "workloads": { "priorityClasses": { "allowed": ["low"] } } }),
                ClassKind::Priority,
                only(&["low"]),
            ),
            (
                "runtime classes from spec.workloads",
                json!({ "workloads": { "runtimeClasses": { "allowed": ["g*"] } } }),
                ClassKind::Runtime,
                only(&["gvisor"]),
            ),
            (
                "another kind's list does not restrict this one",
                json!({ "storage": { "classes": { "allowed": ["standard"] } } }),
                ClassKind::Ingress,
                Names::All,
            ),
        ];
        for (what, spec, kind, want) in cases {
            let visible = visible_cluster_objects(&tenant(spec), &[], &inventory());
            assert_eq!(visible.classes.get(&kind), Some(&want), "{what}");
            assert_eq!(visible.classes.len(), ClassKind::ALL.len(), "{what}");
        }
    }

    #[test]
    fn volumes_table() {
        let cases: [(&str, &[&str], Names); 3] = [
            ("no namespaces: no volume", &[], only(&[])),
            (
                "claims in own namespaces",
                &["shop-a", "shop-b"],
                only(&["pv-a", "pv-b"]),
            ),
            ("one namespace", &["shop-b"], only(&["pv-b"])),
        ];
        for (what, namespaces, want) in cases {
            let namespaces: Vec<String> = namespaces.iter().map(|s| s.to_string()).collect();
            let visible = visible_cluster_objects(&tenant(json!({})), &namespaces, &inventory());
            assert_eq!(visible.volumes, want, "{what}");
        }
    }

    #[test]
    fn an_empty_inventory_shows_only_exact_class_names() {
        let t = tenant(json!({
            "workloads": { "nodeSelector": { "pool": "shop" } },
            "storage": { "classes": { "allowed": ["fast-*", "standard"] } },
        }));
        let visible = visible_cluster_objects(&t, &["shop-a".to_string()], &ClusterInventory::default());
        assert_eq!(visible.nodes, only(&[]));
        assert_eq!(visible.volumes, only(&[]));
        assert_eq!(visible.classes.get(&ClassKind::Storage), Some(&only(&["standard"])));
        assert_eq!(visible.classes.get(&ClassKind::Runtime), Some(&Names::All));
    }

    #[test]
    fn kinds_name_their_api() {
        let resources: Vec<String> = ClassKind::ALL
            .iter()
            .map(|k| format!("{}/{} {}", k.api_group(), k.resource(), k.kind()))
            .collect();
        assert_eq!(
            resources,
            [
                "storage.k8s.io/storageclasses StorageClass",
                "networking.k8s.io/ingressclasses IngressClass",
                "gateway.networking.k8s.io/gatewayclasses GatewayClass",
                "scheduling.k8s.io/priorityclasses PriorityClass",
                "node.k8s.io/runtimeclasses RuntimeClass",
            ]
        );
    }
}
