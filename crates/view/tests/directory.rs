//! The tenant directory driven as a watch drives it: apply / delete / reset sequences, relists
//! that drop objects, and, for any history, the same answers as a directory built from scratch
//! and as the renderer's `TenantIndex::resolve`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use palisade_api::Tenant;
use palisade_tenancy::render::{TenantIndex, TenantLookup};
use palisade_view::{Index, NamespaceEntry, TenantDirectory};
use proptest::prelude::*;
use serde_json::json;

/// A stored Tenant: `age` orders claims (older first), `version` is its resourceVersion.
fn tenant(name: &str, age: u32, version: u32, lists: &[&str]) -> Tenant {
    serde_json::from_value(json!({
        "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant",
        "metadata": {
            "name": name,
            "resourceVersion": version.to_string(),
            "creationTimestamp": format!("2026-01-01T00:{:02}:00Z", age % 60),
        },
        "spec": {
            "owners": [{ "kind": "User", "name": "alice" }],
            "namespaces": { "names": lists },
        }
    }))
    .unwrap()
}

fn namespace(name: &str, tenant: Option<&str>) -> NamespaceEntry {
    NamespaceEntry {
        name: name.to_string(),
        tenant: tenant.map(str::to_string),
        terminating: false,
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_label_decides_who_holds_a_namespace_and_a_relist_that_drops_it_lets_it_go() {
    let mut directory = TenantDirectory::default();
    directory.apply(tenant("a", 1, 1, &[]));
    directory.apply(namespace("a-web", Some("a")));
    directory.apply(namespace("a-db", Some("a")));
    directory.apply(namespace("plain", None));
    assert_eq!(directory.namespaces_of("a"), vec!["a-db", "a-web"]);
    assert_eq!(directory.tenant_of("a-web"), Some("a"));
    assert_eq!(directory.tenant_of("plain"), None);
    directory.take_woken();

    // The watch was lost while a-db was deleted: the relist does not hold it.
    directory.reset(vec![namespace("a-web", Some("a")), namespace("plain", None)]);
    assert_eq!(directory.namespaces_of("a"), vec!["a-web"]);
    assert_eq!(directory.tenant_of("a-db"), None);
    assert_eq!(
        directory.take_woken(),
        set(&["a"]),
        "the tenant that lost a namespace is woken"
    );

    // A relist that changes nothing wakes nobody.
    directory.reset(vec![namespace("a-web", Some("a"))]);
    assert!(directory.take_woken().is_empty());
}

#[test]
fn the_oldest_tenant_listing_an_unlabelled_namespace_holds_it_and_the_next_takes_over_when_it_lets_go() {
    let mut directory = TenantDirectory::default();
    directory.apply(tenant("young", 9, 1, &["shared"]));
    directory.apply(tenant("old", 1, 1, &["shared"]));
    assert_eq!(directory.owner_of("shared"), Some("old"));
    assert_eq!(directory.namespaces_of("old"), vec!["shared"]);
    assert!(directory.namespaces_of("young").is_empty());
    assert_eq!(directory.refused("young"), set(&["shared"]));
    assert!(directory.refused("old").is_empty());
    directory.take_woken();

    // The old tenant drops it from its list: the young one now holds it, and is woken.
    directory.apply(tenant("old", 1, 2, &[]));
    assert_eq!(directory.owner_of("shared"), Some("young"));
    assert!(directory.refused("young").is_empty());
    assert!(directory.take_woken().contains("young"));

    // A label beats any claim.
    directory.apply(namespace("shared", Some("old")));
    assert_eq!(directory.owner_of("shared"), Some("old"));
    assert_eq!(directory.refused("young"), set(&["shared"]));
    assert!(directory.take_woken().contains("young"));
}

#[test]
fn grants_and_mesh_callers_follow_every_change_of_the_granting_tenant() {
    let mut directory = TenantDirectory::default();
    let mut payments = tenant("payments", 1, 1, &[]);
    payments.spec.network.allow_from.tenants = vec!["monitoring".into()];
    payments.spec.mesh.allow_from_tenants = vec!["frontend".into()];
    directory.apply(payments.clone());
    directory.apply(tenant("monitoring", 2, 1, &[]));
    directory.apply(tenant("frontend", 3, 1, &[]));
    assert_eq!(directory.network_egress_targets("monitoring"), vec!["payments"]);
    assert_eq!(
        directory.mesh_callers_of("frontend").collect::<Vec<_>>(),
        vec!["payments"]
    );
    directory.take_woken();

    // A namespace of frontend appears: payments' mesh rules list frontend's namespaces.
    directory.apply(namespace("frontend-web", Some("frontend")));
    assert_eq!(directory.take_woken(), set(&["frontend", "payments"]));

    // The grant is withdrawn: monitoring loses its egress and is woken.
    payments.spec.network.allow_from.tenants.clear();
    payments.metadata.resource_version = Some("2".into());
    directory.apply(payments.clone());
    assert!(directory.network_egress_targets("monitoring").is_empty());
    assert!(directory.take_woken().contains("monitoring"));

    // The same spec again (a status write, a resync, a relist) changes nothing and wakes nobody.
    directory.apply(payments);
    assert!(directory.take_woken().is_empty());

    // A relist without payments forgets its relations.
    directory.reset(vec![tenant("monitoring", 2, 1, &[]), tenant("frontend", 3, 1, &[])]);
    assert!(directory.tenant("payments").is_none());
    assert_eq!(directory.mesh_callers_of("frontend").count(), 0);
    assert!(directory.take_woken().contains("payments"));
}

#[test]
fn a_terminating_namespace_is_known_until_it_is_deleted() {
    let mut directory = TenantDirectory::default();
    directory.apply(namespace("a-web", Some("a")));
    directory.take_woken();
    directory.apply(NamespaceEntry {
        terminating: true,
        ..namespace("a-web", Some("a"))
    });
    assert!(directory.is_terminating("a-web"));
    assert_eq!(directory.take_woken(), set(&["a"]));
    directory.delete(namespace("a-web", Some("a")));
    assert!(!directory.is_terminating("a-web"));
    assert_eq!(directory.tenant_of("a-web"), None);
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    Tenant {
        name: usize,
        age: u32,
        lists: Vec<usize>,
        grants: Vec<usize>,
    },
    DeleteTenant(usize),
    Namespace {
        name: usize,
        tenant: Option<usize>,
    },
    DeleteNamespace(usize),
    RelistNamespaces(Vec<usize>),
}

const TENANTS: [&str; 4] = ["t0", "t1", "t2", "t3"];
const NAMESPACES: [&str; 5] = ["n0", "n1", "n2", "n3", "n4"];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (
            0..4usize,
            0..50u32,
            prop::collection::vec(0..5usize, 0..3),
            prop::collection::vec(0..4usize, 0..2)
        )
            .prop_map(|(name, age, lists, grants)| Step::Tenant {
                name,
                age,
                lists,
                grants
            }),
        (0..4usize).prop_map(Step::DeleteTenant),
        (0..5usize, prop::option::of(0..4usize)).prop_map(|(name, tenant)| Step::Namespace { name, tenant }),
        (0..5usize).prop_map(Step::DeleteNamespace),
        prop::collection::vec(0..5usize, 0..5).prop_map(Step::RelistNamespaces),
    ]
}

