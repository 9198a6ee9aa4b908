//! The boundary between tenants, against the real API server calling the webhook, tried as an
//! attacker would: a tenant owner with broad RBAC (cluster-admin, short of system:masters) and a
//! ServiceAccount of a tenant namespace, on every API path to the same state (update, merge and
//! strategic patches, server-side apply, dry-run, subresources). Each attack asserts what is
//! stored afterwards, and each has its compliant twin.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

mod common;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ServiceAccount};
use k8s_openapi::api::policy::v1::Eviction;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use palisade_testenv::eventually;
use serde_json::{Value, json};

/// What of a namespace decides who holds it and when it goes.
fn guarded_state(namespace: &Namespace) -> Value {
    json!({
        "labels": namespace.metadata.labels,
        "annotations": namespace.metadata.annotations,
        "ownerReferences": namespace.metadata.owner_references,
        "finalizers": namespace.metadata.finalizers,
        "specFinalizers": namespace.spec.as_ref().and_then(|s| s.finalizers.clone()),
        "deletionTimestamp": namespace.metadata.deletion_timestamp,
    })
}

/// Tries `change` (a JSON merge patch of the namespace) on every write path, as `client`; each
/// must be denied with all `fragments`, none may name `secret`, and the stored namespace must be
/// as before.
async fn every_path_denied(
    admin: &Client,
    client: &Client,
    name: &str,
    change: Value,
    fragments: &[&str],
    secret: &str,
) {
    let stored = Api::<Namespace>::all(admin.clone());
    let before = guarded_state(&stored.get(name).await.unwrap());
    let api = Api::<Namespace>::all(client.clone());
    let dry_run = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    let mut current = serde_json::to_value(stored.get(name).await.unwrap()).unwrap();
    json_merge(&mut current, &change);
    let replaced: Namespace = serde_json::from_value(current).unwrap();
    let mut applied = change.clone();
    applied["apiVersion"] = json!("v1");
    applied["kind"] = json!("Namespace");
    applied["metadata"]["name"] = json!(name);
    let attempts: Vec<(&str, Result<Namespace, kube::Error>)> = vec![
        ("update", api.replace(name, &PostParams::default(), &replaced).await),
        (
            "update, dry-run",
            api.replace(
                name,
                &PostParams {
                    dry_run: true,
                    ..PostParams::default()
                },
                &replaced,
            )
            .await,
        ),
        (
            "merge patch",
            api.patch(name, &PatchParams::default(), &Patch::Merge(&change)).await,
        ),
        (
            "merge patch, dry-run",
            api.patch(name, &dry_run, &Patch::Merge(&change)).await,
        ),
        (
            "strategic merge patch",
            api.patch(name, &PatchParams::default(), &Patch::Strategic(&change))
                .await,
        ),
        (
            "server-side apply",
            api.patch(name, &PatchParams::apply("attacker").force(), &Patch::Apply(&applied))
                .await,
        ),
    ];
    expect_every_path_denied(&format!("namespace {name}"), attempts, fragments, secret);
    let after = guarded_state(&stored.get(name).await.unwrap());
    assert_eq!(before, after, "namespace {name} changed although every path was denied");
}

fn json_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    json_merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// A tenant with one namespace (its `default` ServiceAccount made, so pods can be created), its
/// owner (cluster-admin RBAC), and a ServiceAccount identity of that namespace with the same RBAC.
async fn tenant_with_namespace(cluster: &Cluster, prefix: &str, extra_spec: &str) -> (String, String, Client, Client) {
    let (tenant, namespace, owner) = cluster.tenant_with_namespace(prefix, "app", extra_spec).await;
    cluster.wait_for_service_account(&namespace).await;
    let service_account = format!("system:serviceaccount:{namespace}:deployer");
    let binding: k8s_openapi::api::rbac::v1::ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": { "name": format!("{namespace}-deployer") },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin" },
        "subjects": [{ "kind": "ServiceAccount", "name": "deployer", "namespace": namespace }]
    }))
    .unwrap();
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(cluster.admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let groups = [
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{namespace}"),
    ];
    let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    let robot = env().user_client(&service_account, &group_refs).await.unwrap();
    (tenant, namespace, owner, robot)
}

