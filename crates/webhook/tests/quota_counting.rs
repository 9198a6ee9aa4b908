//! The usage Palisade counts (`palisade_admission::usage`) agrees with what the API server's own
//! ResourceQuota reports in `status.used`, on a table of real stored objects: pods with init
//! containers, sidecars, overhead from a RuntimeClass, pod-level resources, extended resources and
//! hugepages, a terminal pod; claims per storage class; Services of every type; object counts of
//! core kinds and apps kinds made by controllers.
//!
//! Custom resources are left out: the testenv quota controller never started counting a CRD
//! created after it (status.used lacked the `count/<crd>` key for 150 s, even with the quota
//! touched), so the API server refused every instance with "status unknown for quota".
//!
//! The namespace carries no tenant label and no webhook is registered by this test binary: what is
//! compared is Kubernetes' count against ours, nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, ServiceAccount};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams};
use palisade_admission::usage::{self, Counted, Usage, quantity};
use palisade_testenv::{TestEnv, unique_name};
use serde_json::{Value, json};

const SETTLE: Duration = Duration::from_secs(60);

/// Every resource name the quota evaluators know, as `hard` of one ResourceQuota.
const TRACKED: &[&str] = &[
    "pods",
    "count/pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "requests.example.com/dongle",
    "hugepages-2Mi",
    "requests.hugepages-2Mi",
    "persistentvolumeclaims",
    "count/persistentvolumeclaims",
    "requests.storage",
    "gold.storageclass.storage.k8s.io/requests.storage",
    "gold.storageclass.storage.k8s.io/persistentvolumeclaims",
    "silver.storageclass.storage.k8s.io/requests.storage",
    "silver.storageclass.storage.k8s.io/persistentvolumeclaims",
    "services",
    "count/services",
    "services.loadbalancers",
    "services.nodeports",
    "configmaps",
    "count/configmaps",
    "secrets",
    "count/secrets",
    "replicationcontrollers",
    "count/replicationcontrollers",
    "resourcequotas",
    "count/resourcequotas",
    "count/deployments.apps",
    "count/replicasets.apps",
];

/// The kinds whose stored objects are summed (everything TRACKED draws from).
fn kinds() -> Vec<(Counted<'static>, ApiResource)> {
    let core = |kind: &'static str, resource: &'static str| {
        (
            Counted {
                group: "",
                kind,
                resource,
            },
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", kind), resource),
        )
    };
    let apps = |kind: &'static str, resource: &'static str| {
        (
            Counted {
                group: "apps",
                kind,
                resource,
            },
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", kind), resource),
        )
    };
    vec![
        core("Pod", "pods"),
        core("PersistentVolumeClaim", "persistentvolumeclaims"),
        core("Service", "services"),
        core("ConfigMap", "configmaps"),
        core("Secret", "secrets"),
        core("ReplicationController", "replicationcontrollers"),
        core("ResourceQuota", "resourcequotas"),
        apps("Deployment", "deployments"),
        apps("ReplicaSet", "replicasets"),
    ]
}

fn env() -> &'static TestEnv {
    match TestEnv::get() {
        Ok(env) => env,
        Err(e) => panic!("{e}"),
    }
}

async fn create(client: &Client, namespace: &str, object: Value) -> DynamicObject {
    let api_version = object["apiVersion"].as_str().unwrap().to_string();
    let kind = object["kind"].as_str().unwrap().to_string();
    let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
    let (_, resource) = kinds()
        .into_iter()
        .find(|(_, r)| r.kind == kind && r.group == group)
        .unwrap_or_else(|| {
            (
                Counted {
                    group: "",
                    kind: "",
                    resource: "",
                },
                ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &kind)),
            )
        });
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let typed: DynamicObject = serde_json::from_value(object).unwrap();
    match api.create(&PostParams::default(), &typed).await {
        Ok(created) => created,
        Err(e) => panic!("creating {kind} {namespace}/{name}: {e}"),
    }
}

/// A container stating cpu and memory requests and limits, as a quota that tracks them requires.
fn container(name: &str, cpu: &str, memory: &str) -> Value {
    json!({"name": name, "image": "registry.example/app:1",
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}})
}

fn pod(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["automountServiceAccountToken"] = json!(false);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

/// The sum of our usage over every stored object of every counted kind in `namespace`.
async fn counted_by_us(client: &Client, namespace: &str) -> (Usage, Vec<String>) {
    let mut total = Usage::new();
    let mut seen = Vec::new();
    for (what, resource) in kinds() {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            Err(e) => panic!("listing {} in {namespace}: {e}", resource.plural),
        };
        for object in list.items {
            let name = object.metadata.name.clone().unwrap_or_default();
            let value = serde_json::to_value(&object).unwrap();
            match usage::usage(&what, &value) {
                Ok(used) => usage::add_into(&mut total, &used),
                Err(e) => panic!("usage of {} {namespace}/{name}: {e}", what.kind),
            }
            seen.push(format!("{}/{name}", resource.plural));
        }
    }
    (total, seen)
}