proptest! {
    /// Whatever the order of events, the directory answers as `TenantIndex::resolve` over the
    /// final state, the reference the controller used before it kept a directory.
    #[test]
    fn any_history_ends_as_the_index_resolved_from_the_final_state(steps in prop::collection::vec(step(), 1..40)) {
        let mut directory = TenantDirectory::default();
        let mut tenants: std::collections::BTreeMap<usize, Tenant> = Default::default();
        let mut labelled: std::collections::BTreeMap<usize, Option<usize>> = Default::default();
        let mut version = 0;
        for step in steps {
            version += 1;
            match step {
                Step::Tenant { name, age, lists, grants } => {
                    let lists: Vec<&str> = lists.iter().map(|n| NAMESPACES[*n]).collect();
                    let mut t = tenant(TENANTS[name], age, version, &lists);
                    t.spec.network.allow_from.tenants = grants.iter().map(|g| TENANTS[*g].to_string()).collect();
                    tenants.insert(name, t.clone());
                    directory.apply(t);
                }
                Step::DeleteTenant(name) => {
                    if let Some(t) = tenants.remove(&name) {
                        directory.delete(t);
                    }
                }
                Step::Namespace { name, tenant } => {
                    labelled.insert(name, tenant);
                    directory.apply(namespace(NAMESPACES[name], tenant.map(|t| TENANTS[t])));
                }
                Step::DeleteNamespace(name) => {
                    if let Some(tenant) = labelled.remove(&name) {
                        directory.delete(namespace(NAMESPACES[name], tenant.map(|t| TENANTS[t])));
                    }
                }
                Step::RelistNamespaces(kept) => {
                    labelled.retain(|name, _| kept.contains(name));
                    let entries = labelled
                        .iter()
                        .map(|(name, tenant)| namespace(NAMESPACES[*name], tenant.map(|t| TENANTS[t])))
                        .collect();
                    directory.reset(entries);
                }
            }
        }
        let all: Vec<&Tenant> = tenants.values().collect();
        let pairs: Vec<(&str, &str)> = labelled
            .iter()
            .filter_map(|(name, tenant)| tenant.map(|t| (NAMESPACES[*name], TENANTS[t])))
            .collect();
        let (reference, refused) = TenantIndex::resolve(all.iter().copied(), pairs);
        for name in TENANTS {
            let known = tenants.values().any(|t| t.metadata.name.as_deref() == Some(name));
            let want_ns: Vec<String> = reference.namespaces_of(name);
            let got_ns = directory.namespaces_of(name);
            if known {
                prop_assert_eq!(&got_ns, &want_ns, "namespaces of {}", name);
            } else {
                let labelled_only: Vec<String> = directory.labelled_namespaces_of(name).map(str::to_string).collect();
                prop_assert_eq!(&got_ns, &labelled_only, "namespaces of unknown tenant {}", name);
            }
            prop_assert_eq!(
                directory.refused(name),
                refused.get(name).cloned().unwrap_or_default(),
                "refused claims of {}", name
            );
            prop_assert_eq!(
                directory.network_egress_targets(name),
                reference.network_egress_targets(name),
                "egress of {}", name
            );
        }
    }
}

