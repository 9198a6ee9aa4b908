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
    // Bob learns that it is bound, not to whom.
    let denial = moved
        .expect_err("moving another tenant's namespace was admitted")
        .to_string();
    assert!(
        denial.contains(&format!("belongs to a tenant and cannot be moved to tenant \"{beta}\"")),
        "{denial}"
    );
    assert!(
        !denial.contains(&format!("tenant \"{alpha}\"")),
        "{denial} names the owning tenant"
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

#[tokio::test]
async fn ingresses_claims_network_policies_and_workloads() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};

    let cluster = Cluster::start().await;
    let spec = "ingress: { classes: { allowed: [internal], default: internal }, hostnames: [\"*.shop.example.com\"] }\n  storage: { classes: { allowed: [fast], default: fast } }\n  workloads: { registries: [registry.example.com/] }";
    let (epsilon, erin) = cluster.tenant_with("epsilon", "{}", spec).await;
    let (zeta, _) = cluster.tenant("zeta", "{}").await;
    let namespace = format!("{epsilon}-app");
    Api::<Namespace>::all(erin.clone())
        .create(&PostParams::default(), &namespace_object(&namespace))
        .await
        .unwrap();
    cluster.wait_for_namespace_count(&epsilon, 1).await;

    let ingress = |host: &str| -> Ingress {
        serde_json::from_value(json!({
            "metadata": { "name": unique("web") },
            "spec": { "rules": [{ "host": host, "http": { "paths": [{ "path": "/", "pathType": "Prefix",
                "backend": { "service": { "name": "web", "port": { "number": 80 } } } }] } }] }
        }))
        .unwrap()
    };
    let ingresses = Api::<Ingress>::namespaced(erin.clone(), &namespace);
    expect_denied(
        ingresses
            .create(&PostParams::default(), &ingress("evil.example.com"))
            .await,
        &["may serve only *.shop.example.com", "asks for evil.example.com"],
    );
    let created = ingresses
        .create(&PostParams::default(), &ingress("eu.shop.example.com"))
        .await
        .unwrap();
    assert_eq!(created.spec.unwrap().ingress_class_name.as_deref(), Some("internal"));

    let claims = Api::<PersistentVolumeClaim>::namespaced(erin.clone(), &namespace);
    let claim = |class: Option<&str>| -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": { "name": unique("data") },
            "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } }, "storageClassName": class }
        }))
        .unwrap()
    };
    expect_denied(
        claims.create(&PostParams::default(), &claim(Some("slow"))).await,
        &["storage class fast", "\"slow\""],
    );
    let created = claims.create(&PostParams::default(), &claim(None)).await.unwrap();
    assert_eq!(created.spec.unwrap().storage_class_name.as_deref(), Some("fast"));

    let policies = Api::<NetworkPolicy>::namespaced(erin.clone(), &namespace);
    let policy = |selector: serde_json::Value| -> NetworkPolicy {
        serde_json::from_value(json!({
            "metadata": { "name": unique("open") },
            "spec": { "podSelector": {}, "ingress": [{ "from": [{ "namespaceSelector": selector }] }] }
        }))
        .unwrap()
    };
    expect_denied(
        policies.create(&PostParams::default(), &policy(json!({}))).await,
        &["could match namespaces outside this tenant"],
    );
    expect_denied(
        policies
            .create(
                &PostParams::default(),
                &policy(json!({ "matchLabels": { "palisade.dev/tenant": zeta } })),
            )
            .await,
        &[&format!(
            "selects namespaces labelled palisade.dev/tenant={zeta}; a tenant's own NetworkPolicies select only its own namespaces"
        )],
    );
    policies
        .create(
            &PostParams::default(),
            &policy(json!({ "matchLabels": { "palisade.dev/tenant": epsilon } })),
        )
        .await
        .unwrap();

    let deployment = |image: &str| -> Deployment {
        serde_json::from_value(json!({
            "metadata": { "name": unique("web") },
            "spec": { "selector": { "matchLabels": { "app": "web" } },
                "template": { "metadata": { "labels": { "app": "web" } }, "spec": { "containers": [{ "name": "web", "image": image }] } } }
        }))
        .unwrap()
    };
    let deployments = Api::<Deployment>::namespaced(erin.clone(), &namespace);
    expect_denied(
        deployments.create(&PostParams::default(), &deployment("nginx")).await,
        &["(in the pod template of Deployment", "uses docker.io/library/nginx"],
    );
    deployments
        .create(&PostParams::default(), &deployment("registry.example.com/web:1"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_cordoned_tenant_is_frozen_for_its_users() {
    let cluster = Cluster::start().await;
    let (eta, owner) = cluster.tenant("eta", "{}").await;
    let namespace = format!("{eta}-app");
    Api::<Namespace>::all(owner.clone())
        .create(&PostParams::default(), &namespace_object(&namespace))
        .await
        .unwrap();
    cluster.wait_for_namespace_count(&eta, 1).await;
    cluster.cordon(&eta).await;
    let config: ConfigMap = serde_json::from_value(json!({ "metadata": { "name": "settings" }, "data": {} })).unwrap();
    expect_denied(
        Api::<ConfigMap>::namespaced(owner.clone(), &namespace)
            .create(&PostParams::default(), &config)
            .await,
        &[&format!("tenant \"{eta}\" is cordoned")],
    );
    expect_denied(
        Api::<Namespace>::all(owner)
            .create(&PostParams::default(), &namespace_object(&format!("{eta}-more")))
            .await,
        &["cordoned: no new namespaces"],
    );
    // The administrator is not frozen.
    Api::<ConfigMap>::namespaced(cluster.admin.clone(), &namespace)
        .create(&PostParams::default(), &config)
        .await
        .unwrap();
}
