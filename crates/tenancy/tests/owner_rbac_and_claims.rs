//! Table tests of the owners' cluster-scoped RBAC and of how namespaces claimed by several
//! tenants are resolved.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::collections::{BTreeMap, BTreeSet};

use palisade_api::Tenant;
use palisade_tenancy::render::{
    ClassKind, ClusterFacts, ClusterInventory, Names, TenantIndex, VisibleNames, owner_cluster_role_name,
    render_owner_cluster_rbac,
};
use palisade_tenancy::render_cluster_scoped;
use serde_json::{Value, json};

fn tenant(name: &str, created: Option<&str>, owners: Value, names: &[&str]) -> Tenant {
    let mut metadata = json!({ "name": name });
    if let Some(created) = created {
        metadata["creationTimestamp"] = json!(created);
    }
    serde_json::from_value(json!({
        "apiVersion": "palisade.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": metadata,
        "spec": { "owners": owners, "namespaces": { "names": names } },
    }))
    .unwrap()
}

/// `(verbs, resources, resourceNames)` of a rule, the easiest form to compare.
type Rule = (Vec<String>, Vec<String>, Option<Vec<String>>);

fn rules(role: &Value) -> Vec<Rule> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let names = r.get("resourceNames").map(&strings);
            (strings(&r["verbs"]), strings(&r["resources"]), names)
        })
        .collect()
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn only(names: &[&str]) -> Names {
    Names::Only(names.iter().map(|s| s.to_string()).collect())
}

#[test]
fn owner_cluster_rbac_table() {
    struct Case {
        what: &'static str,
        owners: Value,
        namespaces: &'static [&'static str],
        visible: VisibleNames,
        want_rules: Vec<Rule>,
        want_subjects: usize,
    }
    let read = || v(&["get", "list", "watch"]);
    let base = || {
        vec![
            (v(&["create"]), v(&["namespaces"]), None),
            (read(), v(&["tenants"]), Some(v(&["shop"]))),
        ]
    };
    let with_namespaces = |names: &[&str]| {
        let mut rules = base();
        rules.push((
            v(&["get", "list", "watch", "update", "patch", "delete"]),
            v(&["namespaces"]),
            Some(v(names)),
        ));
        rules
    };
    let alice = || json!([{ "kind": "User", "name": "alice" }]);
    let cases = vec![
        Case {
            what: "own namespaces by name, sorted and deduplicated",
            owners: alice(),
            namespaces: &["shop-b", "shop-a", "shop-b"],
            visible: VisibleNames::nothing(),
            want_rules: with_namespaces(&["shop-a", "shop-b"]),
            want_subjects: 1,
        },
        Case {
            // A namespaces rule with no resourceNames would match every namespace.
            what: "no namespaces: no namespace rule at all",
            owners: json!([{ "kind": "Group", "name": "devs" }]),
            namespaces: &[],
            visible: VisibleNames::nothing(),
            want_rules: base(),
            want_subjects: 1,
        },
        Case {
            what: "every owner kind is a subject",
            owners: json!([
                { "kind": "User", "name": "alice" },
                { "kind": "Group", "name": "devs" },
                { "kind": "ServiceAccount", "name": "ci", "namespace": "tools" }
            ]),
            namespaces: &["shop-a"],
            visible: VisibleNames::nothing(),
            want_rules: with_namespaces(&["shop-a"]),
            want_subjects: 3,
        },
        Case {
            what: "visible names: one rule per kind, names sorted, nodes and volumes first",
            owners: alice(),
            namespaces: &["shop-a"],
            visible: VisibleNames {
                nodes: only(&["node-2", "node-1"]),
                volumes: only(&["pv-1"]),
                classes: [
                    (ClassKind::Storage, only(&["fast-b", "fast-a"])),
                    (ClassKind::Runtime, only(&["gvisor"])),
                ]
                .into_iter()
                .collect(),
            },
            want_rules: {
                let mut rules = with_namespaces(&["shop-a"]);
                rules.push((read(), v(&["nodes"]), Some(v(&["node-1", "node-2"]))));
                rules.push((read(), v(&["persistentvolumes"]), Some(v(&["pv-1"]))));
                rules.push((read(), v(&["storageclasses"]), Some(v(&["fast-a", "fast-b"]))));
                rules.push((read(), v(&["runtimeclasses"]), Some(v(&["gvisor"]))));
                rules
            },
            want_subjects: 1,
        },
        Case {
            // An empty resourceNames list would match every object of the kind.
            what: "a kind with no visible name gets no rule; All gets a rule without names",
            owners: alice(),
            namespaces: &["shop-a"],
            visible: VisibleNames {
                nodes: only(&[]),
                volumes: only(&[]),
                classes: [
                    (ClassKind::Ingress, Names::All),
                    (ClassKind::Gateway, only(&[])),
                    (ClassKind::Priority, Names::All),
                ]
                .into_iter()
                .collect(),
            },
            want_rules: {
                let mut rules = with_namespaces(&["shop-a"]);
                rules.push((read(), v(&["ingressclasses"]), None));
                rules.push((read(), v(&["priorityclasses"]), None));
                rules
            },
            want_subjects: 1,
        },
    ];
    for case in cases {
        let t = tenant("shop", None, case.owners, &[]);
        let names: Vec<String> = case.namespaces.iter().map(|s| s.to_string()).collect();
        let objects = render_owner_cluster_rbac(&t, &names, &case.visible);
        assert_eq!(objects.len(), 2, "{}", case.what);
        let (role, binding) = (&objects[0].manifest, &objects[1].manifest);
        assert_eq!(role["kind"], "ClusterRole", "{}", case.what);
        assert_eq!(binding["kind"], "ClusterRoleBinding", "{}", case.what);
        assert_eq!(objects[0].name, "palisade:tenant-owner:shop");
        assert_eq!(owner_cluster_role_name("shop"), objects[0].name);
        assert_eq!(
            binding["roleRef"]["name"], "palisade:tenant-owner:shop",
            "{}",
            case.what
        );
        assert_eq!(rules(role), case.want_rules, "{}", case.what);
        assert_eq!(
            binding["subjects"].as_array().unwrap().len(),
            case.want_subjects,
            "{}",
            case.what
        );
        // Never a wildcard; list and watch only where names limit them or every name is meant.
        let text = role.to_string();
        assert!(!text.contains('*'), "{}: {text}", case.what);
        for rule in role["rules"].as_array().unwrap() {
            let reads = rule["verbs"].as_array().unwrap().iter().any(|v| v == "list");
            let named = rule.get("resourceNames").is_some();
            let class = rule["resources"][0].as_str().unwrap().ends_with("classes");
            assert!(!reads || named || class, "{}: {rule}", case.what);
            if named {
                assert!(
                    !rule["resourceNames"].as_array().unwrap().is_empty(),
                    "{}: {rule}",
                    case.what
                );
            }
        }
        assert_eq!(objects[0].tenant(), Some("shop"));
        assert!(objects.iter().all(|o| o.namespace.is_none()));
    }
}