#[test]
fn usage_follows_its_namespace_into_and_out_of_a_tenant() {
    let cpu = |n: i64| {
        palisade_view::Usage::from([("requests.cpu".to_string(), palisade_tenancy::quantity::Amount::units(n))])
    };
    let mut directory = TenantDirectory::default();
    directory.set_usage("web", "pods/p1".into(), cpu(1));
    directory.set_usage("web", "services/s1".into(), cpu(0));
    directory.set_usage("other", "pods/p9".into(), cpu(9));
    assert!(directory.usage_of("a").is_empty(), "web is nobody's yet");

    // Once labelled for a, what is already running there counts for a.
    directory.apply(namespace("web", Some("a")));
    assert_eq!(
        directory.usage_of("a").keys().collect::<Vec<_>>(),
        vec!["pods/p1", "services/s1"]
    );
    directory.set_usage("web", "pods/p1".into(), cpu(2));
    assert_eq!(
        directory.usage_of("a")["pods/p1"],
        cpu(2),
        "a new version replaces, never adds"
    );

    // A relist of pods that no longer holds p1.
    directory.retain_usage(|key| !key.starts_with("pods/"));
    assert_eq!(directory.usage_of("a").keys().collect::<Vec<_>>(), vec!["services/s1"]);
    directory.remove_usage("web", "services/s1");
    assert!(directory.usage_of("a").is_empty());

    // The namespace moves to b: its usage goes with it.
    directory.set_usage("web", "pods/p2".into(), cpu(3));
    directory.apply(namespace("web", Some("b")));
    assert!(directory.usage_of("a").is_empty());
    assert_eq!(directory.usage_of("b").len(), 1);
}
