//! The tenant-wide quota against the real API server: exact under a burst of parallel creates,
//! across webhook replicas, with no reservation left behind by a request that a later admission
//! step refused; `spec.namespaces.max` held the same way; fresh namespaces never unmetered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::{Namespace, Pod, ResourceQuota};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

fn pod_requesting(name: &str, cpu: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "containers": [{ "name": "app", "image": "registry.example.com/app:1",
            "resources": { "requests": { "cpu": cpu } } }] }
    }))
    .unwrap()
}

/// Writes the ResourceQuota and LimitRange the controller would render into `namespace` (no
/// controller runs in these tests).
async fn set_up_like_the_controller(admin: &Client, tenant: &str, namespace: &str) {
    use palisade_tenancy::render::{ClusterFacts, TenantIndex, render_namespace};
    let tenant = Api::<palisade_api::Tenant>::all(admin.clone())
        .get(tenant)
        .await
        .unwrap();
    let plan = render_namespace(
        &tenant,
        namespace,
        &TenantIndex::new([&tenant]),
        &ClusterFacts::default(),
    );
    for object in plan.objects.iter().filter(|o| o.kind == "ResourceQuota") {
        let quota: ResourceQuota = serde_json::from_value(object.manifest.clone()).unwrap();
        Api::<ResourceQuota>::namespaced(admin.clone(), namespace)
            .create(&PostParams::default(), &quota)
            .await
            .unwrap();
    }
    for object in plan.objects.iter().filter(|o| o.kind == "LimitRange") {
        let limits: k8s_openapi::api::core::v1::LimitRange = serde_json::from_value(object.manifest.clone()).unwrap();
        Api::<k8s_openapi::api::core::v1::LimitRange>::namespaced(admin.clone(), namespace)
            .create(&PostParams::default(), &limits)
            .await
            .unwrap();
    }
}

/// A tenant with `namespaces` namespaces, set up as the controller would (default ServiceAccounts
/// made, Palisade's ResourceQuota written), and the owner's client.
async fn tenant_with_namespaces(
    cluster: &Cluster,
    prefix: &str,
    spec: &str,
    count: usize,
) -> (String, Vec<String>, Client) {
    let (tenant, owner) = cluster.tenant_with(prefix, "{ forcePrefix: true }", spec).await;
    let mut namespaces = Vec::new();
    for index in 0..count {
        let namespace = format!("{tenant}-n{index}");
        Api::<Namespace>::all(owner.clone())
            .create(&PostParams::default(), &namespace_object(&namespace))
            .await
            .unwrap();
        namespaces.push(namespace);
    }
    cluster.wait_for_namespace_count(&tenant, count).await;
    for namespace in &namespaces {
        cluster.wait_for_service_account(namespace).await;
        set_up_like_the_controller(&cluster.admin, &tenant, namespace).await;
    }
    (tenant, namespaces, owner)
}

async fn stored_pods(admin: &Client, namespaces: &[String]) -> usize {
    let mut total = 0;
    for namespace in namespaces {
        total += Api::<Pod>::namespaced(admin.clone(), namespace)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len();
    }
    total
}

#[tokio::test]
async fn two_hundred_parallel_pods_across_five_namespaces_fill_the_budget_exactly() {
    let cluster = Cluster::start().await;
    for round in 0..5 {
        // 50 pods' worth of CPU: 50 × 100m.
        let (tenant, namespaces, owner) =
            tenant_with_namespaces(&cluster, "burst", "quota: { tenant: { requests.cpu: \"5\" } }", 5).await;
        let creates = (0..200).map(|index| {
            let pods = Api::<Pod>::namespaced(owner.clone(), &namespaces[index % 5]);
            async move {
                pods.create(&PostParams::default(), &pod_requesting(&format!("p{index}"), "100m"))
                    .await
            }
        });
        let results = futures::future::join_all(creates).await;
        let admitted = results.iter().filter(|r| r.is_ok()).count();
        let stored = stored_pods(&cluster.admin, &namespaces).await;
        let refused: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            admitted,
            50,
            "round {round}: {admitted} admitted; first refusals: {:?}",
            &refused[..3.min(refused.len())]
        );
        assert_eq!(stored, 50, "round {round}: {stored} pods stored");
        let quota_refusal =
            format!("tenant \"{tenant}\" would use 5100m of its 5 requests.cpu (5 in 5 namespaces + 100m in this Pod");
        assert!(
            refused.iter().all(|message| message.contains(&quota_refusal)),
            "round {round}: a refusal for another reason: {:?}",
            refused.iter().find(|m| !m.contains(&quota_refusal))
        );
    }
}

