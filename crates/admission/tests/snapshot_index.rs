//! The webhook's index, driven as its watches drive it (apply / delete / reset, including relists
//! that drop objects), without a cluster: what each kind leaves in the [`Snapshot`] the rules
//! read, and that nothing of a deleted or unlisted object stays behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::api::core::v1::{LimitRange, Namespace, Node, PersistentVolume, Pod, ResourceQuota, Service};
use k8s_openapi::api::networking::v1::{Ingress, ServiceCIDR};
use palisade_admission::{ClusterView, Snapshot};
use palisade_api::Tenant;
use palisade_view::Index;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn object<K: DeserializeOwned>(value: Value) -> K {
    serde_json::from_value(value).unwrap()
}

fn tenant(name: &str) -> Tenant {
    object(json!({
        "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant",
        "metadata": { "name": name, "creationTimestamp": "2026-01-01T00:00:00Z" },
        "spec": { "owners": [{ "kind": "User", "name": "alice" }] }
    }))
}

fn namespace(name: &str, tenant: Option<&str>) -> Namespace {
    let labels = tenant.map_or(json!({}), |t| json!({ "palisade.dev/tenant": t }));
    object(json!({ "metadata": { "name": name, "labels": labels } }))
}

fn ingress(namespace: &str, name: &str, hosts: &[&str]) -> Ingress {
    let rules: Vec<Value> = hosts
        .iter()
        .map(|h| {
            json!({ "host": h, "http": { "paths": [{ "path": "/api", "pathType": "Prefix",
            "backend": { "service": { "name": "s", "port": { "number": 80 } } } }] } })
        })
        .collect();
    object(json!({ "metadata": { "name": name, "namespace": namespace }, "spec": { "rules": rules } }))
}

fn pod(namespace: &str, uid: &str, cpu: &str) -> Pod {
    object(json!({
        "metadata": { "name": uid, "namespace": namespace, "uid": uid },
        "spec": { "containers": [{ "name": "c", "image": "i", "resources": { "requests": { "cpu": cpu } } }] }
    }))
}

fn node(name: &str, cidr: &str) -> Node {
    object(json!({ "metadata": { "name": name }, "spec": { "podCIDRs": [cidr] } }))
}

fn hosts(snapshot: &Snapshot) -> Vec<String> {
    let mut hosts: Vec<String> = snapshot
        .ingress_routes()
        .iter()
        .map(|r| format!("{}/{} {}{}", r.namespace, r.name, r.host, r.path))
        .collect();
    hosts.sort();
    hosts
}

#[test]
fn tenants_and_namespaces_follow_apply_delete_and_a_relist_that_drops_some() {
    let mut snapshot = Snapshot::default();
    snapshot.apply(tenant("a"));
    snapshot.apply(tenant("b"));
    snapshot.apply(namespace("a-web", Some("a")));
    snapshot.apply(namespace("b-web", Some("b")));
    snapshot.apply(namespace("kube-system", None));
    assert_eq!(snapshot.namespaces_of("a"), vec!["a-web"]);
    assert_eq!(snapshot.tenant_of_namespace("b-web"), Some("b"));
    assert!(snapshot.namespace_labels("kube-system").is_some());

    // A namespace relabelled to another tenant moves with its label.
    snapshot.apply(namespace("b-web", Some("a")));
    assert_eq!(snapshot.namespaces_of("a"), vec!["a-web", "b-web"]);
    assert!(snapshot.namespaces_of("b").is_empty());

    // The relist after a lost watch: a-web and tenant b were deleted meanwhile.
    Index::<Namespace>::reset(
        &mut snapshot,
        vec![namespace("b-web", Some("a")), namespace("kube-system", None)],
    );
    Index::<Tenant>::reset(&mut snapshot, vec![tenant("a")]);
    assert_eq!(snapshot.namespaces_of("a"), vec!["b-web"]);
    assert_eq!(snapshot.namespace_labels("a-web"), None);
    assert!(snapshot.tenant("b").is_none());
    assert_eq!(snapshot.tenants().len(), 1);

    snapshot.delete(namespace("b-web", Some("a")));
    assert!(snapshot.namespaces_of("a").is_empty());
    assert_eq!(snapshot.tenant_of_namespace("b-web"), None);
}

#[test]
fn ingress_routes_are_replaced_by_each_version_and_gone_with_the_ingress() {
    let mut snapshot = Snapshot::default();
    snapshot.apply(ingress("a-web", "shop", &["shop.example.com", "www.example.com"]));
    snapshot.apply(ingress("b-web", "blog", &["blog.example.com"]));
    assert_eq!(
        hosts(&snapshot),
        vec![
            "a-web/shop shop.example.com/api",
            "a-web/shop www.example.com/api",
            "b-web/blog blog.example.com/api"
        ]
    );
    // A new version drops a host: nothing of the old version stays.
    snapshot.apply(ingress("a-web", "shop", &["shop.example.com"]));
    assert_eq!(
        hosts(&snapshot),
        vec!["a-web/shop shop.example.com/api", "b-web/blog blog.example.com/api"]
    );
    // The relist does not hold blog.
    Index::<Ingress>::reset(&mut snapshot, vec![ingress("a-web", "shop", &["shop.example.com"])]);
    assert_eq!(hosts(&snapshot), vec!["a-web/shop shop.example.com/api"]);
    snapshot.delete(ingress("a-web", "shop", &[]));
    assert!(hosts(&snapshot).is_empty());
}

