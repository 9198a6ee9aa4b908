//! Isolation that does not depend on what tenants write, proven with `palisade reach`: three
//! tenants try every NetworkPolicy shape an attacker would (peerless and port-only rules, empty,
//! foreign and DoesNotExist selectors, kube-system, other tenants, ipBlocks over everything, the
//! granted platform namespace) through the live webhook; what it admits is stored. The cluster is
//! dumped, Palisade's own policies are rendered from the Tenants by the renderer the controller
//! uses, and `palisade reach --check-isolation` must find no flow between tenants; then a grant is
//! added (the granted flow appears, and only it) and revoked (it is gone) — for the Kubernetes and
//! AdminNetworkPolicy providers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

#[path = "../../webhook/tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use palisade_api::Tenant;
use serde_json::{Value, json};

const POD_CIDR: &str = "10.245.0.0/16";

struct Member {
    tenant: String,
    namespace: String,
    owner: Client,
}

async fn ensure_node(admin: &Client) -> Vec<String> {
    let nodes = Api::<Node>::all(admin.clone());
    if nodes.get_opt("reach-node").await.unwrap().is_none() {
        let node: Node = serde_json::from_value(json!({
            "metadata": { "name": "reach-node" }, "spec": { "podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR] }
        }))
        .unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
    }
    let service_cidrs = service_cidrs(admin).await;
    let mut except = vec![POD_CIDR.to_string()];
    except.extend(service_cidrs);
    except
}

/// A tenant with one namespace, created as the controller would (admin, tenant label), and a pod.
async fn member(cluster: &Cluster, prefix: &str, provider: &str) -> Member {
    let namespace = unique(prefix);
    let (tenant, owner) = cluster
        .tenant_with(
            prefix,
            &format!("{{ names: [{namespace}] }}"),
            &format!("network: {{ provider: {provider}, allowFrom: {{ namespaces: [monitoring] }} }}"),
        )
        .await;
    let object: Namespace = serde_json::from_value(json!({
        "metadata": { "name": namespace, "labels": { "palisade.dev/tenant": tenant } }
    }))
    .unwrap();
    Api::<Namespace>::all(cluster.admin.clone())
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
    cluster.wait_for_namespace_count(&tenant, 1).await;
    cluster.wait_for_service_account(&namespace).await;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": "web", "labels": { "app": "web" } },
        "spec": { "containers": [{ "name": "web", "image": "registry.example.com/web:1", "imagePullPolicy": "IfNotPresent",
                                   "ports": [{ "containerPort": 8080 }] }] }
    }))
    .unwrap();
    Api::<Pod>::namespaced(owner.clone(), &namespace)
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
    Member {
        tenant,
        namespace,
        owner,
    }
}

/// Every policy shape worth trying, as the tenant's owner; returns how many were admitted.
async fn write_policies(member: &Member, others: &[&Member], outside_except: &[String]) -> (usize, usize) {
    let own = json!({ "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": member.tenant } } });
    let mut peers: Vec<Value> = vec![
        own.clone(),
        json!({ "namespaceSelector": { "matchExpressions": [{ "key": "palisade.dev/tenant", "operator": "In", "values": [member.tenant] }] }, "podSelector": {} }),
        json!({ "podSelector": {} }),
        json!({ "namespaceSelector": {} }),
        json!({ "namespaceSelector": { "matchExpressions": [{ "key": "palisade.dev/tenant", "operator": "DoesNotExist" }] } }),
        json!({ "namespaceSelector": { "matchExpressions": [{ "key": "palisade.dev/tenant", "operator": "NotIn", "values": [member.tenant] }] } }),
        json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "kube-system" } } }),
        json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "monitoring" } } }),
        json!({ "ipBlock": { "cidr": "0.0.0.0/0" } }),
        json!({ "ipBlock": { "cidr": "0.0.0.0/0", "except": outside_except } }),
        json!({ "ipBlock": { "cidr": POD_CIDR } }),
    ];
    for other in others {
        peers.push(json!({ "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": other.tenant } } }));
        peers.push(
            json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": other.namespace } } }),
        );
    }
    let mut specs: Vec<Value> = vec![
        json!({ "podSelector": {}, "ingress": [{}] }),
        json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{}] }),
        json!({ "podSelector": {}, "ingress": [{ "ports": [{ "port": 8080 }] }] }),
        json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{ "ports": [{ "protocol": "UDP", "port": 53 }] }] }),
    ];
    for peer in &peers {
        specs.push(json!({ "podSelector": {}, "ingress": [{ "from": [peer] }] }));
        specs.push(json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{ "to": [peer] }] }));
    }
    let api = Api::<NetworkPolicy>::namespaced(member.owner.clone(), &member.namespace);
    let mut admitted = 0;
    for (index, spec) in specs.iter().enumerate() {
        let policy: NetworkPolicy =
            serde_json::from_value(json!({ "metadata": { "name": format!("try-{index}") }, "spec": spec })).unwrap();
        if api.create(&PostParams::default(), &policy).await.is_ok() {
            admitted += 1;
        }
    }
    (admitted, specs.len())
}