#[tokio::test]
async fn two_webhook_replicas_share_one_ledger() {
    let cluster = Cluster::start().await;
    let (tenant, namespaces, _) =
        tenant_with_namespaces(&cluster, "replicas", "quota: { tenant: { requests.cpu: \"5\" } }", 5).await;
    // Two replicas: each its own watch-fed index and its own ledger client, as two processes
    // would have; they meet only in the API server. The grace is long: these requests are
    // reviewed, not stored, so nothing may settle their reservations during the test.
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let index = Arc::new(palisade_webhook::Index::default());
        tokio::spawn(palisade_webhook::watch_all(cluster.admin.clone(), index.clone()));
        let ledgers = Arc::new(palisade_webhook::Ledgers::new(
            cluster.admin.clone(),
            LEDGER_NAMESPACE.to_string(),
            Duration::from_secs(600),
        ));
        replicas.push((index, ledgers));
    }
    for (index, _) in &replicas {
        let index = index.clone();
        let tenant = tenant.clone();
        palisade_testenv::eventually("a replica to sync", WAIT, || {
            let index = index.clone();
            let tenant = tenant.clone();
            async move {
                use palisade_admission::ClusterView;
                (index.is_synced() && index.read().namespaces_of(&tenant).len() == 5).then_some(())
            }
        })
        .await
        .unwrap();
    }
    let reviews = (0..200).map(|n| {
        let (index, ledgers) = replicas[n % 2].clone();
        let namespace = namespaces[n % 5].clone();
        async move {
            let request = pod_create_request(
                &namespace,
                &format!("r{n}"),
                &format!("00000000-0000-4000-8000-{n:012}"),
                "100m",
            );
            ledgers.admit(&index, &request).await
        }
    });
    let verdicts = futures::future::join_all(reviews).await;
    let admitted = verdicts.iter().filter(|v| v.is_allowed()).count();
    assert_eq!(admitted, 50, "{admitted} admitted across two replicas");
}

/// A pod CREATE as the API server sends it to validating admission (uid assigned).
fn pod_create_request(
    namespace: &str,
    name: &str,
    uid: &str,
    cpu: &str,
) -> kube::core::admission::AdmissionRequest<kube::core::DynamicObject> {
    let gvk = json!({ "group": "", "version": "v1", "kind": "Pod" });
    let gvr = json!({ "group": "", "version": "v1", "resource": "pods" });
    let review = json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
        "name": name, "namespace": namespace, "operation": "CREATE",
        "userInfo": { "username": "someone" },
        "object": { "apiVersion": "v1", "kind": "Pod", "metadata": { "name": name, "namespace": namespace, "uid": uid },
            "spec": { "containers": [{ "name": "app", "image": "registry.example.com/app:1",
                "resources": { "requests": { "cpu": cpu } } }] } },
        "dryRun": false
    } });
    let review: kube::core::admission::AdmissionReview<kube::core::DynamicObject> =
        serde_json::from_value(review).unwrap();
    review.try_into().unwrap()
}

#[tokio::test]
async fn a_request_refused_after_the_quota_step_leaves_no_reservation_behind() {
    let cluster = Cluster::start().await;
    let (tenant, namespaces, owner) =
        tenant_with_namespaces(&cluster, "later", "quota: { tenant: { requests.cpu: \"1\" } }", 1).await;
    let namespace = &namespaces[0];
    // Kubernetes' own ResourceQuota admission runs after the webhooks: one pod per namespace.
    let quota: ResourceQuota =
        serde_json::from_value(json!({ "metadata": { "name": "one-pod" }, "spec": { "hard": { "pods": "1" } } }))
            .unwrap();
    Api::<ResourceQuota>::namespaced(cluster.admin.clone(), namespace)
        .create(&PostParams::default(), &quota)
        .await
        .unwrap();
    palisade_testenv::eventually("the quota controller to fill status", WAIT, || {
        let quotas = Api::<ResourceQuota>::namespaced(cluster.admin.clone(), namespace);
        async move { quotas.get("one-pod").await.ok()?.status?.used.map(|_| ()) }
    })
    .await
    .unwrap();
    let pods = Api::<Pod>::namespaced(owner.clone(), namespace);
    pods.create(&PostParams::default(), &pod_requesting("first", "400m"))
        .await
        .unwrap();
    // Admitted by Palisade's quota step (800m of 1), refused by ResourceQuota (pods: 1).
    let refused = pods
        .create(&PostParams::default(), &pod_requesting("second", "400m"))
        .await;
    expect_denied(refused, &["exceeded quota: one-pod"]);
    Api::<Pod>::namespaced(cluster.admin.clone(), namespace)
        .delete("first", &DeleteParams::default())
        .await
        .unwrap();
    // Once the grace has passed, the refused request's reservation is gone and the whole budget
    // is free again.
    tokio::time::sleep(RESERVATION_GRACE + Duration::from_secs(1)).await;
    let whole = palisade_testenv::eventually("the whole budget to be free", WAIT, || {
        let pods = pods.clone();
        async move {
            pods.create(&PostParams::default(), &pod_requesting("whole", "1"))
                .await
                .ok()
        }
    })
    .await;
    assert!(
        whole.is_ok(),
        "the tenant could not use its whole budget: {whole:?} (tenant {tenant})"
    );
}

