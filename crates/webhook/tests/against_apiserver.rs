//! The webhook as the API server sees it: a real kube-apiserver (testenv) calls it over HTTPS for
//! requests sent by tenant users through their own clients, and its answers reach those users.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn an_owners_namespace_lands_in_her_tenant_and_nobody_else_can_move_it() {
    let cluster = Cluster::start().await;
    let (alpha, alice) = cluster.tenant("alpha", "{}").await;
    let (beta, bob) = cluster.tenant("beta", "{}").await;

    let namespace = format!("{alpha}-web");
    let created = Api::<Namespace>::all(alice.clone())
        .create(&PostParams::default(), &namespace_object(&namespace))
        .await
        .unwrap();
    let labels = created.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("palisade.dev/tenant"), Some(&alpha), "{labels:?}");
    assert_eq!(
        labels.get("pod-security.kubernetes.io/enforce").map(String::as_str),
        Some("baseline")
    );
    let owner = &created.metadata.owner_references.clone().unwrap_or_default()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("Tenant", alpha.as_str()));

    let relabel = |value: serde_json::Value| json!({ "metadata": { "labels": { "palisade.dev/tenant": value } } });
    let as_bob = Api::<Namespace>::all(bob.clone());
    let moved = as_bob
        .patch(&namespace, &PatchParams::default(), &Patch::Merge(relabel(json!(beta))))
        .await;
    expect_denied(
        moved,
        &[&format!(
            "belongs to tenant \"{alpha}\" and cannot be moved to tenant \"{beta}\""
        )],
    );
    let removed = as_bob
        .patch(
            &namespace,
            &PatchParams::default(),
            &Patch::Merge(relabel(serde_json::Value::Null)),
        )
        .await;
    expect_denied(
        removed,
        &["only the platform team can remove the label palisade.dev/tenant"],
    );
    let as_alice = Api::<Namespace>::all(alice.clone());
    let removed = as_alice
        .patch(
            &namespace,
            &PatchParams::default(),
            &Patch::Merge(relabel(serde_json::Value::Null)),
        )
        .await;
    expect_denied(removed, &["only the platform team can remove"]);
    let no_owner = json!({ "metadata": { "ownerReferences": null } });
    expect_denied(
        as_alice
            .patch(&namespace, &PatchParams::default(), &Patch::Merge(no_owner))
            .await,
        &["owner reference"],
    );
    let lowered = json!({ "metadata": { "labels": { "pod-security.kubernetes.io/enforce": "privileged" } } });
    expect_denied(
        as_alice
            .patch(&namespace, &PatchParams::default(), &Patch::Merge(lowered))
            .await,
        &["manages the label pod-security.kubernetes.io/enforce"],
    );
    // Her own labels are hers.
    let own = json!({ "metadata": { "labels": { "team": "blue" } } });
    as_alice
        .patch(&namespace, &PatchParams::default(), &Patch::Merge(own))
        .await
        .unwrap();

    for system in ["kube-system", "default"] {
        let joined = as_alice
            .patch(system, &PatchParams::default(), &Patch::Merge(relabel(json!(alpha))))
            .await;
        expect_denied(joined, &["is not a tenant namespace", "cannot be added"]);
    }
}

#[tokio::test]
async fn namespace_creation_follows_the_tenant_rules() {
    let cluster = Cluster::start().await;
    let (gamma, carol) = cluster.tenant("gamma", "{ max: 1, forcePrefix: true }").await;
    let as_carol = Api::<Namespace>::all(carol);
    let denied = as_carol
        .create(&PostParams::default(), &namespace_object(&unique("other")))
        .await;
    expect_denied(
        denied,
        &[&format!("tenant \"{gamma}\" names its namespaces \"{gamma}-<name>\"")],
    );
    as_carol
        .create(&PostParams::default(), &namespace_object(&format!("{gamma}-one")))
        .await
        .unwrap();
    cluster.wait_for_namespace_count(&gamma, 1).await;
    let over = as_carol
        .create(&PostParams::default(), &namespace_object(&format!("{gamma}-two")))
        .await;
    expect_denied(over, &["may have at most 1 namespaces and already has 1"]);
}

