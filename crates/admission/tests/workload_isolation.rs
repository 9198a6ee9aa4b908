//! Workloads tried as an attacker would (issue 11): image references that walk out of the
//! allowed registry path, `spec.nodeName` past the scheduler, storage classes hidden in claim
//! templates, inline network volumes; and a pull policy the API server defaulted is not reported
//! as if the user wrote it. Each attack has its compliant twin.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

mod common;

use common::*;
use palisade_admission::Snapshot;
use serde_json::{Value, json};

fn pod_with(spec: Value) -> Review {
    Review::new("Pod", "CREATE", Some("payments-api"), "p").object(json!({ "spec": spec }))
}

fn container(image: &str) -> Value {
    json!({ "name": "app", "image": image, "imagePullPolicy": "IfNotPresent" })
}

fn statefulset(pod_spec: Value, claims: Value) -> Review {
    Review::new("StatefulSet", "CREATE", Some("payments-api"), "db").object(json!({ "spec": {
        "template": { "spec": pod_spec }, "volumeClaimTemplates": claims
    } }))
}

#[test]
fn images_are_compared_by_registry_and_path_components() {
    for attack in [
        "registry.example.com/payments/../storefront/app:1.0",
        "registry.example.com/payments/./app:1.0",
        "registry.example.com/payments//app:1.0",
        "registry.example.com/payments%2f..%2fstorefront/app:1.0",
        "registry.example.com/payments/App:1.0",
    ] {
        let verdict = pod_with(json!({ "containers": [container(attack)] })).decide();
        denied(
            verdict,
            &[
                "allows images only from registry.example.com/payments/",
                &format!("uses \"{attack}\", which is not a valid image reference"),
            ],
        );
    }
    for attack in [
        "registry.example.com/payments-evil/app:1.0",
        "registry.example.com/payments:1.0",
        "registry.example.com.evil.io/payments/app:1.0",
        "registry.example.com:5000/payments/app:1.0",
        "evil.io/registry.example.com/payments/app:1.0",
    ] {
        denied(
            pod_with(json!({ "containers": [container(attack)] })).decide(),
            &["allows images only from registry.example.com/payments/", "uses "],
        );
    }
    // Templates and every container kind go through the same parser.
    denied(
        Review::new("Deployment", "CREATE", Some("payments-api"), "d")
            .object(json!({ "spec": { "template": { "spec": {
                "containers": [container("registry.example.com/payments/api:1")],
                "initContainers": [container("registry.example.com/payments/../x/init:1")]
            } } } }))
            .decide(),
        &[
            "init container \"app\" (in the pod template of Deployment \"d\")",
            "not a valid image reference",
        ],
    );
    for compliant in [
        "registry.example.com/payments/api:1.0",
        "Registry.Example.COM/payments/team/api:1.0",
        "registry.example.com/payments/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        assert!(
            pod_with(json!({ "containers": [container(compliant)] }))
                .decide()
                .is_allowed(),
            "{compliant}"
        );
    }
}

#[test]
fn a_registry_entry_without_a_trailing_slash_is_a_host_not_a_prefix() {
    let mut snapshot: Snapshot = cluster();
    let mut payments = tenant(PAYMENTS);
    payments.spec.workloads.registries = vec!["registry.example.com".into()];
    snapshot = snapshot.with_tenant(payments);
    let decide = |image: &str| pod_with(json!({ "containers": [container(image)] })).decide_in(&snapshot);
    denied(
        decide("registry.example.com.evil.io/app:1"),
        &["uses registry.example.com.evil.io/app:1"],
    );
    denied(
        decide("registry.example.comevil.io/app:1"),
        &["allows images only from registry.example.com"],
    );
    assert!(decide("registry.example.com/any/app:1").is_allowed());
}