/// The whole path from a Tenant and what the cluster holds to the owners' rules, as the
/// controller renders it.
#[test]
fn owners_see_what_their_tenant_may_use() {
    let t: Tenant = serde_json::from_value(json!({
        "apiVersion": "palisade.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": { "name": "shop" },
        "spec": {
            "owners": [{ "kind": "User", "name": "alice" }],
            "namespaces": { "names": ["shop-a"] },
            "workloads": { "nodeSelector": { "pool": "shop" }, "priorityClasses": { "allowed": ["low"] } },
            "storage": { "classes": { "allowed": ["fast-*", "standard"] } },
        },
    }))
    .unwrap();
    let labels = |pool: &str| [("pool".to_string(), pool.to_string())].into_iter().collect();
    let inventory = ClusterInventory {
        nodes: [("n1", "shop"), ("n2", "other"), ("n3", "shop")]
            .into_iter()
            .map(|(n, pool)| (n.to_string(), labels(pool)))
            .collect(),
        classes: [(
            ClassKind::Storage,
            ["fast-ssd", "slow"].iter().map(|s| s.to_string()).collect(),
        )]
        .into_iter()
        .collect(),
        volumes: [("pv-shop", "shop-a"), ("pv-other", "other-a")]
            .into_iter()
            .map(|(v, ns)| (v.to_string(), ns.to_string()))
            .collect(),
        ..ClusterInventory::default()
    };
    let index = TenantIndex::new([&t]);
    let (cluster, _) = render_cluster_scoped(&t, &index, &ClusterFacts::default(), &inventory);
    let role = cluster.iter().find(|o| o.kind == "ClusterRole").unwrap();
    let read = || v(&["get", "list", "watch"]);
    let wanted: Vec<Rule> = vec![
        (v(&["create"]), v(&["namespaces"]), None),
        (read(), v(&["tenants"]), Some(v(&["shop"]))),
        (
            v(&["get", "list", "watch", "update", "patch", "delete"]),
            v(&["namespaces"]),
            Some(v(&["shop-a"])),
        ),
        (read(), v(&["nodes"]), Some(v(&["n1", "n3"]))),
        (read(), v(&["persistentvolumes"]), Some(v(&["pv-shop"]))),
        (read(), v(&["storageclasses"]), Some(v(&["fast-ssd", "standard"]))),
        (read(), v(&["ingressclasses"]), None),
        (read(), v(&["gatewayclasses"]), None),
        (read(), v(&["priorityclasses"]), Some(v(&["low"]))),
        (read(), v(&["runtimeclasses"]), None),
    ];
    assert_eq!(rules(&role.manifest), wanted);
    for kind in ClassKind::ALL {
        let rule = role.manifest["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resources"][0] == kind.resource())
            .unwrap();
        assert_eq!(rule["apiGroups"], json!([kind.api_group()]), "{kind:?}");
    }
}

