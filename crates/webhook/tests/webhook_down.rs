//! With the webhook stopped (its configurations still registered, as after a crash), cluster
//! administrators and kube-system keep working; tenant writes fail closed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn administrators_keep_working_and_tenant_writes_fail_closed_when_the_webhook_is_down() {
    let cluster = Cluster::start().await;
    let (tenant, owner) = cluster.tenant("down", "{}").await;
    let namespace = format!("{tenant}-app");
    Api::<Namespace>::all(owner.clone())
        .create(&PostParams::default(), &namespace_object(&namespace))
        .await
        .unwrap();
    cluster.wait_for_namespace_count(&tenant, 1).await;
    cluster.wait_for_service_account(&namespace).await;

    cluster.webhook.stop();
    let port = cluster.webhook.port;
    palisade_testenv::eventually("the webhook to stop", WAIT, || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
            .then_some(())
    })
    .await
    .unwrap();

    // The administrator: namespaces, kube-system objects, tenant namespaces, Tenants.
    let admin = cluster.admin.clone();
    let name = unique("admin-made");
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &namespace_object(&name))
        .await
        .unwrap();
    let config: ConfigMap =
        serde_json::from_value(json!({ "metadata": { "name": unique("cm") }, "data": {} })).unwrap();
    Api::<ConfigMap>::namespaced(admin.clone(), "kube-system")
        .create(&PostParams::default(), &config)
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &config)
        .await
        .unwrap();
    let label = json!({ "metadata": { "labels": { "ops": "checked" } } });
    Api::<Namespace>::all(admin.clone())
        .patch(&namespace, &PatchParams::default(), &Patch::Merge(label))
        .await
        .unwrap();
    let tenants = cluster.tenants_api();
    let other = tenant_object(&unique("during-outage"), "x", "{}", "");
    tenants.create(&PostParams::default(), &other).await.unwrap();

    // The tenant owner: nothing gets written without the webhook's say.
    let denied = Api::<ConfigMap>::namespaced(owner.clone(), &namespace)
        .create(&PostParams::default(), &config)
        .await;
    expect_denied(denied, &["objects.palisade.dev"]);
    let denied = Api::<Namespace>::all(owner)
        .create(&PostParams::default(), &namespace_object(&format!("{tenant}-more")))
        .await;
    expect_denied(denied, &["namespaces.palisade.dev"]);

    // A tenant namespace deleted while the webhook is down empties and goes: the namespace
    // controller and the garbage collector never wait on it (Capsule's #1875 hung here).
    let pod = pod_object("leftover", "registry.example.com/app:1");
    Api::<k8s_openapi::api::core::v1::Pod>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
    Api::<Namespace>::all(admin.clone())
        .delete(&namespace, &Default::default())
        .await
        .unwrap();
    let namespaces = Api::<Namespace>::all(admin.clone());
    let gone = namespace.clone();
    palisade_testenv::eventually("the deleted tenant namespace to be gone", WAIT, || {
        let namespaces = namespaces.clone();
        let gone = gone.clone();
        async move { namespaces.get_opt(&gone).await.ok().flatten().is_none().then_some(()) }
    })
    .await
    .unwrap();
}