#[test]
fn volume_owners_follow_their_label_and_claim() {
    let mut snapshot = Snapshot::default();
    let volume = |claim_ns: Option<&str>, tenant: Option<&str>| -> PersistentVolume {
        let labels = tenant.map_or(json!({}), |t| json!({ "palisade.dev/tenant": t }));
        let claim = claim_ns.map_or(Value::Null, |ns| json!({ "namespace": ns, "name": "data" }));
        object(json!({ "metadata": { "name": "pv-1", "labels": labels }, "spec": { "claimRef": claim } }))
    };
    snapshot.apply(volume(None, Some("a")));
    assert_eq!(snapshot.volume("pv-1").unwrap().tenant.as_deref(), Some("a"));
    assert_eq!(snapshot.volume("pv-1").unwrap().claim_namespace, None);
    snapshot.apply(volume(Some("a-web"), Some("a")));
    assert_eq!(
        snapshot.volume("pv-1").unwrap().claim_namespace.as_deref(),
        Some("a-web")
    );
    Index::<PersistentVolume>::reset(&mut snapshot, vec![]);
    assert!(snapshot.volume("pv-1").is_none());
}

#[test]
fn pod_cidrs_and_service_cidrs_are_the_union_of_what_is_listed_now() {
    let mut snapshot = Snapshot::default();
    snapshot.apply(node("n1", "10.244.0.0/24"));
    snapshot.apply(node("n2", "10.244.1.0/24"));
    assert_eq!(snapshot.node_pod_cidrs(), vec!["10.244.0.0/23".parse().unwrap()]);
    Index::<Node>::reset(&mut snapshot, vec![node("n2", "10.244.1.0/24")]);
    assert_eq!(snapshot.node_pod_cidrs(), vec!["10.244.1.0/24".parse().unwrap()]);
    snapshot.delete(node("n2", "10.244.1.0/24"));
    assert!(
        snapshot.node_pod_cidrs().is_empty(),
        "no node: the rules that need pod CIDRs deny"
    );

    let range = |name: &str, cidr: &str| -> ServiceCIDR {
        object(json!({ "metadata": { "name": name }, "spec": { "cidrs": [cidr] } }))
    };
    snapshot.apply(range("kubernetes", "10.96.0.0/12"));
    snapshot.apply(range("extra", "10.200.0.0/16"));
    assert_eq!(snapshot.service_cidrs().len(), 2);
    Index::<ServiceCIDR>::reset(&mut snapshot, vec![range("kubernetes", "10.96.0.0/12")]);
    assert_eq!(snapshot.service_cidrs(), vec!["10.96.0.0/12".parse().unwrap()]);
}

#[test]
fn usage_is_counted_once_per_object_and_forgotten_when_a_relist_drops_it() {
    let mut snapshot = Snapshot::default();
    snapshot.apply(tenant("a"));
    snapshot.apply(namespace("a-web", Some("a")));
    snapshot.apply(pod("a-web", "p1", "1"));
    snapshot.apply(pod("a-web", "p1", "2")); // a resize: replaces, never adds
    snapshot.apply(pod("a-web", "p2", "500m"));
    let service: Service = object(json!({ "metadata": { "name": "s", "namespace": "a-web", "uid": "s1" },
        "spec": { "type": "NodePort", "ports": [{ "port": 80 }] } }));
    snapshot.apply(service);
    let usage = snapshot.observed_usage("a");
    assert_eq!(usage.len(), 4, "two pods, one Service, one namespace: {usage:?}");
    assert!(usage.contains_key("pods/p1") && usage.contains_key("pods/p2") && usage.contains_key("services/s1"));
    let cpu = |key: &str| snapshot.observed_usage("a")[key].get("requests.cpu").cloned();
    assert_eq!(cpu("pods/p1"), palisade_admission::quantity::parse("2"));

    // p1 was deleted while the watch was down; the Service stays (its own kind's relist).
    Index::<Pod>::reset(&mut snapshot, vec![pod("a-web", "p2", "500m")]);
    let usage = snapshot.observed_usage("a");
    assert!(!usage.contains_key("pods/p1"));
    assert!(usage.contains_key("pods/p2") && usage.contains_key("services/s1"));
    snapshot.delete(pod("a-web", "p2", "500m"));
    assert!(!snapshot.observed_usage("a").contains_key("pods/p2"));
}

#[test]
fn palisade_quota_objects_are_known_present_only_while_labelled_and_listed() {
    let managed = json!({ "app.kubernetes.io/managed-by": "palisade" });
    let quota = |labels: &Value| -> ResourceQuota {
        object(json!({ "metadata": { "name": "palisade-quota", "namespace": "a-web", "labels": labels } }))
    };
    let limits: LimitRange =
        object(json!({ "metadata": { "name": "palisade-limits", "namespace": "a-web", "labels": managed } }));
    let mut snapshot = Snapshot::default();
    assert_eq!(
        snapshot.holds_managed("a-web", "ResourceQuota"),
        None,
        "not tracked yet"
    );
    snapshot.apply(quota(&managed));
    snapshot.apply(limits.clone());
    assert_eq!(snapshot.holds_managed("a-web", "ResourceQuota"), Some(true));
    assert_eq!(snapshot.holds_managed("a-web", "LimitRange"), Some(true));
    // Someone removed the label: it no longer counts as Palisade's.
    snapshot.apply(quota(&json!({})));
    assert_eq!(snapshot.holds_managed("a-web", "ResourceQuota"), Some(false));
    // A relist of LimitRanges without it.
    Index::<LimitRange>::reset(&mut snapshot, vec![]);
    assert_eq!(snapshot.holds_managed("a-web", "LimitRange"), Some(false));
}