/// Differences between the API server's `status.used` and ours, for every tracked resource.
fn differences(reported: &BTreeMap<String, String>, ours: &Usage) -> Vec<String> {
    let mut out = Vec::new();
    for resource in TRACKED {
        let ours = ours.get(*resource).copied().unwrap_or_default();
        match reported.get(*resource) {
            None => out.push(format!("{resource}: not reported yet (we count {ours})")),
            Some(text) => match quantity::parse(text) {
                Some(theirs) if theirs == ours => {}
                Some(theirs) => out.push(format!("{resource}: API server {theirs} ({text}), Palisade {ours}")),
                None => out.push(format!("{resource}: API server reports unparsable {text:?}")),
            },
        }
    }
    out
}

#[tokio::test]
async fn usage_matches_resource_quota_status_used() {
    let env = env();
    let admin = env.admin_client().await.unwrap();
    let namespace = env.create_namespace("quota-count", &[]).await.unwrap();
    let ns_labels = Api::<Namespace>::all(admin.clone())
        .get(&namespace)
        .await
        .unwrap()
        .metadata
        .labels;
    assert!(
        !ns_labels.unwrap_or_default().contains_key("palisade.dev/tenant"),
        "the namespace must be outside every tenant"
    );
    // The ServiceAccount admission plugin needs `default`; do not wait for its controller.
    let _ = Api::<ServiceAccount>::namespaced(admin.clone(), &namespace)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap(),
        )
        .await;

    let hard: BTreeMap<String, String> = TRACKED.iter().map(|r| (r.to_string(), "1Pi".to_string())).collect();
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "everything"},
        "spec": {"hard": hard}});
    create(&admin, &namespace, quota).await;
    let quotas = Api::<ResourceQuota>::namespaced(admin.clone(), &namespace);
    palisade_testenv::eventually("the quota's first status", SETTLE, || {
        let quotas = quotas.clone();
        async move {
            let quota = quotas.get("everything").await.ok()?;
            (quota.status?.hard?.len() == TRACKED.len()).then_some(())
        }
    })
    .await
    .unwrap();

    // A RuntimeClass whose overhead the RuntimeClass admission plugin copies into pods.
    let runtime_class = unique_name("quota-overhead");
    let runtime_classes: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("node.k8s.io", "v1", "RuntimeClass"),
            "runtimeclasses",
        ),
    );
    runtime_classes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                "metadata": {"name": runtime_class}, "handler": "runc",
                "overhead": {"podFixed": {"cpu": "250m", "memory": "120Mi"}}}))
            .unwrap(),
        )
        .await
        .unwrap();

    // Pods.
    for object in [
        pod(
            "two-apps",
            json!({"containers": [container("a", "250m", "64Mi"), container("b", "1", "1Gi")]}),
        ),
        pod(
            "big-init",
            json!({"initContainers": [container("migrate", "3", "100Mi")], "containers": [container("a", "1", "1Gi")]}),
        ),
        pod(
            "sidecar-then-init",
            json!({
                "initContainers": [
                    {"name": "proxy", "image": "registry.example/proxy:1", "restartPolicy": "Always",
                     "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}}},
                    container("migrate", "2", "32Mi"),
                ],
                "containers": [container("a", "1", "1Gi")],
            }),
        ),
        pod(
            "init-then-sidecar",
            json!({
                "initContainers": [
                    container("migrate", "2", "2Gi"),
                    {"name": "proxy", "image": "registry.example/proxy:1", "restartPolicy": "Always",
                     "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}}},
                ],
                "containers": [container("a", "100m", "1Gi")],
            }),
        ),
        pod(
            "with-overhead",
            json!({"runtimeClassName": runtime_class, "containers": [container("a", "1", "1Gi")]}),
        ),
        pod(
            "devices-and-pages",
            json!({"containers": [{"name": "a", "image": "registry.example/app:1", "resources": {
                "requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "2Gi", "example.com/dongle": "2", "hugepages-2Mi": "64Mi"},
                "limits": {"cpu": "2", "memory": "1Gi", "ephemeral-storage": "4Gi", "example.com/dongle": "2", "hugepages-2Mi": "64Mi"},
            }}]}),
        ),
        pod(
            "pod-level",
            json!({
                "resources": {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "4Gi"}},
                "containers": [container("a", "500m", "256Mi"), container("b", "500m", "256Mi")],
            }),
        ),
        pod("finished", json!({"containers": [container("a", "4", "4Gi")]})),
    ] {
        create(&admin, &namespace, object).await;
    }
    // The terminal pod: its status written as the kubelet would.
    let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(admin.clone(), &namespace);
    pods.patch_status(
        "finished",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
    )
    .await
    .unwrap();

    // Claims: per class, no class, the beta annotation, a fractional size.
    let claim = |name: &str, class: Option<&str>, storage: &str| {
        let mut c = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}});
        if let Some(class) = class {
            c["spec"]["storageClassName"] = json!(class);
        }
        c
    };
    let mut annotated = claim("annotated", None, "3Gi");
    annotated["metadata"]["annotations"] = json!({"volume.beta.kubernetes.io/storage-class": "silver"});
    for object in [
        claim("gold-a", Some("gold"), "10Gi"),
        claim("gold-b", Some("gold"), "1500Mi"),
        claim("silver-a", Some("silver"), "1Gi"),
        claim("classless", None, "2Gi"),
        claim("empty-class", Some(""), "1G"),
        annotated,
    ] {
        create(&admin, &namespace, object).await;
    }

    // Services of every type.
    let service = |name: &str, spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec});
    let two_ports = json!([{"name": "http", "port": 80}, {"name": "https", "port": 443}]);
    for object in [
        service("cluster-ip", json!({"ports": two_ports})),
        service("headless", json!({"clusterIP": "None", "ports": [{"port": 80}]})),
        service(
            "external-name",
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
        ),
        service("node-port", json!({"type": "NodePort", "ports": two_ports})),
        service(
            "load-balancer",
            json!({"type": "LoadBalancer", "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}, {"name": "c", "port": 82}]}),
        ),
        service(
            "lb-without-node-ports",
            json!({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]}),
        ),
    ] {
        create(&admin, &namespace, object).await;
    }

    // Object counts: core kinds, a Deployment (its ReplicaSet comes from the controller), a
    // replication controller.
    for object in [
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "b"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"}, "stringData": {"a": "b"}}),
        json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "legacy"},
            "spec": {"replicas": 0, "selector": {"app": "legacy"}, "template": {"metadata": {"labels": {"app": "legacy"}},
                "spec": {"containers": [container("a", "1", "1Gi")]}}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [container("a", "1", "1Gi")]}}}}),
    ] {
        create(&admin, &namespace, object).await;
    }
    // Wait until the API server's count and ours agree, or report how they differ. Kubernetes
    // charges a quota at admission and recounts it only every few minutes, so a charge that
    // races the quota controller's first count can leave `status.used` off until then. If the
    // counts still differ after a while, a second quota with the same `hard` is created: its
    // first status is the controller's count of the stored objects from scratch.
    let started = tokio::time::Instant::now();
    let deadline = started + SETTLE;
    let mut source = "everything";
    let last = loop {
        let (ours, seen) = counted_by_us(&admin, &namespace).await;
        let reported: BTreeMap<String, String> = quotas
            .get(source)
            .await
            .unwrap()
            .status
            .and_then(|s| s.used)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        let diff = differences(&reported, &ours);
        let replica_set_made = seen.iter().any(|s| s.starts_with("replicasets/"));
        if diff.is_empty() && replica_set_made {
            // Spot checks that the table exercised what it claims to.
            let at = |r: &str| ours.get(r).copied().unwrap_or_default();
            assert_eq!(at("count/pods"), quantity::Amount::units(8));
            assert_eq!(
                at("pods"),
                quantity::Amount::units(7),
                "the Succeeded pod does not count"
            );
            assert_eq!(at("services.nodeports"), quantity::Amount::units(5));
            assert_eq!(at("services.loadbalancers"), quantity::Amount::units(2));
            assert!(at("gold.storageclass.storage.k8s.io/requests.storage") > quantity::Amount::ZERO);
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            break diff;
        }
        if source == "everything" && started.elapsed() > Duration::from_secs(15) {
            let recount = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "recount"},
                "spec": {"hard": hard}});
            create(&admin, &namespace, recount).await;
            palisade_testenv::eventually("the recount's first status", SETTLE, || {
                let quotas = quotas.clone();
                async move {
                    let quota = quotas.get("recount").await.ok()?;
                    (quota.status?.hard?.len() == TRACKED.len()).then_some(())
                }
            })
            .await
            .unwrap();
            source = "recount";
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    panic!(
        "after {SETTLE:?}, the ResourceQuota {source}'s status.used and Palisade's count still differ in namespace {namespace}:\n  {}",
        last.join("\n  ")
    );
}