#[tokio::test]
async fn tenant_users_cannot_touch_namespaces_outside_their_tenant() {
    let cluster = Cluster::start().await;
    let (victim, victim_namespace, _, _) = tenant_with_namespace(&cluster, "victim", "").await;
    let (_, _, owner, robot) = tenant_with_namespace(&cluster, "attacker", "").await;
    let platform = env().create_namespace("platform", &[]).await.unwrap();
    let admin = cluster.admin.clone();
    // Namespace names carry their tenant's name by design (the user typed them); what must never
    // appear is the owning tenant named as such.
    let secret = format!("tenant \"{victim}\"");

    for (who, client) in [("owner", &owner), ("tenant ServiceAccount", &robot)] {
        eprintln!("attacks as the {who}");
        for target in [victim_namespace.as_str(), "kube-system", "default", platform.as_str()] {
            every_path_denied(
                &admin,
                client,
                target,
                json!({ "metadata": { "labels": { "owned-by": "attacker" } } }),
                &["is not a namespace of your tenant"],
                &secret,
            )
            .await;
            every_path_denied(
                &admin,
                client,
                target,
                json!({ "metadata": { "annotations": { "scheduler.alpha.kubernetes.io/node-selector": "pool=gpu" } } }),
                &["is not a namespace of your tenant"],
                &secret,
            )
            .await;
        }
        // A dangling owner reference would let the garbage collector delete the namespace.
        every_path_denied(
            &admin,
            client,
            &platform,
            json!({ "metadata": { "ownerReferences": [{ "apiVersion": "v1", "kind": "Node", "name": "gone", "uid": "9a6c1a8e-0000-4000-8000-00000000dead" }] } }),
            &["is not a namespace of your tenant"],
            &secret,
        )
        .await;
        // /finalize and /status, on a system namespace and another tenant's.
        for target in ["kube-system", victim_namespace.as_str()] {
            let api = Api::<Namespace>::all(client.clone());
            let mut stripped = Api::<Namespace>::all(admin.clone()).get(target).await.unwrap();
            stripped.spec = Some(k8s_openapi::api::core::v1::NamespaceSpec {
                finalizers: Some(vec![]),
            });
            stripped
                .metadata
                .labels
                .get_or_insert_default()
                .insert("owned-by".into(), "attacker".into());
            let body = stripped.clone();
            for sub in ["finalize", "status"] {
                let result = api
                    .replace_subresource(sub, target, &PostParams::default(), &body)
                    .await;
                expect_denied(result, &["is not a namespace of your tenant"]);
            }
            let stored = Api::<Namespace>::all(admin.clone()).get(target).await.unwrap();
            assert_eq!(
                stored.spec.and_then(|s| s.finalizers),
                Some(vec!["kubernetes".to_string()]),
                "{target} lost its finalizer"
            );
            assert!(!stored.metadata.labels.unwrap_or_default().contains_key("owned-by"));
        }
        for target in [victim_namespace.as_str(), platform.as_str()] {
            for dry_run in [true, false] {
                let params = DeleteParams {
                    dry_run,
                    ..DeleteParams::default()
                };
                let result = Api::<Namespace>::all(client.clone()).delete(target, &params).await;
                expect_denied(result, &["is not a namespace of your tenant"]);
            }
            let stored = Api::<Namespace>::all(admin.clone()).get(target).await.unwrap();
            assert!(
                stored.metadata.deletion_timestamp.is_none(),
                "{target} is being deleted"
            );
        }
    }
}