#[test]
fn a_pull_policy_the_api_server_defaulted_is_reported_as_such() {
    let mut snapshot = cluster();
    let mut payments = tenant(PAYMENTS);
    payments.spec.workloads.pull_policies = vec![palisade_api::PullPolicy::IfNotPresent];
    snapshot = snapshot.with_tenant(payments);
    let with_policy = |image: &str, policy: &str| {
        pod_with(json!({ "containers": [{ "name": "app", "image": image, "imagePullPolicy": policy }] }))
            .decide_in(&snapshot)
    };
    // `:latest` (or no tag) and no policy: the API server wrote Always.
    denied(
        with_policy("registry.example.com/payments/api:latest", "Always"),
        &[
            "uses Always (the API server's default for an image tagged :latest or not tagged when none is set",
            "set imagePullPolicy to IfNotPresent explicitly, or tag the image",
        ],
    );
    denied(
        with_policy("registry.example.com/payments/api", "Always"),
        &["the API server's default"],
    );
    // A tagged image with Always: the API server would have written IfNotPresent, so someone
    // wrote Always, and the denial does not blame a default.
    let verdict = with_policy("registry.example.com/payments/api:1.0", "Always");
    denied(verdict.clone(), &["allows imagePullPolicy IfNotPresent", "uses Always"]);
    let Verdict::Deny(message) = verdict else {
        unreachable!()
    };
    assert!(!message.contains("default"), "{message}");
    assert!(with_policy("registry.example.com/payments/api:1.0", "IfNotPresent").is_allowed());
}

use palisade_admission::Verdict;

#[test]
fn node_name_is_refused_on_pods_and_templates() {
    let spec = json!({ "nodeName": "gpu-node-7", "containers": [container("registry.example.com/payments/api:1")] });
    denied(
        pod_with(spec.clone()).decide(),
        &[
            "spec.nodeName names node \"gpu-node-7\"",
            "bypass the scheduler",
            "remove spec.nodeName",
        ],
    );
    // Also under a controller's identity (a ReplicaSet written before this rule).
    denied(
        Review::new("Pod", "CREATE", Some("payments-api"), "p")
            .by("system:serviceaccount:kube-system:replicaset-controller", &[])
            .object(json!({ "spec": spec }))
            .decide(),
        &["spec.nodeName"],
    );
    denied(
        Review::new("Deployment", "CREATE", Some("payments-api"), "d")
            .object(json!({ "spec": { "template": { "spec": spec } } }))
            .decide(),
        &["spec.nodeName (in the pod template of Deployment \"d\") names node \"gpu-node-7\""],
    );
    denied(statefulset(spec, json!([])).decide(), &["spec.nodeName"]);
    // The kubelet's mirror pods carry their node.
    assert!(
        Review::new("Pod", "CREATE", Some("payments-api"), "p")
            .by("system:node:gpu-node-7", &["system:nodes"])
            .object(json!({ "spec": { "nodeName": "gpu-node-7", "containers": [container("registry.example.com/payments/api:1")] } }))
            .decide()
            .is_allowed()
    );
    // Without nodeName the pod is scheduled into the tenant's pool.
    assert!(
        pod_with(json!({ "containers": [container("registry.example.com/payments/api:1")] }))
            .decide()
            .is_allowed()
    );
}