#[tokio::test]
async fn a_fresh_namespace_takes_no_unmetered_pod() {
    let cluster = Cluster::start().await;
    for spec in [
        "quota: { namespace: { pods: \"10\" } }",
        "quota: { tenant: { requests.cpu: \"2\" } }",
    ] {
        let (tenant, owner) = cluster.tenant_with("fresh", "{ forcePrefix: true }", spec).await;
        let namespace = format!("{tenant}-new");
        Api::<Namespace>::all(owner.clone())
            .create(&PostParams::default(), &namespace_object(&namespace))
            .await
            .unwrap();
        cluster.wait_for_namespace_count(&tenant, 1).await;
        cluster.wait_for_service_account(&namespace).await;
        // The controller has not written the namespace's ResourceQuota yet.
        let pods = Api::<Pod>::namespaced(owner.clone(), &namespace);
        expect_denied(
            pods.create(&PostParams::default(), &pod_requesting("early", "100m"))
                .await,
            &["is still being set up", "ResourceQuota"],
        );
        assert!(
            Api::<Pod>::namespaced(cluster.admin.clone(), &namespace)
                .get_opt("early")
                .await
                .unwrap()
                .is_none()
        );
        // It arrives: pods are admitted.
        set_up_like_the_controller(&cluster.admin, &tenant, &namespace).await;
        pods.create(&PostParams::default(), &pod_requesting("later", "100m"))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn thirty_parallel_namespace_creates_respect_the_maximum() {
    let cluster = Cluster::start().await;
    let (tenant, owner) = cluster.tenant_with("maxed", "{ forcePrefix: true, max: 3 }", "").await;
    let creates = (0..30).map(|n| {
        let namespaces = Api::<Namespace>::all(owner.clone());
        let name = format!("{tenant}-{n}");
        async move {
            namespaces
                .create(&PostParams::default(), &namespace_object(&name))
                .await
        }
    });
    let results = futures::future::join_all(creates).await;
    let admitted = results.iter().filter(|r| r.is_ok()).count();
    let stored = Api::<Namespace>::all(cluster.admin.clone())
        .list(&kube::api::ListParams::default().labels(&format!("palisade.dev/tenant={tenant}")))
        .await
        .unwrap()
        .items
        .len();
    assert_eq!((admitted, stored), (3, 3));
}

#[tokio::test]
async fn an_in_place_resize_is_counted() {
    let cluster = Cluster::start().await;
    let (_, namespaces, owner) =
        tenant_with_namespaces(&cluster, "resize", "quota: { tenant: { requests.cpu: \"1\" } }", 1).await;
    let pods = Api::<Pod>::namespaced(owner.clone(), &namespaces[0]);
    pods.create(&PostParams::default(), &pod_requesting("grow", "500m"))
        .await
        .unwrap();
    let mut grown = pods.get("grow").await.unwrap();
    grown.spec.as_mut().unwrap().containers[0].resources =
        Some(serde_json::from_value(json!({ "requests": { "cpu": "1500m" } })).unwrap());
    expect_denied(
        pods.replace_subresource("resize", "grow", &PostParams::default(), &grown)
            .await,
        &["would use 1500m of its 1 requests.cpu"],
    );
    let stored = pods.get("grow").await.unwrap();
    let requests = stored.spec.unwrap().containers[0]
        .resources
        .clone()
        .unwrap()
        .requests
        .unwrap();
    assert_eq!(requests["cpu"].0, "500m");
}

#[tokio::test]
async fn kinds_counted_only_by_number_are_exact_too() {
    let cluster = Cluster::start().await;
    let (_, namespaces, owner) =
        tenant_with_namespaces(&cluster, "counted", "quota: { tenant: { count/configmaps: \"4\" } }", 2).await;
    // Each namespace already holds kube-root-ca.crt (made by a controller): 2 of the 4.
    for namespace in &namespaces {
        let configs = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(cluster.admin.clone(), namespace);
        palisade_testenv::eventually("the root CA ConfigMap", WAIT, || {
            let configs = configs.clone();
            async move { configs.get_opt("kube-root-ca.crt").await.ok().flatten().map(|_| ()) }
        })
        .await
        .unwrap();
    }
    let creates = (0..12).map(|n| {
        let configs = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(owner.clone(), &namespaces[n % 2]);
        let config: k8s_openapi::api::core::v1::ConfigMap =
            serde_json::from_value(json!({ "metadata": { "name": format!("c{n}") } })).unwrap();
        async move { configs.create(&PostParams::default(), &config).await }
    });
    let results = futures::future::join_all(creates).await;
    let admitted = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(admitted, 2, "{:?}", results.iter().find_map(|r| r.as_ref().err()));
    let denial = results.iter().find_map(|r| r.as_ref().err()).unwrap().to_string();
    assert!(denial.contains("would use 5 of its 4 count/configmaps"), "{denial}");
}
