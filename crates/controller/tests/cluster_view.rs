#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test
//! What tenant owners may read at cluster scope, against a real API server: the owner
//! ClusterRole names exactly the nodes the tenant's node selector picks, the StorageClasses its
//! allow-list allows (a `fast-*` pattern and an exact name) and the PersistentVolumes claimed in
//! its namespaces; the names follow nodes and classes as they come, change and go; and the API
//! server, asked as the owner, serves those names and refuses the rest. A tenant without a node
//! selector gets no node rule.

mod common;

use std::collections::BTreeMap;

use common::*;
use k8s_openapi::api::core::v1::{Node, PersistentVolume};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use palisade_testenv::eventually;
use serde_json::json;

/// resource → its resourceNames (`None`: every name), for the owner ClusterRole's read rules.
type Readable = BTreeMap<String, Option<Vec<String>>>;

async fn readable(admin: &Client, tenant: &str) -> Option<Readable> {
    let name = format!("palisade:tenant-owner:{tenant}");
    let role = Api::<ClusterRole>::all(admin.clone()).get_opt(&name).await.ok()??;
    let rules = role.rules.unwrap_or_default().into_iter();
    let reads = rules.filter(|r| r.verbs == ["get", "list", "watch"]);
    Some(
        reads
            .flat_map(|r| {
                let names = r.resource_names.clone();
                r.resources
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |res| (res, names.clone()))
            })
            .collect(),
    )
}

/// Waits until the owner ClusterRole of `tenant` reads `resource` by exactly `names`.
async fn wait_names(admin: &Client, tenant: &str, resource: &str, names: &[&String]) {
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    let what = format!("{tenant}'s owners to read {resource} {want:?}");
    eventually(&what, WAIT, || {
        let want = Some(Some(want.clone()));
        async move {
            let readable = readable(admin, tenant).await?;
            (readable.get(resource).cloned() == want).then_some(())
        }
    })
    .await
    .unwrap();
}

async fn create_node(admin: &Client, name: &str, pool: &str) {
    let node: Node =
        serde_json::from_value(json!({ "metadata": { "name": name, "labels": { "pool": pool } } })).unwrap();
    Api::<Node>::all(admin.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
}

async fn create_class(admin: &Client, name: &str) {
    let class: StorageClass =
        serde_json::from_value(json!({ "metadata": { "name": name }, "provisioner": "example.com/none" })).unwrap();
    Api::<StorageClass>::all(admin.clone())
        .create(&PostParams::default(), &class)
        .await
        .unwrap();
}

/// A volume pre-bound to claim `data` in `namespace` (no claim exists: the binder leaves it so).
async fn create_volume(admin: &Client, name: &str, namespace: &str) {
    let volume: PersistentVolume = serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": {
            "capacity": { "storage": "1Gi" },
            "accessModes": ["ReadWriteOnce"],
            "hostPath": { "path": format!("/tmp/{name}") },
            "claimRef": { "namespace": namespace, "name": "data" },
        }
    }))
    .unwrap();
    Api::<PersistentVolume>::all(admin.clone())
        .create(&PostParams::default(), &volume)
        .await
        .unwrap();
}

