//! `palisade reach --cluster` against a real API server (testenv): objects are read through
//! kubectl from the cluster in KUBECONFIG, and the answer matches what the policies say.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::api::PostParams;
use palisade_testenv::{TestEnv, eventually, unique_name};
use serde_json::json;

#[tokio::test]
async fn reach_reads_the_live_cluster() {
    let env = TestEnv::get().unwrap_or_else(|e| panic!("{e}"));
    let admin = env.admin_client().await.unwrap();
    let (front, back) = (unique_name("front"), unique_name("back"));
    for name in [&front, &back] {
        let namespace: Namespace = serde_json::from_value(json!({ "metadata": { "name": name } })).unwrap();
        Api::<Namespace>::all(admin.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap();
        let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), name);
        eventually("the default ServiceAccount", Duration::from_secs(60), || {
            let accounts = accounts.clone();
            async move { accounts.get_opt("default").await.ok().flatten().map(|_| ()) }
        })
        .await
        .unwrap();
        let pod: Pod = serde_json::from_value(json!({
            "metadata": { "name": "app", "labels": { "app": "app" } },
            "spec": { "containers": [{ "name": "app", "image": "registry.example.com/app", "ports": [{ "containerPort": 8080 }] }] }
        }))
        .unwrap();
        Api::<Pod>::namespaced(admin.clone(), name)
            .create(&PostParams::default(), &pod)
            .await
            .unwrap();
    }
    // back accepts only TCP 8080 from front.
    let policy: NetworkPolicy = serde_json::from_value(json!({
        "metadata": { "name": "only-front" },
        "spec": { "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{
            "from": [{ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": front } } }],
            "ports": [{ "protocol": "TCP", "port": 8080 }]
        }] }
    }))
    .unwrap();
    Api::<NetworkPolicy>::namespaced(admin.clone(), &back)
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["reach", "--cluster"])
        .env("KUBECONFIG", env.kubeconfig_path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |src: &str, dst: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{src}/app[Pod] => {dst}/app[Pod] :")))
            .map(str::to_string)
    };
    assert_eq!(
        line(&front, &back).as_deref(),
        Some(format!("{front}/app[Pod] => {back}/app[Pod] : TCP 8080").as_str()),
        "{text}"
    );
    assert_eq!(
        line(&back, &front).as_deref(),
        Some(format!("{back}/app[Pod] => {front}/app[Pod] : All Connections").as_str()),
        "{text}"
    );
}