#[tokio::test]
async fn pods_services_and_managed_objects_in_a_tenant_namespace() {
    let cluster = Cluster::start().await;
    let workloads = "{ registries: [registry.example.com/team/], priorityClasses: { allowed: [tenant-normal], default: tenant-normal }, nodeSelector: { pool: tenants } }";
    let (delta, dave) = cluster
        .tenant_with("delta", "{}", &format!("workloads: {workloads}"))
        .await;
    let namespace = format!("{delta}-app");
    Api::<Namespace>::all(dave.clone())
        .create(&PostParams::default(), &namespace_object(&namespace))
        .await
        .unwrap();
    cluster.wait_for_service_account(&namespace).await;

    let pods = Api::<Pod>::namespaced(dave.clone(), &namespace);
    expect_denied(
        pods.create(&PostParams::default(), &pod_object("web", "nginx:1.27"))
            .await,
        &[
            &format!("tenant \"{delta}\" allows images only from registry.example.com/team/"),
            "container \"app\" uses docker.io/library/nginx:1.27",
        ],
    );
    let admitted = pods
        .create(
            &PostParams::default(),
            &pod_object("api", "registry.example.com/team/api:1"),
        )
        .await
        .unwrap();
    let spec = admitted.spec.unwrap();
    assert_eq!(spec.priority_class_name.as_deref(), Some("tenant-normal"));
    assert_eq!(
        spec.node_selector.unwrap_or_default().get("pool").map(String::as_str),
        Some("tenants")
    );
    // The Priority plugin recomputed the priority for the class the webhook set.
    assert_eq!(spec.priority, Some(TENANT_NORMAL_PRIORITY));

    let services = Api::<Service>::namespaced(dave.clone(), &namespace);
    let node_port: Service = serde_json::from_value(json!({
        "metadata": { "name": "web" }, "spec": { "type": "NodePort", "ports": [{ "port": 80 }] }
    }))
    .unwrap();
    expect_denied(
        services.create(&PostParams::default(), &node_port).await,
        &["does not allow Services of type NodePort"],
    );
    let hijack: Service = serde_json::from_value(json!({
        "metadata": { "name": "mitm" }, "spec": { "ports": [{ "port": 80 }], "externalIPs": ["8.8.8.8"] }
    }))
    .unwrap();
    expect_denied(
        services.create(&PostParams::default(), &hijack).await,
        &["allows no externalIPs at all"],
    );
    let cluster_ip: Service =
        serde_json::from_value(json!({ "metadata": { "name": "web" }, "spec": { "ports": [{ "port": 80 }] } }))
            .unwrap();
    services.create(&PostParams::default(), &cluster_ip).await.unwrap();

    // An object Palisade manages, as its controller would write it.
    let managed: ConfigMap = serde_json::from_value(json!({
        "metadata": { "name": "palisade-settings", "labels": { "app.kubernetes.io/managed-by": "palisade", "palisade.dev/tenant": delta } },
        "data": { "a": "b" }
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(cluster.admin.clone(), &namespace)
        .create(&PostParams::default(), &managed)
        .await
        .unwrap();
    let as_dave = Api::<ConfigMap>::namespaced(dave, &namespace);
    expect_denied(
        as_dave.delete("palisade-settings", &DeleteParams::default()).await,
        &["is managed by Palisade"],
    );
    let edit = json!({ "data": { "a": "c" } });
    expect_denied(
        as_dave
            .patch("palisade-settings", &PatchParams::default(), &Patch::Merge(edit))
            .await,
        &["cannot change objects labelled"],
    );
}

#[tokio::test]
async fn invalid_and_protected_tenants_are_refused() {
    let cluster = Cluster::start().await;
    let tenants = cluster.tenants_api();
    let invalid = tenant_object(
        &unique("broken"),
        "someone",
        "{}",
        "storage: { classes: { allowed: [a-*], default: b } }",
    );
    expect_denied(
        tenants.create(&PostParams::default(), &invalid).await,
        &["the default class must be allowed by `allowed`"],
    );
    let name = unique("kept");
    let protected = tenant_object(&name, "someone", "{}", "preventDeletion: true");
    tenants.create(&PostParams::default(), &protected).await.unwrap();
    cluster.wait_for_tenant(&name).await;
    expect_denied(
        tenants.delete(&name, &DeleteParams::default()).await,
        &["spec.preventDeletion", "set it to false first"],
    );
}