/// `kubectl get ns,pods,netpol -A -o json`, one List per kind, without the namespaces of tenants
/// that are not `members` (an earlier provider's round).
async fn dump(admin: &Client, members: &[&Member], dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let namespaces = Api::<Namespace>::all(admin.clone())
        .list(&Default::default())
        .await
        .unwrap();
    let kept: BTreeSet<String> = namespaces
        .items
        .iter()
        .filter(|ns| {
            let name = ns.metadata.name.clone().unwrap_or_default();
            let tenant_label = ns.metadata.labels.as_ref().and_then(|l| l.get("palisade.dev/tenant"));
            tenant_label.is_none() || members.iter().any(|m| m.namespace == name)
        })
        .filter_map(|ns| ns.metadata.name.clone())
        .collect();
    let in_kept = |namespace: &Option<String>| namespace.as_ref().is_some_and(|n| kept.contains(n));
    let namespaces: Vec<&Namespace> = namespaces
        .items
        .iter()
        .filter(|ns| in_kept(&ns.metadata.name))
        .collect();
    let pods = Api::<Pod>::all(admin.clone()).list(&Default::default()).await.unwrap();
    let pods: Vec<&Pod> = pods.items.iter().filter(|p| in_kept(&p.metadata.namespace)).collect();
    let policies = Api::<NetworkPolicy>::all(admin.clone())
        .list(&Default::default())
        .await
        .unwrap();
    let policies: Vec<&NetworkPolicy> = policies
        .items
        .iter()
        .filter(|p| in_kept(&p.metadata.namespace))
        .collect();
    for (file, items) in [
        ("namespaces.json", serde_json::to_value(&namespaces).unwrap()),
        ("pods.json", serde_json::to_value(&pods).unwrap()),
        ("networkpolicies.json", serde_json::to_value(&policies).unwrap()),
    ] {
        let list = json!({ "apiVersion": "v1", "kind": "List", "metadata": {}, "items": items });
        std::fs::write(dir.join(file), serde_json::to_vec(&list).unwrap()).unwrap();
    }
}

/// The Tenants as manifests, for `--tenants`.
async fn dump_tenants(admin: &Client, members: &[&Member], dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for member in members {
        let tenant = Api::<Tenant>::all(admin.clone()).get(&member.tenant).await.unwrap();
        let manifest = json!({ "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant",
            "metadata": { "name": member.tenant }, "spec": tenant.spec });
        std::fs::write(
            dir.join(format!("{}.yaml", member.tenant)),
            serde_json::to_string(&manifest).unwrap(),
        )
        .unwrap();
    }
}

/// `palisade reach -o text --check-isolation`: the namespace pairs of cross-tenant flows, and
/// whether isolation held (exit status 0) or was broken (3).
fn reach(state: &Path, tenants: &Path, members: &[&Member]) -> (BTreeSet<(String, String)>, bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["reach", "-q", "-o", "text", "--check-isolation", "-f"])
        .arg(state)
        .arg("--tenants")
        .arg(tenants)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let held = match out.status.code() {
        Some(0) => true,
        Some(3) => false,
        _ => panic!("reach failed: {stderr}\n{text}"),
    };
    let tenant_namespaces: BTreeSet<&str> = members.iter().map(|m| m.namespace.as_str()).collect();
    let namespace_of = |endpoint: &str| endpoint.split_once('/').map(|(ns, _)| ns.to_string());
    let mut cross = BTreeSet::new();
    for line in text.lines() {
        let Some((src, rest)) = line.split_once(" => ") else {
            continue;
        };
        let Some((dst, _)) = rest.split_once(" : ") else {
            continue;
        };
        if let (Some(s), Some(d)) = (namespace_of(src), namespace_of(dst))
            && s != d
            && tenant_namespaces.contains(s.as_str())
            && tenant_namespaces.contains(d.as_str())
        {
            cross.insert((s, d));
        }
    }
    (cross, held, format!("{text}\n{stderr}"))
}