#[tokio::test]
async fn in_its_own_namespace_an_owner_cannot_strip_finalizers_or_plant_owner_references() {
    let cluster = Cluster::start().await;
    let (_, namespace, owner, _) = tenant_with_namespace(&cluster, "own", "").await;
    let admin = cluster.admin.clone();
    // Palisade's own reference to the Tenant stays; a dangling one is added beside it.
    let mut references = serde_json::to_value(
        Api::<Namespace>::all(admin.clone())
            .get(&namespace)
            .await
            .unwrap()
            .metadata
            .owner_references,
    )
    .unwrap();
    references
        .as_array_mut()
        .expect("the namespace is bound to its Tenant by an owner reference")
        .push(json!({ "apiVersion": "v1", "kind": "Node", "name": "gone", "uid": "9a6c1a8e-0000-4000-8000-00000000dead" }));
    every_path_denied(
        &admin,
        &owner,
        &namespace,
        json!({ "metadata": { "ownerReferences": references } }),
        &["owner references", "cannot change them"],
        "\u{0}",
    )
    .await;
    every_path_denied(
        &admin,
        &owner,
        &namespace,
        json!({ "metadata": { "finalizers": ["example.com/hold"] } }),
        &["finalizers", "cannot change them"],
        "\u{0}",
    )
    .await;
    every_path_denied(
        &admin,
        &owner,
        &namespace,
        json!({ "metadata": { "annotations": { "scheduler.alpha.kubernetes.io/defaultTolerations": "[{\"operator\":\"Exists\"}]" } } }),
        &["scheduler.alpha.kubernetes.io/defaultTolerations"],
        "\u{0}",
    )
    .await;
    let mut stripped = Api::<Namespace>::all(admin.clone()).get(&namespace).await.unwrap();
    stripped.spec = Some(k8s_openapi::api::core::v1::NamespaceSpec {
        finalizers: Some(vec![]),
    });
    let result = Api::<Namespace>::all(owner.clone())
        .replace_subresource("finalize", &namespace, &PostParams::default(), &stripped)
        .await;
    expect_denied(result, &["namespaces/finalize"]);
    let stored = Api::<Namespace>::all(admin.clone()).get(&namespace).await.unwrap();
    assert_eq!(
        stored.spec.and_then(|s| s.finalizers),
        Some(vec!["kubernetes".to_string()])
    );
    // The compliant twin: an ordinary label on one's own namespace.
    Api::<Namespace>::all(owner)
        .patch(
            &namespace,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "team": "blue" } } })),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn nobody_but_palisade_binds_a_namespace_to_a_tenant() {
    let cluster = Cluster::start().await;
    let (victim, _, _, _) = tenant_with_namespace(&cluster, "bound", "").await;
    let (_, _, owner, _) = tenant_with_namespace(&cluster, "binder", "").await;
    let uid = cluster.tenants_api().get(&victim).await.unwrap().metadata.uid.unwrap();
    // A platform user with every RBAC right but no tenant.
    let platform_user = unique("platform-user");
    let binding: k8s_openapi::api::rbac::v1::ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": { "name": platform_user },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": platform_user }]
    }))
    .unwrap();
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(cluster.admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let platform = env().user_client(&platform_user, &[]).await.unwrap();
    for group in ["palisade.dev", "Palisade.dev"] {
        let name = unique("adopted");
        let namespace: Namespace = serde_json::from_value(json!({ "metadata": { "name": name, "ownerReferences": [
            { "apiVersion": format!("{group}/v1alpha1"), "kind": "Tenant", "name": victim, "uid": uid, "controller": false }
        ] } }))
        .unwrap();
        for client in [&owner, &platform] {
            expect_denied(
                Api::<Namespace>::all(client.clone())
                    .create(&PostParams::default(), &namespace)
                    .await,
                &["owner reference to a Tenant"],
            );
            assert!(
                Api::<Namespace>::all(cluster.admin.clone())
                    .get_opt(&name)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }
    // Names under the victim's forced prefix are the victim's.
    let squatted = format!("{victim}-shadow");
    for client in [&owner, &platform] {
        let result = Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace_object(&squatted))
            .await;
        assert!(result.is_err(), "{squatted} was created");
        assert!(
            Api::<Namespace>::all(cluster.admin.clone())
                .get_opt(&squatted)
                .await
                .unwrap()
                .is_none()
        );
    }
    // The platform user still makes platform namespaces.
    let free = unique("platform-free");
    Api::<Namespace>::all(platform)
        .create(&PostParams::default(), &namespace_object(&free))
        .await
        .unwrap();
}

fn deployment(name: &str, image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "replicas": replicas, "selector": { "matchLabels": { "app": name } }, "template": {
            "metadata": { "labels": { "app": name } },
            "spec": { "containers": [{ "name": "app", "image": image }] } } }
    }))
    .unwrap()
}

