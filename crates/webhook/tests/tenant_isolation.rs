//! Isolation that does not depend on what tenants write (issue 11), against the real API server
//! calling the webhook: a tenant owner with cluster-admin RBAC tries the NetworkPolicies that
//! would open paths to other tenants or platform namespaces, on create, update, merge patch,
//! server-side apply and dry-run. Each attack asserts what is stored afterwards, and each has its
//! compliant twin.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

mod common;

use common::*;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use palisade_admission::ClusterView;
use palisade_testenv::eventually;
use serde_json::{Value, json};

const POD_CIDR: &str = "10.244.0.0/16";

/// A node object (no kubelet behind it) reporting `POD_CIDR`, so that the webhook knows the pod
/// range; and the Service CIDRs the API server reports in its ServiceCIDR objects.
async fn cluster_ranges(cluster: &Cluster) -> Vec<String> {
    let node: Node = serde_json::from_value(json!({
        "metadata": { "name": "isolation-node" }, "spec": { "podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR] }
    }))
    .unwrap();
    let nodes = Api::<Node>::all(cluster.admin.clone());
    if nodes.get_opt("isolation-node").await.unwrap().is_none() {
        nodes.create(&PostParams::default(), &node).await.unwrap();
    }
    let service_cidrs = service_cidrs(&cluster.admin).await;
    let index = cluster.webhook.index.clone();
    eventually("the webhook to learn the pod and Service ranges", WAIT, || {
        let index = index.clone();
        async move {
            let view = index.read();
            (!view.node_pod_cidrs().is_empty() && !view.service_cidrs().is_empty()).then_some(())
        }
    })
    .await
    .unwrap();
    // Nothing is missing any more, so /readyz has nothing to report about them.
    let missing = cluster.webhook.index.missing_facts(&Default::default());
    assert!(
        missing.iter().all(|m| !m.contains("CIDRs unknown")),
        "still missing: {missing:?}"
    );
    let learned: Vec<String> = cluster
        .webhook
        .index
        .read()
        .service_cidrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    for cidr in &service_cidrs {
        let parsed: ipnet::IpNet = cidr.parse().unwrap();
        assert!(
            learned
                .iter()
                .any(|l| l.parse::<ipnet::IpNet>().unwrap().contains(&parsed)),
            "ServiceCIDR {cidr} not learned: {learned:?}"
        );
    }
    service_cidrs
}

/// A tenant with one namespace, and its owner (cluster-admin RBAC: the webhook is the only gate).
fn policy_object(name: &str, spec: &Value) -> Value {
    json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": { "name": name }, "spec": spec })
}

/// Tries to store `spec` as a new NetworkPolicy on every create path; each must be denied with
/// all `fragments` and without naming `secret`, and nothing may be stored.
async fn every_create_denied(
    client: &Client,
    admin: &Client,
    namespace: &str,
    spec: &Value,
    fragments: &[&str],
    secret: &str,
) {
    let api = Api::<NetworkPolicy>::namespaced(client.clone(), namespace);
    let name = unique("attack");
    let object: NetworkPolicy = serde_json::from_value(policy_object(&name, spec)).unwrap();
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let attempts = vec![
        ("create", api.create(&PostParams::default(), &object).await),
        ("create, dry-run", api.create(&dry_run, &object).await),
        (
            "server-side apply",
            api.patch(
                &name,
                &PatchParams::apply("attacker").force(),
                &Patch::Apply(policy_object(&name, spec)),
            )
            .await,
        ),
    ];
    expect_every_path_denied(&spec.to_string(), attempts, fragments, secret);
    let stored = Api::<NetworkPolicy>::namespaced(admin.clone(), namespace)
        .get_opt(&name)
        .await
        .unwrap();
    assert!(stored.is_none(), "{spec} was stored");
}

#[tokio::test]
async fn tenant_network_policies_cannot_open_paths_outside_the_tenant() {
    let cluster = Cluster::start().await;
    let service_cidrs = cluster_ranges(&cluster).await;
    let (beta, beta_namespace, _) = cluster.tenant_with_namespace("nbeta", "app", "").await;
    // alpha grants beta ingress, and monitoring: Palisade renders both; alpha's own policies
    // may not copy them.
    let grant = format!("network: {{ allowFrom: {{ tenants: [{beta}], namespaces: [monitoring] }} }}");
    let (alpha, namespace, owner) = cluster.tenant_with_namespace("nalpha", "app", &grant).await;
    let admin = cluster.admin.clone();
    let own = json!({ "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": alpha } } });
    let from = |peer: Value| json!({ "podSelector": {}, "ingress": [{ "from": [peer] }] });
    let to = |peer: Value| json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{ "to": [peer] }] });
    let mut outside_except = vec![POD_CIDR.to_string()];
    outside_except.extend(service_cidrs.iter().cloned());

    let attacks: Vec<(Value, &str)> = vec![
        (
            json!({ "podSelector": {}, "ingress": [{}] }),
            "ingress rule 1 has no `from`",
        ),
        (
            json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{}] }),
            "egress rule 1 has no `to`",
        ),
        (
            json!({ "podSelector": {}, "ingress": [{ "ports": [{ "port": 8080 }] }] }),
            "has only `ports` and no `from`",
        ),
        (
            json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{ "ports": [{ "protocol": "UDP", "port": 53 }] }] }),
            "has only `ports` and no `to`",
        ),
        (
            from(
                json!({ "namespaceSelector": { "matchExpressions": [{ "key": "palisade.dev/tenant", "operator": "DoesNotExist" }] } }),
            ),
            "matches kube-system, default, palisade-system",
        ),
        (
            to(json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "kube-system" } } })),
            "selects namespace \"kube-system\", which is neither",
        ),
        (
            from(json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": beta_namespace } } })),
            "which is neither one of this tenant's namespaces nor granted to it",
        ),
        (
            from(json!({ "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": beta } } })),
            "close when the grant is revoked",
        ),
        (
            to(json!({ "namespaceSelector": {} })),
            "does not pin palisade.dev/tenant",
        ),
        (
            to(json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "monitoring" } } })),
            "grants for ingress only",
        ),
        (
            to(json!({ "ipBlock": { "cidr": "0.0.0.0/0", "except": [POD_CIDR] } })),
            "covers Service addresses",
        ),
        (
            to(json!({ "ipBlock": { "cidr": "0.0.0.0/0" } })),
            "covers pod addresses (10.244.0.0/16)",
        ),
    ];
    // Whose namespace beta's is must not be said, except where the policy itself wrote it.
    for (spec, fragment) in &attacks {
        let secret = if spec.to_string().contains(&beta) {
            "of tenant"
        } else {
            beta.as_str()
        };
        every_create_denied(&owner, &admin, &namespace, spec, &[fragment, &alpha], secret).await;
    }

    // The compliant twins are stored.
    let policies = Api::<NetworkPolicy>::namespaced(owner.clone(), &namespace);
    let compliant = json!({ "podSelector": {}, "ingress": [{
        "from": [own.clone(), { "ipBlock": { "cidr": "0.0.0.0/0", "except": outside_except } },
                 { "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "monitoring" } } }],
        "ports": [{ "port": 8080 }]
    }], "egress": [{ "to": [own.clone()] }], "policyTypes": ["Ingress", "Egress"] });
    let name = unique("web");
    let object: NetworkPolicy = serde_json::from_value(policy_object(&name, &compliant)).unwrap();
    policies.create(&PostParams::default(), &object).await.unwrap();

    // Updates: a merge patch and a server-side apply turning it peerless are refused, and the
    // stored policy keeps its peers.
    let stored_spec = || async {
        serde_json::to_value(
            Api::<NetworkPolicy>::namespaced(admin.clone(), &namespace)
                .get(&name)
                .await
                .unwrap()
                .spec,
        )
        .unwrap()
    };
    let before = stored_spec().await;
    expect_denied(
        policies
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": { "ingress": [{}] } })),
            )
            .await,
        &["ingress rule 1 has no `from`"],
    );
    expect_denied(
        policies
            .patch(
                &name,
                &PatchParams::apply("attacker").force(),
                &Patch::Apply(policy_object(
                    &name,
                    &json!({ "podSelector": {}, "egress": [{ "ports": [{ "port": 443 }] }] }),
                )),
            )
            .await,
        &["egress rule 1 has only `ports`"],
    );
    let mut replaced = policies.get(&name).await.unwrap();
    replaced.spec.as_mut().unwrap().egress = Some(vec![serde_json::from_value(json!({ "to": [] })).unwrap()]);
    expect_denied(
        policies.replace(&name, &PostParams::default(), &replaced).await,
        &["egress rule 1 has no `to`"],
    );
    assert_eq!(before, stored_spec().await, "the stored policy changed");
}

