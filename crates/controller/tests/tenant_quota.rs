#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step should stop the test loudly

//! The tenant-wide quota made visible, against the API server: `status.quotaSummary` (the
//! `kubectl get tenant` column), the `QuotaExceeded` condition once the limit is lowered below
//! usage (and nothing deleted), and the used/hard gauges.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::{Cluster, WAIT, condition, start_controller_with, unique};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use palisade_api::Tenant;
use palisade_testenv::eventually;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn metrics(port: u16) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    Some(response.split_once("\r\n\r\n")?.1.to_string())
}

fn gauge(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowering_the_tenant_limit_below_usage_is_reported_and_deletes_nothing() {
    let cluster = Cluster::without_controller().await;
    let port = free_port();
    let _controller = start_controller_with(move |defaults| palisade_controller::Options {
        health_listen: Some(format!("127.0.0.1:{port}").parse().unwrap()),
        discovery_interval: Duration::from_secs(2),
        ..defaults.clone()
    });
    let name = unique("quota");
    let tenant: Tenant = common::tenant_from_yaml(&format!(
        "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: {name}\nspec:\n  owners:\n    - kind: Group\n      name: {name}-devs\n  namespaces:\n    names: [{name}-a, {name}-b]\n  quota:\n    namespace: {{ configmaps: \"20\" }}\n    tenant: {{ configmaps: \"20\" }}\n"
    ));
    cluster.create(&tenant).await;
    cluster.wait_reconciled(&name, "True").await;

    // Each namespace holds kube-root-ca.crt; three more in the first make 5.
    let first = Api::<ConfigMap>::namespaced(cluster.admin.clone(), &format!("{name}-a"));
    for i in 0..3 {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("cm-{i}")}})).unwrap();
        first.create(&PostParams::default(), &cm).await.unwrap();
    }
    let tenants = cluster.tenants();
    let within = eventually("quotaSummary configmaps 5/20", WAIT, || {
        let tenants = tenants.clone();
        let name = name.clone();
        async move {
            let t = tenants.get(&name).await.ok()?;
            (t.status.as_ref()?.quota_summary.as_deref() == Some("configmaps 5/20")).then_some(t)
        }
    })
    .await
    .unwrap();
    let c = condition(&within, "QuotaExceeded").unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "WithinLimits"),
        "{c:?}"
    );

    // Lower the tenant-wide limit below usage.
    tenants
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"quota": {"tenant": {"configmaps": "3"}}}})),
        )
        .await
        .unwrap();
    let over = eventually("QuotaExceeded=True", WAIT, || {
        let tenants = tenants.clone();
        let name = name.clone();
        async move {
            let t = tenants.get(&name).await.ok()?;
            (condition(&t, "QuotaExceeded")?.status == "True").then_some(t)
        }
    })
    .await
    .unwrap();
    let c = condition(&over, "QuotaExceeded").unwrap();
    assert_eq!(c.reason, "OverLimit");
    assert!(c.message.contains("configmaps uses 5 of its limit 3"), "{}", c.message);
    assert_eq!(over.status.unwrap().quota_summary.as_deref(), Some("configmaps 5/3"));

    // Nothing was deleted.
    let left = first.list(&ListParams::default()).await.unwrap().items.len();
    assert_eq!(left, 4, "lowering a limit must never delete objects");

    // The gauges.
    let used = format!("palisade_controller_tenant_quota_used{{tenant=\"{name}\",resource=\"configmaps\"}}");
    let hard = format!("palisade_controller_tenant_quota_hard{{tenant=\"{name}\",resource=\"configmaps\"}}");
    let text = eventually("the gauges", WAIT, || {
        let (used, hard) = (used.clone(), hard.clone());
        async move {
            let text = metrics(port).await?;
            (gauge(&text, &used) == Some(5.0) && gauge(&text, &hard) == Some(3.0)).then_some(text)
        }
    })
    .await;
    assert!(
        text.is_ok(),
        "gauges {used} = 5 and {hard} = 3 not seen: {:?}",
        metrics(port).await
    );
}