#[test]
fn claims_table() {
    let owner = json!([{ "kind": "User", "name": "alice" }]);
    struct Case {
        what: &'static str,
        tenants: Vec<Tenant>,
        labelled: Vec<(&'static str, &'static str)>,
        want: BTreeMap<&'static str, Vec<&'static str>>,
        refused: BTreeMap<&'static str, Vec<&'static str>>,
    }
    let t = |name: &str, created: Option<&str>, names: &[&str]| tenant(name, created, owner.clone(), names);
    let cases = vec![
        Case {
            what: "the older Tenant keeps a namespace both list",
            tenants: vec![
                t("zeta", Some("2026-01-01T00:00:00Z"), &["shared"]),
                t("alpha", Some("2026-02-01T00:00:00Z"), &["shared", "alpha-own"]),
            ],
            labelled: vec![],
            want: [("zeta", vec!["shared"]), ("alpha", vec!["alpha-own"])].into(),
            refused: [("alpha", vec!["shared"])].into(),
        },
        Case {
            what: "same age: the name decides",
            tenants: vec![
                t("b", Some("2026-01-01T00:00:00Z"), &["shared"]),
                t("a", Some("2026-01-01T00:00:00Z"), &["shared"]),
            ],
            labelled: vec![],
            want: [("a", vec!["shared"]), ("b", vec![])].into(),
            refused: [("b", vec!["shared"])].into(),
        },
        Case {
            what: "the label beats an older Tenant listing it",
            tenants: vec![
                t("old", Some("2025-01-01T00:00:00Z"), &["taken"]),
                t("young", Some("2026-01-01T00:00:00Z"), &[]),
            ],
            labelled: vec![("taken", "young")],
            want: [("old", vec![]), ("young", vec!["taken"])].into(),
            refused: [("old", vec!["taken"])].into(),
        },
        Case {
            what: "a Tenant not stored yet is the newest",
            tenants: vec![
                t("draft", None, &["shared"]),
                t("stored", Some("2026-05-01T00:00:00Z"), &["shared"]),
            ],
            labelled: vec![],
            want: [("draft", vec![]), ("stored", vec!["shared"])].into(),
            refused: [("draft", vec!["shared"])].into(),
        },
        Case {
            what: "no conflict: spec and labelled namespaces together",
            tenants: vec![t("shop", Some("2026-01-01T00:00:00Z"), &["shop-a"])],
            labelled: vec![("shop-a", "shop"), ("shop-x", "shop")],
            want: [("shop", vec!["shop-a", "shop-x"])].into(),
            refused: BTreeMap::new(),
        },
    ];
    for case in cases {
        let (index, refused) = TenantIndex::resolve(case.tenants.iter(), case.labelled.iter().copied());
        for (tenant, namespaces) in &case.want {
            assert_eq!(index.namespaces_of(tenant), v(namespaces), "{}: {tenant}", case.what);
        }
        let want_refused: BTreeMap<String, BTreeSet<String>> = case
            .refused
            .iter()
            .map(|(t, n)| (t.to_string(), n.iter().map(|s| s.to_string()).collect()))
            .collect();
        assert_eq!(refused, want_refused, "{}", case.what);
    }
}