/// Creates `object` as `client`; it must be denied with every fragment, and nothing stored.
async fn create_denied<K>(client: &Client, admin: &Client, namespace: &str, object: Value, fragments: &[&str])
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    let typed: K = serde_json::from_value(object.clone()).unwrap();
    let api = Api::<K>::namespaced(client.clone(), namespace);
    expect_denied(api.create(&PostParams::default(), &typed).await, fragments);
    expect_denied(
        api.patch(&name, &PatchParams::apply("attacker").force(), &Patch::Apply(&object))
            .await,
        fragments,
    );
    let stored = Api::<K>::namespaced(admin.clone(), namespace)
        .get_opt(&name)
        .await
        .unwrap();
    assert!(stored.is_none(), "{name} was stored");
}

#[tokio::test]
async fn workloads_cannot_leave_their_registry_node_pool_or_storage_classes() {
    use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
    use k8s_openapi::api::core::v1::Pod;

    let cluster = Cluster::start().await;
    let spec = "workloads: { registries: [registry.example.com/team/], pullPolicies: [IfNotPresent] }\n  storage: { classes: { allowed: [fast], default: fast } }";
    let (_, namespace, owner) = cluster.tenant_with_namespace("wl", "app", spec).await;
    cluster.wait_for_service_account(&namespace).await;
    let admin = cluster.admin.clone();
    let pod = |name: &str, spec: Value| json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": name }, "spec": spec });
    let container = |image: &str| json!({ "name": "app", "image": image, "imagePullPolicy": "IfNotPresent" });

    for (image, fragment) in [
        (
            "registry.example.com/team/../other/app:1",
            "not a valid image reference",
        ),
        ("registry.example.com/team//app:1", "not a valid image reference"),
        (
            "registry.example.com/team%2f..%2fother/app:1",
            "not a valid image reference",
        ),
        (
            "registry.example.com.evil.io/team/app:1",
            "uses registry.example.com.evil.io/team/app:1",
        ),
    ] {
        create_denied::<Pod>(
            &owner,
            &admin,
            &namespace,
            pod(&unique("img"), json!({ "containers": [container(image)] })),
            &["allows images only from registry.example.com/team/", fragment],
        )
        .await;
    }
    // No pull policy on an untagged image: the API server writes Always, and the denial says so.
    create_denied::<Pod>(
        &owner,
        &admin,
        &namespace,
        pod(
            &unique("pull"),
            json!({ "containers": [{ "name": "app", "image": "registry.example.com/team/app" }] }),
        ),
        &[
            "uses Always (the API server's default",
            "set imagePullPolicy to IfNotPresent explicitly",
        ],
    )
    .await;
    create_denied::<Pod>(
        &owner,
        &admin,
        &namespace,
        pod(
            &unique("pinned"),
            json!({ "nodeName": "someone-elses-node", "containers": [container("registry.example.com/team/app:1")] }),
        ),
        &["spec.nodeName names node \"someone-elses-node\""],
    )
    .await;
    create_denied::<Pod>(
        &owner,
        &admin,
        &namespace,
        pod(
            &unique("nfs"),
            json!({ "containers": [container("registry.example.com/team/app:1")],
                    "volumes": [{ "name": "share", "nfs": { "server": "10.1.2.3", "path": "/exports/other" } }] }),
        ),
        &[
            "does not allow inline network volumes",
            "volume \"share\" is a nfs volume",
        ],
    )
    .await;
    create_denied::<Pod>(
        &owner,
        &admin,
        &namespace,
        pod(
            &unique("eph"),
            json!({ "containers": [container("registry.example.com/team/app:1")],
                    "volumes": [{ "name": "scratch", "ephemeral": { "volumeClaimTemplate": { "spec": {
                        "storageClassName": "slow", "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } } } } }] }),
        ),
        &["\"slow\" (ephemeral volume \"scratch\") is not one of them"],
    )
    .await;
    let template = |pod_spec: Value| json!({ "metadata": { "labels": { "app": "db" } }, "spec": pod_spec });
    let statefulset = |name: &str, pod_spec: Value, class: &str| {
        json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": { "name": name }, "spec": {
            "serviceName": "db", "selector": { "matchLabels": { "app": "db" } }, "template": template(pod_spec),
            "volumeClaimTemplates": [{ "metadata": { "name": "data" }, "spec": {
                "storageClassName": class, "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } } }]
        } })
    };
    let good_spec = json!({ "containers": [container("registry.example.com/team/db:1")] });
    create_denied::<StatefulSet>(
        &owner,
        &admin,
        &namespace,
        statefulset(&unique("db"), good_spec.clone(), "slow"),
        &["\"slow\" (volumeClaimTemplate \"data\" of StatefulSet"],
    )
    .await;
    create_denied::<Deployment>(
        &owner,
        &admin,
        &namespace,
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": unique("web") }, "spec": {
            "selector": { "matchLabels": { "app": "db" } },
            "template": template(json!({ "nodeName": "someone-elses-node", "containers": [container("registry.example.com/team/web:1")] }))
        } }),
        &["spec.nodeName (in the pod template of Deployment"],
    )
    .await;

    // The compliant twins are stored.
    let name = unique("db");
    let stored: StatefulSet = serde_json::from_value(statefulset(&name, good_spec, "fast")).unwrap();
    Api::<StatefulSet>::namespaced(owner.clone(), &namespace)
        .create(&PostParams::default(), &stored)
        .await
        .unwrap();
    let ok: Pod = serde_json::from_value(pod(
        &unique("ok"),
        json!({ "containers": [container("registry.example.com/team/app:1")],
                "volumes": [{ "name": "tmp", "emptyDir": {} }] }),
    ))
    .unwrap();
    Api::<Pod>::namespaced(owner.clone(), &namespace)
        .create(&PostParams::default(), &ok)
        .await
        .unwrap();
}

#[tokio::test]
async fn ingresses_cannot_catch_all_or_take_another_tenants_host() {
    use k8s_openapi::api::networking::v1::Ingress;

    let cluster = Cluster::start().await;
    let spec = "ingress: { classes: { allowed: [internal], default: internal } }";
    let (_, holder_namespace, holder) = cluster.tenant_with_namespace("ihold", "app", spec).await;
    let (_, namespace, owner) = cluster.tenant_with_namespace("itake", "app", spec).await;
    let admin = cluster.admin.clone();
    let host = format!("{}.example.com", unique("shop"));
    let backend = json!({ "service": { "name": "web", "port": { "number": 80 } } });
    let ingress = |name: &str, spec: Value| json!({ "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": { "name": name }, "spec": spec });
    let rule = |host: &str, path: &str| json!({ "host": host, "http": { "paths": [{ "path": path, "pathType": "Prefix", "backend": backend.clone() }] } });
    let held: Ingress = serde_json::from_value(ingress("shop", json!({ "rules": [rule(&host, "/")] }))).unwrap();
    Api::<Ingress>::namespaced(holder.clone(), &holder_namespace)
        .create(&PostParams::default(), &held)
        .await
        .unwrap();
    let index = cluster.webhook.index.clone();
    let seen = host.clone();
    eventually("the webhook to see the held host", WAIT, || {
        let index = index.clone();
        let seen = seen.clone();
        async move { index.read().ingress_routes.iter().any(|r| r.host == seen).then_some(()) }
    })
    .await
    .unwrap();

    for (spec, fragment) in [
        (
            json!({ "defaultBackend": backend.clone() }),
            "may not set spec.defaultBackend".to_string(),
        ),
        (
            json!({ "rules": [{ "http": { "paths": [{ "path": "/", "pathType": "Prefix", "backend": backend.clone() }] } }] }),
            "has a rule without a host".to_string(),
        ),
        (
            json!({ "rules": [rule(&host, "/admin")] }),
            format!("host {host} (spec.rules[].host of Ingress"),
        ),
        (
            json!({ "rules": [rule(&format!("mine.{host}"), "/")], "tls": [{ "hosts": [host.clone()], "secretName": "cert" }] }),
            format!("host {host} (spec.tls[].hosts of Ingress"),
        ),
    ] {
        let name = unique("take");
        create_denied::<Ingress>(&owner, &admin, &namespace, ingress(&name, spec), &[&fragment]).await;
    }
    let denial = Api::<Ingress>::namespaced(owner.clone(), &namespace)
        .create(
            &PostParams::default(),
            &serde_json::from_value(ingress("peek", json!({ "rules": [rule(&host, "/admin")] }))).unwrap(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        !denial.contains(&holder_namespace) && !denial.contains("\"shop\""),
        "{denial}"
    );

    // The compliant twin is stored; adding the legacy class annotation by update is refused.
    let api = Api::<Ingress>::namespaced(owner.clone(), &namespace);
    let mine = format!("mine.{host}");
    let created = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(ingress("mine", json!({ "rules": [rule(&mine, "/")] }))).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(created.spec.unwrap().ingress_class_name.as_deref(), Some("internal"));
    let annotate = json!({ "metadata": { "annotations": { "kubernetes.io/ingress.class": "public" } } });
    expect_denied(
        api.patch("mine", &PatchParams::default(), &Patch::Merge(&annotate))
            .await,
        &["\"public\" (annotation kubernetes.io/ingress.class of Ingress \"mine\")"],
    );
    let stored = Api::<Ingress>::namespaced(admin.clone(), &namespace)
        .get("mine")
        .await
        .unwrap();
    assert!(
        !stored
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("kubernetes.io/ingress.class"),
        "the annotation was stored"
    );
}

#[tokio::test]
async fn gateways_use_allowed_classes_and_routes_allowed_hostnames() {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    use palisade_testenv::{StandInKind, install_stand_in_crd};

    let cluster = Cluster::start().await;
    // Schemaless stand-ins: enough for what the webhook reads (the real CRDs would add their
    // own validation and defaults on top).
    for (kind, plural) in [("Gateway", "gateways"), ("HTTPRoute", "httproutes")] {
        install_stand_in_crd(
            &cluster.admin,
            StandInKind {
                api_version: "gateway.networking.k8s.io/v1",
                kind,
                plural,
                namespaced: true,
            },
        )
        .await
        .unwrap();
    }
    let spec = "gateway: { classes: { allowed: [internal-gw] } }\n  ingress: { hostnames: [\"*.gw.example.com\"] }";
    let (_, namespace, owner) = cluster.tenant_with_namespace("gw", "app", spec).await;
    let api = |kind: &str, plural: &str, client: &Client| {
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", kind), plural);
        Api::<DynamicObject>::namespaced_with(client.clone(), &namespace, &resource)
    };
    let object = |kind: &str, name: &str, spec: Value| -> DynamicObject {
        serde_json::from_value(json!({ "apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
            "metadata": { "name": name }, "spec": spec }))
        .unwrap()
    };
    let gateways = api("Gateway", "gateways", &owner);
    let routes = api("HTTPRoute", "httproutes", &owner);
    let listener = json!([{ "name": "http", "port": 80, "protocol": "HTTP", "hostname": "a.gw.example.com" }]);
    expect_denied(
        gateways
            .create(
                &PostParams::default(),
                &object(
                    "Gateway",
                    "public",
                    json!({ "gatewayClassName": "public-gw", "listeners": listener }),
                ),
            )
            .await,
        &[
            "allows the gateway class internal-gw",
            "\"public-gw\" (Gateway \"public\")",
        ],
    );
    let shared = json!([{ "name": "shared", "namespace": "gateways" }]);
    expect_denied(
        routes
            .create(
                &PostParams::default(),
                &object(
                    "HTTPRoute",
                    "steal",
                    json!({ "parentRefs": shared, "hostnames": ["shop.example.com"] }),
                ),
            )
            .await,
        &["may serve only *.gw.example.com", "shop.example.com in spec.hostnames"],
    );
    expect_denied(
        routes
            .create(
                &PostParams::default(),
                &object("HTTPRoute", "all", json!({ "parentRefs": shared })),
            )
            .await,
        &["would take every hostname the shared listener accepts"],
    );
    let stored = api("HTTPRoute", "httproutes", &cluster.admin);
    assert!(stored.get_opt("steal").await.unwrap().is_none());
    assert!(stored.get_opt("all").await.unwrap().is_none());
    assert!(
        api("Gateway", "gateways", &cluster.admin)
            .get_opt("public")
            .await
            .unwrap()
            .is_none()
    );
    // The compliant twins are stored.
    gateways
        .create(
            &PostParams::default(),
            &object(
                "Gateway",
                "mine",
                json!({ "gatewayClassName": "internal-gw", "listeners": listener }),
            ),
        )
        .await
        .unwrap();
    routes
        .create(
            &PostParams::default(),
            &object(
                "HTTPRoute",
                "mine",
                json!({ "parentRefs": shared, "hostnames": ["a.gw.example.com"] }),
            ),
        )
        .await
        .unwrap();
}