async fn cordon(cluster: &Cluster, tenant: &str) {
    cluster.cordon(tenant).await;
}

#[tokio::test]
async fn a_cordon_freezes_every_subresource() {
    let cluster = Cluster::start().await;
    let (tenant, namespace, owner, _) = tenant_with_namespace(
        &cluster,
        "frozen",
        "workloads: { priorityClasses: { allowed: [tenant-normal], default: tenant-normal } }",
    )
    .await;
    let deployments = Api::<Deployment>::namespaced(owner.clone(), &namespace);
    deployments
        .create(
            &PostParams::default(),
            &deployment("api", "registry.example.com/api:1", 1),
        )
        .await
        .unwrap();
    let pods = Api::<Pod>::namespaced(owner.clone(), &namespace);
    pods.create(
        &PostParams::default(),
        &pod_object("victim-pod", "registry.example.com/api:1"),
    )
    .await
    .unwrap();
    cordon(&cluster, &tenant).await;
    let frozen = format!("tenant \"{tenant}\" is cordoned");

    let scale: Scale = serde_json::from_value(
        json!({ "metadata": { "name": "api", "namespace": namespace }, "spec": { "replicas": 40 } }),
    )
    .unwrap();
    expect_denied(
        deployments
            .replace_subresource("scale", "api", &PostParams::default(), &scale)
            .await,
        &[&frozen],
    );
    expect_denied(
        deployments
            .patch_scale(
                "api",
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": { "replicas": 40 } })),
            )
            .await,
        &[&frozen],
    );
    let stored = Api::<Deployment>::namespaced(cluster.admin.clone(), &namespace)
        .get("api")
        .await
        .unwrap();
    assert_eq!(stored.spec.replicas, Some(1));

    let eviction: Eviction =
        serde_json::from_value(json!({ "metadata": { "name": "victim-pod", "namespace": namespace } })).unwrap();
    expect_denied(
        pods.create_subresource::<Eviction, Value>("eviction", "victim-pod", &PostParams::default(), &eviction)
            .await,
        &[&frozen],
    );
    assert!(
        Api::<Pod>::namespaced(cluster.admin.clone(), &namespace)
            .get_opt("victim-pod")
            .await
            .unwrap()
            .is_some()
    );

    let token: TokenRequest = serde_json::from_value(json!({ "spec": { "audiences": [] } })).unwrap();
    let accounts = Api::<ServiceAccount>::namespaced(owner.clone(), &namespace);
    expect_denied(
        accounts
            .create_subresource::<TokenRequest, TokenRequest>("token", "default", &PostParams::default(), &token)
            .await,
        &[&frozen],
    );
    // The administrator is not frozen.
    Api::<Deployment>::namespaced(cluster.admin.clone(), &namespace)
        .patch_scale(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 2 } })),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_pods_binding_and_status_are_not_a_tenants_to_write() {
    let cluster = Cluster::start().await;
    let (_, namespace, owner, _) = tenant_with_namespace(&cluster, "bind", "").await;
    let pods = Api::<Pod>::namespaced(owner.clone(), &namespace);
    pods.create(&PostParams::default(), &pod_object("p", "registry.example.com/api:1"))
        .await
        .unwrap();
    let binding = json!({ "apiVersion": "v1", "kind": "Binding", "metadata": { "name": "p" }, "target": { "kind": "Node", "name": "any-node" } });
    expect_denied(
        pods.create_subresource::<Value, Value>("binding", "p", &PostParams::default(), &binding)
            .await,
        &["pods/binding", "the scheduler"],
    );
    expect_denied(
        pods.patch_status(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "podIP": "10.244.9.9" } })),
        )
        .await,
        &["pods/status", "the kubelet"],
    );
    let stored = Api::<Pod>::namespaced(cluster.admin.clone(), &namespace)
        .get("p")
        .await
        .unwrap();
    assert_eq!(stored.spec.unwrap().node_name, None);
    assert_eq!(stored.status.and_then(|s| s.pod_ip), None);
}

