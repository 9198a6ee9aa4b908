//! Cluster-scoped kinds through the proxy, against the real API server: an owner sees the nodes
//! its tenant's node selector picks, the classes its allow-lists allow (all of a kind it does
//! not restrict), and the PersistentVolumes claimed in its namespaces; never another tenant's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::collections::BTreeSet;

use common::{WAIT, create_ready, env, names, proxy};
use k8s_openapi::api::core::v1::{Node, PersistentVolume};
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use palisade_api::{Tenant, TenantSpec};
use palisade_testenv::{eventually, unique_name};
use serde::de::DeserializeOwned;
use serde_json::json;

async fn create<K>(admin: &Client, object: serde_json::Value)
where
    K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).unwrap();
    Api::<K>::all(admin.clone())
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
}

/// Waits until `user` sees exactly `want` when listing `K` through the proxy.
async fn sees<K>(client: &Client, want: &BTreeSet<String>, what: &str)
where
    K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api = Api::<K>::all(client.clone());
    let last = std::sync::Mutex::new(BTreeSet::new());
    let seen = eventually(what, WAIT, || {
        let api = api.clone();
        let last = &last;
        async move {
            let got = names(&api.list(&ListParams::default()).await.ok()?.items);
            let done = &got == want;
            *last.lock().unwrap() = got;
            done.then_some(())
        }
    })
    .await;
    assert!(seen.is_ok(), "{what}: saw {:?}, want {want:?}", last.lock().unwrap());
}

#[tokio::test]
async fn owners_see_their_nodes_classes_and_volumes() {
    let admin = env().admin_client().await.unwrap();
    let p = proxy();
    let t = unique_name("pn");
    let other = unique_name("po");
    let pool = unique_name("pool");
    let owner = format!("owner-{t}");
    let other_owner = format!("owner-{other}");
    let spec = |owner: &str, namespaces: Vec<String>, selector: serde_json::Value, classes: serde_json::Value| {
        let spec: TenantSpec = serde_json::from_value(json!({
            "owners": [{"kind": "User", "name": owner}],
            "namespaces": {"names": namespaces},
            "workloads": {"nodeSelector": selector},
            "ingress": {"classes": classes},
        }))
        .unwrap();
        spec
    };
    let mine = Tenant::new(
        &t,
        spec(
            &owner,
            vec![format!("{t}-1")],
            json!({"pool": pool}),
            json!({"allowed": [format!("{t}-*")]}),
        ),
    );
    let theirs = Tenant::new(
        &other,
        spec(
            &other_owner,
            vec![format!("{other}-1")],
            json!({}),
            json!({"allowed": [format!("{other}-none")]}),
        ),
    );
    create_ready(&admin, &mine, &env().user_client(&owner, &[]).await.unwrap()).await;
    create_ready(&admin, &theirs, &env().user_client(&other_owner, &[]).await.unwrap()).await;

    let (in_pool, elsewhere) = (format!("{t}-node-a"), format!("{t}-node-b"));
    create::<Node>(&admin, json!({"metadata": {"name": in_pool, "labels": {"pool": pool}}})).await;
    create::<Node>(
        &admin,
        json!({"metadata": {"name": elsewhere, "labels": {"pool": "other"}}}),
    )
    .await;
    let (allowed, refused) = (format!("{t}-public"), format!("{other}-private"));
    for class in [&allowed, &refused] {
        create::<IngressClass>(
            &admin,
            json!({"metadata": {"name": class}, "spec": {"controller": "example.com/ingress"}}),
        )
        .await;
    }
    let storage = format!("{t}-standard");
    create::<StorageClass>(
        &admin,
        json!({"metadata": {"name": storage}, "provisioner": "example.com/none"}),
    )
    .await;
    let volume = |name: &str, namespace: &str| {
        json!({
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/tmp/x"}, "storageClassName": "",
                "claimRef": {"namespace": namespace, "name": "data"}
            }
        })
    };
    let (my_volume, their_volume) = (format!("{t}-pv"), format!("{other}-pv"));
    create::<PersistentVolume>(&admin, volume(&my_volume, &format!("{t}-1"))).await;
    create::<PersistentVolume>(&admin, volume(&their_volume, &format!("{other}-1"))).await;

    let client = p.user(&owner, &[]).await;
    sees::<Node>(
        &client,
        &BTreeSet::from([in_pool.clone()]),
        "nodes of the tenant's pool",
    )
    .await;
    sees::<IngressClass>(&client, &BTreeSet::from([allowed.clone()]), "the allowed ingress class").await;
    sees::<PersistentVolume>(
        &client,
        &BTreeSet::from([my_volume.clone()]),
        "the volume claimed in its namespace",
    )
    .await;
    // StorageClasses are not restricted for this tenant: every one, ours among them.
    let classes = names(
        &Api::<StorageClass>::all(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .items,
    );
    assert!(classes.contains(&storage), "{classes:?}");

    // The other owner: no node selector, so no node; its one allowed ingress class does not
    // exist; its own volume.
    let client = p.user(&other_owner, &[]).await;
    sees::<Node>(&client, &BTreeSet::new(), "no nodes without a node selector").await;
    sees::<IngressClass>(&client, &BTreeSet::new(), "no ingress class").await;
    sees::<PersistentVolume>(&client, &BTreeSet::from([their_volume.clone()]), "its own volume").await;

    // A node joining the pool joins the view.
    let joined = format!("{t}-node-c");
    create::<Node>(&admin, json!({"metadata": {"name": joined, "labels": {"pool": pool}}})).await;
    let client = p.user(&owner, &[]).await;
    sees::<Node>(
        &client,
        &BTreeSet::from([in_pool, joined]),
        "a node that joined the pool",
    )
    .await;
}
