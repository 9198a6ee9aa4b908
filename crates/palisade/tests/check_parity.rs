//! Offline parity: `palisade check --cluster-state` gives the live webhook's answer. A table of
//! requests is sent to the real API server as a tenant owner with dry-run (nothing is stored; the
//! API server still calls our webhooks, which declare no side effects), the cluster is dumped as
//! `kubectl get -o json` prints it, and `palisade check` on that dump must allow and deny the same
//! rows, with the same message where Palisade denies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

#[path = "../../webhook/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, Pod};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::{Api, Client};
use palisade_admission::SNAPSHOT_KINDS;
use palisade_admission::offline::resource_for;
use palisade_testenv::eventually;
use serde_json::{Value, json};

const POD_CIDR: &str = "10.244.0.0/16";

fn api_resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &resource_for(kind))
}

fn api_for(client: &Client, object: &Value) -> Api<DynamicObject> {
    let resource = api_resource(object["apiVersion"].as_str().unwrap(), object["kind"].as_str().unwrap());
    match object["metadata"]["namespace"].as_str() {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// Lists every kind the snapshot is made of, as `kubectl get <kind> -A -o json` writes it: a List
/// whose items carry their apiVersion and kind.
async fn dump_cluster(admin: &Client, dir: &Path) -> usize {
    let mut count = 0;
    for (api_version, kind) in SNAPSHOT_KINDS {
        let api: Api<DynamicObject> = Api::all_with(admin.clone(), &api_resource(api_version, kind));
        let listed = api.list(&Default::default()).await.unwrap();
        let items: Vec<Value> = listed
            .items
            .into_iter()
            .map(|item| {
                let mut value = serde_json::to_value(item).unwrap();
                value["apiVersion"] = json!(api_version);
                value["kind"] = json!(kind);
                value
            })
            .collect();
        count += items.len();
        let list = json!({ "apiVersion": "v1", "kind": "List", "items": items, "metadata": {} });
        std::fs::write(
            dir.join(format!("{}.json", resource_for(kind))),
            serde_json::to_vec_pretty(&list).unwrap(),
        )
        .unwrap();
    }
    count
}

fn meta(name: &str, namespace: &str) -> Value {
    json!({ "name": name, "namespace": namespace })
}

fn container(image: &str) -> Value {
    json!({ "name": "app", "image": image, "imagePullPolicy": "IfNotPresent" })
}

fn pod(name: &str, namespace: &str, spec_extra: Value, image: &str) -> Value {
    let mut spec = json!({ "containers": [container(image)] });
    for (key, value) in spec_extra.as_object().unwrap() {
        spec[key] = value.clone();
    }
    json!({ "apiVersion": "v1", "kind": "Pod", "metadata": meta(name, namespace), "spec": spec })
}

fn template(image: &str) -> Value {
    json!({ "metadata": { "labels": { "app": "web" } }, "spec": { "containers": [container(image)] } })
}

fn ingress(name: &str, namespace: &str, spec: Value) -> Value {
    json!({ "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta(name, namespace), "spec": spec })
}

fn rule(host: &str, path: &str) -> Value {
    json!({ "host": host, "http": { "paths": [
        { "path": path, "pathType": "Prefix", "backend": { "service": { "name": "web", "port": { "number": 80 } } } }
    ] } })
}

fn policy(name: &str, namespace: &str, spec: Value) -> Value {
    json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(name, namespace), "spec": spec })
}

fn claim(name: &str, namespace: &str, extra: Value) -> Value {
    let mut spec = json!({ "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } });
    for (key, value) in extra.as_object().unwrap() {
        spec[key] = value.clone();
    }
    json!({ "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(name, namespace), "spec": spec })
}

fn binding(name: &str, namespace: &str, user: &str) -> Value {
    json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(name, namespace),
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user }] })
}

/// The live answer: `None` when stored (dry-run), else the API server's message.
async fn live(owner: &Client, object: &Value) -> Option<String> {
    let dynamic: DynamicObject = serde_json::from_value(object.clone()).unwrap();
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    match api_for(owner, object).create(&dry_run, &dynamic).await {
        Ok(_) => None,
        Err(kube::Error::Api(status)) => Some(status.message),
        Err(error) => panic!("{error}"),
    }
}

#[tokio::test]
async fn check_with_a_cluster_dump_decides_like_the_webhook() {
    let cluster = Cluster::start().await;
    let admin = cluster.admin.clone();

    // Cluster facts the NetworkPolicy rule needs: a node's pod range; the API server keeps a
    // ServiceCIDR for its Service range.
    let node: Node = serde_json::from_value(json!({
        "metadata": { "name": "parity-node" }, "spec": { "podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR] }
    }))
    .unwrap();
    Api::<Node>::all(admin.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
    let service_cidrs = service_cidrs(&admin).await;

    let shared_host = format!("{}.shared.example.com", unique("h"));
    let spec = |own: &str| {
        format!(
            "ingress: {{ classes: {{ allowed: [internal], default: internal }}, hostnames: [\"*.{own}.example.com\", \"*.shared.example.com\"] }}\n  storage: {{ classes: {{ allowed: [fast], default: fast }} }}\n  workloads: {{ registries: [registry.example.com/{own}/] }}\n  services: {{ allowNodePort: false }}"
        )
    };
    let (alpha, alice) = cluster
        .tenant_with("palpha", "{ forcePrefix: true }", &spec("alpha"))
        .await;
    let (beta, bob) = cluster
        .tenant_with("pbeta", "{ forcePrefix: true }", &spec("beta"))
        .await;
    let (alpha_ns, beta_ns) = (format!("{alpha}-app"), format!("{beta}-app"));
    for (owner, namespace) in [(&alice, &alpha_ns), (&bob, &beta_ns)] {
        Api::<Namespace>::all(owner.clone())
            .create(&PostParams::default(), &namespace_object(namespace))
            .await
            .unwrap();
        cluster.wait_for_service_account(namespace).await;
    }

    // What the other tenant already holds: a host, and a volume.
    let held: Ingress =
        serde_json::from_value(ingress("held", &beta_ns, json!({ "rules": [rule(&shared_host, "/")] }))).unwrap();
    Api::<Ingress>::namespaced(bob.clone(), &beta_ns)
        .create(&PostParams::default(), &held)
        .await
        .unwrap();
    let beta_volume = unique("beta-pv");
    let volume: PersistentVolume = serde_json::from_value(json!({
        "metadata": { "name": beta_volume, "labels": { "palisade.dev/tenant": beta } },
        "spec": { "capacity": { "storage": "1Gi" }, "accessModes": ["ReadWriteOnce"], "hostPath": { "path": "/tmp/pv" },
                  "storageClassName": "fast", "claimRef": { "namespace": beta_ns, "name": "data" } }
    }))
    .unwrap();
    Api::<PersistentVolume>::all(admin.clone())
        .create(&PostParams::default(), &volume)
        .await
        .unwrap();
    let stored_pod: Pod = serde_json::from_value(pod(
        "running",
        &alpha_ns,
        json!({}),
        "registry.example.com/alpha/app:1.0",
    ))
    .unwrap();
    Api::<Pod>::namespaced(alice.clone(), &alpha_ns)
        .create(&PostParams::default(), &stored_pod)
        .await
        .unwrap();
    // The webhook's watches have seen all of it.
    let index = cluster.webhook.index.clone();
    eventually("the webhook to see the cluster facts", WAIT, || {
        let index = index.clone();
        let (host, volume) = (shared_host.clone(), beta_volume.clone());
        async move {
            use palisade_admission::ClusterView;
            let view = index.read();
            (view.ingress_routes().iter().any(|r| r.host == host)
                && view.volume(&volume).is_some()
                && !view.node_pod_cidrs().is_empty()
                && !view.service_cidrs().is_empty())
            .then_some(())
        }
    })
    .await
    .unwrap();

    let mut outside_except = vec![POD_CIDR.to_string()];
    outside_except.extend(service_cidrs.iter().cloned());
    let own_peer = json!({ "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": alpha } } });
    let a = alpha_ns.as_str();
    let good = "registry.example.com/alpha/app:1.0";
    let owner_name = format!("{alpha}-owner");
    let rows: Vec<Value> = vec![
        // Namespaces
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": format!("{alpha}-more") } }),
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "kube-parity" } }),
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": format!("{beta}-mine") } }),
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": format!("{alpha}-forged"), "labels": { "palisade.dev/tenant": beta } } }),
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": unique("unprefixed") } }),
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": format!("{alpha}-psa"), "labels": { "pod-security.kubernetes.io/enforce": "privileged" } } }),
        // Pods
        pod("ok", a, json!({}), good),
        pod("foreign-image", a, json!({}), "docker.io/library/nginx:1.27"),
        pod("dotdot", a, json!({}), "registry.example.com/alpha/../beta/app:1.0"),
        pod("in-beta", &beta_ns, json!({}), "registry.example.com/beta/app:1.0"),
        pod("pinned", a, json!({ "nodeName": "parity-node" }), good),
        pod(
            "nfs",
            a,
            json!({ "volumes": [{ "name": "v", "nfs": { "server": "10.0.0.1", "path": "/" } }] }),
            good,
        ),
        json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "forged-label", "namespace": a, "labels": { "palisade.dev/tenant": beta } },
                "spec": { "containers": [container(good)] } }),
        // Workloads
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", a),
                "spec": { "selector": { "matchLabels": { "app": "web" } }, "template": template(good) } }),
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("debug", a),
                "spec": { "selector": { "matchLabels": { "app": "web" } }, "template": template("docker.io/library/busybox:1") } }),
        json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("db", a),
                "spec": { "serviceName": "db", "selector": { "matchLabels": { "app": "web" } }, "template": template(good),
                          "volumeClaimTemplates": [{ "metadata": { "name": "data" }, "spec": { "storageClassName": "slow", "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } } }] } }),
        json!({ "apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("nightly", a),
                "spec": { "schedule": "0 3 * * *", "jobTemplate": { "spec": { "template": {
                    "spec": { "restartPolicy": "Never", "containers": [container(good)] } } } } } }),
        // Services
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": meta("web", a), "spec": { "ports": [{ "port": 80 }] } }),
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": meta("nodeport", a), "spec": { "type": "NodePort", "ports": [{ "port": 80 }] } }),
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": meta("hijack", a), "spec": { "ports": [{ "port": 80 }], "externalIPs": ["8.8.8.8"] } }),
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": meta("alias", a), "spec": { "type": "ExternalName", "externalName": "example.com" } }),
        // Ingresses
        ingress(
            "own",
            a,
            json!({ "rules": [rule(&format!("www.{}", "alpha.example.com"), "/")] }),
        ),
        ingress("collides", a, json!({ "rules": [rule(&shared_host, "/admin")] })),
        ingress(
            "collides-tls",
            a,
            json!({ "tls": [{ "hosts": [shared_host] }], "rules": [rule("www.alpha.example.com", "/x")] }),
        ),
        ingress(
            "foreign-host",
            a,
            json!({ "rules": [rule("www.beta.example.com", "/")] }),
        ),
        ingress(
            "catch-all",
            a,
            json!({ "defaultBackend": { "service": { "name": "web", "port": { "number": 80 } } } }),
        ),
        ingress(
            "public-class",
            a,
            json!({ "ingressClassName": "public", "rules": [rule("api.alpha.example.com", "/")] }),
        ),
        ingress(
            "fresh-shared",
            a,
            json!({ "rules": [rule(&format!("{}.shared.example.com", unique("f")), "/")] }),
        ),
        // Claims
        claim("fast", a, json!({ "storageClassName": "fast" })),
        claim("slow", a, json!({ "storageClassName": "slow" })),
        claim(
            "steal",
            a,
            json!({ "storageClassName": "fast", "volumeName": beta_volume }),
        ),
        // NetworkPolicies
        policy(
            "own",
            a,
            json!({ "podSelector": {}, "ingress": [{ "from": [own_peer] }] }),
        ),
        policy("peerless", a, json!({ "podSelector": {}, "ingress": [{}] })),
        policy(
            "port-only",
            a,
            json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{ "ports": [{ "protocol": "UDP", "port": 53 }] }] }),
        ),
        policy(
            "beta",
            a,
            json!({ "podSelector": {}, "ingress": [{ "from": [{ "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": beta } } }] }] }),
        ),
        policy(
            "outside",
            a,
            json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{ "to": [{ "ipBlock": { "cidr": "0.0.0.0/0", "except": outside_except } }] }] }),
        ),
        policy(
            "everything",
            a,
            json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{ "to": [{ "ipBlock": { "cidr": "0.0.0.0/0" } }] }] }),
        ),
        policy(
            "kube-system",
            a,
            json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{ "to": [{ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "kube-system" } } }] }] }),
        ),
        // RoleBindings
        binding("own", a, &owner_name),
        binding("outsider", a, "mallory"),
        // Objects Palisade manages
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "fake-managed", "namespace": a,
                "labels": { "app.kubernetes.io/managed-by": "palisade" } }, "data": {} }),
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("plain", a), "data": { "k": "v" } }),
    ];
    assert!(rows.len() >= 30, "{} rows", rows.len());

    let mut live_answers = Vec::new();
    for row in &rows {
        live_answers.push(live(&alice, row).await);
    }

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let dumped = dump_cluster(&admin, &state).await;
    assert!(dumped > 0);
    let requests = dir.path().join("requests.yaml");
    let documents: Vec<String> = rows.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    std::fs::write(&requests, documents.join("\n---\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["check", "--cluster-state"])
        .arg(&state)
        .arg("-f")
        .arg(&requests)
        .args(["--as", &owner_name, "--as-group", "system:authenticated"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(text.contains("not checked offline"), "{text}\n{stderr}");
    assert!(text.contains("Pod Security admission"), "{text}");
    let verdicts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("allowed  ") || l.starts_with("mutated  ") || l.starts_with("DENIED   "))
        .collect();
    assert_eq!(verdicts.len(), rows.len(), "{text}\n{stderr}");

    let mut disagreements = Vec::new();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for ((row, live), offline) in rows.iter().zip(&live_answers).zip(&verdicts) {
        let what = format!("{} {}", row["kind"], row["metadata"]["name"]);
        let offline_message = offline
            .strip_prefix("DENIED   ")
            .map(|l| l.split_once(": ").map_or("", |(_, m)| m));
        match (live, offline_message) {
            (None, None) => *tally.entry("allowed by both").or_default() += 1,
            (Some(live), Some(offline)) if live.contains(offline) => {
                *tally.entry("denied by both, same message").or_default() += 1
            }
            (live, _) => disagreements.push(format!("{what}:\n    live:    {live:?}\n    offline: {offline}")),
        }
    }
    eprintln!("{} rows: {tally:?}", rows.len());
    assert!(
        disagreements.is_empty(),
        "{} of {} rows disagree:\n{}",
        disagreements.len(),
        rows.len(),
        disagreements.join("\n")
    );
    // The dump is what decides: without the Ingresses the collision rows pass offline.
    std::fs::remove_file(state.join("ingresses.json")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["check", "--cluster-state"])
        .arg(&state)
        .arg("-f")
        .arg(&requests)
        .args(["--as", &owner_name, "--as-group", "system:authenticated"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains(&format!("mutated  Ingress {a}/collides:")), "{text}");
    // Both outcomes are well represented, and Palisade's denials reached the API server for
    // dry-run requests (the webhook is consulted on dry-run).
    assert!(tally.get("allowed by both").copied().unwrap_or(0) >= 10, "{tally:?}");
    assert!(
        tally.get("denied by both, same message").copied().unwrap_or(0) >= 20,
        "{tally:?}"
    );
}