/// Whether `client` may get the node `name` (refused: 403; anything else fails the test).
async fn may_get_node(client: &Client, name: &str) -> bool {
    match Api::<Node>::all(client.clone()).get(name).await {
        Ok(_) => true,
        Err(kube::Error::Api(status)) if status.code == 403 => false,
        Err(error) => panic!("get node {name}: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_read_exactly_the_nodes_classes_and_volumes_their_tenant_may_use() {
    let cluster = Cluster::start().await;
    let admin = cluster.admin.clone();
    let (shop, plain) = (unique("view"), unique("plain"));
    let pool = format!("{shop}-pool");
    let (node_1, node_2, other_node) = (format!("{shop}-n1"), format!("{shop}-n2"), format!("{shop}-other"));
    let (fast_ssd, fast_nvme, slow) = (
        format!("fast-{shop}-ssd"),
        format!("fast-{shop}-nvme"),
        format!("{shop}-slow"),
    );
    let standard = format!("{shop}-standard");
    create_node(&admin, &node_1, &pool).await;
    create_node(&admin, &other_node, "elsewhere").await;
    create_class(&admin, &fast_ssd).await;
    create_class(&admin, &slow).await;

    cluster
        .create(&tenant_from_yaml(&format!(
            r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: {{ name: {shop} }}
spec:
  owners: [{{ kind: User, name: {shop}-owner }}]
  namespaces: {{ names: [{shop}-a] }}
  workloads: {{ nodeSelector: {{ pool: {pool} }} }}
  storage: {{ classes: {{ allowed: ["fast-{shop}-*", {standard}] }} }}
"#
        )))
        .await;
    cluster
        .create(&tenant_from_yaml(&format!(
            r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: {{ name: {plain} }}
spec:
  owners: [{{ kind: User, name: {plain}-owner }}]
  namespaces: {{ names: [{plain}-a] }}
"#
        )))
        .await;
    cluster.wait_reconciled(&shop, "True").await;
    cluster.wait_reconciled(&plain, "True").await;
    let (shop_volume, plain_volume) = (format!("{shop}-pv"), format!("{plain}-pv"));
    create_volume(&admin, &shop_volume, &format!("{shop}-a")).await;
    create_volume(&admin, &plain_volume, &format!("{plain}-a")).await;

    // The selected node, the existing class the pattern allows plus the exact name (no such
    // class yet), the volume claimed in the tenant's namespace; every other class kind whole.
    wait_names(&admin, &shop, "nodes", &[&node_1]).await;
    wait_names(&admin, &shop, "storageclasses", &[&fast_ssd, &standard]).await;
    wait_names(&admin, &shop, "persistentvolumes", &[&shop_volume]).await;
    let readable_now = readable(&admin, &shop).await.unwrap();
    for resource in ["ingressclasses", "gatewayclasses", "priorityclasses", "runtimeclasses"] {
        assert_eq!(readable_now.get(resource), Some(&None), "{resource}: {readable_now:?}");
    }
    // No node selector: no node rule at all; its own volume only.
    wait_names(&admin, &plain, "persistentvolumes", &[&plain_volume]).await;
    let plain_readable = readable(&admin, &plain).await.unwrap();
    assert!(!plain_readable.contains_key("nodes"), "{plain_readable:?}");
    assert_eq!(plain_readable.get("storageclasses"), Some(&None), "{plain_readable:?}");

    // Nodes and classes that appear later, change or go.
    create_node(&admin, &node_2, &pool).await;
    create_class(&admin, &fast_nvme).await;
    wait_names(&admin, &shop, "nodes", &[&node_1, &node_2]).await;
    wait_names(&admin, &shop, "storageclasses", &[&fast_nvme, &fast_ssd, &standard]).await;
    let relabel = json!({ "metadata": { "labels": { "pool": "elsewhere" } } });
    Api::<Node>::all(admin.clone())
        .patch(&node_2, &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .unwrap();
    wait_names(&admin, &shop, "nodes", &[&node_1]).await;
    Api::<StorageClass>::all(admin.clone())
        .delete(&fast_ssd, &Default::default())
        .await
        .unwrap();
    wait_names(&admin, &shop, "storageclasses", &[&fast_nvme, &standard]).await;

    // The API server, asked as the owner, serves what the role names and nothing else. It
    // authorizes from its own informers, so it may lag the role a moment: wait until it refuses
    // the class the last change took out (a 403; a 404 would mean it still allows it).
    let owner = env().user_client(&format!("{shop}-owner"), &[]).await.unwrap();
    let classes = Api::<StorageClass>::all(owner.clone());
    eventually("the owner's rights to follow its role", WAIT, || async {
        let refused = matches!(classes.get(&fast_ssd).await, Err(kube::Error::Api(s)) if s.code == 403);
        refused.then_some(())
    })
    .await
    .unwrap();
    assert!(may_get_node(&owner, &node_1).await, "the selected node");
    assert!(!may_get_node(&owner, &other_node).await, "a node outside the selector");
    assert!(
        !may_get_node(&owner, &node_2).await,
        "a node relabelled out of the selector"
    );
    let by_name = ListParams::default().fields(&format!("metadata.name={node_1}"));
    let listed = Api::<Node>::all(owner.clone()).list(&by_name).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let everything = Api::<Node>::all(owner.clone()).list(&ListParams::default()).await;
    assert!(
        matches!(&everything, Err(kube::Error::Api(s)) if s.code == 403),
        "a list without the name must be refused: {everything:?}"
    );
    classes.get(&fast_nvme).await.unwrap();
    assert!(classes.get(&slow).await.is_err(), "a class the tenant may not use");
    let volumes = Api::<PersistentVolume>::all(owner.clone());
    volumes.get(&shop_volume).await.unwrap();
    assert!(volumes.get(&plain_volume).await.is_err(), "another tenant's volume");

    // The tenant without a node selector sees no node.
    let plain_owner = env().user_client(&format!("{plain}-owner"), &[]).await.unwrap();
    eventually("the plain owner may get its volume", WAIT, || async {
        Api::<PersistentVolume>::all(plain_owner.clone())
            .get(&plain_volume)
            .await
            .ok()
            .map(drop)
    })
    .await
    .unwrap();
    assert!(!may_get_node(&plain_owner, &node_1).await, "no node selector: no node");
}