#[tokio::test]
async fn palisade_labels_cannot_be_forged_and_role_bindings_stay_inside_the_tenant() {
    let cluster = Cluster::start().await;
    let (victim, victim_namespace, _, _) = tenant_with_namespace(&cluster, "labelled", "").await;
    let (tenant, namespace, owner, _) = tenant_with_namespace(&cluster, "forger", "").await;
    let victim_owner = format!("{victim}-owner");

    let forged: ConfigMap = serde_json::from_value(
        json!({ "metadata": { "name": "forged", "labels": { "palisade.dev/tenant": victim } } }),
    )
    .unwrap();
    let configs = Api::<ConfigMap>::namespaced(owner.clone(), &namespace);
    expect_denied(
        configs.create(&PostParams::default(), &forged).await,
        &["palisade.dev/"],
    );
    let applied = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "forged", "labels": { "palisade.dev/tenant": victim } } });
    expect_denied(
        configs
            .patch(
                "forged",
                &PatchParams::apply("attacker").force(),
                &Patch::Apply(&applied),
            )
            .await,
        &["palisade.dev/"],
    );
    assert!(configs.get_opt("forged").await.unwrap().is_none());
    let own: ConfigMap =
        serde_json::from_value(json!({ "metadata": { "name": "own", "labels": { "palisade.dev/tenant": tenant } } }))
            .unwrap();
    configs.create(&PostParams::default(), &own).await.unwrap();
    expect_denied(
        configs
            .patch(
                "own",
                &PatchParams::default(),
                &Patch::Merge(json!({ "metadata": { "labels": { "palisade.dev/tenant": victim } } })),
            )
            .await,
        &["palisade.dev/"],
    );

    let bindings = Api::<RoleBinding>::namespaced(owner.clone(), &namespace);
    let binding = |name: &str, subject: Value| -> RoleBinding {
        serde_json::from_value(json!({
            "metadata": { "name": name },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin" },
            "subjects": [subject]
        }))
        .unwrap()
    };
    let outside = [
        json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": victim_owner }),
        json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated" }),
        json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:serviceaccounts" }),
        json!({ "kind": "ServiceAccount", "name": "default", "namespace": victim_namespace }),
    ];
    for (index, subject) in outside.into_iter().enumerate() {
        let name = format!("outside-{index}");
        let result = bindings.create(&PostParams::default(), &binding(&name, subject)).await;
        match result {
            Ok(_) => panic!("RoleBinding {name} to an outside subject was admitted"),
            Err(error) => {
                let message = error.to_string();
                assert!(message.contains("spec.rbac.outsideSubjects"), "{message}");
                assert!(
                    !message.contains(&format!("tenant \"{victim}\"")),
                    "{message} names the victim"
                );
            }
        }
        assert!(bindings.get_opt(&name).await.unwrap().is_none());
    }
    bindings
        .create(
            &PostParams::default(),
            &binding(
                "inside",
                json!({ "kind": "ServiceAccount", "name": "default", "namespace": namespace }),
            ),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn pods_that_controllers_make_from_templates_pass_the_same_rules() {
    let cluster = Cluster::start().await;
    let (_, namespace, _, _) = tenant_with_namespace(
        &cluster,
        "templated",
        "workloads: { registries: [registry.example.com/], priorityClasses: { allowed: [tenant-normal], default: tenant-normal } }",
    )
    .await;
    // The administrator skips the webhook; the replicaset controller, under its own identity,
    // does not.
    let deployments = Api::<Deployment>::namespaced(cluster.admin.clone(), &namespace);
    deployments
        .create(
            &PostParams::default(),
            &deployment("outside", "docker.io/library/nginx:1.27", 2),
        )
        .await
        .unwrap();
    deployments
        .create(
            &PostParams::default(),
            &deployment("inside", "registry.example.com/app:1", 2),
        )
        .await
        .unwrap();
    let pods = Api::<Pod>::namespaced(cluster.admin.clone(), &namespace);
    let made = eventually("the replicaset controller to make the compliant pods", WAIT, || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&Default::default()).await.ok()?;
            (list.items.len() >= 2).then_some(list.items)
        }
    })
    .await
    .unwrap();
    for pod in &made {
        let spec = pod.spec.clone().unwrap();
        assert_eq!(spec.containers[0].image.as_deref(), Some("registry.example.com/app:1"));
        assert_eq!(
            spec.priority_class_name.as_deref(),
            Some("tenant-normal"),
            "defaults mutated in"
        );
    }
    // The forbidden template never becomes a ReplicaSet: the deployment controller's create,
    // under its own identity, is refused like anyone's. (The compliant Deployment, created after
    // it, already has its pods, so the controllers have had their turn.)
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let replica_sets = Api::<k8s_openapi::api::apps::v1::ReplicaSet>::namespaced(cluster.admin.clone(), &namespace);
    let names: Vec<String> = replica_sets
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|rs| rs.metadata.name)
        .collect();
    assert!(names.iter().any(|n| n.starts_with("inside-")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("outside-")),
        "a ReplicaSet of the forbidden template was stored: {names:?}"
    );
    let stored = pods.list(&Default::default()).await.unwrap().items;
    assert!(
        stored
            .iter()
            .all(|p| p.metadata.name.as_deref().is_some_and(|n| n.starts_with("inside-"))),
        "a pod of the forbidden template was stored"
    );
}