#[test]
fn claim_templates_use_allowed_storage_classes_only() {
    let pod_spec = json!({ "containers": [container("registry.example.com/payments/api:1")] });
    let claim = |class: Option<&str>| {
        let mut claim = json!({ "metadata": { "name": "data" },
            "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } } });
        if let Some(class) = class {
            claim["spec"]["storageClassName"] = json!(class);
        }
        claim
    };
    denied(
        statefulset(pod_spec.clone(), json!([claim(Some("fast-unencrypted"))])).decide(),
        &[
            "allows the storage class encrypted-ssd",
            "\"fast-unencrypted\" (volumeClaimTemplate \"data\" of StatefulSet \"db\") is not one of them",
        ],
    );
    assert!(
        statefulset(pod_spec.clone(), json!([claim(Some("encrypted-ssd"))]))
            .decide()
            .is_allowed()
    );
    assert!(
        statefulset(pod_spec.clone(), json!([claim(None)]))
            .decide()
            .is_allowed()
    );

    let ephemeral = |class: &str| {
        json!({ "containers": [container("registry.example.com/payments/api:1")], "volumes": [{
            "name": "scratch", "ephemeral": { "volumeClaimTemplate": { "spec": {
                "storageClassName": class, "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } } } }
        }] })
    };
    denied(
        pod_with(ephemeral("fast-unencrypted")).decide(),
        &["\"fast-unencrypted\" (ephemeral volume \"scratch\") is not one of them"],
    );
    denied(
        Review::new("Deployment", "CREATE", Some("payments-api"), "d")
            .object(json!({ "spec": { "template": { "spec": ephemeral("fast-unencrypted") } } }))
            .decide(),
        &["(ephemeral volume \"scratch\" (in the pod template of Deployment \"d\"))"],
    );
    assert!(pod_with(ephemeral("encrypted-ssd")).decide().is_allowed());
}

#[test]
fn inline_network_volumes_are_refused_unless_the_tenant_allows_them() {
    let with_volume = |volume: Value| json!({ "containers": [container("registry.example.com/payments/api:1")], "volumes": [volume] });
    for (source, volume) in [
        (
            "nfs",
            json!({ "name": "share", "nfs": { "server": "10.1.2.3", "path": "/exports/storefront" } }),
        ),
        (
            "iscsi",
            json!({ "name": "share", "iscsi": { "targetPortal": "10.1.2.3:3260", "iqn": "iqn.x", "lun": 0 } }),
        ),
        (
            "cephfs",
            json!({ "name": "share", "cephfs": { "monitors": ["10.1.2.3:6789"] } }),
        ),
        (
            "rbd",
            json!({ "name": "share", "rbd": { "monitors": ["10.1.2.3:6789"], "image": "x" } }),
        ),
        (
            "glusterfs",
            json!({ "name": "share", "glusterfs": { "endpoints": "gluster", "path": "vol" } }),
        ),
    ] {
        denied(
            pod_with(with_volume(volume.clone())).decide(),
            &[
                "does not allow inline network volumes (spec.workloads.allowInlineNetworkVolumes is false)",
                &format!("volume \"share\" is a {source} volume"),
            ],
        );
        denied(
            statefulset(with_volume(volume), json!([])).decide(),
            &["(in the pod template of StatefulSet \"db\") is a"],
        );
    }
    // Volumes that are no network mount pass.
    assert!(
        pod_with(with_volume(json!({ "name": "tmp", "emptyDir": {} })))
            .decide()
            .is_allowed()
    );
    assert!(
        pod_with(with_volume(
            json!({ "name": "data", "persistentVolumeClaim": { "claimName": "data" } })
        ))
        .decide()
        .is_allowed()
    );
    // A tenant that allows them.
    let mut snapshot = cluster();
    let mut payments = tenant(PAYMENTS);
    payments.spec.workloads.allow_inline_network_volumes = true;
    snapshot = snapshot.with_tenant(payments);
    assert!(
        pod_with(with_volume(
            json!({ "name": "share", "nfs": { "server": "10.1.2.3", "path": "/x" } })
        ))
        .decide_in(&snapshot)
        .is_allowed()
    );
    // Pods admitted before the rule can still be updated (volumes are immutable).
    assert!(
        Review::new("Pod", "UPDATE", Some("payments-api"), "p")
            .old(json!({ "spec": with_volume(json!({ "name": "share", "nfs": { "server": "10.1.2.3", "path": "/x" } })) }))
            .object(json!({ "metadata": { "labels": { "a": "b" } }, "spec": with_volume(json!({ "name": "share", "nfs": { "server": "10.1.2.3", "path": "/x" } })) }))
            .decide()
            .is_allowed()
    );
}