async fn set_grant(admin: &Client, tenant: &str, granted: &[&str]) {
    let patch = json!({ "spec": { "network": { "allowFrom": { "tenants": granted } } } });
    Api::<Tenant>::all(admin.clone())
        .patch(tenant, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

async fn isolation_holds_for(provider: &str) {
    let cluster = Cluster::start().await;
    let admin = cluster.admin.clone();
    let outside_except = ensure_node(&admin).await;
    let prefix = provider.to_ascii_lowercase().chars().take(3).collect::<String>();
    let a = member(&cluster, &format!("ra{prefix}"), provider).await;
    let b = member(&cluster, &format!("rb{prefix}"), provider).await;
    let c = member(&cluster, &format!("rc{prefix}"), provider).await;
    // The webhook must know the node's pod range, or it refuses every ipBlock.
    let index = cluster.webhook.index.clone();
    palisade_testenv::eventually("the webhook to know the pod CIDRs", WAIT, || {
        let index = index.clone();
        async move {
            use palisade_admission::ClusterView;
            (!index.read().node_pod_cidrs().is_empty()).then_some(())
        }
    })
    .await
    .unwrap();
    let members = [&a, &b, &c];
    for member in members {
        let others: Vec<&Member> = members.iter().copied().filter(|m| m.tenant != member.tenant).collect();
        let (admitted, tried) = write_policies(member, &others, &outside_except).await;
        eprintln!(
            "{provider}: tenant {} stored {admitted} of {tried} policies",
            member.tenant
        );
        // Own-tenant selectors (two shapes, both directions), bare pod selectors (own namespace),
        // the excepting ipBlock and the granted platform namespace are admitted.
        assert!(admitted >= 7, "only {admitted} of {tried} admitted");
    }

    let dir = tempfile::tempdir().unwrap();
    let (state, tenants) = (dir.path().join("state"), dir.path().join("tenants"));
    dump(&admin, &members, &state).await;
    dump_tenants(&admin, &members, &tenants).await;
    let (cross, held, output) = reach(&state, &tenants, &members);
    assert!(held, "{provider}: isolation broken without any grant:\n{output}");
    assert!(cross.is_empty(), "{provider}: cross-tenant flows {cross:?}\n{output}");

    // b grants a: a's pods reach b's, nothing else crosses.
    set_grant(&admin, &b.tenant, &[&a.tenant]).await;
    dump_tenants(&admin, &members, &tenants).await;
    let (cross, held, output) = reach(&state, &tenants, &members);
    assert!(held, "{provider}: isolation broken with a grant:\n{output}");
    assert_eq!(
        cross,
        BTreeSet::from([(a.namespace.clone(), b.namespace.clone())]),
        "{provider}: with b granting a\n{output}"
    );

    // Revoked: gone, though what the tenants wrote is still stored.
    set_grant(&admin, &b.tenant, &[]).await;
    dump_tenants(&admin, &members, &tenants).await;
    let (cross, held, output) = reach(&state, &tenants, &members);
    assert!(held, "{provider}: isolation broken after the revocation:\n{output}");
    assert!(
        cross.is_empty(),
        "{provider}: flows left after revoking: {cross:?}\n{output}"
    );
}

/// One test for both providers, one after the other: each round's dump leaves out the tenants of
/// the other round, which share the cluster.
#[tokio::test]
async fn isolation_holds_whatever_tenants_write() {
    for provider in ["Kubernetes", "AdminNetworkPolicy"] {
        isolation_holds_for(provider).await;
    }
}