#[tokio::test]
async fn a_granted_platform_namespace_name_cannot_be_squatted_by_another_tenant() {
    let cluster = Cluster::start().await;
    // The platform's namespace is gone (deleted, or not made yet); a Tenant still grants it.
    let platform = unique("metrics");
    let (granting, _, _, _) = tenant_with_namespace(
        &cluster,
        "granting",
        &format!("network: {{ allowFrom: {{ namespaces: [{platform}] }} }}"),
    )
    .await;
    let (_, _, squatter, _) = tenant_with_namespace(&cluster, "squatter", "").await;
    let labelled: Namespace = serde_json::from_value(json!({ "metadata": { "name": platform } })).unwrap();
    let result = Api::<Namespace>::all(squatter.clone())
        .create(&PostParams::default(), &labelled)
        .await;
    match result {
        Ok(_) => panic!("a tenant took the name of a granted platform namespace"),
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains("reserved for a platform namespace"), "{message}");
            assert!(!message.contains(&granting), "{message} names the granting tenant");
        }
    }
    assert!(
        Api::<Namespace>::all(cluster.admin.clone())
            .get_opt(&platform)
            .await
            .unwrap()
            .is_none()
    );
    // The platform re-creates it.
    Api::<Namespace>::all(cluster.admin.clone())
        .create(&PostParams::default(), &labelled)
        .await
        .unwrap();
}
